//! Verification analytics (SPEC §9): per key and minute, the count of each outcome, and a
//! log of recent verifications kept for a configurable number of days.
//!
//! Neither table has a foreign key: counts are written in batches after the request, and
//! a credential removed in between must not make a whole batch fail.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum VerificationBuckets {
    Table,
    CredentialId,
    Minute,
    Outcome,
    OrganizationId,
    ProjectId,
    Count,
}

#[derive(DeriveIden)]
enum VerificationLog {
    Table,
    Id,
    CredentialId,
    At,
    Outcome,
    Ip,
    Tags,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(VerificationBuckets::Table)
                .col(uuid(VerificationBuckets::CredentialId))
                .col(timestamp_with_time_zone(VerificationBuckets::Minute))
                .col(string_len(VerificationBuckets::Outcome, 32))
                .col(uuid_null(VerificationBuckets::OrganizationId))
                .col(uuid_null(VerificationBuckets::ProjectId))
                .col(big_integer(VerificationBuckets::Count))
                .primary_key(
                    Index::create()
                        .col(VerificationBuckets::CredentialId)
                        .col(VerificationBuckets::Minute)
                        .col(VerificationBuckets::Outcome),
                )
                .take(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_verification_buckets_org_minute")
                .table(VerificationBuckets::Table)
                .col(VerificationBuckets::OrganizationId)
                .col(VerificationBuckets::Minute)
                .take(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(VerificationLog::Table)
                .col(pk_uuid(VerificationLog::Id))
                .col(uuid(VerificationLog::CredentialId))
                .col(timestamp_with_time_zone(VerificationLog::At))
                .col(string_len(VerificationLog::Outcome, 32))
                .col(string_null(VerificationLog::Ip))
                .col(text_null(VerificationLog::Tags))
                .take(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_verification_log_credential")
                .table(VerificationLog::Table)
                .col(VerificationLog::CredentialId)
                .col(VerificationLog::Id)
                .take(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_verification_log_credential_outcome")
                .table(VerificationLog::Table)
                .col(VerificationLog::CredentialId)
                .col(VerificationLog::Outcome)
                .col(VerificationLog::Id)
                .take(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_verification_log_at")
                .table(VerificationLog::Table)
                .col(VerificationLog::At)
                .take(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(VerificationLog::Table).to_owned())
            .await?;
        m.drop_table(Table::drop().table(VerificationBuckets::Table).to_owned())
            .await
    }
}

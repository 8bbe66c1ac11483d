//! Keys an API product sells (SPEC §3.5): the product's own metadata on keys, identities
//! grouping the keys of one of the product's customers, credit pools (a key's or an
//! identity's) and named rate limits (a key's or an identity's).
//!
//! A pool and a limit name their owner by id, a key or an identity, without a foreign
//! key: both kinds of owner share the tables, and the code that removes an owner removes
//! what it owns in the same transaction. An organization may require every new key to
//! belong to a project (`keys_per_project`).

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Credentials {
    Table,
    Meta,
    IdentityId,
}

#[derive(DeriveIden)]
enum Organizations {
    Table,
    KeysPerProject,
}

#[derive(DeriveIden)]
enum Identities {
    Table,
    Id,
    OrganizationId,
    ExternalId,
    Meta,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum CreditPools {
    Table,
    OwnerId,
    OrganizationId,
    Remaining,
    RefillInterval,
    RefillAmount,
    RefillDay,
    RefilledAt,
    Epoch,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum NamedLimits {
    Table,
    Id,
    OwnerId,
    OrganizationId,
    Name,
    LimitCount,
    DurationMs,
    AutoApply,
    CreatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(Organizations::Table)
                .add_column(boolean(Organizations::KeysPerProject).default(false))
                .take(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(Identities::Table)
                .col(pk_uuid(Identities::Id))
                .col(uuid(Identities::OrganizationId))
                .col(string_len(Identities::ExternalId, 255))
                .col(text_null(Identities::Meta))
                .col(timestamp_with_time_zone(Identities::CreatedAt))
                .col(timestamp_with_time_zone(Identities::UpdatedAt))
                .take(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ux_identities_org_external")
                .table(Identities::Table)
                .col(Identities::OrganizationId)
                .col(Identities::ExternalId)
                .unique()
                .take(),
        )
        .await?;
        // One column each: SQLite alters a table one column at a time.
        m.alter_table(
            Table::alter()
                .table(Credentials::Table)
                .add_column(text_null(Credentials::Meta))
                .take(),
        )
        .await?;
        m.alter_table(
            Table::alter()
                .table(Credentials::Table)
                .add_column(uuid_null(Credentials::IdentityId))
                .take(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_credentials_identity")
                .table(Credentials::Table)
                .col(Credentials::IdentityId)
                .take(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(CreditPools::Table)
                .col(pk_uuid(CreditPools::OwnerId))
                .col(uuid(CreditPools::OrganizationId))
                .col(big_integer(CreditPools::Remaining))
                .col(string_len_null(CreditPools::RefillInterval, 16))
                .col(big_integer_null(CreditPools::RefillAmount))
                .col(integer_null(CreditPools::RefillDay))
                .col(timestamp_with_time_zone_null(CreditPools::RefilledAt))
                .col(big_integer(CreditPools::Epoch).default(0))
                .col(timestamp_with_time_zone(CreditPools::UpdatedAt))
                .take(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(NamedLimits::Table)
                .col(pk_uuid(NamedLimits::Id))
                .col(uuid(NamedLimits::OwnerId))
                .col(uuid(NamedLimits::OrganizationId))
                .col(string_len(NamedLimits::Name, 64))
                .col(integer(NamedLimits::LimitCount))
                .col(big_integer(NamedLimits::DurationMs))
                .col(boolean(NamedLimits::AutoApply))
                .col(timestamp_with_time_zone(NamedLimits::CreatedAt))
                .take(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ux_named_limits_owner_name")
                .table(NamedLimits::Table)
                .col(NamedLimits::OwnerId)
                .col(NamedLimits::Name)
                .unique()
                .take(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(NamedLimits::Table).take())
            .await?;
        m.drop_table(Table::drop().table(CreditPools::Table).take())
            .await?;
        m.drop_index(
            Index::drop()
                .name("ix_credentials_identity")
                .table(Credentials::Table)
                .to_owned(),
        )
        .await?;
        for col in [Credentials::IdentityId, Credentials::Meta] {
            m.alter_table(
                Table::alter()
                    .table(Credentials::Table)
                    .drop_column(col)
                    .take(),
            )
            .await?;
        }
        m.drop_table(Table::drop().table(Identities::Table).take())
            .await?;
        m.alter_table(
            Table::alter()
                .table(Organizations::Table)
                .drop_column(Organizations::KeysPerProject)
                .take(),
        )
        .await
    }
}

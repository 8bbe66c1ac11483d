//! Email (SPEC §16): an outbox of messages written in the same transaction as the change
//! they tell of (an invite, a key about to expire, a leaked key), sent over SMTP when the
//! server has it, retried after a failure, kept a while as a log.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Emails {
    Table,
    Id,
    Recipient,
    Subject,
    Body,
    Status,
    Attempts,
    NextAttemptAt,
    LockedUntil,
    LastError,
    CreatedAt,
    SentAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Emails::Table)
                    .col(pk_uuid(Emails::Id))
                    .col(string(Emails::Recipient))
                    .col(string(Emails::Subject))
                    .col(text(Emails::Body))
                    .col(string(Emails::Status))
                    .col(integer(Emails::Attempts))
                    .col(timestamp_with_time_zone(Emails::NextAttemptAt))
                    .col(timestamp_with_time_zone_null(Emails::LockedUntil))
                    .col(string_null(Emails::LastError))
                    .col(timestamp_with_time_zone(Emails::CreatedAt))
                    .col(timestamp_with_time_zone_null(Emails::SentAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_emails_due")
                    .table(Emails::Table)
                    .col(Emails::Status)
                    .col(Emails::NextAttemptAt)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_emails_created")
                    .table(Emails::Table)
                    .col(Emails::CreatedAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Emails::Table).to_owned())
            .await
    }
}

//! The key event stream (SPEC §16): every change that invalidates a cached key is also
//! written, in the same transaction, as a numbered event of its organization, so a
//! product's SDK following `GET /api/v1/keys/events` drops the key from its cache and,
//! after a dropped connection, resumes where it left off (`Last-Event-ID`).
//!
//! Events are numbered from one row per sequence (`event_sequences`), taken with a write:
//! writers of one sequence wait for each other until they commit, so events become
//! visible in the order of their numbers and a follower that has seen event `n` never
//! later finds an event below `n` it missed.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum KeyEvents {
    Table,
    Seq,
    OrganizationId,
    ProjectId,
    CredentialId,
    Kind,
    OccurredAt,
}

#[derive(DeriveIden)]
enum EventSequences {
    Table,
    Name,
    Seq,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(EventSequences::Table)
                    .col(string(EventSequences::Name).primary_key())
                    .col(big_integer(EventSequences::Seq))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(KeyEvents::Table)
                    .col(big_integer(KeyEvents::Seq).primary_key())
                    .col(uuid_null(KeyEvents::OrganizationId))
                    .col(uuid_null(KeyEvents::ProjectId))
                    .col(uuid_null(KeyEvents::CredentialId))
                    .col(string(KeyEvents::Kind))
                    .col(timestamp_with_time_zone(KeyEvents::OccurredAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_key_events_organization")
                    .table(KeyEvents::Table)
                    .col(KeyEvents::OrganizationId)
                    .col(KeyEvents::Seq)
                    .to_owned(),
            )
            .await?;
        // Pruning finds the events past their time without reading the others.
        manager
            .create_index(
                Index::create()
                    .name("idx_key_events_occurred")
                    .table(KeyEvents::Table)
                    .col(KeyEvents::OccurredAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(KeyEvents::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(EventSequences::Table).to_owned())
            .await
    }
}

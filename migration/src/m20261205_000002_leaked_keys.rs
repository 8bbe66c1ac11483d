//! Leaked keys (SPEC §16): what an organization does with a key a secret scanner found in
//! public (`revoke`, the default, or `flag`), and when a key was found.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Organizations {
    Table,
    LeakedKeyPolicy,
}

#[derive(DeriveIden)]
enum Credentials {
    Table,
    LeakedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Organizations::Table)
                    .add_column(string(Organizations::LeakedKeyPolicy).default("revoke"))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Credentials::Table)
                    .add_column(timestamp_with_time_zone_null(Credentials::LeakedAt))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Credentials::Table)
                    .drop_column(Credentials::LeakedAt)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Organizations::Table)
                    .drop_column(Organizations::LeakedKeyPolicy)
                    .to_owned(),
            )
            .await
    }
}

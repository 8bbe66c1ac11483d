//! Organizations may lower the instance's maximum lifetime of API and service-account
//! keys (SPEC §3.2), as they already may for personal access tokens.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Organizations {
    Table,
    ApiKeyMaxLifetimeDays,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Organizations::Table)
                    .add_column(integer_null(Organizations::ApiKeyMaxLifetimeDays))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Organizations::Table)
                    .drop_column(Organizations::ApiKeyMaxLifetimeDays)
                    .to_owned(),
            )
            .await
    }
}

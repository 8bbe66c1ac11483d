//! A device login keeps the address it was started from, so the approval page can say
//! where and when the request began (SPEC §7): a code someone else started reads as such.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum DeviceAuthorizations {
    Table,
    RequestedIp,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(DeviceAuthorizations::Table)
                    .add_column(string_null(DeviceAuthorizations::RequestedIp))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(DeviceAuthorizations::Table)
                    .drop_column(DeviceAuthorizations::RequestedIp)
                    .to_owned(),
            )
            .await
    }
}

//! Rotation is followed both ways (SPEC §3.2, §13): a listing shows the key that replaced
//! an old one, and revoking a rotating key revokes its successors. Both find successors
//! by `rotated_from_id`, which is indexed so neither scans every credential.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Credentials {
    Table,
    RotatedFromId,
}

const INDEX: &str = "idx_credentials_rotated_from";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_index(
                Index::create()
                    .name(INDEX)
                    .table(Credentials::Table)
                    .col(Credentials::RotatedFromId)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name(INDEX)
                    .table(Credentials::Table)
                    .to_owned(),
            )
            .await
    }
}

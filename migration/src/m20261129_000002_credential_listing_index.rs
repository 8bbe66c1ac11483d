//! An organization's keys of one kind, newest first, come from one index: listing a page
//! and counting all of them read the index alone, not every key's row.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Credentials {
    Table,
    OrganizationId,
    Kind,
    Id,
}

const NAME: &str = "ix_credentials_org_kind";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_index(
            Index::create()
                .name(NAME)
                .table(Credentials::Table)
                .col(Credentials::OrganizationId)
                .col(Credentials::Kind)
                .col(Credentials::Id)
                .take(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_index(
            Index::drop()
                .name(NAME)
                .table(Credentials::Table)
                .to_owned(),
        )
        .await
    }
}

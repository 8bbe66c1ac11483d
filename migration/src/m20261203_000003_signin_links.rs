//! Development sign-in links live in the database (SPEC §2), so `keyward-server
//! signin-link` can offer a fresh one to a running server, every replica honours it, and a
//! link is used at most once however many servers share the database.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum SigninLinks {
    Table,
    Id,
    TokenHash,
    CreatedAt,
    ExpiresAt,
    UsedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(SigninLinks::Table)
                    .col(pk_uuid(SigninLinks::Id))
                    .col(string_uniq(SigninLinks::TokenHash))
                    .col(timestamp_with_time_zone(SigninLinks::CreatedAt))
                    .col(timestamp_with_time_zone(SigninLinks::ExpiresAt))
                    .col(timestamp_with_time_zone_null(SigninLinks::UsedAt))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(SigninLinks::Table).to_owned())
            .await
    }
}

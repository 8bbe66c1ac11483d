use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "organizations")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub name: String,
    #[sea_orm(unique)]
    pub slug: String,
    pub suspended_at: Option<DateTimeUtc>,
    pub suspended_reason: Option<String>,
    pub rate_limit_per_minute: Option<i32>,
    pub rate_limit_fail_open: bool,
    pub pat_max_lifetime_days: Option<i32>,
    pub api_key_max_lifetime_days: Option<i32>,
    /// Every new API key belongs to a project (SPEC §3.5).
    pub keys_per_project: bool,
    /// What is done with a key a secret scanner found in public (SPEC §16).
    pub leaked_key_policy: LeakedKeyPolicy,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

/// What is done with a leaked key. A stored policy that is none of these does not read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "Text")]
pub enum LeakedKeyPolicy {
    /// Revoked at once (the default).
    #[sea_orm(string_value = "revoke")]
    Revoke,
    /// Marked as leaked and announced, but left working.
    #[sea_orm(string_value = "flag")]
    Flag,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

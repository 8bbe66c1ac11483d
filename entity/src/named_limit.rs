use sea_orm::entity::prelude::*;

/// A named rate limit of a key or an identity (SPEC §3.5).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "named_limits")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// The key or identity it limits.
    pub owner_id: Uuid,
    pub organization_id: Uuid,
    pub name: String,
    /// Requests (or cost) allowed per `duration_ms`.
    pub limit_count: i32,
    pub duration_ms: i64,
    /// Counted on every verification, not only when a request names it.
    pub auto_apply: bool,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

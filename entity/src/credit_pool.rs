use sea_orm::entity::prelude::*;

/// The credits of a key or an identity (SPEC §3.5). No row: unlimited.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "credit_pools")]
pub struct Model {
    /// The key or identity the credits belong to.
    #[sea_orm(primary_key, auto_increment = false)]
    pub owner_id: Uuid,
    pub organization_id: Uuid,
    /// Credits not yet handed to a node (nodes hold small leases of the rest).
    pub remaining: i64,
    /// `daily` or `monthly`; none: never refilled.
    pub refill_interval: Option<String>,
    /// What a refill sets `remaining` to.
    pub refill_amount: Option<i64>,
    /// For monthly refills: the day of the month (1-31; the month's last day when shorter).
    pub refill_day: Option<i32>,
    /// The start of the refill period last refilled.
    pub refilled_at: Option<DateTimeUtc>,
    /// Bumped whenever `remaining` is set outright (a set, a refill): leases taken
    /// before are void and are not given back.
    pub epoch: i64,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

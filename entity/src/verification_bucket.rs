use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "verification_buckets")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub credential_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub minute: DateTimeUtc,
    /// A verification outcome code (`VALID`, `REVOKED`, …).
    #[sea_orm(primary_key, auto_increment = false)]
    pub outcome: String,
    pub organization_id: Option<Uuid>,
    pub project_id: Option<Uuid>,
    pub count: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "invites")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub organization_id: Uuid,
    pub email: String,
    pub role_id: Uuid,
    pub invited_by: Option<Uuid>,
    /// `pending`, `accepted`, `declined` or `revoked`.
    pub status: String,
    pub expires_at: DateTimeUtc,
    pub responded_at: Option<DateTimeUtc>,
    pub responded_by: Option<Uuid>,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "device_authorizations")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    #[sea_orm(unique)]
    pub device_code_hash: String,
    #[sea_orm(unique)]
    pub user_code: String,
    pub client_name: String,
    pub status: String,
    pub customer_id: Option<Uuid>,
    pub credential_id: Option<Uuid>,
    pub interval_secs: i32,
    pub expires_at: DateTimeUtc,
    pub last_polled_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    /// The client address the login was started from.
    pub requested_ip: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

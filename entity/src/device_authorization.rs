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
    pub status: Status,
    pub customer_id: Option<Uuid>,
    pub credential_id: Option<Uuid>,
    pub interval_secs: i32,
    pub expires_at: DateTimeUtc,
    pub last_polled_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    /// The client address the login was started from.
    pub requested_ip: Option<String>,
}

/// Where a device login stands, stored as `pending`, `approved`, `denied` or `completed`
/// (the token was collected). A stored status that is none of these does not read: the
/// row is an error, never a default. (Pending past its time is expired, read from
/// `expires_at`.)
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "Text")]
pub enum Status {
    #[sea_orm(string_value = "pending")]
    Pending,
    #[sea_orm(string_value = "approved")]
    Approved,
    #[sea_orm(string_value = "denied")]
    Denied,
    #[sea_orm(string_value = "completed")]
    Completed,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

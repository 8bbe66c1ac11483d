use sea_orm::entity::prelude::*;

/// One message owed to one address (SPEC §16): the outbox row, written with the change
/// it tells of.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "emails")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub recipient: String,
    pub subject: String,
    /// Plain text; never a secret.
    pub body: String,
    pub status: Status,
    pub attempts: i32,
    pub next_attempt_at: DateTimeUtc,
    /// Held by a sender until then; another node takes it over after.
    pub locked_until: Option<DateTimeUtc>,
    pub last_error: Option<String>,
    pub created_at: DateTimeUtc,
    pub sent_at: Option<DateTimeUtc>,
}

/// Where a message stands. A stored status that is none of these does not read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "Text")]
pub enum Status {
    /// Owed: sent when `next_attempt_at` comes.
    #[sea_orm(string_value = "pending")]
    Pending,
    /// The SMTP server took it.
    #[sea_orm(string_value = "sent")]
    Sent,
    /// Every attempt failed.
    #[sea_orm(string_value = "failed")]
    Failed,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

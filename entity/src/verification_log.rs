use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "verification_log")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub credential_id: Uuid,
    pub at: DateTimeUtc,
    /// A verification outcome code (`VALID`, `REVOKED`, …).
    pub outcome: String,
    pub ip: Option<String>,
    /// The caller's tags, a JSON object of strings.
    pub tags: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    /// The key verified.
    #[sea_orm(
        belongs_to = "super::credential::Entity",
        from = "Column::CredentialId",
        to = "super::credential::Column::Id"
    )]
    Credential,
}

impl ActiveModelBehavior for ActiveModel {}

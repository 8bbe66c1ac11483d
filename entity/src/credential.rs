use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "credentials")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// An API key, a personal access token or a service-account key.
    pub kind: Kind,
    pub organization_id: Option<Uuid>,
    pub project_id: Option<Uuid>,
    /// The owner: the creator of an API key, the user of a PAT; none for service-account keys.
    pub customer_id: Option<Uuid>,
    pub service_account_id: Option<Uuid>,
    pub created_by: Option<Uuid>,
    pub name: String,
    pub display_prefix: String,
    pub last4: String,
    /// Hex SHA-256 of the whole token: all that is ever stored of the secret.
    #[sea_orm(unique)]
    pub token_hash: String,
    /// A list of `resource:level`; none means all of the owner's permissions.
    pub scopes: Option<Json>,
    /// Live or test traffic, for API keys; none for other credentials.
    pub environment: Option<Environment>,
    pub expires_at: Option<DateTimeUtc>,
    pub disabled_at: Option<DateTimeUtc>,
    pub revoked_at: Option<DateTimeUtc>,
    pub revoked_reason: Option<String>,
    pub revoked_by: Option<Uuid>,
    /// Set on the new credential of a rotation: the one it replaces.
    pub rotated_from_id: Option<Uuid>,
    /// Set on the old credential of a rotation: when it stops working.
    pub grace_expires_at: Option<DateTimeUtc>,
    pub rate_limit_per_minute: Option<i32>,
    pub imported: bool,
    pub import_prefix: Option<String>,
    pub last_used_at: Option<DateTimeUtc>,
    pub last_used_ip: Option<String>,
    pub request_count: i64,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    /// A JSON object of the product's own data, returned by verify.
    pub meta: Option<String>,
    /// The identity (a customer of the product) the key belongs to.
    pub identity_id: Option<Uuid>,
    /// When a secret scanner reported the key found in public (SPEC §16).
    pub leaked_at: Option<DateTimeUtc>,
}

/// The kinds of credential (SPEC §3), stored as `api_key`, `pat` or
/// `service_account_key`. A stored kind that is none of these does not read: the row is
/// an error, never a default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "Text")]
pub enum Kind {
    #[sea_orm(string_value = "api_key")]
    ApiKey,
    #[sea_orm(string_value = "pat")]
    Pat,
    #[sea_orm(string_value = "service_account_key")]
    ServiceAccountKey,
}

impl Kind {
    /// The stored and reported name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ApiKey => "api_key",
            Self::Pat => "pat",
            Self::ServiceAccountKey => "service_account_key",
        }
    }
}

/// Live or test traffic (API keys), stored as `live` or `test`. A stored value that is
/// neither does not read: the row is an error, never a default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "Text")]
pub enum Environment {
    #[default]
    #[sea_orm(string_value = "live")]
    Live,
    #[sea_orm(string_value = "test")]
    Test,
}

impl Environment {
    /// The stored and shown name: `live` or `test`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Live => "live",
            Self::Test => "test",
        }
    }
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

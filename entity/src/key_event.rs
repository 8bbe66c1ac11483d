use sea_orm::entity::prelude::*;

/// One change of an organization's keys, as the key event stream sends it (SPEC §16).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "key_events")]
pub struct Model {
    /// The event's number: the stream's event id.
    #[sea_orm(primary_key, auto_increment = false)]
    pub seq: i64,
    /// None for a reset, which concerns every organization.
    pub organization_id: Option<Uuid>,
    pub project_id: Option<Uuid>,
    /// The key that changed; none for a reset.
    pub credential_id: Option<Uuid>,
    pub kind: Kind,
    pub occurred_at: DateTimeUtc,
}

/// What happened, stored and sent as the event's type. A stored kind that is none of
/// these does not read: the row is an error, never a default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "Text")]
pub enum Kind {
    /// The key was revoked: refuse it from now on.
    #[sea_orm(string_value = "key.revoked")]
    Revoked,
    /// The key was disabled: refuse it until it is enabled.
    #[sea_orm(string_value = "key.disabled")]
    Disabled,
    /// Anything else about the key changed (enabled, edited, rotated, its credits set):
    /// ask the server again.
    #[sea_orm(string_value = "key.updated")]
    Updated,
    /// Something that may change many keys' answers changed (a role, a membership, a
    /// suspension): drop every cached answer.
    #[sea_orm(string_value = "keys.reset")]
    Reset,
}

impl Kind {
    /// The stored and sent name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Revoked => "key.revoked",
            Self::Disabled => "key.disabled",
            Self::Updated => "key.updated",
            Self::Reset => "keys.reset",
        }
    }
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

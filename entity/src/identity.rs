use sea_orm::entity::prelude::*;

/// One customer of the product, by the product's own id: its keys share the identity's
/// metadata, credits and named limits (SPEC §3.5).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "identities")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub organization_id: Uuid,
    /// The product's id for its customer, unique in the organization.
    pub external_id: String,
    /// A JSON object of the product's own data.
    pub meta: Option<String>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

//! Keyward's schema migrations.
//!
//! Migrations are append-only once they have landed: a change to the schema is a new
//! migration, never an edit of an old one, so every deployment reaches the same schema.

pub use sea_orm_migration::prelude::*;

mod m20261122_000001_initial;
mod m20261128_000001_org_api_key_lifetime;
mod m20261129_000001_verification_analytics;
mod m20261129_000002_credential_listing_index;
mod m20261203_000001_device_request_origin;
mod m20261203_000002_product_keys;
mod m20261203_000003_signin_links;
mod m20261203_000004_rotation_index;
mod m20261204_000001_key_events;
mod m20261205_000001_webhooks;
mod m20261205_000002_leaked_keys;
mod m20261205_000003_emails;

/// Runs Keyward's migrations in order.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261122_000001_initial::Migration),
            Box::new(m20261128_000001_org_api_key_lifetime::Migration),
            Box::new(m20261129_000001_verification_analytics::Migration),
            Box::new(m20261129_000002_credential_listing_index::Migration),
            Box::new(m20261203_000001_device_request_origin::Migration),
            Box::new(m20261203_000002_product_keys::Migration),
            Box::new(m20261203_000003_signin_links::Migration),
            Box::new(m20261203_000004_rotation_index::Migration),
            Box::new(m20261204_000001_key_events::Migration),
            Box::new(m20261205_000001_webhooks::Migration),
            Box::new(m20261205_000002_leaked_keys::Migration),
            Box::new(m20261205_000003_emails::Migration),
        ]
    }
}

//! Service accounts.

use async_graphql::{ID, Object};
use chrono::{DateTime, Utc};

use super::*;

/// A service account: a non-human member with a role of its own.
pub struct ServiceAccount(pub crate::domain::service_accounts::ServiceAccountView);

#[Object]
impl ServiceAccount {
    async fn id(&self) -> ID {
        ID(self.0.account.id.to_string())
    }
    async fn organization_id(&self) -> ID {
        ID(self.0.account.organization_id.to_string())
    }
    async fn name(&self) -> &str {
        &self.0.account.name
    }
    async fn description(&self) -> &str {
        &self.0.account.description
    }
    async fn role(&self) -> Role {
        Role::plain(self.0.role.clone())
    }
    /// A disabled account's keys are all refused.
    async fn disabled(&self) -> bool {
        self.0.account.disabled_at.is_some()
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.account.created_at
    }
    /// The account's keys, newest first.
    async fn keys(&self) -> Vec<ApiKey> {
        self.0.keys.iter().cloned().map(ApiKey).collect()
    }
}

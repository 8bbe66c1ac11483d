//! Dashboard sessions, accounts and CLI sign-ins.

use async_graphql::{Context, Enum, ID, Object, SimpleObject};
use chrono::{DateTime, Utc};
use entity::customer;

use super::*;
use crate::domain::{CustomerRef, sessions::SessionView};

/// A dashboard session of the signed-in user.
pub struct Session(pub SessionView);

#[Object]
impl Session {
    async fn id(&self) -> ID {
        ID(self.0.model.id.to_string())
    }
    /// Whether this request came with this session.
    async fn current(&self) -> bool {
        self.0.current
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.model.created_at
    }
    async fn last_seen_at(&self) -> DateTime<Utc> {
        self.0.model.last_seen_at
    }
    async fn expires_at(&self) -> DateTime<Utc> {
        self.0.model.expires_at
    }
    async fn ip(&self) -> Option<&str> {
        self.0.model.ip.as_deref()
    }
    async fn user_agent(&self) -> Option<&str> {
        self.0.model.user_agent.as_deref()
    }
    /// The device in words, from the user agent: `Firefox 133 on Linux`.
    async fn device(&self) -> String {
        crate::domain::sessions::device_in_words(self.0.model.user_agent.as_deref())
    }
    async fn organization_id(&self) -> Option<ID> {
        self.0.model.organization_id.map(|id| ID(id.to_string()))
    }
    async fn project_id(&self) -> Option<ID> {
        self.0.model.project_id.map(|id| ID(id.to_string()))
    }
    async fn revoked(&self) -> bool {
        self.0.model.revoked_at.is_some()
    }
}

/// A customer account, as instance admins see it.
pub struct CustomerAccount(pub customer::Model);

#[Object]
impl CustomerAccount {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    async fn email(&self) -> &str {
        &self.0.email
    }
    async fn name(&self) -> &str {
        &self.0.name
    }
    /// Whether the account holds instance-admin power under the server's configuration.
    async fn is_instance_admin(&self, ctx: &Context<'_>) -> async_graphql::Result<bool> {
        Ok(services(ctx)?.is_instance_admin(&CustomerRef::from(&self.0)))
    }
    async fn suspended(&self) -> bool {
        self.0.suspended_at.is_some()
    }
    async fn suspended_reason(&self) -> Option<&str> {
        self.0.suspended_reason.as_deref()
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    async fn last_sign_in_at(&self) -> Option<DateTime<Utc>> {
        self.0.last_sign_in_at
    }
}

/// The organization and project a session now works in.
#[derive(SimpleObject)]
pub struct SessionContext {
    pub organization_id: ID,
    pub project_id: ID,
}

/// Where a device login stands.
#[derive(Enum, Copy, Clone, Eq, PartialEq)]
#[graphql(remote = "crate::domain::cli_login::DeviceStatus")]
pub enum DeviceStatus {
    /// Waiting for the signed-in user to approve or deny it.
    Pending,
    /// Approved; the CLI has not collected its token yet.
    Approved,
    Denied,
    /// The CLI collected its token.
    Completed,
    /// Pending past its time.
    Expired,
}

/// A CLI waiting for (or past) approval in the device flow.
pub struct DeviceAuthorization(pub crate::domain::cli_login::DeviceView);

#[Object]
impl DeviceAuthorization {
    /// As the CLI shows it: `XXXX-XXXX`.
    async fn user_code(&self) -> &str {
        &self.0.user_code
    }
    /// The machine the CLI runs on, as it says; its token is named after it.
    async fn client_name(&self) -> &str {
        &self.0.client_name
    }
    async fn status(&self) -> DeviceStatus {
        self.0.status.into()
    }
    async fn expires_at(&self) -> DateTime<Utc> {
        self.0.expires_at
    }
    /// When the device asked to sign in.
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    /// The client address the device asked from (as the server saw it), when known: a
    /// code started from somewhere you are not reads as such.
    async fn requested_from(&self) -> Option<&str> {
        self.0.requested_ip.as_deref()
    }
}

/// Where to send the browser after approving a CLI sign-in.
#[derive(SimpleObject)]
pub struct CliLoginApproval {
    /// The CLI's loopback address with a one-time code (60 s) and its state.
    pub redirect_to: String,
}

//! Organizations, projects and who is looking.

use async_graphql::{Context, ID, Object, SimpleObject};
use chrono::{DateTime, Utc};
use entity::{organization, project};

use super::*;
use crate::domain::CustomerRef;

/// A user, as shown beside the things they made.
#[derive(SimpleObject, Clone)]
pub struct User {
    pub id: ID,
    pub email: String,
    pub name: String,
}

impl From<CustomerRef> for User {
    fn from(c: CustomerRef) -> Self {
        Self {
            id: ID(c.id.to_string()),
            email: c.email,
            name: c.name,
        }
    }
}

/// The signed-in user or the credential's owner.
#[derive(SimpleObject)]
pub struct Me {
    /// The user, when a user (not a service account) is acting.
    pub user: Option<User>,
    /// Whether this request carries instance-admin power: an instance admin's session or
    /// unscoped personal access token; never an API key, a scoped token or a provider token.
    pub is_instance_admin: bool,
    /// How the request was authenticated: `session`, `api_key`, `pat` or `service_account_key`.
    pub authenticated_by: String,
    /// The credential's name, when a credential is acting.
    pub credential_name: Option<String>,
    /// The acting credential's scopes (`resource:level`); null when it has none, so it
    /// carries all of its holder's role, or no credential is acting.
    pub credential_scopes: Option<Vec<String>>,
    /// When the acting credential stops working on its own (its expiry, or the end of a
    /// rotation's grace period); null when it never does or no credential is acting.
    pub credential_expires_at: Option<DateTime<Utc>>,
    /// The organization of the session or of an organization key.
    pub organization_id: Option<ID>,
    /// The project of the session or of a project key.
    pub project_id: Option<ID>,
}

/// An organization.
pub struct Organization(pub organization::Model);

#[Object]
impl Organization {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    async fn name(&self) -> &str {
        &self.0.name
    }
    /// Unique across the instance; part of every project's namespace.
    async fn slug(&self) -> &str {
        &self.0.slug
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    /// Whether an instance admin has suspended the organization.
    async fn suspended(&self) -> bool {
        self.0.suspended_at.is_some()
    }
    /// Why it was suspended.
    async fn suspended_reason(&self) -> Option<&str> {
        self.0.suspended_reason.as_deref()
    }
    /// Requests per minute for credentials without a limit of their own; null: the server default.
    async fn rate_limit_per_minute(&self) -> Option<i32> {
        self.0.rate_limit_per_minute
    }
    /// Whether requests pass when the rate limiter cannot decide.
    async fn rate_limit_fail_open(&self) -> bool {
        self.0.rate_limit_fail_open
    }
    /// Longest lifetime, in days, of a personal access token used here; null: no limit.
    async fn pat_max_lifetime_days(&self) -> Option<i32> {
        self.0.pat_max_lifetime_days
    }
    /// Longest lifetime, in days, of a new API or service-account key here (the instance's
    /// maximum may be lower); null: the instance's.
    async fn api_key_max_lifetime_days(&self) -> Option<i32> {
        self.0.api_key_max_lifetime_days
    }
    /// Every new API key belongs to a project (as KV Cache Store's and Vectorcache's do).
    async fn keys_per_project(&self) -> bool {
        self.0.keys_per_project
    }
    /// What is done with a key a secret scanner found in public.
    async fn leaked_key_policy(&self) -> LeakedKeyPolicy {
        self.0.leaked_key_policy.into()
    }
    /// Your role here, when a user is acting (by session, personal access token or OIDC
    /// token); null for an organization's own keys.
    async fn viewer_role(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Role>> {
        let role = services(ctx)?.viewer_role(actor(ctx)?, self.0.id).await?;
        Ok(role.map(Role::plain))
    }
    /// The organization's projects.
    async fn projects(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<Project>> {
        let list = services(ctx)?.projects(actor(ctx)?, self.0.id).await?;
        Ok(list.into_iter().map(Project).collect())
    }
}

/// What the acting principal may do in an organization right now.
pub struct ViewerAccess(pub crate::domain::orgs::ViewerAccess);

#[Object]
impl ViewerAccess {
    /// Every permission held (`resource:level`), each level spelled out: `api_keys:write`
    /// is listed beside `api_keys:read`.
    async fn permissions(&self) -> Vec<String> {
        self.0.permissions.iter().map(ToString::to_string).collect()
    }
    /// Whether you may do `permission` (`resource:level`) here.
    async fn can(&self, permission: String) -> bool {
        self.0
            .permissions
            .iter()
            .any(|p| p.to_string() == permission)
    }
    /// Whether you are an owner here (owner-only operations: ownership, deletion).
    async fn owner(&self) -> bool {
        self.0.owner
    }
}

/// A project of an organization.
pub struct Project(pub project::Model);

#[Object]
impl Project {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    async fn organization_id(&self) -> ID {
        ID(self.0.organization_id.to_string())
    }
    async fn name(&self) -> &str {
        &self.0.name
    }
    async fn slug(&self) -> &str {
        &self.0.slug
    }
    /// The storage namespace, unique across the instance.
    async fn namespace(&self) -> &str {
        &self.0.namespace
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
}

/// A new organization and its default project.
#[derive(SimpleObject)]
pub struct CreateOrganizationPayload {
    pub organization: Organization,
    pub project: Project,
}

/// What is done with a key a secret scanner finds in public (SPEC §16).
#[derive(async_graphql::Enum, Copy, Clone, Eq, PartialEq)]
pub enum LeakedKeyPolicy {
    /// Revoked at once (the default).
    Revoke,
    /// Marked as leaked and announced, but left working.
    Flag,
}

impl From<entity::organization::LeakedKeyPolicy> for LeakedKeyPolicy {
    fn from(p: entity::organization::LeakedKeyPolicy) -> Self {
        match p {
            entity::organization::LeakedKeyPolicy::Revoke => Self::Revoke,
            entity::organization::LeakedKeyPolicy::Flag => Self::Flag,
        }
    }
}

impl From<LeakedKeyPolicy> for entity::organization::LeakedKeyPolicy {
    fn from(p: LeakedKeyPolicy) -> Self {
        match p {
            LeakedKeyPolicy::Revoke => Self::Revoke,
            LeakedKeyPolicy::Flag => Self::Flag,
        }
    }
}

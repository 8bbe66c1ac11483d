//! API keys and personal access tokens, and their usage.

use async_graphql::{Context, Enum, ID, Json, Object, SimpleObject};
use chrono::{DateTime, Utc};

use super::*;
use crate::domain::{
    credentials::{self, CredentialView},
    usage::Usage as DomainUsage,
};

/// The order a key list runs in; among equals, newest first.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Default)]
#[graphql(remote = "credentials::KeyOrder")]
pub enum KeyOrder {
    #[default]
    Newest,
    Oldest,
    /// By name, A to Z, any case.
    Name,
    /// Most recently used first; never used last.
    LastUsed,
    /// Soonest to expire first; never expiring last.
    Expires,
}

/// Where a credential stands.
#[derive(Enum, Copy, Clone, Eq, PartialEq)]
pub enum CredentialStatus {
    Active,
    Disabled,
    Expired,
    Revoked,
    /// Replaced by rotation; works until its grace period ends.
    Rotating,
}

impl From<credentials::Status> for CredentialStatus {
    fn from(s: credentials::Status) -> Self {
        match s {
            credentials::Status::Active => Self::Active,
            credentials::Status::Disabled => Self::Disabled,
            credentials::Status::Expired => Self::Expired,
            credentials::Status::Revoked => Self::Revoked,
            credentials::Status::Rotating => Self::Rotating,
        }
    }
}

impl From<CredentialStatus> for credentials::Status {
    fn from(s: CredentialStatus) -> Self {
        match s {
            CredentialStatus::Active => Self::Active,
            CredentialStatus::Disabled => Self::Disabled,
            CredentialStatus::Expired => Self::Expired,
            CredentialStatus::Revoked => Self::Revoked,
            CredentialStatus::Rotating => Self::Rotating,
        }
    }
}

/// The kind of a credential.
#[derive(Enum, Copy, Clone, Eq, PartialEq)]
pub enum CredentialKind {
    ApiKey,
    PersonalAccessToken,
    ServiceAccountKey,
}

impl From<crate::domain::CredentialKind> for CredentialKind {
    fn from(kind: crate::domain::CredentialKind) -> Self {
        use crate::domain::CredentialKind as Stored;
        match kind {
            Stored::ApiKey => Self::ApiKey,
            Stored::Pat => Self::PersonalAccessToken,
            Stored::ServiceAccountKey => Self::ServiceAccountKey,
        }
    }
}

/// Live or test traffic.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Default)]
#[graphql(remote = "credentials::Environment")]
pub enum Environment {
    #[default]
    Live,
    Test,
}

/// An API key or service-account key of an organization. The secret is never here.
pub struct ApiKey(pub CredentialView);

/// Fields shared by every credential type.
fn status(ctx: &Context<'_>, v: &CredentialView) -> async_graphql::Result<CredentialStatus> {
    Ok(credentials::status_at(&v.model, services(ctx)?.clock.now()).into())
}

#[Object]
impl ApiKey {
    async fn id(&self) -> ID {
        ID(self.0.model.id.to_string())
    }
    async fn kind(&self) -> CredentialKind {
        self.0.kind.into()
    }
    async fn name(&self) -> &str {
        &self.0.model.name
    }
    /// The type prefix and first four random characters, e.g. `kw_sk_live_Ab3x`.
    async fn prefix(&self) -> &str {
        &self.0.model.display_prefix
    }
    /// The token's last four characters.
    async fn last4(&self) -> &str {
        &self.0.model.last4
    }
    async fn organization_id(&self) -> Option<ID> {
        self.0.model.organization_id.map(|id| ID(id.to_string()))
    }
    /// The project the key is limited to, if any.
    async fn project(&self) -> Option<Project> {
        self.0.project.clone().map(Project)
    }
    /// Who created the key (its owner).
    async fn created_by(&self) -> Option<User> {
        self.0.creator.clone().map(User::from)
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.model.created_at
    }
    /// When the key expires; null when it never does.
    async fn expires_at(&self) -> Option<DateTime<Utc>> {
        credentials::effective_expiry(&self.0.model)
    }
    /// Whether the key stops working within 7 days.
    async fn expires_soon(&self, ctx: &Context<'_>) -> async_graphql::Result<bool> {
        Ok(credentials::expires_soon(
            &self.0.model,
            services(ctx)?.clock.now(),
        ))
    }
    async fn last_used_at(&self) -> Option<DateTime<Utc>> {
        self.0.model.last_used_at
    }
    async fn last_used_ip(&self) -> Option<&str> {
        self.0.model.last_used_ip.as_deref()
    }
    async fn request_count(&self) -> i64 {
        self.0.model.request_count
    }
    /// The product's own data, returned by verify.
    async fn meta(&self) -> Option<Json<serde_json::Value>> {
        self.0.controls.meta.clone().map(Json)
    }
    /// The key's own credits; none: unlimited, or its identity's.
    async fn credits(&self) -> Option<crate::graphql::controls::Credits> {
        self.0
            .controls
            .credits
            .clone()
            .map(crate::graphql::controls::Credits)
    }
    /// The key's own named rate limits (its identity's apply too).
    async fn ratelimits(&self) -> Vec<crate::graphql::controls::Ratelimit> {
        self.0
            .controls
            .limits
            .iter()
            .cloned()
            .map(crate::graphql::controls::Ratelimit)
            .collect()
    }
    /// The customer of the product the key belongs to.
    async fn identity(&self) -> Option<crate::graphql::controls::KeyIdentity> {
        self.0
            .controls
            .identity
            .clone()
            .map(crate::graphql::controls::KeyIdentity)
    }
    async fn status(&self, ctx: &Context<'_>) -> async_graphql::Result<CredentialStatus> {
        status(ctx, &self.0)
    }
    /// `resource:level` scopes; null means all of the owner's permissions.
    async fn scopes(&self) -> Option<Vec<String>> {
        self.0
            .scopes
            .as_ref()
            .map(|s| s.iter().map(ToString::to_string).collect())
    }
    async fn environment(&self) -> Option<Environment> {
        self.0.model.environment.map(Into::into)
    }
    /// Requests per minute; null means the organization's default.
    async fn rate_limit_per_minute(&self) -> Option<i32> {
        self.0.model.rate_limit_per_minute
    }
    async fn revoked_at(&self) -> Option<DateTime<Utc>> {
        self.0.model.revoked_at
    }
    /// When a secret scanner reported it found in public.
    async fn leaked_at(&self) -> Option<DateTime<Utc>> {
        self.0.model.leaked_at
    }
    async fn revoked_reason(&self) -> Option<&str> {
        self.0.model.revoked_reason.as_deref()
    }
    /// The key this one replaced by rotation.
    async fn rotated_from_id(&self) -> Option<ID> {
        self.0.model.rotated_from_id.map(|id| ID(id.to_string()))
    }
    /// The key this one replaced by rotation ("Replaces …").
    async fn replaces(&self) -> Option<KeyLink> {
        self.0.rotation.replaces.as_ref().map(KeyLink::from)
    }
    /// The key that replaced this one by rotation ("Replaced by …, works until
    /// `rotationEndsAt`").
    async fn replaced_by(&self) -> Option<KeyLink> {
        self.0.rotation.replaced_by.as_ref().map(KeyLink::from)
    }
    /// For the old key of a rotation: when its grace period ends and it stops working.
    async fn rotation_ends_at(&self) -> Option<DateTime<Utc>> {
        self.0.model.grace_expires_at
    }
    /// Whether the key was imported by its hash from another system.
    async fn imported(&self) -> bool {
        self.0.model.imported
    }
}

/// The other key of a rotation, as a listing names it.
#[derive(SimpleObject)]
pub struct KeyLink {
    pub id: ID,
    pub name: String,
    /// The type prefix and first four random characters, e.g. `kw_sk_live_Ab3x`.
    pub prefix: String,
}

impl From<&entity::credential::Model> for KeyLink {
    fn from(m: &entity::credential::Model) -> Self {
        Self {
            id: ID(m.id.to_string()),
            name: m.name.clone(),
            prefix: m.display_prefix.clone(),
        }
    }
}

/// A personal access token. The secret is never here.
pub struct PersonalAccessToken(pub CredentialView);

#[Object]
impl PersonalAccessToken {
    async fn id(&self) -> ID {
        ID(self.0.model.id.to_string())
    }
    async fn name(&self) -> &str {
        &self.0.model.name
    }
    async fn prefix(&self) -> &str {
        &self.0.model.display_prefix
    }
    async fn last4(&self) -> &str {
        &self.0.model.last4
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.model.created_at
    }
    async fn expires_at(&self) -> Option<DateTime<Utc>> {
        credentials::effective_expiry(&self.0.model)
    }
    async fn expires_soon(&self, ctx: &Context<'_>) -> async_graphql::Result<bool> {
        Ok(credentials::expires_soon(
            &self.0.model,
            services(ctx)?.clock.now(),
        ))
    }
    async fn last_used_at(&self) -> Option<DateTime<Utc>> {
        self.0.model.last_used_at
    }
    async fn last_used_ip(&self) -> Option<&str> {
        self.0.model.last_used_ip.as_deref()
    }
    async fn request_count(&self) -> i64 {
        self.0.model.request_count
    }
    async fn status(&self, ctx: &Context<'_>) -> async_graphql::Result<CredentialStatus> {
        status(ctx, &self.0)
    }
    /// `resource:level` scopes; null means all of the user's permissions in each organization.
    async fn scopes(&self) -> Option<Vec<String>> {
        self.0
            .scopes
            .as_ref()
            .map(|s| s.iter().map(ToString::to_string).collect())
    }
    async fn revoked_at(&self) -> Option<DateTime<Utc>> {
        self.0.model.revoked_at
    }
}

/// Requests in one minute.
#[derive(SimpleObject)]
pub struct UsageBucket {
    pub minute: DateTime<Utc>,
    pub count: i64,
}

/// A credential's requests over a time range.
#[derive(SimpleObject)]
pub struct Usage {
    pub credential_id: ID,
    pub total: i64,
    pub buckets: Vec<UsageBucket>,
}

impl From<DomainUsage> for Usage {
    fn from(u: DomainUsage) -> Self {
        Self {
            credential_id: ID(u.credential_id.to_string()),
            total: u.total,
            buckets: u
                .buckets
                .into_iter()
                .map(|(minute, count)| UsageBucket { minute, count })
                .collect(),
        }
    }
}

/// A new API key and its secret: the only time the secret is shown.
#[derive(SimpleObject)]
pub struct ApiKeyWithSecret {
    pub api_key: ApiKey,
    /// The full token. Store it now: it cannot be shown again.
    pub secret: String,
}

/// A new personal access token and its secret: the only time the secret is shown.
#[derive(SimpleObject)]
pub struct PersonalAccessTokenWithSecret {
    pub token: PersonalAccessToken,
    /// The full token. Store it now: it cannot be shown again.
    pub secret: String,
}

//! GraphQL output and input types. Output types are built from domain values, never
//! derived on entity models, so a stored field (a hash, say) can never leak by accident.

use async_graphql::{Context, Enum, ID, InputObject, Json, Object, SimpleObject, connection::Edge};
use chrono::{DateTime, Utc};
use entity::{audit_event, customer, organization, project};
use uuid::Uuid;

use crate::domain::{
    Actor, CustomerRef, Services,
    credentials::{self, CredentialView, Page},
    ids::parse_id,
    sessions::SessionView,
    usage::Usage as DomainUsage,
};

/// Adds a total count to every connection.
#[derive(SimpleObject)]
pub struct TotalCount {
    /// How many items match, over all pages.
    pub total_count: u64,
}

/// A connection with `totalCount`.
pub type Conn<T> = async_graphql::connection::Connection<String, T, TotalCount>;

/// Builds a connection page; the cursor of an item is its id.
pub fn connection<T, U: async_graphql::OutputType>(
    page: Page<T>,
    id: impl Fn(&T) -> String,
    node: impl Fn(T) -> U,
) -> Conn<U> {
    let mut conn = Conn::with_additional_fields(
        false,
        page.has_next,
        TotalCount {
            total_count: page.total,
        },
    );
    conn.edges.extend(
        page.items
            .into_iter()
            .map(|item| Edge::new(id(&item), node(item))),
    );
    conn
}

/// Page size from `first` (default 50, at most 100).
pub fn page_size(first: Option<i32>) -> async_graphql::Result<u64> {
    match first {
        None => Ok(50),
        Some(n) if (1..=100).contains(&n) => Ok(n as u64),
        Some(_) => {
            Err(crate::error::AppError::invalid("first", "must be between 1 and 100").into())
        }
    }
}

/// Page size from `first` (default 50, at most 100) and the `after` cursor, an item's id.
pub fn paging(
    first: Option<i32>,
    after: Option<String>,
) -> async_graphql::Result<(u64, Option<Uuid>)> {
    let first = page_size(first)?;
    let after = after.map(|a| parse_id("after", &a)).transpose()?;
    Ok((first, after))
}

pub fn actor<'a>(ctx: &'a Context<'_>) -> async_graphql::Result<&'a Actor> {
    ctx.data::<Actor>()
}

pub fn services<'a>(ctx: &'a Context<'_>) -> async_graphql::Result<&'a Services> {
    ctx.data::<Services>()
}

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

/// Live or test traffic.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Default)]
pub enum Environment {
    #[default]
    Live,
    Test,
}

impl From<Environment> for credentials::Environment {
    fn from(e: Environment) -> Self {
        match e {
            Environment::Live => Self::Live,
            Environment::Test => Self::Test,
        }
    }
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
        match self.0.kind {
            crate::domain::CredentialKind::ServiceAccountKey => CredentialKind::ServiceAccountKey,
            crate::domain::CredentialKind::Pat => CredentialKind::PersonalAccessToken,
            crate::domain::CredentialKind::ApiKey => CredentialKind::ApiKey,
        }
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
    async fn credits(&self) -> Option<super::controls::Credits> {
        self.0
            .controls
            .credits
            .clone()
            .map(super::controls::Credits)
    }
    /// The key's own named rate limits (its identity's apply too).
    async fn ratelimits(&self) -> Vec<super::controls::Ratelimit> {
        self.0
            .controls
            .limits
            .iter()
            .cloned()
            .map(super::controls::Ratelimit)
            .collect()
    }
    /// The customer of the product the key belongs to.
    async fn identity(&self) -> Option<super::controls::KeyIdentity> {
        self.0
            .controls
            .identity
            .clone()
            .map(super::controls::KeyIdentity)
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
        match self.0.model.environment.as_deref() {
            Some("live") => Some(Environment::Live),
            Some("test") => Some(Environment::Test),
            _ => None,
        }
    }
    /// Requests per minute; null means the organization's default.
    async fn rate_limit_per_minute(&self) -> Option<i32> {
        self.0.model.rate_limit_per_minute
    }
    async fn revoked_at(&self) -> Option<DateTime<Utc>> {
        self.0.model.revoked_at
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

/// An audit event (SPEC §9).
pub struct AuditEvent(pub audit_event::Model);

#[Object]
impl AuditEvent {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    async fn organization_id(&self) -> Option<ID> {
        self.0.organization_id.map(|id| ID(id.to_string()))
    }
    /// Position in the organization's hash chain.
    async fn seq(&self) -> i64 {
        self.0.seq
    }
    async fn occurred_at(&self) -> DateTime<Utc> {
        self.0.occurred_at
    }
    /// `user`, `instance_admin`, `api_key`, `pat`, `service_account` or `system`.
    async fn actor_type(&self) -> &str {
        &self.0.actor_type
    }
    async fn actor_id(&self) -> Option<ID> {
        self.0.actor_id.map(|id| ID(id.to_string()))
    }
    async fn actor_name(&self) -> &str {
        &self.0.actor_name
    }
    /// The key's name when a key acted; `dashboard` for a session.
    async fn agent(&self) -> Option<&str> {
        self.0.agent.as_deref()
    }
    /// E.g. `api_key.create`.
    async fn action(&self) -> &str {
        &self.0.action
    }
    async fn target_type(&self) -> Option<&str> {
        self.0.target_type.as_deref()
    }
    async fn target_id(&self) -> Option<&str> {
        self.0.target_id.as_deref()
    }
    async fn target_name(&self) -> Option<&str> {
        self.0.target_name.as_deref()
    }
    async fn details(&self) -> Json<serde_json::Value> {
        Json(self.0.details.clone())
    }
    async fn ip(&self) -> Option<&str> {
        self.0.ip.as_deref()
    }
    async fn user_agent(&self) -> Option<&str> {
        self.0.user_agent.as_deref()
    }
    async fn request_id(&self) -> Option<&str> {
        self.0.request_id.as_deref()
    }
    /// SHA-256 over the previous hash and this event.
    async fn hash(&self) -> &str {
        &self.0.hash
    }
    async fn prev_hash(&self) -> &str {
        &self.0.prev_hash
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

/// Filters for `auditEvents`.
#[derive(InputObject, Default)]
pub struct AuditEventFilter {
    pub actor_id: Option<ID>,
    pub action: Option<String>,
    pub target_id: Option<String>,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
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

/// A new organization and its default project.
#[derive(SimpleObject)]
pub struct CreateOrganizationPayload {
    pub organization: Organization,
    pub project: Project,
}

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

/// A member of an organization.
pub struct Member(pub crate::domain::members::Member);

#[Object]
impl Member {
    /// The membership id (used to change the role or remove the member).
    async fn id(&self) -> ID {
        ID(self.0.membership.id.to_string())
    }
    async fn organization_id(&self) -> ID {
        ID(self.0.membership.organization_id.to_string())
    }
    async fn user(&self) -> User {
        self.0.customer.clone().into()
    }
    async fn role(&self) -> Role {
        Role::plain(self.0.role.clone())
    }
    async fn joined_at(&self) -> DateTime<Utc> {
        self.0.membership.created_at
    }
}

/// One permission of a role: a resource and the level granted on it.
#[derive(SimpleObject, Clone)]
pub struct Permission {
    pub resource: String,
    /// `read`, `write`, `delete` or `admin`.
    pub level: String,
}

/// A role: built-in (`owner`, `admin`, `developer`, `viewer`) or custom.
pub struct Role {
    role: entity::role::Model,
    permissions: Option<Vec<crate::domain::permissions::Perm>>,
}

impl Role {
    pub fn plain(role: entity::role::Model) -> Self {
        Self {
            role,
            permissions: None,
        }
    }
}

impl From<crate::domain::roles::RoleView> for Role {
    fn from(v: crate::domain::roles::RoleView) -> Self {
        Self {
            role: v.role,
            permissions: Some(v.permissions),
        }
    }
}

#[Object]
impl Role {
    async fn id(&self) -> ID {
        ID(self.role.id.to_string())
    }
    /// `owner`, `admin`, `developer`, `viewer`, or a custom role's slug.
    async fn key(&self) -> &str {
        &self.role.key
    }
    async fn name(&self) -> &str {
        &self.role.name
    }
    async fn description(&self) -> &str {
        &self.role.description
    }
    async fn builtin(&self) -> bool {
        self.role.builtin
    }
    /// What the role grants, one entry per resource (listed in `roles` and role mutations).
    async fn permissions(&self) -> Vec<Permission> {
        self.permissions
            .iter()
            .flatten()
            .map(|p| Permission {
                resource: p.resource.as_str().to_owned(),
                level: p.level.as_str().into(),
            })
            .collect()
    }
}

/// An invite to join an organization.
pub struct Invite(pub crate::domain::invites::InviteView);

#[Object]
impl Invite {
    async fn id(&self) -> ID {
        ID(self.0.invite.id.to_string())
    }
    async fn email(&self) -> &str {
        &self.0.invite.email
    }
    async fn organization(&self) -> Organization {
        Organization(self.0.organization.clone())
    }
    async fn role(&self) -> Role {
        Role::plain(self.0.role.clone())
    }
    /// `pending`, `accepted`, `declined`, `revoked` or `expired`.
    async fn status(&self, ctx: &Context<'_>) -> async_graphql::Result<String> {
        Ok(self.0.status(services(ctx)?.clock.now()).to_owned())
    }
    async fn expires_at(&self) -> DateTime<Utc> {
        self.0.invite.expires_at
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.invite.created_at
    }
}

/// A resource keys and roles can carry.
#[derive(SimpleObject)]
pub struct CatalogResource {
    pub name: String,
    pub description: String,
    /// Built in, or defined by the organization for its own product.
    pub builtin: bool,
}

/// The resources and levels of an organization, for role and key editors.
#[derive(SimpleObject)]
pub struct PermissionCatalog {
    pub resources: Vec<CatalogResource>,
    /// In order: each includes the ones before it.
    pub levels: Vec<String>,
}

/// An application resource an organization defined.
#[derive(SimpleObject)]
pub struct ApplicationResource {
    pub id: ID,
    pub name: String,
    pub description: String,
}

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
    /// `pending`, `approved`, `denied`, `completed` or `expired`.
    async fn status(&self) -> &str {
        &self.0.status
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

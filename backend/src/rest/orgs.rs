//! REST management of organizations, members, invites and roles (SPEC §4.4): the same
//! domain calls as GraphQL, JSON in and out (snake_case), cursor pages, problem+json. An
//! item of another organization than `{org}` is not found.

use axum::{
    extract::State,
    http::StatusCode,
    response::{IntoResponse, Response},
};
use chrono::{DateTime, Utc};
use entity::{organization, project, role};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::{
    Body, Path, Query,
    openapi::{self, Refusals, WriteRefusals},
    page::{PageQuery, page_of},
};
use crate::{
    auth::Authenticated,
    domain::{
        ids::parse_id,
        invites::{InviteStatus, InviteView},
        members::Member,
        orgs::Held,
        roles::RoleView,
    },
    error::AppResult,
    state::AppState,
};

/// An organization.
#[derive(Debug, Serialize, ToSchema)]
pub struct OrganizationOut {
    pub id: Uuid,
    pub name: String,
    pub slug: String,
    pub created_at: DateTime<Utc>,
    pub suspended: bool,
    /// Requests per minute for credentials without a limit of their own; `null`: the
    /// server's default.
    pub rate_limit_per_minute: Option<i32>,
    pub rate_limit_fail_open: bool,
    pub pat_max_lifetime_days: Option<i32>,
    pub api_key_max_lifetime_days: Option<i32>,
    /// Every new key belongs to a project.
    pub keys_per_project: bool,
    /// What is done with a key a secret scanner found in public.
    pub leaked_key_policy: LeakedKeyPolicyOut,
}

/// What is done with a leaked key.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum LeakedKeyPolicyOut {
    /// Revoked at once.
    Revoke,
    /// Marked as leaked and announced, but left working.
    Flag,
}

impl From<organization::Model> for OrganizationOut {
    fn from(o: organization::Model) -> Self {
        Self {
            id: o.id,
            name: o.name,
            slug: o.slug,
            created_at: o.created_at,
            suspended: o.suspended_at.is_some(),
            rate_limit_per_minute: o.rate_limit_per_minute,
            rate_limit_fail_open: o.rate_limit_fail_open,
            pat_max_lifetime_days: o.pat_max_lifetime_days,
            api_key_max_lifetime_days: o.api_key_max_lifetime_days,
            keys_per_project: o.keys_per_project,
            leaked_key_policy: match o.leaked_key_policy {
                organization::LeakedKeyPolicy::Revoke => LeakedKeyPolicyOut::Revoke,
                organization::LeakedKeyPolicy::Flag => LeakedKeyPolicyOut::Flag,
            },
        }
    }
}

/// A project.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProjectOut {
    pub id: Uuid,
    pub organization_id: Uuid,
    pub name: String,
    pub slug: String,
    /// The storage namespace, unique on this server.
    pub namespace: String,
}

impl From<project::Model> for ProjectOut {
    fn from(p: project::Model) -> Self {
        Self {
            id: p.id,
            organization_id: p.organization_id,
            name: p.name,
            slug: p.slug,
            namespace: p.namespace,
        }
    }
}

/// The organizations you belong to (a key: its own).
#[derive(Debug, Serialize, ToSchema)]
pub struct OrganizationList {
    pub items: Vec<OrganizationOut>,
}

/// `POST /api/v1/orgs`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateOrganizationBody {
    /// 1–100 characters, no hidden or text-direction characters.
    #[schema(min_length = 1, max_length = 100)]
    pub name: String,
    /// Derived from the name when absent.
    #[serde(default)]
    pub slug: Option<String>,
}

/// A new organization with its default project.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedOrganization {
    pub organization: OrganizationOut,
    pub project: ProjectOut,
}

/// A role as members, invites and service accounts name it.
#[derive(Debug, Serialize, ToSchema)]
pub struct RoleRef {
    pub id: Uuid,
    /// `owner`, `admin`, `developer`, `viewer`, or a custom role's slug.
    pub key: String,
    pub name: String,
}

impl From<&role::Model> for RoleRef {
    fn from(r: &role::Model) -> Self {
        Self {
            id: r.id,
            key: r.key.clone(),
            name: r.name.clone(),
        }
    }
}

/// A user as a member shows them.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserOut {
    pub id: Uuid,
    pub email: String,
    pub name: String,
}

/// A member of an organization.
#[derive(Debug, Serialize, ToSchema)]
pub struct MemberOut {
    /// The membership's id (`/members/{id}`).
    pub id: Uuid,
    pub organization_id: Uuid,
    pub user: UserOut,
    pub role: RoleRef,
    pub joined_at: DateTime<Utc>,
}

impl From<Member> for MemberOut {
    fn from(m: Member) -> Self {
        Self {
            id: m.membership.id,
            organization_id: m.membership.organization_id,
            user: UserOut {
                id: m.customer.id,
                email: m.customer.email,
                name: m.customer.name,
            },
            role: RoleRef::from(&m.role),
            joined_at: m.membership.created_at,
        }
    }
}

/// A page of members.
#[derive(Debug, Serialize, ToSchema)]
pub struct MemberPage {
    pub items: Vec<MemberOut>,
    pub next_cursor: Option<String>,
}

/// `PATCH …/members/{id}`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatchMemberBody {
    pub role_id: Uuid,
}

/// An invite.
#[derive(Debug, Serialize, ToSchema)]
pub struct InviteOut {
    pub id: Uuid,
    pub organization_id: Uuid,
    pub organization_name: String,
    pub email: String,
    pub role: RoleRef,
    pub status: InviteStatusOut,
    pub expires_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    /// Where the invitee accepts it (signed in as the invited address): sent by email
    /// when the server has SMTP, or passed on by hand.
    pub accept_url: String,
}

impl InviteOut {
    fn of(v: InviteView, services: &crate::domain::Services) -> Self {
        Self {
            status: v.status(services.clock.now()).into(),
            accept_url: services.accept_link(v.invite.id),
            id: v.invite.id,
            organization_id: v.invite.organization_id,
            organization_name: v.organization.name,
            email: v.invite.email,
            role: RoleRef::from(&v.role),
            expires_at: v.invite.expires_at,
            created_at: v.invite.created_at,
        }
    }
}

/// Where an invite stands: open, answered, withdrawn, or pending past its 7 days.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum InviteStatusOut {
    Pending,
    Accepted,
    Declined,
    Revoked,
    Expired,
}

impl From<InviteStatus> for InviteStatusOut {
    fn from(s: InviteStatus) -> Self {
        match s {
            InviteStatus::Pending => Self::Pending,
            InviteStatus::Accepted => Self::Accepted,
            InviteStatus::Declined => Self::Declined,
            InviteStatus::Revoked => Self::Revoked,
            InviteStatus::Expired => Self::Expired,
        }
    }
}

/// A page of invites.
#[derive(Debug, Serialize, ToSchema)]
pub struct InvitePage {
    pub items: Vec<InviteOut>,
    pub next_cursor: Option<String>,
}

/// `POST …/invites`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateInviteBody {
    #[schema(format = Email)]
    pub email: String,
    pub role_id: Uuid,
}

/// A role with its permissions.
#[derive(Debug, Serialize, ToSchema)]
pub struct RoleOut {
    pub id: Uuid,
    /// `owner`, `admin`, `developer`, `viewer`, or a custom role's slug.
    pub key: String,
    pub name: String,
    pub description: String,
    /// Built-in roles cannot be changed.
    pub builtin: bool,
    /// `resource:level`.
    pub permissions: Vec<String>,
}

impl From<RoleView> for RoleOut {
    fn from(v: RoleView) -> Self {
        Self {
            id: v.role.id,
            key: v.role.key,
            name: v.role.name,
            description: v.role.description,
            builtin: v.role.builtin,
            permissions: v.permissions.iter().map(ToString::to_string).collect(),
        }
    }
}

/// A page of roles.
#[derive(Debug, Serialize, ToSchema)]
pub struct RolePage {
    pub items: Vec<RoleOut>,
    pub next_cursor: Option<String>,
}

/// `POST …/roles`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateRoleBody {
    /// 1–100 characters, no hidden or text-direction characters.
    #[schema(min_length = 1, max_length = 100)]
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    /// `resource:level`, each within what you hold.
    #[schema(value_type = Vec<openapi::Permission>)]
    pub permissions: Vec<String>,
}

/// `PATCH …/roles/{id}`: each member given is changed.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatchRoleBody {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    #[schema(value_type = Option<Vec<openapi::Permission>>)]
    pub permissions: Option<Vec<String>>,
}

/// Lists the organizations you belong to. **Permissions**: `organization:read`.
#[utoipa::path(
    get,
    path = "/api/v1/orgs",
    tag = "organizations",
    summary = "List your organizations",
    description = "A user's memberships; a key's own organization.",
    security(("bearer" = []), ("x_api_key" = []), ("session" = [])),
    responses((status = 200, description = "Your organizations.", body = OrganizationList), Refusals)
)]
pub async fn list_organizations(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
) -> AppResult<axum::Json<OrganizationList>> {
    let orgs = state.services.list_organizations(&actor).await?;
    Ok(axum::Json(OrganizationList {
        items: orgs.into_iter().map(OrganizationOut::from).collect(),
    }))
}

/// Creates an organization you own, with a default project.
/// **Permissions**: `organization:write` over your own things.
#[utoipa::path(
    post,
    path = "/api/v1/orgs",
    tag = "organizations",
    summary = "Create an organization",
    request_body = CreateOrganizationBody,
    security(("bearer" = []), ("x_api_key" = []), ("session" = [])),
    responses((status = 201, description = "Created.", body = CreatedOrganization), WriteRefusals)
)]
pub async fn create_organization(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    Body(body): Body<CreateOrganizationBody>,
) -> AppResult<Response> {
    let (organization, project) = state
        .services
        .create_organization(&actor, &body.name, body.slug)
        .await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(CreatedOrganization {
            organization: organization.into(),
            project: project.into(),
        }),
    )
        .into_response())
}

/// One organization. **Permissions**: `organization:read`.
#[utoipa::path(
    get,
    path = "/api/v1/orgs/{org}",
    tag = "organizations",
    summary = "Get an organization",
    params(("org" = Uuid, Path, description = "The organization's id.")),
    security(("bearer" = []), ("x_api_key" = []), ("session" = [])),
    responses((status = 200, description = "The organization.", body = OrganizationOut), Refusals)
)]
pub async fn get_organization(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    Path(org): Path<String>,
) -> AppResult<axum::Json<OrganizationOut>> {
    let org = parse_id("org", &org)?;
    let found = state.services.organization(&actor, org).await?;
    Ok(axum::Json(found.into()))
}

/// What the caller may do in an organization right now.
#[derive(Debug, Serialize, ToSchema)]
pub struct AccessOut {
    /// Every permission held (`resource:level`), each level spelled out: `api_keys:write`
    /// is listed beside `api_keys:read`.
    #[schema(example = json!(["api_keys:read", "api_keys:write", "usage:read"]))]
    pub permissions: Vec<String>,
    /// Whether the caller is an owner (owner-only operations).
    pub owner: bool,
}

/// What the caller may do in an organization right now, as every operation decides it
/// (role narrowed by the credential's scopes and project). **Permissions**: membership.
#[utoipa::path(
    get,
    path = "/api/v1/orgs/{org}/access",
    tag = "organizations",
    summary = "Get your permissions in an organization",
    params(("org" = Uuid, Path, description = "The organization's id.")),
    security(("bearer" = []), ("x_api_key" = []), ("session" = [])),
    responses((status = 200, description = "Your permissions there.", body = AccessOut), Refusals)
)]
pub async fn get_access(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    Path(org): Path<String>,
) -> AppResult<axum::Json<AccessOut>> {
    let org = parse_id("org", &org)?;
    let access = state.services.viewer_access(&actor, org).await?;
    Ok(axum::Json(AccessOut {
        permissions: access.permissions.iter().map(ToString::to_string).collect(),
        owner: access.owner,
    }))
}

/// Leaves an organization (its last owner cannot). **Permissions**: membership.
#[utoipa::path(
    post,
    path = "/api/v1/orgs/{org}/leave",
    tag = "members",
    summary = "Leave an organization",
    params(("org" = Uuid, Path, description = "The organization's id.")),
    security(("bearer" = []), ("session" = [])),
    responses((status = 204, description = "You are no longer a member."), WriteRefusals)
)]
pub async fn leave_organization(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    Path(org): Path<String>,
) -> AppResult<StatusCode> {
    let org = parse_id("org", &org)?;
    state.services.leave_organization(&actor, org).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// An organization's members. **Permissions**: `members:read`.
#[utoipa::path(
    get,
    path = "/api/v1/orgs/{org}/members",
    tag = "members",
    summary = "List members",
    description = "Newest first, a page at a time. Needs `members:read`.",
    params(("org" = Uuid, Path, description = "The organization's id."), PageQuery),
    security(("bearer" = []), ("x_api_key" = []), ("session" = [])),
    responses((status = 200, description = "A page of members.", body = MemberPage), Refusals)
)]
pub async fn list_members(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    Path(org): Path<String>,
    Query(page): Query<PageQuery>,
) -> AppResult<axum::Json<MemberPage>> {
    let org = parse_id("org", &org)?;
    let (limit, cursor) = page.read()?;
    let page = state.services.members(&actor, org, limit, cursor).await?;
    let (items, next_cursor) = page_of(page, |m| m.membership.id, |m| Ok(m.into()))?;
    Ok(axum::Json(MemberPage { items, next_cursor }))
}

/// Changes a member's role. **Permissions**: `members:write`, every permission of the
/// member's current role and of the new one, and ownership to make or unmake an owner.
#[utoipa::path(
    patch,
    path = "/api/v1/orgs/{org}/members/{id}",
    tag = "members",
    summary = "Change a member's role",
    description = "The organization always keeps an owner, whoever else acts at the same moment.",
    params(
        ("org" = Uuid, Path, description = "The organization's id."),
        ("id" = Uuid, Path, description = "The membership's id."),
    ),
    request_body = PatchMemberBody,
    security(("bearer" = []), ("x_api_key" = []), ("session" = [])),
    responses((status = 200, description = "The member as they are now.", body = MemberOut), WriteRefusals)
)]
pub async fn patch_member(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    Path((org, id)): Path<(String, String)>,
    Body(body): Body<PatchMemberBody>,
) -> AppResult<axum::Json<MemberOut>> {
    let id = held(&state, &org, Held::Membership, &id).await?;
    let member = state
        .services
        .update_member_role(&actor, id, body.role_id)
        .await?;
    Ok(axum::Json(member.into()))
}

/// Removes a member; their API keys are revoked. **Permissions**: `members:delete`,
/// every permission the member holds, and ownership to remove an owner.
#[utoipa::path(
    delete,
    path = "/api/v1/orgs/{org}/members/{id}",
    tag = "members",
    summary = "Remove a member",
    params(
        ("org" = Uuid, Path, description = "The organization's id."),
        ("id" = Uuid, Path, description = "The membership's id."),
    ),
    security(("bearer" = []), ("x_api_key" = []), ("session" = [])),
    responses((status = 204, description = "Removed."), WriteRefusals)
)]
pub async fn remove_member(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    Path((org, id)): Path<(String, String)>,
) -> AppResult<StatusCode> {
    let id = held(&state, &org, Held::Membership, &id).await?;
    state.services.remove_member(&actor, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// An organization's invites. **Permissions**: `invites:read`.
#[utoipa::path(
    get,
    path = "/api/v1/orgs/{org}/invites",
    tag = "members",
    summary = "List invites",
    params(("org" = Uuid, Path, description = "The organization's id."), PageQuery),
    security(("bearer" = []), ("x_api_key" = []), ("session" = [])),
    responses((status = 200, description = "A page of invites.", body = InvitePage), Refusals)
)]
pub async fn list_invites(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    Path(org): Path<String>,
    Query(page): Query<PageQuery>,
) -> AppResult<axum::Json<InvitePage>> {
    let org = parse_id("org", &org)?;
    let (limit, cursor) = page.read()?;
    let page = state.services.invites(&actor, org, limit, cursor).await?;
    let (items, next_cursor) = page_of(
        page,
        |i| i.invite.id,
        |i| Ok(InviteOut::of(i, &state.services)),
    )?;
    Ok(axum::Json(InvitePage { items, next_cursor }))
}

/// Invites someone by email with a role, open for 7 days. **Permissions**:
/// `members:write` and every permission the role grants (the owner role only from an owner).
#[utoipa::path(
    post,
    path = "/api/v1/orgs/{org}/invites",
    tag = "members",
    summary = "Invite a member",
    params(("org" = Uuid, Path, description = "The organization's id.")),
    request_body = CreateInviteBody,
    security(("bearer" = []), ("x_api_key" = []), ("session" = [])),
    responses((status = 201, description = "Invited.", body = InviteOut), WriteRefusals)
)]
pub async fn create_invite(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    Path(org): Path<String>,
    Body(body): Body<CreateInviteBody>,
) -> AppResult<Response> {
    let org = parse_id("org", &org)?;
    let invite = state
        .services
        .invite_member(&actor, org, &body.email, body.role_id)
        .await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(InviteOut::of(invite, &state.services)),
    )
        .into_response())
}

/// Withdraws an open invite. **Permissions**: `members:write`.
#[utoipa::path(
    post,
    path = "/api/v1/orgs/{org}/invites/{id}/revoke",
    tag = "members",
    summary = "Withdraw an invite",
    params(
        ("org" = Uuid, Path, description = "The organization's id."),
        ("id" = Uuid, Path, description = "The invite's id."),
    ),
    security(("bearer" = []), ("x_api_key" = []), ("session" = [])),
    responses((status = 200, description = "The invite, revoked.", body = InviteOut), WriteRefusals)
)]
pub async fn revoke_invite(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    Path((org, id)): Path<(String, String)>,
) -> AppResult<axum::Json<InviteOut>> {
    let id = held(&state, &org, Held::Invite, &id).await?;
    let invite = state.services.revoke_invite(&actor, id).await?;
    Ok(axum::Json(InviteOut::of(invite, &state.services)))
}

/// Open invites addressed to your verified email. **Permissions**: `invites:read` over
/// your own things.
#[utoipa::path(
    get,
    path = "/api/v1/invites",
    tag = "members",
    summary = "List your invites",
    params(PageQuery),
    security(("bearer" = []), ("session" = [])),
    responses((status = 200, description = "A page of your open invites.", body = InvitePage), Refusals)
)]
pub async fn my_invites(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    Query(page): Query<PageQuery>,
) -> AppResult<axum::Json<InvitePage>> {
    let (limit, cursor) = page.read()?;
    let page = state.services.my_invites(&actor, limit, cursor).await?;
    let (items, next_cursor) = page_of(
        page,
        |i| i.invite.id,
        |i| Ok(InviteOut::of(i, &state.services)),
    )?;
    Ok(axum::Json(InvitePage { items, next_cursor }))
}

/// Accepts an invite addressed to your verified email; you join with its role.
#[utoipa::path(
    post,
    path = "/api/v1/invites/{id}/accept",
    tag = "members",
    summary = "Accept an invite",
    params(("id" = Uuid, Path, description = "The invite's id.")),
    security(("bearer" = []), ("session" = [])),
    responses((status = 200, description = "The invite, accepted.", body = InviteOut), WriteRefusals)
)]
pub async fn accept_invite(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    Path(id): Path<String>,
) -> AppResult<axum::Json<InviteOut>> {
    let id = parse_id("id", &id)?;
    let invite = state.services.accept_invite(&actor, id).await?;
    Ok(axum::Json(InviteOut::of(invite, &state.services)))
}

/// Declines an invite addressed to you.
#[utoipa::path(
    post,
    path = "/api/v1/invites/{id}/decline",
    tag = "members",
    summary = "Decline an invite",
    params(("id" = Uuid, Path, description = "The invite's id.")),
    security(("bearer" = []), ("session" = [])),
    responses((status = 200, description = "The invite, declined.", body = InviteOut), WriteRefusals)
)]
pub async fn decline_invite(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    Path(id): Path<String>,
) -> AppResult<axum::Json<InviteOut>> {
    let id = parse_id("id", &id)?;
    let invite = state.services.decline_invite(&actor, id).await?;
    Ok(axum::Json(InviteOut::of(invite, &state.services)))
}

/// An organization's roles, built-in and custom. **Permissions**: `roles:read`.
#[utoipa::path(
    get,
    path = "/api/v1/orgs/{org}/roles",
    tag = "roles",
    summary = "List roles",
    params(("org" = Uuid, Path, description = "The organization's id."), PageQuery),
    security(("bearer" = []), ("x_api_key" = []), ("session" = [])),
    responses((status = 200, description = "A page of roles.", body = RolePage), Refusals)
)]
pub async fn list_roles(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    Path(org): Path<String>,
    Query(page): Query<PageQuery>,
) -> AppResult<axum::Json<RolePage>> {
    let org = parse_id("org", &org)?;
    let (limit, cursor) = page.read()?;
    let page = state.services.roles(&actor, org, limit, cursor).await?;
    let (items, next_cursor) = page_of(page, |r| r.role.id, |r| Ok(r.into()))?;
    Ok(axum::Json(RolePage { items, next_cursor }))
}

/// Creates a custom role. **Permissions**: `roles:write`, and every permission it grants.
#[utoipa::path(
    post,
    path = "/api/v1/orgs/{org}/roles",
    tag = "roles",
    summary = "Create a role",
    params(("org" = Uuid, Path, description = "The organization's id.")),
    request_body = CreateRoleBody,
    security(("bearer" = []), ("x_api_key" = []), ("session" = [])),
    responses((status = 201, description = "Created.", body = RoleOut), WriteRefusals)
)]
pub async fn create_role(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    Path(org): Path<String>,
    Body(body): Body<CreateRoleBody>,
) -> AppResult<Response> {
    let org = parse_id("org", &org)?;
    let role = state
        .services
        .create_role(&actor, org, &body.name, body.description, &body.permissions)
        .await?;
    Ok((StatusCode::CREATED, axum::Json(RoleOut::from(role))).into_response())
}

/// Changes a custom role; its holders' power changes at once. **Permissions**:
/// `roles:write`, and every permission it grants before and after.
#[utoipa::path(
    patch,
    path = "/api/v1/orgs/{org}/roles/{id}",
    tag = "roles",
    summary = "Change a role",
    params(
        ("org" = Uuid, Path, description = "The organization's id."),
        ("id" = Uuid, Path, description = "The role's id."),
    ),
    request_body = PatchRoleBody,
    security(("bearer" = []), ("x_api_key" = []), ("session" = [])),
    responses((status = 200, description = "The role as it is now.", body = RoleOut), WriteRefusals)
)]
pub async fn patch_role(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    Path((org, id)): Path<(String, String)>,
    Body(body): Body<PatchRoleBody>,
) -> AppResult<axum::Json<RoleOut>> {
    let id = held(&state, &org, Held::Role, &id).await?;
    let role = state
        .services
        .update_role(&actor, id, body.name, body.description, body.permissions)
        .await?;
    Ok(axum::Json(role.into()))
}

/// Deletes a custom role no one holds. **Permissions**: `roles:delete`, and every
/// permission it grants.
#[utoipa::path(
    delete,
    path = "/api/v1/orgs/{org}/roles/{id}",
    tag = "roles",
    summary = "Delete a role",
    params(
        ("org" = Uuid, Path, description = "The organization's id."),
        ("id" = Uuid, Path, description = "The role's id."),
    ),
    security(("bearer" = []), ("x_api_key" = []), ("session" = [])),
    responses((status = 204, description = "Deleted."), WriteRefusals)
)]
pub async fn delete_role(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    Path((org, id)): Path<(String, String)>,
) -> AppResult<StatusCode> {
    let id = held(&state, &org, Held::Role, &id).await?;
    state.services.delete_role(&actor, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `{org}` and `{id}` parsed, and the item in that organization (else not found).
pub(super) async fn held(state: &AppState, org: &str, kind: Held, id: &str) -> AppResult<Uuid> {
    let org = parse_id("org", org)?;
    let id = parse_id("id", id)?;
    state.services.require_held_in(org, kind, id).await?;
    Ok(id)
}

//! REST management of service accounts and personal access tokens (SPEC §4.4): the same
//! domain calls as GraphQL. A service account of another organization than `{org}` is
//! not found; a PAT is always the caller's own.

use axum::{
    extract::State,
    http::StatusCode,
    response::{IntoResponse, Response},
};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::{
    Body, Path, Query,
    keys::{KeyOut, KeyStatus, KeyWithSecret, RevokeBody, key_status},
    openapi::{self, Refusals, WriteRefusals},
    orgs::{RoleRef, held},
    page::{PageQuery, page_of},
};
use crate::{
    auth::Authenticated,
    domain::{
        Services,
        credentials::{CredentialView, NewPat},
        ids::parse_id,
        orgs::Held,
        service_accounts::{NewServiceAccountKey, ServiceAccountView},
    },
    error::AppResult,
    state::AppState,
};

/// A service account with its keys.
#[derive(Debug, Serialize, ToSchema)]
pub struct ServiceAccountOut {
    pub id: Uuid,
    pub organization_id: Uuid,
    pub name: String,
    pub description: String,
    /// What its keys may do at most.
    pub role: RoleRef,
    /// A disabled account's keys do not verify.
    pub disabled: bool,
    pub created_at: DateTime<Utc>,
    pub keys: Vec<KeyOut>,
}

impl ServiceAccountOut {
    fn of(v: ServiceAccountView, services: &Services) -> AppResult<Self> {
        Ok(Self {
            id: v.account.id,
            organization_id: v.account.organization_id,
            name: v.account.name,
            description: v.account.description,
            role: RoleRef::from(&v.role),
            disabled: v.account.disabled_at.is_some(),
            created_at: v.account.created_at,
            keys: v
                .keys
                .into_iter()
                .map(|k| KeyOut::of(k, services))
                .collect::<AppResult<_>>()?,
        })
    }
}

/// A page of service accounts.
#[derive(Debug, Serialize, ToSchema)]
pub struct ServiceAccountPage {
    pub items: Vec<ServiceAccountOut>,
    pub next_cursor: Option<String>,
}

/// `POST …/service-accounts`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateServiceAccountBody {
    /// 1–100 characters, no hidden or text-direction characters.
    #[schema(min_length = 1, max_length = 100)]
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    /// Bounds what its keys may do; within what you hold.
    pub role_id: Uuid,
}

/// `POST …/service-accounts/{id}/keys`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateServiceAccountKeyBody {
    /// 1–100 characters, no hidden or text-direction characters.
    #[schema(min_length = 1, max_length = 100)]
    pub name: String,
    #[serde(default)]
    pub project_id: Option<Uuid>,
    #[serde(default)]
    pub expires_at: Option<DateTime<Utc>>,
    /// `resource:level`, within the account's role; none: all of the role's.
    #[serde(default)]
    #[schema(value_type = Option<Vec<openapi::Permission>>)]
    pub scopes: Option<Vec<String>>,
    #[serde(default)]
    #[schema(minimum = 1, maximum = 1_000_000)]
    pub rate_limit_per_minute: Option<i32>,
}

/// A personal access token (never its secret).
#[derive(Debug, Serialize, ToSchema)]
pub struct PatOut {
    pub id: Uuid,
    pub name: String,
    pub prefix: String,
    pub last4: String,
    /// `resource:level`; `null`: all of your permissions in each organization.
    pub scopes: Option<Vec<String>>,
    pub status: KeyStatus,
    pub expires_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub request_count: i64,
    pub revoked_at: Option<DateTime<Utc>>,
}

impl PatOut {
    fn of(v: CredentialView, now: DateTime<Utc>) -> Self {
        Self {
            status: key_status(&v.model, now),
            scopes: v
                .scopes
                .map(|s| s.iter().map(ToString::to_string).collect()),
            id: v.model.id,
            name: v.model.name,
            prefix: v.model.display_prefix,
            last4: v.model.last4,
            expires_at: v.model.expires_at,
            created_at: v.model.created_at,
            last_used_at: v.model.last_used_at,
            request_count: v.model.request_count,
            revoked_at: v.model.revoked_at,
        }
    }
}

/// A page of your PATs.
#[derive(Debug, Serialize, ToSchema)]
pub struct PatPage {
    pub items: Vec<PatOut>,
    pub next_cursor: Option<String>,
}

/// `POST /api/v1/pats`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreatePatBody {
    /// 1–100 characters, no hidden or text-direction characters.
    #[schema(min_length = 1, max_length = 100)]
    pub name: String,
    #[serde(default)]
    pub expires_at: Option<DateTime<Utc>>,
    /// `resource:level`; none: all of your permissions, as they are at each use.
    #[serde(default)]
    #[schema(value_type = Option<Vec<openapi::Permission>>)]
    pub scopes: Option<Vec<String>>,
}

/// A PAT just made, with its secret: the only time it is shown.
#[derive(Debug, Serialize, ToSchema)]
pub struct PatWithSecret {
    pub pat: PatOut,
    pub secret: String,
}

/// An organization's service accounts. **Permissions**: `service_accounts:read`.
#[utoipa::path(
    get,
    path = "/api/v1/orgs/{org}/service-accounts",
    tag = "service accounts",
    summary = "List service accounts",
    params(("org" = Uuid, Path, description = "The organization's id."), PageQuery),
    security(("bearer" = []), ("x_api_key" = []), ("session" = [])),
    responses((status = 200, description = "A page of service accounts.", body = ServiceAccountPage), Refusals)
)]
pub async fn list_service_accounts(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    Path(org): Path<String>,
    Query(page): Query<PageQuery>,
) -> AppResult<axum::Json<ServiceAccountPage>> {
    let org = parse_id("org", &org)?;
    let (limit, cursor) = page.read()?;
    let page = state
        .services
        .service_accounts(&actor, org, limit, cursor)
        .await?;
    let (items, next_cursor) = page_of(
        page,
        |a| a.account.id,
        |a| ServiceAccountOut::of(a, &state.services),
    )?;
    Ok(axum::Json(ServiceAccountPage { items, next_cursor }))
}

/// Creates a service account with a role. **Permissions**: `service_accounts:write`, and
/// every permission the role grants (the owner role only from an owner).
#[utoipa::path(
    post,
    path = "/api/v1/orgs/{org}/service-accounts",
    tag = "service accounts",
    summary = "Create a service account",
    params(("org" = Uuid, Path, description = "The organization's id.")),
    request_body = CreateServiceAccountBody,
    security(("bearer" = []), ("x_api_key" = []), ("session" = [])),
    responses((status = 201, description = "Created.", body = ServiceAccountOut), WriteRefusals)
)]
pub async fn create_service_account(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    Path(org): Path<String>,
    Body(body): Body<CreateServiceAccountBody>,
) -> AppResult<Response> {
    let org = parse_id("org", &org)?;
    let account = state
        .services
        .create_service_account(&actor, org, &body.name, body.description, body.role_id)
        .await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(ServiceAccountOut::of(account, &state.services)?),
    )
        .into_response())
}

/// Creates a key for a service account, bounded by its role; the secret is in this
/// answer, once. **Permissions**: `service_accounts:write`, and every permission of the
/// account's role.
#[utoipa::path(
    post,
    path = "/api/v1/orgs/{org}/service-accounts/{id}/keys",
    tag = "service accounts",
    summary = "Create a service account key",
    params(
        ("org" = Uuid, Path, description = "The organization's id."),
        ("id" = Uuid, Path, description = "The service account's id."),
    ),
    request_body = CreateServiceAccountKeyBody,
    security(("bearer" = []), ("x_api_key" = []), ("session" = [])),
    responses((status = 201, description = "Created.", body = KeyWithSecret), WriteRefusals)
)]
pub async fn create_service_account_key(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    Path((org, id)): Path<(String, String)>,
    Body(body): Body<CreateServiceAccountKeyBody>,
) -> AppResult<Response> {
    let id = held(&state, &org, Held::ServiceAccount, &id).await?;
    let created = state
        .services
        .create_service_account_key(
            &actor,
            NewServiceAccountKey {
                service_account_id: id,
                project_id: body.project_id,
                name: body.name,
                expires_at: body.expires_at,
                scopes: body.scopes,
                rate_limit_per_minute: body.rate_limit_per_minute,
            },
        )
        .await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(KeyWithSecret {
            secret: created.secret.expose_secret().to_owned(),
            key: KeyOut::of(created.credential, &state.services)?,
        }),
    )
        .into_response())
}

/// Disables a service account and with it all its keys. **Permissions**:
/// `service_accounts:write`.
#[utoipa::path(
    post,
    path = "/api/v1/orgs/{org}/service-accounts/{id}/disable",
    tag = "service accounts",
    summary = "Disable a service account",
    params(
        ("org" = Uuid, Path, description = "The organization's id."),
        ("id" = Uuid, Path, description = "The service account's id."),
    ),
    security(("bearer" = []), ("x_api_key" = []), ("session" = [])),
    responses((status = 200, description = "The account, disabled.", body = ServiceAccountOut), WriteRefusals)
)]
pub async fn disable_service_account(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    Path((org, id)): Path<(String, String)>,
) -> AppResult<axum::Json<ServiceAccountOut>> {
    set_disabled(state, actor, org, id, true).await
}

/// Enables a service account again. **Permissions**: `service_accounts:write`, and every
/// permission of its role.
#[utoipa::path(
    post,
    path = "/api/v1/orgs/{org}/service-accounts/{id}/enable",
    tag = "service accounts",
    summary = "Enable a service account",
    params(
        ("org" = Uuid, Path, description = "The organization's id."),
        ("id" = Uuid, Path, description = "The service account's id."),
    ),
    security(("bearer" = []), ("x_api_key" = []), ("session" = [])),
    responses((status = 200, description = "The account, enabled.", body = ServiceAccountOut), WriteRefusals)
)]
pub async fn enable_service_account(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    Path((org, id)): Path<(String, String)>,
) -> AppResult<axum::Json<ServiceAccountOut>> {
    set_disabled(state, actor, org, id, false).await
}

async fn set_disabled(
    state: AppState,
    actor: crate::domain::Actor,
    org: String,
    id: String,
    disabled: bool,
) -> AppResult<axum::Json<ServiceAccountOut>> {
    let id = held(&state, &org, Held::ServiceAccount, &id).await?;
    let account = state
        .services
        .set_service_account_disabled(&actor, id, disabled)
        .await?;
    Ok(axum::Json(ServiceAccountOut::of(account, &state.services)?))
}

/// Your personal access tokens, newest first. **Permissions**: `pats:read` over your own
/// things.
#[utoipa::path(
    get,
    path = "/api/v1/pats",
    tag = "personal access tokens",
    summary = "List your PATs",
    params(PageQuery),
    security(("bearer" = []), ("session" = [])),
    responses((status = 200, description = "A page of your PATs.", body = PatPage), Refusals)
)]
pub async fn list_pats(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    Query(page): Query<PageQuery>,
) -> AppResult<axum::Json<PatPage>> {
    let (limit, cursor) = page.read()?;
    let now = state.services.clock.now();
    let page = state
        .services
        .personal_access_tokens(&actor, limit, cursor)
        .await?;
    let (items, next_cursor) = page_of(page, |p| p.model.id, |p| Ok(PatOut::of(p, now)))?;
    Ok(axum::Json(PatPage { items, next_cursor }))
}

/// Creates a personal access token; the secret is in this answer, once.
/// **Permissions**: `pats:write` over your own things; scopes within what you hold.
#[utoipa::path(
    post,
    path = "/api/v1/pats",
    tag = "personal access tokens",
    summary = "Create a PAT",
    request_body = CreatePatBody,
    security(("bearer" = []), ("session" = [])),
    responses((status = 201, description = "Created.", body = PatWithSecret), WriteRefusals)
)]
pub async fn create_pat(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    Body(body): Body<CreatePatBody>,
) -> AppResult<Response> {
    let created = state
        .services
        .create_personal_access_token(
            &actor,
            NewPat {
                name: body.name,
                expires_at: body.expires_at,
                scopes: body.scopes,
            },
        )
        .await?;
    let now = state.services.clock.now();
    Ok((
        StatusCode::CREATED,
        axum::Json(PatWithSecret {
            secret: created.secret.expose_secret().to_owned(),
            pat: PatOut::of(created.credential, now),
        }),
    )
        .into_response())
}

/// Revokes one of your personal access tokens, at once. **Permissions**: `pats:delete`
/// over your own things.
#[utoipa::path(
    post,
    path = "/api/v1/pats/{id}/revoke",
    tag = "personal access tokens",
    summary = "Revoke a PAT",
    params(("id" = Uuid, Path, description = "The PAT's id.")),
    request_body = RevokeBody,
    security(("bearer" = []), ("session" = [])),
    responses((status = 200, description = "The PAT, revoked.", body = PatOut), WriteRefusals)
)]
pub async fn revoke_pat(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    Path(id): Path<String>,
    Body(body): Body<RevokeBody>,
) -> AppResult<axum::Json<PatOut>> {
    let id = parse_id("id", &id)?;
    let pat = state
        .services
        .revoke_personal_access_token(&actor, id, body.reason)
        .await?;
    Ok(axum::Json(PatOut::of(pat, state.services.clock.now())))
}

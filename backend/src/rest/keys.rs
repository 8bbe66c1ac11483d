//! REST management of API keys (SPEC §4.4): a thin door onto the same
//! domain calls as GraphQL, JSON in and out (snake_case), cursor pages
//! `{"items": [...], "next_cursor": ...}`, problem+json errors. `{org}` is the
//! organization's id; a key or identity of another organization is not found.

use axum::{
    extract::State,
    http::StatusCode,
    response::{IntoResponse, Response},
};
use chrono::{DateTime, Utc};
use entity::identity;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;
use uuid::Uuid;

use super::controls::{
    CreditsBody, CreditsOpBody, CreditsOut, LimitBody, limits, limits_out, meta_value, present,
};
use super::{
    Body, Path, Query, openapi,
    page::{PageQuery, page_of},
};
use crate::{
    auth::Authenticated,
    domain::{
        Services,
        controls::{self},
        credentials::{
            self, CredentialView, Environment, KeyControlsInput, KeyFilter, KeyUpdate, NewApiKey,
        },
        ids::parse_id,
    },
    error::{AppError, AppResult},
    state::AppState,
};

/// `POST /api/v1/orgs/{org}/api-keys`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateKeyBody {
    /// 1–100 characters, no hidden or text-direction characters.
    #[schema(min_length = 1, max_length = 100)]
    pub name: String,
    #[serde(default)]
    pub project_id: Option<Uuid>,
    #[serde(default)]
    pub expires_at: Option<DateTime<Utc>>,
    /// `resource:level`; none: all of your permissions, as they are at each use.
    #[serde(default)]
    #[schema(value_type = Option<Vec<openapi::Permission>>)]
    pub scopes: Option<Vec<String>>,
    /// `live` (default) or `test`.
    #[serde(default)]
    pub environment: Option<EnvironmentBody>,
    #[serde(default)]
    #[schema(minimum = 1, maximum = 1_000_000)]
    pub rate_limit_per_minute: Option<i32>,
    /// The product's own data: a JSON object (at most 4 KB, 4 levels deep).
    #[serde(default)]
    pub meta: Option<Map<String, Value>>,
    #[serde(default)]
    pub credits: Option<CreditsBody>,
    #[serde(default)]
    #[schema(max_items = 20)]
    pub ratelimits: Option<Vec<LimitBody>>,
    /// The product's id of the key's customer: the key joins that identity.
    #[serde(default)]
    pub external_id: Option<String>,
}

/// Live or test traffic.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum EnvironmentBody {
    Live,
    Test,
}

impl From<Environment> for EnvironmentBody {
    fn from(e: Environment) -> Self {
        match e {
            Environment::Live => Self::Live,
            Environment::Test => Self::Test,
        }
    }
}

/// Where a credential stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum KeyStatus {
    Active,
    Disabled,
    Expired,
    Revoked,
    /// Replaced by a rotation, still accepted until `rotation_ends_at`.
    Rotating,
}

/// `PATCH /api/v1/orgs/{org}/api-keys/{id}`: each member given is changed; `null`
/// removes (no expiry, all of the owner's permissions, no metadata, unlimited credits,
/// the organization's default limit, no identity).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatchKeyBody {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<DateTime<Utc>>, nullable)]
    pub expires_at: Option<Option<DateTime<Utc>>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<Vec<openapi::Permission>>, nullable)]
    pub scopes: Option<Option<Vec<String>>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<Map<String, Value>>, nullable)]
    pub meta: Option<Option<Map<String, Value>>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<CreditsBody>, nullable)]
    pub credits: Option<Option<CreditsBody>>,
    /// All of the key's own named limits.
    #[serde(default)]
    #[schema(max_items = 20)]
    pub ratelimits: Option<Vec<LimitBody>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<i32>, nullable, minimum = 1, maximum = 1_000_000)]
    pub rate_limit_per_minute: Option<Option<i32>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, nullable)]
    pub external_id: Option<Option<String>>,
    #[serde(default)]
    pub enabled: Option<bool>,
}

/// `POST …/revoke`.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RevokeBody {
    /// Why, for the audit log.
    #[serde(default)]
    pub reason: Option<String>,
}

/// `POST …/rotate`.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RotateBody {
    /// How long the old secret keeps working: 0 (default) to 86400.
    #[serde(default)]
    #[schema(minimum = 0, maximum = 86400)]
    pub grace_period_seconds: Option<i64>,
}

/// An identity as a key shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct KeyIdentityOut {
    pub id: Uuid,
    pub external_id: String,
    pub meta: Option<Value>,
}

fn key_identity(i: &identity::Model) -> AppResult<KeyIdentityOut> {
    Ok(KeyIdentityOut {
        id: i.id,
        external_id: i.external_id.clone(),
        meta: controls::stored_meta(i.meta.as_deref())?,
    })
}

/// An API key (never its secret).
#[derive(Debug, Serialize, ToSchema)]
pub struct KeyOut {
    pub id: Uuid,
    pub organization_id: Option<Uuid>,
    pub project_id: Option<Uuid>,
    pub name: String,
    /// The displayable start of the token.
    pub prefix: String,
    pub last4: String,
    /// Live or test traffic; none for a service-account key.
    pub environment: Option<EnvironmentBody>,
    /// `resource:level`; `null`: all of its owner's permissions.
    pub scopes: Option<Vec<String>>,
    pub status: KeyStatus,
    pub expires_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub created_by: Option<Uuid>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub request_count: i64,
    pub rate_limit_per_minute: Option<i32>,
    pub meta: Option<Value>,
    /// Its own credits; `null`: unlimited (or its identity's).
    pub credits: Option<CreditsOut>,
    /// Its own named limits.
    pub ratelimits: Vec<LimitBody>,
    pub identity: Option<KeyIdentityOut>,
    /// The key it replaced in a rotation.
    pub rotated_from_id: Option<Uuid>,
    /// The key it replaced in a rotation, named.
    pub replaces: Option<KeyLinkOut>,
    /// The key that replaced it in a rotation.
    pub replaced_by: Option<KeyLinkOut>,
    /// For the old key of a rotation: when it stops working.
    pub rotation_ends_at: Option<DateTime<Utc>>,
    /// When a secret scanner reported it found in public.
    pub leaked_at: Option<DateTime<Utc>>,
}

/// The other key of a rotation.
#[derive(Debug, Serialize, ToSchema)]
pub struct KeyLinkOut {
    pub id: Uuid,
    pub name: String,
    pub prefix: String,
}

impl From<&entity::credential::Model> for KeyLinkOut {
    fn from(m: &entity::credential::Model) -> Self {
        Self {
            id: m.id,
            name: m.name.clone(),
            prefix: m.display_prefix.clone(),
        }
    }
}

impl KeyOut {
    pub(super) fn of(v: CredentialView, services: &Services) -> AppResult<Self> {
        let status = key_status(&v.model, services.clock.now());
        let expires_at = credentials::effective_expiry(&v.model);
        let m = v.model;
        Ok(Self {
            id: m.id,
            organization_id: m.organization_id,
            project_id: m.project_id,
            name: m.name,
            prefix: m.display_prefix,
            last4: m.last4,
            environment: m.environment.map(EnvironmentBody::from),
            scopes: v
                .scopes
                .map(|s| s.iter().map(ToString::to_string).collect()),
            status,
            expires_at,
            created_at: m.created_at,
            updated_at: m.updated_at,
            created_by: m.created_by,
            last_used_at: m.last_used_at,
            request_count: m.request_count,
            rate_limit_per_minute: m.rate_limit_per_minute,
            meta: v.controls.meta,
            credits: v
                .controls
                .credits
                .as_ref()
                .map(|p| CreditsOut::of(p, services))
                .transpose()?,
            ratelimits: limits_out(&v.controls.limits),
            identity: v.controls.identity.as_ref().map(key_identity).transpose()?,
            rotated_from_id: m.rotated_from_id,
            replaces: v.rotation.replaces.as_ref().map(KeyLinkOut::from),
            replaced_by: v.rotation.replaced_by.as_ref().map(KeyLinkOut::from),
            rotation_ends_at: m.grace_expires_at,
            leaked_at: m.leaked_at,
        })
    }
}

/// Where a stored credential stands at `now`.
pub(super) fn key_status(model: &entity::credential::Model, now: DateTime<Utc>) -> KeyStatus {
    match credentials::status_at(model, now) {
        credentials::Status::Active => KeyStatus::Active,
        credentials::Status::Disabled => KeyStatus::Disabled,
        credentials::Status::Expired => KeyStatus::Expired,
        credentials::Status::Revoked => KeyStatus::Revoked,
        credentials::Status::Rotating => KeyStatus::Rotating,
    }
}

/// A key just made or rotated, with its secret: the only time it is shown.
#[derive(Debug, Serialize, ToSchema)]
pub struct KeyWithSecret {
    pub key: KeyOut,
    pub secret: String,
}

/// A page of keys.
#[derive(Debug, Serialize, ToSchema)]
pub struct KeyPage {
    pub items: Vec<KeyOut>,
    /// Where the next page starts; `null` on the last.
    pub next_cursor: Option<String>,
}

/// `{org}` parsed, and the key `id` in it (another organization's is not found).
async fn key_in(
    state: &AppState,
    actor: &crate::domain::Actor,
    org: &str,
    id: &str,
) -> AppResult<(Uuid, Uuid)> {
    let org = parse_id("org", org)?;
    let id = parse_id("id", id)?;
    let key = state.services.api_key(actor, id).await?;
    if key.model.organization_id != Some(org) {
        return Err(AppError::NotFound("api key"));
    }
    Ok((org, id))
}

/// Creates an API key. **Permissions**: `api_keys:write`.
#[utoipa::path(
    post,
    path = "/api/v1/orgs/{org}/api-keys",
    tag = "api keys",
    summary = "Create an API key",
    description = "The secret is in this answer, once. Needs `api_keys:write`; scopes within \
        what you hold.",
    params(("org" = Uuid, Path, description = "The organization's id.")),
    request_body = CreateKeyBody,
    security(("bearer" = []), ("x_api_key" = []), ("session" = [])),
    responses(
        (status = 201, description = "Created.", body = KeyWithSecret),
        (status = 400, response = openapi::InvalidInput),
        (status = 401, response = openapi::Unauthenticated),
        (status = 403, response = openapi::Forbidden),
        (status = 404, response = openapi::NotFound),
        (status = 409, response = openapi::Conflict),
        (status = 413, response = openapi::TooLarge),
        (status = 429, response = openapi::RateLimited),
    )
)]
pub async fn create_key(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    Path(org): Path<String>,
    Body(body): Body<CreateKeyBody>,
) -> AppResult<Response> {
    let organization_id = parse_id("org", &org)?;
    let new = NewApiKey {
        organization_id,
        project_id: body.project_id,
        name: body.name,
        expires_at: body.expires_at,
        scopes: body.scopes,
        environment: match body.environment {
            Some(EnvironmentBody::Test) => Environment::Test,
            _ => Environment::Live,
        },
        rate_limit_per_minute: body.rate_limit_per_minute,
        controls: KeyControlsInput {
            meta: body.meta.map(meta_value),
            credits: body.credits.map(CreditsBody::into_domain),
            ratelimits: limits(body.ratelimits),
            external_id: body.external_id,
        },
    };
    let created = state.services.create_api_key(&actor, new).await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(KeyWithSecret {
            secret: created.secret.expose_secret().to_owned(),
            key: KeyOut::of(created.credential, &state.services)?,
        }),
    )
        .into_response())
}

/// Lists an organization's API keys. **Permissions**: `api_keys:read`.
#[utoipa::path(
    get,
    path = "/api/v1/orgs/{org}/api-keys",
    tag = "api keys",
    summary = "List API keys",
    description = "Newest first, a page at a time. Needs `api_keys:read`.",
    params(("org" = Uuid, Path, description = "The organization's id."), PageQuery),
    security(("bearer" = []), ("x_api_key" = []), ("session" = [])),
    responses(
        (status = 200, description = "A page of keys.", body = KeyPage),
        (status = 400, response = openapi::InvalidInput),
        (status = 401, response = openapi::Unauthenticated),
        (status = 403, response = openapi::Forbidden),
        (status = 404, response = openapi::NotFound),
        (status = 429, response = openapi::RateLimited),
    )
)]
pub async fn list_keys(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    Path(org): Path<String>,
    Query(page): Query<PageQuery>,
) -> AppResult<axum::Json<KeyPage>> {
    let org = parse_id("org", &org)?;
    let (limit, cursor) = page.read()?;
    let page = state
        .services
        .api_keys(
            &actor,
            org,
            KeyFilter::default(),
            limit,
            cursor.map(|c| c.to_string()).as_deref(),
        )
        .await?;
    let (items, next_cursor) = page_of(
        page,
        |k| k.view.model.id,
        |k| KeyOut::of(k.view, &state.services),
    )?;
    Ok(axum::Json(KeyPage { items, next_cursor }))
}

/// One API key. **Permissions**: `api_keys:read`.
#[utoipa::path(
    get,
    path = "/api/v1/orgs/{org}/api-keys/{id}",
    tag = "api keys",
    summary = "Get an API key",
    params(
        ("org" = Uuid, Path, description = "The organization's id."),
        ("id" = Uuid, Path, description = "The key's id."),
    ),
    security(("bearer" = []), ("x_api_key" = []), ("session" = [])),
    responses(
        (status = 200, description = "The key.", body = KeyOut),
        (status = 400, response = openapi::InvalidInput),
        (status = 401, response = openapi::Unauthenticated),
        (status = 403, response = openapi::Forbidden),
        (status = 404, response = openapi::NotFound),
        (status = 429, response = openapi::RateLimited),
    )
)]
pub async fn get_key(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    Path((org, id)): Path<(String, String)>,
) -> AppResult<axum::Json<KeyOut>> {
    let (_, id) = key_in(&state, &actor, &org, &id).await?;
    let key = state.services.api_key(&actor, id).await?;
    Ok(axum::Json(KeyOut::of(key, &state.services)?))
}

/// Edits an API key. **Permissions**: `api_keys:write`.
#[utoipa::path(
    patch,
    path = "/api/v1/orgs/{org}/api-keys/{id}",
    tag = "api keys",
    summary = "Edit an API key",
    description = "Each member given is changed, audited before and after, and in force \
        before this answers. Needs `api_keys:write`; widening its scopes or enabling it, \
        everything the key may then do.",
    params(
        ("org" = Uuid, Path, description = "The organization's id."),
        ("id" = Uuid, Path, description = "The key's id."),
    ),
    request_body = PatchKeyBody,
    security(("bearer" = []), ("x_api_key" = []), ("session" = [])),
    responses(
        (status = 200, description = "The key as it is now.", body = KeyOut),
        (status = 400, response = openapi::InvalidInput),
        (status = 401, response = openapi::Unauthenticated),
        (status = 403, response = openapi::Forbidden),
        (status = 404, response = openapi::NotFound),
        (status = 409, response = openapi::Conflict),
        (status = 413, response = openapi::TooLarge),
        (status = 429, response = openapi::RateLimited),
    )
)]
pub async fn patch_key(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    Path((org, id)): Path<(String, String)>,
    Body(body): Body<PatchKeyBody>,
) -> AppResult<axum::Json<KeyOut>> {
    let (_, id) = key_in(&state, &actor, &org, &id).await?;
    let update = KeyUpdate {
        name: body.name,
        expires_at: body.expires_at,
        scopes: body.scopes,
        meta: body.meta.map(|m| m.map(meta_value)),
        credits: body.credits.map(|c| c.map(CreditsBody::into_domain)),
        ratelimits: body.ratelimits.map(|l| limits(Some(l))),
        rate_limit_per_minute: body.rate_limit_per_minute,
        external_id: body.external_id,
        enabled: body.enabled,
    };
    let key = state.services.update_api_key(&actor, id, update).await?;
    Ok(axum::Json(KeyOut::of(key, &state.services)?))
}

/// Changes a key's own credits. **Permissions**: `api_keys:write`.
#[utoipa::path(
    post,
    path = "/api/v1/orgs/{org}/api-keys/{id}/credits",
    tag = "api keys",
    summary = "Set, add to or take from a key's credits",
    params(
        ("org" = Uuid, Path, description = "The organization's id."),
        ("id" = Uuid, Path, description = "The key's id."),
    ),
    request_body = CreditsOpBody,
    security(("bearer" = []), ("x_api_key" = []), ("session" = [])),
    responses(
        (status = 200, description = "The credits as they are now.", body = CreditsOut),
        (status = 400, response = openapi::InvalidInput),
        (status = 401, response = openapi::Unauthenticated),
        (status = 403, response = openapi::Forbidden),
        (status = 404, response = openapi::NotFound),
        (status = 409, response = openapi::Conflict),
        (status = 413, response = openapi::TooLarge),
        (status = 429, response = openapi::RateLimited),
    )
)]
pub async fn key_credits(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    Path((org, id)): Path<(String, String)>,
    Body(body): Body<CreditsOpBody>,
) -> AppResult<axum::Json<CreditsOut>> {
    let (_, id) = key_in(&state, &actor, &org, &id).await?;
    let pool = state
        .services
        .change_api_key_credits(&actor, id, body.op.into(), body.value)
        .await?;
    Ok(axum::Json(CreditsOut::of(&pool, &state.services)?))
}

/// Revokes a key. **Permissions**: `api_keys:delete`.
#[utoipa::path(
    post,
    path = "/api/v1/orgs/{org}/api-keys/{id}/revoke",
    tag = "api keys",
    summary = "Revoke an API key",
    description = "Irreversible, in force before this answers. Needs `api_keys:delete`.",
    params(
        ("org" = Uuid, Path, description = "The organization's id."),
        ("id" = Uuid, Path, description = "The key's id."),
    ),
    request_body = RevokeBody,
    security(("bearer" = []), ("x_api_key" = []), ("session" = [])),
    responses(
        (status = 200, description = "The key, revoked.", body = KeyOut),
        (status = 400, response = openapi::InvalidInput),
        (status = 401, response = openapi::Unauthenticated),
        (status = 403, response = openapi::Forbidden),
        (status = 404, response = openapi::NotFound),
        (status = 409, response = openapi::Conflict),
        (status = 413, response = openapi::TooLarge),
        (status = 429, response = openapi::RateLimited),
    )
)]
pub async fn revoke_key(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    Path((org, id)): Path<(String, String)>,
    Body(body): Body<RevokeBody>,
) -> AppResult<axum::Json<KeyOut>> {
    let (_, id) = key_in(&state, &actor, &org, &id).await?;
    let key = state
        .services
        .revoke_api_key(&actor, id, body.reason)
        .await?;
    Ok(axum::Json(KeyOut::of(key, &state.services)?))
}

/// Rotates a key. **Permissions**: `api_keys:write`, and everything the key may do.
#[utoipa::path(
    post,
    path = "/api/v1/orgs/{org}/api-keys/{id}/rotate",
    tag = "api keys",
    summary = "Rotate an API key",
    description = "A new secret with the same settings, in this answer once; the old one \
        works for the grace period. Needs `api_keys:write` and everything the key may do \
        (another user's key: `api_keys:admin`).",
    params(
        ("org" = Uuid, Path, description = "The organization's id."),
        ("id" = Uuid, Path, description = "The key's id."),
    ),
    request_body = RotateBody,
    security(("bearer" = []), ("x_api_key" = []), ("session" = [])),
    responses(
        (status = 200, description = "The new key and its secret.", body = KeyWithSecret),
        (status = 400, response = openapi::InvalidInput),
        (status = 401, response = openapi::Unauthenticated),
        (status = 403, response = openapi::Forbidden),
        (status = 404, response = openapi::NotFound),
        (status = 409, response = openapi::Conflict),
        (status = 413, response = openapi::TooLarge),
        (status = 429, response = openapi::RateLimited),
    )
)]
pub async fn rotate_key(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    Path((org, id)): Path<(String, String)>,
    Body(body): Body<RotateBody>,
) -> AppResult<axum::Json<KeyWithSecret>> {
    let (_, id) = key_in(&state, &actor, &org, &id).await?;
    let grace = body.grace_period_seconds.unwrap_or(0);
    if !(0..=86_400).contains(&grace) {
        return Err(AppError::invalid(
            "grace_period_seconds",
            "must be between 0 and 86400",
        ));
    }
    let rotated = state
        .services
        .rotate_api_key(&actor, id, chrono::TimeDelta::seconds(grace))
        .await?;
    Ok(axum::Json(KeyWithSecret {
        secret: rotated.secret.expose_secret().to_owned(),
        key: KeyOut::of(rotated.credential, &state.services)?,
    }))
}

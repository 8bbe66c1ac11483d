//! REST management of identities (SPEC §3.5, §4.4): the end users a product's keys
//! belong to, with credits and limits shared by their keys. `{org}` is the
//! organization's id; an identity of another organization is not found.

use axum::{
    extract::State,
    http::StatusCode,
    response::{IntoResponse, Response},
};
use chrono::{DateTime, Utc};
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
        identities::{IdentityUpdate, IdentityView, NewIdentity},
        ids::parse_id,
    },
    error::{AppError, AppResult},
    state::AppState,
};

/// An identity with its credits and limits.
#[derive(Debug, Serialize, ToSchema)]
pub struct IdentityOut {
    pub id: Uuid,
    pub organization_id: Uuid,
    pub external_id: String,
    pub meta: Option<Value>,
    pub credits: Option<CreditsOut>,
    pub ratelimits: Vec<LimitBody>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl IdentityOut {
    fn of(v: IdentityView, services: &Services) -> AppResult<Self> {
        Ok(Self {
            id: v.identity.id,
            organization_id: v.identity.organization_id,
            meta: controls::stored_meta(v.identity.meta.as_deref())?,
            external_id: v.identity.external_id,
            credits: v
                .credits
                .as_ref()
                .map(|p| CreditsOut::of(p, services))
                .transpose()?,
            ratelimits: limits_out(&v.limits),
            created_at: v.identity.created_at,
            updated_at: v.identity.updated_at,
        })
    }
}

/// A page of identities.
#[derive(Debug, Serialize, ToSchema)]
pub struct IdentityPage {
    pub items: Vec<IdentityOut>,
    pub next_cursor: Option<String>,
}

/// `{org}` parsed, and the identity `id` in it.
async fn identity_in(
    state: &AppState,
    actor: &crate::domain::Actor,
    org: &str,
    id: &str,
) -> AppResult<(Uuid, Uuid)> {
    let org = parse_id("org", org)?;
    let id = parse_id("id", id)?;
    let found = state.services.identity(actor, id).await?;
    if found.identity.organization_id != org {
        return Err(AppError::NotFound("identity"));
    }
    Ok((org, id))
}

/// `POST /api/v1/orgs/{org}/identities`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateIdentityBody {
    /// The product's id for its customer, unique in the organization.
    pub external_id: String,
    #[serde(default)]
    pub meta: Option<Map<String, Value>>,
    #[serde(default)]
    pub credits: Option<CreditsBody>,
    #[serde(default)]
    #[schema(max_items = 20)]
    pub ratelimits: Option<Vec<LimitBody>>,
}

/// `PATCH /api/v1/orgs/{org}/identities/{id}`.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatchIdentityBody {
    #[serde(default)]
    pub external_id: Option<String>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<Map<String, Value>>, nullable)]
    pub meta: Option<Option<Map<String, Value>>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<CreditsBody>, nullable)]
    pub credits: Option<Option<CreditsBody>>,
    /// All of its named limits.
    #[serde(default)]
    #[schema(max_items = 20)]
    pub ratelimits: Option<Vec<LimitBody>>,
}

/// Creates an identity. **Permissions**: `api_keys:write`.
#[utoipa::path(
    post,
    path = "/api/v1/orgs/{org}/identities",
    tag = "identities",
    summary = "Create an identity",
    description = "One of the product's customers, by its own id: its metadata, credits and \
        limits are shared by all its keys. Needs `api_keys:write`.",
    params(("org" = Uuid, Path, description = "The organization's id.")),
    request_body = CreateIdentityBody,
    security(("bearer" = []), ("x_api_key" = []), ("session" = [])),
    responses(
        (status = 201, description = "Created.", body = IdentityOut),
        (status = 400, response = openapi::InvalidInput),
        (status = 401, response = openapi::Unauthenticated),
        (status = 403, response = openapi::Forbidden),
        (status = 404, response = openapi::NotFound),
        (status = 409, response = openapi::Conflict),
        (status = 413, response = openapi::TooLarge),
        (status = 429, response = openapi::RateLimited),
    )
)]
pub async fn create_identity(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    Path(org): Path<String>,
    Body(body): Body<CreateIdentityBody>,
) -> AppResult<Response> {
    let new = NewIdentity {
        organization_id: parse_id("org", &org)?,
        external_id: body.external_id,
        meta: body.meta.map(meta_value),
        credits: body.credits.map(CreditsBody::into_domain),
        ratelimits: limits(body.ratelimits),
    };
    let made = state.services.create_identity(&actor, new).await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(IdentityOut::of(made, &state.services)?),
    )
        .into_response())
}

/// Lists an organization's identities. **Permissions**: `api_keys:read`.
#[utoipa::path(
    get,
    path = "/api/v1/orgs/{org}/identities",
    tag = "identities",
    summary = "List identities",
    params(("org" = Uuid, Path, description = "The organization's id."), PageQuery),
    security(("bearer" = []), ("x_api_key" = []), ("session" = [])),
    responses(
        (status = 200, description = "A page of identities.", body = IdentityPage),
        (status = 400, response = openapi::InvalidInput),
        (status = 401, response = openapi::Unauthenticated),
        (status = 403, response = openapi::Forbidden),
        (status = 404, response = openapi::NotFound),
        (status = 429, response = openapi::RateLimited),
    )
)]
pub async fn list_identities(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    Path(org): Path<String>,
    Query(page): Query<PageQuery>,
) -> AppResult<axum::Json<IdentityPage>> {
    let org = parse_id("org", &org)?;
    let (limit, cursor) = page.read()?;
    let page = state
        .services
        .identities(&actor, org, limit, cursor)
        .await?;
    let (items, next_cursor) = page_of(
        page,
        |i| i.identity.id,
        |i| IdentityOut::of(i, &state.services),
    )?;
    Ok(axum::Json(IdentityPage { items, next_cursor }))
}

/// One identity. **Permissions**: `api_keys:read`.
#[utoipa::path(
    get,
    path = "/api/v1/orgs/{org}/identities/{id}",
    tag = "identities",
    summary = "Get an identity",
    params(
        ("org" = Uuid, Path, description = "The organization's id."),
        ("id" = Uuid, Path, description = "The identity's id."),
    ),
    security(("bearer" = []), ("x_api_key" = []), ("session" = [])),
    responses(
        (status = 200, description = "The identity.", body = IdentityOut),
        (status = 400, response = openapi::InvalidInput),
        (status = 401, response = openapi::Unauthenticated),
        (status = 403, response = openapi::Forbidden),
        (status = 404, response = openapi::NotFound),
        (status = 429, response = openapi::RateLimited),
    )
)]
pub async fn get_identity(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    Path((org, id)): Path<(String, String)>,
) -> AppResult<axum::Json<IdentityOut>> {
    let (_, id) = identity_in(&state, &actor, &org, &id).await?;
    let found = state.services.identity(&actor, id).await?;
    Ok(axum::Json(IdentityOut::of(found, &state.services)?))
}

/// Edits an identity. **Permissions**: `api_keys:write`.
#[utoipa::path(
    patch,
    path = "/api/v1/orgs/{org}/identities/{id}",
    tag = "identities",
    summary = "Edit an identity",
    description = "Each member given is changed, audited before and after; its keys see \
        the change before this answers. Needs `api_keys:write`.",
    params(
        ("org" = Uuid, Path, description = "The organization's id."),
        ("id" = Uuid, Path, description = "The identity's id."),
    ),
    request_body = PatchIdentityBody,
    security(("bearer" = []), ("x_api_key" = []), ("session" = [])),
    responses(
        (status = 200, description = "The identity as it is now.", body = IdentityOut),
        (status = 400, response = openapi::InvalidInput),
        (status = 401, response = openapi::Unauthenticated),
        (status = 403, response = openapi::Forbidden),
        (status = 404, response = openapi::NotFound),
        (status = 409, response = openapi::Conflict),
        (status = 413, response = openapi::TooLarge),
        (status = 429, response = openapi::RateLimited),
    )
)]
pub async fn patch_identity(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    Path((org, id)): Path<(String, String)>,
    Body(body): Body<PatchIdentityBody>,
) -> AppResult<axum::Json<IdentityOut>> {
    let (_, id) = identity_in(&state, &actor, &org, &id).await?;
    let update = IdentityUpdate {
        external_id: body.external_id,
        meta: body.meta.map(|m| m.map(meta_value)),
        credits: body.credits.map(|c| c.map(CreditsBody::into_domain)),
        ratelimits: body.ratelimits.map(|l| limits(Some(l))),
    };
    let updated = state.services.update_identity(&actor, id, update).await?;
    Ok(axum::Json(IdentityOut::of(updated, &state.services)?))
}

/// Deletes an identity; its keys stay, without it. **Permissions**: `api_keys:write`.
#[utoipa::path(
    delete,
    path = "/api/v1/orgs/{org}/identities/{id}",
    tag = "identities",
    summary = "Delete an identity",
    description = "Its keys stay, without it; its credits and limits go. Needs `api_keys:write`.",
    params(
        ("org" = Uuid, Path, description = "The organization's id."),
        ("id" = Uuid, Path, description = "The identity's id."),
    ),
    security(("bearer" = []), ("x_api_key" = []), ("session" = [])),
    responses(
        (status = 204, description = "Deleted."),
        (status = 400, response = openapi::InvalidInput),
        (status = 401, response = openapi::Unauthenticated),
        (status = 403, response = openapi::Forbidden),
        (status = 404, response = openapi::NotFound),
        (status = 429, response = openapi::RateLimited),
    )
)]
pub async fn delete_identity(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    Path((org, id)): Path<(String, String)>,
) -> AppResult<StatusCode> {
    let (_, id) = identity_in(&state, &actor, &org, &id).await?;
    state.services.delete_identity(&actor, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Changes an identity's credits. **Permissions**: `api_keys:write`.
#[utoipa::path(
    post,
    path = "/api/v1/orgs/{org}/identities/{id}/credits",
    tag = "identities",
    summary = "Set, add to or take from an identity's credits",
    params(
        ("org" = Uuid, Path, description = "The organization's id."),
        ("id" = Uuid, Path, description = "The identity's id."),
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
pub async fn identity_credits(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    Path((org, id)): Path<(String, String)>,
    Body(body): Body<CreditsOpBody>,
) -> AppResult<axum::Json<CreditsOut>> {
    let (_, id) = identity_in(&state, &actor, &org, &id).await?;
    let pool = state
        .services
        .change_identity_credits(&actor, id, body.op.into(), body.value)
        .await?;
    Ok(axum::Json(CreditsOut::of(&pool, &state.services)?))
}

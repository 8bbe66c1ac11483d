//! REST management of webhooks (SPEC §16, §4.4): an organization's endpoints, their
//! delivery log, and sending a delivery again. `{org}` is the organization's id; an
//! endpoint or delivery of another organization is not found.

use axum::{
    extract::State,
    http::StatusCode,
    response::{IntoResponse, Response},
};
use chrono::{DateTime, Utc};
use entity::{webhook_attempt, webhook_delivery};
use keyward_proto::webhooks::EventType;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::{
    Body, Path, Query, openapi,
    page::{PageQuery, page_of},
};
use crate::{
    auth::Authenticated,
    domain::{
        Actor,
        ids::parse_id,
        webhooks::{EndpointView, NewEndpoint, message_header},
    },
    error::{AppError, AppResult},
    state::AppState,
};

/// An event an endpoint may ask for.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
pub enum WebhookEventName {
    #[serde(rename = "api_key.created")]
    ApiKeyCreated,
    #[serde(rename = "api_key.revoked")]
    ApiKeyRevoked,
    #[serde(rename = "api_key.rotated")]
    ApiKeyRotated,
    #[serde(rename = "api_key.expiring")]
    ApiKeyExpiring,
    #[serde(rename = "api_key.leaked")]
    ApiKeyLeaked,
    #[serde(rename = "credits.exhausted")]
    CreditsExhausted,
    #[serde(rename = "member.added")]
    MemberAdded,
    #[serde(rename = "member.removed")]
    MemberRemoved,
}

impl From<EventType> for WebhookEventName {
    fn from(e: EventType) -> Self {
        match e {
            EventType::ApiKeyCreated => Self::ApiKeyCreated,
            EventType::ApiKeyRevoked => Self::ApiKeyRevoked,
            EventType::ApiKeyRotated => Self::ApiKeyRotated,
            EventType::ApiKeyExpiring => Self::ApiKeyExpiring,
            EventType::ApiKeyLeaked => Self::ApiKeyLeaked,
            EventType::CreditsExhausted => Self::CreditsExhausted,
            EventType::MemberAdded => Self::MemberAdded,
            EventType::MemberRemoved => Self::MemberRemoved,
        }
    }
}

/// A webhook endpoint (never its secret).
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookEndpointOut {
    pub id: Uuid,
    pub organization_id: Uuid,
    pub url: String,
    pub description: Option<String>,
    pub events: Vec<WebhookEventName>,
    pub enabled: bool,
    pub created_at: DateTime<Utc>,
}

impl From<EndpointView> for WebhookEndpointOut {
    fn from(v: EndpointView) -> Self {
        Self {
            id: v.endpoint.id,
            organization_id: v.endpoint.organization_id,
            url: v.endpoint.url,
            description: v.endpoint.description,
            events: v.events.into_iter().map(Into::into).collect(),
            enabled: v.endpoint.enabled,
            created_at: v.endpoint.created_at,
        }
    }
}

/// A new endpoint and its signing secret, shown this once.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedWebhookEndpoint {
    pub endpoint: WebhookEndpointOut,
    /// `whsec_…`: verify each request's `webhook-signature` with it (Standard Webhooks).
    pub secret: String,
}

/// An organization's endpoints.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookEndpointList {
    pub items: Vec<WebhookEndpointOut>,
}

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatusOut {
    Pending,
    Delivered,
    Failed,
}

impl From<webhook_delivery::Status> for DeliveryStatusOut {
    fn from(s: webhook_delivery::Status) -> Self {
        match s {
            webhook_delivery::Status::Pending => Self::Pending,
            webhook_delivery::Status::Delivered => Self::Delivered,
            webhook_delivery::Status::Failed => Self::Failed,
        }
    }
}

/// One message owed to one endpoint.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookDeliveryOut {
    pub id: Uuid,
    pub endpoint_id: Uuid,
    /// The `webhook-id` it is sent with, the same on every attempt.
    pub message_id: String,
    pub event_type: String,
    pub status: DeliveryStatusOut,
    pub attempts: i32,
    /// When it is sent next, while pending.
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub last_attempt_at: Option<DateTime<Utc>>,
    pub last_status: Option<i32>,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub delivered_at: Option<DateTime<Utc>>,
    /// The body sent: `{type, timestamp, data}`.
    pub payload: serde_json::Value,
}

impl WebhookDeliveryOut {
    fn of(d: webhook_delivery::Model) -> AppResult<Self> {
        let payload = serde_json::from_str(&d.payload)
            .map_err(|e| crate::domain::access::corrupt("webhook payload", e))?;
        Ok(Self {
            id: d.id,
            endpoint_id: d.endpoint_id,
            message_id: message_header(d.message_id),
            event_type: d.event_type,
            status: d.status.into(),
            attempts: d.attempts,
            next_attempt_at: (d.status == webhook_delivery::Status::Pending)
                .then_some(d.next_attempt_at),
            last_attempt_at: d.last_attempt_at,
            last_status: d.last_status,
            last_error: d.last_error,
            created_at: d.created_at,
            delivered_at: d.delivered_at,
            payload,
        })
    }
}

/// A page of deliveries.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookDeliveryPage {
    pub items: Vec<WebhookDeliveryOut>,
    pub next_cursor: Option<String>,
}

/// One attempt at a delivery.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookAttemptOut {
    pub attempted_at: DateTime<Utc>,
    /// The HTTP status answered, if one came.
    pub status: Option<i32>,
    pub error: Option<String>,
    pub duration_ms: i64,
}

impl From<webhook_attempt::Model> for WebhookAttemptOut {
    fn from(a: webhook_attempt::Model) -> Self {
        Self {
            attempted_at: a.attempted_at,
            status: a.status,
            error: a.error,
            duration_ms: a.duration_ms,
        }
    }
}

/// A delivery with every attempt at it.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookDeliveryDetail {
    pub delivery: WebhookDeliveryOut,
    pub attempts: Vec<WebhookAttemptOut>,
}

/// `POST /api/v1/orgs/{org}/webhook-endpoints`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateWebhookEndpointBody {
    /// Where to post: `http` or `https`, on a public address.
    #[schema(max_length = 2048)]
    pub url: String,
    /// The event types to send, by name (`api_key.created`, …).
    #[schema(min_items = 1, max_items = 8)]
    pub events: Vec<String>,
    #[serde(default)]
    #[schema(max_length = 200)]
    pub description: Option<String>,
}

/// `{org}` and the endpoint `id` in it, read as `actor` may.
async fn endpoint_in(
    state: &AppState,
    actor: &Actor,
    org: &str,
    id: &str,
) -> AppResult<EndpointView> {
    let org = parse_id("org", org)?;
    let id = parse_id("id", id)?;
    let found = state.services.webhook_endpoint(actor, id).await?;
    if found.endpoint.organization_id != org {
        return Err(AppError::NotFound("webhook endpoint"));
    }
    Ok(found)
}

/// Registers an endpoint. **Permissions**: `settings:write`.
#[utoipa::path(
    post,
    path = "/api/v1/orgs/{org}/webhook-endpoints",
    tag = "webhooks",
    summary = "Register a webhook endpoint",
    description = "Events are posted to it signed per Standard Webhooks with the secret in \
        the answer, shown this once. Loopback, private and link-local addresses are refused \
        unless the operator allows them. Needs `settings:write`.",
    params(("org" = Uuid, Path, description = "The organization's id.")),
    request_body = CreateWebhookEndpointBody,
    security(("bearer" = []), ("x_api_key" = []), ("session" = [])),
    responses(
        (status = 201, description = "Registered.", body = CreatedWebhookEndpoint),
        (status = 400, response = openapi::InvalidInput),
        (status = 401, response = openapi::Unauthenticated),
        (status = 403, response = openapi::Forbidden),
        (status = 404, response = openapi::NotFound),
        (status = 409, response = openapi::Conflict),
        (status = 413, response = openapi::TooLarge),
        (status = 429, response = openapi::RateLimited),
    )
)]
pub async fn create_webhook_endpoint(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    Path(org): Path<String>,
    Body(body): Body<CreateWebhookEndpointBody>,
) -> AppResult<Response> {
    let new = NewEndpoint {
        organization_id: parse_id("org", &org)?,
        url: body.url,
        events: body.events,
        description: body.description,
    };
    let (endpoint, secret) = state.services.create_webhook_endpoint(&actor, new).await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(CreatedWebhookEndpoint {
            endpoint: endpoint.into(),
            secret,
        }),
    )
        .into_response())
}

/// Lists an organization's endpoints. **Permissions**: `settings:read`.
#[utoipa::path(
    get,
    path = "/api/v1/orgs/{org}/webhook-endpoints",
    tag = "webhooks",
    summary = "List webhook endpoints",
    params(("org" = Uuid, Path, description = "The organization's id.")),
    security(("bearer" = []), ("x_api_key" = []), ("session" = [])),
    responses(
        (status = 200, description = "Every endpoint (at most 20).", body = WebhookEndpointList),
        (status = 400, response = openapi::InvalidInput),
        (status = 401, response = openapi::Unauthenticated),
        (status = 403, response = openapi::Forbidden),
        (status = 404, response = openapi::NotFound),
        (status = 429, response = openapi::RateLimited),
    )
)]
pub async fn list_webhook_endpoints(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    Path(org): Path<String>,
) -> AppResult<axum::Json<WebhookEndpointList>> {
    let org = parse_id("org", &org)?;
    let items = state
        .services
        .webhook_endpoints(&actor, org)
        .await?
        .into_iter()
        .map(Into::into)
        .collect();
    Ok(axum::Json(WebhookEndpointList { items }))
}

/// One endpoint. **Permissions**: `settings:read`.
#[utoipa::path(
    get,
    path = "/api/v1/orgs/{org}/webhook-endpoints/{id}",
    tag = "webhooks",
    summary = "Get a webhook endpoint",
    params(
        ("org" = Uuid, Path, description = "The organization's id."),
        ("id" = Uuid, Path, description = "The endpoint's id."),
    ),
    security(("bearer" = []), ("x_api_key" = []), ("session" = [])),
    responses(
        (status = 200, description = "The endpoint.", body = WebhookEndpointOut),
        (status = 400, response = openapi::InvalidInput),
        (status = 401, response = openapi::Unauthenticated),
        (status = 403, response = openapi::Forbidden),
        (status = 404, response = openapi::NotFound),
        (status = 429, response = openapi::RateLimited),
    )
)]
pub async fn get_webhook_endpoint(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    Path((org, id)): Path<(String, String)>,
) -> AppResult<axum::Json<WebhookEndpointOut>> {
    Ok(axum::Json(
        endpoint_in(&state, &actor, &org, &id).await?.into(),
    ))
}

/// Deletes an endpoint with its delivery log. **Permissions**: `settings:write`.
#[utoipa::path(
    delete,
    path = "/api/v1/orgs/{org}/webhook-endpoints/{id}",
    tag = "webhooks",
    summary = "Delete a webhook endpoint",
    description = "Nothing more is sent to it; its delivery log goes with it. Needs \
        `settings:write`.",
    params(
        ("org" = Uuid, Path, description = "The organization's id."),
        ("id" = Uuid, Path, description = "The endpoint's id."),
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
pub async fn delete_webhook_endpoint(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    Path((org, id)): Path<(String, String)>,
) -> AppResult<StatusCode> {
    let (org, id) = (parse_id("org", &org)?, parse_id("id", &id)?);
    state
        .services
        .delete_webhook_endpoint(&actor, Some(org), id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// An endpoint's deliveries, newest first. **Permissions**: `settings:read`.
#[utoipa::path(
    get,
    path = "/api/v1/orgs/{org}/webhook-endpoints/{id}/deliveries",
    tag = "webhooks",
    summary = "List an endpoint's deliveries",
    params(
        ("org" = Uuid, Path, description = "The organization's id."),
        ("id" = Uuid, Path, description = "The endpoint's id."),
        PageQuery,
    ),
    security(("bearer" = []), ("x_api_key" = []), ("session" = [])),
    responses(
        (status = 200, description = "A page of deliveries.", body = WebhookDeliveryPage),
        (status = 400, response = openapi::InvalidInput),
        (status = 401, response = openapi::Unauthenticated),
        (status = 403, response = openapi::Forbidden),
        (status = 404, response = openapi::NotFound),
        (status = 429, response = openapi::RateLimited),
    )
)]
pub async fn list_webhook_deliveries(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    Path((org, id)): Path<(String, String)>,
    Query(page): Query<PageQuery>,
) -> AppResult<axum::Json<WebhookDeliveryPage>> {
    let found = endpoint_in(&state, &actor, &org, &id).await?;
    let (limit, cursor) = page.read()?;
    let page = state
        .services
        .webhook_deliveries(&actor, found.endpoint.id, limit, cursor)
        .await?;
    let (items, next_cursor) = page_of(page, |d| d.id, WebhookDeliveryOut::of)?;
    Ok(axum::Json(WebhookDeliveryPage { items, next_cursor }))
}

/// `{org}` and the delivery `id` in it, read as `actor` may.
async fn delivery_in(
    state: &AppState,
    actor: &Actor,
    org: &str,
    id: &str,
) -> AppResult<(webhook_delivery::Model, Vec<webhook_attempt::Model>)> {
    let org = parse_id("org", org)?;
    let id = parse_id("id", id)?;
    let found = state.services.webhook_delivery(actor, id).await?;
    if found.0.organization_id != org {
        return Err(AppError::NotFound("webhook delivery"));
    }
    Ok(found)
}

/// One delivery with its attempts. **Permissions**: `settings:read`.
#[utoipa::path(
    get,
    path = "/api/v1/orgs/{org}/webhook-deliveries/{id}",
    tag = "webhooks",
    summary = "Get a delivery and its attempts",
    params(
        ("org" = Uuid, Path, description = "The organization's id."),
        ("id" = Uuid, Path, description = "The delivery's id."),
    ),
    security(("bearer" = []), ("x_api_key" = []), ("session" = [])),
    responses(
        (status = 200, description = "The delivery and every attempt, oldest first.", body = WebhookDeliveryDetail),
        (status = 400, response = openapi::InvalidInput),
        (status = 401, response = openapi::Unauthenticated),
        (status = 403, response = openapi::Forbidden),
        (status = 404, response = openapi::NotFound),
        (status = 429, response = openapi::RateLimited),
    )
)]
pub async fn get_webhook_delivery(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    Path((org, id)): Path<(String, String)>,
) -> AppResult<axum::Json<WebhookDeliveryDetail>> {
    let (delivery, attempts) = delivery_in(&state, &actor, &org, &id).await?;
    Ok(axum::Json(WebhookDeliveryDetail {
        delivery: WebhookDeliveryOut::of(delivery)?,
        attempts: attempts.into_iter().map(Into::into).collect(),
    }))
}

/// Sends a delivery again now. **Permissions**: `settings:write`.
#[utoipa::path(
    post,
    path = "/api/v1/orgs/{org}/webhook-deliveries/{id}/retry",
    tag = "webhooks",
    summary = "Send a delivery again",
    description = "Sent again at once, with the same `webhook-id`, whatever came of it \
        before. Needs `settings:write`.",
    params(
        ("org" = Uuid, Path, description = "The organization's id."),
        ("id" = Uuid, Path, description = "The delivery's id."),
    ),
    security(("bearer" = []), ("x_api_key" = []), ("session" = [])),
    responses(
        (status = 200, description = "The delivery, pending again.", body = WebhookDeliveryOut),
        (status = 400, response = openapi::InvalidInput),
        (status = 401, response = openapi::Unauthenticated),
        (status = 403, response = openapi::Forbidden),
        (status = 404, response = openapi::NotFound),
        (status = 429, response = openapi::RateLimited),
    )
)]
pub async fn retry_webhook_delivery(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    Path((org, id)): Path<(String, String)>,
) -> AppResult<axum::Json<WebhookDeliveryOut>> {
    let (delivery, _) = delivery_in(&state, &actor, &org, &id).await?;
    let retried = state
        .services
        .retry_webhook_delivery(&actor, delivery.id)
        .await?;
    Ok(axum::Json(WebhookDeliveryOut::of(retried)?))
}

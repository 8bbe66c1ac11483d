//! `GET /api/v1/organizations/{org}/audit-events/export`: an organization's whole audit log
//! as JSON Lines, oldest first, each line with its hash and its predecessor's, streamed
//! in batches, ending with the chain head signed by the server's audit key.
//! `GET /api/v1/audit-events/export`: the instance chain, for instance admins. Check
//! either with `keyward-server audit-verify FILE`.

use axum::{
    body::Body,
    extract::State,
    http::header,
    response::{IntoResponse, Response},
};

use super::{Path, openapi};
use crate::{app::AppState, auth::Authenticated, domain::ids::parse_id, error::AppError};

/// Streams the export. **Permissions**: `audit_log:read`.
#[utoipa::path(
    get,
    path = "/api/v1/organizations/{org}/audit-events/export",
    tag = "audit",
    summary = "Export an organization's audit log",
    description = "The whole log as JSON Lines, oldest first, each line with its hash and its \
        predecessor's, ending with the chain head signed by the server's audit key. Check it \
        with `keyward-server audit-verify FILE`. Needs `audit_log:read`.",
    params(("org" = String, Path, description = "The organization's id.")),
    security(("bearer" = []), ("x_api_key" = []), ("session" = [])),
    responses(
        (status = 200, description = "The export.", content_type = "application/x-ndjson", body = String),
        (status = 400, response = openapi::InvalidInput),
        (status = 401, response = openapi::Unauthenticated),
        (status = 403, response = openapi::Forbidden),
        (status = 404, response = openapi::NotFound),
        (status = 429, response = openapi::RateLimited),
    )
)]
pub async fn export(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    Path(org): Path<String>,
) -> Result<Response, AppError> {
    let org = parse_id("organization id", &org)?;
    let lines = state.services.audit_export(&actor, Some(org)).await?;
    Ok((
        [
            (header::CONTENT_TYPE, "application/x-ndjson".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"audit-{org}.jsonl\""),
            ),
        ],
        Body::from_stream(lines),
    )
        .into_response())
}

/// Streams the instance chain's export. **Permissions**: instance admin.
#[utoipa::path(
    get,
    path = "/api/v1/audit-events/export",
    tag = "audit",
    summary = "Export the instance audit log",
    description = "Events outside any organization (personal access tokens, device approvals, \
        instance administration), exported like an organization's. Instance admins only.",
    security(("bearer" = []), ("x_api_key" = []), ("session" = [])),
    responses(
        (status = 200, description = "The export.", content_type = "application/x-ndjson", body = String),
        (status = 401, response = openapi::Unauthenticated),
        (status = 403, response = openapi::Forbidden),
        (status = 429, response = openapi::RateLimited),
    )
)]
pub async fn export_instance(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
) -> Result<Response, AppError> {
    let lines = state.services.audit_export(&actor, None).await?;
    Ok((
        [
            (header::CONTENT_TYPE, "application/x-ndjson"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"audit-instance.jsonl\"",
            ),
        ],
        Body::from_stream(lines),
    )
        .into_response())
}

//! `GET /api/v1/organizations/{org}/audit-events/export`: an organization's whole audit log
//! as JSON Lines, oldest first, each line with its hash and its predecessor's, streamed
//! in batches, ending with the chain head signed by the server's audit key.
//! `GET /api/v1/audit-events/export`: the instance chain, for instance admins. Check
//! either with `keyward-server audit-verify FILE`.
//! `GET /api/v1/orgs/{org}/verifications/export`: the verification log as JSON Lines.

use axum::{
    body::Body,
    extract::State,
    http::header,
    response::{IntoResponse, Response},
};

use super::{Path, Query, openapi};
use crate::{auth::Authenticated, domain::ids::parse_id, error::AppError, state::AppState};

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

/// The period of a verification-log export.
#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct PeriodQuery {
    /// From (RFC 3339); default and earliest: as far back as the log is kept.
    pub since: Option<chrono::DateTime<chrono::Utc>>,
    /// Until (RFC 3339); default and latest: now.
    pub until: Option<chrono::DateTime<chrono::Utc>>,
}

/// Streams the verification log. **Permissions**: `usage:read` and `api_keys:read`.
#[utoipa::path(
    get,
    path = "/api/v1/orgs/{org}/verifications/export",
    tag = "audit",
    summary = "Export an organization's verification log",
    description = "Which key was verified, when, with what outcome, from which address and \
        with which tags, oldest first, one JSON object per line: `at`, `key_id`, `key_name`, \
        `key` (its displayable start and last four), `outcome`, `ip`, `tags`. The log keeps \
        `KEYWARD_VERIFICATION_LOG_DAYS` days (at most 10 entries per key, outcome and minute, \
        200 per organization and minute). Needs `usage:read` and `api_keys:read`.",
    params(("org" = Uuid, Path, description = "The organization's id."), PeriodQuery),
    security(("bearer" = []), ("x_api_key" = []), ("session" = [])),
    responses(
        (status = 200, description = "The export.", content_type = "application/x-ndjson", body = String,
            headers(("x-keyward-since" = String, description = "The start of the period exported."),
                    ("x-keyward-until" = String, description = "The end of the period exported."))),
        openapi::Refusals,
    )
)]
pub async fn verifications_export(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    Path(org): Path<String>,
    Query(period): Query<PeriodQuery>,
) -> Result<Response, AppError> {
    let org = parse_id("org", &org)?;
    let (period, lines) = state
        .services
        .verification_export(&actor, org, period.since, period.until)
        .await?;
    Ok((
        [
            (header::CONTENT_TYPE, "application/x-ndjson".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"verifications-{org}.jsonl\""),
            ),
            (
                header::HeaderName::from_static("x-keyward-since"),
                period.since.to_rfc3339(),
            ),
            (
                header::HeaderName::from_static("x-keyward-until"),
                period.until.to_rfc3339(),
            ),
        ],
        Body::from_stream(lines),
    )
        .into_response())
}

//! `GET /api/v1/organizations/{id}/audit-events/export`: an organization's whole audit log
//! as JSON Lines, oldest first, each line with its hash and its predecessor's, streamed
//! in batches, ending with the chain head signed by the server's audit key.
//! `GET /api/v1/audit-events/export`: the instance chain, for instance admins. Check
//! either with `keyward-server audit-verify FILE`.

use axum::{
    body::Body,
    extract::{Path, State},
    http::header,
    response::{IntoResponse, Response},
};

use crate::{app::AppState, auth::Authenticated, domain::ids::parse_id, error::AppError};

/// Streams the export. **Permissions**: `audit_log:read`.
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

//! `GET /api/v1/organizations/{id}/audit-events/export`: an organization's whole audit log
//! as JSON Lines, oldest first, each line with its hash and its predecessor's, streamed
//! in batches. Check it with `keyward-server audit-verify FILE`.

use axum::{
    body::Body,
    extract::{Path, State},
    http::header,
    response::{IntoResponse, Response},
};
use futures::stream;

use crate::{
    app::AppState,
    auth::Authenticated,
    domain::{
        access,
        audit::{ExportedEvent, export_batch},
        ids::parse_id,
        permissions::{Level, Perm},
    },
    error::AppError,
};

const BATCH: u64 = 500;

/// Streams the export. **Permissions**: `audit_log:read`.
pub async fn export(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    Path(org): Path<String>,
) -> Result<Response, AppError> {
    let org = parse_id("organization id", &org)?;
    access::require(
        &state.services.db,
        &actor.principal,
        org,
        Perm::new("audit_log", Level::Read),
    )
    .await?;
    let db = state.services.db.clone();
    let lines = stream::try_unfold(Some(0i64), move |after| {
        let db = db.clone();
        async move {
            let Some(after) = after else {
                return Ok::<_, std::io::Error>(None);
            };
            let batch = export_batch(&db, org, after, BATCH)
                .await
                .map_err(|e| std::io::Error::other(e.to_string()))?;
            if batch.is_empty() {
                return Ok(None);
            }
            let next = (batch.len() as u64 == BATCH).then(|| batch.last().map_or(after, |e| e.seq));
            let mut chunk = String::new();
            for event in batch {
                chunk.push_str(
                    &serde_json::to_string(&ExportedEvent::from(event)).unwrap_or_default(),
                );
                chunk.push('\n');
            }
            Ok(Some((chunk, next)))
        }
    });
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

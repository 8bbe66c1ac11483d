//! `GET /api/v1/keys/events`: the key event stream (SPEC §16), server-sent events that
//! tell a product's SDK which keys to drop from its local cache.

use std::{convert::Infallible, time::Duration};

use axum::{
    extract::State,
    http::HeaderMap,
    response::sse::{Event, KeepAlive, Sse},
};
use futures::{Stream, stream};
use serde::Deserialize;
use serde_json::json;
use utoipa::IntoParams;

use super::{Query, openapi};
use crate::{
    auth::{Authenticated, presented_credential},
    domain::{
        Services,
        ids::parse_id,
        key_events::{KeyEventCursor, KeyEventView, StreamPermit},
        principal::RequestMeta,
    },
    error::{AppError, AuthFailure},
    state::AppState,
};

/// How often a quiet stream reads anyway, in case a wake was lost.
const QUIET_READ: Duration = Duration::from_secs(30);
/// How often it reads while its node cannot hear the other nodes.
const DEAF_READ: Duration = Duration::from_secs(1);
/// How often a quiet stream sends a comment, so proxies keep it open.
const HEARTBEAT: Duration = Duration::from_secs(15);
/// The longest `Last-Event-ID` read.
const MAX_EVENT_ID_LEN: usize = 20;

/// `?organization_id=`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct StreamQuery {
    /// The organization to follow: the key's own when left out; a personal access token
    /// must name one.
    pub organization_id: Option<String>,
}

/// Follows an organization's key events. **Permissions**: `api_keys:read`.
#[utoipa::path(
    get,
    path = "/api/v1/keys/events",
    tag = "keys",
    summary = "Follow key events",
    description = "Server-sent events, one per change of a key of the organization: \
        `key.revoked`, `key.disabled` and `key.updated` name the key (`key_id`): drop it from \
        any cache; `keys.reset` asks to drop every cached answer (a role, membership or \
        suspension changed, or the stream could not resume where asked). Each event's `id` \
        resumes the stream after it when sent back as `Last-Event-ID`; without it the \
        stream starts with the next change. A comment every 15 seconds keeps it open. The \
        stream ends when its credential is revoked, disabled or expires, or loses \
        `api_keys:read`. For API keys, service-account keys and personal access tokens.",
    params(
        StreamQuery,
        ("Last-Event-ID" = Option<String>, Header, description = "The last event id received: resume after it."),
    ),
    security(("bearer" = []), ("x_api_key" = [])),
    responses(
        (status = 200, description = "The stream.", content_type = "text/event-stream", body = String),
        (status = 400, response = openapi::InvalidInput),
        (status = 401, response = openapi::Unauthenticated),
        (status = 403, response = openapi::Forbidden),
        (status = 404, response = openapi::NotFound),
        (status = 429, response = openapi::RateLimited),
    )
)]
pub async fn stream_events(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    headers: HeaderMap,
    Query(query): Query<StreamQuery>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, AppError> {
    let organization = query
        .organization_id
        .as_deref()
        .map(|id| parse_id("organization_id", id))
        .transpose()?;
    let last_event_id = last_event_id(&headers)?;
    let (cursor, reset, permit) = state
        .services
        .open_key_events(&actor, organization, last_event_id)
        .await?;
    // The stream checks its credential again before each read: it keeps the secret, not
    // the principal it had when it opened.
    let raw = presented_credential(&headers)?.ok_or(AuthFailure::Missing)?;
    let follower = Follower {
        wakes: state.services.key_event_wakes(),
        services: state.services.clone(),
        raw,
        meta: actor.meta.clone(),
        cursor,
        pending: reset.into_iter().collect(),
        ended: false,
        _permit: permit,
    };
    let events = stream::unfold(follower, |mut f| async move {
        f.next().await.map(|event| (Ok(event), f))
    });
    Ok(Sse::new(events).keep_alive(KeepAlive::new().interval(HEARTBEAT)))
}

/// `Last-Event-ID`, a decimal event id.
fn last_event_id(headers: &HeaderMap) -> Result<Option<i64>, AppError> {
    let Some(value) = headers.get("last-event-id") else {
        return Ok(None);
    };
    let invalid = || AppError::invalid("Last-Event-ID", "must be an event id from this stream");
    let text = value.to_str().map_err(|_| invalid())?.trim();
    if text.is_empty() {
        return Ok(None);
    }
    if text.len() > MAX_EVENT_ID_LEN || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid());
    }
    text.parse().map(Some).map_err(|_| invalid())
}

/// One open stream.
struct Follower {
    services: Services,
    wakes: tokio::sync::watch::Receiver<u64>,
    raw: String,
    meta: RequestMeta,
    cursor: KeyEventCursor,
    pending: std::collections::VecDeque<KeyEventView>,
    ended: bool,
    /// Counts the stream as open until it is dropped (the client went away).
    _permit: StreamPermit,
}

impl Follower {
    /// The next event to send; `None` ends the stream.
    async fn next(&mut self) -> Option<Event> {
        loop {
            if let Some(event) = self.pending.pop_front() {
                return Some(sse_event(&event));
            }
            if self.ended || self.services.key_events.is_closed() {
                return None;
            }

            // Wakes from now on are seen, so none falls between the read and the wait.
            self.wakes.borrow_and_update();
            match self
                .services
                .next_key_events(&self.raw, &self.meta, &mut self.cursor)
                .await
            {
                Ok(events) if events.is_empty() => {}
                Ok(events) => {
                    self.pending.extend(events);
                    continue;
                }
                Err(err) => {
                    // The credential may no longer follow (or the database is away): the
                    // stream ends, and the client resumes with a fresh check.
                    match &err {
                        AppError::Internal(cause) => {
                            tracing::warn!(error = %cause, "key event stream ended on an error");
                        }
                        _ => tracing::info!(error = %err, "key event stream ended"),
                    }
                    self.ended = true;
                    return Some(Event::default().event("stream.ended").data(
                        json!({ "code": err.code(), "message": err.to_string() }).to_string(),
                    ));
                }
            }
            // A node that cannot hear the others' changes (its listener is down) is not
            // woken by them: it reads every second until it hears again.
            let quiet = if self.services.hears_every_change() {
                QUIET_READ
            } else {
                DEAF_READ
            };
            tokio::select! {
                changed = self.wakes.changed() => if changed.is_err() { return None },
                () = tokio::time::sleep(quiet) => {}
            }
        }
    }
}

fn sse_event(e: &KeyEventView) -> Event {
    Event::default()
        .id(e.id.to_string())
        .event(e.kind.as_str())
        .data(
            json!({
                "id": e.id,
                "type": e.kind.as_str(),
                "key_id": e.key_id,
                "organization_id": e.organization_id,
                "occurred_at": e.occurred_at,
            })
            .to_string(),
        )
}

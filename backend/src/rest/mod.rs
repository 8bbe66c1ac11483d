//! The REST surface: verification (SPEC §4), health and readiness (SPEC §12).

pub mod accounts;
pub mod audit;
pub mod cli;
pub mod controls;
pub mod identities;
pub mod json;
pub mod key_events;
pub mod keys;
pub mod leaks;
pub mod openapi;
pub mod orgs;
pub mod page;
pub mod problem;
pub mod verify;
pub mod webhooks;

use axum::{
    Json,
    body::Bytes,
    extract::{
        FromRequest, FromRequestParts, Request, State,
        rejection::{PathRejection, QueryRejection},
    },
    http::StatusCode,
    response::IntoResponse,
};
use serde::de::DeserializeOwned;
use serde_json::json;

use crate::{error::AppError, state::AppState};

/// `GET /health`: the process is up.
#[utoipa::path(
    get,
    path = "/health",
    tag = "operation",
    responses((status = 200, description = "The process is up.", body = openapi::Health))
)]
pub async fn health() -> impl IntoResponse {
    Json(json!({ "status": "ok" }))
}

/// `GET /ready`: the database answers and every migration is applied.
#[utoipa::path(
    get,
    path = "/ready",
    tag = "operation",
    responses(
        (status = 200, description = "Ready to serve.", body = openapi::Readiness),
        (status = 503, description = "The database does not answer or a migration is missing.", body = openapi::Readiness),
    )
)]
pub async fn ready(State(state): State<AppState>) -> impl IntoResponse {
    let (db_ok, migrated) = state.services.readiness().await;
    let status = if db_ok && migrated {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        Json(json!({
            "status": if status == StatusCode::OK { "ready" } else { "not ready" },
            "database": db_ok,
            "migrations": migrated,
        })),
    )
}

/// Any unknown path.
pub async fn not_found() -> AppError {
    AppError::NotFound("route")
}

/// A query string, parsed like axum's `Query`; one that does not parse is answered as a
/// problem naming the query, like every other REST error.
#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(AppError))]
pub struct Query<T>(pub T);

impl From<QueryRejection> for AppError {
    fn from(rejection: QueryRejection) -> Self {
        AppError::invalid("query", rejection.body_text())
    }
}

/// A JSON body read as its OpenAPI schema says ([`json::from_slice`]); one that does
/// not parse, or is not sent as JSON, is answered as a problem naming the member.
pub struct Body<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Body<T> {
    type Rejection = AppError;

    async fn from_request(req: Request, state: &S) -> Result<Self, AppError> {
        if !json::is_json(req.headers()) {
            return Err(AppError::invalid(
                "body",
                "must be JSON, sent with `Content-Type: application/json`",
            ));
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            match rejection.status() {
                StatusCode::PAYLOAD_TOO_LARGE => AppError::PayloadTooLarge,
                _ => AppError::invalid("body", "could not be read"),
            }
        })?;
        json::from_slice(&bytes).map(Body)
    }
}

/// Path parameters, parsed like axum's `Path`; a path that does not parse (a segment that
/// is not UTF-8) is answered as a problem naming the path.
#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(AppError))]
pub struct Path<T>(pub T);

impl From<PathRejection> for AppError {
    fn from(rejection: PathRejection) -> Self {
        AppError::invalid("path", rejection.body_text())
    }
}

//! The REST surface: verification (SPEC §4), health and readiness (SPEC §12).

pub mod audit;
pub mod cli;
pub mod problem;
pub mod verify;

use axum::{Json, extract::State, http::StatusCode, response::IntoResponse};
use serde_json::json;

use crate::{app::AppState, error::AppError};

/// `GET /health`: the process is up.
pub async fn health() -> impl IntoResponse {
    Json(json!({ "status": "ok" }))
}

/// `GET /ready`: the database answers and every migration is applied.
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

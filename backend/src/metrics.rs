//! `GET /metrics` (SPEC §12) in the Prometheus text format, through the `metrics` facade
//! and its Prometheus exporter. Counters on the request path are plain increments; the
//! state of the verification cache, the database pool and the usage flush is read when
//! scraped.
//!
//! Served to loopback clients, or, when `KEYWARD_METRICS_TOKEN` is set, to any client
//! presenting it as a bearer token.

use std::sync::OnceLock;

use axum::{
    extract::State,
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use sha2::{Digest, Sha256};

use crate::{auth::ClientIp, error::AppError, state::AppState};

pub use crate::telemetry::*;

/// The process-wide recorder, installed on first use.
pub fn handle() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let buckets = [
            0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
            1.0, 2.5, 5.0,
        ];
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), &buckets)
            .and_then(|b| {
                b.set_buckets_for_metric(Matcher::Full(INVALIDATION_DELAY.into()), &buckets)
            })
            .map(PrometheusBuilder::build_recorder);
        match recorder {
            Ok(recorder) => {
                let handle = recorder.handle();
                // Another recorder installed first (an embedding program's) keeps
                // its place; this handle then renders only what was described here.
                let _ = metrics::set_global_recorder(recorder);
                handle
            }
            Err(e) => {
                tracing::error!(error = %e, "metrics recorder could not be built");
                PrometheusBuilder::new().build_recorder().handle()
            }
        }
    })
}

/// `GET /metrics`.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "operation",
    summary = "Prometheus metrics",
    description = "Served to loopback clients that are not relayed by a proxy, or to anyone \
        presenting `KEYWARD_METRICS_TOKEN` as a bearer token when it is set.",
    security((), ("metrics_token" = [])),
    responses(
        (status = 200, description = "Prometheus text exposition.", content_type = "text/plain; version=0.0.4; charset=utf-8", body = String),
        (status = 403, response = crate::rest::openapi::Forbidden),
    )
)]
pub async fn render(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
) -> Response {
    let config = &state.services.config;
    let allowed = match &config.metrics_token {
        Some(token) => headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            // Digests are compared, so the time taken says nothing about the token.
            .is_some_and(|given| Sha256::digest(given) == Sha256::digest(token.expose())),
        // Loopback, and not relayed: a reverse proxy on this host that is not listed in
        // KEYWARD_TRUSTED_PROXIES connects from loopback on the internet's behalf.
        None => {
            let relayed = ["x-forwarded-for", "forwarded", "x-real-ip"]
                .iter()
                .any(|h| headers.contains_key(*h));
            !relayed
                && ip
                    .and_then(|ip| ip.parse::<std::net::IpAddr>().ok())
                    .is_some_and(|ip| ip.to_canonical().is_loopback())
        }
    };
    if !allowed {
        return AppError::Forbidden(
            "metrics are served to loopback clients, or with KEYWARD_METRICS_TOKEN".into(),
        )
        .into_response();
    }
    state.services.record_state_metrics();
    (
        StatusCode::OK,
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        handle().render(),
    )
        .into_response()
}

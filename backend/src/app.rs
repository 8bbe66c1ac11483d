//! The router: every route and the request-context middleware around them. The state it
//! hands each handler is in `state`.

use std::{sync::Arc, time::Duration};

use axum::{
    Extension, Router,
    extract::{ConnectInfo, DefaultBodyLimit, Request, State},
    http::{HeaderValue, StatusCode, header},
    middleware::{self, Next},
    response::{IntoResponse, Response},
};
use tower_cookies::CookieManagerLayer;
use tower_http::timeout::TimeoutLayer;
use utoipa::OpenApi;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    domain::{RequestMeta, Services},
    error::AppError,
    graphql, rest, signin,
    state::{AppState, REQUEST_ID, acceptable_request_id, client_address, current_request_id},
};

/// Gives every request an id (kept from `X-Request-Id` when sane), records its client
/// address and user agent, and renders framework errors (413, 405) as problem+json.
async fn request_context(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    let request_id = request
        .headers()
        .get("x-request-id")
        .and_then(acceptable_request_id)
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let meta = RequestMeta {
        request_id: request_id.clone(),
        ip: client_address(
            request
                .extensions()
                .get::<ConnectInfo<std::net::SocketAddr>>()
                .map(|ConnectInfo(a)| a.ip()),
            request.headers(),
            &state.services.config.trusted_proxies,
        )
        .map(|ip| ip.to_string()),
        user_agent: request
            .headers()
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|ua| ua.chars().take(512).collect()),
    };
    request.extensions_mut().insert(meta);
    let id: Arc<str> = Arc::from(request_id.as_str());
    // The path only, token-shaped segments hidden: a query string may carry a one-time
    // sign-in token, and a token pasted into a path must not reach the log either.
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    // Routes, not paths: the label set stays small whatever clients ask for.
    let route = request
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |m| m.as_str().to_owned());
    let hsts = state.services.config.public_url.starts_with("https://");
    let started = std::time::Instant::now();
    REQUEST_ID
        .scope(id, async move {
            let mut response = next.run(request).await;
            let is_problem = response
                .headers()
                .get(header::CONTENT_TYPE)
                .is_some_and(|v| {
                    v.as_bytes().starts_with(b"application/problem+json")
                        || v.as_bytes().starts_with(b"application/json")
                });
            if !is_problem {
                response = match response.status() {
                    StatusCode::PAYLOAD_TOO_LARGE => AppError::PayloadTooLarge.into_response(),
                    StatusCode::REQUEST_TIMEOUT => AppError::Timeout.into_response(),
                    StatusCode::METHOD_NOT_ALLOWED => {
                        // A problem like any other, still naming the methods that are.
                        let allow = response.headers().get(header::ALLOW).cloned();
                        let mut problem = AppError::MethodNotAllowed.into_response();
                        if let Some(allow) = allow {
                            problem.headers_mut().insert(header::ALLOW, allow);
                        }
                        problem
                    }
                    _ => response,
                };
            }
            if let Ok(v) = HeaderValue::from_str(&current_request_id()) {
                response.headers_mut().insert("x-request-id", v);
            }
            harden(response.headers_mut(), hsts);
            // A fixed set: a client cannot mint new series with invented methods.
            use axum::http::Method;
            let method_label = match method {
                Method::GET
                | Method::HEAD
                | Method::POST
                | Method::PUT
                | Method::PATCH
                | Method::DELETE
                | Method::OPTIONS => method.as_str().to_owned(),
                _ => "OTHER".to_owned(),
            };
            metrics::counter!(
                crate::metrics::HTTP_REQUESTS,
                "route" => route.clone(),
                "method" => method_label.clone(),
                "status" => response.status().as_str().to_owned()
            )
            .increment(1);
            metrics::histogram!(
                crate::metrics::HTTP_DURATION,
                "route" => route,
                "method" => method_label
            )
            .record(started.elapsed().as_secs_f64());
            // Field values are evaluated only when the line is written: the redacting
            // scan costs nothing otherwise.
            tracing::debug!(
                request_id = %current_request_id(),
                %method,
                path = %loggable_path(&state.services, &path),
                status = response.status().as_u16(),
                micros = started.elapsed().as_micros() as u64,
                "request"
            );
            response
        })
        .await
}

/// The headers every response carries (SPEC §15): no content sniffing; nothing stored by
/// caches unless the response says otherwise (API answers may carry secrets; the
/// dashboard's files set their own); HSTS when the public URL is https.
fn harden(headers: &mut axum::http::HeaderMap, hsts: bool) {
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    if !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    if hsts {
        headers.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=63072000; includeSubDomains"),
        );
    }
}

/// The dashboard's Content-Security-Policy: its own files, its WebAssembly, and the
/// inline start-up scripts of `index.html` by hash; nothing from any other origin, no
/// framing.
pub fn dashboard_csp(index_html: &str) -> String {
    use base64::Engine;
    use sha2::Digest;
    let mut hashes = String::new();
    let mut rest = index_html;
    while let Some(start) = rest.find("<script") {
        let after = &rest[start..];
        let Some(tag_end) = after.find('>') else {
            break;
        };
        let body_and_rest = &after[tag_end + 1..];
        let Some(close) = body_and_rest.find("</script>") else {
            break;
        };
        let body = &body_and_rest[..close];
        if !after[..tag_end].contains("src=") && !body.trim().is_empty() {
            let digest = sha2::Sha256::digest(body.as_bytes());
            hashes.push_str(&format!(
                " 'sha256-{}'",
                base64::engine::general_purpose::STANDARD.encode(digest)
            ));
        }
        rest = &body_and_rest[close + "</script>".len()..];
    }
    format!(
        "default-src 'none'; script-src 'self' 'wasm-unsafe-eval'{hashes}; style-src 'self'; \
         img-src 'self' data:; font-src 'self'; connect-src 'self'; manifest-src 'self'; \
         base-uri 'none'; form-action 'self'; frame-ancestors 'none'; object-src 'none'"
    )
}

/// A request path as it may be logged: every run of token characters that looks like a
/// credential replaced by `[REDACTED]` (one in this server's token format, or any long
/// mix of letters and digits that is not an id or a file name), then cut to 256
/// characters. Runs are split at every character no token has (`/`, `=`, `;`, …), so a
/// token inside a segment (`key=kw_pat_…`) is found too.
fn loggable_path(services: &Services, path: &str) -> String {
    let token_char =
        |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '~' | '%');
    let file_name = |run: &str| {
        [
            ".js", ".wasm", ".css", ".br", ".gz", ".map", ".png", ".svg", ".ico", ".json", ".html",
        ]
        .iter()
        .any(|ext| run.ends_with(ext))
    };
    let secret_like = |run: &str| {
        run.len() >= 16
            && uuid::Uuid::try_parse(run).is_err()
            && !file_name(run)
            && (services.looks_like_own_token(run)
                || (run.len() >= 20
                    && run.bytes().any(|b| b.is_ascii_digit())
                    && run.bytes().any(|b| b.is_ascii_alphabetic())))
    };
    let mut logged = String::with_capacity(path.len().min(300));
    let mut rest = path;
    while !rest.is_empty() {
        let end = rest.find(|c: char| !token_char(c)).unwrap_or(rest.len());
        let (run, after) = rest.split_at(end);
        logged.push_str(if secret_like(run) { "[REDACTED]" } else { run });
        let mut chars = after.chars();
        if let Some(delimiter) = chars.next() {
            logged.push(delimiter);
        }
        rest = chars.as_str();
    }
    logged.chars().take(256).collect()
}

/// The built dashboard with single-page-app fallback: hashed assets are cached for a
/// year, `index.html` never; `.br` and `.gz` files beside an asset (written by
/// `scripts/prepare.sh`) are sent to browsers that accept them. Without a dashboard,
/// unknown paths answer 404.
fn dashboard(dir: Option<&std::path::Path>) -> axum::routing::MethodRouter {
    use tower_http::services::{ServeDir, ServeFile};
    match dir {
        Some(dir) => {
            let page = std::fs::read_to_string(dir.join("index.html")).unwrap_or_default();
            let csp = HeaderValue::from_str(&dashboard_csp(&page))
                .unwrap_or_else(|_| HeaderValue::from_static("default-src 'none'"));
            let index = ServeFile::new(dir.join("index.html"));
            let assets = ServeDir::new(dir)
                .precompressed_br()
                .precompressed_gzip()
                .fallback(index);
            axum::routing::get_service(assets).layer(middleware::map_response(
                move |response: Response| {
                    let csp = csp.clone();
                    async move { cache_headers(response, csp) }
                },
            ))
        }
        None => axum::routing::any(rest::not_found),
    }
}

fn cache_headers(mut response: Response, csp: HeaderValue) -> Response {
    let html = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"text/html"));
    // Only a file actually sent is kept for a year: a 304 (which names no type) must not
    // make a cached `index.html` immutable.
    let value = if html || !response.status().is_success() {
        "no-cache"
    } else {
        "public, max-age=31536000, immutable"
    };
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(value));
    if html {
        // No other site may frame the dashboard (its consent pages above all).
        headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
        headers.insert(header::CONTENT_SECURITY_POLICY, csp);
        headers.insert(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        );
    }
    response
}

/// The REST routes. Each is registered with `routes!`, which takes only a handler
/// carrying its `#[utoipa::path]` annotation: a REST route cannot be served undocumented.
fn rest_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(rest::openapi::ApiDoc::openapi())
        .routes(routes!(rest::health))
        .routes(routes!(rest::ready))
        .routes(routes!(crate::metrics::render))
        .routes(routes!(rest::openapi::document))
        .routes(routes!(rest::verify::verify_presented))
        .routes(routes!(rest::verify::verify_body))
        .routes(routes!(rest::verify::lookup))
        .routes(routes!(rest::key_events::stream_events))
        .routes(routes!(rest::leaks::secret_scanning))
        .routes(routes!(rest::keys::create_key, rest::keys::list_keys))
        .routes(routes!(rest::keys::get_key, rest::keys::patch_key))
        .routes(routes!(rest::keys::key_credits))
        .routes(routes!(rest::keys::revoke_key))
        .routes(routes!(rest::keys::rotate_key))
        .routes(routes!(
            rest::identities::create_identity,
            rest::identities::list_identities
        ))
        .routes(routes!(
            rest::identities::get_identity,
            rest::identities::patch_identity,
            rest::identities::delete_identity
        ))
        .routes(routes!(rest::identities::identity_credits))
        .routes(routes!(
            rest::webhooks::create_webhook_endpoint,
            rest::webhooks::list_webhook_endpoints
        ))
        .routes(routes!(
            rest::webhooks::get_webhook_endpoint,
            rest::webhooks::delete_webhook_endpoint
        ))
        .routes(routes!(rest::webhooks::list_webhook_deliveries))
        .routes(routes!(rest::webhooks::get_webhook_delivery))
        .routes(routes!(rest::webhooks::retry_webhook_delivery))
        .routes(routes!(
            rest::orgs::list_organizations,
            rest::orgs::create_organization
        ))
        .routes(routes!(rest::orgs::get_organization))
        .routes(routes!(rest::orgs::get_access))
        .routes(routes!(rest::orgs::leave_organization))
        .routes(routes!(rest::orgs::list_members))
        .routes(routes!(rest::orgs::patch_member, rest::orgs::remove_member))
        .routes(routes!(rest::orgs::list_invites, rest::orgs::create_invite))
        .routes(routes!(rest::orgs::revoke_invite))
        .routes(routes!(rest::orgs::my_invites))
        .routes(routes!(rest::orgs::accept_invite))
        .routes(routes!(rest::orgs::decline_invite))
        .routes(routes!(rest::orgs::list_roles, rest::orgs::create_role))
        .routes(routes!(rest::orgs::patch_role, rest::orgs::delete_role))
        .routes(routes!(
            rest::accounts::list_service_accounts,
            rest::accounts::create_service_account
        ))
        .routes(routes!(rest::accounts::create_service_account_key))
        .routes(routes!(rest::accounts::disable_service_account))
        .routes(routes!(rest::accounts::enable_service_account))
        .routes(routes!(
            rest::accounts::list_pats,
            rest::accounts::create_pat
        ))
        .routes(routes!(rest::accounts::revoke_pat))
        .routes(routes!(rest::audit::export))
        .routes(routes!(rest::audit::export_instance))
        .routes(routes!(rest::audit::verifications_export))
        .routes(routes!(rest::cli::device_code))
        .routes(routes!(rest::cli::device_token))
        .routes(routes!(rest::cli::exchange_token))
        .routes(routes!(rest::cli::revoke_current))
        .routes(routes!(signin::login))
        .routes(routes!(signin::callback))
        .routes(routes!(signin::methods))
        .routes(routes!(signin::dev_signin))
        .routes(routes!(signin::logout))
}

/// The OpenAPI 3.1 document of the REST surface (`/api/v1/openapi.json`,
/// `keyward-server openapi`).
pub fn openapi() -> utoipa::openapi::OpenApi {
    rest::openapi::finish(rest_routes().split_for_parts().1)
}

/// The whole HTTP surface.
pub fn router(state: AppState) -> Router {
    let body_limit = state.services.config.body_limit_bytes;
    let (rest, api) = rest_routes().split_for_parts();
    let api = rest::openapi::finish(api);
    Router::new()
        .merge(rest)
        .merge(graphql::http::routes(&state.services))
        .route("/api/{*rest}", axum::routing::any(rest::not_found))
        .fallback_service(dashboard(state.services.config.dashboard_dir.as_deref()))
        .layer(Extension(rest::openapi::Document::new(&api)))
        .layer(CookieManagerLayer::new())
        .layer(DefaultBodyLimit::max(body_limit))
        // Inside the request context, so a timed-out request is answered, hardened and
        // logged like any other.
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            Duration::from_secs(30),
        ))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            request_context,
        ))
        .with_state(state)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_dashboard_policy_allows_its_inline_start_up_script_by_hash_only() {
        use base64::Engine;
        use sha2::Digest;
        let page =
            "<html><script type=\"module\">boot()</script><script src=\"/x.js\"></script></html>";
        let csp = super::dashboard_csp(page);
        let boot =
            base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(b"boot()"));
        assert!(csp.contains(&format!("'sha256-{boot}'")), "{csp}");
        assert_eq!(csp.matches("'sha256-").count(), 1, "{csp}");
        assert!(csp.starts_with("default-src 'none'; script-src 'self' 'wasm-unsafe-eval'"));
        assert!(csp.contains("frame-ancestors 'none'"));
        assert!(
            !csp.contains("unsafe-inline") && !csp.contains("http"),
            "{csp}"
        );
    }

    #[test]
    fn committed_document_matches_the_code() {
        let committed = include_str!("../openapi.json");
        let current = super::openapi().to_pretty_json().unwrap();
        assert!(
            committed.trim_end() == current.trim_end(),
            "backend/openapi.json is out of date: run `cargo run -p backend -- openapi > backend/openapi.json`"
        );
    }

    #[test]
    fn every_operation_is_described_and_every_error_is_a_problem() {
        let doc = serde_json::to_value(super::openapi()).unwrap();
        assert_eq!(doc["openapi"], "3.1.0");
        let paths = doc["paths"].as_object().unwrap();
        for (path, item) in paths {
            for (method, operation) in item.as_object().unwrap() {
                let at = format!("{method} {path}");
                assert!(
                    operation["tags"].as_array().is_some_and(|t| !t.is_empty()),
                    "{at}: no tag"
                );
                let responses = operation["responses"].as_object().unwrap();
                assert!(
                    responses
                        .keys()
                        .any(|s| s.starts_with('2') || s.starts_with('3')),
                    "{at}: no success"
                );
                for (status, response) in responses {
                    if !status.starts_with('4') {
                        continue;
                    }
                    // A shared problem response, or a problem among the content types.
                    let problem = response.get("$ref").is_some()
                        || response["content"]
                            .as_object()
                            .is_some_and(|c| c.contains_key("application/problem+json"));
                    assert!(problem, "{at}: {status} is not a problem");
                }
            }
        }
    }
}

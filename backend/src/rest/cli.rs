//! CLI sign-in endpoints (SPEC §7): the device flow (RFC 8628), the loopback flow's code
//! exchange (RFC 8252 with PKCE), and revoking the token a CLI holds. Bodies may be JSON
//! or form-encoded, as OAuth clients send them.

use axum::{
    Json,
    body::Bytes,
    extract::State,
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde::{Deserialize, de::DeserializeOwned};
use serde_json::json;
use utoipa::ToSchema;

use super::openapi;
use crate::{
    auth::{Authenticated, ClientIp},
    domain::cli_login::IssuedToken,
    error::AppError,
    state::AppState,
};

/// Parses a JSON or `application/x-www-form-urlencoded` body.
fn parse_body<T: DeserializeOwned>(headers: &HeaderMap, body: &Bytes) -> Result<T, AppError> {
    if super::json::is_json(headers) {
        super::json::from_slice(body)
    } else {
        serde_urlencoded::from_bytes(body)
            .map_err(|e| AppError::invalid("body", format!("is not a valid request: {e}")))
    }
}

fn token_response(issued: IssuedToken, now: chrono::DateTime<chrono::Utc>) -> Response {
    let expires_in = (issued.expires_at - now).num_seconds().max(0);
    (
        [(header::CACHE_CONTROL, "no-store")],
        Json(json!({
            "access_token": issued.token.expose_secret(),
            "token_type": "Bearer",
            "expires_in": expires_in,
            "name": issued.name,
        })),
    )
        .into_response()
}

/// `POST /api/v1/device/code`: the request (JSON or form-encoded). OAuth clients also
/// send a `client_id`; Keyward has one public CLI client, so it (like any other field,
/// `scope` too) is ignored.
#[derive(Deserialize, Default, ToSchema)]
struct DeviceCodeRequest {
    /// The machine's name; the token is named after it. At most 100 characters, no
    /// control characters.
    #[serde(default)]
    #[schema(max_length = 100, pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*$")]
    name: Option<String>,
}

/// `POST /api/v1/device/code`: starts a device login.
#[utoipa::path(
    post,
    path = "/api/v1/device/code",
    tag = "cli",
    summary = "Start a device login",
    description = "RFC 8628 §3.1. The body may be empty. Limited per client address.",
    request_body(content(
        (Option<DeviceCodeRequest> = "application/x-www-form-urlencoded"),
        (Option<DeviceCodeRequest> = "application/json"),
    )),
    responses(
        (status = 200, description = "The codes; sent with `Cache-Control: no-store`.", body = openapi::DeviceAuthorization),
        (status = 400, response = openapi::InvalidInput),
        (status = 409, response = openapi::Conflict),
        (status = 413, response = openapi::TooLarge),
        (status = 429, response = openapi::RateLimited),
    )
)]
pub async fn device_code(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, AppError> {
    // No body, or JSON `null`, asks for nothing in particular.
    let request: DeviceCodeRequest = if body.is_empty() {
        DeviceCodeRequest::default()
    } else if super::json::is_json(&headers) {
        parse_body::<Option<DeviceCodeRequest>>(&headers, &body)?.unwrap_or_default()
    } else {
        parse_body(&headers, &body)?
    };
    let started = state
        .services
        .start_device_login(request.name.as_deref(), ip.as_deref())
        .await?;
    let uri = format!("{}/device", state.services.config.public_url);
    Ok((
        [(header::CACHE_CONTROL, "no-store")],
        Json(json!({
            "device_code": started.device_code.expose_secret(),
            "user_code": started.user_code,
            "verification_uri": uri,
            "verification_uri_complete": format!("{uri}?user_code={}", started.user_code),
            "expires_in": started.expires_in,
            "interval": started.interval,
        })),
    )
        .into_response())
}

/// `POST /api/v1/device/token`: the poll (JSON or form-encoded).
#[derive(Deserialize, ToSchema)]
struct DeviceTokenRequest {
    device_code: String,
    /// The one grant type this endpoint answers, when sent.
    #[serde(default)]
    #[schema(pattern = "^urn:ietf:params:oauth:grant-type:device_code$")]
    grant_type: Option<String>,
}

const DEVICE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

/// `POST /api/v1/device/token`: the CLI polls until the user answers.
#[utoipa::path(
    post,
    path = "/api/v1/device/token",
    tag = "cli",
    summary = "Poll a device login",
    description = "RFC 8628 §3.4: answers `authorization_pending` until the user approves \
        or denies the code in the dashboard, then the token, once.",
    request_body(content(
        (DeviceTokenRequest = "application/x-www-form-urlencoded"),
        (DeviceTokenRequest = "application/json"),
    )),
    responses(
        (status = 200, description = "Approved: the personal access token, shown once.", body = openapi::IssuedToken),
        (status = 400, description = "Not (yet) approved (an OAuth error), or a body that does not parse (a problem).", content(
            (openapi::OAuthError = "application/json"),
            (openapi::Problem = "application/problem+json"),
        )),
        (status = 413, response = openapi::TooLarge),
    )
)]
pub async fn device_token(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, AppError> {
    let request: DeviceTokenRequest = parse_body(&headers, &body)?;
    if request
        .grant_type
        .as_deref()
        .is_some_and(|g| g != DEVICE_GRANT)
    {
        return Ok(oauth_error(
            "unsupported_grant_type",
            &format!("grant_type must be {DEVICE_GRANT}"),
        ));
    }
    match state
        .services
        .poll_device_login(&request.device_code)
        .await?
    {
        Ok(issued) => Ok(token_response(issued, state.services.clock.now())),
        Err(refusal) => Ok(oauth_error(refusal.code(), refusal.description())),
    }
}

/// An OAuth error answer (RFC 6749 §5.2): 400 with `error` and `error_description`.
fn oauth_error(code: &str, description: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        [(header::CACHE_CONTROL, "no-store")],
        Json(json!({ "error": code, "error_description": description })),
    )
        .into_response()
}

/// `POST /api/v1/cli/exchange-token`: the loopback flow's code and PKCE verifier.
#[derive(Deserialize, ToSchema)]
struct ExchangeRequest {
    code: String,
    code_verifier: String,
    /// The `redirect_uri` the authorization was started with (required when it was sent).
    #[serde(default)]
    redirect_uri: Option<String>,
}

/// `POST /api/v1/cli/exchange-token`: the loopback flow's one-time code and PKCE
/// verifier for a personal access token.
#[utoipa::path(
    post,
    path = "/api/v1/cli/exchange-token",
    tag = "cli",
    summary = "Exchange a loopback login's code",
    description = "RFC 8252 with PKCE (S256): the one-time code the dashboard sent to the \
        CLI's loopback address, and the verifier, for a personal access token.",
    request_body(content(
        (ExchangeRequest = "application/x-www-form-urlencoded"),
        (ExchangeRequest = "application/json"),
    )),
    responses(
        (status = 200, description = "The personal access token, shown once.", body = openapi::IssuedToken),
        (status = 400, response = openapi::InvalidInput),
        (status = 413, response = openapi::TooLarge),
    )
)]
pub async fn exchange_token(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, AppError> {
    let request: ExchangeRequest = parse_body(&headers, &body)?;
    let issued = state
        .services
        .exchange_cli_code(
            &request.code,
            &request.code_verifier,
            request.redirect_uri.as_deref(),
        )
        .await?;
    Ok(token_response(issued, state.services.clock.now()))
}

/// `POST /api/v1/pats/current/revoke`: revokes the personal access token presented.
#[utoipa::path(
    post,
    path = "/api/v1/pats/current/revoke",
    tag = "cli",
    summary = "Revoke the token presented",
    description = "Revokes the personal access token this request presents (`keyward logout`).",
    security(("bearer" = []), ("x_api_key" = [])),
    responses(
        (status = 200, description = "Revoked.", body = openapi::RevokedToken),
        (status = 401, response = openapi::Unauthenticated),
        (status = 403, response = openapi::Forbidden),
        (status = 404, response = openapi::NotFound),
        (status = 429, response = openapi::RateLimited),
    )
)]
pub async fn revoke_current(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
) -> Result<Response, AppError> {
    let revoked = state.services.revoke_current_token(&actor).await?;
    Ok(Json(json!({ "id": revoked.model.id, "revoked": true })).into_response())
}

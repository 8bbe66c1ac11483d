//! Authentication, done once: one extractor turns a dashboard session cookie or an
//! `Authorization: Bearer`, `Authorization: ApiKey` or `X-API-Key` credential into an
//! [`Actor`]. Nothing downstream parses these headers. Nothing here logs a credential.

pub mod oidc;
pub mod page;

use axum::{
    extract::{FromRequestParts, State},
    http::{HeaderMap, Method, header, request::Parts},
    response::{IntoResponse, Redirect, Response},
};
use serde::Deserialize;
use tower_cookies::{Cookie, Cookies, cookie::SameSite};

use crate::{
    app::AppState,
    domain::{Actor, Principal, RequestMeta, sessions::SESSION_COOKIE},
    error::{AppError, AuthFailure},
    rest::Query,
};

/// The header the dashboard sends with every request; browsers cannot add it to a
/// cross-site request without a CORS preflight, which Keyward never grants.
pub const CLIENT_HEADER: &str = "x-keyward-client";

/// The credential presented in the headers, if any ([`keyward_proto::present`]): a
/// header that is present but not one of the accepted forms, or two different
/// credentials, is `MALFORMED`.
pub fn presented_credential(headers: &HeaderMap) -> Result<Option<String>, AuthFailure> {
    keyward_proto::present::presented_credential(headers).map_err(|_| AuthFailure::Malformed)
}

/// The client address of the request (see [`crate::app::client_address`]).
#[derive(Debug, Clone)]
pub struct ClientIp(pub Option<String>);

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = std::convert::Infallible;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        // Only the address: not a copy of the whole request's facts.
        Ok(Self(
            parts
                .extensions
                .get::<RequestMeta>()
                .and_then(|meta| meta.ip.clone()),
        ))
    }
}

/// Facts about the request for audit events.
pub fn request_meta(parts: &Parts) -> RequestMeta {
    parts
        .extensions
        .get::<RequestMeta>()
        .cloned()
        .unwrap_or_default()
}

/// An authenticated request.
#[derive(Debug, Clone)]
pub struct Authenticated(pub Actor);

impl FromRequestParts<AppState> for Authenticated {
    type Rejection = AppError;

    #[tracing::instrument(skip_all, name = "authenticate")]
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        let meta = request_meta(parts);
        if let Some(raw) = presented_credential(&parts.headers)? {
            let principal = state
                .services
                .principal_for(&raw, &meta, state.oidc.as_deref())
                .await?;
            return Ok(Self(Actor::new(principal, meta)));
        }
        let cookies = Cookies::from_request_parts(parts, state)
            .await
            .map_err(|_| AppError::from(AuthFailure::Missing))?;
        let Some(cookie) = cookies.private(&state.cookie_key).get(SESSION_COOKIE) else {
            return Err(AuthFailure::Missing.into());
        };
        // Cross-origin state changes are refused before the session is looked at, so
        // they cost its user nothing (not even rate-limit allowance).
        if !matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS) {
            check_same_origin(&parts.headers, &state.services.config.public_url)?;
        }
        let principal = state.services.session_principal(cookie.value()).await?;
        Ok(Self(Actor::new(principal, meta)))
    }
}

/// Refuses a cookie-authenticated state change from another origin (CSRF).
fn check_same_origin(headers: &HeaderMap, public_url: &str) -> Result<(), AppError> {
    if headers.contains_key(CLIENT_HEADER) {
        return Ok(());
    }
    match headers.get(header::ORIGIN).and_then(|o| o.to_str().ok()) {
        Some(origin) if origin.trim_end_matches('/') == origin_of(public_url) => Ok(()),
        _ => Err(AppError::Forbidden(
            "cross-origin request refused: send it from the dashboard's origin".into(),
        )),
    }
}

fn origin_of(url: &str) -> &str {
    let after_scheme = url.find("://").map_or(0, |i| i + 3);
    match url[after_scheme..].find('/') {
        Some(i) => &url[..after_scheme + i],
        None => url,
    }
}

/// A session cookie holding `secret`.
pub fn session_cookie(state: &AppState, secret: String) -> Cookie<'static> {
    base_cookie(state, SESSION_COOKIE, secret)
}

/// Name of the short-lived cookie that carries a sign-in from login to callback.
pub const SIGNIN_COOKIE: &str = "keyward_signin";

fn base_cookie(state: &AppState, name: &'static str, value: String) -> Cookie<'static> {
    let mut cookie = Cookie::new(name, value);
    cookie.set_http_only(true);
    cookie.set_same_site(SameSite::Lax);
    cookie.set_path("/");
    cookie.set_secure(!state.services.config.insecure_cookies_allowed());
    cookie
}

#[derive(Deserialize)]
pub struct LoginQuery {
    return_to: Option<String>,
    login_hint: Option<String>,
}

/// `GET /auth/login`: sends the browser to the identity provider.
#[utoipa::path(
    get,
    path = "/auth/login",
    tag = "sign-in",
    summary = "Start an OIDC sign-in",
    params(
        ("return_to" = Option<String>, Query, description = "A path on this server to come back to."),
        ("login_hint" = Option<String>, Query, description = "Passed on to the identity provider."),
    ),
    responses(
        (status = 303, description = "To the identity provider, with a sign-in cookie.", headers(("location" = String))),
        (status = 400, response = crate::rest::openapi::InvalidInput),
        (status = 404, response = crate::rest::openapi::NotFound),
    )
)]
pub async fn login(
    State(state): State<AppState>,
    cookies: Cookies,
    headers: HeaderMap,
    Query(q): Query<LoginQuery>,
) -> Response {
    let Some(provider) = &state.oidc else {
        return page::refusal(
            &headers,
            AppError::NotFound("OIDC sign-in (no provider is configured)"),
            back_to_signin(),
        );
    };
    let hint = q
        .login_hint
        .as_deref()
        .map(str::trim)
        .filter(|h| !h.is_empty() && h.len() <= 254);
    match provider
        .authorize(oidc::local_return_to(q.return_to.as_deref()), hint)
        .await
    {
        Ok((url, pending)) => {
            let Ok(value) = serde_json::to_string(&pending) else {
                return AppError::internal(std::io::Error::other("sign-in state")).into_response();
            };
            let mut cookie = base_cookie(&state, SIGNIN_COOKIE, value);
            cookie.set_max_age(tower_cookies::cookie::time::Duration::minutes(10));
            cookies.private(&state.cookie_key).add(cookie);
            Redirect::to(&url).into_response()
        }
        Err(e) => page::refusal(&headers, AppError::from(e), back_to_signin()),
    }
}

/// The way forward from a failed browser sign-in: the sign-in page, which offers every
/// method this server has.
fn back_to_signin() -> page::Next {
    page::Next::Link {
        label: "Sign in again",
        href: "/sign-in".into(),
    }
}

#[derive(Deserialize)]
pub struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
}

/// `GET /auth/callback`: the provider sends the browser back here.
#[utoipa::path(
    get,
    path = "/auth/callback",
    tag = "sign-in",
    summary = "Finish an OIDC sign-in",
    params(
        ("code" = Option<String>, Query),
        ("state" = Option<String>, Query),
        ("error" = Option<String>, Query),
    ),
    responses(
        (status = 303, description = "Signed in: to where the sign-in started, with the session cookie.", headers(("location" = String))),
        (status = 400, response = crate::rest::openapi::InvalidInput),
        (status = 401, response = crate::rest::openapi::Unauthenticated),
        (status = 404, response = crate::rest::openapi::NotFound),
    )
)]
pub async fn callback(
    State(state): State<AppState>,
    cookies: Cookies,
    headers: HeaderMap,
    meta: axum::Extension<RequestMeta>,
    Query(q): Query<CallbackQuery>,
) -> Response {
    let refused = |err: AppError| page::refusal(&headers, err, back_to_signin());
    let Some(provider) = &state.oidc else {
        return refused(AppError::NotFound(
            "OIDC sign-in (no provider is configured)",
        ));
    };
    let private = cookies.private(&state.cookie_key);
    let pending = private
        .get(SIGNIN_COOKIE)
        .and_then(|c| serde_json::from_str::<oidc::PendingLogin>(c.value()).ok());
    // The sign-in state is single-use, whatever the outcome.
    let mut removal = Cookie::from(SIGNIN_COOKIE);
    removal.set_path("/");
    private.remove(removal);
    let Some(pending) = pending else {
        return refused(AppError::SignInRefused(
            "no sign-in is in progress in this browser (it took over ten minutes, or began in another browser); start again".into(),
        ));
    };
    if let Some(error) = q.error {
        let error: String = error
            .chars()
            .filter(|c| c.is_ascii_graphic())
            .take(64)
            .collect();
        return refused(AppError::SignInRefused(format!(
            "the identity provider answered `{error}`"
        )));
    }
    let (Some(code), Some(returned_state)) = (q.code, q.state) else {
        return refused(AppError::invalid(
            "code",
            "the callback needs `code` and `state`",
        ));
    };
    let identity = match provider.complete(&code, &returned_state, &pending).await {
        Ok(identity) => identity,
        Err(e) => return refused(AppError::from(e)),
    };
    match state.services.sign_in(&identity, &meta.0).await {
        Ok(signed_in) => {
            cookies.private(&state.cookie_key).add(session_cookie(
                &state,
                signed_in.session.expose_secret().to_owned(),
            ));
            Redirect::to(&pending.return_to).into_response()
        }
        Err(err) => refused(err),
    }
}

#[derive(Deserialize)]
pub struct DevSigninQuery {
    token: Option<String>,
}

/// `GET /auth/methods`: which ways of signing in this server offers (for the dashboard).
#[utoipa::path(
    get,
    path = "/auth/methods",
    tag = "sign-in",
    responses((status = 200, description = "The ways of signing in.", body = crate::rest::openapi::SignInMethods))
)]
pub async fn methods(State(state): State<AppState>) -> axum::Json<serde_json::Value> {
    axum::Json(serde_json::json!({
        "oidc": state.oidc.is_some(),
        "development": state.services.config.dev_signin_enabled(),
    }))
}

/// `GET /auth/dev?token=…`: redeems the one-time development sign-in link.
#[utoipa::path(
    get,
    path = "/auth/dev",
    tag = "sign-in",
    summary = "Redeem the development sign-in link",
    params(("token" = String, Query, description = "The one-time token of a link printed at start-up or by `keyward-server signin-link`.")),
    responses(
        (status = 303, description = "Signed in: to the dashboard, with the session cookie.", headers(("location" = String))),
        (status = 400, response = crate::rest::openapi::InvalidInput),
        (status = 401, response = crate::rest::openapi::Unauthenticated),
        (status = 404, response = crate::rest::openapi::NotFound),
    )
)]
pub async fn dev_signin(
    State(state): State<AppState>,
    cookies: Cookies,
    headers: HeaderMap,
    parts_meta: axum::Extension<RequestMeta>,
    Query(q): Query<DevSigninQuery>,
) -> Response {
    let redeemed = match q.token.as_deref() {
        Some(token) => state.services.redeem_dev_signin(token, &parts_meta.0).await,
        None => Err(AppError::invalid(
            "token",
            "the link has no token: copy the whole link",
        )),
    };
    match redeemed {
        Ok(secret) => {
            cookies
                .private(&state.cookie_key)
                .add(session_cookie(&state, secret.expose_secret().to_owned()));
            // To the dashboard when it is served, else to GraphiQL.
            let to = if state.services.config.dashboard_dir.is_some() {
                "/"
            } else {
                "/graphql"
            };
            Redirect::to(to).into_response()
        }
        Err(err @ AppError::NotFound(_)) => page::refusal(&headers, err, back_to_signin()),
        Err(err) => page::refusal(
            &headers,
            err,
            page::Next::Command {
                command: "keyward-server signin-link",
                why: "For a fresh link, run this where the server runs, with the same settings:",
            },
        ),
    }
}

/// `POST /auth/logout`: ends the current session.
#[utoipa::path(
    post,
    path = "/auth/logout",
    tag = "sign-in",
    summary = "Sign out",
    description = "Ends the dashboard session the cookie carries. A token is refused (403): \
        revoke one with `POST /api/v1/pats/current/revoke`.",
    security(("session" = [])),
    responses(
        (status = 204, description = "The session is ended and its cookie removed."),
        (status = 401, response = crate::rest::openapi::Unauthenticated),
        (status = 403, response = crate::rest::openapi::Forbidden),
        (status = 404, response = crate::rest::openapi::NotFound),
        (status = 429, response = crate::rest::openapi::RateLimited),
    )
)]
pub async fn logout(
    State(state): State<AppState>,
    cookies: Cookies,
    Authenticated(actor): Authenticated,
) -> Response {
    // Sign-out ends a dashboard session; a token presented here would be left valid while
    // the answer said "signed out".
    let Principal::Session { .. } = actor.principal else {
        return AppError::Forbidden(
            "sign-out ends a dashboard session; revoke a token with POST /api/v1/pats/current/revoke"
                .into(),
        )
        .into_response();
    };
    if let Err(err) = state.services.end_session(&actor).await {
        return err.into_response();
    }
    let mut removal = Cookie::from(SESSION_COOKIE);
    removal.set_path("/");
    cookies.private(&state.cookie_key).remove(removal);
    axum::http::StatusCode::NO_CONTENT.into_response()
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn origin_check() {
        assert_eq!(
            origin_of("https://keys.example.com/app"),
            "https://keys.example.com"
        );
        assert_eq!(origin_of("http://127.0.0.1:8080"), "http://127.0.0.1:8080");
        let public = "http://127.0.0.1:8080";
        assert!(
            check_same_origin(&headers(&[("origin", "http://127.0.0.1:8080")]), public).is_ok()
        );
        assert!(
            check_same_origin(&headers(&[("origin", "https://evil.example")]), public).is_err()
        );
        assert!(check_same_origin(&HeaderMap::new(), public).is_err());
        assert!(check_same_origin(&headers(&[(CLIENT_HEADER, "dashboard")]), public).is_ok());
    }
}

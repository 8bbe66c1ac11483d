//! Authentication, done once: one extractor turns a dashboard session cookie or an
//! `Authorization: Bearer`, `Authorization: ApiKey` or `X-API-Key` credential into an
//! [`Actor`]. Nothing downstream parses these headers. Nothing here logs a credential.

use axum::{
    extract::FromRequestParts,
    http::{HeaderMap, Method, header, request::Parts},
};
use tower_cookies::Cookies;

use crate::{
    domain::{Actor, RequestMeta, sessions::SESSION_COOKIE},
    error::{AppError, AuthFailure},
    state::AppState,
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

/// The client address of the request (see [`crate::state::client_address`]).
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

//! RFC 9457 problem+json for every REST error, with the request id, and the
//! `WWW-Authenticate` challenge of RFC 6750 on 401 and insufficient-scope 403.

use axum::{
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde_json::json;

use crate::{
    error::{AppError, AuthFailure},
    state::current_request_id,
};

/// `Retry-After` when the database is away: long enough for a restart or a failover.
pub const RETRY_UNAVAILABLE_SECS: u64 = 5;

/// The realm in every challenge.
pub const REALM: &str = "keyward";

/// The HTTP status of an error.
pub fn status(err: &AppError) -> StatusCode {
    match err {
        AppError::Unauthenticated(_) | AppError::SignInRefused(_) => StatusCode::UNAUTHORIZED,
        AppError::NotAMember | AppError::MissingPermission(_) | AppError::Forbidden(_) => {
            StatusCode::FORBIDDEN
        }
        AppError::NotFound(_) => StatusCode::NOT_FOUND,
        AppError::InvalidInput { .. } => StatusCode::BAD_REQUEST,
        AppError::Conflict(_) => StatusCode::CONFLICT,
        AppError::RateLimited { .. } | AppError::UsageExceeded => StatusCode::TOO_MANY_REQUESTS,
        AppError::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        AppError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
        AppError::Timeout => StatusCode::REQUEST_TIMEOUT,
        AppError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        AppError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// The `code` member: the precise reason for 401s, the error code otherwise.
pub fn problem_code(err: &AppError) -> &'static str {
    match err {
        AppError::Unauthenticated(f) => f.code(),
        other => other.code(),
    }
}

/// The `WWW-Authenticate` challenge for an error, if it has one.
pub fn challenge(err: &AppError) -> Option<String> {
    match err {
        AppError::Unauthenticated(AuthFailure::Missing) => {
            Some(format!("Bearer realm=\"{REALM}\""))
        }
        AppError::Unauthenticated(f) => Some(format!(
            "Bearer realm=\"{REALM}\", error=\"invalid_token\", error_description=\"{}\"",
            f.describe()
        )),
        AppError::MissingPermission(perm) => Some(format!(
            "Bearer realm=\"{REALM}\", error=\"insufficient_scope\", error_description=\"missing {}\"",
            perm.replace('"', "'")
        )),
        _ => None,
    }
}

/// A field as a REST body names it: the domain names fields as GraphQL inputs do
/// (`input.externalId`, `input.ratelimits[0].durationMs`); a REST body has no `input`
/// wrapper and its members are snake_case (`external_id`, `ratelimits[0].duration_ms`).
pub fn rest_field(field: &str) -> String {
    let field = field.strip_prefix("input.").unwrap_or(field);
    let mut out = String::with_capacity(field.len() + 4);
    let mut previous_lower = false;
    for c in field.chars() {
        if c.is_ascii_uppercase() {
            if previous_lower {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
            previous_lower = false;
        } else {
            previous_lower = c.is_ascii_lowercase() || c.is_ascii_digit();
            out.push(c);
        }
    }
    out
}

/// The `detail` member, with fields named as REST bodies name them.
fn rest_detail(err: &AppError) -> String {
    match err {
        AppError::InvalidInput { field, message } => format!("{}: {message}", rest_field(field)),
        AppError::Conflict(message) => match message.split_once(": ") {
            Some((field, rest)) if field.starts_with("input.") && !field.contains(' ') => {
                format!("{}: {rest}", rest_field(field))
            }
            _ => message.clone(),
        },
        other => other.to_string(),
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let status = status(&self);
        if let AppError::Internal(cause) = &self {
            tracing::error!(error = %cause, request_id = %current_request_id(), "internal error");
        }
        let code = problem_code(&self);
        let mut body = json!({
            "type": format!("urn:keyward:problem:{}", code.to_ascii_lowercase().replace('_', "-")),
            "title": status.canonical_reason().unwrap_or("Error"),
            "status": status.as_u16(),
            "detail": rest_detail(&self),
            "code": code,
            "request_id": current_request_id(),
        });
        if let AppError::InvalidInput { field, .. } = &self {
            body["field"] = json!(rest_field(field));
        }
        let mut response = (status, body.to_string()).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if let Some(value) = challenge(&self).and_then(|c| HeaderValue::from_str(&c).ok()) {
            headers.insert(header::WWW_AUTHENTICATE, value);
        }
        if let AppError::RateLimited {
            retry_after_secs,
            limit,
        } = self
        {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
            crate::rest::verify::insert_rate_headers(headers, limit, 0, retry_after_secs);
        }
        if let AppError::Unavailable = self {
            headers.insert(
                header::RETRY_AFTER,
                HeaderValue::from(RETRY_UNAVAILABLE_SECS),
            );
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_named_as_rest_bodies_name_them() {
        for (domain, rest) in [
            ("input.externalId", "external_id"),
            (
                "input.ratelimits[0].durationMs",
                "ratelimits[0].duration_ms",
            ),
            (
                "input.credits.refill.dayOfMonth",
                "credits.refill.day_of_month",
            ),
            ("expect.organization_id", "expect.organization_id"),
            ("body", "body"),
            ("require[1]", "require[1]"),
        ] {
            assert_eq!(rest_field(domain), rest, "{domain}");
        }
        let conflict = AppError::Conflict("input.externalId: `acme` is taken".into());
        assert_eq!(rest_detail(&conflict), "external_id: `acme` is taken");
        let plain = AppError::Conflict("the key was rotated".into());
        assert_eq!(rest_detail(&plain), "the key was rotated");
    }

    #[test]
    fn every_error_maps_to_one_status() {
        let cases = [
            (AppError::Unauthenticated(AuthFailure::Revoked), 401),
            (AppError::NotAMember, 403),
            (AppError::MissingPermission("api_keys:write".into()), 403),
            (AppError::Forbidden("refused".into()), 403),
            (AppError::NotFound("api key"), 404),
            (AppError::invalid("name", "empty"), 400),
            (AppError::Conflict("x".into()), 409),
            (AppError::SignInRefused("state".into()), 401),
            (
                AppError::RateLimited {
                    retry_after_secs: 1,
                    limit: 1,
                },
                429,
            ),
            (AppError::PayloadTooLarge, 413),
            (AppError::MethodNotAllowed, 405),
            (AppError::Timeout, 408),
            (AppError::Unavailable, 503),
            (AppError::internal(std::io::Error::other("boom")), 500),
        ];
        for (err, expected) in cases {
            assert_eq!(status(&err).as_u16(), expected, "{err:?}");
        }
    }

    #[test]
    fn challenges_follow_rfc_6750() {
        assert_eq!(
            challenge(&AppError::Unauthenticated(AuthFailure::Missing)).unwrap(),
            "Bearer realm=\"keyward\""
        );
        assert!(
            challenge(&AppError::Unauthenticated(AuthFailure::Expired))
                .unwrap()
                .contains("error=\"invalid_token\"")
        );
        assert!(
            challenge(&AppError::MissingPermission("deployments:write".into()))
                .unwrap()
                .contains("error=\"insufficient_scope\"")
        );
        assert!(challenge(&AppError::NotAMember).is_none());
    }
}

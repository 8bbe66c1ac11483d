//! `GET /api/v1/api-keys/verify` and `POST /api/v1/keys/verify` (SPEC §4).

use std::collections::BTreeMap;

use axum::{
    Json,
    body::Bytes,
    extract::State,
    http::{HeaderMap, HeaderValue},
    response::{IntoResponse, Response},
};
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::{
    app::AppState,
    auth::{ClientIp, presented_credential},
    domain::{
        analytics::{Outcome, Tags},
        permissions::Perm,
        ratelimit::RateDecision,
        verify::{KeyCheck, Verified},
    },
    error::{AppError, AuthFailure},
};

/// Adds the `RateLimit-Policy` and `RateLimit` headers.
pub fn insert_rate_headers(headers: &mut HeaderMap, limit: u32, remaining: u32, reset: u64) {
    if let Ok(v) = HeaderValue::from_str(&format!("\"per-minute\";q={limit};w=60")) {
        headers.insert("ratelimit-policy", v);
    }
    if let Ok(v) = HeaderValue::from_str(&format!("\"per-minute\";r={remaining};t={reset}")) {
        headers.insert("ratelimit", v);
    }
}

fn rate_json(rate: &RateDecision) -> Value {
    json!({ "limit": rate.limit, "remaining": rate.remaining, "reset": rate.reset_secs })
}

/// The description of a verified credential shared by both endpoints.
fn describe(v: &Verified, scopes: Option<Vec<String>>) -> serde_json::Map<String, Value> {
    let r = &v.record;
    let c = &r.credential;
    let mut body = serde_json::Map::new();
    body.insert(
        "key".into(),
        json!({
            "id": c.id,
            "kind": c.kind,
            "name": c.name,
            "prefix": c.display_prefix,
            "environment": c.environment,
            "scopes": scopes,
            "expires_at": crate::domain::credentials::effective_expiry(c),
            "created_at": c.created_at,
        }),
    );
    body.insert(
        "customer".into(),
        r.customer.as_ref().map_or(
            Value::Null,
            |x| json!({ "id": x.id, "email": x.email, "name": x.name }),
        ),
    );
    body.insert(
        "service_account".into(),
        r.service_account
            .as_ref()
            .map_or(Value::Null, |sa| json!({ "id": sa.id, "name": sa.name })),
    );
    body.insert(
        "organization".into(),
        r.organization.as_ref().map_or(
            Value::Null,
            |o| json!({ "id": o.id, "name": o.name, "slug": o.slug }),
        ),
    );
    body.insert(
        "project".into(),
        r.project.as_ref().map_or(
            Value::Null,
            |p| json!({ "id": p.id, "name": p.name, "slug": p.slug, "namespace": p.namespace }),
        ),
    );
    body.insert("ratelimit".into(), rate_json(&v.rate));
    body
}

fn scope_strings(scopes: Option<Vec<Perm>>) -> Option<Vec<String>> {
    scopes.map(|s| s.iter().map(ToString::to_string).collect())
}

/// `GET /api/v1/api-keys/verify`: the caller presents a credential; the answer describes it.
pub async fn verify_presented(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
) -> Response {
    let raw = match presented_credential(&headers) {
        Ok(Some(raw)) => raw,
        Ok(None) => {
            count(AuthFailure::Missing.code());
            return AppError::from(AuthFailure::Missing).into_response();
        }
        Err(failure) => {
            count(failure.code());
            return AppError::from(failure).into_response();
        }
    };
    let verified = match state.services.verify_presented(&raw, ip.as_deref()).await {
        Ok(v) => v,
        Err(err) => {
            count(refusal_code(&err));
            return err.into_response();
        }
    };
    count("VALID");
    let mut body = describe(&verified, scope_strings(verified.record.effective_scopes()));
    body.insert("valid".into(), Value::Bool(true));
    let mut response = Json(Value::Object(body)).into_response();
    insert_rate_headers(
        response.headers_mut(),
        verified.rate.limit,
        verified.rate.remaining,
        verified.rate.reset_secs,
    );
    response
}

/// Body of `POST /api/v1/keys/verify`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct VerifyRequest {
    key: String,
    #[serde(default)]
    require: Vec<String>,
    /// For a PAT: the organization whose permissions `require` is checked against.
    #[serde(default)]
    organization_id: Option<Uuid>,
    /// The caller's labels of this verification, kept in the key's recent verifications.
    #[serde(default)]
    tags: Option<BTreeMap<String, String>>,
}

/// `POST /api/v1/keys/verify`: a service checks a key its own caller presented.
pub async fn verify_body(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    body: Bytes,
) -> Response {
    let request: VerifyRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => {
            return AppError::invalid("body", format!("is not a valid verify request: {e}"))
                .into_response();
        }
    };
    let mut required = Vec::with_capacity(request.require.len());
    for (i, s) in request.require.iter().enumerate() {
        match Perm::parse(s) {
            Ok(p) => required.push(p),
            Err(e) => return AppError::invalid(format!("require[{i}]"), e).into_response(),
        }
    }
    let tags = match Tags::parse(request.tags.unwrap_or_default()).and_then(|tags| {
        tags.refuse_tokens(&request.key, |word| {
            state.services.looks_like_own_token(word)
        })
        .map(|()| tags)
    }) {
        Ok(tags) => tags,
        Err(err) => return err.into_response(),
    };
    let check = state
        .services
        .check_key(
            &request.key,
            &required,
            request.organization_id,
            ip.as_deref(),
            &tags,
        )
        .await;
    match check {
        Ok(KeyCheck::Refused(failure)) => {
            count(failure.code());
            Json(json!({ "valid": false, "code": failure.code() })).into_response()
        }
        Ok(KeyCheck::Checked {
            outcome,
            scopes,
            missing,
            verified,
        }) => {
            count(outcome.code());
            let mut body = describe(&verified, scope_strings(scopes));
            body.insert("valid".into(), Value::Bool(outcome == Outcome::Valid));
            body.insert("code".into(), Value::String(outcome.code().into()));
            if outcome == Outcome::InsufficientPermissions {
                body.insert("missing".into(), json!(scope_strings(Some(missing))));
            }
            Json(Value::Object(body)).into_response()
        }
        Err(err) => {
            count(refusal_code(&err));
            err.into_response()
        }
    }
}

/// Counts an answer of either endpoint by its code (`/metrics`).
fn count(code: &'static str) {
    metrics::counter!(crate::metrics::VERIFICATIONS, "code" => code).increment(1);
}

/// The code of a verification that ended in an error.
fn refusal_code(err: &AppError) -> &'static str {
    match err {
        AppError::Unauthenticated(failure) => failure.code(),
        AppError::RateLimited { .. } => "RATE_LIMITED",
        _ => "ERROR",
    }
}

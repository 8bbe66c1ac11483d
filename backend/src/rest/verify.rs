//! `GET /api/v1/api-keys/verify` and `POST /api/v1/keys/verify` (SPEC §4).

use std::{collections::BTreeMap, fmt::Write};

use axum::{
    Json,
    body::Bytes,
    extract::State,
    http::{HeaderMap, HeaderValue, header},
    response::{IntoResponse, Response},
};
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa::ToSchema;
use uuid::Uuid;

use super::openapi;
use crate::{
    auth::{Authenticated, ClientIp, presented_credential},
    domain::{
        CredentialKind,
        analytics::{Outcome, Tags},
        controls::MAX_LIMITS,
        credits::MAX_COST,
        permissions::{Perm, ScopeAliases},
        verify::{
            Context, CredentialRecord, Expect, HeldCredential, KeyCheck, Question, Spend, Verified,
        },
    },
    error::{AppError, AuthFailure},
    state::AppState,
};

/// Adds the `RateLimit-Policy` and `RateLimit` headers.
pub fn insert_rate_headers(headers: &mut HeaderMap, limit: u32, remaining: u32, reset: u64) {
    // Handed over as they are written, not copied again.
    let value = |text: String| HeaderValue::from_maybe_shared(Bytes::from(text)).ok();
    if let Some(v) = value(format!("\"per-minute\";q={limit};w=60")) {
        headers.insert("ratelimit-policy", v);
    }
    if let Some(v) = value(format!("\"per-minute\";r={remaining};t={reset}")) {
        headers.insert("ratelimit", v);
    }
}

/// The JSON members describing a credential, shared by both endpoints, in three pieces
/// rendered apart, so that what many keys share is rendered and held once: the owner,
/// organization and project, the key's own fields up to its scopes, and its scopes.
struct Description<'a> {
    /// `"customer":…,"organization":…,"project":…,"service_account":…`
    context: &'a str,
    /// `"key":{…,"scopes":`
    key: &'a str,
    /// The scopes' JSON value; the `key` object closes after it.
    scopes: &'a str,
}

fn render_context(context: &Context) -> Box<str> {
    let body = json!({
        "customer": context.customer.as_ref().map(
            |x| json!({ "id": x.id, "email": x.email, "name": x.name }),
        ),
        "service_account": context
            .service_account
            .as_ref()
            .map(|sa| json!({ "id": sa.id, "name": sa.name })),
        "organization": context.organization.as_ref().map(
            |o| json!({ "id": o.id, "name": o.name, "slug": o.slug }),
        ),
        "project": context.project.as_ref().map(
            |p| json!({ "id": p.id, "name": p.name, "slug": p.slug, "namespace": p.namespace }),
        ),
    })
    .to_string();
    // An object's text without its braces: members to place inside another object.
    body[1..body.len() - 1].into()
}

fn render_key(kind: CredentialKind, c: &HeldCredential) -> Box<str> {
    let own = json!({
        "id": c.id,
        "kind": kind.as_str(),
        "name": c.name,
        "prefix": c.display_prefix,
        "environment": c.environment.map(|e| e.as_str()),
        "expires_at": c.lifecycle.expiry(),
        "created_at": c.created_at,
    })
    .to_string();
    // The object left open, its scopes to follow.
    format!("\"key\":{},\"scopes\":", &own[..own.len() - 1]).into()
}

fn render_scopes(scopes: Option<&[Perm]>) -> Box<str> {
    json!(scope_strings(scopes)).to_string().into()
}

/// The credential's description with its own scopes, each piece rendered once for as long
/// as the record (or the context and scopes it shares with other keys) is held: answering
/// a hot key costs no JSON building.
fn described(record: &CredentialRecord) -> Description<'_> {
    let effective = record.effective();
    Description {
        context: record
            .context
            .rendered
            .get_or_init(|| render_context(&record.context)),
        key: record
            .rendered
            .get_or_init(|| render_key(record.kind, &record.credential)),
        scopes: effective
            .rendered
            .get_or_init(|| render_scopes(effective.scopes.as_deref())),
    }
}

fn scope_strings(scopes: Option<&[Perm]>) -> Option<Vec<String>> {
    scopes.map(|s| s.iter().map(ToString::to_string).collect())
}

/// An answer about an existing credential: `valid`, the `code` (`POST` only), its
/// description, the `missing` permissions when some were, and its rate-limit state.
fn answer(
    valid: bool,
    code: Option<&'static str>,
    description: Description<'_>,
    missing: Option<&[Perm]>,
    verified: &Verified,
) -> Response {
    let rate = &verified.rate;
    let Description {
        context,
        key,
        scopes,
    } = description;
    let mut body = String::with_capacity(context.len() + key.len() + scopes.len() + 160);
    let _ = write!(body, "{{\"valid\":{valid},");
    if let Some(code) = code {
        let _ = write!(body, "\"code\":{},", Value::from(code));
    }
    body.push_str(context);
    body.push(',');
    body.push_str(key);
    body.push_str(scopes);
    body.push('}');
    if let Some(missing) = missing {
        let _ = write!(body, ",\"missing\":{}", render_scopes(Some(missing)));
    }
    let _ = write!(
        body,
        ",\"ratelimit\":{{\"limit\":{},\"remaining\":{},\"reset\":{}}}",
        rate.limit, rate.remaining, rate.reset_secs
    );
    write_controls(&mut body, verified);
    body.push('}');
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body,
    )
        .into_response()
}

/// The members SPEC §3.5 adds: every limit checked, and the key's metadata, credits and
/// identity when it has them.
fn write_controls(body: &mut String, verified: &Verified) {
    body.push_str(",\"ratelimits\":[");
    for (i, l) in verified.limits.iter().enumerate() {
        if i > 0 {
            body.push(',');
        }
        let _ = write!(
            body,
            "{{\"name\":{},\"limit\":{},\"remaining\":{},\"reset\":{},\"exceeded\":{}}}",
            Value::from(l.name.as_str()),
            l.state.limit,
            l.state.remaining,
            l.state.reset_ms,
            l.state.exceeded
        );
    }
    body.push(']');
    if let Some(remaining) = verified.credits {
        let _ = write!(body, ",\"credits\":{{\"remaining\":{remaining}}}");
    }
    let Some(controls) = verified.record.controls.as_deref() else {
        return;
    };
    if let Some(meta) = &controls.meta {
        let _ = write!(body, ",\"meta\":{meta}");
    }
    if let Some(identity) = &controls.identity {
        let _ = write!(
            body,
            ",\"identity\":{}",
            json!({ "id": identity.id, "external_id": identity.external_id, "meta": identity.meta })
        );
    }
}

/// `GET /api/v1/api-keys/verify`: the caller presents a credential; the answer describes it.
#[utoipa::path(
    get,
    path = "/api/v1/api-keys/verify",
    tag = "verification",
    summary = "Verify the credential presented",
    description = "Describes the credential this request presents (any of the three headers) \
        and whose it is. Counts against the credential's rate limit.",
    security(("bearer" = []), ("x_api_key" = [])),
    responses(
        (status = 200, description = "The credential is valid.", body = openapi::Presented, headers(
            ("ratelimit" = String, description = "`\"per-minute\";r=<remaining>;t=<seconds>`"),
            ("ratelimit-policy" = String, description = "`\"per-minute\";q=<limit>;w=60`"),
        )),
        (status = 401, response = openapi::Unauthenticated),
        (status = 429, response = openapi::RateLimited),
    )
)]
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
    count(keyward_proto::verify::Code::Valid.as_str());
    let mut response = answer(true, None, described(&verified.record), None, &verified);
    insert_rate_headers(
        response.headers_mut(),
        verified.rate.limit,
        verified.rate.remaining,
        verified.rate.reset_secs,
    );
    response
}

/// Body of `POST /api/v1/keys/verify`.
// No `Debug`: it holds the key.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct VerifyRequest {
    /// The token the caller's own client presented.
    key: String,
    /// Permissions the key must hold.
    #[serde(default)]
    #[schema(value_type = Vec<openapi::Permission>)]
    require: Vec<String>,
    /// For a PAT: the organization whose permissions `require` is checked against.
    #[serde(default)]
    organization_id: Option<Uuid>,
    /// The caller's labels of this verification, kept with the key's recent
    /// verifications: at most 10, names of 1-40 characters, values of at most 200, without
    /// control or invisible formatting characters, and never carrying a key or token.
    #[serde(default)]
    #[schema(schema_with = openapi::tags_schema)]
    tags: Option<BTreeMap<String, String>>,
    /// Credits this verification spends from the key's pool (or its identity's), 0-1000.
    #[serde(default)]
    #[schema(minimum = 0, maximum = 1000, default = 1)]
    cost: Option<i64>,
    /// The tenant the relaying service serves: a key of another organization or project
    /// answers `WRONG_ORGANIZATION` or `WRONG_PROJECT`, says nothing else and spends
    /// nothing. An organization-wide key is in every project of its organization; a PAT
    /// is checked in the expected organization, and answers `WRONG_ORGANIZATION` when its
    /// user is not a member there.
    #[serde(default)]
    expect: Option<ExpectRequest>,
    /// Named limits of the key (or its identity) to count this verification against,
    /// each with its cost; auto-applied limits count 1 unless named here.
    #[serde(default)]
    #[schema(max_items = 20)]
    ratelimits: Option<Vec<LimitRequest>>,
}

/// The tenant a relaying service serves.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct ExpectRequest {
    #[serde(default)]
    organization_id: Option<Uuid>,
    #[serde(default)]
    project_id: Option<Uuid>,
}

/// A named limit a verification counts against.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct LimitRequest {
    #[schema(min_length = 1, max_length = 64)]
    name: String,
    /// 0-1000; 0 reads the limit without counting.
    #[serde(default)]
    #[schema(minimum = 0, maximum = 1000, default = 1)]
    cost: Option<u32>,
}

/// A `POST /api/v1/keys/verify` body, checked: the key, the permissions it must hold,
/// the organization they are checked in, and the caller's tags. (No `Debug`: it holds
/// the key.)
pub struct VerifyBody {
    pub key: String,
    pub question: Question,
    pub tags: Tags,
}

/// Parses and checks a verify body before any lookup; `is_token` says whether a word
/// looks like one of this server's tokens (tags must never carry one).
pub fn parse_verify_body(
    body: &[u8],
    aliases: &ScopeAliases,
    is_token: impl Fn(&str) -> bool,
) -> Result<VerifyBody, AppError> {
    let request: VerifyRequest = super::json::from_slice(body)?;
    let required = request
        .require
        .iter()
        .enumerate()
        .map(|(i, s)| {
            aliases
                .parse_scope(s)
                .map_err(|e| AppError::invalid(format!("require[{i}]"), e))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let tags = Tags::parse(request.tags.unwrap_or_default())?;
    tags.refuse_tokens(&request.key, is_token)?;
    let cost = request.cost.unwrap_or(1);
    if !(0..=MAX_COST).contains(&cost) {
        return Err(AppError::invalid(
            "cost",
            format!("must be between 0 and {MAX_COST}"),
        ));
    }
    let asked = request.ratelimits.unwrap_or_default();
    if asked.len() > MAX_LIMITS {
        return Err(AppError::invalid(
            "ratelimits",
            format!("must name at most {MAX_LIMITS} limits"),
        ));
    }
    let mut limits: Vec<(String, u32)> = Vec::with_capacity(asked.len());
    for (i, l) in asked.into_iter().enumerate() {
        let cost = l.cost.unwrap_or(1);
        if u64::from(cost) > MAX_COST.unsigned_abs() {
            return Err(AppError::invalid(
                format!("ratelimits[{i}].cost"),
                format!("must be between 0 and {MAX_COST}"),
            ));
        }
        if l.name.is_empty() || l.name.len() > 64 {
            return Err(AppError::invalid(
                format!("ratelimits[{i}].name"),
                "must be 1-64 characters",
            ));
        }
        if limits.iter().any(|(n, _)| *n == l.name) {
            return Err(AppError::invalid(
                format!("ratelimits[{i}].name"),
                "is named twice",
            ));
        }
        limits.push((l.name, cost));
    }
    Ok(VerifyBody {
        key: request.key,
        question: Question {
            require: required,
            organization_id: request.organization_id,
            expect: request
                .expect
                .map(|e| Expect {
                    organization_id: e.organization_id,
                    project_id: e.project_id,
                })
                .unwrap_or_default(),
            spend: Spend {
                cost,
                limits,
                counts: true,
            },
        },
        tags,
    })
}

/// `POST /api/v1/keys/verify`: a service checks a key its own caller presented.
#[utoipa::path(
    post,
    path = "/api/v1/keys/verify",
    tag = "verification",
    summary = "Check a key a caller presented",
    description = "For a service checking the key its own caller presented: whether it is \
        valid, holds the permissions in `require`, and whose it is. Needs no credential of \
        its own; wrong guesses are limited per client address.",
    request_body = VerifyRequest,
    responses(
        (status = 200, description = "The key was checked: `valid` and `code` say how it went.", body = openapi::Checked),
        (status = 400, response = openapi::InvalidInput),
        (status = 413, response = openapi::TooLarge),
        (status = 429, response = openapi::RateLimited),
    )
)]
pub async fn verify_body(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    body: Bytes,
) -> Response {
    let aliases = &state.services.config.scope_aliases;
    let request = match parse_verify_body(&body, aliases, |word| {
        state.services.looks_like_own_token(word)
    }) {
        Ok(request) => request,
        Err(err) => return err.into_response(),
    };
    let VerifyBody {
        key,
        question,
        tags,
    } = request;
    let check = state
        .services
        .check_key(&key, &question, ip.as_deref(), &tags)
        .await;
    respond(check)
}

/// The answer to a check or a lookup.
fn respond(check: Result<KeyCheck, AppError>) -> Response {
    match check {
        Ok(KeyCheck::Refused(failure)) => {
            count(failure.code());
            Json(json!({ "valid": false, "code": failure.code() })).into_response()
        }
        Ok(KeyCheck::Elsewhere(code)) => {
            count(code);
            Json(json!({ "valid": false, "code": code })).into_response()
        }
        Ok(KeyCheck::Checked {
            outcome,
            scopes_in_org,
            missing,
            verified,
        }) => {
            count(outcome.code());
            let record = &verified.record;
            let in_org;
            let mut description = described(record);
            if let Some(scopes) = &scopes_in_org {
                in_org = render_scopes(Some(scopes));
                description.scopes = &in_org;
            }
            answer(
                outcome == Outcome::Valid,
                Some(outcome.code()),
                description,
                (outcome == Outcome::InsufficientPermissions).then_some(missing.as_slice()),
                &verified,
            )
        }
        Err(err) => {
            count(refusal_code(&err));
            err.into_response()
        }
    }
}

/// Body of `POST /api/v1/keys/lookup`.
// No `Debug`: it holds the key.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct LookupRequest {
    /// The key to look up.
    key: String,
}

/// `POST /api/v1/keys/lookup`: everything verify would say of a key, spending nothing.
#[utoipa::path(
    post,
    path = "/api/v1/keys/lookup",
    tag = "verification",
    summary = "Look a key up without spending",
    description = "Answers as `POST /api/v1/keys/verify` does, but spends no credits, counts \
        no limit and records no use. Needs `api_keys:read` in the key's organization; a key \
        the caller may not read is answered as `NOT_FOUND`.",
    request_body = LookupRequest,
    security(("bearer" = []), ("x_api_key" = []), ("session" = [])),
    responses(
        (status = 200, description = "The key as verify would describe it.", body = openapi::Checked),
        (status = 400, response = openapi::InvalidInput),
        (status = 401, response = openapi::Unauthenticated),
        (status = 413, response = openapi::TooLarge),
        (status = 429, response = openapi::RateLimited),
    )
)]
pub async fn lookup(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    body: Bytes,
) -> Response {
    let request: LookupRequest = match super::json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => return e.into_response(),
    };
    respond(state.services.look_up_key(&actor, &request.key).await)
}

/// Counts an answer of either endpoint by its code (`/metrics`).
fn count(code: &'static str) {
    crate::telemetry::VERIFICATIONS_BY_CODE.increment(code);
}

/// The code of a verification that ended in an error.
fn refusal_code(err: &AppError) -> &'static str {
    match err {
        AppError::Unauthenticated(failure) => failure.code(),
        AppError::RateLimited { .. } => keyward_proto::verify::Code::RateLimited.as_str(),
        _ => keyward_proto::verify::Code::Error.as_str(),
    }
}

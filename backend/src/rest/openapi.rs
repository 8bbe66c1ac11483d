//! The REST surface's OpenAPI 3.1 document (SPEC §12), served at `/api/v1/openapi.json`.
//!
//! It is generated from the code: every REST route is registered through
//! [`utoipa_axum::routes!`], which only takes a handler carrying a `#[utoipa::path]`
//! annotation, so a route cannot be served without being documented. The types below
//! describe the answers the handlers write by hand (the verify answers are assembled from
//! pre-rendered pieces for speed); the integration tests read real answers into them with
//! unknown fields refused, and `scripts/schemathesis.sh` checks the live server against the
//! whole document.

use axum::{
    Extension,
    body::Bytes,
    http::header,
    response::{IntoResponse, Response},
};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use utoipa::{
    Modify, OpenApi, ToResponse, ToSchema,
    openapi::security::{ApiKey, ApiKeyValue, Http, HttpAuthScheme, SecurityScheme},
};
use uuid::Uuid;

use crate::{
    domain::{
        analytics::{MAX_TAG_NAME_LEN, MAX_TAG_VALUE_LEN, MAX_TAGS},
        sessions::SESSION_COOKIE,
    },
    error::AppError,
};

/// The document's fixed parts; the paths are added as the routes are registered.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Keyward",
        description = "Keyward's REST surface: credential verification, the CLI's sign-in flows, \
            audit exports and operation. Everything else the dashboard does is automated over \
            GraphQL at `/graphql` (its schema is served at `/graphql/schema.json`).\n\n\
            Every error is `application/problem+json` (RFC 9457) with a machine `code` and the \
            `request_id` also sent as `x-request-id`.",
        license(name = "Apache-2.0", identifier = "Apache-2.0"),
    ),
    modifiers(&Schemes),
    tags(
        (name = "verification", description = "Verify a credential and learn whose it is (SPEC §4)."),
        (name = "cli", description = "The CLI's sign-in: device flow (RFC 8628), loopback code exchange (RFC 8252)."),
        (name = "audit", description = "Signed audit-log exports (SPEC §9)."),
        (name = "organizations", description = "Organizations you belong to (SPEC §4.4, §5)."),
        (name = "members", description = "Members and invites (SPEC §4.4, §5)."),
        (name = "roles", description = "Built-in and custom roles (SPEC §4.4, §5)."),
        (name = "api keys", description = "An organization's API keys with their credits, limits, metadata and identity (SPEC §3.5, §4.4)."),
        (name = "webhooks", description = "Endpoints told of the organization's events, signed per Standard Webhooks, and their delivery log (SPEC §16)."),
        (name = "identities", description = "The product's customers, sharing credits and limits across their keys (SPEC §3.5)."),
        (name = "service accounts", description = "Non-human members and their keys (SPEC §4.4)."),
        (name = "personal access tokens", description = "Your own tokens (SPEC §4.4)."),
        (name = "sign-in", description = "Dashboard sign-in (SPEC §6): browser redirects and the session cookie."),
        (name = "operation", description = "Liveness, readiness, metrics and this document (SPEC §12)."),
    ),
    components(responses(
        Unauthenticated,
        Forbidden,
        InvalidInput,
        RateLimited,
        TooLarge,
        NotFound,
        Conflict,
        Timeout,
        Unavailable
    ))
)]
pub struct ApiDoc;

/// The credential schemes every authenticated endpoint accepts (SPEC §4).
struct Schemes;

impl Modify for Schemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        let mut bearer = Http::new(HttpAuthScheme::Bearer);
        bearer.description = Some(
            "An API key, personal access token, service-account key or OIDC access token. \
             `Authorization: ApiKey <token>` is accepted the same way."
                .into(),
        );
        components.add_security_scheme("bearer", SecurityScheme::Http(bearer));
        components.add_security_scheme(
            "x_api_key",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "X-API-Key",
                "The same credentials as `bearer`, in their own header.",
            ))),
        );
        let mut metrics = Http::new(HttpAuthScheme::Bearer);
        metrics.description = Some("`KEYWARD_METRICS_TOKEN`, for `/metrics` only.".into());
        components.add_security_scheme("metrics_token", SecurityScheme::Http(metrics));
        components.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                SESSION_COOKIE,
                "The dashboard's session; a request that changes state must come from the \
                 dashboard's own origin.",
            ))),
        );
    }
}

/// An RFC 9457 problem: every REST error.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Problem {
    /// `urn:keyward:problem:<code>`.
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    /// What went wrong, for people. Never carries a secret.
    pub detail: String,
    /// The machine code: `MISSING`, `MALFORMED`, `NOT_FOUND`, `EXPIRED`, `REVOKED`,
    /// `DISABLED`, `SUSPENDED`, `OWNER_REMOVED` (401); `NOT_A_MEMBER`, `FORBIDDEN` (403);
    /// `INVALID_INPUT` (400), `RATE_LIMITED` (429), and so on.
    pub code: String,
    /// The request's id, as in the `x-request-id` header.
    pub request_id: String,
    /// For `INVALID_INPUT`: the field at fault.
    #[serde(default)]
    pub field: Option<String>,
}

/// Not authenticated: no credential, or one that is malformed, unknown, revoked, expired,
/// disabled or suspended.
#[derive(ToResponse)]
#[response(
    description = "Not authenticated: the `code` says why.",
    content_type = "application/problem+json",
    headers(("www-authenticate" = String, description = "`Bearer realm=\"keyward\"`, with `error=\"invalid_token\"` when a credential was presented."))
)]
pub struct Unauthenticated(#[to_schema] pub Problem);

/// Authenticated but not allowed.
#[derive(ToResponse)]
#[response(
    description = "Authenticated but not allowed (`NOT_A_MEMBER`, `FORBIDDEN` naming the missing permission).",
    content_type = "application/problem+json"
)]
pub struct Forbidden(#[to_schema] pub Problem);

/// The request does not parse or breaks a bound.
#[derive(ToResponse)]
#[response(
    description = "`INVALID_INPUT`: the request does not parse or breaks a bound; `field` names what.",
    content_type = "application/problem+json"
)]
pub struct InvalidInput(#[to_schema] pub Problem);

/// Too many requests.
#[derive(ToResponse)]
#[response(
    description = "`RATE_LIMITED`: wait `Retry-After` seconds.",
    content_type = "application/problem+json",
    headers(
        ("retry-after" = u64, description = "Seconds to wait."),
        ("ratelimit" = String, description = "`\"per-minute\";r=0;t=<seconds>`"),
        ("ratelimit-policy" = String, description = "`\"per-minute\";q=<limit>;w=60`"),
    )
)]
pub struct RateLimited(#[to_schema] pub Problem);

/// The body is larger than the server accepts.
#[derive(ToResponse)]
#[response(
    description = "`PAYLOAD_TOO_LARGE`: the body is over the server's limit.",
    content_type = "application/problem+json"
)]
pub struct TooLarge(#[to_schema] pub Problem);

/// Nothing there (or nothing the caller may know of).
#[derive(ToResponse)]
#[response(
    description = "`NOT_FOUND`.",
    content_type = "application/problem+json"
)]
pub struct NotFound(#[to_schema] pub Problem);

/// A conflict with the server's state.
#[derive(ToResponse)]
#[response(
    description = "`CONFLICT`: the request collides with the server's state; try again.",
    content_type = "application/problem+json"
)]
pub struct Conflict(#[to_schema] pub Problem);

/// Any request: answered within 30 seconds or not at all.
#[derive(ToResponse)]
#[response(
    description = "`TIMEOUT`: the request was not answered within 30 seconds.",
    content_type = "application/problem+json"
)]
pub struct Timeout(#[to_schema] pub Problem);

/// Any request the database is needed for, while it is away.
#[derive(ToResponse)]
#[response(
    description = "`UNAVAILABLE`: the database does not answer; retry after `Retry-After` seconds.",
    content_type = "application/problem+json",
    headers(("retry-after" = u64, description = "Seconds to wait."))
)]
pub struct Unavailable(#[to_schema] pub Problem);

/// The refusals any management read may answer: 400, 401, 403, 404 and 429.
pub struct Refusals;

/// The refusals any management write may answer: those of [`Refusals`], 409 and 413.
pub struct WriteRefusals;

fn refusals(
    with: &[(&str, &str)],
) -> std::collections::BTreeMap<String, utoipa::openapi::RefOr<utoipa::openapi::Response>> {
    use utoipa::openapi::{Ref, RefOr};
    [
        ("400", "InvalidInput"),
        ("401", "Unauthenticated"),
        ("403", "Forbidden"),
        ("404", "NotFound"),
        ("429", "RateLimited"),
    ]
    .iter()
    .chain(with)
    .map(|(status, name)| {
        (
            (*status).to_owned(),
            RefOr::Ref(Ref::from_response_name(*name)),
        )
    })
    .collect()
}

impl utoipa::IntoResponses for Refusals {
    fn responses()
    -> std::collections::BTreeMap<String, utoipa::openapi::RefOr<utoipa::openapi::Response>> {
        refusals(&[])
    }
}

impl utoipa::IntoResponses for WriteRefusals {
    fn responses()
    -> std::collections::BTreeMap<String, utoipa::openapi::RefOr<utoipa::openapi::Response>> {
        refusals(&[("409", "Conflict"), ("413", "TooLarge")])
    }
}

/// The collections whose `POST` creates an item, with where the new item's id is in the
/// answer: the links from each creation to every operation on the item are built from
/// these, so a client (and Schemathesis' stateful phase) can follow them.
const CREATED: &[(&str, &str)] = &[
    ("/api/v1/orgs/{org}/api-keys", "/key/id"),
    ("/api/v1/orgs/{org}/identities", "/id"),
    ("/api/v1/orgs/{org}/webhook-endpoints", "/endpoint/id"),
    ("/api/v1/orgs/{org}/service-accounts", "/id"),
    ("/api/v1/orgs/{org}/roles", "/id"),
    ("/api/v1/orgs/{org}/invites", "/id"),
    ("/api/v1/pats", "/pat/id"),
];

/// Adds what every operation may answer (a request not answered in time, and one the
/// database is needed for while it is away), and the links from each creation to the
/// operations on what it created.
pub fn finish(mut api: utoipa::openapi::OpenApi) -> utoipa::openapi::OpenApi {
    use utoipa::openapi::{Ref, RefOr};
    add_links(&mut api);
    for item in api.paths.paths.values_mut() {
        for operation in [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
        ]
        .into_iter()
        .flatten()
        {
            operation
                .responses
                .responses
                .entry("408".into())
                .or_insert_with(|| RefOr::Ref(Ref::from_response_name("Timeout")));
            operation
                .responses
                .responses
                .entry("503".into())
                .or_insert_with(|| RefOr::Ref(Ref::from_response_name("Unavailable")));
        }
    }
    api
}

fn add_links(api: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::{RefOr, link::LinkBuilder};
    for (collection, pointer) in CREATED {
        let item_path = format!("{collection}/{{id}}");
        let mut links = Vec::new();
        for (path, item) in &api.paths.paths {
            if *path != item_path && !path.starts_with(&format!("{item_path}/")) {
                continue;
            }
            for operation in [&item.get, &item.patch, &item.post, &item.delete]
                .into_iter()
                .flatten()
            {
                let Some(id) = &operation.operation_id else {
                    continue;
                };
                let mut link = LinkBuilder::new()
                    .operation_id(id)
                    .parameter("id", format!("$response.body#{pointer}"));
                if collection.contains("{org}") {
                    link = link.parameter("org", "$request.path.org");
                }
                let link = link
                    .description(format!("`{path}` for the item just created."))
                    .build();
                links.push((id.clone(), link));
            }
        }
        let created = api
            .paths
            .paths
            .get_mut(*collection)
            .and_then(|item| item.post.as_mut())
            .and_then(|post| post.responses.responses.get_mut("201"));
        if let Some(RefOr::T(response)) = created {
            for (name, link) in links {
                response.links.insert(name, RefOr::T(link));
            }
        }
    }
}

/// The owner of a credential: the creator of an API key, the user of a PAT.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CustomerRef {
    pub id: Uuid,
    pub email: String,
    pub name: String,
}

/// The service account a key belongs to.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ServiceAccountRef {
    pub id: Uuid,
    pub name: String,
}

/// The organization a credential belongs to.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OrganizationRef {
    pub id: Uuid,
    pub name: String,
    pub slug: String,
}

/// The project a key is bound to, with its storage namespace.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProjectRef {
    pub id: Uuid,
    pub name: String,
    pub slug: String,
    pub namespace: String,
}

/// The credential itself (never its secret).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct KeyDescription {
    pub id: Uuid,
    /// `api_key`, `pat` or `service_account_key`.
    pub kind: String,
    pub name: String,
    /// The displayable start of the token, e.g. `kw_sk_live_3Fa9`.
    pub prefix: String,
    #[schema(required)]
    pub environment: Option<String>,
    /// What it may do; `null` for a PAT without scopes (whatever its user may do).
    #[schema(required)]
    pub scopes: Option<Vec<String>>,
    #[schema(required)]
    pub expires_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

/// The credential's rate limit after this request.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RateLimitState {
    /// Requests allowed per minute.
    pub limit: u32,
    pub remaining: u32,
    /// Seconds until the window resets.
    pub reset: u64,
}

/// One limit checked by a verification (SPEC §3.5): the key's per-minute limit
/// (`per-minute`) first, then its named limits and its identity's.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NamedLimitState {
    pub name: String,
    /// Allowed per window.
    pub limit: u32,
    pub remaining: u32,
    /// Milliseconds until the whole limit is available again.
    pub reset: u64,
    /// This limit refused the request.
    pub exceeded: bool,
}

/// The credits of the pool a verification spends (the key's, else its identity's).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreditsState {
    /// About what is left, after this request.
    pub remaining: i64,
}

/// The identity (a customer of the product) a key belongs to.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IdentityRef {
    pub id: Uuid,
    /// The product's own id for its customer.
    pub external_id: String,
    /// The identity's metadata.
    #[schema(required)]
    pub meta: Option<serde_json::Map<String, serde_json::Value>>,
}

/// `GET /api/v1/api-keys/verify`: the credential presented, and whose it is.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Presented {
    /// Always `true`: a refusal is a 401.
    pub valid: bool,
    pub key: KeyDescription,
    #[schema(required)]
    pub customer: Option<CustomerRef>,
    #[schema(required)]
    pub service_account: Option<ServiceAccountRef>,
    /// `null` for a PAT: it belongs to no single organization.
    #[schema(required)]
    pub organization: Option<OrganizationRef>,
    #[schema(required)]
    pub project: Option<ProjectRef>,
    pub ratelimit: RateLimitState,
    /// Every limit checked.
    pub ratelimits: Vec<NamedLimitState>,
    /// The key's metadata, when it has some.
    pub meta: Option<serde_json::Map<String, serde_json::Value>>,
    /// When the key (or its identity) has credits.
    pub credits: Option<CreditsState>,
    /// When the key belongs to an identity.
    pub identity: Option<IdentityRef>,
}

/// A permission, `resource:level`: the shape `Perm::parse` accepts.
#[derive(ToSchema)]
#[schema(
    pattern = "^[a-z][a-z0-9_-]{0,47}:(read|write|delete|admin)$",
    example = "deployments:write"
)]
pub struct Permission(pub String);

/// Characters a tag refuses: control characters and invisible formatting.
const NO_HIDDEN: &str =
    "^[^\\u0000-\\u001f\\u007f-\\u009f\\u200b-\\u200f\\u202a-\\u202e\\u2060-\\u206f\\ufeff]*$";

/// The bounds of a verification's tags that a schema can state (not their total size,
/// nor that they carry no token).
pub fn tags_schema() -> utoipa::openapi::Object {
    use utoipa::openapi::{ObjectBuilder, Type, schema::AdditionalProperties};
    let text = |min: Option<usize>, max: usize| {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .min_length(min)
            .max_length(Some(max))
            .pattern(Some(NO_HIDDEN))
    };
    ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::SchemaType::from_iter([
            Type::Object,
            Type::Null,
        ]))
        .max_properties(Some(MAX_TAGS))
        .property_names(Some(text(Some(1), MAX_TAG_NAME_LEN).build()))
        .additional_properties(Some(AdditionalProperties::from(text(
            None,
            MAX_TAG_VALUE_LEN,
        ))))
        .build()
}

/// `POST /api/v1/keys/verify`: the answer. A refused key has only `valid` and `code`; a
/// key that exists and belongs to a live owner is described as by the `GET` endpoint.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Checked {
    pub valid: bool,
    /// `VALID`, `INSUFFICIENT_PERMISSIONS`, `RATE_LIMITED` (the key is over a limit; it
    /// is described all the same), `USAGE_EXCEEDED` (its credits ran out),
    /// `WRONG_ORGANIZATION` or `WRONG_PROJECT` (another tenant's than `expect`: nothing
    /// else is said), or why the key was refused (`MALFORMED`, `NOT_FOUND`,
    /// `EXPIRED`, `REVOKED`, `DISABLED`, `SUSPENDED`, `OWNER_REMOVED`).
    pub code: String,
    pub key: Option<KeyDescription>,
    pub customer: Option<CustomerRef>,
    pub service_account: Option<ServiceAccountRef>,
    pub organization: Option<OrganizationRef>,
    pub project: Option<ProjectRef>,
    /// With `INSUFFICIENT_PERMISSIONS`: the required permissions the key lacks.
    pub missing: Option<Vec<String>>,
    pub ratelimit: Option<RateLimitState>,
    /// Every limit checked.
    pub ratelimits: Option<Vec<NamedLimitState>>,
    /// The key's metadata, when it has some.
    pub meta: Option<serde_json::Map<String, serde_json::Value>>,
    /// When the key (or its identity) has credits.
    pub credits: Option<CreditsState>,
    /// When the key belongs to an identity.
    pub identity: Option<IdentityRef>,
}

/// `GET /health`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Health {
    /// `ok`.
    pub status: String,
}

/// `GET /ready`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Readiness {
    /// `ready` or `not ready`.
    pub status: String,
    /// The database answers.
    pub database: bool,
    /// Every migration is applied.
    pub migrations: bool,
}

/// `GET /auth/methods`: the ways of signing in this server offers.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignInMethods {
    /// An OIDC provider is configured.
    pub oidc: bool,
    /// The development sign-in link is enabled.
    pub development: bool,
}

/// `POST /api/v1/device/code`: the device authorization (RFC 8628 §3.2).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeviceAuthorization {
    /// The secret the CLI polls with; never shown to the user.
    pub device_code: String,
    /// The short code the user confirms in the browser.
    pub user_code: String,
    pub verification_uri: String,
    pub verification_uri_complete: String,
    /// Seconds until the codes expire.
    pub expires_in: u64,
    /// Seconds to wait between polls.
    pub interval: u64,
}

/// A personal access token issued to the CLI (RFC 6749 §5.1). Sent with
/// `Cache-Control: no-store`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IssuedToken {
    /// The `kw_pat_…` token, shown this once.
    pub access_token: String,
    /// `Bearer`.
    pub token_type: String,
    /// Seconds until it expires.
    pub expires_in: i64,
    /// The token's name.
    pub name: String,
}

impl std::fmt::Debug for IssuedToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuedToken")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// An OAuth error (RFC 6749 §5.2; RFC 8628 §3.5 while polling).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OAuthError {
    /// `authorization_pending`, `slow_down`, `access_denied`, `expired_token`,
    /// `invalid_grant` or `unsupported_grant_type`.
    pub error: String,
    pub error_description: String,
}

/// `POST /api/v1/pats/current/revoke`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RevokedToken {
    pub id: Uuid,
    /// `true`.
    pub revoked: bool,
}

/// The document as served: rendered once, when the router is built. `None` when it
/// could not be rendered (then it is answered with an internal error, never a stand-in).
#[derive(Clone)]
pub struct Document(Option<Bytes>);

impl Document {
    pub fn new(api: &utoipa::openapi::OpenApi) -> Self {
        match api.to_pretty_json() {
            Ok(json) => Self(Some(Bytes::from(json))),
            Err(e) => {
                tracing::error!(error = %e, "rendering the OpenAPI document");
                Self(None)
            }
        }
    }
}

/// `GET /api/v1/openapi.json`: this document.
#[utoipa::path(
    get,
    path = "/api/v1/openapi.json",
    tag = "operation",
    responses((status = 200, description = "The OpenAPI 3.1 document of the REST surface.", content_type = "application/json", body = Object))
)]
pub async fn document(Extension(document): Extension<Document>) -> Response {
    match document.0 {
        Some(json) => ([(header::CONTENT_TYPE, "application/json")], json).into_response(),
        None => AppError::internal(std::io::Error::other(
            "the OpenAPI document could not be rendered",
        ))
        .into_response(),
    }
}

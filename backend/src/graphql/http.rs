//! The HTTP edge of GraphQL: JSON body parsing with clear errors, authentication by
//! the shared extractor, and GraphiQL.

use std::path::Path;

use std::sync::Arc;

use axum::{
    Extension, Json, Router,
    body::Bytes,
    http::{StatusCode, header},
    response::{Html, IntoResponse, Response},
    routing::get,
};
use serde_json::json;

use super::KeywardSchema;
use crate::{auth::Authenticated, domain::Services, error::AppError, state::AppState};

/// What the GraphQL routes serve: the schema, and GraphiQL when the dashboard build
/// carries it.
pub struct Endpoint {
    schema: KeywardSchema,
    graphiql: Option<Graphiql>,
}

/// `POST /graphql`, `GET /graphql` (GraphiQL) and `GET /graphql/schema.json`, over
/// `services`.
pub fn routes(services: &Services) -> Router<AppState> {
    let endpoint = Arc::new(Endpoint {
        graphiql: Graphiql::load(services.config.dashboard_dir.as_deref()),
        schema: super::build_schema(Some(services.clone())),
    });
    Router::new()
        .route("/graphql", get(graphiql).post(execute))
        .route("/graphql/schema.json", get(graphiql_schema))
        .layer(Extension(endpoint))
}

/// GraphiQL's page: every script and style it loads is the server's own (the
/// dashboard build carries them in `graphiql/`), pinned by an integrity hash.
#[derive(Debug)]
pub struct Graphiql {
    page: String,
}

/// The page's policy: its own files, and GraphiQL's inline styles; nothing from another
/// origin, no framing.
pub const GRAPHIQL_CSP: &str = "default-src 'none'; script-src 'self'; \
    style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self' data:; \
    connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'; \
    object-src 'none'";

/// The files of `graphiql/`, styles first, in the order the page loads them.
const STYLES: [&str; 2] = ["graphiql.min.css", "keyward.css"];
const SCRIPTS: [&str; 4] = [
    "react.production.min.js",
    "react-dom.production.min.js",
    "graphiql.min.js",
    "start.js",
];

impl Graphiql {
    /// GraphiQL from a dashboard build, or `None` when it carries none.
    pub fn load(dashboard_dir: Option<&Path>) -> Option<Self> {
        use base64::Engine;
        use sha2::Digest;
        let dir = dashboard_dir?.join("graphiql");
        // The address carries a digest, so a changed file is never taken from a cache;
        // the integrity attribute makes the browser check it.
        let pinned = |name: &str| -> Option<(String, String)> {
            let bytes = std::fs::read(dir.join(name)).ok()?;
            let digest = sha2::Sha384::digest(&bytes);
            let url = format!("/graphiql/{name}?v={}", hex::encode(&digest[..8]));
            let integrity = format!(
                "sha384-{}",
                base64::engine::general_purpose::STANDARD.encode(digest)
            );
            Some((url, integrity))
        };
        let mut head = String::new();
        for name in STYLES {
            let (url, integrity) = pinned(name)?;
            head.push_str(&format!(
                "<link rel=\"stylesheet\" href=\"{url}\" integrity=\"{integrity}\">\n"
            ));
        }
        let mut body = String::new();
        for name in SCRIPTS {
            let (url, integrity) = pinned(name)?;
            body.push_str(&format!(
                "<script src=\"{url}\" integrity=\"{integrity}\"></script>\n"
            ));
        }
        Some(Self {
            page: format!(
                "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
                 <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
                 <title>Keyward GraphQL</title>\n{head}</head>\n<body>\n\
                 <div id=\"graphiql\">Loading GraphiQL…</div>\n{body}</body>\n</html>\n"
            ),
        })
    }
}

/// The introspection GraphiQL shows its documentation and completions from. Deeper than
/// any query a client may send ([`super::MAX_DEPTH`]), so it is answered here, once, by
/// the server itself.
const INTROSPECTION: &str = "query IntrospectionQuery {
  __schema {
    queryType { name } mutationType { name } subscriptionType { name }
    types { ...FullType }
    directives { name description locations args { ...InputValue } }
  }
}
fragment FullType on __Type {
  kind name description
  fields(includeDeprecated: true) {
    name description args { ...InputValue } type { ...TypeRef } isDeprecated deprecationReason
  }
  inputFields { ...InputValue }
  interfaces { ...TypeRef }
  enumValues(includeDeprecated: true) { name description isDeprecated deprecationReason }
  possibleTypes { ...TypeRef }
}
fragment InputValue on __InputValue { name description type { ...TypeRef } defaultValue }
fragment TypeRef on __Type {
  kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name
  ofType { kind name ofType { kind name ofType { kind name ofType { kind name } } } } } } } }
}";

/// GraphiQL, or the answer for a server built without it.
fn carried(endpoint: &Endpoint) -> Result<&Graphiql, AppError> {
    endpoint.graphiql.as_ref().ok_or(AppError::NotFound(
        "GraphiQL (this server was built without the dashboard)",
    ))
}

/// `GET /graphql/schema.json`: the schema as introspection, for GraphiQL (served with it).
pub async fn graphiql_schema(Extension(endpoint): Extension<Arc<Endpoint>>) -> Response {
    static ANSWER: tokio::sync::OnceCell<Result<String, String>> =
        tokio::sync::OnceCell::const_new();
    if let Err(absent) = carried(&endpoint) {
        return absent.into_response();
    }
    let answer = ANSWER
        .get_or_init(|| async {
            let schema = async_graphql::Schema::build(
                super::QueryRoot::default(),
                super::MutationRoot::default(),
                async_graphql::EmptySubscription,
            )
            .finish();
            let response = schema.execute(INTROSPECTION).await;
            if !response.errors.is_empty() {
                return Err(format!("{:?}", response.errors));
            }
            serde_json::to_string(&response.data).map_err(|e| e.to_string())
        })
        .await;
    match answer {
        Ok(json) => (
            [
                (header::CONTENT_TYPE, "application/json"),
                (header::CACHE_CONTROL, "no-cache"),
            ],
            json.clone(),
        )
            .into_response(),
        Err(why) => AppError::internal(std::io::Error::other(why.clone())).into_response(),
    }
}

/// `GET /graphql`: GraphiQL, from the server itself. Queries are never executed over GET.
pub async fn graphiql(Extension(endpoint): Extension<Arc<Endpoint>>) -> Response {
    let graphiql = match carried(&endpoint) {
        Ok(graphiql) => graphiql,
        Err(absent) => return absent.into_response(),
    };
    (
        [
            (header::CONTENT_SECURITY_POLICY, GRAPHIQL_CSP),
            (header::X_FRAME_OPTIONS, "DENY"),
            (header::REFERRER_POLICY, "no-referrer"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        Html(graphiql.page.clone()),
    )
        .into_response()
}

fn error_body(status: StatusCode, err: &AppError) -> Response {
    let mut extensions = json!({ "code": err.code() });
    if let AppError::Unauthenticated(f) = err {
        extensions["reason"] = json!(f.code());
    }
    let mut response = (
        status,
        Json(json!({ "errors": [{ "message": err.to_string(), "extensions": extensions }] })),
    )
        .into_response();
    if let Some(c) = crate::rest::problem::challenge(err).and_then(|c| c.parse().ok()) {
        response.headers_mut().insert(header::WWW_AUTHENTICATE, c);
    }
    response
}

/// `POST /graphql`.
pub async fn execute(
    Extension(endpoint): Extension<Arc<Endpoint>>,
    auth: Result<Authenticated, AppError>,
    body: Bytes,
) -> Response {
    let request: async_graphql::Request = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => {
            let err = AppError::invalid("body", format!("is not a GraphQL request in JSON: {e}"));
            return error_body(StatusCode::BAD_REQUEST, &err);
        }
    };
    let Authenticated(actor) = match auth {
        Ok(a) => a,
        Err(err) => {
            if let AppError::RateLimited { .. } = err {
                return err.into_response();
            }
            return error_body(crate::rest::problem::status(&err), &err);
        }
    };
    let response = endpoint.schema.execute(request.data(actor)).await;
    let invalid_request = response.data == async_graphql::Value::Null
        && response.errors.iter().any(|e| {
            e.extensions
                .as_ref()
                .and_then(|x| x.get("code"))
                .is_some_and(|c| *c == async_graphql::Value::from("INVALID_INPUT"))
        });
    let status = if invalid_request {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    (status, Json(response)).into_response()
}

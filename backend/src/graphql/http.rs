//! The HTTP edge of GraphQL: JSON body parsing with clear errors, authentication by
//! the shared extractor, and GraphiQL.

use async_graphql::http::GraphiQLSource;
use axum::{
    Json,
    body::Bytes,
    extract::State,
    http::{StatusCode, header},
    response::{Html, IntoResponse, Response},
};
use serde_json::json;

use crate::{app::AppState, auth::Authenticated, error::AppError};

/// `GET /graphql`: GraphiQL. Queries are never executed over GET.
pub async fn graphiql() -> impl IntoResponse {
    Html(GraphiQLSource::build().endpoint("/graphql").finish())
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
    State(state): State<AppState>,
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
    let response = state.schema.execute(request.data(actor)).await;
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

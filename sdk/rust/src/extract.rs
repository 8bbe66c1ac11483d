//! Protecting a product's routes: the [`VerifiedKey`] extractor for axum handlers and the
//! [`VerifyLayer`] for any tower service. Both read the credential as Keyward does
//! (`Authorization: Bearer`, `Authorization: ApiKey` or `X-API-Key`) and refuse a request
//! without a valid key with a JSON problem naming the reason.

use std::{
    future::Future,
    pin::Pin,
    task::{Context, Poll},
};

use axum::{
    Json,
    extract::{FromRef, FromRequestParts},
    http::{StatusCode, request::Parts},
    response::{IntoResponse, Response},
};
use serde_json::json;

use crate::{Keyward, Verification};

/// A request refused for want of a valid key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    pub status: StatusCode,
    /// `MISSING`, `MALFORMED`, the server's refusal code, or `UNAVAILABLE`.
    pub code: String,
}

impl IntoResponse for Rejection {
    fn into_response(self) -> Response {
        let message = match self.code.as_str() {
            "MISSING" => "an API key is required",
            "MALFORMED" => "the credential headers are malformed",
            "UNAVAILABLE" => "the key could not be checked; try again",
            _ => "the API key may not be used",
        };
        (
            self.status,
            Json(json!({ "code": self.code, "message": message })),
        )
            .into_response()
    }
}

/// Checks the credential a request presents.
async fn check(keyward: &Keyward, headers: &http::HeaderMap) -> Result<Verification, Rejection> {
    let refuse = |status, code: &str| Rejection {
        status,
        code: code.to_owned(),
    };
    let token = match keyward_proto::present::presented_credential(headers) {
        Ok(Some(token)) => token,
        Ok(None) => return Err(refuse(StatusCode::UNAUTHORIZED, "MISSING")),
        Err(_) => return Err(refuse(StatusCode::UNAUTHORIZED, "MALFORMED")),
    };
    match keyward.verify(&token).await {
        Ok(v) if v.is_valid() => Ok(v),
        Ok(v) => {
            let status = match v.code() {
                "RATE_LIMITED" | "USAGE_EXCEEDED" => StatusCode::TOO_MANY_REQUESTS,
                "INSUFFICIENT_PERMISSIONS" => StatusCode::FORBIDDEN,
                _ => StatusCode::UNAUTHORIZED,
            };
            Err(refuse(status, v.code()))
        }
        Err(e) => {
            tracing::warn!(error = %e, "could not verify a key with Keyward");
            Err(refuse(StatusCode::SERVICE_UNAVAILABLE, "UNAVAILABLE"))
        }
    }
}

/// A handler argument: the request's key, verified. A request without a valid key never
/// reaches the handler.
#[derive(Debug, Clone)]
pub struct VerifiedKey(pub Verification);

impl<S> FromRequestParts<S> for VerifiedKey
where
    Keyward: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = Rejection;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Rejection> {
        if let Some(v) = parts.extensions.get::<Verification>() {
            return Ok(Self(v.clone()));
        }
        let keyward = Keyward::from_ref(state);
        check(&keyward, &parts.headers).await.map(Self)
    }
}

/// A tower layer refusing every request without a valid key; the [`Verification`] of an
/// admitted request is in its extensions.
#[derive(Clone)]
pub struct VerifyLayer(Keyward);

impl VerifyLayer {
    pub fn new(keyward: Keyward) -> Self {
        Self(keyward)
    }
}

impl<S> tower::Layer<S> for VerifyLayer {
    type Service = VerifyService<S>;
    fn layer(&self, inner: S) -> Self::Service {
        VerifyService {
            keyward: self.0.clone(),
            inner,
        }
    }
}

/// The service of [`VerifyLayer`].
#[derive(Clone)]
pub struct VerifyService<S> {
    keyward: Keyward,
    inner: S,
}

impl<S, B> tower::Service<http::Request<B>> for VerifyService<S>
where
    S: tower::Service<http::Request<B>, Response = Response> + Clone + Send + 'static,
    S::Future: Send,
    B: Send + 'static,
{
    type Response = Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<B>) -> Self::Future {
        // The clone that was made ready serves this request.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let keyward = self.keyward.clone();
        Box::pin(async move {
            match check(&keyward, request.headers()).await {
                Ok(verification) => {
                    request.extensions_mut().insert(verification);
                    inner.call(request).await
                }
                Err(rejection) => Ok(rejection.into_response()),
            }
        })
    }
}

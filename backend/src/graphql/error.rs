//! GraphQL errors, mapped once. A resolver returns a service's `AppError` with `?`; the
//! error keeps it as its source, and [`ErrorCodes`] reads it back for every error of the
//! response, setting `extensions.code` (with `reason` for refused credentials and `field`
//! for invalid input) and logging internal causes, which are never sent. An error with no
//! `AppError` behind it comes from parsing, validating or coercing the caller's document:
//! `INVALID_INPUT`.

use std::sync::Arc;

use async_graphql::{
    Response, ServerError, ServerResult, ValidationResult, Variables,
    extensions::{
        Extension, ExtensionContext, ExtensionFactory, NextParseQuery, NextRequest, NextValidation,
    },
    parser::types::ExecutableDocument,
};

use crate::error::AppError;

/// Sets `extensions.code` on one error, from its `AppError` when it has one.
pub fn with_code(mut err: ServerError) -> ServerError {
    let app = err.source::<AppError>();
    if let Some(AppError::Internal(cause)) = app {
        tracing::error!(error = %cause, "internal error in GraphQL resolver");
    }
    let (code, reason, field) = match app {
        Some(app) => (
            app.code(),
            match app {
                AppError::Unauthenticated(f) => Some(f.code()),
                _ => None,
            },
            match app {
                AppError::InvalidInput { field, .. } => Some(field.clone()),
                _ => None,
            },
        ),
        None => ("INVALID_INPUT", None, None),
    };
    let ext = err.extensions.get_or_insert_with(Default::default);
    if ext.get("code").is_none() {
        ext.set("code", code);
    }
    if let Some(reason) = reason {
        ext.set("reason", reason);
    }
    if let Some(field) = field {
        ext.set("field", field);
    }
    err
}

/// The schema extension that gives every error its code.
pub struct ErrorCodes;

impl ExtensionFactory for ErrorCodes {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(ErrorCodesExtension)
    }
}

struct ErrorCodesExtension;

#[async_graphql::async_trait::async_trait]
impl Extension for ErrorCodesExtension {
    async fn request(&self, ctx: &ExtensionContext<'_>, next: NextRequest<'_>) -> Response {
        let mut response = next.run(ctx).await;
        response.errors = response.errors.into_iter().map(with_code).collect();
        response
    }

    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        next.run(ctx, query, variables).await.map_err(with_code)
    }

    async fn validation(
        &self,
        ctx: &ExtensionContext<'_>,
        next: NextValidation<'_>,
    ) -> Result<ValidationResult, Vec<ServerError>> {
        next.run(ctx)
            .await
            .map_err(|errs| errs.into_iter().map(with_code).collect())
    }
}

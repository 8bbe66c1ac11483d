//! `AppError` → GraphQL error with `extensions.code`; parse and validation errors get
//! `INVALID_INPUT`.

use std::sync::Arc;

use async_graphql::{
    ErrorExtensions, Response, ServerError, ServerResult, ValidationResult, Variables,
    extensions::{
        Extension, ExtensionContext, ExtensionFactory, NextParseQuery, NextRequest, NextValidation,
    },
    parser::types::ExecutableDocument,
};

use crate::error::AppError;

/// Converts a service error for GraphQL; internal causes are logged, never sent.
pub fn gql(err: AppError) -> async_graphql::Error {
    if let AppError::Internal(cause) = &err {
        tracing::error!(error = %cause, "internal error in GraphQL resolver");
    }
    let code = err.code();
    let reason = match &err {
        AppError::Unauthenticated(f) => Some(f.code()),
        _ => None,
    };
    let field = match &err {
        AppError::InvalidInput { field, .. } => Some(field.clone()),
        _ => None,
    };
    async_graphql::Error::new(err.to_string()).extend_with(|_, ext| {
        ext.set("code", code);
        if let Some(reason) = reason {
            ext.set("reason", reason);
        }
        if let Some(field) = field {
            ext.set("field", field);
        }
    })
}

fn with_code(mut err: ServerError, code: &str) -> ServerError {
    let ext = err.extensions.get_or_insert_with(Default::default);
    if ext.get("code").is_none() {
        ext.set("code", code);
    }
    err
}

/// Gives parse, validation and argument errors the `INVALID_INPUT` code.
pub struct InputErrorCodes;

impl ExtensionFactory for InputErrorCodes {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(InputErrorCodesExtension)
    }
}

struct InputErrorCodesExtension;

#[async_graphql::async_trait::async_trait]
impl Extension for InputErrorCodesExtension {
    async fn request(&self, ctx: &ExtensionContext<'_>, next: NextRequest<'_>) -> Response {
        let mut response = next.run(ctx).await;
        // Every service error already carries a code; an error without one comes from
        // coercing the caller's arguments or variables.
        response.errors = response
            .errors
            .into_iter()
            .map(|e| with_code(e, "INVALID_INPUT"))
            .collect();
        response
    }

    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        next.run(ctx, query, variables)
            .await
            .map_err(|e| with_code(e, "INVALID_INPUT"))
    }

    async fn validation(
        &self,
        ctx: &ExtensionContext<'_>,
        next: NextValidation<'_>,
    ) -> Result<ValidationResult, Vec<ServerError>> {
        next.run(ctx).await.map_err(|errs| {
            errs.into_iter()
                .map(|e| with_code(e, "INVALID_INPUT"))
                .collect()
        })
    }
}

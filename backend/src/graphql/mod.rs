//! The GraphQL API (SPEC §8): `POST /graphql`, GraphiQL at `GET /graphql`.
//!
//! Resolvers are thin: they take the [`Actor`] and [`Services`] from the context,
//! convert input, call one service method and convert the output. Errors get their
//! `extensions.code` in one place ([`error`]); a document's cost is bounded before any
//! work is done on it ([`limits`]).

mod analytics;
mod controls;
pub mod error;
pub mod http;
pub mod limits;
mod mutation;
mod query;
mod types;
mod webhooks;

use async_graphql::{EmptySubscription, MergedObject, Schema};

pub use error::ErrorCodes;

/// Read operations.
#[derive(MergedObject, Default)]
pub struct QueryRoot(query::CoreQuery, webhooks::WebhookQuery);

/// Write operations.
#[derive(MergedObject, Default)]
pub struct MutationRoot(
    mutation::OrgMutation,
    mutation::MemberMutation,
    mutation::RoleMutation,
    mutation::CredentialMutation,
    controls::ControlsMutation,
    mutation::ServiceAccountMutation,
    mutation::SessionMutation,
    mutation::AdminMutation,
    webhooks::WebhookMutation,
);

use crate::domain::Services;

/// Keyward's schema type.
pub type KeywardSchema = Schema<QueryRoot, MutationRoot, EmptySubscription>;

/// Deepest query accepted.
pub const MAX_DEPTH: usize = 12;
/// Most directives on one field.
pub const MAX_DIRECTIVES: usize = 4;
/// Most complex query accepted.
pub const MAX_COMPLEXITY: usize = 2_000;

/// Builds the schema over `services`.
pub fn build_schema(services: Option<Services>) -> KeywardSchema {
    let mut builder = Schema::build(
        QueryRoot::default(),
        MutationRoot::default(),
        EmptySubscription,
    )
    .extension(limits::DocumentLimits {
        max_depth: MAX_DEPTH,
    })
    .extension(ErrorCodes)
    .limit_depth(MAX_DEPTH)
    .limit_directives(MAX_DIRECTIVES)
    .limit_complexity(MAX_COMPLEXITY);
    if let Some(services) = services {
        builder = builder.data(services);
    }
    builder.finish()
}

/// The schema in SDL, as committed in `backend/schema.graphql`.
pub fn sdl() -> String {
    build_schema(None).sdl()
}

#[cfg(test)]
mod tests {
    #[test]
    fn committed_schema_matches_the_code() {
        let committed = include_str!("../../schema.graphql");
        assert!(
            committed.trim_end() == super::sdl().trim_end(),
            "backend/schema.graphql is out of date: run `cargo run -p backend -- schema > backend/schema.graphql`"
        );
    }
}

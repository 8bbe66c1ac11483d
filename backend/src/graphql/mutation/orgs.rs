//! Mutations: Organizations and their projects.

use async_graphql::{Context, ID, InputObject, Object};

use crate::domain::{ids::parse_id, orgs::OrgSettings};
use crate::graphql::types::{CreateOrganizationPayload, Organization, Project, actor, services};

/// Organizations and their projects.
#[derive(Default)]
pub struct OrgMutation;

#[derive(InputObject)]
pub struct CreateOrganizationInput {
    pub name: String,
    /// Unique slug; derived from the name when absent.
    pub slug: Option<String>,
}

#[derive(InputObject)]
pub struct CreateProjectInput {
    pub organization_id: ID,
    pub name: String,
    /// Unique within the organization; derived from the name when absent.
    pub slug: Option<String>,
}

#[derive(InputObject)]
pub struct RenameOrganizationInput {
    pub id: ID,
    pub name: String,
}

/// Only the fields given change; send `null` to clear a limit.
#[derive(InputObject)]
pub struct UpdateOrganizationSettingsInput {
    pub organization_id: ID,
    pub rate_limit_per_minute: async_graphql::MaybeUndefined<i32>,
    pub rate_limit_fail_open: Option<bool>,
    pub pat_max_lifetime_days: async_graphql::MaybeUndefined<i32>,
    /// Longest lifetime, in days, of a new API or service-account key; at most the
    /// instance's maximum.
    pub api_key_max_lifetime_days: async_graphql::MaybeUndefined<i32>,
    /// Every new API key must belong to a project.
    pub keys_per_project: Option<bool>,
    /// What is done with a key a secret scanner finds in public.
    pub leaked_key_policy: Option<crate::graphql::types::LeakedKeyPolicy>,
}

#[derive(InputObject)]
pub struct RenameProjectInput {
    pub id: ID,
    pub name: String,
}

#[Object]
impl OrgMutation {
    /// Renames an organization. **Permissions**: `organization:write`.
    async fn rename_organization(
        &self,
        ctx: &Context<'_>,
        input: RenameOrganizationInput,
    ) -> async_graphql::Result<Organization> {
        let id = parse_id("input.id", &input.id)?;
        Ok(Organization(
            services(ctx)?
                .rename_organization(actor(ctx)?, id, &input.name)
                .await?,
        ))
    }

    /// Changes an organization's rate limit and token policy. **Permissions**: `settings:write`.
    async fn update_organization_settings(
        &self,
        ctx: &Context<'_>,
        input: UpdateOrganizationSettingsInput,
    ) -> async_graphql::Result<Organization> {
        let id = parse_id("input.organizationId", &input.organization_id)?;
        let settings = OrgSettings {
            rate_limit_per_minute: maybe(input.rate_limit_per_minute),
            rate_limit_fail_open: input.rate_limit_fail_open,
            pat_max_lifetime_days: maybe(input.pat_max_lifetime_days),
            api_key_max_lifetime_days: maybe(input.api_key_max_lifetime_days),
            keys_per_project: input.keys_per_project,
            leaked_key_policy: input.leaked_key_policy.map(Into::into),
        };
        Ok(Organization(
            services(ctx)?
                .update_organization_settings(actor(ctx)?, id, settings)
                .await?,
        ))
    }

    /// Renames a project; its namespace stays. **Permissions**: `projects:write`.
    async fn rename_project(
        &self,
        ctx: &Context<'_>,
        input: RenameProjectInput,
    ) -> async_graphql::Result<Project> {
        let id = parse_id("input.id", &input.id)?;
        Ok(Project(
            services(ctx)?
                .rename_project(actor(ctx)?, id, &input.name)
                .await?,
        ))
    }

    /// Creates an organization with you as owner, and its default project.
    async fn create_organization(
        &self,
        ctx: &Context<'_>,
        input: CreateOrganizationInput,
    ) -> async_graphql::Result<CreateOrganizationPayload> {
        let (org, project) = services(ctx)?
            .create_organization(actor(ctx)?, &input.name, input.slug)
            .await?;
        Ok(CreateOrganizationPayload {
            organization: Organization(org),
            project: Project(project),
        })
    }

    /// Creates a project. **Permissions**: `projects:write`.
    async fn create_project(
        &self,
        ctx: &Context<'_>,
        input: CreateProjectInput,
    ) -> async_graphql::Result<Project> {
        let org = parse_id("input.organizationId", &input.organization_id)?;
        let project = services(ctx)?
            .create_project(actor(ctx)?, org, &input.name, input.slug)
            .await?;
        Ok(Project(project))
    }
}

/// A field left out is kept; `null` clears it; a value sets it.
fn maybe<T>(v: async_graphql::MaybeUndefined<T>) -> Option<Option<T>> {
    match v {
        async_graphql::MaybeUndefined::Undefined => None,
        async_graphql::MaybeUndefined::Null => Some(None),
        async_graphql::MaybeUndefined::Value(v) => Some(Some(v)),
    }
}

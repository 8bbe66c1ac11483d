//! Mutations: Roles and an organization's application resources.

use async_graphql::{Context, ID, InputObject, Object};

use crate::domain::ids::parse_id;
use crate::graphql::types::{ApplicationResource, Role, actor, services};

/// Roles and an organization's application resources.
#[derive(Default)]
pub struct RoleMutation;

#[derive(InputObject)]
pub struct CreateRoleInput {
    pub organization_id: ID,
    pub name: String,
    pub description: Option<String>,
    /// `resource:level` entries, one per resource.
    pub permissions: Vec<String>,
}

#[derive(InputObject)]
pub struct UpdateRoleInput {
    pub id: ID,
    pub name: Option<String>,
    pub description: Option<String>,
    /// Replaces the role's permissions when given.
    pub permissions: Option<Vec<String>>,
}

#[derive(InputObject)]
pub struct DeleteRoleInput {
    pub id: ID,
}

#[derive(InputObject)]
pub struct DefineResourceInput {
    pub organization_id: ID,
    /// E.g. `deployments`: lowercase letters, digits, `_` or `-`.
    pub name: String,
    pub description: Option<String>,
}

#[Object]
impl RoleMutation {
    /// Creates a custom role. **Permissions**: `roles:write` and every permission it grants.
    async fn create_role(
        &self,
        ctx: &Context<'_>,
        input: CreateRoleInput,
    ) -> async_graphql::Result<Role> {
        let org = parse_id("input.organizationId", &input.organization_id)?;
        let role = services(ctx)?
            .create_role(
                actor(ctx)?,
                org,
                &input.name,
                input.description,
                &input.permissions,
            )
            .await?;
        Ok(role.into())
    }

    /// Changes a custom role. **Permissions**: `roles:write` and every permission it grants.
    async fn update_role(
        &self,
        ctx: &Context<'_>,
        input: UpdateRoleInput,
    ) -> async_graphql::Result<Role> {
        let id = parse_id("input.id", &input.id)?;
        let role = services(ctx)?
            .update_role(
                actor(ctx)?,
                id,
                input.name,
                input.description,
                input.permissions,
            )
            .await?;
        Ok(role.into())
    }

    /// Deletes a custom role nobody holds. Returns its id. **Permissions**: `roles:delete`.
    async fn delete_role(
        &self,
        ctx: &Context<'_>,
        input: DeleteRoleInput,
    ) -> async_graphql::Result<ID> {
        let id = parse_id("input.id", &input.id)?;
        let id = services(ctx)?.delete_role(actor(ctx)?, id).await?;
        Ok(ID(id.to_string()))
    }

    /// Defines an application resource keys and roles can carry. **Permissions**: `roles:write`.
    async fn define_resource(
        &self,
        ctx: &Context<'_>,
        input: DefineResourceInput,
    ) -> async_graphql::Result<ApplicationResource> {
        let org = parse_id("input.organizationId", &input.organization_id)?;
        let r = services(ctx)?
            .define_resource(actor(ctx)?, org, &input.name, input.description)
            .await?;
        Ok(ApplicationResource {
            id: ID(r.id.to_string()),
            name: r.name,
            description: r.description,
        })
    }
}

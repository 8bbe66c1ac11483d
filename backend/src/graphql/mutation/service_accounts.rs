//! Mutations: Service accounts and their keys.

use async_graphql::{Context, ID, InputObject, Object};
use chrono::{DateTime, Utc};

use crate::domain::{ids::parse_id, service_accounts::NewServiceAccountKey};
use crate::graphql::types::{ApiKey, ApiKeyWithSecret, ServiceAccount, actor, services};

/// Service accounts and their keys.
#[derive(Default)]
pub struct ServiceAccountMutation;

#[derive(InputObject)]
pub struct CreateServiceAccountInput {
    pub organization_id: ID,
    pub name: String,
    pub description: Option<String>,
    pub role_id: ID,
}

#[derive(InputObject)]
pub struct CreateServiceAccountKeyInput {
    pub service_account_id: ID,
    pub project_id: Option<ID>,
    pub name: String,
    pub expires_at: Option<DateTime<Utc>>,
    /// `resource:level` scopes within the account's role; none means all of it.
    pub scopes: Option<Vec<String>>,
    pub rate_limit_per_minute: Option<i32>,
}

#[derive(InputObject)]
pub struct ServiceAccountInput {
    pub id: ID,
}

#[Object]
impl ServiceAccountMutation {
    /// Creates a service account. **Permissions**: `service_accounts:write` and every
    /// permission of its role.
    async fn create_service_account(
        &self,
        ctx: &Context<'_>,
        input: CreateServiceAccountInput,
    ) -> async_graphql::Result<ServiceAccount> {
        let org = parse_id("input.organizationId", &input.organization_id)?;
        let role = parse_id("input.roleId", &input.role_id)?;
        let sa = services(ctx)?
            .create_service_account(actor(ctx)?, org, &input.name, input.description, role)
            .await?;
        Ok(ServiceAccount(sa))
    }

    /// Creates a service-account key, bounded by the account's role; the secret is in the
    /// payload, once. **Permissions**: `service_accounts:write`.
    async fn create_service_account_key(
        &self,
        ctx: &Context<'_>,
        input: CreateServiceAccountKeyInput,
    ) -> async_graphql::Result<ApiKeyWithSecret> {
        let new = NewServiceAccountKey {
            service_account_id: parse_id("input.serviceAccountId", &input.service_account_id)?,
            project_id: input
                .project_id
                .map(|p| parse_id("input.projectId", &p))
                .transpose()?,
            name: input.name,
            expires_at: input.expires_at,
            scopes: input.scopes,
            rate_limit_per_minute: input.rate_limit_per_minute,
        };
        let created = services(ctx)?
            .create_service_account_key(actor(ctx)?, new)
            .await?;
        Ok(ApiKeyWithSecret {
            secret: created.secret.expose_secret().to_owned(),
            api_key: ApiKey(created.credential),
        })
    }

    /// Disables a service account and all its keys. **Permissions**: `service_accounts:write`.
    async fn disable_service_account(
        &self,
        ctx: &Context<'_>,
        input: ServiceAccountInput,
    ) -> async_graphql::Result<ServiceAccount> {
        let id = parse_id("input.id", &input.id)?;
        let sa = services(ctx)?
            .set_service_account_disabled(actor(ctx)?, id, true)
            .await?;
        Ok(ServiceAccount(sa))
    }

    /// Enables a disabled service account. **Permissions**: `service_accounts:write`.
    async fn enable_service_account(
        &self,
        ctx: &Context<'_>,
        input: ServiceAccountInput,
    ) -> async_graphql::Result<ServiceAccount> {
        let id = parse_id("input.id", &input.id)?;
        let sa = services(ctx)?
            .set_service_account_disabled(actor(ctx)?, id, false)
            .await?;
        Ok(ServiceAccount(sa))
    }
}

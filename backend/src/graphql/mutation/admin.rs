//! Mutations: The instance admin's operations.

use async_graphql::{Context, ID, InputObject, Object};

use crate::domain::ids::parse_id;
use crate::graphql::types::{ApiKey, CustomerAccount, Organization, actor, services};

/// The instance admin's operations.
#[derive(Default)]
pub struct AdminMutation;

#[derive(InputObject)]
pub struct AdminRevokeCredentialInput {
    pub id: ID,
    pub reason: Option<String>,
}

#[derive(InputObject)]
pub struct SuspendCustomerInput {
    pub customer_id: ID,
    /// Why; required, and kept in the audit log.
    pub reason: String,
}

#[derive(InputObject)]
pub struct UnsuspendCustomerInput {
    pub customer_id: ID,
}

#[derive(InputObject)]
pub struct SuspendOrganizationInput {
    pub organization_id: ID,
    /// Why; required, and kept in the audit log.
    pub reason: String,
}

#[derive(InputObject)]
pub struct UnsuspendOrganizationInput {
    pub organization_id: ID,
}

#[Object]
impl AdminMutation {
    /// Revokes any user's credential. **Permissions**: instance admin.
    async fn admin_revoke_credential(
        &self,
        ctx: &Context<'_>,
        input: AdminRevokeCredentialInput,
    ) -> async_graphql::Result<ApiKey> {
        let id = parse_id("input.id", &input.id)?;
        let key = services(ctx)?
            .admin_revoke_credential(actor(ctx)?, id, input.reason)
            .await?;
        Ok(ApiKey(key))
    }

    /// Suspends a customer: every session and credential of theirs stops working at once.
    /// **Permissions**: instance admin.
    async fn suspend_customer(
        &self,
        ctx: &Context<'_>,
        input: SuspendCustomerInput,
    ) -> async_graphql::Result<CustomerAccount> {
        let id = parse_id("input.customerId", &input.customer_id)?;
        let c = services(ctx)?
            .set_customer_suspended(actor(ctx)?, id, true, Some(input.reason))
            .await?;
        Ok(CustomerAccount(c))
    }

    /// Lifts a customer's suspension. **Permissions**: instance admin.
    async fn unsuspend_customer(
        &self,
        ctx: &Context<'_>,
        input: UnsuspendCustomerInput,
    ) -> async_graphql::Result<CustomerAccount> {
        let id = parse_id("input.customerId", &input.customer_id)?;
        let c = services(ctx)?
            .set_customer_suspended(actor(ctx)?, id, false, None)
            .await?;
        Ok(CustomerAccount(c))
    }

    /// Suspends an organization: its keys and every session in it stop working at once.
    /// **Permissions**: instance admin.
    async fn suspend_organization(
        &self,
        ctx: &Context<'_>,
        input: SuspendOrganizationInput,
    ) -> async_graphql::Result<Organization> {
        let id = parse_id("input.organizationId", &input.organization_id)?;
        let o = services(ctx)?
            .set_organization_suspended(actor(ctx)?, id, true, Some(input.reason))
            .await?;
        Ok(Organization(o))
    }

    /// Lifts an organization's suspension. **Permissions**: instance admin.
    async fn unsuspend_organization(
        &self,
        ctx: &Context<'_>,
        input: UnsuspendOrganizationInput,
    ) -> async_graphql::Result<Organization> {
        let id = parse_id("input.organizationId", &input.organization_id)?;
        let o = services(ctx)?
            .set_organization_suspended(actor(ctx)?, id, false, None)
            .await?;
        Ok(Organization(o))
    }
}

//! Queries.

use async_graphql::{Context, ID, Object};
use chrono::{DateTime, Utc};

use super::analytics::{
    KeyHourlyActivity, OrganizationVerifications, Verification, VerificationOutcome, Verifications,
};
use super::types::{
    ApiKey, AuditEvent, AuditEventFilter, CatalogResource, Conn, CredentialStatus, CustomerAccount,
    DeviceAuthorization, Invite, KeyOrder, Me, Member, Organization, PermissionCatalog,
    PersonalAccessToken, Project, Role, ServiceAccount, Session, Usage, ViewerAccess, actor,
    connection, page_size, paging, services,
};
use crate::{
    domain::{Principal, audit, ids::parse_id},
    error::AppError,
};

/// Read operations, but for those of their own rooms ([`super::QueryRoot`] merges them).
#[derive(Default)]
pub struct CoreQuery;

#[Object]
impl CoreQuery {
    /// Who is calling.
    async fn me(&self, ctx: &Context<'_>) -> async_graphql::Result<Me> {
        let actor = actor(ctx)?;
        let (by, name, org, project) = match &actor.principal {
            Principal::Session {
                organization_id,
                project_id,
                ..
            } => ("session", None, Some(*organization_id), Some(*project_id)),
            Principal::Credential(c) => (
                c.kind.as_str(),
                Some(c.name.clone()),
                c.organization_id,
                c.project_id,
            ),
            Principal::Oidc { .. } => ("oidc", None, None, None),
            Principal::System => ("system", None, None, None),
        };
        Ok(Me {
            user: actor.customer().cloned().map(Into::into),
            // The power this request carries, decided as every admin operation decides it.
            is_instance_admin: services(ctx)?
                .authorize(actor, crate::domain::access::Need::InstanceAdmin)
                .await
                .is_ok(),
            authenticated_by: by.into(),
            credential_name: name,
            credential_scopes: actor
                .principal
                .credential()
                .and_then(|c| c.scopes.as_ref())
                .map(|scopes| scopes.iter().map(ToString::to_string).collect()),
            credential_expires_at: actor.principal.credential().and_then(|c| c.expires_at),
            organization_id: org.map(|id| ID(id.to_string())),
            project_id: project.map(|id| ID(id.to_string())),
        })
    }

    /// Organizations the caller belongs to (an organization's key sees its own).
    async fn organizations(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<Organization>> {
        let list = services(ctx)?.list_organizations(actor(ctx)?).await?;
        Ok(list.into_iter().map(Organization).collect())
    }

    /// One organization. **Permissions**: `organization:read`.
    async fn organization(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<Organization> {
        let id = parse_id("id", &id)?;
        Ok(Organization(
            services(ctx)?.organization(actor(ctx)?, id).await?,
        ))
    }

    /// One project. **Permissions**: `projects:read`.
    async fn project(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<Project> {
        let id = parse_id("id", &id)?;
        Ok(Project(services(ctx)?.project(actor(ctx)?, id).await?))
    }

    /// An organization's API keys, newest first. **Permissions**: `api_keys:read`.
    #[allow(
        clippy::too_many_arguments,
        reason = "one parameter per GraphQL argument"
    )]
    async fn api_keys(
        &self,
        ctx: &Context<'_>,
        organization_id: ID,
        project_id: Option<ID>,
        status: Option<CredentialStatus>,
        #[graphql(desc = "Part of the name or display prefix, any case.")] search: Option<String>,
        #[graphql(desc = "Only keys this user created.")] created_by_id: Option<ID>,
        #[graphql(desc = "Newest first when absent or null.")] order_by: Option<KeyOrder>,
        first: Option<i32>,
        #[graphql(desc = "The `endCursor` of the page before, read in the same `orderBy`.")]
        after: Option<String>,
    ) -> async_graphql::Result<Conn<ApiKey>> {
        let org = parse_id("organizationId", &organization_id)?;
        let project = project_id.map(|p| parse_id("projectId", &p)).transpose()?;
        let created_by = created_by_id
            .map(|p| parse_id("createdById", &p))
            .transpose()?;
        let first = page_size(first)?;
        let filter = crate::domain::credentials::KeyFilter {
            project_id: project,
            status: status.map(Into::into),
            search,
            created_by,
            order: order_by.unwrap_or_default().into(),
        };
        let page = services(ctx)?
            .api_keys(actor(ctx)?, org, filter, first, after.as_deref())
            .await?;
        Ok(connection(page, |k| k.cursor.clone(), |k| ApiKey(k.view)))
    }

    /// One API key or service-account key. **Permissions**: `api_keys:read`.
    async fn api_key(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<ApiKey> {
        let id = parse_id("id", &id)?;
        Ok(ApiKey(services(ctx)?.api_key(actor(ctx)?, id).await?))
    }

    /// The caller's personal access tokens, newest first.
    async fn personal_access_tokens(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Conn<PersonalAccessToken>> {
        let (first, after) = paging(first, after)?;
        let page = services(ctx)?
            .personal_access_tokens(actor(ctx)?, first, after)
            .await?;
        Ok(connection(
            page,
            |v| v.model.id.to_string(),
            PersonalAccessToken,
        ))
    }

    /// Requests per minute of one credential (default: the last 24 hours).
    /// **Permissions**: `usage:read` in its organization, or your own PAT.
    async fn usage(
        &self,
        ctx: &Context<'_>,
        credential_id: ID,
        since: Option<DateTime<Utc>>,
        until: Option<DateTime<Utc>>,
    ) -> async_graphql::Result<Usage> {
        let id = parse_id("credentialId", &credential_id)?;
        let usage = services(ctx)?.usage(actor(ctx)?, id, since, until).await?;
        Ok(usage.into())
    }

    /// Verifications of one key by outcome, in bars of `bucketMinutes` (default 60)
    /// between `since` and `until` (default: the last 24 hours; at most 31 days).
    /// **Permissions**: `usage:read` in its organization, or your own PAT.
    async fn verifications(
        &self,
        ctx: &Context<'_>,
        credential_id: ID,
        since: Option<DateTime<Utc>>,
        until: Option<DateTime<Utc>>,
        bucket_minutes: Option<u32>,
    ) -> async_graphql::Result<Verifications> {
        let id = parse_id("credentialId", &credential_id)?;
        let stats = services(ctx)?
            .verification_stats(actor(ctx)?, id, since, until, bucket_minutes)
            .await?;
        Ok(stats.into())
    }

    /// The most recent verifications of one key, newest first, optionally of one
    /// outcome (kept for `KEYWARD_VERIFICATION_LOG_DAYS`).
    /// **Permissions**: `usage:read` in its organization, or your own PAT.
    async fn recent_verifications(
        &self,
        ctx: &Context<'_>,
        credential_id: ID,
        outcome: Option<VerificationOutcome>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Conn<Verification>> {
        let id = parse_id("credentialId", &credential_id)?;
        let (first, after) = paging(first, after)?;
        let page = services(ctx)?
            .recent_verifications(actor(ctx)?, id, outcome.map(Into::into), first, after)
            .await?;
        Ok(connection(page, |v| v.id.to_string(), Verification::from))
    }

    /// An organization's verifications by outcome and its `first` (default 10, at most
    /// 50) busiest keys between `since` and `until` (default: the last 24 hours).
    /// **Permissions**: `usage:read` and `api_keys:read`.
    async fn organization_verifications(
        &self,
        ctx: &Context<'_>,
        organization_id: ID,
        since: Option<DateTime<Utc>>,
        until: Option<DateTime<Utc>>,
        first: Option<u32>,
    ) -> async_graphql::Result<OrganizationVerifications> {
        let org = parse_id("organizationId", &organization_id)?;
        let activity = services(ctx)?
            .organization_activity(actor(ctx)?, org, since, until, first.unwrap_or(10).into())
            .await?;
        Ok(activity.into())
    }

    /// Verifications of each of `keyIds` (at most 100) in each of the last 24 hours, in
    /// the order asked: the sparkline beside a key list. Keys outside the organization
    /// count nothing. **Permissions**: `usage:read`.
    async fn key_activity(
        &self,
        ctx: &Context<'_>,
        organization_id: ID,
        key_ids: Vec<ID>,
    ) -> async_graphql::Result<Vec<KeyHourlyActivity>> {
        let org = parse_id("organizationId", &organization_id)?;
        if key_ids.len() as u64 > crate::domain::paging::MAX_PAGE {
            return Err(AppError::invalid("keyIds", "at most 100 keys at a time").into());
        }
        let keys = key_ids
            .iter()
            .enumerate()
            .map(|(i, id)| parse_id(&format!("keyIds[{i}]"), id))
            .collect::<Result<Vec<_>, _>>()?;
        let series = services(ctx)?.key_activity(actor(ctx)?, org, keys).await?;
        Ok(series
            .into_iter()
            .map(|(id, hours)| KeyHourlyActivity {
                key_id: ID(id.to_string()),
                hours,
            })
            .collect())
    }

    /// An organization's members, newest first. **Permissions**: `members:read`.
    async fn members(
        &self,
        ctx: &Context<'_>,
        organization_id: ID,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Conn<Member>> {
        let org = parse_id("organizationId", &organization_id)?;
        let (first, after) = paging(first, after)?;
        let page = services(ctx)?
            .members(actor(ctx)?, org, first, after)
            .await?;
        Ok(connection(page, |m| m.membership.id.to_string(), Member))
    }

    /// An organization's invites, newest first. **Permissions**: `invites:read`.
    async fn invites(
        &self,
        ctx: &Context<'_>,
        organization_id: ID,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Conn<Invite>> {
        let org = parse_id("organizationId", &organization_id)?;
        let (first, after) = paging(first, after)?;
        let page = services(ctx)?
            .invites(actor(ctx)?, org, first, after)
            .await?;
        Ok(connection(page, |i| i.invite.id.to_string(), Invite))
    }

    /// Open invites addressed to you, newest first.
    async fn my_invites(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Conn<Invite>> {
        let (first, after) = paging(first, after)?;
        let page = services(ctx)?.my_invites(actor(ctx)?, first, after).await?;
        Ok(connection(page, |i| i.invite.id.to_string(), Invite))
    }

    /// An organization's roles, newest first (the built-in ones last).
    /// **Permissions**: `roles:read`.
    async fn roles(
        &self,
        ctx: &Context<'_>,
        organization_id: ID,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Conn<Role>> {
        let org = parse_id("organizationId", &organization_id)?;
        let (first, after) = paging(first, after)?;
        let page = services(ctx)?.roles(actor(ctx)?, org, first, after).await?;
        Ok(connection(page, |r| r.role.id.to_string(), Role::from))
    }

    /// What you may do in an organization right now, as every operation decides it: your
    /// role narrowed by the credential's scopes and project. A client shows only what this
    /// allows. **Permissions**: membership.
    async fn viewer_access(
        &self,
        ctx: &Context<'_>,
        organization_id: ID,
    ) -> async_graphql::Result<ViewerAccess> {
        let org = parse_id("organizationId", &organization_id)?;
        let access = services(ctx)?.viewer_access(actor(ctx)?, org).await?;
        Ok(ViewerAccess(access))
    }

    /// The resources and levels roles and keys can use. **Permissions**: `organization:read`.
    async fn permission_catalog(
        &self,
        ctx: &Context<'_>,
        organization_id: ID,
    ) -> async_graphql::Result<PermissionCatalog> {
        let org = parse_id("organizationId", &organization_id)?;
        let c = services(ctx)?.permission_catalog(actor(ctx)?, org).await?;
        Ok(PermissionCatalog {
            resources: c
                .resources
                .into_iter()
                .map(|(name, description, builtin)| CatalogResource {
                    name,
                    description,
                    builtin,
                })
                .collect(),
            levels: c
                .levels
                .into_iter()
                .map(|l| l.as_str().to_owned())
                .collect(),
        })
    }

    /// An organization's service accounts. **Permissions**: `service_accounts:read`.
    async fn service_accounts(
        &self,
        ctx: &Context<'_>,
        organization_id: ID,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Conn<ServiceAccount>> {
        let org = parse_id("organizationId", &organization_id)?;
        let (first, after) = paging(first, after)?;
        let page = services(ctx)?
            .service_accounts(actor(ctx)?, org, first, after)
            .await?;
        Ok(connection(
            page,
            |a| a.account.id.to_string(),
            ServiceAccount,
        ))
    }

    /// An organization's identities (the product's customers), newest first.
    /// **Permissions**: `api_keys:read`.
    async fn identities(
        &self,
        ctx: &Context<'_>,
        organization_id: ID,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Conn<super::controls::Identity>> {
        let org = parse_id("organizationId", &organization_id)?;
        let (first, after) = paging(first, after)?;
        let page = services(ctx)?
            .identities(actor(ctx)?, org, first, after)
            .await?;
        Ok(connection(
            page,
            |i| i.identity.id.to_string(),
            super::controls::Identity,
        ))
    }

    /// One identity. **Permissions**: `api_keys:read`.
    async fn identity(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> async_graphql::Result<super::controls::Identity> {
        let view = services(ctx)?
            .identity(actor(ctx)?, parse_id("id", &id)?)
            .await?;
        Ok(super::controls::Identity(view))
    }

    /// One identity, by the product's id for it. **Permissions**: `api_keys:read`.
    async fn identity_by_external_id(
        &self,
        ctx: &Context<'_>,
        organization_id: ID,
        external_id: String,
    ) -> async_graphql::Result<super::controls::Identity> {
        let view = services(ctx)?
            .identity_by_external_id(
                actor(ctx)?,
                parse_id("organizationId", &organization_id)?,
                &external_id,
            )
            .await?;
        Ok(super::controls::Identity(view))
    }

    /// Customers of this instance. **Permissions**: instance admin.
    async fn users(
        &self,
        ctx: &Context<'_>,
        search: Option<String>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Conn<CustomerAccount>> {
        let (first, after) = paging(first, after)?;
        let page = services(ctx)?
            .users(actor(ctx)?, search, first, after)
            .await?;
        Ok(connection(page, |c| c.id.to_string(), CustomerAccount))
    }

    /// Every credential a customer owns or created. **Permissions**: instance admin.
    async fn user_credentials(
        &self,
        ctx: &Context<'_>,
        customer_id: ID,
    ) -> async_graphql::Result<Vec<ApiKey>> {
        let id = parse_id("customerId", &customer_id)?;
        let list = services(ctx)?.user_credentials(actor(ctx)?, id).await?;
        Ok(list.into_iter().map(ApiKey).collect())
    }

    /// Your live dashboard sessions, newest first, the current one marked.
    async fn sessions(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Conn<Session>> {
        let (first, after) = paging(first, after)?;
        let page = services(ctx)?.sessions(actor(ctx)?, first, after).await?;
        Ok(connection(page, |s| s.model.id.to_string(), Session))
    }

    /// An organization's audit log, newest first. **Permissions**: `audit_log:read`.
    async fn audit_events(
        &self,
        ctx: &Context<'_>,
        organization_id: ID,
        filter: Option<AuditEventFilter>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Conn<AuditEvent>> {
        let org = parse_id("organizationId", &organization_id)?;
        let first = page_size(first)?;
        let after = after
            .map(|a| {
                a.parse::<i64>()
                    .map_err(|_| AppError::invalid("after", "is not a valid cursor"))
            })
            .transpose()?;
        let filter = filter.unwrap_or_default();
        let filter = audit::AuditFilter {
            actor_id: filter
                .actor_id
                .map(|a| parse_id("filter.actorId", &a))
                .transpose()?,
            action: filter
                .action
                .map(|a| {
                    audit::Action::parse(&a).ok_or_else(|| {
                        AppError::invalid(
                            "filter.action",
                            "is not an audit action (such as `api_key.revoke`)",
                        )
                    })
                })
                .transpose()?,
            target_id: filter.target_id,
            since: filter.since,
            until: filter.until,
        };
        let page = services(ctx)?
            .audit_events(actor(ctx)?, org, &filter, first, after)
            .await?;
        Ok(connection(page, |e| e.seq.to_string(), AuditEvent))
    }

    /// A CLI sign-in waiting for your approval, by the code the CLI shows.
    /// Lookups are limited per user.
    async fn device_authorization(
        &self,
        ctx: &Context<'_>,
        user_code: String,
    ) -> async_graphql::Result<DeviceAuthorization> {
        let view = services(ctx)?.device_login(actor(ctx)?, &user_code).await?;
        Ok(DeviceAuthorization(view))
    }
}

//! Mutations. Each takes one `input` object; credential-creating ones return the secret once.

use async_graphql::{Context, ID, InputObject, Object};
use chrono::{DateTime, TimeDelta, Utc};

use super::types::{
    ApiKey, ApiKeyWithSecret, ApplicationResource, CliLoginApproval, CreateOrganizationPayload,
    CustomerAccount, DeviceAuthorization, Environment, Invite, Member, Organization,
    PersonalAccessToken, PersonalAccessTokenWithSecret, Project, Role, ServiceAccount, Session,
    SessionContext, actor, services,
};
use crate::domain::{
    credentials::{ImportedKey, NewApiKey, NewPat},
    ids::parse_id,
    orgs::OrgSettings,
    service_accounts::NewServiceAccountKey,
};

/// Write operations (with [`super::controls::ControlsMutation`]).
#[derive(Default)]
pub struct CoreMutation;

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
pub struct CreateApiKeyInput {
    pub organization_id: ID,
    /// Limit the key to one project.
    pub project_id: Option<ID>,
    pub name: String,
    /// Must be in the future; none means the key never expires.
    pub expires_at: Option<DateTime<Utc>>,
    /// `resource:level` scopes; none means all of your permissions, as they are at each use.
    pub scopes: Option<Vec<String>>,
    #[graphql(default)]
    pub environment: Environment,
    /// Requests per minute (1–1000000); none means the organization's default.
    pub rate_limit_per_minute: Option<i32>,
    /// The product's own data (a JSON object, at most 4 KB and 4 levels deep), returned
    /// by verify.
    pub meta: Option<async_graphql::Json<serde_json::Value>>,
    /// Credits verifications spend; none: unlimited.
    pub credits: Option<super::controls::CreditsInput>,
    /// Named rate limits of the key.
    pub ratelimits: Option<Vec<super::controls::RatelimitInput>>,
    /// The product's id of the key's customer: the key joins that identity, made on first
    /// use.
    pub external_id: Option<String>,
}

#[derive(InputObject)]
pub struct RenameApiKeyInput {
    pub id: ID,
    pub name: String,
}

#[derive(InputObject)]
pub struct ApiKeyInput {
    pub id: ID,
}

#[derive(InputObject)]
pub struct RevokeApiKeyInput {
    pub id: ID,
    /// Why, for the audit log.
    pub reason: Option<String>,
}

#[derive(InputObject)]
pub struct RotateApiKeyInput {
    pub id: ID,
    /// How long the old secret keeps working: 0 (default) to 86400 seconds.
    #[graphql(default)]
    pub grace_period_seconds: i32,
}

#[derive(InputObject)]
pub struct ImportApiKeyInput {
    pub organization_id: ID,
    pub project_id: Option<ID>,
    pub name: String,
    /// Hex SHA-256 of the whole token.
    pub sha256: String,
    /// The start every token of that system shares, e.g. `vc_`; tokens starting so are looked up by hash.
    pub prefix: String,
    /// The token's last four characters, if known.
    pub last4: Option<String>,
    pub expires_at: Option<DateTime<Utc>>,
    pub scopes: Option<Vec<String>>,
    #[graphql(default)]
    pub environment: Environment,
    /// When the key was made in the other system.
    pub created_at: Option<DateTime<Utc>>,
}

#[derive(InputObject)]
pub struct CreatePersonalAccessTokenInput {
    /// Usually the machine it is for.
    pub name: String,
    /// Default: 120 days from now.
    pub expires_at: Option<DateTime<Utc>>,
    pub scopes: Option<Vec<String>>,
}

#[derive(InputObject)]
pub struct RevokePersonalAccessTokenInput {
    pub id: ID,
    pub reason: Option<String>,
}

#[derive(InputObject)]
pub struct DeviceInput {
    /// The code the CLI shows, e.g. `BDFG-HJKL`.
    pub user_code: String,
}

#[derive(InputObject)]
pub struct ApproveCliLoginInput {
    /// The CLI's loopback address, `http://127.0.0.1:PORT/…`.
    pub redirect_uri: String,
    pub state: String,
    pub code_challenge: String,
    /// Only `S256`.
    pub code_challenge_method: String,
    /// The machine's name; the token is named after it.
    pub name: Option<String>,
}

#[derive(InputObject)]
pub struct RevokeSessionInput {
    pub id: ID,
}

#[derive(InputObject)]
pub struct SwitchSessionInput {
    pub organization_id: ID,
    /// Default: the organization's first project.
    pub project_id: Option<ID>,
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
}

#[derive(InputObject)]
pub struct RenameProjectInput {
    pub id: ID,
    pub name: String,
}

#[derive(InputObject)]
pub struct InviteMemberInput {
    pub organization_id: ID,
    pub email: String,
    pub role_id: ID,
}

#[derive(InputObject)]
pub struct InviteInput {
    pub id: ID,
}

#[derive(InputObject)]
pub struct UpdateMemberRoleInput {
    /// The membership id (`Member.id`).
    pub member_id: ID,
    pub role_id: ID,
}

#[derive(InputObject)]
pub struct RemoveMemberInput {
    pub member_id: ID,
}

#[derive(InputObject)]
pub struct LeaveOrganizationInput {
    pub organization_id: ID,
}

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

#[derive(InputObject)]
pub struct AdminRevokeCredentialInput {
    pub id: ID,
    pub reason: Option<String>,
}

fn maybe<T>(v: async_graphql::MaybeUndefined<T>) -> Option<Option<T>> {
    match v {
        async_graphql::MaybeUndefined::Undefined => None,
        async_graphql::MaybeUndefined::Null => Some(None),
        async_graphql::MaybeUndefined::Value(v) => Some(Some(v)),
    }
}

#[Object]
impl CoreMutation {
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

    /// Invites someone by email; the invite is open for 7 days.
    /// **Permissions**: `members:write` and every permission of the role.
    async fn invite_member(
        &self,
        ctx: &Context<'_>,
        input: InviteMemberInput,
    ) -> async_graphql::Result<Invite> {
        let org = parse_id("input.organizationId", &input.organization_id)?;
        let role = parse_id("input.roleId", &input.role_id)?;
        let invite = services(ctx)?
            .invite_member(actor(ctx)?, org, &input.email, role)
            .await?;
        Ok(Invite(invite))
    }

    /// Accepts an invite addressed to your verified email.
    async fn accept_invite(
        &self,
        ctx: &Context<'_>,
        input: InviteInput,
    ) -> async_graphql::Result<Invite> {
        let id = parse_id("input.id", &input.id)?;
        Ok(Invite(services(ctx)?.accept_invite(actor(ctx)?, id).await?))
    }

    /// Declines an invite addressed to you.
    async fn decline_invite(
        &self,
        ctx: &Context<'_>,
        input: InviteInput,
    ) -> async_graphql::Result<Invite> {
        let id = parse_id("input.id", &input.id)?;
        Ok(Invite(
            services(ctx)?.decline_invite(actor(ctx)?, id).await?,
        ))
    }

    /// Withdraws an open invite. **Permissions**: `members:write`.
    async fn revoke_invite(
        &self,
        ctx: &Context<'_>,
        input: InviteInput,
    ) -> async_graphql::Result<Invite> {
        let id = parse_id("input.id", &input.id)?;
        Ok(Invite(services(ctx)?.revoke_invite(actor(ctx)?, id).await?))
    }

    /// Changes a member's role. **Permissions**: `members:write`, every permission of the
    /// role, and ownership to make or unmake an owner.
    async fn update_member_role(
        &self,
        ctx: &Context<'_>,
        input: UpdateMemberRoleInput,
    ) -> async_graphql::Result<Member> {
        let member = parse_id("input.memberId", &input.member_id)?;
        let role = parse_id("input.roleId", &input.role_id)?;
        Ok(Member(
            services(ctx)?
                .update_member_role(actor(ctx)?, member, role)
                .await?,
        ))
    }

    /// Removes a member; their keys stop at once. Returns the membership id.
    /// **Permissions**: `members:delete`, and ownership to remove an owner.
    async fn remove_member(
        &self,
        ctx: &Context<'_>,
        input: RemoveMemberInput,
    ) -> async_graphql::Result<ID> {
        let member = parse_id("input.memberId", &input.member_id)?;
        let id = services(ctx)?.remove_member(actor(ctx)?, member).await?;
        Ok(ID(id.to_string()))
    }

    /// Leaves an organization (not as its last owner). Returns the membership id.
    async fn leave_organization(
        &self,
        ctx: &Context<'_>,
        input: LeaveOrganizationInput,
    ) -> async_graphql::Result<ID> {
        let org = parse_id("input.organizationId", &input.organization_id)?;
        let id = services(ctx)?.leave_organization(actor(ctx)?, org).await?;
        Ok(ID(id.to_string()))
    }

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

    /// Ends one of your dashboard sessions.
    async fn revoke_session(
        &self,
        ctx: &Context<'_>,
        input: RevokeSessionInput,
    ) -> async_graphql::Result<Session> {
        let id = parse_id("input.id", &input.id)?;
        Ok(Session(
            services(ctx)?.revoke_session(actor(ctx)?, id).await?,
        ))
    }

    /// Ends every one of your dashboard sessions but the one asking (all of them when
    /// asked with a token), and says how many ended.
    async fn revoke_other_sessions(&self, ctx: &Context<'_>) -> async_graphql::Result<u64> {
        Ok(services(ctx)?.revoke_other_sessions(actor(ctx)?).await?)
    }

    /// Moves the current dashboard session to another organization (and project).
    async fn switch_session(
        &self,
        ctx: &Context<'_>,
        input: SwitchSessionInput,
    ) -> async_graphql::Result<SessionContext> {
        let org = parse_id("input.organizationId", &input.organization_id)?;
        let project = input
            .project_id
            .map(|p| parse_id("input.projectId", &p))
            .transpose()?;
        let (org, project) = services(ctx)?
            .switch_session(actor(ctx)?, org, project)
            .await?;
        Ok(SessionContext {
            organization_id: ID(org.to_string()),
            project_id: ID(project.to_string()),
        })
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

    /// Creates an API key; the secret is in the payload, once. **Permissions**: `api_keys:write`.
    async fn create_api_key(
        &self,
        ctx: &Context<'_>,
        input: CreateApiKeyInput,
    ) -> async_graphql::Result<ApiKeyWithSecret> {
        let new = NewApiKey {
            organization_id: parse_id("input.organizationId", &input.organization_id)?,
            project_id: input
                .project_id
                .map(|p| parse_id("input.projectId", &p))
                .transpose()?,
            name: input.name,
            expires_at: input.expires_at,
            scopes: input.scopes,
            environment: input.environment.into(),
            rate_limit_per_minute: input.rate_limit_per_minute,
            controls: super::controls::key_controls(
                input.meta,
                input.credits,
                input.ratelimits,
                input.external_id,
            )?,
        };
        let created = services(ctx)?.create_api_key(actor(ctx)?, new).await?;
        Ok(ApiKeyWithSecret {
            secret: created.secret.expose_secret().to_owned(),
            api_key: ApiKey(created.credential),
        })
    }

    /// Renames a key. **Permissions**: `api_keys:write`.
    async fn rename_api_key(
        &self,
        ctx: &Context<'_>,
        input: RenameApiKeyInput,
    ) -> async_graphql::Result<ApiKey> {
        let id = parse_id("input.id", &input.id)?;
        let key = services(ctx)?
            .rename_api_key(actor(ctx)?, id, &input.name)
            .await?;
        Ok(ApiKey(key))
    }

    /// Disables a key until it is enabled again. **Permissions**: `api_keys:write`.
    async fn disable_api_key(
        &self,
        ctx: &Context<'_>,
        input: ApiKeyInput,
    ) -> async_graphql::Result<ApiKey> {
        let id = parse_id("input.id", &input.id)?;
        let key = services(ctx)?
            .set_api_key_disabled(actor(ctx)?, id, true)
            .await?;
        Ok(ApiKey(key))
    }

    /// Enables a disabled key. **Permissions**: `api_keys:write`.
    async fn enable_api_key(
        &self,
        ctx: &Context<'_>,
        input: ApiKeyInput,
    ) -> async_graphql::Result<ApiKey> {
        let id = parse_id("input.id", &input.id)?;
        let key = services(ctx)?
            .set_api_key_disabled(actor(ctx)?, id, false)
            .await?;
        Ok(ApiKey(key))
    }

    /// Revokes a key, irreversibly and at once. **Permissions**: `api_keys:delete`.
    async fn revoke_api_key(
        &self,
        ctx: &Context<'_>,
        input: RevokeApiKeyInput,
    ) -> async_graphql::Result<ApiKey> {
        let id = parse_id("input.id", &input.id)?;
        let key = services(ctx)?
            .revoke_api_key(actor(ctx)?, id, input.reason)
            .await?;
        Ok(ApiKey(key))
    }

    /// Replaces a key's secret, keeping its settings; the old secret works for the grace
    /// period. The new secret is in the payload, once. **Permissions**: `api_keys:write`.
    async fn rotate_api_key(
        &self,
        ctx: &Context<'_>,
        input: RotateApiKeyInput,
    ) -> async_graphql::Result<ApiKeyWithSecret> {
        let id = parse_id("input.id", &input.id)?;
        let grace = TimeDelta::seconds(i64::from(input.grace_period_seconds));
        let created = services(ctx)?
            .rotate_api_key(actor(ctx)?, id, grace)
            .await?;
        Ok(ApiKeyWithSecret {
            secret: created.secret.expose_secret().to_owned(),
            api_key: ApiKey(created.credential),
        })
    }

    /// Imports a key from another system by its SHA-256. **Permissions**: `api_keys:admin`.
    async fn import_api_key(
        &self,
        ctx: &Context<'_>,
        input: ImportApiKeyInput,
    ) -> async_graphql::Result<ApiKey> {
        let imported = ImportedKey {
            organization_id: parse_id("input.organizationId", &input.organization_id)?,
            project_id: input
                .project_id
                .map(|p| parse_id("input.projectId", &p))
                .transpose()?,
            name: input.name,
            sha256: input.sha256,
            prefix: input.prefix,
            last4: input.last4,
            expires_at: input.expires_at,
            scopes: input.scopes,
            environment: input.environment.into(),
            created_at: input.created_at,
        };
        let key = services(ctx)?.import_api_key(actor(ctx)?, imported).await?;
        Ok(ApiKey(key))
    }

    /// Creates a personal access token for you; the secret is in the payload, once.
    async fn create_personal_access_token(
        &self,
        ctx: &Context<'_>,
        input: CreatePersonalAccessTokenInput,
    ) -> async_graphql::Result<PersonalAccessTokenWithSecret> {
        let new = NewPat {
            name: input.name,
            expires_at: input.expires_at,
            scopes: input.scopes,
        };
        let created = services(ctx)?
            .create_personal_access_token(actor(ctx)?, new)
            .await?;
        Ok(PersonalAccessTokenWithSecret {
            secret: created.secret.expose_secret().to_owned(),
            token: PersonalAccessToken(created.credential),
        })
    }

    /// Revokes one of your personal access tokens.
    async fn revoke_personal_access_token(
        &self,
        ctx: &Context<'_>,
        input: RevokePersonalAccessTokenInput,
    ) -> async_graphql::Result<PersonalAccessToken> {
        let id = parse_id("input.id", &input.id)?;
        let token = services(ctx)?
            .revoke_personal_access_token(actor(ctx)?, id, input.reason)
            .await?;
        Ok(PersonalAccessToken(token))
    }

    /// Lets the CLI showing this code sign in as you (device flow).
    async fn approve_device(
        &self,
        ctx: &Context<'_>,
        input: DeviceInput,
    ) -> async_graphql::Result<DeviceAuthorization> {
        let view = services(ctx)?
            .decide_device_login(actor(ctx)?, &input.user_code, true)
            .await?;
        Ok(DeviceAuthorization(view))
    }

    /// Refuses the CLI showing this code.
    async fn deny_device(
        &self,
        ctx: &Context<'_>,
        input: DeviceInput,
    ) -> async_graphql::Result<DeviceAuthorization> {
        let view = services(ctx)?
            .decide_device_login(actor(ctx)?, &input.user_code, false)
            .await?;
        Ok(DeviceAuthorization(view))
    }

    /// Lets a CLI on this machine sign in as you (loopback flow); returns where to send
    /// the browser.
    async fn approve_cli_login(
        &self,
        ctx: &Context<'_>,
        input: ApproveCliLoginInput,
    ) -> async_graphql::Result<CliLoginApproval> {
        let redirect_to = services(ctx)?
            .approve_cli_login(
                actor(ctx)?,
                &input.redirect_uri,
                &input.state,
                &input.code_challenge,
                &input.code_challenge_method,
                input.name.as_deref(),
            )
            .await?;
        Ok(CliLoginApproval { redirect_to })
    }
}

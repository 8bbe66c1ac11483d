//! Service accounts (SPEC §3, §5): an organization's non-human members, with a role of
//! their own; their keys (`{p}_sa_`) are bounded by that role, and disabling the account
//! stops every key at once.

use keyward_proto::audit::Action;
use std::collections::HashMap;

use chrono::Utc;
use entity::{credential, prelude::*, service_account};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, TransactionTrait,
};
use serde_json::json;
use tracing::instrument;
use uuid::Uuid;

use super::{
    Actor, CredentialKind, Services,
    access::{self, Grant, Need},
    audit::{self, AuditEntry},
    credentials::{self, Created, CredentialView},
    ids::new_id,
    invalidation::Invalidation,
    members::check_assignable,
    orgs,
    paging::{self, Page},
    permissions::Perm,
    roles::org_role,
    validate,
};
use crate::{
    error::{AppError, AppResult},
    token::TokenKind,
};

/// A service account with its role and keys.
#[derive(Debug, Clone)]
pub struct ServiceAccountView {
    pub account: service_account::Model,
    pub role: entity::role::Model,
    pub keys: Vec<CredentialView>,
}

/// Input of [`Services::create_service_account_key`].
#[derive(Debug, Clone, Default)]
pub struct NewServiceAccountKey {
    pub service_account_id: Uuid,
    pub project_id: Option<Uuid>,
    pub name: String,
    pub expires_at: Option<chrono::DateTime<Utc>>,
    pub scopes: Option<Vec<String>>,
    pub rate_limit_per_minute: Option<i32>,
}

impl Services {
    /// The views of a page of service accounts: their roles, and all their keys, in a
    /// fixed number of queries.
    async fn service_account_views(
        &self,
        page: Page<service_account::Model>,
    ) -> AppResult<Page<ServiceAccountView>> {
        let ids: Vec<Uuid> = page.items.iter().map(|a| a.id).collect();
        let role_ids: Vec<Uuid> = page.items.iter().map(|a| a.role_id).collect();
        let roles: HashMap<Uuid, entity::role::Model> = entity::prelude::Role::find()
            .filter(entity::role::Column::Id.is_in(role_ids))
            .all(&self.db)
            .await?
            .into_iter()
            .map(|r| (r.id, r))
            .collect();
        let keys = Credential::find()
            .filter(credential::Column::ServiceAccountId.is_in(ids))
            .order_by_desc(credential::Column::Id)
            .all(&self.db)
            .await?;
        let mut keys_of: HashMap<Uuid, Vec<CredentialView>> = HashMap::new();
        for view in credentials::views(&self.db, keys).await? {
            if let Some(account) = view.model.service_account_id {
                keys_of.entry(account).or_default().push(view);
            }
        }
        page.try_map(|account| {
            let role = roles
                .get(&account.role_id)
                .cloned()
                .ok_or_else(|| access::corrupt("service account", "its role is missing"))?;
            Ok(ServiceAccountView {
                keys: keys_of.remove(&account.id).unwrap_or_default(),
                account,
                role,
            })
        })
    }

    async fn service_account_view(
        &self,
        account: service_account::Model,
    ) -> AppResult<ServiceAccountView> {
        let page = Page {
            items: vec![account],
            has_next: false,
            total: 1,
        };
        self.service_account_views(page)
            .await?
            .items
            .pop()
            .ok_or(AppError::NotFound("service account"))
    }

    async fn find_service_account(
        &self,
        actor: &Actor,
        id: Uuid,
        perm: Perm,
    ) -> AppResult<(service_account::Model, Grant)> {
        let account = ServiceAccount::find_by_id(id)
            .one(&self.db)
            .await?
            .ok_or(AppError::NotFound("service account"))?;
        let grant = self
            .authorize_visible(actor, account.organization_id, perm, "service account")
            .await?;
        Ok((account, grant))
    }

    /// Refuses unless the grant holds every permission of the account's role: its keys
    /// act with that role.
    async fn require_covers_account(
        &self,
        grant: &Grant,
        account: &service_account::Model,
        what: &str,
    ) -> AppResult<entity::role::Model> {
        let role = entity::prelude::Role::find_by_id(account.role_id)
            .one(&self.db)
            .await?
            .ok_or_else(|| access::corrupt("service account", "its role is missing"))?;
        let apps = credentials::app_resources(&self.db, &[account.organization_id]).await?;
        grant.require_covers(&access::role_permissions(&role)?, &apps, what)?;
        Ok(role)
    }

    /// An organization's service accounts. **Permissions**: `service_accounts:read`.
    pub async fn service_accounts(
        &self,
        actor: &Actor,
        org_id: Uuid,
        first: u64,
        after: Option<Uuid>,
    ) -> AppResult<Page<ServiceAccountView>> {
        self.authorize(actor, Need::Org(org_id, Perm::SERVICE_ACCOUNTS_READ))
            .await?;
        let query =
            ServiceAccount::find().filter(service_account::Column::OrganizationId.eq(org_id));
        let page = paging::page(&self.db, query, service_account::Column::Id, first, after).await?;
        self.service_account_views(page).await
    }

    /// Creates a service account with a role. **Permissions**: `service_accounts:write`,
    /// and every permission the role grants (the owner role only from an owner).
    #[instrument(skip_all, fields(org = %org_id))]
    pub async fn create_service_account(
        &self,
        actor: &Actor,
        org_id: Uuid,
        name: &str,
        description: Option<String>,
        role_id: Uuid,
    ) -> AppResult<ServiceAccountView> {
        let grant = self
            .authorize(actor, Need::Org(org_id, Perm::SERVICE_ACCOUNTS_WRITE))
            .await?;
        let name = validate::name("input.name", name)?;
        let description = validate::reason("input.description", description)?.unwrap_or_default();
        let role = org_role(&self.db, org_id, role_id, "input.roleId").await?;
        check_assignable(&self.db, &grant, org_id, &role).await?;
        let now = self.clock.now();
        let txn = self.db.begin().await?;
        // Counted under the organization's lock: creations at once cannot pass the cap.
        orgs::lock_organization(&txn, org_id).await?;
        let existing = ServiceAccount::find()
            .filter(service_account::Column::OrganizationId.eq(org_id))
            .count(&txn)
            .await?;
        let cap = self.config.max_service_accounts_per_organization;
        if existing >= u64::from(cap) {
            txn.rollback().await?;
            return Err(AppError::Conflict(format!(
                "this organization has {existing} service accounts, the most this server allows ({cap})"
            )));
        }
        let account = service_account::ActiveModel {
            id: Set(new_id()),
            organization_id: Set(org_id),
            name: Set(name),
            description: Set(description),
            role_id: Set(role.id),
            disabled_at: Set(None),
            created_by: Set(grant.customer()),
            created_at: Set(now),
            updated_at: Set(now),
        }
        .insert(&txn)
        .await
        .map_err(|e| match AppError::from(e) {
            AppError::Conflict(_) => {
                AppError::Conflict("input.name: a service account with this name exists".into())
            }
            other => other,
        })?;
        audit::record(
            &txn,
            &grant,
            AuditEntry::new(
                Some(org_id),
                Action::ServiceAccountCreate,
                "service_account",
                account.id,
            )
            .name(&account.name)
            .details(json!({ "role": role.key })),
        )
        .await?;
        txn.commit().await?;
        self.service_account_view(account).await
    }

    /// Creates a key for a service account, bounded by its role; the secret is returned once.
    /// **Permissions**: `service_accounts:write`, and every permission of the account's role.
    #[instrument(skip_all, fields(service_account = %input.service_account_id))]
    pub async fn create_service_account_key(
        &self,
        actor: &Actor,
        input: NewServiceAccountKey,
    ) -> AppResult<Created> {
        let (account, grant) = self
            .find_service_account(
                actor,
                input.service_account_id,
                Perm::SERVICE_ACCOUNTS_WRITE,
            )
            .await?;
        let org_id = account.organization_id;
        grant.require_project(input.project_id)?;
        let role = self
            .require_covers_account(&grant, &account, "a key for this service account")
            .await?;
        if account.disabled_at.is_some() {
            return Err(AppError::Conflict("the service account is disabled".into()));
        }
        let name = validate::name("input.name", &input.name)?;
        let now = self.clock.now();
        let expires_at = self
            .new_key_expiry(&grant, org_id, input.expires_at)
            .await?;
        let rate =
            credentials::rate_limit("input.rateLimitPerMinute", input.rate_limit_per_minute)?;
        self.check_project(org_id, input.project_id).await?;
        let scopes = self
            .org_scopes(
                org_id,
                input.scopes.as_deref(),
                &access::role_permissions(&role)?,
            )
            .await?;
        let token = self
            .tokens
            .generate(TokenKind::ServiceAccount)
            .map_err(AppError::internal)?;
        let mut row = credentials::new_row(
            &self.verifier,
            &token,
            CredentialKind::ServiceAccountKey,
            name,
            now,
        );
        row.organization_id = Set(Some(org_id));
        row.project_id = Set(input.project_id);
        row.service_account_id = Set(Some(account.id));
        row.created_by = Set(grant.customer());
        row.scopes = Set(credentials::scopes_json(&scopes));
        row.expires_at = Set(expires_at);
        row.rate_limit_per_minute = Set(rate);
        let txn = self.db.begin().await?;
        let model = row.insert(&txn).await?;
        audit::record(
            &txn,
            &grant,
            AuditEntry::new(
                Some(org_id),
                Action::ServiceAccountKeyCreate,
                "api_key",
                model.id,
            )
            .name(&model.name)
            .details(json!({
                "service_account_id": account.id,
                "prefix": model.display_prefix,
                "scopes": model.scopes,
                "expires_at": model.expires_at,
            })),
        )
        .await?;
        txn.commit().await?;
        Ok(Created {
            credential: credentials::view(&self.db, model).await?,
            secret: token.token,
        })
    }

    /// Disables or re-enables a service account and with it all its keys.
    /// **Permissions**: `service_accounts:write`; to enable, every permission of its role.
    #[instrument(skip_all, fields(service_account = %id, disabled))]
    pub async fn set_service_account_disabled(
        &self,
        actor: &Actor,
        id: Uuid,
        disabled: bool,
    ) -> AppResult<ServiceAccountView> {
        let (account, grant) = self
            .find_service_account(actor, id, Perm::SERVICE_ACCOUNTS_WRITE)
            .await?;
        if account.disabled_at.is_some() == disabled {
            return self.service_account_view(account).await;
        }
        if !disabled {
            self.require_covers_account(&grant, &account, "enabling this service account")
                .await?;
        }
        let org_id = account.organization_id;
        let mut active: service_account::ActiveModel = account.into();
        active.disabled_at = Set(disabled.then(|| grant.at()));
        active.updated_at = Set(grant.at());
        let txn = self.db.begin().await?;
        let account = active.update(&txn).await?;
        let action = if disabled {
            Action::ServiceAccountDisable
        } else {
            Action::ServiceAccountEnable
        };
        audit::record(
            &txn,
            &grant,
            AuditEntry::new(Some(org_id), action, "service_account", account.id)
                .name(&account.name),
        )
        .await?;
        self.commit_invalidating(txn, Invalidation::Organization(org_id))
            .await?;
        self.service_account_view(account).await
    }
}

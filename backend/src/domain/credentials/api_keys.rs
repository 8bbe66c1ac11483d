//! API keys (SPEC §3): an organization's keys, owned by the user who made them and bounded
//! by that user's role at every use. Create, list, rename, disable/enable, revoke, rotate,
//! import. Rename, disable, enable, revoke and rotate also apply to service-account keys.

use chrono::{DateTime, TimeDelta, Utc};
use entity::{credential, prelude::*};
use keyward_proto::audit::Action;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, EntityTrait,
    QueryFilter, QuerySelect, TransactionTrait, sea_query::Expr,
};
use serde_json::json;
use tracing::instrument;
use uuid::Uuid;

use super::{
    Created, CredentialView, Environment, KeyFilter, ListedKey, MAX_GRACE, Page, Status,
    app_resources, check_scopes, new_expiry, new_row, parse_scopes, rate_limit, reread,
    scopes_json, status_at, status_condition, view, views,
};
use crate::{
    domain::{
        Actor, CredentialKind, Services,
        access::{self, Grant, Need},
        audit::{self, AuditEntry},
        ids::parse_id,
        invalidation::Invalidation,
        paging,
        permissions::{Perm, PermissionSet},
        validate, verify,
    },
    error::{AppError, AppResult},
    token::{NewToken, PlainToken, TokenHash, TokenKind},
};

/// How every JWT starts (`{"` in base64url).
const JWT_START: &str = "eyJ";

/// The lock imports take (see [`crate::db::lock_for_rule`]).
const IMPORT_PREFIX_LOCK: i64 = 0x6b77_696d_706f_7274;

/// Whether a token could start with both prefixes.
fn overlaps(a: &str, b: &str) -> bool {
    a.starts_with(b) || b.starts_with(a)
}

/// Input of [`Services::create_api_key`].
#[derive(Debug, Clone, Default)]
pub struct NewApiKey {
    pub organization_id: Uuid,
    pub project_id: Option<Uuid>,
    pub name: String,
    pub expires_at: Option<DateTime<Utc>>,
    pub scopes: Option<Vec<String>>,
    pub environment: Environment,
    pub rate_limit_per_minute: Option<i32>,
    /// Metadata, credits, named limits and identity (SPEC §3.5).
    pub controls: super::KeyControlsInput,
}

/// Input of [`Services::import_api_key`].
#[derive(Debug, Clone, Default)]
pub struct ImportedKey {
    pub organization_id: Uuid,
    pub project_id: Option<Uuid>,
    pub name: String,
    pub sha256: String,
    pub prefix: String,
    pub last4: Option<String>,
    pub expires_at: Option<DateTime<Utc>>,
    pub scopes: Option<Vec<String>>,
    pub environment: Environment,
    pub created_at: Option<DateTime<Utc>>,
}

/// Where a user's API key lives and who owns it.
struct KeyOwner {
    organization_id: Uuid,
    project_id: Option<Uuid>,
    owner: Uuid,
}

/// Fills in what every user's API key row holds, created or imported.
fn user_key_row(
    mut row: credential::ActiveModel,
    at: &KeyOwner,
    scopes: &Option<Vec<Perm>>,
    environment: Environment,
    expires_at: Option<DateTime<Utc>>,
) -> credential::ActiveModel {
    row.organization_id = Set(Some(at.organization_id));
    row.project_id = Set(at.project_id);
    row.customer_id = Set(Some(at.owner));
    row.created_by = Set(Some(at.owner));
    row.scopes = Set(scopes_json(scopes));
    row.environment = Set(Some(environment));
    row.expires_at = Set(expires_at);
    row
}

impl Services {
    /// Finds an organization credential by id for `perm`; foreign ids look unknown.
    pub(super) async fn org_credential(
        &self,
        actor: &Actor,
        id: Uuid,
        perm: Perm,
    ) -> AppResult<(credential::Model, Grant)> {
        let model = Credential::find_by_id(id)
            .filter(credential::Column::Kind.ne(CredentialKind::Pat))
            .one(&self.db)
            .await?
            .ok_or(AppError::NotFound("api key"))?;
        let org = model.organization_id.ok_or(AppError::NotFound("api key"))?;
        let grant = self.authorize_visible(actor, org, perm, "api key").await?;
        grant
            .require_project(model.project_id)
            .map_err(|_| AppError::NotFound("api key"))?;
        Ok((model, grant))
    }

    /// Refuses unless the grant covers everything `key` can ever do: whoever rotates a key
    /// gets its new secret, and whoever re-enables one gives it back its power.
    ///
    /// - your own API key does what you do, narrowed by its scopes: the grant must cover
    ///   that now (a narrow token of yours cannot rotate your unscoped key);
    /// - another user's API key may do up to its scopes, or anything its owner may one day
    ///   be given when it has none;
    /// - a service-account key, everything of its account's role.
    pub(super) async fn require_covers_key<C: ConnectionTrait>(
        &self,
        db: &C,
        grant: &Grant,
        key: &credential::Model,
        what: &str,
    ) -> AppResult<()> {
        let org = key
            .organization_id
            .ok_or_else(|| access::corrupt("organization credential", "it has no organization"))?;
        let apps = app_resources(db, &[org]).await?;
        let ceiling = match key.kind {
            CredentialKind::ServiceAccountKey => {
                let account = key
                    .service_account_id
                    .ok_or_else(|| access::corrupt("service-account key", "it has no account"))?;
                let role = Role::find_by_id(
                    ServiceAccount::find_by_id(account)
                        .one(db)
                        .await?
                        .ok_or_else(|| {
                            access::corrupt("service-account key", "its account is missing")
                        })?
                        .role_id,
                )
                .one(db)
                .await?
                .ok_or_else(|| access::corrupt("service account", "its role is missing"))?;
                access::role_permissions(&role)?
            }
            _ if key.customer_id.is_some() && key.customer_id == grant.customer() => {
                let hash = TokenHash::from_stored(&key.token_hash);
                let record = verify::load_record(db, &hash)
                    .await?
                    .ok_or(AppError::NotFound("api key"))?;
                record.effective_permissions().cloned().unwrap_or_default()
            }
            _ => match super::stored_scopes(key)? {
                Some(scopes) => PermissionSet::of(&scopes),
                None => PermissionSet::everything(),
            },
        };
        grant.require_covers(&ceiling, &apps, what)
    }

    /// The longest a new API or service-account key of `org_id` may live: the instance's
    /// maximum, or the organization's when it is lower.
    pub(in crate::domain) async fn api_key_max_lifetime(
        &self,
        org_id: Uuid,
    ) -> AppResult<Option<TimeDelta>> {
        let instance = self.config.api_key_max_lifetime_days.map(i64::from);
        let org = Organization::find_by_id(org_id)
            .one(&self.db)
            .await?
            .and_then(|o| o.api_key_max_lifetime_days)
            .map(i64::from);
        let days = match (instance, org) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        Ok(days.map(TimeDelta::days))
    }

    /// A new API or service-account key's expiry in `org_id` (`input.expiresAt`): within
    /// the lifetime allowed there, and no later than the credential making it.
    pub(in crate::domain) async fn new_key_expiry(
        &self,
        grant: &Grant,
        org_id: Uuid,
        requested: Option<DateTime<Utc>>,
    ) -> AppResult<Option<DateTime<Utc>>> {
        let now = grant.at();
        let max = self.api_key_max_lifetime(org_id).await?;
        new_expiry(
            "input.expiresAt",
            requested,
            max,
            max.map(|max| now + max),
            grant.credential_expiry(),
            now,
        )
    }

    /// Creates an API key owned by the acting user. **Permissions**: `api_keys:write`;
    /// its scopes within what the caller holds.
    #[instrument(skip_all, fields(org = %input.organization_id))]
    pub async fn create_api_key(&self, actor: &Actor, input: NewApiKey) -> AppResult<Created> {
        let grant = self
            .authorize(
                actor,
                Need::Org(input.organization_id, Perm::API_KEYS_WRITE),
            )
            .await?;
        grant.require_project(input.project_id)?;
        let owner = grant.customer().ok_or_else(|| {
            AppError::Forbidden(
                "API keys are owned by a user; a service account creates service-account keys"
                    .into(),
            )
        })?;
        let now = self.clock.now();
        let name = validate::name("input.name", &input.name)?;
        let expires_at = self
            .new_key_expiry(&grant, input.organization_id, input.expires_at)
            .await?;
        let rate = rate_limit("input.rateLimitPerMinute", input.rate_limit_per_minute)?;
        let controls = input.controls.check()?;
        if input.controls.external_id.is_some() {
            grant.require_whole_organization("identities")?;
        }
        self.check_project(input.organization_id, input.project_id)
            .await?;
        let scopes = self
            .org_scopes(input.organization_id, input.scopes.as_deref(), grant.held())
            .await?
            // A key made with a scoped credential carries no more than those scopes.
            .or_else(|| grant.credential_scopes().map(<[Perm]>::to_vec));
        let kind = match input.environment {
            Environment::Live => TokenKind::ApiKeyLive,
            Environment::Test => TokenKind::ApiKeyTest,
        };
        let token = self.tokens.generate(kind).map_err(AppError::internal)?;
        let mut row = user_key_row(
            new_row(&self.verifier, &token, CredentialKind::ApiKey, name, now),
            &KeyOwner {
                organization_id: input.organization_id,
                project_id: input.project_id,
                owner,
            },
            &scopes,
            input.environment,
            expires_at,
        );
        row.rate_limit_per_minute = Set(rate);

        let txn = self.db.begin().await?;
        super::owner_still_member(&txn, input.organization_id, Some(owner)).await?;
        controls
            .fill(
                &txn,
                &mut row,
                input.organization_id,
                self.config.max_identities_per_organization,
                now,
            )
            .await?;
        let model = row.insert(&txn).await?;
        controls
            .write(&txn, &model, input.organization_id, now)
            .await?;
        audit::record(
            &txn,
            &grant,
            AuditEntry::new(
                model.organization_id,
                Action::ApiKeyCreate,
                "api_key",
                model.id,
            )
            .name(&model.name)
            .details(json!({
                "prefix": model.display_prefix,
                "project_id": model.project_id,
                "environment": model.environment.map(Environment::as_str),
                "expires_at": model.expires_at,
                "scopes": model.scopes,
                "rate_limit_per_minute": model.rate_limit_per_minute,
                "controls": controls.details(),
            })),
        )
        .await?;
        txn.commit().await?;
        Ok(Created {
            credential: view(&self.db, model).await?,
            secret: token.token,
        })
    }

    /// Parses requested scopes for a credential of `org_id`: known resources only, and
    /// none beyond `bound` (what the creator holds, or a service account's role).
    pub(in crate::domain) async fn org_scopes(
        &self,
        org_id: Uuid,
        raw: Option<&[String]>,
        bound: &PermissionSet,
    ) -> AppResult<Option<Vec<Perm>>> {
        let Some(raw) = raw else {
            return Ok(None);
        };
        let scopes = parse_scopes(&self.config.scope_aliases, raw)?;
        let apps = app_resources(&self.db, &[org_id]).await?;
        check_scopes(&scopes, &apps, bound)?;
        Ok(Some(scopes))
    }

    pub(in crate::domain) async fn check_project(
        &self,
        org_id: Uuid,
        project_id: Option<Uuid>,
    ) -> AppResult<()> {
        if project_id.is_none() {
            let per_project = Organization::find_by_id(org_id)
                .one(&self.db)
                .await?
                .is_some_and(|o| o.keys_per_project);
            if per_project {
                return Err(AppError::invalid(
                    "input.projectId",
                    "this organization's keys each belong to a project: choose one",
                ));
            }
        }
        if let Some(pid) = project_id {
            let found = Project::find_by_id(pid).one(&self.db).await?;
            if found.is_none_or(|p| p.organization_id != org_id) {
                return Err(AppError::invalid(
                    "input.projectId",
                    "no such project in this organization",
                ));
            }
        }
        Ok(())
    }

    /// An organization's API keys matching `filter`, in its order, each with the cursor
    /// of the keys after it. `after` is such a cursor: in the newest-first order a key's
    /// id, in any other the key's place as its page read it ([`paging::Mark`]).
    /// **Permissions**: `api_keys:read`.
    pub async fn api_keys(
        &self,
        actor: &Actor,
        org_id: Uuid,
        filter: KeyFilter,
        first: u64,
        after: Option<&str>,
    ) -> AppResult<Page<ListedKey>> {
        let grant = self
            .authorize(actor, Need::Org(org_id, Perm::API_KEYS_READ))
            .await?;
        let KeyFilter {
            project_id,
            status,
            search,
            created_by,
            order,
        } = filter;
        let search = validate::search("search", search)?;
        let bound = grant.bound_project();
        if let (Some(bound), Some(asked)) = (bound, project_id)
            && bound != asked
        {
            return Err(AppError::Forbidden(
                "this key is limited to another project".into(),
            ));
        }
        let mut q = Credential::find()
            .filter(credential::Column::OrganizationId.eq(org_id))
            .filter(credential::Column::Kind.eq(CredentialKind::ApiKey));
        if let Some(p) = project_id.or(bound) {
            q = q.filter(credential::Column::ProjectId.eq(p));
        }
        if let Some(s) = status {
            q = q.filter(status_condition(s, self.clock.now()));
        }
        if let Some(term) = search {
            q = q.filter(
                Condition::any()
                    .add(validate::contains_ci(credential::Column::Name, &term))
                    .add(validate::contains_ci(
                        credential::Column::DisplayPrefix,
                        &term,
                    )),
            );
        }
        if let Some(creator) = created_by {
            q = q.filter(credential::Column::CreatedBy.eq(creator));
        }
        let Some(sort) = order.sort() else {
            let after = after.map(|a| parse_id("after", a)).transpose()?;
            let page = self.credential_page(q, first, after).await?;
            return page.try_map(|view| {
                let cursor = view.model.id.to_string();
                Ok(ListedKey { view, cursor })
            });
        };
        let after = after
            .map(|a| paging::Mark::read("after", a, order.name(), sort.of))
            .transpose()?;
        let page = paging::sorted_page(
            &self.db,
            q,
            credential::Column::Id,
            |m| m.id,
            sort,
            first,
            after,
        )
        .await?;
        let (models, marks): (Vec<_>, Vec<_>) = page.items.into_iter().unzip();
        let items = views(&self.db, models)
            .await?
            .into_iter()
            .zip(marks)
            .map(|(view, mark)| ListedKey {
                cursor: mark.cursor(order.name()),
                view,
            })
            .collect();
        Ok(Page {
            items,
            has_next: page.has_next,
            total: page.total,
        })
    }

    /// One page of credentials with what listings show beside them.
    pub(in crate::domain) async fn credential_page(
        &self,
        q: sea_orm::Select<Credential>,
        first: u64,
        after: Option<Uuid>,
    ) -> AppResult<Page<CredentialView>> {
        let page = paging::page(&self.db, q, credential::Column::Id, first, after).await?;
        let items = views(&self.db, page.items).await?;
        Ok(Page {
            items,
            has_next: page.has_next,
            total: page.total,
        })
    }

    /// One organization credential. **Permissions**: `api_keys:read`.
    pub async fn api_key(&self, actor: &Actor, id: Uuid) -> AppResult<CredentialView> {
        let (model, _) = self.org_credential(actor, id, Perm::API_KEYS_READ).await?;
        view(&self.db, model).await
    }

    /// Applies `change` to a credential the grant was given for, and audits it as `action`.
    async fn change_org_credential(
        &self,
        grant: &Grant,
        current: credential::Model,
        action: Action,
        change: impl FnOnce(
            &credential::Model,
        ) -> AppResult<Option<(credential::ActiveModel, serde_json::Value)>>,
    ) -> AppResult<CredentialView> {
        let Some((mut active, details)) = change(&current)? else {
            return view(&self.db, current).await;
        };
        active.updated_at = Set(self.clock.now());
        let txn = self.db.begin().await?;
        let model = active.update(&txn).await?;
        audit::record(
            &txn,
            grant,
            AuditEntry::new(model.organization_id, action, "api_key", model.id)
                .name(&model.name)
                .details(details),
        )
        .await?;
        self.commit_invalidating(
            txn,
            Invalidation::Credential(TokenHash::from_stored(&model.token_hash)),
        )
        .await?;
        view(&self.db, model).await
    }

    /// Renames a key. **Permissions**: `api_keys:write`.
    #[instrument(skip_all, fields(key = %id))]
    pub async fn rename_api_key(
        &self,
        actor: &Actor,
        id: Uuid,
        name: &str,
    ) -> AppResult<CredentialView> {
        let (current, grant) = self.org_credential(actor, id, Perm::API_KEYS_WRITE).await?;
        let name = validate::name("input.name", name)?;
        self.change_org_credential(&grant, current, Action::ApiKeyRename, |current| {
            if current.name == name {
                return Ok(None);
            }
            let details = json!({ "from": current.name, "to": name });
            let mut active: credential::ActiveModel = current.clone().into();
            active.name = Set(name.clone());
            Ok(Some((active, details)))
        })
        .await
    }

    /// Disables or re-enables a key (reversible). **Permissions**: `api_keys:write`; to
    /// enable, everything the key can do.
    #[instrument(skip_all, fields(key = %id, disabled))]
    pub async fn set_api_key_disabled(
        &self,
        actor: &Actor,
        id: Uuid,
        disabled: bool,
    ) -> AppResult<CredentialView> {
        let (current, grant) = self.org_credential(actor, id, Perm::API_KEYS_WRITE).await?;
        if !disabled && current.disabled_at.is_some() {
            self.require_covers_key(&self.db, &grant, &current, "enabling this key")
                .await?;
        }
        let action = if disabled {
            Action::ApiKeyDisable
        } else {
            Action::ApiKeyEnable
        };
        self.change_org_credential(&grant, current, action, |current| {
            if current.revoked_at.is_some() {
                return Err(AppError::Conflict("a revoked key cannot be changed".into()));
            }
            if current.disabled_at.is_some() == disabled {
                return Ok(None);
            }
            let mut active: credential::ActiveModel = current.clone().into();
            active.disabled_at = Set(disabled.then(|| grant.at()));
            Ok(Some((active, json!({}))))
        })
        .await
    }

    /// Revokes a key: irreversible, effective before this returns. **Permissions**: `api_keys:delete`.
    #[instrument(skip_all, fields(key = %id))]
    pub async fn revoke_api_key(
        &self,
        actor: &Actor,
        id: Uuid,
        reason: Option<String>,
    ) -> AppResult<CredentialView> {
        let (current, grant) = self
            .org_credential(actor, id, Perm::API_KEYS_DELETE)
            .await?;
        let reason = validate::reason("input.reason", reason)?;
        let entry = AuditEntry::new(current.organization_id, Action::ApiKeyRevoke, "api_key", id)
            .details(json!({ "reason": reason }));
        self.revoke_credential(&grant, current, reason, entry).await
    }

    /// Issues a new secret with the same settings; the old one keeps working for
    /// `grace` (0–24 h), then expires. **Permissions**: `api_keys:write`, and everything
    /// the key can do (the caller receives its new secret); another user's key only with
    /// `api_keys:admin`.
    #[instrument(skip_all, fields(key = %id))]
    pub async fn rotate_api_key(
        &self,
        actor: &Actor,
        id: Uuid,
        grace: TimeDelta,
    ) -> AppResult<Created> {
        let (old, grant) = self.org_credential(actor, id, Perm::API_KEYS_WRITE).await?;
        // Whoever rotates a key receives its new secret: another user's key is rotated
        // only by its owner or with `api_keys:admin` (the successor keeps its owner).
        if old.customer_id.is_some()
            && old.customer_id != grant.customer()
            && !grant.held().allows(&Perm::API_KEYS_ADMIN)
        {
            return Err(AppError::MissingPermission(
                Perm::API_KEYS_ADMIN.to_string(),
            ));
        }
        if grace < TimeDelta::zero() || grace > MAX_GRACE {
            return Err(AppError::invalid(
                "input.gracePeriodSeconds",
                "must be between 0 and 86400",
            ));
        }
        let now = self.clock.now();
        match status_at(&old, now) {
            Status::Revoked => {
                return Err(AppError::Conflict("a revoked key cannot be rotated".into()));
            }
            Status::Expired => {
                return Err(AppError::Conflict(
                    "an expired key cannot be rotated".into(),
                ));
            }
            Status::Rotating => {
                return Err(AppError::Conflict(
                    "this key has already been rotated".into(),
                ));
            }
            Status::Active | Status::Disabled => {}
        }
        if old.imported {
            return Err(AppError::Conflict(
                "an imported key is rotated by creating a new key".into(),
            ));
        }
        let old_kind = old.kind;
        let kind = match (old_kind, old.environment) {
            (CredentialKind::ServiceAccountKey, _) => TokenKind::ServiceAccount,
            (_, Some(Environment::Test)) => TokenKind::ApiKeyTest,
            _ => TokenKind::ApiKeyLive,
        };
        let token = self.tokens.generate(kind).map_err(AppError::internal)?;
        // The new secret lives no longer than the lifetime allowed now.
        let max = match old.organization_id {
            Some(org) => self.api_key_max_lifetime(org).await?,
            None => None,
        };

        let txn = self.db.begin().await?;
        if let Some(org) = old.organization_id {
            super::owner_still_member(&txn, org, old.customer_id).await?;
        }
        // Claimed inside the transaction, and only while nothing retired it: a revoke or
        // another rotation racing this one waits for it and then sees it, or wins and
        // this one issues nothing (SPEC §3.3).
        let claimed = Credential::update_many()
            .col_expr(credential::Column::GraceExpiresAt, Expr::value(now + grace))
            .col_expr(credential::Column::UpdatedAt, Expr::value(now))
            .filter(credential::Column::Id.eq(old.id))
            .filter(credential::Column::RevokedAt.is_null())
            .filter(credential::Column::GraceExpiresAt.is_null())
            .filter(
                Condition::any()
                    .add(credential::Column::ExpiresAt.is_null())
                    .add(credential::Column::ExpiresAt.gt(now)),
            )
            .exec(&txn)
            .await?;
        if claimed.rows_affected != 1 {
            txn.rollback().await?;
            return Err(AppError::Conflict(
                "this key was revoked or rotated meanwhile".into(),
            ));
        }
        // The settings as they stand under the claim, not as first read.
        let old = reread(&txn, old.id).await?;
        self.require_covers_key(&txn, &grant, &old, "rotating this key")
            .await?;
        let mut row = new_row(&self.verifier, &token, old_kind, old.name.clone(), now);
        row.organization_id = Set(old.organization_id);
        row.project_id = Set(old.project_id);
        row.customer_id = Set(old.customer_id);
        row.service_account_id = Set(old.service_account_id);
        row.created_by = Set(grant.customer().or(old.created_by));
        row.scopes = Set(old.scopes.clone());
        row.environment = Set(old.environment);
        // As long as the old secret, within the lifetime allowed now and the expiry of
        // the credential rotating it.
        let bounds = [
            old.expires_at,
            max.map(|max| now + max),
            grant.credential_expiry(),
        ];
        row.expires_at = Set(bounds.into_iter().flatten().min());
        row.disabled_at = Set(old.disabled_at);
        row.rate_limit_per_minute = Set(old.rate_limit_per_minute);
        row.rotated_from_id = Set(Some(old.id));
        let new = row.insert(&txn).await?;
        audit::record(
            &txn,
            &grant,
            AuditEntry::new(old.organization_id, Action::ApiKeyRotate, "api_key", old.id)
                .name(&old.name)
                .details(json!({
                    "new_key_id": new.id,
                    "new_prefix": new.display_prefix,
                    "grace_period_seconds": grace.num_seconds(),
                })),
        )
        .await?;
        self.commit_invalidating(
            txn,
            Invalidation::Credential(TokenHash::from_stored(&old.token_hash)),
        )
        .await?;
        Ok(Created {
            credential: view(&self.db, new).await?,
            secret: token.token,
        })
    }

    /// Imports a key made by another system by its SHA-256. **Permissions**: `api_keys:admin`.
    #[instrument(skip_all, fields(org = %input.organization_id))]
    pub async fn import_api_key(
        &self,
        actor: &Actor,
        input: ImportedKey,
    ) -> AppResult<CredentialView> {
        let grant = self
            .authorize(
                actor,
                Need::Org(input.organization_id, Perm::API_KEYS_ADMIN),
            )
            .await?;
        grant.require_project(input.project_id)?;
        // A refused import is a guess at a key (below): an address held back for
        // guessing imports nothing.
        self.refuse_held_back(actor.meta.ip.as_deref())?;
        let owner = grant
            .customer()
            .ok_or_else(|| AppError::Forbidden("imported keys are owned by a user".into()))?;
        let name = validate::name("input.name", &input.name)?;
        let hash = TokenHash::from_hex(&input.sha256)
            .ok_or_else(|| AppError::invalid("input.sha256", "must be 64 hexadecimal digits"))?;
        let prefix = input.prefix.trim().to_owned();
        let prefix_ok = (3..=32).contains(&prefix.len())
            && prefix
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        if !prefix_ok {
            return Err(AppError::invalid(
                "input.prefix",
                "must be 3-32 letters, digits, `_` or `-`: the start every imported token shares, e.g. `vc_`",
            ));
        }
        // Every presented token starting with an imported prefix is read as an imported
        // key: a prefix that overlapped this deployment's own tokens, or the identity
        // provider's JWTs, would change how those are read.
        let own = format!("{}_", self.tokens.prefix());
        if overlaps(&prefix, &own) {
            return Err(AppError::invalid(
                "input.prefix",
                format!("must not overlap this deployment's own tokens (`{own}…`)"),
            ));
        }
        if overlaps(&prefix, JWT_START) {
            return Err(AppError::invalid(
                "input.prefix",
                "must not overlap the identity provider's tokens (JWTs start with `eyJ`)",
            ));
        }
        let provider = self.config.oidc.iter().flat_map(|o| &o.token_prefixes);
        if let Some(theirs) = provider.into_iter().find(|p| overlaps(&prefix, p)) {
            return Err(AppError::invalid(
                "input.prefix",
                format!("must not overlap the identity provider's tokens (`{theirs}…`)"),
            ));
        }
        let last4 = match input
            .last4
            .map(|l| l.trim().to_owned())
            .filter(|l| !l.is_empty())
        {
            Some(l) if l.chars().count() != 4 || !l.chars().all(|c| c.is_ascii_alphanumeric()) => {
                return Err(AppError::invalid(
                    "input.last4",
                    "must be the token's last 4 letters or digits",
                ));
            }
            other => other.unwrap_or_default(),
        };
        let now = self.clock.now();
        let expires_at = self
            .new_key_expiry(&grant, input.organization_id, input.expires_at)
            .await?;
        if input.created_at.is_some_and(|at| at > now) {
            return Err(AppError::invalid(
                "input.createdAt",
                "must not be in the future",
            ));
        }
        self.check_project(input.organization_id, input.project_id)
            .await?;
        let scopes = self
            .org_scopes(input.organization_id, input.scopes.as_deref(), grant.held())
            .await?
            .or_else(|| grant.credential_scopes().map(<[Perm]>::to_vec));
        let stub = NewToken {
            token: PlainToken::new(String::new()),
            hash,
            display_prefix: prefix.clone(),
            last4,
        };
        let mut row = user_key_row(
            new_row(
                &self.verifier,
                &stub,
                CredentialKind::ApiKey,
                name.clone(),
                input.created_at.unwrap_or(now),
            ),
            &KeyOwner {
                organization_id: input.organization_id,
                project_id: input.project_id,
                owner,
            },
            &scopes,
            input.environment,
            expires_at,
        );
        row.imported = Set(true);
        row.import_prefix = Set(Some(prefix.clone()));
        row.updated_at = Set(now);

        let txn = self.db.begin().await?;
        super::owner_still_member(&txn, input.organization_id, Some(owner)).await?;
        // A prefix belongs to one organization: decided under a lock, so two
        // organizations importing overlapping prefixes at once cannot both succeed.
        crate::db::lock_for_rule(&txn, IMPORT_PREFIX_LOCK).await?;
        let taken: Vec<Option<String>> = Credential::find()
            .select_only()
            .column(credential::Column::ImportPrefix)
            .filter(credential::Column::ImportPrefix.is_not_null())
            .filter(credential::Column::OrganizationId.ne(input.organization_id))
            .distinct()
            .into_tuple()
            .all(&txn)
            .await?;
        if taken.iter().flatten().any(|other| overlaps(&prefix, other)) {
            txn.rollback().await?;
            return Err(AppError::invalid(
                "input.prefix",
                "overlaps a prefix another organization imports keys under; choose a longer one",
            ));
        }
        let model = match row.insert(&txn).await.map_err(AppError::from) {
            Ok(model) => model,
            // The hash is some key's, perhaps another organization's. Saying so would
            // confirm a guessed key: the answer names no reason, the attempt counts as a
            // guess, and the audit log keeps it.
            Err(AppError::Conflict(_)) => {
                txn.rollback().await?;
                self.note_guess(actor.meta.ip.as_deref());
                let txn = self.db.begin().await?;
                audit::record(
                    &txn,
                    &grant,
                    AuditEntry::new(
                        Some(input.organization_id),
                        Action::ApiKeyImportRefused,
                        "organization",
                        input.organization_id,
                    )
                    .name(&name)
                    .details(json!({ "prefix": prefix })),
                )
                .await?;
                txn.commit().await?;
                return Err(AppError::invalid(
                    "input.sha256",
                    "this key cannot be imported",
                ));
            }
            Err(other) => return Err(other),
        };
        audit::record(
            &txn,
            &grant,
            AuditEntry::new(
                model.organization_id,
                Action::ApiKeyImport,
                "api_key",
                model.id,
            )
            .name(&model.name)
            .details(
                json!({ "prefix": prefix, "project_id": model.project_id, "scopes": model.scopes }),
            ),
        )
        .await?;
        self.verifier.add_import_prefix(&prefix);
        self.commit_invalidating(txn, Invalidation::ImportPrefixes)
            .await?;
        view(&self.db, model).await
    }
}

//! API keys, personal access tokens and service-account keys (SPEC §3): create, list,
//! rename, disable/enable, revoke, rotate and import. The secret exists only in the
//! [`Created`] value returned by creation and rotation.

use std::collections::{BTreeSet, HashMap};

use chrono::{DateTime, TimeDelta, Utc};
use entity::{application_resource, credential, customer, organization, prelude::*, project};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, EntityTrait,
    PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, TransactionTrait,
};
use serde_json::json;
use tracing::instrument;
use uuid::Uuid;

use super::{
    Actor, CredentialKind, CustomerRef, Principal, Services, access,
    audit::{self, AuditEntry},
    ids::new_id,
    permissions::{Level, Perm, PermissionSet, is_builtin_resource},
    validate,
};
use crate::{
    error::{AppError, AppResult},
    token::{NewToken, PlainToken, TokenHash, TokenKind},
};

/// Longest a rotated credential may keep working.
pub const MAX_GRACE: TimeDelta = TimeDelta::hours(24);
/// Default lifetime of a personal access token.
pub const PAT_DEFAULT_LIFETIME: TimeDelta = TimeDelta::days(120);
/// Window in which a credential counts as nearing expiry.
pub const EXPIRY_WARNING: TimeDelta = TimeDelta::days(7);
/// Largest page of any list.
pub const MAX_PAGE: u64 = 100;

/// Which of an organization's API keys to list.
#[derive(Debug, Clone, Default)]
pub struct KeyFilter {
    pub project_id: Option<Uuid>,
    pub status: Option<Status>,
    /// Part of the name or display prefix, any case.
    pub search: Option<String>,
    /// Only keys this user created.
    pub created_by: Option<Uuid>,
}

/// Live or test traffic (API keys).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Environment {
    #[default]
    Live,
    Test,
}

impl Environment {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Live => "live",
            Self::Test => "test",
        }
    }
}

/// Where a credential stands right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Active,
    Disabled,
    Expired,
    Revoked,
    Rotating,
}

/// The moment a credential stops working on its own, if any.
pub fn effective_expiry(c: &credential::Model) -> Option<DateTime<Utc>> {
    match (c.expires_at, c.grace_expires_at) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// A credential's status at `now`.
pub fn status_at(c: &credential::Model, now: DateTime<Utc>) -> Status {
    if c.revoked_at.is_some() {
        Status::Revoked
    } else if effective_expiry(c).is_some_and(|at| at <= now) {
        Status::Expired
    } else if c.disabled_at.is_some() {
        Status::Disabled
    } else if c.grace_expires_at.is_some() {
        Status::Rotating
    } else {
        Status::Active
    }
}

/// Whether the credential stops working within [`EXPIRY_WARNING`].
pub fn expires_soon(c: &credential::Model, now: DateTime<Utc>) -> bool {
    status_at(c, now) != Status::Revoked
        && effective_expiry(c).is_some_and(|at| at > now && at - now <= EXPIRY_WARNING)
}

fn status_condition(status: Status, now: DateTime<Utc>) -> Condition {
    use credential::Column as C;
    let live = Condition::all().add(C::RevokedAt.is_null());
    let not_expired = Condition::all()
        .add(
            Condition::any()
                .add(C::ExpiresAt.is_null())
                .add(C::ExpiresAt.gt(now)),
        )
        .add(
            Condition::any()
                .add(C::GraceExpiresAt.is_null())
                .add(C::GraceExpiresAt.gt(now)),
        );
    match status {
        Status::Revoked => Condition::all().add(C::RevokedAt.is_not_null()),
        Status::Expired => live.add(not_expired.not()),
        Status::Disabled => live.add(not_expired).add(C::DisabledAt.is_not_null()),
        Status::Rotating => live
            .add(not_expired)
            .add(C::DisabledAt.is_null())
            .add(C::GraceExpiresAt.is_not_null()),
        Status::Active => live
            .add(not_expired)
            .add(C::DisabledAt.is_null())
            .add(C::GraceExpiresAt.is_null()),
    }
}

/// A credential with what a listing shows beside it.
#[derive(Debug, Clone)]
pub struct CredentialView {
    pub model: credential::Model,
    pub project: Option<project::Model>,
    pub creator: Option<CustomerRef>,
    pub scopes: Option<Vec<Perm>>,
}

impl CredentialView {
    pub fn kind(&self) -> CredentialKind {
        CredentialKind::parse(&self.model.kind).unwrap_or(CredentialKind::ApiKey)
    }
}

/// A credential just created or rotated, with its secret: the only time it is shown.
#[derive(Debug)]
pub struct Created {
    pub credential: CredentialView,
    pub secret: PlainToken,
}

/// One page of a list.
#[derive(Debug, Clone)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub has_next: bool,
    pub total: u64,
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

/// Input of [`Services::create_personal_access_token`].
#[derive(Debug, Clone, Default)]
pub struct NewPat {
    pub name: String,
    pub expires_at: Option<DateTime<Utc>>,
    pub scopes: Option<Vec<String>>,
}

fn parse_scopes(raw: &[String]) -> AppResult<Vec<Perm>> {
    if raw.len() > 64 {
        return Err(AppError::invalid("input.scopes", "at most 64 scopes"));
    }
    let mut out = BTreeSet::new();
    for s in raw {
        let perm = Perm::parse(s.trim()).map_err(|e| AppError::invalid("input.scopes", e))?;
        out.insert(perm);
    }
    Ok(out.into_iter().collect())
}

/// Application resources defined by the given organizations.
pub async fn app_resources<C: ConnectionTrait>(db: &C, org_ids: &[Uuid]) -> AppResult<Vec<String>> {
    let mut names: Vec<String> = ApplicationResource::find()
        .filter(application_resource::Column::OrganizationId.is_in(org_ids.to_vec()))
        .all(db)
        .await?
        .into_iter()
        .map(|r| r.name)
        .collect();
    names.sort();
    names.dedup();
    Ok(names)
}

/// Checks scopes against the known resources and the creator's own permissions.
fn check_scopes(
    scopes: &[Perm],
    known_apps: &[String],
    creator: Option<&PermissionSet>,
) -> AppResult<()> {
    for scope in scopes {
        if !is_builtin_resource(&scope.resource) && !known_apps.contains(&scope.resource) {
            return Err(AppError::invalid(
                "input.scopes",
                format!("unknown resource `{}`", scope.resource),
            ));
        }
        if let Some(perms) = creator
            && !perms.allows(scope)
        {
            return Err(AppError::Forbidden(format!(
                "{scope} (a credential cannot carry more than its creator has)"
            )));
        }
    }
    Ok(())
}

pub(super) fn scopes_json(scopes: &Option<Vec<Perm>>) -> Option<serde_json::Value> {
    scopes
        .as_ref()
        .map(|s| json!(s.iter().map(ToString::to_string).collect::<Vec<_>>()))
}

/// The stored scopes of a credential.
pub fn stored_scopes(model: &credential::Model) -> Option<Vec<Perm>> {
    let list: Vec<String> = serde_json::from_value(model.scopes.clone()?).ok()?;
    Some(list.iter().filter_map(|s| Perm::parse(s).ok()).collect())
}

/// Loads what listings show beside many credentials with two queries.
pub(super) async fn views<C: ConnectionTrait>(
    db: &C,
    models: Vec<credential::Model>,
) -> AppResult<Vec<CredentialView>> {
    let project_ids: Vec<Uuid> = models.iter().filter_map(|m| m.project_id).collect();
    let customer_ids: Vec<Uuid> = models
        .iter()
        .filter_map(|m| m.created_by.or(m.customer_id))
        .collect();
    let projects: HashMap<Uuid, project::Model> = if project_ids.is_empty() {
        HashMap::new()
    } else {
        Project::find()
            .filter(project::Column::Id.is_in(project_ids))
            .all(db)
            .await?
            .into_iter()
            .map(|p| (p.id, p))
            .collect()
    };
    let customers: HashMap<Uuid, customer::Model> = if customer_ids.is_empty() {
        HashMap::new()
    } else {
        Customer::find()
            .filter(customer::Column::Id.is_in(customer_ids))
            .all(db)
            .await?
            .into_iter()
            .map(|c| (c.id, c))
            .collect()
    };
    Ok(models
        .into_iter()
        .map(|m| CredentialView {
            project: m.project_id.and_then(|id| projects.get(&id).cloned()),
            creator: m
                .created_by
                .or(m.customer_id)
                .and_then(|id| customers.get(&id).map(CustomerRef::from)),
            scopes: stored_scopes(&m),
            model: m,
        })
        .collect())
}

pub(super) async fn view<C: ConnectionTrait>(
    db: &C,
    model: credential::Model,
) -> AppResult<CredentialView> {
    views(db, vec![model])
        .await?
        .pop()
        .ok_or_else(|| AppError::internal(std::io::Error::other("credential view vanished")))
}

/// Fields of a new credential row; the caller fills in the owner and settings.
pub(super) fn new_row(
    token: &NewToken,
    kind: CredentialKind,
    name: String,
    now: DateTime<Utc>,
) -> credential::ActiveModel {
    credential::ActiveModel {
        id: Set(new_id()),
        kind: Set(kind.as_str().into()),
        organization_id: Set(None),
        project_id: Set(None),
        customer_id: Set(None),
        service_account_id: Set(None),
        created_by: Set(None),
        name: Set(name),
        display_prefix: Set(token.display_prefix.clone()),
        last4: Set(token.last4.clone()),
        token_hash: Set(token.hash.as_str().to_owned()),
        scopes: Set(None),
        environment: Set(None),
        expires_at: Set(None),
        disabled_at: Set(None),
        revoked_at: Set(None),
        revoked_reason: Set(None),
        revoked_by: Set(None),
        rotated_from_id: Set(None),
        grace_expires_at: Set(None),
        rate_limit_per_minute: Set(None),
        imported: Set(false),
        import_prefix: Set(None),
        last_used_at: Set(None),
        last_used_ip: Set(None),
        request_count: Set(0),
        created_at: Set(now),
        updated_at: Set(now),
    }
}

pub(super) fn rate_limit(field: &str, value: Option<i32>) -> AppResult<Option<i32>> {
    match value {
        Some(v) if !(1..=1_000_000).contains(&v) => {
            Err(AppError::invalid(field, "must be between 1 and 1000000"))
        }
        other => Ok(other),
    }
}

/// Issues a personal access token for `customer_id` inside the caller's transaction.
pub async fn issue_pat_in<C: ConnectionTrait>(
    txn: &C,
    services: &Services,
    actor: &Actor,
    customer_id: Uuid,
    name: String,
    expires_at: DateTime<Utc>,
    scopes: Option<Vec<Perm>>,
) -> AppResult<(credential::Model, PlainToken)> {
    let token = services
        .tokens
        .generate(TokenKind::Pat)
        .map_err(AppError::internal)?;
    let mut row = new_row(&token, CredentialKind::Pat, name, Utc::now());
    row.customer_id = Set(Some(customer_id));
    row.created_by = Set(Some(customer_id));
    row.expires_at = Set(Some(expires_at));
    row.scopes = Set(scopes_json(&scopes));
    let model = row.insert(txn).await?;
    audit::record(
        txn,
        actor,
        AuditEntry::new(
            None,
            "personal_access_token.create",
            "personal_access_token",
            model.id,
        )
        .name(&model.name)
        .details(json!({
            "owner_id": customer_id,
            "prefix": model.display_prefix,
            "expires_at": model.expires_at,
            "scopes": model.scopes,
        })),
    )
    .await?;
    Ok((model, token.token))
}

impl Services {
    /// Finds an organization credential by id for `perm`; foreign ids look unknown.
    async fn org_credential(
        &self,
        actor: &Actor,
        id: Uuid,
        perm: Perm,
    ) -> AppResult<credential::Model> {
        let model = Credential::find_by_id(id)
            .filter(credential::Column::Kind.ne(CredentialKind::Pat.as_str()))
            .one(&self.db)
            .await?
            .ok_or(AppError::NotFound("api key"))?;
        let org = model.organization_id.ok_or(AppError::NotFound("api key"))?;
        self.require_visible(actor, org, perm, "api key").await?;
        access::require_project(&actor.principal, model.project_id)
            .map_err(|_| AppError::NotFound("api key"))?;
        Ok(model)
    }

    /// Any credential the actor may see: an org credential with `perm` in its org, or
    /// the actor's own PAT.
    pub async fn visible_credential(
        &self,
        actor: &Actor,
        id: Uuid,
        perm: Perm,
    ) -> AppResult<credential::Model> {
        let model = Credential::find_by_id(id)
            .one(&self.db)
            .await?
            .ok_or(AppError::NotFound("credential"))?;
        match model.organization_id {
            Some(org) => {
                self.require_visible(actor, org, perm, "credential").await?;
                access::require_project(&actor.principal, model.project_id)
                    .map_err(|_| AppError::NotFound("credential"))?;
            }
            None => {
                let own = actor
                    .customer()
                    .is_some_and(|c| Some(c.id) == model.customer_id);
                if !own
                    || actor
                        .principal
                        .credential()
                        .is_some_and(|c| c.organization_id.is_some())
                {
                    return Err(AppError::NotFound("credential"));
                }
            }
        }
        Ok(model)
    }

    /// Creates an API key owned by the acting user. **Permissions**: `api_keys:write`.
    #[instrument(skip_all, fields(org = %input.organization_id))]
    pub async fn create_api_key(&self, actor: &Actor, input: NewApiKey) -> AppResult<Created> {
        let perms = access::require(
            &self.db,
            &actor.principal,
            input.organization_id,
            Perm::new("api_keys", Level::Write),
        )
        .await?;
        access::require_project(&actor.principal, input.project_id)?;
        let owner = actor.customer().map(|c| c.id).ok_or_else(|| {
            AppError::Forbidden(
                "API keys are owned by a user; a service account creates service-account keys"
                    .into(),
            )
        })?;
        let name = validate::name("input.name", &input.name)?;
        let expires_at = input
            .expires_at
            .map(|at| validate::future_time("input.expiresAt", at))
            .transpose()?;
        let rate = rate_limit("input.rateLimitPerMinute", input.rate_limit_per_minute)?;
        self.check_project(input.organization_id, input.project_id)
            .await?;
        let scopes = self
            .org_scopes(input.organization_id, input.scopes.as_deref(), &perms)
            .await?;
        let kind = match input.environment {
            Environment::Live => TokenKind::ApiKeyLive,
            Environment::Test => TokenKind::ApiKeyTest,
        };
        let token = self.tokens.generate(kind).map_err(AppError::internal)?;
        let mut row = new_row(&token, CredentialKind::ApiKey, name, Utc::now());
        row.organization_id = Set(Some(input.organization_id));
        row.project_id = Set(input.project_id);
        row.customer_id = Set(Some(owner));
        row.created_by = Set(Some(owner));
        row.scopes = Set(scopes_json(&scopes));
        row.environment = Set(Some(input.environment.as_str().into()));
        row.expires_at = Set(expires_at);
        row.rate_limit_per_minute = Set(rate);

        let txn = self.db.begin().await?;
        let model = row.insert(&txn).await?;
        audit::record(
            &txn,
            actor,
            AuditEntry::new(model.organization_id, "api_key.create", "api_key", model.id)
                .name(&model.name)
                .details(json!({
                    "prefix": model.display_prefix,
                    "project_id": model.project_id,
                    "environment": model.environment,
                    "expires_at": model.expires_at,
                    "scopes": model.scopes,
                    "rate_limit_per_minute": model.rate_limit_per_minute,
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
    /// none beyond `bound` (the creator's permissions, or a service account's role).
    pub(super) async fn org_scopes(
        &self,
        org_id: Uuid,
        raw: Option<&[String]>,
        bound: &PermissionSet,
    ) -> AppResult<Option<Vec<Perm>>> {
        let Some(raw) = raw else {
            return Ok(None);
        };
        let scopes = parse_scopes(raw)?;
        let apps = app_resources(&self.db, &[org_id]).await?;
        check_scopes(&scopes, &apps, Some(bound))?;
        Ok(Some(scopes))
    }

    pub(super) async fn check_project(
        &self,
        org_id: Uuid,
        project_id: Option<Uuid>,
    ) -> AppResult<()> {
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

    /// An organization's API keys matching `filter`, newest first.
    /// **Permissions**: `api_keys:read`.
    pub async fn api_keys(
        &self,
        actor: &Actor,
        org_id: Uuid,
        filter: KeyFilter,
        first: u64,
        after: Option<Uuid>,
    ) -> AppResult<Page<CredentialView>> {
        let KeyFilter {
            project_id,
            status,
            search,
            created_by,
        } = filter;
        let search = validate::search("search", search)?;
        access::require(
            &self.db,
            &actor.principal,
            org_id,
            Perm::new("api_keys", Level::Read),
        )
        .await?;
        let bound = actor.principal.credential().and_then(|c| c.project_id);
        if let (Some(bound), Some(asked)) = (bound, project_id)
            && bound != asked
        {
            return Err(AppError::Forbidden(
                "this key is limited to another project".into(),
            ));
        }
        let mut q = Credential::find()
            .filter(credential::Column::OrganizationId.eq(org_id))
            .filter(credential::Column::Kind.eq(CredentialKind::ApiKey.as_str()));
        if let Some(p) = project_id.or(bound) {
            q = q.filter(credential::Column::ProjectId.eq(p));
        }
        if let Some(s) = status {
            q = q.filter(status_condition(s, Utc::now()));
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
        self.page(q, first, after).await
    }

    async fn page(
        &self,
        q: sea_orm::Select<Credential>,
        first: u64,
        after: Option<Uuid>,
    ) -> AppResult<Page<CredentialView>> {
        let first = first.clamp(1, MAX_PAGE);
        let total = q.clone().count(&self.db).await?;
        let mut q = q.order_by_desc(credential::Column::Id);
        if let Some(after) = after {
            q = q.filter(credential::Column::Id.lt(after));
        }
        let mut models = q.limit(first + 1).all(&self.db).await?;
        let has_next = models.len() as u64 > first;
        models.truncate(first as usize);
        Ok(Page {
            items: views(&self.db, models).await?,
            has_next,
            total,
        })
    }

    /// One organization credential. **Permissions**: `api_keys:read`.
    pub async fn api_key(&self, actor: &Actor, id: Uuid) -> AppResult<CredentialView> {
        let model = self
            .org_credential(actor, id, Perm::new("api_keys", Level::Read))
            .await?;
        view(&self.db, model).await
    }

    /// Applies `change` to an org credential and audits it as `action`.
    async fn change_org_credential(
        &self,
        actor: &Actor,
        id: Uuid,
        perm: Perm,
        action: &'static str,
        change: impl FnOnce(
            &credential::Model,
        ) -> AppResult<Option<(credential::ActiveModel, serde_json::Value)>>,
    ) -> AppResult<CredentialView> {
        let current = self.org_credential(actor, id, perm).await?;
        let Some((mut active, details)) = change(&current)? else {
            return view(&self.db, current).await;
        };
        active.updated_at = Set(Utc::now());
        let txn = self.db.begin().await?;
        let model = active.update(&txn).await?;
        audit::record(
            &txn,
            actor,
            AuditEntry::new(model.organization_id, action, "api_key", model.id)
                .name(&model.name)
                .details(details),
        )
        .await?;
        txn.commit().await?;
        self.verifier
            .invalidate(&TokenHash::from_stored(&model.token_hash));
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
        let name = validate::name("input.name", name)?;
        self.change_org_credential(
            actor,
            id,
            Perm::new("api_keys", Level::Write),
            "api_key.rename",
            |current| {
                if current.name == name {
                    return Ok(None);
                }
                let details = json!({ "from": current.name, "to": name });
                let mut active: credential::ActiveModel = current.clone().into();
                active.name = Set(name.clone());
                Ok(Some((active, details)))
            },
        )
        .await
    }

    /// Disables or re-enables a key (reversible). **Permissions**: `api_keys:write`.
    #[instrument(skip_all, fields(key = %id, disabled))]
    pub async fn set_api_key_disabled(
        &self,
        actor: &Actor,
        id: Uuid,
        disabled: bool,
    ) -> AppResult<CredentialView> {
        let action = if disabled {
            "api_key.disable"
        } else {
            "api_key.enable"
        };
        self.change_org_credential(
            actor,
            id,
            Perm::new("api_keys", Level::Write),
            action,
            |current| {
                if current.revoked_at.is_some() {
                    return Err(AppError::Conflict("a revoked key cannot be changed".into()));
                }
                if current.disabled_at.is_some() == disabled {
                    return Ok(None);
                }
                let mut active: credential::ActiveModel = current.clone().into();
                active.disabled_at = Set(disabled.then(Utc::now));
                Ok(Some((active, json!({}))))
            },
        )
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
        let reason = validate::reason("input.reason", reason)?;
        let by = actor.customer().map(|c| c.id);
        self.change_org_credential(
            actor,
            id,
            Perm::new("api_keys", Level::Delete),
            "api_key.revoke",
            |current| {
                if current.revoked_at.is_some() {
                    return Ok(None);
                }
                let mut active: credential::ActiveModel = current.clone().into();
                active.revoked_at = Set(Some(Utc::now()));
                active.revoked_reason = Set(reason.clone());
                active.revoked_by = Set(by);
                Ok(Some((active, json!({ "reason": reason }))))
            },
        )
        .await
    }

    /// Issues a new secret with the same settings; the old one keeps working for
    /// `grace` (0–24 h), then expires. **Permissions**: `api_keys:write`.
    #[instrument(skip_all, fields(key = %id))]
    pub async fn rotate_api_key(
        &self,
        actor: &Actor,
        id: Uuid,
        grace: TimeDelta,
    ) -> AppResult<Created> {
        if grace < TimeDelta::zero() || grace > MAX_GRACE {
            return Err(AppError::invalid(
                "input.gracePeriodSeconds",
                "must be between 0 and 86400",
            ));
        }
        let old = self
            .org_credential(actor, id, Perm::new("api_keys", Level::Write))
            .await?;
        let now = Utc::now();
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
        let kind = match (CredentialKind::parse(&old.kind), old.environment.as_deref()) {
            (Some(CredentialKind::ServiceAccountKey), _) => TokenKind::ServiceAccount,
            (_, Some("test")) => TokenKind::ApiKeyTest,
            _ => TokenKind::ApiKeyLive,
        };
        if old.imported {
            return Err(AppError::Conflict(
                "an imported key is rotated by creating a new key".into(),
            ));
        }
        let token = self.tokens.generate(kind).map_err(AppError::internal)?;
        let mut row = new_row(
            &token,
            CredentialKind::parse(&old.kind).unwrap_or(CredentialKind::ApiKey),
            old.name.clone(),
            now,
        );
        row.organization_id = Set(old.organization_id);
        row.project_id = Set(old.project_id);
        row.customer_id = Set(old.customer_id);
        row.service_account_id = Set(old.service_account_id);
        row.created_by = Set(actor.customer().map(|c| c.id).or(old.created_by));
        row.scopes = Set(old.scopes.clone());
        row.environment = Set(old.environment.clone());
        row.expires_at = Set(old.expires_at);
        row.disabled_at = Set(old.disabled_at);
        row.rate_limit_per_minute = Set(old.rate_limit_per_minute);
        row.rotated_from_id = Set(Some(old.id));

        let txn = self.db.begin().await?;
        let new = row.insert(&txn).await?;
        let mut retiring: credential::ActiveModel = old.clone().into();
        retiring.grace_expires_at = Set(Some(now + grace));
        retiring.updated_at = Set(now);
        retiring.update(&txn).await?;
        audit::record(
            &txn,
            actor,
            AuditEntry::new(old.organization_id, "api_key.rotate", "api_key", old.id)
                .name(&old.name)
                .details(json!({
                    "new_key_id": new.id,
                    "new_prefix": new.display_prefix,
                    "grace_period_seconds": grace.num_seconds(),
                })),
        )
        .await?;
        txn.commit().await?;
        self.verifier
            .invalidate(&TokenHash::from_stored(&old.token_hash));
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
        let perms = access::require(
            &self.db,
            &actor.principal,
            input.organization_id,
            Perm::new("api_keys", Level::Admin),
        )
        .await?;
        access::require_project(&actor.principal, input.project_id)?;
        let owner = actor
            .customer()
            .map(|c| c.id)
            .ok_or_else(|| AppError::Forbidden("imported keys are owned by a user".into()))?;
        let name = validate::name("input.name", &input.name)?;
        let hash = TokenHash::from_hex(&input.sha256)
            .ok_or_else(|| AppError::invalid("input.sha256", "must be 64 hexadecimal digits"))?;
        let prefix = input.prefix.trim().to_owned();
        let prefix_ok = (2..=32).contains(&prefix.len())
            && prefix
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        if !prefix_ok {
            return Err(AppError::invalid(
                "input.prefix",
                "must be 2-32 letters, digits, `_` or `-`: the start every imported token shares, e.g. `vc_`",
            ));
        }
        if prefix.starts_with(&format!("{}_", self.tokens.prefix())) {
            return Err(AppError::invalid(
                "input.prefix",
                "this deployment's own prefix cannot be imported",
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
        let expires_at = input
            .expires_at
            .map(|at| validate::future_time("input.expiresAt", at))
            .transpose()?;
        if input.created_at.is_some_and(|at| at > Utc::now()) {
            return Err(AppError::invalid(
                "input.createdAt",
                "must not be in the future",
            ));
        }
        self.check_project(input.organization_id, input.project_id)
            .await?;
        let scopes = self
            .org_scopes(input.organization_id, input.scopes.as_deref(), &perms)
            .await?;
        let now = Utc::now();
        let stub = NewToken {
            token: PlainToken::new(String::new()),
            hash,
            display_prefix: prefix.clone(),
            last4,
        };
        let mut row = new_row(
            &stub,
            CredentialKind::ApiKey,
            name,
            input.created_at.unwrap_or(now),
        );
        row.organization_id = Set(Some(input.organization_id));
        row.project_id = Set(input.project_id);
        row.customer_id = Set(Some(owner));
        row.created_by = Set(Some(owner));
        row.scopes = Set(scopes_json(&scopes));
        row.environment = Set(Some(input.environment.as_str().into()));
        row.expires_at = Set(expires_at);
        row.imported = Set(true);
        row.import_prefix = Set(Some(prefix.clone()));
        row.updated_at = Set(now);

        let txn = self.db.begin().await?;
        let model = row
            .insert(&txn)
            .await
            .map_err(|e| match AppError::from(e) {
                AppError::Conflict(_) => {
                    AppError::Conflict("input.sha256: a key with this hash already exists".into())
                }
                other => other,
            })?;
        audit::record(
            &txn,
            actor,
            AuditEntry::new(model.organization_id, "api_key.import", "api_key", model.id)
                .name(&model.name)
                .details(json!({ "prefix": prefix, "project_id": model.project_id, "scopes": model.scopes })),
        )
        .await?;
        txn.commit().await?;
        self.verifier.add_import_prefix(&prefix);
        view(&self.db, model).await
    }

    /// Creates a personal access token for the acting user (default expiry 120 days).
    /// **Permissions**: a user acting by session or PAT.
    #[instrument(skip_all)]
    pub async fn create_personal_access_token(
        &self,
        actor: &Actor,
        input: NewPat,
    ) -> AppResult<Created> {
        let customer = self.personal_owner(actor)?;
        let name = validate::name("input.name", &input.name)?;
        let expires_at = match input.expires_at {
            Some(at) => validate::future_time("input.expiresAt", at)?,
            None => Utc::now() + PAT_DEFAULT_LIFETIME,
        };
        let scopes = match &input.scopes {
            Some(raw) => {
                let scopes = parse_scopes(raw)?;
                let orgs = access::customer_org_ids(&self.db, customer).await?;
                let apps = app_resources(&self.db, &orgs).await?;
                check_scopes(&scopes, &apps, None)?;
                if let Some(own) = actor.principal.credential().and_then(|c| c.scopes.as_ref()) {
                    let cap = PermissionSet::from_map(
                        own.iter().map(|p| (p.resource.clone(), p.level)).collect(),
                    );
                    if let Some(over) = scopes.iter().find(|s| !cap.allows(s)) {
                        return Err(AppError::Forbidden(format!(
                            "{over} (beyond this token's own scopes)"
                        )));
                    }
                }
                Some(scopes)
            }
            None => actor.principal.credential().and_then(|c| c.scopes.clone()),
        };
        let txn = self.db.begin().await?;
        let (model, secret) =
            issue_pat_in(&txn, self, actor, customer, name, expires_at, scopes).await?;
        txn.commit().await?;
        Ok(Created {
            credential: view(&self.db, model).await?,
            secret,
        })
    }

    fn personal_owner(&self, actor: &Actor) -> AppResult<Uuid> {
        match &actor.principal {
            Principal::Session { customer, .. } | Principal::Oidc { customer } => Ok(customer.id),
            Principal::Credential(c) if c.kind == CredentialKind::Pat => {
                c.customer.as_ref().map(|c| c.id).ok_or(AppError::Unauthenticated(crate::error::AuthFailure::NotFound))
            }
            _ => Err(AppError::Forbidden(
                "personal access tokens are managed by their user, signed in or with a personal access token".into(),
            )),
        }
    }

    /// The acting user's personal access tokens, newest first.
    pub async fn personal_access_tokens(
        &self,
        actor: &Actor,
        first: u64,
        after: Option<Uuid>,
    ) -> AppResult<Page<CredentialView>> {
        let customer = self.personal_owner(actor)?;
        let q = Credential::find()
            .filter(credential::Column::Kind.eq(CredentialKind::Pat.as_str()))
            .filter(credential::Column::CustomerId.eq(customer));
        self.page(q, first, after).await
    }

    /// Revokes one of the acting user's personal access tokens.
    #[instrument(skip_all, fields(token = %id))]
    pub async fn revoke_personal_access_token(
        &self,
        actor: &Actor,
        id: Uuid,
        reason: Option<String>,
    ) -> AppResult<CredentialView> {
        let customer = self.personal_owner(actor)?;
        let reason = validate::reason("input.reason", reason)?;
        let current = Credential::find_by_id(id)
            .filter(credential::Column::Kind.eq(CredentialKind::Pat.as_str()))
            .filter(credential::Column::CustomerId.eq(customer))
            .one(&self.db)
            .await?
            .ok_or(AppError::NotFound("personal access token"))?;
        if current.revoked_at.is_some() {
            return view(&self.db, current).await;
        }
        let mut active: credential::ActiveModel = current.into();
        active.revoked_at = Set(Some(Utc::now()));
        active.revoked_reason = Set(reason.clone());
        active.revoked_by = Set(Some(customer));
        active.updated_at = Set(Utc::now());
        let txn = self.db.begin().await?;
        let model = active.update(&txn).await?;
        audit::record(
            &txn,
            actor,
            AuditEntry::new(
                None,
                "personal_access_token.revoke",
                "personal_access_token",
                model.id,
            )
            .name(&model.name)
            .details(json!({ "reason": reason, "owner_id": customer })),
        )
        .await?;
        txn.commit().await?;
        self.verifier
            .invalidate(&TokenHash::from_stored(&model.token_hash));
        view(&self.db, model).await
    }

    /// The organization a credential belongs to, for listings.
    pub async fn organization_of(
        &self,
        model: &credential::Model,
    ) -> AppResult<Option<organization::Model>> {
        match model.organization_id {
            Some(id) => Ok(Organization::find_by_id(id).one(&self.db).await?),
            None => Ok(None),
        }
    }
}

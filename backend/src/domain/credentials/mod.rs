//! Credentials (SPEC §3): what API keys, personal access tokens and service-account keys
//! share (status, listing views, scopes, the one revoke path). Each kind's operations live
//! beside it: [`api_keys`], [`pats`], and `service_accounts` for service-account keys. The
//! secret exists only in the [`Created`] value returned by creation and rotation.

mod api_keys;
mod controls;
mod pats;

pub use super::paging::{MAX_PAGE, Page};
pub use api_keys::{ImportedKey, NewApiKey};
pub use controls::{KeyControls, KeyControlsInput, KeyUpdate};
pub use pats::{NewPat, issue_pat_in};

use keyward_proto::audit::Action;
use std::collections::{BTreeSet, HashMap};

use chrono::{DateTime, TimeDelta, Utc};
use entity::{application_resource, credential, customer, prelude::*, project};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter,
    TransactionTrait, sea_query::Expr,
};
use serde_json::json;
use uuid::Uuid;

use super::{
    Actor, CredentialKind, CustomerRef, Services,
    access::{self, Grant, Need},
    audit::{self, AuditEntry},
    ids::new_id,
    invalidation::Invalidation,
    permissions::{Perm, PermissionSet, ScopeAliases},
    verify,
};
use crate::{
    error::{AppError, AppResult},
    token::{NewToken, PlainToken, TokenHash},
};

/// Longest a rotated credential may keep working.
pub const MAX_GRACE: TimeDelta = TimeDelta::hours(24);
/// Default lifetime of a personal access token.
pub const PAT_DEFAULT_LIFETIME: TimeDelta = TimeDelta::days(120);
/// Window in which a credential counts as nearing expiry.
pub const EXPIRY_WARNING: TimeDelta = TimeDelta::days(7);

/// Which of an organization's API keys to list.
#[derive(Debug, Clone, Default)]
pub struct KeyFilter {
    pub project_id: Option<Uuid>,
    pub status: Option<Status>,
    /// Part of the name or display prefix, any case.
    pub search: Option<String>,
    /// Only keys this user created.
    pub created_by: Option<Uuid>,
    pub order: KeyOrder,
}

/// The order a key list runs in; among equals, newest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum KeyOrder {
    #[default]
    Newest,
    Oldest,
    /// By name, A to Z, any case.
    Name,
    /// Most recently used first; never used last.
    LastUsed,
    /// Soonest to expire first; never expiring last.
    Expires,
}

impl KeyOrder {
    /// The order's name in its cursors, so that a cursor is read only in its own order.
    pub fn name(self) -> &'static str {
        match self {
            Self::Newest => "newest",
            Self::Oldest => "oldest",
            Self::Name => "name",
            Self::LastUsed => "used",
            Self::Expires => "expires",
        }
    }

    /// How the list is sorted, or `None` for newest first (by id alone).
    pub(crate) fn sort(self) -> Option<super::paging::SortBy> {
        use super::paging::{SortBy, SortType};
        use sea_orm::sea_query::{Expr, Func};
        let by = |value: sea_orm::sea_query::SimpleExpr, of, ascending| {
            Some(SortBy {
                value,
                of,
                ascending,
            })
        };
        let col = |c: entity::credential::Column| Expr::col(c);
        match self {
            Self::Newest => None,
            Self::Oldest => by(col(entity::credential::Column::Id), SortType::Id, true),
            Self::Name => by(
                Func::lower(Expr::col(entity::credential::Column::Name)).into(),
                SortType::Text,
                true,
            ),
            Self::LastUsed => by(
                col(entity::credential::Column::LastUsedAt),
                SortType::Time,
                false,
            ),
            Self::Expires => by(
                col(entity::credential::Column::ExpiresAt),
                SortType::Time,
                true,
            ),
        }
    }
}

/// A key as a list shows it, with the cursor of the keys after it in the list's order.
#[derive(Debug, Clone)]
pub struct ListedKey {
    pub view: CredentialView,
    pub cursor: String,
}

/// Live or test traffic (API keys), as stored.
pub use entity::credential::Environment;

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
    Lifecycle::of(c).expiry()
}

/// A credential's status at `now`.
pub fn status_at(c: &credential::Model, now: DateTime<Utc>) -> Status {
    Lifecycle::of(c).status_at(now)
}

/// The columns of a credential that decide its status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lifecycle {
    pub expires_at: Option<DateTime<Utc>>,
    pub grace_expires_at: Option<DateTime<Utc>>,
    pub disabled_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

impl Lifecycle {
    pub fn of(c: &credential::Model) -> Self {
        Self {
            expires_at: c.expires_at,
            grace_expires_at: c.grace_expires_at,
            disabled_at: c.disabled_at,
            revoked_at: c.revoked_at,
        }
    }

    /// When the credential stops working: its expiry or, while it is being rotated out,
    /// the end of its grace period, whichever comes first.
    pub fn expiry(&self) -> Option<DateTime<Utc>> {
        match (self.expires_at, self.grace_expires_at) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The status at `now`.
    pub fn status_at(&self, now: DateTime<Utc>) -> Status {
        if self.revoked_at.is_some() {
            Status::Revoked
        } else if self.expiry().is_some_and(|at| at <= now) {
            Status::Expired
        } else if self.disabled_at.is_some() {
            Status::Disabled
        } else if self.grace_expires_at.is_some() {
            Status::Rotating
        } else {
            Status::Active
        }
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
    pub kind: CredentialKind,
    pub project: Option<project::Model>,
    pub creator: Option<CustomerRef>,
    pub scopes: Option<Vec<Perm>>,
    /// Metadata, identity, credits and limits (SPEC §3.5).
    pub controls: KeyControls,
    /// The other side of a rotation, either way.
    pub rotation: RotationLinks,
}

/// The keys a rotation joins, as a listing shows them: the old key "replaced by …, works
/// until …", the new one "replaces …".
#[derive(Debug, Clone, Default)]
pub struct RotationLinks {
    /// The key this one replaced (its `rotated_from_id`).
    pub replaces: Option<credential::Model>,
    /// The key that replaced this one.
    pub replaced_by: Option<credential::Model>,
}

/// A credential just created or rotated, with its secret: the only time it is shown.
#[derive(Debug)]
pub struct Created {
    pub credential: CredentialView,
    pub secret: PlainToken,
}

fn parse_scopes(aliases: &ScopeAliases, raw: &[String]) -> AppResult<Vec<Perm>> {
    if raw.len() > 64 {
        return Err(AppError::invalid("input.scopes", "at most 64 scopes"));
    }
    let mut out = BTreeSet::new();
    for s in raw {
        let perm = aliases
            .parse_scope(s.trim())
            .map_err(|e| AppError::invalid("input.scopes", e))?;
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

/// Checks scopes against the known resources and what their holder may carry.
fn check_scopes(scopes: &[Perm], known_apps: &[String], bound: &PermissionSet) -> AppResult<()> {
    for scope in scopes {
        if !scope.resource.is_builtin() && !known_apps.iter().any(|a| a == scope.resource.as_str())
        {
            return Err(AppError::invalid(
                "input.scopes",
                format!(
                    "`{}` is not a resource of this organization; define it under Roles → Resources first",
                    scope.resource
                ),
            ));
        }
        if !bound.allows(scope) {
            return Err(AppError::Forbidden(format!(
                "a credential cannot carry {scope}, which you do not hold"
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

/// The stored scopes of a credential; `None` means all of its owner's permissions. A
/// stored list that does not parse is an internal error, never "everything".
pub fn stored_scopes(model: &credential::Model) -> AppResult<Option<Vec<Perm>>> {
    let Some(raw) = model.scopes.clone() else {
        return Ok(None);
    };
    let list: Vec<String> =
        serde_json::from_value(raw).map_err(|e| access::corrupt("credential scopes", e))?;
    list.iter()
        .map(|s| Perm::parse(s).map_err(|e| access::corrupt("credential scopes", e)))
        .collect::<AppResult<Vec<_>>>()
        .map(Some)
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
    let mut controls = controls::controls_of(db, &models).await?;
    let related = rotation_partners(db, &models).await?;
    models
        .into_iter()
        .map(|m| {
            Ok(CredentialView {
                rotation: RotationLinks {
                    replaces: m
                        .rotated_from_id
                        .and_then(|old| related.iter().find(|r| r.id == old).cloned()),
                    replaced_by: m
                        .grace_expires_at
                        .and_then(|_| related.iter().find(|r| r.rotated_from_id == Some(m.id)))
                        .cloned(),
                },
                controls: controls.remove(&m.id).unwrap_or_default(),
                kind: m.kind,
                project: m.project_id.and_then(|id| projects.get(&id).cloned()),
                creator: m
                    .created_by
                    .or(m.customer_id)
                    .and_then(|id| customers.get(&id).map(CustomerRef::from)),
                scopes: stored_scopes(&m)?,
                model: m,
            })
        })
        .collect()
}

/// The predecessors and successors of `models` by rotation, in one query (none when no
/// model was rotated either way).
async fn rotation_partners<C: ConnectionTrait>(
    db: &C,
    models: &[credential::Model],
) -> AppResult<Vec<credential::Model>> {
    let predecessors: Vec<Uuid> = models.iter().filter_map(|m| m.rotated_from_id).collect();
    // Only an old key of a rotation has a grace period.
    let replaced: Vec<Uuid> = models
        .iter()
        .filter(|m| m.grace_expires_at.is_some())
        .map(|m| m.id)
        .collect();
    if predecessors.is_empty() && replaced.is_empty() {
        return Ok(Vec::new());
    }
    Ok(Credential::find()
        .filter(
            Condition::any()
                .add(credential::Column::Id.is_in(predecessors))
                .add(credential::Column::RotatedFromId.is_in(replaced)),
        )
        .all(db)
        .await?)
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

/// Fields of a new credential row; the caller fills in the owner and settings. The
/// token stops being remembered as unknown (see [`verify::VerifyCache`]).
pub fn new_row(
    verifier: &verify::VerifyCache,
    token: &NewToken,
    kind: CredentialKind,
    name: String,
    now: DateTime<Utc>,
) -> credential::ActiveModel {
    verifier.forget_absent(&token.hash);
    credential::ActiveModel {
        id: Set(new_id()),
        kind: Set(kind),
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
        meta: Set(None),
        identity_id: Set(None),
        leaked_at: Set(None),
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

/// The latest expiry allowed for a new credential: `max` from now when a maximum
/// lifetime applies, else ten years (a credential meant to last longer has no expiry).
fn check_expiry(
    field: &str,
    at: DateTime<Utc>,
    max: Option<TimeDelta>,
    now: DateTime<Utc>,
) -> AppResult<DateTime<Utc>> {
    if at <= now {
        return Err(AppError::invalid(field, "must be in the future"));
    }
    match max {
        Some(max) if at > now + max => Err(AppError::invalid(
            field,
            format!(
                "must be at most {} days from now (the longest lifetime allowed here)",
                max.num_days()
            ),
        )),
        None if at > now + FAR_FUTURE => Err(AppError::invalid(
            field,
            "must be within ten years; leave it empty for a credential that never expires",
        )),
        _ => Ok(at),
    }
}

/// A new credential's expiry (SPEC §3.2), the one place its bounds are applied: a
/// requested time is checked against the lifetime allowed here (`max`) and may not be
/// later than the expiry of the credential making it (`maker`), or the request is refused
/// naming `field`; without a request, `default`, cut to the maker's expiry.
pub(in crate::domain) fn new_expiry(
    field: &str,
    requested: Option<DateTime<Utc>>,
    max: Option<TimeDelta>,
    default: Option<DateTime<Utc>>,
    maker: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> AppResult<Option<DateTime<Utc>>> {
    match requested {
        Some(at) => {
            let at = check_expiry(field, at, max, now)?;
            if maker.is_some_and(|maker| at > maker) {
                return Err(AppError::invalid(
                    field,
                    "must not be later than the expiry of the token making it",
                ));
            }
            Ok(Some(at))
        }
        None => Ok(match (default, maker) {
            (Some(default), Some(maker)) => Some(default.min(maker)),
            (default, maker) => default.or(maker),
        }),
    }
}

/// The farthest expiry accepted when no maximum lifetime applies.
const FAR_FUTURE: TimeDelta = TimeDelta::days(3653);

impl Services {
    /// Revokes a credential: irreversible, and effective before this returns (the
    /// verification cache drops it). The one revoke path for every kind.
    ///
    /// Decided inside the transaction (SPEC §3.3): the row is claimed only while it is
    /// not revoked, so a rotation racing this one either finished first (and its successor
    /// is revoked here too) or finds the key revoked and issues nothing. A key revoked
    /// while it is rotating takes its successors with it: whoever rotated it, perhaps with
    /// the very secret being revoked, keeps nothing.
    pub(in crate::domain) async fn revoke_credential(
        &self,
        grant: &Grant,
        current: credential::Model,
        reason: Option<String>,
        entry: AuditEntry,
    ) -> AppResult<CredentialView> {
        let now = self.clock.now();
        let txn = self.db.begin().await?;
        if !claim_revocation(&txn, current.id, grant, reason.as_deref(), now).await? {
            // Revoked already, perhaps a moment ago by someone else.
            txn.rollback().await?;
            return view(&self.db, reread(&self.db, current.id).await?).await;
        }
        let model = reread(&txn, current.id).await?;
        // Every row is claimed before any audit event is written: the audit chain's head
        // is the one lock all writers share, so taking it last keeps two revocations, or
        // a revocation and a member's removal, from waiting on each other.
        let mut successors = Vec::new();
        if model.grace_expires_at.is_some_and(|end| end > now) {
            let mut predecessors = vec![model.id];
            while !predecessors.is_empty() {
                let found = Credential::find()
                    .filter(credential::Column::RotatedFromId.is_in(predecessors.clone()))
                    .filter(credential::Column::RevokedAt.is_null())
                    .all(&txn)
                    .await?;
                predecessors.clear();
                for successor in found {
                    if claim_revocation(&txn, successor.id, grant, reason.as_deref(), now).await? {
                        predecessors.push(successor.id);
                        successors.push(successor);
                    }
                }
            }
        }
        let (action, target_type) = (entry.action, entry.target_type);
        audit::record(&txn, grant, entry.name(&model.name)).await?;
        let mut revoked = vec![TokenHash::from_stored(&model.token_hash)];
        for successor in successors {
            audit::record(
                &txn,
                grant,
                AuditEntry::new(successor.organization_id, action, target_type, successor.id)
                    .name(&successor.name)
                    .details(json!({
                        "reason": reason,
                        "predecessor_id": successor.rotated_from_id,
                    })),
            )
            .await?;
            revoked.push(TokenHash::from_stored(&successor.token_hash));
        }
        // Each by name: every replica drops each, and each is a key event of its own.
        let invalidation = match <[TokenHash; 1]>::try_from(revoked) {
            Ok([one]) => Invalidation::Credential(one),
            Err(all) => {
                Invalidation::Several(all.into_iter().map(Invalidation::Credential).collect())
            }
        };
        self.commit_invalidating(txn, invalidation).await?;
        view(&self.db, model).await
    }

    /// Any credential the actor may see, with the grant to see it: an organization's
    /// credential with `perm` there, or the actor's own PAT (`pat_perm` over their own
    /// things). Foreign and unknown ids look the same.
    pub async fn visible_credential(
        &self,
        actor: &Actor,
        id: Uuid,
        perm: Perm,
        pat_perm: Perm,
    ) -> AppResult<(credential::Model, Grant)> {
        let model = Credential::find_by_id(id)
            .one(&self.db)
            .await?
            .ok_or(AppError::NotFound("credential"))?;
        let grant = match model.organization_id {
            Some(org) => {
                let grant = self
                    .authorize_visible(actor, org, perm, "credential")
                    .await?;
                grant
                    .require_project(model.project_id)
                    .map_err(|_| AppError::NotFound("credential"))?;
                grant
            }
            None => {
                let grant = match self.authorize(actor, Need::User(pat_perm)).await {
                    Ok(g) => g,
                    Err(AppError::MissingPermission(p)) => {
                        return Err(AppError::MissingPermission(p));
                    }
                    Err(_) => return Err(AppError::NotFound("credential")),
                };
                if grant.customer() != model.customer_id {
                    return Err(AppError::NotFound("credential"));
                }
                grant
            }
        };
        Ok((model, grant))
    }
}

/// Marks a credential revoked if it is not yet, inside `txn`; whether this call did.
/// The conditional write takes the row's lock (PostgreSQL) or the writer's (SQLite), so
/// of two revokes, or a revoke and a rotation, one waits and then sees the other.
async fn claim_revocation<C: ConnectionTrait>(
    txn: &C,
    id: Uuid,
    grant: &Grant,
    reason: Option<&str>,
    now: DateTime<Utc>,
) -> AppResult<bool> {
    let claimed = Credential::update_many()
        .col_expr(credential::Column::RevokedAt, Expr::value(now))
        .col_expr(credential::Column::RevokedReason, Expr::value(reason))
        .col_expr(credential::Column::RevokedBy, Expr::value(grant.customer()))
        .col_expr(credential::Column::UpdatedAt, Expr::value(now))
        .filter(credential::Column::Id.eq(id))
        .filter(credential::Column::RevokedAt.is_null())
        .exec(txn)
        .await?;
    Ok(claimed.rows_affected == 1)
}

/// Inside a transaction that makes a user's key in `org`: takes the organization's lock
/// and refuses unless `owner` is still a member. A member's removal takes the same lock
/// and revokes the keys it finds, so no key made while its owner is removed outlives
/// the removal (SPEC §3.3).
pub(in crate::domain) async fn owner_still_member<C: ConnectionTrait>(
    txn: &C,
    org: Uuid,
    owner: Option<Uuid>,
) -> AppResult<()> {
    super::orgs::lock_organization(txn, org).await?;
    if let Some(owner) = owner
        && access::member_role(txn, org, owner).await?.is_none()
    {
        return Err(AppError::NotAMember);
    }
    Ok(())
}

/// A credential as stored now.
pub(super) async fn reread<C: ConnectionTrait>(db: &C, id: Uuid) -> AppResult<credential::Model> {
    Credential::find_by_id(id)
        .one(db)
        .await?
        .ok_or(AppError::NotFound("credential"))
}

/// Revokes, inside `txn`, every live API key `customer` owns in `org` (a member removed
/// or leaving), each audited; what was revoked, for the caches to drop.
pub async fn revoke_member_keys<C: ConnectionTrait>(
    txn: &C,
    grant: &Grant,
    org: Uuid,
    customer: Uuid,
    now: DateTime<Utc>,
) -> AppResult<Vec<TokenHash>> {
    let keys = Credential::find()
        .filter(credential::Column::OrganizationId.eq(org))
        .filter(credential::Column::CustomerId.eq(customer))
        .filter(credential::Column::Kind.eq(CredentialKind::ApiKey))
        .filter(credential::Column::RevokedAt.is_null())
        .all(txn)
        .await?;
    let reason = "its owner left the organization";
    // Every row first, then the audit events (see `revoke_credential`).
    let mut claimed = Vec::with_capacity(keys.len());
    for key in keys {
        if claim_revocation(txn, key.id, grant, Some(reason), now).await? {
            claimed.push(key);
        }
    }
    let mut revoked = Vec::with_capacity(claimed.len());
    for key in claimed {
        audit::record(
            txn,
            grant,
            AuditEntry::new(Some(org), Action::ApiKeyRevoke, "api_key", key.id)
                .name(&key.name)
                .details(json!({ "reason": reason, "owner_id": customer })),
        )
        .await?;
        revoked.push(TokenHash::from_stored(&key.token_hash));
    }
    Ok(revoked)
}

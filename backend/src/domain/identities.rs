//! Identities (SPEC §3.5): one per customer of the product, keyed by the product's own
//! `external_id`, with metadata, credits and named limits that all its keys share.
//!
//! Identities are part of managing keys: reading them needs `api_keys:read`, changing
//! them `api_keys:write`. An organization has at most
//! `KEYWARD_MAX_IDENTITIES_PER_ORGANIZATION`, counted under the organization's lock.

use chrono::{DateTime, Utc};
use entity::{credential, credit_pool, identity, named_limit, prelude::*};
use keyward_proto::audit::Action;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait,
    QueryFilter, QuerySelect, TransactionTrait, sea_query::OnConflict,
};
use serde_json::{Value, json};
use tracing::instrument;
use uuid::Uuid;

use super::{
    Actor, Services,
    access::Need,
    audit::{self, AuditEntry},
    controls::{self, LimitInput},
    credits::{self, CreditOp, CreditsInput},
    ids::new_id,
    invalidation::Invalidation,
    orgs,
    paging::{self, Page},
    permissions::Perm,
};
use crate::{
    error::{AppError, AppResult},
    token::TokenHash,
};

/// An identity with its credits and limits.
#[derive(Debug, Clone)]
pub struct IdentityView {
    pub identity: identity::Model,
    pub credits: Option<credit_pool::Model>,
    pub limits: Vec<named_limit::Model>,
}

/// Input of [`Services::create_identity`].
#[derive(Debug, Clone, Default)]
pub struct NewIdentity {
    pub organization_id: Uuid,
    pub external_id: String,
    pub meta: Option<Value>,
    pub credits: Option<CreditsInput>,
    pub ratelimits: Vec<LimitInput>,
}

/// Changes of [`Services::update_identity`]: each `Some` is applied (an inner `None`
/// removes).
#[derive(Debug, Clone, Default)]
pub struct IdentityUpdate {
    pub external_id: Option<String>,
    pub meta: Option<Option<Value>>,
    pub credits: Option<Option<CreditsInput>>,
    pub ratelimits: Option<Vec<LimitInput>>,
}

/// When more keys than this share a changed identity, every node drops its whole cache
/// rather than hearing of each key.
const MAX_KEYS_NAMED: usize = 200;

/// The identity of `organization` with `external_id`, made on first use (SPEC §3.5),
/// inside the caller's transaction: creations at once for the same id make one.
pub(in crate::domain) async fn identity_for<C: ConnectionTrait>(
    txn: &C,
    organization: Uuid,
    external_id: &str,
    cap: u32,
    now: DateTime<Utc>,
) -> AppResult<(identity::Model, bool)> {
    if let Some(found) = by_external_id(txn, organization, external_id).await? {
        // Locked, so a deletion at the same moment waits for this key to join it (and
        // then detaches it), or wins and the identity is made anew below.
        if lock_identity(txn, found.id).await? {
            return Ok((found, false));
        }
    }
    // Counted under the organization's lock: creations at once cannot pass the cap.
    orgs::lock_organization(txn, organization).await?;
    let existing = Identity::find()
        .filter(identity::Column::OrganizationId.eq(organization))
        .count(txn)
        .await?;
    if existing >= u64::from(cap) {
        return Err(AppError::Conflict(format!(
            "this organization has {existing} identities, the most allowed \
             (KEYWARD_MAX_IDENTITIES_PER_ORGANIZATION)"
        )));
    }
    let row = identity::ActiveModel {
        id: Set(new_id()),
        organization_id: Set(organization),
        external_id: Set(external_id.to_owned()),
        meta: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
    };
    Identity::insert(row)
        .on_conflict(
            OnConflict::columns([
                identity::Column::OrganizationId,
                identity::Column::ExternalId,
            ])
            .do_nothing()
            .to_owned(),
        )
        .exec_without_returning(txn)
        .await?;
    let made = by_external_id(txn, organization, external_id)
        .await?
        .ok_or(AppError::NotFound("identity"))?;
    Ok((made, true))
}

/// Locks an identity's row for the rest of `txn`; false when it is gone.
async fn lock_identity<C: ConnectionTrait>(txn: &C, id: Uuid) -> AppResult<bool> {
    let locked = Identity::update_many()
        .col_expr(
            identity::Column::UpdatedAt,
            sea_orm::sea_query::Expr::col(identity::Column::UpdatedAt),
        )
        .filter(identity::Column::Id.eq(id))
        .exec(txn)
        .await?;
    Ok(locked.rows_affected == 1)
}

async fn by_external_id<C: ConnectionTrait>(
    db: &C,
    organization: Uuid,
    external_id: &str,
) -> AppResult<Option<identity::Model>> {
    Ok(Identity::find()
        .filter(identity::Column::OrganizationId.eq(organization))
        .filter(identity::Column::ExternalId.eq(external_id))
        .one(db)
        .await?)
}

/// The hashes of an identity's keys, to drop from every node's cache; `Everything`
/// when there are many.
async fn keys_of<C: ConnectionTrait>(db: &C, identity: Uuid) -> AppResult<Invalidation> {
    let hashes: Vec<String> = Credential::find()
        .select_only()
        .column(credential::Column::TokenHash)
        .filter(credential::Column::IdentityId.eq(identity))
        .limit(MAX_KEYS_NAMED as u64 + 1)
        .into_tuple()
        .all(db)
        .await?;
    if hashes.len() > MAX_KEYS_NAMED {
        return Ok(Invalidation::Everything);
    }
    Ok(Invalidation::Several(
        hashes
            .iter()
            .map(|h| Invalidation::Credential(TokenHash::from_stored(h)))
            .collect(),
    ))
}

/// Identities with their credits and limits: two queries.
async fn views<C: ConnectionTrait>(
    db: &C,
    rows: Vec<identity::Model>,
) -> AppResult<Vec<IdentityView>> {
    let ids: Vec<Uuid> = rows.iter().map(|i| i.id).collect();
    let (mut pools, mut limits) = controls::of_owners(db, &ids).await?;
    Ok(rows
        .into_iter()
        .map(|identity| IdentityView {
            credits: pools.remove(&identity.id),
            limits: limits.remove(&identity.id).unwrap_or_default(),
            identity,
        })
        .collect())
}

impl Services {
    async fn identity_views(&self, rows: Vec<identity::Model>) -> AppResult<Vec<IdentityView>> {
        views(&self.db, rows).await
    }

    /// The identity `id` and the grant to act on it with `perm`.
    async fn org_identity(
        &self,
        actor: &Actor,
        id: Uuid,
        perm: Perm,
    ) -> AppResult<(identity::Model, super::access::Grant)> {
        let found = Identity::find_by_id(id)
            .one(&self.db)
            .await?
            .ok_or(AppError::NotFound("identity"))?;
        let grant = self
            .authorize(actor, Need::Org(found.organization_id, perm))
            .await
            // Not told apart from an identity that does not exist.
            .map_err(|e| match e {
                AppError::NotAMember => AppError::NotFound("identity"),
                other => other,
            })?;
        grant.require_whole_organization("identities")?;
        Ok((found, grant))
    }

    /// An organization's identities, newest first. **Permissions**: `api_keys:read`.
    pub async fn identities(
        &self,
        actor: &Actor,
        org_id: Uuid,
        first: u64,
        after: Option<Uuid>,
    ) -> AppResult<Page<IdentityView>> {
        self.authorize(actor, Need::Org(org_id, Perm::API_KEYS_READ))
            .await?
            .require_whole_organization("identities")?;
        let query = Identity::find().filter(identity::Column::OrganizationId.eq(org_id));
        let page = paging::page(&self.db, query, identity::Column::Id, first, after).await?;
        let items = self.identity_views(page.items).await?;
        Ok(Page {
            items,
            has_next: page.has_next,
            total: page.total,
        })
    }

    /// One identity. **Permissions**: `api_keys:read`.
    pub async fn identity(&self, actor: &Actor, id: Uuid) -> AppResult<IdentityView> {
        let (found, _) = self.org_identity(actor, id, Perm::API_KEYS_READ).await?;
        self.identity_views(vec![found])
            .await?
            .pop()
            .ok_or(AppError::NotFound("identity"))
    }

    /// One identity by the product's id for it. **Permissions**: `api_keys:read`.
    pub async fn identity_by_external_id(
        &self,
        actor: &Actor,
        org_id: Uuid,
        external_id: &str,
    ) -> AppResult<IdentityView> {
        self.authorize(actor, Need::Org(org_id, Perm::API_KEYS_READ))
            .await?
            .require_whole_organization("identities")?;
        let found = by_external_id(&self.db, org_id, external_id)
            .await?
            .ok_or(AppError::NotFound("identity"))?;
        self.identity_views(vec![found])
            .await?
            .pop()
            .ok_or(AppError::NotFound("identity"))
    }

    /// Creates an identity. **Permissions**: `api_keys:write`.
    #[instrument(skip_all, fields(org = %input.organization_id))]
    pub async fn create_identity(
        &self,
        actor: &Actor,
        input: NewIdentity,
    ) -> AppResult<IdentityView> {
        let grant = self
            .authorize(
                actor,
                Need::Org(input.organization_id, Perm::API_KEYS_WRITE),
            )
            .await?;
        grant.require_whole_organization("identities")?;
        let external_id = controls::external_id("input.externalId", &input.external_id)?;
        let meta = input
            .meta
            .as_ref()
            .map(|m| controls::meta("input.meta", m))
            .transpose()?;
        if let Some(c) = &input.credits {
            c.check("input.credits")?;
        }
        let limits = controls::limits("input.ratelimits", &input.ratelimits)?;
        let now = self.clock.now();
        let txn = self.db.begin().await?;
        let (made, new) = identity_for(
            &txn,
            input.organization_id,
            &external_id,
            self.config.max_identities_per_organization,
            now,
        )
        .await?;
        if !new {
            return Err(AppError::Conflict(
                "an identity with this externalId exists".into(),
            ));
        }
        let mut row: identity::ActiveModel = made.into();
        row.meta = Set(meta);
        let made = row.update(&txn).await?;
        controls::replace_pool(
            &txn,
            made.id,
            made.organization_id,
            input.credits.as_ref(),
            now,
        )
        .await?;
        controls::replace_limits(&txn, made.id, made.organization_id, &limits, now).await?;
        audit::record(
            &txn,
            &grant,
            AuditEntry::new(
                Some(made.organization_id),
                Action::IdentityCreate,
                "identity",
                made.id,
            )
            .name(&made.external_id)
            .details(json!({
                "external_id": made.external_id,
                "meta": input.meta,
                "credits": controls::credits_json(input.credits.as_ref()),
                "ratelimits": controls::inputs_json(&limits),
            })),
        )
        .await?;
        txn.commit().await?;
        self.identity_views(vec![made])
            .await?
            .pop()
            .ok_or(AppError::NotFound("identity"))
    }

    /// Changes an identity: in force for all its keys on this node before this returns.
    /// **Permissions**: `api_keys:write`.
    #[instrument(skip_all, fields(identity = %id))]
    pub async fn update_identity(
        &self,
        actor: &Actor,
        id: Uuid,
        update: IdentityUpdate,
    ) -> AppResult<IdentityView> {
        let (current, grant) = self.org_identity(actor, id, Perm::API_KEYS_WRITE).await?;
        let external_id = update
            .external_id
            .as_deref()
            .map(|e| controls::external_id("input.externalId", e))
            .transpose()?;
        let (meta, limits) =
            controls::check_changes(&update.meta, &update.credits, update.ratelimits.as_deref())?;
        let now = self.clock.now();
        let txn = self.db.begin().await?;
        // Read in the transaction: on SQLite it holds the one writer connection.
        let before = views(&txn, vec![current.clone()]).await?.pop();
        let mut changes = serde_json::Map::new();
        let mut row: identity::ActiveModel = current.clone().into();
        if let Some(e) = external_id.filter(|e| *e != current.external_id) {
            if by_external_id(&txn, current.organization_id, &e)
                .await?
                .is_some()
            {
                return Err(AppError::invalid(
                    "input.externalId",
                    "another identity of this organization has it",
                ));
            }
            changes.insert(
                "external_id".into(),
                json!({ "from": current.external_id, "to": e }),
            );
            row.external_id = Set(e);
        }
        if let Some(meta) = meta.filter(|m| *m != current.meta) {
            changes.insert(
                "meta".into(),
                json!({
                    "from": controls::stored_meta(current.meta.as_deref())?,
                    "to": controls::stored_meta(meta.as_deref())?,
                }),
            );
            row.meta = Set(meta);
        }
        let mut what = vec![keys_of(&txn, id).await?];
        if let Some(credits) = &update.credits {
            changes.insert(
                "credits".into(),
                json!({
                    "from": controls::pool_json(before.as_ref().and_then(|b| b.credits.as_ref())),
                    "to": controls::credits_json(credits.as_ref()),
                }),
            );
            controls::replace_pool(&txn, id, current.organization_id, credits.as_ref(), now)
                .await?;
            what.push(Invalidation::Credits(id));
        }
        if let Some(limits) = &limits {
            changes.insert(
                "ratelimits".into(),
                json!({
                    "from": controls::limits_json(before.as_ref().map_or(&[][..], |b| &b.limits)),
                    "to": controls::inputs_json(limits),
                }),
            );
            controls::replace_limits(&txn, id, current.organization_id, limits, now).await?;
        }
        if changes.is_empty() {
            txn.rollback().await?;
            return before.ok_or(AppError::NotFound("identity"));
        }
        row.updated_at = Set(now);
        let updated = row.update(&txn).await?;
        audit::record(
            &txn,
            &grant,
            AuditEntry::new(
                Some(updated.organization_id),
                Action::IdentityUpdate,
                "identity",
                id,
            )
            .name(&updated.external_id)
            .details(Value::Object(changes)),
        )
        .await?;
        self.commit_invalidating(txn, Invalidation::Several(what))
            .await?;
        self.identity_views(vec![updated])
            .await?
            .pop()
            .ok_or(AppError::NotFound("identity"))
    }

    /// Deletes an identity: its keys stay, without it (its credits and limits go with
    /// it). **Permissions**: `api_keys:write`.
    #[instrument(skip_all, fields(identity = %id))]
    pub async fn delete_identity(&self, actor: &Actor, id: Uuid) -> AppResult<()> {
        let (current, grant) = self.org_identity(actor, id, Perm::API_KEYS_WRITE).await?;
        let txn = self.db.begin().await?;
        // Locked first: a key joining it at this moment commits before the detach below.
        if !lock_identity(&txn, id).await? {
            return Err(AppError::NotFound("identity"));
        }
        let what = keys_of(&txn, id).await?;
        let detached = Credential::update_many()
            .col_expr(
                credential::Column::IdentityId,
                sea_orm::sea_query::Expr::value(Option::<Uuid>::None),
            )
            .filter(credential::Column::IdentityId.eq(id))
            .exec(&txn)
            .await?;
        controls::remove_all(&txn, id).await?;
        Identity::delete_by_id(id).exec(&txn).await?;
        audit::record(
            &txn,
            &grant,
            AuditEntry::new(
                Some(current.organization_id),
                Action::IdentityDelete,
                "identity",
                id,
            )
            .name(&current.external_id)
            .details(json!({
                "external_id": current.external_id,
                "keys_detached": detached.rows_affected,
            })),
        )
        .await?;
        self.commit_invalidating(
            txn,
            Invalidation::Several(vec![what, Invalidation::Credits(id)]),
        )
        .await
    }

    /// Sets, adds to or takes from an identity's credits. **Permissions**: `api_keys:write`.
    pub async fn change_identity_credits(
        &self,
        actor: &Actor,
        id: Uuid,
        op: CreditOp,
        value: i64,
    ) -> AppResult<credit_pool::Model> {
        let (current, grant) = self.org_identity(actor, id, Perm::API_KEYS_WRITE).await?;
        self.change_credits(
            &grant,
            current.organization_id,
            (id, "identity", Action::IdentityCredits),
            op,
            value,
        )
        .await
    }

    /// Changes the pool of `owner` (a key or an identity) under its lock, audited.
    pub(in crate::domain) async fn change_credits(
        &self,
        grant: &super::access::Grant,
        organization: Uuid,
        (owner, target, action): (Uuid, &'static str, Action),
        op: CreditOp,
        value: i64,
    ) -> AppResult<credit_pool::Model> {
        let now = self.clock.now();
        let txn = self.db.begin().await?;
        let row = credits::locked_pool(&txn, owner).await?.ok_or_else(|| {
            AppError::Conflict(format!(
                "this {} has no credits (unlimited): give it credits first",
                target.replace('_', " ")
            ))
        })?;
        let row = credits::refilled(row, now)?;
        let before = row.remaining;
        let (row, voided) = credits::changed(row, op, value, "input.value")?;
        let saved = credits::save(&txn, row, now).await?;
        audit::record(
            &txn,
            grant,
            AuditEntry::new(Some(organization), action, target, owner).details(json!({
                "op": op,
                "value": value,
                "before": before,
                "after": saved.remaining,
            })),
        )
        .await?;
        let what = if voided {
            Invalidation::Credits(owner)
        } else {
            Invalidation::Several(vec![])
        };
        self.commit_invalidating(txn, what).await?;
        Ok(saved)
    }
}

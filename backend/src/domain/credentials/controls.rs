//! An API key's product controls (SPEC §3.5) at creation, and every edit of a key after
//! it: name, expiry, scopes, metadata, credits, limits, identity, enabled. Each edit is
//! checked whole before anything is written, written in one transaction with an audit
//! event of each field before and after, and in force on this node before it returns
//! (on every other node when the change is heard).

use chrono::{DateTime, Utc};
use entity::{credential, credit_pool, identity, named_limit};
use keyward_proto::audit::Action;
use sea_orm::{ActiveModelTrait, ActiveValue::Set, ConnectionTrait, TransactionTrait};
use serde_json::{Value, json};
use tracing::instrument;
use uuid::Uuid;

use super::{CredentialView, Services, reread, scopes_json, view};
use crate::{
    domain::{
        Actor,
        audit::{self, AuditEntry},
        controls::{self, LimitInput},
        credits::{CreditOp, CreditsInput},
        identities,
        invalidation::Invalidation,
        permissions::Perm,
        validate,
    },
    error::{AppError, AppResult},
    token::TokenHash,
};

/// What a product puts on a key it creates.
#[derive(Debug, Clone, Default)]
pub struct KeyControlsInput {
    pub meta: Option<Value>,
    pub credits: Option<CreditsInput>,
    pub ratelimits: Vec<LimitInput>,
    /// The product's id of its customer: the key joins that identity, made on first use.
    pub external_id: Option<String>,
}

/// [`KeyControlsInput`], checked.
#[derive(Debug, Clone, Default)]
pub(super) struct CheckedControls {
    meta: Option<String>,
    credits: Option<CreditsInput>,
    ratelimits: Vec<LimitInput>,
    external_id: Option<String>,
}

impl KeyControlsInput {
    pub(super) fn check(&self) -> AppResult<CheckedControls> {
        if let Some(c) = &self.credits {
            c.check("input.credits")?;
        }
        Ok(CheckedControls {
            meta: self
                .meta
                .as_ref()
                .map(|m| controls::meta("input.meta", m))
                .transpose()?,
            credits: self.credits.clone(),
            ratelimits: controls::limits("input.ratelimits", &self.ratelimits)?,
            external_id: self
                .external_id
                .as_deref()
                .map(|e| controls::external_id("input.externalId", e))
                .transpose()?,
        })
    }
}

impl CheckedControls {
    /// Sets the row's metadata and identity (making the identity on first use).
    pub(super) async fn fill<C: ConnectionTrait>(
        &self,
        txn: &C,
        row: &mut credential::ActiveModel,
        organization: Uuid,
        cap: u32,
        now: DateTime<Utc>,
    ) -> AppResult<()> {
        row.meta = Set(self.meta.clone());
        if let Some(external) = &self.external_id {
            let (identity, _) =
                identities::identity_for(txn, organization, external, cap, now).await?;
            row.identity_id = Set(Some(identity.id));
        }
        Ok(())
    }

    /// Writes the key's own credits and limits.
    pub(super) async fn write<C: ConnectionTrait>(
        &self,
        txn: &C,
        key: &credential::Model,
        organization: Uuid,
        now: DateTime<Utc>,
    ) -> AppResult<()> {
        if let Some(credits) = &self.credits {
            controls::replace_pool(txn, key.id, organization, Some(credits), now).await?;
        }
        if !self.ratelimits.is_empty() {
            controls::replace_limits(txn, key.id, organization, &self.ratelimits, now).await?;
        }
        Ok(())
    }

    /// The audit details of what was set.
    pub(super) fn details(&self) -> Value {
        json!({
            "meta": controls::stored_meta(self.meta.as_deref()).ok().flatten(),
            "credits": controls::credits_json(self.credits.as_ref()),
            "ratelimits": controls::inputs_json(&self.ratelimits),
            "external_id": self.external_id,
        })
    }
}

/// Changes of [`Services::update_api_key`]: each `Some` is applied; an inner `None`
/// removes (no expiry, all of the owner's permissions, no metadata, unlimited credits,
/// the organization's default limit, no identity).
#[derive(Debug, Clone, Default)]
pub struct KeyUpdate {
    pub name: Option<String>,
    pub expires_at: Option<Option<DateTime<Utc>>>,
    pub scopes: Option<Option<Vec<String>>>,
    pub meta: Option<Option<Value>>,
    pub credits: Option<Option<CreditsInput>>,
    pub ratelimits: Option<Vec<LimitInput>>,
    pub rate_limit_per_minute: Option<Option<i32>>,
    pub external_id: Option<Option<String>>,
    pub enabled: Option<bool>,
}

/// A key's product controls as listings show them.
#[derive(Debug, Clone, Default)]
pub struct KeyControls {
    pub meta: Option<Value>,
    pub identity: Option<identity::Model>,
    pub credits: Option<credit_pool::Model>,
    pub limits: Vec<named_limit::Model>,
}

impl Services {
    /// Edits a key after creation (SPEC §3.5). **Permissions**: `api_keys:write`; scopes
    /// within what you hold; widening a key's scopes or enabling it, everything the key
    /// may then do; an expiry within the organization's lifetime policy.
    #[instrument(skip_all, fields(key = %id))]
    pub async fn update_api_key(
        &self,
        actor: &Actor,
        id: Uuid,
        update: KeyUpdate,
    ) -> AppResult<CredentialView> {
        let (current, grant) = self.org_credential(actor, id, Perm::API_KEYS_WRITE).await?;
        let org = current
            .organization_id
            .ok_or(AppError::NotFound("api key"))?;
        // Everything is checked before anything is written.
        let name = update
            .name
            .as_deref()
            .map(|n| validate::name("input.name", n))
            .transpose()?;
        let expires_at = match update.expires_at {
            Some(at) => Some(self.new_key_expiry(&grant, org, at).await?),
            None => None,
        };
        let scopes = match &update.scopes {
            Some(Some(list)) => Some(self.org_scopes(org, Some(list), grant.held()).await?),
            Some(None) => Some(None),
            None => None,
        };
        let (meta, limits) =
            controls::check_changes(&update.meta, &update.credits, update.ratelimits.as_deref())?;
        let per_minute = match update.rate_limit_per_minute {
            Some(v) => Some(super::rate_limit("input.rateLimitPerMinute", v)?),
            None => None,
        };
        if update.external_id.is_some() {
            grant.require_whole_organization("identities")?;
        }
        let external_id = match &update.external_id {
            Some(Some(e)) => Some(Some(controls::external_id("input.externalId", e)?)),
            Some(None) => Some(None),
            None => None,
        };

        let now = self.clock.now();
        let txn = self.db.begin().await?;
        // Decided on the row as it stands in the transaction.
        let current = reread(&txn, current.id).await?;
        if current.revoked_at.is_some() {
            return Err(AppError::Conflict("a revoked key cannot be changed".into()));
        }
        let before = self.key_controls(&txn, &current).await?;
        let mut changes = serde_json::Map::new();
        let mut row: credential::ActiveModel = current.clone().into();
        let mut change = |field: &str, from: Value, to: Value| {
            if from != to {
                changes.insert(field.into(), json!({ "from": from, "to": to }));
                true
            } else {
                false
            }
        };
        if let Some(name) = name
            && change("name", json!(current.name), json!(name))
        {
            row.name = Set(name);
        }
        if let Some(at) = expires_at
            && change("expires_at", json!(current.expires_at), json!(at))
        {
            row.expires_at = Set(at);
        }
        let mut needs_cover = false;
        if let Some(scopes) = &scopes {
            let from = current.scopes.clone().unwrap_or(Value::Null);
            let to = scopes_json(scopes).unwrap_or(Value::Null);
            if change("scopes", from, to) {
                row.scopes = Set(scopes_json(scopes));
                needs_cover = true;
            }
        }
        if let Some(enabled) = update.enabled
            && change(
                "enabled",
                json!(current.disabled_at.is_none()),
                json!(enabled),
            )
        {
            row.disabled_at = Set((!enabled).then_some(now));
            needs_cover |= enabled;
        }
        if let Some(meta) = meta {
            let from = controls::stored_meta(current.meta.as_deref())?;
            let to = controls::stored_meta(meta.as_deref())?;
            if change("meta", json!(from), json!(to)) {
                row.meta = Set(meta);
            }
        }
        if let Some(limit) = per_minute
            && change(
                "rate_limit_per_minute",
                json!(current.rate_limit_per_minute),
                json!(limit),
            )
        {
            row.rate_limit_per_minute = Set(limit);
        }
        if let Some(external) = external_id {
            let from = before.identity.as_ref().map(|i| i.external_id.clone());
            if change("external_id", json!(from), json!(external)) {
                let identity = match external {
                    Some(e) => Some(
                        identities::identity_for(
                            &txn,
                            org,
                            &e,
                            self.config.max_identities_per_organization,
                            now,
                        )
                        .await?
                        .0
                        .id,
                    ),
                    None => None,
                };
                row.identity_id = Set(identity);
            }
        }
        let mut what = vec![Invalidation::Credential(TokenHash::from_stored(
            &current.token_hash,
        ))];
        if let Some(limits) = &limits
            && change(
                "ratelimits",
                controls::limits_json(&before.limits),
                controls::inputs_json(limits),
            )
        {
            controls::replace_limits(&txn, current.id, org, limits, now).await?;
        }
        if let Some(credits) = &update.credits {
            // Always applied, even when it reads the same as the stored row: what nodes
            // hold, or a refill due, makes the pool differ from it.
            changes.insert(
                "credits".into(),
                json!({
                    "from": controls::pool_json(before.credits.as_ref()),
                    "to": controls::credits_json(credits.as_ref()),
                }),
            );
            controls::replace_pool(&txn, current.id, org, credits.as_ref(), now).await?;
            what.push(Invalidation::Credits(current.id));
        }
        if changes.is_empty() {
            txn.rollback().await?;
            return view(&self.db, current).await;
        }
        row.updated_at = Set(now);
        let updated = row.update(&txn).await?;
        if needs_cover {
            // What the key may do from now on is covered by the grant changing it.
            self.require_covers_key(&txn, &grant, &updated, "widening this key")
                .await?;
        }
        audit::record(
            &txn,
            &grant,
            AuditEntry::new(
                updated.organization_id,
                Action::ApiKeyUpdate,
                "api_key",
                updated.id,
            )
            .name(&updated.name)
            .details(Value::Object(changes)),
        )
        .await?;
        self.commit_invalidating(txn, Invalidation::Several(what))
            .await?;
        view(&self.db, updated).await
    }

    /// Sets, adds to or takes from a key's own credits. **Permissions**: `api_keys:write`.
    pub async fn change_api_key_credits(
        &self,
        actor: &Actor,
        id: Uuid,
        op: CreditOp,
        value: i64,
    ) -> AppResult<credit_pool::Model> {
        let (current, grant) = self.org_credential(actor, id, Perm::API_KEYS_WRITE).await?;
        let org = current
            .organization_id
            .ok_or(AppError::NotFound("api key"))?;
        if current.revoked_at.is_some() {
            return Err(AppError::Conflict("a revoked key cannot be changed".into()));
        }
        self.change_credits(
            &grant,
            org,
            (current.id, "api_key", Action::ApiKeyCredits),
            op,
            value,
        )
        .await
    }

    /// One key's controls.
    async fn key_controls<C: ConnectionTrait>(
        &self,
        db: &C,
        key: &credential::Model,
    ) -> AppResult<KeyControls> {
        let mut all = controls_of(db, std::slice::from_ref(key)).await?;
        Ok(all.remove(&key.id).unwrap_or_default())
    }
}

/// The controls of many keys, for listings: three queries at most.
pub(super) async fn controls_of<C: ConnectionTrait>(
    db: &C,
    keys: &[credential::Model],
) -> AppResult<std::collections::HashMap<Uuid, KeyControls>> {
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
    let ids: Vec<Uuid> = keys.iter().map(|k| k.id).collect();
    let identity_ids: Vec<Uuid> = keys.iter().filter_map(|k| k.identity_id).collect();
    let (mut pools, mut limits) = controls::of_owners(db, &ids).await?;
    let identities: std::collections::HashMap<Uuid, identity::Model> = if identity_ids.is_empty() {
        Default::default()
    } else {
        entity::prelude::Identity::find()
            .filter(identity::Column::Id.is_in(identity_ids))
            .all(db)
            .await?
            .into_iter()
            .map(|i| (i.id, i))
            .collect()
    };
    keys.iter()
        .map(|k| {
            Ok((
                k.id,
                KeyControls {
                    meta: controls::stored_meta(k.meta.as_deref())?,
                    identity: k.identity_id.and_then(|i| identities.get(&i).cloned()),
                    credits: pools.remove(&k.id),
                    limits: limits.remove(&k.id).unwrap_or_default(),
                },
            ))
        })
        .collect()
}

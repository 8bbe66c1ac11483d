//! The audit log (SPEC §9).
//!
//! Every mutation records its event inside the transaction that makes the change, so
//! nothing that changed can be missing from the log. Events form a hash chain per
//! organization (and one for instance-level events): each stores its predecessor's hash,
//! so an export can be checked for edited or deleted events. Details never hold secrets.

use chrono::{DateTime, SubsecRound, Utc};
use entity::{audit_chain_head, audit_event, prelude::*};
pub use keyward_proto::audit::Action;
use sea_orm::{
    ActiveValue::Set,
    ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    sea_query::{Expr, ExprTrait, OnConflict},
};
use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::{
    Actor, Principal,
    access::{Grant, Need},
    ids::new_id,
    paging,
    permissions::Perm,
};
use crate::error::{AppError, AppResult};

/// The hash a chain starts from.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// What happened, to what.
#[derive(Debug, Clone)]
pub struct AuditEntry {
    pub organization_id: Option<Uuid>,
    pub action: Action,
    pub target_type: &'static str,
    pub target_id: String,
    pub target_name: Option<String>,
    pub details: Value,
}

impl AuditEntry {
    pub fn new(
        organization_id: Option<Uuid>,
        action: Action,
        target_type: &'static str,
        target_id: Uuid,
    ) -> Self {
        Self {
            organization_id,
            action,
            target_type,
            target_id: target_id.to_string(),
            target_name: None,
            details: Value::Object(Default::default()),
        }
    }

    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.target_name = Some(name.into());
        self
    }

    pub fn details(mut self, details: Value) -> Self {
        self.details = details;
        self
    }
}

/// Who acted, as the log records it.
struct ActorFields {
    actor_type: &'static str,
    actor_id: Option<Uuid>,
    actor_name: String,
    agent: Option<String>,
    credential_id: Option<Uuid>,
}

fn actor_fields(principal: &Principal, instance_admin: bool) -> ActorFields {
    match principal {
        Principal::System => ActorFields {
            actor_type: "system",
            actor_id: None,
            actor_name: "system".into(),
            agent: None,
            credential_id: None,
        },
        Principal::Session { customer, .. } => ActorFields {
            actor_type: if instance_admin {
                "instance_admin"
            } else {
                "user"
            },
            actor_id: Some(customer.id),
            actor_name: customer.email.clone(),
            agent: Some("dashboard".into()),
            credential_id: None,
        },
        Principal::Oidc { customer, .. } => ActorFields {
            actor_type: if instance_admin {
                "instance_admin"
            } else {
                "user"
            },
            actor_id: Some(customer.id),
            actor_name: customer.email.clone(),
            agent: Some("oidc".into()),
            credential_id: None,
        },
        Principal::Credential(cred) => {
            let (actor_type, actor_id, actor_name) = match (&cred.service_account, &cred.customer) {
                (Some(sa), _) => ("service_account", Some(sa.id), sa.name.clone()),
                (None, Some(c)) => (cred.kind.as_str(), Some(c.id), c.email.clone()),
                (None, None) => (cred.kind.as_str(), None, cred.name.clone()),
            };
            ActorFields {
                actor_type,
                actor_id,
                actor_name,
                agent: Some(cred.name.clone()),
                credential_id: Some(cred.id),
            }
        }
    }
}

/// The fields a hash covers, in a fixed order.
#[derive(Serialize)]
struct Hashed<'a> {
    id: Uuid,
    organization_id: Option<Uuid>,
    seq: i64,
    occurred_at: String,
    actor_type: &'a str,
    actor_id: Option<Uuid>,
    actor_name: &'a str,
    agent: Option<&'a str>,
    credential_id: Option<Uuid>,
    action: &'a str,
    target_type: Option<&'a str>,
    target_id: Option<&'a str>,
    target_name: Option<&'a str>,
    details: &'a Value,
    ip: Option<&'a str>,
    user_agent: Option<&'a str>,
    request_id: Option<&'a str>,
}

/// The timestamp format hashed and exported: microseconds, as both databases keep.
pub fn format_time(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

/// The hash of an event given its predecessor's.
pub fn event_hash(prev_hash: &str, e: &audit_event::Model) -> String {
    let hashed = Hashed {
        id: e.id,
        organization_id: e.organization_id,
        seq: e.seq,
        occurred_at: format_time(e.occurred_at),
        actor_type: &e.actor_type,
        actor_id: e.actor_id,
        actor_name: &e.actor_name,
        agent: e.agent.as_deref(),
        credential_id: e.credential_id,
        action: &e.action,
        target_type: e.target_type.as_deref(),
        target_id: e.target_id.as_deref(),
        target_name: e.target_name.as_deref(),
        details: &e.details,
        ip: e.ip.as_deref(),
        user_agent: e.user_agent.as_deref(),
        request_id: e.request_id.as_deref(),
    };
    let body = serde_json::to_string(&hashed).unwrap_or_default();
    let mut hasher = Sha256::new();
    hasher.update(prev_hash.as_bytes());
    hasher.update(b"\n");
    hasher.update(body.as_bytes());
    hex::encode(hasher.finalize())
}

fn chain_scope(org: Option<Uuid>) -> String {
    match org {
        Some(id) => format!("org:{id}"),
        None => "instance".into(),
    }
}

/// Writes `entry` as done by the grant's actor, inside the caller's transaction. Taking
/// the [`Grant`] means no change is written without having been authorized.
pub async fn record<C: ConnectionTrait>(
    txn: &C,
    grant: &Grant,
    entry: AuditEntry,
) -> AppResult<()> {
    let actor = grant.actor();
    let scope = chain_scope(entry.organization_id);
    // Taking the chain head with a write first serializes writers of one chain: the
    // upsert locks the row on PostgreSQL and takes the write lock on SQLite.
    AuditChainHead::insert(audit_chain_head::ActiveModel {
        scope: Set(scope.clone()),
        seq: Set(1),
        last_hash: Set(GENESIS_HASH.into()),
    })
    .on_conflict(
        OnConflict::column(audit_chain_head::Column::Scope)
            .value(
                audit_chain_head::Column::Seq,
                Expr::col((AuditChainHead, audit_chain_head::Column::Seq)).add(1),
            )
            .to_owned(),
    )
    .exec_without_returning(txn)
    .await?;
    let head = AuditChainHead::find_by_id(scope.clone())
        .one(txn)
        .await?
        .ok_or_else(|| AppError::internal(std::io::Error::other("audit chain head vanished")))?;

    let fields = actor_fields(&actor.principal, grant.is_instance_admin());
    // An action with a webhook event is owed to the organization's endpoints by the same
    // transaction (SPEC §16): the payload is what the log holds, which never has a secret.
    if let (Some(org), Some(event)) = (
        entry.organization_id,
        super::webhooks::event_of(entry.action),
    ) {
        let mut data = serde_json::Map::new();
        data.insert("id".into(), Value::String(entry.target_id.clone()));
        data.insert("organization_id".into(), Value::String(org.to_string()));
        if let Some(name) = &entry.target_name {
            data.insert("name".into(), Value::String(name.clone()));
        }
        data.insert(
            "actor".into(),
            serde_json::json!({
                "type": fields.actor_type,
                "id": fields.actor_id,
                "name": fields.actor_name,
            }),
        );
        if let Value::Object(details) = &entry.details {
            for (k, v) in details {
                data.entry(k.clone()).or_insert_with(|| v.clone());
            }
        }
        super::webhooks::enqueue(txn, org, event, Value::Object(data), grant.at()).await?;
    }
    let mut event = audit_event::Model {
        id: new_id(),
        organization_id: entry.organization_id,
        seq: head.seq,
        occurred_at: grant.at().trunc_subsecs(6),
        actor_type: fields.actor_type.into(),
        actor_id: fields.actor_id,
        actor_name: fields.actor_name,
        agent: fields.agent,
        credential_id: fields.credential_id,
        action: entry.action.as_str().into(),
        target_type: Some(entry.target_type.into()),
        target_id: Some(entry.target_id),
        target_name: entry.target_name,
        details: entry.details,
        ip: actor.meta.ip.clone(),
        user_agent: actor.meta.user_agent.clone(),
        request_id: Some(actor.meta.request_id.clone()).filter(|r| !r.is_empty()),
        prev_hash: head.last_hash.clone(),
        hash: String::new(),
    };
    event.hash = event_hash(&head.last_hash, &event);
    let hash = event.hash.clone();
    AuditEvent::insert(audit_event::ActiveModel::from(event))
        .exec_without_returning(txn)
        .await?;
    AuditChainHead::update_many()
        .col_expr(audit_chain_head::Column::LastHash, Expr::value(hash))
        .filter(audit_chain_head::Column::Scope.eq(scope))
        .exec(txn)
        .await?;
    Ok(())
}

/// Filters for listing events.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub actor_id: Option<Uuid>,
    pub action: Option<Action>,
    pub target_id: Option<String>,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
}

/// Events of one chain matching `filter`.
fn filtered(org_id: Option<Uuid>, filter: &AuditFilter) -> sea_orm::Select<AuditEvent> {
    let mut q = AuditEvent::find();
    q = match org_id {
        Some(id) => q.filter(audit_event::Column::OrganizationId.eq(id)),
        None => q.filter(audit_event::Column::OrganizationId.is_null()),
    };
    if let Some(a) = filter.actor_id {
        q = q.filter(audit_event::Column::ActorId.eq(a));
    }
    if let Some(a) = filter.action {
        q = q.filter(audit_event::Column::Action.eq(a.as_str()));
    }
    if let Some(t) = &filter.target_id {
        q = q.filter(audit_event::Column::TargetId.eq(t.clone()));
    }
    if let Some(s) = filter.since {
        q = q.filter(audit_event::Column::OccurredAt.gte(s));
    }
    if let Some(u) = filter.until {
        q = q.filter(audit_event::Column::OccurredAt.lt(u));
    }
    q
}

/// Checks a chain given oldest first: each event's `prev_hash` must be its predecessor's
/// hash and its own hash must match its contents. Returns the first broken `seq`.
pub fn verify_chain(events: &[audit_event::Model]) -> Result<(), i64> {
    let mut prev = GENESIS_HASH.to_owned();
    for (expected_seq, e) in (1..).zip(events) {
        if e.seq != expected_seq || e.prev_hash != prev || event_hash(&prev, e) != e.hash {
            return Err(e.seq);
        }
        prev = e.hash.clone();
    }
    Ok(())
}

impl super::Services {
    /// An organization's events, newest first, before sequence `before_seq`.
    /// **Permissions**: `audit_log:read`.
    pub async fn audit_events(
        &self,
        actor: &Actor,
        org_id: Uuid,
        filter: &AuditFilter,
        first: u64,
        before_seq: Option<i64>,
    ) -> AppResult<paging::Page<audit_event::Model>> {
        self.authorize(actor, Need::Org(org_id, Perm::AUDIT_LOG_READ))
            .await?;
        paging::page(
            &self.db,
            filtered(Some(org_id), filter),
            audit_event::Column::Seq,
            first,
            before_seq,
        )
        .await
    }

    /// A chain's whole audit log as JSON Lines, oldest first, read in batches as the
    /// stream is consumed, ending with the chain's head as it was when the export began,
    /// signed with the audit key ([`SignedHead`]): events cut from the end, or all of
    /// them, are detected too. `org_id` names an organization's chain; `None` the
    /// instance chain (PATs, device approvals, instance administration).
    /// **Permissions**: `audit_log:read` in the organization; instance admin for the
    /// instance chain.
    pub async fn audit_export(
        &self,
        actor: &Actor,
        org_id: Option<Uuid>,
    ) -> AppResult<impl futures::Stream<Item = Result<String, std::io::Error>> + use<>> {
        match org_id {
            Some(org) => {
                self.authorize(actor, Need::Org(org, Perm::AUDIT_LOG_READ))
                    .await?
            }
            None => self.authorize(actor, Need::InstanceAdmin).await?,
        };
        let key = signing_key(&self.config, &self.db)
            .await
            .map_err(|e| AppError::internal(std::io::Error::other(e)))?;
        let chain = chain_scope(org_id);
        let (upto, last_hash) = AuditChainHead::find_by_id(chain.clone())
            .one(&self.db)
            .await?
            .map_or((0, GENESIS_HASH.to_owned()), |h| (h.seq, h.last_hash));
        let head = SignedHead::sign(&key, chain, upto, last_hash, self.clock.now());
        let mut trailer = serde_json::to_string(&HeadLine { chain_head: head })
            .map_err(|e| AppError::internal(std::io::Error::other(e)))?;
        trailer.push('\n');
        let db = self.db.clone();
        let events = futures::stream::try_unfold(Some(0i64), move |after| {
            let db = db.clone();
            async move {
                let Some(after) = after else {
                    return Ok(None);
                };
                let batch = export_batch(&db, org_id, after, upto, EXPORT_BATCH)
                    .await
                    .map_err(|e| std::io::Error::other(e.to_string()))?;
                if batch.is_empty() {
                    return Ok(None);
                }
                let next = (batch.len() as u64 == EXPORT_BATCH)
                    .then(|| batch.last().map_or(after, |e| e.seq));
                let mut chunk = String::new();
                for event in batch {
                    let line = serde_json::to_string(&ExportedEvent::from(event))
                        .map_err(std::io::Error::other)?;
                    chunk.push_str(&line);
                    chunk.push('\n');
                }
                Ok(Some((chunk, next)))
            }
        });
        Ok(futures::StreamExt::chain(
            events,
            futures::stream::once(async move { Ok(trailer) }),
        ))
    }
}

/// Where the instance keeps a generated audit key (`instance_settings`).
pub const KEY_SETTING: &str = "audit_key";

/// The audit key given in the configuration, if any (enough to check an export offline).
pub fn configured_key(config: &crate::config::Config) -> Option<Vec<u8>> {
    config
        .audit_key
        .as_ref()
        .map(|secret| secret.expose().trim().as_bytes().to_vec())
}

/// The key that signs audit exports: from configuration (`KEYWARD_AUDIT_KEY`), or the one
/// the instance keeps in its database, made on first use.
pub async fn signing_key(
    config: &crate::config::Config,
    db: &sea_orm::DatabaseConnection,
) -> Result<Vec<u8>, String> {
    if let Some(key) = configured_key(config) {
        return Ok(key);
    }
    let stored =
        crate::db::stored_secret(db, KEY_SETTING, || crate::token::random_base62(64)).await?;
    Ok(stored.into_bytes())
}

/// The last line of an export: the chain's head when the export began, signed with the
/// audit key (HMAC-SHA256). Without the key nobody can make one, so cutting events from
/// the end of an export, or sending none, is detected.
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq)]
pub struct SignedHead {
    /// `org:<id>`, or `instance`.
    pub chain: String,
    /// The newest event's `seq`; 0 for a chain without events.
    pub seq: i64,
    /// The newest event's hash.
    pub hash: String,
    pub signed_at: String,
    /// Hex HMAC-SHA256 of the fields above.
    pub signature: String,
}

#[derive(Serialize, serde::Deserialize)]
struct HeadLine {
    chain_head: SignedHead,
}

type HmacSha256 = hmac::Hmac<Sha256>;

impl SignedHead {
    fn mac(key: &[u8], chain: &str, seq: i64, hash: &str, signed_at: &str) -> Option<HmacSha256> {
        use hmac::{KeyInit, Mac};
        let mut mac = HmacSha256::new_from_slice(key).ok()?;
        mac.update(
            format!("keyward audit chain head\n{chain}\n{seq}\n{hash}\n{signed_at}").as_bytes(),
        );
        Some(mac)
    }

    /// Signs a chain's head.
    pub fn sign(key: &[u8], chain: String, seq: i64, hash: String, at: DateTime<Utc>) -> Self {
        use hmac::Mac;
        let signed_at = format_time(at);
        let signature = Self::mac(key, &chain, seq, &hash, &signed_at)
            .map(|mac| hex::encode(mac.finalize().into_bytes()))
            .unwrap_or_default();
        Self {
            chain,
            seq,
            hash,
            signed_at,
            signature,
        }
    }

    /// Whether `key` made this signature (compared in constant time).
    pub fn is_signed_by(&self, key: &[u8]) -> bool {
        use hmac::Mac;
        let Ok(signature) = hex::decode(&self.signature) else {
            return false;
        };
        Self::mac(key, &self.chain, self.seq, &self.hash, &self.signed_at)
            .is_some_and(|mac| mac.verify_slice(&signature).is_ok())
    }
}

/// Events read at once while exporting.
const EXPORT_BATCH: u64 = 500;

/// One line of an audit export (JSON Lines): every field the hash covers, the event's
/// hash and its predecessor's.
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq)]
pub struct ExportedEvent {
    pub id: Uuid,
    pub organization_id: Option<Uuid>,
    pub seq: i64,
    pub occurred_at: String,
    pub actor_type: String,
    pub actor_id: Option<Uuid>,
    pub actor_name: String,
    pub agent: Option<String>,
    pub credential_id: Option<Uuid>,
    pub action: String,
    pub target_type: Option<String>,
    pub target_id: Option<String>,
    pub target_name: Option<String>,
    pub details: Value,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub request_id: Option<String>,
    pub prev_hash: String,
    pub hash: String,
}

impl From<audit_event::Model> for ExportedEvent {
    fn from(e: audit_event::Model) -> Self {
        Self {
            id: e.id,
            organization_id: e.organization_id,
            seq: e.seq,
            occurred_at: format_time(e.occurred_at),
            actor_type: e.actor_type,
            actor_id: e.actor_id,
            actor_name: e.actor_name,
            agent: e.agent,
            credential_id: e.credential_id,
            action: e.action,
            target_type: e.target_type,
            target_id: e.target_id,
            target_name: e.target_name,
            details: e.details,
            ip: e.ip,
            user_agent: e.user_agent,
            request_id: e.request_id,
            prev_hash: e.prev_hash,
            hash: e.hash,
        }
    }
}

impl TryFrom<ExportedEvent> for audit_event::Model {
    type Error = String;
    fn try_from(e: ExportedEvent) -> Result<Self, String> {
        let occurred_at = DateTime::parse_from_rfc3339(&e.occurred_at)
            .map_err(|err| format!("seq {}: occurred_at: {err}", e.seq))?
            .with_timezone(&Utc);
        Ok(Self {
            id: e.id,
            organization_id: e.organization_id,
            seq: e.seq,
            occurred_at,
            actor_type: e.actor_type,
            actor_id: e.actor_id,
            actor_name: e.actor_name,
            agent: e.agent,
            credential_id: e.credential_id,
            action: e.action,
            target_type: e.target_type,
            target_id: e.target_id,
            target_name: e.target_name,
            details: e.details,
            ip: e.ip,
            user_agent: e.user_agent,
            request_id: e.request_id,
            prev_hash: e.prev_hash,
            hash: e.hash,
        })
    }
}

/// What a checked export holds.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckedExport {
    pub events: usize,
    pub head: SignedHead,
}

/// Checks an export read line by line against the audit `key`: every line parses, the
/// chain is whole from its first event, and it ends exactly at the head the server
/// signed. An empty export, one without its signed head, or one cut short is refused,
/// naming what is missing.
pub fn verify_export(reader: impl std::io::BufRead, key: &[u8]) -> Result<CheckedExport, String> {
    let mut events = Vec::new();
    let mut head: Option<SignedHead> = None;
    let mut lines = 0usize;
    for (i, line) in reader.lines().enumerate() {
        let line = line.map_err(|e| format!("line {}: {e}", i + 1))?;
        if line.trim().is_empty() {
            continue;
        }
        lines += 1;
        if head.is_some() {
            return Err(format!(
                "line {}: something follows the signed chain head: the export was altered",
                i + 1
            ));
        }
        let value: Value =
            serde_json::from_str(&line).map_err(|e| format!("line {}: not JSON: {e}", i + 1))?;
        if let Some(signed) = value.get("chain_head") {
            head = Some(
                serde_json::from_value(signed.clone())
                    .map_err(|e| format!("line {}: not a chain head: {e}", i + 1))?,
            );
            continue;
        }
        let exported: ExportedEvent = serde_json::from_value(value)
            .map_err(|e| format!("line {}: not an audit event: {e}", i + 1))?;
        events.push(audit_event::Model::try_from(exported)?);
    }
    if lines == 0 {
        return Err("the export is empty: a whole export ends with its signed chain head".into());
    }
    let head = head.ok_or(
        "the export has no signed chain head: it was cut short, or is not a Keyward export",
    )?;
    if !head.is_signed_by(key) {
        return Err("the chain head's signature does not match: the head was altered, or this is not the audit key of the server that made the export".into());
    }
    verify_chain(&events).map_err(|seq| {
        format!("the chain breaks at seq {seq}: an event was edited, removed, added or reordered")
    })?;
    if let Some(stray) = events
        .iter()
        .find(|e| chain_scope(e.organization_id) != head.chain)
    {
        return Err(format!(
            "seq {}: the event belongs to another chain than the signed head's ({})",
            stray.seq, head.chain
        ));
    }
    let (last_seq, last_hash) = events
        .last()
        .map_or((0, GENESIS_HASH), |e| (e.seq, e.hash.as_str()));
    if last_seq < head.seq {
        return Err(format!(
            "events {} to {} are missing from the end: the export was cut (the signed head is seq {})",
            last_seq + 1,
            head.seq,
            head.seq
        ));
    }
    if last_seq != head.seq || last_hash != head.hash {
        return Err(format!(
            "the export goes past its signed head (seq {}): events were added after it was signed",
            head.seq
        ));
    }
    Ok(CheckedExport {
        events: events.len(),
        head,
    })
}

/// Events of one chain with `seq` above `after` and at most `upto`, oldest first (for
/// export).
async fn export_batch<C: ConnectionTrait>(
    db: &C,
    org_id: Option<Uuid>,
    after: i64,
    upto: i64,
    limit: u64,
) -> AppResult<Vec<audit_event::Model>> {
    Ok(filtered(org_id, &AuditFilter::default())
        .filter(audit_event::Column::Seq.gt(after))
        .filter(audit_event::Column::Seq.lte(upto))
        .order_by_asc(audit_event::Column::Seq)
        .limit(limit)
        .all(db)
        .await?)
}

//! Verification of presented credentials (SPEC §4): the hot path.
//!
//! A presented string is checked for shape and checksum first, so a mistyped or invented
//! token is rejected as `MALFORMED` without touching storage. Known credentials are then
//! served from an in-process cache keyed by hash; every change that affects verification
//! (revoke, disable, rotate, suspension, role change) drops the entry before the changing
//! call returns. The status is always evaluated against the current time, never cached.

use std::{
    sync::{
        Arc, OnceLock, RwLock,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::Duration,
};

use chrono::{DateTime, Utc};
use entity::{credential, prelude::*};
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QuerySelect};
use tracing::instrument;

use super::{
    AuthedCredential, CredentialKind, CustomerRef, Principal, Services,
    access::Need,
    analytics::{Outcome, Tags},
    clock::Clock,
    credentials::{self, Status},
    hashing::{CallerKeyed, caller_keyed},
    permissions::{Perm, PermissionSet},
    principal::ServiceAccountRef,
    ratelimit::{LimitCheck, LimitState, Outage, RateDecision},
};
use crate::{
    error::{AppError, AuthFailure},
    token::{MAX_TOKEN_LEN, TokenHash},
};

/// The columns of a credential that verification reads, held for as long as its record:
/// a held key costs these, not its whole row.
#[derive(Debug, Clone)]
pub struct HeldCredential {
    pub id: uuid::Uuid,
    pub organization_id: Option<uuid::Uuid>,
    pub project_id: Option<uuid::Uuid>,
    pub name: String,
    pub display_prefix: String,
    pub environment: Option<credentials::Environment>,
    pub lifecycle: credentials::Lifecycle,
    pub rate_limit_per_minute: Option<i32>,
    pub created_at: DateTime<Utc>,
}

impl From<credential::Model> for HeldCredential {
    fn from(c: credential::Model) -> Self {
        Self {
            lifecycle: credentials::Lifecycle::of(&c),
            id: c.id,
            organization_id: c.organization_id,
            project_id: c.project_id,
            name: c.name,
            display_prefix: c.display_prefix,
            environment: c.environment,
            rate_limit_per_minute: c.rate_limit_per_minute,
            created_at: c.created_at,
        }
    }
}

/// Everything verification needs about one credential, loaded together.
#[derive(Debug, Clone)]
pub struct CredentialRecord {
    pub credential: HeldCredential,
    pub kind: CredentialKind,
    /// The credential's own scopes; `None`: all of its owner's permissions.
    pub scopes: Option<Vec<Perm>>,
    /// Its owner, organization and project: one copy for every held key that has them.
    pub context: Arc<Context>,
    /// [`Self::effective_scopes`], worked out when the record is read (a record is read
    /// again after every change that could alter them).
    effective: Arc<Effective>,
    /// The verify endpoints' JSON description of the credential's own fields, rendered
    /// on first use for as long as the record is held (`rest::verify`).
    pub rendered: OnceLock<Box<str>>,
    /// The product's controls (metadata, identity, credits, named limits), if any.
    pub controls: Option<Arc<super::controls::Controls>>,
}

impl CredentialRecord {
    /// A record of `credential` in `context`.
    pub fn new(
        kind: CredentialKind,
        scopes: Option<Vec<Perm>>,
        credential: credential::Model,
        context: Context,
    ) -> Self {
        let effective = Effective::new(Self::work_out(kind, scopes.as_deref(), &context));
        Self {
            credential: credential.into(),
            kind,
            scopes,
            context: Arc::new(context),
            effective: Arc::new(effective),
            rendered: OnceLock::new(),
            controls: None,
        }
    }

    /// The same record, pointing at `shared`'s copies of its context and scopes.
    fn shared_in(mut self, shared: &Shared) -> Self {
        self.context = shared.context(Arc::unwrap_or_clone(self.context));
        self.effective = shared.effective(Arc::unwrap_or_clone(self.effective));
        self
    }

    /// A credential's own scopes narrowed by its owner's current permissions.
    fn work_out(
        kind: CredentialKind,
        own: Option<&[Perm]>,
        context: &Context,
    ) -> Option<Vec<Perm>> {
        match (&context.owner_permissions, kind) {
            (_, CredentialKind::Pat) => own.map(<[Perm]>::to_vec),
            (Some(owner), _) => {
                let set = match own {
                    Some(s) => owner.restrict_to(s),
                    None => owner.clone(),
                };
                Some(set.to_scopes(&context.app_resources))
            }
            (None, _) => Some(vec![]),
        }
    }

    /// Scopes the credential carries right now: its own scopes narrowed by its owner's
    /// current permissions. `None` for a PAT without scopes: it carries whatever its
    /// user may do in the organization a request targets.
    pub fn effective_scopes(&self) -> Option<&[Perm]> {
        self.effective.scopes.as_deref()
    }

    /// [`Self::effective_scopes`] as a set.
    pub fn effective_permissions(&self) -> Option<&PermissionSet> {
        self.effective.set.as_ref()
    }

    /// [`Self::effective_scopes`], with their JSON rendering held alongside.
    pub fn effective(&self) -> &Effective {
        &self.effective
    }

    /// Why the credential may not be used at `now`, if it may not.
    pub fn failure(&self, now: DateTime<Utc>) -> Option<AuthFailure> {
        let c = &self.credential;
        match c.lifecycle.status_at(now) {
            Status::Revoked => return Some(AuthFailure::Revoked),
            Status::Expired => return Some(AuthFailure::Expired),
            Status::Disabled => return Some(AuthFailure::Disabled),
            Status::Active | Status::Rotating => {}
        }
        let context = &self.context;
        if context
            .service_account
            .as_ref()
            .is_some_and(|sa| sa.disabled_at.is_some())
        {
            return Some(AuthFailure::Disabled);
        }
        if context
            .customer
            .as_ref()
            .is_some_and(|x| x.suspended_at.is_some())
            || context
                .organization
                .as_ref()
                .is_some_and(|o| o.suspended_at.is_some())
        {
            return Some(AuthFailure::Suspended);
        }
        if c.organization_id.is_some() && context.owner_permissions.is_none() {
            return Some(AuthFailure::OwnerRemoved);
        }
        None
    }

    /// The principal this credential acts as.
    pub fn to_authed(&self) -> AuthedCredential {
        AuthedCredential {
            id: self.credential.id,
            kind: self.kind,
            name: self.credential.name.clone(),
            organization_id: self.credential.organization_id,
            project_id: self.credential.project_id,
            customer: self.context.customer.as_ref().map(CustomerRef::from),
            service_account: self
                .context
                .service_account
                .as_ref()
                .map(|sa| ServiceAccountRef {
                    id: sa.id,
                    name: sa.name.clone(),
                }),
            scopes: self.scopes.clone(),
            created_at: self.credential.created_at,
            expires_at: self.credential.lifecycle.expiry(),
        }
    }

    /// Requests per minute allowed: the key's own limit, else its org's, else `default`.
    pub fn rate_limit(&self, default: u32) -> u32 {
        self.credential
            .rate_limit_per_minute
            .or(self
                .context
                .organization
                .as_ref()
                .and_then(|o| o.rate_limit_per_minute))
            .and_then(|v| u32::try_from(v).ok())
            .unwrap_or(default)
    }
}

/// What a verification spends (SPEC §3.5): `cost` credits of the key's pool, and
/// `cost` of each limit named, besides one of every auto-applied limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spend {
    pub cost: i64,
    pub limits: Vec<(String, u32)>,
    /// Whether the use counts at all (one against the per-minute and auto-applied
    /// limits); `false` only reads their state.
    pub counts: bool,
}

impl Default for Spend {
    fn default() -> Self {
        Self {
            cost: 1,
            limits: Vec::new(),
            counts: true,
        }
    }
}

impl Spend {
    /// The same limits read, nothing spent or counted (a refusal, a lookup).
    pub fn nothing(&self) -> Self {
        Self {
            cost: 0,
            limits: self.limits.iter().map(|(n, _)| (n.clone(), 0)).collect(),
            counts: false,
        }
    }
}

/// The tenant a relaying service serves (SPEC §4.2): a key of another is refused with
/// its own code and spends nothing.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Expect {
    pub organization_id: Option<uuid::Uuid>,
    /// An organization-wide key of the project's organization is in the project too.
    pub project_id: Option<uuid::Uuid>,
}

/// What a service asks of a key its caller presented (`POST /api/v1/keys/verify`).
#[derive(Debug, Clone, Default)]
pub struct Question {
    /// Permissions the key must hold.
    pub require: Vec<Perm>,
    /// For a PAT: the organization `require` is checked in.
    pub organization_id: Option<uuid::Uuid>,
    pub expect: Expect,
    pub spend: Spend,
}

/// One named limit's state after a verification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamedState {
    pub name: String,
    pub state: LimitState,
}

/// A credential that passed every check, with what metering it decided.
#[derive(Debug, Clone)]
pub struct Verified {
    pub record: Arc<CredentialRecord>,
    /// The per-minute limit's state (the `ratelimit` member and headers); `allowed` is
    /// false when any limit refused.
    pub rate: RateDecision,
    /// Every limit checked, the per-minute one first.
    pub limits: Vec<NamedState>,
    /// Credits left in the pool spent (or that would have been), when the key has one.
    pub credits: Option<i64>,
    /// `RATE_LIMITED` or `USAGE_EXCEEDED` when metering refused it.
    pub refused: Option<Outcome>,
}

/// The answer of [`Services::check_key`].
#[derive(Debug, Clone)]
pub enum KeyCheck {
    /// The key may not be used, for this reason.
    Refused(AuthFailure),
    /// The key is another tenant's than the relaying service expects (SPEC §4.2):
    /// `WRONG_ORGANIZATION` or `WRONG_PROJECT`. Nothing about it is said or spent.
    Elsewhere(&'static str),
    /// The key exists and belongs to a live owner.
    Checked {
        /// `VALID`, `RATE_LIMITED` or `INSUFFICIENT_PERMISSIONS`.
        outcome: Outcome,
        /// For a PAT checked against an organization, what it may do there; `None`: what
        /// the key may do, [`CredentialRecord::effective_scopes`].
        scopes_in_org: Option<Vec<Perm>>,
        /// Required permissions it lacks.
        missing: Vec<Perm>,
        verified: Verified,
    },
}

/// Credentials held in memory at most (and unknown tokens remembered).
const MAX_HELD: u64 = 100_000;

/// How long a well-formed token that named no credential is remembered as unknown.
const ABSENT_TTL: Duration = Duration::from_secs(10);

/// How long held answers are still served after this node stops hearing other nodes'
/// invalidations (its database, or the connection to it, went away), from the moment it
/// noticed: the longest a change made on another node can go unseen here. Past it,
/// verification reads the database, and while that is away too, refuses at once (503).
/// Nothing new is held meanwhile.
pub const UNHEARD_GRACE: Duration = Duration::from_secs(5);

/// Values by token digest, at most `capacity`, each for at most `ttl` by the server's
/// clock (the safety net behind invalidation). A `quick_cache` map: a few dozen bytes of
/// bookkeeping a held key, where a cache with access and write-order queues keeps
/// several hundred.
struct Expiring<V> {
    /// Each value with the clock's reading when it was kept.
    /// Keyed by the digests of tokens callers present.
    values: CallerKeyed<[u8; 32], (Duration, V)>,
    ttl: Duration,
    clock: Clock,
}

impl<V: Clone> Expiring<V> {
    fn new(capacity: u64, ttl: Duration, clock: Clock) -> Self {
        Self {
            values: caller_keyed(usize::try_from(capacity).unwrap_or(usize::MAX)),
            ttl,
            clock,
        }
    }

    fn get(&self, key: &[u8; 32]) -> Option<V> {
        let (kept_at, value) = self.values.get(key)?;
        if self.clock.elapsed().saturating_sub(kept_at) < self.ttl {
            return Some(value);
        }
        // Only this entry, not one kept again since.
        self.values.remove_if(key, |(at, _)| *at == kept_at);
        None
    }

    fn insert(&self, key: [u8; 32], value: V) {
        self.values.insert(key, (self.clock.elapsed(), value));
    }

    fn remove(&self, key: &[u8; 32]) {
        self.values.remove(key);
    }

    fn clear(&self) {
        self.values.clear();
    }

    fn len(&self) -> u64 {
        self.values.len() as u64
    }
}

/// The verification cache and the set of imported key prefixes.
///
/// Two guards keep it from serving what changed: every invalidation bumps a generation,
/// and a record read from the database is kept only if no invalidation happened while it
/// was read (so a lookup racing a revoke cannot put the old state back); and while this
/// node cannot hear other nodes' invalidations (PostgreSQL, listener down) it is not
/// trusted: what it holds is served for [`UNHEARD_GRACE`] at most, so a database outage
/// does not stop verification of keys in use, then every verification reads the
/// database.
pub struct VerifyCache {
    /// Held records by their token's SHA-256.
    records: Expiring<Arc<CredentialRecord>>,
    /// The held records' owners, organizations and scopes, one copy each.
    shared: Shared,
    /// Well-formed tokens that named no credential, briefly: a flood of unknown tokens
    /// does not reach the database. Dropped when a credential is created or imported.
    absent: Expiring<()>,
    import_prefixes: RwLock<Vec<String>>,
    hits: AtomicU64,
    lookups: AtomicU64,
    generation: AtomicU64,
    trusted: AtomicBool,
    /// When this node stopped hearing (the clock's monotonic reading in milliseconds,
    /// plus one); 0 while it hears, or before it first did.
    unheard_since: AtomicU64,
    /// [`Self::is_trusted`] as it changes, for whoever waits on a change (read on every
    /// verification from `trusted`, not from here).
    trust: tokio::sync::watch::Sender<bool>,
    clock: Clock,
}

impl VerifyCache {
    pub fn new(ttl: Duration, clock: Clock) -> Self {
        Self {
            records: Expiring::new(MAX_HELD, ttl, clock.clone()),
            shared: Shared::new(MAX_HELD, ttl),
            absent: Expiring::new(MAX_HELD, ABSENT_TTL, clock.clone()),
            import_prefixes: RwLock::new(Vec::new()),
            hits: AtomicU64::new(0),
            lookups: AtomicU64::new(0),
            generation: AtomicU64::new(0),
            trusted: AtomicBool::new(true),
            unheard_since: AtomicU64::new(0),
            trust: tokio::sync::watch::Sender::new(true),
            clock,
        }
    }

    /// Each change of [`Self::is_trusted`], as it happens.
    pub fn trust_changes(&self) -> tokio::sync::watch::Receiver<bool> {
        self.trust.subscribe()
    }

    /// Whether entries may be served and kept: false while invalidations from other
    /// nodes could be missed. Either way the cache starts empty: trusting, because what
    /// was announced before is unknown; distrusting, because nothing is to be served.
    pub fn set_trusted(&self, trusted: bool) {
        self.unheard_since.store(0, Ordering::SeqCst);
        if !trusted {
            self.trusted.store(false, Ordering::SeqCst);
            self.invalidate_all();
        } else {
            self.invalidate_all();
            self.trusted.store(true, Ordering::SeqCst);
        }
        self.trust.send_replace(trusted);
    }

    /// This node no longer hears other nodes' invalidations: it keeps nothing new, and
    /// serves what it holds for [`UNHEARD_GRACE`] at most.
    pub fn stop_hearing(&self) {
        if self.trusted.swap(false, Ordering::SeqCst) {
            let now = u64::try_from(self.clock.elapsed().as_millis()).unwrap_or(u64::MAX);
            self.unheard_since
                .store(now.saturating_add(1), Ordering::SeqCst);
            self.trust.send_replace(false);
        }
    }

    /// Whether held entries may be served: trusted, or within the grace after this node
    /// stopped hearing.
    fn may_serve(&self) -> bool {
        if self.is_trusted() {
            return true;
        }
        let since = self.unheard_since.load(Ordering::SeqCst);
        since != 0 && Duration::from_millis(since - 1) + UNHEARD_GRACE > self.clock.elapsed()
    }

    /// Whether the cache is used at all right now.
    pub fn is_trusted(&self) -> bool {
        self.trusted.load(Ordering::SeqCst)
    }

    fn get(&self, hash: &TokenHash) -> Option<Arc<CredentialRecord>> {
        if !self.may_serve() {
            return None;
        }
        self.records.get(&hash.digest()?)
    }

    /// Keeps a record read at `generation`, unless something was invalidated since; the
    /// record as kept, sharing what it has in common with other held records.
    fn keep(
        &self,
        hash: &TokenHash,
        record: CredentialRecord,
        generation: u64,
    ) -> Arc<CredentialRecord> {
        let current = |cache: &Self| {
            cache.is_trusted() && cache.generation.load(Ordering::SeqCst) == generation
        };
        let Some(digest) = hash.digest().filter(|_| current(self)) else {
            return Arc::new(record);
        };
        let record = Arc::new(record.shared_in(&self.shared));
        self.records.insert(digest, record.clone());
        // An invalidation that raced the read may have run before the insert: undo.
        if !current(self) {
            self.records.remove(&digest);
        }
        record
    }

    /// Verifications answered from memory so far.
    pub fn hits(&self) -> u64 {
        self.hits.load(Ordering::Relaxed)
    }

    /// Credentials held in memory now.
    pub fn entries(&self) -> u64 {
        self.records.len()
    }

    /// Verifications that had to read the database so far.
    pub fn lookups(&self) -> u64 {
        self.lookups.load(Ordering::Relaxed)
    }

    /// Drops one credential; the next use reads it again.
    pub fn invalidate(&self, hash: &TokenHash) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        if let Some(digest) = hash.digest() {
            self.records.remove(&digest);
            self.absent.remove(&digest);
        }
    }

    /// Drops everything (suspension, role and membership changes).
    pub fn invalidate_all(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        self.records.clear();
        self.shared.clear();
        self.absent.clear();
    }

    /// A credential with this hash is about to exist: it is no longer unknown.
    pub fn forget_absent(&self, hash: &TokenHash) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        if let Some(digest) = hash.digest() {
            self.absent.remove(&digest);
        }
    }

    /// Imported hashes may have been presented before: none is unknown any more.
    pub fn forget_all_absent(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        self.absent.clear();
    }

    fn known_absent(&self, hash: &TokenHash) -> bool {
        self.is_trusted()
            && hash
                .digest()
                .is_some_and(|digest| self.absent.get(&digest).is_some())
    }

    /// Remembers that `hash` named nothing when read at `generation`.
    fn note_absent(&self, hash: &TokenHash, generation: u64) {
        let Some(digest) = hash.digest() else {
            return;
        };
        if !self.is_trusted() || self.generation.load(Ordering::SeqCst) != generation {
            return;
        }
        self.absent.insert(digest, ());
        if self.generation.load(Ordering::SeqCst) != generation {
            self.absent.remove(&digest);
        }
    }

    /// Reads the prefixes of imported keys.
    pub async fn load_import_prefixes(
        &self,
        db: &DatabaseConnection,
    ) -> Result<(), sea_orm::DbErr> {
        let prefixes: Vec<Option<String>> = Credential::find()
            .select_only()
            .column(credential::Column::ImportPrefix)
            .filter(credential::Column::ImportPrefix.is_not_null())
            .distinct()
            .into_tuple()
            .all(db)
            .await?;
        let mut list = self
            .import_prefixes
            .write()
            .unwrap_or_else(|e| e.into_inner());
        *list = prefixes.into_iter().flatten().collect();
        Ok(())
    }

    /// Remembers a newly imported prefix.
    pub fn add_import_prefix(&self, prefix: &str) {
        let mut list = self
            .import_prefixes
            .write()
            .unwrap_or_else(|e| e.into_inner());
        if !list.iter().any(|p| p == prefix) {
            list.push(prefix.to_owned());
        }
    }

    fn is_imported_format(&self, raw: &str) -> bool {
        let list = self
            .import_prefixes
            .read()
            .unwrap_or_else(|e| e.into_inner());
        list.iter().any(|p| raw.starts_with(p.as_str()))
    }
}

mod record;
mod shared;

pub use record::load_record;
use shared::Shared;
pub use shared::{Context, Effective};

impl Services {
    /// Authenticates a presented credential: `Err(AuthFailure)` for every reason it may
    /// not be used, `RATE_LIMITED` when it is over its limit, else the credential, its use
    /// recorded.
    pub async fn authenticate_credential(
        &self,
        raw: &str,
        ip: Option<&str>,
    ) -> Result<Verified, AppError> {
        self.admit(raw, ip, None).await
    }

    /// [`Self::authenticate_credential`] for `GET /api/v1/api-keys/verify`: the
    /// verification is also counted in the key's analytics.
    pub async fn verify_presented(
        &self,
        raw: &str,
        ip: Option<&str>,
    ) -> Result<Verified, AppError> {
        self.admit(raw, ip, Some(&Tags::default())).await
    }

    async fn admit(
        &self,
        raw: &str,
        ip: Option<&str>,
        counted: Option<&Tags>,
    ) -> Result<Verified, AppError> {
        let record = self.resolve(raw, ip, counted).await?;
        // A verification spends the key's credits; using a key on Keyward's own API
        // counts only its limits.
        let spend = Spend {
            cost: i64::from(counted.is_some()),
            ..Spend::default()
        };
        let verified = self.meter(record, ip, &spend).await?;
        if let Some(tags) = counted {
            self.count_verification(
                &verified.record,
                verified.refused.unwrap_or(Outcome::Valid),
                ip,
                tags,
            );
        }
        match verified.refused {
            Some(Outcome::UsageExceeded) => Err(AppError::UsageExceeded),
            Some(_) => Err(AppError::RateLimited {
                retry_after_secs: verified.rate.retry_after_secs,
                limit: verified.rate.limit,
            }),
            None => Ok(verified),
        }
    }

    /// Checks a key a service's own caller presented (`POST /api/v1/keys/verify`, SPEC
    /// §4.2): `Refused` with the reason it may not be used, or the decision with what the
    /// key may do. For a PAT, `organization_id` names the organization whose permissions
    /// `require` is checked against; without it, the PAT's own scopes count. Every
    /// decision about an existing key is counted in its analytics, with `tags`.
    #[instrument(skip_all, name = "check_key")]
    pub async fn check_key(
        &self,
        raw: &str,
        question: &Question,
        ip: Option<&str>,
        tags: &Tags,
    ) -> Result<KeyCheck, AppError> {
        let Question {
            require,
            organization_id,
            expect,
            spend,
        } = question;
        let record = match self.resolve(raw, ip, Some(tags)).await {
            Ok(v) => v,
            Err(AppError::Unauthenticated(failure)) => return Ok(KeyCheck::Refused(failure)),
            Err(other) => return Err(other),
        };
        if let Some(code) = self.elsewhere(&record, expect).await? {
            return Ok(KeyCheck::Elsewhere(code));
        }
        // A PAT is checked in the organization the service expects, when it names one.
        let organization_id = organization_id.or(expect.organization_id);
        let held = match (record.kind, organization_id) {
            (CredentialKind::Pat, Some(org)) => {
                // What the PAT's user may do there, through the one authorization path.
                let actor = super::Actor::new(
                    Principal::Credential(Arc::new(record.to_authed())),
                    super::RequestMeta::default(),
                );
                match self.authorize(&actor, Need::OrgAll(org, Vec::new())).await {
                    Ok(grant) => Some(grant.held().clone()),
                    // Holds nothing there: not a member, or a token the organization's
                    // lifetime policy refuses. For a relaying service that expects that
                    // organization, that is another tenant's token, refused as a key of
                    // another organization is: nothing said, nothing spent.
                    Err(AppError::NotAMember | AppError::Forbidden(_))
                        if expect.organization_id == Some(org) =>
                    {
                        return Ok(KeyCheck::Elsewhere("WRONG_ORGANIZATION"));
                    }
                    Err(AppError::NotAMember | AppError::Forbidden(_)) => None,
                    // The organization is suspended: a refusal like any other (200).
                    Err(AppError::Unauthenticated(failure)) => {
                        return Ok(KeyCheck::Refused(failure));
                    }
                    Err(e) => return Err(e),
                }
            }
            _ => record.effective_permissions().cloned(),
        };
        let scopes_in_org = match (&held, record.kind, organization_id) {
            (Some(set), CredentialKind::Pat, Some(_)) => {
                Some(set.to_scopes(&record.context.app_resources))
            }
            _ => None,
        };
        let missing: Vec<Perm> = require
            .iter()
            .filter(|p| !held.as_ref().is_some_and(|set| set.allows(p)))
            .cloned()
            .collect();
        // Only a valid answer spends or counts (SPEC §3.5): a key lacking permissions is
        // described with its limits and credits as they stand.
        let verified = if missing.is_empty() {
            self.meter(record, ip, spend).await?
        } else {
            self.meter(record, ip, &spend.nothing()).await?
        };
        let outcome = if !missing.is_empty() {
            Outcome::InsufficientPermissions
        } else {
            verified.refused.unwrap_or(Outcome::Valid)
        };
        self.count_verification(&verified.record, outcome, ip, tags);
        Ok(KeyCheck::Checked {
            outcome,
            scopes_in_org,
            missing,
            verified,
        })
    }

    /// Whether `record` is another tenant's than `expect`: the code to answer, if so.
    async fn elsewhere(
        &self,
        record: &CredentialRecord,
        expect: &Expect,
    ) -> Result<Option<&'static str>, AppError> {
        let key_org = record.credential.organization_id;
        if let Some(org) = expect.organization_id
            && key_org.is_some_and(|k| k != org)
        {
            return Ok(Some("WRONG_ORGANIZATION"));
        }
        let Some(project) = expect.project_id else {
            return Ok(None);
        };
        match (record.credential.project_id, key_org) {
            (Some(p), _) if p == project => Ok(None),
            (Some(_), _) => Ok(Some("WRONG_PROJECT")),
            // An organization-wide key is in each project of its organization.
            (None, Some(org)) => {
                let project_org = entity::prelude::Project::find_by_id(project)
                    .one(&self.reads)
                    .await?
                    .map(|p| p.organization_id);
                Ok((project_org != Some(org)).then_some("WRONG_ORGANIZATION"))
            }
            // A PAT belongs to no project.
            (None, None) => Ok(Some("WRONG_PROJECT")),
        }
    }

    /// Everything verify would say of a key, spending and counting nothing (`POST
    /// /api/v1/keys/lookup`, SPEC §3.5): `Refused` with the reason it may not be used,
    /// or its description with its limits and credits as they stand.
    ///
    /// **Permissions**: `api_keys:read` in the key's organization; a key the caller may
    /// not read is answered as unknown.
    pub async fn look_up_key(&self, actor: &super::Actor, raw: &str) -> Result<KeyCheck, AppError> {
        let ip = actor.meta.ip.as_deref();
        // Authorized before anything about the key is said: a key the caller may not
        // read is unknown, whatever its state.
        let record = match self.lookup(raw).await {
            Ok(record) => record,
            Err(AppError::Unauthenticated(failure)) => return Ok(KeyCheck::Refused(failure)),
            Err(other) => return Err(other),
        };
        let Some(org) = record.credential.organization_id else {
            return Ok(KeyCheck::Refused(AuthFailure::NotFound));
        };
        match self
            .authorize(actor, Need::Org(org, Perm::API_KEYS_READ))
            .await
            .and_then(|grant| grant.require_project(record.credential.project_id))
        {
            Ok(()) => {}
            Err(AppError::NotAMember | AppError::MissingPermission(_) | AppError::Forbidden(_)) => {
                return Ok(KeyCheck::Refused(AuthFailure::NotFound));
            }
            Err(other) => return Err(other),
        }
        if let Some(failure) = record.failure(self.clock.now()) {
            return Ok(KeyCheck::Refused(failure));
        }
        let mut verified = self.meter(record, ip, &Spend::default().nothing()).await?;
        if let Some(pool) = verified.record.controls.as_ref().and_then(|c| c.pool) {
            verified.credits = self.credits.peek(&self.db, &pool).await?;
        }
        Ok(KeyCheck::Checked {
            outcome: verified.refused.unwrap_or(Outcome::Valid),
            scopes_in_org: None,
            missing: Vec::new(),
            verified,
        })
    }

    /// Whether a presented string claims to be one of this deployment's tokens (its
    /// prefix, or an imported key's), rather than, say, an identity provider's.
    pub fn looks_like_own_token(&self, raw: &str) -> bool {
        let raw = raw.trim();
        raw.strip_prefix(self.tokens.prefix())
            .is_some_and(|rest| rest.starts_with('_'))
            || self.verifier.is_imported_format(raw)
    }

    /// Refuses an address that is held back for guessing.
    pub fn refuse_held_back(&self, ip: Option<&str>) -> Result<(), AppError> {
        match ip.and_then(|ip| self.failures.wait(ip)) {
            Some(wait) => Err(AppError::RateLimited {
                retry_after_secs: wait,
                limit: self.config.failed_verifications_per_minute,
            }),
            None => Ok(()),
        }
    }

    /// Counts a presented credential that is no credential at all against its address.
    pub fn note_guess(&self, ip: Option<&str>) {
        if let Some(ip) = ip {
            self.failures
                .record(ip, self.config.failed_verifications_per_minute);
        }
    }

    /// The credential a presented string names, if it may be used now: `Err(AuthFailure)`
    /// for every reason it may not. With `counted`, a refusal of an existing key is
    /// counted in its analytics.
    #[instrument(skip_all, name = "verify")]
    pub(in crate::domain) async fn resolve(
        &self,
        raw: &str,
        ip: Option<&str>,
        counted: Option<&Tags>,
    ) -> Result<Arc<CredentialRecord>, AppError> {
        let record = match self.lookup(raw).await {
            Ok(record) => record,
            Err(err) => {
                // Presenting something that is not a credential at all is a guess; a
                // revoked or expired key is a real key and is not. Only guesses are held
                // back: a product relays all its users' keys from one address, and a key
                // that exists is answered on its own merits whatever else came from there
                // (SPEC §4.2).
                if let AppError::Unauthenticated(AuthFailure::Malformed | AuthFailure::NotFound) =
                    &err
                {
                    self.refuse_held_back(ip)?;
                    self.note_guess(ip);
                }
                return Err(err);
            }
        };
        if let Some(failure) = record.failure(self.clock.now()) {
            if let (Some(tags), Some(outcome)) = (counted, Outcome::of_refusal(failure)) {
                self.count_verification(&record, outcome, ip, tags);
            }
            return Err(failure.into());
        }
        Ok(record)
    }

    /// Meters one use of a usable credential (SPEC §3.5, §10): spends `spend.cost` of its
    /// pool, then counts its per-minute limit, its auto-applied limits and the limits
    /// `spend` names, all or none; a refused limit gives the credits back. Only an
    /// allowed use is recorded.
    async fn meter(
        &self,
        record: Arc<CredentialRecord>,
        ip: Option<&str>,
        spend: &Spend,
    ) -> Result<Verified, AppError> {
        let controls = record.controls.as_deref();
        let own_cost = u32::from(spend.counts);
        // The per-minute limit, then every auto-applied one, then those named.
        let per_minute = record.rate_limit(self.config.default_rate_limit_per_minute);
        let mut names = vec![super::controls::PER_MINUTE.to_owned()];
        let mut checks = vec![LimitCheck {
            id: record.credential.id,
            limit: per_minute.max(1),
            duration_ms: 60_000,
            cost: own_cost,
        }];
        if let Some(controls) = controls {
            for held in controls.limits.iter().filter(|l| l.auto_apply) {
                let named = spend.limits.iter().position(|(n, _)| *n == held.name);
                let cost = named.map_or(own_cost, |i| spend.limits[i].1);
                if let Some(i) = named
                    && cost > held.limit
                {
                    return Err(AppError::invalid(
                        format!("ratelimits[{i}].cost"),
                        format!(
                            "is more than the whole limit `{}` ({})",
                            held.name, held.limit
                        ),
                    ));
                }
                names.push(held.name.clone());
                checks.push(held.check(cost));
            }
        }
        for (i, (name, cost)) in spend.limits.iter().enumerate() {
            if names.iter().any(|n| n == name) {
                continue;
            }
            let held = controls
                .and_then(|c| c.limits.iter().find(|l| l.name == *name))
                .ok_or_else(|| {
                    AppError::invalid(
                        format!("ratelimits[{i}].name"),
                        "names no limit of this key or its identity",
                    )
                })?;
            if *cost > held.limit {
                return Err(AppError::invalid(
                    format!("ratelimits[{i}].cost"),
                    format!("is more than the whole limit `{name}` ({})", held.limit),
                ));
            }
            names.push(name.clone());
            checks.push(held.check(*cost));
        }
        // Credits first: a refused limit gives them back, a refused spend counts nothing.
        let pool = controls.and_then(|c| c.pool);
        let mut credits = None;
        let mut refused = None;
        let mut spent = None;
        if let Some(pool) = pool {
            if spend.cost > 0 {
                match self.credits.spend(&self.db, &pool, spend.cost).await? {
                    super::credits::Spent::Spent { remaining, epoch } => {
                        credits = Some(remaining);
                        spent = Some((pool.owner, epoch));
                    }
                    super::credits::Spent::Exceeded { remaining } => {
                        credits = Some(remaining);
                        refused = Some(Outcome::UsageExceeded);
                    }
                    super::credits::Spent::Unlimited => {}
                }
            } else {
                credits = self.credits.peek(&self.db, &pool).await?;
            }
        }
        if refused.is_some() {
            for check in &mut checks {
                check.cost = 0;
            }
        }
        // An organization's keys follow its policy; a personal token, outside any,
        // is limited on this node while Redis is away.
        let on_outage = record
            .context
            .organization
            .as_ref()
            .map_or(Outage::LimitHere, |o| {
                Outage::of_organization(o.rate_limit_fail_open)
            });
        let decision = self.limiter.check_all(&checks, on_outage).await;
        if !decision.allowed && refused.is_none() {
            refused = Some(Outcome::RateLimited);
            if let Some((owner, epoch)) = spent {
                self.credits.refund(owner, spend.cost, epoch).await;
                credits = credits.map(|c| c + spend.cost);
            }
        }
        let first = decision.states.first().copied().unwrap_or(LimitState {
            exceeded: false,
            limit: per_minute,
            remaining: per_minute,
            reset_ms: 0,
        });
        let rate = RateDecision {
            allowed: refused.is_none(),
            limit: first.limit,
            remaining: first.remaining,
            reset_secs: first.reset_ms.div_ceil(1000),
            retry_after_secs: decision.retry_after_secs,
        };
        crate::telemetry::RATE_LIMIT_BY_DECISION.increment(if decision.allowed {
            "allowed"
        } else {
            "limited"
        });
        if refused.is_none() && spend.counts {
            self.usage
                .record(record.credential.id, ip, self.clock.now());
        }
        let limits = names
            .into_iter()
            .zip(decision.states)
            .map(|(name, state)| NamedState { name, state })
            .collect();
        Ok(Verified {
            record,
            rate,
            limits,
            credits,
            refused,
        })
    }

    /// The stored credential a presented string names, from memory when it can be.
    async fn lookup(&self, raw: &str) -> Result<Arc<CredentialRecord>, AppError> {
        let raw = raw.trim();
        if raw.is_empty() {
            return Err(AuthFailure::Missing.into());
        }
        if raw.len() > MAX_TOKEN_LEN {
            return Err(AuthFailure::Malformed.into());
        }
        let hash = if self.verifier.is_imported_format(raw) {
            TokenHash::of(raw)
        } else {
            self.tokens
                .parse(raw)
                .map_err(|_| AuthFailure::Malformed)?
                .hash
        };
        if let Some(hit) = self.verifier.get(&hash) {
            self.verifier.hits.fetch_add(1, Ordering::Relaxed);
            return Ok(hit);
        }
        if self.verifier.known_absent(&hash) {
            self.verifier.hits.fetch_add(1, Ordering::Relaxed);
            return Err(AuthFailure::NotFound.into());
        }
        self.verifier.lookups.fetch_add(1, Ordering::Relaxed);
        let generation = self.verifier.generation.load(Ordering::SeqCst);
        let Some(loaded) = load_record(&self.reads, &hash).await? else {
            self.verifier.note_absent(&hash, generation);
            return Err(AuthFailure::NotFound.into());
        };
        Ok(self.verifier.keep(&hash, loaded, generation))
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::{Clock, Expiring};

    #[test]
    fn held_values_expire_by_the_servers_clock() {
        let clock = Clock::system();
        let held = Expiring::new(10, Duration::from_secs(300), clock.clone());
        held.insert([1; 32], 1);
        clock.advance(Duration::from_secs(299));
        assert_eq!(held.get(&[1; 32]), Some(1));
        // Kept again: its time starts over.
        held.insert([2; 32], 2);
        clock.advance(Duration::from_secs(1));
        assert_eq!(held.get(&[1; 32]), None, "expired at its time to live");
        assert_eq!(held.len(), 1, "and dropped");
        assert_eq!(held.get(&[2; 32]), Some(2));
        held.remove(&[2; 32]);
        assert_eq!(held.get(&[2; 32]), None);
        held.insert([3; 32], 3);
        held.clear();
        assert_eq!(held.len(), 0);
    }

    #[test]
    fn at_most_its_capacity_is_held() {
        let held = Expiring::new(100, Duration::from_secs(300), Clock::system());
        for i in 0..1_000u32 {
            let mut key = [0; 32];
            key[..4].copy_from_slice(&i.to_le_bytes());
            held.insert(key, i);
        }
        assert!(held.len() <= 100, "{}", held.len());
    }
}

//! Verification analytics (SPEC §9): per key and minute, the count of each outcome of the
//! verify endpoints, and a bounded log of recent verifications (time, outcome, address,
//! the caller's tags) kept for `KEYWARD_VERIFICATION_LOG_DAYS`.
//!
//! Like usage, nothing is written on the request path: verifications are counted in
//! memory and written with the usage flush, at least once a second and on shutdown. The
//! counts are exact (a flush whose commit is reported failed although it happened may
//! count its batch twice; its log entries are never written twice). The log is bounded:
//! per key, outcome and minute at most [`LOG_PER_KEY_MINUTE`] entries (a flood of one
//! outcome never hides another), per organization and minute at most
//! [`LOG_PER_ORG_MINUTE`], tags of at most [`MAX_TAG_BYTES`], and at most
//! [`MAX_PENDING_LOG`] waiting for a flush; past a bound a verification is counted but
//! not logged. Counts are kept [`BUCKET_DAYS`] days.

use std::{
    collections::{BTreeMap, HashMap},
    sync::Mutex,
};

use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use dashmap::DashMap;
use entity::{credential, prelude::*, verification_bucket, verification_log};
use sea_orm::{
    ActiveValue::Set,
    ColumnTrait, DatabaseTransaction, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    sea_query::{Alias, Expr, ExprTrait, OnConflict, Order},
};
use uuid::Uuid;

use super::{
    Actor, Services,
    access::{Need, corrupt},
    hashing::IdHasher,
    ids,
    paging::{self, Page},
    permissions::Perm,
    verify::{CredentialRecord, HeldCredential},
};
use crate::error::{AppError, AppResult, AuthFailure};

/// What one verification of an existing key decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Outcome {
    Valid,
    RateLimited,
    Expired,
    Revoked,
    Disabled,
    Suspended,
    OwnerRemoved,
    InsufficientPermissions,
    /// The key's credits ran out (SPEC §3.5).
    UsageExceeded,
}

impl Outcome {
    /// Every outcome, in the order charts stack them.
    pub const ALL: [Outcome; 9] = [
        Self::Valid,
        Self::RateLimited,
        Self::UsageExceeded,
        Self::InsufficientPermissions,
        Self::Expired,
        Self::Revoked,
        Self::Disabled,
        Self::Suspended,
        Self::OwnerRemoved,
    ];

    /// The `code` of the verify answer, and the stored form.
    pub fn code(self) -> &'static str {
        use keyward_proto::verify::Code;
        match self {
            Self::Valid => Code::Valid,
            Self::RateLimited => Code::RateLimited,
            Self::Expired => Code::Expired,
            Self::Revoked => Code::Revoked,
            Self::Disabled => Code::Disabled,
            Self::Suspended => Code::Suspended,
            Self::OwnerRemoved => Code::OwnerRemoved,
            Self::InsufficientPermissions => Code::InsufficientPermissions,
            Self::UsageExceeded => Code::UsageExceeded,
        }
        .as_str()
    }

    /// Reads a stored code; anything else is corrupt data.
    pub fn parse(code: &str) -> AppResult<Self> {
        Self::ALL
            .into_iter()
            .find(|o| o.code() == code)
            .ok_or_else(|| corrupt("verification outcome", code))
    }

    /// The outcome of a refusal of an existing key; `None` when there is no key to count
    /// it against (missing, malformed, unknown).
    pub fn of_refusal(failure: AuthFailure) -> Option<Self> {
        match failure {
            AuthFailure::Expired => Some(Self::Expired),
            AuthFailure::Revoked => Some(Self::Revoked),
            AuthFailure::Disabled => Some(Self::Disabled),
            AuthFailure::Suspended => Some(Self::Suspended),
            AuthFailure::OwnerRemoved => Some(Self::OwnerRemoved),
            AuthFailure::Missing
            | AuthFailure::Malformed
            | AuthFailure::NotFound
            | AuthFailure::SessionInvalid => None,
        }
    }

    fn index(self) -> usize {
        Self::ALL.iter().position(|o| *o == self).unwrap_or(0)
    }
}

/// Counts by outcome.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OutcomeCounts([i64; Outcome::ALL.len()]);

impl OutcomeCounts {
    fn add(&mut self, outcome: Outcome, n: i64) {
        self.0[outcome.index()] += n;
    }

    /// The count of one outcome.
    pub fn get(&self, outcome: Outcome) -> i64 {
        self.0[outcome.index()]
    }

    /// Every verification counted.
    pub fn total(&self) -> i64 {
        self.0.iter().sum()
    }

    /// Verifications that did not answer `VALID`.
    pub fn failed(&self) -> i64 {
        self.total() - self.get(Outcome::Valid)
    }

    /// The outcomes counted at least once, in chart order.
    pub fn nonzero(&self) -> impl Iterator<Item = (Outcome, i64)> + '_ {
        Outcome::ALL
            .into_iter()
            .map(|o| (o, self.get(o)))
            .filter(|(_, n)| *n > 0)
    }
}

/// Most tags one verification may carry.
pub const MAX_TAGS: usize = 10;
/// Longest tag name, in characters.
pub const MAX_TAG_NAME_LEN: usize = 40;
/// Longest tag value, in characters.
pub const MAX_TAG_VALUE_LEN: usize = 200;
/// Most bytes of one verification's tags, names and values together.
pub const MAX_TAG_BYTES: usize = 512;
/// Log entries kept per key, outcome and minute.
pub const LOG_PER_KEY_MINUTE: u32 = 10;
/// Log entries kept per organization (or, outside one, per key) and minute.
pub const LOG_PER_ORG_MINUTE: u32 = 200;
/// Log entries waiting for a flush at most.
pub const MAX_PENDING_LOG: usize = 10_000;
/// Days the per-minute counts are kept: the longest chart range and a day.
pub const BUCKET_DAYS: i64 = MAX_RANGE_DAYS + 1;
/// Rows removed by one statement when pruning.
const PRUNE_BATCH: u64 = 5_000;
/// Longest range of a verification chart.
pub const MAX_RANGE_DAYS: i64 = 31;
/// Most bars of a verification chart.
pub const MAX_BUCKETS: i64 = 1_500;
/// Most keys in an organization's busiest list.
pub const MAX_BUSIEST: u64 = 50;
/// Hours of verifications that a key list shows beside each key.
pub const ACTIVITY_HOURS: usize = 24;

/// The caller's tags of one verification (SPEC §4.2): at most [`MAX_TAGS`] short pairs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tags(BTreeMap<String, String>);

impl Tags {
    /// Checks tags as they arrived, naming the offending field.
    pub fn parse(tags: BTreeMap<String, String>) -> AppResult<Self> {
        if tags.len() > MAX_TAGS {
            return Err(AppError::invalid(
                "tags",
                format!("at most {MAX_TAGS} tags are allowed"),
            ));
        }
        let bytes: usize = tags.iter().map(|(k, v)| k.len() + v.len()).sum();
        if bytes > MAX_TAG_BYTES {
            return Err(AppError::invalid(
                "tags",
                format!("names and values may total at most {MAX_TAG_BYTES} bytes"),
            ));
        }
        for (name, value) in &tags {
            let field = || {
                let shown: String = name.chars().take(MAX_TAG_NAME_LEN).collect();
                if shown.is_empty() {
                    "tags".to_owned()
                } else {
                    format!("tags.{shown}")
                }
            };
            if name.is_empty() || name.chars().count() > MAX_TAG_NAME_LEN {
                return Err(AppError::invalid(
                    field(),
                    format!("a tag name must be 1-{MAX_TAG_NAME_LEN} characters"),
                ));
            }
            if value.chars().count() > MAX_TAG_VALUE_LEN {
                return Err(AppError::invalid(
                    field(),
                    format!("must be at most {MAX_TAG_VALUE_LEN} characters"),
                ));
            }
            if name
                .chars()
                .chain(value.chars())
                .any(super::validate::is_hidden_or_reordering)
            {
                return Err(AppError::invalid(
                    field(),
                    "must not contain control or invisible formatting characters",
                ));
            }
        }
        Ok(Self(tags))
    }

    /// Refuses tags that carry a credential: the presented `key`, or any word that
    /// `is_token` recognises as one of this deployment's tokens (a caller passing its
    /// `Authorization` header along). Whoever reads the key's usage reads its tags.
    pub fn refuse_tokens(&self, key: &str, is_token: impl Fn(&str) -> bool) -> AppResult<()> {
        let key = key.trim();
        let carries = |text: &str| {
            (key.len() >= 8 && text.contains(key))
                || text
                    .split(|c: char| c.is_whitespace() || c == '=' || c == ',' || c == '"')
                    .any(|word| !word.is_empty() && is_token(word))
        };
        match self
            .0
            .iter()
            .find(|(name, value)| carries(name) || carries(value))
        {
            Some(_) => Err(AppError::invalid(
                "tags",
                "must not carry a key or token: tags are shown to everyone who reads the key's usage",
            )),
            None => Ok(()),
        }
    }

    /// The pairs, by name.
    pub fn pairs(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    fn stored(&self) -> Option<String> {
        if self.0.is_empty() {
            None
        } else {
            serde_json::to_string(&self.0).ok()
        }
    }

    fn from_stored(raw: Option<&str>) -> AppResult<Self> {
        match raw {
            None => Ok(Self::default()),
            Some(raw) => serde_json::from_str(raw)
                .map(Self)
                .map_err(|e| corrupt("verification tags", e)),
        }
    }
}

fn minute_of(at: DateTime<Utc>) -> DateTime<Utc> {
    at.duration_trunc(TimeDelta::minutes(1)).unwrap_or(at)
}

/// The key a verification is counted against, and where it belongs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CountedKey {
    pub credential_id: Uuid,
    pub organization_id: Option<Uuid>,
    pub project_id: Option<Uuid>,
}

impl From<&HeldCredential> for CountedKey {
    fn from(c: &HeldCredential) -> Self {
        Self {
            credential_id: c.id,
            organization_id: c.organization_id,
            project_id: c.project_id,
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Count {
    key: CountedKey,
    n: i64,
}

#[derive(Debug, Clone)]
struct LogEntry {
    id: Uuid,
    credential_id: Uuid,
    at: DateTime<Utc>,
    outcome: Outcome,
    ip: Option<String>,
    tags: Tags,
}

/// What a verification is counted under: its key, minute and outcome.
type Counted = (Uuid, DateTime<Utc>, Outcome);

/// The log waiting for a flush, and what each organization logged this minute.
#[derive(Debug, Default)]
struct Log {
    entries: Vec<LogEntry>,
    /// Entries logged per organization (or key outside one) in the current minute.
    by_owner: HashMap<Uuid, (DateTime<Utc>, u32), IdHasher>,
}

/// Takes one from a per-minute allowance of `limit`; false when it is spent.
fn take(slot: &mut (DateTime<Utc>, u32), minute: DateTime<Utc>, limit: u32) -> bool {
    if slot.0 != minute {
        *slot = (minute, 0);
    }
    if slot.1 >= limit {
        return false;
    }
    slot.1 += 1;
    true
}

/// Whether a per-minute allowance of `limit` has room in `minute`.
fn has_room(slot: (DateTime<Utc>, u32), minute: DateTime<Utc>, limit: u32) -> bool {
    slot.0 != minute || slot.1 < limit
}

/// Buffered verification analytics, taken out by [`VerificationRecorder::take`].
///
/// Counting takes only the lock of a shard of keys. The log's lock is taken only by a
/// verification its key may still log this minute (ten per key, outcome and minute), so
/// a busy key is counted without it.
#[derive(Debug, Default)]
pub struct VerificationRecorder {
    /// By key, minute and outcome.
    counts: DashMap<Counted, Count, IdHasher>,
    /// Entries logged per key and outcome in the current minute (across flushes). Read
    /// freely; changed only under `log`'s lock.
    logged: DashMap<(Uuid, Outcome), (DateTime<Utc>, u32), IdHasher>,
    log: Mutex<Log>,
}

impl VerificationRecorder {
    /// Counts one verification of `key`, and logs it within the bounds.
    pub fn record(
        &self,
        at: DateTime<Utc>,
        key: CountedKey,
        outcome: Outcome,
        ip: Option<&str>,
        tags: &Tags,
    ) {
        let minute = minute_of(at);
        self.counts
            .entry((key.credential_id, minute, outcome))
            .or_insert(Count { key, n: 0 })
            .n += 1;
        let per_key = (key.credential_id, outcome);
        let key_room = || {
            self.logged
                .get(&per_key)
                .is_none_or(|slot| has_room(*slot, minute, LOG_PER_KEY_MINUTE))
        };
        if !key_room() {
            return;
        }
        let mut log = self.log.lock().unwrap_or_else(|e| e.into_inner());
        // Again under the lock: another request may have taken the last place.
        if log.entries.len() >= MAX_PENDING_LOG || !key_room() {
            return;
        }
        let owner = key.organization_id.unwrap_or(key.credential_id);
        if !take(
            log.by_owner.entry(owner).or_insert((minute, 0)),
            minute,
            LOG_PER_ORG_MINUTE,
        ) {
            return;
        }
        take(
            &mut self.logged.entry(per_key).or_insert((minute, 0)),
            minute,
            LOG_PER_KEY_MINUTE,
        );
        log.entries.push(LogEntry {
            id: ids::new_id(),
            credential_id: key.credential_id,
            at,
            outcome,
            ip: ip.map(str::to_owned),
            tags: tags.clone(),
        });
    }

    /// Takes out everything recorded so far, for [`write`]; forgets the log allowances
    /// of minutes before `now`'s. Each count is taken under its shard's lock: one
    /// recorded meanwhile lands either in this batch or in the next.
    pub fn take(&self, now: DateTime<Utc>) -> VerificationBatch {
        let mut counts = Vec::with_capacity(self.counts.len());
        self.counts.retain(|k, count| {
            counts.push((*k, *count));
            false
        });
        let minute = minute_of(now);
        let mut log = self.log.lock().unwrap_or_else(|e| e.into_inner());
        self.logged.retain(|_, (m, _)| *m >= minute);
        log.by_owner.retain(|_, (m, _)| *m >= minute);
        VerificationBatch {
            counts,
            log: std::mem::take(&mut log.entries),
        }
    }

    /// Puts back a batch whose write failed (the log within its bound), for the next
    /// flush.
    pub fn put_back(&self, batch: VerificationBatch) {
        for (key, count) in batch.counts {
            self.counts.entry(key).or_insert(Count { n: 0, ..count }).n += count.n;
        }
        let mut log = self.log.lock().unwrap_or_else(|e| e.into_inner());
        let room = MAX_PENDING_LOG.saturating_sub(log.entries.len());
        let mut entries: Vec<LogEntry> = batch.log.into_iter().take(room).collect();
        entries.append(&mut log.entries);
        log.entries = entries;
    }
}

/// Verifications taken out of a [`VerificationRecorder`], to be written by [`write`].
#[derive(Debug, Default)]
pub struct VerificationBatch {
    counts: Vec<(Counted, Count)>,
    log: Vec<LogEntry>,
}

impl VerificationBatch {
    /// Counts and log entries in the batch.
    pub fn len(&self) -> usize {
        self.counts.len() + self.log.len()
    }

    pub fn is_empty(&self) -> bool {
        self.counts.is_empty() && self.log.is_empty()
    }
}

/// Writes a batch inside `txn`: the counts by key, minute and outcome, and the log.
pub(super) async fn write(txn: &DatabaseTransaction, batch: &VerificationBatch) -> AppResult<()> {
    let VerificationBatch { counts, log } = batch;
    let rows: Vec<verification_bucket::ActiveModel> = counts
        .iter()
        .map(
            |((credential_id, minute, outcome), count)| verification_bucket::ActiveModel {
                credential_id: Set(*credential_id),
                minute: Set(*minute),
                outcome: Set(outcome.code().to_owned()),
                organization_id: Set(count.key.organization_id),
                project_id: Set(count.key.project_id),
                count: Set(count.n),
            },
        )
        .collect();
    for chunk in super::batch::chunks(&rows) {
        VerificationBucket::insert_many(chunk.iter().cloned())
            .on_conflict(
                OnConflict::columns([
                    verification_bucket::Column::CredentialId,
                    verification_bucket::Column::Minute,
                    verification_bucket::Column::Outcome,
                ])
                .value(
                    verification_bucket::Column::Count,
                    Expr::col((VerificationBucket, verification_bucket::Column::Count)).add(
                        Expr::col((Alias::new("excluded"), verification_bucket::Column::Count)),
                    ),
                )
                .to_owned(),
            )
            .exec_without_returning(txn)
            .await?;
    }
    for chunk in super::batch::chunks(log) {
        let rows = chunk.iter().map(|e| verification_log::ActiveModel {
            id: Set(e.id),
            credential_id: Set(e.credential_id),
            at: Set(e.at),
            outcome: Set(e.outcome.code().to_owned()),
            ip: Set(e.ip.clone()),
            tags: Set(e.tags.stored()),
        });
        // A batch put back after a commit that did happen is not written twice.
        VerificationLog::insert_many(rows)
            .on_conflict(
                OnConflict::column(verification_log::Column::Id)
                    .do_nothing()
                    .to_owned(),
            )
            .exec_without_returning(txn)
            .await?;
    }
    Ok(())
}

/// One bar of a chart: its start and its counts.
pub type Bar = (DateTime<Utc>, OutcomeCounts);

/// A key's verifications over a range, in bars of `bucket_minutes`.
#[derive(Debug, Clone)]
pub struct VerificationStats {
    pub credential_id: Uuid,
    pub since: DateTime<Utc>,
    pub until: DateTime<Utc>,
    pub bucket_minutes: u32,
    pub totals: OutcomeCounts,
    /// Every bar from `since`, empty ones included: its start and its counts.
    pub buckets: Vec<Bar>,
}

/// One verification in the log.
#[derive(Debug, Clone)]
pub struct VerificationEntry {
    pub id: Uuid,
    pub at: DateTime<Utc>,
    pub outcome: Outcome,
    pub ip: Option<String>,
    pub tags: Tags,
}

impl VerificationEntry {
    pub(super) fn from_model(m: verification_log::Model) -> AppResult<Self> {
        Ok(Self {
            id: m.id,
            at: m.at,
            outcome: Outcome::parse(&m.outcome)?,
            ip: m.ip,
            tags: Tags::from_stored(m.tags.as_deref())?,
        })
    }
}

/// One key of an organization and its verifications over a range.
#[derive(Debug, Clone)]
pub struct KeyActivity {
    pub credential: credential::Model,
    pub counts: OutcomeCounts,
}

/// An organization's verifications over a range, and its busiest keys.
#[derive(Debug, Clone)]
pub struct OrganizationActivity {
    pub since: DateTime<Utc>,
    pub until: DateTime<Utc>,
    pub totals: OutcomeCounts,
    /// The keys with the most verifications, most first.
    pub busiest: Vec<KeyActivity>,
}

/// `since`/`until` checked, defaulting to the last 24 hours, both on whole minutes
/// (`until` rounded up, so the current minute is in).
fn range(
    now: DateTime<Utc>,
    since: Option<DateTime<Utc>>,
    until: Option<DateTime<Utc>>,
) -> AppResult<(DateTime<Utc>, DateTime<Utc>)> {
    let out_of_range = || AppError::invalid("until", "is out of range");
    let until = until.unwrap_or(now);
    let until = match minute_of(until) {
        m if m == until => m,
        m => m
            .checked_add_signed(TimeDelta::minutes(1))
            .ok_or_else(out_of_range)?,
    };
    let since = match since {
        Some(since) => minute_of(since),
        None => until
            .checked_sub_signed(TimeDelta::hours(24))
            .ok_or_else(out_of_range)?,
    };
    if since >= until {
        return Err(AppError::invalid("since", "must be before until"));
    }
    if until - since > TimeDelta::days(MAX_RANGE_DAYS) {
        return Err(AppError::invalid(
            "since",
            format!("the range may span at most {MAX_RANGE_DAYS} days"),
        ));
    }
    Ok((since, until))
}

/// Sums per-minute `(minute, outcome, count)` rows into bars of `width` minutes from
/// `since` to `until` (whole minutes): every bar, empty ones included, and the totals.
fn bars(
    rows: Vec<(DateTime<Utc>, String, i64)>,
    since: DateTime<Utc>,
    until: DateTime<Utc>,
    width: u32,
) -> AppResult<(Vec<Bar>, OutcomeCounts)> {
    let width = i64::from(width);
    let count = ((until - since).num_minutes() + width - 1) / width;
    let mut bars: Vec<Bar> = (0..count)
        .map(|i| {
            (
                since + TimeDelta::minutes(i * width),
                OutcomeCounts::default(),
            )
        })
        .collect();
    let mut totals = OutcomeCounts::default();
    for (minute, outcome, n) in rows {
        let outcome = Outcome::parse(&outcome)?;
        let bar = usize::try_from((minute - since).num_minutes() / width)
            .ok()
            .and_then(|i| bars.get_mut(i))
            .ok_or_else(|| {
                AppError::internal(std::io::Error::other("a count outside its range"))
            })?;
        bar.1.add(outcome, n);
        totals.add(outcome, n);
    }
    Ok((bars, totals))
}

fn sum_as_bigint() -> Expr {
    Expr::col(verification_bucket::Column::Count)
        .sum()
        .cast_as(Alias::new("BIGINT"))
}

impl Services {
    /// Counts one verification of an existing key.
    pub(in crate::domain) fn count_verification(
        &self,
        record: &CredentialRecord,
        outcome: Outcome,
        ip: Option<&str>,
        tags: &Tags,
    ) {
        self.verifications.record(
            self.clock.now(),
            CountedKey::from(&record.credential),
            outcome,
            ip,
            tags,
        );
    }

    /// Drops log entries older than `KEYWARD_VERIFICATION_LOG_DAYS` and counts older
    /// than [`BUCKET_DAYS`], a batch at a time so flushes are never held up long;
    /// returns how many rows went.
    pub async fn prune_verification_log(&self) -> AppResult<u64> {
        let now = self.clock.now();
        let log_cutoff = now - TimeDelta::days(self.config.verification_log_days.into());
        let bucket_cutoff = now - TimeDelta::days(BUCKET_DAYS);
        let mut removed = 0;
        loop {
            let ids: Vec<Uuid> = VerificationLog::find()
                .select_only()
                .column(verification_log::Column::Id)
                .filter(verification_log::Column::At.lt(log_cutoff))
                .limit(PRUNE_BATCH)
                .into_tuple()
                .all(&self.db)
                .await?;
            if ids.is_empty() {
                break;
            }
            let done = VerificationLog::delete_many()
                .filter(verification_log::Column::Id.is_in(ids))
                .exec(&self.db)
                .await?;
            removed += done.rows_affected;
        }
        loop {
            let old: Vec<(Uuid, DateTime<Utc>)> = VerificationBucket::find()
                .select_only()
                .column(verification_bucket::Column::CredentialId)
                .column(verification_bucket::Column::Minute)
                .filter(verification_bucket::Column::Minute.lt(bucket_cutoff))
                .limit(PRUNE_BATCH)
                .into_tuple()
                .all(&self.db)
                .await?;
            let Some(&(_, newest)) = old.iter().max_by_key(|(_, m)| *m) else {
                break;
            };
            let ids: Vec<Uuid> = old.iter().map(|(id, _)| *id).collect();
            let done = VerificationBucket::delete_many()
                .filter(verification_bucket::Column::CredentialId.is_in(ids))
                .filter(verification_bucket::Column::Minute.lte(newest))
                .filter(verification_bucket::Column::Minute.lt(bucket_cutoff))
                .exec(&self.db)
                .await?;
            removed += done.rows_affected;
        }
        Ok(removed)
    }

    /// A key's verifications by outcome between `since` and `until` (default: the last
    /// 24 hours, at most [`MAX_RANGE_DAYS`]), in bars of `bucket_minutes` (default 60).
    /// **Permissions**: `usage:read` in the key's organization, or the PAT's own user.
    pub async fn verification_stats(
        &self,
        actor: &Actor,
        credential_id: Uuid,
        since: Option<DateTime<Utc>>,
        until: Option<DateTime<Utc>>,
        bucket_minutes: Option<u32>,
    ) -> AppResult<VerificationStats> {
        let (since, until) = range(self.clock.now(), since, until)?;
        let bucket_minutes = bucket_minutes.unwrap_or(60);
        if !(1..=1440).contains(&bucket_minutes) {
            return Err(AppError::invalid(
                "bucketMinutes",
                "must be between 1 and 1440",
            ));
        }
        let needed = (until - since)
            .num_minutes()
            .div_euclid(i64::from(bucket_minutes))
            + 1;
        if needed > MAX_BUCKETS {
            return Err(AppError::invalid(
                "bucketMinutes",
                format!("the range would need {needed} bars; at most {MAX_BUCKETS} are drawn"),
            ));
        }
        let (cred, _) = self
            .visible_credential(actor, credential_id, Perm::USAGE_READ, Perm::PATS_READ)
            .await?;
        let rows: Vec<(DateTime<Utc>, String, i64)> = VerificationBucket::find()
            .select_only()
            .column(verification_bucket::Column::Minute)
            .column(verification_bucket::Column::Outcome)
            .column(verification_bucket::Column::Count)
            .filter(verification_bucket::Column::CredentialId.eq(cred.id))
            .filter(verification_bucket::Column::Minute.gte(since))
            .filter(verification_bucket::Column::Minute.lt(until))
            .into_tuple()
            .all(&self.db)
            .await?;
        let (buckets, totals) = bars(rows, since, until, bucket_minutes)?;
        Ok(VerificationStats {
            credential_id: cred.id,
            since,
            until,
            bucket_minutes,
            totals,
            buckets,
        })
    }

    /// A key's recent verifications, newest first, optionally of one outcome; entries
    /// older than the log's retention are never shown.
    /// **Permissions**: `usage:read` in the key's organization, or the PAT's own user.
    pub async fn recent_verifications(
        &self,
        actor: &Actor,
        credential_id: Uuid,
        outcome: Option<Outcome>,
        first: u64,
        after: Option<Uuid>,
    ) -> AppResult<Page<VerificationEntry>> {
        let (cred, _) = self
            .visible_credential(actor, credential_id, Perm::USAGE_READ, Perm::PATS_READ)
            .await?;
        let cutoff = self.clock.now() - TimeDelta::days(self.config.verification_log_days.into());
        let mut query = VerificationLog::find()
            .filter(verification_log::Column::CredentialId.eq(cred.id))
            .filter(verification_log::Column::At.gte(cutoff));
        if let Some(outcome) = outcome {
            query = query.filter(verification_log::Column::Outcome.eq(outcome.code()));
        }
        let page =
            paging::page(&self.db, query, verification_log::Column::Id, first, after).await?;
        Ok(Page {
            items: page
                .items
                .into_iter()
                .map(VerificationEntry::from_model)
                .collect::<AppResult<_>>()?,
            has_next: page.has_next,
            total: page.total,
        })
    }

    /// An organization's verifications by outcome between `since` and `until` (default:
    /// the last 24 hours), and its `first` busiest keys (at most [`MAX_BUSIEST`]). A key
    /// limited to a project sees its project's keys only.
    /// **Permissions**: `usage:read` and `api_keys:read`.
    pub async fn organization_activity(
        &self,
        actor: &Actor,
        org: Uuid,
        since: Option<DateTime<Utc>>,
        until: Option<DateTime<Utc>>,
        first: u64,
    ) -> AppResult<OrganizationActivity> {
        let (since, until) = range(self.clock.now(), since, until)?;
        if !(1..=MAX_BUSIEST).contains(&first) {
            return Err(AppError::invalid(
                "first",
                format!("must be between 1 and {MAX_BUSIEST}"),
            ));
        }
        // The busiest keys are named: reading their names is reading the keys.
        let grant = self
            .authorize(
                actor,
                Need::OrgAll(org, vec![Perm::USAGE_READ, Perm::API_KEYS_READ]),
            )
            .await?;
        let mut scope = VerificationBucket::find()
            .filter(verification_bucket::Column::OrganizationId.eq(org))
            .filter(verification_bucket::Column::Minute.gte(since))
            .filter(verification_bucket::Column::Minute.lt(until));
        if let Some(project) = grant.bound_project() {
            scope = scope.filter(verification_bucket::Column::ProjectId.eq(project));
        }
        let mut totals = OutcomeCounts::default();
        let by_outcome: Vec<(String, i64)> = scope
            .clone()
            .select_only()
            .column(verification_bucket::Column::Outcome)
            .expr(sum_as_bigint())
            .group_by(verification_bucket::Column::Outcome)
            .into_tuple()
            .all(&self.db)
            .await?;
        for (outcome, n) in by_outcome {
            totals.add(Outcome::parse(&outcome)?, n);
        }
        let top: Vec<(Uuid, i64)> = scope
            .clone()
            .select_only()
            .column(verification_bucket::Column::CredentialId)
            .expr_as(sum_as_bigint(), "total")
            .group_by(verification_bucket::Column::CredentialId)
            .order_by(Expr::col(Alias::new("total")), Order::Desc)
            .order_by_asc(verification_bucket::Column::CredentialId)
            .limit(first)
            .into_tuple()
            .all(&self.db)
            .await?;
        let ids: Vec<Uuid> = top.iter().map(|(id, _)| *id).collect();
        let per_key: Vec<(Uuid, String, i64)> = scope
            .select_only()
            .column(verification_bucket::Column::CredentialId)
            .column(verification_bucket::Column::Outcome)
            .expr(sum_as_bigint())
            .filter(verification_bucket::Column::CredentialId.is_in(ids.clone()))
            .group_by(verification_bucket::Column::CredentialId)
            .group_by(verification_bucket::Column::Outcome)
            .into_tuple()
            .all(&self.db)
            .await?;
        let mut counts: HashMap<Uuid, OutcomeCounts> = HashMap::new();
        for (id, outcome, n) in per_key {
            counts
                .entry(id)
                .or_default()
                .add(Outcome::parse(&outcome)?, n);
        }
        let mut credentials: HashMap<Uuid, credential::Model> = Credential::find()
            .filter(credential::Column::Id.is_in(ids.clone()))
            .filter(credential::Column::OrganizationId.eq(org))
            .all(&self.db)
            .await?
            .into_iter()
            .map(|c| (c.id, c))
            .collect();
        let busiest = ids
            .into_iter()
            .filter_map(|id| {
                credentials.remove(&id).map(|credential| KeyActivity {
                    credential,
                    counts: counts.remove(&id).unwrap_or_default(),
                })
            })
            .collect();
        Ok(OrganizationActivity {
            since,
            until,
            totals,
            busiest,
        })
    }

    /// Accepted verifications (the requests a key's request count counts) of each of
    /// `keys` in each of the last [`ACTIVITY_HOURS`] hours,
    /// oldest first (the current hour last), for the sparkline beside a key list. Keys
    /// of another organization, or of another project than a key limited to one, count
    /// nothing. **Permissions**: `usage:read`.
    pub async fn key_activity(
        &self,
        actor: &Actor,
        org: Uuid,
        keys: Vec<Uuid>,
    ) -> AppResult<Vec<(Uuid, Vec<i64>)>> {
        if keys.len() as u64 > paging::MAX_PAGE {
            return Err(AppError::invalid(
                "keyIds",
                format!("at most {} keys at a time", paging::MAX_PAGE),
            ));
        }
        let grant = self
            .authorize(actor, Need::Org(org, Perm::USAGE_READ))
            .await?;
        let hour = TimeDelta::hours(1);
        let this_hour =
            self.clock.now().duration_trunc(hour).map_err(|e| {
                AppError::internal(std::io::Error::other(format!("hour of now: {e}")))
            })?;
        let hours = i32::try_from(ACTIVITY_HOURS).unwrap_or(i32::MAX);
        let since = this_hour - hour * (hours - 1);
        // The hour as `YYYY-MM-DDTHH`, the same text on both databases.
        let hour_of = match self.db.get_database_backend() {
            sea_orm::DatabaseBackend::Postgres => {
                "to_char(minute AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24')"
            }
            _ => "strftime('%Y-%m-%dT%H', minute)",
        };
        let mut scope = VerificationBucket::find()
            .filter(verification_bucket::Column::OrganizationId.eq(org))
            .filter(verification_bucket::Column::CredentialId.is_in(keys.clone()))
            .filter(verification_bucket::Column::Outcome.eq(Outcome::Valid.code()))
            .filter(verification_bucket::Column::Minute.gte(since))
            .filter(verification_bucket::Column::Minute.lt(this_hour + hour));
        if let Some(project) = grant.bound_project() {
            scope = scope.filter(verification_bucket::Column::ProjectId.eq(project));
        }
        let rows: Vec<(Uuid, String, i64)> = scope
            .select_only()
            .column(verification_bucket::Column::CredentialId)
            .column_as(Expr::cust(hour_of), "hour")
            .expr(sum_as_bigint())
            .group_by(verification_bucket::Column::CredentialId)
            .group_by(Expr::cust(hour_of))
            .into_tuple()
            .all(&self.db)
            .await?;
        let mut series: HashMap<Uuid, Vec<i64>> = HashMap::new();
        for (id, at, n) in rows {
            let at = chrono::NaiveDateTime::parse_from_str(&format!("{at}:00"), "%Y-%m-%dT%H:%M")
                .map_err(|e| corrupt("verification hour", e))?
                .and_utc();
            let slot = usize::try_from((at - since).num_hours())
                .ok()
                .filter(|slot| *slot < ACTIVITY_HOURS)
                .ok_or_else(|| corrupt("verification hour", at))?;
            series.entry(id).or_insert_with(|| vec![0; ACTIVITY_HOURS])[slot] += n;
        }
        Ok(keys
            .into_iter()
            .map(|id| {
                let counts = series
                    .get(&id)
                    .cloned()
                    .unwrap_or_else(|| vec![0; ACTIVITY_HOURS]);
                (id, counts)
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> CountedKey {
        CountedKey {
            credential_id: Uuid::now_v7(),
            organization_id: Some(Uuid::now_v7()),
            project_id: None,
        }
    }

    fn at(minute: u32, second: u32) -> DateTime<Utc> {
        chrono::TimeZone::with_ymd_and_hms(&Utc, 2026, 11, 29, 10, minute, second).unwrap()
    }

    fn count(r: &VerificationRecorder, k: CountedKey, minute: DateTime<Utc>, o: Outcome) -> i64 {
        r.counts
            .get(&(k.credential_id, minute, o))
            .map_or(0, |c| c.n)
    }

    fn logged(r: &VerificationRecorder) -> Vec<Outcome> {
        let log = r.log.lock().unwrap();
        log.entries.iter().map(|e| e.outcome).collect()
    }

    fn counted(r: &VerificationRecorder) -> i64 {
        r.counts.iter().map(|c| c.n).sum()
    }

    #[test]
    fn counts_stay_exact_while_the_log_is_bounded_per_key_outcome_and_minute() {
        let r = VerificationRecorder::default();
        let k = key();
        let tags = Tags::default();
        for i in 0..100 {
            r.record(at(0, i % 60), k, Outcome::Valid, Some("10.0.0.1"), &tags);
        }
        // A flood of one outcome does not hide another.
        for _ in 0..3 {
            r.record(at(0, 59), k, Outcome::Revoked, None, &tags);
        }
        assert_eq!(count(&r, k, at(0, 0), Outcome::Valid), 100);
        assert_eq!(count(&r, k, at(0, 0), Outcome::Revoked), 3);
        let log = logged(&r);
        let valid = log.iter().filter(|o| **o == Outcome::Valid).count();
        assert_eq!(valid, LOG_PER_KEY_MINUTE as usize);
        assert_eq!(log.len(), LOG_PER_KEY_MINUTE as usize + 3);
        // The next minute logs again.
        r.record(at(1, 0), k, Outcome::Valid, None, &tags);
        assert_eq!(logged(&r).len(), LOG_PER_KEY_MINUTE as usize + 4);
    }

    #[test]
    fn counts_and_bounds_hold_when_recorded_from_many_threads() {
        let r = VerificationRecorder::default();
        let k = key();
        std::thread::scope(|s| {
            for _ in 0..8 {
                s.spawn(|| {
                    for _ in 0..1000 {
                        r.record(at(0, 0), k, Outcome::Valid, None, &Tags::default());
                    }
                });
            }
        });
        assert_eq!(count(&r, k, at(0, 0), Outcome::Valid), 8000);
        assert_eq!(logged(&r).len(), LOG_PER_KEY_MINUTE as usize);
    }

    #[test]
    fn the_waiting_log_never_grows_past_its_bound() {
        let r = VerificationRecorder::default();
        let tags = Tags::default();
        for _ in 0..(MAX_PENDING_LOG + 500) {
            r.record(at(0, 0), key(), Outcome::Valid, None, &tags);
        }
        assert_eq!(logged(&r).len(), MAX_PENDING_LOG);
        assert_eq!(r.counts.len(), MAX_PENDING_LOG + 500);
    }

    #[test]
    fn bars_cover_whole_minutes_up_to_the_current_one() {
        // `until` half a second into a minute: that minute is in, in the second bar.
        let until = at(0, 0) + TimeDelta::minutes(60) + TimeDelta::milliseconds(500);
        let (since, until) = range(until, Some(at(0, 0)), Some(until)).unwrap();
        assert_eq!(
            (since, until),
            (at(0, 0), at(0, 0) + TimeDelta::minutes(61))
        );
        let rows = vec![
            (at(0, 0), "VALID".to_owned(), 2),
            (at(59, 0), "REVOKED".to_owned(), 1),
            (at(0, 0) + TimeDelta::minutes(60), "VALID".to_owned(), 5),
        ];
        let (bars, totals) = bars(rows, since, until, 60).unwrap();
        assert_eq!(bars.len(), 2);
        assert_eq!(bars[0].1.total(), 3);
        assert_eq!(bars[1].0, at(0, 0) + TimeDelta::minutes(60));
        assert_eq!(bars[1].1.get(Outcome::Valid), 5);
        assert_eq!((totals.total(), totals.failed()), (8, 1));

        // The default range is the last 24 hours, the current minute included.
        let (since, until) = range(at(30, 10), None, None).unwrap();
        assert_eq!(until, at(31, 0));
        assert_eq!(until - since, TimeDelta::hours(24));
        // Extreme dates are refused, not a panic.
        assert!(range(at(0, 0), None, Some(DateTime::<Utc>::MIN_UTC)).is_err());
        let _ = range(at(0, 0), None, Some(DateTime::<Utc>::MAX_UTC));
        assert!(range(at(0, 0), Some(at(1, 0)), Some(at(1, 0))).is_err());
    }

    #[test]
    fn one_organization_cannot_fill_the_log() {
        let r = VerificationRecorder::default();
        let org = Some(Uuid::now_v7());
        let tags = Tags::default();
        for _ in 0..100 {
            let k = CountedKey {
                credential_id: Uuid::now_v7(),
                organization_id: org,
                project_id: None,
            };
            for _ in 0..5 {
                r.record(at(0, 0), k, Outcome::Revoked, None, &tags);
            }
        }
        // Another organization still gets in.
        r.record(at(0, 1), key(), Outcome::Valid, None, &tags);
        assert_eq!(logged(&r).len(), LOG_PER_ORG_MINUTE as usize + 1);
        assert_eq!(counted(&r), 501);
    }

    #[tokio::test]
    async fn a_batch_written_twice_does_not_block_later_flushes() {
        use sea_orm::TransactionTrait;
        let db = crate::db::connect_and_migrate("sqlite::memory:")
            .await
            .unwrap();
        let write_alone = async |batch: &VerificationBatch| {
            let txn = db.begin().await.unwrap();
            write(&txn, batch).await.unwrap();
            txn.commit().await.unwrap();
        };
        let r = VerificationRecorder::default();
        r.record(at(0, 0), key(), Outcome::Valid, None, &Tags::default());
        let batch = r.take(at(0, 1));
        assert_eq!(batch.len(), 2);
        // As when a commit happened but was reported failed and the batch was put back.
        write_alone(&batch).await;
        r.put_back(batch);
        let batch = r.take(at(0, 1));
        assert_eq!(batch.len(), 2);
        write_alone(&batch).await;
        assert_eq!(VerificationLog::find().all(&db).await.unwrap().len(), 1);
        assert!(r.take(at(0, 2)).is_empty());
    }

    #[test]
    fn tags_never_carry_a_credential() {
        let key = "kw_sk_live_abcdefghijklmnop";
        let is_token = |w: &str| w.starts_with("kw_");
        let ok = Tags::parse(tags(&[("endpoint", "/deployments")])).unwrap();
        assert!(ok.refuse_tokens(key, is_token).is_ok());
        for t in [
            tags(&[("auth", key)]),
            tags(&[("header", "Bearer kw_pat_other0123456789")]),
            tags(&[("kw_sk_live_zzzzzzzz", "v")]),
            tags(&[("q", "token=kw_sk_test_1234")]),
        ] {
            let parsed = Tags::parse(t).unwrap();
            assert!(parsed.refuse_tokens(key, is_token).is_err());
        }
    }

    fn tags(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn refused_field(t: BTreeMap<String, String>) -> String {
        match Tags::parse(t) {
            Err(AppError::InvalidInput { field, .. }) => field,
            other => panic!("expected an input error, got {other:?}"),
        }
    }

    #[test]
    fn tags_are_few_short_and_printable() {
        let ok = Tags::parse(tags(&[("endpoint", "/deployments"), ("region", "")])).unwrap();
        assert_eq!(
            ok.stored().as_deref(),
            Some(r#"{"endpoint":"/deployments","region":""}"#)
        );
        assert_eq!(Tags::from_stored(ok.stored().as_deref()).unwrap(), ok);
        assert_eq!(Tags::parse(BTreeMap::new()).unwrap().stored(), None);

        let eleven: Vec<(String, String)> =
            (0..11).map(|i| (format!("t{i}"), "v".to_owned())).collect();
        assert_eq!(refused_field(eleven.into_iter().collect()), "tags");
        assert_eq!(refused_field(tags(&[("", "v")])), "tags");
        let long_name = "n".repeat(MAX_TAG_NAME_LEN + 1);
        assert_eq!(
            refused_field(tags(&[(long_name.as_str(), "v")])),
            format!("tags.{}", "n".repeat(MAX_TAG_NAME_LEN))
        );
        let long_value = "v".repeat(MAX_TAG_VALUE_LEN + 1);
        assert_eq!(refused_field(tags(&[("e", long_value.as_str())])), "tags.e");
        assert_eq!(refused_field(tags(&[("e", "a\u{7}b")])), "tags.e");
        assert_eq!(
            refused_field(tags(&[("e", "safe\u{202E}txt.exe")])),
            "tags.e"
        );
        assert_eq!(refused_field(tags(&[("e", "a\u{200B}b")])), "tags.e");
        // Counted in bytes: ten tags of 40 four-byte characters are far too many.
        let wide: BTreeMap<String, String> = (0..3)
            .map(|i| (format!("t{i}"), "\u{1F600}".repeat(50)))
            .collect();
        assert_eq!(refused_field(wide), "tags");
    }

    #[test]
    fn stored_outcomes_and_tags_that_do_not_parse_are_errors() {
        assert!(Outcome::parse("VALID").is_ok());
        assert!(Outcome::parse("valid").is_err());
        assert!(Tags::from_stored(Some("[1,2]")).is_err());
        for o in Outcome::ALL {
            assert_eq!(Outcome::parse(o.code()).unwrap(), o);
        }
    }
}

//! Verifications counted and logged in memory, taken out and written by the flush.

use std::{collections::HashMap, sync::Mutex};

use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use dashmap::DashMap;
use entity::{prelude::*, verification_bucket, verification_log};
use sea_orm::{
    ActiveValue::Set,
    DatabaseTransaction, EntityTrait,
    sea_query::{Alias, Expr, ExprTrait, OnConflict},
};
use uuid::Uuid;

use super::{LOG_PER_KEY_MINUTE, LOG_PER_ORG_MINUTE, MAX_PENDING_LOG, Outcome, Tags};
use crate::domain::{hashing::IdHasher, ids, verify::HeldCredential};
use crate::error::AppResult;

pub(super) fn minute_of(at: DateTime<Utc>) -> DateTime<Utc> {
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
pub(in crate::domain) async fn write(
    txn: &DatabaseTransaction,
    batch: &VerificationBatch,
) -> AppResult<()> {
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
    for chunk in crate::domain::batch::chunks(&rows) {
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
    for chunk in crate::domain::batch::chunks(log) {
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
}

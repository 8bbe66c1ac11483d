//! Credential usage (SPEC §9): every authenticated request counts. Counts are buffered in
//! memory and written at least once a second and on shutdown, so the verify path never
//! waits on a write and a clean shutdown loses nothing.

use std::collections::HashMap;

use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use dashmap::DashMap;
use entity::{prelude::*, usage_bucket};
use sea_orm::{
    ActiveValue::Set,
    ColumnTrait, ConnectionTrait, DatabaseTransaction, DbBackend, EntityTrait, QueryFilter,
    QueryOrder, Statement,
    sea_query::{Alias, Expr, ExprTrait, OnConflict},
};
use uuid::Uuid;

use super::{Actor, Services, hashing::IdHasher, permissions::Perm};
use crate::error::{AppError, AppResult};

#[derive(Debug, Default)]
struct Pending {
    count: i64,
    last_used_at: Option<DateTime<Utc>>,
    last_used_ip: Option<String>,
    /// Requests by minute (rarely more than one or two between flushes).
    minutes: Vec<(DateTime<Utc>, i64)>,
}

impl Pending {
    /// Counts one request at `at`.
    fn add(&mut self, at: DateTime<Utc>) {
        self.count += 1;
        self.last_used_at = Ord::max(self.last_used_at, Some(at));
        self.add_to_minute(minute_of(at), 1);
    }

    fn add_to_minute(&mut self, minute: DateTime<Utc>, n: i64) {
        match self.minutes.iter_mut().rev().find(|(m, _)| *m == minute) {
            Some((_, count)) => *count += n,
            None => self.minutes.push((minute, n)),
        }
    }

    /// Adds counts taken out earlier (a failed flush) back in.
    fn merge(&mut self, earlier: Pending) {
        self.count += earlier.count;
        self.last_used_at = Ord::max(self.last_used_at, earlier.last_used_at);
        if self.last_used_ip.is_none() {
            self.last_used_ip = earlier.last_used_ip;
        }
        for (minute, n) in earlier.minutes {
            self.add_to_minute(minute, n);
        }
    }
}

/// Buffered usage, drained by [`UsageRecorder::flush`]. Sharded by credential, so
/// requests with different keys do not wait for one another.
#[derive(Debug, Default)]
pub struct UsageRecorder {
    pending: DashMap<Uuid, Pending, IdHasher>,
}

fn minute_of(at: DateTime<Utc>) -> DateTime<Utc> {
    at.duration_trunc(TimeDelta::minutes(1)).unwrap_or(at)
}

impl UsageRecorder {
    /// Counts one request by `credential_id` at `at`.
    pub fn record(&self, credential_id: Uuid, ip: Option<&str>, at: DateTime<Utc>) {
        let mut entry = self.pending.entry(credential_id).or_default();
        entry.add(at);
        if let Some(ip) = ip
            && entry.last_used_ip.as_deref() != Some(ip)
        {
            entry.last_used_ip = Some(ip.to_owned());
        }
    }

    /// Takes out everything counted so far, for [`write`]. Each entry is taken under its
    /// shard's lock: a request counted meanwhile lands either in this batch or in a
    /// fresh entry for the next.
    pub fn take(&self) -> UsageBatch {
        let mut drained = HashMap::with_capacity(self.pending.len());
        self.pending.retain(|id, pending| {
            drained.insert(*id, std::mem::take(pending));
            false
        });
        UsageBatch(drained)
    }

    /// Puts back a batch whose write failed, to be written by the next flush.
    pub fn put_back(&self, batch: UsageBatch) {
        for (id, p) in batch.0 {
            self.pending.entry(id).or_default().merge(p);
        }
    }
}

/// Usage taken out of a [`UsageRecorder`], to be written by [`write`].
#[derive(Debug, Default)]
pub struct UsageBatch(HashMap<Uuid, Pending>);

impl UsageBatch {
    /// Credentials counted in the batch.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Writes a batch inside `txn`: each credential's count and last use, and its requests
/// by minute.
pub(super) async fn write(txn: &DatabaseTransaction, batch: &UsageBatch) -> AppResult<()> {
    let drained = &batch.0;
    // In id order, so that replicas flushing at once take the rows' locks in one order.
    let mut totals: Vec<(&Uuid, &Pending)> = drained.iter().collect();
    totals.sort_unstable_by_key(|(id, _)| **id);
    for chunk in super::batch::chunks(&totals) {
        add_to_credentials(txn, chunk).await?;
    }
    let minutes: Vec<usage_bucket::ActiveModel> = drained
        .iter()
        .flat_map(|(id, p)| {
            p.minutes
                .iter()
                .map(|(minute, count)| usage_bucket::ActiveModel {
                    credential_id: Set(*id),
                    minute: Set(*minute),
                    count: Set(*count),
                })
        })
        .collect();
    for chunk in super::batch::chunks(&minutes) {
        UsageBucket::insert_many(chunk.iter().cloned())
            .on_conflict(
                OnConflict::columns([
                    usage_bucket::Column::CredentialId,
                    usage_bucket::Column::Minute,
                ])
                .value(
                    usage_bucket::Column::Count,
                    Expr::col((UsageBucket, usage_bucket::Column::Count)).add(Expr::col((
                        Alias::new("excluded"),
                        usage_bucket::Column::Count,
                    ))),
                )
                .to_owned(),
            )
            .exec_without_returning(txn)
            .await?;
    }
    Ok(())
}

/// Adds request counts and last use to many credentials in one statement:
/// `UPDATE … FROM (VALUES …)`, which SQLite (3.33+) and PostgreSQL both run.
async fn add_to_credentials(
    txn: &DatabaseTransaction,
    rows: &[(&Uuid, &Pending)],
) -> AppResult<()> {
    let backend = txn.get_database_backend();
    let mut values: Vec<sea_orm::Value> = Vec::with_capacity(rows.len() * 4);
    let mut tuples = Vec::with_capacity(rows.len());
    for (id, p) in rows {
        let base = values.len();
        let placeholders: Vec<String> = (1..=4)
            .map(|i| match backend {
                DbBackend::Postgres => format!("${}", base + i),
                _ => "?".to_owned(),
            })
            .collect();
        tuples.push(format!("({})", placeholders.join(", ")));
        values.push((**id).into());
        values.push(p.count.into());
        values.push(p.last_used_at.into());
        values.push(p.last_used_ip.clone().into());
    }
    let sql = format!(
        "UPDATE credentials SET \
           request_count = credentials.request_count + v.column2, \
           last_used_at = COALESCE(v.column3, credentials.last_used_at), \
           last_used_ip = COALESCE(v.column4, credentials.last_used_ip) \
         FROM (VALUES {}) AS v WHERE credentials.id = v.column1",
        tuples.join(", ")
    );
    txn.execute_raw(Statement::from_sql_and_values(backend, sql, values))
        .await?;
    Ok(())
}

/// Requests by minute for one credential.
#[derive(Debug, Clone)]
pub struct Usage {
    pub credential_id: Uuid,
    pub total: i64,
    pub buckets: Vec<(DateTime<Utc>, i64)>,
}

impl Services {
    /// Per-minute usage of a credential between `since` and `until` (default: the last 24 h).
    /// **Permissions**: `usage:read` in the credential's organization, or the PAT's own user.
    pub async fn usage(
        &self,
        actor: &Actor,
        credential_id: Uuid,
        since: Option<DateTime<Utc>>,
        until: Option<DateTime<Utc>>,
    ) -> AppResult<Usage> {
        let until = until.unwrap_or_else(|| self.clock.now());
        let since = match since {
            Some(since) => since,
            None => until
                .checked_sub_signed(TimeDelta::hours(24))
                .ok_or_else(|| AppError::invalid("until", "is out of range"))?,
        };
        if since >= until {
            return Err(AppError::invalid("since", "must be before until"));
        }
        if until - since > TimeDelta::days(90) {
            return Err(AppError::invalid(
                "since",
                "the range may span at most 90 days",
            ));
        }
        let (cred, _) = self
            .visible_credential(actor, credential_id, Perm::USAGE_READ, Perm::PATS_READ)
            .await?;
        let rows = UsageBucket::find()
            .filter(usage_bucket::Column::CredentialId.eq(cred.id))
            .filter(usage_bucket::Column::Minute.gte(minute_of(since)))
            .filter(usage_bucket::Column::Minute.lt(until))
            .order_by_asc(usage_bucket::Column::Minute)
            .all(&self.db)
            .await?;
        Ok(Usage {
            credential_id: cred.id,
            total: rows.iter().map(|r| r.count).sum(),
            buckets: rows.into_iter().map(|r| (r.minute, r.count)).collect(),
        })
    }
}

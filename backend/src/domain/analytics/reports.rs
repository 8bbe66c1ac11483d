//! What the dashboard and the API read back: a key's bars, the recent log, an
//! organization's busiest keys, the last day of each listed key.

use std::collections::HashMap;

use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use entity::{credential, prelude::*, verification_bucket, verification_log};
use sea_orm::{
    ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    sea_query::{Alias, Expr, ExprTrait, Order},
};
use uuid::Uuid;

use super::{
    ACTIVITY_HOURS, BUCKET_DAYS, MAX_BUCKETS, MAX_BUSIEST, MAX_RANGE_DAYS, Outcome, OutcomeCounts,
    PRUNE_BATCH, Tags,
    recorder::{CountedKey, minute_of},
};
use crate::domain::{
    Actor, Services,
    access::{Need, corrupt},
    paging::{self, Page},
    permissions::Perm,
    verify::CredentialRecord,
};
use crate::error::{AppError, AppResult};

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
    pub(in crate::domain) fn from_model(m: verification_log::Model) -> AppResult<Self> {
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
pub(super) fn range(
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
pub(super) fn bars(
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

    fn at(minute: u32, second: u32) -> DateTime<Utc> {
        chrono::TimeZone::with_ymd_and_hms(&Utc, 2026, 11, 29, 10, minute, second).unwrap()
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
}

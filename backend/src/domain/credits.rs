//! Credits (SPEC §3.5): a key's or an identity's pool of verifications, spent by `cost`
//! on every `VALID` answer, refilled daily or monthly at the UTC boundary.
//!
//! # Why leases
//!
//! Three designs were weighed, on the rule that never more `VALID` answers are given than
//! credits exist, on one node, across replicas on one PostgreSQL, and across a crash:
//!
//! - **A conditional update per verification** (`remaining = remaining - cost WHERE
//!   remaining >= cost`) is exact and loses nothing, but puts a database write, and on
//!   PostgreSQL a round trip and a row lock, on every hot verification: the hot path is
//!   otherwise answered from memory (17 µs of server CPU against about 150 µs for any
//!   statement), and every replica would queue on one row for a busy key.
//! - **Redis** (`DECRBY` in a script) is a round trip too, is optional in Keyward, and
//!   with `appendfsync everysec` can forget a second of spending after its own crash:
//!   it would grant those credits again.
//! - **Leased blocks** (chosen): a node takes a block of credits out of the pool in one
//!   short transaction (the row locked, the block subtracted) and spends it from memory.
//!   Credits are subtracted in the database before they are spent, so no crash and no
//!   number of replicas can grant one more than exist. A node gives back what it holds
//!   once the pool has been idle on it for [`IDLE_RETURN`], and on a clean shutdown.
//!
//! A block is a quarter of what the pool still has, at most [`LEASE_MAX`], at least the
//! cost asked: while a pool is large a busy key pays one transaction per 50 credits;
//! as it runs low blocks shrink to the cost itself, so the last credits are spent one
//! transaction each and no node strands them. What a crash loses is what the crashed
//! node held: at most [`LEASE_MAX`] credits per pool (and at most a quarter of what
//! remained), never more. The stranded-while-held case is the same bound: a node
//! holding a block while another finds the pool empty answers `USAGE_EXCEEDED` there
//! until the block is spent or given back, an under-grant, never an over-grant.
//!
//! Setting a pool outright (a `set`, a refill) bumps its epoch: blocks taken before are
//! void, dropped by every node when the change is announced (within the invalidation
//! delay, SPEC §12) and never given back. A node that does not hear announcements (its
//! listener lost) spends from the database only, where the epoch is checked under the
//! row lock, until it hears again. A block is also spent only within the refill
//! period it was taken in, by the server's clock: the first verification of a new period
//! goes to the database, which refills the pool exactly once (under the row lock, only
//! when the stored `refilled_at` is before the period's start).

use std::{sync::Arc, time::Duration};

use chrono::{DateTime, Datelike, NaiveDate, TimeZone, Utc};
use dashmap::DashMap;
use entity::{credit_pool, prelude::*};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection,
    EntityTrait, QueryFilter, TransactionTrait, sea_query::Expr,
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{access, clock::Clock, hashing::IdHasher};
use crate::error::{AppError, AppResult};

/// The most credits a node takes out of a pool at once: what a crash may lose per pool.
pub const LEASE_MAX: i64 = 50;

/// How long a pool stays idle on a node before the node gives back what it holds.
pub const IDLE_RETURN: Duration = Duration::from_secs(2);

/// The most a pool may hold, and the most one change may add or take.
pub const MAX_CREDITS: i64 = 1_000_000_000_000;

/// The most one verification may cost.
pub const MAX_COST: i64 = 1000;

/// How often a pool is refilled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Interval {
    Daily,
    Monthly,
}

impl Interval {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Daily => "daily",
            Self::Monthly => "monthly",
        }
    }

    fn parse(stored: &str) -> AppResult<Self> {
        match stored {
            "daily" => Ok(Self::Daily),
            "monthly" => Ok(Self::Monthly),
            other => Err(access::corrupt(
                "credit pool",
                format!("unknown refill interval {other:?}"),
            )),
        }
    }
}

/// When and to what a pool is refilled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refill {
    pub interval: Interval,
    /// What `remaining` is set to.
    pub amount: i64,
    /// For monthly refills, the day of the month (the month's last day when shorter).
    pub day_of_month: u8,
}

impl Refill {
    /// The start of the refill period `now` falls in (UTC midnight).
    pub fn period_start(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        let midnight = |date: NaiveDate| Utc.from_utc_datetime(&date.and_time(Default::default()));
        let today = now.date_naive();
        match self.interval {
            Interval::Daily => midnight(today),
            Interval::Monthly => {
                let this_month = refill_date(today.year(), today.month(), self.day_of_month);
                if this_month <= today {
                    midnight(this_month)
                } else {
                    let (y, m) = if today.month() == 1 {
                        (today.year() - 1, 12)
                    } else {
                        (today.year(), today.month() - 1)
                    };
                    midnight(refill_date(y, m, self.day_of_month))
                }
            }
        }
    }
}

/// `day` of a month, or the month's last day when it has fewer.
fn refill_date(year: i32, month: u32, day: u8) -> NaiveDate {
    (1..=u32::from(day))
        .rev()
        .find_map(|d| NaiveDate::from_ymd_opt(year, month, d))
        .unwrap_or(NaiveDate::MIN)
}

/// What a verification needs to know of a pool, held with the key's record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolRef {
    /// The key or identity the credits belong to.
    pub owner: Uuid,
    pub refill: Option<Refill>,
}

impl PoolRef {
    /// Reads a stored pool's settings.
    pub fn of(row: &credit_pool::Model) -> AppResult<Self> {
        Ok(Self {
            owner: row.owner_id,
            refill: refill_of(row)?,
        })
    }
}

fn refill_of(row: &credit_pool::Model) -> AppResult<Option<Refill>> {
    let Some(interval) = row.refill_interval.as_deref() else {
        return Ok(None);
    };
    let interval = Interval::parse(interval)?;
    let amount = row
        .refill_amount
        .filter(|a| (0..=MAX_CREDITS).contains(a))
        .ok_or_else(|| access::corrupt("credit pool", "a refill without a valid amount"))?;
    let day_of_month = match (interval, row.refill_day) {
        (Interval::Daily, _) => 1,
        (Interval::Monthly, None) => 1,
        (Interval::Monthly, Some(d)) => u8::try_from(d)
            .ok()
            .filter(|d| (1..=31).contains(d))
            .ok_or_else(|| access::corrupt("credit pool", "a refill day outside 1-31"))?,
    };
    Ok(Some(Refill {
        interval,
        amount,
        day_of_month,
    }))
}

/// The settings of a new pool or of a pool's new refill, as a user gives them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreditsInput {
    pub remaining: i64,
    pub refill: Option<Refill>,
}

impl CreditsInput {
    /// Checks what a user gave, naming `field` in the error.
    pub fn check(&self, field: &str) -> AppResult<()> {
        if !(0..=MAX_CREDITS).contains(&self.remaining) {
            return Err(AppError::invalid(
                format!("{field}.remaining"),
                format!("must be between 0 and {MAX_CREDITS}"),
            ));
        }
        if let Some(refill) = &self.refill {
            if !(0..=MAX_CREDITS).contains(&refill.amount) {
                return Err(AppError::invalid(
                    format!("{field}.refill.amount"),
                    format!("must be between 0 and {MAX_CREDITS}"),
                ));
            }
            if !(1..=31).contains(&refill.day_of_month) {
                return Err(AppError::invalid(
                    format!("{field}.refill.dayOfMonth"),
                    "must be between 1 and 31",
                ));
            }
        }
        Ok(())
    }

    /// The row of a new pool for `owner`, refilled as of the period `now` is in.
    pub fn row(
        &self,
        owner: Uuid,
        organization: Uuid,
        now: DateTime<Utc>,
    ) -> credit_pool::ActiveModel {
        credit_pool::ActiveModel {
            owner_id: Set(owner),
            organization_id: Set(organization),
            remaining: Set(self.remaining),
            refill_interval: Set(self.refill.map(|r| r.interval.as_str().to_owned())),
            refill_amount: Set(self.refill.map(|r| r.amount)),
            refill_day: Set(self
                .refill
                .filter(|r| r.interval == Interval::Monthly)
                .map(|r| i32::from(r.day_of_month))),
            refilled_at: Set(self.refill.map(|r| r.period_start(now))),
            // Never an epoch an earlier pool of the same owner had: blocks of a removed
            // pool stay void in a new one.
            epoch: Set(now.timestamp_micros()),
            updated_at: Set(now),
        }
    }
}

/// A change of a pool's credits by a user.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CreditOp {
    /// `remaining` becomes the value; blocks nodes hold are void.
    Set,
    Increment,
    /// Down to zero at most.
    Decrement,
}

/// The outcome of spending.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Spent {
    /// Spent; about this many are left in the pool (this node's block included). `epoch`:
    /// the block's, for a refund.
    Spent { remaining: i64, epoch: i64 },
    /// Fewer than the cost were left: nothing spent.
    Exceeded { remaining: i64 },
    /// The pool is gone (its credits were removed): unlimited.
    Unlimited,
}

/// This node's block of one pool.
#[derive(Debug, Default)]
struct Lease {
    /// Credits taken out of the pool and not yet spent.
    left: i64,
    /// The pool's epoch when taken: a block of another epoch is void.
    epoch: i64,
    /// The refill period it was taken in.
    period: Option<DateTime<Utc>>,
    /// What the pool held in the database after the last visit.
    in_pool: i64,
    /// Whether `epoch`, `period` and `in_pool` were read from the database.
    known: bool,
    /// The [`CreditLeases::generation`] it was last checked in.
    generation: u64,
    /// When last used, by the clock's monotonic reading.
    touched: Duration,
}

/// This node's blocks of credits, by pool.
///
/// A block is spent from memory only while the node hears every change other nodes
/// announce (or shares its database with no one): a `set` it did not hear would leave
/// it spending void credits. While it does not hear, every spend goes to the database,
/// where the block's epoch is checked under the row lock; when it hears again, each
/// block is checked there once before it is spent from memory again.
pub struct CreditLeases {
    leases: DashMap<Uuid, Arc<tokio::sync::Mutex<Lease>>, IdHasher>,
    clock: Clock,
    /// Whether announced changes reach this node.
    hearing: std::sync::atomic::AtomicBool,
    /// Bumped whenever hearing stops or starts: a block last checked under an older
    /// generation is checked again before it is spent from memory.
    generation: std::sync::atomic::AtomicU64,
}

impl CreditLeases {
    pub fn new(clock: Clock) -> Self {
        Self {
            leases: DashMap::default(),
            clock,
            hearing: std::sync::atomic::AtomicBool::new(true),
            generation: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// Announced changes no longer reach this node (its listener is lost, or not yet
    /// up): blocks are spent only after a check in the database.
    pub fn stop_hearing(&self) {
        use std::sync::atomic::Ordering;
        self.hearing.store(false, Ordering::SeqCst);
        self.generation.fetch_add(1, Ordering::SeqCst);
    }

    /// Announced changes reach this node again: each block is checked once more (a
    /// change may have been missed before), then spent from memory.
    pub fn start_hearing(&self) {
        use std::sync::atomic::Ordering;
        self.generation.fetch_add(1, Ordering::SeqCst);
        self.hearing.store(true, Ordering::SeqCst);
    }

    /// How many times hearing stopped or started (for tests that wait for a reconnection).
    pub fn generation(&self) -> u64 {
        self.generation.load(std::sync::atomic::Ordering::SeqCst)
    }

    fn lease(&self, owner: Uuid) -> Arc<tokio::sync::Mutex<Lease>> {
        if let Some(held) = self.leases.get(&owner) {
            return held.clone();
        }
        self.leases.entry(owner).or_default().clone()
    }

    /// Spends `cost` credits of `pool`: from this node's block when it holds enough,
    /// else from the database in one transaction (refilling the pool first when its
    /// period turned).
    pub async fn spend(
        &self,
        db: &DatabaseConnection,
        pool: &PoolRef,
        cost: i64,
    ) -> AppResult<Spent> {
        let now = self.clock.now();
        let period = pool.refill.map(|r| r.period_start(now));
        let lease = self.lease(pool.owner);
        let mut lease = lease.lock().await;
        lease.touched = self.clock.elapsed();
        let generation = self.generation();
        let hearing = self.hearing.load(std::sync::atomic::Ordering::SeqCst);
        if hearing
            && lease.known
            && lease.generation == generation
            && lease.period == period
            && lease.left >= cost
        {
            lease.left -= cost;
            return Ok(Spent::Spent {
                remaining: lease.left + lease.in_pool,
                epoch: lease.epoch,
            });
        }
        let txn = db.begin().await?;
        let Some(row) = locked_pool(&txn, pool.owner).await? else {
            txn.commit().await?;
            *lease = Lease::default();
            return Ok(Spent::Unlimited);
        };
        let stored = row.clone();
        let mut row = refilled(row, now)?;
        if !(lease.known && lease.epoch == row.epoch) {
            // Taken before a set or a refill: void.
            lease.left = 0;
        }
        let need = cost - lease.left;
        let outcome = if need <= 0 {
            lease.left -= cost;
            Spent::Spent {
                remaining: lease.left + row.remaining,
                epoch: row.epoch,
            }
        } else if row.remaining < need {
            Spent::Exceeded {
                remaining: lease.left + row.remaining,
            }
        } else {
            // Not hearing, nothing more is taken than this answer spends.
            let block = if hearing {
                (row.remaining / 4).min(LEASE_MAX)
            } else {
                0
            };
            let take = need.max(block).min(row.remaining);
            row.remaining -= take;
            lease.left += take - cost;
            Spent::Spent {
                remaining: lease.left + row.remaining,
                epoch: row.epoch,
            }
        };
        let (remaining, epoch) = (row.remaining, row.epoch);
        if let Spent::Spent { remaining: 0, .. } | Spent::Exceeded { remaining: 0 } = outcome {
            announce_exhausted(&txn, &row, now).await?;
        }
        if (row.remaining, row.epoch, row.refilled_at)
            != (stored.remaining, stored.epoch, stored.refilled_at)
        {
            save(&txn, row, now).await?;
        }
        txn.commit().await?;
        lease.epoch = epoch;
        lease.period = period;
        lease.in_pool = remaining;
        lease.known = true;
        lease.generation = generation;
        Ok(outcome)
    }

    /// Puts back credits spent from a block of `epoch` on an answer that was refused
    /// after all (a rate limit), while this node still holds a block of that epoch.
    pub async fn refund(&self, owner: Uuid, cost: i64, epoch: i64) {
        if let Some(lease) = self.leases.get(&owner).map(|l| l.clone()) {
            let mut lease = lease.lock().await;
            if lease.known && lease.epoch == epoch {
                lease.left += cost;
            }
        }
    }

    /// What `pool` holds, this node's block included, without spending (a lookup).
    pub async fn peek(&self, db: &DatabaseConnection, pool: &PoolRef) -> AppResult<Option<i64>> {
        let Some(row) = CreditPool::find_by_id(pool.owner).one(db).await? else {
            return Ok(None);
        };
        let row = refilled(row, self.clock.now())?;
        let held = match self.leases.get(&pool.owner).map(|l| l.clone()) {
            Some(lease) => {
                let lease = lease.lock().await;
                if lease.known && lease.epoch == row.epoch {
                    lease.left
                } else {
                    0
                }
            }
            None => 0,
        };
        Ok(Some(row.remaining + held))
    }

    /// Drops this node's block of `owner`'s pool without giving it back: the pool was set
    /// outright, or removed.
    pub fn forget(&self, owner: Uuid) {
        self.leases.remove(&owner);
    }

    /// Gives back the blocks of pools idle on this node for `idle` or longer (all of them
    /// with zero, at shutdown), and forgets those pools. A block of an older epoch is
    /// void and dropped.
    pub async fn give_back_idle(&self, db: &DatabaseConnection, idle: Duration) -> AppResult<()> {
        let now = self.clock.elapsed();
        let candidates: Vec<(Uuid, Arc<tokio::sync::Mutex<Lease>>)> = self
            .leases
            .iter()
            .map(|e| (*e.key(), e.value().clone()))
            .collect();
        for (owner, lease) in candidates {
            // One in use is not idle.
            let Ok(mut held) = lease.try_lock() else {
                continue;
            };
            if now.saturating_sub(held.touched) < idle {
                continue;
            }
            if held.known && held.left > 0 {
                CreditPool::update_many()
                    .col_expr(
                        credit_pool::Column::Remaining,
                        sea_orm::sea_query::ExprTrait::add(
                            Expr::col(credit_pool::Column::Remaining),
                            held.left,
                        ),
                    )
                    .filter(credit_pool::Column::OwnerId.eq(owner))
                    .filter(credit_pool::Column::Epoch.eq(held.epoch))
                    .exec(db)
                    .await?;
            }
            *held = Lease::default();
            drop(held);
            // Only if nobody took it up meanwhile.
            self.leases.remove_if(&owner, |_, l| {
                Arc::ptr_eq(l, &lease) && Arc::strong_count(l) <= 2
            });
        }
        Ok(())
    }

    /// What this node holds of `owner`'s pool at `epoch`, if it can tell at once (a
    /// listing adds it to what the database holds).
    pub fn held_of(&self, owner: Uuid, epoch: i64) -> i64 {
        self.leases
            .get(&owner)
            .and_then(|l| {
                l.try_lock()
                    .ok()
                    .filter(|l| l.known && l.epoch == epoch)
                    .map(|l| l.left)
            })
            .unwrap_or(0)
    }

    /// Pools this node holds a block of.
    pub fn held(&self) -> usize {
        self.leases.len()
    }
}

/// Tells the organization's webhooks (`credits.exhausted`) that a pool is spent, once
/// for each epoch and refill period, inside the spending transaction.
async fn announce_exhausted<C: ConnectionTrait>(
    txn: &C,
    pool: &credit_pool::Model,
    now: DateTime<Utc>,
) -> AppResult<()> {
    use entity::{credential, notice, prelude::*};
    use sea_orm::{EntityTrait, sea_query::OnConflict};
    let key = format!(
        "credits.exhausted:{}:{}:{}",
        pool.owner_id,
        pool.epoch,
        pool.refilled_at.map_or(0, |t| t.timestamp())
    );
    let first = Notice::insert(notice::ActiveModel {
        key: Set(key),
        created_at: Set(now),
    })
    .on_conflict(
        OnConflict::column(notice::Column::Key)
            .do_nothing()
            .to_owned(),
    )
    .exec_without_returning(txn)
    .await?;
    if first == 0 {
        return Ok(());
    }
    let owner_type = match Credential::find_by_id(pool.owner_id).one(txn).await? {
        Some(c) if c.kind == credential::Kind::ApiKey => "api_key",
        Some(_) => "credential",
        None => "identity",
    };
    super::webhooks::enqueue(
        txn,
        pool.organization_id,
        keyward_proto::webhooks::EventType::CreditsExhausted,
        serde_json::json!({
            "owner_type": owner_type,
            "owner_id": pool.owner_id,
            "organization_id": pool.organization_id,
            "remaining": 0,
        }),
        now,
    )
    .await
}

/// The pool's row, locked for the rest of `txn` (a write that changes nothing takes the
/// row lock on PostgreSQL and the writer lock on SQLite).
pub async fn locked_pool<C: ConnectionTrait>(
    txn: &C,
    owner: Uuid,
) -> AppResult<Option<credit_pool::Model>> {
    let locked = CreditPool::update_many()
        .col_expr(
            credit_pool::Column::Epoch,
            Expr::col(credit_pool::Column::Epoch),
        )
        .filter(credit_pool::Column::OwnerId.eq(owner))
        .exec(txn)
        .await?;
    if locked.rows_affected == 0 {
        return Ok(None);
    }
    Ok(CreditPool::find_by_id(owner).one(txn).await?)
}

/// Writes a pool's counters (`remaining`, `refilled_at`, `epoch`) as `row` has them.
pub async fn save<C: ConnectionTrait>(
    txn: &C,
    row: credit_pool::Model,
    now: DateTime<Utc>,
) -> AppResult<credit_pool::Model> {
    let mut active: credit_pool::ActiveModel = row.into();
    for col in [
        credit_pool::Column::Remaining,
        credit_pool::Column::RefilledAt,
        credit_pool::Column::Epoch,
    ] {
        active.reset(col);
    }
    active.updated_at = Set(now);
    Ok(active.update(txn).await?)
}

/// The pool as it stands at `now`: refilled (once) when its period turned since its
/// last refill. The caller writes the change.
pub fn refilled(mut row: credit_pool::Model, now: DateTime<Utc>) -> AppResult<credit_pool::Model> {
    if let Some(refill) = refill_of(&row)? {
        let start = refill.period_start(now);
        if row.refilled_at.is_none_or(|at| at < start) {
            row.remaining = refill.amount;
            row.refilled_at = Some(start);
            row.epoch += 1;
        }
    }
    Ok(row)
}

/// Applies a user's change to a locked pool; the new row (unsaved) and whether blocks
/// nodes hold became void.
pub fn changed(
    mut row: credit_pool::Model,
    op: CreditOp,
    value: i64,
    field: &str,
) -> AppResult<(credit_pool::Model, bool)> {
    if !(0..=MAX_CREDITS).contains(&value) {
        return Err(AppError::invalid(
            field,
            format!("must be between 0 and {MAX_CREDITS}"),
        ));
    }
    let voided = match op {
        CreditOp::Set => {
            row.remaining = value;
            row.epoch += 1;
            true
        }
        CreditOp::Increment => {
            row.remaining = row.remaining.saturating_add(value).min(MAX_CREDITS);
            false
        }
        CreditOp::Decrement => {
            row.remaining = (row.remaining - value).max(0);
            false
        }
    };
    Ok((row, voided))
}

/// A pool's state for an answer: what is left (as the database has it) and its refill.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreditsView {
    pub remaining: i64,
    pub refill: Option<Refill>,
    pub refilled_at: Option<DateTime<Utc>>,
}

impl super::Services {
    /// A pool as it stands now: refilled when its period turned, with what this node
    /// holds of it (other nodes may hold a few more, see the module's docs).
    pub fn credits_view(&self, row: &credit_pool::Model) -> AppResult<CreditsView> {
        let row = refilled(row.clone(), self.clock.now())?;
        Ok(CreditsView {
            remaining: row.remaining + self.credits.held_of(row.owner_id, row.epoch),
            refill: refill_of(&row)?,
            refilled_at: row.refilled_at,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn periods_start_at_utc_midnight_on_the_refill_day() {
        let daily = Refill {
            interval: Interval::Daily,
            amount: 10,
            day_of_month: 1,
        };
        assert_eq!(
            daily.period_start(at("2026-12-03T23:59:59Z")),
            at("2026-12-03T00:00:00Z")
        );
        let monthly = |day| Refill {
            interval: Interval::Monthly,
            amount: 10,
            day_of_month: day,
        };
        assert_eq!(
            monthly(1).period_start(at("2026-12-03T10:00:00Z")),
            at("2026-12-01T00:00:00Z")
        );
        assert_eq!(
            monthly(15).period_start(at("2026-12-03T10:00:00Z")),
            at("2026-11-15T00:00:00Z")
        );
        assert_eq!(
            monthly(15).period_start(at("2026-01-03T10:00:00Z")),
            at("2025-12-15T00:00:00Z"),
            "across the year"
        );
        // The 31st in a 30-day month, and in February.
        assert_eq!(
            monthly(31).period_start(at("2026-11-30T00:00:00Z")),
            at("2026-11-30T00:00:00Z")
        );
        assert_eq!(
            monthly(31).period_start(at("2026-03-01T00:00:00Z")),
            at("2026-02-28T00:00:00Z")
        );
    }

    #[test]
    fn a_pool_is_refilled_once_a_period() {
        let row = credit_pool::Model {
            owner_id: Uuid::nil(),
            organization_id: Uuid::nil(),
            remaining: 3,
            refill_interval: Some("daily".into()),
            refill_amount: Some(100),
            refill_day: None,
            refilled_at: Some(at("2026-12-03T00:00:00Z")),
            epoch: 0,
            updated_at: at("2026-12-03T00:00:00Z"),
        };
        let same_day = refilled(row.clone(), at("2026-12-03T23:00:00Z")).unwrap();
        assert_eq!((same_day.remaining, same_day.epoch), (3, 0));
        let next = refilled(row, at("2026-12-04T00:00:00Z")).unwrap();
        assert_eq!((next.remaining, next.epoch), (100, 1));
        let again = refilled(next.clone(), at("2026-12-04T12:00:00Z")).unwrap();
        assert_eq!(again, next, "once");
    }

    #[test]
    fn stored_nonsense_is_an_error() {
        let row = credit_pool::Model {
            owner_id: Uuid::nil(),
            organization_id: Uuid::nil(),
            remaining: 3,
            refill_interval: Some("weekly".into()),
            refill_amount: Some(100),
            refill_day: None,
            refilled_at: None,
            epoch: 0,
            updated_at: at("2026-12-03T00:00:00Z"),
        };
        assert!(refilled(row, at("2026-12-03T00:00:00Z")).is_err());
    }
}

//! The bodies of a key's or an identity's controls over REST (SPEC §3.5): credits and
//! their refill, named limits and metadata, in and out.

use chrono::{DateTime, Utc};
use entity::{credit_pool, named_limit};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;

use crate::{
    domain::{
        Services,
        controls::LimitInput,
        credits::{self, CreditOp, Interval, Refill},
    },
    error::AppResult,
};

/// An absent member is `None`; `null` is `Some(None)`.
pub(super) fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

/// How often credits are refilled (at 00:00 UTC).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum IntervalBody {
    Daily,
    Monthly,
}

impl From<IntervalBody> for Interval {
    fn from(i: IntervalBody) -> Self {
        match i {
            IntervalBody::Daily => Self::Daily,
            IntervalBody::Monthly => Self::Monthly,
        }
    }
}

impl From<Interval> for IntervalBody {
    fn from(i: Interval) -> Self {
        match i {
            Interval::Daily => Self::Daily,
            Interval::Monthly => Self::Monthly,
        }
    }
}

/// How credits change.
#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum CreditOpName {
    /// Credits become the value; blocks nodes hold become void.
    Set,
    Increment,
    /// Down to 0 at most.
    Decrement,
}

impl From<CreditOpName> for CreditOp {
    fn from(o: CreditOpName) -> Self {
        match o {
            CreditOpName::Set => Self::Set,
            CreditOpName::Increment => Self::Increment,
            CreditOpName::Decrement => Self::Decrement,
        }
    }
}

/// A refill of credits.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefillBody {
    pub interval: IntervalBody,
    /// What the credits are set to at each refill.
    #[schema(minimum = 0, maximum = 1_000_000_000_000_i64)]
    pub amount: i64,
    /// For monthly refills: 1–31 (the month's last day when shorter). Default 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 1, maximum = 31)]
    pub day_of_month: Option<u8>,
}

/// Credits verifications spend.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreditsBody {
    #[schema(minimum = 0, maximum = 1_000_000_000_000_i64)]
    pub remaining: i64,
    #[serde(default)]
    pub refill: Option<RefillBody>,
}

impl CreditsBody {
    pub(super) fn into_domain(self) -> credits::CreditsInput {
        credits::CreditsInput {
            remaining: self.remaining,
            refill: self.refill.map(|r| Refill {
                interval: r.interval.into(),
                amount: r.amount,
                // Out of range stays out of range: refused by the check, with its field.
                day_of_month: r.day_of_month.unwrap_or(1),
            }),
        }
    }
}

/// A named rate limit.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LimitBody {
    #[schema(min_length = 1, max_length = 64)]
    pub name: String,
    #[schema(minimum = 1, maximum = 1_000_000)]
    pub limit: u32,
    #[schema(minimum = 1000, maximum = 86_400_000)]
    pub duration_ms: u64,
    /// Counted on every verification; otherwise only when a verify request names it.
    #[serde(default)]
    pub auto_apply: bool,
}

pub(super) fn limits(given: Option<Vec<LimitBody>>) -> Vec<LimitInput> {
    given
        .unwrap_or_default()
        .into_iter()
        .map(|l| LimitInput {
            name: l.name,
            limit: l.limit,
            duration_ms: l.duration_ms,
            auto_apply: l.auto_apply,
        })
        .collect()
}

/// `POST …/credits`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreditsOpBody {
    pub op: CreditOpName,
    #[schema(minimum = 0, maximum = 1_000_000_000_000_i64)]
    pub value: i64,
}

/// Credits as answers show them.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreditsOut {
    /// Left in the pool (nodes may hold a few).
    pub remaining: i64,
    pub refill: Option<RefillBody>,
    /// The start of the period last refilled.
    pub refilled_at: Option<DateTime<Utc>>,
}

impl CreditsOut {
    pub(super) fn of(pool: &credit_pool::Model, services: &Services) -> AppResult<Self> {
        let view = services.credits_view(pool)?;
        Ok(Self {
            remaining: view.remaining,
            refill: view.refill.map(|r| RefillBody {
                interval: r.interval.into(),
                amount: r.amount,
                day_of_month: (r.interval == Interval::Monthly).then_some(r.day_of_month),
            }),
            refilled_at: view.refilled_at,
        })
    }
}

pub(super) fn limits_out(limits: &[named_limit::Model]) -> Vec<LimitBody> {
    limits
        .iter()
        .map(|l| LimitBody {
            name: l.name.clone(),
            limit: u32::try_from(l.limit_count).unwrap_or(0),
            duration_ms: u64::try_from(l.duration_ms).unwrap_or(0),
            auto_apply: l.auto_apply,
        })
        .collect()
}

pub(super) fn meta_value(m: Map<String, Value>) -> Value {
    Value::Object(m)
}

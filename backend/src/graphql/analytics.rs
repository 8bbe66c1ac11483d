//! GraphQL types of verification analytics (SPEC §9).

use super::types::CredentialKind;
use async_graphql::{Enum, ID, SimpleObject};
use chrono::{DateTime, Utc};

use crate::domain::analytics::{
    KeyActivity, OrganizationActivity as DomainActivity, Outcome, OutcomeCounts, VerificationEntry,
    VerificationStats,
};

/// What one verification of an existing key decided.
#[derive(Enum, Copy, Clone, Eq, PartialEq)]
pub enum VerificationOutcome {
    Valid,
    RateLimited,
    InsufficientPermissions,
    Expired,
    Revoked,
    Disabled,
    Suspended,
    OwnerRemoved,
    UsageExceeded,
}

impl From<Outcome> for VerificationOutcome {
    fn from(o: Outcome) -> Self {
        match o {
            Outcome::Valid => Self::Valid,
            Outcome::RateLimited => Self::RateLimited,
            Outcome::InsufficientPermissions => Self::InsufficientPermissions,
            Outcome::Expired => Self::Expired,
            Outcome::Revoked => Self::Revoked,
            Outcome::Disabled => Self::Disabled,
            Outcome::Suspended => Self::Suspended,
            Outcome::OwnerRemoved => Self::OwnerRemoved,
            Outcome::UsageExceeded => Self::UsageExceeded,
        }
    }
}

impl From<VerificationOutcome> for Outcome {
    fn from(o: VerificationOutcome) -> Self {
        match o {
            VerificationOutcome::Valid => Self::Valid,
            VerificationOutcome::RateLimited => Self::RateLimited,
            VerificationOutcome::InsufficientPermissions => Self::InsufficientPermissions,
            VerificationOutcome::Expired => Self::Expired,
            VerificationOutcome::Revoked => Self::Revoked,
            VerificationOutcome::Disabled => Self::Disabled,
            VerificationOutcome::Suspended => Self::Suspended,
            VerificationOutcome::OwnerRemoved => Self::OwnerRemoved,
            VerificationOutcome::UsageExceeded => Self::UsageExceeded,
        }
    }
}

/// How many verifications had one outcome.
#[derive(SimpleObject)]
pub struct OutcomeCount {
    pub outcome: VerificationOutcome,
    pub count: i64,
}

fn outcome_counts(counts: &OutcomeCounts) -> Vec<OutcomeCount> {
    counts
        .nonzero()
        .map(|(outcome, count)| OutcomeCount {
            outcome: outcome.into(),
            count,
        })
        .collect()
}

/// One bar of a verification chart: the outcomes counted from `start` for the bar's width.
#[derive(SimpleObject)]
pub struct VerificationBucket {
    pub start: DateTime<Utc>,
    pub total: i64,
    /// Outcomes counted at least once, in stacking order.
    pub outcomes: Vec<OutcomeCount>,
}

/// A key's verifications by outcome over a range.
#[derive(SimpleObject)]
pub struct Verifications {
    pub credential_id: ID,
    pub since: DateTime<Utc>,
    pub until: DateTime<Utc>,
    /// The width of each bar, in minutes.
    pub bucket_minutes: u32,
    pub total: i64,
    /// Verifications that did not answer `VALID`.
    pub failed: i64,
    pub outcomes: Vec<OutcomeCount>,
    /// Every bar from `since`, empty ones included.
    pub buckets: Vec<VerificationBucket>,
}

impl From<VerificationStats> for Verifications {
    fn from(s: VerificationStats) -> Self {
        Self {
            credential_id: ID(s.credential_id.to_string()),
            since: s.since,
            until: s.until,
            bucket_minutes: s.bucket_minutes,
            total: s.totals.total(),
            failed: s.totals.failed(),
            outcomes: outcome_counts(&s.totals),
            buckets: s
                .buckets
                .iter()
                .map(|(start, counts)| VerificationBucket {
                    start: *start,
                    total: counts.total(),
                    outcomes: outcome_counts(counts),
                })
                .collect(),
        }
    }
}

/// One tag a verifying service attached.
#[derive(SimpleObject)]
pub struct VerificationTag {
    pub name: String,
    pub value: String,
}

/// One logged verification of a key.
#[derive(SimpleObject)]
pub struct Verification {
    pub id: ID,
    pub at: DateTime<Utc>,
    pub outcome: VerificationOutcome,
    /// The address the verify call came from (the verifying service, or behind a
    /// proxy listed in `KEYWARD_TRUSTED_PROXIES`, the client it names).
    pub ip: Option<String>,
    pub tags: Vec<VerificationTag>,
}

impl From<VerificationEntry> for Verification {
    fn from(e: VerificationEntry) -> Self {
        Self {
            id: ID(e.id.to_string()),
            at: e.at,
            outcome: e.outcome.into(),
            ip: e.ip,
            tags: e
                .tags
                .pairs()
                .map(|(name, value)| VerificationTag {
                    name: name.to_owned(),
                    value: value.to_owned(),
                })
                .collect(),
        }
    }
}

/// One of an organization's busiest keys.
#[derive(SimpleObject)]
pub struct KeyVerifications {
    pub credential_id: ID,
    pub name: String,
    /// The key's public prefix.
    pub prefix: String,
    pub kind: CredentialKind,
    pub total: i64,
    pub failed: i64,
    /// `failed / total`, between 0 and 1.
    pub failure_rate: f64,
    pub outcomes: Vec<OutcomeCount>,
}

impl From<KeyActivity> for KeyVerifications {
    fn from(k: KeyActivity) -> Self {
        let (total, failed) = (k.counts.total(), k.counts.failed());
        Self {
            credential_id: ID(k.credential.id.to_string()),
            name: k.credential.name,
            prefix: k.credential.display_prefix,
            kind: k.credential.kind.into(),
            total,
            failed,
            failure_rate: if total == 0 {
                0.0
            } else {
                failed as f64 / total as f64
            },
            outcomes: outcome_counts(&k.counts),
        }
    }
}

/// An organization's verifications over a range and its busiest keys.
#[derive(SimpleObject)]
pub struct OrganizationVerifications {
    pub since: DateTime<Utc>,
    pub until: DateTime<Utc>,
    pub total: i64,
    pub failed: i64,
    pub outcomes: Vec<OutcomeCount>,
    /// Keys with the most verifications, most first.
    pub busiest_keys: Vec<KeyVerifications>,
}

impl From<DomainActivity> for OrganizationVerifications {
    fn from(a: DomainActivity) -> Self {
        Self {
            since: a.since,
            until: a.until,
            total: a.totals.total(),
            failed: a.totals.failed(),
            outcomes: outcome_counts(&a.totals),
            busiest_keys: a.busiest.into_iter().map(Into::into).collect(),
        }
    }
}

/// One key's verifications in each of the last 24 hours, for a sparkline.
#[derive(SimpleObject)]
pub struct KeyHourlyActivity {
    pub key_id: ID,
    /// Verifications of every outcome in each hour, oldest first; the last is the
    /// current hour so far.
    pub hours: Vec<i64>,
}

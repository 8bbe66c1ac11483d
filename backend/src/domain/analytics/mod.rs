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

mod recorder;
mod reports;
mod tags;

pub(in crate::domain) use recorder::write;
pub use recorder::{CountedKey, VerificationBatch, VerificationRecorder};
pub use reports::{Bar, KeyActivity, OrganizationActivity, VerificationEntry, VerificationStats};
pub use tags::Tags;

use super::access::corrupt;
use crate::error::{AppResult, AuthFailure};

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

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::error::AppError;

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

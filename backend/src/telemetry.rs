//! The names of Keyward's metrics and the counters the request path increments, low in
//! the tree so that the domain reports through the `metrics` facade without reaching the
//! exporter (`crate::metrics`, an edge). The server installs the exporter's recorder
//! before it serves (`crate::metrics::handle`), so no series is registered before it.

/// Requests, by route, method and status.
pub const HTTP_REQUESTS: &str = "keyward_http_requests_total";
/// Request latency, by route and method.
pub const HTTP_DURATION: &str = "keyward_http_request_duration_seconds";
/// Answers of the verify endpoints, by code.
pub const VERIFICATIONS: &str = "keyward_verifications_total";
/// Rate-limit decisions on credentials, by decision.
pub const RATE_LIMIT_DECISIONS: &str = "keyward_rate_limit_decisions_total";
/// Invalidations heard from the database (other nodes' and this node's own).
pub const INVALIDATIONS: &str = "keyward_invalidations_received_total";
/// From a change's announcement to this node dropping the entry.
pub const INVALIDATION_DELAY: &str = "keyward_invalidation_delay_seconds";

/// One counter family with one label, for the request path: each series is registered
/// with the recorder once, then only incremented, never looked up by name again.
pub struct LabelledCounter {
    name: &'static str,
    label: &'static str,
    series: std::sync::RwLock<Vec<(&'static str, metrics::Counter)>>,
}

impl LabelledCounter {
    pub const fn new(name: &'static str, label: &'static str) -> Self {
        Self {
            name,
            label,
            series: std::sync::RwLock::new(Vec::new()),
        }
    }

    /// Adds one to the series labelled `value`.
    pub fn increment(&self, value: &'static str) {
        let known = self.series.read().unwrap_or_else(|e| e.into_inner());
        if let Some((_, counter)) = known.iter().find(|(v, _)| *v == value) {
            counter.increment(1);
            return;
        }
        drop(known);
        let counter = metrics::counter!(self.name, self.label => value);
        counter.increment(1);
        let mut known = self.series.write().unwrap_or_else(|e| e.into_inner());
        if !known.iter().any(|(v, _)| *v == value) {
            known.push((value, counter));
        }
    }
}

/// Answers of the verify endpoints, by code.
pub static VERIFICATIONS_BY_CODE: LabelledCounter = LabelledCounter::new(VERIFICATIONS, "code");
/// Rate-limit decisions on credentials.
pub static RATE_LIMIT_BY_DECISION: LabelledCounter =
    LabelledCounter::new(RATE_LIMIT_DECISIONS, "decision");

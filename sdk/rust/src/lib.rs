//! Verify Keyward API keys from a product's own server (SPEC §16).
//!
//! [`Keyward`] asks the server's `POST /api/v1/keys/verify` and keeps recent valid
//! answers in a bounded local cache, so a hot key is answered without a network call.
//! The cache is used only while [`Keyward::follow`] holds the server's key event stream
//! open: a revoke, disable or edit reaches the cache as soon as the event arrives, and
//! while the stream is down nothing is served from memory. Only the keys of one
//! organization (and project, if given) are accepted. Keys with credits or named limits
//! are never answered from memory: those are always decided by the server. (The plain
//! per-minute limit of a key is counted by the server on the calls that reach it; an
//! answer is kept at most until the key expires.)
//!
//! ```no_run
//! use axum::{Router, routing::get};
//! use keyward_verify::{Keyward, Options, VerifiedKey};
//!
//! # async fn run() {
//! let organization = std::env::var("KEYWARD_ORGANIZATION").unwrap().parse().unwrap();
//! let keyward = Keyward::new("https://keys.example.com", organization, Options::default());
//! keyward.follow(std::env::var("KEYWARD_STREAM_KEY").unwrap());
//! let app: Router = Router::new()
//!     .route("/hello", get(|VerifiedKey(key): VerifiedKey| async move {
//!         format!("hello, key {}", key.key_id().unwrap_or_default())
//!     }))
//!     .with_state(keyward);
//! # }
//! ```

mod extract;
mod follow;

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

pub use extract::{Rejection, VerifiedKey, VerifyLayer, VerifyService};
pub use follow::{StreamEvent, take_events};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use uuid::Uuid;

/// How the client checks and caches.
#[derive(Debug, Clone)]
pub struct Options {
    /// The project whose keys are accepted; none: every project of the organization.
    pub project_id: Option<Uuid>,
    /// Answers kept at most.
    pub capacity: usize,
    /// How long an answer is served from memory at most, even without news of its key.
    pub ttl: Duration,
    /// How long one call to the server may take.
    pub timeout: Duration,
    /// The time now, to compare with a key's expiry (the system clock unless a test
    /// sets another).
    pub now: fn() -> chrono::DateTime<chrono::Utc>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            project_id: None,
            capacity: 10_000,
            ttl: Duration::from_secs(60),
            timeout: Duration::from_secs(5),
            now: chrono::Utc::now,
        }
    }
}

/// Why a verification could not be answered (the server could not be asked, or did not
/// answer as Keyward does). A refused key is not an error: it is a [`Verification`]
/// whose [`Verification::is_valid`] is false.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("asking Keyward failed: {0}")]
    Http(#[from] reqwest::Error),
    #[error("Keyward answered {status}: {body}")]
    Unexpected { status: u16, body: String },
}

/// The server's answer about one key.
#[derive(Debug, Clone, PartialEq)]
pub struct Verification {
    answer: Arc<Value>,
    /// Answered from the local cache.
    pub cached: bool,
}

impl Verification {
    /// Whether the key may be used.
    pub fn is_valid(&self) -> bool {
        self.answer["valid"] == true
    }

    /// `VALID`, or why not (`REVOKED`, `EXPIRED`, `RATE_LIMITED`, …).
    pub fn code(&self) -> &str {
        self.answer["code"].as_str().unwrap_or("")
    }

    /// The key's id, when the key exists.
    pub fn key_id(&self) -> Option<Uuid> {
        self.answer["key"]["id"]
            .as_str()
            .and_then(|id| id.parse().ok())
    }

    /// The whole answer: the key, its owner, organization, metadata, credits and limits.
    pub fn answer(&self) -> &Value {
        &self.answer
    }

    /// Whether this answer may be served from memory: a valid key of `organization` (the
    /// stream carries only its events; a personal access token's are in none), with no
    /// credits and no named limits, which only the server may count.
    fn cacheable(&self, organization: Uuid) -> bool {
        let limits_are_plain = match &self.answer["ratelimits"] {
            Value::Array(limits) => limits.iter().all(|l| l["name"] == "per-minute"),
            Value::Null => true,
            _ => false,
        };
        self.is_valid()
            && self.answer["organization"]["id"] == organization.to_string().as_str()
            && self.answer["key"]["kind"] != "pat"
            && self.answer["credits"].is_null()
            && limits_are_plain
            && self.key_id().is_some()
    }

    /// When the key stops working on its own, seen from `now`.
    fn expires_in(&self, now: chrono::DateTime<chrono::Utc>) -> Option<Duration> {
        let at = self.answer["key"]["expires_at"].as_str()?;
        let at = chrono::DateTime::parse_from_rfc3339(at).ok()?;
        // A time already past is no time left.
        Some(
            (at.with_timezone(&chrono::Utc) - now)
                .to_std()
                .unwrap_or_default(),
        )
    }
}

/// What the cache did, for metrics and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Answers served from memory.
    pub hits: u64,
    /// Verifications that asked the server.
    pub asked: u64,
    /// Key events received from the stream.
    pub events: u64,
}

#[derive(Clone)]
struct Cached {
    verification: Verification,
    key_id: Uuid,
    /// Served until then: the TTL, or the key's own expiry if sooner.
    until: Instant,
}

/// How long after its event a key's answers are not kept: another replica of the server
/// may not have heard of the change yet (it hears within 50 ms, and a node that stops
/// hearing stops trusting its own cache within half its heartbeat, 5 s), and an answer
/// from it would be kept for the whole TTL.
pub const SETTLE: Duration = Duration::from_secs(5);

/// The keys whose events came within [`SETTLE`], and the end of the last reset's.
#[derive(Default)]
struct Settling {
    keys: std::collections::HashMap<Uuid, Instant>,
    everything: Option<Instant>,
}

impl Settling {
    fn unsettled(&self, key: Uuid, now: Instant) -> bool {
        self.everything.is_some_and(|until| now < until)
            || self.keys.get(&key).is_some_and(|until| now < *until)
    }

    fn key(&mut self, key: Uuid, now: Instant) {
        self.keys.retain(|_, until| *until > now);
        self.keys.insert(key, now + SETTLE);
    }

    fn everything(&mut self, now: Instant) {
        self.keys.clear();
        self.everything = Some(now + SETTLE);
    }
}

/// A Keyward client. Cheap to clone: clones share the cache and the stream.
#[derive(Clone)]
pub struct Keyward(Arc<Inner>);

struct Inner {
    http: reqwest::Client,
    base: String,
    /// The organization whose keys are accepted.
    organization: Uuid,
    options: Options,
    /// By SHA-256 of the token: the token itself is never kept.
    cache: quick_cache::sync::Cache<[u8; 32], Cached>,
    /// Whether the key event stream is open: the cache is used only then.
    following: AtomicBool,
    hits: AtomicU64,
    asked: AtomicU64,
    events: AtomicU64,
    /// Counts what the stream dropped: an answer asked for before a drop is not kept.
    generation: AtomicU64,
    /// Held to drop and to keep, so no answer is kept between an event and its drop; it
    /// guards what is still settling after an event.
    keeping: std::sync::Mutex<Settling>,
    /// Changes whenever the stream opens or closes or an event is applied.
    news: tokio::sync::watch::Sender<u64>,
    follower: std::sync::Mutex<Option<tokio::task::AbortHandle>>,
}

impl Inner {
    /// Ends the task following the stream, if any.
    fn abort_follower(&self) {
        if let Some(task) = self
            .follower
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
        {
            task.abort();
        }
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.abort_follower();
    }
}

impl Keyward {
    /// A client of the Keyward server at `base_url` (e.g. `https://keys.example.com`)
    /// accepting the keys of `organization` (and of `options.project_id` when set): a
    /// valid key of another organization or project is refused (`WRONG_ORGANIZATION`,
    /// `WRONG_PROJECT`), and so is anything else the server refuses.
    pub fn new(base_url: &str, organization: Uuid, options: Options) -> Self {
        let http = reqwest::Client::builder()
            .timeout(options.timeout)
            .build()
            .unwrap_or_default();
        Self(Arc::new(Inner {
            http,
            base: base_url.trim_end_matches('/').to_owned(),
            organization,
            cache: quick_cache::sync::Cache::new(options.capacity.max(1)),
            options,
            following: AtomicBool::new(false),
            hits: AtomicU64::new(0),
            asked: AtomicU64::new(0),
            events: AtomicU64::new(0),
            generation: AtomicU64::new(0),
            keeping: std::sync::Mutex::new(Settling::default()),
            news: tokio::sync::watch::channel(0).0,
            follower: std::sync::Mutex::new(None),
        }))
    }

    /// Verifies a token a caller presented.
    pub async fn verify(&self, token: &str) -> Result<Verification, Error> {
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        if self.0.following.load(Ordering::SeqCst)
            && let Some(hit) = self.0.cache.get(&digest)
            && Instant::now() < hit.until
        {
            self.0.hits.fetch_add(1, Ordering::Relaxed);
            let mut answer = hit.verification;
            answer.cached = true;
            return Ok(answer);
        }
        self.0.asked.fetch_add(1, Ordering::Relaxed);
        // Whether the stream was open before asking, and what it had dropped: an answer
        // given while it was down, or overtaken by an event about its key while on the
        // way, may already be stale and is not kept.
        let generation = self.0.generation.load(Ordering::SeqCst);
        let following = self.0.following.load(Ordering::SeqCst);
        let response = self
            .0
            .http
            .post(format!("{}/api/v1/keys/verify", self.0.base))
            .json(&json!({
                "key": token,
                "expect": {
                    "organization_id": self.0.organization,
                    "project_id": self.0.options.project_id,
                },
            }))
            .send()
            .await?;
        let status = response.status().as_u16();
        let body = response.text().await?;
        let answer: Value = match serde_json::from_str(&body) {
            Ok(answer @ Value::Object(_)) if answer.get("valid").is_some() => answer,
            _ => return Err(Error::Unexpected { status, body }),
        };
        let verification = Verification {
            answer: Arc::new(answer),
            cached: false,
        };
        if following
            && verification.cacheable(self.0.organization)
            && let Some(key_id) = verification.key_id()
        {
            let ttl = verification
                .expires_in((self.0.options.now)())
                .map_or(self.0.options.ttl, |left| left.min(self.0.options.ttl));
            let keeping = self.0.keeping.lock().unwrap_or_else(|e| e.into_inner());
            if self.0.generation.load(Ordering::SeqCst) != generation
                || keeping.unsettled(key_id, Instant::now())
            {
                return Ok(verification);
            }
            self.0.cache.insert(
                digest,
                Cached {
                    verification: verification.clone(),
                    key_id,
                    until: Instant::now() + ttl,
                },
            );
        }
        Ok(verification)
    }

    /// What the cache has done so far.
    pub fn stats(&self) -> Stats {
        Stats {
            hits: self.0.hits.load(Ordering::Relaxed),
            asked: self.0.asked.load(Ordering::Relaxed),
            events: self.0.events.load(Ordering::Relaxed),
        }
    }

    /// Whether the key event stream is open (and the cache in use).
    pub fn is_following(&self) -> bool {
        self.0.following.load(Ordering::SeqCst)
    }

    /// Changes whenever the stream opens or closes or an event is applied: wait on it for
    /// [`Keyward::is_following`] or [`Stats::events`] to change.
    pub fn news(&self) -> tokio::sync::watch::Receiver<u64> {
        self.0.news.subscribe()
    }

    fn set_following(&self, following: bool) {
        self.0.following.store(following, Ordering::SeqCst);
        self.0.news.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// Drops a key's answers at its event, and keeps none of it for [`SETTLE`].
    fn forget_key(&self, key_id: Uuid) {
        let mut keeping = self.0.keeping.lock().unwrap_or_else(|e| e.into_inner());
        self.0.generation.fetch_add(1, Ordering::SeqCst);
        keeping.key(key_id, Instant::now());
        self.0.cache.retain(|_, cached| cached.key_id != key_id);
    }

    /// Drops every answer at a reset, and keeps none for [`SETTLE`].
    fn reset(&self) {
        self.0
            .keeping
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .everything(Instant::now());
        self.forget_all();
    }

    fn forget_all(&self) {
        let _keeping = self.0.keeping.lock().unwrap_or_else(|e| e.into_inner());
        self.0.generation.fetch_add(1, Ordering::SeqCst);
        self.0.cache.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_changed_key_settles_before_its_answers_are_kept() {
        let (a, b) = (Uuid::from_u128(1), Uuid::from_u128(2));
        let now = Instant::now();
        let mut settling = Settling::default();
        assert!(!settling.unsettled(a, now));
        settling.key(a, now);
        assert!(settling.unsettled(a, now + SETTLE / 2));
        assert!(!settling.unsettled(b, now));
        assert!(!settling.unsettled(a, now + SETTLE + Duration::from_millis(1)));
        settling.everything(now);
        assert!(settling.unsettled(b, now + SETTLE / 2));
        assert!(!settling.unsettled(b, now + SETTLE + Duration::from_millis(1)));
    }
}

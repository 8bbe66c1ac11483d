//! Rate limits (SPEC §10): requests per minute per credential and per signed-in user,
//! and failed verifications per client address, all GCRA.
//!
//! Each node limits alone with `governor`; with `KEYWARD_REDIS_URL` the per-credential
//! and per-user limits are shared by every node through Redis: one `EVALSHA` of a GCRA
//! script per request, timed by Redis's own clock. When Redis cannot answer in time the
//! organization's policy decides: refuse (the default) or let the request through.

use std::{
    collections::HashMap,
    num::NonZeroU32,
    sync::{Arc, RwLock},
    time::Duration,
};

use governor::{
    Quota, RateLimiter as Gcra,
    middleware::StateInformationMiddleware,
    state::{InMemoryState, NotKeyed, keyed::DashMapStateStore},
};
use uuid::Uuid;

use super::{
    clock::Clock,
    hashing::{CallerKeyed, caller_keyed},
};

type Limiter = Gcra<NotKeyed, InMemoryState, Clock, StateInformationMiddleware>;

/// The state of every subject limited to one number of requests per minute.
/// Its keys include client addresses, which callers choose: the map keeps the default,
/// flood-resistant hash.
type Keyed = Gcra<Subject, DashMapStateStore<Subject>, Clock, StateInformationMiddleware>;

/// The outcome of one rate-limit check, with what the `RateLimit` headers report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateDecision {
    pub allowed: bool,
    /// Requests per minute.
    pub limit: u32,
    pub remaining: u32,
    /// Seconds until the full quota is available again.
    pub reset_secs: u64,
    /// Seconds to wait when refused.
    pub retry_after_secs: u64,
}

/// What a limit counts requests of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Subject {
    /// Requests made with a credential.
    Credential(Uuid),
    /// Requests a user makes with dashboard sessions.
    User(Uuid),
    /// Device-code lookups a user makes (guessing codes).
    CodeLookups(Uuid),
    /// Device logins started from one client address (anyone may start one).
    DeviceStarts(std::net::IpAddr),
}

impl Subject {
    fn key(self) -> String {
        match self {
            Self::Credential(id) => format!("credential:{id}"),
            Self::User(id) => format!("user:{id}"),
            Self::CodeLookups(id) => format!("code-lookups:{id}"),
            Self::DeviceStarts(ip) => format!("device-starts:{ip}"),
        }
    }
}

/// What a limit does while Redis cannot answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outage {
    /// Refuse (an organization that fails closed, the default).
    Refuse,
    /// Limit on this node alone (an organization that fails open; users in the
    /// dashboard and personal tokens, so nobody is locked out of fixing things).
    LimitHere,
}

impl Outage {
    /// An organization's choice.
    pub fn of_organization(fail_open: bool) -> Self {
        if fail_open {
            Self::LimitHere
        } else {
            Self::Refuse
        }
    }
}

/// One limiter per subject and limit, here or in Redis.
pub struct RateLimiter {
    /// This node's limiters by requests per minute, each holding the state of the
    /// subjects with that limit (an entry of a few dozen bytes per recently limited
    /// subject; idle ones are dropped by [`Self::forget_idle`]).
    limiters: RwLock<HashMap<u32, Arc<Keyed>>>,
    /// This node's state of the limits verification checks together (SPEC §3.5).
    named: NamedHere,
    clock: Clock,
    shared: Option<SharedLimits>,
}

impl RateLimiter {
    pub fn new(clock: Clock, redis_url: Option<&str>) -> Result<Self, String> {
        Ok(Self {
            limiters: RwLock::new(HashMap::new()),
            named: NamedHere::default(),
            clock,
            shared: redis_url.map(SharedLimits::new).transpose()?,
        })
    }

    /// Whether the limits are shared through Redis.
    pub fn is_shared(&self) -> bool {
        self.shared.is_some()
    }

    /// Counts one request of `subject` against `per_minute`, in Redis when the limits
    /// are shared. When Redis cannot answer, `on_outage` decides: refuse for a second,
    /// or limit on this node alone until Redis is back.
    pub async fn check(
        &self,
        subject: Subject,
        per_minute: u32,
        on_outage: Outage,
    ) -> RateDecision {
        let Some(shared) = &self.shared else {
            return self.check_here(subject, per_minute);
        };
        let limit = per_minute.max(1);
        match shared.check(subject, limit).await {
            Ok(decision) => decision,
            Err(e) => {
                shared.undecided(&e, on_outage);
                match on_outage {
                    Outage::LimitHere => self.check_here(subject, per_minute),
                    Outage::Refuse => RateDecision {
                        allowed: false,
                        limit,
                        remaining: 0,
                        reset_secs: 1,
                        retry_after_secs: 1,
                    },
                }
            }
        }
    }

    /// This node's limiter for `limit` requests per minute.
    fn limiter(&self, limit: NonZeroU32) -> Arc<Keyed> {
        if let Some(held) = self
            .limiters
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&limit.get())
        {
            return held.clone();
        }
        self.limiters
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .entry(limit.get())
            .or_insert_with(|| {
                Arc::new(
                    Gcra::dashmap_with_clock(Quota::per_minute(limit), self.clock.clone())
                        .with_middleware(),
                )
            })
            .clone()
    }

    /// Drops the state of subjects whose quota is full again (idle for up to a minute),
    /// which is the same as never having seen them, and limiters left with none.
    pub fn forget_idle(&self) {
        let held: Vec<Arc<Keyed>> = self
            .limiters
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .cloned()
            .collect();
        self.named.forget_idle(micros(self.clock.elapsed()));
        // Swept without the map's lock: checks go on meanwhile.
        for limiter in &held {
            limiter.retain_recent();
        }
        drop(held);
        let mut limiters = self.limiters.write().unwrap_or_else(|e| e.into_inner());
        // A limiter a check still holds (cloned under the lock, in use after it) stays,
        // or that check would count against a limiter nobody finds again.
        limiters.retain(|_, limiter| !limiter.is_empty() || Arc::strong_count(limiter) > 1);
    }

    /// Subjects whose state this node holds.
    pub fn held(&self) -> usize {
        self.limiters
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .map(|l| l.len())
            .sum::<usize>()
            + self.named.len()
    }

    /// Counts one verification against several limits at once (SPEC §3.5): all of
    /// them, or, when any would be exceeded, none. In Redis when the limits are shared,
    /// in one script; when Redis cannot answer, `on_outage` decides as in
    /// [`Self::check`].
    pub async fn check_all(&self, checks: &[LimitCheck], on_outage: Outage) -> LimitDecision {
        if checks.is_empty() {
            return LimitDecision::default();
        }
        let Some(shared) = &self.shared else {
            return self.named.check(checks, micros(self.clock.elapsed()));
        };
        match shared.check_all(checks).await {
            Ok(decision) => decision,
            Err(e) => {
                shared.undecided(&e, on_outage);
                match on_outage {
                    Outage::LimitHere => self.named.check(checks, micros(self.clock.elapsed())),
                    Outage::Refuse => LimitDecision {
                        allowed: false,
                        states: checks
                            .iter()
                            .map(|c| LimitState {
                                exceeded: true,
                                limit: c.limit,
                                remaining: 0,
                                reset_ms: 1000,
                            })
                            .collect(),
                        retry_after_secs: 1,
                    },
                }
            }
        }
    }

    /// Counts one request against this node's own limiter.
    fn check_here(&self, subject: Subject, per_minute: u32) -> RateDecision {
        let limit = NonZeroU32::new(per_minute.max(1)).unwrap_or(NonZeroU32::MIN);
        let limiter = self.limiter(limit);
        let per_request = 60.0 / f64::from(limit.get());
        match limiter.check_key(&subject) {
            Ok(snapshot) => {
                let remaining = snapshot.remaining_burst_capacity();
                RateDecision {
                    allowed: true,
                    limit: limit.get(),
                    remaining,
                    reset_secs: (f64::from(limit.get() - remaining) * per_request).ceil() as u64,
                    retry_after_secs: 0,
                }
            }
            Err(not_until) => {
                let wait = not_until
                    .wait_time_from(self.clock.elapsed())
                    .as_secs_f64()
                    .ceil()
                    .max(1.0) as u64;
                RateDecision {
                    allowed: false,
                    limit: limit.get(),
                    remaining: 0,
                    reset_secs: 60,
                    retry_after_secs: wait,
                }
            }
        }
    }
}

/// GCRA in Redis: the key holds the theoretical arrival time in whole microseconds of
/// Redis's clock (written without exponent, so no precision is lost). `ARGV`: the period
/// in microseconds and the limit. Answers `{allowed, remaining, reset_ms, retry_ms}`.
const GCRA: &str = r#"
if redis.replicate_commands then redis.replicate_commands() end
local period = tonumber(ARGV[1])
local limit = tonumber(ARGV[2])
local interval = math.floor(period / limit)
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local new_tat = tat + interval
if new_tat - now > period then
  return {0, 0, math.ceil((tat - now) / 1000), math.ceil((new_tat - period - now) / 1000)}
end
redis.call('SET', KEYS[1], string.format('%.0f', new_tat), 'PX', math.ceil((new_tat - now) / 1000))
local remaining = math.floor((period - (new_tat - now)) / interval)
return {1, remaining, math.ceil((new_tat - now) / 1000), 0}
"#;

/// How long a shared check may take before the organization's policy decides.
const SHARED_TIMEOUT: Duration = Duration::from_millis(250);

/// After Redis failed, how long before it is tried again.
const SHARED_RETRY: Duration = Duration::from_secs(1);

/// Limits shared by every node through Redis.
struct SharedLimits {
    client: redis::Client,
    /// The connection once made (cloned per request, never held across an await).
    connection: std::sync::RwLock<Option<redis::aio::ConnectionManager>>,
    /// Serialises connecting.
    connecting: tokio::sync::Mutex<()>,
    /// When Redis last failed: until [`SHARED_RETRY`] later it is not asked.
    failed_at: std::sync::Mutex<Option<std::time::Instant>>,
    /// When the last outage warning was logged.
    warned_at: std::sync::Mutex<Option<std::time::Instant>>,
    script: redis::Script,
    script_all: redis::Script,
}

impl SharedLimits {
    fn new(url: &str) -> Result<Self, String> {
        Ok(Self {
            client: redis::Client::open(url).map_err(|e| format!("redis_url: {e}"))?,
            connection: std::sync::RwLock::new(None),
            connecting: tokio::sync::Mutex::new(()),
            failed_at: std::sync::Mutex::new(None),
            warned_at: std::sync::Mutex::new(None),
            script: redis::Script::new(GCRA),
            script_all: redis::Script::new(GCRA_ALL),
        })
    }

    fn current(&self) -> Option<redis::aio::ConnectionManager> {
        self.connection
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn failed_recently(&self) -> bool {
        self.failed_at
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_some_and(|at| at.elapsed() < SHARED_RETRY)
    }

    fn failed(&self, error: String) -> String {
        *self.failed_at.lock().unwrap_or_else(|e| e.into_inner()) = Some(std::time::Instant::now());
        error
    }

    /// Counts a check Redis could not decide, and says so in the log (at most once every
    /// ten seconds).
    fn undecided(&self, error: &str, on_outage: Outage) {
        metrics::counter!(
            "keyward_rate_limit_undecided_total",
            "then" => match on_outage { Outage::Refuse => "refused", Outage::LimitHere => "limited_here" }
        )
        .increment(1);
        self.warn_once(error);
    }

    /// Logs an outage at most once every ten seconds.
    fn warn_once(&self, error: &str) {
        let mut warned = self.warned_at.lock().unwrap_or_else(|e| e.into_inner());
        if warned.is_none_or(|at| at.elapsed() >= Duration::from_secs(10)) {
            *warned = Some(std::time::Instant::now());
            tracing::warn!(error, "the shared rate limiter (Redis) could not answer");
        }
    }

    async fn connection(&self) -> Result<redis::aio::ConnectionManager, String> {
        if self.failed_recently() {
            return Err("redis failed a moment ago".into());
        }
        if let Some(conn) = self.current() {
            return Ok(conn);
        }
        let _connecting = tokio::time::timeout(SHARED_TIMEOUT, self.connecting.lock())
            .await
            .map_err(|_| "waiting to connect timed out".to_owned())?;
        if let Some(conn) = self.current() {
            return Ok(conn);
        }
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Some(SHARED_TIMEOUT))
            .set_response_timeout(Some(SHARED_TIMEOUT))
            .set_number_of_retries(1);
        match tokio::time::timeout(
            SHARED_TIMEOUT,
            redis::aio::ConnectionManager::new_with_config(self.client.clone(), config),
        )
        .await
        {
            Ok(Ok(conn)) => {
                *self.connection.write().unwrap_or_else(|e| e.into_inner()) = Some(conn.clone());
                Ok(conn)
            }
            Ok(Err(e)) => Err(self.failed(e.to_string())),
            Err(_) => Err(self.failed("connecting timed out".into())),
        }
    }

    async fn check_all(&self, checks: &[LimitCheck]) -> Result<LimitDecision, String> {
        let mut conn = self.connection().await?;
        let mut invocation = self.script_all.prepare_invoke();
        for c in checks {
            let (id, limit, duration) = key_of(c);
            invocation.key(format!("keyward:nl:{id}:{limit}:{duration}"));
        }
        for c in checks {
            invocation
                .arg(c.duration_ms.max(1).saturating_mul(1000))
                .arg(c.limit.max(1))
                .arg(c.cost);
        }
        let answer: Result<Vec<i64>, _> =
            match tokio::time::timeout(SHARED_TIMEOUT, invocation.invoke_async(&mut conn)).await {
                Ok(answer) => answer,
                Err(_) => return Err(self.failed("timed out".into())),
            };
        let answer = answer.map_err(|e| self.failed(e.to_string()))?;
        if answer.len() != checks.len() * 3 + 1 {
            return Err(self.failed(format!("an answer of {} values", answer.len())));
        }
        let states: Vec<LimitState> = checks
            .iter()
            .zip(answer.chunks_exact(3))
            .map(|(c, a)| LimitState {
                exceeded: a[0] == 1,
                limit: c.limit,
                remaining: u32::try_from(a[1]).unwrap_or(0),
                reset_ms: u64::try_from(a[2]).unwrap_or(0),
            })
            .collect();
        let allowed = answer[answer.len() - 1] == 1;
        let retry_after_secs = if allowed {
            0
        } else {
            retry_after(checks, &states)
        };
        Ok(LimitDecision {
            allowed,
            states,
            retry_after_secs,
        })
    }

    async fn check(&self, subject: Subject, limit: u32) -> Result<RateDecision, String> {
        let mut conn = self.connection().await?;
        let mut invocation = self
            .script
            .key(format!("keyward:rl:{}:{limit}", subject.key()));
        invocation.arg(60_000_000).arg(limit);
        let answer: Result<(i64, i64, i64, i64), _> =
            match tokio::time::timeout(SHARED_TIMEOUT, invocation.invoke_async(&mut conn)).await {
                Ok(answer) => answer,
                Err(_) => return Err(self.failed("timed out".into())),
            };
        let (allowed, remaining, reset_ms, retry_ms) =
            answer.map_err(|e| self.failed(e.to_string()))?;
        let secs = |ms: i64| u64::try_from(ms).unwrap_or(0).div_ceil(1000);
        Ok(RateDecision {
            allowed: allowed == 1,
            limit,
            remaining: u32::try_from(remaining).unwrap_or(0),
            reset_secs: secs(reset_ms),
            retry_after_secs: if allowed == 1 {
                0
            } else {
                secs(retry_ms).max(1)
            },
        })
    }
}

/// One limit a verification counts against: `cost` of `limit` per `duration_ms`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LimitCheck {
    /// What the limit counts: a named limit's id, or a credential's for its per-minute
    /// limit. With the limit and duration, the state's key: a changed limit starts over.
    pub id: Uuid,
    pub limit: u32,
    pub duration_ms: u64,
    pub cost: u32,
}

/// One limit's state after a check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LimitState {
    /// This limit would have been exceeded.
    pub exceeded: bool,
    pub limit: u32,
    pub remaining: u32,
    /// Milliseconds until the full limit is available again.
    pub reset_ms: u64,
}

/// The outcome of [`RateLimiter::check_all`]: each limit's state, in the order asked.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LimitDecision {
    /// Every limit allowed it, and each counted it; otherwise none did.
    pub allowed: bool,
    pub states: Vec<LimitState>,
    /// Seconds to wait when refused.
    pub retry_after_secs: u64,
}

impl LimitDecision {
    /// Nothing to count against: allowed.
    fn none() -> Self {
        Self {
            allowed: true,
            ..Self::default()
        }
    }
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

/// GCRA of one limit at `now` (µs), from the theoretical arrival time `tat`: the new
/// `tat` when allowed, and the state either way.
fn gcra(check: &LimitCheck, tat: u64, now: u64) -> (Option<u64>, LimitState) {
    let period = check.duration_ms.max(1).saturating_mul(1000);
    let limit = u64::from(check.limit.max(1));
    let interval = (period / limit).max(1);
    let tat = tat.max(now);
    let new_tat = tat.saturating_add(interval.saturating_mul(u64::from(check.cost)));
    if new_tat - now > period {
        let remaining = period.saturating_sub(tat - now) / interval;
        return (
            None,
            LimitState {
                exceeded: true,
                limit: check.limit,
                remaining: u32::try_from(remaining).unwrap_or(u32::MAX),
                reset_ms: (tat - now).div_ceil(1000),
            },
        );
    }
    let remaining = (period - (new_tat - now)) / interval;
    (
        Some(new_tat),
        LimitState {
            exceeded: false,
            limit: check.limit,
            remaining: u32::try_from(remaining).unwrap_or(u32::MAX),
            reset_ms: (new_tat - now).div_ceil(1000),
        },
    )
}

/// Seconds until every exceeded limit lets the request through.
fn retry_after(checks: &[LimitCheck], states: &[LimitState]) -> u64 {
    checks
        .iter()
        .zip(states)
        .filter(|(_, s)| s.exceeded)
        .map(|(c, s)| {
            // Enough of the limit frees up once `cost` intervals have passed beyond what
            // is left.
            let interval = (c.duration_ms.max(1) * 1000 / u64::from(c.limit.max(1))).max(1);
            let short = u64::from(c.cost).saturating_sub(u64::from(s.remaining));
            (short * interval).div_ceil(1_000_000)
        })
        .max()
        .unwrap_or(0)
        .max(1)
}

/// The key of a limit's state: what it counts, and the limit, so a changed limit
/// starts afresh.
type NamedKey = (Uuid, u32, u64);

/// Stripes of named-limit state, each behind its own lock: a check locks the stripes of
/// its limits in order, decides, and writes all or nothing.
const STRIPES: usize = 64;

struct NamedHere {
    stripes: Vec<std::sync::Mutex<HashMap<NamedKey, u64, super::hashing::IdHasher>>>,
}

impl Default for NamedHere {
    fn default() -> Self {
        Self {
            stripes: (0..STRIPES)
                .map(|_| std::sync::Mutex::new(HashMap::default()))
                .collect(),
        }
    }
}

fn key_of(check: &LimitCheck) -> NamedKey {
    (check.id, check.limit, check.duration_ms)
}

fn stripe_of(key: &NamedKey) -> usize {
    (key.0.as_u128() as usize) % STRIPES
}

impl NamedHere {
    fn check(&self, checks: &[LimitCheck], now: u64) -> LimitDecision {
        if checks.is_empty() {
            return LimitDecision::none();
        }
        let mut order: Vec<usize> = checks.iter().map(|c| stripe_of(&key_of(c))).collect();
        order.sort_unstable();
        order.dedup();
        let mut guards: Vec<_> = order
            .iter()
            .map(|&i| self.stripes[i].lock().unwrap_or_else(|e| e.into_inner()))
            .collect();
        let mut states = Vec::with_capacity(checks.len());
        let mut writes = Vec::with_capacity(checks.len());
        for check in checks {
            let key = key_of(check);
            // Every stripe of the checks is in `order`; were one not, nothing is allowed.
            let Ok(at) = order.binary_search(&stripe_of(&key)) else {
                writes.push(None);
                states.push(gcra(check, u64::MAX, now).1);
                continue;
            };
            let tat = guards[at].get(&key).copied().unwrap_or(now);
            let (new_tat, state) = gcra(check, tat, now);
            states.push(state);
            writes.push(new_tat.map(|t| (at, key, t)));
        }
        let allowed = writes.iter().all(Option::is_some);
        if allowed {
            for (at, key, tat) in writes.into_iter().flatten() {
                guards[at].insert(key, tat);
            }
        }
        let retry_after_secs = if allowed {
            0
        } else {
            retry_after(checks, &states)
        };
        LimitDecision {
            allowed,
            states,
            retry_after_secs,
        }
    }

    /// Drops state whose limit is full again (`tat` in the past): the same as unseen.
    fn forget_idle(&self, now: u64) {
        for stripe in &self.stripes {
            stripe
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .retain(|_, tat| *tat > now);
        }
    }

    fn len(&self) -> usize {
        self.stripes
            .iter()
            .map(|s| s.lock().unwrap_or_else(|e| e.into_inner()).len())
            .sum()
    }
}

/// The limits of one verification in Redis, all or nothing, timed by Redis's clock.
/// `KEYS`: one per limit; `ARGV`: the period (µs), limit and cost of each in turn.
/// Answers, per limit, `{exceeded, remaining, reset_ms}`, then whether all were allowed.
const GCRA_ALL: &str = r#"
if redis.replicate_commands then redis.replicate_commands() end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local out = {}
local writes = {}
local allowed = 1
for i, key in ipairs(KEYS) do
  local period = tonumber(ARGV[3 * i - 2])
  local limit = tonumber(ARGV[3 * i - 1])
  local cost = tonumber(ARGV[3 * i])
  local interval = math.max(1, math.floor(period / limit))
  local tat = tonumber(redis.call('GET', key) or now)
  if tat < now then tat = now end
  local new_tat = tat + interval * cost
  if new_tat - now > period then
    allowed = 0
    table.insert(out, 1)
    table.insert(out, math.floor((period - (tat - now)) / interval))
    table.insert(out, math.ceil((tat - now) / 1000))
  else
    table.insert(out, 0)
    table.insert(out, math.floor((period - (new_tat - now)) / interval))
    table.insert(out, math.ceil((new_tat - now) / 1000))
    writes[i] = new_tat
  end
end
if allowed == 1 then
  for i, key in ipairs(KEYS) do
    local ttl = math.max(1, math.ceil((writes[i] - now) / 1000))
    redis.call('SET', key, string.format('%.0f', writes[i]), 'PX', ttl)
  end
end
table.insert(out, allowed)
return out
"#;

/// Failed verifications per client address, to stop guessing: past the allowance an
/// address's guesses (strings that name no credential) are refused until it refills.
/// Keys that exist are still answered on their merits from a held-back address: a
/// product relays every one of its users' keys from one address.
pub struct FailureLimiter {
    limiters: moka::sync::Cache<String, Arc<Limiter>>,
    /// When (on the clock's monotonic reading) each held-back address may try again.
    /// Read on every verification, so a map read under a shard's read lock; an
    /// address whose time has passed is ignored, and swept by [`Self::forget_idle`].
    blocked_until: CallerKeyed<String, Duration>,
    clock: Clock,
}

impl FailureLimiter {
    pub fn new(clock: Clock) -> Self {
        Self {
            limiters: moka::sync::Cache::builder()
                .max_capacity(1_000_000)
                .time_to_idle(Duration::from_secs(120))
                .build(),
            blocked_until: caller_keyed(1_000_000),
            clock,
        }
    }

    /// Seconds `address` must still wait, if it is held back.
    pub fn wait(&self, address: &str) -> Option<u64> {
        let until = self.blocked_until.get(address)?;
        let left = until.checked_sub(self.clock.elapsed())?;
        Some(left.as_secs_f64().ceil().max(1.0) as u64)
    }

    /// Drops the addresses whose wait is over.
    pub fn forget_idle(&self) {
        let now = self.clock.elapsed();
        self.blocked_until.retain(|_, until| *until > now);
    }

    /// Counts one failed verification from `address` against `per_minute`.
    pub fn record(&self, address: &str, per_minute: u32) {
        let limit = NonZeroU32::new(per_minute.max(1)).unwrap_or(NonZeroU32::MIN);
        let limiter = self.limiters.get_with(address.to_owned(), || {
            Arc::new(
                Gcra::direct_with_clock(Quota::per_minute(limit), self.clock.clone())
                    .with_middleware(),
            )
        });
        if let Err(not_until) = limiter.check() {
            let wait = not_until.wait_time_from(self.clock.elapsed());
            self.blocked_until
                .insert(address.to_owned(), self.clock.elapsed() + wait);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_past_the_limit_and_reports_remaining() {
        let limiter = RateLimiter::new(Clock::system(), None).unwrap();
        let id = Subject::Credential(Uuid::now_v7());
        let first = limiter.check_here(id, 3);
        assert!(first.allowed);
        assert_eq!(first.remaining, 2);
        assert!(limiter.check_here(id, 3).allowed);
        assert!(limiter.check_here(id, 3).allowed);
        let refused = limiter.check_here(id, 3);
        assert!(!refused.allowed);
        assert!(refused.retry_after_secs >= 1);
        assert!(
            limiter
                .check_here(Subject::Credential(Uuid::now_v7()), 3)
                .allowed,
            "limits are per credential"
        );
    }

    #[test]
    fn idle_subjects_are_forgotten_once_their_quota_is_full_again() {
        let clock = Clock::system();
        let limiter = RateLimiter::new(clock.clone(), None).unwrap();
        let (idle, busy) = (
            Subject::Credential(Uuid::now_v7()),
            Subject::User(Uuid::now_v7()),
        );
        assert!(limiter.check_here(idle, 60).allowed);
        assert!(limiter.check_here(busy, 2).allowed);
        assert_eq!(limiter.held(), 2);
        assert!(limiter.check_here(busy, 2).allowed);
        clock.advance(Duration::from_secs(3));
        limiter.forget_idle();
        assert_eq!(limiter.held(), 1, "the idle subject's quota is full again");
        assert!(
            !limiter.check_here(busy, 2).allowed,
            "a subject still within its window keeps its state"
        );
        clock.advance(Duration::from_secs(120));
        let in_use = limiter.limiter(NonZeroU32::new(2).unwrap());
        limiter.forget_idle();
        assert_eq!(limiter.held(), 0);
        assert!(
            Arc::ptr_eq(&in_use, &limiter.limiter(NonZeroU32::new(2).unwrap())),
            "a limiter a check still holds is not replaced under it"
        );
        drop(in_use);
        limiter.forget_idle();
        assert!(
            limiter.limiters.read().unwrap().is_empty(),
            "empty limiters go"
        );
        assert_eq!(limiter.check_here(busy, 2).remaining, 1, "a fresh quota");
    }

    fn limit(limit: u32, duration_ms: u64, cost: u32) -> LimitCheck {
        LimitCheck {
            id: Uuid::now_v7(),
            limit,
            duration_ms,
            cost,
        }
    }

    #[test]
    fn several_limits_count_all_or_nothing() {
        let clock = Clock::system();
        let limiter = RateLimiter::new(clock.clone(), None).unwrap();
        let wide = limit(100, 60_000, 1);
        let narrow = limit(2, 1_000, 1);
        let both = |cost_narrow: u32| {
            [
                wide,
                LimitCheck {
                    cost: cost_narrow,
                    ..narrow
                },
            ]
        };
        let first = limiter.named.check(&both(1), micros(clock.elapsed()));
        assert!(first.allowed);
        assert_eq!(first.states[0].remaining, 99);
        assert_eq!(first.states[1].remaining, 1);
        // The narrow limit refuses a cost of 2: the wide one counts nothing either.
        let refused = limiter.named.check(&both(2), micros(clock.elapsed()));
        assert!(!refused.allowed);
        assert!(refused.states[1].exceeded && !refused.states[0].exceeded);
        assert!(refused.retry_after_secs >= 1);
        let again = limiter.named.check(&[wide], micros(clock.elapsed()));
        assert_eq!(again.states[0].remaining, 98, "the refusal counted nothing");
        // A cost of 0 reads the state without counting.
        let read = limiter.named.check(&both(0), micros(clock.elapsed()));
        assert!(read.allowed);
        assert_eq!(read.states[1].remaining, 1);
        clock.advance(Duration::from_secs(1));
        let refilled = limiter.named.check(&both(2), micros(clock.elapsed()));
        assert!(refilled.allowed, "{refilled:?}");
        assert_eq!(refilled.states[1].remaining, 0);
        clock.advance(Duration::from_secs(120));
        limiter.forget_idle();
        assert_eq!(limiter.named.len(), 0, "full again, forgotten");
    }

    #[test]
    fn failures_hold_an_address_back() {
        let clock = Clock::system();
        let failures = FailureLimiter::new(clock.clone());
        for _ in 0..3 {
            assert_eq!(failures.wait("192.0.2.1"), None);
            failures.record("192.0.2.1", 3);
        }
        assert_eq!(
            failures.wait("192.0.2.1"),
            None,
            "the allowance is not spent yet"
        );
        failures.record("192.0.2.1", 3);
        let wait = failures
            .wait("192.0.2.1")
            .expect("held back after the allowance");
        assert!((1..=20).contains(&wait), "{wait}");
        assert_eq!(failures.wait("192.0.2.2"), None, "per address");
        failures.forget_idle();
        assert_eq!(failures.blocked_until.len(), 1, "still held back");
        clock.advance(Duration::from_secs(wait));
        assert_eq!(
            failures.wait("192.0.2.1"),
            None,
            "free again once it waited"
        );
        failures.forget_idle();
        assert_eq!(failures.blocked_until.len(), 0, "its wait over, forgotten");
        failures.record("192.0.2.1", 3);
        assert_eq!(
            failures.wait("192.0.2.1"),
            None,
            "with one failure refilled"
        );
    }
}

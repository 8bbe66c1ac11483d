//! Rate limits (SPEC §10), GCRA via `governor`: requests per minute per credential, and
//! failed verifications per client address.

use std::{num::NonZeroU32, sync::Arc, time::Duration};

use governor::{
    Quota, RateLimiter as Gcra,
    middleware::StateInformationMiddleware,
    state::{InMemoryState, NotKeyed},
};
use uuid::Uuid;

use super::clock::Clock;

type Limiter = Gcra<NotKeyed, InMemoryState, Clock, StateInformationMiddleware>;

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

/// One limiter per credential and limit.
pub struct RateLimiter {
    limiters: moka::sync::Cache<(Uuid, u32), Arc<Limiter>>,
    clock: Clock,
}

impl RateLimiter {
    pub fn new(clock: Clock) -> Self {
        Self {
            // Idle limiters are full again after a minute, so forgetting them loses nothing.
            limiters: moka::sync::Cache::builder()
                .max_capacity(1_000_000)
                .time_to_idle(Duration::from_secs(120))
                .build(),
            clock,
        }
    }

    /// Counts one request by `id` against `per_minute`.
    pub fn check(&self, id: Uuid, per_minute: u32) -> RateDecision {
        let limit = NonZeroU32::new(per_minute.max(1)).unwrap_or(NonZeroU32::MIN);
        let limiter = self.limiters.get_with((id, limit.get()), || {
            Arc::new(
                Gcra::direct_with_clock(Quota::per_minute(limit), self.clock.clone())
                    .with_middleware(),
            )
        });
        let per_request = 60.0 / f64::from(limit.get());
        match limiter.check() {
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

/// Failed verifications per client address, to stop guessing: past the allowance an
/// address waits until it refills before any credential it presents is looked at.
pub struct FailureLimiter {
    limiters: moka::sync::Cache<String, Arc<Limiter>>,
    /// When (on the clock's monotonic reading) each held-back address may try again.
    blocked_until: moka::sync::Cache<String, Duration>,
    clock: Clock,
}

impl FailureLimiter {
    pub fn new(clock: Clock) -> Self {
        Self {
            limiters: moka::sync::Cache::builder()
                .max_capacity(1_000_000)
                .time_to_idle(Duration::from_secs(120))
                .build(),
            blocked_until: moka::sync::Cache::builder()
                .max_capacity(1_000_000)
                .time_to_live(Duration::from_secs(120))
                .build(),
            clock,
        }
    }

    /// Seconds `address` must still wait, if it is held back.
    pub fn wait(&self, address: &str) -> Option<u64> {
        let until = self.blocked_until.get(address)?;
        let left = until.checked_sub(self.clock.elapsed())?;
        Some(left.as_secs_f64().ceil().max(1.0) as u64)
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
        let limiter = RateLimiter::new(Clock::system());
        let id = Uuid::now_v7();
        let first = limiter.check(id, 3);
        assert!(first.allowed);
        assert_eq!(first.remaining, 2);
        assert!(limiter.check(id, 3).allowed);
        assert!(limiter.check(id, 3).allowed);
        let refused = limiter.check(id, 3);
        assert!(!refused.allowed);
        assert!(refused.retry_after_secs >= 1);
        assert!(
            limiter.check(Uuid::now_v7(), 3).allowed,
            "limits are per credential"
        );
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
        clock.advance(Duration::from_secs(wait));
        assert_eq!(
            failures.wait("192.0.2.1"),
            None,
            "free again once it waited"
        );
        failures.record("192.0.2.1", 3);
        assert_eq!(
            failures.wait("192.0.2.1"),
            None,
            "with one failure refilled"
        );
    }
}

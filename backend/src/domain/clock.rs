//! Time, read in one place. Services and rate limiters ask the [`Clock`] of
//! [`super::Services`] rather than the system, so a test moves time forward
//! ([`Clock::advance`]) instead of sleeping. In production the clock only follows the
//! system's.

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use chrono::{DateTime, TimeDelta, Utc};

/// The server's clock: the system's, plus however far it was moved forward.
#[derive(Debug, Clone)]
pub struct Clock(Arc<Inner>);

#[derive(Debug)]
struct Inner {
    started: Instant,
    ahead_nanos: AtomicU64,
}

impl Default for Clock {
    fn default() -> Self {
        Self::system()
    }
}

impl Clock {
    /// The system's clock.
    pub fn system() -> Self {
        Self(Arc::new(Inner {
            started: Instant::now(),
            ahead_nanos: AtomicU64::new(0),
        }))
    }

    fn ahead(&self) -> Duration {
        Duration::from_nanos(self.0.ahead_nanos.load(Ordering::Relaxed))
    }

    /// The time now.
    pub fn now(&self) -> DateTime<Utc> {
        Utc::now() + TimeDelta::from_std(self.ahead()).unwrap_or(TimeDelta::MAX)
    }

    /// Monotonic time since the clock was made, for measuring intervals.
    pub fn elapsed(&self) -> Duration {
        self.0.started.elapsed() + self.ahead()
    }

    /// Moves the clock forward by `by` (tests: time passes without waiting for it).
    pub fn advance(&self, by: Duration) {
        let nanos = u64::try_from(by.as_nanos()).unwrap_or(u64::MAX);
        self.0.ahead_nanos.fetch_add(nanos, Ordering::Relaxed);
    }
}

impl governor::clock::Clock for Clock {
    type Instant = Duration;

    fn now(&self) -> Duration {
        self.elapsed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advancing_moves_both_readings() {
        let clock = Clock::system();
        let (wall, mono) = (clock.now(), clock.elapsed());
        clock.advance(Duration::from_secs(3600));
        assert!(clock.now() - wall >= TimeDelta::hours(1));
        assert!(clock.elapsed() - mono >= Duration::from_secs(3600));
        let copy = clock.clone();
        copy.advance(Duration::from_secs(60));
        assert!(
            clock.elapsed() - mono >= Duration::from_secs(3660),
            "one clock, shared"
        );
    }
}

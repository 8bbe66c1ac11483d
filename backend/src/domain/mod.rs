//! Domain services: the one place that owns authorization checks, validation,
//! transactions and audit writes. GraphQL resolvers and REST handlers call these and
//! nothing else touches the database.

pub mod access;
pub mod admin;
pub mod analytics;
pub mod audit;
pub mod batch;
pub mod bootstrap;
pub mod cli_login;
pub mod clock;
pub mod controls;
pub mod credentials;
pub mod credits;
pub mod email;
pub mod hashing;
pub mod identities;
pub mod ids;
pub mod invalidation;
pub mod invites;
pub mod key_events;
pub mod leaks;
pub mod members;
pub mod orgs;
pub mod paging;
pub use keyward_proto::permissions;
pub mod principal;
pub mod ratelimit;
pub mod roles;
pub mod service_accounts;
pub mod sessions;
pub mod signin;
pub mod usage;
pub mod validate;
pub mod verification_export;
pub mod verify;
pub mod webhooks;

use std::sync::Arc;

use sea_orm::DatabaseConnection;

use crate::{config::Config, token::TokenFormat};

pub use principal::{
    Actor, AdminClaim, AuthedCredential, CredentialKind, CustomerRef, Principal, RequestMeta,
};

/// The longest `/ready` waits for the database before it says not ready.
const READINESS_WAIT: std::time::Duration = std::time::Duration::from_millis(500);

/// Every service, shared by all requests.
#[derive(Clone)]
pub struct Services(Arc<Inner>);

/// The state behind [`Services`].
pub struct Inner {
    /// Only the services touch the database: an edge (a resolver, a handler) cannot.
    pub(in crate::domain) db: DatabaseConnection,
    /// Where verification reads: read-only connections beside the writer on SQLite.
    pub(in crate::domain) reads: DatabaseConnection,
    pub config: Arc<Config>,
    pub tokens: TokenFormat,
    pub verifier: verify::VerifyCache,
    pub usage: usage::UsageRecorder,
    pub verifications: analytics::VerificationRecorder,
    pub limiter: ratelimit::RateLimiter,
    /// This node's blocks of credits.
    pub credits: credits::CreditLeases,
    pub failures: ratelimit::FailureLimiter,
    /// Wakes this node's key event streams.
    pub key_events: key_events::KeyEventWake,
    /// The one source of the time for services and limiters.
    pub clock: clock::Clock,
    /// Sends webhooks ([`webhooks::client`]).
    pub(in crate::domain) webhook_client: reqwest::Client,
    /// Sends email, when the server has SMTP.
    pub(in crate::domain) mailer: Option<email::Mailer>,
    /// The keys that sign secret-scanning reports, as fetched.
    pub(in crate::domain) scanning_keys: leaks::ScanningKeys,
    /// When buffered usage was last written.
    last_flush: std::sync::Mutex<std::time::Instant>,
    /// Held while buffered counts are written.
    flushing: tokio::sync::Mutex<()>,
}

impl std::ops::Deref for Services {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl Services {
    /// Whether the database answers, and whether every migration is applied (`/ready`).
    pub async fn readiness(&self) -> (bool, bool) {
        // Answered at once when the database is away, not after the pool's whole wait.
        let check = async {
            let answers = self.db.ping().await.is_ok();
            let migrated = answers
                && crate::db::migrations_applied(&self.db)
                    .await
                    .unwrap_or(false);
            (answers, migrated)
        };
        tokio::time::timeout(READINESS_WAIT, check)
            .await
            .unwrap_or((false, false))
    }

    /// Writes the buffered usage counts and verification analytics. One flush at a
    /// time: when this returns, everything counted before the call is written.
    pub async fn flush_usage(&self) -> crate::error::AppResult<usize> {
        let _one_at_a_time = self.flushing.lock().await;
        let usage = self.usage.take();
        let verifications = self.verifications.take(self.clock.now());
        let written = usage.len() + verifications.len();
        if written > 0
            && let Err(e) = self.write_counts(&usage, &verifications).await
        {
            self.usage.put_back(usage);
            self.verifications.put_back(verifications);
            return Err(e);
        }
        *self.last_flush.lock().unwrap_or_else(|e| e.into_inner()) = std::time::Instant::now();
        Ok(written)
    }

    /// Gives back the credits this node holds of pools idle here for `idle` (all, with
    /// zero: at shutdown).
    pub async fn give_back_credits(
        &self,
        idle: std::time::Duration,
    ) -> crate::error::AppResult<()> {
        self.credits.give_back_idle(&self.db, idle).await
    }

    /// Writes usage and verification counts in one transaction: one commit a flush.
    async fn write_counts(
        &self,
        usage: &usage::UsageBatch,
        verifications: &analytics::VerificationBatch,
    ) -> crate::error::AppResult<()> {
        use sea_orm::TransactionTrait;
        let txn = self.db.begin().await?;
        usage::write(&txn, usage).await?;
        analytics::write(&txn, verifications).await?;
        txn.commit().await?;
        Ok(())
    }

    /// Sets the gauges and totals read from state when `/metrics` is scraped: the
    /// verification cache, the database pool and how long ago usage was last written.
    pub fn record_state_metrics(&self) {
        use metrics::{counter, gauge};
        counter!("keyward_verify_cache_hits_total").absolute(self.verifier.hits());
        counter!("keyward_verify_cache_misses_total").absolute(self.verifier.lookups());
        gauge!("keyward_verify_cache_entries").set(self.verifier.entries() as f64);
        gauge!("keyward_verify_cache_trusted").set(f64::from(u8::from(self.verifier.is_trusted())));
        let since_flush = self
            .last_flush
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .elapsed();
        gauge!("keyward_usage_flush_lag_seconds").set(since_flush.as_secs_f64());
        let (size, idle) = match self.db.get_database_backend() {
            sea_orm::DbBackend::Postgres => {
                let pool = self.db.get_postgres_connection_pool();
                (pool.size(), pool.num_idle())
            }
            sea_orm::DbBackend::Sqlite => {
                let pool = self.db.get_sqlite_connection_pool();
                (pool.size(), pool.num_idle())
            }
            _ => (0, 0),
        };
        gauge!("keyward_db_pool_connections", "state" => "idle").set(idle as f64);
        gauge!("keyward_db_pool_connections", "state" => "in_use")
            .set(f64::from(size).max(idle as f64) - idle as f64);
    }

    /// Closes the database pools (shutdown).
    pub async fn close(&self) {
        let _ = self.reads.clone().close().await;
        let _ = self.db.clone().close().await;
    }

    /// `sqlite` or `postgres`.
    pub fn database_backend(&self) -> &'static str {
        crate::db::backend_name(&self.db)
    }

    /// The database itself, for tests that look behind the API (`test-support` feature,
    /// which only the integration tests turn on).
    #[cfg(feature = "test-support")]
    pub fn test_db(&self) -> &DatabaseConnection {
        &self.db
    }

    /// Builds the services over an open, migrated database.
    pub async fn new(db: DatabaseConnection, config: Arc<Config>) -> Result<Self, String> {
        let tokens = TokenFormat::with_tags(&config.token_prefix, config.token_tags.clone())
            .map_err(|e| format!("token_prefix: {e}"))?
            .with_random_len(config.token_random_length)
            .map_err(|e| format!("token_random_length: {e}"))?;
        let clock = clock::Clock::system();
        let verifier = verify::VerifyCache::new(config.verify_cache_ttl, clock.clone());
        // On a shared database the cache is trusted only once this node hears the others.
        if crate::db::backend_name(&db) == "postgres" {
            verifier.set_trusted(false);
        }
        let credits = credits::CreditLeases::new(clock.clone());
        // Likewise, blocks of credits are spent from memory only once it hears them.
        if crate::db::backend_name(&db) == "postgres" {
            credits.stop_hearing();
        }
        verifier
            .load_import_prefixes(&db)
            .await
            .map_err(|e| format!("loading imported key prefixes: {e}"))?;
        let reads = crate::db::connect_readers(&config.database_url, &db)
            .await
            .map_err(|e| format!("opening the readers: {e}"))?;
        Ok(Self(Arc::new(Inner {
            db,
            reads,
            tokens,
            verifier,
            usage: usage::UsageRecorder::default(),
            verifications: analytics::VerificationRecorder::default(),
            limiter: ratelimit::RateLimiter::new(
                clock.clone(),
                config.redis_url.as_ref().map(|u| u.expose()),
            )?,
            failures: ratelimit::FailureLimiter::new(clock.clone()),
            key_events: key_events::KeyEventWake::default(),
            webhook_client: webhooks::client(config.webhooks_allow_private)?,
            scanning_keys: leaks::ScanningKeys::new()?,
            mailer: config.smtp.as_ref().map(email::Mailer::new).transpose()?,
            credits,
            clock,
            last_flush: std::sync::Mutex::new(std::time::Instant::now()),
            flushing: tokio::sync::Mutex::new(()),
            config,
        })))
    }
}

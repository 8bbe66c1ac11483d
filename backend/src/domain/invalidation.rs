//! Keeping every node's verification cache true (SPEC §12): a change that affects
//! verification drops the entry on this node before the changing call returns, and on
//! PostgreSQL is announced to every other node with `NOTIFY` in the same transaction, so
//! it is heard exactly when it commits.
//!
//! Each node listens on a connection of its own. Until it listens, and whenever that
//! connection drops, the node does not trust its cache (every verification reads the
//! database); once it listens again it starts from an empty cache, since whatever was
//! announced in the gap is lost. On SQLite the one process is the only node.

use std::time::Duration;

use sea_orm::{
    ConnectionTrait, DatabaseTransaction, DbBackend, Statement,
    sqlx::postgres::{PgConnectOptions, PgListener, PgPool, PgPoolOptions},
};
use tokio::sync::watch;

use super::Services;
use crate::{error::AppResult, token::TokenHash};

/// The channel invalidations travel on.
pub const CHANNEL: &str = "keyward_verification_cache";

/// The `application_name` of each node's listening connection.
pub const LISTENER_NAME: &str = "keyward-invalidations";
/// The `application_name` of the connection each node sends its heartbeats on.
pub const HEARTBEAT_NAME: &str = "keyward-heartbeat";

/// What a change makes stale.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Invalidation {
    /// One credential, by its hash.
    Credential(TokenHash),
    /// Everything: a user's suspension or profile, which reach every organization.
    Everything,
    /// Everything, for a change within one organization (its roles, members, service
    /// accounts, settings, names): every node drops everything, and the organization's
    /// key streams reset.
    Organization(uuid::Uuid),
    /// Not a change of a cached record: an imported key's prefix is new, so every node
    /// reads the list of imported prefixes again.
    ImportPrefixes,
    /// A credit pool was set outright or removed: every node drops its block of it.
    Credits(uuid::Uuid),
    /// Several of the above.
    Several(Vec<Invalidation>),
}

/// The wall clock, not the server's injected one: the delay metric measures how long a
/// message really took between two processes.
fn unix_millis() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

impl Invalidation {
    /// The message: what, and when it was sent (Unix milliseconds), for the delay metric.
    fn payload(&self) -> String {
        let what = match self {
            Self::Credential(hash) => format!("credential:{}", hash.as_str()),
            // The other nodes drop everything; the stream's reset is in the database.
            Self::Everything | Self::Organization(_) => "everything".into(),
            Self::ImportPrefixes => "import-prefixes".into(),
            Self::Credits(owner) => format!("credits:{owner}"),
            // Sent one by one (see `commit_invalidating`).
            Self::Several(_) => "everything".into(),
        };
        format!("{what}@{}", unix_millis())
    }

    /// Reads a message: what it invalidates and when it was sent.
    fn read(payload: &str) -> (Self, Option<i64>) {
        match payload.rsplit_once('@') {
            Some((what, sent)) => (Self::parse(what), sent.parse().ok()),
            None => (Self::parse(payload), None),
        }
    }

    /// Reads what a message invalidates; anything else is [`Invalidation::Everything`],
    /// so a message this node does not understand still drops what might be stale.
    fn parse(payload: &str) -> Self {
        if payload == "import-prefixes" {
            return Self::ImportPrefixes;
        }
        if let Some(owner) = payload.strip_prefix("credits:") {
            return match owner.parse() {
                Ok(owner) => Self::Credits(owner),
                Err(_) => Self::Everything,
            };
        }
        match payload.strip_prefix("credential:") {
            Some(hash) if hash.len() == 64 && hash.bytes().all(|b| b.is_ascii_hexdigit()) => {
                Self::Credential(TokenHash::from_stored(hash))
            }
            _ => Self::Everything,
        }
    }
}

impl Services {
    /// Commits `txn` with what it makes stale: announced to the other nodes when the
    /// transaction commits, dropped here before this returns.
    pub(in crate::domain) async fn commit_invalidating(
        &self,
        txn: DatabaseTransaction,
        what: Invalidation,
    ) -> AppResult<()> {
        super::key_events::record(&txn, &what, self.clock.now()).await?;
        if txn.get_database_backend() == DbBackend::Postgres {
            let each = match &what {
                Invalidation::Several(list) => list.iter().collect(),
                one => vec![one],
            };
            for one in each {
                txn.execute_raw(Statement::from_sql_and_values(
                    DbBackend::Postgres,
                    "SELECT pg_notify($1, $2)",
                    [CHANNEL.into(), one.payload().into()],
                ))
                .await?;
            }
        }
        let committed = txn.commit().await;
        // Dropped whatever the commit answered: a commit reported failed may have
        // happened, and a stale entry is worse than a reread one.
        self.forget(&what).await;
        committed?;
        Ok(())
    }

    /// Sends a heartbeat on the channel over `sender`, a connection of its own: the
    /// listener must hear it back, or its connection is taken for dead. Not through the
    /// shared pool, where a burst of slow requests holding every connection would look
    /// like a dead listener and empty the cache just when the database is busiest.
    async fn ping(sender: &PgPool, token: &str) -> Result<(), sea_orm::sqlx::Error> {
        sea_orm::sqlx::query("SELECT pg_notify($1, $2)")
            .bind(CHANNEL)
            .bind(format!("ping:{token}"))
            .execute(sender)
            .await?;
        Ok(())
    }

    async fn forget(&self, what: &Invalidation) {
        self.drop_stale(what).await;
        // Only once the stale entries are gone: a woken stream checks its own credential
        // again, and must not find it in the cache as it was.
        if !matches!(
            what,
            Invalidation::ImportPrefixes | Invalidation::Credits(_)
        ) {
            self.key_events.wake();
        }
    }

    async fn drop_stale(&self, what: &Invalidation) {
        match what {
            Invalidation::Credits(owner) => self.credits.forget(*owner),
            Invalidation::Several(list) => {
                for one in list {
                    Box::pin(self.drop_stale(one)).await;
                }
            }
            Invalidation::Credential(hash) => self.verifier.invalidate(hash),
            Invalidation::Everything | Invalidation::Organization(_) => {
                self.verifier.invalidate_all();
            }
            Invalidation::ImportPrefixes => {
                self.verifier.forget_all_absent();
                self.reload_import_prefixes().await;
            }
        }
    }

    async fn reload_import_prefixes(&self) {
        if let Err(e) = self.verifier.load_import_prefixes(&self.db).await {
            tracing::warn!(error = %e, "could not read the imported key prefixes");
        }
    }

    /// Whether this node must hear other nodes' invalidations before trusting its cache.
    pub fn shares_its_database(&self) -> bool {
        crate::db::backend_name(&self.db) == "postgres"
    }

    /// Listens for other nodes' invalidations until `stop` changes (PostgreSQL only),
    /// reconnecting after a failure; the cache is trusted only while listening (and what
    /// it holds served for a bounded grace after the connection is lost). A
    /// heartbeat sent on a connection of its own every `invalidation_heartbeat` (10
    /// seconds) must come back within half of that, so a connection that died without a
    /// word (a dropped NAT entry, a pooler that never forwards) is noticed too.
    pub async fn listen_for_invalidations(&self, mut stop: watch::Receiver<bool>) {
        if !self.shares_its_database() {
            return;
        }
        self.verifier.set_trusted(false);
        self.credits.stop_hearing();
        let node = crate::domain::ids::new_id().simple().to_string();
        let mut backoff = Duration::from_millis(100);
        let mut beat: u64 = 0;
        loop {
            let listener = tokio::select! {
                listener = self.listen() => listener,
                _ = stop.changed() => return,
            };
            let (listener, sender) = match listener {
                Ok(both) => both,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot listen for cache invalidations; verifying from the database meanwhile");
                    tokio::select! {
                        () = tokio::time::sleep(backoff) => {}
                        _ = stop.changed() => return,
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                    continue;
                }
            };
            backoff = Duration::from_millis(100);
            // Whatever was announced before now is unknown: start empty, and read the
            // imported prefixes again.
            self.reload_import_prefixes().await;
            self.verifier.set_trusted(true);
            self.credits.start_hearing();
            // Events written while no notify was heard: streams read them now.
            self.key_events.wake();
            tracing::debug!("listening for cache invalidations");
            let every = self.config.invalidation_heartbeat;
            let timeout = every / 2;
            let mut heartbeat = tokio::time::interval(every);
            heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            // Receiving is not cancel-safe: a task of its own owns the connection and
            // hands each message over (`None`: the connection is gone).
            let (messages, mut inbox) = tokio::sync::mpsc::channel::<Option<String>>(1024);
            let reader = tokio::spawn(receive(listener, messages));
            // The heartbeat waited for, and by when it must be back.
            let mut awaited: Option<(String, tokio::time::Instant)> = None;
            loop {
                let deadline = awaited.as_ref().map(|(_, by)| *by);
                tokio::select! {
                    message = inbox.recv() => match message {
                        Some(Some(payload)) => {
                            let payload = payload.as_str();
                            if let Some(token) = payload.strip_prefix("ping:") {
                                if awaited.as_ref().is_some_and(|(t, _)| t == token) {
                                    awaited = None;
                                }
                                continue;
                            }
                            let (what, sent) = Invalidation::read(payload);
                            self.forget(&what).await;
                            metrics::counter!(crate::telemetry::INVALIDATIONS).increment(1);
                            if let Some(sent) = sent {
                                let delay = (unix_millis() - sent).max(0) as f64 / 1000.0;
                                metrics::histogram!(crate::telemetry::INVALIDATION_DELAY).record(delay);
                            }
                        }
                        Some(None) | None => {
                            tracing::warn!("lost the invalidation listener; verifying from the database until it is back");
                            break;
                        }
                    },
                    _ = heartbeat.tick(), if awaited.is_none() => {
                        beat += 1;
                        let token = format!("{node}:{beat}");
                        // Bounded: a database that stops answering must not stall this loop
                        // with the cache still trusted.
                        match tokio::time::timeout(timeout, Self::ping(&sender, &token)).await {
                            Ok(Ok(())) => awaited = Some((token, tokio::time::Instant::now() + timeout)),
                            Ok(Err(e)) => {
                                tracing::warn!(error = %e, "cannot send the invalidation heartbeat");
                                break;
                            }
                            Err(_) => {
                                tracing::warn!("the invalidation heartbeat could not be sent in time");
                                break;
                            }
                        }
                    }
                    () = async { tokio::time::sleep_until(deadline.unwrap_or_else(tokio::time::Instant::now)).await }, if deadline.is_some() => {
                        tracing::warn!("the invalidation heartbeat did not come back; listening again");
                        break;
                    }
                    _ = stop.changed() => {
                        reader.abort();
                        return;
                    }
                }
            }
            reader.abort();
            // What is held may have changed unseen from now on: served a few seconds
            // more at most, so verification of keys in use outlives a short outage.
            self.verifier.stop_hearing();
            self.credits.stop_hearing();
        }
    }

    /// The listening connection, and the one heartbeats are sent on.
    async fn listen(&self) -> Result<(PgListener, PgPool), sea_orm::sqlx::Error> {
        let options: PgConnectOptions = self.config.database_url.parse()?;
        let one = |name: &'static str| {
            PgPoolOptions::new()
                .max_connections(1)
                .min_connections(0)
                .acquire_timeout(self.config.invalidation_heartbeat / 2)
                .connect_with(options.clone().application_name(name))
        };
        let pool = one(LISTENER_NAME).await?;
        let mut listener = PgListener::connect_with(&pool).await?;
        // This loop reconnects by itself, distrusting the cache first; a silent
        // reconnect inside the listener would hide the gap.
        listener.eager_reconnect(false);
        listener.listen(CHANNEL).await?;
        Ok((listener, one(HEARTBEAT_NAME).await?))
    }
}

/// Hands every notification `listener` receives to `messages`, then `None` once its
/// connection is lost.
async fn receive(mut listener: PgListener, messages: tokio::sync::mpsc::Sender<Option<String>>) {
    loop {
        let message = match listener.try_recv().await {
            Ok(Some(n)) => Some(n.payload().to_owned()),
            Ok(None) | Err(_) => None,
        };
        let lost = message.is_none();
        if messages.send(message).await.is_err() || lost {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_round_trip_and_anything_unknown_drops_everything() {
        let hash = TokenHash::of("kw_sk_live_example");
        let one = Invalidation::Credential(hash);
        let (read, sent) = Invalidation::read(&one.payload());
        assert_eq!(read, one);
        assert!(sent.is_some_and(|t| (unix_millis() - t).abs() < 60_000));
        assert_eq!(
            Invalidation::read(&Invalidation::Everything.payload()).0,
            Invalidation::Everything
        );
        assert_eq!(
            Invalidation::read(&Invalidation::ImportPrefixes.payload()).0,
            Invalidation::ImportPrefixes
        );
        for odd in ["", "credential:", "credential:xyz", "something new"] {
            assert_eq!(Invalidation::parse(odd), Invalidation::Everything);
        }
    }
}

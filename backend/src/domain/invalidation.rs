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
    sqlx::postgres::{PgConnectOptions, PgListener, PgPoolOptions},
};
use tokio::sync::watch;

use super::Services;
use crate::{error::AppResult, token::TokenHash};

/// The channel invalidations travel on.
pub const CHANNEL: &str = "keyward_verification_cache";

/// The `application_name` of each node's listening connection.
pub const LISTENER_NAME: &str = "keyward-invalidations";

/// What a change makes stale.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Invalidation {
    /// One credential, by its hash.
    Credential(TokenHash),
    /// Everything: suspensions, role and membership changes, service accounts.
    Everything,
}

impl Invalidation {
    fn payload(&self) -> String {
        match self {
            Self::Credential(hash) => format!("credential:{}", hash.as_str()),
            Self::Everything => "everything".into(),
        }
    }

    /// Reads a payload; anything else is treated as [`Invalidation::Everything`], so a
    /// message this node does not understand still drops what might be stale.
    fn parse(payload: &str) -> Self {
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
        if txn.get_database_backend() == DbBackend::Postgres {
            txn.execute_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "SELECT pg_notify($1, $2)",
                [CHANNEL.into(), what.payload().into()],
            ))
            .await?;
        }
        txn.commit().await?;
        self.forget(&what);
        Ok(())
    }

    fn forget(&self, what: &Invalidation) {
        match what {
            Invalidation::Credential(hash) => self.verifier.invalidate(hash),
            Invalidation::Everything => self.verifier.invalidate_all(),
        }
    }

    /// Whether this node must hear other nodes' invalidations before trusting its cache.
    pub fn shares_its_database(&self) -> bool {
        crate::db::backend_name(&self.db) == "postgres"
    }

    /// Listens for other nodes' invalidations until `stop` changes (PostgreSQL only),
    /// reconnecting after a failure; the cache is trusted only while listening.
    pub async fn listen_for_invalidations(&self, mut stop: watch::Receiver<bool>) {
        if !self.shares_its_database() {
            return;
        }
        self.verifier.set_trusted(false);
        let mut backoff = Duration::from_millis(100);
        loop {
            let listener = tokio::select! {
                listener = self.listen() => listener,
                _ = stop.changed() => return,
            };
            let mut listener = match listener {
                Ok(listener) => listener,
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
            // Whatever was announced before now is unknown: start empty.
            self.verifier.set_trusted(true);
            tracing::debug!("listening for cache invalidations");
            loop {
                tokio::select! {
                    message = listener.try_recv() => match message {
                        Ok(Some(n)) => self.forget(&Invalidation::parse(n.payload())),
                        Ok(None) | Err(_) => {
                            tracing::warn!("lost the invalidation listener; verifying from the database until it is back");
                            self.verifier.set_trusted(false);
                            break;
                        }
                    },
                    _ = stop.changed() => return,
                }
            }
        }
    }

    async fn listen(&self) -> Result<PgListener, sea_orm::sqlx::Error> {
        let options: PgConnectOptions = self.config.database_url.parse()?;
        let pool = PgPoolOptions::new()
            .max_connections(1)
            .min_connections(0)
            .connect_with(options.application_name(LISTENER_NAME))
            .await?;
        let mut listener = PgListener::connect_with(&pool).await?;
        listener.listen(CHANNEL).await?;
        Ok(listener)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_round_trip_and_anything_unknown_drops_everything() {
        let hash = TokenHash::of("kw_sk_live_example");
        let one = Invalidation::Credential(hash);
        assert_eq!(Invalidation::parse(&one.payload()), one);
        assert_eq!(
            Invalidation::parse(&Invalidation::Everything.payload()),
            Invalidation::Everything
        );
        for odd in ["", "credential:", "credential:xyz", "something new"] {
            assert_eq!(Invalidation::parse(odd), Invalidation::Everything);
        }
    }
}

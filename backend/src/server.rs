//! Running the server: start-up, the usage flusher (which also prunes the verification
//! log and forgets idle rate-limit state) and graceful shutdown.

use std::{net::SocketAddr, sync::Arc};

use base64::Engine;
use sea_orm::DatabaseConnection;
use tokio::{net::TcpListener, sync::watch, task::JoinHandle};
use tower_cookies::Key;

use crate::{
    app::router, config::Config, db, domain::Services, state::AppState, token::random_base62,
};

/// How often a node looks for webhook deliveries and emails that are due.
const WEBHOOK_POLL: std::time::Duration = std::time::Duration::from_millis(500);
const COOKIE_KEY_SETTING: &str = "cookie_key";

/// The cookie key from configuration, or the one kept in the database (made on first start).
pub async fn cookie_key(config: &Config, db: &DatabaseConnection) -> Result<Key, String> {
    let engine = base64::engine::general_purpose::STANDARD;
    if let Some(secret) = &config.cookie_key {
        let bytes = engine
            .decode(secret.expose().trim())
            .map_err(|_| "cookie_key: must be base64".to_owned())?;
        return Key::try_from(bytes.as_slice())
            .map_err(|_| "cookie_key: must hold at least 64 bytes".to_owned());
    }
    let encoded = db::stored_secret(db, COOKIE_KEY_SETTING, || {
        random_base62(96).map(|material| engine.encode(material.as_bytes()))
    })
    .await?;
    let bytes = engine
        .decode(encoded)
        .map_err(|_| "stored cookie key is damaged".to_owned())?;
    Key::try_from(bytes.as_slice()).map_err(|_| "stored cookie key is too short".to_owned())
}

/// A running server.
pub struct Running {
    pub addr: SocketAddr,
    pub services: Services,
    shutdown: watch::Sender<bool>,
    task: JoinHandle<()>,
    /// The carried dashboard, unpacked for serving; removed when the server is dropped.
    _dashboard: Option<tempfile::TempDir>,
}

impl Running {
    /// Stops accepting, drains requests, flushes usage and closes the pool.
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        let _ = self.task.await;
    }
}

/// Connects, migrates and starts serving on `config.listen`.
pub async fn start(config: Config) -> Result<Running, String> {
    let listener = TcpListener::bind(config.listen)
        .await
        .map_err(|e| format!("listen on {}: {e}", config.listen))?;
    start_on(config, listener).await
}

/// Connects, migrates and starts serving on an already bound listener.
pub async fn start_on(mut config: Config, listener: TcpListener) -> Result<Running, String> {
    let db = db::connect_and_migrate(&config.database_url)
        .await
        .map_err(|e| format!("database: {e}"))?;
    let key = cookie_key(&config, &db).await?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    // With an OS-chosen port, the default public URL names the port actually bound.
    if config.public_url == format!("http://{}", config.listen) {
        config.public_url = format!("http://{addr}");
    }
    let unpacked = if config.dashboard_dir.is_none() && config.carried_dashboard {
        crate::dashboard::unpack()?
    } else {
        None
    };
    if let Some(dir) = &unpacked {
        config.dashboard_dir = Some(dir.path().to_path_buf());
    }
    let config = Arc::new(config);
    crate::metrics::handle();
    let services = Services::new(db, config.clone()).await?;
    let app = router(AppState::new(services.clone(), key)?);
    let (shutdown, mut stop) = watch::channel(false);

    let flusher = {
        let services = services.clone();
        let mut stop = shutdown.subscribe();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(services.config.usage_flush_interval);
            let mut prune = tokio::time::interval(std::time::Duration::from_secs(600));
            let mut idle = tokio::time::interval(std::time::Duration::from_secs(60));
            loop {
                tokio::select! {
                    _ = tick.tick() => {
                        if let Err(e) = services.flush_usage().await {
                            tracing::warn!(error = %e, "usage flush failed; will retry");
                        }
                        if let Err(e) = services.give_back_credits(crate::domain::credits::IDLE_RETURN).await {
                            tracing::warn!(error = %e, "giving back idle credits failed; will retry");
                        }
                    }
                    _ = prune.tick() => {
                        match services.prune_verification_log().await {
                            Ok(0) => {}
                            Ok(n) => tracing::info!(removed = n, "verification log pruned"),
                            Err(e) => tracing::warn!(error = %e, "verification log pruning failed"),
                        }
                        match services.prune_key_events().await {
                            Ok(0) => {}
                            Ok(n) => tracing::info!(removed = n, "key events pruned"),
                            Err(e) => tracing::warn!(error = %e, "key event pruning failed"),
                        }
                        match services.prune_webhooks().await {
                            Ok(0) => {}
                            Ok(n) => tracing::info!(removed = n, "webhook deliveries pruned"),
                            Err(e) => tracing::warn!(error = %e, "webhook pruning failed"),
                        }
                        match services.prune_emails().await {
                            Ok(0) => {}
                            Ok(n) => tracing::info!(removed = n, "sent email pruned"),
                            Err(e) => tracing::warn!(error = %e, "email pruning failed"),
                        }
                    }
                    _ = idle.tick() => {
                        services.limiter.forget_idle();
                        services.failures.forget_idle();
                    }
                    _ = stop.changed() => break,
                }
            }
        })
    };

    // Works off the webhook outbox, and announces keys about to expire.
    let webhooks = {
        let services = services.clone();
        let mut stop = shutdown.subscribe();
        tokio::spawn(async move {
            let mut send = tokio::time::interval(WEBHOOK_POLL);
            send.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut expiring = tokio::time::interval(std::time::Duration::from_secs(300));
            loop {
                tokio::select! {
                    _ = send.tick() => {
                        if let Err(e) = services.send_due_webhooks().await {
                            tracing::warn!(error = %e, "sending webhooks failed; will retry");
                        }
                    }
                    _ = expiring.tick() => {
                        if let Err(e) = services.announce_expiring_keys().await {
                            tracing::warn!(error = %e, "announcing expiring keys failed; will retry");
                        }
                    }
                    _ = stop.changed() => break,
                }
            }
        })
    };

    // Works off the email outbox, apart from webhooks: endpoints slow to answer delay
    // no email.
    let emails = {
        let services = services.clone();
        let mut stop = shutdown.subscribe();
        tokio::spawn(async move {
            let mut send = tokio::time::interval(WEBHOOK_POLL);
            send.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = send.tick() => {
                        if let Err(e) = services.send_due_emails().await {
                            tracing::warn!(error = %e, "sending email failed; will retry");
                        }
                    }
                    _ = stop.changed() => break,
                }
            }
        })
    };

    let invalidations = {
        let services = services.clone();
        let stop = shutdown.subscribe();
        tokio::spawn(async move { services.listen_for_invalidations(stop).await })
    };

    let task = {
        let services = services.clone();
        let streams = services.clone();
        tokio::spawn(async move {
            let server = axum::serve(
                listener,
                app.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .with_graceful_shutdown(async move {
                let _ = stop.changed().await;
                // Open key event streams end, or the drain would wait for them forever.
                streams.key_events.close();
            });
            if let Err(e) = server.await {
                tracing::error!(error = %e, "server error");
            }
            let _ = flusher.await;
            let _ = webhooks.await;
            let _ = emails.await;
            let _ = invalidations.await;
            if let Err(e) = services.flush_usage().await {
                tracing::error!(error = %e, "final usage flush failed");
            }
            if let Err(e) = services.give_back_credits(std::time::Duration::ZERO).await {
                tracing::error!(error = %e, "giving back held credits failed");
            }
            services.close().await;
        })
    };
    Ok(Running {
        addr,
        services,
        shutdown,
        task,
        _dashboard: unpacked,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn nodes_starting_together_share_one_cookie_key() {
        let db = db::connect_and_migrate("sqlite::memory:").await.unwrap();
        let config = Config::for_tests("sqlite::memory:");
        let mut config = config;
        config.cookie_key = None;
        let (a, b) = tokio::join!(cookie_key(&config, &db), cookie_key(&config, &db));
        assert_eq!(a.unwrap().master(), b.unwrap().master());
    }
}

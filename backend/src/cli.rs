//! The `keyward-server` command line: serve, migrate, bootstrap, signin-link, schema,
//! openapi, audit-verify.

use std::{io::Write, process::ExitCode};

use clap::Parser;
use tracing_subscriber::EnvFilter;

use crate::{
    config::{Cli, Command, Config, DevSignin, LogFormat},
    db,
    domain::Services,
    graphql, server,
};

fn init_logging(format: LogFormat) {
    let filter = EnvFilter::try_from_env("KEYWARD_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}

/// Runs the process: parses the command line, sets up logging and runs the command.
pub async fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = match Config::load(cli.settings) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("keyward-server: configuration error: {e}");
            return ExitCode::from(2);
        }
    };
    init_logging(config.log_format);
    let result = match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(config).await,
        other => run(other, config, &mut std::io::stdout()).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("keyward-server: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Runs one of the commands that end by themselves, writing their output to `out`.
pub async fn run(command: Command, config: Config, out: &mut dyn Write) -> Result<(), String> {
    match command {
        Command::Serve => Err("`serve` runs until stopped".into()),
        Command::Migrate => db::connect_and_migrate(&config.database_url)
            .await
            .map(|_| eprintln!("migrations applied"))
            .map_err(|e| format!("database: {e}")),
        Command::Bootstrap {
            email,
            org,
            token_name,
        } => bootstrap(config, &email, org.as_deref(), &token_name, out).await,
        Command::SigninLink => signin_link(config, out).await,
        Command::Schema => writeln!(out, "{}", graphql::sdl()).map_err(|e| e.to_string()),
        Command::Openapi => {
            let json = crate::app::openapi()
                .to_pretty_json()
                .map_err(|e| format!("rendering the OpenAPI document: {e}"))?;
            writeln!(out, "{json}").map_err(|e| e.to_string())
        }
        Command::AuditVerify { file } => {
            // The configured key needs nothing else (offline); else the instance's own,
            // read from its database.
            // Checking never changes the database: no migration, no new key.
            let key = match crate::domain::audit::configured_key(&config) {
                Some(key) => key,
                None => {
                    let database = db::connect(&config.database_url)
                        .await
                        .map_err(|e| format!("database (for the audit key): {e}"))?;
                    db::read_secret(&database, crate::domain::audit::KEY_SETTING)
                        .await
                        .ok()
                        .flatten()
                        .ok_or("no audit key is configured or stored in this database: set KEYWARD_AUDIT_KEY_FILE, or KEYWARD_DATABASE_URL to the server's database")?
                        .into_bytes()
                }
            };
            let checked = if file.as_os_str() == "-" {
                crate::domain::audit::verify_export(std::io::stdin().lock(), &key)?
            } else {
                let f =
                    std::fs::File::open(&file).map_err(|e| format!("{}: {e}", file.display()))?;
                crate::domain::audit::verify_export(std::io::BufReader::new(f), &key)?
            };
            writeln!(
                out,
                "ok: {} events, the hash chain is whole and ends at the head signed {} ({} seq {})",
                checked.events, checked.head.signed_at, checked.head.chain, checked.head.seq
            )
            .map_err(|e| e.to_string())
        }
    }
}

async fn bootstrap(
    config: Config,
    email: &str,
    org: Option<&str>,
    token_name: &str,
    out: &mut dyn Write,
) -> Result<(), String> {
    let database = db::connect_and_migrate(&config.database_url)
        .await
        .map_err(|e| format!("database: {e}"))?;
    let services = Services::new(database, std::sync::Arc::new(config)).await?;
    let done = retry_busy(|| services.bootstrap(email, org, token_name)).await?;
    eprintln!(
        "{} is an instance admin and owner of \"{}\" (organization {}, project {}).",
        done.customer.email, done.organization.name, done.organization.id, done.project.id
    );
    eprintln!("Personal access token (shown once, valid 120 days):");
    writeln!(out, "{}", done.token.expose_secret()).map_err(|e| e.to_string())
}

/// Prints a fresh development sign-in link, offered through the configured database.
async fn signin_link(config: Config, out: &mut dyn Write) -> Result<(), String> {
    if !config.dev_signin_enabled() {
        return Err(if config.oidc.is_some() {
            "development sign-in is off: an identity provider is configured (KEYWARD_OIDC_ISSUER); sign in with it".into()
        } else if config.dev_signin == DevSignin::Off {
            "development sign-in is off (KEYWARD_DEV_SIGNIN=off)".into()
        } else {
            format!(
                "development sign-in is off because the server listens on {}, beyond loopback; set KEYWARD_DEV_SIGNIN=on to force it",
                config.listen
            )
        });
    }
    let database = db::connect_and_migrate(&config.database_url)
        .await
        .map_err(|e| format!("database: {e}"))?;
    let services = Services::new(database, std::sync::Arc::new(config)).await?;
    let link = retry_busy(|| services.offer_dev_signin()).await?;
    eprintln!(
        "Development sign-in link (one use, valid one hour), for the server on this database:"
    );
    writeln!(out, "{link}").map_err(|e| e.to_string())
}

/// Runs `attempt` again while SQLite answers "database is locked": a running server
/// writes too (usage, every second), and a transaction of this process that read before
/// the server's commit cannot write after it, which SQLite's busy wait does not cover.
async fn retry_busy<T, F, Fut>(mut attempt: F) -> Result<T, String>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = crate::error::AppResult<T>>,
{
    let mut tries = 0;
    loop {
        match attempt().await {
            Ok(done) => return Ok(done),
            Err(crate::error::AppError::Internal(cause))
                if tries < 20 && is_busy(cause.as_ref()) =>
            {
                tries += 1;
                tokio::time::sleep(std::time::Duration::from_millis(25 * tries)).await;
            }
            Err(e) => return Err(e.to_string()),
        }
    }
}

/// Whether an error is SQLite's "database is locked" (another connection committed).
fn is_busy(cause: &(dyn std::error::Error + 'static)) -> bool {
    let mut next = Some(cause);
    while let Some(err) = next {
        if err.to_string().contains("database is locked") {
            return true;
        }
        next = err.source();
    }
    false
}

async fn serve(config: Config) -> Result<(), String> {
    let dev_signin = config.dev_signin_enabled();
    if !dev_signin && config.oidc.is_none() && config.dev_signin != DevSignin::Off {
        tracing::warn!(
            listen = %config.listen,
            "development sign-in is off on a non-loopback address; set KEYWARD_DEV_SIGNIN=on to force it"
        );
    }
    let running = server::start(config).await?;
    tracing::info!(
        addr = %running.addr,
        database = running.services.database_backend(),
        "Keyward is listening"
    );
    if dev_signin {
        let link = running
            .services
            .offer_dev_signin()
            .await
            .map_err(|e| e.to_string())?;
        eprintln!(
            "\nDevelopment sign-in (one use, valid one hour): {link}\nFor a new link later: keyward-server signin-link (with the same settings)\n"
        );
    }
    shutdown_signal().await;
    tracing::info!("shutting down: draining requests and flushing usage");
    running.shutdown().await;
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
}

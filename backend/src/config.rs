//! Configuration: command-line flags, then `KEYWARD_*` environment variables, then an
//! optional TOML file (`--config`), then defaults. Unknown keys in the file are an error.
//! Secrets are held in [`Secret`], whose `Debug` is redacted.

use std::{fmt, net::SocketAddr, path::PathBuf, time::Duration};

use clap::{Args, Parser, Subcommand, ValueEnum};
use serde::Deserialize;

/// A configuration value that must never be printed.
#[derive(Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[REDACTED]")
    }
}

impl std::str::FromStr for Secret {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Self(s.to_owned()))
    }
}

/// Whether the development sign-in link is offered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DevSignin {
    /// On when no OIDC issuer is configured and the server listens on loopback.
    #[default]
    Auto,
    /// On even on a non-loopback address (never with an OIDC issuer).
    On,
    /// Off.
    Off,
}

/// A bound that must be at least 1, or its default.
fn positive(name: &str, value: Option<u32>, default: u32) -> Result<u32, String> {
    match value {
        Some(0) => Err(format!("{name}: must be at least 1")),
        Some(v) => Ok(v),
        None => Ok(default),
    }
}

/// How opaque (non-JWT) access tokens of the identity provider are checked (SPEC §6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OpaqueTokens {
    /// By token introspection (RFC 7662), accepted only when issued for Keyward (its
    /// client id or audience); refused when the provider offers no introspection.
    #[default]
    Introspection,
    /// At the provider's UserInfo endpoint, which answers for a token of any of the
    /// provider's clients: every application at the provider is trusted with Keyward.
    Userinfo,
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

/// `keyward-server` command line.
#[derive(Debug, Parser)]
#[command(
    name = "keyward-server",
    version,
    about = "Keyward: API keys, tokens and sign-in for API products"
)]
pub struct Cli {
    #[command(flatten)]
    pub settings: Settings,
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// What to do; serving is the default.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server (the default).
    Serve,
    /// Apply database migrations and exit.
    Migrate,
    /// Create or find a customer, make them an instance admin, give them an organization
    /// and project, and print a new personal access token on stdout.
    Bootstrap {
        /// The customer's email address.
        #[arg(long)]
        email: String,
        /// The organization to create or reuse (default: "<email's name>'s organization").
        #[arg(long)]
        org: Option<String>,
        /// The token's name.
        #[arg(long, default_value = "bootstrap")]
        token_name: String,
    },
    /// Print a fresh one-time development sign-in link (valid one hour) on stdout. It is
    /// kept in the configured database, so a server running on it (give this command the
    /// same settings) accepts it; the way back in after signing out.
    SigninLink,
    /// Print the GraphQL schema (SDL) and exit.
    Schema,
    /// Print the REST surface's OpenAPI 3.1 document (as served at `/api/v1/openapi.json`)
    /// and exit.
    Openapi,
    /// Check an audit export (JSON Lines, `-` for stdin) with the audit key
    /// (`KEYWARD_AUDIT_KEY[_FILE]`, else the one in the database): exits 0 when the hash
    /// chain is whole and ends at the signed head, 1 when an event was edited, removed,
    /// added or reordered, events were cut from the end, or the head is missing or forged.
    AuditVerify {
        /// The exported file.
        file: std::path::PathBuf,
    },
}

/// Settings given by flag or environment; every one may also come from the TOML file.
#[derive(Debug, Default, Clone, Args, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// TOML file with further settings (the same names in snake_case).
    #[arg(long, env = "KEYWARD_CONFIG", global = true)]
    #[serde(skip)]
    pub config: Option<PathBuf>,
    /// Address to listen on [default: 127.0.0.1:8080].
    #[arg(long, env = "KEYWARD_LISTEN", global = true)]
    pub listen: Option<SocketAddr>,
    /// URL users reach the server at [default: http://<listen>].
    #[arg(long, env = "KEYWARD_PUBLIC_URL", global = true)]
    pub public_url: Option<String>,
    /// Database URL: sqlite://… or postgres://… [default: sqlite://keyward.db?mode=rwc, a file
    /// in the working directory, created when missing].
    #[arg(long, env = "KEYWARD_DATABASE_URL", global = true)]
    pub database_url: Option<String>,
    /// Deployment token prefix, e.g. `kici` gives `kici_sk_live_…` [default: kw].
    #[arg(long, env = "KEYWARD_TOKEN_PREFIX", global = true)]
    pub token_prefix: Option<String>,
    /// Tags after the prefix, per kind: `api_key_live=live,api_key_test=test,pat=pat,service_account=sa`
    /// gives `kv_live_…` [default: sk_live, sk_test, pat, sa].
    #[arg(long, env = "KEYWARD_TOKEN_TAGS", global = true)]
    pub token_tags: Option<String>,
    /// Random characters in each new token, 22 (131 bits) to 64 [default: 32]; with an
    /// empty tag, `kv_` + 26 random characters + the 6-character checksum is KV Cache
    /// Store's `kv_` + 32.
    #[arg(long, env = "KEYWARD_TOKEN_RANDOM_LENGTH", global = true)]
    pub token_random_length: Option<usize>,
    /// Cookie encryption key, base64 of at least 64 bytes [default: generated and stored].
    #[arg(
        long,
        env = "KEYWARD_COOKIE_KEY",
        global = true,
        hide_env_values = true
    )]
    pub cookie_key: Option<Secret>,
    /// File holding the cookie key.
    #[arg(long, env = "KEYWARD_COOKIE_KEY_FILE", global = true)]
    pub cookie_key_file: Option<PathBuf>,
    /// Key that signs audit exports (HMAC-SHA256), at least 32 characters
    /// [default: generated and stored].
    #[arg(long, env = "KEYWARD_AUDIT_KEY", global = true, hide_env_values = true)]
    pub audit_key: Option<Secret>,
    /// File holding the audit key: keep a copy to check exports offline.
    #[arg(long, env = "KEYWARD_AUDIT_KEY_FILE", global = true)]
    pub audit_key_file: Option<PathBuf>,
    /// OIDC issuer URL; enables sign-in through that provider.
    #[arg(long, env = "KEYWARD_OIDC_ISSUER", global = true)]
    pub oidc_issuer: Option<String>,
    /// OIDC client id.
    #[arg(long, env = "KEYWARD_OIDC_CLIENT_ID", global = true)]
    pub oidc_client_id: Option<String>,
    /// The audience JWT access tokens of the provider must name [default: the client id].
    #[arg(long, env = "KEYWARD_OIDC_AUDIENCE", global = true)]
    pub oidc_audience: Option<String>,
    /// How the provider's opaque access tokens are checked: introspection (only tokens
    /// issued for Keyward) or userinfo (a token of any client of the provider)
    /// [default: introspection].
    #[arg(long, env = "KEYWARD_OIDC_OPAQUE", global = true)]
    pub oidc_opaque: Option<OpaqueTokens>,
    /// Comma-separated starts of the provider's opaque access tokens (e.g. `ory_at_`):
    /// no organization may import keys under a prefix that overlaps them.
    #[arg(
        long,
        env = "KEYWARD_OIDC_TOKEN_PREFIXES",
        global = true,
        value_delimiter = ','
    )]
    pub oidc_token_prefixes: Option<Vec<String>>,
    /// OIDC client secret.
    #[arg(
        long,
        env = "KEYWARD_OIDC_CLIENT_SECRET",
        global = true,
        hide_env_values = true
    )]
    pub oidc_client_secret: Option<Secret>,
    /// File holding the OIDC client secret.
    #[arg(long, env = "KEYWARD_OIDC_CLIENT_SECRET_FILE", global = true)]
    pub oidc_client_secret_file: Option<PathBuf>,
    /// OIDC redirect URL registered at the provider [default: <public url>/auth/callback].
    #[arg(long, env = "KEYWARD_OIDC_REDIRECT_URL", global = true)]
    pub oidc_redirect_url: Option<String>,
    /// Extra OIDC scopes, comma-separated [default: email,profile; `openid` is always asked].
    #[arg(
        long,
        env = "KEYWARD_OIDC_SCOPES",
        global = true,
        value_delimiter = ','
    )]
    pub oidc_scopes: Option<Vec<String>>,
    /// Comma-separated emails of instance admins, matched against addresses the
    /// identity provider marks verified.
    #[arg(
        long,
        env = "KEYWARD_ADMIN_EMAILS",
        global = true,
        value_delimiter = ','
    )]
    pub admin_emails: Option<Vec<String>>,
    /// Most organizations a user may belong to when creating another [default: 100].
    #[arg(long, env = "KEYWARD_MAX_ORGANIZATIONS_PER_USER", global = true)]
    pub max_organizations_per_user: Option<u32>,
    /// Most service accounts an organization may have [default: 1000].
    #[arg(
        long,
        env = "KEYWARD_MAX_SERVICE_ACCOUNTS_PER_ORGANIZATION",
        global = true
    )]
    pub max_service_accounts_per_organization: Option<u32>,
    /// Comma-separated `alias=resource` spellings of resource names this deployment's
    /// docs use (`org=organization`), accepted wherever a scope is read.
    #[arg(
        long,
        env = "KEYWARD_SCOPE_ALIASES",
        global = true,
        value_delimiter = ','
    )]
    pub scope_aliases: Option<Vec<String>>,
    /// Most identities (customers of the product) an organization may have [default: 100000].
    #[arg(long, env = "KEYWARD_MAX_IDENTITIES_PER_ORGANIZATION", global = true)]
    pub max_identities_per_organization: Option<u32>,
    /// Comma-separated OIDC subjects (`sub`) of instance admins at the configured
    /// issuer, matched exactly.
    #[arg(
        long,
        env = "KEYWARD_ADMIN_SUBJECTS",
        global = true,
        value_delimiter = ','
    )]
    pub admin_subjects: Option<Vec<String>>,
    /// Development sign-in: auto, on or off [default: auto].
    #[arg(long, env = "KEYWARD_DEV_SIGNIN", global = true)]
    pub dev_signin: Option<DevSignin>,
    /// Directory of a built dashboard to serve instead of the one the binary carries
    /// (`trunk build` output; for dashboard development).
    #[arg(long, env = "KEYWARD_DASHBOARD_DIR", global = true)]
    pub dashboard_dir: Option<PathBuf>,
    /// Log format: text or json [default: text].
    #[arg(long, env = "KEYWARD_LOG_FORMAT", global = true)]
    pub log_format: Option<LogFormat>,
    /// Comma-separated addresses of reverse proxies whose `X-Forwarded-For` is believed
    /// (for audit IPs and per-address limits) [default: none].
    #[arg(
        long,
        env = "KEYWARD_TRUSTED_PROXIES",
        global = true,
        value_delimiter = ','
    )]
    pub trusted_proxies: Option<Vec<std::net::IpAddr>>,
    /// Longest lifetime of a personal access token, in days; organizations may only lower
    /// it [default: 366].
    #[arg(long, env = "KEYWARD_PAT_MAX_LIFETIME_DAYS", global = true)]
    pub pat_max_lifetime_days: Option<u32>,
    /// Longest lifetime of an API key or service-account key, in days; keys then always
    /// expire [default: none].
    #[arg(long, env = "KEYWARD_API_KEY_MAX_LIFETIME_DAYS", global = true)]
    pub api_key_max_lifetime_days: Option<u32>,
    /// Days the log of recent verifications keeps each entry [default: 7].
    #[arg(long, env = "KEYWARD_VERIFICATION_LOG_DAYS", global = true)]
    pub verification_log_days: Option<u32>,
    /// Redis shared by every node for rate limits, e.g. `redis://127.0.0.1:6379`
    /// [default: each node limits alone].
    #[arg(long, env = "KEYWARD_REDIS_URL", hide_env_values = true, global = true)]
    pub redis_url: Option<Secret>,
    /// Bearer token that opens `/metrics` to any client [default: loopback only].
    #[arg(
        long,
        env = "KEYWARD_METRICS_TOKEN",
        hide_env_values = true,
        global = true
    )]
    pub metrics_token: Option<Secret>,
    /// Allow webhook endpoints on loopback, private and link-local addresses (for
    /// development and tests) [default: false].
    #[arg(long, env = "KEYWARD_WEBHOOKS_ALLOW_PRIVATE", global = true)]
    pub webhooks_allow_private: Option<bool>,
    /// Where the public keys that sign secret-scanning reports are fetched
    /// [default: GitHub's, https://api.github.com/meta/public_keys/secret_scanning].
    #[arg(long, env = "KEYWARD_SECRET_SCANNING_KEYS_URL", global = true)]
    pub secret_scanning_keys_url: Option<String>,
    /// SMTP server for email: `smtps://host:port` (TLS), `smtp://host:port?tls=required`
    /// (STARTTLS), `smtp://host:port` (plain, for a relay on the same host), with
    /// `user:password@` if it asks
    /// [default: no email; invite answers carry the accept link].
    #[arg(long, env = "KEYWARD_SMTP_URL", hide_env_values = true, global = true)]
    pub smtp_url: Option<Secret>,
    /// The sender of email, e.g. `Keyward <keyward@example.com>` (needed with smtp_url).
    #[arg(long, env = "KEYWARD_SMTP_FROM", global = true)]
    pub smtp_from: Option<String>,
}

impl Settings {
    /// Fills every unset value from `lower`.
    fn or(self, lower: Settings) -> Settings {
        Settings {
            config: self.config.or(lower.config),
            listen: self.listen.or(lower.listen),
            public_url: self.public_url.or(lower.public_url),
            database_url: self.database_url.or(lower.database_url),
            token_prefix: self.token_prefix.or(lower.token_prefix),
            token_tags: self.token_tags.or(lower.token_tags),
            token_random_length: self.token_random_length.or(lower.token_random_length),
            cookie_key: self.cookie_key.or(lower.cookie_key),
            cookie_key_file: self.cookie_key_file.or(lower.cookie_key_file),
            audit_key: self.audit_key.or(lower.audit_key),
            audit_key_file: self.audit_key_file.or(lower.audit_key_file),
            oidc_issuer: self.oidc_issuer.or(lower.oidc_issuer),
            oidc_client_id: self.oidc_client_id.or(lower.oidc_client_id),
            oidc_audience: self.oidc_audience.or(lower.oidc_audience),
            oidc_opaque: self.oidc_opaque.or(lower.oidc_opaque),
            oidc_token_prefixes: self.oidc_token_prefixes.or(lower.oidc_token_prefixes),
            oidc_client_secret: self.oidc_client_secret.or(lower.oidc_client_secret),
            oidc_client_secret_file: self
                .oidc_client_secret_file
                .or(lower.oidc_client_secret_file),
            oidc_redirect_url: self.oidc_redirect_url.or(lower.oidc_redirect_url),
            oidc_scopes: self.oidc_scopes.or(lower.oidc_scopes),
            admin_emails: self.admin_emails.or(lower.admin_emails),
            admin_subjects: self.admin_subjects.or(lower.admin_subjects),
            max_identities_per_organization: self
                .max_identities_per_organization
                .or(lower.max_identities_per_organization),
            scope_aliases: self.scope_aliases.or(lower.scope_aliases),
            max_organizations_per_user: self
                .max_organizations_per_user
                .or(lower.max_organizations_per_user),
            max_service_accounts_per_organization: self
                .max_service_accounts_per_organization
                .or(lower.max_service_accounts_per_organization),
            trusted_proxies: self.trusted_proxies.or(lower.trusted_proxies),
            dev_signin: self.dev_signin.or(lower.dev_signin),
            dashboard_dir: self.dashboard_dir.or(lower.dashboard_dir),
            log_format: self.log_format.or(lower.log_format),
            pat_max_lifetime_days: self.pat_max_lifetime_days.or(lower.pat_max_lifetime_days),
            api_key_max_lifetime_days: self
                .api_key_max_lifetime_days
                .or(lower.api_key_max_lifetime_days),
            verification_log_days: self.verification_log_days.or(lower.verification_log_days),
            metrics_token: self.metrics_token.or(lower.metrics_token),
            redis_url: self.redis_url.or(lower.redis_url),
            webhooks_allow_private: self.webhooks_allow_private.or(lower.webhooks_allow_private),
            secret_scanning_keys_url: self
                .secret_scanning_keys_url
                .or(lower.secret_scanning_keys_url),
            smtp_url: self.smtp_url.or(lower.smtp_url),
            smtp_from: self.smtp_from.or(lower.smtp_from),
        }
    }
}

/// OIDC provider settings.
#[derive(Debug, Clone)]
pub struct OidcConfig {
    pub issuer: String,
    pub client_id: String,
    pub client_secret: Option<Secret>,
    /// Where the provider sends the browser back.
    pub redirect_url: String,
    /// Scopes asked for besides `openid`.
    pub scopes: Vec<String>,
    /// The audience JWT access tokens must name (default: the client id).
    pub audience: Option<String>,
    /// How opaque access tokens are checked.
    pub opaque_tokens: OpaqueTokens,
    /// How the provider's opaque access tokens start, as far as the operator knows:
    /// imported key prefixes never overlap these (nor a JWT's `eyJ`).
    pub token_prefixes: Vec<String>,
}

/// The server's whole configuration, loaded once.
#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    /// Without a trailing slash.
    pub public_url: String,
    pub database_url: String,
    pub token_prefix: String,
    /// The tag of each kind of token after the prefix.
    pub token_tags: crate::token::TokenTags,
    /// Random characters in each token.
    pub token_random_length: usize,
    pub cookie_key: Option<Secret>,
    /// Signs the chain head that ends an audit export.
    pub audit_key: Option<Secret>,
    pub oidc: Option<OidcConfig>,
    /// Instance admins by verified email (lowercase).
    pub admin_emails: Vec<String>,
    /// Instance admins by their subject at the configured issuer (exact).
    pub admin_subjects: Vec<String>,
    /// Growth bounds (SPEC §8): organizations a user may belong to when creating one,
    /// service accounts an organization may have.
    pub max_organizations_per_user: u32,
    pub max_service_accounts_per_organization: u32,
    /// Identities an organization may have.
    pub max_identities_per_organization: u32,
    /// This deployment's spellings of resource names (SPEC §3.1).
    pub scope_aliases: keyward_proto::permissions::ScopeAliases,
    /// Reverse proxies whose `X-Forwarded-For` names the client.
    pub trusted_proxies: Vec<std::net::IpAddr>,
    pub dev_signin: DevSignin,
    pub log_format: LogFormat,
    /// A built dashboard to serve instead of the carried one.
    pub dashboard_dir: Option<PathBuf>,
    /// Whether to serve the dashboard the binary carries when no directory is given.
    pub carried_dashboard: bool,
    /// Largest request body accepted.
    pub body_limit_bytes: usize,
    /// How often buffered usage is written.
    pub usage_flush_interval: Duration,
    /// How long a CLI waits between polls of a device login at first (RFC 8628's
    /// `interval`; each `slow_down` adds five seconds).
    pub device_poll_interval: Duration,
    /// How long a verified credential is served from memory before it is read again: a
    /// safety net, since every change that affects verification drops it at once.
    pub verify_cache_ttl: Duration,
    /// How often a node checks that its connection listening for other nodes' changes
    /// still hears (PostgreSQL); the check must come back within half of it.
    pub invalidation_heartbeat: Duration,
    /// Requests per minute per credential when neither the key nor its org says otherwise.
    pub default_rate_limit_per_minute: u32,
    /// Failed verifications a client address may make per minute before it is held
    /// back (by the peer address: behind a proxy, the proxy's).
    pub failed_verifications_per_minute: u32,
    /// Absolute lifetime of a dashboard session.
    pub session_ttl: Duration,
    /// A session unused this long ends.
    pub session_idle_timeout: Duration,
    /// Longest lifetime of a personal access token, in days.
    pub pat_max_lifetime_days: u32,
    /// Longest lifetime of an API key or service-account key, in days, if limited.
    pub api_key_max_lifetime_days: Option<u32>,
    /// Days the log of recent verifications keeps each entry.
    pub verification_log_days: u32,
    /// Opens `/metrics` to clients presenting it; without it, loopback only.
    pub metrics_token: Option<Secret>,
    /// Redis for rate limits shared by every node (its URL may hold a password).
    pub redis_url: Option<Secret>,
    /// Whether webhook endpoints may be on loopback, private and link-local addresses.
    pub webhooks_allow_private: bool,
    /// Where the keys that sign secret-scanning reports are fetched.
    pub secret_scanning_keys_url: String,
    /// Where email goes, and from whom; none: no email.
    pub smtp: Option<SmtpConfig>,
}

/// An SMTP server to send email through.
#[derive(Debug, Clone)]
pub struct SmtpConfig {
    /// Its URL, which may hold a password.
    pub url: Secret,
    /// The sender, as `Name <address>` or an address.
    pub from: String,
}

/// GitHub's keys for its secret-scanning partner reports.
pub const GITHUB_SECRET_SCANNING_KEYS: &str =
    "https://api.github.com/meta/public_keys/secret_scanning";

impl Config {
    /// Builds the configuration from parsed flags/environment and the optional file.
    pub fn load(settings: Settings) -> Result<Self, String> {
        let file = match &settings.config {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| format!("config file {}: {e}", path.display()))?;
                toml::from_str::<Settings>(&text)
                    .map_err(|e| format!("config file {}: {e}", path.display()))?
            }
            None => Settings::default(),
        };
        Self::from_settings(settings.or(file))
    }

    fn from_settings(s: Settings) -> Result<Self, String> {
        let listen = s
            .listen
            .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 8080)));
        let public_url = s
            .public_url
            .unwrap_or_else(|| format!("http://{listen}"))
            .trim_end_matches('/')
            .to_owned();
        if !(public_url.starts_with("http://") || public_url.starts_with("https://")) {
            return Err("public_url: must start with http:// or https://".into());
        }
        let token_prefix = s.token_prefix.unwrap_or_else(|| "kw".into());
        crate::token::TokenFormat::new(&token_prefix).map_err(|e| format!("token_prefix: {e}"))?;
        let token_random_length = s.token_random_length.unwrap_or(crate::token::RANDOM_LEN);
        crate::token::TokenFormat::new("kw")
            .and_then(|f| f.with_random_len(token_random_length))
            .map_err(|e| format!("token_random_length: {e}"))?;
        let token_tags = match &s.token_tags {
            Some(spec) => {
                crate::token::TokenTags::parse(spec).map_err(|e| format!("token_tags: {e}"))?
            }
            None => crate::token::TokenTags::default(),
        };
        let cookie_key = read_secret("cookie_key", s.cookie_key, s.cookie_key_file)?;
        let audit_key = read_secret("audit_key", s.audit_key, s.audit_key_file)?;
        if audit_key
            .as_ref()
            .is_some_and(|k| k.expose().trim().len() < 32)
        {
            return Err("audit_key: must be at least 32 characters".into());
        }
        let client_secret = read_secret(
            "oidc_client_secret",
            s.oidc_client_secret,
            s.oidc_client_secret_file,
        )?;
        let oidc = match (s.oidc_issuer, s.oidc_client_id) {
            (Some(issuer), Some(client_id)) => Some(OidcConfig {
                issuer: issuer.trim_end_matches('/').to_owned(),
                client_id,
                client_secret,
                redirect_url: s
                    .oidc_redirect_url
                    .unwrap_or_else(|| format!("{public_url}/auth/callback")),
                scopes: s
                    .oidc_scopes
                    .unwrap_or_else(|| vec!["email".into(), "profile".into()])
                    .into_iter()
                    .map(|x| x.trim().to_owned())
                    .filter(|x| !x.is_empty() && x != "openid")
                    .collect(),
                audience: s.oidc_audience,
                opaque_tokens: s.oidc_opaque.unwrap_or_default(),
                token_prefixes: s
                    .oidc_token_prefixes
                    .unwrap_or_default()
                    .into_iter()
                    .map(|p| p.trim().to_owned())
                    .filter(|p| !p.is_empty())
                    .collect(),
            }),
            (None, None) => None,
            (Some(_), None) => {
                return Err("oidc_client_id: required when oidc_issuer is set".into());
            }
            (None, Some(_)) => {
                return Err("oidc_issuer: required when oidc_client_id is set".into());
            }
        };
        let pat_max_lifetime_days = s.pat_max_lifetime_days.unwrap_or(366);
        if !(1..=3650).contains(&pat_max_lifetime_days) {
            return Err("pat_max_lifetime_days: must be between 1 and 3650".into());
        }
        if s.api_key_max_lifetime_days
            .is_some_and(|d| !(1..=3650).contains(&d))
        {
            return Err("api_key_max_lifetime_days: must be between 1 and 3650".into());
        }
        let verification_log_days = s.verification_log_days.unwrap_or(7);
        if !(1..=365).contains(&verification_log_days) {
            return Err("verification_log_days: must be between 1 and 365".into());
        }
        Ok(Self {
            listen,
            public_url,
            database_url: s
                .database_url
                .unwrap_or_else(|| "sqlite://keyward.db?mode=rwc".into()),
            token_prefix,
            token_tags,
            token_random_length,
            cookie_key,
            audit_key,
            oidc,
            admin_emails: s
                .admin_emails
                .unwrap_or_default()
                .into_iter()
                .map(|e| e.trim().to_lowercase())
                .filter(|e| !e.is_empty())
                .collect(),
            max_organizations_per_user: positive(
                "max_organizations_per_user",
                s.max_organizations_per_user,
                100,
            )?,
            max_service_accounts_per_organization: positive(
                "max_service_accounts_per_organization",
                s.max_service_accounts_per_organization,
                1000,
            )?,
            max_identities_per_organization: positive(
                "max_identities_per_organization",
                s.max_identities_per_organization,
                100_000,
            )?,
            scope_aliases: keyward_proto::permissions::ScopeAliases::parse(
                &s.scope_aliases.unwrap_or_default(),
            )
            .map_err(|e| format!("scope_aliases: {e}"))?,
            admin_subjects: s
                .admin_subjects
                .unwrap_or_default()
                .into_iter()
                .map(|e| e.trim().to_owned())
                .filter(|e| !e.is_empty())
                .collect(),
            trusted_proxies: s.trusted_proxies.unwrap_or_default(),
            dev_signin: s.dev_signin.unwrap_or_default(),
            dashboard_dir: match s.dashboard_dir {
                Some(dir) if !dir.join("index.html").is_file() => {
                    return Err(format!(
                        "dashboard_dir: {} holds no index.html (run `trunk build`)",
                        dir.display()
                    ));
                }
                other => other,
            },
            carried_dashboard: true,
            log_format: s.log_format.unwrap_or_default(),
            body_limit_bytes: 64 * 1024,
            usage_flush_interval: Duration::from_secs(1),
            device_poll_interval: Duration::from_secs(5),
            verify_cache_ttl: Duration::from_secs(300),
            invalidation_heartbeat: Duration::from_secs(10),
            default_rate_limit_per_minute: 600,
            failed_verifications_per_minute: 60,
            session_ttl: Duration::from_secs(30 * 24 * 3600),
            session_idle_timeout: Duration::from_secs(7 * 24 * 3600),
            pat_max_lifetime_days,
            api_key_max_lifetime_days: s.api_key_max_lifetime_days,
            verification_log_days,
            redis_url: s.redis_url,
            webhooks_allow_private: s.webhooks_allow_private.unwrap_or(false),
            secret_scanning_keys_url: match s.secret_scanning_keys_url {
                Some(url) if !(url.starts_with("https://") || url.starts_with("http://")) => {
                    return Err("secret_scanning_keys_url: must be an http or https URL".into());
                }
                Some(url) => url,
                None => GITHUB_SECRET_SCANNING_KEYS.into(),
            },
            smtp: match (s.smtp_url, s.smtp_from) {
                (Some(url), Some(from)) => Some(SmtpConfig { url, from }),
                (Some(_), None) => {
                    return Err("smtp_from: needed with smtp_url (the sender of email)".into());
                }
                (None, Some(_)) => {
                    return Err("smtp_url: needed with smtp_from (where email goes)".into());
                }
                (None, None) => None,
            },
            metrics_token: match s.metrics_token {
                Some(t) if t.expose().len() < 16 => {
                    return Err("metrics_token: must be at least 16 characters".into());
                }
                other => other,
            },
        })
    }

    /// A configuration for tests: loopback on an OS-chosen port and the given database.
    pub fn for_tests(database_url: &str) -> Self {
        let mut config = Self::from_settings(Settings {
            listen: Some(SocketAddr::from(([127, 0, 0, 1], 0))),
            database_url: Some(database_url.to_owned()),
            dev_signin: Some(DevSignin::Off),
            ..Settings::default()
        })
        .unwrap_or_else(|e| panic!("test configuration is invalid: {e}"));
        config.usage_flush_interval = Duration::from_millis(100);
        // The tests' webhook receivers listen on loopback.
        config.webhooks_allow_private = true;
        config.dashboard_dir = None;
        config.carried_dashboard = false;
        config
    }

    /// The device flow's first polling interval in whole seconds, at least one.
    pub fn device_poll_interval_secs(&self) -> i32 {
        i32::try_from(self.device_poll_interval.as_secs().max(1)).unwrap_or(i32::MAX)
    }

    /// Whether cookies may go without `Secure`: plain http on loopback only.
    pub fn insecure_cookies_allowed(&self) -> bool {
        let rest = match self.public_url.strip_prefix("http://") {
            Some(rest) => rest,
            None => return false,
        };
        let host = rest.split(['/', ':']).next().unwrap_or_default();
        host == "localhost" || host == "127.0.0.1" || rest.starts_with("[::1]")
    }

    /// Whether the development sign-in link is offered with this configuration.
    pub fn dev_signin_enabled(&self) -> bool {
        if self.oidc.is_some() {
            return false;
        }
        match self.dev_signin {
            DevSignin::Off => false,
            DevSignin::On => true,
            DevSignin::Auto => self.listen.ip().is_loopback(),
        }
    }
}

fn read_secret(
    name: &str,
    value: Option<Secret>,
    file: Option<PathBuf>,
) -> Result<Option<Secret>, String> {
    match (value, file) {
        (Some(_), Some(_)) => Err(format!(
            "{name}: give either the value or {name}_file, not both"
        )),
        (Some(v), None) => Ok(Some(v)),
        (None, Some(path)) => std::fs::read_to_string(&path)
            .map(|s| Some(Secret::new(s.trim())))
            .map_err(|e| format!("{name}_file {}: {e}", path.display())),
        (None, None) => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn help_tells_the_database_default_in_use() {
        use clap::CommandFactory;
        let config = Config::from_settings(Settings::default()).unwrap();
        let help = Cli::command().render_long_help().to_string();
        assert!(
            help.contains(&format!("[default: {}", config.database_url)),
            "{help}"
        );
    }

    #[test]
    fn file_rejects_unknown_keys() {
        let err = toml::from_str::<Settings>("listen = \"127.0.0.1:1\"\nlisen = 1").unwrap_err();
        assert!(err.to_string().contains("lisen"), "{err}");
    }

    #[test]
    fn flags_win_over_file() {
        let file: Settings =
            toml::from_str("token_prefix = \"file\"\nlisten = \"127.0.0.1:9\"").unwrap();
        let flags = Settings {
            token_prefix: Some("flag".into()),
            ..Settings::default()
        };
        let config = Config::from_settings(flags.or(file)).unwrap();
        assert_eq!(config.token_prefix, "flag");
        assert_eq!(config.listen.port(), 9);
        assert_eq!(config.public_url, "http://127.0.0.1:9");
    }

    #[test]
    fn secrets_are_redacted_in_debug() {
        let config = Config::from_settings(Settings {
            cookie_key: Some(Secret::new("very-secret-cookie-key")),
            ..Settings::default()
        })
        .unwrap();
        assert!(!format!("{config:?}").contains("very-secret"));
    }

    #[test]
    fn cookies_are_secure_unless_plain_http_on_loopback() {
        let with_url = |url: &str| {
            Config::from_settings(Settings {
                public_url: Some(url.into()),
                ..Settings::default()
            })
            .unwrap()
            .insecure_cookies_allowed()
        };
        assert!(with_url("http://127.0.0.1:8080"));
        assert!(with_url("http://localhost:3000/"));
        assert!(with_url("http://[::1]:8080"));
        assert!(!with_url("https://127.0.0.1:8080"));
        assert!(!with_url("http://keys.example.com"));
        assert!(!with_url("http://127.0.0.1.example.com"));
    }

    #[test]
    fn dev_signin_only_on_loopback_unless_forced() {
        let on_any = |mode| {
            Config::from_settings(Settings {
                listen: Some("0.0.0.0:8080".parse().unwrap()),
                dev_signin: Some(mode),
                ..Settings::default()
            })
            .unwrap()
            .dev_signin_enabled()
        };
        assert!(!on_any(DevSignin::Auto));
        assert!(on_any(DevSignin::On));
        assert!(
            Config::from_settings(Settings::default())
                .unwrap()
                .dev_signin_enabled()
        );
    }
}

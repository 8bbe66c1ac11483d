//! CLI sign-in (SPEC §7): the device flow (RFC 8628) and the loopback flow (RFC 8252).
//! Both end in a personal access token named after the machine, created when the CLI
//! collects it; the server keeps only hashes of the device code and the one-time code,
//! and the token never travels in a URL.

use base64::Engine;
use chrono::{DateTime, TimeDelta, Utc};
use entity::{
    cli_login_code,
    device_authorization::{self, Status as Stored},
    prelude::*,
};
use keyward_proto::audit::Action;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, TransactionTrait,
    sea_query::Expr,
};
use serde_json::json;
use sha2::{Digest, Sha256};
use tracing::instrument;
use uuid::Uuid;

use super::{
    Actor, Services,
    access::{self, Grant, Need},
    audit::{self, AuditEntry},
    credentials::{self, PAT_DEFAULT_LIFETIME},
    ids::new_id,
    ratelimit::{Outage, Subject},
    validate,
};
use crate::{
    error::{AppError, AppResult},
    token::{PlainToken, TokenHash, random_base62},
};

/// How long a device code may be used.
pub const DEVICE_CODE_TTL: TimeDelta = TimeDelta::seconds(300);
/// User codes: no vowels (no words), no look-alike digits.
const USER_CODE_ALPHABET: &[u8] = b"BCDFGHJKLMNPQRSTVWXZ";
/// How long the loopback flow's one-time code lives.
pub const CLI_CODE_TTL: TimeDelta = TimeDelta::seconds(60);
/// User codes one user may look up per minute (guessing is slow).
const USER_CODE_LOOKUPS_PER_MINUTE: u32 = 10;
/// Device logins one client address may start per minute: enough for a busy CI runner,
/// too few to fill the table.
pub const DEVICE_STARTS_PER_MINUTE: u32 = 20;

/// What `POST /api/v1/device/code` answers.
#[derive(Debug)]
pub struct DeviceStart {
    pub device_code: PlainToken,
    /// As shown: `XXXX-XXXX`.
    pub user_code: String,
    pub expires_in: i64,
    pub interval: i32,
}

/// Why a device-token poll did not return a token (RFC 8628 §3.5 error codes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PollRefusal {
    AuthorizationPending,
    SlowDown,
    AccessDenied,
    ExpiredToken,
    InvalidGrant,
}

impl PollRefusal {
    pub fn code(self) -> &'static str {
        match self {
            Self::AuthorizationPending => "authorization_pending",
            Self::SlowDown => "slow_down",
            Self::AccessDenied => "access_denied",
            Self::ExpiredToken => "expired_token",
            Self::InvalidGrant => "invalid_grant",
        }
    }

    pub fn description(self) -> &'static str {
        match self {
            Self::AuthorizationPending => "the user has not approved this device yet",
            Self::SlowDown => "polling too fast: wait 5 more seconds between requests",
            Self::AccessDenied => "the user denied this device",
            Self::ExpiredToken => "the device code expired: start again",
            Self::InvalidGrant => "unknown or already used device code",
        }
    }
}

/// A device waiting for (or past) approval, as the approval page shows it.
#[derive(Debug, Clone)]
pub struct DeviceView {
    pub user_code: String,
    pub client_name: String,
    pub status: DeviceStatus,
    pub expires_at: DateTime<Utc>,
    /// When the device asked to sign in.
    pub created_at: DateTime<Utc>,
    /// The client address it asked from, when known.
    pub requested_ip: Option<String>,
}

/// Where a device login stands as shown: its stored status, or expired for a pending
/// login past its time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeviceStatus {
    Pending,
    Approved,
    Denied,
    /// The CLI collected its token.
    Completed,
    Expired,
}

impl DeviceStatus {
    /// The status of a stored device login at `now`.
    pub fn of(row: &device_authorization::Model, now: DateTime<Utc>) -> Self {
        match row.status {
            Stored::Pending if row.expires_at <= now => Self::Expired,
            Stored::Pending => Self::Pending,
            Stored::Approved => Self::Approved,
            Stored::Denied => Self::Denied,
            Stored::Completed => Self::Completed,
        }
    }

    /// `pending`, `approved`, `denied`, `completed` or `expired`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Approved => "approved",
            Self::Denied => "denied",
            Self::Completed => "completed",
            Self::Expired => "expired",
        }
    }
}

impl std::fmt::Display for DeviceStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A PAT handed to a CLI.
#[derive(Debug)]
pub struct IssuedToken {
    pub token: PlainToken,
    pub name: String,
    pub expires_at: DateTime<Utc>,
}

/// `ABCDEFGH` → `ABCD-EFGH`.
pub fn display_user_code(code: &str) -> String {
    match code.len() {
        8 => format!("{}-{}", &code[..4], &code[4..]),
        _ => code.to_owned(),
    }
}

/// What a person typed, in canonical form: capitals, no dash or spaces.
fn normalize_user_code(raw: &str) -> AppResult<String> {
    let code: String = raw
        .chars()
        .filter(|c| !matches!(c, '-' | ' '))
        .map(|c| c.to_ascii_uppercase())
        .collect();
    if code.len() != 8 || !code.bytes().all(|b| USER_CODE_ALPHABET.contains(&b)) {
        return Err(AppError::invalid(
            "input.userCode",
            "must be the 8-letter code the CLI shows, like BDFG-HJKL",
        ));
    }
    Ok(code)
}

fn random_user_code() -> AppResult<String> {
    let mut out = String::with_capacity(8);
    let mut buf = [0u8; 32];
    while out.len() < 8 {
        getrandom::fill(&mut buf).map_err(AppError::internal)?;
        for b in buf {
            // 240 = 12 * 20: bytes at or above it would bias the choice.
            if b < 240 && out.len() < 8 {
                out.push(USER_CODE_ALPHABET[usize::from(b % 20)] as char);
            }
        }
    }
    Ok(out)
}

/// The machine name a CLI sends, or a default.
fn client_name(raw: Option<&str>) -> AppResult<String> {
    match raw.map(str::trim).filter(|n| !n.is_empty()) {
        Some(n) => validate::name("name", n),
        None => Ok("Keyward CLI".into()),
    }
}

/// Only loopback redirects (RFC 8252 §7.3): `http://127.0.0.1:PORT/…` or `[::1]`.
fn loopback_redirect(raw: &str) -> AppResult<reqwest::Url> {
    let url = reqwest::Url::parse(raw)
        .map_err(|_| AppError::invalid("redirect_uri", "must be an absolute URL"))?;
    let loopback = matches!(url.host_str(), Some("127.0.0.1" | "[::1]" | "localhost"));
    if url.scheme() != "http" || !loopback || url.port().is_none() {
        return Err(AppError::invalid(
            "redirect_uri",
            "must be http://127.0.0.1:PORT/… (a loopback address with a port)",
        ));
    }
    if url.username() != "" || url.password().is_some() || url.fragment().is_some() {
        return Err(AppError::invalid(
            "redirect_uri",
            "must not carry credentials or a fragment",
        ));
    }
    Ok(url)
}

/// base64url(SHA-256(verifier)), without padding (RFC 7636 S256).
fn s256(verifier: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

fn device_view(row: &device_authorization::Model, now: DateTime<Utc>) -> DeviceView {
    DeviceView {
        user_code: display_user_code(&row.user_code),
        client_name: row.client_name.clone(),
        status: DeviceStatus::of(row, now),
        expires_at: row.expires_at,
        created_at: row.created_at,
        requested_ip: row.requested_ip.clone(),
    }
}

impl Services {
    /// Starts a device login. Anyone may start one, [`DEVICE_STARTS_PER_MINUTE`] a minute
    /// per client address; only a signed-in user can approve it.
    #[instrument(skip_all)]
    pub async fn start_device_login(
        &self,
        name: Option<&str>,
        ip: Option<&str>,
    ) -> AppResult<DeviceStart> {
        let client_name = client_name(name)?;
        // An address that cannot be read shares one allowance with every other such.
        // An IPv6 client usually holds a whole /64: it is one address here.
        let address = match ip.and_then(|ip| ip.parse().ok()) {
            Some(std::net::IpAddr::V6(v6)) => std::net::IpAddr::V6(std::net::Ipv6Addr::from(
                u128::from(v6) & !((1u128 << 64) - 1),
            )),
            Some(v4) => v4,
            None => std::net::IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED),
        };
        self.take_allowance(Subject::DeviceStarts(address), DEVICE_STARTS_PER_MINUTE)
            .await?;
        let now = self.clock.now();
        let interval = self.config.device_poll_interval_secs();
        // Codes long past their use make room for new ones.
        DeviceAuthorization::delete_many()
            .filter(device_authorization::Column::ExpiresAt.lt(now - TimeDelta::days(1)))
            .exec(&self.db)
            .await?;
        for _ in 0..5 {
            let device_code = random_base62(43).map_err(AppError::internal)?;
            let user_code = random_user_code()?;
            let taken = DeviceAuthorization::find()
                .filter(device_authorization::Column::UserCode.eq(&user_code))
                .one(&self.db)
                .await?
                .is_some();
            if taken {
                continue;
            }
            device_authorization::ActiveModel {
                id: Set(new_id()),
                device_code_hash: Set(TokenHash::of(&device_code).as_str().to_owned()),
                user_code: Set(user_code.clone()),
                client_name: Set(client_name.clone()),
                status: Set(Stored::Pending),
                customer_id: Set(None),
                credential_id: Set(None),
                interval_secs: Set(interval),
                expires_at: Set(now + DEVICE_CODE_TTL),
                last_polled_at: Set(None),
                created_at: Set(now),
                requested_ip: Set(ip.map(str::to_owned)),
            }
            .insert(&self.db)
            .await?;
            return Ok(DeviceStart {
                device_code: PlainToken::new(device_code),
                user_code: display_user_code(&user_code),
                expires_in: DEVICE_CODE_TTL.num_seconds(),
                interval,
            });
        }
        Err(AppError::Conflict(
            "could not find a free user code; try again".into(),
        ))
    }

    /// One poll by the CLI: the token once approved, else why not.
    #[instrument(skip_all)]
    pub async fn poll_device_login(
        &self,
        device_code: &str,
    ) -> AppResult<Result<IssuedToken, PollRefusal>> {
        let now = self.clock.now();
        let Some(row) = DeviceAuthorization::find()
            .filter(
                device_authorization::Column::DeviceCodeHash
                    .eq(TokenHash::of(device_code).as_str()),
            )
            .one(&self.db)
            .await?
        else {
            return Ok(Err(PollRefusal::InvalidGrant));
        };
        if row.status == Stored::Completed {
            return Ok(Err(PollRefusal::InvalidGrant));
        }
        if row.expires_at <= now {
            return Ok(Err(PollRefusal::ExpiredToken));
        }
        let too_soon = row
            .last_polled_at
            .is_some_and(|last| now - last < TimeDelta::seconds(i64::from(row.interval_secs)));
        let mut active: device_authorization::ActiveModel = row.clone().into();
        active.last_polled_at = Set(Some(now));
        if too_soon {
            active.interval_secs = Set(row.interval_secs + 5);
            active.update(&self.db).await?;
            return Ok(Err(PollRefusal::SlowDown));
        }
        active.update(&self.db).await?;
        match row.status {
            Stored::Pending => Ok(Err(PollRefusal::AuthorizationPending)),
            Stored::Denied => Ok(Err(PollRefusal::AccessDenied)),
            Stored::Approved => {
                let customer = row.customer_id.ok_or(AppError::NotFound("device login"))?;
                let txn = self.db.begin().await?;
                // Exactly one poll collects the token.
                let claimed = DeviceAuthorization::update_many()
                    .col_expr(
                        device_authorization::Column::Status,
                        Expr::value(Stored::Completed),
                    )
                    .filter(device_authorization::Column::Id.eq(row.id))
                    .filter(device_authorization::Column::Status.eq(Stored::Approved))
                    .exec(&txn)
                    .await?;
                if claimed.rows_affected != 1 {
                    return Ok(Err(PollRefusal::InvalidGrant));
                }
                let issued = self
                    .issue_cli_token(&txn, customer, &row.client_name, "device")
                    .await?;
                DeviceAuthorization::update_many()
                    .col_expr(
                        device_authorization::Column::CredentialId,
                        Expr::value(issued.0),
                    )
                    .filter(device_authorization::Column::Id.eq(row.id))
                    .exec(&txn)
                    .await?;
                txn.commit().await?;
                Ok(Ok(issued.1))
            }
            Stored::Completed => Ok(Err(PollRefusal::InvalidGrant)),
        }
    }

    /// The device a user typed the code of, for the approval page. Lookups are limited
    /// per user, so codes cannot be guessed.
    pub async fn device_login(&self, actor: &Actor, user_code: &str) -> AppResult<DeviceView> {
        let (customer, _) = self.approving_user(actor).await?;
        self.take_allowance(Subject::CodeLookups(customer), USER_CODE_LOOKUPS_PER_MINUTE)
            .await?;
        let code = normalize_user_code(user_code)?;
        let row = DeviceAuthorization::find()
            .filter(device_authorization::Column::UserCode.eq(&code))
            .one(&self.db)
            .await?
            .ok_or(AppError::NotFound("device code"))?;
        Ok(device_view(&row, self.clock.now()))
    }

    /// Approves or denies a pending device for the signed-in user.
    #[instrument(skip_all)]
    pub async fn decide_device_login(
        &self,
        actor: &Actor,
        user_code: &str,
        approve: bool,
    ) -> AppResult<DeviceView> {
        let (customer, grant) = self.approving_user(actor).await?;
        self.take_allowance(Subject::CodeLookups(customer), USER_CODE_LOOKUPS_PER_MINUTE)
            .await?;
        let code = normalize_user_code(user_code)?;
        let now = self.clock.now();
        let row = DeviceAuthorization::find()
            .filter(device_authorization::Column::UserCode.eq(&code))
            .one(&self.db)
            .await?
            .ok_or(AppError::NotFound("device code"))?;
        if DeviceStatus::of(&row, now) != DeviceStatus::Pending {
            return Err(AppError::Conflict(format!(
                "this code is {}; run the login command again for a new one",
                device_view(&row, now).status
            )));
        }
        let status = if approve {
            Stored::Approved
        } else {
            Stored::Denied
        };
        let txn = self.db.begin().await?;
        let changed = DeviceAuthorization::update_many()
            .col_expr(device_authorization::Column::Status, Expr::value(status))
            .col_expr(
                device_authorization::Column::CustomerId,
                Expr::value(customer),
            )
            .filter(device_authorization::Column::Id.eq(row.id))
            .filter(device_authorization::Column::Status.eq(Stored::Pending))
            .exec(&txn)
            .await?;
        if changed.rows_affected != 1 {
            return Err(AppError::Conflict("this code was answered already".into()));
        }
        audit::record(
            &txn,
            &grant,
            AuditEntry::new(
                None,
                if approve {
                    Action::DeviceApprove
                } else {
                    Action::DeviceDeny
                },
                "device_authorization",
                row.id,
            )
            .name(&row.client_name)
            .details(json!({ "user_code": display_user_code(&row.user_code) })),
        )
        .await?;
        txn.commit().await?;
        let mut view = device_view(&row, now);
        view.status = if approve {
            DeviceStatus::Approved
        } else {
            DeviceStatus::Denied
        };
        Ok(view)
    }

    /// The loopback flow's consent: returns where to send the browser, with a one-time
    /// code (60 s) and the CLI's state.
    #[instrument(skip_all)]
    pub async fn approve_cli_login(
        &self,
        actor: &Actor,
        redirect_uri: &str,
        state: &str,
        code_challenge: &str,
        code_challenge_method: &str,
        name: Option<&str>,
    ) -> AppResult<String> {
        let (customer, grant) = self.approving_user(actor).await?;
        let mut url = loopback_redirect(redirect_uri)?;
        if code_challenge_method != "S256" {
            return Err(AppError::invalid("code_challenge_method", "must be S256"));
        }
        let challenge_ok = (43..=128).contains(&code_challenge.len())
            && code_challenge
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !challenge_ok {
            return Err(AppError::invalid(
                "code_challenge",
                "must be base64url(SHA-256(verifier)), 43 characters",
            ));
        }
        if state.is_empty() || state.len() > 512 {
            return Err(AppError::invalid("state", "must be 1 to 512 characters"));
        }
        let name = client_name(name)?;
        let code = random_base62(43).map_err(AppError::internal)?;
        let now = self.clock.now();
        let txn = self.db.begin().await?;
        let row = cli_login_code::ActiveModel {
            id: Set(new_id()),
            code_hash: Set(TokenHash::of(&code).as_str().to_owned()),
            redirect_uri: Set(redirect_uri.to_owned()),
            code_challenge: Set(code_challenge.to_owned()),
            name: Set(name.clone()),
            customer_id: Set(customer),
            expires_at: Set(now + CLI_CODE_TTL),
            used_at: Set(None),
            created_at: Set(now),
        }
        .insert(&txn)
        .await?;
        audit::record(
            &txn,
            &grant,
            AuditEntry::new(None, Action::CliLoginApprove, "cli_login", row.id).name(&name),
        )
        .await?;
        txn.commit().await?;
        url.query_pairs_mut()
            .append_pair("code", &code)
            .append_pair("state", state);
        Ok(url.to_string())
    }

    /// The loopback flow's last step: the one-time code and the PKCE verifier for a PAT.
    #[instrument(skip_all)]
    pub async fn exchange_cli_code(
        &self,
        code: &str,
        code_verifier: &str,
        redirect_uri: Option<&str>,
    ) -> AppResult<IssuedToken> {
        let refused = || AppError::invalid("code", "unknown, expired or already used code");
        let now = self.clock.now();
        let row = CliLoginCode::find()
            .filter(cli_login_code::Column::CodeHash.eq(TokenHash::of(code).as_str()))
            .one(&self.db)
            .await?
            .ok_or_else(refused)?;
        if row.used_at.is_some() || row.expires_at <= now {
            return Err(refused());
        }
        if s256(code_verifier) != row.code_challenge {
            return Err(AppError::invalid(
                "code_verifier",
                "does not match the code challenge",
            ));
        }
        // Every authorization names its redirect URI, so every exchange must repeat it
        // (RFC 6749 §4.1.3): a code intercepted on its way to another listener is no use.
        match redirect_uri {
            None => {
                return Err(AppError::invalid(
                    "redirect_uri",
                    "is required: the one the code was issued for",
                ));
            }
            Some(r) if r != row.redirect_uri => {
                return Err(AppError::invalid(
                    "redirect_uri",
                    "differs from the one the code was issued for",
                ));
            }
            Some(_) => {}
        }
        let txn = self.db.begin().await?;
        let claimed = CliLoginCode::update_many()
            .col_expr(cli_login_code::Column::UsedAt, Expr::value(now))
            .filter(cli_login_code::Column::Id.eq(row.id))
            .filter(cli_login_code::Column::UsedAt.is_null())
            .exec(&txn)
            .await?;
        if claimed.rows_affected != 1 {
            return Err(refused());
        }
        let (_, issued) = self
            .issue_cli_token(&txn, row.customer_id, &row.name, "loopback")
            .await?;
        txn.commit().await?;
        Ok(issued)
    }

    /// Takes one from `subject`'s allowance of `per_minute` (limited on this node alone
    /// while Redis cannot answer), or refuses with `RATE_LIMITED`.
    async fn take_allowance(&self, subject: Subject, per_minute: u32) -> AppResult<()> {
        let decision = self
            .limiter
            .check(subject, per_minute, Outage::LimitHere)
            .await;
        if decision.allowed {
            Ok(())
        } else {
            Err(AppError::RateLimited {
                retry_after_secs: decision.retry_after_secs,
                limit: decision.limit,
            })
        }
    }

    /// Users approve sign-ins for themselves, signed in to the dashboard.
    async fn approving_user(&self, actor: &Actor) -> AppResult<(Uuid, Grant)> {
        let grant = self.authorize(actor, Need::DashboardSession).await?;
        let customer = grant
            .customer()
            .ok_or_else(|| access::corrupt("session grant", "it has no user"))?;
        Ok((customer, grant))
    }

    /// A PAT for the CLI, named after its machine; the user's approval is audited
    /// separately, this records the token itself.
    async fn issue_cli_token<C: sea_orm::ConnectionTrait>(
        &self,
        txn: &C,
        customer: Uuid,
        name: &str,
        flow: &str,
    ) -> AppResult<(Uuid, IssuedToken)> {
        let expires_at = self.clock.now() + PAT_DEFAULT_LIFETIME.min(self.pat_max_lifetime());
        let owner = Customer::find_by_id(customer)
            .one(txn)
            .await?
            .ok_or(AppError::NotFound("user"))?;
        if owner.suspended_at.is_some() {
            return Err(AppError::Forbidden("this account is suspended".into()));
        }
        let grant = Grant::system(Actor::system(), self.clock.now());
        let (model, token) = credentials::issue_pat_in(
            txn,
            self,
            &grant,
            customer,
            name.to_owned(),
            expires_at,
            None,
        )
        .await?;
        tracing::info!(flow, token = %model.id, "CLI sign-in issued a personal access token");
        Ok((
            model.id,
            IssuedToken {
                token,
                name: model.name,
                expires_at,
            },
        ))
    }
}

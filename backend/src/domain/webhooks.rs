//! Webhooks (SPEC §16): an organization's endpoints, the outbox of deliveries to them
//! and the sender that works it off.
//!
//! - **Written with the change.** A delivery row is inserted by [`enqueue`] inside the
//!   transaction of the change it tells of (from [`super::audit::record`], so every path
//!   that audits an action with an event type enqueues it): a change that rolls back
//!   sends nothing, and one that commits is owed to every endpoint asking for it, across
//!   restarts.
//! - **At least once.** The sender claims due deliveries with a conditional write (one
//!   node wins each), posts them signed per Standard Webhooks, and on anything but a 2xx
//!   tries again after [`BACKOFF`]; a claim lapses after [`LEASE`], so a node that dies
//!   mid-send leaves the delivery to another. Every attempt is logged.
//! - **No request to the inside.** An endpoint on a loopback, private, link-local or
//!   otherwise non-public address is refused when registered and again when sent to: the
//!   sender's resolver drops such addresses, so a name that resolves elsewhere later
//!   (DNS rebinding) reaches nothing. `KEYWARD_WEBHOOKS_ALLOW_PRIVATE` lifts this.

use std::{
    net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr},
    sync::Arc,
    time::Duration,
};

use chrono::{DateTime, TimeDelta, Utc};
use entity::{
    credential, notice,
    prelude::*,
    webhook_attempt,
    webhook_delivery::{self, Status},
    webhook_endpoint,
};
use futures::StreamExt;
use keyward_proto::{
    audit::Action,
    webhooks::{EventType, HEADER_ID, HEADER_SIGNATURE, HEADER_TIMESTAMP, SigningKey},
};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, EntityTrait, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect, TransactionTrait, sea_query::OnConflict,
};
use serde_json::{Value, json};
use uuid::Uuid;

use super::{
    Actor, Services,
    access::Need,
    audit::{self, AuditEntry},
    ids::new_id,
    orgs,
    paging::{self, Page},
    permissions::Perm,
};
use crate::error::{AppError, AppResult};

/// Endpoints an organization may register.
pub const MAX_ENDPOINTS: u64 = 20;
/// Longest endpoint URL.
pub const MAX_URL_LEN: usize = 2048;
/// Longest description.
pub const MAX_DESCRIPTION_LEN: usize = 200;
/// Waits before each retry after a failed attempt: the first within 10 s, the last
/// about a day after the change. After the last, the delivery is failed (a manual retry
/// makes it pending again).
pub const BACKOFF: [TimeDelta; 8] = [
    TimeDelta::seconds(5),
    TimeDelta::seconds(30),
    TimeDelta::minutes(2),
    TimeDelta::minutes(10),
    TimeDelta::minutes(30),
    TimeDelta::hours(2),
    TimeDelta::hours(6),
    TimeDelta::hours(12),
];
/// How long a claimed delivery is the claiming node's.
pub const LEASE: TimeDelta = TimeDelta::seconds(60);
/// How long one attempt may take.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);
/// Deliveries claimed per pass, and sent at once.
const CLAIM: u64 = 32;
const AT_ONCE: usize = 8;
/// How long the delivery log is kept.
pub const RETENTION: TimeDelta = TimeDelta::days(30);
/// How far ahead a key's expiry is announced.
pub const EXPIRY_NOTICE: TimeDelta = TimeDelta::days(7);
/// Keys read per page of a pass, and pages per pass.
const EXPIRING_PER_PASS: u64 = 500;
const EXPIRING_PAGES: usize = 40;

/// The event type an audited action is announced as, if any.
pub fn event_of(action: Action) -> Option<EventType> {
    Some(match action {
        Action::ApiKeyCreate | Action::ApiKeyImport => EventType::ApiKeyCreated,
        Action::ApiKeyRevoke => EventType::ApiKeyRevoked,
        Action::ApiKeyRotate => EventType::ApiKeyRotated,
        Action::ApiKeyLeak => EventType::ApiKeyLeaked,
        Action::InviteAccept => EventType::MemberAdded,
        Action::MemberRemove | Action::MemberLeave => EventType::MemberRemoved,
        _ => return None,
    })
}

// ---------------------------------------------------------------------------------------
// Addresses.

/// Whether a request may go to `ip`: a public unicast address. Loopback, private,
/// link-local, shared (CGNAT), unspecified, broadcast, multicast, documentation and
/// reserved ranges are not, nor an IPv6 address that embeds one of them (IPv4-mapped,
/// IPv4-compatible, NAT64, 6to4, Teredo).
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || a == 0
        // Shared address space (RFC 6598).
        || (a == 100 && (64..128).contains(&b))
        // IETF protocol assignments (RFC 6890), benchmarking (RFC 2544).
        || (a == 192 && b == 0 && c == 0)
        || (a == 198 && (b == 18 || b == 19))
        // Reserved (240/4).
        || a >= 240
        // A cloud's host endpoint (Azure's wire server), reachable from every VM.
        || ip == Ipv4Addr::new(168, 63, 129, 16))
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return is_public_v4(v4);
    }
    let s = ip.segments();
    let embedded = |hi: u16, lo: u16| Ipv4Addr::from((u32::from(hi) << 16) | u32::from(lo));
    // Local-use NAT64 (64:ff9b:1::/48): a translator of the network's own, to anywhere.
    if s[..3] == [0x64, 0xff9b, 1] {
        return false;
    }
    // IPv4-translated (::ffff:0:a.b.c.d, SIIT).
    if s[..6] == [0, 0, 0, 0, 0xffff, 0] {
        return is_public_v4(embedded(s[6], s[7]));
    }
    // IPv4-compatible (::a.b.c.d, deprecated) and NAT64 (64:ff9b::/96).
    if s[..6] == [0; 6] || s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return !ip.is_unspecified() && !ip.is_loopback() && is_public_v4(embedded(s[6], s[7]));
    }
    // 6to4 (2002::/16) carries its IPv4 address in the next 32 bits.
    if s[0] == 0x2002 {
        return is_public_v4(embedded(s[1], s[2]));
    }
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_multicast()
        // Unique local (fc00::/7), link-local (fe80::/10), site-local (fec0::/10).
        || (s[0] & 0xfe00) == 0xfc00
        || (s[0] & 0xffc0) == 0xfe80
        || (s[0] & 0xffc0) == 0xfec0
        // Teredo (2001::/32) and documentation (2001:db8::/32).
        || (s[0] == 0x2001 && (s[1] == 0 || s[1] == 0xdb8))
        // Discard-only (100::/64).
        || (s[0] == 0x100 && s[1..4] == [0, 0, 0]))
}

/// Resolves names for the sender, keeping only public addresses: a name that resolves to
/// an inside address is not reached, whatever it resolved to when it was registered.
#[derive(Debug)]
struct PublicOnly;

impl reqwest::dns::Resolve for PublicOnly {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        Box::pin(async move {
            let found: Vec<SocketAddr> = tokio::net::lookup_host((name.as_str(), 0))
                .await?
                .filter(|a| is_public(a.ip()))
                .collect();
            if found.is_empty() {
                return Err(
                    Box::new(std::io::Error::other("the host has no public address"))
                        as Box<dyn std::error::Error + Send + Sync>,
                );
            }
            Ok(Box::new(found.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// The client that sends webhooks: no redirects, no proxy from the environment, a
/// timeout per attempt and, unless private addresses are allowed, [`PublicOnly`].
pub fn client(allow_private: bool) -> Result<reqwest::Client, String> {
    let builder = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .timeout(ATTEMPT_TIMEOUT)
        .connect_timeout(ATTEMPT_TIMEOUT)
        .user_agent(concat!("Keyward-Webhooks/", env!("CARGO_PKG_VERSION")));
    let builder = if allow_private {
        builder
    } else {
        builder.dns_resolver(Arc::new(PublicOnly))
    };
    builder.build().map_err(|e| format!("webhook client: {e}"))
}

/// The address a URL's host spells out, if it is one (`[…]` for IPv6).
fn literal_ip(host: &str) -> Option<IpAddr> {
    host.strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host)
        .parse()
        .ok()
}

/// Checks an endpoint URL as given at registration: `http` or `https`, a host, no
/// credentials, and (unless private addresses are allowed) every address the host
/// resolves to public.
pub async fn endpoint_url(field: &str, raw: &str, allow_private: bool) -> AppResult<String> {
    let raw = raw.trim();
    if raw.len() > MAX_URL_LEN {
        return Err(AppError::invalid(
            field,
            format!("must be at most {MAX_URL_LEN} characters"),
        ));
    }
    let url = reqwest::Url::parse(raw)
        .map_err(|_| AppError::invalid(field, "must be an absolute http or https URL"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(AppError::invalid(field, "must be an http or https URL"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(AppError::invalid(
            field,
            "must not carry a user name or password",
        ));
    }
    if url.fragment().is_some() {
        return Err(AppError::invalid(field, "must not have a fragment"));
    }
    let Some(host) = url.host_str() else {
        return Err(AppError::invalid(field, "must name a host"));
    };
    if !allow_private {
        let inside = || {
            AppError::invalid(
                field,
                "must be on a public address (a name must resolve, to public addresses \
                 only): loopback, private and link-local addresses are refused \
                 (KEYWARD_WEBHOOKS_ALLOW_PRIVATE)",
            )
        };
        match literal_ip(host) {
            Some(ip) if !is_public(ip) => return Err(inside()),
            Some(_) => {}
            None => {
                let port = url.port_or_known_default().unwrap_or(443);
                let addrs: Vec<SocketAddr> = tokio::time::timeout(
                    Duration::from_secs(5),
                    tokio::net::lookup_host((host, port)),
                )
                .await
                .ok()
                .and_then(Result::ok)
                .map(Iterator::collect)
                .unwrap_or_default();
                // One refusal for a name that does not resolve and one that resolves
                // inside: the answer maps no internal names.
                if addrs.is_empty() || addrs.iter().any(|a| !is_public(a.ip())) {
                    return Err(inside());
                }
            }
        }
    }
    Ok(url.to_string())
}

// ---------------------------------------------------------------------------------------
// The outbox.

/// The event types an endpoint asks for, as stored: fail closed on anything else.
pub fn stored_events(endpoint: &webhook_endpoint::Model) -> AppResult<Vec<EventType>> {
    let names: Vec<String> = serde_json::from_str(&endpoint.events)
        .map_err(|e| super::access::corrupt("webhook endpoint events", e))?;
    names
        .iter()
        .map(|n| {
            EventType::parse(n).ok_or_else(|| super::access::corrupt("webhook endpoint events", n))
        })
        .collect()
}

/// Owes `event` to every enabled endpoint of `organization` that asks for it, inside the
/// caller's transaction. `data` never carries a secret.
pub(in crate::domain) async fn enqueue<C: ConnectionTrait>(
    txn: &C,
    organization: Uuid,
    event: EventType,
    data: Value,
    at: DateTime<Utc>,
) -> AppResult<()> {
    let endpoints = WebhookEndpoint::find()
        .filter(webhook_endpoint::Column::OrganizationId.eq(organization))
        .filter(webhook_endpoint::Column::Enabled.eq(true))
        .all(txn)
        .await?;
    let mut rows = Vec::new();
    let message_id = new_id();
    let payload = json!({
        "type": event.as_str(),
        "timestamp": audit::format_time(at),
        "data": data,
    })
    .to_string();
    for endpoint in endpoints {
        // An endpoint whose stored events do not read is sent nothing (and said so): the
        // change it would be told of (a revocation, say) goes ahead.
        match stored_events(&endpoint) {
            Ok(events) if events.contains(&event) => {}
            Ok(_) => continue,
            Err(e) => {
                tracing::error!(endpoint = %endpoint.id, error = %e, "a webhook endpoint is skipped: its stored events do not read");
                continue;
            }
        }
        rows.push(webhook_delivery::ActiveModel {
            id: Set(new_id()),
            organization_id: Set(organization),
            endpoint_id: Set(endpoint.id),
            message_id: Set(message_id),
            event_type: Set(event.as_str().into()),
            payload: Set(payload.clone()),
            status: Set(Status::Pending),
            attempts: Set(0),
            next_attempt_at: Set(at),
            locked_until: Set(None),
            last_attempt_at: Set(None),
            last_status: Set(None),
            last_error: Set(None),
            created_at: Set(at),
            delivered_at: Set(None),
        });
    }
    if !rows.is_empty() {
        WebhookDelivery::insert_many(rows)
            .exec_without_returning(txn)
            .await?;
    }
    Ok(())
}

/// Deliveries one organization, and one endpoint, may have in a pass.
const PER_ORGANIZATION: usize = 8;
const PER_ENDPOINT: usize = 4;

/// The deliveries of a pass, oldest first, at most [`CLAIM`], no organization more than
/// [`PER_ORGANIZATION`] and no endpoint more than [`PER_ENDPOINT`]: an organization whose
/// endpoints answer slowly, or not at all, holds back no other's.
fn fair_share(due: Vec<webhook_delivery::Model>) -> Vec<webhook_delivery::Model> {
    let mut by_org = std::collections::HashMap::<Uuid, usize>::new();
    let mut by_endpoint = std::collections::HashMap::<Uuid, usize>::new();
    let mut share = Vec::new();
    for d in due {
        let org = by_org.entry(d.organization_id).or_default();
        let endpoint = by_endpoint.entry(d.endpoint_id).or_default();
        if *org >= PER_ORGANIZATION || *endpoint >= PER_ENDPOINT {
            continue;
        }
        *org += 1;
        *endpoint += 1;
        share.push(d);
        if share.len() as u64 >= CLAIM {
            break;
        }
    }
    share
}

/// The `webhook-id` of a message.
pub fn message_header(message_id: Uuid) -> String {
    format!("msg_{}", message_id.simple())
}

/// What one attempt came to.
struct Outcome {
    status: Option<u16>,
    error: Option<String>,
    took: Duration,
}

impl Outcome {
    fn delivered(&self) -> bool {
        self.status.is_some_and(|s| (200..300).contains(&s))
    }
}

/// Words for a failed request that name neither the URL nor anything it carries.
fn describe(e: &reqwest::Error) -> String {
    let what = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else if e.is_redirect() {
        "redirected"
    } else {
        "request failed"
    };
    // The resolver's refusal is the innermost cause; say it when it is the reason.
    let mut cause: Option<&dyn std::error::Error> = std::error::Error::source(e);
    while let Some(c) = cause {
        if c.to_string().contains("no public address") {
            return "refused: the host has no public address".into();
        }
        cause = c.source();
    }
    what.into()
}

impl Services {
    /// Sends one delivery and returns what came of it. An endpoint whose literal address
    /// is not public is refused here as at registration.
    async fn attempt(
        &self,
        endpoint: &webhook_endpoint::Model,
        delivery: &webhook_delivery::Model,
    ) -> Outcome {
        let started = std::time::Instant::now();
        let refused = |error: String| Outcome {
            status: None,
            error: Some(error),
            took: started.elapsed(),
        };
        let Ok(url) = reqwest::Url::parse(&endpoint.url) else {
            return refused("the endpoint URL does not parse".into());
        };
        if !self.config.webhooks_allow_private
            && url
                .host_str()
                .and_then(literal_ip)
                .is_some_and(|ip| !is_public(ip))
        {
            return refused("refused: the address is not public".into());
        }
        let key = match SigningKey::parse(&endpoint.secret) {
            Ok(k) => k,
            Err(_) => return refused("the endpoint's stored secret does not read".into()),
        };
        let id = message_header(delivery.message_id);
        let timestamp = self.clock.now().timestamp();
        let signature = key.sign(&id, timestamp, delivery.payload.as_bytes());
        let sent = self
            .webhook_client
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(HEADER_ID, &id)
            .header(HEADER_TIMESTAMP, timestamp.to_string())
            .header(HEADER_SIGNATURE, signature)
            .body(delivery.payload.clone())
            .send()
            .await;
        match sent {
            Ok(response) => {
                let status = response.status();
                Outcome {
                    status: Some(status.as_u16()),
                    error: (!status.is_success()).then(|| format!("answered {}", status.as_u16())),
                    took: started.elapsed(),
                }
            }
            Err(e) => refused(describe(&e)),
        }
    }

    /// Sends what is due, once: claims up to [`CLAIM`] deliveries, sends them
    /// ([`AT_ONCE`] at a time) and writes what came of each. Returns how many were sent.
    pub async fn send_due_webhooks(&self) -> AppResult<usize> {
        let now = self.clock.now();
        let free = Condition::any()
            .add(webhook_delivery::Column::LockedUntil.is_null())
            .add(webhook_delivery::Column::LockedUntil.lt(now));
        let due = WebhookDelivery::find()
            .filter(webhook_delivery::Column::Status.eq(Status::Pending))
            .filter(webhook_delivery::Column::NextAttemptAt.lte(now))
            .filter(free.clone())
            .order_by_asc(webhook_delivery::Column::NextAttemptAt)
            .limit(CLAIM * 8)
            .all(&self.db)
            .await?;
        let mut claimed = Vec::new();
        for delivery in fair_share(due) {
            // One node wins each: the claim is a write conditional on it still being free.
            let won = WebhookDelivery::update_many()
                .col_expr(
                    webhook_delivery::Column::LockedUntil,
                    sea_orm::sea_query::Expr::value(now + LEASE),
                )
                .filter(webhook_delivery::Column::Id.eq(delivery.id))
                .filter(webhook_delivery::Column::Status.eq(Status::Pending))
                .filter(free.clone())
                .exec(&self.db)
                .await?;
            if won.rows_affected == 1 {
                claimed.push(delivery);
            }
        }
        let endpoint_ids: Vec<Uuid> = claimed.iter().map(|d| d.endpoint_id).collect();
        let endpoints: std::collections::HashMap<Uuid, webhook_endpoint::Model> =
            WebhookEndpoint::find()
                .filter(webhook_endpoint::Column::Id.is_in(endpoint_ids))
                .all(&self.db)
                .await?
                .into_iter()
                .map(|e| (e.id, e))
                .collect();
        let sent = claimed.len();
        let results: Vec<AppResult<()>> = futures::stream::iter(claimed)
            .map(|delivery| {
                let endpoint = endpoints.get(&delivery.endpoint_id).cloned();
                async move {
                    let outcome = match &endpoint {
                        Some(e) => self.attempt(e, &delivery).await,
                        None => Outcome {
                            status: None,
                            error: Some("the endpoint is gone".into()),
                            took: Duration::ZERO,
                        },
                    };
                    self.record_attempt(&delivery, outcome).await
                }
            })
            .buffer_unordered(AT_ONCE)
            .collect()
            .await;
        for r in results {
            r?;
        }
        Ok(sent)
    }

    /// Logs an attempt and moves its delivery on: delivered, due again after the
    /// back-off, or failed after the last.
    async fn record_attempt(
        &self,
        delivery: &webhook_delivery::Model,
        outcome: Outcome,
    ) -> AppResult<()> {
        let now = self.clock.now();
        let attempts = delivery.attempts.saturating_add(1);
        let delivered = outcome.delivered();
        let txn = self.db.begin().await?;
        WebhookAttempt::insert(webhook_attempt::ActiveModel {
            id: Set(new_id()),
            delivery_id: Set(delivery.id),
            attempted_at: Set(now),
            status: Set(outcome.status.map(i32::from)),
            error: Set(outcome.error.clone()),
            duration_ms: Set(i64::try_from(outcome.took.as_millis()).unwrap_or(i64::MAX)),
        })
        .exec_without_returning(&txn)
        .await?;
        let retry = usize::try_from(attempts - 1)
            .ok()
            .and_then(|i| BACKOFF.get(i));
        let (status, next) = match (delivered, retry) {
            (true, _) => (Status::Delivered, delivery.next_attempt_at),
            (false, Some(wait)) => (Status::Pending, now + *wait),
            (false, None) => (Status::Failed, delivery.next_attempt_at),
        };
        use sea_orm::sea_query::Expr;
        let logged = |update: sea_orm::UpdateMany<WebhookDelivery>| {
            update
                .col_expr(webhook_delivery::Column::Attempts, Expr::value(attempts))
                .col_expr(webhook_delivery::Column::LastAttemptAt, Expr::value(now))
                .col_expr(
                    webhook_delivery::Column::LastStatus,
                    Expr::value(outcome.status.map(i32::from)),
                )
                .col_expr(
                    webhook_delivery::Column::LastError,
                    Expr::value(outcome.error.clone()),
                )
                .filter(webhook_delivery::Column::Id.eq(delivery.id))
        };
        // Moved on only while still claimed: a manual retry meanwhile (which lets go of
        // the claim) stands, and the delivery goes again at once.
        let moved = logged(WebhookDelivery::update_many())
            .col_expr(
                webhook_delivery::Column::Status,
                Expr::value(sea_orm::ActiveEnum::to_value(&status)),
            )
            .col_expr(webhook_delivery::Column::NextAttemptAt, Expr::value(next))
            .col_expr(
                webhook_delivery::Column::LockedUntil,
                Expr::value(Option::<DateTime<Utc>>::None),
            )
            .col_expr(
                webhook_delivery::Column::DeliveredAt,
                Expr::value(delivered.then_some(now)),
            )
            .filter(webhook_delivery::Column::LockedUntil.is_not_null())
            .exec(&txn)
            .await?;
        if moved.rows_affected == 0 {
            logged(WebhookDelivery::update_many()).exec(&txn).await?;
        }
        txn.commit().await?;
        Ok(())
    }

    /// Announces, once each, the API keys that expire within [`EXPIRY_NOTICE`]: to the
    /// organization's endpoints (`api_key.expiring`) and, when the server sends email, to
    /// the key's owner. Only organizations with an endpoint are read unless email is sent.
    /// Returns how many were announced.
    pub async fn announce_expiring_keys(&self) -> AppResult<usize> {
        let now = self.clock.now();
        let mut query = Credential::find()
            .filter(credential::Column::Kind.eq(credential::Kind::ApiKey))
            .filter(credential::Column::RevokedAt.is_null())
            .filter(credential::Column::ExpiresAt.gt(now))
            .filter(credential::Column::ExpiresAt.lte(now + EXPIRY_NOTICE));
        if self.mailer.is_none() {
            query = query.filter(
                credential::Column::OrganizationId.in_subquery(sea_orm::QueryTrait::into_query(
                    WebhookEndpoint::find()
                        .select_only()
                        .column(webhook_endpoint::Column::OrganizationId),
                )),
            );
        }
        // Page by page, soonest first, past the keys announced already: one organization's
        // many keys do not keep another's from being announced.
        let mut announced = 0;
        let mut after: Option<(DateTime<Utc>, Uuid)> = None;
        for _ in 0..EXPIRING_PAGES {
            let mut page = query.clone();
            if let Some((at, id)) = after {
                page = page.filter(
                    Condition::any()
                        .add(credential::Column::ExpiresAt.gt(at))
                        .add(
                            Condition::all()
                                .add(credential::Column::ExpiresAt.eq(at))
                                .add(credential::Column::Id.gt(id)),
                        ),
                );
            }
            let keys = page
                .order_by_asc(credential::Column::ExpiresAt)
                .order_by_asc(credential::Column::Id)
                .limit(EXPIRING_PER_PASS)
                .all(&self.db)
                .await?;
            let full = keys.len() as u64 == EXPIRING_PER_PASS;
            for key in keys {
                after = key.expires_at.map(|at| (at, key.id));
                // One key that fails is said, and the others are announced still.
                match self.announce_expiring(&key, now).await {
                    Ok(true) => announced += 1,
                    Ok(false) => {}
                    Err(e) => {
                        tracing::warn!(key = %key.id, error = %e, "a key's coming expiry was not announced; will retry");
                    }
                }
            }
            if !full {
                break;
            }
        }
        Ok(announced)
    }

    /// Announces one key's coming expiry, unless it was announced already.
    async fn announce_expiring(
        &self,
        key: &credential::Model,
        now: DateTime<Utc>,
    ) -> AppResult<bool> {
        let (Some(org), Some(expires)) = (key.organization_id, key.expires_at) else {
            return Ok(false);
        };
        let txn = self.db.begin().await?;
        let inserted = Notice::insert(notice::ActiveModel {
            key: Set(format!(
                "api_key.expiring:{}:{}",
                key.id,
                expires.timestamp()
            )),
            created_at: Set(now),
        })
        .on_conflict(
            OnConflict::column(notice::Column::Key)
                .do_nothing()
                .to_owned(),
        )
        .exec_without_returning(&txn)
        .await?;
        if inserted == 1 {
            enqueue(
                &txn,
                org,
                EventType::ApiKeyExpiring,
                json!({
                    "id": key.id,
                    "name": key.name,
                    "organization_id": org,
                    "project_id": key.project_id,
                    "expires_at": audit::format_time(expires),
                }),
                now,
            )
            .await?;
            if let Some((to, org_name)) = self.owner_address(&txn, key).await? {
                self.queue_email(
                    &txn,
                    &to,
                    &format!(
                        "Your API key {} expires on {}",
                        key.name,
                        expires.format("%Y-%m-%d")
                    ),
                    format!(
                        "Your API key {name} ({prefix}...) in {org_name} expires on {at}.\n\n\
                         Rotate it before then, and put the new key where the old one is \
                         used:\n{link}\n",
                        name = key.name,
                        prefix = key.display_prefix,
                        at = audit::format_time(expires),
                        link = self.key_link(key.id),
                    ),
                )
                .await?;
            }
        }
        txn.commit().await?;
        Ok(inserted == 1)
    }

    /// A key's owner's address and its organization's name, when it has a human owner.
    pub(in crate::domain) async fn owner_address<C: ConnectionTrait>(
        &self,
        txn: &C,
        key: &credential::Model,
    ) -> AppResult<Option<(String, String)>> {
        let Some(owner) = key.customer_id else {
            return Ok(None);
        };
        let Some(customer) = Customer::find_by_id(owner).one(txn).await? else {
            return Ok(None);
        };
        let org_name = match key.organization_id {
            Some(org) => Organization::find_by_id(org)
                .one(txn)
                .await?
                .map_or_else(|| "your organization".to_owned(), |o| o.name),
            None => "your account".to_owned(),
        };
        Ok(Some((customer.email, org_name)))
    }

    /// Where a key is seen in the dashboard.
    pub fn key_link(&self, key: Uuid) -> String {
        format!("{}/keys/{key}", self.config.public_url)
    }

    /// Deletes deliveries (with their attempts) and notices older than [`RETENTION`].
    pub async fn prune_webhooks(&self) -> AppResult<u64> {
        let mut removed = 0;
        // In batches, until nothing old is left (at most 100,000 a pass).
        for _ in 0..100 {
            let batch = self.prune_webhook_batch().await?;
            removed += batch;
            if batch < 1000 {
                break;
            }
        }
        Ok(removed)
    }

    async fn prune_webhook_batch(&self) -> AppResult<u64> {
        let before = self.clock.now() - RETENTION;
        let old = WebhookDelivery::find()
            .select_only()
            .column(webhook_delivery::Column::Id)
            .filter(webhook_delivery::Column::CreatedAt.lt(before))
            .limit(1000)
            .into_tuple::<Uuid>()
            .all(&self.db)
            .await?;
        // Nothing to delete takes no write lock (SQLite's is the whole database's).
        let old_notices = Notice::find()
            .filter(notice::Column::CreatedAt.lt(before))
            .limit(1)
            .count(&self.db)
            .await?;
        if old.is_empty() && old_notices == 0 {
            return Ok(0);
        }
        let txn = self.db.begin().await?;
        WebhookAttempt::delete_many()
            .filter(webhook_attempt::Column::DeliveryId.is_in(old.clone()))
            .exec(&txn)
            .await?;
        let removed = WebhookDelivery::delete_many()
            .filter(webhook_delivery::Column::Id.is_in(old))
            .exec(&txn)
            .await?
            .rows_affected;
        Notice::delete_many()
            .filter(notice::Column::CreatedAt.lt(before))
            .exec(&txn)
            .await?;
        txn.commit().await?;
        Ok(removed)
    }
}

// ---------------------------------------------------------------------------------------
// Managing endpoints.

/// Input of [`Services::create_webhook_endpoint`].
#[derive(Debug, Clone)]
pub struct NewEndpoint {
    pub organization_id: Uuid,
    pub url: String,
    pub events: Vec<String>,
    pub description: Option<String>,
}

/// An endpoint as shown (never its secret).
#[derive(Debug, Clone)]
pub struct EndpointView {
    pub endpoint: webhook_endpoint::Model,
    pub events: Vec<EventType>,
}

impl EndpointView {
    /// The endpoint as `grant` may see it: its whole URL with `settings:write`, else only
    /// where it points (a URL's path and query are often its credential: Slack's,
    /// Zapier's, `?token=`).
    fn of(mut endpoint: webhook_endpoint::Model, grant: &super::access::Grant) -> AppResult<Self> {
        if !grant.held().allows(&Perm::SETTINGS_WRITE) {
            endpoint.url = origin_of(&endpoint.url);
        }
        Ok(Self {
            events: stored_events(&endpoint)?,
            endpoint,
        })
    }
}

/// Where a URL points, without its path and query: `https://hooks.example.com/…`.
pub fn origin_of(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(u) => {
            let tail = if u.path() == "/" && u.query().is_none() {
                "/"
            } else {
                "/…"
            };
            format!("{}{tail}", u.origin().ascii_serialization())
        }
        Err(_) => "…".into(),
    }
}

/// A delivery as shown, with the endpoint it is for.
pub type DeliveryView = webhook_delivery::Model;

fn event_types(field: &str, names: &[String]) -> AppResult<Vec<EventType>> {
    if names.is_empty() {
        return Err(AppError::invalid(field, "must name at least one event"));
    }
    if names.len() > EventType::ALL.len() {
        return Err(AppError::invalid(
            field,
            format!("must name at most {} events", EventType::ALL.len()),
        ));
    }
    let mut events = Vec::new();
    for name in names {
        let event = EventType::parse(name.trim()).ok_or_else(|| {
            let known: Vec<&str> = EventType::ALL.iter().map(|e| e.as_str()).collect();
            AppError::invalid(
                field,
                format!(
                    "`{}` is not an event; known: {}",
                    name.chars().take(64).collect::<String>(),
                    known.join(", ")
                ),
            )
        })?;
        if !events.contains(&event) {
            events.push(event);
        }
    }
    events.sort();
    Ok(events)
}

impl Services {
    /// Registers an endpoint and returns it with its signing secret, shown this once.
    /// **Permissions**: `settings:write`, over the whole organization.
    pub async fn create_webhook_endpoint(
        &self,
        actor: &Actor,
        input: NewEndpoint,
    ) -> AppResult<(EndpointView, String)> {
        let grant = self
            .authorize(
                actor,
                Need::Org(input.organization_id, Perm::SETTINGS_WRITE),
            )
            .await?;
        grant.require_whole_organization("webhook endpoints")?;
        let events = event_types("input.events", &input.events)?;
        let description = match input.description.as_deref().map(str::trim) {
            Some(d) if d.chars().count() > MAX_DESCRIPTION_LEN => {
                return Err(AppError::invalid(
                    "input.description",
                    format!("must be at most {MAX_DESCRIPTION_LEN} characters"),
                ));
            }
            Some(d) if d.chars().any(char::is_control) => {
                return Err(AppError::invalid(
                    "input.description",
                    "must not contain control characters",
                ));
            }
            Some("") | None => None,
            Some(d) => Some(d.to_owned()),
        };
        let url = endpoint_url("input.url", &input.url, self.config.webhooks_allow_private).await?;
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes).map_err(AppError::internal)?;
        let secret = SigningKey::from_bytes(bytes.to_vec()).secret();
        let names: Vec<&str> = events.iter().map(|e| e.as_str()).collect();
        let now = self.clock.now();
        let txn = self.db.begin().await?;
        // Counted under the organization's lock: registrations at once cannot pass the cap.
        orgs::lock_organization(&txn, input.organization_id).await?;
        let existing = WebhookEndpoint::find()
            .filter(webhook_endpoint::Column::OrganizationId.eq(input.organization_id))
            .count(&txn)
            .await?;
        if existing >= MAX_ENDPOINTS {
            return Err(AppError::Conflict(format!(
                "this organization has {existing} webhook endpoints, the most allowed"
            )));
        }
        let endpoint = webhook_endpoint::Model {
            id: new_id(),
            organization_id: input.organization_id,
            url,
            description,
            events: serde_json::to_string(&names).map_err(AppError::internal)?,
            secret: secret.clone(),
            enabled: true,
            created_at: now,
        };
        WebhookEndpoint::insert(webhook_endpoint::ActiveModel::from(endpoint.clone()))
            .exec_without_returning(&txn)
            .await?;
        audit::record(
            &txn,
            &grant,
            AuditEntry::new(
                Some(endpoint.organization_id),
                Action::WebhookEndpointCreate,
                "webhook_endpoint",
                endpoint.id,
            )
            .name(origin_of(&endpoint.url))
            .details(json!({ "url": origin_of(&endpoint.url), "events": names })),
        )
        .await?;
        txn.commit().await?;
        Ok((EndpointView { endpoint, events }, secret))
    }

    /// An organization's endpoints, newest first. **Permissions**: `settings:read`.
    pub async fn webhook_endpoints(
        &self,
        actor: &Actor,
        organization: Uuid,
    ) -> AppResult<Vec<EndpointView>> {
        let grant = self
            .authorize(actor, Need::Org(organization, Perm::SETTINGS_READ))
            .await?;
        WebhookEndpoint::find()
            .filter(webhook_endpoint::Column::OrganizationId.eq(organization))
            .order_by_desc(webhook_endpoint::Column::Id)
            .limit(MAX_ENDPOINTS)
            .all(&self.db)
            .await?
            .into_iter()
            .map(|e| EndpointView::of(e, &grant))
            .collect()
    }

    async fn endpoint_with(
        &self,
        actor: &Actor,
        id: Uuid,
        perm: Perm,
    ) -> AppResult<(webhook_endpoint::Model, super::access::Grant)> {
        let endpoint = WebhookEndpoint::find_by_id(id)
            .one(&self.db)
            .await?
            .ok_or(AppError::NotFound("webhook endpoint"))?;
        let grant = self
            .authorize_visible(actor, endpoint.organization_id, perm, "webhook endpoint")
            .await?;
        Ok((endpoint, grant))
    }

    /// One endpoint. **Permissions**: `settings:read`.
    pub async fn webhook_endpoint(&self, actor: &Actor, id: Uuid) -> AppResult<EndpointView> {
        let (endpoint, grant) = self.endpoint_with(actor, id, Perm::SETTINGS_READ).await?;
        EndpointView::of(endpoint, &grant)
    }

    /// Deletes an endpoint and its delivery log: nothing more is sent to it. With
    /// `organization`, an endpoint of another is not found. Its stored events are not
    /// read, so an endpoint whose events do not read can still be deleted.
    /// **Permissions**: `settings:write`, over the whole organization.
    pub async fn delete_webhook_endpoint(
        &self,
        actor: &Actor,
        organization: Option<Uuid>,
        id: Uuid,
    ) -> AppResult<()> {
        let (endpoint, grant) = self.endpoint_with(actor, id, Perm::SETTINGS_WRITE).await?;
        if organization.is_some_and(|org| org != endpoint.organization_id) {
            return Err(AppError::NotFound("webhook endpoint"));
        }
        grant.require_whole_organization("webhook endpoints")?;
        let txn = self.db.begin().await?;
        let deliveries = WebhookDelivery::find()
            .select_only()
            .column(webhook_delivery::Column::Id)
            .filter(webhook_delivery::Column::EndpointId.eq(id));
        WebhookAttempt::delete_many()
            .filter(
                webhook_attempt::Column::DeliveryId
                    .in_subquery(sea_orm::QueryTrait::into_query(deliveries)),
            )
            .exec(&txn)
            .await?;
        WebhookDelivery::delete_many()
            .filter(webhook_delivery::Column::EndpointId.eq(id))
            .exec(&txn)
            .await?;
        let gone = WebhookEndpoint::delete_by_id(id).exec(&txn).await?;
        if gone.rows_affected != 1 {
            return Err(AppError::NotFound("webhook endpoint"));
        }
        audit::record(
            &txn,
            &grant,
            AuditEntry::new(
                Some(endpoint.organization_id),
                Action::WebhookEndpointDelete,
                "webhook_endpoint",
                endpoint.id,
            )
            .name(origin_of(&endpoint.url))
            .details(json!({ "url": origin_of(&endpoint.url) })),
        )
        .await?;
        txn.commit().await?;
        Ok(())
    }

    /// An endpoint's deliveries, newest first. **Permissions**: `settings:read`.
    pub async fn webhook_deliveries(
        &self,
        actor: &Actor,
        endpoint: Uuid,
        first: u64,
        after: Option<Uuid>,
    ) -> AppResult<Page<DeliveryView>> {
        self.endpoint_with(actor, endpoint, Perm::SETTINGS_READ)
            .await?;
        let query =
            WebhookDelivery::find().filter(webhook_delivery::Column::EndpointId.eq(endpoint));
        paging::page(&self.db, query, webhook_delivery::Column::Id, first, after).await
    }

    async fn delivery_with(
        &self,
        actor: &Actor,
        id: Uuid,
        perm: Perm,
    ) -> AppResult<(webhook_delivery::Model, super::access::Grant)> {
        let delivery = WebhookDelivery::find_by_id(id)
            .one(&self.db)
            .await?
            .ok_or(AppError::NotFound("webhook delivery"))?;
        let grant = self
            .authorize_visible(actor, delivery.organization_id, perm, "webhook delivery")
            .await?;
        Ok((delivery, grant))
    }

    /// One delivery with its attempts, oldest first. **Permissions**: `settings:read`.
    pub async fn webhook_delivery(
        &self,
        actor: &Actor,
        id: Uuid,
    ) -> AppResult<(DeliveryView, Vec<webhook_attempt::Model>)> {
        let (delivery, _) = self.delivery_with(actor, id, Perm::SETTINGS_READ).await?;
        let attempts = WebhookAttempt::find()
            .filter(webhook_attempt::Column::DeliveryId.eq(id))
            .order_by_asc(webhook_attempt::Column::Id)
            .limit(100)
            .all(&self.db)
            .await?;
        Ok((delivery, attempts))
    }

    /// Sends a delivery again at once, whatever came of it before, with the same
    /// `webhook-id`. **Permissions**: `settings:write`, over the whole organization.
    pub async fn retry_webhook_delivery(&self, actor: &Actor, id: Uuid) -> AppResult<DeliveryView> {
        let (delivery, grant) = self.delivery_with(actor, id, Perm::SETTINGS_WRITE).await?;
        grant.require_whole_organization("webhook deliveries")?;
        let now = self.clock.now();
        let txn = self.db.begin().await?;
        WebhookDelivery::update_many()
            .col_expr(
                webhook_delivery::Column::Status,
                sea_orm::sea_query::Expr::value(sea_orm::ActiveEnum::to_value(&Status::Pending)),
            )
            .col_expr(
                webhook_delivery::Column::NextAttemptAt,
                sea_orm::sea_query::Expr::value(now),
            )
            .col_expr(
                webhook_delivery::Column::LockedUntil,
                sea_orm::sea_query::Expr::value(Option::<DateTime<Utc>>::None),
            )
            .filter(webhook_delivery::Column::Id.eq(id))
            .exec(&txn)
            .await?;
        audit::record(
            &txn,
            &grant,
            AuditEntry::new(
                Some(delivery.organization_id),
                Action::WebhookDeliveryRetry,
                "webhook_delivery",
                delivery.id,
            )
            .details(json!({
                "endpoint_id": delivery.endpoint_id,
                "event_type": delivery.event_type,
                "message_id": message_header(delivery.message_id),
            })),
        )
        .await?;
        let updated = WebhookDelivery::find_by_id(id)
            .one(&txn)
            .await?
            .ok_or(AppError::NotFound("webhook delivery"))?;
        txn.commit().await?;
        Ok(updated)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inside_addresses_are_not_public() {
        for inside in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "255.255.255.255",
            "224.0.0.1",
            "198.18.0.1",
            "192.0.0.8",
            "240.0.0.1",
            "::1",
            "::",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "fec0::1",
            "ff02::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "::ffff:10.0.0.1",
            "::127.0.0.1",
            "64:ff9b::a9fe:a9fe",
            "2002:7f00:1::1",
            "2001::1",
            "2001:db8::1",
            "100::1",
            "64:ff9b:1::a9fe:a9fe",
            "::ffff:0:a9fe:a9fe",
            "168.63.129.16",
        ] {
            let ip: IpAddr = inside.parse().unwrap();
            assert!(!is_public(ip), "{inside} is not public");
        }
        for outside in [
            "1.1.1.1",
            "93.184.216.34",
            "2606:4700:4700::1111",
            "::ffff:1.1.1.1",
            "64:ff9b::101:101",
            "2002:101:101::1",
        ] {
            let ip: IpAddr = outside.parse().unwrap();
            assert!(is_public(ip), "{outside} is public");
        }
    }

    #[tokio::test]
    async fn registration_refuses_what_it_cannot_reach_safely() {
        for (url, says) in [
            ("ftp://example.com/x", "http or https"),
            ("http://user:pw@example.com/", "user name or password"),
            ("https://example.com/#a", "fragment"),
            ("not a url", "absolute"),
            ("http://127.0.0.1:8080/hook", "public address"),
            ("http://[::ffff:7f00:1]/hook", "public address"),
            ("http://169.254.169.254/latest", "public address"),
            ("http://localhost:9/hook", "public address"),
        ] {
            let e = endpoint_url("input.url", url, false).await.unwrap_err();
            let text = e.to_string();
            assert!(text.starts_with("input.url: "), "{url}: {text}");
            assert!(text.contains(says), "{url}: {text}");
        }
        assert_eq!(
            endpoint_url("input.url", "http://127.0.0.1:8080/hook", true)
                .await
                .unwrap(),
            "http://127.0.0.1:8080/hook"
        );
        let long = format!("https://example.com/{}", "a".repeat(MAX_URL_LEN));
        assert!(endpoint_url("input.url", &long, true).await.is_err());
    }

    #[test]
    fn events_are_named_and_deduplicated() {
        let e = event_types("input.events", &["api_key.made".into()]).unwrap_err();
        assert!(e.to_string().contains("known: api_key.created"), "{e}");
        assert!(event_types("input.events", &[]).is_err());
        assert_eq!(
            event_types(
                "input.events",
                &[
                    "member.added".into(),
                    "api_key.created".into(),
                    "member.added".into()
                ]
            )
            .unwrap(),
            vec![EventType::ApiKeyCreated, EventType::MemberAdded]
        );
    }

    #[test]
    fn one_organization_takes_a_fair_share_of_a_pass() {
        let now = Utc::now();
        let delivery = |org: u128, endpoint: u128| webhook_delivery::Model {
            id: new_id(),
            organization_id: Uuid::from_u128(org),
            endpoint_id: Uuid::from_u128(endpoint),
            message_id: new_id(),
            event_type: "api_key.created".into(),
            payload: "{}".into(),
            status: Status::Pending,
            attempts: 0,
            next_attempt_at: now,
            locked_until: None,
            last_attempt_at: None,
            last_status: None,
            last_error: None,
            created_at: now,
            delivered_at: None,
        };
        // A flood from one organization's twenty endpoints, then another's one delivery.
        let mut due: Vec<_> = (0..200).map(|i| delivery(1, 100 + i % 20)).collect();
        due.push(delivery(2, 7));
        let share = fair_share(due);
        let flood = share
            .iter()
            .filter(|d| d.organization_id == Uuid::from_u128(1))
            .count();
        assert_eq!(flood, PER_ORGANIZATION);
        assert!(
            share
                .iter()
                .any(|d| d.organization_id == Uuid::from_u128(2))
        );
        // One endpoint alone gets no more than its share either.
        let one: Vec<_> = (0..50).map(|_| delivery(3, 9)).collect();
        assert_eq!(fair_share(one).len(), PER_ENDPOINT);
    }

    #[test]
    fn an_origin_hides_the_path_and_query() {
        assert_eq!(
            origin_of("https://hooks.slack.com/services/T0/B0/secret?x=1"),
            "https://hooks.slack.com/…"
        );
        assert_eq!(
            origin_of("http://127.0.0.1:8080/"),
            "http://127.0.0.1:8080/"
        );
        assert_eq!(origin_of("not a url"), "…");
    }

    #[test]
    fn the_first_retry_comes_within_ten_seconds() {
        assert!(BACKOFF[0] <= TimeDelta::seconds(10));
        assert!(BACKOFF.windows(2).all(|w| w[0] < w[1]));
    }
}

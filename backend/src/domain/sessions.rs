//! Dashboard sessions (SPEC §6) and development sign-in (SPEC §2).
//!
//! A session is a server-side row; the browser holds only an opaque random id inside an
//! encrypted cookie, and the row stores only that id's SHA-256. A session must carry a
//! customer, an organization and a project: an older row lacking any of them is refused
//! with "sign in again".

use chrono::TimeDelta;
use entity::{prelude::*, session, signin_link};
use keyward_proto::audit::Action;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder,
    TransactionTrait, sea_query::Expr,
};
use serde_json::json;
use tracing::instrument;
use uuid::Uuid;

use super::{
    CustomerRef, Principal, RequestMeta, Services,
    access::{Grant, Need},
    audit::{self, AuditEntry},
    ids::new_id,
    orgs,
    paging::{self, Page},
    permissions::Perm,
    ratelimit::{Outage, Subject},
};
use crate::{
    error::{AppError, AppResult, AuthFailure},
    token::{PlainToken, TokenHash, random_base62},
};

/// Name of the session cookie.
pub const SESSION_COOKIE: &str = "keyward_session";
/// Email of the local admin that development sign-in signs in as.
pub const DEV_ADMIN_EMAIL: &str = "admin@localhost";

/// A session's device in words, from its user agent: `Firefox 133 on Linux`, or
/// `Unknown device`. The raw string stays available beside it.
pub fn device_in_words(user_agent: Option<&str>) -> String {
    let Some(parsed) = user_agent
        .filter(|ua| !ua.trim().is_empty())
        .and_then(|ua| woothee::parser::Parser::new().parse(ua))
    else {
        return "Unknown device".into();
    };
    let known = |s: &str| !s.is_empty() && s != woothee::woothee::VALUE_UNKNOWN;
    let major = parsed.version.split('.').next().unwrap_or_default();
    let browser = match (known(parsed.name), known(major)) {
        (true, true) => format!("{} {major}", parsed.name),
        (true, false) => parsed.name.to_owned(),
        _ => "Unknown browser".to_owned(),
    };
    if known(parsed.os) {
        format!("{browser} on {}", parsed.os)
    } else {
        browser
    }
}

/// How long a development sign-in link stays usable.
pub const SIGNIN_LINK_TTL: TimeDelta = TimeDelta::hours(1);

/// Why a development sign-in link was refused: each says what to do next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkRefusal {
    /// The link was redeemed before: each works once.
    Used,
    /// The link is older than [`SIGNIN_LINK_TTL`].
    Expired,
    /// No such link was ever offered against this database.
    Unknown,
}

impl LinkRefusal {
    /// The sentence for people, the same in a browser and in JSON.
    pub fn describe(self) -> &'static str {
        match self {
            Self::Used => "this sign-in link was already used: each link works once",
            Self::Expired => "this sign-in link has expired: a link lasts one hour",
            Self::Unknown => "this sign-in link is not known to this server",
        }
    }
}

impl Services {
    /// Opens a session and returns the secret that goes into the cookie; the sign-in is
    /// audited (`session.create`, with how the user signed in, from where and with what).
    #[instrument(skip_all, fields(customer = %customer_id))]
    pub async fn create_session(
        &self,
        customer_id: Uuid,
        organization_id: Uuid,
        project_id: Uuid,
        meta: &RequestMeta,
        method: SignInMethod,
    ) -> AppResult<PlainToken> {
        let secret = PlainToken::new(random_base62(43).map_err(AppError::internal)?);
        let now = self.clock.now();
        let ttl = TimeDelta::from_std(self.config.session_ttl).unwrap_or(TimeDelta::days(30));
        let txn = self.db.begin().await?;
        let customer = Customer::find_by_id(customer_id)
            .one(&txn)
            .await?
            .ok_or(AppError::NotFound("customer"))?;
        let session = session::ActiveModel {
            id: Set(new_id()),
            token_hash: Set(secret.hash().as_str().to_owned()),
            customer_id: Set(Some(customer_id)),
            organization_id: Set(Some(organization_id)),
            project_id: Set(Some(project_id)),
            user_agent: Set(meta.user_agent.clone()),
            ip: Set(meta.ip.clone()),
            created_at: Set(now),
            last_seen_at: Set(now),
            expires_at: Set(now + ttl),
            revoked_at: Set(None),
        }
        .insert(&txn)
        .await?;
        // The new session's user acts: the event names them, from the request's address.
        let grant = Grant::system(
            super::Actor::new(
                Principal::Session {
                    session_id: session.id,
                    customer: CustomerRef::from(&customer),
                    organization_id,
                    project_id,
                },
                meta.clone(),
            ),
            now,
        );
        audit::record(
            &txn,
            &grant,
            AuditEntry::new(
                Some(organization_id),
                Action::SessionCreate,
                "session",
                session.id,
            )
            .name(&customer.email)
            .details(json!({
                "method": method.as_str(),
                "ip": meta.ip,
                "user_agent": meta.user_agent,
            })),
        )
        .await?;
        txn.commit().await?;
        Ok(secret)
    }

    /// The principal behind a session cookie's secret.
    pub async fn session_principal(&self, secret: &str) -> AppResult<Principal> {
        let hash = TokenHash::of(secret);
        let row = Session::find()
            .filter(session::Column::TokenHash.eq(hash.as_str()))
            .one(&self.db)
            .await?
            .ok_or(AuthFailure::SessionInvalid)?;
        let now = self.clock.now();
        let idle =
            TimeDelta::from_std(self.config.session_idle_timeout).unwrap_or(TimeDelta::days(7));
        if row.revoked_at.is_some() || row.expires_at <= now || row.last_seen_at + idle <= now {
            return Err(AuthFailure::SessionInvalid.into());
        }
        let (Some(customer_id), Some(organization_id), Some(project_id)) =
            (row.customer_id, row.organization_id, row.project_id)
        else {
            return Err(AuthFailure::SessionInvalid.into());
        };
        let customer = Customer::find_by_id(customer_id)
            .one(&self.db)
            .await?
            .ok_or(AuthFailure::SessionInvalid)?;
        if customer.suspended_at.is_some() {
            return Err(AuthFailure::Suspended.into());
        }
        let org = Organization::find_by_id(organization_id)
            .one(&self.db)
            .await?
            .ok_or(AuthFailure::SessionInvalid)?;
        if org.suspended_at.is_some() {
            return Err(AuthFailure::Suspended.into());
        }
        // A signed-in user is limited like a key: the organization's limit, per user.
        self.limit_user(
            customer.id,
            org.rate_limit_per_minute
                .and_then(|v| u32::try_from(v).ok()),
        )
        .await?;
        let session_id = row.id;
        if now - row.last_seen_at > TimeDelta::minutes(1) {
            let mut active: session::ActiveModel = row.into();
            active.last_seen_at = Set(now);
            active.update(&self.db).await?;
        }
        Ok(Principal::Session {
            session_id,
            customer: CustomerRef::from(&customer),
            organization_id,
            project_id,
        })
    }

    /// Counts a request by a user acting as themselves (a dashboard session, or the
    /// identity provider's token) against one allowance per user, whichever way they
    /// came: `per_minute`, else the instance default. While Redis is away, limited on
    /// this node: a user is never locked out of the dashboard by an outage.
    pub(in crate::domain) async fn limit_user(
        &self,
        customer: Uuid,
        per_minute: Option<u32>,
    ) -> AppResult<()> {
        let per_minute = per_minute.unwrap_or(self.config.default_rate_limit_per_minute);
        let rate = self
            .limiter
            .check(Subject::User(customer), per_minute, Outage::LimitHere)
            .await;
        if !rate.allowed {
            return Err(AppError::RateLimited {
                retry_after_secs: rate.retry_after_secs,
                limit: rate.limit,
            });
        }
        Ok(())
    }

    /// Offers a new one-time development sign-in link, valid for [`SIGNIN_LINK_TTL`], and
    /// returns its URL. The link is kept (as its token's SHA-256) in the database, so any
    /// server on it honours the link once, and `keyward-server signin-link` can offer one
    /// to a running server.
    pub async fn offer_dev_signin(&self) -> AppResult<String> {
        if !self.config.dev_signin_enabled() {
            return Err(AppError::NotFound("development sign-in"));
        }
        let token = random_base62(32).map_err(AppError::internal)?;
        let now = self.clock.now();
        signin_link::ActiveModel {
            id: Set(new_id()),
            token_hash: Set(TokenHash::of(&token).as_str().to_owned()),
            created_at: Set(now),
            expires_at: Set(now + SIGNIN_LINK_TTL),
            used_at: Set(None),
        }
        .insert(&self.db)
        .await?;
        // Links long past their time are no use to anyone.
        SigninLink::delete_many()
            .filter(signin_link::Column::ExpiresAt.lt(now - TimeDelta::days(1)))
            .exec(&self.db)
            .await?;
        Ok(format!("{}/auth/dev?token={token}", self.config.public_url))
    }

    /// Redeems the development sign-in link: signs in the local admin, provisioning its
    /// organization and project on first use, and returns the session secret.
    #[instrument(skip_all)]
    pub async fn redeem_dev_signin(
        &self,
        token: &str,
        meta: &RequestMeta,
    ) -> AppResult<PlainToken> {
        if !self.config.dev_signin_enabled() {
            return Err(AppError::NotFound("development sign-in"));
        }
        let now = self.clock.now();
        let hash = TokenHash::of(token);
        let txn = self.db.begin().await?;
        // Claimed inside the transaction that signs in: of two servers redeeming the same
        // link at once, one updates the row and the other finds it used.
        let claimed = SigninLink::update_many()
            .col_expr(signin_link::Column::UsedAt, Expr::value(now))
            .filter(signin_link::Column::TokenHash.eq(hash.as_str()))
            .filter(signin_link::Column::UsedAt.is_null())
            .filter(signin_link::Column::ExpiresAt.gt(now))
            .exec(&txn)
            .await?;
        if claimed.rows_affected != 1 {
            let row = SigninLink::find()
                .filter(signin_link::Column::TokenHash.eq(hash.as_str()))
                .one(&txn)
                .await?;
            let refusal = match row {
                None => LinkRefusal::Unknown,
                Some(row) if row.used_at.is_some() => LinkRefusal::Used,
                Some(_) => LinkRefusal::Expired,
            };
            return Err(AppError::SignInRefused(refusal.describe().into()));
        }
        let (admin, _) =
            orgs::find_or_create_local_customer(&txn, DEV_ADMIN_EMAIL, true, self.clock.now())
                .await?;
        let actor = super::Actor::new(
            Principal::Session {
                session_id: Uuid::nil(),
                customer: CustomerRef::from(&admin),
                organization_id: Uuid::nil(),
                project_id: Uuid::nil(),
            },
            meta.clone(),
        );
        let grant = Grant::system(actor, self.clock.now());
        let (org, project) =
            match orgs::find_member_org_by_name(&txn, admin.id, "Local development").await? {
                Some(org) => {
                    let project = orgs::first_project(&txn, org.id)
                        .await?
                        .ok_or(AppError::NotFound("project"))?;
                    (org, project)
                }
                None => {
                    orgs::create_org_in(&txn, &grant, admin.id, "Local development", None).await?
                }
            };
        txn.commit().await?;
        self.create_session(
            admin.id,
            org.id,
            project.id,
            meta,
            SignInMethod::Development,
        )
        .await
    }
}

impl Services {
    /// Ends the acting session (sign out), audited as `session.end`.
    /// **Permissions**: `sessions:delete` over your own things.
    pub async fn end_session(&self, actor: &super::Actor) -> AppResult<()> {
        let Some(session_id) = current_session(actor) else {
            return Err(AppError::Forbidden(
                "sign-out ends a dashboard session".into(),
            ));
        };
        let grant = self
            .authorize(actor, Need::User(Perm::SESSIONS_DELETE))
            .await?;
        self.end(&grant, session_id, Action::SessionEnd).await?;
        Ok(())
    }
}

/// How a user signed in, as the audit log records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignInMethod {
    /// Through the identity provider.
    Oidc,
    /// With the development sign-in link.
    Development,
}

impl SignInMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Oidc => "oidc",
            Self::Development => "development",
        }
    }
}

/// A session as its user sees it.
#[derive(Debug, Clone)]
pub struct SessionView {
    pub model: session::Model,
    /// Whether the request came with this session.
    pub current: bool,
}

fn current_session(actor: &super::Actor) -> Option<Uuid> {
    match actor.principal {
        Principal::Session { session_id, .. } => Some(session_id),
        _ => None,
    }
}

impl Services {
    /// The acting user's live sessions, newest first, a page at a time.
    /// **Permissions**: `sessions:read` over your own things.
    pub async fn sessions(
        &self,
        actor: &super::Actor,
        first: u64,
        after: Option<Uuid>,
    ) -> AppResult<Page<SessionView>> {
        let grant = self
            .authorize(actor, Need::User(Perm::SESSIONS_READ))
            .await?;
        let customer = grant.customer();
        let now = self.clock.now();
        let current = current_session(actor);
        let query = Session::find()
            .filter(session::Column::CustomerId.eq(customer))
            .filter(session::Column::RevokedAt.is_null())
            .filter(session::Column::ExpiresAt.gt(now));
        let page = paging::page(&self.db, query, session::Column::Id, first, after).await?;
        page.try_map(|model| {
            Ok(SessionView {
                current: Some(model.id) == current,
                model,
            })
        })
    }

    /// Ends one of the acting user's sessions.
    /// **Permissions**: `sessions:delete` over your own things.
    #[instrument(skip_all, fields(session = %id))]
    pub async fn revoke_session(&self, actor: &super::Actor, id: Uuid) -> AppResult<SessionView> {
        let grant = self
            .authorize(actor, Need::User(Perm::SESSIONS_DELETE))
            .await?;
        let model = self.end(&grant, id, Action::SessionRevoke).await?;
        Ok(SessionView {
            current: current_session(actor) == Some(model.id),
            model,
        })
    }

    /// Ends every live session of the acting user but the one asking (all of them when
    /// the caller is no dashboard session), each audited as a revoke, in one
    /// transaction: a session opened meanwhile is either ended or left whole.
    /// **Permissions**: `sessions:delete` over your own things.
    #[instrument(skip_all)]
    pub async fn revoke_other_sessions(&self, actor: &super::Actor) -> AppResult<u64> {
        let grant = self
            .authorize(actor, Need::User(Perm::SESSIONS_DELETE))
            .await?;
        let now = self.clock.now();
        let mut others = Session::find()
            .filter(session::Column::CustomerId.eq(grant.customer()))
            .filter(session::Column::RevokedAt.is_null())
            .filter(session::Column::ExpiresAt.gt(now));
        if let Some(current) = current_session(actor) {
            others = others.filter(session::Column::Id.ne(current));
        }
        let txn = self.db.begin().await?;
        let mut ended = 0;
        // In id order, so two of these at once lock rows in the same order.
        for model in others.order_by_asc(session::Column::Id).all(&txn).await? {
            // Ended by another request meanwhile: already audited there.
            let done = Session::update_many()
                .col_expr(session::Column::RevokedAt, Expr::value(now))
                .filter(session::Column::Id.eq(model.id))
                .filter(session::Column::RevokedAt.is_null())
                .exec(&txn)
                .await?;
            if done.rows_affected == 1 {
                audit::record(
                    &txn,
                    &grant,
                    AuditEntry::new(
                        model.organization_id,
                        Action::SessionRevoke,
                        "session",
                        model.id,
                    )
                    .details(json!({ "ip": model.ip, "user_agent": model.user_agent })),
                )
                .await?;
                ended += 1;
            }
        }
        txn.commit().await?;
        Ok(ended)
    }

    /// Ends one of the grant's user's sessions, once, audited as `action`; another
    /// user's session looks unknown.
    async fn end(&self, grant: &Grant, id: Uuid, action: Action) -> AppResult<session::Model> {
        let now = self.clock.now();
        let txn = self.db.begin().await?;
        let ended = Session::update_many()
            .col_expr(session::Column::RevokedAt, Expr::value(now))
            .filter(session::Column::Id.eq(id))
            .filter(session::Column::CustomerId.eq(grant.customer()))
            .filter(session::Column::RevokedAt.is_null())
            .exec(&txn)
            .await?;
        let model = Session::find_by_id(id)
            .filter(session::Column::CustomerId.eq(grant.customer()))
            .one(&txn)
            .await?
            .ok_or(AppError::NotFound("session"))?;
        if ended.rows_affected == 1 {
            audit::record(
                &txn,
                grant,
                AuditEntry::new(model.organization_id, action, "session", model.id)
                    .details(json!({ "ip": model.ip, "user_agent": model.user_agent })),
            )
            .await?;
        }
        txn.commit().await?;
        Ok(model)
    }

    /// Moves the current session to another organization and project the user belongs to.
    /// **Permissions**: a dashboard session, with `organization:read` there.
    #[instrument(skip_all, fields(org = %org_id))]
    pub async fn switch_session(
        &self,
        actor: &super::Actor,
        org_id: Uuid,
        project_id: Option<Uuid>,
    ) -> AppResult<(Uuid, Uuid)> {
        let Some(session_id) = current_session(actor) else {
            return Err(AppError::Forbidden(
                "only a dashboard session has a current organization".into(),
            ));
        };
        let grant = self
            .authorize(actor, Need::Org(org_id, Perm::ORGANIZATION_READ))
            .await?;
        let project = match project_id {
            Some(pid) => Project::find_by_id(pid)
                .one(&self.db)
                .await?
                .filter(|p| p.organization_id == org_id)
                .ok_or_else(|| {
                    AppError::invalid("input.projectId", "no such project in this organization")
                })?,
            None => orgs::first_project(&self.db, org_id)
                .await?
                .ok_or(AppError::NotFound("project"))?,
        };
        let row = Session::find_by_id(session_id)
            .one(&self.db)
            .await?
            .ok_or(AuthFailure::SessionInvalid)?;
        let mut active: session::ActiveModel = row.into();
        active.organization_id = Set(Some(org_id));
        active.project_id = Set(Some(project.id));
        let txn = self.db.begin().await?;
        active.update(&txn).await?;
        super::audit::record(
            &txn,
            &grant,
            super::audit::AuditEntry::new(
                Some(org_id),
                Action::SessionSwitch,
                "session",
                session_id,
            )
            .details(serde_json::json!({ "project_id": project.id })),
        )
        .await?;
        txn.commit().await?;
        Ok((org_id, project.id))
    }
}

#[cfg(test)]
mod device_tests {
    use super::device_in_words;

    #[test]
    fn devices_read_in_words() {
        assert_eq!(
            device_in_words(Some(
                "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"
            )),
            "Firefox 133 on Linux"
        );
        assert_eq!(
            device_in_words(Some(
                "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/131.0.0.0 Safari/537.36"
            )),
            "Chrome 131 on Linux"
        );
        assert_eq!(device_in_words(None), "Unknown device");
        assert_eq!(device_in_words(Some("")), "Unknown device");
    }
}

//! Invites (SPEC §5): an organization invites an email address with a role; the invited
//! user, signed in with that verified address, accepts or declines within 7 days.

use keyward_proto::audit::Action;
use std::collections::HashMap;

use chrono::{DateTime, TimeDelta, Utc};
use entity::{
    customer,
    invite::{self, Status as Stored},
    membership, organization,
    prelude::*,
    role,
};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, DatabaseTransaction, EntityTrait,
    PaginatorTrait, QueryFilter, TransactionTrait, sea_query::Expr,
};
use serde_json::json;
use tracing::instrument;
use uuid::Uuid;

use super::{
    Actor, Services,
    access::{self, Grant, Need},
    audit::{self, AuditEntry},
    ids::new_id,
    invalidation::Invalidation,
    members::check_assignable,
    paging::{self, Page},
    permissions::Perm,
    roles::org_role,
    validate,
};
use crate::error::{AppError, AppResult};

/// How long an invite stays open.
pub const INVITE_LIFETIME: TimeDelta = TimeDelta::days(7);
/// Invites an organization may send in 24 hours.
pub const INVITES_PER_DAY: u64 = 200;

/// An invite with its role and organization.
#[derive(Debug, Clone)]
pub struct InviteView {
    pub invite: invite::Model,
    pub role: role::Model,
    pub organization: organization::Model,
}

impl InviteView {
    /// Where the invite stands now.
    pub fn status(&self, now: DateTime<Utc>) -> InviteStatus {
        InviteStatus::of(&self.invite, now)
    }
}

/// Where an invite stands as shown: its stored status, or expired for a pending invite
/// past its time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum InviteStatus {
    Pending,
    Accepted,
    Declined,
    Revoked,
    Expired,
}

impl InviteStatus {
    /// The status of a stored invite at `now`.
    pub fn of(invite: &invite::Model, now: DateTime<Utc>) -> Self {
        match invite.status {
            Stored::Pending if invite.expires_at <= now => Self::Expired,
            Stored::Pending => Self::Pending,
            Stored::Accepted => Self::Accepted,
            Stored::Declined => Self::Declined,
            Stored::Revoked => Self::Revoked,
        }
    }

    /// `pending`, `accepted`, `declined`, `revoked` or `expired`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Accepted => "accepted",
            Self::Declined => "declined",
            Self::Revoked => "revoked",
            Self::Expired => "expired",
        }
    }
}

impl std::fmt::Display for InviteStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Services {
    /// Invites someone by email with a role; the invite is open for 7 days.
    /// **Permissions**: `members:write`, and every permission the role grants (the owner
    /// role only from an owner).
    #[instrument(skip_all, fields(org = %org_id))]
    pub async fn invite_member(
        &self,
        actor: &Actor,
        org_id: Uuid,
        email: &str,
        role_id: Uuid,
    ) -> AppResult<InviteView> {
        let grant = self
            .authorize(actor, Need::Org(org_id, Perm::MEMBERS_WRITE))
            .await?;
        let email = validate::email("input.email", email)?;
        let role = org_role(&self.db, org_id, role_id, "input.roleId").await?;
        check_assignable(&self.db, &grant, org_id, &role).await?;
        let members = Membership::find()
            .filter(membership::Column::OrganizationId.eq(org_id))
            .all(&self.db)
            .await?;
        let member_ids: Vec<Uuid> = members.iter().map(|m| m.customer_id).collect();
        let already = Customer::find()
            .filter(customer::Column::Id.is_in(member_ids))
            .filter(customer::Column::Email.eq(email.clone()))
            .count(&self.db)
            .await?;
        if already > 0 {
            return Err(AppError::Conflict(format!(
                "input.email: {email} is already a member"
            )));
        }
        let now = self.clock.now();
        let open = Invite::find()
            .filter(invite::Column::OrganizationId.eq(org_id))
            .filter(invite::Column::Email.eq(email.clone()))
            .filter(invite::Column::Status.eq(Stored::Pending))
            .filter(invite::Column::ExpiresAt.gt(now))
            .count(&self.db)
            .await?;
        if open > 0 {
            return Err(AppError::Conflict(format!(
                "input.email: {email} already has an open invite"
            )));
        }
        let txn = self.db.begin().await?;
        // Each invite may be an email from this server: an organization sends a bounded
        // number a day, counted under its lock so invites at once cannot pass it.
        super::orgs::lock_organization(&txn, org_id).await?;
        let today = Invite::find()
            .filter(invite::Column::OrganizationId.eq(org_id))
            .filter(invite::Column::CreatedAt.gt(now - TimeDelta::days(1)))
            .count(&txn)
            .await?;
        if today >= INVITES_PER_DAY {
            return Err(AppError::RateLimited {
                retry_after_secs: 3600,
                limit: u32::try_from(INVITES_PER_DAY).unwrap_or(u32::MAX),
            });
        }
        let invite = invite::ActiveModel {
            id: Set(new_id()),
            organization_id: Set(org_id),
            email: Set(email.clone()),
            role_id: Set(role.id),
            invited_by: Set(grant.customer()),
            status: Set(Stored::Pending),
            expires_at: Set(now + INVITE_LIFETIME),
            responded_at: Set(None),
            responded_by: Set(None),
            created_at: Set(now),
        }
        .insert(&txn)
        .await?;
        audit::record(
            &txn,
            &grant,
            AuditEntry::new(Some(org_id), Action::InviteCreate, "invite", invite.id)
                .name(&email)
                .details(json!({ "role": role.key, "expires_at": invite.expires_at })),
        )
        .await?;
        let organization = Organization::find_by_id(org_id)
            .one(&txn)
            .await?
            .ok_or(AppError::NotFound("organization"))?;
        self.queue_email(
            &txn,
            &email,
            &format!("You are invited to join {} on Keyward", organization.name),
            format!(
                "You are invited to join {org} on Keyward, as {role}.\n\n\
                 Accept (sign in as {email} first):\n{link}\n\n\
                 The invite expires on {expires}. If you did not expect it, ignore this \
                 email: nothing happens until you accept.\n",
                org = organization.name,
                role = role.name,
                link = self.accept_link(invite.id),
                expires = audit::format_time(invite.expires_at),
            ),
        )
        .await?;
        txn.commit().await?;
        self.invite_view(invite).await
    }

    /// Where an invite is accepted: the dashboard's members page, which shows the
    /// signed-in user's invites. The link carries no secret: accepting takes being signed
    /// in as the invited address.
    pub fn accept_link(&self, invite: Uuid) -> String {
        format!("{}/members?invite={invite}", self.config.public_url)
    }

    /// The views of a page of invites: their roles and organizations in one query each.
    async fn invite_views(&self, page: Page<invite::Model>) -> AppResult<Page<InviteView>> {
        let role_ids: Vec<Uuid> = page.items.iter().map(|i| i.role_id).collect();
        let org_ids: Vec<Uuid> = page.items.iter().map(|i| i.organization_id).collect();
        let roles: HashMap<Uuid, role::Model> = Role::find()
            .filter(role::Column::Id.is_in(role_ids))
            .all(&self.db)
            .await?
            .into_iter()
            .map(|r| (r.id, r))
            .collect();
        let orgs: HashMap<Uuid, organization::Model> = Organization::find()
            .filter(organization::Column::Id.is_in(org_ids))
            .all(&self.db)
            .await?
            .into_iter()
            .map(|o| (o.id, o))
            .collect();
        page.try_map(|invite| {
            let role = roles
                .get(&invite.role_id)
                .cloned()
                .ok_or_else(|| access::corrupt("invite", "its role is missing"))?;
            let organization = orgs
                .get(&invite.organization_id)
                .cloned()
                .ok_or_else(|| access::corrupt("invite", "its organization is missing"))?;
            Ok(InviteView {
                invite,
                role,
                organization,
            })
        })
    }

    async fn invite_view(&self, invite: invite::Model) -> AppResult<InviteView> {
        let page = Page {
            items: vec![invite],
            has_next: false,
            total: 1,
        };
        self.invite_views(page)
            .await?
            .items
            .pop()
            .ok_or(AppError::NotFound("invite"))
    }

    /// An organization's invites, newest first, a page at a time.
    /// **Permissions**: `invites:read`.
    pub async fn invites(
        &self,
        actor: &Actor,
        org_id: Uuid,
        first: u64,
        after: Option<Uuid>,
    ) -> AppResult<Page<InviteView>> {
        self.authorize(actor, Need::Org(org_id, Perm::INVITES_READ))
            .await?;
        let query = Invite::find().filter(invite::Column::OrganizationId.eq(org_id));
        let page = paging::page(&self.db, query, invite::Column::Id, first, after).await?;
        self.invite_views(page).await
    }

    /// Open invites addressed to the acting user's verified email, newest first, a page
    /// at a time. **Permissions**: `invites:read` over your own things.
    pub async fn my_invites(
        &self,
        actor: &Actor,
        first: u64,
        after: Option<Uuid>,
    ) -> AppResult<Page<InviteView>> {
        self.authorize(actor, Need::User(Perm::INVITES_READ))
            .await?;
        let Some(me) = actor.customer() else {
            return Ok(Page {
                items: vec![],
                has_next: false,
                total: 0,
            });
        };
        let query = Invite::find()
            .filter(invite::Column::Email.eq(me.email.clone()))
            .filter(invite::Column::Status.eq(Stored::Pending))
            .filter(invite::Column::ExpiresAt.gt(self.clock.now()));
        let page = paging::page(&self.db, query, invite::Column::Id, first, after).await?;
        self.invite_views(page).await
    }

    /// Withdraws an open invite. **Permissions**: `members:write`.
    #[instrument(skip_all, fields(invite = %id))]
    pub async fn revoke_invite(&self, actor: &Actor, id: Uuid) -> AppResult<InviteView> {
        let invite = Invite::find_by_id(id)
            .one(&self.db)
            .await?
            .ok_or(AppError::NotFound("invite"))?;
        let grant = self
            .authorize_visible(actor, invite.organization_id, Perm::MEMBERS_WRITE, "invite")
            .await?;
        let now = self.clock.now();
        if InviteStatus::of(&invite, now) != InviteStatus::Pending {
            return Err(AppError::Conflict(format!(
                "the invite is already {}",
                InviteStatus::of(&invite, now)
            )));
        }
        self.respond_to_invite(&grant, invite, Stored::Revoked, Action::InviteRevoke)
            .await
    }

    async fn respond_to_invite(
        &self,
        grant: &Grant,
        invite: invite::Model,
        status: Stored,
        action: Action,
    ) -> AppResult<InviteView> {
        let org = invite.organization_id;
        let email = invite.email.clone();
        let txn = self.db.begin().await?;
        let invite =
            claim_invite(&txn, invite.id, status, grant.customer(), self.clock.now()).await?;
        audit::record(
            &txn,
            grant,
            AuditEntry::new(Some(org), action, "invite", invite.id).name(&email),
        )
        .await?;
        txn.commit().await?;
        self.invite_view(invite).await
    }

    /// The invited user's own invite, open and addressed to their verified email.
    async fn own_open_invite(&self, actor: &Actor, id: Uuid) -> AppResult<(invite::Model, Grant)> {
        let grant = self
            .authorize(actor, Need::User(Perm::INVITES_WRITE))
            .await?;
        let me = actor
            .customer()
            .ok_or_else(|| access::corrupt("user grant", "it has no user"))?;
        let invite = Invite::find_by_id(id)
            .one(&self.db)
            .await?
            .filter(|i| i.email == me.email)
            .ok_or(AppError::NotFound("invite"))?;
        let verified = Customer::find_by_id(me.id)
            .one(&self.db)
            .await?
            .is_some_and(|c| c.email_verified);
        if !verified {
            return Err(AppError::Forbidden(
                "your email address is not verified by your identity provider".into(),
            ));
        }
        if invite.status != Stored::Pending {
            return Err(AppError::Conflict(format!(
                "the invite is already {}",
                InviteStatus::of(&invite, self.clock.now())
            )));
        }
        if invite.expires_at <= self.clock.now() {
            return Err(AppError::Conflict(
                "the invite has expired; ask for a new one".into(),
            ));
        }
        Ok((invite, grant))
    }

    /// Accepts an invite addressed to you: you join with its role.
    /// **Permissions**: `invites:write` over your own things.
    #[instrument(skip_all, fields(invite = %id))]
    pub async fn accept_invite(&self, actor: &Actor, id: Uuid) -> AppResult<InviteView> {
        let (invite, grant) = self.own_open_invite(actor, id).await?;
        let me = grant
            .customer()
            .ok_or_else(|| access::corrupt("user grant", "it has no user"))?;
        let org = invite.organization_id;
        if access::member_role(&self.db, org, me).await?.is_some() {
            return Err(AppError::Conflict("you are already a member".into()));
        }
        let now = self.clock.now();
        let role_id = invite.role_id;
        let email = invite.email.clone();
        let txn = self.db.begin().await?;
        let invite = claim_invite(&txn, invite.id, Stored::Accepted, Some(me), now).await?;
        membership::ActiveModel {
            id: Set(new_id()),
            organization_id: Set(org),
            customer_id: Set(me),
            role_id: Set(role_id),
            created_at: Set(now),
            updated_at: Set(now),
        }
        .insert(&txn)
        .await?;
        audit::record(
            &txn,
            &grant,
            AuditEntry::new(Some(org), Action::InviteAccept, "invite", invite.id).name(&email),
        )
        .await?;
        self.commit_invalidating(txn, Invalidation::Organization(org))
            .await?;
        self.invite_view(invite).await
    }

    /// Declines an invite addressed to you.
    /// **Permissions**: `invites:write` over your own things.
    #[instrument(skip_all, fields(invite = %id))]
    pub async fn decline_invite(&self, actor: &Actor, id: Uuid) -> AppResult<InviteView> {
        let (invite, grant) = self.own_open_invite(actor, id).await?;
        self.respond_to_invite(&grant, invite, Stored::Declined, Action::InviteDecline)
            .await
    }
}

/// Answers an invite inside `txn`, only while it is still open: of two answers at once
/// (accept and revoke, two accepts), one wins and the other is refused (SPEC §3.3).
async fn claim_invite(
    txn: &DatabaseTransaction,
    id: Uuid,
    status: Stored,
    by: Option<Uuid>,
    now: DateTime<Utc>,
) -> AppResult<invite::Model> {
    let claimed = Invite::update_many()
        .col_expr(invite::Column::Status, Expr::value(status))
        .col_expr(invite::Column::RespondedAt, Expr::value(now))
        .col_expr(invite::Column::RespondedBy, Expr::value(by))
        .filter(invite::Column::Id.eq(id))
        .filter(invite::Column::Status.eq(Stored::Pending))
        .filter(invite::Column::ExpiresAt.gt(now))
        .exec(txn)
        .await?;
    let invite = Invite::find_by_id(id)
        .one(txn)
        .await?
        .ok_or(AppError::NotFound("invite"))?;
    if claimed.rows_affected != 1 {
        return Err(AppError::Conflict(format!(
            "the invite is already {}",
            InviteStatus::of(&invite, now)
        )));
    }
    Ok(invite)
}

//! Members, invites, roles and application resources (SPEC §5). Every operation checks
//! membership first (`NOT_A_MEMBER`), then the permission (`FORBIDDEN`), here and only here.

use std::collections::BTreeMap;

use chrono::{DateTime, TimeDelta, Utc};
use entity::{
    application_resource, customer, invite, membership, organization, prelude::*, role,
    service_account,
};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait,
    QueryFilter, QueryOrder, TransactionTrait,
};
use serde_json::json;
use tracing::instrument;
use uuid::Uuid;

use super::{
    Actor, CustomerRef, Services, access,
    audit::{self, AuditEntry},
    ids::new_id,
    permissions::{
        BUILTIN_RESOURCES, BuiltinRole, Level, Perm, PermissionSet, is_builtin_resource,
        valid_resource_name,
    },
    validate,
};
use crate::error::{AppError, AppResult};

/// How long an invite stays open.
pub const INVITE_LIFETIME: TimeDelta = TimeDelta::days(7);

/// A member of an organization with their role.
#[derive(Debug, Clone)]
pub struct Member {
    pub membership: membership::Model,
    pub customer: CustomerRef,
    pub role: role::Model,
}

/// An invite with its role and organization.
#[derive(Debug, Clone)]
pub struct InviteView {
    pub invite: invite::Model,
    pub role: role::Model,
    pub organization: organization::Model,
}

impl InviteView {
    /// `pending`, `accepted`, `declined`, `revoked`, or `expired` for a pending invite past its time.
    pub fn status(&self, now: DateTime<Utc>) -> &str {
        if self.invite.status == "pending" && self.invite.expires_at <= now {
            "expired"
        } else {
            &self.invite.status
        }
    }
}

/// A role with what it grants.
#[derive(Debug, Clone)]
pub struct RoleView {
    pub role: role::Model,
    pub permissions: Vec<Perm>,
}

/// Everything a role editor needs: resources, levels and the built-in roles.
#[derive(Debug, Clone)]
pub struct Catalog {
    /// `(name, description, builtin)`.
    pub resources: Vec<(String, String, bool)>,
    pub levels: Vec<Level>,
}

fn is_owner_role(role: &role::Model) -> bool {
    role.builtin && role.key == BuiltinRole::Owner.key()
}

/// A role of `org_id`, or an input error naming `field`.
async fn org_role<C: ConnectionTrait>(
    db: &C,
    org_id: Uuid,
    role_id: Uuid,
    field: &str,
) -> AppResult<role::Model> {
    Role::find_by_id(role_id)
        .one(db)
        .await?
        .filter(|r| r.organization_id == Some(org_id))
        .ok_or_else(|| AppError::invalid(field, "no such role in this organization"))
}

/// Whether the actor holds the owner role in `org_id`.
async fn actor_is_owner<C: ConnectionTrait>(
    db: &C,
    actor: &Actor,
    org_id: Uuid,
) -> AppResult<bool> {
    if matches!(actor.principal, super::Principal::System) {
        return Ok(true);
    }
    if actor
        .principal
        .credential()
        .is_some_and(|c| c.service_account.is_some())
    {
        return Ok(false);
    }
    match actor.customer() {
        Some(c) => Ok(access::member_role(db, org_id, c.id)
            .await?
            .is_some_and(|r| is_owner_role(&r))),
        None => Ok(false),
    }
}

/// A role may be handed out only by someone who has every permission it grants; the owner
/// role only by an owner.
async fn check_assignable<C: ConnectionTrait>(
    db: &C,
    actor: &Actor,
    org_id: Uuid,
    actor_perms: &PermissionSet,
    role: &role::Model,
) -> AppResult<()> {
    if is_owner_role(role) {
        if !actor_is_owner(db, actor, org_id).await? {
            return Err(AppError::Forbidden("only an owner can make owners".into()));
        }
        return Ok(());
    }
    let apps = super::credentials::app_resources(db, &[org_id]).await?;
    let granted = access::role_permissions(role).to_scopes(&apps);
    if let Some(over) = granted.iter().find(|p| !actor_perms.allows(p)) {
        return Err(AppError::Forbidden(format!(
            "{over} (a role cannot grant more than you have)"
        )));
    }
    Ok(())
}

async fn owner_count<C: ConnectionTrait>(db: &C, org_id: Uuid) -> AppResult<u64> {
    let owner = Role::find()
        .filter(role::Column::OrganizationId.eq(org_id))
        .filter(role::Column::Builtin.eq(true))
        .filter(role::Column::Key.eq(BuiltinRole::Owner.key()))
        .one(db)
        .await?
        .ok_or_else(|| {
            AppError::internal(std::io::Error::other("organization without an owner role"))
        })?;
    Ok(Membership::find()
        .filter(membership::Column::OrganizationId.eq(org_id))
        .filter(membership::Column::RoleId.eq(owner.id))
        .count(db)
        .await?)
}

/// Parses a permission list for a custom role: known resources, no duplicates.
fn parse_permissions(
    field: &str,
    raw: &[String],
    apps: &[String],
) -> AppResult<BTreeMap<String, Level>> {
    let mut map = BTreeMap::new();
    for s in raw {
        let perm = Perm::parse(s.trim()).map_err(|e| AppError::invalid(field, e))?;
        if !is_builtin_resource(&perm.resource) && !apps.contains(&perm.resource) {
            return Err(AppError::invalid(
                field,
                format!("unknown resource `{}`", perm.resource),
            ));
        }
        if map.insert(perm.resource.clone(), perm.level).is_some() {
            return Err(AppError::invalid(
                field,
                format!("`{}` is listed twice", perm.resource),
            ));
        }
    }
    Ok(map)
}

impl Services {
    async fn role_view(&self, role: role::Model) -> AppResult<RoleView> {
        let apps = match role.organization_id {
            Some(org) => super::credentials::app_resources(&self.db, &[org]).await?,
            None => vec![],
        };
        Ok(RoleView {
            permissions: access::role_permissions(&role).to_scopes(&apps),
            role,
        })
    }

    /// An organization's members. **Permissions**: `members:read`.
    pub async fn members(&self, actor: &Actor, org_id: Uuid) -> AppResult<Vec<Member>> {
        access::require(
            &self.db,
            &actor.principal,
            org_id,
            Perm::new("members", Level::Read),
        )
        .await?;
        let rows = Membership::find()
            .filter(membership::Column::OrganizationId.eq(org_id))
            .order_by_asc(membership::Column::CreatedAt)
            .all(&self.db)
            .await?;
        let customers: BTreeMap<Uuid, customer::Model> = Customer::find()
            .filter(
                customer::Column::Id.is_in(rows.iter().map(|m| m.customer_id).collect::<Vec<_>>()),
            )
            .all(&self.db)
            .await?
            .into_iter()
            .map(|c| (c.id, c))
            .collect();
        let roles: BTreeMap<Uuid, role::Model> = Role::find()
            .filter(role::Column::OrganizationId.eq(org_id))
            .all(&self.db)
            .await?
            .into_iter()
            .map(|r| (r.id, r))
            .collect();
        Ok(rows
            .into_iter()
            .filter_map(|m| {
                let customer = CustomerRef::from(customers.get(&m.customer_id)?);
                let role = roles.get(&m.role_id)?.clone();
                Some(Member {
                    membership: m,
                    customer,
                    role,
                })
            })
            .collect())
    }

    async fn find_member(
        &self,
        actor: &Actor,
        membership_id: Uuid,
        perm: Perm,
    ) -> AppResult<membership::Model> {
        let m = Membership::find_by_id(membership_id)
            .one(&self.db)
            .await?
            .ok_or(AppError::NotFound("member"))?;
        self.require_visible(actor, m.organization_id, perm, "member")
            .await?;
        Ok(m)
    }

    /// Invites someone by email with a role; the invite is open for 7 days.
    /// **Permissions**: `members:write`, and every permission the role grants.
    #[instrument(skip_all, fields(org = %org_id))]
    pub async fn invite_member(
        &self,
        actor: &Actor,
        org_id: Uuid,
        email: &str,
        role_id: Uuid,
    ) -> AppResult<InviteView> {
        let perms = access::require(
            &self.db,
            &actor.principal,
            org_id,
            Perm::new("members", Level::Write),
        )
        .await?;
        let email = validate::email("input.email", email)?;
        let role = org_role(&self.db, org_id, role_id, "input.roleId").await?;
        check_assignable(&self.db, actor, org_id, &perms, &role).await?;
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
        let now = Utc::now();
        let open = Invite::find()
            .filter(invite::Column::OrganizationId.eq(org_id))
            .filter(invite::Column::Email.eq(email.clone()))
            .filter(invite::Column::Status.eq("pending"))
            .filter(invite::Column::ExpiresAt.gt(now))
            .count(&self.db)
            .await?;
        if open > 0 {
            return Err(AppError::Conflict(format!(
                "input.email: {email} already has an open invite"
            )));
        }
        let txn = self.db.begin().await?;
        let invite = invite::ActiveModel {
            id: Set(new_id()),
            organization_id: Set(org_id),
            email: Set(email.clone()),
            role_id: Set(role.id),
            invited_by: Set(actor.customer().map(|c| c.id)),
            status: Set("pending".into()),
            expires_at: Set(now + INVITE_LIFETIME),
            responded_at: Set(None),
            responded_by: Set(None),
            created_at: Set(now),
        }
        .insert(&txn)
        .await?;
        audit::record(
            &txn,
            actor,
            AuditEntry::new(Some(org_id), "invite.create", "invite", invite.id)
                .name(&email)
                .details(json!({ "role": role.key, "expires_at": invite.expires_at })),
        )
        .await?;
        txn.commit().await?;
        self.invite_view(invite).await
    }

    async fn invite_views(&self, rows: Vec<invite::Model>) -> AppResult<Vec<InviteView>> {
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            out.push(self.invite_view(row).await?);
        }
        Ok(out)
    }

    async fn invite_view(&self, invite: invite::Model) -> AppResult<InviteView> {
        let role = Role::find_by_id(invite.role_id)
            .one(&self.db)
            .await?
            .ok_or(AppError::NotFound("role"))?;
        let organization = Organization::find_by_id(invite.organization_id)
            .one(&self.db)
            .await?
            .ok_or(AppError::NotFound("organization"))?;
        Ok(InviteView {
            invite,
            role,
            organization,
        })
    }

    /// An organization's invites, newest first. **Permissions**: `invites:read`.
    pub async fn invites(&self, actor: &Actor, org_id: Uuid) -> AppResult<Vec<InviteView>> {
        access::require(
            &self.db,
            &actor.principal,
            org_id,
            Perm::new("invites", Level::Read),
        )
        .await?;
        let rows = Invite::find()
            .filter(invite::Column::OrganizationId.eq(org_id))
            .order_by_desc(invite::Column::CreatedAt)
            .all(&self.db)
            .await?;
        self.invite_views(rows).await
    }

    /// Open invites addressed to the acting user's verified email.
    pub async fn my_invites(&self, actor: &Actor) -> AppResult<Vec<InviteView>> {
        let Some(me) = actor.customer() else {
            return Ok(vec![]);
        };
        let rows = Invite::find()
            .filter(invite::Column::Email.eq(me.email.clone()))
            .filter(invite::Column::Status.eq("pending"))
            .filter(invite::Column::ExpiresAt.gt(Utc::now()))
            .order_by_desc(invite::Column::CreatedAt)
            .all(&self.db)
            .await?;
        self.invite_views(rows).await
    }

    /// Withdraws an open invite. **Permissions**: `members:write`.
    #[instrument(skip_all, fields(invite = %id))]
    pub async fn revoke_invite(&self, actor: &Actor, id: Uuid) -> AppResult<InviteView> {
        let invite = Invite::find_by_id(id)
            .one(&self.db)
            .await?
            .ok_or(AppError::NotFound("invite"))?;
        self.require_visible(
            actor,
            invite.organization_id,
            Perm::new("members", Level::Write),
            "invite",
        )
        .await?;
        if invite.status != "pending" {
            return Err(AppError::Conflict(format!(
                "the invite is already {}",
                invite.status
            )));
        }
        self.respond_to_invite(actor, invite, "revoked", "invite.revoke")
            .await
    }

    async fn respond_to_invite(
        &self,
        actor: &Actor,
        invite: invite::Model,
        status: &str,
        action: &'static str,
    ) -> AppResult<InviteView> {
        let org = invite.organization_id;
        let email = invite.email.clone();
        let mut active: invite::ActiveModel = invite.into();
        active.status = Set(status.into());
        active.responded_at = Set(Some(Utc::now()));
        active.responded_by = Set(actor.customer().map(|c| c.id));
        let txn = self.db.begin().await?;
        let invite = active.update(&txn).await?;
        audit::record(
            &txn,
            actor,
            AuditEntry::new(Some(org), action, "invite", invite.id).name(&email),
        )
        .await?;
        txn.commit().await?;
        self.invite_view(invite).await
    }

    /// The invited user's own invite, open and addressed to their verified email.
    async fn own_open_invite(
        &self,
        actor: &Actor,
        id: Uuid,
    ) -> AppResult<(invite::Model, CustomerRef)> {
        let me = actor
            .customer()
            .filter(|_| {
                actor
                    .principal
                    .credential()
                    .is_none_or(|c| c.organization_id.is_none())
            })
            .cloned()
            .ok_or_else(|| {
                AppError::Forbidden("invites are answered by the invited user".into())
            })?;
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
        if invite.status != "pending" {
            return Err(AppError::Conflict(format!(
                "the invite is already {}",
                invite.status
            )));
        }
        if invite.expires_at <= Utc::now() {
            return Err(AppError::Conflict(
                "the invite has expired; ask for a new one".into(),
            ));
        }
        Ok((invite, me))
    }

    /// Accepts an invite addressed to you: you join with its role.
    #[instrument(skip_all, fields(invite = %id))]
    pub async fn accept_invite(&self, actor: &Actor, id: Uuid) -> AppResult<InviteView> {
        let (invite, me) = self.own_open_invite(actor, id).await?;
        let org = invite.organization_id;
        if access::member_role(&self.db, org, me.id).await?.is_some() {
            return Err(AppError::Conflict("you are already a member".into()));
        }
        let now = Utc::now();
        let role_id = invite.role_id;
        let mut active: invite::ActiveModel = invite.into();
        active.status = Set("accepted".into());
        active.responded_at = Set(Some(now));
        active.responded_by = Set(Some(me.id));
        let txn = self.db.begin().await?;
        let invite = active.update(&txn).await?;
        membership::ActiveModel {
            id: Set(new_id()),
            organization_id: Set(org),
            customer_id: Set(me.id),
            role_id: Set(role_id),
            created_at: Set(now),
            updated_at: Set(now),
        }
        .insert(&txn)
        .await?;
        audit::record(
            &txn,
            actor,
            AuditEntry::new(Some(org), "invite.accept", "invite", invite.id).name(&me.email),
        )
        .await?;
        txn.commit().await?;
        self.verifier.invalidate_all();
        self.invite_view(invite).await
    }

    /// Declines an invite addressed to you.
    #[instrument(skip_all, fields(invite = %id))]
    pub async fn decline_invite(&self, actor: &Actor, id: Uuid) -> AppResult<InviteView> {
        let (invite, _) = self.own_open_invite(actor, id).await?;
        self.respond_to_invite(actor, invite, "declined", "invite.decline")
            .await
    }

    /// Changes a member's role. **Permissions**: `members:write`, every permission of the
    /// new role, and ownership to make or unmake an owner. The last owner stays an owner.
    #[instrument(skip_all, fields(member = %membership_id))]
    pub async fn update_member_role(
        &self,
        actor: &Actor,
        membership_id: Uuid,
        role_id: Uuid,
    ) -> AppResult<Member> {
        let m = self
            .find_member(actor, membership_id, Perm::new("members", Level::Write))
            .await?;
        let org = m.organization_id;
        let perms = access::require(
            &self.db,
            &actor.principal,
            org,
            Perm::new("members", Level::Write),
        )
        .await?;
        let new_role = org_role(&self.db, org, role_id, "input.roleId").await?;
        let old_role = Role::find_by_id(m.role_id)
            .one(&self.db)
            .await?
            .ok_or(AppError::NotFound("role"))?;
        check_assignable(&self.db, actor, org, &perms, &new_role).await?;
        if is_owner_role(&old_role) && !is_owner_role(&new_role) {
            if !actor_is_owner(&self.db, actor, org).await? {
                return Err(AppError::Forbidden(
                    "only an owner can change an owner's role".into(),
                ));
            }
            if owner_count(&self.db, org).await? <= 1 {
                return Err(AppError::Conflict(
                    "an organization keeps at least one owner".into(),
                ));
            }
        }
        let mut active: membership::ActiveModel = m.into();
        active.role_id = Set(new_role.id);
        active.updated_at = Set(Utc::now());
        let txn = self.db.begin().await?;
        let m = active.update(&txn).await?;
        let customer = Customer::find_by_id(m.customer_id)
            .one(&txn)
            .await?
            .ok_or(AppError::NotFound("member"))?;
        audit::record(
            &txn,
            actor,
            AuditEntry::new(Some(org), "member.update_role", "member", m.id)
                .name(&customer.email)
                .details(json!({ "from": old_role.key, "to": new_role.key })),
        )
        .await?;
        txn.commit().await?;
        self.verifier.invalidate_all();
        Ok(Member {
            membership: m,
            customer: CustomerRef::from(&customer),
            role: new_role,
        })
    }

    /// Removes a member; their keys stop working (`OWNER_REMOVED`). **Permissions**:
    /// `members:delete`, and ownership to remove an owner. The last owner stays.
    #[instrument(skip_all, fields(member = %membership_id))]
    pub async fn remove_member(&self, actor: &Actor, membership_id: Uuid) -> AppResult<Uuid> {
        let m = self
            .find_member(actor, membership_id, Perm::new("members", Level::Delete))
            .await?;
        self.delete_membership(actor, m, "member.remove").await
    }

    /// Leaves an organization. The last owner cannot leave.
    #[instrument(skip_all, fields(org = %org_id))]
    pub async fn leave_organization(&self, actor: &Actor, org_id: Uuid) -> AppResult<Uuid> {
        let me = actor
            .customer()
            .filter(|_| {
                actor
                    .principal
                    .credential()
                    .is_none_or(|c| c.organization_id.is_none())
            })
            .ok_or_else(|| AppError::Forbidden("a user leaves an organization".into()))?;
        let m = Membership::find()
            .filter(membership::Column::OrganizationId.eq(org_id))
            .filter(membership::Column::CustomerId.eq(me.id))
            .one(&self.db)
            .await?
            .ok_or(AppError::NotAMember)?;
        self.delete_membership(actor, m, "member.leave").await
    }

    async fn delete_membership(
        &self,
        actor: &Actor,
        m: membership::Model,
        action: &'static str,
    ) -> AppResult<Uuid> {
        let org = m.organization_id;
        let role = Role::find_by_id(m.role_id)
            .one(&self.db)
            .await?
            .ok_or(AppError::NotFound("role"))?;
        if is_owner_role(&role) {
            if action == "member.remove" && !actor_is_owner(&self.db, actor, org).await? {
                return Err(AppError::Forbidden(
                    "only an owner can remove an owner".into(),
                ));
            }
            if owner_count(&self.db, org).await? <= 1 {
                return Err(AppError::Conflict(
                    "an organization keeps at least one owner".into(),
                ));
            }
        }
        let customer = Customer::find_by_id(m.customer_id).one(&self.db).await?;
        let txn = self.db.begin().await?;
        Membership::delete_by_id(m.id).exec(&txn).await?;
        audit::record(
            &txn,
            actor,
            AuditEntry::new(Some(org), action, "member", m.id)
                .name(customer.map(|c| c.email).unwrap_or_default())
                .details(json!({ "customer_id": m.customer_id, "role": role.key })),
        )
        .await?;
        txn.commit().await?;
        self.verifier.invalidate_all();
        Ok(m.id)
    }

    /// An organization's roles, built-in first. **Permissions**: `roles:read`.
    pub async fn roles(&self, actor: &Actor, org_id: Uuid) -> AppResult<Vec<RoleView>> {
        access::require(
            &self.db,
            &actor.principal,
            org_id,
            Perm::new("roles", Level::Read),
        )
        .await?;
        let rows = Role::find()
            .filter(role::Column::OrganizationId.eq(org_id))
            .order_by_desc(role::Column::Builtin)
            .order_by_asc(role::Column::CreatedAt)
            .all(&self.db)
            .await?;
        let apps = super::credentials::app_resources(&self.db, &[org_id]).await?;
        Ok(rows
            .into_iter()
            .map(|role| RoleView {
                permissions: access::role_permissions(&role).to_scopes(&apps),
                role,
            })
            .collect())
    }

    /// Creates a custom role from `resource:level` permissions. **Permissions**:
    /// `roles:write`, and every permission the role grants.
    #[instrument(skip_all, fields(org = %org_id))]
    pub async fn create_role(
        &self,
        actor: &Actor,
        org_id: Uuid,
        name: &str,
        description: Option<String>,
        permissions: &[String],
    ) -> AppResult<RoleView> {
        let perms = access::require(
            &self.db,
            &actor.principal,
            org_id,
            Perm::new("roles", Level::Write),
        )
        .await?;
        let name = validate::name("input.name", name)?;
        let description = validate::reason("input.description", description)?.unwrap_or_default();
        let apps = super::credentials::app_resources(&self.db, &[org_id]).await?;
        let map = parse_permissions("input.permissions", permissions, &apps)?;
        let set = PermissionSet::from_map(map.clone());
        if let Some(over) = set.to_scopes(&apps).iter().find(|p| !perms.allows(p)) {
            return Err(AppError::Forbidden(format!(
                "{over} (a role cannot grant more than you have)"
            )));
        }
        let key = validate::slugify(&name);
        if BuiltinRole::from_key(&key).is_some()
            || Role::find()
                .filter(role::Column::OrganizationId.eq(org_id))
                .filter(role::Column::Key.eq(key.clone()))
                .count(&self.db)
                .await?
                > 0
        {
            return Err(AppError::Conflict(format!(
                "input.name: a role `{name}` already exists"
            )));
        }
        let now = Utc::now();
        let txn = self.db.begin().await?;
        let role = role::ActiveModel {
            id: Set(new_id()),
            organization_id: Set(Some(org_id)),
            key: Set(key),
            name: Set(name),
            description: Set(description),
            builtin: Set(false),
            permissions: Set(json!(map)),
            created_at: Set(now),
            updated_at: Set(now),
        }
        .insert(&txn)
        .await?;
        audit::record(
            &txn,
            actor,
            AuditEntry::new(Some(org_id), "role.create", "role", role.id)
                .name(&role.name)
                .details(json!({ "permissions": role.permissions })),
        )
        .await?;
        txn.commit().await?;
        self.role_view(role).await
    }

    /// Changes a custom role; everyone holding it is affected at once. **Permissions**:
    /// `roles:write`, and every permission the role then grants.
    #[instrument(skip_all, fields(role = %id))]
    pub async fn update_role(
        &self,
        actor: &Actor,
        id: Uuid,
        name: Option<String>,
        description: Option<String>,
        permissions: Option<Vec<String>>,
    ) -> AppResult<RoleView> {
        let role = Role::find_by_id(id)
            .one(&self.db)
            .await?
            .ok_or(AppError::NotFound("role"))?;
        let org_id = role.organization_id.ok_or(AppError::NotFound("role"))?;
        self.require_visible(actor, org_id, Perm::new("roles", Level::Write), "role")
            .await?;
        let perms = access::org_permissions(&self.db, &actor.principal, org_id).await?;
        if role.builtin {
            return Err(AppError::Conflict(
                "built-in roles cannot be changed".into(),
            ));
        }
        let before = role.permissions.clone();
        let mut active: role::ActiveModel = role.into();
        if let Some(name) = name {
            active.name = Set(validate::name("input.name", &name)?);
        }
        if let Some(d) = description {
            active.description =
                Set(validate::reason("input.description", Some(d))?.unwrap_or_default());
        }
        if let Some(list) = permissions {
            let apps = super::credentials::app_resources(&self.db, &[org_id]).await?;
            let map = parse_permissions("input.permissions", &list, &apps)?;
            if let Some(over) = PermissionSet::from_map(map.clone())
                .to_scopes(&apps)
                .iter()
                .find(|p| !perms.allows(p))
            {
                return Err(AppError::Forbidden(format!(
                    "{over} (a role cannot grant more than you have)"
                )));
            }
            active.permissions = Set(json!(map));
        }
        active.updated_at = Set(Utc::now());
        let txn = self.db.begin().await?;
        let role = active.update(&txn).await?;
        audit::record(
            &txn,
            actor,
            AuditEntry::new(Some(org_id), "role.update", "role", role.id)
                .name(&role.name)
                .details(json!({ "from": before, "to": role.permissions })),
        )
        .await?;
        txn.commit().await?;
        self.verifier.invalidate_all();
        self.role_view(role).await
    }

    /// Deletes a custom role nobody holds. **Permissions**: `roles:delete`.
    #[instrument(skip_all, fields(role = %id))]
    pub async fn delete_role(&self, actor: &Actor, id: Uuid) -> AppResult<Uuid> {
        let role = Role::find_by_id(id)
            .one(&self.db)
            .await?
            .ok_or(AppError::NotFound("role"))?;
        let org_id = role.organization_id.ok_or(AppError::NotFound("role"))?;
        self.require_visible(actor, org_id, Perm::new("roles", Level::Delete), "role")
            .await?;
        if role.builtin {
            return Err(AppError::Conflict(
                "built-in roles cannot be deleted".into(),
            ));
        }
        let holders = Membership::find()
            .filter(membership::Column::RoleId.eq(id))
            .count(&self.db)
            .await?
            + ServiceAccount::find()
                .filter(service_account::Column::RoleId.eq(id))
                .count(&self.db)
                .await?
            + Invite::find()
                .filter(invite::Column::RoleId.eq(id))
                .filter(invite::Column::Status.eq("pending"))
                .count(&self.db)
                .await?;
        if holders > 0 {
            return Err(AppError::Conflict(
                "the role is held by members, service accounts or open invites; reassign them first".into(),
            ));
        }
        let txn = self.db.begin().await?;
        Role::delete_by_id(id).exec(&txn).await?;
        audit::record(
            &txn,
            actor,
            AuditEntry::new(Some(org_id), "role.delete", "role", id).name(&role.name),
        )
        .await?;
        txn.commit().await?;
        Ok(id)
    }

    /// Defines an application resource (e.g. `deployments`) that roles and keys can carry.
    /// **Permissions**: `roles:write`.
    #[instrument(skip_all, fields(org = %org_id))]
    pub async fn define_resource(
        &self,
        actor: &Actor,
        org_id: Uuid,
        name: &str,
        description: Option<String>,
    ) -> AppResult<application_resource::Model> {
        access::require(
            &self.db,
            &actor.principal,
            org_id,
            Perm::new("roles", Level::Write),
        )
        .await?;
        let name = name.trim().to_owned();
        if !valid_resource_name(&name) {
            return Err(AppError::invalid(
                "input.name",
                "must be 1-48 lowercase letters, digits, `_` or `-`, starting with a letter",
            ));
        }
        if is_builtin_resource(&name) {
            return Err(AppError::Conflict(format!(
                "input.name: `{name}` is a built-in resource"
            )));
        }
        let description = validate::reason("input.description", description)?.unwrap_or_default();
        let txn = self.db.begin().await?;
        let resource = application_resource::ActiveModel {
            id: Set(new_id()),
            organization_id: Set(org_id),
            name: Set(name),
            description: Set(description),
            created_at: Set(Utc::now()),
        }
        .insert(&txn)
        .await
        .map_err(|e| match AppError::from(e) {
            AppError::Conflict(_) => {
                AppError::Conflict("input.name: this resource is already defined".into())
            }
            other => other,
        })?;
        audit::record(
            &txn,
            actor,
            AuditEntry::new(Some(org_id), "resource.define", "resource", resource.id)
                .name(&resource.name),
        )
        .await?;
        txn.commit().await?;
        self.verifier.invalidate_all();
        Ok(resource)
    }

    /// Resources and levels an organization's roles and keys can use.
    /// **Permissions**: `organization:read`.
    pub async fn permission_catalog(&self, actor: &Actor, org_id: Uuid) -> AppResult<Catalog> {
        access::require(
            &self.db,
            &actor.principal,
            org_id,
            Perm::new("organization", Level::Read),
        )
        .await?;
        let mut resources: Vec<(String, String, bool)> = BUILTIN_RESOURCES
            .iter()
            .map(|r| (r.to_string(), String::new(), true))
            .collect();
        let apps = ApplicationResource::find()
            .filter(application_resource::Column::OrganizationId.eq(org_id))
            .order_by_asc(application_resource::Column::Name)
            .all(&self.db)
            .await?;
        resources.extend(apps.into_iter().map(|a| (a.name, a.description, false)));
        Ok(Catalog {
            resources,
            levels: Level::ALL[1..].to_vec(),
        })
    }
}

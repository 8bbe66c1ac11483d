//! Members of an organization (SPEC §5): listing, role changes, removal and leaving. An
//! organization always keeps an owner, decided under its lock inside the writing
//! transaction (SPEC §3.3); only owners make or unmake owners; nobody hands out a role
//! granting more than they hold, or changes or removes a member who holds more.

use keyward_proto::audit::Action;
use std::collections::BTreeMap;

use entity::{customer, membership, prelude::*, role};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseTransaction,
    EntityTrait, PaginatorTrait, QueryFilter, TransactionTrait,
};
use serde_json::json;
use tracing::instrument;
use uuid::Uuid;

use super::{
    Actor, CustomerRef, Services,
    access::{self, Grant, Need},
    audit::{self, AuditEntry},
    credentials::{self, app_resources},
    invalidation::Invalidation,
    orgs,
    paging::{self, Page},
    permissions::{BuiltinRole, Perm},
    roles::org_role,
};
use crate::error::{AppError, AppResult};

/// A member of an organization with their role.
#[derive(Debug, Clone)]
pub struct Member {
    pub membership: membership::Model,
    pub customer: CustomerRef,
    pub role: role::Model,
}

/// A role may be handed out (to a member, an invitee or a service account) only by someone
/// who holds every permission it grants; the owner role only by an owner.
pub async fn check_assignable<C: ConnectionTrait>(
    db: &C,
    grant: &Grant,
    org_id: Uuid,
    role: &role::Model,
) -> AppResult<()> {
    if access::is_owner_role(role) {
        return grant.require_owner("hand out the owner role");
    }
    let apps = app_resources(db, &[org_id]).await?;
    grant.require_covers(&access::role_permissions(role)?, &apps, "this role")
}

async fn owner_count<C: ConnectionTrait>(db: &C, org_id: Uuid) -> AppResult<u64> {
    let owner = Role::find()
        .filter(role::Column::OrganizationId.eq(org_id))
        .filter(role::Column::Builtin.eq(true))
        .filter(role::Column::Key.eq(BuiltinRole::Owner.key()))
        .one(db)
        .await?
        .ok_or_else(|| access::corrupt("organization", "it has no owner role"))?;
    Ok(Membership::find()
        .filter(membership::Column::OrganizationId.eq(org_id))
        .filter(membership::Column::RoleId.eq(owner.id))
        .count(db)
        .await?)
}

impl Services {
    /// An organization's members, newest first, a page at a time (a fixed number of
    /// queries whatever its size). **Permissions**: `members:read`.
    pub async fn members(
        &self,
        actor: &Actor,
        org_id: Uuid,
        first: u64,
        after: Option<Uuid>,
    ) -> AppResult<Page<Member>> {
        self.authorize(actor, Need::Org(org_id, Perm::MEMBERS_READ))
            .await?;
        let query = Membership::find().filter(membership::Column::OrganizationId.eq(org_id));
        let page = paging::page(&self.db, query, membership::Column::Id, first, after).await?;
        let customers: BTreeMap<Uuid, customer::Model> = Customer::find()
            .filter(
                customer::Column::Id
                    .is_in(page.items.iter().map(|m| m.customer_id).collect::<Vec<_>>()),
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
        page.try_map(|m| {
            let customer = customers
                .get(&m.customer_id)
                .map(CustomerRef::from)
                .ok_or_else(|| access::corrupt("membership", "its customer is missing"))?;
            let role = roles
                .get(&m.role_id)
                .cloned()
                .ok_or_else(|| access::corrupt("membership", "its role is missing"))?;
            Ok(Member {
                membership: m,
                customer,
                role,
            })
        })
    }

    async fn find_member(
        &self,
        actor: &Actor,
        membership_id: Uuid,
        perm: Perm,
    ) -> AppResult<(membership::Model, Grant)> {
        let m = Membership::find_by_id(membership_id)
            .one(&self.db)
            .await?
            .ok_or(AppError::NotFound("member"))?;
        let grant = self
            .authorize_visible(actor, m.organization_id, perm, "member")
            .await?;
        Ok((m, grant))
    }

    /// Changes a member's role. **Permissions**: `members:write`, every permission of the
    /// new role and of the member's current one, and ownership to make or unmake an
    /// owner. The last owner stays an owner, whoever else acts at the same moment.
    #[instrument(skip_all, fields(member = %membership_id))]
    pub async fn update_member_role(
        &self,
        actor: &Actor,
        membership_id: Uuid,
        role_id: Uuid,
    ) -> AppResult<Member> {
        let (m, grant) = self
            .find_member(actor, membership_id, Perm::MEMBERS_WRITE)
            .await?;
        let org = m.organization_id;
        let new_role = org_role(&self.db, org, role_id, "input.roleId").await?;
        check_assignable(&self.db, &grant, org, &new_role).await?;
        let now = self.clock.now();
        let txn = self.db.begin().await?;
        // Every rule below is read under the organization's lock (SPEC §3.3).
        let (m, old_role) = locked_member(&txn, m).await?;
        self.require_covers_member(&txn, &grant, org, &old_role, "changing this member's role")
            .await?;
        if access::is_owner_role(&old_role) && !access::is_owner_role(&new_role) {
            grant.require_owner("change an owner's role")?;
            still_an_owner(&txn, &grant, org, "change an owner's role").await?;
            keep_an_owner(&txn, org).await?;
        }
        let mut active: membership::ActiveModel = m.into();
        active.role_id = Set(new_role.id);
        active.updated_at = Set(now);
        let m = active.update(&txn).await?;
        let customer = Customer::find_by_id(m.customer_id)
            .one(&txn)
            .await?
            .ok_or(AppError::NotFound("member"))?;
        audit::record(
            &txn,
            &grant,
            AuditEntry::new(Some(org), Action::MemberUpdateRole, "member", m.id)
                .name(&customer.email)
                .details(json!({ "from": old_role.key, "to": new_role.key })),
        )
        .await?;
        self.commit_invalidating(txn, Invalidation::Organization(org))
            .await?;
        Ok(Member {
            membership: m,
            customer: CustomerRef::from(&customer),
            role: new_role,
        })
    }

    /// Removes a member and revokes their API keys there (each audited), so asking them
    /// back revives none. **Permissions**: `members:delete`, every permission the member
    /// holds, and ownership to remove an owner. The last owner stays.
    #[instrument(skip_all, fields(member = %membership_id))]
    pub async fn remove_member(&self, actor: &Actor, membership_id: Uuid) -> AppResult<Uuid> {
        let (m, grant) = self
            .find_member(actor, membership_id, Perm::MEMBERS_DELETE)
            .await?;
        self.delete_membership(&grant, m, Action::MemberRemove)
            .await
    }

    /// Leaves an organization; your API keys there are revoked. The last owner cannot
    /// leave.
    /// **Permissions**: `organization:write` over your own things.
    #[instrument(skip_all, fields(org = %org_id))]
    pub async fn leave_organization(&self, actor: &Actor, org_id: Uuid) -> AppResult<Uuid> {
        let grant = self
            .authorize(actor, Need::User(Perm::ORGANIZATION_WRITE))
            .await?;
        let m = Membership::find()
            .filter(membership::Column::OrganizationId.eq(org_id))
            .filter(membership::Column::CustomerId.eq(grant.customer()))
            .one(&self.db)
            .await?
            .ok_or(AppError::NotAMember)?;
        self.delete_membership(&grant, m, Action::MemberLeave).await
    }

    async fn delete_membership(
        &self,
        grant: &Grant,
        m: membership::Model,
        action: Action,
    ) -> AppResult<Uuid> {
        let org = m.organization_id;
        let now = self.clock.now();
        let txn = self.db.begin().await?;
        // Every rule below is read under the organization's lock (SPEC §3.3).
        let (m, role) = locked_member(&txn, m).await?;
        let removed = action == Action::MemberRemove;
        if removed {
            self.require_covers_member(&txn, grant, org, &role, "removing this member")
                .await?;
        }
        if access::is_owner_role(&role) {
            if removed {
                grant.require_owner("remove an owner")?;
                still_an_owner(&txn, grant, org, "remove an owner").await?;
            }
            keep_an_owner(&txn, org).await?;
        }
        let customer = Customer::find_by_id(m.customer_id).one(&txn).await?;
        Membership::delete_by_id(m.id).exec(&txn).await?;
        // Their keys go with them: asked back later, they find none alive. Revoked before
        // this event is written (see `credentials::revoke_member_keys`).
        credentials::revoke_member_keys(&txn, grant, org, m.customer_id, now).await?;
        audit::record(
            &txn,
            grant,
            AuditEntry::new(Some(org), action, "member", m.id)
                .name(customer.map(|c| c.email).unwrap_or_default())
                .details(json!({ "customer_id": m.customer_id, "role": role.key })),
        )
        .await?;
        self.commit_invalidating(txn, Invalidation::Organization(org))
            .await?;
        Ok(m.id)
    }

    /// Refuses unless the grant covers every permission of the member's role: nobody
    /// changes or removes a member who can do more than they can.
    async fn require_covers_member<C: ConnectionTrait>(
        &self,
        db: &C,
        grant: &Grant,
        org_id: Uuid,
        role: &role::Model,
        what: &str,
    ) -> AppResult<()> {
        let apps = app_resources(db, &[org_id]).await?;
        grant.require_covers(&access::role_permissions(role)?, &apps, what)
    }
}

/// Takes the organization's lock inside `txn` and reads the member and their role again
/// under it: what was read before the transaction may have changed since.
async fn locked_member(
    txn: &DatabaseTransaction,
    m: membership::Model,
) -> AppResult<(membership::Model, role::Model)> {
    orgs::lock_organization(txn, m.organization_id).await?;
    let m = Membership::find_by_id(m.id)
        .one(txn)
        .await?
        .ok_or(AppError::NotFound("member"))?;
    let role = Role::find_by_id(m.role_id)
        .one(txn)
        .await?
        .ok_or_else(|| access::corrupt("membership", "its role is missing"))?;
    Ok((m, role))
}

/// Refuses unless the acting user is still an owner, read under the organization's lock:
/// an owner demoted or removed a moment ago by another owner acts on a grant that no
/// longer holds. (Not a user: the server itself, always allowed by its grant.)
async fn still_an_owner(
    txn: &DatabaseTransaction,
    grant: &Grant,
    org_id: Uuid,
    what: &str,
) -> AppResult<()> {
    let Some(actor) = grant.customer() else {
        return Ok(());
    };
    match access::member_role(txn, org_id, actor).await? {
        Some(role) if access::is_owner_role(&role) => Ok(()),
        _ => Err(AppError::Forbidden(format!("only an owner can {what}"))),
    }
}

/// Refuses to take away the organization's last owner. Read under its lock.
async fn keep_an_owner(txn: &DatabaseTransaction, org_id: Uuid) -> AppResult<()> {
    if owner_count(txn, org_id).await? <= 1 {
        return Err(AppError::Conflict(
            "an organization keeps at least one owner".into(),
        ));
    }
    Ok(())
}

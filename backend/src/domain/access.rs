//! Authorization: membership first (`NOT_A_MEMBER`), then the permission (`FORBIDDEN`
//! naming the missing `resource:level`). Effective permission is always the owner's
//! current role in the organization, narrowed by the credential's scopes (SPEC §3.1).

use std::collections::BTreeMap;

use entity::{membership, organization, prelude::*, role, service_account};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};
use uuid::Uuid;

use super::{
    Principal,
    permissions::{BuiltinRole, Level, Perm, PermissionSet},
};
use crate::error::{AppError, AppResult};

/// The permissions a role grants.
pub fn role_permissions(role: &role::Model) -> PermissionSet {
    if role.builtin
        && let Some(builtin) = BuiltinRole::from_key(&role.key)
    {
        return builtin.permissions();
    }
    let map: BTreeMap<String, Level> =
        serde_json::from_value(role.permissions.clone()).unwrap_or_default();
    PermissionSet::from_map(map)
}

/// A customer's role in an organization, if they are a member.
pub async fn member_role<C: ConnectionTrait>(
    db: &C,
    org_id: Uuid,
    customer_id: Uuid,
) -> AppResult<Option<role::Model>> {
    let Some(found) = Membership::find()
        .filter(membership::Column::OrganizationId.eq(org_id))
        .filter(membership::Column::CustomerId.eq(customer_id))
        .one(db)
        .await?
    else {
        return Ok(None);
    };
    Ok(Role::find_by_id(found.role_id).one(db).await?)
}

/// What `principal` may do in `org_id`, or `NOT_A_MEMBER`.
pub async fn org_permissions<C: ConnectionTrait>(
    db: &C,
    principal: &Principal,
    org_id: Uuid,
) -> AppResult<PermissionSet> {
    if !matches!(principal, Principal::System)
        && let Some(org) = Organization::find_by_id(org_id).one(db).await?
    {
        if org.suspended_at.is_some() {
            return Err(AppError::Unauthenticated(
                crate::error::AuthFailure::Suspended,
            ));
        }
        check_pat_policy(db, principal, &org).await?;
    }
    let base = match principal {
        Principal::System => BuiltinRole::Owner.permissions(),
        Principal::Session { customer, .. } | Principal::Oidc { customer } => {
            member_permissions(db, org_id, customer.id).await?
        }
        Principal::Credential(cred) => {
            if cred.organization_id.is_some_and(|o| o != org_id) {
                return Err(AppError::NotAMember);
            }
            let owner = match (&cred.service_account, &cred.customer) {
                (Some(sa), _) => {
                    let sa = ServiceAccount::find_by_id(sa.id)
                        .one(db)
                        .await?
                        .filter(service_account_active)
                        .ok_or(AppError::NotAMember)?;
                    let role = Role::find_by_id(sa.role_id)
                        .one(db)
                        .await?
                        .ok_or(AppError::NotAMember)?;
                    role_permissions(&role)
                }
                (None, Some(customer)) => member_permissions(db, org_id, customer.id).await?,
                (None, None) => return Err(AppError::NotAMember),
            };
            match &cred.scopes {
                Some(scopes) => owner.restrict_to(scopes),
                None => owner,
            }
        }
    };
    Ok(base)
}

async fn member_permissions<C: ConnectionTrait>(
    db: &C,
    org_id: Uuid,
    customer_id: Uuid,
) -> AppResult<PermissionSet> {
    member_role(db, org_id, customer_id)
        .await?
        .map(|role| role_permissions(&role))
        .ok_or(AppError::NotAMember)
}

/// Checks `perm` in `org_id` and returns the full set for further checks.
pub async fn require<C: ConnectionTrait>(
    db: &C,
    principal: &Principal,
    org_id: Uuid,
    perm: Perm,
) -> AppResult<PermissionSet> {
    let set = org_permissions(db, principal, org_id).await?;
    if set.allows(&perm) {
        Ok(set)
    } else {
        Err(AppError::Forbidden(perm.to_string()))
    }
}

/// An organization may cap the lifetime of the personal access tokens used in it.
async fn check_pat_policy<C: ConnectionTrait>(
    db: &C,
    principal: &Principal,
    org: &organization::Model,
) -> AppResult<()> {
    let (Some(max_days), Some(cred)) = (org.pat_max_lifetime_days, principal.credential()) else {
        return Ok(());
    };
    if cred.kind != super::CredentialKind::Pat {
        return Ok(());
    }
    let Some(model) = Credential::find_by_id(cred.id).one(db).await? else {
        return Ok(());
    };
    let lifetime = model.expires_at.map(|e| e - model.created_at);
    if lifetime.is_none_or(|l| l > chrono::TimeDelta::days(i64::from(max_days))) {
        return Err(AppError::Forbidden(format!(
            "this organization accepts personal access tokens valid for at most {max_days} days"
        )));
    }
    Ok(())
}

/// A project-bound API key may act only inside its project.
pub fn require_project(principal: &Principal, project_id: Option<Uuid>) -> AppResult<()> {
    match principal.credential().and_then(|c| c.project_id) {
        Some(bound) if project_id != Some(bound) => Err(AppError::Forbidden(
            "this key is limited to another project".into(),
        )),
        _ => Ok(()),
    }
}

/// Whether a service account's key may still act: it exists and is not disabled.
pub fn service_account_active(sa: &service_account::Model) -> bool {
    sa.disabled_at.is_none()
}

/// A customer's organization ids, for listing.
pub async fn customer_org_ids<C: ConnectionTrait>(
    db: &C,
    customer_id: Uuid,
) -> AppResult<Vec<Uuid>> {
    Ok(Membership::find()
        .filter(membership::Column::CustomerId.eq(customer_id))
        .all(db)
        .await?
        .into_iter()
        .map(|m| m.organization_id)
        .collect())
}

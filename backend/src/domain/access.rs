//! Authorization, in one place (SPEC §3.2). Every service operation starts with one line,
//! `let grant = self.authorize(actor, Need::…).await?;`, and the write helpers (the audit
//! record every change writes) take the [`Grant`] it returns, so a change cannot be written
//! without having been authorized.
//!
//! The rules, each applied here and nowhere else:
//! - **Organization data** ([`Need::Org`]): the organization is live, the principal is a
//!   member (`NOT_A_MEMBER`), its role holds the permission, and the presented credential's
//!   scopes hold it too (`FORBIDDEN` naming `resource:level`). A key acts only in its own
//!   organization; a service-account key with its account's role; an API key with its
//!   creator's current role.
//! - **A user's own things** ([`Need::User`]): personal access tokens, sessions, invites
//!   addressed to them, new organizations. A dashboard session, an OIDC token and an
//!   unscoped PAT carry all of the user's permissions; a scoped PAT only its scopes. API
//!   keys and service-account keys never act for a user.
//! - **Instance administration** ([`Need::InstanceAdmin`]): an instance admin's dashboard
//!   session or unscoped PAT, never a scoped PAT.
//! - **Creation bounds**: a [`Grant`] knows what its holder holds right now, and the
//!   services check every new credential, role assignment and service-account key against
//!   it ([`Grant::require_covers`], [`Grant::require_owner`]).
//! - **Stored data that does not parse** (role permissions, scopes, kinds) is an internal
//!   error: the request is refused, never granted a default.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use entity::{membership, organization, prelude::*, role, service_account};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};
use uuid::Uuid;

use super::{
    Actor, CredentialKind, CustomerRef, Principal, Services,
    permissions::{BuiltinRole, Level, Perm, PermissionSet, Resource},
};
use crate::error::{AppError, AppResult, AuthFailure};

/// What an operation needs.
#[derive(Debug, Clone)]
pub enum Need {
    /// A permission in an organization.
    Org(Uuid, Perm),
    /// Every one of these permissions in an organization; none: membership alone, the
    /// grant telling what the principal holds there (a PAT checked by verify).
    OrgAll(Uuid, Vec<Perm>),
    /// A permission over the acting user's own things.
    User(Perm),
    /// Instance administration.
    InstanceAdmin,
    /// Approving a CLI sign-in, which mints a personal access token with all of the user's
    /// permissions: only from the dashboard, signed in.
    DashboardSession,
    /// A personal access token revoking itself (`keyward logout`): always allowed, since it
    /// only gives up power.
    OwnToken,
}

/// Proof that one actor was authorized for one operation, with what it holds right now.
/// Only [`Services::authorize`] and [`Grant::system`] make one.
#[derive(Debug, Clone)]
pub struct Grant {
    actor: Actor,
    customer: Option<Uuid>,
    held: PermissionSet,
    owner: bool,
    /// Whether a user acting as themselves (session, provider token) is an instance
    /// admin under the configuration of the moment: how the audit log names them.
    instance_admin: bool,
    /// When the operation was authorized, by the server's clock: the time it records.
    at: DateTime<Utc>,
}

impl Grant {
    /// The server acting on its own (first sign-in, bootstrap, CLI token issuance):
    /// made only inside the domain, never by an edge.
    pub(in crate::domain) fn system(actor: Actor, at: DateTime<Utc>) -> Self {
        Self {
            actor,
            customer: None,
            held: PermissionSet::everything(),
            owner: true,
            instance_admin: false,
            at,
        }
    }

    /// [`Self::system`] for the integration tests' harness, which makes users and
    /// tokens the way sign-in does (feature `test-support`, never in a release build).
    #[cfg(feature = "test-support")]
    pub fn system_for_tests(actor: Actor, at: DateTime<Utc>) -> Self {
        Self::system(actor, at)
    }

    /// When the operation was authorized, by the server's clock.
    pub fn at(&self) -> DateTime<Utc> {
        self.at
    }

    /// Who acts.
    pub fn actor(&self) -> &Actor {
        &self.actor
    }

    /// The acting user, when a user acts (for an API key: its creator).
    pub fn customer(&self) -> Option<Uuid> {
        self.customer
    }

    /// What the actor holds right now: role ∩ credential scopes in the organization, or
    /// the credential's scopes over user-level things.
    pub fn held(&self) -> &PermissionSet {
        &self.held
    }

    /// Whether the actor is an owner of the organization (a service account never is).
    pub fn is_owner(&self) -> bool {
        self.owner
    }

    /// Whether a user acting as themselves is an instance admin.
    pub fn is_instance_admin(&self) -> bool {
        self.instance_admin
    }

    /// The presented credential's expiry, when it has one.
    pub fn credential_expiry(&self) -> Option<DateTime<Utc>> {
        match &self.actor.principal {
            Principal::Credential(c) => c.expires_at,
            Principal::Oidc { expires_at, .. } => *expires_at,
            Principal::Session { .. } | Principal::System => None,
        }
    }

    /// Whether a credential with scopes acts (as opposed to a session or an unscoped one).
    pub fn credential_scopes(&self) -> Option<&[Perm]> {
        self.actor
            .principal
            .credential()
            .and_then(|c| c.scopes.as_deref())
    }

    /// Refuses handing out anything in `bound` that the actor does not hold now: a new
    /// credential, a role assignment, a service-account key (SPEC §3.2).
    pub fn require_covers(
        &self,
        bound: &PermissionSet,
        apps: &[String],
        what: &str,
    ) -> AppResult<()> {
        match self.held.first_missing(bound, apps) {
            Some(missing) => Err(AppError::Forbidden(format!(
                "{what} needs {missing}, which you do not hold"
            ))),
            None => Ok(()),
        }
    }

    /// Refuses unless the actor is an owner holding everything an owner holds.
    pub fn require_owner(&self, what: &str) -> AppResult<()> {
        let everything = PermissionSet::everything();
        if self.owner && self.held.first_missing(&everything, &[]).is_none() {
            Ok(())
        } else {
            Err(AppError::Forbidden(format!("only an owner can {what}")))
        }
    }

    /// A project-bound key acts only inside its project.
    pub fn require_project(&self, project_id: Option<Uuid>) -> AppResult<()> {
        match self.actor.principal.credential().and_then(|c| c.project_id) {
            Some(bound) if project_id != Some(bound) => Err(AppError::Forbidden(
                "this key is limited to another project".into(),
            )),
            _ => Ok(()),
        }
    }

    /// Refuses a key bound to one project: `what` belongs to the whole organization
    /// (identities are shared by every project's keys).
    pub fn require_whole_organization(&self, what: &str) -> AppResult<()> {
        match self.bound_project() {
            Some(_) => Err(AppError::Forbidden(format!(
                "this key is limited to one project; {what} belong to the whole organization"
            ))),
            None => Ok(()),
        }
    }

    /// The project a key is bound to, if any.
    pub fn bound_project(&self) -> Option<Uuid> {
        self.actor.principal.credential().and_then(|c| c.project_id)
    }
}

/// An internal error for stored data that does not parse; logged where errors are mapped.
pub fn corrupt(what: &str, detail: impl std::fmt::Display) -> AppError {
    AppError::internal(std::io::Error::other(format!(
        "stored {what} does not parse: {detail}"
    )))
}

/// The permissions a role grants. A built-in role with an unknown key, or a custom role
/// whose stored permissions do not parse, is an internal error.
pub fn role_permissions(role: &role::Model) -> AppResult<PermissionSet> {
    if role.builtin {
        return BuiltinRole::from_key(&role.key)
            .map(BuiltinRole::permissions)
            .ok_or_else(|| corrupt("built-in role", &role.key));
    }
    let map: BTreeMap<String, Level> = serde_json::from_value(role.permissions.clone())
        .map_err(|e| corrupt("role permissions", e))?;
    PermissionSet::from_stored(map).map_err(|e| corrupt("role permissions", e))
}

/// Whether a role is the built-in owner role.
pub fn is_owner_role(role: &role::Model) -> bool {
    role.builtin && role.key == BuiltinRole::Owner.key()
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

/// The principal's role-given permissions in `org_id` before any credential scopes, and
/// whether it is an owner there.
async fn role_in_org<C: ConnectionTrait>(
    db: &C,
    principal: &Principal,
    org_id: Uuid,
) -> AppResult<(PermissionSet, bool)> {
    let member = |customer_id: Uuid| async move {
        let role = member_role(db, org_id, customer_id)
            .await?
            .ok_or(AppError::NotAMember)?;
        Ok::<_, AppError>((role_permissions(&role)?, is_owner_role(&role)))
    };
    match principal {
        Principal::System => Ok((PermissionSet::everything(), true)),
        Principal::Session { customer, .. } | Principal::Oidc { customer, .. } => {
            member(customer.id).await
        }
        Principal::Credential(cred) => {
            if cred.organization_id.is_some_and(|o| o != org_id) {
                return Err(AppError::NotAMember);
            }
            match (&cred.service_account, &cred.customer) {
                (Some(sa), _) => {
                    let sa = ServiceAccount::find_by_id(sa.id)
                        .one(db)
                        .await?
                        .filter(|sa| sa.organization_id == org_id && service_account_active(sa))
                        .ok_or(AppError::NotAMember)?;
                    let role = Role::find_by_id(sa.role_id)
                        .one(db)
                        .await?
                        .ok_or_else(|| corrupt("service account role", sa.role_id))?;
                    Ok((role_permissions(&role)?, false))
                }
                (None, Some(customer)) => member(customer.id).await,
                (None, None) => Err(AppError::NotAMember),
            }
        }
    }
}

/// What a key bound to one project may do: only what lives inside projects (its API keys,
/// usage, application resources, the projects themselves) and read its organization;
/// never members, invites, roles, service accounts, settings or the audit log, which
/// span the organization.
fn limit_to_project(principal: &Principal, held: PermissionSet) -> PermissionSet {
    if principal.credential().and_then(|c| c.project_id).is_none() {
        return held;
    }
    held.limited(|resource, level| match resource {
        Resource::ApiKeys | Resource::Usage | Resource::Projects | Resource::App(_) => level,
        Resource::Organization => level.min(Level::Read),
        _ => Level::None,
    })
}

/// An organization may cap the lifetime of the personal access tokens used in it.
fn check_pat_policy(principal: &Principal, org: &organization::Model) -> AppResult<()> {
    let (Some(max_days), Some(cred)) = (org.pat_max_lifetime_days, principal.credential()) else {
        return Ok(());
    };
    if cred.kind != CredentialKind::Pat {
        return Ok(());
    }
    let lifetime = cred.expires_at.map(|e| e - cred.created_at);
    if lifetime.is_none_or(|l| l > chrono::TimeDelta::days(i64::from(max_days))) {
        return Err(AppError::Forbidden(format!(
            "this organization accepts personal access tokens valid for at most {max_days} days"
        )));
    }
    Ok(())
}

impl Services {
    /// Whether `customer` holds instance-admin power under the configuration of the
    /// moment: an exact subject of `KEYWARD_ADMIN_SUBJECTS` or a verified email of
    /// `KEYWARD_ADMIN_EMAILS` at the configured issuer, or a local account the operator
    /// made an admin. Decided at every use, never from a flag an old sign-in left.
    pub fn is_instance_admin(&self, customer: &CustomerRef) -> bool {
        let claim = &customer.admin_claim;
        if claim.local_admin {
            return true;
        }
        let Some(oidc) = &self.config.oidc else {
            return false;
        };
        claim.issuer == oidc.issuer
            && (self.config.admin_subjects.contains(&claim.subject)
                || (claim.email_verified
                    && self
                        .config
                        .admin_emails
                        .iter()
                        .any(|e| e.eq_ignore_ascii_case(&customer.email))))
    }

    /// The one authorization path (see the module documentation).
    pub async fn authorize(&self, actor: &Actor, need: Need) -> AppResult<Grant> {
        let principal = &actor.principal;
        let instance_admin = match principal {
            Principal::Session { customer, .. } | Principal::Oidc { customer, .. } => {
                self.is_instance_admin(customer)
            }
            Principal::Credential(_) | Principal::System => false,
        };
        let at = self.clock.now();
        let grant = |customer, held, owner| Grant {
            actor: actor.clone(),
            customer,
            held,
            owner,
            instance_admin,
            at,
        };
        let customer = principal.customer().map(|c| c.id);
        match need {
            Need::Org(org_id, perm) => {
                let (held, owner) = self
                    .holding_in_org(principal, org_id, std::slice::from_ref(&perm))
                    .await?;
                Ok(grant(customer, held, owner))
            }
            Need::OrgAll(org_id, perms) => {
                let (held, owner) = self.holding_in_org(principal, org_id, &perms).await?;
                Ok(grant(customer, held, owner))
            }
            Need::User(perm) => {
                let (customer, held) = self.user_power(principal)?;
                if !held.allows(&perm) {
                    return Err(AppError::MissingPermission(perm.to_string()));
                }
                Ok(grant(Some(customer), held, false))
            }
            Need::InstanceAdmin => {
                let admin =
                    |c: &Option<CustomerRef>| c.as_ref().is_some_and(|c| self.is_instance_admin(c));
                let allowed = match principal {
                    Principal::System => true,
                    Principal::Session { .. } => instance_admin,
                    Principal::Credential(c) => {
                        c.kind == CredentialKind::Pat && c.scopes.is_none() && admin(&c.customer)
                    }
                    Principal::Oidc { .. } => false,
                };
                if !allowed {
                    let scoped = principal
                        .credential()
                        .is_some_and(|c| c.scopes.is_some() && admin(&c.customer));
                    return Err(AppError::Forbidden(if scoped {
                        "a personal access token with scopes never carries instance-admin power"
                            .into()
                    } else {
                        "this needs an instance admin, signed in or with an unscoped personal access token".into()
                    }));
                }
                Ok(grant(customer, PermissionSet::everything(), false))
            }
            Need::DashboardSession => match principal {
                Principal::Session { customer, .. } => {
                    Ok(grant(Some(customer.id), PermissionSet::everything(), false))
                }
                _ => Err(AppError::Forbidden(
                    "CLI sign-ins are approved in the dashboard, signed in".into(),
                )),
            },
            Need::OwnToken => match principal.credential() {
                Some(c) if c.kind == CredentialKind::Pat => {
                    let customer = c.customer.as_ref().map(|c| c.id);
                    Ok(grant(customer, PermissionSet::default(), false))
                }
                _ => Err(AppError::Forbidden(
                    "only a personal access token can revoke itself".into(),
                )),
            },
        }
    }

    /// [`Self::held_in_org`], refused naming the first of `perms` it lacks.
    async fn holding_in_org(
        &self,
        principal: &Principal,
        org_id: Uuid,
        perms: &[Perm],
    ) -> AppResult<(PermissionSet, bool)> {
        let (held, owner) = self.held_in_org(principal, org_id).await?;
        match perms.iter().find(|p| !held.allows(p)) {
            Some(missing) => Err(AppError::MissingPermission(missing.to_string())),
            None => Ok((held, owner)),
        }
    }

    /// What `principal` holds in `org_id` right now (role ∩ credential scopes), and
    /// whether it is an owner there; `NOT_A_MEMBER` when it holds nothing there.
    async fn held_in_org(
        &self,
        principal: &Principal,
        org_id: Uuid,
    ) -> AppResult<(PermissionSet, bool)> {
        // Membership first: an outsider learns nothing about the organization's state.
        let (role, owner) = role_in_org(&self.db, principal, org_id).await?;
        if !matches!(principal, Principal::System) {
            let org = Organization::find_by_id(org_id)
                .one(&self.db)
                .await?
                .ok_or(AppError::NotAMember)?;
            if org.suspended_at.is_some() {
                return Err(AuthFailure::Suspended.into());
            }
            check_pat_policy(principal, &org)?;
        }
        let role = limit_to_project(principal, role);
        let held = match principal.credential().and_then(|c| c.scopes.as_deref()) {
            Some(scopes) => role.restrict_to(scopes),
            None => role,
        };
        Ok((held, owner))
    }

    /// [`Services::authorize`] for an object found by its own id: a caller outside the
    /// object's organization learns nothing, getting `NOT_FOUND` as for an id that does
    /// not exist.
    pub async fn authorize_visible(
        &self,
        actor: &Actor,
        org_id: Uuid,
        perm: Perm,
        what: &'static str,
    ) -> AppResult<Grant> {
        match self.authorize(actor, Need::Org(org_id, perm)).await {
            Err(AppError::NotAMember) => Err(AppError::NotFound(what)),
            other => other,
        }
    }

    /// The user a principal acts for over user-level things, and what it may do there.
    fn user_power(&self, principal: &Principal) -> AppResult<(Uuid, PermissionSet)> {
        match principal {
            Principal::Session { customer, .. } | Principal::Oidc { customer, .. } => {
                Ok((customer.id, PermissionSet::everything()))
            }
            Principal::Credential(c) if c.kind == CredentialKind::Pat => {
                let customer = c
                    .customer
                    .as_ref()
                    .ok_or_else(|| corrupt("personal access token", "it has no owner"))?;
                let held = match &c.scopes {
                    Some(scopes) => PermissionSet::of(scopes),
                    None => PermissionSet::everything(),
                };
                Ok((customer.id, held))
            }
            Principal::Credential(_) => Err(AppError::Forbidden(
                "API keys and service-account keys never act for a user: use a personal access token".into(),
            )),
            Principal::System => Err(AppError::Forbidden(
                "this needs a user, signed in or with a personal access token".into(),
            )),
        }
    }
}

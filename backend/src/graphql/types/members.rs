//! Members, roles, invites and the permission catalogue.

use async_graphql::{Context, Enum, ID, Object, SimpleObject};
use chrono::{DateTime, Utc};

use super::*;

/// A member of an organization.
pub struct Member(pub crate::domain::members::Member);

#[Object]
impl Member {
    /// The membership id (used to change the role or remove the member).
    async fn id(&self) -> ID {
        ID(self.0.membership.id.to_string())
    }
    async fn organization_id(&self) -> ID {
        ID(self.0.membership.organization_id.to_string())
    }
    async fn user(&self) -> User {
        self.0.customer.clone().into()
    }
    async fn role(&self) -> Role {
        Role::plain(self.0.role.clone())
    }
    async fn joined_at(&self) -> DateTime<Utc> {
        self.0.membership.created_at
    }
}

/// One permission of a role: a resource and the level granted on it.
#[derive(SimpleObject, Clone)]
pub struct Permission {
    pub resource: String,
    /// `read`, `write`, `delete` or `admin`.
    pub level: String,
}

/// A role: built-in (`owner`, `admin`, `developer`, `viewer`) or custom.
pub struct Role {
    role: entity::role::Model,
    permissions: Option<Vec<crate::domain::permissions::Perm>>,
}

impl Role {
    pub fn plain(role: entity::role::Model) -> Self {
        Self {
            role,
            permissions: None,
        }
    }
}

impl From<crate::domain::roles::RoleView> for Role {
    fn from(v: crate::domain::roles::RoleView) -> Self {
        Self {
            role: v.role,
            permissions: Some(v.permissions),
        }
    }
}

#[Object]
impl Role {
    async fn id(&self) -> ID {
        ID(self.role.id.to_string())
    }
    /// `owner`, `admin`, `developer`, `viewer`, or a custom role's slug.
    async fn key(&self) -> &str {
        &self.role.key
    }
    async fn name(&self) -> &str {
        &self.role.name
    }
    async fn description(&self) -> &str {
        &self.role.description
    }
    async fn builtin(&self) -> bool {
        self.role.builtin
    }
    /// What the role grants, one entry per resource (listed in `roles` and role mutations).
    async fn permissions(&self) -> Vec<Permission> {
        self.permissions
            .iter()
            .flatten()
            .map(|p| Permission {
                resource: p.resource.as_str().to_owned(),
                level: p.level.as_str().into(),
            })
            .collect()
    }
}

/// An invite to join an organization.
pub struct Invite(pub crate::domain::invites::InviteView);

/// Where an invite stands.
#[derive(Enum, Copy, Clone, Eq, PartialEq)]
#[graphql(remote = "crate::domain::invites::InviteStatus")]
pub enum InviteStatus {
    /// Open: the invited user may accept or decline it.
    Pending,
    Accepted,
    Declined,
    /// Withdrawn by the organization.
    Revoked,
    /// Pending past its 7 days.
    Expired,
}

#[Object]
impl Invite {
    async fn id(&self) -> ID {
        ID(self.0.invite.id.to_string())
    }
    async fn email(&self) -> &str {
        &self.0.invite.email
    }
    async fn organization(&self) -> Organization {
        Organization(self.0.organization.clone())
    }
    async fn role(&self) -> Role {
        Role::plain(self.0.role.clone())
    }
    async fn status(&self, ctx: &Context<'_>) -> async_graphql::Result<InviteStatus> {
        Ok(self.0.status(services(ctx)?.clock.now()).into())
    }
    async fn expires_at(&self) -> DateTime<Utc> {
        self.0.invite.expires_at
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.invite.created_at
    }
    /// Where the invitee accepts it (signed in as the invited address): sent by email
    /// when the server has SMTP, or passed on by hand.
    async fn accept_url(&self, ctx: &Context<'_>) -> async_graphql::Result<String> {
        Ok(services(ctx)?.accept_link(self.0.invite.id))
    }
}

/// A resource keys and roles can carry.
#[derive(SimpleObject)]
pub struct CatalogResource {
    pub name: String,
    pub description: String,
    /// Built in, or defined by the organization for its own product.
    pub builtin: bool,
}

/// The resources and levels of an organization, for role and key editors.
#[derive(SimpleObject)]
pub struct PermissionCatalog {
    pub resources: Vec<CatalogResource>,
    /// In order: each includes the ones before it.
    pub levels: Vec<String>,
}

/// An application resource an organization defined.
#[derive(SimpleObject)]
pub struct ApplicationResource {
    pub id: ID,
    pub name: String,
    pub description: String,
}

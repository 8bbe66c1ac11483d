//! Who is acting: a dashboard session, a verified credential, or the server itself.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::permissions::Perm;

/// The kinds of credential (SPEC §3), as stored.
pub use entity::credential::Kind as CredentialKind;

/// A customer, as seen by other objects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomerRef {
    pub id: Uuid,
    pub email: String,
    pub name: String,
    /// What instance-admin power is decided from, against the configuration at every use
    /// ([`super::Services::is_instance_admin`]).
    pub admin_claim: AdminClaim,
}

/// Who a customer is, as far as instance-admin power goes. There is no stored "admin"
/// flag for a provider's user: a sign-in long ago, under another configuration, grants
/// nothing today (SPEC §3.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminClaim {
    /// A local account (no identity provider vouches for it) that the operator made an
    /// instance admin: `keyward-server bootstrap`, or development sign-in.
    pub local_admin: bool,
    pub issuer: String,
    pub subject: String,
    /// Whether the provider vouched for the email address when the user last signed in.
    pub email_verified: bool,
}

impl From<&entity::customer::Model> for CustomerRef {
    fn from(c: &entity::customer::Model) -> Self {
        Self {
            id: c.id,
            email: c.email.clone(),
            name: c.name.clone(),
            admin_claim: AdminClaim {
                local_admin: c.issuer == super::orgs::LOCAL_ISSUER && c.is_instance_admin,
                issuer: c.issuer.clone(),
                subject: c.subject.clone(),
                email_verified: c.email_verified,
            },
        }
    }
}

/// A service account, as seen by its keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceAccountRef {
    pub id: Uuid,
    pub name: String,
}

/// A credential that has just been verified.
#[derive(Debug, Clone)]
pub struct AuthedCredential {
    pub id: Uuid,
    pub kind: CredentialKind,
    pub name: String,
    pub organization_id: Option<Uuid>,
    pub project_id: Option<Uuid>,
    /// The owner: the API key's creator or the PAT's user.
    pub customer: Option<CustomerRef>,
    pub service_account: Option<ServiceAccountRef>,
    /// `None`: all of the owner's permissions.
    pub scopes: Option<Vec<Perm>>,
    pub created_at: DateTime<Utc>,
    /// When it stops working on its own (expiry or the end of a rotation's grace).
    pub expires_at: Option<DateTime<Utc>>,
}

/// The authenticated party of a request.
#[derive(Debug, Clone)]
pub enum Principal {
    /// A dashboard session.
    Session {
        session_id: Uuid,
        customer: CustomerRef,
        organization_id: Uuid,
        project_id: Uuid,
    },
    /// An API key, PAT or service-account key.
    Credential(Arc<AuthedCredential>),
    /// A token issued by the configured OIDC provider, presented as a bearer credential,
    /// with its expiry: what it makes expires no later (SPEC §3.2).
    Oidc {
        customer: CustomerRef,
        expires_at: Option<DateTime<Utc>>,
    },
    /// The server itself: bootstrap and development sign-in.
    System,
}

impl Principal {
    /// The customer acting, if any (a service-account key has none).
    pub fn customer(&self) -> Option<&CustomerRef> {
        match self {
            Self::Session { customer, .. } | Self::Oidc { customer, .. } => Some(customer),
            Self::Credential(c) => c.customer.as_ref(),
            Self::System => None,
        }
    }

    /// The credential acting, if any.
    pub fn credential(&self) -> Option<&AuthedCredential> {
        match self {
            Self::Credential(c) => Some(c),
            _ => None,
        }
    }
}

/// Facts about the request that go into audit events.
#[derive(Debug, Clone, Default)]
pub struct RequestMeta {
    pub request_id: String,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

/// A principal acting through one request.
#[derive(Debug, Clone)]
pub struct Actor {
    pub principal: Principal,
    pub meta: RequestMeta,
}

impl Actor {
    pub fn new(principal: Principal, meta: RequestMeta) -> Self {
        Self { principal, meta }
    }

    /// The server acting on its own (bootstrap).
    pub fn system() -> Self {
        Self::new(Principal::System, RequestMeta::default())
    }

    /// The customer acting, if any.
    pub fn customer(&self) -> Option<&CustomerRef> {
        self.principal.customer()
    }
}

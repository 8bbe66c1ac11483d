//! Sign-in through the OIDC provider (SPEC §6): first sign-in provisioning, returning
//! customers, instance-admin designation and suspension at the door.

use entity::{customer, prelude::*};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, TransactionTrait,
};
use tracing::instrument;

use super::{
    Actor, CustomerRef, Principal, RequestMeta, Services, access, access::Grant, ids::new_id,
    invalidation::Invalidation, orgs, validate,
};
use crate::{
    error::{AppError, AppResult, AuthFailure},
    token::PlainToken,
};

/// Who the identity provider says signed in.
#[derive(Debug, Clone)]
pub struct Identity {
    pub issuer: String,
    pub subject: String,
    pub email: Option<String>,
    pub email_verified: bool,
    pub name: Option<String>,
    /// When the token that says so expires, if it says.
    pub expires_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// The identity provider's checks of its own tokens, provided by the edge that talks to
/// it (`oidc`). A refusal is `None`; why is the edge's to log.
pub trait ProviderTokens: Sync {
    /// A JWT: whom it names, and whether it is an access token (which never provisions
    /// a customer) rather than an ID token.
    fn verify_jwt(&self, jwt: &str) -> impl Future<Output = Option<(Identity, bool)>> + Send;
    /// An opaque access token issued for Keyward: whom it names.
    fn verify_opaque(&self, token: &str) -> impl Future<Output = Option<Identity>> + Send;
}

/// Whether a string looks like a JWT (three base64url parts) rather than a Keyward token.
pub fn looks_like_jwt(token: &str) -> bool {
    token.starts_with("eyJ")
        && token.split('.').count() == 3
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
}

/// What a completed sign-in produced.
#[derive(Debug)]
pub struct SignedIn {
    pub customer: customer::Model,
    /// The session secret for the cookie.
    pub session: PlainToken,
    /// Whether this sign-in created the customer.
    pub provisioned: bool,
}

impl Services {
    /// The principal a presented credential acts as: the one decision about every token
    /// a request presents (SPEC §4, §6). A string that is neither a JWT nor one of this
    /// deployment's (or an imported) tokens goes to the identity provider, when one is
    /// configured; anything else is verified here. Presenting what is no credential at
    /// all counts as a guess against the address, and a held-back address's guesses, and
    /// its tokens for the provider, are refused; real keys are answered on their merits.
    pub async fn principal_for<P: ProviderTokens>(
        &self,
        raw: &str,
        meta: &RequestMeta,
        provider: Option<&P>,
    ) -> AppResult<Principal> {
        let ip = meta.ip.as_deref();
        let jwt = looks_like_jwt(raw);
        if let Some(provider) = provider
            && (jwt || !self.looks_like_own_token(raw))
        {
            let principal = if jwt {
                match provider.verify_jwt(raw).await {
                    Some((identity, false)) => self.oidc_principal(&identity, meta).await,
                    Some((identity, true)) => self.oidc_access_principal(&identity).await,
                    None => Err(AuthFailure::NotFound.into()),
                }
            } else {
                // Asking the provider costs a request to it: not for a held-back address.
                self.refuse_held_back(ip)?;
                match provider.verify_opaque(raw).await {
                    Some(identity) => self.oidc_access_principal(&identity).await,
                    None => Err(AuthFailure::NotFound.into()),
                }
            };
            if let Err(AppError::Unauthenticated(AuthFailure::NotFound)) = &principal {
                self.refuse_held_back(ip)?;
                self.note_guess(ip);
            }
            return principal;
        }
        if jwt {
            return Err(AuthFailure::Malformed.into());
        }
        let verified = self.authenticate_credential(raw, ip).await?;
        let authed = verified.record.to_authed();
        // The access log: every request a key makes, under its owner, the key as agent.
        tracing::info!(
            target: "keyward::access",
            request_id = %meta.request_id,
            actor = authed
                .customer
                .as_ref()
                .map(|c| c.email.as_str())
                .or(authed.service_account.as_ref().map(|sa| sa.name.as_str()))
                .unwrap_or_default(),
            agent = %authed.name,
            credential = %authed.id,
            kind = authed.kind.as_str(),
            "authenticated request"
        );
        Ok(Principal::Credential(std::sync::Arc::new(authed)))
    }

    /// Finds the customer for a provider identity, creating it with a default organization,
    /// project and namespace on first sign-in, all in one transaction. Email, whether the
    /// provider verified it, and name are brought up to date on every sign-in; whether
    /// they make an instance admin is decided at every use, from the configuration.
    async fn customer_for(
        &self,
        id: &Identity,
        meta: &RequestMeta,
    ) -> AppResult<(customer::Model, bool)> {
        let email = id.email.as_deref().ok_or_else(|| {
            AppError::invalid(
                "email",
                "the identity provider sent no email address; the `email` scope is required",
            )
        })?;
        let email = validate::email("email", email)?;
        let name = id
            .name
            .as_deref()
            .and_then(validate::clean_name)
            .or_else(|| validate::clean_name(email.split('@').next().unwrap_or_default()))
            .unwrap_or_else(|| email.clone());
        let name = validate::name("name", &name)?;
        let now = self.clock.now();
        let txn = self.db.begin().await?;
        let existing = Customer::find()
            .filter(customer::Column::Issuer.eq(id.issuer.clone()))
            .filter(customer::Column::Subject.eq(id.subject.clone()))
            .one(&txn)
            .await?;
        let mut changed = false;
        let (customer, provisioned) = match existing {
            Some(found) => {
                // What verification caches about a user (what admin power is decided
                // from, email, name).
                changed = found.email_verified != id.email_verified
                    || found.email != email
                    || found.name != name;
                let mut active: customer::ActiveModel = found.into();
                active.email = Set(email);
                active.email_verified = Set(id.email_verified);
                active.name = Set(name);
                // A provider's user holds no stored admin flag (SPEC §3.2).
                active.is_instance_admin = Set(false);
                active.last_sign_in_at = Set(Some(now));
                active.updated_at = Set(now);
                (active.update(&txn).await?, false)
            }
            None => {
                let created = customer::ActiveModel {
                    id: Set(new_id()),
                    issuer: Set(id.issuer.clone()),
                    subject: Set(id.subject.clone()),
                    email: Set(email),
                    email_verified: Set(id.email_verified),
                    name: Set(name),
                    is_instance_admin: Set(false),
                    suspended_at: Set(None),
                    suspended_reason: Set(None),
                    last_sign_in_at: Set(Some(now)),
                    created_at: Set(now),
                    updated_at: Set(now),
                }
                .insert(&txn)
                .await?;
                (created, true)
            }
        };
        if customer.suspended_at.is_some() {
            return Err(AuthFailure::Suspended.into());
        }
        if access::customer_org_ids(&txn, customer.id)
            .await?
            .is_empty()
        {
            let actor = Actor::new(
                Principal::Oidc {
                    customer: CustomerRef::from(&customer),
                    expires_at: id.expires_at,
                },
                meta.clone(),
            );
            let org_name = format!("{}'s organization", customer.name);
            let grant = Grant::system(actor, now);
            orgs::create_org_in(&txn, &grant, customer.id, &org_name, None).await?;
        }
        if changed {
            self.commit_invalidating(txn, Invalidation::Everything)
                .await?;
        } else {
            txn.commit().await?;
        }
        Ok((customer, provisioned))
    }

    /// Completes a browser sign-in: the customer (provisioned on first sign-in) gets a
    /// session in their first organization and its first project.
    #[instrument(skip_all, fields(issuer = %id.issuer))]
    pub async fn sign_in(&self, id: &Identity, meta: &RequestMeta) -> AppResult<SignedIn> {
        let (customer, provisioned) = self.customer_for(id, meta).await?;
        let org_id = *access::customer_org_ids(&self.db, customer.id)
            .await?
            .iter()
            .min()
            .ok_or(AppError::NotFound("organization"))?;
        let project = orgs::first_project(&self.db, org_id)
            .await?
            .ok_or(AppError::NotFound("project"))?;
        let session = self
            .create_session(
                customer.id,
                org_id,
                project.id,
                meta,
                super::sessions::SignInMethod::Oidc,
            )
            .await?;
        Ok(SignedIn {
            customer,
            session,
            provisioned,
        })
    }

    /// The principal for a verified provider JWT presented as a bearer credential: the
    /// same customer a browser sign-in reaches.
    pub async fn oidc_principal(&self, id: &Identity, meta: &RequestMeta) -> AppResult<Principal> {
        let known = Customer::find()
            .filter(customer::Column::Issuer.eq(id.issuer.clone()))
            .filter(customer::Column::Subject.eq(id.subject.clone()))
            .one(&self.db)
            .await?;
        let customer = match known {
            Some(c) if c.suspended_at.is_some() => return Err(AuthFailure::Suspended.into()),
            Some(c) => c,
            None => self.customer_for(id, meta).await?.0,
        };
        self.limit_user(customer.id, None).await?;
        Ok(Principal::Oidc {
            customer: CustomerRef::from(&customer),
            expires_at: id.expires_at,
        })
    }

    /// The principal behind a provider access token: an existing customer of this issuer
    /// (an access token never provisions one; signing in does).
    pub async fn oidc_access_principal(&self, id: &Identity) -> AppResult<Principal> {
        let customer = Customer::find()
            .filter(customer::Column::Issuer.eq(id.issuer.clone()))
            .filter(customer::Column::Subject.eq(id.subject.clone()))
            .one(&self.db)
            .await?
            .ok_or(AuthFailure::NotFound)?;
        if customer.suspended_at.is_some() {
            return Err(AuthFailure::Suspended.into());
        }
        self.limit_user(customer.id, None).await?;
        Ok(Principal::Oidc {
            customer: CustomerRef::from(&customer),
            expires_at: id.expires_at,
        })
    }
}

//! OpenID Connect: the authorization-code flow with PKCE (S256), state and nonce for
//! dashboard sign-in, and verification of provider-issued tokens presented as bearer
//! credentials (SPEC §6).
//!
//! Only tokens issued for Keyward are accepted. Every other application at the same
//! provider holds tokens for the same users, and none of them may act here:
//! - ID tokens must name Keyward's client id as audience, JWT access tokens its
//!   audience; both are checked against the provider's keys;
//! - opaque access tokens go to the provider's token introspection (RFC 7662, with
//!   Keyward's client credentials) and count only when active and issued to Keyward's
//!   client id or for its audience. A provider without introspection gets them refused,
//!   unless the operator chose UserInfo (`KEYWARD_OIDC_OPAQUE=userinfo`), which answers
//!   for any client's token and so trusts every application at the provider.
//!
//! Answers about opaque tokens are remembered briefly and boundedly, never past the
//! token's expiry. Provider metadata and signing keys are discovered on first use and
//! fetched again when a token names a key the cached set lacks.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use openidconnect::{
    AccessToken, AdditionalProviderMetadata, AuthorizationCode, ClientId, ClientSecret, CsrfToken,
    EndpointMaybeSet, EndpointNotSet, EndpointSet, IntrospectionUrl, IssuerUrl, JsonWebTokenType,
    Nonce, OAuth2TokenResponse, PkceCodeChallenge, PkceCodeVerifier, ProviderMetadata, RedirectUrl,
    Scope, TokenIntrospectionResponse, TokenResponse,
    core::{
        CoreAuthDisplay, CoreAuthenticationFlow, CoreClaimName, CoreClaimType, CoreClient,
        CoreClientAuthMethod, CoreGrantType, CoreIdToken, CoreIdTokenClaims, CoreJsonWebKey,
        CoreJweContentEncryptionAlgorithm, CoreJweKeyManagementAlgorithm, CoreResponseMode,
        CoreResponseType, CoreSubjectIdentifierType, CoreUserInfoClaims,
    },
};
use serde::{Deserialize, Serialize};
use tokio::sync::RwLock;

use crate::{
    config::{OidcConfig, OpaqueTokens},
    domain::clock::Clock,
    error::AppError,
};

type Client = CoreClient<
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

/// [`Client`] with the provider's introspection endpoint.
type Introspector = CoreClient<
    EndpointSet,
    EndpointNotSet,
    EndpointSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

/// What discovery reads beyond OpenID Connect Discovery: the token introspection
/// endpoint (RFC 8414), which most providers publish in the same document.
#[derive(Clone, Debug, Deserialize, Serialize)]
struct IntrospectionMetadata {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    introspection_endpoint: Option<String>,
}

impl AdditionalProviderMetadata for IntrospectionMetadata {}

type Metadata = ProviderMetadata<
    IntrospectionMetadata,
    CoreAuthDisplay,
    CoreClientAuthMethod,
    CoreClaimName,
    CoreClaimType,
    CoreGrantType,
    CoreJweContentEncryptionAlgorithm,
    CoreJweKeyManagementAlgorithm,
    CoreJsonWebKey,
    CoreResponseMode,
    CoreResponseType,
    CoreSubjectIdentifierType,
>;

pub use crate::domain::signin::Identity;

/// What the browser carries (encrypted) between `/auth/login` and `/auth/callback`.
#[derive(Serialize, Deserialize)]
pub struct PendingLogin {
    pub state: String,
    pub nonce: String,
    pub pkce_verifier: String,
    pub return_to: String,
}

impl std::fmt::Debug for PendingLogin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PendingLogin")
            .field("return_to", &self.return_to)
            .finish_non_exhaustive()
    }
}

/// Why a sign-in or bearer JWT was refused; each says what went wrong in words.
#[derive(Debug, thiserror::Error)]
pub enum OidcError {
    #[error("the identity provider cannot be reached or described itself incorrectly")]
    Provider,
    #[error("sign-in state does not match: start signing in again")]
    State,
    #[error("the identity provider refused the sign-in: {0}")]
    Refused(String),
    #[error(
        "the authorization code was not accepted (expired, replayed or issued for another sign-in)"
    )]
    Exchange,
    #[error("the ID token is not valid: {0}")]
    IdToken(String),
}

impl From<OidcError> for AppError {
    fn from(err: OidcError) -> Self {
        match err {
            OidcError::Provider => AppError::internal(err),
            other => AppError::SignInRefused(other.to_string()),
        }
    }
}

/// The configured provider.
pub struct OidcClient {
    config: OidcConfig,
    redirect: RedirectUrl,
    http: reqwest::Client,
    client: RwLock<Option<Arc<Client>>>,
    /// The same provider with the access-token audience as its client id, to check JWT
    /// access tokens (RFC 9068) the way ID tokens are checked.
    access_client: RwLock<Option<Arc<Client>>>,
    /// The client with the provider's introspection endpoint, once discovered; `None`
    /// inside when the provider offers none.
    introspector: RwLock<Option<Arc<Introspector>>>,
    /// When the provider was last described (on the clock's monotonic reading), to bound
    /// how often a token naming an unknown key can make the server fetch the keys again.
    discovered_at: std::sync::Mutex<Option<std::time::Duration>>,
    /// The server's clock: token expiry is judged by it.
    clock: Clock,
    /// Who an opaque access token belongs to, by the token's hash, as the provider said,
    /// with the token's expiry when it told it.
    opaque_answers: moka::sync::Cache<String, (Identity, Option<DateTime<Utc>>)>,
    /// Opaque tokens the provider refused, by hash, so a replayed refusal costs no request.
    opaque_refusals: moka::sync::Cache<String, ()>,
}

/// How long the provider's answer about an opaque access token is trusted (never past
/// the token's own expiry).
pub const OPAQUE_ANSWER_TTL: std::time::Duration = std::time::Duration::from_secs(60);
/// How long a refusal is remembered (shorter: the provider may have been briefly down).
const OPAQUE_REFUSAL_TTL: std::time::Duration = std::time::Duration::from_secs(10);
/// Opaque tokens remembered at once.
const OPAQUE_CAPACITY: u64 = 10_000;

/// Shortest time between two fetches of the provider's keys.
const MIN_REDISCOVERY: std::time::Duration = std::time::Duration::from_secs(2);

impl OidcClient {
    pub fn new(config: OidcConfig, clock: Clock) -> Result<Self, String> {
        let redirect = RedirectUrl::new(config.redirect_url.clone())
            .map_err(|e| format!("oidc_redirect_url: {e}"))?;
        IssuerUrl::new(config.issuer.clone()).map_err(|e| format!("oidc_issuer: {e}"))?;
        let http = reqwest::Client::builder()
            // Following redirects would expose the server to SSRF.
            .redirect(reqwest::redirect::Policy::none())
            .timeout(std::time::Duration::from_secs(10))
            .build()
            .map_err(|e| format!("http client: {e}"))?;
        Ok(Self {
            config,
            redirect,
            http,
            client: RwLock::new(None),
            access_client: RwLock::new(None),
            introspector: RwLock::new(None),
            discovered_at: std::sync::Mutex::new(None),
            clock,
            opaque_answers: moka::sync::Cache::builder()
                .max_capacity(OPAQUE_CAPACITY)
                .time_to_live(OPAQUE_ANSWER_TTL)
                .build(),
            opaque_refusals: moka::sync::Cache::builder()
                .max_capacity(OPAQUE_CAPACITY)
                .time_to_live(OPAQUE_REFUSAL_TTL)
                .build(),
        })
    }

    /// The issuer this server trusts.
    pub fn issuer(&self) -> &str {
        &self.config.issuer
    }

    /// The audience the provider's access tokens must name to be meant for Keyward.
    fn audience(&self) -> &str {
        self.config
            .audience
            .as_deref()
            .unwrap_or(&self.config.client_id)
    }

    async fn discover(&self) -> Result<Arc<Client>, OidcError> {
        let issuer = IssuerUrl::new(self.config.issuer.clone()).map_err(|_| OidcError::Provider)?;
        let metadata = Metadata::discover_async(issuer, &self.http)
            .await
            .map_err(|e| {
                tracing::warn!(error = %e, "OIDC discovery failed");
                OidcError::Provider
            })?;
        let introspection = metadata
            .additional_metadata()
            .introspection_endpoint
            .clone();
        let audience = self.audience().to_owned();
        let access =
            CoreClient::from_provider_metadata(metadata.clone(), ClientId::new(audience), None)
                .set_redirect_uri(self.redirect.clone());
        *self.access_client.write().await = Some(Arc::new(access));
        let client = CoreClient::from_provider_metadata(
            metadata,
            ClientId::new(self.config.client_id.clone()),
            self.config
                .client_secret
                .as_ref()
                .map(|s| ClientSecret::new(s.expose().to_owned())),
        )
        .set_redirect_uri(self.redirect.clone());
        let introspector = match introspection.map(IntrospectionUrl::new) {
            Some(Ok(url)) => Some(Arc::new(client.clone().set_introspection_url(url))),
            Some(Err(e)) => {
                tracing::warn!(error = %e, "the provider's introspection endpoint is not a URL");
                None
            }
            None => None,
        };
        *self.introspector.write().await = introspector;
        let client = Arc::new(client);
        *self.client.write().await = Some(client.clone());
        *self.discovered_at.lock().unwrap_or_else(|e| e.into_inner()) = Some(self.clock.elapsed());
        Ok(client)
    }

    async fn client(&self) -> Result<Arc<Client>, OidcError> {
        if let Some(client) = self.client.read().await.clone() {
            return Ok(client);
        }
        self.discover().await
    }

    /// Starts a sign-in: the provider URL to send the browser to, and what to keep.
    pub async fn authorize(
        &self,
        return_to: String,
        login_hint: Option<&str>,
    ) -> Result<(String, PendingLogin), OidcError> {
        let client = self.client().await?;
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let mut request = client
            .authorize_url(
                CoreAuthenticationFlow::AuthorizationCode,
                CsrfToken::new_random,
                Nonce::new_random,
            )
            .add_scopes(self.config.scopes.iter().cloned().map(Scope::new))
            .set_pkce_challenge(challenge);
        if let Some(hint) = login_hint {
            request = request.add_extra_param("login_hint", hint.to_owned());
        }
        let (url, state, nonce) = request.url();
        Ok((
            url.to_string(),
            PendingLogin {
                state: state.secret().clone(),
                nonce: nonce.secret().clone(),
                pkce_verifier: verifier.secret().clone(),
                return_to,
            },
        ))
    }

    /// Finishes a sign-in: checks the state, exchanges the code with the PKCE verifier,
    /// verifies the ID token (signature, issuer, audience, expiry, nonce) and reads the
    /// user's email and name from it or from userinfo.
    pub async fn complete(
        &self,
        code: &str,
        state: &str,
        pending: &PendingLogin,
    ) -> Result<Identity, OidcError> {
        if !constant_time_eq(state.as_bytes(), pending.state.as_bytes()) {
            return Err(OidcError::State);
        }
        let client = self.client().await?;
        let response = client
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .map_err(|_| OidcError::Provider)?
            .set_pkce_verifier(PkceCodeVerifier::new(pending.pkce_verifier.clone()))
            .request_async(&self.http)
            .await
            .map_err(|e| {
                tracing::info!(error = %e, "OIDC code exchange refused");
                OidcError::Exchange
            })?;
        let id_token = response
            .id_token()
            .ok_or_else(|| OidcError::IdToken("the provider returned none".into()))?;
        let nonce = Nonce::new(pending.nonce.clone());
        let claims = self.verify_id_token(id_token, Some(&nonce)).await?;
        let mut identity = identity_of(&claims);
        if identity.email.is_none() || identity.name.is_none() {
            self.fill_from_userinfo(&client, response.access_token().clone(), &mut identity)
                .await;
        }
        Ok(identity)
    }

    async fn fill_from_userinfo(
        &self,
        client: &Client,
        token: AccessToken,
        identity: &mut Identity,
    ) {
        let Ok(request) = client.user_info(token, None) else {
            return;
        };
        let info: Result<CoreUserInfoClaims, _> = request.request_async(&self.http).await;
        match info {
            Ok(info) if info.subject().as_str() == identity.subject => {
                if identity.email.is_none() {
                    identity.email = info.email().map(|e| e.as_str().to_lowercase());
                    identity.email_verified = info.email_verified().unwrap_or(false);
                }
                if identity.name.is_none() {
                    identity.name = info
                        .name()
                        .and_then(|n| n.get(None))
                        .map(|n| n.as_str().to_owned());
                }
            }
            Ok(_) => tracing::warn!("OIDC userinfo answered for another subject; ignored"),
            Err(e) => tracing::info!(error = %e, "OIDC userinfo failed"),
        }
    }

    /// Verifies an ID token, fetching the provider's keys again once if it names a key
    /// the cached set lacks.
    async fn verify_id_token(
        &self,
        token: &CoreIdToken,
        nonce: Option<&Nonce>,
    ) -> Result<CoreIdTokenClaims, OidcError> {
        let mut client = self.client().await?;
        for attempt in 0..2 {
            let result = {
                let clock = self.clock.clone();
                let verifier = client.id_token_verifier().set_time_fn(move || clock.now());
                match nonce {
                    Some(n) => token.claims(&verifier, n).cloned(),
                    None => token.claims(&verifier, |_: Option<&Nonce>| Ok(())).cloned(),
                }
            };
            match result {
                Ok(claims) => return Ok(claims),
                Err(openidconnect::ClaimsVerificationError::SignatureVerification(
                    openidconnect::SignatureVerificationError::NoMatchingKey,
                )) if attempt == 0 && self.may_rediscover() => {
                    tracing::info!(
                        "ID token names an unknown key; fetching the provider's keys again"
                    );
                    client = self.discover().await?;
                }
                Err(e) => return Err(OidcError::IdToken(e.to_string())),
            }
        }
        Err(OidcError::IdToken(
            "no key of the provider matches its signature".into(),
        ))
    }

    fn may_rediscover(&self) -> bool {
        self.discovered_at
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_none_or(|at| self.clock.elapsed().saturating_sub(at) >= MIN_REDISCOVERY)
    }

    /// Whose an opaque access token is, if it was issued for Keyward: asked of the
    /// provider's introspection endpoint (or, where the operator chose it, UserInfo).
    /// The answer is remembered for [`OPAQUE_ANSWER_TTL`] and never past the token's
    /// expiry (a revoked token keeps working that long at most), a refusal for ten
    /// seconds, at most ten thousand of each.
    pub async fn verify_opaque(&self, token: &str) -> Result<Identity, OidcError> {
        let key = crate::token::TokenHash::of(token).as_str().to_owned();
        let now = self.clock.now();
        if let Some((identity, expires)) = self.opaque_answers.get(&key) {
            if expires.is_none_or(|at| at > now) {
                return Ok(identity);
            }
            self.opaque_answers.invalidate(&key);
            return Err(refused("the access token has expired"));
        }
        if self.opaque_refusals.contains_key(&key) {
            return Err(refused("the access token was refused"));
        }
        let checked = match self.config.opaque_tokens {
            OpaqueTokens::Introspection => self.introspect(token, now).await,
            OpaqueTokens::Userinfo => self.ask_userinfo(token).await.map(|id| (id, None)),
        };
        match checked {
            Ok((identity, expires)) => {
                self.opaque_answers.insert(key, (identity.clone(), expires));
                Ok(identity)
            }
            // The provider could not answer: nothing is learned about the token.
            Err(OidcError::Provider) => Err(OidcError::Provider),
            Err(refusal) => {
                tracing::info!(error = %refusal, "opaque access token refused");
                self.opaque_refusals.insert(key, ());
                Err(refusal)
            }
        }
    }

    /// RFC 7662: the provider says whether the token is active and whom it was issued
    /// to; only a token issued to Keyward's client id, or for its audience, counts.
    async fn introspect(
        &self,
        token: &str,
        now: DateTime<Utc>,
    ) -> Result<(Identity, Option<DateTime<Utc>>), OidcError> {
        self.client().await?;
        let Some(introspector) = self.introspector.read().await.clone() else {
            tracing::warn!(
                "the identity provider offers no token introspection: its opaque access tokens \
                 are refused (KEYWARD_OIDC_OPAQUE=userinfo would trust every client of the provider)"
            );
            return Err(refused("opaque access tokens cannot be checked here"));
        };
        let access = AccessToken::new(token.to_owned());
        let answer = introspector
            .introspect(&access)
            .set_token_type_hint("access_token")
            .request_async(&self.http)
            .await
            .map_err(|e| {
                tracing::warn!(error = %e, "token introspection failed");
                OidcError::Provider
            })?;
        if !answer.active() {
            return Err(refused("the access token is not active"));
        }
        // An access token, not another kind the provider also introspects.
        if answer
            .token_type()
            .is_some_and(|t| !matches!(t, openidconnect::core::CoreTokenType::Bearer))
        {
            return Err(refused("the token is not an access token"));
        }
        let to_keyward = answer
            .client_id()
            .is_some_and(|c| c.as_str() == self.config.client_id)
            || answer
                .aud()
                .is_some_and(|aud| aud.iter().any(|a| a == self.audience()));
        if !to_keyward {
            return Err(refused(
                "the access token was issued for another application",
            ));
        }
        if answer
            .iss()
            .is_some_and(|iss| iss.trim_end_matches('/') != self.config.issuer)
        {
            return Err(refused("the access token names another issuer"));
        }
        if answer.exp().is_some_and(|exp| exp <= now) || answer.nbf().is_some_and(|nbf| nbf > now) {
            return Err(refused("the access token is not valid now"));
        }
        let subject = answer
            .sub()
            .filter(|sub| !sub.is_empty())
            .ok_or_else(|| refused("the introspection answer names no subject"))?;
        Ok((
            Identity {
                issuer: self.config.issuer.clone(),
                subject: subject.to_owned(),
                email: None,
                email_verified: false,
                name: None,
                expires_at: answer.exp(),
            },
            answer.exp(),
        ))
    }

    /// UserInfo answers for a token of any client of the provider: used only when the
    /// operator opted in.
    async fn ask_userinfo(&self, token: &str) -> Result<Identity, OidcError> {
        let client = self.client().await?;
        let request = client
            .user_info(AccessToken::new(token.to_owned()), None)
            .map_err(|_| OidcError::Provider)?;
        let info: CoreUserInfoClaims = request
            .request_async(&self.http)
            .await
            .map_err(|e| refused(&format!("UserInfo refused it: {e}")))?;
        Ok(Identity {
            issuer: self.config.issuer.clone(),
            subject: info.subject().as_str().to_owned(),
            email: info.email().map(|e| e.as_str().to_lowercase()),
            email_verified: info.email_verified().unwrap_or(false),
            name: info
                .name()
                .and_then(|n| n.get(None))
                .map(|n| n.as_str().to_owned()),
            // UserInfo does not say when the token expires: what it makes lives no longer
            // than the answer is trusted.
            expires_at: Some(self.clock.now() + OPAQUE_ANSWER_TTL),
        })
    }

    /// Verifies a JWT presented as a bearer credential: an ID token of this issuer for
    /// this client (signature, `iss`, `aud`, `exp`).
    ///
    /// Returns the identity and whether the token was an access token (which never
    /// provisions a customer).
    pub async fn verify_bearer(&self, jwt: &str) -> Result<(Identity, bool), OidcError> {
        let token: CoreIdToken = jwt
            .parse()
            .map_err(|_| OidcError::IdToken("not a signed JWT".into()))?;
        match self.verify_id_token(&token, None).await {
            Ok(claims) => Ok((identity_of(&claims), false)),
            Err(id_token_error) => match self.verify_access_jwt(&token).await {
                Ok(claims) => Ok((identity_of(&claims), true)),
                Err(_) => Err(id_token_error),
            },
        }
    }

    /// Checks a JWT access token (RFC 9068: `typ` `at+jwt`) of this issuer for the
    /// configured audience: signature, `iss`, `aud`, `exp`.
    async fn verify_access_jwt(&self, token: &CoreIdToken) -> Result<CoreIdTokenClaims, OidcError> {
        self.client().await?;
        let access = self
            .access_client
            .read()
            .await
            .clone()
            .ok_or(OidcError::Provider)?;
        let clock = self.clock.clone();
        let types = ["at+jwt", "application/at+jwt", "JWT", "application/jwt"]
            .into_iter()
            .filter_map(|t| JsonWebTokenType::new(t.to_owned()).normalize().ok());
        let verifier = access
            .id_token_verifier()
            .set_time_fn(move || clock.now())
            .set_allowed_jose_types(types);
        token
            .claims(&verifier, |_: Option<&Nonce>| Ok(()))
            .cloned()
            .map_err(|e| OidcError::IdToken(e.to_string()))
    }
}

/// A refusal of a presented token, with why (logged, never shown to the caller).
fn refused(why: &str) -> OidcError {
    OidcError::IdToken(why.to_owned())
}

fn identity_of(claims: &CoreIdTokenClaims) -> Identity {
    Identity {
        issuer: claims.issuer().as_str().trim_end_matches('/').to_owned(),
        subject: claims.subject().as_str().to_owned(),
        email: claims.email().map(|e| e.as_str().to_lowercase()),
        email_verified: claims.email_verified().unwrap_or(false),
        name: claims
            .name()
            .and_then(|n| n.get(None))
            .map(|n| n.as_str().to_owned()),
        expires_at: Some(claims.expiration()),
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

pub use crate::domain::signin::looks_like_jwt;

impl crate::domain::signin::ProviderTokens for OidcClient {
    async fn verify_jwt(&self, jwt: &str) -> Option<(Identity, bool)> {
        self.verify_bearer(jwt)
            .await
            .inspect_err(|e| tracing::info!(error = %e, "bearer JWT refused"))
            .ok()
    }

    async fn verify_opaque(&self, token: &str) -> Option<Identity> {
        OidcClient::verify_opaque(self, token).await.ok()
    }
}

/// A return-to path is honoured only when it is local: one leading slash, no scheme or host.
pub fn local_return_to(raw: Option<&str>) -> String {
    match raw {
        Some(p)
            if p.starts_with('/')
                && !p.starts_with("//")
                && !p.starts_with("/\\")
                && p.len() <= 512
                && !p.chars().any(|c| c.is_control() || c == '\\') =>
        {
            p.to_owned()
        }
        _ => "/".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_local_return_paths() {
        assert_eq!(local_return_to(Some("/keys?x=1")), "/keys?x=1");
        for bad in [
            "https://evil.example",
            "//evil.example",
            "/\\evil.example",
            "keys",
            "/a\nb",
            "/a\\b",
        ] {
            assert_eq!(local_return_to(Some(bad)), "/", "{bad:?}");
        }
        assert_eq!(local_return_to(None), "/");
    }

    #[test]
    fn jwt_detection() {
        assert!(looks_like_jwt("eyJhbGciOi.eyJzdWIiOi.c2ln"));
        assert!(!looks_like_jwt("kw_pat_abc"));
        assert!(!looks_like_jwt("eyJ.only-two"));
    }

    #[test]
    fn pending_login_debug_hides_secrets() {
        let p = PendingLogin {
            state: "s3cr3t-state".into(),
            nonce: "n0nce".into(),
            pkce_verifier: "v3rifier".into(),
            return_to: "/".into(),
        };
        let debug = format!("{p:?}");
        assert!(
            !debug.contains("s3cr3t") && !debug.contains("n0nce") && !debug.contains("v3rifier")
        );
    }
}

//! Leaked keys (SPEC §16): reports from a secret scanner in GitHub's partner format.
//!
//! A report is a JSON array of `{token, type, url, source}`, signed with ECDSA P-256 over
//! SHA-256 of the raw body; the signature (base64 DER) and the key's identifier come in
//! `Github-Public-Key-Signature` and `Github-Public-Key-Identifier`. The keys are fetched
//! from `KEYWARD_SECRET_SCANNING_KEYS_URL` and kept; an unknown identifier fetches them
//! again at most once a minute, so a stranger cannot make the server fetch at will.
//!
//! Nothing in a report is read before its signature checks. Each token found is a true
//! positive: it is revoked unless its organization's policy is to flag only (personal
//! access tokens, which belong to no organization, are always revoked), on every report,
//! so a report whose answer was lost revokes when the scanner sends it again; the first
//! report also marks the key leaked, audits it, announces `api_key.leaked` and emails the
//! key's owner. Any other token is a false positive. The answer names each token by its
//! SHA-256, never by itself.

use std::{collections::HashMap, time::Duration};

use base64::{Engine, engine::general_purpose::STANDARD};
use entity::{credential, organization, prelude::*};
use keyward_proto::audit::Action;
use p256::{
    ecdsa::{DerSignature, VerifyingKey, signature::Verifier},
    pkcs8::DecodePublicKey,
};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, TransactionTrait, sea_query::Expr};
use serde::Deserialize;
use serde_json::json;

use super::{
    Actor, Services,
    access::Grant,
    audit::{self, AuditEntry},
};
use crate::{
    error::{AppError, AppResult},
    token::TokenHash,
};

/// Tokens one report may carry.
pub const MAX_TOKENS: usize = 100;
/// Longest token looked at; a longer one is no key of ours.
const MAX_TOKEN_LEN: usize = 512;
/// How long fetched keys are kept.
const KEYS_KEPT: Duration = Duration::from_secs(3600);
/// Fetches at most this often when a report names a key not kept.
const REFETCH_AFTER: Duration = Duration::from_secs(60);
/// While the keys cannot be fetched, those fetched last are trusted this long at most.
const KEYS_TRUSTED: Duration = Duration::from_secs(24 * 3600);
/// Largest answer read from the keys' URL.
const MAX_KEYS_BODY: usize = 256 * 1024;
/// The reason a revoked leaked key carries.
pub const LEAKED_REASON: &str = "leaked: found in public by a secret scanner";

/// The header naming the key that signed a report.
pub const HEADER_KEY_ID: &str = "github-public-key-identifier";
/// The header with the report's signature.
pub const HEADER_SIGNATURE: &str = "github-public-key-signature";

/// One token of a report.
#[derive(Debug, Deserialize)]
pub struct Reported {
    pub token: String,
    /// The token type the scanner matched, as registered with it.
    #[serde(rename = "type", default)]
    pub token_type: String,
    /// Where it was found.
    #[serde(default)]
    pub url: Option<String>,
    /// What kind of place it was found in (`content`, `commit`, …).
    #[serde(default)]
    pub source: Option<String>,
}

/// Whether a reported token is one of ours.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Label {
    TruePositive,
    FalsePositive,
}

impl Label {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::TruePositive => "true_positive",
            Self::FalsePositive => "false_positive",
        }
    }
}

/// The answer about one reported token.
#[derive(Debug, Clone)]
pub struct Verdict {
    /// The token's SHA-256, hex.
    pub token_hash: String,
    pub token_type: String,
    pub label: Label,
}

/// The reporter's public keys, as fetched.
#[derive(Default)]
struct Kept {
    keys: HashMap<String, VerifyingKey>,
    /// When a fetch was last tried.
    fetched: Option<Duration>,
    /// When the keys kept were fetched.
    loaded: Option<Duration>,
}

/// The reporter's keys and the client that fetches them.
pub struct ScanningKeys {
    kept: tokio::sync::Mutex<Kept>,
    client: reqwest::Client,
}

impl std::fmt::Debug for ScanningKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ScanningKeys")
    }
}

impl ScanningKeys {
    pub fn new() -> Result<Self, String> {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("Keyward/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("secret-scanning key client: {e}"))?;
        Ok(Self {
            kept: tokio::sync::Mutex::default(),
            client,
        })
    }
}

#[derive(Deserialize)]
struct KeysDocument {
    public_keys: Vec<PublicKeyEntry>,
}

#[derive(Deserialize)]
struct PublicKeyEntry {
    key_identifier: String,
    key: String,
}

/// Reads the keys document: every entry must read, or none is trusted.
fn parse_keys(body: &[u8]) -> Result<HashMap<String, VerifyingKey>, String> {
    let doc: KeysDocument = serde_json::from_slice(body)
        .map_err(|e| format!("the keys document does not read: {e}"))?;
    doc.public_keys
        .into_iter()
        .map(|k| {
            VerifyingKey::from_public_key_pem(&k.key)
                .map(|key| (k.key_identifier.clone(), key))
                .map_err(|e| format!("key {} does not read: {e}", k.key_identifier))
        })
        .collect()
}

/// Refused: the report is not signed by a key of the reporter's.
fn unsigned(why: &str) -> AppError {
    AppError::Forbidden(format!("the report's signature does not check: {why}"))
}

impl Services {
    /// The reporter's key named `id`: kept, or fetched when it is not kept and the keys
    /// were not fetched in the last minute (or are over an hour old).
    async fn scanning_key(&self, id: &str) -> AppResult<Option<VerifyingKey>> {
        let mut kept = self.scanning_keys.kept.lock().await;
        let clock = self.clock.elapsed();
        let age = kept.fetched.map(|at| clock.saturating_sub(at));
        let stale = age.is_none_or(|a| a > KEYS_KEPT);
        if let Some(key) = kept.keys.get(id)
            && !stale
        {
            return Ok(Some(*key));
        }
        if age.is_some_and(|a| a < REFETCH_AFTER) {
            return Ok(kept.keys.get(id).copied());
        }
        kept.fetched = Some(clock);
        let url = &self.config.secret_scanning_keys_url;
        let fetched = async {
            let mut response = self
                .scanning_keys
                .client
                .get(url)
                .header(reqwest::header::ACCEPT, "application/json")
                .send()
                .await
                .map_err(|e| format!("fetching the keys failed: {}", e.without_url()))?;
            if !response.status().is_success() {
                return Err(format!("the keys' URL answered {}", response.status()));
            }
            let mut body = Vec::new();
            while let Some(chunk) = response
                .chunk()
                .await
                .map_err(|e| format!("reading the keys failed: {}", e.without_url()))?
            {
                body.extend_from_slice(&chunk);
                if body.len() > MAX_KEYS_BODY {
                    return Err("the keys document is too large".into());
                }
            }
            parse_keys(&body)
        }
        .await;
        match fetched {
            Ok(keys) => {
                kept.keys = keys;
                kept.loaded = Some(self.clock.elapsed());
                Ok(kept.keys.get(id).copied())
            }
            Err(e) => {
                // The keys kept stay trusted for a day (the next try is in a minute); a key
                // the reporter has retired since is not trusted for ever.
                tracing::warn!(error = %e, "secret-scanning keys could not be fetched");
                if kept
                    .loaded
                    .is_none_or(|at| self.clock.elapsed().saturating_sub(at) > KEYS_TRUSTED)
                {
                    kept.keys.clear();
                    return Err(AppError::Unavailable);
                }
                Ok(kept.keys.get(id).copied())
            }
        }
    }

    /// Checks a report's signature, then answers and acts on each token in it.
    pub async fn report_leaked_tokens(
        &self,
        key_id: Option<&str>,
        signature: Option<&str>,
        body: &[u8],
    ) -> AppResult<Vec<Verdict>> {
        let key_id = key_id
            .filter(|k| !k.is_empty() && k.len() <= 256)
            .ok_or_else(|| unsigned("no key identifier"))?;
        let signature = signature
            .filter(|s| !s.is_empty() && s.len() <= 512)
            .ok_or_else(|| unsigned("no signature"))?;
        let signature = STANDARD
            .decode(signature.trim())
            .ok()
            .and_then(|der| DerSignature::from_bytes(&der).ok())
            .ok_or_else(|| unsigned("the signature is not base64 DER"))?;
        let key = self
            .scanning_key(key_id)
            .await?
            .ok_or_else(|| unsigned("the key identifier is not the reporter's"))?;
        key.verify(body, &signature)
            .map_err(|_| unsigned("it does not match the body"))?;

        let reported: Vec<Reported> = serde_json::from_slice(body).map_err(|_| {
            AppError::invalid("body", "must be a JSON array of {token, type, url, source}")
        })?;
        if reported.len() > MAX_TOKENS {
            return Err(AppError::invalid(
                "body",
                format!("must carry at most {MAX_TOKENS} tokens"),
            ));
        }
        let mut verdicts = Vec::with_capacity(reported.len());
        for r in reported {
            let hash = TokenHash::of(&r.token);
            let found = if r.token.len() <= MAX_TOKEN_LEN {
                Credential::find()
                    .filter(credential::Column::TokenHash.eq(hash.as_str()))
                    .one(&self.db)
                    .await?
            } else {
                None
            };
            let label = match found {
                Some(key) => {
                    self.leaked(key, &r).await?;
                    Label::TruePositive
                }
                None => Label::FalsePositive,
            };
            verdicts.push(Verdict {
                token_hash: hash.as_str().to_owned(),
                token_type: r.token_type.chars().take(128).collect(),
                label,
            });
        }
        Ok(verdicts)
    }

    /// Acts on a key found in public: revokes it unless its organization flags only (on
    /// every report, so that one whose answer was lost still revokes when sent again),
    /// and the first report marks it, audits it, announces it and tells its owner.
    async fn leaked(&self, key: credential::Model, report: &Reported) -> AppResult<()> {
        let now = self.clock.now();
        let grant = Grant::system(Actor::system(), now);
        let url: Option<String> = report.url.as_ref().map(|u| u.chars().take(2048).collect());
        let source: Option<String> = report.source.as_ref().map(|s| s.chars().take(64).collect());
        let policy = match key.organization_id {
            Some(org) => {
                Organization::find_by_id(org)
                    .one(&self.db)
                    .await?
                    .ok_or(AppError::NotFound("organization"))?
                    .leaked_key_policy
            }
            None => organization::LeakedKeyPolicy::Revoke,
        };
        let revoke = policy == organization::LeakedKeyPolicy::Revoke;
        // Revoked first, and on every report while the policy says so: a report whose
        // answer never reached the scanner (a timeout, a crash) comes again and revokes
        // then. Revoking a revoked key changes nothing.
        if revoke && key.revoked_at.is_none() {
            let action = if key.kind == credential::Kind::Pat {
                Action::PersonalAccessTokenRevoke
            } else {
                Action::ApiKeyRevoke
            };
            let entry = AuditEntry::new(key.organization_id, action, kind_name(key.kind), key.id)
                .details(json!({ "reason": LEAKED_REASON }));
            self.revoke_credential(&grant, key.clone(), Some(LEAKED_REASON.into()), entry)
                .await?;
        }
        let txn = self.db.begin().await?;
        // Once: a report repeated (scanners send again) changes nothing more.
        let first = Credential::update_many()
            .col_expr(credential::Column::LeakedAt, Expr::value(now))
            .filter(credential::Column::Id.eq(key.id))
            .filter(credential::Column::LeakedAt.is_null())
            .exec(&txn)
            .await?
            .rows_affected
            == 1;
        if !first {
            txn.rollback().await?;
            return Ok(());
        }
        audit::record(
            &txn,
            &grant,
            AuditEntry::new(
                key.organization_id,
                Action::ApiKeyLeak,
                kind_name(key.kind),
                key.id,
            )
            .name(&key.name)
            .details(json!({
                "url": url,
                "source": source,
                "kind": kind_name(key.kind),
                "prefix": key.display_prefix,
                "policy": if revoke { "revoke" } else { "flag" },
            })),
        )
        .await?;
        if let Some((to, org_name)) = self.owner_address(&txn, &key).await? {
            let link = if key.kind == credential::Kind::Pat {
                format!("{}/tokens", self.config.public_url)
            } else {
                self.key_link(key.id)
            };
            let what = if key.revoked_at.is_some() {
                "It was revoked already: nothing can use it."
            } else if revoke {
                "It has been revoked: nothing can use it any more. Make a new one and put it \
                 where the old one was used."
            } else {
                "It still works, as your organization's policy is to flag leaked keys: rotate \
                 or revoke it now."
            };
            self.queue_email(
                &txn,
                &to,
                &format!("Your key {} was found in public", key.name),
                format!(
                    "Your key {name} ({prefix}...) in {org_name} was found in public by a secret \
                     scanner{at}.\n\n{what}\n\n{link}\n",
                    name = key.name,
                    prefix = key.display_prefix,
                    at = url
                        .as_deref()
                        .map(|u| format!(", at {u}"))
                        .unwrap_or_default(),
                ),
            )
            .await?;
        }
        txn.commit().await?;
        Ok(())
    }
}

fn kind_name(kind: credential::Kind) -> &'static str {
    match kind {
        credential::Kind::ApiKey => "api_key",
        credential::Kind::Pat => "personal_access_token",
        credential::Kind::ServiceAccountKey => "service_account_key",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_keys_document_reads_whole_or_not_at_all() {
        let signing = p256::ecdsa::SigningKey::from_bytes(&[7u8; 32].into()).unwrap();
        let pem = p256::pkcs8::EncodePublicKey::to_public_key_pem(
            signing.verifying_key(),
            p256::pkcs8::LineEnding::LF,
        )
        .unwrap();
        let good =
            json!({ "public_keys": [{ "key_identifier": "k1", "key": pem, "is_current": true }] });
        let keys = parse_keys(good.to_string().as_bytes()).unwrap();
        assert!(keys.contains_key("k1"));
        let bad = json!({ "public_keys": [
            { "key_identifier": "k1", "key": pem, "is_current": true },
            { "key_identifier": "k2", "key": "not a key", "is_current": false },
        ] });
        assert!(parse_keys(bad.to_string().as_bytes()).is_err());
        assert!(parse_keys(b"[]").is_err());
    }
}

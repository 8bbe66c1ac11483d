//! Webhooks (SPEC §16): the events an organization's endpoints may ask for, and the
//! Standard Webhooks signature that the server writes and a receiver checks.
//!
//! A message is signed with the endpoint's secret (`whsec_` and the base64 of its key):
//! `webhook-signature` is `v1,` and the base64 HMAC-SHA256 of
//! `{webhook-id}.{webhook-timestamp}.{body}`. A retry sends the same `webhook-id`, so a
//! receiver that saw it already knows it has the message.

use std::fmt;

use base64::{Engine, engine::general_purpose::STANDARD};
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// What an endpoint may be told of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum EventType {
    /// An API key was made (or imported).
    ApiKeyCreated,
    /// An API key was revoked.
    ApiKeyRevoked,
    /// An API key was replaced by a new one.
    ApiKeyRotated,
    /// An API key expires within seven days.
    ApiKeyExpiring,
    /// An API key was found in public, by a secret scanner.
    ApiKeyLeaked,
    /// A key's or an identity's credits ran out.
    CreditsExhausted,
    /// Someone joined the organization.
    MemberAdded,
    /// A member left or was removed.
    MemberRemoved,
}

impl EventType {
    /// Every event type.
    pub const ALL: [EventType; 8] = [
        Self::ApiKeyCreated,
        Self::ApiKeyRevoked,
        Self::ApiKeyRotated,
        Self::ApiKeyExpiring,
        Self::ApiKeyLeaked,
        Self::CreditsExhausted,
        Self::MemberAdded,
        Self::MemberRemoved,
    ];

    /// The name sent as the payload's `type` and stored.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ApiKeyCreated => "api_key.created",
            Self::ApiKeyRevoked => "api_key.revoked",
            Self::ApiKeyRotated => "api_key.rotated",
            Self::ApiKeyExpiring => "api_key.expiring",
            Self::ApiKeyLeaked => "api_key.leaked",
            Self::CreditsExhausted => "credits.exhausted",
            Self::MemberAdded => "member.added",
            Self::MemberRemoved => "member.removed",
        }
    }

    /// The event type named `s`, or none.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|e| e.as_str() == s)
    }
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The prefix of a signing secret.
pub const SECRET_PREFIX: &str = "whsec_";
/// The header naming a message (the same on every retry).
pub const HEADER_ID: &str = "webhook-id";
/// The header with the time of sending, in Unix seconds.
pub const HEADER_TIMESTAMP: &str = "webhook-timestamp";
/// The header with the signatures.
pub const HEADER_SIGNATURE: &str = "webhook-signature";
/// How far a receiver accepts a timestamp from its own clock, either way, in seconds.
pub const TOLERANCE_SECONDS: i64 = 300;

/// An endpoint's signing key. Its `Debug` shows nothing of it.
#[derive(Clone, PartialEq, Eq)]
pub struct SigningKey(Vec<u8>);

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SigningKey(…)")
    }
}

/// Why a secret or a message did not check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebhookError {
    /// The secret is not `whsec_` and base64 of 24 to 64 bytes.
    BadSecret,
    /// A `webhook-*` header is missing or not readable.
    MissingHeader(&'static str),
    /// The timestamp is further from now than [`TOLERANCE_SECONDS`].
    TooOld,
    /// No signature matches.
    BadSignature,
}

impl fmt::Display for WebhookError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BadSecret => f.write_str("the secret is not whsec_ and base64 of 24 to 64 bytes"),
            Self::MissingHeader(h) => write!(f, "the {h} header is missing or unreadable"),
            Self::TooOld => f.write_str("the timestamp is too far from now"),
            Self::BadSignature => f.write_str("no signature matches"),
        }
    }
}

impl std::error::Error for WebhookError {}

impl SigningKey {
    /// A key from its bytes.
    pub fn from_bytes(bytes: Vec<u8>) -> Self {
        Self(bytes)
    }

    /// Reads a `whsec_…` secret.
    pub fn parse(secret: &str) -> Result<Self, WebhookError> {
        let encoded = secret
            .strip_prefix(SECRET_PREFIX)
            .ok_or(WebhookError::BadSecret)?;
        let bytes = STANDARD
            .decode(encoded)
            .map_err(|_| WebhookError::BadSecret)?;
        if !(24..=64).contains(&bytes.len()) {
            return Err(WebhookError::BadSecret);
        }
        Ok(Self(bytes))
    }

    /// The secret as shown once to whoever made the endpoint.
    pub fn secret(&self) -> String {
        format!("{SECRET_PREFIX}{}", STANDARD.encode(&self.0))
    }

    fn mac(&self, id: &str, timestamp: i64, body: &[u8]) -> Hmac<Sha256> {
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&self.0)
            .unwrap_or_else(|_| unreachable!("HMAC takes a key of any length"));
        mac.update(id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        mac
    }

    /// The `webhook-signature` of a message.
    pub fn sign(&self, id: &str, timestamp: i64, body: &[u8]) -> String {
        let tag = self.mac(id, timestamp, body).finalize().into_bytes();
        format!("v1,{}", STANDARD.encode(tag))
    }

    /// Checks a message as a receiver does: one of the space-separated `v1,` signatures
    /// matches (in constant time), and the timestamp is within [`TOLERANCE_SECONDS`] of
    /// `now` (Unix seconds).
    pub fn verify(
        &self,
        id: &str,
        timestamp: &str,
        signatures: &str,
        body: &[u8],
        now: i64,
    ) -> Result<(), WebhookError> {
        let at: i64 = timestamp
            .parse()
            .map_err(|_| WebhookError::MissingHeader(HEADER_TIMESTAMP))?;
        if now.abs_diff(at) > TOLERANCE_SECONDS.unsigned_abs() {
            return Err(WebhookError::TooOld);
        }
        let matches = signatures
            .split(' ')
            .filter_map(|s| s.strip_prefix("v1,"))
            .filter_map(|s| STANDARD.decode(s).ok())
            .any(|tag| self.mac(id, at, body).verify_slice(&tag).is_ok());
        if matches {
            Ok(())
        } else {
            Err(WebhookError::BadSignature)
        }
    }

    /// [`Self::verify`] reading the three headers of a request.
    pub fn verify_request(
        &self,
        headers: &http::HeaderMap,
        body: &[u8],
        now: i64,
    ) -> Result<(), WebhookError> {
        let header = |name: &'static str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .ok_or(WebhookError::MissingHeader(name))
        };
        self.verify(
            header(HEADER_ID)?,
            header(HEADER_TIMESTAMP)?,
            header(HEADER_SIGNATURE)?,
            body,
            now,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_read_back() {
        for e in EventType::ALL {
            assert_eq!(EventType::parse(e.as_str()), Some(e));
        }
        assert_eq!(EventType::parse("api_key.made"), None);
    }

    /// The example of the Standard Webhooks specification's reference libraries.
    #[test]
    fn signs_as_the_specification_does() {
        let key = SigningKey::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let body = br#"{"test": 2432232314}"#;
        let signature = key.sign("msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body);
        assert_eq!(signature, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
        key.verify(
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            "1614265330",
            &format!("v1,bm90IHRoaXM= {signature}"),
            body,
            1614265330 + 10,
        )
        .unwrap();
        assert_eq!(
            key.verify(
                "msg_p5jXN8AQM9LWM0D4loKWxJek",
                "1614265330",
                &signature,
                body,
                1614265330 + 301
            ),
            Err(WebhookError::TooOld)
        );
        assert_eq!(
            key.verify("msg_other", "1614265330", &signature, body, 1614265330),
            Err(WebhookError::BadSignature)
        );
        // A timestamp at the end of the range is too old, not an overflow.
        assert_eq!(
            key.verify(
                "msg_p5jXN8AQM9LWM0D4loKWxJek",
                &i64::MIN.to_string(),
                &signature,
                body,
                1614265330
            ),
            Err(WebhookError::TooOld)
        );
    }

    #[test]
    fn secrets_are_checked_and_hidden() {
        assert_eq!(
            SigningKey::parse("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"),
            Err(WebhookError::BadSecret)
        );
        assert_eq!(
            SigningKey::parse("whsec_c2hvcnQ="),
            Err(WebhookError::BadSecret)
        );
        let key = SigningKey::from_bytes(vec![7; 32]);
        assert_eq!(SigningKey::parse(&key.secret()).unwrap(), key);
        assert_eq!(format!("{key:?}"), "SigningKey(…)");
    }
}

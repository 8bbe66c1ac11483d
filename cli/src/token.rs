//! Tokens as the CLI holds them: a [`Secret`] that never prints, and the offline check
//! that catches a mistyped token before it is sent anywhere.
//!
//! A Keyward token is `{prefix}_{tag}_` + 32 base62 characters + a 6-character base62
//! CRC32 of those 32 (`kw_pat_…`, `kw_sk_live_…`). The prefix, the tags (one may be empty:
//! `kv_…`) and the random part's length (22 to 64) are chosen by each deployment, so
//! offline the CLI checks their shape and the checksum; the server decides the rest.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A credential in plain text. `Debug` and `Display` never show it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(raw: impl Into<String>) -> Self {
        Self(raw.into())
    }

    /// The token itself, for the one place that sends or stores it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([REDACTED])")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[REDACTED]")
    }
}

/// Why a string is not a Keyward token, and the offline check of its shape and
/// checksum: written once, beside the format itself.
pub use keyward_proto::token::{Mistyped, check_shape as check};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_never_prints() {
        let made = keyward_proto::token::TokenFormat::new("kw")
            .and_then(|f| {
                f.generate(keyward_proto::token::TokenKind::Pat)
                    .map_err(|e| e.to_string())
            })
            .unwrap();
        let raw = made.token.expose_secret().to_owned();
        assert_eq!(check(&raw), Ok(()));
        let secret = Secret::new(raw.clone());
        let random = &raw["kw_pat_".len()..];
        assert!(!format!("{secret:?} {secret}").contains(random));
    }
}

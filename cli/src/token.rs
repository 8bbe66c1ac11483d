//! Tokens as the CLI holds them: a [`Secret`] that never prints, and the offline check
//! that catches a mistyped token before it is sent anywhere.
//!
//! A Keyward token is `{prefix}_{tag}_` + 32 base62 characters + a 6-character base62
//! CRC32 of those 32 (`kw_pat_…`, `kw_sk_live_…`). The prefix, the tags (one may be empty:
//! `kv_…`) and the random part's length (22 to 64) are chosen by each deployment, so
//! offline the CLI checks their shape and the checksum; the server decides the rest.

use std::fmt;

use serde::{Deserialize, Serialize};

const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const MIN_RANDOM_LEN: usize = 22;
const MAX_RANDOM_LEN: usize = 64;
const CHECKSUM_LEN: usize = 6;
/// Longest credential the server looks at.
const MAX_LEN: usize = 256;

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

/// Why a string is not a Keyward token, in words for the person who typed it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Mistyped {
    #[error("it is empty")]
    Empty,
    #[error("it is longer than any Keyward token")]
    TooLong,
    #[error("it does not start like a Keyward token (`kw_pat_…`, `kw_sk_live_…`)")]
    Prefix,
    #[error("its secret part has the wrong length")]
    Length,
    #[error("it contains characters a Keyward token never has")]
    Character,
    #[error("its checksum does not match: a character was changed, added or lost")]
    Checksum,
}

/// Checks a token's shape and checksum without asking the server.
pub fn check(raw: &str) -> Result<(), Mistyped> {
    if raw.is_empty() {
        return Err(Mistyped::Empty);
    }
    if raw.len() > MAX_LEN {
        return Err(Mistyped::TooLong);
    }
    let (head, body) = raw.rsplit_once('_').ok_or(Mistyped::Prefix)?;
    // A deployment may give one kind no tag (`kv_` + random + checksum).
    let (prefix, tag) = head.split_once('_').unwrap_or((head, "a"));
    let lowercase_word = |s: &str, extra: &[u8]| -> bool {
        s.starts_with(|c: char| c.is_ascii_lowercase())
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || extra.contains(&b))
    };
    if !lowercase_word(prefix, b"") || !lowercase_word(tag, b"_") || prefix.len() > 16 {
        return Err(Mistyped::Prefix);
    }
    if !body.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(Mistyped::Character);
    }
    // The random part is 22 to 64 characters, as the deployment chose.
    if !(MIN_RANDOM_LEN + CHECKSUM_LEN..=MAX_RANDOM_LEN + CHECKSUM_LEN).contains(&body.len()) {
        return Err(Mistyped::Length);
    }
    let (random, sum) = body.split_at(body.len() - CHECKSUM_LEN);
    if checksum(random) != sum {
        return Err(Mistyped::Checksum);
    }
    Ok(())
}

/// CRC32 of `data` as 6 zero-padded base62 characters, as the server computes it.
fn checksum(data: &str) -> String {
    let mut n = crc32fast::hash(data.as_bytes());
    let mut digits = [b'0'; CHECKSUM_LEN];
    for slot in digits.iter_mut().rev() {
        *slot = BASE62[(n % 62) as usize];
        n /= 62;
    }
    digits.iter().map(|&b| char::from(b)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(prefix: &str, random: &str) -> String {
        format!("{prefix}{random}{}", checksum(random))
    }

    const RANDOM: &str = "Ab3xQ9zK0LmN7pR2sT5uV8wY1cD4eF6g";

    #[test]
    fn well_formed_tokens_pass_and_every_single_change_is_caught() {
        for prefix in ["kw_pat_", "kw_sk_live_", "kici_sk_", "kv_live_"] {
            let good = token(prefix, RANDOM);
            assert_eq!(check(&good), Ok(()), "{good}");
        }
        let good = token("kw_pat_", RANDOM);
        for i in "kw_pat_".len()..good.len() {
            let mut typo = good.clone().into_bytes();
            typo[i] = if typo[i] == b'a' { b'b' } else { b'a' };
            let typo = String::from_utf8(typo).unwrap_or_default();
            assert!(check(&typo).is_err(), "{typo}");
        }
        assert!(check(&good[..good.len() - 1]).is_err());
        assert!(check(&format!("{good}x")).is_err());
        assert_eq!(
            check(&token("kw_pat_", &RANDOM[..21])),
            Err(Mistyped::Length)
        );
        assert_eq!(
            check(&token("kw_pat_", &RANDOM.repeat(3))),
            Err(Mistyped::Length)
        );
        // A deployment's own shape: no tag, 26 random characters (`kv_` + 32).
        let kv = token("kv_", &RANDOM[..26]);
        assert_eq!(kv.len(), 3 + 32);
        assert_eq!(check(&kv), Ok(()));
    }

    #[test]
    fn foreign_shapes_are_named() {
        assert_eq!(check(""), Err(Mistyped::Empty));
        assert!(check("ghp_abcdef").is_err());
        assert_eq!(check("Kw_pat_abc"), Err(Mistyped::Prefix));
        assert_eq!(check(&"a".repeat(300)), Err(Mistyped::TooLong));
        assert_eq!(
            check(&format!("kw_pat_{}-", &RANDOM[..31])),
            Err(Mistyped::Character)
        );
    }

    #[test]
    fn a_secret_never_prints() {
        let secret = Secret::new(token("kw_pat_", RANDOM));
        assert!(!format!("{secret:?} {secret}").contains(RANDOM));
    }
}

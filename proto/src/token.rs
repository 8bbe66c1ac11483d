//! Credential tokens: generation, parsing and hashing.
//!
//! A token is `{prefix}_{tag}_` + 32 base62 characters from the OS RNG (190 bits) + a
//! 6-character base62 CRC32 of those 32 characters, e.g. `kw_sk_live_…`. One kind may
//! have an empty tag (`kv_` + random + checksum), and the random part's length is
//! configurable from 22 characters (131 bits) to 64 ([`MIN_RANDOM_LEN`]). The checksum
//! lets the server (and secret scanners) reject a mistyped or invented token without
//! touching storage. The tag of each kind is configurable ([`TokenTags`]), so a deployment
//! issues exactly the shapes its own docs promise (`kv_live_…`, `kici_sk_…`); no tag may
//! start another, so a token's kind is never ambiguous.
//!
//! Policy: the plaintext lives only in [`PlainToken`], whose `Debug` and `Display` are
//! redacted; storage and lookups only ever see a [`TokenHash`] (hex SHA-256 of the whole
//! token), plus a display prefix and the last four characters.

use std::fmt;

use sha2::{Digest, Sha256};

const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
/// Random characters in a token, by default.
pub const RANDOM_LEN: usize = 32;
/// Fewest random characters a deployment may choose: 22 base62 characters are 131 bits.
pub const MIN_RANDOM_LEN: usize = 22;
/// Most random characters a deployment may choose.
pub const MAX_RANDOM_LEN: usize = 64;
/// Checksum characters at the end of a token.
pub const CHECKSUM_LEN: usize = 6;
/// Longest credential string the server will look at.
pub const MAX_TOKEN_LEN: usize = 256;

/// What a token is for; decides its tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TokenKind {
    /// An organization API key for live traffic: `{p}_sk_live_`.
    ApiKeyLive,
    /// An organization API key for test traffic: `{p}_sk_test_`.
    ApiKeyTest,
    /// A personal access token: `{p}_pat_`.
    Pat,
    /// A service-account key: `{p}_sa_`.
    ServiceAccount,
}

impl TokenKind {
    /// Every kind.
    pub const ALL: [TokenKind; 4] = [
        Self::ApiKeyLive,
        Self::ApiKeyTest,
        Self::Pat,
        Self::ServiceAccount,
    ];

    /// The name `KEYWARD_TOKEN_TAGS` knows the kind by.
    pub fn setting_name(self) -> &'static str {
        match self {
            Self::ApiKeyLive => "api_key_live",
            Self::ApiKeyTest => "api_key_test",
            Self::Pat => "pat",
            Self::ServiceAccount => "service_account",
        }
    }

    /// The default tag: `sk_live`, `sk_test`, `pat`, `sa`.
    pub fn default_tag(self) -> &'static str {
        match self {
            Self::ApiKeyLive => "sk_live",
            Self::ApiKeyTest => "sk_test",
            Self::Pat => "pat",
            Self::ServiceAccount => "sa",
        }
    }
}

/// The tag of each kind of token after the deployment prefix (`KEYWARD_TOKEN_TAGS`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenTags([String; 4]);

impl Default for TokenTags {
    fn default() -> Self {
        Self(TokenKind::ALL.map(|k| k.default_tag().to_owned()))
    }
}

impl TokenTags {
    /// Reads `kind=tag` pairs separated by commas (`api_key_live=live,api_key_test=test`);
    /// kinds not named keep their default tag. A tag is 1–16 of `a-z 0-9 _`, starting with a
    /// letter and not ending with `_`; no two kinds share a tag and no tag starts another
    /// (`sk` and `sk_test` would make `…_sk_test…` ambiguous). One kind's tag may be empty
    /// (`api_key_live=`): its tokens are the prefix and the random part alone, which has
    /// no `_`, so no other kind's token reads as one of them.
    pub fn parse(spec: &str) -> Result<Self, String> {
        let mut tags = Self::default();
        for pair in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (kind, tag) = pair
                .split_once('=')
                .ok_or_else(|| format!("`{pair}` is not of the form kind=tag"))?;
            let index = TokenKind::ALL
                .iter()
                .position(|k| k.setting_name() == kind.trim())
                .ok_or_else(|| {
                    format!(
                        "`{}` is not a kind of token (api_key_live, api_key_test, pat, service_account)",
                        kind.trim()
                    )
                })?;
            tags.0[index] = tag.trim().to_owned();
        }
        tags.validate()?;
        Ok(tags)
    }

    fn validate(&self) -> Result<(), String> {
        for (kind, tag) in TokenKind::ALL.iter().zip(&self.0) {
            if tag.is_empty() {
                continue;
            }
            let valid = tag.len() <= 16
                && tag.starts_with(|c: char| c.is_ascii_lowercase())
                && !tag.ends_with('_')
                && tag
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
            if !valid {
                return Err(format!(
                    "the {} tag `{tag}` must be empty or 1-16 lowercase letters, digits or `_`, starting with a letter and not ending with `_`",
                    kind.setting_name()
                ));
            }
        }
        for (a, tag_a) in TokenKind::ALL.iter().zip(&self.0) {
            for (b, tag_b) in TokenKind::ALL.iter().zip(&self.0) {
                if a != b && format!("{tag_b}_").starts_with(&format!("{tag_a}_")) {
                    return Err(format!(
                        "the {} tag `{tag_a}` starts the {} tag `{tag_b}`: a token's kind would be ambiguous",
                        a.setting_name(),
                        b.setting_name()
                    ));
                }
            }
        }
        Ok(())
    }

    /// The tag of `kind` with its trailing `_`, e.g. `sk_live_`; empty for an empty tag.
    pub fn tag(&self, kind: TokenKind) -> String {
        let index = TokenKind::ALL.iter().position(|k| *k == kind).unwrap_or(0);
        match self.0[index].as_str() {
            "" => String::new(),
            tag => format!("{tag}_"),
        }
    }

    /// The kinds in the order a presented token is matched against them: an empty tag,
    /// which every body starts with, last.
    fn matching_order(&self) -> impl Iterator<Item = TokenKind> + '_ {
        let tagged = TokenKind::ALL
            .into_iter()
            .zip(&self.0)
            .filter(|(_, t)| !t.is_empty());
        let untagged = TokenKind::ALL
            .into_iter()
            .zip(&self.0)
            .filter(|(_, t)| t.is_empty());
        tagged.chain(untagged).map(|(k, _)| k)
    }
}

/// A token in plain text. Shown once, in the response that created it.
#[derive(Clone, PartialEq, Eq)]
pub struct PlainToken(String);

impl PlainToken {
    /// Wraps a token presented by a caller.
    pub fn new(raw: impl Into<String>) -> Self {
        Self(raw.into())
    }

    /// The secret itself, for the one response that returns it.
    pub fn expose_secret(&self) -> &str {
        &self.0
    }

    /// The value stored and looked up.
    pub fn hash(&self) -> TokenHash {
        TokenHash::of(&self.0)
    }

    /// The last four characters, shown in listings.
    pub fn last4(&self) -> String {
        let chars: Vec<char> = self.0.chars().collect();
        chars[chars.len().saturating_sub(4)..].iter().collect()
    }
}

impl fmt::Debug for PlainToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PlainToken([REDACTED])")
    }
}

impl fmt::Display for PlainToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[REDACTED]")
    }
}

/// Hex SHA-256 of a whole token: all that storage ever sees. Equal when the hex texts are.
#[derive(Debug, Clone)]
pub struct TokenHash {
    /// The digest's bytes; `None` for a stored hash that is not 64 hex digits.
    digest: Option<[u8; 32]>,
    /// The lowercase hex text, written on first use: a verification answered from memory
    /// needs only the bytes.
    hex: std::sync::OnceLock<String>,
}

impl TokenHash {
    /// Hashes a token.
    pub fn of(token: &str) -> Self {
        Self {
            digest: Some(Sha256::digest(token.as_bytes()).into()),
            hex: std::sync::OnceLock::new(),
        }
    }

    fn from_hex_text(hex_digest: String) -> Self {
        let mut digest = [0; 32];
        let digest = hex::decode_to_slice(&hex_digest, &mut digest)
            .ok()
            .map(|()| digest);
        Self {
            digest,
            hex: std::sync::OnceLock::from(hex_digest),
        }
    }

    /// The digest as bytes; `None` for a stored hash that is not 64 hex digits.
    pub fn digest(&self) -> Option<[u8; 32]> {
        self.digest
    }

    /// Accepts a hash computed elsewhere (key import): 64 hex digits, any case.
    pub fn from_hex(hex_digest: &str) -> Option<Self> {
        let trimmed = hex_digest.trim();
        (trimmed.len() == 64 && trimmed.bytes().all(|b| b.is_ascii_hexdigit()))
            .then(|| Self::from_hex_text(trimmed.to_ascii_lowercase()))
    }

    /// A hash read back from storage.
    pub fn from_stored(hex_digest: &str) -> Self {
        Self::from_hex_text(hex_digest.to_owned())
    }

    /// The lowercase hex digest.
    pub fn as_str(&self) -> &str {
        // A hash without bytes was made from its text, so the text is always there.
        self.hex
            .get_or_init(|| self.digest.map(hex::encode).unwrap_or_default())
    }
}

impl PartialEq for TokenHash {
    fn eq(&self, other: &Self) -> bool {
        match (self.digest, other.digest) {
            (Some(a), Some(b)) => a == b,
            _ => self.as_str() == other.as_str(),
        }
    }
}

impl Eq for TokenHash {}

impl std::hash::Hash for TokenHash {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        // As `eq` compares: the bytes when there are some.
        match &self.digest {
            Some(digest) => digest.hash(state),
            None => self.as_str().hash(state),
        }
    }
}

/// A newly generated token with what is stored of it.
#[derive(Debug)]
pub struct NewToken {
    pub token: PlainToken,
    pub hash: TokenHash,
    /// Type prefix and the first four random characters, e.g. `kw_sk_live_Ab3x`.
    pub display_prefix: String,
    pub last4: String,
}

/// A presented token that passed the format and checksum checks.
#[derive(Debug, Clone)]
pub struct ParsedToken {
    pub kind: TokenKind,
    pub hash: TokenHash,
}

/// Why a presented string is not a Keyward token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Malformed {
    UnknownPrefix,
    BadLength,
    BadCharacter,
    BadChecksum,
}

/// Token generation and parsing for one deployment prefix and its tags.
#[derive(Debug, Clone)]
pub struct TokenFormat {
    prefix: String,
    tags: TokenTags,
    /// Random characters in each new token (and in each presented one).
    random_len: usize,
}

impl TokenFormat {
    /// `prefix` must be 1–16 lowercase letters or digits, starting with a letter.
    pub fn new(prefix: &str) -> Result<Self, String> {
        Self::with_tags(prefix, TokenTags::default())
    }

    /// A format with configured tags.
    pub fn with_tags(prefix: &str, tags: TokenTags) -> Result<Self, String> {
        let valid = !prefix.is_empty()
            && prefix.len() <= 16
            && prefix.starts_with(|c: char| c.is_ascii_lowercase())
            && prefix
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
        if valid {
            Ok(Self {
                prefix: prefix.to_owned(),
                tags,
                random_len: RANDOM_LEN,
            })
        } else {
            Err("must be 1-16 lowercase letters or digits, starting with a letter".into())
        }
    }

    /// The same format with `len` random characters per token
    /// ([`MIN_RANDOM_LEN`]..=[`MAX_RANDOM_LEN`]).
    pub fn with_random_len(mut self, len: usize) -> Result<Self, String> {
        if !(MIN_RANDOM_LEN..=MAX_RANDOM_LEN).contains(&len) {
            return Err(format!(
                "must be between {MIN_RANDOM_LEN} (131 bits) and {MAX_RANDOM_LEN}"
            ));
        }
        self.random_len = len;
        Ok(self)
    }

    /// The deployment prefix, e.g. `kw`.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The full type prefix of a kind, e.g. `kw_sk_live_`.
    pub fn type_prefix(&self, kind: TokenKind) -> String {
        format!("{}_{}", self.prefix, self.tags.tag(kind))
    }

    /// Generates a token of `kind` from the OS RNG.
    #[cfg(feature = "generate")]
    pub fn generate(&self, kind: TokenKind) -> Result<NewToken, getrandom::Error> {
        let random = random_base62(self.random_len)?;
        let type_prefix = self.type_prefix(kind);
        let token = format!("{type_prefix}{random}{}", checksum(&random));
        let token = PlainToken(token);
        Ok(NewToken {
            hash: token.hash(),
            display_prefix: format!("{type_prefix}{}", &random[..4]),
            last4: token.last4(),
            token,
        })
    }

    /// Checks a presented token's shape and checksum, without any lookup.
    pub fn parse(&self, raw: &str) -> Result<ParsedToken, Malformed> {
        let rest = raw
            .strip_prefix(self.prefix.as_str())
            .and_then(|r| r.strip_prefix('_'))
            .ok_or(Malformed::UnknownPrefix)?;
        let (kind, body) = self
            .tags
            .matching_order()
            .find_map(|k| {
                rest.strip_prefix(self.tags.tag(k).as_str())
                    .map(|body| (k, body))
            })
            .ok_or(Malformed::UnknownPrefix)?;
        if body.len() != self.random_len + CHECKSUM_LEN {
            return Err(Malformed::BadLength);
        }
        if !body.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(Malformed::BadCharacter);
        }
        let (random, check) = body.split_at(self.random_len);
        if checksum(random) != check {
            return Err(Malformed::BadChecksum);
        }
        Ok(ParsedToken {
            kind,
            hash: TokenHash::of(raw),
        })
    }
}

/// A random base62 string, by rejection sampling so every character is uniform.
#[cfg(feature = "generate")]
pub fn random_base62(len: usize) -> Result<String, getrandom::Error> {
    let mut out = String::with_capacity(len);
    let mut buf = [0u8; 64];
    while out.len() < len {
        getrandom::fill(&mut buf)?;
        for b in buf {
            // 248 = 4 * 62: bytes at or above it would bias the distribution.
            if b < 248 && out.len() < len {
                out.push(BASE62[usize::from(b % 62)] as char);
            }
        }
    }
    Ok(out)
}

/// CRC32 of a token's random part, as the 6 zero-padded base62 characters that end the
/// token. Public like the format itself: a secret scanner checks it to tell a real token
/// from a look-alike without asking anyone.
pub fn checksum(data: &str) -> String {
    let mut n = crc32fast::hash(data.as_bytes());
    let mut digits = [b'0'; CHECKSUM_LEN];
    for slot in digits.iter_mut().rev() {
        *slot = BASE62[(n % 62) as usize];
        n /= 62;
    }
    digits.iter().map(|&b| b as char).collect()
}

/// Why a string is not a Keyward token of any deployment, in words for the person who
/// typed it ([`check_shape`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mistyped {
    Empty,
    TooLong,
    Prefix,
    Length,
    Character,
    Checksum,
}

impl fmt::Display for Mistyped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Empty => "it is empty",
            Self::TooLong => "it is longer than any Keyward token",
            Self::Prefix => "it does not start like a Keyward token (`kw_pat_…`, `kw_sk_live_…`)",
            Self::Length => "its secret part has the wrong length",
            Self::Character => "it contains characters a Keyward token never has",
            Self::Checksum => "its checksum does not match: a character was changed, added or lost",
        })
    }
}

impl std::error::Error for Mistyped {}

/// Checks the shape and checksum of a token of any deployment, without knowing its
/// prefix, tags or length (a client's offline check, before sending it anywhere): a
/// lowercase prefix and tag, [`MIN_RANDOM_LEN`]..=[`MAX_RANDOM_LEN`] random characters
/// and their checksum. Every token a [`TokenFormat`] accepts passes.
pub fn check_shape(raw: &str) -> Result<(), Mistyped> {
    if raw.is_empty() {
        return Err(Mistyped::Empty);
    }
    if raw.len() > MAX_TOKEN_LEN {
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
    if !(MIN_RANDOM_LEN + CHECKSUM_LEN..=MAX_RANDOM_LEN + CHECKSUM_LEN).contains(&body.len()) {
        return Err(Mistyped::Length);
    }
    let (random, sum) = body.split_at(body.len() - CHECKSUM_LEN);
    if checksum(random) != sum {
        return Err(Mistyped::Checksum);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shaped(prefix: &str, random: &str) -> String {
        format!("{prefix}{random}{}", checksum(random))
    }

    const RANDOM: &str = "Ab3xQ9zK0LmN7pR2sT5uV8wY1cD4eF6g";

    #[test]
    fn well_formed_tokens_pass_and_every_single_change_is_caught() {
        for prefix in ["kw_pat_", "kw_sk_live_", "kici_sk_", "kv_live_"] {
            let good = shaped(prefix, RANDOM);
            assert_eq!(check_shape(&good), Ok(()), "{good}");
        }
        let good = shaped("kw_pat_", RANDOM);
        for i in "kw_pat_".len()..good.len() {
            let mut typo = good.clone().into_bytes();
            typo[i] = if typo[i] == b'a' { b'b' } else { b'a' };
            let typo = String::from_utf8(typo).unwrap_or_default();
            assert!(check_shape(&typo).is_err(), "{typo}");
        }
        assert!(check_shape(&good[..good.len() - 1]).is_err());
        assert!(check_shape(&format!("{good}x")).is_err());
        assert_eq!(
            check_shape(&shaped("kw_pat_", &RANDOM[..21])),
            Err(Mistyped::Length)
        );
        assert_eq!(
            check_shape(&shaped("kw_pat_", &RANDOM.repeat(3))),
            Err(Mistyped::Length)
        );
        // A deployment's own shape: no tag, 26 random characters (`kv_` + 32).
        let kv = shaped("kv_", &RANDOM[..26]);
        assert_eq!(kv.len(), 3 + 32);
        assert_eq!(check_shape(&kv), Ok(()));
    }

    #[test]
    fn every_token_a_deployment_issues_passes_the_offline_check() {
        let tags = TokenTags::parse("api_key_live=,pat=kici_pat").unwrap();
        for (prefix, tags, len) in [
            ("kw", TokenTags::default(), RANDOM_LEN),
            ("kv", tags, MIN_RANDOM_LEN),
            ("acme2", TokenTags::default(), MAX_RANDOM_LEN),
        ] {
            let format = TokenFormat::with_tags(prefix, tags)
                .unwrap()
                .with_random_len(len)
                .unwrap();
            for kind in TokenKind::ALL {
                let made = format.generate(kind).unwrap();
                let raw = made.token.expose_secret();
                assert!(format.parse(raw).is_ok(), "{raw}");
                assert_eq!(check_shape(raw), Ok(()), "{raw}");
            }
        }
    }

    #[test]
    fn foreign_shapes_are_named() {
        assert_eq!(check_shape(""), Err(Mistyped::Empty));
        assert!(check_shape("ghp_abcdef").is_err());
        assert_eq!(check_shape("Kw_pat_abc"), Err(Mistyped::Prefix));
        assert_eq!(check_shape(&"a".repeat(300)), Err(Mistyped::TooLong));
        assert_eq!(
            check_shape(&format!("kw_pat_{}-", &RANDOM[..31])),
            Err(Mistyped::Character)
        );
    }

    use proptest::prelude::*;

    fn format() -> TokenFormat {
        TokenFormat::new("kw").unwrap()
    }

    #[test]
    fn an_empty_tag_and_a_shorter_random_part_give_the_kv_shape() {
        let tags = TokenTags::parse("api_key_live=").unwrap();
        let kv = TokenFormat::with_tags("kv", tags)
            .unwrap()
            .with_random_len(26)
            .unwrap();
        let key = kv.generate(TokenKind::ApiKeyLive).unwrap();
        let secret = key.token.expose_secret();
        assert!(
            secret.starts_with("kv_") && secret.len() == 3 + 32,
            "{}",
            secret.len()
        );
        assert_eq!(kv.parse(secret).unwrap().kind, TokenKind::ApiKeyLive);
        let pat = kv.generate(TokenKind::Pat).unwrap();
        assert!(pat.token.expose_secret().starts_with("kv_pat_"));
        assert_eq!(
            kv.parse(pat.token.expose_secret()).unwrap().kind,
            TokenKind::Pat
        );
        // Only one kind may go without a tag; too few random characters are refused.
        assert!(TokenTags::parse("api_key_live=,api_key_test=").is_err());
        assert!(format().with_random_len(21).is_err());
        assert!(format().with_random_len(65).is_err());
        // A default-length token is not a 26-character one.
        let long = format().generate(TokenKind::ApiKeyLive).unwrap();
        assert!(
            kv.parse(&long.token.expose_secret().replacen("kw_sk_live_", "kv_", 1))
                .is_err()
        );
    }

    #[test]
    fn a_hash_has_one_digest_however_it_was_made() {
        let hash = TokenHash::of("kw_sk_live_example");
        let digest = hash.digest().expect("a computed hash has a digest");
        assert_eq!(hex::encode(digest), hash.as_str());
        let imported = TokenHash::from_hex(&hash.as_str().to_ascii_uppercase()).unwrap();
        assert_eq!(imported, hash, "imported hex is normalised");
        assert_eq!(TokenHash::from_stored(hash.as_str()).digest(), Some(digest));
        assert_eq!(TokenHash::from_stored("not hex").digest(), None);
        // Equal and hashed alike however each was made; text that is not a digest
        // equals only the same text.
        let stored = TokenHash::from_stored(hash.as_str());
        assert_eq!(stored, hash);
        use std::hash::BuildHasher;
        let state = std::collections::hash_map::RandomState::new();
        assert_eq!(state.hash_one(&stored), state.hash_one(&hash));
        assert_ne!(TokenHash::from_stored("not hex"), hash);
        assert_eq!(
            TokenHash::from_stored("not hex"),
            TokenHash::from_stored("not hex")
        );
        assert_eq!(TokenHash::from_stored("not hex").as_str(), "not hex");
    }

    #[test]
    fn generated_tokens_have_the_documented_shape() {
        let new = format().generate(TokenKind::ApiKeyLive).unwrap();
        let raw = new.token.expose_secret();
        assert!(raw.starts_with("kw_sk_live_"));
        assert_eq!(raw.len(), "kw_sk_live_".len() + 38);
        assert_eq!(new.display_prefix.len(), "kw_sk_live_".len() + 4);
        assert!(raw.starts_with(&new.display_prefix));
        assert!(raw.ends_with(&new.last4));
        assert_eq!(new.hash, TokenHash::of(raw));
        assert_eq!(new.hash.as_str().len(), 64);
    }

    #[test]
    fn secrets_never_show_in_debug_or_display() {
        let new = format().generate(TokenKind::Pat).unwrap();
        let secret = new.token.expose_secret().to_owned();
        assert!(!format!("{new:?}").contains(&secret));
        assert!(!format!("{}", new.token).contains(&secret));
        assert!(!format!("{:?}", new.token).contains(&secret[8..]));
    }

    #[test]
    fn foreign_and_mistyped_tokens_are_malformed() {
        let f = format();
        assert_eq!(
            f.parse("vc_0123456789abcdef0123456789abcdef").unwrap_err(),
            Malformed::UnknownPrefix
        );
        assert_eq!(f.parse("kw_xx_abc").unwrap_err(), Malformed::UnknownPrefix);
        assert_eq!(f.parse("kw_pat_short").unwrap_err(), Malformed::BadLength);
        let other = TokenFormat::new("kici")
            .unwrap()
            .generate(TokenKind::Pat)
            .unwrap();
        assert_eq!(
            f.parse(other.token.expose_secret()).unwrap_err(),
            Malformed::UnknownPrefix
        );
    }

    #[test]
    fn prefix_rules() {
        assert!(TokenFormat::new("kici").is_ok());
        assert!(TokenFormat::new("").is_err());
        assert!(TokenFormat::new("Kw").is_err());
        assert!(TokenFormat::new("1kw").is_err());
        assert!(TokenFormat::new("k_w").is_err());
    }

    fn any_kind() -> impl Strategy<Value = TokenKind> {
        prop::sample::select(TokenKind::ALL.to_vec())
    }

    proptest! {
        #[test]
        fn round_trip(kind in any_kind(), prefix in "[a-z][a-z0-9]{0,15}") {
            let f = TokenFormat::new(&prefix).unwrap();
            let new = f.generate(kind).unwrap();
            let parsed = f.parse(new.token.expose_secret()).unwrap();
            prop_assert_eq!(parsed.kind, kind);
            prop_assert_eq!(parsed.hash, new.hash);
        }

        #[test]
        fn any_single_character_change_is_rejected(
            kind in any_kind(),
            pos in any::<prop::sample::Index>(),
            replacement in prop::sample::select(BASE62.to_vec()),
        ) {
            let f = format();
            let new = f.generate(kind).unwrap();
            let raw = new.token.expose_secret();
            let i = pos.index(raw.len());
            let original = raw.as_bytes()[i];
            prop_assume!(original != replacement);
            let mut bytes = raw.as_bytes().to_vec();
            bytes[i] = replacement;
            let changed = String::from_utf8(bytes).unwrap();
            prop_assert!(f.parse(&changed).is_err(), "accepted {} changed at {}", kind.setting_name(), i);
        }

        #[test]
        fn round_trip_with_configured_tags(kind in any_kind(), live in "[a-z][a-z0-9]{0,5}") {
            let tags = TokenTags::parse(&format!("api_key_live={live}x,api_key_test={live}y")).unwrap();
            let f = TokenFormat::with_tags("kv", tags).unwrap();
            let new = f.generate(kind).unwrap();
            let parsed = f.parse(new.token.expose_secret()).unwrap();
            prop_assert_eq!(parsed.kind, kind);
            prop_assert!(format().parse(new.token.expose_secret()).is_err());
        }
    }

    #[test]
    fn seed_shapes() {
        let kv = TokenFormat::with_tags(
            "kv",
            TokenTags::parse("api_key_live=live, api_key_test=test").unwrap(),
        )
        .unwrap();
        let key = kv.generate(TokenKind::ApiKeyLive).unwrap();
        assert!(key.token.expose_secret().starts_with("kv_live_"));
        assert_eq!(key.display_prefix.len(), "kv_live_".len() + 4);
        let kici = TokenFormat::with_tags(
            "kici",
            TokenTags::parse("api_key_live=sk,api_key_test=test").unwrap(),
        )
        .unwrap();
        for (kind, start) in [
            (TokenKind::ApiKeyLive, "kici_sk_"),
            (TokenKind::Pat, "kici_pat_"),
            (TokenKind::ServiceAccount, "kici_sa_"),
        ] {
            let new = kici.generate(kind).unwrap();
            assert!(new.token.expose_secret().starts_with(start), "{start}");
            assert_eq!(kici.parse(new.token.expose_secret()).unwrap().kind, kind);
        }
    }

    #[test]
    fn tags_keep_parsing_unambiguous() {
        assert!(TokenTags::parse("").unwrap() == TokenTags::default());
        for (spec, says) in [
            (
                "api_key_live=sk,api_key_test=sk_test",
                "starts the api_key_test tag",
            ),
            ("pat=sa", "starts the service_account tag"),
            ("api_key_live=Live", "must be empty or 1-16 lowercase"),
            ("api_key_live=live_", "not ending with `_`"),
            ("api_key_live=,pat=", "ambiguous"),
            ("apikey=live", "is not a kind of token"),
            ("live", "is not of the form kind=tag"),
        ] {
            let err = TokenTags::parse(spec).unwrap_err();
            assert!(err.contains(says), "{spec}: {err}");
        }
    }
}

//! The caller's tags on a verification, checked before they are kept.

use std::collections::BTreeMap;

use super::{MAX_TAG_BYTES, MAX_TAG_NAME_LEN, MAX_TAG_VALUE_LEN, MAX_TAGS};
use crate::domain::access::corrupt;
use crate::error::{AppError, AppResult};

/// The caller's tags of one verification (SPEC §4.2): at most [`MAX_TAGS`] short pairs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tags(BTreeMap<String, String>);

impl Tags {
    /// Checks tags as they arrived, naming the offending field.
    pub fn parse(tags: BTreeMap<String, String>) -> AppResult<Self> {
        if tags.len() > MAX_TAGS {
            return Err(AppError::invalid(
                "tags",
                format!("at most {MAX_TAGS} tags are allowed"),
            ));
        }
        let bytes: usize = tags.iter().map(|(k, v)| k.len() + v.len()).sum();
        if bytes > MAX_TAG_BYTES {
            return Err(AppError::invalid(
                "tags",
                format!("names and values may total at most {MAX_TAG_BYTES} bytes"),
            ));
        }
        for (name, value) in &tags {
            let field = || {
                let shown: String = name.chars().take(MAX_TAG_NAME_LEN).collect();
                if shown.is_empty() {
                    "tags".to_owned()
                } else {
                    format!("tags.{shown}")
                }
            };
            if name.is_empty() || name.chars().count() > MAX_TAG_NAME_LEN {
                return Err(AppError::invalid(
                    field(),
                    format!("a tag name must be 1-{MAX_TAG_NAME_LEN} characters"),
                ));
            }
            if value.chars().count() > MAX_TAG_VALUE_LEN {
                return Err(AppError::invalid(
                    field(),
                    format!("must be at most {MAX_TAG_VALUE_LEN} characters"),
                ));
            }
            if name
                .chars()
                .chain(value.chars())
                .any(crate::domain::validate::is_hidden_or_reordering)
            {
                return Err(AppError::invalid(
                    field(),
                    "must not contain control or invisible formatting characters",
                ));
            }
        }
        Ok(Self(tags))
    }

    /// Refuses tags that carry a credential: the presented `key`, or any word that
    /// `is_token` recognises as one of this deployment's tokens (a caller passing its
    /// `Authorization` header along). Whoever reads the key's usage reads its tags.
    pub fn refuse_tokens(&self, key: &str, is_token: impl Fn(&str) -> bool) -> AppResult<()> {
        let key = key.trim();
        let carries = |text: &str| {
            (key.len() >= 8 && text.contains(key))
                || text
                    .split(|c: char| c.is_whitespace() || c == '=' || c == ',' || c == '"')
                    .any(|word| !word.is_empty() && is_token(word))
        };
        match self
            .0
            .iter()
            .find(|(name, value)| carries(name) || carries(value))
        {
            Some(_) => Err(AppError::invalid(
                "tags",
                "must not carry a key or token: tags are shown to everyone who reads the key's usage",
            )),
            None => Ok(()),
        }
    }

    /// The pairs, by name.
    pub fn pairs(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    pub(super) fn stored(&self) -> Option<String> {
        if self.0.is_empty() {
            None
        } else {
            serde_json::to_string(&self.0).ok()
        }
    }

    pub(super) fn from_stored(raw: Option<&str>) -> AppResult<Self> {
        match raw {
            None => Ok(Self::default()),
            Some(raw) => serde_json::from_str(raw)
                .map(Self)
                .map_err(|e| corrupt("verification tags", e)),
        }
    }
}

//! Input checks shared by every service. Each error names the field.

use crate::error::{AppError, AppResult};

/// Longest name accepted for any object.
pub const MAX_NAME_LEN: usize = 100;

/// Whether a character may change how text around it reads without being seen: a
/// control character, a Unicode format character (category Cf: bidirectional overrides
/// and isolates, zero-width joiners and spaces, the byte-order mark, tag characters), or
/// a line or paragraph separator (SPEC §14). A name holding one could show as another
/// name in the dashboard, an audit export or a terminal.
pub fn is_hidden_or_reordering(c: char) -> bool {
    use unicode_properties::{GeneralCategory, UnicodeGeneralCategory};
    c.is_control()
        || matches!(
            c.general_category(),
            GeneralCategory::Format
                | GeneralCategory::LineSeparator
                | GeneralCategory::ParagraphSeparator
        )
}

/// A display name: trimmed, 1–100 characters, no control, format or bidirectional
/// characters.
pub fn name(field: &str, raw: &str) -> AppResult<String> {
    let trimmed = raw.trim();
    if trimmed.is_empty() {
        return Err(AppError::invalid(field, "must not be empty"));
    }
    if trimmed.chars().count() > MAX_NAME_LEN {
        return Err(AppError::invalid(
            field,
            format!("must be at most {MAX_NAME_LEN} characters"),
        ));
    }
    if trimmed.chars().any(is_hidden_or_reordering) {
        return Err(AppError::invalid(
            field,
            "must not contain control, invisible formatting or text-direction characters",
        ));
    }
    Ok(trimmed.to_owned())
}

/// A display name that arrives from elsewhere (the identity provider): the characters
/// [`name`] refuses are dropped rather than refused, so nobody is kept from signing in by
/// how their provider spells them; `None` when nothing is left.
pub fn clean_name(raw: &str) -> Option<String> {
    let cleaned: String = raw
        .chars()
        .filter(|c| !is_hidden_or_reordering(*c))
        .collect();
    let cleaned = cleaned.trim();
    (!cleaned.is_empty()).then(|| cleaned.chars().take(MAX_NAME_LEN).collect())
}

/// A slug: 1–48 of `a-z 0-9 -`, not starting or ending with `-`.
pub fn slug(field: &str, raw: &str) -> AppResult<String> {
    let s = raw.trim();
    let ok = !s.is_empty()
        && s.len() <= 48
        && !s.starts_with('-')
        && !s.ends_with('-')
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if ok {
        Ok(s.to_owned())
    } else {
        Err(AppError::invalid(
            field,
            "must be 1-48 lowercase letters, digits or dashes, not starting or ending with a dash",
        ))
    }
}

/// A slug made from a name: lowercase ASCII words joined by dashes.
pub fn slugify(name: &str) -> String {
    let mut out = String::new();
    for c in name.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_alphanumeric() {
            out.push(c);
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    let mut out: String = out.trim_end_matches('-').chars().take(40).collect();
    out = out.trim_end_matches('-').to_owned();
    if out.is_empty() { "org".into() } else { out }
}

/// An optional free-text reason: at most 500 characters.
pub fn reason(field: &str, raw: Option<String>) -> AppResult<Option<String>> {
    match raw.map(|r| r.trim().to_owned()).filter(|r| !r.is_empty()) {
        Some(r) if r.chars().count() > 500 => {
            Err(AppError::invalid(field, "must be at most 500 characters"))
        }
        other => Ok(other),
    }
}

/// An email address, lowercased; checked for shape only.
pub fn email(field: &str, raw: &str) -> AppResult<String> {
    let e = raw.trim().to_lowercase();
    let ok = e.len() <= 254
        && e.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty()
                && !domain.is_empty()
                && !domain.starts_with('.')
                && !e.contains(char::is_whitespace)
        });
    if ok {
        Ok(e)
    } else {
        Err(AppError::invalid(field, "is not a valid email address"))
    }
}

/// A search term: trimmed and lowercased; empty means no search; at most 100 characters.
pub fn search(field: &str, raw: Option<String>) -> AppResult<Option<String>> {
    let Some(term) = raw
        .map(|s| s.trim().to_lowercase())
        .filter(|s| !s.is_empty())
    else {
        return Ok(None);
    };
    if term.chars().count() > 100 {
        return Err(AppError::invalid(field, "must be at most 100 characters"));
    }
    if term.chars().any(char::is_control) {
        return Err(AppError::invalid(
            field,
            "must not contain control characters",
        ));
    }
    Ok(Some(term))
}

/// A case-insensitive "contains" condition on a text column for a lowercased term,
/// with `%`, `_` and `\` in the term matched literally.
pub fn contains_ci(
    column: impl sea_orm::sea_query::IntoColumnRef,
    term: &str,
) -> sea_orm::sea_query::SimpleExpr {
    use sea_orm::sea_query::{Expr, ExprTrait, Func, LikeExpr};
    let escaped = term
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    Expr::expr(Func::lower(Expr::col(column)))
        .like(LikeExpr::new(format!("%{escaped}%")).escape('\\'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(name("n", "  Prod key ").unwrap(), "Prod key");
        assert!(name("n", "   ").is_err());
        assert!(name("n", &"x".repeat(101)).is_err());
        assert!(name("n", "a\u{0}b").is_err());
        // Text-direction overrides and isolates, zero-width characters, the byte-order
        // mark, tag characters, separators: each could make a name read as another.
        for hidden in [
            '\u{202E}',
            '\u{2066}',
            '\u{200F}',
            '\u{061C}',
            '\u{200B}',
            '\u{200D}',
            '\u{FEFF}',
            '\u{E0041}',
            '\u{00AD}',
            '\u{2028}',
            '\u{2029}',
        ] {
            let err = name("input.name", &format!("admin{hidden}key")).unwrap_err();
            assert!(err.to_string().contains("input.name"), "{hidden:?}: {err}");
        }
        // From the identity provider, they are dropped instead: a sign-in never fails on
        // how a name is spelled there.
        assert_eq!(
            clean_name("Mehr\u{200C}dad\u{202E}").as_deref(),
            Some("Mehrdad")
        );
        assert_eq!(clean_name("\u{200B} "), None);
        // Every script still reads: accents, CJK, emoji.
        for fine in ["Zoë's key", "生产密钥", "deploy 🚀", "مفتاح"] {
            assert_eq!(name("n", fine).unwrap(), fine);
        }
    }

    #[test]
    fn slugs() {
        assert_eq!(slugify("Acme Corp, Inc."), "acme-corp-inc");
        assert_eq!(slugify("!!!"), "org");
        assert!(slug("s", "acme-1").is_ok());
        assert!(slug("s", "-acme").is_err());
        assert!(slug("s", "Acme").is_err());
    }

    #[test]
    fn emails() {
        assert_eq!(email("e", " Ada@Example.com ").unwrap(), "ada@example.com");
        assert!(email("e", "nope").is_err());
        assert!(email("e", "@x").is_err());
    }
}

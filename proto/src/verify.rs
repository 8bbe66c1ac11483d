//! The codes of a verification answer (`GET /api/v1/api-keys/verify`,
//! `POST /api/v1/keys/verify`): what a product's backend, or an SDK in it, branches on.
//! The server writes them from here, so a code has one spelling.

/// Why a verification answered as it did: `VALID`, or the refusal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Code {
    /// The key is good and holds what was asked.
    Valid,
    /// A rate limit (the key's, a named one, or the organization's) is spent.
    RateLimited,
    /// The key's credits ran out.
    UsageExceeded,
    /// The key lacks a permission the request required.
    InsufficientPermissions,
    /// Past its expiry, or past the grace period of a rotation.
    Expired,
    /// Revoked: for good.
    Revoked,
    /// Disabled: an admin may enable it again.
    Disabled,
    /// Its owner, organization or service account is suspended.
    Suspended,
    /// The key's creator is no longer a member of its organization.
    OwnerRemoved,
    /// No key was presented.
    Missing,
    /// What was presented is not a token of this deployment (shape or checksum).
    Malformed,
    /// No such key.
    NotFound,
    /// A dashboard session that is over: sign in again.
    SessionInvalid,
    /// The server could not decide (a fault, not a judgement on the key).
    Error,
}

impl Code {
    /// Every code.
    pub const ALL: [Code; 14] = [
        Self::Valid,
        Self::RateLimited,
        Self::UsageExceeded,
        Self::InsufficientPermissions,
        Self::Expired,
        Self::Revoked,
        Self::Disabled,
        Self::Suspended,
        Self::OwnerRemoved,
        Self::Missing,
        Self::Malformed,
        Self::NotFound,
        Self::SessionInvalid,
        Self::Error,
    ];

    /// The code as the answer spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Valid => "VALID",
            Self::RateLimited => "RATE_LIMITED",
            Self::UsageExceeded => "USAGE_EXCEEDED",
            Self::InsufficientPermissions => "INSUFFICIENT_PERMISSIONS",
            Self::Expired => "EXPIRED",
            Self::Revoked => "REVOKED",
            Self::Disabled => "DISABLED",
            Self::Suspended => "SUSPENDED",
            Self::OwnerRemoved => "OWNER_REMOVED",
            Self::Missing => "MISSING",
            Self::Malformed => "MALFORMED",
            Self::NotFound => "NOT_FOUND",
            Self::SessionInvalid => "SESSION_INVALID",
            Self::Error => "ERROR",
        }
    }

    /// Reads a code as the answer spells it; `None` for any other text.
    pub fn parse(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == code)
    }
}

impl std::fmt::Display for Code {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_reads_back_and_no_two_share_a_spelling() {
        for code in Code::ALL {
            assert_eq!(Code::parse(code.as_str()), Some(code));
        }
        let mut spelled: Vec<_> = Code::ALL.iter().map(|c| c.as_str()).collect();
        spelled.sort_unstable();
        spelled.dedup();
        assert_eq!(spelled.len(), Code::ALL.len());
        assert_eq!(Code::parse("valid"), None);
    }
}

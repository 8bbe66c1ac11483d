//! What can go wrong, each with the exit code scripts test and a message that says what
//! to do next.

/// Exit codes, documented in `keyward --help`.
pub mod exit {
    pub const OK: i32 = 0;
    pub const OTHER: i32 = 1;
    pub const USAGE: i32 = 2;
    pub const UNAUTHENTICATED: i32 = 3;
    pub const FORBIDDEN: i32 = 4;
    pub const NOT_FOUND: i32 = 5;
}

/// A failed command.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The command line or its arguments are wrong.
    #[error("{0}")]
    Usage(String),
    /// No credential, or one the server no longer accepts.
    #[error("{0}")]
    Unauthenticated(String),
    /// The credential may not do this.
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    /// The server could not be reached.
    #[error("could not reach the Keyward server at {server} (set by {source_of}): {reason}")]
    Unreachable {
        server: String,
        source_of: String,
        reason: String,
    },
    /// The server refused for another reason; its message says why.
    #[error("{0}")]
    Refused(String),
    /// No browser could be opened for a browser login (the device flow is then used).
    #[error("no browser could be opened: {0}")]
    NoBrowser(String),
    /// Anything else: local files, the browser, unexpected answers.
    #[error("{0}")]
    Other(String),
}

impl Error {
    pub fn exit_code(&self) -> i32 {
        match self {
            Self::Usage(_) => exit::USAGE,
            Self::Unauthenticated(_) => exit::UNAUTHENTICATED,
            Self::Forbidden(_) => exit::FORBIDDEN,
            Self::NotFound(_) => exit::NOT_FOUND,
            Self::Unreachable { .. } | Self::Refused(_) | Self::NoBrowser(_) | Self::Other(_) => {
                exit::OTHER
            }
        }
    }

    pub fn usage(message: impl Into<String>) -> Self {
        Self::Usage(message.into())
    }

    pub fn other(message: impl Into<String>) -> Self {
        Self::Other(message.into())
    }

    /// The error for a server's machine code (`extensions.code` in GraphQL, `code` in
    /// problem+json) and message.
    pub fn from_code(code: &str, reason: Option<&str>, message: &str) -> Self {
        match code {
            "UNAUTHENTICATED" | "SIGN_IN_FAILED" => {
                let what = match reason {
                    Some("EXPIRED") => "your token has expired",
                    Some("REVOKED") => "your token was revoked",
                    Some("DISABLED") => "your token is disabled",
                    Some("SUSPENDED") => "your account or organization is suspended",
                    Some("OWNER_REMOVED") => "your key's owner left its organization",
                    Some("NOT_FOUND" | "MALFORMED") => "the server does not know your token",
                    Some("MISSING") | None => "you are not logged in",
                    Some(_) => "the server refused your token",
                };
                Self::Unauthenticated(format!("{what}: run `keyward login`"))
            }
            "FORBIDDEN" | "NOT_A_MEMBER" => Self::Forbidden(format!(
                "{message}: check `keyward org current` (the active organization and your token's scopes)"
            )),
            "NOT_FOUND" => Self::NotFound(message.to_owned()),
            "INVALID_INPUT" => Self::Usage(message.to_owned()),
            "RATE_LIMITED" => Self::Refused(format!("{message}; try again shortly")),
            _ => Self::Refused(message.to_owned()),
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_codes_map_to_exit_codes_and_next_steps() {
        let expired = Error::from_code("UNAUTHENTICATED", Some("EXPIRED"), "x");
        assert_eq!(expired.exit_code(), exit::UNAUTHENTICATED);
        assert!(expired.to_string().contains("run `keyward login`"));
        let forbidden = Error::from_code("FORBIDDEN", None, "missing api_keys:write");
        assert_eq!(forbidden.exit_code(), exit::FORBIDDEN);
        assert!(forbidden.to_string().contains("keyward org current"));
        assert_eq!(
            Error::from_code("NOT_FOUND", None, "x").exit_code(),
            exit::NOT_FOUND
        );
        assert_eq!(
            Error::from_code("INVALID_INPUT", None, "x").exit_code(),
            exit::USAGE
        );
        assert_eq!(
            Error::from_code("CONFLICT", None, "x").exit_code(),
            exit::OTHER
        );
    }
}

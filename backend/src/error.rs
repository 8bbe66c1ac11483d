//! One error type for the whole server, with a stable machine code.
//!
//! Policy:
//! - every failure a caller can act on has its own variant and `code()`;
//! - REST renders it as RFC 9457 problem+json in `rest::problem`, GraphQL puts the code
//!   in `extensions.code` in `graphql::error`: each mapping lives in exactly one place;
//! - `Internal` displays as "internal error": its cause is logged with the request id
//!   and never sent to the caller;
//! - no variant ever carries a secret: tokens are parsed into redacted types before any
//!   error can mention them.

use std::fmt;

use sea_orm::{DbErr, SqlErr};

/// Why a request is not authenticated. The codes are part of the verify contract (SPEC §4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthFailure {
    /// No credential was presented.
    Missing,
    /// The credential is not a well-formed Keyward token (bad prefix, length or checksum).
    Malformed,
    /// Well-formed, but no such credential exists.
    NotFound,
    /// Past its expiry, or past the grace period of a rotation.
    Expired,
    /// Revoked: irreversible.
    Revoked,
    /// Disabled: reversible by an admin.
    Disabled,
    /// The owning customer, organization or service account is suspended.
    Suspended,
    /// The key's creator is no longer a member of its organization.
    OwnerRemoved,
    /// A session that is expired, revoked, or of an older format: sign in again.
    SessionInvalid,
}

impl AuthFailure {
    /// The machine code sent to callers.
    pub fn code(self) -> &'static str {
        use keyward_proto::verify::Code;
        match self {
            Self::Missing => Code::Missing,
            Self::Malformed => Code::Malformed,
            Self::NotFound => Code::NotFound,
            Self::Expired => Code::Expired,
            Self::Revoked => Code::Revoked,
            Self::Disabled => Code::Disabled,
            Self::Suspended => Code::Suspended,
            Self::OwnerRemoved => Code::OwnerRemoved,
            Self::SessionInvalid => Code::SessionInvalid,
        }
        .as_str()
    }

    /// A sentence for people.
    pub fn describe(self) -> &'static str {
        match self {
            Self::Missing => "no credential was presented",
            Self::Malformed => "the credential is malformed",
            Self::NotFound => "the credential does not exist",
            Self::Expired => "the credential has expired",
            Self::Revoked => "the credential has been revoked",
            Self::Disabled => "the credential is disabled",
            Self::Suspended => "the account or organization is suspended",
            Self::OwnerRemoved => {
                "the credential's owner is no longer a member of its organization"
            }
            Self::SessionInvalid => "the session is no longer valid; sign in again",
        }
    }
}

impl fmt::Display for AuthFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.describe())
    }
}

/// Every error the server can answer with.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("{0}")]
    Unauthenticated(AuthFailure),
    #[error("you are not a member of this organization")]
    NotAMember,
    /// The role or the credential's scopes lack this `resource:level`.
    #[error("missing permission {0}")]
    MissingPermission(String),
    /// Refused for another reason, said in a sentence.
    #[error("{0}")]
    Forbidden(String),
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("{field}: {message}")]
    InvalidInput { field: String, message: String },
    #[error("{0}")]
    Conflict(String),
    /// A browser sign-in that failed; the message says why in words.
    #[error("sign-in failed: {0}")]
    SignInRefused(String),
    #[error("rate limit exceeded; retry in {retry_after_secs} s")]
    RateLimited { retry_after_secs: u64, limit: u32 },
    /// The key's credits ran out (SPEC §3.5).
    #[error("this key has no credits left")]
    UsageExceeded,
    #[error("request body is too large")]
    PayloadTooLarge,
    #[error("this method is not allowed here")]
    MethodNotAllowed,
    #[error("the request took too long to answer")]
    Timeout,
    /// The database does not answer (down, unreachable, or every connection busy past
    /// the wait): refused at once rather than held (SPEC §12), with a time to retry.
    #[error("the service is briefly unavailable; retry in a few seconds")]
    Unavailable,
    #[error("internal error")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// Result alias used across the server.
pub type AppResult<T> = Result<T, AppError>;

impl AppError {
    /// The stable machine code (`extensions.code` in GraphQL, `code` in problem+json).
    pub fn code(&self) -> &'static str {
        match self {
            Self::Unauthenticated(_) => "UNAUTHENTICATED",
            Self::NotAMember => "NOT_A_MEMBER",
            Self::MissingPermission(_) | Self::Forbidden(_) => "FORBIDDEN",
            Self::NotFound(_) => "NOT_FOUND",
            Self::InvalidInput { .. } => "INVALID_INPUT",
            Self::Conflict(_) => "CONFLICT",
            Self::SignInRefused(_) => "SIGN_IN_FAILED",
            Self::RateLimited { .. } => "RATE_LIMITED",
            Self::UsageExceeded => "USAGE_EXCEEDED",
            Self::PayloadTooLarge => "PAYLOAD_TOO_LARGE",
            Self::MethodNotAllowed => "METHOD_NOT_ALLOWED",
            Self::Timeout => "TIMEOUT",
            Self::Unavailable => "UNAVAILABLE",
            Self::Internal(_) => "INTERNAL",
        }
    }

    /// An input error naming the offending field.
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::InvalidInput {
            field: field.into(),
            message: message.into(),
        }
    }

    /// Wraps an unexpected failure; the cause is logged, never shown.
    pub fn internal(err: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self::Internal(Box::new(err))
    }
}

impl From<DbErr> for AppError {
    fn from(err: DbErr) -> Self {
        if database_away(&err) {
            tracing::warn!(error = %err, "the database does not answer");
            return Self::Unavailable;
        }
        match err.sql_err() {
            Some(SqlErr::UniqueConstraintViolation(_)) => {
                Self::Conflict("an object with these values already exists".into())
            }
            _ => Self::internal(err),
        }
    }
}

/// Whether an error says the database could not be reached at all (no connection within
/// the pool's wait, a refused or broken connection), rather than that a statement failed.
pub fn database_away(err: &DbErr) -> bool {
    use sea_orm::{RuntimeErr, sqlx::Error};
    match err {
        DbErr::ConnectionAcquire(_) | DbErr::Conn(_) => true,
        DbErr::Exec(RuntimeErr::SqlxError(e)) | DbErr::Query(RuntimeErr::SqlxError(e)) => {
            matches!(
                **e,
                Error::Io(_) | Error::PoolTimedOut | Error::PoolClosed | Error::WorkerCrashed
            )
        }
        _ => false,
    }
}

impl From<AuthFailure> for AppError {
    fn from(failure: AuthFailure) -> Self {
        Self::Unauthenticated(failure)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_errors_hide_their_cause() {
        let err = AppError::internal(std::io::Error::other("password=hunter2"));
        assert_eq!(err.to_string(), "internal error");
        assert_eq!(err.code(), "INTERNAL");
    }

    #[test]
    fn input_errors_name_the_field() {
        let err = AppError::invalid("input.name", "must not be empty");
        assert_eq!(err.to_string(), "input.name: must not be empty");
    }
}

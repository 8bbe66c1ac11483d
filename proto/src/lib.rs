//! What Keyward's server, its CLI and the verification SDKs must agree on, in one place
//! with no dependency on any of them: the token format (prefix, tags, random part and
//! checksum) and its offline check, how a request presents a credential, the codes a
//! verification answers with, permissions (resources, levels, built-in roles, scopes)
//! the names of audit actions, and webhook event types and signatures. Each is written once here; the others use it.

pub mod audit;
pub mod permissions;
pub mod present;
pub mod token;
pub mod verify;
pub mod webhooks;

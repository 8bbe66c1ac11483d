//! Mutations, one room per aggregate as in the domain. Each takes one `input` object;
//! credential-creating ones return the secret once. [`super::MutationRoot`] merges them.

mod admin;
mod credentials;
mod members;
mod orgs;
mod roles;
mod service_accounts;
mod sessions;

pub use admin::AdminMutation;
pub use credentials::CredentialMutation;
pub use members::MemberMutation;
pub use orgs::OrgMutation;
pub use roles::RoleMutation;
pub use service_accounts::ServiceAccountMutation;
pub use sessions::SessionMutation;

//! Keyward's sea-orm entities: table shapes only, no API types and no logic.

pub mod application_resource;
pub mod audit_chain_head;
pub mod audit_event;
pub mod cli_login_code;
pub mod credential;
pub mod credit_pool;
pub mod customer;
pub mod device_authorization;
pub mod event_sequence;
pub mod identity;
pub mod instance_setting;
pub mod invite;
pub mod key_event;
pub mod membership;
pub mod named_limit;
pub mod organization;
pub mod project;
pub mod role;
pub mod service_account;
pub mod session;
pub mod signin_link;
pub mod usage_bucket;
pub mod verification_bucket;
pub mod verification_log;

pub mod prelude {
    pub use super::application_resource::Entity as ApplicationResource;
    pub use super::audit_chain_head::Entity as AuditChainHead;
    pub use super::audit_event::Entity as AuditEvent;
    pub use super::cli_login_code::Entity as CliLoginCode;
    pub use super::credential::Entity as Credential;
    pub use super::credit_pool::Entity as CreditPool;
    pub use super::customer::Entity as Customer;
    pub use super::device_authorization::Entity as DeviceAuthorization;
    pub use super::event_sequence::Entity as EventSequence;
    pub use super::identity::Entity as Identity;
    pub use super::instance_setting::Entity as InstanceSetting;
    pub use super::invite::Entity as Invite;
    pub use super::key_event::Entity as KeyEvent;
    pub use super::membership::Entity as Membership;
    pub use super::named_limit::Entity as NamedLimit;
    pub use super::organization::Entity as Organization;
    pub use super::project::Entity as Project;
    pub use super::role::Entity as Role;
    pub use super::service_account::Entity as ServiceAccount;
    pub use super::session::Entity as Session;
    pub use super::signin_link::Entity as SigninLink;
    pub use super::usage_bucket::Entity as UsageBucket;
    pub use super::verification_bucket::Entity as VerificationBucket;
    pub use super::verification_log::Entity as VerificationLog;
}

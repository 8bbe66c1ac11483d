//! The names of audit actions (`audit_events.action`, the audit log's filter, the
//! events a product subscribes to): one enum, so that an action is spelled once and a
//! new one is added here or not at all.

/// What an audit event records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Action {
    /// An API key was made. (`api_key.create`)
    ApiKeyCreate,
    /// A key's credits were set, topped up or taken away. (`api_key.credits`)
    ApiKeyCredits,
    /// A key was disabled (it may be enabled again). (`api_key.disable`)
    ApiKeyDisable,
    /// A disabled key was enabled. (`api_key.enable`)
    ApiKeyEnable,
    /// A key made elsewhere was imported by its hash. (`api_key.import`)
    ApiKeyImport,
    /// An import was refused: the hash is already some key's. (`api_key.import_refused`)
    ApiKeyImportRefused,
    /// A secret scanner found a key in public. (`api_key.leak`)
    ApiKeyLeak,
    /// A key was renamed. (`api_key.rename`)
    ApiKeyRename,
    /// A key was revoked, for good. (`api_key.revoke`)
    ApiKeyRevoke,
    /// A key was replaced by a new one; the old one works out its grace period. (`api_key.rotate`)
    ApiKeyRotate,
    /// A key's expiry, scopes, metadata or limits were changed. (`api_key.update`)
    ApiKeyUpdate,
    /// A signed-in user approved a CLI's browser sign-in. (`cli_login.approve`)
    CliLoginApprove,
    /// An instance admin revoked a user's credential. (`credential.admin_revoke`)
    CredentialAdminRevoke,
    /// An instance admin suspended a user. (`customer.suspend`)
    CustomerSuspend,
    /// An instance admin lifted a user's suspension. (`customer.unsuspend`)
    CustomerUnsuspend,
    /// A signed-in user approved a device-code sign-in. (`device.approve`)
    DeviceApprove,
    /// A signed-in user denied a device-code sign-in. (`device.deny`)
    DeviceDeny,
    /// An identity (a product's customer) was made. (`identity.create`)
    IdentityCreate,
    /// An identity's shared credits were changed. (`identity.credits`)
    IdentityCredits,
    /// An identity was deleted. (`identity.delete`)
    IdentityDelete,
    /// An identity's metadata or limits were changed. (`identity.update`)
    IdentityUpdate,
    /// An invite was accepted: its invitee joined. (`invite.accept`)
    InviteAccept,
    /// Someone was invited to the organization. (`invite.create`)
    InviteCreate,
    /// An invite was declined. (`invite.decline`)
    InviteDecline,
    /// An invite was withdrawn. (`invite.revoke`)
    InviteRevoke,
    /// A member left the organization. (`member.leave`)
    MemberLeave,
    /// A member was removed from the organization. (`member.remove`)
    MemberRemove,
    /// A member's role was changed. (`member.update_role`)
    MemberUpdateRole,
    /// An organization was made. (`organization.create`)
    OrganizationCreate,
    /// An organization was renamed. (`organization.rename`)
    OrganizationRename,
    /// An instance admin suspended an organization. (`organization.suspend`)
    OrganizationSuspend,
    /// An instance admin lifted an organization's suspension. (`organization.unsuspend`)
    OrganizationUnsuspend,
    /// An organization's limits or policies were changed. (`organization.update_settings`)
    OrganizationUpdateSettings,
    /// A personal access token was made. (`personal_access_token.create`)
    PersonalAccessTokenCreate,
    /// A personal access token was revoked. (`personal_access_token.revoke`)
    PersonalAccessTokenRevoke,
    /// A project was made. (`project.create`)
    ProjectCreate,
    /// A project was renamed. (`project.rename`)
    ProjectRename,
    /// An application resource was defined for the organization's roles. (`resource.define`)
    ResourceDefine,
    /// A custom role was made. (`role.create`)
    RoleCreate,
    /// A custom role was deleted. (`role.delete`)
    RoleDelete,
    /// A custom role's permissions were changed. (`role.update`)
    RoleUpdate,
    /// A service account was made. (`service_account.create`)
    ServiceAccountCreate,
    /// A service account was disabled, and its keys with it. (`service_account.disable`)
    ServiceAccountDisable,
    /// A disabled service account was enabled. (`service_account.enable`)
    ServiceAccountEnable,
    /// A key was made for a service account. (`service_account_key.create`)
    ServiceAccountKeyCreate,
    /// A user signed in to the dashboard. (`session.create`)
    SessionCreate,
    /// A user signed out. (`session.end`)
    SessionEnd,
    /// A dashboard session was ended from elsewhere. (`session.revoke`)
    SessionRevoke,
    /// A dashboard session switched to another organization or project. (`session.switch`)
    SessionSwitch,
    /// A webhook delivery was sent again by hand. (`webhook_delivery.retry`)
    WebhookDeliveryRetry,
    /// A webhook endpoint was registered. (`webhook_endpoint.create`)
    WebhookEndpointCreate,
    /// A webhook endpoint was deleted. (`webhook_endpoint.delete`)
    WebhookEndpointDelete,
}

impl Action {
    /// Every action.
    pub const ALL: [Action; 52] = [
        Self::ApiKeyCreate,
        Self::ApiKeyCredits,
        Self::ApiKeyDisable,
        Self::ApiKeyEnable,
        Self::ApiKeyImport,
        Self::ApiKeyImportRefused,
        Self::ApiKeyLeak,
        Self::ApiKeyRename,
        Self::ApiKeyRevoke,
        Self::ApiKeyRotate,
        Self::ApiKeyUpdate,
        Self::CliLoginApprove,
        Self::CredentialAdminRevoke,
        Self::CustomerSuspend,
        Self::CustomerUnsuspend,
        Self::DeviceApprove,
        Self::DeviceDeny,
        Self::IdentityCreate,
        Self::IdentityCredits,
        Self::IdentityDelete,
        Self::IdentityUpdate,
        Self::InviteAccept,
        Self::InviteCreate,
        Self::InviteDecline,
        Self::InviteRevoke,
        Self::MemberLeave,
        Self::MemberRemove,
        Self::MemberUpdateRole,
        Self::OrganizationCreate,
        Self::OrganizationRename,
        Self::OrganizationSuspend,
        Self::OrganizationUnsuspend,
        Self::OrganizationUpdateSettings,
        Self::PersonalAccessTokenCreate,
        Self::PersonalAccessTokenRevoke,
        Self::ProjectCreate,
        Self::ProjectRename,
        Self::ResourceDefine,
        Self::RoleCreate,
        Self::RoleDelete,
        Self::RoleUpdate,
        Self::ServiceAccountCreate,
        Self::ServiceAccountDisable,
        Self::ServiceAccountEnable,
        Self::ServiceAccountKeyCreate,
        Self::SessionCreate,
        Self::SessionEnd,
        Self::SessionRevoke,
        Self::SessionSwitch,
        Self::WebhookDeliveryRetry,
        Self::WebhookEndpointCreate,
        Self::WebhookEndpointDelete,
    ];

    /// The action as the log stores and shows it: `subject.verb`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ApiKeyCreate => "api_key.create",
            Self::ApiKeyCredits => "api_key.credits",
            Self::ApiKeyDisable => "api_key.disable",
            Self::ApiKeyEnable => "api_key.enable",
            Self::ApiKeyImport => "api_key.import",
            Self::ApiKeyImportRefused => "api_key.import_refused",
            Self::ApiKeyLeak => "api_key.leak",
            Self::ApiKeyRename => "api_key.rename",
            Self::ApiKeyRevoke => "api_key.revoke",
            Self::ApiKeyRotate => "api_key.rotate",
            Self::ApiKeyUpdate => "api_key.update",
            Self::CliLoginApprove => "cli_login.approve",
            Self::CredentialAdminRevoke => "credential.admin_revoke",
            Self::CustomerSuspend => "customer.suspend",
            Self::CustomerUnsuspend => "customer.unsuspend",
            Self::DeviceApprove => "device.approve",
            Self::DeviceDeny => "device.deny",
            Self::IdentityCreate => "identity.create",
            Self::IdentityCredits => "identity.credits",
            Self::IdentityDelete => "identity.delete",
            Self::IdentityUpdate => "identity.update",
            Self::InviteAccept => "invite.accept",
            Self::InviteCreate => "invite.create",
            Self::InviteDecline => "invite.decline",
            Self::InviteRevoke => "invite.revoke",
            Self::MemberLeave => "member.leave",
            Self::MemberRemove => "member.remove",
            Self::MemberUpdateRole => "member.update_role",
            Self::OrganizationCreate => "organization.create",
            Self::OrganizationRename => "organization.rename",
            Self::OrganizationSuspend => "organization.suspend",
            Self::OrganizationUnsuspend => "organization.unsuspend",
            Self::OrganizationUpdateSettings => "organization.update_settings",
            Self::PersonalAccessTokenCreate => "personal_access_token.create",
            Self::PersonalAccessTokenRevoke => "personal_access_token.revoke",
            Self::ProjectCreate => "project.create",
            Self::ProjectRename => "project.rename",
            Self::ResourceDefine => "resource.define",
            Self::RoleCreate => "role.create",
            Self::RoleDelete => "role.delete",
            Self::RoleUpdate => "role.update",
            Self::ServiceAccountCreate => "service_account.create",
            Self::ServiceAccountDisable => "service_account.disable",
            Self::ServiceAccountEnable => "service_account.enable",
            Self::ServiceAccountKeyCreate => "service_account_key.create",
            Self::SessionCreate => "session.create",
            Self::SessionEnd => "session.end",
            Self::SessionRevoke => "session.revoke",
            Self::SessionSwitch => "session.switch",
            Self::WebhookDeliveryRetry => "webhook_delivery.retry",
            Self::WebhookEndpointCreate => "webhook_endpoint.create",
            Self::WebhookEndpointDelete => "webhook_endpoint.delete",
        }
    }

    /// Reads an action as [`Action::as_str`] spells it; `None` for any other text.
    pub fn parse(action: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_str() == action)
    }
}

impl std::fmt::Display for Action {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_action_reads_back_is_subject_dot_verb_and_is_spelled_once() {
        for action in Action::ALL {
            assert_eq!(Action::parse(action.as_str()), Some(action));
            let (subject, verb) = action.as_str().split_once('.').unwrap();
            for word in [subject, verb] {
                assert!(
                    !word.is_empty() && word.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
                );
            }
        }
        let mut spelled: Vec<_> = Action::ALL.iter().map(|a| a.as_str()).collect();
        spelled.sort_unstable();
        spelled.dedup();
        assert_eq!(spelled.len(), Action::ALL.len());
        assert_eq!(Action::parse("api_key.explode"), None);
    }
}

//! The privilege matrix (SPEC §3.1, §3.2, §5): every query and mutation of the live schema,
//! called by every kind of principal, is allowed or refused exactly as the typed rules
//! say. The rules are written here a second time, independently of the server, as levels
//! per resource; an operation of the schema without a rule here fails the test.
//!
//! Principals: members of one organization by dashboard session (owner, admin, developer,
//! viewer, a custom role), by unscoped PAT (owner, developer), a PAT and an API key scoped
//! `api_keys:read`, keys of service accounts with each built-in role, and an instance admin
//! (not a member) by session, unscoped PAT and scoped PAT. Each call gets fresh objects to
//! act on, so an allowed call must succeed outright and a refused one must answer
//! `FORBIDDEN` or `NOT_A_MEMBER`.
//!
//! The findings of the security review are named cases below the matrix.

use std::collections::{BTreeSet, HashMap};

use serde_json::{Value, json};
use tests::{Admin, Db, Gql, TestApp};
use uuid::Uuid;

db_tests!(
    every_operation_follows_the_privilege_rules,
    a_developer_cannot_become_admin_through_a_service_account,
    a_narrow_pat_acts_only_within_its_scopes,
    keys_made_by_narrow_credentials_stay_narrow,
    rotating_a_key_needs_everything_it_may_ever_do,
    a_project_key_stays_in_its_project,
    outsiders_learn_nothing_of_an_organization,
    instance_admin_power_ignores_no_scopes,
    lifetimes_are_bounded,
    stored_data_that_does_not_parse_is_refused,
    every_rest_stream_follows_the_privilege_rules,
);

// ---------------------------------------------------------------------------------------
// The rules, as levels per resource.

const RESOURCES: [&str; 13] = [
    "organization",
    "projects",
    "members",
    "invites",
    "roles",
    "api_keys",
    "personal_access_tokens",
    "service_accounts",
    "audit_log",
    "sessions",
    "usage",
    "settings",
    // The level on application resources.
    "app",
];

/// A level per resource: none 0, read 1, write 2, delete 3, admin 4.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Levels([u8; 13]);

impl Levels {
    fn all(level: u8) -> Self {
        Self([level; 13])
    }

    fn none() -> Self {
        Self::all(0)
    }

    fn with(mut self, resource: &str, level: u8) -> Self {
        let i = RESOURCES.iter().position(|r| *r == resource).unwrap();
        self.0[i] = level;
        self
    }

    fn everything() -> Self {
        Self::all(4)
    }

    fn developer() -> Self {
        Self::all(1)
            .with("api_keys", 2)
            .with("service_accounts", 2)
            .with("app", 2)
    }

    fn viewer() -> Self {
        Self::all(1)
    }

    /// The custom role of the organization under test.
    fn key_manager() -> Self {
        Self::none()
            .with("api_keys", 2)
            .with("usage", 1)
            .with("members", 1)
    }

    fn allows(&self, perm: &str) -> bool {
        let (resource, level) = perm.split_once(':').unwrap();
        let level = ["none", "read", "write", "delete", "admin"]
            .iter()
            .position(|l| *l == level)
            .unwrap() as u8;
        let i = RESOURCES.iter().position(|r| *r == resource).unwrap();
        self.0[i] >= level
    }

    fn covers(&self, other: Levels) -> bool {
        self.0.iter().zip(other.0).all(|(a, b)| *a >= b)
    }

    fn narrowed(self, scope: Levels) -> Self {
        let mut out = self;
        for (a, b) in out.0.iter_mut().zip(scope.0) {
            *a = (*a).min(b);
        }
        out
    }
}

/// What a principal is, as far as the rules go.
#[derive(Debug, Clone)]
struct Model {
    /// What it holds in the organization under test (role ∩ scopes).
    org: Levels,
    /// What it may do over its user's own things; `None` for keys that never act for a user.
    user: Option<Levels>,
    instance_admin: bool,
    session: bool,
    service_account: bool,
}

/// What an operation needs.
#[derive(Debug, Clone, Copy)]
enum Rule {
    /// Anyone authenticated.
    Any,
    /// A permission in the organization.
    Org(&'static str),
    /// Two permissions in the organization.
    OrgBoth(&'static str, &'static str),
    /// A permission in the organization, and every permission of a role (what the new or
    /// re-activated thing will carry).
    OrgCovering(&'static str, fn() -> Levels),
    /// A permission in the organization, by a user (API keys belong to users).
    OrgByUser(&'static str),
    /// A permission over the principal's own user-level things.
    User(&'static str),
    /// A dashboard session.
    Session,
    /// A dashboard session with a permission in the organization.
    SessionOrg(&'static str),
    /// An instance admin's session or unscoped PAT.
    InstanceAdmin,
    /// A permission over the user's own things, or, for a key, in its organization.
    UserOrKey(&'static str),
    /// Anything held in the organization.
    Member,
    /// A permission in the organization, by a credential (a key or a PAT), not a session.
    CredentialOrg(&'static str),
}

impl Rule {
    fn allows(self, m: &Model) -> bool {
        match self {
            Rule::Any => true,
            Rule::Org(p) => m.org.allows(p),
            Rule::OrgBoth(p, q) => m.org.allows(p) && m.org.allows(q),
            Rule::OrgCovering(p, role) => m.org.allows(p) && m.org.covers(role()),
            Rule::OrgByUser(p) => m.org.allows(p) && !m.service_account && m.user.is_some(),
            Rule::User(p) => m.user.is_some_and(|u| u.allows(p)),
            Rule::Session => m.session,
            Rule::SessionOrg(p) => m.session && m.org.allows(p),
            Rule::InstanceAdmin => m.instance_admin,
            Rule::UserOrKey(p) => match m.user {
                Some(u) => u.allows(p),
                None => m.org.allows(p),
            },
            Rule::Member => m.org != Levels::none(),
            Rule::CredentialOrg(p) => !m.session && m.org.allows(p),
        }
    }
}

/// Where the matrix's webhook endpoints point: a port nothing listens on.
const THROWAWAY_ENDPOINT: &str = "http://127.0.0.1:9/hook";

fn rule(op: &str) -> Option<Rule> {
    use Rule::*;
    Some(match op {
        "me" => Any,
        "viewerAccess" => Member,
        "organizations" => UserOrKey("organization:read"),
        "organization" | "permissionCatalog" => Org("organization:read"),
        "project" => Org("projects:read"),
        "apiKeys" | "apiKey" | "identities" | "identity" | "identityByExternalId" => {
            Org("api_keys:read")
        }
        "usage" | "verifications" | "recentVerifications" => Org("usage:read"),
        // It names the busiest keys.
        "organizationVerifications" => OrgBoth("usage:read", "api_keys:read"),
        "keyActivity" => Org("usage:read"),
        "members" => Org("members:read"),
        "invites" => Org("invites:read"),
        "roles" => Org("roles:read"),
        "serviceAccounts" => Org("service_accounts:read"),
        "auditEvents" => Org("audit_log:read"),
        "personalAccessTokens" => User("personal_access_tokens:read"),
        "myInvites" => User("invites:read"),
        "sessions" => User("sessions:read"),
        "users" | "userCredentials" => InstanceAdmin,
        "deviceAuthorization" | "approveDevice" | "denyDevice" | "approveCliLogin" => Session,

        "renameOrganization" => Org("organization:write"),
        "updateOrganizationSettings" => Org("settings:write"),
        "webhookEndpoints" | "webhookDeliveries" | "webhookDelivery" => Org("settings:read"),
        "createWebhookEndpoint" | "deleteWebhookEndpoint" | "retryWebhookDelivery" => {
            Org("settings:write")
        }
        "renameProject" | "createProject" => Org("projects:write"),
        "inviteMember" | "updateMemberRole" => OrgCovering("members:write", Levels::viewer),
        "revokeInvite" => Org("members:write"),
        "removeMember" => Org("members:delete"),
        "acceptInvite" | "declineInvite" => User("invites:write"),
        "leaveOrganization" | "createOrganization" => User("organization:write"),
        "createRole" | "updateRole" => {
            OrgCovering("roles:write", || Levels::none().with("usage", 1))
        }
        "deleteRole" => Org("roles:delete"),
        "defineResource" => Org("roles:write"),
        "createServiceAccount" => OrgCovering("service_accounts:write", Levels::viewer),
        // The account acted on has the admin role: its keys would carry everything.
        "createServiceAccountKey" | "enableServiceAccount" => {
            OrgCovering("service_accounts:write", Levels::everything)
        }
        "disableServiceAccount" => Org("service_accounts:write"),
        "createApiKey" => OrgByUser("api_keys:write"),
        "importApiKey" => OrgByUser("api_keys:admin"),
        "renameApiKey" | "disableApiKey" => Org("api_keys:write"),
        // Renaming, and the product's controls (SPEC §3.5).
        "updateApiKey"
        | "changeApiKeyCredits"
        | "createIdentity"
        | "updateIdentity"
        | "deleteIdentity"
        | "changeIdentityCredits" => Org("api_keys:write"),
        // The key acted on is the owner's, unscoped: it carries everything.
        "enableApiKey" | "rotateApiKey" => OrgCovering("api_keys:write", Levels::everything),
        "revokeApiKey" => Org("api_keys:delete"),
        "createPersonalAccessToken" => User("personal_access_tokens:write"),
        "revokePersonalAccessToken" => User("personal_access_tokens:delete"),
        "revokeSession" | "revokeOtherSessions" => User("sessions:delete"),
        "switchSession" => SessionOrg("organization:read"),
        "adminRevokeCredential"
        | "suspendCustomer"
        | "unsuspendCustomer"
        | "suspendOrganization"
        | "unsuspendOrganization" => InstanceAdmin,
        _ => return None,
    })
}

// ---------------------------------------------------------------------------------------
// The world the matrix runs in.

enum Auth {
    Token(String),
    Cookie(String),
}

struct Who {
    name: &'static str,
    auth: Auth,
    model: Model,
    /// The user behind it, if any: `(id, email)`.
    user: Option<(Uuid, String)>,
}

struct World {
    app: TestApp,
    owner: Admin,
    org: String,
    project: String,
    roles: HashMap<&'static str, String>,
    admin_account: String,
    counter: std::sync::atomic::AtomicUsize,
}

impl World {
    fn fresh(&self, what: &str) -> String {
        let n = self
            .counter
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        format!("{what}-{n}")
    }

    async fn owner(&self, query: &str, variables: Value) -> Value {
        self.app.gql(&self.owner.pat, query, variables).await.data()
    }

    async fn call(&self, who: &Who, query: &str, variables: Value) -> Gql {
        match &who.auth {
            Auth::Token(t) => self.app.gql(t, query, variables).await,
            Auth::Cookie(c) => self.app.gql_session(c, query, variables).await,
        }
    }

    async fn key(&self) -> String {
        let (id, _) = self
            .app
            .create_key(
                &self.owner.pat,
                json!({ "organizationId": self.org, "name": self.fresh("key") }),
            )
            .await;
        id
    }

    /// A key of the owner's with 100 credits.
    async fn key_with_credits(&self) -> String {
        let (id, _) = self
            .app
            .create_key(
                &self.owner.pat,
                json!({ "organizationId": self.org, "name": self.fresh("key"), "credits": { "remaining": 100 } }),
            )
            .await;
        id
    }

    /// A new endpoint of the organization's, told when a key is made: it is on a port
    /// nothing listens on, so every delivery to it fails.
    async fn webhook_endpoint(&self) -> String {
        let r = self
            .owner(
                "mutation($i: CreateWebhookEndpointInput!) { createWebhookEndpoint(input: $i) { endpoint { id } } }",
                json!({ "i": { "organizationId": self.org, "url": THROWAWAY_ENDPOINT, "events": ["API_KEY_CREATED"] } }),
            )
            .await;
        r["createWebhookEndpoint"]["endpoint"]["id"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// A delivery to a new endpoint: the news of a new key.
    async fn webhook_delivery(&self) -> String {
        let endpoint = self.webhook_endpoint().await;
        self.key().await;
        let r = self
            .owner(
                "query($e: ID!) { webhookDeliveries(endpointId: $e) { nodes { id } } }",
                json!({ "e": endpoint }),
            )
            .await;
        r["webhookDeliveries"]["nodes"][0]["id"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// Deletes the endpoints made for the calls, with their deliveries, so that the
    /// organization stays under its cap of endpoints.
    async fn forget_webhook_endpoints(&self) {
        for sql in [
            "DELETE FROM webhook_attempts",
            "DELETE FROM webhook_deliveries",
            "DELETE FROM webhook_endpoints",
        ] {
            self.app.exec(sql, vec![]).await;
        }
    }

    /// A new identity with 100 credits.
    async fn identity(&self) -> String {
        let r = self
            .owner(
                "mutation($i: CreateIdentityInput!) { createIdentity(input: $i) { id } }",
                json!({ "i": { "organizationId": self.org, "externalId": self.fresh("customer"), "credits": { "remaining": 100 } } }),
            )
            .await;
        r["createIdentity"]["id"].as_str().unwrap().to_owned()
    }

    async fn service_account(&self, role: &str) -> String {
        let r = self
            .owner(
                "mutation($i: CreateServiceAccountInput!) { createServiceAccount(input: $i) { id } }",
                json!({ "i": { "organizationId": self.org, "name": self.fresh("sa"), "roleId": self.roles[role] } }),
            )
            .await;
        r["createServiceAccount"]["id"].as_str().unwrap().to_owned()
    }

    /// A new user in the organization with the developer role: `(membership id, user)`.
    async fn member(&self) -> (String, Admin) {
        let user = self
            .app
            .user(&format!("{}@example.com", self.fresh("member")))
            .await;
        let invite = self
            .owner(
                "mutation($i: InviteMemberInput!) { inviteMember(input: $i) { id } }",
                json!({ "i": { "organizationId": self.org, "email": user.email, "roleId": self.roles["developer"] } }),
            )
            .await;
        self.app
            .gql(
                &user.pat,
                "mutation($i: InviteInput!) { acceptInvite(input: $i) { status } }",
                json!({ "i": { "id": invite["inviteMember"]["id"] } }),
            )
            .await
            .data();
        let members = self
            .owner(
                "query($o: ID!) { members(organizationId: $o) { nodes { id user { email } } } }",
                json!({ "o": self.org }),
            )
            .await;
        let id = members["members"]["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["user"]["email"] == user.email.as_str())
            .unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned();
        (id, user)
    }

    /// A new organization of a new user, with an open invite for `email` in it: the
    /// invite's id.
    async fn invite_elsewhere(&self, email: &str) -> String {
        let other = self
            .app
            .user(&format!("{}@example.com", self.fresh("host")))
            .await;
        let viewer = self.app.role_id(&other.pat, &other.org_id, "viewer").await;
        let r = self
            .app
            .gql(
                &other.pat,
                "mutation($i: InviteMemberInput!) { inviteMember(input: $i) { id } }",
                json!({ "i": { "organizationId": other.org_id, "email": email, "roleId": viewer } }),
            )
            .await
            .data();
        r["inviteMember"]["id"].as_str().unwrap().to_owned()
    }

    /// The document and variables for one call of `op` by `who`, on fresh objects.
    async fn prepare(&self, op: &str, who: &Who) -> (String, Value) {
        let org = &self.org;
        let user_email = who
            .user
            .as_ref()
            .map_or("nobody@example.com".to_owned(), |u| u.1.clone());
        let (q, v) = match op {
            "me" => ("{ me { authenticatedBy } }", json!({})),
            "viewerAccess" => (
                "query($o: ID!) { viewerAccess(organizationId: $o) { permissions } }",
                json!({ "o": org }),
            ),
            "organizations" => ("{ organizations { id } }", json!({})),
            "organization" => (
                "query($o: ID!) { organization(id: $o) { id } }",
                json!({ "o": org }),
            ),
            "permissionCatalog" => (
                "query($o: ID!) { permissionCatalog(organizationId: $o) { levels } }",
                json!({ "o": org }),
            ),
            "project" => (
                "query($p: ID!) { project(id: $p) { id } }",
                json!({ "p": self.project }),
            ),
            "apiKeys" => (
                "query($o: ID!) { apiKeys(organizationId: $o) { totalCount } }",
                json!({ "o": org }),
            ),
            "apiKey" => (
                "query($k: ID!) { apiKey(id: $k) { id } }",
                json!({ "k": self.key().await }),
            ),
            "usage" => (
                "query($k: ID!) { usage(credentialId: $k) { total } }",
                json!({ "k": self.key().await }),
            ),
            "verifications" => (
                "query($k: ID!) { verifications(credentialId: $k) { total } }",
                json!({ "k": self.key().await }),
            ),
            "recentVerifications" => (
                "query($k: ID!) { recentVerifications(credentialId: $k) { totalCount } }",
                json!({ "k": self.key().await }),
            ),
            "organizationVerifications" => (
                "query($o: ID!) { organizationVerifications(organizationId: $o) { total } }",
                json!({ "o": org }),
            ),
            "keyActivity" => (
                "query($o: ID!, $k: [ID!]!) { keyActivity(organizationId: $o, keyIds: $k) { hours } }",
                json!({ "o": org, "k": [self.key().await] }),
            ),
            "members" => (
                "query($o: ID!) { members(organizationId: $o) { nodes { id } } }",
                json!({ "o": org }),
            ),
            "invites" => (
                "query($o: ID!) { invites(organizationId: $o) { nodes { id } } }",
                json!({ "o": org }),
            ),
            "roles" => (
                "query($o: ID!) { roles(organizationId: $o) { nodes { id } } }",
                json!({ "o": org }),
            ),
            "serviceAccounts" => (
                "query($o: ID!) { serviceAccounts(organizationId: $o) { nodes { id } } }",
                json!({ "o": org }),
            ),
            "auditEvents" => (
                "query($o: ID!) { auditEvents(organizationId: $o, first: 5) { totalCount } }",
                json!({ "o": org }),
            ),
            "personalAccessTokens" => ("{ personalAccessTokens { totalCount } }", json!({})),
            "myInvites" => ("{ myInvites { nodes { id } } }", json!({})),
            "sessions" => ("{ sessions { nodes { id } } }", json!({})),
            "users" => ("{ users { totalCount } }", json!({})),
            "userCredentials" => (
                "query($c: ID!) { userCredentials(customerId: $c) { id } }",
                json!({ "c": self.owner_customer().await.to_string() }),
            ),
            "deviceAuthorization" => (
                "query($c: String!) { deviceAuthorization(userCode: $c) { status } }",
                json!({ "c": self.device_code().await }),
            ),
            "approveDevice" => (
                "mutation($i: DeviceInput!) { approveDevice(input: $i) { status } }",
                json!({ "i": { "userCode": self.device_code().await } }),
            ),
            "denyDevice" => (
                "mutation($i: DeviceInput!) { denyDevice(input: $i) { status } }",
                json!({ "i": { "userCode": self.device_code().await } }),
            ),
            "approveCliLogin" => (
                "mutation($i: ApproveCliLoginInput!) { approveCliLogin(input: $i) { redirectTo } }",
                json!({ "i": {
                    "redirectUri": "http://127.0.0.1:9/callback",
                    "state": "s",
                    "codeChallenge": "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
                    "codeChallengeMethod": "S256",
                    "name": "box",
                } }),
            ),
            "renameOrganization" => (
                "mutation($i: RenameOrganizationInput!) { renameOrganization(input: $i) { id } }",
                json!({ "i": { "id": org, "name": self.fresh("org") } }),
            ),
            "webhookEndpoints" => (
                "query($o: ID!) { webhookEndpoints(organizationId: $o) { id } }",
                json!({ "o": org }),
            ),
            "webhookDeliveries" => (
                "query($e: ID!) { webhookDeliveries(endpointId: $e) { nodes { id } } }",
                json!({ "e": self.webhook_endpoint().await }),
            ),
            "webhookDelivery" => (
                "query($d: ID!) { webhookDelivery(id: $d) { delivery { id } attempts { status } } }",
                json!({ "d": self.webhook_delivery().await }),
            ),
            "createWebhookEndpoint" => (
                "mutation($i: CreateWebhookEndpointInput!) { createWebhookEndpoint(input: $i) { secret } }",
                json!({ "i": { "organizationId": org, "url": THROWAWAY_ENDPOINT, "events": ["MEMBER_ADDED"] } }),
            ),
            "deleteWebhookEndpoint" => (
                "mutation($i: DeleteWebhookEndpointInput!) { deleteWebhookEndpoint(input: $i) }",
                json!({ "i": { "id": self.webhook_endpoint().await } }),
            ),
            "retryWebhookDelivery" => (
                "mutation($i: RetryWebhookDeliveryInput!) { retryWebhookDelivery(input: $i) { id } }",
                json!({ "i": { "id": self.webhook_delivery().await } }),
            ),
            "updateOrganizationSettings" => (
                "mutation($i: UpdateOrganizationSettingsInput!) { updateOrganizationSettings(input: $i) { id } }",
                json!({ "i": { "organizationId": org, "rateLimitPerMinute": 1000000 } }),
            ),
            "renameProject" => (
                "mutation($i: RenameProjectInput!) { renameProject(input: $i) { id } }",
                json!({ "i": { "id": self.project, "name": self.fresh("project") } }),
            ),
            "createProject" => (
                "mutation($i: CreateProjectInput!) { createProject(input: $i) { id } }",
                json!({ "i": { "organizationId": org, "name": self.fresh("project") } }),
            ),
            "inviteMember" => (
                "mutation($i: InviteMemberInput!) { inviteMember(input: $i) { id } }",
                json!({ "i": { "organizationId": org, "email": format!("{}@example.com", self.fresh("invitee")), "roleId": self.roles["viewer"] } }),
            ),
            "revokeInvite" => {
                let r = self
                    .owner(
                        "mutation($i: InviteMemberInput!) { inviteMember(input: $i) { id } }",
                        json!({ "i": { "organizationId": org, "email": format!("{}@example.com", self.fresh("invitee")), "roleId": self.roles["viewer"] } }),
                    )
                    .await;
                (
                    "mutation($i: InviteInput!) { revokeInvite(input: $i) { id } }",
                    json!({ "i": { "id": r["inviteMember"]["id"] } }),
                )
            }
            "acceptInvite" | "declineInvite" => {
                let id = self.invite_elsewhere(&user_email).await;
                (
                    if op == "acceptInvite" {
                        "mutation($i: InviteInput!) { acceptInvite(input: $i) { id } }"
                    } else {
                        "mutation($i: InviteInput!) { declineInvite(input: $i) { id } }"
                    },
                    json!({ "i": { "id": id } }),
                )
            }
            "updateMemberRole" => (
                "mutation($i: UpdateMemberRoleInput!) { updateMemberRole(input: $i) { id } }",
                json!({ "i": { "memberId": self.member().await.0, "roleId": self.roles["viewer"] } }),
            ),
            "removeMember" => (
                "mutation($i: RemoveMemberInput!) { removeMember(input: $i) }",
                json!({ "i": { "memberId": self.member().await.0 } }),
            ),
            "leaveOrganization" => {
                // An organization the principal's user has just joined, so that leaving it
                // changes nothing else.
                let target = match &who.user {
                    Some((_, email)) => {
                        let invite = self.invite_elsewhere(email).await;
                        self.accept_as(who, &invite).await
                    }
                    None => org.clone(),
                };
                (
                    "mutation($i: LeaveOrganizationInput!) { leaveOrganization(input: $i) }",
                    json!({ "i": { "organizationId": target } }),
                )
            }
            "createRole" => (
                "mutation($i: CreateRoleInput!) { createRole(input: $i) { id } }",
                json!({ "i": { "organizationId": org, "name": self.fresh("role"), "permissions": ["usage:read"] } }),
            ),
            "updateRole" | "deleteRole" => {
                let r = self
                    .owner(
                        "mutation($i: CreateRoleInput!) { createRole(input: $i) { id } }",
                        json!({ "i": { "organizationId": org, "name": self.fresh("role"), "permissions": ["usage:read"] } }),
                    )
                    .await;
                let id = r["createRole"]["id"].clone();
                if op == "updateRole" {
                    (
                        "mutation($i: UpdateRoleInput!) { updateRole(input: $i) { id } }",
                        json!({ "i": { "id": id, "permissions": ["usage:read"] } }),
                    )
                } else {
                    (
                        "mutation($i: DeleteRoleInput!) { deleteRole(input: $i) }",
                        json!({ "i": { "id": id } }),
                    )
                }
            }
            "defineResource" => (
                "mutation($i: DefineResourceInput!) { defineResource(input: $i) { id } }",
                json!({ "i": { "organizationId": org, "name": self.fresh("res") } }),
            ),
            "createServiceAccount" => (
                "mutation($i: CreateServiceAccountInput!) { createServiceAccount(input: $i) { id } }",
                json!({ "i": { "organizationId": org, "name": self.fresh("sa"), "roleId": self.roles["viewer"] } }),
            ),
            "createServiceAccountKey" => (
                "mutation($i: CreateServiceAccountKeyInput!) { createServiceAccountKey(input: $i) { secret } }",
                json!({ "i": { "serviceAccountId": self.admin_account, "name": self.fresh("sa-key") } }),
            ),
            "disableServiceAccount" => (
                "mutation($i: ServiceAccountInput!) { disableServiceAccount(input: $i) { id } }",
                json!({ "i": { "id": self.service_account("viewer").await } }),
            ),
            "enableServiceAccount" => {
                let id = self.service_account("admin").await;
                self.owner(
                    "mutation($i: ServiceAccountInput!) { disableServiceAccount(input: $i) { id } }",
                    json!({ "i": { "id": id } }),
                )
                .await;
                (
                    "mutation($i: ServiceAccountInput!) { enableServiceAccount(input: $i) { id } }",
                    json!({ "i": { "id": id } }),
                )
            }
            "createApiKey" => (
                "mutation($i: CreateApiKeyInput!) { createApiKey(input: $i) { secret } }",
                json!({ "i": { "organizationId": org, "name": self.fresh("key") } }),
            ),
            "importApiKey" => (
                "mutation($i: ImportApiKeyInput!) { importApiKey(input: $i) { id } }",
                json!({ "i": { "organizationId": org, "name": self.fresh("imported"), "sha256": tests::sha256_hex(&self.fresh("vc_token")), "prefix": "vc_" } }),
            ),
            "identities" => (
                "query($o: ID!) { identities(organizationId: $o) { totalCount } }",
                json!({ "o": org }),
            ),
            "identity" => (
                "query($i: ID!) { identity(id: $i) { id } }",
                json!({ "i": self.identity().await }),
            ),
            "identityByExternalId" => {
                let id = self.identity().await;
                let r = self
                    .owner(
                        "query($i: ID!) { identity(id: $i) { externalId } }",
                        json!({ "i": id }),
                    )
                    .await;
                (
                    "query($o: ID!, $e: String!) { identityByExternalId(organizationId: $o, externalId: $e) { id } }",
                    json!({ "o": org, "e": r["identity"]["externalId"] }),
                )
            }
            "updateApiKey" => (
                "mutation($i: UpdateApiKeyInput!) { updateApiKey(input: $i) { id } }",
                json!({ "i": { "id": self.key().await, "name": self.fresh("renamed"), "meta": { "plan": "pro" } } }),
            ),
            "changeApiKeyCredits" => (
                "mutation($i: ChangeCreditsInput!) { changeApiKeyCredits(input: $i) { remaining } }",
                json!({ "i": { "id": self.key_with_credits().await, "op": "INCREMENT", "value": 5 } }),
            ),
            "createIdentity" => (
                "mutation($i: CreateIdentityInput!) { createIdentity(input: $i) { id } }",
                json!({ "i": { "organizationId": org, "externalId": self.fresh("customer") } }),
            ),
            "updateIdentity" => (
                "mutation($i: UpdateIdentityInput!) { updateIdentity(input: $i) { id } }",
                json!({ "i": { "id": self.identity().await, "meta": { "tier": 1 } } }),
            ),
            "deleteIdentity" => (
                "mutation($i: DeleteIdentityInput!) { deleteIdentity(input: $i) }",
                json!({ "i": { "id": self.identity().await } }),
            ),
            "changeIdentityCredits" => (
                "mutation($i: ChangeCreditsInput!) { changeIdentityCredits(input: $i) { remaining } }",
                json!({ "i": { "id": self.identity().await, "op": "SET", "value": 5 } }),
            ),
            "renameApiKey" => (
                "mutation($i: RenameApiKeyInput!) { renameApiKey(input: $i) { id } }",
                json!({ "i": { "id": self.key().await, "name": self.fresh("renamed") } }),
            ),
            "disableApiKey" => (
                "mutation($i: ApiKeyInput!) { disableApiKey(input: $i) { id } }",
                json!({ "i": { "id": self.key().await } }),
            ),
            "enableApiKey" => {
                let id = self.key().await;
                self.owner(
                    "mutation($i: ApiKeyInput!) { disableApiKey(input: $i) { id } }",
                    json!({ "i": { "id": id } }),
                )
                .await;
                (
                    "mutation($i: ApiKeyInput!) { enableApiKey(input: $i) { id } }",
                    json!({ "i": { "id": id } }),
                )
            }
            "revokeApiKey" => (
                "mutation($i: RevokeApiKeyInput!) { revokeApiKey(input: $i) { id } }",
                json!({ "i": { "id": self.key().await } }),
            ),
            "rotateApiKey" => (
                "mutation($i: RotateApiKeyInput!) { rotateApiKey(input: $i) { secret } }",
                json!({ "i": { "id": self.key().await } }),
            ),
            "adminRevokeCredential" => (
                "mutation($i: AdminRevokeCredentialInput!) { adminRevokeCredential(input: $i) { id } }",
                json!({ "i": { "id": self.key().await } }),
            ),
            "createPersonalAccessToken" => (
                "mutation($i: CreatePersonalAccessTokenInput!) { createPersonalAccessToken(input: $i) { secret } }",
                json!({ "i": { "name": self.fresh("pat") } }),
            ),
            "revokePersonalAccessToken" => {
                let owner = who
                    .user
                    .as_ref()
                    .map_or(self.owner_customer().await, |u| u.0);
                (
                    "mutation($i: RevokePersonalAccessTokenInput!) { revokePersonalAccessToken(input: $i) { id } }",
                    json!({ "i": { "id": self.pat_of(owner).await } }),
                )
            }
            "revokeSession" => {
                let owner = who
                    .user
                    .as_ref()
                    .map_or(self.owner_customer().await, |u| u.0);
                (
                    "mutation($i: RevokeSessionInput!) { revokeSession(input: $i) { id } }",
                    json!({ "i": { "id": self.session_of(owner).await } }),
                )
            }
            "revokeOtherSessions" => ("mutation { revokeOtherSessions }", json!({})),
            "switchSession" => (
                "mutation($i: SwitchSessionInput!) { switchSession(input: $i) { organizationId } }",
                json!({ "i": { "organizationId": org } }),
            ),
            "suspendCustomer" => {
                let victim = self
                    .app
                    .user(&format!("{}@example.com", self.fresh("suspend")))
                    .await;
                (
                    "mutation($i: SuspendCustomerInput!) { suspendCustomer(input: $i) { id } }",
                    json!({ "i": { "customerId": customer_of(&self.app, &victim).await, "reason": "test" } }),
                )
            }
            "unsuspendCustomer" => {
                let victim = self
                    .app
                    .user(&format!("{}@example.com", self.fresh("suspend")))
                    .await;
                (
                    "mutation($i: UnsuspendCustomerInput!) { unsuspendCustomer(input: $i) { id } }",
                    json!({ "i": { "customerId": customer_of(&self.app, &victim).await } }),
                )
            }
            "suspendOrganization" | "unsuspendOrganization" => {
                let victim = self
                    .app
                    .user(&format!("{}@example.com", self.fresh("suspend")))
                    .await;
                (
                    if op == "suspendOrganization" {
                        "mutation($i: SuspendOrganizationInput!) { suspendOrganization(input: $i) { id } }"
                    } else {
                        "mutation($i: UnsuspendOrganizationInput!) { unsuspendOrganization(input: $i) { id } }"
                    },
                    if op == "suspendOrganization" {
                        json!({ "i": { "organizationId": victim.org_id, "reason": "test" } })
                    } else {
                        json!({ "i": { "organizationId": victim.org_id } })
                    },
                )
            }
            "createOrganization" => (
                "mutation($i: CreateOrganizationInput!) { createOrganization(input: $i) { organization { id } } }",
                json!({ "i": { "name": self.fresh("org") } }),
            ),
            other => panic!("the matrix has a rule for `{other}` but no way to call it"),
        };
        (q.to_owned(), v)
    }

    async fn owner_customer(&self) -> Uuid {
        customer_of(&self.app, &self.owner).await
    }

    async fn device_code(&self) -> String {
        self.app
            .services()
            .start_device_login(Some("build-box"), Some(&next_address()))
            .await
            .unwrap()
            .user_code
    }

    async fn pat_of(&self, customer: Uuid) -> String {
        self.app
            .pat_for(customer, &self.fresh("pat"))
            .await
            .0
            .to_string()
    }

    async fn session_of(&self, customer: Uuid) -> String {
        use entity::{prelude::Session, session};
        use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
        let services = self.app.services();
        let secret = services
            .create_session(
                customer,
                self.org.parse().unwrap(),
                self.project.parse().unwrap(),
                &Default::default(),
                backend::domain::sessions::SignInMethod::Oidc,
            )
            .await
            .unwrap();
        Session::find()
            .filter(session::Column::TokenHash.eq(tests::sha256_hex(secret.expose_secret())))
            .one(services.test_db())
            .await
            .unwrap()
            .unwrap()
            .id
            .to_string()
    }

    /// Accepts an invite as the principal's user (by a fresh PAT of theirs) and returns
    /// the organization joined.
    async fn accept_as(&self, who: &Who, invite: &str) -> String {
        let (customer, _) = who.user.clone().unwrap();
        let (_, pat) = self.app.pat_for(customer, &self.fresh("joiner")).await;
        let r = self
            .app
            .gql(
                &pat,
                "mutation($i: InviteInput!) { acceptInvite(input: $i) { organization { id } } }",
                json!({ "i": { "id": invite } }),
            )
            .await
            .data();
        r["acceptInvite"]["organization"]["id"]
            .as_str()
            .unwrap()
            .to_owned()
    }
}

async fn customer_of(app: &TestApp, user: &Admin) -> Uuid {
    let me = app
        .gql(&user.pat, "{ me { user { id } } }", json!({}))
        .await
        .data();
    me["me"]["user"]["id"].as_str().unwrap().parse().unwrap()
}

/// A PAT with `scopes` for the user behind `pat`.
async fn scoped_pat(app: &TestApp, pat: &str, scopes: &[&str]) -> String {
    let r = app
        .gql(
            pat,
            "mutation($i: CreatePersonalAccessTokenInput!) { createPersonalAccessToken(input: $i) { secret } }",
            json!({ "i": { "name": "narrow", "scopes": scopes } }),
        )
        .await
        .data();
    r["createPersonalAccessToken"]["secret"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// Builds the organization under test and every principal.
async fn world(db: Db) -> (World, Vec<Who>) {
    let app = TestApp::spawn_with(db, |c| c.default_rate_limit_per_minute = 1_000_000).await;
    let root = app.bootstrap("root@example.com").await;
    let owner = app.user("owner@example.com").await;
    let org = owner.org_id.clone();
    let project = owner.project_id.clone();
    let mut roles: HashMap<&'static str, String> = HashMap::new();
    for key in ["owner", "admin", "developer", "viewer"] {
        roles.insert(key, app.role_id(&owner.pat, &org, key).await);
    }
    let custom = app
        .gql(
            &owner.pat,
            "mutation($i: CreateRoleInput!) { createRole(input: $i) { id } }",
            json!({ "i": { "organizationId": org, "name": "Key manager", "permissions": ["api_keys:write", "usage:read", "members:read"] } }),
        )
        .await
        .data();
    roles.insert(
        "key-manager",
        custom["createRole"]["id"].as_str().unwrap().to_owned(),
    );
    let w = World {
        owner: owner.clone(),
        org: org.clone(),
        project: project.clone(),
        admin_account: String::new(),
        roles,
        counter: Default::default(),
        app,
    };
    let admin_account = w.service_account("admin").await;
    let w = World { admin_account, ..w };

    let org_id: Uuid = org.parse().unwrap();
    let project_id: Uuid = project.parse().unwrap();
    let mut people = Vec::new();
    for (email, role) in [
        ("admin@example.com", "admin"),
        ("dev@example.com", "developer"),
        ("viewer@example.com", "viewer"),
        ("keys@example.com", "key-manager"),
    ] {
        let user = w.app.user(email).await;
        let invite = w
            .owner(
                "mutation($i: InviteMemberInput!) { inviteMember(input: $i) { id } }",
                json!({ "i": { "organizationId": org, "email": email, "roleId": w.roles[role] } }),
            )
            .await;
        w.app
            .gql(
                &user.pat,
                "mutation($i: InviteInput!) { acceptInvite(input: $i) { status } }",
                json!({ "i": { "id": invite["inviteMember"]["id"] } }),
            )
            .await
            .data();
        people.push((user, role));
    }
    let owner_id = customer_of(&w.app, &owner).await;
    let root_id = customer_of(&w.app, &root).await;
    let member = |org: Levels, session: bool| Model {
        org,
        user: Some(Levels::everything()),
        instance_admin: false,
        session,
        service_account: false,
    };
    let narrow = Levels::none().with("api_keys", 1);
    // The owner's narrow credentials: the owner's role, narrowed by the scope.
    let owner_narrow = Levels::everything().narrowed(narrow);
    let mut whos = vec![
        Who {
            name: "owner by session",
            auth: Auth::Cookie(w.app.session_cookie(owner_id, org_id, project_id).await),
            model: member(Levels::everything(), true),
            user: Some((owner_id, owner.email.clone())),
        },
        Who {
            name: "owner by unscoped PAT",
            auth: Auth::Token(owner.pat.clone()),
            model: member(Levels::everything(), false),
            user: Some((owner_id, owner.email.clone())),
        },
        Who {
            name: "owner's PAT scoped api_keys:read",
            auth: Auth::Token(scoped_pat(&w.app, &owner.pat, &["api_keys:read"]).await),
            model: Model {
                org: owner_narrow,
                user: Some(narrow),
                instance_admin: false,
                session: false,
                service_account: false,
            },
            user: Some((owner_id, owner.email.clone())),
        },
        Who {
            name: "owner's API key scoped api_keys:read",
            auth: Auth::Token(
                w.app
                    .create_key(
                        &owner.pat,
                        json!({ "organizationId": org, "name": "narrow", "scopes": ["api_keys:read"] }),
                    )
                    .await
                    .1,
            ),
            model: Model {
                org: owner_narrow,
                user: None,
                instance_admin: false,
                session: false,
                service_account: false,
            },
            user: Some((owner_id, owner.email.clone())),
        },
    ];
    for (user, role) in &people {
        let id = customer_of(&w.app, user).await;
        let levels = match *role {
            "admin" => Levels::everything(),
            "developer" => Levels::developer(),
            "viewer" => Levels::viewer(),
            _ => Levels::key_manager(),
        };
        let name: &'static str = match *role {
            "admin" => "admin by session",
            "developer" => "developer by session",
            "viewer" => "viewer by session",
            _ => "custom role by session",
        };
        whos.push(Who {
            name,
            auth: Auth::Cookie(w.app.session_cookie(id, org_id, project_id).await),
            model: member(levels, true),
            user: Some((id, user.email.clone())),
        });
        if *role == "developer" {
            whos.push(Who {
                name: "developer by unscoped PAT",
                auth: Auth::Token(user.pat.clone()),
                model: member(levels, false),
                user: Some((id, user.email.clone())),
            });
        }
    }
    for (role, name, levels) in [
        ("owner", "owner service account's key", Levels::everything()),
        ("admin", "admin service account's key", Levels::everything()),
        (
            "developer",
            "developer service account's key",
            Levels::developer(),
        ),
        ("viewer", "viewer service account's key", Levels::viewer()),
    ] {
        let account = w.service_account(role).await;
        let r = w
            .owner(
                "mutation($i: CreateServiceAccountKeyInput!) { createServiceAccountKey(input: $i) { secret } }",
                json!({ "i": { "serviceAccountId": account, "name": "key" } }),
            )
            .await;
        whos.push(Who {
            name,
            auth: Auth::Token(
                r["createServiceAccountKey"]["secret"]
                    .as_str()
                    .unwrap()
                    .to_owned(),
            ),
            model: Model {
                org: levels,
                user: None,
                instance_admin: false,
                session: false,
                service_account: true,
            },
            user: None,
        });
    }
    let root_org: Uuid = root.org_id.parse().unwrap();
    let root_project: Uuid = root.project_id.parse().unwrap();
    let admin_model = |session: bool| Model {
        org: Levels::none(),
        user: Some(Levels::everything()),
        instance_admin: true,
        session,
        service_account: false,
    };
    whos.push(Who {
        name: "instance admin by session",
        auth: Auth::Cookie(w.app.session_cookie(root_id, root_org, root_project).await),
        model: admin_model(true),
        user: Some((root_id, root.email.clone())),
    });
    whos.push(Who {
        name: "instance admin by unscoped PAT",
        auth: Auth::Token(root.pat.clone()),
        model: admin_model(false),
        user: Some((root_id, root.email.clone())),
    });
    whos.push(Who {
        name: "instance admin's PAT scoped api_keys:read",
        auth: Auth::Token(scoped_pat(&w.app, &root.pat, &["api_keys:read"]).await),
        model: Model {
            org: Levels::none(),
            user: Some(narrow),
            instance_admin: false,
            session: false,
            service_account: false,
        },
        user: Some((root_id, root.email.clone())),
    });
    (w, whos)
}

const OPERATIONS: &str = "{ __schema {
  queryType { fields { name } }
  mutationType { fields { name } }
} }";

async fn every_operation_follows_the_privilege_rules(db: Db) {
    let (w, whos) = world(db).await;
    let schema = w.app.gql(&w.owner.pat, OPERATIONS, json!({})).await.data();
    let mut ops = Vec::new();
    for root in ["queryType", "mutationType"] {
        for f in schema["__schema"][root]["fields"].as_array().unwrap() {
            ops.push(f["name"].as_str().unwrap().to_owned());
        }
    }
    let unruled: Vec<&String> = ops.iter().filter(|op| rule(op).is_none()).collect();
    assert!(
        unruled.is_empty(),
        "operations without a privilege rule in this test: {unruled:?}"
    );
    assert!(
        ops.len() >= 55,
        "only {} operations in the schema",
        ops.len()
    );

    // What `viewerAccess` tells each principal is exactly what the rules let it do: a
    // dashboard that hides what this does not list hides nothing it could do.
    let catalog = w
        .owner(
            "query($o: ID!) { permissionCatalog(organizationId: $o) { resources { name builtin } } }",
            json!({ "o": w.org }),
        )
        .await;
    let apps: Vec<String> = catalog["permissionCatalog"]["resources"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["builtin"] == false)
        .map(|r| r["name"].as_str().unwrap().to_owned())
        .collect();
    let levels = ["read", "write", "delete", "admin"];
    for who in &whos {
        if who.model.org == Levels::none() {
            continue;
        }
        let r = w
            .call(
                who,
                "query($o: ID!) { viewerAccess(organizationId: $o) { permissions } }",
                json!({ "o": w.org }),
            )
            .await;
        let told: BTreeSet<String> = r.data()["viewerAccess"]["permissions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p.as_str().unwrap().to_owned())
            .collect();
        let resources = RESOURCES[..12]
            .iter()
            .map(|r| {
                (
                    r.to_string(),
                    who.model.org.0[RESOURCES.iter().position(|x| x == r).unwrap()],
                )
            })
            .chain(apps.iter().map(|a| (a.clone(), who.model.org.0[12])));
        let expected: BTreeSet<String> = resources
            .flat_map(|(r, level)| {
                levels[..level as usize]
                    .iter()
                    .map(move |l| format!("{r}:{l}"))
            })
            .collect();
        assert_eq!(told, expected, "viewerAccess of {}", who.name);
    }

    let mut wrong = Vec::new();
    let mut counted = BTreeSet::new();
    // Signing out everywhere else ends the sessions the other principals call with: it
    // runs last, and each call's sessions are brought back for the next principal.
    const SIGNS_OUT: &str = "revokeOtherSessions";
    ops.sort_by_key(|op| op == SIGNS_OUT);
    for op in &ops {
        let rule = rule(op).unwrap();
        for who in &whos {
            let expected = rule.allows(&who.model);
            let (query, variables) = w.prepare(op, who).await;
            let r = w.call(who, &query, variables).await;
            let code = r.body["errors"][0]["extensions"]["code"]
                .as_str()
                .map(str::to_owned);
            // Outside the organization, an object found by its id answers like a missing one.
            let outsider = who.model.org == Levels::none();
            let refused = matches!(code.as_deref(), Some("FORBIDDEN" | "NOT_A_MEMBER"))
                || (outsider && code.as_deref() == Some("NOT_FOUND"));
            let ok = if expected {
                r.body.get("errors").is_none()
            } else {
                refused && r.body["data"].get(op.as_str()).is_none_or(Value::is_null)
            };
            if !ok {
                wrong.push(format!(
                    "{op} by {}: expected {}, got {}",
                    who.name,
                    if expected { "success" } else { "a refusal" },
                    r.body
                ));
            }
            counted.insert((op.clone(), expected));
            if op.contains("ebhook") {
                w.forget_webhook_endpoints().await;
            }
            if op == SIGNS_OUT {
                w.app
                    .exec("UPDATE sessions SET revoked_at = NULL", vec![])
                    .await;
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "{} of {} calls broke the rules:\n{}",
        wrong.len(),
        ops.len() * whos.len(),
        wrong.join("\n")
    );
    // Every operation was both allowed to someone and refused to someone, except those
    // open to every principal.
    for op in &ops {
        if !matches!(rule(op), Some(Rule::Any)) {
            assert!(
                counted.contains(&(op.clone(), true)) && counted.contains(&(op.clone(), false)),
                "`{op}` was not tried both ways"
            );
        }
    }
    w.app.finish().await;
}

// ---------------------------------------------------------------------------------------
// The findings of the security review, each by name.

fn code(r: &Gql) -> String {
    r.error_code()
}

/// A developer can neither mint a key for an admin-role service account nor turn one back
/// on; an admin cannot make an owner-role service account.
async fn a_developer_cannot_become_admin_through_a_service_account(db: Db) {
    let (w, whos) = world(db).await;
    let dev = whos
        .iter()
        .find(|w| w.name == "developer by unscoped PAT")
        .unwrap();
    let r = w
        .call(
            dev,
            "mutation($i: CreateServiceAccountKeyInput!) { createServiceAccountKey(input: $i) { secret } }",
            json!({ "i": { "serviceAccountId": w.admin_account, "name": "escalate" } }),
        )
        .await;
    assert_eq!(code(&r), "FORBIDDEN", "{}", r.body);
    assert!(
        r.error_message().contains("which you do not hold"),
        "{}",
        r.error_message()
    );
    // Nor re-enable one an owner disabled.
    w.owner(
        "mutation($i: ServiceAccountInput!) { disableServiceAccount(input: $i) { id } }",
        json!({ "i": { "id": w.admin_account } }),
    )
    .await;
    let r = w
        .call(
            dev,
            "mutation($i: ServiceAccountInput!) { enableServiceAccount(input: $i) { id } }",
            json!({ "i": { "id": w.admin_account } }),
        )
        .await;
    assert_eq!(code(&r), "FORBIDDEN", "{}", r.body);
    // Nor rotate an admin's key to learn its new secret.
    let admin = whos.iter().find(|w| w.name == "admin by session").unwrap();
    let r = w
        .call(
            admin,
            "mutation($i: CreateApiKeyInput!) { createApiKey(input: $i) { apiKey { id } } }",
            json!({ "i": { "organizationId": w.org, "name": "admin's" } }),
        )
        .await
        .data();
    let admins_key = r["createApiKey"]["apiKey"]["id"].clone();
    let r = w
        .call(
            dev,
            "mutation($i: RotateApiKeyInput!) { rotateApiKey(input: $i) { secret } }",
            json!({ "i": { "id": admins_key } }),
        )
        .await;
    assert_eq!(code(&r), "FORBIDDEN", "{}", r.body);
    // An admin holds everything an owner does, but the owner role comes only from owners.
    let r = w
        .call(
            admin,
            "mutation($i: CreateServiceAccountInput!) { createServiceAccount(input: $i) { id } }",
            json!({ "i": { "organizationId": w.org, "name": "root-bot", "roleId": w.roles["owner"] } }),
        )
        .await;
    assert_eq!(code(&r), "FORBIDDEN", "{}", r.body);
    assert_eq!(
        r.error_message(),
        "only an owner can hand out the owner role"
    );
    // The owner can do all of it.
    let owner = whos.iter().find(|w| w.name == "owner by session").unwrap();
    let r = w
        .call(
            owner,
            "mutation($i: CreateServiceAccountInput!) { createServiceAccount(input: $i) { id } }",
            json!({ "i": { "organizationId": w.org, "name": "root-bot", "roleId": w.roles["owner"] } }),
        )
        .await;
    r.data();
    w.app.finish().await;
}

/// A PAT scoped `api_keys:read` reads keys and nothing else: no new tokens, no token or
/// session management, no organizations.
async fn a_narrow_pat_acts_only_within_its_scopes(db: Db) {
    let (w, whos) = world(db).await;
    let narrow = whos
        .iter()
        .find(|w| w.name == "owner's PAT scoped api_keys:read")
        .unwrap();
    let refused = [
        (
            "mutation { createPersonalAccessToken(input: { name: \"longer\", expiresAt: \"2126-01-01T00:00:00Z\" }) { secret } }",
            "missing permission personal_access_tokens:write",
        ),
        (
            "{ personalAccessTokens { totalCount } }",
            "missing permission personal_access_tokens:read",
        ),
        (
            "{ sessions { nodes { id } } }",
            "missing permission sessions:read",
        ),
        (
            "mutation { createOrganization(input: { name: \"mine\" }) { organization { id } } }",
            "missing permission organization:write",
        ),
        (
            "query($o: ID!) { members(organizationId: $o) { nodes { id } } }",
            "missing permission members:read",
        ),
    ];
    for (query, message) in refused {
        let r = w.call(narrow, query, json!({ "o": w.org })).await;
        assert_eq!(
            (code(&r), r.error_message()),
            ("FORBIDDEN".to_owned(), message.to_owned()),
            "{query}"
        );
    }
    let pat_id = w.pat_of(customer_of(&w.app, &w.owner).await).await;
    let r = w
        .call(
            narrow,
            "mutation($i: RevokePersonalAccessTokenInput!) { revokePersonalAccessToken(input: $i) { id } }",
            json!({ "i": { "id": pat_id } }),
        )
        .await;
    assert_eq!(code(&r), "FORBIDDEN");
    // What it is for still works.
    let r = w
        .call(
            narrow,
            "query($o: ID!) { apiKeys(organizationId: $o) { totalCount } }",
            json!({ "o": w.org }),
        )
        .await;
    r.data();
    w.app.finish().await;
}

/// An instance admin's PAT with scopes carries no instance-admin power.
async fn instance_admin_power_ignores_no_scopes(db: Db) {
    let (w, whos) = world(db).await;
    let scoped = whos
        .iter()
        .find(|w| w.name == "instance admin's PAT scoped api_keys:read")
        .unwrap();
    let owner = customer_of(&w.app, &w.owner).await;
    for (query, variables) in [
        ("{ users(search: \"owner\") { totalCount } }", json!({})),
        (
            "query($c: ID!) { userCredentials(customerId: $c) { id } }",
            json!({ "c": owner }),
        ),
        (
            "mutation($c: ID!) { suspendCustomer(input: { customerId: $c, reason: \"x\" }) { id } }",
            json!({ "c": owner }),
        ),
    ] {
        let r = w.call(scoped, query, variables).await;
        assert_eq!(
            (code(&r), r.error_message()),
            (
                "FORBIDDEN".to_owned(),
                "a personal access token with scopes never carries instance-admin power".to_owned()
            ),
            "{query}"
        );
    }
    // The owner was not suspended.
    w.owner("{ me { user { id } } }", json!({})).await;
    w.app.finish().await;
}

/// Expiries are bounded: PATs by the instance maximum and their parent, keys by a sane
/// horizon or the configured maximum.
async fn lifetimes_are_bounded(db: Db) {
    let app = TestApp::spawn_with(db, |c| c.api_key_max_lifetime_days = Some(90)).await;
    let owner = app.user("owner@example.com").await;
    let create_pat = |token: String, expires: Option<String>| {
        let app = &app;
        async move {
            app.gql(
                &token,
                "mutation($i: CreatePersonalAccessTokenInput!) { createPersonalAccessToken(input: $i) { secret token { expiresAt } } }",
                json!({ "i": { "name": "t", "expiresAt": expires } }),
            )
            .await
        }
    };
    let r = create_pat(owner.pat.clone(), Some("2126-01-01T00:00:00Z".into())).await;
    assert_eq!(code(&r), "INVALID_INPUT");
    assert_eq!(
        r.error_message(),
        "input.expiresAt: must be at most 366 days from now (the longest lifetime allowed here)"
    );
    // A token made by a token lives no longer than it.
    let in_ten_days = (chrono::Utc::now() + chrono::TimeDelta::days(10)).to_rfc3339();
    let short = create_pat(owner.pat.clone(), Some(in_ten_days.clone()))
        .await
        .data();
    let short_secret = short["createPersonalAccessToken"]["secret"]
        .as_str()
        .unwrap()
        .to_owned();
    let in_twenty_days = (chrono::Utc::now() + chrono::TimeDelta::days(20)).to_rfc3339();
    let r = create_pat(short_secret.clone(), Some(in_twenty_days)).await;
    assert_eq!(
        r.error_message(),
        "input.expiresAt: must not be later than the expiry of the token making it"
    );
    let child = create_pat(short_secret, None).await.data();
    assert_eq!(
        child["createPersonalAccessToken"]["token"]["expiresAt"],
        short["createPersonalAccessToken"]["token"]["expiresAt"],
        "by default a child token ends with its parent"
    );
    // API keys: never past the instance maximum; without an expiry, they get it.
    let create_key = |expires: Option<&str>| {
        let app = &app;
        let owner = &owner;
        let expires = expires.map(str::to_owned);
        async move {
            app.gql(
                &owner.pat,
                "mutation($i: CreateApiKeyInput!) { createApiKey(input: $i) { apiKey { expiresAt } } }",
                json!({ "i": { "organizationId": owner.org_id, "name": "k", "expiresAt": expires } }),
            )
            .await
        }
    };
    let r = create_key(Some("9999-12-31T00:00:00Z")).await;
    assert_eq!(
        r.error_message(),
        "input.expiresAt: must be at most 90 days from now (the longest lifetime allowed here)"
    );
    let r = create_key(None).await.data();
    let expires: chrono::DateTime<chrono::Utc> = r["createApiKey"]["apiKey"]["expiresAt"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let days = (expires - chrono::Utc::now()).num_hours();
    assert!((89 * 24..=90 * 24).contains(&days), "{days} hours");
    // An organization may lower the key maximum, never raise it.
    let settings = |days: i64| {
        let app = &app;
        let owner = &owner;
        async move {
            app.gql(
                &owner.pat,
                "mutation($i: UpdateOrganizationSettingsInput!) { updateOrganizationSettings(input: $i) { apiKeyMaxLifetimeDays } }",
                json!({ "i": { "organizationId": owner.org_id, "apiKeyMaxLifetimeDays": days } }),
            )
            .await
        }
    };
    assert_eq!(
        settings(120).await.error_message(),
        "input.apiKeyMaxLifetimeDays: must be between 1 and 90 (an organization may only lower the instance's maximum)"
    );
    settings(30).await.data();
    let in_sixty_days = (chrono::Utc::now() + chrono::TimeDelta::days(60)).to_rfc3339();
    assert_eq!(
        create_key(Some(&in_sixty_days)).await.error_message(),
        "input.expiresAt: must be at most 30 days from now (the longest lifetime allowed here)"
    );
    // An organization may lower the PAT maximum, never raise it.
    let r = app
        .gql(
            &owner.pat,
            "mutation($i: UpdateOrganizationSettingsInput!) { updateOrganizationSettings(input: $i) { id } }",
            json!({ "i": { "organizationId": owner.org_id, "patMaxLifetimeDays": 400 } }),
        )
        .await;
    assert_eq!(
        r.error_message(),
        "input.patMaxLifetimeDays: must be between 1 and 366 (an organization may only lower the instance's maximum)"
    );
    app.finish().await;

    // Without a configured maximum, a key may not be set to expire past ten years.
    let app = TestApp::spawn(db).await;
    let owner = app.user("owner@example.com").await;
    let r = app
        .gql(
            &owner.pat,
            "mutation($i: CreateApiKeyInput!) { createApiKey(input: $i) { apiKey { expiresAt } } }",
            json!({ "i": { "organizationId": owner.org_id, "name": "k", "expiresAt": "9999-12-31T00:00:00Z" } }),
        )
        .await;
    assert_eq!(
        r.error_message(),
        "input.expiresAt: must be within ten years; leave it empty for a credential that never expires"
    );
    app.finish().await;
}

/// Scopes or role permissions that do not parse refuse the request (an internal error,
/// logged); they never mean "everything" or "nothing".
async fn stored_data_that_does_not_parse_is_refused(db: Db) {
    let app = TestApp::spawn(db).await;
    let owner = app.user("owner@example.com").await;
    let (key_id, secret) = app
        .create_key(
            &owner.pat,
            json!({ "organizationId": owner.org_id, "name": "k", "scopes": ["api_keys:read"] }),
        )
        .await;
    app.exec(
        "UPDATE credentials SET scopes = ? WHERE id = ?",
        vec![
            json!(["api keys:everything"]).into(),
            key_id.parse::<Uuid>().unwrap().into(),
        ],
    )
    .await;
    let r = app
        .gql(
            &secret,
            "query($o: ID!) { members(organizationId: $o) { nodes { id } } }",
            json!({ "o": owner.org_id }),
        )
        .await;
    assert_eq!(code(&r), "INTERNAL", "{}", r.body);
    assert_eq!(r.error_message(), "internal error");
    let (status, _, body) = app.verify(tests::Header::Bearer, &secret).await;
    assert_eq!((status.as_u16(), &body["code"]), (500, &json!("INTERNAL")));

    // A key whose stored environment is neither live nor test: not read as live.
    let (other_id, other) = app
        .create_key(
            &owner.pat,
            json!({ "organizationId": owner.org_id, "name": "staging" }),
        )
        .await;
    app.exec(
        "UPDATE credentials SET environment = ? WHERE id = ?",
        vec!["staging".into(), other_id.parse::<Uuid>().unwrap().into()],
    )
    .await;
    let (status, _, body) = app.verify(tests::Header::Bearer, &other).await;
    assert_eq!((status.as_u16(), &body["code"]), (500, &json!("INTERNAL")));
    // A key whose stored kind is none of the three: refused, not taken for an API key.
    let (odd_id, odd) = app
        .create_key(
            &owner.pat,
            json!({ "organizationId": owner.org_id, "name": "odd" }),
        )
        .await;
    app.exec(
        "UPDATE credentials SET kind = ? WHERE id = ?",
        vec!["robot".into(), odd_id.parse::<Uuid>().unwrap().into()],
    )
    .await;
    let (status, _, body) = app.verify(tests::Header::Bearer, &odd).await;
    assert_eq!((status.as_u16(), &body["code"]), (500, &json!("INTERNAL")));
    let r = app
        .gql(
            &owner.pat,
            "query($o: ID!) { apiKeys(organizationId: $o) { nodes { name environment } } }",
            json!({ "o": owner.org_id }),
        )
        .await;
    assert_eq!(code(&r), "INTERNAL", "{}", r.body);

    // An invite whose stored status is none of the four: neither listed as something
    // it is not, nor withdrawn or answered.
    let viewer = app.role_id(&owner.pat, &owner.org_id, "viewer").await;
    let invite = app
        .gql(
            &owner.pat,
            "mutation($i: InviteMemberInput!) { inviteMember(input: $i) { id } }",
            json!({ "i": { "organizationId": owner.org_id, "email": "odd@example.com", "roleId": viewer } }),
        )
        .await
        .data();
    let invite: Uuid = invite["inviteMember"]["id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    app.exec(
        "UPDATE invites SET status = ? WHERE id = ?",
        vec!["maybe".into(), invite.into()],
    )
    .await;
    let r = app
        .gql(
            &owner.pat,
            "query($o: ID!) { invites(organizationId: $o) { nodes { status } } }",
            json!({ "o": owner.org_id }),
        )
        .await;
    assert_eq!(code(&r), "INTERNAL", "{}", r.body);
    let r = app
        .gql(
            &owner.pat,
            "mutation($i: InviteInput!) { revokeInvite(input: $i) { status } }",
            json!({ "i": { "id": invite.to_string() } }),
        )
        .await;
    assert_eq!(code(&r), "INTERNAL", "{}", r.body);

    // A custom role whose stored permissions name no resource.
    let custom = app
        .gql(
            &owner.pat,
            "mutation($i: CreateRoleInput!) { createRole(input: $i) { id } }",
            json!({ "i": { "organizationId": owner.org_id, "name": "odd", "permissions": ["usage:read"] } }),
        )
        .await
        .data();
    let role: Uuid = custom["createRole"]["id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    app.exec(
        "UPDATE roles SET permissions = ? WHERE id = ?",
        vec![json!({ "Usage Stats": "read" }).into(), role.into()],
    )
    .await;
    let r = app
        .gql(
            &owner.pat,
            "query($o: ID!) { roles(organizationId: $o) { nodes { id } } }",
            json!({ "o": owner.org_id }),
        )
        .await;
    assert_eq!(code(&r), "INTERNAL", "{}", r.body);
    assert!(
        tests::captured_logs().contains("stored role permissions does not parse"),
        "the cause is logged"
    );
    app.finish().await;
}

/// The REST operations that are not the GraphQL operations' twins, with their rule.
fn rest_rule(route: &str) -> Option<Rule> {
    Some(match route {
        "GET /api/v1/keys/events" => Rule::CredentialOrg("api_keys:read"),
        _ => return None,
    })
}

/// The key event stream opens for exactly the principals its rule names, every kind of
/// principal tried: sessions, PATs scoped and not, API keys, service-account keys,
/// instance admins.
async fn every_rest_stream_follows_the_privilege_rules(db: Db) {
    let (w, whos) = world(db).await;
    let route = "GET /api/v1/keys/events";
    let rule = rest_rule(route).expect("the stream has a rule");
    let (mut opened, mut refused) = (0, 0);
    for who in &whos {
        let request = w.app.client.get(format!(
            "{}/api/v1/keys/events?organization_id={}",
            w.app.base, w.org
        ));
        let request = match &who.auth {
            Auth::Token(token) => request.bearer_auth(token),
            Auth::Cookie(cookie) => request.header("cookie", cookie),
        };
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let allowed = rule.allows(&who.model);
        if allowed {
            assert_eq!(status, 200, "{route} as {}", who.name);
            opened += 1;
        } else {
            refused += 1;
            assert!(
                matches!(status, 401 | 403 | 404),
                "{route} as {}: {status}",
                who.name
            );
        }
    }
    assert!(
        opened >= 3 && refused >= 3,
        "{opened} opened, {refused} refused"
    );
    w.app.finish().await;
}

/// A key made by a scoped credential without scopes of its own carries the credential's
/// scopes, not its owner's whole role; imported keys too.
async fn keys_made_by_narrow_credentials_stay_narrow(db: Db) {
    let app = TestApp::spawn(db).await;
    let owner = app.user("owner@example.com").await;
    let writer = scoped_pat(&app, &owner.pat, &["api_keys:write"]).await;
    let (_, secret) = app
        .create_key(
            &writer,
            json!({ "organizationId": owner.org_id, "name": "child" }),
        )
        .await;
    let (_, _, body) = app.verify(tests::Header::Bearer, &secret).await;
    assert_eq!(body["key"]["scopes"], json!(["api_keys:write"]), "{body}");
    let r = app
        .gql(
            &secret,
            "query($o: ID!) { members(organizationId: $o) { nodes { id } } }",
            json!({ "o": owner.org_id }),
        )
        .await;
    assert_eq!(r.error_message(), "missing permission members:read");
    let admin_writer = scoped_pat(&app, &owner.pat, &["api_keys:admin"]).await;
    let imported = app
        .gql(
            &admin_writer,
            "mutation($i: ImportApiKeyInput!) { importApiKey(input: $i) { scopes } }",
            json!({ "i": { "organizationId": owner.org_id, "name": "old", "sha256": tests::sha256_hex("vc_1"), "prefix": "vc_" } }),
        )
        .await
        .data();
    assert_eq!(
        imported["importApiKey"]["scopes"],
        json!(["api_keys:admin"])
    );
    app.finish().await;
}

/// Rotating or re-enabling a key hands out, or gives back, everything it may ever do: a
/// developer may rotate their own key, not a fellow developer's (who may be promoted),
/// and a narrow token of theirs not even their own.
async fn rotating_a_key_needs_everything_it_may_ever_do(db: Db) {
    let (w, whos) = world(db).await;
    let dev = whos
        .iter()
        .find(|w| w.name == "developer by session")
        .unwrap();
    let dev_pat = whos
        .iter()
        .find(|w| w.name == "developer by unscoped PAT")
        .unwrap();
    let rotate = "mutation($i: RotateApiKeyInput!) { rotateApiKey(input: $i) { secret } }";
    let own = w
        .call(
            dev,
            "mutation($i: CreateApiKeyInput!) { createApiKey(input: $i) { apiKey { id } } }",
            json!({ "i": { "organizationId": w.org, "name": "mine" } }),
        )
        .await
        .data()["createApiKey"]["apiKey"]["id"]
        .clone();
    w.call(dev, rotate, json!({ "i": { "id": own } }))
        .await
        .data();
    // A fellow developer's unscoped key.
    let (_, fellow) = w.member().await;
    let theirs = w
        .app
        .create_key(
            &fellow.pat,
            json!({ "organizationId": w.org, "name": "theirs" }),
        )
        .await
        .0;
    let r = w
        .call(dev_pat, rotate, json!({ "i": { "id": theirs } }))
        .await;
    assert_eq!(code(&r), "FORBIDDEN", "{}", r.body);
    // Nor a scoped key of theirs, though the developer holds its scopes: whoever rotates
    // a user's key takes its new secret, so it is for its owner or `api_keys:admin`.
    let scoped = w
        .app
        .create_key(
            &fellow.pat,
            json!({ "organizationId": w.org, "name": "scoped", "scopes": ["usage:read"] }),
        )
        .await
        .0;
    let r = w
        .call(dev_pat, rotate, json!({ "i": { "id": scoped } }))
        .await;
    assert_eq!(code(&r), "FORBIDDEN", "{}", r.body);
    assert!(r.body.to_string().contains("api_keys:admin"), "{}", r.body);
    let admin = whos.iter().find(|w| w.name == "admin by session").unwrap();
    w.call(admin, rotate, json!({ "i": { "id": scoped } }))
        .await
        .data();
    // The developer's own key, by a narrow token of theirs.
    let (_, dev_user) = w.member().await;
    let mine = w
        .app
        .create_key(
            &dev_user.pat,
            json!({ "organizationId": w.org, "name": "mine" }),
        )
        .await
        .0;
    let narrow = scoped_pat(&w.app, &dev_user.pat, &["api_keys:write"]).await;
    let r = w
        .app
        .gql(&narrow, rotate, json!({ "i": { "id": mine } }))
        .await;
    assert_eq!(code(&r), "FORBIDDEN", "{}", r.body);
    w.app.finish().await;
}

/// A key bound to a project acts only on what lives in projects, whatever its owner's role.
async fn a_project_key_stays_in_its_project(db: Db) {
    let app = TestApp::spawn(db).await;
    let owner = app.user("owner@example.com").await;
    let (_, bound) = app
        .create_key(
            &owner.pat,
            json!({ "organizationId": owner.org_id, "projectId": owner.project_id, "name": "project" }),
        )
        .await;
    for (query, perm) in [
        (
            "query($o: ID!) { members(organizationId: $o) { nodes { id } } }",
            "members:read",
        ),
        (
            "query($o: ID!) { auditEvents(organizationId: $o) { totalCount } }",
            "audit_log:read",
        ),
        (
            "query($o: ID!) { serviceAccounts(organizationId: $o) { nodes { id } } }",
            "service_accounts:read",
        ),
        (
            "mutation($o: ID!) { updateOrganizationSettings(input: { organizationId: $o, rateLimitPerMinute: 5 }) { id } }",
            "settings:write",
        ),
        (
            "mutation($o: ID!) { renameOrganization(input: { id: $o, name: \"mine\" }) { id } }",
            "organization:write",
        ),
    ] {
        let r = app.gql(&bound, query, json!({ "o": owner.org_id })).await;
        assert_eq!(
            r.error_message(),
            format!("missing permission {perm}"),
            "{query}"
        );
    }
    app.gql(
        &bound,
        "query($o: ID!) { apiKeys(organizationId: $o) { totalCount } organization(id: $o) { id } }",
        json!({ "o": owner.org_id }),
    )
    .await
    .data();
    app.finish().await;
}

/// An outsider gets the same answer for any id of an organization, whatever its state.
async fn outsiders_learn_nothing_of_an_organization(db: Db) {
    let app = TestApp::spawn(db).await;
    let root = app.bootstrap("root@example.com").await;
    let owner = app.user("owner@example.com").await;
    let stranger = app.user("stranger@example.com").await;
    let (key, _) = app
        .create_key(
            &owner.pat,
            json!({ "organizationId": owner.org_id, "name": "k" }),
        )
        .await;
    let probe = |token: String| {
        let app = &app;
        let key = key.clone();
        async move {
            let r = app
                .gql(
                    &token,
                    "query($k: ID!) { apiKey(id: $k) { id } }",
                    json!({ "k": key }),
                )
                .await;
            (r.error_code(), r.error_message())
        }
    };
    let before = probe(stranger.pat.clone()).await;
    assert_eq!(before.0, "NOT_FOUND");
    app.gql(
        &owner.pat,
        "mutation($o: ID!) { updateOrganizationSettings(input: { organizationId: $o, patMaxLifetimeDays: 7 }) { id } }",
        json!({ "o": owner.org_id }),
    )
    .await
    .data();
    assert_eq!(
        probe(stranger.pat.clone()).await,
        before,
        "a PAT policy shows no more"
    );
    app.gql(
        &root.pat,
        "mutation($o: ID!) { suspendOrganization(input: { organizationId: $o, reason: \"x\" }) { id } }",
        json!({ "o": owner.org_id }),
    )
    .await
    .data();
    assert_eq!(
        probe(stranger.pat.clone()).await,
        before,
        "nor does a suspension"
    );
    app.finish().await;
}

/// A fresh client address (TEST-NET-2) for each device login the fixtures start, so the
/// per-address allowance never decides a privilege check.
fn next_address() -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("198.51.{}.{}", 100 + (n / 250) % 100, n % 250 + 1)
}

//! Organizations, members, invites, roles, service accounts and instance administration
//! (SPEC §3.1, §5, §9) through GraphQL and the verify endpoints.

use serde_json::{Value, json};
use tests::{Admin, Db, Header, TestApp};

db_tests!(
    invites_and_membership,
    owners_are_protected,
    custom_roles_and_application_resources,
    member_changes_reach_keys_at_once,
    changing_a_member_needs_what_they_hold,
    service_accounts_and_their_keys,
    pat_lifetime_policy,
    instance_administration,
    audit_export_verifies_and_detects_tampering,
    role_operation_matrix,
);

/// Invites `member` into `org` with role `key` and has them accept; returns the membership id.
async fn join(app: &TestApp, owner: &Admin, org: &str, member: &Admin, key: &str) -> String {
    app.join(&owner.pat, org, member, key).await
}

const INVITE: &str = "mutation($i: InviteMemberInput!) { inviteMember(input: $i) { id status expiresAt role { key } } }";

async fn invites_and_membership(db: Db) {
    let app = TestApp::spawn(db).await;
    let ada = app.bootstrap("ada@example.com").await;
    let bob = app.bootstrap("bob@example.com").await;
    let carol = app.bootstrap("carol@example.com").await;
    let dev = app.role_id(&ada.pat, &ada.org_id, "developer").await;

    let r = app
        .gql(&ada.pat, INVITE, json!({ "i": { "organizationId": ada.org_id, "email": "Bob@Example.com", "roleId": dev } }))
        .await
        .data();
    assert_eq!(r["inviteMember"]["status"], "PENDING");
    assert_eq!(r["inviteMember"]["role"]["key"], "developer");
    let expires: chrono::DateTime<chrono::Utc> = r["inviteMember"]["expiresAt"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(
        (expires - chrono::Utc::now()).num_days(),
        6,
        "open for 7 days"
    );
    let invite_id = r["inviteMember"]["id"].clone();

    let dup = app
        .gql(&ada.pat, INVITE, json!({ "i": { "organizationId": ada.org_id, "email": "bob@example.com", "roleId": dev } }))
        .await;
    assert_eq!(dup.error_code(), "CONFLICT");
    let mine = app
        .gql(
            &bob.pat,
            "{ myInvites { nodes { id organization { name } } } }",
            json!({}),
        )
        .await
        .data();
    assert_eq!(mine["myInvites"]["nodes"][0]["id"], invite_id);
    // Someone else cannot answer Bob's invite.
    let stolen = app
        .gql(
            &carol.pat,
            "mutation($i: InviteInput!) { acceptInvite(input: $i) { status } }",
            json!({ "i": { "id": invite_id } }),
        )
        .await;
    assert_eq!(stolen.error_code(), "NOT_FOUND");
    let accepted = app
        .gql(
            &bob.pat,
            "mutation($i: InviteInput!) { acceptInvite(input: $i) { status } }",
            json!({ "i": { "id": invite_id } }),
        )
        .await
        .data();
    assert_eq!(accepted["acceptInvite"]["status"], "ACCEPTED");
    let members = app
        .gql(
            &bob.pat,
            "query($o: ID!) { members(organizationId: $o) { nodes { user { email } role { key } } } }",
            json!({ "o": ada.org_id }),
        )
        .await
        .data();
    let roles: Vec<(String, String)> = members["members"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["user"]["email"].as_str().unwrap().into(),
                m["role"]["key"].as_str().unwrap().into(),
            )
        })
        .collect();
    // Newest first.
    assert_eq!(
        roles,
        [
            ("bob@example.com".into(), "developer".into()),
            ("ada@example.com".into(), "owner".into())
        ]
    );
    let again = app
        .gql(&ada.pat, INVITE, json!({ "i": { "organizationId": ada.org_id, "email": "bob@example.com", "roleId": dev } }))
        .await;
    assert_eq!(again.error_code(), "CONFLICT", "already a member");

    // A developer may not invite.
    let denied = app
        .gql(&bob.pat, INVITE, json!({ "i": { "organizationId": ada.org_id, "email": "x@example.com", "roleId": dev } }))
        .await;
    assert_eq!(denied.error_code(), "FORBIDDEN");
    assert!(denied.error_message().contains("members:write"));

    // Declined and revoked invites.
    let r = app
        .gql(&ada.pat, INVITE, json!({ "i": { "organizationId": ada.org_id, "email": "carol@example.com", "roleId": dev } }))
        .await
        .data();
    let declined = app
        .gql(
            &carol.pat,
            "mutation($i: InviteInput!) { declineInvite(input: $i) { status } }",
            json!({ "i": { "id": r["inviteMember"]["id"] } }),
        )
        .await
        .data();
    assert_eq!(declined["declineInvite"]["status"], "DECLINED");
    let r = app
        .gql(&ada.pat, INVITE, json!({ "i": { "organizationId": ada.org_id, "email": "dan@example.com", "roleId": dev } }))
        .await
        .data();
    let revoked = app
        .gql(
            &ada.pat,
            "mutation($i: InviteInput!) { revokeInvite(input: $i) { status } }",
            json!({ "i": { "id": r["inviteMember"]["id"] } }),
        )
        .await
        .data();
    assert_eq!(revoked["revokeInvite"]["status"], "REVOKED");
    let list = app
        .gql(
            &ada.pat,
            "query($o: ID!) { invites(organizationId: $o) { nodes { email status } } }",
            json!({ "o": ada.org_id }),
        )
        .await
        .data();
    assert_eq!(list["invites"]["nodes"].as_array().unwrap().len(), 3);
    let statuses: Vec<&str> = list["invites"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["REVOKED", "DECLINED", "ACCEPTED"]);
    // An invite past its 7 days can no longer be accepted.
    let late = app
        .gql(&ada.pat, INVITE, json!({ "i": { "organizationId": ada.org_id, "email": "carol@example.com", "roleId": dev } }))
        .await
        .data();
    let late_id = late["inviteMember"]["id"].clone();
    let late_uuid: uuid::Uuid = late_id.as_str().unwrap().parse().unwrap();
    app.exec(
        "UPDATE invites SET expires_at = ? WHERE id = ?",
        vec![
            (chrono::Utc::now() - chrono::TimeDelta::minutes(1)).into(),
            late_uuid.into(),
        ],
    )
    .await;
    let expired = app
        .gql(
            &carol.pat,
            "mutation($i: InviteInput!) { acceptInvite(input: $i) { status } }",
            json!({ "i": { "id": late_id } }),
        )
        .await;
    assert_eq!(expired.error_code(), "CONFLICT");
    assert!(expired.error_message().contains("expired"));
    assert!(
        app.gql(&carol.pat, "{ myInvites { nodes { id } } }", json!({}))
            .await
            .data()["myInvites"]["nodes"]
            .as_array()
            .unwrap()
            .is_empty()
    );

    let bad = app
        .gql(&ada.pat, INVITE, json!({ "i": { "organizationId": ada.org_id, "email": "not-an-email", "roleId": dev } }))
        .await;
    assert_eq!(bad.error_code(), "INVALID_INPUT");
    assert_eq!(bad.body["errors"][0]["extensions"]["field"], "input.email");
    app.finish().await;
}

async fn owners_are_protected(db: Db) {
    let app = TestApp::spawn(db).await;
    let ada = app.bootstrap("ada@example.com").await;
    let bob = app.bootstrap("bob@example.com").await;
    let bob_member = join(&app, &ada, &ada.org_id, &bob, "admin").await;
    let ada_member = {
        let m = app
            .gql(
                &ada.pat,
                "query($o: ID!) { members(organizationId: $o) { nodes { id role { key } } } }",
                json!({ "o": ada.org_id }),
            )
            .await
            .data();
        m["members"]["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["role"]["key"] == "owner")
            .unwrap()["id"]
            .clone()
    };
    let owner = app.role_id(&ada.pat, &ada.org_id, "owner").await;
    let viewer = app.role_id(&ada.pat, &ada.org_id, "viewer").await;
    let update =
        "mutation($i: UpdateMemberRoleInput!) { updateMemberRole(input: $i) { role { key } } }";

    let leave = app
        .gql(
            &ada.pat,
            "mutation($i: LeaveOrganizationInput!) { leaveOrganization(input: $i) }",
            json!({ "i": { "organizationId": ada.org_id } }),
        )
        .await;
    assert_eq!(leave.error_code(), "CONFLICT", "the last owner stays");
    let demote = app
        .gql(
            &ada.pat,
            update,
            json!({ "i": { "memberId": ada_member, "roleId": viewer } }),
        )
        .await;
    assert_eq!(demote.error_code(), "CONFLICT");
    // An admin can neither make owners nor touch one.
    let promote = app
        .gql(
            &bob.pat,
            update,
            json!({ "i": { "memberId": bob_member, "roleId": owner } }),
        )
        .await;
    assert_eq!(promote.error_code(), "FORBIDDEN");
    let remove = app
        .gql(
            &bob.pat,
            "mutation($i: RemoveMemberInput!) { removeMember(input: $i) }",
            json!({ "i": { "memberId": ada_member } }),
        )
        .await;
    assert_eq!(remove.error_code(), "FORBIDDEN");
    // The owner makes Bob an owner; then Ada may leave.
    let r = app
        .gql(
            &ada.pat,
            update,
            json!({ "i": { "memberId": bob_member, "roleId": owner } }),
        )
        .await
        .data();
    assert_eq!(r["updateMemberRole"]["role"]["key"], "owner");
    app.gql(
        &ada.pat,
        "mutation($i: LeaveOrganizationInput!) { leaveOrganization(input: $i) }",
        json!({ "i": { "organizationId": ada.org_id } }),
    )
    .await
    .data();
    let gone = app
        .gql(
            &ada.pat,
            "query($o: ID!) { members(organizationId: $o) { nodes { id } } }",
            json!({ "o": ada.org_id }),
        )
        .await;
    assert_eq!(gone.error_code(), "NOT_A_MEMBER");
    app.finish().await;
}

async fn custom_roles_and_application_resources(db: Db) {
    let app = TestApp::spawn(db).await;
    let ada = app.bootstrap("ada@example.com").await;
    let bob = app.bootstrap("bob@example.com").await;
    let r = app
        .gql(
            &ada.pat,
            "mutation($i: DefineResourceInput!) { defineResource(input: $i) { name } }",
            json!({ "i": { "organizationId": ada.org_id, "name": "deployments", "description": "Deploys" } }),
        )
        .await
        .data();
    assert_eq!(r["defineResource"]["name"], "deployments");
    let catalog = app
        .gql(&ada.pat, "query($o: ID!) { permissionCatalog(organizationId: $o) { resources { name builtin } levels } }", json!({ "o": ada.org_id }))
        .await
        .data();
    assert!(
        catalog["permissionCatalog"]["resources"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["name"] == "deployments" && r["builtin"] == false)
    );
    assert_eq!(
        catalog["permissionCatalog"]["levels"],
        json!(["read", "write", "delete", "admin"])
    );

    let unknown = app
        .gql(
            &ada.pat,
            "mutation($i: CreateRoleInput!) { createRole(input: $i) { id } }",
            json!({ "i": { "organizationId": ada.org_id, "name": "x", "permissions": ["cache:read"] } }),
        )
        .await;
    assert_eq!(unknown.error_code(), "INVALID_INPUT");
    let role = app
        .gql(
            &ada.pat,
            "mutation($i: CreateRoleInput!) { createRole(input: $i) { id key builtin permissions { resource level } } }",
            json!({ "i": { "organizationId": ada.org_id, "name": "Deployer", "permissions": ["deployments:write", "api_keys:write"] } }),
        )
        .await
        .data();
    assert_eq!(role["createRole"]["key"], "deployer");
    let role_id = role["createRole"]["id"].as_str().unwrap().to_owned();
    let _ = join(&app, &ada, &ada.org_id, &bob, "deployer").await;
    let (_, key) = app
        .create_key(
            &bob.pat,
            json!({ "organizationId": ada.org_id, "name": "ci" }),
        )
        .await;
    let (_, body) = app
        .verify_body(json!({ "key": key, "require": ["deployments:write"] }))
        .await;
    assert_eq!(body["code"], "VALID", "{body}");
    assert_eq!(
        body["key"]["scopes"],
        json!(["api_keys:write", "deployments:write"])
    );

    // Narrowing the role narrows Bob's key at once.
    app.gql(
        &ada.pat,
        "mutation($i: UpdateRoleInput!) { updateRole(input: $i) { id } }",
        json!({ "i": { "id": role_id, "permissions": ["deployments:read", "api_keys:write"] } }),
    )
    .await
    .data();
    let (_, body) = app
        .verify_body(json!({ "key": key, "require": ["deployments:write"] }))
        .await;
    assert_eq!(body["code"], "INSUFFICIENT_PERMISSIONS", "{body}");

    let in_use = app
        .gql(
            &ada.pat,
            "mutation($i: DeleteRoleInput!) { deleteRole(input: $i) }",
            json!({ "i": { "id": role_id } }),
        )
        .await;
    assert_eq!(in_use.error_code(), "CONFLICT");
    let owner = app.role_id(&ada.pat, &ada.org_id, "owner").await;
    let builtin = app
        .gql(
            &ada.pat,
            "mutation($i: UpdateRoleInput!) { updateRole(input: $i) { id } }",
            json!({ "i": { "id": owner, "name": "Boss" } }),
        )
        .await;
    assert_eq!(builtin.error_code(), "CONFLICT");
    // A role cannot grant more than its maker has: Bob may not create roles at all.
    let denied = app
        .gql(
            &bob.pat,
            "mutation($i: CreateRoleInput!) { createRole(input: $i) { id } }",
            json!({ "i": { "organizationId": ada.org_id, "name": "mine", "permissions": ["deployments:read"] } }),
        )
        .await;
    assert_eq!(denied.error_code(), "FORBIDDEN");
    app.finish().await;
}

async fn member_changes_reach_keys_at_once(db: Db) {
    let app = TestApp::spawn(db).await;
    let ada = app.bootstrap("ada@example.com").await;
    let bob = app.bootstrap("bob@example.com").await;
    let bob_member = join(&app, &ada, &ada.org_id, &bob, "developer").await;

    // Scopes above the creator's are refused.
    let over = app
        .gql(
            &bob.pat,
            "mutation($i: CreateApiKeyInput!) { createApiKey(input: $i) { secret } }",
            json!({ "i": { "organizationId": ada.org_id, "name": "x", "scopes": ["members:write"] } }),
        )
        .await;
    assert_eq!(over.error_code(), "FORBIDDEN");
    assert!(over.error_message().contains("members:write"));

    let (_, key) = app
        .create_key(
            &bob.pat,
            json!({ "organizationId": ada.org_id, "name": "bob's" }),
        )
        .await;
    let (_, body) = app
        .verify_body(json!({ "key": key, "require": ["api_keys:write"] }))
        .await;
    assert_eq!(body["code"], "VALID");
    let viewer = app.role_id(&ada.pat, &ada.org_id, "viewer").await;
    app.gql(
        &ada.pat,
        "mutation($i: UpdateMemberRoleInput!) { updateMemberRole(input: $i) { id } }",
        json!({ "i": { "memberId": bob_member, "roleId": viewer } }),
    )
    .await
    .data();
    let (_, body) = app
        .verify_body(json!({ "key": key, "require": ["api_keys:write"] }))
        .await;
    assert_eq!(
        body["code"], "INSUFFICIENT_PERMISSIONS",
        "a demotion narrows the key"
    );
    app.gql(
        &ada.pat,
        "mutation($i: RemoveMemberInput!) { removeMember(input: $i) }",
        json!({ "i": { "memberId": bob_member } }),
    )
    .await
    .data();
    let (status, _, body) = app.verify(Header::Bearer, &key).await;
    assert_eq!(
        (status.as_u16(), body["code"].as_str()),
        (401, Some("REVOKED")),
        "removal revokes the member's keys"
    );
    let audit = app
        .gql(&ada.pat, "query($o: ID!) { auditEvents(organizationId: $o, filter: {action: \"member.remove\"}) { nodes { targetName } } }", json!({ "o": ada.org_id }))
        .await
        .data();
    assert_eq!(
        audit["auditEvents"]["nodes"][0]["targetName"],
        "bob@example.com"
    );
    let revoked = app
        .gql(&ada.pat, "query($o: ID!) { auditEvents(organizationId: $o, filter: {action: \"api_key.revoke\"}) { nodes { targetName details } } }", json!({ "o": ada.org_id }))
        .await
        .data();
    assert_eq!(
        revoked["auditEvents"]["nodes"][0]["targetName"], "bob's",
        "{revoked}"
    );
    // An action that does not exist is named as such, not an empty log.
    let unknown = app
        .gql(&ada.pat, "query($o: ID!) { auditEvents(organizationId: $o, filter: {action: \"api_key.explode\"}) { nodes { targetName } } }", json!({ "o": ada.org_id }))
        .await;
    assert_eq!(unknown.error_code(), "INVALID_INPUT");
    assert_eq!(
        unknown.body["errors"][0]["extensions"]["field"],
        "filter.action"
    );
    // Invited back, Bob finds his old key still revoked.
    let _ = join(&app, &ada, &ada.org_id, &bob, "developer").await;
    let (status, _, body) = app.verify(Header::Bearer, &key).await;
    assert_eq!(
        (status.as_u16(), body["code"].as_str()),
        (401, Some("REVOKED"))
    );
    app.finish().await;
}

/// Changing or removing a member needs every permission that member holds: a member
/// manager who cannot write API keys can neither demote nor remove a developer, who can.
async fn changing_a_member_needs_what_they_hold(db: Db) {
    let app = TestApp::spawn(db).await;
    let ada = app.bootstrap("ada@example.com").await;
    let bob = app.bootstrap("bob@example.com").await;
    let carol = app.bootstrap("carol@example.com").await;
    app.gql(
        &ada.pat,
        "mutation($i: CreateRoleInput!) { createRole(input: $i) { id } }",
        json!({ "i": { "organizationId": ada.org_id, "name": "People", "permissions": [
            "organization:read", "projects:read", "members:delete", "invites:read", "roles:read",
            "api_keys:read", "personal_access_tokens:read", "service_accounts:read",
            "audit_log:read", "sessions:read", "usage:read", "settings:read",
        ] } }),
    )
    .await
    .data();
    let _ = join(&app, &ada, &ada.org_id, &bob, "people").await;
    let carol_member = join(&app, &ada, &ada.org_id, &carol, "developer").await;
    let viewer = app.role_id(&ada.pat, &ada.org_id, "viewer").await;
    let demote = app
        .gql(
            &bob.pat,
            "mutation($i: UpdateMemberRoleInput!) { updateMemberRole(input: $i) { id } }",
            json!({ "i": { "memberId": carol_member, "roleId": viewer } }),
        )
        .await;
    assert_eq!(demote.error_code(), "FORBIDDEN", "{:?}", demote.body);
    let remove = app
        .gql(
            &bob.pat,
            "mutation($i: RemoveMemberInput!) { removeMember(input: $i) }",
            json!({ "i": { "memberId": carol_member } }),
        )
        .await;
    assert_eq!(remove.error_code(), "FORBIDDEN", "{:?}", remove.body);
    assert!(
        remove.error_message().contains("api_keys:write"),
        "{}",
        remove.error_message()
    );
    // The owner, who holds everything, can.
    app.gql(
        &ada.pat,
        "mutation($i: RemoveMemberInput!) { removeMember(input: $i) }",
        json!({ "i": { "memberId": carol_member } }),
    )
    .await
    .data();

    // Nor can a role editor narrow a role that grants more than they hold.
    let deployer = app
        .gql(
            &ada.pat,
            "mutation($i: CreateRoleInput!) { createRole(input: $i) { id } }",
            json!({ "i": { "organizationId": ada.org_id, "name": "Deployer", "permissions": ["api_keys:write"] } }),
        )
        .await
        .data()["createRole"]["id"]
        .clone();
    let editor = app.bootstrap("erin@example.com").await;
    app.gql(
        &ada.pat,
        "mutation($i: CreateRoleInput!) { createRole(input: $i) { id } }",
        json!({ "i": { "organizationId": ada.org_id, "name": "Role editor", "permissions": ["roles:write", "api_keys:read"] } }),
    )
    .await
    .data();
    let _ = join(&app, &ada, &ada.org_id, &editor, "role-editor").await;
    let narrowed = app
        .gql(
            &editor.pat,
            "mutation($i: UpdateRoleInput!) { updateRole(input: $i) { id } }",
            json!({ "i": { "id": deployer, "permissions": ["api_keys:read"] } }),
        )
        .await;
    assert_eq!(narrowed.error_code(), "FORBIDDEN", "{:?}", narrowed.body);
    assert!(narrowed.error_message().contains("api_keys:write"));
    app.finish().await;
}

async fn service_accounts_and_their_keys(db: Db) {
    let app = TestApp::spawn(db).await;
    let ada = app.bootstrap("ada@example.com").await;
    let dev = app.role_id(&ada.pat, &ada.org_id, "developer").await;
    let sa = app
        .gql(
            &ada.pat,
            "mutation($i: CreateServiceAccountInput!) { createServiceAccount(input: $i) { id name role { key } disabled } }",
            json!({ "i": { "organizationId": ada.org_id, "name": "deploy-bot", "roleId": dev } }),
        )
        .await
        .data();
    let sa_id = sa["createServiceAccount"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let create_key = "mutation($i: CreateServiceAccountKeyInput!) { createServiceAccountKey(input: $i) { secret apiKey { id kind } } }";
    let over = app
        .gql(
            &ada.pat,
            create_key,
            json!({ "i": { "serviceAccountId": sa_id, "name": "k", "scopes": ["members:write"] } }),
        )
        .await;
    assert_eq!(
        over.error_code(),
        "FORBIDDEN",
        "bounded by the account's role"
    );
    let r = app
        .gql(
            &ada.pat,
            create_key,
            json!({ "i": { "serviceAccountId": sa_id, "name": "ci" } }),
        )
        .await
        .data();
    let secret = r["createServiceAccountKey"]["secret"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(secret.starts_with("kw_sa_"));
    assert_eq!(
        r["createServiceAccountKey"]["apiKey"]["kind"],
        "SERVICE_ACCOUNT_KEY"
    );
    let (status, _, body) = app.verify(Header::XApiKey, &secret).await;
    assert_eq!(status, 200);
    assert_eq!(body["service_account"]["name"], "deploy-bot");
    assert!(body["customer"].is_null());
    assert!(
        body["key"]["scopes"]
            .as_array()
            .unwrap()
            .contains(&json!("api_keys:write"))
    );
    assert!(
        !body["key"]["scopes"]
            .as_array()
            .unwrap()
            .contains(&json!("members:write"))
    );

    // The key acts through GraphQL as the service account.
    let list = app
        .gql(
            &secret,
            "query($o: ID!) { serviceAccounts(organizationId: $o) { nodes { name keys { name } } } }",
            json!({ "o": ada.org_id }),
        )
        .await
        .data();
    assert_eq!(list["serviceAccounts"]["nodes"][0]["keys"][0]["name"], "ci");
    let project = app
        .gql(
            &secret,
            "mutation($i: CreateProjectInput!) { createProject(input: $i) { id } }",
            json!({ "i": { "organizationId": ada.org_id, "name": "P" } }),
        )
        .await;
    assert_eq!(project.error_code(), "FORBIDDEN");

    app.gql(
        &ada.pat,
        "mutation($i: ServiceAccountInput!) { disableServiceAccount(input: $i) { disabled } }",
        json!({ "i": { "id": sa_id } }),
    )
    .await
    .data();
    let (status, _, body) = app.verify(Header::Bearer, &secret).await;
    assert_eq!(
        (status.as_u16(), body["code"].as_str()),
        (401, Some("DISABLED"))
    );
    app.gql(
        &ada.pat,
        "mutation($i: ServiceAccountInput!) { enableServiceAccount(input: $i) { disabled } }",
        json!({ "i": { "id": sa_id } }),
    )
    .await
    .data();
    assert_eq!(app.verify(Header::Bearer, &secret).await.0, 200);

    // Suspending the organization stops its service accounts' keys too.
    let root = app.bootstrap("root@example.com").await;
    let suspend =
        "mutation($i: SuspendOrganizationInput!) { suspendOrganization(input: $i) { suspended } }";
    app.gql(
        &root.pat,
        suspend,
        json!({ "i": { "organizationId": ada.org_id, "reason": "audit" } }),
    )
    .await
    .data();
    let (status, _, body) = app.verify(Header::Bearer, &secret).await;
    assert_eq!(
        (status.as_u16(), body["code"].as_str()),
        (401, Some("SUSPENDED"))
    );
    let unsuspend = "mutation($i: UnsuspendOrganizationInput!) { unsuspendOrganization(input: $i) { suspended } }";
    app.gql(
        &root.pat,
        unsuspend,
        json!({ "i": { "organizationId": ada.org_id } }),
    )
    .await
    .data();
    assert_eq!(app.verify(Header::Bearer, &secret).await.0, 200);
    app.finish().await;
}

async fn pat_lifetime_policy(db: Db) {
    let app = TestApp::spawn(db).await;
    let ada = app.bootstrap("ada@example.com").await;
    let r = app
        .gql(
            &ada.pat,
            "mutation($i: UpdateOrganizationSettingsInput!) { updateOrganizationSettings(input: $i) { patMaxLifetimeDays } }",
            json!({ "i": { "organizationId": ada.org_id, "patMaxLifetimeDays": 30 } }),
        )
        .await
        .data();
    assert_eq!(r["updateOrganizationSettings"]["patMaxLifetimeDays"], 30);
    let list = "query($o: ID!) { apiKeys(organizationId: $o) { totalCount } }";
    let refused = app.gql(&ada.pat, list, json!({ "o": ada.org_id })).await;
    assert_eq!(
        refused.error_code(),
        "FORBIDDEN",
        "a 120-day PAT exceeds the policy"
    );
    assert!(refused.error_message().contains("30 days"));
    let soon = (chrono::Utc::now() + chrono::TimeDelta::days(10)).to_rfc3339();
    let short = app
        .gql(
            &ada.pat,
            "mutation($i: CreatePersonalAccessTokenInput!) { createPersonalAccessToken(input: $i) { secret } }",
            json!({ "i": { "name": "short", "expiresAt": soon } }),
        )
        .await
        .data();
    let short = short["createPersonalAccessToken"]["secret"]
        .as_str()
        .unwrap();
    assert!(
        app.gql(short, list, json!({ "o": ada.org_id }))
            .await
            .body
            .get("errors")
            .is_none()
    );
    app.finish().await;
}

async fn instance_administration(db: Db) {
    let app = TestApp::spawn(db).await;
    let root = app.bootstrap("root@example.com").await;
    let ada = app.bootstrap("ada@example.com").await;
    // Bootstrap makes instance admins; a plain member of another org is not one.
    let bob = app.bootstrap("bob@example.com").await;
    let (_, ada_key) = app
        .create_key(
            &ada.pat,
            json!({ "organizationId": ada.org_id, "name": "ada's key" }),
        )
        .await;

    let users = app
        .gql(
            &root.pat,
            "{ users(search: \"ADA\") { totalCount nodes { id email } } }",
            json!({}),
        )
        .await
        .data();
    assert_eq!(users["users"]["totalCount"], 1);
    let ada_id = users["users"]["nodes"][0]["id"].clone();
    let creds = app
        .gql(
            &root.pat,
            "query($c: ID!) { userCredentials(customerId: $c) { id name kind } }",
            json!({ "c": ada_id }),
        )
        .await
        .data();
    let key = creds["userCredentials"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "ada's key")
        .unwrap()
        .clone();
    let r = app
        .gql(
            &root.pat,
            "mutation($i: AdminRevokeCredentialInput!) { adminRevokeCredential(input: $i) { status } }",
            json!({ "i": { "id": key["id"], "reason": "leaked" } }),
        )
        .await
        .data();
    assert_eq!(r["adminRevokeCredential"]["status"], "REVOKED");
    assert_eq!(
        app.verify(Header::Bearer, &ada_key).await.2["code"],
        "REVOKED"
    );

    // An organization's API key is never an instance admin, even its owner's.
    let (_, root_key) = app
        .create_key(
            &root.pat,
            json!({ "organizationId": root.org_id, "name": "r" }),
        )
        .await;
    let denied = app
        .gql(&root_key, "{ users { totalCount } }", json!({}))
        .await;
    assert_eq!(denied.error_code(), "FORBIDDEN");
    let _ = bob;
    app.finish().await;
}

async fn audit_export_verifies_and_detects_tampering(db: Db) {
    let app = TestApp::spawn(db).await;
    let ada = app.bootstrap("ada@example.com").await;
    for name in ["a", "b", "c"] {
        app.create_key(
            &ada.pat,
            json!({ "organizationId": ada.org_id, "name": name }),
        )
        .await;
    }
    let response = app
        .client
        .get(format!(
            "{}/api/v1/organizations/{}/audit-events/export",
            app.base, ada.org_id
        ))
        .bearer_auth(&ada.pat)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/x-ndjson");
    let body = response.text().await.unwrap();
    let lines: Vec<&str> = body.lines().collect();
    assert_eq!(lines.len(), 6, "five events and the signed head");
    let first: Value = serde_json::from_str(lines[0]).unwrap();
    assert_eq!(first["seq"], 1);
    assert!(first["hash"].is_string() && first["prev_hash"].is_string());
    let head: Value = serde_json::from_str(lines[5]).unwrap();
    assert_eq!(head["chain_head"]["chain"], format!("org:{}", ada.org_id));
    assert_eq!(head["chain_head"]["seq"], 5);

    // `audit-verify` with the server's own key, read from its database.
    let dir = tempfile::tempdir().unwrap();
    let database_url = app.database_url.clone();
    let check_with = |content: String, key: Option<&str>| {
        let path = dir
            .path()
            .join(format!("export-{}.jsonl", uuid::Uuid::new_v4()));
        std::fs::write(&path, content).unwrap();
        let cli = <backend::config::Cli as clap::Parser>::try_parse_from([
            "keyward-server",
            "audit-verify",
            path.to_str().unwrap(),
        ])
        .unwrap();
        let mut config = backend::config::Config::for_tests(&database_url);
        config.audit_key = key.map(backend::config::Secret::new);
        async move {
            let mut out = Vec::new();
            backend::cli::run(cli.command.unwrap(), config, &mut out)
                .await
                .map(|_| String::from_utf8(out).unwrap())
        }
    };
    let check = |content: String| check_with(content, None);
    let ok = check(body.clone()).await.unwrap();
    assert!(ok.contains("5 events") && ok.contains("signed"), "{ok}");
    let joined = |kept: &[&str]| kept.iter().map(|l| format!("{l}\n")).collect::<String>();

    // Cut from the end, head kept: the missing events are named.
    let cut = check(joined(&[lines[0], lines[1], lines[2], lines[5]]))
        .await
        .unwrap_err();
    assert!(cut.contains("events 4 to 5 are missing"), "{cut}");
    // Cut with its head, emptied, or with a forged head: refused.
    let unsigned = check(joined(&lines[..5])).await.unwrap_err();
    assert!(unsigned.contains("no signed chain head"), "{unsigned}");
    let empty = check(String::new()).await.unwrap_err();
    assert!(empty.contains("empty"), "{empty}");
    // (A head moved back to seq 3 to hide events 4 and 5 keeps its old signature.)
    let third: Value = serde_json::from_str(lines[2]).unwrap();
    let mut moved = head.clone();
    moved["chain_head"]["seq"] = json!(3);
    moved["chain_head"]["hash"] = third["hash"].clone();
    let moved = moved.to_string();
    let forged = check(joined(&[lines[0], lines[1], lines[2], &moved]))
        .await
        .unwrap_err();
    assert!(forged.contains("signature does not match"), "{forged}");
    // Another server's key does not vouch for this export.
    let other = check_with(body.clone(), Some("another-server-s-audit-key-0123456789"))
        .await
        .unwrap_err();
    assert!(other.contains("signature does not match"), "{other}");
    // Checking against a database that holds no key says so; it makes none.
    let elsewhere = dir.path().join("elsewhere.db");
    let mut config =
        backend::config::Config::for_tests(&format!("sqlite://{}?mode=rwc", elsewhere.display()));
    config.audit_key = None;
    let path = dir.path().join("export-elsewhere.jsonl");
    std::fs::write(&path, &body).unwrap();
    let cli = <backend::config::Cli as clap::Parser>::try_parse_from([
        "keyward-server",
        "audit-verify",
        path.to_str().unwrap(),
    ])
    .unwrap();
    let mut out = Vec::new();
    let none = backend::cli::run(cli.command.unwrap(), config, &mut out)
        .await
        .unwrap_err();
    assert!(
        none.contains("no audit key is configured or stored"),
        "{none}"
    );
    let edited = body
        .replacen("\"name\":\"b\"", "\"name\":\"B\"", 1)
        .replacen("\"target_name\":\"b\"", "\"target_name\":\"B\"", 1);
    assert_ne!(edited, body);
    assert!(check(edited).await.unwrap_err().contains("breaks at seq"));
    let removed: String = lines
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != 2)
        .map(|(_, l)| format!("{l}\n"))
        .collect();
    assert!(check(removed).await.unwrap_err().contains("breaks at seq"));

    let stranger = app.bootstrap("eve@example.com").await;
    let denied = app
        .client
        .get(format!(
            "{}/api/v1/organizations/{}/audit-events/export",
            app.base, ada.org_id
        ))
        .bearer_auth(&stranger.pat)
        .send()
        .await
        .unwrap();
    assert_eq!(denied.status(), 403);
    let problem: Value = denied.json().await.unwrap();
    assert_eq!(problem["code"], "NOT_A_MEMBER");

    // The instance chain (personal access tokens, device approvals, instance
    // administration) is exported and checked the same way, by instance admins only.
    app.gql(
        &ada.pat,
        "mutation($i: CreatePersonalAccessTokenInput!) { createPersonalAccessToken(input: $i) { secret } }",
        json!({ "i": { "name": "laptop" } }),
    )
    .await
    .data();
    let export_instance = |token: String| {
        app.client
            .get(format!("{}/api/v1/audit-events/export", app.base))
            .bearer_auth(token)
            .send()
    };
    let instance = export_instance(ada.pat.clone()).await.unwrap();
    assert_eq!(instance.status(), 200);
    let instance = instance.text().await.unwrap();
    assert!(
        instance.contains("personal_access_token.create"),
        "{instance}"
    );
    let last: Value = serde_json::from_str(instance.lines().last().unwrap()).unwrap();
    assert_eq!(last["chain_head"]["chain"], "instance");
    let ok = check(instance).await.unwrap();
    assert!(ok.contains("instance seq"), "{ok}");
    let member = app.user("mallory@example.com").await;
    let refused = export_instance(member.pat).await.unwrap();
    assert_eq!(refused.status(), 403);
    app.finish().await;
}

/// Each built-in role against operations of every level: allowed or `FORBIDDEN`.
async fn role_operation_matrix(db: Db) {
    let app = TestApp::spawn(db).await;
    let ada = app.bootstrap("ada@example.com").await;
    let mut members = Vec::new();
    for key in ["admin", "developer", "viewer"] {
        let who = app.bootstrap(&format!("{key}@example.com")).await;
        join(&app, &ada, &ada.org_id, &who, key).await;
        members.push((key, who));
    }
    let org = ada.org_id.clone();
    let viewer_role = app.role_id(&ada.pat, &org, "viewer").await;
    // (operation, variables, owner, admin, developer, viewer)
    let cases: Vec<(&str, Value, [bool; 4])> = vec![
        (
            "query($o: ID!) { apiKeys(organizationId: $o) { totalCount } }",
            json!({ "o": org }),
            [true, true, true, true],
        ),
        (
            "query($o: ID!) { members(organizationId: $o) { nodes { id } } }",
            json!({ "o": org }),
            [true, true, true, true],
        ),
        (
            "query($o: ID!) { auditEvents(organizationId: $o) { totalCount } }",
            json!({ "o": org }),
            [true, true, true, true],
        ),
        (
            "mutation($i: CreateApiKeyInput!) { createApiKey(input: $i) { secret } }",
            json!({ "i": { "organizationId": org, "name": "m" } }),
            [true, true, true, false],
        ),
        (
            "mutation($i: CreateServiceAccountInput!) { createServiceAccount(input: $i) { id } }",
            json!({ "i": { "organizationId": org, "name": "sa-ROLE", "roleId": viewer_role } }),
            [true, true, true, false],
        ),
        (
            "mutation($i: CreateProjectInput!) { createProject(input: $i) { id } }",
            json!({ "i": { "organizationId": org, "name": "p-ROLE" } }),
            [true, true, false, false],
        ),
        (
            "mutation($i: InviteMemberInput!) { inviteMember(input: $i) { id } }",
            json!({ "i": { "organizationId": org, "email": "new-ROLE@example.com", "roleId": viewer_role } }),
            [true, true, false, false],
        ),
        (
            "mutation($i: CreateRoleInput!) { createRole(input: $i) { id } }",
            json!({ "i": { "organizationId": org, "name": "r-ROLE", "permissions": ["usage:read"] } }),
            [true, true, false, false],
        ),
        (
            "mutation($i: UpdateOrganizationSettingsInput!) { updateOrganizationSettings(input: $i) { id } }",
            json!({ "i": { "organizationId": org, "rateLimitPerMinute": 1000 } }),
            [true, true, false, false],
        ),
        (
            "mutation($i: RenameOrganizationInput!) { renameOrganization(input: $i) { id } }",
            json!({ "i": { "id": org, "name": "Acme" } }),
            [true, true, false, false],
        ),
    ];
    let actors: Vec<(&str, &str)> = std::iter::once(("owner", ada.pat.as_str()))
        .chain(members.iter().map(|(k, a)| (*k, a.pat.as_str())))
        .collect();
    for (query, vars, allowed) in &cases {
        for ((role, token), allow) in actors.iter().zip(allowed) {
            let vars: Value =
                serde_json::from_str(&vars.to_string().replace("ROLE", role)).unwrap();
            let r = app.gql(token, query, vars).await;
            if *allow {
                assert!(
                    r.body.get("errors").is_none(),
                    "{role} should be allowed: {query}: {}",
                    r.body
                );
            } else {
                assert_eq!(
                    r.error_code(),
                    "FORBIDDEN",
                    "{role} should be refused: {query}"
                );
            }
        }
    }
    // Deleting keys needs `api_keys:delete`: owners and admins only.
    for ((role, token), allow) in actors.iter().zip([true, true, false, false]) {
        let (id, _) = app
            .create_key(
                &ada.pat,
                json!({ "organizationId": org, "name": format!("del-{role}") }),
            )
            .await;
        let r = app
            .gql(
                token,
                "mutation($i: RevokeApiKeyInput!) { revokeApiKey(input: $i) { status } }",
                json!({ "i": { "id": id } }),
            )
            .await;
        assert_eq!(r.body.get("errors").is_none(), allow, "{role}: {}", r.body);
    }
    app.finish().await;
}

//! REST management beyond keys and identities (SPEC §4.4): organizations, members,
//! invites, roles, service accounts and PATs, through the same domain calls as GraphQL,
//! with cursor pages, problem+json, fields named as the bodies name them, and another
//! organization's items not found.

use reqwest::Method;
use serde_json::{Value, json};
use tests::{Db, TestApp};

db_tests!(
    members_invites_and_roles_over_rest,
    service_accounts_and_pats_over_rest,
    rest_refuses_other_organizations_and_bad_bodies,
);

/// Every item of every page of `path`, following `next_cursor` with `limit`.
async fn all_pages(app: &TestApp, path: &str, token: &str, limit: u32) -> Vec<Value> {
    let mut items = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let sep = if path.contains('?') { '&' } else { '?' };
        let page_path = match &cursor {
            Some(c) => format!("{path}{sep}limit={limit}&cursor={c}"),
            None => format!("{path}{sep}limit={limit}"),
        };
        let (status, page) = app.rest(Method::GET, &page_path, token, None).await;
        assert_eq!(status, 200, "{page_path}: {page}");
        items.extend(page["items"].as_array().unwrap().iter().cloned());
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => return items,
        }
    }
}

async fn members_invites_and_roles_over_rest(db: Db) {
    let app = TestApp::spawn(db).await;
    let ada = app.bootstrap("ada@example.com").await;
    let bob = app.bootstrap("bob@example.com").await;
    let org = &ada.org_id;

    // Organizations: a new one with its default project, listed and read.
    let (status, made) = app
        .rest(
            Method::POST,
            "/orgs",
            &ada.pat,
            Some(json!({ "name": "Second" })),
        )
        .await;
    assert_eq!(status, 201, "{made}");
    assert_eq!(made["organization"]["name"], "Second");
    assert_eq!(
        made["project"]["organization_id"],
        made["organization"]["id"]
    );
    let (_, listed) = app.rest(Method::GET, "/orgs", &ada.pat, None).await;
    let names: Vec<&str> = listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["name"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"Second"), "{listed}");
    let (status, one) = app
        .rest(Method::GET, &format!("/orgs/{org}"), &ada.pat, None)
        .await;
    assert_eq!((status, &one["id"]), (200, &json!(org)));

    // Roles: the built-in four, and a custom one made, changed and deleted.
    let roles = all_pages(&app, &format!("/orgs/{org}/roles"), &ada.pat, 2).await;
    let keys: Vec<&str> = roles.iter().map(|r| r["key"].as_str().unwrap()).collect();
    for builtin in ["owner", "admin", "developer", "viewer"] {
        assert!(keys.contains(&builtin), "{keys:?}");
    }
    let developer = roles.iter().find(|r| r["key"] == "developer").unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, auditor) = app
        .rest(
            Method::POST,
            &format!("/orgs/{org}/roles"),
            &ada.pat,
            Some(json!({ "name": "Auditor", "permissions": ["audit_log:read"] })),
        )
        .await;
    assert_eq!(status, 201, "{auditor}");
    assert_eq!(auditor["permissions"], json!(["audit_log:read"]));
    let auditor_id = auditor["id"].as_str().unwrap().to_owned();
    let (status, changed) = app
        .rest(
            Method::PATCH,
            &format!("/orgs/{org}/roles/{auditor_id}"),
            &ada.pat,
            Some(json!({ "description": "Reads the log", "permissions": ["audit_log:read", "members:read"] })),
        )
        .await;
    assert_eq!(status, 200, "{changed}");
    assert_eq!(changed["description"], "Reads the log");
    assert_eq!(changed["name"], "Auditor", "what is not given stays");
    assert_eq!(
        changed["permissions"].as_array().unwrap().len(),
        2,
        "{changed}"
    );

    // Invites: made, seen by the invitee, accepted.
    let (status, invite) = app
        .rest(
            Method::POST,
            &format!("/orgs/{org}/invites"),
            &ada.pat,
            Some(json!({ "email": bob.email, "role_id": auditor_id })),
        )
        .await;
    assert_eq!(status, 201, "{invite}");
    assert_eq!(
        (&invite["status"], &invite["role"]["key"]),
        (&json!("pending"), &json!("auditor"))
    );
    let invite_id = invite["id"].as_str().unwrap().to_owned();
    let (_, open) = app
        .rest(Method::GET, &format!("/orgs/{org}/invites"), &ada.pat, None)
        .await;
    assert_eq!(open["items"][0]["id"], json!(invite_id));
    let mine = all_pages(&app, "/invites", &bob.pat, 10).await;
    assert_eq!(mine.len(), 1);
    assert_eq!(mine[0]["organization_name"], one["name"]);
    // Ada cannot answer Bob's invite.
    let (status, _) = app
        .rest(
            Method::POST,
            &format!("/invites/{invite_id}/accept"),
            &ada.pat,
            None,
        )
        .await;
    assert!(status == 403 || status == 404, "{status}");
    let (status, accepted) = app
        .rest(
            Method::POST,
            &format!("/invites/{invite_id}/accept"),
            &bob.pat,
            None,
        )
        .await;
    assert_eq!((status, &accepted["status"]), (200, &json!("accepted")));
    // A role someone holds cannot be deleted.
    let (status, problem) = app
        .rest(
            Method::DELETE,
            &format!("/orgs/{org}/roles/{auditor_id}"),
            &ada.pat,
            None,
        )
        .await;
    assert_eq!(status, 409, "{problem}");

    // Members: Bob listed with his role; his role changed; Bob removed.
    let members = all_pages(&app, &format!("/orgs/{org}/members"), &ada.pat, 1).await;
    assert_eq!(members.len(), 2, "paged one at a time to the end");
    let bob_member = members
        .iter()
        .find(|m| m["user"]["email"] == json!(bob.email))
        .unwrap();
    assert_eq!(bob_member["role"]["key"], "auditor");
    let member_id = bob_member["id"].as_str().unwrap().to_owned();
    // Bob reads the log now; he may not manage members.
    let (status, _) = app
        .rest(
            Method::PATCH,
            &format!("/orgs/{org}/members/{member_id}"),
            &bob.pat,
            Some(json!({ "role_id": developer })),
        )
        .await;
    assert_eq!(status, 403);
    let (status, promoted) = app
        .rest(
            Method::PATCH,
            &format!("/orgs/{org}/members/{member_id}"),
            &ada.pat,
            Some(json!({ "role_id": developer })),
        )
        .await;
    assert_eq!(
        (status, &promoted["role"]["key"]),
        (200, &json!("developer"))
    );
    // The last owner cannot leave.
    let (status, problem) = app
        .rest(Method::POST, &format!("/orgs/{org}/leave"), &ada.pat, None)
        .await;
    assert_eq!(status, 409, "{problem}");
    let (status, _) = app
        .rest(
            Method::DELETE,
            &format!("/orgs/{org}/members/{member_id}"),
            &ada.pat,
            None,
        )
        .await;
    assert_eq!(status, 204);
    let members = all_pages(&app, &format!("/orgs/{org}/members"), &ada.pat, 50).await;
    assert_eq!(members.len(), 1);
    let (status, _) = app
        .rest(
            Method::DELETE,
            &format!("/orgs/{org}/roles/{auditor_id}"),
            &ada.pat,
            None,
        )
        .await;
    assert_eq!(status, 204, "no one holds it any more");

    // A second invite, withdrawn; then declined is refused as not open.
    let (_, invite) = app
        .rest(
            Method::POST,
            &format!("/orgs/{org}/invites"),
            &ada.pat,
            Some(json!({ "email": bob.email, "role_id": developer })),
        )
        .await;
    let invite_id = invite["id"].as_str().unwrap().to_owned();
    let (status, revoked) = app
        .rest(
            Method::POST,
            &format!("/orgs/{org}/invites/{invite_id}/revoke"),
            &ada.pat,
            None,
        )
        .await;
    assert_eq!((status, &revoked["status"]), (200, &json!("revoked")));
    let (status, _) = app
        .rest(
            Method::POST,
            &format!("/invites/{invite_id}/decline"),
            &bob.pat,
            None,
        )
        .await;
    assert!(status == 404 || status == 409, "{status}");
    app.finish().await;
}

async fn service_accounts_and_pats_over_rest(db: Db) {
    let app = TestApp::spawn(db).await;
    let ada = app.bootstrap("ada@example.com").await;
    let org = &ada.org_id;
    let developer = app.role_id(&ada.pat, org, "developer").await;

    let (status, account) = app
        .rest(
            Method::POST,
            &format!("/orgs/{org}/service-accounts"),
            &ada.pat,
            Some(json!({ "name": "ci", "description": "Deploys", "role_id": developer })),
        )
        .await;
    assert_eq!(status, 201, "{account}");
    assert_eq!(
        (&account["role"]["key"], &account["disabled"]),
        (&json!("developer"), &json!(false))
    );
    let id = account["id"].as_str().unwrap().to_owned();
    let (status, made) = app
        .rest(
            Method::POST,
            &format!("/orgs/{org}/service-accounts/{id}/keys"),
            &ada.pat,
            Some(json!({ "name": "deploy", "scopes": ["api_keys:read"] })),
        )
        .await;
    assert_eq!(status, 201, "{made}");
    let secret = made["secret"].as_str().unwrap().to_owned();
    assert_eq!(made["key"]["scopes"], json!(["api_keys:read"]));
    let (_, answer) = app.verify_body(json!({ "key": secret })).await;
    assert_eq!(answer["valid"], true, "{answer}");
    let accounts = all_pages(&app, &format!("/orgs/{org}/service-accounts"), &ada.pat, 10).await;
    assert_eq!(accounts.len(), 1);
    assert_eq!(accounts[0]["keys"][0]["name"], "deploy");

    // Disabled: its keys stop at once; enabled: they work again.
    let (status, off) = app
        .rest(
            Method::POST,
            &format!("/orgs/{org}/service-accounts/{id}/disable"),
            &ada.pat,
            None,
        )
        .await;
    assert_eq!((status, &off["disabled"]), (200, &json!(true)));
    let (_, answer) = app.verify_body(json!({ "key": secret })).await;
    assert_eq!(answer["valid"], false, "{answer}");
    let (status, on) = app
        .rest(
            Method::POST,
            &format!("/orgs/{org}/service-accounts/{id}/enable"),
            &ada.pat,
            None,
        )
        .await;
    assert_eq!((status, &on["disabled"]), (200, &json!(false)));
    let (_, answer) = app.verify_body(json!({ "key": secret })).await;
    assert_eq!(answer["valid"], true, "{answer}");

    // PATs: made (secret once), listed, revoked; the revoked one is refused.
    let (status, pat) = app
        .rest(
            Method::POST,
            "/pats",
            &ada.pat,
            Some(json!({ "name": "laptop", "scopes": ["organization:read"] })),
        )
        .await;
    assert_eq!(status, 201, "{pat}");
    let pat_secret = pat["secret"].as_str().unwrap().to_owned();
    let pat_id = pat["pat"]["id"].as_str().unwrap().to_owned();
    assert_eq!(pat["pat"]["status"], "active");
    let (status, _) = app.rest(Method::GET, "/orgs", &pat_secret, None).await;
    assert_eq!(status, 200, "the new PAT works");
    // It is told what it may do there: its scope, not its owner's role.
    let (status, access) = app
        .rest(
            Method::GET,
            &format!("/orgs/{org}/access"),
            &pat_secret,
            None,
        )
        .await;
    assert_eq!(status, 200, "{access}");
    assert_eq!(access["permissions"], json!(["organization:read"]));
    assert_eq!(access["owner"], true);
    let (_, full) = app
        .rest(Method::GET, &format!("/orgs/{org}/access"), &ada.pat, None)
        .await;
    let full = full["permissions"].as_array().unwrap();
    assert!(full.contains(&json!("api_keys:admin")) && full.contains(&json!("api_keys:read")));
    // A narrow PAT cannot make a wider one.
    let (status, _) = app
        .rest(
            Method::POST,
            "/pats",
            &pat_secret,
            Some(json!({ "name": "wider" })),
        )
        .await;
    assert_eq!(status, 403);
    let pats = all_pages(&app, "/pats", &ada.pat, 1).await;
    assert!(pats.iter().any(|p| p["id"] == json!(pat_id)), "{pats:?}");
    assert!(
        pats.iter().all(|p| p.get("secret").is_none()),
        "a listed PAT never shows its secret"
    );
    let (status, revoked) = app
        .rest(
            Method::POST,
            &format!("/pats/{pat_id}/revoke"),
            &ada.pat,
            Some(json!({ "reason": "lost laptop" })),
        )
        .await;
    assert_eq!((status, &revoked["status"]), (200, &json!("revoked")));
    let (status, _) = app.rest(Method::GET, "/orgs", &pat_secret, None).await;
    assert_eq!(status, 401);
    app.finish().await;
}

async fn rest_refuses_other_organizations_and_bad_bodies(db: Db) {
    let app = TestApp::spawn(db).await;
    let ada = app.bootstrap("ada@example.com").await;
    let eve = app.user("eve@example.com").await;
    let org = &ada.org_id;
    let developer = app.role_id(&ada.pat, org, "developer").await;
    let (_, role) = app
        .rest(
            Method::POST,
            &format!("/orgs/{org}/roles"),
            &ada.pat,
            Some(json!({ "name": "Reader", "permissions": ["api_keys:read"] })),
        )
        .await;
    let role_id = role["id"].as_str().unwrap().to_owned();
    let (_, account) = app
        .rest(
            Method::POST,
            &format!("/orgs/{org}/service-accounts"),
            &ada.pat,
            Some(json!({ "name": "ci", "role_id": developer })),
        )
        .await;
    let account_id = account["id"].as_str().unwrap().to_owned();
    let (_, invite) = app
        .rest(
            Method::POST,
            &format!("/orgs/{org}/invites"),
            &ada.pat,
            Some(json!({ "email": "carol@example.com", "role_id": developer })),
        )
        .await;
    let invite_id = invite["id"].as_str().unwrap().to_owned();
    let ada_member = app.member_id(&ada.pat, org, &ada.email).await;

    // Eve names Ada's items under her own organization, and Ada's organization: each is
    // not found (or forbidden), and nothing changes.
    let eve_org = &eve.org_id;
    for (method, path, body) in [
        (
            Method::PATCH,
            format!("/orgs/{eve_org}/roles/{role_id}"),
            json!({ "name": "Mine" }),
        ),
        (
            Method::DELETE,
            format!("/orgs/{eve_org}/roles/{role_id}"),
            Value::Null,
        ),
        (
            Method::POST,
            format!("/orgs/{eve_org}/service-accounts/{account_id}/keys"),
            json!({ "name": "stolen" }),
        ),
        (
            Method::POST,
            format!("/orgs/{eve_org}/service-accounts/{account_id}/disable"),
            Value::Null,
        ),
        (
            Method::POST,
            format!("/orgs/{eve_org}/invites/{invite_id}/revoke"),
            Value::Null,
        ),
        (
            Method::DELETE,
            format!("/orgs/{eve_org}/members/{ada_member}"),
            Value::Null,
        ),
        (
            Method::PATCH,
            format!("/orgs/{org}/roles/{role_id}"),
            json!({ "name": "Mine" }),
        ),
        (
            Method::POST,
            format!("/orgs/{org}/service-accounts/{account_id}/keys"),
            json!({ "name": "stolen" }),
        ),
        (Method::GET, format!("/orgs/{org}/members"), Value::Null),
        (Method::GET, format!("/orgs/{org}"), Value::Null),
    ] {
        let body = (!body.is_null()).then_some(body);
        let (status, problem) = app.rest(method.clone(), &path, &eve.pat, body).await;
        assert!(
            status == 404 || status == 403,
            "{method} {path}: {status} {problem}"
        );
    }
    let (_, after) = app
        .rest(Method::GET, &format!("/orgs/{org}/roles"), &ada.pat, None)
        .await;
    assert!(
        after["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["name"] == "Reader"),
        "{after}"
    );
    let (_, invites) = app
        .rest(Method::GET, &format!("/orgs/{org}/invites"), &ada.pat, None)
        .await;
    assert_eq!(invites["items"][0]["status"], "pending");

    // Bad bodies and queries are problems naming the member, snake_case, never `input.`.
    for (method, path, body, field) in [
        (
            Method::POST,
            format!("/orgs/{org}/roles"),
            json!({ "name": "", "permissions": [] }),
            "name",
        ),
        (
            Method::POST,
            format!("/orgs/{org}/roles"),
            json!({ "name": "x", "permissions": ["nope"] }),
            "permissions",
        ),
        (
            Method::POST,
            format!("/orgs/{org}/invites"),
            json!({ "email": "not-an-address", "role_id": developer }),
            "email",
        ),
        (
            Method::POST,
            format!("/orgs/{org}/invites"),
            json!({ "email": "x@example.com", "role_id": "nope" }),
            "role_id",
        ),
        (
            Method::POST,
            format!("/orgs/{org}/service-accounts"),
            json!({ "name": "x", "role_id": developer, "extra": 1 }),
            "extra",
        ),
        (
            Method::PATCH,
            format!("/orgs/{org}/members/{ada_member}"),
            json!({ "role_id": [1] }),
            "role_id",
        ),
        (
            Method::POST,
            "/pats".to_owned(),
            json!({ "name": "x", "expires_at": "2000-01-01T00:00:00Z" }),
            "expires_at",
        ),
        (
            Method::GET,
            format!("/orgs/{org}/members?limit=0"),
            Value::Null,
            "limit",
        ),
        (
            Method::GET,
            format!("/orgs/{org}/members?cursor=nope"),
            Value::Null,
            "cursor",
        ),
    ] {
        let body = (!body.is_null()).then_some(body);
        let (status, problem) = app.rest(method.clone(), &path, &ada.pat, body).await;
        assert_eq!(status, 400, "{method} {path}: {problem}");
        assert_eq!(problem["code"], "INVALID_INPUT", "{problem}");
        assert_eq!(problem["field"], field, "{method} {path}: {problem}");
        assert!(
            !problem["detail"].as_str().unwrap().contains("input."),
            "{problem}"
        );
    }
    app.finish().await;
}

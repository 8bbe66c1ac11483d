//! What callers read, pinned: the verify answers, problem+json bodies and GraphQL error
//! messages, as insta snapshots with ids, secrets and times redacted. A change to any of
//! them is a change to the contract and shows up in review.

use insta::assert_json_snapshot;
use serde_json::{Value, json};
use tests::{Db, Header, TestApp};

db_tests!(answers_read_as_documented);

/// Replaces what differs between runs: ids, secrets, prefixes, times, request ids.
fn stable(mut v: Value) -> Value {
    fn walk(v: &mut Value, key: &str) {
        match v {
            Value::Object(map) => {
                for (k, child) in map.iter_mut() {
                    walk(child, k);
                }
            }
            Value::Array(items) => items.iter_mut().for_each(|i| walk(i, key)),
            Value::String(s) => {
                let volatile = matches!(
                    key,
                    "id" | "request_id"
                        | "prefix"
                        | "created_at"
                        | "expires_at"
                        | "namespace"
                        | "slug"
                        | "secret"
                        | "reset"
                );
                if volatile {
                    *s = format!("[{key}]");
                } else if key == "email" || key == "name" {
                    // Kept: they are the test's own.
                } else if uuid::Uuid::parse_str(s).is_ok() {
                    *s = "[uuid]".into();
                }
            }
            Value::Number(_) if key == "reset" || key == "remaining" => {
                *v = json!(format!("[{key}]"));
            }
            _ => {}
        }
    }
    walk(&mut v, "");
    v
}

async fn answers_read_as_documented(db: Db) {
    let app = TestApp::spawn(db).await;
    let owner = app.user("owner@example.com").await;
    let viewer = app.user("viewer@example.com").await;
    let (_, secret) = app
        .create_key(
            &owner.pat,
            json!({ "organizationId": owner.org_id, "name": "billing", "scopes": ["api_keys:read", "usage:read"] }),
        )
        .await;

    // Verify, GET: a valid key, then every kind of refusal.
    let (status, _, body) = app.verify(Header::Bearer, &secret).await;
    assert_eq!(status, 200);
    assert_json_snapshot!("verify_valid", stable(body));
    let mut refusals = serde_json::Map::new();
    for (name, token) in [
        ("malformed", "kw_sk_live_nope".to_owned()),
        (
            "not_found",
            // The last character changed, always to a different one.
            format!(
                "{}{}",
                &secret[..secret.len() - 1],
                if secret.ends_with('A') { 'B' } else { 'A' }
            ),
        ),
    ] {
        let (status, headers, body) = app.verify(Header::Bearer, &token).await;
        refusals.insert(
            name.into(),
            json!({
                "status": status.as_u16(),
                "www-authenticate": headers.get("www-authenticate").map(|h| h.to_str().unwrap()),
                "body": stable(body),
            }),
        );
    }
    let missing = app
        .client
        .get(format!("{}/api/v1/api-keys/verify", app.base))
        .send()
        .await
        .unwrap();
    refusals.insert(
        "missing".into(),
        json!({
            "status": missing.status().as_u16(),
            "www-authenticate": missing.headers().get("www-authenticate").map(|h| h.to_str().unwrap().to_owned()),
            "body": stable(missing.json().await.unwrap()),
        }),
    );
    assert_json_snapshot!("verify_refusals", Value::Object(refusals));

    // Verify, POST: enough permissions, too few, and a key that does not exist.
    let (_, valid) = app
        .verify_body(json!({ "key": secret, "require": ["api_keys:read"] }))
        .await;
    let (_, short) = app
        .verify_body(json!({ "key": secret, "require": ["api_keys:write", "usage:read"] }))
        .await;
    let (_, unknown) = app.verify_body(json!({ "key": "kw_sk_live_x" })).await;
    let (status, invalid) = app
        .verify_body(json!({ "key": secret, "require": ["api_keys"] }))
        .await;
    assert_eq!(status, 400);
    assert_json_snapshot!(
        "verify_checks",
        json!({
            "valid": stable(valid),
            "insufficient": stable(short),
            "malformed": stable(unknown),
            "bad_request": stable(invalid),
        })
    );

    // REST problem+json: a stranger exporting another organization's audit log.
    let export = app
        .client
        .get(format!(
            "{}/api/v1/organizations/{}/audit-events/export",
            app.base, owner.org_id
        ))
        .bearer_auth(&viewer.pat)
        .send()
        .await
        .unwrap();
    assert_eq!(export.headers()["content-type"], "application/problem+json");
    assert_json_snapshot!("problem_not_a_member", stable(export.json().await.unwrap()));

    // GraphQL errors: codes and sentences.
    let mut errors = serde_json::Map::new();
    let narrow = app
        .gql(
            &owner.pat,
            "mutation { createPersonalAccessToken(input: { name: \"n\", scopes: [\"api_keys:read\"] }) { secret } }",
            json!({}),
        )
        .await
        .data()["createPersonalAccessToken"]["secret"]
        .as_str()
        .unwrap()
        .to_owned();
    let bomb = tests::fragment_bomb(20);
    let cases: Vec<(&str, &str, &str, Value)> = vec![
        (
            "missing_permission",
            narrow.as_str(),
            "mutation($o: ID!) { createApiKey(input: { organizationId: $o, name: \"k\" }) { secret } }",
            json!({ "o": owner.org_id }),
        ),
        (
            "not_a_member",
            viewer.pat.as_str(),
            "query($o: ID!) { members(organizationId: $o) { nodes { id } } }",
            json!({ "o": owner.org_id }),
        ),
        (
            "not_found",
            viewer.pat.as_str(),
            "query($k: ID!) { apiKey(id: $k) { id } }",
            json!({ "k": uuid::Uuid::nil() }),
        ),
        (
            "invalid_input",
            owner.pat.as_str(),
            "mutation($o: ID!) { createApiKey(input: { organizationId: $o, name: \"  \" }) { secret } }",
            json!({ "o": owner.org_id }),
        ),
        (
            "invalid_id",
            owner.pat.as_str(),
            "query { organization(id: \"nope\") { id } }",
            json!({}),
        ),
        (
            "scoped_instance_admin",
            narrow.as_str(),
            "{ users { totalCount } }",
            json!({}),
        ),
        (
            "key_for_a_user",
            secret.as_str(),
            "{ sessions { nodes { id } } }",
            json!({}),
        ),
        (
            "unknown_field",
            owner.pat.as_str(),
            "{ nothingHere }",
            json!({}),
        ),
        ("too_complex", owner.pat.as_str(), &bomb, json!({})),
    ];
    for (name, token, query, variables) in &cases {
        let r = app.gql(token, query, variables.clone()).await;
        errors.insert(
            (*name).into(),
            json!({ "status": r.status.as_u16(), "errors": stable(r.body["errors"].clone()) }),
        );
    }
    // The owner role, handed out by an admin.
    let admin = app.user("admin@example.com").await;
    let roles = app
        .gql(
            &owner.pat,
            "query($o: ID!) { roles(organizationId: $o) { nodes { id key } } }",
            json!({ "o": owner.org_id }),
        )
        .await
        .data();
    let role = |key: &str| {
        roles["roles"]["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["key"] == key)
            .unwrap()["id"]
            .clone()
    };
    let invite = app
        .gql(
            &owner.pat,
            "mutation($i: InviteMemberInput!) { inviteMember(input: $i) { id } }",
            json!({ "i": { "organizationId": owner.org_id, "email": admin.email, "roleId": role("admin") } }),
        )
        .await
        .data();
    app.gql(
        &admin.pat,
        "mutation($i: InviteInput!) { acceptInvite(input: $i) { id } }",
        json!({ "i": { "id": invite["inviteMember"]["id"] } }),
    )
    .await
    .data();
    let r = app
        .gql(
            &admin.pat,
            "mutation($i: InviteMemberInput!) { inviteMember(input: $i) { id } }",
            json!({ "i": { "organizationId": owner.org_id, "email": "boss@example.com", "roleId": role("owner") } }),
        )
        .await;
    errors.insert(
        "owner_role_from_a_non_owner".into(),
        json!({ "status": r.status.as_u16(), "errors": stable(r.body["errors"].clone()) }),
    );
    // A cookie-authenticated change from another origin.
    let (customer, org, project) = {
        let me = app
            .gql(&owner.pat, "{ me { user { id } } }", json!({}))
            .await
            .data();
        (
            me["me"]["user"]["id"].as_str().unwrap().parse().unwrap(),
            owner.org_id.parse().unwrap(),
            owner.project_id.parse().unwrap(),
        )
    };
    let cookie = app.session_cookie(customer, org, project).await;
    let cross: Value = app
        .client
        .post(format!("{}/graphql", app.base))
        .header("cookie", cookie)
        .header("origin", "https://evil.example")
        .json(&json!({ "query": "mutation { createOrganization(input: { name: \"x\" }) { organization { id } } }" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    errors.insert("cross_origin".into(), stable(cross));
    assert_json_snapshot!("graphql_errors", Value::Object(errors));
    app.finish().await;
}

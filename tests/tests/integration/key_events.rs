//! The key event stream (SPEC §16): `GET /api/v1/keys/events` tells a product which keys
//! to drop from its cache, resumes after `Last-Event-ID`, follows only what its credential
//! may read, and ends when that credential is revoked. On PostgreSQL a change made on
//! another node reaches the stream too.

use std::time::Duration;

use keyward_verify::{StreamEvent, take_events};
use serde_json::{Value, json};
use tests::{Db, TestApp};

db_tests!(
    changes_of_keys_reach_a_follower,
    a_follower_resumes_after_its_last_event,
    only_a_credential_that_may_read_keys_follows,
    a_project_key_hears_only_of_its_project,
    the_stream_ends_with_its_credential,
    revocations_at_once_are_numbered_in_commit_order
);

/// An open stream, read event by event.
struct Follower {
    response: reqwest::Response,
    buffer: String,
    /// Events read but not yet taken.
    ready: std::collections::VecDeque<String>,
}

impl Follower {
    async fn open(app: &TestApp, base: &str, token: &str, last: Option<&str>, query: &str) -> Self {
        let response = open_at(app, base, token, last, query).await;
        assert_eq!(response.status(), 200);
        assert_eq!(
            response.headers()["content-type"].to_str().unwrap(),
            "text/event-stream"
        );
        Self {
            response,
            buffer: String::new(),
            ready: Default::default(),
        }
    }

    /// The next event (comments skipped); `None` when the stream ended. Read as the SDK
    /// reads it.
    async fn next(&mut self) -> Option<StreamEvent> {
        let read = async {
            loop {
                if let Some(block) = self.ready.pop_front() {
                    if let Some(event) = StreamEvent::parse(&block) {
                        return Some(event);
                    }
                    continue;
                }
                match self.response.chunk().await {
                    Ok(Some(chunk)) => self.ready.extend(take_events(
                        &mut self.buffer,
                        std::str::from_utf8(&chunk).unwrap(),
                    )),
                    Ok(None) | Err(_) => return None,
                }
            }
        };
        tokio::time::timeout(Duration::from_secs(10), read)
            .await
            .expect("an event within 10 s")
    }
}

async fn open_at(
    app: &TestApp,
    base: &str,
    token: &str,
    last: Option<&str>,
    query: &str,
) -> reqwest::Response {
    let mut request = app
        .client
        .get(format!("{base}/api/v1/keys/events{query}"))
        .bearer_auth(token);
    if let Some(last) = last {
        request = request.header("last-event-id", last);
    }
    request.send().await.unwrap()
}

async fn mutate(app: &TestApp, token: &str, mutation: &str, input: Value) {
    let r = app
        .gql(
            token,
            &format!(
                "mutation($i: {mutation}) {{ x: {} (input: $i) {{ id }} }}",
                field(mutation)
            ),
            json!({ "i": input }),
        )
        .await;
    r.data();
}

/// `revokeApiKey` for `RevokeApiKeyInput!`, and so on.
fn field(mutation: &str) -> &'static str {
    match mutation {
        "RevokeApiKeyInput!" => "revokeApiKey",
        "RenameApiKeyInput!" => "renameApiKey",
        _ => "disableApiKey",
    }
}

async fn revoke(app: &TestApp, token: &str, id: &str) {
    mutate(app, token, "RevokeApiKeyInput!", json!({ "id": id })).await;
}

/// A key that may read the organization's keys, for the follower.
async fn reader(app: &TestApp, admin: &tests::Admin) -> (String, String) {
    app.create_key(
        &admin.pat,
        json!({ "organizationId": admin.org_id, "name": "sdk", "scopes": ["api_keys:read"] }),
    )
    .await
}

async fn key(app: &TestApp, admin: &tests::Admin, name: &str) -> String {
    app.create_key(
        &admin.pat,
        json!({ "organizationId": admin.org_id, "name": name }),
    )
    .await
    .0
}

async fn changes_of_keys_reach_a_follower(db: Db) {
    let app = TestApp::spawn(db).await;
    let owner = app.user("owner@example.com").await;
    let (_, sdk) = reader(&app, &owner).await;
    let (a, b, c) = (
        key(&app, &owner, "a").await,
        key(&app, &owner, "b").await,
        key(&app, &owner, "c").await,
    );
    let mut follower = Follower::open(&app, &app.base, &sdk, None, "").await;

    revoke(&app, &owner.pat, &a).await;
    let revoked = follower.next().await.unwrap();
    assert_eq!(revoked.event, "key.revoked");
    assert_eq!(revoked.data["type"], "key.revoked");
    assert_eq!(revoked.data["key_id"], a.as_str());
    assert_eq!(revoked.data["organization_id"], owner.org_id.as_str());
    assert_eq!(
        revoked.id.as_deref(),
        Some(revoked.data["id"].to_string().as_str())
    );

    mutate(&app, &owner.pat, "ApiKeyInput!", json!({ "id": b })).await;
    let disabled = follower.next().await.unwrap();
    assert_eq!(
        (disabled.event.as_str(), &disabled.data["key_id"]),
        ("key.disabled", &json!(b))
    );

    mutate(
        &app,
        &owner.pat,
        "RenameApiKeyInput!",
        json!({ "id": c, "name": "c2" }),
    )
    .await;
    let updated = follower.next().await.unwrap();
    assert_eq!(
        (updated.event.as_str(), &updated.data["key_id"]),
        ("key.updated", &json!(c))
    );
    // Numbered in order.
    let ids: Vec<i64> = [&revoked, &disabled, &updated]
        .iter()
        .map(|e| e.data["id"].as_i64().unwrap())
        .collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");

    // Another organization's changes are not heard, its role changes neither.
    let other = app.user("other@example.com").await;
    let theirs = key(&app, &other, "theirs").await;
    revoke(&app, &other.pat, &theirs).await;
    change_a_role(&app, &other).await;
    // A change of a role may change any key's answer: every cached answer is dropped.
    change_a_role(&app, &owner).await;
    let next = follower.next().await.unwrap();
    assert_eq!(next.event, "keys.reset", "{next:?}");
    assert_eq!(next.data["key_id"], Value::Null);
    assert_eq!(
        next.data["organization_id"],
        owner.org_id.as_str(),
        "{next:?}"
    );
    // Revoking a rotated key revokes its successor too: an event for each.
    let rotated = key(&app, &owner, "rotated").await;
    let successor = app
        .gql(
            &owner.pat,
            "mutation($i: RotateApiKeyInput!) { rotateApiKey(input: $i) { apiKey { id } } }",
            json!({ "i": { "id": rotated, "gracePeriodSeconds": 3600 } }),
        )
        .await
        .data()["rotateApiKey"]["apiKey"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let rotation = follower.next().await.unwrap();
    assert_eq!(rotation.event, "key.updated", "{rotation:?}");
    revoke(&app, &owner.pat, &rotated).await;
    let mut heard = vec![
        follower.next().await.unwrap().data["key_id"].clone(),
        follower.next().await.unwrap().data["key_id"].clone(),
    ];
    heard.sort_by_key(ToString::to_string);
    let mut both = vec![json!(rotated), json!(successor)];
    both.sort_by_key(ToString::to_string);
    assert_eq!(heard, both);
    app.finish().await;
}

/// Makes a role in `admin`'s organization and changes its permissions.
async fn change_a_role(app: &TestApp, admin: &tests::Admin) {
    let role = app
        .gql(
            &admin.pat,
            "mutation($i: CreateRoleInput!) { createRole(input: $i) { id } }",
            json!({ "i": { "organizationId": admin.org_id, "name": "Readers", "permissions": ["usage:read"] } }),
        )
        .await
        .data()["createRole"]["id"]
        .clone();
    let r = app
        .gql(
            &admin.pat,
            "mutation($i: UpdateRoleInput!) { updateRole(input: $i) { id } }",
            json!({ "i": { "id": role, "permissions": ["usage:read", "api_keys:read"] } }),
        )
        .await;
    r.data();
}

async fn a_follower_resumes_after_its_last_event(db: Db) {
    let app = TestApp::spawn(db).await;
    let owner = app.user("owner@example.com").await;
    let (_, sdk) = reader(&app, &owner).await;
    let (a, b) = (key(&app, &owner, "a").await, key(&app, &owner, "b").await);
    let mut follower = Follower::open(&app, &app.base, &sdk, None, "").await;
    revoke(&app, &owner.pat, &a).await;
    let first = follower.next().await.unwrap();
    drop(follower);

    // While it is away, b is revoked; resuming after the first event, it hears of it.
    revoke(&app, &owner.pat, &b).await;
    let last = first.id.unwrap();
    let mut follower = Follower::open(&app, &app.base, &sdk, Some(&last), "").await;
    let missed = follower.next().await.unwrap();
    assert_eq!(
        (missed.event.as_str(), &missed.data["key_id"]),
        ("key.revoked", &json!(b))
    );

    // From an id it never gave: drop everything, then follow from now.
    let mut follower = Follower::open(&app, &app.base, &sdk, Some("987654321"), "").await;
    let reset = follower.next().await.unwrap();
    assert_eq!(reset.event, "keys.reset");
    let c = key(&app, &owner, "c").await;
    revoke(&app, &owner.pat, &c).await;
    let next = follower.next().await.unwrap();
    assert_eq!(next.data["key_id"], c.as_str());

    // A Last-Event-ID that is not an event id is refused, naming the header.
    for bad in ["abc", "-1", "1e9", "99999999999999999999999"] {
        let response = open_at(&app, &app.base, &sdk, Some(bad), "").await;
        assert_eq!(response.status(), 400, "{bad}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["field"], "last-event-id", "{body}");
    }
    app.finish().await;
}

async fn only_a_credential_that_may_read_keys_follows(db: Db) {
    let app = TestApp::spawn_with(db, |c| c.dev_signin = backend::config::DevSignin::On).await;
    let owner = app.user("owner@example.com").await;
    let other = app.user("other@example.com").await;
    let (_, narrow) = app
        .create_key(
            &owner.pat,
            json!({ "organizationId": owner.org_id, "name": "usage", "scopes": ["usage:read"] }),
        )
        .await;
    let status = |r: reqwest::Response| r.status().as_u16();
    assert_eq!(
        status(open_at(&app, &app.base, &narrow, None, "").await),
        403
    );
    // Another organization's key may not follow this one.
    let (_, theirs) = reader(&app, &other).await;
    let query = format!("?organization_id={}", owner.org_id);
    assert!(matches!(
        status(open_at(&app, &app.base, &theirs, None, &query).await),
        403 | 404
    ));
    // No credential, a made-up one, a session: refused.
    let response = app
        .client
        .get(format!("{}/api/v1/keys/events", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    assert_eq!(
        status(open_at(&app, &app.base, "kw_sk_live_madeup", None, "").await),
        401
    );
    let cookie = app.dev_session().await;
    let response = app
        .client
        .get(format!("{}/api/v1/keys/events", app.base))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
    // A PAT names the organization; then it follows as its user may.
    let response = open_at(&app, &app.base, &owner.pat, None, "").await;
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert!(body.to_string().contains("organization_id"), "{body}");
    let mut follower = Follower::open(&app, &app.base, &owner.pat, None, &query).await;
    let a = key(&app, &owner, "a").await;
    revoke(&app, &owner.pat, &a).await;
    assert_eq!(follower.next().await.unwrap().data["key_id"], a.as_str());

    // One credential holds a bounded number of streams open; another is not held back.
    let (_, sdk) = reader(&app, &owner).await;
    let per_key = backend::domain::key_events::STREAMS_PER_CREDENTIAL;
    let mut held = Vec::new();
    for _ in 0..per_key {
        held.push(Follower::open(&app, &app.base, &sdk, None, "").await);
    }
    let refused = open_at(&app, &app.base, &sdk, None, "").await;
    assert_eq!(refused.status(), 429);
    let (_, another) = reader(&app, &owner).await;
    Follower::open(&app, &app.base, &another, None, "").await;
    drop(held);
    app.finish().await;
}

async fn a_project_key_hears_only_of_its_project(db: Db) {
    let app = TestApp::spawn(db).await;
    let owner = app.user("owner@example.com").await;
    let project = app
        .gql(
            &owner.pat,
            "mutation($i: CreateProjectInput!) { createProject(input: $i) { id } }",
            json!({ "i": { "organizationId": owner.org_id, "name": "Other" } }),
        )
        .await
        .data()["createProject"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (_, bound) = app
        .create_key(
            &owner.pat,
            json!({ "organizationId": owner.org_id, "projectId": owner.project_id, "name": "sdk", "scopes": ["api_keys:read"] }),
        )
        .await;
    let (elsewhere, _) = app
        .create_key(
            &owner.pat,
            json!({ "organizationId": owner.org_id, "projectId": project, "name": "elsewhere" }),
        )
        .await;
    let (here, _) = app
        .create_key(
            &owner.pat,
            json!({ "organizationId": owner.org_id, "projectId": owner.project_id, "name": "here" }),
        )
        .await;
    let mut follower = Follower::open(&app, &app.base, &bound, None, "").await;
    revoke(&app, &owner.pat, &elsewhere).await;
    revoke(&app, &owner.pat, &here).await;
    let heard = follower.next().await.unwrap();
    assert_eq!(heard.data["key_id"], here.as_str(), "{heard:?}");
    // Its organization's resets reach it too.
    change_a_role(&app, &owner).await;
    assert_eq!(follower.next().await.unwrap().event, "keys.reset");
    app.finish().await;
}

async fn the_stream_ends_with_its_credential(db: Db) {
    let app = TestApp::spawn(db).await;
    let owner = app.user("owner@example.com").await;
    let (sdk_id, sdk) = reader(&app, &owner).await;
    let mut follower = Follower::open(&app, &app.base, &sdk, None, "").await;
    revoke(&app, &owner.pat, &sdk_id).await;
    let end = follower.next().await.unwrap();
    assert_eq!(end.event, "stream.ended", "{end:?}");
    assert_eq!(end.data["code"], "UNAUTHENTICATED");
    assert!(follower.next().await.is_none(), "the stream closes");
    assert_eq!(open_at(&app, &app.base, &sdk, None, "").await.status(), 401);

    // On PostgreSQL, a change made through another node reaches this node's followers.
    if app.services().shares_its_database() {
        let (_, sdk) = reader(&app, &owner).await;
        let node = app.another_node().await;
        tests::until_trusted(app.services(), true).await;
        let mut follower = Follower::open(&app, &app.base, &sdk, None, "").await;
        let a = key(&app, &owner, "a").await;
        let elsewhere = format!("http://{}", node.addr);
        let r = app
            .gql_at(
                &elsewhere,
                &owner.pat,
                "mutation($i: RevokeApiKeyInput!) { revokeApiKey(input: $i) { id } }",
                json!({ "i": { "id": a } }),
            )
            .await;
        r.data();
        let heard = follower.next().await.unwrap();
        assert_eq!(
            (heard.event.as_str(), &heard.data["key_id"]),
            ("key.revoked", &json!(a))
        );
        node.shutdown().await;
    }
    app.finish().await;
}

/// Many keys revoked at the same moment (each its own transaction, as several admins or
/// replicas would): every revocation is one event, numbered without gap or repeat, and a
/// follower receives them in their numbers' order.
async fn revocations_at_once_are_numbered_in_commit_order(db: Db) {
    let app = TestApp::spawn(db).await;
    let owner = app.user("owner@example.com").await;
    let (_, sdk) = reader(&app, &owner).await;
    let mut keys = Vec::new();
    for i in 0..12 {
        keys.push(key(&app, &owner, &format!("k{i}")).await);
    }
    let mut follower = Follower::open(&app, &app.base, &sdk, None, "").await;
    futures::future::join_all(keys.iter().map(|id| revoke(&app, &owner.pat, id))).await;
    let mut ids = Vec::new();
    let mut heard = Vec::new();
    while heard.len() < keys.len() {
        let e = follower.next().await.unwrap();
        assert_eq!(e.event, "key.revoked", "{e:?}");
        ids.push(e.data["id"].as_i64().unwrap());
        heard.push(e.data["key_id"].as_str().unwrap().to_owned());
    }
    assert!(ids.windows(2).all(|w| w[1] == w[0] + 1), "{ids:?}");
    heard.sort();
    keys.sort();
    assert_eq!(heard, keys);
    app.finish().await;
}

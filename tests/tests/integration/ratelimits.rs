//! Rate limits (SPEC §10): a signed-in user is limited like a key; with Redis the limits
//! are shared by every node; when Redis cannot answer, the organization's policy decides.

use backend::config::Secret;
use serde_json::json;
use tests::{Db, TestApp};

db_tests!(
    signed_in_users_are_limited_like_keys,
    limits_are_shared_through_redis,
    named_limits_are_shared_through_redis,
    the_organization_decides_when_redis_cannot_answer,
);

/// A key's named limits (SPEC §3.5) count on every node alike through Redis, all or
/// nothing: a verification one limit refuses counts against none.
async fn named_limits_are_shared_through_redis(db: Db) {
    let Some(redis) = tests::redis_url() else {
        return;
    };
    let shared = |c: &mut backend::config::Config| c.redis_url = Some(Secret::new(redis.clone()));
    let app = TestApp::spawn_with(db, shared).await;
    let b = app.another_node_with(shared).await;
    let admin = app.bootstrap("ada@example.com").await;
    let (status, made) = app
        .rest(
            reqwest::Method::POST,
            &format!("/orgs/{}/api-keys", admin.org_id),
            &admin.pat,
            Some(json!({
                "name": "sold",
                "rate_limit_per_minute": 1000,
                "ratelimits": [
                    { "name": "calls", "limit": 4, "duration_ms": 60000, "auto_apply": true },
                    { "name": "tokens", "limit": 10, "duration_ms": 60000 },
                ],
            })),
        )
        .await;
    assert_eq!(status, 201, "{made}");
    let secret = made["secret"].as_str().unwrap().to_owned();
    let b_base = format!("http://{}", b.addr);
    let verify = |base: String, body: serde_json::Value| {
        let client = app.client.clone();
        async move {
            let r = client
                .post(format!("{base}/api/v1/keys/verify"))
                .json(&body)
                .send()
                .await
                .unwrap();
            r.json::<serde_json::Value>().await.unwrap()
        }
    };
    let limit = |answer: &serde_json::Value, name: &str| {
        answer["ratelimits"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["name"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("no `{name}` in {answer}"))
    };
    let tokens = json!({ "key": secret, "ratelimits": [{ "name": "tokens", "cost": 6 }] });
    let a = verify(app.base.clone(), tokens.clone()).await;
    assert_eq!(a["code"], "VALID", "{a}");
    assert_eq!(limit(&a, "tokens")["remaining"], 4, "{a}");
    assert_eq!(limit(&a, "calls")["remaining"], 3, "{a}");
    // Node B sees what node A counted: six more tokens are refused, and the refusal
    // counts against no limit.
    let refused = verify(b_base.clone(), tokens).await;
    assert_eq!(refused["code"], "RATE_LIMITED", "{refused}");
    assert_eq!(limit(&refused, "tokens")["exceeded"], true, "{refused}");
    let plain = json!({ "key": secret });
    for (i, base) in [&b_base, &app.base, &b_base].into_iter().enumerate() {
        let answer = verify(base.clone(), plain.clone()).await;
        assert_eq!(answer["code"], "VALID", "call {i}: {answer}");
        assert_eq!(limit(&answer, "calls")["remaining"], 2 - i, "{answer}");
    }
    for base in [&app.base, &b_base] {
        let answer = verify(base.clone(), plain.clone()).await;
        assert_eq!(answer["code"], "RATE_LIMITED", "{answer}");
        assert_eq!(limit(&answer, "calls")["exceeded"], true, "{answer}");
    }
    b.shutdown().await;
    app.finish().await;
}

async fn signed_in_users_are_limited_like_keys(db: Db) {
    let app = TestApp::spawn(db).await;
    let admin = app.bootstrap("ada@example.com").await;
    let settings = "mutation($i: UpdateOrganizationSettingsInput!) { updateOrganizationSettings(input: $i) { id } }";
    app.gql(
        &admin.pat,
        settings,
        json!({ "i": { "organizationId": admin.org_id, "rateLimitPerMinute": 5 } }),
    )
    .await
    .data();
    let me: uuid::Uuid = app
        .gql(&admin.pat, "{ me { user { id } } }", json!({}))
        .await
        .data()["me"]["user"]["id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let cookie = app
        .session_cookie(
            me,
            admin.org_id.parse().unwrap(),
            admin.project_id.parse().unwrap(),
        )
        .await;
    // Cross-origin posts are refused before the session is looked at: they cost nothing.
    for _ in 0..3 {
        let foreign = app
            .client
            .post(format!("{}/graphql", app.base))
            .header("cookie", &cookie)
            .header("origin", "https://evil.example")
            .json(&json!({ "query": "{ me { user { email } } }" }))
            .send()
            .await
            .unwrap();
        assert_eq!(foreign.status(), 403);
    }
    for _ in 0..5 {
        let r = app
            .gql_session(&cookie, "{ me { user { email } } }", json!({}))
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
    }
    let refused = app
        .client
        .post(format!("{}/graphql", app.base))
        .header("cookie", &cookie)
        .header("origin", &app.base)
        .json(&json!({ "query": "{ me { user { email } } }" }))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 429);
    assert!(refused.headers().contains_key("retry-after"));
    let body: serde_json::Value = refused.json().await.unwrap();
    assert_eq!(body["code"], "RATE_LIMITED", "{body}");
    app.finish().await;
}

async fn limits_are_shared_through_redis(db: Db) {
    let Some(redis) = tests::redis_url() else {
        return;
    };
    let shared = |c: &mut backend::config::Config| c.redis_url = Some(Secret::new(redis.clone()));
    let app = TestApp::spawn_with(db, shared).await;
    let b = app.another_node_with(shared).await;
    let admin = app.bootstrap("ada@example.com").await;
    let (_, secret) = app
        .create_key(
            &admin.pat,
            json!({ "organizationId": admin.org_id, "name": "shared", "rateLimitPerMinute": 4 }),
        )
        .await;
    let b_base = format!("http://{}", b.addr);
    let verify = |base: String| {
        let client = app.client.clone();
        let secret = secret.clone();
        async move {
            client
                .get(format!("{base}/api/v1/api-keys/verify"))
                .header("x-api-key", secret)
                .send()
                .await
                .unwrap()
        }
    };
    // Four allowed in all, whichever node answers; each node alone would allow four.
    for (i, base) in [&app.base, &b_base, &app.base, &b_base]
        .into_iter()
        .enumerate()
    {
        let r = verify(base.clone()).await;
        assert_eq!(r.status(), 200, "request {i}");
        let remaining = r.headers()["ratelimit"].to_str().unwrap().to_owned();
        assert!(remaining.contains(&format!("r={}", 3 - i)), "{remaining}");
    }
    for base in [&app.base, &b_base] {
        let r = verify(base.clone()).await;
        assert_eq!(r.status(), 429);
        assert!(r.headers().contains_key("retry-after"));
    }
    b.shutdown().await;
    app.finish().await;
}

async fn the_organization_decides_when_redis_cannot_answer(db: Db) {
    let app = TestApp::spawn(db).await;
    let admin = app.bootstrap("ada@example.com").await;
    let (_, secret) = app
        .create_key(
            &admin.pat,
            json!({ "organizationId": admin.org_id, "name": "k" }),
        )
        .await;
    // A node whose Redis does not answer (nothing listens there).
    let node = app
        .another_node_with(|c| c.redis_url = Some(Secret::new("redis://127.0.0.1:1")))
        .await;
    let base = format!("http://{}", node.addr);
    let verify = || async {
        app.client
            .get(format!("{base}/api/v1/api-keys/verify"))
            .header("x-api-key", &secret)
            .send()
            .await
            .unwrap()
    };
    // By default, refused.
    let r = verify().await;
    assert_eq!(r.status(), 429);
    assert_eq!(r.headers()["retry-after"], "1");
    // The organization chose to stay open.
    let org: uuid::Uuid = admin.org_id.parse().unwrap();
    app.exec(
        "UPDATE organizations SET rate_limit_fail_open = ? WHERE id = ?",
        vec![true.into(), org.into()],
    )
    .await;
    node.services.verifier.invalidate_all();
    assert_eq!(verify().await.status(), 200);

    // Nobody is locked out of fixing things: a personal token and a dashboard session
    // are limited on the node alone while Redis is away.
    let me = node_gql(&app, &base, &admin.pat, "{ me { user { id } } }").await;
    assert_eq!(me.0, 200, "{}", me.1);
    let user: uuid::Uuid = me.1["data"]["me"]["user"]["id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let cookie = app
        .session_cookie(user, org, admin.project_id.parse().unwrap())
        .await;
    let session = app
        .client
        .post(format!("{base}/graphql"))
        .header("cookie", &cookie)
        .header("x-keyward-client", "dashboard")
        .json(&json!({ "query": "{ me { user { email } } }" }))
        .send()
        .await
        .unwrap();
    assert_eq!(session.status(), 200);
    node.shutdown().await;
    app.finish().await;
}

/// A GraphQL call to the node at `base` with a bearer token: `(status, body)`.
async fn node_gql(app: &TestApp, base: &str, token: &str, query: &str) -> (u16, serde_json::Value) {
    let r = app
        .client
        .post(format!("{base}/graphql"))
        .bearer_auth(token)
        .json(&json!({ "query": query }))
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

//! Starting, health, readiness, bootstrap and graceful shutdown.

use serde_json::json;
use tests::{Db, Header, TestApp};

db_tests!(
    health_and_ready,
    bootstrap_prints_a_working_pat,
    shutdown_flushes_usage,
    requests_carry_an_id
);

async fn health_and_ready(db: Db) {
    let app = TestApp::spawn(db).await;
    let health = app
        .client
        .get(format!("{}/health", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    let ready = app
        .client
        .get(format!("{}/ready", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 200);
    let body: serde_json::Value = ready.json().await.unwrap();
    assert_eq!(body["migrations"], true);
    app.finish().await;
}

async fn bootstrap_prints_a_working_pat(db: Db) {
    let app = TestApp::spawn(db).await;
    let admin = app.bootstrap("ada@example.com").await;
    assert!(admin.pat.starts_with("kw_pat_"), "{}", admin.pat);
    let me = app
        .gql(
            &admin.pat,
            "{ me { user { email } isInstanceAdmin authenticatedBy } }",
            json!({}),
        )
        .await
        .data();
    assert_eq!(me["me"]["user"]["email"], "ada@example.com");
    assert_eq!(me["me"]["isInstanceAdmin"], true);
    assert_eq!(me["me"]["authenticatedBy"], "pat");
    // Only an unscoped PAT (or a session) carries that power: the same admin's API key
    // and scoped PAT say so too.
    let (_, key) = app
        .create_key(
            &admin.pat,
            json!({ "organizationId": admin.org_id, "name": "k" }),
        )
        .await;
    let scoped = app
        .gql(
            &admin.pat,
            "mutation { createPersonalAccessToken(input: { name: \"narrow\", scopes: [\"api_keys:read\"] }) { secret } }",
            json!({}),
        )
        .await
        .data()["createPersonalAccessToken"]["secret"]
        .as_str()
        .unwrap()
        .to_owned();
    for (token, by) in [(&key, "api_key"), (&scoped, "pat")] {
        let me = app
            .gql(
                token,
                "{ me { isInstanceAdmin authenticatedBy } }",
                json!({}),
            )
            .await
            .data();
        assert_eq!(me["me"]["isInstanceAdmin"], false, "{by}: {me}");
        assert_eq!(me["me"]["authenticatedBy"], by);
    }

    // Running it again finds the same customer and organization and issues a new token.
    let again = app.bootstrap("ada@example.com").await;
    assert_eq!(again.org_id, admin.org_id);
    assert_ne!(again.pat, admin.pat);
    let (status, _, _) = app.verify(Header::Bearer, &admin.pat).await;
    assert_eq!(status, 200, "the first token keeps working");
    app.finish().await;
}

async fn shutdown_flushes_usage(db: Db) {
    // With an hour between flushes, only the flush on shutdown can write the counts.
    let app = TestApp::spawn_with(db, |c| {
        c.usage_flush_interval = std::time::Duration::from_secs(3600)
    })
    .await;
    let admin = app.bootstrap("ada@example.com").await;
    let (id, secret) = app
        .create_key(
            &admin.pat,
            json!({ "organizationId": admin.org_id, "name": "counted" }),
        )
        .await;
    for _ in 0..5 {
        let (status, _, _) = app.verify(Header::XApiKey, &secret).await;
        assert_eq!(status, 200);
    }
    // Restart at once: the counts still buffered must be written on the way down.
    let app = app.restart().await;
    let r = app
        .gql(
            &admin.pat,
            "query($id: ID!) { apiKey(id: $id) { requestCount lastUsedAt lastUsedIp } }",
            json!({ "id": id }),
        )
        .await
        .data();
    assert_eq!(r["apiKey"]["requestCount"], 5);
    assert!(r["apiKey"]["lastUsedAt"].is_string());
    assert_eq!(r["apiKey"]["lastUsedIp"], "127.0.0.1");
    app.finish().await;
}

async fn requests_carry_an_id(db: Db) {
    let app = TestApp::spawn(db).await;
    let response = app
        .client
        .get(format!("{}/api/v1/api-keys/verify", app.base))
        .header("x-request-id", "trace-123")
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["x-request-id"], "trace-123");
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["request_id"], "trace-123");
    let unknown = app
        .client
        .get(format!("{}/nope", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 404);
    assert_eq!(
        unknown.headers()["content-type"],
        "application/problem+json"
    );
    app.finish().await;
}

//! Usage (SPEC §9): request counts, last use and per-minute buckets.

use serde_json::json;
use tests::{Db, Header, TestApp};

db_tests!(verified_requests_are_counted);

async fn verified_requests_are_counted(db: Db) {
    let app = TestApp::spawn(db).await;
    let admin = app.bootstrap("ada@example.com").await;
    let (id, secret) = app
        .create_key(
            &admin.pat,
            json!({ "organizationId": admin.org_id, "name": "busy" }),
        )
        .await;
    for style in [
        Header::Bearer,
        Header::ApiKey,
        Header::XApiKey,
        Header::Bearer,
    ] {
        assert_eq!(app.verify(style, &secret).await.0, 200);
    }
    // A refused verification is not usage, nor is one refused for permissions (only a
    // `VALID` answer counts, SPEC §3.5).
    let (status, _) = app
        .verify_body(json!({ "key": secret, "require": ["nope:read"] }))
        .await;
    assert_eq!(status, 200);

    let query = "query($id: ID!) { usage(credentialId: $id) { total buckets { minute count } } apiKey(id: $id) { requestCount lastUsedAt lastUsedIp } }";
    // Counts are flushed in the background at least once a second.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let r = loop {
        let r = app.gql(&admin.pat, query, json!({ "id": id })).await.data();
        let done = r["usage"]["total"] == 4 && r["apiKey"]["requestCount"] == 4;
        if done || std::time::Instant::now() > deadline {
            break r;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    assert_eq!(r["usage"]["total"], 4, "{r}");
    assert_eq!(r["apiKey"]["requestCount"], 4);
    assert_eq!(r["apiKey"]["lastUsedIp"], "127.0.0.1");
    let buckets = r["usage"]["buckets"].as_array().unwrap();
    assert!(!buckets.is_empty() && buckets.len() <= 2);
    assert_eq!(
        buckets
            .iter()
            .map(|b| b["count"].as_i64().unwrap())
            .sum::<i64>(),
        4
    );

    let bad = app
        .gql(&admin.pat, "query($id: ID!) { usage(credentialId: $id, since: \"2030-01-01T00:00:00Z\", until: \"2029-01-01T00:00:00Z\") { total } }", json!({ "id": id }))
        .await;
    assert_eq!(bad.error_code(), "INVALID_INPUT");
    app.finish().await;
}

//! Web and transport hardening (SPEC §15): the headers every response carries.

use serde_json::json;
use tests::{Db, TestApp};

db_tests!(every_response_is_hardened);

async fn every_response_is_hardened(db: Db) {
    let app = TestApp::spawn(db).await;
    let admin = app.bootstrap("ops@example.com").await;

    // An answer carrying a secret is never stored by a cache.
    let created = app
        .client
        .post(format!("{}/graphql", app.base))
        .bearer_auth(&admin.pat)
        .json(&json!({
            "query": "mutation($i: CreateApiKeyInput!) { createApiKey(input: $i) { secret } }",
            "variables": { "i": { "organizationId": admin.org_id, "name": "cached?" } },
        }))
        .send()
        .await
        .unwrap();
    let headers = created.headers().clone();
    let body: serde_json::Value = created.json().await.unwrap();
    assert!(body["data"]["createApiKey"]["secret"].is_string(), "{body}");
    assert_eq!(headers["cache-control"], "no-store");
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert!(
        headers.get("strict-transport-security").is_none(),
        "no HSTS over plain http"
    );

    // Every kind of answer: success, refusal, unknown route, a bad method.
    for (method, path) in [
        ("GET", "/health"),
        ("GET", "/api/v1/api-keys/verify"),
        ("POST", "/api/v1/device/code"),
        ("GET", "/api/v1/nothing-here"),
        ("GET", "/nothing-here"),
        ("DELETE", "/graphql"),
    ] {
        let response = app
            .client
            .request(method.parse().unwrap(), format!("{}{path}", app.base))
            .send()
            .await
            .unwrap();
        let h = response.headers();
        assert_eq!(h["x-content-type-options"], "nosniff", "{method} {path}");
        assert_eq!(h["cache-control"], "no-store", "{method} {path}");
    }
    app.finish().await;

    // HSTS once the public URL is https.
    let https = TestApp::spawn_with(db, |c| c.public_url = "https://keys.example.com".into()).await;
    let response = https
        .client
        .get(format!("{}/health", https.base))
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.headers()["strict-transport-security"],
        "max-age=63072000; includeSubDomains"
    );
    https.finish().await;
}

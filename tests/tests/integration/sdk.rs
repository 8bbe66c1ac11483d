//! The Rust verification SDK (`keyward-verify`, SPEC §16) against the real server: it
//! verifies, answers a hot key from memory while it follows the key event stream, drops a
//! revoked key within a second, never answers a key with credits from memory, and
//! protects a product's routes as an axum extractor and as a tower layer.

use std::time::{Duration, Instant};

use axum::{Router, routing::get};
use keyward_verify::{Keyward, Options, Verification, VerifiedKey, VerifyLayer};
use serde_json::json;
use tests::{Db, TestApp};

db_tests!(
    the_sdk_caches_and_drops_what_changes,
    the_sdk_protects_routes
);

/// Waits (at most 10 s) until `done` holds, woken by the client's news (the stream
/// opening, an event applied).
async fn until(keyward: &Keyward, what: &str, mut done: impl FnMut() -> bool) {
    let mut news = keyward.news();
    tokio::time::timeout(Duration::from_secs(10), news.wait_for(|_| done()))
        .await
        .unwrap_or_else(|_| panic!("never: {what}"))
        .unwrap();
}

async fn the_sdk_caches_and_drops_what_changes(db: Db) {
    let app = TestApp::spawn(db).await;
    let owner = app.user("owner@example.com").await;
    let (_, stream_key) = app
        .create_key(
            &owner.pat,
            json!({ "organizationId": owner.org_id, "name": "sdk", "scopes": ["api_keys:read"] }),
        )
        .await;
    let (key_id, secret) = app
        .create_key(
            &owner.pat,
            json!({ "organizationId": owner.org_id, "name": "customer" }),
        )
        .await;
    let org = owner.org_id.parse().unwrap();
    let keyward = Keyward::new(&app.base, org, Options::default());

    // Not following: every call asks the server.
    assert!(keyward.verify(&secret).await.unwrap().is_valid());
    assert!(!keyward.verify(&secret).await.unwrap().cached);

    keyward.follow(stream_key.clone());
    until(&keyward, "the stream is open", || keyward.is_following()).await;
    let first = keyward.verify(&secret).await.unwrap();
    assert!(first.is_valid() && !first.cached);
    assert_eq!(first.key_id().unwrap().to_string(), key_id);
    let second = keyward.verify(&secret).await.unwrap();
    assert!(second.cached, "a hot key is answered from memory");
    assert_eq!(second.answer(), first.answer());

    // A revoke reaches the cache within a second.
    let revoked_at = Instant::now();
    app.gql(
        &owner.pat,
        "mutation($i: RevokeApiKeyInput!) { revokeApiKey(input: $i) { id } }",
        json!({ "i": { "id": key_id } }),
    )
    .await
    .data();
    until(&keyward, "the revocation arrives", || {
        keyward.stats().events >= 1
    })
    .await;
    let delay = revoked_at.elapsed();
    let after = keyward.verify(&secret).await.unwrap();
    assert!(!after.is_valid() && !after.cached, "{:?}", after.answer());
    assert_eq!(after.code(), "REVOKED");
    assert!(delay < Duration::from_secs(1), "took {delay:?}");

    // A key just changed is asked of the server until it settles (another replica may not
    // have heard of the change yet), then kept again.
    let (other_id, other) = app
        .create_key(
            &owner.pat,
            json!({ "organizationId": owner.org_id, "name": "renamed soon" }),
        )
        .await;
    keyward.verify(&other).await.unwrap();
    assert!(keyward.verify(&other).await.unwrap().cached);
    let events = keyward.stats().events;
    app.gql(
        &owner.pat,
        "mutation($i: RenameApiKeyInput!) { renameApiKey(input: $i) { id } }",
        json!({ "i": { "id": other_id, "name": "renamed" } }),
    )
    .await
    .data();
    until(&keyward, "the change arrives", || {
        keyward.stats().events > events
    })
    .await;
    for _ in 0..2 {
        let answer = keyward.verify(&other).await.unwrap();
        assert!(answer.is_valid() && !answer.cached, "{:?}", answer.answer());
        assert_eq!(answer.answer()["key"]["name"], "renamed");
    }

    // A key with credits is decided by the server every time.
    let made = app
        .gql(
            &owner.pat,
            "mutation($i: CreateApiKeyInput!) { createApiKey(input: $i) { secret } }",
            json!({ "i": { "organizationId": owner.org_id, "name": "metered", "credits": { "remaining": 2 } } }),
        )
        .await
        .data();
    let metered = made["createApiKey"]["secret"].as_str().unwrap().to_owned();
    let answers: Vec<Verification> = [
        keyward.verify(&metered).await.unwrap(),
        keyward.verify(&metered).await.unwrap(),
        keyward.verify(&metered).await.unwrap(),
    ]
    .into();
    assert!(answers.iter().all(|a| !a.cached));
    assert_eq!(
        answers.iter().map(Verification::code).collect::<Vec<_>>(),
        ["VALID", "VALID", "USAGE_EXCEEDED"]
    );

    // Made-up tokens are asked about, and refused.
    let unknown = keyward.verify("kw_sk_live_madeup").await.unwrap();
    assert!(!unknown.is_valid());

    // Another organization's valid key, and a valid PAT of a user of none of this
    // organization: refused, never cached.
    let stranger = app.user("stranger@example.com").await;
    let (_, theirs) = app
        .create_key(
            &stranger.pat,
            json!({ "organizationId": stranger.org_id, "name": "theirs" }),
        )
        .await;
    for token in [&theirs, &stranger.pat] {
        for _ in 0..2 {
            let answer = keyward.verify(token).await.unwrap();
            assert!(
                !answer.is_valid() && !answer.cached,
                "{:?}",
                answer.answer()
            );
            assert_eq!(answer.code(), "WRONG_ORGANIZATION");
        }
    }
    // This organization's owner's PAT is valid here, but never answered from memory: no
    // event would reach the cache for it.
    assert!(keyward.verify(&owner.pat).await.unwrap().is_valid());
    assert!(!keyward.verify(&owner.pat).await.unwrap().cached);

    // Stopped, nothing is served from memory.
    keyward.stop_following();
    assert!(!keyward.is_following());

    // An answer is kept at most until its key expires: seen from after the expiry, a
    // valid answer is not served again.
    let in_a_month = app.services().clock.now() + chrono::TimeDelta::days(30);
    let (_, expiring) = app
        .create_key(
            &owner.pat,
            json!({ "organizationId": owner.org_id, "name": "expiring", "expiresAt": in_a_month }),
        )
        .await;
    let late = Keyward::new(
        &app.base,
        org,
        Options {
            now: after_the_expiry,
            ..Options::default()
        },
    );
    late.follow(stream_key.clone());
    until(&late, "the stream is open", || late.is_following()).await;
    assert!(late.verify(&expiring).await.unwrap().is_valid());
    let again = late.verify(&expiring).await.unwrap();
    assert!(again.is_valid() && !again.cached);
    app.finish().await;
}

/// A clock past every key's expiry.
fn after_the_expiry() -> chrono::DateTime<chrono::Utc> {
    "3000-01-01T00:00:00Z".parse().unwrap()
}

async fn the_sdk_protects_routes(db: Db) {
    let app = TestApp::spawn(db).await;
    let owner = app.user("owner@example.com").await;
    let (_, secret) = app
        .create_key(
            &owner.pat,
            json!({ "organizationId": owner.org_id, "name": "customer" }),
        )
        .await;
    let keyward = Keyward::new(&app.base, owner.org_id.parse().unwrap(), Options::default());
    let product = Router::new()
        .route(
            "/hello",
            get(|VerifiedKey(key): VerifiedKey| async move {
                format!(
                    "hello, {}",
                    key.answer()["key"]["name"].as_str().unwrap_or("")
                )
            }),
        )
        .with_state(keyward.clone())
        .merge(
            Router::new()
                .route("/layered", get(|| async { "through the layer" }))
                .layer(VerifyLayer::new(keyward)),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, product).await });

    for path in ["/hello", "/layered"] {
        let url = format!("{base}{path}");
        let ok = app
            .client
            .get(&url)
            .bearer_auth(&secret)
            .send()
            .await
            .unwrap();
        assert_eq!(ok.status(), 200, "{path}");
        let body = ok.text().await.unwrap();
        assert!(
            body == "hello, customer" || body == "through the layer",
            "{body}"
        );
        let by_header = app
            .client
            .get(&url)
            .header("x-api-key", &secret)
            .send()
            .await
            .unwrap();
        assert_eq!(by_header.status(), 200, "{path}");

        let missing = app.client.get(&url).send().await.unwrap();
        assert_eq!(missing.status(), 401);
        let body: serde_json::Value = missing.json().await.unwrap();
        assert_eq!(body["code"], "MISSING");
        let made_up = app
            .client
            .get(&url)
            .bearer_auth("kw_sk_live_madeup")
            .send()
            .await
            .unwrap();
        assert_eq!(made_up.status(), 401);
        let body: serde_json::Value = made_up.json().await.unwrap();
        assert_eq!(body["code"], "MALFORMED");
        // Two different credentials in one request: neither is used.
        let two = app
            .client
            .get(&url)
            .bearer_auth(&secret)
            .header("x-api-key", "kw_sk_live_other")
            .send()
            .await
            .unwrap();
        assert_eq!(two.status(), 401);
    }
    app.finish().await;
}

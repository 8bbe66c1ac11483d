//! Several nodes on one PostgreSQL (SPEC §12): a change that affects verification made on
//! one node reaches every other node's cache through `LISTEN/NOTIFY`, long before the
//! cache would expire on its own; a node that loses its listening connection stops
//! trusting its cache until it listens again. PostgreSQL only: on SQLite the one process
//! is the only node.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tests::{Db, TestApp};

/// Waits until `node` listens for invalidations (its cache is trusted).
async fn until_listening(node: &backend::domain::Services) {
    tests::until_trusted(node, true).await;
}

/// `(status, code)` of verifying `secret` at the node at `base`.
async fn verify_at(client: &reqwest::Client, base: &str, secret: &str) -> (u16, String) {
    let response = client
        .get(format!("{base}/api/v1/api-keys/verify"))
        .header("x-api-key", secret)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    (status, body["code"].as_str().unwrap_or("").to_owned())
}

/// Verifies twice at `node` and checks the second answer came from its cache.
async fn cached_at(app: &TestApp, node: &backend::server::Running, secret: &str) {
    let base = format!("http://{}", node.addr);
    assert_eq!(verify_at(&app.client, &base, secret).await.0, 200);
    let hits = node.services.verifier.hits();
    assert_eq!(verify_at(&app.client, &base, secret).await.0, 200);
    assert_eq!(
        node.services.verifier.hits(),
        hits + 1,
        "the second verification is served from memory"
    );
}

/// Polls the node at `base` until `secret` answers `expected` (a status and code).
async fn until_answer(app: &TestApp, base: &str, secret: &str, expected: (u16, &str)) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (status, code) = verify_at(&app.client, base, secret).await;
        if (status, code.as_str()) == expected {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{base} still answers {status} {code}, not {expected:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_change_reaches_every_node() {
    if tests::postgres_url().is_none() {
        return;
    }
    let app = TestApp::spawn(Db::Postgres).await;
    let b = app.another_node().await;
    let b_base = format!("http://{}", b.addr);
    until_listening(app.services()).await;
    until_listening(&b.services).await;
    let admin = app.bootstrap("ada@example.com").await;
    let org = admin.org_id.as_str();
    let key = |name: &str| json!({ "organizationId": org, "name": name });

    // Revoke on A: B refuses it.
    let (id, secret) = app.create_key(&admin.pat, key("revoked")).await;
    cached_at(&app, &b, &secret).await;
    let revoke = "mutation($id: ID!) { revokeApiKey(input: { id: $id }) { id } }";
    app.gql(&admin.pat, revoke, json!({ "id": id }))
        .await
        .data();
    until_answer(&app, &b_base, &secret, (401, "REVOKED")).await;

    // Disable, then enable.
    let (id, secret) = app.create_key(&admin.pat, key("paused")).await;
    cached_at(&app, &b, &secret).await;
    let disable = "mutation($id: ID!) { disableApiKey(input: { id: $id }) { id } }";
    app.gql(&admin.pat, disable, json!({ "id": id }))
        .await
        .data();
    until_answer(&app, &b_base, &secret, (401, "DISABLED")).await;
    let enable = "mutation($id: ID!) { enableApiKey(input: { id: $id }) { id } }";
    app.gql(&admin.pat, enable, json!({ "id": id }))
        .await
        .data();
    until_answer(&app, &b_base, &secret, (200, "")).await;

    // Rotate without grace: the old secret stops on B.
    let (id, secret) = app.create_key(&admin.pat, key("rotated")).await;
    cached_at(&app, &b, &secret).await;
    let rotate = "mutation($id: ID!) { rotateApiKey(input: { id: $id }) { secret } }";
    app.gql(&admin.pat, rotate, json!({ "id": id }))
        .await
        .data();
    until_answer_any_refusal(&app, &b_base, &secret).await;

    // A service account disabled on A: its key stops on B.
    let roles = app
        .gql(
            &admin.pat,
            "query($o: ID!) { roles(organizationId: $o) { nodes { id key } } }",
            json!({ "o": org }),
        )
        .await
        .data();
    let viewer = roles["roles"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["key"] == "viewer")
        .unwrap()["id"]
        .clone();
    let sa = app
        .gql(
            &admin.pat,
            "mutation($i: CreateServiceAccountInput!) { createServiceAccount(input: $i) { id } }",
            json!({ "i": { "organizationId": org, "name": "ci", "roleId": viewer } }),
        )
        .await
        .data()["createServiceAccount"]["id"]
        .clone();
    let sa_secret = app
        .gql(
            &admin.pat,
            "mutation($i: CreateServiceAccountKeyInput!) { createServiceAccountKey(input: $i) { secret } }",
            json!({ "i": { "serviceAccountId": sa, "name": "deploy" } }),
        )
        .await
        .data()["createServiceAccountKey"]["secret"]
        .as_str()
        .unwrap()
        .to_owned();
    cached_at(&app, &b, &sa_secret).await;
    app.gql(
        &admin.pat,
        "mutation($id: ID!) { disableServiceAccount(input: { id: $id }) { id } }",
        json!({ "id": sa }),
    )
    .await
    .data();
    until_answer(&app, &b_base, &sa_secret, (401, "DISABLED")).await;

    // The organization suspended on A: every key of it stops on B, and comes back.
    let (_, secret) = app.create_key(&admin.pat, key("suspended")).await;
    cached_at(&app, &b, &secret).await;
    app.gql(
        &admin.pat,
        "mutation($i: SuspendOrganizationInput!) { suspendOrganization(input: $i) { id } }",
        json!({ "i": { "organizationId": org, "reason": "unpaid" } }),
    )
    .await
    .data();
    until_answer(&app, &b_base, &secret, (401, "SUSPENDED")).await;
    app.gql(
        &admin.pat,
        "mutation($i: UnsuspendOrganizationInput!) { unsuspendOrganization(input: $i) { id } }",
        json!({ "i": { "organizationId": org } }),
    )
    .await
    .data();
    until_answer(&app, &b_base, &secret, (200, "")).await;

    // A key imported on A verifies on B: B learns the new prefix.
    let legacy = "vc_0123456789abcdef0123456789abcdef";
    app.gql(
        &admin.pat,
        "mutation($i: ImportApiKeyInput!) { importApiKey(input: $i) { id } }",
        json!({ "i": {
            "organizationId": org,
            "name": "migrated",
            "sha256": tests::sha256_hex(legacy),
            "prefix": "vc_",
        } }),
    )
    .await
    .data();
    until_answer(&app, &b_base, legacy, (200, "")).await;

    b.shutdown().await;
    app.finish().await;
}

/// Polls until the node refuses `secret` for any reason.
async fn until_answer_any_refusal(app: &TestApp, base: &str, secret: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while verify_at(&app.client, base, secret).await.0 != 401 {
        assert!(
            Instant::now() < deadline,
            "{base} still accepts the old secret"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_that_stops_hearing_stops_trusting_its_cache() {
    if tests::postgres_url().is_none() {
        return;
    }
    let app = TestApp::spawn(Db::Postgres).await;
    until_listening(app.services()).await;
    let admin = app.bootstrap("ada@example.com").await;
    let (_, secret) = app
        .create_key(
            &admin.pat,
            json!({ "organizationId": admin.org_id, "name": "k" }),
        )
        .await;
    let base = app.base.clone();
    let before = verify_at(&app.client, &base, &secret).await;
    assert_eq!(before.0, 200);
    // A change nobody announces (as one lost while the connection was down).
    app.exec(
        "UPDATE credentials SET disabled_at = ? WHERE token_hash = ?",
        vec![chrono::Utc::now().into(), tests::sha256_hex(&secret).into()],
    )
    .await;
    assert_eq!(
        verify_at(&app.client, &base, &secret).await.0,
        200,
        "served from the cache"
    );
    // The listening connection drops: the node forgets what it may have missed.
    app.exec(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE application_name = ? AND datname = current_database()",
        vec![backend::domain::invalidation::LISTENER_NAME.into()],
    )
    .await;
    until_answer(&app, &base, &secret, (401, "DISABLED")).await;
    // It listens again and trusts its cache again.
    until_listening(app.services()).await;
    app.finish().await;
}

/// Requests holding every pooled connection (a burst of slow dashboard pages) are not a
/// lost listener: the heartbeat travels on a connection of its own, so the node keeps
/// trusting its cache and answering held keys from memory meanwhile. Before, a heartbeat
/// that could not get a pooled connection emptied the cache of every node under load,
/// sending each verification to the busy database.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_busy_pool_does_not_empty_the_cache() {
    if tests::postgres_url().is_none() {
        return;
    }
    let app = TestApp::spawn_with(Db::Postgres, |c| {
        c.invalidation_heartbeat = Duration::from_millis(200);
    })
    .await;
    until_listening(app.services()).await;
    let admin = app.bootstrap("ada@example.com").await;
    let (_, secret) = app
        .create_key(
            &admin.pat,
            json!({ "organizationId": admin.org_id, "name": "k" }),
        )
        .await;
    assert_eq!(verify_at(&app.client, &app.base, &secret).await.0, 200);
    // Every pooled connection held, for five heartbeats.
    let db = app.services().test_db();
    let mut held = Vec::new();
    while let Ok(Ok(txn)) = tokio::time::timeout(
        Duration::from_millis(300),
        sea_orm::TransactionTrait::begin(db),
    )
    .await
    {
        held.push(txn);
    }
    assert!(!held.is_empty());
    let trust = app.services().verifier.trust_changes();
    let base = app.base.clone();
    let until = Instant::now() + Duration::from_secs(1);
    while Instant::now() < until {
        let hits = app.services().verifier.hits();
        assert_eq!(verify_at(&app.client, &base, &secret).await.0, 200);
        assert_eq!(
            app.services().verifier.hits(),
            hits + 1,
            "answered from memory"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        !trust.has_changed().unwrap(),
        "the cache stayed trusted while the pool was busy"
    );
    drop(held);
    // A listener that is really lost is still noticed.
    app.exec(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE application_name = ? AND datname = current_database()",
        vec![backend::domain::invalidation::LISTENER_NAME.into()],
    )
    .await;
    tests::until_trusted(app.services(), false).await;
    until_listening(app.services()).await;
    app.finish().await;
}

/// A node that stops hearing spends no block of credits it was not told was void: a
/// `set` announced while its listener was down (here: made without an announcement) is
/// found in the database before the block is spent from memory again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_that_stops_hearing_spends_no_void_credits() {
    if tests::postgres_url().is_none() {
        return;
    }
    let app = TestApp::spawn(Db::Postgres).await;
    until_listening(app.services()).await;
    let admin = app.bootstrap("ada@example.com").await;
    let (status, made) = app
        .rest(
            reqwest::Method::POST,
            &format!("/orgs/{}/api-keys", admin.org_id),
            &admin.pat,
            Some(json!({ "name": "sold", "credits": { "remaining": 100 } })),
        )
        .await;
    assert_eq!(status, 201, "{made}");
    let secret = made["secret"].as_str().unwrap().to_owned();
    let id = made["key"]["id"].as_str().unwrap().to_owned();
    let base = app.base.clone();
    // The node takes a block out of the pool and spends one credit of it.
    assert_eq!(verify_at(&app.client, &base, &secret).await.0, 200);
    // The pool is set to nothing with no announcement (one lost while the connection
    // was down): while the node still hears, it trusts its block.
    app.exec(
        "UPDATE credit_pools SET remaining = 0, epoch = epoch + 1 WHERE owner_id = ?",
        vec![uuid::Uuid::parse_str(&id).unwrap().into()],
    )
    .await;
    assert_eq!(
        verify_at(&app.client, &base, &secret).await.0,
        200,
        "spent from the block it holds"
    );
    // The listening connection drops and comes back: the block is checked first.
    let before = app.services().credits.generation();
    app.exec(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE application_name = ? AND datname = current_database()",
        vec![backend::domain::invalidation::LISTENER_NAME.into()],
    )
    .await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while app.services().credits.generation() < before + 2 {
        assert!(Instant::now() < deadline, "the node did not listen again");
        tokio::task::yield_now().await;
    }
    assert_eq!(
        verify_at(&app.client, &base, &secret).await,
        (429, "USAGE_EXCEEDED".to_owned()),
        "the void block is never spent"
    );
    app.finish().await;
}

/// Usage stays exact when several nodes serve the same key: each adds what it counted,
/// and a clean shutdown writes what was still buffered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn usage_stays_exact_across_nodes() {
    if tests::postgres_url().is_none() {
        return;
    }
    let mut app = TestApp::spawn(Db::Postgres).await;
    let b = app.another_node().await;
    let b_base = format!("http://{}", b.addr);
    let admin = app.bootstrap("ada@example.com").await;
    let (id, secret) = app
        .create_key(
            &admin.pat,
            json!({ "organizationId": admin.org_id, "name": "shared", "rateLimitPerMinute": 10000 }),
        )
        .await;
    let a_base = app.base.clone();
    let mut sent = 0;
    for i in 0..300 {
        let base = if i % 3 == 0 { &a_base } else { &b_base };
        assert_eq!(verify_at(&app.client, base, &secret).await.0, 200);
        sent += 1;
    }
    // Both nodes stop cleanly with counts still buffered; then one comes back to read.
    b.shutdown().await;
    app.stop_server().await;
    let app = app.restart().await;
    let r = app
        .gql(
            &admin.pat,
            "query($id: ID!) { apiKey(id: $id) { requestCount } usage(credentialId: $id) { total } }",
            json!({ "id": id }),
        )
        .await
        .data();
    // The PAT's own use for this query is not the key's.
    assert_eq!(r["apiKey"]["requestCount"], sent, "{r}");
    assert_eq!(r["usage"]["total"], sent, "{r}");
    app.finish().await;
}

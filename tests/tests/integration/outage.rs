//! The database goes away under a running server (SPEC §12): every request is answered
//! within a second, held keys keep verifying for a bounded grace, everything else is
//! refused with 503 and `Retry-After`, `/ready` says so at once, and usage and audit stay
//! exact through it. PostgreSQL behind a proxy the test cuts, as an outage would.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tests::{Db, TestApp, proxy::CuttableProxy};

/// How long any answer may take while the database is away. The server waits at most
/// `DATABASE_WAIT` (0.8 s) for a connection; the rest is slack for a loaded test machine.
const PROMPT: Duration = Duration::from_millis(1500);

async fn until(what: &str, mut done: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while !done().await {
        assert!(Instant::now() < deadline, "never: {what}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// `(status, Retry-After, body, how long it took)` of a GET.
async fn timed_get(
    app: &TestApp,
    path: &str,
    key: Option<&str>,
) -> (u16, Option<String>, Value, Duration) {
    let started = Instant::now();
    let mut request = app.client.get(format!("{}{path}", app.base));
    if let Some(key) = key {
        request = request.header("x-api-key", key);
    }
    let response = request.send().await.unwrap();
    let took = started.elapsed();
    let status = response.status().as_u16();
    let retry = response
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_owned());
    (
        status,
        retry,
        response.json().await.unwrap_or(Value::Null),
        took,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_outage_is_answered_at_once() {
    if tests::postgres_url().is_none() {
        return;
    }
    let mut proxy = None;
    let app = TestApp::spawn_with(Db::Postgres, |c| {
        let (cuttable, url) = CuttableProxy::for_url(&c.database_url);
        c.database_url = url;
        proxy = Some(cuttable);
    })
    .await;
    let proxy = proxy.unwrap();
    let services = app.services().clone();
    until("the node listens", async || services.verifier.is_trusted()).await;
    let admin = app.bootstrap("ada@example.com").await;
    let key = |name: &str| json!({ "organizationId": admin.org_id, "name": name });
    let (held_id, held) = app.create_key(&admin.pat, key("in use")).await;
    let (_, cold) = app.create_key(&admin.pat, key("not in use")).await;
    let mut valid = 0;
    for _ in 0..2 {
        assert_eq!(
            timed_get(&app, "/api/v1/api-keys/verify", Some(&held))
                .await
                .0,
            200
        );
        valid += 1;
    }

    proxy.cut();
    until("the node notices", async || !services.verifier.is_trusted()).await;

    let (status, _, body, took) = timed_get(&app, "/ready", None).await;
    assert_eq!((status, body["database"].as_bool()), (503, Some(false)));
    assert!(took < PROMPT, "/ready took {took:?}");

    // A key in use keeps verifying, on both endpoints.
    for _ in 0..20 {
        let (status, _, body, took) = timed_get(&app, "/api/v1/api-keys/verify", Some(&held)).await;
        assert_eq!(status, 200, "{body}");
        assert!(took < PROMPT, "a held key took {took:?}");
        valid += 1;
    }
    let answer: Value = app
        .client
        .post(format!("{}/api/v1/keys/verify", app.base))
        .json(&json!({ "key": held }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(answer["code"], "VALID");
    valid += 1;

    // Anything that needs the database is refused at once, with a time to come back.
    let (status, retry, body, took) = timed_get(&app, "/api/v1/api-keys/verify", Some(&cold)).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (503, Some("UNAVAILABLE")),
        "{body}"
    );
    assert_eq!(retry.as_deref(), Some("5"));
    assert_eq!(body["type"], "urn:keyward:problem:unavailable");
    assert!(took < PROMPT, "a cold lookup took {took:?}");
    let started = Instant::now();
    let refused = app
        .gql(
            &admin.pat,
            "mutation($i: CreateApiKeyInput!) { createApiKey(input: $i) { secret } }",
            json!({ "i": key("during the outage") }),
        )
        .await;
    assert!(
        started.elapsed() < PROMPT,
        "a mutation took {:?}",
        started.elapsed()
    );
    assert_eq!(refused.error_code(), "UNAVAILABLE", "{:?}", refused.body);

    // Past the grace, a held key is read again, and refused as promptly.
    services
        .clock
        .advance(backend::domain::verify::UNHEARD_GRACE + Duration::from_secs(1));
    let (status, retry, _, took) = timed_get(&app, "/api/v1/api-keys/verify", Some(&held)).await;
    assert_eq!((status, retry.as_deref()), (503, Some("5")));
    assert!(took < PROMPT, "took {took:?}");

    proxy.restore();
    until("ready again", async || {
        timed_get(&app, "/ready", None).await.0 == 200
    })
    .await;
    until("listening again", async || services.verifier.is_trusted()).await;
    assert_eq!(
        timed_get(&app, "/api/v1/api-keys/verify", Some(&held))
            .await
            .0,
        200
    );
    valid += 1;
    app.create_key(&admin.pat, key("after the outage")).await;

    // Counted exactly through it: every valid answer, once; the refused mutation left
    // no trace, the others one event each.
    let app = app.restart().await;
    let r = app
        .gql(
            &admin.pat,
            "query($id: ID!, $o: ID!) { apiKey(id: $id) { requestCount }
               auditEvents(organizationId: $o, filter: { action: \"api_key.create\" }) { nodes { targetName } } }",
            json!({ "id": held_id, "o": admin.org_id }),
        )
        .await
        .data();
    assert_eq!(r["apiKey"]["requestCount"], valid, "{r}");
    let created: Vec<&str> = r["auditEvents"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["targetName"].as_str().unwrap())
        .collect();
    assert_eq!(created, ["after the outage", "not in use", "in use"]);
    app.finish().await;
}

//! The database goes away under a running server (SPEC §12): every request is answered
//! within a second, held keys keep verifying for a bounded grace, everything else is
//! refused with 503 and `Retry-After`, `/ready` says so at once, and usage and audit stay
//! exact through it. PostgreSQL behind a proxy the test cuts, as an outage would.

use std::time::Duration;

use serde_json::{Value, json};
use tests::{Db, Gql, TestApp, proxy::CuttableProxy, until_trusted};

/// How long any answer may take while the database is away. The server waits at most
/// `DATABASE_WAIT` (0.8 s) for a connection; the rest is slack for a loaded test machine.
const PROMPT: Duration = Duration::from_millis(1500);

/// `what`, which must be answered within [`PROMPT`].
async fn promptly<T>(what: &str, answer: impl Future<Output = T>) -> T {
    tokio::time::timeout(PROMPT, answer)
        .await
        .unwrap_or_else(|_| panic!("{what} was not answered within {PROMPT:?}"))
}

/// `(status, Retry-After, body)` of a GET, answered promptly.
async fn get(app: &TestApp, path: &str, key: Option<&str>) -> (u16, Option<String>, Value) {
    let mut request = app.client.get(format!("{}{path}", app.base));
    if let Some(key) = key {
        request = request.header("x-api-key", key);
    }
    let response = promptly(path, request.send()).await.unwrap();
    let status = response.status().as_u16();
    let retry = response
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_owned());
    (status, retry, response.json().await.unwrap_or(Value::Null))
}

const VERIFY: &str = "/api/v1/api-keys/verify";

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
    until_trusted(&services, true).await;
    let admin = app.bootstrap("ada@example.com").await;
    let key = |name: &str| json!({ "organizationId": admin.org_id, "name": name });
    let (held_id, held) = app.create_key(&admin.pat, key("in use")).await;
    let (_, cold) = app.create_key(&admin.pat, key("not in use")).await;
    let mut valid = 0;
    for _ in 0..2 {
        assert_eq!(get(&app, VERIFY, Some(&held)).await.0, 200);
        valid += 1;
    }

    proxy.cut();
    until_trusted(&services, false).await;

    let (status, _, body) = get(&app, "/ready", None).await;
    assert_eq!((status, body["database"].as_bool()), (503, Some(false)));

    // A key in use keeps verifying, on both endpoints.
    for _ in 0..20 {
        let (status, _, body) = get(&app, VERIFY, Some(&held)).await;
        assert_eq!(status, 200, "{body}");
        valid += 1;
    }
    let answer: Value = promptly(
        "POST verify",
        app.client
            .post(format!("{}/api/v1/keys/verify", app.base))
            .json(&json!({ "key": held }))
            .send(),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    assert_eq!(answer["code"], "VALID");
    valid += 1;

    // Anything that needs the database is refused at once, with a time to come back.
    let (status, retry, body) = get(&app, VERIFY, Some(&cold)).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (503, Some("UNAVAILABLE")),
        "{body}"
    );
    assert_eq!(retry.as_deref(), Some("5"));
    assert_eq!(body["type"], "urn:keyward:problem:unavailable");
    let refused: Gql = promptly(
        "a mutation",
        app.gql(
            &admin.pat,
            "mutation($i: CreateApiKeyInput!) { createApiKey(input: $i) { secret } }",
            json!({ "i": key("during the outage") }),
        ),
    )
    .await;
    assert_eq!(refused.error_code(), "UNAVAILABLE", "{:?}", refused.body);

    // Past the grace, a held key is read again, and refused as promptly.
    services
        .clock
        .advance(backend::domain::verify::UNHEARD_GRACE + Duration::from_secs(1));
    let (status, retry, _) = get(&app, VERIFY, Some(&held)).await;
    assert_eq!((status, retry.as_deref()), (503, Some("5")));

    // Back: listening again means the database answers again.
    proxy.restore();
    until_trusted(&services, true).await;
    assert_eq!(get(&app, "/ready", None).await.0, 200);
    assert_eq!(get(&app, VERIFY, Some(&held)).await.0, 200);
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

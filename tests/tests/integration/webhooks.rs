//! Webhooks (SPEC §16) against a real receiver: signatures checked with the Standard
//! Webhooks reference library, a failed delivery retried with the same id, nothing lost
//! across a restart, inside addresses refused at registration and at delivery, and the
//! delivery log and manual retry over REST and GraphQL.

use std::{
    sync::{
        Arc,
        atomic::{AtomicU16, Ordering},
    },
    time::Duration,
};

use axum::{body::Bytes, http::HeaderMap, routing::post};
use reqwest::Method;
use serde_json::{Value, json};
use tests::{Admin, Db, TestApp};
use tokio::sync::mpsc;

db_tests!(
    events_arrive_signed_and_a_failed_delivery_is_retried_with_the_same_id,
    no_delivery_is_lost_across_a_restart,
    membership_rotation_expiry_and_spent_credits_are_announced,
);

/// An endpoint of the test's own: it answers what it is told to, and hands over every
/// request it got.
pub struct Receiver {
    pub url: String,
    answer: Arc<AtomicU16>,
    got: mpsc::UnboundedReceiver<(HeaderMap, Bytes)>,
}

/// One request as the receiver got it.
pub struct Got {
    pub headers: HeaderMap,
    pub body: Bytes,
    pub json: Value,
}

impl Got {
    pub fn id(&self) -> String {
        self.headers["webhook-id"].to_str().unwrap().to_owned()
    }
}

impl Receiver {
    pub async fn start() -> Self {
        let (tx, got) = mpsc::unbounded_channel();
        let answer = Arc::new(AtomicU16::new(200));
        let told = answer.clone();
        let app = axum::Router::new().route(
            "/hook",
            post(move |headers: HeaderMap, body: Bytes| {
                let tx = tx.clone();
                let told = told.clone();
                async move {
                    let _ = tx.send((headers, body));
                    axum::http::StatusCode::from_u16(told.load(Ordering::SeqCst)).unwrap()
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self { url, answer, got }
    }

    fn answer(&self, status: u16) {
        self.answer.store(status, Ordering::SeqCst);
    }

    /// The next request, checked against `secret` with the reference library; at most
    /// 10 s for the sender to get to it.
    pub async fn next(&mut self, secret: &str) -> Got {
        let (headers, body) = tokio::time::timeout(Duration::from_secs(10), self.got.recv())
            .await
            .expect("a webhook within 10 s")
            .unwrap();
        standardwebhooks::Webhook::new(secret)
            .unwrap()
            .verify(&body, &headers)
            .unwrap_or_else(|e| panic!("the signature checks: {e:?}"));
        let json = serde_json::from_slice(&body).unwrap();
        Got {
            headers,
            body,
            json,
        }
    }

    /// Nothing more arrives while the sender makes a few passes.
    pub async fn nothing_more(&mut self) {
        let more = tokio::time::timeout(Duration::from_millis(1500), self.got.recv()).await;
        assert!(more.is_err(), "nothing more arrives");
    }
}

/// Registers an endpoint over REST and returns `(id, secret)`.
pub async fn register(
    app: &TestApp,
    owner: &Admin,
    url: &str,
    events: &[&str],
) -> (String, String) {
    let (status, body) = app
        .rest(
            Method::POST,
            &format!("/orgs/{}/webhook-endpoints", owner.org_id),
            &owner.pat,
            Some(json!({ "url": url, "events": events, "description": "test receiver" })),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let secret = body["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("whsec_"), "{secret}");
    (body["endpoint"]["id"].as_str().unwrap().to_owned(), secret)
}

async fn deliveries(app: &TestApp, owner: &Admin, endpoint: &str) -> Vec<Value> {
    let (status, body) = app
        .rest(
            Method::GET,
            &format!(
                "/orgs/{}/webhook-endpoints/{endpoint}/deliveries",
                owner.org_id
            ),
            &owner.pat,
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    body["items"].as_array().unwrap().clone()
}

/// Moves the server's clock past the first back-off: the retry is due.
fn past_first_retry(app: &TestApp) {
    app.services().clock.advance(Duration::from_secs(6));
}

async fn events_arrive_signed_and_a_failed_delivery_is_retried_with_the_same_id(db: Db) {
    let app = TestApp::spawn(db).await;
    let owner = app.user("owner@example.com").await;
    let mut receiver = Receiver::start().await;
    receiver.answer(500);
    let (endpoint, secret) = register(
        &app,
        &owner,
        &receiver.url,
        &["api_key.created", "api_key.revoked"],
    )
    .await;

    // The secret is shown once: never in a listing or a read.
    let (_, list) = app
        .rest(
            Method::GET,
            &format!("/orgs/{}/webhook-endpoints", owner.org_id),
            &owner.pat,
            None,
        )
        .await;
    assert_eq!(list["items"][0]["id"], endpoint.as_str());
    assert_eq!(
        list["items"][0]["events"],
        json!(["api_key.created", "api_key.revoked"])
    );
    let listed = app
        .gql(
            &owner.pat,
            "query($o: ID!) { webhookEndpoints(organizationId: $o) { id url events } }",
            json!({ "o": owner.org_id }),
        )
        .await;
    assert!(!list.to_string().contains(&secret[6..]));
    assert!(!listed.body.to_string().contains(&secret[6..]));
    assert_eq!(
        listed.data()["webhookEndpoints"][0]["events"],
        json!(["API_KEY_CREATED", "API_KEY_REVOKED"])
    );

    // A viewer sees where the endpoint points, not its path (often its credential).
    let viewer = app.user("viewer@example.com").await;
    app.join(&owner.pat, &owner.org_id, &viewer, "viewer").await;
    let seen = app
        .gql(
            &viewer.pat,
            "query($o: ID!) { webhookEndpoints(organizationId: $o) { url } }",
            json!({ "o": owner.org_id }),
        )
        .await
        .data();
    let origin = receiver.url.trim_end_matches("/hook");
    assert_eq!(
        seen["webhookEndpoints"][0]["url"],
        format!("{origin}/…").as_str()
    );

    // A key is made: the endpoint is told, signed, without the key's secret.
    let (key, key_secret) = app
        .create_key(
            &owner.pat,
            json!({ "organizationId": owner.org_id, "name": "customer-1" }),
        )
        .await;
    let first = receiver.next(&secret).await;
    assert_eq!(first.json["type"], "api_key.created");
    assert_eq!(first.json["data"]["id"], key.as_str());
    assert_eq!(first.json["data"]["name"], "customer-1");
    assert_eq!(first.json["data"]["organization_id"], owner.org_id.as_str());
    assert!(first.json["timestamp"].is_string());
    assert!(first.id().starts_with("msg_"), "{}", first.id());
    let text = String::from_utf8_lossy(&first.body);
    assert!(!text.contains(&key_secret), "no secret in a payload");
    assert!(!text.contains(&key_secret[key_secret.len() - 20..]));

    // It failed: the log says so, and when it is due again.
    let log = deliveries(&app, &owner, &endpoint).await;
    assert_eq!(log.len(), 1);
    assert_eq!(log[0]["status"], "pending", "{}", log[0]);
    assert_eq!(log[0]["attempts"], 1);
    assert_eq!(log[0]["last_status"], 500);
    assert_eq!(log[0]["message_id"], first.id().as_str());
    let due: chrono::DateTime<chrono::Utc> =
        log[0]["next_attempt_at"].as_str().unwrap().parse().unwrap();
    let tried: chrono::DateTime<chrono::Utc> =
        log[0]["last_attempt_at"].as_str().unwrap().parse().unwrap();
    assert!(
        due - tried <= chrono::TimeDelta::seconds(10),
        "first retry within 10 s"
    );

    // The retry comes when due, with the same id.
    receiver.answer(204);
    past_first_retry(&app);
    let second = receiver.next(&secret).await;
    assert_eq!(second.id(), first.id());
    assert_eq!(second.body, first.body);
    let log = deliveries(&app, &owner, &endpoint).await;
    assert_eq!(log[0]["status"], "delivered", "{}", log[0]);
    assert_eq!(log[0]["attempts"], 2);
    let delivery = log[0]["id"].as_str().unwrap().to_owned();
    let (_, detail) = app
        .rest(
            Method::GET,
            &format!("/orgs/{}/webhook-deliveries/{delivery}", owner.org_id),
            &owner.pat,
            None,
        )
        .await;
    let statuses: Vec<&Value> = detail["attempts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| &a["status"])
        .collect();
    assert_eq!(statuses, [&json!(500), &json!(204)], "{detail}");
    receiver.nothing_more().await;

    // Sent again by hand (GraphQL), still the same id; the log and the audit say so.
    let r = app
        .gql(
            &owner.pat,
            "mutation($i: RetryWebhookDeliveryInput!) { retryWebhookDelivery(input: $i) { status messageId } }",
            json!({ "i": { "id": delivery } }),
        )
        .await
        .data();
    assert_eq!(r["retryWebhookDelivery"]["status"], "PENDING");
    let third = receiver.next(&secret).await;
    assert_eq!(third.id(), first.id());
    let audit = app
        .gql(
            &owner.pat,
            "query($o: ID!) { auditEvents(organizationId: $o) { nodes { action } } }",
            json!({ "o": owner.org_id }),
        )
        .await
        .data();
    let actions = audit["auditEvents"]["nodes"].to_string();
    assert!(actions.contains("webhook_delivery.retry"), "{actions}");
    assert!(actions.contains("webhook_endpoint.create"), "{actions}");

    // A revocation is told too; an event the endpoint did not ask for is not.
    app.gql(
        &owner.pat,
        "mutation($i: RenameApiKeyInput!) { renameApiKey(input: $i) { id } }",
        json!({ "i": { "id": key, "name": "renamed" } }),
    )
    .await
    .data();
    app.gql(
        &owner.pat,
        "mutation($i: RevokeApiKeyInput!) { revokeApiKey(input: $i) { id } }",
        json!({ "i": { "id": key } }),
    )
    .await
    .data();
    let revoked = receiver.next(&secret).await;
    assert_eq!(revoked.json["type"], "api_key.revoked");
    assert_eq!(revoked.json["data"]["id"], key.as_str());
    assert_ne!(revoked.id(), first.id());
    receiver.nothing_more().await;

    // Another organization reads nothing of it.
    let stranger = app.user("stranger@example.com").await;
    let (status, _) = app
        .rest(
            Method::GET,
            &format!("/orgs/{}/webhook-deliveries/{delivery}", stranger.org_id),
            &stranger.pat,
            None,
        )
        .await;
    assert_eq!(status, 404);
    let (status, _) = app
        .rest(
            Method::POST,
            &format!(
                "/orgs/{}/webhook-deliveries/{delivery}/retry",
                stranger.org_id
            ),
            &stranger.pat,
            None,
        )
        .await;
    assert_eq!(status, 404);

    // Deleted, it is told nothing more.
    let (status, _) = app
        .rest(
            Method::DELETE,
            &format!("/orgs/{}/webhook-endpoints/{endpoint}", owner.org_id),
            &owner.pat,
            None,
        )
        .await;
    assert_eq!(status, 204);
    app.create_key(
        &owner.pat,
        json!({ "organizationId": owner.org_id, "name": "after" }),
    )
    .await;
    receiver.nothing_more().await;
    app.finish().await;
}

async fn no_delivery_is_lost_across_a_restart(db: Db) {
    let mut app = TestApp::spawn(db).await;
    let owner = app.user("owner@example.com").await;
    let mut receiver = Receiver::start().await;
    receiver.answer(503);
    let (_, secret) = register(&app, &owner, &receiver.url, &["api_key.created"]).await;
    let (first_key, _) = app
        .create_key(
            &owner.pat,
            json!({ "organizationId": owner.org_id, "name": "before" }),
        )
        .await;
    let failed = receiver.next(&secret).await;
    assert_eq!(failed.json["data"]["id"], first_key.as_str());
    // A second change just before the server stops: whether or not it was sent, it is
    // owed, and the server that comes back owes it still.
    let (second_key, _) = app
        .create_key(
            &owner.pat,
            json!({ "organizationId": owner.org_id, "name": "at the stop" }),
        )
        .await;
    app.stop_server().await;
    receiver.answer(200);
    let app = app.restart().await;
    past_first_retry(&app);
    let mut seen = std::collections::HashMap::new();
    while !(seen.contains_key(&first_key) && seen.contains_key(&second_key)) {
        let got = receiver.next(&secret).await;
        let key = got.json["data"]["id"].as_str().unwrap().to_owned();
        if key == first_key {
            assert_eq!(got.id(), failed.id(), "the retry keeps its id");
        }
        seen.insert(key, got.id());
    }
    app.finish().await;
}

async fn membership_rotation_expiry_and_spent_credits_are_announced(db: Db) {
    let app = TestApp::spawn(db).await;
    let owner = app.user("owner@example.com").await;
    let mut receiver = Receiver::start().await;
    let (_, secret) = register(
        &app,
        &owner,
        &receiver.url,
        &[
            "member.added",
            "member.removed",
            "api_key.rotated",
            "api_key.expiring",
            "credits.exhausted",
        ],
    )
    .await;

    let member = app.user("member@example.com").await;
    let membership = app
        .join(&owner.pat, &owner.org_id, &member, "developer")
        .await;
    let added = receiver.next(&secret).await;
    assert_eq!(added.json["type"], "member.added", "{}", added.json);
    app.gql(
        &owner.pat,
        "mutation($i: RemoveMemberInput!) { removeMember(input: $i) }",
        json!({ "i": { "memberId": membership } }),
    )
    .await
    .data();
    let removed = receiver.next(&secret).await;
    assert_eq!(removed.json["type"], "member.removed", "{}", removed.json);

    let (key, _) = app
        .create_key(
            &owner.pat,
            json!({ "organizationId": owner.org_id, "name": "rotating" }),
        )
        .await;
    app.gql(
        &owner.pat,
        "mutation($i: RotateApiKeyInput!) { rotateApiKey(input: $i) { secret } }",
        json!({ "i": { "id": key } }),
    )
    .await
    .data();
    let rotated = receiver.next(&secret).await;
    assert_eq!(rotated.json["type"], "api_key.rotated", "{}", rotated.json);
    assert_eq!(rotated.json["data"]["id"], key.as_str());

    // A key expiring in three days is announced once, however many passes run.
    let expires = (chrono::Utc::now() + chrono::TimeDelta::days(3)).to_rfc3339();
    let (expiring, _) = app
        .create_key(
            &owner.pat,
            json!({ "organizationId": owner.org_id, "name": "short", "expiresAt": expires }),
        )
        .await;
    assert_eq!(app.services().announce_expiring_keys().await.unwrap(), 1);
    assert_eq!(app.services().announce_expiring_keys().await.unwrap(), 0);
    let announced = receiver.next(&secret).await;
    assert_eq!(announced.json["type"], "api_key.expiring");
    assert_eq!(announced.json["data"]["id"], expiring.as_str());
    assert!(announced.json["data"]["expires_at"].is_string());

    // Credits run out: told once, at the verification that finds them spent.
    let (metered, metered_secret) = app
        .create_key(
            &owner.pat,
            json!({ "organizationId": owner.org_id, "name": "metered", "credits": { "remaining": 2 } }),
        )
        .await;
    for expected in ["VALID", "VALID", "USAGE_EXCEEDED", "USAGE_EXCEEDED"] {
        let (_, body) = app.verify_body(json!({ "key": metered_secret })).await;
        assert_eq!(body["code"], expected, "{body}");
    }
    let exhausted = receiver.next(&secret).await;
    assert_eq!(
        exhausted.json["type"], "credits.exhausted",
        "{}",
        exhausted.json
    );
    assert_eq!(exhausted.json["data"]["owner_id"], metered.as_str());
    assert_eq!(exhausted.json["data"]["owner_type"], "api_key");
    receiver.nothing_more().await;
    app.finish().await;
}

/// Loopback, private and link-local endpoints are refused at registration unless
/// allowed; one registered while allowed is refused at delivery once not, by its literal
/// address and by a name that resolves inside (what DNS rebinding would do).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inside_addresses_are_refused_at_registration_and_at_delivery() {
    let app = TestApp::spawn(Db::Sqlite).await;
    let owner = app.user("owner@example.com").await;
    let mut receiver = Receiver::start().await;
    let port = receiver
        .url
        .split(':')
        .nth(2)
        .unwrap()
        .split('/')
        .next()
        .unwrap()
        .to_owned();
    let by_name = format!("http://localhost:{port}/hook");
    let (literal, secret) = register(&app, &owner, &receiver.url, &["api_key.created"]).await;
    let (named, _) = register(&app, &owner, &by_name, &["api_key.created"]).await;

    let app = app.restart_with(|c| c.webhooks_allow_private = false).await;
    for url in [
        receiver.url.clone(),
        by_name.clone(),
        "http://10.0.0.1/hook".into(),
        "http://169.254.169.254/latest/meta-data".into(),
        format!("http://[::ffff:127.0.0.1]:{port}/hook"),
        "http://[fd00::1]/hook".into(),
    ] {
        let (status, body) = app
            .rest(
                Method::POST,
                &format!("/orgs/{}/webhook-endpoints", owner.org_id),
                &owner.pat,
                Some(json!({ "url": url, "events": ["api_key.created"] })),
            )
            .await;
        assert_eq!(status, 400, "{url}: {body}");
        assert_eq!(body["field"], "url", "{body}");
    }

    app.create_key(
        &owner.pat,
        json!({ "organizationId": owner.org_id, "name": "k" }),
    )
    .await;
    // Each endpoint's attempt is made and refused before any connection.
    for (endpoint, says) in [
        (&literal, "the address is not public"),
        (&named, "no public address"),
    ] {
        let mut log = Vec::new();
        for _ in 0..100 {
            log = deliveries(&app, &owner, endpoint).await;
            if log[0]["attempts"] == 1 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(log[0]["attempts"], 1, "{log:?}");
        let error = log[0]["last_error"].as_str().unwrap();
        assert!(error.contains(says), "{error}");
        assert!(log[0]["last_status"].is_null());
    }
    let _ = secret;
    receiver.nothing_more().await;
    app.finish().await;
}

/// An endpoint whose stored events do not read is an error where it is read, and is sent
/// nothing; the changes it would be told of (a key made, a key revoked) go ahead, and it
/// can still be deleted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endpoint_stored_unreadable_blocks_no_change() {
    let app = TestApp::spawn(Db::Sqlite).await;
    let owner = app.user("owner@example.com").await;
    let mut receiver = Receiver::start().await;
    let (endpoint, _) = register(&app, &owner, &receiver.url, &["api_key.created"]).await;
    app.exec(
        "UPDATE webhook_endpoints SET events = '[\"api_key.exploded\"]'",
        vec![],
    )
    .await;
    let (status, problem) = app
        .rest(
            Method::GET,
            &format!("/orgs/{}/webhook-endpoints", owner.org_id),
            &owner.pat,
            None,
        )
        .await;
    assert_eq!(status, 500, "{problem}");
    let (key, _) = app
        .create_key(
            &owner.pat,
            json!({ "organizationId": owner.org_id, "name": "made anyway" }),
        )
        .await;
    app.gql(
        &owner.pat,
        "mutation($i: RevokeApiKeyInput!) { revokeApiKey(input: $i) { id } }",
        json!({ "i": { "id": key } }),
    )
    .await
    .data();
    receiver.nothing_more().await;
    let (status, _) = app
        .rest(
            Method::DELETE,
            &format!("/orgs/{}/webhook-endpoints/{endpoint}", owner.org_id),
            &owner.pat,
            None,
        )
        .await;
    assert_eq!(status, 204);
    app.finish().await;
}

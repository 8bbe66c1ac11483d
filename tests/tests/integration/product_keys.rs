//! Keys an API product sells (SPEC §3.5): credits spent exactly (many requests at once,
//! two replicas, a killed process), refilled once a period, named limits counted all or
//! nothing, identities sharing credits and limits, metadata, edits after creation and
//! lookups that spend nothing.

use std::time::Duration;

use serde_json::{Value, json};
use tests::{Admin, Db, TestApp};

db_tests!(
    credits_are_never_overspent,
    replicas_never_grant_more_credits_than_exist,
    credits_refill_once_a_period,
    named_limits_count_all_or_nothing,
    identities_share_credits_limits_and_metadata,
    keys_are_edited_after_creation,
    a_lookup_spends_nothing,
    product_controls_are_checked_at_the_edge,
    keys_and_identities_over_rest,
    setting_credits_voids_what_nodes_hold,
    project_keys_stay_out_of_identities,
    a_relaying_service_names_its_tenant,
    an_organization_may_require_a_project_for_every_key,
    a_deployment_spells_scopes_its_own_way,
);

/// `KEYWARD_SCOPE_ALIASES` (SPEC §3.1): Onvera's docs say `org:read`; keys, PATs, roles
/// and verify requests take it, and answers name the resource itself.
async fn a_deployment_spells_scopes_its_own_way(db: Db) {
    use reqwest::Method;
    let app = TestApp::spawn_with(db, |c| {
        c.scope_aliases = backend::domain::permissions::ScopeAliases::parse(&[
            "org=organization".into(),
            "keys=api_keys".into(),
        ])
        .unwrap();
    })
    .await;
    let ada = app.bootstrap("ada@example.com").await;
    let org = &ada.org_id;
    let (status, made) = app
        .rest(
            Method::POST,
            &format!("/orgs/{org}/api-keys"),
            &ada.pat,
            Some(json!({ "name": "onvera", "scopes": ["org:read", "keys:read"] })),
        )
        .await;
    assert_eq!(status, 201, "{made}");
    assert_eq!(
        made["key"]["scopes"],
        json!(["organization:read", "api_keys:read"]),
        "{made}"
    );
    let secret = made["secret"].as_str().unwrap().to_owned();
    let (_, answer) = app
        .verify_body(json!({ "key": secret, "require": ["org:read"] }))
        .await;
    assert_eq!(answer["code"], "VALID", "{answer}");
    let (_, answer) = app
        .verify_body(json!({ "key": secret, "require": ["org:write"] }))
        .await;
    assert_eq!(answer["code"], "INSUFFICIENT_PERMISSIONS", "{answer}");
    assert_eq!(answer["missing"], json!(["organization:write"]), "{answer}");
    let (status, role) = app
        .rest(
            Method::POST,
            &format!("/orgs/{org}/roles"),
            &ada.pat,
            Some(json!({ "name": "Org reader", "permissions": ["org:read"] })),
        )
        .await;
    assert_eq!(status, 201, "{role}");
    assert_eq!(role["permissions"], json!(["organization:read"]));
    let (status, pat) = app
        .rest(
            Method::POST,
            "/pats",
            &ada.pat,
            Some(json!({ "name": "reader", "scopes": ["org:read"] })),
        )
        .await;
    assert_eq!(
        (status, &pat["pat"]["scopes"]),
        (201, &json!(["organization:read"]))
    );
    // Without the alias the same spelling is an unknown application resource.
    let plain = TestApp::spawn(app.db).await;
    let eve = plain.bootstrap("eve@example.com").await;
    let (status, problem) = plain
        .rest(
            Method::POST,
            &format!("/orgs/{}/api-keys", eve.org_id),
            &eve.pat,
            Some(json!({ "name": "x", "scopes": ["org:read"] })),
        )
        .await;
    assert_eq!(status, 400, "{problem}");
    plain.finish().await;
    app.finish().await;
}

/// Serves as the process `tests::child_server` starts; otherwise does nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_as_child() {
    tests::serve_if_child().await;
}

const CREATE: &str =
    "mutation($i: CreateApiKeyInput!) { createApiKey(input: $i) { secret apiKey { id } } }";
const UPDATE: &str = "mutation($i: UpdateApiKeyInput!) { updateApiKey(input: $i) { id name meta enabled: status credits { remaining refill { interval amount } } ratelimits { name limit durationMs autoApply } identity { externalId } } }";

/// Creates a key of Ada's organization with `extra` input fields; `(id, secret)`.
async fn key(app: &TestApp, ada: &Admin, extra: Value) -> (String, String) {
    let mut input = json!({ "organizationId": ada.org_id, "name": "product key" });
    for (k, v) in extra.as_object().unwrap() {
        input[k] = v.clone();
    }
    let made = app
        .gql(&ada.pat, CREATE, json!({ "i": input }))
        .await
        .data();
    (
        made["createApiKey"]["apiKey"]["id"]
            .as_str()
            .unwrap()
            .to_owned(),
        made["createApiKey"]["secret"].as_str().unwrap().to_owned(),
    )
}

/// `POST /api/v1/keys/verify` at `base` with `extra` body fields.
async fn verify_at(app: &TestApp, base: &str, secret: &str, extra: Value) -> Value {
    let mut body = json!({ "key": secret });
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    let response = app
        .client
        .post(format!("{base}/api/v1/keys/verify"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

async fn verify(app: &TestApp, secret: &str, extra: Value) -> Value {
    verify_at(app, &app.base, secret, extra).await
}

fn code(answer: &Value) -> &str {
    answer["code"].as_str().unwrap_or_default()
}

/// Counts the `VALID` answers among `n` verifications sent at once to `base`.
async fn spend_at_once(app: &TestApp, base: &str, secret: &str, n: usize) -> usize {
    let answers =
        futures::future::join_all((0..n).map(|_| verify_at(app, base, secret, json!({})))).await;
    for a in &answers {
        assert!(matches!(code(a), "VALID" | "USAGE_EXCEEDED"), "{a}");
    }
    answers.iter().filter(|a| code(a) == "VALID").count()
}

/// Many verifications at once never spend more than a key holds; a cost the key cannot
/// pay spends nothing; a rate-limited or under-permitted answer spends nothing.
async fn credits_are_never_overspent(db: Db) {
    let app = TestApp::spawn(db).await;
    let ada = app.bootstrap("ada@example.com").await;
    let (_, secret) = key(&app, &ada, json!({ "credits": { "remaining": 30 } })).await;
    let valid = spend_at_once(&app, &app.base, &secret, 45).await;
    assert_eq!(valid, 30, "exactly the credits granted");
    let none = verify(&app, &secret, json!({})).await;
    assert_eq!(code(&none), "USAGE_EXCEEDED");
    assert_eq!(none["valid"], false);
    assert_eq!(none["credits"]["remaining"], 0);

    // A cost larger than what is left spends nothing.
    let (_, five) = key(&app, &ada, json!({ "credits": { "remaining": 5 } })).await;
    let costly = verify(&app, &five, json!({ "cost": 6 })).await;
    assert_eq!(code(&costly), "USAGE_EXCEEDED");
    assert_eq!(costly["credits"]["remaining"], 5);
    let paid = verify(&app, &five, json!({ "cost": 3 })).await;
    assert_eq!(code(&paid), "VALID");
    assert_eq!(paid["credits"]["remaining"], 2);
    // Missing permissions: nothing spent.
    let refused = verify(
        &app,
        &five,
        json!({ "require": ["deployments:write"], "cost": 1 }),
    )
    .await;
    assert_eq!(code(&refused), "INSUFFICIENT_PERMISSIONS", "{refused}");
    assert_eq!(refused["credits"]["remaining"], 2);
    // Over a limit: the credits taken are given back.
    let (_, limited) = key(
        &app,
        &ada,
        json!({ "credits": { "remaining": 10 }, "rateLimitPerMinute": 1 }),
    )
    .await;
    assert_eq!(code(&verify(&app, &limited, json!({})).await), "VALID");
    let over = verify(&app, &limited, json!({})).await;
    assert_eq!(code(&over), "RATE_LIMITED");
    assert_eq!(over["credits"]["remaining"], 9, "{over}");
    // A cost of 0 checks the key without spending.
    let free = verify(&app, &five, json!({ "cost": 0 })).await;
    assert_eq!(code(&free), "VALID");
    assert_eq!(free["credits"]["remaining"], 2);
    app.finish().await;
}

/// Two nodes spending one key's credits at once grant no more than it holds; once they
/// give back what they hold, nothing is lost. A node killed while spending loses at most
/// one block and never grants extra.
async fn replicas_never_grant_more_credits_than_exist(db: Db) {
    let app = TestApp::spawn(db).await;
    let ada = app.bootstrap("ada@example.com").await;
    let (_, secret) = key(&app, &ada, json!({ "credits": { "remaining": 200 } })).await;
    let other = app.another_node().await;
    let other_base = format!("http://{}", other.addr);
    let (here, there) = tokio::join!(
        spend_at_once(&app, &app.base, &secret, 150),
        spend_at_once(&app, &other_base, &secret, 150),
    );
    assert!(here + there <= 200, "{here} + {there} granted of 200");
    // Each node gives back what it holds: the rest is spendable, exactly.
    app.services()
        .give_back_credits(Duration::ZERO)
        .await
        .unwrap();
    other
        .services
        .give_back_credits(Duration::ZERO)
        .await
        .unwrap();
    let rest = spend_at_once(&app, &app.base, &secret, 250).await;
    assert_eq!(here + there + rest, 200, "nothing lost, nothing extra");
    other.shutdown().await;

    // A killed process: its block is lost, never granted twice.
    let (_, secret) = key(&app, &ada, json!({ "credits": { "remaining": 300 } })).await;
    let child = tests::child_server(&app.database_url, "product_keys::serve_as_child").await;
    let child_base = child.base.clone();
    // Killed with verifications in flight, once 20 have been answered.
    let mut in_flight: futures::stream::FuturesUnordered<_> = (0..60)
        .map(|_| {
            let request = app
                .client
                .post(format!("{child_base}/api/v1/keys/verify"))
                .json(&json!({ "key": secret }))
                .send();
            async move {
                match request.await {
                    Ok(response) => response.json::<Value>().await.ok(),
                    Err(_) => None,
                }
            }
        })
        .collect();
    let mut spent_there = 0;
    let mut answered = 0;
    while let Some(answer) = futures::StreamExt::next(&mut in_flight).await {
        if answer.as_ref().is_some_and(|a| code(a) == "VALID") {
            spent_there += 1;
        }
        answered += 1;
        if answered == 20 {
            break;
        }
    }
    child.kill().await;
    while let Some(answer) = futures::StreamExt::next(&mut in_flight).await {
        if answer.as_ref().is_some_and(|a| code(a) == "VALID") {
            spent_there += 1;
        }
    }
    assert!(spent_there >= 20, "{spent_there}");
    let spent_here = spend_at_once(&app, &app.base, &secret, 400).await;
    let granted = spent_there + spent_here;
    assert!(granted <= 300, "{granted} granted of 300");
    assert!(
        granted >= 300 - 50,
        "a crash loses one block at most (50): {granted} of 300"
    );
    app.finish().await;
}

/// A daily refill happens at the UTC boundary, once, however many nodes see it.
async fn credits_refill_once_a_period(db: Db) {
    let app = TestApp::spawn(db).await;
    let ada = app.bootstrap("ada@example.com").await;
    let (_, secret) = key(
        &app,
        &ada,
        json!({ "credits": { "remaining": 2, "refill": { "interval": "DAILY", "amount": 5 } } }),
    )
    .await;
    assert_eq!(spend_at_once(&app, &app.base, &secret, 4).await, 2);
    let other = app.another_node().await;
    let other_base = format!("http://{}", other.addr);
    // The next day on both nodes' clocks.
    let now = app.services().clock.now();
    let midnight = (now + chrono::TimeDelta::days(1))
        .date_naive()
        .and_hms_opt(0, 0, 1)
        .unwrap()
        .and_utc();
    let ahead = (midnight - now).to_std().unwrap();
    app.services().clock.advance(ahead);
    other.services.clock.advance(ahead);
    let (here, there) = tokio::join!(
        spend_at_once(&app, &app.base, &secret, 6),
        spend_at_once(&app, &other_base, &secret, 6),
    );
    app.services()
        .give_back_credits(Duration::ZERO)
        .await
        .unwrap();
    other
        .services
        .give_back_credits(Duration::ZERO)
        .await
        .unwrap();
    let rest = spend_at_once(&app, &app.base, &secret, 6).await;
    assert_eq!(here + there + rest, 5, "refilled to 5, once");
    other.shutdown().await;
    app.finish().await;
}

/// Named limits: auto-applied ones count every verification, others only when named,
/// each with its cost; when one refuses, none counts; the answer lists each.
async fn named_limits_count_all_or_nothing(db: Db) {
    let app = TestApp::spawn(db).await;
    let ada = app.bootstrap("ada@example.com").await;
    let (_, secret) = key(
        &app,
        &ada,
        json!({ "ratelimits": [
            { "name": "requests", "limit": 3, "durationMs": 60000, "autoApply": true },
            { "name": "tokens", "limit": 10, "durationMs": 60000 },
        ] }),
    )
    .await;
    let first = verify(
        &app,
        &secret,
        json!({ "ratelimits": [{ "name": "tokens", "cost": 4 }] }),
    )
    .await;
    assert_eq!(code(&first), "VALID", "{first}");
    let names: Vec<&str> = first["ratelimits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["per-minute", "requests", "tokens"]);
    assert_eq!(first["ratelimits"][1]["remaining"], 2);
    assert_eq!(first["ratelimits"][2]["remaining"], 6);
    // Tokens refuse a cost of 7: nothing counts, the auto-applied limit included.
    let refused = verify(
        &app,
        &secret,
        json!({ "ratelimits": [{ "name": "tokens", "cost": 7 }] }),
    )
    .await;
    assert_eq!(code(&refused), "RATE_LIMITED");
    assert_eq!(refused["ratelimits"][2]["exceeded"], true);
    assert_eq!(refused["ratelimits"][1]["exceeded"], false);
    let again = verify(&app, &secret, json!({})).await;
    assert_eq!(code(&again), "VALID");
    assert_eq!(
        again["ratelimits"][1]["remaining"], 1,
        "the refusal counted nothing"
    );
    assert_eq!(
        again["ratelimits"].as_array().unwrap().len(),
        2,
        "tokens only when named"
    );
    assert_eq!(code(&verify(&app, &secret, json!({})).await), "VALID");
    let out = verify(&app, &secret, json!({})).await;
    assert_eq!(code(&out), "RATE_LIMITED", "the auto-applied limit of 3");
    // A limit the key does not have is the caller's mistake, named.
    let unknown = app
        .verify_body(json!({ "key": secret, "ratelimits": [{ "name": "nope" }] }))
        .await;
    assert_eq!(unknown.0, 400, "{}", unknown.1);
    assert!(
        unknown.1["detail"]
            .as_str()
            .unwrap()
            .contains("ratelimits[0].name")
    );
    // Time passes (the server's clock): the limits refill.
    app.services().clock.advance(Duration::from_secs(61));
    assert_eq!(code(&verify(&app, &secret, json!({})).await), "VALID");
    app.finish().await;
}

/// Keys created for one `externalId` share its identity: its credits, its limits, its
/// metadata, returned by verify.
async fn identities_share_credits_limits_and_metadata(db: Db) {
    let app = TestApp::spawn(db).await;
    let ada = app.bootstrap("ada@example.com").await;
    let made = app
        .gql(
            &ada.pat,
            "mutation($i: CreateIdentityInput!) { createIdentity(input: $i) { id externalId meta credits { remaining } ratelimits { name } } }",
            json!({ "i": {
                "organizationId": ada.org_id,
                "externalId": "customer-42",
                "meta": { "plan": "pro" },
                "credits": { "remaining": 4 },
                "ratelimits": [{ "name": "burst", "limit": 100, "durationMs": 1000, "autoApply": true }],
            } }),
        )
        .await
        .data();
    assert_eq!(made["createIdentity"]["credits"]["remaining"], 4);
    let (_, a) = key(
        &app,
        &ada,
        json!({ "externalId": "customer-42", "meta": { "seat": 1 } }),
    )
    .await;
    let (_, b) = key(&app, &ada, json!({ "externalId": "customer-42" })).await;
    let first = verify(&app, &a, json!({})).await;
    assert_eq!(code(&first), "VALID");
    assert_eq!(first["meta"], json!({ "seat": 1 }));
    assert_eq!(first["identity"]["external_id"], "customer-42");
    assert_eq!(first["identity"]["meta"], json!({ "plan": "pro" }));
    assert_eq!(first["credits"]["remaining"], 3);
    assert!(
        first["ratelimits"]
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l["name"] == "burst"),
        "{first}"
    );
    let mut valid = 1;
    for secret in [&b, &a, &b, &a] {
        if code(&verify(&app, secret, json!({})).await) == "VALID" {
            valid += 1;
        }
    }
    assert_eq!(valid, 4, "the identity's 4 credits, shared by both keys");
    // A key with an unknown externalId makes the identity on first use.
    let (_, c) = key(&app, &ada, json!({ "externalId": "customer-43" })).await;
    let third = verify(&app, &c, json!({})).await;
    assert_eq!(third["identity"]["external_id"], "customer-43");
    assert!(third.get("credits").is_none(), "no credits: unlimited");
    let listed = app
        .gql(
            &ada.pat,
            "query($o: ID!) { identities(organizationId: $o, first: 10) { totalCount nodes { externalId } } }",
            json!({ "o": ada.org_id }),
        )
        .await
        .data();
    assert_eq!(listed["identities"]["totalCount"], 2);
    // The identity's credits change; its keys see it at once.
    let id = made["createIdentity"]["id"].as_str().unwrap();
    app.gql(
        &ada.pat,
        "mutation($i: ChangeCreditsInput!) { changeIdentityCredits(input: $i) { remaining } }",
        json!({ "i": { "id": id, "op": "SET", "value": 1 } }),
    )
    .await
    .data();
    assert_eq!(code(&verify(&app, &b, json!({})).await), "VALID");
    assert_eq!(code(&verify(&app, &a, json!({})).await), "USAGE_EXCEEDED");
    // Another organization cannot see or touch it.
    let bob = app.bootstrap("bob@example.com").await;
    let foreign = app
        .gql(
            &bob.pat,
            "query($id: ID!) { identity(id: $id) { externalId } }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(foreign.error_code(), "NOT_FOUND", "{:?}", foreign.body);
    app.finish().await;
}

/// Every field of a key can change after creation, audited before and after, in force
/// at once on this node and soon on another.
async fn keys_are_edited_after_creation(db: Db) {
    let app = TestApp::spawn(db).await;
    let ada = app.bootstrap("ada@example.com").await;
    let (id, secret) = key(&app, &ada, json!({ "meta": { "plan": "free" } })).await;
    let other = match app.db {
        Db::Postgres => Some(app.another_node().await),
        Db::Sqlite => None,
    };
    let other_base = other
        .as_ref()
        .map_or(app.base.clone(), |n| format!("http://{}", n.addr));
    // Held in both nodes' caches.
    verify(&app, &secret, json!({ "cost": 0 })).await;
    verify_at(&app, &other_base, &secret, json!({ "cost": 0 })).await;
    let edited = app
        .gql(
            &ada.pat,
            UPDATE,
            json!({ "i": {
                "id": id,
                "name": "renamed",
                "meta": { "plan": "pro" },
                "credits": { "remaining": 1, "refill": { "interval": "MONTHLY", "amount": 100 } },
                "ratelimits": [{ "name": "tokens", "limit": 5, "durationMs": 1000 }],
                "externalId": "customer-7",
            } }),
        )
        .await
        .data();
    let e = &edited["updateApiKey"];
    assert_eq!(e["name"], "renamed");
    assert_eq!(e["meta"], json!({ "plan": "pro" }));
    assert_eq!(e["credits"]["remaining"], 1);
    assert_eq!(e["credits"]["refill"]["interval"], "MONTHLY");
    assert_eq!(e["ratelimits"][0]["name"], "tokens");
    assert_eq!(e["identity"]["externalId"], "customer-7");
    // In force on this node before the call returned.
    let here = verify(&app, &secret, json!({})).await;
    assert_eq!(here["meta"], json!({ "plan": "pro" }), "{here}");
    assert_eq!(here["key"]["name"], "renamed");
    // And on the other node once it hears (bounded wait, no sleep).
    let started = std::time::Instant::now();
    loop {
        let there = verify_at(&app, &other_base, &secret, json!({ "cost": 0 })).await;
        if there["meta"] == json!({ "plan": "pro" }) {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "never heard: {there}"
        );
        tokio::task::yield_now().await;
    }
    assert_eq!(
        code(&verify_at(&app, &other_base, &secret, json!({})).await),
        "USAGE_EXCEEDED",
        "one credit, spent on this node"
    );
    // Disabled and enabled; removed controls.
    let disabled = app
        .gql(
            &ada.pat,
            UPDATE,
            json!({ "i": { "id": id, "enabled": false } }),
        )
        .await
        .data();
    assert_eq!(disabled["updateApiKey"]["enabled"], "DISABLED");
    assert_eq!(code(&verify(&app, &secret, json!({})).await), "DISABLED");
    app.gql(
        &ada.pat,
        UPDATE,
        json!({ "i": { "id": id, "enabled": true, "credits": null, "meta": null, "externalId": null } }),
    )
    .await
    .data();
    let open = verify(&app, &secret, json!({})).await;
    assert_eq!(code(&open), "VALID", "{open}");
    assert!(
        open.get("credits").is_none()
            && open.get("meta").is_none()
            && open.get("identity").is_none()
    );
    // The audit log has each change, before and after.
    let log = app
        .gql(
            &ada.pat,
            "query($o: ID!) { auditEvents(organizationId: $o, first: 50) { nodes { action details } } }",
            json!({ "o": ada.org_id }),
        )
        .await
        .data();
    let updates: Vec<&Value> = log["auditEvents"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "api_key.update")
        .collect();
    assert_eq!(updates.len(), 3);
    let first = updates
        .iter()
        .find(|e| e["details"]["name"].is_object())
        .unwrap();
    assert_eq!(
        first["details"]["name"],
        json!({ "from": "product key", "to": "renamed" })
    );
    assert_eq!(first["details"]["meta"]["from"], json!({ "plan": "free" }));
    assert_eq!(first["details"]["credits"]["to"]["remaining"], 1);
    assert!(!log.to_string().contains(&secret), "never a secret");
    // A narrow token cannot widen a key beyond itself.
    let narrow = app
        .gql(
            &ada.pat,
            "mutation($i: CreatePersonalAccessTokenInput!) { createPersonalAccessToken(input: $i) { secret } }",
            json!({ "i": { "name": "narrow", "scopes": ["api_keys:write"] } }),
        )
        .await
        .data()["createPersonalAccessToken"]["secret"]
        .as_str()
        .unwrap()
        .to_owned();
    let widened = app
        .gql(
            &narrow,
            UPDATE,
            json!({ "i": { "id": id, "scopes": ["members:admin"] } }),
        )
        .await;
    assert_eq!(widened.error_code(), "FORBIDDEN", "{:?}", widened.body);
    if let Some(node) = other {
        node.shutdown().await;
    }
    app.finish().await;
}

/// A lookup says what verify would, spends no credits and counts no limit; it needs
/// `api_keys:read` in the key's organization, and a stranger learns nothing.
async fn a_lookup_spends_nothing(db: Db) {
    let app = TestApp::spawn(db).await;
    let ada = app.bootstrap("ada@example.com").await;
    let (_, secret) = key(
        &app,
        &ada,
        json!({ "credits": { "remaining": 3 }, "rateLimitPerMinute": 1, "meta": { "tier": 2 } }),
    )
    .await;
    let lookup = |token: String| {
        let app = &app;
        let secret = secret.clone();
        async move {
            let response = app
                .client
                .post(format!("{}/api/v1/keys/lookup", app.base))
                .bearer_auth(token)
                .json(&json!({ "key": secret }))
                .send()
                .await
                .unwrap();
            let status = response.status();
            (status, response.json::<Value>().await.unwrap())
        }
    };
    for _ in 0..3 {
        let (status, answer) = lookup(ada.pat.clone()).await;
        assert_eq!(status, 200);
        assert_eq!(code(&answer), "VALID", "{answer}");
        assert_eq!(answer["credits"]["remaining"], 3);
        assert_eq!(answer["meta"], json!({ "tier": 2 }));
    }
    // The key's one request a minute is still there, and its credits.
    let spent = verify(&app, &secret, json!({})).await;
    assert_eq!(code(&spent), "VALID");
    assert_eq!(spent["credits"]["remaining"], 2);
    let bob = app.bootstrap("bob@example.com").await;
    let (status, stranger) = lookup(bob.pat.clone()).await;
    assert_eq!(status, 200);
    assert_eq!(code(&stranger), "NOT_FOUND");
    assert!(stranger.get("key").is_none() && stranger.get("meta").is_none());
    let anonymous = app
        .client
        .post(format!("{}/api/v1/keys/lookup", app.base))
        .json(&json!({ "key": secret }))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);
    app.finish().await;
}

/// Bad controls are refused before anything is written, naming the field.
async fn product_controls_are_checked_at_the_edge(db: Db) {
    let app = TestApp::spawn(db).await;
    let ada = app.bootstrap("ada@example.com").await;
    let deep = json!({ "a": { "b": { "c": { "d": { "e": 1 } } } } });
    let big = json!({ "x": "y".repeat(5000) });
    for (input, field) in [
        (json!({ "meta": deep }), "input.meta"),
        (json!({ "meta": big }), "input.meta"),
        (json!({ "meta": [1, 2] }), "input.meta"),
        (
            json!({ "credits": { "remaining": -1 } }),
            "input.credits.remaining",
        ),
        (
            json!({ "credits": { "remaining": 1, "refill": { "interval": "MONTHLY", "amount": 1, "dayOfMonth": 32 } } }),
            "input.credits.refill.dayOfMonth",
        ),
        (
            json!({ "ratelimits": [{ "name": "a", "limit": 1, "durationMs": 10 }] }),
            "input.ratelimits[0].durationMs",
        ),
        (
            json!({ "ratelimits": [{ "name": "per-minute", "limit": 1, "durationMs": 1000 }] }),
            "input.ratelimits[0].name",
        ),
        (json!({ "externalId": "" }), "input.externalId"),
        (json!({ "externalId": "a\u{202e}b" }), "input.externalId"),
    ] {
        let mut i = json!({ "organizationId": ada.org_id, "name": "bad" });
        for (k, v) in input.as_object().unwrap() {
            i[k] = v.clone();
        }
        let refused = app.gql(&ada.pat, CREATE, json!({ "i": i })).await;
        assert_eq!(
            refused.error_code(),
            "INVALID_INPUT",
            "{input}: {:?}",
            refused.body
        );
        assert_eq!(
            refused.body["errors"][0]["extensions"]["field"], field,
            "{input}: {:?}",
            refused.body
        );
    }
    let keys = app
        .gql(
            &ada.pat,
            "query($o: ID!) { apiKeys(organizationId: $o) { totalCount } }",
            json!({ "o": ada.org_id }),
        )
        .await
        .data();
    assert_eq!(keys["apiKeys"]["totalCount"], 0, "nothing half-made");
    let (_, secret) = key(&app, &ada, json!({})).await;
    for (body, field) in [
        (json!({ "key": secret, "cost": 1001 }), "cost"),
        (json!({ "key": secret, "cost": -1 }), "cost"),
        (
            json!({ "key": secret, "ratelimits": [{ "name": "" }] }),
            "ratelimits[0].name",
        ),
        (
            json!({ "key": secret, "ratelimits": [{ "name": "a" }, { "name": "a" }] }),
            "ratelimits[1].name",
        ),
    ] {
        let (status, answer) = app.verify_body(body.clone()).await;
        assert_eq!(status, 400, "{body}");
        assert!(
            answer["detail"].as_str().unwrap().starts_with(field),
            "{body}: {answer}"
        );
    }
    app.finish().await;
}

/// The REST door onto the same calls (SPEC §4.4): create, list by cursor, get, edit,
/// credits, revoke, rotate; identities likewise; another organization's ids are not found;
/// bad bodies are problems naming the field.
async fn keys_and_identities_over_rest(db: Db) {
    let app = TestApp::spawn(db).await;
    let ada = app.bootstrap("ada@example.com").await;
    let bob = app.bootstrap("bob@example.com").await;
    let call = |method: reqwest::Method, path: String, token: String, body: Option<Value>| {
        let app = &app;
        async move {
            let mut req = app
                .client
                .request(method, format!("{}{path}", app.base))
                .bearer_auth(token);
            if let Some(body) = body {
                req = req.json(&body);
            }
            let response = req.send().await.unwrap();
            let status = response.status().as_u16();
            let ct = response
                .headers()
                .get("content-type")
                .map(|v| v.to_str().unwrap().to_owned())
                .unwrap_or_default();
            (
                status,
                ct,
                response.json::<Value>().await.unwrap_or(Value::Null),
            )
        }
    };
    let org = &ada.org_id;
    let keys = format!("/api/v1/orgs/{org}/api-keys");
    let (status, _, made) = call(
        reqwest::Method::POST,
        keys.clone(),
        ada.pat.clone(),
        Some(json!({
            "name": "rest key",
            "meta": { "plan": "pro" },
            "credits": { "remaining": 10, "refill": { "interval": "monthly", "amount": 10, "day_of_month": 15 } },
            "ratelimits": [{ "name": "tokens", "limit": 100, "duration_ms": 60000 }],
            "external_id": "customer-9",
        })),
    )
    .await;
    assert_eq!(status, 201, "{made}");
    let secret = made["secret"].as_str().unwrap().to_owned();
    let id = made["key"]["id"].as_str().unwrap().to_owned();
    assert_eq!(made["key"]["credits"]["remaining"], 10);
    assert_eq!(made["key"]["credits"]["refill"]["day_of_month"], 15);
    assert_eq!(made["key"]["ratelimits"][0]["name"], "tokens");
    assert_eq!(made["key"]["identity"]["external_id"], "customer-9");
    assert_eq!(made["key"]["status"], "active");
    assert_eq!(code(&verify(&app, &secret, json!({})).await), "VALID");
    // Pages follow the cursor to the end.
    for n in 0..3 {
        call(
            reqwest::Method::POST,
            keys.clone(),
            ada.pat.clone(),
            Some(json!({ "name": format!("more {n}") })),
        )
        .await;
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("{keys}?limit=3&cursor={c}"),
            None => format!("{keys}?limit=3"),
        };
        let (status, _, page) = call(reqwest::Method::GET, path, ada.pat.clone(), None).await;
        assert_eq!(status, 200, "{page}");
        for item in page["items"].as_array().unwrap() {
            seen.push(item["id"].as_str().unwrap().to_owned());
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen.len(), 4, "every key once");
    assert!(seen.contains(&id));
    // Edit, credits, get.
    let (status, _, patched) = call(
        reqwest::Method::PATCH,
        format!("{keys}/{id}"),
        ada.pat.clone(),
        Some(json!({ "name": "renamed", "meta": null, "enabled": false })),
    )
    .await;
    assert_eq!(status, 200, "{patched}");
    assert_eq!(patched["name"], "renamed");
    assert!(patched["meta"].is_null());
    assert_eq!(patched["status"], "disabled");
    assert_eq!(code(&verify(&app, &secret, json!({})).await), "DISABLED");
    let (status, _, credits) = call(
        reqwest::Method::POST,
        format!("{keys}/{id}/credits"),
        ada.pat.clone(),
        Some(json!({ "op": "increment", "value": 5 })),
    )
    .await;
    assert_eq!(status, 200, "{credits}");
    assert_eq!(credits["remaining"], 14, "10 - 1 spent + 5");
    let (status, _, got) = call(
        reqwest::Method::GET,
        format!("{keys}/{id}"),
        ada.pat.clone(),
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(got["credits"]["remaining"], 14);
    // Another organization's key, and a path of the wrong organization: not found.
    let (status, ct, foreign) = call(
        reqwest::Method::GET,
        format!("{keys}/{id}"),
        bob.pat.clone(),
        None,
    )
    .await;
    assert_eq!(status, 404, "{foreign}");
    assert_eq!(ct, "application/problem+json");
    let (status, _, _) = call(
        reqwest::Method::GET,
        format!("/api/v1/orgs/{}/api-keys/{id}", bob.org_id),
        bob.pat.clone(),
        None,
    )
    .await;
    assert_eq!(status, 404);
    // Bad bodies name the field.
    for (body, field) in [
        (
            json!({ "name": "x", "credits": { "remaining": -5 } }),
            "credits",
        ),
        (
            json!({ "name": "x", "unknown": 1 }),
            "unknown: is not a member",
        ),
        (json!({ "name": "" }), "name: "),
    ] {
        let (status, ct, problem) = call(
            reqwest::Method::POST,
            keys.clone(),
            ada.pat.clone(),
            Some(body.clone()),
        )
        .await;
        assert_eq!(status, 400, "{body}: {problem}");
        assert_eq!(ct, "application/problem+json");
        assert!(
            problem["detail"].as_str().unwrap().contains(field),
            "{body}: {problem}"
        );
    }
    // Rotate and revoke.
    let (status, _, rotated) = call(
        reqwest::Method::POST,
        format!("{keys}/{id}/rotate"),
        ada.pat.clone(),
        Some(json!({})),
    )
    .await;
    assert_eq!(status, 200, "{rotated}");
    let new_id = rotated["key"]["id"].as_str().unwrap().to_owned();
    assert_eq!(rotated["key"]["rotated_from_id"], json!(id));
    assert_eq!(rotated["key"]["replaces"]["id"], json!(id), "{rotated}");
    // The old key names its successor and when it stops working.
    let (status, _, old) = call(
        reqwest::Method::GET,
        format!("{keys}/{id}"),
        ada.pat.clone(),
        None,
    )
    .await;
    assert_eq!(status, 200, "{old}");
    assert_eq!(old["replaced_by"]["id"], json!(new_id), "{old}");
    assert!(old["rotation_ends_at"].is_string(), "{old}");
    assert!(old["replaces"].is_null(), "{old}");
    let (status, _, revoked) = call(
        reqwest::Method::POST,
        format!("{keys}/{new_id}/revoke"),
        ada.pat.clone(),
        Some(json!({ "reason": "done" })),
    )
    .await;
    assert_eq!(status, 200, "{revoked}");
    assert_eq!(revoked["status"], "revoked");

    // Identities.
    let identities = format!("/api/v1/orgs/{org}/identities");
    let (status, _, listed) = call(
        reqwest::Method::GET,
        identities.clone(),
        ada.pat.clone(),
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        listed["items"][0]["external_id"], "customer-9",
        "made on first use"
    );
    let (status, _, made) = call(
        reqwest::Method::POST,
        identities.clone(),
        ada.pat.clone(),
        Some(json!({ "external_id": "customer-10", "credits": { "remaining": 3 } })),
    )
    .await;
    assert_eq!(status, 201, "{made}");
    let identity = made["id"].as_str().unwrap().to_owned();
    let (status, _, twice) = call(
        reqwest::Method::POST,
        identities.clone(),
        ada.pat.clone(),
        Some(json!({ "external_id": "customer-10" })),
    )
    .await;
    assert_eq!(status, 409, "{twice}");
    let (status, _, patched) = call(
        reqwest::Method::PATCH,
        format!("{identities}/{identity}"),
        ada.pat.clone(),
        Some(json!({ "meta": { "tier": "gold" }, "ratelimits": [{ "name": "burst", "limit": 5, "duration_ms": 1000, "auto_apply": true }] })),
    )
    .await;
    assert_eq!(status, 200, "{patched}");
    assert_eq!(patched["meta"], json!({ "tier": "gold" }));
    let (status, _, credits) = call(
        reqwest::Method::POST,
        format!("{identities}/{identity}/credits"),
        ada.pat.clone(),
        Some(json!({ "op": "set", "value": 7 })),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(credits["remaining"], 7);
    let (status, _, _) = call(
        reqwest::Method::GET,
        format!("/api/v1/orgs/{}/identities/{identity}", bob.org_id),
        bob.pat.clone(),
        None,
    )
    .await;
    assert_eq!(status, 404, "another organization's identity is not found");
    let (status, _, _) = call(
        reqwest::Method::DELETE,
        format!("{identities}/{identity}"),
        ada.pat.clone(),
        None,
    )
    .await;
    assert_eq!(status, 204);
    let (status, _, _) = call(
        reqwest::Method::GET,
        format!("{identities}/{identity}"),
        ada.pat.clone(),
        None,
    )
    .await;
    assert_eq!(status, 404);
    app.finish().await;
}

/// Setting a key's credits outright voids the blocks nodes hold, even when the value set
/// reads the same as the database, and a pool removed and made again never takes back a
/// block of the old one.
async fn setting_credits_voids_what_nodes_hold(db: Db) {
    let app = TestApp::spawn(db).await;
    let ada = app.bootstrap("ada@example.com").await;
    let (id, secret) = key(&app, &ada, json!({ "credits": { "remaining": 100 } })).await;
    // This node takes a block (25) and spends one: the database holds 75.
    assert_eq!(code(&verify(&app, &secret, json!({})).await), "VALID");
    let set = |credits: Value| {
        app.gql(
            &ada.pat,
            UPDATE,
            json!({ "i": { "id": id, "credits": credits } }),
        )
    };
    set(json!({ "remaining": 75 })).await.data();
    let valid = spend_at_once(&app, &app.base, &secret, 120).await;
    assert_eq!(valid, 75, "the 24 held before the set are void");

    // Another node holds a block when the pool is removed and made again.
    let (id, secret) = key(&app, &ada, json!({ "credits": { "remaining": 100 } })).await;
    let other = app.another_node().await;
    let other_base = format!("http://{}", other.addr);
    assert_eq!(
        code(&verify_at(&app, &other_base, &secret, json!({})).await),
        "VALID"
    );
    let set = |credits: Value| {
        app.gql(
            &ada.pat,
            UPDATE,
            json!({ "i": { "id": id, "credits": credits } }),
        )
    };
    set(Value::Null).await.data();
    set(json!({ "remaining": 2 })).await.data();
    other
        .services
        .give_back_credits(Duration::ZERO)
        .await
        .unwrap();
    let valid = spend_at_once(&app, &app.base, &secret, 10).await;
    assert_eq!(valid, 2, "the old pool's block is not given to the new one");
    other.shutdown().await;
    app.finish().await;
}

/// A key bound to one project cannot reach identities (shared by every project), nor
/// look up another project's keys; a stranger's lookup learns nothing, not even that a
/// key was revoked.
async fn project_keys_stay_out_of_identities(db: Db) {
    let app = TestApp::spawn(db).await;
    let ada = app.bootstrap("ada@example.com").await;
    let (_, project_key) = key(
        &app,
        &ada,
        json!({ "projectId": ada.project_id, "scopes": ["api_keys:admin"] }),
    )
    .await;
    let (_, whole_org_key) = key(&app, &ada, json!({})).await;
    for (query, vars) in [
        (
            "mutation($i: CreateIdentityInput!) { createIdentity(input: $i) { id } }",
            json!({ "i": { "organizationId": ada.org_id, "externalId": "c1" } }),
        ),
        (
            "query($o: ID!) { identities(organizationId: $o) { totalCount } }",
            json!({ "o": ada.org_id }),
        ),
        (
            CREATE,
            json!({ "i": { "organizationId": ada.org_id, "projectId": ada.project_id, "name": "k", "externalId": "c1" } }),
        ),
    ] {
        let refused = app.gql(&project_key, query, vars).await;
        assert_eq!(refused.error_code(), "FORBIDDEN", "{:?}", refused.body);
        assert!(
            refused.error_message().contains("one project"),
            "{:?}",
            refused.body
        );
    }
    let lookup = |token: &str, secret: &str| {
        let request = app
            .client
            .post(format!("{}/api/v1/keys/lookup", app.base))
            .bearer_auth(token)
            .json(&json!({ "key": secret }))
            .send();
        async move { request.await.unwrap().json::<Value>().await.unwrap() }
    };
    assert_eq!(
        code(&lookup(&project_key, &whole_org_key).await),
        "NOT_FOUND"
    );
    // A named limit's cost above the whole limit is the caller's mistake.
    let (_, limited) = key(
        &app,
        &ada,
        json!({ "ratelimits": [{ "name": "tokens", "limit": 5, "durationMs": 1000 }] }),
    )
    .await;
    let (status, answer) = app
        .verify_body(json!({ "key": limited, "ratelimits": [{ "name": "tokens", "cost": 6 }] }))
        .await;
    assert_eq!(status, 400, "{answer}");
    assert!(
        answer["detail"]
            .as_str()
            .unwrap()
            .starts_with("ratelimits[0].cost")
    );
    // A revoked key looked up by a stranger: unknown.
    let bob = app.bootstrap("bob@example.com").await;
    let (id, revoked) = key(&app, &ada, json!({})).await;
    app.gql(
        &ada.pat,
        "mutation($i: RevokeApiKeyInput!) { revokeApiKey(input: $i) { id } }",
        json!({ "i": { "id": id } }),
    )
    .await
    .data();
    assert_eq!(code(&lookup(&bob.pat, &revoked).await), "NOT_FOUND");
    assert_eq!(code(&lookup(&ada.pat, &revoked).await), "REVOKED");
    app.finish().await;
}

/// A service relaying keys names the organization or project it serves: a key of another
/// answers with its own code, says nothing else and spends nothing (SPEC §4.2).
async fn a_relaying_service_names_its_tenant(db: Db) {
    let app = TestApp::spawn(db).await;
    let ada = app.bootstrap("ada@example.com").await;
    let bob = app.bootstrap("bob@example.com").await;
    let other_project = app
        .gql(
            &ada.pat,
            "mutation($i: CreateProjectInput!) { createProject(input: $i) { id } }",
            json!({ "i": { "organizationId": ada.org_id, "name": "second" } }),
        )
        .await
        .data()["createProject"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (_, in_project) = key(
        &app,
        &ada,
        json!({ "projectId": ada.project_id, "credits": { "remaining": 5 } }),
    )
    .await;
    let (_, org_wide) = key(&app, &ada, json!({})).await;
    let expect = |org: &str, project: Option<&str>| match project {
        Some(p) => json!({ "expect": { "organization_id": org, "project_id": p } }),
        None => json!({ "expect": { "organization_id": org } }),
    };
    let same = verify(
        &app,
        &in_project,
        expect(&ada.org_id, Some(&ada.project_id)),
    )
    .await;
    assert_eq!(code(&same), "VALID", "{same}");
    assert_eq!(same["credits"]["remaining"], 4);
    let other_org = verify(&app, &in_project, expect(&bob.org_id, None)).await;
    assert_eq!(
        other_org,
        json!({ "valid": false, "code": "WRONG_ORGANIZATION" })
    );
    let other_proj = verify(&app, &in_project, expect(&ada.org_id, Some(&other_project))).await;
    assert_eq!(
        other_proj,
        json!({ "valid": false, "code": "WRONG_PROJECT" })
    );
    let spent = verify(&app, &in_project, json!({ "cost": 0 })).await;
    assert_eq!(spent["credits"]["remaining"], 4, "refusals spent nothing");
    // An organization-wide key is in every project of its organization, and only there.
    let wide = verify(
        &app,
        &org_wide,
        json!({ "expect": { "project_id": other_project } }),
    )
    .await;
    assert_eq!(code(&wide), "VALID", "{wide}");
    let foreign = verify(
        &app,
        &org_wide,
        json!({ "expect": { "project_id": bob.project_id } }),
    )
    .await;
    assert_eq!(code(&foreign), "WRONG_ORGANIZATION");
    // A PAT is checked in the organization the service serves.
    let pat = verify(&app, &ada.pat, expect(&ada.org_id, None)).await;
    assert_eq!(code(&pat), "VALID", "{pat}");
    // The PAT of someone who is not a member there is another tenant's token, with or
    // without permissions asked for: it is not valid there.
    for asked in [json!([]), json!(["api_keys:read"])] {
        let not_member = verify(
            &app,
            &ada.pat,
            json!({ "expect": { "organization_id": bob.org_id }, "require": asked }),
        )
        .await;
        assert_eq!(
            not_member,
            json!({ "code": "WRONG_ORGANIZATION", "valid": false }),
            "{asked}"
        );
    }
    app.finish().await;
}

/// An organization whose keys each belong to a project (KV Cache Store, Vectorcache)
/// refuses an organization-wide key, naming the field.
async fn an_organization_may_require_a_project_for_every_key(db: Db) {
    let app = TestApp::spawn(db).await;
    let ada = app.bootstrap("ada@example.com").await;
    let set = app
        .gql(
            &ada.pat,
            "mutation($i: UpdateOrganizationSettingsInput!) { updateOrganizationSettings(input: $i) { keysPerProject } }",
            json!({ "i": { "organizationId": ada.org_id, "keysPerProject": true } }),
        )
        .await
        .data();
    assert_eq!(set["updateOrganizationSettings"]["keysPerProject"], true);
    let refused = app
        .gql(
            &ada.pat,
            CREATE,
            json!({ "i": { "organizationId": ada.org_id, "name": "wide" } }),
        )
        .await;
    assert_eq!(refused.error_code(), "INVALID_INPUT");
    assert_eq!(
        refused.body["errors"][0]["extensions"]["field"],
        "input.projectId"
    );
    let (_, secret) = key(&app, &ada, json!({ "projectId": ada.project_id })).await;
    let answer = verify(&app, &secret, json!({})).await;
    assert_eq!(answer["project"]["id"], json!(ada.project_id));
    app.finish().await;
}

//! Verification analytics (SPEC §4.2, §9): every verification of an existing key is
//! counted by outcome and minute, the recent ones are logged with the caller's tags and
//! address for a configurable number of days, and GraphQL reads both back, per key and
//! per organization.

use std::collections::BTreeMap;

use entity::{prelude::*, verification_bucket};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{Value, json};
use tests::{Db, Header, TestApp};

db_tests!(
    every_outcome_is_counted_and_logged,
    analytics_stay_inside_their_organization_and_project,
    refusals_of_removed_and_suspended_owners_are_counted,
    the_log_keeps_its_retention,
    tags_are_checked_before_anything_else,
    the_log_is_exported_as_json_lines,
);

/// `GET /api/v1/orgs/{org}/verifications/export` (SPEC §9): the organization's log as JSON
/// Lines, oldest first, within the retention, for `usage:read` and `api_keys:read` only.
async fn the_log_is_exported_as_json_lines(db: Db) {
    let app = TestApp::spawn_with(db, |c| c.verification_log_days = 2).await;
    let ada = app.bootstrap("ada@example.com").await;
    let bob = app.bootstrap("bob@example.com").await;
    let (id, secret) = app
        .create_key(
            &ada.pat,
            json!({ "organizationId": ada.org_id, "name": "edge" }),
        )
        .await;
    let (_, bobs) = app
        .create_key(
            &bob.pat,
            json!({ "organizationId": bob.org_id, "name": "other" }),
        )
        .await;
    let tagged = json!({ "key": secret, "tags": { "endpoint": "/v1/get" } });
    assert_eq!(post_code(&app, tagged).await, "VALID");
    assert_eq!(post_code(&app, json!({ "key": bobs })).await, "VALID");
    let disable = "mutation($id: ID!) { disableApiKey(input: { id: $id }) { id } }";
    app.gql(&ada.pat, disable, json!({ "id": id })).await.data();
    assert_eq!(post_code(&app, json!({ "key": secret })).await, "DISABLED");
    app.services().flush_usage().await.unwrap();

    let export = |token: String, query: &'static str| {
        let app = &app;
        let url = format!(
            "{}/api/v1/orgs/{}/verifications/export{query}",
            app.base, ada.org_id
        );
        async move {
            let response = app.client.get(url).bearer_auth(token).send().await.unwrap();
            let status = response.status().as_u16();
            let ct = response.headers()["content-type"]
                .to_str()
                .unwrap()
                .to_owned();
            (status, ct, response.text().await.unwrap())
        }
    };
    let (status, ct, text) = export(ada.pat.clone(), "").await;
    assert_eq!(
        (status, ct.as_str()),
        (200, "application/x-ndjson"),
        "{text}"
    );
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2, "only this organization's keys: {text}");
    assert_eq!(lines[0]["outcome"], "VALID");
    assert_eq!(lines[0]["key_id"], json!(id));
    assert_eq!(lines[0]["key_name"], "edge");
    assert_eq!(lines[0]["tags"], json!({ "endpoint": "/v1/get" }));
    assert_eq!(lines[1]["outcome"], "DISABLED", "oldest first");
    assert!(lines[0]["ip"].is_string(), "{}", lines[0]);
    assert!(
        !text.contains(&secret[secret.len() - 12..]),
        "never the secret"
    );
    let (status, _, text) = export(
        ada.pat.clone(),
        "?since=2000-01-01T00:00:00Z&until=2000-01-02T00:00:00Z",
    )
    .await;
    assert_eq!(
        status, 400,
        "before the retention, `since` is clamped past `until`: {text}"
    );
    // Another organization's owner is refused.
    let (status, ct, _) = export(bob.pat.clone(), "").await;
    assert!(status == 403 || status == 404, "{status}");
    assert_eq!(ct, "application/problem+json");
    // A key that may read usage but not keys is refused too.
    let (_, narrow) = app
        .create_key(
            &ada.pat,
            json!({ "organizationId": ada.org_id, "name": "usage-only", "scopes": ["usage:read"] }),
        )
        .await;
    let (status, _, _) = export(narrow, "").await;
    assert_eq!(status, 403);
    // Past the retention nothing is exported.
    app.services()
        .clock
        .advance(std::time::Duration::from_secs(3 * 24 * 3600));
    let (status, _, text) = export(ada.pat.clone(), "").await;
    assert_eq!((status, text.as_str()), (200, ""));
    app.finish().await;
}

const KEY_STATS: &str = "query($id: ID!) {
    verifications(credentialId: $id) {
        total failed bucketMinutes outcomes { outcome count } buckets { start total outcomes { outcome count } }
    }
}";

const RECENT: &str = "query($id: ID!, $outcome: VerificationOutcome) {
    recentVerifications(credentialId: $id, outcome: $outcome) {
        totalCount edges { node { at outcome ip tags { name value } } }
    }
}";

const ORG_STATS: &str = "query($o: ID!) {
    organizationVerifications(organizationId: $o) {
        total failed outcomes { outcome count }
        busiestKeys { credentialId name prefix total failed failureRate outcomes { outcome count } }
    }
}";

/// `[{outcome, count}]` as a map.
fn by_outcome(list: &Value) -> BTreeMap<String, i64> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|o| {
            (
                o["outcome"].as_str().unwrap().to_owned(),
                o["count"].as_i64().unwrap(),
            )
        })
        .collect()
}

fn counts(pairs: &[(&str, i64)]) -> BTreeMap<String, i64> {
    pairs.iter().map(|(o, n)| ((*o).to_owned(), *n)).collect()
}

async fn post_code(app: &TestApp, body: Value) -> String {
    let (status, answer) = app.verify_body(body).await;
    assert_eq!(status, 200, "{answer}");
    answer["code"].as_str().unwrap().to_owned()
}

async fn every_outcome_is_counted_and_logged(db: Db) {
    let app = TestApp::spawn(db).await;
    let admin = app.bootstrap("ada@example.com").await;
    let org = admin.org_id.as_str();
    let key = |name: &str| json!({ "organizationId": org, "name": name });
    let (busy, busy_secret) = app.create_key(&admin.pat, key("busy")).await;
    let (slow, slow_secret) = app
        .create_key(
            &admin.pat,
            json!({ "organizationId": org, "name": "slow", "rateLimitPerMinute": 1 }),
        )
        .await;
    let (gone, gone_secret) = app.create_key(&admin.pat, key("gone")).await;
    let (off, off_secret) = app.create_key(&admin.pat, key("off")).await;
    let (_, old_secret) = app.create_key(&admin.pat, key("old")).await;

    // The busy key: two presented, one checked with tags, one lacking a permission.
    for style in [Header::Bearer, Header::XApiKey] {
        assert_eq!(app.verify(style, &busy_secret).await.0, 200);
    }
    let tagged =
        json!({ "key": busy_secret, "tags": { "endpoint": "/deployments", "region": "eu-west" } });
    assert_eq!(post_code(&app, tagged).await, "VALID");
    let lacking = json!({ "key": busy_secret, "require": ["nope:read"] });
    assert_eq!(post_code(&app, lacking).await, "INSUFFICIENT_PERMISSIONS");

    // One over its limit, by either endpoint.
    assert_eq!(
        post_code(&app, json!({ "key": slow_secret })).await,
        "VALID"
    );
    assert_eq!(app.verify(Header::Bearer, &slow_secret).await.0, 429);

    // Revoked, disabled and expired keys are counted against themselves.
    assert_eq!(
        post_code(&app, json!({ "key": gone_secret })).await,
        "VALID"
    );
    let revoke = "mutation($id: ID!) { revokeApiKey(input: { id: $id }) { id } }";
    app.gql(&admin.pat, revoke, json!({ "id": gone }))
        .await
        .data();
    assert_eq!(
        post_code(&app, json!({ "key": gone_secret })).await,
        "REVOKED"
    );
    let disable = "mutation($id: ID!) { disableApiKey(input: { id: $id }) { id } }";
    app.gql(&admin.pat, disable, json!({ "id": off }))
        .await
        .data();
    let off_tags = json!({ "key": off_secret, "tags": { "endpoint": "/cache" } });
    assert_eq!(post_code(&app, off_tags).await, "DISABLED");
    let past = chrono::Utc::now() - chrono::TimeDelta::minutes(1);
    app.exec(
        "UPDATE credentials SET expires_at = ? WHERE token_hash = ?",
        vec![past.into(), tests::sha256_hex(&old_secret).into()],
    )
    .await;
    assert_eq!(app.verify(Header::ApiKey, &old_secret).await.0, 401);
    // Strings that are no key are not counted against any key.
    assert_eq!(
        post_code(&app, json!({ "key": "kw_live_nothing" })).await,
        "MALFORMED"
    );

    app.services().flush_usage().await.unwrap();

    let stats = app
        .gql(&admin.pat, KEY_STATS, json!({ "id": busy }))
        .await
        .data()["verifications"]
        .clone();
    assert_eq!(stats["total"], 4, "{stats}");
    assert_eq!(stats["failed"], 1);
    assert_eq!(stats["bucketMinutes"], 60);
    assert_eq!(
        by_outcome(&stats["outcomes"]),
        counts(&[("VALID", 3), ("INSUFFICIENT_PERMISSIONS", 1)])
    );
    let bars = stats["buckets"].as_array().unwrap();
    assert_eq!(bars.len(), 24, "an hour a bar over the last 24 hours");
    assert_eq!(
        bars.iter()
            .map(|b| b["total"].as_i64().unwrap())
            .sum::<i64>(),
        4
    );
    let last = bars.iter().rfind(|b| b["total"] != 0).unwrap();
    assert_eq!(
        by_outcome(&last["outcomes"]),
        counts(&[("VALID", 3), ("INSUFFICIENT_PERMISSIONS", 1)])
    );

    for (id, expected) in [
        (&slow, counts(&[("VALID", 1), ("RATE_LIMITED", 1)])),
        (&gone, counts(&[("VALID", 1), ("REVOKED", 1)])),
        (&off, counts(&[("DISABLED", 1)])),
    ] {
        let r = app
            .gql(&admin.pat, KEY_STATS, json!({ "id": id }))
            .await
            .data();
        assert_eq!(by_outcome(&r["verifications"]["outcomes"]), expected);
    }

    // The log: newest first, with the address and the tags, filtered by outcome.
    let log = app
        .gql(&admin.pat, RECENT, json!({ "id": busy }))
        .await
        .data()["recentVerifications"]
        .clone();
    assert_eq!(log["totalCount"], 4, "{log}");
    let nodes: Vec<&Value> = log["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["node"])
        .collect();
    let outcomes: Vec<&str> = nodes
        .iter()
        .map(|n| n["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(
        outcomes,
        ["INSUFFICIENT_PERMISSIONS", "VALID", "VALID", "VALID"]
    );
    assert!(nodes.iter().all(|n| n["ip"] == "127.0.0.1"));
    assert_eq!(
        nodes[1]["tags"],
        json!([{ "name": "endpoint", "value": "/deployments" }, { "name": "region", "value": "eu-west" }])
    );
    assert_eq!(nodes[2]["tags"], json!([]));
    let valid = app
        .gql(
            &admin.pat,
            RECENT,
            json!({ "id": busy, "outcome": "VALID" }),
        )
        .await
        .data();
    assert_eq!(valid["recentVerifications"]["totalCount"], 3);
    let off_log = app
        .gql(
            &admin.pat,
            RECENT,
            json!({ "id": off, "outcome": "DISABLED" }),
        )
        .await
        .data();
    assert_eq!(
        off_log["recentVerifications"]["edges"][0]["node"]["tags"],
        json!([{ "name": "endpoint", "value": "/cache" }])
    );

    // The organization: totals, and its busiest keys with their failure rates.
    let org_stats = app
        .gql(&admin.pat, ORG_STATS, json!({ "o": org }))
        .await
        .data()["organizationVerifications"]
        .clone();
    assert_eq!(org_stats["total"], 10, "{org_stats}");
    assert_eq!(org_stats["failed"], 5);
    assert_eq!(
        by_outcome(&org_stats["outcomes"]),
        counts(&[
            ("VALID", 5),
            ("RATE_LIMITED", 1),
            ("INSUFFICIENT_PERMISSIONS", 1),
            ("EXPIRED", 1),
            ("REVOKED", 1),
            ("DISABLED", 1),
        ])
    );
    let busiest = org_stats["busiestKeys"].as_array().unwrap();
    assert_eq!(busiest.len(), 5);
    assert_eq!(busiest[0]["credentialId"], busy.as_str());
    assert_eq!(busiest[0]["name"], "busy");
    assert_eq!(busiest[0]["failureRate"], 0.25);
    assert!(busiest[0]["prefix"].as_str().unwrap().starts_with("kw_"));
    let totals: Vec<i64> = busiest
        .iter()
        .map(|k| k["total"].as_i64().unwrap())
        .collect();
    assert_eq!(totals, [4, 2, 2, 1, 1]);
    let off_row = busiest.iter().find(|k| k["name"] == "off").unwrap();
    assert_eq!(off_row["failureRate"], 1.0);

    // Ranges are bounded.
    let wide = app
        .gql(
            &admin.pat,
            "query($id: ID!) { verifications(credentialId: $id, since: \"2026-01-01T00:00:00Z\", until: \"2026-03-01T00:00:00Z\") { total } }",
            json!({ "id": busy }),
        )
        .await;
    assert_eq!(wide.error_code(), "INVALID_INPUT");
    let fine = app
        .gql(
            &admin.pat,
            "query($id: ID!) { verifications(credentialId: $id, bucketMinutes: 1, since: \"2026-01-01T00:00:00Z\", until: \"2026-01-03T00:00:00Z\") { total } }",
            json!({ "id": busy }),
        )
        .await;
    assert_eq!(
        fine.error_code(),
        "INVALID_INPUT",
        "2,880 one-minute bars are too many"
    );
    let top = app
        .gql(
            &admin.pat,
            "query($o: ID!) { organizationVerifications(organizationId: $o, first: 51) { total } }",
            json!({ "o": org }),
        )
        .await;
    assert_eq!(top.error_code(), "INVALID_INPUT");
    app.finish().await;
}

/// Another organization's members learn nothing; a key bound to a project sees its
/// project's keys only; naming the busiest keys needs `api_keys:read` too.
async fn analytics_stay_inside_their_organization_and_project(db: Db) {
    let app = TestApp::spawn(db).await;
    let ada = app.bootstrap("ada@example.com").await;
    let eve = app.bootstrap("eve@example.com").await;
    let org = ada.org_id.as_str();
    let edge = app
        .gql(
            &ada.pat,
            "mutation($i: CreateProjectInput!) { createProject(input: $i) { id } }",
            json!({ "i": { "organizationId": org, "name": "Edge" } }),
        )
        .await
        .data()["createProject"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (default_key, default_secret) = app
        .create_key(
            &ada.pat,
            json!({ "organizationId": org, "projectId": ada.project_id, "name": "default-key" }),
        )
        .await;
    let (_, edge_secret) = app
        .create_key(
            &ada.pat,
            json!({ "organizationId": org, "projectId": edge, "name": "edge-key" }),
        )
        .await;
    for _ in 0..3 {
        assert_eq!(
            post_code(&app, json!({ "key": edge_secret })).await,
            "VALID"
        );
    }
    assert_eq!(
        post_code(&app, json!({ "key": default_secret })).await,
        "VALID"
    );
    app.services().flush_usage().await.unwrap();

    // Eve, owner of another organization, gets nothing of Ada's.
    let key_vars = json!({ "id": default_key });
    for query in [KEY_STATS, RECENT] {
        let r = app.gql(&eve.pat, query, key_vars.clone()).await;
        assert_eq!(r.error_code(), "NOT_FOUND", "{query}");
    }
    let r = app.gql(&eve.pat, ORG_STATS, json!({ "o": org })).await;
    assert_eq!(r.error_code(), "NOT_A_MEMBER");
    let r = app
        .gql(&eve.pat, ORG_STATS, json!({ "o": eve.org_id }))
        .await
        .data();
    assert_eq!(r["organizationVerifications"]["total"], 0);

    // The default project's key sees its own project only: no edge-key anywhere.
    let r = app
        .gql(&default_secret, ORG_STATS, json!({ "o": org }))
        .await
        .data()["organizationVerifications"]
        .clone();
    assert_eq!(r["total"], 1, "{r}");
    let names: Vec<&str> = r["busiestKeys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["default-key"]);
    let r = app
        .gql(&ada.pat, ORG_STATS, json!({ "o": org }))
        .await
        .data();
    assert_eq!(r["organizationVerifications"]["total"], 4);

    // A token that may read usage but not keys reads a key's counts, not the key list.
    let usage_only = app
        .gql(
            &ada.pat,
            "mutation($i: CreatePersonalAccessTokenInput!) { createPersonalAccessToken(input: $i) { secret } }",
            json!({ "i": { "name": "usage-only", "scopes": ["usage:read"] } }),
        )
        .await
        .data()["createPersonalAccessToken"]["secret"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = app.gql(&usage_only, KEY_STATS, key_vars).await.data();
    assert_eq!(r["verifications"]["total"], 1);
    let r = app.gql(&usage_only, ORG_STATS, json!({ "o": org })).await;
    assert_eq!(r.error_code(), "FORBIDDEN");
    assert!(
        r.error_message().contains("api_keys:read"),
        "{}",
        r.error_message()
    );
    app.finish().await;
}

async fn refusals_of_removed_and_suspended_owners_are_counted(db: Db) {
    let app = TestApp::spawn(db).await;
    let bob = app.bootstrap("bob@example.com").await;
    let (id, secret) = app
        .create_key(
            &bob.pat,
            json!({ "organizationId": bob.org_id, "name": "b" }),
        )
        .await;
    let bob_id: uuid::Uuid = app
        .gql(&bob.pat, "{ me { user { id } } }", json!({}))
        .await
        .data()["me"]["user"]["id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    app.exec(
        "UPDATE customers SET suspended_at = ? WHERE id = ?",
        vec![chrono::Utc::now().into(), bob_id.into()],
    )
    .await;
    assert_eq!(post_code(&app, json!({ "key": secret })).await, "SUSPENDED");
    app.exec(
        "UPDATE customers SET suspended_at = NULL WHERE id = ?",
        vec![bob_id.into()],
    )
    .await;
    let org: uuid::Uuid = bob.org_id.parse().unwrap();
    app.exec(
        "DELETE FROM memberships WHERE organization_id = ?",
        vec![org.into()],
    )
    .await;
    app.services().verifier.invalidate_all();
    assert_eq!(
        post_code(&app, json!({ "key": secret })).await,
        "OWNER_REMOVED"
    );
    app.services().flush_usage().await.unwrap();

    // Nobody is left to read them over the API; they are stored all the same.
    let rows = VerificationBucket::find()
        .filter(verification_bucket::Column::CredentialId.eq(id.parse::<uuid::Uuid>().unwrap()))
        .all(app.services().test_db())
        .await
        .unwrap();
    let stored: BTreeMap<String, i64> = rows.iter().map(|r| (r.outcome.clone(), r.count)).collect();
    assert_eq!(stored, counts(&[("SUSPENDED", 1), ("OWNER_REMOVED", 1)]));
    assert!(rows.iter().all(|r| r.organization_id == Some(org)));
    app.finish().await;
}

async fn the_log_keeps_its_retention(db: Db) {
    let app = TestApp::spawn_with(db, |c| c.verification_log_days = 2).await;
    let admin = app.bootstrap("ada@example.com").await;
    let (id, secret) = app
        .create_key(
            &admin.pat,
            json!({ "organizationId": admin.org_id, "name": "k" }),
        )
        .await;
    assert_eq!(post_code(&app, json!({ "key": secret })).await, "VALID");
    app.services().flush_usage().await.unwrap();
    let total = |r: Value| r["recentVerifications"]["totalCount"].clone();
    let r = app
        .gql(&admin.pat, RECENT, json!({ "id": id }))
        .await
        .data();
    assert_eq!(total(r), 1);
    assert_eq!(app.services().prune_verification_log().await.unwrap(), 0);

    // Three days on, the entry is past the retention: no longer shown, then removed.
    app.services()
        .clock
        .advance(std::time::Duration::from_secs(3 * 24 * 3600));
    let r = app
        .gql(&admin.pat, RECENT, json!({ "id": id }))
        .await
        .data();
    assert_eq!(total(r), 0);
    assert_eq!(app.services().prune_verification_log().await.unwrap(), 1);
    app.finish().await;
}

async fn tags_are_checked_before_anything_else(db: Db) {
    let app = TestApp::spawn(db).await;
    let admin = app.bootstrap("ada@example.com").await;
    let (id, secret) = app
        .create_key(
            &admin.pat,
            json!({ "organizationId": admin.org_id, "name": "k" }),
        )
        .await;
    let eleven: serde_json::Map<String, Value> =
        (0..11).map(|i| (format!("t{i}"), json!("v"))).collect();
    for (tags, field) in [
        (Value::Object(eleven), "tags"),
        (json!({ "endpoint": "x".repeat(201) }), "tags.endpoint"),
        (
            json!({ "n".repeat(41): "v" }),
            "tags.nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn",
        ),
        (json!({ "endpoint": "a\u{0}b" }), "tags.endpoint"),
    ] {
        let (status, body) = app
            .verify_body(json!({ "key": secret, "tags": tags }))
            .await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(body["field"], field, "{body}");
        assert!(
            !body.to_string().contains(&secret),
            "the key is never echoed"
        );
    }
    let (status, body) = app
        .verify_body(json!({ "key": secret, "tags": { "retries": 3 } }))
        .await;
    assert_eq!(status, 400, "{body}");
    // A caller passing the key along in a tag would show it to every reader of the log.
    let leaky = json!({ "key": secret, "tags": { "authorization": format!("Bearer {secret}") } });
    let (status, body) = app.verify_body(leaky).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["field"], "tags");
    assert!(
        !body.to_string().contains(&secret),
        "the key is never echoed"
    );
    // Refused requests were not verifications.
    app.services().flush_usage().await.unwrap();
    let r = app
        .gql(&admin.pat, RECENT, json!({ "id": id }))
        .await
        .data();
    assert_eq!(r["recentVerifications"]["totalCount"], 0);
    app.finish().await;
}

//! `/metrics` (SPEC §12): the Prometheus text parses, and each family is there with the
//! labels operators query by; it is served to loopback clients or with the metrics token.

use std::collections::BTreeMap;

use serde_json::json;
use tests::{Db, Header, TestApp};

db_tests!(every_family_is_exported, metrics_are_not_public,);

/// One sample: its labels and value.
#[derive(Debug)]
struct Sample {
    labels: BTreeMap<String, String>,
    value: f64,
}

/// Parses the Prometheus text format: `name{a="b",…} value` lines; `#` lines are
/// comments and type hints. Panics on anything else, so malformed output fails.
fn parse(text: &str) -> BTreeMap<String, Vec<Sample>> {
    let mut families: BTreeMap<String, Vec<Sample>> = BTreeMap::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (series, value) = line
            .rsplit_once(' ')
            .unwrap_or_else(|| panic!("not a sample: {line}"));
        let value: f64 = match value {
            "+Inf" => f64::INFINITY,
            v => v.parse().unwrap_or_else(|_| panic!("not a value: {line}")),
        };
        let (name, labels) = match series.split_once('{') {
            Some((name, rest)) => {
                let body = rest
                    .strip_suffix('}')
                    .unwrap_or_else(|| panic!("unclosed labels: {line}"));
                let labels = body
                    .split("\",")
                    .filter(|p| !p.is_empty())
                    .map(|pair| {
                        let (k, v) = pair
                            .split_once("=\"")
                            .unwrap_or_else(|| panic!("not a label: {pair} in {line}"));
                        (k.to_owned(), v.trim_end_matches('"').to_owned())
                    })
                    .collect();
                (name, labels)
            }
            None => (series, BTreeMap::new()),
        };
        assert!(
            name.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':'),
            "not a metric name: {name}"
        );
        families
            .entry(name.to_owned())
            .or_default()
            .push(Sample { labels, value });
    }
    families
}

fn find<'a>(
    families: &'a BTreeMap<String, Vec<Sample>>,
    name: &str,
    labels: &[(&str, &str)],
) -> Option<&'a Sample> {
    families.get(name)?.iter().find(|s| {
        labels
            .iter()
            .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
    })
}

async fn scrape(app: &TestApp) -> BTreeMap<String, Vec<Sample>> {
    let response = app
        .client
        .get(format!("{}/metrics", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain; version=0.0.4")
    );
    parse(&response.text().await.unwrap())
}

async fn every_family_is_exported(db: Db) {
    let app = TestApp::spawn(db).await;
    let admin = app.bootstrap("ada@example.com").await;
    let (id, secret) = app
        .create_key(
            &admin.pat,
            json!({ "organizationId": admin.org_id, "name": "m", "rateLimitPerMinute": 2 }),
        )
        .await;
    assert_eq!(app.verify(Header::Bearer, &secret).await.0, 200);
    assert_eq!(app.verify(Header::Bearer, &secret).await.0, 200);
    assert_eq!(app.verify(Header::Bearer, &secret).await.0, 429);
    assert_eq!(app.verify(Header::Bearer, "kw_sk_live_nope").await.0, 401);
    let revoke = "mutation($id: ID!) { revokeApiKey(input: { id: $id }) { id } }";
    app.gql(&admin.pat, revoke, json!({ "id": id }))
        .await
        .data();
    app.services().flush_usage().await.unwrap();

    let m = scrape(&app).await;
    let verify_route = [("route", "/api/v1/api-keys/verify"), ("method", "GET")];
    let ok = find(
        &m,
        "keyward_http_requests_total",
        &[verify_route[0], verify_route[1], ("status", "200")],
    )
    .expect("requests by route, method and status");
    assert!(ok.value >= 2.0);
    assert!(
        find(
            &m,
            "keyward_http_requests_total",
            &[("route", "/graphql"), ("status", "200")]
        )
        .is_some()
    );
    let buckets = &m["keyward_http_request_duration_seconds_bucket"];
    assert!(
        buckets
            .iter()
            .any(
                |s| s.labels.get("route").map(String::as_str) == Some("/api/v1/api-keys/verify")
                    && s.labels.get("le").map(String::as_str) == Some("+Inf")
                    && s.value >= 3.0
            ),
        "a latency histogram per route"
    );
    assert!(m.contains_key("keyward_http_request_duration_seconds_count"));
    for code in ["VALID", "RATE_LIMITED", "MALFORMED"] {
        assert!(
            find(&m, "keyward_verifications_total", &[("code", code)])
                .is_some_and(|s| s.value >= 1.0),
            "verifications by code: {code}"
        );
    }
    for decision in ["allowed", "limited"] {
        assert!(
            find(
                &m,
                "keyward_rate_limit_decisions_total",
                &[("decision", decision)]
            )
            .is_some(),
            "rate-limit decisions: {decision}"
        );
    }
    assert!(m["keyward_verify_cache_hits_total"][0].value >= 1.0);
    assert!(m["keyward_verify_cache_misses_total"][0].value >= 1.0);
    assert!(m.contains_key("keyward_verify_cache_entries"));
    assert!(m.contains_key("keyward_verify_cache_trusted"));
    let lag = m["keyward_usage_flush_lag_seconds"][0].value;
    assert!((0.0..60.0).contains(&lag), "flushed a moment ago: {lag}");
    assert!(find(&m, "keyward_db_pool_connections", &[("state", "idle")]).is_some());
    assert!(find(&m, "keyward_db_pool_connections", &[("state", "in_use")]).is_some());
    if db == Db::Postgres {
        // The revoke was announced and heard (a node hears its own announcements).
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let m = scrape(&app).await;
            if m.get("keyward_invalidations_received_total")
                .is_some_and(|s| s[0].value >= 1.0)
                && m.contains_key("keyward_invalidation_delay_seconds_count")
            {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "no invalidation was counted"
            );
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }
    app.finish().await;
}

/// `GET /metrics` relayed for a client elsewhere (`X-Forwarded-For`).
async fn metrics_for_forwarded_client(app: &TestApp) -> reqwest::Response {
    app.client
        .get(format!("{}/metrics", app.base))
        .header("x-forwarded-for", "203.0.113.9")
        .send()
        .await
        .unwrap()
}

async fn metrics_are_not_public(db: Db) {
    // Behind a trusted proxy, the client it names is not on loopback.
    let app = TestApp::spawn_with(db, |c| {
        c.trusted_proxies = vec!["127.0.0.1".parse().unwrap()];
    })
    .await;
    let remote = metrics_for_forwarded_client(&app).await;
    assert_eq!(remote.status(), 403);
    assert!(!remote.text().await.unwrap().contains("keyward_http"));
    app.finish().await;

    // A reverse proxy on this host that nobody listed relays from loopback: refused.
    let app = TestApp::spawn(db).await;
    let relayed = metrics_for_forwarded_client(&app).await;
    assert_eq!(relayed.status(), 403);
    // Invented methods do not become series.
    let odd = reqwest::Method::from_bytes(b"FROBNICATE").unwrap();
    app.client
        .request(odd, format!("{}/health", app.base))
        .send()
        .await
        .unwrap();
    let text = app
        .client
        .get(format!("{}/metrics", app.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!text.contains("FROBNICATE"));
    assert!(text.contains("method=\"OTHER\""));
    app.finish().await;

    let token = "metrics-token-0123456789";
    let app = TestApp::spawn_with(db, |c| {
        c.metrics_token = Some(backend::config::Secret::new(token));
    })
    .await;
    let url = format!("{}/metrics", app.base);
    let none = app.client.get(&url).send().await.unwrap();
    assert_eq!(
        none.status(),
        403,
        "with a token set, loopback needs it too"
    );
    let wrong = app
        .client
        .get(&url)
        .bearer_auth("metrics-token-wrong")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 403);
    let right = app
        .client
        .get(&url)
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(right.status(), 200);
    app.finish().await;
}

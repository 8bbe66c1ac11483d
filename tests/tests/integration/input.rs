//! Bad input (SPEC §14): every input validated at the edge with an error naming the field.

use serde_json::json;
use tests::{Db, TestApp};

db_tests!(
    create_api_key_validation,
    graphql_request_errors,
    oversized_bodies
);

const CREATE: &str = "mutation($i: CreateApiKeyInput!) { createApiKey(input: $i) { secret } }";

async fn create_api_key_validation(db: Db) {
    let app = TestApp::spawn(db).await;
    let admin = app.bootstrap("ada@example.com").await;
    let past = (chrono::Utc::now() - chrono::TimeDelta::hours(1)).to_rfc3339();
    let cases = [
        (json!({ "name": "" }), "input.name"),
        (json!({ "name": "   " }), "input.name"),
        (json!({ "name": "x".repeat(101) }), "input.name"),
        // A right-to-left override makes "prod-key\u{202E}yek-tset" read as another name.
        (json!({ "name": "prod-key\u{202E}yek-tset" }), "input.name"),
        (json!({ "name": "admin\u{200B}" }), "input.name"),
        (json!({ "name": "a\u{2066}b\u{2069}" }), "input.name"),
        (
            json!({ "name": "ok", "expiresAt": past }),
            "input.expiresAt",
        ),
        (
            json!({ "name": "ok", "scopes": ["nonsense"] }),
            "input.scopes",
        ),
        (
            json!({ "name": "ok", "scopes": ["deployments:read"] }),
            "input.scopes",
        ),
        (
            json!({ "name": "ok", "scopes": ["api_keys:superuser"] }),
            "input.scopes",
        ),
        (
            json!({ "name": "ok", "rateLimitPerMinute": 0 }),
            "input.rateLimitPerMinute",
        ),
        (
            json!({ "name": "ok", "projectId": uuid::Uuid::now_v7().to_string() }),
            "input.projectId",
        ),
        (
            json!({ "name": "ok", "projectId": "not-an-id" }),
            "input.projectId",
        ),
    ];
    for (mut input, field) in cases {
        input["organizationId"] = json!(admin.org_id);
        let r = app.gql(&admin.pat, CREATE, json!({ "i": input })).await;
        assert_eq!(r.error_code(), "INVALID_INPUT", "{input}: {}", r.body);
        assert!(
            r.error_message().contains(field),
            "{input}: {}",
            r.error_message()
        );
        assert_eq!(r.body["errors"][0]["extensions"]["field"], field);
    }
    let r = app
        .gql(
            &admin.pat,
            CREATE,
            json!({ "i": { "organizationId": "nope", "name": "x" } }),
        )
        .await;
    assert_eq!(r.error_code(), "INVALID_INPUT");
    // Nothing was half-written: the only audit events are bootstrap's.
    let events = app
        .gql(
            &admin.pat,
            "query($o: ID!) { auditEvents(organizationId: $o) { totalCount } }",
            json!({ "o": admin.org_id }),
        )
        .await
        .data();
    assert_eq!(events["auditEvents"]["totalCount"], 2);
    let keys = app
        .gql(
            &admin.pat,
            "query($o: ID!) { apiKeys(organizationId: $o) { totalCount } }",
            json!({ "o": admin.org_id }),
        )
        .await
        .data();
    assert_eq!(keys["apiKeys"]["totalCount"], 0);
    app.finish().await;
}

async fn graphql_request_errors(db: Db) {
    let app = TestApp::spawn(db).await;
    let admin = app.bootstrap("ada@example.com").await;
    let url = format!("{}/graphql", app.base);
    let send = |body: &'static str| {
        app.client
            .post(&url)
            .bearer_auth(&admin.pat)
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    for (body, mention) in [
        ("{\"query\": ", "JSON"),
        ("{\"query\": \"{ me { \"}", ""),
        ("{\"query\": \"{ nosuchfield }\"}", "nosuchfield"),
        (
            "{\"query\": \"mutation { createOrganization(input: {}) { organization { id } } }\"}",
            "name",
        ),
    ] {
        let response = send(body).await.unwrap();
        assert_eq!(response.status(), 400, "{body}");
        let json: serde_json::Value = response.json().await.unwrap();
        assert_eq!(
            json["errors"][0]["extensions"]["code"], "INVALID_INPUT",
            "{body}: {json}"
        );
        assert!(
            json["errors"][0]["message"]
                .as_str()
                .unwrap()
                .contains(mention),
            "{body}: {json}"
        );
    }
    // GraphQL is never executed over GET: it serves GraphiQL, when the server carries
    // it (this one has no dashboard build, so: not found).
    let page = app
        .client
        .get(format!("{url}?query=mutation%7B__typename%7D"))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 404);
    let body: serde_json::Value = page.json().await.unwrap();
    assert_eq!(body["code"], "NOT_FOUND", "{body}");
    assert!(body.get("data").is_none(), "{body}");
    // Unauthenticated GraphQL: 401 with a GraphQL-shaped error.
    let anon = app
        .client
        .post(&url)
        .json(&json!({ "query": "{ me { authenticatedBy } }" }))
        .send()
        .await
        .unwrap();
    assert_eq!(anon.status(), 401);
    let body: serde_json::Value = anon.json().await.unwrap();
    assert_eq!(body["errors"][0]["extensions"]["code"], "UNAUTHENTICATED");
    // Too deep a query is refused before it runs.
    let deep = format!(
        "{{ __schema {{ types {{ fields {{ type {{ {} name {} }} }} }} }} }}",
        "ofType { ".repeat(10),
        "} ".repeat(10)
    );
    let nested = app.gql(&admin.pat, &deep, json!({})).await;
    assert_eq!(nested.status, 400);
    assert_eq!(nested.error_code(), "INVALID_INPUT");
    assert!(
        nested.error_message().to_lowercase().contains("nested"),
        "{}",
        nested.error_message()
    );
    app.finish().await;
}

async fn oversized_bodies(db: Db) {
    let app = TestApp::spawn(db).await;
    let admin = app.bootstrap("ada@example.com").await;
    let huge =
        json!({ "query": format!("{{ me {{ authenticatedBy }} }} #{}", "x".repeat(100 * 1024)) });
    // Its own connection: the server answers 413 without reading the body, then closes it.
    let response = reqwest::Client::new()
        .post(format!("{}/graphql", app.base))
        .bearer_auth(&admin.pat)
        .json(&huge)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 413);
    let problem: serde_json::Value = response.json().await.unwrap();
    assert_eq!(problem["code"], "PAYLOAD_TOO_LARGE");
    app.finish().await;
}

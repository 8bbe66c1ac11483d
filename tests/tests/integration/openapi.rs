//! The OpenAPI document (SPEC §12): served, complete, and true of what the server answers.
//! (`scripts/schemathesis.sh` fuzzes the live server against it in CI.)

use backend::rest::openapi::{
    Checked, DeviceAuthorization, Health, OAuthError, Presented, Problem, Readiness, SignInMethods,
};
use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use tests::{Db, TestApp};

/// Reads an answer into its documented type; unknown members are refused.
fn documented<T: DeserializeOwned>(body: &Value) -> T {
    serde_json::from_value(body.clone())
        .unwrap_or_else(|e| panic!("not as documented ({e}): {body}"))
}

db_tests!(the_document_is_served_and_true_of_the_answers);

async fn the_document_is_served_and_true_of_the_answers(db: Db) {
    let app = TestApp::spawn(db).await;
    let admin = app.bootstrap("docs@example.com").await;

    let response = app
        .client
        .get(format!("{}/api/v1/openapi.json", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "application/json");
    let doc: Value = response.json().await.unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    for (path, method) in [
        ("/api/v1/api-keys/verify", "get"),
        ("/api/v1/keys/verify", "post"),
        ("/api/v1/organizations/{org}/audit-events/export", "get"),
        ("/api/v1/orgs", "get"),
        ("/api/v1/orgs", "post"),
        ("/api/v1/orgs/{org}/api-keys/{id}", "patch"),
        ("/api/v1/orgs/{org}/identities", "post"),
        ("/api/v1/orgs/{org}/members/{id}", "delete"),
        ("/api/v1/orgs/{org}/invites", "post"),
        ("/api/v1/invites/{id}/accept", "post"),
        ("/api/v1/invites/{id}/decline", "post"),
        ("/api/v1/orgs/{org}/roles/{id}", "patch"),
        ("/api/v1/orgs/{org}/service-accounts/{id}/keys", "post"),
        ("/api/v1/pats", "post"),
        ("/api/v1/pats/{id}/revoke", "post"),
        ("/api/v1/audit-events/export", "get"),
        ("/api/v1/device/code", "post"),
        ("/api/v1/device/token", "post"),
        ("/api/v1/cli/exchange-token", "post"),
        ("/api/v1/pats/current/revoke", "post"),
        ("/api/v1/openapi.json", "get"),
        ("/health", "get"),
        ("/ready", "get"),
        ("/metrics", "get"),
        ("/auth/logout", "post"),
    ] {
        assert!(doc["paths"][path][method].is_object(), "{method} {path}");
    }

    // The verify answers, as documented, for a key and for a PAT.
    let (_, key) = app
        .create_key(
            &admin.pat,
            json!({ "organizationId": admin.org_id, "name": "documented", "scopes": ["api_keys:read"] }),
        )
        .await;
    for token in [&key, &admin.pat] {
        let (status, _, body) = app.verify(tests::Header::Bearer, token).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let presented: Presented = documented(&body);
        assert!(presented.valid);
    }
    let (_, body) = app
        .verify_body(
            json!({ "key": key, "require": ["api_keys:write"], "tags": { "route": "/x" } }),
        )
        .await;
    let checked: Checked = documented(&body);
    assert_eq!(checked.code, "INSUFFICIENT_PERMISSIONS");
    assert_eq!(checked.missing.unwrap(), ["api_keys:write"]);
    let (_, body) = app
        .verify_body(json!({ "key": "kw_sk_live_nothing" }))
        .await;
    let refused: Checked = documented(&body);
    assert!(!refused.valid && refused.key.is_none());
    let (status, _, body) = app
        .verify(tests::Header::XApiKey, "kw_sk_live_nothing")
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let problem: Problem = documented(&body);
    assert_eq!(problem.status, 401);

    // Operation, sign-in methods and the device flow.
    let get = |path: &str| {
        let url = format!("{}{path}", app.base);
        let client = app.client.clone();
        async move {
            client
                .get(url)
                .send()
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap()
        }
    };
    let _: Health = documented(&get("/health").await);
    let _: Readiness = documented(&get("/ready").await);
    let _: SignInMethods = documented(&get("/auth/methods").await);
    // No body, an empty form and JSON `null` all start a login (the body is optional).
    for (content_type, body) in [
        (None, ""),
        (Some("application/x-www-form-urlencoded"), ""),
        (Some("application/json"), "null"),
        (Some("application/json"), r#"{"name": "laptop"}"#),
    ] {
        let mut request = app
            .client
            .post(format!("{}/api/v1/device/code", app.base))
            .body(body);
        if let Some(content_type) = content_type {
            request = request.header("content-type", content_type);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{content_type:?} {body}");
        let started: DeviceAuthorization = documented(&response.json().await.unwrap());
        if body.contains("laptop") {
            let response = app
                .client
                .post(format!("{}/api/v1/device/token", app.base))
                .form(&[
                    ("device_code", started.device_code.as_str()),
                    ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
                ])
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), StatusCode::BAD_REQUEST);
            let pending: OAuthError = documented(&response.json().await.unwrap());
            assert_eq!(pending.error, "authorization_pending");
        }
    }
    app.finish().await;
}

db_tests!(refusals_are_problems_the_document_names);

async fn refusals_are_problems_the_document_names(db: Db) {
    let app = TestApp::spawn(db).await;
    let admin = app.bootstrap("refusals@example.com").await;

    // A method a route does not serve: 405, a problem, and the methods it does.
    let response = app
        .client
        .request(
            Method::TRACE,
            format!("{}/api/v1/api-keys/verify", app.base),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(response.headers()["allow"], "GET,HEAD");
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    let problem: Problem = documented(&response.json().await.unwrap());
    assert_eq!(problem.code, "METHOD_NOT_ALLOWED");

    // A query string that does not parse names the query, as a problem.
    let response = app
        .client
        .get(format!("{}/auth/dev?token=a&token=b", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let problem: Problem = documented(&response.json().await.unwrap());
    assert_eq!(problem.field.as_deref(), Some("query"));
    // One that parses but lacks what the operation needs names that member.
    let response = app
        .client
        .get(format!("{}/auth/dev", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let problem: Problem = documented(&response.json().await.unwrap());
    assert_eq!(problem.field.as_deref(), Some("token"));

    // A path that does not parse, likewise.
    let response = app
        .client
        .get(format!(
            "{}/api/v1/organizations/%FF/audit-events/export",
            app.base
        ))
        .bearer_auth(&admin.pat)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let problem: Problem = documented(&response.json().await.unwrap());
    assert_eq!(problem.field.as_deref(), Some("path"));

    // Two different credentials in one request: neither is used.
    let response = app
        .client
        .get(format!("{}/api/v1/api-keys/verify", app.base))
        .bearer_auth(&admin.pat)
        .header("x-api-key", "kw_sk_live_someone_else")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let problem: Problem = documented(&response.json().await.unwrap());
    assert_eq!(problem.code, "MALFORMED");
    // The same one twice is still that one.
    let response = app
        .client
        .get(format!("{}/api/v1/api-keys/verify", app.base))
        .bearer_auth(&admin.pat)
        .header("x-api-key", &admin.pat)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);

    // Sign-out ends a dashboard session; a token sent there is refused, not ignored, and
    // stays as it was.
    let response = app
        .client
        .post(format!("{}/auth/logout", app.base))
        .bearer_auth(&admin.pat)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let problem: Problem = documented(&response.json().await.unwrap());
    assert!(
        problem.detail.contains("/api/v1/pats/current/revoke"),
        "{problem:?}"
    );
    let (status, _, _) = app.verify(tests::Header::Bearer, &admin.pat).await;
    assert_eq!(status, StatusCode::OK);
    app.finish().await;
}

//! CLI sign-in, server side (SPEC §7): the device flow (RFC 8628), the loopback flow
//! with PKCE (RFC 8252), and a CLI revoking the token it holds.

use base64::Engine;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tests::{Db, Header, TestApp};

db_tests!(
    device_flow,
    device_codes_expire_and_are_refused,
    loopback_flow_with_pkce,
    cli_revokes_its_own_token,
    device_logins_are_limited_per_address,
    a_device_login_stored_in_no_known_state_is_refused
);

/// A device login whose stored status is none of the four is an error: polling it hands
/// out no token (it used to read as "invalid grant", a guess), and the approval page
/// cannot show or answer it.
async fn a_device_login_stored_in_no_known_state_is_refused(db: Db) {
    let app = spawn(db).await;
    let (status, start) = post_form(&app, "/api/v1/device/code", &[("name", "odd")]).await;
    assert_eq!(status, 200, "{start}");
    let user_code = start["user_code"].as_str().unwrap().to_owned();
    let device_code = start["device_code"].as_str().unwrap().to_owned();
    app.exec(
        "UPDATE device_authorizations SET status = ?",
        vec!["half-approved".into()],
    )
    .await;
    let poll = [
        ("grant_type", DEVICE_GRANT),
        ("device_code", device_code.as_str()),
    ];
    let (status, body) = post_form(&app, "/api/v1/device/token", &poll).await;
    assert_eq!(status, 500, "{body}");
    assert!(body.get("access_token").is_none(), "{body}");
    let cookie = app.dev_session().await;
    let seen = app
        .gql_session(&cookie, LOOKUP, json!({ "c": user_code }))
        .await;
    assert_eq!(seen.error_code(), "INTERNAL", "{}", seen.body);
    let approve = app
        .gql_session(&cookie, APPROVE, json!({ "i": { "userCode": user_code } }))
        .await;
    assert_eq!(approve.error_code(), "INTERNAL", "{}", approve.body);
    app.finish().await;
}

/// Anyone may start a device login, but not without end: each address has an allowance.
async fn device_logins_are_limited_per_address(db: Db) {
    use sea_orm::ConnectionTrait;
    let app = spawn(db).await;
    let allowance = backend::domain::cli_login::DEVICE_STARTS_PER_MINUTE;
    for _ in 0..allowance {
        let (status, body) = post_form(&app, "/api/v1/device/code", &[("name", "ci")]).await;
        assert_eq!(status, 200, "{body}");
    }
    let refused = app
        .client
        .post(format!("{}/api/v1/device/code", app.base))
        .form(&[("name", "ci")])
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 429);
    assert!(refused.headers().contains_key("retry-after"));
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["code"], "RATE_LIMITED");
    let stored = app
        .services()
        .test_db()
        .query_one_raw(sea_orm::Statement::from_string(
            app.services().test_db().get_database_backend(),
            "SELECT COUNT(*) AS n FROM device_authorizations".to_owned(),
        ))
        .await
        .unwrap()
        .unwrap()
        .try_get::<i64>("", "n")
        .unwrap();
    assert_eq!(
        stored,
        i64::from(allowance),
        "a refused start stores nothing"
    );
    // A minute on, the address may start logins again.
    app.services()
        .clock
        .advance(std::time::Duration::from_secs(61));
    let (status, body) = post_form(&app, "/api/v1/device/code", &[("name", "ci")]).await;
    assert_eq!(status, 200, "{body}");
    app.finish().await;
}

async fn spawn(db: Db) -> TestApp {
    TestApp::spawn_with(db, |c| c.dev_signin = backend::config::DevSignin::On).await
}

async fn post_form(app: &TestApp, path: &str, form: &[(&str, &str)]) -> (u16, Value) {
    let response = app
        .client
        .post(format!("{}{path}", app.base))
        .form(form)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

async fn post_json(app: &TestApp, path: &str, body: Value) -> (u16, Value) {
    let response = app
        .client
        .post(format!("{}{path}", app.base))
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

const APPROVE: &str =
    "mutation($i: DeviceInput!) { approveDevice(input: $i) { status clientName } }";
const DENY: &str = "mutation($i: DeviceInput!) { denyDevice(input: $i) { status } }";
const LOOKUP: &str = "query($c: String!) { deviceAuthorization(userCode: $c) { userCode clientName status createdAt requestedFrom } }";
const DEVICE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

async fn device_flow(db: Db) {
    let app = spawn(db).await;
    let (status, start) = post_form(&app, "/api/v1/device/code", &[("name", "ci-runner-7")]).await;
    assert_eq!(status, 200, "{start}");
    let user_code = start["user_code"].as_str().unwrap().to_owned();
    let device_code = start["device_code"].as_str().unwrap().to_owned();
    assert!(
        user_code.len() == 9
            && user_code.as_bytes()[4] == b'-'
            && user_code
                .replace('-', "")
                .bytes()
                .all(|b| b"BCDFGHJKLMNPQRSTVWXZ".contains(&b)),
        "{user_code}"
    );
    assert_eq!(start["expires_in"], 300);
    assert_eq!(start["interval"], 5);
    assert_eq!(start["verification_uri"], format!("{}/device", app.base));
    assert_eq!(
        start["verification_uri_complete"],
        format!("{}/device?user_code={user_code}", app.base)
    );

    // Before approval: pending; polling faster than the interval: slow down.
    let poll = [
        ("grant_type", DEVICE_GRANT),
        ("device_code", device_code.as_str()),
    ];
    let (status, body) = post_form(&app, "/api/v1/device/token", &poll).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("authorization_pending"))
    );
    let (status, body) = post_form(&app, "/api/v1/device/token", &poll).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("slow_down")));

    // Only a signed-in dashboard user approves; a PAT cannot.
    let admin = app.bootstrap("ops@example.com").await;
    let by_token = app
        .gql(
            &admin.pat,
            APPROVE,
            json!({ "i": { "userCode": user_code } }),
        )
        .await;
    assert_eq!(by_token.error_code(), "FORBIDDEN");
    let cookie = app.dev_session().await;
    let lowercase = user_code.to_lowercase().replace('-', " ");
    let seen = app
        .gql_session(&cookie, LOOKUP, json!({ "c": lowercase }))
        .await
        .data();
    assert_eq!(seen["deviceAuthorization"]["clientName"], "ci-runner-7");
    assert_eq!(seen["deviceAuthorization"]["status"], "PENDING");
    // Where and when the request started, for the approver to recognise it.
    assert_eq!(seen["deviceAuthorization"]["requestedFrom"], "127.0.0.1");
    assert!(seen["deviceAuthorization"]["createdAt"].is_string());
    let approved = app
        .gql_session(&cookie, APPROVE, json!({ "i": { "userCode": user_code } }))
        .await
        .data();
    assert_eq!(approved["approveDevice"]["status"], "APPROVED");
    let again = app
        .gql_session(&cookie, DENY, json!({ "i": { "userCode": user_code } }))
        .await;
    assert_eq!(again.error_code(), "CONFLICT", "{:?}", again.body);

    // The next poll (after the interval, which grew to 10 s) collects a PAT named after
    // the machine; the one after that finds the code used.
    app.exec(
        "UPDATE device_authorizations SET last_polled_at = ? WHERE user_code = ?",
        vec![
            (chrono::Utc::now() - chrono::TimeDelta::seconds(11)).into(),
            user_code.replace('-', "").into(),
        ],
    )
    .await;
    let (status, token) = post_form(&app, "/api/v1/device/token", &poll).await;
    assert_eq!(status, 200, "{token}");
    assert_eq!(token["token_type"], "Bearer");
    let pat = token["access_token"].as_str().unwrap();
    let (status, _, who) = app.verify(Header::Bearer, pat).await;
    assert_eq!(status, 200, "{who}");
    assert_eq!(who["key"]["name"], "ci-runner-7");
    assert_eq!(who["key"]["kind"], "pat");
    assert_eq!(who["customer"]["email"], "admin@localhost");
    let (status, body) = post_form(&app, "/api/v1/device/token", &poll).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );

    // Nothing secret in the audit trail: the approval is there, by the dashboard user.
    let audit = app
        .gql_session(&cookie, "{ me { organizationId } }", json!({}))
        .await
        .data();
    assert!(audit["me"]["organizationId"].is_string());
    let logs = tests::captured_logs();
    assert!(!logs.contains(pat), "the token is never logged");
    assert!(
        !logs.contains(&device_code),
        "the device code is never logged"
    );

    // A denied device is told so.
    let (_, start) = post_json(&app, "/api/v1/device/code", json!({ "name": "laptop" })).await;
    let denied = app
        .gql_session(
            &cookie,
            DENY,
            json!({ "i": { "userCode": start["user_code"] } }),
        )
        .await
        .data();
    assert_eq!(denied["denyDevice"]["status"], "DENIED");
    let (status, body) = post_json(
        &app,
        "/api/v1/device/token",
        json!({ "device_code": start["device_code"] }),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("access_denied"))
    );
    app.finish().await;
}

async fn device_codes_expire_and_are_refused(db: Db) {
    let app = spawn(db).await;
    let cookie = app.dev_session().await;
    let (_, start) = post_form(&app, "/api/v1/device/code", &[]).await;
    let code = start["user_code"].as_str().unwrap().replace('-', "");
    app.exec(
        "UPDATE device_authorizations SET expires_at = ? WHERE user_code = ?",
        vec![
            (chrono::Utc::now() - chrono::TimeDelta::seconds(1)).into(),
            code.clone().into(),
        ],
    )
    .await;
    let (status, body) = post_form(
        &app,
        "/api/v1/device/token",
        &[("device_code", start["device_code"].as_str().unwrap())],
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("expired_token"))
    );
    let late = app
        .gql_session(&cookie, APPROVE, json!({ "i": { "userCode": code } }))
        .await;
    assert_eq!(late.error_code(), "CONFLICT");
    assert!(
        late.error_message().contains("expired"),
        "{}",
        late.error_message()
    );

    // Unknown device codes, malformed user codes, other grant types.
    let (status, body) = post_form(&app, "/api/v1/device/token", &[("device_code", "nope")]).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    let (status, body) = post_form(
        &app,
        "/api/v1/device/token",
        &[("device_code", "x"), ("grant_type", "password")],
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("unsupported_grant_type"))
    );
    let (status, body) = post_json(&app, "/api/v1/device/token", json!({})).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["code"], "INVALID_INPUT");
    let bad = app
        .gql_session(&cookie, LOOKUP, json!({ "c": "AEIOU123" }))
        .await;
    assert_eq!(bad.error_code(), "INVALID_INPUT");
    assert_eq!(
        bad.body["errors"][0]["extensions"]["field"],
        "input.userCode"
    );

    // Guessing codes is limited per user.
    let mut last = String::new();
    for _ in 0..12 {
        last = app
            .gql_session(&cookie, LOOKUP, json!({ "c": "BBBB-BBBB" }))
            .await
            .error_code();
    }
    assert_eq!(last, "RATE_LIMITED");
    // Answering by code counts against the same allowance: approving or denying is no
    // way around it.
    for decide in ["approveDevice", "denyDevice"] {
        let r = app
            .gql_session(
                &cookie,
                &format!(
                    "mutation($c: String!) {{ {decide}(input: {{ userCode: $c }}) {{ status }} }}"
                ),
                json!({ "c": "BBBB-BBBB" }),
            )
            .await;
        assert_eq!(r.error_code(), "RATE_LIMITED", "{decide}");
    }
    app.finish().await;
}

fn challenge(verifier: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

const APPROVE_CLI: &str =
    "mutation($i: ApproveCliLoginInput!) { approveCliLogin(input: $i) { redirectTo } }";

async fn loopback_flow_with_pkce(db: Db) {
    let app = spawn(db).await;
    let cookie = app.dev_session().await;
    let verifier = "a-long-random-verifier-string-of-at-least-43-characters-0123";
    let redirect = "http://127.0.0.1:53682/callback";
    let input = |redirect: &str, method: &str| {
        json!({ "i": {
            "redirectUri": redirect,
            "state": "st4te",
            "codeChallenge": challenge(verifier),
            "codeChallengeMethod": method,
            "name": "ada-laptop",
        }})
    };
    for (bad, field) in [
        ("https://evil.example/callback", "redirect_uri"),
        ("http://127.0.0.1/callback", "redirect_uri"),
        ("http://10.0.0.1:80/callback", "redirect_uri"),
    ] {
        let refused = app
            .gql_session(&cookie, APPROVE_CLI, input(bad, "S256"))
            .await;
        assert_eq!(
            refused.body["errors"][0]["extensions"]["field"], field,
            "{bad}"
        );
    }
    let plain = app
        .gql_session(&cookie, APPROVE_CLI, input(redirect, "plain"))
        .await;
    assert_eq!(
        plain.body["errors"][0]["extensions"]["field"],
        "code_challenge_method"
    );

    let approved = app
        .gql_session(&cookie, APPROVE_CLI, input(redirect, "S256"))
        .await
        .data();
    let to =
        reqwest::Url::parse(approved["approveCliLogin"]["redirectTo"].as_str().unwrap()).unwrap();
    assert_eq!(format!("{}", to).split('?').next().unwrap(), redirect);
    let query: std::collections::HashMap<_, _> = to.query_pairs().into_owned().collect();
    assert_eq!(query["state"], "st4te");
    assert!(!query.contains_key("token"), "no token in a URL");
    let code = query["code"].clone();

    // A wrong verifier is refused; the right one gets a PAT, once.
    let (status, body) = post_json(
        &app,
        "/api/v1/cli/exchange-token",
        json!({ "code": code, "code_verifier": "wrong-verifier-wrong-verifier-wrong-verifier" }),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["field"], "code_verifier", "{body}");
    // The redirect URI the code was issued for must come back with it.
    for redirect_uri in [None, Some("http://127.0.0.1:53683/callback")] {
        let mut exchange = json!({ "code": code, "code_verifier": verifier });
        if let Some(r) = redirect_uri {
            exchange["redirect_uri"] = json!(r);
        }
        let (status, body) = post_json(&app, "/api/v1/cli/exchange-token", exchange).await;
        assert_eq!(
            (status, body["field"].as_str()),
            (400, Some("redirect_uri")),
            "{body}"
        );
    }
    let (status, body) = post_json(
        &app,
        "/api/v1/cli/exchange-token",
        json!({ "code": code, "code_verifier": verifier, "redirect_uri": redirect }),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let pat = body["access_token"].as_str().unwrap();
    let (status, _, who) = app.verify(Header::Bearer, pat).await;
    assert_eq!(status, 200);
    assert_eq!(who["key"]["name"], "ada-laptop");
    let (status, body) = post_json(
        &app,
        "/api/v1/cli/exchange-token",
        json!({ "code": code, "code_verifier": verifier }),
    )
    .await;
    assert_eq!((status, body["field"].as_str()), (400, Some("code")));

    // Codes last 60 seconds.
    let approved = app
        .gql_session(&cookie, APPROVE_CLI, input(redirect, "S256"))
        .await
        .data();
    let to =
        reqwest::Url::parse(approved["approveCliLogin"]["redirectTo"].as_str().unwrap()).unwrap();
    let code = to
        .query_pairs()
        .find(|(k, _)| k == "code")
        .unwrap()
        .1
        .into_owned();
    app.exec(
        "UPDATE cli_login_codes SET expires_at = ?",
        vec![(chrono::Utc::now() - chrono::TimeDelta::seconds(1)).into()],
    )
    .await;
    let (status, body) = post_json(
        &app,
        "/api/v1/cli/exchange-token",
        json!({ "code": code, "code_verifier": verifier }),
    )
    .await;
    assert_eq!((status, body["field"].as_str()), (400, Some("code")));
    app.finish().await;
}

async fn cli_revokes_its_own_token(db: Db) {
    let app = spawn(db).await;
    let admin = app.bootstrap("ops@example.com").await;
    let response = app
        .client
        .post(format!("{}/api/v1/pats/current/revoke", app.base))
        .bearer_auth(&admin.pat)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let (status, _, body) = app.verify(Header::Bearer, &admin.pat).await;
    assert_eq!(
        (status.as_u16(), body["code"].as_str()),
        (401, Some("REVOKED"))
    );

    // An API key cannot use it; nor can nobody.
    let other = app.bootstrap("second@example.com").await;
    let (_, key) = app
        .create_key(
            &other.pat,
            json!({ "organizationId": other.org_id, "name": "k" }),
        )
        .await;
    let response = app
        .client
        .post(format!("{}/api/v1/pats/current/revoke", app.base))
        .header("x-api-key", &key)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
    let response = app
        .client
        .post(format!("{}/api/v1/pats/current/revoke", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    app.finish().await;
}

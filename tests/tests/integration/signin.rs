//! Sign-in through a real OpenID Connect provider (SPEC §6), provisioning, sessions,
//! bearer JWTs and suspension (SPEC §5).

use reqwest::{StatusCode, Url};
use serde_json::{Value, json};
use tests::{
    Db, Header, TestApp,
    oidc::{self, ProviderOptions, browser, follow_until},
};

db_tests!(
    sign_in_provisions_once,
    sign_in_rejects_tampering,
    legacy_sessions_must_sign_in_again,
    sessions_can_be_listed_switched_and_revoked,
    bearer_jwts_from_the_issuer_only,
    userinfo_and_admins,
    suspension_blocks_every_credential,
    new_signing_keys_are_fetched,
    opaque_access_tokens_are_checked_by_introspection,
    jwt_access_tokens_name_the_audience,
    only_tokens_issued_for_keyward_are_accepted,
    provider_tokens_are_limited_per_user,
    instance_admin_power_follows_the_configuration,
    what_a_provider_token_makes_expires_with_it,
);

/// A browser that walked the sign-in flow, holding its cookies.
struct Browser {
    client: reqwest::Client,
    base: String,
}

impl Browser {
    async fn gql(&self, query: &str, variables: Value) -> (StatusCode, Value) {
        let response = self
            .client
            .post(format!("{}/graphql", self.base))
            .header("origin", &self.base)
            .json(&json!({ "query": query, "variables": variables }))
            .send()
            .await
            .unwrap();
        let status = response.status();
        (status, response.json().await.unwrap())
    }

    async fn me(&self) -> (StatusCode, Value) {
        self.gql("{ me { user { id email name } authenticatedBy isInstanceAdmin organizationId projectId } }", json!({}))
            .await
    }
}

/// Starts a sign-in at Keyward and walks the provider until it redirects back; returns
/// the browser and the callback URL, not yet visited.
async fn to_callback(app: &TestApp, hint: &str, return_to: &str) -> (reqwest::Client, Url) {
    let client = browser();
    let mut start = Url::parse(&format!("{}/auth/login", app.base)).unwrap();
    start
        .query_pairs_mut()
        .append_pair("login_hint", hint)
        .append_pair("return_to", return_to);
    let callback = follow_until(&client, start, &format!("{}/auth/callback", app.base)).await;
    (client, callback)
}

/// Signs `hint` in through the provider.
async fn sign_in(app: &TestApp, hint: &str) -> Browser {
    let (client, callback) = to_callback(app, hint, "/graphql").await;
    let response = client.get(callback).send().await.unwrap();
    assert_eq!(
        response.status(),
        StatusCode::SEE_OTHER,
        "{:?}",
        response.text().await
    );
    assert_eq!(response.headers()["location"], "/graphql");
    Browser {
        client,
        base: app.base.clone(),
    }
}

fn session_cookie_set(response: &reqwest::Response) -> bool {
    response.headers().get_all("set-cookie").iter().any(|c| {
        c.to_str()
            .unwrap_or_default()
            .starts_with("keyward_session=")
    })
}

async fn sign_in_provisions_once(db: Db) {
    let (app, _provider) = TestApp::spawn_with_oidc(db, ProviderOptions::default(), |_| {}).await;
    let alice = sign_in(&app, "alice@example.com").await;
    let (status, me) = alice.me().await;
    assert_eq!(status, 200, "{me}");
    assert_eq!(me["data"]["me"]["user"]["email"], "alice@example.com");
    assert_eq!(me["data"]["me"]["user"]["name"], "Alice");
    assert_eq!(me["data"]["me"]["authenticatedBy"], "session");
    let (_, orgs) = alice
        .gql(
            "{ organizations { id name projects { id namespace } } }",
            json!({}),
        )
        .await;
    let orgs = orgs["data"]["organizations"].as_array().unwrap().clone();
    assert_eq!(orgs.len(), 1);
    assert_eq!(orgs[0]["name"], "Alice's organization");
    assert_eq!(me["data"]["me"]["organizationId"], orgs[0]["id"]);
    assert_eq!(me["data"]["me"]["projectId"], orgs[0]["projects"][0]["id"]);
    assert!(
        orgs[0]["projects"][0]["namespace"]
            .as_str()
            .unwrap()
            .ends_with("_default")
    );

    // Signing in again finds the same customer and creates nothing new.
    let again = sign_in(&app, "alice@example.com").await;
    let (_, me2) = again.me().await;
    assert_eq!(
        me2["data"]["me"]["user"]["id"],
        me["data"]["me"]["user"]["id"]
    );
    let (_, orgs2) = again.gql("{ organizations { id } }", json!({})).await;
    assert_eq!(orgs2["data"]["organizations"].as_array().unwrap().len(), 1);

    // A second user gets their own organization.
    let bob = sign_in(&app, "bob@example.com").await;
    let (_, bob_orgs) = bob.gql("{ organizations { id name } }", json!({})).await;
    assert_eq!(
        bob_orgs["data"]["organizations"][0]["name"],
        "Bob's organization"
    );
    assert_ne!(bob_orgs["data"]["organizations"][0]["id"], orgs[0]["id"]);

    // The session works for the API: a key made in the browser verifies.
    let (_, created) = alice
        .gql(
            "mutation($i: CreateApiKeyInput!) { createApiKey(input: $i) { secret } }",
            json!({ "i": { "organizationId": orgs[0]["id"], "name": "from the browser" } }),
        )
        .await;
    let secret = created["data"]["createApiKey"]["secret"].as_str().unwrap();
    let (status, _, body) = app.verify(Header::Bearer, secret).await;
    assert_eq!(status, 200);
    assert_eq!(body["customer"]["email"], "alice@example.com");

    // Cross-origin mutations with the cookie are refused.
    let cross = alice
        .client
        .post(format!("{}/graphql", app.base))
        .header("origin", "https://evil.example")
        .json(&json!({ "query": "mutation { createOrganization(input: {name: \"x\"}) { organization { id } } }" }))
        .send()
        .await
        .unwrap();
    assert_eq!(cross.status(), 403);

    // Logging out ends the session.
    let out = alice
        .client
        .post(format!("{}/auth/logout", app.base))
        .header("origin", &app.base)
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), 204);
    assert_eq!(alice.me().await.0, 401);
    assert_eq!(again.me().await.0, 200, "other sessions live on");
    app.finish().await;
}

async fn sign_in_rejects_tampering(db: Db) {
    let (app, _provider) = TestApp::spawn_with_oidc(db, ProviderOptions::default(), |_| {}).await;

    // A tampered state.
    let (client, callback) = to_callback(&app, "alice@example.com", "/").await;
    let mut tampered = callback.clone();
    let pairs: Vec<(String, String)> = callback
        .query_pairs()
        .map(|(k, v)| {
            let v = if k == "state" {
                format!("{v}x")
            } else {
                v.into_owned()
            };
            (k.into_owned(), v)
        })
        .collect();
    tampered.query_pairs_mut().clear().extend_pairs(pairs);
    let response = client.get(tampered).send().await.unwrap();
    assert_eq!(response.status(), 401);
    assert!(!session_cookie_set(&response));
    let problem: Value = response.json().await.unwrap();
    assert_eq!(problem["code"], "SIGN_IN_FAILED");
    assert!(
        problem["detail"].as_str().unwrap().contains("state"),
        "{problem}"
    );

    // A replayed code: the same callback, with the same sign-in cookie, a second time.
    let plain = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let login = plain
        .get(format!(
            "{}/auth/login?login_hint=alice@example.com",
            app.base
        ))
        .send()
        .await
        .unwrap();
    let signin_cookie = login.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    assert!(
        signin_cookie.starts_with("keyward_signin="),
        "{signin_cookie}"
    );
    let to_provider = Url::parse(login.headers()["location"].to_str().unwrap()).unwrap();
    let callback = follow_until(
        &browser(),
        to_provider,
        &format!("{}/auth/callback", app.base),
    )
    .await;
    let first = plain
        .get(callback.clone())
        .header("cookie", &signin_cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(first.status(), 303);
    let replay = plain
        .get(callback)
        .header("cookie", &signin_cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(replay.status(), 401);
    assert!(!session_cookie_set(&replay));
    let problem: Value = replay.json().await.unwrap();
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("authorization code"),
        "{problem}"
    );

    // A callback in a browser that never started signing in.
    let (_, callback) = to_callback(&app, "alice@example.com", "/").await;
    let stranger = reqwest::Client::new().get(callback).send().await.unwrap();
    assert_eq!(stranger.status(), 401);
    assert!(!session_cookie_set(&stranger));

    // A nonce swapped on the way to the provider.
    let client = browser();
    let login = client
        .get(format!(
            "{}/auth/login?login_hint=alice@example.com",
            app.base
        ))
        .send()
        .await
        .unwrap();
    let mut to_provider = Url::parse(login.headers()["location"].to_str().unwrap()).unwrap();
    let pairs: Vec<(String, String)> = to_provider
        .query_pairs()
        .map(|(k, v)| {
            let v = if k == "nonce" {
                "forged-nonce".to_owned()
            } else {
                v.into_owned()
            };
            (k.into_owned(), v)
        })
        .collect();
    to_provider.query_pairs_mut().clear().extend_pairs(pairs);
    let callback = follow_until(&client, to_provider, &format!("{}/auth/callback", app.base)).await;
    let response = client.get(callback).send().await.unwrap();
    assert_eq!(response.status(), 401);
    assert!(!session_cookie_set(&response));
    let problem: Value = response.json().await.unwrap();
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .to_lowercase()
            .contains("nonce"),
        "{problem}"
    );

    // A refusal by the provider is reported in words.
    let (client, callback) = to_callback(&app, "alice@example.com", "/").await;
    let state = callback
        .query_pairs()
        .find(|(k, _)| k == "state")
        .unwrap()
        .1
        .into_owned();
    let denied = client
        .get(format!(
            "{}/auth/callback?error=access_denied&state={state}",
            app.base
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(denied.status(), 401);
    let problem: Value = denied.json().await.unwrap();
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("access_denied")
    );

    // Only local return paths are honoured.
    let (client, callback) = to_callback(&app, "alice@example.com", "https://evil.example/").await;
    let response = client.get(callback).send().await.unwrap();
    assert_eq!(response.status(), 303);
    assert_eq!(response.headers()["location"], "/");

    // One customer, made by the sign-ins that succeeded.
    let count = customer_count(&app).await;
    assert_eq!(count, 1);
    app.finish().await;
}

async fn customer_count(app: &TestApp) -> i64 {
    use sea_orm::{ConnectionTrait, Statement};
    let db = app.services().test_db();
    let row = db
        .query_one_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT COUNT(*) AS n FROM customers".to_owned(),
        ))
        .await
        .unwrap()
        .unwrap();
    row.try_get::<i64>("", "n").unwrap()
}

async fn legacy_sessions_must_sign_in_again(db: Db) {
    use sea_orm::{ConnectionTrait, Statement};
    let (app, _provider) = TestApp::spawn_with_oidc(db, ProviderOptions::default(), |_| {}).await;
    let alice = sign_in(&app, "alice@example.com").await;
    assert_eq!(alice.me().await.0, 200);
    let db = app.services().test_db();
    db.execute_raw(Statement::from_string(
        db.get_database_backend(),
        "UPDATE sessions SET organization_id = NULL".to_owned(),
    ))
    .await
    .unwrap();
    let (status, body) = alice.me().await;
    assert_eq!(status, 401);
    assert_eq!(body["errors"][0]["extensions"]["reason"], "SESSION_INVALID");
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("sign in again"),
        "{body}"
    );
    app.finish().await;
}

async fn sessions_can_be_listed_switched_and_revoked(db: Db) {
    let (app, _provider) = TestApp::spawn_with_oidc(db, ProviderOptions::default(), |_| {}).await;
    let laptop = sign_in(&app, "alice@example.com").await;
    let phone = sign_in(&app, "alice@example.com").await;
    let (_, list) = laptop
        .gql(
            "{ sessions { nodes { id current ip userAgent } } }",
            json!({}),
        )
        .await;
    let sessions = list["data"]["sessions"]["nodes"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(sessions.len(), 2);
    assert_eq!(sessions.iter().filter(|s| s["current"] == true).count(), 1);
    let other = sessions.iter().find(|s| s["current"] == false).unwrap()["id"].clone();
    let (_, revoked) = laptop
        .gql(
            "mutation($i: RevokeSessionInput!) { revokeSession(input: $i) { id } }",
            json!({ "i": { "id": other } }),
        )
        .await;
    assert_eq!(revoked["data"]["revokeSession"]["id"], other);
    assert_eq!(phone.me().await.0, 401, "the revoked session is refused");
    assert_eq!(laptop.me().await.0, 200);

    let (_, created) = laptop
        .gql("mutation { createOrganization(input: {name: \"Second\"}) { organization { id } project { id } } }", json!({}))
        .await;
    let org2 = created["data"]["createOrganization"]["organization"]["id"].clone();
    let (_, switched) = laptop
        .gql(
            "mutation($i: SwitchSessionInput!) { switchSession(input: $i) { organizationId projectId } }",
            json!({ "i": { "organizationId": org2 } }),
        )
        .await;
    assert_eq!(
        switched["data"]["switchSession"]["projectId"],
        created["data"]["createOrganization"]["project"]["id"]
    );
    let (_, me) = laptop.me().await;
    assert_eq!(me["data"]["me"]["organizationId"], org2);

    // Someone else's organization is not a place to switch to.
    let bob = sign_in(&app, "bob@example.com").await;
    let (_, refused) = bob
        .gql(
            "mutation($i: SwitchSessionInput!) { switchSession(input: $i) { organizationId } }",
            json!({ "i": { "organizationId": org2 } }),
        )
        .await;
    assert_eq!(refused["errors"][0]["extensions"]["code"], "NOT_A_MEMBER");
    app.finish().await;
}

async fn bearer_jwts_from_the_issuer_only(db: Db) {
    let (app, provider) = TestApp::spawn_with_oidc(db, ProviderOptions::default(), |_| {}).await;
    let callback = format!("{}/auth/callback", app.base);
    let browser_alice = sign_in(&app, "alice@example.com").await;
    let (_, me) = browser_alice.me().await;

    // An ID token for Keyward from the configured issuer: the same customer.
    let token = provider
        .id_token(
            oidc::CLIENT_ID,
            oidc::CLIENT_SECRET,
            &callback,
            "alice@example.com",
        )
        .await;
    let r = app
        .gql(&token, "{ me { user { id } authenticatedBy } }", json!({}))
        .await
        .data();
    assert_eq!(r["me"]["user"]["id"], me["data"]["me"]["user"]["id"]);
    assert_eq!(r["me"]["authenticatedBy"], "oidc");

    // A token for another client of the same provider.
    let other_aud = provider
        .id_token(
            oidc::OTHER_CLIENT_ID,
            oidc::OTHER_CLIENT_SECRET,
            oidc::OTHER_REDIRECT,
            "alice@example.com",
        )
        .await;
    assert_eq!(
        app.gql(&other_aud, "{ me { authenticatedBy } }", json!({}))
            .await
            .status,
        401
    );

    // A token from another issuer, even for a client named `keyward`.
    let elsewhere = oidc::OidcProvider::start(&callback, ProviderOptions::default()).await;
    let other_iss = elsewhere
        .id_token(
            oidc::CLIENT_ID,
            oidc::CLIENT_SECRET,
            &callback,
            "alice@example.com",
        )
        .await;
    assert_eq!(
        app.gql(&other_iss, "{ me { authenticatedBy } }", json!({}))
            .await
            .status,
        401
    );

    // A forged token: the payload changed under the provider's signature.
    let parts: Vec<&str> = token.split('.').collect();
    use base64::Engine;
    let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let mut claims: Value = serde_json::from_slice(&engine.decode(parts[1]).unwrap()).unwrap();
    claims["sub"] = json!("mallory@example.com");
    let forged = format!(
        "{}.{}.{}",
        parts[0],
        engine.encode(claims.to_string()),
        parts[2]
    );
    assert_eq!(
        app.gql(&forged, "{ me { authenticatedBy } }", json!({}))
            .await
            .status,
        401
    );
    let unsigned = format!(
        "{}.{}.",
        engine.encode(r#"{"alg":"none","typ":"JWT"}"#),
        parts[1]
    );
    assert_eq!(
        app.gql(&unsigned, "{ me { authenticatedBy } }", json!({}))
            .await
            .status,
        401
    );

    // An expired ID token.
    let (short_app, short_provider) = TestApp::spawn_with_oidc(
        app.db,
        ProviderOptions {
            // A minute, which the server's clock then skips.
            id_token_ttl: Some(60),
            ..Default::default()
        },
        |_| {},
    )
    .await;
    let short = short_provider
        .id_token(
            oidc::CLIENT_ID,
            oidc::CLIENT_SECRET,
            &format!("{}/auth/callback", short_app.base),
            "alice@example.com",
        )
        .await;
    assert_eq!(
        short_app
            .gql(&short, "{ me { authenticatedBy } }", json!({}))
            .await
            .status,
        200
    );
    short_app
        .services()
        .clock
        .advance(std::time::Duration::from_secs(61));
    let expired = short_app
        .gql(&short, "{ me { authenticatedBy } }", json!({}))
        .await;
    assert_eq!(expired.status, 401);
    assert_eq!(expired.error_code(), "UNAUTHENTICATED");
    short_app.finish().await;
    app.finish().await;
}

async fn userinfo_and_admins(db: Db) {
    let (app, _provider) = TestApp::spawn_with_oidc(
        db,
        ProviderOptions {
            userinfo_only: true,
            ..Default::default()
        },
        |c| c.admin_emails = vec!["carol@example.com".into()],
    )
    .await;
    let carol = sign_in(&app, "carol@example.com").await;
    let (_, me) = carol.me().await;
    assert_eq!(
        me["data"]["me"]["user"]["email"], "carol@example.com",
        "email came from userinfo"
    );
    assert_eq!(me["data"]["me"]["user"]["name"], "Carol");
    assert_eq!(me["data"]["me"]["isInstanceAdmin"], true);
    let dave = sign_in(&app, "dave@example.com").await;
    assert_eq!(dave.me().await.1["data"]["me"]["isInstanceAdmin"], false);
    // Anyone can claim an address the provider does not vouch for.
    let mallory = sign_in(&app, "unverified.carol@example.com").await;
    let (_, me) = mallory.me().await;
    assert_eq!(me["data"]["me"]["user"]["email"], "carol@example.com");
    assert_eq!(
        me["data"]["me"]["isInstanceAdmin"], false,
        "an unverified email never makes an instance admin"
    );
    app.finish().await;
}

async fn suspension_blocks_every_credential(db: Db) {
    let (app, provider) = TestApp::spawn_with_oidc(db, ProviderOptions::default(), |_| {}).await;
    let admin = app.bootstrap("root@example.com").await;
    let alice = sign_in(&app, "alice@example.com").await;
    let (_, me) = alice.me().await;
    let alice_id = me["data"]["me"]["user"]["id"].clone();
    let alice_org = me["data"]["me"]["organizationId"].clone();
    let (_, key) = alice
        .gql(
            "mutation($i: CreateApiKeyInput!) { createApiKey(input: $i) { secret } }",
            json!({ "i": { "organizationId": alice_org, "name": "k" } }),
        )
        .await;
    let key = key["data"]["createApiKey"]["secret"]
        .as_str()
        .unwrap()
        .to_owned();
    let (_, pat) = alice
        .gql(
            "mutation { createPersonalAccessToken(input: {name: \"laptop\"}) { secret } }",
            json!({}),
        )
        .await;
    let pat = pat["data"]["createPersonalAccessToken"]["secret"]
        .as_str()
        .unwrap()
        .to_owned();
    let jwt = provider
        .id_token(
            oidc::CLIENT_ID,
            oidc::CLIENT_SECRET,
            &format!("{}/auth/callback", app.base),
            "alice@example.com",
        )
        .await;
    // Warm every cache.
    for token in [&key, &pat] {
        assert_eq!(app.verify(Header::Bearer, token).await.0, 200);
    }
    assert_eq!(
        app.gql(&jwt, "{ me { authenticatedBy } }", json!({}))
            .await
            .status,
        200
    );

    // Only an instance admin may suspend.
    let refused = app
        .gql(
            &key,
            "mutation($i: SuspendCustomerInput!) { suspendCustomer(input: $i) { suspended } }",
            json!({ "i": { "customerId": alice_id, "reason": "x" } }),
        )
        .await;
    assert_eq!(refused.error_code(), "FORBIDDEN");
    let no_reason = app
        .gql(
            &admin.pat,
            "mutation($i: SuspendCustomerInput!) { suspendCustomer(input: $i) { suspended } }",
            json!({ "i": { "customerId": alice_id, "reason": " " } }),
        )
        .await;
    assert_eq!(no_reason.error_code(), "INVALID_INPUT");

    let r = app
        .gql(&admin.pat, "mutation($i: SuspendCustomerInput!) { suspendCustomer(input: $i) { suspended suspendedReason } }", json!({ "i": { "customerId": alice_id, "reason": "chargeback" } }))
        .await
        .data();
    assert_eq!(r["suspendCustomer"]["suspended"], true);
    for token in [&key, &pat] {
        let (status, _, body) = app.verify(Header::Bearer, token).await;
        assert_eq!(
            (status.as_u16(), body["code"].as_str()),
            (401, Some("SUSPENDED"))
        );
    }
    assert_eq!(alice.me().await.0, 401, "the session is refused");
    assert_eq!(
        app.gql(&jwt, "{ me { authenticatedBy } }", json!({}))
            .await
            .status,
        401
    );
    let (client, callback) = to_callback(&app, "alice@example.com", "/").await;
    let again = client.get(callback).send().await.unwrap();
    assert_eq!(again.status(), 401);
    assert!(!session_cookie_set(&again));
    let problem: Value = again.json().await.unwrap();
    assert_eq!(problem["code"], "SUSPENDED");
    assert!(problem["detail"].as_str().unwrap().contains("suspended"));

    app.gql(
        &admin.pat,
        "mutation($i: UnsuspendCustomerInput!) { unsuspendCustomer(input: $i) { suspended } }",
        json!({ "i": { "customerId": alice_id } }),
    )
    .await
    .data();
    for token in [&key, &pat] {
        assert_eq!(app.verify(Header::Bearer, token).await.0, 200);
    }
    assert_eq!(alice.me().await.0, 200);

    // Suspending the organization stops its keys and the sessions in it.
    app.gql(
        &admin.pat,
        "mutation($i: SuspendOrganizationInput!) { suspendOrganization(input: $i) { suspended } }",
        json!({ "i": { "organizationId": alice_org, "reason": "abuse" } }),
    )
    .await
    .data();
    let (status, _, body) = app.verify(Header::Bearer, &key).await;
    assert_eq!(
        (status.as_u16(), body["code"].as_str()),
        (401, Some("SUSPENDED"))
    );
    assert_eq!(alice.me().await.0, 401);
    let denied = app
        .gql(
            &pat,
            "query($o: ID!) { apiKeys(organizationId: $o) { totalCount } }",
            json!({ "o": alice_org }),
        )
        .await;
    assert_eq!(denied.error_code(), "UNAUTHENTICATED");
    app.gql(&admin.pat, "mutation($i: UnsuspendOrganizationInput!) { unsuspendOrganization(input: $i) { suspended } }", json!({ "i": { "organizationId": alice_org } }))
        .await
        .data();
    assert_eq!(app.verify(Header::Bearer, &key).await.0, 200);
    assert_eq!(alice.me().await.0, 200);

    let events = app
        .gql(&admin.pat, "query($o: ID!) { auditEvents(organizationId: $o, filter: {action: \"organization.suspend\"}) { nodes { actorName details } } }", json!({ "o": alice_org }))
        .await;
    // The admin is not a member of Alice's organization: the log is hers.
    assert_eq!(events.error_code(), "NOT_A_MEMBER");
    let (_, log) = alice
        .gql("query($o: ID!) { auditEvents(organizationId: $o, filter: {action: \"organization.suspend\"}) { nodes { actorName details } } }", json!({ "o": alice_org }))
        .await;
    assert_eq!(
        log["data"]["auditEvents"]["nodes"][0]["actorName"],
        "root@example.com"
    );
    assert_eq!(
        log["data"]["auditEvents"]["nodes"][0]["details"]["reason"],
        "abuse"
    );
    app.finish().await;
}

async fn new_signing_keys_are_fetched(db: Db) {
    let (app, provider) = TestApp::spawn_with_oidc(db, ProviderOptions::default(), |_| {}).await;
    let callback = format!("{}/auth/callback", app.base);
    let before = provider
        .id_token(
            oidc::CLIENT_ID,
            oidc::CLIENT_SECRET,
            &callback,
            "alice@example.com",
        )
        .await;
    assert_eq!(
        app.gql(&before, "{ me { authenticatedBy } }", json!({}))
            .await
            .status,
        200
    );

    // The provider restarts under the same issuer with new signing keys.
    let port: u16 = provider.issuer.rsplit(':').next().unwrap().parse().unwrap();
    drop(provider);
    let mut restarted = None;
    for _ in 0..50 {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            restarted = Some(
                oidc::OidcProvider::start(
                    &callback,
                    ProviderOptions {
                        port: Some(port),
                        ..Default::default()
                    },
                )
                .await,
            );
            break;
        }
    }
    let provider = restarted.expect("the provider's port did not come free");
    // Fetching keys is bounded to once every two seconds.
    app.services()
        .clock
        .advance(std::time::Duration::from_millis(2100));
    let after = provider
        .id_token(
            oidc::CLIENT_ID,
            oidc::CLIENT_SECRET,
            &callback,
            "alice@example.com",
        )
        .await;
    let r = app
        .gql(&after, "{ me { authenticatedBy } }", json!({}))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let alice = sign_in(&app, "alice@example.com").await;
    assert_eq!(alice.me().await.0, 200);
    app.finish().await;
}

/// An opaque access token of the provider is checked by introspection and acts as the
/// customer with that subject; it never provisions one; refusals count as guesses.
async fn opaque_access_tokens_are_checked_by_introspection(db: Db) {
    let (app, provider) = TestApp::spawn_with_oidc(db, ProviderOptions::default(), |c| {
        c.failed_verifications_per_minute = 3;
    })
    .await;
    let callback = format!("{}/auth/callback", app.base);
    sign_in(&app, "alice@example.com").await;
    let token = provider
        .access_token(
            oidc::CLIENT_ID,
            oidc::CLIENT_SECRET,
            &callback,
            "alice@example.com",
        )
        .await;
    assert!(
        !token.contains('.'),
        "the provider issues opaque access tokens"
    );
    let me = app
        .gql(
            &token,
            "{ me { authenticatedBy user { email } } }",
            json!({}),
        )
        .await
        .data();
    assert_eq!(me["me"]["authenticatedBy"], "oidc");
    assert_eq!(me["me"]["user"]["email"], "alice@example.com");

    // Someone who never signed in is not made a customer by an access token.
    let bob = provider
        .access_token(
            oidc::CLIENT_ID,
            oidc::CLIENT_SECRET,
            &callback,
            "bob@example.com",
        )
        .await;
    let r = app.gql(&bob, "{ me { authenticatedBy } }", json!({})).await;
    assert_eq!(r.status, 401, "{}", r.body);
    assert_eq!(r.body["errors"][0]["extensions"]["reason"], "NOT_FOUND");

    // Invented tokens are refused, and count against the address.
    let mut statuses = Vec::new();
    for i in 0..4 {
        let r = app
            .gql(
                &format!("not-a-real-access-token-{i}"),
                "{ me { authenticatedBy } }",
                json!({}),
            )
            .await;
        statuses.push(r.status.as_u16());
    }
    assert_eq!(
        statuses,
        [401, 401, 401, 429],
        "bob's refusal was the first of four guesses an allowance of three lets through"
    );
    app.services()
        .clock
        .advance(std::time::Duration::from_secs(61));

    // A suspended customer's access token stops at once, cached answer or not.
    let root = app.bootstrap("root@example.com").await;
    let alice: String = app
        .gql(
            &root.pat,
            "{ users(search: \"alice\") { nodes { id } } }",
            json!({}),
        )
        .await
        .data()["users"]["nodes"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.gql(
        &root.pat,
        "mutation($c: ID!) { suspendCustomer(input: { customerId: $c, reason: \"x\" }) { id } }",
        json!({ "c": alice }),
    )
    .await
    .data();
    let r = app
        .gql(&token, "{ me { authenticatedBy } }", json!({}))
        .await;
    assert_eq!(r.body["errors"][0]["extensions"]["reason"], "SUSPENDED");
    app.finish().await;
}

/// A JWT access token (RFC 9068) of the provider is accepted like an ID token when it
/// names the configured audience, and acts as the existing customer with that subject.
async fn jwt_access_tokens_name_the_audience(db: Db) {
    let audience = "https://keyward.example";
    let (app, provider) = TestApp::spawn_with_oidc(
        db,
        ProviderOptions {
            jwt_audience: Some(audience.into()),
            ..Default::default()
        },
        |c| {
            if let Some(oidc) = c.oidc.as_mut() {
                oidc.audience = Some(audience.into());
            }
        },
    )
    .await;
    let callback = format!("{}/auth/callback", app.base);
    sign_in(&app, "alice@example.com").await;
    let token = provider
        .access_token(
            oidc::CLIENT_ID,
            oidc::CLIENT_SECRET,
            &callback,
            "alice@example.com",
        )
        .await;
    assert_eq!(token.split('.').count(), 3, "a JWT access token");
    let me = app
        .gql(
            &token,
            "{ me { authenticatedBy user { email } } }",
            json!({}),
        )
        .await
        .data();
    assert_eq!(me["me"]["authenticatedBy"], "oidc");
    assert_eq!(me["me"]["user"]["email"], "alice@example.com");
    // Another application's JWT access token names its own API: refused.
    let theirs = their_access_token(&provider, "alice@example.com").await;
    assert_eq!(theirs.split('.').count(), 3, "a JWT access token");
    let r = app.gql(&theirs, ME, json!({})).await;
    assert_eq!(r.status, 401, "{}", r.body);
    // Not a way in for someone who never signed in.
    let bob = provider
        .access_token(
            oidc::CLIENT_ID,
            oidc::CLIENT_SECRET,
            &callback,
            "bob@example.com",
        )
        .await;
    let r = app.gql(&bob, "{ me { authenticatedBy } }", json!({})).await;
    assert_eq!(r.status, 401, "{}", r.body);
    app.finish().await;

    // A server expecting another audience refuses the same kind of token.
    let (other, provider) = TestApp::spawn_with_oidc(
        db,
        ProviderOptions {
            jwt_audience: Some(audience.into()),
            ..Default::default()
        },
        |c| {
            if let Some(oidc) = c.oidc.as_mut() {
                oidc.audience = Some("https://elsewhere.example".into());
            }
        },
    )
    .await;
    let callback = format!("{}/auth/callback", other.base);
    sign_in(&other, "alice@example.com").await;
    let token = provider
        .access_token(
            oidc::CLIENT_ID,
            oidc::CLIENT_SECRET,
            &callback,
            "alice@example.com",
        )
        .await;
    let r = other
        .gql(&token, "{ me { authenticatedBy } }", json!({}))
        .await;
    assert_eq!(r.status, 401, "{}", r.body);
    other.finish().await;
}

const ME: &str = "{ me { authenticatedBy user { email } } }";

/// An access token the provider issued to Keyward's client.
async fn our_access_token(provider: &oidc::OidcProvider, app: &TestApp, hint: &str) -> String {
    let callback = format!("{}/auth/callback", app.base);
    provider
        .access_token(oidc::CLIENT_ID, oidc::CLIENT_SECRET, &callback, hint)
        .await
}

/// An ID token the provider issued to Keyward's client.
async fn our_id_token(provider: &oidc::OidcProvider, app: &TestApp, hint: &str) -> String {
    let callback = format!("{}/auth/callback", app.base);
    provider
        .id_token(oidc::CLIENT_ID, oidc::CLIENT_SECRET, &callback, hint)
        .await
}

/// An access token the same provider issued to another application.
async fn their_access_token(provider: &oidc::OidcProvider, hint: &str) -> String {
    provider
        .access_token(
            oidc::OTHER_CLIENT_ID,
            oidc::OTHER_CLIENT_SECRET,
            oidc::OTHER_REDIRECT,
            hint,
        )
        .await
}

/// Another application at the same identity provider holds tokens for the same users:
/// none of them acts here (SPEC §6). Its ID tokens name another audience, its opaque
/// access tokens another client at introspection, its JWT access tokens another API.
/// A string carrying Keyward's prefix, or an imported key's, never reaches the provider.
/// A provider without introspection gets opaque tokens refused, unless the operator
/// chose UserInfo, which trusts every application at the provider.
async fn only_tokens_issued_for_keyward_are_accepted(db: Db) {
    let (app, provider) = TestApp::spawn_with_oidc(db, ProviderOptions::default(), |_| {}).await;
    sign_in(&app, "alice@example.com").await;
    let ours = our_access_token(&provider, &app, "alice@example.com").await;
    let theirs = their_access_token(&provider, "alice@example.com").await;
    let their_id_token = provider
        .id_token(
            oidc::OTHER_CLIENT_ID,
            oidc::OTHER_CLIENT_SECRET,
            oidc::OTHER_REDIRECT,
            "alice@example.com",
        )
        .await;
    assert!(!theirs.contains('.'), "an opaque access token");
    let me = app.gql(&ours, ME, json!({})).await.data();
    assert_eq!(me["me"]["user"]["email"], "alice@example.com");
    for (what, token) in [("access token", &theirs), ("ID token", &their_id_token)] {
        let r = app.gql(token, ME, json!({})).await;
        assert_eq!(r.status, 401, "another application's {what}: {}", r.body);
        let r = app
            .client
            .get(format!("{}/api/v1/api-keys/verify", app.base))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401, "another application's {what} on REST");
    }
    // Nor can it mint a PAT.
    let mint = app
        .gql(
            &theirs,
            "mutation($i: CreatePersonalAccessTokenInput!) { createPersonalAccessToken(input: $i) { secret } }",
            json!({ "i": { "name": "escalated" } }),
        )
        .await;
    assert_eq!(mint.status, 401, "{}", mint.body);

    // Keyward's own strings never go to the provider.
    let root = app.bootstrap("root@example.com").await;
    app.gql(
        &root.pat,
        "mutation($i: ImportApiKeyInput!) { importApiKey(input: $i) { id } }",
        json!({ "i": {
            "organizationId": root.org_id,
            "name": "legacy",
            "sha256": tests::sha256_hex("vc_0123456789abcdef0123456789abcdef"),
            "prefix": "vc_",
        } }),
    )
    .await
    .data();
    let before = provider.introspections().await;
    let unknown_pat = app
        .services()
        .tokens
        .generate(backend::token::TokenKind::Pat)
        .unwrap()
        .token
        .expose_secret()
        .to_owned();
    for own in [
        "kw_pat_not-even-checksummed",
        unknown_pat.as_str(),
        "vc_ffffffffffffffffffffffffffffffff",
    ] {
        let r = app.gql(own, ME, json!({})).await;
        assert_eq!(r.status, 401, "{own}: {}", r.body);
    }
    assert_eq!(
        provider.introspections().await,
        before,
        "no Keyward or imported token was sent to the provider"
    );
    app.finish().await;

    // A provider without introspection: opaque tokens are refused, even Keyward's own...
    let options = ProviderOptions {
        no_introspection: true,
        ..Default::default()
    };
    let (app, provider) = TestApp::spawn_with_oidc(db, options.clone(), |_| {}).await;
    sign_in(&app, "alice@example.com").await;
    let ours = our_access_token(&provider, &app, "alice@example.com").await;
    let r = app.gql(&ours, ME, json!({})).await;
    assert_eq!(r.status, 401, "{}", r.body);
    app.finish().await;

    // ...unless the operator chose UserInfo, which answers for any client's token.
    let (app, provider) = TestApp::spawn_with_oidc(db, options, |c| {
        if let Some(oidc) = c.oidc.as_mut() {
            oidc.opaque_tokens = backend::config::OpaqueTokens::Userinfo;
        }
    })
    .await;
    sign_in(&app, "alice@example.com").await;
    let ours = our_access_token(&provider, &app, "alice@example.com").await;
    let theirs = their_access_token(&provider, "alice@example.com").await;
    assert_eq!(app.gql(&ours, ME, json!({})).await.status, 200);
    assert_eq!(
        app.gql(&theirs, ME, json!({})).await.status,
        200,
        "UserInfo trusts every client of the provider, as documented"
    );
    app.finish().await;
}

/// The provider's tokens are limited per user like a dashboard session, and share one
/// allowance with the user's sessions.
async fn provider_tokens_are_limited_per_user(db: Db) {
    let (app, provider) = TestApp::spawn_with_oidc(db, ProviderOptions::default(), |c| {
        c.default_rate_limit_per_minute = 4;
    })
    .await;
    let browser = sign_in(&app, "alice@example.com").await;
    let id_token = our_id_token(&provider, &app, "alice@example.com").await;
    let access = our_access_token(&provider, &app, "alice@example.com").await;
    let mut statuses = Vec::new();
    for token in [&id_token, &access, &id_token, &access] {
        statuses.push(app.gql(token, ME, json!({})).await.status.as_u16());
    }
    statuses.push(browser.me().await.0.as_u16());
    assert_eq!(
        statuses,
        [200, 200, 200, 200, 429],
        "one allowance for the user"
    );
    let r = app.gql(&id_token, ME, json!({})).await;
    assert_eq!(r.status, 429, "{}", r.body);
    assert_eq!(r.body["code"], "RATE_LIMITED", "{}", r.body);
    app.services()
        .clock
        .advance(std::time::Duration::from_secs(61));
    assert_eq!(app.gql(&access, ME, json!({})).await.status, 200);
    app.finish().await;
}

/// Instance-admin power comes from the configuration at every use (SPEC §3.2): a subject
/// in `KEYWARD_ADMIN_SUBJECTS` exactly, an email in `KEYWARD_ADMIN_EMAILS` only when the
/// provider verified it. Taken out of the configuration, an admin loses the power at
/// once, whatever their last sign-in left behind, with the same token.
async fn instance_admin_power_follows_the_configuration(db: Db) {
    let (app, provider) = TestApp::spawn_with_oidc(db, ProviderOptions::default(), |c| {
        c.admin_subjects = vec!["carol@example.com".into(), "Dave@example.com".into()];
    })
    .await;
    let issuer = provider.issuer.clone();
    let carol = sign_in(&app, "carol@example.com").await;
    assert_eq!(carol.me().await.1["data"]["me"]["isInstanceAdmin"], true);
    let dave = sign_in(&app, "dave@example.com").await;
    assert_eq!(
        dave.me().await.1["data"]["me"]["isInstanceAdmin"],
        false,
        "subjects match exactly"
    );
    let pat = carol
        .gql(
            "mutation($i: CreatePersonalAccessTokenInput!) { createPersonalAccessToken(input: $i) { secret } }",
            json!({ "i": { "name": "admin automation" } }),
        )
        .await
        .1["data"]["createPersonalAccessToken"]["secret"]
        .as_str()
        .unwrap()
        .to_owned();
    const USERS: &str = "{ users { nodes { email isInstanceAdmin } } }";
    let users = app.gql(&pat, USERS, json!({})).await.data();
    let listed = users["users"]["nodes"].as_array().unwrap();
    assert!(
        listed
            .iter()
            .any(|u| u["email"] == "carol@example.com" && u["isInstanceAdmin"] == true)
    );

    // The next start no longer names Carol: her token stops carrying the power.
    let oidc_config = |c: &mut backend::config::Config, subjects: Vec<String>| {
        c.oidc = Some(backend::config::OidcConfig {
            issuer: issuer.clone(),
            client_id: oidc::CLIENT_ID.into(),
            client_secret: Some(backend::config::Secret::new(oidc::CLIENT_SECRET)),
            redirect_url: "http://127.0.0.1:9/auth/callback".into(),
            scopes: vec!["email".into(), "profile".into()],
            audience: None,
            opaque_tokens: backend::config::OpaqueTokens::Introspection,
            token_prefixes: Vec::new(),
        });
        c.admin_subjects = subjects;
    };
    let app = app.restart_with(|c| oidc_config(c, vec![])).await;
    let refused = app.gql(&pat, USERS, json!({})).await;
    assert_eq!(refused.error_code(), "FORBIDDEN", "{:?}", refused.body);
    let me = app
        .gql(&pat, "{ me { isInstanceAdmin } }", json!({}))
        .await
        .data();
    assert_eq!(me["me"]["isInstanceAdmin"], false);

    // Named by email instead: verified, that is enough again.
    let app = app
        .restart_with(|c| {
            oidc_config(c, vec![]);
            c.admin_emails = vec!["carol@example.com".into()];
        })
        .await;
    assert_eq!(app.gql(&pat, USERS, json!({})).await.status, 200);
    let users = app.gql(&pat, USERS, json!({})).await.data();
    assert_eq!(users["users"]["nodes"].as_array().unwrap().len(), 2);
    app.finish().await;
}

/// A credential made with the provider's token expires no later than that token (SPEC
/// §3.2): a short-lived token cannot be turned into a long-lived PAT.
async fn what_a_provider_token_makes_expires_with_it(db: Db) {
    let (app, provider) = TestApp::spawn_with_oidc(
        db,
        ProviderOptions {
            id_token_ttl: Some(600),
            ..Default::default()
        },
        |_| {},
    )
    .await;
    sign_in(&app, "alice@example.com").await;
    let id_token = our_id_token(&provider, &app, "alice@example.com").await;
    const MINT: &str = "mutation($i: CreatePersonalAccessTokenInput!) { createPersonalAccessToken(input: $i) { token { expiresAt } } }";
    let minted = app
        .gql(
            &id_token,
            MINT,
            json!({ "i": { "name": "from a provider token" } }),
        )
        .await
        .data();
    let expires: chrono::DateTime<chrono::Utc> =
        minted["createPersonalAccessToken"]["token"]["expiresAt"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
    let now = app.services().clock.now();
    assert!(
        expires <= now + chrono::TimeDelta::seconds(601),
        "{expires}"
    );
    let later = (now + chrono::TimeDelta::days(30)).to_rfc3339();
    let refused = app
        .gql(
            &id_token,
            MINT,
            json!({ "i": { "name": "longer", "expiresAt": later } }),
        )
        .await;
    assert_eq!(refused.error_code(), "INVALID_INPUT");
    app.finish().await;
}

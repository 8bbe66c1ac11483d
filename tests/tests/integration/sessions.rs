//! Development sign-in (SPEC §2) and cookie sessions with CSRF protection (SPEC §6).

use serde_json::json;
use tests::{Db, TestApp};

db_tests!(development_sign_in, sessions_expire);

async fn development_sign_in(db: Db) {
    let app = TestApp::spawn_with(db, |c| c.dev_signin = backend::config::DevSignin::On).await;
    let link = app.services().offer_dev_signin().unwrap();
    let path = link.split_once("/auth/dev").unwrap().1;
    let url = format!("{}/auth/dev{path}", app.base);
    let response = app.client.get(&url).send().await.unwrap();
    assert!(response.status().is_redirection(), "{}", response.status());
    let set_cookie = response.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(set_cookie.contains("HttpOnly"), "{set_cookie}");
    assert!(set_cookie.contains("SameSite=Lax"), "{set_cookie}");
    assert!(
        !set_cookie.contains("Secure"),
        "plain http on loopback: {set_cookie}"
    );
    assert_eq!(response.headers()["location"], "/graphql");
    let cookie = set_cookie.split(';').next().unwrap().to_owned();

    // The link works once.
    assert_eq!(app.client.get(&url).send().await.unwrap().status(), 401);

    let gql = |body: serde_json::Value, origin: Option<&str>| {
        let mut req = app
            .client
            .post(format!("{}/graphql", app.base))
            .header("cookie", &cookie)
            .json(&body);
        if let Some(o) = origin {
            req = req.header("origin", o);
        }
        req.send()
    };
    let me: serde_json::Value = gql(json!({ "query": "{ me { user { email } isInstanceAdmin authenticatedBy organizationId projectId } }" }), Some(&app.base))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["data"]["me"]["user"]["email"], "admin@localhost");
    assert_eq!(me["data"]["me"]["authenticatedBy"], "session");
    assert_eq!(me["data"]["me"]["isInstanceAdmin"], true);
    let org = me["data"]["me"]["organizationId"]
        .as_str()
        .unwrap()
        .to_owned();

    let create = json!({
        "query": "mutation($i: CreateApiKeyInput!) { createApiKey(input: $i) { apiKey { id } } }",
        "variables": { "i": { "organizationId": org, "name": "from the dashboard" } },
    });
    let cross = gql(create.clone(), Some("https://evil.example"))
        .await
        .unwrap();
    assert_eq!(
        cross.status(),
        403,
        "a cross-origin cookie mutation is refused"
    );
    let none = gql(create.clone(), None).await.unwrap();
    assert_eq!(none.status(), 403);
    let same: serde_json::Value = gql(create, Some(&app.base))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        same["data"]["createApiKey"]["apiKey"]["id"].is_string(),
        "{same}"
    );

    let out = app
        .client
        .post(format!("{}/auth/logout", app.base))
        .header("cookie", &cookie)
        .header("origin", &app.base)
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), 204);
    let after = gql(
        json!({ "query": "{ me { authenticatedBy } }" }),
        Some(&app.base),
    )
    .await
    .unwrap();
    assert_eq!(after.status(), 401);

    // Signing in and out are audited: how, from where, with what.
    let again = dev_cookie(&app).await;
    let events: serde_json::Value = app
        .client
        .post(format!("{}/graphql", app.base))
        .header("cookie", &again)
        .header("origin", &app.base)
        .header("user-agent", "audit-test")
        .json(&json!({
            "query": "query($o: ID!) { auditEvents(organizationId: $o) { nodes { action actorName ip details } } }",
            "variables": { "o": org },
        }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let nodes = events["data"]["auditEvents"]["nodes"].as_array().unwrap();
    let actions: Vec<&str> = nodes
        .iter()
        .filter(|e| e["action"].as_str().unwrap().starts_with("session."))
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        ["session.create", "session.end", "session.create"],
        "{events}"
    );
    let created = nodes
        .iter()
        .find(|e| e["action"] == "session.create")
        .unwrap();
    assert_eq!(created["actorName"], "admin@localhost");
    assert_eq!(created["ip"], "127.0.0.1");
    assert_eq!(created["details"]["method"], "development");
    assert_eq!(created["details"]["ip"], "127.0.0.1");
    app.finish().await;
}

/// Signs in by the development link and returns the session cookie.
async fn dev_cookie(app: &TestApp) -> String {
    let link = app.services().offer_dev_signin().unwrap();
    let path = link.split_once("/auth/dev").unwrap().1;
    let response = app
        .client
        .get(format!("{}/auth/dev{path}", app.base))
        .send()
        .await
        .unwrap();
    response.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned()
}

async fn me_status(app: &TestApp, cookie: &str) -> (u16, serde_json::Value) {
    let response = app
        .client
        .post(format!("{}/graphql", app.base))
        .header("cookie", cookie)
        .header("origin", &app.base)
        .json(&json!({ "query": "{ me { authenticatedBy } }" }))
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

async fn sessions_expire(db: Db) {
    let idle = TestApp::spawn_with(db, |c| {
        c.dev_signin = backend::config::DevSignin::On;
        c.session_idle_timeout = std::time::Duration::from_secs(3);
    })
    .await;
    let cookie = dev_cookie(&idle).await;
    assert_eq!(me_status(&idle, &cookie).await.0, 200);
    idle.services()
        .clock
        .advance(std::time::Duration::from_millis(2500));
    assert_eq!(
        me_status(&idle, &cookie).await.0,
        200,
        "used within the idle timeout"
    );
    idle.services()
        .clock
        .advance(std::time::Duration::from_secs(3));
    let (status, body) = me_status(&idle, &cookie).await;
    assert_eq!(status, 401, "an idle session ends");
    assert_eq!(body["errors"][0]["extensions"]["reason"], "SESSION_INVALID");
    idle.finish().await;

    let absolute = TestApp::spawn_with(db, |c| {
        c.dev_signin = backend::config::DevSignin::On;
        c.session_ttl = std::time::Duration::from_secs(3);
    })
    .await;
    let cookie = dev_cookie(&absolute).await;
    assert_eq!(me_status(&absolute, &cookie).await.0, 200);
    absolute
        .services()
        .clock
        .advance(std::time::Duration::from_millis(3500));
    assert_eq!(
        me_status(&absolute, &cookie).await.0,
        401,
        "a session ends at its absolute expiry"
    );
    absolute.finish().await;
}

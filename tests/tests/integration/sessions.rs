//! Development sign-in (SPEC §2) and cookie sessions with CSRF protection (SPEC §6).

use serde_json::json;
use tests::{Db, TestApp};

db_tests!(
    development_sign_in,
    sessions_expire,
    signin_links_never_dead_end,
    revoking_every_other_session,
    a_newcomer_signs_out_and_back_in,
);

async fn development_sign_in(db: Db) {
    let app = TestApp::spawn_with(db, |c| c.dev_signin = backend::config::DevSignin::On).await;
    let link = app.services().offer_dev_signin().await.unwrap();
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
    let link = app.services().offer_dev_signin().await.unwrap();
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

/// Runs `keyward-server signin-link` against the app's database.
async fn signin_link_command(
    app: &TestApp,
    dev: backend::config::DevSignin,
) -> Result<String, String> {
    let cli =
        <backend::config::Cli as clap::Parser>::try_parse_from(["keyward-server", "signin-link"])
            .unwrap();
    let mut config = backend::config::Config::for_tests(&app.database_url);
    config.dev_signin = dev;
    let mut out = Vec::new();
    backend::cli::run(cli.command.unwrap(), config, &mut out)
        .await
        .map(|_| String::from_utf8(out).unwrap())
}

/// A browser's navigation to `path`: (status, content type, body, set-cookie).
async fn navigate(app: &TestApp, path: &str) -> (u16, String, String, Option<String>) {
    let response = app
        .client
        .get(format!("{}{path}", app.base))
        .header("accept", "text/html,application/xhtml+xml,*/*;q=0.8")
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
    };
    let (kind, cookie) = (
        header("content-type").unwrap_or_default(),
        header("set-cookie"),
    );
    (status, kind, response.text().await.unwrap(), cookie)
}

fn link_path(link: &str) -> String {
    let path = link.trim().split_once("/auth/dev").unwrap().1;
    format!("/auth/dev{path}")
}

/// SPEC §2: after signing out, or with a used or stale link, a browser lands on a page
/// that says what to do, `keyward-server signin-link` offers a fresh link to the running
/// server through its database, and each link works once even when redeemed twice at the
/// same moment.
async fn signin_links_never_dead_end(db: Db) {
    use backend::config::DevSignin;
    let app = TestApp::spawn_with(db, |c| c.dev_signin = DevSignin::On).await;

    // A link from the command, not from the server's memory, signs in.
    let link = signin_link_command(&app, DevSignin::On).await.unwrap();
    assert!(
        link.trim().starts_with("http") && link.contains("/auth/dev?token="),
        "{link}"
    );
    let path = link_path(&link);
    let (status, _, _, cookie) = navigate(&app, &path).await;
    assert_eq!(status, 303);
    let cookie = cookie
        .expect("signed in")
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let (me, _) = me_status(&app, &cookie).await;
    assert_eq!(me, 200);

    // Used again, in a browser: a page that says what happened and what to do, no JSON.
    let (status, kind, body, cookie) = navigate(&app, &path).await;
    assert_eq!(status, 401);
    assert!(kind.starts_with("text/html"), "{kind}");
    assert!(cookie.is_none());
    assert!(body.contains("already used"), "{body}");
    assert!(body.contains("keyward-server signin-link"), "{body}");
    assert!(!body.trim_start().starts_with('{'), "{body}");
    // A client that does not ask for HTML still gets the problem as JSON.
    let api = app
        .client
        .get(format!("{}{path}", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(api.status(), 401);
    let problem: serde_json::Value = api.json().await.unwrap();
    assert_eq!(problem["code"], "SIGN_IN_FAILED", "{problem}");

    // A stale link, an unknown one, and one cut short: each says what to do.
    let stale = link_path(&app.services().offer_dev_signin().await.unwrap());
    app.services()
        .clock
        .advance(std::time::Duration::from_secs(3601));
    let (status, _, body, _) = navigate(&app, &stale).await;
    assert_eq!(status, 401);
    assert!(
        body.contains("expired") && body.contains("signin-link"),
        "{body}"
    );
    let (status, _, body, _) =
        navigate(&app, "/auth/dev?token=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA").await;
    assert_eq!(status, 401);
    assert!(
        body.contains("not known") && body.contains("signin-link"),
        "{body}"
    );
    let (status, kind, body, _) = navigate(&app, "/auth/dev").await;
    assert_eq!(status, 400);
    assert!(
        kind.starts_with("text/html") && body.contains("copy the whole link"),
        "{body}"
    );
    // Whatever a query carries is shown escaped.
    let (_, _, body, _) = navigate(&app, "/auth/dev?token=%3Cscript%3E").await;
    assert!(!body.contains("<script>"), "{body}");

    // No identity provider: the page leads back to the sign-in page.
    let (status, kind, body, _) = navigate(&app, "/auth/login").await;
    assert_eq!(status, 404);
    assert!(kind.starts_with("text/html"), "{kind}");
    assert!(body.contains(r#"href="/sign-in""#), "{body}");

    // Two servers redeeming one link at the same moment: one session, one refusal.
    let raced = link_path(&app.services().offer_dev_signin().await.unwrap());
    let (a, b) = tokio::join!(navigate(&app, &raced), navigate(&app, &raced));
    let mut statuses = [a.0, b.0];
    statuses.sort_unstable();
    assert_eq!(statuses, [303, 401], "a link works once");

    // With development sign-in off, the command says why instead of printing a dead link.
    let off = signin_link_command(&app, DevSignin::Off).await.unwrap_err();
    assert!(off.contains("development sign-in is off"), "{off}");
    app.finish().await;
}

/// `revokeOtherSessions` (SPEC §6): from a session, every other session of that user ends
/// at once, each audited, and the asking one lives on; from a token, all of them end;
/// another user's sessions are never touched.
async fn revoking_every_other_session(db: Db) {
    let app = TestApp::spawn(db).await;
    let ada = app.bootstrap("ada@example.com").await;
    let bob = app.bootstrap("bob@example.com").await;
    let cookie_of = |who: &tests::Admin| {
        let app = &app;
        let (pat, org, project) = (who.pat.clone(), who.org_id.clone(), who.project_id.clone());
        async move {
            let me = app
                .gql(&pat, "{ me { user { id } } }", json!({}))
                .await
                .data();
            let id = me["me"]["user"]["id"].as_str().unwrap().parse().unwrap();
            app.session_cookie(id, org.parse().unwrap(), project.parse().unwrap())
                .await
        }
    };
    let mine = cookie_of(&ada).await;
    let mut others = Vec::new();
    for _ in 0..3 {
        others.push(cookie_of(&ada).await);
    }
    let bobs = cookie_of(&bob).await;
    let me = "{ me { authenticatedBy } }";
    let revoke = "mutation { revokeOtherSessions }";
    let ended = app.gql_session(&mine, revoke, json!({})).await.data();
    assert_eq!(ended["revokeOtherSessions"], 3);
    assert_eq!(app.gql_session(&mine, me, json!({})).await.status, 200);
    for cookie in &others {
        assert_eq!(app.gql_session(cookie, me, json!({})).await.status, 401);
    }
    assert_eq!(app.gql_session(&bobs, me, json!({})).await.status, 200);
    // Each ended session is audited as a revoke; asking again ends nothing.
    let audit = app
        .gql(
            &ada.pat,
            "query($o: ID!) { auditEvents(organizationId: $o, filter: { action: \"session.revoke\" }) { totalCount } }",
            json!({ "o": ada.org_id }),
        )
        .await
        .data();
    assert_eq!(audit["auditEvents"]["totalCount"], 3);
    let again = app.gql_session(&mine, revoke, json!({})).await.data();
    assert_eq!(again["revokeOtherSessions"], 0);
    // Two devices signing out everywhere else at the same moment: each session ends once,
    // audited once, and the two counts add up to what there was.
    let (one, two) = (cookie_of(&ada).await, cookie_of(&ada).await);
    for _ in 0..4 {
        cookie_of(&ada).await;
    }
    let (a, b) = tokio::join!(
        app.gql_session(&one, revoke, json!({})),
        app.gql_session(&two, revoke, json!({})),
    );
    let ended = |g: tests::Gql| g.body["data"]["revokeOtherSessions"].as_i64();
    // Seven live sessions: `mine`, `one`, `two` and four more. Run one after the other,
    // the first ends six and the second is already signed out (6); run together, each
    // ends the other too (7). Never a session ended twice, never one left behind.
    let total = ended(a).unwrap_or(0) + ended(b).unwrap_or(0);
    assert!((6..=7).contains(&total), "{total}");
    let audit = app
        .gql(
            &ada.pat,
            "query($o: ID!) { auditEvents(organizationId: $o, filter: { action: \"session.revoke\" }) { totalCount } }",
            json!({ "o": ada.org_id }),
        )
        .await
        .data();
    assert_eq!(
        audit["auditEvents"]["totalCount"].as_i64(),
        Some(3 + total),
        "one audit event per ended session"
    );
    assert_eq!(app.gql_session(&mine, me, json!({})).await.status, 401);
    let mut alive = 0;
    for cookie in [&one, &two] {
        if app.gql_session(cookie, me, json!({})).await.status == 200 {
            alive += 1;
        }
    }
    assert_eq!(alive, 7 - total);
    // A token is no session: every session of its user ends, the token lives on.
    let late = cookie_of(&ada).await;
    let ended = app.gql(&ada.pat, revoke, json!({})).await.data();
    assert_eq!(ended["revokeOtherSessions"].as_i64(), Some(7 - total + 1));
    assert_eq!(app.gql_session(&late, me, json!({})).await.status, 401);
    assert_eq!(app.gql(&ada.pat, me, json!({})).await.status, 200);
    assert_eq!(app.gql_session(&bobs, me, json!({})).await.status, 200);
    app.finish().await;
}

/// SPEC §2, as a newcomer following the README meets it in a browser: the link the
/// command prints signs in, "Sign out" ends the session and says how to come back, the
/// used link explains itself, and a fresh link from the command signs in again.
async fn a_newcomer_signs_out_and_back_in(db: Db) {
    use backend::config::DevSignin;
    let dist = tests::browser::dashboard_dir().await;
    let app = TestApp::spawn_with(db, |c| {
        c.dev_signin = DevSignin::On;
        c.dashboard_dir = Some(dist);
    })
    .await;
    let browser = tests::browser::Browser::start(1280, 800).await;
    // The command runs with the test's settings, not the server's address: the link's
    // path is what matters.
    let at = |link: &str| format!("{}{}", app.base, link_path(link));
    let first = signin_link_command(&app, DevSignin::On).await.unwrap();
    browser.client.goto(&at(&first)).await.unwrap();
    browser
        .wait_for_text_in("main.content h1", "API keys")
        .await;
    browser.wait_for_text("admin@localhost").await;

    browser.click_button("header.topbar", "Sign out").await;
    browser.wait_for_text("Sign in to Keyward").await;
    browser
        .wait_for_text_in("#signin-link-command", "keyward-server signin-link")
        .await;
    // Signed out for real: the dashboard sends the browser back to sign in.
    browser.go(&app, "/keys").await;
    browser.wait_for_text("Sign in to Keyward").await;
    // The used link says what happened and what to do.
    browser.client.goto(&at(&first)).await.unwrap();
    browser.wait_for_text("already used").await;
    browser.wait_for_text("keyward-server signin-link").await;
    browser.screenshot("signin-link-used").await;

    let second = signin_link_command(&app, DevSignin::On).await.unwrap();
    assert_ne!(first.trim(), second.trim());
    browser.client.goto(&at(&second)).await.unwrap();
    browser
        .wait_for_text_in("main.content h1", "API keys")
        .await;
    browser.wait_for_text("admin@localhost").await;
    browser.close().await;
    app.finish().await;
}

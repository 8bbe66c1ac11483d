//! The dashboard's pages in a real browser against the real server (SPEC §13): a team
//! signing in through the real OIDC provider, inviting, editing a role and reading the
//! audit log; the key row menu, key detail and usage; service accounts; instance admin;
//! and every page at desktop and phone width.

use std::time::Duration;

use serde_json::json;
use tests::{
    Db, Header, TestApp,
    browser::{Browser, dashboard_dir},
    oidc::ProviderOptions,
};

db_tests!(
    team_signs_in_invites_edits_a_role_and_reads_the_audit_log,
    key_menu_detail_and_usage,
    service_accounts_and_instance_admin,
    identities_and_what_a_key_carries,
    every_page_at_desktop_and_phone_width,
    the_dashboard_fits_the_viewer_and_shows_rotation,
    cli_sign_in_pages,
    a_later_page_that_empties_says_so
);

async fn team_signs_in_invites_edits_a_role_and_reads_the_audit_log(db: Db) {
    let dist = dashboard_dir().await;
    let (app, _provider) = TestApp::spawn_with_oidc(db, ProviderOptions::default(), |c| {
        c.dashboard_dir = Some(dist);
    })
    .await;

    // Alice signs in with the identity provider's button.
    let alice = Browser::start(1280, 900).await;
    alice
        .client
        .goto(&format!("{}/keys", app.base))
        .await
        .unwrap();
    alice.wait_for_text("Sign in to Keyward").await;
    alice.screenshot("signin-desktop").await;
    alice.click("main.signin a.button.primary").await;
    alice.wait_for_text("No API keys yet").await;
    alice
        .wait_for_text_in("header.topbar", "alice@example.com")
        .await;

    // She invites Bob as a developer.
    alice.nav("/members").await;
    alice
        .wait_for_text_in("tr[data-member='alice@example.com']", "alice@example.com")
        .await;
    alice.screenshot("members-desktop").await;
    alice
        .click_button("header.page-header", "Invite member")
        .await;
    alice.type_into("#invite-email", "bob@example.com").await;
    alice.select("#invite-role", "Developer").await;
    alice.click("dialog[open] button[type=submit]").await;
    // No mail goes out: the dialog says so and gives the link to pass on.
    alice
        .wait_for_text_in("#invite-created", "No email was sent")
        .await;
    let link = alice
        .find("#invite-link")
        .await
        .prop("value")
        .await
        .unwrap();
    assert_eq!(
        link.as_deref(),
        Some(format!("{}/members", app.base).as_str())
    );
    alice.click("#invite-done").await;
    alice
        .wait_for_text_in("tr[data-invite='bob@example.com']", "pending")
        .await;
    assert!(alice.path().await.ends_with("/members?tab=invites"));
    alice.screenshot("members-invites-desktop").await;

    // She makes an "Auditor" role and lets it read the audit log.
    alice.nav("/roles").await;
    alice
        .wait_for_text("Built-in roles cannot be changed")
        .await;
    alice
        .click_button("header.page-header", "Create role")
        .await;
    alice.type_into("#role-name", "Auditor").await;
    alice.click("dialog[open] button[type=submit]").await;
    alice.wait_for_text_in(".role-head", "Auditor").await;
    alice
        .click("input[aria-label='Auditor: audit_log:read']")
        .await;
    alice
        .click("input[aria-label='Auditor: members:read']")
        .await;
    alice
        .wait_for_text_in(".unsaved-bar", "2 unsaved changes")
        .await;
    alice.screenshot("roles-desktop").await;
    alice.click("#save-role").await;
    alice.wait_for_text_in(".toasts", "Role saved").await;
    // Saved: it is there after a reload.
    alice.client.refresh().await.unwrap();
    let read = alice
        .find("input[aria-label='Auditor: audit_log:read']")
        .await;
    assert_eq!(read.prop("checked").await.unwrap().as_deref(), Some("true"));
    let auditor = auditor_permissions(&app).await;
    assert_eq!(auditor, json!({"audit_log": "read", "members": "read"}));

    // Bob signs in and accepts.
    let bob = Browser::start(1280, 900).await;
    bob.client
        .goto(&format!(
            "{}/auth/login?login_hint=bob@example.com&return_to=/members",
            app.base
        ))
        .await
        .unwrap();
    bob.wait_for_text("Invites for you").await;
    bob.screenshot("invites-for-you-desktop").await;
    bob.click_button("#invites-for-you", "Accept").await;
    bob.wait_for_text_in(".toasts", "You joined").await;
    bob.wait_for_text_in("#org-switcher", "Alice's organization")
        .await;
    bob.find("#org-switcher")
        .await
        .find(fantoccini::Locator::XPath(
            ".//option[starts-with(., 'Alice')]",
        ))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    bob.wait_for_text_in("tr[data-member='bob@example.com']", "bob@example.com")
        .await;

    // Alice finds it all in the audit log.
    alice.nav("/audit").await;
    for action in [
        "invite.create",
        "invite.accept",
        "role.create",
        "role.update",
    ] {
        alice.find(&format!("tr[data-action='{action}']")).await;
    }
    alice.screenshot("audit-desktop").await;
    let export = alice.find("header.page-header a.button").await;
    let href = export.attr("href").await.unwrap().unwrap();
    assert!(href.ends_with("/audit-events/export"), "{href}");
    // A filter narrows the list and lives in the address.
    let action = alice.find("#audit-action").await;
    action.send_keys("invite.accept").await.unwrap();
    alice.click("#audit-target").await; // leaves the field: the filter applies
    alice
        .wait_for_text_in("table.audit tbody", "invite.accept")
        .await;
    assert!(alice.path().await.contains("action=invite.accept"));
    for _ in 0..50 {
        if alice
            .client
            .find(fantoccini::Locator::Css("tr[data-action='role.update']"))
            .await
            .is_err()
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        alice
            .client
            .find(fantoccini::Locator::Css("tr[data-action='role.update']"))
            .await
            .is_err(),
        "the filter hides other actions"
    );
    // A row opens its details.
    alice.click("tr[data-action='invite.accept']").await;
    alice
        .wait_for_text_in("tr.details:not([hidden])", "bob@example.com")
        .await;
    // Keyboards and screen readers get a button that says whether the details are open.
    alice
        .find("tr[data-action='invite.accept'] button[aria-expanded='true']")
        .await;
    alice.screenshot("audit-details-desktop").await;

    alice.close().await;
    bob.close().await;
    app.finish().await;
}

/// The permissions the "Auditor" role holds, read behind the API.
async fn auditor_permissions(app: &TestApp) -> serde_json::Value {
    use entity::{prelude::Role, role};
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
    Role::find()
        .filter(role::Column::Name.eq("Auditor"))
        .one(app.services().test_db())
        .await
        .unwrap()
        .expect("the role was created")
        .permissions
}

async fn key_menu_detail_and_usage(db: Db) {
    let dist = dashboard_dir().await;
    let app = TestApp::spawn_with(db, |c| {
        c.dev_signin = backend::config::DevSignin::On;
        c.dashboard_dir = Some(dist);
    })
    .await;
    let browser = Browser::start(1280, 900).await;
    browser.sign_in_dev(&app).await;
    browser
        .click_button("header.page-header", "Create key")
        .await;
    browser.type_into("#key-name", "billing").await;
    browser.type_into("#key-rate-limit", "120").await;
    browser.click("dialog[open] button[type=submit]").await;
    let secret = browser.shown_secret().await;
    browser.click("#saved-secret").await;
    let (status, _, body) = app.verify(Header::XApiKey, &secret).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["ratelimit"]["limit"], 120, "{body}");
    let id = body["key"]["id"].as_str().unwrap().to_owned();
    let row = format!("tr[data-key-id='{id}']");

    // Rename.
    browser.click(&format!("{row} summary")).await;
    browser.click_button(&row, "Rename").await;
    let input = browser.find("#rename-name").await;
    input.clear().await.unwrap();
    input.send_keys("billing-eu").await.unwrap();
    browser.click("dialog[open] button[type=submit]").await;
    browser.wait_for_text_in(&row, "billing-eu").await;

    // Disable asks first, then the key stops; enable brings it back.
    browser.click(&format!("{row} summary")).await;
    browser.click_button(&row, "Disable").await;
    browser.accept_confirm().await;
    browser.wait_for_text_in(&row, "Disabled").await;
    assert_eq!(
        app.verify(Header::XApiKey, &secret).await.2["code"],
        "DISABLED"
    );
    browser.click(&format!("{row} summary")).await;
    browser.click_button(&row, "Enable").await;
    browser.wait_for_text_in(&row, "Active").await;
    assert_eq!(app.verify(Header::XApiKey, &secret).await.0, 200);

    // Rotate with a one-hour grace: both secrets work, the new one is shown once.
    browser.click(&format!("{row} summary")).await;
    browser.click_button(&row, "Rotate").await;
    browser.click("input[name=grace][value='3600']").await;
    browser.screenshot("keys-rotate-desktop").await;
    browser.click("#rotate-submit").await;
    let rotated = browser.shown_secret().await;
    assert_ne!(rotated, secret);
    browser.click("#saved-secret").await;
    assert_eq!(app.verify(Header::XApiKey, &rotated).await.0, 200);
    assert_eq!(app.verify(Header::XApiKey, &secret).await.0, 200);
    browser.wait_for_text_in(&row, "Rotating").await;

    // The detail page: metadata, usage chart with its text summary, recent activity.
    let (_, _, body) = app.verify(Header::XApiKey, &rotated).await;
    let new_id = body["key"]["id"].as_str().unwrap().to_owned();
    let mut summary = String::new();
    for _ in 0..30 {
        browser
            .client
            .goto(&format!("{}/keys/{new_id}", app.base))
            .await
            .unwrap();
        summary = browser.find("#usage-summary").await.text().await.unwrap();
        if summary.starts_with("2 requests") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    assert!(
        summary.starts_with("2 requests in the last 24 hours"),
        "{summary}"
    );
    assert!(
        browser
            .find("svg.chart rect title")
            .await
            .html(true)
            .await
            .is_ok()
    );
    browser.find("tr[data-action='api_key.rotate']").await;
    browser.wait_for_text("120 per minute").await;
    browser.screenshot("key-detail-desktop").await;
    browser.click_button(".segmented", "7 d").await;
    browser
        .wait_for_text_in("#usage-summary", "the last 7 days")
        .await;

    // Verifications: stacked by outcome, the recent ones with their tags and a filter.
    let tagged = json!({ "key": rotated, "tags": { "endpoint": "/invoices" } });
    assert_eq!(app.verify_body(tagged).await.1["code"], "VALID");
    let lacking = json!({ "key": rotated, "require": ["nope:read"] });
    assert_eq!(
        app.verify_body(lacking).await.1["code"],
        "INSUFFICIENT_PERMISSIONS"
    );
    app.services().flush_usage().await.unwrap();
    browser
        .client
        .goto(&format!("{}/keys/{new_id}", app.base))
        .await
        .unwrap();
    browser
        .wait_for_text_in(
            "#verifications-summary",
            "4 verifications in the last 24 hours: 3 valid, 1 missing permission. 1 failed (25%).",
        )
        .await;
    browser
        .find("svg.chart.stacked rect.o-INSUFFICIENT_PERMISSIONS")
        .await;
    browser
        .wait_for_text_in(".legend", "Missing permission 1")
        .await;
    browser
        .wait_for_text_in("table.verifications ul.tags li", "endpoint: /invoices")
        .await;
    browser.wait_for_text_in("main.content", "1–4 of 4").await;
    browser.screenshot("key-verifications-desktop").await;
    browser
        .select("#verification-outcome", "Missing permission")
        .await;
    browser.wait_for_text_in("main.content", "1–1 of 1").await;
    assert!(
        browser
            .path()
            .await
            .contains("outcome=INSUFFICIENT_PERMISSIONS")
    );
    browser.select("#verification-outcome", "Revoked").await;
    browser
        .wait_for_text("No recent verifications with this outcome.")
        .await;

    // The organization's busiest keys and their failure rates.
    browser.nav("/analytics").await;
    browser
        .wait_for_text_in("table.busiest", "billing-eu")
        .await;
    browser.wait_for_text_in(".stats", "Failure rate").await;
    // The legend describes a chart: each outcome's share of the whole, as one bar.
    for outcome in ["VALID", "INSUFFICIENT_PERMISSIONS", "DISABLED"] {
        browser
            .find(&format!("svg.chart.share rect.o-{outcome}"))
            .await;
    }
    let valid = browser
        .find("svg.chart.share rect.o-VALID title")
        .await
        .prop("textContent")
        .await
        .unwrap();
    assert_eq!(valid.as_deref(), Some("Valid: 6 (75%)"));
    browser.screenshot("analytics-desktop").await;

    // Filters live in the address and survive a reload.
    browser
        .client
        .goto(&format!("{}/keys?status=revoked", app.base))
        .await
        .unwrap();
    browser.wait_for_text("No keys match these filters").await;
    browser.click_button(".empty", "Clear filters").await;
    browser.wait_for_text("billing-eu").await;
    assert_eq!(browser.path().await, "/keys");
    // Searching by part of the name, in any case.
    browser.type_into("#key-search", "EU-x").await;
    browser.click("h1").await;
    browser.wait_for_text("No keys match these filters").await;
    assert!(browser.path().await.contains("q=EU-x"));
    let search = browser.find("#key-search").await;
    search.clear().await.unwrap();
    search.send_keys("EU").await.unwrap();
    browser.click("h1").await;
    browser.wait_for_text_in("main.content", "1–2 of 2").await;

    // Sorting by a column heading, kept in the address; each row's last 24 hours.
    let cookie = app.dev_session().await;
    let org = app.first_org(&cookie).await;
    for name in ["Alpha", "zulu"] {
        app.gql_session(
            &cookie,
            "mutation($i: CreateApiKeyInput!) { createApiKey(input: $i) { secret } }",
            json!({ "i": { "organizationId": org, "name": name } }),
        )
        .await
        .data();
    }
    browser.go(&app, "/keys").await;
    browser.wait_for_text_in("table.keys", "zulu").await;
    browser.click_button("table.keys thead", "Name").await;
    browser
        .wait_for_text_in("th[aria-sort='ascending']", "Name")
        .await;
    assert!(browser.path().await.contains("sort=name"));
    // Read in one step: the rows may render again between two WebDriver calls.
    let names = || async {
        let names = browser
            .client
            .execute(
                "return [...document.querySelectorAll('table.keys tbody a.name')].map(a => a.textContent)",
                vec![],
            )
            .await
            .unwrap();
        serde_json::from_value::<Vec<String>>(names).unwrap()
    };
    browser
        .wait_for_text_in("table.keys tbody tr:first-child a.name", "Alpha")
        .await;
    let sorted = names().await;
    assert_eq!(sorted, ["Alpha", "billing-eu", "billing-eu", "zulu"]);
    // Created runs both ways from its heading.
    browser.click_button("table.keys thead", "Created").await;
    browser
        .wait_for_text_in("th[aria-sort='descending']", "Created")
        .await;
    browser.click_button("table.keys thead", "Created").await;
    browser
        .wait_for_text_in("th[aria-sort='ascending']", "Created")
        .await;
    assert!(browser.path().await.contains("sort=oldest"));
    let spark = format!("tr[data-key-id='{new_id}'] svg.sparkline");
    // The bars count what the Requests column counts: accepted requests (three valid;
    // the one refused for a missing permission is in neither).
    browser
        .wait_for_attr(
            &spark,
            "aria-label",
            "3 requests in the last 24 hours, at most 3 in an hour",
        )
        .await;
    let requests = format!("tr[data-key-id='{new_id}'] td.requests");
    browser.wait_for_text_in(&requests, "3").await;
    browser.screenshot("keys-sorted-desktop").await;

    browser.close().await;
    app.finish().await;
}

/// The identities page (create, list, delete) and the key detail page's credits, named
/// limits, identity and metadata (SPEC §3.5, §13).
async fn identities_and_what_a_key_carries(db: Db) {
    let dist = dashboard_dir().await;
    let app = TestApp::spawn_with(db, |c| {
        c.dev_signin = backend::config::DevSignin::On;
        c.dashboard_dir = Some(dist);
    })
    .await;
    let browser = Browser::start(1280, 900).await;
    browser.sign_in_dev(&app).await;

    browser.nav("/identities").await;
    browser.wait_for_text("No identities yet").await;
    browser
        .click_button("header.page-header", "Create identity")
        .await;
    browser.type_into("#identity-external-id", "acme").await;
    browser.type_into("#identity-credits", "1000").await;
    browser.click("#identity-monthly").await;
    browser.type_into("#identity-limit", "100").await;
    browser.click("dialog[open] button[type=submit]").await;
    let row = "tr[data-identity='acme']";
    browser
        .wait_for_text_in(row, "1000 left, refilled to 1000 monthly on day 1")
        .await;
    browser
        .wait_for_text_in(row, "calls: 100 per minute, every verification")
        .await;
    browser.screenshot("identities-desktop").await;

    // A key of that identity with credits, a named limit and metadata of its own.
    let cookie = app.dev_session().await;
    let org = app.first_org(&cookie).await;
    let made = app
        .gql_session(
            &cookie,
            "mutation($i: CreateApiKeyInput!) { createApiKey(input: $i) { apiKey { id } secret } }",
            json!({ "i": {
                "organizationId": org,
                "name": "acme-prod",
                "externalId": "acme",
                "credits": { "remaining": 50 },
                "ratelimits": [{ "name": "tokens", "limit": 5, "durationMs": 1000, "autoApply": false }],
                "meta": { "plan": "pro" },
            } }),
        )
        .await
        .data();
    let id = made["createApiKey"]["apiKey"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let secret = made["createApiKey"]["secret"].as_str().unwrap().to_owned();
    assert_eq!(app.verify(Header::XApiKey, &secret).await.0, 200);
    browser
        .client
        .goto(&format!("{}/keys/{id}", app.base))
        .await
        .unwrap();
    browser.wait_for_text_in("#key-credits", "49 left").await;
    browser
        .wait_for_text_in(
            "#key-limits",
            "tokens: 5 per second, when a verification names it",
        )
        .await;
    browser.wait_for_text_in("#key-identity", "acme").await;
    browser
        .wait_for_text_in("#key-meta", "\"plan\": \"pro\"")
        .await;
    browser.screenshot("key-detail-controls-desktop").await;

    // Edited after creation: only what changed is sent; an emptied field is removed.
    browser.click("#key-edit").await;
    for (field, text) in [
        ("#edit-credits", "500"),
        ("#edit-calls", "30"),
        ("#edit-external-id", ""),
        ("#edit-meta", ""),
    ] {
        browser.find(field).await.clear().await.unwrap();
        if !text.is_empty() {
            browser.type_into(field, text).await;
        }
    }
    browser.screenshot("key-edit-desktop").await;
    browser.click("dialog[open] button[type=submit]").await;
    browser.wait_for_text("Key updated").await;
    browser.wait_for_text_in("#key-identity", "None").await;
    let (_, answer) = app.verify_body(json!({ "key": secret })).await;
    assert_eq!(answer["code"], "VALID", "{answer}");
    assert_eq!(answer["credits"]["remaining"], 499, "{answer}");
    assert!(
        answer["meta"].is_null() && answer["identity"].is_null(),
        "{answer}"
    );
    let names: Vec<&str> = answer["ratelimits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["name"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"calls"), "the new limit: {answer}");
    let detail = app
        .gql_session(
            &cookie,
            "query($id: ID!) { apiKey(id: $id) { name ratelimits { name limit } } }",
            json!({ "id": id }),
        )
        .await
        .data();
    assert_eq!(detail["apiKey"]["name"], "acme-prod", "left as it was");
    assert_eq!(
        detail["apiKey"]["ratelimits"],
        json!([{ "name": "calls", "limit": 30 }, { "name": "tokens", "limit": 5 }]),
        "the limit it did not show is kept"
    );

    // When every key must belong to a project, the create dialog starts at the current
    // one and offers no organization-wide key; it sells access as the API does.
    browser.nav("/settings").await;
    browser.click("#org-keys-per-project").await;
    browser.click_button("section.panel", "Save settings").await;
    browser.wait_for_text("Settings saved").await;
    browser.client.refresh().await.unwrap();
    browser.nav("/keys").await;
    browser
        .click_button("header.page-header", "Create key")
        .await;
    let options = browser.find("#key-project").await.text().await.unwrap();
    assert!(!options.contains("All projects"), "{options}");
    browser.type_into("#key-name", "acme-dev").await;
    browser.click("#key-product summary").await;
    browser.type_into("#key-credits-input", "10").await;
    browser.type_into("#key-calls", "100").await;
    browser.type_into("#key-external-id", "acme").await;
    browser
        .type_into("#key-meta-input", r#"{"plan": "team"}"#)
        .await;
    browser.screenshot("keys-create-selling-desktop").await;
    browser.click("dialog[open] button[type=submit]").await;
    let sold = browser.shown_secret().await;
    browser.click("#saved-secret").await;
    let (_, answer) = app.verify_body(json!({ "key": sold })).await;
    assert_eq!(answer["code"], "VALID", "{answer}");
    assert_eq!(answer["credits"]["remaining"], 9, "{answer}");
    assert_eq!(answer["meta"], json!({ "plan": "team" }));
    assert_eq!(answer["identity"]["external_id"], "acme");
    assert!(
        answer["ratelimits"]
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l["name"] == "calls" && l["limit"] == 100),
        "{answer}"
    );
    assert!(
        answer["project"].is_object(),
        "a key of the current project: {answer}"
    );

    // Deleting the identity keeps its key, without it.
    browser.nav("/identities").await;
    browser.click_button(row, "Delete").await;
    browser.accept_confirm().await;
    browser.wait_for_text("No identities yet").await;
    assert_eq!(app.verify(Header::XApiKey, &secret).await.0, 200);
    app.finish().await;
}

async fn service_accounts_and_instance_admin(db: Db) {
    let dist = dashboard_dir().await;
    let app = TestApp::spawn_with(db, |c| {
        c.dev_signin = backend::config::DevSignin::On;
        c.dashboard_dir = Some(dist);
    })
    .await;
    let carol = app.user("carol@example.com").await;
    let browser = Browser::start(1280, 900).await;
    browser.sign_in_dev(&app).await;

    // A service account with the developer role, and a key for it.
    browser.nav("/service-accounts").await;
    browser.wait_for_text("No service accounts yet").await;
    browser
        .click_button("header.page-header", "Create service account")
        .await;
    browser.type_into("#sa-name", "ci-bot").await;
    browser.select("#sa-role", "Developer").await;
    browser.click("dialog[open] button[type=submit]").await;
    let card = "section[data-service-account='ci-bot']";
    browser.wait_for_text_in(card, "Role: Developer").await;
    browser.click_button(card, "New key").await;
    browser.type_into("#sa-key-name", "deploy").await;
    browser.click("dialog[open] button[type=submit]").await;
    let secret = browser.shown_secret().await;
    assert!(secret.starts_with("kw_sa_"), "{secret}");
    browser.click("#saved-secret").await;
    let (status, _, body) = app.verify(Header::Bearer, &secret).await;
    assert_eq!(status, 200, "{body}");
    browser.wait_for_text_in(card, "deploy").await;
    browser.screenshot("service-accounts-desktop").await;
    browser.click_button(card, "Disable").await;
    browser.accept_confirm().await;
    browser.wait_for_text_in(card, "Disabled").await;
    assert_eq!(app.verify(Header::Bearer, &secret).await.0, 401);

    // Instance admin: find Carol, see her token, suspend her.
    browser.nav("/admin").await;
    browser.wait_for_text("carol@example.com").await;
    browser.type_into("#user-search", "carol").await;
    browser.click("h1").await;
    browser.wait_for_text("1–1 of 1").await;
    assert!(browser.path().await.contains("q=carol"));
    let row = "tr[data-user='carol@example.com']";
    browser.click_button(row, "Keys").await;
    browser
        .wait_for_text_in("#user-keys-title", "carol@example.com")
        .await;
    browser.wait_for_text("Personal token").await;
    browser.click_button(row, "Suspend").await;
    browser
        .type_into("#suspend-reason", "unpaid invoices")
        .await;
    browser.screenshot("admin-suspend-desktop").await;
    browser.click("dialog[open] button[type=submit]").await;
    browser.wait_for_text_in(row, "Suspended").await;
    let (status, _, body) = app.verify(Header::Bearer, &carol.pat).await;
    assert_eq!(
        (status.as_u16(), body["code"].as_str()),
        (401, Some("SUSPENDED"))
    );
    browser.screenshot("admin-desktop").await;
    browser.click_button(row, "Lift suspension").await;
    browser.wait_for_text_in(row, "Active").await;
    assert_eq!(app.verify(Header::Bearer, &carol.pat).await.0, 200);

    browser.close().await;
    app.finish().await;
}

/// Every page renders with data at desktop and at phone width, where the sections fold
/// into the menu button.
async fn every_page_at_desktop_and_phone_width(db: Db) {
    let dist = dashboard_dir().await;
    let app = TestApp::spawn_with(db, |c| {
        c.dev_signin = backend::config::DevSignin::On;
        c.dashboard_dir = Some(dist);
    })
    .await;
    let pages = [
        ("/keys", "API keys"),
        ("/tokens", "Personal tokens"),
        ("/service-accounts", "Service accounts"),
        ("/identities", "Identities"),
        ("/members", "Members"),
        ("/roles", "Roles"),
        ("/analytics", "Analytics"),
        ("/audit", "Audit log"),
        ("/sessions", "Sessions"),
        ("/settings", "Settings"),
        ("/webhooks", "Webhooks"),
        ("/admin", "Instance admin"),
    ];
    for (label, width, height) in [("desktop", 1280, 900), ("phone", 375, 812)] {
        let browser = Browser::start(width, height).await;
        browser.sign_in_dev(&app).await;
        if label == "desktop" {
            // Something on every page.
            browser
                .click_button("header.page-header", "Create key")
                .await;
            browser.type_into("#key-name", "web").await;
            browser.click("dialog[open] button[type=submit]").await;
            browser.shown_secret().await;
            browser.click("#saved-secret").await;
            // Lists longer than a page.
            let cookie = app.dev_session().await;
            let org = app.first_org(&cookie).await;
            let roles = app
                .gql_session(
                    &cookie,
                    "query($o: ID!) { roles(organizationId: $o) { nodes { id key } } }",
                    json!({ "o": org }),
                )
                .await
                .data();
            let viewer = roles["roles"]["nodes"]
                .as_array()
                .unwrap()
                .iter()
                .find(|r| r["key"] == "viewer")
                .unwrap()["id"]
                .clone();
            for n in 0..55 {
                app.gql_session(
                    &cookie,
                    "mutation($i: InviteMemberInput!) { inviteMember(input: $i) { id } }",
                    json!({ "i": { "organizationId": org, "email": format!("p{n}@example.com"), "roleId": viewer } }),
                )
                .await
                .data();
            }
            for n in 0..21 {
                app.gql_session(
                    &cookie,
                    "mutation($i: CreateServiceAccountInput!) { createServiceAccount(input: $i) { id } }",
                    json!({ "i": { "organizationId": org, "name": format!("bot-{n}"), "roleId": viewer } }),
                )
                .await
                .data();
            }
            browser.go(&app, "/members?tab=invites").await;
            browser.wait_for_text_in("main.content", "1–50 of 55").await;
            browser.click_button("nav.pager", "Next").await;
            browser
                .wait_for_text_in("main.content", "51–55 of 55")
                .await;
            browser
                .wait_for_text_in("main.content", "p0@example.com")
                .await;
            browser.go(&app, "/service-accounts").await;
            browser.wait_for_text_in("main.content", "1–20 of 21").await;
            browser.click_button("nav.pager", "Next").await;
            browser
                .wait_for_text_in("main.content", "21–21 of 21")
                .await;
            browser.wait_for_text_in("main.content", "bot-0").await;
        }
        for (path, title) in pages {
            browser
                .client
                .goto(&format!("{}{path}", app.base))
                .await
                .unwrap();
            browser.wait_for_text_in("main.content h1", title).await;
            browser.wait_until_loaded().await;
            if path == "/sessions" {
                // The device in words, the raw user agent on hover.
                let device = browser.find("tr:has(.badge.ok) .device").await;
                let words = device.text().await.unwrap();
                assert!(
                    words.starts_with("Chrome ") && words.ends_with(" on Linux"),
                    "{words}"
                );
                let raw = device.attr("title").await.unwrap().unwrap_or_default();
                assert!(raw.contains("Mozilla/5.0"), "{raw}");
            }
            // No stray scrollbars: the page is as tall as its content or the window,
            // and no list scrolls sideways (the role matrix may, inside its frame, on a
            // phone).
            let bars = browser
                .client
                .execute(
                    "const bottom = Math.max(...[...document.querySelectorAll('main.content > *')]                        .map(e => e.getBoundingClientRect().bottom + window.scrollY + (parseFloat(getComputedStyle(e).marginBottom) || 0)));                      return [document.documentElement.scrollHeight,                        Math.max(window.innerHeight, Math.ceil(bottom) + 26),                        [...document.querySelectorAll('.table-wrap')]                          .filter(e => e.scrollWidth > e.clientWidth + 1 && !e.querySelector('table.matrix'))                          .map(e => (e.getAttribute('aria-label') || e.className) + ' ' + e.scrollWidth + '/' + e.clientWidth)]",
                    vec![],
                )
                .await
                .unwrap();
            assert!(
                bars[0].as_f64() <= bars[1].as_f64(),
                "{path} at {label} width is taller than its content: {bars}"
            );
            assert_eq!(
                bars[2],
                serde_json::json!([]),
                "{path} at {label} width has tables that scroll sideways"
            );
            if label == "phone" {
                // The page fits the screen; only wide tables scroll, inside their frame.
                let fits = browser
                    .client
                    .execute(
                        "return [window.innerWidth, document.documentElement.scrollWidth, \
                         [...document.querySelectorAll('body *')] \
                           .filter(e => e.getBoundingClientRect().right > 376) \
                           .slice(0, 8) \
                           .map(e => e.tagName + '.' + e.className + ' ' + Math.round(e.getBoundingClientRect().right))]",
                        vec![],
                    )
                    .await
                    .unwrap();
                assert_eq!(
                    (fits[0].as_i64(), fits[1].as_i64()),
                    (Some(375), Some(375)),
                    "{path} is wider than a 375 px phone; too wide: {}",
                    fits[2]
                );
            }
            let name = path.trim_start_matches('/').replace('/', "-");
            browser.screenshot(&format!("page-{name}-{label}")).await;
        }
        if label == "phone" {
            // The menu button shows the sections; following one closes them again.
            let sidebar = browser.find("nav.sidebar").await;
            assert!(!sidebar.is_displayed().await.unwrap());
            browser.click("button.menu-button").await;
            assert!(sidebar.is_displayed().await.unwrap());
            browser.screenshot("menu-phone").await;
            browser.nav("/keys").await;
            browser
                .wait_for_text_in("main.content h1", "API keys")
                .await;
            assert!(!sidebar.is_displayed().await.unwrap());
        }
        browser.close().await;
    }
    app.finish().await;
}

/// The device-code approval page and the loopback consent page, as `keyward login`
/// sends people to them.
async fn cli_sign_in_pages(db: Db) {
    use base64::Engine;
    use sha2::{Digest, Sha256};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let dist = dashboard_dir().await;
    let app = TestApp::spawn_with(db, |c| {
        c.dev_signin = backend::config::DevSignin::On;
        c.dashboard_dir = Some(dist);
    })
    .await;
    let start: serde_json::Value = app
        .client
        .post(format!("{}/api/v1/device/code", app.base))
        .form(&[("name", "build-box")])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let complete = start["verification_uri_complete"]
        .as_str()
        .unwrap()
        .to_owned();
    let user_code = start["user_code"].as_str().unwrap().to_owned();

    // Signed out, the page sends you to sign in and keeps the code for afterwards.
    let browser = Browser::start(1280, 900).await;
    browser.client.goto(&complete).await.unwrap();
    browser.wait_for_text("Sign in to Keyward").await;
    let path = browser.path().await;
    assert!(
        path.starts_with("/sign-in?return_to=%2Fdevice%3Fuser_code%3D"),
        "{path}"
    );

    // Signed in, the link shows what is asking, and approving signs the CLI in.
    browser.sign_in_dev(&app).await;
    browser.client.goto(&complete).await.unwrap();
    browser
        .wait_for_text("Allow “build-box” to sign in as admin@localhost?")
        .await;
    browser.wait_for_text(&user_code).await;
    browser.screenshot("device-approve-desktop").await;
    browser.click("#device-approve").await;
    browser.wait_for_text_in("#device-result", "Approved").await;
    app.exec(
        "UPDATE device_authorizations SET last_polled_at = NULL",
        vec![],
    )
    .await;
    let token: serde_json::Value = app
        .client
        .post(format!("{}/api/v1/device/token", app.base))
        .form(&[("device_code", start["device_code"].as_str().unwrap())])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let pat = token["access_token"]
        .as_str()
        .expect("a token after approval");
    assert_eq!(
        app.verify(Header::Bearer, pat).await.2["key"]["name"],
        "build-box"
    );
    // The link again, once used: it says so and offers nothing to approve.
    browser.client.goto(&complete).await.unwrap();
    browser
        .wait_for_text_in("[role=alert]", "This code is used already.")
        .await;
    assert!(
        browser
            .client
            .find_all(fantoccini::Locator::Css("#device-approve"))
            .await
            .unwrap()
            .is_empty()
    );

    // Typing the code works too.
    browser
        .client
        .goto(&format!("{}/device", app.base))
        .await
        .unwrap();
    browser.type_into("#device-code", "bbbb-bbbb").await;
    browser.click("button[type=submit]").await;
    browser
        .wait_for_text_in("[role=alert]", "Device code not found")
        .await;

    // The loopback flow: consent, then the browser goes to the CLI with a one-time code.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let cli = tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        let mut request = vec![0; 4096];
        let n = socket.read(&mut request).await.unwrap();
        let page = "You are signed in. You can close this tab.";
        let answer = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{page}",
            page.len()
        );
        socket.write_all(answer.as_bytes()).await.unwrap();
        String::from_utf8_lossy(&request[..n]).into_owned()
    });
    let verifier = "cli-verifier-0123456789-0123456789-0123456789";
    let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(Sha256::digest(verifier.as_bytes()));
    let redirect = format!("http://127.0.0.1:{port}/callback");
    browser
        .client
        .goto(&format!(
            "{}/cli/authorize?redirect_uri={}&state=xyz&code_challenge={challenge}&code_challenge_method=S256&name=ada-laptop",
            app.base,
            redirect.replace(':', "%3A").replace('/', "%2F")
        ))
        .await
        .unwrap();
    browser
        .wait_for_text("Allow the CLI on “ada-laptop” to sign in as admin@localhost?")
        .await;
    browser.screenshot("cli-authorize-desktop").await;
    browser.click("#cli-approve").await;
    browser.wait_for_text("You are signed in").await;
    let request = cli.await.unwrap();
    let line = request.lines().next().unwrap().to_owned();
    assert!(line.starts_with("GET /callback?code="), "{line}");
    assert!(line.contains("state=xyz"), "{line}");
    let code = line
        .split(['?', '&', ' '])
        .find_map(|p| p.strip_prefix("code="))
        .unwrap()
        .to_owned();
    let exchanged: serde_json::Value = app
        .client
        .post(format!("{}/api/v1/cli/exchange-token", app.base))
        .json(&serde_json::json!({ "code": code, "code_verifier": verifier, "redirect_uri": redirect }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let pat = exchanged["access_token"]
        .as_str()
        .expect("a token for the code");
    assert_eq!(
        app.verify(Header::Bearer, pat).await.2["key"]["name"],
        "ada-laptop"
    );

    browser.close().await;
    app.finish().await;
}

/// SPEC §13, UX "The UI fits the viewer's grant", "Expiry presets", "After creation",
/// "Rotation you can see": at desktop and phone width, an owner creates a key with an
/// expiry preset and gets a usage snippet, sees both sides of a rotation, and a viewer of
/// the same organization is offered nothing it may not do.
async fn the_dashboard_fits_the_viewer_and_shows_rotation(db: Db) {
    let dist = dashboard_dir().await;
    let app = TestApp::spawn_with(db, |c| c.dashboard_dir = Some(dist)).await;
    let owner = app.bootstrap("owner@example.com").await;
    let viewer = app.user("vera@example.com").await;
    let customer = |pat: String| {
        let app = &app;
        async move {
            let me = app
                .gql(&pat, "{ me { user { id } } }", json!({}))
                .await
                .data();
            me["me"]["user"]["id"]
                .as_str()
                .unwrap()
                .parse::<uuid::Uuid>()
                .unwrap()
        }
    };
    let (owner_id, viewer_id) = (
        customer(owner.pat.clone()).await,
        customer(viewer.pat.clone()).await,
    );
    app.join(&owner.pat, &owner.org_id, &viewer, "viewer").await;
    let (org, project) = (
        owner.org_id.parse().unwrap(),
        owner.project_id.parse().unwrap(),
    );

    for (label, width, height) in [("desktop", 1280, 900), ("phone", 375, 812)] {
        let browser = Browser::start(width, height).await;
        let cookie = app.session_cookie(owner_id, org, project).await;
        browser.sign_in_with(&app, &cookie).await;

        // The organization's own resources are defined and listed on the roles page.
        if label == "desktop" {
            browser.go(&app, "/roles").await;
            browser.type_into("#resource-name", "deployments").await;
            browser
                .type_into("#resource-description", "Deploys of the product")
                .await;
            browser.click_button("#resources", "Define resource").await;
            browser
                .wait_for_text_in("#resource-list", "deployments")
                .await;
            browser.go(&app, "/keys").await;
        }

        // Expiry presets: the date in words, a warning for none.
        let name = format!("billing-{label}");
        browser.click("#create-key").await;
        browser.type_into("#key-name", &name).await;
        browser
            .wait_for_text_in("#key-expiry-summary", "Expires on")
            .await;
        browser.select("#key-expiry", "No expiry").await;
        browser
            .wait_for_text_in("#key-expiry-summary", "never expires")
            .await;
        browser.select("#key-expiry", "In 30 days").await;
        browser
            .wait_for_text_in("#key-expiry-summary", "Expires on")
            .await;
        browser
            .screenshot(&format!("keys-create-expiry-{label}"))
            .await;
        // Scopes from the picker: built-in and the organization's own resources.
        browser.click("#key-scopes-some").await;
        browser
            .click("#key-scopes input[aria-label='deployments: write']")
            .await;
        browser
            .click("#key-scopes input[aria-label='api_keys: read']")
            .await;
        browser
            .wait_for_text_in("#key-scopes-summary", "2 resources")
            .await;
        browser
            .screenshot(&format!("keys-create-picker-{label}"))
            .await;
        browser.click("dialog[open] button[type=submit]").await;
        let secret = browser.shown_secret().await;
        // Beside the secret, how to use it against this server.
        let snippet = browser.find("#secret-snippet").await.text().await.unwrap();
        assert!(
            snippet.contains("export KEYWARD_API_KEY=")
                && snippet.contains(&format!("{}/api/v1/api-keys/verify", app.base)),
            "{snippet}"
        );
        assert!(
            !snippet.contains(&secret),
            "masked until revealed: {snippet}"
        );
        browser
            .screenshot(&format!("keys-secret-snippet-{label}"))
            .await;
        browser.click("#saved-secret").await;
        let (status, _, body) = app.verify(Header::XApiKey, &secret).await;
        assert_eq!(status, 200, "{body}");
        let id = body["key"]["id"].as_str().unwrap().to_owned();
        let key = app
            .gql(
                &owner.pat,
                "query($k: ID!) { apiKey(id: $k) { expiresAt scopes } }",
                json!({ "k": id }),
            )
            .await
            .data();
        assert_eq!(
            key["apiKey"]["scopes"],
            json!(["api_keys:read", "deployments:write"])
        );
        let expires: chrono::DateTime<chrono::Utc> = key["apiKey"]["expiresAt"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
        let days = (expires - app.services().clock.now()).num_hours() as f64 / 24.0;
        assert!((29.0..=31.0).contains(&days), "expires in {days} days");

        // Rotation you can see, both ways.
        let rotated = app
            .gql(
                &owner.pat,
                "mutation($i: RotateApiKeyInput!) { rotateApiKey(input: $i) { apiKey { id } } }",
                json!({ "i": { "id": id, "gracePeriodSeconds": 3600 } }),
            )
            .await
            .data();
        let new_id = rotated["rotateApiKey"]["apiKey"]["id"]
            .as_str()
            .unwrap()
            .to_owned();
        browser.client.refresh().await.unwrap();
        browser
            .wait_for_text_in(&format!("tr[data-key-id='{id}'] .rotation"), "Replaced by")
            .await;
        browser
            .wait_for_text_in(&format!("tr[data-key-id='{id}'] .rotation"), "works until")
            .await;
        browser
            .wait_for_text_in(&format!("tr[data-key-id='{new_id}'] .rotation"), "Replaces")
            .await;
        browser.screenshot(&format!("keys-rotation-{label}")).await;
        // Last used, as how long ago (the verification above, once usage is written).
        app.services().flush_usage().await.unwrap();
        browser.client.refresh().await.unwrap();
        // (Read as the page holds it: at phone width the column is folded away.)
        let used = browser
            .find(&format!("tr[data-key-id='{id}'] td.last-used time"))
            .await
            .prop("textContent")
            .await
            .unwrap()
            .unwrap_or_default();
        assert!(
            used == "just now" || used.ends_with(" ago"),
            "last used: {used}"
        );
        // Each row shows its name, status and menu inside the screen, and an open menu
        // is not clipped by the table's frame.
        let inside = browser
            .client
            .execute(
                "const row = document.querySelector(arguments[0]); \
                 const right = s => row.querySelector(s).getBoundingClientRect().right; \
                 row.querySelector('summary').click(); \
                 const menu = row.querySelector('.menu-items').getBoundingClientRect(); \
                 const frame = row.closest('.table-wrap').getBoundingClientRect(); \
                 row.querySelector('summary').click(); \
                 return [right('a.name'), right('.badge'), right('summary'), window.innerWidth, \
                         menu.bottom <= frame.bottom + 1 && menu.right <= window.innerWidth];",
                vec![json!(format!("tr[data-key-id='{id}']"))],
            )
            .await
            .unwrap();
        let viewport = inside[3].as_f64().unwrap();
        for (what, at) in [("name", 0), ("status", 1), ("menu", 2)] {
            assert!(
                inside[at].as_f64().unwrap() <= viewport,
                "the {what} is off screen at {label}: {inside}"
            );
        }
        assert_eq!(
            inside[4], true,
            "an open menu is clipped at {label}: {inside}"
        );
        browser
            .client
            .goto(&format!("{}/keys/{id}", app.base))
            .await
            .unwrap();
        browser.wait_for_text_in("#key-rotation", &name).await;
        browser
            .wait_for_text_in("#key-rotation", "works until")
            .await;

        // Editing after creation: the expiry and the scopes too.
        browser.go(&app, &format!("/keys/{new_id}")).await;
        browser.click("#key-edit").await;
        browser
            .client
            .execute(
                "const e = document.querySelector('#edit-expires'); e.value = '2030-01-15'; \
                 e.dispatchEvent(new Event('input', { bubbles: true }));",
                vec![],
            )
            .await
            .unwrap();
        browser.click("#edit-scopes-all").await;
        browser.click("dialog[open] button[type=submit]").await;
        browser.wait_for_text_in(".toasts", "Key updated").await;
        let edited = app
            .gql(
                &owner.pat,
                "query($k: ID!) { apiKey(id: $k) { expiresAt scopes } }",
                json!({ "k": new_id }),
            )
            .await
            .data();
        let edited_expiry: chrono::DateTime<chrono::Utc> = edited["apiKey"]["expiresAt"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(edited_expiry.to_rfc3339(), "2030-01-15T00:00:00+00:00");
        assert!(edited["apiKey"]["scopes"].is_null(), "{edited}");

        // Personal tokens page to their end, 50 at a time.
        if label == "desktop" {
            for n in 0..55 {
                app.pat_for(owner_id, &format!("laptop-{n}")).await;
            }
            browser.go(&app, "/tokens").await;
            browser.wait_for_text_in("nav.pager", "1–50 of 56").await;
            browser.click_button("nav.pager", "Next").await;
            browser.wait_for_text_in("nav.pager", "51–56 of 56").await;
        }
        browser.close().await;

        // A viewer: nothing offered that can only fail.
        let browser = Browser::start(width, height).await;
        let cookie = app.session_cookie(viewer_id, org, project).await;
        browser.sign_in_with(&app, &cookie).await;
        browser
            .wait_for_text_in(&format!("tr[data-key-id='{new_id}']"), &name)
            .await;
        let create = browser.find("#create-key").await;
        assert_eq!(
            create.prop("disabled").await.unwrap().as_deref(),
            Some("true")
        );
        let why = create.attr("title").await.unwrap().unwrap_or_default();
        assert!(why.contains("api_keys:write"), "{why}");
        browser
            .click(&format!("tr[data-key-id='{new_id}'] summary"))
            .await;
        let menu = browser
            .find(&format!("tr[data-key-id='{new_id}'] .menu-items"))
            .await
            .text()
            .await
            .unwrap();
        assert!(menu.contains("Copy ID"), "{menu}");
        for hidden in ["Rename", "Disable", "Rotate", "Revoke"] {
            assert!(
                !menu.contains(hidden),
                "a viewer is offered {hidden}: {menu}"
            );
        }
        browser.screenshot(&format!("keys-viewer-{label}")).await;
        browser
            .check_accessibility(&format!("keys as a viewer ({label})"))
            .await;
        browser.go(&app, "/members").await;
        browser
            .wait_for_text_in("tr[data-member='owner@example.com']", "owner@example.com")
            .await;
        let invite = browser
            .find_button("header.page-header", "Invite member")
            .await;
        assert_eq!(
            invite.prop("disabled").await.unwrap().as_deref(),
            Some("true")
        );
        let remove = browser
            .find_button("tr[data-member='owner@example.com']", "Remove")
            .await;
        assert!(
            !remove.is_displayed().await.unwrap(),
            "a viewer cannot remove members"
        );
        browser.screenshot(&format!("members-viewer-{label}")).await;
        // The picker offers a viewer only the levels it holds, saying why for the rest.
        browser.go(&app, "/tokens").await;
        browser
            .click_button("header.page-header", "Create token")
            .await;
        browser.click("#token-scopes-some").await;
        let write = browser
            .find("#token-scopes input[aria-label='api_keys: write']")
            .await;
        assert_eq!(
            write.prop("disabled").await.unwrap().as_deref(),
            Some("true")
        );
        let why = write.attr("title").await.unwrap().unwrap_or_default();
        assert!(why.contains("api_keys:write"), "{why}");
        let read = browser
            .find("#token-scopes input[aria-label='api_keys: read']")
            .await;
        assert_eq!(
            read.prop("disabled").await.unwrap().as_deref(),
            Some("false")
        );
        browser
            .screenshot(&format!("tokens-picker-viewer-{label}"))
            .await;
        browser.close().await;
    }
    app.finish().await;
}

/// A later page whose keys stop matching the list (here: the one active key on page 2 is
/// disabled, with "Active" chosen) says so and leads back to the first page, rather than
/// claiming that no key matches at all.
async fn a_later_page_that_empties_says_so(db: Db) {
    let dist = dashboard_dir().await;
    let app = TestApp::spawn_with(db, |c| {
        c.dev_signin = backend::config::DevSignin::On;
        c.dashboard_dir = Some(dist);
    })
    .await;
    let browser = Browser::start(1280, 900).await;
    browser.sign_in_dev(&app).await;
    let cookie = app.dev_session().await;
    let org = app.first_org(&cookie).await;
    for i in 0..51 {
        app.gql_session(
            &cookie,
            "mutation($i: CreateApiKeyInput!) { createApiKey(input: $i) { secret } }",
            json!({ "i": { "organizationId": org, "name": format!("key-{i:02}") } }),
        )
        .await
        .data();
    }
    browser.go(&app, "/keys?status=active").await;
    browser.wait_for_text_in("nav.pager", "1–50 of 51").await;
    browser.click_button("nav.pager", "Next").await;
    // Newest first: page 2 holds the first key made.
    browser.wait_for_text_in("table.keys tbody", "key-00").await;
    let row = "table.keys tbody tr";
    browser.click(&format!("{row} summary")).await;
    browser.click_button(row, "Disable").await;
    browser.accept_confirm().await;
    browser
        .wait_for_text_in(".empty", "Nothing is left on this page")
        .await;
    assert!(
        !browser
            .find("main")
            .await
            .text()
            .await
            .unwrap()
            .contains("No keys match"),
    );
    browser
        .click_button(".empty", "Back to the first page")
        .await;
    browser.wait_for_text_in("nav.pager", "1–50 of 50").await;
    browser.close().await;
    app.finish().await;
}

/// The webhooks page (SPEC §16): an endpoint added with its events, its secret shown
/// once, the delivery log with the attempt that failed, a retry by hand and every attempt
/// listed. The server's side is tested on both databases in `webhooks`; this is the page.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_page_adds_an_endpoint_and_retries_a_delivery() {
    let dist = dashboard_dir().await;
    let app = TestApp::spawn_with(Db::Sqlite, |c| {
        c.dev_signin = backend::config::DevSignin::On;
        c.dashboard_dir = Some(dist);
    })
    .await;
    let browser = Browser::start(1280, 900).await;
    browser.sign_in_dev(&app).await;
    browser.nav("/webhooks").await;
    browser.wait_for_text("No endpoints yet").await;
    browser.screenshot("webhooks-empty-desktop").await;
    browser
        .click_button("header.page-header", "Add endpoint")
        .await;
    // Nothing listens on port 9 of loopback: every attempt fails to connect.
    browser
        .type_into("#endpoint-url", "http://127.0.0.1:9/hook")
        .await;
    browser.click("input[data-event='member.added']").await;
    browser.click("dialog[open] button[type=submit]").await;
    let input = browser.find("#webhook-secret").await;
    let secret = input.prop("value").await.unwrap().unwrap_or_default();
    assert!(secret.starts_with("whsec_"), "{secret}");
    let row = "tr[data-endpoint='http://127.0.0.1:9/hook']";
    browser.wait_for_text_in(row, "member.added").await;
    browser.wait_for_text_in(row, "api_key.created").await;
    browser.screenshot("webhooks-secret-desktop").await;
    browser.click("#webhook-secret-saved").await;

    // A key is made: the endpoint is owed its news, and the first attempt fails.
    let cookie = app.dev_session().await;
    let org = app.first_org(&cookie).await;
    app.gql_session(
        &cookie,
        "mutation($i: CreateApiKeyInput!) { createApiKey(input: $i) { apiKey { id } } }",
        json!({ "i": { "organizationId": org, "name": "customer" } }),
    )
    .await
    .data();
    browser.click_button(row, "Deliveries").await;
    let delivery = "table.webhook-deliveries tbody tr";
    let mut shown = false;
    for _ in 0..50 {
        browser.click("#deliveries-refresh").await;
        browser.wait_until_loaded().await;
        if let Ok(text) = browser.find("section.panel").await.text().await
            && text.contains("could not connect")
        {
            shown = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(shown, "the failed attempt shows in the log");
    browser.wait_for_text_in(delivery, "api_key.created").await;
    browser.wait_for_text_in(delivery, "Pending").await;

    // Sent again by hand: a second attempt, listed with the first.
    browser.click_button(delivery, "Retry").await;
    browser.wait_for_text("Delivery sent again").await;
    let mut retried = false;
    for _ in 0..50 {
        browser.click("#deliveries-refresh").await;
        browser.wait_until_loaded().await;
        if let Ok(text) = browser
            .find(&format!("{delivery} td.attempts"))
            .await
            .text()
            .await
            && text.trim() == "2"
        {
            retried = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(retried, "the retry was attempted");
    browser.click_button(delivery, "Attempts").await;
    browser
        .wait_for_text_in("ol.attempts-log", "could not connect")
        .await;
    let attempts = browser.find("ol.attempts-log").await.text().await.unwrap();
    assert_eq!(
        attempts.matches("could not connect").count(),
        2,
        "{attempts}"
    );
    browser
        .wait_for_text_in("pre.payload", "\"type\": \"api_key.created\"")
        .await;
    browser.screenshot("webhooks-deliveries-desktop").await;

    // Deleted, with its log.
    browser.click_button(row, "Delete").await;
    browser.accept_confirm().await;
    browser.wait_for_text("No endpoints yet").await;
    browser.close().await;
    app.finish().await;
}

//! Bounds on what a principal makes (SPEC §3.2): a credential made by a credential
//! expires no later than its maker; another user's key is rotated only by its owner or
//! with `api_keys:admin`; import prefixes belong to one organization and overlap neither
//! the deployment's own tokens, the identity provider's, nor another organization's.

use chrono::{DateTime, TimeDelta, Utc};
use serde_json::{Value, json};
use tests::{Db, Gql, Header, TestApp};

db_tests!(
    credentials_expire_no_later_than_their_maker,
    another_users_key_is_rotated_by_its_owner_or_an_admin,
    import_prefixes_belong_to_one_organization,
    growth_is_capped,
);

async fn rotate(app: &TestApp, token: &str, id: &str) -> Gql {
    app.gql(
        token,
        "mutation($i: RotateApiKeyInput!) { rotateApiKey(input: $i) { secret } }",
        json!({ "i": { "id": id, "gracePeriodSeconds": 0 } }),
    )
    .await
}

async fn import(app: &TestApp, token: &str, org: &str, prefix: &str, n: u8) -> Gql {
    app.gql(
        token,
        "mutation($i: ImportApiKeyInput!) { importApiKey(input: $i) { id } }",
        json!({ "i": {
            "organizationId": org,
            "name": "legacy",
            "sha256": tests::sha256_hex(&format!("{prefix}{n:032}")),
            "prefix": prefix,
        } }),
    )
    .await
}

fn at(value: &Value) -> DateTime<Utc> {
    value
        .as_str()
        .unwrap_or_else(|| panic!("a time: {value}"))
        .parse()
        .unwrap()
}

async fn credentials_expire_no_later_than_their_maker(db: Db) {
    let app = TestApp::spawn(db).await;
    let ada = app.bootstrap("ada@example.com").await;
    let now = app.services().clock.now();
    let soon = now + TimeDelta::days(10);
    let short = app
        .gql(
            &ada.pat,
            "mutation($i: CreatePersonalAccessTokenInput!) { createPersonalAccessToken(input: $i) { secret token { expiresAt } } }",
            json!({ "i": { "name": "short", "expiresAt": soon.to_rfc3339() } }),
        )
        .await
        .data();
    let short_pat = short["createPersonalAccessToken"]["secret"]
        .as_str()
        .unwrap()
        .to_owned();
    let short_expiry = at(&short["createPersonalAccessToken"]["token"]["expiresAt"]);
    let later = (now + TimeDelta::days(30)).to_rfc3339();

    // An API key: asked for later, refused naming the field; asked for nothing, cut.
    const KEY: &str = "mutation($i: CreateApiKeyInput!) { createApiKey(input: $i) { apiKey { id expiresAt } secret } }";
    let refused = app
        .gql(
            &short_pat,
            KEY,
            json!({ "i": { "organizationId": ada.org_id, "name": "k", "expiresAt": later } }),
        )
        .await;
    assert_eq!(refused.error_code(), "INVALID_INPUT");
    assert_eq!(
        refused.body["errors"][0]["extensions"]["field"],
        "input.expiresAt"
    );
    let key = app
        .gql(
            &short_pat,
            KEY,
            json!({ "i": { "organizationId": ada.org_id, "name": "k" } }),
        )
        .await
        .data();
    assert_eq!(
        at(&key["createApiKey"]["apiKey"]["expiresAt"]),
        short_expiry
    );

    // A PAT made with it.
    let pat = app
        .gql(
            &short_pat,
            "mutation($i: CreatePersonalAccessTokenInput!) { createPersonalAccessToken(input: $i) { token { expiresAt } } }",
            json!({ "i": { "name": "child" } }),
        )
        .await
        .data();
    assert_eq!(
        at(&pat["createPersonalAccessToken"]["token"]["expiresAt"]),
        short_expiry
    );

    // A service-account key made with it.
    let developer = app.role_id(&ada.pat, &ada.org_id, "developer").await;
    let account = app
        .gql(
            &ada.pat,
            "mutation($i: CreateServiceAccountInput!) { createServiceAccount(input: $i) { id } }",
            json!({ "i": { "organizationId": ada.org_id, "name": "deployer", "roleId": developer } }),
        )
        .await
        .data();
    let sa_key = app
        .gql(
            &short_pat,
            "mutation($i: CreateServiceAccountKeyInput!) { createServiceAccountKey(input: $i) { apiKey { expiresAt } } }",
            json!({ "i": { "serviceAccountId": account["createServiceAccount"]["id"], "name": "sa" } }),
        )
        .await
        .data();
    assert_eq!(
        at(&sa_key["createServiceAccountKey"]["apiKey"]["expiresAt"]),
        short_expiry
    );

    // A key without expiry, rotated with the short PAT: the successor lives no longer.
    let (forever, _) = app
        .create_key(
            &ada.pat,
            json!({ "organizationId": ada.org_id, "name": "forever" }),
        )
        .await;
    let rotated = app
        .gql(
            &short_pat,
            "mutation($i: RotateApiKeyInput!) { rotateApiKey(input: $i) { apiKey { expiresAt } } }",
            json!({ "i": { "id": forever, "gracePeriodSeconds": 0 } }),
        )
        .await
        .data();
    assert_eq!(
        at(&rotated["rotateApiKey"]["apiKey"]["expiresAt"]),
        short_expiry
    );
    app.finish().await;
}

async fn another_users_key_is_rotated_by_its_owner_or_an_admin(db: Db) {
    let app = TestApp::spawn(db).await;
    let ada = app.bootstrap("ada@example.com").await;
    let bob = app.bootstrap("bob@example.com").await;
    let carol = app.bootstrap("carol@example.com").await;
    for (member, role) in [(&bob, "developer"), (&carol, "admin")] {
        let role = app.role_id(&ada.pat, &ada.org_id, role).await;
        let invite = app
            .gql(
                &ada.pat,
                "mutation($i: InviteMemberInput!) { inviteMember(input: $i) { id } }",
                json!({ "i": { "organizationId": ada.org_id, "email": member.email, "roleId": role } }),
            )
            .await
            .data();
        app.gql(
            &member.pat,
            "mutation($i: InviteInput!) { acceptInvite(input: $i) { status } }",
            json!({ "i": { "id": invite["inviteMember"]["id"] } }),
        )
        .await
        .data();
    }
    let (key, _) = app
        .create_key(
            &ada.pat,
            json!({ "organizationId": ada.org_id, "name": "ada's", "scopes": ["api_keys:read"] }),
        )
        .await;
    // Bob may write API keys, and holds everything this key can do, but it is Ada's: he
    // would walk away with her key's new secret.
    let refused = rotate(&app, &bob.pat, &key).await;
    assert_eq!(refused.error_code(), "FORBIDDEN", "{:?}", refused.body);
    assert!(
        refused.error_message().contains("api_keys:admin"),
        "{}",
        refused.error_message()
    );
    // Carol, with `api_keys:admin`, may; the successor stays Ada's.
    let rotated = rotate(&app, &carol.pat, &key).await.data();
    let secret = rotated["rotateApiKey"]["secret"].as_str().unwrap();
    let (status, _, body) = app.verify(Header::Bearer, secret).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["customer"]["email"], "ada@example.com");
    // Bob rotates his own.
    let (own, _) = app
        .create_key(
            &bob.pat,
            json!({ "organizationId": ada.org_id, "name": "bob's" }),
        )
        .await;
    rotate(&app, &bob.pat, &own).await.data();
    app.finish().await;
}

async fn import_prefixes_belong_to_one_organization(db: Db) {
    // The operator names how the provider's opaque tokens start.
    let (app, _provider) = TestApp::spawn_with_oidc(db, Default::default(), |c| {
        if let Some(oidc) = c.oidc.as_mut() {
            oidc.token_prefixes = vec!["ory_at_".into()];
        }
    })
    .await;
    let ada = app.bootstrap("ada@example.com").await;
    let bob = app.bootstrap("bob@example.com").await;
    for (prefix, why) in [
        ("vc", "3-32"),
        ("kw_", "own tokens"),
        ("kw_legacy_", "own tokens"),
        ("eyJ", "identity provider"),
        ("eyJhbGci", "identity provider"),
        ("ory", "identity provider"),
        ("ory_at_legacy", "identity provider"),
    ] {
        let refused = import(&app, &ada.pat, &ada.org_id, prefix, 0).await;
        assert_eq!(refused.error_code(), "INVALID_INPUT", "{prefix}");
        assert_eq!(
            refused.body["errors"][0]["extensions"]["field"],
            "input.prefix"
        );
        assert!(
            refused.error_message().contains(why),
            "{prefix}: {}",
            refused.error_message()
        );
    }
    import(&app, &ada.pat, &ada.org_id, "vc_", 1).await.data();
    // The same organization imports more under its prefix.
    import(&app, &ada.pat, &ada.org_id, "vc_", 2).await.data();
    // Another organization may not take it, or any prefix overlapping it.
    for prefix in ["vc_", "vc_live_", "vc-"] {
        let answer = import(&app, &bob.pat, &bob.org_id, prefix, 3).await;
        if prefix == "vc-" {
            answer.data();
            continue;
        }
        assert_eq!(answer.error_code(), "INVALID_INPUT", "{prefix}");
        assert!(answer.error_message().contains("another organization"));
    }
    app.finish().await;
}

/// A user cannot create organizations, nor an organization service accounts, without
/// end (SPEC §8): the cap is counted inside the creating transaction, under a lock, so
/// two creations at the last free place cannot both pass.
async fn growth_is_capped(db: Db) {
    let app = TestApp::spawn_with(db, |c| {
        c.max_organizations_per_user = 3;
        c.max_service_accounts_per_organization = 2;
    })
    .await;
    let ada = app.bootstrap("ada@example.com").await;
    const ORG: &str = "mutation($i: CreateOrganizationInput!) { createOrganization(input: $i) { organization { id } } }";
    let create_org = |name: &str| app.gql(&ada.pat, ORG, json!({ "i": { "name": name } }));
    create_org("second").await.data();
    // The third and last place, raced.
    let barrier = tokio::sync::Barrier::new(2);
    let (a, b) = tokio::join!(
        async {
            barrier.wait().await;
            create_org("third a").await
        },
        async {
            barrier.wait().await;
            create_org("third b").await
        }
    );
    let won = [&a, &b]
        .iter()
        .filter(|r| r.body["errors"].is_null())
        .count();
    assert_eq!(won, 1, "{:?} / {:?}", a.body, b.body);
    let refused = create_org("fourth").await;
    assert_eq!(refused.error_code(), "CONFLICT");
    assert!(
        refused.error_message().contains("(3)"),
        "{}",
        refused.error_message()
    );

    let viewer = app.role_id(&ada.pat, &ada.org_id, "viewer").await;
    const ACCOUNT: &str =
        "mutation($i: CreateServiceAccountInput!) { createServiceAccount(input: $i) { id } }";
    let create_account = |name: &str| {
        app.gql(
            &ada.pat,
            ACCOUNT,
            json!({ "i": { "organizationId": ada.org_id, "name": name, "roleId": viewer } }),
        )
    };
    create_account("first").await.data();
    let (a, b) = tokio::join!(
        async {
            barrier.wait().await;
            create_account("second a").await
        },
        async {
            barrier.wait().await;
            create_account("second b").await
        }
    );
    let won = [&a, &b]
        .iter()
        .filter(|r| r.body["errors"].is_null())
        .count();
    assert_eq!(won, 1, "{:?} / {:?}", a.body, b.body);
    let refused = create_account("third").await;
    assert_eq!(refused.error_code(), "CONFLICT");
    assert!(
        refused.error_message().contains("(2)"),
        "{}",
        refused.error_message()
    );
    app.finish().await;
}

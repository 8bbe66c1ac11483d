//! The credential lifecycle over GraphQL (SPEC §3, §8): listing, pagination, rename,
//! PATs, organizations and projects, and what storage keeps of a secret.

use sea_orm::{ConnectionTrait, Statement};
use serde_json::json;
use tests::{Db, Header, TestApp};

db_tests!(
    listing_shows_every_field,
    pagination_by_cursor,
    rename_and_status_filters,
    personal_access_tokens,
    organizations_and_projects,
    storage_keeps_only_the_hash,
    other_organizations_are_invisible,
    search_and_creator_filters,
    keys_sort_and_show_their_last_day,
);

const LIST: &str = "query($o: ID!, $s: CredentialStatus, $first: Int, $after: String) {
  apiKeys(organizationId: $o, status: $s, first: $first, after: $after) {
    totalCount
    pageInfo { hasNextPage endCursor }
    nodes { id name prefix last4 kind status createdAt expiresAt expiresSoon lastUsedAt lastUsedIp requestCount
            scopes environment rateLimitPerMinute project { id name } createdBy { email } }
  }
}";

async fn listing_shows_every_field(db: Db) {
    let app = TestApp::spawn(db).await;
    let admin = app.bootstrap("ada@example.com").await;
    let (id, secret) = app
        .create_key(
            &admin.pat,
            json!({ "organizationId": admin.org_id, "projectId": admin.project_id, "name": "listed", "rateLimitPerMinute": 100 }),
        )
        .await;
    assert_eq!(app.verify(Header::Bearer, &secret).await.0, 200);
    let r = app
        .gql(&admin.pat, LIST, json!({ "o": admin.org_id }))
        .await
        .data();
    let key = &r["apiKeys"]["nodes"][0];
    assert_eq!(key["id"], id);
    assert_eq!(key["name"], "listed");
    assert_eq!(key["prefix"].as_str().unwrap(), &secret[..15]);
    assert_eq!(key["last4"].as_str().unwrap(), &secret[secret.len() - 4..]);
    assert_eq!(key["kind"], "API_KEY");
    assert_eq!(key["status"], "ACTIVE");
    // Made with a personal access token, it expires with it (SPEC §3.2).
    let pat_expiry = app
        .gql(&admin.pat, "{ me { credentialExpiresAt } }", json!({}))
        .await
        .data()["me"]["credentialExpiresAt"]
        .clone();
    assert!(pat_expiry.is_string(), "{pat_expiry}");
    assert_eq!(key["expiresAt"], pat_expiry);
    assert_eq!(key["expiresSoon"], false);
    assert_eq!(key["project"]["id"], admin.project_id);
    assert_eq!(key["createdBy"]["email"], "ada@example.com");
    assert_eq!(key["rateLimitPerMinute"], 100);
    assert_eq!(key["environment"], "LIVE");
    assert!(
        key["scopes"].is_null(),
        "no scopes means all of the owner's"
    );
    assert!(
        !r.to_string().contains(&secret),
        "a listing never holds the secret"
    );
    app.finish().await;
}

async fn pagination_by_cursor(db: Db) {
    let app = TestApp::spawn(db).await;
    let admin = app.bootstrap("ada@example.com").await;
    for i in 0..5 {
        app.create_key(
            &admin.pat,
            json!({ "organizationId": admin.org_id, "name": format!("k{i}") }),
        )
        .await;
    }
    let first = app
        .gql(&admin.pat, LIST, json!({ "o": admin.org_id, "first": 2 }))
        .await
        .data();
    assert_eq!(first["apiKeys"]["totalCount"], 5);
    assert_eq!(first["apiKeys"]["pageInfo"]["hasNextPage"], true);
    let names: Vec<_> = first["apiKeys"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["name"].clone())
        .collect();
    assert_eq!(names, vec![json!("k4"), json!("k3")], "newest first");
    let cursor = first["apiKeys"]["pageInfo"]["endCursor"].clone();
    let rest = app
        .gql(
            &admin.pat,
            LIST,
            json!({ "o": admin.org_id, "first": 10, "after": cursor }),
        )
        .await
        .data();
    let names: Vec<_> = rest["apiKeys"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["name"].clone())
        .collect();
    assert_eq!(names, vec![json!("k2"), json!("k1"), json!("k0")]);
    assert_eq!(rest["apiKeys"]["pageInfo"]["hasNextPage"], false);
    let too_many = app
        .gql(&admin.pat, LIST, json!({ "o": admin.org_id, "first": 101 }))
        .await;
    assert_eq!(too_many.error_code(), "INVALID_INPUT");
    app.finish().await;
}

async fn rename_and_status_filters(db: Db) {
    let app = TestApp::spawn(db).await;
    let admin = app.bootstrap("ada@example.com").await;
    let (a, _) = app
        .create_key(
            &admin.pat,
            json!({ "organizationId": admin.org_id, "name": "a" }),
        )
        .await;
    let (b, _) = app
        .create_key(
            &admin.pat,
            json!({ "organizationId": admin.org_id, "name": "b" }),
        )
        .await;
    let r = app
        .gql(
            &admin.pat,
            "mutation($i: RenameApiKeyInput!) { renameApiKey(input: $i) { name } }",
            json!({ "i": { "id": a, "name": "  renamed  " } }),
        )
        .await
        .data();
    assert_eq!(r["renameApiKey"]["name"], "renamed");
    app.gql(
        &admin.pat,
        "mutation($i: RevokeApiKeyInput!) { revokeApiKey(input: $i) { id } }",
        json!({ "i": { "id": b } }),
    )
    .await
    .data();
    let revoked = app
        .gql(
            &admin.pat,
            LIST,
            json!({ "o": admin.org_id, "s": "REVOKED" }),
        )
        .await
        .data();
    assert_eq!(revoked["apiKeys"]["totalCount"], 1);
    assert_eq!(revoked["apiKeys"]["nodes"][0]["id"], b);
    let active = app
        .gql(
            &admin.pat,
            LIST,
            json!({ "o": admin.org_id, "s": "ACTIVE" }),
        )
        .await
        .data();
    assert_eq!(active["apiKeys"]["totalCount"], 1);
    assert_eq!(active["apiKeys"]["nodes"][0]["name"], "renamed");
    app.finish().await;
}

async fn personal_access_tokens(db: Db) {
    let app = TestApp::spawn(db).await;
    let admin = app.bootstrap("ada@example.com").await;
    let r = app
        .gql(
            &admin.pat,
            "mutation($i: CreatePersonalAccessTokenInput!) { createPersonalAccessToken(input: $i) { secret token { id name expiresAt status scopes } } }",
            json!({ "i": { "name": "laptop", "scopes": ["api_keys:read"] } }),
        )
        .await
        .data();
    let secret = r["createPersonalAccessToken"]["secret"]
        .as_str()
        .unwrap()
        .to_owned();
    let id = r["createPersonalAccessToken"]["token"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(secret.starts_with("kw_pat_"));
    let expires: chrono::DateTime<chrono::Utc> =
        r["createPersonalAccessToken"]["token"]["expiresAt"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
    let days = (expires - chrono::Utc::now()).num_hours() as f64 / 24.0;
    assert!(
        (119.9..=120.1).contains(&days),
        "default expiry is 120 days, got {days}"
    );

    // The scoped PAT can read keys but not create them.
    let list = app.gql(&secret, LIST, json!({ "o": admin.org_id })).await;
    assert!(list.body.get("errors").is_none(), "{}", list.body);
    let create = app
        .gql(
            &secret,
            "mutation($i: CreateApiKeyInput!) { createApiKey(input: $i) { secret } }",
            json!({ "i": { "organizationId": admin.org_id, "name": "x" } }),
        )
        .await;
    assert_eq!(create.error_code(), "FORBIDDEN");
    assert!(
        create.error_message().contains("api_keys:write"),
        "{}",
        create.error_message()
    );

    let mine = app
        .gql(
            &admin.pat,
            "{ personalAccessTokens { totalCount nodes { name status } } }",
            json!({}),
        )
        .await
        .data();
    assert_eq!(mine["personalAccessTokens"]["totalCount"], 2);
    let r = app
        .gql(
            &admin.pat,
            "mutation($i: RevokePersonalAccessTokenInput!) { revokePersonalAccessToken(input: $i) { status } }",
            json!({ "i": { "id": id } }),
        )
        .await
        .data();
    assert_eq!(r["revokePersonalAccessToken"]["status"], "REVOKED");
    assert_eq!(
        app.verify(Header::Bearer, &secret).await.2["code"],
        "REVOKED"
    );
    let gql = app
        .gql(&secret, "{ me { authenticatedBy } }", json!({}))
        .await;
    assert_eq!(gql.status, 401);
    assert_eq!(gql.error_code(), "UNAUTHENTICATED");
    assert_eq!(gql.body["errors"][0]["extensions"]["reason"], "REVOKED");
    app.finish().await;
}

async fn organizations_and_projects(db: Db) {
    let app = TestApp::spawn(db).await;
    let admin = app.bootstrap("ada@example.com").await;
    let r = app
        .gql(
            &admin.pat,
            "mutation { createOrganization(input: { name: \"Acme Corp\" }) { organization { id name slug } project { id slug namespace } } }",
            json!({}),
        )
        .await
        .data();
    let org = r["createOrganization"]["organization"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(r["createOrganization"]["organization"]["slug"], "acme-corp");
    assert_eq!(
        r["createOrganization"]["project"]["namespace"],
        "acme-corp_default"
    );
    // Same name again: a different, still unique slug.
    let r2 = app
        .gql(&admin.pat, "mutation { createOrganization(input: { name: \"Acme Corp\" }) { organization { slug } } }", json!({}))
        .await
        .data();
    assert_ne!(
        r2["createOrganization"]["organization"]["slug"],
        "acme-corp"
    );
    let taken = app
        .gql(&admin.pat, "mutation { createOrganization(input: { name: \"X\", slug: \"acme-corp\" }) { organization { slug } } }", json!({}))
        .await;
    assert_eq!(taken.error_code(), "CONFLICT");

    let p = app
        .gql(
            &admin.pat,
            "mutation($i: CreateProjectInput!) { createProject(input: $i) { id name slug namespace organizationId } }",
            json!({ "i": { "organizationId": org, "name": "Edge Cache" } }),
        )
        .await
        .data();
    assert_eq!(p["createProject"]["slug"], "edge-cache");
    assert_eq!(p["createProject"]["namespace"], "acme-corp_edge-cache");
    let pid = p["createProject"]["id"].as_str().unwrap();
    let q = app
        .gql(
            &admin.pat,
            "query($id: ID!) { project(id: $id) { name } }",
            json!({ "id": pid }),
        )
        .await
        .data();
    assert_eq!(q["project"]["name"], "Edge Cache");
    let dup = app
        .gql(
            &admin.pat,
            "mutation($i: CreateProjectInput!) { createProject(input: $i) { id } }",
            json!({ "i": { "organizationId": org, "name": "Edge Cache" } }),
        )
        .await;
    assert_eq!(dup.error_code(), "CONFLICT");
    let orgs = app
        .gql(
            &admin.pat,
            "{ organizations { name projects { name } } }",
            json!({}),
        )
        .await
        .data();
    assert_eq!(orgs["organizations"].as_array().unwrap().len(), 3);
    app.finish().await;
}

async fn storage_keeps_only_the_hash(db: Db) {
    let app = TestApp::spawn(db).await;
    let admin = app.bootstrap("ada@example.com").await;
    let (_, secret) = app
        .create_key(
            &admin.pat,
            json!({ "organizationId": admin.org_id, "name": "s" }),
        )
        .await;
    assert_eq!(app.verify(Header::Bearer, &secret).await.0, 200);
    let db = app.services().test_db();
    let backend = db.get_database_backend();
    for table in [
        "credentials",
        "audit_events",
        "sessions",
        "usage_buckets",
        "customers",
    ] {
        let sql = match backend {
            sea_orm::DbBackend::Postgres => {
                format!("SELECT row_to_json(t)::text AS j FROM {table} t")
            }
            _ => format!("SELECT * FROM {table}"),
        };
        let rows = db
            .query_all_raw(Statement::from_string(backend, sql))
            .await
            .unwrap();
        let dump = format!("{rows:?}");
        assert!(!dump.contains(&secret), "{table} holds a secret");
        assert!(!dump.contains(&admin.pat), "{table} holds a PAT");
    }
    let rows = db
        .query_all_raw(Statement::from_string(
            backend,
            "SELECT token_hash FROM credentials".to_owned(),
        ))
        .await
        .unwrap();
    let hashes: Vec<String> = rows
        .iter()
        .map(|r| r.try_get::<String>("", "token_hash").unwrap())
        .collect();
    assert!(hashes.contains(&tests::sha256_hex(&secret)));
    assert!(hashes.contains(&tests::sha256_hex(&admin.pat)));
    // A token pasted into a path (ours, or another service's) is not logged either; ids are.
    let foreign = "sk_live_51HxYzAbCdEf0123456789QwErTy";
    let id = "0192f3a4-5b6c-7d8e-9f00-112233445566";
    for path in [
        format!("/api/v1/keys/{secret}"),
        format!("/{}", admin.pat),
        format!("/api/v1/organizations/{id}/{foreign}/x"),
        format!("/api/v1/x/key={secret};y"),
    ] {
        let status = app
            .client
            .get(format!("{}{path}", app.base))
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(status, 404, "{path}");
    }
    let logs = tests::captured_logs();
    assert!(
        !logs.contains(&secret) && !logs.contains(&admin.pat) && !logs.contains(foreign),
        "a secret reached the logs"
    );
    assert!(
        logs.contains(&format!("/api/v1/organizations/{id}/[REDACTED]/x")),
        "the path is logged, the token in it hidden"
    );
    app.finish().await;
}

async fn other_organizations_are_invisible(db: Db) {
    let app = TestApp::spawn(db).await;
    let ada = app.bootstrap("ada@example.com").await;
    let bob = app.bootstrap("bob@example.com").await;
    let (ada_key, _) = app
        .create_key(
            &ada.pat,
            json!({ "organizationId": ada.org_id, "name": "ada's" }),
        )
        .await;

    let r = app.gql(&bob.pat, LIST, json!({ "o": ada.org_id })).await;
    assert_eq!(r.error_code(), "NOT_A_MEMBER");
    let unknown_org = uuid::Uuid::now_v7().to_string();
    let r = app.gql(&bob.pat, LIST, json!({ "o": unknown_org })).await;
    assert_eq!(
        r.error_code(),
        "NOT_A_MEMBER",
        "an unknown org looks like a foreign one"
    );

    // A foreign key id answers exactly like an id that does not exist.
    let foreign = app
        .gql(
            &bob.pat,
            "mutation($i: RevokeApiKeyInput!) { revokeApiKey(input: $i) { id } }",
            json!({ "i": { "id": ada_key } }),
        )
        .await;
    let missing = app
        .gql(
            &bob.pat,
            "mutation($i: RevokeApiKeyInput!) { revokeApiKey(input: $i) { id } }",
            json!({ "i": { "id": uuid::Uuid::now_v7().to_string() } }),
        )
        .await;
    assert_eq!(foreign.error_code(), "NOT_FOUND");
    assert_eq!(foreign.error_message(), missing.error_message());
    for query in [
        "query($id: ID!) { apiKey(id: $id) { id } }",
        "query($id: ID!) { usage(credentialId: $id) { total } }",
    ] {
        let r = app.gql(&bob.pat, query, json!({ "id": ada_key })).await;
        assert_eq!(r.error_code(), "NOT_FOUND", "{query}");
    }
    let project = app
        .gql(
            &bob.pat,
            "query($id: ID!) { project(id: $id) { id } }",
            json!({ "id": ada.project_id }),
        )
        .await;
    assert_eq!(project.error_code(), "NOT_FOUND");
    // An org key cannot reach another org.
    let (_, bob_key) = app
        .create_key(
            &bob.pat,
            json!({ "organizationId": bob.org_id, "name": "bob's" }),
        )
        .await;
    let r = app.gql(&bob_key, LIST, json!({ "o": ada.org_id })).await;
    assert_eq!(r.error_code(), "NOT_A_MEMBER");
    app.finish().await;
}

/// Keys found by part of their name or prefix, in any case, and by who created them.
async fn search_and_creator_filters(db: Db) {
    let app = TestApp::spawn(db).await;
    let ada = app.bootstrap("ada@example.com").await;
    let bob = app.user("bob@example.com").await;
    // Bob joins Ada's organization as a developer and makes a key there.
    let roles = app
        .gql(
            &ada.pat,
            "query($o: ID!) { roles(organizationId: $o) { nodes { id key } } }",
            json!({ "o": ada.org_id }),
        )
        .await
        .data();
    let developer = roles["roles"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["key"] == "developer")
        .unwrap()["id"]
        .clone();
    let invite = app
        .gql(
            &ada.pat,
            "mutation($i: InviteMemberInput!) { inviteMember(input: $i) { id } }",
            json!({ "i": { "organizationId": ada.org_id, "email": "bob@example.com", "roleId": developer } }),
        )
        .await
        .data();
    app.gql(
        &bob.pat,
        "mutation($i: InviteInput!) { acceptInvite(input: $i) { id } }",
        json!({ "i": { "id": invite["inviteMember"]["id"] } }),
    )
    .await
    .data();
    for (who, name) in [
        (&ada.pat, "Billing EU"),
        (&ada.pat, "billing-us"),
        (&ada.pat, "100%_off"),
        (&bob.pat, "bob's deploy"),
    ] {
        app.create_key(who, json!({ "organizationId": ada.org_id, "name": name }))
            .await;
    }
    let find = |search: Option<&str>, creator: Option<String>| {
        let app = &app;
        let pat = ada.pat.clone();
        let org = ada.org_id.clone();
        let search = search.map(str::to_owned);
        async move {
            app.gql(
                &pat,
                "query($o: ID!, $q: String, $c: ID) { apiKeys(organizationId: $o, search: $q, createdById: $c) { totalCount nodes { name } } }",
                json!({ "o": org, "q": search, "c": creator }),
            )
            .await
        }
    };
    let names = |g: tests::Gql| {
        let mut v: Vec<String> = g.data()["apiKeys"]["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["name"].as_str().unwrap().to_owned())
            .collect();
        v.sort();
        v
    };
    assert_eq!(
        names(find(Some("BILLING"), None).await),
        ["Billing EU", "billing-us"]
    );
    assert_eq!(names(find(Some("  eu "), None).await), ["Billing EU"]);
    // `%` and `_` match themselves, not anything (prefixes have `_`, none has `%`).
    assert_eq!(names(find(Some("%_"), None).await), ["100%_off"]);
    assert_eq!(names(find(Some("0%"), None).await), ["100%_off"]);
    // Part of the display prefix finds the key too.
    let prefix = app
        .gql(
            &ada.pat,
            "query($o: ID!) { apiKeys(organizationId: $o, search: \"bob\") { nodes { prefix } } }",
            json!({ "o": ada.org_id }),
        )
        .await
        .data()["apiKeys"]["nodes"][0]["prefix"]
        .as_str()
        .unwrap()
        .to_owned();
    let tail = &prefix[prefix.len() - 4..];
    assert_eq!(names(find(Some(tail), None).await), ["bob's deploy"]);
    let bob_id = app
        .gql(&bob.pat, "{ me { user { id } } }", json!({}))
        .await
        .data()["me"]["user"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        names(find(None, Some(bob_id.clone())).await),
        ["bob's deploy"]
    );
    assert_eq!(
        names(find(Some("billing"), Some(bob_id)).await),
        Vec::<String>::new()
    );
    let long = "x".repeat(101);
    let refused = find(Some(&long), None).await;
    assert_eq!(refused.error_code(), "INVALID_INPUT");
    assert_eq!(refused.body["errors"][0]["extensions"]["field"], "search");
    app.finish().await;
}

/// The key list sorts by name, creation, last use and expiry, one page at a time with the
/// same cursors, and `keyActivity` gives each key's last 24 hours for its sparkline.
async fn keys_sort_and_show_their_last_day(db: Db) {
    let app = TestApp::spawn(db).await;
    let ada = app.bootstrap("ada@example.com").await;
    let bob = app.bootstrap("bob@example.com").await;
    let now = app.services().clock.now();
    let in_days = |d: i64| (now + chrono::TimeDelta::days(d)).to_rfc3339();
    let mut ids = std::collections::HashMap::new();
    let mut secrets = std::collections::HashMap::new();
    for (name, expires) in [
        ("beta", Some(in_days(30))),
        ("Alpha", None),
        ("gamma", Some(in_days(10))),
        ("delta", Some(in_days(60))),
        // The same name in another case: a tie, broken newest first.
        ("ALPHA", None),
    ] {
        let (id, secret) = app
            .create_key(
                &ada.pat,
                json!({ "organizationId": ada.org_id, "name": name, "expiresAt": expires }),
            )
            .await;
        ids.insert(name, id);
        secrets.insert(name, secret);
    }
    let (bobs_id, bobs) = app
        .create_key(
            &bob.pat,
            json!({ "organizationId": bob.org_id, "name": "b" }),
        )
        .await;
    for secret in [&secrets["gamma"], &secrets["gamma"], &bobs] {
        assert_eq!(app.verify(Header::Bearer, secret).await.0, 200);
    }
    // Refused: neither a request of Alpha's nor a bar of its sparkline.
    let lacking = json!({ "key": secrets["Alpha"], "require": ["nope:read"] });
    assert_eq!(
        app.verify_body(lacking).await.1["code"],
        "INSUFFICIENT_PERMISSIONS"
    );
    app.services().flush_usage().await.unwrap();
    app.services()
        .clock
        .advance(std::time::Duration::from_secs(2 * 3600));
    assert_eq!(app.verify(Header::Bearer, &secrets["beta"]).await.0, 200);
    app.services().flush_usage().await.unwrap();

    // One order, read whole and then a page of `first` at a time.
    let list = |order: &'static str, first: i64| {
        let app = &app;
        let pat = ada.pat.clone();
        let org = ada.org_id.clone();
        async move {
            let mut names = Vec::new();
            let mut after: Option<String> = None;
            loop {
                let page = app
                    .gql(
                        &pat,
                        "query($o: ID!, $by: KeyOrder, $first: Int, $after: String) { apiKeys(organizationId: $o, orderBy: $by, first: $first, after: $after) { totalCount pageInfo { hasNextPage endCursor } nodes { name } } }",
                        json!({ "o": org, "by": order, "first": first, "after": after }),
                    )
                    .await
                    .data();
                let keys = &page["apiKeys"];
                assert_eq!(keys["totalCount"], 5);
                names.extend(
                    keys["nodes"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|n| n["name"].as_str().unwrap().to_owned()),
                );
                if keys["pageInfo"]["hasNextPage"] != true {
                    return names;
                }
                after = keys["pageInfo"]["endCursor"].as_str().map(str::to_owned);
            }
        }
    };
    for (order, expected) in [
        ("NEWEST", ["ALPHA", "delta", "gamma", "Alpha", "beta"]),
        ("OLDEST", ["beta", "Alpha", "gamma", "delta", "ALPHA"]),
        // Any case; names alike, newest first.
        ("NAME", ["ALPHA", "Alpha", "beta", "delta", "gamma"]),
        // Never used last, newest first among them.
        ("LAST_USED", ["beta", "gamma", "ALPHA", "delta", "Alpha"]),
        // Never expiring last.
        ("EXPIRES", ["gamma", "beta", "delta", "ALPHA", "Alpha"]),
    ] {
        for first in [100, 1, 2, 3] {
            assert_eq!(list(order, first).await, expected, "{order} by {first}");
        }
    }
    // The order left out, or null (a nullable variable the client did not send):
    // newest first, not an error.
    for vars in [
        json!({ "o": ada.org_id }),
        json!({ "o": ada.org_id, "by": null }),
    ] {
        let page = app
            .gql(
                &ada.pat,
                "query($o: ID!, $by: KeyOrder) { apiKeys(organizationId: $o, orderBy: $by) { nodes { name } } }",
                vars,
            )
            .await
            .data();
        let names: Vec<&str> = page["apiKeys"]["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["ALPHA", "delta", "gamma", "Alpha", "beta"]);
    }
    // A key that stops matching the list's filter between two pages still marks the
    // place: the next page goes on after it.
    let active = |after: Option<String>| {
        let app = &app;
        let pat = ada.pat.clone();
        let org = ada.org_id.clone();
        async move {
            app.gql(
                &pat,
                "query($o: ID!, $after: String) { apiKeys(organizationId: $o, status: ACTIVE, orderBy: NAME, first: 2, after: $after) { pageInfo { endCursor } nodes { name } } }",
                json!({ "o": org, "after": after }),
            )
            .await
            .data()
        }
    };
    let page = active(None).await;
    assert_eq!(
        page["apiKeys"]["nodes"],
        json!([{ "name": "ALPHA" }, { "name": "Alpha" }])
    );
    let cursor = page["apiKeys"]["pageInfo"]["endCursor"]
        .as_str()
        .unwrap()
        .to_owned();
    // Opaque: a place in the order, not the key's id.
    assert_ne!(cursor, ids["Alpha"]);
    app.gql(
        &ada.pat,
        "mutation($id: ID!) { disableApiKey(input: { id: $id }) { id } }",
        json!({ "id": ids["Alpha"] }),
    )
    .await
    .data();
    let next = active(Some(cursor.clone())).await;
    assert_eq!(
        next["apiKeys"]["nodes"],
        json!([{ "name": "beta" }, { "name": "delta" }])
    );
    app.gql(
        &ada.pat,
        "mutation($id: ID!) { enableApiKey(input: { id: $id }) { id } }",
        json!({ "id": ids["Alpha"] }),
    )
    .await
    .data();
    // A cursor is read only in the order that made it; an id, another order's cursor
    // or a forged one is refused, naming `after`.
    let by = |order: &'static str, after: String| {
        let app = &app;
        let pat = ada.pat.clone();
        let org = ada.org_id.clone();
        async move {
            app.gql(
                &pat,
                "query($o: ID!, $by: KeyOrder, $after: String) { apiKeys(organizationId: $o, orderBy: $by, after: $after) { nodes { name } } }",
                json!({ "o": org, "by": order, "after": after }),
            )
            .await
        }
    };
    for (order, after) in [
        ("NAME", bobs_id.clone()),
        ("LAST_USED", cursor.clone()),
        ("NAME", "!!!".to_owned()),
        ("NAME", "A".repeat(2000)),
        ("NEWEST", cursor.clone()),
    ] {
        let refused = by(order, after).await;
        assert_eq!(refused.error_code(), "INVALID_INPUT", "{order}");
        assert_eq!(refused.body["errors"][0]["extensions"]["field"], "after");
    }
    assert!(
        by("LAST_USED", cursor.clone())
            .await
            .error_message()
            .contains("another order"),
    );

    // The last 24 hours, the current hour last: gamma's two two hours ago, beta's one now.
    let activity = |keys: Vec<String>| {
        let app = &app;
        let pat = ada.pat.clone();
        let org = ada.org_id.clone();
        async move {
            app.gql(
                &pat,
                "query($o: ID!, $k: [ID!]!) { keyActivity(organizationId: $o, keyIds: $k) { keyId hours } }",
                json!({ "o": org, "k": keys }),
            )
            .await
        }
    };
    let asked = vec![
        ids["beta"].clone(),
        ids["gamma"].clone(),
        ids["Alpha"].clone(),
        bobs_id.clone(),
    ];
    let got = activity(asked.clone()).await.data()["keyActivity"].clone();
    let got = got.as_array().unwrap();
    assert_eq!(got.len(), 4);
    let hours = |i: usize| -> Vec<i64> {
        assert_eq!(got[i]["keyId"], asked[i]);
        got[i]["hours"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n.as_i64().unwrap())
            .collect()
    };
    let mut beta = vec![0; 24];
    beta[23] = 1;
    let mut gamma = vec![0; 24];
    gamma[21] = 2;
    assert_eq!(hours(0), beta);
    assert_eq!(hours(1), gamma);
    assert_eq!(hours(2), vec![0; 24]);
    // Another organization's key counts nothing here, though it was used.
    assert_eq!(hours(3), vec![0; 24]);
    // A day later the hours have moved on.
    app.services()
        .clock
        .advance(std::time::Duration::from_secs(22 * 3600));
    let later = activity(vec![ids["gamma"].clone()]).await.data();
    assert_eq!(later["keyActivity"][0]["hours"], json!(vec![0; 24]));
    // The batch is bounded before any work, and a bad id is named.
    let many = activity(vec![ids["beta"].clone(); 101]).await;
    assert_eq!(many.error_code(), "INVALID_INPUT");
    assert_eq!(many.body["errors"][0]["extensions"]["field"], "keyIds");
    let bad = activity(vec![ids["beta"].clone(), "nope".into()]).await;
    assert_eq!(bad.error_code(), "INVALID_INPUT");
    assert_eq!(bad.body["errors"][0]["extensions"]["field"], "keyIds[1]");

    // A key used again between two pages of "last used" moves to the top, and the next
    // page goes on from where the first ended: nothing repeats.
    let used = |after: Option<String>| {
        let app = &app;
        let pat = ada.pat.clone();
        let org = ada.org_id.clone();
        async move {
            app.gql(
                &pat,
                "query($o: ID!, $after: String) { apiKeys(organizationId: $o, orderBy: LAST_USED, first: 2, after: $after) { pageInfo { endCursor } nodes { name } } }",
                json!({ "o": org, "after": after }),
            )
            .await
            .data()
        }
    };
    let page = used(None).await;
    assert_eq!(
        page["apiKeys"]["nodes"],
        json!([{ "name": "beta" }, { "name": "gamma" }])
    );
    app.services()
        .clock
        .advance(std::time::Duration::from_secs(3600));
    assert_eq!(app.verify(Header::Bearer, &secrets["gamma"]).await.0, 200);
    app.services().flush_usage().await.unwrap();
    let after = page["apiKeys"]["pageInfo"]["endCursor"]
        .as_str()
        .map(str::to_owned);
    assert_eq!(
        used(after).await["apiKeys"]["nodes"],
        json!([{ "name": "ALPHA" }, { "name": "delta" }])
    );
    assert_eq!(
        used(None).await["apiKeys"]["nodes"],
        json!([{ "name": "gamma" }, { "name": "beta" }])
    );
    app.finish().await;
}

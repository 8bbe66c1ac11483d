//! The verify endpoints (SPEC §4): header styles, every failure code, rate limits.

use serde_json::json;
use tests::{Db, Header, TestApp};

db_tests!(
    verify_accepts_every_header_style,
    verify_failure_codes,
    revocation_is_immediate,
    disable_and_enable,
    expired_keys,
    rotation_with_and_without_grace,
    imported_keys_verify_by_hash,
    post_verify_checks_required_scopes,
    post_verify_rejects_malformed_bodies,
    rate_limited_keys_get_429,
    project_keys_report_their_project,
    suspended_and_removed_owners,
    failed_verifications_are_limited_per_address,
    a_relay_never_locks_out_real_keys,
    trusted_proxies_name_the_client,
    each_seed_gets_its_token_shape,
    unknown_tokens_are_remembered_briefly,
);

async fn verify_accepts_every_header_style(db: Db) {
    let app = TestApp::spawn(db).await;
    let admin = app.bootstrap("ada@example.com").await;
    let (id, secret) = app
        .create_key(
            &admin.pat,
            json!({ "organizationId": admin.org_id, "name": "ci deploy", "scopes": ["api_keys:read"] }),
        )
        .await;
    assert!(secret.starts_with("kw_sk_live_"));
    for style in [Header::Bearer, Header::ApiKey, Header::XApiKey] {
        let (status, headers, body) = app.verify(style, &secret).await;
        assert_eq!(status, 200, "{style:?}: {body}");
        assert_eq!(body["valid"], true);
        assert_eq!(body["key"]["id"], id);
        assert_eq!(body["key"]["kind"], "api_key");
        assert_eq!(body["key"]["name"], "ci deploy");
        assert_eq!(body["key"]["environment"], "live");
        assert_eq!(body["key"]["scopes"], json!(["api_keys:read"]));
        assert_eq!(body["key"]["prefix"].as_str().unwrap(), &secret[..15]);
        assert_eq!(body["customer"]["email"], "ada@example.com");
        assert_eq!(body["organization"]["id"], admin.org_id);
        assert!(body["service_account"].is_null());
        assert!(body["project"].is_null());
        assert_eq!(body["ratelimit"]["limit"], 600);
        assert!(headers.contains_key("ratelimit"));
        assert!(headers.contains_key("ratelimit-policy"));
    }
    // A PAT verifies too, with its user and no single organization.
    let (status, _, body) = app.verify(Header::Bearer, &admin.pat).await;
    assert_eq!(status, 200);
    assert_eq!(body["key"]["kind"], "pat");
    assert!(body["organization"].is_null());
    app.finish().await;
}

async fn verify_failure_codes(db: Db) {
    let app = TestApp::spawn(db).await;
    let admin = app.bootstrap("ada@example.com").await;
    let (_, secret) = app
        .create_key(
            &admin.pat,
            json!({ "organizationId": admin.org_id, "name": "k" }),
        )
        .await;

    // No credential: 401 MISSING, a challenge without an error attribute.
    let response = app
        .client
        .get(format!("{}/api/v1/api-keys/verify", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    assert_eq!(
        response.headers()["www-authenticate"],
        "Bearer realm=\"keyward\""
    );
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["code"], "MISSING");
    for field in ["type", "title", "status", "detail", "request_id"] {
        assert!(!body[field].is_null(), "problem+json lacks {field}: {body}");
    }

    // A changed character breaks the checksum: MALFORMED, without any lookup.
    let lookups_before = app.services().verifier.lookups();
    let mut chars: Vec<char> = secret.chars().collect();
    let i = 20;
    chars[i] = if chars[i] == 'a' { 'b' } else { 'a' };
    let typo: String = chars.into_iter().collect();
    let cases = [
        (typo.as_str(), "MALFORMED"),
        ("kw_sk_live_short", "MALFORMED"),
        ("vc_0123456789abcdef0123456789abcdef", "MALFORMED"),
        ("kici_pat_abc", "MALFORMED"),
    ];
    for (token, code) in cases {
        let (status, headers, body) = app.verify(Header::Bearer, token).await;
        assert_eq!(status, 401, "{token}");
        assert_eq!(body["code"], code, "{token}: {body}");
        let challenge = headers["www-authenticate"].to_str().unwrap();
        assert!(challenge.contains("error=\"invalid_token\""), "{challenge}");
    }

    assert_eq!(
        app.services().verifier.lookups(),
        lookups_before,
        "malformed tokens never reach storage"
    );

    // Well-formed but unknown: NOT_FOUND, after one lookup.
    let unknown = backend::token::TokenFormat::new("kw")
        .unwrap()
        .generate(backend::token::TokenKind::ApiKeyLive)
        .unwrap();
    let (status, _, body) = app
        .verify(Header::Bearer, unknown.token.expose_secret())
        .await;
    assert_eq!(status, 401);
    assert_eq!(body["code"], "NOT_FOUND");
    assert_eq!(app.services().verifier.lookups(), lookups_before + 1);

    // An Authorization header of another scheme is malformed.
    let response = app
        .client
        .get(format!("{}/api/v1/api-keys/verify", app.base))
        .basic_auth("user", Some("pass"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    app.finish().await;
}

async fn revocation_is_immediate(db: Db) {
    let app = TestApp::spawn(db).await;
    let admin = app.bootstrap("ada@example.com").await;
    let (id, secret) = app
        .create_key(
            &admin.pat,
            json!({ "organizationId": admin.org_id, "name": "leaky" }),
        )
        .await;
    // Warm the cache so revocation must invalidate it.
    assert_eq!(app.verify(Header::Bearer, &secret).await.0, 200);
    let r = app
        .gql(
            &admin.pat,
            "mutation($i: RevokeApiKeyInput!) { revokeApiKey(input: $i) { status revokedReason revokedAt } }",
            json!({ "i": { "id": id, "reason": "leaked in a log" } }),
        )
        .await
        .data();
    assert_eq!(r["revokeApiKey"]["status"], "REVOKED");
    assert_eq!(r["revokeApiKey"]["revokedReason"], "leaked in a log");
    let (status, _, body) = app.verify(Header::Bearer, &secret).await;
    assert_eq!(status, 401);
    assert_eq!(body["code"], "REVOKED");
    let (status, body) = app.verify_body(json!({ "key": secret })).await;
    assert_eq!(status, 200);
    assert_eq!(body, json!({ "valid": false, "code": "REVOKED" }));

    // Revocation cannot be undone.
    let again = app
        .gql(
            &admin.pat,
            "mutation($i: ApiKeyInput!) { enableApiKey(input: $i) { status } }",
            json!({ "i": { "id": id } }),
        )
        .await;
    assert_eq!(again.error_code(), "CONFLICT");
    assert_eq!(app.verify(Header::Bearer, &secret).await.0, 401);
    app.finish().await;
}

async fn disable_and_enable(db: Db) {
    let app = TestApp::spawn(db).await;
    let admin = app.bootstrap("ada@example.com").await;
    let (id, secret) = app
        .create_key(
            &admin.pat,
            json!({ "organizationId": admin.org_id, "name": "pausable" }),
        )
        .await;
    assert_eq!(app.verify(Header::Bearer, &secret).await.0, 200);
    let r = app
        .gql(
            &admin.pat,
            "mutation($i: ApiKeyInput!) { disableApiKey(input: $i) { status } }",
            json!({ "i": { "id": id } }),
        )
        .await
        .data();
    assert_eq!(r["disableApiKey"]["status"], "DISABLED");
    let (status, _, body) = app.verify(Header::Bearer, &secret).await;
    assert_eq!(
        (status.as_u16(), body["code"].as_str()),
        (401, Some("DISABLED"))
    );
    let r = app
        .gql(
            &admin.pat,
            "mutation($i: ApiKeyInput!) { enableApiKey(input: $i) { status } }",
            json!({ "i": { "id": id } }),
        )
        .await
        .data();
    assert_eq!(r["enableApiKey"]["status"], "ACTIVE");
    assert_eq!(app.verify(Header::Bearer, &secret).await.0, 200);
    app.finish().await;
}

async fn expired_keys(db: Db) {
    let app = TestApp::spawn(db).await;
    let admin = app.bootstrap("ada@example.com").await;
    let soon = chrono::Utc::now() + chrono::TimeDelta::days(3);
    let (id, secret) = app
        .create_key(
            &admin.pat,
            json!({ "organizationId": admin.org_id, "name": "short-lived", "expiresAt": soon.to_rfc3339() }),
        )
        .await;
    let r = app
        .gql(
            &admin.pat,
            "query($id: ID!) { apiKey(id: $id) { expiresSoon status expiresAt } }",
            json!({ "id": id }),
        )
        .await
        .data();
    assert_eq!(
        r["apiKey"]["expiresSoon"], true,
        "within 7 days is nearing expiry"
    );
    assert_eq!(r["apiKey"]["status"], "ACTIVE");

    // Move the expiry into the past behind the API's back; the key has never been
    // verified, so nothing is cached.
    let past = chrono::Utc::now() - chrono::TimeDelta::minutes(1);
    app.exec(
        "UPDATE credentials SET expires_at = ? WHERE token_hash = ?",
        vec![past.into(), tests::sha256_hex(&secret).into()],
    )
    .await;
    let (status, _, body) = app.verify(Header::Bearer, &secret).await;
    assert_eq!(status, 401);
    assert_eq!(body["code"], "EXPIRED");
    let r = app
        .gql(
            &admin.pat,
            "query($id: ID!) { apiKey(id: $id) { status expiresSoon } }",
            json!({ "id": id }),
        )
        .await
        .data();
    assert_eq!(r["apiKey"]["status"], "EXPIRED");
    assert_eq!(r["apiKey"]["expiresSoon"], false);
    app.finish().await;
}

async fn rotation_with_and_without_grace(db: Db) {
    let app = TestApp::spawn(db).await;
    let admin = app.bootstrap("ada@example.com").await;
    let rotate = "mutation($i: RotateApiKeyInput!) { rotateApiKey(input: $i) { secret apiKey { id name status rotatedFromId scopes } } }";

    let (old_id, old) = app
        .create_key(
            &admin.pat,
            json!({ "organizationId": admin.org_id, "name": "web", "scopes": ["usage:read"] }),
        )
        .await;
    assert_eq!(app.verify(Header::Bearer, &old).await.0, 200);
    let r = app
        .gql(
            &admin.pat,
            rotate,
            json!({ "i": { "id": old_id, "gracePeriodSeconds": 3600 } }),
        )
        .await
        .data();
    let new = r["rotateApiKey"]["secret"].as_str().unwrap().to_owned();
    assert_eq!(r["rotateApiKey"]["apiKey"]["name"], "web");
    assert_eq!(r["rotateApiKey"]["apiKey"]["scopes"], json!(["usage:read"]));
    assert_eq!(r["rotateApiKey"]["apiKey"]["rotatedFromId"], old_id);
    assert_eq!(app.verify(Header::Bearer, &new).await.0, 200);
    assert_eq!(
        app.verify(Header::Bearer, &old).await.0,
        200,
        "old secret works during the grace period"
    );
    let r = app
        .gql(
            &admin.pat,
            "query($id: ID!) { apiKey(id: $id) { status } }",
            json!({ "id": old_id }),
        )
        .await
        .data();
    assert_eq!(r["apiKey"]["status"], "ROTATING");
    let twice = app
        .gql(
            &admin.pat,
            rotate,
            json!({ "i": { "id": old_id, "gracePeriodSeconds": 0 } }),
        )
        .await;
    assert_eq!(twice.error_code(), "CONFLICT");

    let (id2, old2) = app
        .create_key(
            &admin.pat,
            json!({ "organizationId": admin.org_id, "name": "batch" }),
        )
        .await;
    assert_eq!(app.verify(Header::Bearer, &old2).await.0, 200);
    let r = app
        .gql(&admin.pat, rotate, json!({ "i": { "id": id2 } }))
        .await
        .data();
    let new2 = r["rotateApiKey"]["secret"].as_str().unwrap().to_owned();
    let (status, _, body) = app.verify(Header::Bearer, &old2).await;
    assert_eq!(
        (status.as_u16(), body["code"].as_str()),
        (401, Some("EXPIRED")),
        "no grace: the old secret stops at once"
    );
    assert_eq!(app.verify(Header::Bearer, &new2).await.0, 200);

    let too_long = app
        .gql(
            &admin.pat,
            rotate,
            json!({ "i": { "id": id2, "gracePeriodSeconds": 86401 } }),
        )
        .await;
    assert_eq!(too_long.error_code(), "INVALID_INPUT");
    assert!(too_long.error_message().contains("gracePeriodSeconds"));
    app.finish().await;
}

async fn imported_keys_verify_by_hash(db: Db) {
    // A small allowance: held back within a few attempts, however long each one takes
    // (the allowance refills as time passes).
    let app = TestApp::spawn_with(db, |c| c.failed_verifications_per_minute = 5).await;
    let admin = app.bootstrap("ada@example.com").await;
    let legacy = "vc_0123456789abcdef0123456789abcdef";
    assert_eq!(
        app.verify(Header::Bearer, legacy).await.2["code"],
        "MALFORMED"
    );
    let r = app
        .gql(
            &admin.pat,
            "mutation($i: ImportApiKeyInput!) { importApiKey(input: $i) { id prefix last4 imported status } }",
            json!({ "i": {
                "organizationId": admin.org_id,
                "name": "migrated from vectorcache",
                "sha256": tests::sha256_hex(legacy).to_uppercase(),
                "prefix": "vc_",
                "last4": "cdef",
            } }),
        )
        .await
        .data();
    assert_eq!(r["importApiKey"]["imported"], true);
    assert_eq!(r["importApiKey"]["prefix"], "vc_");
    let (status, _, body) = app.verify(Header::Bearer, legacy).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["key"]["name"], "migrated from vectorcache");
    let (status, _, body) = app
        .verify(Header::Bearer, "vc_ffffffffffffffffffffffffffffffff")
        .await;
    assert_eq!(
        (status.as_u16(), body["code"].as_str()),
        (401, Some("NOT_FOUND"))
    );

    // Importing a hash that is already some key's (here another organization's) is no
    // way to learn that it is: a plain refusal, counted as a guess, and audited.
    let bob = app.bootstrap("bob@example.com").await;
    let import_legacy = || {
        app.gql(
            &bob.pat,
            "mutation($i: ImportApiKeyInput!) { importApiKey(input: $i) { id } }",
            json!({ "i": { "organizationId": bob.org_id, "name": "mine now", "sha256": tests::sha256_hex(legacy), "prefix": "vcx" } }),
        )
    };
    let duplicate = import_legacy().await;
    assert_eq!(
        duplicate.error_code(),
        "INVALID_INPUT",
        "{:?}",
        duplicate.body
    );
    assert_eq!(
        duplicate.body["errors"][0]["extensions"]["field"],
        "input.sha256"
    );
    let message = duplicate.error_message();
    assert!(
        !message.contains("exist") && !message.contains("already"),
        "{message}"
    );
    let audit = app
        .gql(
            &bob.pat,
            "query($o: ID!) { auditEvents(organizationId: $o) { nodes { action targetName } } }",
            json!({ "o": bob.org_id }),
        )
        .await
        .data();
    let refused = audit["auditEvents"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "api_key.import_refused")
        .count();
    assert_eq!(refused, 1, "{audit}");
    // Past the allowance the address is held back, as for guessed verifications.
    // (The two guessed verifications above count too.)
    let allowance = app.services().config.failed_verifications_per_minute;
    let mut attempts = 1;
    let held = loop {
        let answer = import_legacy().await;
        attempts += 1;
        if answer.error_code() == "RATE_LIMITED" || attempts > allowance {
            break answer;
        }
        assert_eq!(answer.error_code(), "INVALID_INPUT", "{:?}", answer.body);
    };
    // The admin's PAT still works (it is a real credential); the import is refused.
    assert_eq!(held.error_code(), "RATE_LIMITED", "{:?}", held.body);
    assert!(attempts + 2 >= allowance, "held back after {attempts}");
    app.finish().await;
}

async fn post_verify_checks_required_scopes(db: Db) {
    let app = TestApp::spawn(db).await;
    let admin = app.bootstrap("ada@example.com").await;
    let (_, secret) = app
        .create_key(
            &admin.pat,
            json!({ "organizationId": admin.org_id, "name": "reader", "scopes": ["api_keys:read", "usage:write"] }),
        )
        .await;
    let (status, body) = app
        .verify_body(json!({ "key": secret, "require": ["api_keys:read", "usage:read"] }))
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["valid"], true, "{body}");
    assert_eq!(body["code"], "VALID");
    assert_eq!(body["organization"]["id"], admin.org_id);

    let (status, body) = app
        .verify_body(json!({ "key": secret, "require": ["api_keys:write"] }))
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["valid"], false);
    assert_eq!(body["code"], "INSUFFICIENT_PERMISSIONS");
    assert_eq!(body["missing"], json!(["api_keys:write"]));
    assert_eq!(
        body["key"]["name"], "reader",
        "a live key is still described"
    );

    // A PAT is checked against its user's role in the named organization.
    let (_, body) = app
        .verify_body(json!({ "key": admin.pat, "require": ["members:admin"], "organization_id": admin.org_id }))
        .await;
    assert_eq!(body["code"], "VALID", "{body}");
    let (_, body) = app
        .verify_body(json!({ "key": admin.pat, "require": ["members:admin"] }))
        .await;
    assert_eq!(body["code"], "INSUFFICIENT_PERMISSIONS", "{body}");

    // Always 200 (SPEC §4.2): a PAT checked in an organization whose lifetime policy
    // refuses it holds nothing there, and in a suspended one it is refused.
    app.gql(
        &admin.pat,
        "mutation($i: UpdateOrganizationSettingsInput!) { updateOrganizationSettings(input: $i) { patMaxLifetimeDays } }",
        json!({ "i": { "organizationId": admin.org_id, "patMaxLifetimeDays": 1 } }),
    )
    .await
    .data();
    let (status, body) = app
        .verify_body(json!({ "key": admin.pat, "require": ["members:read"], "organization_id": admin.org_id }))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["code"], "INSUFFICIENT_PERMISSIONS", "{body}");
    app.gql(
        &admin.pat,
        "mutation($i: SuspendOrganizationInput!) { suspendOrganization(input: $i) { id } }",
        json!({ "i": { "organizationId": admin.org_id, "reason": "checking refusals" } }),
    )
    .await
    .data();
    let (status, body) = app
        .verify_body(json!({ "key": admin.pat, "organization_id": admin.org_id }))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        (&body["valid"], &body["code"]),
        (&json!(false), &json!("SUSPENDED")),
        "{body}"
    );
    app.finish().await;
}

async fn post_verify_rejects_malformed_bodies(db: Db) {
    let app = TestApp::spawn(db).await;
    let url = format!("{}/api/v1/keys/verify", app.base);
    for (body, mention) in [
        ("{not json", "body"),
        ("{}", "key"),
        ("{\"key\": 5}", "key: expected a string"),
        (
            "{\"key\": \"x\", \"expect\": [null, null]}",
            "expect: expected an object, found an array",
        ),
        ("[\"x\"]", "body: expected an object"),
        ("{\"key\": \"x\", \"require\": [\"nope\"]}", "require[0]"),
        ("{\"key\": \"x\", \"extra\": 1}", "extra"),
    ] {
        let response = app.client.post(&url).body(body).send().await.unwrap();
        assert_eq!(response.status(), 400, "{body}");
        assert_eq!(
            response.headers()["content-type"],
            "application/problem+json"
        );
        let problem: serde_json::Value = response.json().await.unwrap();
        assert_eq!(problem["code"], "INVALID_INPUT");
        assert!(
            problem["detail"].as_str().unwrap().contains(mention),
            "{body}: {problem}"
        );
    }
    let huge = format!("{{\"key\": \"{}\"}}", "a".repeat(200 * 1024));
    // A separate connection: the server answers 413 without reading the body, then closes it.
    let response = reqwest::Client::new()
        .post(&url)
        .body(huge)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 413);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    let (status, body) = app.verify_body(json!({ "key": "kw_pat_nope" })).await;
    assert_eq!(status, 200);
    assert_eq!(body["code"], "MALFORMED");
    app.finish().await;
}

async fn rate_limited_keys_get_429(db: Db) {
    let app = TestApp::spawn(db).await;
    let admin = app.bootstrap("ada@example.com").await;
    let (_, secret) = app
        .create_key(
            &admin.pat,
            json!({ "organizationId": admin.org_id, "name": "slow", "rateLimitPerMinute": 2 }),
        )
        .await;
    let (_, headers, body) = app.verify(Header::Bearer, &secret).await;
    assert_eq!(body["ratelimit"]["limit"], 2);
    assert_eq!(body["ratelimit"]["remaining"], 1);
    assert_eq!(headers["ratelimit-policy"], "\"per-minute\";q=2;w=60");
    assert_eq!(app.verify(Header::Bearer, &secret).await.0, 200);
    let (status, headers, body) = app.verify(Header::Bearer, &secret).await;
    assert_eq!(status, 429);
    assert_eq!(body["code"], "RATE_LIMITED");
    let retry: u64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
    assert!(headers.contains_key("ratelimit"));
    let (_, body) = app.verify_body(json!({ "key": secret })).await;
    assert_eq!(body["code"], "RATE_LIMITED");
    assert_eq!(body["valid"], false);
    app.finish().await;
}

async fn project_keys_report_their_project(db: Db) {
    let app = TestApp::spawn(db).await;
    let admin = app.bootstrap("ada@example.com").await;
    let (_, secret) = app
        .create_key(
            &admin.pat,
            json!({ "organizationId": admin.org_id, "projectId": admin.project_id, "name": "uploads", "environment": "TEST" }),
        )
        .await;
    assert!(secret.starts_with("kw_sk_test_"));
    let (status, _, body) = app.verify(Header::ApiKey, &secret).await;
    assert_eq!(status, 200);
    assert_eq!(body["project"]["id"], admin.project_id);
    assert!(
        body["project"]["namespace"]
            .as_str()
            .unwrap()
            .ends_with("_default")
    );
    assert_eq!(body["key"]["environment"], "test");

    // The key sees only its own project.
    let r = app
        .gql(
            &secret,
            "query($o: ID!) { organization(id: $o) { projects { id } } }",
            json!({ "o": admin.org_id }),
        )
        .await
        .data();
    assert_eq!(r["organization"]["projects"].as_array().unwrap().len(), 1);
    app.finish().await;
}

async fn suspended_and_removed_owners(db: Db) {
    let app = TestApp::spawn(db).await;
    let admin = app.bootstrap("ada@example.com").await;
    let bob = app.bootstrap("bob@example.com").await;
    let (_, ada_key) = app
        .create_key(
            &admin.pat,
            json!({ "organizationId": admin.org_id, "name": "a" }),
        )
        .await;
    let (_, bob_key) = app
        .create_key(
            &bob.pat,
            json!({ "organizationId": bob.org_id, "name": "b" }),
        )
        .await;
    let (_, org_key) = app
        .create_key(
            &bob.pat,
            json!({ "organizationId": bob.org_id, "name": "c" }),
        )
        .await;

    // Change owners behind the API (suspension and membership changes have their own
    // operations); the keys were never verified, so nothing is cached.
    let ada: uuid::Uuid = app
        .gql(&admin.pat, "{ me { user { id } } }", json!({}))
        .await
        .data()["me"]["user"]["id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    app.exec(
        "UPDATE customers SET suspended_at = ? WHERE id = ?",
        vec![chrono::Utc::now().into(), ada.into()],
    )
    .await;
    let (status, _, body) = app.verify(Header::Bearer, &ada_key).await;
    assert_eq!(
        (status.as_u16(), body["code"].as_str()),
        (401, Some("SUSPENDED"))
    );
    // The PAT was used above and is cached; dropping the cache is what suspension does.
    app.services().verifier.invalidate_all();
    let (status, _, body) = app.verify(Header::Bearer, &admin.pat).await;
    assert_eq!(
        (status.as_u16(), body["code"].as_str()),
        (401, Some("SUSPENDED"))
    );

    let bob_org: uuid::Uuid = bob.org_id.parse().unwrap();
    app.exec(
        "DELETE FROM memberships WHERE organization_id = ?",
        vec![bob_org.into()],
    )
    .await;
    let (status, _, body) = app.verify(Header::Bearer, &bob_key).await;
    assert_eq!(
        (status.as_u16(), body["code"].as_str()),
        (401, Some("OWNER_REMOVED"))
    );

    app.exec(
        "UPDATE organizations SET suspended_at = ? WHERE id = ?",
        vec![chrono::Utc::now().into(), bob_org.into()],
    )
    .await;
    let (_, body) = app.verify_body(json!({ "key": org_key })).await;
    assert_eq!(body, json!({ "valid": false, "code": "SUSPENDED" }));
    app.finish().await;
}

/// A server allowing 5 failed verifications a minute per address, its admin, a real
/// key and a revoked one.
async fn guarded_app_with_keys(db: Db) -> (TestApp, tests::Admin, String, String) {
    let app = TestApp::spawn_with(db, |c| c.failed_verifications_per_minute = 5).await;
    let admin = app.bootstrap("ada@example.com").await;
    let key = |name: &str| json!({ "organizationId": admin.org_id, "name": name });
    let (_, real) = app.create_key(&admin.pat, key("real")).await;
    let (old_id, revoked) = app.create_key(&admin.pat, key("revoked")).await;
    app.gql(
        &admin.pat,
        "mutation($i: RevokeApiKeyInput!) { revokeApiKey(input: $i) { id } }",
        json!({ "i": { "id": old_id } }),
    )
    .await
    .data();
    (app, admin, real, revoked)
}

/// Guessing is slowed down: past its allowance of failed verifications, an address's
/// guesses are refused with 429 and `Retry-After`; real keys that are revoked do not
/// count as guesses (SPEC §10).
async fn failed_verifications_are_limited_per_address(db: Db) {
    let (app, _, secret, revoked) = guarded_app_with_keys(db).await;
    for _ in 0..10 {
        let (status, _, body) = app.verify(Header::XApiKey, &revoked).await;
        assert_eq!(
            (status.as_u16(), body["code"].as_str()),
            (401, Some("REVOKED"))
        );
    }

    // Five guesses are answered; the sixth spends the allowance; then the address waits.
    let mut guesses = 0;
    let mut held = None;
    for i in 0..20 {
        let guess = if i % 2 == 0 {
            "kw_sk_live_not-a-key".to_owned()
        } else {
            format!("{secret}x")
        };
        let (status, headers, body) = app.verify(Header::XApiKey, &guess).await;
        if status == 429 {
            held = Some((headers, body));
            break;
        }
        assert_eq!(status, 401, "{body}");
        guesses += 1;
    }
    let (headers, body) = held.expect("guessing is held back");
    assert_eq!(
        guesses, 6,
        "the allowance is 5 a minute, and the sixth still answered"
    );
    assert_eq!(body["code"], "RATE_LIMITED");
    let retry: u64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
    assert!(headers.contains_key("ratelimit-policy"));
    // Once the allowance refills, guesses are answered again.
    app.services()
        .clock
        .advance(std::time::Duration::from_secs(retry + 1));
    let (status, _, body) = app.verify(Header::XApiKey, "kw_sk_live_not-a-key").await;
    assert_eq!(status, 401, "{body}");
    app.finish().await;
}

/// A product relays every one of its users' keys from its one backend address (SPEC
/// §4.2). However many made-up keys its users send through it, and however long they keep
/// it up, a key that exists is answered on its own merits, on both verify routes and as a
/// GraphQL credential; only the made-up keys are refused.
async fn a_relay_never_locks_out_real_keys(db: Db) {
    let (app, admin, real, revoked) = guarded_app_with_keys(db).await;
    let made_up = || {
        app.services()
            .tokens
            .generate(backend::token::TokenKind::ApiKeyLive)
            .unwrap()
            .token
            .expose_secret()
            .to_owned()
    };

    // Many more made-up keys than the allowance, checksummed and not, between real ones.
    let mut refused_guesses = 0;
    for round in 0..60 {
        let guess = if round % 3 == 0 {
            format!("{real}x")
        } else {
            made_up()
        };
        let (status, _, body) = app.verify(Header::XApiKey, &guess).await;
        assert!([401, 429].contains(&status.as_u16()), "{status} {body}");
        refused_guesses += usize::from(status == 429);
        let (status, body) = app.verify_body(json!({ "key": made_up() })).await;
        assert!([200, 429].contains(&status.as_u16()), "{status} {body}");
        if status == 200 {
            assert_eq!(body["code"], "NOT_FOUND", "{body}");
        }

        let (status, _, body) = app.verify(Header::Bearer, &real).await;
        assert_eq!(status, 200, "round {round}: {body}");
        let (status, body) = app.verify_body(json!({ "key": real })).await;
        assert_eq!(status, 200, "round {round}: {body}");
        assert_eq!(body["code"], "VALID", "round {round}: {body}");
        let (status, _, body) = app.verify(Header::ApiKey, &revoked).await;
        assert_eq!(
            (status.as_u16(), body["code"].as_str()),
            (401, Some("REVOKED")),
            "round {round}: a real key's own answer"
        );
        let (_, body) = app.verify_body(json!({ "key": revoked })).await;
        assert_eq!(body["code"], "REVOKED", "round {round}: {body}");
    }
    assert!(
        refused_guesses > 40,
        "the guesses were held back: {refused_guesses}"
    );
    // Real credentials act over GraphQL from the held-back address too.
    let me = app
        .gql(&admin.pat, "{ me { user { email } } }", json!({}))
        .await
        .data();
    assert_eq!(me["me"]["user"]["email"], "ada@example.com");
    let org = app
        .gql(
            &real,
            "query($o: ID!) { organization(id: $o) { id } }",
            json!({ "o": admin.org_id }),
        )
        .await
        .data();
    assert_eq!(org["organization"]["id"], admin.org_id.as_str());
    app.finish().await;
}

/// Behind a trusted reverse proxy, `X-Forwarded-For` names the client: each client has
/// its own allowance of failed verifications, and audit events record its address.
/// From anyone else the header is ignored.
async fn trusted_proxies_name_the_client(db: Db) {
    let app = TestApp::spawn_with(db, |c| {
        c.failed_verifications_per_minute = 2;
        c.trusted_proxies = vec!["127.0.0.1".parse().unwrap()];
    })
    .await;
    let guess = |client: &'static str| {
        app.client
            .get(format!("{}/api/v1/api-keys/verify", app.base))
            .header("x-api-key", "kw_sk_live_not-a-key")
            .header("x-forwarded-for", format!("198.51.100.1, {client}"))
            .send()
    };
    let mut statuses = Vec::new();
    for _ in 0..4 {
        statuses.push(guess("203.0.113.7").await.unwrap().status().as_u16());
    }
    assert_eq!(
        statuses,
        [401, 401, 401, 429],
        "one client spends its allowance"
    );
    assert_eq!(
        guess("203.0.113.8").await.unwrap().status(),
        401,
        "another client behind the same proxy has its own"
    );

    // The audit trail records the client, not the proxy.
    let admin = app.bootstrap("ada@example.com").await;
    let created = app
        .client
        .post(format!("{}/graphql", app.base))
        .bearer_auth(&admin.pat)
        .header("x-forwarded-for", "203.0.113.9")
        .json(&json!({
            "query": "mutation($i: CreateApiKeyInput!) { createApiKey(input: $i) { apiKey { id } } }",
            "variables": { "i": { "organizationId": admin.org_id, "name": "via proxy" } },
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 200);
    let events = app
        .gql(
            &admin.pat,
            "query($o: ID!) { auditEvents(organizationId: $o, filter: { action: \"api_key.create\" }) { nodes { ip } } }",
            json!({ "o": admin.org_id }),
        )
        .await
        .data();
    assert_eq!(events["auditEvents"]["nodes"][0]["ip"], "203.0.113.9");
    app.finish().await;

    // Without trusted proxies the header is only a claim, and ignored.
    let app = TestApp::spawn_with(db, |c| c.failed_verifications_per_minute = 2).await;
    let mut statuses = Vec::new();
    for client in ["203.0.113.1", "203.0.113.2", "203.0.113.3", "203.0.113.4"] {
        let status = app
            .client
            .get(format!("{}/api/v1/api-keys/verify", app.base))
            .header("x-api-key", "kw_sk_live_not-a-key")
            .header("x-forwarded-for", client)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16();
        statuses.push(status);
    }
    assert_eq!(statuses, [401, 401, 401, 429]);
    app.finish().await;
}

/// A deployment issues the exact token shapes its docs promise (SPEC §3): KubeVision's
/// `kv_live_…`, KiCI's `kici_sk_…`, `kici_pat_…` and `kici_sa_…`; each verifies, and the
/// default shape is not accepted there.
async fn each_seed_gets_its_token_shape(db: Db) {
    let kv = TestApp::spawn_with(db, |c| {
        c.token_prefix = "kv".into();
        c.token_tags =
            backend::token::TokenTags::parse("api_key_live=live,api_key_test=test").unwrap();
    })
    .await;
    let owner = kv.user("ops@kubevision.example").await;
    assert!(owner.pat.starts_with("kv_pat_"), "{}", &owner.pat[..8]);
    for (environment, start) in [("LIVE", "kv_live_"), ("TEST", "kv_test_")] {
        let (_, secret) = kv
            .create_key(
                &owner.pat,
                json!({ "organizationId": owner.org_id, "name": "k", "environment": environment }),
            )
            .await;
        assert!(secret.starts_with(start), "{}", &secret[..start.len()]);
        let (status, _, body) = kv.verify(Header::ApiKey, &secret).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(
            body["key"]["prefix"].as_str().unwrap().len(),
            start.len() + 4
        );
    }
    let (status, _, body) = kv
        .verify(
            Header::Bearer,
            "kw_sk_live_0123456789abcdefghijklmnopqrstuv012345",
        )
        .await;
    assert_eq!(
        (status.as_u16(), body["code"].as_str()),
        (401, Some("MALFORMED"))
    );
    kv.finish().await;

    // KV Cache Store: `kv_` + 32 characters (26 random, 6 checksum), no tag.
    let store = TestApp::spawn_with(db, |c| {
        c.token_prefix = "kv".into();
        c.token_tags = backend::token::TokenTags::parse("api_key_live=").unwrap();
        c.token_random_length = 26;
    })
    .await;
    let owner = store.user("ops@kvcache.example").await;
    assert!(owner.pat.starts_with("kv_pat_"), "{}", &owner.pat[..7]);
    let (_, secret) = store
        .create_key(
            &owner.pat,
            json!({ "organizationId": owner.org_id, "name": "cache" }),
        )
        .await;
    assert_eq!(secret.len(), "kv_".len() + 32);
    assert!(secret.starts_with("kv_") && !secret[3..].contains('_'));
    let (status, _, body) = store.verify(Header::XApiKey, &secret).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["key"]["kind"], "api_key");
    let (status, _, _) = store.verify(Header::Bearer, &owner.pat).await;
    assert_eq!(status, 200, "the PAT keeps its tag and length");
    store.finish().await;

    let kici = TestApp::spawn_with(db, |c| {
        c.token_prefix = "kici".into();
        c.token_tags =
            backend::token::TokenTags::parse("api_key_live=sk,api_key_test=test").unwrap();
    })
    .await;
    let owner = kici.user("dev@kici.example").await;
    assert!(owner.pat.starts_with("kici_pat_"));
    let (_, key) = kici
        .create_key(
            &owner.pat,
            json!({ "organizationId": owner.org_id, "name": "ci" }),
        )
        .await;
    assert!(key.starts_with("kici_sk_"));
    let viewer = kici.role_id(&owner.pat, &owner.org_id, "viewer").await;
    let account = kici
        .gql(
            &owner.pat,
            "mutation($i: CreateServiceAccountInput!) { createServiceAccount(input: $i) { id } }",
            json!({ "i": { "organizationId": owner.org_id, "name": "runner", "roleId": viewer } }),
        )
        .await
        .data();
    let sa = kici
        .gql(
            &owner.pat,
            "mutation($i: CreateServiceAccountKeyInput!) { createServiceAccountKey(input: $i) { secret } }",
            json!({ "i": { "serviceAccountId": account["createServiceAccount"]["id"], "name": "k" } }),
        )
        .await
        .data();
    let sa = sa["createServiceAccountKey"]["secret"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(sa.starts_with("kici_sa_"));
    for (token, kind) in [
        (&owner.pat, "pat"),
        (&key, "api_key"),
        (&sa, "service_account_key"),
    ] {
        let (status, _, body) = kici.verify(Header::Bearer, token).await;
        assert_eq!(
            (status.as_u16(), body["key"]["kind"].as_str()),
            (200, Some(kind)),
            "{body}"
        );
    }
    kici.finish().await;
}

/// A well-formed token that names nothing is answered from memory the next time, until a
/// key with that token is imported (or created), which is then found at once.
async fn unknown_tokens_are_remembered_briefly(db: Db) {
    let app = TestApp::spawn(db).await;
    let admin = app.bootstrap("ada@example.com").await;
    let services = app.services();
    // A token of this deployment's shape that was never stored.
    let unknown = services
        .tokens
        .generate(backend::token::TokenKind::ApiKeyLive)
        .unwrap();
    let unknown = unknown.token.expose_secret().to_owned();
    // On PostgreSQL, memory is used once the node hears the others.
    for _ in 0..200 {
        if services.verifier.is_trusted() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let (status, _, body) = app.verify(Header::Bearer, &unknown).await;
    assert_eq!(
        (status.as_u16(), body["code"].as_str()),
        (401, Some("NOT_FOUND"))
    );
    let lookups = services.verifier.lookups();
    let (status, _, body) = app.verify(Header::Bearer, &unknown).await;
    assert_eq!(
        (status.as_u16(), body["code"].as_str()),
        (401, Some("NOT_FOUND"))
    );
    assert_eq!(
        services.verifier.lookups(),
        lookups,
        "answered without the database"
    );

    // An imported system's key presented before its import, then imported: found.
    let first = "vc_00000000000000000000000000000000";
    let later = "vc_11111111111111111111111111111111";
    let import = "mutation($i: ImportApiKeyInput!) { importApiKey(input: $i) { id } }";
    let input = |token: &str, name: &str| {
        json!({ "i": {
        "organizationId": admin.org_id, "name": name,
        "sha256": tests::sha256_hex(token), "prefix": "vc_",
    } })
    };
    app.gql(&admin.pat, import, input(first, "first"))
        .await
        .data();
    assert_eq!(
        app.verify(Header::Bearer, later).await.2["code"],
        "NOT_FOUND"
    );
    assert_eq!(
        app.verify(Header::Bearer, later).await.2["code"],
        "NOT_FOUND"
    );
    app.gql(&admin.pat, import, input(later, "later"))
        .await
        .data();
    let (status, _, body) = app.verify(Header::Bearer, later).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["key"]["name"], "later");
    app.finish().await;
}

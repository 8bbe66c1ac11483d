//! The leaked-key receiver (SPEC §16) as a secret scanner calls it: reports signed with
//! ECDSA P-256 by a key served from the scanner's keys URL (a server of the test's own),
//! a real key revoked (or flagged, per its organization's policy), made-up tokens labelled
//! false positives, and unsigned or mis-signed reports refused without effect.

use std::sync::{
    Arc,
    atomic::{AtomicUsize, Ordering},
};

use base64::{Engine, engine::general_purpose::STANDARD};
use p256::ecdsa::{DerSignature, SigningKey, signature::Signer};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tests::{Db, TestApp};

use super::webhooks::{Receiver, register};

db_tests!(
    a_signed_report_revokes_a_real_key_and_labels_made_up_tokens,
    an_organization_that_flags_keeps_its_leaked_key_working,
);

pub const KEY_ID: &str = "90a421169f0a406205f1563a953312f0be898d3c7b6c06b681aa86a874555f4a";

/// The scanner's signing key (fixed: a test's), and a server of its public keys that
/// counts how often it is asked.
pub struct Scanner {
    key: SigningKey,
    pub keys_url: String,
    fetched: Arc<AtomicUsize>,
}

impl Scanner {
    pub async fn start() -> Self {
        let key = SigningKey::from_bytes(&[7u8; 32].into()).unwrap();
        let pem = p256::pkcs8::EncodePublicKey::to_public_key_pem(
            key.verifying_key(),
            p256::pkcs8::LineEnding::LF,
        )
        .unwrap();
        let document = json!({ "public_keys": [
            { "key_identifier": KEY_ID, "key": pem, "is_current": true },
        ] });
        let fetched = Arc::new(AtomicUsize::new(0));
        let count = fetched.clone();
        let app = axum::Router::new().route(
            "/meta/public_keys/secret_scanning",
            axum::routing::get(move || {
                count.fetch_add(1, Ordering::SeqCst);
                let document = document.clone();
                async move { axum::Json(document) }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let keys_url = format!(
            "http://{}/meta/public_keys/secret_scanning",
            listener.local_addr().unwrap()
        );
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self {
            key,
            keys_url,
            fetched,
        }
    }

    pub fn sign(&self, body: &[u8]) -> String {
        let signature: DerSignature = self.key.sign(body);
        STANDARD.encode(signature.as_bytes())
    }
}

/// Posts `body` with the given key identifier and signature.
pub async fn report(
    app: &TestApp,
    body: &str,
    key_id: &str,
    signature: &str,
) -> (StatusCode, Value) {
    let response = app
        .client
        .post(format!("{}/api/v1/secret-scanning", app.base))
        .header("content-type", "application/json")
        .header("Github-Public-Key-Identifier", key_id)
        .header("Github-Public-Key-Signature", signature)
        .body(body.to_owned())
        .send()
        .await
        .unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

pub fn found_at(token: &str) -> Value {
    json!({
        "token": token,
        "type": "keyward_api_key",
        "url": "https://github.com/acme/app/blob/abc123/.env",
        "source": "content",
    })
}

async fn leak_audits(app: &TestApp, pat: &str, org: &str) -> Vec<Value> {
    let r = app
        .gql(
            pat,
            "query($o: ID!) { auditEvents(organizationId: $o, first: 100) { nodes { action actorType details } } }",
            json!({ "o": org }),
        )
        .await
        .data();
    r["auditEvents"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "api_key.leak")
        .cloned()
        .collect()
}

async fn a_signed_report_revokes_a_real_key_and_labels_made_up_tokens(db: Db) {
    let scanner = Scanner::start().await;
    let keys_url = scanner.keys_url.clone();
    let app = TestApp::spawn_with(db, move |c| c.secret_scanning_keys_url = keys_url).await;
    let owner = app.user("owner@example.com").await;
    let mut receiver = Receiver::start().await;
    let (_, webhook_secret) = register(
        &app,
        &owner,
        &receiver.url,
        &["api_key.leaked", "api_key.revoked"],
    )
    .await;
    let (key, secret) = app
        .create_key(
            &owner.pat,
            json!({ "organizationId": owner.org_id, "name": "committed" }),
        )
        .await;
    // Right shape, wrong checksum; and no shape at all.
    let mut made_up = secret.clone();
    let last = made_up.pop().unwrap();
    made_up.push(if last == 'A' { 'B' } else { 'A' });
    let body = json!([found_at(&secret), found_at(&made_up), found_at("hunter2")]).to_string();

    // Not signed, signed by another body, or by a key the scanner does not have: refused,
    // and nothing happens.
    let forged = scanner.sign(b"[]");
    for (key_id, signature) in [
        ("", ""),
        (KEY_ID, forged.as_str()),
        (KEY_ID, "bm90IGEgc2lnbmF0dXJl"),
        ("another-key", scanner.sign(body.as_bytes()).as_str()),
    ] {
        let (status, problem) = report(&app, &body, key_id, signature).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{problem}");
        assert!(!problem.to_string().contains(&secret));
    }
    let (_, answer) = app.verify_body(json!({ "key": secret })).await;
    assert_eq!(answer["code"], "VALID", "{answer}");
    assert!(
        leak_audits(&app, &owner.pat, &owner.org_id)
            .await
            .is_empty()
    );
    assert_eq!(
        scanner.fetched.load(Ordering::SeqCst),
        1,
        "an unknown key id fetches the keys at most once a minute"
    );

    // Signed: the real key is a true positive and revoked; the others are not ours.
    let (status, verdicts) = report(&app, &body, KEY_ID, &scanner.sign(body.as_bytes())).await;
    assert_eq!(status, StatusCode::OK, "{verdicts}");
    let labels: Vec<&str> = verdicts
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["label"].as_str().unwrap())
        .collect();
    assert_eq!(
        labels,
        ["true_positive", "false_positive", "false_positive"]
    );
    assert_eq!(verdicts[0]["token_hash"], tests::sha256_hex(&secret));
    assert_eq!(verdicts[0]["token_type"], "keyward_api_key");
    assert!(
        !verdicts.to_string().contains(&secret),
        "no token sent back"
    );
    let (_, answer) = app.verify_body(json!({ "key": secret })).await;
    assert_eq!(answer["code"], "REVOKED", "{answer}");

    // Audited as the server's own act, announced, and the payload names where it was
    // found, never the token.
    let audits = leak_audits(&app, &owner.pat, &owner.org_id).await;
    assert_eq!(audits.len(), 1, "{audits:?}");
    assert_eq!(audits[0]["actorType"], "system");
    assert_eq!(audits[0]["details"]["policy"], "revoke");
    // Webhooks promise no order: the two arrive either way round.
    let mut got = [
        receiver.next(&webhook_secret).await,
        receiver.next(&webhook_secret).await,
    ];
    got.sort_by_key(|g| g.json["type"].as_str().unwrap().to_owned());
    let [leaked, revoked] = got;
    assert_eq!(leaked.json["type"], "api_key.leaked", "{}", leaked.json);
    assert_eq!(leaked.json["data"]["id"], key.as_str());
    assert_eq!(
        leaked.json["data"]["url"],
        "https://github.com/acme/app/blob/abc123/.env"
    );
    assert_eq!(revoked.json["type"], "api_key.revoked", "{}", revoked.json);
    for got in [&leaked, &revoked] {
        assert!(!String::from_utf8_lossy(&got.body).contains(&secret));
    }
    let r = app
        .gql(
            &owner.pat,
            "query($i: ID!) { apiKey(id: $i) { leakedAt revokedReason } }",
            json!({ "i": key }),
        )
        .await
        .data();
    assert!(r["apiKey"]["leakedAt"].is_string(), "{r}");
    assert_eq!(
        r["apiKey"]["revokedReason"],
        "leaked: found in public by a secret scanner"
    );

    // Reported again (scanners do): the same answer, and nothing done twice.
    let (status, again) = report(&app, &body, KEY_ID, &scanner.sign(body.as_bytes())).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(again[0]["label"], "true_positive");
    assert_eq!(leak_audits(&app, &owner.pat, &owner.org_id).await.len(), 1);
    receiver.nothing_more().await;

    // Over the bound: refused before any lookup.
    let many: Vec<Value> = (0..101).map(|i| found_at(&format!("t{i}"))).collect();
    let many = Value::Array(many).to_string();
    let (status, problem) = report(&app, &many, KEY_ID, &scanner.sign(many.as_bytes())).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{problem}");
    app.finish().await;
}

async fn an_organization_that_flags_keeps_its_leaked_key_working(db: Db) {
    let scanner = Scanner::start().await;
    let keys_url = scanner.keys_url.clone();
    let app = TestApp::spawn_with(db, move |c| c.secret_scanning_keys_url = keys_url).await;
    let owner = app.user("owner@example.com").await;
    let r = app
        .gql(
            &owner.pat,
            "mutation($i: UpdateOrganizationSettingsInput!) { updateOrganizationSettings(input: $i) { leakedKeyPolicy } }",
            json!({ "i": { "organizationId": owner.org_id, "leakedKeyPolicy": "FLAG" } }),
        )
        .await
        .data();
    assert_eq!(r["updateOrganizationSettings"]["leakedKeyPolicy"], "FLAG");
    let mut receiver = Receiver::start().await;
    let (_, webhook_secret) = register(&app, &owner, &receiver.url, &["api_key.leaked"]).await;
    let (key, secret) = app
        .create_key(
            &owner.pat,
            json!({ "organizationId": owner.org_id, "name": "flagged" }),
        )
        .await;
    let body = json!([found_at(&secret)]).to_string();
    let (status, verdicts) = report(&app, &body, KEY_ID, &scanner.sign(body.as_bytes())).await;
    assert_eq!(status, StatusCode::OK, "{verdicts}");
    assert_eq!(verdicts[0]["label"], "true_positive");
    let (_, answer) = app.verify_body(json!({ "key": secret })).await;
    assert_eq!(answer["code"], "VALID", "{answer}");
    let leaked = receiver.next(&webhook_secret).await;
    assert_eq!(leaked.json["type"], "api_key.leaked");
    assert_eq!(leaked.json["data"]["policy"], "flag");
    let (status, out) = app
        .rest(
            reqwest::Method::GET,
            &format!("/orgs/{}/api-keys/{key}", owner.org_id),
            &owner.pat,
            None,
        )
        .await;
    assert_eq!(status, 200, "{out}");
    assert!(out["leaked_at"].is_string(), "{out}");
    assert_eq!(out["status"], "active");

    // The policy turns to revoking: the scanner's next report of the key revokes it, though
    // the key was marked leaked already.
    app.gql(
        &owner.pat,
        "mutation($i: UpdateOrganizationSettingsInput!) { updateOrganizationSettings(input: $i) { id } }",
        json!({ "i": { "organizationId": owner.org_id, "leakedKeyPolicy": "REVOKE" } }),
    )
    .await
    .data();
    let (status, verdicts) = report(&app, &body, KEY_ID, &scanner.sign(body.as_bytes())).await;
    assert_eq!(status, StatusCode::OK, "{verdicts}");
    let (_, answer) = app.verify_body(json!({ "key": secret })).await;
    assert_eq!(answer["code"], "REVOKED", "{answer}");
    app.finish().await;
}

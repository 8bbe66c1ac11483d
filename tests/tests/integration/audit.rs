//! The audit log (SPEC §9): every mutation recorded with actor and agent, no secrets,
//! filters, pagination and an intact hash chain.

use entity::{audit_event, prelude::AuditEvent};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use serde_json::json;
use tests::{Db, TestApp};

db_tests!(
    mutations_are_audited_without_secrets,
    audit_filters_and_pages,
    hash_chain_detects_tampering
);

const EVENTS: &str = "query($o: ID!, $f: AuditEventFilter, $first: Int, $after: String) {
  auditEvents(organizationId: $o, filter: $f, first: $first, after: $after) {
    totalCount pageInfo { hasNextPage endCursor }
    nodes { seq action actorType actorName agent targetType targetId targetName details ip requestId hash prevHash }
  }
}";

async fn mutations_are_audited_without_secrets(db: Db) {
    let app = TestApp::spawn(db).await;
    let admin = app.bootstrap("ada@example.com").await;
    let (id, secret) = app
        .create_key(
            &admin.pat,
            json!({ "organizationId": admin.org_id, "name": "audited" }),
        )
        .await;
    // The key itself acts: the event names the owner, with the key's name as agent.
    app.gql(
        &secret,
        "mutation($i: RenameApiKeyInput!) { renameApiKey(input: $i) { id } }",
        json!({ "i": { "id": id, "name": "audited-2" } }),
    )
    .await
    .data();
    let r = app
        .gql(
            &admin.pat,
            "mutation($i: RotateApiKeyInput!) { rotateApiKey(input: $i) { secret } }",
            json!({ "i": { "id": id, "gracePeriodSeconds": 60 } }),
        )
        .await
        .data();
    let rotated = r["rotateApiKey"]["secret"].as_str().unwrap().to_owned();
    app.gql(
        &admin.pat,
        "mutation($i: ApiKeyInput!) { disableApiKey(input: $i) { id } }",
        json!({ "i": { "id": id } }),
    )
    .await
    .data();
    app.gql(
        &admin.pat,
        "mutation($i: RevokeApiKeyInput!) { revokeApiKey(input: $i) { id } }",
        json!({ "i": { "id": id, "reason": "done" } }),
    )
    .await
    .data();

    let log = app
        .gql(&admin.pat, EVENTS, json!({ "o": admin.org_id }))
        .await
        .data();
    let events = log["auditEvents"]["nodes"].as_array().unwrap();
    let actions: Vec<&str> = events
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            // The key was still in its grace period: its successor went with it.
            "api_key.revoke",
            "api_key.revoke",
            "api_key.disable",
            "api_key.rotate",
            "api_key.rename",
            "api_key.create",
            "project.create",
            "organization.create"
        ]
    );
    let rename = &events[4];
    assert_eq!(rename["actorType"], "api_key");
    assert_eq!(rename["actorName"], "ada@example.com");
    assert_eq!(rename["agent"], "audited");
    assert_eq!(
        rename["details"],
        json!({ "from": "audited", "to": "audited-2" })
    );
    assert_eq!(rename["ip"], "127.0.0.1");
    assert!(rename["requestId"].is_string());
    let create = &events[5];
    assert_eq!(create["actorType"], "pat");
    assert_eq!(create["agent"], "bootstrap");
    assert_eq!(create["targetId"], id);
    assert_eq!(events[1]["details"]["reason"], "done");
    assert_eq!(events[1]["targetId"], id);
    assert_eq!(events[0]["details"]["predecessor_id"], id);
    assert_eq!(events[0]["details"]["reason"], "done");
    // The access log names the owner, with the key as agent.
    let logs = tests::captured_logs();
    let line = logs
        .lines()
        .find(|l| l.contains("authenticated request") && l.contains(&format!("credential={id}")))
        .unwrap_or_else(|| panic!("no access log line for key {id}"));
    assert!(
        line.contains("ada@example.com") && line.contains("agent=audited"),
        "{line}"
    );
    let text = log.to_string();
    for s in [&secret, &rotated, &admin.pat] {
        assert!(!text.contains(s.as_str()), "an audit event holds a secret");
    }
    app.finish().await;
}

async fn audit_filters_and_pages(db: Db) {
    let app = TestApp::spawn(db).await;
    let admin = app.bootstrap("ada@example.com").await;
    let (id, _) = app
        .create_key(
            &admin.pat,
            json!({ "organizationId": admin.org_id, "name": "a" }),
        )
        .await;
    app.create_key(
        &admin.pat,
        json!({ "organizationId": admin.org_id, "name": "b" }),
    )
    .await;
    let by_action = app
        .gql(
            &admin.pat,
            EVENTS,
            json!({ "o": admin.org_id, "f": { "action": "api_key.create" } }),
        )
        .await
        .data();
    assert_eq!(by_action["auditEvents"]["totalCount"], 2);
    let by_target = app
        .gql(
            &admin.pat,
            EVENTS,
            json!({ "o": admin.org_id, "f": { "targetId": id } }),
        )
        .await
        .data();
    assert_eq!(by_target["auditEvents"]["totalCount"], 1);
    let future = (chrono::Utc::now() + chrono::TimeDelta::hours(1)).to_rfc3339();
    let later = app
        .gql(
            &admin.pat,
            EVENTS,
            json!({ "o": admin.org_id, "f": { "since": future } }),
        )
        .await
        .data();
    assert_eq!(later["auditEvents"]["totalCount"], 0);
    let page1 = app
        .gql(&admin.pat, EVENTS, json!({ "o": admin.org_id, "first": 3 }))
        .await
        .data();
    assert_eq!(page1["auditEvents"]["pageInfo"]["hasNextPage"], true);
    let cursor = page1["auditEvents"]["pageInfo"]["endCursor"].clone();
    let page2 = app
        .gql(
            &admin.pat,
            EVENTS,
            json!({ "o": admin.org_id, "first": 3, "after": cursor }),
        )
        .await
        .data();
    assert_eq!(page2["auditEvents"]["nodes"].as_array().unwrap().len(), 1);
    assert_eq!(
        page2["auditEvents"]["nodes"][0]["action"],
        "organization.create"
    );
    let stranger = app.bootstrap("eve@example.com").await;
    let denied = app
        .gql(&stranger.pat, EVENTS, json!({ "o": admin.org_id }))
        .await;
    assert_eq!(denied.error_code(), "NOT_A_MEMBER");
    app.finish().await;
}

async fn hash_chain_detects_tampering(db: Db) {
    let app = TestApp::spawn(db).await;
    let admin = app.bootstrap("ada@example.com").await;
    for name in ["a", "b", "c"] {
        app.create_key(
            &admin.pat,
            json!({ "organizationId": admin.org_id, "name": name }),
        )
        .await;
    }
    let org: uuid::Uuid = admin.org_id.parse().unwrap();
    let events = AuditEvent::find()
        .filter(audit_event::Column::OrganizationId.eq(org))
        .order_by_asc(audit_event::Column::Seq)
        .all(app.services().test_db())
        .await
        .unwrap();
    assert_eq!(events.len(), 5);
    assert_eq!(backend::domain::audit::verify_chain(&events), Ok(()));

    let mut edited = events.clone();
    edited[2].details = json!({ "name": "forged" });
    assert_eq!(backend::domain::audit::verify_chain(&edited), Err(3));
    let mut deleted = events.clone();
    deleted.remove(1);
    assert_eq!(backend::domain::audit::verify_chain(&deleted), Err(3));
    app.finish().await;
}

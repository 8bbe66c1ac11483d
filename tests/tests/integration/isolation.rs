//! Tenant isolation, generated from the schema: every query and mutation that takes the
//! id of an organization, project, key, member, role, invite, service account, session or
//! customer is called by a principal of another organization, and every mutation by a
//! viewer of the object's own organization. Each is denied, and the answer for a real id
//! equals the answer for an id that does not exist. An operation taking an id this test
//! does not know fails the test until the table below learns it.

use std::collections::HashMap;

use serde_json::{Value, json};
use tests::{Db, TestApp};

db_tests!(every_id_taking_operation_is_isolated);

const INTROSPECTION: &str = "{ __schema {
  queryType { fields { name args { name type { ...T } } type { ...T } } }
  mutationType { fields { name args { name type { ...T } } type { ...T } } }
  types { name kind inputFields { name type { ...T } } enumValues { name } }
} }
fragment T on __Type { kind name ofType { kind name ofType { kind name ofType { kind name } } } }";

/// The kind of object an id argument names, from its name and its operation.
fn kind_of(op: &str, field: &str) -> Option<&'static str> {
    Some(match field {
        "organizationId" => "organization",
        "projectId" => "project",
        "credentialId" => "api_key",
        "customerId" | "actorId" | "createdById" => "customer",
        "memberId" => "member",
        "roleId" => "role",
        "serviceAccountId" => "service_account",
        "endpointId" => "webhook_endpoint",
        "id" => {
            let op = op.to_lowercase();
            if op.contains("webhookendpoint") {
                "webhook_endpoint"
            } else if op.contains("webhookdeliver") {
                "webhook_delivery"
            } else if op.contains("apikey") || op.contains("credential") {
                "api_key"
            } else if op.contains("identit") {
                "identity"
            } else if op.contains("personalaccesstoken") {
                "pat"
            } else if op.contains("invite") {
                "invite"
            } else if op.contains("role") {
                "role"
            } else if op.contains("serviceaccount") {
                "service_account"
            } else if op.contains("session") {
                "session"
            } else if op.contains("project") {
                "project"
            } else if op.contains("organization") {
                "organization"
            } else {
                return None;
            }
        }
        _ => return None,
    })
}

/// The named type at the bottom of a type reference, and whether it is required.
fn unwrap(t: &Value) -> (&str, &str, bool) {
    let required = t["kind"] == "NON_NULL";
    let mut t = t;
    while t["name"].is_null() {
        t = &t["ofType"];
    }
    (
        t["name"].as_str().unwrap(),
        t["kind"].as_str().unwrap(),
        required,
    )
}

fn is_list(t: &Value) -> bool {
    let mut t = t;
    while t["kind"] == "NON_NULL" {
        t = &t["ofType"];
    }
    t["kind"] == "LIST"
}

struct Schema {
    types: HashMap<String, Value>,
}

impl Schema {
    /// A GraphQL literal for a value of type `t`, with ids from `ids`; `None` for an
    /// optional input the operation does not need. Records every id it placed.
    fn literal(
        &self,
        op: &str,
        name: &str,
        t: &Value,
        ids: &dyn Fn(&str) -> String,
        used: &mut Vec<String>,
    ) -> Option<String> {
        let (type_name, kind, required) = unwrap(t);
        let list = is_list(t);
        let scalar = |s: String| if list { format!("[{s}]") } else { s };
        match (kind, type_name) {
            ("SCALAR", "ID") => {
                if list {
                    return required.then(|| "[]".to_owned());
                }
                let kind = kind_of(op, name).unwrap_or_else(|| {
                    panic!("`{op}` takes an id `{name}` this test does not know: add it to kind_of")
                });
                used.push(name.to_owned());
                Some(format!("\"{}\"", ids(kind)))
            }
            _ if !required && !matches!(kind, "INPUT_OBJECT") => None,
            ("SCALAR", "String") => Some(scalar(if name == "email" {
                "\"someone@example.com\"".into()
            } else if name == "permissions" || name == "scopes" {
                "\"usage:read\"".into()
            } else {
                "\"isolation\"".into()
            })),
            ("SCALAR", "Int") => Some(scalar("60".into())),
            ("SCALAR", "Boolean") => Some(scalar("false".into())),
            ("SCALAR", "DateTime") => Some(scalar("\"2099-01-01T00:00:00Z\"".into())),
            ("ENUM", _) => Some(scalar(
                self.types[type_name]["enumValues"][0]["name"]
                    .as_str()
                    .unwrap()
                    .to_owned(),
            )),
            ("INPUT_OBJECT", _) => {
                let mut fields = Vec::new();
                for f in self.types[type_name]["inputFields"].as_array().unwrap() {
                    let fname = f["name"].as_str().unwrap();
                    if let Some(v) = self.literal(op, fname, &f["type"], ids, used) {
                        fields.push(format!("{fname}: {v}"));
                    }
                }
                if !required && fields.is_empty() {
                    return None;
                }
                Some(format!("{{ {} }}", fields.join(", ")))
            }
            other => panic!("`{op}` argument `{name}` has a type this test cannot fill: {other:?}"),
        }
    }

    /// The document calling `field`, and the names of the ids it carries.
    fn call(
        &self,
        op_kind: &str,
        field: &Value,
        ids: &dyn Fn(&str) -> String,
    ) -> (String, Vec<String>) {
        let op = field["name"].as_str().unwrap();
        let mut used = Vec::new();
        let mut args = Vec::new();
        for a in field["args"].as_array().unwrap() {
            let name = a["name"].as_str().unwrap();
            if let Some(v) = self.literal(op, name, &a["type"], ids, &mut used) {
                args.push(format!("{name}: {v}"));
            }
        }
        let (_, kind, _) = unwrap(&field["type"]);
        let selection = if matches!(kind, "OBJECT" | "INTERFACE" | "UNION") {
            " { __typename }"
        } else {
            ""
        };
        let args = if args.is_empty() {
            String::new()
        } else {
            format!("({})", args.join(", "))
        };
        (format!("{op_kind} {{ {op}{args}{selection} }}"), used)
    }
}

async fn every_id_taking_operation_is_isolated(db: Db) {
    let app = TestApp::spawn(db).await;
    let victim = app.user("victim@example.com").await;
    let stranger = app.user("stranger@example.com").await;
    let viewer = app.user("viewer@example.com").await;

    // The victim's objects, one of each kind.
    let (key_id, _) = app
        .create_key(
            &victim.pat,
            json!({ "organizationId": victim.org_id, "name": "k" }),
        )
        .await;
    let roles = app
        .gql(
            &victim.pat,
            "query($o: ID!) { roles(organizationId: $o) { nodes { id key } } }",
            json!({ "o": victim.org_id }),
        )
        .await
        .data();
    let viewer_role = roles["roles"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["key"] == "viewer")
        .unwrap()["id"]
        .clone();
    let custom = app
        .gql(&victim.pat, "mutation($i: CreateRoleInput!) { createRole(input: $i) { id } }", json!({ "i": { "organizationId": victim.org_id, "name": "custom", "permissions": ["usage:read"] } }))
        .await
        .data();
    let invite = app
        .gql(&victim.pat, "mutation($i: InviteMemberInput!) { inviteMember(input: $i) { id } }", json!({ "i": { "organizationId": victim.org_id, "email": "viewer@example.com", "roleId": viewer_role } }))
        .await
        .data();
    app.gql(
        &viewer.pat,
        "mutation($i: InviteInput!) { acceptInvite(input: $i) { status } }",
        json!({ "i": { "id": invite["inviteMember"]["id"] } }),
    )
    .await
    .data();
    let open_invite = app
        .gql(&victim.pat, "mutation($i: InviteMemberInput!) { inviteMember(input: $i) { id } }", json!({ "i": { "organizationId": victim.org_id, "email": "later@example.com", "roleId": viewer_role } }))
        .await
        .data();
    let identity = app
        .gql(&victim.pat, "mutation($i: CreateIdentityInput!) { createIdentity(input: $i) { id } }", json!({ "i": { "organizationId": victim.org_id, "externalId": "customer-1", "credits": { "remaining": 5 } } }))
        .await
        .data();
    let sa = app
        .gql(&victim.pat, "mutation($i: CreateServiceAccountInput!) { createServiceAccount(input: $i) { id } }", json!({ "i": { "organizationId": victim.org_id, "name": "bot", "roleId": viewer_role } }))
        .await
        .data();
    // A webhook endpoint (on a port nothing listens on), and a delivery to it.
    let endpoint = app
        .gql(&victim.pat, "mutation($i: CreateWebhookEndpointInput!) { createWebhookEndpoint(input: $i) { endpoint { id } } }", json!({ "i": { "organizationId": victim.org_id, "url": "http://127.0.0.1:9/hook", "events": ["API_KEY_CREATED"] } }))
        .await
        .data()["createWebhookEndpoint"]["endpoint"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.create_key(
        &victim.pat,
        json!({ "organizationId": victim.org_id, "name": "announced" }),
    )
    .await;
    let delivery = app
        .gql(
            &victim.pat,
            "query($e: ID!) { webhookDeliveries(endpointId: $e) { nodes { id } } }",
            json!({ "e": endpoint }),
        )
        .await
        .data()["webhookDeliveries"]["nodes"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let me = app
        .gql(
            &victim.pat,
            "{ me { user { id } } personalAccessTokens { nodes { id } } }",
            json!({}),
        )
        .await
        .data();
    let members = app
        .gql(
            &victim.pat,
            "query($o: ID!) { members(organizationId: $o) { nodes { id user { email } } } }",
            json!({ "o": victim.org_id }),
        )
        .await
        .data();
    let member = members["members"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["user"]["email"] == "victim@example.com")
        .unwrap()["id"]
        .clone();
    let victim_customer: uuid::Uuid = me["me"]["user"]["id"].as_str().unwrap().parse().unwrap();
    app.services()
        .create_session(
            victim_customer,
            victim.org_id.parse().unwrap(),
            victim.project_id.parse().unwrap(),
            &Default::default(),
            backend::domain::sessions::SignInMethod::Oidc,
        )
        .await
        .unwrap();
    let session = app
        .services()
        .sessions(
            &backend::domain::Actor::new(
                backend::domain::Principal::Oidc {
                    customer: backend::domain::CustomerRef {
                        id: victim_customer,
                        email: victim.email.clone(),
                        name: "victim".into(),
                        admin_claim: backend::domain::AdminClaim {
                            local_admin: false,
                            issuer: "https://issuer.invalid".into(),
                            subject: victim_customer.to_string(),
                            email_verified: true,
                        },
                    },
                    expires_at: None,
                },
                Default::default(),
            ),
            10,
            None,
        )
        .await
        .unwrap()
        .items[0]
        .model
        .id
        .to_string();

    let real: HashMap<&str, String> = HashMap::from([
        ("organization", victim.org_id.clone()),
        ("project", victim.project_id.clone()),
        ("api_key", key_id),
        (
            "pat",
            me["personalAccessTokens"]["nodes"][0]["id"]
                .as_str()
                .unwrap()
                .to_owned(),
        ),
        (
            "invite",
            open_invite["inviteMember"]["id"]
                .as_str()
                .unwrap()
                .to_owned(),
        ),
        (
            "role",
            custom["createRole"]["id"].as_str().unwrap().to_owned(),
        ),
        ("member", member.as_str().unwrap().to_owned()),
        (
            "service_account",
            sa["createServiceAccount"]["id"]
                .as_str()
                .unwrap()
                .to_owned(),
        ),
        ("session", session),
        ("customer", victim_customer.to_string()),
        (
            "identity",
            identity["createIdentity"]["id"]
                .as_str()
                .unwrap()
                .to_owned(),
        ),
    ]);
    let mut real = real;
    real.insert("webhook_endpoint", endpoint);
    real.insert("webhook_delivery", delivery);
    let missing: HashMap<&str, String> = real
        .keys()
        .map(|k| (*k, uuid::Uuid::now_v7().to_string()))
        .collect();

    let schema = app.gql(&victim.pat, INTROSPECTION, json!({})).await.data();
    let types: HashMap<String, Value> = schema["__schema"]["types"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t["name"].as_str().unwrap().to_owned(), t.clone()))
        .collect();
    let schema_info = Schema { types };
    let mut checked = 0;
    for (op_kind, root) in [("query", "queryType"), ("mutation", "mutationType")] {
        for field in schema["__schema"][root]["fields"].as_array().unwrap() {
            let op = field["name"].as_str().unwrap();
            let (doc, used) = schema_info.call(op_kind, field, &|k| real[k].clone());
            if used.is_empty() {
                continue;
            }
            let (doc_missing, _) = schema_info.call(op_kind, field, &|k| missing[k].clone());
            let mut principals = vec![("another organization", stranger.pat.as_str())];
            if op_kind == "mutation" && op != "leaveOrganization" {
                principals.push(("a viewer", viewer.pat.as_str()));
            }
            for (who, token) in principals {
                let r = app.gql(token, &doc, json!({})).await;
                let errors = r.body["errors"]
                    .as_array()
                    .unwrap_or_else(|| panic!("{who} ran `{op}`: {}", r.body));
                assert!(!errors.is_empty(), "{who} ran `{op}`: {}", r.body);
                assert!(
                    r.body["data"].is_null() || r.body["data"][op].is_null(),
                    "{who} got data from `{op}`: {}",
                    r.body
                );
                let code = r.error_code();
                assert!(
                    ["NOT_FOUND", "NOT_A_MEMBER", "FORBIDDEN"].contains(&code.as_str()),
                    "{who} calling `{op}` got {code}: {}",
                    r.body
                );
                if who == "another organization" {
                    let m = app.gql(token, &doc_missing, json!({})).await;
                    assert_eq!(
                        (m.error_code(), m.error_message()),
                        (code, r.error_message()),
                        "`{op}` answers a foreign id differently from a missing one"
                    );
                }
            }
            checked += 1;
        }
    }
    assert!(
        checked >= 30,
        "only {checked} id-taking operations were checked"
    );
    // Nothing of the victim's changed.
    let (status, _, _) = app.verify(tests::Header::Bearer, &victim.pat).await;
    assert_eq!(status, 200);
    app.finish().await;
}

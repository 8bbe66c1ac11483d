//! Hostile GraphQL documents (SPEC §14): each is refused with `INVALID_INPUT` and a
//! `reason` naming the limit, before anything runs, and the server keeps serving. How long
//! a refusal takes is measured by `cargo bench -p tests --bench hostile_graphql`.

use serde_json::{Value, json};
use tests::{Db, TestApp, fragment_bomb};

db_tests!(hostile_documents_are_refused_before_work);

async fn post(app: &TestApp, token: &str, query: &str) -> (u16, Value) {
    let r = app.gql(token, query, json!({})).await;
    (r.status.as_u16(), r.body)
}

fn reason(body: &Value) -> (&str, &str) {
    let ext = &body["errors"][0]["extensions"];
    (
        ext["code"].as_str().unwrap_or_default(),
        ext["reason"].as_str().unwrap_or_default(),
    )
}

async fn hostile_documents_are_refused_before_work(db: Db) {
    let app = TestApp::spawn(db).await;
    let owner = app.user("owner@example.com").await;

    // A fragment bomb of about 2 KB, sent twice at once; the server answers both and
    // stays healthy.
    let bomb = fragment_bomb(26);
    assert!(bomb.len() < 2_500, "{} bytes", bomb.len());
    let (a, b, health) = tokio::join!(
        post(&app, &owner.pat, &bomb),
        post(&app, &owner.pat, &bomb),
        app.client.get(format!("{}/health", app.base)).send(),
    );
    for (status, body) in [a, b] {
        assert_eq!(status, 400, "{body}");
        assert_eq!(reason(&body), ("INVALID_INPUT", "TOO_COMPLEX"), "{body}");
        assert_eq!(body["data"], Value::Null);
    }
    assert_eq!(health.unwrap().status(), 200);

    // Fifty aliased mutations: refused whole, nothing created.
    let batch: String = (0..50)
        .map(|i| {
            format!(
                "k{i}: createApiKey(input: {{ organizationId: \"{}\", name: \"k{i}\" }}) {{ secret }}",
                owner.org_id
            )
        })
        .collect::<Vec<_>>()
        .join("\n");
    let (status, body) = post(&app, &owner.pat, &format!("mutation {{ {batch} }}")).await;
    assert_eq!(status, 400);
    assert_eq!(reason(&body), ("INVALID_INPUT", "TOO_MANY_MUTATIONS"));
    let keys = app
        .gql(
            &owner.pat,
            "query($o: ID!) { apiKeys(organizationId: $o) { totalCount } }",
            json!({ "o": owner.org_id }),
        )
        .await
        .data();
    assert_eq!(
        keys["apiKeys"]["totalCount"], 0,
        "no mutation of the batch ran"
    );

    // Ten mutations are a batch a client may send.
    let ten: String = (0..10)
        .map(|i| {
            format!(
                "k{i}: renameOrganization(input: {{ id: \"{}\", name: \"n{i}\" }}) {{ name }}",
                owner.org_id
            )
        })
        .collect::<Vec<_>>()
        .join("\n");
    app.gql(&owner.pat, &format!("mutation {{ {ten} }}"), json!({}))
        .await
        .data();

    // Many aliases of a query.
    let aliases: String = (0..40)
        .map(|i| format!("o{i}: organizations {{ id }}"))
        .collect::<Vec<_>>()
        .join(" ");
    let (status, body) = post(&app, &owner.pat, &format!("{{ {aliases} }}")).await;
    assert_eq!(
        (status, reason(&body)),
        (400, ("INVALID_INPUT", "TOO_MANY_ALIASES"))
    );

    // Deep nesting: of fields, and of braces far beyond what the parser would recurse
    // into (30 KB, under the body limit).
    let fields = format!(
        "{{ organizations {}{}",
        "{ projects ".repeat(14),
        "}".repeat(15)
    );
    let braces = format!("{}{}", "{a".repeat(15_000), "}".repeat(15_000));
    for deep in [fields, braces] {
        let (status, body) = post(&app, &owner.pat, &deep).await;
        assert_eq!(
            (status, reason(&body)),
            (400, ("INVALID_INPUT", "TOO_DEEP")),
            "{} bytes",
            deep.len()
        );
    }

    // A fragment that spreads itself.
    let (status, body) = post(
        &app,
        &owner.pat,
        "{ organizations { ...A } } fragment A on Organization { id ...B } fragment B on Organization { ...A }",
    )
    .await;
    assert_eq!(
        (status, reason(&body)),
        (400, ("INVALID_INPUT", "FRAGMENT_CYCLE"))
    );

    // Still serving.
    app.gql(&owner.pat, "{ me { authenticatedBy } }", json!({}))
        .await
        .data();
    app.finish().await;
}

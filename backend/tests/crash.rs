//! Crash safety: the real `keyward-server` killed with SIGKILL again and again while a
//! client makes changes, on SQLite and PostgreSQL. Every change the client saw succeed
//! is there after each restart, with exactly one audit event, and the audit chain
//! verifies; no change exists without its event.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{process::Stdio, time::Duration};

use sea_orm::{ConnectionTrait, Database, Statement};
use serde_json::{Value, json};
use tokio::{
    io::{AsyncBufReadExt, BufReader},
    process::{Child, Command},
};

/// Rounds of start, changes, SIGKILL.
const ROUNDS: usize = 5;

struct Server {
    child: Child,
    base: String,
}

/// Starts the real binary on `database_url`, on a port the OS picks, and waits until it
/// says where it listens.
async fn start(database_url: &str) -> Server {
    let mut child = Command::new(env!("CARGO_BIN_EXE_keyward-server"))
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("KEYWARD_DATABASE_URL", database_url)
        .env("KEYWARD_LISTEN", "127.0.0.1:0")
        .env("KEYWARD_DEV_SIGNIN", "off")
        .env("KEYWARD_LOG_FORMAT", "json")
        .env("KEYWARD_AUDIT_KEY", "the-crash-test-audit-key-0123456789")
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("keyward-server starts");
    // It logs to standard error.
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let addr = loop {
        let line = tokio::time::timeout(Duration::from_secs(60), lines.next_line())
            .await
            .expect("the server says where it listens")
            .unwrap()
            .expect("the server ended before listening");
        let Ok(entry) = serde_json::from_str::<Value>(&line) else {
            continue;
        };
        if entry["fields"]["message"] == "Keyward is listening" {
            break entry["fields"]["addr"].as_str().unwrap().to_owned();
        }
    };
    // Keep reading its output so it never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    Server {
        child,
        base: format!("http://{addr}"),
    }
}

async fn bootstrap(database_url: &str) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_keyward-server"))
        .args(["bootstrap", "--email", "ops@example.com"])
        .env_clear()
        .env("KEYWARD_DATABASE_URL", database_url)
        .env("RUST_LOG", "warn")
        .output()
        .await
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .find(|l| l.starts_with("kw_pat_"))
        .expect("bootstrap prints a token")
        .to_owned()
}

async fn gql(client: &reqwest::Client, base: &str, pat: &str, query: &str, vars: Value) -> Value {
    client
        .post(format!("{base}/graphql"))
        .bearer_auth(pat)
        .json(&json!({ "query": query, "variables": vars }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

const CREATE: &str =
    "mutation($i: CreateApiKeyInput!) { createApiKey(input: $i) { apiKey { id } } }";

async fn killed_again_and_again(database_url: &str) {
    let pat = bootstrap(database_url).await;
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let mut org = String::new();
    let mut seen = Vec::new();
    for round in 0..ROUNDS {
        let mut server = start(database_url).await;
        if org.is_empty() {
            let me = gql(
                &client,
                &server.base,
                &pat,
                "{ organizations { id } }",
                json!({}),
            )
            .await;
            org = me["data"]["organizations"][0]["id"]
                .as_str()
                .unwrap()
                .to_owned();
        }
        // A stream of changes; the server is killed once a few have been answered, with
        // more on the way, so some are cut off mid-flight.
        let answered_before_kill = 3 + round * 2;
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        for worker in 0..4 {
            let (client, base, pat, org, tx) = (
                client.clone(),
                server.base.clone(),
                pat.clone(),
                org.clone(),
                tx.clone(),
            );
            tokio::spawn(async move {
                for n in 0.. {
                    let name = format!("r{round}-w{worker}-{n}");
                    let sent = client
                        .post(format!("{base}/graphql"))
                        .bearer_auth(&pat)
                        .json(&json!({ "query": CREATE, "variables": { "i": { "organizationId": org, "name": name } } }))
                        .send()
                        .await;
                    let Ok(response) = sent else { break };
                    let Ok(body) = response.json::<Value>().await else {
                        break;
                    };
                    if let Some(id) = body["data"]["createApiKey"]["apiKey"]["id"].as_str()
                        && tx.send(id.to_owned()).is_err()
                    {
                        break;
                    }
                }
            });
        }
        drop(tx);
        for _ in 0..answered_before_kill {
            seen.push(rx.recv().await.expect("changes are answered"));
        }
        server.child.start_kill().unwrap(); // SIGKILL: no shutdown, no flush
        server.child.wait().await.unwrap();
        // Answers that arrived before the kill took effect count as seen too.
        while let Some(id) = rx.recv().await {
            seen.push(id);
        }
    }

    // After a last restart: every change seen is there, each with exactly one event,
    // and no key exists without its event.
    let server = start(database_url).await;
    let mut stored: Vec<String> = Vec::new();
    let mut after = Value::Null;
    loop {
        let keys = gql(
            &client,
            &server.base,
            &pat,
            "query($o: ID!, $a: String) { apiKeys(organizationId: $o, first: 100, after: $a) { pageInfo { hasNextPage endCursor } nodes { id } } }",
            json!({ "o": org, "a": after }),
        )
        .await;
        let page = &keys["data"]["apiKeys"];
        stored.extend(
            page["nodes"]
                .as_array()
                .unwrap_or_else(|| panic!("{keys}"))
                .iter()
                .map(|k| k["id"].as_str().unwrap().to_owned()),
        );
        if page["pageInfo"]["hasNextPage"] != true {
            break;
        }
        after = page["pageInfo"]["endCursor"].clone();
    }
    assert!(seen.len() >= ROUNDS * 3, "{}", seen.len());
    for id in &seen {
        assert!(
            stored.contains(id),
            "a change the client saw succeed is gone: {id}"
        );
    }
    let export = client
        .get(format!(
            "{}/api/v1/organizations/{org}/audit-events/export",
            server.base
        ))
        .bearer_auth(&pat)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for id in &stored {
        let events = export
            .lines()
            .filter(|l| l.contains("\"api_key.create\"") && l.contains(id.as_str()))
            .count();
        assert_eq!(events, 1, "key {id} has {events} create events");
    }
    let created = export
        .lines()
        .filter(|l| l.contains("\"api_key.create\""))
        .count();
    assert_eq!(
        created,
        stored.len(),
        "an event without its key, or a key without its event"
    );
    let checked = backend::domain::audit::verify_export(
        export.as_bytes(),
        b"the-crash-test-audit-key-0123456789",
    )
    .unwrap_or_else(|e| panic!("the chain does not verify: {e}"));
    assert_eq!(checked.head.seq as usize, checked.events);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("keyward.db").display()
    );
    killed_again_and_again(&url).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres() {
    let Some(admin_url) = std::env::var("KEYWARD_TEST_POSTGRES_URL")
        .ok()
        .filter(|u| !u.is_empty())
    else {
        assert!(
            std::env::var("CI").is_err(),
            "KEYWARD_TEST_POSTGRES_URL must be set on CI"
        );
        return;
    };
    let name = format!("crash_{}", uuid::Uuid::new_v4().simple());
    let admin = Database::connect(&admin_url).await.unwrap();
    let backend = admin.get_database_backend();
    admin
        .execute_raw(Statement::from_string(
            backend,
            format!("CREATE DATABASE {name}"),
        ))
        .await
        .unwrap();
    let (base, query) = admin_url
        .split_once('?')
        .unwrap_or((admin_url.as_str(), ""));
    let slash = base
        .rfind('/')
        .filter(|i| *i > "postgres://".len())
        .unwrap_or(base.len());
    let mut url = format!("{}/{name}", &base[..slash]);
    if !query.is_empty() {
        url = format!("{url}?{query}");
    }
    killed_again_and_again(&url).await;
    admin
        .execute_raw(Statement::from_string(
            backend,
            format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
        ))
        .await
        .unwrap();
}

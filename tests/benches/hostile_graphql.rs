//! How long Keyward takes to refuse hostile GraphQL documents, against a plain query
//! measured in the same run, and whether `/health` stays fast while they arrive.
//! `cargo bench -p tests --bench hostile_graphql` prints the numbers; nothing here fails
//! on timing.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::time::{Duration, Instant};

use serde_json::json;
use tests::{Db, TestApp, fragment_bomb};

const ROUNDS: usize = 200;

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort_unstable();
    samples[samples.len() / 2]
}

async fn time_gql(app: &TestApp, token: &str, query: &str) -> Duration {
    let mut samples = Vec::with_capacity(ROUNDS);
    for _ in 0..ROUNDS {
        let start = Instant::now();
        app.gql(token, query, json!({})).await;
        samples.push(start.elapsed());
    }
    median(samples)
}

async fn time_health(app: &TestApp) -> Duration {
    let mut samples = Vec::with_capacity(ROUNDS);
    for _ in 0..ROUNDS {
        let start = Instant::now();
        app.client
            .get(format!("{}/health", app.base))
            .send()
            .await
            .unwrap();
        samples.push(start.elapsed());
    }
    median(samples)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let app = TestApp::spawn_with(Db::Sqlite, |c| {
        c.default_rate_limit_per_minute = 1_000_000;
    })
    .await;
    let owner = app.user("bench@example.com").await;
    let plain = "{ organizations { id name slug } }";
    let bomb = fragment_bomb(26);
    let aliases: String = (0..50)
        .map(|i| {
            format!(
                "k{i}: createApiKey(input: {{ organizationId: \"{}\", name: \"k\" }}) {{ secret }}",
                owner.org_id
            )
        })
        .collect();
    let alias_bomb = format!("mutation {{ {aliases} }}");
    let deep = format!("{}{}", "{a".repeat(15_000), "}".repeat(15_000));

    let baseline = time_gql(&app, &owner.pat, plain).await;
    println!("plain query (baseline):         {baseline:>10.2?}");
    for (name, doc) in [
        ("fragment bomb, 26 levels", &bomb),
        ("50 aliased mutations", &alias_bomb),
        ("15000 levels of nesting", &deep),
    ] {
        let refusal = time_gql(&app, &owner.pat, doc).await;
        println!(
            "{name:<31} {refusal:>10.2?}  ({:.2}x the plain query; {} bytes)",
            refusal.as_secs_f64() / baseline.as_secs_f64(),
            doc.len()
        );
    }

    let idle = time_health(&app).await;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut attackers = Vec::new();
    for _ in 0..2 {
        let (client, base, token, bomb, stop) = (
            app.client.clone(),
            app.base.clone(),
            owner.pat.clone(),
            bomb.clone(),
            stop.clone(),
        );
        attackers.push(tokio::spawn(async move {
            let mut sent = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) && sent < 100_000 {
                client
                    .post(format!("{base}/graphql"))
                    .bearer_auth(&token)
                    .json(&json!({ "query": bomb }))
                    .send()
                    .await
                    .unwrap();
                sent += 1;
            }
            sent
        }));
    }
    let attacked = time_health(&app).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut bombs = 0;
    for a in attackers {
        bombs += a.await.unwrap();
    }
    println!("/health idle:                   {idle:>10.2?}");
    println!(
        "/health under 2 bomb senders:   {attacked:>10.2?}  ({:.2}x idle; {bombs} bombs refused meanwhile)",
        attacked.as_secs_f64() / idle.as_secs_f64()
    );
    app.finish().await;
}

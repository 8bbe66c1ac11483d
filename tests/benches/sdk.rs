//! The Rust SDK's cost and reach (SPEC §16): how long a verification answered from its
//! cache takes in-process, against hashing the token alone (the least a cached answer
//! costs) measured in the same run; and how long a revocation takes to reach a following
//! SDK's cache while the server is busy verifying other keys.
//! `cargo bench -p tests --bench sdk` prints the numbers; nothing here fails on timing.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use keyward_verify::{Keyward, Options};
use serde_json::json;
use sha2::Digest;
use tests::{Db, TestApp};

const CACHED_CALLS: u32 = 200_000;
const REVOCATIONS: usize = 50;
const LOAD_TASKS: usize = 4;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let app = TestApp::spawn(Db::Sqlite).await;
    let owner = app.user("bench@example.com").await;
    let (_, stream_key) = app
        .create_key(
            &owner.pat,
            json!({ "organizationId": owner.org_id, "name": "sdk", "scopes": ["api_keys:read"] }),
        )
        .await;
    let (_, hot) = app
        .create_key(
            &owner.pat,
            json!({ "organizationId": owner.org_id, "name": "hot" }),
        )
        .await;
    let keyward = Keyward::new(&app.base, owner.org_id.parse().unwrap(), Options::default());
    keyward.follow(stream_key);
    let mut news = keyward.news();
    news.wait_for(|_| keyward.is_following()).await.unwrap();

    // In-process: a cached answer against hashing the token alone.
    assert!(!keyward.verify(&hot).await.unwrap().cached);
    let started = Instant::now();
    for _ in 0..CACHED_CALLS {
        let v = keyward.verify(&hot).await.unwrap();
        assert!(v.cached);
    }
    let cached = started.elapsed() / CACHED_CALLS;
    let started = Instant::now();
    let mut sink = 0u8;
    for _ in 0..CACHED_CALLS {
        sink ^= sha2::Sha256::digest(std::hint::black_box(hot.as_bytes()))[0];
    }
    let hashing = started.elapsed() / CACHED_CALLS;
    std::hint::black_box(sink);
    println!(
        "cached verification: {:.2} µs a call (target < 5 µs); hashing the token alone {:.2} µs; ratio {:.1}",
        cached.as_secs_f64() * 1e6,
        hashing.as_secs_f64() * 1e6,
        cached.as_secs_f64() / hashing.as_secs_f64().max(1e-12)
    );

    // Revocations reaching the cache while other clients keep the server verifying.
    let busy = Arc::new(AtomicBool::new(true));
    let served = Arc::new(AtomicU64::new(0));
    let mut load = Vec::new();
    for i in 0..LOAD_TASKS {
        let (_, secret) = app
            .create_key(
                &owner.pat,
                json!({ "organizationId": owner.org_id, "name": format!("load {i}") }),
            )
            .await;
        let (busy, served, client, base) = (
            busy.clone(),
            served.clone(),
            app.client.clone(),
            app.base.clone(),
        );
        load.push(tokio::spawn(async move {
            while busy.load(Ordering::Relaxed) {
                let r = client
                    .post(format!("{base}/api/v1/keys/verify"))
                    .json(&json!({ "key": secret }))
                    .send()
                    .await;
                if r.is_ok() {
                    served.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    let load_started = Instant::now();
    let mut delays = Vec::with_capacity(REVOCATIONS);
    for i in 0..REVOCATIONS {
        let (id, secret) = app
            .create_key(
                &owner.pat,
                json!({ "organizationId": owner.org_id, "name": format!("revoked {i}") }),
            )
            .await;
        keyward.verify(&secret).await.unwrap();
        assert!(keyward.verify(&secret).await.unwrap().cached);
        let events = keyward.stats().events;
        let revoked = Instant::now();
        app.gql(
            &owner.pat,
            "mutation($i: RevokeApiKeyInput!) { revokeApiKey(input: $i) { id } }",
            json!({ "i": { "id": id } }),
        )
        .await
        .data();
        news.wait_for(|_| keyward.stats().events != events)
            .await
            .unwrap();
        delays.push(revoked.elapsed());
        assert!(!keyward.verify(&secret).await.unwrap().is_valid());
    }
    busy.store(false, Ordering::Relaxed);
    for task in load {
        task.await.unwrap();
    }
    let rate = served.load(Ordering::Relaxed) as f64 / load_started.elapsed().as_secs_f64();
    delays.sort_unstable();
    println!(
        "revocation to SDK cache, {REVOCATIONS} revocations under {rate:.0} verifications/s: p50 {:.1} ms, p99 {:.1} ms (target < 1000 ms), max {:.1} ms",
        percentile(&delays, 0.5).as_secs_f64() * 1e3,
        percentile(&delays, 0.99).as_secs_f64() * 1e3,
        delays.last().unwrap().as_secs_f64() * 1e3,
    );
    keyward.stop_following();
    app.finish().await;
}

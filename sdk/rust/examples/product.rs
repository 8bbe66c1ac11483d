//! A product's API protecting a route with Keyward in ten lines.
//!
//! ```text
//! KEYWARD_URL=http://127.0.0.1:8080 KEYWARD_ORGANIZATION=<id> KEYWARD_STREAM_KEY=kw_sk_live_… \
//!   cargo run -p keyward-verify --example product
//! curl -H "Authorization: Bearer kw_sk_live_…" http://127.0.0.1:3000/hello
//! ```

use axum::{Router, routing::get};
use keyward_verify::{Keyward, Options, VerifiedKey};

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let url = std::env::var("KEYWARD_URL").unwrap_or_else(|_| "http://127.0.0.1:8080".into());
    let organization = std::env::var("KEYWARD_ORGANIZATION")
        .ok()
        .and_then(|id| id.parse().ok())
        .ok_or_else(|| std::io::Error::other("KEYWARD_ORGANIZATION: the organization's id"))?;
    let keyward = Keyward::new(&url, organization, Options::default());
    if let Ok(stream_key) = std::env::var("KEYWARD_STREAM_KEY") {
        keyward.follow(stream_key);
    }
    let app = Router::new()
        .route(
            "/hello",
            get(|VerifiedKey(key): VerifiedKey| async move {
                format!(
                    "hello, {}\n",
                    key.answer()["key"]["name"].as_str().unwrap_or("key")
                )
            }),
        )
        .with_state(keyward);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
    axum::serve(listener, app).await
}

//! Seeds API keys into a Keyward database for the benchmarks (`scripts/bench.sh`,
//! `scripts/bench-replicas.sh`) and writes their secrets, one per line, to a file; beside
//! it `OUT_FILE.ids` holds `id secret` per line, `OUT_FILE.pat` the owner's personal
//! access token and `OUT_FILE.org` the organization's id. For a throwaway database only.
//!
//! `cargo run --release -p backend --example seed_keys -- DATABASE_URL COUNT OUT_FILE`

use std::io::Write;

use backend::{
    config::Config,
    db,
    domain::{CredentialKind, Services, credentials},
    token::TokenKind,
};
use chrono::Utc;
use entity::{credential, prelude::*};
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, sea_query::Expr};

#[tokio::main]
async fn main() -> Result<(), String> {
    let args: Vec<String> = std::env::args().collect();
    let [_, url, count, out] = args.as_slice() else {
        return Err("usage: seed_keys DATABASE_URL COUNT OUT_FILE".into());
    };
    let count: usize = count.parse().map_err(|e| format!("COUNT: {e}"))?;
    let database = db::connect_and_migrate(url)
        .await
        .map_err(|e| e.to_string())?;
    let services = Services::new(database.clone(), Config::for_tests(url).into()).await?;
    let owner = services
        .bootstrap("bench@example.com", Some("Benchmarks"), "bench")
        .await
        .map_err(|e| e.to_string())?;
    // The GraphQL measure is of pages, not of the owner's rate limit.
    Credential::update_many()
        .col_expr(
            credential::Column::RateLimitPerMinute,
            Expr::value(1_000_000),
        )
        .filter(credential::Column::CustomerId.eq(owner.customer.id))
        .exec(&database)
        .await
        .map_err(|e| e.to_string())?;
    let create = |path: String| {
        std::fs::File::create(&path)
            .map(std::io::BufWriter::new)
            .map_err(|e| format!("{path}: {e}"))
    };
    let mut secrets = create(out.clone())?;
    let mut ids = create(format!("{out}.ids"))?;
    std::fs::write(format!("{out}.pat"), owner.token.expose_secret())
        .map_err(|e| format!("{out}.pat: {e}"))?;
    std::fs::write(format!("{out}.org"), owner.organization.id.to_string())
        .map_err(|e| format!("{out}.org: {e}"))?;
    let now = Utc::now();
    let mut done = 0;
    while done < count {
        let batch = (count - done).min(1_000);
        let mut rows = Vec::with_capacity(batch);
        for i in 0..batch {
            let token = services
                .tokens
                .generate(TokenKind::ApiKeyLive)
                .map_err(|e| e.to_string())?;
            let mut row = credentials::new_row(
                &services.verifier,
                &token,
                CredentialKind::ApiKey,
                format!("bench-{}", done + i),
                now,
            );
            row.organization_id = Set(Some(owner.organization.id));
            row.customer_id = Set(Some(owner.customer.id));
            row.created_by = Set(Some(owner.customer.id));
            row.environment = Set(Some(credentials::Environment::Live));
            row.rate_limit_per_minute = Set(Some(1_000_000));
            let id = row.id.clone().unwrap();
            writeln!(secrets, "{}", token.token.expose_secret()).map_err(|e| e.to_string())?;
            writeln!(ids, "{id} {}", token.token.expose_secret()).map_err(|e| e.to_string())?;
            rows.push(row);
        }
        Credential::insert_many(rows)
            .exec_without_returning(&database)
            .await
            .map_err(|e| e.to_string())?;
        done += batch;
    }
    secrets.flush().map_err(|e| e.to_string())?;
    ids.flush().map_err(|e| e.to_string())?;
    services.close().await;
    eprintln!("seeded {count} keys into {url}; secrets in {out}");
    Ok(())
}

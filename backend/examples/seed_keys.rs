//! Seeds API keys into a Keyward database for the benchmarks (`scripts/bench.sh`,
//! `scripts/bench-replicas.sh`) and writes their secrets, one per line, to a file; beside
//! it `OUT_FILE.ids` holds `id secret` per line, `OUT_FILE.pat` the owner's personal
//! access token and `OUT_FILE.org` the organization's id. For a throwaway database only.
//!
//! `cargo run --release -p backend --example seed_keys -- DATABASE_URL COUNT OUT_FILE`

use std::io::Write;

use backend::{config::Config, db, domain::Services, token::TokenKind};
use chrono::Utc;
use entity::{credential, prelude::*};
use sea_orm::{ActiveValue::Set, EntityTrait};

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
            let id = uuid::Uuid::now_v7();
            writeln!(secrets, "{}", token.token.expose_secret()).map_err(|e| e.to_string())?;
            writeln!(ids, "{id} {}", token.token.expose_secret()).map_err(|e| e.to_string())?;
            rows.push(credential::ActiveModel {
                id: Set(id),
                kind: Set("api_key".into()),
                organization_id: Set(Some(owner.organization.id)),
                project_id: Set(None),
                customer_id: Set(Some(owner.customer.id)),
                service_account_id: Set(None),
                created_by: Set(Some(owner.customer.id)),
                name: Set(format!("bench-{}", done + i)),
                display_prefix: Set(token.display_prefix.clone()),
                last4: Set(token.last4.clone()),
                token_hash: Set(token.hash.as_str().to_owned()),
                scopes: Set(None),
                environment: Set(Some("live".into())),
                expires_at: Set(None),
                disabled_at: Set(None),
                revoked_at: Set(None),
                revoked_reason: Set(None),
                revoked_by: Set(None),
                rotated_from_id: Set(None),
                grace_expires_at: Set(None),
                rate_limit_per_minute: Set(Some(1_000_000)),
                imported: Set(false),
                import_prefix: Set(None),
                last_used_at: Set(None),
                last_used_ip: Set(None),
                request_count: Set(0),
                created_at: Set(now),
                updated_at: Set(now),
            });
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

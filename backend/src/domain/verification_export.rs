//! An organization's verification log as JSON Lines (SPEC §9): which key was verified,
//! when, how it went, from where and with which tags (a product's tags name its
//! endpoint), oldest first, within the retention (`KEYWARD_VERIFICATION_LOG_DAYS`).
//! Streamed in batches read by key order, so an export of any size holds one batch in
//! memory.

use chrono::{DateTime, TimeDelta, Utc};
use entity::{credential, prelude::*, verification_log};
use sea_orm::{
    ColumnTrait, DatabaseConnection, EntityTrait, JoinType, QueryFilter, QueryOrder, QuerySelect,
    RelationTrait, sea_query::Order,
};
use serde::Serialize;
use uuid::Uuid;

use super::{Actor, Services, access::Need, analytics::VerificationEntry, permissions::Perm};
use crate::error::{AppError, AppResult};

/// Rows read per batch.
const BATCH: u64 = 1000;

/// One exported line.
#[derive(Debug, Serialize)]
struct Line<'a> {
    at: DateTime<Utc>,
    key_id: Uuid,
    key_name: &'a str,
    /// The displayable start of the key, with its last four characters.
    key: String,
    outcome: &'static str,
    ip: Option<&'a str>,
    tags: std::collections::BTreeMap<&'a str, &'a str>,
}

/// The period an export covers, after the retention is applied.
#[derive(Debug, Clone, Copy)]
pub struct Period {
    pub since: DateTime<Utc>,
    pub until: DateTime<Utc>,
}

impl Services {
    /// The organization's verification log from `since` (default: as far back as it is
    /// kept) until `until` (default: now), as a stream of JSON Lines.
    /// **Permissions**: `usage:read` and `api_keys:read` in the organization.
    pub async fn verification_export(
        &self,
        actor: &Actor,
        org_id: Uuid,
        since: Option<DateTime<Utc>>,
        until: Option<DateTime<Utc>>,
    ) -> AppResult<(
        Period,
        impl futures::Stream<Item = Result<String, std::io::Error>> + use<>,
    )> {
        self.authorize(
            actor,
            Need::OrgAll(org_id, vec![Perm::USAGE_READ, Perm::API_KEYS_READ]),
        )
        .await?;
        let now = self.clock.now();
        let kept_from = now - TimeDelta::days(self.config.verification_log_days.into());
        let period = Period {
            since: since.map_or(kept_from, |s| s.max(kept_from)),
            until: until.map_or(now, |u| u.min(now)),
        };
        if period.since > period.until {
            return Err(AppError::invalid("since", "must not be after `until`"));
        }
        let db = self.db.clone();
        let lines = futures::stream::try_unfold(Some(None), move |after| {
            let db = db.clone();
            async move {
                let Some(after) = after else {
                    return Ok(None);
                };
                let batch = batch(&db, org_id, period, after)
                    .await
                    .map_err(|e| std::io::Error::other(e.to_string()))?;
                if batch.is_empty() {
                    return Ok(None);
                }
                let next =
                    (batch.len() as u64 == BATCH).then(|| batch.last().map(|(entry, _)| entry.id));
                let mut chunk = String::new();
                for (entry, key) in &batch {
                    let line = Line {
                        at: entry.at,
                        key_id: key.id,
                        key_name: &key.name,
                        key: format!("{}…{}", key.display_prefix, key.last4),
                        outcome: entry.outcome.code(),
                        ip: entry.ip.as_deref(),
                        tags: entry.tags.pairs().collect(),
                    };
                    chunk.push_str(&serde_json::to_string(&line).map_err(std::io::Error::other)?);
                    chunk.push('\n');
                }
                Ok(Some((chunk, next)))
            }
        });
        Ok((period, lines))
    }
}

/// The next batch of the organization's log after the entry `after`, oldest first (ids
/// are time-ordered), with each entry's key.
async fn batch(
    db: &DatabaseConnection,
    org_id: Uuid,
    period: Period,
    after: Option<Uuid>,
) -> AppResult<Vec<(VerificationEntry, credential::Model)>> {
    let mut query = VerificationLog::find()
        .join(
            JoinType::InnerJoin,
            verification_log::Relation::Credential.def(),
        )
        .filter(credential::Column::OrganizationId.eq(org_id))
        .filter(verification_log::Column::At.gte(period.since))
        .filter(verification_log::Column::At.lte(period.until));
    if let Some(after) = after {
        query = query.filter(verification_log::Column::Id.gt(after));
    }
    let rows = query
        .select_also(Credential)
        .order_by(verification_log::Column::Id, Order::Asc)
        .limit(BATCH)
        .all(db)
        .await?;
    rows.into_iter()
        .filter_map(|(entry, key)| key.map(|k| (entry, k)))
        .map(|(entry, key)| Ok((VerificationEntry::from_model(entry)?, key)))
        .collect()
}

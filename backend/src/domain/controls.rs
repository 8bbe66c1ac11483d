//! The controls an API product puts on its keys (SPEC §3.5): its own metadata, named
//! rate limits and the identity a key belongs to, checked at the edge and held with a
//! key's verification record. Credits are in [`super::credits`].

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use entity::{credit_pool, named_limit, prelude::*};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter,
    QueryOrder,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::{
    access,
    credits::{CreditsInput, PoolRef},
};
use crate::error::{AppError, AppResult};

/// The largest metadata object, as JSON text.
pub const META_MAX_BYTES: usize = 4096;
/// The deepest nesting metadata may have (the object itself is depth 1).
pub const META_MAX_DEPTH: usize = 4;
/// The most named limits a key or an identity may have.
pub const MAX_LIMITS: usize = 20;
/// The name of the per-minute limit every key has (SPEC §10), as the answer lists it.
pub const PER_MINUTE: &str = "per-minute";

/// Checks metadata a user gave: a JSON object of at most [`META_MAX_BYTES`] and
/// [`META_MAX_DEPTH`] levels. Its stored text.
pub fn meta(field: &str, value: &Value) -> AppResult<String> {
    if !value.is_object() {
        return Err(AppError::invalid(field, "must be a JSON object"));
    }
    if depth(value) > META_MAX_DEPTH {
        return Err(AppError::invalid(
            field,
            format!("must nest at most {META_MAX_DEPTH} levels deep"),
        ));
    }
    let text = value.to_string();
    if text.len() > META_MAX_BYTES {
        return Err(AppError::invalid(
            field,
            format!("must be at most {META_MAX_BYTES} bytes as JSON"),
        ));
    }
    Ok(text)
}

fn depth(value: &Value) -> usize {
    match value {
        Value::Object(map) => 1 + map.values().map(depth).max().unwrap_or(0),
        Value::Array(items) => 1 + items.iter().map(depth).max().unwrap_or(0),
        _ => 0,
    }
}

/// Reads stored metadata: an object, or corrupt data.
pub fn stored_meta(text: Option<&str>) -> AppResult<Option<Value>> {
    text.map(|t| match serde_json::from_str::<Value>(t) {
        Ok(v @ Value::Object(_)) => Ok(v),
        Ok(_) => Err(access::corrupt("metadata", "not a JSON object")),
        Err(e) => Err(access::corrupt("metadata", e)),
    })
    .transpose()
}

/// A named limit as a user gives it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LimitInput {
    pub name: String,
    pub limit: u32,
    pub duration_ms: u64,
    pub auto_apply: bool,
}

/// Checks a list of named limits, naming `field` (`input.ratelimits`) in each error.
pub fn limits(field: &str, given: &[LimitInput]) -> AppResult<Vec<LimitInput>> {
    if given.len() > MAX_LIMITS {
        return Err(AppError::invalid(
            field,
            format!("must hold at most {MAX_LIMITS} limits"),
        ));
    }
    let mut seen = std::collections::BTreeSet::new();
    given
        .iter()
        .enumerate()
        .map(|(i, l)| {
            let at = |part: &str| format!("{field}[{i}].{part}");
            let name = l.name.trim();
            let name_ok = (1..=64).contains(&name.len())
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | ':'));
            if !name_ok {
                return Err(AppError::invalid(
                    at("name"),
                    "must be 1-64 letters, digits, `_`, `-`, `.` or `:`",
                ));
            }
            if name == PER_MINUTE {
                return Err(AppError::invalid(
                    at("name"),
                    format!(
                        "`{PER_MINUTE}` is the key's own per-minute limit (rateLimitPerMinute)"
                    ),
                ));
            }
            if !seen.insert(name.to_owned()) {
                return Err(AppError::invalid(at("name"), "is given twice"));
            }
            if !(1..=1_000_000).contains(&l.limit) {
                return Err(AppError::invalid(
                    at("limit"),
                    "must be between 1 and 1000000",
                ));
            }
            if !(1_000..=86_400_000).contains(&l.duration_ms) {
                return Err(AppError::invalid(
                    at("durationMs"),
                    "must be between 1000 (1 s) and 86400000 (24 h)",
                ));
            }
            Ok(LimitInput {
                name: name.to_owned(),
                ..l.clone()
            })
        })
        .collect()
}

/// The identity a key belongs to, as verify describes it.
#[derive(Debug, Clone, PartialEq)]
pub struct IdentityRef {
    pub id: Uuid,
    pub external_id: String,
    pub meta: Option<Value>,
}

/// A named limit held with a key's record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldLimit {
    /// What its state is kept under: its owner (key or identity) and name, so an
    /// identity's limit is shared by all its keys.
    pub subject: Uuid,
    pub name: String,
    pub limit: u32,
    pub duration_ms: u64,
    pub auto_apply: bool,
}

impl HeldLimit {
    /// A check of this limit at `cost`.
    pub fn check(&self, cost: u32) -> super::ratelimit::LimitCheck {
        super::ratelimit::LimitCheck {
            id: self.subject,
            limit: self.limit,
            duration_ms: self.duration_ms,
            cost,
        }
    }
}

/// The subject a limit's state is kept under: a digest of its owner and name.
pub fn limit_subject(owner: Uuid, name: &str) -> Uuid {
    let digest = Sha256::new()
        .chain_update(owner.as_bytes())
        .chain_update(name.as_bytes())
        .finalize();
    let mut bytes = [0; 16];
    bytes.copy_from_slice(&digest[..16]);
    Uuid::from_bytes(bytes)
}

/// A key's controls, held with its record when it has any.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Controls {
    pub meta: Option<Value>,
    pub identity: Option<IdentityRef>,
    /// The pool a verification spends: the key's own, else its identity's.
    pub pool: Option<PoolRef>,
    /// The key's limits, then its identity's not shadowed by a key limit of that name.
    pub limits: Vec<HeldLimit>,
}

impl Controls {
    pub fn is_empty(&self) -> bool {
        self.meta.is_none()
            && self.identity.is_none()
            && self.pool.is_none()
            && self.limits.is_empty()
    }
}

/// One stored limit as the verification statement lists it: name, limit, duration,
/// auto-apply, and whether it is the identity's (booleans are 0/1 on SQLite).
#[derive(Deserialize)]
struct ListedLimit(String, i64, i64, Value, Value);

fn flag(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::Number(n) => n.as_i64().map(|n| n != 0),
        _ => None,
    }
}

/// Reads the verification statement's list of limits of a key (`key`) and its identity.
pub fn held_limits(listed: &str, key: Uuid, identity: Option<Uuid>) -> AppResult<Vec<HeldLimit>> {
    let rows: Vec<ListedLimit> =
        serde_json::from_str(listed).map_err(|e| access::corrupt("named limits", e))?;
    let mut own = Vec::new();
    let mut inherited = Vec::new();
    for ListedLimit(name, limit, duration_ms, auto_apply, of_identity) in rows {
        let bad = || access::corrupt("named limit", "a limit or duration out of range");
        let of_identity = flag(&of_identity).ok_or_else(bad)?;
        let owner = if of_identity {
            identity.ok_or_else(bad)?
        } else {
            key
        };
        let held = HeldLimit {
            subject: limit_subject(owner, &name),
            limit: u32::try_from(limit)
                .ok()
                .filter(|l| *l > 0)
                .ok_or_else(bad)?,
            duration_ms: u64::try_from(duration_ms)
                .ok()
                .filter(|d| *d > 0)
                .ok_or_else(bad)?,
            auto_apply: flag(&auto_apply).ok_or_else(bad)?,
            name,
        };
        if of_identity {
            inherited.push(held);
        } else {
            own.push(held);
        }
    }
    own.sort_by(|a, b| a.name.cmp(&b.name));
    inherited.sort_by(|a, b| a.name.cmp(&b.name));
    inherited.retain(|l| !own.iter().any(|o| o.name == l.name));
    own.extend(inherited);
    Ok(own)
}

/// Checks a product's id for one of its customers: 1-255 characters, none of them
/// control, invisible or text-direction characters.
pub fn external_id(field: &str, raw: &str) -> AppResult<String> {
    let id = raw.trim();
    if id.is_empty() || id.len() > 255 {
        return Err(AppError::invalid(field, "must be 1-255 bytes"));
    }
    if id.chars().any(super::validate::is_hidden_or_reordering) {
        return Err(AppError::invalid(
            field,
            "must not contain control, invisible formatting or text-direction characters",
        ));
    }
    Ok(id.to_owned())
}

/// Checks the controls an edit changes (of a key or an identity): the metadata's stored
/// text (an inner `None` removes it) and the limits, checked; the credits are checked in
/// place.
#[allow(clippy::type_complexity)]
pub fn check_changes(
    meta: &Option<Option<Value>>,
    credits: &Option<Option<CreditsInput>>,
    ratelimits: Option<&[LimitInput]>,
) -> AppResult<(Option<Option<String>>, Option<Vec<LimitInput>>)> {
    let meta = match meta {
        Some(Some(m)) => Some(Some(self::meta("input.meta", m)?)),
        Some(None) => Some(None),
        None => None,
    };
    if let Some(Some(c)) = credits {
        c.check("input.credits")?;
    }
    let limits = ratelimits
        .map(|l| limits("input.ratelimits", l))
        .transpose()?;
    Ok((meta, limits))
}

/// Replaces the named limits of `owner` (a key or an identity) with `limits`.
pub async fn replace_limits<C: ConnectionTrait>(
    txn: &C,
    owner: Uuid,
    organization: Uuid,
    limits: &[LimitInput],
    now: DateTime<Utc>,
) -> AppResult<()> {
    NamedLimit::delete_many()
        .filter(named_limit::Column::OwnerId.eq(owner))
        .exec(txn)
        .await?;
    for l in limits {
        named_limit::ActiveModel {
            id: Set(super::ids::new_id()),
            owner_id: Set(owner),
            organization_id: Set(organization),
            name: Set(l.name.clone()),
            limit_count: Set(i32::try_from(l.limit).unwrap_or(i32::MAX)),
            duration_ms: Set(i64::try_from(l.duration_ms).unwrap_or(i64::MAX)),
            auto_apply: Set(l.auto_apply),
            created_at: Set(now),
        }
        .insert(txn)
        .await?;
    }
    Ok(())
}

/// Sets the credits of `owner` (a key or an identity): a new pool, a pool set anew
/// (blocks nodes hold of it become void), or none (unlimited).
pub async fn replace_pool<C: ConnectionTrait>(
    txn: &C,
    owner: Uuid,
    organization: Uuid,
    credits: Option<&CreditsInput>,
    now: DateTime<Utc>,
) -> AppResult<()> {
    let existing = super::credits::locked_pool(txn, owner).await?;
    match (existing, credits) {
        (None, None) => {}
        (Some(_), None) => {
            CreditPool::delete_by_id(owner).exec(txn).await?;
        }
        (None, Some(c)) => {
            c.row(owner, organization, now).insert(txn).await?;
        }
        (Some(old), Some(c)) => {
            let mut row = c.row(owner, organization, now);
            row.epoch = Set(old.epoch + 1);
            row.update(txn).await?;
        }
    }
    Ok(())
}

/// Removes what `owner` (a key or an identity) has of its own: its pool and limits.
pub async fn remove_all<C: ConnectionTrait>(txn: &C, owner: Uuid) -> AppResult<()> {
    CreditPool::delete_by_id(owner).exec(txn).await?;
    NamedLimit::delete_many()
        .filter(named_limit::Column::OwnerId.eq(owner))
        .exec(txn)
        .await?;
    Ok(())
}

/// The pools and limits of many owners, for listings: two queries.
pub async fn of_owners<C: ConnectionTrait>(
    db: &C,
    owners: &[Uuid],
) -> AppResult<(
    HashMap<Uuid, credit_pool::Model>,
    HashMap<Uuid, Vec<named_limit::Model>>,
)> {
    if owners.is_empty() {
        return Ok(Default::default());
    }
    let pools = CreditPool::find()
        .filter(credit_pool::Column::OwnerId.is_in(owners.to_vec()))
        .all(db)
        .await?
        .into_iter()
        .map(|p| (p.owner_id, p))
        .collect();
    let mut limits: HashMap<Uuid, Vec<named_limit::Model>> = HashMap::new();
    for l in NamedLimit::find()
        .filter(named_limit::Column::OwnerId.is_in(owners.to_vec()))
        .order_by_asc(named_limit::Column::Name)
        .all(db)
        .await?
    {
        limits.entry(l.owner_id).or_default().push(l);
    }
    Ok((pools, limits))
}

/// A pool as audit details show it.
pub fn pool_json(pool: Option<&credit_pool::Model>) -> Value {
    match pool {
        None => Value::Null,
        Some(p) => serde_json::json!({
            "remaining": p.remaining,
            "refill": p.refill_interval.as_ref().map(|i| serde_json::json!({
                "interval": i, "amount": p.refill_amount, "day_of_month": p.refill_day,
            })),
        }),
    }
}

/// Limits as audit details show them.
pub fn limits_json(limits: &[named_limit::Model]) -> Value {
    Value::Array(
        limits
            .iter()
            .map(|l| {
                serde_json::json!({
                    "name": l.name, "limit": l.limit_count,
                    "duration_ms": l.duration_ms, "auto_apply": l.auto_apply,
                })
            })
            .collect(),
    )
}

/// Limits a user gave as audit details show them.
pub fn inputs_json(limits: &[LimitInput]) -> Value {
    serde_json::to_value(limits).unwrap_or(Value::Null)
}

/// Credits a user gave as audit details show them.
pub fn credits_json(credits: Option<&CreditsInput>) -> Value {
    match credits {
        None => Value::Null,
        Some(c) => serde_json::json!({
            "remaining": c.remaining,
            "refill": c.refill.map(|r| serde_json::json!({
                "interval": r.interval.as_str(), "amount": r.amount,
                "day_of_month": (r.interval == super::credits::Interval::Monthly).then_some(r.day_of_month),
            })),
        }),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn metadata_is_a_bounded_object() {
        assert!(meta("m", &json!({ "plan": "pro" })).is_ok());
        assert!(meta("m", &json!([1])).is_err());
        assert!(meta("m", &json!("x")).is_err());
        assert!(meta("m", &json!({ "a": { "b": { "c": { "d": 1 } } } })).is_ok());
        assert!(meta("m", &json!({ "a": { "b": { "c": { "d": {} } } } })).is_err());
        let big = "x".repeat(META_MAX_BYTES);
        let err = meta("input.meta", &json!({ "big": big })).unwrap_err();
        assert!(matches!(err, AppError::InvalidInput { ref field, .. } if field == "input.meta"));
    }

    #[test]
    fn limits_are_checked_field_by_field() {
        let ok = LimitInput {
            name: "tokens".into(),
            limit: 10,
            duration_ms: 60_000,
            auto_apply: true,
        };
        assert!(limits("l", std::slice::from_ref(&ok)).is_ok());
        for (bad, field) in [
            (
                LimitInput {
                    name: "".into(),
                    ..ok.clone()
                },
                "l[0].name",
            ),
            (
                LimitInput {
                    name: PER_MINUTE.into(),
                    ..ok.clone()
                },
                "l[0].name",
            ),
            (
                LimitInput {
                    limit: 0,
                    ..ok.clone()
                },
                "l[0].limit",
            ),
            (
                LimitInput {
                    duration_ms: 999,
                    ..ok.clone()
                },
                "l[0].durationMs",
            ),
            (
                LimitInput {
                    duration_ms: 86_400_001,
                    ..ok.clone()
                },
                "l[0].durationMs",
            ),
        ] {
            let err = limits("l", &[bad]).unwrap_err();
            assert!(
                matches!(err, AppError::InvalidInput { field: ref f, .. } if f == field),
                "{err:?}"
            );
        }
        assert!(limits("l", &[ok.clone(), ok]).is_err(), "a name twice");
    }

    #[test]
    fn a_keys_limit_shadows_its_identitys_of_that_name() {
        let key = Uuid::now_v7();
        let identity = Uuid::now_v7();
        let held = held_limits(
            r#"[["a",1,1000,1,0],["a",5,1000,true,true],["b",2,2000,0,1]]"#,
            key,
            Some(identity),
        )
        .unwrap();
        let names: Vec<_> = held.iter().map(|l| (l.name.as_str(), l.limit)).collect();
        assert_eq!(names, [("a", 1), ("b", 2)]);
        assert_eq!(held[1].subject, limit_subject(identity, "b"));
        assert!(held_limits(r#"[["a",0,1000,1,0]]"#, key, None).is_err());
        assert!(held_limits(r#"[["a",1,1000,1,1]]"#, key, None).is_err());
    }
}

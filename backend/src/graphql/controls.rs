//! Keys an API product sells (SPEC §3.5) over GraphQL: credits, named limits, metadata
//! and identities, and editing a key after creation. Thin: each resolver converts its
//! input and calls one domain function, the same REST calls.

use async_graphql::{Context, Enum, ID, InputObject, Json, MaybeUndefined, Object, SimpleObject};
use chrono::{DateTime, Utc};
use entity::{credit_pool, identity, named_limit};
use serde_json::Value;

use super::types::{ApiKey, actor, services};
use crate::{
    domain::{
        controls::{self, LimitInput},
        credentials::KeyUpdate,
        credits::{self, CreditOp, Refill},
        identities::{IdentityUpdate, IdentityView, NewIdentity},
        ids::parse_id,
    },
    error::AppResult,
};

/// How often credits are refilled.
#[derive(Enum, Copy, Clone, Eq, PartialEq)]
pub enum RefillInterval {
    /// At 00:00 UTC every day.
    Daily,
    /// At 00:00 UTC on the refill day of every month.
    Monthly,
}

impl From<RefillInterval> for credits::Interval {
    fn from(i: RefillInterval) -> Self {
        match i {
            RefillInterval::Daily => Self::Daily,
            RefillInterval::Monthly => Self::Monthly,
        }
    }
}

impl From<credits::Interval> for RefillInterval {
    fn from(i: credits::Interval) -> Self {
        match i {
            credits::Interval::Daily => Self::Daily,
            credits::Interval::Monthly => Self::Monthly,
        }
    }
}

/// A refill of credits.
#[derive(InputObject)]
pub struct RefillInput {
    pub interval: RefillInterval,
    /// What the credits are set to at each refill (0–10¹²).
    pub amount: i64,
    /// For monthly refills: the day of the month, 1–31 (the month's last day when it is
    /// shorter). Default 1.
    pub day_of_month: Option<i32>,
}

/// Credits a verification spends (SPEC §3.5).
#[derive(InputObject)]
pub struct CreditsInput {
    /// Credits now (0–10¹²).
    pub remaining: i64,
    /// Refilled daily or monthly; none: never.
    pub refill: Option<RefillInput>,
}

impl CreditsInput {
    fn into_domain(self) -> AppResult<credits::CreditsInput> {
        let refill = self
            .refill
            .map(|r| -> AppResult<Refill> {
                let day = r.day_of_month.unwrap_or(1);
                Ok(Refill {
                    interval: r.interval.into(),
                    amount: r.amount,
                    day_of_month: u8::try_from(day)
                        .ok()
                        .filter(|d| (1..=31).contains(d))
                        .ok_or_else(|| {
                            crate::error::AppError::invalid(
                                "input.credits.refill.dayOfMonth",
                                "must be between 1 and 31",
                            )
                        })?,
                })
            })
            .transpose()?;
        Ok(credits::CreditsInput {
            remaining: self.remaining,
            refill,
        })
    }
}

/// A named rate limit (SPEC §3.5).
#[derive(InputObject)]
pub struct RatelimitInput {
    /// 1–64 letters, digits, `_`, `-`, `.` or `:`.
    pub name: String,
    /// Allowed per window (1–1000000).
    pub limit: i32,
    /// The window, 1000 (1 s) to 86400000 (24 h) milliseconds.
    pub duration_ms: i64,
    /// Counted on every verification; otherwise only when a verify request names it.
    #[graphql(default)]
    pub auto_apply: bool,
}

fn limit_inputs(given: Option<Vec<RatelimitInput>>) -> Vec<LimitInput> {
    given
        .unwrap_or_default()
        .into_iter()
        .map(|l| LimitInput {
            name: l.name,
            // Out of range values stay out of range, and are refused with their field.
            limit: u32::try_from(l.limit).unwrap_or(0),
            duration_ms: u64::try_from(l.duration_ms).unwrap_or(0),
            auto_apply: l.auto_apply,
        })
        .collect()
}

fn maybe<T, U>(
    v: MaybeUndefined<T>,
    f: impl FnOnce(T) -> AppResult<U>,
) -> AppResult<Option<Option<U>>> {
    Ok(match v {
        MaybeUndefined::Undefined => None,
        MaybeUndefined::Null => Some(None),
        MaybeUndefined::Value(v) => Some(Some(f(v)?)),
    })
}

/// The product controls given when creating a key.
pub fn key_controls(
    meta: Option<Json<Value>>,
    credits: Option<CreditsInput>,
    ratelimits: Option<Vec<RatelimitInput>>,
    external_id: Option<String>,
) -> AppResult<crate::domain::credentials::KeyControlsInput> {
    Ok(crate::domain::credentials::KeyControlsInput {
        meta: meta.map(|m| m.0),
        credits: credits.map(CreditsInput::into_domain).transpose()?,
        ratelimits: limit_inputs(ratelimits),
        external_id,
    })
}

/// A key's or an identity's credits.
pub struct Credits(pub credit_pool::Model);

#[Object]
impl Credits {
    /// Credits left (nodes may hold a few of them, see the docs on credits).
    async fn remaining(&self, ctx: &Context<'_>) -> async_graphql::Result<i64> {
        Ok(services(ctx)?.credits_view(&self.0)?.remaining)
    }
    /// When and to what they are refilled.
    async fn refill(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Refilled>> {
        let view = services(ctx)?.credits_view(&self.0)?;
        Ok(view.refill.map(|r| Refilled {
            interval: r.interval.into(),
            amount: r.amount,
            day_of_month: i32::from(r.day_of_month),
            refilled_at: view.refilled_at,
        }))
    }
}

/// A refill of credits.
#[derive(SimpleObject)]
pub struct Refilled {
    pub interval: RefillInterval,
    pub amount: i64,
    /// For monthly refills.
    pub day_of_month: i32,
    /// The start of the period last refilled.
    pub refilled_at: Option<DateTime<Utc>>,
}

/// A named rate limit.
pub struct Ratelimit(pub named_limit::Model);

#[Object]
impl Ratelimit {
    async fn name(&self) -> &str {
        &self.0.name
    }
    async fn limit(&self) -> i32 {
        self.0.limit_count
    }
    async fn duration_ms(&self) -> i64 {
        self.0.duration_ms
    }
    async fn auto_apply(&self) -> bool {
        self.0.auto_apply
    }
}

/// One of the product's customers, by the product's own id (SPEC §3.5).
pub struct Identity(pub IdentityView);

#[Object]
impl Identity {
    async fn id(&self) -> ID {
        ID(self.0.identity.id.to_string())
    }
    async fn organization_id(&self) -> ID {
        ID(self.0.identity.organization_id.to_string())
    }
    /// The product's id for its customer.
    async fn external_id(&self) -> &str {
        &self.0.identity.external_id
    }
    async fn meta(&self) -> async_graphql::Result<Option<Json<Value>>> {
        Ok(controls::stored_meta(self.0.identity.meta.as_deref())?.map(Json))
    }
    /// Shared by the keys that have none of their own; none: unlimited.
    async fn credits(&self) -> Option<Credits> {
        self.0.credits.clone().map(Credits)
    }
    /// Shared by all its keys.
    async fn ratelimits(&self) -> Vec<Ratelimit> {
        self.0.limits.iter().cloned().map(Ratelimit).collect()
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.identity.created_at
    }
    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.identity.updated_at
    }
}

/// An identity as a key shows it (without its credits and limits).
pub struct KeyIdentity(pub identity::Model);

#[Object]
impl KeyIdentity {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    async fn external_id(&self) -> &str {
        &self.0.external_id
    }
    async fn meta(&self) -> async_graphql::Result<Option<Json<Value>>> {
        Ok(controls::stored_meta(self.0.meta.as_deref())?.map(Json))
    }
}

/// How credits change.
#[derive(Enum, Copy, Clone, Eq, PartialEq)]
pub enum CreditOperation {
    /// Credits become the value; blocks nodes hold become void.
    Set,
    Increment,
    /// Down to 0 at most.
    Decrement,
}

impl From<CreditOperation> for CreditOp {
    fn from(o: CreditOperation) -> Self {
        match o {
            CreditOperation::Set => Self::Set,
            CreditOperation::Increment => Self::Increment,
            CreditOperation::Decrement => Self::Decrement,
        }
    }
}

#[derive(InputObject)]
pub struct UpdateApiKeyInput {
    pub id: ID,
    pub name: Option<String>,
    /// `null`: never expires (within the organization's policy).
    pub expires_at: MaybeUndefined<DateTime<Utc>>,
    /// `null`: all of the owner's permissions.
    pub scopes: MaybeUndefined<Vec<String>>,
    /// `null`: none.
    pub meta: MaybeUndefined<Json<Value>>,
    /// `null`: unlimited.
    pub credits: MaybeUndefined<CreditsInput>,
    /// The key's own named limits, all of them.
    pub ratelimits: Option<Vec<RatelimitInput>>,
    /// `null`: the organization's default.
    pub rate_limit_per_minute: MaybeUndefined<i32>,
    /// The product's id of the key's customer; `null`: no identity.
    pub external_id: MaybeUndefined<String>,
    pub enabled: Option<bool>,
}

#[derive(InputObject)]
pub struct ChangeCreditsInput {
    /// A key's or an identity's id.
    pub id: ID,
    pub op: CreditOperation,
    /// 0–10¹².
    pub value: i64,
}

#[derive(InputObject)]
pub struct CreateIdentityInput {
    pub organization_id: ID,
    /// The product's id for its customer, unique in the organization.
    pub external_id: String,
    pub meta: Option<Json<Value>>,
    pub credits: Option<CreditsInput>,
    pub ratelimits: Option<Vec<RatelimitInput>>,
}

#[derive(InputObject)]
pub struct UpdateIdentityInput {
    pub id: ID,
    pub external_id: Option<String>,
    pub meta: MaybeUndefined<Json<Value>>,
    pub credits: MaybeUndefined<CreditsInput>,
    /// All of its named limits.
    pub ratelimits: Option<Vec<RatelimitInput>>,
}

#[derive(InputObject)]
pub struct DeleteIdentityInput {
    pub id: ID,
}

/// Write operations on product controls.
#[derive(Default)]
pub struct ControlsMutation;

#[Object]
impl ControlsMutation {
    /// Edits a key: each field given is changed, audited before and after, and in force
    /// before this returns. **Permissions**: `api_keys:write`; widening its scopes or
    /// enabling it, everything the key may then do.
    async fn update_api_key(
        &self,
        ctx: &Context<'_>,
        input: UpdateApiKeyInput,
    ) -> async_graphql::Result<ApiKey> {
        let id = parse_id("input.id", &input.id)?;
        let update = KeyUpdate {
            name: input.name,
            expires_at: maybe(input.expires_at, Ok)?,
            scopes: maybe(input.scopes, Ok)?,
            meta: maybe(input.meta, |m| Ok(m.0))?,
            credits: maybe(input.credits, CreditsInput::into_domain)?,
            ratelimits: input.ratelimits.map(|l| limit_inputs(Some(l))),
            rate_limit_per_minute: maybe(input.rate_limit_per_minute, Ok)?,
            external_id: maybe(input.external_id, Ok)?,
            enabled: input.enabled,
        };
        let key = services(ctx)?
            .update_api_key(actor(ctx)?, id, update)
            .await?;
        Ok(ApiKey(key))
    }

    /// Sets, adds to or takes from a key's own credits. **Permissions**: `api_keys:write`.
    async fn change_api_key_credits(
        &self,
        ctx: &Context<'_>,
        input: ChangeCreditsInput,
    ) -> async_graphql::Result<Credits> {
        let id = parse_id("input.id", &input.id)?;
        let pool = services(ctx)?
            .change_api_key_credits(actor(ctx)?, id, input.op.into(), input.value)
            .await?;
        Ok(Credits(pool))
    }

    /// Creates an identity. **Permissions**: `api_keys:write`.
    async fn create_identity(
        &self,
        ctx: &Context<'_>,
        input: CreateIdentityInput,
    ) -> async_graphql::Result<Identity> {
        let new = NewIdentity {
            organization_id: parse_id("input.organizationId", &input.organization_id)?,
            external_id: input.external_id,
            meta: input.meta.map(|m| m.0),
            credits: input.credits.map(CreditsInput::into_domain).transpose()?,
            ratelimits: limit_inputs(input.ratelimits),
        };
        Ok(Identity(
            services(ctx)?.create_identity(actor(ctx)?, new).await?,
        ))
    }

    /// Edits an identity; its keys see the change before this returns. **Permissions**:
    /// `api_keys:write`.
    async fn update_identity(
        &self,
        ctx: &Context<'_>,
        input: UpdateIdentityInput,
    ) -> async_graphql::Result<Identity> {
        let id = parse_id("input.id", &input.id)?;
        let update = IdentityUpdate {
            external_id: input.external_id,
            meta: maybe(input.meta, |m| Ok(m.0))?,
            credits: maybe(input.credits, CreditsInput::into_domain)?,
            ratelimits: input.ratelimits.map(|l| limit_inputs(Some(l))),
        };
        Ok(Identity(
            services(ctx)?
                .update_identity(actor(ctx)?, id, update)
                .await?,
        ))
    }

    /// Deletes an identity; its keys stay, without it. **Permissions**: `api_keys:write`.
    async fn delete_identity(
        &self,
        ctx: &Context<'_>,
        input: DeleteIdentityInput,
    ) -> async_graphql::Result<bool> {
        let id = parse_id("input.id", &input.id)?;
        services(ctx)?.delete_identity(actor(ctx)?, id).await?;
        Ok(true)
    }

    /// Sets, adds to or takes from an identity's credits. **Permissions**: `api_keys:write`.
    async fn change_identity_credits(
        &self,
        ctx: &Context<'_>,
        input: ChangeCreditsInput,
    ) -> async_graphql::Result<Credits> {
        let id = parse_id("input.id", &input.id)?;
        let pool = services(ctx)?
            .change_identity_credits(actor(ctx)?, id, input.op.into(), input.value)
            .await?;
        Ok(Credits(pool))
    }
}

//! API keys, personal access tokens, and checking a credential.

use std::{io::Read, time::Duration};

use chrono::Utc;
use clap::Args;
use serde_json::json;

use keyward_cli::{
    Error, Result, Secret,
    client::{Client, Key, Page, Token, ops},
    error::exit,
    token,
};

use crate::{context::Ctx, output};

/// An operation's `credits` input from `--credits` and `--refill` (each operation's
/// module has its own generated input types, of the same shape).
macro_rules! credits_input {
    ($($op:ident)::+; $credits:expr, $refill:expr) => {
        $credits.map(|remaining| $($op)::+::CreditsInput {
            remaining,
            refill: $refill.map(|r: $crate::manage::Refill| $($op)::+::RefillInput {
                interval: if r.monthly {
                    $($op)::+::RefillInterval::MONTHLY
                } else {
                    $($op)::+::RefillInterval::DAILY
                },
                amount: r.amount,
                day_of_month: r.day,
            }),
        })
    };
}

/// An operation's `ratelimits` input from `--limit` options (`None` when there are none).
macro_rules! limits_input {
    ($($op:ident)::+; $limits:expr) => {{
        let limits: Vec<$crate::manage::Limit> = $limits;
        (!limits.is_empty()).then(|| {
            limits
                .into_iter()
                .map(|l| $($op)::+::RatelimitInput {
                    name: l.name,
                    limit: l.limit,
                    duration_ms: l.duration_ms,
                    auto_apply: l.auto_apply,
                })
                .collect::<Vec<_>>()
        })
    }};
}

pub(crate) use {credits_input, limits_input};

/// `keyward keys create`.
#[derive(Args)]
pub struct CreateKey {
    /// What the key is for.
    name: String,
    /// A `resource:level` scope (repeat for several); none: all of your permissions.
    #[arg(long = "scope", value_name = "SCOPE")]
    scopes: Vec<String>,
    /// Expire after this long (`30d`, `12h`); default: never.
    #[arg(long, value_name = "DURATION")]
    expires_in: Option<humantime::Duration>,
    /// `live` or `test`.
    #[arg(long, default_value = "live", value_parser = ["live", "test"])]
    env: String,
    /// Requests per minute; default: the organization's.
    #[arg(long, value_name = "N")]
    rate_limit: Option<i64>,
    /// For the whole organization, not only the active project.
    #[arg(long)]
    all_projects: bool,
    /// Credits verifications spend (unlimited without).
    #[arg(long, value_name = "N")]
    credits: Option<i64>,
    /// Refill the credits: `daily:AMOUNT` or `monthly:AMOUNT[:DAY]` (at 00:00 UTC).
    #[arg(long, value_name = "WHEN", requires = "credits", value_parser = parse_refill)]
    refill: Option<Refill>,
    /// A named rate limit, `NAME=LIMIT/DURATION` (`tokens=1000/1m`), counted when a
    /// verification names it; add `:auto` to count every verification. Repeat for several.
    #[arg(long = "limit", value_name = "LIMIT", value_parser = parse_limit)]
    limits: Vec<Limit>,
    /// The product's own data, a JSON object, returned by verify.
    #[arg(long, value_name = "JSON", value_parser = parse_meta)]
    meta: Option<serde_json::Value>,
    /// The product's id of the key's customer: the key joins that identity.
    #[arg(long, value_name = "ID")]
    external_id: Option<String>,
}

/// `keyward keys update`: each option given is changed, the rest left as they are.
#[derive(Args)]
pub struct UpdateKey {
    /// Id, name or prefix.
    key: String,
    /// A new name.
    #[arg(long)]
    name: Option<String>,
    /// Expire this long from now (`30d`).
    #[arg(long, value_name = "DURATION")]
    expires_in: Option<humantime::Duration>,
    /// Requests per minute.
    #[arg(long, value_name = "N")]
    rate_limit: Option<i64>,
    /// Set the credits (with `--refill`, their refill).
    #[arg(long, value_name = "N")]
    credits: Option<i64>,
    /// Refill the credits: `daily:AMOUNT` or `monthly:AMOUNT[:DAY]`.
    #[arg(long, value_name = "WHEN", requires = "credits", value_parser = parse_refill)]
    refill: Option<Refill>,
    /// The key's named limits, all of them: `NAME=LIMIT/DURATION[:auto]`, repeated.
    #[arg(long = "limit", value_name = "LIMIT", value_parser = parse_limit)]
    limits: Vec<Limit>,
    /// The product's own data, a JSON object.
    #[arg(long, value_name = "JSON", value_parser = parse_meta)]
    meta: Option<serde_json::Value>,
    /// The product's id of the key's customer.
    #[arg(long, value_name = "ID")]
    external_id: Option<String>,
    /// Never expire (within the organization's policy).
    #[arg(long, conflicts_with = "expires_in")]
    no_expiry: bool,
    /// Remove the key's own credits: unlimited (or its identity's).
    #[arg(long, conflicts_with = "credits")]
    no_credits: bool,
    /// Remove every named limit of the key's own.
    #[arg(long, conflicts_with = "limits")]
    no_limits: bool,
    /// Back to the organization's requests per minute.
    #[arg(long, conflicts_with = "rate_limit")]
    no_rate_limit: bool,
    /// Remove the metadata.
    #[arg(long, conflicts_with = "meta")]
    no_meta: bool,
    /// Take the key out of its identity.
    #[arg(long, conflicts_with = "external_id")]
    no_identity: bool,
}

/// `--refill`.
#[derive(Debug, Clone)]
pub struct Refill {
    pub monthly: bool,
    pub amount: i64,
    pub day: Option<i64>,
}

pub fn parse_refill(raw: &str) -> std::result::Result<Refill, String> {
    let mut parts = raw.split(':');
    let monthly = match parts.next() {
        Some("daily") => false,
        Some("monthly") => true,
        _ => return Err("starts with `daily:` or `monthly:`".into()),
    };
    let amount = parts
        .next()
        .and_then(|a| a.parse().ok())
        .ok_or("needs an amount, e.g. `monthly:1000`")?;
    let day = match parts.next() {
        None => None,
        Some(d) if monthly => Some(d.parse().map_err(|_| "the day is a number, 1-31")?),
        Some(_) => return Err("only a monthly refill takes a day".into()),
    };
    if parts.next().is_some() {
        return Err("is `daily:AMOUNT` or `monthly:AMOUNT[:DAY]`".into());
    }
    Ok(Refill {
        monthly,
        amount,
        day,
    })
}

/// `--limit`.
#[derive(Debug, Clone)]
pub struct Limit {
    pub name: String,
    pub limit: i64,
    pub duration_ms: i64,
    pub auto_apply: bool,
}

pub fn parse_limit(raw: &str) -> std::result::Result<Limit, String> {
    let (raw, auto_apply) = match raw.strip_suffix(":auto") {
        Some(rest) => (rest, true),
        None => (raw, false),
    };
    let (name, rest) = raw
        .split_once('=')
        .ok_or("is `NAME=LIMIT/DURATION`, e.g. `tokens=1000/1m`")?;
    let (limit, duration) = rest
        .split_once('/')
        .ok_or("is `NAME=LIMIT/DURATION`, e.g. `tokens=1000/1m`")?;
    let limit = limit.parse().map_err(|_| "the limit is a number")?;
    let duration: std::time::Duration = duration
        .parse::<humantime::Duration>()
        .map_err(|e| format!("the duration: {e}"))?
        .into();
    Ok(Limit {
        name: name.to_owned(),
        limit,
        duration_ms: i64::try_from(duration.as_millis()).map_err(|_| "the duration is too long")?,
        auto_apply,
    })
}

pub fn parse_meta(raw: &str) -> std::result::Result<serde_json::Value, String> {
    match serde_json::from_str(raw) {
        Ok(v @ serde_json::Value::Object(_)) => Ok(v),
        Ok(_) => Err("must be a JSON object, e.g. '{\"plan\":\"pro\"}'".into()),
        Err(e) => Err(format!("is not JSON: {e}")),
    }
}

/// `keyward tokens create`.
#[derive(Args)]
pub struct CreateToken {
    /// What the token is for (often the machine).
    name: String,
    /// A `resource:level` scope (repeat for several); none: all of your permissions.
    #[arg(long = "scope", value_name = "SCOPE")]
    scopes: Vec<String>,
    /// Expire after this long (`30d`); default: the server's (120 days).
    #[arg(long, value_name = "DURATION")]
    expires_in: Option<humantime::Duration>,
}

fn expiry(after: Option<humantime::Duration>) -> Result<Option<chrono::DateTime<Utc>>> {
    after
        .map(|d| {
            chrono::TimeDelta::from_std(d.into())
                .ok()
                .and_then(|d| Utc::now().checked_add_signed(d))
                .ok_or_else(|| Error::usage("--expires-in is too far in the future"))
        })
        .transpose()
}

fn key_row(k: &Key) -> Vec<String> {
    vec![
        k.name.clone(),
        format!("{}…{}", k.prefix, k.last4),
        k.status.to_ascii_lowercase(),
        k.project
            .as_ref()
            .map_or_else(|| "all".to_owned(), |p| p.name.clone()),
        output::time(k.expires_at.as_ref(), "never"),
        output::time(k.last_used_at.as_ref(), "never"),
        k.id.clone(),
    ]
}

const KEY_HEADER: [&str; 7] = [
    "NAME",
    "KEY",
    "STATUS",
    "PROJECT",
    "EXPIRES",
    "LAST USED",
    "ID",
];

/// Ids are UUIDs; anything else is a name, prefix or external id.
pub fn looks_like_id(s: &str) -> bool {
    s.len() == 36
        && s.bytes().enumerate().all(|(i, b)| {
            matches!(i, 8 | 13 | 18 | 23) == (b == b'-') && (b == b'-' || b.is_ascii_hexdigit())
        })
}

/// Finds one key of the active organization by id, name or prefix.
async fn find_key(ctx: &Ctx, client: &Client, wanted: &str) -> Result<Key> {
    if looks_like_id(wanted) {
        return client
            .field::<ops::ApiKey, _>(
                ops::api_key::Variables {
                    id: wanted.to_owned(),
                },
                "apiKey",
            )
            .await;
    }
    let org = ctx.active_org(client).await?;
    let page: Page<Key> = client
        .field::<ops::ApiKeys, _>(
            ops::api_keys::Variables {
                organization_id: org.id.clone(),
                project_id: None,
                search: Some(wanted.to_owned()),
                first: Some(100),
                after: None,
            },
            "apiKeys",
        )
        .await?;
    let mut matches: Vec<Key> = page
        .nodes
        .into_iter()
        // A revoked key is gone for good: its name may be used again.
        .filter(|k| k.status != "REVOKED")
        .filter(|k| {
            k.name == wanted || k.prefix == wanted || format!("{}…{}", k.prefix, k.last4) == wanted
        })
        .collect();
    // A rotated key keeps its name while its grace period runs, beside its successor:
    // acting on "the" key of that name could revoke the new one and leave the old secret
    // working. Which one is meant is asked, never guessed.
    matches.sort_by_key(|k| k.created_at);
    match <[Key; 1]>::try_from(matches) {
        Ok([one]) => Ok(one),
        Err(none) if none.is_empty() => Err(Error::NotFound(format!(
            "no key `{wanted}` in {}: `keyward keys list` shows them",
            org.name
        ))),
        Err(many) => Err(Error::usage(format!(
            "{} keys match `{wanted}`; give the id of the one you mean:\n{}",
            many.len(),
            many.iter().map(candidate).collect::<Vec<_>>().join("\n")
        ))),
    }
}

/// One line of an ambiguous name's candidates: id, prefix, status, and its rotation.
fn candidate(k: &Key) -> String {
    let rotation = match (&k.replaced_by, &k.replaces) {
        (Some(new), _) => format!(
            ", replaced by {} ({}), works until {}",
            new.prefix,
            new.id,
            output::time(k.rotation_ends_at.as_ref(), "its grace period ends")
        ),
        (None, Some(old)) => format!(", replaces {} ({})", old.prefix, old.id),
        (None, None) => String::new(),
    };
    format!(
        "  {}  {}…{}  {}{rotation}",
        k.id,
        k.prefix,
        k.last4,
        k.status.to_lowercase()
    )
}

/// Prints a secret once: the secret alone on standard output, the warning on standard
/// error, so `keyward keys create x > key.txt` keeps only the secret.
fn show_secret(ctx: &Ctx, secret: &Secret, what: &str, data: serde_json::Value) -> Result<()> {
    if ctx.json {
        return output::json(&json!({ "secret": secret.expose(), what: data }));
    }
    output::warn("Store this secret now: it is shown only once.");
    output::line(secret.expose());
    Ok(())
}

/// What a created credential is, or, when the answer could not be read, the secret
/// shown anyway before the error.
fn described<T>(ctx: &Ctx, secret: &Secret, what: &str, item: Result<T>) -> Result<T> {
    item.or_else(|err| {
        show_secret(ctx, secret, what, serde_json::Value::Null)?;
        Err(err)
    })
}

/// `keyward keys list`.
pub async fn keys_list(ctx: &Ctx, search: Option<String>, limit: u32) -> Result<i32> {
    let client = ctx.client()?;
    let org = ctx.active_org(&client).await?;
    let project = ctx.active_project(&client, &org).await?.map(|p| p.id);
    let mut keys = Vec::new();
    let mut after = None;
    let mut total;
    loop {
        let remaining = limit as usize - keys.len();
        let page: Page<Key> = client
            .field::<ops::ApiKeys, _>(
                ops::api_keys::Variables {
                    organization_id: org.id.clone(),
                    project_id: project.clone(),
                    search: search.clone(),
                    first: Some(remaining.min(100) as i64),
                    after: after.take(),
                },
                "apiKeys",
            )
            .await?;
        total = page.total_count;
        keys.extend(page.nodes);
        match page.page_info.end_cursor {
            Some(cursor) if page.page_info.has_next_page && keys.len() < limit as usize => {
                after = Some(cursor);
            }
            _ => break,
        }
    }
    if ctx.json {
        output::json(&keys)?;
        return Ok(exit::OK);
    }
    output::table(&KEY_HEADER, keys.iter().map(key_row).collect());
    if (keys.len() as i64) < total {
        output::note(&format!(
            "Showing {} of {total}; pass --limit or --search to see others.",
            keys.len()
        ));
    }
    Ok(exit::OK)
}

/// `keyward keys create`.
pub async fn keys_create(ctx: &Ctx, args: CreateKey) -> Result<i32> {
    let client = ctx.client()?;
    let org = ctx.active_org(&client).await?;
    let project = if args.all_projects {
        None
    } else {
        ctx.active_project(&client, &org).await?.map(|p| p.id)
    };
    let (secret, key) = client
        .created::<ops::CreateApiKey, Key>(
            ops::create_api_key::Variables {
                input: ops::create_api_key::CreateApiKeyInput {
                    organization_id: org.id.clone(),
                    project_id: project,
                    name: args.name,
                    expires_at: expiry(args.expires_in)?,
                    scopes: (!args.scopes.is_empty()).then_some(args.scopes),
                    environment: if args.env == "test" {
                        ops::create_api_key::Environment::TEST
                    } else {
                        ops::create_api_key::Environment::LIVE
                    },
                    rate_limit_per_minute: args.rate_limit,
                    meta: args.meta,
                    credits: credits_input!(ops::create_api_key; args.credits, args.refill),
                    ratelimits: limits_input!(ops::create_api_key; args.limits),
                    external_id: args.external_id,
                },
            },
            "createApiKey",
            "apiKey",
        )
        .await?;
    let key = described(ctx, &secret, "apiKey", key)?;
    if !ctx.json {
        output::done(&format!(
            "Created key `{}` ({}…) in {}, {}",
            key.name,
            key.prefix,
            org.name,
            key.project.as_ref().map_or_else(
                || "all projects".to_owned(),
                |p| format!("project {}", p.name)
            )
        ));
    }
    show_secret(ctx, &secret, "apiKey", json!(key))?;
    Ok(exit::OK)
}

/// `keyward keys revoke`.
pub async fn keys_revoke(
    ctx: &Ctx,
    wanted: &str,
    reason: Option<String>,
    yes: bool,
) -> Result<i32> {
    let client = ctx.client()?;
    let key = find_key(ctx, &client, wanted).await?;
    if !yes
        && !output::confirm(&format!(
            "Revoke key `{}` ({}…{})? Requests with it fail at once",
            key.name, key.prefix, key.last4
        ))?
    {
        output::note("Nothing was revoked.");
        return Ok(exit::OTHER);
    }
    let revoked: Key = client
        .field::<ops::RevokeApiKey, _>(
            ops::revoke_api_key::Variables {
                input: ops::revoke_api_key::RevokeApiKeyInput { id: key.id, reason },
            },
            "revokeApiKey",
        )
        .await?;
    if ctx.json {
        output::json(&revoked)?;
    } else {
        output::done(&format!("Revoked key `{}`", revoked.name));
    }
    Ok(exit::OK)
}

/// `keyward keys rotate`.
pub async fn keys_rotate(ctx: &Ctx, wanted: &str, grace: Duration) -> Result<i32> {
    if grace > Duration::from_secs(86_400) {
        return Err(Error::usage("--grace may be at most 24h"));
    }
    let client = ctx.client()?;
    let key = find_key(ctx, &client, wanted).await?;
    let (secret, new) = client
        .created::<ops::RotateApiKey, Key>(
            ops::rotate_api_key::Variables {
                input: ops::rotate_api_key::RotateApiKeyInput {
                    id: key.id.clone(),
                    grace_period_seconds: grace.as_secs() as i64,
                },
            },
            "rotateApiKey",
            "apiKey",
        )
        .await?;
    let new = described(ctx, &secret, "apiKey", new)?;
    if !ctx.json {
        output::done(&format!(
            "Rotated key `{}`: the old secret ({}…{}, {}) {}",
            new.name,
            key.prefix,
            key.last4,
            key.id,
            if grace.is_zero() {
                "stopped working".to_owned()
            } else {
                format!(
                    "works for {} more; both keys now have this name, so give an id to act on one (`keyward keys revoke {}` ends the old one now)",
                    humantime::format_duration(grace),
                    key.id
                )
            }
        ));
    }
    show_secret(ctx, &secret, "apiKey", json!(new))?;
    Ok(exit::OK)
}

/// `keyward keys update`.
pub async fn keys_update(ctx: &Ctx, args: UpdateKey) -> Result<i32> {
    use ops::update_api_key as op;
    let client = ctx.client()?;
    let key = find_key(ctx, &client, &args.key).await?;
    let input = op::UpdateApiKeyInput {
        id: key.id,
        name: args.name,
        expires_at: expiry(args.expires_in)?,
        scopes: None,
        meta: args.meta,
        credits: credits_input!(op; args.credits, args.refill),
        ratelimits: if args.no_limits {
            Some(Vec::new())
        } else {
            limits_input!(op; args.limits)
        },
        rate_limit_per_minute: args.rate_limit,
        external_id: args.external_id,
        enabled: None,
    };
    let clear: Vec<&str> = [
        (args.no_expiry, "expiresAt"),
        (args.no_credits, "credits"),
        (args.no_rate_limit, "rateLimitPerMinute"),
        (args.no_meta, "meta"),
        (args.no_identity, "externalId"),
    ]
    .into_iter()
    .filter_map(|(given, member)| given.then_some(member))
    .collect();
    let changed: Key = client
        .field_clearing::<ops::UpdateApiKey, _>(op::Variables { input }, &clear, "updateApiKey")
        .await?;
    if ctx.json {
        output::json(&changed)?;
    } else {
        output::done(&format!("Updated key `{}`", changed.name));
    }
    Ok(exit::OK)
}

/// `keyward keys credits`.
pub async fn keys_credits(ctx: &Ctx, wanted: &str, op: &str, value: i64) -> Result<i32> {
    use ops::change_api_key_credits as change;
    let client = ctx.client()?;
    let key = find_key(ctx, &client, wanted).await?;
    let op = match op {
        "set" => change::CreditOperation::SET,
        "increment" => change::CreditOperation::INCREMENT,
        _ => change::CreditOperation::DECREMENT,
    };
    let credits: serde_json::Value = client
        .field::<ops::ChangeApiKeyCredits, _>(
            change::Variables {
                input: change::ChangeCreditsInput {
                    id: key.id,
                    op,
                    value,
                },
            },
            "changeApiKeyCredits",
        )
        .await?;
    if ctx.json {
        output::json(&credits)?;
    } else {
        output::done(&format!(
            "Key `{}` has {} credits",
            key.name, credits["remaining"]
        ));
    }
    Ok(exit::OK)
}

/// `keyward keys disable` and `enable`.
pub async fn keys_toggle(ctx: &Ctx, wanted: &str, enable: bool) -> Result<i32> {
    let client = ctx.client()?;
    let key = find_key(ctx, &client, wanted).await?;
    let changed: Key = if enable {
        let input = ops::enable_api_key::ApiKeyInput { id: key.id };
        client
            .field::<ops::EnableApiKey, _>(ops::enable_api_key::Variables { input }, "enableApiKey")
            .await?
    } else {
        let input = ops::disable_api_key::ApiKeyInput { id: key.id };
        client
            .field::<ops::DisableApiKey, _>(
                ops::disable_api_key::Variables { input },
                "disableApiKey",
            )
            .await?
    };
    if ctx.json {
        output::json(&changed)?;
    } else {
        output::done(&format!(
            "{} key `{}`",
            if enable { "Enabled" } else { "Disabled" },
            changed.name
        ));
    }
    Ok(exit::OK)
}

fn token_row(t: &Token) -> Vec<String> {
    vec![
        t.name.clone(),
        format!("{}…{}", t.prefix, t.last4),
        t.status.to_ascii_lowercase(),
        t.scopes
            .as_ref()
            .map_or_else(|| "all".to_owned(), |s| s.join(" ")),
        output::time(t.expires_at.as_ref(), "never"),
        output::time(t.last_used_at.as_ref(), "never"),
        t.id.clone(),
    ]
}

async fn all_tokens(client: &Client) -> Result<Vec<Token>> {
    let mut tokens = Vec::new();
    let mut after = None;
    loop {
        let page: Page<Token> = client
            .field::<ops::PersonalAccessTokens, _>(
                ops::personal_access_tokens::Variables {
                    first: Some(100),
                    after: after.take(),
                },
                "personalAccessTokens",
            )
            .await?;
        tokens.extend(page.nodes);
        match page.page_info.end_cursor {
            // Bounded: a user has at most a few hundred tokens.
            Some(cursor) if page.page_info.has_next_page && tokens.len() < 1000 => {
                after = Some(cursor);
            }
            _ => return Ok(tokens),
        }
    }
}

/// `keyward tokens list`.
pub async fn tokens_list(ctx: &Ctx) -> Result<i32> {
    let tokens = all_tokens(&ctx.client()?).await?;
    if ctx.json {
        output::json(&tokens)?;
    } else {
        output::table(
            &[
                "NAME",
                "TOKEN",
                "STATUS",
                "SCOPES",
                "EXPIRES",
                "LAST USED",
                "ID",
            ],
            tokens.iter().map(token_row).collect(),
        );
    }
    Ok(exit::OK)
}

/// `keyward tokens create`.
pub async fn tokens_create(ctx: &Ctx, args: CreateToken) -> Result<i32> {
    let (secret, token) = ctx
        .client()?
        .created::<ops::CreatePersonalAccessToken, Token>(
            ops::create_personal_access_token::Variables {
                input: ops::create_personal_access_token::CreatePersonalAccessTokenInput {
                    name: args.name,
                    expires_at: expiry(args.expires_in)?,
                    scopes: (!args.scopes.is_empty()).then_some(args.scopes),
                },
            },
            "createPersonalAccessToken",
            "token",
        )
        .await?;
    let token = described(ctx, &secret, "token", token)?;
    if !ctx.json {
        output::done(&format!(
            "Created token `{}` ({}…), expires {}",
            token.name,
            token.prefix,
            output::time(token.expires_at.as_ref(), "never")
        ));
    }
    show_secret(ctx, &secret, "token", json!(token))?;
    Ok(exit::OK)
}

/// `keyward tokens revoke`.
pub async fn tokens_revoke(ctx: &Ctx, wanted: &str, yes: bool) -> Result<i32> {
    let client = ctx.client()?;
    let tokens = all_tokens(&client).await?;
    let matches: Vec<&Token> = tokens
        .iter()
        .filter(|t| t.id == wanted || t.name == wanted)
        .filter(|t| t.id == wanted || t.status != "REVOKED")
        .collect();
    let token = match matches.as_slice() {
        [one] => *one,
        [] => {
            return Err(Error::NotFound(format!(
                "no token `{wanted}`: `keyward tokens list` shows them"
            )));
        }
        many => {
            return Err(Error::usage(format!(
                "{} tokens are named `{wanted}`: use the id",
                many.len()
            )));
        }
    };
    if !yes && !output::confirm(&format!("Revoke token `{}`?", token.name))? {
        output::note("Nothing was revoked.");
        return Ok(exit::OTHER);
    }
    let revoked: Token = client
        .field::<ops::RevokePersonalAccessToken, _>(
            ops::revoke_personal_access_token::Variables {
                input: ops::revoke_personal_access_token::RevokePersonalAccessTokenInput {
                    id: token.id.clone(),
                    reason: None,
                },
            },
            "revokePersonalAccessToken",
        )
        .await?;
    if ctx.json {
        output::json(&revoked)?;
    } else {
        output::done(&format!("Revoked token `{}`", revoked.name));
    }
    Ok(exit::OK)
}

/// `keyward verify [TOKEN]`: exits 0 only when the server says the credential is valid.
pub async fn verify(ctx: &Ctx, raw: Option<String>) -> Result<i32> {
    let raw = match raw.filter(|r| r != "-") {
        Some(raw) => raw,
        None => {
            let mut text = String::new();
            std::io::stdin()
                .take(4096)
                .read_to_string(&mut text)
                .map_err(|e| Error::usage(format!("cannot read the token: {e}")))?;
            text
        }
    };
    let raw = raw.trim();
    if let Err(why) = token::check(raw) {
        if ctx.json {
            output::json(&json!({ "valid": false, "code": "MALFORMED" }))?;
        } else {
            output::line(&format!("invalid: this token is mistyped ({why})"));
        }
        return Ok(exit::UNAUTHENTICATED);
    }
    let answer = ctx.anonymous()?.verify(&Secret::new(raw)).await?;
    let valid = answer["valid"] == true;
    if ctx.json {
        output::json(&answer)?;
    } else if valid {
        let owner = answer["customer"]["email"]
            .as_str()
            .or(answer["service_account"]["name"].as_str())
            .unwrap_or("-");
        output::line(&format!(
            "valid: {} `{}` of {}, owner {owner}",
            answer["key"]["kind"].as_str().unwrap_or("credential"),
            answer["key"]["name"].as_str().unwrap_or("?"),
            answer["organization"]["name"]
                .as_str()
                .unwrap_or("no organization"),
        ));
    } else {
        output::line(&format!(
            "invalid: {}",
            answer["code"]
                .as_str()
                .unwrap_or("refused")
                .to_ascii_lowercase()
        ));
    }
    Ok(if valid {
        exit::OK
    } else {
        exit::UNAUTHENTICATED
    })
}

//! `keyward identities`: the product's customers, each with the credits, limits and
//! metadata its keys share (SPEC §3.5).

use clap::{Args, Subcommand};

use keyward_cli::{
    Error, Result,
    client::{Client, Identity, Page, ops},
    error::exit,
};

use crate::{
    context::Ctx,
    manage::{
        Limit, Refill, credits_input, limits_input, looks_like_id, parse_limit, parse_meta,
        parse_refill,
    },
    output,
};

#[derive(Subcommand)]
pub enum IdentitiesCommand {
    /// The active organization's identities.
    List,
    /// Create an identity for one of the product's customers.
    Create(CreateIdentity),
    /// One identity, by external id or id.
    Show { identity: String },
    /// Change an identity: each option given is changed, the rest left as they are.
    Update(UpdateIdentity),
    /// Set, add to or take from an identity's credits.
    Credits {
        /// External id or id.
        identity: String,
        #[arg(value_parser = ["set", "increment", "decrement"])]
        op: String,
        /// How many.
        value: i64,
    },
    /// Delete an identity; its keys stay, without it.
    Delete {
        /// External id or id.
        identity: String,
        /// Do not ask for confirmation.
        #[arg(long, short)]
        yes: bool,
    },
}

/// What an identity carries, as options.
#[derive(Args)]
pub struct Controls {
    /// Credits its keys share (unlimited without).
    #[arg(long, value_name = "N")]
    credits: Option<i64>,
    /// Refill the credits: `daily:AMOUNT` or `monthly:AMOUNT[:DAY]` (at 00:00 UTC).
    #[arg(long, value_name = "WHEN", requires = "credits", value_parser = parse_refill)]
    refill: Option<Refill>,
    /// A named limit its keys share, `NAME=LIMIT/DURATION[:auto]`; repeat for several.
    #[arg(long = "limit", value_name = "LIMIT", value_parser = parse_limit)]
    limits: Vec<Limit>,
    /// The product's own data, a JSON object, returned by verify.
    #[arg(long, value_name = "JSON", value_parser = parse_meta)]
    meta: Option<serde_json::Value>,
}

/// `keyward identities create`.
#[derive(Args)]
pub struct CreateIdentity {
    /// The product's id for its customer, unique in the organization.
    external_id: String,
    #[command(flatten)]
    controls: Controls,
}

/// `keyward identities update`.
#[derive(Args)]
pub struct UpdateIdentity {
    /// External id or id.
    identity: String,
    /// A new external id.
    #[arg(long, value_name = "ID")]
    external_id: Option<String>,
    #[command(flatten)]
    controls: Controls,
    /// Remove the credits: its keys are unlimited (unless they have their own).
    #[arg(long, conflicts_with = "credits")]
    no_credits: bool,
    /// Remove every named limit.
    #[arg(long, conflicts_with = "limits")]
    no_limits: bool,
    /// Remove the metadata.
    #[arg(long, conflicts_with = "meta")]
    no_meta: bool,
}

pub async fn run(ctx: &Ctx, command: IdentitiesCommand) -> Result<i32> {
    match command {
        IdentitiesCommand::List => list(ctx).await,
        IdentitiesCommand::Create(args) => create(ctx, args).await,
        IdentitiesCommand::Show { identity } => show(ctx, &identity).await,
        IdentitiesCommand::Update(args) => update(ctx, args).await,
        IdentitiesCommand::Credits {
            identity,
            op,
            value,
        } => credits(ctx, &identity, &op, value).await,
        IdentitiesCommand::Delete { identity, yes } => delete(ctx, &identity, yes).await,
    }
}

async fn find(ctx: &Ctx, client: &Client, wanted: &str) -> Result<Identity> {
    if looks_like_id(wanted) {
        return client
            .field::<ops::Identity, _>(
                ops::identity::Variables {
                    id: wanted.to_owned(),
                },
                "identity",
            )
            .await;
    }
    let org = ctx.active_org(client).await?;
    client
        .field::<ops::IdentityByExternalId, _>(
            ops::identity_by_external_id::Variables {
                organization_id: org.id,
                external_id: wanted.to_owned(),
            },
            "identityByExternalId",
        )
        .await
        .map_err(|err| match err {
            Error::NotFound(_) => Error::NotFound(format!(
                "no identity `{wanted}` in {}: `keyward identities list` shows them",
                org.name
            )),
            other => other,
        })
}

fn limits_text(i: &Identity) -> String {
    if i.ratelimits.is_empty() {
        return "none".to_owned();
    }
    i.ratelimits
        .iter()
        .map(|l| {
            let every = humantime::format_duration(std::time::Duration::from_millis(
                u64::try_from(l.duration_ms).unwrap_or(0),
            ));
            format!(
                "{}={}/{every}{}",
                l.name,
                l.limit,
                if l.auto_apply { ":auto" } else { "" }
            )
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn credits_text(i: &Identity) -> String {
    i.credits
        .as_ref()
        .map_or_else(|| "unlimited".to_owned(), |c| c.remaining.to_string())
}

fn row(i: &Identity) -> Vec<String> {
    vec![
        i.external_id.clone(),
        credits_text(i),
        limits_text(i),
        output::time(Some(&i.created_at), ""),
        i.id.clone(),
    ]
}

async fn list(ctx: &Ctx) -> Result<i32> {
    let client = ctx.client()?;
    let org = ctx.active_org(&client).await?;
    let mut all = Vec::new();
    let mut after = None;
    loop {
        let page: Page<Identity> = client
            .field::<ops::Identities, _>(
                ops::identities::Variables {
                    organization_id: org.id.clone(),
                    first: Some(100),
                    after: after.take(),
                },
                "identities",
            )
            .await?;
        all.extend(page.nodes);
        match (page.page_info.has_next_page, page.page_info.end_cursor) {
            (true, Some(cursor)) => after = Some(cursor),
            _ => break,
        }
    }
    if ctx.json {
        output::json(&all)?;
    } else {
        output::table(
            &["EXTERNAL ID", "CREDITS", "LIMITS", "CREATED", "ID"],
            all.iter().map(row).collect(),
        );
    }
    Ok(exit::OK)
}

async fn create(ctx: &Ctx, args: CreateIdentity) -> Result<i32> {
    use ops::create_identity as op;
    let client = ctx.client()?;
    let org = ctx.active_org(&client).await?;
    let c = args.controls;
    let input = op::CreateIdentityInput {
        organization_id: org.id,
        external_id: args.external_id,
        meta: c.meta,
        credits: credits_input!(op; c.credits, c.refill),
        ratelimits: limits_input!(op; c.limits),
    };
    let made: Identity = client
        .field::<ops::CreateIdentity, _>(op::Variables { input }, "createIdentity")
        .await?;
    if ctx.json {
        output::json(&made)?;
    } else {
        output::done(&format!(
            "Created identity `{}` ({} credits; limits: {}); give it keys with `keyward keys create NAME --external-id {}`",
            made.external_id,
            credits_text(&made),
            limits_text(&made),
            made.external_id
        ));
    }
    Ok(exit::OK)
}

async fn show(ctx: &Ctx, wanted: &str) -> Result<i32> {
    let client = ctx.client()?;
    let found = find(ctx, &client, wanted).await?;
    if ctx.json {
        output::json(&found)?;
    } else {
        output::table(
            &["EXTERNAL ID", "CREDITS", "LIMITS", "CREATED", "ID"],
            vec![row(&found)],
        );
        if let Some(meta) = &found.meta {
            output::line(&format!("meta: {meta}"));
        }
    }
    Ok(exit::OK)
}

async fn update(ctx: &Ctx, args: UpdateIdentity) -> Result<i32> {
    use ops::update_identity as op;
    let client = ctx.client()?;
    let found = find(ctx, &client, &args.identity).await?;
    let c = args.controls;
    let input = op::UpdateIdentityInput {
        id: found.id,
        external_id: args.external_id,
        meta: c.meta,
        credits: credits_input!(op; c.credits, c.refill),
        ratelimits: if args.no_limits {
            Some(Vec::new())
        } else {
            limits_input!(op; c.limits)
        },
    };
    let mut clear = Vec::new();
    if args.no_credits {
        clear.push("credits");
    }
    if args.no_meta {
        clear.push("meta");
    }
    let changed: Identity = client
        .field_clearing::<ops::UpdateIdentity, _>(op::Variables { input }, &clear, "updateIdentity")
        .await?;
    if ctx.json {
        output::json(&changed)?;
    } else {
        output::done(&format!(
            "Updated identity `{}` ({} credits; limits: {})",
            changed.external_id,
            credits_text(&changed),
            limits_text(&changed)
        ));
    }
    Ok(exit::OK)
}

async fn credits(ctx: &Ctx, wanted: &str, op: &str, value: i64) -> Result<i32> {
    use ops::change_identity_credits as change;
    let client = ctx.client()?;
    let found = find(ctx, &client, wanted).await?;
    let op = match op {
        "set" => change::CreditOperation::SET,
        "increment" => change::CreditOperation::INCREMENT,
        _ => change::CreditOperation::DECREMENT,
    };
    let credits: serde_json::Value = client
        .field::<ops::ChangeIdentityCredits, _>(
            change::Variables {
                input: change::ChangeCreditsInput {
                    id: found.id,
                    op,
                    value,
                },
            },
            "changeIdentityCredits",
        )
        .await?;
    if ctx.json {
        output::json(&credits)?;
    } else {
        output::done(&format!(
            "Identity `{}` has {} credits",
            found.external_id, credits["remaining"]
        ));
    }
    Ok(exit::OK)
}

async fn delete(ctx: &Ctx, wanted: &str, yes: bool) -> Result<i32> {
    let client = ctx.client()?;
    let found = find(ctx, &client, wanted).await?;
    if !yes
        && !output::confirm(&format!(
            "Delete identity `{}`? Its keys stay, without its credits and limits",
            found.external_id
        ))?
    {
        output::note("Nothing was deleted.");
        return Ok(exit::OTHER);
    }
    let _: bool = client
        .field::<ops::DeleteIdentity, _>(
            ops::delete_identity::Variables {
                input: ops::delete_identity::DeleteIdentityInput {
                    id: found.id.clone(),
                },
            },
            "deleteIdentity",
        )
        .await?;
    if ctx.json {
        output::json(&serde_json::json!({ "deleted": found.id }))?;
    } else {
        output::done(&format!("Deleted identity `{}`", found.external_id));
    }
    Ok(exit::OK)
}

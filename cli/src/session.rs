//! Logging in and out, who the CLI acts as, and which organization and project it acts in.

use std::{io::Read, time::Duration};

use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;

use keyward_cli::{
    Error, Result, Secret,
    client::{Me, ops},
    config::{Auth, LoginMethod},
    error::exit,
    login::{self, BrowserPrompt, DeviceCode, DevicePrompt},
};

use crate::{
    LoginArgs,
    context::{Ctx, pick},
    output,
};

/// Reads a token given as `-` from standard input.
fn token_argument(raw: &str) -> Result<String> {
    if raw != "-" {
        return Ok(raw.to_owned());
    }
    let mut text = String::new();
    std::io::stdin()
        .take(4096)
        .read_to_string(&mut text)
        .map_err(|e| Error::usage(format!("cannot read the token from standard input: {e}")))?;
    Ok(text.trim().to_owned())
}

struct Terminal {
    spinner: Option<ProgressBar>,
}

impl Terminal {
    fn new() -> Self {
        Self { spinner: None }
    }

    fn spin(&mut self, message: &str) {
        let spinner = self.spinner.get_or_insert_with(|| {
            let bar = ProgressBar::new_spinner();
            bar.set_style(
                ProgressStyle::with_template("{spinner} {msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            bar.enable_steady_tick(Duration::from_millis(120));
            bar
        });
        spinner.set_message(message.to_owned());
    }

    fn stop(&mut self) {
        if let Some(spinner) = self.spinner.take() {
            spinner.finish_and_clear();
        }
    }
}

impl BrowserPrompt for Terminal {
    fn opening(&mut self, url: &str) {
        output::note("Opening your browser to sign in. If it does not open, visit:");
        output::note(&format!("  {url}"));
        self.spin("Waiting for the browser…");
    }
}

impl DevicePrompt for Terminal {
    fn code(&mut self, code: &DeviceCode) {
        output::note(&format!(
            "To log in, open {} on any device",
            code.verification_uri_complete
        ));
        output::note(&format!(
            "and check that it shows the code {} (or enter it at {}).",
            code.user_code, code.verification_uri
        ));
        self.spin("Waiting for approval…");
    }

    fn pending(&mut self) {
        self.spin("Waiting for approval…");
    }

    fn slowed(&mut self, interval: Duration) {
        self.spin(&format!(
            "Waiting for approval (the server asked to check every {} s)…",
            interval.as_secs()
        ));
    }
}

/// `keyward login`.
pub async fn login(ctx: &mut Ctx, args: LoginArgs) -> Result<i32> {
    if let Some(raw) = &args.token {
        return save_pasted(ctx, &token_argument(raw)?).await;
    }
    let client = ctx.anonymous()?;
    warn_if_cleartext(&ctx.server);
    let name = login::machine_name();
    let browser_cmd = std::env::var("KEYWARD_BROWSER_CMD").ok();
    let use_device = args.device
        || (!args.browser
            && browser_cmd.as_deref().is_none_or(|c| c.trim().is_empty())
            && login::headless(|n| std::env::var(n).ok()));
    let mut terminal = Terminal::new();
    let (issued, method) = if use_device {
        if !args.device {
            output::note("No browser here (SSH, CI or no display): using a device code.");
        }
        let issued = login::device(&client, &name, &mut terminal, &mut login::Sleep).await;
        (issued, LoginMethod::Device)
    } else {
        let open = |url: &str| login::open_in_browser(browser_cmd.as_deref(), url).map(drop);
        match login::browser(&client, &name, open, &mut terminal, args.timeout.into()).await {
            // Nothing will come back from a browser that never opened: a device code now,
            // rather than a wait for the timeout.
            Err(Error::NoBrowser(why)) => {
                output::note(&format!(
                    "No browser could be opened ({why}): using a device code instead."
                ));
                let issued = login::device(&client, &name, &mut terminal, &mut login::Sleep).await;
                (issued, LoginMethod::Device)
            }
            issued => (issued, LoginMethod::Browser),
        }
    };
    terminal.stop();
    let issued = issued?;
    let holder = client.with_token(Some(issued.token.clone()));
    let saved = match holder.me().await {
        Ok(me) => save_login(ctx, issued.token, method, &me).await,
        Err(err) => Err(err),
    };
    if saved.is_err() {
        // Issued but not kept: a token nobody holds is revoked rather than left behind.
        let _ = holder.revoke_current().await;
    }
    saved
}

/// Warns when a token would travel unencrypted to another machine.
fn warn_if_cleartext(server: &str) {
    let Ok(url) = reqwest::Url::parse(server) else {
        return;
    };
    let host = url.host_str().unwrap_or_default();
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let loopback = host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    if url.scheme() == "http" && !loopback {
        output::warn(&format!(
            "{server} is plain http: tokens sent to it can be read on the way. Use https://"
        ));
    }
}

/// `keyward api-key set TOKEN`, and `keyward login --token TOKEN`.
pub async fn set_token(ctx: &mut Ctx, raw: &str) -> Result<i32> {
    save_pasted(ctx, &token_argument(raw)?).await
}

async fn save_pasted(ctx: &mut Ctx, raw: &str) -> Result<i32> {
    let client = ctx.anonymous()?;
    warn_if_cleartext(&ctx.server);
    let (secret, me) = login::with_token(&client, raw).await?;
    save_login(ctx, secret, LoginMethod::Pasted, &me).await
}

/// Saves a new login; the token it replaces is revoked (on the server that issued it)
/// when this CLI was issued it.
async fn save_login(ctx: &mut Ctx, token: Secret, method: LoginMethod, me: &Me) -> Result<i32> {
    let replaced = ctx
        .store
        .config
        .auth
        .take()
        .filter(|old| old.method.issued() && old.token != token)
        .zip(ctx.store.config.server.clone());
    if ctx.store.config.server.as_deref() != Some(ctx.server.as_str()) {
        // Another server: its organizations are not this one's.
        ctx.store.config.organization = None;
        ctx.store.config.project = None;
    }
    ctx.store.config.server = Some(ctx.server.clone());
    // Right after login an organization is active, so `org list` stars it and every
    // organization command works at once: the credential's own, else one kept from before
    // that this login still sees, else the first.
    let holder = ctx.anonymous()?.with_token(Some(token.clone()));
    let orgs = ctx.organizations(&holder).await.unwrap_or_default();
    let kept = ctx
        .store
        .config
        .organization
        .as_ref()
        .filter(|id| orgs.iter().any(|o| &o.id == *id))
        .cloned();
    let active = me
        .organization_id
        .clone()
        .filter(|id| orgs.iter().any(|o| &o.id == id))
        .or(kept)
        .or_else(|| orgs.first().map(|o| o.id.clone()));
    if active != ctx.store.config.organization {
        ctx.store.config.project = None;
    }
    ctx.store.config.organization = active.clone();
    let active = active.and_then(|id| orgs.into_iter().find(|o| o.id == id));
    ctx.store.config.auth = Some(Auth {
        token,
        method,
        name: me.credential_name.clone(),
        user: me.user.as_ref().map(|u| u.email.clone()),
        expires_at: me.credential_expires_at,
    });
    ctx.store.save()?;
    if let Some((old, issuer)) = replaced {
        let client = keyward_cli::Client::new(&issuer, Some(old.token))?;
        match client.revoke_current().await {
            Ok(()) | Err(Error::Unauthenticated(_)) => {}
            Err(err) => output::warn(&format!(
                "the token this login replaces ({}) could not be revoked: {err}; revoke it in the dashboard",
                old.name.as_deref().unwrap_or("unnamed")
            )),
        }
    }
    let who = me
        .user
        .as_ref()
        .map_or_else(|| me.authenticated_by.clone(), |u| u.email.clone());
    if ctx.json {
        output::json(&json!({
            "server": ctx.server,
            "user": me.user,
            "authenticatedBy": me.authenticated_by,
            "credentialName": me.credential_name,
            "expiresAt": me.credential_expires_at,
            "method": method,
            "organization": active,
        }))?;
    } else {
        output::done(&format!(
            "Logged in to {} as {} (token `{}`, expires {})",
            ctx.server,
            who,
            me.credential_name.as_deref().unwrap_or("?"),
            output::time(me.credential_expires_at.as_ref(), "never"),
        ));
        if let Some(org) = &active {
            output::note(&format!(
                "Active organization: {} ({}); switch with `keyward org use NAME`",
                org.name, org.slug
            ));
        }
    }
    Ok(exit::OK)
}

/// `keyward logout`: revokes the held token on the server, then forgets it.
pub async fn logout(ctx: &mut Ctx) -> Result<i32> {
    let Some(auth) = ctx
        .store
        .config
        .auth
        .clone()
        .filter(|_| ctx.saved_login_applies())
    else {
        return Err(Error::Unauthenticated(format!(
            "you are not logged in to {}",
            ctx.server
        )));
    };
    let client = ctx.anonymous()?.with_token(Some(auth.token.clone()));
    let revoked = match client.revoke_current().await {
        Ok(()) => true,
        // Expired or revoked already, or not a personal access token (an API key is the
        // organization's: `keyward keys revoke` ends it).
        Err(Error::Unauthenticated(_) | Error::NotFound(_) | Error::Forbidden(_)) => false,
        Err(err) => {
            return Err(Error::other(format!(
                "{err}. Nothing was changed: the token still works, so log out again when the server answers"
            )));
        }
    };
    ctx.store.config.auth = None;
    ctx.store.save()?;
    let name = auth.name.as_deref().unwrap_or("unnamed");
    if ctx.json {
        output::json(&json!({ "server": ctx.server, "loggedOut": true, "revoked": revoked }))?;
    } else if revoked {
        output::done(&format!(
            "Logged out of {}; the token `{name}` is revoked",
            ctx.server
        ));
    } else {
        output::done(&format!(
            "Logged out of {}; the server did not revoke `{name}` (it had ended, or is not a personal access token)",
            ctx.server
        ));
    }
    Ok(exit::OK)
}

/// What the credential may do in one organization.
#[derive(serde::Deserialize)]
struct ViewerAccess {
    permissions: Vec<String>,
}

/// What a credential kind is called in sentences.
fn credential_kind(by: &str) -> &str {
    match by {
        "pat" => "personal access token",
        "api_key" => "API key",
        "service_account_key" => "service account key",
        "session" => "dashboard session",
        "oidc" => "identity provider token",
        other => other,
    }
}

/// Each resource once, at the highest level held: `api_keys:admin, usage:read`.
fn summarize(permissions: &[String]) -> String {
    let mut highest: Vec<(String, String)> = Vec::new();
    for perm in permissions {
        let Some((resource, level)) = perm.split_once(':') else {
            continue;
        };
        match highest.iter_mut().find(|(r, _)| r == resource) {
            Some(entry) => entry.1 = level.to_owned(),
            None => highest.push((resource.to_owned(), level.to_owned())),
        }
    }
    if highest.is_empty() {
        return "nothing".into();
    }
    highest
        .iter()
        .map(|(r, l)| format!("{r}:{l}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `keyward whoami`, and `keyward auth status` with `show_token`: who acts, with which
/// credential and from where, and what it may do in the active organization.
pub async fn whoami(ctx: &Ctx, show_token: bool) -> Result<i32> {
    let client = ctx.client()?;
    let me = client.me().await?;
    let org = ctx.active_org(&client).await.ok();
    // A key that may not read organizations still knows its own.
    let org_id = org
        .as_ref()
        .map(|o| o.id.clone())
        .or_else(|| me.organization_id.clone());
    let access: Option<ViewerAccess> = match &org_id {
        Some(id) => client
            .field::<ops::ViewerAccess, _>(
                ops::viewer_access::Variables {
                    organization_id: id.clone(),
                },
                "viewerAccess",
            )
            .await
            .ok(),
        None => None,
    };
    let source = if ctx.uses_env_key() {
        "KEYWARD_API_KEY".to_owned()
    } else {
        ctx.store.path.display().to_string()
    };
    if ctx.json {
        output::json(&json!({
            "server": ctx.server,
            "me": me,
            "credentialSource": source,
            "organization": org,
            "permissions": access.as_ref().map(|a| &a.permissions),
        }))?;
        return Ok(exit::OK);
    }
    let kind = credential_kind(&me.authenticated_by);
    match &me.user {
        Some(user) => output::line(&format!("{} ({})", user.email, user.name)),
        None => output::line(&format!(
            "{kind} `{}`",
            me.credential_name.as_deref().unwrap_or("?")
        )),
    }
    output::line(&format!("server:       {}", ctx.server));
    output::line(&format!(
        "credential:   {kind} `{}`, expires {}",
        me.credential_name.as_deref().unwrap_or("?"),
        output::time(me.credential_expires_at.as_ref(), "never")
    ));
    output::line(&format!(
        "scopes:       {}",
        match &me.credential_scopes {
            Some(scopes) if scopes.is_empty() => "none".to_owned(),
            Some(scopes) => scopes.join(", "),
            None if me.user.is_some() => "all of the user's role".to_owned(),
            None => "all of its role".to_owned(),
        }
    ));
    output::line(&format!("from:         {source}"));
    if show_token && let Some(token) = ctx.credential() {
        output::line(&format!("token:        {}", masked(token.expose())));
    }
    match &org {
        Some(org) => output::line(&format!(
            "organization: {} ({}){}",
            org.name,
            org.slug,
            org.viewer_role
                .as_ref()
                .map(|r| format!(", role {}", r.name))
                .unwrap_or_default()
        )),
        None => match &org_id {
            Some(id) => output::line(&format!("organization: {id} (the key's own)")),
            None => output::line("organization: none active (`keyward org use NAME`)"),
        },
    }
    if let Some(access) = &access {
        output::line(&format!("may:          {}", summarize(&access.permissions)));
    }
    if me.is_instance_admin {
        output::line("instance admin");
    }
    Ok(exit::OK)
}

/// A token shown by its kind only: `kw_pat_****`.
fn masked(token: &str) -> String {
    let kind_end = token.rfind('_').map_or(0, |i| i + 1);
    format!("{}****", &token[..kind_end.min(16)])
}

/// `keyward auth token`: the credential this CLI acts with, on stdout, for scripts
/// (`curl -H "Authorization: Bearer $(keyward auth token)"`).
pub fn auth_token(ctx: &Ctx) -> Result<i32> {
    let token = ctx.credential().ok_or_else(|| {
        Error::Unauthenticated(format!(
            "you are not logged in to {}: run `keyward login` (or set KEYWARD_API_KEY)",
            ctx.server
        ))
    })?;
    output::line(token.expose());
    Ok(exit::OK)
}

/// `keyward org list`.
pub async fn org_list(ctx: &Ctx) -> Result<i32> {
    let client = ctx.client()?;
    let orgs = ctx.organizations(&client).await?;
    let active = ctx.active_org(&client).await.ok().map(|o| o.id);
    if ctx.json {
        let list: Vec<_> = orgs
            .iter()
            .map(|o| json!({ "active": active.as_ref() == Some(&o.id), "organization": o }))
            .collect();
        output::json(&list)?;
        return Ok(exit::OK);
    }
    let rows = orgs
        .iter()
        .map(|o| {
            vec![
                output::marker(active.as_ref() == Some(&o.id)),
                o.name.clone(),
                o.slug.clone(),
                o.viewer_role
                    .as_ref()
                    .map_or_else(|| "-".to_owned(), |r| r.name.clone()),
                if o.suspended { "suspended" } else { "" }.to_owned(),
                o.id.clone(),
            ]
        })
        .collect();
    output::table(&["", "NAME", "SLUG", "ROLE", "", "ID"], rows);
    Ok(exit::OK)
}

/// `keyward org use ORG`.
pub async fn org_use(ctx: &mut Ctx, wanted: &str) -> Result<i32> {
    let client = ctx.client()?;
    let orgs = ctx.organizations(&client).await?;
    let org = pick(&orgs, wanted, "organization", |o| {
        (o.id.as_str(), o.name.as_str(), o.slug.as_str())
    })?;
    ctx.store.config.organization = Some(org.id.clone());
    ctx.store.config.project = None;
    ctx.store.save()?;
    if ctx.json {
        output::json(&org)?;
    } else {
        output::done(&format!("Active organization: {} ({})", org.name, org.slug));
    }
    Ok(exit::OK)
}

/// `keyward org current`: login state, the active organization and the token's expiry.
pub async fn org_current(ctx: &Ctx) -> Result<i32> {
    let client = ctx.client()?;
    let me = client.me().await?;
    let org = ctx.active_org(&client).await;
    let project = match &org {
        Ok(org) => ctx.active_project(&client, org).await.ok().flatten(),
        Err(_) => None,
    };
    if ctx.json {
        output::json(&json!({
            "server": ctx.server,
            "loggedIn": true,
            "user": me.user,
            "authenticatedBy": me.authenticated_by,
            "credentialName": me.credential_name,
            "expiresAt": me.credential_expires_at,
            "organization": org.as_ref().ok(),
            "project": project,
        }))?;
    } else {
        let who = me.user.as_ref().map_or("-", |u| u.email.as_str());
        output::line(&format!("server:       {}", ctx.server));
        output::line(&format!(
            "logged in as: {who} ({} `{}`)",
            me.authenticated_by,
            me.credential_name.as_deref().unwrap_or("?")
        ));
        output::line(&format!(
            "token expires: {}",
            output::time(me.credential_expires_at.as_ref(), "never")
        ));
        match &org {
            Ok(org) => output::line(&format!(
                "organization: {} ({}){}",
                org.name,
                org.slug,
                org.viewer_role
                    .as_ref()
                    .map(|r| format!(", your role: {}", r.name))
                    .unwrap_or_default()
            )),
            Err(err) => output::line(&format!("organization: none ({err})")),
        }
        output::line(&format!(
            "project:      {}",
            project.as_ref().map_or("all projects", |p| p.name.as_str())
        ));
    }
    Ok(exit::OK)
}

/// `keyward project list`.
pub async fn project_list(ctx: &Ctx) -> Result<i32> {
    let client = ctx.client()?;
    let org = ctx.active_org(&client).await?;
    let projects = ctx.projects(&client, &org).await?;
    let active = ctx.active_project(&client, &org).await?.map(|p| p.id);
    if ctx.json {
        let list: Vec<_> = projects
            .iter()
            .map(|p| json!({ "active": active.as_ref() == Some(&p.id), "project": p }))
            .collect();
        output::json(&list)?;
        return Ok(exit::OK);
    }
    let rows = projects
        .iter()
        .map(|p| {
            vec![
                output::marker(active.as_ref() == Some(&p.id)),
                p.name.clone(),
                p.slug.clone(),
                p.namespace.clone(),
                p.id.clone(),
            ]
        })
        .collect();
    output::table(&["", "NAME", "SLUG", "NAMESPACE", "ID"], rows);
    Ok(exit::OK)
}

/// `keyward project use PROJECT`.
pub async fn project_use(ctx: &mut Ctx, wanted: &str) -> Result<i32> {
    let client = ctx.client()?;
    let org = ctx.active_org(&client).await?;
    let projects = ctx.projects(&client, &org).await?;
    let project = pick(&projects, wanted, "project", |p| {
        (p.id.as_str(), p.name.as_str(), p.slug.as_str())
    })?;
    ctx.store.config.organization = Some(org.id.clone());
    ctx.store.config.project = Some(project.id.clone());
    ctx.store.save()?;
    if ctx.json {
        output::json(&project)?;
    } else {
        output::done(&format!("Active project: {} in {}", project.name, org.name));
    }
    Ok(exit::OK)
}

//! What every command starts from: the saved configuration, the server and where it was
//! set, and the credential to act with.

use keyward_cli::{
    Client, Error, Result, Secret,
    client::{Organization as Org, Project, ops},
    config::{self, DEFAULT_SERVER, Source, Store},
};

pub struct Ctx {
    pub store: Store,
    pub server: String,
    pub source: Source,
    /// `--org`: acts in this organization instead of the active one.
    pub org_flag: Option<String>,
    pub json: bool,
    env_key: Option<Secret>,
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

impl Ctx {
    pub fn load(server_flag: Option<&str>, org_flag: Option<String>, json: bool) -> Result<Self> {
        let store = Store::open(&config::default_dir()?)?;
        let (raw, source) = match (server_flag, env("KEYWARD_SERVER"), &store.config.server) {
            (Some(flag), _, _) => (flag.to_owned(), Source::Flag),
            (None, Some(var), _) => (var, Source::Env("KEYWARD_SERVER")),
            (None, None, Some(saved)) => (saved.clone(), Source::File(store.path.clone())),
            (None, None, None) => (DEFAULT_SERVER.to_owned(), Source::Default),
        };
        Ok(Self {
            server: config::parse_server(&raw)?,
            source,
            store,
            org_flag,
            json,
            env_key: env("KEYWARD_API_KEY").map(|k| Secret::new(k.trim())),
        })
    }

    /// Whether the saved login is for the server in use: a token is only ever sent to
    /// the server that issued it.
    pub fn saved_login_applies(&self) -> bool {
        self.store.config.server.as_deref() == Some(self.server.as_str())
    }

    /// The credential to act with: `KEYWARD_API_KEY`, else the saved login.
    pub fn credential(&self) -> Option<Secret> {
        if let Some(key) = &self.env_key {
            return Some(key.clone());
        }
        self.store
            .config
            .auth
            .as_ref()
            .filter(|_| self.saved_login_applies())
            .map(|auth| auth.token.clone())
    }

    pub fn uses_env_key(&self) -> bool {
        self.env_key.is_some()
    }

    /// An error as the person should read it: a refused `KEYWARD_API_KEY` is fixed by
    /// changing it, not by logging in.
    pub fn explain(&self, err: Error) -> Error {
        match err {
            Error::Unauthenticated(why) if self.uses_env_key() => Error::Unauthenticated(
                why.replace("your token", "the credential in KEYWARD_API_KEY")
                    .replace("run `keyward login`", "set KEYWARD_API_KEY to a valid one"),
            ),
            other => other,
        }
    }

    /// A client without a credential.
    pub fn anonymous(&self) -> Result<Client> {
        Client::configured(&self.server, self.source.clone(), None)
    }

    /// A client acting with the credential; none is an error that says how to log in.
    pub fn client(&self) -> Result<Client> {
        let token = self.credential().ok_or_else(|| {
            Error::Unauthenticated(format!(
                "you are not logged in to {}: run `keyward login` (or set KEYWARD_API_KEY)",
                self.server
            ))
        })?;
        Ok(self.anonymous()?.with_token(Some(token)))
    }

    /// The organizations the credential sees.
    pub async fn organizations(&self, client: &Client) -> Result<Vec<Org>> {
        client
            .field::<ops::Organizations, _>(ops::organizations::Variables, "organizations")
            .await
    }

    /// The organization to act in: `--org`, else the active one, else the only one, else
    /// the credential's own.
    pub async fn active_org(&self, client: &Client) -> Result<Org> {
        let orgs = self.organizations(client).await?;
        if let Some(wanted) = &self.org_flag {
            return pick(&orgs, wanted, "organization", |o| {
                (o.id.as_str(), o.name.as_str(), o.slug.as_str())
            })
            .cloned();
        }
        if let Some(active) = &self.store.config.organization {
            match orgs.iter().find(|o| &o.id == active) {
                Some(org) => return Ok(org.clone()),
                // KEYWARD_API_KEY may be another organization's key: it acts in its own.
                None if self.uses_env_key() => {}
                None => {
                    return Err(Error::usage(
                        "the active organization is not one of yours any more: run `keyward org list` and `keyward org use NAME`",
                    ));
                }
            }
        }
        if let [only] = orgs.as_slice() {
            return Ok(only.clone());
        }
        let me = client.me().await?;
        if let Some(own) = me
            .organization_id
            .and_then(|id| orgs.iter().find(|o| o.id == id))
        {
            return Ok(own.clone());
        }
        Err(Error::usage(
            "no active organization: run `keyward org list`, then `keyward org use NAME`",
        ))
    }

    /// An organization's projects.
    pub async fn projects(&self, client: &Client, org: &Org) -> Result<Vec<Project>> {
        #[derive(serde::Deserialize)]
        struct Projects {
            projects: Vec<Project>,
        }
        let variables = ops::projects::Variables {
            organization_id: org.id.clone(),
        };
        let found: Projects = client
            .field::<ops::Projects, _>(variables, "organization")
            .await?;
        Ok(found.projects)
    }

    /// The project to act in within `org`: the active one when it belongs to `org`. Asks
    /// the server only when a project is active, so a token that may not read projects
    /// still works in the organization as a whole.
    pub async fn active_project(&self, client: &Client, org: &Org) -> Result<Option<Project>> {
        let Some(active) = self.store.config.project.as_ref() else {
            return Ok(None);
        };
        if self.org_flag.is_some() || self.store.config.organization.as_ref() != Some(&org.id) {
            return Ok(None);
        }
        let projects = self.projects(client, org).await?;
        match projects.into_iter().find(|p| &p.id == active) {
            Some(project) => Ok(Some(project)),
            None => Err(Error::usage(
                "the active project no longer exists: run `keyward project use NAME` (or pass --all-projects to `keys create`)",
            )),
        }
    }
}

/// Finds the one item whose id is `wanted`, or whose name or slug is `wanted` in any case.
pub fn pick<'a, T>(
    items: &'a [T],
    wanted: &str,
    what: &str,
    keys: impl Fn(&T) -> (&str, &str, &str),
) -> Result<&'a T> {
    let wanted = wanted.trim();
    if let Some(by_id) = items.iter().find(|i| keys(i).0 == wanted) {
        return Ok(by_id);
    }
    let matches: Vec<&T> = items
        .iter()
        .filter(|i| {
            let (_, name, slug) = keys(i);
            name.eq_ignore_ascii_case(wanted) || slug.eq_ignore_ascii_case(wanted)
        })
        .collect();
    match matches.as_slice() {
        [one] => Ok(one),
        [] => Err(Error::NotFound(format!(
            "no {what} named `{wanted}`: `keyward {} list` shows them",
            if what == "organization" {
                "org"
            } else {
                "project"
            }
        ))),
        many => Err(Error::usage(format!(
            "{} {what}s are named `{wanted}`: use a slug or id ({})",
            many.len(),
            many.iter()
                .map(|i| keys(i).2)
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

//! The application shell: routes, the signed-in context, the top bar with the
//! organization switcher, and the sign-in page.

use leptos::prelude::*;
use leptos_router::{
    components::{A, Outlet, ParentRoute, Redirect, Route, Router, Routes},
    hooks::use_query_map,
    path,
};

use crate::{
    admin::AdminPage,
    analytics::AnalyticsPage,
    api::{
        self, ApiError, Me, MyInvites, SwitchSession, ViewerAccess, me, my_invites, switch_session,
        viewer_access,
    },
    audit::AuditPage,
    cli::{CliAuthorizePage, DevicePage},
    identities::IdentitiesPage,
    keys::{KeyDetailPage, KeysPage},
    members::MembersPage,
    roles::RolesPage,
    service_accounts::ServiceAccountsPage,
    settings::SettingsPage,
    tokens::{SessionsPage, TokensPage},
    ui::{ToastRegion, Toasts},
    webhooks::WebhooksPage,
};

/// Who is signed in and where they are working, shared by every page.
#[derive(Clone, Copy)]
pub struct Session {
    pub me: RwSignal<Option<me::ResponseData>>,
    /// The organization the pages show.
    pub org: RwSignal<Option<String>>,
    /// The project the session works in.
    pub project: RwSignal<Option<String>>,
    /// What the viewer may do in the organization (`resource:level`, each level spelled
    /// out), as the server decides it: loaded before a page of the organization shows.
    pub access: RwSignal<Vec<String>>,
    pub toasts: Toasts,
}

/// What the viewer may do in `org`; nothing when it cannot be told (fail closed).
async fn access_in(org: Option<String>) -> Vec<String> {
    let Some(org) = org else {
        return Vec::new();
    };
    api::run::<ViewerAccess>(viewer_access::Variables {
        organization_id: org,
    })
    .await
    .map(|d| d.viewer_access.permissions)
    .unwrap_or_default()
}

impl Session {
    /// Whether the viewer may do what needs `perm` (`api_keys:write`) here.
    pub fn can(&self, perm: &str) -> bool {
        self.access.with(|held| held.iter().any(|p| p == perm))
    }

    /// Why an action needing `perm` is not offered, for a disabled button's tooltip;
    /// none when the viewer may take it.
    pub fn lacks(&self, perm: &str) -> Option<String> {
        (!self.can(perm)).then(|| {
            format!("You need the {perm} permission in this organization; ask one of its admins.")
        })
    }

    /// The current organization's projects as `(id, name)`.
    pub fn projects(&self) -> Vec<(String, String)> {
        let org = self.org.get();
        self.me
            .get()
            .and_then(|m| {
                m.organizations
                    .into_iter()
                    .find(|o| Some(&o.id) == org.as_ref())
            })
            .map(|o| o.projects.into_iter().map(|p| (p.id, p.name)).collect())
            .unwrap_or_default()
    }

    /// Whether the current organization makes every new key belong to a project.
    pub fn keys_per_project(&self) -> bool {
        let org = self.org.get();
        self.me
            .get()
            .and_then(|m| {
                m.organizations
                    .into_iter()
                    .find(|o| Some(&o.id) == org.as_ref())
            })
            .is_some_and(|o| o.keys_per_project)
    }

    /// Loads who is signed in again (after joining, creating or renaming).
    pub fn refresh(&self) {
        let (me, access, org) = (self.me, self.access, self.org);
        leptos::task::spawn_local(async move {
            if let Ok(data) = api::run::<Me>(me::Variables {}).await {
                me.set(Some(data));
            }
            access.set(access_in(org.get_untracked()).await);
        });
    }

    /// Moves the session to another organization (and project), then shows it.
    pub fn switch_to(&self, org: String) {
        self.switch(org, None);
    }

    fn switch(&self, org: String, project: Option<String>) {
        let session = *self;
        leptos::task::spawn_local(async move {
            let result = api::run::<SwitchSession>(switch_session::Variables {
                input: switch_session::SwitchSessionInput {
                    organization_id: org,
                    project_id: project,
                },
            })
            .await;
            match result {
                Ok(done) => {
                    if let Ok(data) = api::run::<Me>(me::Variables {}).await {
                        session.me.set(Some(data));
                    }
                    let org = Some(done.switch_session.organization_id.clone());
                    session.access.set(access_in(org).await);
                    session.project.set(Some(done.switch_session.project_id));
                    session.org.set(Some(done.switch_session.organization_id));
                }
                Err(e) => session.toasts.error(&e),
            }
        });
    }
}

/// Sends the browser to sign in, then back to where it was.
pub fn sign_in_again() {
    let location = window().location();
    let here = format!(
        "{}{}",
        location.pathname().unwrap_or_else(|_| "/".into()),
        location.search().unwrap_or_default()
    );
    let back = String::from(js_sys::encode_uri_component(&here));
    let _ = location.set_href(&format!("/sign-in?return_to={back}"));
}

/// Shows an API error in words; a lost session goes to sign in.
pub fn error_text(err: &ApiError) -> String {
    if *err == ApiError::SignedOut {
        sign_in_again();
    }
    err.to_string()
}

/// An error with a Retry button, for a list that failed to load.
pub fn error_banner(err: &ApiError, retry: impl Fn() + 'static) -> AnyView {
    view! {
        <div class="banner error" role="alert">
            <span>{error_text(err)}</span>
            <button on:click=move |_| retry()>"Retry"</button>
        </div>
    }
    .into_any()
}

#[component]
pub fn App() -> impl IntoView {
    view! {
        <Router>
            <Routes fallback=|| view! { <NotFound/> }>
                <Route path=path!("/sign-in") view=SignIn/>
                // One shell for every signed-in page: moving between them keeps it.
                <ParentRoute path=path!("") view=Shell>
                    <Route path=path!("") view=|| view! { <Redirect path="/keys"/> }/>
                    <Route path=path!("keys") view=KeysPage/>
                    <Route path=path!("keys/:id") view=KeyDetailPage/>
                    <Route path=path!("tokens") view=TokensPage/>
                    <Route path=path!("service-accounts") view=ServiceAccountsPage/>
                    <Route path=path!("identities") view=IdentitiesPage/>
                    <Route path=path!("members") view=MembersPage/>
                    <Route path=path!("roles") view=RolesPage/>
                    <Route path=path!("analytics") view=AnalyticsPage/>
                    <Route path=path!("audit") view=AuditPage/>
                    <Route path=path!("sessions") view=SessionsPage/>
                    <Route path=path!("settings") view=SettingsPage/>
                    <Route path=path!("webhooks") view=WebhooksPage/>
                    <Route path=path!("admin") view=AdminPage/>
                    <Route path=path!("device") view=DevicePage/>
                    <Route path=path!("cli/authorize") view=CliAuthorizePage/>
                </ParentRoute>
            </Routes>
        </Router>
    }
}

#[component]
fn NotFound() -> impl IntoView {
    view! {
        <main class="centered">
            <h1>"Page not found"</h1>
            <p>"There is nothing at this address."</p>
            <A href="/keys">"Go to API keys"</A>
        </main>
    }
}

/// Loads who is signed in; everything inside renders once that is known.
#[component]
fn Shell() -> impl IntoView {
    let session = Session {
        me: RwSignal::new(None),
        org: RwSignal::new(None),
        project: RwSignal::new(None),
        access: RwSignal::new(Vec::new()),
        toasts: Toasts::provide(),
    };
    provide_context(session);
    let loaded = LocalResource::new(move || async move {
        let data = api::run::<Me>(me::Variables {}).await?;
        session
            .access
            .set(access_in(data.me.organization_id.clone()).await);
        session.org.set(data.me.organization_id.clone());
        session.project.set(data.me.project_id.clone());
        session.me.set(Some(data));
        Ok::<_, ApiError>(())
    });
    let menu_open = RwSignal::new(false);
    let location = leptos_router::hooks::use_location();
    // A link followed on a phone closes the menu.
    Effect::new(move |_| {
        location.pathname.track();
        menu_open.set(false);
    });
    let is_admin = move || session.me.get().is_some_and(|m| m.me.is_instance_admin);
    view! {
        {move || match loaded.get() {
            None => view! { <main class="centered"><p class="muted">"Loading…"</p></main> }.into_any(),
            Some(Err(err)) => {
                let text = error_text(&err);
                view! {
                    <main class="centered">
                        <p role="alert">{text}</p>
                        <button on:click=move |_| loaded.refetch()>"Retry"</button>
                    </main>
                }
                .into_any()
            }
            Some(Ok(())) => view! {
                <TopBar menu_open=menu_open/>
                <div class="layout">
                    <nav id="sections" class="sidebar" class:open=move || menu_open.get() aria-label="Sections">
                        <A href="/keys">"API keys"</A>
                        <A href="/tokens">"Personal tokens"</A>
                        <A href="/service-accounts">"Service accounts"</A>
                        <A href="/identities">"Identities"</A>
                        <A href="/members">"Members"</A>
                        <A href="/roles">"Roles"</A>
                        <A href="/analytics">"Analytics"</A>
                        <A href="/audit">"Audit log"</A>
                        <A href="/sessions">"Sessions"</A>
                        <A href="/webhooks">"Webhooks"</A>
                        <A href="/settings">"Settings"</A>
                        {move || is_admin().then(|| view! { <A href="/admin">"Instance admin"</A> })}
                    </nav>
                    <main class="content">
                        <InvitesNotice/>
                        {move || {
                            // Every page loads again when the organization changes.
                            session.org.track();
                            view! { <Outlet/> }
                        }}
                    </main>
                </div>
            }
            .into_any(),
        }}
        <ToastRegion/>
    }
}

/// A line on every page while someone has invited you.
#[component]
fn InvitesNotice() -> impl IntoView {
    let location = leptos_router::hooks::use_location();
    let count = LocalResource::new(move || {
        location.pathname.track();
        async move {
            api::run::<MyInvites>(my_invites::Variables {})
                .await
                .map(|d| usize::try_from(d.my_invites.total_count).unwrap_or(0))
                .unwrap_or(0)
        }
    });
    move || {
        let n = count.get().unwrap_or(0);
        let on_members = location.pathname.get() == "/members";
        (n > 0 && !on_members).then(|| {
            view! {
                <p class="banner info" role="status">
                    {format!("You have {n} invite{} waiting. ", if n == 1 { "" } else { "s" })}
                    <A href="/members">"See invites"</A>
                </p>
            }
        })
    }
}

#[component]
fn TopBar(menu_open: RwSignal<bool>) -> impl IntoView {
    let session = expect_context::<Session>();
    let email = move || {
        session
            .me
            .get()
            .and_then(|m| m.me.user)
            .map(|u| u.email)
            .unwrap_or_default()
    };
    let orgs = move || {
        session
            .me
            .get()
            .map(|m| m.organizations)
            .unwrap_or_default()
    };
    view! {
        <header class="topbar">
            <button class="menu-button" aria-controls="sections" aria-expanded=move || menu_open.get().to_string()
                on:click=move |_| menu_open.update(|o| *o = !*o)>
                <span aria-hidden="true">"☰"</span><span class="visually-hidden">"Menu"</span>
            </button>
            <span class="brand">"Keyward"</span>
            <label class="switcher">
                <span class="visually-hidden">"Organization"</span>
                <select
                    id="org-switcher"
                    aria-label="Organization"
                    on:change=move |ev| session.switch_to(event_target_value(&ev))
                >
                    {move || {
                        let current = session.org.get();
                        orgs()
                            .into_iter()
                            .map(|o| {
                                let selected = Some(&o.id) == current.as_ref();
                                view! { <option value=o.id.clone() selected=selected>{o.name}</option> }
                            })
                            .collect_view()
                    }}
                </select>
            </label>
            <label class="switcher">
                <span class="visually-hidden">"Project"</span>
                <select
                    id="project-switcher"
                    aria-label="Project"
                    on:change=move |ev| {
                        let org = session.org.get_untracked().unwrap_or_default();
                        session.switch(org, Some(event_target_value(&ev)));
                    }
                >
                    {move || {
                        let current = session.project.get();
                        session.projects()
                            .into_iter()
                            .map(|(id, name)| {
                                let selected = Some(&id) == current.as_ref();
                                view! { <option value=id selected=selected>{name}</option> }
                            })
                            .collect_view()
                    }}
                </select>
            </label>
            <span class="spacer"></span>
            <span class="muted email">{email}</span>
            <button class="link" on:click=move |_| sign_out()>"Sign out"</button>
        </header>
    }
}

fn sign_out() {
    leptos::task::spawn_local(async {
        let _ = gloo_net::http::Request::post("/auth/logout")
            .header("x-keyward-client", "dashboard")
            .send()
            .await;
        let _ = window().location().set_href("/sign-in");
    });
}

/// The ways to sign in this server offers.
#[derive(Clone, serde::Deserialize)]
struct Methods {
    oidc: bool,
    development: bool,
}

#[component]
fn SignIn() -> impl IntoView {
    let query = use_query_map();
    let return_to = move || {
        query
            .read()
            .get("return_to")
            .filter(|p| p.starts_with('/') && !p.starts_with("//"))
            .unwrap_or_else(|| "/keys".into())
    };
    let methods = LocalResource::new(|| async {
        gloo_net::http::Request::get("/auth/methods")
            .send()
            .await
            .ok()?
            .json::<Methods>()
            .await
            .ok()
    });
    view! {
        <main class="centered signin">
            <h1>"Sign in to Keyward"</h1>
            {move || match methods.get() {
                None => view! { <p class="muted">"Loading…"</p> }.into_any(),
                Some(None) => view! { <p role="alert">"Keyward could not be reached. Try again."</p> }.into_any(),
                Some(Some(m)) => view! {
                    {m.oidc.then(|| view! {
                        <a class="button primary" rel="external" href=move || format!("/auth/login?return_to={}", String::from(js_sys::encode_uri_component(&return_to())))>
                            "Sign in with your identity provider"
                        </a>
                    })}
                    {m.development.then(|| view! {
                        <p>"Development sign-in is on. Open the one-time link the server printed when it started; each link works once, for an hour."</p>
                        <p>"For a new link (after signing out, or when yours was used or has expired), run this where the server runs, with the same settings:"</p>
                        <pre id="signin-link-command"><code>"keyward-server signin-link"</code></pre>
                        <p class="muted">"(From a checkout: "<code>"cargo run -q -p backend -- signin-link"</code>".)"</p>
                    })}
                    {(!m.oidc && !m.development).then(|| view! {
                        <p>"No sign-in method is configured. Ask your administrator."</p>
                    })}
                }
                .into_any(),
            }}
        </main>
    }
}

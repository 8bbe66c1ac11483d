//! The application shell: routes, the signed-in context, the top bar with the
//! organization switcher, and the sign-in page.

use leptos::prelude::*;
use leptos_router::{
    components::{A, Redirect, Route, Router, Routes},
    hooks::use_query_map,
    path,
};

use crate::{
    api::{self, ApiError, Me, SwitchSession, me, switch_session},
    keys::KeysPage,
    tokens::{SessionsPage, TokensPage},
};

/// Who is signed in and where they are working, shared by every page.
#[derive(Clone, Copy)]
pub struct Session {
    pub me: RwSignal<Option<me::ResponseData>>,
    /// The organization the pages show.
    pub org: RwSignal<Option<String>>,
}

impl Session {
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
}

/// Sends the browser to sign in, then back to where it was.
pub fn sign_in_again() {
    let here = window()
        .location()
        .pathname()
        .unwrap_or_else(|_| "/".into());
    let _ = window()
        .location()
        .set_href(&format!("/sign-in?return_to={here}"));
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
                <Route path=path!("/") view=|| view! { <Redirect path="/keys"/> }/>
                <Route path=path!("/keys") view=|| view! { <Shell><KeysPage/></Shell> }/>
                <Route path=path!("/tokens") view=|| view! { <Shell><TokensPage/></Shell> }/>
                <Route path=path!("/sessions") view=|| view! { <Shell><SessionsPage/></Shell> }/>
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
fn Shell(children: ChildrenFn) -> impl IntoView {
    let session = Session {
        me: RwSignal::new(None),
        org: RwSignal::new(None),
    };
    provide_context(session);
    let loaded = LocalResource::new(move || async move {
        let data = api::run::<Me>(me::Variables {}).await?;
        session.org.set(data.me.organization_id.clone());
        session.me.set(Some(data));
        Ok::<_, ApiError>(())
    });
    let children = StoredValue::new(children);
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
                <TopBar/>
                <div class="layout">
                    <nav class="sidebar" aria-label="Sections">
                        <A href="/keys">"API keys"</A>
                        <A href="/tokens">"Personal tokens"</A>
                        <A href="/sessions">"Sessions"</A>
                    </nav>
                    <main class="content">{children.read_value()()}</main>
                </div>
            }
            .into_any(),
        }}
    }
}

#[component]
fn TopBar() -> impl IntoView {
    let session = expect_context::<Session>();
    let switching = Action::new_local(move |org: &String| {
        let org = org.clone();
        async move {
            let result = api::run::<SwitchSession>(switch_session::Variables {
                input: switch_session::SwitchSessionInput {
                    organization_id: org.clone(),
                    project_id: None,
                },
            })
            .await;
            if result.is_ok() {
                session.org.set(Some(org));
            }
            result.map(|_| ())
        }
    });
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
            <span class="brand">"Keyward"</span>
            <label class="switcher">
                <span class="visually-hidden">"Organization"</span>
                <select
                    aria-label="Organization"
                    on:change=move |ev| { switching.dispatch(event_target_value(&ev)); }
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
            <span class="spacer"></span>
            <span class="muted">{email}</span>
            <button class="link" on:click=move |_| sign_out()>"Sign out"</button>
        </header>
        {move || switching.value().get().and_then(|r| r.err()).map(|e| view! { <p role="alert" class="banner error">{error_text(&e)}</p> })}
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
                        <a class="button primary" href=move || format!("/auth/login?return_to={}", return_to())>
                            "Sign in with your identity provider"
                        </a>
                    })}
                    {m.development.then(|| view! {
                        <p>"Development sign-in is on: open the one-time link the server printed when it started."</p>
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

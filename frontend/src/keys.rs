//! The API keys page: the organization's keys, creating one (its secret shown once),
//! and revoking one after typing its name.

use leptos::{html, prelude::*};

use crate::{
    api::{self, ApiKeys, CreateApiKey, RevokeApiKey, api_keys, create_api_key, revoke_api_key},
    app::{Session, error_banner, error_text},
    format,
};

type Key = api_keys::ApiKeysApiKeysNodes;

#[component]
pub fn KeysPage() -> impl IntoView {
    let session = expect_context::<Session>();
    let keys = LocalResource::new(move || {
        let org = session.org.get();
        async move {
            let Some(org) = org else {
                return Ok(None);
            };
            api::run::<ApiKeys>(api_keys::Variables {
                organization_id: org,
                status: None,
                first: Some(50),
                after: None,
            })
            .await
            .map(|d| Some(d.api_keys))
        }
    });
    let create_dialog = NodeRef::<html::Dialog>::new();
    let secret = RwSignal::new(None::<(String, String)>);
    let revoking = RwSignal::new(None::<Key>);
    let open_create = move |_| {
        if let Some(d) = create_dialog.get() {
            let _ = d.show_modal();
        }
    };
    view! {
        <header class="page-header">
            <div>
                <h1>"API keys"</h1>
                <p class="muted">"Keys let services and scripts call your API as your organization."</p>
            </div>
            <button class="primary" on:click=open_create>"Create key"</button>
        </header>
        {move || match keys.get() {
            None => view! { <SkeletonRows/> }.into_any(),
            Some(Err(err)) => error_banner(&err, move || keys.refetch()),
            Some(Ok(None)) => view! { <p class="muted">"Choose an organization."</p> }.into_any(),
            Some(Ok(Some(list))) if list.nodes.is_empty() => view! {
                <div class="empty">
                    <p>"No API keys yet."</p>
                    <button class="primary" on:click=open_create>"Create your first key"</button>
                </div>
            }
            .into_any(),
            Some(Ok(Some(list))) => {
                let total = list.total_count;
                let shown = list.nodes.len();
                view! {
                    <div class="table-wrap">
                        <table>
                            <thead>
                                <tr>
                                    <th scope="col">"Name"</th>
                                    <th scope="col">"Project"</th>
                                    <th scope="col">"Created by"</th>
                                    <th scope="col">"Created"</th>
                                    <th scope="col">"Expires"</th>
                                    <th scope="col">"Last used"</th>
                                    <th scope="col">"Requests"</th>
                                    <th scope="col">"Status"</th>
                                    <th scope="col"><span class="visually-hidden">"Actions"</span></th>
                                </tr>
                            </thead>
                            <tbody>
                                {list.nodes.into_iter().map(|key| view! { <KeyRow key=key revoking=revoking/> }).collect_view()}
                            </tbody>
                        </table>
                    </div>
                    <p class="muted footer">{format!("1–{shown} of {total}")}</p>
                }
                .into_any()
            }
        }}
        <CreateDialog dialog=create_dialog secret=secret on_created=move || keys.refetch()/>
        <SecretDialog secret=secret/>
        <RevokeDialog revoking=revoking on_revoked=move || keys.refetch()/>
    }
}

#[component]
fn SkeletonRows() -> impl IntoView {
    view! {
        <div class="skeleton" aria-busy="true" aria-label="Loading keys">
            <div></div><div></div><div></div>
        </div>
    }
}

fn status_label(status: &api_keys::CredentialStatus) -> (&'static str, &'static str) {
    match status {
        api_keys::CredentialStatus::ACTIVE => ("Active", "ok"),
        api_keys::CredentialStatus::DISABLED => ("Disabled", "muted"),
        api_keys::CredentialStatus::EXPIRED => ("Expired", "warn"),
        api_keys::CredentialStatus::REVOKED => ("Revoked", "bad"),
        api_keys::CredentialStatus::ROTATING => ("Rotating", "warn"),
        _ => ("Unknown", "muted"),
    }
}

#[component]
fn KeyRow(key: Key, revoking: RwSignal<Option<Key>>) -> impl IntoView {
    let (label, tone) = status_label(&key.status);
    let revocable = !matches!(key.status, api_keys::CredentialStatus::REVOKED);
    let expires = key
        .expires_at
        .as_deref()
        .map(format::time)
        .unwrap_or_else(|| "Never".into());
    let row_key = key.clone();
    view! {
        <tr data-key-id=key.id.clone()>
            <td>
                <div class="name">{key.name.clone()}</div>
                <code class="prefix">{key.prefix.clone()}"…"</code>
            </td>
            <td>{key.project.as_ref().map(|p| p.name.clone()).unwrap_or_else(|| "All projects".into())}</td>
            <td>{key.created_by.as_ref().map(|u| u.email.clone()).unwrap_or_default()}</td>
            <td>{format::time(&key.created_at)}</td>
            <td>
                {expires}
                {key.expires_soon.then(|| view! { <span class="badge warn">"⚠ Expires soon"</span> })}
            </td>
            <td>{key.last_used_at.as_deref().map(format::time).unwrap_or_else(|| "Never".into())}</td>
            <td>{format::compact(key.request_count)}</td>
            <td><span class=format!("badge {tone}")>{label}</span></td>
            <td>
                {revocable.then(|| view! {
                    <button class="danger small" on:click=move |_| revoking.set(Some(row_key.clone()))>
                        "Revoke"
                    </button>
                })}
            </td>
        </tr>
    }
}

#[component]
fn CreateDialog(
    dialog: NodeRef<html::Dialog>,
    secret: RwSignal<Option<(String, String)>>,
    on_created: impl Fn() + Copy + 'static,
) -> impl IntoView {
    let session = expect_context::<Session>();
    let name = RwSignal::new(String::new());
    let project = RwSignal::new(String::new());
    let expires = RwSignal::new(String::new());
    let scopes = RwSignal::new(String::new());
    let environment = RwSignal::new("LIVE".to_owned());
    let error = RwSignal::new(None::<String>);
    let create = Action::new_local(move |_: &()| {
        let org = session.org.get_untracked().unwrap_or_default();
        let input = create_api_key::CreateApiKeyInput {
            organization_id: org,
            project_id: Some(project.get_untracked()).filter(|p| !p.is_empty()),
            name: name.get_untracked(),
            expires_at: Some(expires.get_untracked())
                .filter(|e| !e.is_empty())
                .map(|d| format!("{d}T00:00:00Z")),
            scopes: Some(scopes.get_untracked())
                .filter(|s| !s.trim().is_empty())
                .map(|s| {
                    s.split([',', ' '])
                        .filter(|x| !x.is_empty())
                        .map(str::to_owned)
                        .collect()
                }),
            environment: if environment.get_untracked() == "TEST" {
                create_api_key::Environment::TEST
            } else {
                create_api_key::Environment::LIVE
            },
            rate_limit_per_minute: None,
        };
        async move { api::run::<CreateApiKey>(create_api_key::Variables { input }).await }
    });
    Effect::new(move |_| match create.value().get() {
        Some(Ok(created)) => {
            error.set(None);
            if let Some(d) = dialog.get_untracked() {
                d.close();
            }
            name.set(String::new());
            secret.set(Some((
                created.create_api_key.api_key.name,
                created.create_api_key.secret,
            )));
            on_created();
        }
        Some(Err(err)) => error.set(Some(error_text(&err))),
        None => {}
    });
    view! {
        <dialog node_ref=dialog aria-labelledby="create-title">
            <form on:submit=move |ev| {
                ev.prevent_default();
                create.dispatch(());
            }>
                <h2 id="create-title">"Create an API key"</h2>
                <label>"Name"
                    <input id="key-name" required maxlength="100" prop:value=name on:input=move |ev| name.set(event_target_value(&ev))/>
                </label>
                <label>"Project"
                    <select on:change=move |ev| project.set(event_target_value(&ev))>
                        <option value="">"All projects"</option>
                        {move || session.projects().into_iter().map(|(id, n)| view! { <option value=id>{n}</option> }).collect_view()}
                    </select>
                </label>
                <label>"Expires (optional)"
                    <input type="date" on:input=move |ev| expires.set(event_target_value(&ev))/>
                </label>
                <label>"Scopes (optional, e.g. api_keys:read deployments:write; empty means all of yours)"
                    <input on:input=move |ev| scopes.set(event_target_value(&ev))/>
                </label>
                <label>"Environment"
                    <select on:change=move |ev| environment.set(event_target_value(&ev))>
                        <option value="LIVE">"Live"</option>
                        <option value="TEST">"Test"</option>
                    </select>
                </label>
                {move || error.get().map(|e| view! { <p role="alert" class="error">{e}</p> })}
                <div class="actions">
                    <button type="button" on:click=move |_| { if let Some(d) = dialog.get() { d.close(); } }>"Cancel"</button>
                    <button type="submit" class="primary" disabled=move || create.pending().get()>"Create key"</button>
                </div>
            </form>
        </dialog>
    }
}

/// The secret, once: masked until revealed, with a copy button; closing asks for
/// confirmation unless the user says they saved it.
#[component]
pub fn SecretDialog(secret: RwSignal<Option<(String, String)>>) -> impl IntoView {
    let dialog = NodeRef::<html::Dialog>::new();
    let revealed = RwSignal::new(false);
    let copied = RwSignal::new(false);
    Effect::new(move |_| {
        if secret.get().is_some()
            && let Some(d) = dialog.get()
        {
            revealed.set(false);
            let _ = d.show_modal();
        }
    });
    let close = move || {
        if let Some(d) = dialog.get() {
            d.close();
        }
        secret.set(None);
    };
    let copy = move |_| {
        if let Some((_, s)) = secret.get_untracked() {
            let clipboard = window().navigator().clipboard();
            let _ = clipboard.write_text(&s);
            copied.set(true);
            set_timeout(move || copied.set(false), std::time::Duration::from_secs(2));
        }
    };
    view! {
        <dialog node_ref=dialog aria-labelledby="secret-title" on:cancel=move |ev: leptos::ev::Event| {
            let sure = window()
                .confirm_with_message("You won't see this secret again. Close anyway?")
                .unwrap_or(false);
            if !sure { ev.prevent_default(); } else { secret.set(None); }
        }>
            <h2 id="secret-title">{move || secret.get().map(|(n, _)| format!("Your new key “{n}”"))}</h2>
            <p class="warning">"Copy this secret now. It is shown only once and cannot be retrieved later."</p>
            <div class="secret">
                <input id="new-secret" readonly class="mono"
                    type=move || if revealed.get() { "text" } else { "password" }
                    prop:value=move || secret.get().map(|(_, s)| s).unwrap_or_default()
                    aria-label="Secret"/>
                <button type="button" on:click=move |_| revealed.update(|r| *r = !*r)>
                    {move || if revealed.get() { "Hide" } else { "Reveal" }}
                </button>
                <button type="button" on:click=copy>{move || if copied.get() { "Copied ✓" } else { "Copy" }}</button>
            </div>
            <div class="actions">
                <button class="primary" id="saved-secret" on:click=move |_| close()>"I've saved this key"</button>
            </div>
        </dialog>
    }
}

/// Revoking is irreversible: the button stays disabled until the key's name is typed.
#[component]
fn RevokeDialog(
    revoking: RwSignal<Option<Key>>,
    on_revoked: impl Fn() + Copy + 'static,
) -> impl IntoView {
    let dialog = NodeRef::<html::Dialog>::new();
    let typed = RwSignal::new(String::new());
    let error = RwSignal::new(None::<String>);
    Effect::new(move |_| {
        if revoking.get().is_some()
            && let Some(d) = dialog.get()
        {
            typed.set(String::new());
            error.set(None);
            let _ = d.show_modal();
        }
    });
    let revoke = Action::new_local(move |id: &String| {
        let input = revoke_api_key::RevokeApiKeyInput {
            id: id.clone(),
            reason: Some("revoked in the dashboard".into()),
        };
        async move { api::run::<RevokeApiKey>(revoke_api_key::Variables { input }).await }
    });
    Effect::new(move |_| match revoke.value().get() {
        Some(Ok(_)) => {
            if let Some(d) = dialog.get_untracked() {
                d.close();
            }
            revoking.set(None);
            on_revoked();
        }
        Some(Err(err)) => error.set(Some(error_text(&err))),
        None => {}
    });
    let matches = move || revoking.get().is_some_and(|k| k.name == typed.get());
    view! {
        <dialog node_ref=dialog aria-labelledby="revoke-title" on:close=move |_| revoking.set(None)>
            <form on:submit=move |ev| {
                ev.prevent_default();
                if let Some(k) = revoking.get_untracked() { revoke.dispatch(k.id); }
            }>
                <h2 id="revoke-title">"Revoke this key?"</h2>
                <p>"Requests with it fail at once. This cannot be undone."</p>
                <label>{move || format!("Type “{}” to confirm", revoking.get().map(|k| k.name).unwrap_or_default())}
                    <input id="revoke-confirm" prop:value=typed on:input=move |ev| typed.set(event_target_value(&ev))/>
                </label>
                {move || error.get().map(|e| view! { <p role="alert" class="error">{e}</p> })}
                <div class="actions">
                    <button type="button" on:click=move |_| { if let Some(d) = dialog.get() { d.close(); } }>"Cancel"</button>
                    <button type="submit" class="danger" id="revoke-submit" disabled=move || !matches() || revoke.pending().get()>"Revoke key"</button>
                </div>
            </form>
        </dialog>
    }
}

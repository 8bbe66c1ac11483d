//! Personal access tokens (yours, across your organizations) and your sessions.

use leptos::{html, prelude::*};

use crate::{
    api::{
        self, CreatePersonalAccessToken, PersonalAccessTokens, RevokeOtherSessions,
        RevokePersonalAccessToken, RevokeSession, Sessions, create_personal_access_token,
        personal_access_tokens, revoke_other_sessions, revoke_personal_access_token,
        revoke_session, sessions,
    },
    app::{error_banner, error_text},
    credential::{SecretDialog, status},
    format::{self, Time, time_or},
    ui::{Pager, table_head},
};

#[component]
pub fn TokensPage() -> impl IntoView {
    // Every token is reachable: the list pages to its end.
    let pager = Pager::new(50);
    let tokens = LocalResource::new(move || {
        let after = pager.after();
        async move {
            api::run::<PersonalAccessTokens>(personal_access_tokens::Variables {
                first: Some(pager.size),
                after,
            })
            .await
            .map(|d| d.personal_access_tokens)
        }
    });
    let dialog = NodeRef::<html::Dialog>::new();
    let name = RwSignal::new(String::new());
    let expires = RwSignal::new(String::new());
    let scopes: crate::picker::Chosen = RwSignal::new(None);
    let error = RwSignal::new(None::<String>);
    let secret = RwSignal::new(None::<(String, String)>);
    let create = Action::new_local(move |_: &()| {
        let input = create_personal_access_token::CreatePersonalAccessTokenInput {
            name: name.get_untracked(),
            expires_at: Some(expires.get_untracked())
                .filter(|e| !e.is_empty())
                .map(|d| format!("{d}T00:00:00Z")),
            scopes: scopes.get_untracked(),
        };
        async move {
            api::run::<CreatePersonalAccessToken>(create_personal_access_token::Variables { input })
                .await
        }
    });
    Effect::new(move |_| match create.value().get() {
        Some(Ok(created)) => {
            error.set(None);
            if let Some(d) = dialog.get_untracked() {
                d.close();
            }
            name.set(String::new());
            let t = created.create_personal_access_token;
            secret.set(Some((t.token.name, t.secret)));
            tokens.refetch();
        }
        Some(Err(err)) => error.set(Some(error_text(&err))),
        None => {}
    });
    let revoke = Action::new_local(|id: &String| {
        let input = revoke_personal_access_token::RevokePersonalAccessTokenInput {
            id: id.clone(),
            reason: Some("revoked in the dashboard".into()),
        };
        async move {
            api::run::<RevokePersonalAccessToken>(revoke_personal_access_token::Variables { input })
                .await
        }
    });
    Effect::new(move |_| {
        if revoke.value().get().is_some() {
            tokens.refetch();
        }
    });
    let open = move |_| {
        if let Some(d) = dialog.get() {
            let _ = d.show_modal();
        }
    };
    view! {
        <header class="page-header">
            <div>
                <h1>"Personal tokens"</h1>
                <p class="muted">"Tokens act as you in every organization you belong to. They expire after 120 days unless you choose otherwise."</p>
            </div>
            <button class="primary" on:click=open>"Create token"</button>
        </header>
        {move || revoke.value().get().and_then(|r| r.err()).map(|e| view! { <p role="alert" class="banner error">{error_text(&e)}</p> })}
        {move || match tokens.get() {
            None => view! { <p class="muted" aria-busy="true">"Loading tokens…"</p> }.into_any(),
            Some(Err(err)) => error_banner(&err, move || tokens.refetch()),
            Some(Ok(list)) if list.nodes.is_empty() && pager.later() => pager.emptied(),
            Some(Ok(list)) if list.nodes.is_empty() => view! {
                <div class="empty">
                    <p>"No personal tokens yet."</p>
                    <button class="primary" on:click=open>"Create your first token"</button>
                </div>
            }
            .into_any(),
            Some(Ok(list)) => {
                let footer = pager.footer(
                    list.nodes.len(),
                    list.total_count,
                    list.page_info.has_next_page.then_some(list.page_info.end_cursor.clone()).flatten(),
                );
                view! {
                <div class="table-wrap" role="region" tabindex="0" aria-label="Personal access tokens">
                    <table>
                        {table_head(&["Name", "~Created", "~Expires", "~Last used", "~Requests", "Status", ""])}
                        <tbody>
                            {list.nodes.into_iter().map(|t| {
                                let active = matches!(t.status, personal_access_tokens::CredentialStatus::ACTIVE);
                                let (label, tone) = status(&format!("{:?}", t.status));
                                let id = t.id.clone();
                                view! {
                                    <tr data-token-id=t.id.clone()>
                                        <td><div class="name">{t.name.clone()}</div><code class="prefix">{t.prefix.clone()}"…"</code></td>
                                        <td class="fold"><Time at=t.created_at.clone()/></td>
                                        <td class="fold">{format::expires(t.expires_at.clone(), t.expires_soon)}</td>
                                        <td class="fold">{time_or(t.last_used_at.clone(), "Never")}</td>
                                        <td class="fold">{format::compact(t.request_count)}</td>
                                        <td><span class=format!("badge {tone}")>{label}</span></td>
                                        <td>{active.then(|| view! {
                                            <button class="danger small" on:click=move |_| {
                                                let sure = window()
                                                    .confirm_with_message("Revoke this token? Anything using it stops at once.")
                                                    .unwrap_or(false);
                                                if sure { revoke.dispatch(id.clone()); }
                                            }>"Revoke"</button>
                                        })}</td>
                                    </tr>
                                }
                            }).collect_view()}
                        </tbody>
                    </table>
                </div>
                {footer}
                }
                .into_any()
            },
        }}
        <dialog node_ref=dialog aria-labelledby="pat-title">
            <form on:submit=move |ev| { ev.prevent_default(); create.dispatch(()); }>
                <h2 id="pat-title">"Create a personal token"</h2>
                <label>"Name (usually the machine it is for)"
                    <input id="token-name" required maxlength="100" prop:value=name on:input=move |ev| name.set(event_target_value(&ev))/>
                </label>
                <label>"Expires (optional; default in 120 days)"
                    <input type="date" on:input=move |ev| expires.set(event_target_value(&ev))/>
                </label>
                <crate::picker::PermissionPicker chosen=scopes id="token-scopes"/>
                {move || error.get().map(|e| view! { <p role="alert" class="error">{e}</p> })}
                <div class="actions">
                    <button type="button" on:click=move |_| { if let Some(d) = dialog.get() { d.close(); } }>"Cancel"</button>
                    <button type="submit" class="primary" disabled=move || create.pending().get()>"Create token"</button>
                </div>
            </form>
        </dialog>
        <SecretDialog secret=secret/>
    }
}

#[component]
pub fn SessionsPage() -> impl IntoView {
    // Every session is reachable: the list pages to its end.
    let pager = Pager::new(50);
    let list = LocalResource::new(move || {
        let after = pager.after();
        async move {
            api::run::<Sessions>(sessions::Variables {
                first: Some(pager.size),
                after,
            })
            .await
            .map(|d| d.sessions)
        }
    });
    let revoke = Action::new_local(|id: &String| {
        let input = revoke_session::RevokeSessionInput { id: id.clone() };
        async move { api::run::<RevokeSession>(revoke_session::Variables { input }).await }
    });
    Effect::new(move |_| {
        if revoke.value().get().is_some() {
            list.refetch();
        }
    });
    // One request ends them all, on every page, however many there are.
    let revoke_others = Action::new_local(move |_: &()| async move {
        api::run::<RevokeOtherSessions>(revoke_other_sessions::Variables {})
            .await
            .map(|d| d.revoke_other_sessions)
    });
    Effect::new(move |_| {
        if revoke_others.value().get().is_some() {
            // Back to the first page, which loads the list again, or load it here.
            if !pager.reset() {
                list.refetch();
            }
        }
    });
    let has_others = move || {
        list.get()
            .and_then(Result::ok)
            .is_some_and(|page| page.total_count > 1 || page.nodes.iter().any(|s| !s.current))
    };
    view! {
        <header class="page-header">
            <div>
                <h1>"Sessions"</h1>
                <p class="muted">"Where you are signed in. Revoke any you do not recognise."</p>
            </div>
            <button disabled=move || !has_others() || revoke_others.pending().get()
                on:click=move |_| {
                    if crate::ui::confirm("Sign out everywhere else? Every other browser signed in as you is signed out at once.") {
                        revoke_others.dispatch(());
                    }
                }>"Revoke all others"</button>
        </header>
        {move || revoke_others.value().get().map(|r| match r {
            Ok(n) => view! { <p role="status" class="banner info">{match n { 1 => "1 other session ended.".to_owned(), n => format!("{n} other sessions ended.") }}</p> }.into_any(),
            Err(e) => view! { <p role="alert" class="banner error">{error_text(&e)}</p> }.into_any(),
        })}
        {move || revoke.value().get().and_then(|r| r.err()).map(|e| view! { <p role="alert" class="banner error">{error_text(&e)}</p> })}
        {move || match list.get() {
            None => view! { <p class="muted" aria-busy="true">"Loading sessions…"</p> }.into_any(),
            Some(Err(err)) => error_banner(&err, move || list.refetch()),
            Some(Ok(page)) if page.nodes.is_empty() && pager.later() => pager.emptied(),
            Some(Ok(page)) => {
                let footer = pager.footer(
                    page.nodes.len(),
                    page.total_count,
                    page.page_info.has_next_page.then_some(page.page_info.end_cursor).flatten(),
                );
                view! {
                <div class="table-wrap" role="region" tabindex="0" aria-label="Sessions">
                    <table>
                        {table_head(&["Device", "~IP", "Last active", "~Signed in", ""])}
                        <tbody>
                            {page.nodes.into_iter().map(|s| {
                                let id = s.id.clone();
                                view! {
                                    <tr>
                                        <td>
                                            <span class="device" title=s.user_agent.clone()>{s.device.clone()}</span>
                                            {s.current.then(|| view! { <span class="badge ok">"This device"</span> })}
                                        </td>
                                        <td class="fold">{s.ip.clone().unwrap_or_default()}</td>
                                        <td><Time at=s.last_seen_at.clone()/></td>
                                        <td class="fold"><Time at=s.created_at.clone()/></td>
                                        <td>{(!s.current).then(|| view! {
                                            <button class="danger small" on:click=move |_| { revoke.dispatch(id.clone()); }>"Revoke"</button>
                                        })}</td>
                                    </tr>
                                }
                            }).collect_view()}
                        </tbody>
                    </table>
                </div>
                {footer}
            }
            .into_any()
            }
        }}
    }
}

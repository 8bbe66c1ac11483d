//! Instance administration: every user of this Keyward, suspending and restoring them,
//! and any user's keys (revocable from here).

use leptos::{html, prelude::*};

use crate::{
    api::{
        self, AdminRevokeCredential, SuspendCustomer, UnsuspendCustomer, UserCredentials, Users,
        admin_revoke_credential, suspend_customer, unsuspend_customer, user_credentials, users,
    },
    app::{Session, error_banner, error_text},
    credential::status,
    format::{Time, time_or},
    ui::{self, Badge, Empty, PageHeader, Pager, Skeleton, Toasts, form_error},
};

#[component]
pub fn AdminPage() -> impl IntoView {
    let session = expect_context::<Session>();
    let toasts = expect_context::<Toasts>();
    let (search_q, set_search) = ui::query_param("q");
    let pager = Pager::new(50);
    let changed = RwSignal::new(0_u32);
    let list = LocalResource::new(move || {
        let search = search_q.get();
        let after = pager.after();
        changed.track();
        async move {
            api::run::<Users>(users::Variables {
                search,
                first: Some(pager.size),
                after,
            })
            .await
            .map(|d| d.users)
        }
    });
    let suspending = RwSignal::new(None::<(String, String)>);
    let showing = RwSignal::new(None::<(String, String)>);
    let dialog = NodeRef::<html::Dialog>::new();
    let unsuspend = Action::new_local(|id: &String| {
        let input = unsuspend_customer::UnsuspendCustomerInput {
            customer_id: id.clone(),
        };
        async move { api::run::<UnsuspendCustomer>(unsuspend_customer::Variables { input }).await }
    });
    Effect::new(move |_| match unsuspend.value().get() {
        Some(Ok(_)) => {
            toasts.ok("Suspension lifted");
            changed.update(|n| *n += 1);
        }
        Some(Err(e)) => toasts.error(&e),
        None => {}
    });
    let is_admin = move || session.me.get().is_some_and(|m| m.me.is_instance_admin);
    view! {
        <PageHeader title="Instance admin" description="Every user of this Keyward. Suspending someone stops their sessions and keys at once."/>
        {move || (!is_admin()).then(|| view! { <p class="banner">"Only instance administrators can see this page."</p> })}
        <div class="filters" role="search">
            <label>"Search by email or name"
                <input id="user-search" type="search" prop:value=move || search_q.get().unwrap_or_default()
                    on:change=move |ev| { pager.reset(); set_search.set(Some(event_target_value(&ev)).filter(|v| !v.is_empty())); }/>
            </label>
        </div>
        {move || match list.get() {
            None => view! { <Skeleton label="Loading users"/> }.into_any(),
            Some(Err(err)) => error_banner(&err, move || list.refetch()),
            Some(Ok(page)) if page.nodes.is_empty() && pager.later() => pager.emptied(),
            Some(Ok(page)) if page.nodes.is_empty() => view! {
                <Empty text="No users match.".into()>
                    <button on:click=move |_| { pager.reset(); set_search.set(None); }>"Clear search"</button>
                </Empty>
            }.into_any(),
            Some(Ok(page)) => {
                let footer = pager.footer(page.nodes.len(), page.total_count, page.page_info.end_cursor.filter(|_| page.page_info.has_next_page));
                view! {
                    <div class="table-wrap" role="region" tabindex="0" aria-label="Users">
                        <table>
                            {ui::table_head(&["User", "Status", "~Joined", "~Last sign-in", ""])}
                            <tbody>
                                {page.nodes.into_iter().map(|u| {
                                    let (id, id2, id3) = (u.id.clone(), u.id.clone(), u.id.clone());
                                    let (email, email2) = (u.email.clone(), u.email.clone());
                                    view! {
                                        <tr data-user=u.email.clone()>
                                            <td><div class="name">{u.email.clone()}</div><div class="muted">{u.name.clone()}</div>
                                                {u.is_instance_admin.then(|| view! { <Badge text="Admin".into() tone="muted"/> })}</td>
                                            <td>{if u.suspended {
                                                view! { <Badge text="Suspended".into() tone="bad"/><div class="muted">{u.suspended_reason.clone().unwrap_or_default()}</div> }.into_any()
                                            } else {
                                                view! { <Badge text="Active".into() tone="ok"/> }.into_any()
                                            }}</td>
                                            <td class="fold"><Time at=u.created_at.clone()/></td>
                                            <td class="fold">{time_or(u.last_sign_in_at.clone(), "Never")}</td>
                                            <td><div class="row-actions">
                                                <button class="small" on:click=move |_| showing.set(Some((id.clone(), email.clone())))>"Keys"</button>
                                                {if u.suspended {
                                                    view! { <button class="small" on:click=move |_| { unsuspend.dispatch(id2.clone()); }>"Lift suspension"</button> }.into_any()
                                                } else {
                                                    view! { <button class="small danger" on:click=move |_| { suspending.set(Some((id3.clone(), email2.clone()))); ui::open(dialog); }>"Suspend"</button> }.into_any()
                                                }}
                                            </div></td>
                                        </tr>
                                    }
                                }).collect_view()}
                            </tbody>
                        </table>
                    </div>
                    {footer}
                }.into_any()
            }
        }}
        {move || showing.get().map(|(id, email)| view! { <UserKeys id=id email=email on_close=move || showing.set(None)/> })}
        <SuspendDialog dialog=dialog target=suspending on_done=move || changed.update(|n| *n += 1)/>
    }
}

#[component]
fn SuspendDialog(
    dialog: NodeRef<html::Dialog>,
    target: RwSignal<Option<(String, String)>>,
    on_done: impl Fn() + Copy + 'static,
) -> impl IntoView {
    let toasts = expect_context::<Toasts>();
    let reason = RwSignal::new(String::new());
    let error = RwSignal::new(None::<String>);
    let suspend = Action::new_local(move |_: &()| {
        let input = suspend_customer::SuspendCustomerInput {
            customer_id: target.get_untracked().map(|t| t.0).unwrap_or_default(),
            reason: reason.get_untracked(),
        };
        async move { api::run::<SuspendCustomer>(suspend_customer::Variables { input }).await }
    });
    Effect::new(move |_| match suspend.value().get() {
        Some(Ok(_)) => {
            error.set(None);
            reason.set(String::new());
            ui::close(dialog);
            toasts.ok("User suspended");
            on_done();
        }
        Some(Err(e)) => error.set(Some(error_text(&e))),
        None => {}
    });
    view! {
        <dialog node_ref=dialog aria-labelledby="suspend-title">
            <form on:submit=move |ev| { ev.prevent_default(); suspend.dispatch(()); }>
                <h2 id="suspend-title">{move || format!("Suspend {}?", target.get().map(|t| t.1).unwrap_or_default())}</h2>
                <p>"Their sessions, personal tokens and keys stop working at once, until you lift the suspension."</p>
                <label>"Reason (recorded in the audit log)"
                    <input id="suspend-reason" required maxlength="500" prop:value=reason on:input=move |ev| reason.set(event_target_value(&ev))/>
                </label>
                {form_error(error)}
                <div class="actions">
                    <button type="button" on:click=move |_| ui::close(dialog)>"Cancel"</button>
                    <button type="submit" class="danger" disabled=move || suspend.pending().get()>"Suspend"</button>
                </div>
            </form>
        </dialog>
    }
}

/// Every credential a user owns or created, each revocable.
#[component]
fn UserKeys(id: String, email: String, on_close: impl Fn() + Copy + 'static) -> impl IntoView {
    let toasts = expect_context::<Toasts>();
    let changed = RwSignal::new(0_u32);
    let customer = StoredValue::new(id);
    let keys = LocalResource::new(move || {
        changed.track();
        async move {
            api::run::<UserCredentials>(user_credentials::Variables {
                customer_id: customer.get_value(),
            })
            .await
            .map(|d| d.user_credentials)
        }
    });
    let revoke = Action::new_local(|id: &String| {
        let input = admin_revoke_credential::AdminRevokeCredentialInput {
            id: id.clone(),
            reason: Some("revoked by an instance administrator".into()),
        };
        async move {
            api::run::<AdminRevokeCredential>(admin_revoke_credential::Variables { input }).await
        }
    });
    Effect::new(move |_| match revoke.value().get() {
        Some(Ok(_)) => {
            toasts.ok("Credential revoked");
            changed.update(|n| *n += 1);
        }
        Some(Err(e)) => toasts.error(&e),
        None => {}
    });
    view! {
        <section class="panel" aria-labelledby="user-keys-title">
            <header class="role-head">
                <h2 id="user-keys-title">{format!("Keys of {email}")}</h2>
                <button class="small" on:click=move |_| on_close()>"Close"</button>
            </header>
            {move || match keys.get() {
                None => view! { <Skeleton label="Loading keys"/> }.into_any(),
                Some(Err(err)) => error_banner(&err, move || keys.refetch()),
                Some(Ok(list)) if list.is_empty() => view! { <p class="muted">"This user has no keys."</p> }.into_any(),
                Some(Ok(list)) => view! {
                    <div class="table-wrap" role="region" tabindex="0" aria-label="Keys of this user">
                        <table>
                            {ui::table_head(&["Name", "~Kind", "~Created", "~Last used", "Status", ""])}
                            <tbody>
                                {list.into_iter().map(|k| {
                                    let debug = format!("{:?}", k.status);
                                    let (label, tone) = status(&debug);
                                    let kind = match format!("{:?}", k.kind).as_str() {
                                        "API_KEY" => "API key",
                                        "PERSONAL_ACCESS_TOKEN" => "Personal token",
                                        _ => "Service-account key",
                                    };
                                    let id = k.id.clone();
                                    view! {
                                        <tr data-key-id=k.id.clone()>
                                            <td><div class="name">{k.name.clone()}</div><code class="prefix">{k.prefix.clone()}"…"</code></td>
                                            <td class="fold">{kind}</td>
                                            <td class="fold"><Time at=k.created_at.clone()/></td>
                                            <td class="fold">{time_or(k.last_used_at.clone(), "Never")}</td>
                                            <td><Badge text=label.into() tone=tone/></td>
                                            <td>{(debug != "REVOKED").then(|| view! {
                                                <button class="small danger" on:click=move |_| {
                                                    if ui::confirm("Revoke this credential? Anything using it stops at once.") { revoke.dispatch(id.clone()); }
                                                }>"Revoke"</button>
                                            })}</td>
                                        </tr>
                                    }
                                }).collect_view()}
                            </tbody>
                        </table>
                    </div>
                }.into_any(),
            }}
        </section>
    }
}

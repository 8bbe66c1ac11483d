//! Service accounts: non-human members with a role, and their keys (bounded by it).

use leptos::{html, prelude::*};

use crate::{
    api::{
        self, CreateServiceAccount, CreateServiceAccountKey, DisableServiceAccount,
        EnableServiceAccount, ServiceAccounts, create_service_account, create_service_account_key,
        disable_service_account, enable_service_account, service_accounts,
    },
    app::{Session, error_banner, error_text},
    credential::{KeyActions, KeyDialogs, KeyMenu, KeyRef, status},
    format::{self, Time, time_or},
    keys::{expiry, optional_number},
    members::role_choices,
    ui::{self, Badge, Empty, PageHeader, Pager, Skeleton, Toasts, form_error},
};

type Account = service_accounts::ServiceAccountsServiceAccountsNodes;

#[component]
pub fn ServiceAccountsPage() -> impl IntoView {
    let session = expect_context::<Session>();
    let toasts = expect_context::<Toasts>();
    let actions = KeyActions::provide();
    // Every account is reachable: the list pages to its end.
    let pager = Pager::new(20);
    let accounts = LocalResource::new(move || {
        let org = session.org.get().unwrap_or_default();
        let after = pager.after();
        actions.changed.track();
        async move {
            api::run::<ServiceAccounts>(service_accounts::Variables {
                organization_id: org,
                first: Some(pager.size),
                after,
            })
            .await
            .map(|d| d.service_accounts)
        }
    });
    let create_dialog = NodeRef::<html::Dialog>::new();
    let key_dialog = NodeRef::<html::Dialog>::new();
    let key_for = RwSignal::new(None::<(String, String)>);
    let toggle = Action::new_local(move |(id, enable): &(String, bool)| {
        let (id, enable) = (id.clone(), *enable);
        async move {
            if enable {
                let input = enable_service_account::ServiceAccountInput { id };
                api::run::<EnableServiceAccount>(enable_service_account::Variables { input })
                    .await
                    .map(|_| "Service account enabled")
            } else {
                let input = disable_service_account::ServiceAccountInput { id };
                api::run::<DisableServiceAccount>(disable_service_account::Variables { input })
                    .await
                    .map(|_| "Service account disabled")
            }
        }
    });
    Effect::new(move |_| match toggle.value().get() {
        Some(Ok(text)) => {
            toasts.ok(text);
            actions.bump();
        }
        Some(Err(e)) => toasts.error(&e),
        None => {}
    });
    view! {
        <PageHeader title="Service accounts" description="Accounts for machines: each has a role, and its keys can do no more than that role.">
            <button class="primary" disabled=move || !session.can("service_accounts:write") title=move || session.lacks("service_accounts:write") on:click=move |_| ui::open(create_dialog)>"Create service account"</button>
        </PageHeader>
        {move || match accounts.get() {
            None => view! { <Skeleton label="Loading service accounts"/> }.into_any(),
            Some(Err(err)) => error_banner(&err, move || accounts.refetch()),
            Some(Ok(list)) if list.nodes.is_empty() && pager.later() => pager.emptied(),
            Some(Ok(list)) if list.nodes.is_empty() => view! {
                <Empty text="No service accounts yet.".into()>
                    <button class="primary" disabled=move || !session.can("service_accounts:write") title=move || session.lacks("service_accounts:write") on:click=move |_| ui::open(create_dialog)>"Create your first service account"</button>
                </Empty>
            }.into_any(),
            Some(Ok(list)) => {
                let footer = pager.footer(
                    list.nodes.len(),
                    list.total_count,
                    list.page_info.has_next_page.then_some(list.page_info.end_cursor).flatten(),
                );
                view! {
                    {list.nodes.into_iter().map(|a| view! {
                        <AccountCard account=a toggle=toggle on_new_key=move |target| { key_for.set(Some(target)); ui::open(key_dialog); }/>
                    }).collect_view()}
                    {footer}
                }.into_any()
            }
        }}
        <CreateAccountDialog dialog=create_dialog/>
        <CreateKeyDialog dialog=key_dialog account=key_for/>
        <KeyDialogs/>
    }
}

#[component]
fn AccountCard(
    account: Account,
    toggle: Action<(String, bool), Result<&'static str, api::ApiError>>,
    on_new_key: impl Fn((String, String)) + Copy + 'static,
) -> impl IntoView {
    let (id, id2) = (account.id.clone(), account.id.clone());
    let name = account.name.clone();
    let disabled = account.disabled;
    let session = expect_context::<Session>();
    view! {
        <section class="panel" data-service-account=account.name.clone()>
            <header class="role-head">
                <div>
                    <h2>{account.name.clone()}" "
                        {if disabled { view! { <Badge text="Disabled".into() tone="muted"/> } } else { view! { <Badge text="Active".into() tone="ok"/> } }}
                    </h2>
                    <p class="muted">{format!("Role: {}", account.role.name)}{(!account.description.is_empty()).then(|| format!(" · {}", account.description))}" · created "<Time at=account.created_at.clone()/></p>
                </div>
                <div class="row-actions" hidden=move || !session.can("service_accounts:write")>
                    {(!disabled).then(|| view! { <button class="small primary" on:click=move |_| on_new_key((id.clone(), name.clone()))>"New key"</button> })}
                    <button class="small" on:click=move |_| {
                        if disabled {
                            toggle.dispatch((id2.clone(), true));
                        } else if ui::confirm("Disable this service account? All its keys stop working until you enable it.") {
                            toggle.dispatch((id2.clone(), false));
                        }
                    }>{if disabled { "Enable" } else { "Disable" }}</button>
                </div>
            </header>
            {if account.keys.is_empty() {
                view! { <p class="muted">"No keys yet."</p> }.into_any()
            } else {
                view! {
                    <div class="table-wrap" role="region" tabindex="0" aria-label="Service accounts">
                        <table>
                            {ui::table_head(&["Key", "~Created", "~Expires", "~Last used", "~Requests", "Status", ""])}
                            <tbody>
                                {account.keys.into_iter().map(|k| {
                                    let debug = format!("{:?}", k.status);
                                    let (label, tone) = status(&debug);
                                    let menu = KeyRef { id: k.id.clone(), name: k.name.clone(), status: debug };
                                    view! {
                                        <tr data-key-id=k.id.clone()>
                                            <td><a class="name" href=format!("/keys/{}", k.id)>{k.name.clone()}</a><div><code class="prefix">{k.prefix.clone()}"…"</code></div></td>
                                            <td class="fold"><Time at=k.created_at.clone()/></td>
                                            <td class="fold">{format::expires(k.expires_at.clone(), k.expires_soon)}</td>
                                            <td class="fold">{time_or(k.last_used_at.clone(), "Never")}</td>
                                            <td class="fold">{format::compact(k.request_count)}</td>
                                            <td><Badge text=label.into() tone=tone/></td>
                                            <td><KeyMenu key=menu/></td>
                                        </tr>
                                    }
                                }).collect_view()}
                            </tbody>
                        </table>
                    </div>
                }.into_any()
            }}
        </section>
    }
}

#[component]
fn CreateAccountDialog(dialog: NodeRef<html::Dialog>) -> impl IntoView {
    let session = expect_context::<Session>();
    let toasts = expect_context::<Toasts>();
    let actions = expect_context::<KeyActions>();
    let roles = role_choices(session);
    let name = RwSignal::new(String::new());
    let description = RwSignal::new(String::new());
    let role = RwSignal::new(String::new());
    let error = RwSignal::new(None::<String>);
    let create = Action::new_local(move |_: &()| {
        let role_id = ui::chosen_role(role.get_untracked(), roles.get_untracked());
        let input = create_service_account::CreateServiceAccountInput {
            organization_id: session.org.get_untracked().unwrap_or_default(),
            name: name.get_untracked(),
            description: Some(description.get_untracked()).filter(|d| !d.is_empty()),
            role_id,
        };
        async move {
            api::run::<CreateServiceAccount>(create_service_account::Variables { input }).await
        }
    });
    Effect::new(move |_| match create.value().get() {
        Some(Ok(_)) => {
            error.set(None);
            ui::close(dialog);
            name.set(String::new());
            description.set(String::new());
            toasts.ok("Service account created");
            actions.bump();
        }
        Some(Err(e)) => error.set(Some(error_text(&e))),
        None => {}
    });
    view! {
        <dialog node_ref=dialog aria-labelledby="sa-title">
            <form on:submit=move |ev| { ev.prevent_default(); create.dispatch(()); }>
                <h2 id="sa-title">"Create a service account"</h2>
                <label>"Name"
                    <input id="sa-name" required maxlength="100" prop:value=name on:input=move |ev| name.set(event_target_value(&ev))/>
                </label>
                <label>"Description (optional)"
                    <input prop:value=description on:input=move |ev| description.set(event_target_value(&ev))/>
                </label>
                <label>"Role"
                    <select id="sa-role" on:change=move |ev| role.set(event_target_value(&ev))>
                        {move || ui::role_options(roles.get().unwrap_or_default(), &role.get())}
                    </select>
                </label>
                {form_error(error)}
                <div class="actions">
                    <button type="button" on:click=move |_| ui::close(dialog)>"Cancel"</button>
                    <button type="submit" class="primary" disabled=move || create.pending().get()>"Create"</button>
                </div>
            </form>
        </dialog>
    }
}

#[component]
fn CreateKeyDialog(
    dialog: NodeRef<html::Dialog>,
    account: RwSignal<Option<(String, String)>>,
) -> impl IntoView {
    let session = expect_context::<Session>();
    let toasts = expect_context::<Toasts>();
    let actions = expect_context::<KeyActions>();
    let name = RwSignal::new(String::new());
    let project = RwSignal::new(String::new());
    let expires = RwSignal::new(String::new());
    let scopes: crate::picker::Chosen = RwSignal::new(None);
    let rate_limit = RwSignal::new(String::new());
    let error = RwSignal::new(None::<String>);
    let create = Action::new_local(move |_: &()| {
        let rate = optional_number(&rate_limit.get_untracked());
        let input = create_service_account_key::CreateServiceAccountKeyInput {
            service_account_id: account.get_untracked().map(|a| a.0).unwrap_or_default(),
            project_id: Some(project.get_untracked()).filter(|p| !p.is_empty()),
            name: name.get_untracked(),
            expires_at: expiry(&expires.get_untracked()),
            scopes: scopes.get_untracked(),
            rate_limit_per_minute: rate.clone().unwrap_or(None),
        };
        async move {
            rate.map_err(|e| api::ApiError::Refused(format!("Rate limit: {e}")))?;
            api::run::<CreateServiceAccountKey>(create_service_account_key::Variables { input })
                .await
        }
    });
    Effect::new(move |_| match create.value().get() {
        Some(Ok(created)) => {
            error.set(None);
            ui::close(dialog);
            name.set(String::new());
            toasts.ok("Key created");
            let k = created.create_service_account_key;
            actions.secret.set(Some((k.api_key.name, k.secret)));
            actions.bump();
        }
        Some(Err(e)) => error.set(Some(error_text(&e))),
        None => {}
    });
    view! {
        <dialog node_ref=dialog aria-labelledby="sa-key-title">
            <form on:submit=move |ev| { ev.prevent_default(); create.dispatch(()); }>
                <h2 id="sa-key-title">{move || format!("New key for {}", account.get().map(|a| a.1).unwrap_or_default())}</h2>
                <label>"Name"
                    <input id="sa-key-name" required maxlength="100" prop:value=name on:input=move |ev| name.set(event_target_value(&ev))/>
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
                <crate::picker::PermissionPicker chosen=scopes id="sa-key-scopes"/>
                <label>"Rate limit, requests per minute (optional)"
                    <input inputmode="numeric" on:input=move |ev| rate_limit.set(event_target_value(&ev))/>
                </label>
                {form_error(error)}
                <div class="actions">
                    <button type="button" on:click=move |_| ui::close(dialog)>"Cancel"</button>
                    <button type="submit" class="primary" disabled=move || create.pending().get()>"Create key"</button>
                </div>
            </form>
        </dialog>
    }
}

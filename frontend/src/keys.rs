//! The API keys page: the organization's keys filtered by status and project (kept in
//! the URL), a page at a time; creating one with its secret shown once; and one key's
//! detail with its usage chart and recent audit events.

use leptos::{html, prelude::*};
use leptos_router::hooks::use_params_map;

use crate::{
    analytics::{RecentVerificationList, Sparkline, VerificationChart},
    api::{
        self, ApiKey, ApiKeys, AuditEvents, CreateApiKey, KeyActivity, api_key, api_keys,
        audit_events, create_api_key, key_activity,
    },
    app::{Session, error_banner, error_text},
    audit::EventRows,
    credential::{KeyActions, KeyDialogs, KeyMenu, KeyRef, status},
    format::{self, Time, time_or},
    logic,
    ui::{self, Badge, Empty, PageHeader, Pager, Skeleton, Toasts, form_error},
    usage::UsageChart,
};

type Key = api_keys::ApiKeysApiKeysNodes;

/// The list's order as the address keeps it (`?sort=`); none is newest first.
fn key_order(value: Option<&str>) -> api_keys::KeyOrder {
    use api_keys::KeyOrder as O;
    match value {
        Some("oldest") => O::OLDEST,
        Some("name") => O::NAME,
        Some("used") => O::LAST_USED,
        Some("expires") => O::EXPIRES,
        _ => O::NEWEST,
    }
}

/// A column heading that sorts the list by it. `order` is the address's `sort` value it
/// sets (`""`: newest first); `flip`, where the column runs both ways, the other one.
#[component]
fn SortHead(
    label: &'static str,
    order: &'static str,
    #[prop(optional)] flip: Option<&'static str>,
    ascending: bool,
    sort: ReadSignal<Option<String>>,
    set_sort: SignalSetter<Option<String>>,
    pager: Pager,
) -> impl IntoView {
    let current = move || sort.get().unwrap_or_default();
    let direction = move |value: &str| {
        let up = if value == order {
            ascending
        } else {
            !ascending
        };
        if up { "ascending" } else { "descending" }
    };
    let state = move || {
        let now = current();
        (now == order || flip == Some(now.as_str())).then(|| direction(&now))
    };
    let choose = move |_| {
        let now = current();
        let next = match flip {
            Some(other) if now == order => other,
            _ => order,
        };
        pager.reset();
        set_sort.set(Some(next.to_owned()).filter(|v| !v.is_empty()));
    };
    view! {
        <th scope="col" aria-sort=state>
            <button class="sort" on:click=choose>{label}</button>
        </th>
    }
}

fn status_filter(value: &str) -> Option<api_keys::CredentialStatus> {
    use api_keys::CredentialStatus as S;
    Some(match value {
        "active" => S::ACTIVE,
        "disabled" => S::DISABLED,
        "expired" => S::EXPIRED,
        "revoked" => S::REVOKED,
        "rotating" => S::ROTATING,
        _ => return None,
    })
}

#[component]
pub fn KeysPage() -> impl IntoView {
    let session = expect_context::<Session>();
    let actions = KeyActions::provide();
    let (status_q, set_status) = ui::query_param("status");
    let (project_q, set_project) = ui::query_param("project");
    let (search_q, set_search) = ui::query_param("q");
    let (creator_q, set_creator) = ui::query_param("creator");
    let (sort_q, set_sort) = ui::query_param("sort");
    let people = crate::members::member_choices(session);
    let pager = Pager::new(50);
    let keys = LocalResource::new(move || {
        let org = session.org.get();
        let status = status_q.get();
        let project = project_q.get();
        let search = search_q.get();
        let creator = creator_q.get();
        let order = key_order(sort_q.get().as_deref());
        let after = pager.after();
        actions.changed.track();
        async move {
            let Some(org) = org else {
                return Ok(None);
            };
            api::run::<ApiKeys>(api_keys::Variables {
                organization_id: org,
                project_id: project.filter(|p| !p.is_empty()),
                status: status.as_deref().and_then(status_filter),
                search,
                created_by_id: creator,
                order_by: Some(order),
                first: Some(pager.size),
                after,
            })
            .await
            .map(|d| Some(d.api_keys))
        }
    });
    // Each listed key's last 24 hours, once the list is in, for those who may read usage.
    let activity = LocalResource::new(move || {
        let ids: Vec<String> = match keys.get() {
            Some(Ok(Some(list))) => list.nodes.iter().map(|k| k.id.clone()).collect(),
            _ => Vec::new(),
        };
        let org = session.org.get();
        let allowed = session.can("usage:read");
        async move {
            let (Some(org), true, false) = (org, allowed, ids.is_empty()) else {
                return std::collections::HashMap::new();
            };
            api::run::<KeyActivity>(key_activity::Variables {
                organization_id: org,
                key_ids: ids,
            })
            .await
            .map(|d| {
                d.key_activity
                    .into_iter()
                    .map(|a| (a.key_id, a.hours))
                    .collect()
            })
            // The sparkline is a glance: the list stands without it.
            .unwrap_or_default()
        }
    });
    let hours_of = move |id: &str| {
        let id = id.to_owned();
        Signal::derive(move || activity.get().and_then(|map| map.get(&id).cloned()))
    };
    let create_dialog = NodeRef::<html::Dialog>::new();
    let open_create = move |_| ui::open(create_dialog);
    let filtered = move || {
        status_q.get().is_some()
            || project_q.get().is_some()
            || search_q.get().is_some()
            || creator_q.get().is_some()
    };
    let navigate = StoredValue::new(leptos_router::hooks::use_navigate());
    let clear_filters = move || {
        pager.reset();
        navigate.with_value(|go| go("/keys", Default::default()));
    };
    view! {
        <PageHeader title="API keys" description="Keys let services and scripts call your API as your organization.">
            <button class="primary" id="create-key" disabled=move || !session.can("api_keys:write") title=move || session.lacks("api_keys:write") on:click=open_create>"Create key"</button>
        </PageHeader>
        <div class="filters" role="search">
            <label>"Search"
                <input id="key-search" type="search" placeholder="Name or prefix"
                    prop:value=move || search_q.get().unwrap_or_default()
                    on:change=move |ev| {
                        pager.reset();
                        set_search.set(Some(event_target_value(&ev)).filter(|v| !v.trim().is_empty()));
                    }/>
            </label>
            <label>"Created by"
                <select id="key-creator" on:change=move |ev| {
                    pager.reset();
                    set_creator.set(Some(event_target_value(&ev)).filter(|v| !v.is_empty()));
                }>
                    <option value="">"Anyone"</option>
                    {move || {
                        let current = creator_q.get().unwrap_or_default();
                        people.get().unwrap_or_default().into_iter().map(|(id, email)| {
                            let selected = id == current;
                            view! { <option value=id selected=selected>{email}</option> }
                        }).collect_view()
                    }}
                </select>
            </label>
            <label>"Status"
                <select aria-label="Status" on:change=move |ev| {
                    let v = event_target_value(&ev);
                    pager.reset();
                    set_status.set(Some(v).filter(|v| !v.is_empty()));
                }>
                    {move || {
                        let current = status_q.get().unwrap_or_default();
                        [("", "Any status"), ("active", "Active"), ("disabled", "Disabled"), ("rotating", "Rotating"), ("expired", "Expired"), ("revoked", "Revoked")]
                            .into_iter()
                            .map(|(v, l)| view! { <option value=v selected=current == v>{l}</option> })
                            .collect_view()
                    }}
                </select>
            </label>
            <label>"Project"
                <select aria-label="Project" on:change=move |ev| {
                    let v = event_target_value(&ev);
                    pager.reset();
                    set_project.set(Some(v).filter(|v| !v.is_empty()));
                }>
                    <option value="">"Any project"</option>
                    {move || {
                        let current = project_q.get().unwrap_or_default();
                        session.projects().into_iter().map(|(id, n)| {
                            let selected = id == current;
                            view! { <option value=id selected=selected>{n}</option> }
                        }).collect_view()
                    }}
                </select>
            </label>
        </div>
        {move || match keys.get() {
            None => view! { <Skeleton label="Loading keys"/> }.into_any(),
            Some(Err(err)) => error_banner(&err, move || keys.refetch()),
            Some(Ok(None)) => view! { <p class="muted">"Choose an organization."</p> }.into_any(),
            Some(Ok(Some(list))) if list.nodes.is_empty() && pager.later() => pager.emptied(),
            Some(Ok(Some(list))) if list.nodes.is_empty() && filtered() => view! {
                <Empty text="No keys match these filters.".into()>
                    <button on:click=move |_| clear_filters()>"Clear filters"</button>
                </Empty>
            }
            .into_any(),
            Some(Ok(Some(list))) if list.nodes.is_empty() => view! {
                <Empty text="No API keys yet.".into()>
                    <button class="primary" disabled=move || !session.can("api_keys:write") title=move || session.lacks("api_keys:write") on:click=open_create>"Create your first key"</button>
                </Empty>
            }
            .into_any(),
            Some(Ok(Some(list))) => {
                let footer = pager.footer(list.nodes.len(), list.total_count, list.page_info.has_next_page.then_some(list.page_info.end_cursor).flatten());
                view! {
                    <div class="table-wrap" role="region" tabindex="0" aria-label="API keys">
                        <table class="keys">
                            <thead><tr>
                                <SortHead label="Name" order="name" ascending=true sort=sort_q set_sort=set_sort pager=pager/>
                                <th scope="col">"Project"</th>
                                <SortHead label="Created" order="" flip="oldest" ascending=false sort=sort_q set_sort=set_sort pager=pager/>
                                <SortHead label="Expires" order="expires" ascending=true sort=sort_q set_sort=set_sort pager=pager/>
                                <SortHead label="Last used" order="used" ascending=false sort=sort_q set_sort=set_sort pager=pager/>
                                <th scope="col" title="Accepted requests: all time, and each hour of the last 24">"Requests"</th>
                                <th scope="col">"Status"</th>
                                <th scope="col"><span class="visually-hidden">"Actions"</span></th>
                            </tr></thead>
                            <tbody>
                                {list.nodes.into_iter().map(|key| {
                                    let hours = hours_of(&key.id);
                                    view! { <KeyRow key=key hours=hours/> }
                                }).collect_view()}
                            </tbody>
                        </table>
                    </div>
                    {footer}
                }
                .into_any()
            }
        }}
        <CreateDialog dialog=create_dialog/>
        <KeyDialogs/>
    }
}

/// The other key of a rotation, linked: `name (kw_sk_live_Ab3x…)`.
fn key_link(id: &str, name: &str, prefix: &str) -> impl IntoView + use<> {
    view! { <a href=format!("/keys/{id}")>{name.to_owned()}" ("<code>{prefix.to_owned()}"…"</code>")"</a> }
}

#[component]
fn KeyRow(key: Key, hours: Signal<Option<Vec<i64>>>) -> impl IntoView {
    let debug = format!("{:?}", key.status);
    let (label, tone) = status(&debug);
    let menu = KeyRef {
        id: key.id.clone(),
        name: key.name.clone(),
        status: debug,
    };
    view! {
        <tr data-key-id=key.id.clone()>
            <td>
                <a class="name" href=format!("/keys/{}", key.id)>{key.name.clone()}</a>
                <div><code class="prefix">{key.prefix.clone()}"…"</code></div>
                {key.replaced_by.as_ref().map(|new| view! {
                    <div class="muted small rotation">"Replaced by "
                        {key_link(&new.id, &new.name, &new.prefix)}
                        {key.rotation_ends_at.clone().map(|at| view! { " · works until " <Time at=at/> })}
                    </div>
                })}
                {key.replaces.as_ref().map(|old| view! {
                    <div class="muted small rotation">"Replaces "
                        {key_link(&old.id, &old.name, &old.prefix)}
                    </div>
                })}
            </td>
            <td>{key.project.as_ref().map(|p| p.name.clone()).unwrap_or_else(|| "All projects".into())}</td>
            <td>
                <Time at=key.created_at.clone()/>
                {key.created_by.as_ref().map(|u| {
                    // A long address breaks after its `@`, not mid-word.
                    let (local, domain) = u.email.split_once('@').unwrap_or((&u.email, ""));
                    let at = if domain.is_empty() { "" } else { "@" };
                    view! { <div class="muted small-text creator">"by " {local.to_owned()} {at} <wbr/> {domain.to_owned()}</div> }
                })}
            </td>
            <td>{format::expires(key.expires_at.clone(), key.expires_soon)}</td>
            <td class="last-used">{match key.last_used_at.clone() {
                Some(at) => view! { <format::Ago at=at/> }.into_any(),
                None => "Never".into_any(),
            }}</td>
            <td class="requests">
                {format::compact(key.request_count)}
                {move || hours.get().map(|h| view! { <Sparkline hours=h/> })}
            </td>
            <td><Badge text=label.into() tone=tone/></td>
            <td><KeyMenu key=menu/></td>
        </tr>
    }
}

pub use crate::logic::{expiry, optional_number};

#[component]
fn CreateDialog(dialog: NodeRef<html::Dialog>) -> impl IntoView {
    let session = expect_context::<Session>();
    let actions = expect_context::<KeyActions>();
    let toasts = expect_context::<Toasts>();
    let name = RwSignal::new(String::new());
    let project = RwSignal::new(String::new());
    let expires = RwSignal::new(String::new());
    // Keys expire unless someone chooses otherwise.
    let preset = RwSignal::new("90".to_owned());
    let scopes: crate::picker::Chosen = RwSignal::new(None);
    let environment = RwSignal::new("LIVE".to_owned());
    let rate_limit = RwSignal::new(String::new());
    // What a product selling access needs (SPEC §3.5).
    let credits = RwSignal::new(String::new());
    let monthly = RwSignal::new(false);
    let per_minute = RwSignal::new(String::new());
    let external_id = RwSignal::new(String::new());
    let meta = RwSignal::new(String::new());
    let error = RwSignal::new(None::<String>);
    // An organization whose keys each belong to a project starts at the current one.
    Effect::new(move |_| {
        if session.keys_per_project() && project.get_untracked().is_empty() {
            project.set(session.project.get().unwrap_or_default());
        }
    });
    let create = Action::new_local(move |_: &()| {
        let rate = optional_number(&rate_limit.get_untracked());
        let credit_count = optional_number(&credits.get_untracked());
        let calls = optional_number(&per_minute.get_untracked());
        let meta = logic::parse_meta(&meta.get_untracked());
        let monthly = monthly.get_untracked();
        let expiry = logic::preset_expiry(
            &preset.get_untracked(),
            &expires.get_untracked(),
            format::now(),
        );
        let expires_at = expiry.clone().unwrap_or(None);
        let input = create_api_key::CreateApiKeyInput {
            organization_id: session.org.get_untracked().unwrap_or_default(),
            project_id: Some(project.get_untracked()).filter(|p| !p.is_empty()),
            name: name.get_untracked(),
            expires_at: expires_at.map(format::iso),
            scopes: scopes.get_untracked(),
            environment: if environment.get_untracked() == "TEST" {
                create_api_key::Environment::TEST
            } else {
                create_api_key::Environment::LIVE
            },
            rate_limit_per_minute: rate.clone().unwrap_or(None),
            meta: meta.clone().unwrap_or(None),
            credits: credit_count.clone().unwrap_or(None).map(|remaining| {
                create_api_key::CreditsInput {
                    remaining,
                    refill: monthly.then_some(create_api_key::RefillInput {
                        interval: create_api_key::RefillInterval::MONTHLY,
                        amount: remaining,
                        day_of_month: None,
                    }),
                }
            }),
            ratelimits: calls.clone().unwrap_or(None).map(|limit| {
                vec![create_api_key::RatelimitInput {
                    name: "calls".into(),
                    limit,
                    duration_ms: 60_000,
                    auto_apply: true,
                }]
            }),
            external_id: Some(external_id.get_untracked()).filter(|e| !e.trim().is_empty()),
        };
        async move {
            expiry.map_err(api::ApiError::Refused)?;
            rate.map_err(|e| api::ApiError::Refused(format!("Rate limit: {e}")))?;
            credit_count.map_err(|e| api::ApiError::Refused(format!("Credits: {e}")))?;
            calls.map_err(|e| api::ApiError::Refused(format!("Calls a minute: {e}")))?;
            meta.map_err(|e| api::ApiError::Refused(format!("Metadata {e}")))?;
            api::run::<CreateApiKey>(create_api_key::Variables { input }).await
        }
    });
    Effect::new(move |_| match create.value().get() {
        Some(Ok(created)) => {
            error.set(None);
            ui::close(dialog);
            for field in [name, credits, per_minute, external_id, meta] {
                field.set(String::new());
            }
            monthly.set(false);
            scopes.set(None);
            toasts.ok("Key created");
            actions.secret.set(Some((
                created.create_api_key.api_key.name,
                created.create_api_key.secret,
            )));
            actions.bump();
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
                    <select id="key-project" on:change=move |ev| project.set(event_target_value(&ev))>
                        {move || (!session.keys_per_project()).then(|| view! { <option value="" selected=project.get().is_empty()>"All projects"</option> })}
                        {move || session.projects().into_iter().map(|(id, n)| {
                            let chosen = project.get() == id;
                            view! { <option value=id selected=chosen>{n}</option> }
                        }).collect_view()}
                    </select>
                </label>
                <fieldset class="expiry">
                    <legend>"Expires"</legend>
                    <select id="key-expiry" aria-label="Expires" on:change=move |ev| preset.set(event_target_value(&ev))>
                        {logic::EXPIRY_PRESETS.into_iter().map(|d| {
                            let value = d.to_string();
                            view! { <option value=value.clone() selected=move || preset.get() == value>{format!("In {d} days")}</option> }
                        }).collect_view()}
                        <option value="custom">"On a date…"</option>
                        <option value="never">"No expiry"</option>
                    </select>
                    {move || (preset.get() == "custom").then(|| view! {
                        <input id="key-expiry-date" type="date" aria-label="Expiry date" prop:value=expires on:input=move |ev| expires.set(event_target_value(&ev))/>
                    })}
                    <p id="key-expiry-summary" class=move || if preset.get() == "never" { "warning" } else { "muted" } role="status">
                        {move || match logic::preset_expiry(&preset.get(), &expires.get(), format::now()) {
                            Ok(Some(at)) => format!("Expires on {} (UTC).", logic::date_in_words(&format::iso(at))),
                            Ok(None) => "⚠ This key never expires: it works until someone revokes it. Prefer an expiry, and rotate.".to_owned(),
                            Err(why) => why,
                        }}
                    </p>
                </fieldset>
                <crate::picker::PermissionPicker chosen=scopes id="key-scopes"/>
                <label>"Environment"
                    <select on:change=move |ev| environment.set(event_target_value(&ev))>
                        <option value="LIVE">"Live"</option>
                        <option value="TEST">"Test"</option>
                    </select>
                </label>
                <label>"Rate limit, requests per minute (optional; the organization's by default)"
                    <input id="key-rate-limit" inputmode="numeric" on:input=move |ev| rate_limit.set(event_target_value(&ev))/>
                </label>
                <details id="key-product">
                    <summary>"Selling access with this key (credits, limits, customer, metadata)"</summary>
                    <label>"Credits (optional; each valid verification spends one; empty means unlimited)"
                        <input id="key-credits-input" inputmode="numeric" prop:value=credits on:input=move |ev| credits.set(event_target_value(&ev))/>
                    </label>
                    <label class="choice">
                        <input id="key-credits-monthly" type="checkbox" prop:checked=monthly on:change=move |ev| monthly.set(event_target_checked(&ev))/>
                        "Refill to that number on the 1st of every month"
                    </label>
                    <label>"Calls a minute, counted on every verification (optional)"
                        <input id="key-calls" inputmode="numeric" prop:value=per_minute on:input=move |ev| per_minute.set(event_target_value(&ev))/>
                    </label>
                    <label>"Customer: your external id for them (optional; the key then shares its identity's credits and limits)"
                        <input id="key-external-id" maxlength="256" prop:value=external_id on:input=move |ev| external_id.set(event_target_value(&ev))/>
                    </label>
                    <label>"Metadata, a JSON object returned by verify (optional)"
                        <textarea id="key-meta-input" rows="3" placeholder="{\"plan\": \"pro\"}" prop:value=meta on:input=move |ev| meta.set(event_target_value(&ev))></textarea>
                    </label>
                </details>
                {form_error(error)}
                <div class="actions">
                    <button type="button" on:click=move |_| ui::close(dialog)>"Cancel"</button>
                    <button type="submit" class="primary" disabled=move || create.pending().get()>"Create key"</button>
                </div>
            </form>
        </dialog>
    }
}

type Detail = api_key::ApiKeyApiKey;

/// A key that may still be edited (not revoked).
fn debug_is_live(k: &Detail) -> bool {
    k.revoked_at.is_none()
}

/// The form's text for what a key carries now.
fn shown_controls(k: &Detail) -> (String, bool, String, String, String) {
    let credits = k
        .credits
        .as_ref()
        .map(|c| c.remaining.to_string())
        .unwrap_or_default();
    let monthly = k
        .credits
        .as_ref()
        .and_then(|c| c.refill.as_ref())
        .is_some_and(|r| format!("{:?}", r.interval) == "MONTHLY");
    let calls = k
        .ratelimits
        .iter()
        .find(|l| l.name == "calls" && l.duration_ms == 60_000)
        .map(|l| l.limit.to_string())
        .unwrap_or_default();
    let external = k
        .identity
        .as_ref()
        .map(|i| i.external_id.clone())
        .unwrap_or_default();
    let meta = k
        .meta
        .as_ref()
        .map(|m| serde_json::to_string_pretty(m).unwrap_or_default())
        .unwrap_or_default();
    (credits, monthly, calls, external, meta)
}

/// Edits a key after creation: its name and what it carries. Only what changed is sent;
/// a field emptied removes it (SPEC §3.5).
#[component]
fn EditDialog(dialog: NodeRef<html::Dialog>, key: Detail) -> impl IntoView {
    use crate::api::{UpdateApiKey, update_api_key as op};
    let actions = expect_context::<KeyActions>();
    let toasts = expect_context::<Toasts>();
    let (credits0, monthly0, calls0, external0, meta0) = shown_controls(&key);
    let initial = StoredValue::new((
        key.name.clone(),
        credits0.clone(),
        monthly0,
        calls0.clone(),
        external0.clone(),
        meta0.clone(),
    ));
    let others = StoredValue::new(
        key.ratelimits
            .iter()
            .filter(|l| !(l.name == "calls" && l.duration_ms == 60_000))
            .map(|l| op::RatelimitInput {
                name: l.name.clone(),
                limit: l.limit,
                duration_ms: l.duration_ms,
                auto_apply: l.auto_apply,
            })
            .collect::<Vec<_>>(),
    );
    let id = StoredValue::new(key.id.clone());
    // Expiry as a UTC date, and scopes through the picker: both may be removed.
    let expires0 = key
        .expires_at
        .as_deref()
        .and_then(|at| at.get(..10))
        .unwrap_or_default()
        .to_owned();
    let scopes0 = key.scopes.clone();
    let starting = StoredValue::new((expires0.clone(), scopes0.clone()));
    let expires = RwSignal::new(expires0);
    let scopes: crate::picker::Chosen = RwSignal::new(scopes0);
    let name = RwSignal::new(key.name.clone());
    let credits = RwSignal::new(credits0);
    let monthly = RwSignal::new(monthly0);
    let calls = RwSignal::new(calls0);
    let external = RwSignal::new(external0);
    let meta = RwSignal::new(meta0);
    let error = RwSignal::new(None::<String>);
    let save = Action::new_local(move |_: &()| {
        let (name0, credits0, monthly0, calls0, external0, meta0) = initial.get_value();
        let (new_name, new_credits, new_monthly, new_calls, new_external, new_meta) = (
            name.get_untracked(),
            credits.get_untracked(),
            monthly.get_untracked(),
            calls.get_untracked(),
            external.get_untracked(),
            meta.get_untracked(),
        );
        let mut clear = Vec::new();
        let mut input = op::UpdateApiKeyInput {
            id: id.get_value(),
            name: (new_name != name0).then_some(new_name),
            expires_at: None,
            scopes: None,
            meta: None,
            credits: None,
            ratelimits: None,
            rate_limit_per_minute: None,
            external_id: None,
            enabled: None,
        };
        let (expires0, scopes0) = starting.get_value();
        let (new_expires, new_scopes) = (expires.get_untracked(), scopes.get_untracked());
        if new_expires != expires0 {
            match expiry(&new_expires) {
                Some(at) => input.expires_at = Some(at),
                None => clear.push("expiresAt"),
            }
        }
        if new_scopes != scopes0 {
            match new_scopes {
                Some(list) => input.scopes = Some(list),
                None => clear.push("scopes"),
            }
        }
        let parsed = (|| -> Result<(), String> {
            if new_credits != credits0 || new_monthly != monthly0 {
                match logic::optional_number(&new_credits).map_err(|e| format!("Credits: {e}"))? {
                    Some(remaining) => {
                        input.credits = Some(op::CreditsInput {
                            remaining,
                            refill: new_monthly.then_some(op::RefillInput {
                                interval: op::RefillInterval::MONTHLY,
                                amount: remaining,
                                day_of_month: None,
                            }),
                        });
                    }
                    None => clear.push("credits"),
                }
            }
            if new_calls != calls0 {
                let mut limits = others.get_value();
                if let Some(limit) = logic::optional_number(&new_calls)
                    .map_err(|e| format!("Calls a minute: {e}"))?
                {
                    limits.push(op::RatelimitInput {
                        name: "calls".into(),
                        limit,
                        duration_ms: 60_000,
                        auto_apply: true,
                    });
                }
                input.ratelimits = Some(limits);
            }
            if new_external != external0 {
                match Some(new_external.trim().to_owned()).filter(|e| !e.is_empty()) {
                    Some(e) => input.external_id = Some(e),
                    None => clear.push("externalId"),
                }
            }
            if new_meta != meta0 {
                match logic::parse_meta(&new_meta).map_err(|e| format!("Metadata {e}"))? {
                    Some(m) => input.meta = Some(m),
                    None => clear.push("meta"),
                }
            }
            Ok(())
        })();
        async move {
            parsed.map_err(api::ApiError::Refused)?;
            api::run_clearing::<UpdateApiKey>(op::Variables { input }, &clear).await
        }
    });
    Effect::new(move |_| match save.value().get() {
        Some(Ok(_)) => {
            error.set(None);
            ui::close(dialog);
            toasts.ok("Key updated");
            actions.bump();
        }
        Some(Err(err)) => error.set(Some(error_text(&err))),
        None => {}
    });
    view! {
        <dialog node_ref=dialog aria-labelledby="edit-title">
            <form on:submit=move |ev| { ev.prevent_default(); save.dispatch(()); }>
                <h2 id="edit-title">"Edit key"</h2>
                <p class="muted">"What you change is in force on every server before this closes. An emptied field is removed."</p>
                <label>"Name"
                    <input id="edit-name" required maxlength="100" prop:value=name on:input=move |ev| name.set(event_target_value(&ev)) on:change=move |ev| name.set(event_target_value(&ev))/>
                </label>
                <label>"Expires on, a UTC date (empty: never)"
                    <input id="edit-expires" type="date" prop:value=expires on:input=move |ev| expires.set(event_target_value(&ev)) on:change=move |ev| expires.set(event_target_value(&ev))/>
                </label>
                {move || expires.get().is_empty().then(|| view! {
                    <p class="warning">"⚠ Without an expiry this key works until someone revokes it."</p>
                })}
                <crate::picker::PermissionPicker chosen=scopes id="edit-scopes"/>
                <label>"Credits left (empty: unlimited, or its customer's)"
                    <input id="edit-credits" inputmode="numeric" prop:value=credits on:input=move |ev| credits.set(event_target_value(&ev)) on:change=move |ev| credits.set(event_target_value(&ev))/>
                </label>
                <label class="choice">
                    <input id="edit-monthly" type="checkbox" prop:checked=monthly on:change=move |ev| monthly.set(event_target_checked(&ev))/>
                    "Refill to that number on the 1st of every month"
                </label>
                <label>"Calls a minute, counted on every verification (empty: none)"
                    <input id="edit-calls" inputmode="numeric" prop:value=calls on:input=move |ev| calls.set(event_target_value(&ev)) on:change=move |ev| calls.set(event_target_value(&ev))/>
                </label>
                <label>"Customer: your external id for them (empty: none)"
                    <input id="edit-external-id" maxlength="256" prop:value=external on:input=move |ev| external.set(event_target_value(&ev)) on:change=move |ev| external.set(event_target_value(&ev))/>
                </label>
                <label>"Metadata, a JSON object (empty: none)"
                    <textarea id="edit-meta" rows="4" prop:value=meta on:input=move |ev| meta.set(event_target_value(&ev)) on:change=move |ev| meta.set(event_target_value(&ev))></textarea>
                </label>
                {form_error(error)}
                <div class="actions">
                    <button type="button" on:click=move |_| ui::close(dialog)>"Cancel"</button>
                    <button type="submit" class="primary" disabled=move || save.pending().get()>"Save"</button>
                </div>
            </form>
        </dialog>
    }
}

/// One key: what it is, how much it is used, and what happened to it.
#[component]
pub fn KeyDetailPage() -> impl IntoView {
    let session = expect_context::<Session>();
    let actions = KeyActions::provide();
    let params = use_params_map();
    let id = move || params.read().get("id").unwrap_or_default();
    let key = LocalResource::new(move || {
        let id = id();
        actions.changed.track();
        async move {
            api::run::<ApiKey>(api_key::Variables { id })
                .await
                .map(|d| d.api_key)
        }
    });
    // The key's events, and those of the key it replaced (its rotation is recorded there).
    let events = LocalResource::new(move || {
        let id = id();
        let org = session.org.get();
        let replaced = key
            .get()
            .and_then(Result::ok)
            .and_then(|k| k.rotated_from_id);
        actions.changed.track();
        async move {
            let Some(org) = org else {
                return Ok(Vec::new());
            };
            let mut rows = Vec::new();
            for target in std::iter::once(id).chain(replaced) {
                let page = api::run::<AuditEvents>(audit_events::Variables {
                    organization_id: org.clone(),
                    filter: Some(audit_events::AuditEventFilter {
                        target_id: Some(target),
                        actor_id: None,
                        action: None,
                        since: None,
                        until: None,
                    }),
                    first: Some(20),
                    after: None,
                })
                .await?;
                rows.extend(page.audit_events.nodes);
            }
            rows.sort_by_key(|e| std::cmp::Reverse(e.seq));
            rows.truncate(20);
            Ok(rows)
        }
    });
    let edit_dialog = NodeRef::<html::Dialog>::new();
    view! {
        <p><a href="/keys">"← API keys"</a></p>
        {move || match key.get() {
            None => view! { <Skeleton label="Loading the key"/> }.into_any(),
            Some(Err(err)) => error_banner(&err, move || key.refetch()),
            Some(Ok(k)) => {
                let debug = format!("{:?}", k.status);
                let (label, tone) = status(&debug);
                let menu = KeyRef { id: k.id.clone(), name: k.name.clone(), status: debug };
                let scopes = k.scopes.clone().map(|s| s.join(" ")).unwrap_or_else(|| "All of the creator's permissions".into());
                view! {
                    <header class="page-header">
                        <div>
                            <h1>{k.name.clone()}</h1>
                            <p><code>{format!("{}…{}", k.prefix, k.last4)}</code>" "<Badge text=label.into() tone=tone/></p>
                        </div>
                        <div class="row-actions">
                            {(debug_is_live(&k) && session.can("api_keys:write")).then(|| view! { <button id="key-edit" class="small" on:click=move |_| ui::open(edit_dialog)>"Edit"</button> })}
                            <KeyMenu key=menu/>
                        </div>
                    </header>
                    <EditDialog dialog=edit_dialog key=k.clone()/>
                    <dl class="meta">
                        <dt>"ID"</dt><dd><code>{k.id.clone()}</code></dd>
                        <dt>"Project"</dt><dd>{k.project.as_ref().map(|p| p.name.clone()).unwrap_or_else(|| "All projects".into())}</dd>
                        <dt>"Created by"</dt><dd>{k.created_by.as_ref().map(|u| u.email.clone()).unwrap_or_default()}</dd>
                        <dt>"Created"</dt><dd><Time at=k.created_at.clone()/></dd>
                        <dt>"Expires"</dt><dd>{format::expires(k.expires_at.clone(), k.expires_soon)}</dd>
                        <dt>"Last used"</dt><dd>{time_or(k.last_used_at.clone(), "Never")}{k.last_used_ip.clone().map(|ip| format!(" from {ip}"))}</dd>
                        <dt>"Requests"</dt><dd>{k.request_count}</dd>
                        <dt>"Environment"</dt><dd>{k.environment.as_ref().map(|e| format!("{e:?}").to_lowercase()).unwrap_or_default()}</dd>
                        {k.replaced_by.as_ref().map(|new| view! {
                            <dt>"Rotation"</dt>
                            <dd id="key-rotation">"Replaced by "
                                {key_link(&new.id, &new.name, &new.prefix)}
                                {k.rotation_ends_at.clone().map(|at| view! { "; works until " <Time at=at/> })}
                            </dd>
                        })}
                        {k.replaces.as_ref().map(|old| view! {
                            <dt>"Rotation"</dt>
                            <dd id="key-rotation">"Replaces "
                                {key_link(&old.id, &old.name, &old.prefix)}
                            </dd>
                        })}
                        <dt>"Scopes"</dt><dd><code>{scopes}</code></dd>
                        <dt>"Rate limit"</dt><dd>{k.rate_limit_per_minute.map(|r| format!("{r} per minute")).unwrap_or_else(|| "The organization's".into())}</dd>
                        <dt>"Credits"</dt><dd id="key-credits">{k.credits.as_ref().map(|c| {
                            let interval = c.refill.as_ref().map(|r| format!("{:?}", r.interval));
                            logic::credits_text(c.remaining, c.refill.as_ref().zip(interval.as_deref()).map(|(r, i)| (i, r.amount, r.day_of_month)))
                        }).unwrap_or_else(|| if k.identity.is_some() { "Its identity's".into() } else { "Unlimited".into() })}</dd>
                        <dt>"Named limits"</dt><dd id="key-limits">{if k.ratelimits.is_empty() {
                            view! { "None of its own" }.into_any()
                        } else {
                            view! { <ul class="plain">{k.ratelimits.iter().map(|l| view! { <li>{logic::limit_text(&l.name, l.limit, l.duration_ms, l.auto_apply)}</li> }).collect_view()}</ul> }.into_any()
                        }}</dd>
                        <dt>"Identity"</dt><dd id="key-identity">{k.identity.as_ref().map(|i| view! { <a href="/identities">{i.external_id.clone()}</a> }.into_any()).unwrap_or_else(|| view! { "None" }.into_any())}</dd>
                        <dt>"Metadata"</dt><dd id="key-meta">{k.meta.as_ref().map(|m| view! { <pre class="meta-json">{serde_json::to_string_pretty(m).unwrap_or_default()}</pre> }.into_any()).unwrap_or_else(|| view! { "None" }.into_any())}</dd>
                        {k.revoked_at.clone().map(|at| view! { <dt>"Revoked"</dt><dd><Time at=at/>" "{k.revoked_reason.clone().unwrap_or_default()}</dd> })}
                    </dl>
                    <UsageChart credential_id=k.id.clone()/>
                    <VerificationChart credential_id=k.id.clone()/>
                    <RecentVerificationList credential_id=k.id.clone()/>
                }
                .into_any()
            }
        }}
        <section>
            <h2>"Recent activity"</h2>
            {move || match events.get() {
                None => view! { <Skeleton label="Loading activity"/> }.into_any(),
                Some(Err(err)) => error_banner(&err, move || events.refetch()),
                Some(Ok(rows)) if rows.is_empty() => view! { <p class="muted">"Nothing recorded yet."</p> }.into_any(),
                Some(Ok(rows)) => view! { <EventRows rows=rows/> }.into_any(),
            }}
        </section>
        <KeyDialogs/>
    }
}

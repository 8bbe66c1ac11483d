//! The audit log: filters kept in the URL, newest first, "Load more" by cursor, a row
//! opens its details, and the whole log exports as JSON Lines.

use leptos::prelude::*;

use crate::{
    api::{self, AuditEvents, audit_events},
    app::{Session, error_banner},
    format::{self, Time},
    ui::{self, Empty, PageHeader, Skeleton, Toasts},
};

pub type Event = audit_events::AuditEventsAuditEventsNodes;

const PAGE: i64 = 50;

/// Time range presets, in hours back from now.
const PRESETS: [(&str, &str, f64); 5] = [
    ("", "Any time", 0.0),
    ("1h", "Last hour", 1.0),
    ("24h", "Last 24 hours", 24.0),
    ("7d", "Last 7 days", 168.0),
    ("30d", "Last 30 days", 720.0),
];

#[component]
pub fn AuditPage() -> impl IntoView {
    let session = expect_context::<Session>();
    let toasts = expect_context::<Toasts>();
    let (actor_q, set_actor) = ui::query_param("actor");
    let (action_q, set_action) = ui::query_param("action");
    let (target_q, set_target) = ui::query_param("target");
    let (range_q, set_range) = ui::query_param("range");
    let more = RwSignal::new(Vec::<Event>::new());
    let next = RwSignal::new(None::<String>);
    let filter = move || {
        let hours = PRESETS
            .iter()
            .find(|p| Some(p.0) == range_q.get().as_deref())
            .map_or(0.0, |p| p.2);
        audit_events::AuditEventFilter {
            actor_id: actor_q.get().filter(|s| !s.is_empty()),
            action: action_q.get().filter(|s| !s.is_empty()),
            target_id: target_q.get().filter(|s| !s.is_empty()),
            since: (hours > 0.0).then(|| format::iso(format::now() - hours * 3_600_000.0)),
            until: None,
        }
    };
    let first = LocalResource::new(move || {
        let org = session.org.get();
        let filter = filter();
        async move {
            let org = org.unwrap_or_default();
            api::run::<AuditEvents>(audit_events::Variables {
                organization_id: org,
                filter: Some(filter),
                first: Some(PAGE),
                after: None,
            })
            .await
            .map(|d| d.audit_events)
        }
    });
    Effect::new(move |_| {
        if let Some(Ok(page)) = first.get() {
            more.set(Vec::new());
            next.set(
                page.page_info
                    .end_cursor
                    .filter(|_| page.page_info.has_next_page),
            );
        }
    });
    let load_more = Action::new_local(move |after: &String| {
        let after = after.clone();
        let org = session.org.get_untracked().unwrap_or_default();
        let filter = filter();
        async move {
            api::run::<AuditEvents>(audit_events::Variables {
                organization_id: org,
                filter: Some(filter),
                first: Some(PAGE),
                after: Some(after),
            })
            .await
            .map(|d| d.audit_events)
        }
    });
    Effect::new(move |_| match load_more.value().get() {
        Some(Ok(page)) => {
            more.update(|m| m.extend(page.nodes));
            next.set(
                page.page_info
                    .end_cursor
                    .filter(|_| page.page_info.has_next_page),
            );
        }
        Some(Err(e)) => toasts.error(&e),
        None => {}
    });
    let people = crate::members::member_choices(session);
    let filtered = move || {
        actor_q.get().is_some()
            || action_q.get().is_some()
            || target_q.get().is_some()
            || range_q.get().is_some()
    };
    let clear = move || {
        set_actor.set(None);
        set_action.set(None);
        set_target.set(None);
        set_range.set(None);
    };
    let export = move || {
        format!(
            "/api/v1/organizations/{}/audit-events/export",
            session.org.get().unwrap_or_default()
        )
    };
    view! {
        <PageHeader title="Audit log" description="Everything done in this organization, by whom and from where. Times in your zone; hover for UTC.">
            <a class="button" rel="external" href=export download="audit-log.jsonl">"Export"</a>
        </PageHeader>
        <div class="filters" role="search">
            <label>"Actor"
                <select id="audit-actor" on:change=move |ev| set_actor.set(Some(event_target_value(&ev)).filter(|v| !v.is_empty()))>
                    <option value="">"Anyone"</option>
                    {move || {
                        let current = actor_q.get().unwrap_or_default();
                        people.get().unwrap_or_default().into_iter().map(|(id, email)| {
                            let selected = id == current;
                            view! { <option value=id selected=selected>{email}</option> }
                        }).collect_view()
                    }}
                </select>
            </label>
            <label>"Action"
                <input id="audit-action" list="audit-actions" placeholder="e.g. api_key.create"
                    prop:value=move || action_q.get().unwrap_or_default()
                    on:change=move |ev| set_action.set(Some(event_target_value(&ev)).filter(|v| !v.is_empty()))/>
                <datalist id="audit-actions">
                    {keyward_proto::audit::Action::ALL
                        .into_iter().map(|a| view! { <option value=a.as_str()></option> }).collect_view()}
                </datalist>
            </label>
            <label>"Target ID"
                <input id="audit-target" prop:value=move || target_q.get().unwrap_or_default()
                    on:change=move |ev| set_target.set(Some(event_target_value(&ev)).filter(|v| !v.is_empty()))/>
            </label>
            <label>"Time"
                <select id="audit-range" on:change=move |ev| set_range.set(Some(event_target_value(&ev)).filter(|v| !v.is_empty()))>
                    {move || {
                        let current = range_q.get().unwrap_or_default();
                        PRESETS.into_iter().map(|(v, l, _)| view! { <option value=v selected=current == v>{l}</option> }).collect_view()
                    }}
                </select>
            </label>
        </div>
        {move || match first.get() {
            None => view! { <Skeleton label="Loading the audit log"/> }.into_any(),
            Some(Err(err)) => error_banner(&err, move || first.refetch()),
            Some(Ok(page)) if page.nodes.is_empty() && filtered() => view! {
                <Empty text="No events match these filters.".into()>
                    <button on:click=move |_| clear()>"Clear filters"</button>
                </Empty>
            }.into_any(),
            Some(Ok(page)) if page.nodes.is_empty() => view! {
                <Empty text="Nothing has happened here yet.".into()><span></span></Empty>
            }.into_any(),
            Some(Ok(page)) => {
                let total = page.total_count;
                let head = page.nodes;
                view! {
                    {move || {
                        let mut rows = head.clone();
                        rows.extend(more.get());
                        let shown = rows.len();
                        view! {
                            <EventRows rows=rows/>
                            <nav class="footer pager" aria-label="More events">
                                <span class="muted">{format!("1–{shown} of {total}")}</span>
                                {move || next.get().map(|cursor| view! {
                                    <button class="small" disabled=move || load_more.pending().get()
                                        on:click=move |_| { load_more.dispatch(cursor.clone()); }>"Load more"</button>
                                })}
                            </nav>
                        }
                    }}
                }
                .into_any()
            }
        }}
    }
}

/// Audit events as a table; a row opens its details.
#[component]
pub fn EventRows(rows: Vec<Event>) -> impl IntoView {
    let open = RwSignal::new(None::<String>);
    view! {
        <div class="table-wrap" role="region" tabindex="0" aria-label="Audit events">
            <table class="audit">
                {ui::table_head(&["Time", "~Actor", "Action", "~Target", "~IP"])}
                <tbody>
                    {rows.into_iter().map(|e| {
                        let key = StoredValue::new(e.id.clone());
                        let expanded = move || open.with(|o| o.as_deref() == Some(key.get_value().as_str()));
                        let toggle = move |_| {
                            let id = key.get_value();
                            open.update(|o| *o = if o.as_deref() == Some(id.as_str()) { None } else { Some(id) });
                        };
                        let details_id = format!("event-{}", e.id);
                        let details = event_details(&e);
                        // The row opens on a click anywhere; its first cell is the button
                        // that keyboards and screen readers use (a row cannot be expanded).
                        view! {
                            <tr class="event" data-action=e.action.clone() on:click=toggle>
                                <td>
                                    <button type="button" class="link disclosure" aria-expanded=move || expanded().to_string()
                                        aria-controls=details_id.clone()>
                                        <Time at=e.occurred_at.clone()/>
                                    </button>
                                </td>
                                <td class="fold">{e.actor_name.clone()}{e.agent.clone().map(|a| view! { <span class="muted">{format!(" via {a}")}</span> })}</td>
                                <td><code>{e.action.clone()}</code></td>
                                <td class="fold">{e.target_name.clone().or_else(|| e.target_id.clone()).unwrap_or_default()}</td>
                                <td class="fold">{e.ip.clone().unwrap_or_default()}</td>
                            </tr>
                            <tr class="details" id=details_id hidden=move || !expanded()>
                                <td colspan="5">{details}</td>
                            </tr>
                        }
                    }).collect_view()}
                </tbody>
            </table>
        </div>
    }
}

fn event_details(e: &Event) -> impl IntoView + use<> {
    let empty = e.details.as_object().is_some_and(|o| o.is_empty()) || e.details.is_null();
    let json = (!empty).then(|| serde_json::to_string_pretty(&e.details).unwrap_or_default());
    let rows = [
        ("Event", Some(format!("#{} · {}", e.seq, e.id))),
        ("When (UTC)", Some(format::utc(&e.occurred_at))),
        (
            "Actor",
            Some(format!(
                "{} ({}{})",
                e.actor_name,
                e.actor_type,
                e.actor_id
                    .as_ref()
                    .map(|i| format!(" {i}"))
                    .unwrap_or_default()
            )),
        ),
        (
            "Target",
            e.target_type
                .as_ref()
                .map(|t| format!("{t} {}", e.target_id.clone().unwrap_or_default())),
        ),
        ("User agent", e.user_agent.clone()),
        ("Request", e.request_id.clone()),
    ];
    view! {
        <dl class="meta">
            {rows.into_iter().filter_map(|(k, v)| v.map(|v| view! { <dt>{k}</dt><dd>{v}</dd> })).collect_view()}
        </dl>
        {json.map(|j| view! { <pre class="mono">{j}</pre> })}
    }
}

//! Webhooks (SPEC §16): the organization's endpoints, each one's delivery log with every
//! attempt, and sending a delivery again by hand.

use leptos::{html, prelude::*};

use crate::{
    api::{
        self, CreateWebhookEndpoint, DeleteWebhookEndpoint, RetryWebhookDelivery,
        WebhookDeliveries, WebhookDelivery, WebhookEndpoints, create_webhook_endpoint,
        delete_webhook_endpoint, retry_webhook_delivery, webhook_deliveries, webhook_delivery,
        webhook_endpoints,
    },
    app::{Session, error_banner, error_text},
    format::Time,
    logic,
    ui::{self, Badge, Empty, PageHeader, Skeleton, Toasts, form_error},
};

type Endpoint = webhook_endpoints::WebhookEndpointsWebhookEndpoints;
type Delivery = webhook_deliveries::WebhookDeliveriesWebhookDeliveriesNodes;
type EventType = create_webhook_endpoint::WebhookEventType;

/// Every event an endpoint may ask for, in the order the form lists them.
fn every_event() -> [EventType; 8] {
    [
        EventType::API_KEY_CREATED,
        EventType::API_KEY_REVOKED,
        EventType::API_KEY_ROTATED,
        EventType::API_KEY_EXPIRING,
        EventType::API_KEY_LEAKED,
        EventType::CREDITS_EXHAUSTED,
        EventType::MEMBER_ADDED,
        EventType::MEMBER_REMOVED,
    ]
}

/// A delivery's status as a word and a tone.
fn delivery_status(debug: &str) -> (&'static str, &'static str) {
    match debug {
        "DELIVERED" => ("Delivered", "ok"),
        "PENDING" => ("Pending", "warn"),
        "FAILED" => ("Failed", "bad"),
        _ => ("Unknown", "muted"),
    }
}

#[component]
pub fn WebhooksPage() -> impl IntoView {
    let session = expect_context::<Session>();
    let toasts = expect_context::<Toasts>();
    let changed = RwSignal::new(0u32);
    let chosen = RwSignal::new(None::<Endpoint>);
    let secret = RwSignal::new(None::<(String, String)>);
    let list = LocalResource::new(move || {
        let org = session.org.get().unwrap_or_default();
        changed.track();
        async move {
            api::run::<WebhookEndpoints>(webhook_endpoints::Variables {
                organization_id: org,
            })
            .await
            .map(|d| d.webhook_endpoints)
        }
    });
    let dialog = NodeRef::<html::Dialog>::new();
    let remove = Action::new_local(move |id: &String| {
        let input = delete_webhook_endpoint::DeleteWebhookEndpointInput { id: id.clone() };
        async move {
            api::run::<DeleteWebhookEndpoint>(delete_webhook_endpoint::Variables { input }).await
        }
    });
    Effect::new(move |_| match remove.value().get() {
        Some(Ok(_)) => {
            toasts.ok("Endpoint deleted");
            chosen.set(None);
            changed.update(|n| *n += 1);
        }
        Some(Err(e)) => toasts.error(&e),
        None => {}
    });
    let can_write = move || session.can("settings:write");
    view! {
        <PageHeader title="Webhooks" description="Endpoints told of this organization's events, signed per Standard Webhooks, with every delivery and attempt.">
            <button class="primary" disabled=move || !can_write() title=move || session.lacks("settings:write") on:click=move |_| ui::open(dialog)>"Add endpoint"</button>
        </PageHeader>
        <WebhookSecret secret=secret/>
        {move || match list.get() {
            None => view! { <Skeleton label="Loading endpoints"/> }.into_any(),
            Some(Err(err)) => error_banner(&err, move || list.refetch()),
            Some(Ok(rows)) if rows.is_empty() => view! {
                <Empty text="No endpoints yet. Add one to be told when keys are made, revoked, rotated, about to expire or leaked, when credits run out, and when members come and go.".into()>
                    <button class="primary" disabled=move || !can_write() title=move || session.lacks("settings:write") on:click=move |_| ui::open(dialog)>"Add your first endpoint"</button>
                </Empty>
            }.into_any(),
            Some(Ok(rows)) => view! {
                <div class="table-wrap" role="region" tabindex="0" aria-label="Webhook endpoints">
                    <table class="webhook-endpoints">
                        {ui::table_head(&["URL", "~Events", "~Created", ""])}
                        <tbody>
                            {rows.into_iter().map(|e| {
                                let id = e.id.clone();
                                let url = e.url.clone();
                                let pick = e.clone();
                                let events: Vec<String> = e.events.iter().map(|t| logic::event_name(&format!("{t:?}"))).collect();
                                view! {
                                    <tr data-endpoint=e.url.clone() class:selected=move || chosen.with(|c| c.as_ref().is_some_and(|c| c.id == id))>
                                        <td><code class="wrap">{e.url.clone()}</code>
                                            {e.description.clone().map(|d| view! { <div class="muted small">{d}</div> })}
                                        </td>
                                        <td class="fold"><ul class="plain">{events.into_iter().map(|n| view! { <li><code>{n}</code></li> }).collect_view()}</ul></td>
                                        <td class="fold"><Time at=e.created_at.clone()/></td>
                                        <td class="actions-cell">
                                            <button class="small" on:click=move |_| chosen.set(Some(pick.clone()))>"Deliveries"</button>
                                            <button class="small danger" hidden=move || !can_write() on:click={
                                                let id = e.id.clone();
                                                move |_| {
                                                    if ui::confirm(&format!("Delete the endpoint {url}? Nothing more is sent to it, and its delivery log goes with it.")) {
                                                        remove.dispatch(id.clone());
                                                    }
                                                }
                                            }>"Delete"</button>
                                        </td>
                                    </tr>
                                }
                            }).collect_view()}
                        </tbody>
                    </table>
                </div>
            }.into_any(),
        }}
        {move || chosen.get().map(|e| view! { <DeliveryLog endpoint=e/> })}
        <CreateEndpointDialog dialog=dialog changed=changed secret=secret/>
    }
}

/// An endpoint's deliveries, newest first, each with its attempts on demand.
#[component]
fn DeliveryLog(endpoint: Endpoint) -> impl IntoView {
    let session = expect_context::<Session>();
    let toasts = expect_context::<Toasts>();
    let changed = RwSignal::new(0u32);
    let endpoint_id = endpoint.id.clone();
    let log = LocalResource::new(move || {
        changed.track();
        let endpoint_id = endpoint_id.clone();
        async move {
            api::run::<WebhookDeliveries>(webhook_deliveries::Variables {
                endpoint_id,
                first: Some(50),
                after: None,
            })
            .await
            .map(|d| d.webhook_deliveries)
        }
    });
    let retry = Action::new_local(move |id: &String| {
        let input = retry_webhook_delivery::RetryWebhookDeliveryInput { id: id.clone() };
        async move {
            api::run::<RetryWebhookDelivery>(retry_webhook_delivery::Variables { input }).await
        }
    });
    Effect::new(move |_| match retry.value().get() {
        Some(Ok(_)) => {
            toasts.ok("Delivery sent again");
            changed.update(|n| *n += 1);
        }
        Some(Err(e)) => toasts.error(&e),
        None => {}
    });
    let opened = RwSignal::new(None::<String>);
    view! {
        <section class="panel" aria-labelledby="deliveries-title">
            <header class="row">
                <h2 id="deliveries-title">"Deliveries to " <code class="wrap">{endpoint.url.clone()}</code></h2>
                <button class="small" id="deliveries-refresh" on:click=move |_| changed.update(|n| *n += 1)>"Refresh"</button>
            </header>
            {move || match log.get() {
                None => view! { <Skeleton label="Loading deliveries"/> }.into_any(),
                Some(Err(err)) => error_banner(&err, move || log.refetch()),
                Some(Ok(page)) if page.nodes.is_empty() => view! {
                    <p class="muted">"Nothing sent yet: deliveries appear here as the events this endpoint asks for happen."</p>
                }.into_any(),
                Some(Ok(page)) => view! {
                    <p class="muted small">{match page.total_count {
                        1 => "1 delivery.".to_owned(),
                        n if n <= 50 => format!("{n} deliveries."),
                        n => format!("{n} deliveries; the newest 50 are shown."),
                    }}</p>
                    <div class="table-wrap" role="region" tabindex="0" aria-label="Deliveries">
                        <table class="webhook-deliveries">
                            {ui::table_head(&["Event", "Status", "Attempts", "~Last answer", "~Created", ""])}
                            <tbody>
                                {page.nodes.into_iter().map(|d| view! { <DeliveryRow delivery=d retry=retry opened=opened can_retry=Signal::derive(move || session.can("settings:write"))/> }).collect_view()}
                            </tbody>
                        </table>
                    </div>
                }.into_any(),
            }}
        </section>
    }
}

#[component]
fn DeliveryRow(
    delivery: Delivery,
    retry: Action<String, Result<retry_webhook_delivery::ResponseData, api::ApiError>>,
    opened: RwSignal<Option<String>>,
    can_retry: Signal<bool>,
) -> impl IntoView {
    let (word, tone) = delivery_status(&format!("{:?}", delivery.status));
    let event = logic::event_name(&format!("{:?}", delivery.event_type));
    let answer = match (&delivery.last_status, &delivery.last_error) {
        (Some(status), _) => format!("HTTP {status}"),
        (None, Some(error)) => error.clone(),
        (None, None) => "Not tried yet".into(),
    };
    let id = delivery.id.clone();
    let shown = {
        let id = id.clone();
        Signal::derive(move || opened.with(|o| o.as_deref() == Some(id.as_str())))
    };
    let toggle = {
        let id = id.clone();
        move |_| {
            opened.update(|o| {
                *o = if o.as_deref() == Some(id.as_str()) {
                    None
                } else {
                    Some(id.clone())
                }
            })
        }
    };
    let next = delivery.next_attempt_at.clone();
    view! {
        <tr data-delivery=delivery.message_id.clone()>
            <td><code>{event}</code></td>
            <td><Badge text=word.into() tone=tone/>
                {next.map(|at| view! { <div class="muted small">"next at " <Time at=at/></div> })}
            </td>
            <td class="attempts">{delivery.attempts}</td>
            <td class="fold">{answer}</td>
            <td class="fold"><Time at=delivery.created_at.clone()/></td>
            <td class="actions-cell">
                <button class="small" aria-expanded=move || shown.get().to_string() on:click=toggle>"Attempts"</button>
                <button class="small" hidden=move || !can_retry.get() on:click={
                    let id = id.clone();
                    move |_| { retry.dispatch(id.clone()); }
                }>"Retry"</button>
            </td>
        </tr>
        {move || shown.get().then(|| view! { <tr class="detail"><td colspan="6"><Attempts id=id.clone()/></td></tr> })}
    }
}

/// Every attempt at one delivery, and the body it sends.
#[component]
fn Attempts(id: String) -> impl IntoView {
    let detail = LocalResource::new(move || {
        let id = id.clone();
        async move {
            api::run::<WebhookDelivery>(webhook_delivery::Variables { id })
                .await
                .map(|d| d.webhook_delivery)
        }
    });
    move || {
        match detail.get() {
        None => view! { <Skeleton label="Loading attempts"/> }.into_any(),
        Some(Err(err)) => view! { <p role="alert" class="error">{error_text(&err)}</p> }.into_any(),
        Some(Ok(d)) => view! {
            <ol class="attempts-log">
                {d.attempts.into_iter().map(|a| {
                    let what = match (a.status, a.error) {
                        (Some(s), _) if (200..300).contains(&s) => format!("HTTP {s}: delivered"),
                        (Some(s), _) => format!("HTTP {s}"),
                        (None, Some(e)) => e,
                        (None, None) => "no answer".into(),
                    };
                    view! { <li><Time at=a.attempted_at/> " — " {what} <span class="muted">{format!(" ({} ms)", a.duration_ms)}</span></li> }
                }).collect_view()}
            </ol>
            <pre class="payload"><code>{serde_json::to_string_pretty(&d.delivery.payload).unwrap_or_default()}</code></pre>
        }.into_any(),
    }
    }
}

/// The signing secret of a new endpoint, shown this once.
#[component]
fn WebhookSecret(secret: RwSignal<Option<(String, String)>>) -> impl IntoView {
    let copied = RwSignal::new(false);
    move || {
        secret.get().map(|(url, value)| {
            let copy_value = value.clone();
            view! {
                <section class="panel notice" aria-labelledby="webhook-secret-title">
                    <h2 id="webhook-secret-title">{format!("Signing secret for {url}")}</h2>
                    <p class="warning">"Copy it now: it is shown only once. Verify each request's webhook-signature with it (any Standard Webhooks library does)."</p>
                    <div class="secret">
                        <input id="webhook-secret" readonly class="mono" prop:value=value aria-label="Signing secret"/>
                        <button type="button" on:click=move |_| {
                            let _ = window().navigator().clipboard().write_text(&copy_value);
                            copied.set(true);
                        }>{move || if copied.get() { "Copied ✓" } else { "Copy" }}</button>
                        <button type="button" class="primary" id="webhook-secret-saved" on:click=move |_| secret.set(None)>"I've saved it"</button>
                    </div>
                </section>
            }
        })
    }
}

#[component]
fn CreateEndpointDialog(
    dialog: NodeRef<html::Dialog>,
    changed: RwSignal<u32>,
    secret: RwSignal<Option<(String, String)>>,
) -> impl IntoView {
    let session = expect_context::<Session>();
    let toasts = expect_context::<Toasts>();
    let url = RwSignal::new(String::new());
    let description = RwSignal::new(String::new());
    let picked = RwSignal::new(vec![EventType::API_KEY_CREATED, EventType::API_KEY_REVOKED]);
    let error = RwSignal::new(None::<String>);
    let create = Action::new_local(move |_: &()| {
        let description = description.get_untracked();
        let input = create_webhook_endpoint::CreateWebhookEndpointInput {
            organization_id: session.org.get_untracked().unwrap_or_default(),
            url: url.get_untracked().trim().to_owned(),
            events: picked.get_untracked(),
            description: (!description.trim().is_empty()).then_some(description),
        };
        async move {
            api::run::<CreateWebhookEndpoint>(create_webhook_endpoint::Variables { input }).await
        }
    });
    Effect::new(move |_| match create.value().get() {
        Some(Ok(made)) => {
            error.set(None);
            ui::close(dialog);
            url.set(String::new());
            description.set(String::new());
            let made = made.create_webhook_endpoint;
            secret.set(Some((made.endpoint.url, made.secret)));
            toasts.ok("Endpoint added");
            changed.update(|n| *n += 1);
        }
        Some(Err(e)) => error.set(Some(error_text(&e))),
        None => {}
    });
    view! {
        <dialog node_ref=dialog aria-labelledby="endpoint-title">
            <form on:submit=move |ev| { ev.prevent_default(); create.dispatch(()); }>
                <h2 id="endpoint-title">"Add a webhook endpoint"</h2>
                <label>"URL (https, on a public address)"
                    <input id="endpoint-url" type="url" required maxlength="2048" placeholder="https://example.com/keyward/webhooks" prop:value=url on:input=move |ev| url.set(event_target_value(&ev))/>
                </label>
                <fieldset>
                    <legend>"Events"</legend>
                    {every_event().into_iter().map(|e| {
                        let name = logic::event_name(&format!("{e:?}"));
                        let checked = {
                            let e = e.clone();
                            move || picked.with(|p| p.contains(&e))
                        };
                        view! {
                            <label class="check">
                                <input type="checkbox" data-event=name.clone() prop:checked=checked on:change=move |ev| {
                                    let on = event_target_checked(&ev);
                                    picked.update(|p| {
                                        p.retain(|x| x != &e);
                                        if on { p.push(e.clone()); }
                                    });
                                }/>
                                <code>{name}</code>
                            </label>
                        }
                    }).collect_view()}
                </fieldset>
                <label>"Description (optional)"
                    <input id="endpoint-description" maxlength="200" prop:value=description on:input=move |ev| description.set(event_target_value(&ev))/>
                </label>
                {form_error(error)}
                <div class="actions">
                    <button type="button" on:click=move |_| ui::close(dialog)>"Cancel"</button>
                    <button type="submit" class="primary" disabled=move || create.pending().get() || picked.with(Vec::is_empty)>"Add endpoint"</button>
                </div>
            </form>
        </dialog>
    }
}

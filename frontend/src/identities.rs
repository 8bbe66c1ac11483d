//! Identities: the product's customers, each with the credits, limits and metadata its
//! keys share (SPEC §3.5).

use leptos::{html, prelude::*};

use crate::{
    api::{
        self, CreateIdentity, DeleteIdentity, Identities, create_identity, delete_identity,
        identities,
    },
    app::{Session, error_banner, error_text},
    format::Time,
    logic,
    ui::{self, Empty, PageHeader, Skeleton, Toasts, form_error},
};

type Identity = identities::IdentitiesIdentitiesNodes;

#[component]
pub fn IdentitiesPage() -> impl IntoView {
    let session = expect_context::<Session>();
    let toasts = expect_context::<Toasts>();
    let changed = RwSignal::new(0u32);
    let list = LocalResource::new(move || {
        let org = session.org.get().unwrap_or_default();
        changed.track();
        async move {
            // Every page, to the end.
            let mut all = Vec::new();
            let mut after = None;
            loop {
                let page = api::run::<Identities>(identities::Variables {
                    organization_id: org.clone(),
                    first: Some(100),
                    after: after.take(),
                })
                .await?
                .identities;
                all.extend(page.nodes);
                match (page.page_info.has_next_page, page.page_info.end_cursor) {
                    (true, Some(cursor)) => after = Some(cursor),
                    _ => break,
                }
            }
            Ok::<_, api::ApiError>(all)
        }
    });
    let dialog = NodeRef::<html::Dialog>::new();
    let remove = Action::new_local(move |id: &String| {
        let input = delete_identity::DeleteIdentityInput { id: id.clone() };
        async move { api::run::<DeleteIdentity>(delete_identity::Variables { input }).await }
    });
    Effect::new(move |_| match remove.value().get() {
        Some(Ok(_)) => {
            toasts.ok("Identity deleted");
            changed.update(|n| *n += 1);
        }
        Some(Err(e)) => toasts.error(&e),
        None => {}
    });
    view! {
        <PageHeader title="Identities" description="Your product's customers: the keys of one identity share its credits, limits and metadata.">
            <button class="primary" disabled=move || !session.can("api_keys:write") title=move || session.lacks("api_keys:write") on:click=move |_| ui::open(dialog)>"Create identity"</button>
        </PageHeader>
        {move || match list.get() {
            None => view! { <Skeleton label="Loading identities"/> }.into_any(),
            Some(Err(err)) => error_banner(&err, move || list.refetch()),
            Some(Ok(rows)) if rows.is_empty() => view! {
                <Empty text="No identities yet. Give a key an external id, or create one here.".into()>
                    <button class="primary" disabled=move || !session.can("api_keys:write") title=move || session.lacks("api_keys:write") on:click=move |_| ui::open(dialog)>"Create your first identity"</button>
                </Empty>
            }.into_any(),
            Some(Ok(rows)) => view! {
                <div class="table-wrap" role="region" tabindex="0" aria-label="Identities">
                    <table class="identities">
                        {ui::table_head(&["External id", "Credits", "~Named limits", "~Created", ""])}
                        <tbody>
                            {rows.into_iter().map(|i| view! { <IdentityRow identity=i remove=remove/> }).collect_view()}
                        </tbody>
                    </table>
                </div>
            }.into_any(),
        }}
        <CreateIdentityDialog dialog=dialog changed=changed/>
    }
}

#[component]
fn IdentityRow(
    identity: Identity,
    remove: Action<String, Result<delete_identity::ResponseData, api::ApiError>>,
) -> impl IntoView {
    let credits = identity.credits.as_ref().map_or_else(
        || "Unlimited".to_owned(),
        |c| {
            let interval = c.refill.as_ref().map(|r| format!("{:?}", r.interval));
            logic::credits_text(
                c.remaining,
                c.refill
                    .as_ref()
                    .zip(interval.as_deref())
                    .map(|(r, i)| (i, r.amount, r.day_of_month)),
            )
        },
    );
    let limits: Vec<String> = identity
        .ratelimits
        .iter()
        .map(|l| logic::limit_text(&l.name, l.limit, l.duration_ms, l.auto_apply))
        .collect();
    let id = identity.id.clone();
    let external = identity.external_id.clone();
    let session = expect_context::<Session>();
    view! {
        <tr data-identity=identity.external_id.clone()>
            <td><code>{identity.external_id.clone()}</code>
                {identity.meta.as_ref().map(|m| view! { <div class="muted small">{m.to_string()}</div> })}
            </td>
            <td>{credits}</td>
            <td class="fold">{if limits.is_empty() { view! { "None" }.into_any() } else { view! { <ul class="plain">{limits.into_iter().map(|l| view! { <li>{l}</li> }).collect_view()}</ul> }.into_any() }}</td>
            <td class="fold"><Time at=identity.created_at.clone()/></td>
            <td><button class="small danger" hidden=move || !session.can("api_keys:write") on:click=move |_| {
                if ui::confirm(&format!("Delete identity {external}? Its keys stay, without its credits and limits.")) {
                    remove.dispatch(id.clone());
                }
            }>"Delete"</button></td>
        </tr>
    }
}

#[component]
fn CreateIdentityDialog(dialog: NodeRef<html::Dialog>, changed: RwSignal<u32>) -> impl IntoView {
    let session = expect_context::<Session>();
    let toasts = expect_context::<Toasts>();
    let external_id = RwSignal::new(String::new());
    let credits = RwSignal::new(String::new());
    let monthly = RwSignal::new(false);
    let limit = RwSignal::new(String::new());
    let error = RwSignal::new(None::<String>);
    let create = Action::new_local(move |_: &()| {
        let credits = logic::optional_number(&credits.get_untracked());
        let per_minute = logic::optional_number(&limit.get_untracked());
        let organization_id = session.org.get_untracked().unwrap_or_default();
        let external_id = external_id.get_untracked();
        let monthly = monthly.get_untracked();
        async move {
            let credits = credits.map_err(|e| api::ApiError::Refused(format!("Credits: {e}")))?;
            let per_minute =
                per_minute.map_err(|e| api::ApiError::Refused(format!("Calls a minute: {e}")))?;
            let input = create_identity::CreateIdentityInput {
                organization_id,
                external_id,
                meta: None,
                credits: credits.map(|remaining| create_identity::CreditsInput {
                    remaining,
                    refill: monthly.then_some(create_identity::RefillInput {
                        interval: create_identity::RefillInterval::MONTHLY,
                        amount: remaining,
                        day_of_month: None,
                    }),
                }),
                ratelimits: per_minute.map(|limit| {
                    vec![create_identity::RatelimitInput {
                        name: "calls".into(),
                        limit,
                        duration_ms: 60_000,
                        auto_apply: true,
                    }]
                }),
            };
            api::run::<CreateIdentity>(create_identity::Variables { input }).await
        }
    });
    Effect::new(move |_| match create.value().get() {
        Some(Ok(made)) => {
            error.set(None);
            ui::close(dialog);
            external_id.set(String::new());
            credits.set(String::new());
            limit.set(String::new());
            toasts.ok(format!(
                "Identity {} created",
                made.create_identity.external_id
            ));
            changed.update(|n| *n += 1);
        }
        Some(Err(e)) => error.set(Some(error_text(&e))),
        None => {}
    });
    view! {
        <dialog node_ref=dialog aria-labelledby="identity-title">
            <form on:submit=move |ev| { ev.prevent_default(); create.dispatch(()); }>
                <h2 id="identity-title">"Create an identity"</h2>
                <label>"External id (your id for this customer)"
                    <input id="identity-external-id" required maxlength="256" prop:value=external_id on:input=move |ev| external_id.set(event_target_value(&ev))/>
                </label>
                <label>"Credits its keys share (optional; empty means unlimited)"
                    <input id="identity-credits" inputmode="numeric" prop:value=credits on:input=move |ev| credits.set(event_target_value(&ev))/>
                </label>
                <label class="check">
                    <input id="identity-monthly" type="checkbox" prop:checked=monthly on:change=move |ev| monthly.set(event_target_checked(&ev))/>
                    "Refill to that number on the 1st of every month"
                </label>
                <label>"Calls a minute across its keys (optional)"
                    <input id="identity-limit" inputmode="numeric" prop:value=limit on:input=move |ev| limit.set(event_target_value(&ev))/>
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

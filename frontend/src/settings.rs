//! Organization settings: its name, request rate limit and token policy, its projects,
//! and creating another organization.

use leptos::prelude::*;

use crate::{
    api::{
        self, CreateOrganization, CreateProject, OrganizationSettings, RenameOrganization,
        UpdateOrganizationSettings, create_organization, create_project, organization_settings,
        rename_organization, update_organization_settings,
    },
    app::{Session, error_banner, error_text},
    format::Time,
    keys::optional_number,
    ui::{PageHeader, Skeleton, Toasts, form_error},
};

#[component]
pub fn SettingsPage() -> impl IntoView {
    let session = expect_context::<Session>();
    let changed = RwSignal::new(0_u32);
    let org = LocalResource::new(move || {
        let id = session.org.get().unwrap_or_default();
        changed.track();
        async move {
            api::run::<OrganizationSettings>(organization_settings::Variables { id })
                .await
                .map(|d| d.organization)
        }
    });
    let bump = move || {
        changed.update(|n| *n += 1);
        session.refresh();
    };
    view! {
        <PageHeader title="Settings" description="This organization's name, limits and projects."/>
        // "New organization" comes with the rest, never below a placeholder that the
        // settings then push down (a layout shift).
        {move || match org.get() {
            None => view! { <Skeleton label="Loading settings"/> }.into_any(),
            Some(Err(err)) => view! {
                {error_banner(&err, move || org.refetch())}
                <NewOrganization/>
            }.into_any(),
            Some(Ok(o)) => view! {
                <General org=o.clone() on_saved=bump/>
                <Projects org=o on_saved=bump/>
                <NewOrganization/>
            }.into_any(),
        }}
    }
}

type Org = organization_settings::OrganizationSettingsOrganization;

#[component]
fn General(org: Org, on_saved: impl Fn() + Copy + 'static) -> impl IntoView {
    let session = expect_context::<Session>();
    let toasts = expect_context::<Toasts>();
    let name = RwSignal::new(org.name.clone());
    let rate = RwSignal::new(
        org.rate_limit_per_minute
            .map(|r| r.to_string())
            .unwrap_or_default(),
    );
    let fail_open = RwSignal::new(org.rate_limit_fail_open);
    let per_project = RwSignal::new(org.keys_per_project);
    let flag_leaks = RwSignal::new(matches!(
        org.leaked_key_policy,
        organization_settings::LeakedKeyPolicy::FLAG
    ));
    let pat_days = RwSignal::new(
        org.pat_max_lifetime_days
            .map(|r| r.to_string())
            .unwrap_or_default(),
    );
    let key_days = RwSignal::new(
        org.api_key_max_lifetime_days
            .map(|r| r.to_string())
            .unwrap_or_default(),
    );
    let error = RwSignal::new(None::<String>);
    let id = StoredValue::new(org.id.clone());
    let old_name = StoredValue::new(org.name.clone());
    let save = Action::new_local(move |_: &()| {
        let (rate, days, key_days) = (
            optional_number(&rate.get_untracked()),
            optional_number(&pat_days.get_untracked()),
            optional_number(&key_days.get_untracked()),
        );
        let new_name = name.get_untracked();
        async move {
            let rate = rate.map_err(|e| api::ApiError::Refused(format!("Rate limit: {e}")))?;
            let days = days.map_err(|e| api::ApiError::Refused(format!("Token lifetime: {e}")))?;
            let key_days =
                key_days.map_err(|e| api::ApiError::Refused(format!("Key lifetime: {e}")))?;
            if new_name != old_name.get_value() {
                let input = rename_organization::RenameOrganizationInput {
                    id: id.get_value(),
                    name: new_name,
                };
                api::run::<RenameOrganization>(rename_organization::Variables { input }).await?;
            }
            let input = update_organization_settings::UpdateOrganizationSettingsInput {
                organization_id: id.get_value(),
                rate_limit_per_minute: rate,
                rate_limit_fail_open: Some(fail_open.get_untracked()),
                pat_max_lifetime_days: days,
                api_key_max_lifetime_days: key_days,
                keys_per_project: Some(per_project.get_untracked()),
                leaked_key_policy: Some(if flag_leaks.get_untracked() {
                    update_organization_settings::LeakedKeyPolicy::FLAG
                } else {
                    update_organization_settings::LeakedKeyPolicy::REVOKE
                }),
            };
            api::run::<UpdateOrganizationSettings>(update_organization_settings::Variables {
                input,
            })
            .await
        }
    });
    Effect::new(move |_| match save.value().get() {
        Some(Ok(_)) => {
            error.set(None);
            toasts.ok("Settings saved");
            on_saved();
        }
        Some(Err(e)) => error.set(Some(error_text(&e))),
        None => {}
    });
    view! {
        <section class="panel">
            <h2>"General"</h2>
            <form on:submit=move |ev| { ev.prevent_default(); save.dispatch(()); }>
                <label>"Organization name"
                    <input id="org-name" required maxlength="100" prop:value=name on:input=move |ev| name.set(event_target_value(&ev))/>
                </label>
                <p class="muted">{format!("Slug: {} · created ", org.slug)}<Time at=org.created_at.clone()/></p>
                <label>"Requests per minute for keys without their own limit (empty: the server default)"
                    <input id="org-rate" inputmode="numeric" prop:value=rate on:input=move |ev| rate.set(event_target_value(&ev))/>
                </label>
                <label class="choice">
                    <input type="checkbox" prop:checked=fail_open on:change=move |ev| fail_open.set(event_target_checked(&ev))/>
                    "Let requests through if the rate limiter is unavailable"
                </label>
                <label class="choice">
                    <input id="org-keys-per-project" type="checkbox" prop:checked=per_project on:change=move |ev| per_project.set(event_target_checked(&ev))/>
                    "Every new API key belongs to a project (keys for the whole organization can no longer be made)"
                </label>
                <label class="choice">
                    <input id="org-flag-leaks" type="checkbox" prop:checked=flag_leaks on:change=move |ev| flag_leaks.set(event_target_checked(&ev))/>
                    "Only flag a key a secret scanner finds in public (it keeps working); unchecked, it is revoked at once"
                </label>
                <label>"Longest personal token lifetime here, in days (empty: the server's maximum)"
                    <input id="org-pat-days" inputmode="numeric" prop:value=pat_days on:input=move |ev| pat_days.set(event_target_value(&ev))/>
                </label>
                <label>"Longest lifetime of a new API or service-account key, in days (empty: the server's maximum, if any)"
                    <input id="org-key-days" inputmode="numeric" prop:value=key_days on:input=move |ev| key_days.set(event_target_value(&ev))/>
                </label>
                {form_error(error)}
                <button type="submit" class="primary" disabled=move || save.pending().get() || !session.can("settings:write") title=move || session.lacks("settings:write")>"Save settings"</button>
            </form>
        </section>
    }
}

#[component]
fn Projects(org: Org, on_saved: impl Fn() + Copy + 'static) -> impl IntoView {
    let toasts = expect_context::<Toasts>();
    let name = RwSignal::new(String::new());
    let error = RwSignal::new(None::<String>);
    let org_id = StoredValue::new(org.id.clone());
    let create = Action::new_local(move |_: &()| {
        let input = create_project::CreateProjectInput {
            organization_id: org_id.get_value(),
            name: name.get_untracked(),
            slug: None,
        };
        async move { api::run::<CreateProject>(create_project::Variables { input }).await }
    });
    Effect::new(move |_| match create.value().get() {
        Some(Ok(_)) => {
            error.set(None);
            name.set(String::new());
            toasts.ok("Project created");
            on_saved();
        }
        Some(Err(e)) => error.set(Some(error_text(&e))),
        None => {}
    });
    view! {
        <section class="panel">
            <h2>"Projects"</h2>
            <div class="table-wrap" role="region" tabindex="0" aria-label="Projects">
                <table>
                    {crate::ui::table_head(&["Name", "Namespace", "~Created"])}
                    <tbody>
                        {org.projects.into_iter().map(|p| view! {
                            <tr><td>{p.name}</td><td><code>{p.namespace}</code></td><td class="fold"><Time at=p.created_at/></td></tr>
                        }).collect_view()}
                    </tbody>
                </table>
            </div>
            <form class="inline-form" on:submit=move |ev| { ev.prevent_default(); create.dispatch(()); }>
                <label>"New project"
                    <input id="project-name" required maxlength="100" prop:value=name on:input=move |ev| name.set(event_target_value(&ev))/>
                </label>
                <button type="submit" disabled=move || create.pending().get()>"Create project"</button>
            </form>
            {form_error(error)}
        </section>
    }
}

#[component]
fn NewOrganization() -> impl IntoView {
    let session = expect_context::<Session>();
    let toasts = expect_context::<Toasts>();
    let name = RwSignal::new(String::new());
    let error = RwSignal::new(None::<String>);
    let create = Action::new_local(move |_: &()| {
        let input = create_organization::CreateOrganizationInput {
            name: name.get_untracked(),
            slug: None,
        };
        async move { api::run::<CreateOrganization>(create_organization::Variables { input }).await }
    });
    Effect::new(move |_| match create.value().get() {
        Some(Ok(created)) => {
            error.set(None);
            name.set(String::new());
            toasts.ok("Organization created");
            session.switch_to(created.create_organization.organization.id);
        }
        Some(Err(e)) => error.set(Some(error_text(&e))),
        None => {}
    });
    view! {
        <section class="panel">
            <h2>"New organization"</h2>
            <p class="muted">"You become its owner; it starts with one project."</p>
            <form class="inline-form" on:submit=move |ev| { ev.prevent_default(); create.dispatch(()); }>
                <label>"Name"
                    <input id="new-org-name" required maxlength="100" prop:value=name on:input=move |ev| name.set(event_target_value(&ev))/>
                </label>
                <button type="submit" disabled=move || create.pending().get()>"Create organization"</button>
            </form>
            {form_error(error)}
        </section>
    }
}

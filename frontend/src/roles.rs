//! Roles and their permission matrix: resources down the side, levels across; built-in
//! roles read-only; edits collect in a sticky "N unsaved changes" bar until saved.

use std::collections::BTreeMap;

use leptos::{html, prelude::*};

use crate::{
    api::{
        self, CreateRole, DefineResource, DeleteRole, Roles, UpdateRole, create_role,
        define_resource, delete_role, roles, update_role,
    },
    app::{Session, error_banner, error_text},
    logic::differences,
    ui::{self, PageHeader, Skeleton, Toasts, form_error},
};

type Role = roles::RolesRolesNodes;
/// Each resource's level in a role; a missing resource has no access.
type Grants = BTreeMap<String, String>;

fn grants(role: &Role) -> Grants {
    role.permissions
        .iter()
        .map(|p| (p.resource.clone(), p.level.clone()))
        .collect()
}

/// Every role of an organization, page after page, with the permission catalog: one
/// answer, as if the first page had held them all.
pub async fn every_role(org: String) -> Result<roles::ResponseData, api::ApiError> {
    let mut all = api::run::<Roles>(roles::Variables {
        organization_id: org.clone(),
        after: None,
    })
    .await?;
    while all.roles.page_info.has_next_page {
        let Some(after) = all.roles.page_info.end_cursor.take() else {
            break;
        };
        let next = api::run::<Roles>(roles::Variables {
            organization_id: org.clone(),
            after: Some(after),
        })
        .await?;
        all.roles.nodes.extend(next.roles.nodes);
        all.roles.page_info = next.roles.page_info;
    }
    Ok(all)
}

#[component]
pub fn RolesPage() -> impl IntoView {
    let session = expect_context::<Session>();
    let toasts = expect_context::<Toasts>();
    let changed = RwSignal::new(0_u32);
    let (role_q, set_role) = ui::query_param("role");
    let data = LocalResource::new(move || {
        let org = session.org.get().unwrap_or_default();
        changed.track();
        async move { every_role(org).await }
    });
    let draft = RwSignal::new(Grants::new());
    let selected = move || {
        let d = data.get()?.ok()?;
        let want = role_q.get();
        d.roles
            .nodes
            .iter()
            .find(|r| Some(&r.key) == want.as_ref())
            .or_else(|| d.roles.nodes.first())
            .cloned()
    };
    // A freshly loaded or newly chosen role starts with no edits.
    Effect::new(move |_| {
        if let Some(role) = selected() {
            draft.set(grants(&role));
        }
    });
    let unsaved = move || selected().map_or(0, |r| differences(&grants(&r), &draft.get()));
    let save = Action::new_local(move |(id, grants): &(String, Grants)| {
        let input = update_role::UpdateRoleInput {
            id: id.clone(),
            name: None,
            description: None,
            permissions: Some(grants.iter().map(|(r, l)| format!("{r}:{l}")).collect()),
        };
        async move { api::run::<UpdateRole>(update_role::Variables { input }).await }
    });
    Effect::new(move |_| match save.value().get() {
        Some(Ok(_)) => {
            toasts.ok("Role saved");
            changed.update(|n| *n += 1);
        }
        Some(Err(e)) => toasts.error(&e),
        None => {}
    });
    let delete = Action::new_local(move |id: &String| {
        let input = delete_role::DeleteRoleInput { id: id.clone() };
        async move { api::run::<DeleteRole>(delete_role::Variables { input }).await }
    });
    Effect::new(move |_| match delete.value().get() {
        Some(Ok(_)) => {
            toasts.ok("Role deleted");
            set_role.set(None);
            changed.update(|n| *n += 1);
        }
        Some(Err(e)) => toasts.error(&e),
        None => {}
    });
    let dialog = NodeRef::<html::Dialog>::new();
    view! {
        <PageHeader title="Roles" description="What each role may do. Members, service accounts and keys never exceed their role.">
            <button class="primary" disabled=move || !session.can("roles:write") title=move || session.lacks("roles:write") on:click=move |_| ui::open(dialog)>"Create role"</button>
        </PageHeader>
        {move || match data.get() {
            None => view! { <Skeleton label="Loading roles"/> }.into_any(),
            Some(Err(err)) => error_banner(&err, move || data.refetch()),
            Some(Ok(d)) => {
                let Some(role) = selected() else {
                    return view! { <p class="muted">"This organization has no roles."</p> }.into_any();
                };
                let current = role.key.clone();
                let readonly = role.builtin;
                let role_name = role.name.clone();
                let levels = d.permission_catalog.levels.clone();
                let role_id = role.id.clone();
                view! {
                    <div class="roles">
                        <nav class="role-list" aria-label="Roles">
                            {d.roles.nodes.iter().map(|r| {
                                let key = r.key.clone();
                                let here = r.key == current;
                                view! {
                                    <button class:current=here aria-current=here.then_some("true") on:click=move |_| {
                                        let leave = unsaved() == 0 || ui::confirm("Discard your unsaved changes?");
                                        if leave { set_role.set(Some(key.clone())); }
                                    }>
                                        {r.name.clone()}
                                        {r.builtin.then(|| view! { <span class="muted">"\u{a0}· built-in"</span> })}
                                    </button>
                                }
                            }).collect_view()}
                        </nav>
                        <div class="matrix-wrap">
                            <header class="role-head">
                                <div>
                                    <h2>{role.name.clone()}</h2>
                                    <p class="muted">{if readonly { "Built-in roles cannot be changed.".to_owned() } else { role.description.clone() }}</p>
                                </div>
                                {(!readonly).then(|| {
                                    let id = role_id.clone();
                                    view! { <button class="small" hidden=move || !session.can("roles:delete") on:click=move |_| {
                                        if ui::confirm("Delete this role? Only a role nobody holds can be deleted.") { delete.dispatch(id.clone()); }
                                    }>"Delete role"</button> }
                                })}
                            </header>
                            <div class="table-wrap" role="region" tabindex="0" aria-label=format!("Permissions of {}", role.name)>
                                <table class="matrix">
                                    <caption class="visually-hidden">{format!("Permissions of {}", role.name)}</caption>
                                    <thead><tr>
                                        <th scope="col">"Resource"</th>
                                        <th scope="col">"None"</th>
                                        {levels.iter().map(|l| view! { <th scope="col">{l.clone()}</th> }).collect_view()}
                                    </tr></thead>
                                    <tbody>
                                        {d.permission_catalog.resources.iter().map(|res| {
                                            let resource = res.name.clone();
                                            let cell = {
                                                let (resource, role_name) = (resource.clone(), role_name.clone());
                                                move |level: Option<String>| {
                                                    let label = format!("{role_name}: {resource}:{}", level.clone().unwrap_or_else(|| "none".into()));
                                                    let (r1, r2, l1, l2) = (resource.clone(), resource.clone(), level.clone(), level.clone());
                                                    view! {
                                                        <td><input type="radio" name=format!("perm-{resource}") aria-label=label disabled=readonly
                                                            prop:checked=move || draft.get().get(&r1).cloned() == l1
                                                            on:change=move |_| draft.update(|g| match &l2 {
                                                                Some(l) => { g.insert(r2.clone(), l.clone()); }
                                                                None => { g.remove(&r2); }
                                                            })/></td>
                                                    }
                                                }
                                            };
                                            view! {
                                                <tr>
                                                    <th scope="row"><code>{res.name.clone()}</code><div class="muted small-text">{res.description.clone()}</div></th>
                                                    {cell(None)}
                                                    {levels.iter().map(|l| cell(Some(l.clone()))).collect_view()}
                                                </tr>
                                            }
                                        }).collect_view()}
                                    </tbody>
                                </table>
                            </div>
                        </div>
                    </div>
                    {move || (unsaved() > 0).then(|| {
                        let id = role_id.clone();
                        let n = unsaved();
                        view! {
                            <div class="unsaved-bar" role="region" aria-label="Unsaved changes">
                                <span>{format!("{n} unsaved change{}", if n == 1 { "" } else { "s" })}</span>
                                <button on:click=move |_| { if let Some(r) = selected() { draft.set(grants(&r)); } }>"Discard"</button>
                                <button class="primary" id="save-role" disabled=move || save.pending().get() || !session.can("roles:write") title=move || session.lacks("roles:write")
                                    on:click=move |_| { save.dispatch((id.clone(), draft.get_untracked())); }>"Save"</button>
                            </div>
                        }
                    })}
                }
                .into_any()
            }
        }}
        <CreateRoleDialog dialog=dialog on_created=move |key| { changed.update(|n| *n += 1); set_role.set(Some(key)); }/>
        <Resources
            names=Signal::derive(move || data.get().and_then(Result::ok).map(|d| {
                d.permission_catalog.resources.into_iter().filter(|r| !r.builtin).map(|r| (r.name, r.description)).collect()
            }).unwrap_or_default())
            on_defined=move || changed.update(|n| *n += 1)
        />
    }
}

/// The organization's own resources (`deployments`…), which roles, keys and tokens can
/// then carry; defined here rather than only over the API.
#[component]
fn Resources(
    names: Signal<Vec<(String, String)>>,
    on_defined: impl Fn() + Copy + 'static,
) -> impl IntoView {
    let session = expect_context::<Session>();
    let toasts = expect_context::<Toasts>();
    let name = RwSignal::new(String::new());
    let description = RwSignal::new(String::new());
    let error = RwSignal::new(None::<String>);
    let define = Action::new_local(move |_: &()| {
        let input = define_resource::DefineResourceInput {
            organization_id: session.org.get_untracked().unwrap_or_default(),
            name: name.get_untracked().trim().to_owned(),
            description: Some(description.get_untracked()).filter(|d| !d.trim().is_empty()),
        };
        async move { api::run::<DefineResource>(define_resource::Variables { input }).await }
    });
    Effect::new(move |_| match define.value().get() {
        Some(Ok(done)) => {
            error.set(None);
            name.set(String::new());
            description.set(String::new());
            toasts.ok(format!("Resource {} defined", done.define_resource.name));
            on_defined();
        }
        Some(Err(e)) => error.set(Some(error_text(&e))),
        None => {}
    });
    view! {
        <section class="panel" id="resources" aria-labelledby="resources-title">
            <h2 id="resources-title">"Resources"</h2>
            <p class="muted">"Your API's own resources, beside the built-in ones: roles, keys and tokens can then carry, say, deployments:write."</p>
            {move || {
                let list = names.get();
                if list.is_empty() {
                    view! { <p class="muted">"None defined yet."</p> }.into_any()
                } else {
                    view! {
                        <ul class="plain" id="resource-list">
                            {list.into_iter().map(|(n, d)| view! { <li><code>{n}</code>{(!d.is_empty()).then(|| format!(" · {d}"))}</li> }).collect_view()}
                        </ul>
                    }
                    .into_any()
                }
            }}
            <form class="inline-form" hidden=move || !session.can("roles:write") on:submit=move |ev| { ev.prevent_default(); define.dispatch(()); }>
                <label>"Name"
                    <input id="resource-name" required maxlength="48" placeholder="deployments" prop:value=name on:input=move |ev| name.set(event_target_value(&ev))/>
                </label>
                <label>"Description (optional)"
                    <input id="resource-description" maxlength="200" prop:value=description on:input=move |ev| description.set(event_target_value(&ev))/>
                </label>
                {form_error(error)}
                <button type="submit" class="primary" disabled=move || define.pending().get()>"Define resource"</button>
            </form>
        </section>
    }
}

#[component]
fn CreateRoleDialog(
    dialog: NodeRef<html::Dialog>,
    on_created: impl Fn(String) + Copy + 'static,
) -> impl IntoView {
    let session = expect_context::<Session>();
    let toasts = expect_context::<Toasts>();
    let name = RwSignal::new(String::new());
    let description = RwSignal::new(String::new());
    let error = RwSignal::new(None::<String>);
    let create = Action::new_local(move |_: &()| {
        let input = create_role::CreateRoleInput {
            organization_id: session.org.get_untracked().unwrap_or_default(),
            name: name.get_untracked(),
            description: Some(description.get_untracked()).filter(|d| !d.is_empty()),
            permissions: Vec::new(),
        };
        async move { api::run::<CreateRole>(create_role::Variables { input }).await }
    });
    Effect::new(move |_| match create.value().get() {
        Some(Ok(created)) => {
            error.set(None);
            ui::close(dialog);
            name.set(String::new());
            description.set(String::new());
            toasts.ok("Role created; choose what it may do.");
            on_created(created.create_role.key);
        }
        Some(Err(e)) => error.set(Some(error_text(&e))),
        None => {}
    });
    view! {
        <dialog node_ref=dialog aria-labelledby="role-title">
            <form on:submit=move |ev| { ev.prevent_default(); create.dispatch(()); }>
                <h2 id="role-title">"Create a role"</h2>
                <label>"Name"
                    <input id="role-name" required maxlength="100" prop:value=name on:input=move |ev| name.set(event_target_value(&ev))/>
                </label>
                <label>"Description (optional)"
                    <input prop:value=description on:input=move |ev| description.set(event_target_value(&ev))/>
                </label>
                {form_error(error)}
                <div class="actions">
                    <button type="button" on:click=move |_| ui::close(dialog)>"Cancel"</button>
                    <button type="submit" class="primary" disabled=move || create.pending().get()>"Create role"</button>
                </div>
            </form>
        </dialog>
    }
}

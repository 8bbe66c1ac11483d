//! The permission picker (UX "Permission picker, not a text box"): the organization's
//! resources, built-in then its own, × None / Read / Write / Delete / Admin, starting
//! at "All of my permissions". A level the viewer does not hold is disabled with the
//! reason, so a credential is never asked for more than its maker has.

use leptos::prelude::*;

use crate::{
    api::{self, PermissionCatalog, permission_catalog},
    app::Session,
};

/// What the picker chose: `None` for all of the maker's permissions, else the scopes.
pub type Chosen = RwSignal<Option<Vec<String>>>;

#[component]
pub fn PermissionPicker(chosen: Chosen, id: &'static str) -> impl IntoView {
    let session = expect_context::<Session>();
    let catalog = LocalResource::new(move || {
        let org = session.org.get().unwrap_or_default();
        async move {
            api::run::<PermissionCatalog>(permission_catalog::Variables {
                organization_id: org,
            })
            .await
            .map(|d| d.permission_catalog)
        }
    });
    // One level per resource; choosing "None" removes the resource.
    let level_of = move |resource: &str| {
        chosen.with(|c| {
            c.as_ref().and_then(|scopes| {
                scopes.iter().find_map(|s| {
                    s.strip_prefix(resource)?
                        .strip_prefix(':')
                        .map(str::to_owned)
                })
            })
        })
    };
    let set_level = move |resource: String, level: Option<String>| {
        chosen.update(|c| {
            let scopes = c.get_or_insert_with(Vec::new);
            scopes.retain(|s| s.split_once(':').map(|(r, _)| r) != Some(resource.as_str()));
            if let Some(level) = level {
                scopes.push(format!("{resource}:{level}"));
            }
        });
    };
    view! {
        <fieldset class="picker" id=id>
            <legend>"Permissions"</legend>
            <label class="choice">
                <input type="radio" id=format!("{id}-all") name=format!("{id}-mode") prop:checked=move || chosen.with(Option::is_none)
                    on:change=move |_| chosen.set(None)/>
                "All of my permissions"
            </label>
            <label class="choice">
                <input type="radio" id=format!("{id}-some") name=format!("{id}-mode") prop:checked=move || chosen.with(Option::is_some)
                    on:change=move |_| chosen.set(Some(Vec::new()))/>
                "Only these"
            </label>
            <p class="muted" id=format!("{id}-summary") role="status">{move || crate::logic::scopes_summary(chosen.get().as_deref())}</p>
            {move || chosen.with(Option::is_some).then(|| match catalog.get() {
                None => view! { <p class="muted">"Loading resources…"</p> }.into_any(),
                Some(Err(err)) => view! { <p role="alert">{crate::app::error_text(&err)}</p> }.into_any(),
                Some(Ok(catalog)) => {
                    let levels = catalog.levels.clone();
                    view! {
                        <div class="table-wrap" role="region" tabindex="0" aria-label="Permissions to grant">
                            <table class="matrix">
                                <thead><tr>
                                    <th scope="col">"Resource"</th>
                                    <th scope="col">"None"</th>
                                    {levels.iter().map(|l| view! { <th scope="col">{l.clone()}</th> }).collect_view()}
                                </tr></thead>
                                <tbody>
                                    {catalog.resources.into_iter().map(|res| {
                                        let name = res.name.clone();
                                        let cell = {
                                            let name = name.clone();
                                            move |level: Option<String>| {
                                                let perm = level.as_ref().map(|l| format!("{name}:{l}"));
                                                let held = perm.as_ref().is_none_or(|p| session.can(p));
                                                let label = format!("{name}: {}", level.clone().unwrap_or_else(|| "none".into()));
                                                let (n1, n2, l1, l2) = (name.clone(), name.clone(), level.clone(), level.clone());
                                                view! {
                                                    <td><input type="radio" name=format!("{id}-{name}") aria-label=label
                                                        disabled=!held
                                                        title=(!held).then(|| format!("You do not hold {}", perm.clone().unwrap_or_default()))
                                                        prop:checked=move || level_of(&n1) == l1
                                                        on:change=move |_| set_level(n2.clone(), l2.clone())/></td>
                                                }
                                            }
                                        };
                                        view! {
                                            <tr>
                                                <th scope="row"><code>{res.name.clone()}</code>
                                                    {(!res.builtin).then(|| view! { <span class="badge muted">"yours"</span> })}
                                                    <div class="muted small-text">{res.description.clone()}</div>
                                                </th>
                                                {cell(None)}
                                                {levels.iter().map(|l| cell(Some(l.clone()))).collect_view()}
                                            </tr>
                                        }
                                    }).collect_view()}
                                </tbody>
                            </table>
                        </div>
                    }
                    .into_any()
                }
            })}
        </fieldset>
    }
}

//! What every key table shares: the status badge, the row menu (copy ID, rename,
//! disable/enable, rotate, revoke) and its dialogs, and the secret shown once.

use leptos::{html, prelude::*};

use crate::{
    api::{
        self, DisableApiKey, EnableApiKey, RenameApiKey, RevokeApiKey, RotateApiKey,
        disable_api_key, enable_api_key, rename_api_key, revoke_api_key, rotate_api_key,
    },
    app::error_text,
    ui::{self, Toasts, form_error},
};

/// A status as a word and a tone; statuses arrive as the generated enums' `Debug`.
pub fn status(debug: &str) -> (&'static str, &'static str) {
    match debug {
        "ACTIVE" => ("Active", "ok"),
        "DISABLED" => ("Disabled", "muted"),
        "EXPIRED" => ("Expired", "warn"),
        "REVOKED" => ("Revoked", "bad"),
        "ROTATING" => ("Rotating", "warn"),
        _ => ("Unknown", "muted"),
    }
}

/// The key a row menu acts on.
#[derive(Clone, Debug, PartialEq)]
pub struct KeyRef {
    pub id: String,
    pub name: String,
    /// The `Debug` of its status.
    pub status: String,
}

/// The key dialogs of one page, and a counter its lists watch to load again.
#[derive(Clone, Copy)]
pub struct KeyActions {
    renaming: RwSignal<Option<KeyRef>>,
    rotating: RwSignal<Option<KeyRef>>,
    revoking: RwSignal<Option<KeyRef>>,
    /// `(name, secret)` while the secret dialog is open.
    pub secret: RwSignal<Option<(String, String)>>,
    /// Bumped after every change; resources read it to reload.
    pub changed: RwSignal<u32>,
}

impl KeyActions {
    pub fn provide() -> Self {
        let actions = Self {
            renaming: RwSignal::new(None),
            rotating: RwSignal::new(None),
            revoking: RwSignal::new(None),
            secret: RwSignal::new(None),
            changed: RwSignal::new(0),
        };
        provide_context(actions);
        actions
    }

    pub fn bump(&self) {
        self.changed.update(|n| *n += 1);
    }
}

/// The row menu, a native disclosure so it works by keyboard.
#[component]
pub fn KeyMenu(key: KeyRef) -> impl IntoView {
    let actions = expect_context::<KeyActions>();
    let session = expect_context::<crate::app::Session>();
    let toasts = expect_context::<Toasts>();
    let menu = NodeRef::<html::Details>::new();
    let revoked = key.status == "REVOKED";
    let disabled = key.status == "DISABLED";
    let shut = move || {
        if let Some(m) = menu.get_untracked() {
            m.set_open(false);
        }
    };
    let toggle = Action::new_local(move |(id, enable): &(String, bool)| {
        let (id, enable) = (id.clone(), *enable);
        async move {
            if enable {
                api::run::<EnableApiKey>(enable_api_key::Variables {
                    input: enable_api_key::ApiKeyInput { id },
                })
                .await
                .map(|_| "Key enabled")
            } else {
                api::run::<DisableApiKey>(disable_api_key::Variables {
                    input: disable_api_key::ApiKeyInput { id },
                })
                .await
                .map(|_| "Key disabled")
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
    let id = key.id.clone();
    let name = key.name.clone();
    let (k1, k2, k3) = (key.clone(), key.clone(), key.clone());
    view! {
        <details class="menu" node_ref=menu>
            <summary aria-label=format!("Actions for {name}")>"⋯"</summary>
            <div class="menu-items" role="group">
                <button on:click={
                    let id = id.clone();
                    move |_| {
                        let _ = window().navigator().clipboard().write_text(&id);
                        toasts.ok("Key ID copied");
                        shut();
                    }
                }>"Copy ID"</button>
                {(!revoked && session.can("api_keys:write")).then(|| view! {
                    <button on:click=move |_| { actions.renaming.set(Some(k1.clone())); shut(); }>"Rename"</button>
                    {if disabled {
                        let id = id.clone();
                        view! { <button on:click=move |_| { toggle.dispatch((id.clone(), true)); shut(); }>"Enable"</button> }.into_any()
                    } else {
                        let id = id.clone();
                        view! { <button on:click=move |_| {
                            shut();
                            if ui::confirm("Disable this key? Requests with it fail until you enable it again.") {
                                toggle.dispatch((id.clone(), false));
                            }
                        }>"Disable"</button> }.into_any()
                    }}
                    <button on:click=move |_| { actions.rotating.set(Some(k2.clone())); shut(); }>"Rotate"</button>
                })}
                {(!revoked && session.can("api_keys:delete")).then(|| view! {
                    <button class="danger-text" on:click=move |_| { actions.revoking.set(Some(k3.clone())); shut(); }>"Revoke"</button>
                })}
            </div>
        </details>
    }
}

/// Rename, rotate, revoke and the secret dialog, once per page.
#[component]
pub fn KeyDialogs() -> impl IntoView {
    let actions = expect_context::<KeyActions>();
    view! {
        <RenameDialog/>
        <RotateDialog/>
        <RevokeDialog/>
        <SecretDialog secret=actions.secret/>
    }
}

/// Opens `dialog` whenever `target` is set, after `reset`.
fn open_on(
    target: RwSignal<Option<KeyRef>>,
    dialog: NodeRef<html::Dialog>,
    reset: impl Fn() + 'static,
) {
    Effect::new(move |_| {
        if target.get().is_some() && dialog.get().is_some() {
            reset();
            ui::open(dialog);
        }
    });
}

#[component]
fn RenameDialog() -> impl IntoView {
    let actions = expect_context::<KeyActions>();
    let toasts = expect_context::<Toasts>();
    let dialog = NodeRef::<html::Dialog>::new();
    let name = RwSignal::new(String::new());
    let error = RwSignal::new(None::<String>);
    open_on(actions.renaming, dialog, move || {
        error.set(None);
        name.set(
            actions
                .renaming
                .get_untracked()
                .map(|k| k.name)
                .unwrap_or_default(),
        );
    });
    let rename = Action::new_local(move |(id, name): &(String, String)| {
        let input = rename_api_key::RenameApiKeyInput {
            id: id.clone(),
            name: name.clone(),
        };
        async move { api::run::<RenameApiKey>(rename_api_key::Variables { input }).await }
    });
    Effect::new(move |_| match rename.value().get() {
        Some(Ok(_)) => {
            ui::close(dialog);
            toasts.ok("Key renamed");
            actions.bump();
        }
        Some(Err(e)) => error.set(Some(error_text(&e))),
        None => {}
    });
    view! {
        <dialog node_ref=dialog aria-labelledby="rename-title" on:close=move |_| actions.renaming.set(None)>
            <form on:submit=move |ev| {
                ev.prevent_default();
                if let Some(k) = actions.renaming.get_untracked() { rename.dispatch((k.id, name.get_untracked())); }
            }>
                <h2 id="rename-title">"Rename key"</h2>
                <label>"Name"
                    <input id="rename-name" required maxlength="100" prop:value=name on:input=move |ev| name.set(event_target_value(&ev))/>
                </label>
                {form_error(error)}
                <div class="actions">
                    <button type="button" on:click=move |_| ui::close(dialog)>"Cancel"</button>
                    <button type="submit" class="primary" disabled=move || rename.pending().get()>"Save"</button>
                </div>
            </form>
        </dialog>
    }
}

/// Rotation keeps the key's settings and gives a new secret; the old one may keep
/// working for a grace period.
#[component]
fn RotateDialog() -> impl IntoView {
    let actions = expect_context::<KeyActions>();
    let toasts = expect_context::<Toasts>();
    let dialog = NodeRef::<html::Dialog>::new();
    let grace = RwSignal::new(0_i64);
    let error = RwSignal::new(None::<String>);
    open_on(actions.rotating, dialog, move || {
        error.set(None);
        grace.set(0);
    });
    let rotate = Action::new_local(move |(id, grace): &(String, i64)| {
        let input = rotate_api_key::RotateApiKeyInput {
            id: id.clone(),
            grace_period_seconds: *grace,
        };
        async move { api::run::<RotateApiKey>(rotate_api_key::Variables { input }).await }
    });
    Effect::new(move |_| match rotate.value().get() {
        Some(Ok(done)) => {
            ui::close(dialog);
            toasts.ok("Key rotated");
            let r = done.rotate_api_key;
            actions.secret.set(Some((r.api_key.name, r.secret)));
            actions.bump();
        }
        Some(Err(e)) => error.set(Some(error_text(&e))),
        None => {}
    });
    let choice = move |seconds: i64, label: &'static str| {
        view! {
            <label class="choice">
                <input type="radio" name="grace" value=seconds.to_string()
                    prop:checked=move || grace.get() == seconds
                    on:change=move |_| grace.set(seconds)/>
                {label}
            </label>
        }
    };
    view! {
        <dialog node_ref=dialog aria-labelledby="rotate-title" on:close=move |_| actions.rotating.set(None)>
            <form on:submit=move |ev| {
                ev.prevent_default();
                if let Some(k) = actions.rotating.get_untracked() { rotate.dispatch((k.id, grace.get_untracked())); }
            }>
                <h2 id="rotate-title">{move || format!("Rotate “{}”", actions.rotating.get().map(|k| k.name).unwrap_or_default())}</h2>
                <p>"A new secret replaces this one; the key keeps its name, scopes and limits."</p>
                <fieldset>
                    <legend>"The old secret stops working"</legend>
                    {choice(0, "Immediately")}
                    {choice(3600, "In 1 hour")}
                    {choice(86400, "In 24 hours")}
                </fieldset>
                {form_error(error)}
                <div class="actions">
                    <button type="button" on:click=move |_| ui::close(dialog)>"Cancel"</button>
                    <button type="submit" class="primary" id="rotate-submit" disabled=move || rotate.pending().get()>"Rotate key"</button>
                </div>
            </form>
        </dialog>
    }
}

/// Revoking is irreversible: the button stays disabled until the key's name is typed.
#[component]
fn RevokeDialog() -> impl IntoView {
    let actions = expect_context::<KeyActions>();
    let toasts = expect_context::<Toasts>();
    let dialog = NodeRef::<html::Dialog>::new();
    let typed = RwSignal::new(String::new());
    let error = RwSignal::new(None::<String>);
    open_on(actions.revoking, dialog, move || {
        typed.set(String::new());
        error.set(None);
    });
    let revoke = Action::new_local(move |id: &String| {
        let input = revoke_api_key::RevokeApiKeyInput {
            id: id.clone(),
            reason: Some("revoked in the dashboard".into()),
        };
        async move { api::run::<RevokeApiKey>(revoke_api_key::Variables { input }).await }
    });
    Effect::new(move |_| match revoke.value().get() {
        Some(Ok(_)) => {
            ui::close(dialog);
            toasts.ok("Key revoked");
            actions.bump();
        }
        Some(Err(err)) => error.set(Some(error_text(&err))),
        None => {}
    });
    let matches = move || {
        actions
            .revoking
            .get()
            .is_some_and(|k| k.name == typed.get())
    };
    view! {
        <dialog node_ref=dialog aria-labelledby="revoke-title" on:close=move |_| actions.revoking.set(None)>
            <form on:submit=move |ev| {
                ev.prevent_default();
                if let Some(k) = actions.revoking.get_untracked() { revoke.dispatch(k.id); }
            }>
                <h2 id="revoke-title">"Revoke this key?"</h2>
                <p>"Requests with it fail at once. This cannot be undone."</p>
                <label>{move || format!("Type “{}” to confirm", actions.revoking.get().map(|k| k.name).unwrap_or_default())}
                    <input id="revoke-confirm" autocomplete="off" prop:value=typed on:input=move |ev| typed.set(event_target_value(&ev))/>
                </label>
                {form_error(error)}
                <div class="actions">
                    <button type="button" on:click=move |_| ui::close(dialog)>"Cancel"</button>
                    <button type="submit" class="danger" id="revoke-submit" disabled=move || !matches() || revoke.pending().get()>"Revoke key"</button>
                </div>
            </form>
        </dialog>
    }
}

/// How to use a new secret against this server: an environment line and a verify call.
/// The secret shows only once revealed; the copied snippet always carries it.
fn snippet(secret: Option<String>) -> String {
    let origin = window().location().origin().unwrap_or_default();
    let shown =
        secret.unwrap_or_else(|| "••••••••  (Reveal to show it, or copy the snippet)".into());
    format!(
        "export KEYWARD_API_KEY={shown}\ncurl -H \"Authorization: Bearer $KEYWARD_API_KEY\" \\\n  {origin}/api/v1/api-keys/verify"
    )
}

/// The secret, once: masked until revealed, with a copy button; closing asks for
/// confirmation unless the user says they saved it, and so does leaving the page.
#[component]
pub fn SecretDialog(secret: RwSignal<Option<(String, String)>>) -> impl IntoView {
    let dialog = NodeRef::<html::Dialog>::new();
    let revealed = RwSignal::new(false);
    let copied = RwSignal::new(false);
    let snippet_copied = RwSignal::new(false);
    Effect::new(move |_| {
        if secret.get().is_some() && dialog.get().is_some() {
            revealed.set(false);
            ui::open(dialog);
        }
    });
    let guard = window_event_listener(leptos::ev::beforeunload, move |ev| {
        if secret.get_untracked().is_some() {
            ev.prevent_default();
            ev.set_return_value("You won't see this secret again.");
        }
    });
    on_cleanup(move || guard.remove());
    let close = move || {
        ui::close(dialog);
        secret.set(None);
    };
    let copy = move |_| {
        if let Some((_, s)) = secret.get_untracked() {
            let _ = window().navigator().clipboard().write_text(&s);
            copied.set(true);
            set_timeout(move || copied.set(false), std::time::Duration::from_secs(2));
        }
    };
    view! {
        <dialog node_ref=dialog aria-labelledby="secret-title" on:cancel=move |ev: leptos::ev::Event| {
            if ui::confirm("You won't see this secret again. Close anyway?") {
                secret.set(None);
            } else {
                ev.prevent_default();
            }
        }>
            <h2 id="secret-title">{move || secret.get().map(|(n, _)| format!("Your new secret for “{n}”"))}</h2>
            <p class="warning">"Copy this secret now. It is shown only once and cannot be retrieved later."</p>
            <div class="secret">
                <input id="new-secret" readonly class="mono"
                    type=move || if revealed.get() { "text" } else { "password" }
                    prop:value=move || secret.get().map(|(_, s)| s).unwrap_or_default()
                    aria-label="Secret"/>
                <button type="button" on:click=move |_| revealed.update(|r| *r = !*r)>
                    {move || if revealed.get() { "Hide" } else { "Reveal" }}
                </button>
                <button type="button" on:click=copy>{move || if copied.get() { "Copied ✓" } else { "Copy" }}</button>
            </div>
            <section class="snippet" aria-labelledby="snippet-title">
                <h3 id="snippet-title">"Try it"</h3>
                <pre id="secret-snippet"><code>{move || snippet(if revealed.get() { secret.get().map(|(_, s)| s) } else { None })}</code></pre>
                <button type="button" on:click=move |_| {
                    if let Some((_, s)) = secret.get_untracked() {
                        let _ = window().navigator().clipboard().write_text(&snippet(Some(s)));
                        snippet_copied.set(true);
                        set_timeout(move || snippet_copied.set(false), std::time::Duration::from_secs(2));
                    }
                }>{move || if snippet_copied.get() { "Copied ✓" } else { "Copy snippet" }}</button>
            </section>
            <div class="actions">
                <button class="primary" id="saved-secret" on:click=move |_| close()>"I've saved this key"</button>
            </div>
        </dialog>
    }
}

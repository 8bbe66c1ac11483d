//! Approving a CLI sign-in: the device-code page (`/device`, RFC 8628) and the loopback
//! consent page (`/cli/authorize`, RFC 8252). Both need the user signed in; the shell
//! sends them to sign in and back with the address intact.

use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

use crate::{
    api::{
        self, ApproveCliLogin, ApproveDevice, DenyDevice, DeviceAuthorization, approve_cli_login,
        approve_device, deny_device, device_authorization,
    },
    app::{Session, error_text},
    format::Time,
    ui::{PageHeader, form_error},
};

#[component]
pub fn DevicePage() -> impl IntoView {
    let session = expect_context::<Session>();
    let query = use_query_map();
    let typed = RwSignal::new(query.read_untracked().get("user_code").unwrap_or_default());
    let error = RwSignal::new(None::<String>);
    let answered = RwSignal::new(None::<&'static str>);
    let lookup = Action::new_local(move |code: &String| {
        let user_code = code.clone();
        async move {
            api::run::<DeviceAuthorization>(device_authorization::Variables { user_code })
                .await
                .map(|d| d.device_authorization)
        }
    });
    let decide = Action::new_local(move |(code, approve): &(String, bool)| {
        let (user_code, approve) = (code.clone(), *approve);
        async move {
            if approve {
                api::run::<ApproveDevice>(approve_device::Variables {
                    input: approve_device::DeviceInput { user_code },
                })
                .await
                .map(|_| "approved")
            } else {
                api::run::<DenyDevice>(deny_device::Variables {
                    input: deny_device::DeviceInput { user_code },
                })
                .await
                .map(|_| "denied")
            }
        }
    });
    Effect::new(move |_| match decide.value().get() {
        Some(Ok(outcome)) => answered.set(Some(outcome)),
        Some(Err(e)) => error.set(Some(error_text(&e))),
        None => {}
    });
    Effect::new(move |_| {
        if let Some(Err(e)) = lookup.value().get() {
            error.set(Some(error_text(&e)));
        }
    });
    // A link with the code in it looks the code up at once.
    if !typed.get_untracked().is_empty() {
        lookup.dispatch(typed.get_untracked());
    }
    let email = move || {
        session
            .me
            .get()
            .and_then(|m| m.me.user)
            .map(|u| u.email)
            .unwrap_or_default()
    };
    view! {
        <PageHeader title="Sign in a device" description="Approve the Keyward CLI, or another tool, that showed you a code."/>
        <section class="panel narrow">
            {move || match (answered.get(), lookup.value().get()) {
                (Some("approved"), _) => view! {
                    <p role="status" id="device-result">"Approved. Return to your terminal: it is signed in."</p>
                }.into_any(),
                (Some(_), _) => view! {
                    <p role="status" id="device-result">"Denied. The device was not signed in."</p>
                }.into_any(),
                (None, Some(Ok(device))) if device.status == device_authorization::DeviceStatus::PENDING => {
                    let (code, code2) = (device.user_code.clone(), device.user_code.clone());
                    view! {
                        <h2>{format!("Allow “{}” to sign in as {}?", device.client_name, email())}</h2>
                        <p>"It receives a personal access token named after it, which acts as you in every organization you belong to. Only approve a code you just saw in your own terminal."</p>
                        <p id="device-origin">"Requested "<Time at=device.created_at.clone()/>
                            {device.requested_from.clone().map(|ip| view! { " from "<code>{ip}</code> })}
                            ". If that was not you, deny it."</p>
                        <p class="muted">"Code "<code>{device.user_code.clone()}</code>" · expires "<Time at=device.expires_at.clone()/></p>
                        {form_error(error)}
                        <div class="actions">
                            <button id="device-deny" disabled=move || decide.pending().get() on:click=move |_| { decide.dispatch((code.clone(), false)); }>"Deny"</button>
                            <button id="device-approve" class="primary" disabled=move || decide.pending().get() on:click=move |_| { decide.dispatch((code2.clone(), true)); }>"Approve"</button>
                        </div>
                    }.into_any()
                }
                (None, Some(Ok(device))) => view! {
                    <p role="alert">{format!("This code is {}. Run the login command again for a new one.", answered_word(&device.status))}</p>
                }.into_any(),
                (None, _) => view! {
                    <form on:submit=move |ev| {
                        ev.prevent_default();
                        error.set(None);
                        lookup.dispatch(typed.get_untracked());
                    }>
                        <label>"Code shown by the CLI"
                            <input id="device-code" class="mono" required autocomplete="off" placeholder="BDFG-HJKL" maxlength="9"
                                prop:value=typed on:input=move |ev| typed.set(event_target_value(&ev))/>
                        </label>
                        {form_error(error)}
                        <button type="submit" class="primary" disabled=move || lookup.pending().get()>"Continue"</button>
                    </form>
                }.into_any(),
            }}
        </section>
    }
}

/// The loopback flow's consent page, opened by `keyward login`.
#[component]
pub fn CliAuthorizePage() -> impl IntoView {
    let session = expect_context::<Session>();
    let query = use_query_map();
    let param = move |k: &str| query.read_untracked().get(k).unwrap_or_default();
    let (redirect_uri, state) = (param("redirect_uri"), param("state"));
    let name = param("name");
    let input = approve_cli_login::ApproveCliLoginInput {
        redirect_uri: redirect_uri.clone(),
        state: state.clone(),
        code_challenge: param("code_challenge"),
        code_challenge_method: param("code_challenge_method"),
        name: Some(name.clone()).filter(|n| !n.is_empty()),
    };
    let error = RwSignal::new(None::<String>);
    let approve = Action::new_local(move |input: &approve_cli_login::ApproveCliLoginInput| {
        let input = input.clone();
        async move { api::run::<ApproveCliLogin>(approve_cli_login::Variables { input }).await }
    });
    Effect::new(move |_| match approve.value().get() {
        Some(Ok(done)) => {
            let _ = window()
                .location()
                .set_href(&done.approve_cli_login.redirect_to);
        }
        Some(Err(e)) => error.set(Some(error_text(&e))),
        None => {}
    });
    let loopback = redirect_uri.starts_with("http://127.0.0.1:")
        || redirect_uri.starts_with("http://[::1]:")
        || redirect_uri.starts_with("http://localhost:");
    // Cancelling tells the CLI, as OAuth does, so it stops waiting.
    let cancel_to = format!(
        "{redirect_uri}{}error=access_denied&state={}",
        if redirect_uri.contains('?') { '&' } else { '?' },
        String::from(js_sys::encode_uri_component(&state))
    );
    let machine = if name.is_empty() {
        "this computer".to_owned()
    } else {
        format!("“{name}”")
    };
    let email = move || {
        session
            .me
            .get()
            .and_then(|m| m.me.user)
            .map(|u| u.email)
            .unwrap_or_default()
    };
    view! {
        <PageHeader title="Sign in the Keyward CLI" description="A command-line tool on your computer is asking to act as you."/>
        <section class="panel narrow">
            {if loopback {
                let input = input.clone();
                view! {
                    <h2>{move || format!("Allow the CLI on {machine} to sign in as {}?", email())}</h2>
                    <p>"It receives a personal access token named after the machine, which acts as you in every organization you belong to. Continue only if you just ran "<code>"keyward login"</code>"."</p>
                    {form_error(error)}
                    <div class="actions">
                        <a class="button" rel="external" id="cli-cancel" href=cancel_to.clone()>"Cancel"</a>
                        <button id="cli-approve" class="primary" disabled=move || approve.pending().get()
                            on:click=move |_| { approve.dispatch(input.clone()); }>"Approve"</button>
                    </div>
                }.into_any()
            } else {
                view! { <p role="alert">"This sign-in link is not from a CLI on this computer, so it cannot be approved."</p> }.into_any()
            }}
        </section>
    }
}

/// A device login that can no longer be answered, in words.
fn answered_word(status: &device_authorization::DeviceStatus) -> &'static str {
    use device_authorization::DeviceStatus as S;
    match status {
        S::PENDING => "still waiting",
        S::APPROVED => "approved already",
        S::DENIED => "denied already",
        S::COMPLETED => "used already",
        S::EXPIRED => "expired",
        S::Other(_) => "no longer usable",
    }
}

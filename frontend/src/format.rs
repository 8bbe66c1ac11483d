//! Numbers and times as people read them.

use leptos::prelude::*;

pub use crate::logic::compact;

/// An RFC 3339 time as `YYYY-MM-DD HH:MM UTC`.
pub fn utc(rfc3339: &str) -> String {
    let date = rfc3339.get(..10).unwrap_or(rfc3339);
    let clock = rfc3339.get(11..16).unwrap_or("");
    format!("{date} {clock} UTC")
}

/// An RFC 3339 time in the browser's time zone, `YYYY-MM-DD HH:MM`.
pub fn local(rfc3339: &str) -> String {
    let date = js_sys::Date::new(&rfc3339.into());
    if date.get_time().is_nan() {
        return utc(rfc3339);
    }
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}",
        date.get_full_year(),
        date.get_month() + 1,
        date.get_date(),
        date.get_hours(),
        date.get_minutes()
    )
}

/// Milliseconds since the epoch as RFC 3339 (UTC).
pub fn iso(millis: f64) -> String {
    String::from(js_sys::Date::new(&millis.into()).to_iso_string())
}

/// Now, in milliseconds since the epoch.
pub fn now() -> f64 {
    js_sys::Date::now()
}

/// A time in the user's zone, with UTC on hover.
#[component]
pub fn Time(at: String) -> impl IntoView {
    view! { <time datetime=at.clone() title=utc(&at)>{local(&at)}</time> }
}

/// A recent time as how long ago it was ("5 minutes ago"), the exact time on hover; an
/// older one as its date.
#[component]
pub fn Ago(at: String) -> impl IntoView {
    let then = js_sys::Date::parse(&at);
    match crate::logic::ago(now(), then) {
        Some(words) => view! { <time datetime=at.clone() title=format!("{} ({})", local(&at), utc(&at))>{words}</time> }.into_any(),
        None => view! { <Time at=at/> }.into_any(),
    }
}

/// A time, or a word when there is none ("Never").
pub fn time_or(at: Option<String>, none: &'static str) -> AnyView {
    match at {
        Some(at) => view! { <Time at=at/> }.into_any(),
        None => none.into_any(),
    }
}

/// When a credential expires ("Never"), with the amber badge in its last 7 days.
pub fn expires(at: Option<String>, soon: bool) -> impl IntoView {
    view! {
        {time_or(at, "Never")}
        {soon.then(|| view! { <span class="badge warn">"⚠ Expires soon"</span> })}
    }
}

//! Keyward's dashboard: a Leptos single-page app whose only backend is the GraphQL API.

#[cfg(target_arch = "wasm32")]
mod api;
#[cfg(target_arch = "wasm32")]
mod app;
#[cfg(target_arch = "wasm32")]
mod format;
#[cfg(target_arch = "wasm32")]
mod keys;
#[cfg(target_arch = "wasm32")]
mod tokens;

#[cfg(target_arch = "wasm32")]
fn main() {
    console_error_panic_hook::set_once();
    leptos::mount::mount_to_body(app::App);
}

/// The dashboard is built for the browser only (`trunk build`).
#[cfg(not(target_arch = "wasm32"))]
fn main() {}

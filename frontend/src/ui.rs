//! The dashboard's building blocks: toasts, page header, skeleton rows, empty states,
//! status badges, dialogs and the pager every list uses.

use leptos::{html, prelude::*};

use crate::api::ApiError;

/// Messages shown bottom-right: successes leave after 5 s, errors stay until dismissed.
#[derive(Clone, Copy)]
pub struct Toasts {
    items: RwSignal<Vec<(u32, bool, String)>>,
    next: StoredValue<u32>,
}

impl Toasts {
    pub fn provide() -> Self {
        let toasts = Self {
            items: RwSignal::new(Vec::new()),
            next: StoredValue::new(0),
        };
        provide_context(toasts);
        toasts
    }

    fn push(&self, ok: bool, text: String) -> u32 {
        let id = self.next.get_value();
        self.next.set_value(id + 1);
        self.items.update(|v| v.push((id, ok, text)));
        id
    }

    /// A success, in the polite live region, gone after 5 seconds.
    pub fn ok(&self, text: impl Into<String>) {
        let id = self.push(true, text.into());
        let items = self.items;
        set_timeout(
            move || items.update(|v| v.retain(|t| t.0 != id)),
            std::time::Duration::from_secs(5),
        );
    }

    /// An error, announced as an alert, kept until dismissed.
    pub fn error(&self, err: &ApiError) {
        self.push(false, crate::app::error_text(err));
    }
}

/// The toast stack; placed once in the shell.
#[component]
pub fn ToastRegion() -> impl IntoView {
    let toasts = expect_context::<Toasts>();
    let shown = move |ok: bool| {
        toasts
            .items
            .get()
            .into_iter()
            .filter(move |t| t.1 == ok)
            .map(move |(id, _, text)| {
                view! {
                    <div class=if ok { "toast ok" } else { "toast bad" }>
                        <span>{text}</span>
                        {(!ok).then(|| view! {
                            <button class="small" aria-label="Dismiss" on:click=move |_| toasts.items.update(|v| v.retain(|t| t.0 != id))>"✕"</button>
                        })}
                    </div>
                }
            })
            .collect_view()
    };
    view! {
        <div class="toasts">
            <div role="status" aria-live="polite">{move || shown(true)}</div>
            <div role="alert">{move || shown(false)}</div>
        </div>
    }
}

/// Title, one line of description, and the page's primary action on the right.
#[component]
pub fn PageHeader(
    title: &'static str,
    description: &'static str,
    #[prop(optional)] children: Option<Children>,
) -> impl IntoView {
    view! {
        <header class="page-header">
            <div>
                <h1>{title}</h1>
                <p class="muted">{description}</p>
            </div>
            {children.map(|c| c())}
        </header>
    }
}

/// Grey rows while a list loads.
#[component]
pub fn Skeleton(label: &'static str) -> impl IntoView {
    view! {
        <div class="skeleton" role="status" aria-busy="true" aria-label=label>
            <div></div><div></div><div></div>
        </div>
    }
}

/// What a list shows with nothing in it: one line and the way forward.
#[component]
pub fn Empty(text: String, children: Children) -> impl IntoView {
    view! {
        <div class="empty">
            <p>{text}</p>
            {children()}
        </div>
    }
}

/// A status in words and colour (never colour alone).
#[component]
pub fn Badge(text: String, tone: &'static str) -> impl IntoView {
    view! { <span class=format!("badge {tone}")>{text}</span> }
}

/// Opens a `<dialog>` as a modal.
pub fn open(dialog: NodeRef<html::Dialog>) {
    if let Some(d) = dialog.get_untracked() {
        let _ = d.show_modal();
    }
}

/// Closes a `<dialog>`; the browser returns focus to what opened it.
pub fn close(dialog: NodeRef<html::Dialog>) {
    if let Some(d) = dialog.get_untracked() {
        d.close();
    }
}

/// Asks before something destructive.
pub fn confirm(question: &str) -> bool {
    window().confirm_with_message(question).unwrap_or(false)
}

/// An inline form error, announced when it appears.
pub fn form_error(error: RwSignal<Option<String>>) -> impl IntoView {
    move || {
        error
            .get()
            .map(|e| view! { <p role="alert" class="error">{e}</p> })
    }
}

/// Cursor pages: the cursors of the pages before this one, and this one's.
#[derive(Clone, Copy)]
pub struct Pager {
    cursors: RwSignal<Vec<Option<String>>>,
    pub size: i64,
}

impl Pager {
    pub fn new(size: i64) -> Self {
        Self {
            cursors: RwSignal::new(vec![None]),
            size,
        }
    }

    /// The cursor the current page starts after (tracked).
    pub fn after(&self) -> Option<String> {
        self.cursors.get().last().cloned().flatten()
    }

    /// Back to the first page, e.g. when a filter changes; on the first page already,
    /// nothing changes (and nothing loads again because of it). Says whether it moved.
    pub fn reset(&self) -> bool {
        let paged = self.cursors.with_untracked(|c| c.len() > 1);
        if paged {
            self.cursors.set(vec![None]);
        }
        paged
    }

    /// Whether the current page is a later one, not the first (tracked).
    pub fn later(&self) -> bool {
        self.cursors.with(|c| c.len() > 1)
    }

    /// What a later page shows when it comes back empty: the rows it would have held
    /// were removed, or stopped matching, since the page before was read.
    pub fn emptied(&self) -> AnyView {
        let pager = *self;
        view! {
            <Empty text="Nothing is left on this page: the items after the last page changed since it was read.".into()>
                <button on:click=move |_| { pager.reset(); }>"Back to the first page"</button>
            </Empty>
        }
        .into_any()
    }

    /// "1–50 of N" with previous and next.
    pub fn footer(&self, shown: usize, total: i64, next: Option<String>) -> impl IntoView {
        let pager = *self;
        let page = self.cursors.get_untracked().len() - 1;
        let label = crate::logic::range_label(page, self.size, shown, total);
        view! {
            <nav class="footer pager" aria-label="Pages">
                <span class="muted">{label}</span>
                <button class="small" disabled=page == 0 on:click=move |_| pager.cursors.update(|c| { c.pop(); })>
                    "Previous"
                </button>
                <button class="small" disabled=next.is_none() on:click=move |_| {
                    let next = next.clone();
                    pager.cursors.update(|c| c.push(next));
                }>
                    "Next"
                </button>
            </nav>
        }
    }
}

/// A value kept in the address's query (`?key=value`), and its setter. Pages read it
/// through a plain signal that follows the address, so resources built on it always
/// load again when it changes.
pub fn query_param(
    key: &'static str,
) -> (ReadSignal<Option<String>>, SignalSetter<Option<String>>) {
    let (memo, set) = leptos_router::hooks::query_signal::<String>(key);
    let value = RwSignal::new(memo.get_untracked());
    Effect::new(move |_| {
        let current = memo.get();
        if current != value.get_untracked() {
            value.set(current);
        }
    });
    (value.read_only(), set)
}

/// A table's header row; an empty name is a visually hidden "Actions" column, and a
/// name starting `~` is a column that folds away at phone width (its cells are
/// `class="fold"`), so that a row there keeps its name, status and actions.
pub fn table_head(columns: &[&'static str]) -> impl IntoView + use<> {
    let cells = columns
        .iter()
        .map(|&c| {
            if c.is_empty() {
                view! { <th scope="col"><span class="visually-hidden">"Actions"</span></th> }
                    .into_any()
            } else if let Some(c) = c.strip_prefix('~') {
                view! { <th scope="col" class="fold">{c}</th> }.into_any()
            } else {
                view! { <th scope="col">{c}</th> }.into_any()
            }
        })
        .collect_view();
    view! { <thead><tr>{cells}</tr></thead> }
}

/// The options of a role picker: `chosen`, or the last (least) role until one is chosen.
pub fn role_options(roles: Vec<(String, String)>, chosen: &str) -> impl IntoView + use<> {
    let last = roles.len().saturating_sub(1);
    roles
        .into_iter()
        .enumerate()
        .map(|(i, (id, name))| {
            let selected = if chosen.is_empty() {
                i == last
            } else {
                id == chosen
            };
            view! { <option value=id selected=selected>{name}</option> }
        })
        .collect_view()
}

/// The role a picker stands on: the chosen one, or the default [`role_options`] shows.
pub fn chosen_role(chosen: String, roles: Option<Vec<(String, String)>>) -> String {
    Some(chosen)
        .filter(|r| !r.is_empty())
        .or_else(|| roles.and_then(|r| r.last().map(|(id, _)| id.clone())))
        .unwrap_or_default()
}

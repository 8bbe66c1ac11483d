//! Sign-in problems met in a browser (SPEC §2, UX "Never a dead end"): a browser that
//! navigates to `/auth/login`, `/auth/callback` or `/auth/dev` and is refused lands on a
//! small page that says what happened and what to do next, never on raw JSON. A client
//! that does not ask for HTML still gets the problem as JSON.

use axum::{
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{Html, IntoResponse, Response},
};

use crate::error::AppError;

/// What the page offers as the way forward.
pub enum Next {
    /// A link to follow ("Sign in again").
    Link { label: &'static str, href: String },
    /// A command to run where the server runs, and a link to the sign-in page.
    Command {
        command: &'static str,
        why: &'static str,
    },
}

/// Whether the request is a browser's navigation (it asks for HTML).
pub fn wants_html(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| {
            v.split(',')
                .any(|part| part.trim().split(';').next() == Some("text/html"))
        })
}

/// Answers `err` as a page when the browser asked for HTML, else as the usual problem.
pub fn refusal(headers: &HeaderMap, err: AppError, next: Next) -> Response {
    if !wants_html(headers) {
        return err.into_response();
    }
    let status = crate::rest::problem::status(&err);
    page(status, &sentence(&err.to_string()), next)
}

/// The page: a heading, what happened, and what to do.
pub fn page(status: StatusCode, what: &str, next: Next) -> Response {
    let todo = match next {
        Next::Link { label, href } => format!(
            r#"<p><a class="button" href="{}">{}</a></p>"#,
            escape(&href),
            escape(label)
        ),
        Next::Command { command, why } => format!(
            r#"<p>{}</p><pre><code>{}</code></pre><p>Then open the link it prints. <a href="/sign-in">Back to sign-in</a></p>"#,
            escape(why),
            escape(command)
        ),
    };
    let body = format!(
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Sign-in problem · Keyward</title>
<style>body{{font:16px/1.5 system-ui,sans-serif;max-width:34rem;margin:4rem auto;padding:0 1rem;color:#1f2328}}h1{{font-size:1.4rem}}pre{{background:#f6f8fa;padding:.75rem;border-radius:6px;overflow-x:auto}}.button{{display:inline-block;background:#1f6feb;color:#fff;padding:.5rem 1rem;border-radius:6px;text-decoration:none}}</style>
</head><body><main><h1>Sign-in did not work</h1><p role="alert">{}</p>{todo}</main></body></html>
"#,
        escape(what)
    );
    let mut response = (status, Html(body)).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'",
        ),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    response
}

/// "sign-in failed: the link…" → "Sign-in failed: the link….": a sentence.
fn sentence(text: &str) -> String {
    let mut chars = text.chars();
    let mut out: String = match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    };
    if !out.ends_with('.') {
        out.push('.');
    }
    out
}

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn browsers_ask_for_html_and_clients_do_not() {
        let mut h = HeaderMap::new();
        assert!(!wants_html(&h));
        h.insert(header::ACCEPT, HeaderValue::from_static("*/*"));
        assert!(!wants_html(&h));
        h.insert(
            header::ACCEPT,
            HeaderValue::from_static("text/html,application/xhtml+xml;q=0.9,*/*;q=0.8"),
        );
        assert!(wants_html(&h));
    }

    #[test]
    fn everything_shown_is_escaped() {
        assert_eq!(
            escape(r#"<a href="x">&'"#),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
        assert_eq!(sentence("sign-in failed: x"), "Sign-in failed: x.");
    }
}

//! Signing in and out of the dashboard (SPEC §2): the identity provider's login and
//! callback, the development sign-in, the ways of signing in, and sign-out. Refusals a
//! person reads in a browser are pages ([`page`]).

pub mod page;

use axum::{
    extract::State,
    http::HeaderMap,
    response::{IntoResponse, Redirect, Response},
};
use serde::Deserialize;
use tower_cookies::{Cookie, Cookies, cookie::SameSite};

use crate::{
    auth::Authenticated,
    domain::{Principal, RequestMeta, sessions::SESSION_COOKIE},
    error::AppError,
    oidc,
    rest::Query,
    state::AppState,
};

/// A session cookie holding `secret`.
pub fn session_cookie(state: &AppState, secret: String) -> Cookie<'static> {
    base_cookie(state, SESSION_COOKIE, secret)
}

/// Name of the short-lived cookie that carries a sign-in from login to callback.
pub const SIGNIN_COOKIE: &str = "keyward_signin";

fn base_cookie(state: &AppState, name: &'static str, value: String) -> Cookie<'static> {
    let mut cookie = Cookie::new(name, value);
    cookie.set_http_only(true);
    cookie.set_same_site(SameSite::Lax);
    cookie.set_path("/");
    cookie.set_secure(!state.services.config.insecure_cookies_allowed());
    cookie
}

#[derive(Deserialize)]
pub struct LoginQuery {
    return_to: Option<String>,
    login_hint: Option<String>,
}

/// `GET /auth/login`: sends the browser to the identity provider.
#[utoipa::path(
    get,
    path = "/auth/login",
    tag = "sign-in",
    summary = "Start an OIDC sign-in",
    params(
        ("return_to" = Option<String>, Query, description = "A path on this server to come back to."),
        ("login_hint" = Option<String>, Query, description = "Passed on to the identity provider."),
    ),
    responses(
        (status = 303, description = "To the identity provider, with a sign-in cookie.", headers(("location" = String))),
        (status = 400, response = crate::rest::openapi::InvalidInput),
        (status = 404, response = crate::rest::openapi::NotFound),
    )
)]
pub async fn login(
    State(state): State<AppState>,
    cookies: Cookies,
    headers: HeaderMap,
    Query(q): Query<LoginQuery>,
) -> Response {
    let Some(provider) = &state.oidc else {
        return page::refusal(
            &headers,
            AppError::NotFound("OIDC sign-in (no provider is configured)"),
            back_to_signin(),
        );
    };
    let hint = q
        .login_hint
        .as_deref()
        .map(str::trim)
        .filter(|h| !h.is_empty() && h.len() <= 254);
    match provider
        .authorize(oidc::local_return_to(q.return_to.as_deref()), hint)
        .await
    {
        Ok((url, pending)) => {
            let Ok(value) = serde_json::to_string(&pending) else {
                return AppError::internal(std::io::Error::other("sign-in state")).into_response();
            };
            let mut cookie = base_cookie(&state, SIGNIN_COOKIE, value);
            cookie.set_max_age(tower_cookies::cookie::time::Duration::minutes(10));
            cookies.private(&state.cookie_key).add(cookie);
            Redirect::to(&url).into_response()
        }
        Err(e) => page::refusal(&headers, AppError::from(e), back_to_signin()),
    }
}

/// The way forward from a failed browser sign-in: the sign-in page, which offers every
/// method this server has.
fn back_to_signin() -> page::Next {
    page::Next::Link {
        label: "Sign in again",
        href: "/sign-in".into(),
    }
}

#[derive(Deserialize)]
pub struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
}

/// `GET /auth/callback`: the provider sends the browser back here.
#[utoipa::path(
    get,
    path = "/auth/callback",
    tag = "sign-in",
    summary = "Finish an OIDC sign-in",
    params(
        ("code" = Option<String>, Query),
        ("state" = Option<String>, Query),
        ("error" = Option<String>, Query),
    ),
    responses(
        (status = 303, description = "Signed in: to where the sign-in started, with the session cookie.", headers(("location" = String))),
        (status = 400, response = crate::rest::openapi::InvalidInput),
        (status = 401, response = crate::rest::openapi::Unauthenticated),
        (status = 404, response = crate::rest::openapi::NotFound),
    )
)]
pub async fn callback(
    State(state): State<AppState>,
    cookies: Cookies,
    headers: HeaderMap,
    meta: axum::Extension<RequestMeta>,
    Query(q): Query<CallbackQuery>,
) -> Response {
    let refused = |err: AppError| page::refusal(&headers, err, back_to_signin());
    let Some(provider) = &state.oidc else {
        return refused(AppError::NotFound(
            "OIDC sign-in (no provider is configured)",
        ));
    };
    let private = cookies.private(&state.cookie_key);
    let pending = private
        .get(SIGNIN_COOKIE)
        .and_then(|c| serde_json::from_str::<oidc::PendingLogin>(c.value()).ok());
    // The sign-in state is single-use, whatever the outcome.
    let mut removal = Cookie::from(SIGNIN_COOKIE);
    removal.set_path("/");
    private.remove(removal);
    let Some(pending) = pending else {
        return refused(AppError::SignInRefused(
            "no sign-in is in progress in this browser (it took over ten minutes, or began in another browser); start again".into(),
        ));
    };
    if let Some(error) = q.error {
        let error: String = error
            .chars()
            .filter(|c| c.is_ascii_graphic())
            .take(64)
            .collect();
        return refused(AppError::SignInRefused(format!(
            "the identity provider answered `{error}`"
        )));
    }
    let (Some(code), Some(returned_state)) = (q.code, q.state) else {
        return refused(AppError::invalid(
            "code",
            "the callback needs `code` and `state`",
        ));
    };
    let identity = match provider.complete(&code, &returned_state, &pending).await {
        Ok(identity) => identity,
        Err(e) => return refused(AppError::from(e)),
    };
    match state.services.sign_in(&identity, &meta.0).await {
        Ok(signed_in) => {
            cookies.private(&state.cookie_key).add(session_cookie(
                &state,
                signed_in.session.expose_secret().to_owned(),
            ));
            Redirect::to(&pending.return_to).into_response()
        }
        Err(err) => refused(err),
    }
}

#[derive(Deserialize)]
pub struct DevSigninQuery {
    token: Option<String>,
}

/// `GET /auth/methods`: which ways of signing in this server offers (for the dashboard).
#[utoipa::path(
    get,
    path = "/auth/methods",
    tag = "sign-in",
    responses((status = 200, description = "The ways of signing in.", body = crate::rest::openapi::SignInMethods))
)]
pub async fn methods(State(state): State<AppState>) -> axum::Json<serde_json::Value> {
    axum::Json(serde_json::json!({
        "oidc": state.oidc.is_some(),
        "development": state.services.config.dev_signin_enabled(),
    }))
}

/// `GET /auth/dev?token=…`: redeems the one-time development sign-in link.
#[utoipa::path(
    get,
    path = "/auth/dev",
    tag = "sign-in",
    summary = "Redeem the development sign-in link",
    params(("token" = String, Query, description = "The one-time token of a link printed at start-up or by `keyward-server signin-link`.")),
    responses(
        (status = 303, description = "Signed in: to the dashboard, with the session cookie.", headers(("location" = String))),
        (status = 400, response = crate::rest::openapi::InvalidInput),
        (status = 401, response = crate::rest::openapi::Unauthenticated),
        (status = 404, response = crate::rest::openapi::NotFound),
    )
)]
pub async fn dev_signin(
    State(state): State<AppState>,
    cookies: Cookies,
    headers: HeaderMap,
    parts_meta: axum::Extension<RequestMeta>,
    Query(q): Query<DevSigninQuery>,
) -> Response {
    let redeemed = match q.token.as_deref() {
        Some(token) => state.services.redeem_dev_signin(token, &parts_meta.0).await,
        None => Err(AppError::invalid(
            "token",
            "the link has no token: copy the whole link",
        )),
    };
    match redeemed {
        Ok(secret) => {
            cookies
                .private(&state.cookie_key)
                .add(session_cookie(&state, secret.expose_secret().to_owned()));
            // To the dashboard when it is served, else to GraphiQL.
            let to = if state.services.config.dashboard_dir.is_some() {
                "/"
            } else {
                "/graphql"
            };
            Redirect::to(to).into_response()
        }
        Err(err @ AppError::NotFound(_)) => page::refusal(&headers, err, back_to_signin()),
        Err(err) => page::refusal(
            &headers,
            err,
            page::Next::Command {
                command: "keyward-server signin-link",
                why: "For a fresh link, run this where the server runs, with the same settings:",
            },
        ),
    }
}

/// `POST /auth/logout`: ends the current session.
#[utoipa::path(
    post,
    path = "/auth/logout",
    tag = "sign-in",
    summary = "Sign out",
    description = "Ends the dashboard session the cookie carries. A token is refused (403): \
        revoke one with `POST /api/v1/pats/current/revoke`.",
    security(("session" = [])),
    responses(
        (status = 204, description = "The session is ended and its cookie removed."),
        (status = 401, response = crate::rest::openapi::Unauthenticated),
        (status = 403, response = crate::rest::openapi::Forbidden),
        (status = 404, response = crate::rest::openapi::NotFound),
        (status = 429, response = crate::rest::openapi::RateLimited),
    )
)]
pub async fn logout(
    State(state): State<AppState>,
    cookies: Cookies,
    Authenticated(actor): Authenticated,
) -> Response {
    // Sign-out ends a dashboard session; a token presented here would be left valid while
    // the answer said "signed out".
    let Principal::Session { .. } = actor.principal else {
        return AppError::Forbidden(
            "sign-out ends a dashboard session; revoke a token with POST /api/v1/pats/current/revoke"
                .into(),
        )
        .into_response();
    };
    if let Err(err) = state.services.end_session(&actor).await {
        return err.into_response();
    }
    let mut removal = Cookie::from(SESSION_COOKIE);
    removal.set_path("/");
    cookies.private(&state.cookie_key).remove(removal);
    axum::http::StatusCode::NO_CONTENT.into_response()
}

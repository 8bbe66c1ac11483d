//! The three ways to log in (SPEC §7, §11): the browser loopback flow (RFC 8252, with
//! state and S256 PKCE), the device flow (RFC 8628) for machines without a browser, and a
//! pasted token. The first two end with a personal access token named after the machine.

use std::{collections::HashMap, future::Future, time::Duration};

use axum::{
    Router,
    extract::{Query, State},
    http::StatusCode,
    response::Html,
    routing::get,
};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use serde_json::Value;
use sha2::{Digest, Sha256};
use tokio::sync::{Mutex, oneshot};

use crate::{
    client::Client,
    error::{Error, Result},
    token::{self, Secret},
};

/// A token the server issued to this machine.
#[derive(Debug, Clone)]
pub struct Issued {
    pub token: Secret,
    /// Its name on the server: the machine's.
    pub name: String,
    /// Seconds until it expires, as the server said.
    pub expires_in: Option<i64>,
}

fn issued(body: &Value) -> Result<Issued> {
    let token = body["access_token"]
        .as_str()
        .ok_or_else(|| Error::other("the server's answer carried no token"))?;
    Ok(Issued {
        token: Secret::new(token),
        name: body["name"].as_str().unwrap_or_default().to_owned(),
        expires_in: body["expires_in"].as_i64(),
    })
}

/// This machine's name, which a login's token is named after.
pub fn machine_name() -> String {
    let name = gethostname::gethostname()
        .to_string_lossy()
        .trim()
        .to_owned();
    if name.is_empty() {
        "keyward-cli".to_owned()
    } else {
        name
    }
}

/// Whether this looks like a machine without a browser to open: an SSH session, CI, or
/// (on Linux and the BSDs) no graphical display.
pub fn headless(env: impl Fn(&str) -> Option<String>) -> bool {
    let set = |name: &str| {
        env(name).is_some_and(|v| !matches!(v.trim(), "" | "0" | "false" | "False" | "FALSE"))
    };
    let no_display =
        cfg!(all(unix, not(target_os = "macos"))) && !set("DISPLAY") && !set("WAYLAND_DISPLAY");
    set("SSH_CONNECTION") || set("SSH_TTY") || set("CI") || no_display
}

/// Checks a pasted token offline, then asks the server who it is, before anything is
/// saved. The token is never part of an error.
pub async fn with_token(client: &Client, raw: &str) -> Result<(Secret, crate::client::Me)> {
    let raw = raw.trim();
    token::check(raw).map_err(|why| Error::usage(format!("this token is mistyped: {why}")))?;
    let secret = Secret::new(raw);
    let me = client
        .with_token(Some(secret.clone()))
        .me()
        .await
        .map_err(|err| match err {
            Error::Unauthenticated(why) => {
                Error::Unauthenticated(why.replace("your token", "this token").replace(
                    ": run `keyward login`",
                    ": use another one, or run `keyward login`",
                ))
            }
            other => other,
        })?;
    Ok((secret, me))
}

fn random_url_safe(bytes: usize) -> Result<String> {
    let mut buf = vec![0; bytes];
    getrandom::fill(&mut buf)
        .map_err(|e| Error::other(format!("the system's random source failed: {e}")))?;
    Ok(URL_SAFE_NO_PAD.encode(buf))
}

/// What the browser flow tells the person at the terminal.
pub trait BrowserPrompt {
    /// The browser was started on `url`; shown in case no window appears.
    fn opening(&mut self, url: &str);
}

/// The listener's answer: the code, or the browser's refusal.
type Callback = std::result::Result<String, String>;

struct Listener {
    state: String,
    answer: Mutex<Option<oneshot::Sender<Callback>>>,
}

const CALLBACK_PAGE: &str = "<!doctype html><meta charset=utf-8><title>Keyward CLI</title>\
<body style=\"font-family:system-ui;margin:4rem auto;max-width:32rem\"><h1>{title}</h1><p>{text}</p>";

fn page(title: &str, text: &str) -> Html<String> {
    Html(
        CALLBACK_PAGE
            .replace("{title}", title)
            .replace("{text}", text),
    )
}

async fn callback(
    State(listener): State<std::sync::Arc<Listener>>,
    Query(query): Query<HashMap<String, String>>,
) -> (StatusCode, Html<String>) {
    // Anything on this machine can reach the port: only the browser that went through
    // the server's consent page knows the state.
    if query.get("state") != Some(&listener.state) {
        return (
            StatusCode::BAD_REQUEST,
            page(
                "Not this sign-in",
                "This answer does not belong to the login waiting in your terminal.",
            ),
        );
    }
    let answer = match (query.get("code"), query.get("error")) {
        (Some(code), None) => Ok(code.clone()),
        (_, error) => Err(error.cloned().unwrap_or_else(|| "no code".into())),
    };
    let approved = answer.is_ok();
    if let Some(tx) = listener.answer.lock().await.take() {
        let _ = tx.send(answer);
    }
    if approved {
        (
            StatusCode::OK,
            page(
                "You are signed in",
                "You can close this tab and return to your terminal.",
            ),
        )
    } else {
        (
            StatusCode::OK,
            page(
                "Sign-in cancelled",
                "Nothing was issued. You can close this tab.",
            ),
        )
    }
}

/// The browser loopback flow: listens on `127.0.0.1`, opens the server's consent page
/// with `open`, waits up to `timeout` for the browser to come back, then exchanges the
/// one-time code and the PKCE verifier for a token.
pub async fn browser(
    client: &Client,
    name: &str,
    open: impl FnOnce(&str) -> Result<()>,
    prompt: &mut impl BrowserPrompt,
    timeout: Duration,
) -> Result<Issued> {
    let socket = tokio::net::TcpListener::bind(("127.0.0.1", 0))
        .await
        .map_err(|e| Error::other(format!("cannot listen on 127.0.0.1 for the browser: {e}")))?;
    let port = socket
        .local_addr()
        .map_err(|e| Error::other(format!("cannot listen on 127.0.0.1 for the browser: {e}")))?
        .port();
    let redirect_uri = format!("http://127.0.0.1:{port}/callback");
    let state = random_url_safe(24)?;
    let verifier = random_url_safe(48)?;
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    let url = reqwest::Url::parse_with_params(
        &client.url("/cli/authorize"),
        [
            ("redirect_uri", redirect_uri.as_str()),
            ("state", state.as_str()),
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "S256"),
            ("name", name),
        ],
    )
    .map_err(|e| Error::other(format!("cannot build the sign-in URL: {e}")))?;

    let (tx, rx) = oneshot::channel();
    let listener = std::sync::Arc::new(Listener {
        state,
        answer: Mutex::new(Some(tx)),
    });
    let app = Router::new()
        .route("/callback", get(callback))
        .with_state(listener);
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        axum::serve(socket, app)
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            })
            .await
    });

    // No browser: nothing will ever come back, so the login does not wait for it.
    let answer = match open(url.as_str()) {
        Ok(()) => {
            prompt.opening(url.as_str());
            tokio::time::timeout(timeout, rx).await
        }
        Err(err) => {
            let _ = stop.send(());
            server.abort();
            return Err(match err {
                Error::Other(why) => Error::NoBrowser(why),
                other => other,
            });
        }
    };
    // The browser gets its page; a connection that never finishes its request does not
    // hold the login up.
    let _ = stop.send(());
    let abort = server.abort_handle();
    if tokio::time::timeout(Duration::from_secs(2), server)
        .await
        .is_err()
    {
        abort.abort();
    }
    let code = match answer {
        Err(_) => {
            return Err(Error::other(format!(
                "no answer from the browser in {}: run `keyward login` again, or `keyward login --device` to sign in on another device",
                humantime::format_duration(timeout)
            )));
        }
        Ok(Err(_)) => return Err(Error::other("the browser never answered")),
        Ok(Ok(Err(error))) if error == "access_denied" => {
            return Err(Error::Unauthenticated(
                "the sign-in was cancelled in the browser".into(),
            ));
        }
        Ok(Ok(Err(_))) => {
            return Err(Error::other(
                "the browser sign-in failed: run `keyward login` again",
            ));
        }
        Ok(Ok(Ok(code))) => code,
    };
    let (status, body) = client
        .post_form(
            "/api/v1/cli/exchange-token",
            &[
                ("code", code.as_str()),
                ("code_verifier", verifier.as_str()),
                ("redirect_uri", redirect_uri.as_str()),
            ],
        )
        .await?;
    if status != 200 {
        let detail = body["detail"].as_str().unwrap_or("the code was refused");
        return Err(Error::Refused(format!(
            "the server refused the sign-in code ({detail}): run `keyward login` again"
        )));
    }
    issued(&body)
}

/// Opens `url` in the browser: `KEYWARD_BROWSER_CMD` when set (`{url}` in it is replaced
/// by the URL, else the URL is appended; the started command is returned), else the
/// platform's opener.
pub fn open_in_browser(command: Option<&str>, url: &str) -> Result<Option<std::process::Child>> {
    let Some(command) = command.filter(|c| !c.trim().is_empty()) else {
        return webbrowser::open(url)
            .map(|()| None)
            .map_err(|e| Error::other(e.to_string()));
    };
    let mut words = shell_words::split(command)
        .map_err(|e| Error::usage(format!("KEYWARD_BROWSER_CMD does not parse: {e}")))?;
    if words.iter().any(|w| w.contains("{url}")) {
        for word in &mut words {
            *word = word.replace("{url}", url);
        }
    } else {
        words.push(url.to_owned());
    }
    let (program, args) = words
        .split_first()
        .ok_or_else(|| Error::usage("KEYWARD_BROWSER_CMD is empty"))?;
    std::process::Command::new(program)
        .args(args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .spawn()
        .map(Some)
        .map_err(|e| {
            Error::other(format!(
                "KEYWARD_BROWSER_CMD `{program}` did not start: {e}"
            ))
        })
}

/// A device login waiting for approval, as shown to the person.
#[derive(Debug, Clone)]
pub struct DeviceCode {
    /// `BCDF-GHJK`: typed at `verification_uri`.
    pub user_code: String,
    pub verification_uri: String,
    /// The page with the code filled in.
    pub verification_uri_complete: String,
    pub expires_in: Duration,
    device_code: Secret,
    interval: Duration,
}

/// What the device flow tells the person while it waits.
pub trait DevicePrompt {
    /// The code to enter and where.
    fn code(&mut self, code: &DeviceCode);
    /// Still waiting for approval.
    fn pending(&mut self) {}
    /// The server asked to poll less often; `interval` is the new pace.
    fn slowed(&mut self, interval: Duration) {
        let _ = interval;
    }
}

/// Prints the code and where to enter it on standard error: enough for most product
/// CLIs.
#[derive(Debug, Default)]
pub struct PrintCode;

impl DevicePrompt for PrintCode {
    fn code(&mut self, code: &DeviceCode) {
        eprintln!(
            "Open {} and confirm the code {}",
            code.verification_uri_complete, code.user_code
        );
    }
}

/// How the device flow waits between polls. The CLI sleeps; a test moves a clock.
pub trait Pace {
    fn wait(&mut self, interval: Duration) -> impl Future<Output = ()>;
}

/// Real time.
#[derive(Debug, Default)]
pub struct Sleep;

impl Pace for Sleep {
    async fn wait(&mut self, interval: Duration) {
        tokio::time::sleep(interval).await;
    }
}

/// Starts a device login named `name` (`POST /api/v1/device/code`).
pub async fn start_device(client: &Client, name: &str) -> Result<DeviceCode> {
    let (status, body) = client
        .post_form("/api/v1/device/code", &[("name", name)])
        .await?;
    if status != 200 {
        let detail = body["detail"].as_str().unwrap_or("the server refused");
        return Err(Error::Refused(format!(
            "cannot start a device login: {detail}"
        )));
    }
    let text = |field: &str| {
        body[field]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| Error::other(format!("the server's answer has no {field}")))
    };
    let seconds = |field: &str| {
        body[field]
            .as_u64()
            .filter(|s| (1..=3600).contains(s))
            .map(Duration::from_secs)
            .ok_or_else(|| Error::other(format!("the server's answer has no usable {field}")))
    };
    Ok(DeviceCode {
        user_code: text("user_code")?,
        verification_uri: text("verification_uri")?,
        verification_uri_complete: text("verification_uri_complete")?,
        expires_in: seconds("expires_in")?,
        device_code: Secret::new(text("device_code")?),
        interval: seconds("interval")?,
    })
}

/// Polls a device login until it is approved, denied or expires, at the server's pace
/// (`interval`, five seconds more after each `slow_down`).
pub async fn finish_device(
    client: &Client,
    code: &DeviceCode,
    prompt: &mut impl DevicePrompt,
    pace: &mut impl Pace,
) -> Result<Issued> {
    let mut interval = code.interval;
    let mut waited = Duration::ZERO;
    loop {
        pace.wait(interval).await;
        waited = waited.saturating_add(interval);
        let (status, body) = client
            .post_form(
                "/api/v1/device/token",
                &[
                    ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
                    ("device_code", code.device_code.expose()),
                ],
            )
            .await?;
        if status == 200 {
            return issued(&body);
        }
        match body["error"].as_str() {
            Some("authorization_pending") => prompt.pending(),
            Some("slow_down") => {
                interval = interval.saturating_add(Duration::from_secs(5));
                prompt.slowed(interval);
            }
            Some("access_denied") => {
                return Err(Error::Unauthenticated(
                    "the login was denied in the browser".into(),
                ));
            }
            Some("expired_token") => {
                return Err(Error::Unauthenticated(
                    "the code expired before it was approved: run the command again".into(),
                ));
            }
            _ => {
                let why = body["error_description"]
                    .as_str()
                    .or(body["detail"].as_str())
                    .unwrap_or("an unexpected answer");
                return Err(Error::Refused(format!(
                    "the device login failed ({why}): run the command again"
                )));
            }
        }
        // The server has long given up: stop asking.
        if waited > code.expires_in.saturating_add(interval.saturating_mul(2)) {
            return Err(Error::Unauthenticated(
                "the code expired before it was approved: run the command again".into(),
            ));
        }
    }
}

/// The whole device flow.
pub async fn device(
    client: &Client,
    name: &str,
    prompt: &mut impl DevicePrompt,
    pace: &mut impl Pace,
) -> Result<Issued> {
    let code = start_device(client, name).await?;
    prompt.code(&code);
    finish_device(client, &code, prompt, pace).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headless_machines_are_recognised() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                pairs
                    .iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| (*v).to_owned())
            }
        };
        assert!(headless(env(&[("SSH_CONNECTION", "1.2.3.4 5 6.7.8.9 22")])));
        assert!(headless(env(&[("CI", "true"), ("DISPLAY", ":0")])));
        assert!(!headless(env(&[("DISPLAY", ":0")])));
        assert!(!headless(env(&[
            ("WAYLAND_DISPLAY", "wayland-0"),
            ("CI", "")
        ])));
        assert!(!headless(env(&[("DISPLAY", ":0"), ("CI", "false")])));
        if cfg!(all(unix, not(target_os = "macos"))) {
            assert!(headless(env(&[])), "no display");
        }
    }

    #[test]
    fn a_browser_command_gets_the_url_in_place_or_at_the_end() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("url");
        let script = format!("sh -c 'printf %s \"$1\" > {}' sh {{url}}", out.display());
        let mut started = open_in_browser(Some(&script), "http://x/?a=1&b=2")
            .unwrap()
            .unwrap();
        assert!(started.wait().unwrap().success());
        assert_eq!(std::fs::read_to_string(&out).unwrap(), "http://x/?a=1&b=2");
        assert!(open_in_browser(Some("'unclosed"), "http://x").is_err());
    }
}

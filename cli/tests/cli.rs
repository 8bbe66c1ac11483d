//! The `keyward` binary driven as a person or a script would, against the real server of
//! the test harness, on SQLite and PostgreSQL (SPEC §11).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{
    collections::VecDeque,
    path::PathBuf,
    process::Stdio,
    sync::{Arc, Mutex},
    time::Duration,
};

use keyward_cli::{
    Client,
    error::exit,
    login::{self, DeviceCode, DevicePrompt, Pace},
};
use serde_json::{Value, json};
use tests::{Db, TestApp};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};

#[macro_use]
extern crate tests;

db_tests!(
    pasted_tokens_are_checked_before_they_are_saved,
    device_login_end_to_end_when_headless,
    a_browser_that_cannot_open_falls_back_to_a_device_code,
    device_login_answers_pending_slow_down_denied_and_expired,
    browser_login_end_to_end_and_a_new_login_revokes_the_old_token,
    logout_revokes_on_the_server_and_keeps_the_settings,
    organizations_and_projects_switch_by_name_in_any_case,
    keys_from_creation_to_revocation,
    identities_and_removing_what_a_key_carries,
    personal_access_tokens,
    exit_codes_and_what_to_do_next,
);

/// A user's terminal: a home of its own, and nothing of the test's environment but PATH.
struct Terminal {
    home: tempfile::TempDir,
    server: String,
}

/// What a run printed and how it ended.
#[derive(Debug)]
struct Out {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Out {
    #[track_caller]
    fn ok(self) -> Self {
        assert_eq!(self.code, 0, "{self:#?}");
        self
    }

    #[track_caller]
    fn failed(self, code: i32, says: &str) -> Self {
        assert_eq!(self.code, code, "{self:#?}");
        assert!(self.stderr.contains(says), "{self:#?}");
        self
    }

    #[track_caller]
    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| panic!("{e}: {self:#?}"))
    }

    /// Neither stream shows `secret` (nor its random part).
    #[track_caller]
    fn hides(self, secret: &str) -> Self {
        let tail = &secret[secret.len() - 20..];
        assert!(
            !self.stdout.contains(tail) && !self.stderr.contains(tail),
            "a secret was printed: {self:#?}"
        );
        self
    }
}

impl Terminal {
    fn new(app: &TestApp) -> Self {
        Self {
            home: tempfile::tempdir().unwrap(),
            server: app.base.clone(),
        }
    }

    fn config_dir(&self) -> PathBuf {
        self.home.path().join("config").join("keyward")
    }

    fn config(&self) -> toml::Table {
        let text = std::fs::read_to_string(self.config_dir().join("config.toml")).unwrap();
        text.parse().unwrap()
    }

    fn command(&self, args: &[&str], env: &[(&str, &str)]) -> tokio::process::Command {
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_keyward"));
        command
            .args(args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", self.home.path())
            .env("XDG_CONFIG_HOME", self.home.path().join("config"))
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        command
    }

    async fn run_with(&self, args: &[&str], env: &[(&str, &str)], stdin: Option<&str>) -> Out {
        let mut command = self.command(args, env);
        if stdin.is_some() {
            command.stdin(Stdio::piped());
        }
        let mut child = command.spawn().unwrap();
        if let Some(input) = stdin {
            use tokio::io::AsyncWriteExt;
            let mut pipe = child.stdin.take().unwrap();
            pipe.write_all(input.as_bytes()).await.unwrap();
        }
        let output = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
            .await
            .expect("keyward did not finish")
            .unwrap();
        Out {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8(output.stdout).unwrap(),
            stderr: String::from_utf8(output.stderr).unwrap(),
        }
    }

    async fn run(&self, args: &[&str]) -> Out {
        self.run_with(args, &[], None).await
    }

    /// `keyward login --token TOKEN --server …`.
    async fn log_in_with(&self, token: &str) -> Out {
        self.run(&["login", "--server", &self.server, "--token", token])
            .await
    }
}

async fn spawn(db: Db) -> TestApp {
    TestApp::spawn_with(db, |c| {
        c.dev_signin = backend::config::DevSignin::On;
        c.device_poll_interval = Duration::from_secs(1);
    })
    .await
}

/// A valid-looking token for a credential that does not exist.
fn unknown_token(prefix: &str) -> String {
    let random = "Ab3xQ9zK0LmN7pR2sT5uV8wY1cD4eF6g";
    format!("{prefix}{random}{}", keyward_proto::token::checksum(random))
}

async fn pasted_tokens_are_checked_before_they_are_saved(db: Db) {
    let app = spawn(db).await;
    let admin = app.bootstrap("ops@example.com").await;
    let term = Terminal::new(&app);

    // One character off: refused offline, nothing saved.
    let mut typo = admin.pat.clone().into_bytes();
    let last = typo.len() - 1;
    typo[last] = if typo[last] == b'a' { b'b' } else { b'a' };
    let typo = String::from_utf8(typo).unwrap();
    term.log_in_with(&typo)
        .await
        .failed(exit::USAGE, "this token is mistyped")
        .hides(&typo);
    assert!(!term.config_dir().join("config.toml").exists());

    // Well formed but unknown to the server: not saved either.
    let unknown = unknown_token("kw_pat_");
    term.log_in_with(&unknown)
        .await
        .failed(exit::UNAUTHENTICATED, "keyward login")
        .hides(&unknown);
    assert!(!term.config_dir().join("config.toml").exists());

    // The real one: checked with the server, saved privately, never printed back.
    let out = term.log_in_with(&admin.pat).await.ok().hides(&admin.pat);
    assert!(out.stderr.contains("ops@example.com"), "{out:#?}");
    let config = term.config();
    assert_eq!(config["server"].as_str(), Some(app.base.as_str()));
    assert_eq!(config["auth"]["method"].as_str(), Some("pasted"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: PathBuf| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(term.config_dir().join("config.toml")), 0o600);
        assert_eq!(mode(term.config_dir()), 0o700);
    }
    let me = term.run(&["whoami", "--json"]).await.ok().hides(&admin.pat);
    assert_eq!(me.json()["me"]["user"]["email"], "ops@example.com");
    assert_eq!(me.json()["me"]["authenticatedBy"], "pat");

    // `api-key set` does the same, reading standard input for `-`.
    let other = Terminal::new(&app);
    other
        .run_with(
            &["api-key", "set", "-", "--server", &app.base],
            &[],
            Some(&format!("{}\n", admin.pat)),
        )
        .await
        .ok()
        .hides(&admin.pat);
    other.run(&["whoami"]).await.ok();

    // A revoked token is refused with what to do next.
    let id = app
        .gql(
            &admin.pat,
            "{ personalAccessTokens { nodes { id } } }",
            json!({}),
        )
        .await
        .data()["personalAccessTokens"]["nodes"][0]["id"]
        .clone();
    let revoked = app
        .gql(
            &admin.pat,
            "mutation($i: RevokePersonalAccessTokenInput!) { revokePersonalAccessToken(input: $i) { status } }",
            json!({ "i": { "id": id } }),
        )
        .await
        .data();
    assert_eq!(revoked["revokePersonalAccessToken"]["status"], "REVOKED");
    Terminal::new(&app)
        .log_in_with(&admin.pat)
        .await
        .failed(exit::UNAUTHENTICATED, "this token was revoked")
        .hides(&admin.pat);
    term.run(&["whoami"])
        .await
        .failed(exit::UNAUTHENTICATED, "run `keyward login`");
    app.finish().await;
}

const APPROVE: &str =
    "mutation($i: DeviceInput!) { approveDevice(input: $i) { status clientName } }";
const DENY: &str = "mutation($i: DeviceInput!) { denyDevice(input: $i) { status } }";

/// Reads the child's standard error until the device code shows, then keeps the rest.
async fn user_code_of(
    child: &mut tokio::process::Child,
) -> (String, tokio::task::JoinHandle<String>) {
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut seen = String::new();
    loop {
        let line = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
            .await
            .unwrap_or_else(|_| panic!("no code shown: {seen}"))
            .unwrap()
            .unwrap_or_else(|| panic!("keyward ended without a code: {seen}"));
        seen.push_str(&line);
        seen.push('\n');
        let code = line.split_whitespace().find(|w| {
            w.len() == 9
                && w.as_bytes()[4] == b'-'
                && w.bytes()
                    .filter(|b| *b != b'-')
                    .all(|b| b.is_ascii_uppercase())
        });
        if let Some(code) = code {
            let code = code.to_owned();
            let rest = tokio::spawn(async move {
                let mut rest = seen;
                let mut inner = lines.into_inner();
                let _ = inner.read_to_string(&mut rest).await;
                rest
            });
            return (code, rest);
        }
    }
}

/// Approves, in the dashboard, the device login `child` is showing a code for, and waits
/// for it to succeed: the approval's answer and everything it wrote to standard error.
async fn approve_device_login(app: &TestApp, child: &mut tokio::process::Child) -> (Value, String) {
    let (code, rest) = user_code_of(child).await;
    let cookie = app.dev_session().await;
    let approved = app
        .gql_session(&cookie, APPROVE, json!({ "i": { "userCode": code } }))
        .await
        .data();
    let status = tokio::time::timeout(Duration::from_secs(60), child.wait())
        .await
        .unwrap()
        .unwrap();
    let stderr = rest.await.unwrap();
    assert!(status.success(), "{stderr}");
    (approved, stderr)
}

async fn device_login_end_to_end_when_headless(db: Db) {
    let app = spawn(db).await;
    let term = Terminal::new(&app);
    // On CI with no browser command: the device flow, chosen without being asked for.
    let mut child = term
        .command(&["login", "--server", &app.base], &[("CI", "true")])
        .spawn()
        .unwrap();
    let (approved, stderr) = approve_device_login(&app, &mut child).await;
    assert_eq!(
        approved["approveDevice"]["clientName"].as_str(),
        Some(login::machine_name().as_str()),
        "the token is named after the machine"
    );
    assert!(stderr.contains("No browser here"), "{stderr}");
    assert!(stderr.contains("/device?user_code="), "{stderr}");
    assert!(stderr.contains("admin@localhost"), "{stderr}");
    assert_eq!(term.config()["auth"]["method"].as_str(), Some("device"));

    let current = term.run(&["org", "current", "--json"]).await.ok().json();
    assert_eq!(current["user"]["email"], "admin@localhost");
    assert_eq!(current["credentialName"], login::machine_name());
    assert!(current["expiresAt"].is_string(), "{current}");
    let token = term.config()["auth"]["token"].as_str().unwrap().to_owned();
    let text = term.run(&["org", "current"]).await.ok().hides(&token);
    assert!(text.stdout.contains("token expires: 20"), "{text:#?}");
    app.finish().await;
}

/// `login --browser` where no browser starts does not wait out its timeout: it turns to
/// the device flow at once. Then `whoami` and `auth status` say which credential acts and
/// what it may do, and `auth token` prints it for scripts.
async fn a_browser_that_cannot_open_falls_back_to_a_device_code(db: Db) {
    let app = spawn(db).await;
    let term = Terminal::new(&app);
    let mut child = term
        .command(
            &[
                "login",
                "--browser",
                "--timeout",
                "10m",
                "--server",
                &app.base,
            ],
            &[("KEYWARD_BROWSER_CMD", "/nonexistent/keyward-test-browser")],
        )
        .spawn()
        .unwrap();
    // The code shows within user_code_of's 30 s, long before the 10 minutes.
    let (_, stderr) = approve_device_login(&app, &mut child).await;
    assert!(stderr.contains("No browser could be opened"), "{stderr}");
    assert!(stderr.contains("using a device code instead"), "{stderr}");
    assert!(!stderr.contains("Waiting for the browser"), "{stderr}");
    assert_eq!(term.config()["auth"]["method"].as_str(), Some("device"));
    let token = term.config()["auth"]["token"].as_str().unwrap().to_owned();

    // Which credential, whose, from where, and what it may do in the active organization.
    let who = term.run(&["whoami"]).await.ok().hides(&token);
    for says in [
        "admin@localhost",
        "personal access token",
        "scopes:       all of the user's role",
        "organization: Local development",
        "may:          ",
        "api_keys:admin",
    ] {
        assert!(who.stdout.contains(says), "{says}: {who:#?}");
    }
    let status = term.run(&["auth", "status"]).await.ok().hides(&token);
    assert!(
        status.stdout.contains("token:        kw_pat_****"),
        "{status:#?}"
    );
    let printed = term.run(&["auth", "token"]).await.ok();
    assert_eq!(printed.stdout.trim(), token);

    // A narrow key says so, and what it may do is its scope, not its creator's role.
    let (_, narrow) = app
        .create_key(
            &token,
            json!({ "organizationId": term.config()["organization"].as_str().unwrap(), "name": "reader", "scopes": ["api_keys:read"] }),
        )
        .await;
    let env = [("KEYWARD_API_KEY", narrow.as_str())];
    let who = term
        .run_with(&["whoami"], &env, None)
        .await
        .ok()
        .hides(&narrow);
    for says in [
        "API key `reader`",
        "scopes:       api_keys:read",
        "from:         KEYWARD_API_KEY",
        "may:          api_keys:read",
    ] {
        assert!(who.stdout.contains(says), "{says}: {who:#?}");
    }
    assert!(!who.stdout.contains("instance admin"), "{who:#?}");
    let printed = term.run_with(&["auth", "token"], &env, None).await.ok();
    assert_eq!(printed.stdout.trim(), narrow);

    // Logged out: `auth status` and `auth token` say so, with exit code 3.
    term.run(&["logout"]).await.ok();
    term.run(&["auth", "status"])
        .await
        .failed(exit::UNAUTHENTICATED, "keyward login");
    term.run(&["auth", "token"])
        .await
        .failed(exit::UNAUTHENTICATED, "keyward login");
    app.finish().await;
}

/// Stands in for time between polls: moves the server's clock instead of sleeping, and
/// acts in the dashboard when the script says so.
struct Script<'a> {
    app: &'a TestApp,
    cookie: String,
    user_code: Arc<Mutex<String>>,
    steps: VecDeque<Step>,
    waits: Vec<u64>,
}

#[derive(Debug, Clone, Copy)]
enum Step {
    /// The interval passes.
    Pass,
    /// No time passes: the CLI polls too soon.
    Stall,
    /// The interval passes and the user approves.
    Approve,
    /// The user denies.
    Deny,
    /// The code's five minutes pass.
    Expire,
}

impl Pace for Script<'_> {
    async fn wait(&mut self, interval: Duration) {
        self.waits.push(interval.as_secs());
        let clock = &self.app.services().clock;
        let step = self
            .steps
            .pop_front()
            .expect("more polls than the script has");
        match step {
            Step::Stall => {}
            Step::Expire => clock.advance(Duration::from_secs(301)),
            Step::Pass | Step::Approve | Step::Deny => clock.advance(interval),
        }
        let mutation = match step {
            Step::Approve => APPROVE,
            Step::Deny => DENY,
            _ => return,
        };
        let code = self.user_code.lock().unwrap().clone();
        let answer = self
            .app
            .gql_session(&self.cookie, mutation, json!({ "i": { "userCode": code } }))
            .await;
        assert!(answer.body["errors"].is_null(), "{:?}", answer.body);
    }
}

/// What the device flow showed.
#[derive(Default)]
struct Seen {
    code: Arc<Mutex<String>>,
    events: Vec<String>,
}

impl DevicePrompt for Seen {
    fn code(&mut self, code: &DeviceCode) {
        *self.code.lock().unwrap() = code.user_code.clone();
        self.events.push("code".into());
    }
    fn pending(&mut self) {
        self.events.push("pending".into());
    }
    fn slowed(&mut self, interval: Duration) {
        self.events
            .push(format!("slow down to {} s", interval.as_secs()));
    }
}

async fn device_with(
    app: &TestApp,
    cookie: &str,
    steps: &[Step],
) -> (keyward_cli::Result<login::Issued>, Vec<String>, Vec<u64>) {
    let client = Client::new(&app.base, None).unwrap();
    let mut seen = Seen::default();
    let mut script = Script {
        app,
        cookie: cookie.to_owned(),
        user_code: seen.code.clone(),
        steps: steps.iter().copied().collect(),
        waits: Vec::new(),
    };
    let result = login::device(&client, "build-box", &mut seen, &mut script).await;
    (result, seen.events, script.waits)
}

/// The library as a product's CLI uses it (the crate's example), with the server's clock
/// standing in for the waits.
async fn device_login_answers_pending_slow_down_denied_and_expired(db: Db) {
    let app = TestApp::spawn_with(db, |c| c.dev_signin = backend::config::DevSignin::On).await;
    let cookie = app.dev_session().await;

    // Pending, then a poll too soon (slow_down: five seconds more), then approved.
    let (issued, events, waits) =
        device_with(&app, &cookie, &[Step::Pass, Step::Stall, Step::Approve]).await;
    let issued = issued.unwrap();
    assert_eq!(events, ["code", "pending", "slow down to 10 s"]);
    assert_eq!(
        waits,
        [5, 5, 10],
        "the server's interval, then five seconds more"
    );
    assert_eq!(issued.name, "build-box");
    assert!(!format!("{issued:?}").contains(issued.token.expose()));
    let client = Client::new(&app.base, Some(issued.token)).unwrap();
    let me = client.me().await.unwrap();
    assert_eq!(me.user.unwrap().email, "admin@localhost");
    assert_eq!(me.credential_name.as_deref(), Some("build-box"));

    let (denied, _, _) = device_with(&app, &cookie, &[Step::Deny]).await;
    let denied = denied.unwrap_err();
    assert_eq!(denied.exit_code(), exit::UNAUTHENTICATED);
    assert!(denied.to_string().contains("denied"), "{denied}");

    let (expired, _, _) = device_with(&app, &cookie, &[Step::Expire]).await;
    let expired = expired.unwrap_err();
    assert_eq!(expired.exit_code(), exit::UNAUTHENTICATED);
    assert!(
        expired.to_string().contains("run the command again"),
        "{expired}"
    );
    app.finish().await;
}

fn browser_command() -> String {
    format!(
        "python3 {}/tests/fixtures/browser.py",
        env!("CARGO_MANIFEST_DIR")
    )
}

async fn browser_login_end_to_end_and_a_new_login_revokes_the_old_token(db: Db) {
    let app = spawn(db).await;
    let term = Terminal::new(&app);
    let cookie = app.dev_session().await;
    let browser = browser_command();
    let env = [
        ("KEYWARD_BROWSER_CMD", browser.as_str()),
        ("KEYWARD_TEST_SESSION", cookie.as_str()),
        // A browser command means there is a browser, even on CI.
        ("CI", "true"),
    ];
    let login = ["login", "--server", app.base.as_str()];
    let out = term.run_with(&login, &env, None).await.ok();
    assert!(
        out.stderr
            .contains("/cli/authorize?redirect_uri=http%3A%2F%2F127.0.0.1%3A"),
        "{out:#?}"
    );
    assert!(
        out.stderr.contains("code_challenge_method=S256"),
        "{out:#?}"
    );
    assert!(out.stderr.contains("admin@localhost"), "{out:#?}");
    let config = term.config();
    assert_eq!(config["auth"]["method"].as_str(), Some("browser"));
    let first = config["auth"]["token"].as_str().unwrap().to_owned();
    let out = out.hides(&first);
    assert!(!out.stdout.contains("kw_pat_"), "{out:#?}");
    term.run(&["verify", &first]).await.ok().hides(&first);

    // Cancelled in the browser: refused, and the saved login is untouched.
    let mut cancel = env.to_vec();
    cancel.push(("KEYWARD_TEST_DENY", "1"));
    term.run_with(&login, &cancel, None)
        .await
        .failed(exit::UNAUTHENTICATED, "cancelled in the browser");
    assert_eq!(
        term.config()["auth"]["token"].as_str(),
        Some(first.as_str())
    );
    // No answer from the browser: a clear message once the wait is over.
    term.run_with(
        &["login", "--browser", "--timeout", "1ms"],
        &[("KEYWARD_BROWSER_CMD", "true")],
        None,
    )
    .await
    .failed(exit::OTHER, "no answer from the browser in 1ms")
    .failed(exit::OTHER, "`keyward login --device`");

    // Logging in again replaces the token and revokes the one it replaces.
    term.run_with(&login, &env, None).await.ok();
    let second = term.config()["auth"]["token"].as_str().unwrap().to_owned();
    assert_ne!(first, second);
    let old = term.run(&["verify", &first]).await.hides(&first);
    assert_eq!(old.code, exit::UNAUTHENTICATED, "{old:#?}");
    assert_eq!(old.stdout.trim(), "invalid: revoked");
    term.run(&["whoami"]).await.ok();
    app.finish().await;
}

async fn logout_revokes_on_the_server_and_keeps_the_settings(db: Db) {
    let app = spawn(db).await;
    let admin = app.bootstrap("ops@example.com").await;
    let term = Terminal::new(&app);
    term.log_in_with(&admin.pat).await.ok();
    term.run(&["org", "use", &admin.org_id]).await.ok();

    let out = term.run(&["logout"]).await.ok().hides(&admin.pat);
    assert!(out.stderr.contains("revoked"), "{out:#?}");
    let (status, _, body) = app.verify(tests::Header::Bearer, &admin.pat).await;
    assert_eq!(
        (status.as_u16(), body["code"].as_str()),
        (401, Some("REVOKED"))
    );
    let config = term.config();
    assert_eq!(config["server"].as_str(), Some(app.base.as_str()));
    assert_eq!(config["organization"].as_str(), Some(admin.org_id.as_str()));
    assert!(config.get("auth").is_none(), "{config:?}");
    term.run(&["whoami"])
        .await
        .failed(exit::UNAUTHENTICATED, "not logged in");
    term.run(&["logout"])
        .await
        .failed(exit::UNAUTHENTICATED, "not logged in");
    app.finish().await;
}

async fn organizations_and_projects_switch_by_name_in_any_case(db: Db) {
    let app = spawn(db).await;
    let admin = app.bootstrap("ops@example.com").await;
    let made = app
        .gql(
            &admin.pat,
            "mutation($i: CreateOrganizationInput!) { createOrganization(input: $i) { organization { id } } }",
            json!({ "i": { "name": "Acme Labs" } }),
        )
        .await
        .data();
    let acme = made["createOrganization"]["organization"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.gql(
        &admin.pat,
        "mutation($i: CreateProjectInput!) { createProject(input: $i) { id } }",
        json!({ "i": { "organizationId": acme, "name": "Billing API" } }),
    )
    .await
    .data();
    let term = Terminal::new(&app);
    let login = term.log_in_with(&admin.pat).await.ok();
    assert!(login.stderr.contains("Active organization: "), "{login:#?}");

    // Right after login one organization is active, and `org list` stars it.
    let list = term.run(&["org", "list", "--json"]).await.ok().json();
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 2, "{list:?}");
    assert_eq!(
        list.iter().filter(|o| o["active"] == true).count(),
        1,
        "one is active from the start: {list:?}"
    );
    let starred = term.run(&["org", "list"]).await.ok();
    assert_eq!(
        starred
            .stdout
            .lines()
            .filter(|l| l.trim_start().starts_with('*'))
            .count(),
        1,
        "{starred:#?}"
    );
    assert!(
        list.iter()
            .all(|o| o["organization"]["viewerRole"]["key"] == "owner"),
        "{list:?}"
    );

    term.run(&["org", "use", "acme LABS"]).await.ok();
    let table = term.run(&["org", "list"]).await.ok();
    let active: Vec<&str> = table
        .stdout
        .lines()
        .filter(|l| l.trim_start().starts_with('*'))
        .collect();
    assert_eq!(active.len(), 1, "{table:#?}");
    assert!(
        active[0].contains("Acme Labs") && active[0].contains("Owner"),
        "{table:#?}"
    );
    assert!(
        table.stdout.lines().next().unwrap().contains("ROLE"),
        "{table:#?}"
    );
    assert!(!table.stdout.contains('\u{1b}'), "no colour off a terminal");

    let projects = term.run(&["project", "list", "--json"]).await.ok().json();
    assert!(
        projects
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["project"]["name"] == "Billing API"),
        "{projects}"
    );
    term.run(&["project", "use", "BILLING api"]).await.ok();
    let current = term.run(&["org", "current", "--json"]).await.ok().json();
    assert_eq!(current["organization"]["id"], acme.as_str());
    assert_eq!(current["project"]["name"], "Billing API");

    term.run(&["org", "use", "nowhere"])
        .await
        .failed(exit::NOT_FOUND, "keyward org list");
    // `--org` acts elsewhere for one command without changing the active organization.
    let keys = term
        .run(&["keys", "list", "--json", "--org", &admin.org_id])
        .await
        .ok()
        .json();
    assert!(keys.as_array().unwrap().is_empty(), "{keys}");
    assert_eq!(term.config()["organization"].as_str(), Some(acme.as_str()));

    // One suspended organization does not stop the others being listed or used.
    let suspended = app
        .gql(
            &admin.pat,
            "mutation($i: SuspendOrganizationInput!) { suspendOrganization(input: $i) { suspended } }",
            json!({ "i": { "organizationId": acme, "reason": "unpaid" } }),
        )
        .await
        .data();
    assert_eq!(suspended["suspendOrganization"]["suspended"], true);
    let list = term.run(&["org", "list", "--json"]).await.ok().json();
    let acme_listed = list
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["organization"]["id"] == acme.as_str())
        .unwrap()
        .clone();
    assert_eq!(acme_listed["organization"]["suspended"], true);
    assert_eq!(acme_listed["organization"]["viewerRole"]["key"], "owner");
    term.run(&["org", "use", &admin.org_id]).await.ok();
    term.run(&["keys", "list"]).await.ok();
    app.finish().await;
}

fn names(list: &Value) -> Vec<String> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|k| k["name"].as_str().unwrap().to_owned())
        .collect()
}

/// `keyward identities …`, and `keys update --no-…` taking off what a key carries.
async fn identities_and_removing_what_a_key_carries(db: Db) {
    let app = spawn(db).await;
    let admin = app.bootstrap("ops@example.com").await;
    let term = Terminal::new(&app);
    term.log_in_with(&admin.pat).await.ok();

    let made = term
        .run(&[
            "identities",
            "create",
            "acme",
            "--credits",
            "3",
            "--limit",
            "calls=100/1m:auto",
            "--meta",
            r#"{"tier":"gold"}"#,
            "--json",
        ])
        .await
        .ok()
        .json();
    assert_eq!(made["externalId"], "acme", "{made}");
    assert_eq!(made["credits"]["remaining"], 3);
    let said = term.run(&["identities", "create", "acme"]).await;
    assert_ne!(said.code, 0, "an external id is unique: {said:#?}");
    // A key joins it; verify answers with the identity's credits and metadata.
    let key = term
        .run(&[
            "keys",
            "create",
            "acme-prod",
            "--external-id",
            "acme",
            "--expires-in",
            "30d",
            "--meta",
            r#"{"env":"prod"}"#,
            "--credits",
            "5",
            "--rate-limit",
            "7",
            "--limit",
            "tokens=10/1m",
            "--json",
        ])
        .await
        .ok()
        .json();
    let secret = key["secret"].as_str().unwrap().to_owned();
    let (_, checked) = app.verify_body(json!({ "key": secret })).await;
    assert_eq!(checked["identity"]["external_id"], "acme", "{checked}");
    assert_eq!(checked["credits"]["remaining"], 4, "the key's own credits");

    let table = term.run(&["identities", "list"]).await.ok();
    assert!(
        table.stdout.contains("acme") && table.stdout.contains("calls=100/1m:auto"),
        "{table:#?}"
    );
    let shown = term
        .run(&["identities", "show", "acme", "--json"])
        .await
        .ok()
        .json();
    assert_eq!(shown["meta"], json!({ "tier": "gold" }));
    term.run(&["identities", "credits", "acme", "set", "50"])
        .await
        .ok();
    let updated = term
        .run(&[
            "identities",
            "update",
            "acme",
            "--external-id",
            "acme-inc",
            "--no-meta",
            "--no-limits",
            "--json",
        ])
        .await
        .ok()
        .json();
    assert_eq!(updated["externalId"], "acme-inc", "{updated}");
    assert_eq!(updated["meta"], Value::Null);
    assert_eq!(updated["ratelimits"], json!([]));
    assert_eq!(updated["credits"]["remaining"], 50, "left as it was");

    // Everything the key carries, taken off; its name stays.
    let bare = term
        .run(&[
            "keys",
            "update",
            "acme-prod",
            "--no-expiry",
            "--no-credits",
            "--no-limits",
            "--no-rate-limit",
            "--no-meta",
            "--no-identity",
            "--json",
        ])
        .await
        .ok()
        .json();
    assert_eq!(bare["name"], "acme-prod", "{bare}");
    // No expiry of its own: it lives as long as the token that edited it may make keys
    // live (here the CLI's 120-day PAT), no longer 30 days.
    let expires: chrono::DateTime<chrono::Utc> =
        bare["expiresAt"].as_str().unwrap().parse().unwrap();
    assert!(
        expires - app.services().clock.now() > chrono::TimeDelta::days(90),
        "{bare}"
    );
    assert_eq!(bare["rateLimitPerMinute"], Value::Null);
    let (_, checked) = app.verify_body(json!({ "key": secret })).await;
    assert_eq!(checked["code"], "VALID", "{checked}");
    for gone in ["identity", "credits", "meta"] {
        assert!(checked[gone].is_null(), "{gone}: {checked}");
    }
    let refused = term
        .run(&["keys", "update", "acme-prod", "--meta", "{}", "--no-meta"])
        .await;
    assert_ne!(refused.code, 0, "{refused:#?}");

    term.run(&["identities", "delete", "acme-inc", "--yes"])
        .await
        .ok();
    term.run(&["identities", "show", "acme-inc"])
        .await
        .failed(exit::NOT_FOUND, "identities list");
    app.finish().await;
}

async fn keys_from_creation_to_revocation(db: Db) {
    let app = spawn(db).await;
    let admin = app.bootstrap("ops@example.com").await;
    let term = Terminal::new(&app);
    term.log_in_with(&admin.pat).await.ok();

    // The secret alone on standard output, the warning beside it.
    let created = term
        .run(&[
            "keys",
            "create",
            "billing-worker",
            "--scope",
            "api_keys:read",
            "--expires-in",
            "30d",
        ])
        .await
        .ok();
    let secret = created.stdout.trim().to_owned();
    assert!(secret.starts_with("kw_sk_live_"), "{created:#?}");
    assert!(created.stderr.contains("shown only once"), "{created:#?}");
    let json = term
        .run(&["keys", "create", "test-worker", "--env", "test", "--json"])
        .await
        .ok()
        .json();
    let test_secret = json["secret"].as_str().unwrap().to_owned();
    assert!(test_secret.starts_with("kw_sk_test_"), "{json}");
    assert_eq!(json["apiKey"]["name"], "test-worker");

    // A key a product sells: credits, a named limit, metadata, an identity.
    let sold = term
        .run(&[
            "keys",
            "create",
            "sold",
            "--credits",
            "2",
            "--refill",
            "monthly:100:15",
            "--limit",
            "tokens=10/1m:auto",
            "--meta",
            r#"{"plan":"pro"}"#,
            "--external-id",
            "customer-1",
            "--json",
        ])
        .await
        .ok()
        .json();
    let sold_secret = sold["secret"].as_str().unwrap().to_owned();
    let (_, checked) = app.verify_body(json!({ "key": sold_secret })).await;
    assert_eq!(checked["code"], "VALID", "{checked}");
    assert_eq!(checked["credits"]["remaining"], 1);
    assert_eq!(checked["meta"], json!({ "plan": "pro" }));
    assert_eq!(checked["identity"]["external_id"], "customer-1");
    assert_eq!(checked["ratelimits"][1]["name"], "tokens");
    // Edited and topped up by name; what is not named stays as it was.
    let updated = term
        .run(&[
            "keys",
            "update",
            "sold",
            "--meta",
            r#"{"plan":"team"}"#,
            "--name",
            "sold-team",
            "--json",
        ])
        .await
        .ok()
        .json();
    assert_eq!(updated["name"], "sold-team", "{updated}");
    term.run(&["keys", "credits", "sold-team", "increment", "10"])
        .await
        .ok();
    let (_, checked) = app.verify_body(json!({ "key": sold_secret })).await;
    assert_eq!(checked["meta"], json!({ "plan": "team" }), "{checked}");
    assert_eq!(checked["credits"]["remaining"], 10, "1 + 10 - 1");
    assert_eq!(
        checked["identity"]["external_id"], "customer-1",
        "left as it was"
    );
    for (flag, value, says) in [
        ("--limit", "tokens", "NAME=LIMIT/DURATION"),
        ("--limit", "tokens=ten/1m", "the limit is a number"),
        ("--meta", "[1]", "JSON object"),
        ("--refill", "weekly:5", "daily:"),
    ] {
        let mut args = vec!["keys", "create", "bad", flag, value];
        if flag == "--refill" {
            args.extend(["--credits", "1"]);
        }
        let refused = term.run(&args).await;
        assert_ne!(refused.code, 0, "{flag} {value}");
        assert!(
            refused.stderr.contains(says),
            "{flag} {value}: {refused:#?}"
        );
    }

    let list = term
        .run(&["keys", "list", "--json"])
        .await
        .ok()
        .hides(&secret)
        .hides(&test_secret);
    let listed = names(&list.json());
    assert!(
        listed.contains(&"billing-worker".to_owned()) && listed.contains(&"test-worker".to_owned()),
        "{listed:?}"
    );
    let table = term.run(&["keys", "list"]).await.ok().hides(&secret);
    assert!(
        table.stdout.contains("billing-worker") && table.stdout.contains("active"),
        "{table:#?}"
    );

    let valid = term.run(&["verify", &secret]).await.ok().hides(&secret);
    assert!(
        valid.stdout.starts_with("valid: api_key `billing-worker`"),
        "{valid:#?}"
    );
    let answer = term
        .run_with(&["verify", "--json"], &[], Some(&secret))
        .await
        .ok()
        .json();
    assert_eq!(answer["valid"], true);

    term.run(&["keys", "disable", "billing-worker"]).await.ok();
    let disabled = term.run(&["verify", &secret]).await;
    assert_eq!(
        (disabled.code, disabled.stdout.trim()),
        (exit::UNAUTHENTICATED, "invalid: disabled")
    );
    term.run(&["keys", "enable", "billing-worker"]).await.ok();
    term.run(&["verify", &secret]).await.ok();

    // Rotation: a new secret, the old one still good for the grace period.
    let rotated = term
        .run(&["keys", "rotate", "billing-worker", "--grace", "1h"])
        .await
        .ok()
        .hides(&secret);
    let new_secret = rotated.stdout.trim().to_owned();
    assert!(
        new_secret.starts_with("kw_sk_live_") && new_secret != secret,
        "{rotated:#?}"
    );
    term.run(&["verify", &secret]).await.ok();
    term.run(&["verify", &new_secret]).await.ok();
    term.run(&["keys", "rotate", "billing-worker", "--grace", "2d"])
        .await
        .failed(exit::USAGE, "at most 24h");
    assert!(
        rotated.stderr.contains("both keys now have this name"),
        "{rotated:#?}"
    );
    // Both keys carry the name while the old one lives: the name is refused, with each
    // candidate and its side of the rotation, and nothing is changed.
    let found = term
        .run(&["keys", "list", "--json", "--search", "billing"])
        .await
        .ok()
        .json();
    let by_status = |status: &str| {
        found
            .as_array()
            .unwrap()
            .iter()
            .find(|k| k["status"] == status)
            .unwrap()
            .clone()
    };
    let (old, new) = (by_status("ROTATING"), by_status("ACTIVE"));
    let old_id = old["id"].as_str().unwrap().to_owned();
    let new_id = new["id"].as_str().unwrap().to_owned();
    assert_eq!(old["replacedBy"]["id"], new_id.as_str(), "{found}");
    assert!(old["rotationEndsAt"].is_string(), "{found}");
    assert_eq!(new["replaces"]["id"], old_id.as_str(), "{found}");
    let refused = term
        .run(&["keys", "revoke", "billing-worker", "--yes"])
        .await
        .failed(exit::USAGE, "2 keys match `billing-worker`");
    for says in [
        format!("{old_id}  "),
        format!("rotating, replaced by {}", new["prefix"].as_str().unwrap()),
        "works until 20".to_owned(),
        format!("{new_id}  "),
        format!("active, replaces {}", old["prefix"].as_str().unwrap()),
    ] {
        assert!(refused.stderr.contains(&says), "{says}: {refused:#?}");
    }
    term.run(&["verify", &secret]).await.ok();
    term.run(&["verify", &new_secret]).await.ok();
    // By id, each is reached.
    let disabled = term
        .run(&["keys", "disable", &new_id, "--json"])
        .await
        .ok()
        .json();
    assert_eq!(disabled["status"], "DISABLED");
    term.run(&["verify", &secret]).await.ok();
    term.run(&["keys", "enable", &new_id]).await.ok();

    // Revoking asks first; without a terminal it needs --yes.
    term.run(&["keys", "revoke", &new_id])
        .await
        .failed(exit::USAGE, "pass --yes");
    term.run(&["verify", &new_secret]).await.ok();
    term.run(&["keys", "revoke", &new_id, "--yes", "--reason", "leaked"])
        .await
        .ok();
    let revoked = term.run(&["verify", &new_secret]).await.hides(&new_secret);
    assert_eq!(
        (revoked.code, revoked.stdout.trim()),
        (exit::UNAUTHENTICATED, "invalid: revoked")
    );
    term.run(&["keys", "revoke", "no-such-key", "--yes"])
        .await
        .failed(exit::NOT_FOUND, "keyward keys list");
    app.finish().await;
}

async fn personal_access_tokens(db: Db) {
    let app = spawn(db).await;
    let admin = app.bootstrap("ops@example.com").await;
    let term = Terminal::new(&app);
    term.log_in_with(&admin.pat).await.ok();
    let created = term
        .run(&[
            "tokens",
            "create",
            "deploy-bot",
            "--expires-in",
            "7d",
            "--scope",
            "organization:read",
            "--scope",
            "api_keys:read",
            "--json",
        ])
        .await
        .ok()
        .json();
    let secret = created["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("kw_pat_"), "{created}");
    assert_eq!(
        created["token"]["scopes"],
        json!(["organization:read", "api_keys:read"])
    );
    let list = term
        .run(&["tokens", "list", "--json"])
        .await
        .ok()
        .hides(&secret)
        .json();
    assert!(names(&list).contains(&"deploy-bot".to_owned()), "{list}");
    let table = term
        .run(&["tokens", "list"])
        .await
        .ok()
        .hides(&secret)
        .hides(&admin.pat);
    assert!(table.stdout.contains("deploy-bot"), "{table:#?}");

    // A narrow token may read keys but not create them.
    let narrow = [("KEYWARD_API_KEY", secret.as_str())];
    term.run_with(&["keys", "list"], &narrow, None).await.ok();
    term.run_with(&["keys", "create", "sneaky"], &narrow, None)
        .await
        .failed(exit::FORBIDDEN, "keyward org current")
        .hides(&secret);

    term.run(&["tokens", "revoke", "deploy-bot", "--yes"])
        .await
        .ok();
    term.run_with(&["whoami"], &narrow, None)
        .await
        .failed(exit::UNAUTHENTICATED, "revoked")
        .hides(&secret);
    term.run(&["tokens", "revoke", "deploy-bot", "--yes"])
        .await
        .failed(exit::NOT_FOUND, "keyward tokens list");
    app.finish().await;
}

async fn exit_codes_and_what_to_do_next(db: Db) {
    let app = spawn(db).await;
    let admin = app.bootstrap("ops@example.com").await;
    let term = Terminal::new(&app);

    term.run(&["whoami"])
        .await
        .failed(exit::UNAUTHENTICATED, "run `keyward login`");
    term.run(&["frobnicate"])
        .await
        .failed(exit::USAGE, "unrecognized subcommand");
    let help = term.run(&["--help"]).await.ok();
    assert!(
        help.stdout.contains("Exit codes:") && help.stdout.contains("5  not found"),
        "{help:#?}"
    );

    // KEYWARD_API_KEY acts without any saved login.
    let env = [("KEYWARD_API_KEY", admin.pat.as_str())];
    let me = term
        .run_with(&["whoami", "--json", "--server", &app.base], &env, None)
        .await
        .ok()
        .hides(&admin.pat)
        .json();
    assert_eq!(me["me"]["user"]["email"], "ops@example.com");

    // Nothing listens: the message names the server and where it was set.
    let refused = term
        .run_with(&["whoami", "--server", "http://127.0.0.1:9"], &env, None)
        .await
        .failed(exit::OTHER, "http://127.0.0.1:9 (set by --server)")
        .hides(&admin.pat);
    assert!(refused.stderr.contains("refused"), "{refused:#?}");
    let by_env = [
        ("KEYWARD_API_KEY", admin.pat.as_str()),
        ("KEYWARD_SERVER", "http://127.0.0.1:9"),
    ];
    term.run_with(&["whoami"], &by_env, None)
        .await
        .failed(exit::OTHER, "(set by KEYWARD_SERVER)");

    // A saved login is only ever sent to the server it was made with.
    term.log_in_with(&admin.pat).await.ok();
    term.run(&["whoami", "--server", "http://127.0.0.1:9"])
        .await
        .failed(exit::UNAUTHENTICATED, "not logged in to http://127.0.0.1:9");

    // Colour only when asked for and never with NO_COLOR.
    let switch = ["org", "use", admin.org_id.as_str()];
    let forced = term
        .run_with(&switch, &[("CLICOLOR_FORCE", "1")], None)
        .await
        .ok();
    assert!(forced.stderr.contains('\u{1b}'), "{forced:#?}");
    let plain = term
        .run_with(&switch, &[("CLICOLOR_FORCE", "1"), ("NO_COLOR", "1")], None)
        .await
        .ok();
    assert!(!plain.stderr.contains('\u{1b}'), "{plain:#?}");

    let completion = term.run(&["completion", "bash"]).await.ok();
    assert!(completion.stdout.contains("_keyward()"), "{completion:#?}");
    // A reader that stops early (`keyward completion bash | head`) ends it quietly: the
    // script is longer than a pipe holds, so the write meets the closed pipe.
    let mut child = term.command(&["completion", "bash"], &[]).spawn().unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    stdout.read_line(&mut first).await.unwrap();
    assert!(first.starts_with("_keyward()"), "{first}");
    drop(stdout);
    let output = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
        .await
        .expect("keyward did not finish")
        .unwrap();
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(output.status.code(), Some(exit::OK), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");

    // 121 days on, the saved token has expired: the message says what to do.
    app.services()
        .clock
        .advance(Duration::from_secs(121 * 24 * 3600));
    term.run(&["whoami"])
        .await
        .failed(
            exit::UNAUTHENTICATED,
            "your token has expired: run `keyward login`",
        )
        .hides(&admin.pat);
    app.finish().await;
}

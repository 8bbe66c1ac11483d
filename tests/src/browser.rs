//! A real browser for dashboard tests: Debian's Chromium, headless, driven through
//! WebDriver (chromedriver) with fantoccini. Screenshots land in `target/screenshots/`.

use std::{path::PathBuf, process::Stdio, time::Duration};

use fantoccini::{Client, ClientBuilder, Locator, elements::Element};
use tokio::process::{Child, Command};

/// The built dashboard, built first (with the browser installed) by
/// `scripts/prepare.sh` when it or chromedriver is missing, or when a source of the
/// dashboard changed after it was built: a test never drives yesterday's dashboard.
pub async fn dashboard_dir() -> PathBuf {
    static PREPARED: tokio::sync::OnceCell<()> = tokio::sync::OnceCell::const_new();
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let dir = root.join("dist");
    PREPARED
        .get_or_init(|| async {
            let have_driver = std::process::Command::new("chromedriver")
                .arg("--version")
                .output()
                .is_ok();
            let built = dir.join("graphiql/start.js").is_file()
                && modified(&dir.join("index.html")) >= newest_source(&root);
            if built && have_driver {
                return;
            }
            let status = Command::new("bash")
                .arg(root.join("scripts/prepare.sh"))
                .current_dir(&root)
                .status()
                .await
                .expect("bash runs scripts/prepare.sh");
            assert!(
                status.success(),
                "scripts/prepare.sh failed: the dashboard tests need it"
            );
        })
        .await;
    assert!(
        dir.join("index.html").is_file(),
        "the dashboard is not built in {}",
        dir.display()
    );
    dir
}

/// When a file was last written; never, for a file that is not there.
fn modified(path: &std::path::Path) -> std::time::SystemTime {
    std::fs::metadata(path)
        .and_then(|m| m.modified())
        .unwrap_or(std::time::UNIX_EPOCH)
}

/// The newest write among the dashboard's sources: its crate, its queries, the schema they
/// are checked against, and Trunk's configuration.
fn newest_source(root: &std::path::Path) -> std::time::SystemTime {
    fn walk(path: &std::path::Path, newest: &mut std::time::SystemTime) {
        *newest = (*newest).max(modified(path));
        if let Ok(entries) = std::fs::read_dir(path) {
            for entry in entries.flatten() {
                let path = entry.path();
                // GraphiQL's npm packages are pinned by their lock file, walked above.
                if path.file_name().is_some_and(|n| n == "node_modules") {
                    continue;
                }
                walk(&path, newest);
            }
        }
    }
    let mut newest = std::time::UNIX_EPOCH;
    for source in ["frontend", "backend/schema.graphql", "Trunk.toml"] {
        walk(&root.join(source), &mut newest);
    }
    newest
}

/// axe-core's script, installed from npm into `tests/fixtures/axe` on first use.
async fn axe_source() -> &'static str {
    static SOURCE: tokio::sync::OnceCell<String> = tokio::sync::OnceCell::const_new();
    SOURCE
        .get_or_init(|| async {
            let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/axe");
            let script = dir.join("node_modules/axe-core/axe.min.js");
            if !script.is_file() {
                let status = Command::new("npm")
                    .args(["ci", "--no-audit", "--no-fund", "--silent"])
                    .current_dir(&dir)
                    .status()
                    .await
                    .expect("the accessibility checks need Node.js and npm for axe-core");
                assert!(status.success(), "npm ci in {} failed", dir.display());
            }
            std::fs::read_to_string(&script)
                .unwrap_or_else(|e| panic!("cannot read {}: {e}", script.display()))
        })
        .await
}

/// A headless Chromium session; the driver stops when this is dropped.
pub struct Browser {
    pub client: Client,
    _driver: Child,
    _profile: tempfile::TempDir,
}

impl Browser {
    /// Starts chromedriver on a free port and opens a session at `width`×`height`.
    pub async fn start(width: u32, height: u32) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let driver = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("the dashboard tests need chromedriver (Debian: chromium-driver)");
        let profile = tempfile::tempdir().unwrap();
        let mut caps = serde_json::Map::new();
        let mut options = serde_json::json!({
                "binary": "/usr/bin/chromium",
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--disable-background-networking", "--disable-component-update", "--disable-sync",
                    "--no-first-run", "--disable-quic",
                    format!("--window-size={width},{height}"),
                    format!("--user-data-dir={}", profile.path().display()),
                ],
        });
        // Headless windows do not shrink below about 500 px: narrower screens are
        // emulated, as a phone lays the page out.
        if width < 500 {
            options["mobileEmulation"] = serde_json::json!({
                "deviceMetrics": { "width": width, "height": height, "pixelRatio": 1.0, "touch": false },
            });
        }
        caps.insert("goog:chromeOptions".into(), options);
        let url = format!("http://127.0.0.1:{port}");
        let mut last_error = None;
        for _ in 0..100 {
            // chromedriver listens on loopback over plain HTTP: no TLS stack needed.
            let connector = hyper_util::client::legacy::connect::HttpConnector::new();
            match ClientBuilder::new(connector)
                .capabilities(caps.clone())
                .connect(&url)
                .await
            {
                Ok(client) => {
                    return Self {
                        client,
                        _driver: driver,
                        _profile: profile,
                    };
                }
                Err(e) => last_error = Some(e),
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("could not start a browser session: {last_error:?}");
    }

    /// Waits for an element matching `css`.
    pub async fn find(&self, css: &str) -> Element {
        self.client
            .wait()
            .at_most(Duration::from_secs(20))
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no element `{css}`: {e}"))
    }

    /// Waits until the page text contains `text`.
    pub async fn wait_for_text(&self, text: &str) {
        self.wait_for_text_in("body", text).await;
    }

    /// Waits until the text of the first element matching `css` contains `text`.
    pub async fn wait_for_text_in(&self, css: &str, text: &str) {
        let mut shown = String::new();
        for _ in 0..200 {
            if let Ok(element) = self.client.find(Locator::Css(css)).await {
                shown = element.text().await.unwrap_or_default();
                if shown.contains(text) {
                    return;
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let at = self
            .client
            .current_url()
            .await
            .map(|u| u.to_string())
            .unwrap_or_default();
        panic!("`{css}` never showed `{text}` at {at}; it shows:\n{shown}");
    }

    /// Waits until the first element matching `css` has `attr` set to `value` (read
    /// afresh each time, so an element drawn again meanwhile is no matter).
    pub async fn wait_for_attr(&self, css: &str, attr: &str, value: &str) {
        let mut shown = None;
        for _ in 0..200 {
            if let Ok(element) = self.client.find(Locator::Css(css)).await {
                shown = element.attr(attr).await.ok().flatten();
                if shown.as_deref() == Some(value) {
                    return;
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("`{css}` never had {attr}=`{value}`; it has {shown:?}");
    }

    /// Waits for the secret the create dialog shows once, and returns it.
    pub async fn shown_secret(&self) -> String {
        let input = self.find("#new-secret").await;
        for _ in 0..100 {
            let value = input.prop("value").await.unwrap().unwrap_or_default();
            if !value.is_empty() {
                return value;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("no secret was shown");
    }

    /// Checks the page's accessibility (every page state a test captures is checked),
    /// then saves a screenshot as `target/screenshots/<name>.png`.
    pub async fn screenshot(&self, name: &str) {
        self.check_accessibility(name).await;
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/screenshots");
        std::fs::create_dir_all(&dir).unwrap();
        let png = self.client.screenshot().await.unwrap();
        std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
    }

    /// Runs axe-core (from npm, `tests/fixtures/axe`) on the page as it is, with every
    /// rule it runs by default (WCAG A and AA, best practices), and fails on any
    /// violation, naming each rule and the elements it found. `what` names the page.
    pub async fn check_accessibility(&self, what: &str) {
        let axe = axe_source().await;
        self.client
            .execute(axe, vec![])
            .await
            .unwrap_or_else(|e| panic!("could not load axe-core into {what}: {e}"));
        let found = self
            .client
            .execute_async(
                "const done = arguments[arguments.length - 1];
                 axe.run(document, { resultTypes: ['violations'] })
                   .then(r => done(r.violations.map(v =>
                       `${v.id} (${v.impact}): ${v.help}: ${v.nodes.slice(0, 4)
                           .map(n => n.target.join(' ')).join(' | ')}`)))
                   .catch(e => done([`axe-core failed: ${e}`]));",
                vec![],
            )
            .await
            .unwrap_or_else(|e| panic!("axe-core did not run on {what}: {e}"));
        let violations: Vec<String> = serde_json::from_value(found).unwrap_or_default();
        assert!(
            violations.is_empty(),
            "{what} has accessibility violations:\n{}",
            violations.join("\n")
        );
    }

    pub async fn close(self) {
        let _ = self.client.close().await;
    }
}

impl Browser {
    /// Opens the development sign-in link the server offers and waits for the dashboard.
    pub async fn sign_in_dev(&self, app: &crate::TestApp) {
        let link = app.services().offer_dev_signin().await.unwrap();
        let path = link.split_once("/auth/dev").unwrap().1;
        self.client
            .goto(&format!("{}/auth/dev{path}", app.base))
            .await
            .unwrap();
        self.wait_for_text("API keys").await;
    }

    /// Signs in with a session cookie made for the test (`TestApp::session_cookie`),
    /// as the browser would hold it after signing in, and opens the keys page.
    pub async fn sign_in_with(&self, app: &crate::TestApp, cookie: &str) {
        self.client
            .goto(&format!("{}/sign-in", app.base))
            .await
            .unwrap();
        // Set from the page: WebDriver's add-cookie refuses an IP address as the domain.
        self.client
            .execute(
                "document.cookie = arguments[0] + '; path=/'",
                vec![serde_json::Value::String(cookie.to_owned())],
            )
            .await
            .unwrap();
        self.client
            .goto(&format!("{}/keys", app.base))
            .await
            .unwrap();
        self.wait_for_text("API keys").await;
    }

    /// Follows a sidebar link, as a user moves between pages (no reload).
    pub async fn nav(&self, href: &str) {
        self.click(&format!("nav.sidebar a[href='{href}']")).await;
    }

    /// Clicks the first element matching `css`, once it is there.
    pub async fn click(&self, css: &str) {
        self.find(css)
            .await
            .click()
            .await
            .unwrap_or_else(|e| panic!("could not click `{css}`: {e}"));
    }

    /// Types into the first element matching `css`.
    pub async fn type_into(&self, css: &str, text: &str) {
        self.find(css)
            .await
            .send_keys(text)
            .await
            .unwrap_or_else(|e| panic!("could not type into `{css}`: {e}"));
    }

    /// Opens `path` of the app directly (a phone's sidebar is folded away).
    pub async fn go(&self, app: &crate::TestApp, path: &str) {
        self.client
            .goto(&format!("{}{path}", app.base))
            .await
            .unwrap();
    }

    /// The button inside `scope` whose text is `label`, once it is there.
    pub async fn find_button(&self, scope: &str, label: &str) -> Element {
        self.button(scope, label, false).await
    }

    /// Clicks the button inside `scope` whose text is `label`.
    pub async fn click_button(&self, scope: &str, label: &str) {
        self.button(scope, label, true).await;
    }

    /// Waits for the button inside `scope` whose text is `label` (and, with `click`,
    /// until a click on it takes).
    async fn button(&self, scope: &str, label: &str, click: bool) -> Element {
        let xpath = format!(".//button[normalize-space(.)='{label}']");
        for _ in 0..200 {
            if let Ok(parent) = self.client.find(Locator::Css(scope)).await
                && let Ok(button) = parent.find(Locator::XPath(&xpath)).await
                && (!click || button.click().await.is_ok())
            {
                return button;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("no button `{label}` in `{scope}`");
    }

    /// Chooses the option labelled `label` in the `<select>` matching `css`, once the
    /// option is there.
    pub async fn select(&self, css: &str, label: &str) {
        self.wait_for_text_in(css, label).await;
        self.find(css)
            .await
            .select_by_label(label)
            .await
            .unwrap_or_else(|e| panic!("could not choose `{label}` in `{css}`: {e}"));
    }

    /// Accepts the `confirm()` the page is showing.
    pub async fn accept_confirm(&self) {
        for _ in 0..100 {
            if self.client.accept_alert().await.is_ok() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("no confirmation was asked");
    }

    /// Waits until the page shows no loading placeholders.
    pub async fn wait_until_loaded(&self) {
        for _ in 0..200 {
            if self
                .client
                .find(Locator::Css("[aria-busy='true']"))
                .await
                .is_err()
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("the page never finished loading");
    }

    /// The current address, path and query.
    pub async fn path(&self) -> String {
        let url = self.client.current_url().await.unwrap();
        match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_owned(),
        }
    }
}

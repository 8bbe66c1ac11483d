//! The real OpenID Connect provider for sign-in tests: `oidc-provider` from npm, run by
//! Node on loopback (`tests/fixtures/oidc`), and a browser-like walk through its flow.

use std::{path::PathBuf, process::Stdio};

use reqwest::{StatusCode, Url};
use tokio::{
    io::{AsyncBufReadExt, BufReader},
    process::{Child, Command},
    sync::OnceCell,
};

/// The client Keyward is registered as.
pub const CLIENT_ID: &str = "keyward";
pub const CLIENT_SECRET: &str = "keyward-test-secret";
/// Another registered client, for tokens meant for someone else.
pub const OTHER_CLIENT_ID: &str = "another-app";
pub const OTHER_CLIENT_SECRET: &str = "another-app-secret";
pub const OTHER_REDIRECT: &str = "http://127.0.0.1:9/callback";

fn fixture_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/oidc")
}

/// Installs the fixture's npm packages once per test run, if they are not there yet.
async fn ensure_installed() {
    static INSTALLED: OnceCell<()> = OnceCell::const_new();
    INSTALLED
        .get_or_init(|| async {
            let dir = fixture_dir();
            if dir.join("node_modules/oidc-provider/package.json").exists() {
                return;
            }
            let status = Command::new("npm")
                .args(["ci", "--no-audit", "--no-fund", "--silent"])
                .current_dir(&dir)
                .status()
                .await
                .expect("the sign-in tests need Node.js and npm to run the OIDC provider");
            assert!(status.success(), "npm ci in {} failed", dir.display());
        })
        .await;
}

/// Settings of one provider instance.
#[derive(Debug, Clone, Default)]
pub struct ProviderOptions {
    /// ID token lifetime in seconds.
    pub id_token_ttl: Option<u64>,
    /// Keep email and name out of the ID token, so they come from userinfo.
    pub userinfo_only: bool,
    /// Listen on this port (to restart a provider under the same issuer).
    pub port: Option<u16>,
    /// Issue access tokens as JWTs: Keyward's for this audience, another client's for
    /// its own.
    pub jwt_audience: Option<String>,
    /// Offer no token introspection.
    pub no_introspection: bool,
}

/// A running provider; stopped when dropped.
pub struct OidcProvider {
    pub issuer: String,
    jwt_access_tokens: bool,
    _child: Child,
}

impl OidcProvider {
    /// Starts a provider that accepts `redirect_uri` for the `keyward` client.
    pub async fn start(redirect_uri: &str, options: ProviderOptions) -> Self {
        ensure_installed().await;
        let mut cmd = Command::new("node");
        cmd.arg("provider.mjs")
            .current_dir(fixture_dir())
            .env("REDIRECT_URI", redirect_uri)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true);
        if let Some(ttl) = options.id_token_ttl {
            cmd.env("ID_TOKEN_TTL", ttl.to_string());
        }
        if options.userinfo_only {
            cmd.env("CONFORM", "1");
        }
        if let Some(port) = options.port {
            cmd.env("PORT", port.to_string());
        }
        if let Some(audience) = &options.jwt_audience {
            cmd.env("JWT_AUDIENCE", audience);
        }
        if options.no_introspection {
            cmd.env("NO_INTROSPECTION", "1");
        }
        let mut child = cmd
            .spawn()
            .expect("node must be installed for the sign-in tests");
        let stdout = child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        let issuer = tokio::time::timeout(std::time::Duration::from_secs(30), async {
            while let Some(line) = lines.next_line().await.unwrap() {
                if let Ok(v) = serde_json::from_str::<serde_json::Value>(&line)
                    && let Some(issuer) = v["issuer"].as_str()
                {
                    return issuer.to_owned();
                }
            }
            panic!("the OIDC provider exited before listening");
        })
        .await
        .expect("the OIDC provider did not start within 30 s");
        Self {
            issuer,
            jwt_access_tokens: options.jwt_audience.is_some(),
            _child: child,
        }
    }

    /// How many token introspection requests the provider has answered.
    pub async fn introspections(&self) -> u64 {
        let answer: serde_json::Value =
            reqwest::get(format!("{}/test/introspections", self.issuer))
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
        answer["count"].as_u64().unwrap()
    }

    /// Runs the authorization-code flow as `client_id` for `login_hint` straight against
    /// the provider, as any OIDC client would, and returns the ID token it issues.
    pub async fn id_token(
        &self,
        client_id: &str,
        secret: &str,
        redirect_uri: &str,
        login_hint: &str,
    ) -> String {
        self.token("id_token", client_id, secret, redirect_uri, login_hint)
            .await
    }

    /// The same flow's access token: opaque, or a JWT when the provider was started with
    /// `jwt_audience`.
    pub async fn access_token(
        &self,
        client_id: &str,
        secret: &str,
        redirect_uri: &str,
        login_hint: &str,
    ) -> String {
        self.token("access_token", client_id, secret, redirect_uri, login_hint)
            .await
    }

    async fn token(
        &self,
        which: &str,
        client_id: &str,
        secret: &str,
        redirect_uri: &str,
        login_hint: &str,
    ) -> String {
        self.tokens(client_id, secret, redirect_uri, login_hint)
            .await[which]
            .as_str()
            .unwrap_or_else(|| panic!("the provider issued no {which}"))
            .to_owned()
    }

    async fn tokens(
        &self,
        client_id: &str,
        secret: &str,
        redirect_uri: &str,
        login_hint: &str,
    ) -> serde_json::Value {
        let client = browser();
        let mut url = Url::parse(&format!("{}/auth", self.issuer)).unwrap();
        url.query_pairs_mut()
            .append_pair("client_id", client_id)
            .append_pair("response_type", "code")
            .append_pair(
                "scope",
                if self.jwt_access_tokens {
                    "openid email profile api"
                } else {
                    "openid email profile"
                },
            )
            .append_pair("redirect_uri", redirect_uri)
            .append_pair("state", "test-state")
            .append_pair("nonce", "test-nonce")
            .append_pair("login_hint", login_hint);
        let callback = follow_until(&client, url, redirect_uri).await;
        let code = callback
            .query_pairs()
            .find(|(k, _)| k == "code")
            .map(|(_, v)| v.into_owned())
            .unwrap_or_else(|| panic!("no code in {callback}"));
        let response = client
            .post(format!("{}/token", self.issuer))
            .basic_auth(client_id, Some(secret))
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", code.as_str()),
                ("redirect_uri", redirect_uri),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        response.json().await.unwrap()
    }
}

/// A client that keeps cookies and does not follow redirects, like a browser we step through.
pub fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// Follows redirects from `start` until one points at `stop_prefix`, and returns that URL
/// without requesting it.
pub async fn follow_until(client: &reqwest::Client, start: Url, stop_prefix: &str) -> Url {
    let mut url = start;
    for _ in 0..10 {
        if url.as_str().starts_with(stop_prefix) {
            return url;
        }
        let response = client.get(url.clone()).send().await.unwrap();
        let status = response.status();
        let Some(location) = response.headers().get("location") else {
            let body = response.text().await.unwrap_or_default();
            panic!("{url} answered {status} without a redirect: {body}");
        };
        url = url.join(location.to_str().unwrap()).unwrap();
    }
    panic!("too many redirects before {stop_prefix}");
}

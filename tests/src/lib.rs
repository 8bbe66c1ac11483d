//! The test harness: the real Keyward server on `127.0.0.1:0`, a fresh migrated database
//! per test (a SQLite file, or a new PostgreSQL database when `KEYWARD_TEST_POSTGRES_URL`
//! is set), and ready-made actors.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{
    io::Write,
    sync::{Arc, Mutex, OnceLock},
};

pub mod browser;
pub mod oidc;
pub mod proxy;
pub mod smtp;

use backend::{
    config::{Config, OidcConfig, Secret},
    domain::Services,
    server::Running,
};
use clap::Parser;
use reqwest::{StatusCode, header::HeaderMap};
use sea_orm::{ConnectionTrait, Database, Statement};
use serde_json::{Value, json};

/// Runs each named `async fn(Db)` as two tests: `<name>::sqlite` and `<name>::postgres`
/// (skipped when `KEYWARD_TEST_POSTGRES_URL` is unset). Test crates take it with
/// `#[macro_use] extern crate tests;`.
#[macro_export]
macro_rules! db_tests {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    super::$name($crate::Db::Sqlite).await
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    if $crate::postgres_url().is_some() {
                        super::$name($crate::Db::Postgres).await
                    }
                }
            }
        )*
    };
}

/// Waits until `node`'s verification cache is (or stops being) trusted: it listens for
/// other nodes' invalidations, or has noticed it no longer does. Waits on the change
/// itself, at most 15 seconds.
pub async fn until_trusted(node: &Services, trusted: bool) {
    let mut changes = node.verifier.trust_changes();
    tokio::time::timeout(
        std::time::Duration::from_secs(15),
        changes.wait_for(|now| *now == trusted),
    )
    .await
    .unwrap_or_else(|_| panic!("the node's cache never became trusted = {trusted}"))
    .unwrap();
}

/// Which database a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Db {
    Sqlite,
    Postgres,
}

/// The PostgreSQL server tests use, if any. On CI it must be set.
pub fn postgres_url() -> Option<String> {
    match std::env::var("KEYWARD_TEST_POSTGRES_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            assert!(
                std::env::var("CI").is_err(),
                "KEYWARD_TEST_POSTGRES_URL must be set on CI so every database test runs on PostgreSQL too"
            );
            None
        }
    }
}

/// Everything the server logs during the test run, to prove secrets never appear there.
pub fn captured_logs() -> String {
    String::from_utf8_lossy(&log_buffer().lock().unwrap()).into_owned()
}

fn log_buffer() -> &'static Arc<Mutex<Vec<u8>>> {
    static BUF: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    BUF.get_or_init(|| Arc::new(Mutex::new(Vec::new())))
}

struct BufWriter(Arc<Mutex<Vec<u8>>>);

impl Write for BufWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(data);
        Ok(data.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn init_logging() {
    static ONCE: OnceLock<()> = OnceLock::new();
    ONCE.get_or_init(|| {
        let buf = log_buffer().clone();
        let _ = tracing_subscriber::fmt()
            .with_env_filter("debug,sqlx=warn,hyper=info,h2=info,reqwest=info")
            .with_ansi(false)
            .with_writer(move || BufWriter(buf.clone()))
            .try_init();
    });
}

/// Where a test's database lives, and how to drop it.
enum Storage {
    Sqlite(#[allow(dead_code)] tempfile::TempDir),
    Postgres { admin_url: String, name: String },
}

/// A running Keyward for one test.
pub struct TestApp {
    pub db: Db,
    pub base: String,
    pub client: reqwest::Client,
    pub database_url: String,
    running: Option<Running>,
    storage: Storage,
}

/// An admin made by `bootstrap`: a PAT, its organization and project.
#[derive(Debug, Clone)]
pub struct Admin {
    pub email: String,
    pub pat: String,
    pub org_id: String,
    pub project_id: String,
}

/// The Redis for shared rate limits, from `KEYWARD_TEST_REDIS_URL`; `None` skips the
/// tests that need it, except on CI, where it must be set.
pub fn redis_url() -> Option<String> {
    match std::env::var("KEYWARD_TEST_REDIS_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            assert!(
                std::env::var("CI").is_err(),
                "KEYWARD_TEST_REDIS_URL must be set on CI so the shared rate limits are tested"
            );
            None
        }
    }
}

/// Replaces the database name of a PostgreSQL URL.
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let slash = base
        .rfind('/')
        .filter(|i| *i > "postgres://".len())
        .unwrap_or(base.len());
    let mut out = format!("{}/{}", &base[..slash], name);
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    out
}

/// A new, empty PostgreSQL database on the test server.
pub struct PostgresDatabase {
    pub url: String,
    admin_url: String,
    name: String,
}

impl PostgresDatabase {
    /// Creates one (needs `KEYWARD_TEST_POSTGRES_URL`).
    pub async fn create() -> Self {
        let admin_url = postgres_url().expect("PostgreSQL tests need KEYWARD_TEST_POSTGRES_URL");
        let name = format!("t_{}", uuid::Uuid::new_v4().simple());
        let admin = Database::connect(&admin_url).await.unwrap();
        admin
            .execute_raw(Statement::from_string(
                admin.get_database_backend(),
                format!("CREATE DATABASE {name}"),
            ))
            .await
            .unwrap();
        admin.close().await.unwrap();
        Self {
            url: with_database(&admin_url, &name),
            admin_url,
            name,
        }
    }

    /// Drops it.
    pub async fn drop(self) {
        drop_postgres_database(&self.admin_url, &self.name).await;
    }
}

async fn drop_postgres_database(admin_url: &str, name: &str) {
    let admin = Database::connect(admin_url).await.unwrap();
    admin
        .execute_raw(Statement::from_string(
            admin.get_database_backend(),
            format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
        ))
        .await
        .unwrap();
    admin.close().await.unwrap();
}

impl TestApp {
    /// Starts Keyward on a fresh database.
    pub async fn spawn(db: Db) -> Self {
        Self::spawn_with(db, |_| {}).await
    }

    /// Starts Keyward on a fresh database with a real OIDC provider configured, and
    /// returns both.
    pub async fn spawn_with_oidc(
        db: Db,
        options: oidc::ProviderOptions,
        adjust: impl FnOnce(&mut Config),
    ) -> (Self, oidc::OidcProvider) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let provider = oidc::OidcProvider::start(&format!("{base}/auth/callback"), options).await;
        let issuer = provider.issuer.clone();
        let app = Self::spawn_inner(db, Some(listener), move |c| {
            c.oidc = Some(OidcConfig {
                issuer,
                client_id: oidc::CLIENT_ID.into(),
                client_secret: Some(Secret::new(oidc::CLIENT_SECRET)),
                redirect_url: format!("{base}/auth/callback"),
                scopes: vec!["email".into(), "profile".into()],
                audience: None,
                opaque_tokens: backend::config::OpaqueTokens::Introspection,
                token_prefixes: Vec::new(),
            });
            c.public_url = base;
            adjust(c);
        })
        .await;
        (app, provider)
    }

    /// Starts Keyward on a fresh database after adjusting its configuration.
    pub async fn spawn_with(db: Db, adjust: impl FnOnce(&mut Config)) -> Self {
        Self::spawn_inner(db, None, adjust).await
    }

    async fn spawn_inner(
        db: Db,
        listener: Option<tokio::net::TcpListener>,
        adjust: impl FnOnce(&mut Config),
    ) -> Self {
        init_logging();
        let (database_url, storage) = match db {
            Db::Sqlite => {
                let dir = tempfile::tempdir().unwrap();
                let url = format!(
                    "sqlite://{}?mode=rwc",
                    dir.path().join("keyward.db").display()
                );
                (url, Storage::Sqlite(dir))
            }
            Db::Postgres => {
                let fresh = PostgresDatabase::create().await;
                (
                    fresh.url.clone(),
                    Storage::Postgres {
                        admin_url: fresh.admin_url,
                        name: fresh.name,
                    },
                )
            }
        };
        let mut config = Config::for_tests(&database_url);
        adjust(&mut config);
        let running = match listener {
            Some(l) => backend::server::start_on(config, l).await.unwrap(),
            None => backend::server::start(config).await.unwrap(),
        };
        let base = format!("http://{}", running.addr);
        Self {
            db,
            base,
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            database_url,
            running: Some(running),
            storage,
        }
    }

    /// The server's services, for checks that look behind the API.
    pub fn services(&self) -> &Services {
        &self.running.as_ref().unwrap().services
    }

    /// Stops the server gracefully (draining and flushing) and keeps the database.
    pub async fn stop_server(&mut self) {
        if let Some(running) = self.running.take() {
            running.shutdown().await;
        }
    }

    /// Starts the server again on the same database.
    pub async fn restart(self) -> Self {
        self.restart_with(|_| {}).await
    }

    /// Starts the server again on the same database, configured anew.
    pub async fn restart_with(mut self, adjust: impl FnOnce(&mut Config)) -> Self {
        self.stop_server().await;
        let mut config = Config::for_tests(&self.database_url);
        adjust(&mut config);
        let running = backend::server::start(config).await.unwrap();
        self.base = format!("http://{}", running.addr);
        self.running = Some(running);
        self
    }

    /// Starts another node on the same database (its own pool, cache and listener),
    /// as a second replica behind a load balancer would be.
    pub async fn another_node(&self) -> Running {
        self.another_node_with(|_| {}).await
    }

    /// [`Self::another_node`] after adjusting its configuration.
    pub async fn another_node_with(&self, adjust: impl FnOnce(&mut Config)) -> Running {
        let mut config = Config::for_tests(&self.database_url);
        adjust(&mut config);
        backend::server::start(config).await.unwrap()
    }

    /// Stops the server and drops the database.
    pub async fn finish(mut self) {
        self.stop_server().await;
        if let Storage::Postgres { admin_url, name } = &self.storage {
            drop_postgres_database(admin_url, name).await;
        }
    }

    /// Runs `keyward-server bootstrap --email EMAIL` against this database and returns
    /// the admin it made, as a user would get it.
    pub async fn bootstrap(&self, email: &str) -> Admin {
        let args = ["keyward-server", "bootstrap", "--email", email];
        let cli = backend::config::Cli::try_parse_from(args).unwrap();
        let mut out = Vec::new();
        let config = Config::for_tests(&self.database_url);
        backend::cli::run(cli.command.unwrap(), config, &mut out)
            .await
            .unwrap();
        let pat = String::from_utf8(out).unwrap().trim().to_owned();
        let me = self
            .gql(&pat, "{ organizations { id projects { id } } }", json!({}))
            .await
            .data();
        Admin {
            email: email.to_owned(),
            org_id: me["organizations"][0]["id"].as_str().unwrap().to_owned(),
            project_id: me["organizations"][0]["projects"][0]["id"]
                .as_str()
                .unwrap()
                .to_owned(),
            pat,
        }
    }

    /// A user who is not an instance admin, owning an organization of their own, with a
    /// fresh PAT.
    pub async fn user(&self, email: &str) -> Admin {
        use backend::domain::{Actor, access::Grant, credentials, orgs};
        use sea_orm::TransactionTrait;
        let services = self.services();
        let txn = services.test_db().begin().await.unwrap();
        let (customer, _) =
            orgs::find_or_create_local_customer(&txn, email, false, services.clock.now())
                .await
                .unwrap();
        let actor = Grant::system_for_tests(Actor::system(), services.clock.now());
        let (org, project) =
            orgs::create_org_in(&txn, &actor, customer.id, &format!("{email}'s org"), None)
                .await
                .unwrap();
        let expires = chrono::Utc::now() + credentials::PAT_DEFAULT_LIFETIME;
        let (_, pat) = credentials::issue_pat_in(
            &txn,
            services,
            &actor,
            customer.id,
            "test".into(),
            expires,
            None,
        )
        .await
        .unwrap();
        txn.commit().await.unwrap();
        Admin {
            email: email.to_owned(),
            pat: pat.expose_secret().to_owned(),
            org_id: org.id.to_string(),
            project_id: project.id.to_string(),
        }
    }

    /// Invites `member` into `org` with the role `key`, by `owner_pat`, and has them
    /// accept; returns the membership id.
    pub async fn join(&self, owner_pat: &str, org: &str, member: &Admin, key: &str) -> String {
        let role = self.role_id(owner_pat, org, key).await;
        let invite = self
            .gql(
                owner_pat,
                "mutation($i: InviteMemberInput!) { inviteMember(input: $i) { id } }",
                json!({ "i": { "organizationId": org, "email": member.email, "roleId": role } }),
            )
            .await
            .data();
        self.gql(
            &member.pat,
            "mutation($i: InviteInput!) { acceptInvite(input: $i) { status } }",
            json!({ "i": { "id": invite["inviteMember"]["id"] } }),
        )
        .await
        .data();
        self.member_id(owner_pat, org, &member.email).await
    }

    /// A new personal access token for `customer`, issued by the server as the CLI sign-in
    /// does: `(id, secret)`.
    pub async fn pat_for(&self, customer: uuid::Uuid, name: &str) -> (uuid::Uuid, String) {
        use backend::domain::{Actor, access::Grant, credentials};
        use sea_orm::TransactionTrait;
        let services = self.services();
        let txn = services.test_db().begin().await.unwrap();
        let (model, secret) = credentials::issue_pat_in(
            &txn,
            services,
            &Grant::system_for_tests(Actor::system(), services.clock.now()),
            customer,
            name.to_owned(),
            chrono::Utc::now() + chrono::TimeDelta::days(30),
            None,
        )
        .await
        .unwrap();
        txn.commit().await.unwrap();
        (model.id, secret.expose_secret().to_owned())
    }

    /// The membership id of `email` in `org`, as `token` lists the members.
    pub async fn member_id(&self, token: &str, org: &str, email: &str) -> String {
        let members = self
            .gql(
                token,
                "query($o: ID!) { members(organizationId: $o, first: 100) { nodes { id user { email } } } }",
                json!({ "o": org }),
            )
            .await
            .data();
        members["members"]["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["user"]["email"] == email)
            .unwrap_or_else(|| panic!("{email} is no member: {members}"))["id"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// The id of the role `key` (`owner`, `viewer`, a custom role's key) in `org`.
    pub async fn role_id(&self, token: &str, org: &str, key: &str) -> String {
        let roles = self
            .gql(
                token,
                "query($o: ID!) { roles(organizationId: $o, first: 100) { nodes { id key } } }",
                json!({ "o": org }),
            )
            .await
            .data();
        roles["roles"]["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["key"] == key)
            .unwrap_or_else(|| panic!("no role {key}: {roles}"))["id"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// Changes the database behind the API's back, for states no operation makes (yet):
    /// one statement with `?` placeholders, which become `$n` on PostgreSQL.
    pub async fn exec(&self, sql: &str, values: Vec<sea_orm::Value>) {
        let db = self.services().test_db();
        let backend = db.get_database_backend();
        let sql = if backend == sea_orm::DbBackend::Postgres {
            let mut n = 0;
            sql.chars()
                .map(|c| {
                    if c == '?' {
                        n += 1;
                        format!("${n}")
                    } else {
                        c.to_string()
                    }
                })
                .collect()
        } else {
            sql.to_owned()
        };
        db.execute_raw(Statement::from_sql_and_values(backend, sql, values))
            .await
            .unwrap();
    }

    /// Sends a GraphQL request authenticated by `token` (`Authorization: Bearer`).
    pub async fn gql(&self, token: &str, query: &str, variables: Value) -> Gql {
        self.gql_at(&self.base, token, query, variables).await
    }

    /// [`Self::gql`] sent to the node at `base` (another replica's, say).
    pub async fn gql_at(&self, base: &str, token: &str, query: &str, variables: Value) -> Gql {
        let response = self
            .client
            .post(format!("{base}/graphql"))
            .bearer_auth(token)
            .json(&json!({ "query": query, "variables": variables }))
            .send()
            .await
            .unwrap();
        let status = response.status();
        let body = response.json().await.unwrap();
        Gql { status, body }
    }

    /// Signs in with the development link (needs `dev_signin` on) and returns the
    /// session cookie, as a browser holds it.
    pub async fn dev_session(&self) -> String {
        let link = self.services().offer_dev_signin().await.unwrap();
        let path = link.split_once("/auth/dev").unwrap().1;
        let response = self
            .client
            .get(format!("{}/auth/dev{path}", self.base))
            .send()
            .await
            .unwrap();
        let set_cookie = response.headers()["set-cookie"].to_str().unwrap();
        set_cookie.split(';').next().unwrap().to_owned()
    }

    /// A dashboard session for a customer in an organization and project, as the cookie a
    /// browser would hold after signing in (encrypted with the server's own key).
    pub async fn session_cookie(
        &self,
        customer: uuid::Uuid,
        org: uuid::Uuid,
        project: uuid::Uuid,
    ) -> String {
        use backend::domain::sessions::SESSION_COOKIE;
        use tower_cookies::cookie::{Cookie, CookieJar};
        let services = self.services();
        let secret = services
            .create_session(
                customer,
                org,
                project,
                &Default::default(),
                backend::domain::sessions::SignInMethod::Oidc,
            )
            .await
            .unwrap();
        let key = backend::server::cookie_key(&services.config, services.test_db())
            .await
            .unwrap();
        let mut jar = CookieJar::new();
        jar.private_mut(&key).add(Cookie::new(
            SESSION_COOKIE,
            secret.expose_secret().to_owned(),
        ));
        let value = jar.get(SESSION_COOKIE).unwrap().value().to_owned();
        format!("{SESSION_COOKIE}={value}")
    }

    /// The id of the first organization a session cookie's user belongs to.
    pub async fn first_org(&self, cookie: &str) -> String {
        self.gql_session(cookie, "{ organizations { id } }", json!({}))
            .await
            .data()["organizations"][0]["id"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// Sends a GraphQL request as the dashboard does: the session cookie and its origin.
    pub async fn gql_session(&self, cookie: &str, query: &str, variables: Value) -> Gql {
        let response = self
            .client
            .post(format!("{}/graphql", self.base))
            .header("cookie", cookie)
            .header("origin", &self.base)
            .json(&json!({ "query": query, "variables": variables }))
            .send()
            .await
            .unwrap();
        let status = response.status();
        let body = response.json().await.unwrap();
        Gql { status, body }
    }

    /// `GET /api/v1/api-keys/verify` with the credential in the given header style.
    pub async fn verify(&self, style: Header, token: &str) -> (StatusCode, HeaderMap, Value) {
        let mut req = self
            .client
            .get(format!("{}/api/v1/api-keys/verify", self.base));
        req = match style {
            Header::Bearer => req.header("authorization", format!("Bearer {token}")),
            Header::ApiKey => req.header("authorization", format!("ApiKey {token}")),
            Header::XApiKey => req.header("x-api-key", token),
        };
        let response = req.send().await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let body = response.json().await.unwrap_or(Value::Null);
        (status, headers, body)
    }

    /// `POST /api/v1/keys/verify`.
    pub async fn verify_body(&self, body: Value) -> (StatusCode, Value) {
        let response = self
            .client
            .post(format!("{}/api/v1/keys/verify", self.base))
            .json(&body)
            .send()
            .await
            .unwrap();
        (
            response.status(),
            response.json().await.unwrap_or(Value::Null),
        )
    }

    /// A REST management call (`path` from `/api/v1`) as `token`: the status and the JSON
    /// answer (`null` when there is none). Every error answer must be problem+json.
    pub async fn rest(
        &self,
        method: reqwest::Method,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut request = self
            .client
            .request(method, format!("{}/api/v1{path}", self.base))
            .bearer_auth(token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        if status >= 400 {
            assert_eq!(
                response.headers()["content-type"],
                "application/problem+json",
                "{path}"
            );
        }
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// Creates an API key over GraphQL and returns `(id, secret)`.
    pub async fn create_key(&self, token: &str, input: Value) -> (String, String) {
        let r = self
            .gql(
                token,
                "mutation($i: CreateApiKeyInput!) { createApiKey(input: $i) { secret apiKey { id } } }",
                json!({ "i": input }),
            )
            .await
            .data();
        (
            r["createApiKey"]["apiKey"]["id"]
                .as_str()
                .unwrap()
                .to_owned(),
            r["createApiKey"]["secret"].as_str().unwrap().to_owned(),
        )
    }
}

/// How a credential is presented.
#[derive(Debug, Clone, Copy)]
pub enum Header {
    Bearer,
    ApiKey,
    XApiKey,
}

/// A GraphQL response.
#[derive(Debug)]
pub struct Gql {
    pub status: StatusCode,
    pub body: Value,
}

impl Gql {
    /// The data, asserting there were no errors.
    pub fn data(self) -> Value {
        assert!(
            self.body.get("errors").is_none(),
            "unexpected errors: {}",
            self.body
        );
        self.body["data"].clone()
    }

    /// The code of the first error, asserting there was one.
    pub fn error_code(&self) -> String {
        self.body["errors"][0]["extensions"]["code"]
            .as_str()
            .unwrap_or_else(|| panic!("expected an error with a code: {}", self.body))
            .to_owned()
    }

    /// The message of the first error.
    pub fn error_message(&self) -> String {
        self.body["errors"][0]["message"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }
}

/// Hex SHA-256, as Keyward stores tokens.
pub fn sha256_hex(s: &str) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(s.as_bytes()))
}

/// A GraphQL document of `levels` fragments, each spreading the previous one twice: a few
/// kilobytes that expand to 2^levels fields.
pub fn fragment_bomb(levels: usize) -> String {
    let mut doc = format!("query {{ organizations {{ ...F{levels} }} }}\n");
    doc.push_str("fragment F0 on Organization { id name slug }\n");
    for i in 1..=levels {
        doc.push_str(&format!(
            "fragment F{i} on Organization {{ ...F{p} ...F{p} }}\n",
            p = i - 1
        ));
    }
    doc
}

/// The variable that makes [`child_server`]'s process serve instead of testing.
pub const CHILD_DATABASE: &str = "KEYWARD_TEST_CHILD_DATABASE";

/// Keyward serving in a process of its own, to be killed as a crash would.
pub struct ChildServer {
    pub base: String,
    child: tokio::process::Child,
}

impl ChildServer {
    /// Kills the process at once (SIGKILL): no shutdown, no flush, nothing given back.
    pub async fn kill(mut self) {
        self.child.kill().await.unwrap();
    }
}

/// Starts Keyward on `database_url` in another process: this test binary again, running
/// only the test `serving_test` (which serves when [`CHILD_DATABASE`] is set), until it
/// says where it listens.
pub async fn child_server(database_url: &str, serving_test: &str) -> ChildServer {
    use tokio::io::AsyncBufReadExt;
    let mut child = tokio::process::Command::new(std::env::current_exe().unwrap())
        .args([serving_test, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_DATABASE, database_url)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let addr = tokio::time::timeout(std::time::Duration::from_secs(60), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            // The harness may have begun the line with the test's name.
            if let Some((_, addr)) = line.split_once("keyward-child-listening ") {
                return addr.trim().to_owned();
            }
        }
        panic!("the child server ended before it listened");
    })
    .await
    .expect("the child server did not start within a minute");
    // Its output is not read any more: drained so it never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    ChildServer {
        base: format!("http://{addr}"),
        child,
    }
}

/// The body of the serving test [`child_server`] runs: serves on the database in
/// [`CHILD_DATABASE`] until killed; without it, returns at once.
pub async fn serve_if_child() {
    let Ok(url) = std::env::var(CHILD_DATABASE) else {
        return;
    };
    let running = backend::server::start(Config::for_tests(&url))
        .await
        .unwrap();
    // The parent reads this line from the process's standard output.
    let mut out = std::io::stdout();
    std::io::Write::write_fmt(
        &mut out,
        format_args!("keyward-child-listening {}\n", running.addr),
    )
    .unwrap();
    std::io::Write::flush(&mut out).unwrap();
    std::future::pending::<()>().await;
}

//! The authenticated API client: typed GraphQL operations (`queries/cli.graphql`, checked
//! against the server's schema at compile time) and the REST endpoints the CLI needs.

use std::time::Duration;

use graphql_client::GraphQLQuery;
use serde::{Serialize, de::DeserializeOwned};
use serde_json::{Value, json};

use crate::{
    config::Source,
    error::{Error, Result},
    token::Secret,
};

/// Times arrive as RFC 3339 strings.
pub type DateTime = chrono::DateTime<chrono::Utc>;

/// The GraphQL operations, one module each (`ops::me::ResponseData`, …).
pub mod ops {
    use graphql_client::GraphQLQuery;

    /// Times arrive as RFC 3339 strings.
    type DateTime = super::DateTime;
    /// The product's metadata on keys and identities (the schema's scalar is named so).
    #[allow(clippy::upper_case_acronyms)]
    type JSON = serde_json::Value;

    macro_rules! operation {
        ($name:ident) => {
            #[derive(GraphQLQuery)]
            #[graphql(
                schema_path = "../backend/schema.graphql",
                query_path = "queries/cli.graphql",
                response_derives = "Debug",
                variables_derives = "Debug, Clone"
            )]
            pub struct $name;
        };
    }

    operation!(Me);
    operation!(Organizations);
    operation!(ViewerAccess);
    operation!(Projects);
    operation!(ApiKeys);
    operation!(ApiKey);
    operation!(CreateApiKey);
    operation!(RevokeApiKey);
    operation!(RotateApiKey);
    operation!(DisableApiKey);
    operation!(EnableApiKey);
    operation!(ChangeApiKeyCredits);
    operation!(PersonalAccessTokens);
    operation!(Identities);
    operation!(Identity);
    operation!(IdentityByExternalId);
    operation!(CreateIdentity);
    operation!(DeleteIdentity);
    operation!(ChangeIdentityCredits);
    operation!(CreatePersonalAccessToken);
    operation!(RevokePersonalAccessToken);

    /// An edit sends only the fields given: one left out is left as it is.
    #[derive(GraphQLQuery)]
    #[graphql(
        schema_path = "../backend/schema.graphql",
        query_path = "queries/cli.graphql",
        response_derives = "Debug",
        variables_derives = "Debug, Clone",
        skip_serializing_none
    )]
    pub struct UpdateApiKey;

    /// Likewise for an identity.
    #[derive(GraphQLQuery)]
    #[graphql(
        schema_path = "../backend/schema.graphql",
        query_path = "queries/cli.graphql",
        response_derives = "Debug",
        variables_derives = "Debug, Clone",
        skip_serializing_none
    )]
    pub struct UpdateIdentity;
}

/// An API key as the CLI shows it: the `KeyFields` fragment, which each operation's
/// module types on its own, read into one type.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Key {
    pub id: String,
    pub kind: String,
    pub name: String,
    pub prefix: String,
    pub last4: String,
    pub status: String,
    pub environment: Option<String>,
    pub scopes: Option<Vec<String>>,
    pub project: Option<Named>,
    pub created_at: DateTime,
    pub expires_at: Option<DateTime>,
    pub last_used_at: Option<DateTime>,
    pub request_count: i64,
    pub rate_limit_per_minute: Option<i64>,
    pub revoked_at: Option<DateTime>,
    /// The key it replaced by rotation.
    pub replaces: Option<KeyLink>,
    /// The key that replaced it by rotation, and when it stops working.
    pub replaced_by: Option<KeyLink>,
    pub rotation_ends_at: Option<DateTime>,
}

/// The other key of a rotation.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct KeyLink {
    pub id: String,
    pub name: String,
    pub prefix: String,
}

/// A personal access token as the CLI shows it (the `TokenFields` fragment).
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Token {
    pub id: String,
    pub name: String,
    pub prefix: String,
    pub last4: String,
    pub status: String,
    pub scopes: Option<Vec<String>>,
    pub created_at: DateTime,
    pub expires_at: Option<DateTime>,
    pub last_used_at: Option<DateTime>,
    pub request_count: i64,
}

/// An identity as the CLI shows it (the `IdentityFields` fragment).
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Identity {
    pub id: String,
    pub external_id: String,
    pub meta: Option<Value>,
    pub credits: Option<Credits>,
    pub ratelimits: Vec<Ratelimit>,
    pub created_at: DateTime,
}

/// Credits left, and their refill.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Credits {
    pub remaining: i64,
    pub refill: Option<Value>,
}

/// A named rate limit.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Ratelimit {
    pub name: String,
    pub limit: i64,
    pub duration_ms: i64,
    pub auto_apply: bool,
}

/// Something with an id and a name.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct Named {
    pub id: String,
    pub name: String,
}

/// Who a credential acts for (`me`).
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Me {
    pub user: Option<User>,
    pub is_instance_admin: bool,
    /// `session`, `api_key`, `pat` or `service_account_key`.
    pub authenticated_by: String,
    pub credential_name: Option<String>,
    /// Null: the credential carries all of its holder's role.
    pub credential_scopes: Option<Vec<String>>,
    pub credential_expires_at: Option<DateTime>,
    pub organization_id: Option<String>,
    pub project_id: Option<String>,
}

#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct User {
    pub id: String,
    pub email: String,
    pub name: String,
}

/// An organization with the caller's role.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Organization {
    pub id: String,
    pub name: String,
    pub slug: String,
    pub suspended: bool,
    pub viewer_role: Option<RoleName>,
}

#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct RoleName {
    pub key: String,
    pub name: String,
}

#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct Project {
    pub id: String,
    pub name: String,
    pub slug: String,
    pub namespace: String,
}

/// One page of a connection.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Page<T> {
    pub total_count: i64,
    pub page_info: PageInfo,
    pub nodes: Vec<T>,
}

#[derive(Debug, Clone, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PageInfo {
    pub has_next_page: bool,
    pub end_cursor: Option<String>,
}

/// How long any one request may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// A client of one Keyward server, with or without a credential.
#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
    server: String,
    source: Source,
    token: Option<Secret>,
}

impl Client {
    /// A client of `server` (`https://auth.example.com`) acting with `token`.
    pub fn new(server: &str, token: Option<Secret>) -> Result<Self> {
        Self::configured(server, Source::Default, token)
    }

    /// As [`Client::new`], remembering where the server's URL was set, for messages.
    pub fn configured(server: &str, source: Source, token: Option<Secret>) -> Result<Self> {
        let http = reqwest::Client::builder()
            .user_agent(concat!("keyward-cli/", env!("CARGO_PKG_VERSION")))
            .timeout(REQUEST_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| Error::other(format!("cannot start an HTTP client: {e}")))?;
        Ok(Self {
            http,
            server: crate::config::parse_server(server)?,
            source,
            token,
        })
    }

    pub fn server(&self) -> &str {
        &self.server
    }

    /// The same server with another credential.
    pub fn with_token(&self, token: Option<Secret>) -> Self {
        Self {
            token,
            ..self.clone()
        }
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.server)
    }

    fn unreachable(&self, err: &reqwest::Error) -> Error {
        // The innermost cause says what happened ("Connection refused"); the outer layers
        // only repeat the URL.
        let mut cause: &dyn std::error::Error = err;
        while let Some(next) = cause.source() {
            cause = next;
        }
        let reason = if err.is_timeout() {
            "it did not answer in time".to_owned()
        } else {
            cause.to_string()
        };
        Error::Unreachable {
            server: self.server.clone(),
            source_of: self.source.to_string(),
            reason,
        }
    }

    /// Sends a request, with the credential when there is one.
    async fn send(&self, request: reqwest::RequestBuilder) -> Result<reqwest::Response> {
        let request = match &self.token {
            Some(token) => request.bearer_auth(token.expose()),
            None => request,
        };
        request.send().await.map_err(|e| self.unreachable(&e))
    }

    async fn json_of(&self, response: reqwest::Response) -> Result<Value> {
        let status = response.status();
        let body = response.text().await.map_err(|e| self.unreachable(&e))?;
        serde_json::from_str(&body).map_err(|_| {
            Error::other(format!(
                "{} answered {status} with something that is not JSON: is it a Keyward server?",
                self.server
            ))
        })
    }

    /// Runs one GraphQL operation (its text and variables checked against the schema at
    /// compile time) and reads the root field `field` of its answer as `T`.
    pub async fn field<Q, T>(&self, variables: Q::Variables, field: &str) -> Result<T>
    where
        Q: GraphQLQuery,
        Q::Variables: Serialize,
        T: DeserializeOwned,
    {
        self.field_clearing::<Q, T>(variables, &[], field).await
    }

    /// [`Client::field`] for an edit that also removes: each input member named in
    /// `clear` is sent as `null` (an edit's typed variables leave out what is not given).
    pub async fn field_clearing<Q, T>(
        &self,
        variables: Q::Variables,
        clear: &[&str],
        field: &str,
    ) -> Result<T>
    where
        Q: GraphQLQuery,
        Q::Variables: Serialize,
        T: DeserializeOwned,
    {
        if self.token.is_none() {
            return Err(Error::from_code("UNAUTHENTICATED", Some("MISSING"), ""));
        }
        let mut body = serde_json::to_value(Q::build_query(variables))
            .map_err(|e| Error::other(format!("cannot write the request: {e}")))?;
        for member in clear {
            body["variables"]["input"][*member] = Value::Null;
        }
        let response = self
            .send(self.http.post(self.url("/graphql")).json(&body))
            .await?;
        let mut value = self.json_of(response).await?;
        if let Some(error) = value["errors"].get(0) {
            let message = error["message"].as_str().unwrap_or("the server refused");
            let code = error["extensions"]["code"].as_str().unwrap_or("");
            let reason = error["extensions"]["reason"].as_str();
            return Err(Error::from_code(code, reason, message));
        }
        serde_json::from_value(value["data"][field].take()).map_err(|e| {
            Error::other(format!(
                "the server's answer did not match this CLI ({e}): is the CLI as new as the server?"
            ))
        })
    }

    /// Runs a mutation whose answer carries a `secret` (shown once) beside `item`. The
    /// secret is read on its own first, so an answer this CLI cannot otherwise read still
    /// yields it: a credential that was made is never lost unseen.
    pub async fn created<Q, T>(
        &self,
        variables: Q::Variables,
        field: &str,
        item: &str,
    ) -> Result<(Secret, Result<T>)>
    where
        Q: GraphQLQuery,
        Q::Variables: Serialize,
        T: DeserializeOwned,
    {
        let mut answer: Value = self.field::<Q, _>(variables, field).await?;
        let secret = answer["secret"]
            .as_str()
            .map(Secret::new)
            .ok_or_else(|| Error::other("the server's answer carried no secret"))?;
        let described = serde_json::from_value(answer[item].take()).map_err(|e| {
            Error::other(format!(
                "the server's answer did not match this CLI ({e}): is the CLI as new as the server?"
            ))
        });
        Ok((secret, described))
    }

    /// Who the credential acts for.
    pub async fn me(&self) -> Result<Me> {
        self.field::<ops::Me, _>(ops::me::Variables, "me").await
    }

    /// Revokes the personal access token the client holds (`keyward logout`).
    pub async fn revoke_current(&self) -> Result<()> {
        let response = self
            .send(self.http.post(self.url("/api/v1/pats/current/revoke")))
            .await?;
        if response.status().is_success() {
            return Ok(());
        }
        Err(self.problem(response).await)
    }

    /// Verifies any credential (`POST /api/v1/keys/verify`): the server's answer, valid
    /// or not.
    pub async fn verify(&self, token: &Secret) -> Result<Value> {
        let response = self
            .http
            .post(self.url("/api/v1/keys/verify"))
            .json(&json!({ "key": token.expose() }))
            .send()
            .await
            .map_err(|e| self.unreachable(&e))?;
        if response.status().is_success() {
            return self.json_of(response).await;
        }
        Err(self.problem(response).await)
    }

    /// Posts a form without the credential (the login endpoints) and returns the status
    /// and JSON body.
    pub(crate) async fn post_form(
        &self,
        path: &str,
        form: &[(&str, &str)],
    ) -> Result<(u16, Value)> {
        let response = self
            .http
            .post(self.url(path))
            .form(form)
            .send()
            .await
            .map_err(|e| self.unreachable(&e))?;
        let status = response.status().as_u16();
        Ok((status, self.json_of(response).await?))
    }

    /// The error of a refused REST request (RFC 9457 problem+json).
    async fn problem(&self, response: reqwest::Response) -> Error {
        let status = response.status();
        let body = match self.json_of(response).await {
            Ok(body) => body,
            Err(err) => return err,
        };
        let detail = body["detail"].as_str().unwrap_or("the server refused");
        let code = body["code"].as_str().unwrap_or("");
        match status.as_u16() {
            401 => Error::from_code("UNAUTHENTICATED", Some(code), detail),
            403 => Error::from_code("FORBIDDEN", None, detail),
            404 => Error::from_code("NOT_FOUND", None, detail),
            _ => Error::from_code(code, None, detail),
        }
    }
}

//! The typed GraphQL client: every operation lives in `queries/*.graphql` and is checked
//! against the server's committed schema when the dashboard compiles.

use graphql_client::{GraphQLQuery, Response};
use serde::{Serialize, de::DeserializeOwned};

/// Times arrive as RFC 3339 strings.
pub type DateTime = String;
/// Audit details arrive as free-form JSON.
#[allow(clippy::upper_case_acronyms)]
pub type JSON = serde_json::Value;

macro_rules! operation {
    ($name:ident) => {
        #[derive(GraphQLQuery)]
        #[graphql(
            schema_path = "../backend/schema.graphql",
            query_path = "queries/dashboard.graphql",
            response_derives = "Debug, Clone, PartialEq",
            variables_derives = "Debug, Clone"
        )]
        pub struct $name;
    };
}

operation!(Me);
operation!(ViewerAccess);
operation!(PermissionCatalog);
operation!(DefineResource);
operation!(SwitchSession);
operation!(ApiKeys);
operation!(KeyActivity);
operation!(CreateApiKey);
operation!(RevokeApiKey);
operation!(PersonalAccessTokens);
operation!(CreatePersonalAccessToken);
operation!(RevokePersonalAccessToken);
operation!(Sessions);
operation!(RevokeSession);
operation!(RevokeOtherSessions);
operation!(ApiKey);

/// An edit sends only what changed: a member left out is left as it is.
#[derive(GraphQLQuery)]
#[graphql(
    schema_path = "../backend/schema.graphql",
    query_path = "queries/dashboard.graphql",
    response_derives = "Debug, Clone, PartialEq",
    variables_derives = "Debug, Clone",
    skip_serializing_none
)]
pub struct UpdateApiKey;
operation!(Identities);
operation!(CreateIdentity);
operation!(DeleteIdentity);
operation!(RenameApiKey);
operation!(DisableApiKey);
operation!(EnableApiKey);
operation!(RotateApiKey);
operation!(KeyUsage);
operation!(KeyVerifications);
operation!(RecentVerifications);
operation!(OrganizationVerifications);
operation!(ServiceAccounts);
operation!(CreateServiceAccount);
operation!(CreateServiceAccountKey);
operation!(DisableServiceAccount);
operation!(EnableServiceAccount);
operation!(Members);
operation!(Invites);
operation!(Roles);
operation!(MyInvites);
operation!(InviteMember);
operation!(RevokeInvite);
operation!(AcceptInvite);
operation!(DeclineInvite);
operation!(UpdateMemberRole);
operation!(RemoveMember);
operation!(CreateRole);
operation!(UpdateRole);
operation!(DeleteRole);
operation!(AuditEvents);
operation!(Users);
operation!(UserCredentials);
operation!(SuspendCustomer);
operation!(UnsuspendCustomer);
operation!(AdminRevokeCredential);
operation!(OrganizationSettings);
operation!(RenameOrganization);
operation!(UpdateOrganizationSettings);
operation!(CreateOrganization);
operation!(CreateProject);
operation!(DeviceAuthorization);
operation!(ApproveDevice);
operation!(DenyDevice);
operation!(ApproveCliLogin);
operation!(WebhookEndpoints);
operation!(WebhookDeliveries);
operation!(WebhookDelivery);
operation!(CreateWebhookEndpoint);
operation!(DeleteWebhookEndpoint);
operation!(RetryWebhookDelivery);

/// What can go wrong talking to the server, in words for people.
#[derive(Debug, Clone, PartialEq)]
pub enum ApiError {
    /// The session is gone: sign in again.
    SignedOut,
    /// The server refused, with its explanation.
    Refused(String),
    /// The server could not be reached or answered nonsense.
    Network(String),
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::SignedOut => f.write_str("Your session has ended. Sign in again."),
            Self::Refused(message) => f.write_str(&crate::logic::sentence(message)),
            Self::Network(message) => {
                write!(f, "Keyward could not be reached ({message}). Try again.")
            }
        }
    }
}

/// Runs one operation against `/graphql` with the session cookie.
pub async fn run<Q>(variables: Q::Variables) -> Result<Q::ResponseData, ApiError>
where
    Q: GraphQLQuery,
    Q::Variables: Serialize,
    Q::ResponseData: DeserializeOwned,
{
    run_clearing::<Q>(variables, &[]).await
}

/// [`run`] for an edit that also removes: each input member named in `clear` is sent as
/// `null` (an edit's typed variables leave out what is not changed).
pub async fn run_clearing<Q>(
    variables: Q::Variables,
    clear: &[&str],
) -> Result<Q::ResponseData, ApiError>
where
    Q: GraphQLQuery,
    Q::Variables: Serialize,
    Q::ResponseData: DeserializeOwned,
{
    let mut body = serde_json::to_value(Q::build_query(variables))
        .map_err(|e| ApiError::Network(e.to_string()))?;
    for member in clear {
        body["variables"]["input"][*member] = serde_json::Value::Null;
    }
    let response = gloo_net::http::Request::post("/graphql")
        .header("x-keyward-client", "dashboard")
        .json(&body)
        .map_err(|e| ApiError::Network(e.to_string()))?
        .send()
        .await
        .map_err(|e| ApiError::Network(e.to_string()))?;
    if response.status() == 401 {
        return Err(ApiError::SignedOut);
    }
    let parsed: Response<Q::ResponseData> = response
        .json()
        .await
        .map_err(|e| ApiError::Network(e.to_string()))?;
    if let Some(error) = parsed.errors.as_ref().and_then(|e| e.first()) {
        return Err(ApiError::Refused(error.message.clone()));
    }
    parsed
        .data
        .ok_or_else(|| ApiError::Network("an empty answer".into()))
}

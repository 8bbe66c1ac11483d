//! Mutations: API keys and personal access tokens.

use async_graphql::{Context, ID, InputObject, Object};
use chrono::{DateTime, TimeDelta, Utc};

use crate::domain::{
    credentials::{ImportedKey, NewApiKey, NewPat},
    ids::parse_id,
};
use crate::graphql::types::{
    ApiKey, ApiKeyWithSecret, Environment, PersonalAccessToken, PersonalAccessTokenWithSecret,
    actor, services,
};

/// API keys and personal access tokens.
#[derive(Default)]
pub struct CredentialMutation;

#[derive(InputObject)]
pub struct CreateApiKeyInput {
    pub organization_id: ID,
    /// Limit the key to one project.
    pub project_id: Option<ID>,
    pub name: String,
    /// Must be in the future; none means the key never expires.
    pub expires_at: Option<DateTime<Utc>>,
    /// `resource:level` scopes; none means all of your permissions, as they are at each use.
    pub scopes: Option<Vec<String>>,
    #[graphql(default)]
    pub environment: Environment,
    /// Requests per minute (1–1000000); none means the organization's default.
    pub rate_limit_per_minute: Option<i32>,
    /// The product's own data (a JSON object, at most 4 KB and 4 levels deep), returned
    /// by verify.
    pub meta: Option<async_graphql::Json<serde_json::Value>>,
    /// Credits verifications spend; none: unlimited.
    pub credits: Option<crate::graphql::controls::CreditsInput>,
    /// Named rate limits of the key.
    pub ratelimits: Option<Vec<crate::graphql::controls::RatelimitInput>>,
    /// The product's id of the key's customer: the key joins that identity, made on first
    /// use.
    pub external_id: Option<String>,
}

#[derive(InputObject)]
pub struct RenameApiKeyInput {
    pub id: ID,
    pub name: String,
}

#[derive(InputObject)]
pub struct ApiKeyInput {
    pub id: ID,
}

#[derive(InputObject)]
pub struct RevokeApiKeyInput {
    pub id: ID,
    /// Why, for the audit log.
    pub reason: Option<String>,
}

#[derive(InputObject)]
pub struct RotateApiKeyInput {
    pub id: ID,
    /// How long the old secret keeps working: 0 (default) to 86400 seconds.
    #[graphql(default)]
    pub grace_period_seconds: i32,
}

#[derive(InputObject)]
pub struct ImportApiKeyInput {
    pub organization_id: ID,
    pub project_id: Option<ID>,
    pub name: String,
    /// Hex SHA-256 of the whole token.
    pub sha256: String,
    /// The start every token of that system shares, e.g. `vc_`; tokens starting so are looked up by hash.
    pub prefix: String,
    /// The token's last four characters, if known.
    pub last4: Option<String>,
    pub expires_at: Option<DateTime<Utc>>,
    pub scopes: Option<Vec<String>>,
    #[graphql(default)]
    pub environment: Environment,
    /// When the key was made in the other system.
    pub created_at: Option<DateTime<Utc>>,
}

#[derive(InputObject)]
pub struct CreatePersonalAccessTokenInput {
    /// Usually the machine it is for.
    pub name: String,
    /// Default: 120 days from now.
    pub expires_at: Option<DateTime<Utc>>,
    pub scopes: Option<Vec<String>>,
}

#[derive(InputObject)]
pub struct RevokePersonalAccessTokenInput {
    pub id: ID,
    pub reason: Option<String>,
}

#[Object]
impl CredentialMutation {
    /// Creates an API key; the secret is in the payload, once. **Permissions**: `api_keys:write`.
    async fn create_api_key(
        &self,
        ctx: &Context<'_>,
        input: CreateApiKeyInput,
    ) -> async_graphql::Result<ApiKeyWithSecret> {
        let new = NewApiKey {
            organization_id: parse_id("input.organizationId", &input.organization_id)?,
            project_id: input
                .project_id
                .map(|p| parse_id("input.projectId", &p))
                .transpose()?,
            name: input.name,
            expires_at: input.expires_at,
            scopes: input.scopes,
            environment: input.environment.into(),
            rate_limit_per_minute: input.rate_limit_per_minute,
            controls: crate::graphql::controls::key_controls(
                input.meta,
                input.credits,
                input.ratelimits,
                input.external_id,
            )?,
        };
        let created = services(ctx)?.create_api_key(actor(ctx)?, new).await?;
        Ok(ApiKeyWithSecret {
            secret: created.secret.expose_secret().to_owned(),
            api_key: ApiKey(created.credential),
        })
    }

    /// Renames a key. **Permissions**: `api_keys:write`.
    async fn rename_api_key(
        &self,
        ctx: &Context<'_>,
        input: RenameApiKeyInput,
    ) -> async_graphql::Result<ApiKey> {
        let id = parse_id("input.id", &input.id)?;
        let key = services(ctx)?
            .rename_api_key(actor(ctx)?, id, &input.name)
            .await?;
        Ok(ApiKey(key))
    }

    /// Disables a key until it is enabled again. **Permissions**: `api_keys:write`.
    async fn disable_api_key(
        &self,
        ctx: &Context<'_>,
        input: ApiKeyInput,
    ) -> async_graphql::Result<ApiKey> {
        let id = parse_id("input.id", &input.id)?;
        let key = services(ctx)?
            .set_api_key_disabled(actor(ctx)?, id, true)
            .await?;
        Ok(ApiKey(key))
    }

    /// Enables a disabled key. **Permissions**: `api_keys:write`.
    async fn enable_api_key(
        &self,
        ctx: &Context<'_>,
        input: ApiKeyInput,
    ) -> async_graphql::Result<ApiKey> {
        let id = parse_id("input.id", &input.id)?;
        let key = services(ctx)?
            .set_api_key_disabled(actor(ctx)?, id, false)
            .await?;
        Ok(ApiKey(key))
    }

    /// Revokes a key, irreversibly and at once. **Permissions**: `api_keys:delete`.
    async fn revoke_api_key(
        &self,
        ctx: &Context<'_>,
        input: RevokeApiKeyInput,
    ) -> async_graphql::Result<ApiKey> {
        let id = parse_id("input.id", &input.id)?;
        let key = services(ctx)?
            .revoke_api_key(actor(ctx)?, id, input.reason)
            .await?;
        Ok(ApiKey(key))
    }

    /// Replaces a key's secret, keeping its settings; the old secret works for the grace
    /// period. The new secret is in the payload, once. **Permissions**: `api_keys:write`.
    async fn rotate_api_key(
        &self,
        ctx: &Context<'_>,
        input: RotateApiKeyInput,
    ) -> async_graphql::Result<ApiKeyWithSecret> {
        let id = parse_id("input.id", &input.id)?;
        let grace = TimeDelta::seconds(i64::from(input.grace_period_seconds));
        let created = services(ctx)?
            .rotate_api_key(actor(ctx)?, id, grace)
            .await?;
        Ok(ApiKeyWithSecret {
            secret: created.secret.expose_secret().to_owned(),
            api_key: ApiKey(created.credential),
        })
    }

    /// Imports a key from another system by its SHA-256. **Permissions**: `api_keys:admin`.
    async fn import_api_key(
        &self,
        ctx: &Context<'_>,
        input: ImportApiKeyInput,
    ) -> async_graphql::Result<ApiKey> {
        let imported = ImportedKey {
            organization_id: parse_id("input.organizationId", &input.organization_id)?,
            project_id: input
                .project_id
                .map(|p| parse_id("input.projectId", &p))
                .transpose()?,
            name: input.name,
            sha256: input.sha256,
            prefix: input.prefix,
            last4: input.last4,
            expires_at: input.expires_at,
            scopes: input.scopes,
            environment: input.environment.into(),
            created_at: input.created_at,
        };
        let key = services(ctx)?.import_api_key(actor(ctx)?, imported).await?;
        Ok(ApiKey(key))
    }

    /// Creates a personal access token for you; the secret is in the payload, once.
    async fn create_personal_access_token(
        &self,
        ctx: &Context<'_>,
        input: CreatePersonalAccessTokenInput,
    ) -> async_graphql::Result<PersonalAccessTokenWithSecret> {
        let new = NewPat {
            name: input.name,
            expires_at: input.expires_at,
            scopes: input.scopes,
        };
        let created = services(ctx)?
            .create_personal_access_token(actor(ctx)?, new)
            .await?;
        Ok(PersonalAccessTokenWithSecret {
            secret: created.secret.expose_secret().to_owned(),
            token: PersonalAccessToken(created.credential),
        })
    }

    /// Revokes one of your personal access tokens.
    async fn revoke_personal_access_token(
        &self,
        ctx: &Context<'_>,
        input: RevokePersonalAccessTokenInput,
    ) -> async_graphql::Result<PersonalAccessToken> {
        let id = parse_id("input.id", &input.id)?;
        let token = services(ctx)?
            .revoke_personal_access_token(actor(ctx)?, id, input.reason)
            .await?;
        Ok(PersonalAccessToken(token))
    }
}

//! Webhooks over GraphQL (SPEC §16): an organization's endpoints, their delivery log and
//! sending a delivery again. Thin: each resolver calls one domain function, the same
//! REST calls.

use async_graphql::{Context, Enum, ID, InputObject, Json, Object, SimpleObject};
use chrono::{DateTime, Utc};
use entity::{webhook_attempt, webhook_delivery};
use keyward_proto::webhooks::EventType;

use super::types::{Conn, actor, connection, paging, services};
use crate::domain::{
    access::corrupt,
    ids::parse_id,
    webhooks::{EndpointView, NewEndpoint, message_header},
};

/// An event a webhook endpoint may ask for.
#[derive(Enum, Copy, Clone, Eq, PartialEq)]
pub enum WebhookEventType {
    /// `api_key.created`: an API key was made or imported.
    #[graphql(name = "API_KEY_CREATED")]
    ApiKeyCreated,
    /// `api_key.revoked`.
    #[graphql(name = "API_KEY_REVOKED")]
    ApiKeyRevoked,
    /// `api_key.rotated`: a key was replaced by a new one.
    #[graphql(name = "API_KEY_ROTATED")]
    ApiKeyRotated,
    /// `api_key.expiring`: a key expires within seven days.
    #[graphql(name = "API_KEY_EXPIRING")]
    ApiKeyExpiring,
    /// `api_key.leaked`: a secret scanner found a key in public.
    #[graphql(name = "API_KEY_LEAKED")]
    ApiKeyLeaked,
    /// `credits.exhausted`: a key's or an identity's credits ran out.
    #[graphql(name = "CREDITS_EXHAUSTED")]
    CreditsExhausted,
    /// `member.added`: someone joined the organization.
    #[graphql(name = "MEMBER_ADDED")]
    MemberAdded,
    /// `member.removed`: a member left or was removed.
    #[graphql(name = "MEMBER_REMOVED")]
    MemberRemoved,
}

impl From<EventType> for WebhookEventType {
    fn from(e: EventType) -> Self {
        match e {
            EventType::ApiKeyCreated => Self::ApiKeyCreated,
            EventType::ApiKeyRevoked => Self::ApiKeyRevoked,
            EventType::ApiKeyRotated => Self::ApiKeyRotated,
            EventType::ApiKeyExpiring => Self::ApiKeyExpiring,
            EventType::ApiKeyLeaked => Self::ApiKeyLeaked,
            EventType::CreditsExhausted => Self::CreditsExhausted,
            EventType::MemberAdded => Self::MemberAdded,
            EventType::MemberRemoved => Self::MemberRemoved,
        }
    }
}

impl From<WebhookEventType> for EventType {
    fn from(e: WebhookEventType) -> Self {
        match e {
            WebhookEventType::ApiKeyCreated => Self::ApiKeyCreated,
            WebhookEventType::ApiKeyRevoked => Self::ApiKeyRevoked,
            WebhookEventType::ApiKeyRotated => Self::ApiKeyRotated,
            WebhookEventType::ApiKeyExpiring => Self::ApiKeyExpiring,
            WebhookEventType::ApiKeyLeaked => Self::ApiKeyLeaked,
            WebhookEventType::CreditsExhausted => Self::CreditsExhausted,
            WebhookEventType::MemberAdded => Self::MemberAdded,
            WebhookEventType::MemberRemoved => Self::MemberRemoved,
        }
    }
}

/// An endpoint told of the organization's events (never its secret).
pub struct WebhookEndpoint(pub EndpointView);

#[Object]
impl WebhookEndpoint {
    async fn id(&self) -> ID {
        ID(self.0.endpoint.id.to_string())
    }
    async fn organization_id(&self) -> ID {
        ID(self.0.endpoint.organization_id.to_string())
    }
    async fn url(&self) -> &str {
        &self.0.endpoint.url
    }
    async fn description(&self) -> Option<&str> {
        self.0.endpoint.description.as_deref()
    }
    async fn events(&self) -> Vec<WebhookEventType> {
        self.0.events.iter().map(|e| (*e).into()).collect()
    }
    async fn enabled(&self) -> bool {
        self.0.endpoint.enabled
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.endpoint.created_at
    }
}

/// A new endpoint and its signing secret, shown this once.
#[derive(SimpleObject)]
pub struct CreatedWebhookEndpoint {
    pub endpoint: WebhookEndpoint,
    /// `whsec_…`: verify each request's `webhook-signature` with it (Standard Webhooks).
    pub secret: String,
}

/// Where a delivery stands.
#[derive(Enum, Copy, Clone, Eq, PartialEq)]
pub enum WebhookDeliveryStatus {
    /// Owed: sent at `nextAttemptAt`.
    Pending,
    /// The endpoint answered 2xx.
    Delivered,
    /// Every attempt failed; retry it by hand.
    Failed,
}

/// One message owed to one endpoint.
pub struct WebhookDelivery(pub webhook_delivery::Model);

#[Object]
impl WebhookDelivery {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    async fn endpoint_id(&self) -> ID {
        ID(self.0.endpoint_id.to_string())
    }
    /// The `webhook-id` it is sent with, the same on every attempt.
    async fn message_id(&self) -> String {
        message_header(self.0.message_id)
    }
    async fn event_type(&self) -> async_graphql::Result<WebhookEventType> {
        EventType::parse(&self.0.event_type)
            .map(Into::into)
            .ok_or_else(|| corrupt("webhook event type", &self.0.event_type).into())
    }
    async fn status(&self) -> WebhookDeliveryStatus {
        match self.0.status {
            webhook_delivery::Status::Pending => WebhookDeliveryStatus::Pending,
            webhook_delivery::Status::Delivered => WebhookDeliveryStatus::Delivered,
            webhook_delivery::Status::Failed => WebhookDeliveryStatus::Failed,
        }
    }
    async fn attempts(&self) -> i32 {
        self.0.attempts
    }
    /// When it is sent next, while pending.
    async fn next_attempt_at(&self) -> Option<DateTime<Utc>> {
        (self.0.status == webhook_delivery::Status::Pending).then_some(self.0.next_attempt_at)
    }
    async fn last_attempt_at(&self) -> Option<DateTime<Utc>> {
        self.0.last_attempt_at
    }
    async fn last_status(&self) -> Option<i32> {
        self.0.last_status
    }
    async fn last_error(&self) -> Option<&str> {
        self.0.last_error.as_deref()
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    async fn delivered_at(&self) -> Option<DateTime<Utc>> {
        self.0.delivered_at
    }
    /// The body sent: `{type, timestamp, data}`.
    async fn payload(&self) -> async_graphql::Result<Json<serde_json::Value>> {
        serde_json::from_str(&self.0.payload)
            .map(Json)
            .map_err(|e| corrupt("webhook payload", e).into())
    }
}

/// One attempt at a delivery.
pub struct WebhookAttempt(pub webhook_attempt::Model);

#[Object]
impl WebhookAttempt {
    async fn attempted_at(&self) -> DateTime<Utc> {
        self.0.attempted_at
    }
    /// The HTTP status answered, if one came.
    async fn status(&self) -> Option<i32> {
        self.0.status
    }
    async fn error(&self) -> Option<&str> {
        self.0.error.as_deref()
    }
    async fn duration_ms(&self) -> i64 {
        self.0.duration_ms
    }
}

/// A delivery with every attempt at it, oldest first.
#[derive(SimpleObject)]
pub struct WebhookDeliveryDetail {
    pub delivery: WebhookDelivery,
    pub attempts: Vec<WebhookAttempt>,
}

/// Reading webhooks; merged into the query root.
#[derive(Default)]
pub struct WebhookQuery;

#[Object]
impl WebhookQuery {
    /// An organization's webhook endpoints. **Permissions**: `settings:read`.
    async fn webhook_endpoints(
        &self,
        ctx: &Context<'_>,
        organization_id: ID,
    ) -> async_graphql::Result<Vec<WebhookEndpoint>> {
        let org = parse_id("organizationId", &organization_id)?;
        Ok(services(ctx)?
            .webhook_endpoints(actor(ctx)?, org)
            .await?
            .into_iter()
            .map(WebhookEndpoint)
            .collect())
    }

    /// An endpoint's deliveries, newest first. **Permissions**: `settings:read`.
    async fn webhook_deliveries(
        &self,
        ctx: &Context<'_>,
        endpoint_id: ID,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Conn<WebhookDelivery>> {
        let endpoint = parse_id("endpointId", &endpoint_id)?;
        let (first, after) = paging(first, after)?;
        let page = services(ctx)?
            .webhook_deliveries(actor(ctx)?, endpoint, first, after)
            .await?;
        Ok(connection(page, |d| d.id.to_string(), WebhookDelivery))
    }

    /// One delivery and its attempts. **Permissions**: `settings:read`.
    async fn webhook_delivery(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> async_graphql::Result<WebhookDeliveryDetail> {
        let (delivery, attempts) = services(ctx)?
            .webhook_delivery(actor(ctx)?, parse_id("id", &id)?)
            .await?;
        Ok(WebhookDeliveryDetail {
            delivery: WebhookDelivery(delivery),
            attempts: attempts.into_iter().map(WebhookAttempt).collect(),
        })
    }
}

#[derive(InputObject)]
pub struct CreateWebhookEndpointInput {
    pub organization_id: ID,
    /// Where to post: `http` or `https`, on a public address (at most 2,048 characters).
    pub url: String,
    /// The events to send (at least one).
    pub events: Vec<WebhookEventType>,
    /// At most 200 characters.
    pub description: Option<String>,
}

#[derive(InputObject)]
pub struct DeleteWebhookEndpointInput {
    pub id: ID,
}

#[derive(InputObject)]
pub struct RetryWebhookDeliveryInput {
    pub id: ID,
}

/// Managing webhooks; merged into the mutation root.
#[derive(Default)]
pub struct WebhookMutation;

#[Object]
impl WebhookMutation {
    /// Registers an endpoint; the answer carries its signing secret, shown this once.
    /// **Permissions**: `settings:write`.
    async fn create_webhook_endpoint(
        &self,
        ctx: &Context<'_>,
        input: CreateWebhookEndpointInput,
    ) -> async_graphql::Result<CreatedWebhookEndpoint> {
        let new = NewEndpoint {
            organization_id: parse_id("input.organizationId", &input.organization_id)?,
            url: input.url,
            events: input
                .events
                .into_iter()
                .map(|e| EventType::from(e).as_str().to_owned())
                .collect(),
            description: input.description,
        };
        let (endpoint, secret) = services(ctx)?
            .create_webhook_endpoint(actor(ctx)?, new)
            .await?;
        Ok(CreatedWebhookEndpoint {
            endpoint: WebhookEndpoint(endpoint),
            secret,
        })
    }

    /// Deletes an endpoint and its delivery log. **Permissions**: `settings:write`.
    async fn delete_webhook_endpoint(
        &self,
        ctx: &Context<'_>,
        input: DeleteWebhookEndpointInput,
    ) -> async_graphql::Result<bool> {
        services(ctx)?
            .delete_webhook_endpoint(actor(ctx)?, None, parse_id("input.id", &input.id)?)
            .await?;
        Ok(true)
    }

    /// Sends a delivery again now, with the same `webhook-id`. **Permissions**:
    /// `settings:write`.
    async fn retry_webhook_delivery(
        &self,
        ctx: &Context<'_>,
        input: RetryWebhookDeliveryInput,
    ) -> async_graphql::Result<WebhookDelivery> {
        Ok(WebhookDelivery(
            services(ctx)?
                .retry_webhook_delivery(actor(ctx)?, parse_id("input.id", &input.id)?)
                .await?,
        ))
    }
}

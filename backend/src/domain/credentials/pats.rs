//! Personal access tokens (SPEC §3): a user's own tokens, valid in every organization they
//! belong to with their role there, capped by the token's scopes. Managing them is a
//! user-level operation (`personal_access_tokens:<level>`); a token made with a token is
//! no wider and lives no longer than its parent.

use chrono::{DateTime, TimeDelta, Utc};
use entity::{credential, prelude::*};
use keyward_proto::audit::Action;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter,
    TransactionTrait,
};
use serde_json::json;
use tracing::instrument;
use uuid::Uuid;

use super::{
    Created, CredentialView, PAT_DEFAULT_LIFETIME, Page, app_resources, check_scopes, new_expiry,
    new_row, parse_scopes, scopes_json, view,
};
use crate::{
    domain::{
        Actor, CredentialKind, Services,
        access::{self, Grant, Need},
        audit::{self, AuditEntry},
        permissions::Perm,
        validate,
    },
    error::{AppError, AppResult},
    token::{PlainToken, TokenKind},
};

/// Input of [`Services::create_personal_access_token`].
#[derive(Debug, Clone, Default)]
pub struct NewPat {
    pub name: String,
    pub expires_at: Option<DateTime<Utc>>,
    pub scopes: Option<Vec<String>>,
}

/// Issues a personal access token for `customer_id` inside the caller's transaction.
pub async fn issue_pat_in<C: ConnectionTrait>(
    txn: &C,
    services: &Services,
    grant: &Grant,
    customer_id: Uuid,
    name: String,
    expires_at: DateTime<Utc>,
    scopes: Option<Vec<Perm>>,
) -> AppResult<(credential::Model, PlainToken)> {
    let token = services
        .tokens
        .generate(TokenKind::Pat)
        .map_err(AppError::internal)?;
    let mut row = new_row(
        &services.verifier,
        &token,
        CredentialKind::Pat,
        name,
        services.clock.now(),
    );
    row.customer_id = Set(Some(customer_id));
    row.created_by = Set(Some(customer_id));
    row.expires_at = Set(Some(expires_at));
    row.scopes = Set(scopes_json(&scopes));
    let model = row.insert(txn).await?;
    audit::record(
        txn,
        grant,
        AuditEntry::new(
            None,
            Action::PersonalAccessTokenCreate,
            "personal_access_token",
            model.id,
        )
        .name(&model.name)
        .details(json!({
            "owner_id": customer_id,
            "prefix": model.display_prefix,
            "expires_at": model.expires_at,
            "scopes": model.scopes,
        })),
    )
    .await?;
    Ok((model, token.token))
}

impl Services {
    /// The longest a new personal access token may live.
    pub fn pat_max_lifetime(&self) -> TimeDelta {
        TimeDelta::days(i64::from(self.config.pat_max_lifetime_days))
    }

    /// Creates a personal access token for the acting user (default expiry 120 days).
    /// **Permissions**: `personal_access_tokens:write` over your own things; a token made
    /// with a token has no more scopes and no later expiry than it.
    #[instrument(skip_all)]
    pub async fn create_personal_access_token(
        &self,
        actor: &Actor,
        input: NewPat,
    ) -> AppResult<Created> {
        let grant = self.authorize(actor, Need::User(Perm::PATS_WRITE)).await?;
        let customer = grant
            .customer()
            .ok_or_else(|| access::corrupt("user grant", "it has no user"))?;
        let name = validate::name("input.name", &input.name)?;
        let now = self.clock.now();
        let default = now + PAT_DEFAULT_LIFETIME.min(self.pat_max_lifetime());
        let expires_at = new_expiry(
            "input.expiresAt",
            input.expires_at,
            Some(self.pat_max_lifetime()),
            Some(default),
            grant.credential_expiry(),
            now,
        )?
        .unwrap_or(default);
        let scopes = match &input.scopes {
            Some(raw) => {
                let scopes = parse_scopes(&self.config.scope_aliases, raw)?;
                let orgs = access::customer_org_ids(&self.db, customer).await?;
                let apps = app_resources(&self.db, &orgs).await?;
                check_scopes(&scopes, &apps, grant.held())?;
                Some(scopes)
            }
            None => grant.credential_scopes().map(<[Perm]>::to_vec),
        };
        let txn = self.db.begin().await?;
        let (model, secret) =
            issue_pat_in(&txn, self, &grant, customer, name, expires_at, scopes).await?;
        txn.commit().await?;
        Ok(Created {
            credential: view(&self.db, model).await?,
            secret,
        })
    }

    /// The acting user's personal access tokens, newest first.
    /// **Permissions**: `personal_access_tokens:read` over your own things.
    pub async fn personal_access_tokens(
        &self,
        actor: &Actor,
        first: u64,
        after: Option<Uuid>,
    ) -> AppResult<Page<CredentialView>> {
        let grant = self.authorize(actor, Need::User(Perm::PATS_READ)).await?;
        let q = Credential::find()
            .filter(credential::Column::Kind.eq(CredentialKind::Pat))
            .filter(credential::Column::CustomerId.eq(grant.customer()));
        self.credential_page(q, first, after).await
    }

    /// Revokes one of the acting user's personal access tokens.
    /// **Permissions**: `personal_access_tokens:delete` over your own things.
    #[instrument(skip_all, fields(token = %id))]
    pub async fn revoke_personal_access_token(
        &self,
        actor: &Actor,
        id: Uuid,
        reason: Option<String>,
    ) -> AppResult<CredentialView> {
        let grant = self.authorize(actor, Need::User(Perm::PATS_DELETE)).await?;
        self.revoke_own_pat(&grant, id, reason).await
    }

    /// Revokes the PAT that authenticates this request (`keyward logout`).
    /// **Permissions**: none; a token may always give itself up.
    pub async fn revoke_current_token(&self, actor: &Actor) -> AppResult<CredentialView> {
        let grant = self.authorize(actor, Need::OwnToken).await?;
        let id = actor
            .principal
            .credential()
            .map(|c| c.id)
            .ok_or_else(|| access::corrupt("own-token grant", "no credential"))?;
        self.revoke_own_pat(&grant, id, Some("logged out".into()))
            .await
    }

    async fn revoke_own_pat(
        &self,
        grant: &Grant,
        id: Uuid,
        reason: Option<String>,
    ) -> AppResult<CredentialView> {
        let reason = validate::reason("input.reason", reason)?;
        let current = Credential::find_by_id(id)
            .filter(credential::Column::Kind.eq(CredentialKind::Pat))
            .filter(credential::Column::CustomerId.eq(grant.customer()))
            .one(&self.db)
            .await?
            .ok_or(AppError::NotFound("personal access token"))?;
        let entry = AuditEntry::new(
            None,
            Action::PersonalAccessTokenRevoke,
            "personal_access_token",
            id,
        )
        .details(json!({ "reason": reason, "owner_id": grant.customer() }));
        self.revoke_credential(grant, current, reason, entry).await
    }
}

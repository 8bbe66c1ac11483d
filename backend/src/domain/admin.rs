//! Instance administration (SPEC §5): suspension of customers and organizations.
//! Every method here starts by requiring an instance admin.

use chrono::Utc;
use entity::{customer, organization, prelude::*};
use sea_orm::{ActiveModelTrait, ActiveValue::Set, EntityTrait, TransactionTrait};
use serde_json::json;
use tracing::instrument;
use uuid::Uuid;

use super::{
    Actor, Services,
    audit::{self, AuditEntry},
    validate,
};
use crate::error::{AppError, AppResult};

/// Refuses anyone but an instance admin.
pub fn require_instance_admin(actor: &Actor) -> AppResult<()> {
    if actor.principal.is_instance_admin()
        && actor
            .principal
            .credential()
            .is_none_or(|c| c.organization_id.is_none())
    {
        Ok(())
    } else {
        Err(AppError::Forbidden("instance admin".into()))
    }
}

fn suspension_reason(suspend: bool, reason: Option<String>) -> AppResult<Option<String>> {
    let reason = validate::reason("input.reason", reason)?;
    if suspend && reason.is_none() {
        return Err(AppError::invalid(
            "input.reason",
            "a suspension needs a reason",
        ));
    }
    Ok(reason)
}

impl Services {
    /// Suspends or restores a customer: every session and credential of theirs is refused
    /// from the moment this returns. **Permissions**: instance admin.
    #[instrument(skip_all, fields(customer = %id, suspend))]
    pub async fn set_customer_suspended(
        &self,
        actor: &Actor,
        id: Uuid,
        suspend: bool,
        reason: Option<String>,
    ) -> AppResult<customer::Model> {
        require_instance_admin(actor)?;
        let reason = suspension_reason(suspend, reason)?;
        if suspend && actor.customer().is_some_and(|c| c.id == id) {
            return Err(AppError::Conflict("you cannot suspend yourself".into()));
        }
        let current = Customer::find_by_id(id)
            .one(&self.db)
            .await?
            .ok_or(AppError::NotFound("customer"))?;
        let mut active: customer::ActiveModel = current.into();
        let now = Utc::now();
        active.suspended_at = Set(suspend.then_some(now));
        active.suspended_reason = Set(if suspend { reason.clone() } else { None });
        active.updated_at = Set(now);
        let txn = self.db.begin().await?;
        let model = active.update(&txn).await?;
        let action = if suspend {
            "customer.suspend"
        } else {
            "customer.unsuspend"
        };
        audit::record(
            &txn,
            actor,
            AuditEntry::new(None, action, "customer", model.id)
                .name(&model.email)
                .details(json!({ "reason": reason })),
        )
        .await?;
        txn.commit().await?;
        self.verifier.invalidate_all();
        Ok(model)
    }

    /// Suspends or restores an organization: its keys, its service accounts' keys and
    /// sessions in it are refused from the moment this returns. **Permissions**: instance admin.
    #[instrument(skip_all, fields(org = %id, suspend))]
    pub async fn set_organization_suspended(
        &self,
        actor: &Actor,
        id: Uuid,
        suspend: bool,
        reason: Option<String>,
    ) -> AppResult<organization::Model> {
        require_instance_admin(actor)?;
        let reason = suspension_reason(suspend, reason)?;
        let current = Organization::find_by_id(id)
            .one(&self.db)
            .await?
            .ok_or(AppError::NotFound("organization"))?;
        let mut active: organization::ActiveModel = current.into();
        let now = Utc::now();
        active.suspended_at = Set(suspend.then_some(now));
        active.suspended_reason = Set(if suspend { reason.clone() } else { None });
        active.updated_at = Set(now);
        let txn = self.db.begin().await?;
        let model = active.update(&txn).await?;
        let action = if suspend {
            "organization.suspend"
        } else {
            "organization.unsuspend"
        };
        audit::record(
            &txn,
            actor,
            AuditEntry::new(Some(model.id), action, "organization", model.id)
                .name(&model.name)
                .details(json!({ "reason": reason })),
        )
        .await?;
        txn.commit().await?;
        self.verifier.invalidate_all();
        Ok(model)
    }
}

impl Services {
    /// Customers of this instance, by email, optionally matching `search` (email or name).
    /// **Permissions**: instance admin.
    pub async fn users(
        &self,
        actor: &Actor,
        search: Option<String>,
        first: u64,
        after: Option<Uuid>,
    ) -> AppResult<super::credentials::Page<customer::Model>> {
        use sea_orm::{
            ColumnTrait, Condition, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect,
        };
        require_instance_admin(actor)?;
        let first = first.clamp(1, super::credentials::MAX_PAGE);
        let mut q = Customer::find();
        if let Some(s) = super::validate::search("search", search)? {
            q = q.filter(
                Condition::any()
                    .add(super::validate::contains_ci(customer::Column::Email, &s))
                    .add(super::validate::contains_ci(customer::Column::Name, &s)),
            );
        }
        let total = q.clone().count(&self.db).await?;
        let mut q = q.order_by_desc(customer::Column::Id);
        if let Some(after) = after {
            q = q.filter(customer::Column::Id.lt(after));
        }
        let mut items = q.limit(first + 1).all(&self.db).await?;
        let has_next = items.len() as u64 > first;
        items.truncate(first as usize);
        Ok(super::credentials::Page {
            items,
            has_next,
            total,
        })
    }

    /// Every credential a customer owns or created: API keys, service-account keys and PATs.
    /// **Permissions**: instance admin.
    pub async fn user_credentials(
        &self,
        actor: &Actor,
        customer_id: Uuid,
    ) -> AppResult<Vec<super::credentials::CredentialView>> {
        use sea_orm::{ColumnTrait, Condition, QueryFilter, QueryOrder};
        require_instance_admin(actor)?;
        let rows = Credential::find()
            .filter(
                Condition::any()
                    .add(entity::credential::Column::CustomerId.eq(customer_id))
                    .add(entity::credential::Column::CreatedBy.eq(customer_id)),
            )
            .order_by_desc(entity::credential::Column::Id)
            .all(&self.db)
            .await?;
        super::credentials::views(&self.db, rows).await
    }

    /// Revokes any credential at once. **Permissions**: instance admin.
    #[instrument(skip_all, fields(credential = %id))]
    pub async fn admin_revoke_credential(
        &self,
        actor: &Actor,
        id: Uuid,
        reason: Option<String>,
    ) -> AppResult<super::credentials::CredentialView> {
        require_instance_admin(actor)?;
        let reason = validate::reason("input.reason", reason)?;
        let current = Credential::find_by_id(id)
            .one(&self.db)
            .await?
            .ok_or(AppError::NotFound("credential"))?;
        if current.revoked_at.is_some() {
            return super::credentials::view(&self.db, current).await;
        }
        let org = current.organization_id;
        let mut active: entity::credential::ActiveModel = current.into();
        active.revoked_at = Set(Some(Utc::now()));
        active.revoked_reason = Set(reason.clone());
        active.revoked_by = Set(actor.customer().map(|c| c.id));
        active.updated_at = Set(Utc::now());
        let txn = self.db.begin().await?;
        let model = active.update(&txn).await?;
        audit::record(
            &txn,
            actor,
            AuditEntry::new(org, "credential.admin_revoke", "credential", model.id)
                .name(&model.name)
                .details(
                    json!({ "reason": reason, "kind": model.kind, "prefix": model.display_prefix }),
                ),
        )
        .await?;
        txn.commit().await?;
        self.verifier
            .invalidate(&crate::token::TokenHash::from_stored(&model.token_hash));
        super::credentials::view(&self.db, model).await
    }
}

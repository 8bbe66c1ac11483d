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

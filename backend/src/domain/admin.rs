//! Instance administration (SPEC §5): suspension of customers and organizations.
//! Every method here starts by requiring an instance admin.

use entity::{customer, organization, prelude::*};
use keyward_proto::audit::Action;
use sea_orm::{ActiveModelTrait, ActiveValue::Set, EntityTrait, TransactionTrait};
use serde_json::json;
use tracing::instrument;
use uuid::Uuid;

use super::{
    Actor, Services,
    access::Need,
    audit::{self, AuditEntry},
    invalidation::Invalidation,
    paging, validate,
};
use crate::error::{AppError, AppResult};

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
        let grant = self.authorize(actor, Need::InstanceAdmin).await?;
        let reason = suspension_reason(suspend, reason)?;
        if suspend && grant.customer() == Some(id) {
            return Err(AppError::Conflict("you cannot suspend yourself".into()));
        }
        let current = Customer::find_by_id(id)
            .one(&self.db)
            .await?
            .ok_or(AppError::NotFound("customer"))?;
        let mut active: customer::ActiveModel = current.into();
        let now = self.clock.now();
        active.suspended_at = Set(suspend.then_some(now));
        active.suspended_reason = Set(if suspend { reason.clone() } else { None });
        active.updated_at = Set(now);
        let txn = self.db.begin().await?;
        let model = active.update(&txn).await?;
        let action = if suspend {
            Action::CustomerSuspend
        } else {
            Action::CustomerUnsuspend
        };
        audit::record(
            &txn,
            &grant,
            AuditEntry::new(None, action, "customer", model.id)
                .name(&model.email)
                .details(json!({ "reason": reason })),
        )
        .await?;
        self.commit_invalidating(txn, Invalidation::Everything)
            .await?;
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
        let grant = self.authorize(actor, Need::InstanceAdmin).await?;
        let reason = suspension_reason(suspend, reason)?;
        let current = Organization::find_by_id(id)
            .one(&self.db)
            .await?
            .ok_or(AppError::NotFound("organization"))?;
        let mut active: organization::ActiveModel = current.into();
        let now = self.clock.now();
        active.suspended_at = Set(suspend.then_some(now));
        active.suspended_reason = Set(if suspend { reason.clone() } else { None });
        active.updated_at = Set(now);
        let txn = self.db.begin().await?;
        let model = active.update(&txn).await?;
        let action = if suspend {
            Action::OrganizationSuspend
        } else {
            Action::OrganizationUnsuspend
        };
        audit::record(
            &txn,
            &grant,
            AuditEntry::new(Some(model.id), action, "organization", model.id)
                .name(&model.name)
                .details(json!({ "reason": reason })),
        )
        .await?;
        self.commit_invalidating(txn, Invalidation::Everything)
            .await?;
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
    ) -> AppResult<paging::Page<customer::Model>> {
        use sea_orm::{Condition, QueryFilter};
        self.authorize(actor, Need::InstanceAdmin).await?;
        let mut q = Customer::find();
        if let Some(s) = super::validate::search("search", search)? {
            q = q.filter(
                Condition::any()
                    .add(super::validate::contains_ci(customer::Column::Email, &s))
                    .add(super::validate::contains_ci(customer::Column::Name, &s)),
            );
        }
        paging::page(&self.db, q, customer::Column::Id, first, after).await
    }

    /// Every credential a customer owns or created: API keys, service-account keys and PATs.
    /// **Permissions**: instance admin.
    pub async fn user_credentials(
        &self,
        actor: &Actor,
        customer_id: Uuid,
    ) -> AppResult<Vec<super::credentials::CredentialView>> {
        use sea_orm::{ColumnTrait, Condition, QueryFilter, QueryOrder};
        self.authorize(actor, Need::InstanceAdmin).await?;
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
        let grant = self.authorize(actor, Need::InstanceAdmin).await?;
        let reason = validate::reason("input.reason", reason)?;
        let current = Credential::find_by_id(id)
            .one(&self.db)
            .await?
            .ok_or(AppError::NotFound("credential"))?;
        let entry = AuditEntry::new(
            current.organization_id,
            Action::CredentialAdminRevoke,
            "credential",
            id,
        )
        .details(
            json!({ "reason": reason, "kind": current.kind.as_str(), "prefix": current.display_prefix }),
        );
        self.revoke_credential(&grant, current, reason, entry).await
    }
}

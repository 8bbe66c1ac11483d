//! Roles and application resources (SPEC §5): the built-in roles every organization has,
//! custom roles as a resource × level matrix, and the application resources an
//! organization defines for its own product.

use keyward_proto::audit::Action;
use std::collections::BTreeMap;

use entity::{application_resource, invite, membership, prelude::*, role, service_account};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait,
    QueryFilter, QueryOrder, TransactionTrait,
};
use serde_json::json;
use tracing::instrument;
use uuid::Uuid;

use super::{
    Actor, Services,
    access::{self, Grant, Need},
    audit::{self, AuditEntry},
    credentials::app_resources,
    ids::new_id,
    invalidation::Invalidation,
    paging::{self, Page},
    permissions::{
        BuiltinRole, Level, Perm, PermissionSet, Resource, ScopeAliases, is_builtin_resource,
        valid_resource_name,
    },
    validate,
};
use crate::error::{AppError, AppResult};

/// A role with what it grants.
#[derive(Debug, Clone)]
pub struct RoleView {
    pub role: role::Model,
    pub permissions: Vec<Perm>,
}

/// Everything a role editor needs: resources, levels and the built-in roles.
#[derive(Debug, Clone)]
pub struct Catalog {
    /// `(name, description, builtin)`.
    pub resources: Vec<(String, String, bool)>,
    pub levels: Vec<Level>,
}

/// A role of `org_id`, or an input error naming `field`.
pub async fn org_role<C: ConnectionTrait>(
    db: &C,
    org_id: Uuid,
    role_id: Uuid,
    field: &str,
) -> AppResult<role::Model> {
    Role::find_by_id(role_id)
        .one(db)
        .await?
        .filter(|r| r.organization_id == Some(org_id))
        .ok_or_else(|| AppError::invalid(field, "no such role in this organization"))
}

/// Parses a permission list for a custom role: known resources, no duplicates.
fn parse_permissions(
    aliases: &ScopeAliases,
    field: &str,
    raw: &[String],
    apps: &[String],
) -> AppResult<BTreeMap<String, Level>> {
    let mut map = BTreeMap::new();
    for s in raw {
        let perm = aliases
            .parse_scope(s.trim())
            .map_err(|e| AppError::invalid(field, e))?;
        if let Resource::App(name) = &perm.resource
            && !apps.iter().any(|a| a == name.as_str())
        {
            return Err(AppError::invalid(
                field,
                format!(
                    "`{}` is not a resource of this organization; define it under Roles → Resources first",
                    perm.resource
                ),
            ));
        }
        if map
            .insert(perm.resource.as_str().to_owned(), perm.level)
            .is_some()
        {
            return Err(AppError::invalid(
                field,
                format!("`{}` is listed twice", perm.resource),
            ));
        }
    }
    Ok(map)
}

impl Services {
    async fn role_view(&self, role: role::Model) -> AppResult<RoleView> {
        let apps = match role.organization_id {
            Some(org) => app_resources(&self.db, &[org]).await?,
            None => vec![],
        };
        Ok(RoleView {
            permissions: access::role_permissions(&role)?.to_scopes(&apps),
            role,
        })
    }

    /// A custom role's permissions from `resource:level` entries, in stored form: known
    /// resources, each once, none beyond what the grant holds.
    async fn grantable_permissions(
        &self,
        grant: &Grant,
        org_id: Uuid,
        raw: &[String],
    ) -> AppResult<BTreeMap<String, Level>> {
        let apps = app_resources(&self.db, &[org_id]).await?;
        let map = parse_permissions(&self.config.scope_aliases, "input.permissions", raw, &apps)?;
        let set = PermissionSet::from_stored(map.clone())
            .map_err(|e| AppError::invalid("input.permissions", e))?;
        grant.require_covers(&set, &apps, "a role granting this")?;
        Ok(map)
    }

    /// A custom role found by its id, with the grant for `perm` in its organization; a
    /// built-in role cannot be `what` (changed, deleted).
    async fn custom_role(
        &self,
        actor: &Actor,
        id: Uuid,
        perm: Perm,
        what: &str,
    ) -> AppResult<(role::Model, Uuid, Grant)> {
        let role = Role::find_by_id(id)
            .one(&self.db)
            .await?
            .ok_or(AppError::NotFound("role"))?;
        let org_id = role.organization_id.ok_or(AppError::NotFound("role"))?;
        let grant = self.authorize_visible(actor, org_id, perm, "role").await?;
        if role.builtin {
            return Err(AppError::Conflict(format!(
                "built-in roles cannot be {what}"
            )));
        }
        Ok((role, org_id, grant))
    }

    /// An organization's roles, newest first (the built-in ones, made with it, last), a
    /// page at a time. **Permissions**: `roles:read`.
    pub async fn roles(
        &self,
        actor: &Actor,
        org_id: Uuid,
        first: u64,
        after: Option<Uuid>,
    ) -> AppResult<Page<RoleView>> {
        self.authorize(actor, Need::Org(org_id, Perm::ROLES_READ))
            .await?;
        let query = Role::find().filter(role::Column::OrganizationId.eq(org_id));
        let page = paging::page(&self.db, query, role::Column::Id, first, after).await?;
        let apps = app_resources(&self.db, &[org_id]).await?;
        page.try_map(|role| {
            Ok(RoleView {
                permissions: access::role_permissions(&role)?.to_scopes(&apps),
                role,
            })
        })
    }

    /// Creates a custom role from `resource:level` permissions. **Permissions**:
    /// `roles:write`, and every permission the role grants.
    #[instrument(skip_all, fields(org = %org_id))]
    pub async fn create_role(
        &self,
        actor: &Actor,
        org_id: Uuid,
        name: &str,
        description: Option<String>,
        permissions: &[String],
    ) -> AppResult<RoleView> {
        let grant = self
            .authorize(actor, Need::Org(org_id, Perm::ROLES_WRITE))
            .await?;
        let name = validate::name("input.name", name)?;
        let description = validate::reason("input.description", description)?.unwrap_or_default();
        let map = self
            .grantable_permissions(&grant, org_id, permissions)
            .await?;
        let key = validate::slugify(&name);
        if BuiltinRole::from_key(&key).is_some()
            || Role::find()
                .filter(role::Column::OrganizationId.eq(org_id))
                .filter(role::Column::Key.eq(key.clone()))
                .count(&self.db)
                .await?
                > 0
        {
            return Err(AppError::Conflict(format!(
                "input.name: a role `{name}` already exists"
            )));
        }
        let now = self.clock.now();
        let txn = self.db.begin().await?;
        let role = role::ActiveModel {
            id: Set(new_id()),
            organization_id: Set(Some(org_id)),
            key: Set(key),
            name: Set(name),
            description: Set(description),
            builtin: Set(false),
            permissions: Set(json!(map)),
            created_at: Set(now),
            updated_at: Set(now),
        }
        .insert(&txn)
        .await?;
        audit::record(
            &txn,
            &grant,
            AuditEntry::new(Some(org_id), Action::RoleCreate, "role", role.id)
                .name(&role.name)
                .details(json!({ "permissions": role.permissions })),
        )
        .await?;
        txn.commit().await?;
        self.role_view(role).await
    }

    /// Changes a custom role; everyone holding it is affected at once. **Permissions**:
    /// `roles:write`, and every permission the role then grants.
    #[instrument(skip_all, fields(role = %id))]
    pub async fn update_role(
        &self,
        actor: &Actor,
        id: Uuid,
        name: Option<String>,
        description: Option<String>,
        permissions: Option<Vec<String>>,
    ) -> AppResult<RoleView> {
        let (role, org_id, grant) = self
            .custom_role(actor, id, Perm::ROLES_WRITE, "changed")
            .await?;
        // Changing a role changes what its holders may do: whoever changes it must hold
        // everything it grants now, as for changing a member's role.
        if permissions.is_some() {
            let apps = app_resources(&self.db, &[org_id]).await?;
            grant.require_covers(
                &access::role_permissions(&role)?,
                &apps,
                "changing this role",
            )?;
        }
        let before = role.permissions.clone();
        let mut active: role::ActiveModel = role.into();
        if let Some(name) = name {
            active.name = Set(validate::name("input.name", &name)?);
        }
        if let Some(d) = description {
            active.description =
                Set(validate::reason("input.description", Some(d))?.unwrap_or_default());
        }
        if let Some(list) = permissions {
            let map = self.grantable_permissions(&grant, org_id, &list).await?;
            active.permissions = Set(json!(map));
        }
        active.updated_at = Set(self.clock.now());
        let txn = self.db.begin().await?;
        let role = active.update(&txn).await?;
        audit::record(
            &txn,
            &grant,
            AuditEntry::new(Some(org_id), Action::RoleUpdate, "role", role.id)
                .name(&role.name)
                .details(json!({ "from": before, "to": role.permissions })),
        )
        .await?;
        self.commit_invalidating(txn, Invalidation::Organization(org_id))
            .await?;
        self.role_view(role).await
    }

    /// Deletes a custom role nobody holds. **Permissions**: `roles:delete`.
    #[instrument(skip_all, fields(role = %id))]
    pub async fn delete_role(&self, actor: &Actor, id: Uuid) -> AppResult<Uuid> {
        let (role, org_id, grant) = self
            .custom_role(actor, id, Perm::ROLES_DELETE, "deleted")
            .await?;
        let holders = Membership::find()
            .filter(membership::Column::RoleId.eq(id))
            .count(&self.db)
            .await?
            + ServiceAccount::find()
                .filter(service_account::Column::RoleId.eq(id))
                .count(&self.db)
                .await?
            + Invite::find()
                .filter(invite::Column::RoleId.eq(id))
                .filter(invite::Column::Status.eq(invite::Status::Pending))
                .count(&self.db)
                .await?;
        if holders > 0 {
            return Err(AppError::Conflict(
                "the role is held by members, service accounts or open invites; reassign them first".into(),
            ));
        }
        let txn = self.db.begin().await?;
        Role::delete_by_id(id).exec(&txn).await?;
        audit::record(
            &txn,
            &grant,
            AuditEntry::new(Some(org_id), Action::RoleDelete, "role", id).name(&role.name),
        )
        .await?;
        self.commit_invalidating(txn, Invalidation::Organization(org_id))
            .await?;
        Ok(id)
    }

    /// Defines an application resource (e.g. `deployments`) that roles and keys can carry.
    /// **Permissions**: `roles:write`.
    #[instrument(skip_all, fields(org = %org_id))]
    pub async fn define_resource(
        &self,
        actor: &Actor,
        org_id: Uuid,
        name: &str,
        description: Option<String>,
    ) -> AppResult<application_resource::Model> {
        let grant = self
            .authorize(actor, Need::Org(org_id, Perm::ROLES_WRITE))
            .await?;
        let name = name.trim().to_owned();
        if !valid_resource_name(&name) {
            return Err(AppError::invalid(
                "input.name",
                "must be 1-48 lowercase letters, digits, `_` or `-`, starting with a letter",
            ));
        }
        if is_builtin_resource(&name) {
            return Err(AppError::Conflict(format!(
                "input.name: `{name}` is a built-in resource"
            )));
        }
        let description = validate::reason("input.description", description)?.unwrap_or_default();
        let txn = self.db.begin().await?;
        let resource = application_resource::ActiveModel {
            id: Set(new_id()),
            organization_id: Set(org_id),
            name: Set(name),
            description: Set(description),
            created_at: Set(self.clock.now()),
        }
        .insert(&txn)
        .await
        .map_err(|e| match AppError::from(e) {
            AppError::Conflict(_) => {
                AppError::Conflict("input.name: this resource is already defined".into())
            }
            other => other,
        })?;
        audit::record(
            &txn,
            &grant,
            AuditEntry::new(
                Some(org_id),
                Action::ResourceDefine,
                "resource",
                resource.id,
            )
            .name(&resource.name),
        )
        .await?;
        self.commit_invalidating(txn, Invalidation::Organization(org_id))
            .await?;
        Ok(resource)
    }

    /// Resources and levels an organization's roles and keys can use.
    /// **Permissions**: `organization:read`.
    pub async fn permission_catalog(&self, actor: &Actor, org_id: Uuid) -> AppResult<Catalog> {
        self.authorize(actor, Need::Org(org_id, Perm::ORGANIZATION_READ))
            .await?;
        let mut resources: Vec<(String, String, bool)> = Resource::BUILTIN
            .iter()
            .map(|r| (r.as_str().to_owned(), String::new(), true))
            .collect();
        let apps = ApplicationResource::find()
            .filter(application_resource::Column::OrganizationId.eq(org_id))
            .order_by_asc(application_resource::Column::Name)
            .all(&self.db)
            .await?;
        resources.extend(apps.into_iter().map(|a| (a.name, a.description, false)));
        Ok(Catalog {
            resources,
            levels: Level::ALL[1..].to_vec(),
        })
    }
}

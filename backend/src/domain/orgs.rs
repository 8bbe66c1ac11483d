//! Customers, organizations and projects, and first-time provisioning.

use chrono::{DateTime, Utc};
use entity::{application_resource, customer, membership, organization, prelude::*, project, role};
use keyward_proto::audit::Action;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect, TransactionTrait, sea_query::Expr,
};
use serde_json::json;
use tracing::instrument;
use uuid::Uuid;

use super::{
    Actor, Services, access,
    access::{Grant, Need},
    audit::{self, AuditEntry},
    ids::new_id,
    invalidation::Invalidation,
    permissions::{BuiltinRole, Level, Perm},
    validate,
};
use crate::{
    error::{AppError, AppResult},
    token::random_base62,
};

/// What the acting principal may do in one organization ([`Services::viewer_access`]).
#[derive(Debug, Clone)]
pub struct ViewerAccess {
    /// Every permission held, each level spelled out.
    pub permissions: Vec<Perm>,
    /// Whether it is an owner there (owner-only operations).
    pub owner: bool,
}

/// The issuer recorded for accounts made by `bootstrap` and development sign-in.
pub const LOCAL_ISSUER: &str = "keyward:local";

/// Finds or creates a local customer by email (bootstrap, development sign-in).
pub async fn find_or_create_local_customer<C: ConnectionTrait>(
    db: &C,
    email: &str,
    instance_admin: bool,
    now: DateTime<Utc>,
) -> AppResult<(customer::Model, bool)> {
    let email = validate::email("email", email)?;
    if let Some(existing) = Customer::find()
        .filter(customer::Column::Issuer.eq(LOCAL_ISSUER))
        .filter(customer::Column::Subject.eq(email.clone()))
        .one(db)
        .await?
    {
        if instance_admin && !existing.is_instance_admin {
            let mut active: customer::ActiveModel = existing.into();
            active.is_instance_admin = Set(true);
            active.updated_at = Set(now);
            return Ok((active.update(db).await?, false));
        }
        return Ok((existing, false));
    }
    let name = email.split('@').next().unwrap_or_default().to_owned();
    let created = customer::ActiveModel {
        id: Set(new_id()),
        issuer: Set(LOCAL_ISSUER.into()),
        subject: Set(email.clone()),
        email: Set(email),
        email_verified: Set(true),
        name: Set(name),
        is_instance_admin: Set(instance_admin),
        suspended_at: Set(None),
        suspended_reason: Set(None),
        last_sign_in_at: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(db)
    .await?;
    Ok((created, true))
}

/// A free organization slug based on `name`.
async fn free_org_slug<C: ConnectionTrait>(db: &C, name: &str) -> AppResult<String> {
    let base = validate::slugify(name);
    let taken = |slug: String| async move {
        Ok::<_, AppError>(
            Organization::find()
                .filter(organization::Column::Slug.eq(slug))
                .one(db)
                .await?
                .is_some(),
        )
    };
    if !taken(base.clone()).await? {
        return Ok(base);
    }
    loop {
        let suffix = random_base62(6).map_err(AppError::internal)?.to_lowercase();
        let candidate = format!("{base}-{suffix}");
        if !taken(candidate.clone()).await? {
            return Ok(candidate);
        }
    }
}

/// The storage namespace of a project: unique because slugs never contain `_`.
pub fn namespace(org_slug: &str, project_slug: &str) -> String {
    format!("{org_slug}_{project_slug}")
}

/// Creates an organization with its built-in roles, `owner_id` as owner and a default
/// project, inside the caller's transaction, and audits it.
pub async fn create_org_in<C: ConnectionTrait>(
    txn: &C,
    grant: &Grant,
    owner_id: Uuid,
    name: &str,
    slug: Option<String>,
) -> AppResult<(organization::Model, project::Model)> {
    let slug = match slug {
        Some(s) => {
            let s = validate::slug("input.slug", &s)?;
            if Organization::find()
                .filter(organization::Column::Slug.eq(s.clone()))
                .one(txn)
                .await?
                .is_some()
            {
                return Err(AppError::Conflict(format!(
                    "input.slug: `{s}` is already taken"
                )));
            }
            s
        }
        None => free_org_slug(txn, name).await?,
    };
    let now = grant.at();
    let org = organization::ActiveModel {
        id: Set(new_id()),
        name: Set(name.to_owned()),
        slug: Set(slug),
        suspended_at: Set(None),
        suspended_reason: Set(None),
        rate_limit_per_minute: Set(None),
        rate_limit_fail_open: Set(false),
        pat_max_lifetime_days: Set(None),
        api_key_max_lifetime_days: Set(None),
        keys_per_project: Set(false),
        leaked_key_policy: Set(organization::LeakedKeyPolicy::Revoke),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(txn)
    .await?;
    let mut owner_role = None;
    for builtin in BuiltinRole::ALL {
        let role = role::ActiveModel {
            id: Set(new_id()),
            organization_id: Set(Some(org.id)),
            key: Set(builtin.key().into()),
            name: Set(builtin.name().into()),
            description: Set(builtin.description().into()),
            builtin: Set(true),
            permissions: Set(json!({})),
            created_at: Set(now),
            updated_at: Set(now),
        }
        .insert(txn)
        .await?;
        if builtin == BuiltinRole::Owner {
            owner_role = Some(role.id);
        }
    }
    let owner_role = owner_role
        .ok_or_else(|| AppError::internal(std::io::Error::other("owner role missing")))?;
    membership::ActiveModel {
        id: Set(new_id()),
        organization_id: Set(org.id),
        customer_id: Set(owner_id),
        role_id: Set(owner_role),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(txn)
    .await?;
    audit::record(
        txn,
        grant,
        AuditEntry::new(
            Some(org.id),
            Action::OrganizationCreate,
            "organization",
            org.id,
        )
        .name(&org.name)
        .details(json!({ "slug": org.slug, "owner_id": owner_id })),
    )
    .await?;
    let project = create_project_in(txn, grant, &org, "Default", "default".into()).await?;
    Ok((org, project))
}

async fn create_project_in<C: ConnectionTrait>(
    txn: &C,
    grant: &Grant,
    org: &organization::Model,
    name: &str,
    slug: String,
) -> AppResult<project::Model> {
    let exists = Project::find()
        .filter(project::Column::OrganizationId.eq(org.id))
        .filter(project::Column::Slug.eq(slug.clone()))
        .one(txn)
        .await?;
    if exists.is_some() {
        return Err(AppError::Conflict(format!(
            "input.slug: a project `{slug}` already exists"
        )));
    }
    let now = grant.at();
    let project = project::ActiveModel {
        id: Set(new_id()),
        organization_id: Set(org.id),
        name: Set(name.to_owned()),
        namespace: Set(namespace(&org.slug, &slug)),
        slug: Set(slug),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(txn)
    .await?;
    audit::record(
        txn,
        grant,
        AuditEntry::new(Some(org.id), Action::ProjectCreate, "project", project.id)
            .name(&project.name)
            .details(json!({ "slug": project.slug, "namespace": project.namespace })),
    )
    .await?;
    Ok(project)
}

/// An organization the customer belongs to, by exact name, if any.
pub async fn find_member_org_by_name<C: ConnectionTrait>(
    db: &C,
    customer_id: Uuid,
    name: &str,
) -> AppResult<Option<organization::Model>> {
    let ids = access::customer_org_ids(db, customer_id).await?;
    Ok(Organization::find()
        .filter(organization::Column::Id.is_in(ids))
        .filter(organization::Column::Name.eq(name))
        .order_by_asc(organization::Column::Id)
        .one(db)
        .await?)
}

/// The first project of an organization.
pub async fn first_project<C: ConnectionTrait>(
    db: &C,
    org_id: Uuid,
) -> AppResult<Option<project::Model>> {
    Ok(Project::find()
        .filter(project::Column::OrganizationId.eq(org_id))
        .order_by_asc(project::Column::Id)
        .one(db)
        .await?)
}

/// Takes the organization's lock first thing in a transaction, so that what the
/// transaction reads next (its owners, its members) holds until it commits (SPEC §3.3).
/// A write that changes nothing: PostgreSQL locks the organization's row until the
/// transaction ends, and SQLite takes its one writer's lock at once rather than at the
/// transaction's first real write, so another process cannot change what was read.
pub async fn lock_organization<C: ConnectionTrait>(txn: &C, org_id: Uuid) -> AppResult<()> {
    lock_row::<Organization, _>(
        txn,
        organization::Column::Id,
        organization::Column::UpdatedAt,
        org_id,
        "organization",
    )
    .await
}

/// Takes a customer's lock first thing in a transaction, as [`lock_organization`] does
/// for an organization: what the transaction reads of the customer's things next holds
/// until it commits.
pub async fn lock_customer<C: ConnectionTrait>(txn: &C, customer_id: Uuid) -> AppResult<()> {
    lock_row::<Customer, _>(
        txn,
        customer::Column::Id,
        customer::Column::UpdatedAt,
        customer_id,
        "customer",
    )
    .await
}

/// The write that changes nothing behind both locks: `touched` set to itself on the row
/// whose `key` is `id`.
async fn lock_row<E: EntityTrait, C: ConnectionTrait>(
    txn: &C,
    key: E::Column,
    touched: E::Column,
    id: Uuid,
    what: &'static str,
) -> AppResult<()> {
    let locked = E::update_many()
        .col_expr(touched, Expr::col(touched))
        .filter(key.eq(id))
        .exec(txn)
        .await?;
    if locked.rows_affected == 0 {
        return Err(AppError::NotFound(what));
    }
    Ok(())
}

impl Services {
    /// Creates an organization owned by the acting user, with a default project, while
    /// the user belongs to fewer than `KEYWARD_MAX_ORGANIZATIONS_PER_USER`.
    /// **Permissions**: `organization:write` over your own things.
    #[instrument(skip_all)]
    pub async fn create_organization(
        &self,
        actor: &Actor,
        name: &str,
        slug: Option<String>,
    ) -> AppResult<(organization::Model, project::Model)> {
        let grant = self
            .authorize(actor, Need::User(Perm::ORGANIZATION_WRITE))
            .await?;
        let owner = grant
            .customer()
            .ok_or_else(|| access::corrupt("user grant", "it has no user"))?;
        let name = validate::name("input.name", name)?;
        let txn = self.db.begin().await?;
        // Counted under the user's lock: two creations at once cannot both pass the cap.
        lock_customer(&txn, owner).await?;
        let belongs = Membership::find()
            .filter(membership::Column::CustomerId.eq(owner))
            .count(&txn)
            .await?;
        let cap = self.config.max_organizations_per_user;
        if belongs >= u64::from(cap) {
            txn.rollback().await?;
            return Err(AppError::Conflict(format!(
                "you belong to {belongs} organizations, the most this server allows ({cap}); leave one first"
            )));
        }
        let created = create_org_in(&txn, &grant, owner, &name, slug).await?;
        txn.commit().await?;
        Ok(created)
    }

    /// The organizations the actor can see: a user's memberships, or a key's own org.
    /// **Permissions**: `organization:read` over your own things, or in the key's organization.
    pub async fn list_organizations(&self, actor: &Actor) -> AppResult<Vec<organization::Model>> {
        let ids = match actor.principal.credential().and_then(|c| c.organization_id) {
            Some(org) => {
                self.authorize(actor, Need::Org(org, Perm::ORGANIZATION_READ))
                    .await?;
                vec![org]
            }
            None => {
                let grant = self
                    .authorize(actor, Need::User(Perm::ORGANIZATION_READ))
                    .await?;
                match grant.customer() {
                    Some(customer) => access::customer_org_ids(&self.db, customer).await?,
                    None => vec![],
                }
            }
        };
        Ok(Organization::find()
            .filter(organization::Column::Id.is_in(ids))
            .order_by_asc(organization::Column::Name)
            .all(&self.db)
            .await?)
    }

    /// The acting user's own role in `org_id`: `None` when they are not a member, and for
    /// an organization's own key or a service account, which act as themselves rather
    /// than as a member. **Permissions**: none beyond being that member; it is the caller's
    /// own membership, readable even where the organization refuses the credential
    /// (suspended, or a token longer-lived than its policy allows), so listing
    /// organizations never fails on one of them.
    pub async fn viewer_role(&self, actor: &Actor, org_id: Uuid) -> AppResult<Option<role::Model>> {
        let acting_as_member = actor
            .principal
            .credential()
            .is_none_or(|c| c.organization_id.is_none() && c.service_account.is_none());
        match actor.customer() {
            Some(customer) if acting_as_member => {
                access::member_role(&self.db, org_id, customer.id).await
            }
            _ => Ok(None),
        }
    }

    /// What the acting principal may do in an organization right now, as the one
    /// authorization path decides it (role ∩ scopes, project bound, suspension, PAT
    /// policy): every permission held with each level spelled out (`api_keys:write`
    /// beside `api_keys:read`), over the built-in resources and the organization's own.
    /// A dashboard shows only what this allows. **Permissions**: membership.
    pub async fn viewer_access(&self, actor: &Actor, org_id: Uuid) -> AppResult<ViewerAccess> {
        let grant = self
            .authorize(actor, Need::OrgAll(org_id, Vec::new()))
            .await?;
        let apps: Vec<String> = ApplicationResource::find()
            .select_only()
            .column(application_resource::Column::Name)
            .filter(application_resource::Column::OrganizationId.eq(org_id))
            .into_tuple()
            .all(&self.db)
            .await?;
        let permissions = grant
            .held()
            .to_scopes(&apps)
            .into_iter()
            .flat_map(|held| {
                Level::ALL
                    .into_iter()
                    .filter(move |l| *l != Level::None && *l <= held.level)
                    .map(move |l| Perm::new(held.resource.clone(), l))
            })
            .collect();
        Ok(ViewerAccess {
            permissions,
            owner: grant.is_owner(),
        })
    }

    /// One organization. **Permissions**: `organization:read`.
    pub async fn organization(&self, actor: &Actor, id: Uuid) -> AppResult<organization::Model> {
        self.authorize(actor, Need::Org(id, Perm::ORGANIZATION_READ))
            .await?;
        Organization::find_by_id(id)
            .one(&self.db)
            .await?
            .ok_or(AppError::NotFound("organization"))
    }

    /// An organization's projects. **Permissions**: `projects:read`.
    pub async fn projects(&self, actor: &Actor, org_id: Uuid) -> AppResult<Vec<project::Model>> {
        let grant = self
            .authorize(actor, Need::Org(org_id, Perm::PROJECTS_READ))
            .await?;
        let mut q = Project::find().filter(project::Column::OrganizationId.eq(org_id));
        if let Some(bound) = grant.bound_project() {
            q = q.filter(project::Column::Id.eq(bound));
        }
        Ok(q.order_by_asc(project::Column::Id).all(&self.db).await?)
    }

    /// One project; unknown and foreign ids look the same. **Permissions**: `projects:read`.
    pub async fn project(&self, actor: &Actor, id: Uuid) -> AppResult<project::Model> {
        let project = Project::find_by_id(id)
            .one(&self.db)
            .await?
            .ok_or(AppError::NotFound("project"))?;
        let grant = self
            .authorize_visible(
                actor,
                project.organization_id,
                Perm::PROJECTS_READ,
                "project",
            )
            .await?;
        grant
            .require_project(Some(project.id))
            .map_err(|_| AppError::NotFound("project"))?;
        Ok(project)
    }

    /// Creates a project. **Permissions**: `projects:write`.
    #[instrument(skip_all, fields(org = %org_id))]
    pub async fn create_project(
        &self,
        actor: &Actor,
        org_id: Uuid,
        name: &str,
        slug: Option<String>,
    ) -> AppResult<project::Model> {
        let grant = self
            .authorize(actor, Need::Org(org_id, Perm::PROJECTS_WRITE))
            .await?;
        grant.require_project(None)?;
        let name = validate::name("input.name", name)?;
        let slug = match slug {
            Some(s) => validate::slug("input.slug", &s)?,
            None => validate::slugify(&name),
        };
        let org = Organization::find_by_id(org_id)
            .one(&self.db)
            .await?
            .ok_or(AppError::NotFound("organization"))?;
        let txn = self.db.begin().await?;
        let project = create_project_in(&txn, &grant, &org, &name, slug).await?;
        txn.commit().await?;
        Ok(project)
    }
}

/// Organization settings an admin can change.
#[derive(Debug, Clone, Default)]
pub struct OrgSettings {
    /// Requests per minute for the organization's credentials without a limit of their own.
    pub rate_limit_per_minute: Option<Option<i32>>,
    /// Whether requests pass when the limiter cannot decide.
    pub rate_limit_fail_open: Option<bool>,
    /// Longest lifetime, in days, of a personal access token used in this organization.
    pub pat_max_lifetime_days: Option<Option<i32>>,
    /// Longest lifetime, in days, of a new API or service-account key in this organization.
    pub api_key_max_lifetime_days: Option<Option<i32>>,
    /// Whether every new API key must belong to a project.
    pub keys_per_project: Option<bool>,
    /// What is done with a key a secret scanner found in public.
    pub leaked_key_policy: Option<organization::LeakedKeyPolicy>,
}

impl Services {
    /// Renames an organization. **Permissions**: `organization:write`.
    #[instrument(skip_all, fields(org = %id))]
    pub async fn rename_organization(
        &self,
        actor: &Actor,
        id: Uuid,
        name: &str,
    ) -> AppResult<organization::Model> {
        let grant = self
            .authorize(actor, Need::Org(id, Perm::ORGANIZATION_WRITE))
            .await?;
        let name = validate::name("input.name", name)?;
        let org = Organization::find_by_id(id)
            .one(&self.db)
            .await?
            .ok_or(AppError::NotFound("organization"))?;
        let from = org.name.clone();
        let mut active: organization::ActiveModel = org.into();
        active.name = Set(name);
        active.updated_at = Set(self.clock.now());
        let txn = self.db.begin().await?;
        let org = active.update(&txn).await?;
        audit::record(
            &txn,
            &grant,
            AuditEntry::new(Some(id), Action::OrganizationRename, "organization", id)
                .name(&org.name)
                .details(json!({ "from": from, "to": org.name })),
        )
        .await?;
        self.commit_invalidating(txn, Invalidation::Organization(id))
            .await?;
        Ok(org)
    }

    /// Changes an organization's settings. **Permissions**: `settings:write`.
    #[instrument(skip_all, fields(org = %id))]
    pub async fn update_organization_settings(
        &self,
        actor: &Actor,
        id: Uuid,
        settings: OrgSettings,
    ) -> AppResult<organization::Model> {
        let grant = self
            .authorize(actor, Need::Org(id, Perm::SETTINGS_WRITE))
            .await?;
        if let Some(Some(v)) = settings.rate_limit_per_minute
            && !(1..=1_000_000).contains(&v)
        {
            return Err(AppError::invalid(
                "input.rateLimitPerMinute",
                "must be between 1 and 1000000",
            ));
        }
        let instance_max = self.config.pat_max_lifetime_days;
        if let Some(Some(v)) = settings.pat_max_lifetime_days
            && u32::try_from(v).map_or(true, |v| !(1..=instance_max).contains(&v))
        {
            return Err(AppError::invalid(
                "input.patMaxLifetimeDays",
                format!(
                    "must be between 1 and {instance_max} (an organization may only lower the instance's maximum)"
                ),
            ));
        }
        let key_max = self.config.api_key_max_lifetime_days.unwrap_or(3650);
        if let Some(Some(v)) = settings.api_key_max_lifetime_days
            && u32::try_from(v).map_or(true, |v| !(1..=key_max).contains(&v))
        {
            return Err(AppError::invalid(
                "input.apiKeyMaxLifetimeDays",
                format!(
                    "must be between 1 and {key_max} (an organization may only lower the instance's maximum)"
                ),
            ));
        }
        let org = Organization::find_by_id(id)
            .one(&self.db)
            .await?
            .ok_or(AppError::NotFound("organization"))?;
        let mut active: organization::ActiveModel = org.into();
        if let Some(v) = settings.rate_limit_per_minute {
            active.rate_limit_per_minute = Set(v);
        }
        if let Some(v) = settings.rate_limit_fail_open {
            active.rate_limit_fail_open = Set(v);
        }
        if let Some(v) = settings.pat_max_lifetime_days {
            active.pat_max_lifetime_days = Set(v);
        }
        if let Some(v) = settings.api_key_max_lifetime_days {
            active.api_key_max_lifetime_days = Set(v);
        }
        if let Some(v) = settings.keys_per_project {
            active.keys_per_project = Set(v);
        }
        if let Some(v) = settings.leaked_key_policy {
            active.leaked_key_policy = Set(v);
        }
        active.updated_at = Set(self.clock.now());
        let txn = self.db.begin().await?;
        let org = active.update(&txn).await?;
        audit::record(
            &txn,
            &grant,
            AuditEntry::new(
                Some(id),
                Action::OrganizationUpdateSettings,
                "organization",
                id,
            )
            .name(&org.name)
            .details(json!({
                "rate_limit_per_minute": org.rate_limit_per_minute,
                "rate_limit_fail_open": org.rate_limit_fail_open,
                "pat_max_lifetime_days": org.pat_max_lifetime_days,
                "api_key_max_lifetime_days": org.api_key_max_lifetime_days,
                "keys_per_project": org.keys_per_project,
                "leaked_key_policy": sea_orm::ActiveEnum::to_value(&org.leaked_key_policy),
            })),
        )
        .await?;
        self.commit_invalidating(txn, Invalidation::Organization(id))
            .await?;
        Ok(org)
    }

    /// Renames a project; its namespace stays. **Permissions**: `projects:write`.
    #[instrument(skip_all, fields(project = %id))]
    pub async fn rename_project(
        &self,
        actor: &Actor,
        id: Uuid,
        name: &str,
    ) -> AppResult<project::Model> {
        let project = Project::find_by_id(id)
            .one(&self.db)
            .await?
            .ok_or(AppError::NotFound("project"))?;
        let grant = self
            .authorize_visible(
                actor,
                project.organization_id,
                Perm::PROJECTS_WRITE,
                "project",
            )
            .await?;
        grant
            .require_project(Some(project.id))
            .map_err(|_| AppError::NotFound("project"))?;
        let name = validate::name("input.name", name)?;
        let org = project.organization_id;
        let from = project.name.clone();
        let mut active: project::ActiveModel = project.into();
        active.name = Set(name);
        active.updated_at = Set(self.clock.now());
        let txn = self.db.begin().await?;
        let project = active.update(&txn).await?;
        audit::record(
            &txn,
            &grant,
            AuditEntry::new(Some(org), Action::ProjectRename, "project", id)
                .name(&project.name)
                .details(json!({ "from": from, "to": project.name })),
        )
        .await?;
        self.commit_invalidating(txn, Invalidation::Organization(org))
            .await?;
        Ok(project)
    }
}

/// What lives inside one organization and is named by an id of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Held {
    Membership,
    Invite,
    Role,
    ServiceAccount,
}

impl Held {
    fn noun(self) -> &'static str {
        match self {
            Self::Membership => "member",
            Self::Invite => "invite",
            Self::Role => "role",
            Self::ServiceAccount => "service account",
        }
    }
}

impl Services {
    /// Refuses, as not found, an item that is not in `org_id`: for an edge whose path names
    /// both (`/orgs/{org}/members/{id}`). It decides nothing about permissions (the call
    /// that follows does), and says the same for an item of another organization as for
    /// one that does not exist.
    pub async fn require_held_in(&self, org_id: Uuid, held: Held, id: Uuid) -> AppResult<()> {
        let owner = match held {
            Held::Membership => Membership::find_by_id(id)
                .one(&self.db)
                .await?
                .map(|m| m.organization_id),
            Held::Invite => entity::prelude::Invite::find_by_id(id)
                .one(&self.db)
                .await?
                .map(|i| i.organization_id),
            Held::Role => Role::find_by_id(id)
                .one(&self.db)
                .await?
                .and_then(|r| r.organization_id),
            Held::ServiceAccount => entity::prelude::ServiceAccount::find_by_id(id)
                .one(&self.db)
                .await?
                .map(|a| a.organization_id),
        };
        if owner == Some(org_id) {
            Ok(())
        } else {
            Err(AppError::NotFound(held.noun()))
        }
    }
}

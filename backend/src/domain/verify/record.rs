//! Loading what verification needs about one credential in one round trip: the
//! credential, its user or service account, organization, project, the role that bounds
//! it (the user's membership role, or the service account's) and the organization's
//! application resources, joined in a single statement.

use std::sync::OnceLock;

use entity::{
    credential, credit_pool, customer, identity, organization, project, role, service_account,
};
use sea_orm::{
    ConnectionTrait, DbBackend, FromQueryResult, Iterable, QueryResult,
    sea_query::{Alias, Expr, ExprTrait, IntoIden, JoinType, Query, SelectStatement},
};

use super::{Context, CredentialRecord};
use crate::{
    domain::{
        access,
        controls::{self, Controls, IdentityRef},
        credentials::stored_scopes,
        credits::PoolRef,
    },
    error::AppError,
    token::TokenHash,
};

/// Selects every column of `E` from the table aliased `table`, as `{table}_{column}`.
fn columns<E: sea_orm::EntityTrait>(q: &mut SelectStatement, table: &str) {
    for col in E::Column::iter() {
        let name = col.into_iden().to_string();
        q.expr_as(
            Expr::col((Alias::new(table), Alias::new(name.as_str()))),
            Alias::new(format!("{table}_{name}")),
        );
    }
}

/// The organization's application resources as a JSON array of names, as text.
fn app_resources(backend: DbBackend) -> Expr {
    Expr::cust(match backend {
        DbBackend::Postgres => {
            "(SELECT COALESCE(json_agg(ar.name), '[]'::json)::text FROM application_resources ar \
             WHERE ar.organization_id = c.organization_id)"
        }
        _ => {
            "(SELECT json_group_array(ar.name) FROM application_resources ar \
             WHERE ar.organization_id = c.organization_id)"
        }
    })
}

/// The named limits of the key and of its identity as a JSON array of
/// `[name, limit, duration_ms, auto_apply, of_identity]`, as text.
fn named_limits(backend: DbBackend) -> Expr {
    Expr::cust(match backend {
        DbBackend::Postgres => {
            "(SELECT COALESCE(json_agg(json_build_array(nl.name, nl.limit_count, nl.duration_ms, \
             nl.auto_apply, nl.owner_id <> c.id)), '[]'::json)::text FROM named_limits nl \
             WHERE nl.owner_id = c.id OR nl.owner_id = c.identity_id)"
        }
        _ => {
            "(SELECT json_group_array(json_array(nl.name, nl.limit_count, nl.duration_ms, \
             nl.auto_apply, nl.owner_id <> c.id)) FROM named_limits nl \
             WHERE nl.owner_id = c.id OR nl.owner_id = c.identity_id)"
        }
    })
}

/// The lookup of the credential whose token hashes to `hash`. Its text is built once per
/// backend: building it (some seventy columns and six joins) cost a cold lookup more
/// than running it.
fn statement(backend: DbBackend, hash: &TokenHash) -> sea_orm::Statement {
    static POSTGRES: OnceLock<String> = OnceLock::new();
    static SQLITE: OnceLock<String> = OnceLock::new();
    let sql = match backend {
        DbBackend::Postgres => POSTGRES.get_or_init(|| build(backend).sql).clone(),
        DbBackend::Sqlite => SQLITE.get_or_init(|| build(backend).sql).clone(),
        _ => build(backend).sql,
    };
    sea_orm::Statement::from_sql_and_values(backend, sql, [hash.as_str().into()])
}

/// Builds [`statement`]'s text, its one value a placeholder for the hash.
fn build(backend: DbBackend) -> sea_orm::Statement {
    let mut q = Query::select();
    q.from_as(credential::Entity, Alias::new("c"));
    columns::<credential::Entity>(&mut q, "c");
    columns::<customer::Entity>(&mut q, "cu");
    columns::<service_account::Entity>(&mut q, "sa");
    columns::<organization::Entity>(&mut q, "o");
    columns::<project::Entity>(&mut q, "p");
    columns::<role::Entity>(&mut q, "r");
    columns::<identity::Entity>(&mut q, "i");
    columns::<credit_pool::Entity>(&mut q, "kp");
    columns::<credit_pool::Entity>(&mut q, "ip");
    q.expr_as(app_resources(backend), Alias::new("apps"));
    q.expr_as(named_limits(backend), Alias::new("limits"));
    let on = |sql: &str| Expr::cust(sql.to_owned());
    q.join_as(
        JoinType::LeftJoin,
        customer::Entity,
        Alias::new("cu"),
        on("cu.id = c.customer_id"),
    )
    .join_as(
        JoinType::LeftJoin,
        service_account::Entity,
        Alias::new("sa"),
        on("sa.id = c.service_account_id"),
    )
    .join_as(
        JoinType::LeftJoin,
        organization::Entity,
        Alias::new("o"),
        on("o.id = c.organization_id"),
    )
    .join_as(
        JoinType::LeftJoin,
        project::Entity,
        Alias::new("p"),
        on("p.id = c.project_id"),
    )
    // A user's key is bounded by the user's membership in the key's organization.
    .join_as(
        JoinType::LeftJoin,
        entity::membership::Entity,
        Alias::new("m"),
        on(
            "c.service_account_id IS NULL AND m.organization_id = c.organization_id \
            AND m.customer_id = c.customer_id",
        ),
    )
    // … a service account's key by the account's role; a key outside an organization
    // by none.
    .join_as(
        JoinType::LeftJoin,
        role::Entity,
        Alias::new("r"),
        on("c.organization_id IS NOT NULL AND r.id = \
            (CASE WHEN c.service_account_id IS NOT NULL THEN sa.role_id ELSE m.role_id END)"),
    )
    // The product's controls: the key's identity, and the key's and the identity's
    // credits.
    .join_as(
        JoinType::LeftJoin,
        identity::Entity,
        Alias::new("i"),
        on("i.id = c.identity_id"),
    )
    .join_as(
        JoinType::LeftJoin,
        credit_pool::Entity,
        Alias::new("kp"),
        on("kp.owner_id = c.id"),
    )
    .join_as(
        JoinType::LeftJoin,
        credit_pool::Entity,
        Alias::new("ip"),
        on("ip.owner_id = c.identity_id"),
    )
    .and_where(Expr::col((Alias::new("c"), credential::Column::TokenHash)).eq(""));
    backend.build(&q)
}

/// A model of a left-joined table: `None` when the row has none (its id is null); a row
/// that is there but does not decode is an error, never `None`.
fn joined<M: FromQueryResult>(row: &QueryResult, table: &str) -> Result<Option<M>, AppError> {
    joined_by(row, table, "id")
}

/// [`joined`] for a table whose key column is `key`.
fn joined_by<M: FromQueryResult>(
    row: &QueryResult,
    table: &str,
    key: &str,
) -> Result<Option<M>, AppError> {
    let pre = format!("{table}_");
    let id: Option<uuid::Uuid> = row.try_get(&pre, key)?;
    match id {
        None => Ok(None),
        Some(_) => Ok(Some(M::from_query_result(row, &pre)?)),
    }
}

/// Loads a credential with everything verification needs, in one statement.
pub async fn load_record<C: ConnectionTrait>(
    db: &C,
    hash: &TokenHash,
) -> Result<Option<CredentialRecord>, AppError> {
    let Some(row) = db
        .query_one_raw(statement(db.get_database_backend(), hash))
        .await?
    else {
        return Ok(None);
    };
    let credential = credential::Model::from_query_result(&row, "c_")?;
    let role: Option<role::Model> = joined(&row, "r")?;
    let owner_permissions = role.as_ref().map(access::role_permissions).transpose()?;
    let apps: String = row.try_get("", "apps")?;
    let mut app_resources: Vec<String> =
        serde_json::from_str(&apps).map_err(|e| access::corrupt("application resources", e))?;
    app_resources.sort();
    app_resources.dedup();
    let controls = load_controls(&row, &credential)?;
    let context = Context::new(
        joined(&row, "cu")?,
        joined(&row, "sa")?,
        joined(&row, "o")?,
        joined(&row, "p")?,
        owner_permissions,
        app_resources,
    );
    let mut record = CredentialRecord::new(
        credential.kind,
        stored_scopes(&credential)?,
        credential,
        context,
    );
    record.controls = controls.map(std::sync::Arc::new);
    Ok(Some(record))
}

/// The key's controls from the statement's row; `None` when it has none.
fn load_controls(
    row: &QueryResult,
    credential: &credential::Model,
) -> Result<Option<Controls>, AppError> {
    let identity: Option<identity::Model> = joined(row, "i")?;
    if credential.identity_id.is_some() && identity.is_none() {
        return Err(access::corrupt("api key", "its identity is missing"));
    }
    let own_pool: Option<credit_pool::Model> = joined_by(row, "kp", "owner_id")?;
    let identity_pool: Option<credit_pool::Model> = joined_by(row, "ip", "owner_id")?;
    let listed: String = row.try_get("", "limits")?;
    let controls = Controls {
        meta: controls::stored_meta(credential.meta.as_deref())?,
        identity: identity
            .as_ref()
            .map(|i| -> Result<_, AppError> {
                Ok(IdentityRef {
                    id: i.id,
                    external_id: i.external_id.clone(),
                    meta: controls::stored_meta(i.meta.as_deref())?,
                })
            })
            .transpose()?,
        pool: own_pool
            .as_ref()
            .or(identity_pool.as_ref())
            .map(PoolRef::of)
            .transpose()?,
        limits: controls::held_limits(&listed, credential.id, credential.identity_id)?,
    };
    Ok((!controls.is_empty()).then_some(controls))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_statement_binds_only_the_hash() {
        let hash = TokenHash::of("kw_sk_live_example");
        for backend in [DbBackend::Postgres, DbBackend::Sqlite] {
            let built = build(backend);
            assert_eq!(
                built.values.as_ref().map(|v| v.0.len()),
                Some(1),
                "{backend:?}"
            );
            let statement = statement(backend, &hash);
            assert_eq!(statement.sql, built.sql);
            assert_eq!(
                statement.values.map(|v| v.0),
                Some(vec![hash.as_str().into()])
            );
        }
    }
}

//! Database connection: SQLite (embedded default) or PostgreSQL, migrated on start.

use std::time::Duration;

use chrono::Utc;
use entity::{instance_setting, prelude::*};
use migration::{Migrator, MigratorTrait};
use sea_orm::{
    ActiveValue::Set, ConnectOptions, Database, DatabaseConnection, DbBackend, DbErr, EntityTrait,
    sea_query::OnConflict,
};

/// Opens the database at `url` and applies pending migrations.
pub async fn connect_and_migrate(url: &str) -> Result<DatabaseConnection, DbErr> {
    let db = connect(url).await?;
    migrate(&db).await?;
    Ok(db)
}

/// The PostgreSQL advisory lock migrations run under (any fixed number, Keyward's own).
const MIGRATION_LOCK: i64 = 0x6b65_7977_6172_6431;

/// Applies pending migrations, once however many nodes start together (SPEC §3.3).
///
/// On PostgreSQL the migrator runs under a session advisory lock held on a connection of
/// its own: replicas starting together on an empty or older database wait for the first,
/// then find nothing left to apply. The lock goes with the connection if the process
/// dies. SQLite's one writer, and its file lock, already let one migrator write at a time.
pub async fn migrate(db: &DatabaseConnection) -> Result<(), DbErr> {
    if db.get_database_backend() != DbBackend::Postgres {
        return Migrator::up(db, None).await;
    }
    let lock_err = |e: sea_orm::sqlx::Error| DbErr::Custom(format!("migration lock: {e}"));
    let mut held = db
        .get_postgres_connection_pool()
        .acquire()
        .await
        .map_err(lock_err)?;
    sea_orm::sqlx::query("SELECT pg_advisory_lock($1)")
        .bind(MIGRATION_LOCK)
        .execute(&mut *held)
        .await
        .map_err(lock_err)?;
    let migrated = Migrator::up(db, None).await;
    let unlocked = sea_orm::sqlx::query("SELECT pg_advisory_unlock($1)")
        .bind(MIGRATION_LOCK)
        .execute(&mut *held)
        .await;
    if unlocked.is_err() {
        // Closing the session releases the lock whatever happened to it.
        held.close_on_drop();
    }
    migrated?;
    unlocked.map_err(lock_err)?;
    Ok(())
}

/// Opens the database at `url`.
///
/// SQLite runs in WAL mode with foreign keys on and a single pooled connection, so writes
/// never race each other inside the process; other processes (e.g. `bootstrap`) wait on
/// the busy timeout. Verification reads beside it (see [`connect_readers`]).
pub async fn connect(url: &str) -> Result<DatabaseConnection, DbErr> {
    let mut options = ConnectOptions::new(url.to_owned());
    options
        .sqlx_logging(false)
        .connect_timeout(Duration::from_secs(10))
        .acquire_timeout(Duration::from_secs(10));
    if url.starts_with("sqlite:") {
        options.max_connections(1).map_sqlx_sqlite_opts(|o| {
            o.journal_mode(sea_orm::sqlx::sqlite::SqliteJournalMode::Wal)
                .synchronous(sea_orm::sqlx::sqlite::SqliteSynchronous::Normal)
                .foreign_keys(true)
                .busy_timeout(Duration::from_secs(10))
                // Statement journals (kept while a many-row write may still roll back)
                // in memory rather than in a temporary file: the once-a-second usage
                // writes otherwise spend a third of their time writing that file.
                .pragma("temp_store", "memory")
        });
    } else {
        // A database that does not answer is answered for at once (503), not waited on:
        // no request holds a worker for longer than this waiting for a connection.
        options
            .max_connections(16)
            .min_connections(1)
            .connect_timeout(DATABASE_WAIT)
            .acquire_timeout(DATABASE_WAIT);
    }
    Database::connect(options).await
}

/// The longest a request waits for a PostgreSQL connection (SPEC §12: every request
/// answers within a second while the database is away).
pub const DATABASE_WAIT: Duration = Duration::from_millis(800);

/// Connections for verification lookups, beside the writer: on a SQLite file, a pool of
/// read-only connections that read in parallel under WAL while the one writer writes;
/// elsewhere (PostgreSQL, an in-memory SQLite) the same pool as `writer`.
pub async fn connect_readers(
    url: &str,
    writer: &DatabaseConnection,
) -> Result<DatabaseConnection, DbErr> {
    let in_memory = url.contains(":memory:") || url.contains("mode=memory");
    if !url.starts_with("sqlite:") || in_memory {
        return Ok(writer.clone());
    }
    let mut options = ConnectOptions::new(url.to_owned());
    options
        .sqlx_logging(false)
        .connect_timeout(Duration::from_secs(10))
        .acquire_timeout(Duration::from_secs(10))
        .max_connections(READERS)
        .map_sqlx_sqlite_opts(|o| {
            o.read_only(true)
                .create_if_missing(false)
                .journal_mode(sea_orm::sqlx::sqlite::SqliteJournalMode::Wal)
                .busy_timeout(Duration::from_secs(10))
        });
    Database::connect(options).await
}

/// Read-only SQLite connections for verification.
const READERS: u32 = 4;

/// Takes, inside `txn`, a lock that every transaction passing the same `key` waits for
/// until this one ends: a rule over many rows (no two organizations' import prefixes
/// overlap) is then read and written by one transaction at a time (SPEC §3.3).
/// PostgreSQL: a transaction-scoped advisory lock. SQLite: a write that changes nothing,
/// which takes the database's one writer lock at once, for other processes too.
pub async fn lock_for_rule<C: sea_orm::ConnectionTrait>(txn: &C, key: i64) -> Result<(), DbErr> {
    let statement = match txn.get_database_backend() {
        DbBackend::Postgres => sea_orm::Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT pg_advisory_xact_lock($1)",
            [key.into()],
        ),
        backend => sea_orm::Statement::from_string(
            backend,
            "UPDATE instance_settings SET key = key WHERE 1 = 0",
        ),
    };
    txn.execute_raw(statement).await?;
    Ok(())
}

/// Whether migrations are all applied (readiness).
pub async fn migrations_applied(db: &DatabaseConnection) -> Result<bool, DbErr> {
    Ok(Migrator::get_pending_migrations(db).await?.is_empty())
}

/// A short name of the backend, for logs.
pub fn backend_name(db: &DatabaseConnection) -> &'static str {
    match db.get_database_backend() {
        DbBackend::Postgres => "postgres",
        DbBackend::Sqlite => "sqlite",
        _ => "other",
    }
}

/// A secret the instance keeps in its database, if one was made.
pub async fn read_secret(db: &DatabaseConnection, name: &str) -> Result<Option<String>, DbErr> {
    Ok(InstanceSetting::find_by_id(name.to_owned())
        .one(db)
        .await?
        .map(|row| row.value))
}

/// A secret the instance keeps in its database, made by `make` the first time.
pub async fn stored_secret(
    db: &DatabaseConnection,
    name: &str,
    make: impl FnOnce() -> Result<String, getrandom::Error>,
) -> Result<String, String> {
    let read = || async {
        read_secret(db, name)
            .await
            .map_err(|e| format!("reading the {name}: {e}"))
    };
    if let Some(value) = read().await? {
        return Ok(value);
    }
    // Nodes starting together each offer a secret; the first stored wins and every node
    // reads that one back.
    let value = make().map_err(|e| format!("generating the {name}: {e}"))?;
    InstanceSetting::insert(instance_setting::ActiveModel {
        key: Set(name.into()),
        value: Set(value),
        // Made at start-up, before the services and their clock exist.
        updated_at: Set(Utc::now()),
    })
    .on_conflict(
        OnConflict::column(instance_setting::Column::Key)
            .do_nothing()
            .to_owned(),
    )
    .exec_without_returning(db)
    .await
    .map_err(|e| format!("storing the {name}: {e}"))?;
    read()
        .await?
        .ok_or_else(|| format!("the stored {name} vanished"))
}

#[cfg(test)]
mod tests {
    use sea_orm::{ConnectionTrait, Statement};

    async fn pragma(db: &sea_orm::DatabaseConnection, name: &str) -> String {
        let row = db
            .query_one_raw(Statement::from_string(
                sea_orm::DbBackend::Sqlite,
                format!("PRAGMA {name}"),
            ))
            .await
            .expect("the pragma answers")
            .expect("a row");
        row.try_get_by_index::<i64>(0)
            .map(|v| v.to_string())
            .or_else(|_| row.try_get_by_index::<String>(0))
            .expect("a value")
    }

    #[tokio::test]
    async fn the_sqlite_writer_keeps_its_journals_in_wal_and_memory() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("k.db").display());
        let db = super::connect(&url).await.unwrap();
        assert_eq!(pragma(&db, "journal_mode").await, "wal");
        assert_eq!(pragma(&db, "synchronous").await, "1", "NORMAL");
        assert_eq!(pragma(&db, "foreign_keys").await, "1");
        // 2 = MEMORY: statement journals of the batched usage writes stay off the disk.
        assert_eq!(pragma(&db, "temp_store").await, "2");
    }
}

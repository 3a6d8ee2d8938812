//! The migration runner. Each module owns a PostgreSQL schema and an ordered list of SQL
//! migrations embedded in the binary. They run in order, each in its own transaction as the owner
//! role, under an advisory lock so that instances starting together apply each one once.
//! An applied migration whose text changed is refused (its SHA-256 is kept).
//!
//! Migration text may name the configurable roles as `{{app_role}}`, `{{system_role}}` and
//! `{{owner_role}}`; they are replaced by the quoted identifiers before execution.

use sqlx::{Connection, PgConnection};

use crate::DbError;
use crate::roles::{RoleNames, bootstrap_roles};

#[derive(Debug, Clone, Copy)]
pub struct Migration {
    pub version: u32,
    pub name: &'static str,
    pub sql: &'static str,
}

#[derive(Debug, Clone, Copy)]
pub struct ModuleMigrations {
    pub module: &'static str,
    pub migrations: &'static [Migration],
}

/// Arbitrary but fixed ("vextrus" in ASCII): one lock for every migrating instance.
const MIGRATION_LOCK: i64 = 0x0076_6578_7472_7573;

const BOOKKEEPING: &str = "
CREATE SCHEMA IF NOT EXISTS db AUTHORIZATION {{owner_role}};
CREATE TABLE IF NOT EXISTS db.migrations (
    module     text        NOT NULL,
    version    integer     NOT NULL,
    name       text        NOT NULL,
    checksum   bytea       NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (module, version)
);
GRANT USAGE ON SCHEMA db TO {{app_role}}, {{system_role}};
GRANT SELECT ON db.migrations TO {{system_role}};
";

/// Bootstraps roles, then applies every pending migration of `modules`, in order. `conn` is the
/// migration user (the owner, or a user that may become it). Returns how many were applied.
pub async fn apply_migrations(
    conn: &mut PgConnection,
    roles: &RoleNames,
    modules: &[ModuleMigrations],
) -> Result<usize, DbError> {
    sqlx::query("SELECT pg_advisory_lock($1)").bind(MIGRATION_LOCK).execute(&mut *conn).await?;
    let result = apply_locked(conn, roles, modules).await;
    let unlocked = sqlx::query("SELECT pg_advisory_unlock($1)").bind(MIGRATION_LOCK).execute(&mut *conn).await;
    let applied = result?;
    unlocked?;
    Ok(applied)
}

async fn apply_locked(
    conn: &mut PgConnection,
    roles: &RoleNames,
    modules: &[ModuleMigrations],
) -> Result<usize, DbError> {
    bootstrap_roles(conn, roles).await?;
    let mut tx = conn.begin().await?;
    set_owner(&mut tx, roles).await?;
    sqlx::raw_sql(&render(BOOKKEEPING, roles)).execute(&mut *tx).await?;
    tx.commit().await?;

    let mut applied = 0;
    for module in modules {
        for m in module.migrations {
            let stored: Option<bool> = sqlx::query_scalar(
                "SELECT checksum = sha256(convert_to($3, 'UTF8')) FROM db.migrations WHERE module = $1 AND version = $2",
            )
            .bind(module.module)
            .bind(m.version as i32)
            .bind(m.sql)
            .fetch_optional(&mut *conn)
            .await?;
            match stored {
                Some(true) => continue,
                Some(false) => {
                    return Err(DbError::MigrationChanged { module: module.module, version: m.version, name: m.name });
                }
                None => {}
            }
            let failed =
                |source| DbError::MigrationFailed { module: module.module, version: m.version, name: m.name, source };
            let mut tx = conn.begin().await?;
            set_owner(&mut tx, roles).await?;
            sqlx::raw_sql(&render(m.sql, roles)).execute(&mut *tx).await.map_err(failed)?;
            sqlx::query(
                "INSERT INTO db.migrations (module, version, name, checksum) VALUES ($1, $2, $3, sha256(convert_to($4, 'UTF8')))",
            )
            .bind(module.module)
            .bind(m.version as i32)
            .bind(m.name)
            .bind(m.sql)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            tracing::info!(module = module.module, version = m.version, name = m.name, "applied migration");
            applied += 1;
        }
    }
    Ok(applied)
}

/// Migrations of `modules` not yet applied, as `module/version`. Used by `/readyz`; needs only
/// read access to `db.migrations` (the system role has it).
pub async fn pending_migrations(conn: &mut PgConnection, modules: &[ModuleMigrations]) -> Result<Vec<String>, DbError> {
    let applied: Vec<(String, i32)> =
        match sqlx::query_as("SELECT module, version FROM db.migrations").fetch_all(&mut *conn).await {
            Ok(rows) => rows,
            // Not even the bookkeeping table exists: everything is pending.
            Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("42P01") => Vec::new(),
            Err(e) => return Err(e.into()),
        };
    Ok(modules
        .iter()
        .flat_map(|module| module.migrations.iter().map(move |m| (module.module, m.version)))
        .filter(|(module, version)| !applied.iter().any(|(am, av)| am == module && *av == *version as i32))
        .map(|(module, version)| format!("{module}/{version:04}"))
        .collect())
}

async fn set_owner(conn: &mut PgConnection, roles: &RoleNames) -> Result<(), DbError> {
    sqlx::query("SELECT set_config('role', $1, true)").bind(&roles.owner).execute(conn).await?;
    Ok(())
}

/// Role names are validated identifiers (`[a-z_][a-z0-9_]*`), and are double-quoted here too.
fn render(sql: &str, roles: &RoleNames) -> String {
    let quote = |name: &str| format!("\"{}\"", name.replace('"', "\"\""));
    sql.replace("{{owner_role}}", &quote(&roles.owner))
        .replace("{{app_role}}", &quote(&roles.app))
        .replace("{{system_role}}", &quote(&roles.system))
}

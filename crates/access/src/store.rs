//! SQL for `access.*`. Role and assignment statements name the tenant explicitly: under a
//! `TenantTx` Row-Level Security makes any other tenant's rows invisible and unwritable, and a
//! `SystemTx` (sign-up, sign-in) needs the tenant said anyway.

use chrono::{DateTime, Utc};
use uuid::Uuid;
use vextrus_db::{DbError, SystemTx, TenantId, Tx};

#[derive(Debug, sqlx::FromRow)]
pub(crate) struct RegisteredRow {
    pub key: String,
    pub description: String,
    pub grants: Vec<String>,
}

pub(crate) async fn registered_permissions(tx: &mut SystemTx) -> Result<Vec<RegisteredRow>, DbError> {
    Ok(sqlx::query_as("SELECT key, description, grants FROM access.permissions ORDER BY key")
        .fetch_all(tx.conn())
        .await?)
}

pub(crate) async fn upsert_permission(
    tx: &mut SystemTx,
    key: &str,
    description: &str,
    grants: &[&str],
) -> Result<(), DbError> {
    sqlx::query(
        "INSERT INTO access.permissions (key, description, grants) VALUES ($1, $2, $3)
         ON CONFLICT (key) DO UPDATE SET description = EXCLUDED.description, grants = EXCLUDED.grants,
                                         updated_at = now()
          WHERE (permissions.description, permissions.grants) IS DISTINCT FROM (EXCLUDED.description, EXCLUDED.grants)",
    )
    .bind(key)
    .bind(description)
    .bind(grants)
    .execute(tx.conn())
    .await?;
    Ok(())
}

#[derive(Debug, sqlx::FromRow)]
pub(crate) struct RoleRow {
    pub tenant_id: TenantId,
    pub key: String,
    pub permissions: Vec<String>,
}

/// Every custom role's permissions (of one tenant, or of all), for the cache.
pub(crate) async fn all_roles(tx: &mut SystemTx, tenant: Option<TenantId>) -> Result<Vec<RoleRow>, DbError> {
    Ok(sqlx::query_as("SELECT tenant_id, key, permissions FROM access.roles WHERE $1::uuid IS NULL OR tenant_id = $1")
        .bind(tenant)
        .fetch_all(tx.conn())
        .await?)
}

/// How many custom roles an organization has.
pub(crate) async fn count_roles(tx: &mut impl Tx, tenant: TenantId) -> Result<i64, DbError> {
    Ok(sqlx::query_scalar("SELECT count(*) FROM access.roles WHERE tenant_id = $1")
        .bind(tenant)
        .fetch_one(tx.conn())
        .await?)
}

/// A custom role as stored.
#[derive(Debug, Clone, sqlx::FromRow)]
pub(crate) struct CustomRoleRow {
    pub key: String,
    pub name: String,
    pub description: String,
    pub permissions: Vec<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// How many subjects hold it.
    pub holders: i64,
}

macro_rules! role_columns {
    () => {
        "r.key, r.name, r.description, r.permissions, r.created_at, r.updated_at,
         (SELECT count(*) FROM access.assignments a WHERE a.tenant_id = r.tenant_id AND a.role = r.key) AS holders"
    };
}

pub(crate) async fn list_roles(tx: &mut impl Tx, tenant: TenantId) -> Result<Vec<CustomRoleRow>, DbError> {
    Ok(sqlx::query_as(concat!(
        "SELECT ",
        role_columns!(),
        " FROM access.roles r WHERE r.tenant_id = $1 ORDER BY r.key"
    ))
    .bind(tenant)
    .fetch_all(tx.conn())
    .await?)
}

pub(crate) async fn find_role(tx: &mut impl Tx, tenant: TenantId, key: &str) -> Result<Option<CustomRoleRow>, DbError> {
    Ok(sqlx::query_as(concat!(
        "SELECT ",
        role_columns!(),
        " FROM access.roles r WHERE r.tenant_id = $1 AND r.key = $2"
    ))
    .bind(tenant)
    .bind(key)
    .fetch_optional(tx.conn())
    .await?)
}

pub(crate) async fn insert_role(
    tx: &mut impl Tx,
    tenant: TenantId,
    key: &str,
    name: &str,
    description: &str,
    permissions: &[&str],
) -> Result<(), DbError> {
    sqlx::query(
        "INSERT INTO access.roles (tenant_id, key, name, description, permissions) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(tenant)
    .bind(key)
    .bind(name)
    .bind(description)
    .bind(permissions)
    .execute(tx.conn())
    .await?;
    Ok(())
}

pub(crate) async fn update_role(
    tx: &mut impl Tx,
    tenant: TenantId,
    key: &str,
    name: Option<&str>,
    description: Option<&str>,
    permissions: Option<&[&str]>,
) -> Result<bool, DbError> {
    let updated = sqlx::query(
        "UPDATE access.roles SET name = COALESCE($3, name), description = COALESCE($4, description),
                permissions = COALESCE($5, permissions), updated_at = now()
          WHERE tenant_id = $1 AND key = $2",
    )
    .bind(tenant)
    .bind(key)
    .bind(name)
    .bind(description)
    .bind(permissions)
    .execute(tx.conn())
    .await?;
    Ok(updated.rows_affected() == 1)
}

/// Deletes the role and every assignment of it; false if there was no such role.
pub(crate) async fn delete_role(tx: &mut impl Tx, tenant: TenantId, key: &str) -> Result<bool, DbError> {
    sqlx::query("DELETE FROM access.assignments WHERE tenant_id = $1 AND role = $2")
        .bind(tenant)
        .bind(key)
        .execute(tx.conn())
        .await?;
    let deleted = sqlx::query("DELETE FROM access.roles WHERE tenant_id = $1 AND key = $2")
        .bind(tenant)
        .bind(key)
        .execute(tx.conn())
        .await?;
    Ok(deleted.rows_affected() == 1)
}

pub(crate) async fn custom_roles_exist(
    tx: &mut impl Tx,
    tenant: TenantId,
    keys: &[&str],
) -> Result<Vec<String>, DbError> {
    Ok(sqlx::query_scalar("SELECT key FROM access.roles WHERE tenant_id = $1 AND key = ANY($2)")
        .bind(tenant)
        .bind(keys)
        .fetch_all(tx.conn())
        .await?)
}

pub(crate) async fn roles_of(tx: &mut impl Tx, tenant: TenantId, subject: Uuid) -> Result<Vec<String>, DbError> {
    Ok(sqlx::query_scalar(
        "SELECT role FROM access.assignments WHERE tenant_id = $1 AND subject_id = $2 ORDER BY created_at, role",
    )
    .bind(tenant)
    .bind(subject)
    .fetch_all(tx.conn())
    .await?)
}

/// Roles of many subjects at once (member lists).
pub(crate) async fn roles_of_many(
    tx: &mut impl Tx,
    tenant: TenantId,
    subjects: &[Uuid],
) -> Result<Vec<(Uuid, String)>, DbError> {
    Ok(sqlx::query_as(
        "SELECT subject_id, role FROM access.assignments
          WHERE tenant_id = $1 AND subject_id = ANY($2) ORDER BY created_at, role",
    )
    .bind(tenant)
    .bind(subjects)
    .fetch_all(tx.conn())
    .await?)
}

pub(crate) async fn replace_assignments(
    tx: &mut impl Tx,
    tenant: TenantId,
    subject: Uuid,
    roles: &[&str],
) -> Result<(), DbError> {
    sqlx::query("DELETE FROM access.assignments WHERE tenant_id = $1 AND subject_id = $2 AND NOT (role = ANY($3))")
        .bind(tenant)
        .bind(subject)
        .bind(roles)
        .execute(tx.conn())
        .await?;
    sqlx::query(
        "INSERT INTO access.assignments (tenant_id, subject_id, role)
         SELECT $1, $2, unnest($3::text[]) ON CONFLICT DO NOTHING",
    )
    .bind(tenant)
    .bind(subject)
    .bind(roles)
    .execute(tx.conn())
    .await?;
    Ok(())
}

/// Serialises every change that could leave an organization without an owner, until commit.
pub(crate) async fn lock_owners(tx: &mut impl Tx, tenant: TenantId) -> Result<(), DbError> {
    sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended('access.owners/' || $1::text, 0))")
        .bind(tenant)
        .execute(tx.conn())
        .await?;
    Ok(())
}

pub(crate) async fn owners(tx: &mut impl Tx, tenant: TenantId) -> Result<Vec<Uuid>, DbError> {
    Ok(sqlx::query_scalar("SELECT subject_id FROM access.assignments WHERE tenant_id = $1 AND role = 'owner'")
        .bind(tenant)
        .fetch_all(tx.conn())
        .await?)
}

/// Tells every instance's cache what changed (delivered on commit).
pub(crate) async fn notify(tx: &mut impl Tx, payload: &str) -> Result<(), DbError> {
    sqlx::query("SELECT pg_notify($1, $2)").bind(crate::cache::CHANNEL).bind(payload).execute(tx.conn()).await?;
    Ok(())
}

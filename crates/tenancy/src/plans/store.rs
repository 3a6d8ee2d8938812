//! SQL for `tenancy.plans`, organizations' `plan`, and `tenancy.storage_usage`.

use chrono::{DateTime, Utc};
use vextrus_db::{DbError, SystemTx, TenantId, Tx};

use super::{Plan, PlanLimits, StorageUse};

#[derive(sqlx::FromRow)]
struct Row {
    name: String,
    storage_bytes: i64,
    members: i32,
    api_keys: i32,
    sms_per_month: i32,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl From<Row> for Plan {
    /// The table's CHECKs keep every number non-negative.
    fn from(r: Row) -> Self {
        let n = |v: i32| u32::try_from(v).unwrap_or(0);
        Plan {
            name: r.name,
            limits: PlanLimits {
                storage_bytes: u64::try_from(r.storage_bytes).unwrap_or(0),
                members: n(r.members),
                api_keys: n(r.api_keys),
                sms_per_month: n(r.sms_per_month),
            },
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

/// Stored numbers are SQL's signed ones; a limit above them is "as much as can be counted".
fn int(v: u32) -> i32 {
    i32::try_from(v).unwrap_or(i32::MAX)
}

fn bigint(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

pub(super) async fn get(tx: &mut SystemTx, name: &str) -> Result<Option<Plan>, DbError> {
    let row: Option<Row> = sqlx::query_as(
        "SELECT name, storage_bytes, members, api_keys, sms_per_month, created_at, updated_at
           FROM tenancy.plans WHERE name = $1",
    )
    .bind(name)
    .fetch_optional(tx.conn())
    .await?;
    Ok(row.map(Plan::from))
}

pub(super) async fn upsert(tx: &mut SystemTx, name: &str, l: &PlanLimits) -> Result<Plan, DbError> {
    let row: Row = sqlx::query_as(
        "INSERT INTO tenancy.plans (name, storage_bytes, members, api_keys, sms_per_month)
         VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (name) DO UPDATE SET storage_bytes = EXCLUDED.storage_bytes, members = EXCLUDED.members,
             api_keys = EXCLUDED.api_keys, sms_per_month = EXCLUDED.sms_per_month, updated_at = now()
         RETURNING name, storage_bytes, members, api_keys, sms_per_month, created_at, updated_at",
    )
    .bind(name)
    .bind(bigint(l.storage_bytes))
    .bind(int(l.members))
    .bind(int(l.api_keys))
    .bind(int(l.sms_per_month))
    .fetch_one(tx.conn())
    .await?;
    Ok(row.into())
}

pub(super) async fn list(tx: &mut SystemTx) -> Result<Vec<Plan>, DbError> {
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT name, storage_bytes, members, api_keys, sms_per_month, created_at, updated_at
           FROM tenancy.plans ORDER BY name LIMIT 1000",
    )
    .fetch_all(tx.conn())
    .await?;
    Ok(rows.into_iter().map(Plan::from).collect())
}

pub(super) async fn delete(tx: &mut SystemTx, name: &str) -> Result<(), DbError> {
    sqlx::query("DELETE FROM tenancy.plans WHERE name = $1").bind(name).execute(tx.conn()).await?;
    Ok(())
}

pub(super) async fn assign(tx: &mut SystemTx, org: TenantId, plan: Option<&str>) -> Result<(), DbError> {
    sqlx::query("UPDATE tenancy.organizations SET plan = $2, updated_at = now() WHERE id = $1")
        .bind(org)
        .bind(plan)
        .execute(tx.conn())
        .await?;
    Ok(())
}

/// The organization's own plan, if it has one (`None`: the default plan).
pub(super) async fn of(tx: &mut impl Tx, tenant: TenantId) -> Result<Option<Plan>, DbError> {
    let row: Option<Row> = sqlx::query_as(
        "SELECT p.name, p.storage_bytes, p.members, p.api_keys, p.sms_per_month, p.created_at, p.updated_at
           FROM tenancy.organizations o JOIN tenancy.plans p ON p.name = o.plan
          WHERE o.id = $1",
    )
    .bind(tenant)
    .fetch_optional(tx.conn())
    .await?;
    Ok(row.map(Plan::from))
}

pub(super) async fn storage(tx: &mut impl Tx, tenant: TenantId) -> Result<StorageUse, DbError> {
    let row: Option<(i64, i64)> =
        sqlx::query_as("SELECT used, reserved FROM tenancy.storage_usage WHERE tenant_id = $1")
            .bind(tenant)
            .fetch_optional(tx.conn())
            .await?;
    let (used, reserved) = row.unwrap_or_default();
    Ok(StorageUse { used: u64::try_from(used).unwrap_or(0), reserved: u64::try_from(reserved).unwrap_or(0) })
}

pub(super) async fn reserve(tx: &mut impl Tx, tenant: TenantId, bytes: u64, limit: u64) -> Result<bool, DbError> {
    // The first reservation inserts the row (if it fits at all); later ones update it under its
    // row lock, rechecking the sum on the newest version.
    let done = sqlx::query(
        "INSERT INTO tenancy.storage_usage AS u (tenant_id, reserved)
         SELECT $1, $2 WHERE $2 <= $3
         ON CONFLICT (tenant_id) DO UPDATE SET reserved = u.reserved + EXCLUDED.reserved, updated_at = now()
          WHERE u.used + u.reserved + EXCLUDED.reserved <= $3",
    )
    .bind(tenant)
    .bind(bigint(bytes))
    .bind(bigint(limit))
    .execute(tx.conn())
    .await?;
    Ok(done.rows_affected() == 1)
}

pub(super) async fn settle(tx: &mut impl Tx, tenant: TenantId, reserved: u64, stored: u64) -> Result<(), DbError> {
    sqlx::query(
        "UPDATE tenancy.storage_usage
            SET reserved = GREATEST(reserved - $2, 0), used = used + $3, updated_at = now()
          WHERE tenant_id = $1",
    )
    .bind(tenant)
    .bind(bigint(reserved))
    .bind(bigint(stored))
    .execute(tx.conn())
    .await?;
    Ok(())
}

pub(super) async fn free(tx: &mut impl Tx, tenant: TenantId, bytes: u64) -> Result<(), DbError> {
    sqlx::query(
        "UPDATE tenancy.storage_usage SET used = GREATEST(used - $2, 0), updated_at = now() WHERE tenant_id = $1",
    )
    .bind(tenant)
    .bind(bigint(bytes))
    .execute(tx.conn())
    .await?;
    Ok(())
}

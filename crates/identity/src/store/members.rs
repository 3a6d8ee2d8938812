//! SQL for an organization's members, inside its tenant transaction.

use chrono::{DateTime, Utc};
use uuid::Uuid;
use vextrus_db::{DbError, TenantId, Tx};

#[derive(Debug, Clone, sqlx::FromRow)]
pub(crate) struct MemberRow {
    pub user_id: Uuid,
    pub username: String,
    pub email: String,
    pub display_name: String,
    pub status: String,
    pub joined_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
}

macro_rules! member_columns {
    () => {
        "u.id AS user_id, u.username, u.email, u.display_name, u.status, m.created_at AS joined_at, m.last_used_at
           FROM identity.memberships m JOIN identity.users u ON u.id = m.user_id"
    };
}

/// A page of members in user-id order.
pub(crate) async fn list(
    tx: &mut impl Tx,
    tenant: TenantId,
    after: Option<Uuid>,
    limit: i64,
) -> Result<Vec<MemberRow>, DbError> {
    Ok(sqlx::query_as(concat!(
        "SELECT ",
        member_columns!(),
        " WHERE m.tenant_id = $1 AND ($2::uuid IS NULL OR m.user_id > $2) ORDER BY m.user_id LIMIT $3"
    ))
    .bind(tenant)
    .bind(after)
    .bind(limit)
    .fetch_all(tx.conn())
    .await?)
}

pub(crate) async fn find(tx: &mut impl Tx, tenant: TenantId, user: Uuid) -> Result<Option<MemberRow>, DbError> {
    Ok(sqlx::query_as(concat!("SELECT ", member_columns!(), " WHERE m.tenant_id = $1 AND m.user_id = $2"))
        .bind(tenant)
        .bind(user)
        .fetch_optional(tx.conn())
        .await?)
}

pub(crate) async fn delete(tx: &mut impl Tx, tenant: TenantId, user: Uuid) -> Result<bool, DbError> {
    let done = sqlx::query("DELETE FROM identity.memberships WHERE tenant_id = $1 AND user_id = $2")
        .bind(tenant)
        .bind(user)
        .execute(tx.conn())
        .await?;
    Ok(done.rows_affected() == 1)
}

pub(crate) async fn find_by_email(
    tx: &mut impl Tx,
    tenant: TenantId,
    email: &str,
) -> Result<Option<MemberRow>, DbError> {
    Ok(sqlx::query_as(concat!("SELECT ", member_columns!(), " WHERE m.tenant_id = $1 AND u.email = $2"))
        .bind(tenant)
        .bind(email)
        .fetch_optional(tx.conn())
        .await?)
}

/// Members of the organization, not counting `besides` (one about to join again).
pub(crate) async fn count(tx: &mut impl Tx, tenant: TenantId, besides: Option<Uuid>) -> Result<i64, DbError> {
    Ok(sqlx::query_scalar(
        "SELECT count(*) FROM identity.memberships WHERE tenant_id = $1 AND user_id IS DISTINCT FROM $2",
    )
    .bind(tenant)
    .bind(besides)
    .fetch_one(tx.conn())
    .await?)
}

//! SQL for `identity.invitations`.

use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;
use vextrus_db::{DbError, TenantId, Tx};

/// An invitation as listed (never its token).
#[derive(Debug, Clone, Serialize, ToSchema, sqlx::FromRow)]
pub struct Invitation {
    pub id: Uuid,
    pub email: String,
    pub roles: Vec<String>,
    /// `pending`, `accepted`, `revoked` or `expired`.
    pub status: String,
    pub invited_by: Option<Uuid>,
    pub expires_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub accepted_at: Option<DateTime<Utc>>,
    pub accepted_by: Option<Uuid>,
    pub revoked_at: Option<DateTime<Utc>>,
}

macro_rules! invitation_columns {
    () => {
        "id, email, roles,
         CASE WHEN status = 'pending' AND expires_at <= now() THEN 'expired' ELSE status END AS status,
         invited_by, expires_at, created_at, accepted_at, accepted_by, revoked_at"
    };
}

/// Revokes a pending invitation to the same address (a re-invite replaces it).
pub(crate) async fn revoke_pending_for(tx: &mut impl Tx, tenant: TenantId, email: &str) -> Result<(), DbError> {
    sqlx::query(
        "UPDATE identity.invitations SET status = 'revoked', revoked_at = now()
          WHERE tenant_id = $1 AND email = $2 AND status = 'pending'",
    )
    .bind(tenant)
    .bind(email)
    .execute(tx.conn())
    .await?;
    Ok(())
}

#[allow(clippy::too_many_arguments)]
pub(crate) async fn insert(
    tx: &mut impl Tx,
    tenant: TenantId,
    email: &str,
    roles: &[String],
    token_hash: &[u8],
    invited_by: Option<Uuid>,
    expires_at: DateTime<Utc>,
) -> Result<Invitation, DbError> {
    Ok(sqlx::query_as(concat!(
        "INSERT INTO identity.invitations (tenant_id, id, email, roles, token_hash, invited_by, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING ",
        invitation_columns!()
    ))
    .bind(tenant)
    .bind(Uuid::now_v7())
    .bind(email)
    .bind(roles)
    .bind(token_hash)
    .bind(invited_by)
    .bind(expires_at)
    .fetch_one(tx.conn())
    .await?)
}

/// Invitations the organization has sent (every state), and those pending now.
pub(crate) async fn counts(tx: &mut impl Tx, tenant: TenantId) -> Result<(i64, i64), DbError> {
    Ok(sqlx::query_as(
        "SELECT count(*), count(*) FILTER (WHERE status = 'pending' AND expires_at > now())
           FROM identity.invitations WHERE tenant_id = $1",
    )
    .bind(tenant)
    .fetch_one(tx.conn())
    .await?)
}

pub(crate) async fn list(tx: &mut impl Tx, tenant: TenantId) -> Result<Vec<Invitation>, DbError> {
    Ok(sqlx::query_as(concat!(
        "SELECT ",
        invitation_columns!(),
        " FROM identity.invitations WHERE tenant_id = $1 ORDER BY created_at DESC LIMIT 500"
    ))
    .bind(tenant)
    .fetch_all(tx.conn())
    .await?)
}

pub(crate) async fn revoke(tx: &mut impl Tx, tenant: TenantId, id: Uuid) -> Result<Option<Invitation>, DbError> {
    Ok(sqlx::query_as(concat!(
        "UPDATE identity.invitations SET status = 'revoked', revoked_at = now()
          WHERE tenant_id = $1 AND id = $2 AND status = 'pending' RETURNING ",
        invitation_columns!()
    ))
    .bind(tenant)
    .bind(id)
    .fetch_optional(tx.conn())
    .await?)
}

pub(crate) async fn exists(tx: &mut impl Tx, tenant: TenantId, id: Uuid) -> Result<bool, DbError> {
    Ok(sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM identity.invitations WHERE tenant_id = $1 AND id = $2)")
        .bind(tenant)
        .bind(id)
        .fetch_one(tx.conn())
        .await?)
}

/// Claims a pending, unexpired invitation by its token (once: the row is locked, then marked).
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct Claimed {
    pub id: Uuid,
    pub email: String,
    pub roles: Vec<String>,
}

pub(crate) async fn claim(tx: &mut impl Tx, tenant: TenantId, token_hash: &[u8]) -> Result<Option<Claimed>, DbError> {
    Ok(sqlx::query_as(
        "SELECT id, email, roles FROM identity.invitations
          WHERE tenant_id = $1 AND token_hash = $2 AND status = 'pending' AND expires_at > now()
          FOR UPDATE",
    )
    .bind(tenant)
    .bind(token_hash)
    .fetch_optional(tx.conn())
    .await?)
}

pub(crate) async fn mark_accepted(tx: &mut impl Tx, tenant: TenantId, id: Uuid, user: Uuid) -> Result<(), DbError> {
    sqlx::query(
        "UPDATE identity.invitations SET status = 'accepted', accepted_at = now(), accepted_by = $3
          WHERE tenant_id = $1 AND id = $2",
    )
    .bind(tenant)
    .bind(id)
    .bind(user)
    .execute(tx.conn())
    .await?;
    Ok(())
}

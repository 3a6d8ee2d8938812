//! SQL for `identity.service_accounts`.

use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;
use vextrus_db::{DbError, SystemTx, TenantId, Tx};

#[derive(Debug, Clone, Serialize, ToSchema, sqlx::FromRow)]
pub struct ServiceAccount {
    pub id: Uuid,
    /// The OAuth 2.0 client id for `grant_type=client_credentials`.
    pub client_id: String,
    pub name: String,
    pub description: String,
    /// `active` or `disabled`.
    pub status: String,
    pub created_by: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
}

macro_rules! account_columns {
    () => {
        "id, client_id, name, description, status, created_by, created_at, last_used_at"
    };
}

#[derive(Debug)]
pub(crate) struct NewAccountRow<'a> {
    pub client_id: &'a str,
    pub secret_hash: &'a [u8],
    pub name: &'a str,
    pub description: &'a str,
    pub created_by: Option<Uuid>,
}

pub(crate) async fn insert(
    tx: &mut impl Tx,
    tenant: TenantId,
    new: NewAccountRow<'_>,
) -> Result<ServiceAccount, DbError> {
    Ok(sqlx::query_as(concat!(
        "INSERT INTO identity.service_accounts (tenant_id, id, client_id, secret_hash, name, description, created_by)
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING ",
        account_columns!()
    ))
    .bind(tenant)
    .bind(Uuid::now_v7())
    .bind(new.client_id)
    .bind(new.secret_hash)
    .bind(new.name)
    .bind(new.description)
    .bind(new.created_by)
    .fetch_one(tx.conn())
    .await?)
}

/// Disables the active accounts `creator` created; answers their ids.
pub(crate) async fn disable_created_by(
    tx: &mut impl Tx,
    tenant: TenantId,
    creator: Uuid,
) -> Result<Vec<Uuid>, DbError> {
    Ok(sqlx::query_scalar(
        "UPDATE identity.service_accounts SET status = 'disabled'
          WHERE tenant_id = $1 AND created_by = $2 AND status = 'active' RETURNING id",
    )
    .bind(tenant)
    .bind(creator)
    .fetch_all(tx.conn())
    .await?)
}

pub(crate) async fn list(tx: &mut impl Tx, tenant: TenantId) -> Result<Vec<ServiceAccount>, DbError> {
    Ok(sqlx::query_as(concat!(
        "SELECT ",
        account_columns!(),
        " FROM identity.service_accounts WHERE tenant_id = $1 ORDER BY created_at"
    ))
    .bind(tenant)
    .fetch_all(tx.conn())
    .await?)
}

pub(crate) async fn find(tx: &mut impl Tx, tenant: TenantId, id: Uuid) -> Result<Option<ServiceAccount>, DbError> {
    Ok(sqlx::query_as(concat!(
        "SELECT ",
        account_columns!(),
        " FROM identity.service_accounts WHERE tenant_id = $1 AND id = $2"
    ))
    .bind(tenant)
    .bind(id)
    .fetch_optional(tx.conn())
    .await?)
}

pub(crate) async fn update(
    tx: &mut impl Tx,
    tenant: TenantId,
    id: Uuid,
    name: Option<&str>,
    description: Option<&str>,
    status: Option<&str>,
) -> Result<Option<ServiceAccount>, DbError> {
    Ok(sqlx::query_as(concat!(
        "UPDATE identity.service_accounts
            SET name = COALESCE($3, name), description = COALESCE($4, description), status = COALESCE($5, status)
          WHERE tenant_id = $1 AND id = $2 RETURNING ",
        account_columns!()
    ))
    .bind(tenant)
    .bind(id)
    .bind(name)
    .bind(description)
    .bind(status)
    .fetch_optional(tx.conn())
    .await?)
}

pub(crate) async fn delete(tx: &mut impl Tx, tenant: TenantId, id: Uuid) -> Result<bool, DbError> {
    let done = sqlx::query("DELETE FROM identity.service_accounts WHERE tenant_id = $1 AND id = $2")
        .bind(tenant)
        .bind(id)
        .execute(tx.conn())
        .await?;
    Ok(done.rows_affected() == 1)
}

/// What the client_credentials grant needs, by client id (before any tenant is known).
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct ClientForGrant {
    pub tenant_id: TenantId,
    pub id: Uuid,
    pub secret_hash: Vec<u8>,
    pub status: String,
}

pub(crate) async fn for_grant(tx: &mut SystemTx, client_id: &str) -> Result<Option<ClientForGrant>, DbError> {
    Ok(sqlx::query_as("SELECT tenant_id, id, secret_hash, status FROM identity.service_accounts WHERE client_id = $1")
        .bind(client_id)
        .fetch_optional(tx.conn())
        .await?)
}

pub(crate) async fn touch(tx: &mut SystemTx, tenant: TenantId, id: Uuid) -> Result<(), DbError> {
    sqlx::query("UPDATE identity.service_accounts SET last_used_at = now() WHERE tenant_id = $1 AND id = $2")
        .bind(tenant)
        .bind(id)
        .execute(tx.conn())
        .await?;
    Ok(())
}

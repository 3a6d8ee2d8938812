//! SQL for `identity.api_keys`.

use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;
use vextrus_db::{DbError, SystemTx, TenantId, Tx};

/// What authenticating a key needs, found by its public prefix.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct KeyForAuth {
    pub tenant_id: TenantId,
    pub id: Uuid,
    pub secret_hash: Vec<u8>,
    pub owner_kind: String,
    pub owner_id: Uuid,
    pub permissions: Option<Vec<String>>,
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
    /// The networks the key may be used from (`cidr` as text); absent: anywhere.
    pub allowed_cidrs: Option<Vec<String>>,
    /// The owning user's username or service account's client id, if the owner is active.
    pub owner_name: Option<String>,
}

pub(crate) async fn for_auth(tx: &mut SystemTx, prefix: &str) -> Result<Option<KeyForAuth>, DbError> {
    Ok(sqlx::query_as(
        "SELECT k.tenant_id, k.id, k.secret_hash, k.owner_kind, k.owner_id, k.permissions, k.expires_at,
                k.revoked_at, k.last_used_at, k.allowed_cidrs::text[] AS allowed_cidrs,
                CASE k.owner_kind
                    WHEN 'user' THEN (SELECT u.username FROM identity.users u
                                       WHERE u.id = k.owner_id AND u.status = 'active')
                    ELSE (SELECT s.client_id FROM identity.service_accounts s
                           WHERE s.tenant_id = k.tenant_id AND s.id = k.owner_id AND s.status = 'active')
                END AS owner_name
           FROM identity.api_keys k WHERE k.prefix = $1",
    )
    .bind(prefix)
    .fetch_optional(tx.conn())
    .await?)
}

pub(crate) async fn touch(tx: &mut SystemTx, tenant: TenantId, id: Uuid) -> Result<(), DbError> {
    sqlx::query("UPDATE identity.api_keys SET last_used_at = now() WHERE tenant_id = $1 AND id = $2")
        .bind(tenant)
        .bind(id)
        .execute(tx.conn())
        .await?;
    Ok(())
}

/// An API key as listed (never its secret).
#[derive(Debug, Clone, Serialize, ToSchema, sqlx::FromRow)]
pub struct ApiKey {
    pub id: Uuid,
    /// The public start of the key (`vxk_<prefix>_…`), to recognise it.
    pub prefix: String,
    pub name: String,
    /// `user` or `service_account`.
    pub owner_kind: String,
    pub owner_id: Uuid,
    /// The most the key may do; absent: whatever its owner may.
    pub permissions: Option<Vec<String>>,
    /// The networks (CIDR) the key may be used from; absent: anywhere.
    pub allowed_cidrs: Option<Vec<String>>,
    pub expires_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

macro_rules! key_columns {
    () => {
        "id, prefix, name, owner_kind, owner_id, permissions, allowed_cidrs::text[] AS allowed_cidrs, expires_at,
         created_at, last_used_at, revoked_at"
    };
}

#[derive(Debug)]
pub(crate) struct NewKeyRow<'a> {
    pub prefix: &'a str,
    pub secret_hash: &'a [u8],
    pub owner_kind: &'a str,
    pub owner_id: Uuid,
    pub name: &'a str,
    pub permissions: Option<&'a [String]>,
    pub allowed_cidrs: Option<&'a [String]>,
    pub expires_at: Option<DateTime<Utc>>,
}

/// Keys of `owner` that still work (not revoked, not expired).
pub(crate) async fn count_active(tx: &mut impl Tx, tenant: TenantId, owner: Uuid) -> Result<i64, DbError> {
    Ok(sqlx::query_scalar(
        "SELECT count(*) FROM identity.api_keys
          WHERE tenant_id = $1 AND owner_id = $2 AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now())",
    )
    .bind(tenant)
    .bind(owner)
    .fetch_one(tx.conn())
    .await?)
}

/// Active keys in the organization, every holder together.
pub(crate) async fn count_active_in_org(tx: &mut impl Tx, tenant: TenantId) -> Result<i64, DbError> {
    Ok(sqlx::query_scalar(
        "SELECT count(*) FROM identity.api_keys
          WHERE tenant_id = $1 AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now())",
    )
    .bind(tenant)
    .fetch_one(tx.conn())
    .await?)
}

pub(crate) async fn insert(tx: &mut impl Tx, tenant: TenantId, key: NewKeyRow<'_>) -> Result<ApiKey, DbError> {
    Ok(sqlx::query_as(concat!(
        "INSERT INTO identity.api_keys (tenant_id, id, prefix, secret_hash, owner_kind, owner_id, name, permissions,
                                        expires_at, allowed_cidrs)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10::cidr[]) RETURNING ",
        key_columns!()
    ))
    .bind(tenant)
    .bind(Uuid::now_v7())
    .bind(key.prefix)
    .bind(key.secret_hash)
    .bind(key.owner_kind)
    .bind(key.owner_id)
    .bind(key.name)
    .bind(key.permissions)
    .bind(key.expires_at)
    .bind(key.allowed_cidrs)
    .fetch_one(tx.conn())
    .await?)
}

pub(crate) async fn list(tx: &mut impl Tx, tenant: TenantId, owner: Uuid) -> Result<Vec<ApiKey>, DbError> {
    Ok(sqlx::query_as(concat!(
        "SELECT ",
        key_columns!(),
        " FROM identity.api_keys WHERE tenant_id = $1 AND owner_id = $2 ORDER BY created_at DESC"
    ))
    .bind(tenant)
    .bind(owner)
    .fetch_all(tx.conn())
    .await?)
}

/// Revokes an owner's key; false if the owner has no such (unrevoked) key. Every instance
/// hears of it at commit (`identity::api_keys::CHANNEL`).
pub(crate) async fn revoke(tx: &mut impl Tx, tenant: TenantId, owner: Uuid, id: Uuid) -> Result<bool, DbError> {
    let done = sqlx::query(
        "WITH revoked AS (
             UPDATE identity.api_keys SET revoked_at = now()
              WHERE tenant_id = $1 AND owner_id = $2 AND id = $3 AND revoked_at IS NULL RETURNING prefix)
         SELECT pg_notify('vextrus_api_keys', 'prefix:' || prefix) FROM revoked",
    )
    .bind(tenant)
    .bind(owner)
    .bind(id)
    .fetch_all(tx.conn())
    .await?;
    Ok(done.len() == 1)
}

/// Revokes every key of a user in every organization (their account changed hands).
pub(crate) async fn revoke_all_everywhere(tx: &mut SystemTx, owner: Uuid) -> Result<(), DbError> {
    sqlx::query(
        "WITH revoked AS (
             UPDATE identity.api_keys SET revoked_at = now()
              WHERE owner_id = $1 AND revoked_at IS NULL RETURNING 1)
         SELECT pg_notify('vextrus_api_keys', 'owner:' || $1::text) WHERE EXISTS (SELECT 1 FROM revoked)",
    )
    .bind(owner)
    .fetch_all(tx.conn())
    .await?;
    Ok(())
}

/// Revokes every key of an owner (a member removed, a service account deleted).
pub(crate) async fn revoke_all(tx: &mut impl Tx, tenant: TenantId, owner: Uuid) -> Result<(), DbError> {
    sqlx::query(
        "WITH revoked AS (
             UPDATE identity.api_keys SET revoked_at = now()
              WHERE tenant_id = $1 AND owner_id = $2 AND revoked_at IS NULL RETURNING 1)
         SELECT pg_notify('vextrus_api_keys', 'owner:' || $2::text) WHERE EXISTS (SELECT 1 FROM revoked)",
    )
    .bind(tenant)
    .bind(owner)
    .fetch_all(tx.conn())
    .await?;
    Ok(())
}

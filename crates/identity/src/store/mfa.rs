//! SQL for second factors and the organizations' MFA policies.

use chrono::{DateTime, Utc};
use uuid::Uuid;
use vextrus_db::{DbError, SystemTx, TenantId, Tx};

#[derive(Debug, sqlx::FromRow)]
pub(crate) struct TotpRow {
    pub secret: Vec<u8>,
    pub confirmed_at: Option<DateTime<Utc>>,
    pub last_step: i64,
}

pub(crate) async fn totp_of(tx: &mut SystemTx, user: Uuid) -> Result<Option<TotpRow>, DbError> {
    Ok(sqlx::query_as("SELECT secret, confirmed_at, last_step FROM identity.mfa_totp WHERE user_id = $1 FOR UPDATE")
        .bind(user)
        .fetch_optional(tx.conn())
        .await?)
}

/// Starts (or restarts) an enrolment; a confirmed secret is never replaced. False if one is.
pub(crate) async fn put_unconfirmed(tx: &mut SystemTx, user: Uuid, sealed: &[u8]) -> Result<bool, DbError> {
    let done = sqlx::query(
        "INSERT INTO identity.mfa_totp (user_id, secret) VALUES ($1, $2)
         ON CONFLICT (user_id) DO UPDATE SET secret = EXCLUDED.secret, last_step = 0, created_at = now()
          WHERE mfa_totp.confirmed_at IS NULL",
    )
    .bind(user)
    .bind(sealed)
    .execute(tx.conn())
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Records a used step (and confirms the enrolment); false if that step or a later one was
/// already used (a replay, possibly concurrent).
pub(crate) async fn use_step(tx: &mut SystemTx, user: Uuid, step: i64) -> Result<bool, DbError> {
    let done = sqlx::query(
        "UPDATE identity.mfa_totp SET last_step = $2, confirmed_at = COALESCE(confirmed_at, now())
          WHERE user_id = $1 AND last_step < $2",
    )
    .bind(user)
    .bind(step)
    .execute(tx.conn())
    .await?;
    Ok(done.rows_affected() == 1)
}

pub(crate) async fn delete_all(tx: &mut SystemTx, user: Uuid) -> Result<(), DbError> {
    sqlx::query("DELETE FROM identity.mfa_recovery_codes WHERE user_id = $1").bind(user).execute(tx.conn()).await?;
    sqlx::query("DELETE FROM identity.mfa_totp WHERE user_id = $1").bind(user).execute(tx.conn()).await?;
    Ok(())
}

pub(crate) async fn replace_recovery_codes(tx: &mut SystemTx, user: Uuid, hashes: &[Vec<u8>]) -> Result<(), DbError> {
    sqlx::query("DELETE FROM identity.mfa_recovery_codes WHERE user_id = $1").bind(user).execute(tx.conn()).await?;
    sqlx::query("INSERT INTO identity.mfa_recovery_codes (user_id, code_hash) SELECT $1, unnest($2::bytea[])")
        .bind(user)
        .bind(hashes)
        .execute(tx.conn())
        .await?;
    Ok(())
}

pub(crate) async fn use_recovery_code(tx: &mut SystemTx, user: Uuid, hash: &[u8]) -> Result<bool, DbError> {
    let done = sqlx::query(
        "UPDATE identity.mfa_recovery_codes SET used_at = now()
          WHERE user_id = $1 AND code_hash = $2 AND used_at IS NULL",
    )
    .bind(user)
    .bind(hash)
    .execute(tx.conn())
    .await?;
    Ok(done.rows_affected() == 1)
}

pub(crate) async fn recovery_codes_left(tx: &mut SystemTx, user: Uuid) -> Result<i64, DbError> {
    Ok(sqlx::query_scalar("SELECT count(*) FROM identity.mfa_recovery_codes WHERE user_id = $1 AND used_at IS NULL")
        .bind(user)
        .fetch_one(tx.conn())
        .await?)
}

pub(crate) async fn is_enrolled(tx: &mut SystemTx, user: Uuid) -> Result<bool, DbError> {
    Ok(sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM identity.mfa_totp WHERE user_id = $1 AND confirmed_at IS NOT NULL)",
    )
    .bind(user)
    .fetch_one(tx.conn())
    .await?)
}

pub(crate) async fn policy_of(tx: &mut impl Tx, tenant: TenantId) -> Result<Vec<String>, DbError> {
    Ok(sqlx::query_scalar("SELECT require_for FROM identity.mfa_policies WHERE tenant_id = $1")
        .bind(tenant)
        .fetch_optional(tx.conn())
        .await?
        .unwrap_or_default())
}

pub(crate) async fn set_policy(tx: &mut impl Tx, tenant: TenantId, roles: &[String]) -> Result<(), DbError> {
    sqlx::query(
        "INSERT INTO identity.mfa_policies (tenant_id, require_for) VALUES ($1, $2)
         ON CONFLICT (tenant_id) DO UPDATE SET require_for = EXCLUDED.require_for, updated_at = now()",
    )
    .bind(tenant)
    .bind(roles)
    .execute(tx.conn())
    .await?;
    Ok(())
}

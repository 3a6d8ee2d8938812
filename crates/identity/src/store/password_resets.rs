//! SQL for password resets.

use chrono::{DateTime, Utc};
use uuid::Uuid;
use vextrus_db::{DbError, SystemTx, Tx};

#[derive(Debug, sqlx::FromRow)]
pub(crate) struct ResetTarget {
    pub id: Uuid,
    pub email: String,
    pub username: String,
    pub display_name: String,
    pub locale: String,
}

pub(crate) async fn active_user_by_email(tx: &mut SystemTx, email: &str) -> Result<Option<ResetTarget>, DbError> {
    Ok(sqlx::query_as(
        "SELECT id, email, username, display_name, locale FROM identity.users WHERE email = $1 AND status = 'active'",
    )
    .bind(email)
    .fetch_optional(tx.conn())
    .await?)
}

pub(crate) async fn insert(
    tx: &mut SystemTx,
    token_hash: &[u8],
    user: Uuid,
    expires_at: DateTime<Utc>,
) -> Result<(), DbError> {
    sqlx::query("INSERT INTO identity.password_resets (token_hash, user_id, expires_at) VALUES ($1, $2, $3)")
        .bind(token_hash)
        .bind(user)
        .bind(expires_at)
        .execute(tx.conn())
        .await?;
    Ok(())
}

/// Uses a live token once; the user it was for.
pub(crate) async fn consume(tx: &mut SystemTx, token_hash: &[u8]) -> Result<Option<ResetTarget>, DbError> {
    Ok(sqlx::query_as(
        "WITH used AS (
             UPDATE identity.password_resets SET used_at = now()
              WHERE token_hash = $1 AND used_at IS NULL AND expires_at > now()
              RETURNING user_id)
         SELECT u.id, u.email, u.username, u.display_name, u.locale FROM used JOIN identity.users u ON u.id = used.user_id
          WHERE u.status = 'active'",
    )
    .bind(token_hash)
    .fetch_optional(tx.conn())
    .await?)
}

/// Sets the password, ends every other outstanding reset and every session of the user — their
/// access tokens too, at once on every instance (through the standing announcement).
pub(crate) async fn set_password(tx: &mut SystemTx, user: Uuid, password_hash: &str) -> Result<(), DbError> {
    sqlx::query(
        "UPDATE identity.users SET password_hash = $2, sessions_reset_at = now(), updated_at = now() WHERE id = $1",
    )
    .bind(user)
    .bind(password_hash)
    .execute(tx.conn())
    .await?;
    sqlx::query("UPDATE identity.password_resets SET used_at = now() WHERE user_id = $1 AND used_at IS NULL")
        .bind(user)
        .execute(tx.conn())
        .await?;
    sqlx::query(
        "UPDATE identity.sessions SET revoked_at = now(), revoked_reason = 'password_reset'
          WHERE user_id = $1 AND revoked_at IS NULL",
    )
    .bind(user)
    .execute(tx.conn())
    .await?;
    crate::standing::announce_user(tx, user).await?;
    Ok(())
}

//! SQL for `identity.login_throttle`.

use chrono::{DateTime, Utc};
use vextrus_db::{DbError, SystemTx, Tx};

/// The latest `blocked_until` among `keys` that is still in the future.
pub(crate) async fn blocked_until(tx: &mut SystemTx, keys: &[String]) -> Result<Option<DateTime<Utc>>, DbError> {
    Ok(sqlx::query_scalar(
        "SELECT max(blocked_until) FROM identity.login_throttle WHERE key = ANY($1) AND blocked_until > now()",
    )
    .bind(keys)
    .fetch_one(tx.conn())
    .await?)
}

/// Counts a failure (a quiet hour starts the count again); answers the new count.
pub(crate) async fn count_failure(tx: &mut SystemTx, key: &str) -> Result<i32, DbError> {
    Ok(sqlx::query_scalar(
        "INSERT INTO identity.login_throttle (key, failures, last_failure) VALUES ($1, 1, now())
         ON CONFLICT (key) DO UPDATE SET
             failures = CASE WHEN login_throttle.last_failure < now() - interval '1 hour' THEN 1
                             ELSE login_throttle.failures + 1 END,
             last_failure = now()
         RETURNING failures",
    )
    .bind(key)
    .fetch_one(tx.conn())
    .await?)
}

pub(crate) async fn block(tx: &mut SystemTx, key: &str, seconds: i64) -> Result<(), DbError> {
    sqlx::query("UPDATE identity.login_throttle SET blocked_until = now() + make_interval(secs => $2) WHERE key = $1")
        .bind(key)
        .bind(seconds as f64)
        .execute(tx.conn())
        .await?;
    Ok(())
}

pub(crate) async fn clear(tx: &mut SystemTx, keys: &[String]) -> Result<(), DbError> {
    sqlx::query("DELETE FROM identity.login_throttle WHERE key = ANY($1)").bind(keys).execute(tx.conn()).await?;
    Ok(())
}

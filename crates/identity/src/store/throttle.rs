//! SQL for `identity.login_throttle`.

use chrono::{DateTime, Utc};
use vextrus_db::{DbError, SystemTx, Tx};

/// Takes an attempt from `key` in one statement (the row lock orders concurrent ones): while
/// blocked it is refused and not counted; otherwise it is counted, and from the `free`-th attempt
/// on the next one must wait a doubling delay (1 s, 2 s, 4 s …). Answers (permitted, blocked until).
pub(crate) async fn take_attempt(
    tx: &mut SystemTx,
    key: &str,
    free: i32,
    max_delay_secs: i64,
) -> Result<(bool, Option<DateTime<Utc>>), DbError> {
    // `n` below is the count this attempt makes (a quiet hour starts it again).
    Ok(sqlx::query_as(
        "INSERT INTO identity.login_throttle AS t (key, failures, last_failure) VALUES ($1, 1, now())
         ON CONFLICT (key) DO UPDATE SET
             failures = CASE WHEN t.blocked_until > now() THEN t.failures
                             WHEN t.last_failure < now() - interval '1 hour' THEN 1
                             ELSE t.failures + 1 END,
             last_failure = CASE WHEN t.blocked_until > now() THEN t.last_failure ELSE now() END,
             blocked_until = CASE
                 WHEN t.blocked_until > now() THEN t.blocked_until
                 WHEN t.last_failure >= now() - interval '1 hour' AND t.failures + 1 >= $2
                     THEN now() + make_interval(secs => least($3, power(2, least(t.failures + 1 - $2, 20))))
                 ELSE NULL END
         RETURNING last_failure = now() AS permitted, blocked_until",
    )
    .bind(key)
    .bind(free)
    .bind(max_delay_secs as f64)
    .fetch_one(tx.conn())
    .await?)
}

/// Gives an attempt back (it proved the secret right, or proved nothing).
pub(crate) async fn give_back(tx: &mut SystemTx, key: &str) -> Result<(), DbError> {
    sqlx::query("UPDATE identity.login_throttle SET failures = greatest(failures - 1, 0) WHERE key = $1")
        .bind(key)
        .execute(tx.conn())
        .await?;
    Ok(())
}

pub(crate) async fn clear(tx: &mut SystemTx, keys: &[String]) -> Result<(), DbError> {
    sqlx::query("DELETE FROM identity.login_throttle WHERE key = ANY($1)").bind(keys).execute(tx.conn()).await?;
    Ok(())
}

pub(crate) async fn clear_prefixes(tx: &mut SystemTx, prefixes: &[String]) -> Result<(), DbError> {
    sqlx::query(
        "DELETE FROM identity.login_throttle
          WHERE EXISTS (SELECT 1 FROM unnest($1::text[]) AS p(prefix) WHERE starts_with(key, p.prefix))",
    )
    .bind(prefixes)
    .execute(tx.conn())
    .await?;
    Ok(())
}

//! Limits on what strangers can do and create. Two kinds:
//! - a **rate** (so many per window, per key: an address, a recipient), taken atomically in
//!   `db.rate_counts` by one upsert that answers the new count;
//! - a **count** of rows an organization or account holds (API keys, roles, webhooks): the
//!   creating transaction takes [`lock_count`] first, so two concurrent creations cannot both see
//!   room for one.

use std::time::Duration;

use crate::{DbError, SystemTx, Tx};

/// Takes one from the rate `key` allows (`limit` per `window`). `Err(seconds)` until the window
/// ends when it is used up (nothing is taken then).
pub async fn take_rate(tx: &mut SystemTx, key: &str, limit: u32, window: Duration) -> Result<Result<(), u64>, DbError> {
    let (count, left): (i32, f64) = sqlx::query_as(
        "INSERT INTO db.rate_counts AS r (key, window_start, count) VALUES ($1, now(), 1)
         ON CONFLICT (key) DO UPDATE SET
             window_start = CASE WHEN r.window_start <= now() - make_interval(secs => $2) THEN now()
                                 ELSE r.window_start END,
             count = CASE WHEN r.window_start <= now() - make_interval(secs => $2) THEN 1
                          WHEN r.count > $3 THEN r.count
                          ELSE r.count + 1 END
         RETURNING count, extract(epoch FROM window_start + make_interval(secs => $2) - now())::float8",
    )
    .bind(key)
    .bind(window.as_secs_f64())
    .bind(i32::try_from(limit).unwrap_or(i32::MAX))
    .fetch_one(tx.conn())
    .await?;
    if i64::from(count) > i64::from(limit) { Ok(Err(left.ceil().max(1.0) as u64)) } else { Ok(Ok(())) }
}

/// Forgets windows that ended (run now and then; a key's next use starts a new one anyway).
pub async fn sweep_rates(tx: &mut SystemTx, longest: Duration) -> Result<u64, DbError> {
    let done = sqlx::query("DELETE FROM db.rate_counts WHERE window_start < now() - make_interval(secs => $1)")
        .bind(longest.as_secs_f64())
        .execute(tx.conn())
        .await?;
    Ok(done.rows_affected())
}

/// Serialises, until `tx` ends, every transaction that counts `key` (e.g. `roles:<tenant>`) before
/// adding to it.
pub async fn lock_count(tx: &mut impl Tx, key: &str) -> Result<(), DbError> {
    sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 7))").bind(key).execute(tx.conn()).await?;
    Ok(())
}

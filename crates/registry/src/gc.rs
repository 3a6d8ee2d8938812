//! Removing tarballs no version refers to any more (after unpublishes). Tarballs are
//! content-addressed and may be shared by versions of different organizations, so a key is
//! removed only when no version anywhere names it, and only once it is older than a grace
//! period (a publish writes its bytes before the version that names them commits). The check and
//! the removal happen under an exclusive advisory lock on the key; a publish holds the same lock
//! shared from its check that the bytes exist until it commits.

use std::collections::HashSet;

use chrono::{Duration, Utc};
use serde::{Deserialize, Serialize};
use vextrus_db::jobs::{Job, JobContext, Registry};
use vextrus_db::{Database, DbError, Tx};
use vextrus_storage::{Storage, StorageError};

/// Where published tarballs are kept.
pub(crate) const PREFIX: &str = "registry/sha512";

/// Bytes younger than this are never removed (a publish in progress may be about to name them).
pub const GRACE: Duration = Duration::hours(24);

/// Holds `key`'s lock shared until the transaction ends.
pub(crate) async fn hold_shared(tx: &mut impl Tx, key: &str) -> Result<(), DbError> {
    sqlx::query("SELECT pg_advisory_xact_lock_shared(hashtextextended($1, 0))").bind(key).execute(tx.conn()).await?;
    Ok(())
}

#[derive(Debug, thiserror::Error)]
pub enum CollectError {
    #[error(transparent)]
    Db(#[from] DbError),
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// Removes unreferenced tarballs older than `grace`; answers how many went.
pub async fn collect(db: &Database, storage: &Storage, grace: Duration) -> Result<usize, CollectError> {
    let objects = storage.list(PREFIX).await?;
    let mut tx = db.system().await?;
    let referenced: HashSet<String> = sqlx::query_scalar("SELECT DISTINCT object_key FROM registry.versions")
        .fetch_all(tx.conn())
        .await
        .map_err(DbError::from)?
        .into_iter()
        .collect();
    tx.commit().await?;
    let cutoff = Utc::now() - grace;
    let mut removed = 0;
    for (key, written) in objects {
        if referenced.contains(&key) || written > cutoff {
            continue;
        }
        let mut tx = db.system().await?;
        sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
            .bind(&key)
            .execute(tx.conn())
            .await
            .map_err(DbError::from)?;
        // Named meanwhile (a publish of the same bytes committed since the listing)?
        let named: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM registry.versions WHERE object_key = $1)")
            .bind(&key)
            .fetch_one(tx.conn())
            .await
            .map_err(DbError::from)?;
        if !named {
            storage.delete(&key).await?;
            removed += 1;
        }
        tx.commit().await?;
    }
    Ok(removed)
}

/// The daily collection (`serve` enqueues it).
#[derive(Debug, Serialize, Deserialize)]
pub struct CollectTarballs {}

impl Job for CollectTarballs {
    const KIND: &'static str = "registry.collect_tarballs";
}

pub fn register_jobs(registry: &mut Registry, storage: Storage) {
    registry.register(move |ctx: JobContext, _: CollectTarballs| {
        let storage = storage.clone();
        async move {
            let removed = collect(&ctx.db, &storage, GRACE).await.map_err(|e| e.to_string())?;
            tracing::info!(removed, "removed tarballs no version refers to");
            Ok(())
        }
    });
}

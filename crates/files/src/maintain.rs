//! Keeping the object store and the database in agreement, and the trash and unfinished uploads
//! from piling up. Two jobs, both enqueued by `serve`:
//!
//! - **purge** (every 15 minutes): resumable uploads past their expiry and other uploads left
//!   `pending` longer than any request may take (a crash mid-upload) are removed with their
//!   staged bytes, any object they wrote, and their reservation; files in the trash longer than
//!   their bucket's days (and not held) are purged — objects first, then the rows, in one
//!   transaction that holds the file's row so a restore cannot slip in between.
//! - **reconcile** (daily): lists both sides. An object no version names (older than a grace
//!   period, so uploads in flight are left alone) is removed; a servable version whose object is
//!   gone is marked `lost` (never served), its file falls back to its newest servable version,
//!   and it is reported and audited.

use std::collections::HashSet;
use std::time::Duration;

use chrono::Utc;
use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;
use vextrus_audit::{Actor, ActorKind, NewEvent, Target};
use vextrus_db::jobs::{Job, JobContext, Registry};
use vextrus_db::{Database, DbError, TenantId, Tx};
use vextrus_storage::StorageError;

use crate::Files;
use crate::store;

/// What one run found and did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Report {
    pub expired_uploads: usize,
    pub stale_pending: usize,
    pub purged_files: usize,
    pub orphan_objects: usize,
    pub lost_versions: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum MaintainError {
    #[error(transparent)]
    Db(#[from] DbError),
    #[error(transparent)]
    Storage(#[from] StorageError),
}

impl From<sqlx::Error> for MaintainError {
    fn from(e: sqlx::Error) -> Self {
        Self::Db(e.into())
    }
}

/// Rows handled per kind and run (the next run takes the rest).
const BATCH: i64 = 1000;

fn system() -> Actor {
    Actor::new(ActorKind::System, None, Some("files.maintain".into()))
}

/// Removes an upload that will never finish: its staged bytes, any object it wrote, its rows
/// and its reservation.
async fn give_up(
    files: &Files,
    db: &Database,
    tenant: TenantId,
    version: Uuid,
    key: &str,
) -> Result<bool, MaintainError> {
    let _ = tokio::fs::remove_file(files.staged_path(version)).await;
    delete_object(files, key).await?;
    let mut tx = db.tenant(tenant).await?;
    let dropped = match store::drop_pending(&mut tx, tenant, version).await? {
        Some(reserved) => {
            vextrus_tenancy::plans::release_storage(&mut tx, tenant, reserved).await?;
            true
        }
        None => false,
    };
    tx.commit().await?;
    Ok(dropped)
}

/// A version's object and its thumbnails.
async fn delete_object(files: &Files, key: &str) -> Result<(), StorageError> {
    files.inner().storage.delete(key).await?;
    for size in crate::thumbs::SIZES {
        files.inner().storage.delete(&crate::thumbs::key_of(key, size)).await?;
    }
    Ok(())
}

/// Expired uploads, stale pending versions and the trash past its days.
pub async fn purge(files: &Files, db: &Database, stale_after: Duration) -> Result<Report, MaintainError> {
    let mut report = Report::default();
    let mut tx = db.system().await?;
    let expired: Vec<(TenantId, Uuid, String)> = sqlx::query_as(
        "SELECT u.tenant_id, u.id, v.object_key FROM files.uploads u
           JOIN files.versions v ON v.tenant_id = u.tenant_id AND v.id = u.id
          WHERE u.expires_at <= now() ORDER BY u.expires_at LIMIT $1",
    )
    .bind(BATCH)
    .fetch_all(tx.conn())
    .await?;
    let stale_before = Utc::now() - chrono::Duration::from_std(stale_after).unwrap_or_default();
    let stale: Vec<(TenantId, Uuid, String)> = sqlx::query_as(
        "SELECT v.tenant_id, v.id, v.object_key FROM files.versions v
          WHERE v.state = 'pending' AND v.created_at < $1
            AND NOT EXISTS (SELECT 1 FROM files.uploads u WHERE u.tenant_id = v.tenant_id AND u.id = v.id)
          ORDER BY v.created_at LIMIT $2",
    )
    .bind(stale_before)
    .bind(BATCH)
    .fetch_all(tx.conn())
    .await?;
    let trash: Vec<(TenantId, Uuid)> = sqlx::query_as(
        "SELECT f.tenant_id, f.id FROM files.files f
           JOIN files.buckets b ON b.tenant_id = f.tenant_id AND b.id = f.bucket_id
          WHERE f.deleted_at IS NOT NULL AND NOT f.legal_hold
            AND f.deleted_at < now() - make_interval(days => b.trash_days)
          ORDER BY f.deleted_at LIMIT $1",
    )
    .bind(BATCH)
    .fetch_all(tx.conn())
    .await?;
    tx.commit().await?;
    for (tenant, version, key) in expired {
        report.expired_uploads += usize::from(give_up(files, db, tenant, version, &key).await?);
    }
    for (tenant, version, key) in stale {
        report.stale_pending += usize::from(give_up(files, db, tenant, version, &key).await?);
    }
    for (tenant, file) in trash {
        report.purged_files += usize::from(purge_file(files, db, tenant, file).await?);
    }
    Ok(report)
}

/// Deletes a file in the trash for good: objects, then rows, holding the file's row throughout.
async fn purge_file(files: &Files, db: &Database, tenant: TenantId, file: Uuid) -> Result<bool, MaintainError> {
    let mut tx = db.tenant(tenant).await?;
    let still: Option<(String,)> = sqlx::query_as(
        "SELECT f.filename FROM files.files f JOIN files.buckets b ON b.tenant_id = f.tenant_id AND b.id = f.bucket_id
          WHERE f.tenant_id = $1 AND f.id = $2 AND f.deleted_at IS NOT NULL AND NOT f.legal_hold
            AND f.deleted_at < now() - make_interval(days => b.trash_days)
          FOR UPDATE OF f",
    )
    .bind(tenant)
    .bind(file)
    .fetch_optional(tx.conn())
    .await?;
    let Some((filename,)) = still else { return Ok(false) };
    let versions: Vec<(String, String, Option<i64>)> =
        sqlx::query_as("SELECT object_key, state, size FROM files.versions WHERE tenant_id = $1 AND file_id = $2")
            .bind(tenant)
            .bind(file)
            .fetch_all(tx.conn())
            .await?;
    for (key, _, _) in &versions {
        delete_object(files, key).await?;
    }
    let stored: i64 = versions
        .iter()
        .filter(|(_, state, _)| state == "ready" || state == "unscanned")
        .filter_map(|(_, _, s)| *s)
        .sum();
    sqlx::query("DELETE FROM files.files WHERE tenant_id = $1 AND id = $2")
        .bind(tenant)
        .bind(file)
        .execute(tx.conn())
        .await?;
    vextrus_tenancy::plans::free_storage(&mut tx, tenant, stored.max(0) as u64).await?;
    let event = NewEvent::new(tenant, system(), "files.file.purge")
        .target(Target::new("file", file))
        .metadata(json!({"filename": filename, "versions": versions.len(), "bytes": stored}));
    vextrus_audit::record(&mut tx, event).await?;
    tx.commit().await?;
    Ok(true)
}

/// Lists the object store and the versions; removes objects no version names (older than
/// `grace`) and marks servable versions whose object is gone `lost`.
pub async fn reconcile(files: &Files, db: &Database, grace: chrono::Duration) -> Result<Report, MaintainError> {
    let mut report = Report::default();
    let objects = files.inner().storage.list("files").await?;
    let listed: HashSet<&str> = objects.iter().map(|(k, _)| k.as_str()).collect();
    let mut tx = db.system().await?;
    let named: Vec<(TenantId, Uuid, String, String)> =
        sqlx::query_as("SELECT tenant_id, id, object_key, state FROM files.versions").fetch_all(tx.conn()).await?;
    tx.commit().await?;
    let keys: HashSet<&str> = named.iter().map(|(_, _, k, _)| k.as_str()).collect();
    let cutoff = Utc::now() - grace;
    for (key, written) in &objects {
        // A thumbnail belongs to its version's object.
        let owner = key.split_once(".thumb-").map_or(key.as_str(), |(object, _)| object);
        if keys.contains(owner) || *written > cutoff {
            continue;
        }
        // Named meanwhile (an upload that finished since the listing)?
        let mut tx = db.system().await?;
        let now_named: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM files.versions WHERE object_key = $1)")
            .bind(owner)
            .fetch_one(tx.conn())
            .await?;
        tx.commit().await?;
        if !now_named {
            files.inner().storage.delete(key).await?;
            tracing::warn!(%key, "removed an object no file version names");
            report.orphan_objects += 1;
        }
    }
    for (tenant, version, key, state) in &named {
        if (state == "ready" || state == "unscanned")
            && !listed.contains(key.as_str())
            && !files.inner().storage.exists(key).await?
        {
            report.lost_versions += usize::from(mark_lost(db, *tenant, *version, key).await?);
        }
    }
    for (kind, n) in [("orphan_object", report.orphan_objects), ("lost_version", report.lost_versions)] {
        metrics::counter!("vextrus_files_reconciled_total", "kind" => kind).increment(n as u64);
    }
    Ok(report)
}

async fn mark_lost(db: &Database, tenant: TenantId, version: Uuid, key: &str) -> Result<bool, MaintainError> {
    let mut tx = db.tenant(tenant).await?;
    let lost: Option<(Uuid, Option<i64>)> = sqlx::query_as(
        "UPDATE files.versions SET state = 'lost', scan_detail = 'the object was missing from storage'
          WHERE tenant_id = $1 AND id = $2 AND state IN ('ready', 'unscanned') RETURNING file_id, size",
    )
    .bind(tenant)
    .bind(version)
    .fetch_optional(tx.conn())
    .await?;
    let Some((file, size)) = lost else { return Ok(false) };
    sqlx::query(
        "UPDATE files.files f SET updated_at = now(), current = (
             SELECT v.id FROM files.versions v WHERE v.tenant_id = f.tenant_id AND v.file_id = f.id
                AND v.state IN ('ready', 'unscanned') ORDER BY v.number DESC LIMIT 1)
          WHERE f.tenant_id = $1 AND f.id = $2 AND f.current = $3",
    )
    .bind(tenant)
    .bind(file)
    .bind(version)
    .execute(tx.conn())
    .await?;
    vextrus_tenancy::plans::free_storage(&mut tx, tenant, size.unwrap_or(0).max(0) as u64).await?;
    let event = NewEvent::new(tenant, system(), "files.version.lost")
        .target(Target::new("file", file))
        .metadata(json!({"version": version, "object_key": key}));
    vextrus_audit::record(&mut tx, event).await?;
    tx.commit().await?;
    tracing::error!(%tenant, %file, %version, %key, "a file version's object is missing from storage");
    Ok(true)
}

/// The files module's upkeep; `reconcile` also lists both sides.
#[derive(Debug, Serialize, Deserialize)]
pub struct MaintainFiles {
    pub reconcile: bool,
}

impl Job for MaintainFiles {
    const KIND: &'static str = "files.maintain";
}

/// Objects younger than this are never taken for orphans (an upload may be about to name them).
pub const GRACE: chrono::Duration = chrono::Duration::hours(6);

/// Beyond the longest an upload request may take, before its `pending` version is abandoned.
const MARGIN: Duration = Duration::from_secs(10 * 60);

pub fn register_jobs(registry: &mut Registry, files: Files) {
    registry.register(move |ctx: JobContext, job: MaintainFiles| {
        let files = files.clone();
        let stale_after = files.inner().upload_deadline + MARGIN;
        async move {
            let mut report = purge(&files, &ctx.db, stale_after).await.map_err(|e| e.to_string())?;
            if job.reconcile {
                let found = reconcile(&files, &ctx.db, GRACE).await.map_err(|e| e.to_string())?;
                report.orphan_objects = found.orphan_objects;
                report.lost_versions = found.lost_versions;
            }
            tracing::info!(?report, "files maintained");
            Ok(())
        }
    });
}

//! The files schema's statements. Every function takes the transaction it runs in: a tenant's
//! (Row-Level Security shows only its rows) or, for jobs, the system's.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::Row;
use sqlx::postgres::PgRow;
use uuid::Uuid;
use vextrus_db::{DbError, TenantId, Tx};

use crate::model::{Bucket, File, FileDetail, State, Version};

const BUCKET: &str = "id, name, allowed_types, max_size, trash_days, signed_links, read_permission,
                      unscanned_readable, created_at, updated_at";

fn bucket(r: &PgRow) -> Bucket {
    Bucket {
        id: r.get("id"),
        name: r.get("name"),
        allowed_types: r.get("allowed_types"),
        max_size: r.get::<i64, _>("max_size").max(0) as u64,
        trash_days: r.get::<i32, _>("trash_days").max(0) as u32,
        signed_links: r.get("signed_links"),
        read_permission: r.get("read_permission"),
        unscanned_readable: r.get("unscanned_readable"),
        created_at: r.get("created_at"),
        updated_at: r.get("updated_at"),
    }
}

/// A bucket's settings, as created or replaced.
#[derive(Debug, Clone)]
pub struct BucketSettings {
    pub allowed_types: Vec<String>,
    pub max_size: u64,
    pub trash_days: u32,
    pub signed_links: bool,
    pub read_permission: Option<String>,
    pub unscanned_readable: bool,
}

pub(crate) async fn insert_bucket(
    tx: &mut impl Tx,
    tenant: TenantId,
    name: &str,
    s: &BucketSettings,
) -> Result<Bucket, DbError> {
    let row = sqlx::query(&format!(
        "INSERT INTO files.buckets (tenant_id, id, name, allowed_types, max_size, trash_days, signed_links,
                                    read_permission, unscanned_readable)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING {BUCKET}"
    ))
    .bind(tenant)
    .bind(Uuid::now_v7())
    .bind(name)
    .bind(&s.allowed_types)
    .bind(s.max_size as i64)
    .bind(s.trash_days as i32)
    .bind(s.signed_links)
    .bind(&s.read_permission)
    .bind(s.unscanned_readable)
    .fetch_one(tx.conn())
    .await?;
    Ok(bucket(&row))
}

pub(crate) async fn update_bucket(
    tx: &mut impl Tx,
    tenant: TenantId,
    name: &str,
    s: &BucketSettings,
) -> Result<Option<Bucket>, DbError> {
    let row = sqlx::query(&format!(
        "UPDATE files.buckets SET allowed_types = $3, max_size = $4, trash_days = $5, signed_links = $6,
                read_permission = $7, unscanned_readable = $8, updated_at = now()
          WHERE tenant_id = $1 AND name = $2 RETURNING {BUCKET}"
    ))
    .bind(tenant)
    .bind(name)
    .bind(&s.allowed_types)
    .bind(s.max_size as i64)
    .bind(s.trash_days as i32)
    .bind(s.signed_links)
    .bind(&s.read_permission)
    .bind(s.unscanned_readable)
    .fetch_optional(tx.conn())
    .await?;
    Ok(row.as_ref().map(bucket))
}

pub(crate) async fn bucket_by_name(tx: &mut impl Tx, tenant: TenantId, name: &str) -> Result<Option<Bucket>, DbError> {
    let row = sqlx::query(&format!("SELECT {BUCKET} FROM files.buckets WHERE tenant_id = $1 AND name = $2"))
        .bind(tenant)
        .bind(name)
        .fetch_optional(tx.conn())
        .await?;
    Ok(row.as_ref().map(bucket))
}

pub(crate) async fn bucket_by_id(tx: &mut impl Tx, tenant: TenantId, id: Uuid) -> Result<Option<Bucket>, DbError> {
    let row = sqlx::query(&format!("SELECT {BUCKET} FROM files.buckets WHERE tenant_id = $1 AND id = $2"))
        .bind(tenant)
        .bind(id)
        .fetch_optional(tx.conn())
        .await?;
    Ok(row.as_ref().map(bucket))
}

/// A page of buckets by name, after `after`.
pub(crate) async fn buckets(
    tx: &mut impl Tx,
    tenant: TenantId,
    after: Option<&str>,
    limit: u32,
) -> Result<Vec<Bucket>, DbError> {
    let rows = sqlx::query(&format!(
        "SELECT {BUCKET} FROM files.buckets WHERE tenant_id = $1 AND ($2::text IS NULL OR name > $2)
          ORDER BY name LIMIT $3"
    ))
    .bind(tenant)
    .bind(after)
    .bind(i64::from(limit) + 1)
    .fetch_all(tx.conn())
    .await?;
    Ok(rows.iter().map(bucket).collect())
}

/// Deletes a bucket that holds no file (trash included); whether it did, or `Err` if it held some.
pub(crate) async fn delete_empty_bucket(
    tx: &mut impl Tx,
    tenant: TenantId,
    name: &str,
) -> Result<Option<bool>, DbError> {
    let row: Option<(Uuid, bool)> = sqlx::query_as(
        "SELECT b.id, EXISTS (SELECT 1 FROM files.files f WHERE f.tenant_id = b.tenant_id AND f.bucket_id = b.id)
           FROM files.buckets b WHERE b.tenant_id = $1 AND b.name = $2 FOR UPDATE",
    )
    .bind(tenant)
    .bind(name)
    .fetch_optional(tx.conn())
    .await?;
    let Some((id, holds_files)) = row else { return Ok(None) };
    if holds_files {
        return Ok(Some(false));
    }
    sqlx::query("DELETE FROM files.buckets WHERE tenant_id = $1 AND id = $2")
        .bind(tenant)
        .bind(id)
        .execute(tx.conn())
        .await?;
    Ok(Some(true))
}

const VERSION: &str = "v.id AS v_id, v.number, v.state, v.size, v.sha256, v.content_type, v.scan, v.scan_detail,
                       v.uploaded_by, v.created_at AS v_created_at, v.object_key, v.thumbnails";

fn version(r: &PgRow) -> Version {
    Version {
        id: r.get("v_id"),
        number: r.get("number"),
        state: State::parse(r.get("state")),
        size: r.get::<Option<i64>, _>("size").map(|s| s.max(0) as u64),
        sha256: r.get::<Option<Vec<u8>>, _>("sha256").map(hex),
        content_type: r.get("content_type"),
        scan: r.get("scan"),
        scan_detail: r.get("scan_detail"),
        uploaded_by: r.get("uploaded_by"),
        created_at: r.get("v_created_at"),
        thumbnails: r.get("thumbnails"),
    }
}

pub(crate) fn hex(bytes: impl AsRef<[u8]>) -> String {
    use std::fmt::Write;
    bytes.as_ref().iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

const FILE: &str = "f.id, b.name AS bucket, f.bucket_id, f.folder, f.filename, f.metadata, f.legal_hold, f.deleted_at,
                    f.created_by, f.created_at, f.updated_at";

/// A file with its current version and what downloads need of it.
#[derive(Debug, Clone)]
pub(crate) struct Found {
    pub file: File,
    pub bucket_id: Uuid,
    /// The current version's object key.
    pub key: Option<String>,
}

fn found(r: &PgRow) -> Found {
    let current = r.get::<Option<Uuid>, _>("v_id").map(|_| version(r));
    Found {
        file: File {
            id: r.get("id"),
            bucket: r.get("bucket"),
            folder: r.get("folder"),
            filename: r.get("filename"),
            metadata: r.get::<Value, _>("metadata"),
            current,
            legal_hold: r.get("legal_hold"),
            deleted_at: r.get("deleted_at"),
            created_by: r.get("created_by"),
            created_at: r.get("created_at"),
            updated_at: r.get("updated_at"),
        },
        bucket_id: r.get("bucket_id"),
        key: r.get::<Option<String>, _>("object_key"),
    }
}

pub(crate) async fn file(tx: &mut impl Tx, tenant: TenantId, id: Uuid) -> Result<Option<Found>, DbError> {
    let row = sqlx::query(&format!(
        "SELECT {FILE}, {VERSION}
           FROM files.files f
           JOIN files.buckets b ON b.tenant_id = f.tenant_id AND b.id = f.bucket_id
           LEFT JOIN files.versions v ON v.tenant_id = f.tenant_id AND v.id = f.current
          WHERE f.tenant_id = $1 AND f.id = $2"
    ))
    .bind(tenant)
    .bind(id)
    .fetch_optional(tx.conn())
    .await?;
    Ok(row.as_ref().map(found))
}

/// Files of a bucket (not in the trash), by folder and name, after the cursor.
pub(crate) async fn files(
    tx: &mut impl Tx,
    tenant: TenantId,
    bucket: Uuid,
    folder: Option<&str>,
    after: Option<&(String, String, Uuid)>,
    limit: u32,
) -> Result<Vec<File>, DbError> {
    let (af, an, ai) = match after {
        Some((f, n, i)) => (Some(f.as_str()), Some(n.as_str()), Some(*i)),
        None => (None, None, None),
    };
    let rows = sqlx::query(&format!(
        "SELECT {FILE}, {VERSION}
           FROM files.files f
           JOIN files.buckets b ON b.tenant_id = f.tenant_id AND b.id = f.bucket_id
           LEFT JOIN files.versions v ON v.tenant_id = f.tenant_id AND v.id = f.current
          WHERE f.tenant_id = $1 AND f.bucket_id = $2 AND f.deleted_at IS NULL
            AND ($3::text IS NULL OR f.folder = $3)
            AND ($4::text IS NULL OR (f.folder, f.filename, f.id) > ($4, $5, $6))
          ORDER BY f.folder, f.filename, f.id LIMIT $7"
    ))
    .bind(tenant)
    .bind(bucket)
    .bind(folder)
    .bind(af)
    .bind(an)
    .bind(ai)
    .bind(i64::from(limit) + 1)
    .fetch_all(tx.conn())
    .await?;
    Ok(rows.iter().map(|r| found(r).file).collect())
}

/// A file with every version.
pub(crate) async fn detail(tx: &mut impl Tx, tenant: TenantId, id: Uuid) -> Result<Option<FileDetail>, DbError> {
    let Some(found) = file(tx, tenant, id).await? else { return Ok(None) };
    let versions = versions(tx, tenant, id).await?;
    Ok(Some(FileDetail { file: found.file, versions }))
}

/// Every version of a file, newest first.
pub(crate) async fn versions(tx: &mut impl Tx, tenant: TenantId, file: Uuid) -> Result<Vec<Version>, DbError> {
    let rows = sqlx::query(&format!(
        "SELECT {VERSION} FROM files.versions v WHERE v.tenant_id = $1 AND v.file_id = $2 ORDER BY v.number DESC LIMIT 1000"
    ))
    .bind(tenant)
    .bind(file)
    .fetch_all(tx.conn())
    .await?;
    Ok(rows.iter().map(version).collect())
}

pub(crate) struct NewFile<'a> {
    pub id: Uuid,
    pub bucket: Uuid,
    pub folder: &'a str,
    pub filename: &'a str,
    pub metadata: &'a Value,
    pub created_by: Option<Uuid>,
}

/// A new file with its first, pending version, in one statement.
pub(crate) async fn insert_file_with_version(
    tx: &mut impl Tx,
    tenant: TenantId,
    f: &NewFile<'_>,
    version: Uuid,
    key: &str,
    reserved: u64,
) -> Result<(), DbError> {
    sqlx::query(
        "WITH f AS (
             INSERT INTO files.files (tenant_id, id, bucket_id, folder, filename, metadata, created_by)
             VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING tenant_id, id)
         INSERT INTO files.versions (tenant_id, id, file_id, number, reserved, object_key, uploaded_by)
         SELECT f.tenant_id, $8, f.id, 1, $9, $10, $7 FROM f",
    )
    .bind(tenant)
    .bind(f.id)
    .bind(f.bucket)
    .bind(f.folder)
    .bind(f.filename)
    .bind(f.metadata)
    .bind(f.created_by)
    .bind(version)
    .bind(reserved as i64)
    .bind(key)
    .execute(tx.conn())
    .await?;
    Ok(())
}

/// A pending version, numbered after the file's newest (the file's row is locked for it).
pub(crate) async fn insert_version(
    tx: &mut impl Tx,
    tenant: TenantId,
    file: Uuid,
    id: Uuid,
    key: &str,
    reserved: u64,
    uploaded_by: Option<Uuid>,
) -> Result<i32, DbError> {
    sqlx::query("SELECT 1 FROM files.files WHERE tenant_id = $1 AND id = $2 FOR UPDATE")
        .bind(tenant)
        .bind(file)
        .execute(tx.conn())
        .await?;
    let number: i32 = sqlx::query_scalar(
        "INSERT INTO files.versions (tenant_id, id, file_id, number, reserved, object_key, uploaded_by)
         SELECT $1, $3, $2, COALESCE(max(number), 0) + 1, $4, $5, $6
           FROM files.versions WHERE tenant_id = $1 AND file_id = $2
         RETURNING number",
    )
    .bind(tenant)
    .bind(file)
    .bind(id)
    .bind(reserved as i64)
    .bind(key)
    .bind(uploaded_by)
    .fetch_one(tx.conn())
    .await?;
    Ok(number)
}

/// A pending version's checked outcome.
pub(crate) struct Checked<'a> {
    pub state: State,
    pub size: u64,
    pub sha256: &'a [u8],
    pub content_type: &'a str,
    pub scan: &'a str,
    pub scan_detail: Option<&'a str>,
}

/// Records the outcome of a pending version; a servable one becomes its file's current version.
/// `None` if the version was no longer pending (the reconcile job took it).
pub(crate) async fn finish_version(
    tx: &mut impl Tx,
    tenant: TenantId,
    id: Uuid,
    c: &Checked<'_>,
) -> Result<Option<DateTime<Utc>>, DbError> {
    // The version, its resumable upload's row and the file's current version, in one statement.
    let done: Option<(Uuid, DateTime<Utc>)> = sqlx::query_as(
        "WITH v AS (
             UPDATE files.versions SET state = $3, size = $4, sha256 = $5, content_type = $6, scan = $7,
                    scan_detail = $8, finished_at = now()
              WHERE tenant_id = $1 AND id = $2 AND state = 'pending'
              RETURNING file_id, finished_at),
         u AS (DELETE FROM files.uploads WHERE tenant_id = $1 AND id = $2 AND EXISTS (SELECT 1 FROM v)),
         f AS (UPDATE files.files SET current = $2, updated_at = now()
                WHERE tenant_id = $1 AND id = (SELECT file_id FROM v) AND $3 <> 'quarantined')
         SELECT file_id, finished_at FROM v",
    )
    .bind(tenant)
    .bind(id)
    .bind(c.state.as_str())
    .bind(c.size as i64)
    .bind(c.sha256)
    .bind(c.content_type)
    .bind(c.scan)
    .bind(c.scan_detail)
    .fetch_optional(tx.conn())
    .await?;
    Ok(done.map(|(_, at)| at))
}

/// Removes a pending version (and its file, when it was the file's only one): an upload that
/// was refused or failed before it was checked. What it had reserved, if it was still pending.
pub(crate) async fn drop_pending(tx: &mut impl Tx, tenant: TenantId, id: Uuid) -> Result<Option<u64>, DbError> {
    let gone: Option<(Uuid, i64)> = sqlx::query_as(
        "DELETE FROM files.versions WHERE tenant_id = $1 AND id = $2 AND state = 'pending' RETURNING file_id, reserved",
    )
    .bind(tenant)
    .bind(id)
    .fetch_optional(tx.conn())
    .await?;
    let Some((file, reserved)) = gone else { return Ok(None) };
    sqlx::query(
        "DELETE FROM files.files f WHERE f.tenant_id = $1 AND f.id = $2
            AND NOT EXISTS (SELECT 1 FROM files.versions v WHERE v.tenant_id = f.tenant_id AND v.file_id = f.id)",
    )
    .bind(tenant)
    .bind(file)
    .execute(tx.conn())
    .await?;
    Ok(Some(reserved.max(0) as u64))
}

/// Moves a file to the trash (or out of it); `None`: no such file; `Some(false)`: it is held,
/// or already where it was asked to go.
pub(crate) async fn set_deleted(
    tx: &mut impl Tx,
    tenant: TenantId,
    id: Uuid,
    deleted: bool,
) -> Result<Option<bool>, DbError> {
    let row: Option<(bool, Option<DateTime<Utc>>)> =
        sqlx::query_as("SELECT legal_hold, deleted_at FROM files.files WHERE tenant_id = $1 AND id = $2 FOR UPDATE")
            .bind(tenant)
            .bind(id)
            .fetch_optional(tx.conn())
            .await?;
    let Some((hold, deleted_at)) = row else { return Ok(None) };
    if (deleted && (hold || deleted_at.is_some())) || (!deleted && deleted_at.is_none()) {
        return Ok(Some(false));
    }
    sqlx::query(
        "UPDATE files.files SET deleted_at = CASE WHEN $3 THEN now() END, updated_at = now()
          WHERE tenant_id = $1 AND id = $2",
    )
    .bind(tenant)
    .bind(id)
    .bind(deleted)
    .execute(tx.conn())
    .await?;
    Ok(Some(true))
}

/// Places or lifts a legal hold; whether the file exists.
pub(crate) async fn set_hold(tx: &mut impl Tx, tenant: TenantId, id: Uuid, hold: bool) -> Result<bool, DbError> {
    let done =
        sqlx::query("UPDATE files.files SET legal_hold = $3, updated_at = now() WHERE tenant_id = $1 AND id = $2")
            .bind(tenant)
            .bind(id)
            .bind(hold)
            .execute(tx.conn())
            .await?;
    Ok(done.rows_affected() == 1)
}

/// A resumable upload in progress.
#[derive(Debug, Clone)]
pub(crate) struct TusUpload {
    pub id: Uuid,
    pub file: Uuid,
    pub bucket: Uuid,
    pub length: u64,
    pub expires_at: DateTime<Utc>,
    pub key: String,
}

pub(crate) async fn insert_upload(
    tx: &mut impl Tx,
    tenant: TenantId,
    id: Uuid,
    length: u64,
    expires_at: DateTime<Utc>,
    created_by: Option<Uuid>,
) -> Result<(), DbError> {
    sqlx::query(
        "INSERT INTO files.uploads (tenant_id, id, length, expires_at, created_by) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(tenant)
    .bind(id)
    .bind(length as i64)
    .bind(expires_at)
    .bind(created_by)
    .execute(tx.conn())
    .await?;
    Ok(())
}

pub(crate) async fn upload(tx: &mut impl Tx, tenant: TenantId, id: Uuid) -> Result<Option<TusUpload>, DbError> {
    let row: Option<(Uuid, Uuid, i64, DateTime<Utc>, String)> = sqlx::query_as(
        "SELECT v.file_id, f.bucket_id, u.length, u.expires_at, v.object_key
           FROM files.uploads u
           JOIN files.versions v ON v.tenant_id = u.tenant_id AND v.id = u.id AND v.state = 'pending'
           JOIN files.files f ON f.tenant_id = v.tenant_id AND f.id = v.file_id
          WHERE u.tenant_id = $1 AND u.id = $2",
    )
    .bind(tenant)
    .bind(id)
    .fetch_optional(tx.conn())
    .await?;
    Ok(row.map(|(file, bucket, length, expires_at, key)| TusUpload {
        id,
        file,
        bucket,
        length: length.max(0) as u64,
        expires_at,
        key,
    }))
}

/// Resumable uploads of the organization in progress.
pub(crate) async fn count_uploads(tx: &mut impl Tx, tenant: TenantId) -> Result<i64, DbError> {
    Ok(sqlx::query_scalar("SELECT count(*) FROM files.uploads WHERE tenant_id = $1")
        .bind(tenant)
        .fetch_one(tx.conn())
        .await?)
}

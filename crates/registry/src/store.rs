//! SQL for `registry.*`. Every statement names the tenant; Row-Level Security keeps other
//! organizations' packages out of reach as well.

use chrono::{DateTime, Utc};
use uuid::Uuid;
use vextrus_db::{DbError, TenantId, Tx};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PackageRow {
    pub rev: i64,
    pub created_at: DateTime<Utc>,
    pub modified_at: DateTime<Utc>,
    /// `organization`, `signed_in` or `public`.
    pub visibility: String,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct VersionRow {
    pub version: String,
    pub manifest: serde_json::Value,
    pub integrity: String,
    pub shasum: String,
    pub size: i64,
    pub published_at: DateTime<Utc>,
    pub deprecated: Option<String>,
    /// `dist.signatures`, made at publication.
    pub signatures: Option<serde_json::Value>,
}

pub async fn package(tx: &mut impl Tx, tenant: TenantId, name: &str) -> Result<Option<PackageRow>, DbError> {
    Ok(sqlx::query_as(
        "SELECT rev, created_at, modified_at, visibility FROM registry.packages WHERE tenant_id = $1 AND name = $2",
    )
    .bind(tenant)
    .bind(name)
    .fetch_optional(tx.conn())
    .await?)
}

pub async fn versions(tx: &mut impl Tx, tenant: TenantId, name: &str) -> Result<Vec<VersionRow>, DbError> {
    Ok(sqlx::query_as(
        "SELECT version, manifest, integrity, shasum, size, published_at, deprecated, signatures FROM registry.versions
          WHERE tenant_id = $1 AND name = $2 ORDER BY published_at, version",
    )
    .bind(tenant)
    .bind(name)
    .fetch_all(tx.conn())
    .await?)
}

/// The package's dist-tags: `latest` first, then in the order they were created.
pub async fn tags(tx: &mut impl Tx, tenant: TenantId, name: &str) -> Result<crate::model::Tags, DbError> {
    let rows: Vec<(String, String)> = sqlx::query_as(
        "SELECT tag, version FROM registry.dist_tags WHERE tenant_id = $1 AND name = $2
          ORDER BY tag <> 'latest', created_at, tag",
    )
    .bind(tenant)
    .bind(name)
    .fetch_all(tx.conn())
    .await?;
    Ok(rows.into_iter().collect())
}

/// Creates the package if it is new, then locks it: changes to one package are serialised
/// (its `rev` and tags stay consistent), different packages proceed in parallel. Whether it was
/// created; `None` when it cannot be: another organization owns the (unscoped) name.
pub async fn lock_or_create(tx: &mut impl Tx, tenant: TenantId, name: &str) -> Result<Option<bool>, DbError> {
    let created = sqlx::query("INSERT INTO registry.packages (tenant_id, name) VALUES ($1, $2) ON CONFLICT DO NOTHING")
        .bind(tenant)
        .bind(name)
        .execute(tx.conn())
        .await?
        .rows_affected()
        == 1;
    let locked = sqlx::query("SELECT 1 FROM registry.packages WHERE tenant_id = $1 AND name = $2 FOR UPDATE")
        .bind(tenant)
        .bind(name)
        .execute(tx.conn())
        .await?
        .rows_affected()
        == 1;
    Ok(locked.then_some(created))
}

/// The new version, unless it exists (`false`: nothing was written).
#[allow(clippy::too_many_arguments)]
pub async fn insert_version(
    tx: &mut impl Tx,
    tenant: TenantId,
    name: &str,
    version: &str,
    manifest: &serde_json::Value,
    integrity: &str,
    shasum: &str,
    object_key: &str,
    size: i64,
    published_by: (Option<Uuid>, Option<&str>),
    signatures: Option<serde_json::Value>,
) -> Result<bool, DbError> {
    let inserted = sqlx::query(
        "INSERT INTO registry.versions (tenant_id, name, version, manifest, integrity, shasum, object_key, size,
                                        published_by, published_by_name, signatures)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) ON CONFLICT DO NOTHING",
    )
    .bind(tenant)
    .bind(name)
    .bind(version)
    .bind(manifest)
    .bind(integrity)
    .bind(shasum)
    .bind(object_key)
    .bind(size)
    .bind(published_by.0)
    .bind(published_by.1)
    .bind(signatures)
    .execute(tx.conn())
    .await?;
    Ok(inserted.rows_affected() == 1)
}

pub async fn set_tag(tx: &mut impl Tx, tenant: TenantId, name: &str, tag: &str, version: &str) -> Result<(), DbError> {
    sqlx::query(
        "INSERT INTO registry.dist_tags (tenant_id, name, tag, version) VALUES ($1, $2, $3, $4)
         ON CONFLICT (tenant_id, name, tag) DO UPDATE SET version = EXCLUDED.version",
    )
    .bind(tenant)
    .bind(name)
    .bind(tag)
    .bind(version)
    .execute(tx.conn())
    .await?;
    Ok(())
}

pub async fn remove_tag(tx: &mut impl Tx, tenant: TenantId, name: &str, tag: &str) -> Result<Option<String>, DbError> {
    Ok(sqlx::query_scalar(
        "DELETE FROM registry.dist_tags WHERE tenant_id = $1 AND name = $2 AND tag = $3 RETURNING version",
    )
    .bind(tenant)
    .bind(name)
    .bind(tag)
    .fetch_optional(tx.conn())
    .await?)
}

/// A change was made: the next `rev`, and the modification time.
pub async fn touch(tx: &mut impl Tx, tenant: TenantId, name: &str) -> Result<(), DbError> {
    sqlx::query("UPDATE registry.packages SET rev = rev + 1, modified_at = now() WHERE tenant_id = $1 AND name = $2")
        .bind(tenant)
        .bind(name)
        .execute(tx.conn())
        .await?;
    Ok(())
}

/// Where a version's tarball is, and its size.
pub async fn tarball(
    tx: &mut impl Tx,
    tenant: TenantId,
    name: &str,
    version: &str,
) -> Result<Option<(String, i64)>, DbError> {
    Ok(sqlx::query_as(
        "SELECT object_key, size FROM registry.versions WHERE tenant_id = $1 AND name = $2 AND version = $3",
    )
    .bind(tenant)
    .bind(name)
    .bind(version)
    .fetch_optional(tx.conn())
    .await?)
}

pub async fn set_deprecated(
    tx: &mut impl Tx,
    tenant: TenantId,
    name: &str,
    version: &str,
    message: Option<&str>,
) -> Result<(), DbError> {
    sqlx::query("UPDATE registry.versions SET deprecated = $4 WHERE tenant_id = $1 AND name = $2 AND version = $3")
        .bind(tenant)
        .bind(name)
        .bind(version)
        .bind(message)
        .execute(tx.conn())
        .await?;
    Ok(())
}

/// What an imported version keeps from where it came from: when and by whom it was published.
pub async fn set_origin(
    tx: &mut impl Tx,
    tenant: TenantId,
    name: &str,
    version: &str,
    published_at: Option<chrono::DateTime<chrono::Utc>>,
    publisher: Option<&str>,
) -> Result<(), DbError> {
    sqlx::query(
        "UPDATE registry.versions SET published_at = coalesce($4, published_at),
                published_by_name = coalesce($5, published_by_name)
          WHERE tenant_id = $1 AND name = $2 AND version = $3",
    )
    .bind(tenant)
    .bind(name)
    .bind(version)
    .bind(published_at)
    .bind(publisher)
    .execute(tx.conn())
    .await?;
    Ok(())
}

/// The package's creation time, where it is earlier than the one recorded (an import).
pub async fn set_created(
    tx: &mut impl Tx,
    tenant: TenantId,
    name: &str,
    created_at: chrono::DateTime<chrono::Utc>,
) -> Result<(), DbError> {
    sqlx::query("UPDATE registry.packages SET created_at = least(created_at, $3) WHERE tenant_id = $1 AND name = $2")
        .bind(tenant)
        .bind(name)
        .bind(created_at)
        .execute(tx.conn())
        .await?;
    Ok(())
}

/// Removes a version (its tags go with it).
pub async fn delete_version(tx: &mut impl Tx, tenant: TenantId, name: &str, version: &str) -> Result<(), DbError> {
    sqlx::query("DELETE FROM registry.versions WHERE tenant_id = $1 AND name = $2 AND version = $3")
        .bind(tenant)
        .bind(name)
        .bind(version)
        .execute(tx.conn())
        .await?;
    Ok(())
}

pub async fn delete_package(tx: &mut impl Tx, tenant: TenantId, name: &str) -> Result<(), DbError> {
    sqlx::query("DELETE FROM registry.packages WHERE tenant_id = $1 AND name = $2")
        .bind(tenant)
        .bind(name)
        .execute(tx.conn())
        .await?;
    Ok(())
}

/// One search hit: a package, its latest version's manifest and who published that.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Hit {
    pub name: String,
    pub version: String,
    pub manifest: serde_json::Value,
    pub modified_at: DateTime<Utc>,
    pub publisher: Option<String>,
}

/// Packages whose name, description or keywords contain `text` (case-insensitive), by name,
/// among those a caller may read: its own organization's (`tenant`), and every other
/// organization's whose visibility is one of `open` (`public`; `signed_in` too when signed in).
pub async fn search(
    tx: &mut vextrus_db::SystemTx,
    tenant: Option<TenantId>,
    open: &[&str],
    text: &str,
    limit: i64,
    offset: i64,
) -> Result<(Vec<Hit>, i64), DbError> {
    let pattern = format!("%{}%", text.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_"));
    let open: Vec<String> = open.iter().map(|v| (*v).to_owned()).collect();
    const MATCHING: &str = "FROM registry.packages p
           JOIN registry.dist_tags t ON t.tenant_id = p.tenant_id AND t.name = p.name AND t.tag = 'latest'
           JOIN registry.versions v ON v.tenant_id = t.tenant_id AND v.name = t.name AND v.version = t.version
          WHERE (p.tenant_id = $1 OR p.visibility = ANY($2))
            AND (p.name ILIKE $3 OR v.manifest->>'description' ILIKE $3 OR v.manifest->>'keywords' ILIKE $3)";
    let hits: Vec<Hit> = sqlx::query_as(&format!(
        "SELECT p.name, v.version, v.manifest, p.modified_at, v.published_by_name AS publisher {MATCHING}
          ORDER BY p.name LIMIT $4 OFFSET $5"
    ))
    .bind(tenant)
    .bind(&open)
    .bind(&pattern)
    .bind(limit)
    .bind(offset)
    .fetch_all(tx.conn())
    .await?;
    let total: i64 = sqlx::query_scalar(&format!("SELECT count(*) {MATCHING}"))
        .bind(tenant)
        .bind(&open)
        .bind(&pattern)
        .fetch_one(tx.conn())
        .await?;
    Ok((hits, total))
}

/// The packages `username` starred that a caller in `tenant` may read (its own organization's;
/// other organizations' open to the signed-in or public), by name.
pub async fn starred_by(
    tx: &mut vextrus_db::SystemTx,
    tenant: Option<TenantId>,
    username: &str,
    limit: i64,
) -> Result<Vec<String>, DbError> {
    Ok(sqlx::query_scalar(
        "SELECT s.name FROM registry.stars s
           JOIN registry.packages p ON p.tenant_id = s.tenant_id AND p.name = s.name
          WHERE s.username = $1 AND (s.tenant_id = $2 OR p.visibility IN ('signed_in', 'public'))
          ORDER BY s.name LIMIT $3",
    )
    .bind(username.to_lowercase())
    .bind(tenant)
    .bind(limit)
    .fetch_all(tx.conn())
    .await?)
}

pub async fn stars(tx: &mut impl Tx, tenant: TenantId, name: &str) -> Result<Vec<String>, DbError> {
    Ok(sqlx::query_scalar("SELECT username FROM registry.stars WHERE tenant_id = $1 AND name = $2 ORDER BY username")
        .bind(tenant)
        .bind(name)
        .fetch_all(tx.conn())
        .await?)
}

/// Stars or unstars; answers whether anything changed.
pub async fn set_star(
    tx: &mut impl Tx,
    tenant: TenantId,
    name: &str,
    username: &str,
    starred: bool,
) -> Result<bool, DbError> {
    let sql = if starred {
        "INSERT INTO registry.stars (tenant_id, name, username) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING"
    } else {
        "DELETE FROM registry.stars WHERE tenant_id = $1 AND name = $2 AND username = $3"
    };
    let changed = sqlx::query(sql).bind(tenant).bind(name).bind(username).execute(tx.conn()).await?.rows_affected();
    Ok(changed > 0)
}

pub async fn set_visibility(tx: &mut impl Tx, tenant: TenantId, name: &str, visibility: &str) -> Result<(), DbError> {
    sqlx::query(
        "UPDATE registry.packages SET visibility = $3, visibility_explicit = true WHERE tenant_id = $1 AND name = $2",
    )
    .bind(tenant)
    .bind(name)
    .bind(visibility)
    .execute(tx.conn())
    .await?;
    Ok(())
}

//! Signed links: a file's content for whoever holds the link — a customer who has no account, a
//! mail attachment too large to attach — until it expires or is revoked. `/f/{token}`: the token
//! names the organization and the link and carries an HMAC-SHA256 over them, the file, the
//! version, the expiry and the disposition under the platform's link key; each use also reads
//! the link's row, so a revocation (or the bucket turning links off, or the file going to the
//! trash) takes effect at once. Links serve the version they were made for, through the
//! platform with the same safe headers as any download (on S3 too: a presigned URL would skip
//! the headers and could not be revoked). Each issuance and revocation is audited.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sqlx::Row;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;
use vextrus_access::{Access, Permitted};
use vextrus_audit::{NewEvent, Target};
use vextrus_db::{Database, DbError, TenantId, Tx};
use vextrus_server::{ApiError, AppState, Json, Problem};

use crate::Files;
use crate::http::{file_not_found, readable, serve};
use crate::permissions::FilesRead;
use crate::store;

/// Links an organization may have that have not expired or been revoked.
pub const MAX_LIVE_LINKS: i64 = 10_000;
/// The longest a link may live.
pub const MAX_SECONDS: u64 = 7 * 24 * 3600;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(issue, list)).routes(routes!(revoke)).routes(routes!(follow))
}

/// The key links are signed with, made by the first instance to start.
pub async fn link_key(db: &Database) -> Result<ring::hmac::Key, DbError> {
    let mut fresh = [0u8; 32];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut fresh)
        .map_err(|_| DbError::from(sqlx::Error::Protocol("the OS gave no randomness for the link key".into())))?;
    let mut tx = db.system().await?;
    sqlx::query("INSERT INTO files.link_key (key) VALUES ($1) ON CONFLICT (id) DO NOTHING")
        .bind(&fresh[..])
        .execute(tx.conn())
        .await?;
    let key: Vec<u8> = sqlx::query_scalar("SELECT key FROM files.link_key").fetch_one(tx.conn()).await?;
    tx.commit().await?;
    Ok(ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &key))
}

fn message(tenant: TenantId, link: Uuid, file: Uuid, version: Uuid, expires: i64, inline: bool) -> String {
    format!(
        "vextrus-file-link|{tenant}|{link}|{file}|{version}|{expires}|{}",
        if inline { "inline" } else { "attachment" }
    )
}

/// A link's token: the organization, the link, and the HMAC over what the link grants.
pub fn token(
    key: &ring::hmac::Key,
    tenant: TenantId,
    link: Uuid,
    file: Uuid,
    version: Uuid,
    expires: i64,
    inline: bool,
) -> String {
    let tag = ring::hmac::sign(key, message(tenant, link, file, version, expires, inline).as_bytes());
    format!("{}.{}.{}", tenant.as_uuid().simple(), link.simple(), URL_SAFE_NO_PAD.encode(tag.as_ref()))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewLink {
    /// Seconds the link works (60 to 604,800; default 3,600).
    pub expires_in: Option<u64>,
    /// `attachment` (default) or `inline` (shown in the browser: raster images and PDF only).
    pub disposition: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Link {
    pub id: Uuid,
    pub file_id: Uuid,
    pub version_id: Uuid,
    pub disposition: String,
    pub expires_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub created_by: Option<Uuid>,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct IssuedLink {
    #[serde(flatten)]
    pub link: Link,
    /// The link itself (shown once: only its HMAC is derivable, never stored).
    pub url: String,
}

fn link(r: &sqlx::postgres::PgRow) -> Link {
    Link {
        id: r.get("id"),
        file_id: r.get("file_id"),
        version_id: r.get("version_id"),
        disposition: r.get("disposition"),
        expires_at: r.get("expires_at"),
        revoked_at: r.get("revoked_at"),
        created_by: r.get("created_by"),
        created_at: r.get("created_at"),
    }
}

/// Make a signed link to the file's current content (the bucket must allow links).
#[utoipa::path(post, path = "/v1/files/{id}/links", tag = "files", security(("bearer" = [])),
    params(("id" = String, Path, description = "The file's id")),
    request_body = NewLink,
    responses(
        (status = 201, body = IssuedLink),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`permission_denied`, `signed_links_disabled`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`file_not_found`", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`file_not_ready`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`invalid_field`, `limit_reached`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn issue(
    permitted: Permitted<FilesRead>,
    State(db): State<Database>,
    State(files): State<Files>,
    State(access): State<Access>,
    Path(id): Path<String>,
    Json(body): Json<NewLink>,
) -> Result<(StatusCode, axum::Json<IssuedLink>), ApiError> {
    let tenant = permitted.tenant()?;
    let seconds = body.expires_in.unwrap_or(3600);
    if !(60..=MAX_SECONDS).contains(&seconds) {
        return Err(ApiError::invalid_field("expires_in", format!("60 to {MAX_SECONDS} seconds")));
    }
    let inline = match body.disposition.as_deref() {
        None | Some("attachment") => false,
        Some("inline") => true,
        Some(_) => return Err(ApiError::invalid_field("disposition", "inline or attachment")),
    };
    let (found, bucket) = readable(&db, &access, permitted.subject(), tenant, &id).await?;
    if found.file.deleted_at.is_some() {
        return Err(file_not_found());
    }
    if !bucket.signed_links {
        return Err(ApiError::new(StatusCode::FORBIDDEN, "signed_links_disabled", "Signed links disabled").detail(
            format!("The bucket {:?} does not allow signed links (its `signed_links` setting).", bucket.name),
        ));
    }
    let Some(version) = found.file.current.as_ref() else {
        return Err(ApiError::conflict("file_not_ready", "The file has no content that passed its checks yet."));
    };
    let expires = Utc::now() + chrono::Duration::seconds(seconds as i64);
    let expires = DateTime::from_timestamp(expires.timestamp(), 0).unwrap_or(expires);
    let link_id = Uuid::now_v7();
    let mut tx = db.tenant(tenant).await?;
    vextrus_db::limits::lock_count(&mut tx, &format!("file_links:{tenant}")).await?;
    let live: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM files.links WHERE tenant_id = $1 AND revoked_at IS NULL AND expires_at > now()",
    )
    .bind(tenant)
    .fetch_one(tx.conn())
    .await
    .map_err(DbError::from)?;
    if live >= MAX_LIVE_LINKS {
        return Err(ApiError::limit_reached("live signed links", MAX_LIVE_LINKS as u64, "per organization"));
    }
    let row = sqlx::query(
        "INSERT INTO files.links (tenant_id, id, file_id, version_id, disposition, expires_at, created_by)
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING *",
    )
    .bind(tenant)
    .bind(link_id)
    .bind(found.file.id)
    .bind(version.id)
    .bind(if inline { "inline" } else { "attachment" })
    .bind(expires)
    .bind(permitted.subject().id)
    .fetch_one(tx.conn())
    .await
    .map_err(DbError::from)?;
    let issued = link(&row);
    let event = NewEvent::new(tenant, permitted.subject().into(), "files.link.issue")
        .target(Target::new("file", found.file.id))
        .metadata(
            json!({"link": link_id, "version": version.id, "expires_at": expires, "disposition": issued.disposition}),
        );
    vextrus_audit::record(&mut tx, event).await?;
    tx.commit().await?;
    let key = &files.inner().link_key;
    let token = token(key, tenant, link_id, found.file.id, version.id, expires.timestamp(), inline);
    let url = format!("{}/f/{token}", files.inner().public_url.trim_end_matches('/'));
    Ok((StatusCode::CREATED, axum::Json(IssuedLink { link: issued, url })))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LinkList {
    /// The file's links, newest first (at most 100).
    pub items: Vec<Link>,
}

/// The file's signed links (never their tokens).
#[utoipa::path(get, path = "/v1/files/{id}/links", tag = "files", security(("bearer" = [])),
    params(("id" = String, Path, description = "The file's id")),
    responses(
        (status = 200, body = LinkList),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`permission_denied`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`file_not_found`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn list(
    permitted: Permitted<FilesRead>,
    State(db): State<Database>,
    State(access): State<Access>,
    Path(id): Path<String>,
) -> Result<axum::Json<LinkList>, ApiError> {
    let tenant = permitted.tenant()?;
    let (found, _) = readable(&db, &access, permitted.subject(), tenant, &id).await?;
    let mut tx = db.tenant(tenant).await?;
    let rows = sqlx::query(
        "SELECT * FROM files.links WHERE tenant_id = $1 AND file_id = $2 ORDER BY created_at DESC LIMIT 100",
    )
    .bind(tenant)
    .bind(found.file.id)
    .fetch_all(tx.conn())
    .await
    .map_err(DbError::from)?;
    tx.commit().await?;
    Ok(axum::Json(LinkList { items: rows.iter().map(link).collect() }))
}

/// Revoke a signed link: it stops working at once.
#[utoipa::path(delete, path = "/v1/files/{id}/links/{link}", tag = "files", security(("bearer" = [])),
    params(("id" = String, Path, description = "The file's id"), ("link" = String, Path, description = "The link's id")),
    responses(
        (status = 204, description = "Revoked"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`permission_denied`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`file_not_found`, `link_not_found`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn revoke(
    permitted: Permitted<FilesRead>,
    State(db): State<Database>,
    State(access): State<Access>,
    Path((id, link_id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let tenant = permitted.tenant()?;
    let (found, _) = readable(&db, &access, permitted.subject(), tenant, &id).await?;
    let not_found = || ApiError::not_found("link_not_found", "No such link to revoke.");
    let link_id = Uuid::parse_str(&link_id).map_err(|_| not_found())?;
    let mut tx = db.tenant(tenant).await?;
    let revoked = sqlx::query(
        "UPDATE files.links SET revoked_at = now() WHERE tenant_id = $1 AND id = $2 AND file_id = $3 AND revoked_at IS NULL",
    )
    .bind(tenant)
    .bind(link_id)
    .bind(found.file.id)
    .execute(tx.conn())
    .await
    .map_err(DbError::from)?;
    if revoked.rows_affected() == 0 {
        return Err(not_found());
    }
    let event = NewEvent::new(tenant, permitted.subject().into(), "files.link.revoke")
        .target(Target::new("file", found.file.id))
        .metadata(json!({"link": link_id}));
    vextrus_audit::record(&mut tx, event).await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

fn dead() -> ApiError {
    ApiError::not_found("link_invalid", "This link is not valid: it expired, was revoked, or never existed.")
}

/// Follow a signed link: the content it was made for (`Range`, `ETag` and the safe headers as
/// any download). The token is the credential; an expired, revoked or altered one is 404.
#[utoipa::path(get, path = "/f/{token}", tag = "files",
    params(("token" = String, Path, description = "The link's token")),
    responses(
        (status = 200, description = "The bytes", content_type = "application/octet-stream"),
        (status = 206, description = "The requested range", content_type = "application/octet-stream"),
        (status = 304, description = "Not modified (If-None-Match)"),
        (status = 404, description = "`link_invalid`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn follow(
    State(db): State<Database>,
    State(files): State<Files>,
    Path(token): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let mut parts = token.splitn(3, '.');
    let (Some(tenant), Some(link_id), Some(tag)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(dead());
    };
    let (Ok(tenant), Ok(link_id), Ok(tag)) =
        (Uuid::parse_str(tenant), Uuid::parse_str(link_id), URL_SAFE_NO_PAD.decode(tag))
    else {
        return Err(dead());
    };
    let tenant = TenantId::from_uuid(tenant);
    let mut tx = db.tenant(tenant).await?;
    let row = sqlx::query("SELECT * FROM files.links WHERE tenant_id = $1 AND id = $2")
        .bind(tenant)
        .bind(link_id)
        .fetch_optional(tx.conn())
        .await
        .map_err(DbError::from)?;
    let Some(row) = row else { return Err(dead()) };
    let l = link(&row);
    let inline = l.disposition == "inline";
    let signed = message(tenant, l.id, l.file_id, l.version_id, l.expires_at.timestamp(), inline);
    if ring::hmac::verify(&files.inner().link_key, signed.as_bytes(), &tag).is_err()
        || l.revoked_at.is_some()
        || l.expires_at <= Utc::now()
    {
        return Err(dead());
    }
    let found = store::file(&mut tx, tenant, l.file_id).await?.ok_or_else(dead)?;
    let bucket = store::bucket_by_id(&mut tx, tenant, found.bucket_id).await?.ok_or_else(dead)?;
    let version = store::versions(&mut tx, tenant, l.file_id).await?.into_iter().find(|v| v.id == l.version_id);
    tx.commit().await?;
    let (Some(version), false, true) = (version, found.file.deleted_at.is_some(), bucket.signed_links) else {
        return Err(dead());
    };
    let key = format!("files/{tenant}/{}/{}", bucket.id, version.id);
    metrics::counter!("vextrus_files_link_downloads_total").increment(1);
    serve(&files, &bucket, &found.file.filename, &version, &key, inline, &headers).await
}

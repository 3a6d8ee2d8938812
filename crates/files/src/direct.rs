//! Direct uploads on the S3 backend: the platform reserves the storage and hands out a short-lived
//! presigned `PUT` bound to the object's key and to the `Content-Type` the client announced
//! (signed: another type fails S3's check); the client sends the bytes straight to the bucket;
//! then `complete` makes the platform read them back through the same checks as any upload
//! (the size it reserved, SHA-256, sniffing — the announced type is not trusted either — the
//! allow-list, clamd). Refused bytes are deleted from the bucket. Not offered on the local backend.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::io::AsyncWriteExt;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;
use vextrus_access::Permitted;
use vextrus_db::Database;
use vextrus_server::{ApiError, AppState, Json, Limits, Problem};

use crate::Files;
use crate::http::{bucket_not_found, check_filename, check_folder, upload_error};
use crate::model::FileDetail;
use crate::permissions::FilesWrite;
use crate::store;
use crate::upload::{Reserved, Target, UploadError, UploadRequest};

/// How long the presigned `PUT` works.
const URL_SECONDS: u64 = 15 * 60;
/// How long the upload may take to be completed.
const COMPLETE_WITHIN: chrono::Duration = chrono::Duration::hours(1);

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(create)).routes(routes!(complete))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewDirectUpload {
    pub filename: String,
    pub folder: Option<String>,
    /// Bytes the client will send (reserved now; the object must have exactly this size).
    pub size: u64,
    /// The `Content-Type` the client will send (bound into the signature).
    pub content_type: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DirectUpload {
    /// The upload's id (for `complete`).
    pub id: Uuid,
    pub file_id: Uuid,
    /// `PUT`.
    pub method: String,
    /// The presigned URL (shown once).
    pub url: String,
    /// Headers the `PUT` must carry.
    pub headers: serde_json::Value,
    /// When the URL stops working.
    pub url_expires_at: DateTime<Utc>,
    /// When the upload is given up if not completed.
    pub expires_at: DateTime<Utc>,
}

/// Start a direct upload (S3 backend): a presigned `PUT` for the bytes.
#[utoipa::path(post, path = "/v1/files/buckets/{bucket}/direct-uploads", tag = "files", security(("bearer" = [])),
    params(("bucket" = String, Path, description = "The bucket's name")),
    request_body = NewDirectUpload,
    responses(
        (status = 201, body = DirectUpload),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`permission_denied`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`bucket_not_found`", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`direct_upload_unavailable`", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "`file_too_large`, `storage_quota_exceeded`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`invalid_field`, `limit_reached`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn create(
    permitted: Permitted<FilesWrite>,
    State(db): State<Database>,
    State(files): State<Files>,
    State(limits): State<Limits>,
    Path(bucket): Path<String>,
    Json(body): Json<NewDirectUpload>,
) -> Result<(StatusCode, axum::Json<DirectUpload>), ApiError> {
    let tenant = permitted.tenant()?;
    let mut tx = db.tenant(tenant).await?;
    let bucket = store::bucket_by_name(&mut tx, tenant, &bucket).await?.ok_or_else(bucket_not_found)?;
    tx.commit().await?;
    let storage = &files.inner().storage;
    if storage.local_root().is_some() {
        return Err(ApiError::conflict(
            "direct_upload_unavailable",
            "Direct uploads need the S3 backend; upload through the platform (POST …/files or tus).",
        ));
    }
    let filename = check_filename(&body.filename)?;
    let folder = check_folder(body.folder.as_deref())?;
    if !crate::sniff::well_formed(&body.content_type, false) {
        return Err(ApiError::invalid_field("content_type", "a media type (type/subtype)"));
    }
    let max = files.max_for(&bucket);
    if body.size > max {
        return Err(upload_error(UploadError::TooLarge { max }));
    }
    let metadata = json!({});
    let req = UploadRequest {
        tenant,
        actor: permitted.subject().into(),
        bucket: &bucket,
        target: Target::New { folder: &folder, filename: &filename, metadata: &metadata },
        declared: Some(body.size),
    };
    let expires_at = Utc::now() + COMPLETE_WITHIN;
    let reserved = files.reserve(&db, limits.plan, &req, body.size, Some(expires_at)).await.map_err(upload_error)?;
    let url = storage
        .presigned_put(&reserved.key, &body.content_type, URL_SECONDS)
        .ok_or_else(|| ApiError::internal("the S3 backend gave no presigned URL"))?;
    let upload = DirectUpload {
        id: reserved.version,
        file_id: reserved.file,
        method: "PUT".into(),
        url,
        headers: json!({"content-type": body.content_type}),
        url_expires_at: Utc::now() + chrono::Duration::seconds(URL_SECONDS as i64),
        expires_at,
    };
    Ok((StatusCode::CREATED, axum::Json(upload)))
}

/// The bytes are in the bucket: check them (size, SHA-256, sniffing, allow-list, clamd).
#[utoipa::path(post, path = "/v1/files/direct-uploads/{id}/complete", tag = "files", security(("bearer" = [])),
    params(("id" = String, Path, description = "The direct upload's id")),
    responses(
        (status = 201, body = FileDetail),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`permission_denied`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`upload_not_found`", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`object_missing`", body = Problem, content_type = "application/problem+json"),
        (status = 410, description = "`upload_expired`", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "`content_type_not_allowed`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`size_mismatch`, `file_quarantined`", body = Problem, content_type = "application/problem+json"),
        (status = 423, description = "`upload_busy`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn complete(
    permitted: Permitted<FilesWrite>,
    State(db): State<Database>,
    State(files): State<Files>,
    Path(id): Path<String>,
) -> Result<(StatusCode, axum::Json<FileDetail>), ApiError> {
    let tenant = permitted.tenant()?;
    let upload = crate::tus::find(&files, &db, tenant, &id).await?;
    let _held = crate::tus::hold(files.busy(), upload.id)?;
    let storage = &files.inner().storage;
    let Some(size) = storage.size(&upload.key).await.map_err(ApiError::internal)? else {
        return Err(ApiError::conflict(
            "object_missing",
            "Nothing was uploaded yet: PUT the bytes to the presigned URL first.",
        ));
    };
    let mut tx = db.tenant(tenant).await?;
    let bucket = store::bucket_by_id(&mut tx, tenant, upload.bucket).await?.ok_or_else(bucket_not_found)?;
    tx.commit().await?;
    let reserved = Reserved { file: upload.file, version: upload.id, key: upload.key.clone(), reserved: upload.length };
    let staged = files.staged_path(upload.id);
    let req = UploadRequest {
        tenant,
        actor: permitted.subject().into(),
        bucket: &bucket,
        target: Target::Version(upload.file),
        declared: Some(upload.length),
    };
    let checked = async {
        if size != upload.length {
            return Err(UploadError::SizeMismatch { announced: upload.length, stored: size });
        }
        let sha256 = fetch(&files, &upload.key, &staged).await?;
        files.finish_staged(&db, &req, &reserved, &staged, size, sha256, true).await
    };
    match checked.await {
        Ok(done) => Ok((StatusCode::CREATED, axum::Json(done.detail))),
        Err(e) => Err(upload_error(files.failed(&db, tenant, &reserved, &staged, e).await)),
    }
}

/// Reads the object into the staging file (sniffing and clamd read it there); its SHA-256.
async fn fetch(files: &Files, key: &str, staged: &std::path::Path) -> Result<Vec<u8>, UploadError> {
    let object = files.inner().storage.get(key).await?.ok_or(UploadError::NotFound)?;
    let mut file = tokio::fs::OpenOptions::new().write(true).create(true).truncate(true).open(staged).await?;
    let mut hash = ring::digest::Context::new(&ring::digest::SHA256);
    let mut bytes = object.bytes;
    while let Some(chunk) = bytes.next().await {
        let chunk = chunk?;
        hash.update(&chunk);
        file.write_all(&chunk).await?;
    }
    file.flush().await?;
    Ok(hash.finish().as_ref().to_vec())
}

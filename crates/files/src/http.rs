//! Files' HTTP API: buckets (`/v1/files/buckets`), uploads (a streamed raw body or a
//! `multipart/form-data` form), listings, details, downloads with `Range` and `ETag`, the trash
//! and legal holds.

use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use futures_util::{StreamExt, TryStreamExt};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;
use vextrus_access::{Access, Permitted, Subject};
use vextrus_audit::{NewEvent, Target as AuditTarget};
use vextrus_db::{Database, TenantId, TenantTx};
use vextrus_server::{ApiError, AppState, Json, Limits, Problem, Query};

use crate::Files;
use crate::download::{Ranged, not_modified, parse_range, safe_headers};
use crate::model::{Bucket, File, FileDetail, State as FileState, Version};
use crate::permissions::{BucketsManage, FilesDelete, FilesHold, FilesRead, FilesWrite};
use crate::store::{self, BucketSettings};
use crate::upload::{Target, UploadError, UploadRequest};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_bucket, list_buckets))
        .routes(routes!(get_bucket, put_bucket, delete_bucket))
        .routes(routes!(upload, list_files))
        .routes(routes!(get_file, delete_file))
        .routes(routes!(upload_version))
        .routes(routes!(restore_file))
        .routes(routes!(legal_hold))
        .routes(routes!(content))
        .routes(routes!(thumbnail))
        .merge(crate::tus::router())
        .merge(crate::links::router())
        .merge(crate::direct::router())
        // Sizes are the bucket's and the plan's, counted by the pipeline as the bytes arrive.
        .layer(axum::extract::DefaultBodyLimit::disable())
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BucketBody {
    /// Media types (as sniffed) a file may have, e.g. `application/pdf`, `image/*`; empty or
    /// absent: any.
    #[serde(default)]
    pub allowed_types: Vec<String>,
    /// Bytes a file may have (at most `files.max_file_mib`).
    pub max_size: u64,
    /// Days in the trash before purge (default 30).
    pub trash_days: Option<u32>,
    /// Whether signed links may be made (default false).
    #[serde(default)]
    pub signed_links: bool,
    /// A permission readers need besides `files.read`, e.g. `hr.documents.read`.
    pub read_permission: Option<String>,
    /// Whether files the scanner could not judge may be downloaded (default false).
    #[serde(default)]
    pub unscanned_readable: bool,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewBucket {
    /// `[a-z0-9][a-z0-9-]{1,62}`, e.g. `hr-documents`.
    pub name: String,
    #[serde(flatten)]
    pub settings: BucketBody,
}

fn settings(files: &Files, access: &Access, body: BucketBody) -> Result<BucketSettings, ApiError> {
    let max = files.inner().max_file_bytes;
    if body.max_size == 0 || body.max_size > max {
        return Err(ApiError::invalid_field("max_size", format!("1 to {max} bytes (files.max_file_mib)")));
    }
    if body.allowed_types.len() > 100 {
        return Err(ApiError::invalid_field("allowed_types", "at most 100 types"));
    }
    for t in &body.allowed_types {
        let ok = crate::sniff::well_formed(t, true);
        if !ok {
            return Err(ApiError::invalid_field(
                "allowed_types",
                format!("{t:?} is not a media type (type/subtype or type/*)"),
            ));
        }
    }
    let trash_days = body.trash_days.unwrap_or(30);
    if trash_days > 3650 {
        return Err(ApiError::invalid_field("trash_days", "0 to 3650"));
    }
    if let Some(p) = &body.read_permission
        && access.permission(p).is_none()
    {
        return Err(ApiError::invalid_field("read_permission", format!("{p:?} is not a permission of the catalog")));
    }
    Ok(BucketSettings {
        allowed_types: body.allowed_types.iter().map(|t| t.to_ascii_lowercase()).collect(),
        max_size: body.max_size,
        trash_days,
        signed_links: body.signed_links,
        read_permission: body.read_permission,
        unscanned_readable: body.unscanned_readable,
    })
}

pub(crate) fn bucket_not_found() -> ApiError {
    ApiError::not_found("bucket_not_found", "No such bucket.")
}

pub(crate) fn file_not_found() -> ApiError {
    ApiError::not_found("file_not_found", "No such file.")
}

fn valid_bucket_name(name: &str) -> bool {
    (2..=63).contains(&name.len())
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-')
}

/// Create a bucket.
#[utoipa::path(post, path = "/v1/files/buckets", tag = "files", security(("bearer" = [])),
    request_body = NewBucket,
    responses(
        (status = 201, body = Bucket),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`permission_denied`", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`bucket_exists`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`invalid_field`, `limit_reached`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn create_bucket(
    permitted: Permitted<BucketsManage>,
    State(db): State<Database>,
    State(files): State<Files>,
    State(access): State<Access>,
    Json(body): Json<NewBucket>,
) -> Result<(StatusCode, axum::Json<Bucket>), ApiError> {
    let tenant = permitted.tenant()?;
    if !valid_bucket_name(&body.name) {
        return Err(ApiError::invalid_field("name", "2 to 63 of a-z, 0-9 and '-', not starting with '-'"));
    }
    let s = settings(&files, &access, body.settings)?;
    let mut tx = db.tenant(tenant).await?;
    vextrus_db::limits::lock_count(&mut tx, &format!("buckets:{tenant}")).await?;
    if store::buckets(&mut tx, tenant, None, MAX_BUCKETS).await?.len() as u32 >= MAX_BUCKETS {
        return Err(ApiError::limit_reached("buckets", u64::from(MAX_BUCKETS), "per organization"));
    }
    let bucket = match store::insert_bucket(&mut tx, tenant, &body.name, &s).await {
        Err(e) if e.is_unique_violation() => {
            return Err(ApiError::conflict("bucket_exists", format!("The organization has a bucket {:?}.", body.name)));
        }
        other => other?,
    };
    let event = NewEvent::new(tenant, permitted.subject().into(), "files.bucket.create")
        .target(AuditTarget::new("bucket", bucket.id))
        .metadata(bucket_json(&bucket));
    vextrus_audit::record(&mut tx, event).await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, axum::Json(bucket)))
}

/// Buckets an organization may have.
const MAX_BUCKETS: u32 = 100;

fn bucket_json(b: &Bucket) -> Value {
    json!({
        "name": b.name, "allowed_types": b.allowed_types, "max_size": b.max_size, "trash_days": b.trash_days,
        "signed_links": b.signed_links, "read_permission": b.read_permission, "unscanned_readable": b.unscanned_readable,
    })
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PageParams {
    /// The cursor from the previous page.
    pub after: Option<String>,
    /// 1–100 (default 50).
    pub limit: Option<u32>,
}

fn page_limit(limit: Option<u32>) -> Result<u32, ApiError> {
    let limit = limit.unwrap_or(50);
    if !(1..=100).contains(&limit) {
        return Err(ApiError::invalid_field("limit", "between 1 and 100"));
    }
    Ok(limit)
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BucketPage {
    pub items: Vec<Bucket>,
    /// Pass as `after` for the next page; absent on the last.
    pub next: Option<String>,
}

/// The organization's buckets, by name.
#[utoipa::path(get, path = "/v1/files/buckets", tag = "files", security(("bearer" = [])),
    params(PageParams),
    responses(
        (status = 200, body = BucketPage),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`permission_denied`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`invalid_field`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn list_buckets(
    permitted: Permitted<FilesRead>,
    State(db): State<Database>,
    Query(params): Query<PageParams>,
) -> Result<axum::Json<BucketPage>, ApiError> {
    let tenant = permitted.tenant()?;
    let limit = page_limit(params.limit)?;
    let mut tx = db.tenant(tenant).await?;
    let mut items = store::buckets(&mut tx, tenant, params.after.as_deref(), limit).await?;
    tx.commit().await?;
    let next = vextrus_db::next_page(&mut items, limit, |b| b.name.clone());
    Ok(axum::Json(BucketPage { items, next }))
}

/// One bucket's settings.
#[utoipa::path(get, path = "/v1/files/buckets/{bucket}", tag = "files", security(("bearer" = [])),
    params(("bucket" = String, Path, description = "The bucket's name")),
    responses(
        (status = 200, body = Bucket),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`permission_denied`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`bucket_not_found`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn get_bucket(
    permitted: Permitted<FilesRead>,
    State(db): State<Database>,
    Path(name): Path<String>,
) -> Result<axum::Json<Bucket>, ApiError> {
    let tenant = permitted.tenant()?;
    let mut tx = db.tenant(tenant).await?;
    let bucket = store::bucket_by_name(&mut tx, tenant, &name).await?.ok_or_else(bucket_not_found)?;
    tx.commit().await?;
    Ok(axum::Json(bucket))
}

/// Replace a bucket's settings (files already stored keep their checks).
#[utoipa::path(put, path = "/v1/files/buckets/{bucket}", tag = "files", security(("bearer" = [])),
    params(("bucket" = String, Path, description = "The bucket's name")),
    request_body = BucketBody,
    responses(
        (status = 200, body = Bucket),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`permission_denied`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`bucket_not_found`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`invalid_field`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn put_bucket(
    permitted: Permitted<BucketsManage>,
    State(db): State<Database>,
    State(files): State<Files>,
    State(access): State<Access>,
    Path(name): Path<String>,
    Json(body): Json<BucketBody>,
) -> Result<axum::Json<Bucket>, ApiError> {
    let tenant = permitted.tenant()?;
    let s = settings(&files, &access, body)?;
    let mut tx = db.tenant(tenant).await?;
    let bucket = store::update_bucket(&mut tx, tenant, &name, &s).await?.ok_or_else(bucket_not_found)?;
    let event = NewEvent::new(tenant, permitted.subject().into(), "files.bucket.update")
        .target(AuditTarget::new("bucket", bucket.id))
        .metadata(bucket_json(&bucket));
    vextrus_audit::record(&mut tx, event).await?;
    tx.commit().await?;
    Ok(axum::Json(bucket))
}

/// Delete a bucket that holds no files (the trash included).
#[utoipa::path(delete, path = "/v1/files/buckets/{bucket}", tag = "files", security(("bearer" = [])),
    params(("bucket" = String, Path, description = "The bucket's name")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`permission_denied`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`bucket_not_found`", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`bucket_not_empty`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn delete_bucket(
    permitted: Permitted<BucketsManage>,
    State(db): State<Database>,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    let tenant = permitted.tenant()?;
    let mut tx = db.tenant(tenant).await?;
    match store::delete_empty_bucket(&mut tx, tenant, &name).await? {
        None => return Err(bucket_not_found()),
        Some(false) => {
            return Err(ApiError::conflict("bucket_not_empty", "The bucket holds files (the trash included)."));
        }
        Some(true) => {}
    }
    let event = NewEvent::new(tenant, permitted.subject().into(), "files.bucket.delete")
        .target(AuditTarget::new("bucket", name.as_str()));
    vextrus_audit::record(&mut tx, event).await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct UploadParams {
    /// The file's name (required for a raw body; a form's file part names its own).
    pub filename: Option<String>,
    /// A display folder, e.g. `2026/payslips` (default: none).
    pub folder: Option<String>,
}

pub(crate) fn check_filename(name: &str) -> Result<String, ApiError> {
    let name = name.trim();
    let ok = !name.is_empty()
        && name.chars().count() <= 255
        && !name.chars().any(|c| c.is_control() || c == '/' || c == '\\')
        && name != "."
        && name != "..";
    if !ok {
        return Err(ApiError::invalid_field(
            "filename",
            "1 to 255 characters, without '/', '\\' or control characters",
        ));
    }
    Ok(name.to_owned())
}

pub(crate) fn check_folder(folder: Option<&str>) -> Result<String, ApiError> {
    let folder = folder.unwrap_or("").trim_matches('/');
    let bad = folder.chars().count() > 512
        || folder.chars().any(|c| c.is_control() || c == '\\')
        || folder.split('/').any(|part| part.is_empty() && !folder.is_empty() || part == "." || part == "..");
    if bad {
        return Err(ApiError::invalid_field(
            "folder",
            "at most 512 characters of '/'-separated names, none empty, '.' or '..'",
        ));
    }
    Ok(folder.to_owned())
}

pub(crate) fn upload_error(e: UploadError) -> ApiError {
    match e {
        UploadError::TooLarge { max } => ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "file_too_large", "File too large")
            .detail(format!("The bucket takes files of at most {max} bytes.")),
        UploadError::Quota { used, limit } => {
            ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "storage_quota_exceeded", "Storage quota exceeded").detail(
                format!("The organization's plan allows {limit} bytes; {used} are stored or reserved by uploads in flight."),
            )
        }
        UploadError::NotAllowed(t) => {
            ApiError::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, "content_type_not_allowed", "Content type not allowed")
                .detail(format!("The file's content is {t} (read from its bytes), which this bucket does not take."))
        }
        UploadError::Quarantined { file, version, signature } => {
            ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "file_quarantined", "Malware found").detail(format!(
                "The scanner found {signature}; the file {file} (version {version}) is quarantined and its bytes were not kept."
            ))
        }
        UploadError::NotFound => file_not_found(),
        e @ UploadError::SizeMismatch { .. } => {
            ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "size_mismatch", "Size mismatch").detail(e.to_string())
        }
        UploadError::TooManyUploads => ApiError::limit_reached(
            "resumable uploads in progress",
            crate::tus::MAX_UPLOADS as u64,
            "per organization; finish or cancel one",
        ),
        UploadError::Body(why) => ApiError::new(StatusCode::BAD_REQUEST, "upload_incomplete", "Upload incomplete")
            .detail(format!("The request body ended early: {why}")),
        UploadError::Db(e) => e.into(),
        e @ (UploadError::Storage(_) | UploadError::Io(_)) => ApiError::internal(e),
    }
}

/// A request's upload: its body raw, or the `file` part of a `multipart/form-data` form
/// (whose earlier `folder`, `filename` and `metadata` parts apply).
struct Incoming {
    filename: Option<String>,
    folder: Option<String>,
    metadata: Value,
    declared: Option<u64>,
    body: futures_util::stream::BoxStream<'static, Result<bytes::Bytes, String>>,
}

/// Text parts of a form are small: at most this many bytes each.
const FORM_TEXT_MAX: usize = 8 * 1024;

async fn incoming(request: Request, params: UploadParams) -> Result<Incoming, ApiError> {
    let is_form = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim_start().to_ascii_lowercase().starts_with("multipart/form-data"));
    if !is_form {
        let declared = request
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        let body = request.into_body().into_data_stream().map_err(|e| e.to_string()).boxed();
        return Ok(Incoming { filename: params.filename, folder: params.folder, metadata: json!({}), declared, body });
    }
    let bad_form = |m: String| ApiError::new(StatusCode::BAD_REQUEST, "invalid_form", "Invalid form").detail(m);
    let boundary = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| multer::parse_boundary(v).ok())
        .ok_or_else(|| bad_form("multipart/form-data without a boundary".into()))?;
    let mut form = multer::Multipart::new(request.into_body().into_data_stream(), boundary);
    let (mut filename, mut folder, mut metadata) = (params.filename, params.folder, json!({}));
    loop {
        let Some(mut field) = form.next_field().await.map_err(|e| bad_form(e.to_string()))? else {
            return Err(bad_form("the form has no `file` part".into()));
        };
        let name = field.name().unwrap_or_default().to_owned();
        if name == "file" {
            if filename.is_none() {
                filename = field.file_name().map(str::to_owned);
            }
            // The rest of the form is the file: it streams through the pipeline as it arrives
            // (the form is kept alive with it).
            let body = futures_util::stream::unfold((form, field), |(form, mut field)| async move {
                match field.chunk().await {
                    Ok(Some(bytes)) => Some((Ok(bytes), (form, field))),
                    Ok(None) => None,
                    Err(e) => Some((Err(e.to_string()), (form, field))),
                }
            })
            .boxed();
            return Ok(Incoming { filename, folder, metadata, declared: None, body });
        }
        let mut text = Vec::new();
        while let Some(chunk) = field.chunk().await.map_err(|e| bad_form(e.to_string()))? {
            if text.len() + chunk.len() > FORM_TEXT_MAX {
                return Err(ApiError::invalid_field(name, format!("at most {FORM_TEXT_MAX} bytes")));
            }
            text.extend_from_slice(&chunk);
        }
        let text = String::from_utf8(text).map_err(|_| ApiError::invalid_field(name.clone(), "not UTF-8"))?;
        match name.as_str() {
            "filename" => filename = Some(text),
            "folder" => folder = Some(text),
            "metadata" => {
                metadata = serde_json::from_str::<Value>(&text)
                    .ok()
                    .filter(Value::is_object)
                    .ok_or_else(|| ApiError::invalid_field("metadata", "a JSON object"))?;
            }
            _ => {
                return Err(ApiError::invalid_field(
                    name,
                    "not a part of this form (folder, filename, metadata, file)",
                ));
            }
        }
    }
}

pub(crate) async fn detail(tx: &mut TenantTx, tenant: TenantId, id: Uuid) -> Result<FileDetail, ApiError> {
    store::detail(tx, tenant, id).await?.ok_or_else(file_not_found)
}

/// Upload a file: the raw body (with `filename` and `folder` as parameters) or a
/// `multipart/form-data` form (parts `folder`, `filename`, `metadata`, then `file`).
#[utoipa::path(post, path = "/v1/files/buckets/{bucket}/files", tag = "files", security(("bearer" = [])),
    params(("bucket" = String, Path, description = "The bucket's name"), UploadParams),
    request_body(content = Vec<u8>, content_type = "application/octet-stream"),
    responses(
        (status = 201, body = FileDetail),
        (status = 400, description = "`upload_incomplete`, `invalid_form`", body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`permission_denied`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`bucket_not_found`", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "`file_too_large`, `storage_quota_exceeded`", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "`content_type_not_allowed`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`invalid_field`, `file_quarantined`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn upload(
    permitted: Permitted<FilesWrite>,
    State(db): State<Database>,
    State(files): State<Files>,
    State(limits): State<Limits>,
    Path(bucket): Path<String>,
    Query(params): Query<UploadParams>,
    request: Request,
) -> Result<(StatusCode, axum::Json<FileDetail>), ApiError> {
    let tenant = permitted.tenant()?;
    let mut tx = db.tenant(tenant).await?;
    let bucket = store::bucket_by_name(&mut tx, tenant, &bucket).await?.ok_or_else(bucket_not_found)?;
    tx.commit().await?;
    let incoming = incoming(request, params).await?;
    let filename = check_filename(incoming.filename.as_deref().unwrap_or_default())?;
    let folder = check_folder(incoming.folder.as_deref())?;
    if serde_json::to_vec(&incoming.metadata).map_or(0, |v| v.len()) > 4096 {
        return Err(ApiError::invalid_field("metadata", "at most 4 KiB of JSON"));
    }
    let req = UploadRequest {
        tenant,
        actor: permitted.subject().into(),
        bucket: &bucket,
        target: Target::New { folder: &folder, filename: &filename, metadata: &incoming.metadata },
        declared: incoming.declared,
    };
    let done = files.upload(&db, limits.plan, req, incoming.body).await.map_err(upload_error)?;
    Ok((StatusCode::CREATED, axum::Json(done.detail)))
}

/// Upload new content for a file: a new version (earlier ones stay).
#[utoipa::path(post, path = "/v1/files/{id}/versions", tag = "files", security(("bearer" = [])),
    params(("id" = String, Path, description = "The file's id")),
    request_body(content = Vec<u8>, content_type = "application/octet-stream"),
    responses(
        (status = 201, body = FileDetail),
        (status = 400, description = "`upload_incomplete`, `invalid_form`", body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`permission_denied`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`file_not_found`", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "`file_too_large`, `storage_quota_exceeded`", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "`content_type_not_allowed`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`file_quarantined`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn upload_version(
    permitted: Permitted<FilesWrite>,
    State(db): State<Database>,
    State(files): State<Files>,
    State(limits): State<Limits>,
    Path(id): Path<String>,
    request: Request,
) -> Result<(StatusCode, axum::Json<FileDetail>), ApiError> {
    let tenant = permitted.tenant()?;
    let id = Uuid::parse_str(&id).map_err(|_| file_not_found())?;
    let mut tx = db.tenant(tenant).await?;
    let found = store::file(&mut tx, tenant, id).await?.ok_or_else(file_not_found)?;
    let bucket = store::bucket_by_id(&mut tx, tenant, found.bucket_id).await?.ok_or_else(file_not_found)?;
    tx.commit().await?;
    let incoming = incoming(request, UploadParams { filename: None, folder: None }).await?;
    let req = UploadRequest {
        tenant,
        actor: permitted.subject().into(),
        bucket: &bucket,
        target: Target::Version(id),
        declared: incoming.declared,
    };
    let done = files.upload(&db, limits.plan, req, incoming.body).await.map_err(upload_error)?;
    Ok((StatusCode::CREATED, axum::Json(done.detail)))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct FileListParams {
    /// Only this folder's files.
    pub folder: Option<String>,
    /// The cursor from the previous page.
    pub after: Option<String>,
    /// 1–100 (default 50).
    pub limit: Option<u32>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct FilePage {
    pub items: Vec<File>,
    /// Pass as `after` for the next page; absent on the last.
    pub next: Option<String>,
}

/// Whether the subject may read the bucket's files (its own permission, if it names one).
fn may_read(access: &Access, subject: &Subject, bucket: &Bucket) -> Result<(), ApiError> {
    match &bucket.read_permission {
        Some(p) => access.check(subject, p).map_err(|d| vextrus_access::denied(p, d)),
        None => Ok(()),
    }
}

/// A bucket's files (not those in the trash), by folder and name.
#[utoipa::path(get, path = "/v1/files/buckets/{bucket}/files", tag = "files", security(("bearer" = [])),
    params(("bucket" = String, Path, description = "The bucket's name"), FileListParams),
    responses(
        (status = 200, body = FilePage),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`permission_denied`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`bucket_not_found`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`invalid_field`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn list_files(
    permitted: Permitted<FilesRead>,
    State(db): State<Database>,
    State(access): State<Access>,
    Path(bucket): Path<String>,
    Query(params): Query<FileListParams>,
) -> Result<axum::Json<FilePage>, ApiError> {
    let tenant = permitted.tenant()?;
    let limit = page_limit(params.limit)?;
    let folder = params.folder.as_deref().map(|f| check_folder(Some(f))).transpose()?;
    let after = params
        .after
        .as_deref()
        .map(|a| {
            URL_SAFE_NO_PAD
                .decode(a)
                .ok()
                .and_then(|raw| serde_json::from_slice::<(String, String, Uuid)>(&raw).ok())
                .ok_or_else(|| ApiError::invalid_field("after", "not a cursor of this list"))
        })
        .transpose()?;
    let mut tx = db.tenant(tenant).await?;
    let bucket = store::bucket_by_name(&mut tx, tenant, &bucket).await?.ok_or_else(bucket_not_found)?;
    may_read(&access, permitted.subject(), &bucket)?;
    let mut items = store::files(&mut tx, tenant, bucket.id, folder.as_deref(), after.as_ref(), limit).await?;
    tx.commit().await?;
    let next = vextrus_db::next_page(&mut items, limit, |f| {
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(&(&f.folder, &f.filename, f.id)).unwrap_or_default())
    });
    Ok(axum::Json(FilePage { items, next }))
}

/// Reads a file the subject may read (its bucket's permission included).
pub(crate) async fn readable(
    db: &Database,
    access: &Access,
    subject: &Subject,
    tenant: TenantId,
    id: &str,
) -> Result<(store::Found, Bucket), ApiError> {
    let id = Uuid::parse_str(id).map_err(|_| file_not_found())?;
    let mut tx = db.tenant(tenant).await?;
    let found = store::file(&mut tx, tenant, id).await?.ok_or_else(file_not_found)?;
    let bucket = store::bucket_by_id(&mut tx, tenant, found.bucket_id).await?.ok_or_else(file_not_found)?;
    tx.commit().await?;
    may_read(access, subject, &bucket)?;
    Ok((found, bucket))
}

/// One file: its details and every version.
#[utoipa::path(get, path = "/v1/files/{id}", tag = "files", security(("bearer" = [])),
    params(("id" = String, Path, description = "The file's id")),
    responses(
        (status = 200, body = FileDetail),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`permission_denied`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`file_not_found`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn get_file(
    permitted: Permitted<FilesRead>,
    State(db): State<Database>,
    State(access): State<Access>,
    Path(id): Path<String>,
) -> Result<axum::Json<FileDetail>, ApiError> {
    let tenant = permitted.tenant()?;
    let (found, _) = readable(&db, &access, permitted.subject(), tenant, &id).await?;
    let mut tx = db.tenant(tenant).await?;
    let detail = detail(&mut tx, tenant, found.file.id).await?;
    tx.commit().await?;
    Ok(axum::Json(detail))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ContentParams {
    /// `inline` to view in the browser (honoured only for raster images and PDF; anything else
    /// is always an attachment).
    pub disposition: Option<String>,
}

/// A file's current content: `Range` (206, 416), `ETag`/`If-None-Match` (304), and headers that
/// keep it from running as the platform's page.
#[utoipa::path(get, path = "/v1/files/{id}/content", tag = "files", security(("bearer" = [])),
    params(("id" = String, Path, description = "The file's id"), ContentParams),
    responses(
        (status = 200, description = "The bytes", content_type = "application/octet-stream"),
        (status = 206, description = "The requested range", content_type = "application/octet-stream"),
        (status = 304, description = "Not modified (If-None-Match)"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`permission_denied`, `file_unscanned`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`file_not_found`", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`file_not_ready`", body = Problem, content_type = "application/problem+json"),
        (status = 416, description = "`range_not_satisfiable`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`invalid_field`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn content(
    permitted: Permitted<FilesRead>,
    State(db): State<Database>,
    State(files): State<Files>,
    State(access): State<Access>,
    Path(id): Path<String>,
    Query(params): Query<ContentParams>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let tenant = permitted.tenant()?;
    let wants_inline = match params.disposition.as_deref() {
        None | Some("attachment") => false,
        Some("inline") => true,
        Some(_) => return Err(ApiError::invalid_field("disposition", "inline or attachment")),
    };
    let (found, bucket) = readable(&db, &access, permitted.subject(), tenant, &id).await?;
    if found.file.deleted_at.is_some() {
        return Err(file_not_found());
    }
    let (Some(version), Some(key)) = (found.file.current.as_ref(), found.key.as_deref()) else {
        return Err(ApiError::conflict("file_not_ready", "The file has no content that passed its checks yet."));
    };
    serve(&files, &bucket, &found.file.filename, version, key, wants_inline, &headers).await
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ThumbnailParams {
    /// 128 or 512 (the longer side, in pixels; default 128).
    pub size: Option<u32>,
}

/// A raster image's thumbnail (JPEG), once the job made it.
#[utoipa::path(get, path = "/v1/files/{id}/thumbnail", tag = "files", security(("bearer" = [])),
    params(("id" = String, Path, description = "The file's id"), ThumbnailParams),
    responses(
        (status = 200, description = "The thumbnail", content_type = "image/jpeg"),
        (status = 304, description = "Not modified (If-None-Match)"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`permission_denied`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`file_not_found`, `thumbnail_not_found`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`invalid_field`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn thumbnail(
    permitted: Permitted<FilesRead>,
    State(db): State<Database>,
    State(files): State<Files>,
    State(access): State<Access>,
    Path(id): Path<String>,
    Query(params): Query<ThumbnailParams>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let tenant = permitted.tenant()?;
    let size = params.size.unwrap_or(128);
    if !crate::thumbs::SIZES.contains(&size) {
        return Err(ApiError::invalid_field("size", "128 or 512"));
    }
    let (found, bucket) = readable(&db, &access, permitted.subject(), tenant, &id).await?;
    let (Some(version), Some(key), None) = (found.file.current.as_ref(), found.key.as_deref(), found.file.deleted_at)
    else {
        return Err(file_not_found());
    };
    if version.thumbnails.as_deref() != Some("made") {
        let why = version.thumbnails.clone().unwrap_or_else(|| "not made (yet, or not a raster image)".into());
        return Err(ApiError::not_found("thumbnail_not_found", format!("No thumbnail: {why}.")));
    }
    let thumb = Version {
        size: None,
        sha256: version.sha256.as_ref().map(|h| format!("{h}-{size}")),
        content_type: Some("image/jpeg".into()),
        ..version.clone()
    };
    let object = crate::thumbs::key_of(key, size);
    let stem = found.file.filename.rsplit_once('.').map_or(found.file.filename.as_str(), |(stem, _)| stem);
    let name = format!("{stem}-{size}.jpg");
    let size_of = files.inner().storage.size(&object).await.map_err(ApiError::internal)?;
    let thumb = Version { size: size_of, ..thumb };
    serve(&files, &bucket, &name, &thumb, &object, true, &headers).await
}

/// A version's bytes as an answer: `Range`, `ETag`/`If-None-Match`, the safe headers.
pub(crate) async fn serve(
    files: &Files,
    bucket: &Bucket,
    filename: &str,
    version: &Version,
    key: &str,
    wants_inline: bool,
    headers: &HeaderMap,
) -> Result<Response, ApiError> {
    if version.state == FileState::Unscanned && !bucket.unscanned_readable {
        return Err(ApiError::new(StatusCode::FORBIDDEN, "file_unscanned", "File not scanned").detail(format!(
            "The scanner could not judge this file ({}); the bucket does not let such files be read.",
            version.scan.as_deref().unwrap_or("unscanned")
        )));
    }
    if !matches!(version.state, FileState::Ready | FileState::Unscanned) {
        return Err(ApiError::conflict("file_not_ready", "This content is not servable."));
    }
    let size = version.size.unwrap_or(0);
    let etag = format!("\"{}\"", version.sha256.as_deref().unwrap_or_default());
    let content_type = version.content_type.as_deref().unwrap_or("application/octet-stream");
    let inline = wants_inline && crate::sniff::inline_safe(content_type);
    let mut response = Response::new(Body::empty());
    safe_headers(response.headers_mut(), content_type, filename, inline, &etag);
    if not_modified(headers, &etag) {
        *response.status_mut() = StatusCode::NOT_MODIFIED;
        response.headers_mut().remove(header::CONTENT_TYPE);
        return Ok(response);
    }
    let range = parse_range(headers.get(header::RANGE).and_then(|v| v.to_str().ok()), size);
    let storage = &files.inner().storage;
    let object = match &range {
        Ranged::Unsatisfiable => {
            let mut e =
                ApiError::new(StatusCode::RANGE_NOT_SATISFIABLE, "range_not_satisfiable", "Range not satisfiable")
                    .detail(format!("The file has {size} bytes."))
                    .into_response();
            if let Ok(v) = format!("bytes */{size}").parse() {
                e.headers_mut().insert(header::CONTENT_RANGE, v);
            }
            return Ok(e);
        }
        Ranged::Part(r) => storage.get_range(key, r.clone()).await,
        Ranged::Whole => storage.get(key).await,
    };
    let object = object
        .map_err(ApiError::internal)?
        .ok_or_else(|| ApiError::internal(format!("the object {key} of a ready file is missing")))?;
    if let Ranged::Part(r) = &range {
        *response.status_mut() = StatusCode::PARTIAL_CONTENT;
        if let Ok(v) = format!("bytes {}-{}/{size}", r.start, r.end - 1).parse() {
            response.headers_mut().insert(header::CONTENT_RANGE, v);
        }
    }
    response.headers_mut().insert(header::CONTENT_LENGTH, object.size.into());
    let counted = object.bytes.inspect(|chunk| {
        if let Ok(bytes) = chunk {
            metrics::counter!("vextrus_files_bytes_out_total").increment(bytes.len() as u64);
        }
    });
    *response.body_mut() = Body::from_stream(counted);
    Ok(response)
}

/// Move a file to the trash (restorable until the bucket's trash days have passed).
#[utoipa::path(delete, path = "/v1/files/{id}", tag = "files", security(("bearer" = [])),
    params(("id" = String, Path, description = "The file's id")),
    responses(
        (status = 204, description = "In the trash"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`permission_denied`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`file_not_found`", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`file_on_hold`, `file_in_trash`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn delete_file(
    permitted: Permitted<FilesDelete>,
    State(db): State<Database>,
    State(access): State<Access>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let tenant = permitted.tenant()?;
    let (found, _) = readable(&db, &access, permitted.subject(), tenant, &id).await?;
    let id = found.file.id;
    let mut tx = db.tenant(tenant).await?;
    match store::set_deleted(&mut tx, tenant, id, true).await? {
        None => return Err(file_not_found()),
        Some(false) if found.file.legal_hold => {
            return Err(ApiError::conflict("file_on_hold", "The file is under a legal hold; lift it first."));
        }
        Some(false) => return Err(ApiError::conflict("file_in_trash", "The file is in the trash already.")),
        Some(true) => {}
    }
    let event = NewEvent::new(tenant, permitted.subject().into(), "files.file.delete")
        .target(AuditTarget::new("file", id))
        .metadata(json!({"bucket": found.file.bucket, "filename": found.file.filename}));
    vextrus_audit::record(&mut tx, event).await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Take a file out of the trash.
#[utoipa::path(post, path = "/v1/files/{id}/restore", tag = "files", security(("bearer" = [])),
    params(("id" = String, Path, description = "The file's id")),
    responses(
        (status = 200, body = FileDetail),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`permission_denied`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`file_not_found`", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`file_not_in_trash`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn restore_file(
    permitted: Permitted<FilesDelete>,
    State(db): State<Database>,
    State(access): State<Access>,
    Path(id): Path<String>,
) -> Result<axum::Json<FileDetail>, ApiError> {
    let tenant = permitted.tenant()?;
    let (found, _) = readable(&db, &access, permitted.subject(), tenant, &id).await?;
    let id = found.file.id;
    let mut tx = db.tenant(tenant).await?;
    match store::set_deleted(&mut tx, tenant, id, false).await? {
        None => return Err(file_not_found()),
        Some(false) => return Err(ApiError::conflict("file_not_in_trash", "The file is not in the trash.")),
        Some(true) => {}
    }
    let event = NewEvent::new(tenant, permitted.subject().into(), "files.file.restore")
        .target(AuditTarget::new("file", id))
        .metadata(json!({"bucket": found.file.bucket, "filename": found.file.filename}));
    vextrus_audit::record(&mut tx, event).await?;
    let detail = detail(&mut tx, tenant, id).await?;
    tx.commit().await?;
    Ok(axum::Json(detail))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HoldBody {
    /// `true` places the hold, `false` lifts it.
    pub hold: bool,
    /// Why (kept in the audit trail), e.g. a case number.
    pub reason: Option<String>,
}

/// Place or lift a legal hold: a held file cannot be deleted or purged.
#[utoipa::path(put, path = "/v1/files/{id}/legal-hold", tag = "files", security(("bearer" = [])),
    params(("id" = String, Path, description = "The file's id")),
    request_body = HoldBody,
    responses(
        (status = 200, body = FileDetail),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`permission_denied`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`file_not_found`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`invalid_field`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn legal_hold(
    permitted: Permitted<FilesHold>,
    State(db): State<Database>,
    Path(id): Path<String>,
    Json(body): Json<HoldBody>,
) -> Result<axum::Json<FileDetail>, ApiError> {
    let tenant = permitted.tenant()?;
    if body.reason.as_ref().is_some_and(|r| r.chars().count() > 500) {
        return Err(ApiError::invalid_field("reason", "at most 500 characters"));
    }
    let id = Uuid::parse_str(&id).map_err(|_| file_not_found())?;
    let mut tx = db.tenant(tenant).await?;
    if !store::set_hold(&mut tx, tenant, id, body.hold).await? {
        return Err(file_not_found());
    }
    let action = if body.hold { "files.file.hold" } else { "files.file.release" };
    let event = NewEvent::new(tenant, permitted.subject().into(), action)
        .target(AuditTarget::new("file", id))
        .metadata(json!({"reason": body.reason}));
    vextrus_audit::record(&mut tx, event).await?;
    let detail = detail(&mut tx, tenant, id).await?;
    tx.commit().await?;
    Ok(axum::Json(detail))
}

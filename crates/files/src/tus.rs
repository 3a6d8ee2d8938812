//! Resumable uploads by the tus 1.0.0 protocol at `/v1/files/tus` — core, creation,
//! creation-with-upload, termination, checksum (sha1, sha256) and expiration — for large files
//! over links that drop. An upload is a pending version: its storage is reserved for the length
//! it announced when it is created; its bytes are staged on disk as they arrive (so a cut
//! connection or a killed server keeps what was received, and `HEAD` says where to resume);
//! when the last byte is in, the staged file takes the same checks as any upload (sniffing,
//! the bucket's allow-list, clamd) in [`crate::upload`].

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::{Path as UrlPath, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;
use vextrus_access::Permitted;
use vextrus_audit::{NewEvent, Target as AuditTarget};
use vextrus_db::{Database, TenantId};
use vextrus_server::{ApiError, AppState, Limits, Problem};

use crate::Files;
use crate::http::{bucket_not_found, check_filename, check_folder, upload_error};
use crate::permissions::FilesWrite;
use crate::store::{self, TusUpload};
use crate::upload::{Reserved, Target, UploadError, UploadRequest};

/// Resumable uploads an organization may have in progress at once.
pub const MAX_UPLOADS: i64 = 100;
const VERSION: &str = "1.0.0";
const EXTENSIONS: &str = "creation,creation-with-upload,termination,checksum,expiration";
const OFFSET_STREAM: &str = "application/offset+octet-stream";

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(options, create)).routes(routes!(head, patch, terminate))
}

/// Uploads a request of this instance is writing to: a second request for the same upload
/// waits its turn (423, which tus clients retry) instead of interleaving bytes.
#[derive(Debug, Default)]
pub struct Busy(Mutex<HashSet<Uuid>>);

pub(crate) struct Held(Arc<Busy>, Uuid);

impl Drop for Held {
    fn drop(&mut self) {
        self.0.0.lock().unwrap_or_else(|e| e.into_inner()).remove(&self.1);
    }
}

pub(crate) fn hold(busy: &Arc<Busy>, id: Uuid) -> Result<Held, ApiError> {
    if !busy.0.lock().unwrap_or_else(|e| e.into_inner()).insert(id) {
        return Err(ApiError::new(StatusCode::LOCKED, "upload_busy", "Upload busy")
            .detail("Another request is writing to this upload; retry shortly."));
    }
    Ok(Held(busy.clone(), id))
}

/// Every tus answer says the protocol version.
fn tus(mut response: Response) -> Response {
    response.headers_mut().insert("tus-resumable", HeaderValue::from_static(VERSION));
    response
}

fn answer(result: Result<Response, ApiError>) -> Response {
    let mut response = tus(result.unwrap_or_else(IntoResponse::into_response));
    if response.status() == StatusCode::PRECONDITION_FAILED {
        response.headers_mut().insert("tus-version", HeaderValue::from_static(VERSION));
    }
    response
}

fn require_version(headers: &HeaderMap) -> Result<(), ApiError> {
    match headers.get("tus-resumable").and_then(|v| v.to_str().ok()) {
        Some(VERSION) => Ok(()),
        _ => Err(ApiError::new(StatusCode::PRECONDITION_FAILED, "tus_version_unsupported", "Unsupported tus version")
            .detail("Send Tus-Resumable: 1.0.0.")),
    }
}

fn number(headers: &HeaderMap, name: &'static str) -> Result<Option<u64>, ApiError> {
    let Some(value) = headers.get(name) else { return Ok(None) };
    let text = value.to_str().unwrap_or_default();
    if text.is_empty() || text.len() > 19 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ApiError::new(StatusCode::BAD_REQUEST, "invalid_header", "Invalid header")
            .detail(format!("{name} must be a non-negative integer")));
    }
    Ok(text.parse().ok())
}

/// An RFC 9110 date (IMF-fixdate).
fn expires(at: DateTime<Utc>) -> HeaderValue {
    HeaderValue::from_str(&at.format("%a, %d %b %Y %H:%M:%S GMT").to_string()).unwrap_or(HeaderValue::from_static(""))
}

/// `Upload-Metadata`: `key base64,key base64` (at most 4 KiB, 32 pairs).
fn metadata(headers: &HeaderMap) -> Result<HashMap<String, String>, ApiError> {
    let bad = |m: &str| {
        ApiError::new(StatusCode::BAD_REQUEST, "invalid_header", "Invalid header")
            .detail(format!("Upload-Metadata: {m}"))
    };
    let Some(value) = headers.get("upload-metadata") else { return Ok(HashMap::new()) };
    if value.len() > 4096 {
        return Err(bad("at most 4 KiB"));
    }
    let text = value.to_str().map_err(|_| bad("not ASCII"))?;
    let mut pairs = HashMap::new();
    for pair in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        if pairs.len() >= 32 {
            return Err(bad("at most 32 keys"));
        }
        let (key, value) = pair.split_once(' ').unwrap_or((pair, ""));
        let value = STANDARD.decode(value.trim()).map_err(|_| bad("a value is not base64"))?;
        let value = String::from_utf8(value).map_err(|_| bad("a value is not UTF-8"))?;
        pairs.insert(key.to_owned(), value);
    }
    Ok(pairs)
}

/// What the server supports (tus discovery).
#[utoipa::path(options, path = "/v1/files/tus", tag = "files", security(("bearer" = [])),
    responses(
        (status = 204, description = "`Tus-Version`, `Tus-Extension`, `Tus-Max-Size`, `Tus-Checksum-Algorithm`"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`permission_denied`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn options(_permitted: Permitted<FilesWrite>, State(files): State<Files>) -> Response {
    let mut response = StatusCode::NO_CONTENT.into_response();
    let h = response.headers_mut();
    h.insert("tus-version", HeaderValue::from_static(VERSION));
    h.insert("tus-extension", HeaderValue::from_static(EXTENSIONS));
    h.insert("tus-max-size", files.inner().max_file_bytes.into());
    h.insert("tus-checksum-algorithm", HeaderValue::from_static("sha1,sha256"));
    tus(response)
}

/// Create an upload (tus creation): `Upload-Length` and `Upload-Metadata` with `bucket` and
/// `filename` (and `folder`, or `file` for a new version of a file); the first bytes may come
/// in the body (`Content-Type: application/offset+octet-stream`).
#[utoipa::path(post, path = "/v1/files/tus", tag = "files", security(("bearer" = [])),
    request_body(content = Vec<u8>, content_type = "application/offset+octet-stream"),
    responses(
        (status = 201, description = "Created: `Location`, `Upload-Offset`, `Upload-Expires`"),
        (status = 400, description = "`invalid_header`", body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`permission_denied`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`bucket_not_found`, `file_not_found`", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "`tus_version_unsupported`", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "`file_too_large`, `storage_quota_exceeded`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`invalid_field`, `limit_reached`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn create(
    permitted: Permitted<FilesWrite>,
    State(db): State<Database>,
    State(files): State<Files>,
    State(limits): State<Limits>,
    request: Request,
) -> Response {
    answer(create_upload(permitted, db, files, limits, request).await)
}

async fn create_upload(
    permitted: Permitted<FilesWrite>,
    db: Database,
    files: Files,
    limits: Limits,
    request: Request,
) -> Result<Response, ApiError> {
    let tenant = permitted.tenant()?;
    let headers = request.headers().clone();
    require_version(&headers)?;
    if headers.contains_key("upload-defer-length") {
        return Err(ApiError::new(StatusCode::BAD_REQUEST, "invalid_header", "Invalid header")
            .detail("Upload-Defer-Length is not supported: send Upload-Length."));
    }
    let length = number(&headers, "upload-length")?.ok_or_else(|| {
        ApiError::new(StatusCode::BAD_REQUEST, "invalid_header", "Invalid header").detail("Upload-Length is required")
    })?;
    let meta = metadata(&headers)?;
    let bucket_name =
        meta.get("bucket").ok_or_else(|| ApiError::invalid_field("bucket", "Upload-Metadata must name the bucket"))?;
    let mut tx = db.tenant(tenant).await?;
    let bucket = store::bucket_by_name(&mut tx, tenant, bucket_name).await?.ok_or_else(bucket_not_found)?;
    tx.commit().await?;
    let (filename, folder) = match meta.get("file") {
        Some(_) => (String::new(), String::new()),
        None => (
            check_filename(meta.get("filename").map(String::as_str).unwrap_or_default())?,
            check_folder(meta.get("folder").map(String::as_str))?,
        ),
    };
    let empty = json!({});
    let target = match meta.get("file") {
        Some(id) => Target::Version(Uuid::parse_str(id).map_err(|_| upload_error(UploadError::NotFound))?),
        None => Target::New { folder: &folder, filename: &filename, metadata: &empty },
    };
    let max = files.max_for(&bucket);
    if length > max {
        return Err(upload_error(UploadError::TooLarge { max }));
    }
    let req =
        UploadRequest { tenant, actor: permitted.subject().into(), bucket: &bucket, target, declared: Some(length) };
    let expires_at = Utc::now() + chrono::Duration::from_std(files.inner().tus_expiry).unwrap_or_default();
    let reserved = files.reserve(&db, limits.plan, &req, length, Some(expires_at)).await.map_err(upload_error)?;
    let staged = files.staged_path(reserved.version);
    if let Err(e) = tokio::fs::OpenOptions::new().write(true).create_new(true).open(&staged).await {
        let e = files.failed(&db, tenant, &reserved, &staged, e.into()).await;
        return Err(upload_error(e));
    }
    let upload = TusUpload {
        id: reserved.version,
        file: reserved.file,
        bucket: bucket.id,
        length,
        expires_at,
        key: reserved.key.clone(),
    };
    let with_bytes = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()) == Some(OFFSET_STREAM);
    let offset = if with_bytes || length == 0 {
        let _held = hold(files.busy(), upload.id)?;
        append(&files, &db, &permitted, tenant, &upload, 0, &headers, request.into_body()).await?
    } else {
        0
    };
    let mut response = StatusCode::CREATED.into_response();
    let h = response.headers_mut();
    if let Ok(location) = HeaderValue::from_str(&format!("/v1/files/tus/{}", upload.id)) {
        h.insert(header::LOCATION, location);
    }
    h.insert("upload-offset", offset.into());
    h.insert("upload-expires", expires(expires_at));
    Ok(response)
}

/// The upload, if it is this organization's and still in progress; an expired one is removed.
pub(crate) async fn find(files: &Files, db: &Database, tenant: TenantId, id: &str) -> Result<TusUpload, ApiError> {
    let not_found = || ApiError::not_found("upload_not_found", "No such upload in progress.");
    let id = Uuid::parse_str(id).map_err(|_| not_found())?;
    let mut tx = db.tenant(tenant).await?;
    let upload = store::upload(&mut tx, tenant, id).await?.ok_or_else(not_found)?;
    tx.commit().await?;
    if upload.expires_at <= Utc::now() {
        let _ = tokio::fs::remove_file(files.staged_path(upload.id)).await;
        crate::upload::abandon(db, tenant, upload.id).await;
        return Err(ApiError::new(StatusCode::GONE, "upload_expired", "Upload expired")
            .detail("The upload was not finished in time; start again."));
    }
    Ok(upload)
}

/// Bytes received so far: what is staged on this instance's disk.
async fn offset_of(files: &Files, upload: &TusUpload) -> Result<u64, ApiError> {
    match tokio::fs::metadata(files.staged_path(upload.id)).await {
        Ok(m) => Ok(m.len()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(ApiError::not_found(
            "upload_not_found",
            "The upload's bytes are not on this instance (staging is per instance); start again.",
        )),
        Err(e) => Err(ApiError::internal(e)),
    }
}

/// Where an upload stands (tus core).
#[utoipa::path(head, path = "/v1/files/tus/{id}", tag = "files", security(("bearer" = [])),
    params(("id" = String, Path, description = "The upload's id (from `Location`)")),
    responses(
        (status = 200, description = "`Upload-Offset`, `Upload-Length`, `Upload-Expires`"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`permission_denied`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`upload_not_found`", body = Problem, content_type = "application/problem+json"),
        (status = 410, description = "`upload_expired`", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "`tus_version_unsupported`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn head(
    permitted: Permitted<FilesWrite>,
    State(db): State<Database>,
    State(files): State<Files>,
    UrlPath(id): UrlPath<String>,
    headers: HeaderMap,
) -> Response {
    let result = async {
        let tenant = permitted.tenant()?;
        let upload = find(&files, &db, tenant, &id).await?;
        require_version(&headers)?;
        let offset = offset_of(&files, &upload).await?;
        let mut response = StatusCode::OK.into_response();
        let h = response.headers_mut();
        h.insert("upload-offset", offset.into());
        h.insert("upload-length", upload.length.into());
        h.insert("upload-expires", expires(upload.expires_at));
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        Ok(response)
    };
    answer(result.await)
}

/// Send bytes at `Upload-Offset` (tus core; `Upload-Checksum` with sha1 or sha256). The last
/// bytes run the file through the checks; the answer then says how it went.
#[utoipa::path(patch, path = "/v1/files/tus/{id}", tag = "files", security(("bearer" = [])),
    params(("id" = String, Path, description = "The upload's id (from `Location`)")),
    request_body(content = Vec<u8>, content_type = "application/offset+octet-stream"),
    responses(
        (status = 204, description = "Stored: the new `Upload-Offset`"),
        (status = 400, description = "`invalid_header`, `upload_incomplete`", body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`permission_denied`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`upload_not_found`", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`offset_mismatch`", body = Problem, content_type = "application/problem+json"),
        (status = 410, description = "`upload_expired`", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "`tus_version_unsupported`", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "`upload_length_exceeded`", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "`unsupported_media_type`, `content_type_not_allowed`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`file_quarantined`", body = Problem, content_type = "application/problem+json"),
        (status = 423, description = "`upload_busy`", body = Problem, content_type = "application/problem+json"),
        (status = 460, description = "`checksum_mismatch`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn patch(
    permitted: Permitted<FilesWrite>,
    State(db): State<Database>,
    State(files): State<Files>,
    UrlPath(id): UrlPath<String>,
    request: Request,
) -> Response {
    let result = async {
        let tenant = permitted.tenant()?;
        let upload = find(&files, &db, tenant, &id).await?;
        let headers = request.headers().clone();
        require_version(&headers)?;
        if headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()) != Some(OFFSET_STREAM) {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "Unsupported media type",
            )
            .detail(format!("Send the bytes as {OFFSET_STREAM}.")));
        }
        let offset = number(&headers, "upload-offset")?.ok_or_else(|| {
            ApiError::new(StatusCode::BAD_REQUEST, "invalid_header", "Invalid header")
                .detail("Upload-Offset is required")
        })?;
        let _held = hold(files.busy(), upload.id)?;
        let offset = append(&files, &db, &permitted, tenant, &upload, offset, &headers, request.into_body()).await?;
        let mut response = StatusCode::NO_CONTENT.into_response();
        response.headers_mut().insert("upload-offset", offset.into());
        response.headers_mut().insert("upload-expires", expires(upload.expires_at));
        Ok(response)
    };
    answer(result.await)
}

/// `Upload-Checksum`: the algorithm and the expected digest.
fn checksum(headers: &HeaderMap) -> Result<Option<(&'static ring::digest::Algorithm, Vec<u8>)>, ApiError> {
    let Some(value) = headers.get("upload-checksum") else { return Ok(None) };
    let bad = |m: &str| {
        ApiError::new(StatusCode::BAD_REQUEST, "invalid_header", "Invalid header")
            .detail(format!("Upload-Checksum: {m}"))
    };
    let text = value.to_str().map_err(|_| bad("not ASCII"))?;
    let (name, digest) = text.trim().split_once(' ').ok_or_else(|| bad("`<algorithm> <base64 digest>`"))?;
    let algorithm = match name {
        "sha1" => &ring::digest::SHA1_FOR_LEGACY_USE_ONLY,
        "sha256" => &ring::digest::SHA256,
        _ => return Err(bad("supported algorithms are sha1 and sha256")),
    };
    let digest = STANDARD.decode(digest.trim()).map_err(|_| bad("the digest is not base64"))?;
    Ok(Some((algorithm, digest)))
}

/// Appends the body at `offset` (which must be what is staged), keeping what arrived even if
/// the connection is cut; the last byte finishes the upload. The new offset.
#[allow(clippy::too_many_arguments)]
async fn append(
    files: &Files,
    db: &Database,
    permitted: &Permitted<FilesWrite>,
    tenant: TenantId,
    upload: &TusUpload,
    offset: u64,
    headers: &HeaderMap,
    body: Body,
) -> Result<u64, ApiError> {
    let staged = files.staged_path(upload.id);
    let have = offset_of(files, upload).await?;
    if have != offset {
        return Err(ApiError::conflict("offset_mismatch", format!("The upload has {have} bytes; send from there.")));
    }
    let expected = checksum(headers)?;
    let mut digest = expected.as_ref().map(|(algorithm, _)| ring::digest::Context::new(algorithm));
    let mut file = tokio::fs::OpenOptions::new().append(true).open(&staged).await.map_err(ApiError::internal)?;
    let mut written = offset;
    let mut body = body.into_data_stream();
    let mut cut = None;
    while let Some(chunk) = body.next().await {
        let chunk = match chunk {
            Ok(c) => c,
            Err(e) => {
                cut = Some(e.to_string());
                break;
            }
        };
        if written + chunk.len() as u64 > upload.length {
            truncate(&staged, offset).await?;
            return Err(ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "upload_length_exceeded", "Upload too long")
                .detail(format!("The upload was created with Upload-Length {}.", upload.length)));
        }
        if let Some(d) = digest.as_mut() {
            d.update(&chunk);
        }
        file.write_all(&chunk).await.map_err(ApiError::internal)?;
        written += chunk.len() as u64;
    }
    file.sync_data().await.map_err(ApiError::internal)?;
    drop(file);
    if let Some((_, want)) = &expected {
        let got = digest.map(|d| d.finish().as_ref().to_vec()).unwrap_or_default();
        if cut.is_some() || &got != want {
            // The chunk is dropped whole: the client sends it again from `offset`.
            truncate(&staged, offset).await?;
            let status = StatusCode::from_u16(460).unwrap_or(StatusCode::BAD_REQUEST);
            return Err(ApiError::new(status, "checksum_mismatch", "Checksum mismatch")
                .detail("The chunk's checksum does not match what arrived; it was discarded."));
        }
    }
    metrics::counter!("vextrus_files_tus_bytes_total").increment(written - offset);
    if let Some(why) = cut {
        return Err(ApiError::new(StatusCode::BAD_REQUEST, "upload_incomplete", "Upload incomplete")
            .detail(format!("The request body ended early ({why}); {written} bytes are kept: resume from there.")));
    }
    if written == upload.length {
        finish(files, db, permitted, tenant, upload, &staged).await?;
    }
    Ok(written)
}

async fn truncate(staged: &Path, len: u64) -> Result<(), ApiError> {
    let file = tokio::fs::OpenOptions::new().write(true).open(staged).await.map_err(ApiError::internal)?;
    file.set_len(len).await.map_err(ApiError::internal)?;
    file.sync_data().await.map_err(ApiError::internal)
}

/// The last byte is in: the staged file takes the pipeline's checks.
async fn finish(
    files: &Files,
    db: &Database,
    permitted: &Permitted<FilesWrite>,
    tenant: TenantId,
    upload: &TusUpload,
    staged: &Path,
) -> Result<(), ApiError> {
    let mut tx = db.tenant(tenant).await?;
    let bucket = store::bucket_by_id(&mut tx, tenant, upload.bucket).await?.ok_or_else(bucket_not_found)?;
    tx.commit().await?;
    let reserved = Reserved { file: upload.file, version: upload.id, key: upload.key.clone(), reserved: upload.length };
    let req = UploadRequest {
        tenant,
        actor: permitted.subject().into(),
        bucket: &bucket,
        target: Target::Version(upload.file),
        declared: Some(upload.length),
    };
    let checked = async {
        let sha256 = sha256_of(staged).await?;
        files.finish_staged(db, &req, &reserved, staged, upload.length, sha256, false).await
    };
    match checked.await {
        Ok(_) => Ok(()),
        Err(e) => Err(upload_error(files.failed(db, tenant, &reserved, staged, e).await)),
    }
}

async fn sha256_of(path: &Path) -> Result<Vec<u8>, UploadError> {
    let mut file = tokio::fs::File::open(path).await?;
    let mut hash = ring::digest::Context::new(&ring::digest::SHA256);
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        hash.update(&buf[..n]);
    }
    Ok(hash.finish().as_ref().to_vec())
}

/// Cancel an upload (tus termination): its bytes and its reservation are given up.
#[utoipa::path(delete, path = "/v1/files/tus/{id}", tag = "files", security(("bearer" = [])),
    params(("id" = String, Path, description = "The upload's id (from `Location`)")),
    responses(
        (status = 204, description = "Cancelled"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`permission_denied`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`upload_not_found`", body = Problem, content_type = "application/problem+json"),
        (status = 410, description = "`upload_expired`", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "`tus_version_unsupported`", body = Problem, content_type = "application/problem+json"),
        (status = 423, description = "`upload_busy`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn terminate(
    permitted: Permitted<FilesWrite>,
    State(db): State<Database>,
    State(files): State<Files>,
    UrlPath(id): UrlPath<String>,
    headers: HeaderMap,
) -> Response {
    let result = async {
        let tenant = permitted.tenant()?;
        let upload = find(&files, &db, tenant, &id).await?;
        require_version(&headers)?;
        let _held = hold(files.busy(), upload.id)?;
        let mut tx = db.tenant(tenant).await?;
        if let Some(reserved) = store::drop_pending(&mut tx, tenant, upload.id).await? {
            vextrus_tenancy::plans::release_storage(&mut tx, tenant, reserved).await?;
        }
        let event = NewEvent::new(tenant, permitted.subject().into(), "files.upload.cancel")
            .target(AuditTarget::new("file", upload.file))
            .metadata(json!({"upload": upload.id, "length": upload.length}));
        vextrus_audit::record(&mut tx, event).await?;
        tx.commit().await?;
        let _ = tokio::fs::remove_file(files.staged_path(upload.id)).await;
        Ok(StatusCode::NO_CONTENT.into_response())
    };
    answer(result.await)
}

//! The one pipeline every upload takes (the streamed `POST`, multipart forms, tus, a module's
//! own call), in the write order that keeps the object store and the database in agreement:
//!
//! 1. storage reserved from the organization's plan (one conditional statement: concurrent
//!    uploads can never together pass it) and a `pending` version row, in one transaction;
//! 2. the bytes staged on disk, counted (never more than reserved) and hashed;
//! 3. sniffed, checked against the bucket's allow-list, scanned by clamd;
//! 4. the object stored at a key made of ids (quarantined bytes are not kept);
//! 5. the outcome, the storage settled and the audit event, in one transaction.
//!
//! A failure at 2–4 removes the pending row and gives the reservation back; a crash leaves a
//! `pending` row (and perhaps an object) that the reconcile job finds and repairs.

use std::path::{Path, PathBuf};

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use serde_json::{Value, json};
use uuid::Uuid;
use vextrus_audit::{Actor, NewEvent, Outcome, Target as AuditTarget};
use vextrus_db::{Database, DbError, TenantId};
use vextrus_server::PlanLimits;

use crate::Files;
use crate::model::{Bucket, State};
use crate::scan::{Unscanned, Verdict};
use crate::store::{self, Checked, NewFile};

/// What is being uploaded: a new file, or a new version of one.
#[derive(Debug, Clone)]
pub enum Target<'a> {
    New { folder: &'a str, filename: &'a str, metadata: &'a Value },
    Version(Uuid),
}

#[derive(Debug)]
pub struct UploadRequest<'a> {
    pub tenant: TenantId,
    pub actor: Actor,
    pub bucket: &'a Bucket,
    pub target: Target<'a>,
    /// The size the client announced (`Content-Length`, tus's `Upload-Length`), if any: the
    /// reservation; the bytes are still counted and may not pass it.
    pub declared: Option<u64>,
}

/// A finished upload.
#[derive(Debug, Clone)]
pub struct Uploaded {
    pub file: Uuid,
    pub version: Uuid,
    pub state: State,
    /// The file as it is after the upload.
    pub detail: crate::model::FileDetail,
}

#[derive(Debug, thiserror::Error)]
pub enum UploadError {
    #[error("the file is larger than the bucket allows ({max} bytes)")]
    TooLarge { max: u64 },
    #[error("the organization's storage is full: {used} of {limit} bytes used or reserved")]
    Quota { used: u64, limit: u64 },
    #[error("files of type {0} are not allowed in this bucket")]
    NotAllowed(String),
    #[error("malware was found ({signature}); the file is quarantined")]
    Quarantined { file: Uuid, version: Uuid, signature: String },
    #[error("no such file")]
    NotFound,
    #[error("the organization has as many resumable uploads in progress as it may")]
    TooManyUploads,
    #[error("{stored} bytes arrived where {announced} were announced")]
    SizeMismatch { announced: u64, stored: u64 },
    #[error("the upload was cut off: {0}")]
    Body(String),
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("object storage: {0}")]
    Storage(#[from] vextrus_storage::StorageError),
    #[error("staging: {0}")]
    Io(#[from] std::io::Error),
}

/// An upload whose storage is reserved and whose `pending` rows are written (step 1).
#[derive(Debug, Clone)]
pub struct Reserved {
    pub file: Uuid,
    pub version: Uuid,
    pub key: String,
    pub reserved: u64,
}

impl Files {
    /// Runs `body` through the pipeline into `req.bucket`.
    pub async fn upload<S, E>(
        &self,
        db: &Database,
        defaults: PlanLimits,
        req: UploadRequest<'_>,
        body: S,
    ) -> Result<Uploaded, UploadError>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        let max = self.max_for(req.bucket);
        let reserve = match req.declared {
            Some(n) if n > max => return Err(UploadError::TooLarge { max }),
            Some(n) => n,
            None => max,
        };
        let reserved = self.reserve(db, defaults, &req, reserve, None).await?;
        let staged = self.staged_path(reserved.version);
        let result = async {
            let (size, sha256) = stage(&staged, body, reserve, max).await?;
            self.finish_staged(db, &req, &reserved, &staged, size, sha256, false).await
        };
        match result.await {
            Ok(done) => Ok(done),
            Err(e) => Err(self.failed(db, req.tenant, &reserved, &staged, e).await),
        }
    }

    /// The largest file `bucket` takes here.
    pub fn max_for(&self, bucket: &Bucket) -> u64 {
        bucket.max_size.min(self.inner().max_file_bytes)
    }

    /// Where a version's bytes are staged.
    pub fn staged_path(&self, version: Uuid) -> PathBuf {
        self.inner().staging.join(version.to_string())
    }

    /// Step 1: `reserve` bytes of the organization's storage and the pending rows (with a
    /// resumable upload's row when `resumable` says until when it may take).
    pub async fn reserve(
        &self,
        db: &Database,
        defaults: PlanLimits,
        req: &UploadRequest<'_>,
        reserve: u64,
        resumable: Option<chrono::DateTime<chrono::Utc>>,
    ) -> Result<Reserved, UploadError> {
        let tenant = req.tenant;
        let version = Uuid::now_v7();
        let key = format!("files/{tenant}/{}/{version}", req.bucket.id);
        let mut tx = db.tenant(tenant).await?;
        if resumable.is_some() {
            vextrus_db::limits::lock_count(&mut tx, &format!("tus:{tenant}")).await?;
            if store::count_uploads(&mut tx, tenant).await? >= crate::tus::MAX_UPLOADS {
                return Err(UploadError::TooManyUploads);
            }
        }
        let uploader = req.actor.id;
        let file = match &req.target {
            Target::New { folder, filename, metadata } => {
                let id = Uuid::now_v7();
                let new = NewFile { id, bucket: req.bucket.id, folder, filename, metadata, created_by: uploader };
                store::insert_file_with_version(&mut tx, tenant, &new, version, &key, reserve).await?;
                id
            }
            Target::Version(id) => {
                let found = store::file(&mut tx, tenant, *id).await?;
                match found {
                    Some(f) if f.bucket_id == req.bucket.id && f.file.deleted_at.is_none() => {}
                    _ => return Err(UploadError::NotFound),
                }
                store::insert_version(&mut tx, tenant, *id, version, &key, reserve, uploader).await?;
                *id
            }
        };
        if let Some(expires_at) = resumable {
            store::insert_upload(&mut tx, tenant, version, reserve, expires_at, uploader).await?;
        }
        // The reservation locks the organization's storage row until the commit: it comes last
        // (a refusal rolls the rows above back), so concurrent uploads wait on it the least.
        let plan = vextrus_tenancy::plans::of(&mut tx, tenant, defaults).await?;
        if !vextrus_tenancy::plans::reserve_storage(&mut tx, tenant, reserve, plan.limits.storage_bytes).await? {
            let usage = vextrus_tenancy::plans::storage(&mut tx, tenant).await?;
            return Err(UploadError::Quota { used: usage.used + usage.reserved, limit: plan.limits.storage_bytes });
        }
        if let Some(expires_at) = resumable {
            let event = NewEvent::new(tenant, req.actor.clone(), "files.upload.create")
                .target(AuditTarget::new("file", file))
                .metadata(
                    json!({"bucket": req.bucket.name, "upload": version, "length": reserve, "expires_at": expires_at}),
                );
            vextrus_audit::record(&mut tx, event).await?;
        }
        tx.commit().await?;
        Ok(Reserved { file, version, key, reserved: reserve })
    }

    /// Cleans up after a failed upload (the staged bytes, the pending rows, the reservation;
    /// a quarantined version stays, recorded) and answers the error.
    pub async fn failed(
        &self,
        db: &Database,
        tenant: TenantId,
        reserved: &Reserved,
        staged: &Path,
        e: UploadError,
    ) -> UploadError {
        metrics::counter!("vextrus_files_uploads_total", "outcome" => outcome_label(&e)).increment(1);
        let _ = tokio::fs::remove_file(staged).await;
        // (A direct upload's bytes are in the store already.)
        if let Err(err) = self.inner().storage.delete(&reserved.key).await {
            tracing::warn!(error = %err, key = %reserved.key, "a failed upload's object stays for the reconcile job");
        }
        if !matches!(e, UploadError::Quarantined { .. }) {
            abandon(db, tenant, reserved.version).await;
        }
        e
    }

    /// Steps 3 to 5, for `size` bytes staged at `staged` whose SHA-256 is `sha256`;
    /// `in_store`: the object is at its key already (a direct upload), only checked here.
    #[allow(clippy::too_many_arguments)]
    pub async fn finish_staged(
        &self,
        db: &Database,
        req: &UploadRequest<'_>,
        reserved: &Reserved,
        staged: &Path,
        size: u64,
        sha256: Vec<u8>,
        in_store: bool,
    ) -> Result<Uploaded, UploadError> {
        let (file, version, key, reserve) = (reserved.file, reserved.version, reserved.key.as_str(), reserved.reserved);
        metrics::counter!("vextrus_files_bytes_in_total").increment(size);
        let sniffed = crate::sniff::sniff_file(staged.to_path_buf()).await?;
        let content_type = sniffed.media_type().to_owned();
        if !crate::sniff::allowed(&req.bucket.allowed_types, &content_type) {
            return Err(UploadError::NotAllowed(content_type));
        }
        let verdict = match &self.inner().scanner {
            Some(scanner) => scanner.scan(tokio::fs::File::open(staged).await?, size).await,
            None => Verdict::Unscanned(Unscanned::Unavailable("no scanner is configured (files.clamd)".into())),
        };
        let scan = verdict.code();
        let (state, detail) = match &verdict {
            Verdict::Clean => (State::Ready, None),
            Verdict::Infected(signature) => (State::Quarantined, Some(signature.clone())),
            Verdict::Unscanned(Unscanned::TooLarge) => (State::Unscanned, Some("larger than the scanner takes".into())),
            Verdict::Unscanned(Unscanned::Unavailable(why) | Unscanned::Error(why)) => {
                (State::Unscanned, Some(why.clone()))
            }
        };
        metrics::counter!("vextrus_files_scans_total", "result" => scan).increment(1);
        if state == State::Quarantined {
            tokio::fs::remove_file(staged).await?;
            if in_store {
                self.inner().storage.delete(key).await?;
            }
        } else if in_store {
            tokio::fs::remove_file(staged).await?;
        } else {
            self.inner().storage.put_file(key, staged).await?;
        }
        let detail: Option<String> = detail.map(|d| d.chars().take(200).collect());
        let checked =
            Checked { state, size, sha256: &sha256, content_type: &content_type, scan, scan_detail: detail.as_deref() };
        let tenant = req.tenant;
        let finished = async {
            let mut tx = db.tenant(tenant).await?;
            if store::finish_version(&mut tx, tenant, version, &checked).await?.is_none() {
                return Ok::<_, DbError>(None);
            }
            let action = if state == State::Quarantined { "files.file.quarantine" } else { "files.file.upload" };
            let mut event = NewEvent::new(tenant, req.actor.clone(), action)
                .target(AuditTarget::new("file", file))
                .metadata(json!({
                    "bucket": req.bucket.name, "version": version, "state": state.as_str(), "size": size,
                    "sha256": store::hex(&sha256), "content_type": content_type, "scan": scan, "scan_detail": detail,
                }));
            if state == State::Quarantined {
                event = event.outcome(Outcome::Denied);
            }
            if state != State::Quarantined && crate::thumbs::format_of(&content_type).is_some() {
                vextrus_db::jobs::enqueue(&mut tx, &crate::thumbs::MakeThumbnails { version }).await?;
            }
            let detail = store::detail(&mut tx, tenant, file).await?;
            // Last before the commit: settling locks the organization's storage row and the
            // audit append its chain head until then, so every upload of the organization waits
            // for them.
            let stored = if state == State::Quarantined { 0 } else { size };
            vextrus_tenancy::plans::settle_storage(&mut tx, tenant, reserve, stored).await?;
            vextrus_audit::record(&mut tx, event).await?;
            tx.commit().await?;
            Ok(detail)
        };
        let detail = match finished.await {
            Ok(Some(detail)) => detail,
            Ok(None) => {
                // The reconcile job gave up on this upload meanwhile: nothing may stay of it.
                let _ = self.inner().storage.delete(key).await;
                return Err(UploadError::NotFound);
            }
            Err(e) => {
                let _ = self.inner().storage.delete(key).await;
                return Err(e.into());
            }
        };
        metrics::counter!("vextrus_files_uploads_total", "outcome" => state.as_str()).increment(1);
        if let Verdict::Infected(signature) = verdict {
            return Err(UploadError::Quarantined { file, version, signature });
        }
        Ok(Uploaded { file, version, state, detail })
    }
}

fn outcome_label(e: &UploadError) -> &'static str {
    match e {
        UploadError::TooLarge { .. } => "too_large",
        UploadError::Quota { .. } => "quota",
        UploadError::NotAllowed(_) => "type_refused",
        UploadError::Quarantined { .. } => "quarantined",
        UploadError::NotFound => "gone",
        UploadError::TooManyUploads => "too_many_uploads",
        UploadError::SizeMismatch { .. } => "size_mismatch",
        UploadError::Body(_) => "cut_off",
        UploadError::Db(_) | UploadError::Storage(_) | UploadError::Io(_) => "error",
    }
}

/// Writes the body to `path`, counting and hashing; at most `reserve` bytes (and `max`). The
/// bytes are gathered into 1 MiB pieces that a blocking thread hashes and writes while the
/// next ones arrive (hashing a large file on the async threads would hold them for seconds).
async fn stage<S, E>(path: &Path, mut body: S, reserve: u64, max: u64) -> Result<(u64, Vec<u8>), UploadError>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    const PIECE: usize = 1 << 20;
    let file = std::fs::OpenOptions::new().write(true).create_new(true).open(path)?;
    let (pieces, received) = std::sync::mpsc::sync_channel::<Vec<u8>>(4);
    let writer = tokio::task::spawn_blocking(move || -> std::io::Result<Vec<u8>> {
        use std::io::Write;
        let mut file = file;
        let mut hash = ring::digest::Context::new(&ring::digest::SHA256);
        for piece in received {
            hash.update(&piece);
            file.write_all(&piece)?;
        }
        file.sync_data()?;
        Ok(hash.finish().as_ref().to_vec())
    });
    let mut size = 0u64;
    let mut piece = Vec::with_capacity(PIECE);
    let received = async {
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(|e| UploadError::Body(e.to_string()))?;
            size += chunk.len() as u64;
            if size > reserve {
                return Err(UploadError::TooLarge { max: reserve.min(max) });
            }
            piece.extend_from_slice(&chunk);
            if piece.len() >= PIECE {
                let full = std::mem::replace(&mut piece, Vec::with_capacity(PIECE));
                // The writer is gone only after an error of its own, reported below.
                if send(&pieces, full).await.is_err() {
                    break;
                }
            }
        }
        if !piece.is_empty() {
            let _ = send(&pieces, std::mem::take(&mut piece)).await;
        }
        Ok(())
    };
    let outcome = received.await;
    drop(pieces);
    let written = writer.await.map_err(std::io::Error::other)?;
    outcome?;
    Ok((size, written?))
}

/// Hands a piece to the writer thread, waiting (off the async threads) while it is behind.
async fn send(pieces: &std::sync::mpsc::SyncSender<Vec<u8>>, piece: Vec<u8>) -> Result<(), ()> {
    match pieces.try_send(piece) {
        Ok(()) => Ok(()),
        Err(std::sync::mpsc::TrySendError::Disconnected(_)) => Err(()),
        Err(std::sync::mpsc::TrySendError::Full(piece)) => {
            let pieces = pieces.clone();
            tokio::task::spawn_blocking(move || pieces.send(piece).map_err(|_| ())).await.map_err(|_| ())?
        }
    }
}

/// Removes what a failed upload left in the database and gives its reservation back.
pub(crate) async fn abandon(db: &Database, tenant: TenantId, version: Uuid) {
    let undone = async {
        let mut tx = db.tenant(tenant).await?;
        if let Some(reserved) = store::drop_pending(&mut tx, tenant, version).await? {
            vextrus_tenancy::plans::release_storage(&mut tx, tenant, reserved).await?;
        }
        tx.commit().await
    };
    if let Err(e) = undone.await {
        tracing::warn!(error = %e, %version, "an abandoned upload's row stays pending until the reconcile job");
    }
}

//! What the files module keeps: buckets, files and their versions.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;
use uuid::Uuid;

/// A bucket: where an organization keeps one kind of document, under its own rules.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Bucket {
    pub id: Uuid,
    /// `[a-z0-9][a-z0-9-]{1,62}`, unique in the organization, e.g. `hr-documents`.
    pub name: String,
    /// Media types (as sniffed from the bytes) a file may have; `image/*` allows every image;
    /// empty: any.
    pub allowed_types: Vec<String>,
    /// Bytes a file may have.
    pub max_size: u64,
    /// Days a deleted file stays in the trash before it is purged.
    pub trash_days: u32,
    /// Whether signed links to its files may be made.
    pub signed_links: bool,
    /// The permission a reader needs besides `files.read`.
    pub read_permission: Option<String>,
    /// Whether files the scanner could not judge (too large, scanner down) may be downloaded.
    pub unscanned_readable: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A version's state: `pending` while it is being uploaded and checked; `ready` when scanned
/// clean; `unscanned` when the scanner could not judge it (never counted clean); `quarantined`
/// when malware was found (its bytes are not kept and it is never served); `lost` when the
/// reconcile job found its object gone from the store (never served; reported).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum State {
    Pending,
    Ready,
    Unscanned,
    Quarantined,
    Lost,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Pending => "pending",
            State::Ready => "ready",
            State::Unscanned => "unscanned",
            State::Quarantined => "quarantined",
            State::Lost => "lost",
        }
    }

    pub fn parse(s: &str) -> Self {
        match s {
            "ready" => State::Ready,
            "unscanned" => State::Unscanned,
            "quarantined" => State::Quarantined,
            "lost" => State::Lost,
            _ => State::Pending,
        }
    }
}

/// One content of a file.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Version {
    pub id: Uuid,
    /// 1 for the first upload, then one more for each new content.
    pub number: i32,
    pub state: State,
    pub size: Option<u64>,
    /// Hex.
    pub sha256: Option<String>,
    /// Sniffed from the bytes (never the client's word).
    pub content_type: Option<String>,
    /// `clean`, `infected`, `too_large`, `unavailable` or `error`.
    pub scan: Option<String>,
    /// The signature found, or why the scan did not complete.
    pub scan_detail: Option<String>,
    pub uploaded_by: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    /// Raster images: `made` (sizes 128 and 512 at `…/thumbnail?size=`), or `refused: <why>`;
    /// absent while the job has not run, and for other types.
    pub thumbnails: Option<String>,
}

/// A file: a name in a folder of a bucket, with its current content.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct File {
    pub id: Uuid,
    pub bucket: String,
    pub folder: String,
    pub filename: String,
    pub metadata: Value,
    /// The version downloads serve; absent until one passed its checks.
    pub current: Option<Version>,
    pub legal_hold: bool,
    /// When it was moved to the trash.
    pub deleted_at: Option<DateTime<Utc>>,
    pub created_by: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A file with its versions, as its detail answers.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct FileDetail {
    #[serde(flatten)]
    pub file: File,
    /// Every version, newest first.
    pub versions: Vec<Version>,
}

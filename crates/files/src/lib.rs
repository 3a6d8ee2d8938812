//! Files: organizations' documents on the object store (a local directory or S3/MinIO).
//!
//! Buckets hold files under their own rules; a file's contents are its versions, each an
//! immutable object whose key is made of ids. Every upload, whatever way it came in, takes the
//! one pipeline of [`upload`]: storage reserved from the organization's plan in one conditional
//! statement → a `pending` row → the bytes staged on disk, hashed (SHA-256) → [`sniff`]ed (what
//! the bytes are; the client's `Content-Type` and extension are never trusted) → the bucket's
//! allow-list → [`scan`] by ClamAV's `clamd` → the object stored → `ready`, `unscanned` or
//! `quarantined` in one transaction with its audit event.

pub mod direct;
pub mod download;
pub mod http;
pub mod links;
pub mod maintain;
pub mod model;
pub mod permissions;
pub mod scan;
pub mod sniff;
pub mod store;
pub mod thumbs;
pub mod tus;
pub mod upload;

use std::path::PathBuf;
use std::sync::Arc;

use vextrus_db::{Migration, ModuleMigrations};
use vextrus_server::AppState;
use vextrus_storage::Storage;

pub use permissions::PERMISSIONS;

pub const MIGRATIONS: ModuleMigrations = ModuleMigrations {
    module: "files",
    migrations: &[
        Migration { version: 1, name: "files", sql: include_str!("../migrations/0001_files.sql") },
        Migration { version: 2, name: "tus", sql: include_str!("../migrations/0002_tus.sql") },
        Migration { version: 3, name: "links", sql: include_str!("../migrations/0003_links.sql") },
        Migration { version: 4, name: "thumbnails", sql: include_str!("../migrations/0004_thumbnails.sql") },
    ],
};

/// The files module's state; cheap to clone.
#[derive(Debug, Clone)]
pub struct Files(Arc<Inner>, Arc<tus::Busy>);

#[derive(Debug)]
pub struct Inner {
    pub storage: Storage,
    /// Where uploads are written while they are checked; on the local backend, a directory on
    /// the object directory's file system (a checked file is moved in by a rename).
    pub staging: PathBuf,
    /// `None`: no scanner configured; every file is `unscanned`.
    pub scanner: Option<scan::Scanner>,
    /// The largest file any bucket may allow.
    pub max_file_bytes: u64,
    /// How long a resumable upload may take from its creation.
    pub tus_expiry: std::time::Duration,
    /// How long one upload request may take (`files.request_timeout_secs`): a `pending` version
    /// older than this (and a margin) belongs to an upload that will never finish.
    pub upload_deadline: std::time::Duration,
    /// What signed links are signed with ([`links::link_key`]).
    pub link_key: ring::hmac::Key,
    /// The platform's public URL, for the links it hands out.
    pub public_url: String,
}

impl Files {
    pub fn new(inner: Inner) -> std::io::Result<Self> {
        std::fs::create_dir_all(&inner.staging)?;
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&inner.staging, std::fs::Permissions::from_mode(0o700))?;
        }
        Ok(Self(Arc::new(inner), Arc::default()))
    }

    pub fn inner(&self) -> &Inner {
        &self.0
    }

    pub(crate) fn busy(&self) -> &Arc<tus::Busy> {
        &self.1
    }
}

impl axum::extract::FromRef<AppState> for Files {
    fn from_ref(state: &AppState) -> Self {
        state.module::<Files>()
    }
}

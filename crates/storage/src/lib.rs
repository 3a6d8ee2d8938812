//! Object storage shared by the modules that keep bytes (the registry's tarballs, later user
//! files), through `object_store`: a local directory by default, S3/MinIO by configuration.
//! Keys are plain strings (`registry/sha512/<hex>`); content-addressed keys make a second write
//! of the same key the same bytes, so writes never replace what is there.

pub mod presign;

use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::stream::BoxStream;
use futures_util::{StreamExt, TryStreamExt};
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, PutMode, PutOptions, PutPayload};

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("object storage: {0}")]
    Store(#[from] object_store::Error),
    #[error("object storage directory {path}: {source}")]
    Directory { path: String, source: std::io::Error },
}

/// A handle on the object store; cheap to clone.
#[derive(Debug, Clone)]
pub struct Storage {
    store: Arc<dyn ObjectStore>,
    /// Whether the store refuses a create over an existing object by itself (the local file
    /// system); S3-compatible servers differ, so there a write is preceded by a lookup.
    atomic_create: bool,
    /// The directory of the local backend, where a staged file can be moved in by a rename.
    local_root: Option<std::path::PathBuf>,
    /// The S3 backend's bucket and credentials, for presigned URLs.
    s3: Option<Arc<S3Settings>>,
}

/// An S3 or S3-compatible (MinIO) bucket.
#[derive(Debug, Clone)]
pub struct S3Settings {
    pub bucket: String,
    pub region: String,
    /// For MinIO and other S3-compatible servers; `None`: AWS.
    pub endpoint: Option<String>,
    pub access_key_id: String,
    pub secret_access_key: String,
    /// Allow `http://` endpoints (a MinIO on the same host).
    pub allow_http: bool,
}

/// An object being read: its size and its bytes, as a stream (never held whole in memory).
pub struct Object {
    pub size: u64,
    pub bytes: BoxStream<'static, Result<Bytes, std::io::Error>>,
}

impl std::fmt::Debug for Object {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Object").field("size", &self.size).finish_non_exhaustive()
    }
}

impl Storage {
    /// Objects as files under `dir` (created if missing).
    pub fn local(dir: &Path) -> Result<Self, StorageError> {
        let directory = |source| StorageError::Directory { path: dir.display().to_string(), source };
        std::fs::create_dir_all(dir).map_err(directory)?;
        // Organizations' objects are the platform's alone: whatever mode a file inside gets, no
        // other user of the machine can reach it through a directory only we may enter.
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(directory)?;
        }
        let store = LocalFileSystem::new_with_prefix(dir)?;
        Ok(Storage { store: Arc::new(store), atomic_create: true, local_root: Some(dir.to_path_buf()), s3: None })
    }

    /// Objects in an S3 bucket.
    pub fn s3(settings: &S3Settings) -> Result<Self, StorageError> {
        let mut builder = AmazonS3Builder::new()
            .with_bucket_name(&settings.bucket)
            .with_region(&settings.region)
            .with_access_key_id(&settings.access_key_id)
            .with_secret_access_key(&settings.secret_access_key)
            .with_allow_http(settings.allow_http);
        if let Some(endpoint) = &settings.endpoint {
            builder = builder.with_endpoint(endpoint).with_virtual_hosted_style_request(false);
        }
        Ok(Storage {
            store: Arc::new(builder.build()?),
            atomic_create: false,
            local_root: None,
            s3: Some(Arc::new(settings.clone())),
        })
    }

    /// Writes `bytes` at `key` unless an object is already there; answers whether it wrote.
    /// Keys are content-addressed, so two writers racing on one key write the same bytes.
    pub async fn put_if_absent(&self, key: &str, bytes: Bytes) -> Result<bool, StorageError> {
        let path = ObjectPath::from(key);
        if !self.atomic_create {
            match self.store.head(&path).await {
                Ok(_) => return Ok(false),
                Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(e.into()),
            }
        }
        let mode = if self.atomic_create { PutMode::Create } else { PutMode::Overwrite };
        let options = PutOptions { mode, ..Default::default() };
        match self.store.put_opts(&path, PutPayload::from_bytes(bytes), options).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::AlreadyExists { .. }) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// Starts writing the object at `key` piece by piece (a multipart upload: at most one part is
    /// held in memory). Nothing is visible at `key` until [`Upload::finish`]; it replaces what
    /// was there.
    pub async fn upload(&self, key: &str) -> Result<Upload, StorageError> {
        let upload = self.store.put_multipart(&ObjectPath::from(key)).await?;
        // 10 MiB parts (S3 takes 5 MiB and up): half the requests of the default.
        Ok(Upload(object_store::WriteMultipart::new_with_chunk_size(upload, 10 << 20)))
    }

    /// The local backend's directory (`None` on S3): a staging directory beside it on the same
    /// file system lets [`Storage::put_file`] move a file in without copying it.
    pub fn local_root(&self) -> Option<&Path> {
        self.local_root.as_deref()
    }

    /// Stores the file at `staged` as the object at `key` (replacing any), consuming the file:
    /// on the local backend a rename when both are on one file system, else a streamed upload
    /// that holds at most a few parts in memory.
    pub async fn put_file(&self, key: &str, staged: &Path) -> Result<(), StorageError> {
        if let Some(root) = &self.local_root {
            let target = root.join(ObjectPath::from(key).as_ref());
            let moved = async {
                if let Some(parent) = target.parent() {
                    tokio::fs::create_dir_all(parent).await?;
                }
                tokio::fs::rename(staged, &target).await
            };
            match moved.await {
                Ok(()) => return Ok(()),
                // Another file system (EXDEV): copy through the store below.
                Err(e) if e.raw_os_error() == Some(18) => {}
                Err(source) => return Err(StorageError::Directory { path: target.display().to_string(), source }),
            }
        }
        let io = |source| StorageError::Directory { path: staged.display().to_string(), source };
        let mut file = tokio::fs::File::open(staged).await.map_err(io)?;
        let mut upload = self.upload(key).await?;
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let n = tokio::io::AsyncReadExt::read(&mut file, &mut buf).await.map_err(io)?;
            if n == 0 {
                break;
            }
            if let Err(e) = upload.write(&buf[..n]).await {
                let _ = upload.abort().await;
                return Err(e);
            }
        }
        upload.finish().await?;
        let _ = tokio::fs::remove_file(staged).await;
        Ok(())
    }

    /// Bytes `start..end` of the object at `key`, streamed; `None` if there is none.
    pub async fn get_range(&self, key: &str, range: std::ops::Range<u64>) -> Result<Option<Object>, StorageError> {
        if let Some(root) = &self.local_root {
            return local_read(root, key, Some(range)).await;
        }
        let options = object_store::GetOptions { range: Some(range.into()), ..Default::default() };
        match self.store.get_opts(&ObjectPath::from(key), options).await {
            Ok(found) => {
                let size = found.range.end - found.range.start;
                let bytes = found.into_stream().map_err(std::io::Error::other).boxed();
                Ok(Some(Object { size, bytes }))
            }
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// On S3, a URL that lets its holder `PUT` the object at `key` for `expires_secs`, with
    /// exactly this `Content-Type` (it is signed); `None` on the local backend.
    pub fn presigned_put(&self, key: &str, content_type: &str, expires_secs: u64) -> Option<String> {
        let s3 = self.s3.as_ref()?;
        let (origin, path) = match &s3.endpoint {
            Some(endpoint) => (endpoint.trim_end_matches('/').to_owned(), format!("/{}/{key}", s3.bucket)),
            None => (format!("https://{}.s3.{}.amazonaws.com", s3.bucket, s3.region), format!("/{key}")),
        };
        Some(presign::presign(&presign::Presign {
            method: "PUT",
            origin: &origin,
            path: &path,
            region: &s3.region,
            access_key_id: &s3.access_key_id,
            secret_access_key: &s3.secret_access_key,
            expires_secs,
            headers: &[("content-type", content_type)],
            now: chrono::Utc::now(),
        }))
    }

    /// The size of the object at `key`; `None` if there is none.
    pub async fn size(&self, key: &str) -> Result<Option<u64>, StorageError> {
        match self.store.head(&ObjectPath::from(key)).await {
            Ok(meta) => Ok(Some(meta.size)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Whether an object is at `key`.
    pub async fn exists(&self, key: &str) -> Result<bool, StorageError> {
        match self.store.head(&ObjectPath::from(key)).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// The keys under `prefix` (a `/`-separated path) with when each was last written.
    pub async fn list(&self, prefix: &str) -> Result<Vec<(String, chrono::DateTime<chrono::Utc>)>, StorageError> {
        let mut found = Vec::new();
        let mut listing = self.store.list(Some(&ObjectPath::from(prefix)));
        while let Some(meta) = listing.next().await {
            let meta = meta?;
            found.push((meta.location.to_string(), meta.last_modified));
        }
        Ok(found)
    }

    /// Removes the object at `key` (nothing there is not an error).
    pub async fn delete(&self, key: &str) -> Result<(), StorageError> {
        match self.store.delete(&ObjectPath::from(key)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// The object at `key`, streamed; `None` if there is none.
    pub async fn get(&self, key: &str) -> Result<Option<Object>, StorageError> {
        if let Some(root) = &self.local_root {
            return local_read(root, key, None).await;
        }
        match self.store.get(&ObjectPath::from(key)).await {
            Ok(found) => {
                let size = found.meta.size;
                let bytes = found.into_stream().map_err(std::io::Error::other).boxed();
                Ok(Some(Object { size, bytes }))
            }
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }
}

/// Reads of the local backend in pieces this large (object_store's own local reads go 8 KiB at
/// a time, each a blocking task: a tenth of what the disk gives).
const LOCAL_READ: usize = 256 * 1024;

async fn local_read(
    root: &Path,
    key: &str,
    range: Option<std::ops::Range<u64>>,
) -> Result<Option<Object>, StorageError> {
    use tokio::io::{AsyncReadExt, AsyncSeekExt};
    let path = root.join(ObjectPath::from(key).as_ref());
    let io = |source| StorageError::Directory { path: path.display().to_string(), source };
    let mut file = match tokio::fs::File::open(&path).await {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io(e)),
    };
    let len = file.metadata().await.map_err(io)?.len();
    let range = range.unwrap_or(0..len);
    let (start, end) = (range.start.min(len), range.end.min(len));
    if start > 0 {
        file.seek(std::io::SeekFrom::Start(start)).await.map_err(io)?;
    }
    let size = end - start;
    let bytes = futures_util::stream::try_unfold((file, size), |(mut file, left)| async move {
        if left == 0 {
            return Ok(None);
        }
        let mut buf = vec![0u8; LOCAL_READ.min(left as usize)];
        let n = file.read(&mut buf).await?;
        if n == 0 {
            return Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "the object is shorter than it was"));
        }
        buf.truncate(n);
        Ok(Some((Bytes::from(buf), (file, left - n as u64))))
    })
    .boxed();
    Ok(Some(Object { size, bytes }))
}

/// An object being written; see [`Storage::upload`].
pub struct Upload(object_store::WriteMultipart);

impl std::fmt::Debug for Upload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Upload")
    }
}

impl Upload {
    /// Appends bytes; waits while too many parts are in flight.
    pub async fn write(&mut self, bytes: &[u8]) -> Result<(), StorageError> {
        self.0.wait_for_capacity(4).await?;
        self.0.write(bytes);
        Ok(())
    }

    /// Makes the object visible.
    pub async fn finish(self) -> Result<(), StorageError> {
        self.0.finish().await?;
        Ok(())
    }

    /// Gives up: nothing is left at the key by this upload.
    pub async fn abort(self) -> Result<(), StorageError> {
        self.0.abort().await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn writes_once_and_streams_back() {
        let dir = tempfile::tempdir().unwrap();
        let storage = Storage::local(&dir.path().join("objects")).unwrap();
        assert!(storage.put_if_absent("registry/sha512/ab", Bytes::from_static(b"first")).await.unwrap());
        assert!(!storage.put_if_absent("registry/sha512/ab", Bytes::from_static(b"other")).await.unwrap());
        let object = storage.get("registry/sha512/ab").await.unwrap().expect("stored");
        assert_eq!(object.size, 5);
        let bytes: Vec<Bytes> = object.bytes.try_collect().await.unwrap();
        assert_eq!(bytes.concat(), b"first", "the first write stays");
        assert!(storage.get("registry/sha512/none").await.unwrap().is_none());
    }

    #[test]
    fn objects_are_the_platform_users_alone() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let objects = dir.path().join("objects");
        std::fs::create_dir(&objects).unwrap();
        std::fs::set_permissions(&objects, std::fs::Permissions::from_mode(0o755)).unwrap();
        Storage::local(&objects).unwrap();
        let mode = std::fs::metadata(&objects).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700, "an existing, readable directory is closed too");
    }

    #[tokio::test]
    async fn uploads_appear_only_when_finished() {
        let dir = tempfile::tempdir().unwrap();
        let storage = Storage::local(&dir.path().join("objects")).unwrap();
        let mut upload = storage.upload("upstream/left-pad/-/left-pad-1.3.0.tgz").await.unwrap();
        upload.write(b"half ").await.unwrap();
        assert!(storage.get("upstream/left-pad/-/left-pad-1.3.0.tgz").await.unwrap().is_none());
        upload.write(b"and the rest").await.unwrap();
        upload.finish().await.unwrap();
        let object = storage.get("upstream/left-pad/-/left-pad-1.3.0.tgz").await.unwrap().expect("stored");
        let bytes: Vec<Bytes> = object.bytes.try_collect().await.unwrap();
        assert_eq!(bytes.concat(), b"half and the rest");
        let mut abandoned = storage.upload("upstream/x/-/x-1.0.0.tgz").await.unwrap();
        abandoned.write(b"partial").await.unwrap();
        abandoned.abort().await.unwrap();
        assert!(storage.get("upstream/x/-/x-1.0.0.tgz").await.unwrap().is_none());
    }

    #[tokio::test]
    async fn lists_checks_and_deletes() {
        let dir = tempfile::tempdir().unwrap();
        let storage = Storage::local(&dir.path().join("objects")).unwrap();
        storage.put_if_absent("registry/sha512/aa", Bytes::from_static(b"a")).await.unwrap();
        storage.put_if_absent("registry/sha512/bb", Bytes::from_static(b"b")).await.unwrap();
        storage.put_if_absent("upstream/x/-/x-1.0.0.tgz", Bytes::from_static(b"x")).await.unwrap();
        let mut keys: Vec<String> =
            storage.list("registry/sha512").await.unwrap().into_iter().map(|(k, _)| k).collect();
        keys.sort();
        assert_eq!(keys, ["registry/sha512/aa", "registry/sha512/bb"]);
        assert!(storage.exists("registry/sha512/aa").await.unwrap());
        storage.delete("registry/sha512/aa").await.unwrap();
        storage.delete("registry/sha512/aa").await.unwrap();
        assert!(!storage.exists("registry/sha512/aa").await.unwrap());
    }
}

//! Object storage shared by the modules that keep bytes (the registry's tarballs, later user
//! files), through `object_store`: a local directory by default, S3/MinIO by configuration.
//! Keys are plain strings (`registry/sha512/<hex>`); content-addressed keys make a second write
//! of the same key the same bytes, so writes never replace what is there.

use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::stream::BoxStream;
use futures_util::{StreamExt, TryStreamExt};
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
        let store = LocalFileSystem::new_with_prefix(dir)?;
        Ok(Storage { store: Arc::new(store) })
    }

    /// Writes `bytes` at `key` unless an object is already there; answers whether it wrote.
    pub async fn put_if_absent(&self, key: &str, bytes: Bytes) -> Result<bool, StorageError> {
        let options = PutOptions { mode: PutMode::Create, ..Default::default() };
        match self.store.put_opts(&ObjectPath::from(key), PutPayload::from_bytes(bytes), options).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::AlreadyExists { .. }) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// The object at `key`, streamed; `None` if there is none.
    pub async fn get(&self, key: &str) -> Result<Option<Object>, StorageError> {
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
}

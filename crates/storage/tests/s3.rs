//! The S3 backend against a real S3-compatible server: moto (`pip install 'moto[server]'`),
//! started on a free loopback port for this test and stopped by its process id.

use bytes::Bytes;
use futures_util::TryStreamExt;
use vextrus_storage::{S3Settings, Storage};
use vextrus_testkit::moto::Moto;

#[tokio::test]
async fn objects_round_trip_through_an_s3_compatible_server() {
    let moto = Moto::start().await;
    let endpoint = moto.endpoint();
    moto.bucket("vextrus-objects");
    let storage = Storage::s3(&S3Settings {
        bucket: "vextrus-objects".into(),
        region: "us-east-1".into(),
        endpoint: Some(endpoint),
        access_key_id: "test".into(),
        secret_access_key: "test".into(),
        allow_http: true,
    })
    .unwrap();
    let tarball = Bytes::from(vec![7u8; 3 * 1024 * 1024]);
    assert!(storage.put_if_absent("registry/sha512/aa", tarball.clone()).await.unwrap());
    assert!(!storage.put_if_absent("registry/sha512/aa", Bytes::from_static(b"other")).await.unwrap());
    let object = storage.get("registry/sha512/aa").await.unwrap().expect("stored");
    assert_eq!(object.size, tarball.len() as u64);
    let chunks: Vec<Bytes> = object.bytes.try_collect().await.unwrap();
    assert_eq!(chunks.concat(), tarball.to_vec(), "the first write stays, byte for byte");
    assert!(storage.get("registry/sha512/missing").await.unwrap().is_none());
}

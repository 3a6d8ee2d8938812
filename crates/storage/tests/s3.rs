//! The S3 backend against a real S3-compatible server: moto (`pip install 'moto[server]'`),
//! started on a free loopback port for this test and stopped by its process id.

use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::TryStreamExt;
use vextrus_storage::{S3Settings, Storage};

struct Moto {
    child: std::process::Child,
    port: u16,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn moto() -> Moto {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let child = std::process::Command::new("moto_server")
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("moto_server is installed (pip install 'moto[server]'; scripts/test.sh does it)");
    let moto = Moto { child, port };
    let deadline = Instant::now() + Duration::from_secs(30);
    while tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_err() {
        assert!(Instant::now() < deadline, "moto_server did not start");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    moto
}

#[tokio::test]
async fn objects_round_trip_through_an_s3_compatible_server() {
    let moto = moto().await;
    let endpoint = format!("http://127.0.0.1:{}", moto.port);
    // moto creates a bucket on an (unsigned) PUT of its name.
    let created = reqwest::Client::new().put(format!("{endpoint}/vextrus-objects")).send().await.unwrap();
    assert!(created.status().is_success(), "{}", created.status());
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

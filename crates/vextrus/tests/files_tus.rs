//! Resumable uploads by tus 1.0.0, driven by the real `tus-js-client` (npm) as an app drives it:
//! a connection cut midway and a server killed with `kill -9` mid-upload are both resumed, and
//! the stored SHA-256 is the source's. The protocol's details (versions, offsets, checksums,
//! termination, expiry) by hand.

mod common;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use base64::Engine as _;
use common::binary::{Server, vextrus};
use common::{TestApp, problem};
use reqwest::Method;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use vextrus_server::HttpSettings;

const MIB: u64 = 1 << 20;

/// A TCP relay in front of the server that paces what the client sends (`rate` bytes a
/// second, so a test can act mid-upload) and can cut the connection once `cut_at` bytes went
/// through. The server behind it may be down: the client's connection is then closed.
struct Relay {
    addr: SocketAddr,
    forwarded: Arc<AtomicU64>,
    cut_at: Arc<AtomicU64>,
}

async fn relay(upstream: SocketAddr, rate: u64) -> Relay {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let forwarded = Arc::new(AtomicU64::new(0));
    let cut_at = Arc::new(AtomicU64::new(0));
    let (f, c) = (forwarded.clone(), cut_at.clone());
    tokio::spawn(async move {
        loop {
            let Ok((client, _)) = listener.accept().await else { return };
            let (forwarded, cut_at) = (f.clone(), c.clone());
            tokio::spawn(async move {
                let Ok(server) = tokio::net::TcpStream::connect(upstream).await else { return };
                let (mut client_read, mut client_write) = client.into_split();
                let (mut server_read, mut server_write) = server.into_split();
                let back = tokio::spawn(async move {
                    let _ = tokio::io::copy(&mut server_read, &mut client_write).await;
                });
                let mut buf = vec![0u8; 64 * 1024];
                loop {
                    let n = match client_read.read(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => n,
                    };
                    let total = forwarded.fetch_add(n as u64, Ordering::SeqCst) + n as u64;
                    let cut = cut_at.load(Ordering::SeqCst);
                    if cut != 0
                        && total >= cut
                        && cut_at.compare_exchange(cut, 0, Ordering::SeqCst, Ordering::SeqCst).is_ok()
                    {
                        break; // the link drops, both ways
                    }
                    if server_write.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                    tokio::time::sleep(Duration::from_secs_f64(n as f64 / rate as f64)).await;
                }
                back.abort();
            });
        }
    });
    Relay { addr, forwarded, cut_at }
}

/// `len` bytes that do not compress, in a file; their SHA-256 (hex).
fn source_file(dir: &Path, len: u64) -> (PathBuf, String) {
    let mut bytes = Vec::with_capacity(len as usize);
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    while (bytes.len() as u64) < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        bytes.extend_from_slice(&x.to_le_bytes());
    }
    bytes.truncate(len as usize);
    let path = dir.join("drawing.dwg");
    std::fs::write(&path, &bytes).unwrap();
    (path, hex(ring::digest::digest(&ring::digest::SHA256, &bytes).as_ref()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The real tus-js-client uploading `file`; its events as they come.
struct Client {
    child: tokio::process::Child,
    lines: tokio::io::Lines<BufReader<tokio::process::ChildStdout>>,
}

fn tus_client(endpoint: &str, token: &str, file: &Path, bucket: &str, chunk: Option<u64>) -> Client {
    let modules = common::npm::node_tools();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tus_upload.cjs");
    let mut command = tokio::process::Command::new("node");
    command.arg(script).arg(&modules).arg(endpoint).arg(token).arg(file).arg(bucket).arg("drawing.dwg");
    if let Some(chunk) = chunk {
        command.arg(chunk.to_string());
    }
    let mut child = command.stdout(std::process::Stdio::piped()).kill_on_drop(true).spawn().expect("node runs");
    let lines = BufReader::new(child.stdout.take().unwrap()).lines();
    Client { child, lines }
}

impl Client {
    async fn next(&mut self) -> Value {
        let line = tokio::time::timeout(Duration::from_secs(120), self.lines.next_line())
            .await
            .expect("tus-js-client said nothing for 120 s")
            .unwrap()
            .expect("tus-js-client ended without a result");
        serde_json::from_str(&line).unwrap()
    }

    /// Events until the upload ends: the `done` event.
    async fn finish(&mut self) -> Value {
        loop {
            let event = self.next().await;
            assert!(event.get("error").is_none(), "tus-js-client failed: {event}");
            if event.get("done").is_some() {
                let _ = self.child.wait().await;
                return event;
            }
        }
    }
}

/// The stored file named `drawing.dwg` in `bucket`, as the API lists it.
async fn stored(client: &reqwest::Client, base: &str, token: &str, bucket: &str) -> Value {
    let listed: Value = client
        .get(format!("{base}/v1/files/buckets/{bucket}/files"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    listed["items"].as_array().unwrap().iter().find(|f| f["filename"] == "drawing.dwg").cloned().expect("stored")
}

/// The SHA-256 of what a download of `id` serves.
async fn served_sha256(client: &reqwest::Client, base: &str, token: &str, id: &str) -> String {
    let mut response = client.get(format!("{base}/v1/files/{id}/content")).bearer_auth(token).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let mut hash = ring::digest::Context::new(&ring::digest::SHA256);
    while let Some(chunk) = response.chunk().await.unwrap() {
        hash.update(&chunk);
    }
    hex(hash.finish().as_ref())
}

fn settings() -> HttpSettings {
    HttpSettings::new(64 * 1024, Duration::from_secs(120))
}

#[tokio::test]
async fn tus_js_client_resumes_after_the_connection_is_cut_and_the_bytes_match() {
    let app = TestApp::start_with(settings()).await;
    app.sign_up("nakshi", "owner@nakshi.example", "nakshi-owner").await;
    let owner = app.access_token("nakshi-owner", Some("nakshi")).await;
    let bucket = json!({"name": "drawings", "max_size": 60 * MIB, "unscanned_readable": true});
    app.ok_json(&owner, Method::POST, "/v1/files/buckets", bucket).await;
    let dir = tempfile::tempdir().unwrap();
    let (file, sha256) = source_file(dir.path(), 50 * MIB);

    let upstream: SocketAddr = app.base.trim_start_matches("http://").parse().unwrap();
    let relay = relay(upstream, 40 * MIB).await;
    relay.cut_at.store(20 * MIB, Ordering::SeqCst);
    let endpoint = format!("http://{}/v1/files/tus", relay.addr);
    let mut client = tus_client(&endpoint, &owner, &file, "drawings", None);
    let done = client.finish().await;
    assert!(done["retries"].as_u64().unwrap() >= 1, "the cut was retried: {done}");
    assert_eq!(relay.cut_at.load(Ordering::SeqCst), 0, "the link was cut");
    // Resumed, not restarted: about the file's size went through, not 20 MiB more.
    let sent = relay.forwarded.load(Ordering::SeqCst);
    assert!(sent < 50 * MIB + 20 * MIB, "{sent} bytes were sent for 50 MiB");

    let stored = stored(&app.client, &app.base, &owner, "drawings").await;
    assert_eq!(stored["current"]["sha256"], sha256.as_str(), "{stored}");
    assert_eq!(stored["current"]["size"], 50 * MIB);
    assert_eq!(served_sha256(&app.client, &app.base, &owner, stored["id"].as_str().unwrap()).await, sha256);
    let usage = app.ok_json_get(&owner, "/v1/usage").await;
    assert_eq!(
        (usage["used"]["storage_bytes"].as_u64(), usage["used"]["storage_reserved_bytes"].as_u64()),
        (Some(50 * MIB), Some(0))
    );
}

#[tokio::test]
async fn tus_js_client_resumes_after_the_server_is_killed_and_restarted() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    // The port stays the same across the restart: the client's upload URL names it.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let listen = format!("127.0.0.1:{port}");
    let start = || Server::spawn(vextrus(&["serve", "--listen", &listen, "--data-dir", data_dir.to_str().unwrap()]));
    let mut server = start();
    let client = reqwest::Client::new();
    let admin = std::fs::read_to_string(data_dir.join("admin-token")).unwrap().trim().to_owned();

    // An organization and its owner, signed up as a user would (the code from the dev mailbox).
    let signup = json!({"org": {"slug": "rekha", "name": "Rekha Drafting"},
        "user": {"email": "owner@rekha.example", "username": "rekha-owner", "password": common::PASSWORD, "name": "Rekha"}});
    let response = client.post(server.url("/v1/signup")).json(&signup).send().await.unwrap();
    assert_eq!(response.status(), 202);
    let deadline = Instant::now() + Duration::from_secs(30);
    let code = loop {
        let mailbox: Value = client
            .get(server.url("/v1/dev/mailbox?to=owner@rekha.example"))
            .bearer_auth(&admin)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if let Some(body) = mailbox.as_array().and_then(|m| m.first()).and_then(|m| m["body"].as_str()) {
            break common::code_in(body);
        }
        assert!(Instant::now() < deadline, "no sign-up mail");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let verify = json!({"token": code, "password": common::PASSWORD});
    assert_eq!(client.post(server.url("/v1/signup/verify")).json(&verify).send().await.unwrap().status(), 201);
    let form =
        [("grant_type", "password"), ("username", "rekha-owner"), ("password", common::PASSWORD), ("org", "rekha")];
    let tokens: Value = client.post(server.url("/oauth/token")).form(&form).send().await.unwrap().json().await.unwrap();
    let owner = tokens["access_token"].as_str().unwrap().to_owned();
    let bucket = json!({"name": "drawings", "max_size": 60 * MIB, "unscanned_readable": true});
    let created = client.post(server.url("/v1/files/buckets")).bearer_auth(&owner).json(&bucket).send().await.unwrap();
    assert_eq!(created.status(), 201);

    let (file, sha256) = source_file(dir.path(), 50 * MIB);
    let relay = relay(listen.parse().unwrap(), 10 * MIB).await;
    let endpoint = format!("http://{}/v1/files/tus", relay.addr);
    let mut upload = tus_client(&endpoint, &owner, &file, "drawings", Some(8 * MIB));
    // Mid-upload, the server dies without a chance to clean up.
    loop {
        let event = upload.next().await;
        assert!(event.get("done").is_none() && event.get("error").is_none(), "ended before the kill: {event}");
        if event["progress"].as_u64().is_some_and(|p| p >= 20 * MIB) {
            break;
        }
    }
    server.child.kill().unwrap(); // SIGKILL
    server.child.wait().unwrap();
    let killed_at = relay.forwarded.load(Ordering::SeqCst);
    let mut server = start();
    let done = upload.finish().await;
    assert!(done["retries"].as_u64().unwrap() >= 1, "{done}");
    assert!(killed_at < 50 * MIB, "the server was killed mid-upload ({killed_at} bytes in)");

    let stored = stored(&client, &server.base, &owner, "drawings").await;
    assert_eq!(stored["current"]["sha256"], sha256.as_str(), "{stored}");
    assert_eq!(served_sha256(&client, &server.base, &owner, stored["id"].as_str().unwrap()).await, sha256);
    server.stop();
}

fn b64(s: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(s)
}

#[tokio::test]
async fn the_protocol_offsets_checksums_termination_and_expiry() {
    let app = TestApp::start_with(settings()).await;
    app.sign_up("dhaka-docs", "owner@dhaka-docs.example", "docs-owner").await;
    let owner = app.access_token("docs-owner", Some("dhaka-docs")).await;
    let bucket = json!({"name": "papers", "max_size": 1000, "unscanned_readable": true});
    app.ok_json(&owner, Method::POST, "/v1/files/buckets", bucket).await;
    let tus = |method: Method, path: &str| app.as_user(&owner, method, path).header("tus-resumable", "1.0.0");
    let meta = format!("bucket {},filename {}", b64("papers"), b64("চুক্তি.txt"));

    // Discovery.
    let options = app.as_user(&owner, Method::OPTIONS, "/v1/files/tus").send().await.unwrap();
    assert_eq!(options.status(), 204);
    assert_eq!(options.headers()["tus-version"], "1.0.0");
    assert_eq!(options.headers()["tus-checksum-algorithm"], "sha1,sha256");
    assert!(options.headers()["tus-extension"].to_str().unwrap().contains("creation-with-upload"));

    // Another protocol version: 412 naming ours.
    let old = app.as_user(&owner, Method::POST, "/v1/files/tus").header("tus-resumable", "0.2.2").send().await.unwrap();
    assert_eq!(old.headers()["tus-version"], "1.0.0");
    problem(old, 412, "tus_version_unsupported").await;
    // Longer than the bucket takes: 413; no bucket: 422; an unknown one: 404.
    let big = tus(Method::POST, "/v1/files/tus")
        .header("upload-length", "1001")
        .header("upload-metadata", &meta)
        .send()
        .await
        .unwrap();
    problem(big, 413, "file_too_large").await;
    let nameless = tus(Method::POST, "/v1/files/tus").header("upload-length", "10").send().await.unwrap();
    problem(nameless, 422, "invalid_field").await;
    let elsewhere = format!("bucket {},filename {}", b64("nowhere"), b64("a.txt"));
    let missing = tus(Method::POST, "/v1/files/tus")
        .header("upload-length", "10")
        .header("upload-metadata", &elsewhere)
        .send()
        .await
        .unwrap();
    problem(missing, 404, "bucket_not_found").await;

    // Creation; HEAD says where it stands.
    let created = tus(Method::POST, "/v1/files/tus")
        .header("upload-length", "10")
        .header("upload-metadata", &meta)
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    assert_eq!(created.headers()["tus-resumable"], "1.0.0");
    assert_eq!(created.headers()["upload-offset"], "0");
    assert!(created.headers()["upload-expires"].to_str().unwrap().ends_with(" GMT"));
    let location = created.headers()["location"].to_str().unwrap().to_owned();
    let head = tus(Method::HEAD, &location).send().await.unwrap();
    assert_eq!((head.status().as_u16(), head.headers()["upload-offset"].to_str().unwrap()), (200, "0"));
    assert_eq!(head.headers()["upload-length"], "10");
    assert_eq!(head.headers()["cache-control"], "no-store");
    let usage = app.ok_json_get(&owner, "/v1/usage").await;
    assert_eq!(usage["used"]["storage_reserved_bytes"], 10, "the length is reserved at creation");

    let chunk = |offset: &str, body: &'static [u8]| {
        tus(Method::PATCH, &location)
            .header("content-type", "application/offset+octet-stream")
            .header("upload-offset", offset)
            .body(body)
    };
    // The wrong offset: 409. A bad checksum: 460 and the bytes dropped. Unknown algorithm: 400.
    problem(chunk("3", b"abcd").send().await.unwrap(), 409, "offset_mismatch").await;
    let sha1_of_other = base64::engine::general_purpose::STANDARD
        .encode(ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, b"zzzz"));
    let bad = chunk("0", b"abcd").header("upload-checksum", format!("sha1 {sha1_of_other}")).send().await.unwrap();
    problem(bad, 460, "checksum_mismatch").await;
    let odd = chunk("0", b"abcd").header("upload-checksum", "md5 AAAA").send().await.unwrap();
    problem(odd, 400, "invalid_header").await;
    assert_eq!(tus(Method::HEAD, &location).send().await.unwrap().headers()["upload-offset"], "0");
    let wrong_type = tus(Method::PATCH, &location).header("upload-offset", "0").body("abcd").send().await.unwrap();
    problem(wrong_type, 415, "unsupported_media_type").await;
    // A good checksum: stored.
    let sha256 = base64::engine::general_purpose::STANDARD.encode(ring::digest::digest(&ring::digest::SHA256, b"abcd"));
    let good = chunk("0", b"abcd").header("upload-checksum", format!("sha256 {sha256}")).send().await.unwrap();
    assert_eq!((good.status().as_u16(), good.headers()["upload-offset"].to_str().unwrap()), (204, "4"));
    // More than the announced length: 413, nothing kept of that chunk.
    problem(chunk("4", b"efghijklmn").send().await.unwrap(), 413, "upload_length_exceeded").await;
    // The last bytes: the file is checked and listed.
    let last = chunk("4", b"efghij").send().await.unwrap();
    assert_eq!((last.status().as_u16(), last.headers()["upload-offset"].to_str().unwrap()), (204, "10"));
    let listed = app.ok_json_get(&owner, "/v1/files/buckets/papers/files").await;
    let file = &listed["items"][0];
    assert_eq!((file["filename"].as_str(), file["current"]["size"].as_u64()), (Some("চুক্তি.txt"), Some(10)));
    assert_eq!(file["current"]["sha256"], hex(ring::digest::digest(&ring::digest::SHA256, b"abcdefghij").as_ref()));
    assert_eq!(tus(Method::HEAD, &location).send().await.unwrap().status(), 404, "a finished upload is no longer one");

    // Creation with upload: the whole file in the POST.
    let whole = tus(Method::POST, "/v1/files/tus")
        .header("upload-length", "5")
        .header("upload-metadata", format!("bucket {},filename {}", b64("papers"), b64("small.txt")))
        .header("content-type", "application/offset+octet-stream")
        .body("hello")
        .send()
        .await
        .unwrap();
    assert_eq!((whole.status().as_u16(), whole.headers()["upload-offset"].to_str().unwrap()), (201, "5"));

    // Termination gives the reservation back.
    let cancelled = tus(Method::POST, "/v1/files/tus")
        .header("upload-length", "100")
        .header("upload-metadata", &meta)
        .send()
        .await
        .unwrap();
    let cancelled = cancelled.headers()["location"].to_str().unwrap().to_owned();
    assert_eq!(tus(Method::DELETE, &cancelled).send().await.unwrap().status(), 204);
    assert_eq!(tus(Method::HEAD, &cancelled).send().await.unwrap().status(), 404);

    // Expiry: an upload past its time is gone (410), its reservation given back.
    let late = tus(Method::POST, "/v1/files/tus")
        .header("upload-length", "100")
        .header("upload-metadata", &meta)
        .send()
        .await
        .unwrap();
    let late = late.headers()["location"].to_str().unwrap().to_owned();
    let id = late.rsplit('/').next().unwrap();
    sqlx::query("UPDATE files.uploads SET expires_at = now() - interval '1 second' WHERE id = $1::uuid")
        .bind(id)
        .execute(&mut app.db.owner_conn().await)
        .await
        .unwrap();
    problem(chunk_at(&app, &owner, &late).await, 410, "upload_expired").await;
    let usage = app.ok_json_get(&owner, "/v1/usage").await;
    assert_eq!(usage["used"]["storage_reserved_bytes"], 0, "{usage}");
    assert_eq!(usage["used"]["storage_bytes"], 15, "{usage}");
}

async fn chunk_at(app: &TestApp, token: &str, location: &str) -> reqwest::Response {
    app.as_user(token, Method::PATCH, location)
        .header("tus-resumable", "1.0.0")
        .header("content-type", "application/offset+octet-stream")
        .header("upload-offset", "0")
        .body("abc")
        .send()
        .await
        .unwrap()
}

//! The registry against a hostile publisher: tarballs whose headers lie, documents that claim
//! more than they are, and bodies from someone who may not publish at all.

mod common;

use base64::Engine as _;
use common::TestApp;
use reqwest::Method;
use serde_json::{Value, json};

/// A gzipped tar of raw entries `(path, size field as written in the header, kind, data)`.
fn raw_tarball(entries: &[(&str, String, u8, &[u8])]) -> Vec<u8> {
    use std::io::Write as _;
    let mut tar = Vec::new();
    for (path, size, kind, data) in entries {
        let mut header = [0u8; 512];
        header[..path.len()].copy_from_slice(path.as_bytes());
        header[100..108].copy_from_slice(b"0000644\0");
        header[124..124 + size.len()].copy_from_slice(size.as_bytes());
        header[156] = *kind;
        header[257..263].copy_from_slice(b"ustar\0");
        tar.extend_from_slice(&header);
        tar.extend_from_slice(data);
        tar.resize(tar.len().next_multiple_of(512), 0);
    }
    tar.extend_from_slice(&[0u8; 1024]);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&tar).unwrap();
    gz.finish().unwrap()
}

fn entry<'a>(path: &'a str, data: &'a [u8]) -> (&'a str, String, u8, &'a [u8]) {
    (path, format!("{:011o}\0", data.len()), b'0', data)
}

fn publish_doc(name: &str, version: &str, manifest: Value, tarball: &[u8]) -> Value {
    json!({"name": name, "dist-tags": {"latest": version}, "versions": {version: manifest},
           "_attachments": {format!("{name}-{version}.tgz"): {
               "data": base64::engine::general_purpose::STANDARD.encode(tarball), "length": tarball.len()}}})
}

async fn put(app: &TestApp, token: &str, name: &str, doc: &Value) -> (u16, Value) {
    let path = format!("/npm/{}", name.replace('/', "%2f"));
    let response = app.client.put(app.url(&path)).bearer_auth(token).json(doc).send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or_default())
}

#[tokio::test]
async fn a_tarball_whose_header_claims_a_huge_manifest_is_refused_and_the_server_keeps_serving() {
    let app = TestApp::start().await;
    let owner = app.vextrus().await;
    let name = "@vextrus/bomb";
    let manifest: &[u8] = br#"{"name": "@vextrus/bomb", "version": "1.0.0"}"#;
    // 8 GiB, and 64 GiB (all twelve digits, no terminator).
    for size in ["77777777777\0", "777777777777"] {
        let tarball = raw_tarball(&[("package/package.json", size.to_owned(), b'0', manifest)]);
        let doc = publish_doc(name, "1.0.0", json!({"name": name, "version": "1.0.0"}), &tarball);
        let (status, body) = put(&app, &owner, name, &doc).await;
        assert_eq!(status, 400, "{size:?}: {body}");
        assert!(body["error"].as_str().unwrap().contains("larger than"), "{body}");
    }
    // GNU base-256 (the high bit of the first byte).
    let mut base256 = vec![0u8; 12];
    base256[0] = 0x80;
    base256[4] = 0x10;
    let mut tar = Vec::new();
    let mut header = [0u8; 512];
    header[..20].copy_from_slice(b"package/package.json");
    header[124..136].copy_from_slice(&base256);
    header[156] = b'0';
    tar.extend_from_slice(&header);
    tar.extend_from_slice(manifest);
    tar.resize(4096, 0);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut gz, &tar).unwrap();
    let tarball = gz.finish().unwrap();
    let doc = publish_doc(name, "1.0.0", json!({"name": name, "version": "1.0.0"}), &tarball);
    let (status, body) = put(&app, &owner, name, &doc).await;
    assert_eq!(status, 400, "{body}");
    assert!(body["error"].as_str().unwrap().contains("larger than"), "{body}");

    // Still serving, and nothing was kept.
    assert_eq!(app.client.get(app.url("/healthz")).send().await.unwrap().status(), 200);
    let missing = app.as_user(&owner, Method::GET, "/npm/@vextrus%2fbomb").send().await.unwrap();
    assert_eq!(missing.status(), 404);
    let good = raw_tarball(&[entry("package/package.json", manifest)]);
    let doc = publish_doc(name, "1.0.0", json!({"name": name, "version": "1.0.0"}), &good);
    assert_eq!(put(&app, &owner, name, &doc).await.0, 201);
}

#[tokio::test]
async fn a_tarball_with_two_manifests_is_refused_and_install_scripts_come_from_the_tarball() {
    let app = TestApp::start().await;
    let owner = app.vextrus().await;
    let name = "@vextrus/sneaky";
    let innocent: &[u8] = br#"{"name": "@vextrus/sneaky", "version": "1.0.0"}"#;
    let scripted: &[u8] =
        br#"{"name": "@vextrus/sneaky", "version": "1.0.0", "scripts": {"postinstall": "node steal.js"}}"#;
    let twice = raw_tarball(&[entry("package/package.json", innocent), entry("package/package.json", scripted)]);
    let claimed = json!({"name": name, "version": "1.0.0", "hasInstallScript": false});
    let (status, body) = put(&app, &owner, name, &publish_doc(name, "1.0.0", claimed.clone(), &twice)).await;
    assert_eq!(status, 400, "{body}");
    assert!(body["error"].as_str().unwrap().contains("more than one package.json"), "{body}");

    // The document says no install script; the tarball has one: installers are told the truth.
    let one = raw_tarball(&[entry("package/package.json", scripted)]);
    assert_eq!(put(&app, &owner, name, &publish_doc(name, "1.0.0", claimed, &one)).await.0, 201);
    let short: Value = app
        .as_user(&owner, Method::GET, "/npm/@vextrus%2fsneaky")
        .header("accept", "application/vnd.npm.install-v1+json")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(short["versions"]["1.0.0"]["hasInstallScript"], true, "{short}");
    let full = app.ok_json_get(&owner, "/npm/@vextrus%2fsneaky").await;
    assert_eq!(full["versions"]["1.0.0"]["scripts"]["postinstall"], "node steal.js", "{full}");
}

#[tokio::test]
async fn readmes_deprecations_and_dist_tags_are_bounded() {
    let app = TestApp::start().await;
    let owner = app.vextrus().await;
    let name = "@vextrus/bounded";
    let manifest: &[u8] = br#"{"name": "@vextrus/bounded", "version": "1.0.0"}"#;
    let tarball = raw_tarball(&[entry("package/package.json", manifest)]);
    let huge_readme = json!({"name": name, "version": "1.0.0", "readme": "x".repeat(300 * 1024)});
    let (status, body) = put(&app, &owner, name, &publish_doc(name, "1.0.0", huge_readme, &tarball)).await;
    assert_eq!(status, 413, "{body}");
    assert!(body["error"].as_str().unwrap().contains("readme"), "{body}");
    assert_eq!(
        put(&app, &owner, name, &publish_doc(name, "1.0.0", json!({"name": name, "version": "1.0.0"}), &tarball))
            .await
            .0,
        201
    );

    let doc = app.ok_json_get(&owner, "/npm/@vextrus%2fbounded").await;
    let mut deprecate = doc.clone();
    deprecate["versions"]["1.0.0"]["deprecated"] = json!("d".repeat(1025));
    let (status, body) = put(&app, &owner, name, &deprecate).await;
    assert_eq!(status, 400, "{body}");
    assert!(body["error"].as_str().unwrap().contains("deprecation message"), "{body}");

    let tag = |t: String| {
        app.as_user(&owner, Method::PUT, &format!("/npm/-/package/@vextrus%2fbounded/dist-tags/{t}"))
            .json(&json!("1.0.0"))
            .send()
    };
    for i in 1..100 {
        assert_eq!(tag(format!("tag{i}")).await.unwrap().status(), 201, "tag {i} of 100");
    }
    let refused = tag("one-too-many".into()).await.unwrap();
    assert_eq!(refused.status(), 400);
    assert!(refused.text().await.unwrap().contains("at most 100 dist-tags"));
    assert_eq!(tag("tag5".into()).await.unwrap().status(), 201, "moving an existing tag is no new tag");
}

#[tokio::test]
async fn who_may_not_publish_is_refused_before_the_body_is_read() {
    let app = TestApp::start().await;
    let owner = app.vextrus().await;
    let reader = app.api_key(&owner, &["registry.packages.read"]).await;
    // Far more than a star needs: refused as a publish, not taken in to be parsed.
    let big = json!({"name": "@vextrus/x", "padding": "p".repeat(1024 * 1024)});
    let (status, body) = put(&app, &reader, "@vextrus/x", &big).await;
    assert_eq!(status, 403, "{body}");
    assert!(body["error"].as_str().unwrap().contains("registry.packages.publish"), "{body}");
}

/// Reads the resident set of this process (the test and the server it runs), in bytes.
fn resident_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
    let pages: u64 = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    pages * 4096
}

#[tokio::test]
async fn memory_stays_flat_while_anonymous_requests_vary_the_host_of_a_large_public_package() {
    let app = TestApp::start().await;
    let owner = app.vextrus().await;
    let name = "@vextrus/big";
    for i in 0..10 {
        let version = format!("1.0.{i}");
        let manifest = json!({"name": name, "version": version});
        let tarball = raw_tarball(&[entry("package/package.json", manifest.to_string().as_bytes())]);
        let mut doc_manifest = manifest.clone();
        doc_manifest["readme"] = json!(format!("{i} {}", "long readme text ".repeat(2000)));
        assert_eq!(put(&app, &owner, name, &publish_doc(name, &version, doc_manifest, &tarball)).await.0, 201);
    }
    let access = app.as_user(&owner, Method::POST, "/npm/-/package/@vextrus%2fbig/access");
    assert!(access.json(&json!({"access": "public"})).send().await.unwrap().status().is_success());

    let caches = app.modules.registry.caches.clone();
    let get = |host: String| {
        app.client
            .get(app.url("/npm/@vextrus%2fbig"))
            .header("host", host.clone())
            .header("x-forwarded-host", format!("evil-{host}"))
            .send()
    };
    let first: Value = get("first.example".into()).await.unwrap().json().await.unwrap();
    let tarball = first["versions"]["1.0.0"]["dist"]["tarball"].as_str().unwrap().to_owned();
    assert_eq!(
        tarball, "http://first.example/npm/@vextrus/big/-/big-1.0.0.tgz",
        "Host is used; X-Forwarded-Host is not trusted"
    );
    // Remembered once no change is still being announced (the visibility change's announcement
    // may reach this instance after the first read began: that read is not kept).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while caches.packument_bytes() == 0 && std::time::Instant::now() < deadline {
        get("first.example".into()).await.unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let held = caches.packument_bytes();
    assert!(held > 300_000, "the packument is large ({held} bytes) and held once");
    let before = resident_bytes();
    let hosts: Vec<String> = (0..3000).map(|i| format!("h{i}.example:{}", 1000 + i)).collect();
    for batch in hosts.chunks(16) {
        let answers = futures_util::future::join_all(batch.iter().map(|h| get(h.clone()))).await;
        for (host, answer) in batch.iter().zip(answers) {
            let answer = answer.unwrap();
            assert_eq!(answer.status(), 200);
            let body = answer.text().await.unwrap();
            assert!(body.contains(&format!("http://{host}/npm/@vextrus/big/-/big-1.0.9.tgz")));
        }
    }
    assert_eq!(caches.packument_bytes(), held, "one copy serves every Host");
    let grown = resident_bytes().saturating_sub(before);
    // (The process is shared with this file's other tests; one copy per Host would be ~900 MiB.)
    assert!(grown < 128 << 20, "resident memory grew by {} MiB over 3,000 hosts", grown >> 20);
    // A host that is no plain authority is not echoed into the document.
    let odd: Value = get("a\"b.example".into()).await.unwrap().json().await.unwrap_or_default();
    if let Some(url) = odd["versions"]["1.0.0"]["dist"]["tarball"].as_str() {
        assert!(url.starts_with("http://localhost/"), "{url}");
    }
}

#[tokio::test]
async fn a_failing_webhook_endpoint_backs_off_as_a_whole_without_spending_deliveries() {
    use axum::routing::post;
    let hits = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = hits.clone();
    let receiver = axum::Router::new().route(
        "/down",
        post(move || {
            let counter = counter.clone();
            async move {
                counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                axum::http::StatusCode::SERVICE_UNAVAILABLE
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/down", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, receiver).await.unwrap() });

    let app = TestApp::start().await;
    let owner = app.vextrus().await;
    app.ok_json(&owner, Method::POST, "/v1/registry/webhooks", json!({"url": url})).await;
    let name = "@vextrus/noisy";
    for i in 0..8 {
        let version = format!("1.0.{i}");
        let manifest = json!({"name": name, "version": version});
        let tarball = raw_tarball(&[entry("package/package.json", manifest.to_string().as_bytes())]);
        assert_eq!(put(&app, &owner, name, &publish_doc(name, &version, manifest, &tarball)).await.0, 201);
    }
    // Eight deliveries to one dead endpoint: after three failures in a row it backs off, and the
    // rest wait with it instead of each knocking.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    let deferred = loop {
        let rows: Vec<(i32, Option<String>)> =
            sqlx::query_as("SELECT attempts, last_error FROM db.jobs WHERE kind = 'registry.deliver_webhook'")
                .fetch_all(&mut app.db.owner_conn().await)
                .await
                .unwrap();
        let deferred = rows
            .iter()
            .filter(|(attempts, error)| *attempts == 0 && error.as_deref().is_some_and(|e| e.contains("backing off")))
            .count();
        if deferred > 0 {
            break deferred;
        }
        assert!(std::time::Instant::now() < deadline, "no delivery was deferred: {rows:?}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    let (failures, down): (i32, bool) = sqlx::query_as("SELECT failures, down_until > now() FROM registry.webhooks")
        .fetch_one(&mut app.db.owner_conn().await)
        .await
        .unwrap();
    assert!(failures >= 3 && down, "failures {failures}, down {down}");
    let knocked = hits.load(std::sync::atomic::Ordering::SeqCst);
    assert!(knocked < 8, "{knocked} deliveries reached the dead endpoint; {deferred} waited");
}

//! Files end to end over HTTP, against a real clamd (EICAR-only database) and the local object
//! store: the pipeline judges uploads by their bytes, quarantines malware, leaves what it could
//! not scan `unscanned`; downloads are ranged, cached by ETag and never run as the platform's
//! page; the quota holds under concurrent uploads; the trash and legal holds.

mod common;

use std::time::Duration;

use common::{TestApp, problem};
use reqwest::Method;
use serde_json::{Value, json};
use vextrus_files::scan::{ClamdAddress, Scanner};
use vextrus_server::HttpSettings;
use vextrus_testkit::clamd::{Clamd, EICAR, EICAR_SIGNATURE};

const PDF: &[u8] = b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n";
const SVG: &[u8] = br#"<svg xmlns="http://www.w3.org/2000/svg"><script>alert(document.cookie)</script></svg>"#;

/// A platform whose files are scanned by `clamd`.
async fn app_scanned_by(clamd: &Clamd) -> TestApp {
    let scanner = Scanner::new(ClamdAddress::Unix(clamd.socket.clone()), Duration::from_secs(20), 8 << 20);
    let objects = tempfile::tempdir().unwrap().keep();
    let settings = HttpSettings::new(64 * 1024, Duration::from_secs(30));
    TestApp::start_configured(settings, move |m| {
        m.files = common::files(m.files.inner().link_key.clone(), &objects, Some(scanner))
    })
    .await
}

async fn upload(app: &TestApp, token: &str, bucket: &str, name: &str, bytes: &[u8]) -> reqwest::Response {
    let path = format!("/v1/files/buckets/{bucket}/files?filename={}", urlencode(name));
    app.as_user(token, Method::POST, &path).body(bytes.to_vec()).send().await.unwrap()
}

fn urlencode(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}

async fn created(response: reqwest::Response) -> Value {
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    assert_eq!(status, 201, "{body}");
    body
}

fn sha256_hex(bytes: &[u8]) -> String {
    ring::digest::digest(&ring::digest::SHA256, bytes).as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

/// A real Windows program: the launcher pip ships (distlib's `t64.exe`).
fn windows_program() -> Vec<u8> {
    let out = std::process::Command::new("python3")
        .args([
            "-c",
            "import os, pip._vendor.distlib as d; print(os.path.join(os.path.dirname(d.__file__), 't64.exe'))",
        ])
        .output()
        .unwrap();
    std::fs::read(String::from_utf8(out.stdout).unwrap().trim()).expect("pip's t64.exe")
}

#[tokio::test]
async fn uploads_are_judged_by_their_bytes_scanned_and_served_safely() {
    let clamd = Clamd::start("1M").await;
    let app = app_scanned_by(&clamd).await;
    app.sign_up("kagoj", "owner@kagoj.example", "kagoj-owner").await;
    let owner = app.access_token("kagoj-owner", Some("kagoj")).await;
    let pdf_only = json!({"name": "invoices", "allowed_types": ["application/pdf"], "max_size": 1 << 20});
    let bucket = app.ok_json(&owner, Method::POST, "/v1/files/buckets", pdf_only).await;
    assert_eq!(bucket["allowed_types"], json!(["application/pdf"]));
    let taken = app
        .as_user(&owner, Method::POST, "/v1/files/buckets")
        .json(&json!({"name": "invoices", "max_size": 10}))
        .send()
        .await
        .unwrap();
    problem(taken, 409, "bucket_exists").await;
    let any = json!({"name": "shared", "max_size": 1 << 20});
    app.ok_json(&owner, Method::POST, "/v1/files/buckets", any).await;

    // A Windows program named invoice.pdf (and sent as application/pdf) is a program.
    let refused = app
        .as_user(&owner, Method::POST, "/v1/files/buckets/invoices/files?filename=invoice.pdf")
        .header("content-type", "application/pdf")
        .body(windows_program())
        .send()
        .await
        .unwrap();
    let refused = problem(refused, 415, "content_type_not_allowed").await;
    assert!(refused["detail"].as_str().unwrap().contains("portable-executable"), "{refused}");
    let listed = app.ok_json_get(&owner, "/v1/files/buckets/invoices/files").await;
    assert_eq!(listed["items"], json!([]), "nothing is left of a refused upload");

    // A real PDF with a Bengali name: ready, its type and hash from the bytes.
    let name = "চালান-২০২৬.pdf";
    let file = created(upload(&app, &owner, "invoices", name, PDF).await).await;
    let current = &file["current"];
    assert_eq!(
        (current["state"].as_str(), current["scan"].as_str(), current["content_type"].as_str()),
        (Some("ready"), Some("clean"), Some("application/pdf")),
        "{file}"
    );
    assert_eq!(current["sha256"], sha256_hex(PDF));
    assert_eq!(current["size"], PDF.len());
    assert_eq!(file["filename"], name);
    let id = file["id"].as_str().unwrap().to_owned();

    // The download: safe headers, the Bengali name intact, inline only because it is a PDF.
    let content = format!("/v1/files/{id}/content");
    let got = app.as_user(&owner, Method::GET, &content).send().await.unwrap();
    assert_eq!(got.status(), 200);
    let h = got.headers().clone();
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert_eq!(h["content-security-policy"], "default-src 'none'; sandbox");
    assert_eq!(h["content-type"], "application/pdf");
    let disposition = h["content-disposition"].to_str().unwrap().to_owned();
    assert!(disposition.starts_with("attachment; filename=\""), "{disposition}");
    let encoded = disposition.split("filename*=UTF-8''").nth(1).expect("an RFC 5987 name");
    assert_eq!(percent_encoding::percent_decode_str(encoded).decode_utf8().unwrap(), name);
    let etag = h["etag"].to_str().unwrap().to_owned();
    assert_eq!(etag, format!("\"{}\"", sha256_hex(PDF)));
    assert_eq!(got.bytes().await.unwrap().as_ref(), PDF);
    let inline = app.as_user(&owner, Method::GET, &format!("{content}?disposition=inline")).send().await.unwrap();
    assert!(inline.headers()["content-disposition"].to_str().unwrap().starts_with("inline;"));

    // ETag: 304 with no body; a Range: 206 with exactly those bytes; past the end: 416.
    let again = app.as_user(&owner, Method::GET, &content).header("if-none-match", &etag).send().await.unwrap();
    assert_eq!(again.status(), 304);
    assert!(again.bytes().await.unwrap().is_empty());
    let part = app.as_user(&owner, Method::GET, &content).header("range", "bytes=1-3").send().await.unwrap();
    assert_eq!(part.status(), 206);
    assert_eq!(part.headers()["content-range"], format!("bytes 1-3/{}", PDF.len()));
    assert_eq!(part.bytes().await.unwrap().as_ref(), b"PDF");
    let tail = app.as_user(&owner, Method::GET, &content).header("range", "bytes=-6").send().await.unwrap();
    assert_eq!(tail.bytes().await.unwrap().as_ref(), b"%%EOF\n");
    let past = app.as_user(&owner, Method::GET, &content).header("range", "bytes=9999-").send().await.unwrap();
    assert_eq!(past.headers()["content-range"], format!("bytes */{}", PDF.len()));
    problem(past, 416, "range_not_satisfiable").await;

    // An SVG with script: stored, but never inline, whatever is asked.
    let svg = created(upload(&app, &owner, "shared", "logo.svg", SVG).await).await;
    assert_eq!(svg["current"]["content_type"], "image/svg+xml");
    let path = format!("/v1/files/{}/content?disposition=inline", svg["id"].as_str().unwrap());
    let served = app.as_user(&owner, Method::GET, &path).send().await.unwrap();
    assert!(served.headers()["content-disposition"].to_str().unwrap().starts_with("attachment;"));
    assert_eq!(served.headers()["content-security-policy"], "default-src 'none'; sandbox");

    // EICAR: quarantined by the real clamd — refused, audited, its bytes not kept, never served.
    let infected = upload(&app, &owner, "shared", "eicar.com", EICAR).await;
    let infected = problem(infected, 422, "file_quarantined").await;
    assert!(infected["detail"].as_str().unwrap().contains(EICAR_SIGNATURE), "{infected}");
    let listed = app.ok_json_get(&owner, "/v1/files/buckets/shared/files").await;
    let quarantined = listed["items"].as_array().unwrap().iter().find(|f| f["filename"] == "eicar.com").unwrap();
    assert!(quarantined["current"].is_null(), "{quarantined}");
    let qid = quarantined["id"].as_str().unwrap();
    let detail = app.ok_json_get(&owner, &format!("/v1/files/{qid}")).await;
    assert_eq!(detail["versions"][0]["state"], "quarantined");
    assert_eq!(detail["versions"][0]["scan_detail"], EICAR_SIGNATURE);
    let blocked = app.as_user(&owner, Method::GET, &format!("/v1/files/{qid}/content")).send().await.unwrap();
    problem(blocked, 409, "file_not_ready").await;
    let events: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM audit.events WHERE action = 'files.file.quarantine' AND target_id = $1",
    )
    .bind(qid)
    .fetch_one(&mut app.db.owner_conn().await)
    .await
    .unwrap();
    assert_eq!(events, 1);
    let usage = app.ok_json_get(&owner, "/v1/usage").await;
    let stored = (PDF.len() + SVG.len()) as u64;
    assert_eq!(usage["used"]["storage_bytes"], stored, "quarantined bytes are not counted: {usage}");
    assert_eq!(usage["used"]["storage_reserved_bytes"], 0);

    // A new version replaces the content; the first stays listed.
    let v2 = b"%PDF-1.7\n% second\ntrailer << >>\n%%EOF\n";
    let response =
        app.as_user(&owner, Method::POST, &format!("/v1/files/{id}/versions")).body(v2.to_vec()).send().await.unwrap();
    let file = created(response).await;
    assert_eq!(file["current"]["number"], 2);
    assert_eq!(file["versions"].as_array().unwrap().len(), 2);
    let got = app.as_user(&owner, Method::GET, &content).send().await.unwrap();
    assert_eq!(got.bytes().await.unwrap().as_ref(), v2);

    // clamd stopped: files are `unscanned`, never clean; the bucket decides whether they are read.
    drop(clamd);
    let unscanned = created(upload(&app, &owner, "shared", "notes.txt", b"plain notes").await).await;
    assert_eq!(
        (unscanned["current"]["state"].as_str(), unscanned["current"]["scan"].as_str()),
        (Some("unscanned"), Some("unavailable"))
    );
    let path = format!("/v1/files/{}/content", unscanned["id"].as_str().unwrap());
    problem(app.as_user(&owner, Method::GET, &path).send().await.unwrap(), 403, "file_unscanned").await;
    let readable = json!({"max_size": 1 << 20, "unscanned_readable": true});
    app.ok_json(&owner, Method::PUT, "/v1/files/buckets/shared", readable).await;
    let got = app.as_user(&owner, Method::GET, &path).send().await.unwrap();
    assert_eq!(got.bytes().await.unwrap().as_ref(), b"plain notes");

    // A form upload, as a browser sends it (folder and metadata first, then the file).
    let boundary = "----vextrus-boundary-7MA4YWxkTrZu0gW";
    let mut form = Vec::new();
    for (name, value) in [("folder", "2026/receipts"), ("metadata", r#"{"invoice": "INV-42"}"#)] {
        form.extend_from_slice(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n").as_bytes(),
        );
    }
    form.extend_from_slice(
        format!("--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"receipt.pdf\"\r\nContent-Type: text/plain\r\n\r\n").as_bytes(),
    );
    form.extend_from_slice(PDF);
    form.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    let response = app
        .as_user(&owner, Method::POST, "/v1/files/buckets/invoices/files")
        .header("content-type", format!("multipart/form-data; boundary={boundary}"))
        .body(form)
        .send()
        .await
        .unwrap();
    let receipt = created(response).await;
    assert_eq!(
        (receipt["folder"].as_str(), receipt["filename"].as_str()),
        (Some("2026/receipts"), Some("receipt.pdf"))
    );
    assert_eq!(receipt["metadata"], json!({"invoice": "INV-42"}));
    assert_eq!(receipt["current"]["sha256"], sha256_hex(PDF));

    // Bad names and folders are 422; an oversized file 413 and nothing is kept of it.
    problem(upload(&app, &owner, "shared", "../etc/passwd", b"x").await, 422, "invalid_field").await;
    let bad_folder = app
        .as_user(&owner, Method::POST, "/v1/files/buckets/shared/files?filename=a.txt&folder=a/../b")
        .body("x")
        .send()
        .await
        .unwrap();
    problem(bad_folder, 422, "invalid_field").await;
    let small = json!({"name": "small", "max_size": 10});
    app.ok_json(&owner, Method::POST, "/v1/files/buckets", small).await;
    problem(upload(&app, &owner, "small", "big.txt", &[b'a'; 11]).await, 413, "file_too_large").await;
    let chunked = futures_util::stream::iter((0..4).map(|_| Ok::<_, std::io::Error>(vec![b'a'; 4])));
    let response = app
        .as_user(&owner, Method::POST, "/v1/files/buckets/small/files?filename=streamed.txt")
        .body(reqwest::Body::wrap_stream(chunked))
        .send()
        .await
        .unwrap();
    problem(response, 413, "file_too_large").await;
    assert_eq!(app.ok_json_get(&owner, "/v1/files/buckets/small/files").await["items"], json!([]));
    let usage = app.ok_json_get(&owner, "/v1/usage").await;
    assert_eq!(usage["used"]["storage_reserved_bytes"], 0, "every reservation was settled or released");

    // The trash and legal holds.
    app.ok_json(&owner, Method::PUT, &format!("/v1/files/{id}/legal-hold"), json!({"hold": true})).await;
    let held = app.as_user(&owner, Method::DELETE, &format!("/v1/files/{id}")).send().await.unwrap();
    problem(held, 409, "file_on_hold").await;
    app.ok_json(&owner, Method::PUT, &format!("/v1/files/{id}/legal-hold"), json!({"hold": false})).await;
    let deleted = app.as_user(&owner, Method::DELETE, &format!("/v1/files/{id}")).send().await.unwrap();
    assert_eq!(deleted.status(), 204);
    problem(app.as_user(&owner, Method::GET, &content).send().await.unwrap(), 404, "file_not_found").await;
    let listed = app.ok_json_get(&owner, "/v1/files/buckets/invoices/files").await;
    assert!(listed["items"].as_array().unwrap().iter().all(|f| f["id"] != id.as_str()), "{listed}");
    let restored = app.ok_json(&owner, Method::POST, &format!("/v1/files/{id}/restore"), json!(null)).await;
    assert!(restored["deleted_at"].is_null());
    let got = app.as_user(&owner, Method::GET, &content).send().await.unwrap();
    assert_eq!(got.bytes().await.unwrap().as_ref(), v2);
    let not_empty = app.as_user(&owner, Method::DELETE, "/v1/files/buckets/invoices").send().await.unwrap();
    problem(not_empty, 409, "bucket_not_empty").await;
}

#[tokio::test]
async fn concurrent_uploads_never_pass_the_organizations_storage() {
    let app = TestApp::start().await;
    app.sign_up("pahar", "owner@pahar.example", "pahar-owner").await;
    let owner = app.access_token("pahar-owner", Some("pahar")).await;
    let plan = json!({"storage_bytes": 100_000, "members": 5, "api_keys": 5, "sms_per_month": 0});
    assert_eq!(app.op(Method::PUT, "/v1/platform/plans/small").json(&plan).send().await.unwrap().status(), 201);
    let given = app.op(Method::PUT, "/v1/orgs/pahar/plan").json(&json!({"plan": "small"})).send().await.unwrap();
    assert_eq!(given.status(), 200);
    let bucket = json!({"name": "drawings", "max_size": 1 << 20, "unscanned_readable": true});
    app.ok_json(&owner, Method::POST, "/v1/files/buckets", bucket).await;

    // Ten uploads of 25,000 bytes at once against 100,000 bytes: four fit, whatever the order.
    let bytes: Vec<u8> = (0..25_000u32).map(|i| (i % 251) as u8).collect();
    let uploads = (0..10).map(|i| {
        let (app, owner, bytes) = (&app, &owner, &bytes);
        async move { upload(app, owner, "drawings", &format!("sheet-{i}.bin"), bytes).await }
    });
    let answers = futures_util::future::join_all(uploads).await;
    let mut ok = 0;
    for answer in answers {
        match answer.status().as_u16() {
            201 => ok += 1,
            _ => {
                problem(answer, 413, "storage_quota_exceeded").await;
            }
        }
    }
    assert!((1..=4).contains(&ok), "{ok} uploads succeeded");
    let usage = app.ok_json_get(&owner, "/v1/usage").await;
    assert_eq!(usage["used"]["storage_bytes"], ok * 25_000, "{usage}");
    assert_eq!(usage["used"]["storage_reserved_bytes"], 0, "{usage}");
    let listed = app.ok_json_get(&owner, "/v1/files/buckets/drawings/files").await;
    assert_eq!(listed["items"].as_array().unwrap().len(), ok);

    // Without a declared length an upload reserves the bucket's maximum: refused while it cannot
    // fit, and nothing of it is kept.
    let chunked = futures_util::stream::iter([Ok::<_, std::io::Error>(vec![1u8; 10])]);
    let response = app
        .as_user(&owner, Method::POST, "/v1/files/buckets/drawings/files?filename=chunked.bin")
        .body(reqwest::Body::wrap_stream(chunked))
        .send()
        .await
        .unwrap();
    problem(response, 413, "storage_quota_exceeded").await;
    let usage = app.ok_json_get(&owner, "/v1/usage").await;
    assert_eq!(usage["used"]["storage_reserved_bytes"], 0, "{usage}");
}

#[tokio::test]
async fn upkeep_purges_the_trash_and_dead_uploads_and_reconciles_both_sides() {
    let objects = tempfile::tempdir().unwrap().keep();
    let dir = objects.clone();
    let settings = HttpSettings::new(64 * 1024, Duration::from_secs(30));
    let app = TestApp::start_configured(settings, move |m| {
        m.files = common::files(m.files.inner().link_key.clone(), &dir, None)
    })
    .await;
    let org = app.sign_up("bagan", "owner@bagan.example", "bagan-owner").await;
    let tenant = vextrus_db::TenantId::from_uuid(org["organization"]["id"].as_str().unwrap().parse().unwrap());
    let owner = app.access_token("bagan-owner", Some("bagan")).await;
    let bucket = json!({"name": "notes", "max_size": 1 << 20, "unscanned_readable": true, "trash_days": 0});
    let bucket = app.ok_json(&owner, Method::POST, "/v1/files/buckets", bucket).await;
    let files = app.modules.files.clone();
    let db = app.db.db.clone();
    let stale = Duration::from_secs(4200);
    let object_path = |key: &str| objects.join(key);

    // In the trash past the bucket's days: purged, objects first; a held one stays.
    let gone = created(upload(&app, &owner, "notes", "old.txt", b"old notes").await).await;
    let held = created(upload(&app, &owner, "notes", "held.txt", b"held notes").await).await;
    let kept = created(upload(&app, &owner, "notes", "kept.txt", b"kept notes").await).await;
    let key_of = |f: &Value| {
        format!("files/{tenant}/{}/{}", bucket["id"].as_str().unwrap(), f["current"]["id"].as_str().unwrap())
    };
    for f in [&gone, &held] {
        let deleted = app
            .as_user(&owner, Method::DELETE, &format!("/v1/files/{}", f["id"].as_str().unwrap()))
            .send()
            .await
            .unwrap();
        assert_eq!(deleted.status(), 204);
    }
    app.ok_json(
        &owner,
        Method::PUT,
        &format!("/v1/files/{}/legal-hold", held["id"].as_str().unwrap()),
        json!({"hold": true}),
    )
    .await;
    assert!(object_path(&key_of(&gone)).exists());
    let report = vextrus_files::maintain::purge(&files, &db, stale).await.unwrap();
    assert_eq!(report.purged_files, 1, "{report:?}");
    assert!(!object_path(&key_of(&gone)).exists(), "the object went with the row");
    problem(
        app.as_user(&owner, Method::GET, &format!("/v1/files/{}", gone["id"].as_str().unwrap())).send().await.unwrap(),
        404,
        "file_not_found",
    )
    .await;
    assert!(object_path(&key_of(&held)).exists(), "a held file is never purged");
    assert_eq!(used(&app, &owner).await["storage_bytes"], 20, "held and kept notes remain");

    // A resumable upload past its expiry, and an upload a crash left pending with its object.
    let meta = format!("bucket {},filename {}", b64("notes"), b64("late.txt"));
    let late = app
        .as_user(&owner, Method::POST, "/v1/files/tus")
        .header("tus-resumable", "1.0.0")
        .header("upload-length", "100")
        .header("upload-metadata", meta)
        .send()
        .await
        .unwrap();
    let late = late.headers()["location"].to_str().unwrap().rsplit('/').next().unwrap().to_owned();
    sqlx::query("UPDATE files.uploads SET expires_at = now() - interval '1 minute' WHERE id = $1::uuid")
        .bind(&late)
        .execute(&mut app.db.owner_conn().await)
        .await
        .unwrap();
    let crashed = created(upload(&app, &owner, "notes", "crashed.txt", b"crashed").await).await;
    let crashed_version = crashed["current"]["id"].as_str().unwrap().to_owned();
    // As if the process died after writing the object, before `ready`: back to pending, 2 h ago.
    sqlx::query(
        "UPDATE files.versions SET state = 'pending', reserved = 7, created_at = now() - interval '2 hours' WHERE id = $1::uuid",
    )
    .bind(&crashed_version)
    .execute(&mut app.db.owner_conn().await)
    .await
    .unwrap();
    sqlx::query("UPDATE files.files SET current = NULL WHERE id = $1::uuid")
        .bind(crashed["id"].as_str().unwrap())
        .execute(&mut app.db.owner_conn().await)
        .await
        .unwrap();
    sqlx::query("UPDATE tenancy.storage_usage SET used = used - 7, reserved = reserved + 7 WHERE tenant_id = $1")
        .bind(tenant)
        .execute(&mut app.db.owner_conn().await)
        .await
        .unwrap();
    let before = used(&app, &owner).await;
    assert_eq!(before["storage_reserved_bytes"], 107, "{before}");
    let report = vextrus_files::maintain::purge(&files, &db, stale).await.unwrap();
    assert_eq!((report.expired_uploads, report.stale_pending), (1, 1), "{report:?}");
    assert!(!object_path(&key_of(&crashed)).exists(), "the object the crash left is removed");
    let after = used(&app, &owner).await;
    assert_eq!(
        (after["storage_reserved_bytes"].as_u64(), after["storage_bytes"].as_u64()),
        (Some(0), Some(20)),
        "{after}"
    );
    problem(
        app.as_user(&owner, Method::GET, &format!("/v1/files/{}", crashed["id"].as_str().unwrap()))
            .send()
            .await
            .unwrap(),
        404,
        "file_not_found",
    )
    .await;

    // Orphans on both sides: an object no row names, a row whose object is gone.
    let orphan = format!("files/{tenant}/{}/{}", bucket["id"].as_str().unwrap(), uuid::Uuid::now_v7());
    assert!(files.inner().storage.put_if_absent(&orphan, b"stray".to_vec().into()).await.unwrap());
    std::fs::remove_file(object_path(&key_of(&kept))).unwrap();
    let report = vextrus_files::maintain::reconcile(&files, &db, chrono::Duration::zero()).await.unwrap();
    assert_eq!((report.orphan_objects, report.lost_versions), (1, 1), "{report:?}");
    assert!(!files.inner().storage.exists(&orphan).await.unwrap());
    let kept_id = kept["id"].as_str().unwrap();
    let detail = app.ok_json_get(&owner, &format!("/v1/files/{kept_id}")).await;
    assert_eq!(
        (detail["versions"][0]["state"].as_str(), detail["current"].is_null()),
        (Some("lost"), true),
        "{detail}"
    );
    problem(
        app.as_user(&owner, Method::GET, &format!("/v1/files/{kept_id}/content")).send().await.unwrap(),
        409,
        "file_not_ready",
    )
    .await;
    assert_eq!(used(&app, &owner).await["storage_bytes"], 10, "only the held file's bytes remain counted");
    let events: Vec<String> = sqlx::query_scalar(
        "SELECT action FROM audit.events WHERE action IN ('files.file.purge', 'files.version.lost') ORDER BY seq",
    )
    .fetch_all(&mut app.db.owner_conn().await)
    .await
    .unwrap();
    assert_eq!(events, ["files.file.purge", "files.version.lost"]);
    // A second run finds nothing more.
    let again = vextrus_files::maintain::reconcile(&files, &db, chrono::Duration::zero()).await.unwrap();
    assert_eq!((again.orphan_objects, again.lost_versions), (0, 0));
}

fn b64(s: &str) -> String {
    base64::Engine::encode(&base64::engine::general_purpose::STANDARD, s)
}

async fn used(app: &TestApp, token: &str) -> Value {
    app.ok_json_get(token, "/v1/usage").await["used"].clone()
}

#[tokio::test]
async fn signed_links_work_for_anyone_until_they_expire_or_are_revoked() {
    let app = TestApp::start().await;
    let org = app.sign_up("lipi", "owner@lipi.example", "lipi-owner").await;
    let tenant = vextrus_db::TenantId::from_uuid(org["organization"]["id"].as_str().unwrap().parse().unwrap());
    let owner = app.access_token("lipi-owner", Some("lipi")).await;
    let closed = json!({"name": "closed", "max_size": 1 << 20, "unscanned_readable": true});
    app.ok_json(&owner, Method::POST, "/v1/files/buckets", closed).await;
    let open = json!({"name": "shared", "max_size": 1 << 20, "unscanned_readable": true, "signed_links": true});
    app.ok_json(&owner, Method::POST, "/v1/files/buckets", open).await;
    let private = created(upload(&app, &owner, "closed", "private.pdf", PDF).await).await;
    let refused = app
        .as_user(&owner, Method::POST, &format!("/v1/files/{}/links", private["id"].as_str().unwrap()))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    problem(refused, 403, "signed_links_disabled").await;

    let file = created(upload(&app, &owner, "shared", "রসিদ.pdf", PDF).await).await;
    let id = file["id"].as_str().unwrap().to_owned();
    let issue = |body: Value| {
        let (app, owner, id) = (&app, &owner, &id);
        async move { app.ok_json(owner, Method::POST, &format!("/v1/files/{id}/links"), body).await }
    };
    let link = issue(json!({"expires_in": 600, "disposition": "inline"})).await;
    let url = link["url"].as_str().unwrap();
    assert!(url.starts_with(&format!("{}/f/", common::ISSUER)), "{url}");
    let path = &url[url.find("/f/").unwrap()..];
    let anyone = reqwest::Client::new();
    let got = anyone.get(app.url(path)).send().await.unwrap();
    assert_eq!(got.status(), 200);
    assert_eq!(got.headers()["x-content-type-options"], "nosniff");
    assert_eq!(got.headers()["content-security-policy"], "default-src 'none'; sandbox");
    assert!(got.headers()["content-disposition"].to_str().unwrap().starts_with("inline;"));
    assert_eq!(got.bytes().await.unwrap().as_ref(), PDF);
    let part = anyone.get(app.url(path)).header("range", "bytes=0-3").send().await.unwrap();
    assert_eq!((part.status().as_u16(), part.bytes().await.unwrap().as_ref()), (206, &b"%PDF"[..]));

    // An altered token, or one naming another organization: 404, the same as nothing.
    let mut altered = path.to_owned();
    let last = altered.pop().unwrap();
    altered.push(if last == 'A' { 'B' } else { 'A' });
    problem(anyone.get(app.url(&altered)).send().await.unwrap(), 404, "link_invalid").await;
    let other = path.replacen(&tenant.as_uuid().simple().to_string(), &uuid::Uuid::now_v7().simple().to_string(), 1);
    problem(anyone.get(app.url(&other)).send().await.unwrap(), 404, "link_invalid").await;
    problem(anyone.get(app.url("/f/garbage")).send().await.unwrap(), 404, "link_invalid").await;

    // Expired: a token correctly signed for an expiry that has passed is refused.
    let late = issue(json!({"expires_in": 60})).await;
    let past = chrono::Utc::now().timestamp() - 5;
    sqlx::query("UPDATE files.links SET expires_at = to_timestamp($1) WHERE id = $2::uuid")
        .bind(past as f64)
        .bind(late["id"].as_str().unwrap())
        .execute(&mut app.db.owner_conn().await)
        .await
        .unwrap();
    let uuid = |v: &Value| v.as_str().unwrap().parse::<uuid::Uuid>().unwrap();
    let key = &app.modules.files.inner().link_key;
    let expired = vextrus_files::links::token(
        key,
        tenant,
        uuid(&late["id"]),
        uuid(&late["file_id"]),
        uuid(&late["version_id"]),
        past,
        false,
    );
    problem(anyone.get(app.url(&format!("/f/{expired}"))).send().await.unwrap(), 404, "link_invalid").await;

    // Revoked: at once.
    let revoked = app
        .as_user(&owner, Method::DELETE, &format!("/v1/files/{id}/links/{}", link["id"].as_str().unwrap()))
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), 204);
    problem(anyone.get(app.url(path)).send().await.unwrap(), 404, "link_invalid").await;
    let listed = app.ok_json_get(&owner, &format!("/v1/files/{id}/links")).await;
    assert_eq!(listed["items"].as_array().unwrap().len(), 2);
    assert!(listed["items"].as_array().unwrap().iter().any(|l| l["id"] == link["id"] && !l["revoked_at"].is_null()));
    assert!(!listed.to_string().contains(path), "tokens are never listed");

    // A file in the trash serves no link; restored, it does again.
    let fresh = issue(json!({})).await;
    let fresh = fresh["url"].as_str().unwrap();
    let fresh = &fresh[fresh.find("/f/").unwrap()..];
    assert_eq!(app.as_user(&owner, Method::DELETE, &format!("/v1/files/{id}")).send().await.unwrap().status(), 204);
    problem(anyone.get(app.url(fresh)).send().await.unwrap(), 404, "link_invalid").await;
    app.ok_json(&owner, Method::POST, &format!("/v1/files/{id}/restore"), json!(null)).await;
    let again = anyone.get(app.url(fresh)).send().await.unwrap();
    assert!(again.headers()["content-disposition"].to_str().unwrap().starts_with("attachment;"));
    assert_eq!(again.bytes().await.unwrap().as_ref(), PDF);
    let issued: i64 = sqlx::query_scalar("SELECT count(*) FROM audit.events WHERE action = 'files.link.issue'")
        .fetch_one(&mut app.db.owner_conn().await)
        .await
        .unwrap();
    assert_eq!(issued, 3);
}

#[tokio::test]
async fn on_s3_uploads_downloads_tus_and_presigned_direct_uploads_all_work() {
    let moto = vextrus_testkit::moto::Moto::start().await;
    moto.bucket("vextrus-files");
    let settings = vextrus_storage::S3Settings {
        bucket: "vextrus-files".into(),
        region: "us-east-1".into(),
        endpoint: Some(moto.endpoint()),
        access_key_id: "test".into(),
        secret_access_key: "test-secret".into(),
        allow_http: true,
    };
    let storage = vextrus_storage::Storage::s3(&settings).unwrap();
    let staging = tempfile::tempdir().unwrap().keep();
    let http = HttpSettings::new(64 * 1024, Duration::from_secs(30));
    let app = TestApp::start_configured(http, move |m| {
        let local = common::files(m.files.inner().link_key.clone(), &staging, None);
        let inner = local.inner();
        m.files = vextrus_files::Files::new(vextrus_files::Inner {
            storage,
            staging: inner.staging.clone(),
            scanner: None,
            max_file_bytes: inner.max_file_bytes,
            tus_expiry: inner.tus_expiry,
            upload_deadline: inner.upload_deadline,
            link_key: inner.link_key.clone(),
            public_url: inner.public_url.clone(),
        })
        .unwrap();
    })
    .await;
    app.sign_up("meghna", "owner@meghna.example", "meghna-owner").await;
    let owner = app.access_token("meghna-owner", Some("meghna")).await;
    let bucket =
        json!({"name": "scans", "max_size": 8 << 20, "unscanned_readable": true, "allowed_types": ["application/pdf"]});
    app.ok_json(&owner, Method::POST, "/v1/files/buckets", bucket).await;

    // Through the platform: stored in the bucket, served back with ranges.
    let file = created(upload(&app, &owner, "scans", "scan.pdf", PDF).await).await;
    let content = format!("/v1/files/{}/content", file["id"].as_str().unwrap());
    let got = app.as_user(&owner, Method::GET, &content).send().await.unwrap();
    assert_eq!(got.bytes().await.unwrap().as_ref(), PDF);
    let part = app.as_user(&owner, Method::GET, &content).header("range", "bytes=1-3").send().await.unwrap();
    assert_eq!((part.status().as_u16(), part.bytes().await.unwrap().as_ref()), (206, &b"PDF"[..]));

    // A presigned direct upload: the bytes go to S3 directly; `complete` checks them.
    let direct = json!({"filename": "direct.pdf", "size": PDF.len(), "content_type": "application/pdf"});
    let direct = app.ok_json(&owner, Method::POST, "/v1/files/buckets/scans/direct-uploads", direct).await;
    let url = direct["url"].as_str().unwrap();
    assert!(url.starts_with(&moto.endpoint()) && url.contains("X-Amz-SignedHeaders=content-type%3Bhost"), "{url}");
    let complete = format!("/v1/files/direct-uploads/{}/complete", direct["id"].as_str().unwrap());
    let early = app.as_user(&owner, Method::POST, &complete).send().await.unwrap();
    problem(early, 409, "object_missing").await;
    let put = reqwest::Client::new().put(url).header("content-type", "application/pdf").body(PDF).send().await.unwrap();
    assert!(put.status().is_success(), "{}", put.status());
    let done = app.as_user(&owner, Method::POST, &complete).send().await.unwrap();
    let done = created(done).await;
    assert_eq!(
        (done["current"]["content_type"].as_str(), done["current"]["sha256"].as_str()),
        (Some("application/pdf"), Some(sha256_hex(PDF).as_str()))
    );
    let got = app
        .as_user(&owner, Method::GET, &format!("/v1/files/{}/content", done["id"].as_str().unwrap()))
        .send()
        .await
        .unwrap();
    assert_eq!(got.bytes().await.unwrap().as_ref(), PDF);

    // Bytes of another type sent directly are refused on completion, and removed from S3.
    let sneaky = json!({"filename": "invoice.pdf", "size": 17, "content_type": "application/pdf"});
    let sneaky = app.ok_json(&owner, Method::POST, "/v1/files/buckets/scans/direct-uploads", sneaky).await;
    let put = reqwest::Client::new()
        .put(sneaky["url"].as_str().unwrap())
        .header("content-type", "application/pdf")
        .body("<html>hi</html>\n!")
        .send()
        .await
        .unwrap();
    assert!(put.status().is_success());
    let refused = app
        .as_user(&owner, Method::POST, &format!("/v1/files/direct-uploads/{}/complete", sneaky["id"].as_str().unwrap()))
        .send()
        .await
        .unwrap();
    problem(refused, 415, "content_type_not_allowed").await;
    let used = used(&app, &owner).await;
    assert_eq!(
        (used["storage_bytes"].as_u64(), used["storage_reserved_bytes"].as_u64()),
        (Some(2 * PDF.len() as u64), Some(0)),
        "{used}"
    );

    let events: Vec<String> = sqlx::query_scalar(
        "SELECT action FROM audit.events WHERE action IN ('files.upload.create', 'files.file.upload') ORDER BY seq",
    )
    .fetch_all(&mut app.db.owner_conn().await)
    .await
    .unwrap();
    assert_eq!(events, ["files.file.upload", "files.upload.create", "files.file.upload", "files.upload.create"]);

    // The orphan scan sees S3's side too: nothing is left over.
    let report =
        vextrus_files::maintain::reconcile(&app.modules.files, &app.db.db, chrono::Duration::zero()).await.unwrap();
    assert_eq!((report.orphan_objects, report.lost_versions), (0, 0), "{report:?}");
}

/// A PNG of `width`×`height` (8-bit RGB) whose first `rows` rows are written, by Python's zlib.
fn png(width: u32, height: u32, rows: u32) -> Vec<u8> {
    let script = r#"
import struct, sys, zlib
w, h, rows = (int(a) for a in sys.argv[1:4])
def chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xffffffff)
raw = b"".join(b"\0" + bytes((x * 7 + y * 3) % 256 for x in range(w * 3)) for y in range(rows))
sys.stdout.buffer.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
    + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))
"#;
    let out = std::process::Command::new("python3")
        .args(["-c", script, &width.to_string(), &height.to_string(), &rows.to_string()])
        .output()
        .unwrap();
    assert!(out.status.success());
    out.stdout
}

/// A JPEG's dimensions, from its SOF segment.
fn jpeg_size(bytes: &[u8]) -> (u32, u32) {
    assert_eq!(&bytes[..2], &[0xFF, 0xD8], "a JPEG");
    let mut i = 2;
    while i + 9 < bytes.len() {
        let (marker, len) = (bytes[i + 1], u16::from_be_bytes([bytes[i + 2], bytes[i + 3]]) as usize);
        if (0xC0..=0xC3).contains(&marker) {
            let h = u16::from_be_bytes([bytes[i + 5], bytes[i + 6]]) as u32;
            let w = u16::from_be_bytes([bytes[i + 7], bytes[i + 8]]) as u32;
            return (w, h);
        }
        i += 2 + len;
    }
    panic!("no SOF segment");
}

fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status.lines().find_map(|l| l.strip_prefix("VmHWM:")).unwrap().trim().trim_end_matches(" kB").parse().unwrap()
}

#[tokio::test]
async fn raster_images_get_thumbnails_and_an_image_bomb_takes_no_memory() {
    let app = TestApp::start().await;
    app.sign_up("chobi", "owner@chobi.example", "chobi-owner").await;
    let owner = app.access_token("chobi-owner", Some("chobi")).await;
    let bucket = json!({"name": "photos", "max_size": 8 << 20, "unscanned_readable": true});
    app.ok_json(&owner, Method::POST, "/v1/files/buckets", bucket).await;

    let photo = created(upload(&app, &owner, "photos", "site.png", &png(600, 400, 400)).await).await;
    let svg = created(upload(&app, &owner, "photos", "logo.svg", SVG).await).await;
    let before = peak_rss_kib();
    // Claims 60,000 × 60,000 pixels (10.8 GB decoded) in a file of a few kilobytes.
    let bomb = png(60_000, 60_000, 2);
    assert!(bomb.len() < 64 * 1024, "{} bytes", bomb.len());
    let bomb = created(upload(&app, &owner, "photos", "bomb.png", &bomb).await).await;
    app.jobs_done("files.thumbnails").await;
    // Decoded, it would take 10.8 GB; other tests share this process, so the bar is 1 GiB. (VmHWM
    // is not strictly monotonic in Linux: it folds in the current RSS when read.)
    let grew = peak_rss_kib().saturating_sub(before);
    assert!(grew < 1 << 20, "the bomb grew the process by {grew} KiB");

    let path = |f: &Value, q: &str| format!("/v1/files/{}/thumbnail{q}", f["id"].as_str().unwrap());
    for (size, expect) in [(128, (128, 85)), (512, (512, 341))] {
        let got = app.as_user(&owner, Method::GET, &path(&photo, &format!("?size={size}"))).send().await.unwrap();
        assert_eq!(got.status(), 200);
        assert_eq!(got.headers()["content-type"], "image/jpeg");
        assert_eq!(got.headers()["x-content-type-options"], "nosniff");
        assert!(got.headers()["content-disposition"].to_str().unwrap().starts_with("inline; filename=\"site-"));
        assert_eq!(jpeg_size(&got.bytes().await.unwrap()), expect);
    }
    let detail = app.ok_json_get(&owner, &format!("/v1/files/{}", photo["id"].as_str().unwrap())).await;
    assert_eq!(detail["current"]["thumbnails"], "made");
    problem(app.as_user(&owner, Method::GET, &path(&photo, "?size=77")).send().await.unwrap(), 422, "invalid_field")
        .await;
    // No SVG rasterising; the bomb refused before decoding, and the server still answers.
    problem(app.as_user(&owner, Method::GET, &path(&svg, "")).send().await.unwrap(), 404, "thumbnail_not_found").await;
    let refused =
        problem(app.as_user(&owner, Method::GET, &path(&bomb, "")).send().await.unwrap(), 404, "thumbnail_not_found")
            .await;
    assert!(refused["detail"].as_str().unwrap().contains("60000×60000"), "{refused}");
    assert_eq!(app.client.get(app.url("/healthz")).send().await.unwrap().status(), 200);

    // Thumbnails go with their version's object when the file is purged, and are no orphans.
    let report =
        vextrus_files::maintain::reconcile(&app.modules.files, &app.db.db, chrono::Duration::zero()).await.unwrap();
    assert_eq!((report.orphan_objects, report.lost_versions), (0, 0), "{report:?}");
}

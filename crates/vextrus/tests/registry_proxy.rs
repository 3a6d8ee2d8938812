//! The registry as a proxy of an upstream registry (a second platform on loopback, seeded with
//! express 5 and its 67 dependencies, the real tarballs from the npm registry): installs with
//! npm, pnpm and yarn through it, then again from its cache with the upstream stopped.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine as _;
use common::TestApp;
use common::npm::{Npm, consumer, package};
use reqwest::Method;
use serde_json::{Value, json};
use vextrus_registry::proxy::{Proxy, ProxySettings, Uplink};

fn public_packages() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/public-packages");
    let mut found: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|_| panic!("{} is missing: run scripts/ensure-node-tools.sh", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "tgz"))
        .collect();
    found.sort();
    assert!(found.len() >= 50, "the public dependency tree is downloaded");
    found
}

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/public-tree")
}

/// Publishes a package tarball as it is (its own `package.json` is the manifest).
async fn publish_tarball(app: &TestApp, token: &str, tgz: &Path) -> (String, String) {
    let out = std::process::Command::new("tar").args(["-xzOf"]).arg(tgz).arg("package/package.json").output().unwrap();
    let manifest: Value = serde_json::from_slice(&out.stdout).unwrap();
    let (name, version) =
        (manifest["name"].as_str().unwrap().to_owned(), manifest["version"].as_str().unwrap().to_owned());
    let bytes = std::fs::read(tgz).unwrap();
    let doc = json!({
        "name": name, "dist-tags": {"latest": version}, "versions": {&version: manifest},
        "_attachments": {format!("{name}-{version}.tgz"): {
            "data": base64::engine::general_purpose::STANDARD.encode(&bytes), "length": bytes.len()}},
    });
    let path = format!("/npm/{}", name.replace('/', "%2f"));
    let response = app.client.put(app.url(&path)).bearer_auth(token).json(&doc).send().await.unwrap();
    assert_eq!(response.status(), 201, "publishing {name}@{version} upstream: {}", response.text().await.unwrap());
    (name, version)
}

/// The upstream: a platform that takes unscoped names, seeded by its organization `upstream`.
/// Answers it and a read-only key for the proxy.
async fn upstream() -> (TestApp, String, String) {
    let settings = vextrus_server::HttpSettings::new(64 * 1024, Duration::from_secs(30));
    let app = TestApp::start_configured(settings, |m| {
        m.registry.allow_unscoped = true;
        m.registry.max_tarball_bytes = 8 << 20;
    })
    .await;
    app.sign_up("upstream", "owner@upstream.example", "up-owner").await;
    let owner = app.access_token("up-owner", None).await;
    let key = |permissions: Value| {
        let (app, owner) = (&app, &owner);
        async move {
            let created = app
                .ok_json(owner, Method::POST, "/v1/me/api-keys", json!({"name": "k", "permissions": permissions}))
                .await;
            created["secret"].as_str().unwrap().to_owned()
        }
    };
    let publisher =
        key(json!(["registry.packages.read", "registry.packages.publish", "registry.packages.manage"])).await;
    let reader = key(json!(["registry.packages.read"])).await;
    (app, publisher, reader)
}

/// The platform under test, proxying `upstream` with its read-only key.
async fn proxy_of(upstream: &TestApp, key: &str, tune: impl FnOnce(&mut Uplink, &mut ProxySettings)) -> TestApp {
    let mut uplink = Uplink::new("upstream", &format!("{}/npm/", upstream.base)).unwrap();
    uplink.auth = Some(format!("Bearer {key}"));
    uplink.timeout = Duration::from_secs(5);
    let mut settings = ProxySettings::default();
    tune(&mut uplink, &mut settings);
    settings.uplinks.push(uplink);
    let http = vextrus_server::HttpSettings::new(64 * 1024, Duration::from_secs(60));
    TestApp::start_configured(http, move |m| m.registry.proxy = Some(std::sync::Arc::new(Proxy::new(settings)))).await
}

/// A project depending on express (proxied) and on `@vextrus/kernel` (ours).
fn project(root: &Path, dir: &str) -> PathBuf {
    let project = root.join(dir);
    std::fs::create_dir_all(&project).unwrap();
    let manifest: Value =
        serde_json::from_str(&std::fs::read_to_string(fixture().join("package.json")).unwrap()).unwrap();
    let mut manifest = manifest;
    manifest["name"] = json!(dir);
    manifest["dependencies"]["@vextrus/kernel"] = json!("1.0.0");
    std::fs::write(project.join("package.json"), manifest.to_string()).unwrap();
    std::fs::write(
        project.join("main.js"),
        "const express = require('express'); require('@vextrus/kernel');\n\
         console.log('express', require('express/package.json').version, typeof express());\n",
    )
    .unwrap();
    project
}

fn yarnrc(project: &Path, app: &TestApp, token: &str) {
    let registry = format!("{}/npm/", app.base);
    let text = format!(
        "npmRegistryServer: \"{registry}\"\nnpmAuthToken: \"{token}\"\nnpmAlwaysAuth: true\n\
         unsafeHttpWhitelist: [\"127.0.0.1\"]\nnodeLinker: node-modules\nnpmMinimalAgeGate: 0\nenableTelemetry: false\n"
    );
    std::fs::write(project.join(".yarnrc.yml"), text).unwrap();
}

fn yarn1() -> String {
    common::npm::node_tools().join("yarn/bin/yarn.js").display().to_string()
}

fn yarn4() -> String {
    common::npm::node_tools().join("@yarnpkg/cli-dist/bin/yarn.js").display().to_string()
}

#[tokio::test]
async fn a_public_tree_installs_through_the_proxy_and_again_from_its_cache_with_the_upstream_down() {
    let (up, publisher, reader) = upstream().await;
    let tarballs = public_packages();
    for batch in tarballs.chunks(8) {
        futures_util::future::join_all(batch.iter().map(|tgz| publish_tarball(&up, &publisher, tgz))).await;
    }
    let root = tempfile::tempdir().unwrap();
    let seeded = Npm::new(root.path(), &up, &publisher);
    let (ok, _, err) = seeded.run(&package(root.path(), "never-fetched", "1.0.0", "1;\n"), &["publish"]).await;
    assert!(ok, "{err}");

    let app = proxy_of(&up, &reader, |_, _| {}).await;
    let owner = app.vextrus().await;
    let created = app
        .ok_json(
            &owner,
            Method::POST,
            "/v1/me/api-keys",
            json!({"name": "npm", "permissions": ["registry.packages.read", "registry.packages.publish"]}),
        )
        .await;
    let token = created["secret"].as_str().unwrap().to_owned();
    let npm = Npm::new(root.path(), &app, &token);
    let (ok, _, err) =
        npm.run(&package(root.path(), "@vextrus/kernel", "1.0.0", "module.exports = 1;\n"), &["publish"]).await;
    assert!(ok, "{err}");

    // What the proxy serves is the upstream's document: every version's integrity, the times and
    // the tags unchanged; only the tarball URLs point here.
    let theirs = up.ok_json_get(&reader, "/npm/express").await;
    let ours = app.ok_json_get(&token, "/npm/express").await;
    assert_eq!(ours["dist-tags"], theirs["dist-tags"]);
    assert_eq!(ours["time"], theirs["time"]);
    for (version, manifest) in theirs["versions"].as_object().unwrap() {
        let served = &ours["versions"][version]["dist"];
        assert_eq!(served["integrity"], manifest["dist"]["integrity"]);
        assert_eq!(served["shasum"], manifest["dist"]["shasum"]);
        assert!(served["tarball"].as_str().unwrap().starts_with(&format!("{}/npm/express/-/", app.base)));
    }
    let anonymous = app.client.get(app.url("/npm/express")).send().await.unwrap();
    assert_eq!(anonymous.status(), 401, "proxied packages need a token unless configured otherwise");

    // Cold installs with each client.
    let (ok, _, err) = npm.run(&project(root.path(), "with-npm"), &["install"]).await;
    assert!(ok, "npm install through the proxy: {err}");
    let (ok, out, err) = npm.tool(&root.path().join("with-npm"), "node", &["main.js"]).await;
    assert!(ok && out.starts_with("express 5."), "{out}{err}");
    let pnpm_dir = project(root.path(), "with-pnpm");
    let store = root.path().join("pnpm-store");
    let pnpm = |dir: PathBuf, store: PathBuf| {
        let npm = npm.clone();
        async move {
            let store = format!("--store-dir={}", store.display());
            npm.tool(&dir, "pnpm", &["install", "--no-frozen-lockfile", "--reporter=silent", &store]).await
        }
    };
    let (ok, out, err) = pnpm(pnpm_dir.clone(), store.clone()).await;
    assert!(ok, "pnpm install through the proxy: {out}{err}");
    let yarn1_dir = project(root.path(), "with-yarn1");
    // yarn 1 sends the token for unscoped names only when told to.
    std::fs::write(yarn1_dir.join(".npmrc"), "always-auth=true\n").unwrap();
    let (ok, out, err) = npm.tool(&yarn1_dir, "node", &[&yarn1(), "install", "--non-interactive"]).await;
    assert!(ok, "yarn 1 install through the proxy: {out}{err}");
    let yarn4_dir = project(root.path(), "with-yarn4");
    yarnrc(&yarn4_dir, &app, &token);
    let (ok, out, err) = npm.tool(&yarn4_dir, "node", &[&yarn4(), "install", "--no-immutable"]).await;
    assert!(ok, "yarn 4 install through the proxy: {out}{err}");

    // The upstream goes away. Every client installs again from a clean cache, from its lockfile.
    up.stop().await;
    assert!(reqwest::get(up.url("/healthz")).await.is_err(), "the upstream is down");
    for cache in ["cache", "yarn1-cache"] {
        let _ = std::fs::remove_dir_all(npm.home.join(cache));
    }
    let _ = std::fs::remove_dir_all(&store);
    for dir in ["with-npm", "with-pnpm", "with-yarn1", "with-yarn4"] {
        let _ = std::fs::remove_dir_all(root.path().join(dir).join("node_modules"));
    }
    let (ok, _, err) = npm.run(&root.path().join("with-npm"), &["ci"]).await;
    assert!(ok, "npm ci with the upstream down: {err}");
    let (ok, out, err) = npm.tool(&root.path().join("with-npm"), "node", &["main.js"]).await;
    assert!(ok && out.starts_with("express 5."), "{out}{err}");
    let (ok, out, err) = pnpm(pnpm_dir, store).await;
    assert!(ok, "pnpm install with the upstream down: {out}{err}");
    let (ok, out, err) =
        npm.tool(&yarn1_dir, "node", &[&yarn1(), "install", "--frozen-lockfile", "--non-interactive"]).await;
    assert!(ok, "yarn 1 install with the upstream down: {out}{err}");
    let yarn4_cache = yarn4_dir.join(".yarn/cache");
    let _ = std::fs::remove_dir_all(&yarn4_cache);
    let (ok, out, err) = npm.tool(&yarn4_dir, "node", &[&yarn4(), "install", "--immutable"]).await;
    assert!(ok, "yarn 4 install with the upstream down: {out}{err}");

    // Never fetched, and the upstream down: 503 with a reason, not 404.
    let (ok, _, err) = npm.run(root.path(), &["view", "never-fetched", "version", "--fetch-retries=0"]).await;
    assert!(!ok && err.contains("503"), "{err}");
    let answer = app.client.get(app.url("/npm/never-fetched")).bearer_auth(&token).send().await.unwrap();
    assert_eq!(answer.status(), 503);
    let message: Value = answer.json().await.unwrap();
    assert!(message["error"].as_str().unwrap().contains("cannot be reached"), "{message}");
}

#[tokio::test]
async fn upstream_unpublishes_become_tombstones_and_young_versions_can_be_quarantined() {
    let (up, publisher, reader) = upstream().await;
    let root = tempfile::tempdir().unwrap();
    let seeded = Npm::new(root.path(), &up, &publisher);
    for (name, version) in [("doomed", "1.0.0"), ("aged", "1.0.0"), ("aged", "2.0.0")] {
        let (ok, _, err) = seeded.run(&package(root.path(), name, version, "1;\n"), &["publish"]).await;
        assert!(ok, "{err}");
    }
    // `aged` 1.0.0 was published ten days ago; 2.0.0 just now.
    let mut conn = up.db.owner_conn().await;
    sqlx::query(
        "UPDATE registry.versions SET published_at = now() - interval '10 days' WHERE name = 'aged' AND version = '1.0.0'",
    )
    .execute(&mut conn)
    .await
    .unwrap();

    let app = proxy_of(&up, &reader, |uplink, settings| {
        uplink.maxage = Duration::from_millis(200);
        settings.min_release_age = Some(chrono::Duration::days(1));
    })
    .await;
    let owner = app.vextrus().await;
    let get = |path: &'static str| app.client.get(app.url(path)).bearer_auth(&owner).send();

    let aged: Value = get("/npm/aged").await.unwrap().json().await.unwrap();
    assert_eq!(aged["dist-tags"]["latest"], "1.0.0", "latest falls back to the version old enough: {aged}");
    assert!(aged["versions"].get("2.0.0").is_none() && aged["time"].get("2.0.0").is_none());
    assert_eq!(get("/npm/aged/2.0.0").await.unwrap().status(), 404);
    assert_eq!(get("/npm/aged/-/aged-2.0.0.tgz").await.unwrap().status(), 404);
    let tarball = get("/npm/aged/-/aged-1.0.0.tgz").await.unwrap();
    assert_eq!(tarball.status(), 200);

    assert_eq!(get("/npm/doomed").await.unwrap().status(), 200);
    let (ok, _, err) = seeded.run(root.path(), &["unpublish", "doomed", "--force"]).await;
    assert!(ok, "{err}");
    // Served stale while it revalidates, then gone.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let status = get("/npm/doomed").await.unwrap().status();
        if status == 404 {
            break;
        }
        assert_eq!(status, 200);
        assert!(std::time::Instant::now() < deadline, "the upstream's unpublish reached the proxy");
    }
    assert_eq!(get("/npm/doomed/1.0.0").await.unwrap().status(), 404, "no stale version either");
    let stored: String = {
        let mut tx = app.db.db.system().await.unwrap();
        let state = sqlx::query_scalar("SELECT state FROM registry.upstream_packuments WHERE name = 'doomed'")
            .fetch_one(vextrus_db::Tx::conn(&mut tx))
            .await
            .unwrap();
        tx.commit().await.unwrap();
        state
    };
    assert_eq!(stored, "gone");

    // A name in a scope an organization here owns is never asked upstream.
    let (ok, _, err) = seeded.run(&package(root.path(), "@upstream/shadow", "1.0.0", "1;\n"), &["publish"]).await;
    assert!(ok, "{err}");
    assert_eq!(get("/npm/@upstream%2fshadow").await.unwrap().status(), 200, "nobody here owns @upstream yet");
    app.sign_up("upstream", "owner@up.example", "local-up").await;
    // The organization's creation is announced to every instance (within milliseconds, not the
    // 10 s an owner is remembered).
    let started = std::time::Instant::now();
    while get("/npm/@upstream%2fshadow").await.unwrap().status() != 404 {
        assert!(started.elapsed() < Duration::from_secs(2), "@upstream is owned here");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    for _ in 0..3 {
        assert_eq!(get("/npm/@upstream%2fshadow").await.unwrap().status(), 404, "never upstream again");
    }
}

/// Verifies every version's `dist.signatures` of a packument with Node's `crypto` against a
/// registry's `/-/npm/v1/keys`, as `npm audit signatures` does; answers how many verified.
async fn verify_with_node(dir: &Path, doc: &Value, keys: &Value) -> usize {
    let script = r#"
const crypto = require('crypto'), fs = require('fs');
const doc = JSON.parse(fs.readFileSync(process.argv[2])), keys = JSON.parse(fs.readFileSync(process.argv[3])).keys;
let verified = 0;
for (const [version, manifest] of Object.entries(doc.versions)) {
  const signatures = manifest.dist.signatures || [];
  if (!signatures.length) throw new Error(`${version} is not signed`);
  for (const { keyid, sig } of signatures) {
    const key = keys.find(k => k.keyid === keyid);
    if (!key) throw new Error(`no key ${keyid}`);
    if (key.expires && new Date(key.expires) < new Date(doc.time[version])) throw new Error(`${keyid} had expired`);
    const publicKey = crypto.createPublicKey({ key: Buffer.from(key.key, 'base64'), format: 'der', type: 'spki' });
    const message = `${doc.name}@${version}:${manifest.dist.integrity}`;
    if (!crypto.verify('sha256', Buffer.from(message), publicKey, Buffer.from(sig, 'base64'))) throw new Error(`bad signature on ${version}`);
    verified++;
  }
}
console.log(verified);
"#;
    std::fs::write(dir.join("verify.js"), script).unwrap();
    std::fs::write(dir.join("doc.json"), doc.to_string()).unwrap();
    std::fs::write(dir.join("keys.json"), keys.to_string()).unwrap();
    let out = std::process::Command::new("node")
        .args(["verify.js", "doc.json", "keys.json"])
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(out.status.success(), "node: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
}

#[tokio::test]
async fn signatures_verify_with_node_for_hosted_and_proxied_packages_across_a_key_rotation() {
    let (up, publisher, reader) = upstream().await;
    let root = tempfile::tempdir().unwrap();
    let npm = Npm::new(root.path(), &up, &publisher);
    let (ok, _, err) = npm.run(&package(root.path(), "@upstream/signed", "1.0.0", "1;\n"), &["publish"]).await;
    assert!(ok, "{err}");
    let keys = |app: &TestApp| {
        let request = app.client.get(app.url("/npm/-/npm/v1/keys")).send();
        async move { request.await.unwrap().json::<Value>().await.unwrap() }
    };
    let before = keys(&up).await;
    assert_eq!(before["keys"].as_array().unwrap().len(), 1, "{before}");
    assert!(before["keys"][0]["expires"].is_null());

    // Rotation: the old key stays listed (expiring now); new versions are signed with the new one.
    let rotated = vextrus_registry::signing::rotate(&up.db.db, &up.auth.keys).await.unwrap();
    let started = std::time::Instant::now();
    while keys(&up).await["keys"].as_array().unwrap().len() < 2 {
        assert!(started.elapsed() < Duration::from_secs(2), "the running instance picked up the new key");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (ok, _, err) = npm.run(&package(root.path(), "@upstream/signed", "1.1.0", "2;\n"), &["publish"]).await;
    assert!(ok, "{err}");
    let doc = up.ok_json_get(&reader, "/npm/@upstream%2fsigned").await;
    assert_eq!(doc["versions"]["1.1.0"]["dist"]["signatures"][0]["keyid"], rotated);
    let after = keys(&up).await;
    assert!(after["keys"][0]["expires"].is_string() && after["keys"][1]["expires"].is_null(), "{after}");
    assert_eq!(verify_with_node(root.path(), &doc, &after).await, 2);
    // Tampering is caught: a signature does not cover another integrity.
    let mut forged = doc.clone();
    forged["versions"]["1.0.0"]["dist"]["integrity"] = doc["versions"]["1.1.0"]["dist"]["integrity"].clone();
    std::fs::write(root.path().join("doc.json"), forged.to_string()).unwrap();
    let out = std::process::Command::new("node")
        .args(["verify.js", "doc.json", "keys.json"])
        .current_dir(root.path())
        .output()
        .unwrap();
    assert!(!out.status.success(), "a forged integrity fails verification");

    // Proxied: the upstream's signatures pass through, and this registry lists the upstream's keys.
    let app = proxy_of(&up, &reader, |_, _| {}).await;
    let owner = app.vextrus().await;
    let proxied = app.ok_json_get(&owner, "/npm/@upstream%2fsigned").await;
    let served = keys(&app).await;
    assert_eq!(served["keys"].as_array().unwrap().len(), 3, "its own key and the upstream's two: {served}");
    assert_eq!(verify_with_node(root.path(), &proxied, &served).await, 2);
}

#[tokio::test]
async fn npm_audit_is_answered_by_the_upstream_and_503_without_it() {
    use axum::routing::post;
    // The upstream's advisory service, as npm's documents it: a gzip'd `{name: [versions]}` in,
    // `{name: [advisory]}` out.
    let saw_gzip = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let seen = saw_gzip.clone();
    let advisories = axum::Router::new().route(
        "/-/npm/v1/security/advisories/bulk",
        post(move |headers: axum::http::HeaderMap, body: axum::body::Bytes| {
            let seen = seen.clone();
            async move {
                let gzip = headers.get("content-encoding").is_some_and(|v| v == "gzip");
                seen.store(gzip, std::sync::atomic::Ordering::SeqCst);
                let mut text = Vec::new();
                if gzip {
                    std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&body[..]), &mut text).unwrap();
                } else {
                    text = body.to_vec();
                }
                let asked: Value = serde_json::from_slice(&text).unwrap();
                let mut answer = serde_json::Map::new();
                if asked.get("@vextrus/kernel").is_some() {
                    answer.insert("@vextrus/kernel".into(), json!([{
                        "id": 1097420, "url": "https://github.com/advisories/GHSA-vxtr-0000-0001",
                        "title": "Prototype pollution in kernel", "severity": "high",
                        "vulnerable_versions": "<1.0.1", "cwe": ["CWE-1321"], "cvss": {"score": 7.5, "vectorString": null}
                    }]));
                }
                axum::Json(Value::Object(answer))
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let upstream = format!("http://{}/", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        let shutdown = async move {
            let _ = stopped.await;
        };
        axum::serve(listener, advisories).with_graceful_shutdown(shutdown).await.unwrap()
    });

    let mut uplink = Uplink::new("advisories", &upstream).unwrap();
    uplink.timeout = Duration::from_secs(5);
    let app = TestApp::start_proxying(vec![uplink]).await;
    let owner = app.vextrus().await;
    let root = tempfile::tempdir().unwrap();
    let npm = Npm::new(
        root.path(),
        &app,
        &app.api_key(&owner, &["registry.packages.read", "registry.packages.publish"]).await,
    );
    let (ok, _, err) = npm.run(&package(root.path(), "@vextrus/kernel", "1.0.0", "1;\n"), &["publish"]).await;
    assert!(ok, "{err}");
    let consumer = consumer(root.path());
    let (ok, _, err) = npm.run(&consumer, &["install", "@vextrus/kernel@1.0.0"]).await;
    assert!(ok, "{err}");

    let (ok, out, err) = npm.run(&consumer, &["audit", "--json"]).await;
    assert!(!ok, "npm audit exits non-zero when it finds something: {err}");
    let report: Value = serde_json::from_str(&out).unwrap_or_else(|_| panic!("{out}{err}"));
    assert_eq!(report["vulnerabilities"]["@vextrus/kernel"]["severity"], "high", "{report}");
    assert!(saw_gzip.load(std::sync::atomic::Ordering::SeqCst), "npm's gzip'd body reached the upstream as sent");

    // Without a reachable upstream: a clear 503, never a silent "no vulnerabilities".
    let _ = stop.send(());
    let _ = tokio::time::timeout(Duration::from_secs(10), server).await;
    let answer = app
        .client
        .post(app.url("/npm/-/npm/v1/security/advisories/bulk"))
        .bearer_auth(&owner)
        .json(&json!({"@vextrus/kernel": ["1.0.0"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 503);
    let message: Value = answer.json().await.unwrap();
    assert!(message["error"].as_str().unwrap().contains("cannot be reached"), "{message}");
    let (ok, out, err) = npm.run(&consumer, &["audit", "--fetch-retries=0"]).await;
    assert!(!ok, "npm audit fails when nobody can answer: {out}{err}");
}

#[tokio::test]
async fn names_beginning_with_npm_install_as_themselves_through_the_proxy() {
    let (up, publisher, reader) = upstream().await;
    let root = tempfile::tempdir().unwrap();
    let seeded = Npm::new(root.path(), &up, &publisher);
    let names = ["log", "npmlog", "npm-run-all", "npm", "run-all"];
    for name in names {
        let body = format!("module.exports = '{name}';\n");
        let (ok, _, err) = seeded.run(&package(root.path(), name, "6.0.2", &body), &["publish"]).await;
        assert!(ok, "{name}: {err}");
    }
    let app = proxy_of(&up, &reader, |_, _| {}).await;
    let owner = app.vextrus().await;
    for name in names {
        let doc: Value = app.ok_json_get(&owner, &format!("/npm/{name}")).await;
        assert_eq!(doc["name"], name, "the packument of {name} is its own");
        let tarball = doc["versions"]["6.0.2"]["dist"]["tarball"].as_str().unwrap();
        assert!(tarball.ends_with(&format!("/npm/{name}/-/{name}-6.0.2.tgz")), "{tarball}");
    }
    let npm = Npm::new(root.path(), &app, &owner);
    let project = consumer(root.path());
    let (ok, _, err) = npm.run(&project, &["install", "npmlog@^6", "npm-run-all@^6", "npm@^6"]).await;
    assert!(ok, "{err}");
    for name in ["npmlog", "npm-run-all", "npm"] {
        let script = format!("process.stdout.write(require('{name}'))");
        let (ok, out, err) = npm.tool(&project, "node", &["-e", &script]).await;
        assert!(ok, "{err}");
        assert_eq!(out, name, "node_modules/{name} holds {name}");
    }
}

//! Moving from Verdaccio: a real Verdaccio 6 (from `scripts/ensure-node-tools.sh`) is given
//! packages by real npm; `vextrus registry import-verdaccio` then brings its storage and users
//! over, and npm installs the packages from the platform.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::TestApp;
use common::npm::{Npm, consumer, package};
use reqwest::Method;
use serde_json::{Value, json};

const VERDACCIO_PASSWORD: &str = "Padma-River-1971";

/// A Verdaccio on a free loopback port, with its storage and htpasswd in `dir`; killed on drop.
struct Verdaccio {
    child: Child,
    base: String,
    dir: PathBuf,
}

impl Verdaccio {
    async fn start(dir: &Path) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let config = "storage: ./storage\nauth:\n  htpasswd:\n    file: ./htpasswd\nuplinks: {}\npackages:\n\
                      \x20 '@*/*': {access: $all, publish: $authenticated, unpublish: $authenticated}\n\
                      \x20 '**': {access: $all, publish: $authenticated, unpublish: $authenticated}\n\
                      log: {type: stdout, format: pretty, level: warn}\n";
        std::fs::write(dir.join("config.yaml"), config).unwrap();
        let bin = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/verdaccio/node_modules/.bin/verdaccio");
        assert!(bin.exists(), "{} is missing: run scripts/ensure-node-tools.sh", bin.display());
        let child = Command::new(bin)
            .args(["--config", "./config.yaml", "--listen", &format!("127.0.0.1:{port}")])
            .current_dir(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let base = format!("http://127.0.0.1:{port}");
        let verdaccio = Self { child, base, dir: dir.to_owned() };
        for _ in 0..100 {
            if reqwest::get(format!("{}/-/ping", verdaccio.base)).await.is_ok_and(|r| r.status().is_success()) {
                return verdaccio;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("Verdaccio did not start");
    }

    /// Registers a user (Verdaccio's own `npm adduser`); answers the token.
    async fn add_user(&self, name: &str) -> String {
        let url = format!("{}/-/user/org.couchdb.user:{name}", self.base);
        let response = reqwest::Client::new()
            .put(url)
            .json(&json!({"name": name, "password": VERDACCIO_PASSWORD}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201);
        response.json::<Value>().await.unwrap()["token"].as_str().unwrap().to_owned()
    }

    fn npm(&self, root: &Path, token: &str) -> Npm {
        let home = root.join("verdaccio-npm");
        std::fs::create_dir_all(&home).unwrap();
        let auth = self.base.trim_start_matches("http:");
        std::fs::write(
            home.join(".npmrc"),
            format!("registry={}/\n{auth}/:_authToken={token}\naudit=false\n", self.base),
        )
        .unwrap();
        Npm { home }
    }
}

impl Drop for Verdaccio {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn import(app: &TestApp, objects: &Path, args: &[&str]) -> (bool, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_vextrus"))
        .args(["registry", "import-verdaccio"])
        .args(args)
        .args(["--database-url", &app.db.owner_url()])
        .env_remove("DATABASE_URL")
        .env("VEXTRUS_STORAGE_LOCAL_DIR", objects)
        .env("VEXTRUS_REGISTRY_ALLOW_UNSCOPED", "true")
        .env("VEXTRUS_LOG_FORMAT", "json")
        .output()
        .unwrap();
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (output.status.success(), text(&output.stdout), text(&output.stderr))
}

#[tokio::test]
async fn a_real_verdaccios_storage_and_users_move_to_the_platform() {
    let root = tempfile::tempdir().unwrap();
    let verdaccio_dir = root.path().join("verdaccio");
    std::fs::create_dir_all(&verdaccio_dir).unwrap();
    let verdaccio = Verdaccio::start(&verdaccio_dir).await;
    let token = verdaccio.add_user("rahim").await;
    let npm = verdaccio.npm(root.path(), &token);
    for (name, version) in [("@vextrus/kernel", "1.0.0"), ("@vextrus/kernel", "1.1.0"), ("bd-utils", "1.0.0")] {
        let dir = package(root.path(), name, version, &format!("module.exports = '{name}@{version}';\n"));
        let (ok, _, err) = npm.run(&dir, &["publish"]).await;
        assert!(ok, "publishing {name}@{version} to Verdaccio: {err}");
    }
    for args in [
        &["dist-tag", "add", "@vextrus/kernel@1.0.0", "stable"][..],
        &["deprecate", "@vextrus/kernel@1.0.0", "use 1.1"][..],
    ] {
        let (ok, _, err) = npm.run(root.path(), args).await;
        assert!(ok, "npm {args:?} against Verdaccio: {err}");
    }
    let storage = verdaccio.dir.join("storage");
    let htpasswd = verdaccio.dir.join("htpasswd");
    let theirs: Value =
        serde_json::from_slice(&std::fs::read(storage.join("@vextrus/kernel/package.json")).unwrap()).unwrap();
    drop(verdaccio);

    let objects = root.path().join("objects");
    let store = vextrus_storage::Storage::local(&objects).unwrap();
    let settings = vextrus_server::HttpSettings::new(64 * 1024, Duration::from_secs(30));
    let app = TestApp::start_configured(settings, move |m| {
        m.registry.storage = store;
        m.registry.allow_unscoped = true;
    })
    .await;
    app.sign_up("vextrus-ltd", "owner@vextrus.example", "vx-owner").await;
    let owner = app.access_token("vx-owner", None).await;

    let (ok, out, err) = import(
        &app,
        &objects,
        &["--storage", storage.to_str().unwrap(), "--htpasswd", htpasswd.to_str().unwrap(), "--org", "vextrus-ltd"],
    );
    assert!(ok, "{out}{err}");
    assert!(out.contains("packages: 2 (3 versions imported, 0 already here)"), "{out}");
    assert!(out.contains("scopes claimed: @vextrus"), "{out}");
    assert!(out.contains("users: 1 imported"), "{out}");
    assert!(err.contains("[2/2]"), "progress is shown: {err}");
    // Again: nothing to do (an interrupted import resumes the same way).
    let (ok, out, err) = import(&app, &objects, &["--storage", storage.to_str().unwrap(), "--org", "vextrus-ltd"]);
    assert!(ok, "{out}{err}");
    assert!(out.contains("packages: 2 (0 versions imported, 3 already here)"), "{out}");

    // What Verdaccio knew survives: tags, deprecation, publication times, integrity.
    let ours = app.ok_json_get(&owner, "/npm/@vextrus%2fkernel").await;
    assert_eq!(ours["dist-tags"], json!({"latest": "1.1.0", "stable": "1.0.0"}));
    assert_eq!(ours["versions"]["1.0.0"]["deprecated"], "use 1.1");
    for version in ["1.0.0", "1.1.0"] {
        assert_eq!(ours["versions"][version]["dist"]["integrity"], theirs["versions"][version]["dist"]["integrity"]);
        let at = |doc: &Value| chrono::DateTime::parse_from_rfc3339(doc["time"][version].as_str().unwrap()).unwrap();
        assert_eq!(at(&ours), at(&theirs), "{version} keeps its publication time");
    }
    let events = app.ok_json_get(&owner, "/v1/audit/events?action=registry.package.import").await;
    assert_eq!(events["items"].as_array().unwrap().len(), 2, "{events}");

    // Verdaccio's user signs in with the password Verdaccio had; the bcrypt hash becomes argon2id.
    let form = [("grant_type", "password"), ("username", "rahim"), ("password", VERDACCIO_PASSWORD)];
    let (status, tokens) = app.token(&form).await;
    assert_eq!(status, 200, "{tokens}");
    let signed_in = tokens["access_token"].as_str().unwrap().to_owned();
    let mut conn = app.db.owner_conn().await;
    let hash: String = sqlx::query_scalar("SELECT password_hash FROM identity.users WHERE username = 'rahim'")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert!(hash.starts_with("$argon2id$"), "{hash}");
    let created = app
        .ok_json(
            &signed_in,
            Method::POST,
            "/v1/me/api-keys",
            json!({"name": "npm", "permissions": ["registry.packages.read"]}),
        )
        .await;
    let member = Npm::new(root.path(), &app, created["secret"].as_str().unwrap());
    let consumer = consumer(root.path());
    let (ok, _, err) = member.run(&consumer, &["install", "@vextrus/kernel@stable", "bd-utils"]).await;
    assert!(ok, "npm install from the platform after the import: {err}");
    let (ok, out, err) =
        member.tool(&consumer, "node", &["-e", "console.log(require('@vextrus/kernel'), require('bd-utils'))"]).await;
    assert!(ok && out.trim() == "@vextrus/kernel@1.0.0 bd-utils@1.0.0", "{out}{err}");

    // A tarball that does not match its packument is reported and not imported.
    let tampered = root.path().join("tampered");
    let copy = Command::new("cp").args(["-r"]).arg(&storage).arg(&tampered).status().unwrap();
    assert!(copy.success());
    let doc_path = tampered.join("bd-utils/package.json");
    let mut doc: Value = serde_json::from_slice(&std::fs::read(&doc_path).unwrap()).unwrap();
    let mut forged = doc["versions"]["1.0.0"].clone();
    forged["version"] = json!("1.0.1");
    forged["dist"]["tarball"] = json!("http://x/bd-utils/-/bd-utils-1.0.1.tgz");
    doc["versions"]["1.0.1"] = forged;
    std::fs::write(&doc_path, doc.to_string()).unwrap();
    std::fs::write(tampered.join("bd-utils/bd-utils-1.0.1.tgz"), b"not the tarball").unwrap();
    let (ok, out, _) = import(&app, &objects, &["--storage", tampered.to_str().unwrap(), "--org", "vextrus-ltd"]);
    assert!(!ok, "a problem fails the command");
    assert!(out.contains("not imported: bd-utils@1.0.1: the tarball does not match its integrity"), "{out}");
    assert_eq!(app.client.get(app.url("/npm/bd-utils/1.0.1")).bearer_auth(&owner).send().await.unwrap().status(), 404);
}

#[tokio::test]
async fn a_real_verdaccio_can_be_the_proxys_upstream() {
    use vextrus_registry::proxy::Uplink;
    let root = tempfile::tempdir().unwrap();
    let verdaccio_dir = root.path().join("verdaccio");
    std::fs::create_dir_all(&verdaccio_dir).unwrap();
    let verdaccio = Verdaccio::start(&verdaccio_dir).await;
    let token = verdaccio.add_user("rahim").await;
    let npm = verdaccio.npm(root.path(), &token);
    for (name, version) in [("bd-pad", "1.0.0"), ("bd-pad", "1.1.0"), ("@acme/ui", "2.0.0"), ("never-fetched", "1.0.0")]
    {
        let dir = package(root.path(), name, version, &format!("module.exports = '{name}@{version}';\n"));
        let (ok, _, err) = npm.run(&dir, &["publish"]).await;
        assert!(ok, "publishing {name}@{version} to Verdaccio: {err}");
    }
    let theirs: Value = reqwest::Client::new()
        .get(format!("{}/bd-pad", verdaccio.base))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();

    let mut uplink = Uplink::new("verdaccio", &format!("{}/", verdaccio.base)).unwrap();
    uplink.auth = Some(format!("Bearer {token}"));
    uplink.timeout = Duration::from_secs(5);
    let app = TestApp::start_proxying(vec![uplink]).await;
    let owner = app.vextrus().await;
    let member = Npm::new(root.path(), &app, &app.api_key(&owner, &["registry.packages.read"]).await);
    let ours = app.ok_json_get(&owner, "/npm/bd-pad").await;
    assert_eq!(ours["dist-tags"], theirs["dist-tags"]);
    assert_eq!(ours["time"], theirs["time"]);
    for version in ["1.0.0", "1.1.0"] {
        assert_eq!(ours["versions"][version]["dist"]["integrity"], theirs["versions"][version]["dist"]["integrity"]);
    }

    let consumer = consumer(root.path());
    let (ok, _, err) = member.run(&consumer, &["install", "bd-pad", "@acme/ui"]).await;
    assert!(ok, "npm install through the proxy of Verdaccio: {err}");
    let script = "console.log(require('bd-pad'), require('@acme/ui'))";
    let (ok, out, err) = member.tool(&consumer, "node", &["-e", script]).await;
    assert!(ok && out.trim() == "bd-pad@1.1.0 @acme/ui@2.0.0", "{out}{err}");

    // Verdaccio stops: what was fetched installs again from a clean cache; the rest is a 503.
    drop(verdaccio);
    let _ = std::fs::remove_dir_all(member.home.join("cache"));
    let _ = std::fs::remove_dir_all(consumer.join("node_modules"));
    let (ok, _, err) = member.run(&consumer, &["ci"]).await;
    assert!(ok, "npm ci with Verdaccio down: {err}");
    let (ok, out, err) = member.tool(&consumer, "node", &["-e", script]).await;
    assert!(ok && out.trim() == "bd-pad@1.1.0 @acme/ui@2.0.0", "{out}{err}");
    let (ok, _, err) = member.run(&consumer, &["view", "never-fetched", "version", "--fetch-retries=0"]).await;
    assert!(!ok && err.contains("503"), "{err}");
}

//! The npm registry at `/npm/`, driven by the real npm client: publish, install, dist-tags,
//! and what another organization's token and a read-only key may do.

mod common;

use std::path::{Path, PathBuf};

use common::TestApp;
use common::npm::{Npm, consumer, node_tools, package};
use reqwest::Method;
use serde_json::{Value, json};

const EVERY_REGISTRY_PERMISSION: &[&str] =
    &["registry.packages.read", "registry.packages.publish", "registry.packages.manage"];

/// Signs up the organization `vextrus` (so the scope `@vextrus`); answers its owner's token.
#[tokio::test]
async fn npm_publishes_and_installs_an_organizations_package_and_outsiders_get_404() {
    let app = TestApp::start().await;
    let owner = app.vextrus().await;
    let key = app.api_key(&owner, EVERY_REGISTRY_PERMISSION).await;
    let root = tempfile::tempdir().unwrap();
    let npm = Npm::new(root.path(), &app, &key);

    let (ok, out, err) = npm.run(root.path(), &["whoami"]).await;
    assert!(ok, "{err}");
    assert_eq!(out.trim(), "vx-owner");

    let kernel = package(root.path(), "@vextrus/kernel", "1.0.0", "module.exports = 'kernel 1.0.0';\n");
    let (ok, _, err) = npm.run(&kernel, &["publish"]).await;
    assert!(ok, "npm publish: {err}");
    let newer = package(root.path(), "@vextrus/kernel", "1.1.0", "module.exports = 'kernel 1.1.0';\n");
    let (ok, _, err) = npm.run(&newer, &["publish", "--tag", "next"]).await;
    assert!(ok, "npm publish --tag next: {err}");

    // The packument as npm's installer asks for it.
    let abbreviated: Value = app
        .client
        .get(app.url("/npm/@vextrus%2fkernel"))
        .bearer_auth(&key)
        .header("accept", "application/vnd.npm.install-v1+json; q=1.0, application/json; q=0.8, */*")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(abbreviated["dist-tags"], json!({"latest": "1.0.0", "next": "1.1.0"}));
    assert!(abbreviated["time"]["1.1.0"].is_string() && abbreviated["modified"].is_string());
    let dist = &abbreviated["versions"]["1.0.0"]["dist"];
    assert_eq!(dist["tarball"], format!("{}/npm/@vextrus/kernel/-/kernel-1.0.0.tgz", app.base));
    assert!(dist["integrity"].as_str().unwrap().starts_with("sha512-"));

    // npm search finds it (with the publisher as maintainer); another organization's search does not.
    let (ok, out, err) = npm.run(root.path(), &["search", "kernel", "--json"]).await;
    assert!(ok, "{err}");
    let found: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(found[0]["name"], "@vextrus/kernel");
    assert_eq!(found[0]["version"], "1.0.0");
    assert_eq!(found[0]["maintainers"][0]["username"], "vx-owner");

    // Republishing a version: refused, and the stored tarball is unchanged.
    let forged = package(&root.path().join("forged"), "@vextrus/kernel", "1.0.0", "module.exports = 'forged';\n");
    let (ok, _, err) = npm.run(&forged, &["publish"]).await;
    assert!(!ok, "a republish must fail");
    assert!(err.contains("409") || err.contains("previously published"), "{err}");
    let again: Value = app.ok_json_get(&key, "/npm/@vextrus%2fkernel").await;
    assert_eq!(again["versions"]["1.0.0"]["dist"]["integrity"], dist["integrity"]);

    // dist-tags with npm.
    let (ok, _, err) = npm.run(root.path(), &["dist-tag", "add", "@vextrus/kernel@1.1.0", "stable"]).await;
    assert!(ok, "{err}");
    let (ok, out, err) = npm.run(root.path(), &["dist-tag", "ls", "@vextrus/kernel"]).await;
    assert!(ok, "{err}");
    assert!(out.contains("stable: 1.1.0") && out.contains("latest: 1.0.0"), "{out}");
    let (ok, _, err) = npm.run(root.path(), &["dist-tag", "rm", "@vextrus/kernel", "stable"]).await;
    assert!(ok, "{err}");

    // A consumer installs it and runs it.
    let consumer = root.path().join("consumer");
    std::fs::create_dir_all(&consumer).unwrap();
    let manifest = json!({"name": "consumer", "version": "1.0.0", "private": true,
                          "dependencies": {"@vextrus/kernel": "^1.0.0"}});
    std::fs::write(consumer.join("package.json"), manifest.to_string()).unwrap();
    let (ok, _, err) = npm.run(&consumer, &["install"]).await;
    assert!(ok, "npm install: {err}");
    let ran = tokio::process::Command::new("node")
        .args(["-e", "console.log(require('@vextrus/kernel'))"])
        .current_dir(&consumer)
        .output()
        .await
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&ran.stdout).trim(), "kernel 1.0.0", "latest, not next");

    // Another organization's owner: cannot see it (404) nor publish into the scope (403).
    app.sign_up("other-co", "owner@other.example", "other-owner").await;
    let other = app.access_token("other-owner", None).await;
    let outsider = Npm::new(root.path(), &app, &app.api_key(&other, &["registry.packages.read"]).await);
    let elsewhere = root.path().join("elsewhere");
    std::fs::create_dir_all(&elsewhere).unwrap();
    std::fs::write(elsewhere.join("package.json"), manifest.to_string()).unwrap();
    let (ok, _, err) = outsider.run(&elsewhere, &["install"]).await;
    assert!(!ok && err.contains("404"), "{err}");
    let (ok, out, err) = outsider.run(root.path(), &["search", "kernel", "--json"]).await;
    assert!(ok, "{err}");
    assert_eq!(serde_json::from_str::<Value>(&out).unwrap(), json!([]), "no other organization's packages");
    let intruder = Npm::new(root.path(), &app, &other);
    let sneaky = package(&root.path().join("sneaky"), "@vextrus/kernel", "9.0.0", "module.exports = 'x';\n");
    let (ok, _, err) = intruder.run(&sneaky, &["publish"]).await;
    assert!(!ok && err.contains("403"), "{err}");

    // A read-only key installs but cannot publish; no token at all gets 401.
    let reader = Npm::new(root.path(), &app, &app.api_key(&owner, &["registry.packages.read"]).await);
    let third = package(root.path(), "@vextrus/kernel", "1.2.0", "module.exports = 'kernel 1.2.0';\n");
    let (ok, _, err) = reader.run(&third, &["publish"]).await;
    assert!(!ok && err.contains("403"), "{err}");
    let anonymous = app.client.get(app.url("/npm/@vextrus%2fkernel")).send().await.unwrap();
    assert_eq!(anonymous.status(), 401);
    let body: Value = anonymous.json().await.unwrap();
    assert!(body["error"].is_string(), "npm's error shape: {body}");

    // Each publish and tag change is in the organization's audit trail.
    let trail = app.ok_json_get(&owner, "/v1/audit/events?action=registry.").await;
    let actions: Vec<&str> = trail["items"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(
        actions,
        ["registry.dist_tag.remove", "registry.dist_tag.set", "registry.package.publish", "registry.package.publish"]
    );
}

#[tokio::test]
async fn bad_publishes_get_clear_errors_and_leave_nothing_behind() {
    let app = TestApp::start().await;
    app.sign_up("acme", "owner@acme.example", "acme-owner").await;
    let owner = app.access_token("acme-owner", None).await;
    let put = |body: Value| app.client.put(app.url("/npm/@acme%2fwidget")).bearer_auth(&owner).json(&body).send();
    let tarball = |name: &str, version: &str| -> String {
        use base64::Engine as _;
        let dir = tempfile::tempdir().unwrap();
        let pkg = dir.path().join("package");
        std::fs::create_dir_all(&pkg).unwrap();
        std::fs::write(pkg.join("package.json"), json!({"name": name, "version": version}).to_string()).unwrap();
        let out =
            std::process::Command::new("tar").args(["-czf", "-", "package"]).current_dir(dir.path()).output().unwrap();
        base64::engine::general_purpose::STANDARD.encode(out.stdout)
    };
    let doc = |version: &str, data: &str| {
        json!({"_id": "@acme/widget", "name": "@acme/widget", "dist-tags": {"latest": version},
               "versions": {version: {"name": "@acme/widget", "version": version}},
               "_attachments": {format!("@acme/widget-{version}.tgz"): {"content_type": "application/octet-stream", "data": data}}})
    };
    let cases = [
        (doc("1.0", &tarball("@acme/widget", "1.0.0")), 400, "not a valid semver"),
        (doc("1.0.0", "not base64!"), 400, "not base64"),
        (doc("1.0.0", &tarball("@acme/other", "1.0.0")), 400, "package.json is @acme/other@1.0.0"),
        (doc("1.0.0", "UEsDBAo="), 400, "not gzip"),
    ];
    for (body, status, message) in cases {
        let response = put(body).await.unwrap();
        assert_eq!(response.status(), status);
        let error: Value = response.json().await.unwrap();
        assert!(error["error"].as_str().unwrap().contains(message), "{error}");
    }
    let mut wrong_integrity = doc("1.0.0", &tarball("@acme/widget", "1.0.0"));
    wrong_integrity["versions"]["1.0.0"]["dist"] = json!({"integrity": "sha512-AAAA"});
    let response = put(wrong_integrity).await.unwrap();
    assert_eq!(response.status(), 400);
    let malformed = app.client.put(app.url("/npm/@acme%2fwidget")).bearer_auth(&owner).body("{not json").send().await;
    assert_eq!(malformed.unwrap().status(), 400);
    let unscoped = app.client.put(app.url("/npm/widget")).bearer_auth(&owner).json(&doc("1.0.0", "")).send().await;
    assert_eq!(unscoped.unwrap().status(), 403);
    // Nothing was stored.
    let missing = app.client.get(app.url("/npm/@acme%2fwidget")).bearer_auth(&owner).send().await.unwrap();
    assert_eq!(missing.status(), 404);

    // Then a good one, and a 304 on revalidation.
    assert_eq!(put(doc("1.0.0", &tarball("@acme/widget", "1.0.0"))).await.unwrap().status(), 201);
    let first = app.client.get(app.url("/npm/@acme%2fwidget")).bearer_auth(&owner).send().await.unwrap();
    let etag = first.headers()["etag"].to_str().unwrap().to_owned();
    assert!(etag.starts_with("W/\""), "{etag}");
    let again = app
        .client
        .get(app.url("/npm/@acme/widget"))
        .bearer_auth(&owner)
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 304);
    let gzipped = app
        .client
        .get(app.url("/npm/@acme%2fwidget"))
        .bearer_auth(&owner)
        .header("accept-encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(gzipped.headers()["content-encoding"], "gzip");
    let body = gzipped.bytes().await.unwrap();
    let mut text = String::new();
    std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&body[..]), &mut text).unwrap();
    assert_eq!(serde_json::from_str::<Value>(&text).unwrap()["name"], "@acme/widget");
    let metrics = app.client.get(app.url("/metrics")).send().await.unwrap().text().await.unwrap();
    for series in [
        "vextrus_registry_publishes_total",
        "vextrus_registry_stored_bytes_total",
        "vextrus_registry_packument_responses_total{format=\"full\",status=\"304\"}",
    ] {
        assert!(metrics.contains(series), "{series} in {metrics}");
    }
}

fn write_json(path: &Path, value: &Value) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, serde_json::to_string_pretty(value).unwrap()).unwrap();
}

/// The company's monorepo: four packages that depend on each other, released with Changesets.
fn monorepo(root: &Path) -> PathBuf {
    let repo = root.join("packages-repo");
    write_json(
        &repo.join("package.json"),
        &json!({"name": "vextrus-packages", "private": true, "workspaces": ["packages/*"],
                "scripts": {"version-packages": "changeset version", "release": "changeset publish"}}),
    );
    write_json(
        &repo.join(".changeset/config.json"),
        &json!({"changelog": false, "commit": false, "access": "restricted", "baseBranch": "main",
                "updateInternalDependencies": "patch", "fixed": [], "linked": [], "ignore": []}),
    );
    let packages: [(&str, &[&str]); 4] = [
        ("kernel", &[]),
        ("utils", &["kernel"]),
        ("contracts", &["kernel"]),
        ("distributed-transactions", &["contracts", "utils"]),
    ];
    for (name, deps) in packages {
        let dependencies: serde_json::Map<String, Value> =
            deps.iter().map(|d| (format!("@vextrus/{d}"), json!("^0.1.0"))).collect();
        let dir = repo.join("packages").join(name);
        write_json(
            &dir.join("package.json"),
            &json!({"name": format!("@vextrus/{name}"), "version": "0.1.0", "main": "index.js", "license": "MIT",
                    "dependencies": dependencies}),
        );
        let requires: String = deps.iter().map(|d| format!("require('@vextrus/{d}');\n")).collect();
        std::fs::write(
            dir.join("index.js"),
            format!("{requires}module.exports = '@vextrus/{name}@' + require('./package.json').version;\n"),
        )
        .unwrap();
    }
    let names: String = packages.iter().map(|(n, _)| format!("\"@vextrus/{n}\": major\n")).collect();
    std::fs::write(repo.join(".changeset/first-release.md"), format!("---\n{names}---\n\nFirst release.\n")).unwrap();
    repo
}

#[tokio::test]
async fn changesets_publishes_the_monorepo_and_npm_pnpm_yarn1_yarn4_install_it() {
    let app = TestApp::start().await;
    let owner = app.vextrus().await;
    let key = app.api_key(&owner, &["registry.packages.read", "registry.packages.publish"]).await;
    let root = tempfile::tempdir().unwrap();
    let npm = Npm::new(root.path(), &app, &key);
    let repo = monorepo(root.path());
    for args in [
        &["init", "-q", "-b", "main"][..],
        &["-c", "user.name=ci", "-c", "user.email=ci@vextrus.example", "commit", "-q", "--allow-empty", "-m", "start"],
    ] {
        let (ok, _, err) = npm.tool(&repo, "git", args).await;
        assert!(ok, "git: {err}");
    }

    // First release: 1.0.0 of all four (through npm scripts, as a team runs them: npm hands
    // Changesets the registry).
    let (ok, _, err) = npm.run(&repo, &["run", "version-packages"]).await;
    assert!(ok, "changeset version: {err}");
    let (ok, out, err) = npm.run(&repo, &["run", "release"]).await;
    assert!(ok, "changeset publish: {out}{err}");
    // A fix across the packages: 1.0.1 of each.
    let patches: String = ["kernel", "utils", "contracts", "distributed-transactions"]
        .iter()
        .map(|n| format!("\"@vextrus/{n}\": patch\n"))
        .collect();
    std::fs::write(repo.join(".changeset/fix.md"), format!("---\n{patches}---\n\nFix.\n")).unwrap();
    let (ok, _, err) = npm.run(&repo, &["run", "version-packages"]).await;
    assert!(ok, "changeset version: {err}");
    let (ok, out, err) = npm.run(&repo, &["run", "release"]).await;
    assert!(ok, "changeset publish: {out}{err}");
    for name in ["kernel", "utils", "contracts", "distributed-transactions"] {
        let doc = app.ok_json_get(&key, &format!("/npm/@vextrus%2f{name}")).await;
        let versions: Vec<&String> = doc["versions"].as_object().unwrap().keys().collect();
        assert_eq!(versions, ["1.0.0", "1.0.1"], "@vextrus/{name}");
        assert_eq!(doc["dist-tags"]["latest"], "1.0.1");
    }

    // A consumer project, installed by each client twice: cold, then from its lockfile.
    let yarn1 = node_tools().join("yarn/bin/yarn.js");
    let yarn4 = node_tools().join("@yarnpkg/cli-dist/bin/yarn.js");
    let (yarn1, yarn4) = (yarn1.to_str().unwrap(), yarn4.to_str().unwrap());
    let store = npm.home.join("pnpm-store");
    let store = store.to_str().unwrap();
    /// (label, program, cold install, install from the lockfile, lockfile)
    type Client<'a> = (&'a str, &'a str, Vec<&'a str>, Vec<&'a str>, &'a str);
    let clients: [Client; 4] = [
        ("npm", "npm", vec!["install"], vec!["ci"], "package-lock.json"),
        (
            "pnpm",
            "pnpm",
            vec!["install", "--no-frozen-lockfile", "--store-dir", store],
            vec!["install", "--frozen-lockfile", "--store-dir", store],
            "pnpm-lock.yaml",
        ),
        (
            "yarn1",
            "node",
            vec![yarn1, "install", "--non-interactive"],
            vec![yarn1, "install", "--frozen-lockfile", "--non-interactive"],
            "yarn.lock",
        ),
        ("yarn4", "node", vec![yarn4, "install", "--no-immutable"], vec![yarn4, "install", "--immutable"], "yarn.lock"),
    ];
    for (label, program, cold, warm, lockfile) in clients {
        let consumer = root.path().join(format!("consumer-{label}"));
        write_json(
            &consumer.join("package.json"),
            &json!({"name": format!("consumer-{label}"), "version": "1.0.0", "private": true,
                    "dependencies": {"@vextrus/distributed-transactions": "^1.0.0", "@vextrus/kernel": "^1.0.0"},
                    "scripts": {"check": "node check.js"}}),
        );
        std::fs::write(
            consumer.join("check.js"),
            "console.log(require('@vextrus/distributed-transactions'), require('@vextrus/kernel'));\n",
        )
        .unwrap();
        if label == "yarn4" {
            let registry = format!("{}/npm/", app.base);
            std::fs::write(
                consumer.join(".yarnrc.yml"),
                format!(
                    "npmRegistryServer: \"{registry}\"\nnpmAuthToken: \"{key}\"\nnpmAlwaysAuth: true\n\
                     unsafeHttpWhitelist:\n  - \"127.0.0.1\"\nnodeLinker: node-modules\nenableTelemetry: false\n\
                     enableGlobalCache: false\nnpmMinimalAgeGate: 0\n"
                ),
            )
            .unwrap();
        }
        for (round, args) in [("cold", &cold), ("from the lockfile", &warm)] {
            if round != "cold" {
                std::fs::remove_dir_all(consumer.join("node_modules")).unwrap();
            }
            let (ok, out, err) = npm.tool(&consumer, program, args).await;
            assert!(ok, "{label} install ({round}): {out}{err}");
            assert!(consumer.join(lockfile).exists(), "{label} wrote {lockfile}");
            let (ok, out, err) = npm.tool(&consumer, "node", &["check.js"]).await;
            assert!(ok, "{label} ({round}): {err}");
            assert_eq!(
                out.trim(),
                "@vextrus/distributed-transactions@1.0.1 @vextrus/kernel@1.0.1",
                "{label} ({round})"
            );
        }
    }
}

#[tokio::test]
async fn npm_deprecates_and_unpublishes_within_the_rules() {
    let app = TestApp::start().await;
    let owner = app.vextrus().await;
    let manager = app.api_key(&owner, EVERY_REGISTRY_PERMISSION).await;
    let publisher = app.api_key(&owner, &["registry.packages.read", "registry.packages.publish"]).await;
    let root = tempfile::tempdir().unwrap();
    let (npm, npm_publisher) = (Npm::new(root.path(), &app, &manager), Npm::new(root.path(), &app, &publisher));
    for version in ["1.0.0", "1.1.0", "1.2.0"] {
        let dir = package(root.path(), "@vextrus/utils", version, "module.exports = 1;\n");
        let (ok, _, err) = npm_publisher.run(&dir, &["publish"]).await;
        assert!(ok, "{err}");
    }
    let (ok, out, err) = npm.run(root.path(), &["view", "@vextrus/utils", "versions", "--json"]).await;
    assert!(ok, "{err}");
    assert_eq!(serde_json::from_str::<Value>(&out).unwrap(), json!(["1.0.0", "1.1.0", "1.2.0"]));

    // Deprecating is a maintainer's (whoever may publish), not a reader's; "" undeprecates.
    let reader = Npm::new(root.path(), &app, &app.api_key(&owner, &["registry.packages.read"]).await);
    let (ok, _, err) = reader.run(root.path(), &["deprecate", "@vextrus/utils@1.0.0", "use 1.2"]).await;
    assert!(!ok && err.contains("403"), "{err}");
    let (ok, _, err) = npm_publisher.run(root.path(), &["deprecate", "@vextrus/utils@1.0.0", "use 1.2"]).await;
    assert!(ok, "{err}");
    let doc = app.ok_json_get(&manager, "/npm/@vextrus%2futils").await;
    assert_eq!(doc["versions"]["1.0.0"]["deprecated"], "use 1.2");
    let (ok, _, err) = npm.run(root.path(), &["deprecate", "@vextrus/utils@1.0.0", ""]).await;
    assert!(ok, "{err}");
    let doc = app.ok_json_get(&manager, "/npm/@vextrus%2futils").await;
    assert!(doc["versions"]["1.0.0"].get("deprecated").is_none(), "{doc}");

    // npm star / unstar: the caller's own star, shown in `users`.
    let (ok, _, err) = npm.run(root.path(), &["star", "@vextrus/utils"]).await;
    assert!(ok, "{err}");
    let doc = app.ok_json_get(&manager, "/npm/@vextrus%2futils").await;
    assert_eq!(doc["users"], json!({"vx-owner": true}));
    let (ok, _, err) = npm.run(root.path(), &["unstar", "@vextrus/utils"]).await;
    assert!(ok, "{err}");
    assert_eq!(app.ok_json_get(&manager, "/npm/@vextrus%2futils").await["users"], json!({}));

    // A fresh version its publisher may unpublish; `latest` moves to the newest that is left.
    let (ok, _, err) = npm_publisher.run(root.path(), &["unpublish", "@vextrus/utils@1.2.0", "--force"]).await;
    assert!(ok, "{err}");
    let doc = app.ok_json_get(&manager, "/npm/@vextrus%2futils").await;
    assert_eq!(doc["dist-tags"]["latest"], "1.1.0");
    assert!(doc["versions"].get("1.2.0").is_none());
    // Past the 72-hour window it takes `manage`.
    let mut conn = app.db.owner_conn().await;
    sqlx::query("UPDATE registry.versions SET published_at = now() - interval '4 days' WHERE version = '1.1.0'")
        .execute(&mut conn)
        .await
        .unwrap();
    let (ok, _, err) = npm_publisher.run(root.path(), &["unpublish", "@vextrus/utils@1.1.0", "--force"]).await;
    assert!(!ok && err.contains("403"), "{err}");
    let (ok, _, err) = npm.run(root.path(), &["unpublish", "@vextrus/utils@1.1.0", "--force"]).await;
    assert!(ok, "{err}");
    // The whole package.
    let (ok, _, err) = npm.run(root.path(), &["unpublish", "@vextrus/utils", "--force"]).await;
    assert!(ok, "{err}");
    let gone = app.client.get(app.url("/npm/@vextrus%2futils")).bearer_auth(&manager).send().await.unwrap();
    assert_eq!(gone.status(), 404);
    let trail = app.ok_json_get(&owner, "/v1/audit/events?action=registry.package.").await;
    let actions: Vec<&str> = trail["items"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(
        &actions[..7],
        ["registry.package.unpublish"; 3]
            .into_iter()
            .chain(["registry.package.unstar", "registry.package.star"])
            .chain(["registry.package.deprecate"; 2])
            .collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn twenty_concurrent_publishes_of_one_package_all_survive() {
    let app = TestApp::start().await;
    let owner = app.vextrus().await;
    let root = tempfile::tempdir().unwrap();
    let tarball = |version: &str| -> String {
        use base64::Engine as _;
        let dir = root.path().join(format!("src-{version}/package"));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("package.json"), json!({"name": "@vextrus/contracts", "version": version}).to_string())
            .unwrap();
        let out = std::process::Command::new("tar")
            .args(["-czf", "-", "package"])
            .current_dir(dir.parent().unwrap())
            .output()
            .unwrap();
        base64::engine::general_purpose::STANDARD.encode(out.stdout)
    };
    let versions: Vec<String> = (0..20).map(|i| format!("2.0.{i}")).collect();
    let publishes = versions.iter().map(|version| {
        let body = json!({"name": "@vextrus/contracts", "dist-tags": {"latest": version},
            "versions": {version: {"name": "@vextrus/contracts", "version": version}},
            "_attachments": {format!("@vextrus/contracts-{version}.tgz"): {"data": tarball(version)}}});
        app.client.put(app.url("/npm/@vextrus%2fcontracts")).bearer_auth(&owner).json(&body).send()
    });
    for response in futures_util::future::join_all(publishes).await {
        assert_eq!(response.unwrap().status(), 201);
    }
    let doc = app.ok_json_get(&owner, "/npm/@vextrus%2fcontracts").await;
    let mut stored: Vec<&str> = doc["versions"].as_object().unwrap().keys().map(String::as_str).collect();
    stored.sort_by_key(|v| v.rsplit('.').next().unwrap().parse::<u32>().unwrap());
    assert_eq!(stored, versions.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(versions.contains(&doc["dist-tags"]["latest"].as_str().unwrap().to_owned()));
    // Each is installable: its tarball is there and matches its integrity.
    for version in &versions {
        let url = doc["versions"][version]["dist"]["tarball"].as_str().unwrap();
        let response = app.client.get(url).bearer_auth(&owner).send().await.unwrap();
        assert!(response.headers()["cache-control"].to_str().unwrap().starts_with("private"), "never in shared caches");
        let bytes = response.bytes().await.unwrap();
        use base64::Engine as _;
        let digest = ring::digest::digest(&ring::digest::SHA512, &bytes);
        let integrity = format!("sha512-{}", base64::engine::general_purpose::STANDARD.encode(digest.as_ref()));
        assert_eq!(doc["versions"][version]["dist"]["integrity"], integrity.as_str());
    }
}

/// Drives an interactive command through a pseudo-terminal (npm reads prompts from a TTY only),
/// answering each `PROMPT=ANSWER` in turn.
const PTY_DRIVER: &str = r#"
import os, pty, select, sys, time
sep = sys.argv.index("--")
answers = [a.split("=", 1) for a in sys.argv[1:sep]]
pid, fd = pty.fork()
if pid == 0:
    os.execvp(sys.argv[sep + 1], sys.argv[sep + 1:])
seen, deadline = b"", time.time() + 60
while time.time() < deadline:
    ready, _, _ = select.select([fd], [], [], 0.5)
    if fd in ready:
        try:
            chunk = os.read(fd, 4096)
        except OSError:
            break
        if not chunk:
            break
        seen += chunk
        sys.stdout.write(chunk.decode(errors="replace"))
        while answers and answers[0][0].encode() in seen:
            prompt, answer = answers.pop(0)
            seen = seen.split(prompt.encode(), 1)[1]
            os.write(fd, (answer + "\r").encode())
if time.time() >= deadline:
    os.kill(pid, 9)  # a prompt nobody answers: fail instead of waiting forever
_, status = os.waitpid(pid, 0)
sys.exit(os.waitstatus_to_exitcode(status))
"#;

#[tokio::test]
async fn npm_login_whoami_and_tokens_use_the_platforms_credentials() {
    let app = TestApp::start().await;
    app.vextrus().await;
    let root = tempfile::tempdir().unwrap();
    let driver = root.path().join("drive_tty.py");
    std::fs::write(&driver, PTY_DRIVER).unwrap();
    let registry = format!("{}/npm/", app.base);
    // A home with no token yet: npm login writes it.
    let npm = Npm::new(root.path(), &app, "none-yet");
    std::fs::write(npm.home.join(".npmrc"), format!("registry={registry}\n")).unwrap();
    let login = |password: &str| {
        let (driver, password) = (driver.to_str().unwrap().to_owned(), format!("Password:={password}"));
        let npm = &npm;
        let root = root.path();
        async move {
            npm.tool(
                root,
                "python3",
                &[&driver, "Username:=vx-owner", &password, "--", "npm", "login", "--auth-type=legacy"],
            )
            .await
        }
    };
    let (ok, out, _) = login("not-the-password").await;
    assert!(!ok && out.contains("incorrect"), "a wrong password: {out}");
    assert!(!std::fs::read_to_string(npm.home.join(".npmrc")).unwrap().contains("_authToken"));
    let (ok, out, err) = login(common::PASSWORD).await;
    assert!(ok, "npm login: {out}{err}");
    assert!(std::fs::read_to_string(npm.home.join(".npmrc")).unwrap().contains(":_authToken=vxk_"));
    let (ok, out, err) = npm.run(root.path(), &["whoami"]).await;
    assert!(ok, "{err}");
    assert_eq!(out.trim(), "vx-owner");

    // npm 11's token create (password given as a flag), read-only.
    let (ok, out, err) = npm
        .run(
            root.path(),
            &[
                "token",
                "create",
                "--password",
                common::PASSWORD,
                "--name",
                "ci-read",
                "--packages-and-scopes-permission",
                "read-only",
                "--json",
            ],
        )
        .await;
    assert!(ok, "npm token create: {err}");
    let created: Value = serde_json::from_str(&out).unwrap();
    let read_only = created["token"].as_str().unwrap().to_owned();
    let (ok, out, err) = npm.run(root.path(), &["token", "list", "--json"]).await;
    assert!(ok, "{err}");
    let listed: Value = serde_json::from_str(&out).unwrap();
    let names: Vec<&str> = listed.as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert_eq!(names.len(), 2, "{listed}");
    assert!(names.contains(&"npm login") && names.contains(&"ci-read"), "{names:?}");
    assert!(!out.contains(&read_only[17..]), "secrets are never listed");

    // The read-only token reads but cannot publish.
    let reader = Npm::new(root.path(), &app, &read_only);
    let kernel = package(root.path(), "@vextrus/kernel", "1.0.0", "module.exports = 1;\n");
    let (ok, _, err) = npm.run(&kernel, &["publish"]).await;
    assert!(ok, "{err}");
    let (ok, out, err) = reader.run(root.path(), &["view", "@vextrus/kernel", "version"]).await;
    assert!(ok && out.trim() == "1.0.0", "{out}{err}");
    let newer = package(root.path(), "@vextrus/kernel", "1.0.1", "module.exports = 2;\n");
    let (ok, _, err) = reader.run(&newer, &["publish"]).await;
    assert!(!ok && err.contains("403"), "{err}");

    // Revoked: it no longer works.
    // npm shows the shortest unambiguous start of each key as its id (it redacts whole UUIDs).
    let id =
        listed.as_array().unwrap().iter().find(|t| t["name"] == "ci-read").unwrap()["id"].as_str().unwrap().to_owned();
    let (ok, _, err) = npm.run(root.path(), &["token", "revoke", &id]).await;
    assert!(ok, "{err}");
    let (ok, _, err) = reader.run(root.path(), &["whoami"]).await;
    assert!(!ok && err.contains("401"), "{err}");
}

#[tokio::test]
async fn npm_tokens_limited_to_networks_work_only_from_them() {
    let app = TestApp::start().await;
    let owner = app.vextrus().await;
    let root = tempfile::tempdir().unwrap();
    let npm = Npm::new(root.path(), &app, &app.api_key(&owner, EVERY_REGISTRY_PERMISSION).await);
    let create = |cidr: &'static str| {
        let npm = &npm;
        let root = root.path();
        async move {
            let args = ["token", "create", "--password", common::PASSWORD, "--name", cidr, "--cidr", cidr, "--json"];
            let (ok, out, err) = npm.run(root, &args).await;
            assert!(ok, "npm token create --cidr {cidr}: {err}");
            let created: Value = serde_json::from_str(&out).unwrap();
            assert_eq!(created["cidr_whitelist"], json!([cidr]));
            created["token"].as_str().unwrap().to_owned()
        }
    };
    let office = Npm::new(root.path(), &app, &create("10.0.0.0/8").await);
    let here = Npm::new(root.path(), &app, &create("127.0.0.0/8").await);
    let (ok, out, err) = here.run(root.path(), &["whoami"]).await;
    assert!(ok && out.trim() == "vx-owner", "{out}{err}");
    let (ok, _, err) = office.run(root.path(), &["whoami"]).await;
    assert!(!ok && err.contains("403") && err.contains("networks"), "{err}");
    let kernel = package(root.path(), "@vextrus/kernel", "1.0.0", "module.exports = 1;\n");
    let (ok, _, err) = office.run(&kernel, &["publish"]).await;
    assert!(!ok && err.contains("403"), "{err}");

    let (ok, out, err) = npm.run(root.path(), &["token", "list"]).await;
    assert!(ok, "{err}");
    assert!(out.contains("10.0.0.0/8") && out.contains("127.0.0.0/8"), "npm token list shows the networks: {out}");
    let (ok, _, err) =
        npm.run(root.path(), &["token", "create", "--password", common::PASSWORD, "--cidr", "10.0.0.0/33"]).await;
    assert!(!ok && err.contains("CIDR"), "npm checks the list itself: {err}");
}

#[tokio::test]
async fn a_slow_publish_has_the_registrys_time_limit_not_the_apis() {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let mut settings = vextrus_server::HttpSettings::new(64 * 1024, std::time::Duration::from_secs(1));
    settings.route_timeouts = vec![("/npm".to_owned(), std::time::Duration::from_secs(30))];
    let app = TestApp::start_configured(settings, |_| {}).await;
    let owner = app.vextrus().await;
    let root = tempfile::tempdir().unwrap();
    let pkg = root.path().join("package");
    std::fs::create_dir_all(&pkg).unwrap();
    std::fs::write(pkg.join("package.json"), json!({"name": "@vextrus/slow", "version": "1.0.0"}).to_string()).unwrap();
    let tgz =
        std::process::Command::new("tar").args(["-czf", "-", "package"]).current_dir(root.path()).output().unwrap();
    let data = {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode(tgz.stdout)
    };
    let doc = json!({"name": "@vextrus/slow", "dist-tags": {"latest": "1.0.0"},
        "versions": {"1.0.0": {"name": "@vextrus/slow", "version": "1.0.0"}},
        "_attachments": {"@vextrus/slow-1.0.0.tgz": {"data": data}}})
    .to_string();
    let signup = json!({"name": "slow"}).to_string();
    // Each request's body arrives in two halves, 2 s apart: longer than the API's 1 s limit.
    let slowly = |method: &str, path: &str, body: String| {
        let (addr, head) = (
            app.base.trim_start_matches("http://").to_owned(),
            format!(
                "{method} {path} HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {owner}\r\ncontent-type: application/json\r\n\
             content-length: {}\r\nconnection: close\r\n\r\n",
                body.len()
            ),
        );
        async move {
            let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
            let (first, second) = body.split_at(body.len() / 2);
            stream.write_all(format!("{head}{first}").as_bytes()).await.unwrap();
            tokio::time::sleep(std::time::Duration::from_secs(2)).await;
            let _ = stream.write_all(second.as_bytes()).await;
            let mut answer = String::new();
            let _ = stream.read_to_string(&mut answer).await;
            answer.lines().next().unwrap_or_default().to_owned()
        }
    };
    let (publish, api) =
        tokio::join!(slowly("PUT", "/npm/@vextrus%2fslow", doc), slowly("PATCH", "/v1/orgs/vextrus", signup));
    assert_eq!(publish, "HTTP/1.1 201 Created");
    assert_eq!(api, "HTTP/1.1 503 Service Unavailable", "the API's own limit still holds");
}

/// An instance that takes unscoped names and lets `npm adduser` join `vextrus` as a member.
async fn open_registry() -> TestApp {
    let settings = vextrus_server::HttpSettings::new(64 * 1024, std::time::Duration::from_secs(10));
    TestApp::start_configured(settings, |modules| {
        modules.registry.allow_unscoped = true;
        modules.registry.adduser = Some(vextrus_registry::AddUser { org: "vextrus".into(), role: "member".into() });
    })
    .await
}

#[tokio::test]
async fn where_configured_organizations_publish_unscoped_names_first_come_first_owned() {
    let app = open_registry().await;
    let owner = app.vextrus().await;
    app.sign_up("rival", "owner@rival.example", "rival-owner").await;
    let rival = app.access_token("rival-owner", None).await;
    let root = tempfile::tempdir().unwrap();
    let ours = Npm::new(root.path(), &app, &app.api_key(&owner, EVERY_REGISTRY_PERMISSION).await);
    let theirs = Npm::new(root.path(), &app, &app.api_key(&rival, EVERY_REGISTRY_PERMISSION).await);

    let (ok, _, err) = ours.run(&package(root.path(), "bd-taka", "1.0.0", "module.exports = 1;\n"), &["publish"]).await;
    assert!(ok, "{err}");
    let (ok, _, err) =
        theirs.run(&package(root.path(), "bd-taka", "1.0.1", "module.exports = 2;\n"), &["publish"]).await;
    assert!(!ok && err.contains("403") && err.contains("another organization owns it"), "{err}");
    let (ok, _, err) = theirs.run(root.path(), &["view", "bd-taka", "version"]).await;
    assert!(!ok && err.contains("404"), "another organization's unscoped package is not disclosed: {err}");
    let (ok, _, err) = ours.run(&package(root.path(), "bd-taka", "1.0.1", "module.exports = 2;\n"), &["publish"]).await;
    assert!(ok, "{err}");
    let consumer = consumer(root.path());
    let (ok, _, err) = ours.run(&consumer, &["install", "bd-taka@1.0.1"]).await;
    assert!(ok, "{err}");
    assert!(consumer.join("node_modules/bd-taka/index.js").exists());

    // Both organizations race for a new name: exactly one gets it.
    let race = |npm: &Npm, dir: PathBuf| {
        let npm = npm.clone();
        async move { npm.run(&dir, &["publish"]).await.0 }
    };
    let (a, b) = tokio::join!(
        race(&ours, package(&root.path().join("a"), "bd-race", "1.0.0", "1;\n")),
        race(&theirs, package(&root.path().join("b"), "bd-race", "1.0.0", "2;\n")),
    );
    assert!(a ^ b, "one of the two publishes wins: {a} {b}");

    // Without the switch, unscoped names are refused.
    let closed = TestApp::start().await;
    let owner = closed.vextrus().await;
    let npm = Npm::new(root.path(), &closed, &closed.api_key(&owner, EVERY_REGISTRY_PERMISSION).await);
    let (ok, _, err) = npm.run(&package(&root.path().join("c"), "bd-taka", "1.0.0", "1;\n"), &["publish"]).await;
    assert!(!ok && err.contains("only scoped packages"), "{err}");
}

#[tokio::test]
async fn where_configured_npm_adduser_creates_a_member_and_otherwise_nobody() {
    let app = open_registry().await;
    let owner = app.vextrus().await;
    let root = tempfile::tempdir().unwrap();
    let publisher = Npm::new(root.path(), &app, &app.api_key(&owner, EVERY_REGISTRY_PERMISSION).await);
    let (ok, _, err) = publisher.run(&package(root.path(), "@vextrus/kernel", "1.0.0", "1;\n"), &["publish"]).await;
    assert!(ok, "{err}");
    let driver = root.path().join("drive_tty.py");
    std::fs::write(&driver, PTY_DRIVER).unwrap();
    let adduser = |app: &TestApp, username: &'static str, email: &'static str| {
        let npm = Npm::new(&root.path().join(username), app, "none-yet");
        std::fs::write(npm.home.join(".npmrc"), format!("registry={}/npm/\n", app.base)).unwrap();
        let driver = driver.to_str().unwrap().to_owned();
        let root = root.path().to_owned();
        async move {
            let answers = [
                format!("Username:={username}"),
                format!("Password:={}", common::PASSWORD),
                format!("public):={email}"),
            ];
            let mut args: Vec<&str> = answers.iter().map(String::as_str).collect();
            args.insert(0, &driver);
            args.extend(["--", "npm", "adduser", "--auth-type=legacy"]);
            let (ok, out, err) = npm.tool(&root, "python3", &args).await;
            (ok, format!("{out}{err}"), npm)
        }
    };
    let (ok, out, npm) = adduser(&app, "rahim", "rahim@vextrus.example").await;
    assert!(ok, "npm adduser: {out}");
    let (ok, who, err) = npm.run(root.path(), &["whoami"]).await;
    assert!(ok && who.trim() == "rahim", "{who}{err}");
    let (ok, version, err) = npm.run(root.path(), &["view", "@vextrus/kernel", "version"]).await;
    assert!(ok && version.trim() == "1.0.0", "a member reads the organization's packages: {err}");
    let members = app.ok_json_get(&owner, "/v1/members").await;
    let rahim = members["items"].as_array().unwrap().iter().find(|m| m["username"] == "rahim").cloned();
    assert_eq!(rahim.expect("rahim is a member")["roles"], json!(["member"]));
    let events = app.ok_json_get(&owner, "/v1/audit/events?action=identity.user.signup").await;
    assert!(events.to_string().contains("npm adduser"), "{events}");
    app.mail_for("rahim@vextrus.example").await;

    // `npm login` (legacy: no address asked) with a new name creates the member too, with a
    // placeholder address to be set later; scripts that bootstrap users this way keep working.
    let npm = Npm::new(&root.path().join("login-new"), &app, "none-yet");
    std::fs::write(npm.home.join(".npmrc"), format!("registry={}/npm/\n", app.base)).unwrap();
    let answers = ["Username:=farida".to_owned(), format!("Password:={}", common::PASSWORD)];
    let mut args: Vec<&str> = answers.iter().map(String::as_str).collect();
    args.insert(0, driver.to_str().unwrap());
    args.extend(["--", "npm", "login", "--auth-type=legacy"]);
    let (ok, out, err) = npm.tool(root.path(), "python3", &args).await;
    assert!(ok, "npm login: {out}{err}");
    let (ok, who, err) = npm.run(root.path(), &["whoami"]).await;
    assert!(ok && who.trim() == "farida", "{who}{err}");
    let members = app.ok_json_get(&owner, "/v1/members").await;
    let farida = members["items"].as_array().unwrap().iter().find(|m| m["username"] == "farida").cloned();
    let farida = farida.expect("farida is a member");
    assert_eq!(
        (farida["roles"].clone(), farida["email"].clone()),
        (json!(["member"]), json!("farida@npm-login.invalid"))
    );

    // A taken name signs in (and fails with a wrong password); a taken address is refused.
    let (ok, out, _) = adduser(&app, "vx-owner", "other@vextrus.example").await;
    assert!(ok, "adduser as an existing user with the right password signs in: {out}");
    let (ok, out, _) = adduser(&app, "karim", "rahim@vextrus.example").await;
    assert!(!ok && out.contains("already has an account"), "{out}");

    // Without the setting nobody is created.
    let closed = TestApp::start().await;
    closed.vextrus().await;
    let (ok, out, _) = adduser(&closed, "rahim", "rahim@vextrus.example").await;
    assert!(!ok && out.contains("401"), "{out}");
}

#[tokio::test]
async fn npm_login_through_the_browser_page() {
    use tokio::io::AsyncBufReadExt as _;
    let app = TestApp::start().await;
    app.vextrus().await;
    let root = tempfile::tempdir().unwrap();
    let npm = Npm::new(root.path(), &app, "none-yet");
    std::fs::write(npm.home.join(".npmrc"), format!("registry={}/npm/\n", app.base)).unwrap();
    // npm 11's default login: it prints the page's URL and waits on the done URL.
    let mut child = tokio::process::Command::new("npm")
        .args(["login"])
        .current_dir(root.path())
        .env("HOME", &npm.home)
        .env("NPM_CONFIG_USERCONFIG", npm.home.join(".npmrc"))
        .env("npm_config_cache", npm.home.join("cache"))
        .env("BROWSER", "false")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let page_url = loop {
        let line = tokio::time::timeout(std::time::Duration::from_secs(30), lines.next_line())
            .await
            .expect("npm prints the login URL")
            .unwrap()
            .expect("npm is still running");
        if let Some(at) = line.find("http") {
            break line[at..].trim().to_owned();
        }
    };
    assert!(page_url.starts_with(&format!("{}/npm/-/v1/login/web/", app.base)), "{page_url}");

    // The browser: the page, a wrong password (the page says so), then the right one.
    let page = app.client.get(&page_url).send().await.unwrap();
    assert_eq!(page.headers()["x-frame-options"], "DENY");
    assert!(page.text().await.unwrap().contains("<form method=\"post\">"));
    let wrong =
        app.client.post(&page_url).form(&[("username", "vx-owner"), ("password", "nope")]).send().await.unwrap();
    assert_eq!(wrong.status(), 401);
    assert!(wrong.text().await.unwrap().contains("not right"));
    let approved = app
        .client
        .post(&page_url)
        .form(&[("username", "vx-owner"), ("password", common::PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(approved.status(), 200);
    assert!(approved.text().await.unwrap().contains("Signed in as <b>vx-owner</b>"));

    let status = tokio::time::timeout(std::time::Duration::from_secs(30), child.wait()).await.expect("npm finishes");
    assert!(status.unwrap().success());
    assert!(std::fs::read_to_string(npm.home.join(".npmrc")).unwrap().contains(":_authToken=vxk_"));
    let (ok, out, err) = npm.run(root.path(), &["whoami"]).await;
    assert!(ok && out.trim() == "vx-owner", "{out}{err}");
    // The page is single-use.
    assert_eq!(app.client.get(&page_url).send().await.unwrap().status(), 404);
}

#[tokio::test]
async fn npm_login_asks_for_the_one_time_code_when_mfa_is_on() {
    use vextrus_identity::totp;
    let app = TestApp::start().await;
    let owner = app.vextrus().await;
    let started: Value = app.ok_json(&owner, Method::POST, "/v1/me/mfa/totp", json!({})).await;
    let secret = totp::from_base32(started["secret"].as_str().unwrap()).unwrap();
    let code =
        |offset: i64| format!("{:06}", totp::code_at(&secret, totp::step_of(chrono::Utc::now().timestamp()) + offset));
    app.ok_json(&owner, Method::POST, "/v1/me/mfa/totp/confirm", json!({"code": code(0)})).await;

    let login = |otp: Option<String>| {
        let mut request = app
            .client
            .put(app.url("/npm/-/user/org.couchdb.user:vx-owner"))
            .json(&json!({"_id": "org.couchdb.user:vx-owner", "name": "vx-owner", "password": common::PASSWORD,
                          "type": "user", "roles": []}));
        if let Some(otp) = otp {
            request = request.header("npm-otp", otp);
        }
        request.send()
    };
    // Without the code: npm's OTP challenge (npm then asks and retries with npm-otp).
    let challenged = login(None).await.unwrap();
    assert_eq!(challenged.status(), 401);
    assert_eq!(challenged.headers()["www-authenticate"], "OTP");
    let wrong = login(Some("000000".into())).await.unwrap();
    assert_eq!(wrong.status(), 401);
    let signed_in = login(Some(code(1))).await.unwrap();
    assert_eq!(signed_in.status(), 201);
    let token = signed_in.json::<Value>().await.unwrap()["token"].as_str().unwrap().to_owned();
    let whoami: Value = app.ok_json_get(&token, "/npm/-/whoami").await;
    assert_eq!(whoami["username"], "vx-owner");
}

#[tokio::test]
async fn an_organization_publishes_into_a_scope_it_claimed_and_keeps_it() {
    let app = TestApp::start().await;
    app.sign_up("vextrus-ltd", "owner@ltd.example", "ltd-owner").await;
    let owner = app.access_token("ltd-owner", None).await;
    let claimed = app.ok_json(&owner, Method::POST, "/v1/registry/scopes", json!({"scope": "@vextrus"})).await;
    assert_eq!((claimed["scope"].as_str(), claimed["source"].as_str()), (Some("vextrus"), Some("claimed")));
    let scopes = app.ok_json_get(&owner, "/v1/registry/scopes").await;
    let listed: Vec<&str> = scopes["items"].as_array().unwrap().iter().map(|s| s["scope"].as_str().unwrap()).collect();
    assert_eq!(listed, ["vextrus-ltd", "vextrus"]);

    let key = app.api_key(&owner, &["registry.packages.read", "registry.packages.publish"]).await;
    let root = tempfile::tempdir().unwrap();
    let npm = Npm::new(root.path(), &app, &key);
    let kernel = package(root.path(), "@vextrus/kernel", "1.0.0", "module.exports = 'claimed';\n");
    let (ok, _, err) = npm.run(&kernel, &["publish"]).await;
    assert!(ok, "{err}");

    // Another organization cannot claim it, nor the first one's slug.
    app.sign_up("rival", "owner@rival.example", "rival-owner").await;
    let rival = app.access_token("rival-owner", None).await;
    for scope in ["vextrus", "vextrus-ltd"] {
        let refused = app.as_user(&rival, Method::POST, "/v1/registry/scopes").json(&json!({"scope": scope})).send();
        common::problem(refused.await.unwrap(), 409, "scope_taken").await;
    }
    // An organization created later with the slug `vextrus` does not get the claimed scope.
    app.sign_up("vextrus", "owner@late.example", "late-owner").await;
    let late = app.access_token("late-owner", None).await;
    let latecomer = Npm::new(root.path(), &app, &late);
    let (ok, _, err) = latecomer.run(root.path(), &["view", "@vextrus/kernel"]).await;
    assert!(!ok && err.contains("404"), "{err}");
    let squat = package(&root.path().join("squat"), "@vextrus/kernel", "2.0.0", "module.exports = 'x';\n");
    let (ok, _, err) = latecomer.run(&squat, &["publish"]).await;
    assert!(!ok && err.contains("403"), "{err}");
    assert!(app.ok_json_get(&late, "/v1/registry/scopes").await["items"].as_array().unwrap().is_empty());

    // A scope with packages is kept.
    let busy = app.as_user(&owner, Method::DELETE, "/v1/registry/scopes/vextrus").send().await.unwrap();
    common::problem(busy, 409, "scope_in_use").await;
}

#[tokio::test]
async fn packages_can_be_readable_by_every_signed_in_user_or_by_anyone() {
    let app = TestApp::start().await;
    let owner = app.vextrus().await;
    let key = app.api_key(&owner, EVERY_REGISTRY_PERMISSION).await;
    let root = tempfile::tempdir().unwrap();
    let npm = Npm::new(root.path(), &app, &key);
    let utils = package(root.path(), "@vextrus/utils", "1.0.0", "module.exports = 'shared utils';\n");
    let (ok, _, err) = npm.run(&utils, &["publish"]).await;
    assert!(ok, "{err}");

    let anonymous = Npm::new(root.path(), &app, "anonymous");
    std::fs::write(anonymous.home.join(".npmrc"), format!("registry={}/npm/\n", app.base)).unwrap();
    app.sign_up("partner", "owner@partner.example", "partner-owner").await;
    let partner = Npm::new(root.path(), &app, &app.access_token("partner-owner", None).await);
    let consumer = root.path().join("consumer");
    write_json(
        &consumer.join("package.json"),
        &json!({"name": "consumer", "version": "1.0.0", "private": true, "dependencies": {"@vextrus/utils": "1.0.0"}}),
    );
    let install = |who: &'static str| {
        let (npm, consumer) = (if who == "anonymous" { &anonymous } else { &partner }, consumer.clone());
        async move {
            let _ = std::fs::remove_dir_all(consumer.join("node_modules"));
            let _ = std::fs::remove_file(consumer.join("package-lock.json"));
            npm.run(&consumer, &["install", "--prefer-online"]).await
        }
    };
    // The organization's own: nobody else reads it.
    let (ok, _, err) = install("anonymous").await;
    assert!(!ok && err.contains("401"), "{err}");
    let (ok, _, err) = install("partner").await;
    assert!(!ok && err.contains("404"), "{err}");

    // `npm access set status=public`: anyone installs it, without a token.
    let (ok, _, err) = npm.run(root.path(), &["access", "set", "status=public", "@vextrus/utils"]).await;
    assert!(ok, "{err}");
    let (ok, out, err) = npm.run(root.path(), &["access", "get", "status", "@vextrus/utils"]).await;
    assert!(ok && out.contains("public"), "{out}{err}");
    let (ok, _, err) = install("anonymous").await;
    assert!(ok, "{err}");
    let ran = tokio::process::Command::new("node")
        .args(["-e", "console.log(require('@vextrus/utils'))"])
        .current_dir(&consumer)
        .output()
        .await
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&ran.stdout).trim(), "shared utils");
    // …but publishing and changing it stay the organization's.
    let (ok, _, err) = partner.run(root.path(), &["access", "set", "status=private", "@vextrus/utils"]).await;
    assert!(!ok && err.contains("404"), "{err}");

    // `signed_in`: every platform user with a valid token, nobody without one.
    let limited = app
        .client
        .post(app.url("/npm/-/package/@vextrus%2futils/access"))
        .bearer_auth(&key)
        .json(&json!({"access": "signed_in"}))
        .send()
        .await
        .unwrap();
    assert_eq!(limited.status(), 200);
    let (ok, _, err) = install("anonymous").await;
    assert!(!ok && err.contains("401"), "{err}");
    let (ok, _, err) = install("partner").await;
    assert!(ok, "{err}");
    let trail = app.ok_json_get(&owner, "/v1/audit/events?action=registry.package.visibility").await;
    assert_eq!(trail["items"][0]["changes"], json!({"visibility": {"before": "public", "after": "signed_in"}}));
}

#[tokio::test]
async fn every_instance_serves_packuments_from_memory_and_forgets_them_when_they_change() {
    let a = TestApp::start().await;
    let owner = a.vextrus().await;
    let key = a.api_key(&owner, EVERY_REGISTRY_PERMISSION).await;
    let root = tempfile::tempdir().unwrap();
    let npm = Npm::new(root.path(), &a, &key);
    let (ok, _, err) = npm.run(&package(root.path(), "@vextrus/kernel", "1.0.0", "1;\n"), &["publish"]).await;
    assert!(ok, "{err}");
    let b = a.another_instance().await;
    let latest = |app: &TestApp| {
        let request = app.client.get(app.url("/npm/@vextrus%2fkernel")).bearer_auth(&key).send();
        async move {
            let doc: Value = request.await.unwrap().json().await.unwrap();
            (doc["dist-tags"]["latest"].as_str().unwrap().to_owned(), doc["versions"]["1.0.0"]["deprecated"].clone())
        }
    };
    assert_eq!(latest(&b).await, ("1.0.0".to_owned(), Value::Null));

    // A change nobody announced (made behind the platform's back) is not seen: B answers from memory.
    let mut conn = a.db.owner_conn().await;
    sqlx::query("UPDATE registry.versions SET deprecated = 'behind its back' WHERE name = '@vextrus/kernel'")
        .execute(&mut conn)
        .await
        .unwrap();
    assert_eq!(latest(&b).await.1, Value::Null, "served from B's memory");

    // A publish through A is announced: B forgets its copy at once.
    let (ok, _, err) = npm.run(&package(root.path(), "@vextrus/kernel", "1.0.1", "2;\n"), &["publish"]).await;
    assert!(ok, "{err}");
    let started = std::time::Instant::now();
    loop {
        let (version, deprecated) = latest(&b).await;
        if version == "1.0.1" {
            assert_eq!(deprecated, "behind its back", "reloaded from the database");
            break;
        }
        assert!(started.elapsed() < std::time::Duration::from_secs(2), "B heard of the publish");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    // And the instance that made the change never serves its old copy.
    let (ok, _, err) = npm.run(root.path(), &["dist-tag", "add", "@vextrus/kernel@1.0.0", "latest"]).await;
    assert!(ok, "{err}");
    assert_eq!(latest(&a).await.0, "1.0.0");
}

#[tokio::test]
async fn publish_webhooks_deliver_signed_events_and_retry() {
    use axum::routing::post;
    type Deliveries = std::sync::Arc<std::sync::Mutex<Vec<(axum::http::HeaderMap, axum::body::Bytes)>>>;
    // A receiver that fails its first delivery (the queue must retry) and records the rest.
    let received: Deliveries = Default::default();
    let attempts = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let (log, count) = (received.clone(), attempts.clone());
    let receiver = axum::Router::new().route(
        "/hooks/npm",
        post(move |headers: axum::http::HeaderMap, body: axum::body::Bytes| {
            let (log, count) = (log.clone(), count.clone());
            async move {
                if count.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0 {
                    return axum::http::StatusCode::SERVICE_UNAVAILABLE;
                }
                log.lock().unwrap().push((headers, body));
                axum::http::StatusCode::NO_CONTENT
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hooks/npm", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, receiver).await.unwrap() });

    let app = TestApp::start().await;
    let owner = app.vextrus().await;
    for (body, field) in [
        (json!({"url": "ftp://hooks.example/"}), "url"),
        (json!({"url": url, "events": ["package.eaten"]}), "events[0]"),
    ] {
        let refused = app.as_user(&owner, Method::POST, "/v1/registry/webhooks").json(&body).send().await.unwrap();
        let problem = common::problem(refused, 422, "invalid_field").await;
        assert_eq!(problem["errors"][0]["field"], field);
    }
    let events = json!(["package.publish", "package.dist_tag"]);
    let hook = app.ok_json(&owner, Method::POST, "/v1/registry/webhooks", json!({"url": url, "events": events})).await;
    let secret = hook["secret"].as_str().unwrap().to_owned();
    let listed = app.ok_json_get(&owner, "/v1/registry/webhooks").await;
    assert!(!listed.to_string().contains(&secret), "the secret is shown once");

    let root = tempfile::tempdir().unwrap();
    let npm = Npm::new(root.path(), &app, &app.api_key(&owner, EVERY_REGISTRY_PERMISSION).await);
    let (ok, _, err) = npm.run(&package(root.path(), "@vextrus/kernel", "1.0.0", "1;\n"), &["publish"]).await;
    assert!(ok, "{err}");
    let (ok, _, err) = npm.run(root.path(), &["dist-tag", "add", "@vextrus/kernel@1.0.0", "stable"]).await;
    assert!(ok, "{err}");
    let (ok, _, err) = npm.run(root.path(), &["unpublish", "@vextrus/kernel@1.0.0", "--force"]).await;
    assert!(ok, "{err}");

    // Both subscribed events arrive (the publish after one failed attempt); the unpublish does not.
    let started = std::time::Instant::now();
    while received.lock().unwrap().len() < 2 {
        assert!(started.elapsed() < std::time::Duration::from_secs(20), "deliveries arrived");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let deliveries = received.lock().unwrap().clone();
    assert_eq!(deliveries.len(), 2, "nothing for events not subscribed to");
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret.as_bytes());
    let mut seen = Vec::new();
    for (headers, body) in &deliveries {
        let signature = headers["x-vextrus-signature-256"].to_str().unwrap().strip_prefix("sha256=").unwrap();
        let bytes: Vec<u8> =
            (0..signature.len()).step_by(2).map(|i| u8::from_str_radix(&signature[i..i + 2], 16).unwrap()).collect();
        assert!(ring::hmac::verify(&key, body, &bytes).is_ok(), "signed with the webhook's secret");
        let event: Value = serde_json::from_slice(body).unwrap();
        assert_eq!(headers["x-vextrus-event"], event["event"].as_str().unwrap());
        assert_eq!(headers["x-vextrus-delivery"], event["delivery"].as_str().unwrap());
        seen.push((event["event"].as_str().unwrap().to_owned(), event["data"].clone()));
    }
    seen.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(seen[0].0, "package.dist_tag");
    assert_eq!((seen[0].1["tag"].as_str(), seen[0].1["version"].as_str()), (Some("stable"), Some("1.0.0")));
    assert_eq!(seen[1].0, "package.publish");
    assert_eq!(seen[1].1["name"], "@vextrus/kernel");
    assert!(attempts.load(std::sync::atomic::Ordering::SeqCst) >= 3, "the failed delivery was retried");

    // Removed: nothing more is sent.
    let id = hook["id"].as_str().unwrap();
    let removed = app.as_user(&owner, Method::DELETE, &format!("/v1/registry/webhooks/{id}")).send().await.unwrap();
    assert_eq!(removed.status(), 204);
    let (ok, _, err) = npm.run(&package(root.path(), "@vextrus/kernel", "1.0.1", "2;\n"), &["publish"]).await;
    assert!(ok, "{err}");
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    assert_eq!(received.lock().unwrap().len(), 2);
}

#[tokio::test]
async fn tarballs_no_version_names_are_collected_and_published_ones_stay() {
    use vextrus_registry::gc;
    let app = TestApp::start().await;
    let owner = app.vextrus().await;
    let root = tempfile::tempdir().unwrap();
    let npm = Npm::new(root.path(), &app, &app.api_key(&owner, EVERY_REGISTRY_PERMISSION).await);
    for version in ["1.0.0", "1.0.1"] {
        let (ok, _, err) = npm.run(&package(root.path(), "@vextrus/kernel", version, "1;\n"), &["publish"]).await;
        assert!(ok, "{err}");
    }
    let (ok, _, err) = npm.run(root.path(), &["unpublish", "@vextrus/kernel@1.0.0", "--force"]).await;
    assert!(ok, "{err}");
    let storage = app.modules.registry.storage.clone();
    let stored = || {
        let storage = storage.clone();
        async move { storage.list("registry/sha512").await.unwrap().len() }
    };
    assert_eq!(stored().await, 2, "unpublishing leaves the bytes");

    // Within the grace period nothing goes (a publish may be about to name the bytes).
    assert_eq!(gc::collect(&app.db.db, &storage, gc::GRACE).await.unwrap(), 0);
    assert_eq!(gc::collect(&app.db.db, &storage, chrono::Duration::zero()).await.unwrap(), 1);
    assert_eq!(stored().await, 1);
    let consumer = consumer(root.path());
    let (ok, _, err) = npm.run(&consumer, &["install", "@vextrus/kernel@1.0.1"]).await;
    assert!(ok, "the published version's bytes stay: {err}");

    // The same bytes published again after they were collected are written again.
    let republish = ["publish", "--tag", "previous"];
    let (ok, _, err) = npm.run(&package(root.path(), "@vextrus/kernel", "1.0.0", "1;\n"), &republish).await;
    assert!(ok, "{err}");
    let (ok, _, err) = npm.run(&consumer, &["install", "@vextrus/kernel@1.0.0"]).await;
    assert!(ok, "{err}");
    assert_eq!(gc::collect(&app.db.db, &storage, chrono::Duration::zero()).await.unwrap(), 0, "both are named");
}

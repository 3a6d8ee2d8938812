//! What a team moving from Verdaccio runs on its first day, each with the real client that runs
//! it: `npm stars`, `pnpm audit` (the full audit, forwarded to the uplink), `yarn tag list` (tags
//! in the registry's order).

mod common;

use std::time::Duration;

use common::TestApp;
use common::npm::{Npm, consumer, node_tools, package};
use serde_json::{Value, json};
use vextrus_registry::proxy::Uplink;

const EVERY_REGISTRY_PERMISSION: &[&str] =
    &["registry.packages.read", "registry.packages.publish", "registry.packages.manage"];

/// npm's output lines, trimmed, without blanks.
fn lines(out: &str) -> Vec<&str> {
    out.lines().map(str::trim).filter(|l| !l.is_empty()).collect()
}

#[tokio::test]
async fn npm_stars_lists_the_users_stars_on_what_the_caller_may_read() {
    let app = TestApp::start().await;
    let owner = app.vextrus().await;
    let root = tempfile::tempdir().unwrap();
    let npm = Npm::new(root.path(), &app, &app.api_key(&owner, EVERY_REGISTRY_PERMISSION).await);
    for name in ["@vextrus/kernel", "@vextrus/utils", "@vextrus/unstarred"] {
        let (ok, _, err) = npm.run(&package(root.path(), name, "1.0.0", "1;\n"), &["publish"]).await;
        assert!(ok, "{err}");
    }
    for name in ["@vextrus/utils", "@vextrus/kernel"] {
        let (ok, _, err) = npm.run(root.path(), &["star", name]).await;
        assert!(ok, "{err}");
    }
    let (ok, out, err) = npm.run(root.path(), &["stars"]).await;
    assert!(ok, "{err}");
    assert_eq!(lines(&out), ["@vextrus/kernel", "@vextrus/utils"], "{out}");

    // Someone of another organization sees only the stars on packages open to them.
    app.sign_up("rival", "owner@rival.example", "rival-owner").await;
    let rival_token = app.access_token("rival-owner", None).await;
    let rival = Npm::new(root.path(), &app, &app.api_key(&rival_token, &["registry.packages.read"]).await);
    let (ok, out, err) = rival.run(root.path(), &["stars", "vx-owner"]).await;
    assert!(ok && lines(&out).is_empty(), "{out}{err}");
    assert!(err.contains("has not starred any packages"), "{err}");
    let (ok, _, err) = npm.run(root.path(), &["access", "set", "status=public", "@vextrus/kernel"]).await;
    assert!(ok, "{err}");
    let (ok, out, err) = rival.run(root.path(), &["stars", "vx-owner"]).await;
    assert!(ok, "{err}");
    assert_eq!(lines(&out), ["@vextrus/kernel"]);

    // The view answers in CouchDB's shape; a request without a user is a clear 400.
    let view: Value = app.ok_json_get(&owner, "/npm/-/_view/starredByUser?key=%22vx-owner%22").await;
    assert_eq!(
        view["rows"],
        json!([{"key": "vx-owner", "value": "@vextrus/kernel"},
                                   {"key": "vx-owner", "value": "@vextrus/utils"}])
    );
    let bare = app.client.get(app.url("/npm/-/_view/starredByUser")).bearer_auth(&owner).send().await.unwrap();
    assert_eq!(bare.status(), 400);
}

/// An advisory service speaking npm's full-audit protocol (`POST /-/npm/v1/security/audits`: the
/// dependency tree in, `{advisories, metadata, …}` out), as pnpm and yarn 1 call it.
async fn full_audit_service() -> (String, tokio::sync::oneshot::Sender<()>) {
    use axum::routing::post;
    let service =
        axum::Router::new().route(
            "/-/npm/v1/security/audits",
            post(|body: axum::body::Bytes| async move {
                let tree: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                // The tree nests dependencies under the project (pnpm: per importer).
                fn version_of<'a>(tree: &'a Value, name: &str) -> Option<&'a str> {
                    let deps = tree.get("dependencies")?.as_object()?;
                    deps.get(name)
                        .and_then(|d| d["version"].as_str())
                        .or_else(|| deps.values().find_map(|d| version_of(d, name)))
                }
                let version = version_of(&tree, "@vextrus/kernel");
                let mut advisories = serde_json::Map::new();
                if let Some(version) = version.filter(|v| *v == "1.0.0") {
                    advisories.insert("1097420".into(), json!({
                    "id": 1097420, "module_name": "@vextrus/kernel", "severity": "high",
                    "title": "Prototype pollution in kernel",
                    "url": "https://github.com/advisories/GHSA-vxtr-0000-0001",
                    "github_advisory_id": "GHSA-vxtr-0000-0001",
                    "vulnerable_versions": "<1.0.1", "patched_versions": ">=1.0.1",
                    "recommendation": "Upgrade to version 1.0.1 or later", "overview": "Prototype pollution.",
                    "cwe": ["CWE-1321"], "cves": [], "access": "public", "references": "",
                    "created": "2026-11-01T00:00:00.000Z", "updated": "2026-11-01T00:00:00.000Z", "deleted": null,
                    "findings": [{"version": version, "paths": ["@vextrus/kernel"]}],
                }));
                }
                let high = advisories.len();
                axum::Json(json!({
                    "actions": [], "advisories": advisories, "muted": [],
                    "metadata": {"vulnerabilities": {"info": 0, "low": 0, "moderate": 0, "high": high, "critical": 0},
                                 "dependencies": 1, "devDependencies": 0, "optionalDependencies": 0,
                                 "totalDependencies": 1},
                }))
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        let shutdown = async move {
            let _ = stopped.await;
        };
        axum::serve(listener, service).with_graceful_shutdown(shutdown).await.unwrap()
    });
    (url, stop)
}

#[tokio::test]
async fn pnpm_audit_is_answered_by_the_uplinks_advisory_service() {
    let (upstream, _stop) = full_audit_service().await;
    let mut uplink = Uplink::new("advisories", &upstream).unwrap();
    uplink.timeout = Duration::from_secs(5);
    let app = TestApp::start_proxying(vec![uplink]).await;
    let owner = app.vextrus().await;
    let root = tempfile::tempdir().unwrap();
    let npm = Npm::new(root.path(), &app, &app.api_key(&owner, EVERY_REGISTRY_PERMISSION).await);
    let (ok, _, err) = npm.run(&package(root.path(), "@vextrus/kernel", "1.0.0", "1;\n"), &["publish"]).await;
    assert!(ok, "{err}");
    let consumer = consumer(root.path());
    let store = npm.home.join("pnpm-store");
    let store = store.to_str().unwrap();
    let (ok, out, err) = npm.tool(&consumer, "pnpm", &["add", "@vextrus/kernel@1.0.0", "--store-dir", store]).await;
    assert!(ok, "{out}{err}");

    let (ok, out, err) = npm.tool(&consumer, "pnpm", &["audit", "--json"]).await;
    assert!(!ok, "pnpm audit exits non-zero when it finds something: {out}{err}");
    let report: Value = serde_json::from_str(&out).unwrap_or_else(|_| panic!("{out}{err}"));
    assert_eq!(report["advisories"]["1097420"]["module_name"], "@vextrus/kernel", "{report}");
    assert_eq!(report["metadata"]["vulnerabilities"]["high"], 1, "{report}");
    let (_, out, _) = npm.tool(&consumer, "pnpm", &["audit"]).await;
    assert!(out.contains("Prototype pollution in kernel"), "{out}");
}

#[tokio::test]
async fn dist_tags_answer_latest_first_then_in_the_order_they_were_created() {
    let app = TestApp::start().await;
    let owner = app.vextrus().await;
    let root = tempfile::tempdir().unwrap();
    let npm = Npm::new(root.path(), &app, &app.api_key(&owner, EVERY_REGISTRY_PERMISSION).await);
    for version in ["1.0.0", "1.1.0", "2.0.0-rc.1"] {
        let (ok, _, err) =
            npm.run(&package(root.path(), "@vextrus/kernel", version, "1;\n"), &["publish", "--tag", "next"]).await;
        assert!(ok, "{err}");
    }
    // Tags made in an order that is not alphabetical; `latest` and `next` move (and keep their place).
    for (tag, version) in [("stable", "1.0.0"), ("beta", "2.0.0-rc.1"), ("latest", "1.1.0"), ("next", "2.0.0-rc.1")] {
        let (ok, _, err) = npm.run(root.path(), &["dist-tag", "add", &format!("@vextrus/kernel@{version}"), tag]).await;
        assert!(ok, "{err}");
    }
    let order = ["latest", "next", "stable", "beta"];
    let text = |body: &str| -> Vec<usize> { order.iter().map(|t| body.find(&format!("\"{t}\"")).unwrap()).collect() };
    let ascending = |at: Vec<usize>| at.windows(2).all(|w| w[0] < w[1]);
    let tags =
        app.client.get(app.url("/npm/-/package/@vextrus%2fkernel/dist-tags")).bearer_auth(&owner).send().await.unwrap();
    let tags = tags.text().await.unwrap();
    assert!(ascending(text(&tags)), "moving `next` kept its place: {tags}");
    for accept in ["application/json", "application/vnd.npm.install-v1+json"] {
        let doc = app.client.get(app.url("/npm/@vextrus%2fkernel")).bearer_auth(&owner).header("accept", accept);
        let doc = doc.send().await.unwrap().text().await.unwrap();
        let start = doc.find("\"dist-tags\"").unwrap();
        let tags = &doc[start..start + doc[start..].find('}').unwrap()];
        assert!(ascending(text(tags)), "{accept}: {tags}");
    }

    // yarn 1 prints them in the answer's order.
    let yarn1 = node_tools().join("yarn/bin/yarn.js");
    let (ok, out, err) = npm
        .tool(root.path(), "node", &[yarn1.to_str().unwrap(), "tag", "list", "@vextrus/kernel", "--non-interactive"])
        .await;
    assert!(ok, "{out}{err}");
    let printed: Vec<&str> = out
        .lines()
        .filter_map(|l| l.trim().strip_prefix("info "))
        .filter(|l| !l.starts_with("Package "))
        .map(|l| l.split(':').next().unwrap().trim())
        .collect();
    assert_eq!(printed, order, "{out}");
}

#[tokio::test]
async fn a_member_tags_and_deprecates_what_they_publish_and_access_stays_with_managers() {
    let settings = vextrus_server::HttpSettings::new(64 * 1024, Duration::from_secs(10));
    let app = TestApp::start_configured(settings, |m| {
        m.registry.adduser = Some(vextrus_registry::AddUser { org: "vextrus".into(), role: "member".into() });
    })
    .await;
    app.vextrus().await;
    // `npm adduser` (legacy, as npm sends it) makes a member; its answer is the npm token.
    let body = json!({"_id": "org.couchdb.user:karim", "name": "karim", "password": common::PASSWORD,
                      "email": "karim@vextrus.example", "type": "user", "roles": []});
    let added = app.client.put(app.url("/npm/-/user/org.couchdb.user:karim")).json(&body).send().await.unwrap();
    assert_eq!(added.status(), 201);
    let token = added.json::<Value>().await.unwrap()["token"].as_str().unwrap().to_owned();
    let root = tempfile::tempdir().unwrap();
    let member = Npm::new(root.path(), &app, &token);
    for version in ["1.0.0", "1.1.0"] {
        let (ok, _, err) = member.run(&package(root.path(), "@vextrus/ledger", version, "1;\n"), &["publish"]).await;
        assert!(ok, "{err}");
    }
    let (ok, _, err) = member.run(root.path(), &["dist-tag", "add", "@vextrus/ledger@1.0.0", "lts"]).await;
    assert!(ok, "{err}");
    let (ok, out, err) = member.run(root.path(), &["dist-tag", "ls", "@vextrus/ledger"]).await;
    assert!(ok, "{err}");
    assert_eq!(lines(&out), ["latest: 1.1.0", "lts: 1.0.0"]);
    let (ok, _, err) = member.run(root.path(), &["deprecate", "@vextrus/ledger@1.0.0", "use 1.1"]).await;
    assert!(ok, "{err}");
    let (ok, out, err) = member.run(root.path(), &["view", "@vextrus/ledger@1.0.0", "deprecated"]).await;
    assert!(ok && out.trim() == "use 1.1", "{out}{err}");
    let (ok, _, err) = member.run(root.path(), &["dist-tag", "rm", "@vextrus/ledger", "lts"]).await;
    assert!(ok, "{err}");
    // Who may read it is the managers' to say.
    let (ok, _, err) = member.run(root.path(), &["access", "set", "status=public", "@vextrus/ledger"]).await;
    assert!(!ok && err.contains("403"), "{err}");
}

/// The names in `npm search --json`'s answer.
fn found(out: &str) -> Vec<String> {
    let hits: Value = serde_json::from_str(out).unwrap_or_else(|_| panic!("{out}"));
    let mut names: Vec<String> =
        hits.as_array().unwrap().iter().map(|h| h["name"].as_str().unwrap().to_owned()).collect();
    names.sort();
    names
}

#[tokio::test]
async fn npm_search_finds_what_the_caller_may_read_and_the_uplinks_packages() {
    // The uplink: another registry with an unscoped public package.
    let settings = vextrus_server::HttpSettings::new(64 * 1024, Duration::from_secs(30));
    let upstream = TestApp::start_configured(settings, |m| m.registry.allow_unscoped = true).await;
    upstream.sign_up("upstream", "owner@upstream.example", "up-owner").await;
    let up_owner = upstream.access_token("up-owner", None).await;
    let root = tempfile::tempdir().unwrap();
    let up = Npm::new(root.path(), &upstream, &upstream.api_key(&up_owner, EVERY_REGISTRY_PERMISSION).await);
    let (ok, _, err) =
        up.run(&package(&root.path().join("up"), "ledger-upstream", "1.0.0", "1;\n"), &["publish"]).await;
    assert!(ok, "{err}");
    let up_reader = upstream.api_key(&up_owner, &["registry.packages.read"]).await;

    // Here: anonymous reads of proxied packages, and searches that ask the uplink too.
    let mut uplink = Uplink::new("upstream", &format!("{}/npm/", upstream.base)).unwrap();
    uplink.auth = Some(format!("Bearer {up_reader}"));
    uplink.timeout = Duration::from_secs(5);
    let proxy = vextrus_registry::proxy::ProxySettings { uplinks: vec![uplink], anonymous: true, ..Default::default() };
    let settings = vextrus_server::HttpSettings::new(64 * 1024, Duration::from_secs(30));
    let app = TestApp::start_configured(settings, move |m| {
        m.registry.proxy = Some(std::sync::Arc::new(vextrus_registry::proxy::Proxy::new(proxy)));
        m.registry.uplink_search = true;
    })
    .await;
    let owner = app.vextrus().await;
    let ours = Npm::new(root.path(), &app, &app.api_key(&owner, EVERY_REGISTRY_PERMISSION).await);
    app.sign_up("rival", "owner@rival.example", "rival-owner").await;
    let rival_owner = app.access_token("rival-owner", None).await;
    let rival = Npm::new(root.path(), &app, &app.api_key(&rival_owner, EVERY_REGISTRY_PERMISSION).await);
    for (npm, name) in [
        (&ours, "@vextrus/ledger-private"),
        (&ours, "@vextrus/ledger-public"),
        (&rival, "@rival/ledger-signed-in"),
        (&rival, "@rival/ledger-hidden"),
    ] {
        let (ok, _, err) = npm.run(&package(root.path(), name, "1.0.0", "1;\n"), &["publish"]).await;
        assert!(ok, "{err}");
    }
    let (ok, _, err) = ours.run(root.path(), &["access", "set", "status=public", "@vextrus/ledger-public"]).await;
    assert!(ok, "{err}");
    let signed_in = app.as_user(&rival_owner, reqwest::Method::POST, "/npm/-/package/@rival%2fledger-signed-in/access");
    assert!(signed_in.json(&json!({"access": "signed_in"})).send().await.unwrap().status().is_success());

    let (ok, out, err) = ours.run(root.path(), &["search", "--json", "ledger"]).await;
    assert!(ok, "{err}");
    assert_eq!(
        found(&out),
        ["@rival/ledger-signed-in", "@vextrus/ledger-private", "@vextrus/ledger-public", "ledger-upstream"],
        "ours, another organization's open to the signed-in, the uplink's; never a hidden one"
    );
    let anonymous = Npm::new(root.path(), &app, "anonymous");
    std::fs::write(anonymous.home.join(".npmrc"), format!("registry={}/npm/\n", app.base)).unwrap();
    let (ok, out, err) = anonymous.run(root.path(), &["search", "--json", "ledger"]).await;
    assert!(ok, "{err}");
    assert_eq!(found(&out), ["@vextrus/ledger-public", "ledger-upstream"], "public ones only");

    // Where anonymous reads are not allowed, neither is an anonymous search.
    let closed = TestApp::start().await;
    let refused = closed.client.get(closed.url("/npm/-/v1/search?text=ledger")).send().await.unwrap();
    assert_eq!(refused.status(), 401);
}

#[tokio::test]
async fn verdaccio_access_rules_carry_over_and_npm_access_still_decides() {
    // The registry configured as `import-verdaccio --verdaccio-config` proposes from the team's
    // Verdaccio configuration.
    let yaml = "packages:\n  '@vextrus/internal-*':\n    access: vx-owner\n    publish: $authenticated\n\
                \x20 '@vextrus/*':\n    access: $all\n    publish: $authenticated\n\
                \x20 '**':\n    access: $authenticated\n    publish: $authenticated\n";
    let proposed = vextrus::verdaccio::propose(yaml).unwrap();
    let config: vextrus_config::Config = toml::from_str(&proposed).unwrap();
    let rules = vextrus::platform::access_rules(&config).unwrap();
    let settings = vextrus_server::HttpSettings::new(64 * 1024, Duration::from_secs(10));
    let configured = rules.clone();
    let app = TestApp::start_configured(settings, move |m| m.registry.access = configured).await;
    let owner = app.vextrus().await;
    let root = tempfile::tempdir().unwrap();
    let npm = Npm::new(root.path(), &app, &app.api_key(&owner, EVERY_REGISTRY_PERMISSION).await);
    for name in ["@vextrus/kernel", "@vextrus/internal-ledger"] {
        let (ok, _, err) = npm.run(&package(root.path(), name, "1.0.0", "1;\n"), &["publish"]).await;
        assert!(ok, "{err}");
    }
    let anonymous = Npm::new(root.path(), &app, "anonymous");
    std::fs::write(anonymous.home.join(".npmrc"), format!("registry={}/npm/\n", app.base)).unwrap();
    let (ok, out, err) = anonymous.run(root.path(), &["info", "@vextrus/kernel", "version"]).await;
    assert!(ok && out.trim() == "1.0.0", "published under `@vextrus/*`: anyone reads it: {out}{err}");
    let (ok, _, err) = anonymous.run(root.path(), &["info", "@vextrus/internal-ledger", "version"]).await;
    assert!(!ok && err.contains("401"), "the first matching rule decides: {err}");
    let (ok, out, err) = anonymous.run(root.path(), &["search", "--json", "vextrus"]).await;
    assert!(ok, "anyone may read, so anyone may search: {err}");
    assert_eq!(found(&out), ["@vextrus/kernel"]);
    // Someone of another organization, signed in: `**` does not reach into @vextrus (its rules
    // came first), so they read the public one only.
    app.sign_up("rival", "owner@rival.example", "rival-owner").await;
    let rival_token = app.access_token("rival-owner", None).await;
    let rival = Npm::new(root.path(), &app, &app.api_key(&rival_token, EVERY_REGISTRY_PERMISSION).await);
    let (ok, _, err) =
        rival.run(&package(&root.path().join("rival"), "@rival/widget", "1.0.0", "1;\n"), &["publish"]).await;
    assert!(ok, "{err}");
    let (ok, out, err) = npm.run(root.path(), &["info", "@rival/widget", "version"]).await;
    assert!(ok && out.trim() == "1.0.0", "`**` is signed_in: {out}{err}");

    // `npm access` on one package overrides the rule, and the rule no longer moves it.
    let (ok, _, err) = npm.run(root.path(), &["access", "set", "status=private", "@vextrus/kernel"]).await;
    assert!(ok, "{err}");
    let (ok, _, err) = anonymous.run(root.path(), &["info", "@vextrus/kernel", "version"]).await;
    assert!(!ok && err.contains("401"), "{err}");
    assert_eq!(vextrus_registry::access::apply(&app.db.db, &rules, None).await.unwrap(), 0);

    // Rules changed later reach what was published before (as `serve` applies them at start),
    // each change in the organization's audit trail.
    let (ok, _, err) = npm.run(&package(root.path(), "@vextrus/later", "1.0.0", "1;\n"), &["publish"]).await;
    assert!(ok, "{err}");
    let (ok, _, err) = anonymous.run(root.path(), &["info", "@vextrus/later", "version"]).await;
    assert!(ok, "public under the rules it was published with: {err}");
    let later = vextrus_registry::access::AccessRules::new(vec![
        vextrus_registry::access::AccessRule::new("@rival/*", "public").unwrap(),
    ]);
    let changed = vextrus_registry::access::apply(&app.db.db, &later, None).await.unwrap();
    assert_eq!(changed, 2, "@rival/widget goes public, @vextrus/later back to its organization");
    let (ok, out, err) = anonymous.run(root.path(), &["info", "@rival/widget", "version"]).await;
    assert!(ok && out.trim() == "1.0.0", "{out}{err}");
    let (ok, _, err) = anonymous.run(root.path(), &["info", "@vextrus/later", "version"]).await;
    assert!(!ok && err.contains("401"), "{err}");
    let events = app.ok_json_get(&owner, "/v1/audit/events?action=registry.package.visibility").await;
    assert!(events.to_string().contains("configuration"), "{events}");
}

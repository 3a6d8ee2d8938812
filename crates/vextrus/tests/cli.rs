//! The real `vextrus` binary, run the way an operator runs it.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::process::Command;
use std::time::Instant;

use common::binary::{Server, run, vextrus};
use serde_json::Value;

#[tokio::test]
async fn fresh_data_dir_serves_and_a_restart_keeps_organizations() {
    let dir = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let mut server = Server::start(dir.path());
    let health = reqwest::get(server.url("/healthz")).await.unwrap();
    assert_eq!(health.status(), 200);
    eprintln!("first start (initdb included) served /healthz after {:?}", started.elapsed());

    let token_file = dir.path().join("admin-token");
    assert_eq!(std::fs::metadata(&token_file).unwrap().permissions().mode() & 0o777, 0o600);
    let token = std::fs::read_to_string(&token_file).unwrap().trim().to_owned();
    let client = reqwest::Client::new();
    let created = client
        .post(server.url("/v1/orgs"))
        .bearer_auth(&token)
        .json(&serde_json::json!({"slug": "survivor", "name": "Survives Restarts"}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);

    // Operators' CLI works next to the running server (it attaches to its PostgreSQL).
    let data_dir = dir.path().to_str().unwrap();
    let (ok, out, err) =
        run(vextrus(&["admin", "org", "create", "--slug", "from-cli", "--name", "CLI Org", "--data-dir", data_dir]));
    assert!(ok, "{err}");
    assert!(out.contains("from-cli"));
    // A second server on the same data directory is refused, not allowed to corrupt it.
    let (ok, _, err) = run(vextrus(&["serve", "--listen", "127.0.0.1:0", "--data-dir", data_dir]));
    assert!(!ok);
    assert!(err.contains("another process is running PostgreSQL"), "{err}");

    // Rotating the admin token: the running server switches within seconds.
    let (ok, out, err) = run(vextrus(&["admin", "token", "rotate", "--data-dir", data_dir]));
    assert!(ok, "{err}");
    assert!(out.contains("admin-token") && !out.contains("vxa_"), "names the file, never prints the token: {out}");
    let old = token;
    let token = std::fs::read_to_string(&token_file).unwrap().trim().to_owned();
    assert_ne!(old, token);
    assert_eq!(std::fs::metadata(&token_file).unwrap().permissions().mode() & 0o777, 0o600);
    let deadline = Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let with_old = client.get(server.url("/v1/orgs")).bearer_auth(&old).send().await.unwrap().status();
        if with_old == 401 {
            break;
        }
        assert!(Instant::now() < deadline, "the old admin token still works");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert_eq!(client.get(server.url("/v1/orgs")).bearer_auth(&token).send().await.unwrap().status(), 200);
    // The switch is in the platform's audit chain, which operators read with the same API.
    let recorded = loop {
        let url = server.url("/v1/audit/events?action=platform.admin_token");
        let page: Value = client.get(url).bearer_auth(&token).send().await.unwrap().json().await.unwrap();
        if let Some(event) = page["items"].as_array().and_then(|items| items.first()).cloned() {
            break event;
        }
        assert!(Instant::now() < deadline, "the rotation was not recorded: {page}");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    };
    assert_eq!(
        (recorded["action"].as_str(), recorded["actor"]["type"].as_str()),
        (Some("platform.admin_token.rotate"), Some("system"))
    );
    let verified: Value =
        client.get(server.url("/v1/audit/verify")).bearer_auth(&token).send().await.unwrap().json().await.unwrap();
    assert_eq!(verified["ok"], true, "{verified}");
    // Operators are granted by login; an unknown one is a clear error.
    let (ok, _, err) = run(vextrus(&["admin", "operator", "grant", "nobody-here", "--data-dir", data_dir]));
    assert!(!ok);
    assert!(err.contains("no user \"nobody-here\""), "{err}");

    let logs = server.stop();
    assert!(logs.iter().any(|l| l.contains("embedded PostgreSQL stopped")), "{logs:?}");
    assert!(!dir.path().join("postgres/postmaster.pid").exists(), "PostgreSQL stopped cleanly");

    let mut server = Server::start(dir.path());
    let listed: Value =
        client.get(server.url("/v1/orgs")).bearer_auth(&token).send().await.unwrap().json().await.unwrap();
    let slugs: Vec<&str> = listed["items"].as_array().unwrap().iter().map(|o| o["slug"].as_str().unwrap()).collect();
    assert_eq!(slugs, vec!["survivor", "from-cli"]);
    server.stop();

    // With no server running, the CLI starts and stops the cluster itself.
    let (ok, out, err) = run(vextrus(&["admin", "org", "list", "--json", "--data-dir", data_dir]));
    assert!(ok, "{err}");
    assert_eq!(out.lines().count(), 2);
    let (ok, out, _) = run(vextrus(&["admin", "org", "suspend", "survivor", "--json", "--data-dir", data_dir]));
    assert!(ok);
    assert_eq!(serde_json::from_str::<Value>(&out).unwrap()["status"], "suspended");
}

#[tokio::test]
async fn starts_after_a_crash_left_a_stale_pid_file() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start(dir.path());
    server.stop();
    // What a power cut leaves: a postmaster.pid naming a pid that is now something else.
    let pid_file = dir.path().join("postgres/postmaster.pid");
    std::fs::write(&pid_file, format!("{}\n{}\n", std::process::id(), dir.path().join("postgres").display())).unwrap();
    let mut server = Server::start(dir.path());
    assert_eq!(reqwest::get(server.url("/readyz")).await.unwrap().status(), 200);
    server.stop();
}

#[tokio::test]
async fn migrate_on_an_empty_database_creates_roles_and_a_safe_schema() {
    let (name, url) = vextrus_testkit::empty_database().await;
    let (ok, out, err) = run(vextrus(&["migrate", "--database-url", &url]));
    assert!(ok, "{err}");
    assert!(out.contains(&format!("applied {} migration(s)", all_migrations())), "{out}");
    let (ok, out, _) = run(vextrus(&["migrate", "--database-url", &url]));
    assert!(ok);
    assert!(out.contains("applied 0 migration(s)"), "migrate is idempotent: {out}");

    // Checked the way an operator would: with psql.
    let psql = |sql: &str| {
        let out = Command::new("psql").args([url.as_str(), "-XAtc", sql]).output().expect("psql is installed");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    };
    assert_eq!(psql("SELECT rolsuper, rolbypassrls, rolcanlogin FROM pg_roles WHERE rolname = 'vextrus_app'"), "f|f|t");
    assert_eq!(psql("SELECT count(*) FROM pg_class WHERE relowner = 'vextrus_app'::regrole"), "0");
    assert_eq!(psql("SELECT relrowsecurity, relforcerowsecurity FROM pg_class WHERE oid = 'db.jobs'::regclass"), "t|t");
    assert_eq!(
        psql("SELECT count(*) FROM pg_policy WHERE polrelid = 'db.jobs'::regclass AND polname = 'tenant_isolation'"),
        "1"
    );
    assert_eq!(
        psql(
            "SELECT string_agg(DISTINCT pg_get_userbyid(relowner), ',') FROM pg_class WHERE relnamespace IN ('db'::regnamespace, 'tenancy'::regnamespace)"
        ),
        "vextrus_owner"
    );

    let (ok, out, err) = run(vextrus(&[
        "admin",
        "org",
        "create",
        "--slug",
        "external-co",
        "--name",
        "External",
        "--json",
        "--database-url",
        &url,
    ]));
    assert!(ok, "{err}");
    assert_eq!(serde_json::from_str::<Value>(&out).unwrap()["slug"], "external-co");
    assert_eq!(psql("SELECT slug FROM tenancy.organizations"), "external-co");
    let _ = name;
}

#[test]
fn help_version_and_configuration_errors() {
    let (ok, out, _) = run(vextrus(&["--version"]));
    assert!(ok && out.starts_with("vextrus "), "{out}");
    for args in [
        &["--help"][..],
        &["serve", "--help"],
        &["migrate", "--help"],
        &["config", "print", "--help"],
        &["admin", "org", "create", "--help"],
    ] {
        let (ok, out, _) = run(vextrus(args));
        assert!(ok && out.contains("Usage:"), "{args:?}: {out}");
    }

    let secret_file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(secret_file.path(), "from-a-file-secret\n").unwrap();
    let (ok, out, err) = run(vextrus(&["config", "print"])
        .env("VEXTRUS_ADMIN_TOKEN_FILE", secret_file.path())
        .env("DATABASE_URL", "postgres://owner:db-password@db.internal:5432/vextrus")
        .env("VEXTRUS_LISTEN_PORT", "9"));
    assert!(ok, "{err}");
    assert!(!out.contains("from-a-file-secret") && !out.contains("db-password"), "{out}");
    assert!(out.contains("admin_token = \"[redacted]\"") && out.contains("db.internal"), "{out}");
    assert!(err.contains("unknown environment variable VEXTRUS_LISTEN_PORT"), "{err}");

    let (ok, _, err) = run(vextrus(&["serve"]).env("VEXTRUS_LISTEN", "localhost-8080"));
    assert!(!ok);
    assert!(err.contains("`listen`") && err.contains("VEXTRUS_LISTEN"), "{err}");
    let (ok, _, err) = run(vextrus(&["serve"]).env("VEXTRUS_JOBS_CONCURRENCY", "lots"));
    assert!(!ok);
    assert!(err.contains("jobs.concurrency"), "{err}");
    let (ok, _, err) = run(vextrus(&["serve", "--listen", "127.0.0.1:0", "--data-dir", "/tmp/vx-nope"])
        .env("VEXTRUS_DATABASE_POSTGRES_BIN_DIR", "/nonexistent"));
    assert!(!ok);
    assert!(err.contains("postgres_bin_dir"), "{err}");

    let (ok, out, _) = run(vextrus(&["config", "reference"]));
    assert!(ok && out.contains("`VEXTRUS_ADMIN_TOKEN_FILE`") && out.contains("`DATABASE_URL`"));
}

#[test]
fn admin_rejects_bad_input_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().to_str().unwrap();
    let (ok, _, err) =
        run(vextrus(&["admin", "org", "create", "--slug", "No Spaces", "--name", "x", "--data-dir", data_dir]));
    assert!(!ok);
    assert!(err.contains("invalid --slug"), "{err}");
    let (ok, _, err) = run(vextrus(&["admin", "org", "suspend", "nobody-home", "--data-dir", data_dir]));
    assert!(!ok);
    assert!(err.contains("no organization"), "{err}");
}

fn all_migrations() -> usize {
    vextrus::MODULES.iter().map(|m| m.migrations.len()).sum()
}

fn readme() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md")).unwrap()
}

#[test]
fn readme_documents_every_configuration_key() {
    let (ok, reference, _) = run(vextrus(&["config", "reference"]));
    assert!(ok);
    let readme = readme();
    for line in reference.lines() {
        assert!(
            readme.contains(line),
            "README lacks this configuration line (paste `vextrus config reference`):\n{line}"
        );
    }
}

/// The README's SQL for a managed PostgreSQL (where the platform may not create roles) is all
/// an administrator needs to run: with it, a non-privileged owner migrates and operates.
#[tokio::test]
async fn readme_sql_for_a_managed_postgresql_is_sufficient() {
    let readme = readme();
    let start = readme.find("<!-- managed-sql:start -->").unwrap();
    let end = readme.find("<!-- managed-sql:end -->").unwrap();
    let sql: String = readme[start..end]
        .lines()
        .filter(|l| !l.starts_with("```") && !l.starts_with("<!--"))
        .collect::<Vec<_>>()
        .join("\n");

    // Roles are cluster-wide and the test cluster is shared: give this test's roles their own names.
    let (database, admin_url) = vextrus_testkit::empty_database().await;
    let prefix = format!("m{}", &uuid::Uuid::now_v7().simple().to_string()[20..]);
    let sql =
        sql.replace("vextrus_", &format!("{prefix}_")).replace("DATABASE vextrus ", &format!("DATABASE {database} "));
    let out =
        Command::new("psql").args([admin_url.as_str(), "-X", "-v", "ON_ERROR_STOP=1", "-c", &sql]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    let owner_url = admin_url.replacen("postgres@", &format!("{prefix}_owner@"), 1);
    assert_ne!(owner_url, admin_url);
    let roles = [
        ("VEXTRUS_DATABASE_OWNER_ROLE", format!("{prefix}_owner")),
        ("VEXTRUS_DATABASE_APP_ROLE", format!("{prefix}_app")),
        ("VEXTRUS_DATABASE_SYSTEM_ROLE", format!("{prefix}_system")),
    ];
    let (ok, out, err) = run(vextrus(&["migrate", "--database-url", &owner_url]).envs(roles.clone()));
    assert!(ok, "{err}");
    assert!(out.contains(&format!("applied {} migration(s)", all_migrations())), "{out}");
    let (ok, out, err) = run(vextrus(&[
        "admin",
        "org",
        "create",
        "--slug",
        "managed-co",
        "--name",
        "Managed",
        "--database-url",
        &owner_url,
    ])
    .envs(roles.clone()));
    assert!(ok, "{err}");
    assert!(out.contains("managed-co"));
    let owners = Command::new("psql")
        .args([
            admin_url.as_str(),
            "-XAtc",
            "SELECT string_agg(DISTINCT pg_get_userbyid(relowner), ',') FROM pg_class WHERE relnamespace = 'tenancy'::regnamespace",
        ])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&owners.stdout).trim(), format!("{prefix}_owner"));
}

#[test]
fn import_verdaccio_reads_its_config_yaml_and_proposes_settings_that_load() {
    let dir = tempfile::tempdir().unwrap();
    let yaml = dir.path().join("config.yaml");
    std::fs::write(
        &yaml,
        "uplinks:\n  npmjs:\n    url: https://registry.npmjs.org/\n    timeout: 30s\n\
         packages:\n  '@vextrus/*':\n    access: $all\n    publish: $authenticated\n\
         \x20 '**':\n    access: $authenticated\n    publish: $authenticated\n    proxy: npmjs\n",
    )
    .unwrap();
    let (ok, out, err) = run(vextrus(&["registry", "import-verdaccio", "--verdaccio-config", yaml.to_str().unwrap()]));
    assert!(ok, "{err}");
    assert!(out.contains("[[registry.access]]\npackages = \"@vextrus/*\"\nread = \"public\""), "{out}");
    // What it printed is a configuration `vextrus` takes as it is.
    let toml = dir.path().join("vextrus.toml");
    std::fs::write(&toml, &out).unwrap();
    let (ok, shown, err) = run(vextrus(&["config", "--config", toml.to_str().unwrap(), "print"]));
    assert!(ok, "{err}");
    assert!(shown.contains("signed_in") && shown.contains("registry.npmjs.org"), "{shown}");
    let (ok, _, err) =
        run(vextrus(&["registry", "import-verdaccio", "--verdaccio-config", "/nonexistent/config.yaml"]));
    assert!(!ok && err.contains("/nonexistent/config.yaml"), "{err}");
}

//! Test-only helpers. Each test gets its own database, cloned from a template that was migrated
//! once per test process (and module set). The cluster is the one `DATABASE_URL` names (a role
//! that may create databases and roles), or else an embedded cluster started with the same
//! mechanism `vextrus serve` uses, in a temporary directory, stopped when the process exits.

pub mod clamd;
pub mod moto;

use std::collections::HashSet;
use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::path::PathBuf;
use std::sync::OnceLock;

use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions, Connection, PgConnection};
use vextrus_db::embedded::{EmbeddedOptions, EmbeddedPostgres, SUPERUSER};
use vextrus_db::{Database, DatabaseOptions, ModuleMigrations, RoleNames};

/// The admin (superuser or equivalent) connection to the test cluster's maintenance database.
#[derive(Debug, Clone)]
struct Cluster {
    admin: PgConnectOptions,
}

static CLUSTER: OnceLock<Cluster> = OnceLock::new();
static TEMPLATES: tokio::sync::Mutex<Option<HashSet<String>>> = tokio::sync::Mutex::const_new(None);

fn cluster() -> &'static Cluster {
    CLUSTER.get_or_init(|| match std::env::var("DATABASE_URL") {
        Ok(url) if !url.is_empty() => Cluster { admin: url.parse().expect("DATABASE_URL is a PostgreSQL URL") },
        _ => start_embedded(),
    })
}

/// Starts the embedded cluster on a thread whose runtime lives as long as the process, so the
/// supervisor's pipes stay open until exit (when the watchdog then stops PostgreSQL).
fn start_embedded() -> Cluster {
    let root = std::env::temp_dir().join("vextrus-testkit");
    remove_leftovers(&root);
    let dir = root.join(std::process::id().to_string());
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name("testkit-postgres".into())
        .spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
            runtime.block_on(async move {
                let options =
                    EmbeddedOptions { data_dir: dir, bin_dir: None, os_user: "vextrus-pg".into(), durable: false };
                match EmbeddedPostgres::start(&options).await {
                    Ok(pg) => {
                        let _ = sender.send(Ok(pg.connect_options(SUPERUSER, "postgres")));
                        // Hold `pg` (and its watchdog pipe) until the process exits.
                        std::future::pending::<()>().await;
                        drop(pg);
                    }
                    Err(e) => {
                        let _ = sender.send(Err(e.to_string()));
                    }
                }
            });
        })
        .expect("spawn testkit-postgres thread");
    match receiver.recv().expect("testkit-postgres thread answers") {
        Ok(admin) => Cluster { admin },
        Err(e) => panic!("cannot start the embedded PostgreSQL for tests: {e}"),
    }
}

/// Data directories of earlier test processes that are gone.
fn remove_leftovers(root: &std::path::Path) {
    for entry in std::fs::read_dir(root).into_iter().flatten().flatten() {
        let alive = entry
            .file_name()
            .to_str()
            .and_then(|pid| pid.parse::<u32>().ok())
            .is_some_and(|pid| PathBuf::from(format!("/proc/{pid}")).exists());
        if !alive {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// A database of its own for one test, migrated with the given modules.
#[derive(Debug)]
pub struct TestDb {
    pub name: String,
    pub options: DatabaseOptions,
    pub db: Database,
}

impl TestDb {
    /// A fresh database with every migration of `modules` applied (cloned from a template).
    pub async fn new(modules: &[ModuleMigrations]) -> Self {
        let cluster = cluster();
        let template = ensure_template(cluster, modules).await;
        let name = format!("vextrus_test_{}", uuid::Uuid::now_v7().simple());
        let mut admin = cluster.admin.connect().await.expect("connect to the test cluster");
        // Database-level privileges are not copied from a template; grant what bootstrap grants.
        for sql in [
            format!("CREATE DATABASE {name} TEMPLATE {template}"),
            format!("GRANT CREATE, CONNECT ON DATABASE {name} TO vextrus_owner"),
        ] {
            sqlx::raw_sql(&sql).execute(&mut admin).await.expect("create test database");
        }
        let _ = admin.close().await;
        let options = options_for(cluster, &name);
        let db = Database::connect(&options).await.expect("connect the test database's pools");
        Self { name, options, db }
    }

    /// A connection as the request-path role with no tenant set.
    pub async fn app_conn(&self) -> PgConnection {
        self.options.app.connect().await.expect("connect as app role")
    }

    /// A connection as the migration user (superuser in the embedded cluster).
    pub async fn owner_conn(&self) -> PgConnection {
        self.options.owner.connect().await.expect("connect as owner")
    }

    /// A `postgres://` URL of the migration user on this database (for child processes).
    pub fn owner_url(&self) -> String {
        url_of(&self.options.owner)
    }

    /// Another set of pools on the same database (a second "instance").
    pub async fn connect_again(&self) -> Database {
        Database::connect(&self.options).await.expect("connect again")
    }
}

fn options_for(cluster: &Cluster, database: &str) -> DatabaseOptions {
    let url = url_of(&cluster.admin.clone().database(database));
    DatabaseOptions::from_url(&url, RoleNames::default(), 5).expect("derived URL parses")
}

/// `PgConnectOptions` has no URL getter that keeps the socket; rebuild one.
fn url_of(options: &PgConnectOptions) -> String {
    let mut url = url::Url::parse("postgres://localhost").expect("static URL");
    url.set_username(options.get_username()).expect("username");
    url.set_path(options.get_database().unwrap_or("postgres"));
    match options.get_socket() {
        Some(dir) => {
            url.query_pairs_mut().append_pair("host", &dir.to_string_lossy());
        }
        None => {
            url.set_host(Some(options.get_host())).expect("host");
        }
    }
    url.query_pairs_mut().append_pair("port", &options.get_port().to_string());
    url.into()
}

async fn ensure_template(cluster: &Cluster, modules: &[ModuleMigrations]) -> String {
    let mut hasher = DefaultHasher::new();
    for module in modules {
        module.module.hash(&mut hasher);
        for m in module.migrations {
            (m.version, m.sql).hash(&mut hasher);
        }
    }
    let template = format!("vextrus_tpl_{:016x}", hasher.finish());
    let mut done = TEMPLATES.lock().await;
    let done = done.get_or_insert_with(HashSet::new);
    if done.contains(&template) {
        return template;
    }
    let mut admin = cluster.admin.connect().await.expect("connect to the test cluster");
    // Other test processes may share an external cluster: one of them builds each template.
    sqlx::query("SELECT pg_advisory_lock(hashtext($1))").bind(&template).execute(&mut admin).await.expect("lock");
    let exists: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
        .bind(&template)
        .fetch_one(&mut admin)
        .await
        .expect("query pg_database");
    if !exists {
        let building = format!("{template}_building");
        for sql in [format!("DROP DATABASE IF EXISTS {building}"), format!("CREATE DATABASE {building}")] {
            sqlx::raw_sql(&sql).execute(&mut admin).await.expect("create template database");
        }
        let options = options_for(cluster, &building);
        options.migrate(modules).await.unwrap_or_else(|e| panic!("migrating the test template failed: {e}"));
        for sql in [
            format!("ALTER DATABASE {building} RENAME TO {template}"),
            format!("ALTER DATABASE {template} IS_TEMPLATE true"),
        ] {
            sqlx::raw_sql(&sql).execute(&mut admin).await.expect("finish template");
        }
    }
    sqlx::query("SELECT pg_advisory_unlock(hashtext($1))").bind(&template).execute(&mut admin).await.expect("unlock");
    let _ = admin.close().await;
    done.insert(template.clone());
    template
}

/// A new, empty database on the test cluster, and the admin's URL for it (for testing what the
/// binary does to a database it finds empty).
pub async fn empty_database() -> (String, String) {
    let cluster = cluster();
    let name = format!("vextrus_empty_{}", uuid::Uuid::now_v7().simple());
    let mut admin = cluster.admin.connect().await.expect("connect to the test cluster");
    sqlx::raw_sql(&format!("CREATE DATABASE {name}")).execute(&mut admin).await.expect("create empty database");
    let _ = admin.close().await;
    let url = url_of(&cluster.admin.clone().database(&name));
    (name, url)
}

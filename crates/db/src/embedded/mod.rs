//! A private PostgreSQL cluster under the data directory, supervised by this process.
//!
//! Invariants:
//! - it listens on a Unix socket inside `<data-dir>/run` only (`listen_addresses = ''`), in a
//!   0700 directory, so `trust` authentication reaches nobody but its owner (and root);
//! - when we run as root, PostgreSQL (which refuses root) runs as an unprivileged system user;
//! - it never outlives us: a tiny watchdog shell holds a pipe from this process and asks
//!   PostgreSQL for a fast shutdown when the pipe closes — on a clean stop and on our death alike;
//! - a `postmaster.pid` left by a crash is recognised as stale and removed before start.

mod binaries;
mod os_user;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use sqlx::ConnectOptions;
use sqlx::postgres::PgConnectOptions;
use tokio::process::{Child, ChildStdin, Command};

use os_user::RunAs;

/// Name of the bootstrap superuser created by `initdb`.
pub const SUPERUSER: &str = "postgres";
/// The database the platform lives in.
pub const DATABASE: &str = "vextrus";
/// The number in the socket's name (`.s.PGSQL.5432`); no TCP port is opened.
const PORT: u16 = 5432;
/// Unix socket paths are limited to 107 bytes on Linux.
const MAX_SOCKET_PATH: usize = 107;

#[derive(Debug, Clone)]
pub struct EmbeddedOptions {
    /// The platform's data directory; the cluster lives in `<data_dir>/postgres`.
    pub data_dir: PathBuf,
    pub bin_dir: Option<PathBuf>,
    /// System user that runs PostgreSQL when we are root.
    pub os_user: String,
    /// `false` for throwaway test clusters: no fsync, faster and not crash-safe.
    pub durable: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum EmbeddedError {
    #[error(
        "PostgreSQL server binaries (initdb, postgres) were not found on PATH or under \
         /usr/lib/postgresql/*/bin. Install them (Debian/Ubuntu: `apt-get install postgresql`), \
         set database.postgres_bin_dir, or point database.url at an existing server"
    )]
    NoServerBinaries,
    #[error("{0} is not a usable postgres_bin_dir: it must contain initdb and postgres")]
    BadBinDir(PathBuf),
    #[error("socket path {0} is longer than the {MAX_SOCKET_PATH} bytes Unix allows: choose a shorter data directory")]
    SocketPathTooLong(PathBuf),
    #[error("cannot prepare {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{0}")]
    OsUser(String),
    #[error("initdb failed ({status}); its output:\n{output}{hint}")]
    Initdb { status: std::process::ExitStatus, output: String, hint: String },
    #[error("PostgreSQL did not become ready within {seconds}s; last lines of {log}:\n{tail}")]
    NotReady { seconds: u64, log: PathBuf, tail: String },
    #[error("PostgreSQL exited during start-up ({status}); last lines of {log}:\n{tail}")]
    ExitedEarly { status: std::process::ExitStatus, log: PathBuf, tail: String },
    #[error(
        "another process is running PostgreSQL on {data_dir} (postmaster pid {pid}); stop that \
         `vextrus serve` first, or use a different data directory"
    )]
    AlreadyRunning { data_dir: PathBuf, pid: u32 },
    #[error("cannot create the platform database: {0}")]
    CreateDatabase(#[source] sqlx::Error),
}

/// A running embedded cluster. Call [`EmbeddedPostgres::stop`] for a clean shutdown; dropping it
/// (or the process dying) also stops PostgreSQL through the watchdog.
#[derive(Debug)]
pub struct EmbeddedPostgres {
    postmaster: Child,
    watchdog: Child,
    watchdog_pipe: Option<ChildStdin>,
    socket_dir: PathBuf,
    log_file: PathBuf,
}

impl EmbeddedPostgres {
    /// Initialises the cluster on first use, then starts it and waits until it accepts
    /// connections and the platform database exists.
    pub async fn start(opts: &EmbeddedOptions) -> Result<Self, EmbeddedError> {
        let bins = binaries::resolve(opts.bin_dir.as_deref())?;
        let run_as = RunAs::for_current_process(&opts.os_user)?;
        let data_dir = absolute(&opts.data_dir)?;
        let pgdata = data_dir.join("postgres");
        let socket_dir = data_dir.join("run");
        let log_file = data_dir.join("postgres.log");
        let socket = socket_dir.join(format!(".s.PGSQL.{PORT}"));
        if socket.as_os_str().len() > MAX_SOCKET_PATH {
            return Err(EmbeddedError::SocketPathTooLong(socket));
        }

        create_dir(&data_dir, if run_as.is_switching() { 0o711 } else { 0o700 })?;
        create_dir(&socket_dir, 0o700)?;
        run_as.own(&socket_dir)?;
        if !pgdata.join("PG_VERSION").exists() {
            create_dir(&pgdata, 0o700)?;
            run_as.own(&pgdata)?;
            initdb(&bins.initdb, &pgdata, &run_as, opts.durable).await?;
        }
        match postmaster_state(&pgdata) {
            PostmasterState::Supervised(pid) => return Err(EmbeddedError::AlreadyRunning { data_dir, pid }),
            PostmasterState::Orphaned(pid) => stop_orphan(pid, &pgdata).await?,
            PostmasterState::Stale => remove_stale_pid_file(&pgdata)?,
            PostmasterState::None => {}
        }

        // The server's log names roles, databases and failed statements: ours alone (0600, also
        // when an earlier version left it readable).
        let log = {
            use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
            let log = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .mode(0o600)
                .open(&log_file)
                .map_err(|source| EmbeddedError::Io { path: log_file.clone(), source })?;
            log.set_permissions(std::fs::Permissions::from_mode(0o600))
                .map_err(|source| EmbeddedError::Io { path: log_file.clone(), source })?;
            log
        };
        let log_err = log.try_clone().map_err(|source| EmbeddedError::Io { path: log_file.clone(), source })?;

        let mut cmd = Command::new(&bins.postgres);
        cmd.arg("-D").arg(&pgdata);
        for (name, value) in server_settings(&socket_dir, opts.durable) {
            cmd.arg("-c").arg(format!("{name}={value}"));
        }
        // Own process group: a Ctrl-C in the terminal reaches us, and we stop PostgreSQL in order.
        cmd.process_group(0).stdin(Stdio::null()).stdout(log).stderr(log_err).kill_on_drop(false);
        run_as.apply(&mut cmd);
        let postmaster = cmd.spawn().map_err(|source| EmbeddedError::Io { path: bins.postgres.clone(), source })?;
        let pid = postmaster.id().expect("a just-spawned child has a pid");
        let (watchdog, watchdog_pipe) = spawn_watchdog(pid, &run_as)?;

        let mut this = Self { postmaster, watchdog, watchdog_pipe: Some(watchdog_pipe), socket_dir, log_file };
        this.wait_ready(Duration::from_secs(60)).await?;
        this.ensure_database().await?;
        tracing::info!(pgdata = %pgdata.display(), socket_dir = %this.socket_dir.display(), "embedded PostgreSQL ready");
        Ok(this)
    }

    /// Connection options for `user` on `database` over the cluster's socket.
    pub fn connect_options(&self, user: &str, database: &str) -> PgConnectOptions {
        PgConnectOptions::new()
            .socket(&self.socket_dir)
            .port(PORT)
            .username(user)
            .database(database)
            .log_statements(tracing::log::LevelFilter::Trace)
    }

    /// Fast shutdown (open transactions roll back, nothing committed is lost), then wait for it.
    pub async fn stop(mut self) -> Result<(), EmbeddedError> {
        drop(self.watchdog_pipe.take());
        let waited = tokio::time::timeout(Duration::from_secs(60), self.postmaster.wait()).await;
        let _ = self.watchdog.wait().await;
        match waited {
            Ok(Ok(status)) => tracing::info!(%status, "embedded PostgreSQL stopped"),
            Ok(Err(e)) => tracing::warn!(error = %e, "could not wait for PostgreSQL"),
            Err(_) => {
                tracing::warn!("PostgreSQL did not stop within 60s; killing it");
                let _ = self.postmaster.kill().await;
            }
        }
        Ok(())
    }

    /// Resolves when the postmaster exits on its own (a crash, or someone stopping it).
    pub async fn exited(&mut self) -> std::io::Result<std::process::ExitStatus> {
        self.postmaster.wait().await
    }

    async fn wait_ready(&mut self, limit: Duration) -> Result<(), EmbeddedError> {
        let started = Instant::now();
        let options = self.connect_options(SUPERUSER, "postgres");
        loop {
            if let Some(status) = self
                .postmaster
                .try_wait()
                .map_err(|source| EmbeddedError::Io { path: self.log_file.clone(), source })?
            {
                return Err(EmbeddedError::ExitedEarly {
                    status,
                    log: self.log_file.clone(),
                    tail: tail(&self.log_file),
                });
            }
            match options.connect().await {
                Ok(conn) => {
                    let _ = sqlx::Connection::close(conn).await;
                    return Ok(());
                }
                Err(_) if started.elapsed() < limit => tokio::time::sleep(Duration::from_millis(50)).await,
                Err(_) => {
                    return Err(EmbeddedError::NotReady {
                        seconds: limit.as_secs(),
                        log: self.log_file.clone(),
                        tail: tail(&self.log_file),
                    });
                }
            }
        }
    }

    async fn ensure_database(&self) -> Result<(), EmbeddedError> {
        let mut conn =
            self.connect_options(SUPERUSER, "postgres").connect().await.map_err(EmbeddedError::CreateDatabase)?;
        let exists: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
            .bind(DATABASE)
            .fetch_one(&mut conn)
            .await
            .map_err(EmbeddedError::CreateDatabase)?;
        if !exists {
            // DATABASE is a constant identifier, not input.
            sqlx::query(&format!("CREATE DATABASE {DATABASE}"))
                .execute(&mut conn)
                .await
                .map_err(EmbeddedError::CreateDatabase)?;
        }
        Ok(())
    }
}

fn server_settings(socket_dir: &Path, durable: bool) -> Vec<(&'static str, String)> {
    let mut settings = vec![
        ("listen_addresses", String::new()),
        ("port", PORT.to_string()),
        ("unix_socket_directories", socket_dir.to_string_lossy().into_owned()),
        ("unix_socket_permissions", "0700".into()),
        ("logging_collector", "off".into()),
        ("log_min_messages", "warning".into()),
    ];
    if !durable {
        settings.extend([
            ("fsync", "off".into()),
            ("synchronous_commit", "off".into()),
            ("full_page_writes", "off".into()),
        ]);
    }
    settings
}

async fn initdb(initdb: &Path, pgdata: &Path, run_as: &RunAs, durable: bool) -> Result<(), EmbeddedError> {
    let mut cmd = Command::new(initdb);
    cmd.arg("-D").arg(pgdata).args([
        "-U",
        SUPERUSER,
        "--auth=trust",
        "--encoding=UTF8",
        "--no-locale",
        "--no-instructions",
    ]);
    if !durable {
        cmd.arg("--no-sync");
    }
    cmd.stdin(Stdio::null());
    run_as.apply(&mut cmd);
    let out = cmd.output().await.map_err(|source| EmbeddedError::Io { path: initdb.to_owned(), source })?;
    if out.status.success() {
        tracing::info!(pgdata = %pgdata.display(), "initialised embedded PostgreSQL cluster");
        return Ok(());
    }
    let output = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    let hint = if output.contains("Permission denied") && run_as.is_switching() {
        format!(
            "\nhint: PostgreSQL runs as system user {:?}, which must be able to reach {}: every parent \
             directory needs search (x) permission for it",
            run_as.name(),
            pgdata.display()
        )
    } else {
        String::new()
    };
    // A half-initialised directory would make the next start skip initdb.
    let _ = std::fs::remove_dir_all(pgdata);
    Err(EmbeddedError::Initdb { status: out.status, output, hint })
}

/// The watchdog turns "our end of the pipe closed" into a fast shutdown of PostgreSQL.
fn spawn_watchdog(pid: u32, run_as: &RunAs) -> Result<(Child, ChildStdin), EmbeddedError> {
    let mut cmd = Command::new("/bin/sh");
    cmd.arg("-c")
        .arg("while read -r _; do :; done; kill -INT \"$0\" 2>/dev/null; exit 0")
        .arg(pid.to_string())
        .process_group(0)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(false);
    run_as.apply(&mut cmd);
    let mut child = cmd.spawn().map_err(|source| EmbeddedError::Io { path: "/bin/sh".into(), source })?;
    let pipe = child.stdin.take().expect("stdin was piped");
    Ok((child, pipe))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PostmasterState {
    /// No `postmaster.pid`.
    None,
    /// The file names a process that is not this data directory's postmaster (after a crash,
    /// or in a container where pids repeat): PostgreSQL would refuse to start because of it.
    Stale,
    /// Our postmaster, whose supervisor is alive (another `vextrus` owns the cluster).
    Supervised(u32),
    /// Our postmaster, whose supervisor is gone (re-parented to init).
    Orphaned(u32),
}

fn postmaster_state(pgdata: &Path) -> PostmasterState {
    let Ok(text) = std::fs::read_to_string(pgdata.join("postmaster.pid")) else { return PostmasterState::None };
    let Some(pid) = text.lines().next().and_then(|l| l.trim().parse::<u32>().ok()) else {
        return PostmasterState::Stale;
    };
    if !is_postmaster_of(pid, pgdata) {
        return PostmasterState::Stale;
    }
    match parent_pid(pid) {
        Some(parent) if parent > 1 && std::path::Path::new(&format!("/proc/{parent}")).exists() => {
            PostmasterState::Supervised(pid)
        }
        _ => PostmasterState::Orphaned(pid),
    }
}

fn parent_pid(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // "pid (comm) state ppid …"; comm may contain spaces, so split after the last ')'.
    stat.rsplit_once(')')?.1.split_whitespace().nth(1)?.parse().ok()
}

async fn stop_orphan(pid: u32, pgdata: &Path) -> Result<(), EmbeddedError> {
    tracing::warn!(pid, "a PostgreSQL server from an earlier run still holds the data directory; stopping it");
    let _ = Command::new("kill").arg("-INT").arg(pid.to_string()).status().await;
    let deadline = Instant::now() + Duration::from_secs(60);
    while is_postmaster_of(pid, pgdata) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    if pgdata.join("postmaster.pid").exists() && !is_postmaster_of(pid, pgdata) {
        remove_stale_pid_file(pgdata)?;
    }
    Ok(())
}

fn remove_stale_pid_file(pgdata: &Path) -> Result<(), EmbeddedError> {
    let pid_file = pgdata.join("postmaster.pid");
    tracing::warn!(file = %pid_file.display(), "removing stale postmaster.pid left by a crash");
    std::fs::remove_file(&pid_file).map_err(|source| EmbeddedError::Io { path: pid_file, source })
}

/// Connection options to a cluster that another process supervises, if one is running on
/// `data_dir` (so `vextrus admin …` can work next to a running `vextrus serve`).
pub fn attach(data_dir: &Path, user: &str, database: &str) -> Option<PgConnectOptions> {
    let data_dir = std::fs::canonicalize(data_dir).ok()?;
    match postmaster_state(&data_dir.join("postgres")) {
        PostmasterState::Supervised(_) => {
            Some(PgConnectOptions::new().socket(data_dir.join("run")).port(PORT).username(user).database(database))
        }
        _ => None,
    }
}

fn is_postmaster_of(pid: u32, pgdata: &Path) -> bool {
    let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else { return false };
    let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
    let is_postgres = args.first().is_some_and(|a| a.ends_with(b"postgres") || a.ends_with(b"postmaster"));
    let dir = pgdata.as_os_str().as_encoded_bytes();
    is_postgres && args.windows(2).any(|w| w[0] == b"-D" && w[1] == dir)
}

fn absolute(path: &Path) -> Result<PathBuf, EmbeddedError> {
    std::fs::create_dir_all(path).map_err(|source| EmbeddedError::Io { path: path.to_owned(), source })?;
    std::fs::canonicalize(path).map_err(|source| EmbeddedError::Io { path: path.to_owned(), source })
}

fn create_dir(path: &Path, mode: u32) -> Result<(), EmbeddedError> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(path).map_err(|source| EmbeddedError::Io { path: path.to_owned(), source })?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .map_err(|source| EmbeddedError::Io { path: path.to_owned(), source })
}

fn tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}

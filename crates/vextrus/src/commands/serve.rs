//! `vextrus serve`: migrations, pools, HTTP server, job worker, queue metrics, and (embedded
//! mode) PostgreSQL supervision; on SIGINT/SIGTERM everything drains and stops in order.

use std::time::Duration;

use anyhow::Context;
use tokio::sync::watch;
use vextrus::platform::{self, Opened};
use vextrus_config::Config;
use vextrus_db::Database;
use vextrus_db::embedded::{EmbeddedOptions, EmbeddedPostgres};
use vextrus_db::jobs::{Worker, WorkerOptions, sample_queue_metrics};
use vextrus_server::{HttpSettings, OperatorToken};

use crate::cli::ServeArgs;

pub async fn serve(config: Config, args: &ServeArgs) -> anyhow::Result<()> {
    // Registered before anything else, so a signal during start-up is never the default action
    // (an abrupt exit); it is noticed once serving begins and starts an orderly shutdown.
    let signals = Signals::register()?;
    let Opened { options, embedded, mode } = platform::open_for_serve(&config).await?;
    let embedded_mode = mode != platform::Mode::External;
    let started = prepare(&config, args, &options).await;
    let db = match started {
        Ok(db) => db,
        Err(e) => {
            platform::stop_postgres(embedded).await;
            return Err(e);
        }
    };
    let (token, token_path) = platform::admin_token(&config, embedded_mode)?;
    match (&token, &token_path) {
        (None, _) => tracing::warn!("no admin_token configured: the platform operator API is disabled"),
        (Some(_), Some(path)) => {
            tracing::info!(path = %path.display(), "platform admin token (bearer) is stored in this file")
        }
        (Some(_), None) => {}
    }
    let operator_token = OperatorToken::new(token);

    let master = platform::master_key(&config, embedded_mode)?;
    let auth = vextrus::auth(&config, &db, master).await.context("loading the token signing keys")?;
    let signing = vextrus_registry::signing::Signing::new(auth.keys.clone());
    signing.initialise(&db).await.context("loading the registry's signing keys")?;
    let vault = platform::vault(&auth.keys);
    let modules = vextrus::ModuleSettings {
        identity: vextrus_identity::IdentityConfig { trust_forwarded_for: config.http.trust_forwarded_for },
        auth,
        access: vextrus::access(&db).await.context("loading the access catalog and roles")?,
        retention: vextrus_audit::retention::Policy {
            default_months: config.audit.retention_months,
            min_months: config.audit.min_retention_months,
        },
        registry: vextrus_registry::RegistrySettings {
            storage: platform::storage(&config).context("opening object storage")?,
            public_url: config.public_url.clone(),
            trust_forwarded: config.http.trust_forwarded_for,
            max_tarball_bytes: usize::try_from(config.registry.max_tarball_bytes).unwrap_or(usize::MAX),
            allow_unscoped: config.registry.allow_unscoped,
            proxy: platform::proxy(&config)?,
            caches: vextrus_registry::Caches::with_packument_bytes(
                usize::try_from(config.registry.packument_cache_mib.saturating_mul(1 << 20)).unwrap_or(usize::MAX),
            ),
            signing: Some(signing),
            webhooks_reach_internal: config.registry.webhooks_reach_internal,
            uplink_search: config.registry.uplink_search,
            access: platform::access_rules(&config)?,
            adduser: Some(config.registry.adduser_org.trim()).filter(|org| !org.is_empty()).map(|org| {
                vextrus_registry::AddUser { org: org.to_owned(), role: config.registry.adduser_role.clone() }
            }),
        },
        limits: vextrus_server::Limits::from(&config.limits),
        notify: platform::notify(&config, &db, config.dev_mailbox.unwrap_or(embedded_mode), Some(vault))
            .await
            .context("configuring notify's providers")?,
        files: platform::files(&config, platform::storage(&config).context("opening object storage")?, &db).await?,
    };
    let notify = modules.notify.inner();
    if notify.dev {
        tracing::info!(
            "dev mailbox on: messages without a configured provider are kept in the database (GET /v1/dev/mailbox), not sent"
        );
    }
    let email: Vec<&str> = notify.email.iter().map(|r| r.provider.name()).collect();
    tracing::info!(?email, sms = ?modules.notify.sms_providers(), push = notify.fcm.is_some(), "notify providers");
    let state = vextrus::state(db.clone(), operator_token.clone(), &modules);
    let settings = HttpSettings {
        body_limit_bytes: config.http.body_limit_bytes,
        request_timeout: Duration::from_secs(config.http.request_timeout_secs),
        quiet_routes: config
            .log
            .quiet_routes
            .split(',')
            .map(str::trim)
            .filter(|r| !r.is_empty())
            .map(str::to_owned)
            .collect(),
        route_timeouts: vec![
            ("/npm".to_owned(), Duration::from_secs(config.registry.request_timeout_secs)),
            ("/v1/files".to_owned(), Duration::from_secs(config.files.request_timeout_secs)),
        ],
        header_read_timeout: Duration::from_secs(config.http.header_read_timeout_secs),
    };
    let header_read_timeout = settings.header_read_timeout;
    let (router, _) = vextrus::app(state, settings);
    let listener = match tokio::net::TcpListener::bind(config.listen).await {
        Ok(l) => l,
        Err(e) => {
            db.close().await;
            platform::stop_postgres(embedded).await;
            return Err(e)
                .with_context(|| format!("cannot listen on {} (set --listen or VEXTRUS_LISTEN)", config.listen));
        }
    };
    let addr = listener.local_addr()?;
    tracing::info!(%addr, "Vextrus Platform listening on http://{addr} (API docs at /docs)");

    let (stop, stopping) = watch::channel(false);
    tokio::spawn(async move {
        signals.received().await;
        tracing::info!("shutting down: draining requests and jobs");
        let _ = stop.send(true);
    });

    let grace = Duration::from_secs(config.http.shutdown_grace_secs);
    let worker = Worker::new(db.clone(), vextrus::jobs(&modules), worker_options(&config, grace));
    tokio::spawn(modules.auth.orgs.clone().follow(db.clone(), stopped(stopping.clone())));
    tokio::spawn(modules.auth.api_keys.clone().follow(db.clone(), stopped(stopping.clone())));
    tokio::spawn(modules.auth.standing.clone().follow(db.clone(), stopped(stopping.clone())));
    tokio::spawn(modules.registry.clone().follow(db.clone(), stopped(stopping.clone())));
    tokio::spawn(sign_unsigned(db.clone(), modules.registry.clone(), stopping.clone()));
    tokio::spawn(apply_access_rules(db.clone(), modules.registry.access.clone()));
    tokio::spawn(modules.access.clone().follow(db.clone(), stopped(stopping.clone())));
    tokio::spawn(modules.notify.inner().inbox.clone().follow(db.clone(), stopped(stopping.clone())));
    tokio::spawn(modules.notify.inner().overrides.clone().follow(db.clone(), stopped(stopping.clone())));
    tokio::spawn(refresh_keys(modules.auth.keys.clone(), db.clone(), stopping.clone()));
    tokio::spawn(schedule_periodic_jobs(db.clone(), stopping.clone()));
    if let Some(path) = token_path {
        tokio::spawn(follow_token_file(db.clone(), operator_token, path, stopping.clone()));
    }
    let worker = tokio::spawn(worker.run(stopped(stopping.clone())));
    let sampler = tokio::spawn(sample_metrics(db.clone(), stopping.clone()));
    let supervisor =
        embedded.map(|pg| tokio::spawn(supervise(pg, platform::embedded_options(&config), stopping.clone())));

    // (TCP_NODELAY, header-read and idle limits: see `vextrus_server::listen`.)
    let mut server =
        tokio::spawn(vextrus_server::listen::serve(listener, router, header_read_timeout, stopped(stopping.clone())));
    let served = tokio::select! {
        result = &mut server => result,
        () = stopped(stopping.clone()) => match tokio::time::timeout(grace, &mut server).await {
            Ok(result) => result,
            Err(_) => {
                tracing::warn!(seconds = grace.as_secs(), "requests still running after the grace period; closing them");
                server.abort();
                Ok(Ok(()))
            }
        },
    };

    let _ = worker.await;
    sampler.abort();
    db.close().await;
    if let Some(supervisor) = supervisor
        && let Ok(pg) = supervisor.await
    {
        platform::stop_postgres(pg).await;
    }
    tracing::info!("stopped");
    served.context("HTTP server task failed")?.context("HTTP server failed")
}

/// Every 15 minutes (and at start), asks for the audit chains' heads to be sealed in signed
/// checkpoints, and once a day for retention to be applied. Jobs, so that with several
/// instances one of them does each (the dedup keys).
async fn schedule_periodic_jobs(db: Database, stopping: watch::Receiver<bool>) {
    use vextrus_audit::jobs::{ApplyRetention, SealCheckpoints};
    use vextrus_db::jobs::{EnqueueOptions, enqueue_with};
    const PERIOD: Duration = Duration::from_secs(15 * 60);
    const RETENTION_EVERY: u32 = 24 * 4;
    let work = async {
        for round in 0u32.. {
            let enqueued = async {
                let mut tx = db.system().await?;
                let options = EnqueueOptions { run_at: None, dedup_key: Some("seal".into()) };
                enqueue_with(&mut tx, &SealCheckpoints {}, options).await?;
                // Files: expired uploads and the trash every round; both sides reconciled daily.
                let options = EnqueueOptions { run_at: None, dedup_key: Some("files-maintain".into()) };
                let maintain = vextrus_files::maintain::MaintainFiles { reconcile: round % RETENTION_EVERY == 0 };
                enqueue_with(&mut tx, &maintain, options).await?;
                if round % RETENTION_EVERY == 0 {
                    let options = EnqueueOptions { run_at: None, dedup_key: Some("retention".into()) };
                    enqueue_with(&mut tx, &ApplyRetention {}, options).await?;
                    // Daily too: the registry's tarballs that no version names any more.
                    let options = EnqueueOptions { run_at: None, dedup_key: Some("collect-tarballs".into()) };
                    enqueue_with(&mut tx, &vextrus_registry::gc::CollectTarballs {}, options).await?;
                }
                tx.commit().await
            };
            if let Err(e) = enqueued.await {
                tracing::warn!(error = %e, "could not schedule the periodic jobs");
            }
            tokio::time::sleep(PERIOD).await;
        }
    };
    tokio::select! {
        () = work => {}
        () = stopped(stopping) => {}
    }
}

/// `vextrus admin token rotate` replaces the generated token file; switch to the new token.
/// The switch is recorded in the platform's audit chain.
async fn follow_token_file(
    db: Database,
    token: OperatorToken,
    path: std::path::PathBuf,
    stopping: watch::Receiver<bool>,
) {
    let work = async {
        loop {
            tokio::time::sleep(Duration::from_secs(2)).await;
            if let Some(current) = platform::read_token_file(&path)
                && token.replace(Some(current))
            {
                tracing::info!(path = %path.display(), "admin token rotated: the previous one no longer works");
                let recorded = async {
                    let mut tx = db.system().await?;
                    let event = vextrus_audit::NewEvent::new(
                        vextrus_db::TenantId::PLATFORM,
                        vextrus_audit::Actor::system(),
                        "platform.admin_token.rotate",
                    )
                    .metadata(serde_json::json!({"file": path.display().to_string()}));
                    vextrus_audit::record(&mut tx, event).await?;
                    tx.commit().await
                };
                if let Err(e) = recorded.await {
                    tracing::error!(error = %e, "could not record the admin token rotation in the audit trail");
                }
            }
        }
    };
    tokio::select! {
        () = work => {}
        () = stopped(stopping) => {}
    }
}

/// Migrations (unless disabled), the role safety check, and the runtime pools.
async fn prepare(config: &Config, args: &ServeArgs, options: &vextrus_db::DatabaseOptions) -> anyhow::Result<Database> {
    if config.database.migrate_on_start && !args.no_migrate {
        let applied = options.migrate(vextrus::MODULES).await.context("applying migrations")?;
        tracing::info!(applied, "database schema is current");
    }
    options.check_roles().await.context("checking database roles")?;
    let options = vextrus_db::DatabaseOptions { job_slots: config.jobs.concurrency, ..options.clone() };
    Database::connect(&options).await.context("connecting the database pools")
}

fn worker_options(config: &Config, grace: Duration) -> WorkerOptions {
    WorkerOptions {
        concurrency: config.jobs.concurrency as usize,
        poll_interval: Duration::from_secs(config.jobs.poll_interval_secs),
        lease: Duration::from_secs(config.jobs.lease_secs),
        max_attempts: config.jobs.max_attempts,
        shutdown_grace: grace,
        ..WorkerOptions::default()
    }
}

async fn stopped(mut stopping: watch::Receiver<bool>) {
    let _ = stopping.wait_for(|stop| *stop).await;
}

async fn sample_metrics(db: Database, stopping: watch::Receiver<bool>) {
    loop {
        if let Err(e) = sample_queue_metrics(&db).await {
            tracing::debug!(error = %e, "sampling queue metrics failed");
        }
        tokio::select! {
            () = tokio::time::sleep(Duration::from_secs(10)) => {}
            () = stopped(stopping.clone()) => return,
        }
    }
}

/// Picks up keys that another instance (or `admin keys rotate`) added; they are published long
/// before they sign, so a minute's delay loses nothing.
async fn refresh_keys(keys: vextrus_identity::keys::KeyRing, db: Database, stopping: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            () = tokio::time::sleep(Duration::from_secs(60)) => {}
            () = stopped(stopping.clone()) => return,
        }
        if let Err(e) = keys.reload(&db).await {
            tracing::warn!(error = %e, "reloading signing keys failed; keeping the ones loaded");
        }
    }
}

/// Signs the registry's versions that arrived unsigned (imported from the command line, or
/// published before the registry signed), at start and then every minute.
async fn sign_unsigned(db: Database, registry: vextrus_registry::RegistrySettings, stopping: watch::Receiver<bool>) {
    let Some(signing) = registry.signing else { return };
    loop {
        match vextrus_registry::signing::sign_unsigned(&db, &signing).await {
            Ok(0) => {}
            Ok(signed) => tracing::info!(signed, "signed registry versions that had no signature"),
            Err(e) => tracing::warn!(error = %e, "signing unsigned registry versions failed; retrying later"),
        }
        tokio::select! {
            () = tokio::time::sleep(Duration::from_secs(60)) => {}
            () = stopped(stopping.clone()) => return,
        }
    }
}

/// Packages whose visibility nobody chose follow `[[registry.access]]` as configured now.
async fn apply_access_rules(db: Database, rules: vextrus_registry::access::AccessRules) {
    match vextrus_registry::access::apply(&db, &rules, None).await {
        Ok(0) => {}
        Ok(changed) => tracing::info!(changed, "packages now readable as registry.access says"),
        Err(e) => tracing::warn!(error = %e, "applying registry.access failed; packages keep their visibility"),
    }
}

/// Restarts the embedded PostgreSQL if it dies while we serve; hands it back at shutdown.
async fn supervise(
    mut pg: EmbeddedPostgres,
    options: EmbeddedOptions,
    stopping: watch::Receiver<bool>,
) -> Option<EmbeddedPostgres> {
    loop {
        tokio::select! {
            status = pg.exited() => {
                tracing::error!(?status, "embedded PostgreSQL exited unexpectedly; restarting it");
                let mut delay = Duration::from_millis(500);
                loop {
                    if *stopping.borrow() {
                        return None;
                    }
                    match EmbeddedPostgres::start(&options).await {
                        Ok(restarted) => {
                            pg = restarted;
                            break;
                        }
                        Err(e) => {
                            tracing::error!(error = %e, retry_in_secs = delay.as_secs_f64(), "restarting PostgreSQL failed");
                            tokio::time::sleep(delay).await;
                            delay = (delay * 2).min(Duration::from_secs(30));
                        }
                    }
                }
            }
            () = stopped(stopping.clone()) => return Some(pg),
        }
    }
}

/// SIGINT and SIGTERM, registered with the OS as soon as this is created.
struct Signals {
    interrupt: tokio::signal::unix::Signal,
    terminate: tokio::signal::unix::Signal,
}

impl Signals {
    fn register() -> anyhow::Result<Self> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(Self {
            interrupt: signal(SignalKind::interrupt()).context("cannot watch SIGINT")?,
            terminate: signal(SignalKind::terminate()).context("cannot watch SIGTERM")?,
        })
    }

    async fn received(mut self) {
        tokio::select! {
            _ = self.interrupt.recv() => {}
            _ = self.terminate.recv() => {}
        }
    }
}

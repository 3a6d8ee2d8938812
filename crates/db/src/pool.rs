//! The two runtime pools: `app` (request path, Row-Level Security applies) and `system`
//! (explicitly cross-tenant work). Neither connects as the owner.

use std::time::Duration;

use secrecy::ExposeSecret;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions, Connection, PgPool};

use crate::DbError;
use crate::embedded::{DATABASE, EmbeddedPostgres, SUPERUSER};
use crate::migrate::{ModuleMigrations, apply_migrations, pending_migrations};
use crate::roles::{RoleNames, check_roles};
use crate::tenant::{SystemReads, SystemTx, TenantId, TenantTx};

/// How to reach PostgreSQL as each of the three roles.
#[derive(Debug, Clone)]
pub struct DatabaseOptions {
    /// The migration user: the owner role itself, or a user allowed to become it.
    pub owner: PgConnectOptions,
    pub app: PgConnectOptions,
    pub system: PgConnectOptions,
    pub roles: RoleNames,
    pub max_connections: u32,
    /// Jobs this process's worker runs at once: the system pool gets a connection for each on
    /// top of its own quarter of `max_connections`, so running jobs never queue for one.
    pub job_slots: u32,
}

impl DatabaseOptions {
    /// From the URL of the migration user; the app and system logins are the same server and
    /// database with their own role names and passwords.
    pub fn from_url(url: &str, roles: RoleNames, max_connections: u32) -> Result<Self, sqlx::Error> {
        let owner: PgConnectOptions = url.parse()?;
        let login = |name: &str, password: Option<&secrecy::SecretString>| {
            let options = owner.clone().username(name);
            match password {
                Some(p) => options.password(p.expose_secret()),
                None => options,
            }
        };
        let app = login(&roles.app, roles.app_password.as_ref());
        let system = login(&roles.system, roles.system_password.as_ref());
        Ok(Self { owner, app, system, roles, max_connections, job_slots: 0 }.tuned())
    }

    /// The embedded cluster: superuser for migrations, trust authentication on the private socket.
    pub fn embedded(pg: &EmbeddedPostgres, roles: RoleNames, max_connections: u32) -> Self {
        Self {
            owner: pg.connect_options(SUPERUSER, DATABASE),
            app: pg.connect_options(&roles.app, DATABASE),
            system: pg.connect_options(&roles.system, DATABASE),
            roles,
            max_connections,
            job_slots: 0,
        }
        .tuned()
    }

    fn tuned(mut self) -> Self {
        for options in [&mut self.owner, &mut self.app, &mut self.system] {
            *options = options
                .clone()
                .application_name("vextrus")
                .log_statements(tracing::log::LevelFilter::Trace)
                .log_slow_statements(tracing::log::LevelFilter::Warn, Duration::from_secs(1));
        }
        // A transaction left open by a runtime connection (a bug, a stuck task) must not hold
        // its locks for ever: the server ends such a session after five idle minutes.
        for options in [&mut self.app, &mut self.system] {
            *options = options.clone().options([("idle_in_transaction_session_timeout", "5min")]);
        }
        self
    }

    /// Bootstraps roles and applies pending migrations as the migration user.
    pub async fn migrate(&self, modules: &[ModuleMigrations]) -> Result<usize, DbError> {
        let mut conn = self.owner.connect().await?;
        let applied = apply_migrations(&mut conn, &self.roles, modules).await;
        let _ = conn.close().await;
        applied
    }

    /// Checks as the migration user that the runtime roles cannot defeat Row-Level Security.
    pub async fn check_roles(&self) -> Result<(), DbError> {
        let mut conn = self.owner.connect().await?;
        let checked = check_roles(&mut conn, &self.roles).await;
        let _ = conn.close().await;
        checked
    }
}

/// Handle to the runtime pools; cheap to clone.
#[derive(Debug, Clone)]
pub struct Database {
    app: PgPool,
    system: PgPool,
    /// For listeners, which hold a connection of their own for as long as they live.
    system_options: std::sync::Arc<PgConnectOptions>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolStats {
    pub size: u32,
    pub idle: u32,
    pub max: u32,
}

impl Database {
    /// Opens both pools, connecting once each so a wrong password fails here and not later.
    pub async fn connect(options: &DatabaseOptions) -> Result<Self, DbError> {
        let pool = |max: u32| {
            PgPoolOptions::new()
                .max_connections(max)
                .min_connections(0)
                .acquire_timeout(Duration::from_secs(5))
                .idle_timeout(Some(Duration::from_secs(300)))
                // No ping (a round trip) on every acquire: a transaction's BEGIN finds a
                // connection that was cut while idle, and `begin` then takes another.
                .test_before_acquire(false)
        };
        let app = pool(options.max_connections).connect_with(options.app.clone()).await?;
        let system_max = (options.max_connections / 4).max(2) + options.job_slots;
        let system = pool(system_max).connect_with(options.system.clone()).await?;
        Ok(Self { app, system, system_options: std::sync::Arc::new(options.system.clone()) })
    }

    /// Begins a transaction in which exactly `tenant`'s rows are visible and writable.
    pub async fn tenant(&self, tenant: TenantId) -> Result<TenantTx, DbError> {
        TenantTx::begin(&self.app, tenant).await
    }

    /// Begins an explicitly cross-tenant transaction (job dispatch, platform operators).
    pub async fn system(&self) -> Result<SystemTx, DbError> {
        SystemTx::begin(&self.system).await
    }

    /// A system connection for one-statement reads, without a transaction around them.
    pub async fn system_reads(&self) -> Result<SystemReads, DbError> {
        SystemReads::acquire(&self.system).await
    }

    /// A connection of the system role listening on `channels`. It is its own, outside the
    /// pools: a listener holds its connection forever, and must never starve the queries.
    /// It reconnects by itself.
    pub async fn listener(&self, channels: &[&str]) -> Result<sqlx::postgres::PgListener, DbError> {
        let own = PgPoolOptions::new()
            .max_connections(1)
            .max_lifetime(None)
            .idle_timeout(None)
            .connect_with((*self.system_options).clone())
            .await?;
        let mut listener = sqlx::postgres::PgListener::connect_with(&own).await?;
        listener.listen_all(channels.iter().copied()).await?;
        Ok(listener)
    }

    /// Both pools can reach the server.
    pub async fn ping(&self) -> Result<(), DbError> {
        self.app.acquire().await?.ping().await?;
        self.system.acquire().await?.ping().await?;
        Ok(())
    }

    pub async fn pending_migrations(&self, modules: &[ModuleMigrations]) -> Result<Vec<String>, DbError> {
        let mut conn = self.system.acquire().await?;
        pending_migrations(&mut conn, modules).await
    }

    pub fn app_stats(&self) -> PoolStats {
        stats(&self.app)
    }

    pub fn system_stats(&self) -> PoolStats {
        stats(&self.system)
    }

    pub async fn close(&self) {
        self.app.close().await;
        self.system.close().await;
    }

    pub(crate) fn system_pool(&self) -> &PgPool {
        &self.system
    }
}

fn stats(pool: &PgPool) -> PoolStats {
    PoolStats { size: pool.size(), idle: pool.num_idle() as u32, max: pool.options().get_max_connections() }
}

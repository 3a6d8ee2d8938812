//! Transactions that carry their scope in their type. Every store function that touches a tenant
//! table takes a `&mut TenantTx` (or, for explicitly cross-tenant work, a `&mut SystemTx`); the
//! app pool is private to this crate, so there is no other way to reach tenant rows.

use std::fmt;

use serde::{Deserialize, Serialize};
use sqlx::{PgConnection, PgPool, Postgres, Transaction};
use uuid::Uuid;

use crate::DbError;

/// The id of an organization, which is the tenant key of every tenant-owned row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, sqlx::Type)]
#[serde(transparent)]
#[sqlx(transparent)]
pub struct TenantId(Uuid);

impl TenantId {
    /// Platform-level rows (jobs with no tenant) use the nil UUID, which no organization has.
    pub const PLATFORM: Self = Self(Uuid::nil());

    /// A new, time-ordered id (UUIDv7).
    pub fn new_v7() -> Self {
        Self(Uuid::now_v7())
    }

    pub const fn from_uuid(id: Uuid) -> Self {
        Self(id)
    }

    pub const fn as_uuid(&self) -> &Uuid {
        &self.0
    }
}

impl fmt::Display for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Anything a store function can run SQL on; sealed, implemented by the two transaction types.
pub trait Tx: sealed::Sealed + Send {
    fn conn(&mut self) -> &mut PgConnection;
    /// Tenant of the rows this transaction may write (PLATFORM for the system path's own jobs).
    fn scope(&self) -> TenantId;
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for super::TenantTx {}
    impl Sealed for super::SystemTx {}
    impl Sealed for super::SystemReads {}
    impl Sealed for super::ScopedTx {}
}

/// A transaction of the app role in which `vextrus.tenant_id` is set (for this transaction
/// only: `set_config(…, true)`), so Row-Level Security shows and accepts exactly that tenant's rows.
#[derive(Debug)]
pub struct TenantTx {
    tx: Transaction<'static, Postgres>,
    tenant: TenantId,
}

impl TenantTx {
    pub(crate) async fn begin(pool: &PgPool, tenant: TenantId) -> Result<Self, DbError> {
        // One round trip for both; the tenant is a UUID we format ourselves, safe to inline.
        let tx = begin_with(pool, format!("BEGIN; SELECT set_config('vextrus.tenant_id', '{tenant}', true)")).await?;
        Ok(Self { tx, tenant })
    }

    pub fn tenant(&self) -> TenantId {
        self.tenant
    }

    pub async fn commit(self) -> Result<(), DbError> {
        Ok(self.tx.commit().await?)
    }

    /// Dropping also rolls back; this is for saying so.
    pub async fn rollback(self) -> Result<(), DbError> {
        Ok(self.tx.rollback().await?)
    }
}

impl Tx for TenantTx {
    fn conn(&mut self) -> &mut PgConnection {
        &mut self.tx
    }

    fn scope(&self) -> TenantId {
        self.tenant
    }
}

/// A transaction of the system role: sees every tenant. Only code that is cross-tenant by nature
/// (job dispatch, platform operators) asks for one, by this name.
#[derive(Debug)]
pub struct SystemTx {
    tx: Transaction<'static, Postgres>,
}

impl SystemTx {
    pub(crate) async fn begin(pool: &PgPool) -> Result<Self, DbError> {
        Ok(Self { tx: begin_with(pool, "BEGIN".to_owned()).await? })
    }

    pub async fn commit(self) -> Result<(), DbError> {
        Ok(self.tx.commit().await?)
    }

    pub async fn rollback(self) -> Result<(), DbError> {
        Ok(self.tx.rollback().await?)
    }
}

impl Tx for SystemTx {
    fn conn(&mut self) -> &mut PgConnection {
        &mut self.tx
    }

    fn scope(&self) -> TenantId {
        TenantId::PLATFORM
    }
}

/// A connection of the system role outside any transaction: each statement commits by itself.
/// For a read that is one statement, where `BEGIN` and `COMMIT` would be two of its three round
/// trips (a job reading what it is to do); writes that belong together take a [`SystemTx`].
#[derive(Debug)]
pub struct SystemReads {
    conn: sqlx::pool::PoolConnection<Postgres>,
}

impl SystemReads {
    pub(crate) async fn acquire(pool: &PgPool) -> Result<Self, DbError> {
        Ok(Self { conn: pool.acquire().await? })
    }
}

impl Tx for SystemReads {
    fn conn(&mut self) -> &mut PgConnection {
        &mut self.conn
    }

    fn scope(&self) -> TenantId {
        TenantId::PLATFORM
    }
}

/// One or the other, chosen at run time: for operations that both an organization (on itself)
/// and a platform operator (on any organization) may perform. Under `Tenant`, Row-Level Security
/// still limits every statement to that tenant.
#[derive(Debug)]
pub enum ScopedTx {
    Tenant(TenantTx),
    System(SystemTx),
}

impl ScopedTx {
    pub async fn commit(self) -> Result<(), DbError> {
        match self {
            Self::Tenant(tx) => tx.commit().await,
            Self::System(tx) => tx.commit().await,
        }
    }
}

impl Tx for ScopedTx {
    fn conn(&mut self) -> &mut PgConnection {
        match self {
            Self::Tenant(tx) => tx.conn(),
            Self::System(tx) => tx.conn(),
        }
    }

    fn scope(&self) -> TenantId {
        match self {
            Self::Tenant(tx) => tx.scope(),
            Self::System(tx) => tx.scope(),
        }
    }
}

/// Begins with `statement`. Pooled connections are not pinged before use, so a connection the
/// server dropped while it sat idle (a restart, a proxy's timeout) fails here, on BEGIN, before
/// anything was done: it is discarded and the next one tried, up to the pool's size.
async fn begin_with(
    pool: &PgPool,
    statement: String,
) -> Result<sqlx::Transaction<'static, sqlx::Postgres>, sqlx::Error> {
    let mut attempts = pool.size() + 1;
    loop {
        match pool.begin_with(statement.clone()).await {
            Err(sqlx::Error::Io(e)) if attempts > 1 => {
                tracing::debug!(error = %e, "a pooled connection was cut; taking another");
                attempts -= 1;
            }
            other => return other,
        }
    }
}

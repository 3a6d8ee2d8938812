//! The job queue (outbox). A module defines a [`Job`] (a serialisable payload with a stable
//! `KIND`), enqueues it with [`enqueue`] inside the transaction of the change that causes it, and
//! registers a handler in a [`Registry`] that a [`Worker`] runs.
//!
//! Delivery is at least once: a handler may run again after a crash or a lost lease, so it must
//! be idempotent — [`JobContext::id`] is stable across attempts and serves as an idempotency key.
//! Two workers never hold the same job at once: a claim takes a lease that the running worker
//! renews, and finishing is fenced on (worker, attempt), so a worker that lost its lease cannot
//! complete or fail a job that someone else now holds.

mod metrics;
mod registry;
mod worker;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde::de::DeserializeOwned;
use uuid::Uuid;

use crate::{DbError, TenantId, Tx};

pub use self::metrics::sample_queue_metrics;

/// A handler's answer for "not now, and not the job's fault" (its endpoint is backing off): the
/// job is queued again `after` this long, and the attempt is not counted against it.
#[derive(Debug)]
pub struct Defer {
    pub after: std::time::Duration,
    pub reason: String,
}

impl std::fmt::Display for Defer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "deferred: {}", self.reason)
    }
}

impl std::error::Error for Defer {}
pub use registry::{HandlerError, JobContext, Registry};
pub use worker::{Worker, WorkerOptions};

/// `NOTIFY` channel that wakes workers; the payload is the job's kind.
pub(crate) const CHANNEL: &str = "vextrus_jobs";

/// A kind of background work. `KIND` is stored with every job: never rename it while jobs of
/// that kind may be queued.
pub trait Job: Serialize + DeserializeOwned + Send + Sync + 'static {
    const KIND: &'static str;
    /// Attempts before dead-letter; `None` uses the worker's configured default.
    const MAX_ATTEMPTS: Option<i32> = None;
}

/// Optional settings of one enqueue.
#[derive(Debug, Default, Clone)]
pub struct EnqueueOptions {
    /// Not before this time (default: now).
    pub run_at: Option<DateTime<Utc>>,
    /// While a job of the same kind and tenant with this key is pending, do not add another.
    pub dedup_key: Option<String>,
}

/// Enqueues `job` in `tx`: it becomes visible to workers when `tx` commits, and vanishes if it
/// rolls back. The tenant is the transaction's own (platform-level for a [`crate::SystemTx`]).
pub async fn enqueue<J: Job>(tx: &mut impl Tx, job: &J) -> Result<Uuid, DbError> {
    let id = enqueue_with(tx, job, EnqueueOptions::default()).await?;
    Ok(id.expect("without a dedup key an enqueue is never deduplicated"))
}

/// Like [`enqueue`]; returns `None` when a pending job with the same dedup key exists.
pub async fn enqueue_with<J: Job>(tx: &mut impl Tx, job: &J, options: EnqueueOptions) -> Result<Option<Uuid>, DbError> {
    let tenant = tx.scope();
    enqueue_for(tx, tenant, job, options).await
}

/// Like [`enqueue_with`], for `tenant`: the system path's way to queue an organization's work
/// (on an organization's own transaction, Row-Level Security allows only its own).
pub async fn enqueue_for<J: Job>(
    tx: &mut impl Tx,
    tenant: TenantId,
    job: &J,
    options: EnqueueOptions,
) -> Result<Option<Uuid>, DbError> {
    let id = Uuid::now_v7();
    let payload = serde_json::to_value(job).map_err(|e| DbError::Sqlx(sqlx::Error::Encode(Box::new(e))))?;
    // One round trip: the wake-up is sent only when the row went in (not for a duplicate).
    let inserted = sqlx::query_scalar::<_, i32>(
        "WITH inserted AS (
             INSERT INTO db.jobs (tenant_id, id, kind, payload, dedup_key, max_attempts, run_at)
             VALUES ($1, $2, $3, $4, $5, $6, COALESCE($7, now()))
             ON CONFLICT (tenant_id, kind, dedup_key) WHERE dedup_key IS NOT NULL AND state <> 'dead' DO NOTHING
             RETURNING 1)
         SELECT 1 FROM inserted, pg_notify($8, $3)",
    )
    .bind(tenant)
    .bind(id)
    .bind(J::KIND)
    .bind(payload)
    .bind(options.dedup_key)
    .bind(J::MAX_ATTEMPTS)
    .bind(options.run_at)
    .bind(CHANNEL)
    .fetch_optional(tx.conn())
    .await?;
    if inserted.is_none() {
        return Ok(None);
    }
    Ok(Some(id))
}

//! The worker: claims due jobs across tenants (system role), runs them with bounded concurrency,
//! renews their leases while they run, and records the outcome fenced on (worker, attempt).

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use sqlx::PgPool;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use uuid::Uuid;

use super::CHANNEL;
use super::registry::{JobContext, Registry};
use crate::{Database, DbError, TenantId, Tx, error_chain};

#[derive(Debug, Clone)]
pub struct WorkerOptions {
    /// Jobs run at once.
    pub concurrency: usize,
    /// Polling fallback when no notification arrives (and how late a retry may start).
    pub poll_interval: Duration,
    /// How long a claim lasts without renewal; renewed every third of it.
    pub lease: Duration,
    /// Attempts for jobs that do not set their own.
    pub max_attempts: i32,
    /// First retry delay; doubles per attempt, with jitter, up to `backoff_max`.
    pub backoff_base: Duration,
    pub backoff_max: Duration,
    /// After shutdown is requested, how long running jobs may take before they are released.
    pub shutdown_grace: Duration,
    /// The most jobs of one kind and one organization that run at once, across every worker
    /// (`None`: half of `concurrency`, at least one): one organization's slow or failing work
    /// never takes every slot.
    pub per_tenant_kind: Option<usize>,
}

impl Default for WorkerOptions {
    fn default() -> Self {
        Self {
            concurrency: 4,
            poll_interval: Duration::from_secs(5),
            lease: Duration::from_secs(60),
            max_attempts: 8,
            backoff_base: Duration::from_secs(2),
            backoff_max: Duration::from_secs(3600),
            shutdown_grace: Duration::from_secs(20),
            per_tenant_kind: None,
        }
    }
}

#[derive(Debug)]
pub struct Worker {
    db: Database,
    registry: Arc<Registry>,
    options: WorkerOptions,
    id: String,
}

#[derive(Debug, sqlx::FromRow)]
struct Claimed {
    tenant_id: TenantId,
    id: Uuid,
    kind: String,
    payload: serde_json::Value,
    attempts: i32,
    max_attempts: i32,
}

impl Worker {
    pub fn new(db: Database, registry: Registry, options: WorkerOptions) -> Self {
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
        let id = format!("{}:{}:{}", host.trim(), std::process::id(), &Uuid::now_v7().simple().to_string()[24..]);
        Self { db, registry: Arc::new(registry), options, id }
    }

    /// This worker's identity in `locked_by`.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Runs until `shutdown` resolves, then lets running jobs finish within the grace period
    /// and hands back (unclaims) the ones that did not.
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        let kinds: Vec<String> = self.registry.kinds().into_iter().map(str::to_owned).collect();
        if kinds.is_empty() || self.options.concurrency == 0 {
            tracing::info!("job worker idle: no handlers registered or concurrency 0");
            shutdown.await;
            return;
        }
        tracing::info!(worker = %self.id, ?kinds, concurrency = self.options.concurrency, "job worker started");
        let mut listener = match self.db.listener(&[CHANNEL]).await {
            Ok(l) => Some(l),
            Err(e) => {
                tracing::warn!(error = %e, "LISTEN failed; polling only");
                None
            }
        };
        let slots = Arc::new(Semaphore::new(self.options.concurrency));
        let mut running = JoinSet::new();
        tokio::pin!(shutdown);
        loop {
            let free = slots.available_permits();
            if free > 0 {
                match self.claim(&kinds, free).await {
                    Ok(jobs) => {
                        for job in jobs {
                            let permit = slots.clone().acquire_owned().await.expect("semaphore is never closed");
                            let run = self.execute(job);
                            running.spawn(async move {
                                run.await;
                                drop(permit);
                            });
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "claiming jobs failed"),
                }
            }
            let notified = async {
                match listener.as_mut() {
                    Some(l) => {
                        if let Err(e) = l.recv().await {
                            tracing::warn!(error = %e, "job notification listener failed");
                            tokio::time::sleep(self.options.poll_interval).await;
                        }
                    }
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                () = &mut shutdown => break,
                () = notified => {}
                () = tokio::time::sleep(self.options.poll_interval) => {}
                Some(_) = running.join_next(), if !running.is_empty() => {}
            }
        }

        let deadline = Instant::now() + self.options.shutdown_grace;
        while !running.is_empty() {
            match tokio::time::timeout_at(deadline.into(), running.join_next()).await {
                Ok(_) => {}
                Err(_) => {
                    tracing::warn!(
                        jobs = running.len(),
                        "jobs still running at the end of the grace period; releasing them"
                    );
                    running.abort_all();
                    break;
                }
            }
        }
        if let Err(e) = self.release_all().await {
            tracing::warn!(error = %e, "could not release this worker's jobs; their leases will expire");
        }
        tracing::info!(worker = %self.id, "job worker stopped");
    }

    /// Claims up to `limit` due jobs, fairly: jobs take turns by (organization, kind) — every
    /// group's oldest due job before any group's second — and no group gets more than
    /// `per_tenant_kind` running at once. A backlog (thousands of one organization's retries)
    /// waits behind everyone else's first job instead of in front of it.
    ///
    /// The organizations with queued jobs are found by skipping through the `jobs_queued` index
    /// one organization at a time, and each (organization, kind) group gives at most its
    /// remaining share, oldest first: the claim reads a few rows per group, never the backlog.
    async fn claim(&self, kinds: &[String], limit: usize) -> Result<Vec<Claimed>, DbError> {
        let per_group = self.options.per_tenant_kind.unwrap_or(self.options.concurrency / 2).max(1);
        // The due condition is checked again on what the lock returned, the newest version of
        // each row: a job another worker claimed between this statement's snapshot and the lock
        // is skipped (checked on `picked`, not on `j`, so the planner joins by key instead of
        // scanning every due job). Running jobs whose worker stopped renewing the lease (it died) are taken
        // again, first.
        Ok(sqlx::query_as(
            "WITH RECURSIVE tenants (tenant_id) AS (
                 (SELECT j.tenant_id FROM db.jobs j WHERE j.state = 'queued' ORDER BY j.tenant_id LIMIT 1)
                 UNION ALL
                 SELECT (SELECT j.tenant_id FROM db.jobs j
                          WHERE j.state = 'queued' AND j.tenant_id > t.tenant_id
                          ORDER BY j.tenant_id LIMIT 1)
                   FROM tenants t WHERE t.tenant_id IS NOT NULL),
             groups AS (
                 SELECT t.tenant_id, k.kind FROM tenants t CROSS JOIN unnest($1::text[]) AS k (kind)
                  WHERE t.tenant_id IS NOT NULL),
             busy AS (
                 SELECT tenant_id, kind, count(*) AS running FROM db.jobs
                  WHERE state = 'running' AND locked_until >= now() AND kind = ANY($1)
                  GROUP BY tenant_id, kind),
             turns AS (
                 SELECT c.tenant_id, c.id, c.run_at,
                        row_number() OVER (PARTITION BY c.tenant_id, c.kind ORDER BY c.run_at, c.id)
                            + COALESCE(b.running, 0) AS turn
                   FROM groups g
                   LEFT JOIN busy b ON b.tenant_id = g.tenant_id AND b.kind = g.kind
                   CROSS JOIN LATERAL (
                       SELECT j.tenant_id, j.id, j.run_at, j.kind FROM db.jobs j
                        WHERE j.state = 'queued' AND j.kind = g.kind AND j.tenant_id = g.tenant_id
                          AND j.run_at <= now()
                        ORDER BY j.run_at, j.id
                        LIMIT LEAST($2, GREATEST($6 - COALESCE(b.running, 0), 0))) c
                 UNION ALL
                 SELECT tenant_id, id, run_at, 0 FROM db.jobs
                  WHERE state = 'running' AND locked_until < now() AND kind = ANY($1)),
             picked AS (
                 SELECT j.tenant_id, j.id, j.kind, j.state, j.run_at, j.locked_until
                   FROM (SELECT * FROM turns ORDER BY turn, run_at, id LIMIT $2 * 2) t
                   JOIN db.jobs j ON j.tenant_id = t.tenant_id AND j.id = t.id
                  ORDER BY t.turn, t.run_at, t.id
                  LIMIT $2
                  FOR UPDATE OF j SKIP LOCKED)
             UPDATE db.jobs j
                SET state = 'running', attempts = j.attempts + 1, locked_by = $3,
                    locked_until = now() + make_interval(secs => $4), updated_at = now()
               FROM picked
              WHERE j.tenant_id = picked.tenant_id AND j.id = picked.id AND picked.kind = ANY($1)
                AND ((picked.state = 'queued' AND picked.run_at <= now())
                     OR (picked.state = 'running' AND picked.locked_until < now()))
          RETURNING j.tenant_id, j.id, j.kind, j.payload, j.attempts, COALESCE(j.max_attempts, $5) AS max_attempts",
        )
        .bind(kinds)
        .bind(limit as i64)
        .bind(&self.id)
        .bind(self.options.lease.as_secs_f64())
        .bind(self.options.max_attempts)
        .bind(per_group as i64)
        .fetch_all(self.db.system_pool())
        .await?)
    }

    fn execute(&self, job: Claimed) -> impl Future<Output = ()> + Send + 'static {
        let db = self.db.clone();
        let registry = self.registry.clone();
        let options = self.options.clone();
        let worker = self.id.clone();
        async move {
            let worker_id: Arc<str> = Arc::from(worker.as_str());
            let fence = Fence { tenant: job.tenant_id, id: job.id, worker, attempt: job.attempts };
            let mut handled: Option<JobContext> = None;
            let span = tracing::info_span!("job", kind = %job.kind, job = %job.id, tenant = %job.tenant_id, attempt = job.attempts);
            let _entered = span.enter();
            drop(_entered);
            let started = Instant::now();
            let outcome = if job.attempts > job.max_attempts {
                // Claimed again after its worker died each time: a job that kills its worker.
                Err(Outcome::Failed(format!("worker stopped during each of {} attempts", job.attempts - 1)))
            } else {
                let ctx = JobContext {
                    id: job.id,
                    tenant: job.tenant_id,
                    attempt: job.attempts,
                    db: db.clone(),
                    worker: worker_id.clone(),
                    finished: Arc::default(),
                };
                handled = Some(ctx.clone());
                match registry.start(&job.kind, ctx, job.payload) {
                    None => Err(Outcome::Failed(format!("no handler for kind {}", job.kind))),
                    Some(Err(e)) => Err(Outcome::Failed(format!("payload does not decode: {e}"))),
                    Some(Ok(fut)) => {
                        let heartbeat =
                            tokio::spawn(renew_lease(db.system_pool().clone(), fence.clone(), options.lease));
                        // A panicking handler fails its job instead of the worker.
                        let result = tokio::spawn(fut).await;
                        heartbeat.abort();
                        match result {
                            Ok(Ok(())) => Ok(()),
                            Ok(Err(e)) if e.downcast_ref::<super::Defer>().is_some() => {
                                let defer = e.downcast_ref::<super::Defer>().map_or(Duration::ZERO, |d| d.after);
                                Err(Outcome::Deferred(defer, error_chain(e.as_ref())))
                            }
                            Ok(Err(e)) => Err(Outcome::Failed(error_chain(e.as_ref()))),
                            Err(e) if e.is_panic() => Err(Outcome::Failed("handler panicked".to_owned())),
                            Err(e) => Err(Outcome::Failed(format!("handler task failed: {e}"))),
                        }
                    }
                }
            };
            let elapsed = started.elapsed().as_secs_f64();
            metrics::histogram!("vextrus_job_duration_seconds", "kind" => job.kind.clone()).record(elapsed);
            let finished = match outcome {
                // The handler finished it in its own transaction.
                Ok(()) if handled.as_ref().is_some_and(JobContext::was_finished) => Ok((true, "succeeded")),
                Ok(()) => fence.succeed(db.system_pool()).await.map(|done| (done, "succeeded")),
                Err(Outcome::Deferred(delay, reason)) => {
                    tracing::info!(parent: &span, %reason, retry_in_secs = delay.as_secs_f64(), "job deferred");
                    fence.defer(db.system_pool(), &reason, delay).await.map(|done| (done, "deferred"))
                }
                Err(Outcome::Failed(error)) => {
                    let dead = job.attempts >= job.max_attempts;
                    let delay = backoff(job.attempts, options.backoff_base, options.backoff_max);
                    if dead {
                        tracing::error!(parent: &span, %error, "job failed for the last time; moved to dead-letter");
                    } else {
                        tracing::warn!(parent: &span, %error, retry_in_secs = delay.as_secs_f64(), "job failed; will retry");
                    }
                    fence
                        .fail(db.system_pool(), &error, dead, delay)
                        .await
                        .map(|done| (done, if dead { "dead" } else { "retried" }))
                }
            };
            match finished {
                Ok((true, outcome)) => {
                    metrics::counter!("vextrus_jobs_finished_total", "kind" => job.kind, "outcome" => outcome)
                        .increment(1);
                }
                Ok((false, _)) => {
                    tracing::warn!(parent: &span, "lease was lost before the job finished; its outcome is discarded")
                }
                Err(e) => {
                    tracing::warn!(parent: &span, error = %e, "could not record the job's outcome; it will run again")
                }
            }
        }
    }

    /// Hands this worker's unfinished jobs back without counting the interrupted attempt.
    /// Hands this worker's running jobs back. Bounded: a row locked by a transaction that never
    /// ends must not hold the process's shutdown forever (its lease then expires instead).
    async fn release_all(&self) -> Result<(), DbError> {
        let mut tx = self.db.system().await?;
        sqlx::query("SET LOCAL lock_timeout = '5s'").execute(tx.conn()).await?;
        sqlx::query(
            "UPDATE db.jobs SET state = 'queued', attempts = attempts - 1, locked_by = NULL, locked_until = NULL,
                    run_at = now(), updated_at = now()
              WHERE state = 'running' AND locked_by = $1",
        )
        .bind(&self.id)
        .execute(tx.conn())
        .await?;
        tx.commit().await?;
        Ok(())
    }
}

/// How a run that did not succeed ended.
enum Outcome {
    /// It failed: retried with backoff, or dead after its last attempt.
    Failed(String),
    /// It could not be tried now (see [`super::Defer`]): queued again, the attempt not counted.
    Deferred(Duration, String),
}

/// Identifies one attempt of one job by one worker; every write after the claim matches it.
#[derive(Debug, Clone)]
struct Fence {
    tenant: TenantId,
    id: Uuid,
    worker: String,
    attempt: i32,
}

impl Fence {
    async fn succeed(&self, pool: &PgPool) -> Result<bool, DbError> {
        let done =
            sqlx::query("DELETE FROM db.jobs WHERE tenant_id = $1 AND id = $2 AND locked_by = $3 AND attempts = $4")
                .bind(self.tenant)
                .bind(self.id)
                .bind(&self.worker)
                .bind(self.attempt)
                .execute(pool)
                .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn defer(&self, pool: &PgPool, reason: &str, delay: Duration) -> Result<bool, DbError> {
        let done = sqlx::query(
            "UPDATE db.jobs
                SET state = 'queued', attempts = attempts - 1, run_at = now() + make_interval(secs => $5),
                    last_error = $6, locked_by = NULL, locked_until = NULL, updated_at = now()
              WHERE tenant_id = $1 AND id = $2 AND locked_by = $3 AND attempts = $4",
        )
        .bind(self.tenant)
        .bind(self.id)
        .bind(&self.worker)
        .bind(self.attempt)
        .bind(delay.as_secs_f64())
        .bind(reason.chars().take(4000).collect::<String>())
        .execute(pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn fail(&self, pool: &PgPool, error: &str, dead: bool, delay: Duration) -> Result<bool, DbError> {
        let done = sqlx::query(
            "UPDATE db.jobs
                SET state = CASE WHEN $5 THEN 'dead' ELSE 'queued' END,
                    run_at = now() + make_interval(secs => $6), last_error = $7,
                    locked_by = NULL, locked_until = NULL, updated_at = now()
              WHERE tenant_id = $1 AND id = $2 AND locked_by = $3 AND attempts = $4",
        )
        .bind(self.tenant)
        .bind(self.id)
        .bind(&self.worker)
        .bind(self.attempt)
        .bind(dead)
        .bind(delay.as_secs_f64())
        .bind(error.chars().take(4000).collect::<String>())
        .execute(pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }
}

async fn renew_lease(pool: PgPool, fence: Fence, lease: Duration) {
    loop {
        tokio::time::sleep(lease / 3).await;
        let renewed = sqlx::query(
            "UPDATE db.jobs SET locked_until = now() + make_interval(secs => $5)
              WHERE tenant_id = $1 AND id = $2 AND locked_by = $3 AND attempts = $4",
        )
        .bind(fence.tenant)
        .bind(fence.id)
        .bind(&fence.worker)
        .bind(fence.attempt)
        .bind(lease.as_secs_f64())
        .execute(&pool)
        .await;
        match renewed {
            Ok(r) if r.rows_affected() == 1 => {}
            Ok(_) => {
                tracing::warn!(job = %fence.id, "job lease lost while running");
                return;
            }
            Err(e) => tracing::warn!(job = %fence.id, error = %e, "could not renew job lease"),
        }
    }
}

/// Exponential backoff with "equal jitter": half the step is fixed, half random, so retries of
/// many jobs that failed together spread out but never come back sooner than half the step.
pub(crate) fn backoff(attempt: i32, base: Duration, max: Duration) -> Duration {
    let exponent = u32::try_from(attempt.saturating_sub(1)).unwrap_or(0).min(30);
    let step = base.saturating_mul(2u32.saturating_pow(exponent)).min(max);
    let half = step / 2;
    let mut bytes = [0u8; 8];
    let random = match getrandom::fill(&mut bytes) {
        Ok(()) => u64::from_le_bytes(bytes) as f64 / u64::MAX as f64,
        Err(_) => 0.5,
    };
    half + half.mul_f64(random)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_within_jitter_and_is_capped() {
        let base = Duration::from_secs(2);
        let max = Duration::from_secs(60);
        for attempt in 1..=10 {
            let step = (base * 2u32.pow(attempt as u32 - 1)).min(max);
            for _ in 0..50 {
                let d = backoff(attempt, base, max);
                assert!(d >= step / 2 && d <= step, "attempt {attempt}: {d:?} outside [{:?}, {step:?}]", step / 2);
            }
        }
        assert!(backoff(i32::MAX, base, max) <= max);
    }
}

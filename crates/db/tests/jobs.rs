//! The job queue against a real PostgreSQL: transactional enqueue, single execution, retries,
//! dead-letter, and survival of a worker that is killed mid-job.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use sqlx::Row;
use vextrus_db::jobs::{self, EnqueueOptions, Job, JobContext, Registry, Worker, WorkerOptions};
use vextrus_db::{TenantId, Tx};
use vextrus_testkit::TestDb;

#[derive(Debug, Serialize, Deserialize)]
struct Record {
    n: i32,
}

impl Job for Record {
    const KIND: &'static str = "test.record";
}

#[derive(Debug, Serialize, Deserialize)]
struct AlwaysFails;

impl Job for AlwaysFails {
    const KIND: &'static str = "test.always_fails";
    const MAX_ATTEMPTS: Option<i32> = Some(3);
}

async fn test_db() -> TestDb {
    let t = TestDb::new(&[vextrus_db::MIGRATIONS]).await;
    // Handlers write here (as the owner) so tests can count executions independently of the queue.
    sqlx::raw_sql(
        "CREATE TABLE public.executions (job uuid NOT NULL, attempt int NOT NULL, started timestamptz DEFAULT clock_timestamp(), finished timestamptz);
         GRANT SELECT, INSERT, UPDATE ON public.executions TO vextrus_system;",
    )
    .execute(&mut t.owner_conn().await)
    .await
    .unwrap();
    t
}

fn fast(concurrency: usize) -> WorkerOptions {
    WorkerOptions {
        concurrency,
        poll_interval: Duration::from_millis(200),
        lease: Duration::from_secs(2),
        max_attempts: 5,
        backoff_base: Duration::from_millis(10),
        backoff_max: Duration::from_millis(50),
        shutdown_grace: Duration::from_secs(5),
        per_tenant_kind: None,
    }
}

async fn record_execution(ctx: &JobContext, hold: Duration) -> Result<(), jobs::HandlerError> {
    let mut tx = ctx.db.system().await?;
    sqlx::query("INSERT INTO public.executions (job, attempt) VALUES ($1, $2)")
        .bind(ctx.id)
        .bind(ctx.attempt)
        .execute(tx.conn())
        .await?;
    tx.commit().await?;
    tokio::time::sleep(hold).await;
    let mut tx = ctx.db.system().await?;
    sqlx::query("UPDATE public.executions SET finished = clock_timestamp() WHERE job = $1 AND attempt = $2")
        .bind(ctx.id)
        .bind(ctx.attempt)
        .execute(tx.conn())
        .await?;
    tx.commit().await?;
    Ok(())
}

async fn count(t: &TestDb, sql: &str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(&mut t.owner_conn().await).await.unwrap()
}

/// Runs a worker until `done` holds (checked every 50 ms), at most `limit`.
async fn run_until<F, Fut>(worker: Worker, limit: Duration, mut done: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let handle = tokio::spawn(worker.run(async move {
        let _ = stopped.await;
    }));
    let deadline = tokio::time::Instant::now() + limit;
    while !done().await && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = stop.send(());
    handle.await.unwrap();
}

#[tokio::test]
async fn rolled_back_enqueue_leaves_no_job_and_committed_one_runs_once() {
    let t = test_db().await;
    let tenant = TenantId::new_v7();

    let mut tx = t.db.tenant(tenant).await.unwrap();
    jobs::enqueue(&mut tx, &Record { n: 1 }).await.unwrap();
    tx.rollback().await.unwrap();
    assert_eq!(count(&t, "SELECT count(*) FROM db.jobs").await, 0);

    let mut tx = t.db.tenant(tenant).await.unwrap();
    let id = jobs::enqueue(&mut tx, &Record { n: 2 }).await.unwrap();
    tx.commit().await.unwrap();
    let row =
        sqlx::query("SELECT tenant_id, kind, payload FROM db.jobs").fetch_one(&mut t.owner_conn().await).await.unwrap();
    assert_eq!(row.get::<uuid::Uuid, _>("tenant_id"), *tenant.as_uuid(), "a job carries its tenant");
    assert_eq!(row.get::<serde_json::Value, _>("payload"), serde_json::json!({"n": 2}));

    let seen = Arc::new(AtomicUsize::new(0));
    let mut registry = Registry::new();
    let counter = seen.clone();
    registry.register(move |ctx: JobContext, job: Record| {
        let counter = counter.clone();
        async move {
            assert_eq!(job.n, 2);
            assert_eq!(ctx.tenant, tenant);
            counter.fetch_add(1, Ordering::SeqCst);
            record_execution(&ctx, Duration::ZERO).await
        }
    });
    let worker = Worker::new(t.db.clone(), registry, fast(2));
    run_until(worker, Duration::from_secs(10), || async { count(&t, "SELECT count(*) FROM db.jobs").await == 0 }).await;
    assert_eq!(seen.load(Ordering::SeqCst), 1);
    assert_eq!(count(&t, &format!("SELECT count(*) FROM public.executions WHERE job = '{id}'")).await, 1);
}

#[tokio::test]
async fn dedup_key_keeps_one_pending_job() {
    let t = test_db().await;
    let mut tx = t.db.tenant(TenantId::new_v7()).await.unwrap();
    let opts = || EnqueueOptions { dedup_key: Some("welcome:42".into()), ..Default::default() };
    assert!(jobs::enqueue_with(&mut tx, &Record { n: 1 }, opts()).await.unwrap().is_some());
    assert!(jobs::enqueue_with(&mut tx, &Record { n: 1 }, opts()).await.unwrap().is_none());
    tx.commit().await.unwrap();
    assert_eq!(count(&t, "SELECT count(*) FROM db.jobs").await, 1);
}

#[tokio::test]
async fn failing_job_retries_with_backoff_then_is_dead_lettered() {
    let t = test_db().await;
    let mut tx = t.db.system().await.unwrap();
    jobs::enqueue(&mut tx, &AlwaysFails).await.unwrap();
    tx.commit().await.unwrap();

    let mut registry = Registry::new();
    registry.register(|ctx: JobContext, _: AlwaysFails| async move {
        record_execution(&ctx, Duration::ZERO).await?;
        Err::<(), _>(format!("smtp refused attempt {}", ctx.attempt).into())
    });
    let worker = Worker::new(t.db.clone(), registry, fast(1));
    run_until(worker, Duration::from_secs(15), || async {
        count(&t, "SELECT count(*) FROM db.jobs WHERE state = 'dead'").await == 1
    })
    .await;
    let row = sqlx::query("SELECT state, attempts, last_error FROM db.jobs")
        .fetch_one(&mut t.owner_conn().await)
        .await
        .unwrap();
    assert_eq!(row.get::<String, _>("state"), "dead");
    assert_eq!(row.get::<i32, _>("attempts"), 3, "the job's own MAX_ATTEMPTS wins over the worker default");
    assert_eq!(row.get::<String, _>("last_error"), "smtp refused attempt 3");
    assert_eq!(count(&t, "SELECT count(*) FROM public.executions").await, 3);
}

#[tokio::test]
async fn two_workers_never_run_the_same_job_concurrently() {
    let t = test_db().await;
    let mut tx = t.db.system().await.unwrap();
    for n in 0..40 {
        jobs::enqueue(&mut tx, &Record { n }).await.unwrap();
    }
    tx.commit().await.unwrap();

    let registry = || {
        let mut r = Registry::new();
        r.register(|ctx: JobContext, _: Record| async move { record_execution(&ctx, Duration::from_millis(30)).await });
        r
    };
    let second_instance = t.connect_again().await;
    let a = Worker::new(t.db.clone(), registry(), fast(4));
    let b = Worker::new(second_instance, registry(), fast(4));
    let all_done = || async { count(&t, "SELECT count(*) FROM db.jobs").await == 0 };
    tokio::join!(run_until(a, Duration::from_secs(20), all_done), run_until(b, Duration::from_secs(20), all_done));

    assert_eq!(count(&t, "SELECT count(*) FROM db.jobs").await, 0);
    assert_eq!(count(&t, "SELECT count(DISTINCT job) FROM public.executions").await, 40);
    assert_eq!(count(&t, "SELECT count(*) FROM public.executions").await, 40, "each job ran exactly once");
    let overlapping = count(
        &t,
        "SELECT count(*) FROM public.executions a JOIN public.executions b
            ON a.job = b.job AND a.attempt < b.attempt AND b.started < a.finished",
    )
    .await;
    assert_eq!(overlapping, 0);
}

/// The child half of `job_survives_a_killed_worker`: claims the job, records that it started,
/// and hangs until the parent kills this process. It only runs when the parent starts it.
#[tokio::test]
#[ignore = "child process of job_survives_a_killed_worker, started by it with --ignored"]
async fn crash_child_worker() {
    let url = std::env::var("VEXTRUS_CRASH_CHILD_DB").expect("started by job_survives_a_killed_worker");
    let options = vextrus_db::DatabaseOptions::from_url(&url, Default::default(), 2).unwrap();
    let db = vextrus_db::Database::connect(&options).await.unwrap();
    let mut registry = Registry::new();
    registry
        .register(|ctx: JobContext, _: Record| async move { record_execution(&ctx, Duration::from_secs(3600)).await });
    Worker::new(db, registry, fast(1)).run(std::future::pending()).await;
}

#[tokio::test]
async fn job_survives_a_killed_worker() {
    let t = test_db().await;
    let mut tx = t.db.tenant(TenantId::new_v7()).await.unwrap();
    let id = jobs::enqueue(&mut tx, &Record { n: 7 }).await.unwrap();
    tx.commit().await.unwrap();

    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["crash_child_worker", "--exact", "--ignored", "--nocapture"])
        .env("VEXTRUS_CRASH_CHILD_DB", t.owner_url())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while count(&t, "SELECT count(*) FROM public.executions").await == 0 {
        assert!(tokio::time::Instant::now() < deadline, "child never started the job");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    child.kill().unwrap(); // SIGKILL: no cleanup, the lease is left to expire
    child.wait().unwrap();
    assert_eq!(count(&t, "SELECT count(*) FROM db.jobs WHERE state = 'running'").await, 1);

    let mut registry = Registry::new();
    registry.register(|ctx: JobContext, _: Record| async move { record_execution(&ctx, Duration::ZERO).await });
    let worker = Worker::new(t.db.clone(), registry, fast(1));
    run_until(worker, Duration::from_secs(20), || async { count(&t, "SELECT count(*) FROM db.jobs").await == 0 }).await;

    assert_eq!(count(&t, "SELECT count(*) FROM db.jobs").await, 0, "the job completed after the crash");
    let attempts: Vec<(i32, bool)> =
        sqlx::query_as("SELECT attempt, finished IS NOT NULL FROM public.executions WHERE job = $1 ORDER BY attempt")
            .bind(id)
            .fetch_all(&mut t.owner_conn().await)
            .await
            .unwrap();
    assert_eq!(attempts, vec![(1, false), (2, true)], "started once in the killed worker, completed once after");
}

/// One queued job whose handler never ends, and a worker (one slot, 200 ms of grace) to run it.
async fn one_endless_job(t: &TestDb) -> Worker {
    let mut tx = t.db.system().await.unwrap();
    jobs::enqueue(&mut tx, &Record { n: 1 }).await.unwrap();
    tx.commit().await.unwrap();
    let mut registry = Registry::new();
    registry
        .register(|ctx: JobContext, _: Record| async move { record_execution(&ctx, Duration::from_secs(3600)).await });
    let mut options = fast(1);
    options.shutdown_grace = Duration::from_millis(200);
    Worker::new(t.db.clone(), registry, options)
}

#[tokio::test]
async fn graceful_shutdown_hands_back_unfinished_jobs() {
    let t = test_db().await;
    let worker = one_endless_job(&t).await;
    run_until(worker, Duration::from_secs(10), || async {
        count(&t, "SELECT count(*) FROM public.executions").await == 1
    })
    .await;
    let row = sqlx::query("SELECT state, attempts, locked_by FROM db.jobs")
        .fetch_one(&mut t.owner_conn().await)
        .await
        .unwrap();
    assert_eq!(row.get::<String, _>("state"), "queued");
    assert_eq!(row.get::<i32, _>("attempts"), 0, "an interrupted attempt does not count");
    assert!(row.get::<Option<String>, _>("locked_by").is_none());
}

#[tokio::test]
async fn shutdown_is_bounded_when_a_transaction_holds_a_running_jobs_row() {
    let t = test_db().await;
    let worker = one_endless_job(&t).await;
    // Another session locks the running job's row and never ends its transaction.
    let mut holder = t.owner_conn().await;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let handle = tokio::spawn(worker.run(async move {
        let _ = stopped.await;
    }));
    while count(&t, "SELECT count(*) FROM public.executions").await == 0 {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    sqlx::raw_sql("BEGIN; SELECT 1 FROM db.jobs FOR UPDATE;").execute(&mut holder).await.unwrap();
    let asked = std::time::Instant::now();
    let _ = stop.send(());
    tokio::time::timeout(Duration::from_secs(30), handle).await.expect("the worker stops despite the lock").unwrap();
    let took = asked.elapsed();
    assert!(took < Duration::from_secs(15), "stopped after {took:?}");
    // The job was not handed back (its lease will expire), and nothing was half-written.
    sqlx::raw_sql("ROLLBACK").execute(&mut holder).await.unwrap();
    assert_eq!(count(&t, "SELECT count(*) FROM db.jobs WHERE state = 'running'").await, 1);
}

#[tokio::test]
async fn listener_receives_notifications_sent_at_commit() {
    let t = test_db().await;
    let mut listener = t.db.listener(&["vextrus_test_channel"]).await.unwrap();
    let mut tx = t.db.system().await.unwrap();
    sqlx::query("SELECT pg_notify('vextrus_test_channel', 'hello')").execute(tx.conn()).await.unwrap();
    tx.commit().await.unwrap();
    let notification = tokio::time::timeout(Duration::from_secs(5), listener.recv()).await.expect("delivered").unwrap();
    assert_eq!(notification.payload(), "hello");
}

#[tokio::test]
async fn listeners_do_not_take_pool_connections() {
    let t = test_db().await;
    let max = t.db.system_stats().max as usize;
    let mut listeners = Vec::new();
    for _ in 0..max + 1 {
        listeners.push(t.db.listener(&["vextrus_test_channel"]).await.unwrap());
    }
    // Every pooled connection is still available to queries.
    let mut txs = Vec::new();
    for _ in 0..max {
        txs.push(tokio::time::timeout(Duration::from_secs(2), t.db.system()).await.expect("not starved").unwrap());
    }
    assert_eq!(listeners.len(), max + 1);
}

#[tokio::test]
async fn connections_cut_while_idle_are_replaced_on_begin() {
    let t = test_db().await;
    // Fill both pools with idle connections, then have the server drop every one of them (as a
    // restart or a proxy's idle timeout would).
    let tenant = TenantId::new_v7();
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(t.db.tenant(tenant).await.unwrap());
    }
    drop(held);
    drop(t.db.system().await.unwrap());
    let mut owner = t.owner_conn().await;
    let cut: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity
                                WHERE datname = current_database() AND pid <> pg_backend_pid()) t",
    )
    .fetch_one(&mut owner)
    .await
    .unwrap();
    assert!(cut >= 4, "{cut} connections cut");
    tokio::time::sleep(Duration::from_millis(100)).await;
    // The next transactions still work: BEGIN finds the dead connections and takes fresh ones.
    let mut tx = t.db.tenant(tenant).await.unwrap();
    let seen: String =
        sqlx::query_scalar("SELECT current_setting('vextrus.tenant_id')").fetch_one(tx.conn()).await.unwrap();
    assert_eq!(seen, tenant.to_string());
    tx.commit().await.unwrap();
    t.db.system().await.unwrap().commit().await.unwrap();
}

#[derive(Debug, Serialize, Deserialize)]
struct Slow;

impl Job for Slow {
    const KIND: &'static str = "test.slow";
}

#[derive(Debug, Serialize, Deserialize)]
struct Mail;

impl Job for Mail {
    const KIND: &'static str = "test.mail";
}

/// The order jobs started in, as (kind, tenant).
type Starts = Arc<std::sync::Mutex<Vec<(&'static str, TenantId)>>>;

#[tokio::test]
async fn one_organizations_backlog_does_not_hold_up_anothers_mail() {
    let t = test_db().await;
    let (busy, quiet) = (TenantId::new_v7(), TenantId::new_v7());
    // A slow receiver's backlog of one organization, and its own mail, queued first…
    let mut tx = t.db.tenant(busy).await.unwrap();
    for _ in 0..30 {
        jobs::enqueue(&mut tx, &Slow).await.unwrap();
    }
    jobs::enqueue(&mut tx, &Mail).await.unwrap();
    tx.commit().await.unwrap();
    // …then another organization's one mail.
    let mut tx = t.db.tenant(quiet).await.unwrap();
    jobs::enqueue(&mut tx, &Mail).await.unwrap();
    tx.commit().await.unwrap();

    let starts: Starts = Arc::default();
    let mut registry = Registry::new();
    let seen = starts.clone();
    registry.register(move |ctx: JobContext, _: Slow| {
        let seen = seen.clone();
        async move {
            seen.lock().unwrap().push(("slow", ctx.tenant));
            tokio::time::sleep(Duration::from_millis(300)).await;
            Ok(())
        }
    });
    let seen = starts.clone();
    registry.register(move |ctx: JobContext, _: Mail| {
        let seen = seen.clone();
        async move {
            seen.lock().unwrap().push(("mail", ctx.tenant));
            Ok(())
        }
    });
    let worker = Worker::new(t.db.clone(), registry, fast(4));
    let seen = starts.clone();
    run_until(worker, Duration::from_secs(10), move || {
        let seen = seen.clone();
        async move { seen.lock().unwrap().iter().filter(|(k, _)| *k == "mail").count() == 2 }
    })
    .await;
    let starts = starts.lock().unwrap().clone();
    let first_claim: Vec<_> = starts.iter().take(4).collect();
    assert!(first_claim.contains(&&("mail", quiet)), "the quiet organization's mail is in the first claim: {starts:?}");
    assert!(first_claim.contains(&&("mail", busy)), "and the busy one's own mail: {starts:?}");
    let slow_at_once = first_claim.iter().filter(|(k, _)| *k == "slow").count();
    assert_eq!(slow_at_once, 2, "one organization's slow kind takes at most half the slots: {starts:?}");
}

#[tokio::test]
async fn a_deferred_job_runs_later_without_spending_an_attempt() {
    let t = test_db().await;
    let mut tx = t.db.tenant(TenantId::new_v7()).await.unwrap();
    let id = jobs::enqueue(&mut tx, &Record { n: 7 }).await.unwrap();
    tx.commit().await.unwrap();
    let runs = Arc::new(AtomicUsize::new(0));
    let mut registry = Registry::new();
    let counter = runs.clone();
    registry.register(move |ctx: JobContext, _: Record| {
        let counter = counter.clone();
        async move {
            // Deferred four times (more than a job's attempts would allow failing), then done.
            if counter.fetch_add(1, Ordering::SeqCst) < 4 {
                return Err(jobs::Defer { after: Duration::from_millis(50), reason: "backing off".into() }.into());
            }
            record_execution(&ctx, Duration::ZERO).await
        }
    });
    let mut options = fast(1);
    options.max_attempts = 2;
    let worker = Worker::new(t.db.clone(), registry, options);
    run_until(worker, Duration::from_secs(10), || async { count(&t, "SELECT count(*) FROM db.jobs").await == 0 }).await;
    assert_eq!(runs.load(Ordering::SeqCst), 5);
    let attempt: i32 = sqlx::query_scalar(&format!("SELECT attempt FROM public.executions WHERE job = '{id}'"))
        .fetch_one(&mut t.owner_conn().await)
        .await
        .unwrap();
    assert_eq!(attempt, 1, "the deferrals spent no attempt");
}

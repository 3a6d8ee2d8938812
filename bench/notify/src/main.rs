//! Notify's paths, in one run on one machine, against the embedded PostgreSQL (durable) and real
//! receivers: a real SMTP server (aiosmtpd, the test suite's `smtp_sink.py`) and an in-process
//! fake of Alpha SMS's `POST /sendsms`.
//! - triggers accepted per second through the Rust API (`Notify::trigger` in the organization's
//!   transaction, then COMMIT): one recipient each, and batches of 100;
//! - deliveries per second: N queued emails delivered into the SMTP server over pooled
//!   connections, N queued SMS into the fake, by the job worker;
//! - latency from trigger to the provider's acceptance at a fixed rate (messages are triggered
//!   at that rate while the worker delivers; `sent_at − created_at` of each message).
//!
//! Usage: cargo run --release -p vextrus-bench-notify -- [--seconds 8] [--deliveries 4000]
//!        [--rate 200] [--workers 16] [--out bench/results/notify.md]
//!        [--only triggers|batches|emails|latency]  (that one figure, printed; no results file)

use std::fmt::Write as _;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use serde_json::json;
use vextrus_db::embedded::{EmbeddedOptions, EmbeddedPostgres};
use vextrus_db::jobs::{Worker, WorkerOptions};
use vextrus_db::{Database, DatabaseOptions, RoleNames, TenantId, Tx};
use vextrus_notify::providers::alpha::Alpha;
use vextrus_notify::providers::smtp::{Smtp, SmtpSettings};
use vextrus_notify::providers::{Breaker, http_client};
use vextrus_notify::service::{Recipient, Trigger};
use vextrus_notify::{Inner, Notify, SmsProvider, SmsRoute};

#[derive(Debug, Clone, Copy)]
struct Params {
    seconds: u64,
    deliveries: usize,
    rate: u64,
    workers: usize,
}

fn email(to: String) -> Trigger {
    Trigger {
        kind: "notify.announcement".into(),
        recipients: vec![Recipient::Email(to)],
        channels: None,
        category: None,
        data: json!({"subject": "আপনার চালান প্রস্তুত", "text": "প্রিয় গ্রাহক, আপনার ডিসেম্বরের চালান প্রস্তুত।"}),
        idempotency_key: None,
    }
}

/// Triggers as fast as `writers` tasks can for `seconds`; answers triggers/s and messages/s.
async fn trigger_rate(
    db: &Database,
    notify: &Notify,
    tenant: TenantId,
    seconds: u64,
    writers: usize,
    batch: usize,
) -> anyhow::Result<(f64, f64)> {
    let done = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..writers {
        let (db, notify, done) = (db.clone(), notify.clone(), done.clone());
        tasks.push(tokio::spawn(async move {
            let mut i = 0u64;
            while Instant::now() < deadline {
                let mut trigger = email(format!("w{w}-{i}@bench.example"));
                trigger.recipients =
                    (0..batch).map(|b| Recipient::Email(format!("w{w}-{i}-{b}@bench.example"))).collect();
                let mut tx = db.tenant(tenant).await?;
                notify.trigger(&mut tx, trigger).await?;
                tx.commit().await?;
                done.fetch_add(1, Ordering::Relaxed);
                i += 1;
            }
            anyhow::Ok(())
        }));
    }
    for task in tasks {
        task.await??;
    }
    let per_second = done.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64();
    Ok((per_second, per_second * batch as f64))
}

/// Forgets every queued message and job (between measurements), as the schema's owner.
async fn clear(owner: &DatabaseOptions) -> anyhow::Result<()> {
    use sqlx::ConnectOptions as _;
    use sqlx::Connection as _;
    let mut conn = owner.owner.connect().await?;
    sqlx::query("TRUNCATE db.jobs, notify.messages CASCADE").execute(&mut conn).await?;
    conn.close().await?;
    Ok(())
}

async fn sent(db: &Database) -> anyhow::Result<(i64, i64)> {
    let mut tx = db.system().await?;
    let counts = sqlx::query_as("SELECT count(*) FILTER (WHERE status = 'sent'), count(*) FROM notify.messages")
        .fetch_one(tx.conn())
        .await?;
    tx.commit().await?;
    Ok(counts)
}

fn worker(db: &Database, notify: &Notify, workers: usize) -> Worker {
    let mut registry = vextrus_db::jobs::Registry::new();
    vextrus_notify::register_jobs(&mut registry, notify.clone());
    let options = WorkerOptions {
        concurrency: workers,
        poll_interval: Duration::from_millis(200),
        per_tenant_kind: Some(workers),
        ..Default::default()
    };
    Worker::new(db.clone(), registry, options)
}

/// Queues `n` messages (worker stopped), then times the worker delivering all of them.
async fn delivery_rate(
    owner: &DatabaseOptions,
    db: &Database,
    notify: &Notify,
    tenant: TenantId,
    n: usize,
    workers: usize,
    make: impl Fn(usize) -> Trigger,
) -> anyhow::Result<f64> {
    clear(owner).await?;
    for chunk in (0..n).collect::<Vec<_>>().chunks(500) {
        let mut tx = db.tenant(tenant).await?;
        for i in chunk {
            notify.trigger(&mut tx, make(*i)).await?;
        }
        tx.commit().await?;
    }
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(worker(db, notify, workers).run(async {
        let _ = stopped.await;
    }));
    let started = Instant::now();
    let deadline = started + Duration::from_secs(300);
    loop {
        let (done, total) = sent(db).await?;
        anyhow::ensure!(total as usize == n, "{total} messages queued, expected {n}");
        if done as usize == n {
            break;
        }
        anyhow::ensure!(Instant::now() < deadline, "only {done} of {n} delivered in 300 s");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let rate = n as f64 / started.elapsed().as_secs_f64();
    let _ = stop.send(());
    running.await?;
    Ok(rate)
}

/// Triggers one email every 1/rate s for `seconds` while the worker delivers; p50 and p99 of
/// trigger → SMTP acceptance.
async fn latency(
    owner: &DatabaseOptions,
    db: &Database,
    notify: &Notify,
    tenant: TenantId,
    rate: u64,
    seconds: u64,
    workers: usize,
) -> anyhow::Result<(f64, f64, f64, usize)> {
    clear(owner).await?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(worker(db, notify, workers).run(async {
        let _ = stopped.await;
    }));
    let total = (rate * seconds) as usize;
    let mut ticker = tokio::time::interval(Duration::from_micros(1_000_000 / rate));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut tasks = Vec::with_capacity(total);
    for i in 0..total {
        ticker.tick().await;
        let (db, notify) = (db.clone(), notify.clone());
        tasks.push(tokio::spawn(async move {
            let mut tx = db.tenant(tenant).await?;
            notify.trigger(&mut tx, email(format!("latency-{i}@bench.example"))).await?;
            tx.commit().await?;
            anyhow::Ok(())
        }));
    }
    for task in tasks {
        task.await??;
    }
    let deadline = Instant::now() + Duration::from_secs(120);
    while sent(db).await?.0 < total as i64 {
        anyhow::ensure!(Instant::now() < deadline, "not every latency message was delivered");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let _ = stop.send(());
    running.await?;
    let mut tx = db.system().await?;
    let mut ms: Vec<f64> = sqlx::query_scalar(
        "SELECT (extract(epoch FROM sent_at - created_at) * 1000)::float8 FROM notify.messages WHERE status = 'sent'",
    )
    .fetch_all(tx.conn())
    .await?;
    tx.commit().await?;
    ms.sort_by(f64::total_cmp);
    let at = |q: f64| ms[((ms.len() as f64 * q).ceil() as usize).clamp(1, ms.len()) - 1];
    Ok((at(0.5), at(0.99), at(1.0), ms.len()))
}

/// The SMTP server, killed with the benchmark.
struct Sink(Child);

impl Drop for Sink {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn smtp_sink(dir: &std::path::Path) -> anyhow::Result<(Sink, u16)> {
    let mut child = Command::new("python3")
        .arg("crates/vextrus/tests/fixtures/smtp_sink.py")
        .arg(dir)
        .stdout(Stdio::piped())
        .spawn()
        .context("python3 with aiosmtpd (run from the repository root)")?;
    let mut line = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(child.stdout.take().context("stdout")?), &mut line)?;
    let port = line.trim().parse().with_context(|| format!("the SMTP sink did not start: {line:?}"))?;
    Ok((Sink(child), port))
}

/// Alpha SMS's send endpoint, answering as Alpha does.
async fn fake_alpha() -> anyhow::Result<String> {
    let counter = Arc::new(AtomicU64::new(0));
    let router = axum::Router::new().route(
        "/sendsms",
        axum::routing::post(move |_: axum::extract::Form<Vec<(String, String)>>| {
            let id = counter.fetch_add(1, Ordering::Relaxed) + 1;
            async move {
                axum::Json(json!({"error": 0, "msg": "Request successfully submitted", "data": {"request_id": id}}))
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, router).await });
    Ok(url)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut params = Params { seconds: 8, deliveries: 4000, rate: 200, workers: 16 };
    let mut out = std::path::PathBuf::from("bench/results/notify.md");
    // For profiling one path: `--only emails` measures that alone and writes no results file.
    let mut only: Option<String> = None;
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next().with_context(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--seconds" => params.seconds = value.parse()?,
            "--deliveries" => params.deliveries = value.parse()?,
            "--rate" => params.rate = value.parse()?,
            "--workers" => params.workers = value.parse()?,
            "--out" => out = value.into(),
            "--only" => only = Some(value),
            _ => anyhow::bail!("unknown flag {flag}"),
        }
    }
    let dir = tempfile::tempdir()?;
    let pg_dir = tempfile::tempdir()?;
    let pg = EmbeddedPostgres::start(&EmbeddedOptions {
        data_dir: pg_dir.path().to_owned(),
        bin_dir: None,
        os_user: "vextrus-pg".into(),
        durable: true,
    })
    .await?;
    // As `serve` sizes it: the system pool has a connection for each job slot.
    let options = DatabaseOptions {
        job_slots: params.workers as u32,
        ..DatabaseOptions::embedded(&pg, RoleNames::default(), 20)
    };
    options.migrate(vextrus::MODULES).await?;
    let db = Database::connect(&options).await?;
    let mut tx = db.system().await?;
    let org = vextrus_tenancy::service::create(
        &mut tx,
        vextrus_tenancy::model::NewOrganization {
            slug: vextrus_tenancy::OrgSlug::parse("bench-notify").map_err(anyhow::Error::msg)?,
            name: vextrus_tenancy::OrgName::parse("Bench").map_err(anyhow::Error::msg)?,
            settings: Default::default(),
        },
        vextrus_audit::Actor::system(),
    )
    .await?;
    tx.commit().await?;

    let mails = dir.path().join("mail");
    std::fs::create_dir_all(&mails)?;
    let (_sink, port) = smtp_sink(&mails)?;
    let alpha_url = fake_alpha().await?;
    let smtp = Smtp::new(&SmtpSettings {
        url: format!("smtp://127.0.0.1:{port}"),
        username: None,
        password: None,
        from: "Vextrus <no-reply@bench.example>".into(),
        pool_size: params.workers as u32,
        timeout: Duration::from_secs(30),
    })
    .map_err(anyhow::Error::msg)?;
    let alpha = Alpha {
        base_url: alpha_url,
        api_key: "bench".into(),
        sender_id: None,
        client: http_client(Duration::from_secs(10))?,
    };
    let notify = Notify::new(Inner {
        templates: vextrus::templates(),
        dev: false,
        email: vec![vextrus_notify::EmailRoute {
            provider: vextrus_notify::EmailProvider::Smtp(smtp),
            breaker: Breaker::new(5, Duration::from_secs(30)),
            limit: None,
        }],
        sendgrid_events_key: None,
        sms: vec![SmsRoute {
            provider: SmsProvider::Alpha(alpha),
            rate: 2500,
            breaker: Breaker::new(5, Duration::from_secs(30)),
            limit: None,
        }],
        fcm: None,
        inbox: vextrus_notify::inbox::Inbox::new(Default::default()),
        overrides: vextrus_notify::overrides::Overrides::new(8 << 20),
        contacts: None,
        // As `serve` has it: outcomes go to the organization's webhooks (it has none here).
        status_hook: Some(vextrus::platform::announce_notification),
        vault: None,
        report_after: Duration::from_secs(3600),
        max_recipients: 1000,
        // An operator's plan for a sender this size: the default plan's 1,000 SMS a month
        // would refuse the 4,000 the SMS measurement queues.
        plan_defaults: vextrus_server::PlanLimits {
            sms_per_month: 1_000_000,
            ..vextrus_server::Limits::default().plan
        },
        public_url: "http://bench.example".into(),
        link_key: Some(vextrus_notify::link_key(&db).await?),
    });

    if let Some(only) = only {
        let started = Instant::now();
        let n = params.deliveries;
        let figure = match only.as_str() {
            "triggers" => trigger_rate(&db, &notify, org.id, params.seconds, 16, 1).await?.0,
            "batches" => trigger_rate(&db, &notify, org.id, params.seconds, 4, 100).await?.1,
            "emails" => {
                delivery_rate(&options, &db, &notify, org.id, n, params.workers, |i| {
                    email(format!("d{i}@bench.example"))
                })
                .await?
            }
            "latency" => latency(&options, &db, &notify, org.id, params.rate, params.seconds, params.workers).await?.1,
            _ => anyhow::bail!("--only: triggers, batches, emails or latency"),
        };
        println!("{only}: {figure:.1} (in {:.1} s)", started.elapsed().as_secs_f64());
        db.close().await;
        pg.stop().await?;
        return Ok(());
    }
    trigger_rate(&db, &notify, org.id, 2, 16, 1).await?; // warm-up
    let (single, _) = trigger_rate(&db, &notify, org.id, params.seconds, 16, 1).await?;
    let (batches, batch_messages) = trigger_rate(&db, &notify, org.id, params.seconds, 4, 100).await?;
    let n = params.deliveries;
    let emails =
        delivery_rate(&options, &db, &notify, org.id, n, params.workers, |i| email(format!("d{i}@bench.example")))
            .await?;
    let sms = delivery_rate(&options, &db, &notify, org.id, n, params.workers, |i| Trigger {
        recipients: vec![Recipient::Phone(
            vextrus_notify::model::Phone::parse(&format!("0171{:07}", i)).expect("a valid number"),
        )],
        ..email(String::new())
    })
    .await?;
    let (p50, p99, max, measured) =
        latency(&options, &db, &notify, org.id, params.rate, params.seconds, params.workers).await?;
    let received = std::fs::read_dir(&mails)?.count();

    let mut s = String::new();
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0);
    let _ = writeln!(s, "# Notify: triggers, deliveries and latency\n");
    let _ = writeln!(
        s,
        "`bench/notify/run.sh` — embedded PostgreSQL 15 (durable: fsync and synchronous commit on), the SMTP server \
         (aiosmtpd, Python, writing every message to disk) and an in-process fake of Alpha SMS, all on the same \
         {cores} cores. Triggers go through the Rust API (`Notify::trigger` in the organization's transaction, then \
         COMMIT: render, insert the message, enqueue its job), {} s per measurement. Deliveries by the job worker \
         ({} concurrent jobs, {} pooled SMTP connections).\n",
        params.seconds, params.workers, params.workers
    );
    let _ = writeln!(s, "| measurement | result | goal | Novu (published limits) |\n|---|---:|---:|---:|");
    let _ = writeln!(
        s,
        "| triggers accepted, one recipient (16 concurrent callers) | **{single:.0} /s** | ≥ 2,000 /s | 60–6,000 trigger requests/s by tier |"
    );
    let _ = writeln!(
        s,
        "| triggers accepted, batches of 100 (4 concurrent callers) | **{batches:.0} /s** ({batch_messages:.0} messages/s) | | |"
    );
    let _ = writeln!(s, "| emails delivered into the SMTP server ({n} queued) | **{emails:.0} /s** | ≥ 500 /s | |");
    let _ = writeln!(s, "| SMS delivered into the Alpha fake ({n} queued) | **{sms:.0} /s** | | |");
    let _ = writeln!(
        s,
        "| trigger → SMTP acceptance at {} messages/s ({measured} messages) | p50 **{p50:.0} ms**, p99 **{p99:.0} ms** (max {max:.0} ms) | p99 < 500 ms | |",
        params.rate
    );
    let _ = writeln!(
        s,
        "\nThe SMTP server received {received} messages in all (every one the platform recorded as sent). Novu cannot \
         run here (it needs MongoDB and Redis); its figures are the limits it publishes for its tiers, not a \
         measurement. Acceptance is the time our transaction recorded the provider's answer (`sent_at`)."
    );
    println!("{s}");
    if let Some(parent) = out.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(&out, s)?;
    eprintln!("wrote {}", out.display());
    db.close().await;
    pg.stop().await?;
    Ok(())
}

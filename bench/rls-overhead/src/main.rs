//! RLS overhead: the same tenant-scoped list and point queries, (a) through a `TenantTx` on a
//! table with ENABLE + FORCE Row-Level Security, and (b) with an explicit `WHERE tenant_id = $1`
//! on an identical table without RLS — same cluster, same data, same run, alternating phases.
//!
//! Three paths, each run on its own in alternating phases:
//! - `Rls`: `TenantTx` — BEGIN, `set_config('vextrus.tenant_id', …, true)`, the query, COMMIT;
//! - `ExplicitTx`: BEGIN, the query with `WHERE tenant_id = $1`, COMMIT (the RLS path's shape
//!   without `set_config`): comparing the statement times of these two isolates the cost of RLS;
//! - `ExplicitAutocommit`: the explicit query as one autocommit statement, the cheapest possible
//!   request, to show what the tenant transaction's extra round trips cost per request.
//!
//! Usage: cargo run --release -p vextrus-bench-rls -- [--tenants 1000] [--rows 1000]
//!        [--seconds 8] [--clients 8] [--out bench/results/rls.md]

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use anyhow::Context;
use sqlx::postgres::PgPoolOptions;
use sqlx::{ConnectOptions, Connection, Executor, PgPool};
use vextrus_db::embedded::{EmbeddedOptions, EmbeddedPostgres};
use vextrus_db::{Database, DatabaseOptions, RoleNames, TenantId, Tx};

#[derive(Debug, Clone, Copy)]
struct Params {
    tenants: usize,
    rows: usize,
    seconds: u64,
    clients: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Query {
    List,
    Point,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Path {
    Rls,
    ExplicitTx,
    ExplicitAutocommit,
}

const PATHS: [Path; 3] = [Path::Rls, Path::ExplicitTx, Path::ExplicitAutocommit];

#[derive(Debug, Default, Clone)]
struct Samples {
    query: Vec<Duration>,
    request: Vec<Duration>,
    wall: Duration,
}

const SCHEMA: &str = "
CREATE SCHEMA bench;
GRANT USAGE ON SCHEMA bench TO vextrus_app;
CREATE TABLE bench.items_rls (tenant_id uuid NOT NULL, id bigint NOT NULL, name text NOT NULL,
    amount numeric(14,2) NOT NULL, created_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (tenant_id, id));
CREATE TABLE bench.items_plain (LIKE bench.items_rls INCLUDING ALL);
ALTER TABLE bench.items_rls ENABLE ROW LEVEL SECURITY;
ALTER TABLE bench.items_rls FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON bench.items_rls
    USING (tenant_id = NULLIF(current_setting('vextrus.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('vextrus.tenant_id', true), '')::uuid);
GRANT SELECT ON bench.items_rls, bench.items_plain TO vextrus_app;
";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut params = Params { tenants: 1000, rows: 1000, seconds: 8, clients: 4 };
    let mut out = std::path::PathBuf::from("bench/results/rls.md");
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next().with_context(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--tenants" => params.tenants = value.parse()?,
            "--rows" => params.rows = value.parse()?,
            "--seconds" => params.seconds = value.parse()?,
            "--clients" => params.clients = value.parse()?,
            "--out" => out = value.into(),
            _ => anyhow::bail!("unknown flag {flag}"),
        }
    }

    let dir = tempfile::tempdir()?;
    let pg = EmbeddedPostgres::start(&EmbeddedOptions {
        data_dir: dir.path().to_owned(),
        bin_dir: None,
        os_user: "vextrus-pg".into(),
        durable: true,
    })
    .await?;
    let options = DatabaseOptions::embedded(&pg, RoleNames::default(), params.clients as u32);
    options.migrate(&[vextrus_db::MIGRATIONS]).await?;
    let tenants = load(&options, params).await?;
    let db = Database::connect(&options).await?;
    let plain = PgPoolOptions::new().max_connections(params.clients as u32).connect_with(options.app.clone()).await?;

    // Warm caches for both tables, then alternate phases so drift hits both paths alike.
    for path in PATHS {
        for query in [Query::List, Query::Point] {
            run_phase(&db, &plain, &tenants, params, path, query, Duration::from_secs(2)).await?;
        }
    }
    let mut results: Vec<((Query, Path), Samples)> = Vec::new();
    for _round in 0..2 {
        for query in [Query::List, Query::Point] {
            for path in PATHS {
                let half = Duration::from_secs(params.seconds.div_ceil(2));
                let s = run_phase(&db, &plain, &tenants, params, path, query, half).await?;
                match results.iter_mut().find(|(k, _)| *k == (query, path)) {
                    Some((_, acc)) => {
                        acc.query.extend(s.query);
                        acc.request.extend(s.request);
                        acc.wall += s.wall;
                    }
                    None => results.push(((query, path), s)),
                }
            }
        }
    }
    let plan = explain(&options, &tenants).await?;
    let report = report(params, &mut results, &plan);
    println!("{report}");
    if let Some(parent) = out.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(&out, report)?;
    eprintln!("wrote {}", out.display());
    db.close().await;
    plain.close().await;
    pg.stop().await?;
    Ok(())
}

/// Creates both tables with `tenants × rows` identical rows each.
async fn load(options: &DatabaseOptions, p: Params) -> anyhow::Result<Vec<TenantId>> {
    let started = Instant::now();
    let mut conn = options.owner.connect().await?;
    conn.execute(SCHEMA).await?;
    let tenants: Vec<TenantId> = (0..p.tenants).map(|_| TenantId::new_v7()).collect();
    let ids: Vec<uuid::Uuid> = tenants.iter().map(|t| *t.as_uuid()).collect();
    for table in ["bench.items_rls", "bench.items_plain"] {
        // The bootstrap superuser is exempt from RLS, so one INSERT … SELECT loads every tenant.
        let sql = format!(
            "INSERT INTO {table} (tenant_id, id, name, amount)
             SELECT t, g, 'item ' || g, (g % 9973) * 1.25 FROM unnest($1::uuid[]) t, generate_series(1, $2) g"
        );
        sqlx::query(&sql).bind(&ids).bind(p.rows as i64).execute(&mut conn).await?;
    }
    for table in ["bench.items_rls", "bench.items_plain"] {
        conn.execute(format!("VACUUM ANALYZE {table}").as_str()).await?;
    }
    conn.close().await?;
    eprintln!("loaded {} rows per table in {:?}", p.tenants * p.rows, started.elapsed());
    Ok(tenants)
}

async fn run_phase(
    db: &Database,
    plain: &PgPool,
    tenants: &[TenantId],
    p: Params,
    path: Path,
    query: Query,
    length: Duration,
) -> anyhow::Result<Samples> {
    let started = Instant::now();
    let deadline = started + length;
    let mut tasks = Vec::new();
    for client in 0..p.clients {
        let (db, plain, tenants) = (db.clone(), plain.clone(), tenants.to_vec());
        tasks.push(tokio::spawn(async move {
            let mut samples = Samples::default();
            let mut state = 0x9e37_79b9_7f4a_7c15u64 ^ (client as u64 + 1);
            while Instant::now() < deadline {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                let tenant = tenants[(state % tenants.len() as u64) as usize];
                let id = (state >> 20) % p.rows as u64 + 1;
                let (q, r) = one_request(&db, &plain, tenant, id as i64, path, query).await?;
                samples.query.push(q);
                samples.request.push(r);
            }
            anyhow::Ok(samples)
        }));
    }
    let mut all = Samples::default();
    for task in tasks {
        let s = task.await??;
        all.query.extend(s.query);
        all.request.extend(s.request);
    }
    all.wall = started.elapsed();
    Ok(all)
}

const LIST_RLS: &str = "SELECT id, name, amount::float8 FROM bench.items_rls ORDER BY id LIMIT 50";
const LIST_PLAIN: &str =
    "SELECT id, name, amount::float8 FROM bench.items_plain WHERE tenant_id = $1 ORDER BY id LIMIT 50";
const POINT_RLS: &str = "SELECT id, name, amount::float8 FROM bench.items_rls WHERE id = $1";
const POINT_PLAIN: &str = "SELECT id, name, amount::float8 FROM bench.items_plain WHERE tenant_id = $1 AND id = $2";

type Row = (i64, String, f64);

/// Returns (the statement alone, the whole request).
async fn one_request(
    db: &Database,
    plain: &PgPool,
    tenant: TenantId,
    id: i64,
    path: Path,
    query: Query,
) -> anyhow::Result<(Duration, Duration)> {
    let started = Instant::now();
    let (rows, statement): (Vec<Row>, Duration) = match path {
        Path::Rls => {
            let mut tx = db.tenant(tenant).await?;
            let q = Instant::now();
            let rows = match query {
                Query::List => sqlx::query_as(LIST_RLS).fetch_all(tx.conn()).await?,
                Query::Point => sqlx::query_as(POINT_RLS).bind(id).fetch_all(tx.conn()).await?,
            };
            let q = q.elapsed();
            tx.commit().await?;
            (rows, q)
        }
        Path::ExplicitTx => {
            let mut tx = plain.begin().await?;
            let q = Instant::now();
            let rows = explicit(&mut tx, tenant, id, query).await?;
            let q = q.elapsed();
            tx.commit().await?;
            (rows, q)
        }
        Path::ExplicitAutocommit => {
            let mut conn = plain.acquire().await?;
            let q = Instant::now();
            let rows = explicit(&mut conn, tenant, id, query).await?;
            (rows, q.elapsed())
        }
    };
    let whole = started.elapsed();
    check(&rows, query)?;
    Ok((statement, whole))
}

async fn explicit(conn: &mut sqlx::PgConnection, tenant: TenantId, id: i64, query: Query) -> anyhow::Result<Vec<Row>> {
    Ok(match query {
        Query::List => sqlx::query_as(LIST_PLAIN).bind(tenant).fetch_all(conn).await?,
        Query::Point => sqlx::query_as(POINT_PLAIN).bind(tenant).bind(id).fetch_all(conn).await?,
    })
}

fn check(rows: &[Row], query: Query) -> anyhow::Result<()> {
    let expected = if query == Query::List { 50 } else { 1 };
    anyhow::ensure!(rows.len() == expected, "expected {expected} rows, got {}", rows.len());
    Ok(())
}

async fn explain(options: &DatabaseOptions, tenants: &[TenantId]) -> anyhow::Result<String> {
    let mut conn = options.app.connect().await?;
    let mut tx = conn.begin().await?;
    sqlx::query("SELECT set_config('vextrus.tenant_id', $1, true)")
        .bind(tenants[0].to_string())
        .execute(&mut *tx)
        .await?;
    let plan: Vec<String> = sqlx::query_scalar(&format!("EXPLAIN {POINT_RLS}")).bind(1i64).fetch_all(&mut *tx).await?;
    Ok(plan.join("\n"))
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1e6
}

fn report(p: Params, results: &mut [((Query, Path), Samples)], plan: &str) -> String {
    let mut s = String::new();
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0);
    let _ = writeln!(s, "# RLS overhead\n");
    let _ = writeln!(
        s,
        "`bench/rls-overhead/run.sh` — {} tenants × {} rows per table ({} rows), {} concurrent clients, {} s measured \
         per query and path (two alternating rounds after a warm-up), embedded PostgreSQL 15 on a Unix socket, the \
         same cluster and run for every path. {cores} cores, shared by PostgreSQL and the client.\n",
        p.tenants,
        p.rows,
        p.tenants * p.rows,
        p.clients,
        p.seconds,
    );
    for line in [
        "- **Rls**: `TenantTx` — BEGIN; `set_config('vextrus.tenant_id', …, true)`; the query; COMMIT — on a table with ENABLE + FORCE RLS; the SQL has no tenant predicate.",
        "- **ExplicitTx**: BEGIN; the same query with `WHERE tenant_id = $1` on an identical table without RLS; COMMIT.",
        "- **ExplicitAutocommit**: the explicit query as one autocommit statement.",
        "- *statement*: the query alone, timed around it on the client; *request*: the whole unit; requests/s over all clients.",
        "",
        "| query | path | statement p50 µs | statement p99 µs | request p50 µs | request p99 µs | requests/s |",
        "|---|---|---:|---:|---:|---:|---:|",
    ] {
        let _ = writeln!(s, "{line}");
    }
    let mut summary = Vec::new();
    for query in [Query::List, Query::Point] {
        let mut figures = Vec::new();
        for path in PATHS {
            let Some((_, samples)) = results.iter_mut().find(|(k, _)| *k == (query, path)) else { continue };
            samples.query.sort();
            samples.request.sort();
            let rps = samples.request.len() as f64 / samples.wall.as_secs_f64();
            let (q50, q99) = (percentile(&samples.query, 0.5), percentile(&samples.query, 0.99));
            let (r50, r99) = (percentile(&samples.request, 0.5), percentile(&samples.request, 0.99));
            let _ = writeln!(s, "| {query:?} | {path:?} | {q50:.0} | {q99:.0} | {r50:.0} | {r99:.0} | {rps:.0} |");
            figures.push((q50, q99, r50, rps));
        }
        if let [rls, tx, auto] = figures[..] {
            summary.push(format!(
                "- {query:?}: statement p50 Rls ÷ ExplicitTx = **{:.2}** (p99 {:.2}); requests/s Rls ÷ ExplicitTx = **{:.2}**; \
                 request p50 Rls ÷ ExplicitAutocommit = {:.2}, requests/s {:.2}",
                rls.0 / tx.0,
                rls.1 / tx.1,
                rls.3 / tx.3,
                rls.2 / auto.2,
                rls.3 / auto.3
            ));
        }
    }
    let _ = writeln!(s, "\nRatios (goal: RLS within 10% of the explicit query):\n");
    for line in summary {
        let _ = writeln!(s, "{line}");
    }
    let _ = writeln!(
        s,
        "\nPlan of the RLS point query (the policy becomes an index condition on the primary key):\n\n```\n{plan}\n```"
    );
    s
}

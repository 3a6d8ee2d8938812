//! `/auth/verify` under load, side by side with a bare axum handler that answers 200 (the
//! ceiling), in one run on one machine:
//! - saturation: `wrk` with an open throttle, requests/s and latency percentiles;
//! - fixed rate: `hey` at a set total rate (default 5,000/s), latency percentiles;
//! - in process: the cost of one token verification, without HTTP.
//!
//! The platform side is the real assembled app (request-id, metrics, timeout middleware, JSON
//! request logs written to a sink) with a real token minted by the password grant.
//!
//! Usage: cargo run --release -p vextrus-bench-forward-auth -- [--seconds 10] [--connections 50]
//!        [--rate 5000] [--out bench/results/forward-auth.md]      (needs `wrk` and `hey` on PATH)
//!        [--in-process-only]   (just the per-request breakdown through the routers, printed)

use std::fmt::Write as _;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::Context;
use secrecy::SecretString;
use vextrus_db::embedded::{EmbeddedOptions, EmbeddedPostgres};
use vextrus_db::{Database, DatabaseOptions, RoleNames};
use vextrus_identity::keys::MasterKey;
use vextrus_server::{HttpSettings, OperatorToken};

#[derive(Debug, Clone, Copy)]
struct Params {
    seconds: u64,
    connections: u32,
    rate: u32,
}

#[derive(Debug, Default, Clone)]
struct Load {
    rps: f64,
    p50_ms: f64,
    p90_ms: f64,
    p99_ms: f64,
    errors: u64,
}

fn main() -> anyhow::Result<()> {
    let mut params = Params { seconds: 10, connections: 50, rate: 5000 };
    let mut out = std::path::PathBuf::from("bench/results/forward-auth.md");
    let mut args = std::env::args().skip(1);
    let mut in_process_only = false;
    while let Some(flag) = args.next() {
        if flag == "--in-process-only" {
            in_process_only = true;
            continue;
        }
        let value = args.next().with_context(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--seconds" => params.seconds = value.parse()?,
            "--connections" => params.connections = value.parse()?,
            "--rate" => params.rate = value.parse()?,
            "--out" => out = value.into(),
            _ => anyhow::bail!("unknown flag {flag}"),
        }
    }
    // Request logs are part of the real cost; they go to a sink, not the terminal.
    tracing_subscriber::fmt().json().with_writer(std::io::sink).with_env_filter("info,sqlx=warn").init();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let dir = tempfile::tempdir()?;
    let (platform, bare, token, auth, pg, platform_router, bare_router) = runtime.block_on(setup(dir.path()))?;

    let verify_url = format!("{platform}/auth/verify");
    let bare_url = format!("{bare}/ok");
    let header = format!("Authorization: Bearer {token}");
    let check = runtime.block_on(async { status_of(&verify_url, &token).await })?;
    if in_process_only {
        // For working on the request path: the breakdown only, no load generators, no file.
        println!("{}", runtime.block_on(request_costs(platform_router, bare_router, &token)));
        runtime.block_on(pg.stop())?;
        return Ok(());
    }
    anyhow::ensure!(check == 200, "/auth/verify answered {check} to the benchmark token");

    let mut saturation: Vec<(&str, Load)> = Vec::new();
    let mut fixed: Vec<(&str, Load)> = Vec::new();
    wrk(&bare_url, &header, 2, params.connections)?; // warm-up
    wrk(&verify_url, &header, 2, params.connections)?;
    for _round in 0..2 {
        let health_url = format!("{platform}/healthz");
        for (name, url) in [("bare axum handler", &bare_url), ("/auth/verify", &verify_url), (HEALTH, &health_url)] {
            merge(&mut saturation, name, wrk(url, &header, params.seconds / 2, params.connections)?);
        }
    }
    for (name, url) in [("bare axum handler", &bare_url), ("/auth/verify", &verify_url)] {
        fixed.push((name, hey(url, &header, params.seconds, params.connections, params.rate)?));
    }
    let per_verify = in_process(&auth, &token);
    let stack = runtime.block_on(request_costs(platform_router, bare_router, &token));

    let mut report = report(params, &saturation, &fixed, per_verify);
    report.push_str(&stack);
    println!("{report}");
    if let Some(parent) = out.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(&out, report)?;
    eprintln!("wrote {}", out.display());
    runtime.block_on(pg.stop())?;
    Ok(())
}

const HEALTH: &str = "/healthz (middleware only, not logged)";

type Setup = (String, String, String, vextrus_identity::Auth, EmbeddedPostgres, axum::Router, axum::Router);

async fn setup(dir: &std::path::Path) -> anyhow::Result<Setup> {
    let pg = EmbeddedPostgres::start(&EmbeddedOptions {
        data_dir: dir.to_owned(),
        bin_dir: None,
        os_user: "vextrus-pg".into(),
        durable: true,
    })
    .await?;
    let options = DatabaseOptions::embedded(&pg, RoleNames::default(), 10);
    options.migrate(vextrus::MODULES).await?;
    let db = Database::connect(&options).await?;
    let config = vextrus_config::Config::default();
    let auth = vextrus::auth(&config, &db, MasterKey::from_hex(&MasterKey::generate_hex())?).await?;

    let mut tx = db.system().await?;
    let org = vextrus_tenancy::model::NewOrganization {
        slug: vextrus_tenancy::OrgSlug::parse("bench-co").map_err(anyhow::Error::msg)?,
        name: vextrus_tenancy::OrgName::parse("Bench Co").map_err(anyhow::Error::msg)?,
        settings: Default::default(),
    };
    let user = vextrus_identity::service::NewUser {
        email: vextrus_identity::model::EmailAddress::parse("bench@example.com").map_err(anyhow::Error::msg)?,
        username: vextrus_identity::model::Username::parse("bench").map_err(anyhow::Error::msg)?,
        phone: None,
        display_name: vextrus_identity::model::DisplayName::parse("Bench").map_err(anyhow::Error::msg)?,
        password: vextrus_identity::password::Password::parse("Bench-Password-2026").map_err(anyhow::Error::msg)?,
        locale: Default::default(),
    };
    vextrus_identity::service::create_with_owner(&mut tx, org, user).await?;
    let login = vextrus_identity::tokens::PasswordLogin {
        login: "bench",
        password: "Bench-Password-2026",
        org: None,
        otp: None,
        user_agent: None,
    };
    let tokens =
        vextrus_identity::tokens::password_grant(&mut tx, &auth, login).await.map_err(|e| anyhow::anyhow!("{e}"))?;
    tx.commit().await?;

    let modules = vextrus::ModuleSettings {
        identity: vextrus_identity::IdentityConfig { trust_forwarded_for: false },
        auth: auth.clone(),
        access: vextrus::access(&db).await?,
        retention: Default::default(),
        registry: vextrus_registry::RegistrySettings::new(vextrus_storage::Storage::local(
            &std::env::temp_dir().join("vextrus-bench-objects"),
        )?),
        limits: Default::default(),
        notify: vextrus::platform::notify(&Default::default(), &db, false, None).await?,
        files: vextrus::platform::files(
            &vextrus_config::Config {
                data_dir: std::env::temp_dir().join("vextrus-bench-files"),
                ..Default::default()
            },
            vextrus_storage::Storage::local(&std::env::temp_dir().join("vextrus-bench-objects"))?,
            &db,
        )
        .await?,
    };
    let state = vextrus::state(db.clone(), OperatorToken::new(Some(SecretString::from("unused"))), &modules);
    // `/healthz` is made quiet too, so that it shows the cost of the middleware every route
    // pays (request id, timeout, metrics) without a log line: the ceiling for any route.
    let mut settings = HttpSettings::new(1 << 20, Duration::from_secs(30));
    settings.quiet_routes.push("/healthz".into());
    let (router, _) = vextrus::app(state, settings);
    let platform_router = router.clone();
    let platform = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let platform_url = format!("http://{}", platform.local_addr()?);
    tokio::spawn(async move { axum::serve(platform, router).await });

    let bare = axum::Router::new().route("/ok", axum::routing::get(|| async { "ok" }));
    let bare_router = bare.clone();
    let bare_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let bare_url = format!("http://{}", bare_listener.local_addr()?);
    tokio::spawn(async move { axum::serve(bare_listener, bare).await });
    Ok((platform_url, bare_url, tokens.access_token, auth, pg, platform_router, bare_router))
}

/// Where a request's time goes without the network: the same requests through the routers
/// in process, one at a time. `/healthz` passes the platform's middleware to a trivial handler,
/// so (healthz − bare) is the middleware and (verify − healthz) the forward-auth handler.
async fn request_costs(platform: axum::Router, bare: axum::Router, token: &str) -> String {
    use tower::ServiceExt as _;
    async fn per_request(router: &axum::Router, path: &str, token: &str) -> f64 {
        let request = || {
            axum::http::Request::get(path)
                .header("authorization", format!("Bearer {token}"))
                .body(axum::body::Body::empty())
                .expect("a valid request")
        };
        for _ in 0..2_000 {
            let _ = router.clone().oneshot(request()).await;
        }
        let iterations = 50_000;
        let started = Instant::now();
        for _ in 0..iterations {
            let response = router.clone().oneshot(request()).await.expect("infallible");
            std::hint::black_box(response);
        }
        started.elapsed().as_secs_f64() * 1e6 / f64::from(iterations)
    }
    let bare_us = per_request(&bare, "/ok", token).await;
    let health_us = per_request(&platform, "/healthz", token).await;
    let verify_us = per_request(&platform, "/auth/verify", token).await;
    format!(
        "\n\n## One request through the router, in process (no network; µs per request)\n\n\
         | path | µs |\n|---|---:|\n| bare `GET /ok` | {bare_us:.2} |\n| platform `GET /healthz` (middleware + trivial \
         handler, not logged) | {health_us:.2} |\n| platform `GET /auth/verify` (cached token) | {verify_us:.2} |\n"
    )
}

async fn status_of(url: &str, token: &str) -> anyhow::Result<u16> {
    let addr = url.trim_start_matches("http://").split('/').next().unwrap_or_default().to_owned();
    let path = &url[url.find(&addr).unwrap_or(0) + addr.len()..];
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(&addr).await?;
    let request =
        format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await?;
    let mut response = String::new();
    stream.read_to_string(&mut response).await?;
    Ok(response.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0))
}

fn wrk(url: &str, header: &str, seconds: u64, connections: u32) -> anyhow::Result<Load> {
    let out = Command::new("wrk")
        .args(["-t2", &format!("-c{connections}"), &format!("-d{seconds}s"), "--latency", "-H", header, url])
        .output()
        .context("running wrk (apt-get install wrk)")?;
    let text = String::from_utf8_lossy(&out.stdout);
    let ms = |label: &str| -> f64 {
        text.lines()
            .find(|l| l.trim_start().starts_with(label))
            .and_then(|l| l.split_whitespace().nth(1))
            .map(duration_ms)
            .unwrap_or(f64::NAN)
    };
    let rps = text
        .lines()
        .find(|l| l.starts_with("Requests/sec:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(f64::NAN);
    let errors = text
        .lines()
        .find(|l| l.contains("Non-2xx or 3xx responses:"))
        .and_then(|l| l.split_whitespace().last())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    Ok(Load { rps, p50_ms: ms("50%"), p90_ms: ms("90%"), p99_ms: ms("99%"), errors })
}

/// wrk prints `812.00us`, `1.20ms`, `2.01s`.
fn duration_ms(text: &str) -> f64 {
    let (number, factor) = if let Some(v) = text.strip_suffix("us") {
        (v, 0.001)
    } else if let Some(v) = text.strip_suffix("ms") {
        (v, 1.0)
    } else if let Some(v) = text.strip_suffix('s') {
        (v, 1000.0)
    } else {
        (text, f64::NAN)
    };
    number.parse::<f64>().map_or(f64::NAN, |n| n * factor)
}

fn hey(url: &str, header: &str, seconds: u64, connections: u32, rate: u32) -> anyhow::Result<Load> {
    let per_worker = (rate / connections).max(1);
    let out = Command::new("hey")
        .args([
            "-z",
            &format!("{seconds}s"),
            "-c",
            &connections.to_string(),
            "-q",
            &per_worker.to_string(),
            "-H",
            header,
            url,
        ])
        .output()
        .context("running hey (apt-get install hey)")?;
    let text = String::from_utf8_lossy(&out.stdout);
    let pct = |p: &str| -> f64 {
        text.lines()
            .find(|l| l.trim_start().starts_with(&format!("{p}% in")))
            .and_then(|l| l.split_whitespace().nth(2))
            .and_then(|v| v.parse::<f64>().ok())
            .map_or(f64::NAN, |s| s * 1000.0)
    };
    let rps = text
        .lines()
        .find(|l| l.trim_start().starts_with("Requests/sec:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(f64::NAN);
    let errors = text
        .lines()
        .filter(|l| l.trim_start().starts_with('[') && !l.contains("[200]"))
        .filter_map(|l| l.split_whitespace().nth(1).and_then(|v| v.parse::<u64>().ok()))
        .sum();
    Ok(Load { rps, p50_ms: pct("50"), p90_ms: pct("90"), p99_ms: pct("99"), errors })
}

fn merge(all: &mut Vec<(&'static str, Load)>, name: &'static str, load: Load) {
    match all.iter_mut().find(|(n, _)| *n == name) {
        // Two rounds: average rates, keep the worse percentile.
        Some((_, acc)) => {
            acc.rps = (acc.rps + load.rps) / 2.0;
            acc.p50_ms = acc.p50_ms.max(load.p50_ms);
            acc.p90_ms = acc.p90_ms.max(load.p90_ms);
            acc.p99_ms = acc.p99_ms.max(load.p99_ms);
            acc.errors += load.errors;
        }
        None => all.push((name, load)),
    }
}

/// Microseconds per verification on one thread: of tokens never seen before (signature and
/// claims checked), and of one token presented again (answered from the verified-token cache).
fn in_process(auth: &vextrus_identity::Auth, token: &str) -> (f64, f64) {
    let template = auth.verify(token).expect("the benchmark token verifies");
    let fresh: Vec<String> = (0..5_000)
        .map(|i| {
            let mut claims = (*template).clone();
            claims.jti = format!("bench-{i}");
            auth.keys.sign(&claims).expect("an active key signs")
        })
        .collect();
    let started = Instant::now();
    for t in &fresh {
        std::hint::black_box(auth.verify(t).expect("fresh tokens verify"));
    }
    let cold = started.elapsed().as_secs_f64() * 1e6 / fresh.len() as f64;
    let iterations = 200_000;
    let started = Instant::now();
    for _ in 0..iterations {
        std::hint::black_box(auth.verify(token).expect("the benchmark token verifies"));
    }
    (cold, started.elapsed().as_secs_f64() * 1e6 / f64::from(iterations))
}

fn report(p: Params, saturation: &[(&str, Load)], fixed: &[(&str, Load)], per_verify: (f64, f64)) -> String {
    let mut s = String::new();
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0);
    let _ = writeln!(s, "# Forward-auth: `/auth/verify` against a bare axum handler\n");
    let _ = writeln!(
        s,
        "`bench/forward-auth/run.sh` — one process serves the assembled platform (request id, metrics, timeout, JSON \
         request logs to a sink; `/auth/verify` successes are counted, not logged, as `log.quiet_routes` has it by \
         default) and a bare axum `GET /ok` on loopback; the load generators run on the same {cores} cores. Token: \
         a real access token from the password grant (Ed25519).\n"
    );
    let _ = writeln!(
        s,
        "## Saturation (`wrk -t2 -c{} --latency`, {} s per server in two alternating rounds)\n",
        p.connections, p.seconds
    );
    table(&mut s, saturation);
    let rps = |name: &str| saturation.iter().find(|(n, _)| *n == name).map_or(f64::NAN, |(_, l)| l.rps);
    let (bare, verify, health) = (rps("bare axum handler"), rps("/auth/verify"), rps(HEALTH));
    let _ = writeln!(
        s,
        "\n`/auth/verify` reaches **{:.0}%** of the bare handler's throughput (goal: ≥ 70%). The platform's \
         middleware alone (`/healthz`, not logged) reaches {:.0}%, so forward-auth runs at {:.0}% of what any \
         route of the platform can do.\n",
        verify / bare * 100.0,
        health / bare * 100.0,
        verify / health * 100.0
    );
    let _ = writeln!(
        s,
        "## Fixed rate (`hey -c{} -q{}` ≈ {} requests/s for {} s)\n",
        p.connections,
        (p.rate / p.connections).max(1),
        p.rate,
        p.seconds
    );
    table(&mut s, fixed);
    if let Some((_, verify)) = fixed.iter().find(|(n, _)| *n == "/auth/verify") {
        let _ = writeln!(
            s,
            "\n`/auth/verify` p99 at this rate: **{:.2} ms** (goal: under 2 ms at 5,000 requests/s).\n",
            verify.p99_ms
        );
    }
    let _ = writeln!(
        s,
        "## In process (one thread)\n\n- a token seen for the first time (EdDSA signature, header and claims checks): \
         **{:.1} µs**\n- the same token again (verified-token cache, until its `exp`): **{:.2} µs**",
        per_verify.0, per_verify.1
    );
    s
}

fn table(s: &mut String, rows: &[(&str, Load)]) {
    let _ = writeln!(s, "| server | requests/s | p50 ms | p90 ms | p99 ms | non-2xx |");
    let _ = writeln!(s, "|---|---:|---:|---:|---:|---:|");
    for (name, l) in rows {
        let _ = writeln!(
            s,
            "| {name} | {:.0} | {:.2} | {:.2} | {:.2} | {} |",
            l.rps, l.p50_ms, l.p90_ms, l.p99_ms, l.errors
        );
    }
}

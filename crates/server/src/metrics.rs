//! The Prometheus recorder (one per process) and the `/metrics` endpoint.

use std::sync::OnceLock;

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use vextrus_db::Database;

/// Latency buckets in seconds: sub-millisecond checks up to slow exports.
const LATENCY_BUCKETS: &[f64] =
    &[0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];

/// Installs the global recorder on first use and returns its handle.
pub fn handle() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), LATENCY_BUCKETS)
            .expect("bucket list is non-empty")
            .build_recorder();
        let handle = recorder.handle();
        if metrics::set_global_recorder(recorder).is_err() {
            tracing::warn!("a metrics recorder was already installed; /metrics will be empty");
        }
        describe();
        handle
    })
}

fn describe() {
    metrics::describe_histogram!(
        "http_server_request_duration_seconds",
        metrics::Unit::Seconds,
        "HTTP request latency by method, templated route and status."
    );
    metrics::describe_gauge!("http_server_active_requests", "HTTP requests being handled.");
    metrics::describe_gauge!(
        "vextrus_db_pool_connections",
        "Database pool connections by pool (app, system) and state (idle, busy, max)."
    );
    metrics::describe_gauge!("vextrus_job_queue_depth", "Jobs in the queue by kind and state (queued, running, dead).");
    metrics::describe_gauge!(
        "vextrus_job_queue_oldest_age_seconds",
        metrics::Unit::Seconds,
        "Age of the oldest due, unclaimed job by kind."
    );
    metrics::describe_histogram!(
        "vextrus_job_duration_seconds",
        metrics::Unit::Seconds,
        "Job handler run time by kind."
    );
    metrics::describe_counter!(
        "vextrus_jobs_finished_total",
        "Finished job attempts by kind and outcome (succeeded, retried, dead)."
    );
}

/// Prometheus text exposition; pool gauges are read at scrape time.
pub async fn serve_metrics(State(db): State<Database>) -> impl IntoResponse {
    for (pool, stats) in [("app", db.app_stats()), ("system", db.system_stats())] {
        let busy = stats.size.saturating_sub(stats.idle);
        for (state, value) in [("idle", stats.idle), ("busy", busy), ("max", stats.max)] {
            metrics::gauge!("vextrus_db_pool_connections", "pool" => pool, "state" => state).set(f64::from(value));
        }
    }
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], handle().render())
}

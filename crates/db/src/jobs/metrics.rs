//! Queue depth and the age of the oldest due job, sampled from the table (every instance reports
//! the same global figures; aggregate with `max`).

use std::collections::BTreeSet;
use std::sync::Mutex;

use crate::{Database, DbError};

/// Label sets reported last time, so that a kind whose jobs are gone drops back to zero.
static SEEN: Mutex<BTreeSet<(String, String)>> = Mutex::new(BTreeSet::new());

pub async fn sample_queue_metrics(db: &Database) -> Result<(), DbError> {
    let rows: Vec<(String, String, i64, f64)> = sqlx::query_as(
        "SELECT kind, state, count(*),
                COALESCE(EXTRACT(EPOCH FROM now() - min(run_at) FILTER (WHERE state = 'queued' AND run_at <= now())), 0)::float8
           FROM db.jobs GROUP BY kind, state",
    )
    .fetch_all(db.system_pool())
    .await?;
    let mut seen = SEEN.lock().unwrap_or_else(|e| e.into_inner());
    let now: BTreeSet<(String, String)> = rows.iter().map(|(k, s, _, _)| (k.clone(), s.clone())).collect();
    for (kind, state) in seen.difference(&now) {
        metrics::gauge!("vextrus_job_queue_depth", "kind" => kind.clone(), "state" => state.clone()).set(0.0);
        if state == "queued" {
            metrics::gauge!("vextrus_job_queue_oldest_age_seconds", "kind" => kind.clone()).set(0.0);
        }
    }
    for (kind, state, count, age) in rows {
        metrics::gauge!("vextrus_job_queue_depth", "kind" => kind.clone(), "state" => state.clone()).set(count as f64);
        if state == "queued" {
            metrics::gauge!("vextrus_job_queue_oldest_age_seconds", "kind" => kind).set(age);
        }
    }
    *seen = now;
    Ok(())
}

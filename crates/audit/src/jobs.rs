//! The audit trail's background jobs: sealing chain heads in signed checkpoints, and retention.
//! `serve` enqueues them periodically with a dedup key, so that with several instances one runs.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use vextrus_db::jobs::{Job, JobContext, Registry};

use crate::checkpoint::{self, Signer};
use crate::retention::{self, Policy};

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct SealCheckpoints {}

impl Job for SealCheckpoints {
    const KIND: &'static str = "audit.seal_checkpoints";
}

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct ApplyRetention {}

impl Job for ApplyRetention {
    const KIND: &'static str = "audit.apply_retention";
}

pub fn register_jobs(registry: &mut Registry, signer: Arc<dyn Signer>, policy: Policy) {
    let sealer = signer.clone();
    registry.register(move |ctx: JobContext, _: SealCheckpoints| {
        let signer = sealer.clone();
        async move {
            let sealed = checkpoint::seal_heads(&ctx.db, signer.as_ref()).await?;
            tracing::info!(sealed, "audit checkpoints sealed");
            Ok(())
        }
    });
    registry.register(move |ctx: JobContext, _: ApplyRetention| {
        let signer = signer.clone();
        async move {
            let report = retention::run(&ctx.db, signer.as_ref(), &policy, chrono::Utc::now()).await?;
            tracing::info!(
                anchors = report.anchors_sealed,
                events_removed = report.events_removed,
                partitions = ?report.partitions_dropped,
                "audit retention applied"
            );
            Ok(())
        }
    });
}

//! Sealing audit checkpoints: every chain whose head moved since its last checkpoint gets a new
//! one, signed with the platform's current token-signing key (published in the JWKS, so anyone
//! can check an export offline). Runs as a job, enqueued periodically by `serve`.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use vextrus_audit::chain;
use vextrus_audit::checkpoint::{self, Checkpoint};
use vextrus_db::Database;
use vextrus_db::jobs::Job;

use crate::keys::KeyRing;

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct SealAuditCheckpoints {}

impl Job for SealAuditCheckpoints {
    const KIND: &'static str = "identity.seal_audit_checkpoints";
}

/// Seals every chain that needs it; answers how many checkpoints were made.
pub async fn seal(db: &Database, keys: &KeyRing) -> Result<usize, Box<dyn std::error::Error + Send + Sync>> {
    let mut tx = db.system().await?;
    let heads = checkpoint::heads_to_seal(&mut tx).await?;
    let now = Utc::now();
    let signed_at = DateTime::from_timestamp_micros(now.timestamp_micros()).unwrap_or(now);
    for (tenant, seq, hash) in &heads {
        let hash = chain::hex(hash);
        let (kid, signature) = keys.sign_bytes(checkpoint::payload(*tenant, *seq, &hash, signed_at).as_bytes())?;
        let sealed =
            Checkpoint { tenant_id: *tenant, seq: *seq, hash, signed_at, kid, signature: chain::hex(&signature) };
        checkpoint::insert(&mut tx, &sealed).await?;
    }
    tx.commit().await?;
    Ok(heads.len())
}

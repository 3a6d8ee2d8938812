//! Signed checkpoints, and verifying an export offline (no database): the events must form
//! one unbroken chain from the genesis, and every checkpoint in the export must carry a valid
//! Ed25519 signature by a key of the given JWKS over the hash of the event at its `seq`.

use std::collections::HashMap;

use chrono::{DateTime, SecondsFormat, Utc};
use ring::signature::{ED25519, UnparsedPublicKey};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use vextrus_db::{DbError, SystemTx, TenantId, Tx};

use crate::chain;
use crate::model::Event;

/// A chain head, signed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Checkpoint {
    #[schema(value_type = uuid::Uuid)]
    pub tenant_id: TenantId,
    pub seq: i64,
    /// Hex SHA-256 of the event at `seq`.
    pub hash: String,
    pub signed_at: DateTime<Utc>,
    /// The signing key's id in the platform's JWKS.
    pub kid: String,
    /// Hex Ed25519 signature over [`payload`].
    pub signature: String,
}

/// What is signed: every field that identifies the chain's state, in a fixed text form.
pub fn payload(tenant: TenantId, seq: i64, hash_hex: &str, signed_at: DateTime<Utc>) -> String {
    format!(
        "vextrus-audit-checkpoint:v1:{tenant}:{seq}:{hash_hex}:{}",
        signed_at.to_rfc3339_opts(SecondsFormat::Micros, true)
    )
}

/// Chains whose head has moved past their last checkpoint: (tenant, head seq, head hash).
pub async fn heads_to_seal(tx: &mut SystemTx) -> Result<Vec<(TenantId, i64, Vec<u8>)>, DbError> {
    Ok(sqlx::query_as(
        "SELECT h.tenant_id, h.seq, h.hash FROM audit.heads h
          WHERE h.seq > COALESCE((SELECT max(c.seq) FROM audit.checkpoints c WHERE c.tenant_id = h.tenant_id), 0)",
    )
    .fetch_all(tx.conn())
    .await?)
}

pub async fn insert(tx: &mut SystemTx, c: &Checkpoint) -> Result<(), DbError> {
    sqlx::query(
        "INSERT INTO audit.checkpoints (tenant_id, seq, hash, signed_at, kid, signature)
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
    )
    .bind(c.tenant_id)
    .bind(c.seq)
    .bind(chain::from_hex(&c.hash))
    .bind(c.signed_at)
    .bind(&c.kid)
    .bind(chain::from_hex(&c.signature))
    .execute(tx.conn())
    .await?;
    Ok(())
}

/// tenant, seq, hash, signed_at, kid, signature
type CheckpointRow = (TenantId, i64, Vec<u8>, DateTime<Utc>, String, Vec<u8>);

pub async fn of_tenant(tx: &mut impl Tx, tenant: TenantId) -> Result<Vec<Checkpoint>, DbError> {
    let rows: Vec<CheckpointRow> = sqlx::query_as(
        "SELECT tenant_id, seq, hash, signed_at, kid, signature FROM audit.checkpoints
          WHERE tenant_id = $1 ORDER BY seq",
    )
    .bind(tenant)
    .fetch_all(tx.conn())
    .await?;
    Ok(rows
        .into_iter()
        .map(|(tenant_id, seq, hash, signed_at, kid, signature)| Checkpoint {
            tenant_id,
            seq,
            hash: chain::hex(&hash),
            signed_at,
            kid,
            signature: chain::hex(&signature),
        })
        .collect())
}

/// One line of an NDJSON export: an event, or (after the events) a checkpoint.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum ExportLine {
    Checkpoint { checkpoint: Checkpoint },
    Event(Box<Event>),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OfflineReport {
    pub ok: bool,
    pub events_checked: usize,
    pub checkpoints_checked: usize,
    pub first_bad_seq: Option<i64>,
    /// Why not ok, in words.
    pub problem: Option<String>,
}

/// Verifies an NDJSON export against Ed25519 public keys by `kid` (32 bytes each).
pub fn verify_export(ndjson: &str, keys: &HashMap<String, Vec<u8>>) -> OfflineReport {
    let fail = |events: usize, checkpoints: usize, seq: Option<i64>, problem: String| OfflineReport {
        ok: false,
        events_checked: events,
        checkpoints_checked: checkpoints,
        first_bad_seq: seq,
        problem: Some(problem),
    };
    let mut events = Vec::new();
    let mut checkpoints = Vec::new();
    for (n, line) in ndjson.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        match serde_json::from_str::<ExportLine>(line) {
            Ok(ExportLine::Event(e)) => events.push(*e),
            Ok(ExportLine::Checkpoint { checkpoint }) => checkpoints.push(checkpoint),
            Err(e) => return fail(events.len(), 0, None, format!("line {}: not an event or checkpoint: {e}", n + 1)),
        }
    }
    if let Some(bad) = chain::first_bad(&events, &chain::GENESIS, 0) {
        let checked = events.iter().take_while(|e| e.seq < bad).count();
        return fail(checked, 0, Some(bad), format!("the chain breaks at seq {bad}"));
    }
    if checkpoints.is_empty() {
        return fail(events.len(), 0, None, "the export carries no signed checkpoint".into());
    }
    for (i, c) in checkpoints.iter().enumerate() {
        let Some(key) = keys.get(&c.kid) else {
            return fail(
                events.len(),
                i,
                Some(c.seq),
                format!("checkpoint at seq {} names unknown key {}", c.seq, c.kid),
            );
        };
        let message = payload(c.tenant_id, c.seq, &c.hash, c.signed_at);
        let signed = UnparsedPublicKey::new(&ED25519, key).verify(message.as_bytes(), &chain::from_hex(&c.signature));
        if signed.is_err() {
            return fail(events.len(), i, Some(c.seq), format!("checkpoint at seq {} has a bad signature", c.seq));
        }
        let matches = events.iter().any(|e| e.seq == c.seq && e.hash == c.hash && e.tenant_id == c.tenant_id);
        if !matches {
            return fail(
                events.len(),
                i,
                Some(c.seq),
                format!("checkpoint at seq {} does not match the events", c.seq),
            );
        }
    }
    OfflineReport {
        ok: true,
        events_checked: events.len(),
        checkpoints_checked: checkpoints.len(),
        first_bad_seq: None,
        problem: None,
    }
}

//! Signed checkpoints, and verifying an export offline (no database). A checkpoint is a chain's
//! state (`seq` and hash) signed with the platform's Ed25519 token key: a *head* checkpoint is
//! sealed periodically; an *anchor* is sealed by the retention job at the last event it removes.
//! An export verifies when its events form one unbroken chain from the genesis (or from the
//! anchor its latest purge event names, signed) and its checkpoints carry valid signatures by keys
//! of the given JWKS over the hashes the events have at their `seq`.

use std::collections::HashMap;

use chrono::{DateTime, SecondsFormat, Utc};
use ring::signature::{ED25519, UnparsedPublicKey};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use vextrus_db::{Database, DbError, SystemTx, TenantId, Tx};

use crate::chain::{self, Anchor, Walk};
use crate::model::Event;

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Signs checkpoints. The platform's implementation is the token key ring (identity), so that
/// the published keys verify them.
pub trait Signer: Send + Sync {
    /// The signing key's `kid` and the Ed25519 signature of `message`.
    fn sign(&self, message: &[u8]) -> Result<(String, Vec<u8>), BoxError>;
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// The head of the chain when it was sealed.
    #[default]
    Head,
    /// The last event the retention job removed: the kept chain starts after it.
    Anchor,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Head => "head",
            Kind::Anchor => "anchor",
        }
    }
}

/// A chain's state, signed.
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
    #[serde(default)]
    pub kind: Kind,
}

/// What is signed: every field that identifies the chain's state, in a fixed text form.
pub fn payload(kind: Kind, tenant: TenantId, seq: i64, hash_hex: &str, signed_at: DateTime<Utc>) -> String {
    let label = match kind {
        Kind::Head => "vextrus-audit-checkpoint",
        Kind::Anchor => "vextrus-audit-anchor",
    };
    format!("{label}:v1:{tenant}:{seq}:{hash_hex}:{}", signed_at.to_rfc3339_opts(SecondsFormat::Micros, true))
}

impl Checkpoint {
    /// Signs the state `(seq, hash)` of `tenant`'s chain now.
    pub fn sign(signer: &dyn Signer, kind: Kind, tenant: TenantId, seq: i64, hash: &[u8]) -> Result<Self, BoxError> {
        let now = Utc::now();
        // PostgreSQL keeps microseconds; the signature must be over what will be read back.
        let signed_at = DateTime::from_timestamp_micros(now.timestamp_micros()).unwrap_or(now);
        let hash = chain::hex(hash);
        let (kid, signature) = signer.sign(payload(kind, tenant, seq, &hash, signed_at).as_bytes())?;
        Ok(Checkpoint { tenant_id: tenant, seq, hash, signed_at, kid, signature: chain::hex(&signature), kind })
    }

    /// Whether `key` (32-byte Ed25519 public key) signed this checkpoint.
    pub fn signed_by(&self, key: &[u8]) -> bool {
        let message = payload(self.kind, self.tenant_id, self.seq, &self.hash, self.signed_at);
        UnparsedPublicKey::new(&ED25519, key).verify(message.as_bytes(), &chain::from_hex(&self.signature)).is_ok()
    }
}

/// Seals every chain whose head moved since its last checkpoint; answers how many it sealed.
pub async fn seal_heads(db: &Database, signer: &dyn Signer) -> Result<usize, BoxError> {
    let mut tx = db.system().await?;
    let heads = heads_to_seal(&mut tx).await?;
    for (tenant, seq, hash) in &heads {
        insert(&mut tx, &Checkpoint::sign(signer, Kind::Head, *tenant, *seq, hash)?).await?;
    }
    tx.commit().await?;
    Ok(heads.len())
}

/// Chains whose head has moved past their last checkpoint: (tenant, head seq, head hash).
async fn heads_to_seal(tx: &mut SystemTx) -> Result<Vec<(TenantId, i64, Vec<u8>)>, DbError> {
    Ok(sqlx::query_as(
        "SELECT h.tenant_id, h.seq, h.hash FROM audit.heads h
          WHERE h.seq > COALESCE((SELECT max(c.seq) FROM audit.checkpoints c WHERE c.tenant_id = h.tenant_id), 0)",
    )
    .fetch_all(tx.conn())
    .await?)
}

pub async fn insert(tx: &mut SystemTx, c: &Checkpoint) -> Result<(), DbError> {
    sqlx::query(
        "INSERT INTO audit.checkpoints (tenant_id, seq, hash, signed_at, kid, signature, kind)
         VALUES ($1, $2, $3, $4, $5, $6, $7)
         ON CONFLICT DO NOTHING",
    )
    .bind(c.tenant_id)
    .bind(c.seq)
    .bind(chain::from_hex(&c.hash))
    .bind(c.signed_at)
    .bind(&c.kid)
    .bind(chain::from_hex(&c.signature))
    .bind(c.kind.as_str())
    .execute(tx.conn())
    .await?;
    Ok(())
}

/// tenant, seq, hash, signed_at, kid, signature, kind
type CheckpointRow = (TenantId, i64, Vec<u8>, DateTime<Utc>, String, Vec<u8>, String);

pub async fn of_tenant(tx: &mut impl Tx, tenant: TenantId) -> Result<Vec<Checkpoint>, DbError> {
    let rows: Vec<CheckpointRow> = sqlx::query_as(
        "SELECT tenant_id, seq, hash, signed_at, kid, signature, kind FROM audit.checkpoints
          WHERE tenant_id = $1 ORDER BY seq",
    )
    .bind(tenant)
    .fetch_all(tx.conn())
    .await?;
    Ok(rows
        .into_iter()
        .map(|(tenant_id, seq, hash, signed_at, kid, signature, kind)| Checkpoint {
            tenant_id,
            seq,
            hash: chain::hex(&hash),
            signed_at,
            kid,
            signature: chain::hex(&signature),
            kind: if kind == "anchor" { Kind::Anchor } else { Kind::Head },
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
    pub events_checked: i64,
    /// Checkpoints whose signature and hash were checked.
    pub checkpoints_checked: usize,
    /// Checkpoints not checked: signed by a key the JWKS does not hold (a retired key), before
    /// the kept events, or sealed after the last exported event.
    pub checkpoints_skipped: usize,
    /// The newest `seq` a checked signature covers (and, through the chain, every event before it).
    pub sealed_through_seq: Option<i64>,
    /// Events after `sealed_through_seq`: chained, but not yet covered by a signature.
    pub unsealed_events: i64,
    pub first_bad_seq: Option<i64>,
    /// Why not ok, in words.
    pub problem: Option<String>,
}

/// Verifies an NDJSON export against Ed25519 public keys by `kid` (32 bytes each).
pub fn verify_export(ndjson: &str, keys: &HashMap<String, Vec<u8>>) -> OfflineReport {
    let mut report = OfflineReport {
        ok: false,
        events_checked: 0,
        checkpoints_checked: 0,
        checkpoints_skipped: 0,
        sealed_through_seq: None,
        unsealed_events: 0,
        first_bad_seq: None,
        problem: None,
    };
    let fail = |mut report: OfflineReport, seq: Option<i64>, problem: String| {
        report.first_bad_seq = seq;
        report.problem = Some(problem);
        report
    };
    let mut events = Vec::new();
    let mut checkpoints = Vec::new();
    for (n, line) in ndjson.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        match serde_json::from_str::<ExportLine>(line) {
            Ok(ExportLine::Event(e)) => events.push(*e),
            Ok(ExportLine::Checkpoint { checkpoint }) => checkpoints.push(checkpoint),
            Err(e) => return fail(report, None, format!("line {}: not an event or checkpoint: {e}", n + 1)),
        }
    }
    let (Some(first), Some(last)) = (events.first(), events.last()) else {
        return fail(report, None, "the export holds no events".into());
    };
    // The latest purge event names the anchor the kept events start from.
    let anchor = events.iter().rev().find_map(Anchor::named_by);
    let mut walk = match Walk::start(first, anchor.clone()) {
        Ok(walk) => walk,
        Err(bad) => {
            let problem = format!("events before seq {} are missing and no purge event accounts for them", first.seq);
            return fail(report, Some(bad), problem);
        }
    };
    let walked = walk.feed(&events).and_then(|()| walk.finish());
    report.events_checked = walk.checked();
    if let Err(bad) = walked {
        return fail(report, Some(bad), format!("the chain breaks at seq {bad}"));
    }
    // The hash the chain has at `seq`: the first event's `prev_hash` just before it.
    let hash_at = |seq: i64| -> Option<&str> {
        if seq == first.seq - 1 {
            return Some(&first.prev_hash);
        }
        events.get(usize::try_from(seq - first.seq).ok()?).map(|e| e.hash.as_str())
    };
    let mut anchor_signed = first.seq == 1;
    for c in &checkpoints {
        let key = keys.get(&c.kid);
        let Some(expected) = hash_at(c.seq).filter(|_| c.tenant_id == first.tenant_id && key.is_some()) else {
            report.checkpoints_skipped += 1;
            continue;
        };
        if !c.signed_by(key.expect("checked above")) {
            return fail(report, Some(c.seq), format!("checkpoint at seq {} has a bad signature", c.seq));
        }
        if c.hash != expected {
            return fail(report, Some(c.seq), format!("checkpoint at seq {} does not match the events", c.seq));
        }
        report.checkpoints_checked += 1;
        report.sealed_through_seq = report.sealed_through_seq.max(Some(c.seq));
        anchor_signed |= c.kind == Kind::Anchor && anchor.as_ref().is_some_and(|a| a.seq == c.seq);
    }
    if !anchor_signed {
        let seq = anchor.map(|a| a.seq);
        return fail(report, seq, "the anchor the kept events start from carries no valid signature".into());
    }
    let Some(sealed) = report.sealed_through_seq else {
        return fail(report, None, "no checkpoint is signed by a key of the JWKS".into());
    };
    report.unsealed_events = last.seq - sealed;
    report.ok = true;
    report
}

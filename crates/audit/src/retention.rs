//! Retention: an organization keeps its audit events for a number of months (its own choice
//! within the platform's bounds, else the platform's default). A daily job, for every chain:
//! seals a signed *anchor* checkpoint at the last event older than the cutoff, records an
//! `audit.events.purged` event naming it (so the anchor is protected by the chain after it),
//! and only then removes the events up to it: whole monthly partitions that every chain has left
//! behind, row by row for the rest. `verify` then starts from the anchor.

use chrono::{DateTime, Months, NaiveDate, Utc};
use serde::Serialize;
use vextrus_db::{Database, DbError, TenantId, Tx};

use crate::chain::{self, PURGED};
use crate::checkpoint::{self, BoxError, Checkpoint, Kind, Signer};
use crate::model::{Actor, NewEvent, Target};
use crate::service::record;

/// The longest retention an organization may choose: ten years.
pub const MAX_MONTHS: u32 = 120;

/// The platform's bounds: the default, and the least an organization may choose.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    pub default_months: u32,
    pub min_months: u32,
}

impl Default for Policy {
    fn default() -> Self {
        Policy { default_months: 12, min_months: 12 }
    }
}

impl Policy {
    /// The months a chain keeps: its organization's choice (or the default), within bounds, so
    /// that raising the minimum also covers choices made before.
    pub fn months_for(&self, chosen: Option<u32>) -> u32 {
        chosen.unwrap_or(self.default_months).clamp(self.min_months.max(1), MAX_MONTHS)
    }
}

impl axum::extract::FromRef<vextrus_server::AppState> for Policy {
    fn from_ref(state: &vextrus_server::AppState) -> Self {
        state.module::<Policy>()
    }
}

/// The organization's own choice, if it made one.
pub async fn chosen_months(tx: &mut impl Tx, tenant: TenantId) -> Result<Option<u32>, DbError> {
    let months: Option<i32> = sqlx::query_scalar("SELECT retention_months FROM audit.settings WHERE tenant_id = $1")
        .bind(tenant)
        .fetch_optional(tx.conn())
        .await?;
    Ok(months.map(|m| m.unsigned_abs()))
}

/// Sets the organization's choice; answers the one before.
pub async fn choose_months(tx: &mut impl Tx, tenant: TenantId, months: u32) -> Result<Option<u32>, DbError> {
    let before: Option<i32> =
        sqlx::query_scalar("SELECT retention_months FROM audit.settings WHERE tenant_id = $1 FOR UPDATE")
            .bind(tenant)
            .fetch_optional(tx.conn())
            .await?;
    sqlx::query(
        "INSERT INTO audit.settings (tenant_id, retention_months) VALUES ($1, $2)
         ON CONFLICT (tenant_id) DO UPDATE SET retention_months = EXCLUDED.retention_months, updated_at = now()",
    )
    .bind(tenant)
    .bind(i32::try_from(months).unwrap_or(i32::MAX))
    .execute(tx.conn())
    .await?;
    Ok(before.map(|m| m.unsigned_abs()))
}

/// What one run did.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct Report {
    /// Chains that got a new anchor.
    pub anchors_sealed: usize,
    pub events_removed: i64,
    pub partitions_dropped: Vec<String>,
}

/// Applies retention as of `now` (the job passes the clock; tests pass other times).
pub async fn run(db: &Database, signer: &dyn Signer, policy: &Policy, now: DateTime<Utc>) -> Result<Report, BoxError> {
    let mut tx = db.system().await?;
    // Months ahead exist before events need them (else they would land in the default partition).
    sqlx::query("SELECT audit.ensure_partitions($1, 3)").bind(now.date_naive()).execute(tx.conn()).await?;
    let chains: Vec<(TenantId, Option<i32>)> = sqlx::query_as(
        "SELECT h.tenant_id, s.retention_months FROM audit.heads h
           LEFT JOIN audit.settings s ON s.tenant_id = h.tenant_id ORDER BY h.tenant_id",
    )
    .fetch_all(tx.conn())
    .await?;
    tx.commit().await?;

    let mut report = Report::default();
    let mut purges = Vec::new();
    let mut latest_cutoff = None;
    for (tenant, chosen) in chains {
        let months = policy.months_for(chosen.map(i32::unsigned_abs));
        let cutoff = now.checked_sub_months(Months::new(months)).ok_or("retention cutoff out of range")?;
        latest_cutoff = latest_cutoff.max(Some(cutoff));
        let (through, sealed) = seal_anchor(db, signer, tenant, cutoff, months).await?;
        report.anchors_sealed += usize::from(sealed);
        purges.extend(through.map(|seq| (tenant, seq)));
    }
    if let Some(cutoff) = latest_cutoff {
        drop_partitions(db, cutoff, &mut report).await?;
    }
    for (tenant, seq) in purges {
        let mut tx = db.system().await?;
        let removed: i64 = sqlx::query_scalar("SELECT audit.purge_through($1, $2)")
            .bind(tenant)
            .bind(seq)
            .fetch_one(tx.conn())
            .await?;
        tx.commit().await?;
        report.events_removed += removed;
    }
    Ok(report)
}

/// Seals the anchor of `tenant`'s chain for `cutoff` (and records the purge event naming it)
/// unless there is nothing older; answers the `seq` to remove events through, and whether a new
/// anchor was sealed (a run cut short leaves an older anchor with events still to remove).
async fn seal_anchor(
    db: &Database,
    signer: &dyn Signer,
    tenant: TenantId,
    cutoff: DateTime<Utc>,
    months: u32,
) -> Result<(Option<i64>, bool), BoxError> {
    let mut tx = db.system().await?;
    // Holds appends to this chain (and another instance's run) until the anchor is recorded.
    sqlx::query("SELECT 1 FROM audit.heads WHERE tenant_id = $1 FOR UPDATE").bind(tenant).execute(tx.conn()).await?;
    // Removal follows `seq`: everything before the first event (by seq) that is recent enough.
    // Times near the cutoff can be out of `seq` order by the length of a transaction, hence
    // the smallest `seq` among the first recent events rather than just the first.
    let keep_from: Option<i64> = sqlx::query_scalar(
        "SELECT min(seq) FROM (SELECT seq FROM audit.events WHERE tenant_id = $1 AND occurred_at >= $2
                                ORDER BY occurred_at LIMIT 1000) recent",
    )
    .bind(tenant)
    .bind(cutoff)
    .fetch_one(tx.conn())
    .await?;
    let last_to_go: Option<(i64, Vec<u8>)> = sqlx::query_as(
        "SELECT seq, hash FROM audit.events WHERE tenant_id = $1 AND seq < $2 ORDER BY seq DESC LIMIT 1",
    )
    .bind(tenant)
    .bind(keep_from.unwrap_or(i64::MAX))
    .fetch_optional(tx.conn())
    .await?;
    let previous: Option<i64> =
        sqlx::query_scalar("SELECT max(seq) FROM audit.checkpoints WHERE tenant_id = $1 AND kind = 'anchor'")
            .bind(tenant)
            .fetch_one(tx.conn())
            .await?;
    let Some((seq, hash)) = last_to_go else {
        return Ok((None, false));
    };
    if previous.is_some_and(|p| seq <= p) {
        return Ok((previous, false));
    }
    let anchor = Checkpoint::sign(signer, Kind::Anchor, tenant, seq, &hash)?;
    checkpoint::insert(&mut tx, &anchor).await?;
    let metadata = serde_json::json!({
        "through_seq": seq,
        "through_hash": chain::hex(&hash),
        "cutoff": cutoff,
        "retention_months": months,
    });
    let event = NewEvent::new(tenant, Actor::system(), PURGED).target(Target::new("audit_chain", tenant));
    record(&mut tx, event.metadata(metadata)).await?;
    tx.commit().await?;
    Ok((Some(seq), true))
}

/// Drops the monthly partitions that end before `cutoff` (the most recent cutoff of any chain)
/// and that anchors wholly cover; the database function checks the cover under a lock.
async fn drop_partitions(db: &Database, cutoff: DateTime<Utc>, report: &mut Report) -> Result<(), DbError> {
    let mut tx = db.system().await?;
    let names: Vec<String> = sqlx::query_scalar(
        "SELECT c.relname::text FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
          WHERE i.inhparent = 'audit.events'::regclass AND c.relname ~ '^events_[0-9]{4}_[0-9]{2}$'
          ORDER BY c.relname",
    )
    .fetch_all(tx.conn())
    .await?;
    tx.commit().await?;
    for name in names {
        let Some(month) = partition_month(&name) else { continue };
        let ends = month.checked_add_months(Months::new(1)).and_then(|d| d.and_hms_opt(0, 0, 0));
        if ends.is_none_or(|end| end.and_utc() > cutoff) {
            continue;
        }
        let mut tx = db.system().await?;
        let dropped: Option<i64> =
            sqlx::query_scalar("SELECT audit.drop_expired_partition($1)").bind(month).fetch_one(tx.conn()).await?;
        tx.commit().await?;
        if let Some(events) = dropped {
            tracing::info!(partition = %name, events, "audit partition dropped");
            report.events_removed += events;
            report.partitions_dropped.push(name);
        }
    }
    Ok(())
}

/// `events_2025_11` → 2025-11-01.
fn partition_month(name: &str) -> Option<NaiveDate> {
    let (year, month) = name.strip_prefix("events_")?.split_once('_')?;
    NaiveDate::from_ymd_opt(year.parse().ok()?, month.parse().ok()?, 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn months_stay_within_the_platform_bounds() {
        let policy = Policy { default_months: 12, min_months: 6 };
        assert_eq!(policy.months_for(None), 12);
        assert_eq!(policy.months_for(Some(3)), 6);
        assert_eq!(policy.months_for(Some(24)), 24);
        assert_eq!(policy.months_for(Some(500)), MAX_MONTHS);
    }

    #[test]
    fn partition_names_give_their_month() {
        assert_eq!(partition_month("events_2025_11"), NaiveDate::from_ymd_opt(2025, 11, 1));
        assert_eq!(partition_month("events_default"), None);
        assert_eq!(partition_month("events_2025_13"), None);
    }
}

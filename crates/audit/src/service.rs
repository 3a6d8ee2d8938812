//! Recording, searching and verifying. `record` takes the caller's transaction: the change and
//! its event commit or roll back together.

use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;
use vextrus_db::{DbError, TenantId, Tx};

use crate::chain::{self, Anchor, Walk};

use crate::model::{Event, NewEvent};
use crate::store::{self, Filter};

/// Appends `new` to its tenant's chain, in `tx`, in one round trip (`audit.append`).
/// Serialised per tenant by the head's row lock, held until `tx` ends, so `seq` has no gaps and
/// the chain no forks.
pub async fn record(tx: &mut impl Tx, new: NewEvent) -> Result<Event, DbError> {
    let now = new.occurred_at.unwrap_or_else(Utc::now);
    // PostgreSQL keeps microseconds; the hash must be over what will be read back.
    let occurred_at = DateTime::from_timestamp_micros(now.timestamp_micros()).unwrap_or(now);
    let mut event = Event {
        tenant_id: new.tenant,
        seq: 0,
        id: Uuid::now_v7(),
        occurred_at,
        actor: new.actor,
        action: new.action.to_owned(),
        target: new.target,
        outcome: new.outcome,
        changes: new.changes,
        metadata: new.metadata,
        prev_hash: String::new(),
        hash: String::new(),
    };
    let (prefix, suffix) = chain::canonical_halves(&event);
    let (seq, prev, hash) = store::append(tx, &event, &prefix, &suffix).await?;
    event.seq = seq;
    event.prev_hash = chain::hex(&prev);
    event.hash = chain::hex(&hash);
    Ok(event)
}

pub async fn search(tx: &mut impl Tx, tenant: TenantId, filter: &Filter, limit: u32) -> Result<Vec<Event>, DbError> {
    store::search(tx, tenant, filter, i64::from(limit)).await
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct VerifyReport {
    pub ok: bool,
    pub events_checked: i64,
    /// The first `seq` where the chain breaks (edited, deleted or reordered events).
    pub first_bad_seq: Option<i64>,
}

/// Recomputes the tenant's chain from its first kept event (from the genesis, or from the anchor
/// its latest purge event names) and compares the end with the head.
pub async fn verify(tx: &mut impl Tx, tenant: TenantId) -> Result<VerifyReport, DbError> {
    const PAGE: i64 = 5_000;
    let bad = |checked: i64, seq: i64| VerifyReport { ok: false, events_checked: checked, first_bad_seq: Some(seq) };
    let head = store::head(tx, tenant).await?;
    let Some(first) = store::in_order(tx, tenant, 0, 1).await?.pop() else {
        // No events: right only if there never were any.
        return Ok(match head {
            Some((seq, _)) if seq > 0 => bad(0, 1),
            _ => VerifyReport { ok: true, events_checked: 0, first_bad_seq: None },
        });
    };
    let anchor = store::latest_purge(tx, tenant).await?.as_ref().and_then(Anchor::named_by);
    let mut walk = match Walk::start(&first, anchor) {
        Ok(walk) => walk,
        Err(seq) => return Ok(bad(0, seq)),
    };
    loop {
        let page = store::in_order(tx, tenant, walk.head().0, PAGE).await?;
        if page.is_empty() {
            break;
        }
        if let Err(seq) = walk.feed(&page) {
            return Ok(bad(walk.checked(), seq));
        }
    }
    if let Err(seq) = walk.finish() {
        return Ok(bad(walk.checked(), seq));
    }
    // Events deleted from the end leave the head ahead of the last event.
    let (last_seq, last_hash) = walk.head();
    if let Some((head_seq, head_hash)) = head
        && (head_seq != last_seq || chain::hex(&head_hash) != last_hash)
    {
        return Ok(bad(walk.checked(), last_seq + 1));
    }
    Ok(VerifyReport { ok: true, events_checked: walk.checked(), first_bad_seq: None })
}

/// A page of the export (see `store::export_page`).
pub async fn export_page(
    tx: &mut impl Tx,
    tenant: TenantId,
    after_seq: i64,
    limit: u32,
    timezone: &str,
) -> Result<Vec<(Event, String)>, DbError> {
    store::export_page(tx, tenant, after_seq, i64::from(limit), timezone).await
}

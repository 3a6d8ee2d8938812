//! SQL for `audit.*`. Every statement names the tenant: under a `TenantTx` Row-Level Security
//! also keeps other tenants' chains out of reach.

use chrono::{DateTime, Utc};
use uuid::Uuid;
use vextrus_db::{DbError, TenantId, Tx};

use crate::model::{Actor, ActorKind, Event, Outcome, Target};

pub(crate) async fn head(tx: &mut impl Tx, tenant: TenantId) -> Result<Option<(i64, Vec<u8>)>, DbError> {
    Ok(sqlx::query_as("SELECT seq, hash FROM audit.heads WHERE tenant_id = $1")
        .bind(tenant)
        .fetch_optional(tx.conn())
        .await?)
}

/// Numbers, hashes and appends the event and moves the chain's head (see `audit.append`);
/// answers the `seq`, previous hash and hash it got.
pub(crate) async fn append(
    tx: &mut impl Tx,
    event: &Event,
    canonical_prefix: &str,
    canonical_suffix: &str,
) -> Result<(i64, Vec<u8>, Vec<u8>), DbError> {
    let target = event.target.as_ref();
    Ok(sqlx::query_as(
        "SELECT seq, prev_hash, hash FROM audit.append($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14,
                                                      $15, $16, $17)",
    )
    .bind(event.tenant_id)
    .bind(event.id)
    .bind(event.occurred_at)
    .bind(event.actor.kind.as_str())
    .bind(event.actor.id)
    .bind(event.actor.username.as_deref())
    .bind(event.actor.ip.as_deref())
    .bind(event.actor.user_agent.as_deref())
    .bind(event.actor.request_id.as_deref())
    .bind(&event.action)
    .bind(target.map(|t| t.kind.as_str()))
    .bind(target.map(|t| t.id.as_str()))
    .bind(event.outcome.as_str())
    .bind(&event.changes)
    .bind(&event.metadata)
    .bind(canonical_prefix)
    .bind(canonical_suffix)
    .fetch_one(tx.conn())
    .await?)
}

#[derive(Debug, sqlx::FromRow)]
struct Row {
    tenant_id: TenantId,
    seq: i64,
    id: Uuid,
    occurred_at: DateTime<Utc>,
    actor_type: String,
    actor_id: Option<Uuid>,
    actor_username: Option<String>,
    actor_ip: Option<String>,
    actor_user_agent: Option<String>,
    request_id: Option<String>,
    action: String,
    target_type: Option<String>,
    target_id: Option<String>,
    outcome: String,
    changes: serde_json::Value,
    metadata: serde_json::Value,
    prev_hash: Vec<u8>,
    hash: Vec<u8>,
}

impl From<Row> for Event {
    fn from(r: Row) -> Self {
        Event {
            tenant_id: r.tenant_id,
            seq: r.seq,
            id: r.id,
            occurred_at: r.occurred_at,
            actor: Actor {
                kind: ActorKind::parse(&r.actor_type),
                id: r.actor_id,
                username: r.actor_username,
                ip: r.actor_ip,
                user_agent: r.actor_user_agent,
                request_id: r.request_id,
            },
            action: r.action,
            target: match (r.target_type, r.target_id) {
                (Some(kind), Some(id)) => Some(Target { kind, id }),
                _ => None,
            },
            outcome: Outcome::parse(&r.outcome),
            changes: r.changes,
            metadata: r.metadata,
            prev_hash: crate::chain::hex(&r.prev_hash),
            hash: crate::chain::hex(&r.hash),
        }
    }
}

macro_rules! event_columns {
    () => {
        "tenant_id, seq, id, occurred_at, actor_type, actor_id, actor_username, actor_ip, actor_user_agent,
         request_id, action, target_type, target_id, outcome, changes, metadata, prev_hash, hash"
    };
}

/// Events after `after_seq`, in `seq` order (for verification and export).
pub(crate) async fn in_order(
    tx: &mut impl Tx,
    tenant: TenantId,
    after_seq: i64,
    limit: i64,
) -> Result<Vec<Event>, DbError> {
    let rows: Vec<Row> = sqlx::query_as(concat!(
        "SELECT ",
        event_columns!(),
        " FROM audit.events WHERE tenant_id = $1 AND seq > $2 ORDER BY seq LIMIT $3"
    ))
    .bind(tenant)
    .bind(after_seq)
    .bind(limit)
    .fetch_all(tx.conn())
    .await?;
    Ok(rows.into_iter().map(Into::into).collect())
}

/// The chain's newest purge event (the action is spelled out so that the partial index on purge
/// events serves every execution of the prepared statement).
pub(crate) async fn latest_purge(tx: &mut impl Tx, tenant: TenantId) -> Result<Option<Event>, DbError> {
    let row: Option<Row> = sqlx::query_as(concat!(
        "SELECT ",
        event_columns!(),
        " FROM audit.events WHERE tenant_id = $1 AND action = '",
        purged!(),
        "' ORDER BY seq DESC LIMIT 1"
    ))
    .bind(tenant)
    .fetch_optional(tx.conn())
    .await?;
    Ok(row.map(Into::into))
}

/// Search filters; `None` means any.
#[derive(Debug, Default, Clone)]
pub struct Filter {
    pub actor_id: Option<Uuid>,
    pub action_prefix: Option<String>,
    pub target_type: Option<String>,
    pub target_id: Option<String>,
    pub outcome: Option<Outcome>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    /// Only events with a smaller `seq` (the cursor of newest-first pages).
    pub before_seq: Option<i64>,
}

/// Newest first.
pub(crate) async fn search(tx: &mut impl Tx, tenant: TenantId, f: &Filter, limit: i64) -> Result<Vec<Event>, DbError> {
    let rows: Vec<Row> = sqlx::query_as(concat!(
        "SELECT ",
        event_columns!(),
        " FROM audit.events
          WHERE tenant_id = $1
            AND ($2::uuid IS NULL OR actor_id = $2)
            AND ($3::text IS NULL OR starts_with(action, $3))
            AND ($4::text IS NULL OR target_type = $4)
            AND ($5::text IS NULL OR target_id = $5)
            AND ($6::text IS NULL OR outcome = $6)
            AND ($7::timestamptz IS NULL OR occurred_at >= $7)
            AND ($8::timestamptz IS NULL OR occurred_at < $8)
            AND ($9::bigint IS NULL OR seq < $9)
          ORDER BY seq DESC LIMIT $10"
    ))
    .bind(tenant)
    .bind(f.actor_id)
    .bind(f.action_prefix.as_deref())
    .bind(f.target_type.as_deref())
    .bind(f.target_id.as_deref())
    .bind(f.outcome.map(Outcome::as_str))
    .bind(f.from)
    .bind(f.to)
    .bind(f.before_seq)
    .bind(limit)
    .fetch_all(tx.conn())
    .await?;
    Ok(rows.into_iter().map(Into::into).collect())
}

/// A page for export: events after `after_seq` in `seq` order, each with its time in `timezone`
/// (formatted by PostgreSQL, which has the time-zone database).
pub(crate) async fn export_page(
    tx: &mut impl Tx,
    tenant: TenantId,
    after_seq: i64,
    limit: i64,
    timezone: &str,
) -> Result<Vec<(Event, String)>, DbError> {
    #[derive(sqlx::FromRow)]
    struct WithLocal {
        #[sqlx(flatten)]
        row: Row,
        local_time: String,
    }
    let rows: Vec<WithLocal> = sqlx::query_as(concat!(
        "SELECT ",
        event_columns!(),
        ", to_char(occurred_at AT TIME ZONE $4, 'YYYY-MM-DD\"T\"HH24:MI:SS.US') AS local_time
          FROM audit.events WHERE tenant_id = $1 AND seq > $2 ORDER BY seq LIMIT $3"
    ))
    .bind(tenant)
    .bind(after_seq)
    .bind(limit)
    .bind(timezone)
    .fetch_all(tx.conn())
    .await?;
    Ok(rows.into_iter().map(|r| (r.row.into(), r.local_time)).collect())
}

//! Notify's SQL.

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use serde_json::Value;
use sqlx::Row;
use utoipa::ToSchema;
use uuid::Uuid;
use vextrus_db::{DbError, SystemTx, TenantId, TenantTx, Tx};

use crate::btrc;
use crate::model::{Category, Channel, Locale};
use crate::service::{Queued, Triggered};

pub(crate) struct NewMessage<'a> {
    pub id: Uuid,
    pub kind: &'a str,
    pub category: Category,
    pub channel: Channel,
    pub recipient: &'a str,
    pub user_id: Option<Uuid>,
    pub locale: Locale,
    pub data: &'a Value,
    pub sensitive: bool,
    pub body: Option<&'a str>,
    pub not_before: Option<DateTime<Utc>>,
    pub segments: Option<i32>,
    /// Ten-thousandths of a taka.
    pub cost: Option<i64>,
    pub sender_id: Option<&'a str>,
    pub trigger_id: Option<Uuid>,
}

/// Ten-thousandths of a taka as decimal text (`2500` → `"0.2500"`).
pub fn bdt(amount: i64) -> String {
    let sign = if amount < 0 { "-" } else { "" };
    let a = amount.unsigned_abs();
    format!("{sign}{}.{:04}", a / 10_000, a % 10_000)
}

pub(crate) async fn insert_message(tx: &mut impl Tx, m: &NewMessage<'_>) -> Result<(), DbError> {
    let tenant = tx.scope();
    sqlx::query(
        "INSERT INTO notify.messages (tenant_id, id, kind, category, channel, recipient, user_id, locale, data, sensitive,
                                      body, not_before, segments, cost_bdt, sender_id, trigger_id)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, COALESCE($12, now()), $13, $14::numeric, $15, $16)",
    )
    .bind(tenant)
    .bind(m.id)
    .bind(m.kind)
    .bind(m.category.as_str())
    .bind(m.channel.as_str())
    .bind(m.recipient)
    .bind(m.user_id)
    .bind(m.locale.as_str())
    .bind(m.data)
    .bind(m.sensitive)
    .bind(m.body)
    .bind(m.not_before)
    .bind(m.segments)
    .bind(m.cost.map(bdt))
    .bind(m.sender_id)
    .bind(m.trigger_id)
    .execute(tx.conn())
    .await?;
    Ok(())
}

/// Claims an idempotency key for a trigger; false when another trigger holds it.
pub(crate) async fn claim_trigger(tx: &mut TenantTx, tenant: TenantId, key: &str, id: Uuid) -> Result<bool, DbError> {
    let done = sqlx::query(
        "INSERT INTO notify.triggers (tenant_id, idempotency_key, id, message_ids) VALUES ($1, $2, $3, '{}')
         ON CONFLICT (tenant_id, idempotency_key) DO NOTHING",
    )
    .bind(tenant)
    .bind(key)
    .bind(id)
    .execute(tx.conn())
    .await?;
    Ok(done.rows_affected() == 1)
}

pub(crate) async fn set_trigger_messages(
    tx: &mut TenantTx,
    tenant: TenantId,
    key: &str,
    ids: &[Uuid],
) -> Result<(), DbError> {
    sqlx::query("UPDATE notify.triggers SET message_ids = $3 WHERE tenant_id = $1 AND idempotency_key = $2")
        .bind(tenant)
        .bind(key)
        .bind(ids)
        .execute(tx.conn())
        .await?;
    Ok(())
}

/// The first trigger with `key`, answered again.
pub(crate) async fn trigger_by_key(tx: &mut TenantTx, tenant: TenantId, key: &str) -> Result<Triggered, DbError> {
    let row = sqlx::query("SELECT id, message_ids FROM notify.triggers WHERE tenant_id = $1 AND idempotency_key = $2")
        .bind(tenant)
        .bind(key)
        .fetch_one(tx.conn())
        .await?;
    let trigger_id: Uuid = row.get(0);
    let ids: Vec<Uuid> = row.get(1);
    let rows = sqlx::query(
        "SELECT id, recipient, channel, not_before, segments, cost_bdt::text FROM notify.messages
          WHERE tenant_id = $1 AND id = ANY($2) ORDER BY id",
    )
    .bind(tenant)
    .bind(&ids)
    .fetch_all(tx.conn())
    .await?;
    let messages = rows
        .iter()
        .map(|r| Queued {
            id: r.get(0),
            recipient: r.get(1),
            channel: Channel::parse(r.get(2)).unwrap_or(Channel::Email),
            not_before: r.get(3),
            segments: r.get::<Option<i32>, _>(4).map(|s| s as u32),
            cost_bdt: r.get(5),
        })
        .collect();
    Ok(Triggered { trigger_id, messages, refused: Vec::new(), replayed: true })
}

/// BTRC's daily promotional count for `phone` on `day`, taken if there is room.
pub(crate) async fn take_promotional(tx: &mut TenantTx, phone: &str, day: NaiveDate) -> Result<bool, DbError> {
    Ok(sqlx::query_scalar("SELECT notify.take_promotional($1, $2, $3)")
        .bind(phone)
        .bind(day)
        .bind(btrc::PROMOTIONAL_PER_DAY)
        .fetch_one(tx.conn())
        .await?)
}

#[derive(Debug, Default, Clone)]
pub(crate) struct OrgSettings {
    pub sender_id: Option<String>,
    /// Ten-thousandths of a taka.
    pub budget: Option<i64>,
}

pub(crate) async fn settings(tx: &mut impl Tx, tenant: TenantId) -> Result<OrgSettings, DbError> {
    let row: Option<(Option<String>, Option<i64>)> = sqlx::query_as(
        "SELECT sms_sender_id, (sms_monthly_budget_bdt * 10000)::bigint FROM notify.settings WHERE tenant_id = $1",
    )
    .bind(tenant)
    .fetch_optional(tx.conn())
    .await?;
    Ok(row.map(|(sender_id, budget)| OrgSettings { sender_id, budget }).unwrap_or_default())
}

pub(crate) async fn set_settings(
    tx: &mut TenantTx,
    tenant: TenantId,
    sender_id: Option<&str>,
    budget: Option<i64>,
) -> Result<(), DbError> {
    sqlx::query(
        "INSERT INTO notify.settings (tenant_id, sms_sender_id, sms_monthly_budget_bdt) VALUES ($1, $2, $3::numeric / 10000)
         ON CONFLICT (tenant_id) DO UPDATE SET sms_sender_id = EXCLUDED.sms_sender_id,
             sms_monthly_budget_bdt = EXCLUDED.sms_monthly_budget_bdt, updated_at = now()",
    )
    .bind(tenant)
    .bind(sender_id)
    .bind(budget)
    .execute(tx.conn())
    .await?;
    Ok(())
}

/// Adds `amount` to the month's SMS spend if it stays within `budget` (none: no limit). The row
/// lock serialises concurrent triggers of one organization, so the budget holds.
/// Why an SMS could not be counted against the month.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// The organization's own monthly budget (BDT).
    Budget,
    /// The plan's SMS per month.
    Plan,
}

/// Counts one SMS of `amount` (ten-thousandths of a taka) against `month`, if both the budget
/// and the plan's `max_messages` allow it; one conditional upsert, so concurrent triggers cannot
/// together pass either.
pub(crate) async fn spend(
    tx: &mut TenantTx,
    tenant: TenantId,
    month: NaiveDate,
    amount: i64,
    budget: Option<i64>,
    max_messages: u32,
) -> Result<Result<(), Refusal>, DbError> {
    if max_messages == 0 {
        return Ok(Err(Refusal::Plan));
    }
    if budget.is_some_and(|b| amount > b) {
        return Ok(Err(Refusal::Budget));
    }
    let max_messages = i32::try_from(max_messages).unwrap_or(i32::MAX);
    let done = sqlx::query(
        "INSERT INTO notify.sms_spend AS s (tenant_id, month, spent_bdt, messages) VALUES ($1, $2, $3::numeric / 10000, 1)
         ON CONFLICT (tenant_id, month) DO UPDATE SET spent_bdt = s.spent_bdt + EXCLUDED.spent_bdt, messages = s.messages + 1
          WHERE ($4::bigint IS NULL OR s.spent_bdt + EXCLUDED.spent_bdt <= $4::numeric / 10000) AND s.messages < $5",
    )
    .bind(tenant)
    .bind(month)
    .bind(amount)
    .bind(budget)
    .bind(max_messages)
    .execute(tx.conn())
    .await?;
    if done.rows_affected() == 1 {
        return Ok(Ok(()));
    }
    // The row is locked by the refused upsert: this reads what refused it.
    let sent = sms_in_month(tx, tenant, month).await?;
    Ok(Err(if sent >= i64::from(max_messages) { Refusal::Plan } else { Refusal::Budget }))
}

/// SMS counted against `month` (Dhaka) for the organization.
pub(crate) async fn sms_in_month(tx: &mut impl Tx, tenant: TenantId, month: NaiveDate) -> Result<i64, DbError> {
    let sent: Option<i32> =
        sqlx::query_scalar("SELECT messages FROM notify.sms_spend WHERE tenant_id = $1 AND month = $2")
            .bind(tenant)
            .bind(month)
            .fetch_optional(tx.conn())
            .await?;
    Ok(i64::from(sent.unwrap_or(0)))
}

/// What the delivery job needs of a message.
#[derive(Debug, Clone)]
pub(crate) struct Pending {
    pub kind: String,
    pub category: String,
    pub channel: Channel,
    pub recipient: String,
    pub locale: Locale,
    pub data: Option<Value>,
    pub body: Option<String>,
    pub status: String,
    pub not_before: DateTime<Utc>,
    pub sender_id: Option<String>,
    pub segments: Option<i32>,
    pub provider: Option<String>,
    pub provider_id: Option<String>,
    pub created_at: DateTime<Utc>,
    pub user_id: Option<Uuid>,
    /// The organization's own SMS account, if it has one.
    pub own_sms: Option<crate::accounts::OwnAccount>,
    /// The recipient asked to receive no more of the organization's messages of this category,
    /// or (a number) no more SMS at all; never for the platform's security messages.
    pub suppressed: bool,
}

pub(crate) async fn pending(tx: &mut impl Tx, tenant: TenantId, id: Uuid) -> Result<Option<Pending>, DbError> {
    let row = sqlx::query(
        "SELECT m.kind, m.channel, m.recipient, m.locale, m.data, m.body, m.status, m.not_before, m.sender_id,
                m.segments, m.provider, m.provider_id, m.created_at, m.category, m.user_id,
                a.provider, a.credentials_sealed, a.sid,
                m.category <> 'security'
                  AND (EXISTS (SELECT 1 FROM notify.suppressions s
                                WHERE s.tenant_id = m.tenant_id AND s.address = m.recipient AND s.category = m.category)
                       OR EXISTS (SELECT 1 FROM notify.sms_opt_outs o WHERE o.phone = m.recipient))
           FROM notify.messages m LEFT JOIN notify.sms_accounts a ON a.tenant_id = m.tenant_id AND m.channel = 'sms'
          WHERE m.tenant_id = $1 AND m.id = $2",
    )
    .bind(tenant)
    .bind(id)
    .fetch_optional(tx.conn())
    .await?;
    Ok(row.map(|r| Pending {
        kind: r.get(0),
        channel: Channel::parse(r.get(1)).unwrap_or(Channel::Email),
        recipient: r.get(2),
        locale: Locale::parse(r.get(3)).unwrap_or_default(),
        data: r.get(4),
        body: r.get(5),
        status: r.get(6),
        not_before: r.get(7),
        sender_id: r.get(8),
        segments: r.get(9),
        provider: r.get(10),
        provider_id: r.get(11),
        created_at: r.get(12),
        category: r.get(13),
        user_id: r.get(14),
        own_sms: r.get::<Option<String>, _>(15).map(|provider| crate::accounts::OwnAccount {
            provider,
            sealed: r.get(16),
            sid: r.get(17),
        }),
        suppressed: r.get(18),
    }))
}

#[derive(Debug)]
pub(crate) struct AttemptRow<'a> {
    pub provider: &'a str,
    pub outcome: &'static str,
    pub response: &'a str,
    pub cost: Option<i64>,
}

pub(crate) async fn insert_attempt(
    tx: &mut SystemTx,
    tenant: TenantId,
    message: Uuid,
    a: &AttemptRow<'_>,
) -> Result<(), DbError> {
    let response: String = a.response.chars().take(500).collect();
    sqlx::query(
        "INSERT INTO notify.attempts (tenant_id, message_id, id, provider, outcome, response, cost_bdt)
         VALUES ($1, $2, $3, $4, $5, $6, $7::numeric)",
    )
    .bind(tenant)
    .bind(message)
    .bind(Uuid::now_v7())
    .bind(a.provider)
    .bind(a.outcome)
    .bind(response)
    .bind(a.cost.map(bdt))
    .execute(tx.conn())
    .await?;
    Ok(())
}

/// The message's outcome. A sensitive message's data and texts are dropped once it is done.
#[derive(Debug)]
pub(crate) struct Outcome<'a> {
    pub status: &'static str,
    pub provider: Option<&'a str>,
    pub provider_id: Option<&'a str>,
    pub subject: Option<&'a str>,
    pub body: Option<&'a str>,
    pub error: Option<&'a str>,
    pub cost: Option<i64>,
    /// The provider attempts that led to it, recorded with it.
    pub attempts: &'a [AttemptRow<'a>],
}

/// Records the outcome and its attempts in one statement.
pub(crate) async fn finish(tx: &mut SystemTx, tenant: TenantId, id: Uuid, o: &Outcome<'_>) -> Result<(), DbError> {
    let n = o.attempts.len();
    let (mut ids, mut providers, mut outcomes, mut responses, mut costs) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    for a in o.attempts {
        ids.push(Uuid::now_v7());
        providers.push(a.provider);
        outcomes.push(a.outcome);
        responses.push(a.response.chars().take(500).collect::<String>());
        costs.push(a.cost.map(bdt));
    }
    sqlx::query(
        "WITH attempts AS (
             INSERT INTO notify.attempts (tenant_id, message_id, id, provider, outcome, response, cost_bdt)
             SELECT $1, $2, a.id, a.provider, a.outcome, a.response, a.cost::numeric
               FROM unnest($10::uuid[], $11::text[], $12::text[], $13::text[], $14::text[])
                    AS a(id, provider, outcome, response, cost))
         UPDATE notify.messages SET
             status = $3, provider = COALESCE($4, provider), provider_id = COALESCE($5, provider_id),
             subject = CASE WHEN sensitive THEN NULL ELSE COALESCE($6, subject) END,
             body = CASE WHEN sensitive THEN NULL ELSE COALESCE($7, body) END,
             data = CASE WHEN sensitive THEN NULL ELSE data END,
             error = $8, cost_bdt = COALESCE($9::numeric, cost_bdt),
             sent_at = CASE WHEN $3 IN ('sent', 'delivered') THEN COALESCE(sent_at, now()) ELSE sent_at END,
             updated_at = now()
         WHERE tenant_id = $1 AND id = $2",
    )
    .bind(tenant)
    .bind(id)
    .bind(o.status)
    .bind(o.provider)
    .bind(o.provider_id)
    .bind(o.subject)
    .bind(o.body)
    .bind(o.error)
    .bind(o.cost.map(bdt))
    .bind(ids)
    .bind(providers)
    .bind(outcomes)
    .bind(responses)
    .bind(costs)
    .execute(tx.conn())
    .await?;
    Ok(())
}

/// Moves a sent message to `status`; whether it moved.
pub(crate) async fn set_delivered(
    tx: &mut SystemTx,
    tenant: TenantId,
    id: Uuid,
    status: &str,
) -> Result<bool, DbError> {
    let moved = sqlx::query("UPDATE notify.messages SET status = $3, updated_at = now() WHERE tenant_id = $1 AND id = $2 AND status = 'sent'")
        .bind(tenant)
        .bind(id)
        .bind(status)
        .execute(tx.conn())
        .await?;
    Ok(moved.rows_affected() == 1)
}

pub(crate) struct DevMail<'a> {
    pub id: Uuid,
    pub tenant: TenantId,
    pub kind: &'a str,
    pub channel: Channel,
    pub recipient: &'a str,
    pub subject: Option<&'a str>,
    pub body: &'a str,
    pub html: Option<&'a str>,
}

/// Keyed by the message id: delivering again changes nothing.
pub(crate) async fn deliver_to_dev_mailbox(tx: &mut SystemTx, m: &DevMail<'_>) -> Result<(), DbError> {
    sqlx::query(
        "INSERT INTO notify.dev_mailbox (id, tenant_id, kind, channel, recipient, subject, body, html)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (tenant_id, id) DO NOTHING",
    )
    .bind(m.id)
    .bind(m.tenant)
    .bind(m.kind)
    .bind(m.channel.as_str())
    .bind(m.recipient)
    .bind(m.subject)
    .bind(m.body)
    .bind(m.html)
    .execute(tx.conn())
    .await?;
    Ok(())
}

/// A message of the dev mailbox.
#[derive(Debug, Serialize, ToSchema, sqlx::FromRow)]
pub struct DevMessage {
    pub id: Uuid,
    /// The message type, e.g. `identity.verify_email`.
    #[serde(rename = "type")]
    pub kind: String,
    pub channel: String,
    pub recipient: String,
    pub subject: Option<String>,
    pub body: String,
    pub html: Option<String>,
    pub created_at: DateTime<Utc>,
}

pub(crate) async fn dev_mailbox(tx: &mut SystemTx, recipient: Option<&str>) -> Result<Vec<DevMessage>, DbError> {
    Ok(sqlx::query_as(
        "SELECT id, kind, channel, recipient, subject, body, html, created_at FROM notify.dev_mailbox
          WHERE $1::text IS NULL OR recipient = $1 ORDER BY created_at DESC, id DESC LIMIT 200",
    )
    .bind(recipient)
    .fetch_all(tx.conn())
    .await?)
}

/// A message as its organization sees it.
#[derive(Debug, Serialize, ToSchema)]
pub struct Message {
    pub id: Uuid,
    #[serde(rename = "type")]
    pub kind: String,
    pub category: String,
    pub channel: String,
    pub recipient: String,
    pub user_id: Option<Uuid>,
    pub locale: String,
    /// `queued` (also while held for BTRC's night window), `sent` (a provider accepted it),
    /// `delivered` (the provider's report says so), `failed`.
    pub status: String,
    pub not_before: DateTime<Utc>,
    pub subject: Option<String>,
    pub body: Option<String>,
    pub segments: Option<i32>,
    pub cost_bdt: Option<String>,
    pub provider: Option<String>,
    pub provider_id: Option<String>,
    pub error: Option<String>,
    pub trigger_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attempts: Option<Vec<Attempt>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Attempt {
    pub provider: String,
    /// `accepted`, `rejected` (the message is refused), `unavailable` (the provider could not
    /// take it: the next one is tried), `skipped` (its circuit breaker is open).
    pub outcome: String,
    pub response: String,
    pub cost_bdt: Option<String>,
    pub at: DateTime<Utc>,
}

const MESSAGE_COLUMNS: &str =
    "id, kind, category, channel, recipient, user_id, locale, status, not_before, subject, body,
     segments, cost_bdt::text, provider, provider_id, error, trigger_id, created_at, sent_at";

fn message(r: &sqlx::postgres::PgRow) -> Message {
    Message {
        id: r.get(0),
        kind: r.get(1),
        category: r.get(2),
        channel: r.get(3),
        recipient: r.get(4),
        user_id: r.get(5),
        locale: r.get(6),
        status: r.get(7),
        not_before: r.get(8),
        subject: r.get(9),
        body: r.get(10),
        segments: r.get(11),
        cost_bdt: r.get(12),
        provider: r.get(13),
        provider_id: r.get(14),
        error: r.get(15),
        trigger_id: r.get(16),
        created_at: r.get(17),
        sent_at: r.get(18),
        attempts: None,
    }
}

pub(crate) async fn message_with_attempts(tx: &mut TenantTx, id: Uuid) -> Result<Option<Message>, DbError> {
    let tenant = tx.tenant();
    let sql = format!("SELECT {MESSAGE_COLUMNS} FROM notify.messages WHERE tenant_id = $1 AND id = $2");
    let Some(row) = sqlx::query(&sql).bind(tenant).bind(id).fetch_optional(tx.conn()).await? else {
        return Ok(None);
    };
    let mut m = message(&row);
    let attempts = sqlx::query(
        "SELECT provider, outcome, response, cost_bdt::text, at FROM notify.attempts
          WHERE tenant_id = $1 AND message_id = $2 ORDER BY id LIMIT 100",
    )
    .bind(tenant)
    .bind(id)
    .fetch_all(tx.conn())
    .await?;
    m.attempts = Some(
        attempts
            .iter()
            .map(|r| Attempt {
                provider: r.get(0),
                outcome: r.get(1),
                response: r.get(2),
                cost_bdt: r.get(3),
                at: r.get(4),
            })
            .collect(),
    );
    Ok(Some(m))
}

#[derive(Debug, Default)]
pub(crate) struct Filter<'a> {
    pub status: Option<&'a str>,
    pub channel: Option<&'a str>,
    pub kind: Option<&'a str>,
    pub recipient: Option<&'a str>,
    /// Keyset: messages older than this id.
    pub before: Option<Uuid>,
}

/// Newest first, `limit + 1` rows (the caller trims and makes the cursor).
pub(crate) async fn list(tx: &mut TenantTx, f: &Filter<'_>, limit: u32) -> Result<Vec<Message>, DbError> {
    let tenant = tx.tenant();
    let sql = format!(
        "SELECT {MESSAGE_COLUMNS} FROM notify.messages
          WHERE tenant_id = $1 AND ($2::text IS NULL OR status = $2) AND ($3::text IS NULL OR channel = $3)
            AND ($4::text IS NULL OR kind = $4) AND ($5::text IS NULL OR recipient = $5)
            AND ($6::uuid IS NULL OR id < $6)
          ORDER BY id DESC LIMIT $7"
    );
    let rows = sqlx::query(&sql)
        .bind(tenant)
        .bind(f.status)
        .bind(f.channel)
        .bind(f.kind)
        .bind(f.recipient)
        .bind(f.before)
        .bind(i64::from(limit) + 1)
        .fetch_all(tx.conn())
        .await?;
    Ok(rows.iter().map(message).collect())
}

/// Which of `phones` are on the STOP list (the request path asks through a function: it never
/// reads the list).
pub(crate) async fn opted_out(tx: &mut TenantTx, phones: &[&str]) -> Result<Vec<String>, DbError> {
    Ok(sqlx::query_scalar("SELECT notify.opted_out($1)").bind(phones).fetch_all(tx.conn()).await?)
}

/// The push devices of `users`: (user, device id).
pub(crate) async fn devices_of(tx: &mut TenantTx, users: &[Uuid]) -> Result<Vec<(Uuid, Uuid)>, DbError> {
    Ok(sqlx::query_as("SELECT user_id, id FROM notify.devices WHERE user_id = ANY($1) ORDER BY created_at")
        .bind(users)
        .fetch_all(tx.conn())
        .await?)
}

/// A device's registration token, if the device is still registered.
pub(crate) async fn device_token(tx: &mut SystemTx, tenant: TenantId, device: Uuid) -> Result<Option<String>, DbError> {
    Ok(sqlx::query_scalar("SELECT token FROM notify.devices WHERE tenant_id = $1 AND id = $2")
        .bind(tenant)
        .bind(device)
        .fetch_optional(tx.conn())
        .await?)
}

/// Forgets a device whose token FCM called dead, or marks it used.
pub(crate) async fn device_outcome(
    tx: &mut SystemTx,
    tenant: TenantId,
    device: Uuid,
    dead: bool,
) -> Result<(), DbError> {
    let sql = if dead {
        "DELETE FROM notify.devices WHERE tenant_id = $1 AND id = $2"
    } else {
        "UPDATE notify.devices SET last_used_at = now() WHERE tenant_id = $1 AND id = $2"
    };
    sqlx::query(sql).bind(tenant).bind(device).execute(tx.conn()).await?;
    Ok(())
}

//! What email providers tell us after they took a message: SendGrid's signed Event Webhook
//! (`POST /v1/notifications/providers/sendgrid/events`). Only a batch whose ECDSA signature over
//! `timestamp ‖ body` verifies, with a timestamp within ten minutes, is read. `delivered` moves the
//! message to `delivered`; `bounce` and `dropped` to `failed`; `spamreport` also stops the
//! organization's non-security mail to the address (as one-click unsubscribe does). An event
//! counts only for a message SendGrid sent, under the id SendGrid gave it.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use serde::Serialize;
use serde_json::{Value, json};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;
use vextrus_audit::{Actor, ActorKind, NewEvent, Target};
use vextrus_db::{Database, DbError, SystemTx, TenantId, Tx};
use vextrus_server::{ApiError, AppState, Problem};

use crate::Notify;
use crate::jobs::{Status, announce};
use crate::providers::sendgrid::{self, SIGNATURE_HEADER, TIMESTAMP_HEADER};
use crate::store::{self, AttemptRow};

/// A signed batch older (or newer) than this is refused: a replay.
const TOLERANCE_SECS: i64 = 600;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(sendgrid_events))
}

#[derive(Debug, Default, Serialize, ToSchema)]
pub struct EventsRead {
    /// Events that changed a message.
    pub applied: u32,
    /// Events about nothing of ours, or of kinds we do not act on (`processed`, `open`, …).
    pub ignored: u32,
}

fn signature_invalid(detail: &str) -> ApiError {
    ApiError::new(StatusCode::UNAUTHORIZED, "signature_invalid", "Signature invalid").detail(detail.to_owned())
}

/// SendGrid's Event Webhook (signed). Answers what was applied.
#[utoipa::path(post, path = "/v1/notifications/providers/sendgrid/events", tag = "notify",
    request_body(content = String, description = "SendGrid's JSON array of events", content_type = "application/json"),
    params(
        ("X-Twilio-Email-Event-Webhook-Signature" = String, Header, description = "base64 DER ECDSA P-256 signature"),
        ("X-Twilio-Email-Event-Webhook-Timestamp" = String, Header, description = "Unix seconds, signed with the body"),
    ),
    responses(
        (status = 200, body = EventsRead),
        (status = 400, description = "`malformed_json`", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "`signature_invalid`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`webhook_not_configured`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn sendgrid_events(
    State(db): State<Database>,
    State(notify): State<Notify>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<axum::Json<EventsRead>, ApiError> {
    let key = notify.inner().sendgrid_events_key.as_ref().ok_or_else(|| {
        ApiError::not_found("webhook_not_configured", "SendGrid's Event Webhook is not configured here.")
    })?;
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default();
    let (signature, timestamp) = (header(SIGNATURE_HEADER), header(TIMESTAMP_HEADER));
    let at: i64 =
        timestamp.parse().map_err(|_| signature_invalid("The timestamp header is missing or not a number."))?;
    if (chrono::Utc::now().timestamp() - at).abs() > TOLERANCE_SECS {
        return Err(signature_invalid("The timestamp is more than ten minutes away: a replay is refused."));
    }
    if !sendgrid::verify(key, timestamp, &body, signature) {
        return Err(signature_invalid("The signature does not verify under the configured key."));
    }
    let events: Vec<Value> = serde_json::from_slice(&body).map_err(|e| {
        ApiError::new(StatusCode::BAD_REQUEST, "malformed_json", "Malformed JSON").detail(format!("{e}"))
    })?;
    let mut read = EventsRead::default();
    let mut tx = db.system().await?;
    for event in &events {
        if apply(&notify, &mut tx, event).await? {
            read.applied += 1;
        } else {
            read.ignored += 1;
        }
    }
    tx.commit().await?;
    metrics::counter!("vextrus_notify_provider_events_total", "provider" => sendgrid::NAME)
        .increment(events.len() as u64);
    Ok(axum::Json(read))
}

/// Applies one event; whether it changed anything.
async fn apply(notify: &Notify, tx: &mut SystemTx, event: &Value) -> Result<bool, DbError> {
    let text = |name: &str| event.get(name).and_then(Value::as_str).unwrap_or_default();
    let (Ok(id), Ok(tenant)) = (Uuid::parse_str(text("vextrus_message")), Uuid::parse_str(text("vextrus_tenant")))
    else {
        return Ok(false);
    };
    let tenant = TenantId::from_uuid(tenant);
    let kind = text("event");
    let new_status = match kind {
        "delivered" => "delivered",
        "bounce" | "dropped" => "failed",
        "spamreport" => "spam",
        _ => return Ok(false),
    };
    let Some(message) = store::pending(tx, tenant, id).await? else { return Ok(false) };
    let ours = message.provider.as_deref() == Some(sendgrid::NAME)
        && message.provider_id.as_deref().is_none_or(|p| text("sg_message_id").starts_with(p));
    if !ours {
        return Ok(false);
    }
    let recipient = message.recipient.clone();
    let reason: String = [text("reason"), text("response"), text("type")]
        .into_iter()
        .find(|r| !r.is_empty())
        .unwrap_or(kind)
        .chars()
        .take(300)
        .collect();
    match new_status {
        "spam" => {
            let added = sqlx::query(
                "INSERT INTO notify.suppressions (tenant_id, address, category)
                 VALUES ($1, $2, 'transactional'), ($1, $2, 'promotional') ON CONFLICT DO NOTHING",
            )
            .bind(tenant)
            .bind(&recipient)
            .execute(tx.conn())
            .await?;
            if added.rows_affected() > 0 {
                let actor = Actor::new(ActorKind::Anonymous, None, Some(recipient.clone()));
                let audit = NewEvent::new(tenant, actor, "notify.spam_report")
                    .target(Target::new("address", recipient.as_str()))
                    .metadata(json!({"provider": sendgrid::NAME, "message": id}));
                vextrus_audit::record(tx, audit).await?;
            }
        }
        "failed" => {
            let moved = sqlx::query(
                "UPDATE notify.messages SET status = 'failed', error = $3, updated_at = now()
                  WHERE tenant_id = $1 AND id = $2 AND status IN ('sent', 'delivered')",
            )
            .bind(tenant)
            .bind(id)
            .bind(format!("{kind}: {reason}"))
            .execute(tx.conn())
            .await?;
            if moved.rows_affected() == 1 {
                let error = format!("{kind}: {reason}");
                let status = Status { status: "failed", provider: Some(sendgrid::NAME), error: Some(&error) };
                announce(notify, tx, tenant, id, &message, status).await?;
            }
        }
        status => {
            if store::set_delivered(tx, tenant, id, status).await? {
                let status = Status { status: "delivered", provider: Some(sendgrid::NAME), error: None };
                announce(notify, tx, tenant, id, &message, status).await?;
            }
        }
    }
    let row =
        AttemptRow { provider: sendgrid::NAME, outcome: "report", response: &format!("{kind}: {reason}"), cost: None };
    store::insert_attempt(tx, tenant, id, &row).await?;
    Ok(true)
}

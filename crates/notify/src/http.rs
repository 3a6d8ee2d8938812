//! Notify's HTTP API: trigger (`POST /v1/notifications`), preview, read messages with their
//! attempts, the organization's SMS settings, one-click unsubscribe (RFC 8058) and the dev mailbox.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;
use vextrus_access::Permitted;
use vextrus_audit::{Actor, ActorKind, NewEvent, Target};
use vextrus_db::{Database, DbError, TenantId, Tx};
use vextrus_server::{ApiError, AppState, Json, Problem, Query};

use crate::model::{Category, Channel, Locale};
use crate::permissions::{DevMailboxRead, MessagesRead, MessagesSend, SettingsManage};
use crate::service::{Recipient, Trigger, TriggerError, Triggered};
use crate::store::{self, DevMessage, Message, Pending};
use crate::templates::RenderError;
use crate::{Notify, store::bdt};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(trigger, list))
        .routes(routes!(get_message))
        .routes(routes!(preview))
        .routes(routes!(get_settings, put_settings))
        .routes(routes!(unsubscribe))
        .routes(routes!(dev_mailbox))
        .merge(crate::me::router())
        .merge(crate::optouts::router())
        .merge(crate::events::router())
        .merge(crate::overrides::router())
        .merge(crate::accounts::router())
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewNotification {
    /// The message type, e.g. `finance.invoice_due`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Member user ids, email addresses and Bangladeshi mobile numbers (`01…`, `8801…`,
    /// `+8801…`); 1 to 1,000.
    pub recipients: Vec<String>,
    /// The template's variables.
    #[serde(default)]
    pub data: Value,
    /// For user recipients: `email`, `sms`, `push`, `in_app` (default: email, and SMS where the
    /// user has a phone and the type an SMS text).
    pub channels: Option<Vec<String>>,
    /// `transactional` (default: the type's own) or `promotional` (BTRC's rules apply to SMS).
    pub category: Option<String>,
    /// Repeating a trigger with the same key answers the first one's messages, and sends nothing.
    pub idempotency_key: Option<String>,
}

fn trigger_error(e: TriggerError) -> ApiError {
    match e {
        TriggerError::Render(RenderError::UnknownType(kind)) => {
            ApiError::invalid_field("type", format!("there is no message type {kind:?}"))
        }
        TriggerError::Render(e @ RenderError::NoChannel { .. }) => ApiError::invalid_field("channels", e.to_string()),
        TriggerError::Render(RenderError::Template(m)) => ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "template_data_missing",
            "The data does not fit the template",
        )
        .detail(m),
        TriggerError::Invalid(m) => ApiError::invalid_field("body", m),
        TriggerError::ChannelUnavailable(channel) => {
            ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "channel_unavailable", "Channel unavailable")
                .detail(format!("No provider delivers {channel} on this platform."))
        }
        TriggerError::AllRefused(refused) => {
            let first = &refused[0];
            let mut problem = ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, first.code, "Nothing was sent")
                .detail(first.detail.clone());
            if refused.len() > 1 {
                problem = problem.detail(format!("{} (and {} more refusals)", first.detail, refused.len() - 1));
            }
            problem
        }
        TriggerError::Db(e) => e.into(),
    }
}

fn parse_trigger(body: NewNotification) -> Result<Trigger, ApiError> {
    let recipients = body
        .recipients
        .iter()
        .take(1001)
        .enumerate()
        .map(|(i, r)| Recipient::parse(r.trim()).map_err(|m| ApiError::invalid_field(format!("recipients[{i}]"), m)))
        .collect::<Result<Vec<_>, _>>()?;
    let channels = body
        .channels
        .map(|all| {
            all.iter()
                .take(4)
                .enumerate()
                .map(|(i, c)| {
                    Channel::parse(c)
                        .ok_or_else(|| ApiError::invalid_field(format!("channels[{i}]"), "email, sms, push or in_app"))
                })
                .collect::<Result<Vec<_>, _>>()
        })
        .transpose()?;
    let category = body
        .category
        .map(|c| Category::parse(&c).ok_or_else(|| ApiError::invalid_field("category", "transactional or promotional")))
        .transpose()?;
    if let Some(key) = &body.idempotency_key
        && (key.is_empty() || key.len() > 200)
    {
        return Err(ApiError::invalid_field("idempotency_key", "1 to 200 characters"));
    }
    if !matches!(body.data, Value::Object(_) | Value::Null) {
        return Err(ApiError::invalid_field("data", "must be an object"));
    }
    Ok(Trigger {
        kind: body.kind,
        recipients,
        channels,
        category,
        data: body.data,
        idempotency_key: body.idempotency_key,
    })
}

/// Send a message type to recipients: 202 with a message per recipient and channel (delivered
/// by the job queue), and the recipients for whom nothing was queued (BTRC's rules, the SMS
/// budget, unknown members).
#[utoipa::path(post, path = "/v1/notifications", tag = "notify", security(("bearer" = [])),
    request_body = NewNotification,
    responses(
        (status = 202, body = Triggered),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`permission_denied`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`invalid_field`, `template_data_missing`, `channel_unavailable`, \
            `promotional_sms_not_bangla`, `btrc_daily_limit`, `sms_budget_exhausted`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn trigger(
    permitted: Permitted<MessagesSend>,
    State(db): State<Database>,
    State(notify): State<Notify>,
    Json(body): Json<NewNotification>,
) -> Result<(StatusCode, axum::Json<Triggered>), ApiError> {
    let tenant = permitted.tenant()?;
    let trigger = parse_trigger(body)?;
    let kind = trigger.kind.clone();
    let mut tx = db.tenant(tenant).await?;
    let triggered = notify.trigger(&mut tx, trigger).await.map_err(trigger_error)?;
    if !triggered.replayed {
        let event = NewEvent::new(tenant, permitted.subject().into(), "notify.message.send")
            .target(Target::new("notification_trigger", triggered.trigger_id))
            .metadata(json!({
                "type": kind,
                "messages": triggered.messages.len(),
                "refused": triggered.refused.len(),
            }));
        vextrus_audit::record(&mut tx, event).await?;
    }
    tx.commit().await?;
    Ok((StatusCode::ACCEPTED, axum::Json(triggered)))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PreviewRequest {
    #[serde(rename = "type")]
    pub kind: String,
    pub locale: Option<String>,
    pub channel: Option<String>,
    #[serde(default)]
    pub data: Value,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Preview {
    pub subject: Option<String>,
    pub text: String,
    pub html: Option<String>,
    /// SMS only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sms: Option<crate::sms::Segments>,
}

/// Render a message type without sending it.
#[utoipa::path(post, path = "/v1/notifications/preview", tag = "notify", security(("bearer" = [])),
    request_body = PreviewRequest,
    responses(
        (status = 200, body = Preview),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`permission_denied`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`invalid_field`, `template_data_missing`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn preview(
    permitted: Permitted<MessagesSend>,
    State(db): State<Database>,
    State(notify): State<Notify>,
    Json(body): Json<PreviewRequest>,
) -> Result<axum::Json<Preview>, ApiError> {
    let locale =
        body.locale.as_deref().map(Locale::parse).transpose().map_err(|m| ApiError::invalid_field("locale", m))?;
    let channel = match body.channel.as_deref() {
        None => Channel::Email,
        Some(c) => Channel::parse(c).ok_or_else(|| ApiError::invalid_field("channel", "email, sms, push or in_app"))?,
    };
    let templates = &notify.inner().templates;
    if templates.def(&body.kind).is_some_and(|d| d.category == Category::Security) {
        return Err(ApiError::invalid_field("type", "the platform's own security messages are not previewed"));
    }
    let locale = locale.unwrap_or_default();
    // With the organization's own texts, as its messages would be.
    let own = match (templates.def(&body.kind), permitted.tenant()) {
        (Some(def), Ok(tenant)) => {
            let mut tx = db.tenant(tenant).await?;
            let own = notify.inner().overrides.of(&mut tx, tenant, def.kind).await?;
            tx.commit().await?;
            Some(own)
        }
        _ => None,
    };
    let own = own.as_ref().and_then(|o| crate::overrides::for_locale(o, locale));
    let rendered = templates
        .render_with(&body.kind, locale, channel, &body.data, own)
        .map_err(|e| trigger_error(TriggerError::Render(e)))?;
    let sms = (channel == Channel::Sms).then(|| crate::sms::segments(&rendered.text));
    Ok(axum::Json(Preview { subject: rendered.subject, text: rendered.text, html: rendered.html, sms }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// `queued`, `sent`, `delivered` or `failed`.
    pub status: Option<String>,
    /// `email`, `sms`, `push` or `in_app`.
    pub channel: Option<String>,
    /// A message type.
    #[serde(rename = "type")]
    #[param(rename = "type")]
    pub kind: Option<String>,
    /// An address or E.164 number.
    pub recipient: Option<String>,
    /// The cursor from the previous page.
    pub after: Option<String>,
    /// 1–100 (default 50).
    pub limit: Option<u32>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MessagePage {
    pub items: Vec<Message>,
    /// Pass as `after` for the next page; absent on the last.
    pub next: Option<String>,
}

/// The organization's messages, newest first, filtered and in keyset pages.
#[utoipa::path(get, path = "/v1/notifications", tag = "notify", security(("bearer" = [])),
    params(ListParams),
    responses(
        (status = 200, body = MessagePage),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`permission_denied`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`invalid_field`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn list(
    permitted: Permitted<MessagesRead>,
    State(db): State<Database>,
    Query(params): Query<ListParams>,
) -> Result<axum::Json<MessagePage>, ApiError> {
    let tenant = permitted.tenant()?;
    let limit = params.limit.unwrap_or(50);
    if !(1..=100).contains(&limit) {
        return Err(ApiError::invalid_field("limit", "between 1 and 100"));
    }
    if let Some(s) = &params.status
        && !["queued", "sent", "delivered", "failed"].contains(&s.as_str())
    {
        return Err(ApiError::invalid_field("status", "queued, sent, delivered or failed"));
    }
    if let Some(c) = &params.channel {
        Channel::parse(c).ok_or_else(|| ApiError::invalid_field("channel", "email, sms, push or in_app"))?;
    }
    let before = params
        .after
        .as_deref()
        .map(|a| Uuid::parse_str(a).map_err(|_| ApiError::invalid_field("after", "not a cursor of this list")))
        .transpose()?;
    let filter = store::Filter {
        status: params.status.as_deref(),
        channel: params.channel.as_deref(),
        kind: params.kind.as_deref(),
        recipient: params.recipient.as_deref(),
        before,
    };
    let mut tx = db.tenant(tenant).await?;
    let mut items = store::list(&mut tx, &filter, limit).await?;
    tx.commit().await?;
    let next = vextrus_db::next_page(&mut items, limit, |m| m.id.to_string());
    Ok(axum::Json(MessagePage { items, next }))
}

/// One message with every delivery attempt (provider, answer, time, cost).
#[utoipa::path(get, path = "/v1/notifications/{id}", tag = "notify", security(("bearer" = [])),
    params(("id" = String, Path, description = "The message's id")),
    responses(
        (status = 200, body = Message),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`permission_denied`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`notification_not_found`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn get_message(
    permitted: Permitted<MessagesRead>,
    State(db): State<Database>,
    Path(id): Path<String>,
) -> Result<axum::Json<Message>, ApiError> {
    let tenant = permitted.tenant()?;
    let not_found = || ApiError::not_found("notification_not_found", "No such notification.");
    let id = Uuid::parse_str(&id).map_err(|_| not_found())?;
    let mut tx = db.tenant(tenant).await?;
    let message = store::message_with_attempts(&mut tx, id).await?.ok_or_else(not_found)?;
    tx.commit().await?;
    Ok(axum::Json(message))
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NotifySettings {
    /// The organization's own approved SMS sender id (masking), if it has one.
    pub sms_sender_id: Option<String>,
    /// The most the organization's SMS may cost per month (Dhaka months), in BDT as decimal
    /// text (`"500.00"`); absent: no budget.
    pub sms_monthly_budget_bdt: Option<String>,
}

/// The organization's SMS settings.
#[utoipa::path(get, path = "/v1/notifications/settings", tag = "notify", security(("bearer" = [])),
    responses(
        (status = 200, body = NotifySettings),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`permission_denied`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn get_settings(
    permitted: Permitted<SettingsManage>,
    State(db): State<Database>,
) -> Result<axum::Json<NotifySettings>, ApiError> {
    let tenant = permitted.tenant()?;
    let mut tx = db.tenant(tenant).await?;
    let settings = store::settings(&mut tx, tenant).await?;
    tx.commit().await?;
    Ok(axum::Json(NotifySettings {
        sms_sender_id: settings.sender_id,
        sms_monthly_budget_bdt: settings.budget.map(bdt),
    }))
}

/// Set the organization's SMS sender id and monthly budget (both replaced).
#[utoipa::path(put, path = "/v1/notifications/settings", tag = "notify", security(("bearer" = [])),
    request_body = NotifySettings,
    responses(
        (status = 200, body = NotifySettings),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`permission_denied`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`invalid_field`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn put_settings(
    permitted: Permitted<SettingsManage>,
    State(db): State<Database>,
    Json(body): Json<NotifySettings>,
) -> Result<axum::Json<NotifySettings>, ApiError> {
    let tenant = permitted.tenant()?;
    let budget = body
        .sms_monthly_budget_bdt
        .as_deref()
        .map(crate::parse_bdt)
        .transpose()
        .map_err(|m| ApiError::invalid_field("sms_monthly_budget_bdt", m))?;
    let sender = body.sms_sender_id.as_deref().map(str::trim);
    if let Some(s) = sender {
        let ok =
            (1..=20).contains(&s.len()) && s.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, ' ' | '-' | '.'));
        if !ok {
            return Err(ApiError::invalid_field("sms_sender_id", "1 to 20 letters, digits, spaces, dots or dashes"));
        }
    }
    let mut tx = db.tenant(tenant).await?;
    store::set_settings(&mut tx, tenant, sender, budget).await?;
    let settings = NotifySettings { sms_sender_id: sender.map(str::to_owned), sms_monthly_budget_bdt: budget.map(bdt) };
    let event = NewEvent::new(tenant, permitted.subject().into(), "notify.settings.update")
        .target(Target::new("organization", tenant))
        .metadata(json!(settings));
    vextrus_audit::record(&mut tx, event).await?;
    tx.commit().await?;
    Ok(axum::Json(settings))
}

/// The signed one-click unsubscribe link of an email. A security message's link stops the
/// organization's transactional mail to the address (security messages are always sent).
pub(crate) fn unsubscribe_url(notify: &Notify, tenant: TenantId, address: &str, message: &Pending) -> Option<String> {
    let category = match message.category.as_str() {
        "promotional" => "promotional",
        _ => "transactional",
    };
    notify.unsubscribe_link(tenant, address, category)
}

impl Notify {
    /// The one-click link that stops `tenant`'s messages of `category` to `address`.
    pub fn unsubscribe_link(&self, tenant: TenantId, address: &str, category: &str) -> Option<String> {
        let key = self.inner().link_key.as_ref()?;
        let claims = json!({"t": tenant, "a": address, "c": category});
        let payload = URL_SAFE_NO_PAD.encode(claims.to_string());
        let tag = ring::hmac::sign(key, payload.as_bytes());
        let token = format!("{payload}.{}", URL_SAFE_NO_PAD.encode(tag.as_ref()));
        Some(format!("{}/v1/notifications/unsubscribe?token={token}", self.inner().public_url))
    }
}

fn open_token(key: &ring::hmac::Key, token: &str) -> Option<(TenantId, String, String)> {
    let (payload, tag) = token.split_once('.')?;
    if token.len() > 1024 {
        return None;
    }
    ring::hmac::verify(key, payload.as_bytes(), &URL_SAFE_NO_PAD.decode(tag).ok()?).ok()?;
    let claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).ok()?).ok()?;
    let tenant = TenantId::from_uuid(Uuid::parse_str(claims["t"].as_str()?).ok()?);
    Some((tenant, claims["a"].as_str()?.to_owned(), claims["c"].as_str()?.to_owned()))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UnsubscribeParams {
    /// The signed token from the email's `List-Unsubscribe` link.
    pub token: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Unsubscribed {
    pub address: String,
    pub category: String,
}

/// One-click unsubscribe (RFC 8058): the mail client `POST`s `List-Unsubscribe=One-Click` to the
/// link in `List-Unsubscribe`; the address receives no more of that sender's messages of the
/// category (security messages are always sent).
#[utoipa::path(post, path = "/v1/notifications/unsubscribe", tag = "notify",
    params(UnsubscribeParams),
    responses(
        (status = 200, body = Unsubscribed),
        (status = 404, description = "`unsubscribe_link_invalid`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn unsubscribe(
    State(db): State<Database>,
    State(notify): State<Notify>,
    Query(params): Query<UnsubscribeParams>,
) -> Result<axum::Json<Unsubscribed>, ApiError> {
    let invalid = || ApiError::not_found("unsubscribe_link_invalid", "This unsubscribe link is not one of ours.");
    let key = notify.inner().link_key.as_ref().ok_or_else(invalid)?;
    let (tenant, address, category) = open_token(key, &params.token).ok_or_else(invalid)?;
    let mut tx = db.system().await?;
    let added = sqlx::query(
        "INSERT INTO notify.suppressions (tenant_id, address, category) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
    )
    .bind(tenant)
    .bind(&address)
    .bind(&category)
    .execute(tx.conn())
    .await
    .map_err(DbError::from)?;
    if added.rows_affected() == 1 {
        let actor = Actor::new(ActorKind::Anonymous, None, Some(address.clone()));
        let event = NewEvent::new(tenant, actor, "notify.unsubscribe")
            .target(Target::new("address", address.as_str()))
            .metadata(json!({"category": category}));
        vextrus_audit::record(&mut tx, event).await?;
    }
    tx.commit().await?;
    Ok(axum::Json(Unsubscribed { address, category }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct MailboxParams {
    /// Only messages to this address (or E.164 number).
    pub to: Option<String>,
}

/// The dev mailbox: every channel's messages, kept instead of sent, newest first (embedded/dev
/// mode only).
#[utoipa::path(get, path = "/v1/dev/mailbox", tag = "notify", security(("platform_operator" = [])),
    params(MailboxParams),
    responses(
        (status = 200, body = Vec<DevMessage>),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`permission_denied`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`dev_mailbox_disabled`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn dev_mailbox(
    _: Permitted<DevMailboxRead>,
    State(notify): State<Notify>,
    State(db): State<Database>,
    Query(params): Query<MailboxParams>,
) -> Result<axum::Json<Vec<DevMessage>>, ApiError> {
    if !notify.inner().dev {
        return Err(ApiError::not_found("dev_mailbox_disabled", "The dev mailbox exists only in embedded/dev mode."));
    }
    let to = params.to.map(|t| t.trim().to_lowercase());
    let mut tx = db.system().await?;
    let messages = store::dev_mailbox(&mut tx, to.as_deref()).await?;
    tx.commit().await?;
    Ok(axum::Json(messages))
}

//! The signed-in user's side of notify, in the organization of their token: the in-app inbox
//! (list, mark read, archive, a live Server-Sent Events stream), their preferences and quiet hours, and
//! their push devices. Only users have these (403 `users_only` for service accounts and the
//! operator token); one user never sees another's (404).

use std::collections::VecDeque;
use std::convert::Infallible;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use chrono::{DateTime, Utc};
use futures_util::Stream;
use serde::{Deserialize, Serialize};
use serde_json::json;
use sqlx::Row;
use tokio::sync::broadcast::error::RecvError;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;
use vextrus_access::Permitted;
use vextrus_access::model::{Subject, SubjectKind};
use vextrus_audit::{NewEvent, Target};
use vextrus_db::{Database, DbError, TenantId, TenantTx, Tx};
use vextrus_server::{ApiError, AppState, Json, Problem, Query};

use crate::Notify;
use crate::inbox::{Full, Live, Slot};
use crate::permissions::{InboxRead, PreferencesManage};
use crate::prefs::{self, Preferences};

/// At most this many push devices per user in an organization.
pub const DEVICES_PER_USER: u64 = 10;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(inbox))
        .routes(routes!(stream))
        .routes(routes!(mark_read))
        .routes(routes!(archive))
        .routes(routes!(mark_all_read))
        .routes(routes!(get_preferences, put_preferences))
        .routes(routes!(devices, register_device))
        .routes(routes!(remove_device))
}

fn user_of(subject: &Subject) -> Result<(TenantId, Uuid), ApiError> {
    match (subject.kind, subject.tenant()) {
        (SubjectKind::User, Some(tenant)) => Ok((tenant, subject.id)),
        _ => Err(ApiError::new(StatusCode::FORBIDDEN, "users_only", "Users only")
            .detail("Only a signed-in user has an inbox, preferences and devices in an organization.")),
    }
}

/// An in-app message.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct InboxItem {
    pub id: Uuid,
    #[serde(rename = "type")]
    pub kind: String,
    pub subject: Option<String>,
    pub body: Option<String>,
    pub created_at: DateTime<Utc>,
    pub read_at: Option<DateTime<Utc>>,
    pub archived_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct InboxPage {
    pub items: Vec<InboxItem>,
    /// Unread messages (counted up to 1,000).
    pub unread: i64,
    pub next: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct InboxParams {
    /// Only unread messages.
    pub unread: Option<bool>,
    /// The archive instead of the inbox.
    pub archived: Option<bool>,
    /// The `next` of the previous page.
    pub after: Option<String>,
    /// 1 to 100 (default 50).
    pub limit: Option<u32>,
}

const INBOX_COLUMNS: &str = "id, kind, subject, body, created_at, read_at, archived_at";

fn item(r: &sqlx::postgres::PgRow) -> InboxItem {
    InboxItem {
        id: r.get(0),
        kind: r.get(1),
        subject: r.get(2),
        body: r.get(3),
        created_at: r.get(4),
        read_at: r.get(5),
        archived_at: r.get(6),
    }
}

/// Which of the user's in-app messages.
#[derive(Debug, Clone, Copy, Default)]
struct Shelf {
    unread: bool,
    archived: bool,
}

/// The user's in-app messages in `tx`'s organization, newest first: before `before`, or (for a
/// stream catching up) after `after`, oldest first.
async fn items(
    tx: &mut TenantTx,
    user: Uuid,
    shelf: Shelf,
    before: Option<Uuid>,
    after: Option<Uuid>,
    limit: i64,
) -> Result<Vec<InboxItem>, DbError> {
    let order = if after.is_some() { "ASC" } else { "DESC" };
    let sql = format!(
        "SELECT {INBOX_COLUMNS} FROM notify.messages
          WHERE channel = 'in_app' AND user_id = $1 AND status IN ('sent', 'delivered')
            AND (NOT $2 OR read_at IS NULL) AND ($3::uuid IS NULL OR id < $3) AND ($4::uuid IS NULL OR id > $4)
            AND (archived_at IS NOT NULL) = $6
          ORDER BY id {order} LIMIT $5"
    );
    let rows = sqlx::query(&sql)
        .bind(user)
        .bind(shelf.unread)
        .bind(before)
        .bind(after)
        .bind(limit)
        .bind(shelf.archived)
        .fetch_all(tx.conn())
        .await?;
    Ok(rows.iter().map(item).collect())
}

/// The signed-in user's in-app messages (or, with `archived=true`, their archive), newest first.
#[utoipa::path(get, path = "/v1/me/notifications", tag = "notify", security(("bearer" = [])),
    params(InboxParams),
    responses(
        (status = 200, body = InboxPage),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`permission_denied`, `users_only`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`invalid_field`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn inbox(
    permitted: Permitted<InboxRead>,
    State(db): State<Database>,
    Query(params): Query<InboxParams>,
) -> Result<axum::Json<InboxPage>, ApiError> {
    let (tenant, user) = user_of(permitted.subject())?;
    let limit = params.limit.unwrap_or(50);
    if !(1..=100).contains(&limit) {
        return Err(ApiError::invalid_field("limit", "between 1 and 100"));
    }
    let before = params
        .after
        .as_deref()
        .map(|a| Uuid::parse_str(a).map_err(|_| ApiError::invalid_field("after", "not a cursor of this list")))
        .transpose()?;
    let mut tx = db.tenant(tenant).await?;
    let shelf = Shelf { unread: params.unread.unwrap_or(false), archived: params.archived.unwrap_or(false) };
    let mut items = items(&mut tx, user, shelf, before, None, i64::from(limit) + 1).await?;
    let unread: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM (SELECT 1 FROM notify.messages
          WHERE channel = 'in_app' AND user_id = $1 AND status IN ('sent', 'delivered') AND read_at IS NULL
            AND archived_at IS NULL LIMIT 1000) u",
    )
    .bind(user)
    .fetch_one(tx.conn())
    .await
    .map_err(DbError::from)?;
    tx.commit().await?;
    let next = vextrus_db::next_page(&mut items, limit, |m| m.id.to_string());
    Ok(axum::Json(InboxPage { items, unread, next }))
}

/// Mark one in-app message read.
#[utoipa::path(post, path = "/v1/me/notifications/{id}/read", tag = "notify", security(("bearer" = [])),
    params(("id" = String, Path, description = "The message's id")),
    responses(
        (status = 204, description = "Read"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`permission_denied`, `users_only`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`notification_not_found` (also another user's)", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn mark_read(
    permitted: Permitted<InboxRead>,
    State(db): State<Database>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    mark(&permitted, &db, &id, "read_at = COALESCE(read_at, now())", "notify.inbox.read").await
}

/// Sets `set` (a fixed clause) on one of the signed-in user's in-app messages, audited as `action`.
async fn mark(
    permitted: &Permitted<InboxRead>,
    db: &Database,
    id: &str,
    set: &'static str,
    action: &'static str,
) -> Result<StatusCode, ApiError> {
    let (tenant, user) = user_of(permitted.subject())?;
    let not_found = || ApiError::not_found("notification_not_found", "No such message in your inbox.");
    let id = Uuid::parse_str(id).map_err(|_| not_found())?;
    let mut tx = db.tenant(tenant).await?;
    let sql = format!(
        "UPDATE notify.messages SET {set}
          WHERE id = $1 AND user_id = $2 AND channel = 'in_app' AND status IN ('sent', 'delivered')"
    );
    let found = sqlx::query(&sql).bind(id).bind(user).execute(tx.conn()).await.map_err(DbError::from)?.rows_affected();
    if found == 0 {
        return Err(not_found());
    }
    let event = NewEvent::new(tenant, permitted.subject().into(), action).target(Target::new("notification", id));
    vextrus_audit::record(&mut tx, event).await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Archive one in-app message (it leaves the inbox, read).
#[utoipa::path(post, path = "/v1/me/notifications/{id}/archive", tag = "notify", security(("bearer" = [])),
    params(("id" = String, Path, description = "The message's id")),
    responses(
        (status = 204, description = "Archived"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`permission_denied`, `users_only`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`notification_not_found` (also another user's)", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn archive(
    permitted: Permitted<InboxRead>,
    State(db): State<Database>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let set = "archived_at = COALESCE(archived_at, now()), read_at = COALESCE(read_at, now())";
    mark(&permitted, &db, &id, set, "notify.inbox.archive").await
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MarkedRead {
    pub marked: u64,
}

/// Mark every in-app message read.
#[utoipa::path(post, path = "/v1/me/notifications/read", tag = "notify", security(("bearer" = [])),
    responses(
        (status = 200, body = MarkedRead),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`permission_denied`, `users_only`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn mark_all_read(
    permitted: Permitted<InboxRead>,
    State(db): State<Database>,
) -> Result<axum::Json<MarkedRead>, ApiError> {
    let (tenant, user) = user_of(permitted.subject())?;
    let mut tx = db.tenant(tenant).await?;
    let marked = sqlx::query(
        "UPDATE notify.messages SET read_at = now()
          WHERE user_id = $1 AND channel = 'in_app' AND status IN ('sent', 'delivered') AND read_at IS NULL
            AND archived_at IS NULL",
    )
    .bind(user)
    .execute(tx.conn())
    .await
    .map_err(DbError::from)?
    .rows_affected();
    let event = NewEvent::new(tenant, permitted.subject().into(), "notify.inbox.read_all")
        .target(Target::new("user", user))
        .metadata(json!({"marked": marked}));
    vextrus_audit::record(&mut tx, event).await?;
    tx.commit().await?;
    Ok(axum::Json(MarkedRead { marked }))
}

/// The user's in-app messages as they arrive, as Server-Sent Events (`event: notification`, `id`
/// the message's id, `data` an [`InboxItem`]). With `Last-Event-ID` the stream first sends what
/// arrived after that message (up to 100). A stream ends after `notify.inbox.stream_max_secs`
/// (the client reconnects with `Last-Event-ID`), and at once when the user's roles or membership
/// change (the reconnection is authenticated again).
#[utoipa::path(get, path = "/v1/me/notifications/stream", tag = "notify", security(("bearer" = [])),
    params(("Last-Event-ID" = Option<String>, Header, description = "The id of the last message received")),
    responses(
        (status = 200, description = "A `text/event-stream`", content_type = "text/event-stream", body = String),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`permission_denied`, `users_only`", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "`too_many_streams`", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "`streams_full`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn stream(
    permitted: Permitted<InboxRead>,
    State(db): State<Database>,
    State(notify): State<Notify>,
    headers: HeaderMap,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let (tenant, user) = user_of(permitted.subject())?;
    let inbox = &notify.inner().inbox;
    let (slot, receiver) = inbox.open(*tenant.as_uuid(), user).map_err(|full| match full {
        Full::User(n) => ApiError::too_many(
            "too_many_streams",
            format!("You have {n} notification streams open here already; close one."),
            5,
        ),
        Full::Instance => ApiError::unavailable("streams_full", "This instance serves as many streams as it may."),
    })?;
    let last = headers.get("last-event-id").and_then(|v| v.to_str().ok()).and_then(|v| Uuid::parse_str(v.trim()).ok());
    let mut backlog = VecDeque::new();
    if let Some(last) = last {
        let mut tx = db.tenant(tenant).await?;
        backlog.extend(items(&mut tx, user, Shelf::default(), None, Some(last), 100).await?);
        tx.commit().await?;
    }
    let state = Streaming {
        db,
        tenant,
        user,
        receiver,
        backlog,
        recent: VecDeque::new(),
        deadline: tokio::time::Instant::now() + inbox.limits.max_age,
        greeted: false,
        _slot: slot,
    };
    let events = futures_util::stream::unfold(state, |mut s| async move {
        let event = s.next().await?;
        Some((Ok(event), s))
    });
    Ok(Sse::new(events).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}

/// One open stream.
struct Streaming {
    db: Database,
    tenant: TenantId,
    user: Uuid,
    receiver: tokio::sync::broadcast::Receiver<Live>,
    backlog: VecDeque<InboxItem>,
    /// The last ids sent, so catching up never repeats one.
    recent: VecDeque<Uuid>,
    deadline: tokio::time::Instant,
    greeted: bool,
    _slot: Slot,
}

impl Streaming {
    /// The next event, or `None` to end the stream.
    async fn next(&mut self) -> Option<Event> {
        if !self.greeted {
            self.greeted = true;
            return Some(Event::default().comment("ready").retry(Duration::from_secs(3)));
        }
        loop {
            if let Some(item) = self.backlog.pop_front() {
                if self.recent.contains(&item.id) {
                    continue;
                }
                if self.recent.len() == 256 {
                    self.recent.pop_front();
                }
                self.recent.push_back(item.id);
                let event = Event::default().event("notification").id(item.id.to_string());
                return event.json_data(&item).ok();
            }
            let heard = tokio::select! {
                () = tokio::time::sleep_until(self.deadline) => return None,
                heard = self.receiver.recv() => heard,
            };
            let (tenant, user) = (*self.tenant.as_uuid(), self.user);
            let found = match heard {
                Ok(Live::Message { tenant: t, user: u, id }) if t == tenant && u == user => self.fetch(Some(id)).await,
                Ok(live) if live.ends(tenant, user) => return None,
                Ok(Live::Resync) | Err(RecvError::Lagged(_)) => self.fetch(None).await,
                Ok(_) => continue,
                Err(RecvError::Closed) => return None,
            };
            match found {
                Ok(items) => self.backlog.extend(items),
                // The client reconnects with Last-Event-ID and misses nothing.
                Err(_) => return None,
            }
        }
    }

    /// One message by id, or (after a missed notification) the last two minutes' messages.
    async fn fetch(&self, id: Option<Uuid>) -> Result<Vec<InboxItem>, DbError> {
        let mut tx = self.db.tenant(self.tenant).await?;
        let rows = match id {
            Some(id) => {
                let sql = format!(
                    "SELECT {INBOX_COLUMNS} FROM notify.messages WHERE id = $1 AND user_id = $2 AND channel = 'in_app'"
                );
                sqlx::query(&sql).bind(id).bind(self.user).fetch_all(tx.conn()).await?
            }
            None => {
                let sql = format!(
                    "SELECT {INBOX_COLUMNS} FROM notify.messages
                      WHERE user_id = $1 AND channel = 'in_app' AND status IN ('sent', 'delivered')
                        AND sent_at > now() - interval '2 minutes'
                      ORDER BY id LIMIT 100"
                );
                sqlx::query(&sql).bind(self.user).fetch_all(tx.conn()).await?
            }
        };
        tx.commit().await?;
        Ok(rows.iter().map(item).collect())
    }
}

/// The signed-in user's preferences in this organization.
#[utoipa::path(get, path = "/v1/me/notification-preferences", tag = "notify", security(("bearer" = [])),
    responses(
        (status = 200, body = Preferences),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`permission_denied`, `users_only`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn get_preferences(
    permitted: Permitted<PreferencesManage>,
    State(db): State<Database>,
) -> Result<axum::Json<Preferences>, ApiError> {
    let (tenant, user) = user_of(permitted.subject())?;
    let mut tx = db.tenant(tenant).await?;
    let preferences = prefs::load(&mut tx, user).await?;
    tx.commit().await?;
    Ok(axum::Json(preferences))
}

/// Replace the signed-in user's preferences: switches per category and channel (security
/// messages cannot be turned off) and quiet hours (Dhaka time; SMS and push wait for their end).
#[utoipa::path(put, path = "/v1/me/notification-preferences", tag = "notify", security(("bearer" = [])),
    request_body = Preferences,
    responses(
        (status = 200, body = Preferences),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`permission_denied`, `users_only`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`invalid_field`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn put_preferences(
    permitted: Permitted<PreferencesManage>,
    State(db): State<Database>,
    Json(body): Json<Preferences>,
) -> Result<axum::Json<Preferences>, ApiError> {
    let (tenant, user) = user_of(permitted.subject())?;
    body.validate().map_err(|(field, message)| ApiError::invalid_field(field, message))?;
    let mut tx = db.tenant(tenant).await?;
    prefs::save(&mut tx, user, &body).await?;
    let saved = prefs::load(&mut tx, user).await?;
    let event = NewEvent::new(tenant, permitted.subject().into(), "notify.preferences.update")
        .target(Target::new("user", user))
        .metadata(serde_json::to_value(&saved).unwrap_or_default());
    vextrus_audit::record(&mut tx, event).await?;
    tx.commit().await?;
    Ok(axum::Json(saved))
}

/// A push device of the user.
#[derive(Debug, Serialize, ToSchema)]
pub struct Device {
    pub id: Uuid,
    /// `android`, `ios` or `web`.
    pub platform: String,
    pub label: Option<String>,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewDevice {
    /// The FCM registration token of the app on the device.
    pub token: String,
    /// `android`, `ios` or `web`.
    pub platform: String,
    /// The user's name for it ("Office laptop").
    pub label: Option<String>,
}

const DEVICE_COLUMNS: &str = "id, platform, label, created_at, last_used_at";

fn device(r: &sqlx::postgres::PgRow) -> Device {
    Device { id: r.get(0), platform: r.get(1), label: r.get(2), created_at: r.get(3), last_used_at: r.get(4) }
}

/// The signed-in user's push devices in this organization (tokens are never shown).
#[utoipa::path(get, path = "/v1/me/devices", tag = "notify", security(("bearer" = [])),
    responses(
        (status = 200, body = Vec<Device>),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`permission_denied`, `users_only`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn devices(
    permitted: Permitted<PreferencesManage>,
    State(db): State<Database>,
) -> Result<axum::Json<Vec<Device>>, ApiError> {
    let (tenant, user) = user_of(permitted.subject())?;
    let mut tx = db.tenant(tenant).await?;
    let sql = format!("SELECT {DEVICE_COLUMNS} FROM notify.devices WHERE user_id = $1 ORDER BY created_at");
    let rows = sqlx::query(&sql).bind(user).fetch_all(tx.conn()).await.map_err(DbError::from)?;
    tx.commit().await?;
    Ok(axum::Json(rows.iter().map(device).collect()))
}

/// Register a device for push (its FCM registration token). A token already registered in this
/// organization moves to the signed-in user (one app install, a new user signed in).
#[utoipa::path(post, path = "/v1/me/devices", tag = "notify", security(("bearer" = [])),
    request_body = NewDevice,
    responses(
        (status = 201, body = Device),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`permission_denied`, `users_only`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`invalid_field`, `limit_reached`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn register_device(
    permitted: Permitted<PreferencesManage>,
    State(db): State<Database>,
    Json(body): Json<NewDevice>,
) -> Result<(StatusCode, axum::Json<Device>), ApiError> {
    let (tenant, user) = user_of(permitted.subject())?;
    let token = body.token.trim();
    if token.is_empty() || token.len() > 4096 || !token.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(ApiError::invalid_field("token", "an FCM registration token (printable ASCII, at most 4,096)"));
    }
    if !["android", "ios", "web"].contains(&body.platform.as_str()) {
        return Err(ApiError::invalid_field("platform", "android, ios or web"));
    }
    if body.label.as_ref().is_some_and(|l| l.chars().count() > 100 || l.chars().any(char::is_control)) {
        return Err(ApiError::invalid_field("label", "at most 100 characters, no control characters"));
    }
    let mut tx = db.tenant(tenant).await?;
    vextrus_db::limits::lock_count(&mut tx, &format!("devices:{tenant}:{user}")).await?;
    let held: i64 = sqlx::query_scalar("SELECT count(*) FROM notify.devices WHERE user_id = $1 AND token <> $2")
        .bind(user)
        .bind(token)
        .fetch_one(tx.conn())
        .await
        .map_err(DbError::from)?;
    if held >= DEVICES_PER_USER as i64 {
        return Err(ApiError::limit_reached("push devices per user", DEVICES_PER_USER, "notify.devices_per_user"));
    }
    let sql = format!(
        "INSERT INTO notify.devices (tenant_id, id, user_id, token, platform, label) VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (tenant_id, token) DO UPDATE SET user_id = EXCLUDED.user_id, platform = EXCLUDED.platform,
             label = EXCLUDED.label
         RETURNING {DEVICE_COLUMNS}"
    );
    let row = sqlx::query(&sql)
        .bind(tenant)
        .bind(Uuid::now_v7())
        .bind(user)
        .bind(token)
        .bind(&body.platform)
        .bind(&body.label)
        .fetch_one(tx.conn())
        .await
        .map_err(DbError::from)?;
    let registered = device(&row);
    let event = NewEvent::new(tenant, permitted.subject().into(), "notify.device.register")
        .target(Target::new("device", registered.id))
        .metadata(json!({"platform": registered.platform}));
    vextrus_audit::record(&mut tx, event).await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, axum::Json(registered)))
}

/// Remove one of the user's push devices.
#[utoipa::path(delete, path = "/v1/me/devices/{id}", tag = "notify", security(("bearer" = [])),
    params(("id" = String, Path, description = "The device's id")),
    responses(
        (status = 204, description = "Removed"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`permission_denied`, `users_only`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`device_not_found` (also another user's)", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn remove_device(
    permitted: Permitted<PreferencesManage>,
    State(db): State<Database>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let (tenant, user) = user_of(permitted.subject())?;
    let not_found = || ApiError::not_found("device_not_found", "No such device of yours.");
    let id = Uuid::parse_str(&id).map_err(|_| not_found())?;
    let mut tx = db.tenant(tenant).await?;
    let gone = sqlx::query("DELETE FROM notify.devices WHERE id = $1 AND user_id = $2")
        .bind(id)
        .bind(user)
        .execute(tx.conn())
        .await
        .map_err(DbError::from)?
        .rows_affected();
    if gone == 0 {
        return Err(not_found());
    }
    let event =
        NewEvent::new(tenant, permitted.subject().into(), "notify.device.remove").target(Target::new("device", id));
    vextrus_audit::record(&mut tx, event).await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

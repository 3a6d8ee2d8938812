//! Organizations' own texts for message types (`/v1/notifications/templates`): per type and
//! language, checked when saved (parsed, within limits, no variable the type's data lacks), used
//! for every message the organization triggers — at trigger time and when delivery renders again.
//! Security messages (sign-in codes, resets, invitations) keep the platform's words.
//!
//! Each instance keeps the overrides it has read, by organization and type, bounded by bytes;
//! a change is announced on [`CHANNEL`] in its transaction and every instance forgets that
//! organization's entries at commit.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Serialize;
use serde_json::json;
use sqlx::Row;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;
use vextrus_access::Permitted;
use vextrus_audit::{NewEvent, Target};
use vextrus_db::{Database, DbError, Expiring, Reload, TenantId, Tx};
use vextrus_server::{ApiError, AppState, Json, Problem};

use crate::Notify;
use crate::model::{Category, Locale};
use crate::permissions::TemplatesManage;
use crate::templates::{Override, TemplateDef, Texts};

pub const CHANNEL: &str = "vextrus_templates";

type Entry = Arc<Vec<(Locale, Override)>>;

/// The overrides this instance has read.
#[derive(Debug, Clone)]
pub struct Overrides {
    cache: Arc<Expiring<(Uuid, &'static str), Entry>>,
    /// Bumped by every forget: a read that began before it is not kept.
    generation: Arc<AtomicU64>,
}

fn weigh(_: &(Uuid, &'static str), entry: &Entry) -> usize {
    entry
        .iter()
        .map(|(_, o)| {
            64 + o.subject.len()
                + o.text.len()
                + o.html.as_ref().map_or(0, String::len)
                + o.sms.as_ref().map_or(0, String::len)
        })
        .sum::<usize>()
        + 48
}

impl Overrides {
    pub fn new(max_bytes: usize) -> Self {
        Self { cache: Arc::new(Expiring::new(Duration::from_secs(300), max_bytes, weigh)), generation: Arc::default() }
    }

    /// The organization's overrides of `kind` (none, mostly), from memory or the database.
    pub(crate) async fn of(&self, tx: &mut impl Tx, tenant: TenantId, kind: &'static str) -> Result<Entry, DbError> {
        let key = (*tenant.as_uuid(), kind);
        if let Some(entry) = self.cache.get(&key) {
            return Ok(entry);
        }
        let generation = self.generation.load(Ordering::Acquire);
        let rows = sqlx::query(
            "SELECT locale, subject, text, html, sms FROM notify.template_overrides WHERE tenant_id = $1 AND kind = $2",
        )
        .bind(tenant)
        .bind(kind)
        .fetch_all(tx.conn())
        .await?;
        let entry: Entry = Arc::new(
            rows.iter()
                .filter_map(|r| {
                    let own = Override { subject: r.get(1), text: r.get(2), html: r.get(3), sms: r.get(4) };
                    Locale::parse(r.get(0)).ok().map(|l| (l, own))
                })
                .collect(),
        );
        if self.generation.load(Ordering::Acquire) == generation {
            self.cache.put(key, entry.clone());
        }
        Ok(entry)
    }

    /// Forgets what `payload` names (an organization's id; anything else: everything).
    pub(crate) fn forget(&self, payload: &str) {
        self.generation.fetch_add(1, Ordering::AcqRel);
        match payload.parse::<Uuid>() {
            Ok(tenant) => self.cache.retain(|(t, _), _| *t != tenant),
            Err(_) => self.cache.clear(),
        }
    }

    /// Keeps every instance current until `stop` resolves: run it next to the server.
    pub async fn follow(self, db: Database, stop: impl std::future::Future<Output = ()>) {
        let reload = move |what: Reload| {
            let overrides = self.clone();
            async move {
                match what {
                    Reload::Payload(payload) => overrides.forget(&payload),
                    Reload::All => overrides.forget(""),
                }
                Ok::<(), DbError>(())
            }
        };
        vextrus_db::follow(db, CHANNEL, Duration::from_secs(60), "template_overrides", reload, stop).await;
    }
}

/// The override for `locale`, if the entry has one.
pub(crate) fn for_locale(entry: &Entry, locale: Locale) -> Option<&Override> {
    entry.iter().find(|(l, _)| *l == locale).map(|(_, o)| o)
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list)).routes(routes!(get_type)).routes(routes!(put_override, delete_override))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MessageType {
    #[serde(rename = "type")]
    pub kind: String,
    /// `transactional`, `promotional` or `security` (security types cannot be overridden).
    pub category: String,
    /// `email`, `push`, `in_app`, and `sms` where the type has an SMS text.
    pub channels: Vec<String>,
    /// The languages in which the organization has its own texts.
    pub overridden: Vec<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TypeTexts {
    #[serde(flatten)]
    pub summary: MessageType,
    /// The type's own texts, by locale.
    pub defaults: BTreeMap<String, Override>,
    /// The organization's texts, by locale.
    pub overrides: BTreeMap<String, Override>,
}

fn summary(def: &TemplateDef, overridden: Vec<String>) -> MessageType {
    let mut channels = vec!["email".to_owned(), "push".to_owned(), "in_app".to_owned()];
    if def.bn.sms.is_some() && def.en.sms.is_some() {
        channels.insert(1, "sms".to_owned());
    }
    MessageType { kind: def.kind.to_owned(), category: def.category.as_str().to_owned(), channels, overridden }
}

fn defaults(texts: &Texts) -> Override {
    Override {
        subject: texts.subject.to_owned(),
        text: texts.text.to_owned(),
        html: texts.html.map(str::to_owned),
        sms: texts.sms.map(str::to_owned),
    }
}

fn type_not_found() -> ApiError {
    ApiError::not_found("message_type_not_found", "No such message type.")
}

/// Every message type the platform knows, and where the organization has its own texts.
#[utoipa::path(get, path = "/v1/notifications/templates", tag = "notify", security(("bearer" = [])),
    responses(
        (status = 200, body = Vec<MessageType>),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`permission_denied`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn list(
    permitted: Permitted<TemplatesManage>,
    State(db): State<Database>,
    State(notify): State<Notify>,
) -> Result<axum::Json<Vec<MessageType>>, ApiError> {
    let tenant = permitted.tenant()?;
    let mut tx = db.tenant(tenant).await?;
    let rows: Vec<(String, String)> =
        sqlx::query_as("SELECT kind, locale FROM notify.template_overrides ORDER BY kind, locale")
            .fetch_all(tx.conn())
            .await
            .map_err(DbError::from)?;
    tx.commit().await?;
    let templates = &notify.inner().templates;
    let types = templates
        .kinds()
        .into_iter()
        .filter_map(|kind| templates.def(kind))
        .map(|def| {
            let overridden = rows.iter().filter(|(k, _)| k == def.kind).map(|(_, l)| l.clone()).collect();
            summary(def, overridden)
        })
        .collect();
    Ok(axum::Json(types))
}

/// One message type's texts: its own and the organization's.
#[utoipa::path(get, path = "/v1/notifications/templates/{type}", tag = "notify", security(("bearer" = [])),
    params(("type" = String, Path, description = "The message type, e.g. `notify.announcement`")),
    responses(
        (status = 200, body = TypeTexts),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`permission_denied`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`message_type_not_found`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn get_type(
    permitted: Permitted<TemplatesManage>,
    State(db): State<Database>,
    State(notify): State<Notify>,
    Path(kind): Path<String>,
) -> Result<axum::Json<TypeTexts>, ApiError> {
    let tenant = permitted.tenant()?;
    let def = *notify.inner().templates.def(&kind).ok_or_else(type_not_found)?;
    let mut tx = db.tenant(tenant).await?;
    let own = notify.inner().overrides.of(&mut tx, tenant, def.kind).await?;
    tx.commit().await?;
    let overrides: BTreeMap<String, Override> = own.iter().map(|(l, o)| (l.as_str().to_owned(), o.clone())).collect();
    let defaults = BTreeMap::from([("bn-BD".to_owned(), defaults(&def.bn)), ("en".to_owned(), defaults(&def.en))]);
    Ok(axum::Json(TypeTexts { summary: summary(&def, overrides.keys().cloned().collect()), defaults, overrides }))
}

/// The type and locale of a path, for a change.
fn target(notify: &Notify, kind: &str, locale: &str) -> Result<(TemplateDef, Locale), ApiError> {
    let def = *notify.inner().templates.def(kind).ok_or_else(type_not_found)?;
    let locale = Locale::parse(locale).map_err(|_| ApiError::not_found("locale_not_found", "bn-BD or en."))?;
    if def.category == Category::Security {
        return Err(ApiError::new(StatusCode::FORBIDDEN, "template_locked", "Template locked")
            .detail(format!("{} is a security message: it keeps the platform's words.", def.kind)));
    }
    Ok((def, locale))
}

async fn announce(tx: &mut impl Tx, tenant: TenantId) -> Result<(), DbError> {
    sqlx::query("SELECT pg_notify($1, $2)").bind(CHANNEL).bind(tenant.to_string()).execute(tx.conn()).await?;
    Ok(())
}

/// Set the organization's own texts for a message type in one language (checked: it parses, and
/// uses only variables the type's own texts use). Every message it triggers afterwards uses them.
#[utoipa::path(put, path = "/v1/notifications/templates/{type}/{locale}", tag = "notify", security(("bearer" = [])),
    params(
        ("type" = String, Path, description = "The message type"),
        ("locale" = String, Path, description = "`bn-BD` or `en`"),
    ),
    request_body = Override,
    responses(
        (status = 200, body = Override),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`permission_denied`, `template_locked`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`message_type_not_found`, `locale_not_found`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`invalid_field`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn put_override(
    permitted: Permitted<TemplatesManage>,
    State(db): State<Database>,
    State(notify): State<Notify>,
    Path((kind, locale)): Path<(String, String)>,
    Json(body): Json<Override>,
) -> Result<axum::Json<Override>, ApiError> {
    let tenant = permitted.tenant()?;
    let (def, locale) = target(&notify, &kind, &locale)?;
    notify
        .inner()
        .templates
        .check_override(def.kind, locale, &body)
        .map_err(|(field, message)| ApiError::invalid_field(field, message))?;
    let mut tx = db.tenant(tenant).await?;
    sqlx::query(
        "INSERT INTO notify.template_overrides (tenant_id, kind, locale, subject, text, html, sms, updated_by)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
         ON CONFLICT (tenant_id, kind, locale) DO UPDATE SET subject = EXCLUDED.subject, text = EXCLUDED.text,
             html = EXCLUDED.html, sms = EXCLUDED.sms, updated_by = EXCLUDED.updated_by, updated_at = now()",
    )
    .bind(tenant)
    .bind(def.kind)
    .bind(locale.as_str())
    .bind(&body.subject)
    .bind(&body.text)
    .bind(&body.html)
    .bind(&body.sms)
    .bind(permitted.subject().id)
    .execute(tx.conn())
    .await
    .map_err(DbError::from)?;
    let event = NewEvent::new(tenant, permitted.subject().into(), "notify.template.update")
        .target(Target::new("message_type", def.kind))
        .metadata(json!({"locale": locale.as_str(), "texts": body}));
    vextrus_audit::record(&mut tx, event).await?;
    announce(&mut tx, tenant).await?;
    tx.commit().await?;
    notify.inner().overrides.forget(&tenant.to_string());
    Ok(axum::Json(body))
}

/// Go back to the type's own texts in one language.
#[utoipa::path(delete, path = "/v1/notifications/templates/{type}/{locale}", tag = "notify", security(("bearer" = [])),
    params(
        ("type" = String, Path, description = "The message type"),
        ("locale" = String, Path, description = "`bn-BD` or `en`"),
    ),
    responses(
        (status = 204, description = "The type's own texts again"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`permission_denied`, `template_locked`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`message_type_not_found`, `locale_not_found`, `template_override_not_found`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn delete_override(
    permitted: Permitted<TemplatesManage>,
    State(db): State<Database>,
    State(notify): State<Notify>,
    Path((kind, locale)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let tenant = permitted.tenant()?;
    let (def, locale) = target(&notify, &kind, &locale)?;
    let mut tx = db.tenant(tenant).await?;
    let gone = sqlx::query("DELETE FROM notify.template_overrides WHERE kind = $1 AND locale = $2")
        .bind(def.kind)
        .bind(locale.as_str())
        .execute(tx.conn())
        .await
        .map_err(DbError::from)?
        .rows_affected();
    if gone == 0 {
        return Err(ApiError::not_found("template_override_not_found", "The organization has no own texts here."));
    }
    let event = NewEvent::new(tenant, permitted.subject().into(), "notify.template.delete")
        .target(Target::new("message_type", def.kind))
        .metadata(json!({"locale": locale.as_str()}));
    vextrus_audit::record(&mut tx, event).await?;
    announce(&mut tx, tenant).await?;
    tx.commit().await?;
    notify.inner().overrides.forget(&tenant.to_string());
    Ok(StatusCode::NO_CONTENT)
}

//! Publish webhooks: an organization registers URLs (`/v1/registry/webhooks`) that receive a
//! signed JSON event when one of its packages is published (`package.publish`), unpublished
//! (`package.unpublish`) or re-tagged (`package.dist_tag`), and — this is the platform's one
//! webhook delivery — when one of its notifications is sent, delivered or fails
//! (`notification.*`, announced by notify through the binary). Each event becomes one job per
//! subscribed URL, enqueued in the change's own transaction, so nothing is announced that did not
//! happen and nothing that happened is lost; the job queue retries a failed delivery with
//! backoff. A delivery is a `POST` of
//! `{"event", "delivery", "organization", "occurred_at", "data"}` with `X-Vextrus-Event`,
//! `X-Vextrus-Delivery` and `X-Vextrus-Signature-256: sha256=<hex HMAC-SHA256 of the body>`
//! (keyed with the secret shown once at registration). The same delivery id is sent on every
//! attempt, so receivers can drop duplicates.

use std::net::IpAddr;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::ToSchema;
use uuid::Uuid;
use vextrus_access::Permitted;
use vextrus_audit::{NewEvent, Target};
use vextrus_db::jobs::{self, HandlerError, Job, JobContext, Registry};
use vextrus_db::{Database, DbError, TenantId, Tx};
use vextrus_server::{ApiError, Json, Problem};

use crate::{RegistrySettings, WebhooksManage};

/// The events a webhook may subscribe to: the registry's, and notify's message outcomes
/// (`notification.sent`, `.delivered`, `.failed`), which the binary passes here.
pub const EVENTS: [&str; 6] = [
    "package.publish",
    "package.unpublish",
    "package.dist_tag",
    "notification.sent",
    "notification.delivered",
    "notification.failed",
];
const SEAL_CONTEXT: &str = "registry-webhook-secret";
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewWebhook {
    /// Where events are `POST`ed (`https://…`; `http://` too).
    pub url: String,
    /// Which events (`package.publish`, `package.unpublish`, `package.dist_tag`,
    /// `notification.sent`, `notification.delivered`, `notification.failed`); absent: the three
    /// package events.
    pub events: Option<Vec<String>>,
}

#[derive(Debug, Serialize, ToSchema, sqlx::FromRow)]
pub struct Webhook {
    pub id: Uuid,
    pub url: String,
    pub events: Vec<String>,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedWebhook {
    #[serde(flatten)]
    pub webhook: Webhook,
    /// The HMAC-SHA256 key of `X-Vextrus-Signature-256`: shown this once, never again.
    pub secret: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookList {
    pub items: Vec<Webhook>,
}

fn unavailable() -> ApiError {
    ApiError::unavailable("webhooks_unavailable", "Webhooks need the registry's keys, which this instance lacks.")
}

/// Checks a webhook URL: http(s), a host, no credentials in it.
fn parse_url(text: &str) -> Result<url::Url, String> {
    let url = url::Url::parse(text.trim()).map_err(|e| format!("not a URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err("must be an http:// or https:// URL".into());
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err("must name a host".into());
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("must not carry credentials (the signature authenticates deliveries)".into());
    }
    if text.len() > 2048 {
        return Err("must be at most 2048 characters".into());
    }
    Ok(url)
}

/// The organization's webhooks (never their secrets).
#[utoipa::path(get, path = "/v1/registry/webhooks", tag = "registry", security(("bearer" = [])),
    responses(
        (status = 200, body = WebhookList),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`permission_denied`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn list_webhooks(
    permitted: Permitted<WebhooksManage>,
    State(db): State<Database>,
) -> Result<axum::Json<WebhookList>, ApiError> {
    let tenant = permitted.tenant()?;
    let mut tx = db.tenant(tenant).await?;
    let items = sqlx::query_as(
        "SELECT id, url, events, created_at FROM registry.webhooks WHERE tenant_id = $1 ORDER BY created_at",
    )
    .bind(tenant)
    .fetch_all(tx.conn())
    .await
    .map_err(DbError::from)?;
    tx.commit().await?;
    Ok(axum::Json(WebhookList { items }))
}

/// Register a URL for the organization's package events; answers the signing secret once.
#[utoipa::path(post, path = "/v1/registry/webhooks", tag = "registry", security(("bearer" = [])),
    request_body = NewWebhook,
    responses(
        (status = 201, body = CreatedWebhook),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`permission_denied`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`invalid_field`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn create_webhook(
    permitted: Permitted<WebhooksManage>,
    State(db): State<Database>,
    State(settings): State<RegistrySettings>,
    State(limits): State<vextrus_server::Limits>,
    Json(body): Json<NewWebhook>,
) -> Result<(StatusCode, axum::Json<CreatedWebhook>), ApiError> {
    let tenant = permitted.tenant()?;
    let url = parse_url(&body.url).map_err(|m| ApiError::invalid_field("url", m))?;
    let events = match body.events {
        None => EVENTS[..3].iter().map(|e| (*e).to_owned()).collect(),
        Some(events) if events.is_empty() => {
            return Err(ApiError::invalid_field("events", "list at least one event, or leave it out for all"));
        }
        Some(events) => {
            if let Some((i, bad)) = events.iter().enumerate().find(|(_, e)| !EVENTS.contains(&e.as_str())) {
                let message = format!("{bad:?} is not one of {}", EVENTS.join(", "));
                return Err(ApiError::invalid_field(format!("events[{i}]"), message));
            }
            let mut events = events;
            events.sort();
            events.dedup();
            events
        }
    };
    let signing = settings.signing.as_ref().ok_or_else(unavailable)?;
    let secret = format!("whsec_{}", crate::credentials::random_secret());
    let mut tx = db.tenant(tenant).await?;
    vextrus_db::limits::lock_count(&mut tx, &format!("webhooks:{tenant}")).await?;
    let existing: i64 = sqlx::query_scalar("SELECT count(*) FROM registry.webhooks WHERE tenant_id = $1")
        .bind(tenant)
        .fetch_one(tx.conn())
        .await
        .map_err(DbError::from)?;
    if existing >= i64::from(limits.webhooks_per_org) {
        return Err(ApiError::limit_reached("webhooks", limits.webhooks_per_org.into(), "limits.webhooks_per_org"));
    }
    let webhook: Webhook = sqlx::query_as(
        "INSERT INTO registry.webhooks (tenant_id, id, url, events, secret_sealed) VALUES ($1, $2, $3, $4, $5)
         RETURNING id, url, events, created_at",
    )
    .bind(tenant)
    .bind(Uuid::now_v7())
    .bind(url.as_str())
    .bind(&events)
    .bind(signing.master().seal(SEAL_CONTEXT, secret.as_bytes()))
    .fetch_one(tx.conn())
    .await
    .map_err(DbError::from)?;
    let event = NewEvent::new(tenant, permitted.subject().into(), "registry.webhook.create")
        .target(Target::new("webhook", webhook.id))
        .metadata(json!({"url": webhook.url, "events": webhook.events}));
    vextrus_audit::record(&mut tx, event).await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, axum::Json(CreatedWebhook { webhook, secret })))
}

/// Remove a webhook; deliveries not yet made are dropped.
#[utoipa::path(delete, path = "/v1/registry/webhooks/{id}", tag = "registry", security(("bearer" = [])),
    params(("id" = String, Path, description = "The webhook's id")),
    responses(
        (status = 204, description = "Removed"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`permission_denied`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`webhook_not_found`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn delete_webhook(
    permitted: Permitted<WebhooksManage>,
    State(db): State<Database>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let tenant = permitted.tenant()?;
    let not_found = || ApiError::not_found("webhook_not_found", "No such webhook.");
    let id = Uuid::parse_str(&id).map_err(|_| not_found())?;
    let mut tx = db.tenant(tenant).await?;
    let removed = sqlx::query("DELETE FROM registry.webhooks WHERE tenant_id = $1 AND id = $2")
        .bind(tenant)
        .bind(id)
        .execute(tx.conn())
        .await
        .map_err(DbError::from)?
        .rows_affected();
    if removed == 0 {
        return Err(not_found());
    }
    let event =
        NewEvent::new(tenant, permitted.subject().into(), "registry.webhook.delete").target(Target::new("webhook", id));
    vextrus_audit::record(&mut tx, event).await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

/// One delivery of one event to one webhook.
#[derive(Debug, Serialize, Deserialize)]
pub struct DeliverWebhook {
    pub webhook: Uuid,
    pub event: String,
    pub delivery: Uuid,
    pub occurred_at: DateTime<Utc>,
    pub data: Value,
}

impl Job for DeliverWebhook {
    const KIND: &'static str = "registry.deliver_webhook";
}

/// Enqueues `event` for every webhook of the organization that subscribed to it, in the
/// transaction of the change it announces (the organization's, or the system path's).
pub async fn announce(tx: &mut impl Tx, tenant: TenantId, event: &str, data: Value) -> Result<(), DbError> {
    let hooks: Vec<Uuid> =
        sqlx::query_scalar("SELECT id FROM registry.webhooks WHERE tenant_id = $1 AND $2 = ANY (events)")
            .bind(tenant)
            .bind(event)
            .fetch_all(tx.conn())
            .await?;
    let occurred_at = Utc::now();
    for webhook in hooks {
        let job = DeliverWebhook {
            webhook,
            event: event.to_owned(),
            delivery: Uuid::now_v7(),
            occurred_at,
            data: data.clone(),
        };
        jobs::enqueue_for(tx, tenant, &job, jobs::EnqueueOptions::default()).await?;
    }
    Ok(())
}

/// Whether an address is one deliveries may not reach unless the configuration allows it:
/// loopback, private, link-local (cloud metadata), unspecified — or any address of this host's
/// own interfaces, whatever its range (a public address of ours is still ourselves).
fn is_refused(ip: IpAddr) -> bool {
    is_internal(ip) || host_addresses().contains(&ip.to_canonical())
}

/// The addresses of this host's interfaces, as the kernel lists them (Linux: the local routes of
/// `/proc/net/fib_trie`, and `/proc/net/if_inet6`); elsewhere none beyond the ranges above.
fn host_addresses() -> Vec<IpAddr> {
    let mut found = Vec::new();
    if let Ok(trie) = std::fs::read_to_string("/proc/net/fib_trie") {
        let mut last: Option<IpAddr> = None;
        for line in trie.lines() {
            let line = line.trim();
            if let Some(address) = line.strip_prefix("|-- ") {
                last = address.parse().ok();
            } else if line.ends_with("host LOCAL")
                && let Some(address) = last
                && !found.contains(&address)
            {
                found.push(address);
            }
        }
    }
    if let Ok(inet6) = std::fs::read_to_string("/proc/net/if_inet6") {
        for hex in inet6.lines().filter_map(|l| l.split_whitespace().next()) {
            if let Ok(bits) = u128::from_str_radix(hex, 16) {
                found.push(IpAddr::V6(std::net::Ipv6Addr::from(bits)));
            }
        }
    }
    found
}

fn is_internal(ip: IpAddr) -> bool {
    match ip.to_canonical() {
        IpAddr::V4(v4) => {
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.octets()[0] == 100 && (v4.octets()[1] & 0xc0) == 64 // carrier-grade NAT
        }
        IpAddr::V6(v6) => {
            v6.is_loopback() || v6.is_unspecified() || (v6.segments()[0] & 0xfe00) == 0xfc00 // unique local
                || (v6.segments()[0] & 0xffc0) == 0xfe80 // link-local
        }
    }
}

pub fn register_jobs(registry: &mut Registry, settings: RegistrySettings) {
    registry.register(move |ctx: JobContext, job: DeliverWebhook| {
        let settings = settings.clone();
        async move { deliver(&ctx, &settings, job).await }
    });
}

async fn deliver(ctx: &JobContext, settings: &RegistrySettings, job: DeliverWebhook) -> Result<(), HandlerError> {
    let mut tx = ctx.db.tenant(ctx.tenant).await?;
    let found: Option<(String, Vec<u8>, Option<f64>)> = sqlx::query_as(
        "SELECT url, secret_sealed, extract(epoch FROM down_until - now())::float8
           FROM registry.webhooks WHERE tenant_id = $1 AND id = $2",
    )
    .bind(ctx.tenant)
    .bind(job.webhook)
    .fetch_optional(tx.conn())
    .await
    .map_err(DbError::from)?;
    tx.commit().await?;
    let Some((url, sealed, down_for)) = found else {
        return Ok(()); // removed since: nothing to deliver
    };
    if let Some(seconds) = down_for.filter(|s| *s > 0.0) {
        // The endpoint is backing off: wait with it, without spending this delivery's attempts.
        let after = Duration::from_secs_f64(seconds);
        return Err(jobs::Defer { after, reason: "the endpoint is backing off after repeated failures".into() }.into());
    }
    let outcome = attempt_delivery(ctx, settings, &job, &url, &sealed).await;
    endpoint_outcome(ctx, job.webhook, outcome.is_ok()).await?;
    outcome
}

/// Failures in a row before an endpoint backs off, and the longest it waits.
const ENDPOINT_FREE_FAILURES: i32 = 3;
const ENDPOINT_MAX_BACKOFF_SECS: f64 = 3600.0;

/// Records how a delivery to an endpoint went: a success resets it; from the third failure in a
/// row on, the endpoint waits 2, 4, 8 … seconds (at most an hour) before anything is sent to it.
async fn endpoint_outcome(ctx: &JobContext, webhook: Uuid, ok: bool) -> Result<(), HandlerError> {
    let mut tx = ctx.db.tenant(ctx.tenant).await?;
    sqlx::query(
        "UPDATE registry.webhooks
            SET failures = CASE WHEN $3 THEN 0 ELSE failures + 1 END,
                down_until = CASE WHEN $3 OR failures + 1 < $4 THEN NULL
                                  ELSE now() + make_interval(secs => least($5, power(2, least(failures + 2 - $4, 20))))
                             END
          WHERE tenant_id = $1 AND id = $2",
    )
    .bind(ctx.tenant)
    .bind(webhook)
    .bind(ok)
    .bind(ENDPOINT_FREE_FAILURES)
    .bind(ENDPOINT_MAX_BACKOFF_SECS)
    .execute(tx.conn())
    .await
    .map_err(DbError::from)?;
    tx.commit().await?;
    Ok(())
}

async fn attempt_delivery(
    ctx: &JobContext,
    settings: &RegistrySettings,
    job: &DeliverWebhook,
    url: &str,
    sealed: &[u8],
) -> Result<(), HandlerError> {
    let signing = settings.signing.as_ref().ok_or("the registry's keys are not loaded")?;
    let secret = signing.master().open(SEAL_CONTEXT, sealed).map_err(|e| e.to_string())?;
    let body = serde_json::to_vec(&json!({
        "event": job.event,
        "delivery": job.delivery,
        "organization": ctx.tenant,
        "occurred_at": job.occurred_at,
        "data": job.data,
    }))
    .map_err(|e| e.to_string())?;
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &secret);
    let signature = crate::service::hex(ring::hmac::sign(&key, &body).as_ref());

    // The address is resolved here, checked, and pinned for the request (no second lookup a
    // rebinding DNS could answer differently).
    let url = url::Url::parse(url).map_err(|e| e.to_string())?;
    let host = url.host_str().ok_or("the webhook URL has no host")?.to_owned();
    let port = url.port_or_known_default().unwrap_or(443);
    let address = tokio::net::lookup_host((host.trim_matches(['[', ']']), port))
        .await
        .map_err(|e| format!("{host}: {e}"))?
        .next()
        .ok_or_else(|| format!("{host} has no address"))?;
    if is_refused(address.ip()) && !settings.webhooks_reach_internal {
        // Not retried into success: the configuration must change first.
        tracing::warn!(webhook = %job.webhook, %address, "webhook URL resolves to an internal address; not delivered");
        return Err(format!("{host} resolves to an internal address ({})", address.ip()).into());
    }
    let client = reqwest::Client::builder()
        .resolve(&host, address)
        .redirect(reqwest::redirect::Policy::none())
        .timeout(DELIVERY_TIMEOUT)
        .user_agent(concat!("vextrus-webhooks/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| e.to_string())?;
    let response = client
        .post(url)
        .header("content-type", "application/json")
        .header("x-vextrus-event", &job.event)
        .header("x-vextrus-delivery", job.delivery.to_string())
        .header("x-vextrus-signature-256", format!("sha256={signature}"))
        .body(body)
        .send()
        .await
        .map_err(|e| e.without_url().to_string())?;
    metrics::counter!("vextrus_registry_webhook_deliveries_total", "status" => response.status().as_u16().to_string())
        .increment(1);
    if !response.status().is_success() {
        return Err(format!("the receiver answered {}", response.status()).into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_address_of_this_host_is_refused_whatever_its_range() {
        let own = host_addresses();
        assert!(own.contains(&"127.0.0.1".parse().unwrap()), "{own:?}");
        for address in &own {
            assert!(is_refused(*address), "{address} is this host's");
        }
        // On this machine's image the interface has a documentation-range address, which no
        // range check alone would catch.
        let beyond_ranges: Vec<&IpAddr> = own.iter().filter(|a| !is_internal(**a)).collect();
        eprintln!("own addresses outside the private ranges: {beyond_ranges:?}");
        assert!(!is_refused("93.184.215.14".parse().unwrap()), "a stranger's public address");
    }

    #[test]
    fn urls_and_addresses_are_checked() {
        assert!(parse_url("https://hooks.example.com/npm").is_ok());
        assert!(parse_url("ftp://hooks.example.com/").is_err());
        assert!(parse_url("https://user:pw@hooks.example.com/").is_err());
        assert!(parse_url("not a url").is_err());
        for internal in ["127.0.0.1", "10.1.2.3", "192.168.0.10", "169.254.169.254", "::1", "fd00::1", "100.64.0.1"] {
            assert!(is_internal(internal.parse().unwrap()), "{internal}");
        }
        for public in ["203.0.113.7", "8.8.8.8", "2001:db8::1"] {
            assert!(!is_internal(public.parse().unwrap()), "{public}");
        }
    }
}

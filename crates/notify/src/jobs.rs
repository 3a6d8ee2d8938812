//! Delivery: one job per message, enqueued in the transaction that made the message. The job
//! renders the message (unless the trigger already did), hands it to the channel's providers in
//! order — skipping those whose breaker is open — and records every attempt and the outcome in
//! one transaction. A provider that refuses the message fails it; one that cannot take it now
//! passes it to the next; when none could, the job is retried with backoff, and after its last
//! attempt the message fails.
//!
//! The window for a duplicate: a worker that dies after a provider accepted a message and before
//! its transaction commits delivers it again on the retry. SSL Wireless recognises the retry by
//! its `csms_id` (4023 DUPLICATE) and does not send twice; SMTP servers, Alpha SMS and FCM have
//! no such key, so for them the window is that commit (milliseconds). In-app messages are written
//! by the delivering transaction itself.

use std::time::Instant;

use chrono::Utc;
use serde::{Deserialize, Serialize};
use uuid::Uuid;
use vextrus_db::jobs::{self, Defer, EnqueueOptions, HandlerError, Job, JobContext, Registry};
use vextrus_db::{SystemTx, TenantId};

use crate::model::{Channel, Phone};
use crate::providers::breaker::Verdict;
use crate::providers::fcm::{Fcm, NAME as FCM, PushError};
use crate::providers::smtp::Email;
use crate::providers::{Accepted, SendError};
use crate::store::{self, AttemptRow, DevMail, Outcome, Pending};
use crate::templates::{Override, Rendered};
use crate::{Notify, SmsProvider};

const DEV: &str = "dev";
const INBOX: &str = "inbox";

#[derive(Debug, Serialize, Deserialize)]
pub struct Deliver {
    pub message: Uuid,
}

impl Job for Deliver {
    const KIND: &'static str = "notify.deliver";
    const MAX_ATTEMPTS: Option<i32> = Some(8);
}

/// Asks the SMS provider for the delivery report of a sent message. Enqueued on the system path,
/// so it names the message's organization itself.
#[derive(Debug, Serialize, Deserialize)]
pub struct PollReport {
    pub tenant: TenantId,
    pub message: Uuid,
}

impl Job for PollReport {
    const KIND: &'static str = "notify.poll_report";
    const MAX_ATTEMPTS: Option<i32> = Some(10);
}

pub fn register_jobs(registry: &mut Registry, notify: Notify) {
    let deliveries = notify.clone();
    registry.register(move |ctx: JobContext, job: Deliver| {
        let notify = deliveries.clone();
        async move { deliver(&notify, &ctx, job.message).await }
    });
    registry.register(move |ctx: JobContext, job: PollReport| {
        let notify = notify.clone();
        async move { poll_report(&notify, &ctx, job.tenant, job.message).await }
    });
}

/// What one delivery did, to be recorded in one transaction.
struct Record {
    attempts: Vec<(String, &'static str, String, Option<i64>)>,
}

impl Record {
    fn push(&mut self, provider: &str, outcome: &'static str, response: impl Into<String>, cost: Option<i64>) {
        self.attempts.push((provider.to_owned(), outcome, response.into(), cost));
    }

    fn rows(&self) -> Vec<AttemptRow<'_>> {
        self.attempts
            .iter()
            .map(|(provider, outcome, response, cost)| AttemptRow { provider, outcome, response, cost: *cost })
            .collect()
    }

    /// The attempts alone, for a delivery that will be tried again.
    async fn write(&self, tx: &mut SystemTx, tenant: TenantId, id: Uuid) -> Result<(), HandlerError> {
        for row in self.rows() {
            store::insert_attempt(tx, tenant, id, &row).await?;
        }
        Ok(())
    }
}

async fn deliver(notify: &Notify, ctx: &JobContext, id: Uuid) -> Result<(), HandlerError> {
    let tenant = ctx.tenant;
    // Reads without a transaction (one statement each; the overrides mostly from memory).
    let mut reads = ctx.db.system_reads().await?;
    let Some(message) = store::pending(&mut reads, tenant, id).await? else {
        return Ok(());
    };
    if message.status != "queued" {
        return Ok(());
    }
    if message.suppressed {
        drop(reads);
        let mut tx = ctx.db.system().await?;
        let outcome =
            Outcome { status: "failed", error: Some("the recipient unsubscribed from these messages"), ..outcome() };
        settle(notify, &mut tx, tenant, id, &message, &outcome).await?;
        ctx.finish_in(&mut tx).await?;
        tx.commit().await?;
        count(message.channel, "none", "suppressed");
        return Ok(());
    }
    // The organization's own texts (security messages keep the platform's).
    let static_kind = notify.inner().templates.def(&message.kind).map(|d| d.kind);
    let own = match static_kind {
        Some(kind) if message.category != "security" && tenant != TenantId::PLATFORM => {
            Some(notify.inner().overrides.of(&mut reads, tenant, kind).await?)
        }
        _ => None,
    };
    drop(reads);
    let wait = message.not_before - Utc::now();
    if wait > chrono::Duration::zero() {
        let after = wait.to_std().unwrap_or_default();
        return Err(Box::new(Defer { after, reason: "held until BTRC's window opens".into() }));
    }
    let own = own.as_ref().and_then(|o| crate::overrides::for_locale(o, message.locale));
    let rendered = match render(notify, &message, own) {
        Ok(r) => r,
        Err(error) => {
            let mut tx = ctx.db.system().await?;
            let outcome = Outcome { status: "failed", error: Some(&error), ..outcome() };
            settle(notify, &mut tx, tenant, id, &message, &outcome).await?;
            ctx.finish_in(&mut tx).await?;
            tx.commit().await?;
            count(message.channel, "none", "failed");
            return Ok(());
        }
    };
    let mut record = Record { attempts: Vec::new() };
    let sent = send(notify, ctx, id, &message, &rendered, &mut record).await;
    let attempts = record.rows();
    let mut tx = ctx.db.system().await?;
    let last_try = ctx.attempt >= Deliver::MAX_ATTEMPTS.unwrap_or(8);
    let result = match &sent {
        Ok((provider, accepted, cost)) => {
            if *provider == DEV {
                let mail = DevMail {
                    id,
                    tenant,
                    kind: &message.kind,
                    channel: message.channel,
                    recipient: &message.recipient,
                    subject: rendered.subject.as_deref(),
                    body: &rendered.text,
                    html: rendered.html.as_deref(),
                };
                store::deliver_to_dev_mailbox(&mut tx, &mail).await?;
            }
            let outcome = Outcome {
                status: "sent",
                provider: Some(provider),
                provider_id: accepted.provider_id.as_deref(),
                subject: rendered.subject.as_deref(),
                body: Some(&rendered.text),
                cost: *cost,
                attempts: &attempts,
                ..outcome()
            };
            settle(notify, &mut tx, tenant, id, &message, &outcome).await?;
            if let (Channel::InApp, Some(user)) = (message.channel, message.user_id) {
                crate::inbox::announce(&mut tx, *tenant.as_uuid(), user, id).await?;
            }
            if message.channel == Channel::Sms
                && *provider == crate::providers::alpha::NAME
                && accepted.provider_id.is_some()
            {
                let run_at = Utc::now() + chrono::Duration::from_std(notify.inner().report_after).unwrap_or_default();
                let options = EnqueueOptions { run_at: Some(run_at), dedup_key: None };
                jobs::enqueue_with(&mut tx, &PollReport { tenant, message: id }, options).await?;
            }
            let latency = (Utc::now() - message.created_at).to_std().unwrap_or_default();
            metrics::histogram!("vextrus_notify_delivery_seconds", "channel" => message.channel.as_str())
                .record(latency.as_secs_f64());
            count(message.channel, provider, "sent");
            Ok(())
        }
        Err(failure) => {
            let (reason, ends, why) = match failure {
                Failure::Rejected(r) => (r, true, "rejected"),
                Failure::Unavailable(r) | Failure::Later(r, _) => (r, last_try, "failed"),
            };
            match failure {
                // Refused, or out of attempts: the message fails.
                _ if ends => {
                    let failed = Outcome { status: "failed", error: Some(reason), attempts: &attempts, ..outcome() };
                    settle(notify, &mut tx, tenant, id, &message, &failed).await?;
                    count(message.channel, "none", why);
                    Ok(())
                }
                // The provider said when to come back (FCM's Retry-After, a rate limit).
                Failure::Later(_, after) => {
                    record.write(&mut tx, tenant, id).await?;
                    Err(Box::new(Defer { after: *after, reason: reason.clone() }) as HandlerError)
                }
                _ => {
                    record.write(&mut tx, tenant, id).await?;
                    Err(HandlerError::from(reason.clone()))
                }
            }
        }
    };
    // The job ends with the outcome it recorded, in the same commit.
    if result.is_ok() {
        ctx.finish_in(&mut tx).await?;
    }
    tx.commit().await?;
    result
}

fn outcome<'a>() -> Outcome<'a> {
    Outcome {
        status: "failed",
        provider: None,
        provider_id: None,
        subject: None,
        body: None,
        error: None,
        cost: None,
        attempts: &[],
    }
}

fn count(channel: Channel, provider: &str, outcome: &'static str) {
    metrics::counter!("vextrus_notify_messages_total", "channel" => channel.as_str(), "provider" => provider.to_owned(), "outcome" => outcome)
        .increment(1);
}

fn render(notify: &Notify, message: &Pending, own: Option<&Override>) -> Result<Rendered, String> {
    if let (Some(body), Channel::Sms) = (&message.body, message.channel) {
        return Ok(Rendered { subject: None, text: body.clone(), html: None });
    }
    let data = message.data.clone().unwrap_or(serde_json::Value::Null);
    let templates = &notify.inner().templates;
    templates.render_with(&message.kind, message.locale, message.channel, &data, own).map_err(|e| e.to_string())
}

enum Failure {
    Rejected(String),
    Unavailable(String),
    /// Unavailable, and the provider said for how long.
    Later(String, std::time::Duration),
}

/// Hands the message to the channel's providers in order; the provider that took it, its answer
/// and the cost.
async fn send(
    notify: &Notify,
    ctx: &JobContext,
    id: Uuid,
    message: &Pending,
    rendered: &Rendered,
    record: &mut Record,
) -> Result<(&'static str, Accepted, Option<i64>), Failure> {
    let inner = notify.inner();
    match message.channel {
        Channel::Email if !inner.email.is_empty() => {
            let unsubscribe = crate::http::unsubscribe_url(notify, ctx.tenant, &message.recipient, message);
            let email = Email {
                id,
                to: &message.recipient,
                subject: rendered.subject.as_deref().unwrap_or_default(),
                text: &rendered.text,
                html: rendered.html.as_deref(),
                unsubscribe: unsubscribe.as_deref(),
            };
            let tenant = *ctx.tenant.as_uuid();
            let (route, accepted) = failover(&inner.email, record, |route| route.provider.send(&email, tenant)).await?;
            let name = route.provider.name();
            record.push(name, "accepted", &accepted.response, None);
            Ok((name, accepted, None))
        }
        Channel::Sms if !inner.sms.is_empty() => {
            let phone = Phone::parse(&message.recipient).map_err(Failure::Rejected)?;
            let parts = i64::from(message.segments.unwrap_or(1));
            let text = &rendered.text;
            let sender = message.sender_id.as_deref();
            // The organization's own account, alone; else the platform's providers in order.
            let own = message.own_sms.as_ref().map(|own| crate::accounts::route(notify, own));
            let own = own.transpose().map_err(Failure::Unavailable)?;
            let routes = own.as_ref().map_or(&inner.sms[..], std::slice::from_ref);
            let (route, accepted) =
                failover(routes, record, |route| route.provider.send(id, &phone, text, sender)).await?;
            let name = route.provider.name();
            let cost = parts * route.rate;
            metrics::counter!("vextrus_notify_sms_segments_total", "provider" => name).increment(parts as u64);
            metrics::counter!("vextrus_notify_sms_cost_paisa_total", "provider" => name).increment((cost / 100) as u64);
            record.push(name, "accepted", &accepted.response, Some(cost));
            Ok((name, accepted, Some(cost)))
        }
        Channel::InApp => {
            record.push(INBOX, "accepted", "in the user's inbox", None);
            Ok((INBOX, Accepted { provider_id: None, response: "inbox".into() }, None))
        }
        Channel::Push if inner.fcm.is_some() => {
            let fcm = inner.fcm.as_ref().expect("checked");
            push(fcm, ctx, id, message, rendered, record).await
        }
        _ if inner.dev => {
            record.push(DEV, "accepted", "kept in the dev mailbox", None);
            Ok((DEV, Accepted { provider_id: None, response: "dev mailbox".into() }, None))
        }
        channel => Err(Failure::Unavailable(format!("no provider delivers {} on this instance", channel.as_str()))),
    }
}

/// A provider of a channel behind its breaker, tried in order.
pub(crate) trait Route {
    fn name(&self) -> &'static str;
    fn breaker(&self) -> &crate::providers::Breaker;
    fn limit(&self) -> Option<&crate::providers::limiter::Limiter>;
}

/// Tries `routes` in order, skipping those whose breaker is open: the first that accepts (its
/// acceptance is for the caller to record), or why none did. A refusal of the message itself
/// ends the search — another provider would refuse it too.
async fn failover<'r, R, F, Fut>(
    routes: &'r [R],
    record: &mut Record,
    mut send: F,
) -> Result<(&'r R, Accepted), Failure>
where
    R: Route,
    F: FnMut(&'r R) -> Fut,
    Fut: std::future::Future<Output = Result<Accepted, SendError>>,
{
    let mut last = String::from("every provider's breaker is open");
    // The soonest a rate-limited provider has room again, when every provider was skipped.
    let mut room_in: Option<std::time::Duration> = None;
    for (i, route) in routes.iter().enumerate() {
        let name = route.name();
        if route.breaker().check() == Verdict::Open {
            record.push(name, "skipped", "circuit breaker open", None);
            continue;
        }
        // Not an attempt: nothing is recorded for a provider at its limit.
        if let Some(Err(wait)) = route.limit().map(crate::providers::limiter::Limiter::take) {
            room_in = Some(room_in.map_or(wait, |r| r.min(wait)));
            continue;
        }
        if i > 0 {
            metrics::counter!("vextrus_notify_failovers_total", "to" => name).increment(1);
        }
        let started = Instant::now();
        let answer = send(route).await;
        metrics::histogram!("vextrus_notify_provider_seconds", "provider" => name)
            .record(started.elapsed().as_secs_f64());
        match answer {
            Ok(accepted) => {
                route.breaker().success();
                return Ok((route, accepted));
            }
            Err(SendError::Rejected(reason)) => {
                route.breaker().success();
                record.push(name, "rejected", &reason, None);
                return Err(Failure::Rejected(reason));
            }
            Err(SendError::Unavailable { reason, .. }) => {
                if route.breaker().failure() {
                    tracing::warn!(provider = name, %reason, "provider's circuit breaker opened");
                }
                record.push(name, "unavailable", &reason, None);
                last = reason;
                room_in = None;
            }
        }
    }
    match room_in {
        Some(wait) => {
            // Spread the waiting messages over a second, so they do not all come back at once.
            let mut spread = [0u8; 2];
            getrandom::fill(&mut spread).expect("the OS provides randomness");
            let jitter = std::time::Duration::from_millis(u64::from(u16::from_le_bytes(spread)) % 1000);
            Err(Failure::Later("every provider is at its rate limit".into(), wait + jitter))
        }
        None => Err(Failure::Unavailable(last)),
    }
}

/// One push message to one device (the message's recipient is the device's id).
async fn push(
    fcm: &Fcm,
    ctx: &JobContext,
    id: Uuid,
    message: &Pending,
    rendered: &Rendered,
    record: &mut Record,
) -> Result<(&'static str, Accepted, Option<i64>), Failure> {
    let device = Uuid::parse_str(&message.recipient).map_err(|_| Failure::Rejected("not a device".into()))?;
    let token = async {
        let mut tx = ctx.db.system().await?;
        let token = store::device_token(&mut tx, ctx.tenant, device).await?;
        tx.commit().await?;
        Ok::<_, vextrus_db::DbError>(token)
    };
    let token = token.await.map_err(|e| Failure::Unavailable(e.to_string()))?;
    let Some(token) = token else {
        record.push(FCM, "rejected", "the device is no longer registered", None);
        return Err(Failure::Rejected("the device is no longer registered".into()));
    };
    let data = serde_json::json!({"notification_id": id.to_string(), "type": message.kind});
    let title = rendered.subject.as_deref().unwrap_or_default();
    let answer = fcm.send(&token, title, &rendered.text, &data).await;
    let dead = matches!(answer, Err(PushError::DeadToken(_)));
    if dead || answer.is_ok() {
        let mut tx = ctx.db.system().await.map_err(|e| Failure::Unavailable(e.to_string()))?;
        store::device_outcome(&mut tx, ctx.tenant, device, dead)
            .await
            .map_err(|e| Failure::Unavailable(e.to_string()))?;
        tx.commit().await.map_err(|e| Failure::Unavailable(e.to_string()))?;
    }
    match answer {
        Ok(accepted) => {
            record.push(FCM, "accepted", &accepted.response, None);
            Ok((FCM, accepted, None))
        }
        Err(PushError::DeadToken(reason)) => {
            let reason = format!("{reason}: the device was removed");
            record.push(FCM, "rejected", &reason, None);
            Err(Failure::Rejected(reason))
        }
        Err(PushError::Send(SendError::Rejected(reason))) => {
            record.push(FCM, "rejected", &reason, None);
            Err(Failure::Rejected(reason))
        }
        Err(PushError::Send(SendError::Unavailable { reason, retry_after })) => {
            record.push(FCM, "unavailable", &reason, None);
            Err(match retry_after {
                Some(after) => Failure::Later(reason, after),
                None => Failure::Unavailable(reason),
            })
        }
    }
}

/// Records a message's outcome, and announces it to the organization's webhooks.
async fn settle(
    notify: &Notify,
    tx: &mut SystemTx,
    tenant: TenantId,
    id: Uuid,
    message: &Pending,
    o: &Outcome<'_>,
) -> Result<(), vextrus_db::DbError> {
    store::finish(tx, tenant, id, o).await?;
    let status = Status { status: o.status, provider: o.provider, error: o.error };
    announce(notify, tx, tenant, id, message, status).await
}

/// A message's new state, for its organization's webhooks.
pub(crate) struct Status<'a> {
    pub status: &'static str,
    pub provider: Option<&'a str>,
    pub error: Option<&'a str>,
}

/// `notification.<status>` to the organization's webhooks that subscribed (platform messages
/// have none), in the transaction that records it.
pub(crate) async fn announce(
    notify: &Notify,
    tx: &mut SystemTx,
    tenant: TenantId,
    id: Uuid,
    message: &Pending,
    s: Status<'_>,
) -> Result<(), vextrus_db::DbError> {
    let (Some(hook), false) = (notify.inner().status_hook, tenant == TenantId::PLATFORM) else {
        return Ok(());
    };
    let event = match s.status {
        "sent" => "notification.sent",
        "delivered" => "notification.delivered",
        _ => "notification.failed",
    };
    let data = serde_json::json!({
        "id": id, "type": message.kind, "channel": message.channel, "recipient": message.recipient,
        "status": s.status, "provider": s.provider, "error": s.error,
    });
    hook(tx, tenant, event, data).await
}

async fn poll_report(notify: &Notify, ctx: &JobContext, tenant: TenantId, id: Uuid) -> Result<(), HandlerError> {
    let mut tx = ctx.db.system().await?;
    let Some(message) = store::pending(&mut tx, tenant, id).await? else {
        return Ok(());
    };
    tx.commit().await?;
    let (Some(provider_id), "sent") = (message.provider_id.as_deref(), message.status.as_str()) else {
        return Ok(());
    };
    // Asked with the credentials that sent it: the organization's own account's, or the platform's.
    let own = message.own_sms.as_ref().map(|own| crate::accounts::route(notify, own)).transpose()?;
    let routes = own.as_ref().map_or(&notify.inner().sms[..], std::slice::from_ref);
    let alpha = routes.iter().find_map(|r| match &r.provider {
        SmsProvider::Alpha(a) if message.provider.as_deref() == Some(crate::providers::alpha::NAME) => Some(a),
        _ => None,
    });
    let Some(alpha) = alpha else { return Ok(()) };
    let report = alpha.report(provider_id).await.map_err(|e| e.to_string())?;
    let number = message.recipient.trim_start_matches('+');
    let status = report.statuses.iter().find(|(n, _)| n.trim_start_matches('+') == number).map(|(_, s)| s.as_str());
    let new_status = match status {
        Some("Sent" | "Delivered") => "delivered",
        Some("Failed" | "Rejected" | "Undelivered") => "failed",
        // Not final yet: ask again later (the job's backoff).
        _ => return Err(format!("report of {provider_id} not final yet ({})", report.request_status).into()),
    };
    let mut tx = ctx.db.system().await?;
    if store::set_delivered(&mut tx, tenant, id, new_status).await? {
        let status = Status { status: new_status, provider: message.provider.as_deref(), error: None };
        announce(notify, &mut tx, tenant, id, &message, status).await?;
    }
    let row = AttemptRow {
        provider: crate::providers::alpha::NAME,
        outcome: "report",
        response: &format!("report: {} ({})", status.unwrap_or_default(), report.request_status),
        cost: None,
    };
    store::insert_attempt(&mut tx, tenant, id, &row).await?;
    tx.commit().await?;
    Ok(())
}

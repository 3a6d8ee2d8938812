//! Notify's operations: queueing a message in the caller's transaction, and triggering a message
//! type for many recipients with BTRC's rules and the organization's SMS budget applied.

use std::future::Future;
use std::pin::Pin;

use chrono::{DateTime, Datelike, Utc};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;
use uuid::Uuid;
use vextrus_db::jobs::{self, EnqueueOptions};
use vextrus_db::{DbError, TenantTx, Tx};

use crate::btrc;
use crate::jobs::Deliver;
use crate::model::{Category, Channel, Locale, Phone};
use crate::prefs::{self, Rules};
use crate::sms;
use crate::store::{self, NewMessage};
use crate::templates::{RenderError, TemplateDef};
use crate::{Notify, SmsProvider};

/// A member's addresses and language, as identity knows them.
#[derive(Debug, Clone)]
pub struct Contact {
    pub user_id: Uuid,
    pub email: Option<String>,
    pub phone: Option<Phone>,
    pub locale: Locale,
}

/// Finds the given users among the organization's members (in its own transaction).
pub type ContactsFn = for<'a> fn(
    &'a mut TenantTx,
    &'a [Uuid],
) -> Pin<Box<dyn Future<Output = Result<Vec<Contact>, DbError>> + Send + 'a>>;

/// Announces `notification.<status>` with its data to `tenant`'s webhooks, in the transaction
/// that records the outcome.
pub type StatusFn = for<'a> fn(
    &'a mut vextrus_db::SystemTx,
    vextrus_db::TenantId,
    &'static str,
    Value,
) -> Pin<Box<dyn Future<Output = Result<(), DbError>> + Send + 'a>>;

/// Who a trigger names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recipient {
    User(Uuid),
    Email(String),
    Phone(Phone),
}

impl Recipient {
    /// A user id, an email address or a Bangladeshi mobile number, told apart by their form.
    pub fn parse(text: &str) -> Result<Self, String> {
        if let Ok(id) = Uuid::parse_str(text) {
            return Ok(Self::User(id));
        }
        if text.contains('@') {
            return crate::model::parse_email(text).map(Self::Email);
        }
        Phone::parse(text).map(Self::Phone)
    }
}

/// Queues one email of the platform's own (`def` is the caller's own message type) to `to` in
/// `locale`, in `tx`: it is delivered once `tx` commits, and never if it rolls back. The text is
/// rendered when it is delivered.
pub async fn queue(
    tx: &mut impl Tx,
    def: &TemplateDef,
    to: &str,
    locale: Locale,
    data: Value,
) -> Result<Uuid, DbError> {
    let id = Uuid::now_v7();
    let message = NewMessage {
        id,
        kind: def.kind,
        category: def.category,
        channel: Channel::Email,
        recipient: to,
        user_id: None,
        locale,
        data: &data,
        sensitive: def.sensitive,
        body: None,
        not_before: None,
        segments: None,
        cost: None,
        sender_id: None,
        trigger_id: None,
    };
    store::insert_message(tx, &message).await?;
    jobs::enqueue(tx, &Deliver { message: id }).await?;
    Ok(id)
}

/// A message type sent to recipients.
#[derive(Debug, Clone)]
pub struct Trigger {
    pub kind: String,
    pub recipients: Vec<Recipient>,
    /// For user recipients: the channels to use (default: email, and SMS where the type has an
    /// SMS text and the user a phone). Email and phone recipients use their own channel.
    pub channels: Option<Vec<Channel>>,
    /// Stricter than the type's own only (a transactional type may be sent as promotional).
    pub category: Option<Category>,
    pub data: Value,
    pub idempotency_key: Option<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Queued {
    pub id: Uuid,
    pub recipient: String,
    pub channel: Channel,
    /// When it goes: now, or 09:00 Dhaka for a promotional SMS triggered at night.
    pub not_before: DateTime<Utc>,
    /// SMS only: parts and estimated cost in BDT.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub segments: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cost_bdt: Option<String>,
}

/// A recipient (and channel) for which nothing was queued, and why.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Refused {
    pub recipient: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub channel: Option<Channel>,
    /// `promotional_sms_not_bangla`, `btrc_daily_limit`, `sms_budget_exhausted`, `sms_opted_out`,
    /// `opted_out` (the user's preferences), `no_address` (no email, phone or push device),
    /// `not_a_member`.
    pub code: &'static str,
    pub detail: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Triggered {
    pub trigger_id: Uuid,
    pub messages: Vec<Queued>,
    pub refused: Vec<Refused>,
    /// The idempotency key was seen before: these are the first trigger's messages.
    pub replayed: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum TriggerError {
    #[error(transparent)]
    Render(#[from] RenderError),
    #[error("{0}")]
    Invalid(String),
    #[error("no provider delivers {0} on this instance")]
    ChannelUnavailable(&'static str),
    #[error("nothing was queued")]
    AllRefused(Vec<Refused>),
    #[error(transparent)]
    Db(#[from] DbError),
}

impl From<sqlx::Error> for TriggerError {
    fn from(e: sqlx::Error) -> Self {
        Self::Db(e.into())
    }
}

/// One message to make: its recipient, channel and language.
struct Planned {
    recipient: String,
    user_id: Option<Uuid>,
    channel: Channel,
    locale: Locale,
    /// When it may go as far as the recipient is concerned (quiet hours).
    release: DateTime<Utc>,
}

impl Notify {
    /// Triggers `trigger` in the organization's transaction `tx`: every message is rendered now
    /// (a variable the data lacks is an error before anything is queued), SMS pass BTRC's rules
    /// and the budget, and each message's delivery job commits with `tx`.
    pub async fn trigger(&self, tx: &mut TenantTx, trigger: Trigger) -> Result<Triggered, TriggerError> {
        self.trigger_at(tx, trigger, Utc::now()).await
    }

    /// [`Notify::trigger`] as if it were `now` (BTRC's windows and days are Dhaka's clock).
    pub async fn trigger_at(
        &self,
        tx: &mut TenantTx,
        trigger: Trigger,
        now: DateTime<Utc>,
    ) -> Result<Triggered, TriggerError> {
        let tenant = tx.tenant();
        let trigger_id = Uuid::now_v7();
        // The key is claimed first: a concurrent trigger with it waits for this one to commit,
        // then answers its messages.
        if let Some(key) = &trigger.idempotency_key
            && !store::claim_trigger(tx, tenant, key, trigger_id).await?
        {
            return Ok(store::trigger_by_key(tx, tenant, key).await?);
        }
        let def =
            *self.inner().templates.def(&trigger.kind).ok_or_else(|| RenderError::UnknownType(trigger.kind.clone()))?;
        if def.category == Category::Security {
            return Err(TriggerError::Invalid(format!("{} is the platform's own security message", def.kind)));
        }
        let category = match (def.category, trigger.category) {
            (_, Some(Category::Promotional)) | (Category::Promotional, _) => Category::Promotional,
            (_, Some(Category::Security)) => {
                return Err(TriggerError::Invalid("category: security is the platform's own".into()));
            }
            _ => Category::Transactional,
        };
        let org = vextrus_tenancy::service::current(tx).await.map_err(|e| TriggerError::Invalid(e.to_string()))?;
        let own = self.inner().overrides.of(tx, tenant, def.kind).await?;
        let org_locale = org.settings.locale;
        let mut refused = Vec::new();
        let mut planned = self.plan(tx, &trigger, def, category, org_locale, now, &mut refused).await?;
        for channel in planned.iter().map(|p| p.channel) {
            if !self.delivers(channel) {
                return Err(TriggerError::ChannelUnavailable(channel.as_str()));
            }
        }
        // Notify's settings, the plan and the STOP list matter to SMS only: no round trip for the rest.
        let settings = if planned.iter().any(|p| p.channel == Channel::Sms) {
            let phones: Vec<&str> =
                planned.iter().filter(|p| p.channel == Channel::Sms).map(|p| p.recipient.as_str()).collect();
            let stopped = store::opted_out(tx, &phones).await?;
            if !stopped.is_empty() {
                planned.retain(|p| {
                    let out = p.channel == Channel::Sms && stopped.contains(&p.recipient);
                    if out {
                        refused.push(Refused {
                            recipient: p.recipient.clone(),
                            channel: Some(Channel::Sms),
                            code: "sms_opted_out",
                            detail: "the number asked (STOP) to receive no more SMS".into(),
                        });
                    }
                    !out
                });
            }
            let plan = vextrus_tenancy::plans::of(tx, tenant, self.inner().plan_defaults).await?;
            (store::settings(tx, tenant).await?, plan.limits.sms_per_month)
        } else {
            Default::default()
        };
        let (settings, sms_per_month) = settings;
        let mut messages = Vec::with_capacity(planned.len());
        let mut rows = Vec::with_capacity(planned.len());
        for p in planned {
            let own = crate::overrides::for_locale(&own, p.locale);
            let rendered = self.inner().templates.render_with(def.kind, p.locale, p.channel, &trigger.data, own)?;
            let mut queued = Queued {
                id: Uuid::now_v7(),
                recipient: p.recipient.clone(),
                channel: p.channel,
                not_before: p.release,
                segments: None,
                cost_bdt: None,
            };
            let mut cost = None;
            if p.channel == Channel::Sms {
                let refuse = |code, detail: String| Refused {
                    recipient: p.recipient.clone(),
                    channel: Some(Channel::Sms),
                    code,
                    detail,
                };
                if category == Category::Promotional {
                    if !sms::is_bangla(&rendered.text) {
                        refused.push(refuse(
                            "promotional_sms_not_bangla",
                            "BTRC: promotional SMS must be written in Bangla".into(),
                        ));
                        continue;
                    }
                    queued.not_before = btrc::promotional_send_time(queued.not_before);
                    let day = btrc::dhaka_day(queued.not_before);
                    if !store::take_promotional(tx, &p.recipient, day).await? {
                        let detail = format!(
                            "BTRC: at most {} promotional SMS per number per day; {} has had them for {day}",
                            btrc::PROMOTIONAL_PER_DAY,
                            p.recipient
                        );
                        refused.push(refuse("btrc_daily_limit", detail));
                        continue;
                    }
                }
                let parts = sms::segments(&rendered.text).parts;
                let estimate = i64::from(parts) * self.sms_rate();
                let month = btrc::dhaka_day(queued.not_before).with_day(1).unwrap_or_else(|| btrc::dhaka_day(now));
                match store::spend(tx, tenant, month, estimate, settings.budget, sms_per_month).await? {
                    Ok(()) => {}
                    Err(store::Refusal::Budget) => {
                        let detail = format!(
                            "the organization's monthly SMS budget ({} BDT) is spent",
                            settings.budget.map(store::bdt).unwrap_or_default()
                        );
                        refused.push(refuse("sms_budget_exhausted", detail));
                        continue;
                    }
                    Err(store::Refusal::Plan) => {
                        let detail = format!("the organization's plan allows {sms_per_month} SMS a month, all sent");
                        refused.push(refuse("plan_sms_limit", detail));
                        continue;
                    }
                }
                queued.segments = Some(parts);
                queued.cost_bdt = Some(store::bdt(estimate));
                cost = Some(estimate);
            }
            let body = (!def.sensitive).then(|| rendered.text.clone());
            rows.push((queued.clone(), p, cost, body, rendered.subject));
            messages.push(queued);
        }
        if messages.is_empty() && !refused.is_empty() {
            return Err(TriggerError::AllRefused(refused));
        }
        for (queued, p, cost, body, _subject) in &rows {
            let message = NewMessage {
                id: queued.id,
                kind: def.kind,
                category,
                channel: p.channel,
                recipient: &p.recipient,
                user_id: p.user_id,
                locale: p.locale,
                data: &trigger.data,
                sensitive: def.sensitive,
                body: body.as_deref(),
                not_before: Some(queued.not_before),
                segments: queued.segments.map(|s| s as i32),
                cost: *cost,
                sender_id: settings.sender_id.as_deref(),
                trigger_id: Some(trigger_id),
            };
            store::insert_message(tx, &message).await?;
            let options = EnqueueOptions { run_at: Some(queued.not_before), dedup_key: None };
            jobs::enqueue_with(tx, &Deliver { message: queued.id }, options).await?;
        }
        if let Some(key) = &trigger.idempotency_key {
            let ids: Vec<Uuid> = messages.iter().map(|m| m.id).collect();
            store::set_trigger_messages(tx, tenant, key, &ids).await?;
        }
        for m in &messages {
            metrics::counter!("vextrus_notify_triggered_total", "channel" => m.channel.as_str()).increment(1);
        }
        Ok(Triggered { trigger_id, messages, refused, replayed: false })
    }

    /// Recipients and channels: users through the contacts identity gives, with their
    /// preferences and devices; addresses as they are.
    #[allow(clippy::too_many_arguments)]
    async fn plan(
        &self,
        tx: &mut TenantTx,
        trigger: &Trigger,
        def: TemplateDef,
        category: Category,
        org_locale: Locale,
        now: DateTime<Utc>,
        refused: &mut Vec<Refused>,
    ) -> Result<Vec<Planned>, TriggerError> {
        let max = self.inner().max_recipients;
        if trigger.recipients.is_empty() || trigger.recipients.len() > max {
            return Err(TriggerError::Invalid(format!("recipients: give between 1 and {max}")));
        }
        let users: Vec<Uuid> = trigger
            .recipients
            .iter()
            .filter_map(|r| match r {
                Recipient::User(id) => Some(*id),
                _ => None,
            })
            .collect();
        let contacts = match (users.is_empty(), self.inner().contacts) {
            (true, _) => Vec::new(),
            (false, Some(contacts)) => contacts(tx, &users).await?,
            (false, None) => return Err(TriggerError::Invalid("user recipients need the identity module".into())),
        };
        let rules = if users.is_empty() { Rules::default() } else { prefs::rules(tx, &users).await? };
        let devices = if !users.is_empty() && trigger.channels.as_ref().is_some_and(|c| c.contains(&Channel::Push)) {
            store::devices_of(tx, &users).await?
        } else {
            Vec::new()
        };
        let wanted = trigger.channels.clone();
        let has_sms = def.bn.sms.is_some() && def.en.sms.is_some();
        let mut planned = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for recipient in &trigger.recipients {
            match recipient {
                Recipient::Email(address) => planned.push(Planned {
                    recipient: address.clone(),
                    user_id: None,
                    channel: Channel::Email,
                    locale: org_locale,
                    release: now,
                }),
                Recipient::Phone(phone) => planned.push(Planned {
                    recipient: phone.to_string(),
                    user_id: None,
                    channel: Channel::Sms,
                    locale: org_locale,
                    release: now,
                }),
                Recipient::User(id) => {
                    let Some(contact) = contacts.iter().find(|c| c.user_id == *id) else {
                        refused.push(Refused {
                            recipient: id.to_string(),
                            channel: None,
                            code: "not_a_member",
                            detail: "no member of this organization has this id".into(),
                        });
                        continue;
                    };
                    let channels = wanted.clone().unwrap_or_else(|| {
                        let mut c = vec![Channel::Email];
                        if has_sms && contact.phone.is_some() {
                            c.push(Channel::Sms);
                        }
                        c
                    });
                    for channel in channels {
                        if !rules.allows(*id, category, channel) {
                            refused.push(Refused {
                                recipient: id.to_string(),
                                channel: Some(channel),
                                code: "opted_out",
                                detail: format!(
                                    "the user turned off {} messages by {}",
                                    category.as_str(),
                                    channel.as_str()
                                ),
                            });
                            continue;
                        }
                        // Push goes to each of the user's devices: a message per device.
                        let addresses: Vec<String> = match channel {
                            Channel::Email => contact.email.iter().cloned().collect(),
                            Channel::Sms => contact.phone.iter().map(ToString::to_string).collect(),
                            Channel::Push => {
                                devices.iter().filter(|(user, _)| user == id).map(|(_, d)| d.to_string()).collect()
                            }
                            Channel::InApp => vec![id.to_string()],
                        };
                        let release = rules.release(*id, channel, now);
                        for address in &addresses {
                            planned.push(Planned {
                                recipient: address.clone(),
                                user_id: Some(*id),
                                channel,
                                locale: contact.locale,
                                release,
                            });
                        }
                        if addresses.is_empty() {
                            refused.push(Refused {
                                recipient: id.to_string(),
                                channel: Some(channel),
                                code: "no_address",
                                detail: format!("the user has no address for {}", channel.as_str()),
                            });
                        }
                    }
                }
            }
        }
        // One message per address and channel, however often it was named.
        planned.retain(|p| seen.insert((p.recipient.clone(), p.channel)));
        Ok(planned)
    }

    /// Whether this instance can deliver on `channel`.
    pub fn delivers(&self, channel: Channel) -> bool {
        let inner = self.inner();
        inner.dev
            || match channel {
                Channel::Email => !inner.email.is_empty(),
                Channel::Sms => !inner.sms.is_empty(),
                Channel::Push => inner.fcm.is_some(),
                Channel::InApp => true,
            }
    }

    /// The estimate's rate: the first provider's (the one that normally sends).
    fn sms_rate(&self) -> i64 {
        self.inner().sms.first().map(|r| r.rate).unwrap_or(0)
    }

    /// The SMS providers' names in failover order.
    pub fn sms_providers(&self) -> Vec<&'static str> {
        self.inner().sms.iter().map(|r| r.provider.name()).collect()
    }
}

impl SmsProvider {
    pub(crate) async fn send(
        &self,
        message: Uuid,
        to: &Phone,
        text: &str,
        sender: Option<&str>,
    ) -> Result<crate::providers::Accepted, crate::providers::SendError> {
        match self {
            Self::Alpha(p) => p.send(to, text, sender).await,
            Self::SslWireless(p) => p.send(message, to, text, sender).await,
        }
    }
}

//! Notify: the one way anything in the platform sends a message. A module declares its message
//! types ([`templates::TemplateDef`], in Bengali and English) and queues messages in the
//! transaction of the change that causes them ([`queue`] for the platform's own mail,
//! [`Notify::trigger`] for everything else); a job delivers each one through the channel's
//! providers in order — SMTP or the dev mailbox for email; Alpha SMS, then SSL Wireless for SMS —
//! under BTRC's rules for Bangladeshi SMS, and records every attempt. Push goes by FCM to each
//! device a user registered; in-app messages land in the user's inbox and reach its open
//! streams at once. Users choose what reaches them ([`prefs`]).

pub mod accounts;
pub mod btrc;
mod error;
pub mod events;
pub mod http;
pub mod inbox;
mod jobs;
pub mod me;
pub mod model;
pub mod optouts;
pub mod overrides;
pub mod permissions;
pub mod prefs;
pub mod providers;
pub mod service;
pub mod sms;
mod store;
pub mod templates;

use std::sync::Arc;
use std::time::Duration;

use vextrus_db::{Migration, ModuleMigrations};
use vextrus_server::AppState;

pub use error::NotifyError;
pub use jobs::register_jobs;
pub use permissions::PERMISSIONS;
pub use service::{Contact, ContactsFn, Recipient, StatusFn, queue};

use crate::providers::alpha::Alpha;
use crate::providers::breaker::Breaker;
use crate::providers::sendgrid::SendGrid;
use crate::providers::smtp::Smtp;
use crate::providers::ssl_wireless::SslWireless;
use crate::templates::Templates;

pub const MIGRATIONS: ModuleMigrations = ModuleMigrations {
    module: "notify",
    migrations: &[
        Migration { version: 1, name: "messages", sql: include_str!("../migrations/0001_messages.sql") },
        Migration {
            version: 2,
            name: "inbox_preferences_push",
            sql: include_str!("../migrations/0002_inbox_preferences_push.sql"),
        },
        Migration {
            version: 3,
            name: "template_overrides",
            sql: include_str!("../migrations/0003_template_overrides.sql"),
        },
        Migration { version: 4, name: "sms_accounts", sql: include_str!("../migrations/0004_sms_accounts.sql") },
        Migration { version: 5, name: "sms_per_month", sql: include_str!("../migrations/0005_sms_per_month.sql") },
    ],
};

/// An SMS provider, its price and its breaker.
#[derive(Debug)]
pub struct SmsRoute {
    pub provider: SmsProvider,
    /// BDT per part, in ten-thousandths (Alpha's precision): 0.25 BDT is 2500.
    pub rate: i64,
    pub breaker: Breaker,
    /// The provider's rate limit on this instance, if it has one.
    pub limit: Option<providers::limiter::Limiter>,
}

#[derive(Debug)]
pub enum SmsProvider {
    Alpha(Alpha),
    SslWireless(SslWireless),
}

impl SmsProvider {
    pub fn name(&self) -> &'static str {
        match self {
            Self::Alpha(_) => providers::alpha::NAME,
            Self::SslWireless(_) => providers::ssl_wireless::NAME,
        }
    }
}

impl jobs::Route for SmsRoute {
    fn name(&self) -> &'static str {
        self.provider.name()
    }
    fn breaker(&self) -> &Breaker {
        &self.breaker
    }
    fn limit(&self) -> Option<&providers::limiter::Limiter> {
        self.limit.as_ref()
    }
}

/// An email provider and its breaker.
#[derive(Debug)]
pub struct EmailRoute {
    pub provider: EmailProvider,
    pub breaker: Breaker,
    pub limit: Option<providers::limiter::Limiter>,
}

#[derive(Debug)]
pub enum EmailProvider {
    Smtp(Smtp),
    SendGrid(SendGrid),
}

impl EmailProvider {
    pub fn name(&self) -> &'static str {
        match self {
            Self::Smtp(_) => providers::smtp::NAME,
            Self::SendGrid(_) => providers::sendgrid::NAME,
        }
    }

    pub(crate) async fn send(
        &self,
        email: &providers::smtp::Email<'_>,
        tenant: uuid::Uuid,
    ) -> Result<providers::Accepted, providers::SendError> {
        match self {
            Self::Smtp(p) => p.send(email).await,
            Self::SendGrid(p) => p.send(email, tenant).await,
        }
    }
}

impl jobs::Route for EmailRoute {
    fn name(&self) -> &'static str {
        self.provider.name()
    }
    fn breaker(&self) -> &Breaker {
        &self.breaker
    }
    fn limit(&self) -> Option<&providers::limiter::Limiter> {
        self.limit.as_ref()
    }
}

/// Seals and opens secrets under the platform's master key (identity's, given by the binary).
#[derive(Clone)]
pub struct Vault {
    seal: Arc<SealFn>,
    open: Arc<OpenFn>,
}

type SealFn = dyn Fn(&[u8]) -> Vec<u8> + Send + Sync;
type OpenFn = dyn Fn(&[u8]) -> Option<Vec<u8>> + Send + Sync;

impl Vault {
    pub fn new(
        seal: impl Fn(&[u8]) -> Vec<u8> + Send + Sync + 'static,
        open: impl Fn(&[u8]) -> Option<Vec<u8>> + Send + Sync + 'static,
    ) -> Self {
        Self { seal: Arc::new(seal), open: Arc::new(open) }
    }

    pub fn seal(&self, plain: &[u8]) -> Vec<u8> {
        (self.seal)(plain)
    }

    pub fn open(&self, sealed: &[u8]) -> Option<Vec<u8>> {
        (self.open)(sealed)
    }
}

impl std::fmt::Debug for Vault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Vault")
    }
}

/// Notify's settings and providers, registered in `AppState::modules`.
#[derive(Debug, Clone)]
pub struct Notify(Arc<Inner>);

#[derive(Debug)]
pub struct Inner {
    pub templates: Templates,
    /// Keep every channel's messages in the dev mailbox where no provider is configured.
    pub dev: bool,
    /// Email providers in failover order (SMTP, SendGrid).
    pub email: Vec<EmailRoute>,
    /// The key SendGrid's Event Webhook is signed with (a P-256 point); without it the webhook
    /// refuses every post.
    pub sendgrid_events_key: Option<Vec<u8>>,
    /// In failover order.
    pub sms: Vec<SmsRoute>,
    /// Push by Firebase Cloud Messaging.
    pub fcm: Option<providers::fcm::Fcm>,
    /// The in-app inbox's live streams.
    pub inbox: inbox::Inbox,
    /// Organizations' own texts, as this instance has read them.
    pub overrides: overrides::Overrides,
    /// Resolves user ids to their addresses and locale (identity's, given by the binary).
    pub contacts: Option<ContactsFn>,
    /// Seals organizations' provider credentials under the platform's master key; without it
    /// organizations cannot bring their own SMS account.
    pub vault: Option<Vault>,
    /// Announces messages' outcomes to the organization's webhooks (the registry's delivery,
    /// given by the binary).
    pub status_hook: Option<StatusFn>,
    /// How long after sending an SMS its delivery report is first asked for.
    pub report_after: Duration,
    /// The most recipients one trigger may name.
    pub max_recipients: usize,
    /// The default plan's limits (an organization's own plan replaces them): SMS a month.
    pub plan_defaults: vextrus_server::PlanLimits,
    /// Base URL of the platform, for links in messages (unsubscribe).
    pub public_url: String,
    /// Signs links in messages ([`link_key`]); without it mail carries no unsubscribe link.
    pub link_key: Option<ring::hmac::Key>,
}

/// SMS the organization has been counted for this Dhaka month (against its plan's `sms_per_month`).
pub async fn sms_this_month(
    tx: &mut impl vextrus_db::Tx,
    tenant: vextrus_db::TenantId,
) -> Result<u64, vextrus_db::DbError> {
    use chrono::Datelike as _;
    let today = btrc::dhaka_day(chrono::Utc::now());
    let month = today.with_day(1).unwrap_or(today);
    Ok(u64::try_from(store::sms_in_month(tx, tenant, month).await?).unwrap_or(0))
}

/// The key that signs links in messages: made on first use, kept in the database (readable by
/// the system role only), so every instance signs alike.
pub async fn link_key(db: &vextrus_db::Database) -> Result<ring::hmac::Key, vextrus_db::DbError> {
    use vextrus_db::Tx as _;
    let mut fresh = [0u8; 32];
    getrandom::fill(&mut fresh).expect("the OS provides randomness");
    let mut tx = db.system().await?;
    sqlx::query("INSERT INTO notify.link_key (key) VALUES ($1) ON CONFLICT (id) DO NOTHING")
        .bind(&fresh[..])
        .execute(tx.conn())
        .await?;
    let key: Vec<u8> = sqlx::query_scalar("SELECT key FROM notify.link_key").fetch_one(tx.conn()).await?;
    tx.commit().await?;
    Ok(ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &key))
}

impl Notify {
    pub fn new(inner: Inner) -> Self {
        Self(Arc::new(inner))
    }

    /// A dev instance: the dev mailbox for every channel, no providers.
    pub fn dev(templates: Templates, contacts: Option<ContactsFn>) -> Self {
        Self::new(Inner {
            templates,
            dev: true,
            email: Vec::new(),
            sendgrid_events_key: None,
            sms: Vec::new(),
            fcm: None,
            inbox: inbox::Inbox::new(inbox::StreamLimits::default()),
            overrides: overrides::Overrides::new(8 << 20),
            contacts,
            status_hook: None,
            vault: None,
            report_after: Duration::from_secs(60),
            max_recipients: 1000,
            plan_defaults: vextrus_server::Limits::default().plan,
            public_url: "http://127.0.0.1:8080".into(),
            link_key: None,
        })
    }

    pub fn inner(&self) -> &Inner {
        &self.0
    }
}

impl axum::extract::FromRef<AppState> for Notify {
    fn from_ref(state: &AppState) -> Self {
        state.module::<Notify>()
    }
}

/// `"500"`, `"500.5"`, `"500.2500"` as ten-thousandths of a taka.
pub fn parse_bdt(text: &str) -> Result<i64, String> {
    let bad = || format!("{text:?} is not an amount in BDT (e.g. \"500.00\")");
    let (whole, fraction) = text.trim().split_once('.').unwrap_or((text.trim(), ""));
    if whole.is_empty() || whole.len() > 9 || !whole.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    if fraction.len() > 4 || !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let whole: i64 = whole.parse().map_err(|_| bad())?;
    let fraction: i64 = format!("{fraction:0<4}").parse().map_err(|_| bad())?;
    Ok(whole * 10_000 + fraction)
}

//! The typed configuration. Every field has a default, so an empty file is a valid configuration
//! (the embedded one). Secrets are `SecretString`: `Debug` redacts them and `Serialize` (used by
//! `config print`) writes `[redacted]`.

use std::net::SocketAddr;
use std::path::PathBuf;

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize, Serializer};

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct Config {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    #[serde(serialize_with = "redact_opt")]
    pub admin_token: Option<SecretString>,
    /// `None`: on in embedded mode, off with an external database.
    pub dev_mailbox: Option<bool>,
    /// `None`: `http://<listen>`.
    pub public_url: Option<String>,
    #[serde(serialize_with = "redact_opt")]
    pub master_key: Option<SecretString>,
    pub auth: AuthConfig,
    pub log: LogConfig,
    pub http: HttpConfig,
    pub database: DatabaseConfig,
    pub jobs: JobsConfig,
    pub audit: AuditConfig,
    pub storage: StorageConfig,
    pub files: FilesConfig,
    pub registry: RegistryConfig,
    pub limits: LimitsConfig,
    pub notify: NotifyConfig,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data_dir: PathBuf::from("./vextrus-data"),
            admin_token: None,
            dev_mailbox: None,
            public_url: None,
            master_key: None,
            auth: AuthConfig::default(),
            log: LogConfig::default(),
            http: HttpConfig::default(),
            database: DatabaseConfig::default(),
            jobs: JobsConfig::default(),
            audit: AuditConfig::default(),
            storage: StorageConfig::default(),
            files: FilesConfig::default(),
            registry: RegistryConfig::default(),
            limits: LimitsConfig::default(),
            notify: NotifyConfig::default(),
        }
    }
}

/// `[notify]`: the providers that carry messages.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct NotifyConfig {
    /// The most recipients one trigger may name.
    pub max_recipients: u32,
    /// Memory for organizations' own texts read by this instance.
    pub template_cache_mib: u64,
    pub email: EmailConfig,
    pub smtp: SmtpConfig,
    pub sendgrid: SendGridConfig,
    pub sms: SmsConfig,
    pub push: PushConfig,
    pub inbox: InboxConfig,
}

impl Default for NotifyConfig {
    fn default() -> Self {
        Self {
            max_recipients: 1000,
            template_cache_mib: 8,
            email: EmailConfig::default(),
            smtp: SmtpConfig::default(),
            sendgrid: SendGridConfig::default(),
            sms: SmsConfig::default(),
            push: PushConfig::default(),
            inbox: InboxConfig::default(),
        }
    }
}

/// `[notify.email]`: the email providers' order and breakers.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct EmailConfig {
    /// Comma-separated, in failover order, among those configured (`smtp`, `sendgrid`).
    pub providers: String,
    pub breaker_failures: u32,
    pub breaker_cooldown_secs: u64,
}

impl Default for EmailConfig {
    fn default() -> Self {
        Self { providers: "smtp,sendgrid".into(), breaker_failures: 5, breaker_cooldown_secs: 30 }
    }
}

/// `[notify.sendgrid]`: email by SendGrid v3 (configured when `api_key` is set).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct SendGridConfig {
    pub base_url: String,
    #[serde(serialize_with = "redact_opt")]
    pub api_key: Option<SecretString>,
    /// The Event Webhook's verification key (base64, as SendGrid shows it).
    pub webhook_verification_key: Option<String>,
    pub timeout_secs: u64,
    pub max_per_sec: u32,
}

impl Default for SendGridConfig {
    fn default() -> Self {
        Self {
            base_url: "https://api.sendgrid.com".into(),
            api_key: None,
            webhook_verification_key: None,
            timeout_secs: 10,
            max_per_sec: 0,
        }
    }
}

/// `[notify.push]`: push by Firebase Cloud Messaging (configured when the service account is set).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct PushConfig {
    pub timeout_secs: u64,
    pub fcm: FcmConfig,
}

impl Default for PushConfig {
    fn default() -> Self {
        Self { timeout_secs: 10, fcm: FcmConfig::default() }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct FcmConfig {
    /// The service account's key file (JSON), best given as `_FILE`.
    #[serde(serialize_with = "redact_opt")]
    pub service_account: Option<SecretString>,
    pub base_url: String,
}

impl Default for FcmConfig {
    fn default() -> Self {
        Self { service_account: None, base_url: "https://fcm.googleapis.com".into() }
    }
}

/// `[notify.inbox]`: the in-app inbox's live streams.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct InboxConfig {
    pub streams_per_user: u32,
    pub streams_per_instance: u32,
    pub stream_max_secs: u64,
}

impl Default for InboxConfig {
    fn default() -> Self {
        Self { streams_per_user: 5, streams_per_instance: 10_000, stream_max_secs: 300 }
    }
}

/// `[notify.smtp]`: email by SMTP (configured when `url` is set).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct SmtpConfig {
    pub url: Option<String>,
    pub username: Option<String>,
    #[serde(serialize_with = "redact_opt")]
    pub password: Option<SecretString>,
    pub from: String,
    pub pool_size: u32,
    pub timeout_secs: u64,
    /// Messages a second this instance hands the provider (0: no limit).
    pub max_per_sec: u32,
}

impl Default for SmtpConfig {
    fn default() -> Self {
        Self {
            url: None,
            username: None,
            password: None,
            from: "Vextrus <no-reply@vextrus.invalid>".into(),
            pool_size: 8,
            timeout_secs: 30,
            max_per_sec: 0,
        }
    }
}

/// `[notify.sms]`: SMS providers in failover order.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct SmsConfig {
    /// Comma-separated provider names in failover order (`alpha`, `ssl_wireless`).
    pub providers: String,
    pub timeout_secs: u64,
    pub breaker_failures: u32,
    pub breaker_cooldown_secs: u64,
    pub report_after_secs: u64,
    pub alpha: AlphaConfig,
    pub ssl_wireless: SslWirelessConfig,
}

impl Default for SmsConfig {
    fn default() -> Self {
        Self {
            providers: String::new(),
            timeout_secs: 10,
            breaker_failures: 5,
            breaker_cooldown_secs: 30,
            report_after_secs: 60,
            alpha: AlphaConfig::default(),
            ssl_wireless: SslWirelessConfig::default(),
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct AlphaConfig {
    pub base_url: String,
    #[serde(serialize_with = "redact_opt")]
    pub api_key: Option<SecretString>,
    pub sender_id: Option<String>,
    /// BDT per SMS part, as decimal text.
    pub rate_bdt: String,
    pub max_per_sec: u32,
}

impl Default for AlphaConfig {
    fn default() -> Self {
        Self {
            base_url: "https://api.sms.net.bd".into(),
            api_key: None,
            sender_id: None,
            rate_bdt: "0.25".into(),
            max_per_sec: 0,
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct SslWirelessConfig {
    pub base_url: String,
    #[serde(serialize_with = "redact_opt")]
    pub api_token: Option<SecretString>,
    pub sid: String,
    pub rate_bdt: String,
    pub max_per_sec: u32,
}

impl Default for SslWirelessConfig {
    fn default() -> Self {
        Self {
            base_url: "https://smsplus.sslwireless.com/api/v3".into(),
            api_token: None,
            sid: String::new(),
            rate_bdt: "0.30".into(),
            max_per_sec: 0,
        }
    }
}

/// `[limits]`: what strangers may create and set off (see `vextrus_server::Limits`).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct LimitsConfig {
    pub signups_per_address_per_hour: u32,
    pub api_keys_per_owner: u32,
    pub roles_per_org: u32,
    pub service_accounts_per_org: u32,
    pub webhooks_per_org: u32,
    pub web_logins_per_address_per_hour: u32,
    pub mails_per_recipient_per_hour: u32,
    pub invitations_before_verified: u32,
    pub pending_invitations_per_org: u32,
    pub storage_mib_per_org: u64,
    pub members_per_org: u32,
    pub api_keys_per_org: u32,
    pub sms_per_org_per_month: u32,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            signups_per_address_per_hour: 10,
            api_keys_per_owner: 50,
            roles_per_org: 100,
            service_accounts_per_org: 50,
            webhooks_per_org: 20,
            web_logins_per_address_per_hour: 30,
            mails_per_recipient_per_hour: 5,
            invitations_before_verified: 3,
            pending_invitations_per_org: 500,
            storage_mib_per_org: 5120,
            members_per_org: 100,
            api_keys_per_org: 200,
            sms_per_org_per_month: 1000,
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct AuthConfig {
    pub audience: String,
    pub access_token_ttl_secs: u64,
    pub session_ttl_secs: u64,
    pub key_publish_lead_secs: u64,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            audience: "vextrus".into(),
            access_token_ttl_secs: 900,
            session_ttl_secs: 30 * 24 * 3600,
            key_publish_lead_secs: 600,
        }
    }
}

impl Config {
    /// The issuer and base URL: `public_url` without a trailing slash, or `http://<listen>`.
    pub fn public_url(&self) -> String {
        match &self.public_url {
            Some(url) => url.trim_end_matches('/').to_owned(),
            None => format!("http://{}", self.listen),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Auto,
    Json,
    Pretty,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct LogConfig {
    pub format: LogFormat,
    pub filter: String,
    pub quiet_routes: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self { format: LogFormat::Auto, filter: "info,sqlx=warn".into(), quiet_routes: "/auth/verify".into() }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct HttpConfig {
    pub body_limit_bytes: usize,
    pub request_timeout_secs: u64,
    pub shutdown_grace_secs: u64,
    pub trust_forwarded_for: bool,
    pub header_read_timeout_secs: u64,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            body_limit_bytes: 1 << 20,
            request_timeout_secs: 30,
            shutdown_grace_secs: 20,
            trust_forwarded_for: false,
            header_read_timeout_secs: 30,
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct DatabaseConfig {
    #[serde(serialize_with = "redact_url")]
    pub url: Option<SecretString>,
    pub owner_role: String,
    pub app_role: String,
    #[serde(serialize_with = "redact_opt")]
    pub app_password: Option<SecretString>,
    pub system_role: String,
    #[serde(serialize_with = "redact_opt")]
    pub system_password: Option<SecretString>,
    pub migrate_on_start: bool,
    pub max_connections: u32,
    pub postgres_bin_dir: Option<PathBuf>,
    pub postgres_os_user: String,
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        Self {
            url: None,
            owner_role: "vextrus_owner".into(),
            app_role: "vextrus_app".into(),
            app_password: None,
            system_role: "vextrus_system".into(),
            system_password: None,
            migrate_on_start: true,
            max_connections: 10,
            postgres_bin_dir: None,
            postgres_os_user: "vextrus-pg".into(),
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct JobsConfig {
    pub concurrency: u32,
    pub poll_interval_secs: u64,
    pub lease_secs: u64,
    pub max_attempts: i32,
}

impl Default for JobsConfig {
    fn default() -> Self {
        Self { concurrency: 4, poll_interval_secs: 5, lease_secs: 60, max_attempts: 8 }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct AuditConfig {
    pub retention_months: u32,
    pub min_retention_months: u32,
}

impl Default for AuditConfig {
    fn default() -> Self {
        Self { retention_months: 12, min_retention_months: 12 }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct StorageConfig {
    /// `local` or `s3`.
    pub backend: String,
    /// `None`: `<data_dir>/objects`.
    pub local_dir: Option<PathBuf>,
    pub s3_bucket: Option<String>,
    pub s3_region: String,
    /// S3-compatible servers (MinIO); `None`: AWS.
    pub s3_endpoint: Option<String>,
    pub s3_access_key_id: Option<String>,
    #[serde(serialize_with = "redact_opt")]
    pub s3_secret_access_key: Option<SecretString>,
    pub s3_allow_http: bool,
}

impl Default for StorageConfig {
    fn default() -> Self {
        Self {
            backend: "local".into(),
            local_dir: None,
            s3_bucket: None,
            s3_region: "us-east-1".into(),
            s3_endpoint: None,
            s3_access_key_id: None,
            s3_secret_access_key: None,
            s3_allow_http: false,
        }
    }
}

/// `[files]`: organizations' documents.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct FilesConfig {
    /// A Unix socket path or `host:port`; `None`: no scanner.
    pub clamd: Option<String>,
    pub scan_max_mib: u64,
    pub scan_timeout_secs: u64,
    pub max_file_mib: u64,
    /// `None`: `<data_dir>/staging`.
    pub staging_dir: Option<PathBuf>,
    pub request_timeout_secs: u64,
    pub tus_expiry_hours: u64,
}

impl Default for FilesConfig {
    fn default() -> Self {
        Self {
            clamd: None,
            scan_max_mib: 25,
            scan_timeout_secs: 60,
            max_file_mib: 2048,
            staging_dir: None,
            request_timeout_secs: 3600,
            tus_expiry_hours: 24,
        }
    }
}

impl Config {
    /// Where objects are kept on the local file system.
    pub fn storage_dir(&self) -> PathBuf {
        self.storage.local_dir.clone().unwrap_or_else(|| self.data_dir.join("objects"))
    }

    /// Where uploads are staged while they are checked.
    pub fn staging_dir(&self) -> PathBuf {
        self.files.staging_dir.clone().unwrap_or_else(|| self.data_dir.join("staging"))
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct RegistryConfig {
    pub max_tarball_bytes: u64,
    pub request_timeout_secs: u64,
    pub allow_unscoped: bool,
    pub adduser_org: String,
    pub adduser_role: String,
    /// Shortcut for one uplink named `upstream` serving every name not owned here.
    pub uplink_url: Option<String>,
    /// Upstream registries, in order (`[[registry.uplinks]]` in the file).
    pub uplinks: Vec<UplinkConfig>,
    /// Proxied versions younger than this are hidden (0: none are).
    pub min_release_age_hours: u64,
    /// Proxied packages may be read without a token.
    pub proxy_anonymous: bool,
    pub proxy_memory_mib: u64,
    /// Memory the served packuments of hosted packages may take per instance.
    pub packument_cache_mib: u64,
    pub webhooks_reach_internal: bool,
    /// `npm search` also asks the uplinks.
    pub uplink_search: bool,
    /// Who may read packages by default, by name (`[[registry.access]]`, in order).
    pub access: Vec<AccessConfig>,
}

/// Verdaccio's `packages:` pattern with its read access (`[[registry.access]]`): packages whose
/// names match are readable by `read` unless `npm access` chose otherwise for one.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct AccessConfig {
    /// `"@scope/*"`, `"**"`, `"name"` … (first match wins).
    pub packages: String,
    /// `organization` (its members), `signed_in` (anyone signed in) or `public` (anyone).
    pub read: String,
}

/// One upstream registry (`[[registry.uplinks]]`).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct UplinkConfig {
    pub name: String,
    pub url: String,
    /// The `Authorization` header sent to it (`Bearer …`), if it wants one.
    #[serde(serialize_with = "redact_opt")]
    pub auth: Option<SecretString>,
    /// Which names it may serve: Verdaccio's patterns (`**`, `@*/*`, `@types/*`, `lodash`).
    pub packages: Vec<String>,
    pub timeout_secs: u64,
    /// How long a fetched packument is served before it is revalidated (in the background).
    pub maxage_secs: u64,
    /// How long an upstream "not found" is remembered.
    pub not_found_ttl_secs: u64,
    /// Consecutive failures after which the uplink is left alone for `fail_timeout_secs`.
    pub max_failures: u32,
    pub fail_timeout_secs: u64,
}

impl Default for UplinkConfig {
    fn default() -> Self {
        Self {
            name: "upstream".into(),
            url: String::new(),
            auth: None,
            packages: vec!["**".into()],
            timeout_secs: 30,
            maxage_secs: 120,
            not_found_ttl_secs: 300,
            max_failures: 2,
            fail_timeout_secs: 300,
        }
    }
}

impl Default for RegistryConfig {
    fn default() -> Self {
        Self {
            max_tarball_bytes: 100 * 1024 * 1024,
            request_timeout_secs: 900,
            allow_unscoped: false,
            adduser_org: String::new(),
            adduser_role: "viewer".into(),
            uplink_url: None,
            uplinks: Vec::new(),
            min_release_age_hours: 0,
            proxy_anonymous: false,
            proxy_memory_mib: 256,
            packument_cache_mib: 64,
            webhooks_reach_internal: false,
            uplink_search: false,
            access: Vec::new(),
        }
    }
}

pub(crate) const REDACTED: &str = "[redacted]";

fn redact_opt<S: Serializer>(value: &Option<SecretString>, s: S) -> Result<S::Ok, S::Error> {
    match value {
        Some(_) => s.serialize_str(REDACTED),
        None => s.serialize_none(),
    }
}

/// Shows where the database is (useful when debugging) but never the password.
fn redact_url<S: Serializer>(value: &Option<SecretString>, s: S) -> Result<S::Ok, S::Error> {
    match value {
        None => s.serialize_none(),
        Some(url) => match url::Url::parse(url.expose_secret()) {
            Ok(mut parsed) => {
                if parsed.password().is_some() {
                    let _ = parsed.set_password(Some(REDACTED));
                }
                s.serialize_str(parsed.as_str())
            }
            Err(_) => s.serialize_str(REDACTED),
        },
    }
}

//! Opening the platform's database as configured: an external server (`database.url`), or the
//! embedded cluster — started and supervised by `serve`, attached to by the admin commands when
//! a `serve` already runs on the same data directory.

use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::Context;
use secrecy::{ExposeSecret, SecretString};
use vextrus_config::Config;
use vextrus_db::embedded::{self, DATABASE, EmbeddedOptions, EmbeddedPostgres, SUPERUSER};
use vextrus_db::{DatabaseOptions, RoleNames};

/// Where the database is, and the embedded cluster if this process owns it.
#[derive(Debug)]
pub struct Opened {
    pub options: DatabaseOptions,
    pub embedded: Option<EmbeddedPostgres>,
    pub mode: Mode,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    External,
    /// This process started the embedded cluster.
    EmbeddedOwned,
    /// Another process (a running `serve`) owns it.
    EmbeddedAttached,
}

pub fn roles(config: &Config) -> RoleNames {
    let db = &config.database;
    RoleNames {
        owner: db.owner_role.clone(),
        app: db.app_role.clone(),
        system: db.system_role.clone(),
        app_password: db.app_password.clone(),
        system_password: db.system_password.clone(),
    }
}

pub fn embedded_options(config: &Config) -> EmbeddedOptions {
    EmbeddedOptions {
        data_dir: config.data_dir.clone(),
        bin_dir: config.database.postgres_bin_dir.clone(),
        os_user: config.database.postgres_os_user.clone(),
        durable: true,
    }
}

/// For `serve`: the external server, or the embedded cluster started by and owned by us.
pub async fn open_for_serve(config: &Config) -> anyhow::Result<Opened> {
    open(config, false).await
}

/// For admin commands: like `serve`, but attaches to a cluster a running `serve` owns.
pub async fn open_for_tool(config: &Config) -> anyhow::Result<Opened> {
    open(config, true).await
}

async fn open(config: &Config, may_attach: bool) -> anyhow::Result<Opened> {
    let roles = roles(config);
    let max = config.database.max_connections;
    if let Some(url) = &config.database.url {
        let options = DatabaseOptions::from_url(url.expose_secret(), roles, max)
            .context("database.url is not a valid PostgreSQL URL")?;
        return Ok(Opened { options, embedded: None, mode: Mode::External });
    }
    if may_attach && let Some(owner) = embedded::attach(&config.data_dir, SUPERUSER, DATABASE) {
        let app = owner.clone().username(&roles.app);
        let system = owner.clone().username(&roles.system);
        let options = DatabaseOptions { owner, app, system, roles, max_connections: max.min(4), job_slots: 0 };
        return Ok(Opened { options, embedded: None, mode: Mode::EmbeddedAttached });
    }
    let pg = EmbeddedPostgres::start(&embedded_options(config)).await?;
    let options = DatabaseOptions::embedded(&pg, roles, max);
    Ok(Opened { options, embedded: Some(pg), mode: Mode::EmbeddedOwned })
}

impl Opened {
    /// Stops the embedded cluster if we own it.
    pub async fn close(self) {
        stop_postgres(self.embedded).await;
    }
}

/// Stops an embedded cluster we own (no-op for `None`), logging rather than failing.
pub async fn stop_postgres(pg: Option<EmbeddedPostgres>) {
    if let Some(pg) = pg
        && let Err(e) = pg.stop().await
    {
        tracing::warn!(error = %e, "stopping embedded PostgreSQL");
    }
}

/// The operator token: configured, or (embedded mode) kept in `<data-dir>/admin-token`,
/// generated with mode 0600 on first use.
pub fn admin_token(config: &Config, embedded: bool) -> anyhow::Result<(Option<SecretString>, Option<PathBuf>)> {
    generated_secret(config.admin_token.as_ref(), embedded, &config.data_dir.join("admin-token"), || {
        Ok(format!("vxa_{}", random_hex(32)?))
    })
}

/// Replaces the generated admin token in `<data-dir>/admin-token` (a running `serve` picks the
/// new one up within seconds; the old one stops working then). A configured token is rotated
/// where it is configured.
pub fn rotate_admin_token(config: &Config, embedded: bool) -> anyhow::Result<PathBuf> {
    if config.admin_token.is_some() {
        anyhow::bail!(
            "the admin token is configured (VEXTRUS_ADMIN_TOKEN or VEXTRUS_ADMIN_TOKEN_FILE): change it there and \
             restart the instances"
        );
    }
    if !embedded {
        anyhow::bail!("no admin token is in use: with an external database, configure one (VEXTRUS_ADMIN_TOKEN_FILE)");
    }
    let path = config.data_dir.join("admin-token");
    // Written aside and renamed over, so a reader sees the old token or the new one, never half.
    let staged = config.data_dir.join("admin-token.new");
    let _ = std::fs::remove_file(&staged);
    write_private(&staged, &format!("vxa_{}", random_hex(32)?))?;
    std::fs::rename(&staged, &path).with_context(|| format!("cannot replace {}", path.display()))?;
    Ok(path)
}

/// The token file's current content, for `serve` to notice a rotation.
pub fn read_token_file(path: &Path) -> Option<SecretString> {
    let value = std::fs::read_to_string(path).ok()?.trim().to_owned();
    (!value.is_empty()).then(|| SecretString::from(value))
}

/// The master key that seals token signing keys: configured, or (embedded mode) kept in
/// `<data-dir>/master-key`. Losing it means losing the signing keys (tokens must be re-issued).
pub fn master_key(config: &Config, embedded: bool) -> anyhow::Result<vextrus_identity::keys::MasterKey> {
    let (hex, _) = generated_secret(config.master_key.as_ref(), embedded, &config.data_dir.join("master-key"), || {
        Ok(vextrus_identity::keys::MasterKey::generate_hex())
    })?;
    let hex =
        hex.context("master_key is required with an external database: set VEXTRUS_MASTER_KEY_FILE (64 hex digits)")?;
    vextrus_identity::keys::MasterKey::from_hex(hex.expose_secret()).context("invalid value for `master_key`")
}

/// A configured secret, else in embedded mode one kept in `path` (0600), generated on first use.
fn generated_secret(
    configured: Option<&SecretString>,
    embedded: bool,
    path: &Path,
    generate: impl FnOnce() -> anyhow::Result<String>,
) -> anyhow::Result<(Option<SecretString>, Option<PathBuf>)> {
    if let Some(secret) = configured {
        return Ok((Some(secret.clone()), None));
    }
    if !embedded {
        return Ok((None, None));
    }
    if let Ok(existing) = std::fs::read_to_string(path) {
        let value = existing.trim().to_owned();
        if !value.is_empty() {
            tighten(path)?;
            return Ok((Some(SecretString::from(value)), Some(path.to_owned())));
        }
    }
    let value = generate()?;
    write_private(path, &value)?;
    Ok((Some(SecretString::from(value)), Some(path.to_owned())))
}

fn random_hex(bytes: usize) -> anyhow::Result<String> {
    let mut buffer = vec![0u8; bytes];
    getrandom::fill(&mut buffer).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
    Ok(buffer.iter().map(|b| format!("{b:02x}")).collect())
}

fn write_private(path: &Path, contents: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    file.write_all(contents.as_bytes())?;
    file.write_all(b"\n")?;
    Ok(())
}

fn tighten(path: &Path) -> anyhow::Result<()> {
    let mode = std::fs::metadata(path)?.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        tracing::warn!(path = %path.display(), mode = format!("{mode:o}"), "admin token file was readable by others; setting 0600");
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    }
    Ok(())
}

/// Object storage as configured: a local directory, or an S3/MinIO bucket.
pub fn storage(config: &Config) -> anyhow::Result<vextrus_storage::Storage> {
    let s = &config.storage;
    if s.backend != "s3" {
        return Ok(vextrus_storage::Storage::local(&config.storage_dir())?);
    }
    let settings = vextrus_storage::S3Settings {
        bucket: s.s3_bucket.clone().unwrap_or_default(),
        region: s.s3_region.clone(),
        endpoint: s.s3_endpoint.clone(),
        access_key_id: s.s3_access_key_id.clone().unwrap_or_default(),
        secret_access_key: s.s3_secret_access_key.as_ref().map(|k| k.expose_secret().to_owned()).unwrap_or_default(),
        allow_http: s.s3_allow_http,
    };
    Ok(vextrus_storage::Storage::s3(&settings)?)
}

/// Files as configured: the object store, the staging directory and the scanner.
pub async fn files(
    config: &Config,
    storage: vextrus_storage::Storage,
    db: &vextrus_db::Database,
) -> anyhow::Result<vextrus_files::Files> {
    let f = &config.files;
    let scanner = match f.clamd.as_deref().map(str::trim).filter(|a| !a.is_empty()) {
        Some(address) => {
            let address =
                vextrus_files::scan::ClamdAddress::parse(address).map_err(|m| anyhow::anyhow!("files.clamd: {m}"))?;
            Some(vextrus_files::scan::Scanner::new(
                address,
                std::time::Duration::from_secs(f.scan_timeout_secs.max(1)),
                f.scan_max_mib.saturating_mul(1 << 20),
            ))
        }
        None => None,
    };
    let staging = config.staging_dir();
    let files = vextrus_files::Files::new(vextrus_files::Inner {
        storage,
        staging: staging.clone(),
        scanner,
        max_file_bytes: f.max_file_mib.max(1).saturating_mul(1 << 20),
        tus_expiry: std::time::Duration::from_secs(f.tus_expiry_hours.clamp(1, 24 * 30) * 3600),
        upload_deadline: std::time::Duration::from_secs(f.request_timeout_secs),
        link_key: vextrus_files::links::link_key(db).await.context("loading the signed-link key")?,
        public_url: config.public_url(),
    })
    .with_context(|| format!("creating the staging directory {}", staging.display()))?;
    Ok(files)
}

/// The registry's uplinks as configured (`registry.uplink_url`, then `[[registry.uplinks]]`);
/// `None` when nothing is proxied.
pub fn proxy(config: &Config) -> anyhow::Result<Option<std::sync::Arc<vextrus_registry::proxy::Proxy>>> {
    use std::time::Duration;
    use vextrus_registry::proxy::{Proxy, ProxySettings, Uplink};
    let r = &config.registry;
    let mut uplinks = Vec::new();
    if let Some(url) = r.uplink_url.as_deref().filter(|u| !u.trim().is_empty()) {
        uplinks.push(Uplink::new("upstream", url).map_err(anyhow::Error::msg).context("registry.uplink_url")?);
    }
    for u in &r.uplinks {
        let mut uplink = Uplink::new(&u.name, &u.url).map_err(anyhow::Error::msg).context("registry.uplinks")?;
        uplink.auth = u.auth.as_ref().map(|a| a.expose_secret().to_owned());
        uplink.packages = u.packages.clone();
        uplink.timeout = Duration::from_secs(u.timeout_secs);
        uplink.maxage = Duration::from_secs(u.maxage_secs);
        uplink.not_found_ttl = Duration::from_secs(u.not_found_ttl_secs);
        uplink.max_failures = u.max_failures;
        uplink.fail_timeout = Duration::from_secs(u.fail_timeout_secs);
        uplinks.push(uplink);
    }
    if uplinks.is_empty() {
        return Ok(None);
    }
    let hours = i64::try_from(r.min_release_age_hours).unwrap_or(i64::MAX / 3_600_000);
    let settings = ProxySettings {
        uplinks,
        min_release_age: (hours > 0).then(|| chrono::Duration::hours(hours)),
        anonymous: r.proxy_anonymous,
        memory_bytes: usize::try_from(r.proxy_memory_mib.saturating_mul(1 << 20)).unwrap_or(usize::MAX),
    };
    Ok(Some(std::sync::Arc::new(Proxy::new(settings))))
}

/// `[[registry.access]]`: who may read packages by default, by name.
pub fn access_rules(config: &Config) -> anyhow::Result<vextrus_registry::access::AccessRules> {
    let rules = config.registry.access.iter().map(|r| vextrus_registry::access::AccessRule::new(&r.packages, &r.read));
    let rules: Result<Vec<_>, String> = rules.collect();
    Ok(vextrus_registry::access::AccessRules::new(rules.map_err(anyhow::Error::msg)?))
}

/// Notify with the configured providers (SMTP, SMS in failover order) and, where `dev` is on,
/// the dev mailbox for every channel without one.
pub async fn notify(
    config: &Config,
    db: &vextrus_db::Database,
    dev: bool,
    vault: Option<vextrus_notify::Vault>,
) -> anyhow::Result<vextrus_notify::Notify> {
    use std::time::Duration;

    use vextrus_notify::providers::Breaker;
    use vextrus_notify::providers::alpha::Alpha;
    use vextrus_notify::providers::limiter::Limiter;
    use vextrus_notify::providers::ssl_wireless::SslWireless;
    use vextrus_notify::{SmsProvider, SmsRoute};

    let n = &config.notify;
    let email = email_routes(n)?;
    let client = vextrus_notify::providers::http_client(Duration::from_secs(n.sms.timeout_secs.max(1)))?;
    let mut sms = Vec::new();
    for name in n.sms.providers.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (provider, rate, key, max_per_sec) = match name {
            "alpha" => {
                let a = &n.sms.alpha;
                let api_key =
                    a.api_key.clone().context("notify.sms.alpha.api_key is required when alpha is a provider")?;
                let provider = SmsProvider::Alpha(Alpha {
                    base_url: a.base_url.clone(),
                    api_key,
                    sender_id: a.sender_id.clone().filter(|s| !s.is_empty()),
                    client: client.clone(),
                });
                (provider, &a.rate_bdt, "notify.sms.alpha.rate_bdt", a.max_per_sec)
            }
            "ssl_wireless" => {
                let s = &n.sms.ssl_wireless;
                let api_token = s
                    .api_token
                    .clone()
                    .context("notify.sms.ssl_wireless.api_token is required when ssl_wireless is a provider")?;
                anyhow::ensure!(
                    !s.sid.trim().is_empty(),
                    "notify.sms.ssl_wireless.sid is required when ssl_wireless is a provider"
                );
                let provider = SmsProvider::SslWireless(SslWireless {
                    base_url: s.base_url.clone(),
                    api_token,
                    sid: s.sid.trim().to_owned(),
                    client: client.clone(),
                });
                (provider, &s.rate_bdt, "notify.sms.ssl_wireless.rate_bdt", s.max_per_sec)
            }
            other => anyhow::bail!("notify.sms.providers: {other:?} is not a provider (alpha, ssl_wireless)"),
        };
        let rate = vextrus_notify::parse_bdt(rate).map_err(|m| anyhow::anyhow!("{key}: {m}"))?;
        let breaker = Breaker::new(n.sms.breaker_failures, Duration::from_secs(n.sms.breaker_cooldown_secs));
        let limit = Limiter::new(f64::from(max_per_sec), max_per_sec);
        sms.push(SmsRoute { provider, rate, breaker, limit });
    }
    let fcm = match &n.push.fcm.service_account {
        None => None,
        Some(account) => {
            use secrecy::ExposeSecret as _;
            let client = vextrus_notify::providers::http_client(Duration::from_secs(n.push.timeout_secs.max(1)))?;
            let fcm = vextrus_notify::providers::fcm::Fcm::from_service_account(
                account.expose_secret(),
                &n.push.fcm.base_url,
                client,
            )
            .map_err(|m| anyhow::anyhow!("notify.push.fcm.service_account: {m}"))?;
            Some(fcm)
        }
    };
    let inbox = vextrus_notify::inbox::Inbox::new(vextrus_notify::inbox::StreamLimits {
        per_user: n.inbox.streams_per_user.max(1) as usize,
        per_instance: n.inbox.streams_per_instance.max(1) as usize,
        max_age: Duration::from_secs(n.inbox.stream_max_secs.max(1)),
    });
    Ok(vextrus_notify::Notify::new(vextrus_notify::Inner {
        templates: crate::templates(),
        dev,
        email,
        sendgrid_events_key: n
            .sendgrid
            .webhook_verification_key
            .as_deref()
            .filter(|k| !k.trim().is_empty())
            .map(vextrus_notify::providers::sendgrid::verification_key)
            .transpose()
            .map_err(anyhow::Error::msg)?,
        sms,
        fcm,
        inbox,
        overrides: vextrus_notify::overrides::Overrides::new(
            usize::try_from(n.template_cache_mib.max(1)).unwrap_or(8) << 20,
        ),
        contacts: Some(vextrus_identity::contacts),
        status_hook: Some(announce_notification),
        vault,
        report_after: Duration::from_secs(n.sms.report_after_secs),
        max_recipients: usize::try_from(n.max_recipients.max(1)).unwrap_or(1000),
        plan_defaults: vextrus_server::Limits::from(&config.limits).plan,
        public_url: config.public_url(),
        link_key: Some(vextrus_notify::link_key(db).await?),
    }))
}

/// The configured email providers in `notify.email.providers` order.
fn email_routes(n: &vextrus_config::NotifyConfig) -> anyhow::Result<Vec<vextrus_notify::EmailRoute>> {
    use std::time::Duration;

    use vextrus_notify::providers::Breaker;
    use vextrus_notify::providers::sendgrid::SendGrid;
    use vextrus_notify::providers::smtp::{Smtp, SmtpSettings};
    use vextrus_notify::{EmailProvider, EmailRoute};

    let mut routes = Vec::new();
    for name in n.email.providers.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (provider, max_per_sec) = match name {
            "smtp" => match n.smtp.url.as_deref().map(str::trim).filter(|u| !u.is_empty()) {
                None => continue,
                Some(url) => {
                    let smtp = Smtp::new(&SmtpSettings {
                        url: url.to_owned(),
                        username: n.smtp.username.clone().filter(|u| !u.is_empty()),
                        password: n.smtp.password.clone(),
                        from: n.smtp.from.clone(),
                        pool_size: n.smtp.pool_size,
                        timeout: Duration::from_secs(n.smtp.timeout_secs.max(1)),
                    })
                    .map_err(anyhow::Error::msg)?;
                    (EmailProvider::Smtp(smtp), n.smtp.max_per_sec)
                }
            },
            "sendgrid" => match &n.sendgrid.api_key {
                None => continue,
                Some(key) => {
                    let client =
                        vextrus_notify::providers::http_client(Duration::from_secs(n.sendgrid.timeout_secs.max(1)))?;
                    let sendgrid = SendGrid::new(&n.sendgrid.base_url, key.clone(), &n.smtp.from, client)
                        .map_err(anyhow::Error::msg)?;
                    (EmailProvider::SendGrid(sendgrid), n.sendgrid.max_per_sec)
                }
            },
            other => anyhow::bail!("notify.email.providers: {other:?} is not a provider (smtp, sendgrid)"),
        };
        let breaker = Breaker::new(n.email.breaker_failures, Duration::from_secs(n.email.breaker_cooldown_secs));
        let limit = vextrus_notify::providers::limiter::Limiter::new(f64::from(max_per_sec), max_per_sec);
        routes.push(EmailRoute { provider, breaker, limit });
    }
    Ok(routes)
}

/// Notify's message outcomes go to the organization's webhooks by the registry's delivery (the
/// platform's one: signed, retried, backing off per endpoint).
pub fn announce_notification<'a>(
    tx: &'a mut vextrus_db::SystemTx,
    tenant: vextrus_db::TenantId,
    event: &'static str,
    data: serde_json::Value,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), vextrus_db::DbError>> + Send + 'a>> {
    Box::pin(vextrus_registry::webhooks::announce(tx, tenant, event, data))
}

/// Organizations' provider credentials sealed under the master key.
pub fn vault(keys: &vextrus_identity::keys::KeyRing) -> vextrus_notify::Vault {
    const CONTEXT: &str = "notify-provider-credentials";
    let (sealing, opening) = (keys.clone(), keys.clone());
    vextrus_notify::Vault::new(
        move |plain| sealing.master().seal(CONTEXT, plain),
        move |sealed| opening.master().open(CONTEXT, sealed).ok(),
    )
}

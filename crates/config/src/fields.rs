//! The catalogue of every configuration key: its environment variable, its kind and its
//! documentation. It is the single source for environment mapping, `*_FILE` secrets, the
//! unknown-variable warning and the configuration reference printed by `vextrus config reference`.

/// How a textual value (environment variable or flag) becomes a TOML value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Str,
    Int,
    Bool,
    /// A string that is never printed or logged; it may also come from `<ENV>_FILE`.
    Secret,
}

/// One configuration key.
#[derive(Debug)]
pub struct Field {
    /// Dotted key as written in `vextrus.toml` (`database.url` is `url` under `[database]`).
    pub key: &'static str,
    /// Extra environment variables accepted besides the derived `VEXTRUS_<KEY>`, weakest first.
    pub env_aliases: &'static [&'static str],
    pub kind: Kind,
    /// The default, as shown in the reference.
    pub default: &'static str,
    pub doc: &'static str,
}

impl Field {
    /// `database.app_role` → `VEXTRUS_DATABASE_APP_ROLE`.
    pub fn env(&self) -> String {
        format!("VEXTRUS_{}", self.key.replace('.', "_").to_ascii_uppercase())
    }
}

pub const FIELDS: &[Field] = &[
    Field {
        key: "listen",
        env_aliases: &[],
        kind: Kind::Str,
        default: "127.0.0.1:8080",
        doc: "Socket address the HTTP server binds to.",
    },
    Field {
        key: "data_dir",
        env_aliases: &[],
        kind: Kind::Str,
        default: "./vextrus-data",
        doc: "Directory for the embedded PostgreSQL cluster, generated secrets and local files.",
    },
    Field {
        key: "admin_token",
        env_aliases: &[],
        kind: Kind::Secret,
        default: "generated in embedded mode",
        doc: "Bearer token of platform operators. Unset in embedded mode: generated once into \
              <data_dir>/admin-token (mode 0600). Unset with an external database: operator API disabled.",
    },
    Field {
        key: "public_url",
        env_aliases: &[],
        kind: Kind::Str,
        default: "http://<listen>",
        doc: "The URL clients reach the platform at (behind a gateway: its public address); the \
              issuer (`iss`) of access tokens and the base of discovery URLs.",
    },
    Field {
        key: "master_key",
        env_aliases: &[],
        kind: Kind::Secret,
        default: "generated in embedded mode",
        doc: "64 hex digits (256 bits) that seal the token signing keys. Unset in embedded mode: \
              generated once into <data_dir>/master-key (0600). Required with an external database.",
    },
    Field {
        key: "auth.audience",
        env_aliases: &[],
        kind: Kind::Str,
        default: "vextrus",
        doc: "`aud` of access tokens; verifiers must expect it.",
    },
    Field {
        key: "auth.access_token_ttl_secs",
        env_aliases: &[],
        kind: Kind::Int,
        default: "900",
        doc: "Lifetime of access tokens (JWT).",
    },
    Field {
        key: "auth.session_ttl_secs",
        env_aliases: &[],
        kind: Kind::Int,
        default: "2592000",
        doc: "Absolute lifetime of a session (a refresh-token family): sign in again after it.",
    },
    Field {
        key: "auth.key_publish_lead_secs",
        env_aliases: &[],
        kind: Kind::Int,
        default: "600",
        doc: "`admin keys rotate`: how long a new signing key is published before it signs.",
    },
    Field {
        key: "dev_mailbox",
        env_aliases: &[],
        kind: Kind::Bool,
        default: "on in embedded mode",
        doc: "notify's dev provider: keep the messages of every channel without a configured provider in the \
              database (GET /v1/dev/mailbox) instead of sending them. For development only; never enable it in \
              production.",
    },
    Field {
        key: "log.format",
        env_aliases: &[],
        kind: Kind::Str,
        default: "auto",
        doc: "`json`, `pretty`, or `auto` (pretty on a terminal, JSON otherwise).",
    },
    Field {
        key: "log.filter",
        env_aliases: &["RUST_LOG"],
        kind: Kind::Str,
        default: "info,sqlx=warn",
        doc: "Log filter in tracing's EnvFilter syntax, e.g. `info,vextrus_db=debug`.",
    },
    Field {
        key: "log.quiet_routes",
        env_aliases: &[],
        kind: Kind::Str,
        default: "/auth/verify",
        doc: "Comma-separated templated routes whose successful requests are counted in the metrics but not \
              logged one by one (forward-auth runs for every request through the gateway, whose access log \
              has them). Failures are always logged. Empty: log every request.",
    },
    Field {
        key: "http.body_limit_bytes",
        env_aliases: &[],
        kind: Kind::Int,
        default: "1048576",
        doc: "Largest accepted JSON request body; larger bodies get 413.",
    },
    Field {
        key: "http.request_timeout_secs",
        env_aliases: &[],
        kind: Kind::Int,
        default: "30",
        doc: "A request still running after this many seconds is answered 503.",
    },
    Field {
        key: "http.shutdown_grace_secs",
        env_aliases: &[],
        kind: Kind::Int,
        default: "20",
        doc: "On SIGINT/SIGTERM, how long in-flight requests and jobs may take to finish.",
    },
    Field {
        key: "http.header_read_timeout_secs",
        env_aliases: &[],
        kind: Kind::Int,
        default: "30",
        doc: "A client must send a request's headers within this many seconds of the connection waiting for \
              them; a keep-alive connection idle this long is closed too.",
    },
    Field {
        key: "http.trust_forwarded_for",
        env_aliases: &[],
        kind: Kind::Bool,
        default: "false",
        doc: "Take the client address (sign-in throttling, API keys' networks) from the last `X-Forwarded-For` \
              entry, and the public URL (while `public_url` is unset) from `X-Forwarded-Proto`/`-Host`. Turn on \
              only behind a proxy that sets them (Traefik does); otherwise clients could pick their own.",
    },
    Field {
        key: "database.url",
        env_aliases: &["DATABASE_URL"],
        kind: Kind::Secret,
        default: "unset: embedded cluster",
        doc: "PostgreSQL URL of a role that owns the schema (or may create the roles). Unset: \
              run the embedded cluster under <data_dir>/postgres.",
    },
    Field {
        key: "database.owner_role",
        env_aliases: &[],
        kind: Kind::Str,
        default: "vextrus_owner",
        doc: "Role that owns every schema and table; migrations run as this role.",
    },
    Field {
        key: "database.app_role",
        env_aliases: &[],
        kind: Kind::Str,
        default: "vextrus_app",
        doc: "Login role of the request path: owns nothing, cannot bypass Row-Level Security.",
    },
    Field {
        key: "database.app_password",
        env_aliases: &[],
        kind: Kind::Secret,
        default: "none",
        doc: "Password of the app role (external database). Set on the role when the platform creates it.",
    },
    Field {
        key: "database.system_role",
        env_aliases: &[],
        kind: Kind::Str,
        default: "vextrus_system",
        doc: "Login role of explicitly cross-tenant work (job dispatch, platform operators): \
              BYPASSRLS, owns nothing.",
    },
    Field {
        key: "database.system_password",
        env_aliases: &[],
        kind: Kind::Secret,
        default: "none",
        doc: "Password of the system role (external database).",
    },
    Field {
        key: "database.migrate_on_start",
        env_aliases: &[],
        kind: Kind::Bool,
        default: "true",
        doc: "Apply pending migrations when `serve` starts.",
    },
    Field {
        key: "database.max_connections",
        env_aliases: &[],
        kind: Kind::Int,
        default: "10",
        doc: "Size of the request-path connection pool (the system pool is a quarter of it, at least 2, \
              plus one connection for each of `jobs.concurrency`).",
    },
    Field {
        key: "database.postgres_bin_dir",
        env_aliases: &[],
        kind: Kind::Str,
        default: "searched",
        doc: "Directory with `initdb` and `postgres` for the embedded cluster. Unset: PATH, then \
              /usr/lib/postgresql/*/bin (newest first).",
    },
    Field {
        key: "database.postgres_os_user",
        env_aliases: &[],
        kind: Kind::Str,
        default: "vextrus-pg",
        doc: "When vextrus runs as root, the unprivileged system user that runs the embedded \
              PostgreSQL (created if missing).",
    },
    Field {
        key: "jobs.concurrency",
        env_aliases: &[],
        kind: Kind::Int,
        default: "4",
        doc: "Jobs run at once by this process; 0 disables the worker.",
    },
    Field {
        key: "jobs.poll_interval_secs",
        env_aliases: &[],
        kind: Kind::Int,
        default: "5",
        doc: "Polling fallback when no LISTEN/NOTIFY wake-up arrives.",
    },
    Field {
        key: "jobs.lease_secs",
        env_aliases: &[],
        kind: Kind::Int,
        default: "60",
        doc: "A claimed job whose worker stops renewing its lease for this long runs again elsewhere.",
    },
    Field {
        key: "jobs.max_attempts",
        env_aliases: &[],
        kind: Kind::Int,
        default: "8",
        doc: "Attempts before a failing job moves to the dead-letter state (per-job override possible).",
    },
    Field {
        key: "audit.retention_months",
        env_aliases: &[],
        kind: Kind::Int,
        default: "12",
        doc: "How long an organization's audit events are kept unless it chooses otherwise \
              (`PUT /v1/audit/settings`); a daily job removes older ones after sealing a signed anchor.",
    },
    Field {
        key: "audit.min_retention_months",
        env_aliases: &[],
        kind: Kind::Int,
        default: "12",
        doc: "The least retention an organization may choose (1–120). PCI DSS and ISO 27001 ask for a year.",
    },
    Field {
        key: "storage.backend",
        env_aliases: &[],
        kind: Kind::Str,
        default: "local",
        doc: "Where objects (registry tarballs, organizations' files) are kept: `local` (a directory) or `s3` (S3 or MinIO).",
    },
    Field {
        key: "storage.local_dir",
        env_aliases: &[],
        kind: Kind::Str,
        default: "<data_dir>/objects",
        doc: "The directory of the `local` backend.",
    },
    Field {
        key: "storage.s3_bucket",
        env_aliases: &[],
        kind: Kind::Str,
        default: "",
        doc: "The bucket of the `s3` backend (required with it).",
    },
    Field {
        key: "storage.s3_region",
        env_aliases: &["AWS_REGION"],
        kind: Kind::Str,
        default: "us-east-1",
        doc: "The bucket's region.",
    },
    Field {
        key: "storage.s3_endpoint",
        env_aliases: &[],
        kind: Kind::Str,
        default: "AWS",
        doc: "The endpoint of an S3-compatible server (MinIO: `http://minio:9000`); path-style requests.",
    },
    Field {
        key: "storage.s3_access_key_id",
        env_aliases: &["AWS_ACCESS_KEY_ID"],
        kind: Kind::Str,
        default: "",
        doc: "Access key id of the `s3` backend (required with it).",
    },
    Field {
        key: "storage.s3_secret_access_key",
        env_aliases: &["AWS_SECRET_ACCESS_KEY"],
        kind: Kind::Secret,
        default: "",
        doc: "Secret access key of the `s3` backend (required with it; or `_FILE`).",
    },
    Field {
        key: "storage.s3_allow_http",
        env_aliases: &[],
        kind: Kind::Bool,
        default: "false",
        doc: "Allow an `http://` endpoint (a MinIO on the same host or network).",
    },
    Field {
        key: "files.clamd",
        env_aliases: &[],
        kind: Kind::Str,
        default: "",
        doc: "ClamAV's clamd for scanning uploads: a Unix socket path or `host:port`. Empty: no scanner, and \
              every file is `unscanned` (buckets decide whether such files may be read).",
    },
    Field {
        key: "files.scan_max_mib",
        env_aliases: &[],
        kind: Kind::Int,
        default: "25",
        doc: "The largest file sent to clamd (MiB); larger files are `unscanned`. Keep it at or below \
              clamd's `StreamMaxLength`.",
    },
    Field {
        key: "files.scan_timeout_secs",
        env_aliases: &[],
        kind: Kind::Int,
        default: "60",
        doc: "Time limit of one scan; a scan that takes longer leaves the file `unscanned`.",
    },
    Field {
        key: "files.max_file_mib",
        env_aliases: &[],
        kind: Kind::Int,
        default: "2048",
        doc: "The largest file any bucket may take (MiB); each bucket sets its own maximum below it.",
    },
    Field {
        key: "files.staging_dir",
        env_aliases: &[],
        kind: Kind::Str,
        default: "<data_dir>/staging",
        doc: "Where uploads are written while they are checked. With the `local` backend keep it on the \
              objects' file system: a checked file is then moved in by a rename.",
    },
    Field {
        key: "files.request_timeout_secs",
        env_aliases: &[],
        kind: Kind::Int,
        default: "3600",
        doc: "Time limit of one files request until its answer starts (an upload over a slow link).",
    },
    Field {
        key: "files.tus_expiry_hours",
        env_aliases: &[],
        kind: Kind::Int,
        default: "24",
        doc: "How long a resumable (tus) upload may take from its creation (1 to 720); an unfinished one is \
              then removed and its reserved storage given back.",
    },
    Field {
        key: "registry.max_tarball_bytes",
        env_aliases: &[],
        kind: Kind::Int,
        default: "104857600",
        doc: "Largest package tarball the npm registry accepts (100 MiB); the publish request may be a third \
              larger (base64).",
    },
    Field {
        key: "registry.request_timeout_secs",
        env_aliases: &[],
        kind: Kind::Int,
        default: "900",
        doc: "Time limit of one npm registry request until its answer starts (a publish of a large package \
              over a slow link); other routes have `http.request_timeout_secs`. Downloads stream afterwards.",
    },
    Field {
        key: "registry.uplink_url",
        env_aliases: &[],
        kind: Kind::Str,
        default: "",
        doc: "An upstream registry to proxy and cache (`https://registry.npmjs.org/`) for every name no \
              organization here owns; more uplinks, with their own limits, as `[[registry.uplinks]]` in the \
              file. Empty and none listed: nothing is proxied.",
    },
    Field {
        key: "registry.min_release_age_hours",
        env_aliases: &[],
        kind: Kind::Int,
        default: "0",
        doc: "Hide proxied versions published less than this long ago (a supply-chain quarantine); \
              `latest` falls back to the newest version old enough. Packages owned here are exempt.",
    },
    Field {
        key: "registry.proxy_anonymous",
        env_aliases: &[],
        kind: Kind::Bool,
        default: "false",
        doc: "Serve proxied packages without a token (off: any signed-in platform user or API key); also answers \
              `npm search` without a token (public packages, and the uplinks' with `registry.uplink_search`).",
    },
    Field {
        key: "registry.uplink_search",
        env_aliases: &[],
        kind: Kind::Bool,
        default: "false",
        doc: "`npm search` also asks the first uplink that answers and lists its results after the packages \
              hosted here (as Verdaccio does).",
    },
    Field {
        key: "registry.proxy_memory_mib",
        env_aliases: &[],
        kind: Kind::Int,
        default: "256",
        doc: "Roughly how much memory proxied packuments may take per instance (their bytes and renderings); \
              beyond it they are read again from PostgreSQL, not from the upstream.",
    },
    Field {
        key: "registry.packument_cache_mib",
        env_aliases: &[],
        kind: Kind::Int,
        default: "64",
        doc: "How much memory the served packuments of hosted packages may take per instance. One copy serves \
              every public URL, so no request header can make the platform keep another.",
    },
    Field {
        key: "registry.webhooks_reach_internal",
        env_aliases: &[],
        kind: Kind::Bool,
        default: "false",
        doc: "Let publish webhooks be delivered to loopback, private and link-local addresses (off: such \
              deliveries are refused, so a webhook cannot probe the platform's own network).",
    },
    Field {
        key: "registry.allow_unscoped",
        env_aliases: &[],
        kind: Kind::Bool,
        default: "false",
        doc: "Let organizations publish unscoped package names (`left-pad`, not `@org/left-pad`): the first \
              organization to publish a name owns it while any version of it exists. Off: only scopes.",
    },
    Field {
        key: "registry.adduser_org",
        env_aliases: &[],
        kind: Kind::Str,
        default: "",
        doc: "Slug of the organization that `npm adduser` or `npm login` with a new username joins: it creates \
              the platform user (address unverified; `<name>@npm-login.invalid` until set when `npm login` \
              sends none) with the role `registry.adduser_role`, counted against \
              `limits.signups_per_address_per_hour`. Empty: npm creates no user.",
    },
    Field {
        key: "registry.adduser_role",
        env_aliases: &[],
        kind: Kind::Str,
        default: "viewer",
        doc: "Role of users `npm adduser` creates: `viewer` (install) or `member` (install and publish).",
    },
    Field {
        key: "limits.signups_per_address_per_hour",
        env_aliases: &[],
        kind: Kind::Int,
        default: "10",
        doc: "Sign-ups from one client address per hour (429 beyond).",
    },
    Field {
        key: "limits.api_keys_per_owner",
        env_aliases: &[],
        kind: Kind::Int,
        default: "50",
        doc: "Active API keys one user or service account may hold in one organization (422 `limit_reached` beyond).",
    },
    Field {
        key: "limits.roles_per_org",
        env_aliases: &[],
        kind: Kind::Int,
        default: "100",
        doc: "Custom roles per organization.",
    },
    Field {
        key: "limits.service_accounts_per_org",
        env_aliases: &[],
        kind: Kind::Int,
        default: "50",
        doc: "Service accounts per organization.",
    },
    Field {
        key: "limits.webhooks_per_org",
        env_aliases: &[],
        kind: Kind::Int,
        default: "20",
        doc: "Publish webhooks per organization.",
    },
    Field {
        key: "limits.web_logins_per_address_per_hour",
        env_aliases: &[],
        kind: Kind::Int,
        default: "30",
        doc: "Anonymous `npm login` (web) starts from one client address per hour.",
    },
    Field {
        key: "limits.mails_per_recipient_per_hour",
        env_aliases: &[],
        kind: Kind::Int,
        default: "5",
        doc: "Password-reset, verification and invitation mails to one address per hour; beyond it they are not sent (invitations answer 429).",
    },
    Field {
        key: "limits.invitations_before_verified",
        env_aliases: &[],
        kind: Kind::Int,
        default: "3",
        doc: "Invitations an organization may send before its owner has verified their email address.",
    },
    Field {
        key: "limits.pending_invitations_per_org",
        env_aliases: &[],
        kind: Kind::Int,
        default: "500",
        doc: "Invitations an organization may have pending at once.",
    },
    Field {
        key: "limits.storage_mib_per_org",
        env_aliases: &[],
        kind: Kind::Int,
        default: "5120",
        doc: "The default plan's storage (MiB) for an organization's files; an operator's plan replaces the \
              default plan's four limits (`PUT /v1/orgs/{org}/plan`).",
    },
    Field {
        key: "limits.members_per_org",
        env_aliases: &[],
        kind: Kind::Int,
        default: "100",
        doc: "The default plan's members per organization (invitations beyond answer 422 `limit_reached`).",
    },
    Field {
        key: "limits.api_keys_per_org",
        env_aliases: &[],
        kind: Kind::Int,
        default: "200",
        doc: "The default plan's active API keys per organization, all holders together.",
    },
    Field {
        key: "limits.sms_per_org_per_month",
        env_aliases: &[],
        kind: Kind::Int,
        default: "1000",
        doc: "The default plan's SMS messages per organization per calendar month (Dhaka).",
    },
    Field {
        key: "notify.max_recipients",
        env_aliases: &[],
        kind: Kind::Int,
        default: "1000",
        doc: "The most recipients one `POST /v1/notifications` may name.",
    },
    Field {
        key: "notify.template_cache_mib",
        env_aliases: &[],
        kind: Kind::Int,
        default: "8",
        doc: "Memory each instance keeps organizations' own message texts in (read once, forgotten on change).",
    },
    Field {
        key: "notify.email.providers",
        env_aliases: &[],
        kind: Kind::Str,
        default: "smtp,sendgrid",
        doc: "Email providers in failover order, comma-separated, among those configured: `smtp` and `sendgrid`.",
    },
    Field {
        key: "notify.email.breaker_failures",
        env_aliases: &[],
        kind: Kind::Int,
        default: "5",
        doc: "Failures in a row after which an email provider is skipped (its circuit breaker opens).",
    },
    Field {
        key: "notify.email.breaker_cooldown_secs",
        env_aliases: &[],
        kind: Kind::Int,
        default: "30",
        doc: "How long an open breaker skips its email provider before one message tries it again.",
    },
    Field {
        key: "notify.sendgrid.api_key",
        env_aliases: &[],
        kind: Kind::Secret,
        default: "",
        doc: "SendGrid API key with Mail Send access (or `_FILE`). Unset: no SendGrid. The `From` is `notify.smtp.from`.",
    },
    Field {
        key: "notify.sendgrid.base_url",
        env_aliases: &[],
        kind: Kind::Str,
        default: "https://api.sendgrid.com",
        doc: "SendGrid v3 API.",
    },
    Field {
        key: "notify.sendgrid.webhook_verification_key",
        env_aliases: &[],
        kind: Kind::Str,
        default: "",
        doc: "The signed Event Webhook's verification key (base64, as SendGrid shows it); its URL is \
              `/v1/notifications/providers/sendgrid/events`. Unset: the webhook refuses every post.",
    },
    Field {
        key: "notify.sendgrid.timeout_secs",
        env_aliases: &[],
        kind: Kind::Int,
        default: "10",
        doc: "How long SendGrid may take to answer before the next email provider is tried.",
    },
    Field {
        key: "notify.sendgrid.max_per_sec",
        env_aliases: &[],
        kind: Kind::Int,
        default: "0",
        doc: "Messages a second this instance hands SendGrid (0: no limit); past it the next provider is tried, or the message waits.",
    },
    Field {
        key: "notify.smtp.url",
        env_aliases: &[],
        kind: Kind::Str,
        default: "",
        doc: "Send email by SMTP: `smtp://host:25` (plain, a local relay), `smtp://host:587?tls=required` \
              (STARTTLS) or `smtps://host:465` (implicit TLS). Unset: email goes to the dev mailbox where it is on, \
              and nowhere otherwise.",
    },
    Field {
        key: "notify.smtp.username",
        env_aliases: &[],
        kind: Kind::Str,
        default: "",
        doc: "SMTP user name (with `notify.smtp.password`).",
    },
    Field {
        key: "notify.smtp.password",
        env_aliases: &[],
        kind: Kind::Secret,
        default: "",
        doc: "SMTP password (or `_FILE`).",
    },
    Field {
        key: "notify.smtp.from",
        env_aliases: &[],
        kind: Kind::Str,
        default: "Vextrus <no-reply@vextrus.invalid>",
        doc: "The `From` of every email: `Name <address>` on a domain whose SPF and DKIM allow the SMTP server.",
    },
    Field {
        key: "notify.smtp.pool_size",
        env_aliases: &[],
        kind: Kind::Int,
        default: "8",
        doc: "The most SMTP connections open at once; they stay open and are reused between messages \
              (one unused for 60 s is closed at the next email).",
    },
    Field {
        key: "notify.smtp.timeout_secs",
        env_aliases: &[],
        kind: Kind::Int,
        default: "30",
        doc: "How long sending one email may take (waiting for a free connection, connecting, the exchange) \
              before the message is retried.",
    },
    Field {
        key: "notify.smtp.max_per_sec",
        env_aliases: &[],
        kind: Kind::Int,
        default: "0",
        doc: "Messages a second this instance hands the SMTP server (0: no limit); past it the next provider is tried, or the message waits.",
    },
    Field {
        key: "notify.sms.providers",
        env_aliases: &[],
        kind: Kind::Str,
        default: "",
        doc: "SMS providers in failover order, comma-separated: `alpha` (Alpha SMS, sms.net.bd) and \
              `ssl_wireless` (SSL Wireless ISMS Plus v3). Empty: SMS go to the dev mailbox where it is on.",
    },
    Field {
        key: "notify.sms.timeout_secs",
        env_aliases: &[],
        kind: Kind::Int,
        default: "10",
        doc: "How long an SMS provider may take to answer before the next one is tried.",
    },
    Field {
        key: "notify.sms.breaker_failures",
        env_aliases: &[],
        kind: Kind::Int,
        default: "5",
        doc: "Failures in a row after which an SMS provider is skipped (its circuit breaker opens).",
    },
    Field {
        key: "notify.sms.breaker_cooldown_secs",
        env_aliases: &[],
        kind: Kind::Int,
        default: "30",
        doc: "How long an open breaker skips its provider before one message tries it again.",
    },
    Field {
        key: "notify.sms.report_after_secs",
        env_aliases: &[],
        kind: Kind::Int,
        default: "60",
        doc: "When an SMS sent through Alpha SMS has its delivery report first asked for (then with backoff).",
    },
    Field {
        key: "notify.sms.alpha.base_url",
        env_aliases: &[],
        kind: Kind::Str,
        default: "https://api.sms.net.bd",
        doc: "Alpha SMS API.",
    },
    Field {
        key: "notify.sms.alpha.api_key",
        env_aliases: &[],
        kind: Kind::Secret,
        default: "",
        doc: "Alpha SMS API key (or `_FILE`).",
    },
    Field {
        key: "notify.sms.alpha.sender_id",
        env_aliases: &[],
        kind: Kind::Str,
        default: "",
        doc: "Approved Alpha SMS sender id (an organization's own replaces it for its messages).",
    },
    Field {
        key: "notify.sms.alpha.rate_bdt",
        env_aliases: &[],
        kind: Kind::Str,
        default: "0.25",
        doc: "Alpha SMS price per SMS part in BDT: costs are estimated and budgets counted with it.",
    },
    Field {
        key: "notify.sms.alpha.max_per_sec",
        env_aliases: &[],
        kind: Kind::Int,
        default: "0",
        doc: "Messages a second this instance hands Alpha SMS (0: no limit); past it the next provider is tried, or the message waits.",
    },
    Field {
        key: "notify.sms.ssl_wireless.base_url",
        env_aliases: &[],
        kind: Kind::Str,
        default: "https://smsplus.sslwireless.com/api/v3",
        doc: "SSL Wireless ISMS Plus API.",
    },
    Field {
        key: "notify.sms.ssl_wireless.api_token",
        env_aliases: &[],
        kind: Kind::Secret,
        default: "",
        doc: "SSL Wireless API token (or `_FILE`).",
    },
    Field {
        key: "notify.sms.ssl_wireless.sid",
        env_aliases: &[],
        kind: Kind::Str,
        default: "",
        doc: "SSL Wireless SID (sender).",
    },
    Field {
        key: "notify.sms.ssl_wireless.rate_bdt",
        env_aliases: &[],
        kind: Kind::Str,
        default: "0.30",
        doc: "SSL Wireless price per SMS part in BDT.",
    },
    Field {
        key: "notify.sms.ssl_wireless.max_per_sec",
        env_aliases: &[],
        kind: Kind::Int,
        default: "0",
        doc: "Messages a second this instance hands SSL Wireless (0: no limit); past it the next provider is tried, or the message waits.",
    },
    Field {
        key: "notify.push.timeout_secs",
        env_aliases: &[],
        kind: Kind::Int,
        default: "10",
        doc: "How long FCM may take to answer (token or send) before the push is retried.",
    },
    Field {
        key: "notify.push.fcm.service_account",
        env_aliases: &[],
        kind: Kind::Secret,
        default: "",
        doc: "The Firebase service account's key file (JSON: `project_id`, `client_email`, `private_key`, \
              `token_uri`); give it as `_FILE`. Unset: push goes to the dev mailbox where it is on.",
    },
    Field {
        key: "notify.push.fcm.base_url",
        env_aliases: &[],
        kind: Kind::Str,
        default: "https://fcm.googleapis.com",
        doc: "FCM HTTP v1 API.",
    },
    Field {
        key: "notify.inbox.streams_per_user",
        env_aliases: &[],
        kind: Kind::Int,
        default: "5",
        doc: "Live inbox streams (`GET /v1/me/notifications/stream`) one user may hold open on an instance.",
    },
    Field {
        key: "notify.inbox.streams_per_instance",
        env_aliases: &[],
        kind: Kind::Int,
        default: "10000",
        doc: "Live inbox streams one instance serves at once (past it: 503 `streams_full`).",
    },
    Field {
        key: "notify.inbox.stream_max_secs",
        env_aliases: &[],
        kind: Kind::Int,
        default: "300",
        doc: "How long a live inbox stream lasts before the client reconnects (with `Last-Event-ID`, missing nothing).",
    },
];

/// The field with this dotted key.
pub fn field(key: &str) -> Option<&'static Field> {
    FIELDS.iter().find(|f| f.key == key)
}

//! Shared by the integration tests: a database with every module's migrations, and the
//! assembled app served on a loopback port.

#![allow(dead_code)]

pub mod binary;
pub mod npm;

use std::time::Duration;

use reqwest::Method;
use secrecy::SecretString;
use serde_json::{Value, json};
use vextrus_db::jobs::{Worker, WorkerOptions};
use vextrus_server::{HttpSettings, OperatorToken};
use vextrus_testkit::TestDb;

pub const TOKEN: &str = "test-operator-token-0123456789";

pub const ISSUER: &str = "http://vextrus.test";

/// The password of every account the helpers create.
pub const PASSWORD: &str = "Shapla-Bazar-2026";

/// The claims of a JWT, unverified (for looking at what the platform issued).
pub fn claims(access_token: &str) -> Value {
    use base64::Engine as _;
    let payload = access_token.split('.').nth(1).unwrap();
    serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

/// Asserts an RFC 9457 problem with `status` and `code`; answers its body.
pub async fn problem(response: reqwest::Response, status: u16, code: &str) -> Value {
    assert_eq!(response.status().as_u16(), status);
    assert_eq!(response.headers()["content-type"], "application/problem+json");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["code"], code, "{body}");
    assert_eq!(body["status"], status);
    assert_eq!(body["type"], format!("urn:vextrus:problem:{code}"));
    body
}

/// The code on its own line in a mail body (verification, invitation).
pub fn code_in(body: &str) -> String {
    body.lines().map(str::trim).find(|l| l.len() >= 40 && !l.contains(' ')).expect("a code in the mail").to_owned()
}

/// Module settings of a development instance (dev mailbox on), with a fresh master key and the
/// database's signing keys; the organization status cache follows changes as in `serve`.
pub async fn modules(db: &vextrus_db::Database) -> vextrus::ModuleSettings {
    let config = vextrus_config::Config { public_url: Some(ISSUER.into()), ..Default::default() };
    let master =
        vextrus_identity::keys::MasterKey::from_hex(&vextrus_identity::keys::MasterKey::generate_hex()).unwrap();
    let auth = vextrus::auth(&config, db, master).await.unwrap();
    tokio::spawn(auth.orgs.clone().follow(db.clone(), std::future::pending()));
    tokio::spawn(auth.api_keys.clone().follow(db.clone(), std::future::pending()));
    tokio::spawn(auth.standing.clone().follow(db.clone(), std::future::pending()));
    let access = vextrus::access(db).await.unwrap();
    let vault = vextrus::platform::vault(&auth.keys);
    tokio::spawn(access.clone().follow(db.clone(), std::future::pending()));
    // Objects of a test instance live as long as the test process (the directory is left behind
    // in the system temp dir, like the test databases).
    let objects = tempfile::tempdir().unwrap().keep();
    let mut registry = vextrus_registry::RegistrySettings::new(vextrus_storage::Storage::local(&objects).unwrap());
    registry.max_tarball_bytes = 1024 * 1024;
    let signing = vextrus_registry::signing::Signing::new(auth.keys.clone());
    signing.initialise(db).await.unwrap();
    registry.signing = Some(signing);
    // Tests' webhook receivers listen on loopback.
    registry.webhooks_reach_internal = true;
    tokio::spawn(registry.clone().follow(db.clone(), std::future::pending()));
    vextrus::ModuleSettings {
        identity: dev_identity(),
        auth,
        access,
        retention: Default::default(),
        registry,
        notify: vextrus::platform::notify(&config, db, true, Some(vault)).await.unwrap(),
        files: files(vextrus_files::links::link_key(db).await.unwrap(), &objects, None),
        // Tests sign up many organizations and mail many invitations from one address; the
        // limits' own tests set them low.
        limits: vextrus_server::Limits {
            signups_per_address_per_hour: 1000,
            web_logins_per_address_per_hour: 1000,
            mails_per_recipient_per_hour: 1000,
            invitations_before_verified: 1000,
            ..Default::default()
        },
    }
}

/// Files on the test instance's object directory, staged beside it; `clamd` when given.
pub fn files(
    link_key: ring::hmac::Key,
    objects: &std::path::Path,
    clamd: Option<vextrus_files::scan::Scanner>,
) -> vextrus_files::Files {
    vextrus_files::Files::new(vextrus_files::Inner {
        storage: vextrus_storage::Storage::local(objects).unwrap(),
        staging: objects.with_extension("staging"),
        scanner: clamd,
        max_file_bytes: 64 << 20,
        tus_expiry: Duration::from_secs(24 * 3600),
        upload_deadline: Duration::from_secs(3600),
        link_key,
        public_url: ISSUER.into(),
    })
    .unwrap()
}

pub fn dev_identity() -> vextrus_identity::IdentityConfig {
    vextrus_identity::IdentityConfig { trust_forwarded_for: false }
}

pub async fn test_db() -> TestDb {
    TestDb::new(vextrus::MODULES).await
}

/// A running server on 127.0.0.1:<random port> and a client for it.
pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    pub db: TestDb,
    pub openapi: utoipa::openapi::OpenApi,
    pub auth: vextrus_identity::Auth,
    server: std::sync::Mutex<Option<(tokio::sync::oneshot::Sender<()>, tokio::task::JoinHandle<()>)>>,
    pub modules: vextrus::ModuleSettings,
}

impl TestApp {
    pub async fn start() -> Self {
        Self::start_with(HttpSettings::new(64 * 1024, Duration::from_secs(10))).await
    }

    pub async fn start_with(settings: HttpSettings) -> Self {
        Self::start_configured(settings, |_| {}).await
    }

    /// Behind a proxy that sets `X-Forwarded-For` (`http.trust_forwarded_for`).
    pub async fn start_behind_proxy() -> Self {
        let settings = HttpSettings::new(64 * 1024, Duration::from_secs(10));
        Self::start_configured(settings, |modules| {
            modules.identity.trust_forwarded_for = true;
            modules.registry.trust_forwarded = true;
        })
        .await
    }

    pub async fn start_configured(
        settings: HttpSettings,
        configure: impl FnOnce(&mut vextrus::ModuleSettings),
    ) -> Self {
        let db = test_db().await;
        let mut modules = modules(&db.db).await;
        configure(&mut modules);
        Self::serve(db, modules, settings).await
    }

    /// A second instance of the same platform (same database and keys, its own pools and its
    /// own in-memory caches of API keys and registry data, kept current as in `serve`).
    pub async fn another_instance(&self) -> Self {
        let db =
            TestDb { name: self.db.name.clone(), options: self.db.options.clone(), db: self.db.connect_again().await };
        let mut modules = self.modules.clone();
        modules.auth.api_keys = Default::default();
        modules.auth.standing = Default::default();
        tokio::spawn(modules.auth.standing.clone().follow(db.db.clone(), std::future::pending()));
        modules.registry.caches = Default::default();
        tokio::spawn(modules.auth.api_keys.clone().follow(db.db.clone(), std::future::pending()));
        tokio::spawn(modules.registry.clone().follow(db.db.clone(), std::future::pending()));
        tokio::time::sleep(Duration::from_millis(200)).await; // listening before anything changes
        Self::serve(db, modules, HttpSettings::new(64 * 1024, Duration::from_secs(10))).await
    }

    async fn serve(db: TestDb, modules: vextrus::ModuleSettings, settings: HttpSettings) -> Self {
        let auth = modules.auth.clone();
        tokio::spawn(modules.notify.inner().inbox.clone().follow(db.db.clone(), std::future::pending()));
        tokio::spawn(modules.notify.inner().overrides.clone().follow(db.db.clone(), std::future::pending()));
        let state = vextrus::state(db.db.clone(), OperatorToken::new(Some(SecretString::from(TOKEN))), &modules);
        let header_read_timeout = settings.header_read_timeout;
        let (router, openapi) = vextrus::app(state, settings);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        // Served as `serve` serves (header-read and idle limits, connect info).
        let server = tokio::spawn(async move {
            let shutdown = async move {
                let _ = stopped.await;
            };
            vextrus_server::listen::serve(listener, router, header_read_timeout, shutdown).await.unwrap()
        });
        // The job worker runs as in `serve`, so mail reaches the dev mailbox.
        let worker = Worker::new(
            db.db.clone(),
            vextrus::jobs(&modules),
            WorkerOptions { poll_interval: Duration::from_millis(100), ..Default::default() },
        );
        tokio::spawn(worker.run(std::future::pending()));
        let server = std::sync::Mutex::new(Some((stop, server)));
        Self { base, client: reqwest::Client::new(), db, openapi, auth, server, modules }
    }

    /// A platform whose registry proxies `uplinks`.
    pub async fn start_proxying(uplinks: Vec<vextrus_registry::proxy::Uplink>) -> Self {
        let settings = vextrus_registry::proxy::ProxySettings { uplinks, ..Default::default() };
        let proxy = std::sync::Arc::new(vextrus_registry::proxy::Proxy::new(settings));
        let http = HttpSettings::new(64 * 1024, Duration::from_secs(30));
        Self::start_configured(http, move |m| m.registry.proxy = Some(proxy)).await
    }

    /// Signs up the organization `vextrus` (so the scope `@vextrus`); answers its owner's token.
    pub async fn vextrus(&self) -> String {
        self.sign_up("vextrus", "owner@vextrus.example", "vx-owner").await;
        self.access_token("vx-owner", None).await
    }

    /// A new API key of the signed-in user, limited to `permissions`; answers its secret.
    pub async fn api_key(&self, token: &str, permissions: &[&str]) -> String {
        let body = json!({"name": "npm", "permissions": permissions});
        let created: Value = self.ok_json(token, Method::POST, "/v1/me/api-keys", body).await;
        created["secret"].as_str().unwrap().to_owned()
    }

    /// Stops serving: the port refuses connections afterwards (the database stays).
    pub async fn stop(&self) {
        let running = self.server.lock().unwrap().take();
        if let Some((stop, server)) = running {
            let _ = stop.send(());
            let _ = tokio::time::timeout(Duration::from_secs(10), server).await;
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// An operator request.
    pub fn op(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.client.request(method, self.url(path)).bearer_auth(TOKEN)
    }

    /// Signs up organization `slug` with its owner, as a user does: asks, reads the code in the
    /// mail, completes with it; answers the completion (`organization`, `user`).
    pub async fn sign_up(&self, slug: &str, email: &str, username: &str) -> Value {
        let body = json!({
            "org": {"slug": slug, "name": format!("Org {slug}")},
            "user": {"email": email, "username": username, "password": PASSWORD, "name": "Rahim Uddin"}
        });
        let response = self.client.post(self.url("/v1/signup")).json(&body).send().await.unwrap();
        assert_eq!(response.status(), 202, "{}", response.text().await.unwrap());
        let completed = self.complete_sign_up(email, json!({"password": PASSWORD})).await;
        assert_eq!(completed.status(), 201, "{}", completed.text().await.unwrap());
        completed.json().await.unwrap()
    }

    /// The code of the newest sign-up mailed to `email`.
    pub async fn sign_up_code(&self, email: &str) -> String {
        code_in(self.mail_with(email, "signup_code").await["body"].as_str().unwrap())
    }

    /// `POST /v1/signup/verify` with the newest sign-up code mailed to `email` and `fields`
    /// (`password`, and perhaps `username` or `org_slug`).
    pub async fn complete_sign_up(&self, email: &str, mut fields: Value) -> reqwest::Response {
        fields["token"] = Value::String(self.sign_up_code(email).await);
        self.client.post(self.url("/v1/signup/verify")).json(&fields).send().await.unwrap()
    }

    /// `POST /oauth/token` with a form; status and body.
    pub async fn token(&self, form: &[(&str, &str)]) -> (u16, Value) {
        let response = self.client.post(self.url("/oauth/token")).form(form).send().await.unwrap();
        let status = response.status().as_u16();
        let cache = response.headers().get("cache-control").cloned();
        let body: Value = response.json().await.unwrap();
        assert_eq!(cache.as_ref().map(|v| v.to_str().unwrap()), Some("no-store"), "{status} {body}");
        (status, body)
    }

    /// Password grant for `username` (into `org`, if given); the token response.
    pub async fn login_to(&self, username: &str, org: Option<&str>) -> Value {
        let mut form = vec![("grant_type", "password"), ("username", username), ("password", PASSWORD)];
        form.extend(org.map(|o| ("org", o)));
        let (status, body) = self.token(&form).await;
        assert_eq!(status, 200, "{body}");
        body
    }

    /// An access token of `username` (in `org`, if given).
    pub async fn access_token(&self, username: &str, org: Option<&str>) -> String {
        self.login_to(username, org).await["access_token"].as_str().unwrap().to_owned()
    }

    /// A request with a bearer token.
    pub fn as_user(&self, token: &str, method: Method, path: &str) -> reqwest::RequestBuilder {
        self.client.request(method, self.url(path)).bearer_auth(token)
    }

    /// Waits for the job worker to deliver mail to `to`; the newest message.
    pub async fn mail_for(&self, to: &str) -> Value {
        self.mail_with(to, "").await
    }

    /// Waits for mail to `to` whose subject contains `needle`; the newest such message.
    pub async fn mail_with(&self, to: &str, needle: &str) -> Value {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
        loop {
            let mailbox: Value =
                self.op(Method::GET, &format!("/v1/dev/mailbox?to={to}")).send().await.unwrap().json().await.unwrap();
            // By message type (`identity.signup_code` …) or by subject.
            let found = mailbox.as_array().and_then(|a| {
                a.iter()
                    .find(|m| {
                        m["type"].as_str().is_some_and(|t| t.contains(needle))
                            || m["subject"].as_str().is_some_and(|s| s.contains(needle))
                    })
                    .cloned()
            });
            if let Some(m) = found {
                return m;
            }
            assert!(tokio::time::Instant::now() < deadline, "no mail for {to}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits until no job of `kind` is queued or running (every one has run).
    pub async fn jobs_done(&self, kind: &str) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
        loop {
            let pending: i64 = sqlx::query_scalar("SELECT count(*) FROM db.jobs WHERE kind = $1 AND state <> 'dead'")
                .bind(kind)
                .fetch_one(&mut self.db.owner_conn().await)
                .await
                .unwrap();
            if pending == 0 {
                return;
            }
            assert!(tokio::time::Instant::now() < deadline, "{kind} jobs never ran");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Verifies `email` with the code its sign-up mailed there.
    pub async fn verify_email(&self, email: &str) {
        let code = code_in(self.mail_with(email, "verify_email").await["body"].as_str().unwrap());
        let verified = self
            .client
            .post(self.url("/v1/verify-email"))
            .json(&json!({"token": code, "password": PASSWORD}))
            .send()
            .await
            .unwrap();
        assert!(verified.status().is_success(), "{}", verified.text().await.unwrap());
    }

    /// The code of the newest invitation mailed to `email`.
    pub async fn invitation_code(&self, email: &str) -> String {
        code_in(self.mail_with(email, "identity.invitation").await["body"].as_str().unwrap())
    }

    /// A JSON request with a bearer token that must succeed; its JSON answer.
    pub async fn ok_json(&self, token: &str, method: Method, path: &str, body: Value) -> Value {
        let response = self.as_user(token, method.clone(), path).json(&body).send().await.unwrap();
        let status = response.status();
        let text = response.text().await.unwrap();
        assert!(status.is_success(), "{method} {path}: {status} {text}");
        serde_json::from_str(&text).unwrap()
    }

    /// A GET with a bearer token that must succeed; its JSON answer.
    pub async fn ok_json_get(&self, token: &str, path: &str) -> Value {
        let response = self.as_user(token, Method::GET, path).send().await.unwrap();
        let status = response.status();
        let text = response.text().await.unwrap();
        assert!(status.is_success(), "GET {path}: {status} {text}");
        serde_json::from_str(&text).unwrap()
    }

    /// Invites `email` with `roles` (as the holder of `token`) and accepts the mailed code, with
    /// new-account details `user` when the address has no account; answers the acceptance.
    pub async fn invite_and_accept(&self, token: &str, email: &str, roles: &[&str], user: Option<Value>) -> Value {
        self.ok_json(token, Method::POST, "/v1/invitations", json!({"email": email, "roles": roles})).await;
        let code = self.invitation_code(email).await;
        let mut body = json!({"token": code});
        if let Some(user) = user {
            body["user"] = user;
        }
        let accepted = self.client.post(self.url("/v1/invitations/accept")).json(&body).send().await.unwrap();
        assert_eq!(accepted.status(), 200, "{}", accepted.text().await.unwrap());
        accepted.json().await.unwrap()
    }

    /// Invites `email` with `roles` and accepts as a new account `username`.
    pub async fn join(&self, token: &str, email: &str, username: &str, roles: &[&str]) -> Value {
        let user = json!({"username": username, "password": PASSWORD, "name": "Karim Mia"});
        self.invite_and_accept(token, email, roles, Some(user)).await
    }

    pub async fn create_org(&self, slug: &str) -> serde_json::Value {
        let response = self
            .op(reqwest::Method::POST, "/v1/orgs")
            .json(&serde_json::json!({"slug": slug, "name": format!("Org {slug}")}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201, "creating {slug}");
        response.json().await.unwrap()
    }
}

/// Providers for a test's notify, in place of the dev instance's none.
#[derive(Default)]
pub struct NotifyProviders {
    pub email: Vec<vextrus_notify::EmailRoute>,
    pub sms: Vec<vextrus_notify::SmsRoute>,
    pub fcm: Option<vextrus_notify::providers::fcm::Fcm>,
    pub sendgrid_events_key: Option<Vec<u8>>,
    pub inbox: Option<vextrus_notify::inbox::Inbox>,
    pub report_after: Option<Duration>,
}

/// `m`'s notify (dev mailbox on, its contacts and link key) with `providers`.
pub fn notify_with(m: &vextrus::ModuleSettings, providers: NotifyProviders) -> vextrus_notify::Notify {
    let inner = m.notify.inner();
    vextrus_notify::Notify::new(vextrus_notify::Inner {
        templates: vextrus::templates(),
        dev: true,
        email: providers.email,
        sendgrid_events_key: providers.sendgrid_events_key,
        sms: providers.sms,
        fcm: providers.fcm,
        inbox: providers.inbox.unwrap_or_else(|| vextrus_notify::inbox::Inbox::new(Default::default())),
        overrides: vextrus_notify::overrides::Overrides::new(8 << 20),
        contacts: inner.contacts,
        status_hook: inner.status_hook,
        vault: inner.vault.clone(),
        report_after: providers.report_after.unwrap_or(inner.report_after),
        max_recipients: inner.max_recipients,
        plan_defaults: inner.plan_defaults,
        public_url: inner.public_url.clone(),
        link_key: inner.link_key.clone(),
    })
}

//! The private npm registry, served at `/npm/` (`registry=http://host:8080/npm/`): an
//! organization's packages live in its own scope (`@<slug>`), are read and published with the
//! platform's tokens and permissions, and every change is audited.

pub mod access;
mod cache;
mod credentials;
pub mod gc;
mod http;
pub mod import;
pub mod model;
pub mod proxy;
mod rendered;
mod scopes;
pub mod service;
pub mod signing;
mod store;
mod tarball;
pub mod webhooks;

use vextrus_db::{Migration, ModuleMigrations};
use vextrus_server::AppState;
use vextrus_storage::Storage;

pub use cache::Caches;
pub use http::router;

vextrus_access::permissions! {
    /// Install the organization's packages.
    pub PackagesRead = "registry.packages.read", grants [Admin, Member, Viewer];
    /// Publish new versions of the organization's packages; as their maintainer, tag them and deprecate versions.
    pub PackagesPublish = "registry.packages.publish", grants [Admin, Member];
    /// Set who may read the organization's packages, and unpublish them at any age.
    pub PackagesManage = "registry.packages.manage", grants [Admin];
    /// Claim and release npm scopes for the organization (owners only by default).
    pub ScopesManage = "registry.scopes.manage", grants [];
    /// Register and remove the organization's publish webhooks.
    pub WebhooksManage = "registry.webhooks.manage", grants [Admin];
}

pub const MIGRATIONS: ModuleMigrations = ModuleMigrations {
    module: "registry",
    migrations: &[
        Migration { version: 1, name: "packages", sql: include_str!("../migrations/0001_packages.sql") },
        Migration { version: 2, name: "web_logins", sql: include_str!("../migrations/0002_web_logins.sql") },
        Migration { version: 3, name: "scopes", sql: include_str!("../migrations/0003_scopes.sql") },
        Migration { version: 4, name: "stars", sql: include_str!("../migrations/0004_stars.sql") },
        Migration { version: 5, name: "visibility", sql: include_str!("../migrations/0005_visibility.sql") },
        Migration { version: 6, name: "unscoped", sql: include_str!("../migrations/0006_unscoped.sql") },
        Migration { version: 7, name: "upstream", sql: include_str!("../migrations/0007_upstream.sql") },
        Migration {
            version: 8,
            name: "org_scopes_announced",
            sql: include_str!("../migrations/0008_org_scopes_announced.sql"),
        },
        Migration { version: 9, name: "signatures", sql: include_str!("../migrations/0009_signatures.sql") },
        Migration { version: 10, name: "webhooks", sql: include_str!("../migrations/0010_webhooks.sql") },
        Migration { version: 11, name: "webhook_backoff", sql: include_str!("../migrations/0011_webhook_backoff.sql") },
        Migration { version: 12, name: "dist_tag_order", sql: include_str!("../migrations/0012_dist_tag_order.sql") },
        Migration {
            version: 13,
            name: "visibility_defaults",
            sql: include_str!("../migrations/0013_visibility_defaults.sql"),
        },
    ],
};

/// How the registry is set up.
#[derive(Debug, Clone)]
pub struct RegistrySettings {
    pub storage: Storage,
    /// Where clients reach the platform (tarball URLs); `None`: from the request's `Host`, or
    /// `X-Forwarded-Proto`/`X-Forwarded-Host` where `trust_forwarded` says a proxy sets them.
    pub public_url: Option<String>,
    /// A reverse proxy in front sets `X-Forwarded-*` (`http.trust_forwarded_for`); otherwise
    /// those headers are the client's and are ignored.
    pub trust_forwarded: bool,
    pub max_tarball_bytes: usize,
    /// Organizations may publish unscoped names (the first to publish one owns it).
    pub allow_unscoped: bool,
    /// Who `npm adduser` creates; `None`: nobody.
    pub adduser: Option<AddUser>,
    /// Upstream registries for names no organization here owns; `None`: nothing is proxied.
    pub proxy: Option<std::sync::Arc<proxy::Proxy>>,
    /// Owners and packuments in memory (see [`RegistrySettings::follow`]).
    pub caches: cache::Caches,
    /// Signs what is published here (and seals webhook secrets); `None`: versions are not signed.
    pub signing: Option<signing::Signing>,
    /// Webhook deliveries may reach loopback, private and link-local addresses.
    pub webhooks_reach_internal: bool,
    /// `npm search` also asks the uplinks, and lists their results after ours.
    pub uplink_search: bool,
    /// Who may read packages by default, by name (Verdaccio's `packages:` patterns).
    pub access: access::AccessRules,
}

/// `npm adduser` with a new username creates a platform user in this organization.
#[derive(Debug, Clone)]
pub struct AddUser {
    /// The organization's slug (looked up when someone signs up, so it may be created later).
    pub org: String,
    /// `viewer` or `member`.
    pub role: String,
}

impl RegistrySettings {
    /// Scopes only, 100 MiB tarballs, tarball URLs from the request, no `npm adduser`.
    pub fn new(storage: Storage) -> Self {
        Self {
            storage,
            public_url: None,
            trust_forwarded: false,
            max_tarball_bytes: 100 * 1024 * 1024,
            allow_unscoped: false,
            adduser: None,
            proxy: None,
            caches: Default::default(),
            signing: None,
            webhooks_reach_internal: false,
            uplink_search: false,
            access: access::AccessRules::default(),
        }
    }

    /// Keeps the in-memory owners, packuments and signing keys current with every instance's
    /// changes until `stop` resolves: run it next to the server (`serve` does).
    pub async fn follow(self, db: vextrus_db::Database, stop: impl std::future::Future<Output = ()>) {
        let reload_db = db.clone();
        let reload = move |what: vextrus_db::Reload| {
            let (settings, db) = (self.clone(), reload_db.clone());
            async move {
                let keys_changed = match &what {
                    vextrus_db::Reload::Payload(payload) if payload == "signing" => true,
                    vextrus_db::Reload::Payload(payload) => {
                        settings.caches.forget(payload);
                        false
                    }
                    vextrus_db::Reload::All => {
                        settings.caches.clear();
                        true
                    }
                };
                if keys_changed && let Some(signing) = &settings.signing {
                    match signing.reload(&db).await {
                        Ok(()) => {}
                        Err(signing::SigningError::Db(e)) => return Err(e),
                        Err(e) => tracing::error!(error = %e, "registry signing keys not reloaded"),
                    }
                }
                Ok(())
            }
        };
        vextrus_db::follow(db, cache::CHANNEL, std::time::Duration::from_secs(60), "registry", reload, stop).await;
    }
}

impl axum::extract::FromRef<AppState> for RegistrySettings {
    fn from_ref(state: &AppState) -> Self {
        state.module::<RegistrySettings>()
    }
}

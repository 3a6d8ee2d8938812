//! The `vextrus` binary's library half: how the platform is assembled from its modules, so
//! that `serve`, the admin commands and the tests all build the very same thing.

pub mod platform;
pub mod verdaccio;

use std::sync::Arc;

use utoipa_axum::router::OpenApiRouter;
use vextrus_access::{Access, Authenticator, PermissionDef};
use vextrus_db::jobs::Registry;
use vextrus_db::{Database, ModuleMigrations};
use vextrus_identity::{Auth, IdentityAuthenticator, IdentityConfig};
use vextrus_server::{AppState, HttpSettings, OperatorToken};

/// Every module's migrations, in dependency order (`db` first).
pub const MODULES: &[ModuleMigrations] = &[
    vextrus_db::MIGRATIONS,
    vextrus_audit::MIGRATIONS,
    vextrus_tenancy::MIGRATIONS,
    vextrus_access::MIGRATIONS,
    vextrus_notify::MIGRATIONS,
    vextrus_identity::MIGRATIONS,
    vextrus_registry::MIGRATIONS,
    vextrus_files::MIGRATIONS,
];

/// Every module's permissions: the platform's part of the access catalog.
pub const PERMISSIONS: &[&[PermissionDef]] = &[
    vextrus_access::PERMISSIONS,
    vextrus_audit_api::PERMISSIONS,
    vextrus_tenancy::permissions::PERMISSIONS,
    vextrus_identity::permissions::PERMISSIONS,
    vextrus_registry::PERMISSIONS,
    vextrus_notify::PERMISSIONS,
    vextrus_files::PERMISSIONS,
];

/// Every module's message types: the platform's template catalog.
pub const TEMPLATES: &[&[vextrus_notify::templates::TemplateDef]] =
    &[vextrus_notify::templates::TEMPLATES, vextrus_identity::templates::TEMPLATES];

/// The template catalog of every module's message types.
pub fn templates() -> vextrus_notify::templates::Templates {
    vextrus_notify::templates::Templates::new(TEMPLATES).expect("the platform's own templates compile")
}

/// What the modules are configured with.
#[derive(Debug, Clone)]
pub struct ModuleSettings {
    pub identity: IdentityConfig,
    pub auth: Auth,
    pub access: Access,
    pub retention: vextrus_audit::retention::Policy,
    pub registry: vextrus_registry::RegistrySettings,
    pub notify: vextrus_notify::Notify,
    pub files: vextrus_files::Files,
    /// What strangers may create and set off.
    pub limits: vextrus_server::Limits,
}

/// The shared state, with every module's own state registered.
pub fn state(db: Database, operator_token: OperatorToken, modules: &ModuleSettings) -> AppState {
    let authenticator = IdentityAuthenticator::new(
        modules.auth.clone(),
        operator_token.clone(),
        db.clone(),
        modules.identity.trust_forwarded_for,
    );
    let mut extensions = axum::http::Extensions::new();
    extensions.insert(modules.identity.clone());
    extensions.insert(modules.auth.clone());
    extensions.insert(modules.access.clone());
    extensions.insert(modules.retention);
    extensions.insert(modules.registry.clone());
    extensions.insert(modules.notify.clone());
    extensions.insert(modules.files.clone());
    extensions.insert(modules.limits);
    extensions.insert(Authenticator::new(authenticator.clone()));
    extensions.insert(authenticator);
    AppState { db, operator_token, migrations: MODULES, modules: Arc::new(extensions) }
}

/// Every module's HTTP routes.
pub fn api() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .merge(vextrus_tenancy::http::router())
        .merge(vextrus_access::http::router())
        .merge(vextrus_audit_api::router())
        .merge(vextrus_identity::http::router())
        .merge(vextrus_registry::router())
        .merge(vextrus_notify::http::router())
        .merge(vextrus_files::http::router())
}

/// Every module's job handlers.
pub fn jobs(modules: &ModuleSettings) -> Registry {
    let mut registry = Registry::new();
    vextrus_identity::register_jobs(&mut registry);
    vextrus_notify::register_jobs(&mut registry, modules.notify.clone());
    vextrus_audit::jobs::register_jobs(&mut registry, Arc::new(modules.auth.keys.clone()), modules.retention);
    vextrus_registry::webhooks::register_jobs(&mut registry, modules.registry.clone());
    vextrus_registry::gc::register_jobs(&mut registry, modules.registry.storage.clone());
    vextrus_files::maintain::register_jobs(&mut registry, modules.files.clone());
    vextrus_files::thumbs::register_jobs(&mut registry, modules.files.clone());
    registry
}

/// The token side of identity: loads (or on first start creates) the signing keys and the
/// organization status cache.
pub async fn auth(
    config: &vextrus_config::Config,
    db: &Database,
    master: vextrus_identity::keys::MasterKey,
) -> anyhow::Result<Auth> {
    let keys = vextrus_identity::keys::KeyRing::new(master);
    keys.initialise(db).await?;
    let orgs = vextrus_identity::OrgStatusCache::default();
    orgs.reload(db).await?;
    Ok(Auth {
        keys,
        issuer: config.public_url().into(),
        audience: config.auth.audience.as_str().into(),
        access_ttl: chrono::Duration::seconds(config.auth.access_token_ttl_secs as i64),
        refresh_ttl: chrono::Duration::seconds(config.auth.session_ttl_secs as i64),
        orgs,
        api_keys: Default::default(),
        standing: Default::default(),
    })
}

/// The access cache over the platform's permissions and the database's catalog and roles.
pub async fn access(db: &Database) -> anyhow::Result<Access> {
    let access = Access::new(PERMISSIONS);
    access.reload_all(db).await?;
    Ok(access)
}

/// The assembled router and its OpenAPI document.
pub fn app(state: AppState, settings: HttpSettings) -> (axum::Router, utoipa::openapi::OpenApi) {
    vextrus_server::build(state, api(), settings)
}

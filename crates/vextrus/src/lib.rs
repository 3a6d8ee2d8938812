//! The `vextrus` binary's library half: how the platform is assembled from its modules, so
//! that `serve`, the admin commands and the tests all build the very same thing.

pub mod platform;

use std::sync::Arc;

use utoipa_axum::router::OpenApiRouter;
use vextrus_db::jobs::Registry;
use vextrus_db::{Database, ModuleMigrations};
use vextrus_identity::IdentityConfig;
use vextrus_server::{AppState, HttpSettings, OperatorToken};

/// Every module's migrations, in dependency order (`db` first).
pub const MODULES: &[ModuleMigrations] =
    &[vextrus_db::MIGRATIONS, vextrus_tenancy::MIGRATIONS, vextrus_identity::MIGRATIONS];

/// What the modules are configured with.
#[derive(Debug, Clone)]
pub struct ModuleSettings {
    pub identity: IdentityConfig,
}

/// The shared state, with every module's own state registered.
pub fn state(db: Database, operator_token: OperatorToken, modules: &ModuleSettings) -> AppState {
    let mut extensions = axum::http::Extensions::new();
    extensions.insert(modules.identity.clone());
    AppState { db, operator_token, migrations: MODULES, modules: Arc::new(extensions) }
}

/// Every module's HTTP routes.
pub fn api() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().merge(vextrus_tenancy::http::router()).merge(vextrus_identity::http::router())
}

/// Every module's job handlers.
pub fn jobs(modules: &ModuleSettings) -> Registry {
    let mut registry = Registry::new();
    vextrus_identity::register_jobs(&mut registry, modules.identity.clone());
    registry
}

/// The assembled router and its OpenAPI document.
pub fn app(state: AppState, settings: HttpSettings) -> (axum::Router, utoipa::openapi::OpenApi) {
    vextrus_server::build(state, api(), settings)
}

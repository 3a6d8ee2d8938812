//! The `vextrus` binary's library half: how the platform is assembled from its modules, so
//! that `serve`, the admin commands and the tests all build the very same thing.

pub mod platform;

use utoipa_axum::router::OpenApiRouter;
use vextrus_db::ModuleMigrations;
use vextrus_db::jobs::Registry;
use vextrus_server::{AppState, HttpSettings};

/// Every module's migrations, in dependency order (`db` first).
pub const MODULES: &[ModuleMigrations] = &[vextrus_db::MIGRATIONS, vextrus_tenancy::MIGRATIONS];

/// Every module's HTTP routes.
pub fn api() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().merge(vextrus_tenancy::http::router())
}

/// Every module's job handlers. The foundation has none yet; identity (verification mail) and
/// notify register theirs here.
pub fn jobs() -> Registry {
    Registry::new()
}

/// The assembled router and its OpenAPI document.
pub fn app(state: AppState, settings: HttpSettings) -> (axum::Router, utoipa::openapi::OpenApi) {
    vextrus_server::build(state, api(), settings)
}

//! `/v1/audit/*`: search an organization's audit trail and verify its chain. Separate from the
//! `audit` core so that every module (access included) can record without depending on the
//! access-control guards this API needs.

mod events;
mod export;
mod settings;
mod verify;

use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use vextrus_server::AppState;

vextrus_access::permissions! {
    /// Search the organization's audit trail (operators: the platform's) and verify its chain.
    pub EventsRead = "audit.events.read", grants [Admin, PlatformAdmin];
    /// Export the organization's audit trail (operators: the platform's).
    pub EventsExport = "audit.events.export", grants [Admin, PlatformAdmin];
    /// Choose how long the organization keeps its audit trail (owners only by default).
    pub SettingsManage = "audit.settings.manage", grants [];
}

/// The chain a caller reads: its organization's, or for platform operators the platform's own
/// (sign-in failures, operator actions, key rotations).
fn chain_of<P>(permitted: &vextrus_access::Permitted<P>) -> vextrus_db::TenantId {
    permitted.subject().tenant().unwrap_or(vextrus_db::TenantId::PLATFORM)
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(events::list_events))
        .routes(routes!(export::export))
        .routes(routes!(verify::verify_chain))
        .routes(routes!(settings::get_settings, settings::put_settings))
}

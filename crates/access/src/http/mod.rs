//! `/v1/roles` and `/v1/authz/*`. One file per action.

mod check;
mod permissions;
mod roles;

use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use vextrus_server::{ApiError, AppState};

use crate::model::RoleKey;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(roles::list_roles, roles::create_role))
        .routes(routes!(roles::get_role, roles::update_role, roles::delete_role))
        .routes(routes!(permissions::list_permissions, permissions::register_permissions))
        .routes(routes!(check::check))
}

/// Maps a parser's message to a 422 naming `name`.
fn field(name: &'static str) -> impl Fn(String) -> ApiError {
    move |message| ApiError::invalid_field(name, message)
}

/// The `{role}` path segment; text that is no role key cannot name a role.
fn role_key(text: &str) -> Result<RoleKey, ApiError> {
    RoleKey::parse(text).map_err(|_| ApiError::not_found("role_not_found", format!("No role {text:?}.")))
}

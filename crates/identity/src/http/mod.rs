//! Identity's HTTP endpoints. One file per action.

mod mailbox;
mod me;
pub mod principal;
mod signup;
mod token;
mod verify;
mod verify_email;
mod well_known;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use vextrus_server::{ApiError, AppState};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(signup::sign_up))
        .routes(routes!(verify_email::verify_email))
        .routes(routes!(mailbox::dev_mailbox))
        .routes(routes!(token::token))
        .routes(routes!(well_known::jwks))
        .routes(routes!(well_known::openid_configuration))
        .routes(routes!(verify::verify))
        .routes(routes!(me::get_me))
        .routes(routes!(me::list_sessions))
        .routes(routes!(me::revoke_session))
}

/// Maps a parser's message to a 422 naming `name`.
fn field(name: &'static str) -> impl Fn(String) -> ApiError {
    move |message| ApiError::invalid_field(name, message)
}

//! Identity's HTTP endpoints. One file per action.

mod mailbox;
mod signup;
mod verify_email;

use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use vextrus_server::{ApiError, AppState};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(signup::sign_up))
        .routes(routes!(verify_email::verify_email))
        .routes(routes!(mailbox::dev_mailbox))
}

/// Maps a parser's message to a 422 naming `name`.
fn field(name: &'static str) -> impl Fn(String) -> ApiError {
    move |message| ApiError::invalid_field(name, message)
}

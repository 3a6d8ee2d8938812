//! Identity: users (global: one person, many organizations), memberships (tenant rows),
//! sign-up, email verification, and — until the notify module exists — a dev mailbox.

mod error;
pub mod http;
mod jobs;
pub mod model;
pub mod password;
pub mod service;
mod store;

use vextrus_db::{Migration, ModuleMigrations};
use vextrus_server::AppState;

pub use error::IdentityError;
pub use jobs::register_jobs;

pub const MIGRATIONS: ModuleMigrations = ModuleMigrations {
    module: "identity",
    migrations: &[Migration { version: 1, name: "users", sql: include_str!("../migrations/0001_users.sql") }],
};

/// Identity's settings, registered in `AppState::modules`.
#[derive(Debug, Clone)]
pub struct IdentityConfig {
    /// Deliver mail to the dev mailbox (embedded/dev mode only).
    pub dev_mailbox: bool,
}

impl axum::extract::FromRef<AppState> for IdentityConfig {
    fn from_ref(state: &AppState) -> Self {
        state.module::<IdentityConfig>()
    }
}

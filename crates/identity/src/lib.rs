//! Identity: users (global: one person, many organizations), memberships (tenant rows),
//! sign-up, email verification, and — until the notify module exists — a dev mailbox.

pub mod api_keys;
mod auth;
mod authn;
mod error;
pub mod http;
pub mod invitations;
mod jobs;
pub mod keys;
pub mod members;
pub mod mfa;
pub mod model;
pub mod operators;
mod orgs;
pub mod password;
pub mod password_reset;
pub mod permissions;
pub mod service;
pub mod service_accounts;
pub mod standing;
mod store;
pub mod throttle;
pub mod tokens;
pub mod totp;

use vextrus_db::{Migration, ModuleMigrations};
use vextrus_server::AppState;

pub use auth::Auth;
pub use authn::IdentityAuthenticator;
pub use error::IdentityError;
pub use jobs::register_jobs;
pub use orgs::OrgStatusCache;

pub const MIGRATIONS: ModuleMigrations = ModuleMigrations {
    module: "identity",
    migrations: &[
        Migration { version: 1, name: "users", sql: include_str!("../migrations/0001_users.sql") },
        Migration { version: 2, name: "signing_keys", sql: include_str!("../migrations/0002_signing_keys.sql") },
        Migration { version: 3, name: "sessions", sql: include_str!("../migrations/0003_sessions.sql") },
        Migration { version: 4, name: "assignments", sql: include_str!("../migrations/0004_assignments.sql") },
        Migration { version: 5, name: "invitations", sql: include_str!("../migrations/0005_invitations.sql") },
        Migration {
            version: 6,
            name: "service_accounts",
            sql: include_str!("../migrations/0006_service_accounts.sql"),
        },
        Migration { version: 7, name: "mfa_and_abuse", sql: include_str!("../migrations/0007_mfa_and_abuse.sql") },
        Migration {
            version: 8,
            name: "api_key_networks",
            sql: include_str!("../migrations/0008_api_key_networks.sql"),
        },
        Migration { version: 9, name: "pending_signups", sql: include_str!("../migrations/0009_pending_signups.sql") },
    ],
};

/// Identity's settings, registered in `AppState::modules`.
#[derive(Debug, Clone)]
pub struct IdentityConfig {
    /// Deliver mail to the dev mailbox (embedded/dev mode only).
    pub dev_mailbox: bool,
    /// Client addresses come from `X-Forwarded-For` (behind a proxy that sets it).
    pub trust_forwarded_for: bool,
}

impl axum::extract::FromRef<AppState> for IdentityConfig {
    fn from_ref(state: &AppState) -> Self {
        state.module::<IdentityConfig>()
    }
}

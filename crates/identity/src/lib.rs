//! Identity: users (global: one person, many organizations), memberships (tenant rows),
//! sign-up and email verification (its mail goes through notify).

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
mod quota;
pub mod service;
pub mod service_accounts;
pub mod standing;
mod store;
pub mod templates;
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
        Migration { version: 10, name: "mail_via_notify", sql: include_str!("../migrations/0010_mail_via_notify.sql") },
    ],
};

/// Identity's settings, registered in `AppState::modules`.
#[derive(Debug, Clone)]
pub struct IdentityConfig {
    /// Client addresses come from `X-Forwarded-For` (behind a proxy that sets it).
    pub trust_forwarded_for: bool,
}

impl axum::extract::FromRef<AppState> for IdentityConfig {
    fn from_ref(state: &AppState) -> Self {
        state.module::<IdentityConfig>()
    }
}

/// Notify's view of members: their addresses (a verified email only) and language.
pub fn contacts<'a>(
    tx: &'a mut vextrus_db::TenantTx,
    ids: &'a [uuid::Uuid],
) -> std::pin::Pin<
    Box<dyn std::future::Future<Output = Result<Vec<vextrus_notify::Contact>, vextrus_db::DbError>> + Send + 'a>,
> {
    Box::pin(async move {
        let rows = store::contacts(tx, ids).await?;
        Ok(rows
            .into_iter()
            .map(|(user_id, email, phone, locale, verified)| vextrus_notify::Contact {
                user_id,
                email: verified.map(|_| email),
                phone: phone.and_then(|p| vextrus_notify::model::Phone::parse(&p).ok()),
                locale: vextrus_notify::model::Locale::parse(&locale).unwrap_or_default(),
            })
            .collect())
    })
}

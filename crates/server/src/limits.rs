//! How much of anything a stranger may create or set off: configured by platform operators
//! (`[limits]`; plans will set them per organization), enforced by each module through
//! `vextrus_db::limits`. A limit reached answers 422 `limit_reached` (a count) or 429 with
//! `Retry-After` (a rate).

use axum::extract::FromRef;

use crate::AppState;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Sign-ups from one client address per hour.
    pub signups_per_address_per_hour: u32,
    /// Active API keys one user or service account may hold in one organization.
    pub api_keys_per_owner: u32,
    /// Custom roles per organization.
    pub roles_per_org: u32,
    /// Service accounts per organization.
    pub service_accounts_per_org: u32,
    /// Publish webhooks per organization.
    pub webhooks_per_org: u32,
    /// Anonymous npm web-login starts from one client address per hour.
    pub web_logins_per_address_per_hour: u32,
    /// Password-reset, verification and invitation mails to one address per hour.
    pub mails_per_recipient_per_hour: u32,
    /// Invitations an organization whose owner has not verified their address may send.
    pub invitations_before_verified: u32,
    /// Pending invitations per organization.
    pub pending_invitations_per_org: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            signups_per_address_per_hour: 10,
            api_keys_per_owner: 50,
            roles_per_org: 100,
            service_accounts_per_org: 50,
            webhooks_per_org: 20,
            web_logins_per_address_per_hour: 30,
            mails_per_recipient_per_hour: 5,
            invitations_before_verified: 3,
            pending_invitations_per_org: 500,
        }
    }
}

impl FromRef<AppState> for Limits {
    fn from_ref(state: &AppState) -> Self {
        *state.module_ref::<Limits>()
    }
}

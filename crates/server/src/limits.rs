//! How much of anything a stranger may create or set off: configured by platform operators
//! (`[limits]`; an organization's plan, when an operator set one, replaces the default plan's limits), enforced by each module through
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
    /// The default plan: an organization's limits until an operator gives it a plan.
    pub plan: PlanLimits,
}

/// What a plan allows an organization (`tenancy.plans`; the default plan from `[limits]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PlanLimits {
    /// Bytes of files stored, trash included.
    pub storage_bytes: u64,
    /// Members (users; service accounts are not members).
    pub members: u32,
    /// Active API keys, all holders together.
    pub api_keys: u32,
    /// SMS messages per calendar month (Dhaka).
    pub sms_per_month: u32,
}

/// As configured (`[limits]`).
impl From<&vextrus_config::LimitsConfig> for Limits {
    fn from(l: &vextrus_config::LimitsConfig) -> Self {
        Self {
            signups_per_address_per_hour: l.signups_per_address_per_hour,
            api_keys_per_owner: l.api_keys_per_owner,
            roles_per_org: l.roles_per_org,
            service_accounts_per_org: l.service_accounts_per_org,
            webhooks_per_org: l.webhooks_per_org,
            web_logins_per_address_per_hour: l.web_logins_per_address_per_hour,
            mails_per_recipient_per_hour: l.mails_per_recipient_per_hour,
            invitations_before_verified: l.invitations_before_verified,
            pending_invitations_per_org: l.pending_invitations_per_org,
            plan: PlanLimits {
                storage_bytes: l.storage_mib_per_org.saturating_mul(1 << 20),
                members: l.members_per_org,
                api_keys: l.api_keys_per_org,
                sms_per_month: l.sms_per_org_per_month,
            },
        }
    }
}

/// The configuration's defaults.
impl Default for Limits {
    fn default() -> Self {
        Self::from(&vextrus_config::LimitsConfig::default())
    }
}

impl FromRef<AppState> for Limits {
    fn from_ref(state: &AppState) -> Self {
        *state.module_ref::<Limits>()
    }
}

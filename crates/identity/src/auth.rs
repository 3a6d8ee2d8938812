//! The token side of identity, registered in `AppState::modules`: the key ring, issuer and
//! audience, lifetimes, and the organization status cache.

use axum::extract::FromRef;
use chrono::Duration;
use vextrus_server::AppState;

use crate::keys::{Claims, KeyRing, TokenError};
use crate::orgs::OrgStatusCache;

#[derive(Debug, Clone)]
pub struct Auth {
    pub keys: KeyRing,
    /// `iss` of every token: the platform's public URL, no trailing slash.
    pub issuer: std::sync::Arc<str>,
    /// `aud` of every token.
    pub audience: std::sync::Arc<str>,
    pub access_ttl: Duration,
    /// Absolute lifetime of a session (refresh-token family).
    pub refresh_ttl: Duration,
    pub orgs: OrgStatusCache,
    /// API keys that authenticated recently.
    pub api_keys: crate::api_keys::KeyCache,
    /// What each subject holds now (roles, membership), whatever its credential says.
    pub standing: crate::standing::Standing,
}

impl Auth {
    pub fn verify(&self, token: &str) -> Result<std::sync::Arc<Claims>, TokenError> {
        self.keys.verify(token, &self.issuer, &self.audience)
    }
}

/// Every field is shared (`Arc`) or `Copy`, so the per-request clone copies no string.
impl FromRef<AppState> for Auth {
    fn from_ref(state: &AppState) -> Self {
        state.module::<Auth>()
    }
}

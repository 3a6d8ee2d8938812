//! Platform operators authenticate with the admin bearer token until platform-admin users exist.
//! A handler that takes a [`PlatformOperator`] cannot run for anyone else.

use std::sync::Arc;

use axum::extract::{FromRef, FromRequestParts};
use axum::http::header;
use axum::http::request::Parts;
use secrecy::{ExposeSecret, SecretString};

use crate::ApiError;

/// The configured operator token; `None` disables the operator API.
#[derive(Debug, Clone)]
pub struct OperatorToken(Option<Arc<SecretString>>);

impl OperatorToken {
    pub fn new(token: Option<SecretString>) -> Self {
        Self(token.map(Arc::new))
    }

    fn matches(&self, presented: &str) -> bool {
        match &self.0 {
            Some(token) => constant_time_eq(token.expose_secret().as_bytes(), presented.as_bytes()),
            None => false,
        }
    }
}

/// The token of an `Authorization: Bearer <token>` header, if the request has one.
pub fn bearer_token(headers: &axum::http::HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
        .map(str::trim)
}

/// Proof that the request came from a platform operator.
#[derive(Debug, Clone, Copy)]
pub struct PlatformOperator(());

impl<S: Send + Sync> FromRequestParts<S> for PlatformOperator
where
    OperatorToken: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let token = OperatorToken::from_ref(state);
        if token.0.is_none() {
            return Err(ApiError::unauthorized("The platform operator API is disabled: set VEXTRUS_ADMIN_TOKEN."));
        }
        let presented = bearer_token(&parts.headers).ok_or_else(|| {
            ApiError::unauthorized("Send the platform admin token as `Authorization: Bearer <token>`.")
        })?;
        if !token.matches(presented) {
            tracing::warn!("rejected platform operator request with a wrong token");
            return Err(ApiError::unauthorized("The bearer token is not valid."));
        }
        Ok(Self(()))
    }
}

/// Compares without an early exit, so timing does not reveal how much of a guess was right.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let mut diff = a.len() ^ b.len();
    for i in 0..a.len().max(b.len()) {
        diff |= usize::from(a.get(i).copied().unwrap_or(0) ^ b.get(i).copied().unwrap_or(0xff));
    }
    diff == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_comparison() {
        let t = OperatorToken::new(Some(SecretString::from("abc123")));
        assert!(t.matches("abc123"));
        assert!(!t.matches("abc124"));
        assert!(!t.matches("abc12"));
        assert!(!t.matches("abc1234"));
        assert!(!t.matches(""));
        assert!(!OperatorToken::new(None).matches(""));
    }
}

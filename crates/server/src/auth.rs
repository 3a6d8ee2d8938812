//! The platform operators' admin bearer token (for automation), and bearer-header parsing.
//! Turning either into an authorized caller is the access module's job.

use std::sync::{Arc, RwLock};

use axum::http::header;
use secrecy::{ExposeSecret, SecretString};

/// The configured operator token; `None` disables the operator API. Shared: replacing it
/// (rotation) takes effect for every clone at once.
#[derive(Debug, Clone)]
pub struct OperatorToken(Arc<RwLock<Option<SecretString>>>);

impl OperatorToken {
    pub fn new(token: Option<SecretString>) -> Self {
        Self(Arc::new(RwLock::new(token)))
    }

    pub fn matches(&self, presented: &str) -> bool {
        match &*self.0.read().unwrap_or_else(|e| e.into_inner()) {
            Some(token) => constant_time_eq(token.expose_secret().as_bytes(), presented.as_bytes()),
            None => false,
        }
    }

    /// Replaces the token; true if it changed.
    pub fn replace(&self, token: Option<SecretString>) -> bool {
        let mut current = self.0.write().unwrap_or_else(|e| e.into_inner());
        let same = match (&*current, &token) {
            (Some(a), Some(b)) => a.expose_secret() == b.expose_secret(),
            (None, None) => true,
            _ => false,
        };
        *current = token;
        !same
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

    #[test]
    fn replacing_the_token_affects_every_clone() {
        let t = OperatorToken::new(Some(SecretString::from("old")));
        let clone = t.clone();
        assert!(!t.replace(Some(SecretString::from("old"))), "same token: no change");
        assert!(t.replace(Some(SecretString::from("new"))));
        assert!(clone.matches("new") && !clone.matches("old"));
    }
}

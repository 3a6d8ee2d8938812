//! The platform operators' admin bearer token (for automation), and bearer-header parsing.
//! Turning either into an authorized caller is the access module's job.

use std::sync::Arc;

use axum::http::header;
use secrecy::{ExposeSecret, SecretString};

/// The configured operator token; `None` disables the operator API.
#[derive(Debug, Clone)]
pub struct OperatorToken(Option<Arc<SecretString>>);

impl OperatorToken {
    pub fn new(token: Option<SecretString>) -> Self {
        Self(token.map(Arc::new))
    }

    pub fn matches(&self, presented: &str) -> bool {
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

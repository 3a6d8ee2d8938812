//! Providers: who carries a message on a channel. Email goes by SMTP (or the dev mailbox); SMS by
//! Alpha SMS or SSL Wireless, in the configured order, each behind its own circuit breaker.

pub mod alpha;
pub mod breaker;
pub mod fcm;
pub mod limiter;
pub mod sendgrid;
pub mod smtp;
pub mod ssl_wireless;

use std::time::Duration;

use serde::Serialize;

pub use breaker::Breaker;

/// A provider took the message.
#[derive(Debug, Clone, Serialize)]
pub struct Accepted {
    /// The provider's id for it (to ask for its report).
    pub provider_id: Option<String>,
    /// What the provider answered, short, for the message's attempts.
    pub response: String,
}

/// Why a provider did not take a message.
#[derive(Debug, Clone, thiserror::Error)]
pub enum SendError {
    /// The message itself is refused (a bad number, blocked content): another provider or
    /// another try would be refused too.
    #[error("refused: {0}")]
    Rejected(String),
    /// The provider cannot send now (down, timing out, out of balance, misconfigured): try the
    /// next provider, and this one later.
    #[error("unavailable: {reason}")]
    Unavailable { reason: String, retry_after: Option<Duration> },
}

impl SendError {
    pub fn unavailable(reason: impl Into<String>) -> Self {
        Self::Unavailable { reason: reason.into(), retry_after: None }
    }
}

/// A provider's answer that could not be read is the provider's fault.
pub(crate) fn unreadable(provider: &str, status: reqwest::StatusCode, body: &str) -> SendError {
    let head: String = body.chars().take(200).collect();
    SendError::unavailable(format!("{provider} answered {status} with an unreadable body: {head}"))
}

/// A transport error: a timeout or refused connection is the provider being unavailable.
pub(crate) fn transport(provider: &str, error: reqwest::Error) -> SendError {
    let what = if error.is_timeout() { "timed out" } else { "could not be reached" };
    SendError::unavailable(format!("{provider} {what}: {error}"))
}

/// Reads at most `limit` bytes of a provider's answer (it is not trusted to be small).
pub(crate) async fn bounded_body(response: reqwest::Response, limit: usize) -> Result<String, reqwest::Error> {
    use futures_util::StreamExt as _;
    let mut body = Vec::new();
    let mut stream = response.bytes_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk?;
        let room = limit.saturating_sub(body.len());
        body.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if body.len() >= limit {
            break;
        }
    }
    Ok(String::from_utf8_lossy(&body).into_owned())
}

/// The HTTP client of the SMS and push providers: every request bounded by `timeout`, connecting
/// within at most five seconds.
pub fn http_client(timeout: Duration) -> Result<reqwest::Client, reqwest::Error> {
    reqwest::Client::builder().timeout(timeout).connect_timeout(timeout.min(Duration::from_secs(5))).build()
}

//! `x-request-id`: ours, always a new UUIDv7 — answered in the response header and problem
//! bodies, recorded on the request's span and in audit events. An id the client sent is its
//! claim, not ours (anyone could send another request's id, or the same one a million times):
//! when it is a sane token it is logged beside ours as `client_request_id`, and nowhere trusted.

use axum::http::HeaderMap;

tokio::task_local! {
    static REQUEST_ID: String;
    static CONTEXT: RequestContext;
}

/// Where the request being handled came from, for the audit trail.
#[derive(Debug, Clone, Default)]
pub struct RequestContext {
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

/// The current request's origin, if a request is being handled on this task.
pub fn context() -> Option<RequestContext> {
    CONTEXT.try_with(Clone::clone).ok()
}

/// Runs `fut` with `id` as the current request id and `context` as its origin.
pub async fn scope_with<F: std::future::Future>(id: String, context: RequestContext, fut: F) -> F::Output {
    REQUEST_ID.scope(id, CONTEXT.scope(context, fut)).await
}

pub const HEADER: &str = "x-request-id";

/// The id of the request being handled on this task, if any.
pub fn current() -> Option<String> {
    REQUEST_ID.try_with(Clone::clone).ok()
}

/// Runs `fut` with `id` as the current request id.
pub async fn scope<F: std::future::Future>(id: String, fut: F) -> F::Output {
    REQUEST_ID.scope(id, fut).await
}

/// A fresh id of ours for a request.
pub fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// The id the client claims for its request, if it is 1–128 visible ASCII characters.
pub fn claimed(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 128 && v.bytes().all(|b| b.is_ascii_graphic()))
}

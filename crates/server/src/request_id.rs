//! `x-request-id`: taken from the request when it is a sane token (a gateway's id), else a new
//! UUIDv7; echoed on the response, recorded on the request's span and in problem bodies.

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

/// The caller's id if it is 1–128 visible ASCII characters, otherwise a fresh one.
pub fn from_headers(headers: &HeaderMap) -> String {
    headers
        .get(HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 128 && v.bytes().all(|b| b.is_ascii_graphic()))
        .map_or_else(|| uuid::Uuid::now_v7().to_string(), str::to_owned)
}

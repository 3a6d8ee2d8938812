//! The outermost middleware: request id, tracing span, timeout, metrics and one log line per
//! request. Metrics are labelled by the *templated* route (`/v1/orgs/{id}`), never the raw path,
//! so that label cardinality stays bounded.

use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request, State};
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tracing::Instrument;

use crate::{ApiError, request_id};

#[derive(Debug, Clone, Copy)]
pub struct ObserveConfig {
    pub request_timeout: Duration,
}

pub async fn observe(State(config): State<ObserveConfig>, req: Request, next: Next) -> Response {
    let started = Instant::now();
    let id = request_id::from_headers(req.headers());
    let method = req.method().as_str().to_owned();
    let route = req.extensions().get::<MatchedPath>().map_or("unmatched", |p| p.as_str()).to_owned();
    let span = tracing::info_span!("request", request_id = %id, %method, %route);

    let active = metrics::gauge!("http_server_active_requests", "method" => method.clone());
    active.increment(1.0);
    let response = request_id::scope(id.clone(), async {
        match tokio::time::timeout(config.request_timeout, next.run(req)).await {
            Ok(response) => response,
            Err(_) => {
                ApiError::unavailable("request_timeout", "The request took too long and was abandoned.").into_response()
            }
        }
    })
    .instrument(span.clone())
    .await;
    active.decrement(1.0);

    let status = response.status();
    let elapsed = started.elapsed();
    metrics::histogram!(
        "http_server_request_duration_seconds",
        "method" => method,
        "route" => route,
        "status" => status.as_str().to_owned(),
    )
    .record(elapsed.as_secs_f64());
    span.in_scope(|| {
        let ms = elapsed.as_secs_f64() * 1000.0;
        if status.is_server_error() {
            tracing::warn!(status = status.as_u16(), ms, "request finished");
        } else {
            tracing::info!(status = status.as_u16(), ms, "request finished");
        }
    });
    let mut response = response;
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(request_id::HEADER, value);
    }
    response
}

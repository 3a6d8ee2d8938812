//! The outermost middleware: request id, tracing span, timeout, metrics and one log line per
//! request. Metrics are labelled by the *templated* route (`/v1/orgs/{id}`), never the raw path,
//! so that label cardinality stays bounded.
//!
//! Quiet routes (forward-auth: one call per request through the gateway) skip the span and the
//! log line when they succeed; they are still counted, and their failures are still logged.
//! Metric handles are resolved once per (method, route, status) and reused, so a request does
//! not rebuild label sets or search the registry.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use metrics::{Gauge, Histogram};
use tracing::Instrument;

use crate::{ApiError, request_id};

/// Per method and status, by route: looked up with the borrowed route, so no allocation.
type Histograms = HashMap<String, HashMap<(Method, u16), Histogram>>;

#[derive(Debug, Clone)]
pub struct ObserveConfig {
    request_timeout: Duration,
    route_timeouts: Arc<[(String, Duration)]>,
    quiet: Arc<[String]>,
    histograms: Arc<RwLock<Histograms>>,
    active: Arc<RwLock<HashMap<Method, Gauge>>>,
}

impl ObserveConfig {
    pub fn new(request_timeout: Duration, quiet_routes: &[String], route_timeouts: &[(String, Duration)]) -> Self {
        Self {
            request_timeout,
            route_timeouts: route_timeouts.into(),
            quiet: quiet_routes.into(),
            histograms: Arc::default(),
            active: Arc::default(),
        }
    }

    fn timeout_of(&self, route: &str) -> Duration {
        self.route_timeouts
            .iter()
            .find(|(prefix, _)| route.starts_with(prefix.as_str()))
            .map_or(self.request_timeout, |(_, t)| *t)
    }

    fn active(&self, method: &Method) -> Gauge {
        if let Some(gauge) = self.active.read().unwrap_or_else(|e| e.into_inner()).get(method) {
            return gauge.clone();
        }
        let gauge = metrics::gauge!("http_server_active_requests", "method" => method.as_str().to_owned());
        self.active.write().unwrap_or_else(|e| e.into_inner()).insert(method.clone(), gauge.clone());
        gauge
    }

    fn duration(&self, method: &Method, route: &str, status: u16) -> Histogram {
        let key = (method.clone(), status);
        let histograms = self.histograms.read().unwrap_or_else(|e| e.into_inner());
        if let Some(histogram) = histograms.get(route).and_then(|m| m.get(&key)) {
            return histogram.clone();
        }
        drop(histograms);
        let histogram = metrics::histogram!(
            "http_server_request_duration_seconds",
            "method" => method.as_str().to_owned(),
            "route" => route.to_owned(),
            "status" => status.to_string(),
        );
        let mut all = self.histograms.write().unwrap_or_else(|e| e.into_inner());
        all.entry(route.to_owned()).or_default().insert(key, histogram.clone());
        histogram
    }
}

pub async fn observe(State(config): State<ObserveConfig>, req: Request, next: Next) -> Response {
    let started = Instant::now();
    let id = request_id::new_id();
    let claimed = request_id::claimed(req.headers()).map(str::to_owned);
    let method = req.method().clone();
    let matched = req.extensions().get::<MatchedPath>().cloned();
    let route = matched.as_ref().map_or("unmatched", MatchedPath::as_str);
    let quiet = config.quiet.iter().any(|q| q == route);
    let span = if quiet {
        tracing::Span::none()
    } else {
        tracing::info_span!("request", request_id = %id, client_request_id = claimed.as_deref(), method = %method, route = %route)
    };

    let active = config.active(&method);
    active.increment(1.0);
    let context = request_id::RequestContext {
        ip: req.extensions().get::<axum::extract::ConnectInfo<std::net::SocketAddr>>().map(|c| c.0.ip().to_string()),
        user_agent: req
            .headers()
            .get(axum::http::header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|ua| ua.chars().take(300).collect()),
    };
    let timeout = config.timeout_of(route);
    let has_nul = crate::text::uri_has_nul(req.uri());
    let response = request_id::scope_with(id.clone(), context, async {
        if has_nul {
            // No path or query may carry a NUL: nothing downstream (PostgreSQL least of all) takes one.
            return crate::text::nul_problem("the URL").into_response();
        }
        match tokio::time::timeout(timeout, next.run(req)).await {
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
    config.duration(&method, route, status.as_u16()).record(elapsed.as_secs_f64());
    if !(quiet && status.is_success()) {
        let span = if quiet {
            tracing::info_span!("request", request_id = %id, client_request_id = claimed.as_deref(), method = %method, route = %route)
        } else {
            span
        };
        span.in_scope(|| {
            let ms = elapsed.as_secs_f64() * 1000.0;
            if status.is_server_error() {
                tracing::warn!(status = status.as_u16(), ms, "request finished");
            } else {
                tracing::info!(status = status.as_u16(), ms, "request finished");
            }
        });
    }
    let mut response = response;
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(request_id::HEADER, value);
    }
    response
}

//! HTTP plumbing shared by every module, and the assembly of the platform's router.
//!
//! A module contributes an `OpenApiRouter<AppState>` whose handlers carry `#[utoipa::path]`
//! annotations; [`build`] merges them, adds operations endpoints, the fallback and the
//! middleware, and returns the router together with the OpenAPI document generated from it.

mod auth;
mod client;
mod docs;
mod error;
mod extract;
mod health;
pub mod limits;
pub mod listen;
pub mod metrics;
mod observe;
pub mod request_id;
pub mod text;

use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, FromRef};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use utoipa::OpenApi;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use vextrus_db::{Database, ModuleMigrations};

pub use auth::{OperatorToken, bearer_token};
pub use client::ClientAddr;
pub use error::{ApiError, FieldError, Problem};
pub use extract::{Json, Query};
pub use limits::{Limits, PlanLimits};
pub use text::{bounded_text, page_limit};

/// Everything handlers may ask for; each extracts only its part (`State<Database>`, …).
#[derive(Debug, Clone)]
pub struct AppState {
    pub db: Database,
    pub operator_token: OperatorToken,
    /// Every module's migrations, for readiness.
    pub migrations: &'static [ModuleMigrations],
    /// Feature modules' own state, by type; a module implements `FromRef<AppState>` for its type
    /// with [`AppState::module`].
    pub modules: std::sync::Arc<axum::http::Extensions>,
}

impl AppState {
    /// The state a module registered at assembly. Missing state is a wiring bug of the binary,
    /// found by the first test that calls one of the module's endpoints.
    pub fn module<T: Clone + Send + Sync + 'static>(&self) -> T {
        self.module_ref::<T>().clone()
    }

    /// A module's state, borrowed (no clone on a hot path).
    pub fn module_ref<T: Send + Sync + 'static>(&self) -> &T {
        self.modules
            .get::<T>()
            .unwrap_or_else(|| panic!("module state {} was not registered", std::any::type_name::<T>()))
    }
}

impl FromRef<AppState> for Database {
    fn from_ref(state: &AppState) -> Self {
        state.db.clone()
    }
}

impl FromRef<AppState> for OperatorToken {
    fn from_ref(state: &AppState) -> Self {
        state.operator_token.clone()
    }
}

#[derive(Debug, Clone)]
pub struct HttpSettings {
    pub body_limit_bytes: usize,
    pub request_timeout: Duration,
    /// Templated routes whose successes are counted but not logged one by one.
    pub quiet_routes: Vec<String>,
    /// Templated routes starting with a prefix here get its time limit instead of
    /// `request_timeout` (the registry's uploads of large packages).
    pub route_timeouts: Vec<(String, Duration)>,
    /// A request's headers must arrive within this of the connection waiting for them (which
    /// also closes a keep-alive connection idle that long); see [`listen::serve`].
    pub header_read_timeout: Duration,
}

impl HttpSettings {
    /// The defaults of `http.*` and `log.quiet_routes`.
    pub fn new(body_limit_bytes: usize, request_timeout: Duration) -> Self {
        Self {
            body_limit_bytes,
            request_timeout,
            quiet_routes: vec!["/auth/verify".to_owned()],
            route_timeouts: Vec::new(),
            header_read_timeout: Duration::from_secs(30),
        }
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Vextrus Platform API",
        description = "The multi-tenant backbone of the Vextrus ERP. Errors are RFC 9457 problem details \
                       (`application/problem+json`) with a stable `code`.",
    ),
    modifiers(&SecuritySchemes),
    components(schemas(Problem, FieldError)),
    tags(
        (name = "organizations", description = "Organizations (tenants), for platform operators"),
        (name = "identity", description = "Sign-up, users and email verification"),
        (name = "operations", description = "Health, readiness, metrics and this document"),
    )
)]
struct ApiDoc;

struct SecuritySchemes;

impl utoipa::Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some("An access token from POST /oauth/token."))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "platform_operator",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("The platform admin token (VEXTRUS_ADMIN_TOKEN)."))
                    .build(),
            ),
        );
    }
}

/// The platform's router and its OpenAPI document.
pub fn build(
    state: AppState,
    modules: OpenApiRouter<AppState>,
    settings: HttpSettings,
) -> (Router, utoipa::openapi::OpenApi) {
    let _ = metrics::handle();
    let (router, mut openapi) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(health::healthz))
        .routes(routes!(health::readyz))
        .merge(modules)
        .split_for_parts();
    openapi.info.version = env!("CARGO_PKG_VERSION").to_owned();
    let document = serde_json::to_string(&openapi).expect("the OpenAPI document serialises");

    let router = router
        .route("/metrics", axum::routing::get(metrics::serve_metrics))
        .route(
            "/openapi.json",
            axum::routing::get(move || async move { ([("content-type", "application/json")], document) }),
        )
        .route("/docs", axum::routing::get(docs::page))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(
            observe::ObserveConfig::new(settings.request_timeout, &settings.quiet_routes, &settings.route_timeouts),
            observe::observe,
        ))
        .layer(DefaultBodyLimit::max(settings.body_limit_bytes))
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(panicked))
        .with_state(state);
    (router, openapi)
}

async fn not_found() -> ApiError {
    ApiError::not_found("route_not_found", "No such endpoint; see /openapi.json.")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", "Method not allowed")
        .detail("This endpoint does not accept that method; see /openapi.json.")
}

fn panicked(panic: Box<dyn std::any::Any + Send + 'static>) -> axum::response::Response {
    let message = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("(non-string panic)");
    ApiError::internal(format!("handler panicked: {message}")).into_response()
}

//! Liveness (`/healthz`: the process answers) and readiness (`/readyz`: the database answers on
//! both pools and every migration this binary knows is applied).

use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;

use crate::{ApiError, AppState};

#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// `ok` or `ready`.
    pub status: &'static str,
}

/// The process is up.
#[utoipa::path(get, path = "/healthz", tag = "operations", responses((status = 200, body = Health)))]
pub async fn healthz() -> axum::Json<Health> {
    axum::Json(Health { status: "ok" })
}

/// The database is reachable and its schema is current.
#[utoipa::path(get, path = "/readyz", tag = "operations", responses(
    (status = 200, body = Health),
    (status = 503, description = "Database unreachable or migrations pending", body = crate::Problem, content_type = "application/problem+json"),
))]
pub async fn readyz(State(state): State<AppState>) -> Result<axum::Json<Health>, ApiError> {
    state.db.ping().await.map_err(|e| {
        tracing::warn!(error = %e, "readiness: database unreachable");
        ApiError::unavailable("database_unreachable", "The database does not answer.")
    })?;
    let pending = state.db.pending_migrations(state.migrations).await.map_err(ApiError::from)?;
    if !pending.is_empty() {
        return Err(ApiError::unavailable(
            "migrations_pending",
            format!("Migrations not applied: {}", pending.join(", ")),
        ));
    }
    Ok(axum::Json(Health { status: "ready" }))
}

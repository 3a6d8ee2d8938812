//! Suspend and resume: idempotent state changes, answered with the organization.

use axum::extract::{Path, State};
use vextrus_access::Permitted;
use vextrus_db::Database;
use vextrus_server::{ApiError, Problem};

use super::org_ref;
use crate::model::{OrgStatus, Organization};
use crate::permissions::OrganizationsStatus;
use crate::service;

/// Suspend an organization (idempotent).
#[utoipa::path(post, path = "/v1/orgs/{org}/suspend", tag = "organizations", security(("platform_operator" = [])),
    params(("org" = String, Path, description = "Organization id or slug")),
    responses(
        (status = 200, body = Organization),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`permission_denied`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`org_not_found`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn suspend_org(
    op: Permitted<OrganizationsStatus>,
    db: State<Database>,
    org: Path<String>,
) -> Result<axum::Json<Organization>, ApiError> {
    change_status(op, db, org, OrgStatus::Suspended).await
}

/// Resume a suspended organization (idempotent).
#[utoipa::path(post, path = "/v1/orgs/{org}/resume", tag = "organizations", security(("platform_operator" = [])),
    params(("org" = String, Path, description = "Organization id or slug")),
    responses(
        (status = 200, body = Organization),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`permission_denied`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`org_not_found`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn resume_org(
    op: Permitted<OrganizationsStatus>,
    db: State<Database>,
    org: Path<String>,
) -> Result<axum::Json<Organization>, ApiError> {
    change_status(op, db, org, OrgStatus::Active).await
}

async fn change_status(
    permitted: Permitted<OrganizationsStatus>,
    State(db): State<Database>,
    Path(org): Path<String>,
    status: OrgStatus,
) -> Result<axum::Json<Organization>, ApiError> {
    let org = org_ref(&org)?;
    let mut tx = db.system().await?;
    let changed = service::set_status(&mut tx, &org, status, permitted.subject().into()).await?;
    tx.commit().await?;
    tracing::info!(org = %changed.id, status = ?changed.status, "organization status set");
    Ok(axum::Json(changed))
}

use axum::extract::{Path, State};
use vextrus_access::Permitted;
use vextrus_db::Database;
use vextrus_server::{ApiError, Problem};

use super::org_ref;
use crate::model::Organization;
use crate::permissions::OrganizationRead;
use crate::service;

/// Get an organization by id or slug: any organization for platform operators, only their own
/// for an organization's members (another one is "not found", as if it did not exist).
#[utoipa::path(get, path = "/v1/orgs/{org}", tag = "organizations", security(("bearer" = []), ("platform_operator" = [])),
    params(("org" = String, Path, description = "Organization id or slug")),
    responses(
        (status = 200, body = Organization),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`permission_denied`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`org_not_found`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn get_org(
    permitted: Permitted<OrganizationRead>,
    State(db): State<Database>,
    Path(org): Path<String>,
) -> Result<axum::Json<Organization>, ApiError> {
    let org = org_ref(&org)?;
    let mut tx = permitted.begin(&db).await?;
    let found = service::get(&mut tx, &org).await?;
    tx.commit().await?;
    Ok(axum::Json(found))
}

use axum::extract::{Path, State};
use serde::Deserialize;
use utoipa::ToSchema;
use vextrus_access::Permitted;
use vextrus_db::Database;
use vextrus_server::{ApiError, Json, Problem};

use super::{SettingsInput, field, org_ref};
use crate::model::{OrgName, Organization, OrganizationChange};
use crate::permissions::OrganizationUpdate;
use crate::service;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateOrg {
    pub name: Option<String>,
    pub settings: Option<SettingsInput>,
}

/// Change an organization's name or settings (platform operators: any; admins: their own).
#[utoipa::path(patch, path = "/v1/orgs/{org}", tag = "organizations", security(("bearer" = []), ("platform_operator" = [])),
    params(("org" = String, Path, description = "Organization id or slug")),
    request_body = UpdateOrg,
    responses(
        (status = 200, body = Organization),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`permission_denied`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`org_not_found`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`invalid_field`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn update_org(
    permitted: Permitted<OrganizationUpdate>,
    State(db): State<Database>,
    Path(org): Path<String>,
    Json(body): Json<UpdateOrg>,
) -> Result<axum::Json<Organization>, ApiError> {
    let org = org_ref(&org)?;
    let change = OrganizationChange {
        name: body.name.as_deref().map(OrgName::parse).transpose().map_err(field("name"))?,
        settings: body.settings.unwrap_or_default().parse()?,
    };
    let mut tx = permitted.begin(&db).await?;
    let updated = service::update(&mut tx, &org, change, permitted.subject().into()).await?;
    tx.commit().await?;
    Ok(axum::Json(updated))
}

use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use utoipa::ToSchema;
use vextrus_access::Permitted;
use vextrus_db::Database;
use vextrus_server::{ApiError, Json, Problem};

use super::{SettingsInput, field};
use crate::model::{NewOrganization, OrgName, OrgSlug, Organization};
use crate::permissions::OrganizationsCreate;
use crate::service;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateOrg {
    /// `[a-z0-9-]{3,40}`, unique.
    #[schema(example = "acme-traders")]
    pub slug: String,
    #[schema(example = "Acme Traders Ltd.")]
    pub name: String,
    #[serde(default)]
    pub settings: Option<SettingsInput>,
}

/// Create an organization.
#[utoipa::path(post, path = "/v1/orgs", tag = "organizations", security(("platform_operator" = [])),
    request_body = CreateOrg,
    responses(
        (status = 201, description = "Created", body = Organization),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`permission_denied`", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Slug taken (`slug_taken`)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid field (`invalid_field`)", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn create_org(
    permitted: Permitted<OrganizationsCreate>,
    State(db): State<Database>,
    Json(body): Json<CreateOrg>,
) -> Result<(StatusCode, axum::Json<Organization>), ApiError> {
    let new = NewOrganization {
        slug: OrgSlug::parse(&body.slug).map_err(field("slug"))?,
        name: OrgName::parse(&body.name).map_err(field("name"))?,
        settings: body.settings.unwrap_or_default().parse()?,
    };
    let mut tx = db.system().await?;
    let org = service::create(&mut tx, new, permitted.subject().into()).await?;
    tx.commit().await?;
    tracing::info!(org = %org.id, slug = %org.slug, "organization created");
    Ok((StatusCode::CREATED, axum::Json(org)))
}

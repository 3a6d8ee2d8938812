use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use vextrus_access::Permitted;
use vextrus_db::{Database, TenantId};
use vextrus_server::{ApiError, Problem, Query, page_limit};

use crate::model::{OrgStatus, Organization};
use crate::permissions::OrganizationsList;
use crate::service;

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// Page size, 1–200 (default 50).
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<uuid::Uuid>,
    /// Only organizations with this status.
    pub status: Option<OrgStatus>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OrgPage {
    pub items: Vec<Organization>,
    /// Pass as `cursor` for the next page; absent on the last page.
    #[schema(value_type = Option<uuid::Uuid>)]
    pub next_cursor: Option<TenantId>,
}

/// List organizations in creation order.
#[utoipa::path(get, path = "/v1/orgs", tag = "organizations", security(("platform_operator" = [])),
    params(ListParams),
    responses(
        (status = 200, body = OrgPage),
        (status = 400, description = "`invalid_query`", body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`permission_denied`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn list_orgs(
    _: Permitted<OrganizationsList>,
    State(db): State<Database>,
    Query(params): Query<ListParams>,
) -> Result<axum::Json<OrgPage>, ApiError> {
    let limit = page_limit(params.limit, 50, 200)?;
    let mut tx = db.system().await?;
    let (items, next_cursor) =
        service::list(&mut tx, params.cursor.map(TenantId::from_uuid), params.status, limit).await?;
    tx.commit().await?;
    Ok(axum::Json(OrgPage { items, next_cursor }))
}

//! `/v1/platform/plans` and `/v1/orgs/{org}/plan`: plans, for platform operators.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use vextrus_access::Permitted;
use vextrus_db::Database;
use vextrus_server::{ApiError, Json, Limits, PlanLimits, Problem};

use super::{field, org_ref};
use crate::permissions::PlansManage;
use crate::plans::{self, OrgPlan, Plan, PlanName};

/// The `{plan}` path segment; a name that cannot be valid names nothing.
fn plan_name(text: &str) -> Result<PlanName, ApiError> {
    PlanName::parse(text).map_err(|_| ApiError::not_found("plan_not_found", format!("No plan {text:?}.")))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PlanList {
    pub items: Vec<Plan>,
    /// The limits of `default`, the plan of every organization without one (configuration).
    pub default: PlanLimits,
}

/// List the plans operators defined, and the default plan's limits.
#[utoipa::path(get, path = "/v1/platform/plans", tag = "plans", security(("platform_operator" = [])),
    responses(
        (status = 200, body = PlanList),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`permission_denied`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn list_plans(
    _permitted: Permitted<PlansManage>,
    State(db): State<Database>,
    State(limits): State<Limits>,
) -> Result<axum::Json<PlanList>, ApiError> {
    let mut tx = db.system().await?;
    let items = plans::list(&mut tx).await?;
    tx.commit().await?;
    Ok(axum::Json(PlanList { items, default: limits.plan }))
}

/// Define a plan, or change its limits (organizations on it get them at once).
#[utoipa::path(put, path = "/v1/platform/plans/{plan}", tag = "plans", security(("platform_operator" = [])),
    params(("plan" = String, Path, description = "2–40 of a-z, 0-9 and -; not `default`")),
    request_body = PlanLimits,
    responses(
        (status = 200, description = "Changed", body = Plan),
        (status = 201, description = "Defined", body = Plan),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`permission_denied`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`invalid_field`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn put_plan(
    permitted: Permitted<PlansManage>,
    State(db): State<Database>,
    Path(plan): Path<String>,
    Json(limits): Json<PlanLimits>,
) -> Result<(StatusCode, axum::Json<Plan>), ApiError> {
    let name = PlanName::parse(&plan).map_err(field("plan"))?;
    check(&limits)?;
    let mut tx = db.system().await?;
    let (plan, created) = plans::put(&mut tx, &name, limits, permitted.subject().into()).await?;
    tx.commit().await?;
    Ok((if created { StatusCode::CREATED } else { StatusCode::OK }, axum::Json(plan)))
}

/// What the database can hold (SQL integers); a plan needs at least its owner as a member.
fn check(limits: &PlanLimits) -> Result<(), ApiError> {
    let int = i32::MAX as u32;
    if limits.storage_bytes > i64::MAX as u64 {
        return Err(ApiError::invalid_field("storage_bytes", format!("at most {}", i64::MAX)));
    }
    if limits.members == 0 {
        return Err(ApiError::invalid_field("members", "at least 1 (the owner)"));
    }
    for (name, value) in
        [("members", limits.members), ("api_keys", limits.api_keys), ("sms_per_month", limits.sms_per_month)]
    {
        if value > int {
            return Err(ApiError::invalid_field(name, format!("at most {int}")));
        }
    }
    Ok(())
}

/// Delete a plan no organization is on.
#[utoipa::path(delete, path = "/v1/platform/plans/{plan}", tag = "plans", security(("platform_operator" = [])),
    params(("plan" = String, Path, description = "The plan's name")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`permission_denied`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`plan_not_found`", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`plan_in_use`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn delete_plan(
    permitted: Permitted<PlansManage>,
    State(db): State<Database>,
    Path(plan): Path<String>,
) -> Result<StatusCode, ApiError> {
    let name = plan_name(&plan)?;
    let mut tx = db.system().await?;
    plans::delete(&mut tx, &name, permitted.subject().into()).await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetPlan {
    /// A plan's name, or `null` (or `default`) for the default plan.
    pub plan: Option<String>,
}

/// Give an organization a plan; its limits apply from the next check.
#[utoipa::path(put, path = "/v1/orgs/{org}/plan", tag = "plans", security(("platform_operator" = [])),
    params(("org" = String, Path, description = "Organization id or slug")),
    request_body = SetPlan,
    responses(
        (status = 200, body = OrgPlan),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`permission_denied`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`org_not_found`, `plan_not_found`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn set_org_plan(
    permitted: Permitted<PlansManage>,
    State(db): State<Database>,
    State(limits): State<Limits>,
    Path(org): Path<String>,
    Json(body): Json<SetPlan>,
) -> Result<axum::Json<OrgPlan>, ApiError> {
    let org = org_ref(&org)?;
    let plan = match body.plan.as_deref() {
        None | Some(plans::DEFAULT_PLAN) => None,
        Some(name) => Some(plan_name(name)?),
    };
    let mut tx = db.system().await?;
    let set = plans::assign(&mut tx, &org, plan.as_ref(), limits.plan, permitted.subject().into()).await?;
    tx.commit().await?;
    Ok(axum::Json(set))
}

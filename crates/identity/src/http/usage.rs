//! `GET /v1/usage`: the organization's plan and what it uses of each limit. Identity answers
//! it because it sits above what is counted: members and API keys are its own, storage is
//! tenancy's, SMS notify's.

use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;
use vextrus_access::Permitted;
use vextrus_db::Database;
use vextrus_server::{ApiError, Limits, PlanLimits, Problem};
use vextrus_tenancy::permissions::UsageRead;

#[derive(Debug, Serialize, ToSchema)]
pub struct Usage {
    /// The plan's name, or `default`.
    pub plan: String,
    pub limits: PlanLimits,
    pub used: Used,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Used {
    /// Bytes of files stored.
    pub storage_bytes: u64,
    /// Bytes reserved by uploads in progress (they count against the limit until they end).
    pub storage_reserved_bytes: u64,
    pub members: u64,
    /// Active API keys, every holder together.
    pub api_keys: u64,
    /// SMS counted this calendar month (Dhaka).
    pub sms_this_month: u64,
}

/// The organization's plan, its limits, and what it uses of each.
#[utoipa::path(get, path = "/v1/usage", tag = "plans", security(("bearer" = [])),
    responses(
        (status = 200, body = Usage),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`permission_denied`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn get_usage(
    permitted: Permitted<UsageRead>,
    State(db): State<Database>,
    State(limits): State<Limits>,
) -> Result<axum::Json<Usage>, ApiError> {
    let tenant = permitted.tenant()?;
    let mut tx = db.tenant(tenant).await?;
    let plan = vextrus_tenancy::plans::of(&mut tx, tenant, limits.plan).await?;
    let storage = vextrus_tenancy::plans::storage(&mut tx, tenant).await?;
    let count = |n: i64| u64::try_from(n).unwrap_or(0);
    let used = Used {
        storage_bytes: storage.used,
        storage_reserved_bytes: storage.reserved,
        members: count(crate::store::members::count(&mut tx, tenant, None).await?),
        api_keys: count(crate::store::api_keys::count_active_in_org(&mut tx, tenant).await?),
        sms_this_month: vextrus_notify::sms_this_month(&mut tx, tenant).await?,
    };
    tx.commit().await?;
    Ok(axum::Json(Usage { plan: plan.plan, limits: plan.limits, used }))
}

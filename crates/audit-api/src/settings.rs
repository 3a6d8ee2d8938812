//! `/v1/audit/settings`: how long the organization keeps its audit trail, within the platform's
//! bounds (`audit.min_retention_months`–120; default `audit.retention_months`).

use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use vextrus_access::Permitted;
use vextrus_audit::retention::{self, MAX_MONTHS, Policy};
use vextrus_audit::{NewEvent, Target};
use vextrus_db::{Database, TenantId, Tx};
use vextrus_server::{ApiError, Json, Problem};

use crate::{EventsRead, SettingsManage};

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditSettings {
    /// Months events are kept: the organization's choice, else the platform's default.
    pub retention_months: u32,
    /// The organization's own choice; absent when it follows the default.
    pub chosen_retention_months: Option<u32>,
    pub default_retention_months: u32,
    pub min_retention_months: u32,
    pub max_retention_months: u32,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateAuditSettings {
    /// Months to keep events, within `min_retention_months`–`max_retention_months`.
    pub retention_months: u32,
}

async fn settings(tx: &mut impl Tx, tenant: TenantId, policy: &Policy) -> Result<AuditSettings, ApiError> {
    let chosen = retention::chosen_months(tx, tenant).await?;
    Ok(AuditSettings {
        retention_months: policy.months_for(chosen),
        chosen_retention_months: chosen,
        default_retention_months: policy.default_months,
        min_retention_months: policy.min_months,
        max_retention_months: MAX_MONTHS,
    })
}

/// The organization's audit settings.
#[utoipa::path(get, path = "/v1/audit/settings", tag = "audit", security(("bearer" = [])),
    responses(
        (status = 200, body = AuditSettings),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`permission_denied`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn get_settings(
    permitted: Permitted<EventsRead>,
    State(db): State<Database>,
    State(policy): State<Policy>,
) -> Result<axum::Json<AuditSettings>, ApiError> {
    let tenant = permitted.tenant()?;
    let mut tx = db.tenant(tenant).await?;
    let current = settings(&mut tx, tenant, &policy).await?;
    tx.commit().await?;
    Ok(axum::Json(current))
}

/// Choose how long the organization keeps its audit events. Shortening takes effect at the next
/// daily retention run, which seals a signed anchor before removing anything.
#[utoipa::path(put, path = "/v1/audit/settings", tag = "audit", security(("bearer" = [])),
    request_body = UpdateAuditSettings,
    responses(
        (status = 200, body = AuditSettings),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`permission_denied`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`invalid_field`: outside the platform's bounds", body = Problem,
            content_type = "application/problem+json"),
    ))]
pub async fn put_settings(
    permitted: Permitted<SettingsManage>,
    State(db): State<Database>,
    State(policy): State<Policy>,
    Json(body): Json<UpdateAuditSettings>,
) -> Result<axum::Json<AuditSettings>, ApiError> {
    let tenant = permitted.tenant()?;
    let months = body.retention_months;
    if !(policy.min_months..=MAX_MONTHS).contains(&months) {
        let bounds = format!("must be between {} and {MAX_MONTHS} months", policy.min_months);
        return Err(ApiError::invalid_field("retention_months", bounds));
    }
    let mut tx = db.tenant(tenant).await?;
    let before = retention::choose_months(&mut tx, tenant, months).await?;
    let changes = vextrus_audit::changes(
        &serde_json::json!({"retention_months": before.unwrap_or(policy.default_months)}),
        &serde_json::json!({"retention_months": months}),
        &[],
    );
    let event = NewEvent::new(tenant, permitted.subject().into(), "audit.settings.update")
        .target(Target::new("organization", tenant))
        .changes(changes);
    vextrus_audit::record(&mut tx, event).await?;
    let current = settings(&mut tx, tenant, &policy).await?;
    tx.commit().await?;
    Ok(axum::Json(current))
}

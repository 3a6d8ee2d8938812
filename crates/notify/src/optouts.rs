//! The platform's own SMS opt-out list (BTRC: keep one besides the operators' DND lists): numbers
//! that answered STOP receive no organization's SMS but security messages (sign-in codes). It is
//! checked when an SMS is triggered (`sms_opted_out`) and again when it is delivered (a message
//! held for BTRC's window or quiet hours). Platform operators keep it
//! (`/v1/platform/sms-opt-outs`); organizations never read it.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use vextrus_access::Permitted;
use vextrus_audit::{NewEvent, Target};
use vextrus_db::{Database, DbError, TenantId, Tx};
use vextrus_server::{ApiError, AppState, Json, Problem, Query};

use crate::model::Phone;
use crate::permissions::OptOutsManage;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list, add)).routes(routes!(remove))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OptOut {
    /// E.164.
    pub phone: String,
    /// Where the STOP came from (`sms_reply`, `support`, …).
    pub source: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OptOutPage {
    pub items: Vec<OptOut>,
    pub next: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct OptOutParams {
    /// The `next` of the previous page.
    pub after: Option<String>,
    /// 1 to 500 (default 100).
    pub limit: Option<u32>,
}

/// The numbers on the STOP list, in number order.
#[utoipa::path(get, path = "/v1/platform/sms-opt-outs", tag = "notify", security(("platform_operator" = [])),
    params(OptOutParams),
    responses(
        (status = 200, body = OptOutPage),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`permission_denied`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`invalid_field`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn list(
    permitted: Permitted<OptOutsManage>,
    State(db): State<Database>,
    Query(params): Query<OptOutParams>,
) -> Result<axum::Json<OptOutPage>, ApiError> {
    platform_only(&permitted)?;
    let limit = params.limit.unwrap_or(100);
    if !(1..=500).contains(&limit) {
        return Err(ApiError::invalid_field("limit", "between 1 and 500"));
    }
    let mut tx = db.system().await?;
    let rows: Vec<(String, String, DateTime<Utc>)> = sqlx::query_as(
        "SELECT phone, source, created_at FROM notify.sms_opt_outs WHERE ($1::text IS NULL OR phone > $1)
          ORDER BY phone LIMIT $2",
    )
    .bind(params.after.as_deref())
    .bind(i64::from(limit) + 1)
    .fetch_all(tx.conn())
    .await
    .map_err(DbError::from)?;
    tx.commit().await?;
    let mut items: Vec<OptOut> =
        rows.into_iter().map(|(phone, source, created_at)| OptOut { phone, source, created_at }).collect();
    let next = vextrus_db::next_page(&mut items, limit, |o| o.phone.clone());
    Ok(axum::Json(OptOutPage { items, next }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewOptOut {
    /// A Bangladeshi mobile number in any usual form.
    pub phone: String,
    /// Where the STOP came from (default `sms_reply`).
    pub source: Option<String>,
}

/// Put a number on the STOP list (idempotent).
#[utoipa::path(post, path = "/v1/platform/sms-opt-outs", tag = "notify", security(("platform_operator" = [])),
    request_body = NewOptOut,
    responses(
        (status = 201, body = OptOut),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`permission_denied`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`invalid_field`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn add(
    permitted: Permitted<OptOutsManage>,
    State(db): State<Database>,
    Json(body): Json<NewOptOut>,
) -> Result<(StatusCode, axum::Json<OptOut>), ApiError> {
    platform_only(&permitted)?;
    let phone = Phone::parse(&body.phone).map_err(|m| ApiError::invalid_field("phone", m))?;
    let source = body.source.unwrap_or_else(|| "sms_reply".into());
    if source.is_empty() || source.len() > 100 || source.chars().any(char::is_control) {
        return Err(ApiError::invalid_field("source", "1 to 100 characters, no control characters"));
    }
    let mut tx = db.system().await?;
    let row: (String, String, DateTime<Utc>) = sqlx::query_as(
        "INSERT INTO notify.sms_opt_outs (phone, source) VALUES ($1, $2)
         ON CONFLICT (phone) DO UPDATE SET phone = EXCLUDED.phone
         RETURNING phone, source, created_at",
    )
    .bind(phone.as_str())
    .bind(&source)
    .fetch_one(tx.conn())
    .await
    .map_err(DbError::from)?;
    let event = NewEvent::new(TenantId::PLATFORM, permitted.subject().into(), "notify.sms_opt_out.add")
        .target(Target::new("phone", phone.as_str()))
        .metadata(json!({"source": source}));
    vextrus_audit::record(&mut tx, event).await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, axum::Json(OptOut { phone: row.0, source: row.1, created_at: row.2 })))
}

/// Take a number off the STOP list (the subscriber asked to receive SMS again).
#[utoipa::path(delete, path = "/v1/platform/sms-opt-outs/{phone}", tag = "notify", security(("platform_operator" = [])),
    params(("phone" = String, Path, description = "The number, in any usual form")),
    responses(
        (status = 204, description = "Removed"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`permission_denied`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`opt_out_not_found`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn remove(
    permitted: Permitted<OptOutsManage>,
    State(db): State<Database>,
    Path(phone): Path<String>,
) -> Result<StatusCode, ApiError> {
    platform_only(&permitted)?;
    let not_found = || ApiError::not_found("opt_out_not_found", "That number is not on the STOP list.");
    let phone = Phone::parse(&phone).map_err(|_| not_found())?;
    let mut tx = db.system().await?;
    let gone = sqlx::query("DELETE FROM notify.sms_opt_outs WHERE phone = $1")
        .bind(phone.as_str())
        .execute(tx.conn())
        .await
        .map_err(DbError::from)?
        .rows_affected();
    if gone == 0 {
        return Err(not_found());
    }
    let event = NewEvent::new(TenantId::PLATFORM, permitted.subject().into(), "notify.sms_opt_out.remove")
        .target(Target::new("phone", phone.as_str()));
    vextrus_audit::record(&mut tx, event).await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The list is the platform's: an organization's role can never reach it, whatever it holds.
fn platform_only<P>(permitted: &Permitted<P>) -> Result<(), ApiError> {
    match permitted.subject().tenant() {
        None => Ok(()),
        Some(_) => Err(vextrus_access::denied("platform.sms_opt_outs.manage", vextrus_access::Denial::NotHeld)),
    }
}

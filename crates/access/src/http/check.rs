use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use vextrus_server::{ApiError, Json, Problem};

use crate::{Access, Denial, Subject};

/// One permission, or several at once.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckRequest {
    pub permission: Option<String>,
    pub permissions: Option<Vec<String>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CheckResult {
    pub permission: String,
    pub allowed: bool,
    /// Why not: `not_held` or `unknown_permission`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<&'static str>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CheckResponse {
    /// Every permission asked about is held.
    pub allowed: bool,
    pub results: Vec<CheckResult>,
}

/// Most checks one request may ask.
const MAX_CHECKS: usize = 100;

/// Does the caller hold these permissions in its organization? Answered from memory. Any
/// credential may ask about itself (this needs no permission of its own).
#[utoipa::path(post, path = "/v1/authz/check", tag = "access", security(("bearer" = [])),
    request_body = CheckRequest,
    responses(
        (status = 200, body = CheckResponse),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`invalid_field`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn check(
    subject: Subject,
    State(access): State<Access>,
    Json(body): Json<CheckRequest>,
) -> Result<axum::Json<CheckResponse>, ApiError> {
    let asked: Vec<String> = match (body.permission, body.permissions) {
        (Some(one), None) => vec![one],
        (None, Some(many)) if !many.is_empty() && many.len() <= MAX_CHECKS => many,
        (None, Some(_)) => {
            return Err(ApiError::invalid_field("permissions", format!("must list 1 to {MAX_CHECKS} permissions")));
        }
        _ => return Err(ApiError::invalid_field("permission", "give either `permission` or `permissions`")),
    };
    let outcomes = access.check_all(&subject, asked.iter().map(String::as_str));
    let results: Vec<CheckResult> = asked
        .into_iter()
        .zip(outcomes)
        .map(|(permission, outcome)| CheckResult {
            permission,
            allowed: outcome.is_ok(),
            reason: outcome.err().map(|d| match d {
                Denial::NotHeld => "not_held",
                Denial::UnknownPermission => "unknown_permission",
            }),
        })
        .collect();
    Ok(axum::Json(CheckResponse { allowed: results.iter().all(|r| r.allowed), results }))
}

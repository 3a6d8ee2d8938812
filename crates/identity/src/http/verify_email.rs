use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use vextrus_db::Database;
use vextrus_server::{ApiError, Json, Problem};

use crate::service;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VerifyEmail {
    /// The code from the verification mail.
    pub token: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EmailVerified {
    pub user_id: uuid::Uuid,
    pub verified: bool,
}

/// Verify an email address with the code that was mailed to it (single use, 48 hours).
#[utoipa::path(post, path = "/v1/verify-email", tag = "identity",
    request_body = VerifyEmail,
    responses(
        (status = 200, body = EmailVerified),
        (status = 400, description = "`invalid_token`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn verify_email(
    State(db): State<Database>,
    Json(body): Json<VerifyEmail>,
) -> Result<axum::Json<EmailVerified>, ApiError> {
    let mut tx = db.system().await?;
    let user_id = service::verify_email(&mut tx, body.token.trim()).await?;
    tx.commit().await?;
    Ok(axum::Json(EmailVerified { user_id, verified: true }))
}

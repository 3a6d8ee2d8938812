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
    /// The account's password — or a new one (8–128 characters, not a common one), which makes
    /// the account the address holder's and ends every earlier session and API key of it.
    pub password: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EmailVerified {
    pub user_id: uuid::Uuid,
    pub verified: bool,
    /// A new password was given: the account is now the address holder's alone.
    pub claimed: bool,
}

/// Verify an email address with the code that was mailed to it (single use, 48 hours), and the
/// account's password. Whoever proves the address owns the account: a password other than the
/// account's replaces it, and the earlier holder's sessions and keys end (someone may have
/// signed up with an address that is not theirs).
#[utoipa::path(post, path = "/v1/verify-email", tag = "identity",
    request_body = VerifyEmail,
    responses(
        (status = 200, body = EmailVerified),
        (status = 400, description = "`invalid_token`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`invalid_field`: a new password that fails the policy", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn verify_email(
    State(db): State<Database>,
    Json(body): Json<VerifyEmail>,
) -> Result<axum::Json<EmailVerified>, ApiError> {
    let mut tx = db.system().await?;
    let (user_id, claimed) = service::verify_email(&mut tx, body.token.trim(), &body.password).await?;
    tx.commit().await?;
    Ok(axum::Json(EmailVerified { user_id, verified: true, claimed }))
}

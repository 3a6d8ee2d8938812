//! `/v1/password-reset`: ask for a reset code by mail; set a new password with it.

use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use vextrus_db::Database;
use vextrus_server::{ApiError, Json, Problem};

use super::field;
use crate::model::EmailAddress;
use crate::password::Password;
use crate::password_reset;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResetRequest {
    pub email: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ResetAccepted {
    pub message: &'static str,
}

/// Ask for a password reset code. The answer is the same whether or not the address has an
/// account; if it has, a code arrives by mail.
#[utoipa::path(post, path = "/v1/password-reset", tag = "identity",
    request_body = ResetRequest,
    responses(
        (status = 202, body = ResetAccepted),
        (status = 422, description = "`invalid_field`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn request_reset(
    State(db): State<Database>,
    State(limits): State<vextrus_server::Limits>,
    Json(body): Json<ResetRequest>,
) -> Result<(StatusCode, axum::Json<ResetAccepted>), ApiError> {
    let email = EmailAddress::parse(&body.email).map_err(field("email"))?;
    // Past the address's hourly mail limit nothing is sent, and the answer stays the same (it
    // must not tell whether an account has the address).
    let key = format!("mail:{}", email.as_str());
    if super::rate(&db, &key, limits.mails_per_recipient_per_hour, "too_many_mails").await.is_ok() {
        let mut tx = db.system().await?;
        password_reset::request(&mut tx, &email).await?;
        tx.commit().await?;
    }
    let message = "If an account has this address, a reset code is on its way.";
    Ok((StatusCode::ACCEPTED, axum::Json(ResetAccepted { message })))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResetConfirm {
    /// The code from the mail.
    pub token: String,
    /// The new password (8–128 characters, not a common one).
    pub password: String,
}

/// Set a new password with a reset code. Every session of the account is signed out.
#[utoipa::path(post, path = "/v1/password-reset/confirm", tag = "identity",
    request_body = ResetConfirm,
    responses(
        (status = 204, description = "Password changed"),
        (status = 400, description = "`invalid_token`: unknown, used or expired", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`invalid_field`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn confirm_reset(State(db): State<Database>, Json(body): Json<ResetConfirm>) -> Result<StatusCode, ApiError> {
    let password = Password::parse(&body.password).map_err(field("password"))?;
    let mut tx = db.system().await?;
    password_reset::confirm(&mut tx, &body.token, &password).await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

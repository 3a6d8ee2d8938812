//! `/v1/me/mfa`: the signed-in user's second factor; `/v1/mfa-policy`: who must have one.
//!
//! The `/v1/me/mfa` routes need only a signed-in session, not a permission: a member whom the
//! organization's policy holds to a second factor gets a token without roles until they enrol.

use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use vextrus_access::{Permitted, Subject};
use vextrus_audit::{NewEvent, Target};
use vextrus_db::{Database, SystemTx, TenantId};
use vextrus_server::{ApiError, Json, Problem};

use super::members::role_keys;
use super::session_user;
use crate::auth::Auth;
use crate::mfa::{self, Enrolment, MfaStatus};
use crate::permissions::MfaPolicyManage;
use crate::throttle::{self, ThrottleKeys};

/// A second-factor change, in the chain of the organization the user is signed in to (the
/// platform's for operators): the user's own account, so the target is the user.
async fn record(tx: &mut SystemTx, subject: &Subject, action: &'static str) -> Result<(), ApiError> {
    let tenant = subject.tenant().unwrap_or(TenantId::PLATFORM);
    let event = NewEvent::new(tenant, subject.into(), action).target(Target::new("user", subject.id));
    vextrus_audit::record(tx, event).await?;
    Ok(())
}

/// Whether the signed-in user has a second factor.
#[utoipa::path(get, path = "/v1/me/mfa", tag = "identity", security(("bearer" = [])),
    responses(
        (status = 200, body = MfaStatus),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`session_required`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn mfa_status(subject: Subject, State(db): State<Database>) -> Result<axum::Json<MfaStatus>, ApiError> {
    let user = session_user(&subject)?;
    let mut tx = db.system().await?;
    let status = mfa::status(&mut tx, user).await?;
    tx.commit().await?;
    Ok(axum::Json(status))
}

/// Start TOTP enrolment: add the secret to an authenticator app, then confirm with a code.
#[utoipa::path(post, path = "/v1/me/mfa/totp", tag = "identity", security(("bearer" = [])),
    responses(
        (status = 201, body = Enrolment),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`session_required`", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`mfa_already_enabled`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn enroll_totp(
    subject: Subject,
    State(db): State<Database>,
    State(auth): State<Auth>,
) -> Result<(StatusCode, axum::Json<Enrolment>), ApiError> {
    let user = session_user(&subject)?;
    let account = subject.username.as_deref().unwrap_or("account").to_owned();
    let mut tx = db.system().await?;
    let enrolment = mfa::enroll(&mut tx, auth.keys.master(), user, &account).await?;
    record(&mut tx, &subject, "authn_mfa_enroll_start").await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, axum::Json(enrolment)))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CodeInput {
    /// The current 6-digit code from the authenticator app (or, where accepted, a recovery code).
    pub code: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RecoveryCodes {
    /// Ten single-use codes for when the authenticator is lost: shown only now.
    pub recovery_codes: Vec<String>,
}

/// Confirm TOTP enrolment with a current code; answers the recovery codes (shown once).
#[utoipa::path(post, path = "/v1/me/mfa/totp/confirm", tag = "identity", security(("bearer" = [])),
    request_body = CodeInput,
    responses(
        (status = 200, body = RecoveryCodes),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`session_required`", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`mfa_not_enrolled`, `mfa_already_enabled`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`invalid_field`: the code is wrong", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "`too_many_attempts`: see `Retry-After`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn confirm_totp(
    subject: Subject,
    State(db): State<Database>,
    State(auth): State<Auth>,
    Json(body): Json<CodeInput>,
) -> Result<axum::Json<RecoveryCodes>, ApiError> {
    let user = session_user(&subject)?;
    let keys = code_attempt(&db, user).await?;
    let mut tx = db.system().await?;
    let recovery_codes = mfa::confirm(&mut tx, auth.keys.master(), user, &body.code).await?;
    throttle::succeeded(&mut tx, &keys).await?;
    record(&mut tx, &subject, "authn_mfa_enable").await?;
    tx.commit().await?;
    Ok(axum::Json(RecoveryCodes { recovery_codes }))
}

/// Turn the second factor off, proving it one last time (a code or a recovery code).
#[utoipa::path(post, path = "/v1/me/mfa/disable", tag = "identity", security(("bearer" = [])),
    request_body = CodeInput,
    responses(
        (status = 204, description = "Disabled"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`session_required`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`invalid_field`: the code is wrong", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "`too_many_attempts`: see `Retry-After`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn disable_mfa(
    subject: Subject,
    State(db): State<Database>,
    State(auth): State<Auth>,
    Json(body): Json<CodeInput>,
) -> Result<StatusCode, ApiError> {
    let user = session_user(&subject)?;
    let keys = code_attempt(&db, user).await?;
    let mut tx = db.system().await?;
    mfa::disable(&mut tx, auth.keys.master(), user, &body.code).await?;
    throttle::succeeded(&mut tx, &keys).await?;
    record(&mut tx, &subject, "authn_mfa_disable").await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Replace the recovery codes (the old ones stop working), proving the second factor.
#[utoipa::path(post, path = "/v1/me/mfa/recovery-codes", tag = "identity", security(("bearer" = [])),
    request_body = CodeInput,
    responses(
        (status = 200, body = RecoveryCodes),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`session_required`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`invalid_field`: the code is wrong", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "`too_many_attempts`: see `Retry-After`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn new_recovery_codes(
    subject: Subject,
    State(db): State<Database>,
    State(auth): State<Auth>,
    Json(body): Json<CodeInput>,
) -> Result<axum::Json<RecoveryCodes>, ApiError> {
    let user = session_user(&subject)?;
    let keys = code_attempt(&db, user).await?;
    let mut tx = db.system().await?;
    if !mfa::check_second_factor(&mut tx, auth.keys.master(), user, &body.code).await? {
        return Err(crate::IdentityError::InvalidCode.into());
    }
    throttle::succeeded(&mut tx, &keys).await?;
    let recovery_codes = mfa::new_recovery_codes(&mut tx, user).await?;
    record(&mut tx, &subject, "authn_mfa_recovery_codes_replace").await?;
    tx.commit().await?;
    Ok(axum::Json(RecoveryCodes { recovery_codes }))
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MfaPolicy {
    /// Members holding any of these roles must use a second factor (e.g. `["owner", "admin"]`).
    pub require_for: Vec<String>,
}

/// Which roles the organization requires a second factor of.
#[utoipa::path(get, path = "/v1/mfa-policy", tag = "identity", security(("bearer" = [])),
    responses(
        (status = 200, body = MfaPolicy),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`permission_denied`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn get_policy(
    permitted: Permitted<MfaPolicyManage>,
    State(db): State<Database>,
) -> Result<axum::Json<MfaPolicy>, ApiError> {
    let tenant = permitted.tenant()?;
    let mut tx = db.tenant(tenant).await?;
    let require_for = mfa::policy(&mut tx, tenant).await?;
    tx.commit().await?;
    Ok(axum::Json(MfaPolicy { require_for }))
}

/// Require a second factor of members holding these roles. Members without one get tokens
/// without roles (they can only enrol) from their next sign-in or refresh.
#[utoipa::path(put, path = "/v1/mfa-policy", tag = "identity", security(("bearer" = [])),
    request_body = MfaPolicy,
    responses(
        (status = 200, body = MfaPolicy),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`permission_denied`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`invalid_field`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn set_policy(
    permitted: Permitted<MfaPolicyManage>,
    State(db): State<Database>,
    Json(body): Json<MfaPolicy>,
) -> Result<axum::Json<MfaPolicy>, ApiError> {
    let mut roles: Vec<String> = role_keys(&body.require_for)?.iter().map(|r| r.as_str().to_owned()).collect();
    roles.sort();
    roles.dedup();
    let tenant = permitted.tenant()?;
    let mut tx = db.tenant(tenant).await?;
    let before = mfa::policy(&mut tx, tenant).await?;
    mfa::set_policy(&mut tx, tenant, &roles).await?;
    let event = NewEvent::new(tenant, permitted.subject().into(), "identity.mfa_policy.update")
        .target(Target::new("organization", tenant))
        .changes(serde_json::json!({"require_for": {"before": before, "after": roles}}));
    vextrus_audit::record(&mut tx, event).await?;
    tx.commit().await?;
    Ok(axum::Json(MfaPolicy { require_for: roles }))
}

/// Takes an attempt at `user`'s second factor before a code is checked (429 while guessing
/// must wait): whoever holds a session cannot try codes faster than the throttle allows.
async fn code_attempt(db: &Database, user: uuid::Uuid) -> Result<ThrottleKeys, ApiError> {
    let keys = ThrottleKeys::second_factor(user);
    if let Some(seconds) = throttle::attempt(db, &keys).await? {
        return Err(ApiError::too_many(
            "too_many_attempts",
            format!("Too many codes tried; try again in {seconds} seconds."),
            u64::try_from(seconds).unwrap_or(1),
        ));
    }
    Ok(keys)
}

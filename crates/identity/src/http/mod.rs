//! Identity's HTTP endpoints. One file per action.

mod api_keys;
mod invitations;
mod me;
mod members;
mod mfa;
mod password_reset;
mod service_accounts;
mod signup;
mod token;
mod usage;
mod verify;
mod verify_email;
mod well_known;
use axum::http::StatusCode;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;
use vextrus_access::{Subject, SubjectKind};
use vextrus_db::TenantId;
use vextrus_server::{ApiError, AppState};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(signup::sign_up))
        .routes(routes!(signup::complete_sign_up))
        .routes(routes!(verify_email::verify_email))
        .routes(routes!(token::token))
        .routes(routes!(well_known::jwks))
        .routes(routes!(well_known::audit_keys))
        .routes(routes!(well_known::openid_configuration))
        .routes(routes!(verify::verify))
        .routes(routes!(me::get_me))
        .routes(routes!(me::list_sessions))
        .routes(routes!(me::revoke_session))
        .routes(routes!(api_keys::list_my_keys, api_keys::create_my_key))
        .routes(routes!(api_keys::revoke_my_key))
        .routes(routes!(members::list_members))
        .routes(routes!(members::get_member, members::remove_member))
        .routes(routes!(members::set_member_roles))
        .routes(routes!(invitations::list_invitations, invitations::create_invitation))
        .routes(routes!(invitations::revoke_invitation))
        .routes(routes!(invitations::accept_invitation))
        .routes(routes!(service_accounts::list_accounts, service_accounts::create_account))
        .routes(routes!(
            service_accounts::get_account,
            service_accounts::update_account,
            service_accounts::delete_account
        ))
        .routes(routes!(service_accounts::list_account_keys, service_accounts::create_account_key))
        .routes(routes!(service_accounts::revoke_account_key))
        .routes(routes!(mfa::mfa_status))
        .routes(routes!(mfa::enroll_totp))
        .routes(routes!(mfa::confirm_totp))
        .routes(routes!(mfa::disable_mfa))
        .routes(routes!(mfa::new_recovery_codes))
        .routes(routes!(mfa::get_policy, mfa::set_policy))
        .routes(routes!(password_reset::request_reset))
        .routes(routes!(password_reset::confirm_reset))
        .routes(routes!(usage::get_usage))
}

/// The signed-in user and the organization they act in; other subjects get 403 `users_only`.
fn signed_in_user(subject: &Subject) -> Result<(Uuid, TenantId), ApiError> {
    match (subject.kind, subject.tenant()) {
        (SubjectKind::User, Some(tenant)) => Ok((subject.id, tenant)),
        _ => Err(ApiError::new(StatusCode::FORBIDDEN, "users_only", "Users only")
            .detail("Only a signed-in user can do this (not a service account or the operator token).")),
    }
}

/// The user of a signed-in session (an access token from the password grant). Second-factor
/// changes need one: an API key, even the user's own, must never enrol or remove a factor.
fn session_user(subject: &Subject) -> Result<Uuid, ApiError> {
    match (subject.kind, subject.session) {
        (SubjectKind::User, Some(_)) => Ok(subject.id),
        _ => Err(ApiError::new(StatusCode::FORBIDDEN, "session_required", "Session required")
            .detail("Second factors are managed with a signed-in session's access token, not an API key.")),
    }
}

/// A `{id}` path segment: text that is no UUID names nothing (404 with `code`).
fn path_id(text: &str, code: &'static str, what: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(text).map_err(|_| ApiError::not_found(code, format!("No such {what}.")))
}

/// Maps a parser's message to a 422 naming `name`.
fn field(name: &'static str) -> impl Fn(String) -> ApiError {
    move |message| ApiError::invalid_field(name, message)
}

/// Takes one from an hourly rate (in its own transaction: a refused or failed attempt counts
/// too); 429 `code` with `Retry-After` when it is used up.
pub(crate) async fn rate(
    db: &vextrus_db::Database,
    key: &str,
    per_hour: u32,
    code: &'static str,
) -> Result<(), ApiError> {
    let mut tx = db.system().await?;
    let taken = vextrus_db::limits::take_rate(&mut tx, key, per_hour, std::time::Duration::from_secs(3600)).await?;
    tx.commit().await?;
    taken.map_err(|seconds| {
        ApiError::too_many(
            code,
            format!("At most {per_hour} an hour from here; try again in {seconds} seconds."),
            seconds,
        )
    })
}

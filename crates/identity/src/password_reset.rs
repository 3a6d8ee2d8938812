//! Password reset. Asking is answered the same way whether or not the address has an account
//! (no enumeration, by message or by timing): the request path only enqueues a job with the
//! address; the job looks the account up and, if there is one, mails a single-use code valid
//! for an hour. Using the code sets the new password and signs every session out.

use chrono::{Duration, Utc};
use vextrus_db::SystemTx;
use vextrus_db::jobs;

use crate::IdentityError;
use crate::jobs::SendPasswordReset;
use crate::model::EmailAddress;
use crate::password::Password;
use crate::service::{random_token, sha256};
use crate::store::password_resets as store;

pub const RESET_TTL: Duration = Duration::hours(1);

/// Queues the reset mail for `email` (which may belong to nobody).
pub async fn request(tx: &mut SystemTx, email: &EmailAddress) -> Result<(), IdentityError> {
    jobs::enqueue(tx, &SendPasswordReset { email: email.to_string() }).await?;
    // Whether the address has an account is not known here, and not recorded.
    let event = vextrus_audit::NewEvent::new(
        vextrus_db::TenantId::PLATFORM,
        vextrus_audit::Actor::anonymous(),
        "authn_password_reset_request",
    );
    vextrus_audit::record(tx, event).await?;
    Ok(())
}

/// In the job: for an active account, a new code and its message (in the account's language);
/// nothing otherwise.
pub(crate) async fn prepare(tx: &mut SystemTx, email: &str) -> Result<(), IdentityError> {
    let Some(user) = store::active_user_by_email(tx, email).await? else {
        return Ok(());
    };
    let token = random_token();
    store::insert(tx, &sha256(&token), user.id, Utc::now() + RESET_TTL).await?;
    let data = serde_json::json!({"name": user.display_name, "username": user.username, "token": token});
    let locale = vextrus_notify::model::Locale::parse(&user.locale).unwrap_or_default();
    vextrus_notify::queue(tx, &crate::templates::PASSWORD_RESET, &user.email, locale, data).await?;
    Ok(())
}

/// Sets the new password with a code; every session of the account ends.
pub async fn confirm(tx: &mut SystemTx, token: &str, password: &Password) -> Result<(), IdentityError> {
    let user = store::consume(tx, &sha256(token.trim())).await?.ok_or(IdentityError::InvalidToken)?;
    store::set_password(tx, user.id, &password.hash_async().await).await?;
    let actor = vextrus_audit::Actor::new(vextrus_audit::ActorKind::User, Some(user.id), Some(user.username.clone()));
    let event = vextrus_audit::NewEvent::new(vextrus_db::TenantId::PLATFORM, actor, "authn_password_reset")
        .target(vextrus_audit::Target::new("user", user.id))
        .metadata(serde_json::json!({"sessions_revoked": true}));
    vextrus_audit::record(tx, event).await?;
    crate::throttle::forget(tx, &[&user.email, &user.username]).await?;
    tracing::info!(user = %user.id, "password reset; sessions revoked");
    Ok(())
}

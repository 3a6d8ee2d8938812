//! Second factors: TOTP enrolment (the secret sealed under the master key), recovery codes
//! (ten, single use, shown once), and organizations' policies that require a second factor
//! for members holding certain roles (typically owners and admins).

use chrono::Utc;
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;
use vextrus_db::{SystemTx, TenantId, Tx};

use crate::IdentityError;
use crate::keys::MasterKey;
use crate::service::sha256;
use crate::store::mfa as store;
use crate::totp;

const RECOVERY_CODES: usize = 10;

fn seal_context(user: Uuid) -> String {
    format!("identity.mfa_totp:{user}")
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Enrolment {
    /// The shared secret in base32, for typing into an authenticator app.
    pub secret: String,
    /// The same as an `otpauth://` URI, for a QR code.
    pub otpauth_uri: String,
}

/// Starts TOTP enrolment; confirm it with a code from the app. Restarting an unconfirmed
/// enrolment replaces its secret; a confirmed one must be disabled first.
pub async fn enroll(
    tx: &mut SystemTx,
    master: &MasterKey,
    user: Uuid,
    account: &str,
) -> Result<Enrolment, IdentityError> {
    let secret = totp::generate_secret();
    if !store::put_unconfirmed(tx, user, &master.seal(&seal_context(user), &secret)).await? {
        return Err(IdentityError::MfaAlreadyEnabled);
    }
    let encoded = totp::base32(&secret);
    Ok(Enrolment { otpauth_uri: totp::otpauth_uri("Vextrus", account, &encoded), secret: encoded })
}

/// Confirms enrolment with a current code; answers the recovery codes (shown only now).
pub async fn confirm(
    tx: &mut SystemTx,
    master: &MasterKey,
    user: Uuid,
    code: &str,
) -> Result<Vec<String>, IdentityError> {
    let row = store::totp_of(tx, user).await?.ok_or(IdentityError::MfaNotEnrolled)?;
    if row.confirmed_at.is_some() {
        return Err(IdentityError::MfaAlreadyEnabled);
    }
    let secret = open(master, user, &row.secret)?;
    let step = totp::verify(&secret, code, Utc::now().timestamp(), row.last_step).ok_or(IdentityError::InvalidCode)?;
    if !store::use_step(tx, user, step).await? {
        return Err(IdentityError::InvalidCode);
    }
    crate::standing::announce_user(tx, user).await?;
    new_recovery_codes(tx, user).await
}

/// Replaces the recovery codes (after proving a second factor).
pub async fn new_recovery_codes(tx: &mut SystemTx, user: Uuid) -> Result<Vec<String>, IdentityError> {
    let codes: Vec<String> = (0..RECOVERY_CODES).map(|_| recovery_code()).collect();
    let hashes: Vec<Vec<u8>> = codes.iter().map(|c| sha256(&normalise(c))).collect();
    store::replace_recovery_codes(tx, user, &hashes).await?;
    Ok(codes)
}

/// `xxxxx-xxxxx` from an unambiguous 31-letter alphabet (no 0/O, 1/I/L): about 49 bits.
fn recovery_code() -> String {
    const ALPHABET: &[u8; 31] = b"abcdefghjkmnpqrstuvwxyz23456789";
    let mut chars = String::with_capacity(11);
    while chars.len() < 10 {
        let mut byte = [0u8; 1];
        getrandom::fill(&mut byte).expect("the OS provides randomness");
        // Rejection sampling keeps every letter equally likely (248 = 8 × 31).
        if byte[0] < 248 {
            chars.push(ALPHABET[usize::from(byte[0] % 31)] as char);
        }
    }
    chars.insert(5, '-');
    chars
}

fn normalise(code: &str) -> String {
    code.trim().to_lowercase().replace([' ', '-'], "")
}

fn open(master: &MasterKey, user: Uuid, sealed: &[u8]) -> Result<Vec<u8>, IdentityError> {
    master.open(&seal_context(user), sealed).map_err(|e| IdentityError::Sealed(e.to_string()))
}

/// Checks a second factor: a current TOTP code, or an unused recovery code (which is then
/// spent). False when the user has no confirmed TOTP or the code does not match.
pub async fn check_second_factor(
    tx: &mut SystemTx,
    master: &MasterKey,
    user: Uuid,
    presented: &str,
) -> Result<bool, IdentityError> {
    let Some(row) = store::totp_of(tx, user).await?.filter(|r| r.confirmed_at.is_some()) else {
        return Ok(false);
    };
    let secret = open(master, user, &row.secret)?;
    if let Some(step) = totp::verify(&secret, presented, Utc::now().timestamp(), row.last_step) {
        return Ok(store::use_step(tx, user, step).await?);
    }
    let code = normalise(presented);
    if code.len() == 10 {
        return Ok(store::use_recovery_code(tx, user, &sha256(&code)).await?);
    }
    Ok(false)
}

/// Turns TOTP off (and deletes the recovery codes), after proving a second factor.
pub async fn disable(tx: &mut SystemTx, master: &MasterKey, user: Uuid, code: &str) -> Result<(), IdentityError> {
    if !check_second_factor(tx, master, user, code).await? {
        return Err(IdentityError::InvalidCode);
    }
    store::delete_all(tx, user).await?;
    crate::standing::announce_user(tx, user).await?;
    Ok(())
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MfaStatus {
    /// TOTP is confirmed and required at sign-in.
    pub totp: bool,
    /// An enrolment was started but not confirmed.
    pub totp_pending: bool,
    pub recovery_codes_left: i64,
}

pub async fn status(tx: &mut SystemTx, user: Uuid) -> Result<MfaStatus, IdentityError> {
    let row = store::totp_of(tx, user).await?;
    Ok(MfaStatus {
        totp: row.as_ref().is_some_and(|r| r.confirmed_at.is_some()),
        totp_pending: row.as_ref().is_some_and(|r| r.confirmed_at.is_none()),
        recovery_codes_left: store::recovery_codes_left(tx, user).await?,
    })
}

pub async fn is_enrolled(tx: &mut SystemTx, user: Uuid) -> Result<bool, IdentityError> {
    Ok(store::is_enrolled(tx, user).await?)
}

/// Whether the organization's policy requires a second factor of someone holding `roles`.
pub async fn required_by_policy(tx: &mut impl Tx, tenant: TenantId, roles: &[String]) -> Result<bool, IdentityError> {
    let required = store::policy_of(tx, tenant).await?;
    Ok(roles.iter().any(|r| required.contains(r)))
}

pub async fn policy(tx: &mut impl Tx, tenant: TenantId) -> Result<Vec<String>, IdentityError> {
    Ok(store::policy_of(tx, tenant).await?)
}

pub async fn set_policy(tx: &mut impl Tx, tenant: TenantId, roles: &[String]) -> Result<(), IdentityError> {
    store::set_policy(tx, tenant, roles).await?;
    // Members it now holds to a second factor hold no role until they enrol, at once.
    crate::standing::announce_policy(tx, tenant).await?;
    Ok(())
}

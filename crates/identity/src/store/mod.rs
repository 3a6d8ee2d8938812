//! SQL for users, memberships, verification tokens and the dev mailbox (system path: sign-up
//! and verification happen before any tenant is chosen).

pub(crate) mod api_keys;
pub(crate) mod invitations;
pub(crate) mod members;
pub(crate) mod mfa;
pub(crate) mod password_resets;
pub(crate) mod service_accounts;
pub(crate) mod signups;
pub(crate) mod throttle;

use chrono::{DateTime, Utc};
use uuid::Uuid;
use vextrus_db::{DbError, SystemTx, TenantId, Tx};

use crate::model::{DisplayName, EmailAddress, PhoneNumberBd, Username};

#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize, utoipa::ToSchema)]
pub struct User {
    pub id: Uuid,
    pub email: String,
    pub username: String,
    pub phone: Option<String>,
    pub display_name: String,
    pub locale: String,
    pub status: String,
    pub email_verified_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

macro_rules! user_columns {
    () => {
        "id, email, username, phone, display_name, locale, status, email_verified_at, created_at"
    };
}

pub(crate) struct NewUserRow<'a> {
    pub email: &'a EmailAddress,
    pub username: &'a Username,
    pub phone: Option<&'a PhoneNumberBd>,
    pub display_name: &'a DisplayName,
    pub locale: &'a str,
    pub password_hash: &'a str,
}

pub(crate) async fn insert_user(tx: &mut SystemTx, user: NewUserRow<'_>) -> Result<User, DbError> {
    sqlx::query_as(concat!(
        "INSERT INTO identity.users (id, email, username, phone, display_name, locale, password_hash)
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING ",
        user_columns!()
    ))
    .bind(Uuid::now_v7())
    .bind(user.email.as_str())
    .bind(user.username.as_str())
    .bind(user.phone.map(PhoneNumberBd::as_str))
    .bind(user.display_name.as_str())
    .bind(user.locale)
    .bind(user.password_hash)
    .fetch_one(tx.conn())
    .await
    .map_err(Into::into)
}

/// Makes the user a member; false if they already were.
pub(crate) async fn insert_membership(tx: &mut impl Tx, tenant: TenantId, user: Uuid) -> Result<bool, DbError> {
    let inserted =
        sqlx::query("INSERT INTO identity.memberships (tenant_id, user_id) VALUES ($1, $2) ON CONFLICT DO NOTHING")
            .bind(tenant)
            .bind(user)
            .execute(tx.conn())
            .await?;
    Ok(inserted.rows_affected() == 1)
}

pub(crate) async fn insert_verification(
    tx: &mut SystemTx,
    token_hash: &[u8],
    user: Uuid,
    email: &EmailAddress,
    expires_at: DateTime<Utc>,
) -> Result<(), DbError> {
    sqlx::query(
        "INSERT INTO identity.email_verifications (token_hash, user_id, email, expires_at) VALUES ($1, $2, $3, $4)",
    )
    .bind(token_hash)
    .bind(user)
    .bind(email.as_str())
    .bind(expires_at)
    .execute(tx.conn())
    .await?;
    Ok(())
}

/// Whether any of `users` has verified their email address.
pub(crate) async fn any_verified(tx: &mut impl Tx, users: &[Uuid]) -> Result<bool, DbError> {
    Ok(sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM identity.users WHERE id = ANY($1) AND email_verified_at IS NOT NULL)",
    )
    .bind(users)
    .fetch_one(tx.conn())
    .await?)
}

pub(crate) async fn mark_email_verified(tx: &mut SystemTx, user: Uuid) -> Result<(), DbError> {
    sqlx::query("UPDATE identity.users SET email_verified_at = COALESCE(email_verified_at, now()) WHERE id = $1")
        .bind(user)
        .execute(tx.conn())
        .await?;
    Ok(())
}

/// Uses the token (once) and marks the address verified if it is still the user's address.
/// A user's stored password hash (none for accounts without a password).
pub(crate) async fn password_hash_of(tx: &mut SystemTx, user: Uuid) -> Result<Option<String>, DbError> {
    Ok(sqlx::query_scalar("SELECT password_hash FROM identity.users WHERE id = $1")
        .bind(user)
        .fetch_optional(tx.conn())
        .await?
        .flatten())
}

pub(crate) async fn consume_verification(tx: &mut SystemTx, token_hash: &[u8]) -> Result<Option<Uuid>, DbError> {
    let user: Option<Uuid> = sqlx::query_scalar(
        "UPDATE identity.email_verifications SET used_at = now()
          WHERE token_hash = $1 AND used_at IS NULL AND expires_at > now()
          RETURNING user_id",
    )
    .bind(token_hash)
    .fetch_optional(tx.conn())
    .await?;
    if let Some(user) = user {
        sqlx::query(
            "UPDATE identity.users u SET email_verified_at = COALESCE(u.email_verified_at, now()), updated_at = now()
               FROM identity.email_verifications v
              WHERE v.token_hash = $1 AND u.id = v.user_id AND u.email = v.email",
        )
        .bind(token_hash)
        .execute(tx.conn())
        .await?;
        return Ok(Some(user));
    }
    Ok(None)
}

/// Members' addresses and language, for notify (inside the organization's transaction, so only
/// its members are found).
pub(crate) async fn contacts(
    tx: &mut vextrus_db::TenantTx,
    ids: &[Uuid],
) -> Result<Vec<(Uuid, String, Option<String>, String, Option<DateTime<Utc>>)>, DbError> {
    sqlx::query_as(
        "SELECT id, email, phone, locale, email_verified_at FROM identity.users WHERE id = ANY($1) AND status = 'active'",
    )
    .bind(ids)
    .fetch_all(tx.conn())
    .await
    .map_err(Into::into)
}

/// What sign-in needs to know about a user: never leaves the crate.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct Credentials {
    pub id: Uuid,
    pub username: String,
    pub status: String,
    pub password_hash: Option<String>,
    pub platform_role: Option<String>,
}

/// By email (when `login` contains `@`) or username; both are stored lower-case.
pub(crate) async fn credentials(tx: &mut SystemTx, login: &str) -> Result<Option<Credentials>, DbError> {
    let login = login.trim().to_lowercase();
    let column_is_email = login.contains('@');
    sqlx::query_as(
        "SELECT id, username, status, password_hash, platform_role FROM identity.users
          WHERE CASE WHEN $2 THEN email = $1 ELSE username = $1 END",
    )
    .bind(login)
    .bind(column_is_email)
    .fetch_optional(tx.conn())
    .await
    .map_err(Into::into)
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub(crate) struct MembershipRow {
    pub tenant_id: TenantId,
}

/// The user's memberships, most recently used first (then newest).
pub(crate) async fn memberships_of(tx: &mut SystemTx, user: Uuid) -> Result<Vec<MembershipRow>, DbError> {
    sqlx::query_as(
        "SELECT tenant_id FROM identity.memberships WHERE user_id = $1
          ORDER BY last_used_at DESC NULLS LAST, created_at DESC",
    )
    .bind(user)
    .fetch_all(tx.conn())
    .await
    .map_err(Into::into)
}

pub(crate) async fn touch_membership(tx: &mut SystemTx, tenant: TenantId, user: Uuid) -> Result<(), DbError> {
    sqlx::query("UPDATE identity.memberships SET last_used_at = now() WHERE tenant_id = $1 AND user_id = $2")
        .bind(tenant)
        .bind(user)
        .execute(tx.conn())
        .await?;
    Ok(())
}

pub(crate) async fn insert_session(
    tx: &mut SystemTx,
    user: Uuid,
    org: TenantId,
    expires_at: DateTime<Utc>,
    user_agent: Option<&str>,
) -> Result<Uuid, DbError> {
    let id = Uuid::now_v7();
    sqlx::query(
        "INSERT INTO identity.sessions (id, user_id, active_org, expires_at, user_agent) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(id)
    .bind(user)
    .bind(org)
    .bind(expires_at)
    .bind(user_agent)
    .execute(tx.conn())
    .await?;
    Ok(id)
}

pub(crate) async fn insert_refresh_token(tx: &mut SystemTx, token_hash: &[u8], session: Uuid) -> Result<(), DbError> {
    sqlx::query("INSERT INTO identity.refresh_tokens (token_hash, session_id) VALUES ($1, $2)")
        .bind(token_hash)
        .bind(session)
        .execute(tx.conn())
        .await?;
    Ok(())
}

/// A presented refresh token with its session, locked for the rotation.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct PresentedRefresh {
    pub session_id: Uuid,
    pub user_id: Uuid,
    pub username: String,
    pub user_status: String,
    pub platform_role: Option<String>,
    pub active_org: TenantId,
    pub used: bool,
    pub session_live: bool,
}

pub(crate) async fn presented_refresh(
    tx: &mut SystemTx,
    token_hash: &[u8],
) -> Result<Option<PresentedRefresh>, DbError> {
    sqlx::query_as(
        "SELECT s.id AS session_id, s.user_id, u.username, u.status AS user_status, u.platform_role, s.active_org,
                r.used_at IS NOT NULL AS used,
                s.revoked_at IS NULL AND s.expires_at > now() AS session_live
           FROM identity.refresh_tokens r
           JOIN identity.sessions s ON s.id = r.session_id
           JOIN identity.users u ON u.id = s.user_id
          WHERE r.token_hash = $1
            FOR UPDATE OF r, s",
    )
    .bind(token_hash)
    .fetch_optional(tx.conn())
    .await
    .map_err(Into::into)
}

pub(crate) async fn mark_refresh_used(tx: &mut SystemTx, token_hash: &[u8]) -> Result<(), DbError> {
    sqlx::query("UPDATE identity.refresh_tokens SET used_at = now() WHERE token_hash = $1")
        .bind(token_hash)
        .execute(tx.conn())
        .await?;
    Ok(())
}

pub(crate) async fn revoke_session(tx: &mut SystemTx, session: Uuid, reason: &str) -> Result<(), DbError> {
    sqlx::query("UPDATE identity.sessions SET revoked_at = COALESCE(revoked_at, now()), revoked_reason = COALESCE(revoked_reason, $2) WHERE id = $1")
        .bind(session)
        .bind(reason)
        .execute(tx.conn())
        .await?;
    Ok(())
}

pub(crate) async fn continue_session(tx: &mut SystemTx, session: Uuid, org: TenantId) -> Result<(), DbError> {
    sqlx::query("UPDATE identity.sessions SET active_org = $2, last_used_at = now() WHERE id = $1")
        .bind(session)
        .bind(org)
        .execute(tx.conn())
        .await?;
    Ok(())
}

pub(crate) async fn user(tx: &mut SystemTx, id: Uuid) -> Result<Option<User>, DbError> {
    sqlx::query_as(concat!("SELECT ", user_columns!(), " FROM identity.users WHERE id = $1"))
        .bind(id)
        .fetch_optional(tx.conn())
        .await
        .map_err(Into::into)
}

#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize, utoipa::ToSchema)]
pub struct Session {
    pub id: Uuid,
    #[schema(value_type = Uuid)]
    pub active_org: TenantId,
    pub created_at: DateTime<Utc>,
    pub last_used_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub user_agent: Option<String>,
}

/// The user's live sessions, most recently used first.
pub(crate) async fn sessions_of(tx: &mut SystemTx, user: Uuid) -> Result<Vec<Session>, DbError> {
    sqlx::query_as(
        "SELECT id, active_org, created_at, last_used_at, expires_at, user_agent FROM identity.sessions
          WHERE user_id = $1 AND revoked_at IS NULL AND expires_at > now() ORDER BY last_used_at DESC",
    )
    .bind(user)
    .fetch_all(tx.conn())
    .await
    .map_err(Into::into)
}

/// Revokes one of the user's own live sessions; false when there is no such session of theirs.
pub(crate) async fn revoke_own_session(tx: &mut SystemTx, user: Uuid, session: Uuid) -> Result<bool, DbError> {
    let done = sqlx::query(
        "UPDATE identity.sessions SET revoked_at = now(), revoked_reason = 'signed_out'
          WHERE id = $1 AND user_id = $2 AND revoked_at IS NULL",
    )
    .bind(session)
    .bind(user)
    .execute(tx.conn())
    .await?;
    Ok(done.rows_affected() == 1)
}

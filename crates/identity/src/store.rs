//! SQL for users, memberships, verification tokens and the dev mailbox (system path: sign-up
//! and verification happen before any tenant is chosen).

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

pub(crate) async fn insert_membership(
    tx: &mut SystemTx,
    tenant: TenantId,
    user: Uuid,
    roles: &[&str],
) -> Result<(), DbError> {
    sqlx::query("INSERT INTO identity.memberships (tenant_id, user_id, roles) VALUES ($1, $2, $3)")
        .bind(tenant)
        .bind(user)
        .bind(roles)
        .execute(tx.conn())
        .await?;
    Ok(())
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

/// Uses the token (once) and marks the address verified if it is still the user's address.
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

#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize, utoipa::ToSchema)]
pub struct MailMessage {
    pub id: Uuid,
    pub recipient: String,
    pub subject: String,
    pub body: String,
    pub created_at: DateTime<Utc>,
}

/// `id` is the delivering job's id, so a retried delivery cannot add the message twice.
pub(crate) async fn deliver_to_dev_mailbox(
    tx: &mut SystemTx,
    id: Uuid,
    to: &str,
    subject: &str,
    body: &str,
) -> Result<(), DbError> {
    sqlx::query("INSERT INTO identity.dev_mailbox (id, recipient, subject, body) VALUES ($1, $2, $3, $4) ON CONFLICT (id) DO NOTHING")
        .bind(id)
        .bind(to)
        .bind(subject)
        .bind(body)
        .execute(tx.conn())
        .await?;
    Ok(())
}

pub(crate) async fn dev_mailbox(tx: &mut SystemTx, recipient: Option<&str>) -> Result<Vec<MailMessage>, DbError> {
    sqlx::query_as(
        "SELECT id, recipient, subject, body, created_at FROM identity.dev_mailbox
          WHERE $1::text IS NULL OR recipient = $1 ORDER BY id DESC LIMIT 100",
    )
    .bind(recipient)
    .fetch_all(tx.conn())
    .await
    .map_err(Into::into)
}

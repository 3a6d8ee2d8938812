//! Sign-ups waiting for their address to be proved.

use chrono::{DateTime, Utc};
use vextrus_db::{DbError, SystemTx, Tx};

pub(crate) struct NewPending<'a> {
    pub token_hash: &'a [u8],
    pub email: &'a str,
    pub org_slug: &'a str,
    pub org_name: &'a str,
    pub username: &'a str,
    pub display_name: &'a str,
    pub phone: Option<&'a str>,
    pub password_hash: &'a str,
    pub locale: &'a str,
    pub expires_at: DateTime<Utc>,
}

#[derive(Debug, sqlx::FromRow)]
pub(crate) struct Pending {
    pub email: String,
    pub org_slug: String,
    pub org_name: String,
    pub username: String,
    pub display_name: String,
    pub phone: Option<String>,
    pub password_hash: String,
    pub locale: String,
}

/// Keeps a sign-up until its code is used; expired ones go now (their number stays bounded by
/// the sign-ups one address may make an hour).
pub(crate) async fn insert(tx: &mut SystemTx, new: NewPending<'_>) -> Result<(), DbError> {
    sqlx::query("DELETE FROM identity.pending_signups WHERE expires_at <= now()").execute(tx.conn()).await?;
    sqlx::query(
        "INSERT INTO identity.pending_signups
             (token_hash, email, org_slug, org_name, username, display_name, phone, password_hash, expires_at, locale)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(new.token_hash)
    .bind(new.email)
    .bind(new.org_slug)
    .bind(new.org_name)
    .bind(new.username)
    .bind(new.display_name)
    .bind(new.phone)
    .bind(new.password_hash)
    .bind(new.expires_at)
    .bind(new.locale)
    .execute(tx.conn())
    .await?;
    Ok(())
}

/// Takes the sign-up a live code names (it is gone unless the transaction rolls back).
pub(crate) async fn take(tx: &mut SystemTx, token_hash: &[u8]) -> Result<Option<Pending>, DbError> {
    Ok(sqlx::query_as(
        "DELETE FROM identity.pending_signups WHERE token_hash = $1 AND expires_at > now()
         RETURNING email, org_slug, org_name, username, display_name, phone, password_hash, locale",
    )
    .bind(token_hash)
    .fetch_optional(tx.conn())
    .await?)
}

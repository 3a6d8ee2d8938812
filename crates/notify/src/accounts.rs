//! An organization's own SMS account (`/v1/notifications/sms-account`): its credentials at one of
//! the providers the platform is configured for, sealed under the master key and never shown
//! again. Its SMS then go through that account only (its balance, its sender id); the cost is
//! still estimated and budgeted at the platform's rate for the provider. Removing it sends
//! through the platform's providers again.

use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use vextrus_access::Permitted;
use vextrus_audit::{NewEvent, Target};
use vextrus_db::{Database, DbError, Tx};
use vextrus_server::{ApiError, AppState, Json, Problem};

use crate::permissions::SettingsManage;
use crate::providers::Breaker;
use crate::providers::alpha::Alpha;
use crate::providers::ssl_wireless::SslWireless;
use crate::{Notify, SmsProvider, SmsRoute};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(get_account, put_account, delete_account))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewSmsAccount {
    /// `alpha` or `ssl_wireless` (one the platform is configured for).
    pub provider: String,
    /// Alpha SMS's API key.
    pub api_key: Option<String>,
    /// SSL Wireless's API token.
    pub api_token: Option<String>,
    /// SSL Wireless's SID.
    pub sid: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SmsAccount {
    pub provider: String,
    pub sid: Option<String>,
    pub updated_at: DateTime<Utc>,
}

fn secret_ok(text: &str) -> bool {
    !text.is_empty() && text.len() <= 200 && text.bytes().all(|b| b.is_ascii_graphic())
}

/// The organization's own SMS account (never its credentials).
#[utoipa::path(get, path = "/v1/notifications/sms-account", tag = "notify", security(("bearer" = [])),
    responses(
        (status = 200, body = SmsAccount),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`permission_denied`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`sms_account_not_found`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn get_account(
    permitted: Permitted<SettingsManage>,
    State(db): State<Database>,
) -> Result<axum::Json<SmsAccount>, ApiError> {
    let tenant = permitted.tenant()?;
    let mut tx = db.tenant(tenant).await?;
    let row: Option<(String, Option<String>, DateTime<Utc>)> =
        sqlx::query_as("SELECT provider, sid, updated_at FROM notify.sms_accounts")
            .fetch_optional(tx.conn())
            .await
            .map_err(DbError::from)?;
    tx.commit().await?;
    let (provider, sid, updated_at) = row.ok_or_else(not_found)?;
    Ok(axum::Json(SmsAccount { provider, sid, updated_at }))
}

fn not_found() -> ApiError {
    ApiError::not_found("sms_account_not_found", "The organization sends through the platform's SMS providers.")
}

/// Bring the organization's own SMS account (replacing any): its SMS go through it from now on.
#[utoipa::path(put, path = "/v1/notifications/sms-account", tag = "notify", security(("bearer" = [])),
    request_body = NewSmsAccount,
    responses(
        (status = 200, body = SmsAccount),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`permission_denied`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`invalid_field`", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "`vault_unavailable`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn put_account(
    permitted: Permitted<SettingsManage>,
    State(db): State<Database>,
    State(notify): State<Notify>,
    Json(body): Json<NewSmsAccount>,
) -> Result<axum::Json<SmsAccount>, ApiError> {
    let tenant = permitted.tenant()?;
    let vault = notify.inner().vault.as_ref().ok_or_else(|| {
        ApiError::unavailable("vault_unavailable", "This instance cannot seal credentials (no master key).")
    })?;
    if !notify.sms_providers().contains(&body.provider.as_str()) {
        let offered = notify.sms_providers().join(", ");
        return Err(ApiError::invalid_field("provider", format!("one this platform sends through: {offered}")));
    }
    let (secret, sid) = match body.provider.as_str() {
        crate::providers::alpha::NAME => {
            let key = body.api_key.filter(|k| secret_ok(k)).ok_or_else(|| {
                ApiError::invalid_field("api_key", "Alpha SMS's API key (printable, at most 200 characters)")
            })?;
            (key, None)
        }
        _ => {
            let token = body.api_token.filter(|k| secret_ok(k)).ok_or_else(|| {
                ApiError::invalid_field("api_token", "SSL Wireless's API token (printable, at most 200 characters)")
            })?;
            let sid = body
                .sid
                .filter(|s| !s.is_empty() && s.len() <= 20 && s.bytes().all(|b| b.is_ascii_alphanumeric()))
                .ok_or_else(|| ApiError::invalid_field("sid", "SSL Wireless's SID (1 to 20 letters and digits)"))?;
            (token, Some(sid))
        }
    };
    let sealed = vault.seal(secret.as_bytes());
    let mut tx = db.tenant(tenant).await?;
    let (updated_at,): (DateTime<Utc>,) = sqlx::query_as(
        "INSERT INTO notify.sms_accounts (tenant_id, provider, credentials_sealed, sid) VALUES ($1, $2, $3, $4)
         ON CONFLICT (tenant_id) DO UPDATE SET provider = EXCLUDED.provider,
             credentials_sealed = EXCLUDED.credentials_sealed, sid = EXCLUDED.sid, updated_at = now()
         RETURNING updated_at",
    )
    .bind(tenant)
    .bind(&body.provider)
    .bind(&sealed)
    .bind(&sid)
    .fetch_one(tx.conn())
    .await
    .map_err(DbError::from)?;
    let event = NewEvent::new(tenant, permitted.subject().into(), "notify.sms_account.update")
        .target(Target::new("sms_provider", body.provider.as_str()))
        .metadata(json!({"provider": body.provider, "sid": sid}));
    vextrus_audit::record(&mut tx, event).await?;
    tx.commit().await?;
    Ok(axum::Json(SmsAccount { provider: body.provider, sid, updated_at }))
}

/// Send through the platform's SMS providers again.
#[utoipa::path(delete, path = "/v1/notifications/sms-account", tag = "notify", security(("bearer" = [])),
    responses(
        (status = 204, description = "Removed"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`permission_denied`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`sms_account_not_found`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn delete_account(
    permitted: Permitted<SettingsManage>,
    State(db): State<Database>,
) -> Result<StatusCode, ApiError> {
    let tenant = permitted.tenant()?;
    let mut tx = db.tenant(tenant).await?;
    let provider: Option<String> = sqlx::query_scalar("DELETE FROM notify.sms_accounts RETURNING provider")
        .fetch_optional(tx.conn())
        .await
        .map_err(DbError::from)?;
    let provider = provider.ok_or_else(not_found)?;
    let event = NewEvent::new(tenant, permitted.subject().into(), "notify.sms_account.delete")
        .target(Target::new("sms_provider", provider.as_str()));
    vextrus_audit::record(&mut tx, event).await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

/// An organization's own account, as the delivery job reads it with the message.
#[derive(Debug, Clone)]
pub(crate) struct OwnAccount {
    pub provider: String,
    pub sealed: Vec<u8>,
    pub sid: Option<String>,
}

/// The one route an organization's own account is: the platform's provider of that name with
/// the organization's credentials (no failover: its balance is its own).
pub(crate) fn route(notify: &Notify, own: &OwnAccount) -> Result<SmsRoute, String> {
    let inner = notify.inner();
    let vault = inner.vault.as_ref().ok_or("this instance cannot open sealed credentials")?;
    let secret = vault.open(&own.sealed).ok_or("the organization's SMS credentials cannot be opened")?;
    let secret = SecretString::from(String::from_utf8(secret).map_err(|_| "sealed credentials are not text")?);
    let platform = inner
        .sms
        .iter()
        .find(|r| r.provider.name() == own.provider)
        .ok_or_else(|| format!("{} is no longer one of this platform's SMS providers", own.provider))?;
    let provider = match &platform.provider {
        SmsProvider::Alpha(a) => SmsProvider::Alpha(Alpha {
            base_url: a.base_url.clone(),
            api_key: secret,
            sender_id: None,
            client: a.client.clone(),
        }),
        SmsProvider::SslWireless(s) => SmsProvider::SslWireless(SslWireless {
            base_url: s.base_url.clone(),
            api_token: secret,
            sid: own.sid.clone().unwrap_or_else(|| s.sid.clone()),
            client: s.client.clone(),
        }),
    };
    Ok(SmsRoute {
        provider,
        rate: platform.rate,
        breaker: Breaker::new(u32::MAX, std::time::Duration::ZERO),
        limit: None,
    })
}

//! Platform operators: users holding the `platform_admin` role, who sign in to the platform
//! scope (`org=platform`) with their password and a second factor, which is mandatory for them.
//! Granted and revoked from the command line (`vextrus admin operator`), never over the API.

use serde_json::json;
use uuid::Uuid;
use vextrus_audit::{Actor, NewEvent, Target};
use vextrus_db::{DbError, SystemTx, TenantId, Tx};

#[derive(Debug, sqlx::FromRow)]
pub struct Operator {
    pub id: Uuid,
    pub username: String,
    pub email: String,
    pub totp: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum OperatorError {
    #[error("no user {0:?}")]
    NoSuchUser(String),
    #[error(transparent)]
    Db(#[from] DbError),
}

/// Grants or revokes the platform role of the user with this username or email, recorded in the
/// platform's audit chain. Revoking also ends their platform sessions.
pub async fn set_platform_role(
    tx: &mut SystemTx,
    login: &str,
    operator: bool,
    actor: Actor,
) -> Result<Operator, OperatorError> {
    let login = login.trim().to_lowercase();
    let before: Option<Option<String>> = sqlx::query_scalar(
        "SELECT platform_role FROM identity.users
          WHERE CASE WHEN position('@' in $1) > 0 THEN email = $1 ELSE username = $1 END FOR UPDATE",
    )
    .bind(&login)
    .fetch_optional(tx.conn())
    .await
    .map_err(DbError::from)?;
    let Some(before) = before else {
        return Err(OperatorError::NoSuchUser(login));
    };
    let user: Operator = sqlx::query_as(
        "UPDATE identity.users SET platform_role = CASE WHEN $2 THEN 'platform_admin' END, updated_at = now()
          WHERE CASE WHEN position('@' in $1) > 0 THEN email = $1 ELSE username = $1 END
          RETURNING id, username, email,
                    EXISTS (SELECT 1 FROM identity.mfa_totp t WHERE t.user_id = users.id AND t.confirmed_at IS NOT NULL) AS totp",
    )
    .bind(&login)
    .bind(operator)
    .fetch_one(tx.conn())
    .await
    .map_err(DbError::from)?;
    if !operator {
        sqlx::query(
            "UPDATE identity.sessions SET revoked_at = now(), revoked_reason = 'operator_revoked'
              WHERE user_id = $1 AND active_org = '00000000-0000-0000-0000-000000000000' AND revoked_at IS NULL",
        )
        .bind(user.id)
        .execute(tx.conn())
        .await
        .map_err(DbError::from)?;
    }
    let after = operator.then_some("platform_admin");
    let action = if operator { "identity.platform_operator.grant" } else { "identity.platform_operator.revoke" };
    let event = NewEvent::new(TenantId::PLATFORM, actor, action)
        .target(Target::new("user", user.id))
        .changes(vextrus_audit::changes(&json!({"platform_role": before}), &json!({"platform_role": after}), &[]))
        .metadata(json!({"username": user.username}));
    vextrus_audit::record(tx, event).await?;
    Ok(user)
}

pub async fn list(tx: &mut SystemTx) -> Result<Vec<Operator>, DbError> {
    Ok(sqlx::query_as(
        "SELECT id, username, email,
                EXISTS (SELECT 1 FROM identity.mfa_totp t WHERE t.user_id = u.id AND t.confirmed_at IS NOT NULL) AS totp
           FROM identity.users u WHERE platform_role IS NOT NULL ORDER BY username",
    )
    .fetch_all(tx.conn())
    .await?)
}

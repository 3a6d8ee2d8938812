use axum::extract::State;
use serde::Deserialize;
use utoipa::IntoParams;
use vextrus_access::Permitted;
use vextrus_db::Database;
use vextrus_server::{ApiError, Problem, Query};

use crate::IdentityConfig;
use crate::permissions::DevMailboxRead;
use crate::service;
use crate::store::MailMessage;

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct MailboxParams {
    /// Only messages to this address.
    pub to: Option<String>,
}

/// The dev mailbox: mail the platform sent, newest first (embedded/dev mode only).
#[utoipa::path(get, path = "/v1/dev/mailbox", tag = "identity", security(("platform_operator" = [])),
    params(MailboxParams),
    responses(
        (status = 200, body = Vec<MailMessage>),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`permission_denied`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`dev_mailbox_disabled`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn dev_mailbox(
    _: Permitted<DevMailboxRead>,
    State(config): State<IdentityConfig>,
    State(db): State<Database>,
    Query(params): Query<MailboxParams>,
) -> Result<axum::Json<Vec<MailMessage>>, ApiError> {
    if !config.dev_mailbox {
        return Err(ApiError::not_found("dev_mailbox_disabled", "The dev mailbox exists only in embedded/dev mode."));
    }
    let to = params.to.map(|t| t.trim().to_lowercase());
    let mut tx = db.system().await?;
    let messages = service::dev_mailbox(&mut tx, to.as_deref()).await?;
    tx.commit().await?;
    Ok(axum::Json(messages))
}

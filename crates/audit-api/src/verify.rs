use axum::extract::State;
use vextrus_access::Permitted;
use vextrus_audit::VerifyReport;
use vextrus_db::Database;
use vextrus_server::{ApiError, Problem};

use crate::EventsRead;

/// Recompute the organization's hash chain (platform operators: the platform's) from its first
/// kept event: `ok`, how many events were checked, and the first `seq` where it breaks (an
/// edited, deleted or reordered event).
#[utoipa::path(get, path = "/v1/audit/verify", tag = "audit", security(("bearer" = [])),
    responses(
        (status = 200, body = VerifyReport),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`permission_denied`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn verify_chain(
    permitted: Permitted<EventsRead>,
    State(db): State<Database>,
) -> Result<axum::Json<VerifyReport>, ApiError> {
    let tenant = crate::chain_of(&permitted);
    let mut tx = db.tenant(tenant).await?;
    let report = vextrus_audit::verify(&mut tx, tenant).await?;
    tx.commit().await?;
    Ok(axum::Json(report))
}

use axum::extract::State;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use vextrus_access::Permitted;
use vextrus_audit::{Event, Filter, Outcome};
use vextrus_db::Database;
use vextrus_server::{ApiError, Problem, Query, page_limit};

use crate::EventsRead;

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct EventParams {
    /// Only events by this actor (user or service account id).
    pub actor: Option<uuid::Uuid>,
    /// Only actions starting with this (`identity.` or `identity.invitation.create`).
    pub action: Option<String>,
    pub target_type: Option<String>,
    pub target_id: Option<String>,
    pub outcome: Option<Outcome>,
    /// From this time (inclusive), RFC 3339.
    pub from: Option<DateTime<Utc>>,
    /// Until this time (exclusive), RFC 3339.
    pub to: Option<DateTime<Utc>>,
    /// Page size, 1–500 (default 100).
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EventPage {
    /// Newest first.
    pub items: Vec<Event>,
    /// Pass as `cursor` for the next (older) page; absent on the last page.
    pub next_cursor: Option<i64>,
}

/// Search the organization's audit trail, newest first (platform operators: the platform's chain).
#[utoipa::path(get, path = "/v1/audit/events", tag = "audit", security(("bearer" = [])),
    params(EventParams),
    responses(
        (status = 200, body = EventPage),
        (status = 400, description = "`invalid_query`", body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`permission_denied`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn list_events(
    permitted: Permitted<EventsRead>,
    State(db): State<Database>,
    Query(params): Query<EventParams>,
) -> Result<axum::Json<EventPage>, ApiError> {
    let limit = page_limit(params.limit, 100, 500)?;
    let filter = Filter {
        actor_id: params.actor,
        action_prefix: params.action,
        target_type: params.target_type,
        target_id: params.target_id,
        outcome: params.outcome,
        from: params.from,
        to: params.to,
        before_seq: params.cursor,
    };
    let tenant = crate::chain_of(&permitted);
    let mut tx = db.tenant(tenant).await?;
    let mut items = vextrus_audit::search(&mut tx, tenant, &filter, limit + 1).await?;
    tx.commit().await?;
    let next_cursor = vextrus_db::next_page(&mut items, limit, |e| e.seq);
    Ok(axum::Json(EventPage { items, next_cursor }))
}

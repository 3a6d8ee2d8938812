//! `/v1/me`: the signed-in user, their organizations, and their sessions.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;
use vextrus_db::Database;
use vextrus_server::{ApiError, Problem};
use vextrus_tenancy::{OrgRef, Organization, service as tenancy};

use vextrus_access::Permitted;

use super::signed_in_user;
use crate::permissions::{SelfManage, SelfRead};
use crate::store::{self, Session, User};

#[derive(Debug, Serialize, ToSchema)]
pub struct MembershipView {
    pub organization: Organization,
    pub roles: Vec<String>,
    /// The organization of the token used for this request.
    pub active: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Me {
    pub user: User,
    pub memberships: Vec<MembershipView>,
}

/// The signed-in user and the organizations they belong to.
#[utoipa::path(get, path = "/v1/me", tag = "identity", security(("bearer" = [])),
    responses(
        (status = 200, body = Me),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`permission_denied`, `users_only`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn get_me(permitted: Permitted<SelfRead>, State(db): State<Database>) -> Result<axum::Json<Me>, ApiError> {
    let (me, active) = signed_in_user(permitted.subject())?;
    let mut tx = db.system().await?;
    let user =
        store::user(&mut tx, me).await?.ok_or_else(|| ApiError::unauthorized("The account no longer exists."))?;
    let mut memberships = Vec::new();
    for m in store::memberships_of(&mut tx, me).await? {
        let organization = tenancy::get(&mut tx, &OrgRef::Id(m.tenant_id)).await.map_err(ApiError::from)?;
        let roles = vextrus_access::service::roles_of(&mut tx, m.tenant_id, me).await?;
        memberships.push(MembershipView { active: m.tenant_id == active, organization, roles });
    }
    tx.commit().await?;
    Ok(axum::Json(Me { user, memberships }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SessionView {
    #[serde(flatten)]
    pub session: Session,
    /// The session of the token used for this request.
    pub current: bool,
}

/// The signed-in user's live sessions (refresh-token families), most recently used first.
#[utoipa::path(get, path = "/v1/me/sessions", tag = "identity", security(("bearer" = [])),
    responses(
        (status = 200, body = Vec<SessionView>),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`permission_denied`, `users_only`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn list_sessions(
    permitted: Permitted<SelfRead>,
    State(db): State<Database>,
) -> Result<axum::Json<Vec<SessionView>>, ApiError> {
    let (me, _) = signed_in_user(permitted.subject())?;
    let current = permitted.subject().session;
    let mut tx = db.system().await?;
    let sessions = store::sessions_of(&mut tx, me).await?;
    tx.commit().await?;
    Ok(axum::Json(sessions.into_iter().map(|s| SessionView { current: Some(s.id) == current, session: s }).collect()))
}

/// Sign a session out: its refresh token stops working. Access tokens already issued in it
/// stay valid until they expire (at most `auth.access_token_ttl_secs`).
#[utoipa::path(delete, path = "/v1/me/sessions/{id}", tag = "identity", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Session id")),
    responses(
        (status = 204, description = "Revoked"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`permission_denied`, `users_only`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`session_not_found` (also for another user's session)", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn revoke_session(
    permitted: Permitted<SelfManage>,
    State(db): State<Database>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let not_found = || ApiError::not_found("session_not_found", "No such session of yours.");
    let id = Uuid::parse_str(&id).map_err(|_| not_found())?;
    let (me, _) = signed_in_user(permitted.subject())?;
    let mut tx = db.system().await?;
    let revoked = store::revoke_own_session(&mut tx, me, id).await?;
    if revoked {
        let (_, tenant) = signed_in_user(permitted.subject())?;
        let event = vextrus_audit::NewEvent::new(tenant, permitted.subject().into(), "authn_session_revoke")
            .target(vextrus_audit::Target::new("session", id));
        vextrus_audit::record(&mut tx, event).await?;
    }
    tx.commit().await?;
    if revoked { Ok(StatusCode::NO_CONTENT) } else { Err(not_found()) }
}

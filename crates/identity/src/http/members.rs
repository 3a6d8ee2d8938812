//! `/v1/members`: the organization's members.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use vextrus_access::service::Actor;
use vextrus_access::{Permitted, RoleKey};
use vextrus_db::Database;
use vextrus_server::{ApiError, Json, Problem, Query, page_limit};

use super::path_id;
use crate::members::{self, Member};
use crate::permissions::{MembersManage, MembersRead};

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct MemberParams {
    /// Page size, 1–200 (default 50).
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<uuid::Uuid>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MemberPage {
    pub items: Vec<Member>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<uuid::Uuid>,
}

/// The organization's members and their roles.
#[utoipa::path(get, path = "/v1/members", tag = "members", security(("bearer" = [])),
    params(MemberParams),
    responses(
        (status = 200, body = MemberPage),
        (status = 400, description = "`invalid_query`", body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`permission_denied`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn list_members(
    permitted: Permitted<MembersRead>,
    State(db): State<Database>,
    Query(params): Query<MemberParams>,
) -> Result<axum::Json<MemberPage>, ApiError> {
    let limit = page_limit(params.limit, 50, 200)?;
    let mut tx = db.tenant(permitted.tenant()?).await?;
    let (items, next_cursor) = members::list(&mut tx, params.cursor, limit).await?;
    tx.commit().await?;
    Ok(axum::Json(MemberPage { items, next_cursor }))
}

/// One member.
#[utoipa::path(get, path = "/v1/members/{user}", tag = "members", security(("bearer" = [])),
    params(("user" = uuid::Uuid, Path, description = "The member's user id")),
    responses(
        (status = 200, body = Member),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`permission_denied`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`member_not_found`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn get_member(
    permitted: Permitted<MembersRead>,
    State(db): State<Database>,
    Path(user): Path<String>,
) -> Result<axum::Json<Member>, ApiError> {
    let user = path_id(&user, "member_not_found", "member")?;
    let mut tx = db.tenant(permitted.tenant()?).await?;
    let member = members::get(&mut tx, user).await?;
    tx.commit().await?;
    Ok(axum::Json(member))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetRoles {
    /// Built-in (`owner`, `admin`, `member`, `viewer`) or custom role keys; at least one.
    pub roles: Vec<String>,
}

/// Parses role keys, naming the bad one's position.
pub(super) fn role_keys(roles: &[String]) -> Result<Vec<RoleKey>, ApiError> {
    roles
        .iter()
        .enumerate()
        .map(|(i, r)| RoleKey::parse(r).map_err(|m| ApiError::invalid_field(format!("roles[{i}]"), m)))
        .collect()
}

/// Replace a member's roles. Only owners grant or take away `owner`; the last owner keeps it.
/// Takes effect in the member's next token.
#[utoipa::path(put, path = "/v1/members/{user}/roles", tag = "members", security(("bearer" = [])),
    params(("user" = uuid::Uuid, Path, description = "The member's user id")),
    request_body = SetRoles,
    responses(
        (status = 200, body = Member),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`permission_denied`, `owner_only`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`member_not_found`", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`last_owner`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`invalid_field`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn set_member_roles(
    permitted: Permitted<MembersManage>,
    State(db): State<Database>,
    State(access): State<vextrus_access::Access>,
    Path(user): Path<String>,
    Json(body): Json<SetRoles>,
) -> Result<axum::Json<Member>, ApiError> {
    let user = path_id(&user, "member_not_found", "member")?;
    let roles = role_keys(&body.roles)?;
    let mut tx = db.tenant(permitted.tenant()?).await?;
    let member = members::set_roles(&mut tx, Actor::Subject(permitted.subject(), &access), user, &roles).await?;
    tx.commit().await?;
    Ok(axum::Json(member))
}

/// Remove a member (their roles and API keys here go too). The last owner cannot be removed.
#[utoipa::path(delete, path = "/v1/members/{user}", tag = "members", security(("bearer" = [])),
    params(("user" = uuid::Uuid, Path, description = "The member's user id")),
    responses(
        (status = 204, description = "Removed"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`permission_denied`, `owner_only`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`member_not_found`", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`last_owner`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn remove_member(
    permitted: Permitted<MembersManage>,
    State(db): State<Database>,
    State(access): State<vextrus_access::Access>,
    State(auth): State<crate::Auth>,
    Path(user): Path<String>,
) -> Result<StatusCode, ApiError> {
    let user = path_id(&user, "member_not_found", "member")?;
    let mut tx = db.tenant(permitted.tenant()?).await?;
    let disabled = members::remove(&mut tx, Actor::Subject(permitted.subject(), &access), user).await?;
    tx.commit().await?;
    auth.api_keys.forget_owner(user);
    for account in disabled {
        auth.api_keys.forget_owner(account);
    }
    Ok(StatusCode::NO_CONTENT)
}

use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use utoipa::ToSchema;
use vextrus_db::Database;
use vextrus_server::{ApiError, Json, Problem, bounded_text};

use super::{field, role_key};
use crate::catalog::{RolesManage, RolesRead};
use crate::model::{PermissionKey, RoleKey};
use crate::service::{self, NewRole, Role, RoleChange};
use crate::{Access, Permitted};

#[derive(Debug, serde::Serialize, ToSchema)]
pub struct RoleList {
    /// Built-in roles first, then the organization's own.
    pub roles: Vec<Role>,
}

/// The organization's roles with their permissions.
#[utoipa::path(get, path = "/v1/roles", tag = "access", security(("bearer" = [])),
    responses(
        (status = 200, body = RoleList),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`permission_denied`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn list_roles(
    permitted: Permitted<RolesRead>,
    State(db): State<Database>,
    State(access): State<Access>,
) -> Result<axum::Json<RoleList>, ApiError> {
    let mut tx = db.tenant(permitted.tenant()?).await?;
    let roles = service::list_roles(&mut tx, &access).await?;
    tx.commit().await?;
    Ok(axum::Json(RoleList { roles }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateRole {
    /// `[a-z][a-z0-9_-]{1,39}`, not a built-in role's key; what assignments and tokens name.
    pub key: String,
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// Permission keys from the catalog (no `platform.*`).
    pub permissions: Vec<String>,
}

/// Create a custom role.
#[utoipa::path(post, path = "/v1/roles", tag = "access", security(("bearer" = [])),
    request_body = CreateRole,
    responses(
        (status = 201, body = Role),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`permission_denied`, `owner_only`, `permission_not_held`", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`role_exists`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`invalid_field`, `limit_reached`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn create_role(
    permitted: Permitted<RolesManage>,
    State(db): State<Database>,
    State(access): State<Access>,
    State(limits): State<vextrus_server::Limits>,
    Json(body): Json<CreateRole>,
) -> Result<(StatusCode, axum::Json<Role>), ApiError> {
    let new = NewRole {
        key: RoleKey::parse_custom(&body.key).map_err(field("key"))?,
        name: bounded_text(&body.name, 1, 100).map_err(field("name"))?,
        description: bounded_text(&body.description, 0, 500).map_err(field("description"))?,
        permissions: permission_keys(&body.permissions)?,
    };
    let tenant = permitted.tenant()?;
    let mut tx = db.tenant(tenant).await?;
    let grantor = service::Actor::Subject(permitted.subject(), &access);
    let role = service::create_role(&mut tx, &access, new, grantor, limits.roles_per_org).await?;
    tx.commit().await?;
    access.reload_tenant(&db, tenant).await?;
    Ok((StatusCode::CREATED, axum::Json(role)))
}

/// One role, built-in or custom.
#[utoipa::path(get, path = "/v1/roles/{role}", tag = "access", security(("bearer" = [])),
    params(("role" = String, Path, description = "Role key")),
    responses(
        (status = 200, body = Role),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`permission_denied`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`role_not_found`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn get_role(
    permitted: Permitted<RolesRead>,
    State(db): State<Database>,
    State(access): State<Access>,
    Path(role): Path<String>,
) -> Result<axum::Json<Role>, ApiError> {
    let key = role_key(&role)?;
    let mut tx = db.tenant(permitted.tenant()?).await?;
    let role = service::get_role(&mut tx, &access, &key).await?;
    tx.commit().await?;
    Ok(axum::Json(role))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateRole {
    pub name: Option<String>,
    pub description: Option<String>,
    /// Replaces the role's permissions; holders' next check sees the change.
    pub permissions: Option<Vec<String>>,
}

/// Change a custom role. Its holders' checks see the change at once (no new token needed).
#[utoipa::path(patch, path = "/v1/roles/{role}", tag = "access", security(("bearer" = [])),
    params(("role" = String, Path, description = "Role key")),
    request_body = UpdateRole,
    responses(
        (status = 200, body = Role),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`permission_denied`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`role_not_found`", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`builtin_role`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`invalid_field`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn update_role(
    permitted: Permitted<RolesManage>,
    State(db): State<Database>,
    State(access): State<Access>,
    Path(role): Path<String>,
    Json(body): Json<UpdateRole>,
) -> Result<axum::Json<Role>, ApiError> {
    let key = role_key(&role)?;
    let change = RoleChange {
        name: body.name.as_deref().map(|n| bounded_text(n, 1, 100)).transpose().map_err(field("name"))?,
        description: body
            .description
            .as_deref()
            .map(|d| bounded_text(d, 0, 500))
            .transpose()
            .map_err(field("description"))?,
        permissions: body.permissions.as_deref().map(permission_keys).transpose()?,
    };
    let tenant = permitted.tenant()?;
    let mut tx = db.tenant(tenant).await?;
    let role =
        service::update_role(&mut tx, &access, &key, change, service::Actor::Subject(permitted.subject(), &access))
            .await?;
    tx.commit().await?;
    access.reload_tenant(&db, tenant).await?;
    Ok(axum::Json(role))
}

/// Delete a custom role; whoever held it loses it.
#[utoipa::path(delete, path = "/v1/roles/{role}", tag = "access", security(("bearer" = [])),
    params(("role" = String, Path, description = "Role key")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`permission_denied`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`role_not_found`", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`builtin_role`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn delete_role(
    permitted: Permitted<RolesManage>,
    State(db): State<Database>,
    State(access): State<Access>,
    Path(role): Path<String>,
) -> Result<StatusCode, ApiError> {
    let key = role_key(&role)?;
    let tenant = permitted.tenant()?;
    let mut tx = db.tenant(tenant).await?;
    service::delete_role(&mut tx, &access, &key, permitted.subject().into()).await?;
    tx.commit().await?;
    access.reload_tenant(&db, tenant).await?;
    Ok(StatusCode::NO_CONTENT)
}

fn permission_keys(keys: &[String]) -> Result<Vec<PermissionKey>, ApiError> {
    keys.iter()
        .enumerate()
        .map(|(i, k)| PermissionKey::parse(k).map_err(|m| ApiError::invalid_field(format!("permissions[{i}]"), m)))
        .collect()
}

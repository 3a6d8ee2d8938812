use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use vextrus_db::Database;
use vextrus_server::{ApiError, Json, Problem, bounded_text};

use crate::catalog::{PermissionsRead, PermissionsRegister};
use crate::model::{Builtin, PermissionKey};
use crate::service::{self, NewPermission};
use crate::{Access, Permitted};

#[derive(Debug, Serialize, ToSchema)]
pub struct PermissionView {
    pub key: String,
    pub description: String,
    /// Built-in roles that hold it (owners hold every organization permission).
    pub grants: Vec<Builtin>,
    /// Declared by the platform itself rather than registered by a business module.
    pub builtin: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PermissionList {
    pub permissions: Vec<PermissionView>,
}

fn catalog(access: &Access) -> PermissionList {
    let permissions = access
        .catalog()
        .into_iter()
        .map(|(key, e)| PermissionView {
            key,
            description: e.description.to_string(),
            grants: e.grants(),
            builtin: e.builtin,
        })
        .collect();
    PermissionList { permissions }
}

/// The permission catalog.
#[utoipa::path(get, path = "/v1/authz/permissions", tag = "access", security(("bearer" = []), ("platform_operator" = [])),
    responses(
        (status = 200, body = PermissionList),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`permission_denied`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn list_permissions(
    _: Permitted<PermissionsRead>,
    State(access): State<Access>,
) -> axum::Json<PermissionList> {
    axum::Json(catalog(&access))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterPermission {
    /// `module.resource.action`; the module must not be one of the platform's.
    pub key: String,
    pub description: String,
    /// Built-in roles that hold it: any of `admin`, `member`, `viewer` (owners hold everything).
    #[serde(default)]
    pub grants: Vec<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterPermissions {
    pub permissions: Vec<RegisterPermission>,
}

/// Register a business module's permissions (idempotent; a changed description or grant
/// updates the entry). Every instance's catalog follows at once.
#[utoipa::path(put, path = "/v1/authz/permissions", tag = "access", security(("platform_operator" = [])),
    request_body = RegisterPermissions,
    responses(
        (status = 200, body = PermissionList),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`permission_denied`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`invalid_field`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn register_permissions(
    permitted: Permitted<PermissionsRegister>,
    State(db): State<Database>,
    State(access): State<Access>,
    Json(body): Json<RegisterPermissions>,
) -> Result<axum::Json<PermissionList>, ApiError> {
    let mut parsed = Vec::with_capacity(body.permissions.len());
    for (i, p) in body.permissions.iter().enumerate() {
        let at = |name: &str, message: String| ApiError::invalid_field(format!("permissions[{i}].{name}"), message);
        let key = PermissionKey::parse(&p.key).map_err(|m| at("key", m))?;
        let description = bounded_text(&p.description, 1, 500).map_err(|m| at("description", m))?;
        let grants = p
            .grants
            .iter()
            .map(|g| match Builtin::from_key(g) {
                Some(b @ (Builtin::Admin | Builtin::Member | Builtin::Viewer)) => Ok(b),
                _ => Err(at("grants", format!("{g:?} is not one of admin, member, viewer"))),
            })
            .collect::<Result<Vec<_>, _>>()?;
        parsed.push(NewPermission { key, description, grants });
    }
    let mut tx = db.system().await?;
    service::register_permissions(&mut tx, &access, &parsed, permitted.subject().into()).await?;
    tx.commit().await?;
    access.reload_catalog(&db).await?;
    Ok(axum::Json(catalog(&access)))
}

use axum::http::StatusCode;
use vextrus_db::DbError;
use vextrus_server::ApiError;

#[derive(Debug, thiserror::Error)]
pub enum AccessError {
    #[error("no permission {0} in the catalog")]
    UnknownPermission(String),
    #[error("{0} is a platform permission")]
    PlatformPermission(String),
    #[error("module {0} is the platform's own")]
    ReservedModule(String),
    #[error("no role {0}")]
    RoleNotFound(String),
    #[error("role {0} exists")]
    RoleExists(String),
    #[error("{0} is a built-in role")]
    BuiltinRole(String),
    #[error("no role {0} to assign")]
    UnknownRole(String),
    #[error("at least one role is needed")]
    NoRoles,
    #[error("only an owner may grant or take away the owner role")]
    OwnerOnly,
    #[error("the organization's last owner cannot lose that role")]
    LastOwner,
    /// Granting a permission (in a role, or by assigning one) takes holding it.
    #[error("you do not hold {0}, so you cannot grant it")]
    NotHeld(String),
    /// Owner-only permissions stay with owners: only an owner may put them in a role or assign
    /// a role holding them.
    #[error("{0} is for owners only")]
    OwnerOnlyPermission(String),
    #[error("at most {0} custom roles are allowed")]
    LimitReached(u32),
    #[error(transparent)]
    Db(#[from] DbError),
}

impl From<AccessError> for ApiError {
    fn from(e: AccessError) -> Self {
        match e {
            AccessError::UnknownPermission(key) => {
                ApiError::invalid_field("permissions", format!("{key:?} is not in the permission catalog"))
            }
            AccessError::PlatformPermission(key) => ApiError::invalid_field(
                "permissions",
                format!("{key:?} is a platform permission; an organization's roles cannot hold it"),
            ),
            AccessError::ReservedModule(module) => ApiError::invalid_field(
                "permissions",
                format!("module {module:?} belongs to the platform; register your module's own permissions"),
            ),
            AccessError::RoleNotFound(key) => ApiError::not_found("role_not_found", format!("No role {key:?}.")),
            AccessError::RoleExists(key) => {
                ApiError::conflict("role_exists", format!("A role {key:?} already exists.")).field("key", "is taken")
            }
            AccessError::BuiltinRole(key) => ApiError::conflict(
                "builtin_role",
                format!("{key:?} is a built-in role; built-in roles cannot be changed or deleted."),
            ),
            AccessError::UnknownRole(key) => {
                ApiError::invalid_field("roles", format!("{key:?} is neither a built-in role nor one of yours"))
            }
            AccessError::NoRoles => ApiError::invalid_field("roles", "must name at least one role"),
            AccessError::OwnerOnly => ApiError::new(StatusCode::FORBIDDEN, "owner_only", "Only owners may do this")
                .detail("Only an owner may grant or take away the owner role."),
            AccessError::LastOwner => ApiError::conflict(
                "last_owner",
                "The organization must keep at least one owner; make someone else an owner first.",
            ),
            AccessError::NotHeld(key) => {
                ApiError::new(StatusCode::FORBIDDEN, "permission_not_held", "You cannot grant what you do not hold")
                    .detail(format!("Granting {key:?} (in a role, or by assigning a role) takes holding it yourself."))
            }
            AccessError::OwnerOnlyPermission(key) => {
                ApiError::new(StatusCode::FORBIDDEN, "owner_only", "Only owners may do this")
                    .detail(format!("{key:?} is for owners only: only an owner may grant it."))
            }
            AccessError::LimitReached(max) => {
                ApiError::limit_reached("custom roles", max.into(), "limits.roles_per_org")
            }
            AccessError::Db(e) => e.into(),
        }
    }
}

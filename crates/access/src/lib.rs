//! Access control: a catalog of `module.resource.action` permissions (the platform's in code,
//! business modules' registered over the API), built-in roles (owner, admin, member, viewer)
//! and each organization's custom roles, role assignments of members and service accounts, and
//! checks answered from an in-process cache kept current across instances by `LISTEN/NOTIFY`.
//!
//! Handlers get a [`Permitted<P>`] before they may act; see `guard`.

mod cache;
mod catalog;
mod error;
mod guard;
pub mod http;
pub mod model;
pub mod service;
mod store;

use vextrus_db::{Migration, ModuleMigrations};

pub use cache::{Access, CATALOG_PAYLOAD, CHANNEL, CatalogEntry, Denial};
pub use catalog::{
    PERMISSIONS, Permission, PermissionDef, PermissionsRead, PermissionsRegister, RolesManage, RolesRead,
};
pub use error::AccessError;
pub use guard::{Authenticate, Authenticator, Permitted, denied, subject_of};
pub use model::{Builtin, KeyBounds, PermissionKey, RoleKey, Scope, Subject, SubjectKind};

pub const MIGRATIONS: ModuleMigrations = ModuleMigrations {
    module: "access",
    migrations: &[Migration { version: 1, name: "access", sql: include_str!("../migrations/0001_access.sql") }],
};

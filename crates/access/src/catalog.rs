//! The permission catalog as code: each module declares its permissions with [`permissions!`],
//! which makes one zero-sized type per permission (the type a handler's guard names) and the
//! module's `PERMISSIONS` list that the access cache is built from.

use serde::Serialize;
use utoipa::ToSchema;

use crate::model::Builtin;

/// A permission a handler can require: `Permitted<P>` is proof that the caller holds `P::KEY`.
pub trait Permission: Send + Sync + 'static {
    const KEY: &'static str;
}

/// One entry of the catalog: the key, what it allows, and which built-in roles hold it
/// (`owner` holds every organization permission without being listed).
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
pub struct PermissionDef {
    pub key: &'static str,
    pub description: &'static str,
    #[schema(value_type = Vec<Builtin>)]
    pub grants: &'static [Builtin],
}

/// Declares permissions. The doc comment of each becomes its catalog description.
///
/// ```
/// use vextrus_access::{Builtin, Permission};
///
/// vextrus_access::permissions! {
///     /// Read the organization's settings.
///     pub OrgRead = "tenancy.organization.read", grants [Admin, Member, Viewer];
/// }
///
/// assert_eq!(OrgRead::KEY, "tenancy.organization.read");
/// assert_eq!(PERMISSIONS[0].description, " Read the organization's settings.");
/// assert_eq!(PERMISSIONS[0].grants, &[Builtin::Admin, Builtin::Member, Builtin::Viewer]);
/// ```
#[macro_export]
macro_rules! permissions {
    ($( #[doc = $doc:literal] $vis:vis $name:ident = $key:literal, grants [$($role:ident),* $(,)?]; )*) => {
        $(
            #[doc = $doc]
            #[derive(Debug, Clone, Copy)]
            $vis struct $name;
            impl $crate::Permission for $name {
                const KEY: &'static str = $key;
            }
        )*
        /// This module's permissions, for the access catalog.
        pub const PERMISSIONS: &[$crate::PermissionDef] = &[
            $( $crate::PermissionDef {
                key: $key,
                description: $doc,
                grants: &[$($crate::Builtin::$role),*],
            }, )*
        ];
    };
}

permissions! {
    /// See the organization's roles and who holds them.
    pub RolesRead = "access.roles.read", grants [Admin];
    /// Create, change and delete the organization's custom roles.
    pub RolesManage = "access.roles.manage", grants [Admin];
    /// See the permission catalog.
    pub PermissionsRead = "access.permissions.read", grants [Admin, Member, Viewer, PlatformAdmin];
    /// Register business modules' permissions in the catalog.
    pub PermissionsRegister = "platform.permissions.register", grants [];
}

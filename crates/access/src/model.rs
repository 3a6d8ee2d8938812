//! Types that are valid by construction: permission keys, role keys, the built-in roles, and the
//! authenticated `Subject` every check is about.

use std::fmt;
use std::sync::Arc;

use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;
use vextrus_db::TenantId;

/// `module.resource.action`: three lowercase segments of `[a-z][a-z0-9_]*`, each at most 40.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, ToSchema)]
#[serde(transparent)]
pub struct PermissionKey(String);

impl PermissionKey {
    pub fn parse(s: &str) -> Result<Self, String> {
        let segments: Vec<&str> = s.split('.').collect();
        let segment_ok = |seg: &&str| {
            (1..=40).contains(&seg.len())
                && seg.starts_with(|c: char| c.is_ascii_lowercase())
                && seg.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        };
        if segments.len() != 3 || !segments.iter().all(segment_ok) {
            return Err("must be `module.resource.action`: three segments of a-z, 0-9 and '_', each starting \
                        with a letter"
                .into());
        }
        Ok(Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The first segment: the module that registered the permission.
    pub fn module(&self) -> &str {
        self.0.split('.').next().unwrap_or_default()
    }

    /// Permissions that act on the platform itself, never granted by an organization's roles.
    pub fn is_platform(&self) -> bool {
        is_platform_key(&self.0)
    }
}

pub(crate) fn is_platform_key(key: &str) -> bool {
    key.starts_with("platform.")
}

impl fmt::Display for PermissionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The roles every organization has. `Owner` holds every organization permission; the others
/// hold what each permission's definition grants them. `PlatformAdmin` exists only at platform
/// scope (operators), where it holds every `platform.*` permission and those that grant it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Builtin {
    Owner,
    Admin,
    Member,
    Viewer,
    PlatformAdmin,
}

impl Builtin {
    pub const TENANT: [Builtin; 4] = [Builtin::Owner, Builtin::Admin, Builtin::Member, Builtin::Viewer];

    pub fn as_str(self) -> &'static str {
        match self {
            Builtin::Owner => "owner",
            Builtin::Admin => "admin",
            Builtin::Member => "member",
            Builtin::Viewer => "viewer",
            Builtin::PlatformAdmin => "platform_admin",
        }
    }

    pub fn from_key(key: &str) -> Option<Self> {
        [Builtin::Owner, Builtin::Admin, Builtin::Member, Builtin::Viewer, Builtin::PlatformAdmin]
            .into_iter()
            .find(|b| b.as_str() == key)
    }

    pub(crate) fn bit(self) -> u8 {
        1 << self as u8
    }
}

/// A role's key: a built-in one, or an organization's own (`[a-z][a-z0-9_-]{1,39}`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, ToSchema)]
#[serde(transparent)]
pub struct RoleKey(String);

impl RoleKey {
    /// Any tenant role key, built-in or custom.
    pub fn parse(s: &str) -> Result<Self, String> {
        let valid = (2..=40).contains(&s.len())
            && s.starts_with(|c: char| c.is_ascii_lowercase())
            && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
        if !valid {
            return Err("must be 2 to 40 characters of a-z, 0-9, '_' and '-', starting with a letter".into());
        }
        if s == Builtin::PlatformAdmin.as_str() {
            return Err("`platform_admin` is not an organization role".into());
        }
        Ok(Self(s.to_owned()))
    }

    /// A key for a new custom role: not one of the built-in names.
    pub fn parse_custom(s: &str) -> Result<Self, String> {
        let key = Self::parse(s)?;
        if key.builtin().is_some() {
            return Err(format!("`{s}` is a built-in role"));
        }
        Ok(key)
    }

    pub fn builtin(&self) -> Option<Builtin> {
        Builtin::from_key(&self.0)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn owner() -> Self {
        Self(Builtin::Owner.as_str().to_owned())
    }
}

impl fmt::Display for RoleKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Who is asking.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SubjectKind {
    User,
    ServiceAccount,
    PlatformOperator,
}

/// Where the subject acts: inside one organization, or on the platform itself (operators).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Tenant(TenantId),
    Platform,
}

/// An authenticated caller: proven by an access token, an API key or the operator token.
/// Cheap to clone (shared strings).
#[derive(Debug, Clone)]
pub struct Subject {
    pub kind: SubjectKind,
    /// The user's or service account's id (nil for the operator token).
    pub id: Uuid,
    pub scope: Scope,
    /// Role keys held in the scope, as the credential states them.
    pub roles: Arc<[Box<str>]>,
    pub username: Option<Arc<str>>,
    /// The session of a user's access token (absent for API keys and service accounts).
    pub session: Option<Uuid>,
    /// An API key's permission limit: the subject may use at most these.
    pub limit: Option<Arc<[Box<str>]>>,
    /// An API key's own networks and expiry: a key it makes may have no wider ones.
    pub key_bounds: Option<Arc<KeyBounds>>,
}

/// What bounds an API key besides its permissions.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyBounds {
    /// CIDR networks the key may be used from; `None`: anywhere.
    pub networks: Option<Vec<String>>,
    /// When it stops working; `None`: never.
    pub expires_at: Option<chrono::DateTime<chrono::Utc>>,
}

impl Subject {
    /// The organization the subject acts in, if it acts in one.
    pub fn tenant(&self) -> Option<TenantId> {
        match self.scope {
            Scope::Tenant(t) => Some(t),
            Scope::Platform => None,
        }
    }
}

/// The audit trail's view of who acted.
impl From<&Subject> for vextrus_audit::Actor {
    fn from(subject: &Subject) -> Self {
        let kind = match subject.kind {
            SubjectKind::User => vextrus_audit::ActorKind::User,
            SubjectKind::ServiceAccount => vextrus_audit::ActorKind::ServiceAccount,
            SubjectKind::PlatformOperator => vextrus_audit::ActorKind::PlatformOperator,
        };
        let id = (!subject.id.is_nil()).then_some(subject.id);
        vextrus_audit::Actor::new(kind, id, subject.username.as_deref().map(str::to_owned))
    }
}

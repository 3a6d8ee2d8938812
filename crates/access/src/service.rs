//! Operations on roles, assignments and the catalog. Each takes the transaction it runs in; the
//! caller commits, then calls `Access::reload_tenant` (or `reload_catalog`) so that this
//! instance reads its own write at once; other instances follow the `NOTIFY` sent here.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;
use vextrus_db::{DbError, SystemTx, TenantId, TenantTx, Tx};

use crate::cache::{Access, CATALOG_PAYLOAD};
use crate::model::{Builtin, PermissionKey, RoleKey, Scope, Subject};
use crate::{AccessError, store};

/// A role as the API shows it: built-in or the organization's own.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Role {
    pub key: String,
    pub name: String,
    pub description: String,
    /// Permission keys, sorted.
    pub permissions: Vec<String>,
    pub builtin: bool,
    /// How many members and service accounts hold it (custom roles).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub holders: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created_at: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<DateTime<Utc>>,
}

impl From<store::CustomRoleRow> for Role {
    fn from(r: store::CustomRoleRow) -> Self {
        let mut permissions = r.permissions;
        permissions.sort();
        Role {
            key: r.key,
            name: r.name,
            description: r.description,
            permissions,
            builtin: false,
            holders: Some(r.holders),
            created_at: Some(r.created_at),
            updated_at: Some(r.updated_at),
        }
    }
}

fn builtin_role(access: &Access, role: Builtin) -> Role {
    let (name, description) = match role {
        Builtin::Owner => ("Owner", "Everything in the organization, including granting ownership."),
        Builtin::Admin => ("Administrator", "Manages the organization, its members and roles."),
        Builtin::Member => ("Member", "Works with the organization's data."),
        Builtin::Viewer => ("Viewer", "Reads the organization's data."),
        Builtin::PlatformAdmin => ("Platform administrator", "Operates the platform."),
    };
    let permissions = access
        .catalog()
        .into_iter()
        .filter(|(key, entry)| {
            !key.starts_with("platform.") && (role == Builtin::Owner || entry.grants().contains(&role))
        })
        .map(|(key, _)| key)
        .collect();
    Role {
        key: role.as_str().to_owned(),
        name: name.to_owned(),
        description: description.to_owned(),
        permissions,
        builtin: true,
        holders: None,
        created_at: None,
        updated_at: None,
    }
}

#[derive(Debug)]
pub struct NewRole {
    pub key: RoleKey,
    pub name: String,
    pub description: String,
    pub permissions: Vec<PermissionKey>,
}

#[derive(Debug, Default)]
pub struct RoleChange {
    pub name: Option<String>,
    pub description: Option<String>,
    pub permissions: Option<Vec<PermissionKey>>,
}

/// Built-in roles first, then the organization's own.
pub async fn list_roles(tx: &mut TenantTx, access: &Access) -> Result<Vec<Role>, AccessError> {
    let tenant = tx.tenant();
    let mut roles: Vec<Role> = Builtin::TENANT.into_iter().map(|b| builtin_role(access, b)).collect();
    roles.extend(store::list_roles(tx, tenant).await?.into_iter().map(Role::from));
    Ok(roles)
}

pub async fn get_role(tx: &mut TenantTx, access: &Access, key: &RoleKey) -> Result<Role, AccessError> {
    if let Some(builtin) = key.builtin() {
        return Ok(builtin_role(access, builtin));
    }
    let tenant = tx.tenant();
    store::find_role(tx, tenant, key.as_str())
        .await?
        .map(Role::from)
        .ok_or_else(|| AccessError::RoleNotFound(key.to_string()))
}

/// Creates a custom role; an organization holds at most `max` (`limits.roles_per_org`).
pub async fn create_role(
    tx: &mut TenantTx,
    access: &Access,
    new: NewRole,
    grantor: Actor<'_>,
    max: u32,
) -> Result<Role, AccessError> {
    let actor = grantor.audit();
    let tenant = tx.tenant();
    vextrus_db::limits::lock_count(tx, &format!("roles:{tenant}")).await?;
    if store::count_roles(tx, tenant).await? >= i64::from(max) {
        return Err(AccessError::LimitReached(max));
    }
    let permissions = grantable(access, &new.permissions)?;
    may_grant(grantor, permissions.iter().copied())?;
    store::insert_role(tx, tenant, new.key.as_str(), &new.name, &new.description, &permissions)
        .await
        .map_err(|e| if e.is_unique_violation() { AccessError::RoleExists(new.key.to_string()) } else { e.into() })?;
    store::notify(tx, &tenant.to_string()).await?;
    let role = get_role(tx, access, &new.key).await?;
    let created = serde_json::json!({"name": {"before": null, "after": role.name}, "permissions": {"before": null, "after": role.permissions}});
    record(tx, actor, "access.role.create", &role.key, created).await?;
    Ok(role)
}

async fn record(
    tx: &mut TenantTx,
    actor: vextrus_audit::Actor,
    action: &'static str,
    key: &str,
    changes: serde_json::Value,
) -> Result<(), AccessError> {
    let tenant = tx.tenant();
    let event = vextrus_audit::NewEvent::new(tenant, actor, action)
        .target(vextrus_audit::Target::new("role", key))
        .changes(changes);
    vextrus_audit::record(tx, event).await?;
    Ok(())
}

fn role_json(role: &Role) -> serde_json::Value {
    serde_json::json!({"name": role.name, "description": role.description, "permissions": role.permissions})
}

pub async fn update_role(
    tx: &mut TenantTx,
    access: &Access,
    key: &RoleKey,
    change: RoleChange,
    grantor: Actor<'_>,
) -> Result<Role, AccessError> {
    let actor = grantor.audit();
    if key.builtin().is_some() {
        return Err(AccessError::BuiltinRole(key.to_string()));
    }
    let tenant = tx.tenant();
    let before = get_role(tx, access, key).await?;
    let permissions = change.permissions.as_deref().map(|p| grantable(access, p)).transpose()?;
    if let Some(permissions) = &permissions {
        // Changing a role is granting its new permissions to whoever holds it; what it already
        // had is not the changer's to take away unless they hold it too (else a role could only
        // shrink in the hands of its creator).
        may_grant(grantor, permissions.iter().copied().filter(|p| !before.permissions.iter().any(|b| b == p)))?;
        may_grant(grantor, before.permissions.iter().map(String::as_str).filter(|b| !permissions.contains(b)))?;
    }
    let found = store::update_role(
        tx,
        tenant,
        key.as_str(),
        change.name.as_deref(),
        change.description.as_deref(),
        permissions.as_deref(),
    )
    .await?;
    if !found {
        return Err(AccessError::RoleNotFound(key.to_string()));
    }
    store::notify(tx, &tenant.to_string()).await?;
    let after = get_role(tx, access, key).await?;
    let changes = vextrus_audit::changes(&role_json(&before), &role_json(&after), &[]);
    record(tx, actor, "access.role.update", key.as_str(), changes).await?;
    Ok(after)
}

/// Deletes a custom role; whoever held it loses it.
pub async fn delete_role(
    tx: &mut TenantTx,
    access: &Access,
    key: &RoleKey,
    actor: vextrus_audit::Actor,
) -> Result<(), AccessError> {
    if key.builtin().is_some() {
        return Err(AccessError::BuiltinRole(key.to_string()));
    }
    let tenant = tx.tenant();
    let before = get_role(tx, access, key).await?;
    if !store::delete_role(tx, tenant, key.as_str()).await? {
        return Err(AccessError::RoleNotFound(key.to_string()));
    }
    store::notify(tx, &tenant.to_string()).await?;
    let changes = vextrus_audit::changes(&role_json(&before), &serde_json::json!({}), &[]);
    record(tx, actor, "access.role.delete", key.as_str(), changes).await
}

/// Checks that every key is in the catalog and may be held by an organization's role;
/// returns them sorted and without repeats.
fn grantable<'a>(access: &Access, keys: &'a [PermissionKey]) -> Result<Vec<&'a str>, AccessError> {
    let mut unique = BTreeSet::new();
    for key in keys {
        if key.is_platform() {
            return Err(AccessError::PlatformPermission(key.to_string()));
        }
        if access.permission(key.as_str()).is_none() {
            return Err(AccessError::UnknownPermission(key.to_string()));
        }
        unique.insert(key.as_str());
    }
    Ok(unique.into_iter().collect())
}

/// Who is changing a role or an assignment: a signed-in subject (who may grant only what they
/// hold, and owner-only permissions only as an owner), or the platform itself (sign-up,
/// accepting an invitation — checked when it was sent).
#[derive(Debug, Clone, Copy)]
pub enum Actor<'a> {
    Subject(&'a Subject, &'a Access),
    Platform,
}

impl Actor<'_> {
    /// Who this is, for the audit trail.
    pub fn audit(&self) -> vextrus_audit::Actor {
        match self {
            Actor::Subject(subject, _) => (*subject).into(),
            Actor::Platform => vextrus_audit::Actor::system(),
        }
    }

    fn may_change_owners(&self) -> bool {
        match self {
            Actor::Platform => true,
            Actor::Subject(s, _) => s.scope == Scope::Platform || is_owner(s),
        }
    }
}

fn is_owner(subject: &Subject) -> bool {
    subject.roles.iter().any(|r| &**r == Builtin::Owner.as_str())
}

/// Refuses unless `grantor` holds every one of `keys` (owner-only ones: as an owner).
fn may_grant<'k>(grantor: Actor<'_>, keys: impl IntoIterator<Item = &'k str>) -> Result<(), AccessError> {
    let Actor::Subject(subject, access) = grantor else { return Ok(()) };
    if subject.scope == Scope::Platform {
        return Ok(());
    }
    for key in keys {
        if access.owner_only(key) && !is_owner(subject) {
            return Err(AccessError::OwnerOnlyPermission(key.to_owned()));
        }
        if access.check(subject, key).is_err() {
            return Err(AccessError::NotHeld(key.to_owned()));
        }
    }
    Ok(())
}

/// Refuses unless `grantor` may give out every permission of the `roles` not already held by
/// the subject receiving them (`current`).
fn may_assign(grantor: Actor<'_>, tenant: TenantId, roles: &[&str], current: &[String]) -> Result<(), AccessError> {
    let Actor::Subject(_, access) = grantor else { return Ok(()) };
    for role in roles.iter().filter(|r| !current.iter().any(|c| c == *r)) {
        let permissions = access.role_permissions(tenant, role);
        may_grant(grantor, permissions.iter().map(|p| &**p))?;
    }
    Ok(())
}

/// Checks that `roles` can be given out by `actor` in `tenant` (each exists; `owner` only by
/// an owner), without assigning them: for invitations, which assign on acceptance.
pub async fn check_assignable(
    tx: &mut impl Tx,
    tenant: TenantId,
    roles: &[RoleKey],
    actor: Actor<'_>,
) -> Result<(), AccessError> {
    ensure_exist(tx, tenant, roles).await?;
    if roles.iter().any(|r| r.builtin() == Some(Builtin::Owner)) && !actor.may_change_owners() {
        return Err(AccessError::OwnerOnly);
    }
    let keys: Vec<&str> = roles.iter().map(RoleKey::as_str).collect();
    may_assign(actor, tenant, &keys, &[])
}

/// The custom roles among `roles` that still exist (built-in ones always do).
pub async fn existing(tx: &mut impl Tx, tenant: TenantId, roles: &[RoleKey]) -> Result<Vec<RoleKey>, AccessError> {
    let custom: Vec<&str> = roles.iter().filter(|r| r.builtin().is_none()).map(RoleKey::as_str).collect();
    let found = if custom.is_empty() { Vec::new() } else { store::custom_roles_exist(tx, tenant, &custom).await? };
    Ok(roles.iter().filter(|r| r.builtin().is_some() || found.iter().any(|f| f == r.as_str())).cloned().collect())
}

async fn ensure_exist(tx: &mut impl Tx, tenant: TenantId, roles: &[RoleKey]) -> Result<(), AccessError> {
    let existing = existing(tx, tenant, roles).await?;
    match roles.iter().find(|r| !existing.contains(r)) {
        Some(missing) => Err(AccessError::UnknownRole(missing.to_string())),
        None => Ok(()),
    }
}

/// Sets `subject`'s roles in `tenant` to exactly `roles` (at least one). Unknown roles are
/// refused; only an owner grants or takes away `owner`, and the last owner keeps it.
pub async fn assign(
    tx: &mut impl Tx,
    tenant: TenantId,
    subject: Uuid,
    roles: &[RoleKey],
    actor: Actor<'_>,
) -> Result<Vec<String>, AccessError> {
    let wanted: BTreeSet<&str> = roles.iter().map(RoleKey::as_str).collect();
    if wanted.is_empty() {
        return Err(AccessError::NoRoles);
    }
    ensure_exist(tx, tenant, roles).await?;
    let current = store::roles_of(tx, tenant, subject).await?;
    let owner = Builtin::Owner.as_str();
    let was_owner = current.iter().any(|r| r == owner);
    let will_be_owner = wanted.contains(owner);
    if was_owner != will_be_owner {
        if !actor.may_change_owners() {
            return Err(AccessError::OwnerOnly);
        }
        if was_owner {
            ensure_not_last_owner(tx, tenant, subject).await?;
        }
    }
    let wanted: Vec<&str> = wanted.into_iter().collect();
    may_assign(actor, tenant, &wanted, &current)?;
    store::replace_assignments(tx, tenant, subject, &wanted).await?;
    announce_standing(tx, tenant, subject).await?;
    Ok(wanted.into_iter().map(str::to_owned).collect())
}

/// Takes every role away from `subject` (a member leaving, a service account deleted).
pub async fn unassign_all(
    tx: &mut impl Tx,
    tenant: TenantId,
    subject: Uuid,
    actor: Actor<'_>,
) -> Result<(), AccessError> {
    let current = store::roles_of(tx, tenant, subject).await?;
    if current.iter().any(|r| r == Builtin::Owner.as_str()) {
        if !actor.may_change_owners() {
            return Err(AccessError::OwnerOnly);
        }
        ensure_not_last_owner(tx, tenant, subject).await?;
    }
    store::replace_assignments(tx, tenant, subject, &[]).await?;
    announce_standing(tx, tenant, subject).await?;
    Ok(())
}

/// Where a change of what a subject holds in an organization (roles assigned or taken away, a
/// member removed, a service account disabled) is announced, payload `<tenant>:<subject>`:
/// every instance forgets what it remembered of that subject at commit, so the change takes
/// effect at once for credentials already issued.
pub const STANDING_CHANNEL: &str = "vextrus_standing";

/// Announces (at commit) that `subject`'s standing in `tenant` changed.
pub async fn announce_standing(tx: &mut impl Tx, tenant: TenantId, subject: Uuid) -> Result<(), DbError> {
    sqlx::query("SELECT pg_notify($1, $2)")
        .bind(STANDING_CHANNEL)
        .bind(format!("{tenant}:{subject}"))
        .execute(tx.conn())
        .await?;
    Ok(())
}

async fn ensure_not_last_owner(tx: &mut impl Tx, tenant: TenantId, leaving: Uuid) -> Result<(), AccessError> {
    store::lock_owners(tx, tenant).await?;
    let owners = store::owners(tx, tenant).await?;
    if owners.iter().all(|o| *o == leaving) {
        return Err(AccessError::LastOwner);
    }
    Ok(())
}

/// The organization's owners.
pub async fn owners_of(tx: &mut impl Tx, tenant: TenantId) -> Result<Vec<Uuid>, DbError> {
    store::owners(tx, tenant).await
}

pub async fn roles_of(tx: &mut impl Tx, tenant: TenantId, subject: Uuid) -> Result<Vec<String>, DbError> {
    store::roles_of(tx, tenant, subject).await
}

pub async fn roles_of_many(
    tx: &mut impl Tx,
    tenant: TenantId,
    subjects: &[Uuid],
) -> Result<std::collections::HashMap<Uuid, Vec<String>>, DbError> {
    let mut map: std::collections::HashMap<Uuid, Vec<String>> = std::collections::HashMap::new();
    for (subject, role) in store::roles_of_many(tx, tenant, subjects).await? {
        map.entry(subject).or_default().push(role);
    }
    Ok(map)
}

/// A business module's permission, as registered over the API.
#[derive(Debug)]
pub struct NewPermission {
    pub key: PermissionKey,
    pub description: String,
    pub grants: Vec<Builtin>,
}

/// Registers (or updates) business modules' permissions. The platform's own modules are
/// reserved: nobody can redefine what `identity.*` or `platform.*` means.
pub async fn register_permissions(
    tx: &mut SystemTx,
    access: &Access,
    permissions: &[NewPermission],
    actor: vextrus_audit::Actor,
) -> Result<(), AccessError> {
    for p in permissions {
        let module = p.key.module();
        if module == "platform" || access.is_reserved_module(module) {
            return Err(AccessError::ReservedModule(module.to_owned()));
        }
        let grants: Vec<&str> = p
            .grants
            .iter()
            .filter(|g| matches!(g, Builtin::Admin | Builtin::Member | Builtin::Viewer))
            .map(|g| g.as_str())
            .collect();
        store::upsert_permission(tx, p.key.as_str(), &p.description, &grants).await?;
    }
    store::notify(tx, CATALOG_PAYLOAD).await?;
    let keys: Vec<&str> = permissions.iter().map(|p| p.key.as_str()).collect();
    let event = vextrus_audit::NewEvent::new(TenantId::PLATFORM, actor, "access.permissions.register")
        .metadata(serde_json::json!({"permissions": keys}));
    vextrus_audit::record(tx, event).await?;
    Ok(())
}

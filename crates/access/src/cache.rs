//! The in-process copy of the catalog and every organization's custom roles, so that a check is
//! a few hash lookups and never a query. Writers `NOTIFY` on [`CHANNEL`] in their transaction
//! (payload: the tenant id, or `catalog`); every instance follows it with `vextrus_db::follow`.
//! The writing instance also reloads right after its commit, so it reads its own writes.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use vextrus_db::{Database, DbError, Reload, TenantId};

use crate::catalog::PermissionDef;
use crate::model::{Builtin, Scope, Subject, is_platform_key};
use crate::store;

/// The channel writers notify on.
pub const CHANNEL: &str = "vextrus_access";
/// Payload that says the catalog (not a tenant's roles) changed.
pub const CATALOG_PAYLOAD: &str = "catalog";

/// Why a check failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Denial {
    /// No module registered this permission; nobody holds it.
    UnknownPermission,
    /// Known, but none of the subject's roles grants it (or the API key's limit excludes it).
    NotHeld,
}

#[derive(Debug, Clone)]
pub struct CatalogEntry {
    pub description: Box<str>,
    /// Bit set of the built-in roles holding it (see `Builtin::bit`).
    grants: u8,
    /// Declared in the platform's code rather than registered over the API.
    pub builtin: bool,
}

impl CatalogEntry {
    pub fn grants(&self) -> Vec<Builtin> {
        [Builtin::Admin, Builtin::Member, Builtin::Viewer, Builtin::PlatformAdmin]
            .into_iter()
            .filter(|b| self.grants & b.bit() != 0)
            .collect()
    }
}

type TenantRoles = HashMap<Box<str>, HashSet<Box<str>>>;

#[derive(Debug, Default)]
struct Snapshot {
    catalog: HashMap<Box<str>, CatalogEntry>,
    roles: HashMap<TenantId, Arc<TenantRoles>>,
}

/// Shared handle; cheap to clone (one reference count).
#[derive(Debug, Clone)]
pub struct Access(Arc<Inner>);

#[derive(Debug)]
struct Inner {
    code: HashMap<Box<str>, CatalogEntry>,
    snapshot: RwLock<Arc<Snapshot>>,
}

impl Access {
    /// An empty cache over the platform's own permissions (`PERMISSIONS` of every module); call
    /// [`Access::reload_all`] or [`Access::follow`] to fill in the database's part.
    pub fn new(code: &[&[PermissionDef]]) -> Self {
        let code: HashMap<Box<str>, CatalogEntry> = code
            .iter()
            .flat_map(|defs| defs.iter())
            .map(|d| {
                let grants = d.grants.iter().fold(0u8, |bits, b| bits | b.bit());
                (d.key.into(), CatalogEntry { description: d.description.trim().into(), grants, builtin: true })
            })
            .collect();
        let snapshot = Snapshot { catalog: code.clone(), roles: HashMap::new() };
        Self(Arc::new(Inner { code, snapshot: RwLock::new(Arc::new(snapshot)) }))
    }

    fn current(&self) -> Arc<Snapshot> {
        self.0.snapshot.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn replace(&self, change: impl FnOnce(&Snapshot) -> Snapshot) {
        let mut guard = self.0.snapshot.write().unwrap_or_else(|e| e.into_inner());
        *guard = Arc::new(change(&guard));
    }

    /// Does `subject` hold `key`?
    pub fn check(&self, subject: &Subject, key: &str) -> Result<(), Denial> {
        check_in(&self.current(), subject, key)
    }

    /// Several checks against one consistent snapshot.
    pub fn check_all<'k>(&self, subject: &Subject, keys: impl IntoIterator<Item = &'k str>) -> Vec<Result<(), Denial>> {
        let snapshot = self.current();
        keys.into_iter().map(|key| check_in(&snapshot, subject, key)).collect()
    }

    /// The permissions `role` grants in `tenant`: a built-in role's from the catalog, a custom
    /// role's as it is now. The owner holds every organization permission.
    pub fn role_permissions(&self, tenant: TenantId, role: &str) -> Vec<Box<str>> {
        let snapshot = self.current();
        match Builtin::from_key(role) {
            Some(Builtin::PlatformAdmin) => Vec::new(),
            Some(Builtin::Owner) => snapshot.catalog.keys().filter(|k| !is_platform_key(k)).cloned().collect(),
            Some(builtin) => {
                snapshot.catalog.iter().filter(|(_, e)| e.grants & builtin.bit() != 0).map(|(k, _)| k.clone()).collect()
            }
            None => snapshot
                .roles
                .get(&tenant)
                .and_then(|roles| roles.get(role))
                .map(|permissions| permissions.iter().cloned().collect())
                .unwrap_or_default(),
        }
    }

    /// Owner-only: no built-in role but the owner's holds it (admins included), so only an owner
    /// may grant it, in a role or by assigning one.
    pub fn owner_only(&self, key: &str) -> bool {
        self.current().catalog.get(key).is_some_and(|e| e.grants & Builtin::Admin.bit() == 0 && !is_platform_key(key))
    }

    pub fn permission(&self, key: &str) -> Option<CatalogEntry> {
        self.current().catalog.get(key).cloned()
    }

    /// The whole catalog, sorted by key.
    pub fn catalog(&self) -> Vec<(String, CatalogEntry)> {
        let mut all: Vec<_> = self.current().catalog.iter().map(|(k, e)| (k.to_string(), e.clone())).collect();
        all.sort_by(|a, b| a.0.cmp(&b.0));
        all
    }

    /// A module whose permissions the platform's code declares.
    pub fn is_reserved_module(&self, module: &str) -> bool {
        self.0.code.keys().any(|k| k.split('.').next() == Some(module))
    }

    /// Sets a tenant's custom roles in this cache only, as a reload would: for benchmarks and
    /// tests of the check itself. The running platform fills the cache from the database.
    pub fn seed_roles<'a>(&self, tenant: TenantId, roles: impl IntoIterator<Item = (&'a str, &'a [&'a str])>) {
        let mine: TenantRoles =
            roles.into_iter().map(|(key, perms)| (key.into(), perms.iter().map(|p| (*p).into()).collect())).collect();
        self.replace(|old| {
            let mut all = old.roles.clone();
            all.insert(tenant, Arc::new(mine));
            Snapshot { catalog: old.catalog.clone(), roles: all }
        });
    }

    pub async fn reload_all(&self, db: &Database) -> Result<(), DbError> {
        let mut tx = db.system().await?;
        let registered = store::registered_permissions(&mut tx).await?;
        let roles = store::all_roles(&mut tx, None).await?;
        tx.commit().await?;
        let catalog = self.catalog_with(registered);
        let roles = group_roles(roles);
        self.replace(|_| Snapshot { catalog, roles });
        Ok(())
    }

    pub async fn reload_tenant(&self, db: &Database, tenant: TenantId) -> Result<(), DbError> {
        let mut tx = db.system().await?;
        let rows = store::all_roles(&mut tx, Some(tenant)).await?;
        tx.commit().await?;
        let mine = group_roles(rows).remove(&tenant).unwrap_or_default();
        self.replace(|old| {
            let mut roles = old.roles.clone();
            roles.insert(tenant, mine);
            Snapshot { catalog: old.catalog.clone(), roles }
        });
        Ok(())
    }

    pub async fn reload_catalog(&self, db: &Database) -> Result<(), DbError> {
        let mut tx = db.system().await?;
        let registered = store::registered_permissions(&mut tx).await?;
        tx.commit().await?;
        let catalog = self.catalog_with(registered);
        self.replace(|old| Snapshot { catalog, roles: old.roles.clone() });
        Ok(())
    }

    fn catalog_with(&self, registered: Vec<store::RegisteredRow>) -> HashMap<Box<str>, CatalogEntry> {
        let mut catalog = self.0.code.clone();
        for row in registered {
            let grants = row.grants.iter().filter_map(|g| Builtin::from_key(g)).fold(0u8, |bits, b| bits | b.bit());
            // The platform's own definitions win over anything registered under the same key.
            catalog.entry(row.key.into()).or_insert(CatalogEntry {
                description: row.description.into(),
                grants,
                builtin: false,
            });
        }
        catalog
    }

    /// Keeps the cache current until `stop` resolves.
    pub async fn follow(self, db: Database, stop: impl std::future::Future<Output = ()>) {
        let reload_db = db.clone();
        let reload = move |what: Reload| {
            let (access, db) = (self.clone(), reload_db.clone());
            async move {
                match what {
                    Reload::All => access.reload_all(&db).await,
                    Reload::Payload(p) if p == CATALOG_PAYLOAD => access.reload_catalog(&db).await,
                    Reload::Payload(p) => match p.parse() {
                        Ok(id) => access.reload_tenant(&db, TenantId::from_uuid(id)).await,
                        Err(_) => access.reload_all(&db).await,
                    },
                }
            }
        };
        vextrus_db::follow(db, CHANNEL, Duration::from_secs(60), "access", reload, stop).await;
    }
}

fn group_roles(rows: Vec<store::RoleRow>) -> HashMap<TenantId, Arc<TenantRoles>> {
    let mut by_tenant: HashMap<TenantId, TenantRoles> = HashMap::new();
    for row in rows {
        by_tenant
            .entry(row.tenant_id)
            .or_default()
            .insert(row.key.into(), row.permissions.into_iter().map(Into::into).collect());
    }
    by_tenant.into_iter().map(|(t, roles)| (t, Arc::new(roles))).collect()
}

fn check_in(snapshot: &Snapshot, subject: &Subject, key: &str) -> Result<(), Denial> {
    let entry = snapshot.catalog.get(key).ok_or(Denial::UnknownPermission)?;
    if let Some(limit) = &subject.limit
        && !limit.iter().any(|k| &**k == key)
    {
        return Err(Denial::NotHeld);
    }
    let platform = is_platform_key(key);
    let held = match subject.scope {
        Scope::Platform => subject.roles.iter().any(|r| {
            &**r == Builtin::PlatformAdmin.as_str() && (platform || entry.grants & Builtin::PlatformAdmin.bit() != 0)
        }),
        Scope::Tenant(_) if platform => false,
        Scope::Tenant(tenant) => subject.roles.iter().any(|role| match Builtin::from_key(role) {
            Some(Builtin::Owner) => true,
            Some(Builtin::PlatformAdmin) => false,
            Some(builtin) => entry.grants & builtin.bit() != 0,
            None => snapshot
                .roles
                .get(&tenant)
                .and_then(|roles| roles.get(&**role))
                .is_some_and(|permissions| permissions.contains(key)),
        }),
    };
    if held { Ok(()) } else { Err(Denial::NotHeld) }
}

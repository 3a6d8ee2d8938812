//! What the registry keeps in memory so that an install's requests (a packument per package,
//! by a member with an API key) touch no database: who owns a scope or an unscoped name, and
//! each packument as served (its bytes, once for every public URL, per format), all within
//! byte budgets. Every change to a
//! package or an owner is announced on [`CHANNEL`] in its transaction, so every instance
//! forgets the stale copy at commit; entries also expire on their own (owners after 10 s: an
//! organization created with a scope's slug is not announced).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use vextrus_db::{DbError, Expiring, TenantId, Tx};

use crate::rendered::Rendered;

pub const CHANNEL: &str = "vextrus_registry";

/// A packument as served: organization, name, abbreviated. Never the public URL a client asked
/// for (see [`Rendered`]): what a client sends must not decide how much is remembered.
type PackumentKey = (TenantId, String, bool);

/// What is remembered is what was read before any change that came after: a reader notes the
/// generation before it reads the database, and what it read is remembered only if nothing
/// was forgotten meanwhile (a change committed during its read would otherwise stay cached).
#[derive(Debug, Clone)]
pub struct Caches {
    owners: Arc<Expiring<String, Option<TenantId>>>,
    packuments: Arc<Expiring<PackumentKey, Rendered>>,
    /// Where a published tarball's bytes are: (organization, name, file) → object key.
    tarballs: Arc<Expiring<(TenantId, String, String), String>>,
    generation: Arc<AtomicU64>,
}

/// What the packuments in memory may hold by default (`registry.packument_cache_mib`).
pub const DEFAULT_PACKUMENT_BYTES: usize = 64 << 20;

impl Default for Caches {
    fn default() -> Self {
        Self::with_packument_bytes(DEFAULT_PACKUMENT_BYTES)
    }
}

impl Caches {
    /// Caches whose packuments hold at most `bytes` (owners and tarball locations: 8 MiB each).
    pub fn with_packument_bytes(bytes: usize) -> Self {
        Self {
            owners: Arc::new(Expiring::new(Duration::from_secs(10), 8 << 20, |k: &String, _| k.len() + 24)),
            packuments: Arc::new(Expiring::new(Duration::from_secs(300), bytes, |(_, name, _), r: &Rendered| {
                name.len() + r.weight()
            })),
            tarballs: Arc::new(Expiring::new(Duration::from_secs(300), 8 << 20, |(_, name, file), key: &String| {
                name.len() + file.len() + key.len() + 3 * 24
            })),
            generation: Arc::default(),
        }
    }

    /// Bytes the packuments in memory hold now.
    pub fn packument_bytes(&self) -> usize {
        self.packuments.bytes()
    }

    /// The owner of a scope (`@scope`) or unscoped name, if remembered.
    pub(crate) fn owner(&self, key: &str) -> Option<Option<TenantId>> {
        self.owners.get(key)
    }

    /// Note this before reading what will be remembered.
    pub(crate) fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    fn unchanged_since(&self, generation: u64) -> bool {
        self.generation.load(Ordering::Acquire) == generation
    }

    fn changed(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
    }

    pub(crate) fn remember_owner(&self, generation: u64, key: &str, owner: Option<TenantId>) {
        if self.unchanged_since(generation) {
            self.owners.put(key.to_owned(), owner);
        }
    }

    pub(crate) fn packument(&self, tenant: TenantId, name: &str, abbreviated: bool) -> Option<Rendered> {
        self.packuments.get(&(tenant, name.to_owned(), abbreviated))
    }

    pub(crate) fn remember_packument(&self, generation: u64, key: (TenantId, &str, bool), rendered: Rendered) {
        if self.unchanged_since(generation) {
            let (tenant, name, abbreviated) = key;
            self.packuments.put((tenant, name.to_owned(), abbreviated), rendered);
        }
    }

    pub(crate) fn tarball(&self, tenant: TenantId, name: &str, file: &str) -> Option<String> {
        self.tarballs.get(&(tenant, name.to_owned(), file.to_owned()))
    }

    pub(crate) fn remember_tarball(&self, generation: u64, tenant: TenantId, name: &str, file: &str, key: String) {
        if self.unchanged_since(generation) {
            self.tarballs.put((tenant, name.to_owned(), file.to_owned()), key);
        }
    }

    /// Forgets every served copy of `name` (in any organization).
    pub(crate) fn forget_package(&self, name: &str) {
        self.changed();
        self.packuments.retain(|(_, n, _), _| n != name);
        self.tarballs.retain(|(_, n, _), _| n != name);
    }

    /// Forgets what a notification names: `package:<name>` or `owner:<@scope or name>`.
    pub(crate) fn forget(&self, payload: &str) {
        if let Some(name) = payload.strip_prefix("package:") {
            self.forget_package(name);
        } else if let Some(key) = payload.strip_prefix("owner:") {
            self.changed();
            self.owners.retain(|k, _| k != key);
            // The packuments of a scope that changed hands are someone else's now.
            let scope = format!("{key}/");
            self.packuments.retain(|(_, n, _), _| n != key && !n.starts_with(&scope));
            self.tarballs.retain(|(_, n, _), _| n != key && !n.starts_with(&scope));
        } else {
            self.clear();
        }
    }

    pub(crate) fn clear(&self) {
        self.changed();
        self.owners.clear();
        self.packuments.clear();
        self.tarballs.clear();
    }
}

/// Announces (at commit) that `name` changed.
pub(crate) async fn announce_package(tx: &mut impl Tx, name: &str) -> Result<(), DbError> {
    announce(tx, &format!("package:{name}")).await
}

/// Announces (at commit) that the owner of a scope (`@scope`) or unscoped name changed.
pub(crate) async fn announce_owner(tx: &mut impl Tx, key: &str) -> Result<(), DbError> {
    announce(tx, &format!("owner:{key}")).await
}

pub(crate) async fn announce(tx: &mut impl Tx, payload: &str) -> Result<(), DbError> {
    sqlx::query("SELECT pg_notify($1, $2)").bind(CHANNEL).bind(payload).execute(tx.conn()).await?;
    Ok(())
}

//! Which organizations are suspended, in memory, for forward-auth (no database read per request).
//! Loaded at start and kept current with `vextrus_db::follow` on tenancy's status channel.

use std::collections::HashSet;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use uuid::Uuid;
use vextrus_db::{Database, DbError, Tx};

#[derive(Debug, Clone, Default)]
pub struct OrgStatusCache {
    suspended: Arc<RwLock<HashSet<Uuid>>>,
}

impl OrgStatusCache {
    pub fn is_suspended(&self, org: &Uuid) -> bool {
        self.suspended.read().unwrap_or_else(|e| e.into_inner()).contains(org)
    }

    pub async fn reload(&self, db: &Database) -> Result<(), DbError> {
        let mut tx = db.system().await?;
        let ids: Vec<Uuid> = sqlx::query_scalar("SELECT id FROM tenancy.organizations WHERE status = 'suspended'")
            .fetch_all(tx.conn())
            .await?;
        tx.commit().await?;
        *self.suspended.write().unwrap_or_else(|e| e.into_inner()) = ids.into_iter().collect();
        Ok(())
    }

    /// Keeps the cache current until `stop` resolves. The set is small, so any change reloads it.
    pub async fn follow(self, db: Database, stop: impl std::future::Future<Output = ()>) {
        let reload_db = db.clone();
        let reload = |_| {
            let (cache, db) = (self.clone(), reload_db.clone());
            async move { cache.reload(&db).await }
        };
        vextrus_db::follow(db, vextrus_tenancy::STATUS_CHANNEL, Duration::from_secs(30), "org_status", reload, stop)
            .await;
    }
}

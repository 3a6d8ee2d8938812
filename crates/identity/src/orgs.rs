//! Which organizations are suspended, in memory, for forward-auth (no database read per request).
//! Loaded at start, reloaded when tenancy announces a status change (LISTEN/NOTIFY, across
//! instances) and every 30 seconds in case a notification was missed.

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

    /// Keeps the cache current until `stop` resolves.
    pub async fn follow(self, db: Database, stop: impl std::future::Future<Output = ()>) {
        until(stop, async move {
            let mut listener = db.listener(&[vextrus_tenancy::STATUS_CHANNEL]).await.ok();
            if listener.is_none() {
                tracing::warn!("organization status cache: no LISTEN connection; polling only");
            }
            loop {
                if let Err(e) = self.reload(&db).await {
                    tracing::warn!(error = %e, "reloading organization status failed");
                }
                let notified = async {
                    match listener.as_mut() {
                        Some(l) => {
                            let _ = l.recv().await;
                        }
                        None => std::future::pending().await,
                    }
                };
                tokio::select! {
                    () = notified => {}
                    () = tokio::time::sleep(Duration::from_secs(30)) => {}
                }
            }
        })
        .await;
    }
}

async fn until(stop: impl std::future::Future<Output = ()>, work: impl std::future::Future<Output = ()>) {
    tokio::select! {
        () = stop => {}
        () = work => {}
    }
}

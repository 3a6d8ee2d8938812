//! Handlers by kind, with the payload decoded before the handler sees it.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use uuid::Uuid;

use super::Job;
use crate::{Database, DbError, SystemTx, TenantId, Tx};

/// What a handler may fail with; the message is stored as the job's `last_error`.
pub type HandlerError = Box<dyn std::error::Error + Send + Sync>;

type BoxFuture = Pin<Box<dyn Future<Output = Result<(), HandlerError>> + Send>>;
type Erased = dyn Fn(JobContext, serde_json::Value) -> Result<BoxFuture, HandlerError> + Send + Sync;

/// What a handler knows about the job it runs.
#[derive(Debug, Clone)]
pub struct JobContext {
    /// Stable across attempts: the idempotency key.
    pub id: Uuid,
    pub tenant: TenantId,
    /// 1 on the first run.
    pub attempt: i32,
    pub db: Database,
    /// The worker holding the job (the fence of every write after the claim).
    pub(super) worker: Arc<str>,
    /// Set when the handler finished the job in its own transaction.
    pub(super) finished: Arc<AtomicBool>,
}

impl JobContext {
    /// Finishes the job in `tx`, the handler's last transaction: the job is gone when `tx`
    /// commits, together with what the handler recorded — one commit instead of two. The handler
    /// must then return `Ok` only if the commit succeeded (an error, or a `tx` rolled back,
    /// leaves the job to the worker as usual). `false`: the lease was lost and someone else
    /// holds the job now; nothing was finished.
    pub async fn finish_in(&self, tx: &mut SystemTx) -> Result<bool, DbError> {
        let done =
            sqlx::query("DELETE FROM db.jobs WHERE tenant_id = $1 AND id = $2 AND locked_by = $3 AND attempts = $4")
                .bind(self.tenant)
                .bind(self.id)
                .bind(&*self.worker)
                .bind(self.attempt)
                .execute(tx.conn())
                .await?;
        let finished = done.rows_affected() == 1;
        self.finished.store(finished, Ordering::Release);
        Ok(finished)
    }

    /// Whether [`JobContext::finish_in`] removed the job.
    pub(super) fn was_finished(&self) -> bool {
        self.finished.load(Ordering::Acquire)
    }
}

#[derive(Default, Clone)]
pub struct Registry {
    handlers: HashMap<&'static str, Arc<Erased>>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry").field("kinds", &self.kinds()).finish()
    }
}

impl Registry {
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers the handler of `J`. Registering a kind twice is a programming error.
    pub fn register<J, F, Fut>(&mut self, handler: F) -> &mut Self
    where
        J: Job,
        F: Fn(JobContext, J) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), HandlerError>> + Send + 'static,
    {
        let erased: Arc<Erased> = Arc::new(move |ctx, payload| {
            let job: J = serde_json::from_value(payload)?;
            Ok(Box::pin(handler(ctx, job)) as BoxFuture)
        });
        let previous = self.handlers.insert(J::KIND, erased);
        assert!(previous.is_none(), "job kind {} registered twice", J::KIND);
        self
    }

    pub fn kinds(&self) -> Vec<&'static str> {
        let mut kinds: Vec<_> = self.handlers.keys().copied().collect();
        kinds.sort_unstable();
        kinds
    }

    /// The handler's future, or the decoding error (which retrying cannot fix).
    pub(super) fn start(
        &self,
        kind: &str,
        ctx: JobContext,
        payload: serde_json::Value,
    ) -> Option<Result<BoxFuture, HandlerError>> {
        self.handlers.get(kind).map(|h| h(ctx, payload))
    }
}

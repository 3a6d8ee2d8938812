//! Handlers by kind, with the payload decoded before the handler sees it.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use uuid::Uuid;

use super::Job;
use crate::{Database, TenantId};

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

//! The in-app inbox's live side. Delivering an in-app message announces it on [`INBOX_CHANNEL`]
//! (payload `<tenant>:<user>:<message>`) in its transaction; every instance listens once and
//! passes what it hears to the streams it serves (`GET /v1/me/notifications/stream`). A change of
//! a member's standing (roles, removal: access's `vextrus_standing`) ends their streams at once:
//! the client reconnects and is authenticated again, under what it holds now.
//!
//! Streams are limited per user and per instance, and live at most `max_age` (the client
//! reconnects with `Last-Event-ID` and misses nothing).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::broadcast;
use uuid::Uuid;
use vextrus_access::service::STANDING_CHANNEL;
use vextrus_db::{Database, DbError, Tx};

pub const INBOX_CHANNEL: &str = "vextrus_inbox";

/// What a stream hears.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Live {
    /// A message reached `user`'s inbox in `tenant`.
    Message { tenant: Uuid, user: Uuid, id: Uuid },
    /// The standing of `user` in `tenant` changed (`None`: every one).
    Standing { tenant: Option<Uuid>, user: Option<Uuid> },
    /// Notifications may have been missed (the listener reconnected): look again.
    Resync,
}

impl Live {
    fn parse(channel: &str, payload: &str) -> Self {
        let mut parts = payload.split(':');
        if channel == INBOX_CHANNEL {
            let ids: Vec<Uuid> = parts.by_ref().take(3).filter_map(|p| p.parse().ok()).collect();
            return match ids[..] {
                [tenant, user, id] => Self::Message { tenant, user, id },
                _ => Self::Resync,
            };
        }
        let id = |p: Option<&str>| p.and_then(|p| p.parse::<Uuid>().ok());
        match (parts.next(), parts.next()) {
            (Some(t), Some(u)) => Self::Standing { tenant: id(Some(t)), user: id(Some(u)) },
            _ => Self::Standing { tenant: None, user: None },
        }
    }

    /// Whether this ends the streams of `user` in `tenant`.
    pub fn ends(&self, tenant: Uuid, user: Uuid) -> bool {
        match *self {
            Self::Standing { tenant: t, user: u } => t.is_none_or(|t| t == tenant) && u.is_none_or(|u| u == user),
            _ => false,
        }
    }
}

/// Announces (at commit) that message `id` reached `user`'s inbox in `tenant`.
pub(crate) async fn announce(tx: &mut impl Tx, tenant: Uuid, user: Uuid, id: Uuid) -> Result<(), DbError> {
    sqlx::query("SELECT pg_notify($1, $2)")
        .bind(INBOX_CHANNEL)
        .bind(format!("{tenant}:{user}:{id}"))
        .execute(tx.conn())
        .await?;
    Ok(())
}

/// The instance's live inbox: what it hears, and how many streams it serves.
#[derive(Debug, Clone)]
pub struct Inbox {
    sender: broadcast::Sender<Live>,
    open: Arc<Mutex<Open>>,
    pub limits: StreamLimits,
}

#[derive(Debug, Clone, Copy)]
pub struct StreamLimits {
    pub per_user: usize,
    pub per_instance: usize,
    pub max_age: Duration,
}

impl Default for StreamLimits {
    fn default() -> Self {
        Self { per_user: 5, per_instance: 10_000, max_age: Duration::from_secs(300) }
    }
}

#[derive(Debug, Default)]
struct Open {
    total: usize,
    /// Open streams per (organization, user); an entry goes when its last stream closes.
    by_user: HashMap<(Uuid, Uuid), usize>,
}

/// A stream's place, given back when it is dropped.
#[derive(Debug)]
pub struct Slot {
    open: Arc<Mutex<Open>>,
    key: (Uuid, Uuid),
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut open = self.open.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        open.total -= 1;
        if let Some(n) = open.by_user.get_mut(&self.key) {
            *n -= 1;
            if *n == 0 {
                open.by_user.remove(&self.key);
            }
        }
    }
}

/// Why a stream was not opened.
#[derive(Debug, PartialEq, Eq)]
pub enum Full {
    User(usize),
    Instance,
}

impl Inbox {
    pub fn new(limits: StreamLimits) -> Self {
        let (sender, _) = broadcast::channel(4096);
        Self { sender, open: Arc::default(), limits }
    }

    /// A place for one more stream of `user` in `tenant`, within the limits.
    pub fn open(&self, tenant: Uuid, user: Uuid) -> Result<(Slot, broadcast::Receiver<Live>), Full> {
        let mut open = self.open.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if open.total >= self.limits.per_instance {
            return Err(Full::Instance);
        }
        let n = open.by_user.entry((tenant, user)).or_insert(0);
        if *n >= self.limits.per_user {
            return Err(Full::User(self.limits.per_user));
        }
        *n += 1;
        open.total += 1;
        Ok((Slot { open: self.open.clone(), key: (tenant, user) }, self.sender.subscribe()))
    }

    /// Streams open on this instance.
    pub fn streams(&self) -> usize {
        self.open.lock().unwrap_or_else(std::sync::PoisonError::into_inner).total
    }

    /// Listens for inbox messages and standing changes until `stop` resolves (run it next to
    /// the server). When the listener fails, streams are told to look again.
    pub async fn follow(self, db: Database, stop: impl std::future::Future<Output = ()>) {
        let work = async move {
            loop {
                let mut listener = match db.listener(&[INBOX_CHANNEL, STANDING_CHANNEL]).await {
                    Ok(l) => l,
                    Err(e) => {
                        tracing::warn!(error = %e, "inbox: no LISTEN connection; retrying");
                        tokio::time::sleep(Duration::from_secs(5)).await;
                        continue;
                    }
                };
                let _ = self.sender.send(Live::Resync);
                loop {
                    match listener.recv().await {
                        Ok(n) => {
                            let _ = self.sender.send(Live::parse(n.channel(), n.payload()));
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, "inbox: listener lost; streams look again");
                            let _ = self.sender.send(Live::Resync);
                            break;
                        }
                    }
                }
            }
        };
        tokio::select! {
            () = stop => {}
            () = work => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads() {
        let (t, u, m) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
        assert_eq!(Live::parse(INBOX_CHANNEL, &format!("{t}:{u}:{m}")), Live::Message { tenant: t, user: u, id: m });
        assert_eq!(Live::parse(INBOX_CHANNEL, "junk"), Live::Resync);
        assert!(Live::parse(STANDING_CHANNEL, &format!("{t}:{u}")).ends(t, u));
        assert!(!Live::parse(STANDING_CHANNEL, &format!("{t}:{m}")).ends(t, u));
        assert!(Live::parse(STANDING_CHANNEL, &format!("{t}:*")).ends(t, u));
        assert!(Live::parse(STANDING_CHANNEL, &format!("*:{u}")).ends(m, u));
        assert!(Live::parse(STANDING_CHANNEL, "").ends(t, u));
    }

    #[test]
    fn streams_are_limited_per_user_and_given_back() {
        let inbox = Inbox::new(StreamLimits { per_user: 2, per_instance: 3, max_age: Duration::from_secs(1) });
        let (t, a, b) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
        let first = inbox.open(t, a).unwrap();
        let _second = inbox.open(t, a).unwrap();
        assert_eq!(inbox.open(t, a).unwrap_err(), Full::User(2));
        let _third = inbox.open(t, b).unwrap();
        assert_eq!(inbox.open(t, b).unwrap_err(), Full::Instance);
        drop(first);
        assert_eq!(inbox.streams(), 2);
        inbox.open(t, a).unwrap();
    }
}

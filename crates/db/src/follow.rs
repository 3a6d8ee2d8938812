//! Keeping an in-memory copy of some tables current across instances: reload everything at
//! start, reload what a `NOTIFY` names when it arrives, and reload everything periodically in
//! case a notification was missed (a listener reconnecting loses what was sent meanwhile).

use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;
use std::sync::RwLock;
use std::time::{Duration, Instant};

use crate::Database;

/// What to reload: everything (at start, periodically, or when the listener is down), or what a
/// notification's payload names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reload {
    All,
    Payload(String),
}

/// Runs `reload` as described above until `stop` resolves. Failures are logged and retried at
/// the next period; the copy keeps serving its last good state meanwhile.
pub async fn follow<F, Fut>(
    db: Database,
    channel: &'static str,
    period: Duration,
    what: &'static str,
    mut reload: F,
    stop: impl Future<Output = ()>,
) where
    F: FnMut(Reload) -> Fut,
    Fut: Future<Output = Result<(), crate::DbError>>,
{
    let work = async move {
        let mut listener = match db.listener(&[channel]).await {
            Ok(l) => Some(l),
            Err(e) => {
                tracing::warn!(error = %e, cache = what, "no LISTEN connection; polling only");
                None
            }
        };
        let mut next = Reload::All;
        loop {
            if let Err(e) = reload(next).await {
                tracing::warn!(error = %e, cache = what, "reload failed");
            }
            let notified = async {
                match listener.as_mut() {
                    Some(l) => match l.recv().await {
                        Ok(n) => Reload::Payload(n.payload().to_owned()),
                        Err(_) => Reload::All,
                    },
                    None => std::future::pending().await,
                }
            };
            next = tokio::select! {
                n = notified => n,
                () = tokio::time::sleep(period) => Reload::All,
            };
        }
    };
    tokio::select! {
        () = stop => {}
        () = work => {}
    }
}

/// A bounded in-memory copy whose entries also expire on their own: for what a notification
/// cannot always name (a change it was not sent for is seen within `ttl`). When full, it is
/// emptied (it refills from the database).
#[derive(Debug)]
pub struct Expiring<K, V> {
    ttl: Duration,
    capacity: usize,
    entries: RwLock<HashMap<K, (V, Instant)>>,
}

impl<K: Hash + Eq, V: Clone> Expiring<K, V> {
    pub fn new(ttl: Duration, capacity: usize) -> Self {
        Self { ttl, capacity, entries: RwLock::default() }
    }

    pub fn get<Q>(&self, key: &Q) -> Option<V>
    where
        K: std::borrow::Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let entries = self.entries.read().unwrap_or_else(|e| e.into_inner());
        entries.get(key).filter(|(_, at)| at.elapsed() < self.ttl).map(|(v, _)| v.clone())
    }

    pub fn put(&self, key: K, value: V) {
        let mut entries = self.entries.write().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= self.capacity {
            entries.clear();
        }
        entries.insert(key, (value, Instant::now()));
    }

    /// Keeps only the entries `keep` approves.
    pub fn retain(&self, mut keep: impl FnMut(&K, &V) -> bool) {
        self.entries.write().unwrap_or_else(|e| e.into_inner()).retain(|k, (v, _)| keep(k, v));
    }

    pub fn clear(&self) {
        self.entries.write().unwrap_or_else(|e| e.into_inner()).clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_expire_and_can_be_forgotten() {
        let cache = Expiring::new(Duration::from_millis(50), 3);
        cache.put("a", 1);
        cache.put("b", 2);
        assert_eq!((cache.get("a"), cache.get("b")), (Some(1), Some(2)));
        cache.retain(|k, _| *k != "a");
        assert_eq!(cache.get("a"), None);
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(cache.get("b"), None, "expired");
        for (i, k) in ["x", "y", "z", "w"].into_iter().enumerate() {
            cache.put(k, i);
        }
        assert_eq!((cache.get("x"), cache.get("w")), (None, Some(3)), "a full cache starts over");
    }
}

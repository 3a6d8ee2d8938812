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
/// cannot always name (a change it was not sent for is seen within `ttl`). Bounded by bytes, as
/// `weigh` counts them (an entry's key and value, owned heap included): when a new entry would
/// not fit, expired entries go first, then others (it refills from the database). An entry
/// larger than the whole budget is not kept.
#[derive(Debug)]
pub struct Expiring<K, V> {
    ttl: Duration,
    max_bytes: usize,
    weigh: fn(&K, &V) -> usize,
    entries: RwLock<Entries<K, V>>,
}

#[derive(Debug)]
struct Entries<K, V> {
    map: HashMap<K, (V, Instant, usize)>,
    bytes: usize,
}

/// Bytes a map entry costs beyond what its key and value own (hash table slot, timestamps).
pub const ENTRY_OVERHEAD: usize = 64;

impl<K: Hash + Eq, V: Clone> Expiring<K, V> {
    pub fn new(ttl: Duration, max_bytes: usize, weigh: fn(&K, &V) -> usize) -> Self {
        Self { ttl, max_bytes, weigh, entries: RwLock::new(Entries { map: HashMap::new(), bytes: 0 }) }
    }

    pub fn get<Q>(&self, key: &Q) -> Option<V>
    where
        K: std::borrow::Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let entries = self.entries.read().unwrap_or_else(|e| e.into_inner());
        entries.map.get(key).filter(|(_, at, _)| at.elapsed() < self.ttl).map(|(v, _, _)| v.clone())
    }

    pub fn put(&self, key: K, value: V) {
        let weight = (self.weigh)(&key, &value) + ENTRY_OVERHEAD;
        if weight > self.max_bytes {
            return;
        }
        let mut entries = self.entries.write().unwrap_or_else(|e| e.into_inner());
        let entries = &mut *entries;
        if let Some((_, _, old)) = entries.map.remove(&key) {
            entries.bytes -= old;
        }
        if entries.bytes + weight > self.max_bytes {
            let ttl = self.ttl;
            entries.map.retain(|_, (_, at, _)| at.elapsed() < ttl);
            entries.bytes = entries.map.values().map(|(_, _, w)| w).sum();
        }
        // Still full: make room by dropping entries (in the map's own, arbitrary order), in one pass.
        if entries.bytes + weight > self.max_bytes {
            let needed = entries.bytes + weight - self.max_bytes;
            let mut freed = 0;
            entries.map.retain(|_, (_, _, w)| {
                if freed >= needed {
                    return true;
                }
                freed += *w;
                false
            });
            entries.bytes -= freed;
        }
        entries.bytes += weight;
        entries.map.insert(key, (value, Instant::now(), weight));
    }

    /// Keeps only the entries `keep` approves.
    pub fn retain(&self, mut keep: impl FnMut(&K, &V) -> bool) {
        let mut entries = self.entries.write().unwrap_or_else(|e| e.into_inner());
        let entries = &mut *entries;
        entries.map.retain(|k, (v, _, _)| keep(k, v));
        entries.bytes = entries.map.values().map(|(_, _, w)| w).sum();
    }

    pub fn clear(&self) {
        let mut entries = self.entries.write().unwrap_or_else(|e| e.into_inner());
        entries.map.clear();
        entries.bytes = 0;
    }

    /// Bytes held now, as weighed.
    pub fn bytes(&self) -> usize {
        self.entries.read().unwrap_or_else(|e| e.into_inner()).bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_expire_and_can_be_forgotten() {
        let cache = Expiring::new(Duration::from_millis(50), 10 * (8 + ENTRY_OVERHEAD), |_: &&str, _: &usize| 8);
        cache.put("a", 1);
        cache.put("b", 2);
        assert_eq!((cache.get("a"), cache.get("b")), (Some(1), Some(2)));
        cache.retain(|k, _| *k != "a");
        assert_eq!(cache.get("a"), None);
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(cache.get("b"), None, "expired");
    }

    #[test]
    fn the_byte_budget_holds_whatever_is_put() {
        let budget = 1 << 20;
        let cache = Expiring::new(Duration::from_secs(60), budget, |k: &String, v: &Vec<u8>| k.len() + v.len());
        for i in 0..10_000 {
            cache.put(format!("key-{i}"), vec![0u8; (i % 97) * 37]);
            assert!(cache.bytes() <= budget, "{} bytes after {i} puts", cache.bytes());
        }
        assert!(cache.bytes() > budget / 2, "the budget is used, not thrown away");
        assert!(cache.get("key-9999").is_some(), "the newest entry is kept");
        cache.put("huge".into(), vec![0u8; budget + 1]);
        assert!(cache.get("huge").is_none(), "larger than the budget: not kept");
        cache.put("key-9999".into(), vec![1u8; 10]);
        assert_eq!(cache.get("key-9999"), Some(vec![1u8; 10]), "replaced, counted once");
        cache.clear();
        assert_eq!(cache.bytes(), 0);
    }
}

//! Guessing a secret (a password, a one-time or recovery code) is bounded; locking its owner
//! out is not something a stranger can do. Attempts are counted per login *and* client address
//! (a stranger's failures delay only that stranger), and per client address (one machine
//! guessing many logins); never per login alone, which anyone knowing the login could exhaust.
//! Second-factor codes are counted per user (only the user's own sessions, or whoever has the
//! password, can try them). Every attempt is counted *before* the secret is checked, in one
//! atomic statement per key committed at once, so concurrent guesses cannot slip past together;
//! a success gives its attempt back. A few attempts are free; after that each one must wait
//! twice as long as the last, up to 15 minutes; a quiet hour forgets them.

use std::net::IpAddr;

use chrono::Utc;
use uuid::Uuid;
use vextrus_db::{Database, DbError, SystemTx};

use crate::store::throttle as store;

/// Attempts made freely before each next one must wait: per login and address; per address
/// (shared by everyone behind one NAT, so it is more lenient); per user's second factor.
const FREE_PER_LOGIN_AND_ADDRESS: i32 = 5;
const FREE_PER_ADDRESS: i32 = 30;
const FREE_PER_SECOND_FACTOR: i32 = 5;
pub const MAX_DELAY_SECS: i64 = 900;

/// The counters one attempt is taken from, with their free attempts.
#[derive(Debug, Clone)]
pub struct ThrottleKeys {
    keys: Vec<(String, i32)>,
}

impl ThrottleKeys {
    /// A sign-in with `login` (as typed, normalised) from `address`.
    pub fn new(login: &str, address: Option<IpAddr>) -> Self {
        let login = login.trim().to_lowercase();
        let place = address.map_or_else(|| "unknown".to_owned(), |a| a.to_string());
        let mut keys = vec![(format!("login:{login}|ip:{place}"), FREE_PER_LOGIN_AND_ADDRESS)];
        if let Some(address) = address {
            keys.push((format!("ip:{address}"), FREE_PER_ADDRESS));
        }
        Self { keys }
    }

    /// A second-factor code of `user` (TOTP or recovery code), wherever it is tried.
    pub fn second_factor(user: Uuid) -> Self {
        Self { keys: vec![(format!("mfa:{user}"), FREE_PER_SECOND_FACTOR)] }
    }

    fn names(&self) -> Vec<String> {
        self.keys.iter().map(|(k, _)| k.clone()).collect()
    }
}

/// Takes one attempt from every counter of `keys`, committed before the secret is checked.
/// `Some(seconds)` when it may not be tried now (nothing is checked then).
pub async fn attempt(db: &Database, keys: &ThrottleKeys) -> Result<Option<i64>, DbError> {
    let mut tx = db.system().await?;
    let mut wait = None;
    for (key, free) in &keys.keys {
        let (permitted, blocked_until) = store::take_attempt(&mut tx, key, *free, MAX_DELAY_SECS).await?;
        if !permitted {
            let seconds = blocked_until.map_or(1, |until| (until - Utc::now()).num_seconds().max(1));
            wait = Some(wait.map_or(seconds, |w: i64| w.max(seconds)));
        }
    }
    tx.commit().await?;
    Ok(wait)
}

/// The secret was right: its attempt is given back, and the login's failures from this address
/// are forgotten.
pub async fn succeeded(tx: &mut SystemTx, keys: &ThrottleKeys) -> Result<(), DbError> {
    if let Some((first, _)) = keys.keys.first() {
        store::clear(tx, std::slice::from_ref(first)).await?;
    }
    for (key, _) in keys.keys.iter().skip(1) {
        store::give_back(tx, key).await?;
    }
    Ok(())
}

/// The attempt proved nothing either way (a password right but a second factor still to come):
/// it is given back.
pub async fn refund(db: &Database, keys: &ThrottleKeys) -> Result<(), DbError> {
    let mut tx = db.system().await?;
    for key in keys.names() {
        store::give_back(&mut tx, &key).await?;
    }
    tx.commit().await
}

/// A password reset forgets the failures of every login of the account, from every address.
pub async fn forget(tx: &mut SystemTx, logins: &[&str]) -> Result<(), DbError> {
    let prefixes: Vec<String> = logins.iter().map(|l| format!("login:{}|", l.trim().to_lowercase())).collect();
    store::clear_prefixes(tx, &prefixes).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_pair_the_login_with_the_address_and_never_stand_for_the_login_alone() {
        let keys = ThrottleKeys::new(" Rahim@Example.com ", Some("203.0.113.9".parse().unwrap()));
        assert_eq!(keys.names(), ["login:rahim@example.com|ip:203.0.113.9", "ip:203.0.113.9"]);
        let unknown = ThrottleKeys::new("rahim", None);
        assert_eq!(unknown.names(), ["login:rahim|ip:unknown"]);
    }
}

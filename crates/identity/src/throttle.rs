//! Sign-in throttling with growing delays, per account and per client address. The account key
//! is the login as typed (normalised), so an unknown account is throttled exactly like a known
//! one and the answers say nothing about which accounts exist. A few failures are free; after
//! that each one doubles the wait, up to 15 minutes; a quiet hour forgets them.

use std::net::IpAddr;

use chrono::Utc;
use vextrus_db::{DbError, SystemTx};

use crate::store::throttle as store;

/// Failures allowed before delays start: per account, and per client address (shared by
/// everyone behind one NAT, so it is more lenient).
const FREE_PER_ACCOUNT: i32 = 4;
const FREE_PER_ADDRESS: i32 = 20;
const MAX_DELAY_SECS: i64 = 900;

#[derive(Debug, Clone)]
pub struct ThrottleKeys {
    account: String,
    address: Option<String>,
}

impl ThrottleKeys {
    pub fn new(login: &str, address: Option<IpAddr>) -> Self {
        Self { account: format!("login:{}", login.trim().to_lowercase()), address: address.map(|a| format!("ip:{a}")) }
    }

    fn all(&self) -> Vec<String> {
        std::iter::once(self.account.clone()).chain(self.address.clone()).collect()
    }
}

/// Seconds until sign-in may be tried again, if it is blocked now.
pub async fn wait(tx: &mut SystemTx, keys: &ThrottleKeys) -> Result<Option<i64>, DbError> {
    Ok(store::blocked_until(tx, &keys.all()).await?.map(|until| (until - Utc::now()).num_seconds().max(1)))
}

fn delay(failures: i32, free: i32) -> Option<i64> {
    (failures > free)
        .then(|| 1i64.checked_shl((failures - free - 1).min(20) as u32).unwrap_or(MAX_DELAY_SECS).min(MAX_DELAY_SECS))
}

/// Counts a failed attempt against the account and the address.
pub async fn failed(tx: &mut SystemTx, keys: &ThrottleKeys) -> Result<(), DbError> {
    let account = store::count_failure(tx, &keys.account).await?;
    if let Some(seconds) = delay(account, FREE_PER_ACCOUNT) {
        store::block(tx, &keys.account, seconds).await?;
    }
    if let Some(address) = &keys.address {
        let failures = store::count_failure(tx, address).await?;
        if let Some(seconds) = delay(failures, FREE_PER_ADDRESS) {
            store::block(tx, address, seconds).await?;
        }
    }
    Ok(())
}

/// A successful sign-in forgets the account's failures (not the address's).
pub async fn succeeded(tx: &mut SystemTx, keys: &ThrottleKeys) -> Result<(), DbError> {
    store::clear(tx, std::slice::from_ref(&keys.account)).await
}

/// A password reset forgets the failures of every login of the account.
pub async fn forget(tx: &mut SystemTx, logins: &[&str]) -> Result<(), DbError> {
    let keys: Vec<String> = logins.iter().map(|l| ThrottleKeys::new(l, None).account).collect();
    store::clear(tx, &keys).await
}

#[cfg(test)]
mod tests {
    use super::delay;

    #[test]
    fn delays_start_after_the_free_failures_and_double_up_to_fifteen_minutes() {
        let waits: Vec<Option<i64>> = (1..=16).map(|f| delay(f, 4)).collect();
        assert_eq!(&waits[..4], &[None, None, None, None]);
        assert_eq!(&waits[4..10], &[Some(1), Some(2), Some(4), Some(8), Some(16), Some(32)]);
        assert_eq!(waits[15], Some(900));
        assert_eq!(delay(10_000, 4), Some(900));
    }
}

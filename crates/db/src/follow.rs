//! Keeping an in-memory copy of some tables current across instances: reload everything at
//! start, reload what a `NOTIFY` names when it arrives, and reload everything periodically in
//! case a notification was missed (a listener reconnecting loses what was sent meanwhile).

use std::future::Future;
use std::time::Duration;

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

//! What a subject holds in an organization now: a credential says who it is, never how much it
//! may do. Every request with a user's or service account's token or API key is checked against
//! the current assignment — remembered here, and forgotten on every instance the moment it
//! changes (roles assigned or taken away, a member removed, a service account disabled or
//! deleted, an organization's MFA policy or a user's second factor changed are announced on
//! [`STANDING_CHANNEL`] in their transaction). A subject that no longer belongs (no roles, or a
//! disabled account) is refused, whatever its token says; a member whose roles the MFA policy
//! holds to a second factor they have not enrolled holds no role until they do.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use uuid::Uuid;
use vextrus_access::service::STANDING_CHANNEL;
use vextrus_db::{Database, DbError, Expiring, Reload, TenantId, Tx};

/// The roles a subject holds now (empty: none until a second factor is enrolled).
pub type Roles = Arc<[Box<str>]>;

/// What a subject that belongs to an organization holds there now.
#[derive(Debug, Clone)]
pub struct Held {
    pub roles: Roles,
    /// A user's sessions begun before this (milliseconds since the epoch) have ended: their
    /// password was reset, or the holder of their address claimed the account.
    sessions_from_ms: Option<i64>,
}

impl Held {
    /// Whether a user's access token of `session` may still be used. Session ids are UUIDv7:
    /// they carry the moment the session began.
    pub fn admits(&self, session: Uuid) -> bool {
        let Some(from) = self.sessions_from_ms else { return true };
        session.get_timestamp().is_some_and(|t| {
            let (secs, nanos) = t.to_unix();
            i64::try_from(secs).unwrap_or(i64::MAX).saturating_mul(1000) + i64::from(nanos / 1_000_000) >= from
        })
    }
}

#[derive(Debug, Clone)]
pub struct Standing {
    /// `None`: the subject does not (or no longer) belong to the organization.
    entries: Arc<Expiring<(TenantId, Uuid), Option<Held>>>,
    /// Bumped by every announced change: a read that began before it is not remembered.
    generation: Arc<AtomicU64>,
}

impl Default for Standing {
    fn default() -> Self {
        let weigh = |_: &(TenantId, Uuid), held: &Option<Held>| {
            64 + held.iter().flat_map(|h| h.roles.iter()).map(|r| r.len() + 16).sum::<usize>()
        };
        // Announcements carry every change; the expiry covers a notification lost while an
        // instance was reconnecting (it then also forgets everything, see `follow`).
        Self { entries: Arc::new(Expiring::new(Duration::from_secs(60), 16 << 20, weigh)), generation: Arc::default() }
    }
}

impl Standing {
    /// What `subject` holds in `tenant` now; `None` when it does not belong there (any more).
    pub async fn held(&self, db: &Database, tenant: TenantId, subject: Uuid) -> Result<Option<Held>, DbError> {
        if let Some(held) = self.entries.get(&(tenant, subject)) {
            return Ok(held);
        }
        let generation = self.generation.load(Ordering::Acquire);
        let mut tx = db.system().await?;
        // (belongs, is a user without a confirmed second factor, when a user's sessions last ended)
        let (belongs, lacks_mfa, sessions_reset_at): (bool, bool, Option<chrono::DateTime<chrono::Utc>>) =
            sqlx::query_as(
                "SELECT EXISTS (SELECT 1 FROM identity.memberships m JOIN identity.users u ON u.id = m.user_id
                             WHERE m.tenant_id = $1 AND m.user_id = $2 AND u.status = 'active')
                 OR EXISTS (SELECT 1 FROM identity.service_accounts
                             WHERE tenant_id = $1 AND id = $2 AND status = 'active'),
                    EXISTS (SELECT 1 FROM identity.users WHERE id = $2)
                AND NOT EXISTS (SELECT 1 FROM identity.mfa_totp WHERE user_id = $2 AND confirmed_at IS NOT NULL),
                    (SELECT sessions_reset_at FROM identity.users WHERE id = $2)",
            )
            .bind(tenant)
            .bind(subject)
            .fetch_one(tx.conn())
            .await?;
        let roles: Option<Roles> = if belongs {
            let held = vextrus_access::service::roles_of(&mut tx, tenant, subject).await?;
            if held.is_empty() {
                None
            } else if lacks_mfa && {
                let required = crate::store::mfa::policy_of(&mut tx, tenant).await?;
                held.iter().any(|r| required.contains(r))
            } {
                Some(Arc::from([]))
            } else {
                Some(held.into_iter().map(Box::from).collect())
            }
        } else {
            None
        };
        tx.commit().await?;
        let held = roles.map(|roles| Held { roles, sessions_from_ms: sessions_reset_at.map(|t| t.timestamp_millis()) });
        if self.generation.load(Ordering::Acquire) == generation {
            self.entries.put((tenant, subject), held.clone());
        }
        Ok(held)
    }

    /// Forgets what `payload` names: `<tenant>:<subject>`, `<tenant>:*` (an organization's
    /// policy), `*:<subject>` (a user's second factor, in every organization); anything else:
    /// everything.
    fn forget(&self, payload: &str) {
        self.generation.fetch_add(1, Ordering::AcqRel);
        let parse = |text: &str| if text == "*" { Some(None) } else { text.parse::<Uuid>().ok().map(Some) };
        let parsed = payload.split_once(':').and_then(|(t, s)| Some((parse(t)?, parse(s)?)));
        match parsed {
            Some((tenant, subject)) => self
                .entries
                .retain(|(t, s), _| !(tenant.is_none_or(|x| x == *t.as_uuid()) && subject.is_none_or(|x| x == *s))),
            None => self.entries.clear(),
        }
    }

    /// Keeps every instance current until `stop` resolves: run it next to the server.
    pub async fn follow(self, db: Database, stop: impl std::future::Future<Output = ()>) {
        let reload = move |what: Reload| {
            let standing = self.clone();
            async move {
                match what {
                    Reload::Payload(payload) => standing.forget(&payload),
                    Reload::All => standing.forget(""),
                }
                Ok::<(), DbError>(())
            }
        };
        vextrus_db::follow(db, STANDING_CHANNEL, Duration::from_secs(60), "standing", reload, stop).await;
    }
}

/// Announces (at commit) that the MFA policy of `tenant` changed: every member's standing there.
pub async fn announce_policy(tx: &mut impl Tx, tenant: TenantId) -> Result<(), DbError> {
    announce(tx, &format!("{tenant}:*")).await
}

/// Announces (at commit) that `user`'s second factor changed: their standing everywhere.
pub async fn announce_user(tx: &mut impl Tx, user: Uuid) -> Result<(), DbError> {
    announce(tx, &format!("*:{user}")).await
}

async fn announce(tx: &mut impl Tx, payload: &str) -> Result<(), DbError> {
    sqlx::query("SELECT pg_notify($1, $2)").bind(STANDING_CHANNEL).bind(payload).execute(tx.conn()).await?;
    Ok(())
}

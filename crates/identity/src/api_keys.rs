//! API keys: `vxk_<prefix>_<secret>`. The prefix (12 hex digits, public, unique) finds the key;
//! the secret (256 random bits) is kept only as its SHA-256, and shown once, on creation.
//! A key acts for its owner (a user or a service account) in one organization, with at most the
//! owner's current roles, further limited to the key's own permission list when it has one.

use std::net::IpAddr;
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
pub use ipnet::IpNet;
use uuid::Uuid;
use vextrus_access::{PermissionKey, Scope, Subject, SubjectKind};
use vextrus_db::{DbError, SystemTx, TenantId, Tx};

use crate::service::{random_token, sha256};
use crate::store::api_keys::{self as store, ApiKey, NewKeyRow};

pub const KEY_PREFIX: &str = "vxk_";
const PREFIX_HEX: usize = 12;
/// `last_used_at` is written at most this often per key, so a busy key does not write per request.
const TOUCH_EVERY: Duration = Duration::seconds(60);
/// The most networks one key may list.
pub const MAX_NETWORKS: usize = 50;

/// Whose key it is.
#[derive(Debug, Clone, Copy)]
pub enum Owner {
    User(Uuid),
    ServiceAccount(Uuid),
}

impl Owner {
    fn parts(self) -> (&'static str, Uuid) {
        match self {
            Owner::User(id) => ("user", id),
            Owner::ServiceAccount(id) => ("service_account", id),
        }
    }

    pub fn id(self) -> Uuid {
        self.parts().1
    }
}

#[derive(Debug)]
pub struct NewApiKey {
    pub name: String,
    pub permissions: Option<Vec<PermissionKey>>,
    /// The networks the key may be used from; absent: anywhere.
    pub allowed_cidrs: Option<Vec<IpNet>>,
    pub expires_at: Option<DateTime<Utc>>,
}

/// Reads a list of networks as CIDR (`10.0.0.0/8`, `2001:db8::/32`; a bare address is that one
/// host). An address with bits set beyond its prefix is refused rather than silently widened or
/// narrowed: `10.1.2.3/8` names no network. The error names the entry.
pub fn parse_networks(entries: &[impl AsRef<str>]) -> Result<Vec<IpNet>, (usize, String)> {
    if entries.is_empty() || entries.len() > MAX_NETWORKS {
        return Err((0, format!("list between 1 and {MAX_NETWORKS} networks")));
    }
    let mut networks = Vec::with_capacity(entries.len());
    for (i, entry) in entries.iter().enumerate() {
        let text = entry.as_ref().trim();
        let network = match text.parse::<IpNet>() {
            Ok(network) => network,
            Err(_) => match text.parse::<IpAddr>() {
                Ok(address) => IpNet::from(address),
                Err(_) => return Err((i, format!("{text:?} is not a network in CIDR notation (like 10.0.0.0/8)"))),
            },
        };
        if network.trunc() != network {
            return Err((i, format!("{text:?} has bits set beyond its prefix: did you mean {}?", network.trunc())));
        }
        networks.push(network);
    }
    Ok(networks)
}

/// Whether a client address falls in one of a key's networks. IPv4 clients that reach an IPv6
/// socket (`::ffff:10.0.0.1`) count as the IPv4 address they are.
fn admits(networks: &[String], client: Option<IpAddr>) -> bool {
    let Some(client) = client.map(|c| c.to_canonical()) else { return false };
    networks.iter().filter_map(|n| n.parse::<IpNet>().ok()).any(|n| n.contains(&client))
}

/// A created key and its secret, which is never shown again.
#[derive(Debug)]
pub struct Created {
    pub key: ApiKey,
    pub secret: String,
}

/// Creates a key of `owner`, who may hold at most `limits.api_keys_per_owner` working keys, in
/// an organization whose plan allows at most so many in all.
pub async fn create(
    tx: &mut impl Tx,
    tenant: TenantId,
    owner: Owner,
    new: NewApiKey,
    actor: vextrus_audit::Actor,
    limits: &vextrus_server::Limits,
) -> Result<Created, crate::IdentityError> {
    let (_, owner_id) = owner.parts();
    let max_active = limits.api_keys_per_owner;
    vextrus_db::limits::lock_count(tx, &format!("api_keys:{tenant}:{owner_id}")).await?;
    if store::count_active(tx, tenant, owner_id).await? >= i64::from(max_active) {
        return Err(crate::IdentityError::LimitReached("API keys per holder", max_active, "limits.api_keys_per_owner"));
    }
    crate::quota::admit_api_key(tx, tenant, limits.plan).await?;
    let mut bytes = [0u8; PREFIX_HEX / 2];
    getrandom::fill(&mut bytes).expect("the OS provides randomness");
    let prefix: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    let secret_part = random_token();
    let (owner_kind, owner_id) = owner.parts();
    let permissions: Option<Vec<String>> = new.permissions.map(|p| p.iter().map(|k| k.as_str().to_owned()).collect());
    let allowed_cidrs: Option<Vec<String>> = new.allowed_cidrs.map(|n| n.iter().map(IpNet::to_string).collect());
    let row = NewKeyRow {
        prefix: &prefix,
        secret_hash: &sha256(&secret_part),
        owner_kind,
        owner_id,
        name: &new.name,
        permissions: permissions.as_deref(),
        allowed_cidrs: allowed_cidrs.as_deref(),
        expires_at: new.expires_at,
    };
    let key = store::insert(tx, tenant, row).await?;
    let event = vextrus_audit::NewEvent::new(tenant, actor, "identity.api_key.create")
        .target(vextrus_audit::Target::new("api_key", key.id))
        .metadata(serde_json::json!({
            "prefix": key.prefix, "owner_kind": key.owner_kind, "owner_id": key.owner_id,
            "permissions": key.permissions, "allowed_cidrs": key.allowed_cidrs, "expires_at": key.expires_at,
        }));
    vextrus_audit::record(tx, event).await?;
    Ok(Created { key, secret: format!("{KEY_PREFIX}{prefix}_{secret_part}") })
}

pub async fn list(tx: &mut impl Tx, tenant: TenantId, owner: Owner) -> Result<Vec<ApiKey>, DbError> {
    store::list(tx, tenant, owner.id()).await
}

pub async fn revoke(
    tx: &mut impl Tx,
    tenant: TenantId,
    owner: Owner,
    id: Uuid,
    actor: vextrus_audit::Actor,
) -> Result<bool, DbError> {
    let revoked = store::revoke(tx, tenant, owner.id(), id).await?;
    if revoked {
        let event = vextrus_audit::NewEvent::new(tenant, actor, "identity.api_key.revoke")
            .target(vextrus_audit::Target::new("api_key", id));
        vextrus_audit::record(tx, event).await?;
    }
    Ok(revoked)
}

pub(crate) async fn revoke_all(tx: &mut impl Tx, tenant: TenantId, owner: Uuid) -> Result<(), DbError> {
    store::revoke_all(tx, tenant, owner).await
}

/// Why a presented key does not authenticate; every case answers the same 401.
#[derive(Debug, thiserror::Error)]
pub enum KeyRejected {
    #[error("malformed")]
    Malformed,
    #[error("unknown, wrong secret, revoked, expired, or its owner lost access")]
    Invalid,
    /// A good key, presented from outside its networks.
    #[error("used from an address outside the key's networks")]
    AddressNotAllowed,
    #[error(transparent)]
    Db(#[from] DbError),
}

/// A key that authenticated: whom it stands for, and what is checked on every use.
#[derive(Debug, Clone)]
pub struct Authenticated {
    pub subject: Subject,
    pub tenant: TenantId,
    prefix: String,
    networks: Option<Vec<String>>,
    expires_at: Option<DateTime<Utc>>,
}

impl Authenticated {
    /// Roughly what its strings and lists hold on the heap (for the cache's byte budget).
    fn heap_bytes(&self) -> usize {
        let list = |l: &[Box<str>]| l.iter().map(|s| s.len() + 16).sum::<usize>();
        let networks = self.networks.as_ref().map_or(0, |n| n.iter().map(|s| s.len() + 24).sum::<usize>());
        self.prefix.len()
            + networks * 2
            + list(&self.subject.roles)
            + self.subject.limit.as_deref().map_or(0, list)
            + self.subject.username.as_deref().map_or(0, str::len)
            + 128
    }
}

/// The subject a presented key stands for, presented from `client` (unknown: only keys without
/// networks work). Runs in a system transaction: the key names its organization only once it is
/// found.
pub async fn authenticate(
    tx: &mut SystemTx,
    presented: &str,
    client: Option<IpAddr>,
) -> Result<Authenticated, KeyRejected> {
    let rest = presented.strip_prefix(KEY_PREFIX).ok_or(KeyRejected::Malformed)?;
    let (prefix, secret) = rest.split_at_checked(PREFIX_HEX).ok_or(KeyRejected::Malformed)?;
    let secret = secret.strip_prefix('_').ok_or(KeyRejected::Malformed)?;
    if !prefix.bytes().all(|b| b.is_ascii_hexdigit()) || secret.is_empty() {
        return Err(KeyRejected::Malformed);
    }
    let key = store::for_auth(tx, prefix).await?.ok_or(KeyRejected::Invalid)?;
    // Comparing digests: timing can only tell how much of the digest of a guess matched.
    let now = Utc::now();
    let usable = key.secret_hash == sha256(secret)
        && key.revoked_at.is_none()
        && key.expires_at.is_none_or(|at| at > now)
        && key.owner_name.is_some();
    if !usable {
        return Err(KeyRejected::Invalid);
    }
    if let Some(networks) = &key.allowed_cidrs
        && !admits(networks, client)
    {
        return Err(KeyRejected::AddressNotAllowed);
    }
    let roles = vextrus_access::service::roles_of(tx, key.tenant_id, key.owner_id).await?;
    if roles.is_empty() {
        // The owner is no longer a member (or holds no role): the key died with that.
        return Err(KeyRejected::Invalid);
    }
    if key.last_used_at.is_none_or(|at| now - at > TOUCH_EVERY) {
        store::touch(tx, key.tenant_id, key.id).await?;
    }
    let kind = if key.owner_kind == "user" { SubjectKind::User } else { SubjectKind::ServiceAccount };
    let (prefix, networks, expires_at) = (prefix.to_owned(), key.allowed_cidrs.clone(), key.expires_at);
    let subject = Subject {
        kind,
        id: key.owner_id,
        scope: Scope::Tenant(key.tenant_id),
        roles: roles.into_iter().map(String::into_boxed_str).collect(),
        username: key.owner_name.map(Arc::from),
        session: None,
        limit: key.permissions.map(|p| p.into_iter().map(String::into_boxed_str).collect()),
        key_bounds: Some(Arc::new(vextrus_access::KeyBounds { networks: networks.clone(), expires_at })),
    };
    Ok(Authenticated { subject, tenant: key.tenant_id, prefix, networks, expires_at })
}

/// Where revocations are announced (payload `prefix:<prefix>` or `owner:<uuid>`), so that every
/// instance's [`KeyCache`] forgets the keys at once.
pub const CHANNEL: &str = "vextrus_api_keys";

/// Keys that authenticated in the last seconds, by the SHA-256 of the whole presented key: a
/// busy client (npm, CI) costs no database read per request. A revoked key is forgotten at
/// once (the revocation is announced on [`CHANNEL`]); anything else about a key's owner (a
/// role changed) shows within [`KeyCache::TTL`]. Expiry and networks are checked on every use.
#[derive(Debug, Clone)]
pub struct KeyCache(Arc<vextrus_db::Expiring<Vec<u8>, Authenticated>>);

impl Default for KeyCache {
    fn default() -> Self {
        // Keys are looked up by their digest; an entry is the subject and its networks.
        let weigh = |digest: &Vec<u8>, known: &Authenticated| {
            digest.len() + std::mem::size_of::<Authenticated>() + known.heap_bytes()
        };
        Self(Arc::new(vextrus_db::Expiring::new(Self::TTL, 16 << 20, weigh)))
    }
}

impl KeyCache {
    pub const TTL: std::time::Duration = std::time::Duration::from_secs(10);

    /// The subject of a presented key: from memory, or from the database (then remembered).
    pub async fn authenticate(
        &self,
        db: &vextrus_db::Database,
        presented: &str,
        client: Option<IpAddr>,
    ) -> Result<(Subject, TenantId), KeyRejected> {
        let digest = sha256(presented);
        if let Some(known) = self.0.get(&digest) {
            if known.expires_at.is_some_and(|at| at <= Utc::now()) {
                return Err(KeyRejected::Invalid);
            }
            if let Some(networks) = &known.networks
                && !admits(networks, client)
            {
                return Err(KeyRejected::AddressNotAllowed);
            }
            return Ok((known.subject, known.tenant));
        }
        let mut tx = db.system().await?;
        let found = authenticate(&mut tx, presented, client).await;
        tx.commit().await?;
        let found = found?;
        self.0.put(digest, found.clone());
        Ok((found.subject, found.tenant))
    }

    /// Forgets an owner's keys here at once (the notification reaches the other instances).
    pub fn forget_owner(&self, owner: Uuid) {
        self.0.retain(|_, k| k.subject.id != owner);
    }

    /// Forgets what a notification on [`CHANNEL`] names.
    pub fn forget(&self, payload: &str) {
        if let Some(prefix) = payload.strip_prefix("prefix:") {
            self.0.retain(|_, k| k.prefix != prefix);
        } else if let Some(owner) = payload.strip_prefix("owner:").and_then(|o| Uuid::parse_str(o).ok()) {
            self.forget_owner(owner);
        } else {
            self.0.clear();
        }
    }

    /// Follows revocations until `stop` resolves (and forgets everything when a notification
    /// may have been missed).
    pub async fn follow(self, db: vextrus_db::Database, stop: impl std::future::Future<Output = ()>) {
        let reload = |what: vextrus_db::Reload| {
            match what {
                vextrus_db::Reload::Payload(payload) => self.forget(&payload),
                vextrus_db::Reload::All => self.0.clear(),
            }
            std::future::ready(Ok(()))
        };
        vextrus_db::follow(db, CHANNEL, std::time::Duration::from_secs(60), "api_keys", reload, stop).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn networks_parse_strictly() {
        let ok = parse_networks(&["10.0.0.0/8", "192.168.1.7", "2001:db8::/32"]).unwrap();
        assert_eq!(
            ok.iter().map(ToString::to_string).collect::<Vec<_>>(),
            ["10.0.0.0/8", "192.168.1.7/32", "2001:db8::/32"]
        );
        let (at, message) = parse_networks(&["10.0.0.0/8", "10.1.2.3/8"]).unwrap_err();
        assert_eq!(at, 1);
        assert!(message.contains("did you mean 10.0.0.0/8"), "{message}");
        assert_eq!(parse_networks(&["10.0.0.0/8", "ten"]).unwrap_err().0, 1);
        assert!(parse_networks(&["10.0.0.0/33"]).is_err());
        assert!(parse_networks(&[] as &[&str]).is_err());
    }

    #[test]
    fn a_client_must_fall_in_a_network() {
        let networks = vec!["10.0.0.0/8".to_owned(), "2001:db8::/32".to_owned()];
        let at = |s: &str| Some(s.parse::<IpAddr>().unwrap());
        assert!(admits(&networks, at("10.200.0.1")));
        assert!(admits(&networks, at("::ffff:10.0.0.1")));
        assert!(admits(&networks, at("2001:db8::1")));
        assert!(!admits(&networks, at("11.0.0.1")));
        assert!(!admits(&networks, at("127.0.0.1")));
        assert!(!admits(&networks, None));
    }
}

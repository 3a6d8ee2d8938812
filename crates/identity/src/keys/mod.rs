//! Signing keys: generation, sealing, rotation, and the in-memory key ring that signs and
//! verifies without touching the database.
//!
//! Rotation publishes first: a new key is in the JWKS from creation but signs only from
//! `activates_at` (by default a few minutes later), so every verifier that refreshes its JWKS more
//! often than that knows the key before the first token it signs. The previous key stays
//! published until the tokens it signed have expired.

pub mod jwt;
pub mod master;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Duration, Utc};
use ring::rand::SystemRandom;
use ring::signature::{Ed25519KeyPair, KeyPair};
use serde::Serialize;
use vextrus_db::{Database, DbError, SystemTx, Tx};

pub use jwt::{Audience, Claims, LEEWAY_SECS, TokenError};
pub use master::{MasterKey, MasterKeyError};

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("signing key {kid}: {source}")]
    Sealed { kid: String, source: MasterKeyError },
    #[error("signing key {0} is not a valid Ed25519 key")]
    Invalid(String),
    #[error("no signing key is active yet")]
    NoActiveKey,
}

/// A published key, as the JWKS shows it (RFC 8037 OKP).
#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct Jwk {
    pub kty: &'static str,
    pub crv: &'static str,
    /// The public key, base64url.
    pub x: String,
    pub kid: String,
    #[serde(rename = "use")]
    pub use_: &'static str,
    pub alg: &'static str,
}

impl Jwk {
    fn ed25519(kid: String, public_key: &[u8]) -> Self {
        Jwk { kty: "OKP", crv: "Ed25519", x: URL_SAFE_NO_PAD.encode(public_key), kid, use_: "sig", alg: "EdDSA" }
    }
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Jwks {
    pub keys: Vec<Jwk>,
}

struct SigningKey {
    kid: String,
    activates_at: DateTime<Utc>,
    pair: Ed25519KeyPair,
}

#[derive(Default)]
struct Loaded {
    /// Newest activation first.
    signing: Vec<SigningKey>,
    public: HashMap<String, Vec<u8>>,
}

/// Tokens whose signature and claims were checked, by their exact text: a client presents the
/// same access token many times during its life, and an Ed25519 verification costs tens of
/// microseconds. An entry is used only until the token's `exp`, and the whole cache is dropped
/// whenever the set of published keys changes (a withdrawn key invalidates its tokens at once).
#[derive(Default)]
struct Verified {
    entries: HashMap<Box<str>, Arc<Claims>>,
}

/// Bounds the cache; when full, expired entries go, and if that is not enough, all of them.
const VERIFIED_CAPACITY: usize = 100_000;

/// Cheap to clone; shared by the HTTP handlers and the refresher.
#[derive(Clone)]
pub struct KeyRing {
    master: Arc<MasterKey>,
    loaded: Arc<RwLock<Loaded>>,
    verified: Arc<RwLock<Verified>>,
    /// Changes whenever the verified-token cache is dropped; unique across every key ring of the
    /// process, so a copy of verification results stamped with it belongs to this ring's
    /// current keys and to nothing else.
    generation: Arc<AtomicU64>,
}

static GENERATIONS: AtomicU64 = AtomicU64::new(1);

fn next_generation() -> u64 {
    GENERATIONS.fetch_add(1, Ordering::Relaxed)
}

impl std::fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kids: Vec<String> = self.read().public.keys().cloned().collect();
        f.debug_struct("KeyRing").field("published", &kids).finish()
    }
}

#[derive(sqlx::FromRow)]
struct KeyRow {
    kid: String,
    public_key: Vec<u8>,
    sealed_pkcs8: Vec<u8>,
    activates_at: DateTime<Utc>,
}

impl KeyRing {
    pub fn new(master: MasterKey) -> Self {
        Self {
            master: Arc::new(master),
            loaded: Arc::default(),
            verified: Arc::default(),
            generation: Arc::new(AtomicU64::new(next_generation())),
        }
    }

    /// See the `generation` field: copies of verification results made under another
    /// generation must be discarded.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    pub fn master(&self) -> &MasterKey {
        &self.master
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Loaded> {
        self.loaded.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Creates the first key if there is none (immediately active), then loads.
    pub async fn initialise(&self, db: &Database) -> Result<(), KeyError> {
        let mut tx = db.system().await?;
        // One instance creates it; the others wait on the lock and find it.
        sqlx::query("SELECT pg_advisory_xact_lock(hashtext('vextrus.signing_keys'))")
            .execute(tx.conn())
            .await
            .map_err(DbError::from)?;
        let any: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM identity.signing_keys)")
            .fetch_one(tx.conn())
            .await
            .map_err(DbError::from)?;
        if !any {
            let kid = create_key(&mut tx, &self.master, Utc::now()).await?;
            tracing::info!(%kid, "created the first token signing key");
        }
        tx.commit().await?;
        self.reload(db).await
    }

    /// Reads every published key; unseals the ones that may sign.
    pub async fn reload(&self, db: &Database) -> Result<(), KeyError> {
        let mut tx = db.system().await?;
        let rows: Vec<KeyRow> = sqlx::query_as(
            "SELECT kid, public_key, sealed_pkcs8, activates_at FROM identity.signing_keys
              WHERE expires_at IS NULL OR expires_at > now() ORDER BY activates_at DESC",
        )
        .fetch_all(tx.conn())
        .await
        .map_err(DbError::from)?;
        tx.commit().await?;
        let mut next = Loaded::default();
        for row in rows {
            let pkcs8 = self
                .master
                .open(&row.kid, &row.sealed_pkcs8)
                .map_err(|source| KeyError::Sealed { kid: row.kid.clone(), source })?;
            let pair = Ed25519KeyPair::from_pkcs8(&pkcs8).map_err(|_| KeyError::Invalid(row.kid.clone()))?;
            if pair.public_key().as_ref() != row.public_key.as_slice() {
                return Err(KeyError::Invalid(row.kid));
            }
            next.public.insert(row.kid.clone(), row.public_key);
            next.signing.push(SigningKey { kid: row.kid, activates_at: row.activates_at, pair });
        }
        let mut loaded = self.loaded.write().unwrap_or_else(|e| e.into_inner());
        if loaded.public != next.public {
            self.verified.write().unwrap_or_else(|e| e.into_inner()).entries.clear();
            self.generation.store(next_generation(), Ordering::Release);
        }
        *loaded = next;
        Ok(())
    }

    /// Signs with the newest key whose activation time has come.
    pub fn sign(&self, claims: &Claims) -> Result<String, KeyError> {
        let loaded = self.read();
        let now = Utc::now();
        let key = loaded.signing.iter().find(|k| k.activates_at <= now).ok_or(KeyError::NoActiveKey)?;
        Ok(jwt::sign(&key.kid, &key.pair, claims))
    }

    /// Signs arbitrary bytes (audit checkpoints) with the current signing key: its `kid` and the
    /// Ed25519 signature, verifiable with the published JWKS.
    pub fn sign_bytes(&self, message: &[u8]) -> Result<(String, Vec<u8>), KeyError> {
        let loaded = self.read();
        let now = Utc::now();
        let key = loaded.signing.iter().find(|k| k.activates_at <= now).ok_or(KeyError::NoActiveKey)?;
        Ok((key.kid.clone(), key.pair.sign(message).as_ref().to_vec()))
    }

    /// Verifies from memory only: no database read, and no signature check for a token that
    /// was verified before and has not expired.
    pub fn verify(&self, token: &str, issuer: &str, audience: &str) -> Result<Arc<Claims>, TokenError> {
        let now = Utc::now().timestamp();
        let cached = self.verified.read().unwrap_or_else(|e| e.into_inner()).entries.get(token).cloned();
        if let Some(claims) = cached {
            if claims.exp + jwt::LEEWAY_SECS <= now {
                return Err(TokenError::Expired);
            }
            if claims.iss != issuer || !claims.aud.contains(audience) {
                return Err(TokenError::WrongAudience);
            }
            return Ok(claims);
        }
        let claims = {
            let loaded = self.read();
            Arc::new(jwt::verify(token, |kid| loaded.public.get(kid).map(Vec::as_slice), issuer, audience, now)?)
        };
        let mut verified = self.verified.write().unwrap_or_else(|e| e.into_inner());
        if verified.entries.len() >= VERIFIED_CAPACITY {
            verified.entries.retain(|_, c| c.exp + jwt::LEEWAY_SECS > now);
            if verified.entries.len() >= VERIFIED_CAPACITY {
                verified.entries.clear();
            }
        }
        verified.entries.insert(token.into(), claims.clone());
        Ok(claims)
    }

    pub fn jwks(&self) -> Jwks {
        let loaded = self.read();
        let mut keys: Vec<Jwk> = loaded.public.iter().map(|(kid, x)| Jwk::ed25519(kid.clone(), x)).collect();
        keys.sort_by(|a, b| a.kid.cmp(&b.kid));
        Jwks { keys }
    }
}

async fn create_key(tx: &mut SystemTx, master: &MasterKey, activates_at: DateTime<Utc>) -> Result<String, KeyError> {
    let kid = format!("{}-{}", Utc::now().format("%Y%m%d"), &uuid::Uuid::now_v7().simple().to_string()[20..]);
    let pkcs8 = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).map_err(|_| KeyError::Invalid(kid.clone()))?;
    let pair = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).map_err(|_| KeyError::Invalid(kid.clone()))?;
    sqlx::query(
        "INSERT INTO identity.signing_keys (kid, public_key, sealed_pkcs8, activates_at) VALUES ($1, $2, $3, $4)",
    )
    .bind(&kid)
    .bind(pair.public_key().as_ref())
    .bind(master.seal(&kid, pkcs8.as_ref()))
    .bind(activates_at)
    .execute(tx.conn())
    .await
    .map_err(DbError::from)?;
    Ok(kid)
}

/// Every key that ever signed, retired ones included: what verifies audit checkpoints sealed
/// long ago (tokens are verified only with [`KeyRing::jwks`]).
pub async fn every_public_key(tx: &mut SystemTx) -> Result<Jwks, KeyError> {
    let rows: Vec<(String, Vec<u8>)> = sqlx::query_as("SELECT kid, public_key FROM identity.signing_keys ORDER BY kid")
        .fetch_all(tx.conn())
        .await
        .map_err(DbError::from)?;
    Ok(Jwks { keys: rows.into_iter().map(|(kid, x)| Jwk::ed25519(kid, &x)).collect() })
}

/// A key as `vextrus admin keys list` shows it.
#[derive(Debug, Clone, sqlx::FromRow, Serialize)]
pub struct KeyInfo {
    pub kid: String,
    pub created_at: DateTime<Utc>,
    pub activates_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
}

pub async fn list_keys(tx: &mut SystemTx) -> Result<Vec<KeyInfo>, KeyError> {
    Ok(sqlx::query_as(
        "SELECT kid, created_at, activates_at, expires_at FROM identity.signing_keys ORDER BY activates_at",
    )
    .fetch_all(tx.conn())
    .await
    .map_err(DbError::from)?)
}

/// Adds the next key, signing from `now + publish_lead`; the keys it replaces leave the JWKS
/// once the last token they can sign has expired (`token_lifetime` after that, plus leeway).
pub async fn rotate(
    tx: &mut SystemTx,
    master: &MasterKey,
    publish_lead: Duration,
    token_lifetime: Duration,
    actor: vextrus_audit::Actor,
) -> Result<KeyInfo, KeyError> {
    let activates_at = Utc::now() + publish_lead;
    let retire_at = activates_at + token_lifetime + Duration::seconds(jwt::LEEWAY_SECS);
    sqlx::query("UPDATE identity.signing_keys SET expires_at = $1 WHERE expires_at IS NULL AND activates_at < $2")
        .bind(retire_at)
        .bind(activates_at)
        .execute(tx.conn())
        .await
        .map_err(DbError::from)?;
    let kid = create_key(tx, master, activates_at).await?;
    let info = list_keys(tx).await?.into_iter().find(|k| k.kid == kid).ok_or(KeyError::NoActiveKey)?;
    let event = vextrus_audit::NewEvent::new(vextrus_db::TenantId::PLATFORM, actor, "identity.signing_key.rotate")
        .target(vextrus_audit::Target::new("signing_key", &kid))
        .metadata(serde_json::json!({"activates_at": activates_at, "previous_keys_retire_at": retire_at}));
    vextrus_audit::record(tx, event).await?;
    Ok(info)
}

/// Audit checkpoints are signed with the token key, so the published keys verify them.
impl vextrus_audit::Signer for KeyRing {
    fn sign(&self, message: &[u8]) -> Result<(String, Vec<u8>), vextrus_audit::checkpoint::BoxError> {
        Ok(self.sign_bytes(message)?)
    }
}

//! Registry signatures, as npm verifies them (`npm audit signatures`): each version hosted here
//! carries `dist.signatures: [{keyid, sig}]`, an ECDSA P-256 / SHA-256 signature (ASN.1 DER,
//! base64) over `${name}@${version}:${integrity}`, made when it is published; `/-/npm/v1/keys`
//! lists the public keys (SPKI DER, base64) with their `expires`. Rotation retires the current
//! key (it stays listed, with the time it expired) and makes a new one; running instances pick
//! it up from the announcement.

use std::sync::{Arc, RwLock};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use chrono::{DateTime, Utc};
use ring::rand::SystemRandom;
use ring::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair, KeyPair as _};
use serde::Serialize;
use serde_json::{Value, json};
use vextrus_db::{Database, DbError, Tx as _};
use vextrus_identity::keys::KeyRing;

/// What the master key seals the private keys under.
const SEAL_CONTEXT: &str = "registry-signing-key";
/// The DER prefix of a P-256 SubjectPublicKeyInfo, before the 65-byte uncompressed point.
const P256_SPKI_PREFIX: [u8; 26] = [
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce,
    0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
];

/// A public key as `/-/npm/v1/keys` lists it.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct PublicKey {
    pub expires: Option<String>,
    pub keyid: String,
    pub keytype: String,
    pub scheme: String,
    pub key: String,
}

#[derive(Debug, thiserror::Error)]
pub enum SigningError {
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("a registry signing key cannot be opened: {0}")]
    Key(String),
}

#[derive(Default)]
struct Keys {
    current: Option<(String, Arc<EcdsaKeyPair>)>,
    public: Vec<PublicKey>,
}

/// The registry's signing keys; cheap to clone.
#[derive(Clone)]
pub struct Signing {
    ring: KeyRing,
    keys: Arc<RwLock<Keys>>,
}

impl std::fmt::Debug for Signing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Signing")
    }
}

fn spki(public_point: &[u8]) -> Vec<u8> {
    [&P256_SPKI_PREFIX[..], public_point].concat()
}

fn keyid(spki: &[u8]) -> String {
    format!("SHA256:{}", STANDARD_NO_PAD.encode(ring::digest::digest(&ring::digest::SHA256, spki)))
}

/// The message a version's signature covers.
pub fn message(name: &str, version: &str, integrity: &str) -> String {
    format!("{name}@{version}:{integrity}")
}

#[derive(sqlx::FromRow)]
struct KeyRow {
    keyid: String,
    private_sealed: Vec<u8>,
    public_spki: Vec<u8>,
    expires_at: Option<DateTime<Utc>>,
}

impl Signing {
    /// Keys sealed under `ring`'s master key; call [`Signing::initialise`] before use.
    pub fn new(ring: KeyRing) -> Self {
        Self { ring, keys: Arc::default() }
    }

    /// Loads the keys, making the first one if there is none.
    pub async fn initialise(&self, db: &Database) -> Result<(), SigningError> {
        self.reload(db).await?;
        if self.keys.read().unwrap_or_else(|e| e.into_inner()).current.is_none() {
            // Another instance starting at the same moment may win; then its key is the one.
            let _ = create(db, &self.ring).await;
            self.reload(db).await?;
        }
        Ok(())
    }

    pub async fn reload(&self, db: &Database) -> Result<(), SigningError> {
        let mut tx = db.system().await?;
        let rows: Vec<KeyRow> = sqlx::query_as(
            "SELECT keyid, private_sealed, public_spki, expires_at FROM registry.signing_keys ORDER BY created_at",
        )
        .fetch_all(tx.conn())
        .await
        .map_err(DbError::from)?;
        tx.commit().await?;
        let mut keys = Keys::default();
        for row in rows {
            if row.expires_at.is_none() {
                let pkcs8 = self
                    .ring
                    .master()
                    .open(SEAL_CONTEXT, &row.private_sealed)
                    .map_err(|e| SigningError::Key(e.to_string()))?;
                let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &pkcs8, &SystemRandom::new())
                    .map_err(|e| SigningError::Key(e.to_string()))?;
                keys.current = Some((row.keyid.clone(), Arc::new(pair)));
            }
            keys.public.push(PublicKey {
                expires: row.expires_at.map(|at| at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)),
                keyid: row.keyid,
                keytype: "ecdsa-sha2-nistp256".into(),
                scheme: "ecdsa-sha2-nistp256".into(),
                key: STANDARD.encode(&row.public_spki),
            });
        }
        *self.keys.write().unwrap_or_else(|e| e.into_inner()) = keys;
        Ok(())
    }

    /// `dist.signatures` for a version; `None` before a key is loaded.
    pub fn sign(&self, name: &str, version: &str, integrity: &str) -> Option<Value> {
        let keys = self.keys.read().unwrap_or_else(|e| e.into_inner());
        let (keyid, pair) = keys.current.as_ref()?;
        let signature = pair.sign(&SystemRandom::new(), message(name, version, integrity).as_bytes()).ok()?;
        Some(json!([{"keyid": keyid, "sig": STANDARD.encode(signature.as_ref())}]))
    }

    /// The platform's master key (which seals the registry's secrets).
    pub fn master(&self) -> &vextrus_identity::keys::MasterKey {
        self.ring.master()
    }

    /// Every key that ever signed here, retired ones with their `expires`.
    pub fn public_keys(&self) -> Vec<PublicKey> {
        self.keys.read().unwrap_or_else(|e| e.into_inner()).public.clone()
    }
}

async fn create(db: &Database, ring: &KeyRing) -> Result<String, SigningError> {
    let rng = SystemRandom::new();
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &rng)
        .map_err(|e| SigningError::Key(e.to_string()))?;
    let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, pkcs8.as_ref(), &rng)
        .map_err(|e| SigningError::Key(e.to_string()))?;
    let spki = spki(pair.public_key().as_ref());
    let id = keyid(&spki);
    let mut tx = db.system().await?;
    sqlx::query("INSERT INTO registry.signing_keys (keyid, private_sealed, public_spki) VALUES ($1, $2, $3)")
        .bind(&id)
        .bind(ring.master().seal(SEAL_CONTEXT, pkcs8.as_ref()))
        .bind(&spki)
        .execute(tx.conn())
        .await
        .map_err(DbError::from)?;
    crate::cache::announce(&mut tx, "signing").await?;
    tx.commit().await?;
    Ok(id)
}

/// Retires the current key (it stays listed, expiring now) and makes a new one; running
/// instances switch when the announcement reaches them. Answers the new key's id.
pub async fn rotate(db: &Database, ring: &KeyRing) -> Result<String, SigningError> {
    let mut tx = db.system().await?;
    sqlx::query("UPDATE registry.signing_keys SET expires_at = now() WHERE expires_at IS NULL")
        .execute(tx.conn())
        .await
        .map_err(DbError::from)?;
    tx.commit().await?;
    create(db, ring).await
}

/// Signs the versions published before this registry signed anything.
pub async fn sign_unsigned(db: &Database, signing: &Signing) -> Result<usize, DbError> {
    let mut tx = db.system().await?;
    let rows: Vec<(vextrus_db::TenantId, String, String, String)> = sqlx::query_as(
        "SELECT tenant_id, name, version, integrity FROM registry.versions WHERE signatures IS NULL LIMIT 10000",
    )
    .fetch_all(tx.conn())
    .await?;
    let mut signed = 0;
    for (tenant, name, version, integrity) in &rows {
        let Some(signatures) = signing.sign(name, version, integrity) else { break };
        sqlx::query("UPDATE registry.versions SET signatures = $4 WHERE tenant_id = $1 AND name = $2 AND version = $3")
            .bind(tenant)
            .bind(name)
            .bind(version)
            .bind(signatures)
            .execute(tx.conn())
            .await?;
        crate::cache::announce_package(&mut tx, name).await?;
        signed += 1;
    }
    tx.commit().await?;
    Ok(signed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_spki_and_signatures_verify() {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &rng).unwrap();
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, pkcs8.as_ref(), &rng).unwrap();
        let spki = spki(pair.public_key().as_ref());
        assert_eq!(spki.len(), 91);
        assert!(keyid(&spki).starts_with("SHA256:") && keyid(&spki).len() == 7 + 43);
        let msg = message("@vextrus/kernel", "1.0.0", "sha512-abc");
        let sig = pair.sign(&rng, msg.as_bytes()).unwrap();
        let public = ring::signature::UnparsedPublicKey::new(&ring::signature::ECDSA_P256_SHA256_ASN1, &spki[26..]);
        assert!(public.verify(msg.as_bytes(), sig.as_ref()).is_ok());
        assert!(public.verify(b"@vextrus/kernel@1.0.1:sha512-abc", sig.as_ref()).is_err());
    }
}

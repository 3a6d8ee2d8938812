//! The master key: 256 bits that seal the signing keys (AES-256-GCM). Given as 64 hex digits
//! (`VEXTRUS_MASTER_KEY_FILE`); in embedded mode generated into the data directory.

use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};

/// Never printed; `Debug` is redacted.
pub struct MasterKey(LessSafeKey);

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey([redacted])")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum MasterKeyError {
    #[error("the master key must be 64 hexadecimal digits (256 bits)")]
    Malformed,
    #[error("a sealed key does not open with this master key (wrong VEXTRUS_MASTER_KEY, or tampered data)")]
    WrongKey,
}

impl MasterKey {
    pub fn from_hex(text: &str) -> Result<Self, MasterKeyError> {
        let text = text.trim();
        if text.len() != 64 {
            return Err(MasterKeyError::Malformed);
        }
        let mut bytes = [0u8; 32];
        for (i, chunk) in text.as_bytes().chunks(2).enumerate() {
            let pair = std::str::from_utf8(chunk).map_err(|_| MasterKeyError::Malformed)?;
            bytes[i] = u8::from_str_radix(pair, 16).map_err(|_| MasterKeyError::Malformed)?;
        }
        let key = UnboundKey::new(&AES_256_GCM, &bytes).map_err(|_| MasterKeyError::Malformed)?;
        Ok(Self(LessSafeKey::new(key)))
    }

    /// A new random key, as the hex text to store.
    pub fn generate_hex() -> String {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes).expect("the OS provides randomness");
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// `nonce || ciphertext || tag`; `context` (the key id) is authenticated, so a sealed key
    /// cannot be moved to another row.
    pub fn seal(&self, context: &str, plaintext: &[u8]) -> Vec<u8> {
        let mut nonce = [0u8; NONCE_LEN];
        getrandom::fill(&mut nonce).expect("the OS provides randomness");
        let mut sealed = plaintext.to_vec();
        self.0
            .seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::from(context.as_bytes()), &mut sealed)
            .expect("AES-GCM sealing of a small buffer cannot fail");
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        out
    }

    pub fn open(&self, context: &str, sealed: &[u8]) -> Result<Vec<u8>, MasterKeyError> {
        if sealed.len() < NONCE_LEN {
            return Err(MasterKeyError::WrongKey);
        }
        let (nonce, ciphertext) = sealed.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| MasterKeyError::WrongKey)?;
        let mut buffer = ciphertext.to_vec();
        let plain = self
            .0
            .open_in_place(nonce, Aad::from(context.as_bytes()), &mut buffer)
            .map_err(|_| MasterKeyError::WrongKey)?;
        Ok(plain.to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_and_open() {
        let key = MasterKey::from_hex(&MasterKey::generate_hex()).unwrap();
        let sealed = key.seal("kid-1", b"secret pkcs8");
        assert_eq!(key.open("kid-1", &sealed).unwrap(), b"secret pkcs8");
        assert!(key.open("kid-2", &sealed).is_err(), "bound to its key id");
        let other = MasterKey::from_hex(&MasterKey::generate_hex()).unwrap();
        assert!(other.open("kid-1", &sealed).is_err());
        let mut tampered = sealed.clone();
        tampered[20] ^= 1;
        assert!(key.open("kid-1", &tampered).is_err());
        assert!(MasterKey::from_hex("abc").is_err());
        assert!(MasterKey::from_hex(&"zz".repeat(32)).is_err());
        assert_eq!(format!("{key:?}"), "MasterKey([redacted])");
    }
}

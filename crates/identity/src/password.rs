//! Passwords: NIST SP 800-63B rules (8–128 characters, no composition rules, not one of the
//! 10,000 most common) and argon2id with OWASP's parameters (19 MiB, 2 iterations, 1 lane).
//! bcrypt hashes (`$2a$`, `$2b$`, `$2y$`: accounts imported from a Verdaccio htpasswd file) are
//! accepted until their first successful sign-in replaces them with argon2id.

use std::collections::HashSet;
use std::sync::OnceLock;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

const COMMON: &str = include_str!("../data/common-passwords.txt");

/// A password that satisfies the policy. Never printed.
pub struct Password(String);

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password([redacted])")
    }
}

impl Password {
    pub fn parse(s: &str) -> Result<Self, String> {
        let length = s.chars().count();
        if length < 8 {
            return Err("must be at least 8 characters".into());
        }
        if length > 128 {
            return Err("must be at most 128 characters".into());
        }
        if is_common(s) {
            return Err("is one of the most common passwords; choose another".into());
        }
        Ok(Self(s.to_owned()))
    }

    pub fn hash(&self) -> String {
        let mut bytes = [0u8; 16];
        getrandom::fill(&mut bytes).expect("the OS provides randomness");
        let salt = SaltString::encode_b64(&bytes).expect("16 bytes make a valid salt");
        hasher().hash_password(self.0.as_bytes(), &salt).expect("argon2 with valid parameters").to_string()
    }
}

impl Password {
    /// [`Password::hash`] off the async workers (see [`off_the_workers`]).
    pub async fn hash_async(&self) -> String {
        let password = Password(self.0.clone());
        off_the_workers(move || password.hash()).await
    }
}

/// Runs argon2 or bcrypt (tens of milliseconds of CPU each) on the blocking pool, at most as
/// many at once as there are cores: a storm of sign-ins waits its turn instead of stalling the
/// async workers that serve every other request.
async fn off_the_workers<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> T {
    static SLOTS: OnceLock<tokio::sync::Semaphore> = OnceLock::new();
    let slots = SLOTS.get_or_init(|| {
        tokio::sync::Semaphore::new(std::thread::available_parallelism().map_or(2, std::num::NonZero::get))
    });
    let _slot = slots.acquire().await.expect("the semaphore is never closed");
    tokio::task::spawn_blocking(work).await.expect("password hashing does not panic")
}

/// [`verify`] off the async workers.
pub async fn verify_async(candidate: &str, stored: Option<&str>) -> bool {
    let (candidate, stored) = (candidate.to_owned(), stored.map(str::to_owned));
    off_the_workers(move || verify(&candidate, stored.as_deref())).await
}

/// [`rehash`] off the async workers.
pub async fn rehash_async(candidate: &str) -> String {
    let candidate = candidate.to_owned();
    off_the_workers(move || rehash(&candidate)).await
}

fn is_common(s: &str) -> bool {
    static LIST: OnceLock<HashSet<&'static str>> = OnceLock::new();
    LIST.get_or_init(|| COMMON.lines().collect()).contains(s.to_lowercase().as_str())
}

fn hasher() -> Argon2<'static> {
    let params = Params::new(19 * 1024, 2, 1, None).expect("OWASP parameters are valid");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Whether a stored hash is an imported bcrypt one.
pub fn is_bcrypt(stored: &str) -> bool {
    ["$2a$", "$2b$", "$2y$"].iter().any(|p| stored.starts_with(p))
}

/// Whether a stored hash should be replaced by argon2id at the next successful sign-in.
pub fn needs_rehash(stored: &str) -> bool {
    !stored.starts_with("$argon2id$v=19$m=19456,t=2,p=1$")
}

/// The argon2id hash of a password that already proved itself (an imported account's, which
/// may predate the policy).
pub fn rehash(candidate: &str) -> String {
    Password(candidate.to_owned()).hash()
}

/// Checks `candidate` against a stored PHC hash. With no hash (unknown user) it verifies against
/// a fixed dummy hash, so that "no such user" costs the same time as "wrong password".
pub fn verify(candidate: &str, stored: Option<&str>) -> bool {
    static DUMMY: OnceLock<String> = OnceLock::new();
    let dummy = DUMMY.get_or_init(|| Password("dummy password for timing".into()).hash());
    let (hash, real) = match stored {
        Some(h) => (h, true),
        None => (dummy.as_str(), false),
    };
    if is_bcrypt(hash) {
        return bcrypt::verify(candidate, hash).unwrap_or(false) && real;
    }
    let Ok(parsed) = PasswordHash::new(hash) else { return false };
    hasher().verify_password(candidate.as_bytes(), &parsed).is_ok() && real
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy() {
        assert!(Password::parse("short").is_err());
        assert!(Password::parse(&"x".repeat(129)).is_err());
        assert!(Password::parse(&"ক".repeat(8)).is_ok(), "length counts characters, not bytes");
        for common in ["password", "12345678", "Password", "iloveyou", "baseball"] {
            assert!(Password::parse(common).is_err(), "{common}");
        }
        assert!(Password::parse("correct horse battery staple").is_ok());
        assert_eq!(COMMON.lines().count(), 10_001);
    }

    #[test]
    fn hash_and_verify() {
        let p = Password::parse("Dhaka-Traders-2026").unwrap();
        let hash = p.hash();
        assert!(hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{hash}");
        assert!(verify("Dhaka-Traders-2026", Some(&hash)));
        assert!(!verify("dhaka-traders-2026", Some(&hash)));
        assert!(!verify("dummy password for timing", None), "the dummy never lets anyone in");
        assert!(!format!("{p:?}").contains("Dhaka"));
    }

    #[test]
    fn imported_bcrypt_hashes_verify_until_rehashed() {
        // `htpasswd -bnB rahim Padma-River-1971`, as Verdaccio writes it.
        let stored = bcrypt::hash_with_result("Padma-River-1971", 4).unwrap().format_for_version(bcrypt::Version::TwoY);
        assert!(is_bcrypt(&stored) && needs_rehash(&stored));
        assert!(verify("Padma-River-1971", Some(&stored)));
        assert!(!verify("padma-river-1971", Some(&stored)));
        let replaced = rehash("Padma-River-1971");
        assert!(!needs_rehash(&replaced) && verify("Padma-River-1971", Some(&replaced)));
    }
}

//! TOTP (RFC 6238 over RFC 4226): HMAC-SHA1, 30-second steps, 6 digits — what every
//! authenticator app speaks. One step of clock drift is accepted either way; a step already
//! used is refused, so a code cannot be replayed.

use ring::hmac;

pub const STEP_SECS: i64 = 30;
const DIGITS: u32 = 6;

/// A new 160-bit shared secret (the size RFC 4226 recommends).
pub fn generate_secret() -> [u8; 20] {
    let mut secret = [0u8; 20];
    getrandom::fill(&mut secret).expect("the OS provides randomness");
    secret
}

/// RFC 4648 base32 without padding: how authenticator apps take the secret.
pub fn base32(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut out = String::with_capacity(bytes.len().div_ceil(5) * 8);
    let (mut buffer, mut bits) = (0u32, 0u32);
    for &byte in bytes {
        buffer = (buffer << 8) | u32::from(byte);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(ALPHABET[((buffer >> bits) & 31) as usize] as char);
        }
    }
    if bits > 0 {
        out.push(ALPHABET[((buffer << (5 - bits)) & 31) as usize] as char);
    }
    out
}

/// Decodes RFC 4648 base32 (padding and case ignored); `None` on a stray character.
pub fn from_base32(text: &str) -> Option<Vec<u8>> {
    let (mut buffer, mut bits, mut out) = (0u32, 0u32, Vec::new());
    for c in text.trim_end_matches('=').bytes() {
        let value = match c.to_ascii_uppercase() {
            c @ b'A'..=b'Z' => c - b'A',
            c @ b'2'..=b'7' => c - b'2' + 26,
            _ => return None,
        };
        buffer = (buffer << 5) | u32::from(value);
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((buffer >> bits) as u8);
        }
    }
    Some(out)
}

/// The code for a time step.
pub fn code_at(secret: &[u8], step: i64) -> u32 {
    let key = hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, secret);
    let mac = hmac::sign(&key, &(step as u64).to_be_bytes());
    let mac = mac.as_ref();
    let offset = usize::from(mac[mac.len() - 1] & 0x0f);
    let binary = u32::from_be_bytes([mac[offset] & 0x7f, mac[offset + 1], mac[offset + 2], mac[offset + 3]]);
    binary % 10u32.pow(DIGITS)
}

pub fn step_of(unix_secs: i64) -> i64 {
    unix_secs.div_euclid(STEP_SECS)
}

/// The step a presented code matches, if it matches one near `now` that is newer than
/// `last_used`.
pub fn verify(secret: &[u8], presented: &str, unix_secs: i64, last_used: i64) -> Option<i64> {
    let presented = presented.trim();
    if presented.len() != DIGITS as usize || !presented.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let presented: u32 = presented.parse().ok()?;
    let now = step_of(unix_secs);
    // Every candidate is computed, so timing says nothing about which step matched.
    let mut matched = None;
    for step in [now - 1, now, now + 1] {
        if code_at(secret, step) == presented && step > last_used && matched.is_none() {
            matched = Some(step);
        }
    }
    matched
}

/// The `otpauth://` URI that authenticator apps read from a QR code.
pub fn otpauth_uri(issuer: &str, account: &str, secret_base32: &str) -> String {
    let enc = |s: &str| {
        s.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (b as char).to_string(),
                _ => format!("%{b:02X}"),
            })
            .collect::<String>()
    };
    format!(
        "otpauth://totp/{}:{}?secret={secret_base32}&issuer={}&algorithm=SHA1&digits={DIGITS}&period={STEP_SECS}",
        enc(issuer),
        enc(account),
        enc(issuer)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 Appendix B (SHA-1 rows), last six digits.
    #[test]
    fn rfc_6238_vectors() {
        let secret = b"12345678901234567890";
        for (time, code) in [
            (59, 287_082),
            (1_111_111_109, 81_804),
            (1_111_111_111, 50_471),
            (1_234_567_890, 5_924),
            (2_000_000_000, 279_037),
            (20_000_000_000, 353_130),
        ] {
            assert_eq!(code_at(secret, step_of(time)), code, "t={time}");
        }
    }

    #[test]
    fn drift_and_replay() {
        let secret = generate_secret();
        let now = 1_700_000_000;
        let code = |step| format!("{:06}", code_at(&secret, step));
        let current = step_of(now);
        assert_eq!(verify(&secret, &code(current), now, 0), Some(current));
        assert_eq!(verify(&secret, &code(current - 1), now, 0), Some(current - 1));
        assert_eq!(verify(&secret, &code(current + 1), now, 0), Some(current + 1));
        assert_eq!(verify(&secret, &code(current - 2), now, 0), None, "too old");
        assert_eq!(verify(&secret, &code(current), now, current), None, "replayed");
        assert_eq!(verify(&secret, "12345", now, 0), None);
        assert_eq!(verify(&secret, "abcdef", now, 0), None);
    }

    #[test]
    fn base32_matches_rfc_4648() {
        assert_eq!(base32(b""), "");
        assert_eq!(base32(b"f"), "MY");
        assert_eq!(base32(b"foobar"), "MZXW6YTBOI");
        assert_eq!(base32(b"12345678901234567890"), "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
        for bytes in [&b""[..], b"f", b"foobar", b"12345678901234567890"] {
            assert_eq!(from_base32(&base32(bytes)).unwrap(), bytes);
        }
        assert_eq!(from_base32("my======").unwrap(), b"f");
        assert!(from_base32("M1").is_none());
    }
}

//! JSON Web Tokens signed with Ed25519 (`alg: EdDSA`), written here rather than taken from a
//! general JOSE library so that exactly one algorithm exists: a token whose header says
//! anything but `EdDSA` (`none`, `HS256`, …), names an unknown `kid`, or carries `crit` is
//! rejected before any signature check.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::signature::{ED25519, Ed25519KeyPair, UnparsedPublicKey};
use serde::{Deserialize, Serialize};

/// Clock skew tolerated on `exp`, `nbf` and `iat`.
pub const LEEWAY_SECS: i64 = 30;

/// The claims of a platform access token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    pub iss: String,
    /// The user's id.
    pub sub: String,
    pub aud: Audience,
    pub exp: i64,
    pub iat: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<i64>,
    pub jti: String,
    /// The active organization (tenant) id.
    pub org: String,
    pub roles: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// The session (refresh-token family) the token was issued in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    /// Set on a service account's token (RFC 9068 `client_id`); `sub` is then the account's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
}

/// `aud` may be one string or a list (RFC 7519 §4.1.3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Audience {
    One(String),
    Many(Vec<String>),
}

impl Audience {
    pub fn contains(&self, audience: &str) -> bool {
        match self {
            Self::One(a) => a == audience,
            Self::Many(list) => list.iter().any(|a| a == audience),
        }
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct Header {
    alg: String,
    // Absent, never `null`: strict verifiers reject `"crit": null`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    typ: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    kid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    crit: Option<serde_json::Value>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("the token is not a well-formed JWT")]
    Malformed,
    #[error("the token's algorithm is not EdDSA")]
    Algorithm,
    #[error("the token's signing key is unknown")]
    UnknownKey,
    #[error("the token's signature is invalid")]
    Signature,
    #[error("the token has expired")]
    Expired,
    #[error("the token is not valid yet")]
    NotYetValid,
    #[error("the token was issued for another issuer or audience")]
    WrongAudience,
}

pub fn sign(kid: &str, key: &Ed25519KeyPair, claims: &Claims) -> String {
    let header = Header { alg: "EdDSA".into(), typ: Some("JWT".into()), kid: Some(kid.into()), crit: None };
    let header = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&header).expect("header serialises"));
    let claims = URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).expect("claims serialise"));
    let input = format!("{header}.{claims}");
    let signature = URL_SAFE_NO_PAD.encode(key.sign(input.as_bytes()).as_ref());
    format!("{input}.{signature}")
}

/// Verifies `token` against the public key that `key_for` returns for its `kid`, then the
/// registered claims. `now` is Unix seconds.
pub fn verify<'k>(
    token: &str,
    key_for: impl Fn(&str) -> Option<&'k [u8]>,
    issuer: &str,
    audience: &str,
    now: i64,
) -> Result<Claims, TokenError> {
    let mut parts = token.split('.');
    let (Some(header_b64), Some(claims_b64), Some(signature_b64), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(TokenError::Malformed);
    };
    let header: Header = decode_json(header_b64)?;
    if header.alg != "EdDSA" {
        return Err(TokenError::Algorithm);
    }
    if header.crit.is_some() {
        return Err(TokenError::Malformed);
    }
    let public_key = header.kid.as_deref().and_then(&key_for).ok_or(TokenError::UnknownKey)?;
    let signature = URL_SAFE_NO_PAD.decode(signature_b64).map_err(|_| TokenError::Malformed)?;
    let signed = &token[..header_b64.len() + 1 + claims_b64.len()];
    UnparsedPublicKey::new(&ED25519, public_key)
        .verify(signed.as_bytes(), &signature)
        .map_err(|_| TokenError::Signature)?;

    let claims: Claims = decode_json(claims_b64)?;
    if claims.iss != issuer || !claims.aud.contains(audience) {
        return Err(TokenError::WrongAudience);
    }
    if claims.exp + LEEWAY_SECS <= now {
        return Err(TokenError::Expired);
    }
    if claims.nbf.is_some_and(|nbf| nbf > now + LEEWAY_SECS) || claims.iat > now + LEEWAY_SECS {
        return Err(TokenError::NotYetValid);
    }
    Ok(claims)
}

fn decode_json<T: for<'de> Deserialize<'de>>(part: &str) -> Result<T, TokenError> {
    let bytes = URL_SAFE_NO_PAD.decode(part).map_err(|_| TokenError::Malformed)?;
    serde_json::from_slice(&bytes).map_err(|_| TokenError::Malformed)
}

#[cfg(test)]
mod tests {
    use ring::rand::SystemRandom;
    use ring::signature::KeyPair;

    use super::*;

    fn key() -> Ed25519KeyPair {
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).unwrap();
        Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap()
    }

    fn claims(now: i64) -> Claims {
        Claims {
            iss: "http://vextrus.test".into(),
            sub: "user-1".into(),
            aud: Audience::One("vextrus".into()),
            exp: now + 900,
            iat: now,
            nbf: None,
            jti: "j1".into(),
            org: "org-1".into(),
            roles: vec!["owner".into()],
            username: Some("rahim".into()),
            sid: None,
            client_id: None,
        }
    }

    fn forge(header: &str, claims: &Claims, signature: &str) -> String {
        format!(
            "{}.{}.{signature}",
            URL_SAFE_NO_PAD.encode(header),
            URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).unwrap())
        )
    }

    #[test]
    fn round_trip_and_every_rejection() {
        let now = 1_800_000_000;
        let k = key();
        let public = k.public_key().as_ref().to_vec();
        let keys = |kid: &str| (kid == "k1").then_some(public.as_slice());
        let check = |token: &str, at: i64| verify(token, keys, "http://vextrus.test", "vextrus", at);
        let token = sign("k1", &k, &claims(now));
        assert_eq!(check(&token, now).unwrap(), claims(now));

        assert_eq!(check(&token, now + 900 + LEEWAY_SECS), Err(TokenError::Expired));
        assert_eq!(check(&token, now - 3600), Err(TokenError::NotYetValid));
        assert_eq!(verify(&token, keys, "http://other", "vextrus", now), Err(TokenError::WrongAudience));
        assert_eq!(verify(&token, keys, "http://vextrus.test", "finance", now), Err(TokenError::WrongAudience));
        assert_eq!(check(&sign("k2", &k, &claims(now)), now), Err(TokenError::UnknownKey));
        assert_eq!(
            check(&sign("k1", &key(), &claims(now)), now),
            Err(TokenError::Signature),
            "another key's signature"
        );

        let mut tampered = token.clone().into_bytes();
        let middle = token.find('.').unwrap() + 5;
        tampered[middle] = if tampered[middle] == b'A' { b'B' } else { b'A' };
        assert!(check(std::str::from_utf8(&tampered).unwrap(), now).is_err());

        let signature = token.rsplit('.').next().unwrap();
        assert_eq!(check(&forge(r#"{"alg":"none","kid":"k1"}"#, &claims(now), ""), now), Err(TokenError::Algorithm));
        assert_eq!(
            check(&forge(r#"{"alg":"HS256","kid":"k1"}"#, &claims(now), signature), now),
            Err(TokenError::Algorithm)
        );
        assert_eq!(check(&forge(r#"{"alg":"EdDSA"}"#, &claims(now), signature), now), Err(TokenError::UnknownKey));
        assert_eq!(
            check(&forge(r#"{"alg":"EdDSA","kid":"k1","crit":["exp"]}"#, &claims(now), signature), now),
            Err(TokenError::Malformed)
        );
        for junk in ["", "a.b", "a.b.c.d", "!!.??.**", &format!("{token}.")] {
            assert!(check(junk, now).is_err(), "{junk}");
        }
        let many = Claims { aud: Audience::Many(vec!["finance".into(), "vextrus".into()]), ..claims(now) };
        assert!(check(&sign("k1", &k, &many), now).is_ok());
    }
}

//! SendGrid v3: `POST {base}/v3/mail/send` with `Authorization: Bearer <key>` → 202 and
//! `X-Message-Id`. Our message and organization ids travel as `custom_args`, so the Event Webhook
//! ([`verify`] and `events.rs`) can tell which message an event is about. Errors are
//! `{"errors": [{"message", "field", "help"}]}`: 400 and 413 refuse the message; 401 and 403 (a bad
//! key, or credits run out), 429 and 5xx make SendGrid unavailable for now.
//!
//! The Event Webhook is signed with ECDSA P-256 over `timestamp ‖ body`
//! (`X-Twilio-Email-Event-Webhook-Signature`, base64 DER; `…-Timestamp`); the verification key is
//! the base64 SubjectPublicKeyInfo SendGrid shows once signing is turned on.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};

use super::smtp::Email;
use super::{Accepted, SendError, bounded_body, transport};

pub const NAME: &str = "sendgrid";
pub const SIGNATURE_HEADER: &str = "x-twilio-email-event-webhook-signature";
pub const TIMESTAMP_HEADER: &str = "x-twilio-email-event-webhook-timestamp";

/// The DER prefix of a P-256 SubjectPublicKeyInfo (id-ecPublicKey, prime256v1, a 65-byte point).
const P256_SPKI_PREFIX: [u8; 26] = [
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce,
    0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
];

#[derive(Debug, Clone)]
pub struct SendGrid {
    pub base_url: String,
    pub api_key: SecretString,
    /// `{"email", "name"?}`.
    pub from: Value,
    pub client: reqwest::Client,
}

impl SendGrid {
    /// `from` as `Name <address>` or an address.
    pub fn new(base_url: &str, api_key: SecretString, from: &str, client: reqwest::Client) -> Result<Self, String> {
        let from = match from.trim().rsplit_once('<') {
            Some((name, rest)) => {
                let email = rest.trim_end_matches('>').trim();
                json!({"email": email, "name": name.trim().trim_matches('"')})
            }
            None => json!({"email": from.trim()}),
        };
        if !from["email"].as_str().is_some_and(|e| e.contains('@')) {
            return Err("notify.smtp.from has no address for SendGrid's `from`".into());
        }
        Ok(Self { base_url: base_url.trim_end_matches('/').to_owned(), api_key, from, client })
    }

    pub async fn send(&self, email: &Email<'_>, tenant: uuid::Uuid) -> Result<Accepted, SendError> {
        let mut content = vec![json!({"type": "text/plain", "value": email.text})];
        if let Some(html) = email.html {
            content.push(json!({"type": "text/html", "value": html}));
        }
        let mut body = json!({
            "personalizations": [{
                "to": [{"email": email.to}],
                "custom_args": {"vextrus_message": email.id.to_string(), "vextrus_tenant": tenant.to_string()},
            }],
            "from": self.from,
            "subject": email.subject,
            "content": content,
        });
        if let Some(url) = email.unsubscribe {
            body["headers"] =
                json!({"List-Unsubscribe": format!("<{url}>"), "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"});
        }
        let response = self
            .client
            .post(format!("{}/v3/mail/send", self.base_url))
            .bearer_auth(self.api_key.expose_secret())
            .json(&body)
            .send()
            .await
            .map_err(|e| transport(NAME, e))?;
        let status = response.status();
        let id = response.headers().get("x-message-id").and_then(|v| v.to_str().ok()).map(str::to_owned);
        let text = bounded_body(response, 64 * 1024).await.map_err(|e| transport(NAME, e))?;
        if status.as_u16() == 202 {
            return Ok(Accepted { response: format!("202 {}", id.as_deref().unwrap_or("-")), provider_id: id });
        }
        let messages: Vec<String> = serde_json::from_str::<Value>(&text)
            .ok()
            .and_then(|v| v["errors"].as_array().cloned())
            .unwrap_or_default()
            .iter()
            .filter_map(|e| e["message"].as_str().map(str::to_owned))
            .take(3)
            .collect();
        let reason = format!("sendgrid answered {status}: {}", messages.join("; "));
        match status.as_u16() {
            400 | 413 => Err(SendError::Rejected(reason)),
            _ => Err(SendError::unavailable(reason)),
        }
    }
}

/// The verification key (base64 SubjectPublicKeyInfo of a P-256 key) as the point ring takes.
pub fn verification_key(base64_spki: &str) -> Result<Vec<u8>, String> {
    let der = STANDARD
        .decode(base64_spki.trim())
        .map_err(|_| "notify.sendgrid.webhook_verification_key is not base64".to_owned())?;
    match der.strip_prefix(&P256_SPKI_PREFIX[..]) {
        Some(point) if point.len() == 65 && point[0] == 4 => Ok(point.to_vec()),
        _ => Err("notify.sendgrid.webhook_verification_key is not a P-256 public key".into()),
    }
}

/// A P-256 point as the base64 SubjectPublicKeyInfo SendGrid shows (for tests and tools).
pub fn spki_base64(point: &[u8]) -> String {
    let mut der = P256_SPKI_PREFIX.to_vec();
    der.extend_from_slice(point);
    STANDARD.encode(der)
}

/// Whether `signature` (base64 DER ECDSA) signs `timestamp ‖ body` under `key`.
pub fn verify(key: &[u8], timestamp: &str, body: &[u8], signature: &str) -> bool {
    let Ok(signature) = STANDARD.decode(signature.trim()) else { return false };
    let mut signed = Vec::with_capacity(timestamp.len() + body.len());
    signed.extend_from_slice(timestamp.as_bytes());
    signed.extend_from_slice(body);
    ring::signature::UnparsedPublicKey::new(&ring::signature::ECDSA_P256_SHA256_ASN1, key)
        .verify(&signed, &signature)
        .is_ok()
}

#[cfg(test)]
mod tests {
    use ring::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair, KeyPair};

    use super::*;

    #[test]
    fn signatures_over_timestamp_and_body() {
        let rng = ring::rand::SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &rng).unwrap();
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, pkcs8.as_ref(), &rng).unwrap();
        let key = verification_key(&spki_base64(pair.public_key().as_ref())).unwrap();
        let body = br#"[{"event":"delivered"}]"#;
        let signature = STANDARD.encode(pair.sign(&rng, b"1700000000[{\"event\":\"delivered\"}]").unwrap());
        assert!(verify(&key, "1700000000", body, &signature));
        assert!(!verify(&key, "1700000001", body, &signature), "the timestamp is signed");
        assert!(!verify(&key, "1700000000", br#"[{"event":"bounce"}]"#, &signature), "the body is signed");
        assert!(!verify(&key, "1700000000", body, "not base64!"));
        assert!(verification_key("AAAA").is_err());
    }

    #[test]
    fn from_addresses() {
        let client = reqwest::Client::new();
        let sg = SendGrid::new("https://api.sendgrid.com/", "k".into(), "Vextrus <no-reply@vextrus.example>", client)
            .unwrap();
        assert_eq!(sg.from, json!({"email": "no-reply@vextrus.example", "name": "Vextrus"}));
        assert_eq!(sg.base_url, "https://api.sendgrid.com");
        assert!(SendGrid::new("x", "k".into(), "nobody", reqwest::Client::new()).is_err());
    }
}

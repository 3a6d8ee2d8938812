//! Firebase Cloud Messaging, HTTP v1: `POST {base}/v1/projects/{project}/messages:send` with an
//! OAuth 2.0 access token. The token comes from the service account: a JWT signed RS256 with its
//! private key (`iss` its email, `scope` firebase.messaging, `aud` the token URI, one hour),
//! exchanged at the token URI (`grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer`) and
//! kept until five minutes before it expires.
//!
//! Errors are FCM's `error.details[].errorCode`: UNREGISTERED (404) and SENDER_ID_MISMATCH (403)
//! mean the device token is dead (the caller removes it); QUOTA_EXCEEDED (429), UNAVAILABLE
//! (503) and INTERNAL (500) are retried later, honouring `Retry-After`; INVALID_ARGUMENT (400)
//! fails the message.

use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use ring::signature::{RSA_PKCS1_SHA256, RsaKeyPair};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::Mutex;

use super::{Accepted, SendError, bounded_body, transport, unreadable};

pub const NAME: &str = "fcm";
const SCOPE: &str = "https://www.googleapis.com/auth/firebase.messaging";
/// FCM refuses a message whose payload is larger.
pub const PAYLOAD_LIMIT: usize = 4096;

/// The fields of a Google service-account key file that FCM needs.
#[derive(Debug, Deserialize)]
struct ServiceAccount {
    project_id: String,
    client_email: String,
    private_key: String,
    #[serde(default = "default_token_uri")]
    token_uri: String,
}

fn default_token_uri() -> String {
    "https://oauth2.googleapis.com/token".into()
}

pub struct Fcm {
    /// `https://fcm.googleapis.com` (another base for a test server).
    base_url: String,
    project_id: String,
    client_email: String,
    token_uri: String,
    key: RsaKeyPair,
    client: reqwest::Client,
    token: Mutex<Option<(String, Instant)>>,
}

impl std::fmt::Debug for Fcm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fcm").field("project_id", &self.project_id).field("client_email", &self.client_email).finish()
    }
}

/// What FCM said of one message to one device.
#[derive(Debug)]
pub enum PushError {
    /// The device token is dead (UNREGISTERED, SENDER_ID_MISMATCH): remove it.
    DeadToken(String),
    Send(SendError),
}

impl Fcm {
    /// From a service-account key file's text.
    pub fn from_service_account(json: &str, base_url: &str, client: reqwest::Client) -> Result<Self, String> {
        let account: ServiceAccount =
            serde_json::from_str(json).map_err(|e| format!("not a service-account key file: {e}"))?;
        let der = pem_body(&account.private_key, "PRIVATE KEY")?;
        let key = RsaKeyPair::from_pkcs8(&der).map_err(|e| format!("private_key is not a PKCS#8 RSA key: {e}"))?;
        Ok(Self {
            base_url: base_url.trim_end_matches('/').to_owned(),
            project_id: account.project_id,
            client_email: account.client_email,
            token_uri: account.token_uri,
            key,
            client,
            token: Mutex::new(None),
        })
    }

    /// The signed assertion for the token URI.
    fn assertion(&self) -> Result<String, SendError> {
        let now = chrono::Utc::now().timestamp();
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"RS256","typ":"JWT"}"#);
        let claims = json!({
            "iss": self.client_email, "scope": SCOPE, "aud": self.token_uri, "iat": now, "exp": now + 3600,
        });
        let input = format!("{header}.{}", URL_SAFE_NO_PAD.encode(claims.to_string()));
        let mut signature = vec![0; self.key.public().modulus_len()];
        self.key
            .sign(&RSA_PKCS1_SHA256, &ring::rand::SystemRandom::new(), input.as_bytes(), &mut signature)
            .map_err(|_| SendError::unavailable("fcm: could not sign the token assertion"))?;
        Ok(format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature)))
    }

    /// An access token, from the cache while it has five minutes left.
    async fn access_token(&self) -> Result<String, SendError> {
        let mut cached = self.token.lock().await;
        if let Some((token, until)) = cached.as_ref()
            && Instant::now() < *until
        {
            return Ok(token.clone());
        }
        let form = [("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"), ("assertion", &self.assertion()?)];
        let response = self.client.post(&self.token_uri).form(&form).send().await.map_err(|e| transport(NAME, e))?;
        let status = response.status();
        let body = bounded_body(response, 64 * 1024).await.map_err(|e| transport(NAME, e))?;
        if !status.is_success() {
            let head: String = body.chars().take(200).collect();
            return Err(SendError::unavailable(format!("fcm: the token endpoint answered {status}: {head}")));
        }
        #[derive(Deserialize)]
        struct Token {
            access_token: String,
            #[serde(default)]
            expires_in: u64,
        }
        let token: Token = serde_json::from_str(&body).map_err(|_| unreadable(NAME, status, &body))?;
        let keep = Duration::from_secs(token.expires_in.clamp(60, 3600).saturating_sub(300).max(30));
        *cached = Some((token.access_token.clone(), Instant::now() + keep));
        Ok(token.access_token)
    }

    /// Sends a notification to one device.
    pub async fn send(&self, device: &str, title: &str, body: &str, data: &Value) -> Result<Accepted, PushError> {
        let message = json!({"message": {
            "token": device,
            "notification": {"title": title, "body": body},
            "data": data,
        }});
        let payload = message.to_string();
        if payload.len() > PAYLOAD_LIMIT + device.len() {
            return Err(PushError::Send(SendError::Rejected(format!(
                "the push payload is {} bytes; FCM takes {PAYLOAD_LIMIT}",
                payload.len() - device.len()
            ))));
        }
        let token = self.access_token().await.map_err(PushError::Send)?;
        let url = format!("{}/v1/projects/{}/messages:send", self.base_url, self.project_id);
        let response = self
            .client
            .post(url)
            .bearer_auth(token)
            .header("content-type", "application/json")
            .body(payload)
            .send()
            .await
            .map_err(|e| PushError::Send(transport(NAME, e)))?;
        let status = response.status();
        let retry_after = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(|s| Duration::from_secs(s.min(3600)));
        let text = bounded_body(response, 64 * 1024).await.map_err(|e| PushError::Send(transport(NAME, e)))?;
        if status.is_success() {
            #[derive(Deserialize)]
            struct Sent {
                name: String,
            }
            let sent: Sent =
                serde_json::from_str(&text).map_err(|_| PushError::Send(unreadable(NAME, status, &text)))?;
            return Ok(Accepted { response: format!("{status} {}", sent.name), provider_id: Some(sent.name) });
        }
        let code = error_code(&text).unwrap_or_default();
        let reason = format!("fcm answered {status} {code}");
        match (status.as_u16(), code.as_str()) {
            (_, "UNREGISTERED" | "SENDER_ID_MISMATCH") | (404, _) => Err(PushError::DeadToken(reason)),
            (401, _) => {
                // The token was refused: forget it, the next try makes a new one.
                *self.token.lock().await = None;
                Err(PushError::Send(SendError::unavailable(reason)))
            }
            (429 | 500..=599, _) | (_, "QUOTA_EXCEEDED" | "UNAVAILABLE" | "INTERNAL") => {
                Err(PushError::Send(SendError::Unavailable { reason, retry_after }))
            }
            _ => Err(PushError::Send(SendError::Rejected(reason))),
        }
    }
}

/// FCM's `error.details[].errorCode` (or `error.status`).
fn error_code(body: &str) -> Option<String> {
    let v: Value = serde_json::from_str(body).ok()?;
    let error = v.get("error")?;
    let detail = error
        .get("details")
        .and_then(Value::as_array)
        .and_then(|details| details.iter().find_map(|d| d.get("errorCode").and_then(Value::as_str).map(str::to_owned)));
    detail.or_else(|| error.get("status").and_then(Value::as_str).map(str::to_owned))
}

/// The DER inside a PEM block of `label`.
fn pem_body(pem: &str, label: &str) -> Result<Vec<u8>, String> {
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let start = pem.find(&begin).ok_or_else(|| format!("private_key has no {begin} block"))? + begin.len();
    let stop = pem[start..].find(&end).ok_or_else(|| format!("private_key has no {end}"))? + start;
    let text: String = pem[start..stop].chars().filter(|c| !c.is_whitespace()).collect();
    STANDARD.decode(text).map_err(|_| "private_key's PEM block is not base64".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_codes_are_read_from_details_or_status() {
        let unregistered = r#"{"error":{"code":404,"status":"NOT_FOUND","details":[{"@type":"type.googleapis.com/google.firebase.fcm.v1.FcmError","errorCode":"UNREGISTERED"}]}}"#;
        assert_eq!(error_code(unregistered).as_deref(), Some("UNREGISTERED"));
        assert_eq!(error_code(r#"{"error":{"status":"UNAVAILABLE"}}"#).as_deref(), Some("UNAVAILABLE"));
        assert_eq!(error_code("<html>"), None);
    }

    #[test]
    fn pem_blocks() {
        let pem = "-----BEGIN PRIVATE KEY-----\nAAEC\nAw==\n-----END PRIVATE KEY-----\n";
        assert_eq!(pem_body(pem, "PRIVATE KEY").unwrap(), vec![0, 1, 2, 3]);
        assert!(pem_body("nothing", "PRIVATE KEY").is_err());
    }
}

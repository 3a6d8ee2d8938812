//! SSL Wireless ISMS Plus v3: `POST /send-sms` with a JSON body and our `csms_id` (≤ 20
//! characters, unique per message). The `csms_id` is derived from the message's id, so a retry
//! after a lost answer repeats it and SSL Wireless answers 4023 DUPLICATE instead of sending
//! twice: that answer means the message was already sent.

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::json;
use uuid::Uuid;

use super::{Accepted, SendError, bounded_body, transport, unreadable};
use crate::model::Phone;

pub const NAME: &str = "ssl_wireless";

#[derive(Debug, Clone)]
pub struct SslWireless {
    pub base_url: String,
    pub api_token: SecretString,
    pub sid: String,
    pub client: reqwest::Client,
}

#[derive(Debug, Deserialize)]
struct Answer {
    #[serde(default)]
    status: String,
    #[serde(default)]
    status_code: i64,
    #[serde(default)]
    error_message: String,
    #[serde(default)]
    smsinfo: Vec<SmsInfo>,
}

#[derive(Debug, Deserialize)]
struct SmsInfo {
    #[serde(default)]
    sms_status: String,
    #[serde(default)]
    status_message: String,
    #[serde(default)]
    reference_id: Option<serde_json::Value>,
}

/// 20 characters from the message id (its first 100 bits, base 32): unique per message, the same
/// on every attempt.
pub fn csms_id(message: Uuid) -> String {
    const ALPHABET: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";
    let bits = message.as_u128() >> 28;
    (0..20).rev().map(|i| ALPHABET[((bits >> (i * 5)) & 31) as usize] as char).collect()
}

impl SslWireless {
    pub async fn send(&self, message: Uuid, to: &Phone, text: &str, sid: Option<&str>) -> Result<Accepted, SendError> {
        let body = json!({
            "api_token": self.api_token.expose_secret(),
            "sid": sid.unwrap_or(&self.sid),
            "msisdn": to.without_plus(),
            "sms": text,
            "csms_id": csms_id(message),
        });
        let response = self
            .client
            .post(format!("{}/send-sms", self.base_url.trim_end_matches('/')))
            .json(&body)
            .send()
            .await
            .map_err(|e| transport(NAME, e))?;
        let status = response.status();
        let raw = bounded_body(response, 64 * 1024).await.map_err(|e| transport(NAME, e))?;
        if status.is_server_error() {
            return Err(SendError::unavailable(format!("{NAME} answered {status}")));
        }
        let answer: Answer = serde_json::from_str(&raw).map_err(|_| unreadable(NAME, status, &raw))?;
        let info = answer.smsinfo.first();
        let sms_status = info.map(|i| i.sms_status.as_str()).unwrap_or_default();
        let reference = info
            .and_then(|i| i.reference_id.as_ref())
            .map(|r| r.as_str().map(str::to_owned).unwrap_or_else(|| r.to_string()));
        if answer.status_code == 4023 || sms_status == "DUPLICATE" {
            return Ok(Accepted {
                provider_id: reference,
                response: "4023 DUPLICATE: already sent with this csms_id".into(),
            });
        }
        if answer.status == "SUCCESS" && sms_status == "SUCCESS" {
            return Ok(Accepted { provider_id: reference, response: format!("{} SUCCESS", answer.status_code) });
        }
        let detail = info.map(|i| i.status_message.as_str()).filter(|m| !m.is_empty()).unwrap_or(&answer.error_message);
        let what = format!("{} {} {sms_status}: {}", answer.status_code, answer.status, short(detail));
        Err(match (answer.status_code, sms_status) {
            (_, "INVALID" | "BLOCKED") => SendError::Rejected(what),
            // Bad format, csms_id, missing parameter, duplicate/invalid/blocked number, too long.
            (4004 | 4020 | 4022 | 4024 | 4025 | 4026 | 4027, _) => SendError::Rejected(what),
            // 4029/4031 too many requests: back off.
            (4029 | 4031, _) => {
                SendError::Unavailable { reason: what, retry_after: Some(std::time::Duration::from_secs(5)) }
            }
            // 4001 token, 4002 SID, 4003 IP, 4030 limit, 5000 internal, anything new.
            _ => SendError::Unavailable { reason: what, retry_after: None },
        })
    }
}

fn short(text: &str) -> String {
    text.chars().filter(|c| !c.is_control()).take(200).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csms_ids_are_twenty_characters_and_differ() {
        let a = Uuid::now_v7();
        let b = Uuid::now_v7();
        assert_eq!(csms_id(a).len(), 20);
        assert_eq!(csms_id(a), csms_id(a));
        assert_ne!(csms_id(a), csms_id(b));
    }
}

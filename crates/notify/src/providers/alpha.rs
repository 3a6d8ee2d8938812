//! Alpha SMS (sms.net.bd, Alpha Net): `POST /sendsms` with form fields, an `error` code in every
//! answer (0 is success), the balance at `GET /user/balance/` and a request's report at
//! `GET /report/request/{id}/`. It has no idempotency key: a retry after a lost answer may send
//! twice (the README states the window).

use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::Value;

use super::{Accepted, SendError, bounded_body, transport, unreadable};
use crate::model::Phone;

pub const NAME: &str = "alpha";

#[derive(Debug, Clone)]
pub struct Alpha {
    pub base_url: String,
    pub api_key: SecretString,
    pub sender_id: Option<String>,
    pub client: reqwest::Client,
}

#[derive(Debug, Deserialize)]
struct Answer {
    error: i64,
    #[serde(default)]
    msg: String,
    #[serde(default)]
    data: Value,
}

/// The delivery report of one request.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    /// `Complete` once every recipient has an outcome.
    pub request_status: String,
    /// Per recipient: `Sent`, `Failed`, …
    pub statuses: Vec<(String, String)>,
    pub charge: Option<String>,
}

impl Alpha {
    pub async fn send(&self, to: &Phone, text: &str, sender_id: Option<&str>) -> Result<Accepted, SendError> {
        let mut form = vec![("api_key", self.api_key.expose_secret()), ("msg", text), ("to", to.without_plus())];
        if let Some(sender) = sender_id.or(self.sender_id.as_deref()) {
            form.push(("sender_id", sender));
        }
        let response = self
            .client
            .post(format!("{}/sendsms", self.base_url.trim_end_matches('/')))
            .form(&form)
            .send()
            .await
            .map_err(|e| transport(NAME, e))?;
        let answer = self.answer(response).await?;
        match answer.error {
            0 => {
                let id = answer
                    .data
                    .get("request_id")
                    .map(|v| v.as_str().map(str::to_owned).unwrap_or_else(|| v.to_string()));
                Ok(Accepted { provider_id: id, response: format!("error 0: {}", short(&answer.msg)) })
            }
            code => Err(classify(code, &answer.msg)),
        }
    }

    /// The account's balance in BDT, as Alpha writes it (`"150.5000"`).
    pub async fn balance(&self) -> Result<String, SendError> {
        let url = format!("{}/user/balance/", self.base_url.trim_end_matches('/'));
        let response = self.client.get(url).query(&[("api_key", self.api_key.expose_secret())]).send().await;
        let answer = self.answer(response.map_err(|e| transport(NAME, e))?).await?;
        if answer.error != 0 {
            return Err(classify(answer.error, &answer.msg));
        }
        Ok(answer
            .data
            .get("balance")
            .map(|b| b.as_str().map(str::to_owned).unwrap_or_else(|| b.to_string()))
            .unwrap_or_default())
    }

    pub async fn report(&self, request_id: &str) -> Result<Report, SendError> {
        if !request_id.bytes().all(|b| b.is_ascii_alphanumeric()) || request_id.len() > 40 {
            return Err(SendError::Rejected(format!("{request_id:?} is not an Alpha request id")));
        }
        let url = format!("{}/report/request/{request_id}/", self.base_url.trim_end_matches('/'));
        let response = self.client.get(url).query(&[("api_key", self.api_key.expose_secret())]).send().await;
        let answer = self.answer(response.map_err(|e| transport(NAME, e))?).await?;
        if answer.error != 0 {
            return Err(classify(answer.error, &answer.msg));
        }
        let text = |v: &Value| v.as_str().map(str::to_owned).unwrap_or_else(|| v.to_string());
        let data = &answer.data;
        let statuses = data
            .get("recipients")
            .and_then(Value::as_array)
            .map(|all| {
                all.iter()
                    .take(100)
                    .map(|r| {
                        (r.get("number").map(text).unwrap_or_default(), r.get("status").map(text).unwrap_or_default())
                    })
                    .collect()
            })
            .unwrap_or_default();
        Ok(Report {
            request_status: data.get("request_status").map(text).unwrap_or_default(),
            statuses,
            charge: data.get("request_charge").map(text),
        })
    }

    async fn answer(&self, response: reqwest::Response) -> Result<Answer, SendError> {
        let status = response.status();
        let body = bounded_body(response, 64 * 1024).await.map_err(|e| transport(NAME, e))?;
        if status.is_server_error() {
            return Err(SendError::unavailable(format!("{NAME} answered {status}")));
        }
        serde_json::from_str(&body).map_err(|_| unreadable(NAME, status, &body))
    }
}

/// Alpha's error codes: the message's fault (refused everywhere) or the account's and the
/// service's (another provider may send it).
fn classify(code: i64, message: &str) -> SendError {
    let what = format!("error {code}: {}", short(message));
    match code {
        // Empty, too long, no valid number, content blocked.
        414 | 415 | 416 | 418 | 420 => SendError::Rejected(what),
        // 417 insufficient balance, 405 bad key, 403 no permission, 410/411 expired, 413 sender
        // id, 409 server error, 421 unrecharged account, anything new: not this message's fault.
        _ => SendError::Unavailable { reason: what, retry_after: None },
    }
}

fn short(text: &str) -> String {
    text.chars().filter(|c| !c.is_control()).take(200).collect()
}

/// Default request timeout for SMS providers.
pub const TIMEOUT: Duration = Duration::from_secs(10);

//! Notify end to end: local fake servers for Alpha SMS and SSL Wireless that speak their documented
//! wire formats, a real SMTP server (aiosmtpd) behind the real binary on an external database,
//! and BTRC's rules through the HTTP API.

mod common;

use std::collections::HashSet;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Form, Path, State};
use axum::response::IntoResponse as _;
use axum::routing::{get, post};
use base64::Engine as _;
use common::binary::{Server, vextrus};
use common::{TestApp, code_in, problem};
use reqwest::Method;
use ring::signature::KeyPair as _;
use serde_json::{Value, json};
use vextrus_notify::providers::alpha::Alpha;
use vextrus_notify::providers::ssl_wireless::SslWireless;
use vextrus_notify::providers::{Breaker, http_client};
use vextrus_notify::{Notify, SmsProvider, SmsRoute};
use vextrus_server::HttpSettings;

const PHONE: &str = "01712345678";

#[derive(Debug, Clone, Copy, Default, PartialEq)]
enum AlphaMode {
    #[default]
    Accept,
    /// Error 417: insufficient balance.
    NoBalance,
    /// HTTP 500.
    Broken,
    /// Answers after the client's timeout (and sends nothing).
    Hang,
}

#[derive(Debug, Default)]
struct FakeState {
    alpha: AlphaMode,
    /// (to, msg, sender_id) of every message Alpha accepted.
    alpha_sent: Vec<(String, String, Option<String>)>,
    /// When Alpha accepted each.
    alpha_at: Vec<std::time::Instant>,
    /// The API key each came with.
    alpha_keys: Vec<String>,
    /// (msisdn, sms, csms_id) of every message SSL Wireless sent.
    ssl_sent: Vec<(String, String, String)>,
    /// Requests SSL Wireless received (sent or not).
    ssl_requests: usize,
    /// Send the next message, then lose the answer (HTTP 502).
    ssl_lose_next_answer: bool,
}

#[derive(Debug, Clone, Default)]
struct Fakes(Arc<Mutex<FakeState>>);

impl Fakes {
    fn with<R>(&self, f: impl FnOnce(&mut FakeState) -> R) -> R {
        f(&mut self.0.lock().unwrap())
    }
}

/// Alpha SMS (sms.net.bd): form-encoded `POST /sendsms`, `error` codes in a JSON answer.
async fn alpha_send(State(fakes): State<Fakes>, Form(form): Form<Vec<(String, String)>>) -> axum::response::Response {
    use axum::response::IntoResponse;
    let field = |name: &str| form.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    // The platform's account, and one organization's own.
    if !matches!(field("api_key").as_deref(), Some("alpha-key" | "org-alpha-key")) {
        return axum::Json(json!({"error": 405, "msg": "Invalid API key", "data": null})).into_response();
    }
    let mode = fakes.with(|s| s.alpha);
    match mode {
        AlphaMode::Broken => {
            return (axum::http::StatusCode::INTERNAL_SERVER_ERROR, "upstream failure").into_response();
        }
        AlphaMode::NoBalance => {
            return axum::Json(json!({"error": 417, "msg": "Insufficient balance", "data": null})).into_response();
        }
        AlphaMode::Hang => {
            tokio::time::sleep(Duration::from_secs(3)).await;
            return axum::Json(json!({"error": 409, "msg": "Server error", "data": null})).into_response();
        }
        AlphaMode::Accept => {}
    }
    let (Some(to), Some(msg)) = (field("to"), field("msg")) else {
        return axum::Json(json!({"error": 400, "msg": "Missing parameter", "data": null})).into_response();
    };
    let id = fakes.with(|s| {
        s.alpha_sent.push((to, msg, field("sender_id")));
        s.alpha_at.push(std::time::Instant::now());
        s.alpha_keys.push(field("api_key").unwrap_or_default());
        10_000 + s.alpha_sent.len()
    });
    axum::Json(json!({"error": 0, "msg": "Request successfully submitted", "data": {"request_id": id}})).into_response()
}

async fn alpha_report(State(fakes): State<Fakes>, Path(id): Path<u64>) -> axum::Json<Value> {
    let sent = fakes.with(|s| s.alpha_sent.get((id as usize).wrapping_sub(10_001)).cloned());
    match sent {
        Some((to, _, _)) => axum::Json(json!({"error": 0, "msg": "Success", "data": {
            "request_id": id, "request_status": "Complete", "request_charge": "0.2500",
            "recipients": [{"number": to, "charge": "0.2500", "status": "Sent"}],
        }})),
        None => axum::Json(json!({"error": 404, "msg": "Not found", "data": null})),
    }
}

/// SSL Wireless ISMS Plus v3: JSON `POST /send-sms`; a repeated `csms_id` is 4023 DUPLICATE.
async fn ssl_send(State(fakes): State<Fakes>, axum::Json(body): axum::Json<Value>) -> axum::response::Response {
    use axum::response::IntoResponse;
    if body["api_token"] != "ssl-token" || body["sid"] != "VEXTRUS" {
        let answer = json!({"status": "FAILED", "status_code": 4001, "error_message": "Unauthorized", "smsinfo": []});
        return axum::Json(answer).into_response();
    }
    let msisdn = body["msisdn"].as_str().unwrap_or_default().to_owned();
    let csms = body["csms_id"].as_str().unwrap_or_default().to_owned();
    let text = body["sms"].as_str().unwrap_or_default().to_owned();
    let (duplicate, lose) = fakes.with(|s| {
        s.ssl_requests += 1;
        let duplicate = s.ssl_sent.iter().any(|(_, _, c)| *c == csms);
        if !duplicate {
            s.ssl_sent.push((msisdn.clone(), text, csms.clone()));
        }
        (duplicate, std::mem::take(&mut s.ssl_lose_next_answer))
    });
    if duplicate {
        let info = json!([{"sms_status": "DUPLICATE", "status_message": "Duplicate CSMS ID", "msisdn": msisdn, "csms_id": csms}]);
        let answer =
            json!({"status": "FAILED", "status_code": 4023, "error_message": "Duplicate csms id", "smsinfo": info});
        return axum::Json(answer).into_response();
    }
    if lose {
        return (axum::http::StatusCode::BAD_GATEWAY, "gateway lost the answer").into_response();
    }
    let info = json!([{"sms_status": "SUCCESS", "status_message": "Success", "msisdn": msisdn, "sms_type": "EN",
                       "csms_id": csms, "reference_id": format!("ref-{csms}")}]);
    axum::Json(json!({"status": "SUCCESS", "status_code": 200, "error_message": "", "smsinfo": info})).into_response()
}

async fn start_fakes() -> (Fakes, String) {
    let fakes = Fakes::default();
    let router = axum::Router::new()
        .route("/alpha/sendsms", post(alpha_send))
        .route("/alpha/report/request/{id}/", get(alpha_report))
        .route("/ssl/send-sms", post(ssl_send))
        .with_state(fakes.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    (fakes, base)
}

/// Notify with the fakes as its SMS providers in `order`; email stays in the dev mailbox.
fn sms_notify(
    m: &vextrus::ModuleSettings,
    base: &str,
    order: &[&str],
    breaker: (u32, Duration),
    per_sec: u32,
) -> Notify {
    let client = http_client(Duration::from_secs(1)).unwrap();
    let sms = order
        .iter()
        .map(|name| {
            let (provider, rate) = match *name {
                "alpha" => (
                    SmsProvider::Alpha(Alpha {
                        base_url: format!("{base}/alpha"),
                        api_key: "alpha-key".into(),
                        sender_id: None,
                        client: client.clone(),
                    }),
                    2500,
                ),
                _ => (
                    SmsProvider::SslWireless(SslWireless {
                        base_url: format!("{base}/ssl"),
                        api_token: "ssl-token".into(),
                        sid: "VEXTRUS".into(),
                        client: client.clone(),
                    }),
                    3000,
                ),
            };
            let limit = vextrus_notify::providers::limiter::Limiter::new(f64::from(per_sec), per_sec);
            SmsRoute { provider, rate, breaker: Breaker::new(breaker.0, breaker.1), limit }
        })
        .collect();
    let providers =
        common::NotifyProviders { sms, report_after: Some(Duration::from_millis(300)), ..Default::default() };
    common::notify_with(m, providers)
}

async fn app_with_sms(order: &[&str], breaker: (u32, Duration)) -> (TestApp, Fakes, String) {
    app_with_sms_limited(order, breaker, 0).await
}

/// With each provider limited to `per_sec` messages a second (0: no limit).
async fn app_with_sms_limited(order: &[&str], breaker: (u32, Duration), per_sec: u32) -> (TestApp, Fakes, String) {
    let (fakes, base) = start_fakes().await;
    let settings = HttpSettings::new(64 * 1024, Duration::from_secs(10));
    let fake_base = base.clone();
    let order: Vec<String> = order.iter().map(|s| (*s).to_owned()).collect();
    let app = TestApp::start_configured(settings, move |m| {
        let order: Vec<&str> = order.iter().map(String::as_str).collect();
        m.notify = sms_notify(m, &fake_base, &order, breaker, per_sec);
    })
    .await;
    let token = app.vextrus().await;
    (app, fakes, token)
}

fn sms(text: &str) -> Value {
    json!({"type": "notify.announcement", "recipients": [PHONE], "data": {"subject": "-", "text": text}})
}

/// Waits until the message leaves `queued` (and, with `until`, reaches it); answers it.
async fn settled(app: &TestApp, token: &str, id: &str, until: Option<&str>) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let message = app.ok_json_get(token, &format!("/v1/notifications/{id}")).await;
        let status = message["status"].as_str().unwrap().to_owned();
        if status != "queued" && until.is_none_or(|u| u == status) {
            return message;
        }
        if tokio::time::Instant::now() >= deadline {
            let jobs: Vec<(String, String, Option<String>)> =
                sqlx::query_as("SELECT kind, state, last_error FROM db.jobs WHERE kind LIKE 'notify.%'")
                    .fetch_all(&mut app.db.owner_conn().await)
                    .await
                    .unwrap();
            panic!("message stayed {status}: {message}; jobs: {jobs:?}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn send(app: &TestApp, token: &str, body: Value) -> Value {
    let response = app.as_user(token, Method::POST, "/v1/notifications").json(&body).send().await.unwrap();
    assert_eq!(response.status(), 202, "{}", response.text().await.unwrap());
    response.json().await.unwrap()
}

#[tokio::test]
async fn an_sms_fails_over_from_alpha_out_of_balance_to_ssl_wireless_and_is_sent_once() {
    let (app, fakes, token) = app_with_sms(&["alpha", "ssl_wireless"], (5, Duration::from_secs(30))).await;
    fakes.with(|s| s.alpha = AlphaMode::NoBalance);
    let sent = send(&app, &token, sms("Your invoice INV-42 is due on 5 December.")).await;
    let queued = &sent["messages"][0];
    assert_eq!(queued["recipient"], "+8801712345678");
    assert_eq!(queued["channel"], "sms");
    assert_eq!(queued["segments"], 1);
    assert_eq!(queued["cost_bdt"], "0.2500", "estimated at the first provider's rate");
    let message = settled(&app, &token, queued["id"].as_str().unwrap(), None).await;
    assert_eq!(message["status"], "sent", "{message}");
    assert_eq!(message["provider"], "ssl_wireless");
    let attempts = message["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 2, "{message}");
    assert_eq!(
        (attempts[0]["provider"].as_str(), attempts[0]["outcome"].as_str()),
        (Some("alpha"), Some("unavailable"))
    );
    assert!(attempts[0]["response"].as_str().unwrap().contains("417"), "{message}");
    assert_eq!(
        (attempts[1]["provider"].as_str(), attempts[1]["outcome"].as_str()),
        (Some("ssl_wireless"), Some("accepted"))
    );
    assert_eq!(attempts[1]["cost_bdt"], "0.3000", "the cost is the provider's that sent it");
    assert_eq!(message["cost_bdt"], "0.3000");
    let (alpha, ssl) = fakes.with(|s| (s.alpha_sent.clone(), s.ssl_sent.clone()));
    assert!(alpha.is_empty());
    assert_eq!(ssl.len(), 1, "exactly one send reached a provider that accepted it");
    assert_eq!(ssl[0].0, "8801712345678");
    assert_eq!(ssl[0].1, "Your invoice INV-42 is due on 5 December.");
    assert_eq!(ssl[0].2.len(), 20, "csms_id is at most 20 characters");
}

#[tokio::test]
async fn alpha_sends_with_the_organizations_sender_id_and_its_report_marks_the_message_delivered() {
    let (app, fakes, token) = app_with_sms(&["alpha", "ssl_wireless"], (5, Duration::from_secs(30))).await;
    app.ok_json(&token, Method::PUT, "/v1/notifications/settings", json!({"sms_sender_id": "PadmaTrd"})).await;
    let sent = send(&app, &token, sms("Payment received: BDT 1,200. Thank you.")).await;
    let id = sent["messages"][0]["id"].as_str().unwrap().to_owned();
    let message = settled(&app, &token, &id, Some("delivered")).await;
    assert_eq!(message["provider"], "alpha");
    assert_eq!(message["provider_id"], "10001");
    let outcomes: Vec<&str> =
        message["attempts"].as_array().unwrap().iter().map(|a| a["outcome"].as_str().unwrap()).collect();
    assert_eq!(outcomes, ["accepted", "report"]);
    let alpha = fakes.with(|s| s.alpha_sent.clone());
    assert_eq!(
        alpha,
        [("8801712345678".into(), "Payment received: BDT 1,200. Thank you.".into(), Some("PadmaTrd".into()))]
    );
}

#[tokio::test]
async fn errors_and_timeouts_fail_over_and_the_breaker_opens_and_closes() {
    let (app, fakes, token) = app_with_sms(&["alpha", "ssl_wireless"], (2, Duration::from_secs(2))).await;
    fakes.with(|s| s.alpha = AlphaMode::Broken);
    let providers = |m: &Value| -> Vec<String> {
        m["attempts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| format!("{}:{}", a["provider"], a["outcome"]).replace('"', ""))
            .collect()
    };
    let first = send(&app, &token, sms("first")).await;
    let first = settled(&app, &token, first["messages"][0]["id"].as_str().unwrap(), None).await;
    assert_eq!(providers(&first), ["alpha:unavailable", "ssl_wireless:accepted"]);
    // A provider that does not answer in time is as good as down.
    fakes.with(|s| s.alpha = AlphaMode::Hang);
    let second = send(&app, &token, sms("second")).await;
    let second = settled(&app, &token, second["messages"][0]["id"].as_str().unwrap(), None).await;
    assert_eq!(providers(&second), ["alpha:unavailable", "ssl_wireless:accepted"]);
    assert!(second["attempts"][0]["response"].as_str().unwrap().contains("timed out"), "{second}");
    // Two failures in a row: the breaker is open, Alpha is not even asked.
    fakes.with(|s| s.alpha = AlphaMode::Accept);
    let third = send(&app, &token, sms("third")).await;
    let third = settled(&app, &token, third["messages"][0]["id"].as_str().unwrap(), None).await;
    assert_eq!(providers(&third), ["alpha:skipped", "ssl_wireless:accepted"]);
    // After the cooldown one message tries Alpha again; it works and the breaker closes.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    for text in ["fourth", "fifth"] {
        let next = send(&app, &token, sms(text)).await;
        let next = settled(&app, &token, next["messages"][0]["id"].as_str().unwrap(), None).await;
        assert_eq!(providers(&next)[0], "alpha:accepted", "{next}");
    }
    let (alpha, ssl) = fakes.with(|s| (s.alpha_sent.len(), s.ssl_sent.len()));
    assert_eq!((alpha, ssl), (2, 3), "every message sent exactly once");
}

#[tokio::test]
async fn a_lost_answer_is_retried_with_the_same_csms_id_and_nothing_is_sent_twice() {
    let (app, fakes, token) = app_with_sms(&["ssl_wireless"], (5, Duration::from_secs(30))).await;
    fakes.with(|s| s.ssl_lose_next_answer = true);
    let sent = send(&app, &token, sms("Your OTP is 482913")).await;
    let message = settled(&app, &token, sent["messages"][0]["id"].as_str().unwrap(), None).await;
    assert_eq!(message["status"], "sent", "{message}");
    let attempts = message["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 2, "{message}");
    assert_eq!(attempts[0]["outcome"], "unavailable");
    assert!(attempts[1]["response"].as_str().unwrap().contains("4023"), "{message}");
    let (requests, sent) = fakes.with(|s| (s.ssl_requests, s.ssl_sent.len()));
    assert_eq!((requests, sent), (2, 1), "asked twice, sent once");
}

#[tokio::test]
async fn btrc_rules_hold_for_promotional_sms() {
    let (app, fakes, token) = app_with_sms(&["alpha"], (5, Duration::from_secs(30))).await;
    let promo = |text: &str, to: &str| {
        json!({"type": "notify.announcement", "category": "promotional", "recipients": [to],
               "data": {"subject": "-", "text": text}})
    };
    // Promotional SMS are Bangla, never English or Banglish.
    let response = app
        .as_user(&token, Method::POST, "/v1/notifications")
        .json(&promo("Eid offer: 20% off everything today!", PHONE))
        .send()
        .await
        .unwrap();
    problem(response, 422, "promotional_sms_not_bangla").await;
    let response = app
        .as_user(&token, Method::POST, "/v1/notifications")
        .json(&promo("Eid offer! Ajkei order korun", PHONE))
        .send()
        .await
        .unwrap();
    problem(response, 422, "promotional_sms_not_bangla").await;
    // Three a day per number; the fourth is refused (a transactional one still goes).
    let bangla = "ঈদ উপলক্ষে সব পণ্যে ২০% ছাড়! আজই অর্ডার করুন।";
    for _ in 0..3 {
        send(&app, &token, promo(bangla, PHONE)).await;
    }
    let response = app
        .as_user(&token, Method::POST, "/v1/notifications")
        .json(&promo(bangla, "+8801712345678"))
        .send()
        .await
        .unwrap();
    let body = problem(response, 422, "btrc_daily_limit").await;
    assert!(body["detail"].as_str().unwrap().contains("at most 3"), "{body}");
    send(&app, &token, promo(bangla, "01812345678")).await;
    send(&app, &token, sms("Your OTP is 482913")).await;
    // A batch: the number over its limit is refused, the rest go.
    let batch = json!({"type": "notify.announcement", "category": "promotional", "recipients": [PHONE, "01912345678"],
                       "data": {"subject": "-", "text": bangla}});
    let sent = send(&app, &token, batch).await;
    assert_eq!(sent["messages"].as_array().unwrap().len(), 1, "{sent}");
    assert_eq!(sent["refused"][0]["code"], "btrc_daily_limit");
    assert_eq!(sent["refused"][0]["recipient"], "+8801712345678");

    // Parts: 71 Bengali characters are two UCS-2 parts; `{` takes two GSM-7 septets.
    let preview =
        |text: String| json!({"type": "notify.announcement", "channel": "sms", "data": {"subject": "-", "text": text}});
    let shown = app.ok_json(&token, Method::POST, "/v1/notifications/preview", preview("ক".repeat(71))).await;
    assert_eq!(shown["sms"], json!({"encoding": "ucs2", "units": 71, "parts": 2}));
    let shown = app.ok_json(&token, Method::POST, "/v1/notifications/preview", preview("{a}".into())).await;
    assert_eq!(shown["sms"], json!({"encoding": "gsm7", "units": 5, "parts": 1}));
    let sent = send(&app, &token, sms(&"ক".repeat(71))).await;
    assert_eq!(sent["messages"][0]["segments"], 2);
    assert_eq!(sent["messages"][0]["cost_bdt"], "0.5000", "two parts at 0.25 BDT");
    let id = sent["messages"][0]["id"].as_str().unwrap().to_owned();
    assert_eq!(settled(&app, &token, &id, None).await["status"], "sent");
    assert!(fakes.with(|s| s.alpha_sent.iter().any(|(_, m, _)| m.chars().count() == 71)));
}

/// A promotional SMS to [`PHONE`] triggered as if at `hour`:00 tonight in Dhaka (through the
/// Rust API, which takes the time); its message and today's Dhaka date.
async fn promotional_tonight(
    app: &TestApp,
    token: &str,
    hour: u32,
    text: &str,
) -> (vextrus_notify::service::Queued, chrono::NaiveDate) {
    let org: Value = app.ok_json_get(token, "/v1/me").await;
    let tenant =
        vextrus_db::TenantId::from_uuid(org["memberships"][0]["organization"]["id"].as_str().unwrap().parse().unwrap());
    let dhaka = chrono::FixedOffset::east_opt(6 * 3600).unwrap();
    let today = chrono::Utc::now().with_timezone(&dhaka).date_naive();
    let night = today.and_hms_opt(hour, 0, 0).unwrap().and_local_timezone(dhaka).unwrap().with_timezone(&chrono::Utc);
    let trigger = vextrus_notify::service::Trigger {
        kind: "notify.announcement".into(),
        recipients: vec![vextrus_notify::Recipient::parse(PHONE).unwrap()],
        channels: None,
        category: Some(vextrus_notify::model::Category::Promotional),
        data: json!({"subject": "-", "text": text}),
        idempotency_key: None,
    };
    let mut tx = app.db.db.tenant(tenant).await.unwrap();
    let triggered = app.modules.notify.trigger_at(&mut tx, trigger, night).await.unwrap();
    tx.commit().await.unwrap();
    (triggered.messages[0].clone(), today)
}

/// Makes a held message, and its delivery job, due now.
async fn release_now(app: &TestApp, id: uuid::Uuid) {
    let mut owner = app.db.owner_conn().await;
    sqlx::query("UPDATE notify.messages SET not_before = now() WHERE id = $1")
        .bind(id)
        .execute(&mut owner)
        .await
        .unwrap();
    sqlx::query("UPDATE db.jobs SET run_at = now() WHERE kind = 'notify.deliver' AND payload->>'message' = $1")
        .bind(id.to_string())
        .execute(&mut owner)
        .await
        .unwrap();
    sqlx::query("SELECT pg_notify('vextrus_jobs', 'notify.deliver')").execute(&mut owner).await.unwrap();
}

#[tokio::test]
async fn a_promotional_sms_triggered_at_night_in_dhaka_waits_for_nine_and_then_goes() {
    let (app, fakes, token) = app_with_sms(&["alpha"], (5, Duration::from_secs(30))).await;
    let (queued, today) = promotional_tonight(&app, &token, 22, "শীতের নতুন কালেকশন এসেছে, দেখে যান!").await;
    let queued = &queued;
    let dhaka = chrono::FixedOffset::east_opt(6 * 3600).unwrap();
    let nine = (today + chrono::Duration::days(1)).and_hms_opt(9, 0, 0).unwrap().and_local_timezone(dhaka).unwrap();
    assert_eq!(queued.not_before, nine.with_timezone(&chrono::Utc), "held until 09:00 the next morning");
    tokio::time::sleep(Duration::from_millis(800)).await;
    let message = app.ok_json_get(&token, &format!("/v1/notifications/{}", queued.id)).await;
    assert_eq!(message["status"], "queued", "not sent at night, not dropped");
    assert!(fakes.with(|s| s.alpha_sent.is_empty()));
    // Morning comes (the job and the message were due at 09:00; make that now).
    release_now(&app, queued.id).await;
    let message = settled(&app, &token, &queued.id.to_string(), None).await;
    assert_eq!(message["status"], "sent", "{message}");
    assert_eq!(fakes.with(|s| s.alpha_sent.len()), 1);
}

#[tokio::test]
async fn the_monthly_sms_budget_refuses_what_would_exceed_it() {
    let (app, _fakes, token) = app_with_sms(&["alpha"], (5, Duration::from_secs(30))).await;
    let set = json!({"sms_monthly_budget_bdt": "0.50"});
    let settings = app.ok_json(&token, Method::PUT, "/v1/notifications/settings", set).await;
    assert_eq!(settings["sms_monthly_budget_bdt"], "0.5000");
    send(&app, &token, sms("one")).await;
    send(&app, &token, sms("two")).await;
    let response = app.as_user(&token, Method::POST, "/v1/notifications").json(&sms("three")).send().await.unwrap();
    problem(response, 422, "sms_budget_exhausted").await;
    // Email is not counted against it.
    let mail = json!({"type": "notify.announcement", "recipients": ["accounts@example.com"],
                      "data": {"subject": "Statement", "text": "Your statement is ready."}});
    send(&app, &token, mail).await;
}

#[tokio::test]
async fn triggers_are_validated_idempotent_and_private_to_their_organization() {
    let (app, fakes, token) = app_with_sms(&["alpha"], (5, Duration::from_secs(30))).await;
    // A variable the template uses but the data lacks: 422 before anything is queued.
    let response = app
        .as_user(&token, Method::POST, "/v1/notifications")
        .json(&json!({"type": "notify.announcement", "recipients": [PHONE], "data": {"subject": "x"}}))
        .send()
        .await
        .unwrap();
    let body = problem(response, 422, "template_data_missing").await;
    assert!(body["detail"].as_str().unwrap().contains("text"), "{body}");
    for (bad, code) in [
        (json!({"type": "identity.password_reset", "recipients": [PHONE], "data": {}}), "invalid_field"),
        (json!({"type": "nope.nope", "recipients": [PHONE], "data": {}}), "invalid_field"),
        (json!({"type": "notify.announcement", "recipients": ["0123"], "data": {}}), "invalid_field"),
        (json!({"type": "notify.announcement", "recipients": [], "data": {}}), "invalid_field"),
    ] {
        let response = app.as_user(&token, Method::POST, "/v1/notifications").json(&bad).send().await.unwrap();
        problem(response, 422, code).await;
    }
    let too_many: Vec<String> = (0..1001).map(|i| format!("user{i}@example.com")).collect();
    let body = json!({"type": "notify.announcement", "recipients": too_many, "data": {"subject": "s", "text": "t"}});
    let response = app.as_user(&token, Method::POST, "/v1/notifications").json(&body).send().await.unwrap();
    problem(response, 422, "invalid_field").await;

    // The same idempotency key answers the first trigger's messages and sends nothing more.
    let mut keyed = sms("Your parcel is out for delivery.");
    keyed["idempotency_key"] = json!("parcel-7781");
    let first = send(&app, &token, keyed.clone()).await;
    let again = send(&app, &token, keyed).await;
    assert_eq!(again["replayed"], true);
    assert_eq!(again["messages"][0]["id"], first["messages"][0]["id"]);
    settled(&app, &token, first["messages"][0]["id"].as_str().unwrap(), None).await;
    assert_eq!(fakes.with(|s| s.alpha_sent.len()), 1);

    // Members by user id, in their own language (the owner's is bn-BD: this goes by email).
    let me = app.ok_json_get(&token, "/v1/me").await;
    let owner_id = me["user"]["id"].as_str().unwrap().to_owned();
    let to_owner = json!({"type": "notify.announcement", "recipients": [owner_id, uuid::Uuid::now_v7()],
                          "data": {"subject": "সভা", "text": "আগামীকাল সকাল ১০টায় সভা।"}});
    let sent = send(&app, &token, to_owner).await;
    assert_eq!(sent["messages"][0]["channel"], "email");
    assert_eq!(sent["messages"][0]["recipient"], "owner@vextrus.example");
    assert_eq!(sent["refused"][0]["code"], "not_a_member");

    // Another organization sees none of it.
    app.sign_up("other-co", "owner@other.example", "other-owner").await;
    let other = app.access_token("other-owner", None).await;
    let id = first["messages"][0]["id"].as_str().unwrap();
    let response = app.as_user(&other, Method::GET, &format!("/v1/notifications/{id}")).send().await.unwrap();
    problem(response, 404, "notification_not_found").await;
    let listed = app.ok_json_get(&other, "/v1/notifications").await;
    assert_eq!(listed["items"], json!([]));
    let mine = app.ok_json_get(&token, "/v1/notifications?limit=1").await;
    assert_eq!(mine["items"].as_array().unwrap().len(), 1);
    let next = mine["next"].as_str().unwrap();
    let page = app.ok_json_get(&token, &format!("/v1/notifications?limit=1&after={next}")).await;
    assert_ne!(page["items"][0]["id"], mine["items"][0]["id"]);
}

/// A real SMTP server (aiosmtpd) that keeps every message it accepts as a file.
struct SmtpSink {
    child: Child,
    dir: tempfile::TempDir,
    port: u16,
}

impl SmtpSink {
    fn start() -> Self {
        Self::start_slow(0)
    }

    /// A server that takes `delay_ms` over each message.
    fn start_slow(delay_ms: u64) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/smtp_sink.py");
        let mut child = Command::new("python3")
            .arg(script)
            .arg(dir.path())
            .arg(delay_ms.to_string())
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3 with aiosmtpd (scripts/test.sh installs it)");
        let mut line = String::new();
        std::io::BufRead::read_line(&mut std::io::BufReader::new(child.stdout.take().unwrap()), &mut line).unwrap();
        let port = line.trim().parse().unwrap_or_else(|_| panic!("the SMTP sink did not start: {line:?}"));
        Self { child, dir, port }
    }

    /// Every message received so far, parsed by Python's `email` package.
    fn messages(&self) -> Vec<Value> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(self.dir.path())
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "eml"))
            .collect();
        files.sort();
        if files.is_empty() {
            return Vec::new();
        }
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/mail_summary.py");
        let out = Command::new("python3").arg(script).args(&files).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
    }

    async fn mail_to(&self, to: &str, count: usize) -> Vec<Value> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            let mails: Vec<Value> = self.messages().into_iter().filter(|m| m["to"] == to).collect();
            if mails.len() >= count {
                return mails;
            }
            assert!(tokio::time::Instant::now() < deadline, "{count} mail(s) to {to} never arrived");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn part<'m>(mail: &'m Value, kind: &str) -> &'m str {
    mail["parts"].as_array().unwrap().iter().find(|p| p["type"] == kind).unwrap_or_else(|| panic!("no {kind}: {mail}"))
        ["text"]
        .as_str()
        .unwrap()
}

/// The production shape: the real binary on an external PostgreSQL, no dev mailbox, SMTP.
#[tokio::test]
async fn with_an_external_database_and_smtp_identity_mail_arrives_in_each_users_language() {
    let db = common::test_db().await;
    let sink = SmtpSink::start();
    let data_dir = tempfile::tempdir().unwrap();
    let mut command = vextrus(&["serve", "--listen", "127.0.0.1:0", "--data-dir", data_dir.path().to_str().unwrap()]);
    command
        .env("VEXTRUS_DATABASE_URL", db.owner_url())
        .env("VEXTRUS_MASTER_KEY", vextrus_identity::keys::MasterKey::generate_hex())
        .env("VEXTRUS_NOTIFY_SMTP_URL", format!("smtp://127.0.0.1:{}", sink.port))
        .env("VEXTRUS_NOTIFY_SMTP_FROM", "Vextrus <no-reply@vextrus.test>")
        .env("VEXTRUS_PUBLIC_URL", "http://vextrus.test");
    let server = Server::spawn(command);
    let client = reqwest::Client::new();
    let mailbox = client.get(server.url("/v1/dev/mailbox")).send().await.unwrap();
    assert_eq!(mailbox.status(), 401, "no dev mailbox here");

    for (email, username, locale) in [("rahim@padma.example", "rahim", "bn-BD"), ("ann@meghna.example", "ann", "en")] {
        let body = json!({
            "org": {"slug": format!("{username}-co"), "name": "Padma <Traders>"},
            "user": {"email": email, "username": username, "password": common::PASSWORD, "name": "Rahim Uddin", "locale": locale}
        });
        let asked = client.post(server.url("/v1/signup")).json(&body).send().await.unwrap();
        assert_eq!(asked.status(), 202);
    }
    let bn = &sink.mail_to("rahim@padma.example", 1).await[0];
    assert_eq!(bn["subject"], "Vextrus-এ আপনার নিবন্ধন নিশ্চিত করুন", "{bn}");
    assert!(bn["raw_subject"].as_str().unwrap().starts_with("=?utf-8?b?"), "RFC 2047 encoded: {bn}");
    assert_eq!(bn["content_type"], "multipart/alternative");
    assert_eq!(bn["from"], "Vextrus <no-reply@vextrus.test>");
    let text = part(bn, "text/plain");
    assert!(text.contains("নিবন্ধন") && text.contains("\"Padma <Traders>\""), "{text}");
    assert!(part(bn, "text/html").contains("Padma &lt;Traders&gt;"), "escaped in HTML");
    let unsubscribe = bn["list_unsubscribe"].as_str().unwrap();
    assert!(unsubscribe.starts_with("<http://vextrus.test/v1/notifications/unsubscribe?token="), "{bn}");
    assert_eq!(bn["list_unsubscribe_post"], "List-Unsubscribe=One-Click");
    let en = &sink.mail_to("ann@meghna.example", 1).await[0];
    assert_eq!(en["subject"], "Confirm your sign-up to Vextrus");
    assert!(part(en, "text/plain").contains("the asker's own"));

    // The code in the mail completes the sign-up; the account and organization speak Bengali.
    let code = code_in(part(bn, "text/plain"));
    let done = client
        .post(server.url("/v1/signup/verify"))
        .json(&json!({"token": code, "password": common::PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(done.status(), 201);
    let done: Value = done.json().await.unwrap();
    assert_eq!(done["organization"]["settings"]["locale"], "bn-BD");

    // A password reset and an invitation arrive too.
    let reset = client.post(server.url("/v1/password-reset")).json(&json!({"email": "rahim@padma.example"})).send();
    assert_eq!(reset.await.unwrap().status(), 202);
    let mails = sink.mail_to("rahim@padma.example", 2).await;
    assert_eq!(mails[1]["subject"], "আপনার Vextrus পাসওয়ার্ড রিসেট করুন");
    assert!(mails[1]["list_unsubscribe"].is_string());
    let token: Value = client
        .post(server.url("/oauth/token"))
        .form(&[("grant_type", "password"), ("username", "rahim"), ("password", common::PASSWORD)])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = token["access_token"].as_str().unwrap();
    let invited = client
        .post(server.url("/v1/invitations"))
        .bearer_auth(token)
        .json(&json!({"email": "karim@example.com", "roles": ["member"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(invited.status(), 201, "{}", invited.text().await.unwrap());
    let invitation = &sink.mail_to("karim@example.com", 1).await[0];
    assert_eq!(invitation["subject"], "Vextrus-এ একটি প্রতিষ্ঠানে যোগদানের আমন্ত্রণ", "in the organization's language");
    assert!(part(invitation, "text/html").contains("<code>"));

    // One click on List-Unsubscribe (RFC 8058) is honoured and audited.
    let url = unsubscribe.trim_matches(['<', '>']).replace("http://vextrus.test", &server.base);
    let clicked = client.post(&url).form(&[("List-Unsubscribe", "One-Click")]).send().await.unwrap();
    assert_eq!(clicked.status(), 200);
    let forged = client.post(format!("{url}x")).send().await.unwrap();
    assert_eq!(forged.status(), 404);
    let mut owner = db.owner_conn().await;
    let (suppressed, audited): (i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM notify.suppressions WHERE address = 'rahim@padma.example'),
                (SELECT count(*) FROM audit.events WHERE action = 'notify.unsubscribe')",
    )
    .fetch_one(&mut owner)
    .await
    .unwrap();
    assert_eq!((suppressed, audited), (1, 1));
    // Sent messages keep no code: a sensitive message's data and text are gone once it is sent.
    let kept: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM notify.messages WHERE sensitive AND status = 'sent' AND (data IS NOT NULL OR body IS NOT NULL)",
    )
    .fetch_one(&mut owner)
    .await
    .unwrap();
    assert_eq!(kept, 0);
}

/// `kill -9` while mail is being delivered: after a restart every message arrives, and a
/// duplicate is possible only for a message a worker held at the kill (at most
/// `jobs.concurrency` of them: the window the README states).
#[tokio::test]
async fn a_killed_server_delivers_everything_after_a_restart_with_duplicates_only_in_the_window() {
    const MAILS: usize = 150;
    const CONCURRENCY: usize = 4;
    let db = common::test_db().await;
    // A server that takes 100 ms over each message: the kill finds deliveries in flight.
    let sink = SmtpSink::start_slow(100);
    let data_dir = tempfile::tempdir().unwrap();
    let master = vextrus_identity::keys::MasterKey::generate_hex();
    let start = || {
        let mut command =
            vextrus(&["serve", "--listen", "127.0.0.1:0", "--data-dir", data_dir.path().to_str().unwrap()]);
        command
            .env("VEXTRUS_DATABASE_URL", db.owner_url())
            .env("VEXTRUS_MASTER_KEY", &master)
            .env("VEXTRUS_NOTIFY_SMTP_URL", format!("smtp://127.0.0.1:{}", sink.port))
            .env("VEXTRUS_JOBS_CONCURRENCY", CONCURRENCY.to_string())
            // The dead worker's jobs (and the organization's share of the queue they hold) come
            // back when their lease ends.
            .env("VEXTRUS_JOBS_LEASE_SECS", "5");
        Server::spawn(command)
    };
    // Queued the way an in-process module queues them, in one transaction.
    let mut tx = db.db.system().await.unwrap();
    for i in 0..MAILS {
        let data = json!({"subject": format!("Notice {i}"), "text": "Statement ready."});
        let to = format!("u{i}@kill.example");
        vextrus_notify::queue(&mut tx, &vextrus_notify::templates::ANNOUNCEMENT, &to, Default::default(), data)
            .await
            .unwrap();
    }
    tx.commit().await.unwrap();
    let mut server = start();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while sink.messages().len() < 20 {
        assert!(tokio::time::Instant::now() < deadline, "no mail went out");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    server.child.kill().unwrap();
    server.child.wait().unwrap();
    let before = sink.messages().len();
    assert!(before < MAILS, "everything went out before the kill");
    drop(server);
    let _restarted = start();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let received = loop {
        let received = sink.messages();
        let distinct: HashSet<String> = received.iter().map(|m| m["to"].as_str().unwrap().to_owned()).collect();
        if distinct.len() == MAILS {
            break received;
        }
        assert!(tokio::time::Instant::now() < deadline, "{} of {MAILS} recipients got their mail", distinct.len());
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let duplicates = received.len() - MAILS;
    eprintln!("killed with {before} of {MAILS} mails out; {duplicates} duplicate(s) after the restart");
    assert!(
        duplicates <= CONCURRENCY,
        "{duplicates} duplicates, more than the {CONCURRENCY} jobs in flight at the kill"
    );
}

#[tokio::test]
async fn a_number_on_the_stop_list_gets_no_more_sms_even_one_already_held() {
    let (app, fakes, token) = app_with_sms(&["alpha"], (5, Duration::from_secs(30))).await;
    // Held overnight, then the number answers STOP.
    let held = promotional_tonight(&app, &token, 23, "নতুন অফার!").await.0.id;

    // Only platform operators keep the list; an organization's owner cannot touch it.
    let stop = json!({"phone": "+880 1712-345678", "source": "sms_reply"});
    let by_owner = app.as_user(&token, Method::POST, "/v1/platform/sms-opt-outs").json(&stop).send().await.unwrap();
    problem(by_owner, 403, "permission_denied").await;
    let added = app.op(Method::POST, "/v1/platform/sms-opt-outs").json(&stop).send().await.unwrap();
    assert_eq!(added.status(), 201);
    let added: Value = added.json().await.unwrap();
    assert_eq!(added["phone"], "+8801712345678");

    // A new trigger is refused; the held one fails when its time comes, and nothing is sent.
    let refused =
        app.as_user(&token, Method::POST, "/v1/notifications").json(&sms("Invoice due")).send().await.unwrap();
    let body = problem(refused, 422, "sms_opted_out").await;
    assert!(body["detail"].as_str().unwrap().contains("STOP"), "{body}");
    release_now(&app, held).await;
    let message = settled(&app, &token, &held.to_string(), None).await;
    assert_eq!(message["status"], "failed", "{message}");
    assert!(fakes.with(|s| s.alpha_sent.is_empty()), "no SMS reached the provider");

    // Taken off the list (by any written form), SMS flow again.
    let removed = app.op(Method::DELETE, "/v1/platform/sms-opt-outs/01712345678").send().await.unwrap();
    assert_eq!(removed.status(), 204);
    let listed: Value = app.op(Method::GET, "/v1/platform/sms-opt-outs").send().await.unwrap().json().await.unwrap();
    assert_eq!(listed["items"], json!([]));
    let sent = send(&app, &token, sms("Invoice due")).await;
    let message = settled(&app, &token, sent["messages"][0]["id"].as_str().unwrap(), None).await;
    assert_eq!(message["status"], "sent", "{message}");
}

/// (authorization, body) of every request the SendGrid fake received.
type SendGridLog = Arc<Mutex<Vec<(String, Value)>>>;

async fn start_sendgrid() -> (SendGridLog, String) {
    let log = SendGridLog::default();
    let router = axum::Router::new()
        .route(
            "/v3/mail/send",
            post(|State(log): State<SendGridLog>, headers: axum::http::HeaderMap, body: axum::body::Bytes| async move {
                let auth = headers.get("authorization").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
                let Ok(body) = serde_json::from_slice::<Value>(&body) else {
                    let errors = json!({"errors": [{"message": "Bad Request", "field": null, "help": null}]});
                    return (axum::http::StatusCode::BAD_REQUEST, axum::Json(errors)).into_response();
                };
                if auth != "Bearer SG.test-key" {
                    let errors = json!({"errors": [{"message": "The provided authorization grant is invalid, expired, or revoked", "field": null, "help": null}]});
                    return (axum::http::StatusCode::UNAUTHORIZED, axum::Json(errors)).into_response();
                }
                let mut log = log.lock().unwrap();
                log.push((auth, body));
                let id = format!("sgmsg{}", log.len());
                (axum::http::StatusCode::ACCEPTED, [("x-message-id", id)], "").into_response()
            }),
        )
        .with_state(log.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    (log, base)
}

#[tokio::test]
async fn email_fails_over_from_smtp_to_sendgrid_and_its_signed_events_settle_the_message() {
    use vextrus_notify::providers::sendgrid::{SIGNATURE_HEADER, SendGrid, TIMESTAMP_HEADER, spki_base64};
    use vextrus_notify::{EmailProvider, EmailRoute};
    let (log, base) = start_sendgrid().await;
    let rng = ring::rand::SystemRandom::new();
    let alg = &ring::signature::ECDSA_P256_SHA256_ASN1_SIGNING;
    let pkcs8 = ring::signature::EcdsaKeyPair::generate_pkcs8(alg, &rng).unwrap();
    let signer = ring::signature::EcdsaKeyPair::from_pkcs8(alg, pkcs8.as_ref(), &rng).unwrap();
    let key =
        vextrus_notify::providers::sendgrid::verification_key(&spki_base64(signer.public_key().as_ref())).unwrap();
    let settings = HttpSettings::new(64 * 1024, Duration::from_secs(10));
    let app = TestApp::start_configured(settings, move |m| {
        let dead_smtp = vextrus_notify::providers::smtp::Smtp::new(&vextrus_notify::providers::smtp::SmtpSettings {
            url: "smtp://127.0.0.1:1".into(), // nothing listens: connection refused
            username: None,
            password: None,
            from: "Padma Traders <billing@padma.example>".into(),
            pool_size: 1,
            timeout: Duration::from_secs(2),
        })
        .unwrap();
        let client = http_client(Duration::from_secs(5)).unwrap();
        let sendgrid =
            SendGrid::new(&base, "SG.test-key".into(), "Padma Traders <billing@padma.example>", client).unwrap();
        let email = vec![
            EmailRoute {
                provider: EmailProvider::Smtp(dead_smtp),
                breaker: Breaker::new(5, Duration::from_secs(30)),
                limit: None,
            },
            EmailRoute {
                provider: EmailProvider::SendGrid(sendgrid),
                breaker: Breaker::new(5, Duration::from_secs(30)),
                limit: None,
            },
        ];
        let providers = common::NotifyProviders { email, sendgrid_events_key: Some(key), ..Default::default() };
        m.notify = common::notify_with(m, providers);
    })
    .await;
    // Sign-up mail goes the same way: SMTP is down, SendGrid takes it; its code completes sign-up.
    let body = json!({"org": {"slug": "padma", "name": "Padma Traders"},
                      "user": {"email": "owner@padma.example", "username": "padma-owner",
                               "password": common::PASSWORD, "name": "Rahim Uddin"}});
    let asked = app.client.post(app.url("/v1/signup")).json(&body).send().await.unwrap();
    assert_eq!(asked.status(), 202);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    let code_mail = loop {
        let found = log.lock().unwrap().iter().find(|(_, b)| b.to_string().contains("owner@padma.example")).cloned();
        if let Some((_, body)) = found {
            break body;
        }
        assert!(tokio::time::Instant::now() < deadline, "no sign-up mail reached SendGrid");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let code = code_in(code_mail["content"][0]["value"].as_str().unwrap());
    let verified = app
        .client
        .post(app.url("/v1/signup/verify"))
        .json(&json!({"token": code, "password": common::PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(verified.status(), 201, "{}", verified.text().await.unwrap());
    let token = app.access_token("padma-owner", None).await;
    let mail = |to: &str| {
        json!({"type": "notify.announcement", "recipients": [to],
               "data": {"subject": "চালান INV-9", "text": "Your invoice is attached."}})
    };
    let first =
        send(&app, &token, mail("rahim@customer.example")).await["messages"][0]["id"].as_str().unwrap().to_owned();
    let second =
        send(&app, &token, mail("karim@customer.example")).await["messages"][0]["id"].as_str().unwrap().to_owned();
    let message = settled(&app, &token, &first, None).await;
    assert_eq!(
        (message["status"].as_str(), message["provider"].as_str()),
        (Some("sent"), Some("sendgrid")),
        "{message}"
    );
    let outcomes: Vec<String> = message["attempts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| format!("{}:{}", a["provider"].as_str().unwrap(), a["outcome"].as_str().unwrap()))
        .collect();
    assert_eq!(outcomes, ["smtp:unavailable", "sendgrid:accepted"]);
    settled(&app, &token, &second, None).await;
    let (sg_first, body) = {
        let log = log.lock().unwrap();
        let (_, body) =
            log.iter().find(|(_, b)| b["personalizations"][0]["to"][0]["email"] == "rahim@customer.example").unwrap();
        (message["provider_id"].as_str().unwrap().to_owned(), body.clone())
    };
    assert_eq!(body["from"], json!({"email": "billing@padma.example", "name": "Padma Traders"}));
    assert_eq!(body["subject"], "চালান INV-9");
    assert_eq!(body["content"][0], json!({"type": "text/plain", "value": "Your invoice is attached."}));
    assert_eq!(body["personalizations"][0]["custom_args"]["vextrus_message"], first.as_str());
    assert!(body["headers"]["List-Unsubscribe"].as_str().unwrap().starts_with("<http"), "{body}");
    assert_eq!(body["headers"]["List-Unsubscribe-Post"], "List-Unsubscribe=One-Click");

    // SendGrid's events, signed: delivered for the first, bounce for the second.
    let tenant = body["personalizations"][0]["custom_args"]["vextrus_tenant"].as_str().unwrap().to_owned();
    let second_sg = app.ok_json_get(&token, &format!("/v1/notifications/{second}")).await["provider_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let events = json!([
        {"email": "rahim@customer.example", "event": "processed", "sg_message_id": format!("{sg_first}.filter0001"),
         "vextrus_message": first, "vextrus_tenant": tenant, "timestamp": 1},
        {"email": "rahim@customer.example", "event": "delivered", "sg_message_id": format!("{sg_first}.filter0001"),
         "vextrus_message": first, "vextrus_tenant": tenant, "response": "250 OK", "timestamp": 2},
        {"email": "karim@customer.example", "event": "bounce", "sg_message_id": format!("{second_sg}.filter0002"),
         "vextrus_message": second, "vextrus_tenant": tenant, "reason": "550 5.1.1 no such user", "timestamp": 3},
    ])
    .to_string();
    let post = |body: String, timestamp: String, signature: String| {
        app.client
            .post(app.url("/v1/notifications/providers/sendgrid/events"))
            .header(SIGNATURE_HEADER, signature)
            .header(TIMESTAMP_HEADER, timestamp)
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    let sign = |timestamp: &str, body: &str| {
        let signed = format!("{timestamp}{body}");
        base64::engine::general_purpose::STANDARD.encode(signer.sign(&rng, signed.as_bytes()).unwrap().as_ref())
    };
    let now = chrono::Utc::now().timestamp().to_string();
    // Forged, tampered and replayed batches change nothing.
    let forged = events.replace("bounce", "delivered");
    problem(post(forged, now.clone(), sign(&now, &events)).await.unwrap(), 401, "signature_invalid").await;
    let old = (chrono::Utc::now().timestamp() - 3600).to_string();
    problem(post(events.clone(), old.clone(), sign(&old, &events)).await.unwrap(), 401, "signature_invalid").await;
    assert_eq!(app.ok_json_get(&token, &format!("/v1/notifications/{first}")).await["status"], "sent");
    let read = post(events.clone(), now.clone(), sign(&now, &events)).await.unwrap();
    assert_eq!(read.status(), 200);
    assert_eq!(read.json::<Value>().await.unwrap(), json!({"applied": 2, "ignored": 1}));
    assert_eq!(app.ok_json_get(&token, &format!("/v1/notifications/{first}")).await["status"], "delivered");
    let bounced = app.ok_json_get(&token, &format!("/v1/notifications/{second}")).await;
    assert_eq!(bounced["status"], "failed");
    assert!(bounced["error"].as_str().unwrap().contains("550 5.1.1"), "{bounced}");

    // A spam report stops the organization's mail to that address.
    let spam =
        json!([{"email": "rahim@customer.example", "event": "spamreport", "sg_message_id": format!("{sg_first}.f"),
                       "vextrus_message": first, "vextrus_tenant": tenant, "timestamp": 4}])
        .to_string();
    assert_eq!(post(spam.clone(), now.clone(), sign(&now, &spam)).await.unwrap().status(), 200);
    let after =
        send(&app, &token, mail("rahim@customer.example")).await["messages"][0]["id"].as_str().unwrap().to_owned();
    let after = settled(&app, &token, &after, None).await;
    assert_eq!(after["status"], "failed", "{after}");
    assert_eq!(log.lock().unwrap().iter().filter(|(_, b)| b.to_string().contains("rahim@")).count(), 1);
}

#[tokio::test]
async fn a_providers_rate_limit_spaces_sends_and_loses_none() {
    let (app, fakes, token) = app_with_sms_limited(&["alpha"], (5, Duration::from_secs(30)), 2).await;
    let mut ids = Vec::new();
    for i in 0..8 {
        ids.push(
            send(&app, &token, sms(&format!("Reminder {i}"))).await["messages"][0]["id"].as_str().unwrap().to_owned(),
        );
    }
    for id in &ids {
        let message = settled(&app, &token, id, None).await;
        assert!(["sent", "delivered"].contains(&message["status"].as_str().unwrap()), "{message}");
        let outcomes: Vec<&str> = message["attempts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["outcome"].as_str().unwrap())
            .filter(|o| *o != "report")
            .collect();
        assert_eq!(outcomes, ["accepted"], "waiting for room is no attempt: {message}");
    }
    let (sent, at) = fakes.with(|s| (s.alpha_sent.len(), s.alpha_at.clone()));
    assert_eq!(sent, 8, "each once");
    // 2 at once (the burst), then 2 a second: the eighth no sooner than 3 s after the first.
    let span = *at.last().unwrap() - at[0];
    assert!(span >= Duration::from_millis(2900), "sent over {span:?}");
    for window in at.windows(5) {
        assert!(window[4] - window[0] >= Duration::from_millis(1400), "five within {:?}", window[4] - window[0]);
    }
}

/// (headers, body) of every delivery a webhook receiver got.
type Received = Arc<Mutex<Vec<(axum::http::HeaderMap, axum::body::Bytes)>>>;

#[tokio::test]
async fn a_messages_outcomes_reach_the_organizations_signed_webhook() {
    let (app, _fakes, token) = app_with_sms(&["alpha"], (5, Duration::from_secs(30))).await;
    // The organization's receiver.
    let received: Received = Arc::default();
    let router = axum::Router::new()
        .route(
            "/hooks",
            post(|State(r): State<Received>, headers: axum::http::HeaderMap, body: axum::body::Bytes| async move {
                r.lock().unwrap().push((headers, body));
                "ok"
            }),
        )
        .with_state(received.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hooks", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    let hook = json!({"url": url, "events": ["notification.sent", "notification.delivered", "notification.failed"]});
    let hook = app.ok_json(&token, Method::POST, "/v1/registry/webhooks", hook).await;
    let secret = hook["secret"].as_str().unwrap().to_owned();

    let sent = send(&app, &token, sms("Your order has shipped.")).await;
    let id = sent["messages"][0]["id"].as_str().unwrap().to_owned();
    settled(&app, &token, &id, Some("delivered")).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while received.lock().unwrap().len() < 2 {
        assert!(tokio::time::Instant::now() < deadline, "two events within 15 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut events: Vec<Value> = Vec::new();
    for (headers, body) in received.lock().unwrap().iter() {
        let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret.as_bytes());
        let signature = headers["x-vextrus-signature-256"].to_str().unwrap().trim_start_matches("sha256=").to_owned();
        let expected: String = ring::hmac::sign(&key, body).as_ref().iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(signature, expected, "signed with the webhook's secret");
        events.push(serde_json::from_slice(body).unwrap());
    }
    events.sort_by_key(|e| e["event"].as_str().unwrap().to_owned());
    let names: Vec<&str> = events.iter().map(|e| e["event"].as_str().unwrap()).collect();
    assert_eq!(names, ["notification.delivered", "notification.sent"]);
    let sent_event = &events[1]["data"];
    assert_eq!(sent_event["id"], id.as_str());
    assert_eq!((sent_event["channel"].as_str(), sent_event["provider"].as_str()), (Some("sms"), Some("alpha")));
    assert_eq!(sent_event["recipient"], "+8801712345678");
    // A publish webhook registered without events hears no notifications.
    let quiet =
        app.ok_json(&token, Method::POST, "/v1/registry/webhooks", json!({"url": "https://hooks.example/npm"})).await;
    assert_eq!(quiet["events"], json!(["package.publish", "package.unpublish", "package.dist_tag"]));
}

#[tokio::test]
async fn an_organization_sends_through_its_own_sms_account_sealed_and_never_shown() {
    let (app, fakes, token) = app_with_sms(&["alpha", "ssl_wireless"], (5, Duration::from_secs(30))).await;
    let put = |body: Value| app.as_user(&token, Method::PUT, "/v1/notifications/sms-account").json(&body).send();
    problem(put(json!({"provider": "twilio", "api_key": "x"})).await.unwrap(), 422, "invalid_field").await;
    problem(put(json!({"provider": "alpha"})).await.unwrap(), 422, "invalid_field").await;
    let saved = put(json!({"provider": "alpha", "api_key": "org-alpha-key"})).await.unwrap();
    assert_eq!(saved.status(), 200);
    let shown = app.ok_json_get(&token, "/v1/notifications/sms-account").await;
    assert_eq!(shown["provider"], "alpha");
    assert!(!shown.to_string().contains("org-alpha-key"), "never shown: {shown}");
    let sealed: Vec<u8> = sqlx::query_scalar("SELECT credentials_sealed FROM notify.sms_accounts")
        .fetch_one(&mut app.db.owner_conn().await)
        .await
        .unwrap();
    assert!(!String::from_utf8_lossy(&sealed).contains("org-alpha-key"), "sealed, not stored as written");

    // Its SMS go through its own account.
    let sent = send(&app, &token, sms("Paid: BDT 500")).await;
    let message = settled(&app, &token, sent["messages"][0]["id"].as_str().unwrap(), Some("delivered")).await;
    assert_eq!(message["provider"], "alpha");
    // Another organization's go through the platform's.
    app.sign_up("other-co", "owner@other.example", "other-owner").await;
    let other = app.access_token("other-owner", None).await;
    let theirs = send(&app, &other, sms("Paid: BDT 700")).await;
    settled(&app, &other, theirs["messages"][0]["id"].as_str().unwrap(), None).await;
    // Removed: the platform's again.
    assert_eq!(
        app.as_user(&token, Method::DELETE, "/v1/notifications/sms-account").send().await.unwrap().status(),
        204
    );
    let again = send(&app, &token, sms("Paid: BDT 900")).await;
    settled(&app, &token, again["messages"][0]["id"].as_str().unwrap(), None).await;
    let keys: Vec<(String, String)> =
        fakes.with(|s| s.alpha_sent.iter().map(|(_, msg, _)| msg.clone()).zip(s.alpha_keys.iter().cloned()).collect());
    assert_eq!(
        keys,
        [
            ("Paid: BDT 500".to_owned(), "org-alpha-key".to_owned()),
            ("Paid: BDT 700".to_owned(), "alpha-key".to_owned()),
            ("Paid: BDT 900".to_owned(), "alpha-key".to_owned()),
        ]
    );
    problem(
        app.as_user(&token, Method::GET, "/v1/notifications/sms-account").send().await.unwrap(),
        404,
        "sms_account_not_found",
    )
    .await;
}

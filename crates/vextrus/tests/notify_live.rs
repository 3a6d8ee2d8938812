//! Notify's per-user side: the in-app inbox read live by a real client (`curl --no-buffer` on the
//! Server-Sent Events stream), preferences and quiet hours applied to triggers, and push through
//! a local FCM fake that checks the service account's signed assertion as Google's token
//! endpoint does and answers with FCM HTTP v1's documented errors.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Form, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::post;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{Timelike, Utc};
use common::{TestApp, claims, problem};
use reqwest::Method;
use serde_json::{Value, json};
use vextrus_server::HttpSettings;

/// `curl --no-buffer` on the inbox stream; its lines arrive on a channel as curl prints them.
struct Curl {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl Curl {
    fn open(app: &TestApp, token: &str, last_event_id: Option<&str>) -> Self {
        let mut command = Command::new("curl");
        command.args(["--no-buffer", "--silent", "--show-error", "--max-time", "60", "-H"]);
        command.arg(format!("Authorization: Bearer {token}"));
        if let Some(id) = last_event_id {
            command.args(["-H", &format!("Last-Event-ID: {id}")]);
        }
        command.arg(app.url("/v1/me/notifications/stream"));
        let mut child = command.stdout(Stdio::piped()).stderr(Stdio::null()).spawn().expect("curl runs");
        let stdout = child.stdout.take().unwrap();
        let (send, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if send.send(line).is_err() {
                    break;
                }
            }
        });
        let curl = Self { child, lines };
        assert_eq!(curl.next_line().as_deref(), Some(": ready"), "the stream opens with a comment");
        curl
    }

    fn next_line(&self) -> Option<String> {
        self.lines.recv_timeout(Duration::from_secs(15)).ok()
    }

    /// The next `notification` event: (id, data).
    fn next_event(&self) -> (String, Value) {
        let (mut id, mut event) = (None, None);
        loop {
            let line = self.next_line().expect("an event within 15 s");
            if let Some(v) = line.strip_prefix("id: ") {
                id = Some(v.to_owned());
            } else if let Some(v) = line.strip_prefix("event: ") {
                event = Some(v.to_owned());
            } else if let Some(v) = line.strip_prefix("data: ") {
                assert_eq!(event.as_deref(), Some("notification"));
                return (id.expect("an id before the data"), serde_json::from_str(v).unwrap());
            }
        }
    }

    /// Whether curl ends (the server closed the stream) within `wait`.
    fn ends_within(&mut self, wait: Duration) -> bool {
        let deadline = std::time::Instant::now() + wait;
        while std::time::Instant::now() < deadline {
            if self.child.try_wait().unwrap().is_some() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }
}

impl Drop for Curl {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn in_app(app: &TestApp, token: &str, user: &str, subject: &str) -> String {
    let body = json!({"type": "notify.announcement", "recipients": [user], "channels": ["in_app"],
                      "data": {"subject": subject, "text": format!("{subject}: details inside.")}});
    let sent = app.ok_json(token, Method::POST, "/v1/notifications", body).await;
    sent["messages"][0]["id"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_in_app_message_arrives_live_on_a_real_clients_stream_and_only_its_users() {
    let settings = HttpSettings::new(64 * 1024, Duration::from_secs(10));
    let app = TestApp::start_configured(settings, |_| {}).await;
    let owner = app.vextrus().await;
    let owner_id = claims(&owner)["sub"].as_str().unwrap().to_owned();
    app.join(&owner, "karim@vextrus.example", "karim", &["member"]).await;
    let karim = app.access_token("karim", Some("vextrus")).await;
    let karim_id = claims(&karim)["sub"].as_str().unwrap().to_owned();

    let karims = tokio::task::block_in_place(|| Curl::open(&app, &karim, None));
    let mut owners = tokio::task::block_in_place(|| Curl::open(&app, &owner, None));
    let id = in_app(&app, &owner, &karim_id, "Invoice INV-7 approved").await;
    let (event_id, data) = tokio::task::block_in_place(|| karims.next_event());
    assert_eq!(event_id, id);
    assert_eq!(data["subject"], "Invoice INV-7 approved");
    assert_eq!(data["body"], "Invoice INV-7 approved: details inside.");
    assert_eq!(data["type"], "notify.announcement");
    assert!(data["read_at"].is_null());

    // The inbox: one unread; marking it read (another user cannot, nor another organization).
    let inbox = app.ok_json_get(&karim, "/v1/me/notifications").await;
    assert_eq!((inbox["unread"].as_i64(), inbox["items"][0]["id"].as_str()), (Some(1), Some(id.as_str())));
    let owners_inbox = app.ok_json_get(&owner, "/v1/me/notifications").await;
    assert_eq!(owners_inbox["items"], json!([]), "the owner's inbox holds none of karim's messages");
    let read = |token: &str| app.as_user(token, Method::POST, &format!("/v1/me/notifications/{id}/read")).send();
    problem(read(&owner).await.unwrap(), 404, "notification_not_found").await;
    app.sign_up("other-co", "owner@other.example", "other-owner").await;
    let stranger = app.access_token("other-owner", None).await;
    problem(read(&stranger).await.unwrap(), 404, "notification_not_found").await;
    assert_eq!(read(&karim).await.unwrap().status(), 204);
    let inbox = app.ok_json_get(&karim, "/v1/me/notifications?unread=true").await;
    assert_eq!((inbox["unread"].as_i64(), inbox["items"].as_array().unwrap().len()), (Some(0), 0));
    let archive = |token: &str| app.as_user(token, Method::POST, &format!("/v1/me/notifications/{id}/archive")).send();
    problem(archive(&owner).await.unwrap(), 404, "notification_not_found").await;
    assert_eq!(archive(&karim).await.unwrap().status(), 204);
    assert_eq!(app.ok_json_get(&karim, "/v1/me/notifications").await["items"], json!([]), "archived: out of the inbox");
    let archived = app.ok_json_get(&karim, "/v1/me/notifications?archived=true").await;
    assert_eq!(archived["items"][0]["id"], id.as_str());
    assert!(archived["items"][0]["archived_at"].is_string());

    // Missed while away: reconnecting with Last-Event-ID sends what came after, in order.
    drop(karims);
    let second = in_app(&app, &owner, &karim_id, "Second").await;
    let third = in_app(&app, &owner, &karim_id, "Third").await;
    app.jobs_done("notify.deliver").await;
    let again = tokio::task::block_in_place(|| Curl::open(&app, &karim, Some(&id)));
    let (a, _) = tokio::task::block_in_place(|| again.next_event());
    let (b, _) = tokio::task::block_in_place(|| again.next_event());
    assert_eq!((a, b), (second, third.clone()));
    let fourth = in_app(&app, &owner, &karim_id, "Fourth").await;
    assert_eq!(tokio::task::block_in_place(|| again.next_event()).0, fourth, "then live, no repeats");

    // Nothing of karim's reached the owner's stream; one of the owner's own does.
    let own = in_app(&app, &owner, &owner_id, "For the owner").await;
    assert_eq!(tokio::task::block_in_place(|| owners.next_event()).0, own);

    // Removing karim ends his stream at once; reconnecting is refused.
    let mut again = again;
    let removed = app.as_user(&owner, Method::DELETE, &format!("/v1/members/{karim_id}")).send().await.unwrap();
    assert_eq!(removed.status(), 204);
    assert!(tokio::task::block_in_place(|| again.ends_within(Duration::from_secs(5))), "the stream ended");
    let refused = app.as_user(&karim, Method::GET, "/v1/me/notifications/stream").send().await.unwrap();
    assert_eq!(refused.status(), 401);
    assert!(!tokio::task::block_in_place(|| owners.ends_within(Duration::from_millis(200))), "others' go on");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_are_limited_per_user_and_end_after_their_age() {
    let settings = HttpSettings::new(64 * 1024, Duration::from_secs(10));
    let app = TestApp::start_configured(settings, |m| {
        let limits =
            vextrus_notify::inbox::StreamLimits { per_user: 2, per_instance: 100, max_age: Duration::from_secs(2) };
        let inbox = Some(vextrus_notify::inbox::Inbox::new(limits));
        m.notify = common::notify_with(m, common::NotifyProviders { inbox, ..Default::default() });
    })
    .await;
    let owner = app.vextrus().await;
    let mut first = tokio::task::block_in_place(|| Curl::open(&app, &owner, None));
    let _second = tokio::task::block_in_place(|| Curl::open(&app, &owner, None));
    let third = app.as_user(&owner, Method::GET, "/v1/me/notifications/stream").send().await.unwrap();
    problem(third, 429, "too_many_streams").await;
    assert!(tokio::task::block_in_place(|| first.ends_within(Duration::from_secs(5))), "ended after 2 s");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let _again = tokio::task::block_in_place(|| Curl::open(&app, &owner, None));
    // An API key of the user reads the user's inbox when it carries the permission.
    let key = app.api_key(&owner, &["notify.inbox.read"]).await;
    let listed = app.as_user(&key, Method::GET, "/v1/me/notifications").send().await.unwrap();
    assert_eq!(listed.status(), 200, "a user's own key reads the user's inbox");
}

#[tokio::test]
async fn preferences_and_quiet_hours_shape_what_a_trigger_queues() {
    let app = TestApp::start().await;
    let owner = app.vextrus().await;
    let owner_id = claims(&owner)["sub"].as_str().unwrap().to_owned();
    // Security messages cannot be turned off; bad times are refused.
    let put = |body: Value| app.as_user(&owner, Method::PUT, "/v1/me/notification-preferences").json(&body).send();
    let refused = put(json!({"switches": [{"category": "security", "channel": "email", "enabled": false}]}));
    problem(refused.await.unwrap(), 422, "invalid_field").await;
    problem(put(json!({"quiet_hours": {"starts": "25:00", "ends": "07:00"}})).await.unwrap(), 422, "invalid_field")
        .await;

    // Quiet hours around now (Dhaka), and promotional email off.
    let dhaka = Utc::now() + chrono::Duration::hours(6);
    let hh = |h: i64| format!("{:02}:00", (i64::from(dhaka.hour()) + h).rem_euclid(24));
    let body = json!({
        "switches": [{"category": "promotional", "channel": "email", "enabled": false}],
        "quiet_hours": {"starts": hh(0), "ends": hh(2)},
    });
    let saved = app.ok_json(&owner, Method::PUT, "/v1/me/notification-preferences", body.clone()).await;
    assert_eq!(saved, body);
    assert_eq!(app.ok_json_get(&owner, "/v1/me/notification-preferences").await, body);

    let device = json!({"token": "fcm-token-owner-phone", "platform": "android", "label": "Phone"});
    app.ok_json(&owner, Method::POST, "/v1/me/devices", device).await;
    let trigger = |category: &str| {
        json!({"type": "notify.announcement", "recipients": [owner_id], "channels": ["email", "push", "in_app"],
               "category": category, "data": {"subject": "Eid offer", "text": "ঈদ উপলক্ষে ২০% ছাড়"}})
    };
    let sent = app.ok_json(&owner, Method::POST, "/v1/notifications", trigger("promotional")).await;
    let channels: Vec<&str> =
        sent["messages"].as_array().unwrap().iter().map(|m| m["channel"].as_str().unwrap()).collect();
    assert_eq!(channels, ["push", "in_app"], "{sent}");
    assert_eq!(sent["refused"][0]["code"], "opted_out");
    assert_eq!(sent["refused"][0]["channel"], "email");
    let held = chrono::DateTime::parse_from_rfc3339(sent["messages"][0]["not_before"].as_str().unwrap()).unwrap();
    let in_app_at = chrono::DateTime::parse_from_rfc3339(sent["messages"][1]["not_before"].as_str().unwrap()).unwrap();
    let wait = held.signed_duration_since(Utc::now());
    assert!(wait > chrono::Duration::minutes(60) && wait <= chrono::Duration::hours(2), "push waits: {wait}");
    assert_eq!((held.with_timezone(&Utc) + chrono::Duration::hours(6)).format("%H:%M").to_string(), hh(2));
    assert!(in_app_at.signed_duration_since(Utc::now()) <= chrono::Duration::zero(), "in-app is never held");
    // Transactional email still goes.
    let sent = app.ok_json(&owner, Method::POST, "/v1/notifications", trigger("transactional")).await;
    assert_eq!(sent["messages"].as_array().unwrap().len(), 3, "{sent}");
}

// --- FCM ---------------------------------------------------------------------------------

#[derive(Debug, Default)]
struct FcmState {
    /// The RSAPublicKey (PKCS#1 DER) of the service account.
    public_key: Vec<u8>,
    token_requests: usize,
    /// (device token, title, body) of every message FCM accepted.
    sent: Vec<(String, String, String)>,
    /// Device tokens answered 503 with Retry-After once.
    busy: Vec<String>,
}

#[derive(Debug, Clone, Default)]
struct Fcm(Arc<Mutex<FcmState>>);

async fn fcm_token(State(fcm): State<Fcm>, Form(form): Form<Vec<(String, String)>>) -> axum::response::Response {
    let field = |name: &str| form.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()).unwrap_or_default();
    if field("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer" {
        return (StatusCode::BAD_REQUEST, axum::Json(json!({"error": "unsupported_grant_type"}))).into_response();
    }
    let assertion = field("assertion");
    let parts: Vec<&str> = assertion.split('.').collect();
    let bad = || (StatusCode::BAD_REQUEST, axum::Json(json!({"error": "invalid_grant"}))).into_response();
    if parts.len() != 3 {
        return bad();
    }
    let key = fcm.0.lock().unwrap().public_key.clone();
    let signature = URL_SAFE_NO_PAD.decode(parts[2]).unwrap_or_default();
    let signed = format!("{}.{}", parts[0], parts[1]);
    let verified = ring::signature::UnparsedPublicKey::new(&ring::signature::RSA_PKCS1_2048_8192_SHA256, &key)
        .verify(signed.as_bytes(), &signature);
    let header: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[0]).unwrap_or_default()).unwrap_or_default();
    let claims: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap_or_default()).unwrap_or_default();
    let now = Utc::now().timestamp();
    let (iat, exp) = (claims["iat"].as_i64().unwrap_or(0), claims["exp"].as_i64().unwrap_or(0));
    let ok = verified.is_ok()
        && header["alg"] == "RS256"
        && claims["iss"] == "vextrus-push@vextrus-test.iam.gserviceaccount.com"
        && claims["scope"] == "https://www.googleapis.com/auth/firebase.messaging"
        && claims["aud"].as_str().is_some_and(|a| a.ends_with("/token"))
        && (now - 60..=now + 60).contains(&iat)
        && exp > now
        && exp - iat <= 3600;
    if !ok {
        return bad();
    }
    let n = {
        let mut s = fcm.0.lock().unwrap();
        s.token_requests += 1;
        s.token_requests
    };
    axum::Json(json!({"access_token": format!("ya29.fake-{n}"), "expires_in": 3599, "token_type": "Bearer"}))
        .into_response()
}

fn fcm_error(status: StatusCode, code: &str) -> axum::response::Response {
    let body = json!({"error": {"code": status.as_u16(), "message": code, "status": "NOT_FOUND", "details": [
        {"@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError", "errorCode": code}]}});
    (status, axum::Json(body)).into_response()
}

async fn fcm_send(
    State(fcm): State<Fcm>,
    Path((project, action)): Path<(String, String)>,
    headers: HeaderMap,
    axum::Json(body): axum::Json<Value>,
) -> axum::response::Response {
    let issued = fcm.0.lock().unwrap().token_requests;
    let bearer = headers.get("authorization").and_then(|v| v.to_str().ok()).unwrap_or_default();
    if project != "vextrus-test" || action != "messages:send" || issued == 0 || !bearer.starts_with("Bearer ya29.fake-")
    {
        return fcm_error(StatusCode::UNAUTHORIZED, "THIRD_PARTY_AUTH_ERROR");
    }
    let message = &body["message"];
    let token = message["token"].as_str().unwrap_or_default().to_owned();
    if token == "dead-token" {
        return fcm_error(StatusCode::NOT_FOUND, "UNREGISTERED");
    }
    let mut s = fcm.0.lock().unwrap();
    if token == "busy-token" && !s.busy.contains(&token) {
        s.busy.push(token);
        let mut response = fcm_error(StatusCode::SERVICE_UNAVAILABLE, "UNAVAILABLE");
        response.headers_mut().insert("retry-after", "1".parse().unwrap());
        return response;
    }
    let title = message["notification"]["title"].as_str().unwrap_or_default().to_owned();
    let text = message["notification"]["body"].as_str().unwrap_or_default().to_owned();
    s.sent.push((token, title, text));
    axum::Json(json!({"name": format!("projects/vextrus-test/messages/{}", s.sent.len())})).into_response()
}

/// A service account with a fresh RSA key (made by openssl) and the fake FCM that trusts it.
async fn start_fcm() -> (Fcm, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("key.pem");
    let made = Command::new("openssl")
        .args(["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out"])
        .arg(&key)
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(made.success());
    let public = Command::new("openssl")
        .args(["rsa", "-RSAPublicKey_out", "-outform", "DER", "-in"])
        .arg(&key)
        .output()
        .unwrap();
    assert!(public.status.success());
    let fcm = Fcm::default();
    fcm.0.lock().unwrap().public_key = public.stdout;
    let router = axum::Router::new()
        .route("/token", post(fcm_token))
        .route("/v1/projects/{project}/{action}", post(fcm_send))
        .with_state(fcm.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    let account = json!({
        "type": "service_account",
        "project_id": "vextrus-test",
        "client_email": "vextrus-push@vextrus-test.iam.gserviceaccount.com",
        "private_key": std::fs::read_to_string(&key).unwrap(),
        "token_uri": format!("{base}/token"),
    });
    (fcm, base, account.to_string())
}

#[tokio::test]
async fn push_goes_through_fcm_with_a_signed_service_account_token_and_dead_devices_are_removed() {
    let (fcm, base, account) = start_fcm().await;
    let settings = HttpSettings::new(64 * 1024, Duration::from_secs(10));
    let app = TestApp::start_configured(settings, move |m| {
        let client = vextrus_notify::providers::http_client(Duration::from_secs(5)).unwrap();
        let provider = vextrus_notify::providers::fcm::Fcm::from_service_account(&account, &base, client).unwrap();
        // The dev mailbox takes sign-up mail; push goes by FCM all the same.
        m.notify = common::notify_with(m, common::NotifyProviders { fcm: Some(provider), ..Default::default() });
    })
    .await;
    let owner = app.vextrus().await;
    let owner_id = claims(&owner)["sub"].as_str().unwrap().to_owned();
    for (token, label) in [("good-token", "Phone"), ("dead-token", "Old phone"), ("busy-token", "Tablet")] {
        let device = json!({"token": token, "platform": "android", "label": label});
        app.ok_json(&owner, Method::POST, "/v1/me/devices", device).await;
    }
    let body = json!({"type": "notify.announcement", "recipients": [owner_id], "channels": ["push"],
                      "data": {"subject": "বেতন", "text": "আপনার বেতন জমা হয়েছে"}});
    let sent = app.ok_json(&owner, Method::POST, "/v1/notifications", body).await;
    assert_eq!(sent["messages"].as_array().unwrap().len(), 3, "a message per device: {sent}");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let statuses = loop {
        let mut statuses = Vec::new();
        for m in sent["messages"].as_array().unwrap() {
            let message = app.ok_json_get(&owner, &format!("/v1/notifications/{}", m["id"].as_str().unwrap())).await;
            statuses.push((message["status"].as_str().unwrap().to_owned(), message));
        }
        if statuses.iter().all(|(s, _)| s != "queued") || tokio::time::Instant::now() > deadline {
            break statuses;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let status: Vec<&str> = statuses.iter().map(|(s, _)| s.as_str()).collect();
    assert_eq!(status, ["sent", "failed", "sent"], "{statuses:?}");
    assert!(statuses[1].1["error"].as_str().unwrap().contains("UNREGISTERED"), "{}", statuses[1].1);
    let busy_attempts: Vec<&str> =
        statuses[2].1["attempts"].as_array().unwrap().iter().map(|a| a["outcome"].as_str().unwrap()).collect();
    assert_eq!(busy_attempts, ["unavailable", "accepted"], "503 with Retry-After, then sent");
    let (sent, token_requests) = fcm.0.lock().map(|s| (s.sent.clone(), s.token_requests)).unwrap();
    let mut sent_to: Vec<&str> = sent.iter().map(|(t, _, _)| t.as_str()).collect();
    sent_to.sort_unstable();
    assert_eq!(sent_to, ["busy-token", "good-token"], "each once");
    assert_eq!((sent[0].1.as_str(), sent[0].2.as_str()), ("বেতন", "আপনার বেতন জমা হয়েছে"));
    assert_eq!(token_requests, 1, "one access token, cached");
    let devices = app.ok_json_get(&owner, "/v1/me/devices").await;
    let labels: Vec<&str> = devices.as_array().unwrap().iter().map(|d| d["label"].as_str().unwrap()).collect();
    assert_eq!(labels, ["Phone", "Tablet"], "the unregistered device is gone");
    assert!(devices[0]["last_used_at"].is_string());
    assert!(devices[0].get("token").is_none(), "tokens are never shown");
}

#[tokio::test]
async fn an_organizations_own_texts_are_checked_used_for_its_messages_only_and_removable() {
    let app = TestApp::start().await;
    let owner = app.vextrus().await;
    let owner_id = claims(&owner)["sub"].as_str().unwrap().to_owned();
    let types = app.ok_json_get(&owner, "/v1/notifications/templates").await;
    let announcement = types.as_array().unwrap().iter().find(|t| t["type"] == "notify.announcement").unwrap();
    assert_eq!(announcement["channels"], json!(["email", "sms", "push", "in_app"]));
    assert_eq!(announcement["overridden"], json!([]));

    let put = |path: &str, body: Value| app.as_user(&owner, Method::PUT, path).json(&body).send();
    let path = "/v1/notifications/templates/notify.announcement/bn-BD";
    let own =
        |text: &str| json!({"subject": "[পদ্মা] {{ subject }}", "text": text, "html": null, "sms": "পদ্মা: {{ text }}"});
    // Checked: variables the type's data lacks, syntax, endless work; security types are locked.
    let body = problem(put(path, own("প্রিয় {{ customer }}, {{ text }}")).await.unwrap(), 422, "invalid_field").await;
    assert!(body["detail"].as_str().unwrap().contains("`customer`"), "{body}");
    problem(put(path, own("{{ text ")).await.unwrap(), 422, "invalid_field").await;
    let bomb = "{% for i in range(1000) %}{% for j in range(1000) %}x{% endfor %}{% endfor %}{{ text }}";
    problem(put(path, own(bomb)).await.unwrap(), 422, "invalid_field").await;
    let locked = put("/v1/notifications/templates/identity.password_reset/en", own("{{ text }}")).await.unwrap();
    problem(locked, 403, "template_locked").await;
    problem(put("/v1/notifications/templates/no.such_type/en", own("x")).await.unwrap(), 404, "message_type_not_found")
        .await;

    let text = "প্রিয় গ্রাহক,\n{{ text }}\n— পদ্মা ট্রেডার্স";
    let saved = put(path, own(text)).await.unwrap();
    assert_eq!(saved.status(), 200);
    let texts = app.ok_json_get(&owner, "/v1/notifications/templates/notify.announcement").await;
    assert_eq!(texts["overrides"]["bn-BD"]["text"], text);
    assert_eq!(texts["defaults"]["en"]["text"], "{{ text }}");

    // Used when triggered (rendered again at delivery for email and in-app) in the org's language.
    let notice = |recipients: Value| {
        json!({"type": "notify.announcement", "recipients": recipients, "channels": ["email", "in_app"],
               "data": {"subject": "নতুন মূল্য তালিকা", "text": "১ জানুয়ারি থেকে নতুন দাম।"}})
    };
    app.ok_json(&owner, Method::POST, "/v1/notifications", notice(json!(["buyer@customer.example"]))).await;
    let mail = app.mail_with("buyer@customer.example", "notify.announcement").await;
    assert_eq!(mail["subject"], "[পদ্মা] নতুন মূল্য তালিকা");
    assert_eq!(mail["body"], "প্রিয় গ্রাহক,\n১ জানুয়ারি থেকে নতুন দাম।\n— পদ্মা ট্রেডার্স");
    assert!(mail["html"].is_null(), "no HTML of the old words");
    let preview = app
        .ok_json(
            &owner,
            Method::POST,
            "/v1/notifications/preview",
            json!({"type": "notify.announcement", "locale": "bn-BD",
            "channel": "sms", "data": {"subject": "s", "text": "দাম বদলেছে"}}),
        )
        .await;
    assert_eq!(preview["text"], "পদ্মা: দাম বদলেছে", "the preview shows the organization's own texts");

    // Another organization's messages keep the type's own words.
    app.sign_up("other-co", "owner@other.example", "other-owner").await;
    let other = app.access_token("other-owner", None).await;
    app.ok_json(&other, Method::POST, "/v1/notifications", notice(json!(["shop@other.example"]))).await;
    let theirs = app.mail_with("shop@other.example", "notify.announcement").await;
    assert_eq!(theirs["subject"], "নতুন মূল্য তালিকা");
    let seen = app.ok_json_get(&other, "/v1/notifications/templates/notify.announcement").await;
    assert_eq!(seen["overrides"], json!({}), "B sees none of A's texts");
    problem(app.as_user(&other, Method::DELETE, path).send().await.unwrap(), 404, "template_override_not_found").await;

    // Removed: the type's own words again.
    assert_eq!(app.as_user(&owner, Method::DELETE, path).send().await.unwrap().status(), 204);
    app.ok_json(&owner, Method::POST, "/v1/notifications", notice(json!([owner_id]))).await;
    app.jobs_done("notify.deliver").await;
    let inbox = app.ok_json_get(&owner, "/v1/me/notifications").await;
    assert_eq!(inbox["items"][0]["subject"], "নতুন মূল্য তালিকা");
}

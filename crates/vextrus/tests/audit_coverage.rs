//! Every mutating route of the OpenAPI document, exercised once: each success must leave an
//! audit event with the right action, actor and target. A new endpoint that is not in this
//! scenario (or does not record) fails here.

mod common;

use std::collections::BTreeSet;

use base64::Engine as _;
use common::{PASSWORD, TestApp, claims};
use reqwest::Method;
use serde_json::{Value, json};
use vextrus_identity::totp;

/// POSTs that change nothing (they answer questions).
const READ_ONLY: &[&str] =
    &["POST /v1/authz/check", "POST /v1/notifications/preview", "OPTIONS /v1/files/tus", "HEAD /v1/files/tus/{id}"];

/// Routes that need the S3 backend (this walk runs on the local one): `files::on_s3_…` exercises
/// them and checks their audit events.
const ELSEWHERE: &[&str] =
    &["POST /v1/files/buckets/{bucket}/direct-uploads", "POST /v1/files/direct-uploads/{id}/complete"];

enum Body {
    None,
    Json(Value),
    Form(Vec<(&'static str, String)>),
    /// Raw JSON text with headers (a provider's signed webhook).
    Signed(String, Vec<(&'static str, String)>),
    /// Raw bytes (an upload).
    Raw(Vec<u8>),
    /// Raw bytes with headers (a tus request).
    Headed(Vec<u8>, Vec<(&'static str, String)>),
}

struct Walk<'a> {
    app: &'a TestApp,
    covered: BTreeSet<String>,
}

/// What the newest events must include.
struct Expect<'e> {
    action: &'e str,
    actor: Option<&'e str>,
    target: Option<&'e str>,
}

impl Walk<'_> {
    async fn count(&self) -> i64 {
        sqlx::query_scalar("SELECT count(*) FROM audit.events")
            .fetch_one(&mut self.app.db.owner_conn().await)
            .await
            .unwrap()
    }

    /// Calls `route` (`METHOD /template`) at `path`; asserts success and the event; answers the body.
    async fn call(&mut self, route: &str, path: &str, token: Option<&str>, body: Body, expect: Expect<'_>) -> Value {
        let (method, _) = route.split_once(' ').unwrap();
        let before = self.count().await;
        let mut request = self.app.client.request(Method::from_bytes(method.as_bytes()).unwrap(), self.app.url(path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request = match body {
            Body::None => request,
            Body::Json(v) => request.json(&v),
            Body::Form(f) => request.form(&f),
            Body::Signed(text, headers) => headers
                .iter()
                .fold(request.header("content-type", "application/json").body(text), |r, (k, v)| r.header(*k, v)),
            Body::Raw(bytes) => request.body(bytes),
            Body::Headed(bytes, headers) => headers.iter().fold(request.body(bytes), |r, (k, v)| r.header(*k, v)),
        };
        let response = request.send().await.unwrap();
        let status = response.status();
        let text = response.text().await.unwrap();
        assert!(status.is_success(), "{route}: {status} {text}");
        let new = self.count().await - before;
        assert!(new > 0, "{route} succeeded without an audit event");
        let rows: Vec<(String, Option<String>, Option<String>)> = sqlx::query_as(
            "SELECT action, actor_id::text, target_id FROM audit.events ORDER BY occurred_at DESC, seq DESC LIMIT $1",
        )
        .bind(new)
        .fetch_all(&mut self.app.db.owner_conn().await)
        .await
        .unwrap();
        let found = rows.iter().any(|(action, actor, target)| {
            action == expect.action
                && expect.actor.is_none_or(|a| actor.as_deref() == Some(a))
                && expect.target.is_none_or(|t| target.as_deref() == Some(t))
        });
        assert!(
            found,
            "{route}: no event {} by {:?} on {:?} among {rows:?}",
            expect.action, expect.actor, expect.target
        );
        self.covered.insert(route.to_owned());
        serde_json::from_str(&text).unwrap_or(Value::Null)
    }
}

fn expect<'e>(action: &'e str, actor: Option<&'e str>, target: Option<&'e str>) -> Expect<'e> {
    Expect { action, actor, target }
}

fn code(secret: &str, offset: i64) -> String {
    let secret = totp::from_base32(secret).unwrap();
    format!("{:06}", totp::code_at(&secret, totp::step_of(chrono::Utc::now().timestamp()) + offset))
}

#[tokio::test]
async fn every_mutating_route_records_an_event() {
    // `npm adduser` may make accounts in `cover-co` (the one way left to an unverified address).
    let settings = vextrus_server::HttpSettings::new(64 * 1024, std::time::Duration::from_secs(10));
    // SendGrid's Event Webhook is signed with this key.
    let rng = ring::rand::SystemRandom::new();
    let alg = &ring::signature::ECDSA_P256_SHA256_ASN1_SIGNING;
    let pkcs8 = ring::signature::EcdsaKeyPair::generate_pkcs8(alg, &rng).unwrap();
    let signer = ring::signature::EcdsaKeyPair::from_pkcs8(alg, pkcs8.as_ref(), &rng).unwrap();
    let point = ring::signature::KeyPair::public_key(&signer).as_ref().to_vec();
    let app = TestApp::start_configured(settings, move |m| {
        m.registry.adduser = Some(vextrus_registry::AddUser { org: "cover-co".into(), role: "viewer".into() });
        // An SMS provider the organization can bring its own account for (no SMS is sent here).
        let ssl = vextrus_notify::providers::ssl_wireless::SslWireless {
            base_url: "http://127.0.0.1:1".into(),
            api_token: "platform-token".into(),
            sid: "VEXTRUS".into(),
            client: reqwest::Client::new(),
        };
        let sms = vec![vextrus_notify::SmsRoute {
            provider: vextrus_notify::SmsProvider::SslWireless(ssl),
            rate: 3000,
            breaker: vextrus_notify::providers::Breaker::new(5, std::time::Duration::from_secs(30)),
            limit: None,
        }];
        let providers = common::NotifyProviders { sendgrid_events_key: Some(point), sms, ..Default::default() };
        m.notify = common::notify_with(m, providers);
    })
    .await;
    let mut w = Walk { app: &app, covered: BTreeSet::new() };
    let op = common::TOKEN;

    // Sign-up (asked, then completed with the mailed code), verification, sign-in.
    let signup = json!({"org": {"slug": "cover-co", "name": "Cover Co"},
        "user": {"email": "owner@cover.example", "username": "cover-owner", "password": PASSWORD, "name": "Owner"}});
    w.call("POST /v1/signup", "/v1/signup", None, Body::Json(signup), expect("identity.signup.request", None, None))
        .await;
    let code_mail = app.sign_up_code("owner@cover.example").await;
    let signed = w
        .call(
            "POST /v1/signup/verify",
            "/v1/signup/verify",
            None,
            Body::Json(json!({"token": code_mail, "password": PASSWORD})),
            expect("identity.user.signup", None, None),
        )
        .await;
    let owner_id = signed["user"]["id"].as_str().unwrap().to_owned();
    let org_id = signed["organization"]["id"].as_str().unwrap().to_owned();
    let adduser = json!({"_id": "org.couchdb.user:cover-npm", "name": "cover-npm", "password": PASSWORD,
                         "email": "npm@cover.example", "type": "user", "roles": []});
    let added = app.client.put(app.url("/npm/-/user/org.couchdb.user:cover-npm")).json(&adduser).send().await.unwrap();
    assert_eq!(added.status(), 201);
    let code_mail = common::code_in(app.mail_with("npm@cover.example", "verify_email").await["body"].as_str().unwrap());
    w.call(
        "POST /v1/verify-email",
        "/v1/verify-email",
        None,
        Body::Json(json!({"token": code_mail, "password": PASSWORD})),
        expect("identity.email.verify", None, None),
    )
    .await;
    let form = |extra: &[(&'static str, String)]| {
        let mut f = vec![
            ("grant_type", "password".to_owned()),
            ("username", "cover-owner".to_owned()),
            ("password", PASSWORD.to_owned()),
        ];
        f.extend(extra.iter().cloned());
        Body::Form(f)
    };
    let tokens = w
        .call(
            "POST /oauth/token",
            "/oauth/token",
            None,
            form(&[]),
            expect("authn_login_success", Some(&owner_id), None),
        )
        .await;
    let owner = tokens["access_token"].as_str().unwrap().to_owned();

    // The organization and its roles.
    w.call(
        "PATCH /v1/orgs/{org}",
        "/v1/orgs/cover-co",
        Some(&owner),
        Body::Json(json!({"name": "Cover Traders"})),
        expect("tenancy.organization.update", Some(&owner_id), Some(&org_id)),
    )
    .await;
    w.call(
        "POST /v1/registry/scopes",
        "/v1/registry/scopes",
        Some(&owner),
        Body::Json(json!({"scope": "cover-extra"})),
        expect("registry.scope.claim", Some(&owner_id), Some("@cover-extra")),
    )
    .await;
    w.call(
        "DELETE /v1/registry/scopes/{scope}",
        "/v1/registry/scopes/cover-extra",
        Some(&owner),
        Body::None,
        expect("registry.scope.release", Some(&owner_id), Some("@cover-extra")),
    )
    .await;
    let hook = w
        .call(
            "POST /v1/registry/webhooks",
            "/v1/registry/webhooks",
            Some(&owner),
            Body::Json(json!({"url": "https://hooks.cover.example/npm"})),
            expect("registry.webhook.create", Some(&owner_id), None),
        )
        .await;
    let hook_id = hook["id"].as_str().unwrap().to_owned();
    w.call(
        "DELETE /v1/registry/webhooks/{id}",
        &format!("/v1/registry/webhooks/{hook_id}"),
        Some(&owner),
        Body::None,
        expect("registry.webhook.delete", Some(&owner_id), Some(&hook_id)),
    )
    .await;
    // Notifications: a trigger, the SMS settings, and a one-click unsubscribe from its mail.
    let sent = w
        .call(
            "POST /v1/notifications",
            "/v1/notifications",
            Some(&owner),
            Body::Json(json!({"type": "notify.announcement", "recipients": ["buyer@cover.example"],
                              "data": {"subject": "Stock", "text": "New stock has arrived."}})),
            expect("notify.message.send", Some(&owner_id), None),
        )
        .await;
    assert_eq!(sent["messages"].as_array().unwrap().len(), 1);
    w.call(
        "PUT /v1/notifications/settings",
        "/v1/notifications/settings",
        Some(&owner),
        Body::Json(json!({"sms_sender_id": "CoverCo", "sms_monthly_budget_bdt": "250.00"})),
        expect("notify.settings.update", Some(&owner_id), None),
    )
    .await;
    // Files: a bucket, an upload and a new version, the trash, a legal hold.
    let bucket = w
        .call(
            "POST /v1/files/buckets",
            "/v1/files/buckets",
            Some(&owner),
            Body::Json(json!({"name": "cover-docs", "max_size": 1 << 20})),
            expect("files.bucket.create", Some(&owner_id), None),
        )
        .await;
    let bucket_id = bucket["id"].as_str().unwrap().to_owned();
    w.call(
        "PUT /v1/files/buckets/{bucket}",
        "/v1/files/buckets/cover-docs",
        Some(&owner),
        Body::Json(json!({"max_size": 2 << 20, "unscanned_readable": true, "signed_links": true})),
        expect("files.bucket.update", Some(&owner_id), Some(&bucket_id)),
    )
    .await;
    let file = w
        .call(
            "POST /v1/files/buckets/{bucket}/files",
            "/v1/files/buckets/cover-docs/files?filename=notes.txt",
            Some(&owner),
            Body::Raw(b"cover notes".to_vec()),
            expect("files.file.upload", Some(&owner_id), None),
        )
        .await;
    let file_id = file["id"].as_str().unwrap().to_owned();
    w.call(
        "POST /v1/files/{id}/versions",
        &format!("/v1/files/{file_id}/versions"),
        Some(&owner),
        Body::Raw(b"cover notes, second".to_vec()),
        expect("files.file.upload", Some(&owner_id), Some(&file_id)),
    )
    .await;
    let link = w
        .call(
            "POST /v1/files/{id}/links",
            &format!("/v1/files/{file_id}/links"),
            Some(&owner),
            Body::Json(json!({"expires_in": 600})),
            expect("files.link.issue", Some(&owner_id), Some(&file_id)),
        )
        .await;
    w.call(
        "DELETE /v1/files/{id}/links/{link}",
        &format!("/v1/files/{file_id}/links/{}", link["id"].as_str().unwrap()),
        Some(&owner),
        Body::None,
        expect("files.link.revoke", Some(&owner_id), Some(&file_id)),
    )
    .await;
    w.call(
        "PUT /v1/files/{id}/legal-hold",
        &format!("/v1/files/{file_id}/legal-hold"),
        Some(&owner),
        Body::Json(json!({"hold": true, "reason": "case 42"})),
        expect("files.file.hold", Some(&owner_id), Some(&file_id)),
    )
    .await;
    w.call(
        "PUT /v1/files/{id}/legal-hold",
        &format!("/v1/files/{file_id}/legal-hold"),
        Some(&owner),
        Body::Json(json!({"hold": false})),
        expect("files.file.release", Some(&owner_id), Some(&file_id)),
    )
    .await;
    w.call(
        "DELETE /v1/files/{id}",
        &format!("/v1/files/{file_id}"),
        Some(&owner),
        Body::None,
        expect("files.file.delete", Some(&owner_id), Some(&file_id)),
    )
    .await;
    w.call(
        "POST /v1/files/{id}/restore",
        &format!("/v1/files/{file_id}/restore"),
        Some(&owner),
        Body::None,
        expect("files.file.restore", Some(&owner_id), Some(&file_id)),
    )
    .await;
    // A resumable upload: created, sent, finished; another cancelled.
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let tus = |length: &str| {
        vec![
            ("tus-resumable", "1.0.0".to_owned()),
            ("upload-length", length.to_owned()),
            ("upload-metadata", format!("bucket {},filename {}", b64("cover-docs"), b64("big.txt"))),
        ]
    };
    let created = app
        .as_user(&owner, Method::POST, "/v1/files/tus")
        .header("tus-resumable", "1.0.0")
        .header("upload-length", "5")
        .header("upload-metadata", format!("bucket {},filename {}", b64("cover-docs"), b64("big.txt")))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let upload = created.headers()["location"].to_str().unwrap().to_owned();
    w.call(
        "PATCH /v1/files/tus/{id}",
        &upload,
        Some(&owner),
        Body::Headed(
            b"12345".to_vec(),
            vec![
                ("tus-resumable", "1.0.0".to_owned()),
                ("upload-offset", "0".to_owned()),
                ("content-type", "application/offset+octet-stream".to_owned()),
            ],
        ),
        expect("files.file.upload", Some(&owner_id), None),
    )
    .await;
    w.call(
        "POST /v1/files/tus",
        "/v1/files/tus",
        Some(&owner),
        Body::Headed(Vec::new(), tus("10")),
        expect("files.upload.create", Some(&owner_id), None),
    )
    .await;
    let cancel = app
        .as_user(&owner, Method::POST, "/v1/files/tus")
        .header("tus-resumable", "1.0.0")
        .header("upload-length", "10")
        .header("upload-metadata", format!("bucket {},filename {}", b64("cover-docs"), b64("gone.txt")))
        .send()
        .await
        .unwrap();
    let cancel = cancel.headers()["location"].to_str().unwrap().to_owned();
    w.call(
        "DELETE /v1/files/tus/{id}",
        &cancel,
        Some(&owner),
        Body::Headed(Vec::new(), vec![("tus-resumable", "1.0.0".to_owned())]),
        expect("files.upload.cancel", Some(&owner_id), None),
    )
    .await;
    w.call(
        "POST /v1/files/buckets",
        "/v1/files/buckets",
        Some(&owner),
        Body::Json(json!({"name": "cover-empty", "max_size": 1000})),
        expect("files.bucket.create", Some(&owner_id), None),
    )
    .await;
    w.call(
        "DELETE /v1/files/buckets/{bucket}",
        "/v1/files/buckets/cover-empty",
        Some(&owner),
        Body::None,
        expect("files.bucket.delete", Some(&owner_id), Some("cover-empty")),
    )
    .await;
    // The organization's own SMS account.
    w.call(
        "PUT /v1/notifications/sms-account",
        "/v1/notifications/sms-account",
        Some(&owner),
        Body::Json(json!({"provider": "ssl_wireless", "api_token": "cover-token", "sid": "COVER"})),
        expect("notify.sms_account.update", Some(&owner_id), Some("ssl_wireless")),
    )
    .await;
    w.call(
        "DELETE /v1/notifications/sms-account",
        "/v1/notifications/sms-account",
        Some(&owner),
        Body::None,
        expect("notify.sms_account.delete", Some(&owner_id), Some("ssl_wireless")),
    )
    .await;
    // The organization's own texts for a message type.
    w.call(
        "PUT /v1/notifications/templates/{type}/{locale}",
        "/v1/notifications/templates/notify.announcement/en",
        Some(&owner),
        Body::Json(json!({"subject": "Cover: {{ subject }}", "text": "{{ text }}"})),
        expect("notify.template.update", Some(&owner_id), Some("notify.announcement")),
    )
    .await;
    w.call(
        "DELETE /v1/notifications/templates/{type}/{locale}",
        "/v1/notifications/templates/notify.announcement/en",
        Some(&owner),
        Body::None,
        expect("notify.template.delete", Some(&owner_id), Some("notify.announcement")),
    )
    .await;
    // The owner's own side: preferences, a push device, the in-app inbox.
    w.call(
        "PUT /v1/me/notification-preferences",
        "/v1/me/notification-preferences",
        Some(&owner),
        Body::Json(json!({"switches": [{"category": "promotional", "channel": "sms", "enabled": false}]})),
        expect("notify.preferences.update", Some(&owner_id), Some(&owner_id)),
    )
    .await;
    let device = w
        .call(
            "POST /v1/me/devices",
            "/v1/me/devices",
            Some(&owner),
            Body::Json(json!({"token": "cover-device", "platform": "web"})),
            expect("notify.device.register", Some(&owner_id), None),
        )
        .await;
    let device_id = device["id"].as_str().unwrap().to_owned();
    w.call(
        "DELETE /v1/me/devices/{id}",
        &format!("/v1/me/devices/{device_id}"),
        Some(&owner),
        Body::None,
        expect("notify.device.remove", Some(&owner_id), Some(&device_id)),
    )
    .await;
    let in_app = json!({"type": "notify.announcement", "recipients": [owner_id], "channels": ["in_app"],
                        "data": {"subject": "Stock", "text": "Counted."}});
    let in_app = app.ok_json(&owner, Method::POST, "/v1/notifications", in_app).await;
    let in_app_id = in_app["messages"][0]["id"].as_str().unwrap().to_owned();
    app.jobs_done("notify.deliver").await;
    w.call(
        "POST /v1/me/notifications/{id}/read",
        &format!("/v1/me/notifications/{in_app_id}/read"),
        Some(&owner),
        Body::None,
        expect("notify.inbox.read", Some(&owner_id), Some(&in_app_id)),
    )
    .await;
    w.call(
        "POST /v1/me/notifications/{id}/archive",
        &format!("/v1/me/notifications/{in_app_id}/archive"),
        Some(&owner),
        Body::None,
        expect("notify.inbox.archive", Some(&owner_id), Some(&in_app_id)),
    )
    .await;
    w.call(
        "POST /v1/me/notifications/read",
        "/v1/me/notifications/read",
        Some(&owner),
        Body::None,
        expect("notify.inbox.read_all", Some(&owner_id), Some(&owner_id)),
    )
    .await;
    let tenant = vextrus_db::TenantId::from_uuid(org_id.parse().unwrap());
    let link = app.modules.notify.unsubscribe_link(tenant, "buyer@cover.example", "transactional").unwrap();
    let path = link.strip_prefix(common::ISSUER).unwrap();
    w.call(
        "POST /v1/notifications/unsubscribe",
        path,
        None,
        Body::Form(vec![("List-Unsubscribe", "One-Click".into())]),
        expect("notify.unsubscribe", None, Some("buyer@cover.example")),
    )
    .await;
    // SendGrid reports spam on that mail (as if SendGrid had sent it): the address is suppressed
    // for the rest too.
    let mail_id = sent["messages"][0]["id"].as_str().unwrap().to_owned();
    sqlx::query("UPDATE notify.messages SET provider = 'sendgrid', provider_id = 'sg-cover' WHERE id = $1::uuid")
        .bind(&mail_id)
        .execute(&mut app.db.owner_conn().await)
        .await
        .unwrap();
    let events = json!([{"event": "spamreport", "email": "buyer@cover.example", "sg_message_id": "sg-cover.f1",
                         "vextrus_message": mail_id, "vextrus_tenant": org_id}])
    .to_string();
    let now = chrono::Utc::now().timestamp().to_string();
    let signature = signer.sign(&rng, format!("{now}{events}").as_bytes()).unwrap();
    let signature = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, signature.as_ref());
    w.call(
        "POST /v1/notifications/providers/sendgrid/events",
        "/v1/notifications/providers/sendgrid/events",
        None,
        Body::Signed(
            events,
            vec![
                ("x-twilio-email-event-webhook-signature", signature),
                ("x-twilio-email-event-webhook-timestamp", now),
            ],
        ),
        expect("notify.spam_report", None, Some("buyer@cover.example")),
    )
    .await;
    w.call(
        "PUT /v1/audit/settings",
        "/v1/audit/settings",
        Some(&owner),
        Body::Json(json!({"retention_months": 24})),
        expect("audit.settings.update", Some(&owner_id), Some(&org_id)),
    )
    .await;
    w.call(
        "POST /v1/roles",
        "/v1/roles",
        Some(&owner),
        Body::Json(json!({"key": "clerk", "name": "Clerk", "permissions": ["identity.members.read"]})),
        expect("access.role.create", Some(&owner_id), Some("clerk")),
    )
    .await;
    w.call(
        "PATCH /v1/roles/{role}",
        "/v1/roles/clerk",
        Some(&owner),
        Body::Json(json!({"name": "Senior clerk"})),
        expect("access.role.update", Some(&owner_id), Some("clerk")),
    )
    .await;

    // Invitations and members.
    let invited = w
        .call(
            "POST /v1/invitations",
            "/v1/invitations",
            Some(&owner),
            Body::Json(json!({"email": "x@cover.example", "roles": ["viewer"]})),
            expect("identity.invitation.create", Some(&owner_id), None),
        )
        .await;
    let invitation = invited["id"].as_str().unwrap().to_owned();
    w.call(
        "DELETE /v1/invitations/{id}",
        &format!("/v1/invitations/{invitation}"),
        Some(&owner),
        Body::None,
        expect("identity.invitation.revoke", Some(&owner_id), Some(&invitation)),
    )
    .await;
    app.ok_json(&owner, Method::POST, "/v1/invitations", json!({"email": "m@cover.example", "roles": ["clerk"]})).await;
    let code_invite = app.invitation_code("m@cover.example").await;
    let accepted = w.call("POST /v1/invitations/accept", "/v1/invitations/accept", None,
        Body::Json(json!({"token": code_invite, "user": {"username": "cover-member", "password": PASSWORD, "name": "Member"}})),
        expect("identity.invitation.accept", None, None)).await;
    let member_id = accepted["user_id"].as_str().unwrap().to_owned();
    w.call(
        "PUT /v1/members/{user}/roles",
        &format!("/v1/members/{member_id}/roles"),
        Some(&owner),
        Body::Json(json!({"roles": ["member"]})),
        expect("identity.member.roles_change", Some(&owner_id), Some(&member_id)),
    )
    .await;

    // Service accounts and their keys.
    let account = w
        .call(
            "POST /v1/service-accounts",
            "/v1/service-accounts",
            Some(&owner),
            Body::Json(json!({"name": "Bot", "roles": ["viewer"]})),
            expect("identity.service_account.create", Some(&owner_id), None),
        )
        .await;
    let account_id = account["id"].as_str().unwrap().to_owned();
    let client_id = account["client_id"].as_str().unwrap().to_owned();
    let secret = account["client_secret"].as_str().unwrap().to_owned();
    w.call(
        "PATCH /v1/service-accounts/{id}",
        &format!("/v1/service-accounts/{account_id}"),
        Some(&owner),
        Body::Json(json!({"name": "Robot"})),
        expect("identity.service_account.update", Some(&owner_id), Some(&account_id)),
    )
    .await;
    let key = w
        .call(
            "POST /v1/service-accounts/{id}/api-keys",
            &format!("/v1/service-accounts/{account_id}/api-keys"),
            Some(&owner),
            Body::Json(json!({"name": "deploy"})),
            expect("identity.api_key.create", Some(&owner_id), None),
        )
        .await;
    let key_id = key["id"].as_str().unwrap().to_owned();
    w.call(
        "DELETE /v1/service-accounts/{id}/api-keys/{key}",
        &format!("/v1/service-accounts/{account_id}/api-keys/{key_id}"),
        Some(&owner),
        Body::None,
        expect("identity.api_key.revoke", Some(&owner_id), Some(&key_id)),
    )
    .await;
    let sa_form = Body::Form(vec![
        ("grant_type", "client_credentials".into()),
        ("client_id", client_id.clone()),
        ("client_secret", secret),
    ]);
    // The token endpoint again, for the client_credentials grant.
    w.call("POST /oauth/token", "/oauth/token", None, sa_form, expect("authn_login_success", Some(&account_id), None))
        .await;
    w.call(
        "DELETE /v1/service-accounts/{id}",
        &format!("/v1/service-accounts/{account_id}"),
        Some(&owner),
        Body::None,
        expect("identity.service_account.delete", Some(&owner_id), Some(&account_id)),
    )
    .await;

    // The user's own keys, sessions and second factor.
    let mine = w
        .call(
            "POST /v1/me/api-keys",
            "/v1/me/api-keys",
            Some(&owner),
            Body::Json(json!({"name": "laptop"})),
            expect("identity.api_key.create", Some(&owner_id), None),
        )
        .await;
    let mine_id = mine["id"].as_str().unwrap().to_owned();
    w.call(
        "DELETE /v1/me/api-keys/{id}",
        &format!("/v1/me/api-keys/{mine_id}"),
        Some(&owner),
        Body::None,
        expect("identity.api_key.revoke", Some(&owner_id), Some(&mine_id)),
    )
    .await;
    let other_session = app.login_to("cover-owner", None).await;
    let sid = claims(other_session["access_token"].as_str().unwrap())["sid"].as_str().unwrap().to_owned();
    w.call(
        "DELETE /v1/me/sessions/{id}",
        &format!("/v1/me/sessions/{sid}"),
        Some(&owner),
        Body::None,
        expect("authn_session_revoke", Some(&owner_id), Some(&sid)),
    )
    .await;
    w.call(
        "PUT /v1/mfa-policy",
        "/v1/mfa-policy",
        Some(&owner),
        Body::Json(json!({"require_for": ["admin"]})),
        expect("identity.mfa_policy.update", Some(&owner_id), Some(&org_id)),
    )
    .await;
    let enrolment = w
        .call(
            "POST /v1/me/mfa/totp",
            "/v1/me/mfa/totp",
            Some(&owner),
            Body::None,
            expect("authn_mfa_enroll_start", Some(&owner_id), Some(&owner_id)),
        )
        .await;
    let totp_secret = enrolment["secret"].as_str().unwrap().to_owned();
    w.call(
        "POST /v1/me/mfa/totp/confirm",
        "/v1/me/mfa/totp/confirm",
        Some(&owner),
        Body::Json(json!({"code": code(&totp_secret, 0)})),
        expect("authn_mfa_enable", Some(&owner_id), Some(&owner_id)),
    )
    .await;
    let codes = w
        .call(
            "POST /v1/me/mfa/recovery-codes",
            "/v1/me/mfa/recovery-codes",
            Some(&owner),
            Body::Json(json!({"code": code(&totp_secret, 1)})),
            expect("authn_mfa_recovery_codes_replace", Some(&owner_id), Some(&owner_id)),
        )
        .await;
    let recovery = codes["recovery_codes"][0].as_str().unwrap().to_owned();
    w.call(
        "POST /v1/me/mfa/disable",
        "/v1/me/mfa/disable",
        Some(&owner),
        Body::Json(json!({"code": recovery})),
        expect("authn_mfa_disable", Some(&owner_id), Some(&owner_id)),
    )
    .await;

    // Removing what was made.
    w.call(
        "DELETE /v1/members/{user}",
        &format!("/v1/members/{member_id}"),
        Some(&owner),
        Body::None,
        expect("identity.member.remove", Some(&owner_id), Some(&member_id)),
    )
    .await;
    w.call(
        "DELETE /v1/roles/{role}",
        "/v1/roles/clerk",
        Some(&owner),
        Body::None,
        expect("access.role.delete", Some(&owner_id), Some("clerk")),
    )
    .await;

    // Platform operators.
    w.call(
        "POST /v1/platform/sms-opt-outs",
        "/v1/platform/sms-opt-outs",
        Some(op),
        Body::Json(json!({"phone": "01812345678"})),
        expect("notify.sms_opt_out.add", None, Some("+8801812345678")),
    )
    .await;
    w.call(
        "DELETE /v1/platform/sms-opt-outs/{phone}",
        "/v1/platform/sms-opt-outs/+8801812345678",
        Some(op),
        Body::None,
        expect("notify.sms_opt_out.remove", None, Some("+8801812345678")),
    )
    .await;
    let made = w
        .call(
            "POST /v1/orgs",
            "/v1/orgs",
            Some(op),
            Body::Json(json!({"slug": "made-co", "name": "Made"})),
            expect("tenancy.organization.create", None, None),
        )
        .await;
    let made_id = made["id"].as_str().unwrap().to_owned();
    w.call(
        "POST /v1/orgs/{org}/suspend",
        "/v1/orgs/made-co/suspend",
        Some(op),
        Body::None,
        expect("tenancy.organization.suspend", None, Some(&made_id)),
    )
    .await;
    w.call(
        "POST /v1/orgs/{org}/resume",
        "/v1/orgs/made-co/resume",
        Some(op),
        Body::None,
        expect("tenancy.organization.resume", None, Some(&made_id)),
    )
    .await;
    w.call(
        "PUT /v1/platform/plans/{plan}",
        "/v1/platform/plans/cover-plan",
        Some(op),
        Body::Json(json!({"storage_bytes": 1 << 30, "members": 10, "api_keys": 10, "sms_per_month": 100})),
        expect("tenancy.plan.create", None, Some("cover-plan")),
    )
    .await;
    w.call(
        "PUT /v1/orgs/{org}/plan",
        "/v1/orgs/made-co/plan",
        Some(op),
        Body::Json(json!({"plan": "cover-plan"})),
        expect("tenancy.organization.plan", None, Some(&made_id)),
    )
    .await;
    w.call(
        "PUT /v1/orgs/{org}/plan",
        "/v1/orgs/made-co/plan",
        Some(op),
        Body::Json(json!({"plan": null})),
        expect("tenancy.organization.plan", None, Some(&made_id)),
    )
    .await;
    w.call(
        "DELETE /v1/platform/plans/{plan}",
        "/v1/platform/plans/cover-plan",
        Some(op),
        Body::None,
        expect("tenancy.plan.delete", None, Some("cover-plan")),
    )
    .await;
    w.call(
        "PUT /v1/authz/permissions",
        "/v1/authz/permissions",
        Some(op),
        Body::Json(json!({"permissions": [{"key": "hr.leave.approve", "description": "Approve leave"}]})),
        expect("access.permissions.register", None, None),
    )
    .await;

    // Password reset, last: it signs every session out.
    w.call(
        "POST /v1/password-reset",
        "/v1/password-reset",
        None,
        Body::Json(json!({"email": "owner@cover.example"})),
        expect("authn_password_reset_request", None, None),
    )
    .await;
    let reset = common::code_in(app.mail_with("owner@cover.example", "password_reset").await["body"].as_str().unwrap());
    w.call(
        "POST /v1/password-reset/confirm",
        "/v1/password-reset/confirm",
        None,
        Body::Json(json!({"token": reset, "password": "Another-Secret-2026"})),
        expect("authn_password_reset", Some(&owner_id), Some(&owner_id)),
    )
    .await;

    // Every mutating route of the document was exercised.
    let doc = serde_json::to_value(&app.openapi).unwrap();
    let mut mutating = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            let route = format!("{} {path}", method.to_uppercase());
            if method != "get" && !READ_ONLY.contains(&route.as_str()) && !ELSEWHERE.contains(&route.as_str()) {
                mutating.insert(route);
            }
        }
    }
    let missing: Vec<&String> = mutating.difference(&w.covered).collect();
    assert!(missing.is_empty(), "mutating routes not exercised (add them to this walk, audited): {missing:?}");
}

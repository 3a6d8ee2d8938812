//! An adversarial walk over every route in the OpenAPI document, so that a new endpoint is
//! covered the day it is added:
//! - every route is either on the short public list or requires credentials (401 without);
//! - organization B's owner — with an access token and with an API key — calling any route on
//!   organization A's resources gets exactly the answer a nonexistent resource gets: 404 where
//!   B may use the route (so nothing of A's exists for B), and the same 403 for platform routes
//!   whatever the id; never a success;
//! - B's lists show nothing of A's; and after the walk A's data is untouched.

mod common;

use std::collections::HashMap;

use base64::Engine as _;
use common::TestApp;
use reqwest::Method;
use serde_json::{Value, json};

/// Routes that need no credentials, and why.
const PUBLIC: &[&str] = &[
    "GET /.well-known/jwks.json",            // public keys
    "GET /.well-known/audit-keys.json",      // public keys, retired ones too
    "GET /.well-known/openid-configuration", // discovery
    "GET /healthz",                          // probes
    "GET /readyz",
    "POST /oauth/token",                                // signs in
    "POST /v1/signup",                                  // asks to create an organization
    "POST /v1/signup/verify",                           // the code is the credential
    "POST /v1/verify-email",                            // the code is the credential
    "POST /v1/invitations/accept",                      // the code is the credential
    "POST /v1/password-reset",                          // answers the same for every address
    "POST /v1/password-reset/confirm",                  // the code is the credential
    "POST /v1/notifications/unsubscribe",               // the signed link is the credential
    "POST /v1/notifications/providers/sendgrid/events", // SendGrid's signature is the credential
    "GET /f/{token}",                                   // a signed link: the token is the credential
];

/// Routes that answer a stream that stays open: B's own lists are not read to the end there
/// (`notify_live` shows a stream carries only its own user's messages).
const STREAMS: &[&str] = &["GET /v1/me/notifications/stream"];

/// Routes whose path names something every organization shares (a message type), acting on
/// the caller's own organization: B succeeds on its own, sees nothing of A's, and changes nothing
/// of A's (checked after the walk).
const SHARED: &[&str] = &[
    "GET /v1/notifications/templates/{type}",
    "PUT /v1/notifications/templates/{type}/{locale}",
    "DELETE /v1/notifications/templates/{type}/{locale}",
];

/// A body that passes validation, so that the resource lookup (not a 422) answers.
fn body_for(method: &str, path: &str) -> Option<Value> {
    let body = match (method, path) {
        ("PATCH", "/v1/orgs/{org}") => json!({"name": "Pwned"}),
        ("PUT", "/v1/members/{user}/roles") => json!({"roles": ["viewer"]}),
        ("PATCH", "/v1/roles/{role}") => json!({"name": "Pwned", "permissions": []}),
        ("PATCH", "/v1/service-accounts/{id}") => json!({"name": "Pwned", "active": false}),
        ("POST", "/v1/service-accounts/{id}/api-keys") => json!({"name": "Pwned"}),
        ("POST", "/v1/orgs") => json!({"slug": "pwned-org", "name": "Pwned"}),
        ("POST", "/v1/roles") => json!({"key": "pwned", "name": "Pwned", "permissions": []}),
        ("POST", "/v1/invitations") => json!({"email": "pwned@example.com", "roles": ["viewer"]}),
        ("POST", "/v1/service-accounts") => json!({"name": "Pwned", "roles": ["viewer"]}),
        ("POST", "/v1/me/api-keys") => json!({"name": "Pwned"}),
        ("POST", "/v1/registry/scopes") => json!({"scope": "pwned-scope"}),
        ("POST", "/v1/registry/webhooks") => json!({"url": "https://pwned.example/hook"}),
        ("POST", "/v1/authz/check") => json!({"permission": "identity.members.read"}),
        ("POST", "/v1/notifications") => {
            json!({"type": "notify.announcement", "recipients": ["pwned@example.com"], "data": {"subject": "s", "text": "t"}})
        }
        ("POST", "/v1/notifications/preview") => {
            json!({"type": "notify.announcement", "data": {"subject": "s", "text": "t"}})
        }
        ("PUT", "/v1/authz/permissions") => json!({"permissions": []}),
        ("PUT", "/v1/notifications/templates/{type}/{locale}") => json!({"subject": "Pwned", "text": "{{ text }}"}),
        ("POST", "/v1/platform/sms-opt-outs") => json!({"phone": "01712345678"}),
        ("POST", "/v1/me/devices") => json!({"token": "pwned-device-token", "platform": "android"}),
        ("PUT", "/v1/platform/plans/{plan}") => {
            json!({"storage_bytes": 1, "members": 1, "api_keys": 0, "sms_per_month": 0})
        }
        ("PUT", "/v1/orgs/{org}/plan") => json!({"plan": null}),
        ("POST", "/v1/files/buckets") => json!({"name": "pwned-bucket", "max_size": 1000}),
        ("PUT", "/v1/files/buckets/{bucket}") => json!({"max_size": 1000}),
        ("PUT", "/v1/files/{id}/legal-hold") => json!({"hold": false}),
        ("POST", "/v1/files/buckets/{bucket}/direct-uploads") => {
            json!({"filename": "pwned.pdf", "size": 10, "content_type": "application/pdf"})
        }
        _ if method == "POST" || method == "PUT" || method == "PATCH" => json!({}),
        _ => return None,
    };
    Some(body)
}

/// Organization A, with one of everything.
struct Victim {
    owner_token: String,
    /// Path parameter values naming A's resources, by route.
    ids: HashMap<&'static str, String>,
    /// Strings that must never appear in B's answers.
    secrets: Vec<String>,
}

async fn victim(app: &TestApp) -> Victim {
    let org = app.sign_up("victim-co", "owner@victim.example", "victim-owner").await;
    let owner = app.access_token("victim-owner", None).await;
    let member = app.join(&owner, "staff@victim.example", "victim-staff", &["member"]).await;
    let role = json!({"key": "victim-role", "name": "Victim", "permissions": ["identity.members.read"]});
    app.ok_json(&owner, Method::POST, "/v1/roles", role).await;
    let account = json!({"name": "Victim bot", "roles": ["viewer"]});
    let account = app.ok_json(&owner, Method::POST, "/v1/service-accounts", account).await;
    let account_id = account["id"].as_str().unwrap().to_owned();
    let account_key: Value = app
        .ok_json(
            &owner,
            Method::POST,
            &format!("/v1/service-accounts/{account_id}/api-keys"),
            json!({"name": "victim key"}),
        )
        .await;
    let own_key: Value = app.ok_json(&owner, Method::POST, "/v1/me/api-keys", json!({"name": "victim own key"})).await;
    let invitation: Value = app
        .ok_json(
            &owner,
            Method::POST,
            "/v1/invitations",
            json!({"email": "pending@victim.example", "roles": ["viewer"]}),
        )
        .await;
    app.ok_json(&owner, Method::POST, "/v1/registry/scopes", json!({"scope": "victim-scope"})).await;
    let hook = app
        .ok_json(&owner, Method::POST, "/v1/registry/webhooks", json!({"url": "https://victim-hooks.example/npm"}))
        .await;
    let notice = json!({"type": "notify.announcement", "recipients": ["customer@victim.example"],
                        "data": {"subject": "Victim notice", "text": "Victim text"}});
    let notice = app.ok_json(&owner, Method::POST, "/v1/notifications", notice).await;
    let owner_id = common::claims(&owner)["sub"].as_str().unwrap().to_owned();
    let in_app = json!({"type": "notify.announcement", "recipients": [owner_id], "channels": ["in_app"],
                        "data": {"subject": "Victim notice", "text": "Victim text"}});
    let in_app = app.ok_json(&owner, Method::POST, "/v1/notifications", in_app).await;
    let device = json!({"token": "victim-device-token", "platform": "android", "label": "Victim phone"});
    let device = app.ok_json(&owner, Method::POST, "/v1/me/devices", device).await;
    let own = json!({"subject": "{{ subject }}", "text": "Victim own words: {{ text }}"});
    app.ok_json(&owner, Method::PUT, "/v1/notifications/templates/notify.announcement/bn-BD", own).await;
    app.jobs_done("notify.deliver").await;
    // An operator gave A a plan of its own.
    let plan = json!({"storage_bytes": 1 << 30, "members": 10, "api_keys": 10, "sms_per_month": 10});
    let defined = app.op(Method::PUT, "/v1/platform/plans/victim-plan").json(&plan).send().await.unwrap();
    assert_eq!(defined.status(), 201);
    let given =
        app.op(Method::PUT, "/v1/orgs/victim-co/plan").json(&json!({"plan": "victim-plan"})).send().await.unwrap();
    assert_eq!(given.status(), 200);
    // A bucket with a file in it, under a legal hold.
    let bucket = json!({"name": "victim-docs", "max_size": 1 << 20, "unscanned_readable": true, "signed_links": true});
    app.ok_json(&owner, Method::POST, "/v1/files/buckets", bucket).await;
    let uploaded = app
        .as_user(&owner, Method::POST, "/v1/files/buckets/victim-docs/files?filename=victim-secret.txt")
        .body("Victim file body")
        .send()
        .await
        .unwrap();
    assert_eq!(uploaded.status(), 201);
    let victim_file: Value = uploaded.json().await.unwrap();
    let victim_file = victim_file["id"].as_str().unwrap().to_owned();
    app.ok_json(&owner, Method::PUT, &format!("/v1/files/{victim_file}/legal-hold"), json!({"hold": true})).await;
    let link = app.ok_json(&owner, Method::POST, &format!("/v1/files/{victim_file}/links"), json!({})).await;
    let victim_link = link["id"].as_str().unwrap().to_owned();
    // A resumable upload in progress.
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let tus = app
        .as_user(&owner, Method::POST, "/v1/files/tus")
        .header("tus-resumable", "1.0.0")
        .header("upload-length", "100")
        .header("upload-metadata", format!("bucket {},filename {}", b64("victim-docs"), b64("victim-draft.txt")))
        .send()
        .await
        .unwrap();
    assert_eq!(tus.status(), 201);
    let victim_upload = tus.headers()["location"].to_str().unwrap().rsplit('/').next().unwrap().to_owned();
    let session = common::claims(&owner)["sid"].as_str().unwrap().to_owned();
    let org_id = org["organization"]["id"].as_str().unwrap().to_owned();
    let ids = HashMap::from([
        ("org", org_id.clone()),
        ("user", member["user_id"].as_str().unwrap().to_owned()),
        ("role", "victim-role".to_owned()),
        ("/v1/invitations/{id}", invitation["id"].as_str().unwrap().to_owned()),
        ("/v1/service-accounts/{id}", account_id.clone()),
        ("/v1/me/sessions/{id}", session),
        ("/v1/me/api-keys/{id}", own_key["id"].as_str().unwrap().to_owned()),
        ("key", account_key["id"].as_str().unwrap().to_owned()),
        ("scope", "victim-scope".to_owned()),
        ("/v1/registry/webhooks/{id}", hook["id"].as_str().unwrap().to_owned()),
        ("/v1/notifications/{id}", notice["messages"][0]["id"].as_str().unwrap().to_owned()),
        ("/v1/me/notifications/{id}", in_app["messages"][0]["id"].as_str().unwrap().to_owned()),
        ("/v1/me/devices/{id}", device["id"].as_str().unwrap().to_owned()),
        ("phone", "+8801712345678".to_owned()),
        ("type", "notify.announcement".to_owned()),
        ("locale", "bn-BD".to_owned()),
        ("plan", "victim-plan".to_owned()),
        ("bucket", "victim-docs".to_owned()),
        ("/v1/files/{id}", victim_file.clone()),
        ("/v1/files/tus/{id}", victim_upload.clone()),
        ("/v1/files/direct-uploads/{id}", victim_upload.clone()),
        ("link", victim_link.clone()),
    ]);
    let secrets = vec![
        org_id,
        "victim-co".into(),
        "victim.example".into(),
        "victim-role".into(),
        "victim-scope".into(),
        "victim-hooks.example".into(),
        "Victim notice".into(),
        "Victim phone".into(),
        "Victim own words".into(),
        "victim-device-token".into(),
        "victim-docs".into(),
        "victim-secret.txt".into(),
        "Victim file body".into(),
        account_id,
        account["client_id"].as_str().unwrap().to_owned(),
        own_key["prefix"].as_str().unwrap().to_owned(),
        member["user_id"].as_str().unwrap().to_owned(),
    ];
    Victim { owner_token: owner, ids, secrets }
}

/// Fills `{param}`s of `path` with A's ids (or, with `nonexistent`, with ids nothing has).
fn fill(path: &str, ids: &HashMap<&'static str, String>, nonexistent: bool) -> String {
    let mut out = String::new();
    let mut rest = path;
    while let Some(start) = rest.find('{') {
        let end = rest[start..].find('}').unwrap() + start;
        let name = &rest[start + 1..end];
        out.push_str(&rest[..start]);
        let value = if nonexistent {
            match name {
                "role" => "no-such-role".to_owned(),
                "scope" => "no-such-scope".to_owned(),
                "phone" => "+8801999999999".to_owned(),
                "type" => "no.such_type".to_owned(),
                "locale" => "en".to_owned(),
                "plan" => "no-such-plan".to_owned(),
                "bucket" => "no-such-bucket".to_owned(),
                _ => uuid::Uuid::now_v7().to_string(),
            }
        } else {
            let route_key = format!("{}{{{name}}}", &path[..path.find(&format!("{{{name}}}")).unwrap()]);
            ids.iter()
                .find(|(k, _)| **k == route_key || **k == name)
                .map(|(_, v)| v.clone())
                .unwrap_or_else(|| panic!("no victim id for {{{name}}} in {path}: add one to the walk"))
        };
        out.push_str(&value);
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    out
}

fn operations(app: &TestApp) -> Vec<(String, String, bool)> {
    let doc = serde_json::to_value(&app.openapi).unwrap();
    let mut ops = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let secured = op.get("security").and_then(Value::as_array).is_some_and(|s| !s.is_empty());
            ops.push((method.to_uppercase(), path.clone(), secured));
        }
    }
    ops.sort();
    ops
}

async fn call(app: &TestApp, method: &str, path: &str, url_path: &str, token: Option<&str>) -> (u16, String) {
    let mut request = app.client.request(Method::from_bytes(method.as_bytes()).unwrap(), app.url(url_path));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(body) = body_for(method, path) {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.text().await.unwrap())
}

fn code(body: &str) -> String {
    serde_json::from_str::<Value>(body).ok().and_then(|v| v["code"].as_str().map(str::to_owned)).unwrap_or_default()
}

#[tokio::test]
async fn every_route_needs_credentials_and_keeps_organizations_apart() {
    let app = TestApp::start().await;
    let a = victim(&app).await;
    app.sign_up("intruder-co", "owner@intruder.example", "intruder").await;
    let b_token = app.access_token("intruder", None).await;
    let b_key: Value = app
        .as_user(&b_token, Method::POST, "/v1/me/api-keys")
        .json(&json!({"name": "intruder key"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let b_key = b_key["secret"].as_str().unwrap().to_owned();

    let ops = operations(&app);
    assert!(ops.len() >= 40, "the walk covers the whole document ({} operations)", ops.len());
    let mut targeted = 0;
    for (method, path, secured) in &ops {
        let route = format!("{method} {path}");
        if PUBLIC.contains(&route.as_str()) {
            assert!(!secured, "{route} is listed as public but documents security");
            continue;
        }
        assert!(secured, "{route} documents no security and is not on the public list");
        let a_path = fill(path, &a.ids, false);

        // No credentials, or nonsense: 401.
        for token in [None, Some("not-a-token"), Some("vxk_ffffffffffff_nope")] {
            let (status, body) = call(&app, method, path, &a_path, token).await;
            assert_eq!(status, 401, "{route} with {token:?}: {body}");
            // (A HEAD answer has no body to carry the code.)
            if method != "HEAD" {
                assert_eq!(code(&body), "unauthorized", "{route}");
            }
        }

        if SHARED.contains(&route.as_str()) {
            // B acts on its own organization's texts: never A's.
            for token in [&b_token, &b_key] {
                let (status, body) = call(&app, method, path, &a_path, Some(token)).await;
                assert!(status < 500, "{route}: {status} {body}");
                for secret in &a.secrets {
                    assert!(!body.contains(secret.as_str()), "{route} leaked {secret}: {body}");
                }
            }
            continue;
        }
        // B against A's resources: the same answer as for a resource that does not exist.
        if path.contains('{') {
            targeted += 1;
            let nowhere = fill(path, &a.ids, true);
            for token in [&b_token, &b_key] {
                let (status, body) = call(&app, method, path, &a_path, Some(token)).await;
                let (control, control_body) = call(&app, method, path, &nowhere, Some(token)).await;
                assert!(!(200..300).contains(&status), "{route}: B reached A's resource: {status} {body}");
                assert_eq!(
                    (status, code(&body)),
                    (control, code(&control_body)),
                    "{route}: A's resource is distinguishable"
                );
                assert!(
                    status == 404 || (status == 403 && code(&body) == "permission_denied"),
                    "{route}: {status} {body}"
                );
                if status == 403 {
                    let platform = path.starts_with("/v1/orgs/{org}/") || path.starts_with("/v1/platform/");
                    assert!(platform, "{route}: only platform routes may refuse B outright");
                }
                // (An error may echo what the caller sent, which is no leak.)
                for secret in a.secrets.iter().filter(|s| !a_path.contains(s.as_str())) {
                    assert!(!body.contains(secret.as_str()), "{route} leaked {secret}: {body}");
                }
            }
        } else if method == "GET" && !STREAMS.contains(&route.as_str()) {
            // B's own lists show nothing of A's.
            for token in [&b_token, &b_key] {
                let (_, body) = call(&app, method, path, path, Some(token)).await;
                for secret in &a.secrets {
                    assert!(!body.contains(secret.as_str()), "{route} leaked {secret}: {body}");
                }
            }
        }
    }
    assert!(targeted >= 15, "routes with A's ids: {targeted}");

    // A is untouched.
    let owner = &a.owner_token;
    let org: Value = app.ok_json_get(owner, "/v1/orgs/victim-co").await;
    assert_eq!(org["name"], "Org victim-co");
    let usage: Value = app.ok_json_get(owner, "/v1/usage").await;
    assert_eq!(usage["plan"], "victim-plan", "B changed nothing of A's plan");
    let file: Value = app.ok_json_get(owner, &format!("/v1/files/{}", a.ids["/v1/files/{id}"])).await;
    assert_eq!((file["legal_hold"].as_bool(), file["deleted_at"].is_null()), (Some(true), true), "{file}");
    assert_eq!(file["versions"].as_array().unwrap().len(), 1, "B added no version: {file}");
    let content = app
        .as_user(owner, Method::GET, &format!("/v1/files/{}/content", a.ids["/v1/files/{id}"]))
        .send()
        .await
        .unwrap();
    assert_eq!(content.text().await.unwrap(), "Victim file body");
    let head = app
        .as_user(owner, Method::HEAD, &format!("/v1/files/tus/{}", a.ids["/v1/files/tus/{id}"]))
        .header("tus-resumable", "1.0.0")
        .send()
        .await
        .unwrap();
    assert_eq!(
        (head.status().as_u16(), head.headers()["upload-offset"].to_str().unwrap()),
        (200, "0"),
        "B wrote nothing to A's upload"
    );
    let links: Value = app.ok_json_get(owner, &format!("/v1/files/{}/links", a.ids["/v1/files/{id}"])).await;
    assert_eq!(links["items"].as_array().unwrap().len(), 1, "B made no link to A's file");
    assert!(links["items"][0]["revoked_at"].is_null(), "B revoked nothing of A's");
    let bucket: Value = app.ok_json_get(owner, "/v1/files/buckets/victim-docs").await;
    assert_eq!(bucket["max_size"], 1 << 20, "B changed nothing of A's bucket");
    let member: Value = app.ok_json_get(owner, &format!("/v1/members/{}", a.ids["user"])).await;
    assert_eq!(member["roles"], json!(["member"]));
    let role: Value = app.ok_json_get(owner, "/v1/roles/victim-role").await;
    assert_eq!(role["name"], "Victim");
    let account: Value =
        app.ok_json_get(owner, &format!("/v1/service-accounts/{}", a.ids["/v1/service-accounts/{id}"])).await;
    assert_eq!((account["name"].as_str(), account["status"].as_str()), (Some("Victim bot"), Some("active")));
    let keys: Value =
        app.ok_json_get(owner, &format!("/v1/service-accounts/{}/api-keys", a.ids["/v1/service-accounts/{id}"])).await;
    assert_eq!(keys["items"].as_array().unwrap().len(), 1, "B created no key for A's account");
    assert!(keys["items"][0]["revoked_at"].is_null());
    let mine: Value = app.ok_json_get(owner, "/v1/me/api-keys").await;
    assert!(mine["items"][0]["revoked_at"].is_null());
    let invitations: Value = app.ok_json_get(owner, "/v1/invitations").await;
    assert_eq!(invitations["items"][0]["status"], "pending");
    let inbox: Value = app.ok_json_get(owner, "/v1/me/notifications").await;
    assert_eq!((inbox["unread"].as_i64(), inbox["items"][0]["subject"].as_str()), (Some(1), Some("Victim notice")));
    let texts: Value = app.ok_json_get(owner, "/v1/notifications/templates/notify.announcement").await;
    assert_eq!(texts["overrides"]["bn-BD"]["text"], "Victim own words: {{ text }}", "A's texts are A's");
    let devices: Value = app.ok_json_get(owner, "/v1/me/devices").await;
    assert_eq!(devices[0]["label"], "Victim phone", "B removed none of A's devices");
    let sessions: Value = app.ok_json_get(owner, "/v1/me/sessions").await;
    assert_eq!(sessions.as_array().unwrap().len(), 1, "A's session was not signed out");
}

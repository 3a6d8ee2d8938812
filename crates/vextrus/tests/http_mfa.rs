//! Second factors, organization MFA policies, sign-in throttling, password reset and platform
//! operators, over HTTP.

mod common;

use std::time::Duration;

use common::{PASSWORD, TestApp, claims, problem};
use reqwest::Method;
use serde_json::{Value, json};
use vextrus_identity::totp;

/// The TOTP code for a base32 secret (as an authenticator app computes it), for the step
/// `offset` steps from now. Enrolment confirms with the current step and sign-ins use the next
/// one (the server accepts one step of drift), so a code is never a replay of the previous one,
/// whenever a step boundary falls.
fn code(secret: &str, offset: i64) -> String {
    let secret = totp::from_base32(secret).unwrap();
    let step = totp::step_of(chrono::Utc::now().timestamp()) + offset;
    format!("{:06}", totp::code_at(&secret, step))
}

/// Enrols and confirms TOTP for the holder of `token`; the secret and recovery codes.
async fn enable_totp(app: &TestApp, token: &str) -> (String, Vec<String>) {
    let started = app.as_user(token, Method::POST, "/v1/me/mfa/totp").send().await.unwrap();
    assert_eq!(started.status(), 201);
    let started: Value = started.json().await.unwrap();
    let secret = started["secret"].as_str().unwrap().to_owned();
    assert!(started["otpauth_uri"].as_str().unwrap().starts_with("otpauth://totp/Vextrus:"));
    let confirmed = app
        .as_user(token, Method::POST, "/v1/me/mfa/totp/confirm")
        .json(&json!({"code": code(&secret, 0)}))
        .send()
        .await
        .unwrap();
    assert_eq!(confirmed.status(), 200);
    let codes: Vec<String> = confirmed.json::<Value>().await.unwrap()["recovery_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect();
    (secret, codes)
}

fn password_form<'a>(username: &'a str, otp: Option<&'a str>) -> Vec<(&'a str, &'a str)> {
    let mut form = vec![("grant_type", "password"), ("username", username), ("password", PASSWORD)];
    form.extend(otp.map(|o| ("otp", o)));
    form
}

#[tokio::test]
async fn totp_guards_sign_in_and_recovery_codes_work_once() {
    let app = TestApp::start().await;
    app.sign_up("mfa-co", "owner@mfa.example", "mfa-owner").await;
    let token = app.access_token("mfa-owner", None).await;

    // Confirming with a wrong code fails and enrolment stays pending.
    let started: Value =
        app.as_user(&token, Method::POST, "/v1/me/mfa/totp").send().await.unwrap().json().await.unwrap();
    let wrong = app.as_user(&token, Method::POST, "/v1/me/mfa/totp/confirm").json(&json!({"code": "000000"})).send();
    assert_eq!(problem(wrong.await.unwrap(), 422, "invalid_field").await["errors"][0]["field"], "code");
    let status: Value = app.as_user(&token, Method::GET, "/v1/me/mfa").send().await.unwrap().json().await.unwrap();
    assert_eq!((status["totp"].as_bool(), status["totp_pending"].as_bool()), (Some(false), Some(true)));
    let _ = started;

    let (secret, recovery) = enable_totp(&app, &token).await;
    assert_eq!(recovery.len(), 10);
    let again = app.as_user(&token, Method::POST, "/v1/me/mfa/totp").send().await.unwrap();
    problem(again, 409, "mfa_already_enabled").await;

    // Now the password alone is not enough.
    let (status, body) = app.token(&password_form("mfa-owner", None)).await;
    assert_eq!((status, body["error"].as_str().unwrap()), (400, "mfa_required"));
    let (status, body) = app.token(&password_form("mfa-owner", Some("123456"))).await;
    assert_eq!((status, body["error"].as_str().unwrap()), (400, "invalid_grant"));
    let current = code(&secret, 1);
    let (status, _) = app.token(&password_form("mfa-owner", Some(&current))).await;
    assert_eq!(status, 200);
    // The same code cannot be used twice.
    let (status, body) = app.token(&password_form("mfa-owner", Some(&current))).await;
    assert_eq!((status, body["error"].as_str().unwrap()), (400, "invalid_grant"), "replayed code");

    // A recovery code works once (formatting forgiven).
    let spaced = recovery[0].to_uppercase().replace('-', " ");
    let (status, _) = app.token(&password_form("mfa-owner", Some(&spaced))).await;
    assert_eq!(status, 200);
    let (status, _) = app.token(&password_form("mfa-owner", Some(&recovery[0]))).await;
    assert_eq!(status, 400);
    let status: Value = app.as_user(&token, Method::GET, "/v1/me/mfa").send().await.unwrap().json().await.unwrap();
    assert_eq!(status["recovery_codes_left"], 9);

    // API keys cannot touch second factors.
    let key: Value = app
        .as_user(&token, Method::POST, "/v1/me/api-keys")
        .json(&json!({"name": "k"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let key = key["secret"].as_str().unwrap();
    let by_key = app.as_user(key, Method::POST, "/v1/me/mfa/disable").json(&json!({"code": recovery[1]})).send();
    problem(by_key.await.unwrap(), 403, "session_required").await;

    // Disabling needs a valid code; afterwards the password suffices again.
    let bad = app.as_user(&token, Method::POST, "/v1/me/mfa/disable").json(&json!({"code": "999999"})).send();
    problem(bad.await.unwrap(), 422, "invalid_field").await;
    let off = app.as_user(&token, Method::POST, "/v1/me/mfa/disable").json(&json!({"code": recovery[1]})).send();
    assert_eq!(off.await.unwrap().status(), 204);
    let (status, _) = app.token(&password_form("mfa-owner", None)).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn an_mfa_policy_holds_admins_to_a_second_factor() {
    let app = TestApp::start().await;
    app.sign_up("policy-co", "owner@policy.example", "policy-owner").await;
    let owner = app.access_token("policy-owner", None).await;
    app.join(&owner, "m@policy.example", "policy-member", &["member"]).await;
    let set = app
        .as_user(&owner, Method::PUT, "/v1/mfa-policy")
        .json(&json!({"require_for": ["owner", "admin", "owner"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(set.status(), 200);
    assert_eq!(set.json::<Value>().await.unwrap()["require_for"], json!(["admin", "owner"]));
    let member = app.access_token("policy-member", None).await;
    problem(app.as_user(&member, Method::GET, "/v1/mfa-policy").send().await.unwrap(), 403, "permission_denied").await;
    assert!(!claims(&member)["roles"].as_array().unwrap().is_empty(), "members are not held to it");

    // The owner without a second factor gets a token that can only enrol one.
    let (status, signed_in) = app.token(&password_form("policy-owner", None)).await;
    assert_eq!(status, 200);
    assert_eq!(signed_in["mfa_enrollment_required"], true);
    let limited = signed_in["access_token"].as_str().unwrap();
    assert_eq!(claims(limited)["roles"], json!([]));
    problem(app.as_user(limited, Method::GET, "/v1/members").send().await.unwrap(), 403, "permission_denied").await;
    let (secret, _) = enable_totp(&app, limited).await;
    // The next refresh carries the roles again.
    let refresh = signed_in["refresh_token"].as_str().unwrap();
    let (status, refreshed) = app.token(&[("grant_type", "refresh_token"), ("refresh_token", refresh)]).await;
    assert_eq!(status, 200);
    assert_eq!(claims(refreshed["access_token"].as_str().unwrap())["roles"], json!(["owner"]));
    assert!(refreshed.get("mfa_enrollment_required").is_none());
    let current = code(&secret, 1);
    let (status, _) = app.token(&password_form("policy-owner", Some(&current))).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn failed_sign_ins_slow_down_known_and_unknown_accounts_alike() {
    let app = TestApp::start().await;
    app.sign_up("throttle-co", "owner@throttle.example", "throttled").await;
    let attempt = |login: &'static str, password: &'static str| {
        let app = &app;
        async move {
            let response = app
                .client
                .post(app.url("/oauth/token"))
                .form(&[("grant_type", "password"), ("username", login), ("password", password)])
                .send()
                .await
                .unwrap();
            let retry = response.headers().get("retry-after").map(|v| v.to_str().unwrap().to_owned());
            let status = response.status().as_u16();
            (status, response.json::<Value>().await.unwrap()["error"].as_str().unwrap_or_default().to_owned(), retry)
        }
    };
    let mut known = Vec::new();
    let mut unknown = Vec::new();
    for _ in 0..5 {
        known.push(attempt("throttled", "wrong-password-1").await.0);
        unknown.push(attempt("nobody-at-all", "wrong-password-1").await.0);
    }
    assert_eq!(known, [400; 5]);
    assert_eq!(known, unknown, "unknown accounts are answered exactly like known ones");
    // The sixth try is refused without looking at the password, even the right one.
    let (status, error, retry) = attempt("throttled", PASSWORD).await;
    assert_eq!((status, error.as_str()), (429, "slow_down"));
    assert!(retry.unwrap().parse::<u64>().unwrap() >= 1);
    assert_eq!(attempt("nobody-at-all", PASSWORD).await.0, 429);
    // After the delay the right password works and clears the count.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert_eq!(attempt("throttled", PASSWORD).await.0, 200);
    assert_eq!(attempt("throttled", "wrong-password-1").await.0, 400, "the count started over");
}

#[tokio::test]
async fn password_reset_goes_by_mail_once_and_ends_every_session() {
    let app = TestApp::start().await;
    app.sign_up("reset-co", "owner@reset.example", "reset-owner").await;
    let before = app.login_to("reset-owner", None).await;

    let ask =
        |email: &'static str| app.client.post(app.url("/v1/password-reset")).json(&json!({"email": email})).send();
    let known = ask("Owner@Reset.Example").await.unwrap();
    let unknown = ask("ghost@reset.example").await.unwrap();
    assert_eq!((known.status(), unknown.status()), (reqwest::StatusCode::ACCEPTED, reqwest::StatusCode::ACCEPTED));
    assert_eq!(known.text().await.unwrap(), unknown.text().await.unwrap(), "the same answer for both");
    let mail = app.mail_with("owner@reset.example", "password_reset").await;
    let code = common::code_in(mail["body"].as_str().unwrap());

    let confirm = |token: String, password: &'static str| {
        app.client
            .post(app.url("/v1/password-reset/confirm"))
            .json(&json!({"token": token, "password": password}))
            .send()
    };
    let weak = confirm(code.clone(), "password").await.unwrap();
    assert_eq!(problem(weak, 422, "invalid_field").await["errors"][0]["field"], "password");
    assert_eq!(confirm(code.clone(), "Brand-New-Secret-2026").await.unwrap().status(), 204);
    problem(confirm(code.clone(), "Another-New-Secret-2026").await.unwrap(), 400, "invalid_token").await;

    // The old password and the old session (its access token too, at once) are finished; the
    // new password works.
    let (status, _) = app.token(&password_form("reset-owner", None)).await;
    assert_eq!(status, 400);
    let old_access = before["access_token"].as_str().unwrap();
    problem(app.as_user(old_access, Method::GET, "/v1/me").send().await.unwrap(), 401, "unauthorized").await;
    let refresh = before["refresh_token"].as_str().unwrap();
    let (status, body) = app.token(&[("grant_type", "refresh_token"), ("refresh_token", refresh)]).await;
    assert_eq!((status, body["error"].as_str().unwrap()), (400, "invalid_grant"));
    let (status, _) = app
        .token(&[("grant_type", "password"), ("username", "reset-owner"), ("password", "Brand-New-Secret-2026")])
        .await;
    assert_eq!(status, 200);

    // Nothing was mailed to the address without an account (its job ran: the queue is empty).
    app.jobs_done("identity.send_password_reset").await;
    let ghost: Value =
        app.op(Method::GET, "/v1/dev/mailbox?to=ghost@reset.example").send().await.unwrap().json().await.unwrap();
    assert_eq!(ghost, json!([]));
}

#[tokio::test]
async fn platform_operators_are_users_with_a_second_factor() {
    let app = TestApp::start().await;
    app.sign_up("ops-home", "ops@ops.example", "operator-one").await;
    let home = app.access_token("operator-one", None).await;
    fn platform_form(otp: Option<&str>) -> Vec<(&str, &str)> {
        let mut form = password_form("operator-one", otp);
        form.push(("org", "platform"));
        form
    }
    let (status, body) = app.token(&platform_form(None)).await;
    assert_eq!((status, body["error_description"].as_str().unwrap()), (400, "You are not a platform operator."));

    let mut tx = app.db.db.system().await.unwrap();
    let cli = vextrus_audit::Actor::new(vextrus_audit::ActorKind::PlatformOperator, None, Some("cli:root".into()));
    let granted = vextrus_identity::operators::set_platform_role(&mut tx, "operator-one", true, cli.clone());
    let granted = granted.await.unwrap();
    tx.commit().await.unwrap();
    // Recorded in the platform's chain, with who did it.
    let mut tx = app.db.db.system().await.unwrap();
    let filter =
        vextrus_audit::Filter { action_prefix: Some("identity.platform_operator".into()), ..Default::default() };
    let recorded = vextrus_audit::search(&mut tx, vextrus_db::TenantId::PLATFORM, &filter, 5).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(recorded.len(), 1);
    assert_eq!((recorded[0].action.as_str(), &recorded[0].actor), ("identity.platform_operator.grant", &cli));
    assert_eq!(recorded[0].target, Some(vextrus_audit::Target::new("user", granted.id)));
    assert_eq!(recorded[0].changes, json!({"platform_role": {"before": null, "after": "platform_admin"}}));
    let (status, body) = app.token(&platform_form(None)).await;
    assert_eq!(status, 400);
    assert!(body["error_description"].as_str().unwrap().contains("second factor"), "{body}");

    let (secret, _) = enable_totp(&app, &home).await;
    let current = code(&secret, 1);
    let (status, signed_in) = app.token(&platform_form(Some(&current))).await;
    assert_eq!(status, 200, "{signed_in}");
    let token = signed_in["access_token"].as_str().unwrap();
    let c = claims(token);
    assert_eq!(
        (c["org"].as_str(), c["roles"].clone()),
        (Some("00000000-0000-0000-0000-000000000000"), json!(["platform_admin"]))
    );
    assert_eq!(app.as_user(token, Method::GET, "/v1/orgs").send().await.unwrap().status(), 200);
    let created = app
        .as_user(token, Method::POST, "/v1/orgs")
        .json(&json!({"slug": "made-by-operator", "name": "Made by an operator"}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    // Platform scope is not an organization: tenant routes refuse it.
    problem(app.as_user(token, Method::GET, "/v1/members").send().await.unwrap(), 403, "permission_denied").await;
    problem(app.as_user(token, Method::GET, "/auth/verify").send().await.unwrap(), 403, "org_required").await;

    // Revoked: the platform session cannot refresh.
    let mut tx = app.db.db.system().await.unwrap();
    vextrus_identity::operators::set_platform_role(&mut tx, "operator-one", false, cli).await.unwrap();
    tx.commit().await.unwrap();
    let refresh = signed_in["refresh_token"].as_str().unwrap();
    let (status, body) = app.token(&[("grant_type", "refresh_token"), ("refresh_token", refresh)]).await;
    assert_eq!((status, body["error"].as_str().unwrap()), (400, "invalid_grant"));
}

//! Sign-up and email verification over HTTP, with the real job worker delivering the mail.

mod common;

use std::time::Duration;

use common::{PASSWORD, TestApp, code_in};
use reqwest::Method;
use serde_json::{Value, json};
use sqlx::Executor;

fn signup_body(slug: &str, email: &str, username: &str) -> Value {
    json!({
        "org": {"slug": slug, "name": "Padma Traders"},
        "user": {"email": email, "username": username, "password": "Shapla-Bazar-2026", "name": "Rahim Uddin", "phone": "01712345678"}
    })
}

async fn sign_up(app: &TestApp, body: &Value) -> reqwest::Response {
    app.client.post(app.url("/v1/signup")).json(body).send().await.unwrap()
}

#[tokio::test]
async fn sign_up_creates_org_and_owner_and_mails_a_verification_code() {
    let app = TestApp::start().await;
    let response = sign_up(&app, &signup_body("padma-traders", "Rahim@Example.com", "Rahim")).await;
    assert_eq!(response.status(), 201);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["organization"]["slug"], "padma-traders");
    assert_eq!(body["organization"]["settings"]["timezone"], "Asia/Dhaka");
    assert_eq!(body["user"]["email"], "rahim@example.com");
    assert_eq!(body["user"]["username"], "rahim");
    assert_eq!(body["user"]["phone"], "+8801712345678");
    assert!(body["user"]["email_verified_at"].is_null());
    assert!(!body.to_string().contains("argon2"), "no password material in responses");

    let mut owner = app.db.owner_conn().await;
    let (roles, hash): (Vec<String>, String) = sqlx::query_as(
        "SELECT ARRAY(SELECT a.role FROM access.assignments a WHERE a.tenant_id = m.tenant_id AND a.subject_id = u.id),
                u.password_hash
           FROM identity.memberships m JOIN identity.users u ON u.id = m.user_id",
    )
    .fetch_one(&mut owner)
    .await
    .unwrap();
    assert_eq!(roles, vec!["owner"]);
    assert!(hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));

    let mail = app.mail_for("rahim@example.com").await;
    assert!(mail["subject"].as_str().unwrap().contains("Verify"));
    let code = code_in(mail["body"].as_str().unwrap());
    let verify =
        || app.client.post(app.url("/v1/verify-email")).json(&json!({"token": code, "password": PASSWORD})).send();
    let verified = verify().await.unwrap();
    assert_eq!(verified.status(), 200);
    let at: Option<chrono::DateTime<chrono::Utc>> =
        sqlx::query_scalar("SELECT email_verified_at FROM identity.users").fetch_one(&mut owner).await.unwrap();
    assert!(at.is_some());
    let again = verify().await.unwrap();
    assert_eq!(again.status(), 400, "codes are single-use");
    let body: Value = again.json().await.unwrap();
    assert_eq!(body["code"], "invalid_token");
}

#[tokio::test]
async fn duplicates_are_409_and_leave_nothing_behind() {
    let app = TestApp::start().await;
    assert_eq!(sign_up(&app, &signup_body("first-org", "a@example.com", "alpha")).await.status(), 201);
    for (body, code, field) in [
        (signup_body("second-org", "A@EXAMPLE.COM", "beta"), "email_taken", "user.email"),
        (signup_body("second-org", "b@example.com", "Alpha"), "username_taken", "user.username"),
        (signup_body("first-org", "c@example.com", "gamma"), "slug_taken", "org.slug"),
    ] {
        let response = sign_up(&app, &body).await;
        assert_eq!(response.status(), 409);
        let problem: Value = response.json().await.unwrap();
        assert_eq!((problem["code"].as_str().unwrap(), problem["errors"][0]["field"].as_str().unwrap()), (code, field));
    }
    // The failed sign-ups rolled back whole: "second-org" was never kept.
    let orgs: Value = app.op(Method::GET, "/v1/orgs").send().await.unwrap().json().await.unwrap();
    assert_eq!(orgs["items"].as_array().unwrap().len(), 1);
    let users: i64 = sqlx::query_scalar("SELECT count(*) FROM identity.users")
        .fetch_one(&mut app.db.owner_conn().await)
        .await
        .unwrap();
    assert_eq!(users, 1);
}

#[tokio::test]
async fn bad_sign_ups_name_the_field() {
    let app = TestApp::start().await;
    let mut cases = Vec::new();
    for (path, value, field) in [
        ("/user/password", json!("password1"), "user.password"),
        ("/user/password", json!("Password"), "user.password"),
        ("/user/password", json!("short"), "user.password"),
        ("/user/email", json!("not-an-email"), "user.email"),
        ("/user/username", json!("-bad"), "user.username"),
        ("/user/phone", json!("01212345678"), "user.phone"),
        ("/user/name", json!(""), "user.name"),
        ("/org/slug", json!("No"), "org.slug"),
        ("/user/role", json!("owner"), "user.role"),
    ] {
        let mut body = signup_body("fine-org", "ok@example.com", "okay");
        let (parent, key) = path.rsplit_once('/').unwrap();
        body.pointer_mut(parent).unwrap()[key] = value;
        cases.push((body, field));
    }
    cases.push((json!({"user": signup_body("x-org", "x@example.com", "xx")["user"]}), "org"));
    for (body, field) in cases {
        let response = sign_up(&app, &body).await;
        assert_eq!(response.status(), 422, "{body}");
        let problem: Value = response.json().await.unwrap();
        assert_eq!(problem["errors"][0]["field"], field, "{body}");
    }
    let users: i64 = sqlx::query_scalar("SELECT count(*) FROM identity.users")
        .fetch_one(&mut app.db.owner_conn().await)
        .await
        .unwrap();
    assert_eq!(users, 0);
}

#[tokio::test]
async fn request_path_can_never_read_password_hashes() {
    let app = TestApp::start().await;
    let body: Value = sign_up(&app, &signup_body("hash-org", "h@example.com", "hasher")).await.json().await.unwrap();
    let tenant = body["organization"]["id"].as_str().unwrap();
    let mut conn = app.db.app_conn().await;
    conn.execute(format!("BEGIN; SELECT set_config('vextrus.tenant_id', '{tenant}', true)").as_str()).await.unwrap();
    let visible: i64 = sqlx::query_scalar("SELECT count(*) FROM identity.users").fetch_one(&mut conn).await.unwrap();
    assert_eq!(visible, 1, "a tenant sees its members");
    let err = sqlx::query("SELECT password_hash FROM identity.users").fetch_all(&mut conn).await.unwrap_err();
    assert!(err.to_string().contains("permission denied"), "{err}");
    conn.execute("ROLLBACK").await.unwrap();
    let other: i64 = {
        conn.execute("BEGIN; SELECT set_config('vextrus.tenant_id', '01a20000-0000-7000-8000-000000000000', true)")
            .await
            .unwrap();
        sqlx::query_scalar("SELECT count(*) FROM identity.users").fetch_one(&mut conn).await.unwrap()
    };
    assert_eq!(other, 0, "another tenant sees no users that are not its members");
}

#[tokio::test]
async fn dev_mailbox_is_for_operators_and_dev_mode_only() {
    let app = TestApp::start().await;
    let response = app.client.get(app.url("/v1/dev/mailbox")).send().await.unwrap();
    assert_eq!(response.status(), 401);

    let db = common::test_db().await;
    let mut production = common::modules(&db.db).await;
    production.identity.dev_mailbox = false;
    let token = vextrus_server::OperatorToken::new(Some(secrecy::SecretString::from(common::TOKEN)));
    let settings = vextrus_server::HttpSettings::new(1024, Duration::from_secs(5));
    let (router, _) = vextrus::app(vextrus::state(db.db.clone(), token, &production), settings);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    let response =
        reqwest::Client::new().get(format!("{base}/v1/dev/mailbox")).bearer_auth(common::TOKEN).send().await.unwrap();
    assert_eq!(response.status(), 404);
    let problem: Value = response.json().await.unwrap();
    assert_eq!(problem["code"], "dev_mailbox_disabled");
}

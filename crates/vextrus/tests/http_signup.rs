//! Sign-up and email verification over HTTP, with the real job worker delivering the mail.

mod common;

use std::time::Duration;

use common::{TestApp, code_in};
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

async fn count(app: &TestApp, sql: &str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(&mut app.db.owner_conn().await).await.unwrap()
}

#[tokio::test]
async fn sign_up_mails_a_code_and_the_code_creates_the_org_and_its_verified_owner() {
    let app = TestApp::start().await;
    let response = sign_up(&app, &signup_body("padma-traders", "Rahim@Example.com", "Rahim")).await;
    assert_eq!(response.status(), 202);
    let asked: Value = response.json().await.unwrap();
    assert_eq!(asked["email"], "rahim@example.com");
    // Nothing exists until the address is proved.
    assert_eq!(count(&app, "SELECT count(*) FROM identity.users").await, 0);
    assert_eq!(count(&app, "SELECT count(*) FROM tenancy.organizations").await, 0);

    let mail = app.mail_with("rahim@example.com", "signup_code").await;
    let text = mail["body"].as_str().unwrap();
    assert!(text.contains("\"Padma Traders\"") && text.contains("অনুরোধকারীর নিজের"), "in Bengali, the default: {text}");
    let code = code_in(text);
    let complete =
        || app.client.post(app.url("/v1/signup/verify")).json(&json!({"token": code, "password": "Shapla-Bazar-2026"}));
    let response = complete().send().await.unwrap();
    assert_eq!(response.status(), 201);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["organization"]["slug"], "padma-traders");
    assert_eq!(body["organization"]["settings"]["timezone"], "Asia/Dhaka");
    assert_eq!(body["user"]["email"], "rahim@example.com");
    assert_eq!(body["user"]["username"], "rahim");
    assert_eq!(body["user"]["phone"], "+8801712345678");
    assert!(body["user"]["email_verified_at"].is_string(), "the code proved the address: {body}");
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
    assert_eq!(count(&app, "SELECT count(*) FROM identity.pending_signups").await, 0, "the code is used up");
    let again = complete().send().await.unwrap();
    assert_eq!(again.status(), 400, "codes are single-use");
    let body: Value = again.json().await.unwrap();
    assert_eq!(body["code"], "invalid_token");
    app.login_to("rahim", None).await;
}

#[tokio::test]
async fn sign_up_does_not_tell_whether_an_address_or_username_is_taken() {
    let app = TestApp::start().await;
    app.sign_up("first-org", "a@example.com", "alpha").await;
    let fresh = sign_up(&app, &signup_body("fresh-org", "fresh@example.com", "fresh")).await;
    let taken_address = sign_up(&app, &signup_body("second-org", "A@EXAMPLE.COM", "beta")).await;
    let taken_username = sign_up(&app, &signup_body("third-org", "b@example.com", "Alpha")).await;
    let mut answers = Vec::new();
    for response in [fresh, taken_address, taken_username] {
        assert_eq!(response.status(), 202);
        let mut body: Value = response.json().await.unwrap();
        body["email"] = Value::Null;
        answers.push(body);
    }
    assert!(answers.iter().all(|a| *a == answers[0]), "the same answer every time: {answers:?}");
    // The address's holder is told; nothing is kept for it.
    let notice = app.mail_with("a@example.com", "signup_notice").await;
    assert!(notice["body"].as_str().unwrap().contains("/v1/password-reset"), "{notice}");
    assert_eq!(count(&app, "SELECT count(*) FROM identity.pending_signups WHERE email = 'a@example.com'").await, 0);

    // A taken username is learnt only by whoever proves the address, and the code survives it.
    let refused = app.complete_sign_up("b@example.com", json!({"password": "Shapla-Bazar-2026"})).await;
    assert_eq!(refused.status(), 409);
    let problem: Value = refused.json().await.unwrap();
    assert_eq!(
        (problem["code"].as_str(), problem["errors"][0]["field"].as_str()),
        (Some("username_taken"), Some("username"))
    );
    let renamed =
        app.complete_sign_up("b@example.com", json!({"password": "Shapla-Bazar-2026", "username": "beta"})).await;
    assert_eq!(renamed.status(), 201);
    let renamed: Value = renamed.json().await.unwrap();
    assert_eq!(
        (renamed["user"]["username"].as_str(), renamed["organization"]["slug"].as_str()),
        (Some("beta"), Some("third-org"))
    );

    // An organization's slug is a public name: taken, it is said at once.
    let response = sign_up(&app, &signup_body("first-org", "c@example.com", "gamma")).await;
    assert_eq!(response.status(), 409);
    let problem: Value = response.json().await.unwrap();
    assert_eq!(
        (problem["code"].as_str(), problem["errors"][0]["field"].as_str()),
        (Some("slug_taken"), Some("org.slug"))
    );
    assert_eq!(count(&app, "SELECT count(*) FROM tenancy.organizations").await, 2);
    assert_eq!(count(&app, "SELECT count(*) FROM identity.users").await, 2);
}

#[tokio::test]
async fn whoever_proves_the_address_sets_the_password_of_a_sign_up() {
    let app = TestApp::start().await;
    // A stranger asks to sign up with someone else's address; the code goes to its holder.
    let asked = sign_up(&app, &signup_body("squat-org", "holder@example.com", "squatter")).await;
    assert_eq!(asked.status(), 202);
    let (status, _) =
        app.token(&[("grant_type", "password"), ("username", "squatter"), ("password", "Shapla-Bazar-2026")]).await;
    assert_eq!(status, 400, "no account exists before the address is proved");
    let weak = app.complete_sign_up("holder@example.com", json!({"password": "password"})).await;
    assert_eq!(weak.status(), 422, "a new password must pass the policy");
    let completed = app.complete_sign_up("holder@example.com", json!({"password": "Holders-Own-Secret-2026"})).await;
    assert_eq!(completed.status(), 201);
    let (status, _) =
        app.token(&[("grant_type", "password"), ("username", "squatter"), ("password", "Shapla-Bazar-2026")]).await;
    assert_eq!(status, 400, "the asker's password never held the account");
    let (status, _) = app
        .token(&[
            ("grant_type", "password"),
            ("username", "holder@example.com"),
            ("password", "Holders-Own-Secret-2026"),
        ])
        .await;
    assert_eq!(status, 200);
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
    let body = app.sign_up("hash-org", "h@example.com", "hasher").await;
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
    production.notify = vextrus::platform::notify(&Default::default(), &db.db, false, None).await.unwrap();
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

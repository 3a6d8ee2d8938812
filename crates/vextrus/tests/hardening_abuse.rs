//! What a stranger who signed up (or did not) must not be able to do: lock an owner out, guess
//! faster than the throttle allows, flood an inbox, take over an address's invitations, or
//! create without end.

mod common;

use std::time::Duration;

use common::{PASSWORD, TestApp, problem};
use reqwest::Method;
use serde_json::{Value, json};

/// A platform behind a proxy that sets `X-Forwarded-For`, so each test can speak from many
/// addresses (and `limits` tuned).
async fn behind_proxy(tune: impl FnOnce(&mut vextrus_server::Limits)) -> TestApp {
    let settings = vextrus_server::HttpSettings::new(64 * 1024, Duration::from_secs(10));
    TestApp::start_configured(settings, |m| {
        m.identity.trust_forwarded_for = true;
        m.registry.trust_forwarded = true;
        tune(&mut m.limits);
    })
    .await
}

async fn sign_in(app: &TestApp, from: &str, login: &str, password: &str) -> u16 {
    let form = [("grant_type", "password"), ("username", login), ("password", password)];
    let response = app.client.post(app.url("/oauth/token")).header("x-forwarded-for", from).form(&form).send();
    response.await.unwrap().status().as_u16()
}

#[tokio::test]
async fn a_stranger_who_knows_only_the_login_cannot_lock_its_owner_out() {
    let app = behind_proxy(|_| {}).await;
    app.sign_up("lockout-co", "owner@lockout.example", "locked-owner").await;
    // A stranger from many addresses, dozens of wrong guesses each.
    for attacker in 0..5 {
        let from = format!("203.0.113.{attacker}");
        let mut statuses = Vec::new();
        for _ in 0..8 {
            statuses.push(sign_in(&app, &from, "locked-owner", "wrong-guess-123").await);
        }
        assert!(statuses.iter().all(|s| *s == 400 || *s == 429), "{statuses:?}");
        assert!(statuses.contains(&429), "the stranger's address is slowed down: {statuses:?}");
    }
    // The owner, from their own address, signs in at once.
    assert_eq!(sign_in(&app, "198.51.100.7", "locked-owner", PASSWORD).await, 200);
}

#[tokio::test]
async fn concurrent_guesses_get_no_more_tries_than_sequential_ones() {
    let app = behind_proxy(|_| {}).await;
    app.sign_up("race-co", "owner@race.example", "race-owner").await;
    let guesses = (0..32).map(|_| sign_in(&app, "203.0.113.50", "race-owner", "wrong-guess-123"));
    let statuses = futures_util::future::join_all(guesses).await;
    let checked = statuses.iter().filter(|s| **s == 400).count();
    let refused = statuses.iter().filter(|s| **s == 429).count();
    assert_eq!(checked + refused, 32, "{statuses:?}");
    assert!(checked <= 5, "at most the free attempts were checked at once: {checked} of 32 ({statuses:?})");
}

#[tokio::test]
async fn second_factor_codes_are_throttled_wherever_they_are_checked() {
    let app = TestApp::start().await;
    app.sign_up("code-co", "owner@code.example", "code-owner").await;
    let token = app.access_token("code-owner", None).await;
    let started: Value = app.ok_json(&token, Method::POST, "/v1/me/mfa/totp", json!({})).await;
    assert!(started["secret"].is_string());
    let mut statuses = Vec::new();
    let started = std::time::Instant::now();
    for _ in 0..40 {
        let guess = app.as_user(&token, Method::POST, "/v1/me/mfa/totp/confirm").json(&json!({"code": "000000"}));
        statuses.push(guess.send().await.unwrap().status().as_u16());
    }
    // Five free, then one more each time the doubling wait (1 s, 2 s, 4 s …) has passed.
    let elapsed = started.elapsed().as_secs_f64();
    let allowed = 5 + 1 + (elapsed + 1.0).log2().ceil() as usize;
    let checked = statuses.iter().filter(|s| **s == 422).count();
    assert!(checked <= allowed, "{checked} codes checked of 40 in {elapsed:.1} s: {statuses:?}");
    let refused = app.as_user(&token, Method::POST, "/v1/me/mfa/disable").json(&json!({"code": "000000"}));
    let refused = refused.send().await.unwrap();
    assert_eq!(refused.status(), 429);
    assert!(refused.headers().contains_key("retry-after"));
}

#[tokio::test]
async fn nobody_is_mail_bombed_and_an_unverified_organization_sends_only_a_few_invitations() {
    let app = behind_proxy(|l| {
        l.mails_per_recipient_per_hour = 3;
        l.invitations_before_verified = 2;
    })
    .await;
    // An organization that signs up is verified by construction (its owner proved the address
    // to create it). Owners who never proved one remain possible (accounts imported from
    // Verdaccio hold a placeholder address): such an organization sends only a few.
    app.sign_up("unproven-co", "owner@unproven.example", "unproven-owner").await;
    let unproven = app.access_token("unproven-owner", None).await;
    sqlx::query("UPDATE identity.users SET email_verified_at = NULL WHERE username = 'unproven-owner'")
        .execute(&mut app.db.owner_conn().await)
        .await
        .unwrap();
    let invite_from = |token: &str, email: &str| {
        app.as_user(token, Method::POST, "/v1/invitations").json(&json!({"email": email, "roles": ["viewer"]})).send()
    };
    assert_eq!(invite_from(&unproven, "one@victim.example").await.unwrap().status(), 201);
    assert_eq!(invite_from(&unproven, "two@victim.example").await.unwrap().status(), 201);
    problem(invite_from(&unproven, "three@victim.example").await.unwrap(), 403, "org_unverified").await;
    // A verified organization may send more — but no address gets more than its hourly share
    // (one of the three is already spent above).
    app.sign_up("spam-co", "owner@spam.example", "spam-owner").await;
    let owner = app.access_token("spam-owner", None).await;
    let invite = |email: String| invite_from(&owner, &email);
    assert_eq!(invite("one@victim.example".into()).await.unwrap().status(), 201);
    assert_eq!(invite("one@victim.example".into()).await.unwrap().status(), 201);
    let bombed = invite("one@victim.example".into()).await.unwrap();
    assert!(bombed.headers().contains_key("retry-after"));
    problem(bombed, 429, "too_many_mails").await;
    // Sign-ups naming one address: the same answer every time, but only so many mails.
    for i in 0..4 {
        let body = json!({"org": {"slug": format!("bomb-{i}"), "name": "Bomb"},
                          "user": {"email": "two@victim.example", "username": format!("bomb{i}"),
                                   "password": PASSWORD, "name": "B"}});
        let asked = app.client.post(app.url("/v1/signup")).header("x-forwarded-for", format!("198.51.100.{i}"));
        assert_eq!(asked.json(&body).send().await.unwrap().status(), 202);
    }
    app.jobs_done("notify.deliver").await;
    let mailbox: Value =
        app.op(Method::GET, "/v1/dev/mailbox?to=two@victim.example").send().await.unwrap().json().await.unwrap();
    assert_eq!(mailbox.as_array().unwrap().len(), 3, "one invitation and two sign-up codes: {mailbox}");
    // Password resets to one address: the same answer every time, but only so many mails.
    for _ in 0..6 {
        let asked = app.client.post(app.url("/v1/password-reset")).json(&json!({"email": "owner@spam.example"}));
        assert_eq!(asked.send().await.unwrap().status(), 202);
    }
    app.jobs_done("identity.send_password_reset").await;
    app.jobs_done("notify.deliver").await;
    let mailbox: Value =
        app.op(Method::GET, "/v1/dev/mailbox?to=owner@spam.example").send().await.unwrap().json().await.unwrap();
    let resets = mailbox.as_array().unwrap().iter().filter(|m| m["type"] == "identity.password_reset").count();
    assert_eq!(resets, 2, "six asked; with the sign-up's code, the hourly three sent");
}

/// A platform where `npm adduser` with a new name creates an account (with whatever address
/// it is given, unverified) in the organization `vextrus` — the one way left for a stranger to
/// hold an account with an address that is not theirs.
async fn adduser_open() -> TestApp {
    adduser_open_with(|_| {}).await
}

async fn adduser_open_with(tune: impl FnOnce(&mut vextrus_server::Limits)) -> TestApp {
    let settings = vextrus_server::HttpSettings::new(64 * 1024, Duration::from_secs(10));
    let app = TestApp::start_configured(settings, |m| {
        m.registry.adduser = Some(vextrus_registry::AddUser { org: "vextrus".into(), role: "viewer".into() });
        tune(&mut m.limits);
    })
    .await;
    app.vextrus().await;
    app
}

/// `npm adduser` as npm sends it: a new account named `username` with `email`.
async fn adduser(app: &TestApp, username: &str, email: &str) {
    let path = format!("/npm/-/user/org.couchdb.user:{username}");
    let body = json!({"_id": format!("org.couchdb.user:{username}"), "name": username, "password": PASSWORD,
                      "email": email, "type": "user", "roles": [], "date": "2026-12-01T00:00:00.000Z"});
    let response = app.client.put(app.url(&path)).json(&body).send().await.unwrap();
    assert_eq!(response.status(), 201, "{}", response.text().await.unwrap());
}

#[tokio::test]
async fn an_unverified_account_holding_an_address_does_not_receive_its_invitation() {
    let app = adduser_open().await;
    // A stranger makes an account with the victim's address (never verified: the code went to
    // the victim).
    adduser(&app, "squatter", "victim@example.com").await;
    let squatter = app.login_to("squatter", None).await;
    let squatter_access = squatter["access_token"].as_str().unwrap();
    let squatter_key = app.api_key(squatter_access, &["identity.self.read"]).await;
    // The victim's employer invites the victim.
    app.sign_up("employer-co", "boss@employer.example", "boss").await;
    let boss = app.access_token("boss", None).await;
    app.ok_json(&boss, Method::POST, "/v1/invitations", json!({"email": "victim@example.com", "roles": ["admin"]}))
        .await;
    let code = app.invitation_code("victim@example.com").await;
    // Holding the code proves the address, but the account's credentials are the squatter's:
    // the invitee must set their own.
    let bare =
        app.client.post(app.url("/v1/invitations/accept")).json(&json!({"token": code, "password": PASSWORD})).send();
    problem(bare.await.unwrap(), 422, "invalid_field").await;
    let account = json!({"username": "victim-real", "password": "Victims-Own-Secret-2026", "name": "Victim"});
    let accepted = app.client.post(app.url("/v1/invitations/accept")).json(&json!({"token": code, "user": account}));
    assert_eq!(accepted.send().await.unwrap().status(), 200);
    // The squatter's password, session (its access token too, at once), refresh token and key
    // are finished; the victim signs in.
    let (status, _) = app.token(&[("grant_type", "password"), ("username", "squatter"), ("password", PASSWORD)]).await;
    assert_eq!(status, 400, "the squatter's password no longer works");
    assert_eq!(app.as_user(squatter_access, Method::GET, "/v1/me").send().await.unwrap().status(), 401);
    assert_eq!(app.as_user(&squatter_key, Method::GET, "/v1/me").send().await.unwrap().status(), 401);
    let refresh = squatter["refresh_token"].as_str().unwrap();
    let (status, _) = app.token(&[("grant_type", "refresh_token"), ("refresh_token", refresh)]).await;
    assert_eq!(status, 400);
    let (status, _) = app
        .token(&[
            ("grant_type", "password"),
            ("username", "victim@example.com"),
            ("password", "Victims-Own-Secret-2026"),
            ("org", "employer-co"),
        ])
        .await;
    assert_eq!(status, 200);
}

/// The body of the `i`-th creation of something.
type CreateBody = fn(usize) -> Value;

#[tokio::test]
async fn what_strangers_create_has_limits() {
    let app = behind_proxy(|l| {
        l.api_keys_per_owner = 2;
        l.roles_per_org = 2;
        l.service_accounts_per_org = 2;
        l.webhooks_per_org = 2;
        l.signups_per_address_per_hour = 3;
        l.web_logins_per_address_per_hour = 2;
    })
    .await;
    app.sign_up("limited-co", "owner@limited.example", "limited-owner").await;
    let owner = app.access_token("limited-owner", None).await;
    let creations: [(&str, CreateBody); 4] = [
        ("/v1/me/api-keys", |i| json!({"name": format!("k{i}")})),
        ("/v1/roles", |i| json!({"key": format!("r{i}"), "name": "R", "permissions": []})),
        ("/v1/service-accounts", |i| json!({"name": format!("s{i}"), "roles": ["viewer"]})),
        ("/v1/registry/webhooks", |i| json!({"url": format!("https://hooks.example/{i}")})),
    ];
    for (path, body) in &creations {
        // Concurrent creations cannot slip past the count together.
        let attempts = (0..6).map(|i| app.as_user(&owner, Method::POST, path).json(&body(i)).send());
        let statuses: Vec<u16> =
            futures_util::future::join_all(attempts).await.into_iter().map(|r| r.unwrap().status().as_u16()).collect();
        assert_eq!(statuses.iter().filter(|s| **s == 201).count(), 2, "{path}: {statuses:?}");
        assert_eq!(statuses.iter().filter(|s| **s == 422).count(), 4, "{path}: {statuses:?}");
        let over = app.as_user(&owner, Method::POST, path).json(&body(99)).send().await.unwrap();
        let problem = problem(over, 422, "limit_reached").await;
        assert!(problem["detail"].as_str().unwrap().contains("limits."), "{problem}");
    }
    // Sign-ups from one address.
    let signup = |i: usize| {
        let body = json!({"org": {"slug": format!("flood-{i}"), "name": "Flood"},
                          "user": {"email": format!("f{i}@flood.example"), "username": format!("flood{i}"),
                                   "password": PASSWORD, "name": "F"}});
        app.client.post(app.url("/v1/signup")).header("x-forwarded-for", "203.0.113.99").json(&body).send()
    };
    for i in 0..3 {
        assert_eq!(signup(i).await.unwrap().status(), 202);
    }
    problem(signup(3).await.unwrap(), 429, "too_many_signups").await;
    // Anonymous npm web-login starts from one address.
    let start = || app.client.post(app.url("/npm/-/v1/login")).header("x-forwarded-for", "203.0.113.98").send();
    assert_eq!(start().await.unwrap().status(), 200);
    assert_eq!(start().await.unwrap().status(), 200);
    let refused = start().await.unwrap();
    assert_eq!(refused.status(), 429);
    assert!(refused.headers().contains_key("retry-after"));
}

#[tokio::test]
async fn whoever_proves_the_address_by_its_code_owns_the_account() {
    let app = adduser_open().await;
    // The honest case: the code and the account's own password; nothing else changes.
    adduser(&app, "honest", "honest@example.com").await;
    let session = app.login_to("honest", None).await;
    let code = common::code_in(app.mail_with("honest@example.com", "verify_email").await["body"].as_str().unwrap());
    let verified = app.client.post(app.url("/v1/verify-email")).json(&json!({"token": code, "password": PASSWORD}));
    let verified: Value = verified.send().await.unwrap().json().await.unwrap();
    assert_eq!((verified["verified"].as_bool(), verified["claimed"].as_bool()), (Some(true), Some(false)));
    let access = session["access_token"].as_str().unwrap();
    assert_eq!(app.as_user(access, Method::GET, "/v1/me").send().await.unwrap().status(), 200);
    let refresh = session["refresh_token"].as_str().unwrap();
    let (status, _) = app.token(&[("grant_type", "refresh_token"), ("refresh_token", refresh)]).await;
    assert_eq!(status, 200, "the honest user's session goes on");

    // A squatter made an account with someone else's address; its holder verifies with a
    // password of their own: the account is theirs, and the squatter's password, session (its
    // access token at once, on every instance) and key are done.
    adduser(&app, "squatter2", "victim2@example.com").await;
    let elsewhere = app.another_instance().await;
    let squatter = app.login_to("squatter2", None).await;
    let access = squatter["access_token"].as_str().unwrap();
    let key = app.api_key(access, &["identity.self.read"]).await;
    assert_eq!(elsewhere.as_user(access, Method::GET, "/v1/me").send().await.unwrap().status(), 200);
    let code = common::code_in(app.mail_with("victim2@example.com", "verify_email").await["body"].as_str().unwrap());
    let weak = app.client.post(app.url("/v1/verify-email")).json(&json!({"token": code, "password": "password"}));
    problem(weak.send().await.unwrap(), 422, "invalid_field").await;
    let claim = json!({"token": code, "password": "Victim-Two-Owns-This-2026"});
    let claimed: Value =
        app.client.post(app.url("/v1/verify-email")).json(&claim).send().await.unwrap().json().await.unwrap();
    assert_eq!(claimed["claimed"], true, "{claimed}");
    let (status, _) = app.token(&[("grant_type", "password"), ("username", "squatter2"), ("password", PASSWORD)]).await;
    assert_eq!(status, 400);
    let refresh = squatter["refresh_token"].as_str().unwrap();
    let (status, _) = app.token(&[("grant_type", "refresh_token"), ("refresh_token", refresh)]).await;
    assert_eq!(status, 400, "the squatter's session ended");
    for instance in [&app, &elsewhere] {
        // The other instance hears of it through the database; give the notification a moment.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        loop {
            let status = instance.as_user(access, Method::GET, "/v1/me").send().await.unwrap().status();
            if status == 401 {
                break;
            }
            assert!(tokio::time::Instant::now() < deadline, "the squatter's access token still works: {status}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    assert_eq!(app.as_user(&key, Method::GET, "/v1/me").send().await.unwrap().status(), 401);
    let (status, body) = app
        .token(&[
            ("grant_type", "password"),
            ("username", "victim2@example.com"),
            ("password", "Victim-Two-Owns-This-2026"),
        ])
        .await;
    assert_eq!(status, 200);
    let fresh = body["access_token"].as_str().unwrap();
    assert_eq!(app.as_user(fresh, Method::GET, "/v1/me").send().await.unwrap().status(), 200, "a new session works");
}

#[tokio::test]
async fn users_made_by_npm_adduser_or_login_count_as_sign_ups() {
    // Three an hour: the organization's own sign-up was the first.
    let app = adduser_open_with(|l| l.signups_per_address_per_hour = 3).await;
    adduser(&app, "first", "first@example.com").await;
    // `npm login` sends no address.
    let login = |name: &str| {
        let body = json!({"_id": format!("org.couchdb.user:{name}"), "name": name, "password": PASSWORD,
                          "type": "user", "roles": []});
        app.client.put(app.url(&format!("/npm/-/user/org.couchdb.user:{name}"))).json(&body).send()
    };
    assert_eq!(login("second").await.unwrap().status(), 201);
    let refused = login("third").await.unwrap();
    assert_eq!(refused.status(), 429);
    assert!(refused.json::<Value>().await.unwrap()["error"].as_str().unwrap().contains("new users an hour"));
    // Signing in as someone who exists creates nothing and is not counted.
    assert_eq!(login("first").await.unwrap().status(), 201);
}

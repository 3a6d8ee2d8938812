//! Service accounts (client_credentials) and API keys over HTTP.

mod common;

use base64::Engine as _;
use common::{TestApp, claims, problem};
use reqwest::Method;
use serde_json::{Value, json};

async fn create_account(app: &TestApp, token: &str, roles: &[&str]) -> Value {
    let response = app
        .as_user(token, Method::POST, "/v1/service-accounts")
        .json(&json!({"name": "Finance back-end", "roles": roles}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    response.json().await.unwrap()
}

#[tokio::test]
async fn service_accounts_sign_in_with_client_credentials() {
    let app = TestApp::start().await;
    let org = app.sign_up("sa-co", "owner@sa.example", "sa-owner").await;
    let owner = app.access_token("sa-owner", None).await;
    let account = create_account(&app, &owner, &["viewer"]).await;
    let (client_id, secret) = (account["client_id"].as_str().unwrap(), account["client_secret"].as_str().unwrap());
    assert!(client_id.starts_with("sa_"));
    assert_eq!(account["roles"], json!(["viewer"]));

    // Form credentials and HTTP Basic both work; no refresh token.
    let (status, body) =
        app.token(&[("grant_type", "client_credentials"), ("client_id", client_id), ("client_secret", secret)]).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.get("refresh_token").is_none());
    let token = body["access_token"].as_str().unwrap().to_owned();
    let c = claims(&token);
    assert_eq!((c["sub"].clone(), c["org"].clone()), (account["id"].clone(), org["organization"]["id"].clone()));
    assert_eq!(c["client_id"], client_id);
    assert_eq!(c["roles"], json!(["viewer"]));
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{client_id}:{secret}"));
    let response = app
        .client
        .post(app.url("/oauth/token"))
        .header("Authorization", format!("Basic {basic}"))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);

    // The token is a member's: it reads members (viewer), cannot manage them, is not a user.
    assert_eq!(app.as_user(&token, Method::GET, "/v1/members").send().await.unwrap().status(), 200);
    problem(
        app.as_user(&token, Method::POST, "/v1/service-accounts")
            .json(&json!({"name": "x", "roles": ["owner"]}))
            .send()
            .await
            .unwrap(),
        403,
        "permission_denied",
    )
    .await;
    problem(app.as_user(&token, Method::GET, "/v1/me").send().await.unwrap(), 403, "users_only").await;
    let gate = app.as_user(&token, Method::GET, "/auth/verify").send().await.unwrap();
    assert_eq!(gate.status(), 200);
    assert_eq!(gate.headers()["x-vextrus-username"], client_id);

    // Wrong secret, unknown client: invalid_client (401 with a Basic challenge).
    for (id, s) in [(client_id, "wrong"), ("sa_nobody", secret)] {
        let response = app
            .client
            .post(app.url("/oauth/token"))
            .form(&[("grant_type", "client_credentials"), ("client_id", id), ("client_secret", s)])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 401);
        assert!(response.headers()["www-authenticate"].to_str().unwrap().starts_with("Basic"));
        assert_eq!(response.json::<Value>().await.unwrap()["error"], "invalid_client");
    }

    // Disabled: no new tokens. Deleted: gone.
    let id = account["id"].as_str().unwrap();
    let disabled = app
        .as_user(&owner, Method::PATCH, &format!("/v1/service-accounts/{id}"))
        .json(&json!({"active": false, "roles": ["member"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(disabled.status(), 200);
    let disabled: Value = disabled.json().await.unwrap();
    assert_eq!((disabled["status"].as_str(), disabled["roles"].clone()), (Some("disabled"), json!(["member"])));
    let form = [("grant_type", "client_credentials"), ("client_id", client_id), ("client_secret", secret)];
    assert_eq!(app.token(&form).await.1["error"], "invalid_client");
    assert_eq!(
        app.as_user(&owner, Method::DELETE, &format!("/v1/service-accounts/{id}")).send().await.unwrap().status(),
        204
    );
    problem(
        app.as_user(&owner, Method::GET, &format!("/v1/service-accounts/{id}")).send().await.unwrap(),
        404,
        "service_account_not_found",
    )
    .await;
    assert_eq!(app.token(&form).await.1["error"], "invalid_client");
}

async fn create_key(app: &TestApp, token: &str, path: &str, body: Value) -> reqwest::Response {
    app.as_user(token, Method::POST, path).json(&body).send().await.unwrap()
}

#[tokio::test]
async fn api_keys_are_shown_once_limited_and_revocable() {
    let app = TestApp::start().await;
    app.sign_up("key-co", "owner@key.example", "key-owner").await;
    let owner = app.access_token("key-owner", None).await;

    let created = create_key(
        &app,
        &owner,
        "/v1/me/api-keys",
        json!({"name": "CI", "permissions": ["identity.members.read"], "expires_in_days": 30}),
    )
    .await;
    assert_eq!(created.status(), 201);
    let created: Value = created.json().await.unwrap();
    let key = created["secret"].as_str().unwrap().to_owned();
    assert!(key.starts_with(&format!("vxk_{}_", created["prefix"].as_str().unwrap())));
    assert!(key.len() >= 4 + 12 + 1 + 43, "at least 256 secret bits");
    let listed: Value = app.as_user(&owner, Method::GET, "/v1/me/api-keys").send().await.unwrap().json().await.unwrap();
    assert!(!listed.to_string().contains(&key[17..]), "the secret is never listed");
    assert!(listed["items"][0]["last_used_at"].is_null());
    assert_eq!(listed["items"].as_array().unwrap().len(), 1);

    // Works as a bearer for what it is limited to, and nothing else.
    assert_eq!(app.as_user(&key, Method::GET, "/v1/members").send().await.unwrap().status(), 200);
    problem(app.as_user(&key, Method::GET, "/v1/roles").send().await.unwrap(), 403, "permission_denied").await;
    let gate = app.as_user(&key, Method::GET, "/auth/verify?require=identity.members.read").send().await.unwrap();
    assert_eq!(gate.status(), 200);
    assert_eq!(gate.headers()["x-vextrus-username"], "key-owner");
    let listed: Value = app.as_user(&owner, Method::GET, "/v1/me/api-keys").send().await.unwrap().json().await.unwrap();
    assert!(listed["items"][0]["last_used_at"].is_string(), "{listed}");

    // A key cannot mint a stronger key: without identity.self.manage it mints none, and with it
    // only keys limited to a subset of its own limit.
    let stronger = create_key(&app, &key, "/v1/me/api-keys", json!({"name": "escalate"})).await;
    problem(stronger, 403, "permission_denied").await;
    let minting: Value = create_key(
        &app,
        &owner,
        "/v1/me/api-keys",
        json!({"name": "minter", "permissions": ["identity.self.manage", "identity.members.read"]}),
    )
    .await
    .json()
    .await
    .unwrap();
    let minting = minting["secret"].as_str().unwrap();
    for body in [json!({"name": "unlimited"}), json!({"name": "wider", "permissions": ["identity.members.manage"]})] {
        let refused = create_key(&app, minting, "/v1/me/api-keys", body).await;
        assert_eq!(problem(refused, 422, "invalid_field").await["errors"][0]["field"], "permissions");
    }
    let narrower = create_key(
        &app,
        minting,
        "/v1/me/api-keys",
        json!({"name": "narrow", "permissions": ["identity.members.read"]}),
    )
    .await;
    assert_eq!(narrower.status(), 201);

    // Tampered, unknown, malformed: 401.
    for bad in [format!("{}x", &key[..key.len() - 1]), "vxk_000000000000_abc".into(), "vxk_short".into()] {
        problem(app.as_user(&bad, Method::GET, "/v1/members").send().await.unwrap(), 401, "unauthorized").await;
    }

    // Revoked: stops at once.
    let id = created["id"].as_str().unwrap();
    assert_eq!(
        app.as_user(&owner, Method::DELETE, &format!("/v1/me/api-keys/{id}")).send().await.unwrap().status(),
        204
    );
    problem(app.as_user(&key, Method::GET, "/v1/members").send().await.unwrap(), 401, "unauthorized").await;
    problem(
        app.as_user(&owner, Method::DELETE, &format!("/v1/me/api-keys/{id}")).send().await.unwrap(),
        404,
        "api_key_not_found",
    )
    .await;

    // Expired.
    let expiring: Value =
        create_key(&app, &owner, "/v1/me/api-keys", json!({"name": "old"})).await.json().await.unwrap();
    sqlx::query("UPDATE identity.api_keys SET expires_at = now() - interval '1 second' WHERE id = $1::uuid")
        .bind(expiring["id"].as_str().unwrap())
        .execute(&mut app.db.owner_conn().await)
        .await
        .unwrap();
    let expired = expiring["secret"].as_str().unwrap();
    problem(app.as_user(expired, Method::GET, "/v1/members").send().await.unwrap(), 401, "unauthorized").await;

    // Bad requests.
    for (body, field) in [
        (json!({"name": ""}), "name"),
        (json!({"name": "x", "permissions": ["nope.nope.nope"]}), "permissions[0]"),
        (json!({"name": "x", "expires_in_days": 0}), "expires_in_days"),
    ] {
        let refused = create_key(&app, &owner, "/v1/me/api-keys", body).await;
        assert_eq!(problem(refused, 422, "invalid_field").await["errors"][0]["field"], field);
    }
}

#[tokio::test]
async fn keys_limited_to_networks_work_only_from_them() {
    for behind_proxy in [false, true] {
        let app = if behind_proxy { TestApp::start_behind_proxy().await } else { TestApp::start().await };
        app.sign_up("net-co", "owner@net.example", "net-owner").await;
        let owner = app.access_token("net-owner", None).await;
        let key_for = |networks: Value| {
            let body = json!({"name": "CI", "allowed_cidrs": networks});
            let (app, owner) = (&app, &owner);
            async move {
                let created = create_key(app, owner, "/v1/me/api-keys", body).await;
                assert_eq!(created.status(), 201);
                let created: Value = created.json().await.unwrap();
                (created["secret"].as_str().unwrap().to_owned(), created["allowed_cidrs"].clone())
            }
        };
        let (office, listed) = key_for(json!(["10.0.0.0/8", "2001:db8::/32"])).await;
        assert_eq!(listed, json!(["10.0.0.0/8", "2001:db8::/32"]));
        let (local, listed) = key_for(json!(["127.0.0.1"])).await;
        assert_eq!(listed, json!(["127.0.0.1/32"]), "one host is a /32");

        // The tests reach the server from 127.0.0.1.
        let from = |key: &str, forwarded: Option<&str>| {
            let mut request = app.as_user(key, Method::GET, "/v1/members");
            if let Some(address) = forwarded {
                request = request.header("x-forwarded-for", address);
            }
            request.send()
        };
        if behind_proxy {
            // The proxy says where the request came from.
            assert_eq!(from(&office, Some("10.20.30.40")).await.unwrap().status(), 200);
            problem(from(&office, None).await.unwrap(), 403, "address_not_allowed").await;
            problem(from(&local, Some("10.20.30.40")).await.unwrap(), 403, "address_not_allowed").await;
            let gate = app.as_user(&office, Method::GET, "/auth/verify").header("x-forwarded-for", "10.0.0.9");
            assert_eq!(gate.send().await.unwrap().status(), 200, "forward-auth sees the gateway's X-Forwarded-For");
        } else {
            // A header anyone can send proves nothing here.
            problem(from(&office, Some("10.20.30.40")).await.unwrap(), 403, "address_not_allowed").await;
            assert_eq!(from(&local, Some("10.20.30.40")).await.unwrap().status(), 200);
            let gate = app.as_user(&office, Method::GET, "/auth/verify").send().await.unwrap();
            problem(gate, 403, "address_not_allowed").await;
        }
    }

    let app = TestApp::start().await;
    app.sign_up("net-co", "owner@net.example", "net-owner").await;
    let owner = app.access_token("net-owner", None).await;
    for (networks, field) in [
        (json!(["10.0.0.0/8", "10.1.2.3/8"]), "allowed_cidrs[1]"),
        (json!(["a network"]), "allowed_cidrs[0]"),
        (json!(["10.0.0.0/33"]), "allowed_cidrs[0]"),
        (json!([]), "allowed_cidrs[0]"),
    ] {
        let refused =
            create_key(&app, &owner, "/v1/me/api-keys", json!({"name": "CI", "allowed_cidrs": networks})).await;
        let body = problem(refused, 422, "invalid_field").await;
        assert_eq!(body["errors"][0]["field"], field, "{body}");
    }
    let listed = app.ok_json_get(&owner, "/v1/me/api-keys").await;
    assert_eq!(listed["items"], json!([]), "nothing half-made");
}

#[tokio::test]
async fn a_revoked_key_stops_working_on_every_instance_at_once() {
    let app = TestApp::start().await;
    app.sign_up("cache-co", "owner@cache.example", "cache-owner").await;
    let owner = app.access_token("cache-owner", None).await;
    let created = app.ok_json(&owner, Method::POST, "/v1/me/api-keys", json!({"name": "CI"})).await;
    let (key, id) = (created["secret"].as_str().unwrap().to_owned(), created["id"].as_str().unwrap().to_owned());
    // A second instance's cache of keys, following revocations through the database.
    let other_db = app.db.connect_again().await;
    let other = vextrus_identity::api_keys::KeyCache::default();
    tokio::spawn(other.clone().follow(other_db.clone(), std::future::pending()));
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(other.authenticate(&other_db, &key, None).await.is_ok(), "remembered by the other instance");
    assert_eq!(app.as_user(&key, Method::GET, "/v1/members").send().await.unwrap().status(), 200);

    let revoked = app.as_user(&owner, Method::DELETE, &format!("/v1/me/api-keys/{id}")).send().await.unwrap();
    assert_eq!(revoked.status(), 204);
    problem(app.as_user(&key, Method::GET, "/v1/members").send().await.unwrap(), 401, "unauthorized").await;
    let started = std::time::Instant::now();
    while other.authenticate(&other_db, &key, None).await.is_ok() {
        assert!(started.elapsed() < std::time::Duration::from_secs(2), "the other instance heard of the revocation");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(started.elapsed() < vextrus_identity::api_keys::KeyCache::TTL / 2, "well before the cache's own expiry");
}

#[tokio::test]
async fn keys_die_with_their_owners_access() {
    let app = TestApp::start().await;
    app.sign_up("die-co", "owner@die.example", "die-owner").await;
    let owner = app.access_token("die-owner", None).await;
    let member_id =
        app.join(&owner, "m@die.example", "die-member", &["member"]).await["user_id"].as_str().unwrap().to_owned();
    let member = app.access_token("die-member", None).await;
    let member_key: Value =
        create_key(&app, &member, "/v1/me/api-keys", json!({"name": "laptop"})).await.json().await.unwrap();
    let member_key = member_key["secret"].as_str().unwrap().to_owned();
    assert_eq!(app.as_user(&member_key, Method::GET, "/v1/members").send().await.unwrap().status(), 200);
    // A member's key has the member's roles: it cannot do admin work.
    problem(app.as_user(&member_key, Method::GET, "/v1/invitations").send().await.unwrap(), 403, "permission_denied")
        .await;

    // Service account keys, managed by admins.
    let account = create_account(&app, &owner, &["viewer"]).await;
    let path = format!("/v1/service-accounts/{}/api-keys", account["id"].as_str().unwrap());
    let sa_key: Value = create_key(&app, &owner, &path, json!({"name": "deploy"})).await.json().await.unwrap();
    assert_eq!(sa_key["owner_kind"], "service_account");
    let sa_key = sa_key["secret"].as_str().unwrap().to_owned();
    let gate = app.as_user(&sa_key, Method::GET, "/auth/verify").send().await.unwrap();
    assert_eq!(gate.headers()["x-vextrus-user"], account["id"].as_str().unwrap());

    // Removing the member and deleting the account end their keys.
    assert_eq!(
        app.as_user(&owner, Method::DELETE, &format!("/v1/members/{member_id}")).send().await.unwrap().status(),
        204
    );
    problem(app.as_user(&member_key, Method::GET, "/v1/members").send().await.unwrap(), 401, "unauthorized").await;
    let account_path = format!("/v1/service-accounts/{}", account["id"].as_str().unwrap());
    assert_eq!(app.as_user(&owner, Method::DELETE, &account_path).send().await.unwrap().status(), 204);
    problem(app.as_user(&sa_key, Method::GET, "/auth/verify").send().await.unwrap(), 401, "unauthorized").await;
}

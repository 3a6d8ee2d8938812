//! Privilege follows the current assignment, never the token: a demoted or removed member
//! cannot act on what a token issued earlier says; nobody grants what they do not hold; a key
//! made by a key is never stronger than its parent.

mod common;

use std::time::Duration;

use common::{TestApp, problem};
use reqwest::Method;
use serde_json::{Value, json};

async fn member_id(app: &TestApp, token: &str, username: &str) -> String {
    let members = app.ok_json_get(token, "/v1/members").await;
    let found = members["items"].as_array().unwrap().iter().find(|m| m["username"] == username).unwrap();
    found["user_id"].as_str().or(found["id"].as_str()).unwrap().to_owned()
}

async fn set_roles(app: &TestApp, token: &str, user: &str, roles: &[&str]) -> reqwest::Response {
    app.as_user(token, Method::PUT, &format!("/v1/members/{user}/roles"))
        .json(&json!({"roles": roles}))
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_demoted_owners_old_token_can_no_longer_change_owners() {
    let app = TestApp::start().await;
    app.sign_up("shapla", "owner@shapla.example", "first-owner").await;
    let first = app.access_token("first-owner", None).await;
    app.join(&first, "second@shapla.example", "second-owner", &["owner"]).await;
    let second = app.access_token("second-owner", None).await;
    let (first_id, second_id) =
        (member_id(&app, &first, "first-owner").await, member_id(&app, &first, "second-owner").await);

    assert_eq!(set_roles(&app, &first, &second_id, &["admin"]).await.status(), 200);
    // The token still says `owner`; what it holds now is `admin`.
    problem(set_roles(&app, &second, &second_id, &["owner"]).await, 403, "owner_only").await;
    problem(set_roles(&app, &second, &first_id, &["admin"]).await, 403, "owner_only").await;
    let me = app.ok_json_get(&first, &format!("/v1/members/{first_id}")).await;
    assert_eq!(me["roles"], json!(["owner"]), "{me}");
    // Forward-auth reports the roles held now.
    let verify = app.as_user(&second, Method::GET, "/auth/verify").send().await.unwrap();
    assert_eq!(verify.status(), 200);
    assert_eq!(verify.headers()["x-vextrus-roles"], "admin");
    // And a second instance (its own caches) agrees at once.
    let other = app.another_instance().await;
    problem(set_roles(&other, &second, &first_id, &["admin"]).await, 403, "owner_only").await;
    // Demoted further, on the first instance: the second sees it within moments.
    assert_eq!(set_roles(&app, &first, &second_id, &["viewer"]).await.status(), 200);
    let started = std::time::Instant::now();
    loop {
        let status = other.as_user(&second, Method::GET, "/v1/service-accounts").send().await.unwrap().status();
        if status == 403 {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(2), "the demotion reached the other instance");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_removed_members_old_token_keys_and_service_accounts_stop_at_once() {
    let app = TestApp::start().await;
    app.sign_up("karnaphuli", "owner@karnaphuli.example", "kf-owner").await;
    let owner = app.access_token("kf-owner", None).await;
    app.join(&owner, "admin@karnaphuli.example", "kf-admin", &["admin"]).await;
    let admin = app.access_token("kf-admin", None).await;
    let admin_id = member_id(&app, &owner, "kf-admin").await;
    let key = app.api_key(&admin, &["identity.members.read"]).await;
    let account = app
        .ok_json(&admin, Method::POST, "/v1/service-accounts", json!({"name": "Admin's bot", "roles": ["admin"]}))
        .await;
    let account_id = account["id"].as_str().unwrap().to_owned();
    let (client_id, secret) =
        (account["client_id"].as_str().unwrap().to_owned(), account["client_secret"].as_str().unwrap().to_owned());
    let bot_key = app
        .ok_json(&admin, Method::POST, &format!("/v1/service-accounts/{account_id}/api-keys"), json!({"name": "bot"}))
        .await["secret"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, bot_token) =
        app.token(&[("grant_type", "client_credentials"), ("client_id", &client_id), ("client_secret", &secret)]).await;
    assert_eq!(status, 200);
    let bot_token = bot_token["access_token"].as_str().unwrap().to_owned();
    let other = app.another_instance().await;
    for credential in [&admin, &key, &bot_key, &bot_token] {
        for instance in [&app, &other] {
            let answer = instance.as_user(credential, Method::GET, "/v1/members").send().await.unwrap();
            assert_eq!(answer.status(), 200, "works before the removal");
        }
    }

    let removed = app.as_user(&owner, Method::DELETE, &format!("/v1/members/{admin_id}")).send().await.unwrap();
    assert_eq!(removed.status(), 204);
    tokio::time::sleep(Duration::from_millis(300)).await; // the announcement reaches the other instance
    for credential in [&admin, &key, &bot_key, &bot_token] {
        for instance in [&app, &other] {
            let answer = instance.as_user(credential, Method::GET, "/v1/members").send().await.unwrap();
            assert_eq!(answer.status(), 401, "a removed member's credential stops at once");
            let verify = instance.as_user(credential, Method::GET, "/auth/verify").send().await.unwrap();
            assert_eq!(verify.status(), 401, "forward-auth too");
        }
    }
    // No way back in through what they made on the way out.
    let invite = app
        .as_user(&admin, Method::POST, "/v1/invitations")
        .json(&json!({"email": "admin2@karnaphuli.example", "roles": ["admin"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(invite.status(), 401);
    let (status, _) =
        app.token(&[("grant_type", "client_credentials"), ("client_id", &client_id), ("client_secret", &secret)]).await;
    assert_ne!(status, 200, "the disabled account gets no new token");
    let bot = app.ok_json_get(&owner, &format!("/v1/service-accounts/{account_id}")).await;
    assert_eq!(bot["status"], "disabled", "{bot}");
    // The owner may enable it again, deliberately.
    let enabled = app
        .as_user(&owner, Method::PATCH, &format!("/v1/service-accounts/{account_id}"))
        .json(&json!({"active": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(enabled.status(), 200);
    let (status, _) =
        app.token(&[("grant_type", "client_credentials"), ("client_id", &client_id), ("client_secret", &secret)]).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn nobody_grants_what_they_do_not_hold_and_owner_only_permissions_stay_with_owners() {
    let app = TestApp::start().await;
    app.sign_up("meghna", "owner@meghna.example", "mg-owner").await;
    let owner = app.access_token("mg-owner", None).await;
    app.join(&owner, "admin@meghna.example", "mg-admin", &["admin"]).await;
    let admin = app.access_token("mg-admin", None).await;
    let admin_id = member_id(&app, &owner, "mg-admin").await;
    let role = |key: &str, permissions: &[&str]| json!({"key": key, "name": key, "permissions": permissions});

    for owner_only in ["registry.scopes.manage", "audit.settings.manage"] {
        let created = app.as_user(&admin, Method::POST, "/v1/roles").json(&role("sneaky", &[owner_only])).send();
        problem(created.await.unwrap(), 403, "owner_only").await;
    }
    // The owner may make such a role; an admin may neither assign it nor change it.
    app.ok_json(&owner, Method::POST, "/v1/roles", role("scope-keeper", &["registry.scopes.manage"])).await;
    problem(set_roles(&app, &admin, &admin_id, &["admin", "scope-keeper"]).await, 403, "owner_only").await;
    let invite = app
        .as_user(&admin, Method::POST, "/v1/invitations")
        .json(&json!({"email": "friend@meghna.example", "roles": ["scope-keeper"]}))
        .send();
    problem(invite.await.unwrap(), 403, "owner_only").await;
    let account = app.as_user(&admin, Method::POST, "/v1/service-accounts");
    let account = account.json(&json!({"name": "escalator", "roles": ["scope-keeper"]})).send();
    problem(account.await.unwrap(), 403, "owner_only").await;
    app.ok_json(&admin, Method::POST, "/v1/roles", role("readers", &["identity.members.read"])).await;
    let widen = app.as_user(&admin, Method::PATCH, "/v1/roles/readers");
    let widen = widen.json(&json!({"permissions": ["identity.members.read", "audit.settings.manage"]})).send();
    problem(widen.await.unwrap(), 403, "owner_only").await;

    // A key limited to managing roles cannot put in a role what the key itself may not do.
    let key = app.api_key(&admin, &["access.roles.manage", "access.roles.read"]).await;
    let created = app.as_user(&key, Method::POST, "/v1/roles").json(&role("wide", &["identity.members.manage"])).send();
    problem(created.await.unwrap(), 403, "permission_not_held").await;
    let fine = app.as_user(&key, Method::POST, "/v1/roles").json(&role("narrow", &["access.roles.read"])).send();
    assert_eq!(fine.await.unwrap().status(), 201);
    // The owner still can.
    assert_eq!(set_roles(&app, &owner, &admin_id, &["admin", "scope-keeper"]).await.status(), 200);
}

#[tokio::test]
async fn a_key_made_by_a_key_inherits_its_networks_and_expiry_at_most() {
    let app = TestApp::start().await;
    app.sign_up("padma", "owner@padma.example", "pd-owner").await;
    let owner = app.access_token("pd-owner", None).await;
    let parent = app
        .ok_json(
            &owner,
            Method::POST,
            "/v1/me/api-keys",
            json!({"name": "parent", "permissions": ["identity.self.manage", "identity.self.read"],
                   "allowed_cidrs": ["127.0.0.0/8"], "expires_in_days": 5}),
        )
        .await;
    let secret = parent["secret"].as_str().unwrap().to_owned();
    let make = |body: Value| app.as_user(&secret, Method::POST, "/v1/me/api-keys").json(&body).send();

    let child: Value =
        make(json!({"name": "child", "permissions": ["identity.self.read"]})).await.unwrap().json().await.unwrap();
    assert_eq!(child["allowed_cidrs"], json!(["127.0.0.0/8"]), "inherits the networks: {child}");
    assert_eq!(child["expires_at"], parent["expires_at"], "inherits the expiry: {child}");
    let wider = make(json!({"name": "c", "permissions": ["identity.self.read"], "allowed_cidrs": ["10.0.0.0/8"]}));
    let body = problem(wider.await.unwrap(), 422, "invalid_field").await;
    assert!(body.to_string().contains("allowed_cidrs[0]"), "{body}");
    let everywhere = make(json!({"name": "c", "permissions": ["identity.self.read"], "allowed_cidrs": ["0.0.0.0/0"]}));
    problem(everywhere.await.unwrap(), 422, "invalid_field").await;
    let longer = make(json!({"name": "c", "permissions": ["identity.self.read"], "expires_in_days": 30}));
    let body = problem(longer.await.unwrap(), 422, "invalid_field").await;
    assert!(body.to_string().contains("expires_in_days"), "{body}");
    let narrower = make(json!({"name": "c", "permissions": ["identity.self.read"], "allowed_cidrs": ["127.0.0.1"],
                               "expires_in_days": 1}));
    let narrower: Value = narrower.await.unwrap().json().await.unwrap();
    assert_eq!(narrower["allowed_cidrs"], json!(["127.0.0.1/32"]), "{narrower}");
}

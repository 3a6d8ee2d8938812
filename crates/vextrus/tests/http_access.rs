//! Access control over HTTP: built-in and custom roles, the catalog, checks (single and batch),
//! forward-auth `require`, and the cache following changes across instances.

mod common;

use std::time::Duration;

use common::{TestApp, problem};
use reqwest::Method;
use serde_json::{Value, json};

async fn check(app: &TestApp, token: &str, permissions: &[&str]) -> Value {
    let response = app
        .as_user(token, Method::POST, "/v1/authz/check")
        .json(&json!({"permissions": permissions}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

fn allowed(result: &Value) -> Vec<bool> {
    result["results"].as_array().unwrap().iter().map(|r| r["allowed"].as_bool().unwrap()).collect()
}

#[tokio::test]
async fn built_in_roles_grant_what_the_catalog_says() {
    let app = TestApp::start().await;
    app.sign_up("roles-co", "owner@roles.example", "roles-owner").await;
    let owner = app.access_token("roles-owner", None).await;
    app.join(&owner, "viewer@roles.example", "roles-viewer", &["viewer"]).await;
    app.join(&owner, "admin@roles.example", "roles-admin", &["admin"]).await;
    let viewer = app.access_token("roles-viewer", None).await;
    let admin = app.access_token("roles-admin", None).await;

    let asked =
        ["identity.members.read", "identity.members.manage", "access.roles.manage", "platform.organizations.create"];
    assert_eq!(allowed(&check(&app, &owner, &asked).await), [true, true, true, false], "owner: all but platform");
    assert_eq!(allowed(&check(&app, &admin, &asked).await), [true, true, true, false]);
    let viewer_result = check(&app, &viewer, &asked).await;
    assert_eq!(allowed(&viewer_result), [true, false, false, false]);
    assert_eq!(viewer_result["allowed"], false);
    assert_eq!(viewer_result["results"][1]["reason"], "not_held");

    // One permission at a time, and an unknown one.
    let single = app
        .as_user(&viewer, Method::POST, "/v1/authz/check")
        .json(&json!({"permission": "finance.ledger.post"}))
        .send()
        .await
        .unwrap();
    let single: Value = single.json().await.unwrap();
    assert_eq!(single["allowed"], false);
    assert_eq!(single["results"][0]["reason"], "unknown_permission");

    // A viewer is refused the role API with a problem naming the permission.
    let denied = app.as_user(&viewer, Method::GET, "/v1/roles").send().await.unwrap();
    let body = problem(denied, 403, "permission_denied").await;
    assert!(body["detail"].as_str().unwrap().contains("access.roles.read"));

    let roles: Value = app.as_user(&admin, Method::GET, "/v1/roles").send().await.unwrap().json().await.unwrap();
    let keys: Vec<&str> = roles["roles"].as_array().unwrap().iter().map(|r| r["key"].as_str().unwrap()).collect();
    assert_eq!(keys, ["owner", "admin", "member", "viewer"]);
    let viewer_role = &roles["roles"][3];
    assert!(viewer_role["permissions"].as_array().unwrap().contains(&json!("identity.members.read")));
    assert!(!viewer_role["permissions"].as_array().unwrap().contains(&json!("identity.members.manage")));
}

#[tokio::test]
async fn custom_roles_take_effect_at_once_and_deleting_one_takes_it_away() {
    let app = TestApp::start().await;
    app.sign_up("custom-co", "owner@custom.example", "custom-owner").await;
    let owner = app.access_token("custom-owner", None).await;

    // Business modules register their permissions (operator), then roles can use them.
    let registered = app
        .op(Method::PUT, "/v1/authz/permissions")
        .json(&json!({"permissions": [
            {"key": "finance.invoices.read", "description": "Read invoices", "grants": ["admin", "member", "viewer"]},
            {"key": "finance.invoices.approve", "description": "Approve invoices", "grants": []}
        ]}))
        .send()
        .await
        .unwrap();
    assert_eq!(registered.status(), 200);

    let created = app
        .as_user(&owner, Method::POST, "/v1/roles")
        .json(&json!({"key": "accountant", "name": "Accountant", "permissions": ["finance.invoices.read", "identity.members.read"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let role: Value = created.json().await.unwrap();
    assert_eq!(role["permissions"], json!(["finance.invoices.read", "identity.members.read"]));
    assert_eq!(role["builtin"], false);

    let joined = app.join(&owner, "acc@custom.example", "custom-acc", &["accountant"]).await;
    assert_eq!(joined["roles"], json!(["accountant"]));
    let accountant = app.access_token("custom-acc", None).await;
    let asked = ["finance.invoices.read", "finance.invoices.approve"];
    assert_eq!(allowed(&check(&app, &accountant, &asked).await), [true, false]);

    // Changing the role changes the next check, with the same token.
    let patched = app
        .as_user(&owner, Method::PATCH, "/v1/roles/accountant")
        .json(&json!({"permissions": ["finance.invoices.read", "finance.invoices.approve"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(patched.status(), 200);
    assert_eq!(allowed(&check(&app, &accountant, &asked).await), [true, true]);
    // Forward-auth asks the same cache.
    let gate = |require: &'static str| {
        app.as_user(&accountant, Method::GET, "/auth/verify").header("X-Vextrus-Require", require).send()
    };
    assert_eq!(gate("finance.invoices.approve").await.unwrap().status(), 200);
    assert_eq!(gate("finance.invoices.read,finance.invoices.approve").await.unwrap().status(), 200);
    problem(gate("identity.members.manage").await.unwrap(), 403, "permission_denied").await;

    // A role cannot hold platform permissions or unknown ones; built-in roles are fixed.
    for (body, field) in [
        (json!({"key": "sneaky", "name": "S", "permissions": ["platform.organizations.create"]}), "permissions"),
        (json!({"key": "sneaky", "name": "S", "permissions": ["finance.unknown.thing"]}), "permissions"),
        (json!({"key": "admin", "name": "S", "permissions": []}), "key"),
        (json!({"key": "Bad Key", "name": "S", "permissions": []}), "key"),
    ] {
        let refused = app.as_user(&owner, Method::POST, "/v1/roles").json(&body).send().await.unwrap();
        let problem = problem(refused, 422, "invalid_field").await;
        assert_eq!(problem["errors"][0]["field"], field, "{body}");
    }
    let duplicate = app
        .as_user(&owner, Method::POST, "/v1/roles")
        .json(&json!({"key": "accountant", "name": "Again", "permissions": []}))
        .send()
        .await
        .unwrap();
    problem(duplicate, 409, "role_exists").await;
    problem(app.as_user(&owner, Method::DELETE, "/v1/roles/viewer").send().await.unwrap(), 409, "builtin_role").await;

    // Deleting the role takes it from its holders at once.
    assert_eq!(app.as_user(&owner, Method::DELETE, "/v1/roles/accountant").send().await.unwrap().status(), 204);
    assert_eq!(allowed(&check(&app, &accountant, &asked).await), [false, false]);
    problem(app.as_user(&owner, Method::GET, "/v1/roles/accountant").send().await.unwrap(), 404, "role_not_found")
        .await;
    // …and from their next token: a member left without roles gets none.
    let (status, body) =
        app.token(&[("grant_type", "password"), ("username", "custom-acc"), ("password", common::PASSWORD)]).await;
    assert_eq!((status, body["error"].as_str().unwrap()), (400, "invalid_grant"));
}

#[tokio::test]
async fn only_operators_register_permissions_and_never_the_platforms_own() {
    let app = TestApp::start().await;
    app.sign_up("reg-co", "owner@reg.example", "reg-owner").await;
    let owner = app.access_token("reg-owner", None).await;
    let body = json!({"permissions": [{"key": "hr.payslips.read", "description": "Read payslips"}]});
    let tenant = app.as_user(&owner, Method::PUT, "/v1/authz/permissions").json(&body).send().await.unwrap();
    problem(tenant, 403, "permission_denied").await;
    let anonymous = app.client.put(app.url("/v1/authz/permissions")).json(&body).send().await.unwrap();
    problem(anonymous, 401, "unauthorized").await;

    for (key, description) in [("identity.users.delete", "x"), ("platform.anything.goes", "x"), ("hr.payslips", "x")] {
        let refused = app
            .op(Method::PUT, "/v1/authz/permissions")
            .json(&json!({"permissions": [{"key": key, "description": description}]}))
            .send()
            .await
            .unwrap();
        problem(refused, 422, "invalid_field").await;
    }
    // Idempotent; a changed description updates the entry; the catalog lists it.
    for description in ["Read payslips", "Read payslips", "Read anyone's payslips"] {
        let body =
            json!({"permissions": [{"key": "hr.payslips.read", "description": description, "grants": ["admin"]}]});
        assert_eq!(app.op(Method::PUT, "/v1/authz/permissions").json(&body).send().await.unwrap().status(), 200);
    }
    let catalog: Value =
        app.as_user(&owner, Method::GET, "/v1/authz/permissions").send().await.unwrap().json().await.unwrap();
    let entry = catalog["permissions"].as_array().unwrap().iter().find(|p| p["key"] == "hr.payslips.read").unwrap();
    assert_eq!(entry["description"], "Read anyone's payslips");
    assert_eq!(entry["grants"], json!(["admin"]));
    assert_eq!(entry["builtin"], false);
    assert_eq!(allowed(&check(&app, &owner, &["hr.payslips.read"]).await), [true]);
}

#[tokio::test]
async fn another_instance_follows_role_changes_through_notify() {
    let app = TestApp::start().await;
    app.sign_up("follow-co", "owner@follow.example", "follow-owner").await;
    let owner = app.access_token("follow-owner", None).await;
    let org = common::claims(&owner)["org"].as_str().unwrap().to_owned();

    // A second instance's cache, loaded now and following the channel.
    let other = vextrus::access(&app.db.db).await.unwrap();
    tokio::spawn(other.clone().follow(app.db.db.clone(), std::future::pending()));
    tokio::time::sleep(Duration::from_millis(200)).await;
    let subject = vextrus_access::Subject {
        kind: vextrus_access::SubjectKind::User,
        id: uuid::Uuid::now_v7(),
        scope: vextrus_access::Scope::Tenant(vextrus_db::TenantId::from_uuid(org.parse().unwrap())),
        roles: std::sync::Arc::from([Box::from("auditor")]),
        username: None,
        session: None,
        limit: None,
        key_bounds: None,
    };
    assert!(other.check(&subject, "identity.members.read").is_err());
    let created = app
        .as_user(&owner, Method::POST, "/v1/roles")
        .json(&json!({"key": "auditor", "name": "Auditor", "permissions": ["identity.members.read"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while other.check(&subject, "identity.members.read").is_err() {
        assert!(tokio::time::Instant::now() < deadline, "the other instance never saw the new role");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

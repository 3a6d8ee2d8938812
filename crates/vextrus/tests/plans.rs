//! Plans and quotas: operators define plans and give organizations one; members, API keys,
//! SMS and storage are held to the organization's plan at the moment of each request, and
//! concurrent requests can never together pass a limit.

mod common;

use common::{TestApp, problem};
use reqwest::Method;
use serde_json::{Value, json};
use vextrus_db::TenantId;

fn tiny() -> Value {
    json!({"storage_bytes": 1000, "members": 2, "api_keys": 2, "sms_per_month": 1})
}

async fn put_plan(app: &TestApp, name: &str, limits: Value) -> reqwest::Response {
    app.op(Method::PUT, &format!("/v1/platform/plans/{name}")).json(&limits).send().await.unwrap()
}

async fn set_plan(app: &TestApp, org: &str, plan: Value) -> Value {
    let response =
        app.op(Method::PUT, &format!("/v1/orgs/{org}/plan")).json(&json!({"plan": plan})).send().await.unwrap();
    assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
    response.json().await.unwrap()
}

async fn new_key(app: &TestApp, token: &str, name: &str) -> reqwest::Response {
    app.as_user(token, Method::POST, "/v1/me/api-keys").json(&json!({"name": name})).send().await.unwrap()
}

#[tokio::test]
async fn an_organizations_limits_follow_the_plan_an_operator_gives_it_at_once() {
    let app = TestApp::start().await;
    app.sign_up("padma", "owner@padma.example", "padma-owner").await;
    let owner = app.access_token("padma-owner", Some("padma")).await;

    // Until an operator gives it one, the default plan: the configuration's limits.
    let usage = app.ok_json_get(&owner, "/v1/usage").await;
    let defaults = vextrus_server::Limits::default().plan;
    assert_eq!(usage["plan"], "default");
    assert_eq!(usage["limits"], serde_json::to_value(defaults).unwrap());
    assert_eq!(
        usage["used"],
        json!({"storage_bytes": 0, "storage_reserved_bytes": 0, "members": 1, "api_keys": 0, "sms_this_month": 0})
    );

    // Defining a plan is 201, redefining it 200; bad names and limits are 422.
    assert_eq!(put_plan(&app, "tiny", tiny()).await.status(), 201);
    assert_eq!(put_plan(&app, "tiny", tiny()).await.status(), 200);
    problem(put_plan(&app, "default", tiny()).await, 422, "invalid_field").await;
    problem(put_plan(&app, "Bad Name", tiny()).await, 422, "invalid_field").await;
    let no_owner = json!({"storage_bytes": 1, "members": 0, "api_keys": 0, "sms_per_month": 0});
    problem(put_plan(&app, "empty", no_owner).await, 422, "invalid_field").await;
    let unknown_field = json!({"storage_bytes": 1, "members": 1, "api_keys": 0, "sms_per_month": 0, "seats": 9});
    assert_eq!(put_plan(&app, "odd", unknown_field).await.status(), 422);
    let negative = json!({"storage_bytes": -1, "members": 1, "api_keys": 0, "sms_per_month": 0});
    assert_eq!(put_plan(&app, "odd", negative).await.status(), 422);
    let response = app.op(Method::PUT, "/v1/orgs/padma/plan").json(&json!({"plan": "nope"})).send().await.unwrap();
    problem(response, 404, "plan_not_found").await;

    let set = set_plan(&app, "padma", json!("tiny")).await;
    assert_eq!(set, json!({"plan": "tiny", "limits": tiny()}));

    // API keys: two in all, whoever holds them.
    assert_eq!(new_key(&app, &owner, "ci").await.status(), 201);
    assert_eq!(new_key(&app, &owner, "laptop").await.status(), 201);
    let refused = problem(new_key(&app, &owner, "third").await, 422, "limit_reached").await;
    assert!(refused["detail"].as_str().unwrap().contains("plan.api_keys"), "{refused}");
    // The operator raises the plan: the next request sees it.
    let more_keys = json!({"storage_bytes": 1000, "members": 2, "api_keys": 3, "sms_per_month": 1});
    assert_eq!(put_plan(&app, "tiny", more_keys).await.status(), 200);
    assert_eq!(new_key(&app, &owner, "third").await.status(), 201);

    // Members: the owner and one more; a further invitation is refused when sent.
    app.join(&owner, "karim@padma.example", "karim", &["member"]).await;
    let response = app
        .as_user(&owner, Method::POST, "/v1/invitations")
        .json(&json!({"email": "third@padma.example", "roles": ["viewer"]}))
        .send()
        .await
        .unwrap();
    let refused = problem(response, 422, "limit_reached").await;
    assert!(refused["detail"].as_str().unwrap().contains("plan.members"), "{refused}");

    // SMS: one a month.
    let sms = |text: &str| json!({"type": "notify.announcement", "recipients": ["01712345678"], "data": {"subject": "-", "text": text}});
    let first = app.as_user(&owner, Method::POST, "/v1/notifications").json(&sms("one")).send().await.unwrap();
    assert_eq!(first.status(), 202, "{}", first.text().await.unwrap());
    let second = app.as_user(&owner, Method::POST, "/v1/notifications").json(&sms("two")).send().await.unwrap();
    problem(second, 422, "plan_sms_limit").await;

    let usage = app.ok_json_get(&owner, "/v1/usage").await;
    assert_eq!(usage["plan"], "tiny");
    assert_eq!(
        usage["used"],
        json!({"storage_bytes": 0, "storage_reserved_bytes": 0, "members": 2, "api_keys": 3, "sms_this_month": 1})
    );

    // Another organization's usage is its own.
    app.sign_up("meghna", "owner@meghna.example", "meghna-owner").await;
    let other = app.access_token("meghna-owner", Some("meghna")).await;
    let theirs = app.ok_json_get(&other, "/v1/usage").await;
    assert_eq!(theirs["plan"], "default");
    assert_eq!(theirs["used"]["members"], 1);
    assert_eq!(theirs["used"]["api_keys"], 0);

    // A plan in use cannot be deleted; back on the default plan, it can.
    let response = app.op(Method::DELETE, "/v1/platform/plans/tiny").send().await.unwrap();
    problem(response, 409, "plan_in_use").await;
    assert_eq!(set_plan(&app, "padma", Value::Null).await["plan"], "default");
    let list: Value = app.op(Method::GET, "/v1/platform/plans").send().await.unwrap().json().await.unwrap();
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    assert_eq!(list["default"], serde_json::to_value(defaults).unwrap());
    assert_eq!(app.op(Method::DELETE, "/v1/platform/plans/tiny").send().await.unwrap().status(), 204);
    let response = app.op(Method::DELETE, "/v1/platform/plans/tiny").send().await.unwrap();
    problem(response, 404, "plan_not_found").await;

    // Members of an organization cannot manage plans.
    let response = app.as_user(&owner, Method::PUT, "/v1/platform/plans/mine").json(&tiny()).send().await.unwrap();
    problem(response, 403, "permission_denied").await;

    // Every change is in the audit trail: plan definitions on the platform's chain, the
    // organization's plan on its own.
    let actions: Vec<String> = sqlx::query_scalar(
        "SELECT action FROM audit.events WHERE action LIKE 'tenancy.%plan%' ORDER BY occurred_at, id",
    )
    .fetch_all(&mut app.db.owner_conn().await)
    .await
    .unwrap();
    assert_eq!(
        actions,
        [
            "tenancy.plan.create",
            "tenancy.plan.update",
            "tenancy.organization.plan",
            "tenancy.plan.update",
            "tenancy.organization.plan",
            "tenancy.plan.delete"
        ]
    );
}

#[tokio::test]
async fn concurrent_requests_never_pass_the_plan_together() {
    let app = TestApp::start().await;
    let org = app.sign_up("jamuna", "owner@jamuna.example", "jamuna-owner").await;
    let owner = app.access_token("jamuna-owner", Some("jamuna")).await;
    let limits = json!({"storage_bytes": 100, "members": 5, "api_keys": 3, "sms_per_month": 0});
    assert_eq!(put_plan(&app, "three-keys", limits).await.status(), 201);
    set_plan(&app, "jamuna", json!("three-keys")).await;

    // Ten API keys asked for at once: exactly three are made.
    let asked = (0..10).map(|i| {
        let (app, owner) = (&app, owner.clone());
        async move { new_key(app, &owner, &format!("key-{i}")).await.status().as_u16() }
    });
    let mut statuses = futures_util::future::join_all(asked).await;
    statuses.sort_unstable();
    assert_eq!(statuses, [201, 201, 201, 422, 422, 422, 422, 422, 422, 422]);
    assert_eq!(app.ok_json_get(&owner, "/v1/usage").await["used"]["api_keys"], 3);

    // Ten uploads of 30 bytes reserving storage at once against 100: exactly three fit, and
    // used + reserved never passes the limit. Each in its own organization transaction.
    let tenant = TenantId::from_uuid(org["organization"]["id"].as_str().unwrap().parse().unwrap());
    let db = app.db.db.clone();
    let reservations = (0..10).map(|_| {
        let db = db.clone();
        async move {
            let mut tx = db.tenant(tenant).await.unwrap();
            let fits = vextrus_tenancy::plans::reserve_storage(&mut tx, tenant, 30, 100).await.unwrap();
            tx.commit().await.unwrap();
            fits
        }
    });
    let fitted = futures_util::future::join_all(reservations).await.into_iter().filter(|f| *f).count();
    assert_eq!(fitted, 3);
    let mut tx = db.tenant(tenant).await.unwrap();
    let storage = vextrus_tenancy::plans::storage(&mut tx, tenant).await.unwrap();
    assert_eq!((storage.used, storage.reserved), (0, 90));
    // One upload stores 25 of its 30, one is abandoned: 25 used, 30 still reserved.
    vextrus_tenancy::plans::settle_storage(&mut tx, tenant, 30, 25).await.unwrap();
    vextrus_tenancy::plans::release_storage(&mut tx, tenant, 30).await.unwrap();
    let storage = vextrus_tenancy::plans::storage(&mut tx, tenant).await.unwrap();
    assert_eq!((storage.used, storage.reserved), (25, 30));
    // 45 more fit (25 + 30 + 45 = 100), one byte more does not.
    assert!(!vextrus_tenancy::plans::reserve_storage(&mut tx, tenant, 46, 100).await.unwrap());
    assert!(vextrus_tenancy::plans::reserve_storage(&mut tx, tenant, 45, 100).await.unwrap());
    tx.commit().await.unwrap();
    let usage = app.ok_json_get(&owner, "/v1/usage").await;
    assert_eq!(
        (usage["used"]["storage_bytes"].as_u64(), usage["used"]["storage_reserved_bytes"].as_u64()),
        (Some(25), Some(75))
    );

    // Another organization cannot see or reserve against this one's row.
    let other = app.sign_up("karnaphuli", "owner@karnaphuli.example", "karnaphuli-owner").await;
    let other = TenantId::from_uuid(other["organization"]["id"].as_str().unwrap().parse().unwrap());
    let mut tx = db.tenant(other).await.unwrap();
    let seen = vextrus_tenancy::plans::storage(&mut tx, tenant).await.unwrap();
    assert_eq!((seen.used, seen.reserved), (0, 0));
    assert!(vextrus_tenancy::plans::reserve_storage(&mut tx, tenant, 1, 100).await.is_err(), "RLS refuses the row");
}

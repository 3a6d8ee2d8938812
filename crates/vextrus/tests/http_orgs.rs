//! `/v1/orgs` over real HTTP against the assembled app and a real database.

mod common;

use common::{TestApp, problem};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

fn field_of(body: &Value) -> &str {
    body["errors"][0]["field"].as_str().unwrap_or_default()
}

#[tokio::test]
async fn create_org_applies_bangladesh_defaults() {
    let app = TestApp::start().await;
    let org = app.create_org("acme-traders").await;
    assert_eq!(org["status"], "active");
    assert_eq!(org["settings"], json!({"timezone": "Asia/Dhaka", "currency": "BDT", "locale": "bn-BD"}));
    let id = uuid::Uuid::parse_str(org["id"].as_str().unwrap()).unwrap();
    assert_eq!(id.get_version_num(), 7, "ids are UUIDv7");
    insta::assert_json_snapshot!("created_org", org, {".id" => "[id]", ".created_at" => "[time]", ".updated_at" => "[time]"});
}

#[tokio::test]
async fn create_org_with_settings_and_bengali_name() {
    let app = TestApp::start().await;
    let response = app
        .op(Method::POST, "/v1/orgs")
        .json(&json!({"slug": "dhaka-steel", "name": "  ঢাকা স্টিল লিমিটেড ", "settings": {"timezone": "UTC", "currency": "usd", "locale": "en"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let org: Value = response.json().await.unwrap();
    assert_eq!(org["name"], "ঢাকা স্টিল লিমিটেড");
    assert_eq!(org["settings"], json!({"timezone": "UTC", "currency": "USD", "locale": "en"}));
}

#[tokio::test]
async fn duplicate_slug_is_409_and_changes_nothing() {
    let app = TestApp::start().await;
    let first = app.create_org("same-slug").await;
    let response =
        app.op(Method::POST, "/v1/orgs").json(&json!({"slug": "same-slug", "name": "Other"})).send().await.unwrap();
    let body = problem(response, 409, "slug_taken").await;
    assert_eq!(field_of(&body), "slug");
    let fetched: Value = app.op(Method::GET, "/v1/orgs/same-slug").send().await.unwrap().json().await.unwrap();
    assert_eq!(fetched["id"], first["id"]);
    assert_eq!(fetched["name"], "Org same-slug");
}

#[tokio::test]
async fn bad_bodies_are_4xx_problems_naming_the_field() {
    let app = TestApp::start().await;
    let cases: Vec<(Value, u16, &str, &str)> = vec![
        (json!({"slug": "ab", "name": "x"}), 422, "invalid_field", "slug"),
        (json!({"slug": "Upper-Case", "name": "x"}), 422, "invalid_field", "slug"),
        (json!({"slug": "has space", "name": "x"}), 422, "invalid_field", "slug"),
        (json!({"slug": "x".repeat(41), "name": "x"}), 422, "invalid_field", "slug"),
        (json!({"slug": "fine-slug", "name": "   "}), 422, "invalid_field", "name"),
        (json!({"slug": "fine-slug"}), 422, "invalid_field", "name"),
        (json!({"name": "x"}), 422, "invalid_field", "slug"),
        (json!({"slug": 42, "name": "x"}), 422, "invalid_field", "slug"),
        (json!({"slug": "fine-slug", "name": "x", "plan": "gold"}), 422, "invalid_field", "plan"),
        (
            json!({"slug": "fine-slug", "name": "x", "settings": {"colour": "red"}}),
            422,
            "invalid_field",
            "settings.colour",
        ),
        (
            json!({"slug": "fine-slug", "name": "x", "settings": {"timezone": "Mars/Olympus"}}),
            422,
            "invalid_field",
            "settings.timezone",
        ),
        (
            json!({"slug": "fine-slug", "name": "x", "settings": {"timezone": "Asia/Dhaka'; --"}}),
            422,
            "invalid_field",
            "settings.timezone",
        ),
        (
            json!({"slug": "fine-slug", "name": "x", "settings": {"locale": "fr"}}),
            422,
            "invalid_field",
            "settings.locale",
        ),
        (
            json!({"slug": "fine-slug", "name": "x", "settings": {"currency": "TAKA"}}),
            422,
            "invalid_field",
            "settings.currency",
        ),
        (json!({"slug": "fine-slug", "name": "x", "settings": "BDT"}), 422, "invalid_field", "settings"),
        (json!(["slug", "name"]), 422, "invalid_field", "body"),
    ];
    for (body, status, code, field) in cases {
        let response = app.op(Method::POST, "/v1/orgs").json(&body).send().await.unwrap();
        let problem = problem(response, status, code).await;
        assert_eq!(field_of(&problem), field, "for {body}: {problem}");
    }
    let listed: Value = app.op(Method::GET, "/v1/orgs").send().await.unwrap().json().await.unwrap();
    assert_eq!(listed["items"], json!([]), "no bad request created anything");
}

#[tokio::test]
async fn malformed_unlabelled_and_oversized_bodies() {
    let app = TestApp::start().await;
    let send = |body: &'static str, content_type: Option<&'static str>| {
        let mut request = app.op(Method::POST, "/v1/orgs").body(body);
        if let Some(ct) = content_type {
            request = request.header("content-type", ct);
        }
        request.send()
    };
    problem(send("{\"slug\": \"abc\", ", Some("application/json")).await.unwrap(), 400, "malformed_json").await;
    problem(
        send("{\"slug\":\"abc\",\"name\":\"x\"} trailing", Some("application/json")).await.unwrap(),
        400,
        "malformed_json",
    )
    .await;
    problem(send("", Some("application/json")).await.unwrap(), 400, "malformed_json").await;
    problem(send("{\"slug\":\"abc\",\"name\":\"x\"}", None).await.unwrap(), 415, "unsupported_media_type").await;
    problem(send("slug=abc", Some("application/x-www-form-urlencoded")).await.unwrap(), 415, "unsupported_media_type")
        .await;
    let huge = json!({"slug": "big-one", "name": "x".repeat(100 * 1024)});
    let response = app.op(Method::POST, "/v1/orgs").json(&huge).send().await.unwrap();
    problem(response, 413, "body_too_large").await;
}

#[tokio::test]
async fn operator_token_is_required() {
    let app = TestApp::start().await;
    let response = app.client.get(app.url("/v1/orgs")).send().await.unwrap();
    assert_eq!(response.headers()["www-authenticate"], "Bearer");
    problem(response, 401, "unauthorized").await;
    let response = app
        .client
        .post(app.url("/v1/orgs"))
        .bearer_auth("wrong")
        .json(&json!({"slug": "abc", "name": "x"}))
        .send()
        .await
        .unwrap();
    problem(response, 401, "unauthorized").await;
    let response = app
        .client
        .get(app.url("/v1/orgs"))
        .header("authorization", format!("Basic {}", common::TOKEN))
        .send()
        .await
        .unwrap();
    problem(response, 401, "unauthorized").await;
}

#[tokio::test]
async fn get_by_id_or_slug_and_unknown_is_404() {
    let app = TestApp::start().await;
    let org = app.create_org("findable").await;
    let id = org["id"].as_str().unwrap();
    for key in [id, "findable"] {
        let got: Value = app.op(Method::GET, &format!("/v1/orgs/{key}")).send().await.unwrap().json().await.unwrap();
        assert_eq!(got, org);
    }
    for missing in ["nobody-here", "01a2009a-0000-7000-8000-000000000000", "NOT_A_SLUG!", "x"] {
        let response = app.op(Method::GET, &format!("/v1/orgs/{missing}")).send().await.unwrap();
        problem(response, 404, "org_not_found").await;
    }
}

#[tokio::test]
async fn list_pages_with_a_cursor_and_filters_by_status() {
    let app = TestApp::start().await;
    let mut created = Vec::new();
    for i in 0..5 {
        created.push(app.create_org(&format!("org-{i}")).await["id"].clone());
    }
    app.op(Method::POST, "/v1/orgs/org-3/suspend").send().await.unwrap();

    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/v1/orgs?limit=2&cursor={c}"),
            None => "/v1/orgs?limit=2".to_owned(),
        };
        let page: Value = app.op(Method::GET, &path).send().await.unwrap().json().await.unwrap();
        seen.extend(page["items"].as_array().unwrap().iter().map(|o| o["id"].clone()));
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen, created, "every organization once, in creation order");

    let suspended: Value = app.op(Method::GET, "/v1/orgs?status=suspended").send().await.unwrap().json().await.unwrap();
    let slugs: Vec<&str> = suspended["items"].as_array().unwrap().iter().map(|o| o["slug"].as_str().unwrap()).collect();
    assert_eq!(slugs, vec!["org-3"]);

    problem(app.op(Method::GET, "/v1/orgs?limit=0").send().await.unwrap(), 422, "invalid_field").await;
    problem(app.op(Method::GET, "/v1/orgs?limit=201").send().await.unwrap(), 422, "invalid_field").await;
    problem(app.op(Method::GET, "/v1/orgs?limit=ten").send().await.unwrap(), 400, "invalid_query").await;
    problem(app.op(Method::GET, "/v1/orgs?cursor=nope").send().await.unwrap(), 400, "invalid_query").await;
    problem(app.op(Method::GET, "/v1/orgs?status=deleted").send().await.unwrap(), 400, "invalid_query").await;
    problem(app.op(Method::GET, "/v1/orgs?sort=name").send().await.unwrap(), 400, "invalid_query").await;
}

#[tokio::test]
async fn patch_changes_name_and_settings_only_as_asked() {
    let app = TestApp::start().await;
    let org = app.create_org("patchable").await;
    let id = org["id"].as_str().unwrap();
    let response = app
        .op(Method::PATCH, &format!("/v1/orgs/{id}"))
        .json(&json!({"name": "Renamed Ltd.", "settings": {"locale": "en"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let patched: Value = response.json().await.unwrap();
    assert_eq!(patched["name"], "Renamed Ltd.");
    assert_eq!(patched["settings"], json!({"timezone": "Asia/Dhaka", "currency": "BDT", "locale": "en"}));
    assert_eq!(patched["slug"], "patchable");
    assert!(patched["updated_at"].as_str() > org["updated_at"].as_str());

    let unchanged: Value =
        app.op(Method::PATCH, "/v1/orgs/patchable").json(&json!({})).send().await.unwrap().json().await.unwrap();
    assert_eq!(unchanged["name"], "Renamed Ltd.");

    let bad = app.op(Method::PATCH, &format!("/v1/orgs/{id}")).json(&json!({"slug": "new-slug"})).send().await.unwrap();
    assert_eq!(field_of(&problem(bad, 422, "invalid_field").await), "slug");
    let bad = app
        .op(Method::PATCH, &format!("/v1/orgs/{id}"))
        .json(&json!({"settings": {"timezone": "Nowhere/City"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(field_of(&problem(bad, 422, "invalid_field").await), "settings.timezone");
    let missing = app.op(Method::PATCH, "/v1/orgs/nobody-here").json(&json!({"name": "x"})).send().await.unwrap();
    problem(missing, 404, "org_not_found").await;
    let after: Value = app.op(Method::GET, "/v1/orgs/patchable").send().await.unwrap().json().await.unwrap();
    assert_eq!(after["settings"]["timezone"], "Asia/Dhaka", "failed patches changed nothing");
}

#[tokio::test]
async fn suspend_and_resume_are_idempotent() {
    let app = TestApp::start().await;
    app.create_org("pausable").await;
    for _ in 0..2 {
        let org: Value = app.op(Method::POST, "/v1/orgs/pausable/suspend").send().await.unwrap().json().await.unwrap();
        assert_eq!(org["status"], "suspended");
    }
    for _ in 0..2 {
        let org: Value = app.op(Method::POST, "/v1/orgs/pausable/resume").send().await.unwrap().json().await.unwrap();
        assert_eq!(org["status"], "active");
    }
    problem(app.op(Method::POST, "/v1/orgs/nobody-here/suspend").send().await.unwrap(), 404, "org_not_found").await;
    problem(app.op(Method::GET, "/v1/orgs/pausable/suspend").send().await.unwrap(), 405, "method_not_allowed").await;
}

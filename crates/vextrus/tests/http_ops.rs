//! Operations endpoints and the cross-cutting behaviour of every request.

mod common;

use common::TestApp;
use reqwest::Method;
use serde_json::Value;

#[tokio::test]
async fn health_and_readiness() {
    let app = TestApp::start().await;
    let health: Value = app.client.get(app.url("/healthz")).send().await.unwrap().json().await.unwrap();
    assert_eq!(health["status"], "ok");
    let ready = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 200);
}

#[tokio::test]
async fn readiness_fails_while_migrations_are_pending() {
    static WITH_FUTURE: &[vextrus_db::ModuleMigrations] = &[
        vextrus_db::MIGRATIONS,
        vextrus_tenancy::MIGRATIONS,
        vextrus_identity::MIGRATIONS,
        vextrus_db::ModuleMigrations {
            module: "future",
            migrations: &[vextrus_db::Migration { version: 1, name: "later", sql: "SELECT 1" }],
        },
    ];
    let db = common::test_db().await;
    let mut state =
        vextrus::state(db.db.clone(), vextrus_server::OperatorToken::new(None), &common::modules(&db.db).await);
    state.migrations = WITH_FUTURE;
    let settings = vextrus_server::HttpSettings::new(1024, std::time::Duration::from_secs(5));
    let (router, _) = vextrus::app(state, settings);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    let response = reqwest::get(format!("{base}/readyz")).await.unwrap();
    assert_eq!(response.status(), 503);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["code"], "migrations_pending");
    assert!(body["detail"].as_str().unwrap().contains("future/0001"));
}

#[tokio::test]
async fn request_ids_are_ours_and_a_clients_is_only_its_claim() {
    let app = TestApp::start().await;
    let mut seen = std::collections::HashSet::new();
    for claimed in [Some("gateway-abc-123"), Some("gateway-abc-123"), None, Some("bad id with spaces")] {
        let mut request = app.client.get(app.url("/healthz"));
        if let Some(claimed) = claimed {
            request = request.header("x-request-id", claimed);
        }
        let response = request.send().await.unwrap();
        let id = response.headers()["x-request-id"].to_str().unwrap().to_owned();
        assert!(uuid::Uuid::parse_str(&id).is_ok(), "ours, whatever the client sent: {id}");
        assert!(seen.insert(id), "a fresh one every time, even for a repeated claim");
    }
    // Problems carry ours too, for support.
    let response = app.client.get(app.url("/v1/orgs")).header("x-request-id", "trace-me").send().await.unwrap();
    let header = response.headers()["x-request-id"].to_str().unwrap().to_owned();
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["request_id"], header);
}

#[tokio::test]
async fn unknown_routes_and_methods_are_problems() {
    let app = TestApp::start().await;
    let response = app.client.get(app.url("/v1/nothing")).send().await.unwrap();
    assert_eq!(response.status(), 404);
    assert_eq!(response.headers()["content-type"], "application/problem+json");
    assert!(response.headers().contains_key("x-request-id"));
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["code"], "route_not_found");
    let response = app.client.delete(app.url("/v1/orgs")).send().await.unwrap();
    assert_eq!(response.status(), 405);
}

#[tokio::test]
async fn metrics_use_templated_routes_and_report_pools() {
    let app = TestApp::start().await;
    app.create_org("metered").await;
    app.op(Method::GET, "/v1/orgs/metered").send().await.unwrap();
    app.op(Method::GET, "/v1/orgs/does-not-exist").send().await.unwrap();
    let response = app.client.get(app.url("/metrics")).send().await.unwrap();
    assert!(response.headers()["content-type"].to_str().unwrap().starts_with("text/plain"));
    let text = response.text().await.unwrap();
    for expected in [
        "# TYPE http_server_request_duration_seconds histogram",
        r#"http_server_request_duration_seconds_bucket{method="GET",route="/v1/orgs/{org}",status="200",le="0.005"}"#,
        r#"route="/v1/orgs/{org}",status="404""#,
        r#"http_server_request_duration_seconds_count{method="POST",route="/v1/orgs",status="201"}"#,
        "http_server_active_requests",
        r#"vextrus_db_pool_connections{pool="app",state="max"} 5"#,
    ] {
        assert!(text.contains(expected), "missing {expected} in:\n{text}");
    }
    assert!(!text.contains("/v1/orgs/metered"), "raw paths must not become labels");
}

#[tokio::test]
async fn queue_metrics_report_depth_and_age() {
    let t = common::test_db().await;
    #[derive(serde::Serialize, serde::Deserialize)]
    struct Later;
    impl vextrus_db::jobs::Job for Later {
        const KIND: &'static str = "test.metrics";
    }
    let mut tx = t.db.system().await.unwrap();
    vextrus_db::jobs::enqueue(&mut tx, &Later).await.unwrap();
    vextrus_db::jobs::enqueue(&mut tx, &Later).await.unwrap();
    tx.commit().await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    vextrus_db::jobs::sample_queue_metrics(&t.db).await.unwrap();
    let text = vextrus_server::metrics::handle().render();
    assert!(text.contains(r#"vextrus_job_queue_depth{kind="test.metrics",state="queued"} 2"#), "{text}");
    let age: f64 = text
        .lines()
        .find(|l| l.starts_with(r#"vextrus_job_queue_oldest_age_seconds{kind="test.metrics"}"#))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .expect("oldest age reported");
    assert!(age >= 1.0, "{age}");
}

#[tokio::test]
async fn openapi_document_is_31_and_matches_the_snapshot() {
    let app = TestApp::start().await;
    let served: Value = app.client.get(app.url("/openapi.json")).send().await.unwrap().json().await.unwrap();
    assert_eq!(served["openapi"], "3.1.0");
    assert_eq!(served, serde_json::to_value(&app.openapi).unwrap());
    for path in ["/v1/orgs", "/v1/orgs/{org}", "/v1/orgs/{org}/suspend", "/v1/orgs/{org}/resume", "/healthz", "/readyz"]
    {
        assert!(served["paths"].get(path).is_some(), "{path} undocumented");
    }
    insta::assert_json_snapshot!("openapi", served, {".info.version" => "[version]"});
}

#[tokio::test]
async fn docs_page_is_self_contained() {
    let app = TestApp::start().await;
    let response = app.client.get(app.url("/docs")).send().await.unwrap();
    assert!(response.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
    let html = response.text().await.unwrap();
    assert!(html.contains("/openapi.json"));
    for external in ["src=\"http", "href=\"http", "cdn", "unpkg", "jsdelivr"] {
        assert!(!html.contains(external), "docs must not load {external}");
    }
}

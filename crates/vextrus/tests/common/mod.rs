//! Shared by the integration tests: a database with every module's migrations, and the
//! assembled app served on a loopback port.

#![allow(dead_code)]

use std::time::Duration;

use secrecy::SecretString;
use vextrus_server::{HttpSettings, OperatorToken};
use vextrus_testkit::TestDb;

pub const TOKEN: &str = "test-operator-token-0123456789";

pub const ISSUER: &str = "http://vextrus.test";

/// Module settings of a development instance (dev mailbox on), with a fresh master key and the
/// database's signing keys; the organization status cache follows changes as in `serve`.
pub async fn modules(db: &vextrus_db::Database) -> vextrus::ModuleSettings {
    let config = vextrus_config::Config { public_url: Some(ISSUER.into()), ..Default::default() };
    let master =
        vextrus_identity::keys::MasterKey::from_hex(&vextrus_identity::keys::MasterKey::generate_hex()).unwrap();
    let auth = vextrus::auth(&config, db, master).await.unwrap();
    tokio::spawn(auth.orgs.clone().follow(db.clone(), std::future::pending()));
    vextrus::ModuleSettings { identity: dev_identity(), auth }
}

pub fn dev_identity() -> vextrus_identity::IdentityConfig {
    vextrus_identity::IdentityConfig { dev_mailbox: true }
}

pub async fn test_db() -> TestDb {
    TestDb::new(vextrus::MODULES).await
}

/// A running server on 127.0.0.1:<random port> and a client for it.
pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    pub db: TestDb,
    pub openapi: utoipa::openapi::OpenApi,
    pub auth: vextrus_identity::Auth,
}

impl TestApp {
    pub async fn start() -> Self {
        Self::start_with(HttpSettings { body_limit_bytes: 64 * 1024, request_timeout: Duration::from_secs(10) }).await
    }

    pub async fn start_with(settings: HttpSettings) -> Self {
        let db = test_db().await;
        let modules = modules(&db.db).await;
        let auth = modules.auth.clone();
        let state = vextrus::state(db.db.clone(), OperatorToken::new(Some(SecretString::from(TOKEN))), &modules);
        let (router, openapi) = vextrus::app(state, settings);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        Self { base, client: reqwest::Client::new(), db, openapi, auth }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// An operator request.
    pub fn op(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.client.request(method, self.url(path)).bearer_auth(TOKEN)
    }

    pub async fn create_org(&self, slug: &str) -> serde_json::Value {
        let response = self
            .op(reqwest::Method::POST, "/v1/orgs")
            .json(&serde_json::json!({"slug": slug, "name": format!("Org {slug}")}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201, "creating {slug}");
        response.json().await.unwrap()
    }
}

//! `/.well-known/jwks.json` and `/.well-known/openid-configuration`.

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use serde::Serialize;
use utoipa::ToSchema;

use vextrus_db::Database;
use vextrus_server::ApiError;

use crate::auth::Auth;
use crate::keys::Jwks;

/// The public keys that verify access tokens (RFC 7517; Ed25519 as RFC 8037 OKP keys).
#[utoipa::path(get, path = "/.well-known/jwks.json", tag = "identity", responses((status = 200, body = Jwks)))]
pub async fn jwks(State(auth): State<Auth>) -> impl IntoResponse {
    ([(header::CACHE_CONTROL, "public, max-age=60")], axum::Json(auth.keys.jwks()))
}

/// Every key that ever signed, retired ones included, for checking audit exports offline
/// (`vextrus audit verify --jwks`): checkpoints outlive the keys that sealed them. Not for
/// verifying tokens.
#[utoipa::path(get, path = "/.well-known/audit-keys.json", tag = "audit", responses((status = 200, body = Jwks)))]
pub async fn audit_keys(State(db): State<Database>) -> Result<impl IntoResponse, ApiError> {
    let mut tx = db.system().await?;
    let keys = crate::keys::every_public_key(&mut tx).await.map_err(ApiError::internal)?;
    tx.commit().await?;
    Ok(([(header::CACHE_CONTROL, "public, max-age=300")], axum::Json(keys)))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Discovery {
    pub issuer: String,
    pub jwks_uri: String,
    pub token_endpoint: String,
    pub grant_types_supported: Vec<&'static str>,
    pub token_endpoint_auth_methods_supported: Vec<&'static str>,
    pub response_types_supported: Vec<&'static str>,
    pub subject_types_supported: Vec<&'static str>,
    pub id_token_signing_alg_values_supported: Vec<&'static str>,
}

/// OpenID Provider metadata (discovery).
#[utoipa::path(get, path = "/.well-known/openid-configuration", tag = "identity", responses((status = 200, body = Discovery)))]
pub async fn openid_configuration(State(auth): State<Auth>) -> impl IntoResponse {
    let base = &auth.issuer;
    let discovery = Discovery {
        issuer: base.to_string(),
        jwks_uri: format!("{base}/.well-known/jwks.json"),
        token_endpoint: format!("{base}/oauth/token"),
        grant_types_supported: vec!["password", "refresh_token", "client_credentials"],
        token_endpoint_auth_methods_supported: vec!["none", "client_secret_basic", "client_secret_post"],
        response_types_supported: vec!["token"],
        subject_types_supported: vec!["public"],
        id_token_signing_alg_values_supported: vec!["EdDSA"],
    };
    ([(header::CACHE_CONTROL, "public, max-age=300")], axum::Json(discovery))
}

//! `GET /auth/verify`: forward authentication for Traefik (and nginx `auth_request`, Caddy
//! `forward_auth`). Answers from memory: the token is verified against the cached JWKS and the
//! organization's status comes from the status cache — no database read per request.

use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use vextrus_server::{ApiError, Problem, Query};

use super::principal::Principal;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct VerifyParams {
    /// A permission the caller must hold (also `X-Vextrus-Require`).
    pub require: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Verified {
    pub user: String,
    pub tenant: String,
    pub roles: Vec<String>,
}

/// Verify a bearer token for the gateway; identity goes back in `X-Vextrus-*` headers.
#[utoipa::path(get, path = "/auth/verify", tag = "identity",
    params(VerifyParams),
    responses(
        (status = 200, description = "Headers X-Vextrus-User, X-Vextrus-Tenant, X-Vextrus-Roles, X-Vextrus-Username", body = Verified),
        (status = 401, description = "`unauthorized`: missing, malformed, forged or expired token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`org_suspended`, `permission_checks_unavailable`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn verify(
    principal: Principal,
    headers: HeaderMap,
    Query(params): Query<VerifyParams>,
) -> Result<Response, ApiError> {
    let required =
        params.require.or_else(|| headers.get("x-vextrus-require").and_then(|v| v.to_str().ok()).map(str::to_owned));
    if required.is_some() {
        // Fail closed: a gateway rule that asks for a permission must never be waved through.
        return Err(ApiError::new(
            axum::http::StatusCode::FORBIDDEN,
            "permission_checks_unavailable",
            "Permission checks unavailable",
        )
        .detail("Permission requirements cannot be checked yet (the access module is not installed)."));
    }
    let claims = &principal.claims;
    let roles = claims.roles.join(",");
    let verified = Verified { user: claims.sub.clone(), tenant: claims.org.clone(), roles: claims.roles.clone() };
    let mut response = axum::Json(verified).into_response();
    let out = response.headers_mut();
    for (name, value) in [
        ("x-vextrus-user", claims.sub.as_str()),
        ("x-vextrus-tenant", claims.org.as_str()),
        ("x-vextrus-roles", roles.as_str()),
        ("x-vextrus-username", claims.username.as_deref().unwrap_or("")),
    ] {
        if let Ok(value) = HeaderValue::from_str(value) {
            out.insert(name, value);
        }
    }
    out.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

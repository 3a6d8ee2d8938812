//! `GET /auth/verify`: forward authentication for Traefik (and nginx `auth_request`, Caddy
//! `forward_auth`). For access tokens it answers from memory: the token is verified against the
//! cached JWKS, the organization's status comes from the status cache, and a required
//! permission is checked against the access cache — no database read per request. (API keys
//! are accepted too, at the cost of one indexed read.)

use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use vextrus_access::{Access, denied};
use vextrus_server::{ApiError, Problem, Query, bearer_token};

use crate::IdentityAuthenticator;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct VerifyParams {
    /// Permissions the caller must hold, comma-separated (also the `X-Vextrus-Require` header;
    /// when both are given, both must hold).
    pub require: Option<String>,
}

/// The two headers forward-auth reads, taken without copying the whole header map.
#[derive(Debug)]
pub struct ForwardAuth {
    credential: Option<String>,
    require: Option<String>,
}

impl<S: Send + Sync> FromRequestParts<S> for ForwardAuth {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let require = parts.headers.get("x-vextrus-require").and_then(|v| v.to_str().ok()).map(str::to_owned);
        Ok(Self { credential: bearer_token(&parts.headers).map(str::to_owned), require })
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Verified {
    pub user: String,
    pub tenant: String,
    pub roles: Vec<String>,
}

/// Verify a bearer credential for the gateway; identity goes back in `X-Vextrus-*` headers.
#[utoipa::path(get, path = "/auth/verify", tag = "identity", security(("bearer" = [])),
    params(VerifyParams),
    responses(
        (status = 200, description = "Headers X-Vextrus-User, X-Vextrus-Tenant, X-Vextrus-Roles, X-Vextrus-Username", body = Verified),
        (status = 401, description = "`unauthorized`: missing, malformed, forged or expired token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`org_suspended`, `permission_denied`, `org_required`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn verify(
    State(authn): State<IdentityAuthenticator>,
    State(access): State<Access>,
    Query(params): Query<VerifyParams>,
    ForwardAuth { credential, require }: ForwardAuth,
) -> Result<Response, ApiError> {
    let credential = credential
        .ok_or_else(|| ApiError::unauthorized("Send an access token or API key as `Authorization: Bearer <token>`."))?;
    let subject = authn.subject(&credential).await?;
    let Some(tenant) = subject.tenant() else {
        return Err(ApiError::new(axum::http::StatusCode::FORBIDDEN, "org_required", "Organization required")
            .detail("Forward-auth admits members of an organization; the operator token is not one."));
    };
    let required = params.require.iter().chain(require.iter()).map(String::as_str);
    for key in required.flat_map(|list| list.split(',')).map(str::trim).filter(|k| !k.is_empty()) {
        access.check(&subject, key).map_err(|d| denied(key, d))?;
    }
    let user = subject.id.to_string();
    let tenant = tenant.to_string();
    let roles: Vec<String> = subject.roles.iter().map(|r| r.to_string()).collect();
    let roles_header = roles.join(",");
    let username = subject.username.as_deref().unwrap_or("").to_owned();
    let mut response = axum::Json(Verified { user: user.clone(), tenant: tenant.clone(), roles }).into_response();
    let out = response.headers_mut();
    for (name, value) in [
        ("x-vextrus-user", user.as_str()),
        ("x-vextrus-tenant", tenant.as_str()),
        ("x-vextrus-roles", roles_header.as_str()),
        ("x-vextrus-username", username.as_str()),
    ] {
        if let Ok(value) = HeaderValue::from_str(value) {
            out.insert(name, value);
        }
    }
    out.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

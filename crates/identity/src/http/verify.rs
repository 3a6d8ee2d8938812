//! `GET /auth/verify`: forward authentication for Traefik (and nginx `auth_request`, Caddy
//! `forward_auth`). For access tokens it answers from memory: the token is verified against the
//! cached JWKS, the organization's status comes from the status cache, the subject's current
//! roles from the standing cache (read once after each change, announced by `NOTIFY`), and a
//! required permission is checked against the access cache — no database read per request. (API keys
//! are accepted too, at the cost of one indexed read.)

use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use utoipa::IntoParams;
use vextrus_access::{Access, denied};
use vextrus_server::{ApiError, ClientAddr, Problem, Query, bearer_token};

use crate::IdentityAuthenticator;
use crate::authn::{IDENTITY_HEADER_NAMES, identity_headers, looks_like_jwt};

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct VerifyParams {
    /// Permissions the caller must hold, comma-separated (also the `X-Vextrus-Require` header;
    /// when both are given, both must hold).
    pub require: Option<String>,
}

/// The two headers forward-auth reads, taken without copying the whole header map, and the
/// client's address (for API keys limited to networks).
#[derive(Debug)]
pub struct ForwardAuth {
    credential: Option<String>,
    require: Option<String>,
    client: ClientAddr,
}

impl<S: Send + Sync> FromRequestParts<S> for ForwardAuth {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let require = parts.headers.get("x-vextrus-require").and_then(|v| v.to_str().ok()).map(str::to_owned);
        let credential = bearer_token(&parts.headers).map(str::to_owned);
        Ok(Self { credential, require, client: ClientAddr::of(parts) })
    }
}

/// Verify a bearer credential for the gateway; identity goes back in `X-Vextrus-*` headers
/// (the body is empty).
#[utoipa::path(get, path = "/auth/verify", tag = "identity", security(("bearer" = [])),
    params(VerifyParams),
    responses(
        (status = 200, description = "Allowed: headers X-Vextrus-User, X-Vextrus-Tenant, X-Vextrus-Roles, X-Vextrus-Username; empty body"),
        (status = 401, description = "`unauthorized`: missing, malformed, forged or expired token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`org_suspended`, `permission_denied`, `org_required`, `address_not_allowed`, `mfa_enrollment_required`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn verify(
    State(authn): State<IdentityAuthenticator>,
    State(access): State<Access>,
    Query(params): Query<VerifyParams>,
    ForwardAuth { credential, require, client }: ForwardAuth,
) -> Result<Response, ApiError> {
    let credential = credential
        .ok_or_else(|| ApiError::unauthorized("Send an access token or API key as `Authorization: Bearer <token>`."))?;
    let (subject, headers) = if looks_like_jwt(&credential) {
        authn.current_with_headers(&credential).await?
    } else {
        let subject = authn.subject(&credential, &client).await?;
        let headers = identity_headers(&subject);
        (subject, headers)
    };
    if subject.tenant().is_none() {
        return Err(ApiError::new(axum::http::StatusCode::FORBIDDEN, "org_required", "Organization required")
            .detail("Forward-auth admits members of an organization; the operator token is not one."));
    }
    if subject.roles.is_empty() {
        // Held to a second factor by the organization's MFA policy and not yet enrolled: such a
        // token may enrol one, and reach nothing behind the gateway.
        return Err(ApiError::new(
            axum::http::StatusCode::FORBIDDEN,
            "mfa_enrollment_required",
            "Second factor required",
        )
        .detail("The organization requires a second factor of your role; enrol one, then sign in again."));
    }
    let required = params.require.iter().chain(require.iter()).map(String::as_str);
    for key in required.flat_map(|list| list.split(',')).map(str::trim).filter(|k| !k.is_empty()) {
        access.check(&subject, key).map_err(|d| denied(key, d))?;
    }
    let mut response = ().into_response();
    let out = response.headers_mut();
    for (name, value) in IDENTITY_HEADER_NAMES.into_iter().zip(headers) {
        out.insert(name, value);
    }
    out.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

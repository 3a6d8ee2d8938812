//! `Principal`: a signed-in user, proven by a valid access token. A handler that takes one cannot
//! run for anyone else; it is what permission guards (the access module) will build on.

use std::sync::Arc;

use axum::extract::{FromRef, FromRequestParts};
use axum::http::request::Parts;
use uuid::Uuid;
use vextrus_db::TenantId;
use vextrus_server::{ApiError, bearer_token};

use crate::auth::Auth;
use crate::keys::Claims;

#[derive(Debug, Clone)]
pub struct Principal {
    pub user: Uuid,
    pub tenant: TenantId,
    pub session: Option<Uuid>,
    pub claims: Arc<Claims>,
}

impl<S: Send + Sync> FromRequestParts<S> for Principal
where
    Auth: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let auth = Auth::from_ref(state);
        let token = bearer_token(&parts.headers)
            .ok_or_else(|| ApiError::unauthorized("Send an access token as `Authorization: Bearer <token>`."))?;
        let claims =
            auth.verify(token).map_err(|e| ApiError::unauthorized(format!("The access token is not valid: {e}.")))?;
        let invalid = || ApiError::unauthorized("The access token's subject or organization is malformed.");
        let user = Uuid::parse_str(&claims.sub).map_err(|_| invalid())?;
        let org = Uuid::parse_str(&claims.org).map_err(|_| invalid())?;
        if auth.orgs.is_suspended(&org) {
            return Err(ApiError::new(axum::http::StatusCode::FORBIDDEN, "org_suspended", "Organization suspended")
                .detail("The organization is suspended."));
        }
        let session = claims.sid.as_deref().and_then(|s| Uuid::parse_str(s).ok());
        Ok(Self { user, tenant: TenantId::from_uuid(org), session, claims })
    }
}

//! How a request's `Authorization: Bearer` credential becomes an access-control `Subject`:
//! the operator token, an API key (`vxk_…`, one indexed read), or an access token (verified in
//! memory against the key ring; the organization's status from the status cache).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use axum::http::StatusCode;
use axum::http::request::Parts;
use uuid::Uuid;
use vextrus_access::{Authenticate, Builtin, Scope, Subject, SubjectKind};
use vextrus_db::{Database, TenantId};
use vextrus_server::{ApiError, OperatorToken, bearer_token};

use crate::api_keys::{self, KEY_PREFIX, KeyRejected};
use crate::auth::Auth;
use crate::keys::Claims;

#[derive(Debug, Clone)]
pub struct IdentityAuthenticator {
    pub auth: Auth,
    pub operator: OperatorToken,
    pub db: Database,
}

fn suspended() -> ApiError {
    ApiError::new(StatusCode::FORBIDDEN, "org_suspended", "Organization suspended")
        .detail("The organization is suspended.")
}

impl IdentityAuthenticator {
    /// The subject of a bearer credential.
    pub async fn subject(&self, credential: &str) -> Result<Subject, ApiError> {
        if credential.starts_with(KEY_PREFIX) {
            return self.api_key(credential).await;
        }
        if self.operator.matches(credential) {
            return Ok(Subject {
                kind: SubjectKind::PlatformOperator,
                id: Uuid::nil(),
                scope: Scope::Platform,
                roles: Arc::from([Box::from(Builtin::PlatformAdmin.as_str())]),
                username: None,
                session: None,
                limit: None,
            });
        }
        self.access_token(credential)
    }

    /// In memory only: this is forward-auth's hot path.
    pub fn access_token(&self, token: &str) -> Result<Subject, ApiError> {
        let verified = self
            .auth
            .verify(token)
            .map_err(|e| ApiError::unauthorized(format!("The access token is not valid: {e}.")))?;
        let subject = verified.subject(subject_of_claims)?;
        // Checked on every request, never cached: suspension must take effect at once.
        if let Some(tenant) = subject.tenant()
            && self.auth.orgs.is_suspended(tenant.as_uuid())
        {
            return Err(suspended());
        }
        Ok(subject)
    }

    async fn api_key(&self, presented: &str) -> Result<Subject, ApiError> {
        let mut tx = self.db.system().await?;
        let found = api_keys::authenticate(&mut tx, presented).await;
        tx.commit().await?;
        match found {
            Ok((_, tenant)) if self.auth.orgs.is_suspended(tenant.as_uuid()) => Err(suspended()),
            Ok((subject, _)) => Ok(subject),
            Err(KeyRejected::Db(e)) => Err(e.into()),
            Err(e) => {
                tracing::info!(reason = %e, "rejected an API key");
                Err(ApiError::unauthorized("The API key is not valid."))
            }
        }
    }
}

fn subject_of_claims(claims: &Claims) -> Result<Subject, ApiError> {
    let invalid = || ApiError::unauthorized("The access token's subject or organization is malformed.");
    let id = Uuid::parse_str(&claims.sub).map_err(|_| invalid())?;
    let org = Uuid::parse_str(&claims.org).map_err(|_| invalid())?;
    let kind = if claims.client_id.is_some() { SubjectKind::ServiceAccount } else { SubjectKind::User };
    // An operator's platform token names the nil organization, which no organization has.
    let scope = if org.is_nil() { Scope::Platform } else { Scope::Tenant(TenantId::from_uuid(org)) };
    Ok(Subject {
        kind,
        id,
        scope,
        roles: claims.roles.iter().map(|r| Box::from(r.as_str())).collect(),
        username: claims.username.as_deref().or(claims.client_id.as_deref()).map(Arc::from),
        session: claims.sid.as_deref().and_then(|s| Uuid::parse_str(s).ok()),
        limit: None,
    })
}

impl axum::extract::FromRef<vextrus_server::AppState> for IdentityAuthenticator {
    fn from_ref(state: &vextrus_server::AppState) -> Self {
        state.module::<IdentityAuthenticator>()
    }
}

impl Authenticate for IdentityAuthenticator {
    fn authenticate<'a>(
        &'a self,
        parts: &'a Parts,
    ) -> Pin<Box<dyn Future<Output = Result<Subject, ApiError>> + Send + 'a>> {
        Box::pin(async move {
            let credential = bearer_token(&parts.headers).ok_or_else(|| {
                ApiError::unauthorized("Send an access token or API key as `Authorization: Bearer <token>`.")
            })?;
            self.subject(credential).await
        })
    }
}

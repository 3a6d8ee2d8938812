//! Authorization as a value the handler must hold (lldap's idea): `Permitted<P>` can only be
//! obtained by a caller who holds permission `P`, and the operations that need `P` take it.
//!
//! How a request's credentials become a [`Subject`] is identity's business (access tokens, API
//! keys, the operator token); it registers an [`Authenticator`] in the application state. The
//! subject is remembered in the request, so two guards on one handler authenticate once.

use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;

use axum::extract::{FromRef, FromRequestParts};
use axum::http::StatusCode;
use axum::http::request::Parts;
use vextrus_db::{DbError, ScopedTx, TenantId};
use vextrus_server::{ApiError, AppState};

use crate::cache::{Access, Denial};
use crate::catalog::Permission;
use crate::model::{Scope, Subject};

/// Turns a request's credentials into a subject, or says why not (401/403 problems).
pub trait Authenticate: Send + Sync + 'static {
    fn authenticate<'a>(
        &'a self,
        parts: &'a Parts,
    ) -> Pin<Box<dyn Future<Output = Result<Subject, ApiError>> + Send + 'a>>;
}

#[derive(Clone)]
pub struct Authenticator(Arc<dyn Authenticate>);

impl Authenticator {
    pub fn new(inner: impl Authenticate) -> Self {
        Self(Arc::new(inner))
    }
}

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Authenticator")
    }
}

impl FromRef<AppState> for Authenticator {
    fn from_ref(state: &AppState) -> Self {
        state.module::<Authenticator>()
    }
}

impl FromRef<AppState> for Access {
    fn from_ref(state: &AppState) -> Self {
        state.module::<Access>()
    }
}

/// The request's subject, authenticating it on first use.
pub async fn subject_of<S: Send + Sync>(parts: &mut Parts, state: &S) -> Result<Subject, ApiError>
where
    Authenticator: FromRef<S>,
{
    if let Some(subject) = parts.extensions.get::<Subject>() {
        return Ok(subject.clone());
    }
    let authenticator = Authenticator::from_ref(state);
    let subject = authenticator.0.authenticate(parts).await?;
    parts.extensions.insert(subject.clone());
    Ok(subject)
}

/// The 403 for a permission the subject does not hold.
pub fn denied(key: &str, denial: Denial) -> ApiError {
    if denial == Denial::UnknownPermission {
        tracing::warn!(permission = key, "check of a permission that is not in the catalog");
    }
    ApiError::new(StatusCode::FORBIDDEN, "permission_denied", "Permission denied")
        .detail(format!("This needs the permission `{key}`, which you do not hold here."))
}

/// A `Subject` extractor: proves who is asking and grants nothing. Only for operations on the
/// subject itself that every credential may do (asking which permissions it holds).
impl<S: Send + Sync> FromRequestParts<S> for Subject
where
    Authenticator: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        subject_of(parts, state).await
    }
}

/// Proof that the request's subject holds permission `P` in its scope.
#[derive(Debug, Clone)]
pub struct Permitted<P> {
    subject: Subject,
    _permission: PhantomData<fn() -> P>,
}

impl<P> Permitted<P> {
    pub fn subject(&self) -> &Subject {
        &self.subject
    }

    pub fn scope(&self) -> Scope {
        self.subject.scope
    }

    /// A transaction in the guard's scope: the subject's organization (Row-Level Security shows
    /// only its rows) or, for platform operators, the system path.
    pub async fn begin(&self, db: &vextrus_db::Database) -> Result<ScopedTx, DbError> {
        match self.subject.scope {
            Scope::Tenant(t) => Ok(ScopedTx::Tenant(db.tenant(t).await?)),
            Scope::Platform => Ok(ScopedTx::System(db.system().await?)),
        }
    }

    /// The organization the subject acts in; platform operators have none (403 `org_required`).
    pub fn tenant(&self) -> Result<TenantId, ApiError> {
        self.subject.tenant().ok_or_else(|| {
            ApiError::new(StatusCode::FORBIDDEN, "org_required", "Organization required")
                .detail("This acts inside an organization; sign in to one.")
        })
    }
}

impl<P: Permission, S: Send + Sync> FromRequestParts<S> for Permitted<P>
where
    Authenticator: FromRef<S>,
    Access: FromRef<S>,
    vextrus_db::Database: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let subject = subject_of(parts, state).await?;
        if let Err(denial) = Access::from_ref(state).check(&subject, P::KEY) {
            record_denial(&vextrus_db::Database::from_ref(state), &subject, P::KEY, parts).await;
            return Err(denied(P::KEY, denial));
        }
        Ok(Self { subject, _permission: PhantomData })
    }
}

/// Records a refused request (`authz_fail`) in the subject's chain, in a transaction of its
/// own. Best effort: the request is refused whether or not the record could be written.
async fn record_denial(db: &vextrus_db::Database, subject: &Subject, permission: &str, parts: &Parts) {
    let tenant = subject.tenant().unwrap_or(TenantId::PLATFORM);
    let event = vextrus_audit::NewEvent::new(tenant, subject.into(), "authz_fail")
        .outcome(vextrus_audit::Outcome::Denied)
        .metadata(serde_json::json!({
            "permission": permission,
            "method": parts.method.as_str(),
            "path": parts.uri.path(),
        }));
    let recorded = async {
        let mut tx = db.system().await?;
        vextrus_audit::record(&mut tx, event).await?;
        tx.commit().await
    };
    if let Err(e) = recorded.await {
        tracing::warn!(error = %e, permission, "could not record a permission denial");
    }
}

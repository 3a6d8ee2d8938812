//! How a request's `Authorization: Bearer` credential becomes an access-control `Subject`:
//! the operator token, an API key (`vxk_…`, one indexed read), or an access token (verified in
//! memory against the key ring; the organization's status from the status cache).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode};
use uuid::Uuid;
use vextrus_access::{Authenticate, Builtin, Scope, Subject, SubjectKind};
use vextrus_db::{Database, TenantId};
use vextrus_server::{ApiError, ClientAddr, OperatorToken, bearer_token};

use crate::api_keys::{KEY_PREFIX, KeyRejected};
use crate::auth::Auth;
use crate::keys::Claims;

/// Cheap to clone: one shared allocation, so the per-request clone is a single reference count
/// (which matters on the forward-auth path, where every shared counter is contended).
#[derive(Debug, Clone)]
pub struct IdentityAuthenticator(Arc<Parts_>);

#[derive(Debug)]
struct Parts_ {
    auth: Auth,
    operator: OperatorToken,
    db: Database,
    /// API keys' networks are checked against `X-Forwarded-For` (behind a proxy that sets it).
    trust_forwarded_for: bool,
}

fn suspended() -> ApiError {
    ApiError::new(StatusCode::FORBIDDEN, "org_suspended", "Organization suspended")
        .detail("The organization is suspended.")
}

/// Shaped like a JWT (`xxx.yyy.zzz`, base64url JSON header): then it is verified as an access
/// token without first being compared with the operator token.
pub(crate) fn looks_like_jwt(credential: &str) -> bool {
    credential.starts_with("eyJ") && credential.bytes().filter(|b| *b == b'.').count() == 2
}

impl IdentityAuthenticator {
    pub fn new(auth: Auth, operator: OperatorToken, db: Database, trust_forwarded_for: bool) -> Self {
        Self(Arc::new(Parts_ { auth, operator, db, trust_forwarded_for }))
    }

    /// The subject of a bearer credential, presented by `client` (which matters for API keys
    /// limited to networks).
    pub async fn subject(&self, credential: &str, client: &ClientAddr) -> Result<Subject, ApiError> {
        if credential.starts_with(KEY_PREFIX) {
            let subject = self.api_key(credential, client.ip(self.0.trust_forwarded_for)).await?;
            return self.current(subject).await;
        }
        if looks_like_jwt(credential) {
            return self.current(self.access_token(credential)?).await;
        }
        if self.0.operator.matches(credential) {
            return Ok(Subject {
                kind: SubjectKind::PlatformOperator,
                id: Uuid::nil(),
                scope: Scope::Platform,
                roles: Arc::from([Box::from(Builtin::PlatformAdmin.as_str())]),
                username: None,
                session: None,
                limit: None,
                key_bounds: None,
            });
        }
        self.current(self.access_token(credential)?).await
    }

    /// The token's subject as its claims state it (roles included): for what must not wait
    /// for a lookup. Requests go through [`Self::subject`], which holds it to what it holds now.
    pub fn access_token(&self, token: &str) -> Result<Subject, ApiError> {
        self.access_token_with_headers(token).map(|(subject, _)| subject)
    }

    /// `subject` with the roles it holds now in its organization (from memory; one read after a
    /// change), refused when it no longer belongs there. A token's roles are what was true when
    /// it was issued: a demoted or removed member must not act on them.
    pub async fn current(&self, mut subject: Subject) -> Result<Subject, ApiError> {
        let Some(tenant) = subject.tenant() else { return Ok(subject) };
        if !matches!(subject.kind, SubjectKind::User | SubjectKind::ServiceAccount) {
            return Ok(subject);
        }
        let Some(held) = self.0.auth.standing.held(&self.0.db, tenant, subject.id).await? else {
            return Err(ApiError::unauthorized(
                "This credential's holder no longer belongs to the organization (or is disabled).",
            ));
        };
        if subject.session.is_some_and(|session| !held.admits(session)) {
            return Err(ApiError::unauthorized(
                "This session has ended (the account's password was reset, or its address's holder claimed it); \
                 sign in again.",
            ));
        }
        let roles = held.roles;
        if roles[..] != subject.roles[..] {
            subject.roles = roles;
        }
        Ok(subject)
    }

    /// An access token's subject as it stands now, and its forward-auth headers (rebuilt only
    /// when the roles changed since the token was issued).
    pub async fn current_with_headers(&self, token: &str) -> Result<(Subject, IdentityHeaders), ApiError> {
        let (subject, headers) = self.access_token_with_headers(token)?;
        let stated = subject.roles.clone();
        let subject = self.current(subject).await?;
        if std::sync::Arc::ptr_eq(&stated, &subject.roles) {
            return Ok((subject, headers));
        }
        let headers = identity_headers(&subject);
        Ok((subject, headers))
    }

    /// An access token's subject and its forward-auth headers. Each worker thread keeps its own
    /// copy of both for the tokens it has seen (until their `exp`, and only while the key
    /// ring's generation is unchanged), so that concurrent requests share no lock and no
    /// counter, and a repeated token costs no formatting.
    pub fn access_token_with_headers(&self, token: &str) -> Result<(Subject, IdentityHeaders), ApiError> {
        let keys = &self.0.auth.keys;
        let generation = keys.generation();
        let now = chrono::Utc::now().timestamp();
        let (subject, headers) = match local::get(generation, token, now) {
            Some(found) => found,
            None => {
                let verified = self
                    .0
                    .auth
                    .verify(token)
                    .map_err(|e| ApiError::unauthorized(format!("The access token is not valid: {e}.")))?;
                let subject = subject_of_claims(&verified)?;
                let headers = identity_headers(&subject);
                local::put(generation, token, verified.exp, (subject.clone(), headers.clone()));
                (subject, headers)
            }
        };
        // Checked on every request, never cached: suspension must take effect at once.
        if let Some(tenant) = subject.tenant()
            && self.0.auth.orgs.is_suspended(tenant.as_uuid())
        {
            return Err(suspended());
        }
        Ok((subject, headers))
    }

    async fn api_key(&self, presented: &str, client: Option<std::net::IpAddr>) -> Result<Subject, ApiError> {
        let found = self.0.auth.api_keys.authenticate(&self.0.db, presented, client).await;
        match found {
            Ok((_, tenant)) if self.0.auth.orgs.is_suspended(tenant.as_uuid()) => Err(suspended()),
            Ok((subject, _)) => Ok(subject),
            Err(KeyRejected::Db(e)) => Err(e.into()),
            Err(KeyRejected::AddressNotAllowed) => {
                tracing::info!(client = ?client, "an API key was used from outside its networks");
                Err(ApiError::new(StatusCode::FORBIDDEN, "address_not_allowed", "Address not allowed")
                    .detail("This API key may only be used from the networks it was created for."))
            }
            Err(e) => {
                tracing::info!(reason = %e, "rejected an API key");
                Err(ApiError::unauthorized("The API key is not valid."))
            }
        }
    }
}

/// What forward-auth tells the services behind the gateway, in this order: `X-Vextrus-User`,
/// `X-Vextrus-Tenant` (empty at platform scope), `X-Vextrus-Roles` (comma-separated),
/// `X-Vextrus-Username`.
pub type IdentityHeaders = [HeaderValue; 4];

pub const IDENTITY_HEADER_NAMES: [&str; 4] =
    ["x-vextrus-user", "x-vextrus-tenant", "x-vextrus-roles", "x-vextrus-username"];

pub fn identity_headers(subject: &Subject) -> IdentityHeaders {
    let text = |s: &str| HeaderValue::from_str(s).unwrap_or_else(|_| HeaderValue::from_static(""));
    let roles: Vec<&str> = subject.roles.iter().map(|r| &**r).collect();
    [
        text(&subject.id.to_string()),
        text(&subject.tenant().map(|t| t.to_string()).unwrap_or_default()),
        text(&roles.join(",")),
        text(subject.username.as_deref().unwrap_or("")),
    ]
}

/// The per-thread copy of verified tokens' subjects and headers.
mod local {
    use std::cell::RefCell;
    use std::collections::HashMap;

    use vextrus_access::Subject;

    use super::IdentityHeaders;
    use crate::keys::LEEWAY_SECS;

    const CAPACITY: usize = 10_000;

    #[derive(Default)]
    struct Local {
        generation: u64,
        entries: HashMap<Box<str>, (Subject, IdentityHeaders, i64)>,
    }

    thread_local! {
        static LOCAL: RefCell<Local> = RefCell::new(Local::default());
    }

    pub(super) fn get(generation: u64, token: &str, now: i64) -> Option<(Subject, IdentityHeaders)> {
        LOCAL.with_borrow_mut(|local| {
            if local.generation != generation {
                local.entries.clear();
                local.generation = generation;
                return None;
            }
            match local.entries.get(token) {
                Some((subject, headers, exp)) if exp + LEEWAY_SECS > now => Some((subject.clone(), headers.clone())),
                _ => None,
            }
        })
    }

    pub(super) fn put(generation: u64, token: &str, exp: i64, (subject, headers): (Subject, IdentityHeaders)) {
        LOCAL.with_borrow_mut(|local| {
            if local.generation != generation {
                local.entries.clear();
                local.generation = generation;
            }
            if local.entries.len() >= CAPACITY {
                local.entries.clear();
            }
            local.entries.insert(token.into(), (subject, headers, exp));
        });
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
        key_bounds: None,
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
            self.subject(credential, &ClientAddr::of(parts)).await
        })
    }
}

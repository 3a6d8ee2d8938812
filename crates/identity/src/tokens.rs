//! The OAuth 2.0 grants: password, refresh_token (with rotation and reuse detection) and
//! client_credentials (service accounts).
//! Errors are RFC 6749 §5.2 error codes; "wrong user" and "wrong password" are one error, and
//! an unknown user costs the same argon2 verification as a known one.

use chrono::Utc;
use serde::Serialize;
use uuid::Uuid;
use vextrus_access::Builtin;
use vextrus_db::{DbError, SystemTx, TenantId};
use vextrus_tenancy::{OrgRef, OrgStatus, service as tenancy};

use crate::auth::Auth;
use crate::keys::{Audience, Claims, KeyError};
use crate::service::{random_token, sha256};
use crate::store::{self, MembershipRow, service_accounts};
use crate::{mfa, password};

/// RFC 6749 §5.1.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TokenResponse {
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: &'static str,
    /// Seconds until the access token expires.
    pub expires_in: i64,
    /// Absent for client credentials (a service account simply asks again).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    pub scope: String,
    /// Set when the organization requires a second factor the user has not enabled: the token
    /// carries no roles until they enrol (`POST /v1/me/mfa/totp`) and refresh.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mfa_enrollment_required: Option<bool>,
}

#[derive(Debug, thiserror::Error)]
pub enum GrantError {
    /// RFC 6749 `invalid_grant`, with a description safe to show.
    #[error("{0}")]
    InvalidGrant(&'static str),
    /// The account has a second factor and no `otp` was sent (`mfa_required`).
    #[error("a one-time code is required")]
    MfaRequired,
    #[error(transparent)]
    Identity(#[from] crate::IdentityError),
    /// RFC 6749 `invalid_client`: unknown client, wrong secret, or a disabled account.
    #[error("{0}")]
    InvalidClient(&'static str),
    #[error(transparent)]
    Db(#[from] DbError),
    #[error(transparent)]
    Keys(#[from] KeyError),
}

/// What a refresh came to: new tokens, or reuse of a spent token (the session is now revoked;
/// the caller commits that and answers `invalid_grant`).
#[derive(Debug)]
pub enum Refreshed {
    Issued(TokenResponse),
    ReuseDetected,
}

/// A password sign-in as the token endpoint received it.
#[derive(Debug, Clone, Copy)]
pub struct PasswordLogin<'a> {
    pub login: &'a str,
    pub password: &'a str,
    /// Organization slug or id, or `platform` (operators).
    pub org: Option<&'a str>,
    /// TOTP or recovery code, when the account has a second factor.
    pub otp: Option<&'a str>,
    pub user_agent: Option<&'a str>,
}

/// What `org=platform` asks for: the platform scope of an operator.
pub const PLATFORM_SCOPE: &str = "platform";

/// Where the next access token acts.
#[derive(Debug, Clone)]
enum Target {
    Org(MembershipRow),
    Platform,
}

impl Target {
    fn tenant(&self) -> TenantId {
        match self {
            Target::Org(m) => m.tenant_id,
            Target::Platform => TenantId::PLATFORM,
        }
    }
}

const OPERATOR_NEEDS_MFA: &str = "Platform operators must enable a second factor (TOTP) first.";

pub async fn password_grant(
    tx: &mut SystemTx,
    auth: &Auth,
    req: PasswordLogin<'_>,
) -> Result<TokenResponse, GrantError> {
    let proven = prove_password(tx, auth, &req).await?;
    let expires = Utc::now() + auth.refresh_ttl;
    let session = store::insert_session(tx, proven.user, proven.target.tenant(), expires, req.user_agent).await?;
    issue(tx, auth, session, proven.user, &proven.username, proven.target, proven.enrolled).await
}

/// What a password (and second factor) proved: who, and where they sign in.
struct Proven {
    user: Uuid,
    username: String,
    target: Target,
    enrolled: bool,
}

/// The checks every password sign-in makes: an active account, its password, the
/// organization, and the second factor when the account has one.
async fn prove_password(tx: &mut SystemTx, auth: &Auth, req: &PasswordLogin<'_>) -> Result<Proven, GrantError> {
    const BAD_LOGIN: &str = "The username or password is incorrect.";
    let user = store::credentials(tx, req.login).await?;
    let ok = password::verify_async(req.password, user.as_ref().and_then(|u| u.password_hash.as_deref())).await;
    let user = match user {
        Some(u) if ok && u.status == "active" => u,
        _ => return Err(GrantError::InvalidGrant(BAD_LOGIN)),
    };
    if user.password_hash.as_deref().is_some_and(password::needs_rehash) {
        // An imported (bcrypt) hash proved itself: from now on it is argon2id.
        crate::store::password_resets::set_password(tx, user.id, &password::rehash_async(req.password).await).await?;
    }
    let target = choose_target(tx, user.id, req.org, None, user.platform_role.as_deref()).await?;
    let enrolled = mfa::is_enrolled(tx, user.id).await?;
    if matches!(target, Target::Platform) && !enrolled {
        return Err(GrantError::InvalidGrant(OPERATOR_NEEDS_MFA));
    }
    if enrolled {
        let otp = req.otp.map(str::trim).filter(|o| !o.is_empty()).ok_or(GrantError::MfaRequired)?;
        if !mfa::check_second_factor(tx, auth.keys.master(), user.id, otp).await? {
            return Err(GrantError::InvalidGrant("The one-time code is not valid."));
        }
    }
    Ok(Proven { user: user.id, username: user.username, target, enrolled })
}

/// A command-line client's sign-in (`npm login`, `npm token create`): the password grant's
/// checks, but what it gets is an API key limited to `permissions` in the organization, instead
/// of a session. Recorded as a sign-in, and the key's creation, in the organization's chain.
pub async fn cli_key(
    tx: &mut SystemTx,
    auth: &Auth,
    req: PasswordLogin<'_>,
    new: crate::api_keys::NewApiKey,
    limits: &vextrus_server::Limits,
) -> Result<(String, crate::api_keys::Created), GrantError> {
    let proven = prove_password(tx, auth, &req).await?;
    let Target::Org(_) = &proven.target else {
        return Err(GrantError::InvalidGrant("Platform operators have no packages: sign in to an organization."));
    };
    let tenant = proven.target.tenant();
    let roles = vextrus_access::service::roles_of(tx, tenant, proven.user).await?;
    if roles.is_empty() {
        return Err(GrantError::InvalidGrant("You hold no role in that organization."));
    }
    if !proven.enrolled && mfa::required_by_policy(tx, tenant, &roles).await? {
        return Err(GrantError::InvalidGrant("Your organization requires a second factor: enable one first."));
    }
    store::touch_membership(tx, tenant, proven.user).await?;
    let actor =
        vextrus_audit::Actor::new(vextrus_audit::ActorKind::User, Some(proven.user), Some(proven.username.clone()));
    let created =
        crate::api_keys::create(tx, tenant, crate::api_keys::Owner::User(proven.user), new, actor.clone(), limits)
            .await?;
    let event = vextrus_audit::NewEvent::new(tenant, actor, "authn_login_success")
        .target(vextrus_audit::Target::new("api_key", created.key.id))
        .metadata(serde_json::json!({"client": created.key.name, "mfa": proven.enrolled}));
    vextrus_audit::record(tx, event).await?;
    Ok((proven.username, created))
}

/// A failed sign-in, recorded in the platform's chain (no tenant is known for it), without the
/// login as typed (people type passwords into it). In a transaction of its own: the sign-in's is
/// rolled back. (Its attempt was counted for throttling before the password was checked.)
pub async fn record_login_failure(db: &vextrus_db::Database, description: &str) -> Result<(), DbError> {
    let mut counting = db.system().await?;
    let event = vextrus_audit::NewEvent::new(TenantId::PLATFORM, vextrus_audit::Actor::anonymous(), "authn_login_fail")
        .outcome(vextrus_audit::Outcome::Failure)
        .metadata(serde_json::json!({"reason": description}));
    vextrus_audit::record(&mut counting, event).await?;
    counting.commit().await
}

pub async fn refresh_grant(
    tx: &mut SystemTx,
    auth: &Auth,
    refresh_token: &str,
    org: Option<&str>,
) -> Result<Refreshed, GrantError> {
    let hash = sha256(refresh_token);
    let presented = store::presented_refresh(tx, &hash)
        .await?
        .ok_or(GrantError::InvalidGrant("The refresh token is not valid."))?;
    if presented.used {
        // A spent token came back: it was stolen, or the client is broken. Either way the
        // family is no longer trustworthy.
        store::revoke_session(tx, presented.session_id, "refresh_token_reuse").await?;
        let actor = vextrus_audit::Actor::anonymous();
        let event = vextrus_audit::NewEvent::new(presented.active_org, actor, "authn_token_reuse")
            .target(vextrus_audit::Target::new("session", presented.session_id))
            .outcome(vextrus_audit::Outcome::Denied)
            .metadata(serde_json::json!({"user": presented.user_id, "session_revoked": true}));
        vextrus_audit::record(tx, event).await?;
        tracing::warn!(session = %presented.session_id, user = %presented.user_id, "refresh token reuse; session revoked");
        return Ok(Refreshed::ReuseDetected);
    }
    if !presented.session_live || presented.user_status != "active" {
        return Err(GrantError::InvalidGrant("The session has ended; sign in again."));
    }
    store::mark_refresh_used(tx, &hash).await?;
    let (user, current) = (presented.user_id, Some(presented.active_org));
    let target = choose_target(tx, user, org, current, presented.platform_role.as_deref()).await?;
    let enrolled = mfa::is_enrolled(tx, user).await?;
    if matches!(target, Target::Platform) && !enrolled {
        return Err(GrantError::InvalidGrant(OPERATOR_NEEDS_MFA));
    }
    let issued = issue(tx, auth, presented.session_id, user, &presented.username, target, enrolled).await?;
    Ok(Refreshed::Issued(issued))
}

/// The scope of the next access token: the platform (operators asking for it, or refreshing a
/// platform session), else an organization as `choose_membership` picks it.
async fn choose_target(
    tx: &mut SystemTx,
    user: Uuid,
    asked: Option<&str>,
    current: Option<TenantId>,
    platform_role: Option<&str>,
) -> Result<Target, GrantError> {
    let asked = asked.map(str::trim).filter(|s| !s.is_empty());
    let wants_platform = asked == Some(PLATFORM_SCOPE) || (asked.is_none() && current == Some(TenantId::PLATFORM));
    if wants_platform {
        return match platform_role {
            Some(_) => Ok(Target::Platform),
            None => Err(GrantError::InvalidGrant("You are not a platform operator.")),
        };
    }
    let current = current.filter(|c| *c != TenantId::PLATFORM);
    Ok(Target::Org(choose_membership(tx, user, asked, current).await?))
}

/// The organization of the next access token: the one asked for, else the session's current
/// one (refresh), else the user's only or most recently used one. Membership and status are
/// checked every time, so a removed member or a suspended organization gets no new token.
async fn choose_membership(
    tx: &mut SystemTx,
    user: Uuid,
    asked: Option<&str>,
    current: Option<TenantId>,
) -> Result<MembershipRow, GrantError> {
    const NOT_MEMBER: GrantError = GrantError::InvalidGrant("You are not a member of that organization.");
    let memberships = store::memberships_of(tx, user).await?;
    let asked = match asked.map(str::trim).filter(|s| !s.is_empty()) {
        Some(text) => Some(tenancy::get(tx, &OrgRef::parse(text).ok_or(NOT_MEMBER)?).await.map_err(|_| NOT_MEMBER)?),
        None => None,
    };
    let membership = match asked.as_ref().map(|org| org.id).or(current) {
        Some(id) => memberships.into_iter().find(|m| m.tenant_id == id),
        None => memberships.into_iter().next(),
    }
    .ok_or(NOT_MEMBER)?;
    // The organization asked for is the membership's; otherwise look it up once.
    let org = match asked {
        Some(org) => org,
        None => tenancy::get(tx, &OrgRef::Id(membership.tenant_id)).await.map_err(|_| NOT_MEMBER)?,
    };
    if org.status == OrgStatus::Suspended {
        return Err(GrantError::InvalidGrant("The organization is suspended."));
    }
    Ok(membership)
}

/// Tokens for a user's session. In an organization whose policy requires a second factor of
/// the user's roles, a user without one gets a token with no roles (it can only enrol one) and
/// the response says so; the next refresh after enrolling carries the roles.
async fn issue(
    tx: &mut SystemTx,
    auth: &Auth,
    session: Uuid,
    user: Uuid,
    username: &str,
    target: Target,
    mfa_enrolled: bool,
) -> Result<TokenResponse, GrantError> {
    let tenant = target.tenant();
    let mut enrollment_required = None;
    let roles = match target {
        Target::Platform => vec![Builtin::PlatformAdmin.as_str().to_owned()],
        Target::Org(_) => {
            let roles = vextrus_access::service::roles_of(tx, tenant, user).await?;
            if roles.is_empty() {
                return Err(GrantError::InvalidGrant("You hold no role in that organization."));
            }
            store::touch_membership(tx, tenant, user).await?;
            if !mfa_enrolled && mfa::required_by_policy(tx, tenant, &roles).await? {
                enrollment_required = Some(true);
                Vec::new()
            } else {
                roles
            }
        }
    };
    store::continue_session(tx, session, tenant).await?;
    let refresh_token = random_token();
    store::insert_refresh_token(tx, &sha256(&refresh_token), session).await?;
    let now = Utc::now().timestamp();
    let claims = Claims {
        iss: auth.issuer.to_string(),
        sub: user.to_string(),
        aud: Audience::One(auth.audience.to_string()),
        exp: now + auth.access_ttl.num_seconds(),
        iat: now,
        nbf: None,
        jti: Uuid::now_v7().to_string(),
        org: tenant.to_string(),
        roles,
        username: Some(username.to_owned()),
        sid: Some(session.to_string()),
        client_id: None,
    };
    let actor = vextrus_audit::Actor::new(vextrus_audit::ActorKind::User, Some(user), Some(username.to_owned()));
    let event = vextrus_audit::NewEvent::new(tenant, actor, "authn_login_success")
        .target(vextrus_audit::Target::new("session", session))
        .metadata(serde_json::json!({"roles": claims.roles}));
    vextrus_audit::record(tx, event).await?;
    let mut response = respond(auth, &claims, Some(refresh_token))?;
    response.mfa_enrollment_required = enrollment_required;
    Ok(response)
}

fn respond(auth: &Auth, claims: &Claims, refresh_token: Option<String>) -> Result<TokenResponse, GrantError> {
    Ok(TokenResponse {
        access_token: auth.keys.sign(claims)?,
        token_type: "Bearer",
        expires_in: auth.access_ttl.num_seconds(),
        refresh_token,
        scope: String::new(),
        mfa_enrollment_required: None,
    })
}

/// A service account's token: for its one organization, with its current roles, no refresh token.
pub async fn client_credentials_grant(
    tx: &mut SystemTx,
    auth: &Auth,
    client_id: &str,
    client_secret: &str,
) -> Result<TokenResponse, GrantError> {
    const BAD_CLIENT: GrantError = GrantError::InvalidClient("The client id or secret is incorrect.");
    let account = service_accounts::for_grant(tx, client_id).await?.ok_or(BAD_CLIENT)?;
    // Comparing digests: timing can only tell how much of the digest of a guess matched.
    if account.secret_hash != sha256(client_secret) {
        return Err(BAD_CLIENT);
    }
    if account.status != "active" {
        return Err(GrantError::InvalidClient("The service account is disabled."));
    }
    let org = tenancy::get(tx, &OrgRef::Id(account.tenant_id)).await.map_err(|_| BAD_CLIENT)?;
    if org.status == OrgStatus::Suspended {
        return Err(GrantError::InvalidGrant("The organization is suspended."));
    }
    let roles = vextrus_access::service::roles_of(tx, account.tenant_id, account.id).await?;
    service_accounts::touch(tx, account.tenant_id, account.id).await?;
    let now = Utc::now().timestamp();
    let claims = Claims {
        iss: auth.issuer.to_string(),
        sub: account.id.to_string(),
        aud: Audience::One(auth.audience.to_string()),
        exp: now + auth.access_ttl.num_seconds(),
        iat: now,
        nbf: None,
        jti: Uuid::now_v7().to_string(),
        org: account.tenant_id.to_string(),
        roles,
        username: None,
        sid: None,
        client_id: Some(client_id.to_owned()),
    };
    let actor = vextrus_audit::Actor::new(
        vextrus_audit::ActorKind::ServiceAccount,
        Some(account.id),
        Some(client_id.to_owned()),
    );
    let event = vextrus_audit::NewEvent::new(account.tenant_id, actor, "authn_login_success")
        .metadata(serde_json::json!({"grant": "client_credentials"}));
    vextrus_audit::record(tx, event).await?;
    respond(auth, &claims, None)
}

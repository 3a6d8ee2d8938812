//! Identity operations; each takes the transaction it runs in.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{Duration, Utc};
use serde_json::json;
use vextrus_access::RoleKey;
use vextrus_access::service::Actor as AccessActor;
use vextrus_audit::{Actor, ActorKind, NewEvent, Target};
use vextrus_db::SystemTx;
use vextrus_notify::model::Locale;
use vextrus_tenancy::model::{NewOrganization, OrgRef};
use vextrus_tenancy::{OrgName, OrgSlug, Organization, service as tenancy};

use crate::IdentityError;
use crate::model::{DisplayName, EmailAddress, PhoneNumberBd, Username};
use crate::password::Password;
use crate::store::{self, NewUserRow, User};
use crate::templates;

/// How long an email verification link works.
const VERIFICATION_TTL: Duration = Duration::hours(48);

#[derive(Debug)]
pub struct NewUser {
    pub email: EmailAddress,
    pub username: Username,
    pub phone: Option<PhoneNumberBd>,
    pub display_name: DisplayName,
    pub password: Password,
    /// The language of their messages and, for an owner, of the new organization.
    pub locale: Locale,
}

/// Creates the organization and its owner together, and sends (through the job queue, in the
/// same transaction) the link that verifies the owner's email address.
/// Asks to sign up `org` with its owner `user`. Nothing is created until the address is proved,
/// and the answer is the same whether or not the address (or the username) is taken: the
/// address's holder learns by mail — a code that completes the sign-up
/// ([`complete_sign_up`]), or, when the address already has an account, a reminder to sign in.
/// Only the organization's slug, a public name, must be free now. `mail` is false past the
/// address's hourly mail limit: then nothing is sent (and nothing kept).
pub async fn request_sign_up(
    tx: &mut SystemTx,
    org: &NewOrganization,
    user: &NewUser,
    password_hash: &str,
    mail: bool,
) -> Result<(), IdentityError> {
    if tenancy::get(tx, &OrgRef::Slug(org.slug.clone())).await.is_ok() {
        return Err(vextrus_tenancy::TenancyError::SlugTaken(org.slug.to_string()).into());
    }
    let existing = store::credentials(tx, user.email.as_str()).await?;
    if let (true, Some(account)) = (mail, &existing) {
        // The holder is told in their own language, not the asker's.
        let locale = store::user(tx, account.id).await?.map(|u| Locale::parse(&u.locale).unwrap_or_default());
        vextrus_notify::queue(
            tx,
            &templates::SIGNUP_NOTICE,
            user.email.as_str(),
            locale.unwrap_or_default(),
            json!({}),
        )
        .await?;
    } else if mail {
        let token = random_token();
        let pending = store::signups::NewPending {
            token_hash: &sha256(&token),
            email: user.email.as_str(),
            org_slug: org.slug.as_str(),
            org_name: org.name.as_str(),
            username: user.username.as_str(),
            display_name: user.display_name.as_str(),
            phone: user.phone.as_ref().map(PhoneNumberBd::as_str),
            password_hash,
            locale: user.locale.as_str(),
            expires_at: Utc::now() + VERIFICATION_TTL,
        };
        store::signups::insert(tx, pending).await?;
        let data = json!({
            "name": user.display_name.as_str(),
            "organization": crate::jobs::quoted(org.name.as_str()),
            "slug": org.slug.as_str(),
            "token": token,
        });
        vextrus_notify::queue(tx, &templates::SIGNUP_CODE, user.email.as_str(), user.locale, data).await?;
    }
    let existing = existing.is_some();
    // Who asked, for the platform's operators (an anonymous caller, named by the address).
    let actor = Actor::new(ActorKind::Anonymous, None, Some(user.email.to_string()));
    let event = NewEvent::new(vextrus_db::TenantId::PLATFORM, actor, "identity.signup.request")
        .target(Target::new("organization_slug", org.slug.as_str()))
        .metadata(serde_json::json!({"email": user.email, "existing_account": existing, "mailed": mail}));
    vextrus_audit::record(tx, event).await?;
    Ok(())
}

/// A different username or organization slug to complete a sign-up with, when the one asked
/// for was taken in the meantime (the code stays usable after such a refusal).
#[derive(Debug, Default)]
pub struct SignUpChanges {
    pub username: Option<Username>,
    pub org_slug: Option<OrgSlug>,
}

/// Completes a sign-up with the code mailed to its address: the organization and its owner
/// (address verified) are created now. The code's holder gives the account's password — the
/// one asked with, or a new one (whoever proves the address decides the account's password, so
/// a stranger who asked with someone else's address never holds the account).
pub async fn complete_sign_up(
    tx: &mut SystemTx,
    token: &str,
    password: &str,
    changes: SignUpChanges,
) -> Result<(Organization, User), IdentityError> {
    let pending = store::signups::take(tx, &sha256(token)).await?.ok_or(IdentityError::InvalidToken)?;
    let password_hash = if crate::password::verify_async(password, Some(&pending.password_hash)).await {
        pending.password_hash.clone()
    } else {
        Password::parse(password).map_err(IdentityError::InvalidPassword)?.hash_async().await
    };
    // What was kept passed the same checks when it was asked for.
    let kept = |_| IdentityError::InvalidToken;
    let org = NewOrganization {
        slug: match changes.org_slug {
            Some(slug) => slug,
            None => OrgSlug::parse(&pending.org_slug).map_err(kept)?,
        },
        name: OrgName::parse(&pending.org_name).map_err(kept)?,
        settings: vextrus_tenancy::model::SettingsChange {
            locale: Some(Locale::parse(&pending.locale).map_err(kept)?),
            ..Default::default()
        },
    };
    let email = EmailAddress::parse(&pending.email).map_err(kept)?;
    let username = match changes.username {
        Some(username) => username,
        None => Username::parse(&pending.username).map_err(kept)?,
    };
    let phone = pending.phone.as_deref().map(PhoneNumberBd::parse).transpose().map_err(kept)?;
    let display_name = DisplayName::parse(&pending.display_name).map_err(kept)?;
    let owner = NewOwner { email, username, phone, display_name, password_hash };
    found(tx, org, owner, "signup_code").await
}

/// An organization and its owner whose address whoever calls vouches for (an operator's tool,
/// a benchmark's set-up): what a completed sign-up creates.
pub async fn create_with_owner(
    tx: &mut SystemTx,
    org: NewOrganization,
    user: NewUser,
) -> Result<(Organization, User), IdentityError> {
    let password_hash = user.password.hash_async().await;
    let NewUser { email, username, phone, display_name, .. } = user;
    found(tx, org, NewOwner { email, username, phone, display_name, password_hash }, "caller").await
}

struct NewOwner {
    email: EmailAddress,
    username: Username,
    phone: Option<PhoneNumberBd>,
    display_name: DisplayName,
    password_hash: String,
}

/// Creates `org` and its owner, whose address `proof` proved.
async fn found(
    tx: &mut SystemTx,
    org: NewOrganization,
    owner: NewOwner,
    proof: &str,
) -> Result<(Organization, User), IdentityError> {
    let locale = org.settings.locale.unwrap_or_default();
    // The organization is created by its owner-to-be (named by their username), the account by
    // itself.
    let requester = Actor::new(ActorKind::Anonymous, None, Some(owner.username.as_str().to_owned()));
    let org = tenancy::create(tx, org, requester).await?;
    let row = NewUserRow {
        email: &owner.email,
        username: &owner.username,
        phone: owner.phone.as_ref(),
        display_name: &owner.display_name,
        locale: locale.as_str(),
        password_hash: &owner.password_hash,
    };
    let (created, _) = join(tx, org.id, row, RoleKey::owner()).await?;
    store::mark_email_verified(tx, created.id).await?;
    let created = store::user(tx, created.id).await?.unwrap_or(created);
    let actor = Actor::new(ActorKind::User, Some(created.id), Some(created.username.clone()));
    let event = NewEvent::new(org.id, actor, "identity.user.signup")
        .target(Target::new("user", created.id))
        .metadata(serde_json::json!({"email": created.email, "roles": ["owner"], "email_proved_by": proof}));
    vextrus_audit::record(tx, event).await?;
    tracing::info!(org = %org.id, user = %created.id, "signed up");
    Ok((org, created))
}

/// A new account (a taken username or address is the matching error).
pub(crate) async fn create_user(tx: &mut SystemTx, row: NewUserRow<'_>) -> Result<User, IdentityError> {
    store::insert_user(tx, row).await.map_err(|e| match e.constraint() {
        Some("users_email_key") => IdentityError::EmailTaken,
        Some("users_username_key") => IdentityError::UsernameTaken,
        _ => e.into(),
    })
}

/// A new account that is a member of `org` with `role`; answers it and the roles it holds.
async fn join(
    tx: &mut SystemTx,
    org: vextrus_db::TenantId,
    row: NewUserRow<'_>,
    role: RoleKey,
) -> Result<(User, Vec<String>), IdentityError> {
    let created = create_user(tx, row).await?;
    store::insert_membership(tx, org, created.id).await?;
    let roles = vextrus_access::service::assign(tx, org, created.id, &[role], AccessActor::Platform).await?;
    Ok((created, roles))
}

/// Sends (through the job queue, in the caller's transaction) the link that verifies `email`.
async fn send_verification(tx: &mut SystemTx, user: &User, email: &EmailAddress) -> Result<(), IdentityError> {
    let token = random_token();
    let expires_at = Utc::now() + VERIFICATION_TTL;
    store::insert_verification(tx, &sha256(&token), user.id, email, expires_at).await?;
    // A platform-level message: no organization sees it (or the code).
    let data = json!({"name": user.display_name, "token": token});
    let locale = Locale::parse(&user.locale).unwrap_or_default();
    vextrus_notify::queue(tx, &templates::VERIFY_EMAIL, email.as_str(), locale, data).await?;
    Ok(())
}

/// Whether an account has `username`.
pub async fn username_taken(tx: &mut SystemTx, username: &Username) -> Result<bool, IdentityError> {
    Ok(store::credentials(tx, username.as_str()).await?.is_some())
}

/// A new account that joins an existing organization with one role, without an invitation
/// (`npm adduser` or `npm login`, where the configuration allows it). The address is
/// unverified: the code that verifies it is sent (unless it is a placeholder). `None` when the username is taken (the caller signs in instead).
pub async fn join_as_new_user(
    tx: &mut SystemTx,
    org: vextrus_db::TenantId,
    user: NewUser,
    role: RoleKey,
    via: &str,
    plan_defaults: vextrus_server::PlanLimits,
) -> Result<Option<User>, IdentityError> {
    if store::credentials(tx, user.username.as_str()).await?.is_some() {
        return Ok(None);
    }
    crate::quota::admit_member(tx, org, None, plan_defaults).await?;
    let password_hash = user.password.hash_async().await;
    let row = NewUserRow {
        email: &user.email,
        username: &user.username,
        phone: user.phone.as_ref(),
        display_name: &user.display_name,
        locale: user.locale.as_str(),
        password_hash: &password_hash,
    };
    let (created, roles) = join(tx, org, row, role).await?;
    let actor = Actor::new(ActorKind::User, Some(created.id), Some(created.username.clone()));
    let event = NewEvent::new(org, actor, "identity.user.signup")
        .target(Target::new("user", created.id))
        .metadata(serde_json::json!({"email": created.email, "roles": roles, "via": via}));
    vextrus_audit::record(tx, event).await?;
    // A placeholder (`….invalid`, RFC 2606: `npm login` sends no address) cannot be mailed.
    if !user.email.as_str().ends_with(".invalid") {
        send_verification(tx, &created, &user.email).await?;
    }
    Ok(Some(created))
}

/// An account brought over from another system with its existing password hash (a Verdaccio
/// htpasswd's bcrypt, replaced by argon2id at the first sign-in), joining `org` with `role`.
/// It has no known address: a placeholder `<username>@imported.invalid` stands in (unverified)
/// until the user sets theirs. `None` when the username is taken (nothing changes).
pub async fn import_user(
    tx: &mut SystemTx,
    org: vextrus_db::TenantId,
    username: &Username,
    password_hash: &str,
    role: RoleKey,
    actor: Actor,
    plan_defaults: vextrus_server::PlanLimits,
) -> Result<Option<User>, IdentityError> {
    if store::credentials(tx, username.as_str()).await?.is_some() {
        return Ok(None);
    }
    crate::quota::admit_member(tx, org, None, plan_defaults).await?;
    let email = EmailAddress::parse(&format!("{}@imported.invalid", username.as_str()))
        .map_err(|_| IdentityError::EmailTaken)?;
    let display_name = DisplayName::parse(username.as_str()).map_err(|_| IdentityError::UsernameTaken)?;
    let row = NewUserRow {
        email: &email,
        username,
        phone: None,
        display_name: &display_name,
        locale: "bn-BD",
        password_hash,
    };
    let (created, roles) = join(tx, org, row, role).await?;
    let event = NewEvent::new(org, actor, "identity.user.import")
        .target(Target::new("user", created.id))
        .metadata(serde_json::json!({"username": created.username, "roles": roles}));
    vextrus_audit::record(tx, event).await?;
    Ok(Some(created))
}

/// Uses a verification token; the address it was sent to becomes verified. Users are global,
/// so the event goes to the platform's chain.
/// Verifies an email address with the code mailed to it. The verifier also gives the account's
/// password: the one it has (then nothing else changes), or a new one — then whoever holds the
/// address has claimed an account someone else may have made with it: the password is replaced
/// and every session and API key the account had ends. Answers the user and whether it was
/// claimed.
pub async fn verify_email(tx: &mut SystemTx, token: &str, password: &str) -> Result<(uuid::Uuid, bool), IdentityError> {
    let user = store::consume_verification(tx, &sha256(token)).await?.ok_or(IdentityError::InvalidToken)?;
    let stored = store::password_hash_of(tx, user).await?;
    let claimed = !crate::password::verify_async(password, stored.as_deref()).await;
    if claimed {
        let new = Password::parse(password).map_err(IdentityError::InvalidPassword)?;
        store::password_resets::set_password(tx, user, &new.hash_async().await).await?;
        store::api_keys::revoke_all_everywhere(tx, user).await?;
    }
    let actor = Actor::new(ActorKind::User, Some(user), None);
    let event = NewEvent::new(vextrus_db::TenantId::PLATFORM, actor, "identity.email.verify")
        .target(Target::new("user", user))
        .metadata(serde_json::json!({"claimed": claimed, "sessions_revoked": claimed}));
    vextrus_audit::record(tx, event).await?;
    Ok((user, claimed))
}

/// 256 random bits, base64url: what is sent; only its SHA-256 is stored.
pub(crate) fn random_token() -> String {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).expect("the OS provides randomness");
    URL_SAFE_NO_PAD.encode(bytes)
}

pub(crate) fn sha256(text: &str) -> Vec<u8> {
    ring::digest::digest(&ring::digest::SHA256, text.as_bytes()).as_ref().to_vec()
}

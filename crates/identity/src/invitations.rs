//! Invitations: an admin invites an email address with roles; the invitee gets a single-use
//! token (7 days) through the job queue; accepting it makes them a member with those roles,
//! creating their account if they have none. The token is `<organization id>.<secret>`: the
//! organization part says where to look, the secret (256 bits, stored as SHA-256) proves it.

use chrono::{Duration, Utc};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;
use vextrus_access::service::{self as access, Actor};
use vextrus_access::{Builtin, RoleKey};
use vextrus_audit::{NewEvent, Target};
use vextrus_db::{SystemTx, TenantId, TenantTx};

use crate::IdentityError;
use crate::model::{DisplayName, EmailAddress, Username};
use crate::password::Password;
use crate::service::{random_token, sha256};
use crate::store::invitations::{self as store, Invitation};
use crate::store::{self as users, NewUserRow};

pub const INVITATION_TTL: Duration = Duration::days(7);

#[derive(Debug)]
pub struct NewInvitation {
    pub email: EmailAddress,
    pub roles: Vec<RoleKey>,
}

/// Invites `new.email`; a pending invitation to the same address is replaced (so a lost mail
/// can be sent again). The token goes only into the mail.
pub async fn invite(
    tx: &mut TenantTx,
    actor: Actor<'_>,
    inviter: Option<Uuid>,
    org: (&str, &str),
    new: NewInvitation,
    limits: &vextrus_server::Limits,
) -> Result<Invitation, IdentityError> {
    let tenant = tx.tenant();
    let (org_name, org_slug) = org;
    access::check_assignable(tx, tenant, &new.roles, actor).await?;
    // An organization nobody has vouched for by verifying an owner's address is a stranger's
    // mail cannon until then: it may send only a few invitations.
    vextrus_db::limits::lock_count(tx, &format!("invitations:{tenant}")).await?;
    let (sent, pending) = store::counts(tx, tenant).await?;
    if pending >= i64::from(limits.pending_invitations_per_org) {
        return Err(IdentityError::LimitReached(
            "pending invitations",
            limits.pending_invitations_per_org,
            "limits.pending_invitations_per_org",
        ));
    }
    if sent >= i64::from(limits.invitations_before_verified) {
        let owners = access::owners_of(tx, tenant).await?;
        if !users::any_verified(tx, &owners).await? {
            return Err(IdentityError::OrgUnverified(limits.invitations_before_verified));
        }
    }
    // The plan's members: refused now rather than when the invitee accepts (checked again then).
    crate::quota::admit_member(tx, tenant, None, limits.plan).await?;
    if crate::store::members::find_by_email(tx, tenant, new.email.as_str()).await?.is_some() {
        return Err(IdentityError::AlreadyMember);
    }
    store::revoke_pending_for(tx, tenant, new.email.as_str()).await?;
    let secret = random_token();
    let roles: Vec<String> = new.roles.iter().map(|r| r.as_str().to_owned()).collect();
    let expires_at = Utc::now() + INVITATION_TTL;
    let invitation =
        store::insert(tx, tenant, new.email.as_str(), &roles, &sha256(&secret), inviter, expires_at).await?;
    let event = NewEvent::new(tenant, actor.audit(), "identity.invitation.create")
        .target(Target::new("invitation", invitation.id))
        .metadata(serde_json::json!({"email": invitation.email, "roles": roles, "expires_at": expires_at}));
    vextrus_audit::record(tx, event).await?;
    // In the organization's language: the invitee has no account (and no language) yet.
    let locale = vextrus_tenancy::service::current(tx).await.map(|o| o.settings.locale).unwrap_or_default();
    let data = serde_json::json!({
        "organization": crate::jobs::quoted(org_name),
        "slug": org_slug,
        "token": format!("{}.{secret}", tenant.as_uuid().simple()),
    });
    vextrus_notify::queue(tx, &crate::templates::INVITATION, new.email.as_str(), locale, data).await?;
    Ok(invitation)
}

pub async fn list(tx: &mut TenantTx) -> Result<Vec<Invitation>, IdentityError> {
    let tenant = tx.tenant();
    Ok(store::list(tx, tenant).await?)
}

/// Revokes a pending invitation. One that exists but is no longer pending is a 409 so the
/// caller learns it was accepted (or had been revoked) meanwhile.
pub async fn revoke(tx: &mut TenantTx, actor: Actor<'_>, id: Uuid) -> Result<Invitation, IdentityError> {
    let tenant = tx.tenant();
    match store::revoke(tx, tenant, id).await? {
        Some(invitation) => {
            let event = NewEvent::new(tenant, actor.audit(), "identity.invitation.revoke")
                .target(Target::new("invitation", invitation.id))
                .metadata(serde_json::json!({"email": invitation.email}));
            vextrus_audit::record(tx, event).await?;
            Ok(invitation)
        }
        None if store::exists(tx, tenant, id).await? => Err(IdentityError::InvitationNotPending),
        None => Err(IdentityError::InvitationNotFound),
    }
}

/// Account details for an invitee who has no account yet.
#[derive(Debug)]
pub struct NewAccount {
    pub username: Username,
    pub display_name: DisplayName,
    pub password: Password,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Accepted {
    #[schema(value_type = uuid::Uuid)]
    pub organization_id: TenantId,
    pub user_id: Uuid,
    pub roles: Vec<String>,
    /// An account was created for the invitee.
    pub account_created: bool,
}

/// Accepts an invitation by its token. Having the token proves control of the address, so the
/// new account's email counts as verified. An existing account whose address nobody ever proved
/// is not simply joined — whoever made it may not own the address (a stranger can sign up with
/// anyone's): the invitee proves it now, so the account becomes theirs with the credentials they
/// give, and everything issued to the earlier holder (sessions, API keys) is revoked.
pub async fn accept(
    tx: &mut SystemTx,
    token: &str,
    account: Option<NewAccount>,
    plan_defaults: vextrus_server::PlanLimits,
) -> Result<Accepted, IdentityError> {
    let (tenant, secret) = token.split_once('.').ok_or(IdentityError::InvitationInvalid)?;
    let tenant = TenantId::from_uuid(Uuid::parse_str(tenant).map_err(|_| IdentityError::InvitationInvalid)?);
    let claimed = store::claim(tx, tenant, &sha256(secret)).await?.ok_or(IdentityError::InvitationInvalid)?;
    let email = EmailAddress::parse(&claimed.email).map_err(|_| IdentityError::InvitationInvalid)?;
    let (user, account_created) = match users::credentials(tx, email.as_str()).await? {
        Some(existing) if users::any_verified(tx, &[existing.id]).await? => (existing.id, false),
        Some(unproven) => {
            let account = account.ok_or(IdentityError::AccountUnproven)?;
            let hash = account.password.hash_async().await;
            // Resets the password and ends every session, as a password reset does.
            crate::store::password_resets::set_password(tx, unproven.id, &hash).await?;
            crate::store::api_keys::revoke_all_everywhere(tx, unproven.id).await?;
            users::mark_email_verified(tx, unproven.id).await?;
            let actor = vextrus_audit::Actor::new(vextrus_audit::ActorKind::User, Some(unproven.id), None);
            let event = NewEvent::new(TenantId::PLATFORM, actor, "authn_account_claimed")
                .target(Target::new("user", unproven.id))
                .metadata(
                    serde_json::json!({"proof": "invitation", "sessions_revoked": true, "api_keys_revoked": true}),
                );
            vextrus_audit::record(tx, event).await?;
            (unproven.id, false)
        }
        None => {
            let account = account.ok_or(IdentityError::AccountRequired)?;
            let hash = account.password.hash_async().await;
            let row = NewUserRow {
                email: &email,
                username: &account.username,
                phone: None,
                display_name: &account.display_name,
                locale: "bn-BD",
                password_hash: &hash,
            };
            let created = crate::service::create_user(tx, row).await?;
            users::mark_email_verified(tx, created.id).await?;
            (created.id, true)
        }
    };
    crate::quota::admit_member(tx, tenant, Some(user), plan_defaults).await?;
    users::insert_membership(tx, tenant, user).await?;
    let asked: Vec<RoleKey> = claimed.roles.iter().filter_map(|r| RoleKey::parse(r).ok()).collect();
    // A custom role deleted since the invitation was sent is not granted; if nothing is left,
    // the least privilege there is.
    let mut roles = access::existing(tx, tenant, &asked).await?;
    if roles.is_empty() {
        roles.push(RoleKey::parse(Builtin::Viewer.as_str()).map_err(|_| IdentityError::InvitationInvalid)?);
    }
    // Roles the member already holds are kept; the invitation adds to them.
    let mut held: Vec<RoleKey> =
        access::roles_of(tx, tenant, user).await?.iter().filter_map(|r| RoleKey::parse(r).ok()).collect();
    held.extend(roles);
    let roles = access::assign(tx, tenant, user, &held, Actor::Platform).await?;
    store::mark_accepted(tx, tenant, claimed.id, user).await?;
    let actor = vextrus_audit::Actor::new(vextrus_audit::ActorKind::User, Some(user), None);
    let event = NewEvent::new(tenant, actor, "identity.invitation.accept")
        .target(Target::new("invitation", claimed.id))
        .metadata(serde_json::json!({"email": claimed.email, "roles": roles, "account_created": account_created}));
    vextrus_audit::record(tx, event).await?;
    Ok(Accepted { organization_id: tenant, user_id: user, roles, account_created })
}

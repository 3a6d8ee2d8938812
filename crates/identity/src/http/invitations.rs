//! `/v1/invitations`: invite people by email; accept an invitation.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use vextrus_access::Permitted;
use vextrus_access::service::Actor;
use vextrus_db::Database;
use vextrus_server::{ApiError, Json, Problem};
use vextrus_tenancy::service as tenancy;

use super::members::role_keys;
use super::{field, path_id, signed_in_user};
use crate::invitations::{self, Accepted, NewAccount, NewInvitation};
use crate::model::{DisplayName, EmailAddress, Username};
use crate::password::Password;
use crate::permissions::InvitationsManage;
use crate::store::invitations::Invitation;

#[derive(Debug, Serialize, ToSchema)]
pub struct InvitationList {
    /// Newest first (at most 500).
    pub items: Vec<Invitation>,
}

/// The organization's invitations.
#[utoipa::path(get, path = "/v1/invitations", tag = "members", security(("bearer" = [])),
    responses(
        (status = 200, body = InvitationList),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`permission_denied`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn list_invitations(
    permitted: Permitted<InvitationsManage>,
    State(db): State<Database>,
) -> Result<axum::Json<InvitationList>, ApiError> {
    let mut tx = db.tenant(permitted.tenant()?).await?;
    let items = invitations::list(&mut tx).await?;
    tx.commit().await?;
    Ok(axum::Json(InvitationList { items }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateInvitation {
    pub email: String,
    /// Roles the invitee gets on accepting; only owners may invite owners.
    pub roles: Vec<String>,
}

/// Invite someone by email. The single-use token (valid 7 days) goes only into the mail; a new
/// invitation to the same address replaces a pending one.
#[utoipa::path(post, path = "/v1/invitations", tag = "members", security(("bearer" = [])),
    request_body = CreateInvitation,
    responses(
        (status = 201, body = Invitation),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`permission_denied`, `owner_only`, `permission_not_held`, `org_unverified`", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`already_member`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`invalid_field`, `limit_reached`", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "`too_many_mails` to this address; see `Retry-After`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn create_invitation(
    permitted: Permitted<InvitationsManage>,
    State(db): State<Database>,
    State(access): State<vextrus_access::Access>,
    State(limits): State<vextrus_server::Limits>,
    Json(body): Json<CreateInvitation>,
) -> Result<(StatusCode, axum::Json<Invitation>), ApiError> {
    let new = NewInvitation {
        email: EmailAddress::parse(&body.email).map_err(field("email"))?,
        roles: role_keys(&body.roles)?,
    };
    if new.roles.is_empty() {
        return Err(ApiError::invalid_field("roles", "must name at least one role"));
    }
    let inviter = signed_in_user(permitted.subject()).ok().map(|(user, _)| user);
    // One address receives only so many invitations an hour, from everyone together.
    let key = format!("mail:{}", new.email.as_str());
    super::rate(&db, &key, limits.mails_per_recipient_per_hour, "too_many_mails").await?;
    let mut tx = db.tenant(permitted.tenant()?).await?;
    let org = tenancy::current(&mut tx).await?;
    let actor = Actor::Subject(permitted.subject(), &access);
    let names = (org.name.as_str(), org.slug.as_str());
    let invitation = invitations::invite(&mut tx, actor, inviter, names, new, &limits).await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, axum::Json(invitation)))
}

/// Revoke a pending invitation.
#[utoipa::path(delete, path = "/v1/invitations/{id}", tag = "members", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "Invitation id")),
    responses(
        (status = 200, body = Invitation),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`permission_denied`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`invitation_not_found`", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`invitation_not_pending`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn revoke_invitation(
    permitted: Permitted<InvitationsManage>,
    State(db): State<Database>,
    State(access): State<vextrus_access::Access>,
    Path(id): Path<String>,
) -> Result<axum::Json<Invitation>, ApiError> {
    let id = path_id(&id, "invitation_not_found", "invitation")?;
    let mut tx = db.tenant(permitted.tenant()?).await?;
    let revoked = invitations::revoke(&mut tx, Actor::Subject(permitted.subject(), &access), id).await?;
    tx.commit().await?;
    Ok(axum::Json(revoked))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewAccountInput {
    pub username: String,
    pub password: String,
    pub name: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AcceptInvitation {
    /// The code from the invitation mail.
    pub token: String,
    /// Needed only when no account has the invited address yet.
    pub user: Option<NewAccountInput>,
}

/// Accept an invitation (no sign-in needed: the token proves the address). Creates the account
/// when the address has none, then the membership with the invited roles.
#[utoipa::path(post, path = "/v1/invitations/accept", tag = "members",
    request_body = AcceptInvitation,
    responses(
        (status = 200, body = Accepted),
        (status = 404, description = "`invitation_invalid`: unknown, used, revoked or expired", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`username_taken`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`invalid_field`, `weak_password`, `limit_reached` (the plan's members)", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn accept_invitation(
    State(db): State<Database>,
    State(limits): State<vextrus_server::Limits>,
    Json(body): Json<AcceptInvitation>,
) -> Result<axum::Json<Accepted>, ApiError> {
    let account = body
        .user
        .map(|u| -> Result<NewAccount, ApiError> {
            Ok(NewAccount {
                username: Username::parse(&u.username).map_err(field("user.username"))?,
                display_name: DisplayName::parse(&u.name).map_err(field("user.name"))?,
                password: Password::parse(&u.password).map_err(field("user.password"))?,
            })
        })
        .transpose()?;
    let mut tx = db.system().await?;
    let accepted = invitations::accept(&mut tx, body.token.trim(), account, limits.plan).await?;
    tx.commit().await?;
    Ok(axum::Json(accepted))
}

//! An organization's members: list, change roles, remove. Runs in the organization's tenant
//! transaction, so another organization's members are not even visible.

use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;
use vextrus_access::RoleKey;
use vextrus_access::service::{self as access, Actor};
use vextrus_audit::{NewEvent, Target};
use vextrus_db::TenantTx;

use crate::IdentityError;
use crate::store::members::{self as store, MemberRow};

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Member {
    pub user_id: Uuid,
    pub username: String,
    pub email: String,
    pub display_name: String,
    /// The account's status (`active` or `disabled`).
    pub status: String,
    pub joined_at: chrono::DateTime<chrono::Utc>,
    pub last_used_at: Option<chrono::DateTime<chrono::Utc>>,
    pub roles: Vec<String>,
}

impl Member {
    fn new(row: MemberRow, roles: Vec<String>) -> Self {
        Member {
            user_id: row.user_id,
            username: row.username,
            email: row.email,
            display_name: row.display_name,
            status: row.status,
            joined_at: row.joined_at,
            last_used_at: row.last_used_at,
            roles,
        }
    }
}

/// A page of members in id order, and the cursor of the next page if there is one.
pub async fn list(
    tx: &mut TenantTx,
    after: Option<Uuid>,
    limit: u32,
) -> Result<(Vec<Member>, Option<Uuid>), IdentityError> {
    let tenant = tx.tenant();
    let mut rows = store::list(tx, tenant, after, i64::from(limit) + 1).await?;
    let next = vextrus_db::next_page(&mut rows, limit, |m| m.user_id);
    let ids: Vec<Uuid> = rows.iter().map(|m| m.user_id).collect();
    let mut roles = access::roles_of_many(tx, tenant, &ids).await?;
    let members = rows.into_iter().map(|r| {
        let held = roles.remove(&r.user_id).unwrap_or_default();
        Member::new(r, held)
    });
    Ok((members.collect(), next))
}

pub async fn get(tx: &mut TenantTx, user: Uuid) -> Result<Member, IdentityError> {
    let tenant = tx.tenant();
    let row = store::find(tx, tenant, user).await?.ok_or(IdentityError::MemberNotFound)?;
    let roles = access::roles_of(tx, tenant, user).await?;
    Ok(Member::new(row, roles))
}

/// Replaces a member's roles. Takes effect in the member's next token.
pub async fn set_roles(
    tx: &mut TenantTx,
    actor: Actor<'_>,
    user: Uuid,
    roles: &[RoleKey],
) -> Result<Member, IdentityError> {
    let tenant = tx.tenant();
    let row = store::find(tx, tenant, user).await?.ok_or(IdentityError::MemberNotFound)?;
    let before = access::roles_of(tx, tenant, user).await?;
    let roles = access::assign(tx, tenant, user, roles, actor).await?;
    let event = NewEvent::new(tenant, actor.audit(), "identity.member.roles_change")
        .target(Target::new("user", user))
        .changes(serde_json::json!({"roles": {"before": before, "after": roles}}));
    vextrus_audit::record(tx, event).await?;
    Ok(Member::new(row, roles))
}

/// Removes a member: their roles, their membership, their API keys in this organization and the
/// service accounts they created (disabled). Everything they hold stops at once: access tokens
/// already issued are checked against the current standing on every request.
/// Answers the service accounts disabled.
pub async fn remove(tx: &mut TenantTx, actor: Actor<'_>, user: Uuid) -> Result<Vec<Uuid>, IdentityError> {
    let tenant = tx.tenant();
    if store::find(tx, tenant, user).await?.is_none() {
        return Err(IdentityError::MemberNotFound);
    }
    let roles = access::roles_of(tx, tenant, user).await?;
    access::unassign_all(tx, tenant, user, actor).await?;
    store::delete(tx, tenant, user).await?;
    crate::api_keys::revoke_all(tx, tenant, user).await?;
    let event = NewEvent::new(tenant, actor.audit(), "identity.member.remove")
        .target(Target::new("user", user))
        .changes(serde_json::json!({"roles": {"before": roles, "after": []}}));
    vextrus_audit::record(tx, event).await?;
    crate::service_accounts::disable_created_by(tx, actor, user).await
}

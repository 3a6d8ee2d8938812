//! Service accounts: an organization's non-human members (integrations, business modules'
//! back-ends). They sign in with `grant_type=client_credentials` and hold roles like members.
//! The client secret (256 bits) is shown once, on creation, and kept as its SHA-256.

use serde::Serialize;
use serde_json::json;
use utoipa::ToSchema;
use uuid::Uuid;
use vextrus_access::RoleKey;
use vextrus_access::service::{self as access, Actor};
use vextrus_audit::{NewEvent, Target};
use vextrus_db::TenantTx;

use crate::IdentityError;
use crate::service::{random_token, sha256};
use crate::store::service_accounts::{self as store, NewAccountRow, ServiceAccount};

#[derive(Debug, Serialize, ToSchema)]
pub struct ServiceAccountView {
    #[serde(flatten)]
    pub account: ServiceAccount,
    pub roles: Vec<String>,
}

#[derive(Debug)]
pub struct NewServiceAccount {
    pub name: String,
    pub description: String,
    pub roles: Vec<RoleKey>,
}

/// A created account and its client secret, which is never shown again.
#[derive(Debug, Serialize, ToSchema)]
pub struct Created {
    #[serde(flatten)]
    pub account: ServiceAccountView,
    pub client_secret: String,
}

/// Creates a service account; an organization holds at most `max` (`limits.service_accounts_per_org`).
pub async fn create(
    tx: &mut TenantTx,
    actor: Actor<'_>,
    created_by: Option<Uuid>,
    new: NewServiceAccount,
    max: u32,
) -> Result<Created, IdentityError> {
    let tenant = tx.tenant();
    vextrus_db::limits::lock_count(tx, &format!("service_accounts:{tenant}")).await?;
    if store::list(tx, tenant).await?.len() >= max as usize {
        return Err(IdentityError::LimitReached("service accounts", max, "limits.service_accounts_per_org"));
    }
    let mut id_bytes = [0u8; 10];
    getrandom::fill(&mut id_bytes).expect("the OS provides randomness");
    let client_id = format!("sa_{}", id_bytes.iter().map(|b| format!("{b:02x}")).collect::<String>());
    let client_secret = random_token();
    let row = NewAccountRow {
        client_id: &client_id,
        secret_hash: &sha256(&client_secret),
        name: &new.name,
        description: &new.description,
        created_by,
    };
    let account = store::insert(tx, tenant, row).await?;
    let roles = access::assign(tx, tenant, account.id, &new.roles, actor).await?;
    record(tx, actor, "identity.service_account.create", account.id, json!({"name": account.name, "roles": roles}))
        .await?;
    Ok(Created { account: ServiceAccountView { account, roles }, client_secret })
}

pub async fn list(tx: &mut TenantTx) -> Result<Vec<ServiceAccountView>, IdentityError> {
    let tenant = tx.tenant();
    let accounts = store::list(tx, tenant).await?;
    let ids: Vec<Uuid> = accounts.iter().map(|a| a.id).collect();
    let mut roles = access::roles_of_many(tx, tenant, &ids).await?;
    Ok(accounts
        .into_iter()
        .map(|account| ServiceAccountView { roles: roles.remove(&account.id).unwrap_or_default(), account })
        .collect())
}

pub async fn get(tx: &mut TenantTx, id: Uuid) -> Result<ServiceAccountView, IdentityError> {
    let tenant = tx.tenant();
    let account = store::find(tx, tenant, id).await?.ok_or(IdentityError::ServiceAccountNotFound)?;
    let roles = access::roles_of(tx, tenant, id).await?;
    Ok(ServiceAccountView { account, roles })
}

#[derive(Debug, Default)]
pub struct AccountChange {
    pub name: Option<String>,
    pub description: Option<String>,
    /// `active` or `disabled`: a disabled account gets no new tokens and its API keys stop working.
    pub active: Option<bool>,
    pub roles: Option<Vec<RoleKey>>,
}

pub async fn update(
    tx: &mut TenantTx,
    actor: Actor<'_>,
    id: Uuid,
    change: AccountChange,
) -> Result<ServiceAccountView, IdentityError> {
    let tenant = tx.tenant();
    let status = change.active.map(|a| if a { "active" } else { "disabled" });
    let before = get(tx, id).await?;
    store::update(tx, tenant, id, change.name.as_deref(), change.description.as_deref(), status)
        .await?
        .ok_or(IdentityError::ServiceAccountNotFound)?;
    if let Some(roles) = &change.roles {
        access::assign(tx, tenant, id, roles, actor).await?;
    }
    if change.active.is_some() {
        // Tokens already issued to a disabled account stop at once.
        access::announce_standing(tx, tenant, id).await?;
    }
    let after = get(tx, id).await?;
    let changes = vextrus_audit::changes(&view_json(&before), &view_json(&after), &["last_used_at"]);
    record(tx, actor, "identity.service_account.update", id, changes).await?;
    Ok(after)
}

/// Disables the service accounts `creator` created (a member who leaves takes no machine
/// credentials along): their tokens stop at once and their API keys are revoked. Each is an
/// audited change; answers their ids. An admin may enable them again.
pub async fn disable_created_by(
    tx: &mut TenantTx,
    actor: Actor<'_>,
    creator: Uuid,
) -> Result<Vec<Uuid>, IdentityError> {
    let tenant = tx.tenant();
    let disabled = store::disable_created_by(tx, tenant, creator).await?;
    for id in &disabled {
        crate::api_keys::revoke_all(tx, tenant, *id).await?;
        access::announce_standing(tx, tenant, *id).await?;
        let changes = json!({"status": {"before": "active", "after": "disabled"}, "reason": "creator_removed"});
        record(tx, actor, "identity.service_account.update", *id, changes).await?;
    }
    Ok(disabled)
}

/// Deletes the account, its roles and its API keys.
pub async fn delete(tx: &mut TenantTx, actor: Actor<'_>, id: Uuid) -> Result<(), IdentityError> {
    let tenant = tx.tenant();
    if store::find(tx, tenant, id).await?.is_none() {
        return Err(IdentityError::ServiceAccountNotFound);
    }
    access::unassign_all(tx, tenant, id, actor).await?;
    crate::api_keys::revoke_all(tx, tenant, id).await?;
    store::delete(tx, tenant, id).await?;
    record(tx, actor, "identity.service_account.delete", id, json!({})).await
}

fn view_json(view: &ServiceAccountView) -> serde_json::Value {
    serde_json::to_value(view).unwrap_or_default()
}

async fn record(
    tx: &mut TenantTx,
    actor: Actor<'_>,
    action: &'static str,
    id: Uuid,
    changes: serde_json::Value,
) -> Result<(), IdentityError> {
    let tenant = tx.tenant();
    let event =
        NewEvent::new(tenant, actor.audit(), action).target(Target::new("service_account", id)).changes(changes);
    vextrus_audit::record(tx, event).await?;
    Ok(())
}

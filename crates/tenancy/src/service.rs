//! Operations on organizations. Each takes the transaction it runs in; the caller commits. Every
//! change is recorded in the organization's audit chain in the same transaction.

use serde_json::json;
use vextrus_audit::{self as audit, Actor, NewEvent, Target};
use vextrus_db::{SystemTx, TenantId, TenantTx, Tx};

use crate::model::{NewOrganization, OrgRef, OrgStatus, Organization, OrganizationChange, SettingsChange};
use crate::{TenancyError, store};

/// Creates an organization; its id (UUIDv7) becomes its tenant id.
pub async fn create(tx: &mut SystemTx, new: NewOrganization, actor: Actor) -> Result<Organization, TenancyError> {
    check_settings(tx, &new.settings).await?;
    let slug = new.slug.to_string();
    let org = store::insert(tx, TenantId::new_v7(), &new).await.map_err(|e| {
        if e.is_unique_violation() && e.constraint() == Some("organizations_slug_key") {
            TenancyError::SlugTaken(slug)
        } else {
            TenancyError::from(e)
        }
    })?;
    let created = audit::changes(&json!({}), &to_json(&org), &["id", "created_at", "updated_at"]);
    let event = NewEvent::new(org.id, actor, "tenancy.organization.create").target(target(&org)).changes(created);
    audit::record(tx, event).await?;
    Ok(org)
}

fn target(org: &Organization) -> Target {
    Target::new("organization", org.id)
}

fn to_json(org: &Organization) -> serde_json::Value {
    serde_json::to_value(org).unwrap_or_default()
}

/// Finds an organization; under a `TenantTx` only the tenant's own is found.
pub async fn get(tx: &mut impl Tx, org: &OrgRef) -> Result<Organization, TenancyError> {
    store::find(tx, org).await?.ok_or_else(|| TenancyError::NotFound(org.to_string()))
}

/// The organization a tenant transaction belongs to.
pub async fn current(tx: &mut TenantTx) -> Result<Organization, TenancyError> {
    let tenant = tx.tenant();
    store::own(tx).await?.ok_or_else(|| TenancyError::NotFound(tenant.to_string()))
}

/// A page of organizations in creation order, and the cursor of the next page if there is one.
pub async fn list(
    tx: &mut SystemTx,
    after: Option<TenantId>,
    status: Option<OrgStatus>,
    limit: u32,
) -> Result<(Vec<Organization>, Option<TenantId>), TenancyError> {
    let mut page = store::list(tx, after, status, i64::from(limit) + 1).await?;
    let next = vextrus_db::next_page(&mut page, limit, |o| o.id);
    Ok((page, next))
}

pub async fn update(
    tx: &mut impl Tx,
    org: &OrgRef,
    change: OrganizationChange,
    actor: Actor,
) -> Result<Organization, TenancyError> {
    check_settings(tx, &change.settings).await?;
    let before = get(tx, org).await?;
    let after = store::update(tx, before.id, &change).await?.ok_or_else(|| TenancyError::NotFound(org.to_string()))?;
    let changed = audit::changes(&to_json(&before), &to_json(&after), &["updated_at"]);
    let event = NewEvent::new(after.id, actor, "tenancy.organization.update").target(target(&after)).changes(changed);
    audit::record(tx, event).await?;
    Ok(after)
}

/// Suspends or resumes; idempotent.
pub async fn set_status(
    tx: &mut SystemTx,
    org: &OrgRef,
    status: OrgStatus,
    actor: Actor,
) -> Result<Organization, TenancyError> {
    let before = get(tx, org).await?;
    let after =
        store::set_status(tx, before.id, status).await?.ok_or_else(|| TenancyError::NotFound(org.to_string()))?;
    let action =
        if status == OrgStatus::Suspended { "tenancy.organization.suspend" } else { "tenancy.organization.resume" };
    let changed = audit::changes(&to_json(&before), &to_json(&after), &["updated_at"]);
    audit::record(tx, NewEvent::new(after.id, actor, action).target(target(&after)).changes(changed)).await?;
    Ok(after)
}

async fn check_settings(tx: &mut impl Tx, settings: &SettingsChange) -> Result<(), TenancyError> {
    if let Some(tz) = &settings.timezone
        && !store::timezone_exists(tx, tz.as_str()).await?
    {
        return Err(TenancyError::UnknownTimezone(tz.as_str().to_owned()));
    }
    Ok(())
}

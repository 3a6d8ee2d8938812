//! Operations on organizations. Each takes the transaction it runs in; the caller commits.

use vextrus_db::{SystemTx, TenantId, TenantTx, Tx};

use crate::model::{NewOrganization, OrgRef, OrgStatus, Organization, OrganizationChange, SettingsChange};
use crate::{TenancyError, store};

/// Creates an organization; its id (UUIDv7) becomes its tenant id.
pub async fn create(tx: &mut SystemTx, new: NewOrganization) -> Result<Organization, TenancyError> {
    check_settings(tx, &new.settings).await?;
    let slug = new.slug.to_string();
    store::insert(tx, TenantId::new_v7(), &new).await.map_err(|e| {
        if e.is_unique_violation() && e.constraint() == Some("organizations_slug_key") {
            TenancyError::SlugTaken(slug)
        } else {
            e.into()
        }
    })
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
    let next = (page.len() > limit as usize).then(|| {
        page.truncate(limit as usize);
        page.last().map(|o| o.id)
    });
    Ok((page, next.flatten()))
}

pub async fn update(tx: &mut impl Tx, org: &OrgRef, change: OrganizationChange) -> Result<Organization, TenancyError> {
    check_settings(tx, &change.settings).await?;
    let id = get(tx, org).await?.id;
    store::update(tx, id, &change).await?.ok_or_else(|| TenancyError::NotFound(org.to_string()))
}

/// Suspends or resumes; idempotent.
pub async fn set_status(tx: &mut SystemTx, org: &OrgRef, status: OrgStatus) -> Result<Organization, TenancyError> {
    let id = get(tx, org).await?.id;
    store::set_status(tx, id, status).await?.ok_or_else(|| TenancyError::NotFound(org.to_string()))
}

async fn check_settings(tx: &mut impl Tx, settings: &SettingsChange) -> Result<(), TenancyError> {
    if let Some(tz) = &settings.timezone
        && !store::timezone_exists(tx, tz.as_str()).await?
    {
        return Err(TenancyError::UnknownTimezone(tz.as_str().to_owned()));
    }
    Ok(())
}

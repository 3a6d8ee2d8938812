//! The organization's plan, enforced where identity creates what it limits: members (an
//! invitation sent or accepted, a user joining by `npm adduser` or an import) and active API
//! keys (all holders together). Each check takes the organization's lock for that count, so
//! concurrent requests cannot together pass the limit, and reads the plan at that moment: an
//! operator's change applies to the next request.

use uuid::Uuid;
use vextrus_db::{TenantId, Tx};
use vextrus_server::PlanLimits;

use crate::IdentityError;

/// Whether `tenant` may have one more member (`joining`, when known, is not counted twice).
pub(crate) async fn admit_member(
    tx: &mut impl Tx,
    tenant: TenantId,
    joining: Option<Uuid>,
    defaults: PlanLimits,
) -> Result<(), IdentityError> {
    vextrus_db::limits::lock_count(tx, &format!("members:{tenant}")).await?;
    let plan = vextrus_tenancy::plans::of(tx, tenant, defaults).await?;
    let members = crate::store::members::count(tx, tenant, joining).await?;
    if members >= i64::from(plan.limits.members) {
        return Err(IdentityError::LimitReached("members", plan.limits.members, "plan.members"));
    }
    Ok(())
}

/// Whether `tenant` may have one more active API key.
pub(crate) async fn admit_api_key(
    tx: &mut impl Tx,
    tenant: TenantId,
    defaults: PlanLimits,
) -> Result<(), IdentityError> {
    vextrus_db::limits::lock_count(tx, &format!("api_keys_org:{tenant}")).await?;
    let plan = vextrus_tenancy::plans::of(tx, tenant, defaults).await?;
    if crate::store::api_keys::count_active_in_org(tx, tenant).await? >= i64::from(plan.limits.api_keys) {
        return Err(IdentityError::LimitReached("API keys", plan.limits.api_keys, "plan.api_keys"));
    }
    Ok(())
}

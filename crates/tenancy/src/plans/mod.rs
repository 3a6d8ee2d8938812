//! Plans and quotas. A plan is a named set of limits (storage, members, API keys, SMS a month)
//! that platform operators define and give organizations; an organization without one has the
//! default plan from configuration. Modules enforce the limits where things are created:
//! storage here (a reservation per upload), members and API keys in identity, SMS in notify.
//! Every change is audited: plan definitions on the platform's chain, an organization's plan
//! on its own.

mod store;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::json;
use utoipa::ToSchema;
use vextrus_audit::{self as audit, Actor, NewEvent, Target};
use vextrus_db::{DbError, SystemTx, TenantId, Tx};
pub use vextrus_server::PlanLimits;

use crate::model::OrgRef;
use crate::{TenancyError, service};

/// The name an organization without a plan of its own shows.
pub const DEFAULT_PLAN: &str = "default";

/// A plan's name: 2–40 of `a-z`, `0-9` and `-`, not starting with `-`; `default` is the
/// configuration's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanName(String);

impl PlanName {
    pub fn parse(s: &str) -> Result<Self, String> {
        let valid = (2..=40).contains(&s.len())
            && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !s.starts_with('-');
        match (valid, s) {
            (false, _) => Err("2 to 40 of a-z, 0-9 and -, not starting with -".into()),
            (true, DEFAULT_PLAN) => Err("`default` is the configuration's plan; give another name".into()),
            (true, _) => Ok(Self(s.to_owned())),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A plan an operator defined.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Plan {
    #[schema(example = "business")]
    pub name: String,
    pub limits: PlanLimits,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// An organization's plan and its limits now.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct OrgPlan {
    /// The plan's name, or `default` (the configuration's limits).
    #[schema(example = "default")]
    pub plan: String,
    pub limits: PlanLimits,
}

/// Defines or redefines a plan; answers it and whether it is new. Organizations on the plan
/// get the new limits at once (they are read at every check).
pub async fn put(
    tx: &mut SystemTx,
    name: &PlanName,
    limits: PlanLimits,
    actor: Actor,
) -> Result<(Plan, bool), TenancyError> {
    let before = store::get(tx, name.as_str()).await?;
    let plan = store::upsert(tx, name.as_str(), &limits).await?;
    let (action, old) = match &before {
        Some(b) => ("tenancy.plan.update", json!(b.limits)),
        None => ("tenancy.plan.create", json!({})),
    };
    let event = NewEvent::new(TenantId::PLATFORM, actor, action)
        .target(Target::new("plan", name.as_str()))
        .changes(audit::changes(&old, &json!(plan.limits), &[]));
    audit::record(tx, event).await?;
    Ok((plan, before.is_none()))
}

/// Every plan, by name (operators define a handful).
pub async fn list(tx: &mut SystemTx) -> Result<Vec<Plan>, TenancyError> {
    Ok(store::list(tx).await?)
}

/// Deletes a plan no organization is on.
pub async fn delete(tx: &mut SystemTx, name: &PlanName, actor: Actor) -> Result<(), TenancyError> {
    let Some(plan) = store::get(tx, name.as_str()).await? else {
        return Err(TenancyError::PlanNotFound(name.as_str().to_owned()));
    };
    store::delete(tx, name.as_str()).await.map_err(|e| {
        if e.is_foreign_key_violation() {
            TenancyError::PlanInUse(name.as_str().to_owned())
        } else {
            TenancyError::from(e)
        }
    })?;
    let event = NewEvent::new(TenantId::PLATFORM, actor, "tenancy.plan.delete")
        .target(Target::new("plan", name.as_str()))
        .changes(audit::changes(&json!(plan.limits), &json!({}), &[]));
    audit::record(tx, event).await?;
    Ok(())
}

/// Gives `org` a plan (`None`: back to the default plan); takes effect at the next check.
pub async fn assign(
    tx: &mut SystemTx,
    org: &OrgRef,
    plan: Option<&PlanName>,
    defaults: PlanLimits,
    actor: Actor,
) -> Result<OrgPlan, TenancyError> {
    let org = service::get(tx, org).await?;
    let before = of(tx, org.id, defaults).await?;
    if let Some(name) = plan
        && store::get(tx, name.as_str()).await?.is_none()
    {
        return Err(TenancyError::PlanNotFound(name.as_str().to_owned()));
    }
    store::assign(tx, org.id, plan.map(PlanName::as_str)).await?;
    let after = of(tx, org.id, defaults).await?;
    let event = NewEvent::new(org.id, actor, "tenancy.organization.plan")
        .target(Target::new("organization", org.id))
        .changes(audit::changes(&json!(before), &json!(after), &[]));
    audit::record(tx, event).await?;
    Ok(after)
}

/// `tenant`'s plan and limits now. Under a `TenantTx` an organization reads only its own.
pub async fn of(tx: &mut impl Tx, tenant: TenantId, defaults: PlanLimits) -> Result<OrgPlan, DbError> {
    Ok(match store::of(tx, tenant).await? {
        Some(plan) => OrgPlan { plan: plan.name, limits: plan.limits },
        None => OrgPlan { plan: DEFAULT_PLAN.to_owned(), limits: defaults },
    })
}

/// Storage in use and reserved by uploads in flight.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, ToSchema)]
pub struct StorageUse {
    pub used: u64,
    pub reserved: u64,
}

pub async fn storage(tx: &mut impl Tx, tenant: TenantId) -> Result<StorageUse, DbError> {
    store::storage(tx, tenant).await
}

/// Reserves `bytes` for an upload if used + reserved stays within `limit`: one conditional
/// statement, so concurrent uploads can never together pass the limit. `false`: it would.
pub async fn reserve_storage(tx: &mut impl Tx, tenant: TenantId, bytes: u64, limit: u64) -> Result<bool, DbError> {
    store::reserve(tx, tenant, bytes, limit).await
}

/// An upload that reserved `reserved` stored `stored` (at most what it reserved).
pub async fn settle_storage(tx: &mut impl Tx, tenant: TenantId, reserved: u64, stored: u64) -> Result<(), DbError> {
    store::settle(tx, tenant, reserved, stored.min(reserved)).await
}

/// Gives back a reservation (an aborted or expired upload).
pub async fn release_storage(tx: &mut impl Tx, tenant: TenantId, reserved: u64) -> Result<(), DbError> {
    store::settle(tx, tenant, reserved, 0).await
}

/// Stored bytes deleted for good (purged from the trash).
pub async fn free_storage(tx: &mut impl Tx, tenant: TenantId, bytes: u64) -> Result<(), DbError> {
    store::free(tx, tenant, bytes).await
}

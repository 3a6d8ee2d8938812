//! SQL for `tenancy.organizations`. Creating, listing and status changes take a `SystemTx`
//! (platform operators); finding and updating take any transaction, and under a `TenantTx`
//! Row-Level Security lets an organization find and update only itself.

use chrono::{DateTime, Utc};
use vextrus_db::{DbError, SystemTx, TenantId, TenantTx, Tx};

use crate::model::{
    Currency, Locale, NewOrganization, OrgName, OrgRef, OrgSlug, OrgStatus, Organization, OrganizationChange, Settings,
    Timezone,
};

/// The selected columns, as a macro so that every statement stays a `&'static str`.
macro_rules! columns {
    () => {
        "id, slug, name, status, timezone, currency, locale, created_at, updated_at"
    };
}

#[derive(Debug, sqlx::FromRow)]
struct Row {
    id: TenantId,
    slug: String,
    name: String,
    status: String,
    timezone: String,
    currency: String,
    locale: String,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl From<Row> for Organization {
    /// Stored values satisfy the table's CHECK constraints, which mirror the parsers.
    fn from(r: Row) -> Self {
        Organization {
            id: r.id,
            slug: OrgSlug(r.slug),
            name: OrgName(r.name),
            status: if r.status == "suspended" { OrgStatus::Suspended } else { OrgStatus::Active },
            settings: Settings {
                timezone: Timezone(r.timezone),
                currency: Currency(r.currency),
                locale: if r.locale == "en" { Locale::En } else { Locale::BnBd },
            },
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

pub(crate) async fn insert(tx: &mut SystemTx, id: TenantId, new: &NewOrganization) -> Result<Organization, DbError> {
    let settings = &new.settings;
    let row: Row = sqlx::query_as(concat!(
        "INSERT INTO tenancy.organizations (id, slug, name, timezone, currency, locale)
         VALUES ($1, $2, $3, COALESCE($4, 'Asia/Dhaka'), COALESCE($5, 'BDT'), COALESCE($6, 'bn-BD'))
         RETURNING ",
        columns!(),
        ""
    ))
    .bind(id)
    .bind(new.slug.as_str())
    .bind(new.name.as_str())
    .bind(settings.timezone.as_ref().map(Timezone::as_str))
    .bind(settings.currency.as_ref().map(Currency::as_str))
    .bind(settings.locale.map(Locale::as_str))
    .fetch_one(tx.conn())
    .await?;
    Ok(row.into())
}

pub(crate) async fn find(tx: &mut impl Tx, org: &OrgRef) -> Result<Option<Organization>, DbError> {
    let query = match org {
        OrgRef::Id(id) => {
            sqlx::query_as::<_, Row>(concat!("SELECT ", columns!(), " FROM tenancy.organizations WHERE id = $1"))
                .bind(*id)
        }
        OrgRef::Slug(slug) => {
            sqlx::query_as(concat!("SELECT ", columns!(), " FROM tenancy.organizations WHERE slug = $1"))
                .bind(slug.as_str())
        }
    };
    Ok(query.fetch_optional(tx.conn()).await?.map(Into::into))
}

/// The organization of the tenant transaction; Row-Level Security hides every other one.
pub(crate) async fn own(tx: &mut TenantTx) -> Result<Option<Organization>, DbError> {
    let row: Option<Row> =
        sqlx::query_as(concat!("SELECT ", columns!(), " FROM tenancy.organizations")).fetch_optional(tx.conn()).await?;
    Ok(row.map(Into::into))
}

/// Keyset page in id (creation) order.
pub(crate) async fn list(
    tx: &mut SystemTx,
    after: Option<TenantId>,
    status: Option<OrgStatus>,
    limit: i64,
) -> Result<Vec<Organization>, DbError> {
    let rows: Vec<Row> = sqlx::query_as(concat!(
        "SELECT ",
        columns!(),
        " FROM tenancy.organizations
          WHERE ($1::uuid IS NULL OR id > $1) AND ($2::text IS NULL OR status = $2)
          ORDER BY id LIMIT $3"
    ))
    .bind(after)
    .bind(status.map(status_str))
    .bind(limit)
    .fetch_all(tx.conn())
    .await?;
    Ok(rows.into_iter().map(Into::into).collect())
}

pub(crate) async fn update(
    tx: &mut impl Tx,
    id: TenantId,
    change: &OrganizationChange,
) -> Result<Option<Organization>, DbError> {
    let s = &change.settings;
    let row: Option<Row> = sqlx::query_as(concat!(
        "UPDATE tenancy.organizations
            SET name = COALESCE($2, name), timezone = COALESCE($3, timezone),
                currency = COALESCE($4, currency), locale = COALESCE($5, locale), updated_at = now()
          WHERE id = $1
          RETURNING ",
        columns!(),
        ""
    ))
    .bind(id)
    .bind(change.name.as_ref().map(OrgName::as_str))
    .bind(s.timezone.as_ref().map(Timezone::as_str))
    .bind(s.currency.as_ref().map(Currency::as_str))
    .bind(s.locale.map(Locale::as_str))
    .fetch_optional(tx.conn())
    .await?;
    Ok(row.map(Into::into))
}

/// Sets the status; a no-op (and no `updated_at` change) when it already has it.
pub(crate) async fn set_status(
    tx: &mut SystemTx,
    id: TenantId,
    status: OrgStatus,
) -> Result<Option<Organization>, DbError> {
    // Delivered at commit: caches of organization status (forward-auth) reload.
    sqlx::query("SELECT pg_notify($1, $2)").bind(crate::STATUS_CHANNEL).bind(id.to_string()).execute(tx.conn()).await?;
    let row: Option<Row> = sqlx::query_as(concat!(
        "UPDATE tenancy.organizations
            SET status = $2,
                suspended_at = CASE WHEN $2 = 'suspended' THEN COALESCE(suspended_at, now()) END,
                updated_at = CASE WHEN status = $2 THEN updated_at ELSE now() END
          WHERE id = $1
          RETURNING ",
        columns!(),
        ""
    ))
    .bind(id)
    .bind(status_str(status))
    .fetch_optional(tx.conn())
    .await?;
    Ok(row.map(Into::into))
}

pub(crate) async fn timezone_exists(tx: &mut impl Tx, name: &str) -> Result<bool, DbError> {
    Ok(sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_timezone_names WHERE name = $1)")
        .bind(name)
        .fetch_one(tx.conn())
        .await?)
}

fn status_str(status: OrgStatus) -> &'static str {
    match status {
        OrgStatus::Active => "active",
        OrgStatus::Suspended => "suspended",
    }
}

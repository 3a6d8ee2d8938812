//! npm scopes: an organization owns `@<its slug>` from creation and may claim more
//! (`POST /v1/registry/scopes`), one owner per scope. A scope someone claimed is theirs even if
//! an organization has that slug. Locally owned scopes are what the registry serves and accepts
//! publishes into; nothing in them is ever looked up anywhere else.

use axum::extract::{Path, State};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use vextrus_access::Permitted;
use vextrus_audit::{NewEvent, Target};
use vextrus_db::{Database, DbError, TenantId, TenantTx, Tx};
use vextrus_server::{ApiError, Json, Problem};

use crate::{PackagesRead, ScopesManage};

/// Whether `tenant` owns `scope`: it claimed it, or it is its slug and nobody claimed it.
pub(crate) async fn owns(tx: &mut TenantTx, tenant: TenantId, scope: &str) -> Result<bool, DbError> {
    let claimant: Option<TenantId> =
        sqlx::query_scalar("SELECT registry.scope_claimant($1)").bind(scope).fetch_one(tx.conn()).await?;
    if let Some(claimant) = claimant {
        return Ok(claimant == tenant);
    }
    match vextrus_tenancy::service::current(tx).await {
        Ok(org) => Ok(org.slug.as_str() == scope),
        Err(vextrus_tenancy::TenancyError::Db(e)) => Err(e),
        Err(_) => Ok(false),
    }
}

/// The organization that owns an unscoped name (`left-pad`): the one that published it.
pub(crate) async fn unscoped_owner(tx: &mut impl Tx, name: &str) -> Result<Option<TenantId>, DbError> {
    Ok(sqlx::query_scalar("SELECT registry.unscoped_owner($1)").bind(name).fetch_one(tx.conn()).await?)
}

/// The organization that owns `scope`, found from the scope alone (for reading a package that
/// is visible beyond its organization).
pub(crate) async fn owner_of(db: &Database, scope: &str) -> Result<Option<TenantId>, DbError> {
    let mut tx = db.system().await?;
    let claimant: Option<TenantId> =
        sqlx::query_scalar("SELECT registry.scope_claimant($1)").bind(scope).fetch_one(tx.conn()).await?;
    let owner = match (claimant, vextrus_tenancy::OrgSlug::parse(scope)) {
        (Some(claimant), _) => Some(claimant),
        (None, Ok(slug)) => {
            match vextrus_tenancy::service::get(&mut tx, &vextrus_tenancy::model::OrgRef::Slug(slug)).await {
                Ok(org) => Some(org.id),
                Err(vextrus_tenancy::TenancyError::Db(e)) => return Err(e),
                Err(_) => None,
            }
        }
        (None, Err(_)) => None,
    };
    tx.commit().await?;
    Ok(owner)
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ScopeInfo {
    /// Without the `@`.
    pub scope: String,
    /// `organization` (its slug) or `claimed`.
    pub source: &'static str,
    pub created_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ScopeList {
    pub items: Vec<ScopeInfo>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClaimScope {
    /// The scope, with or without its `@` (`vextrus` or `@vextrus`).
    pub scope: String,
}

/// The npm scopes the organization publishes into.
#[utoipa::path(get, path = "/v1/registry/scopes", tag = "registry", security(("bearer" = [])),
    responses(
        (status = 200, body = ScopeList),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`permission_denied`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn list_scopes(
    permitted: Permitted<PackagesRead>,
    State(db): State<Database>,
) -> Result<axum::Json<ScopeList>, ApiError> {
    let tenant = permitted.tenant()?;
    let mut tx = db.tenant(tenant).await?;
    let org = vextrus_tenancy::service::current(&mut tx).await.map_err(ApiError::internal)?;
    let claimed: Vec<(String, DateTime<Utc>)> =
        sqlx::query_as("SELECT scope, created_at FROM registry.scopes WHERE tenant_id = $1 ORDER BY scope")
            .bind(tenant)
            .fetch_all(tx.conn())
            .await
            .map_err(DbError::from)?;
    let own = owns(&mut tx, tenant, org.slug.as_str()).await?;
    tx.commit().await?;
    let mut items: Vec<ScopeInfo> = Vec::new();
    if own && !claimed.iter().any(|(s, _)| s == org.slug.as_str()) {
        items.push(ScopeInfo { scope: org.slug.to_string(), source: "organization", created_at: Some(org.created_at) });
    }
    items.extend(claimed.into_iter().map(|(scope, at)| ScopeInfo { scope, source: "claimed", created_at: Some(at) }));
    Ok(axum::Json(ScopeList { items }))
}

/// Claim an npm scope for the organization (one owner per scope; not another organization's slug).
#[utoipa::path(post, path = "/v1/registry/scopes", tag = "registry", security(("bearer" = [])),
    request_body = ClaimScope,
    responses(
        (status = 201, body = ScopeInfo),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`permission_denied`", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`scope_taken`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`invalid_field`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn claim_scope(
    permitted: Permitted<ScopesManage>,
    State(db): State<Database>,
    Json(body): Json<ClaimScope>,
) -> Result<(axum::http::StatusCode, axum::Json<ScopeInfo>), ApiError> {
    let tenant = permitted.tenant()?;
    let scope = body.scope.trim().trim_start_matches('@').to_owned();
    crate::model::PackageName::parse(&format!("@{scope}/x"))
        .map_err(|e| ApiError::invalid_field("scope", e.replace("scope", "scope name")))?;
    let created_at = match claim(&db, tenant, &scope, permitted.subject().into()).await {
        Ok(at) => at,
        Err(ClaimError::Taken) => {
            return Err(ApiError::conflict("scope_taken", format!("@{scope} belongs to another organization")));
        }
        Err(ClaimError::AlreadyYours) => {
            return Err(ApiError::conflict("scope_taken", format!("@{scope} is already yours")));
        }
        Err(ClaimError::Db(e)) => return Err(e.into()),
    };
    Ok((
        axum::http::StatusCode::CREATED,
        axum::Json(ScopeInfo { scope, source: "claimed", created_at: Some(created_at) }),
    ))
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum ClaimError {
    #[error("the scope belongs to another organization")]
    Taken,
    #[error("the scope is already the organization's")]
    AlreadyYours,
    #[error(transparent)]
    Db(#[from] DbError),
}

/// Claims `scope` (without `@`, already checked) for `tenant`, recorded in its audit trail.
pub(crate) async fn claim(
    db: &Database,
    tenant: TenantId,
    scope: &str,
    actor: vextrus_audit::Actor,
) -> Result<DateTime<Utc>, ClaimError> {
    // Another organization's slug (or claim) is its scope already.
    let slug_owner = owner_of(db, scope).await?;
    if slug_owner.is_some_and(|o| o != tenant) {
        return Err(ClaimError::Taken);
    }
    let mut tx = db.tenant(tenant).await?;
    let inserted: Result<Option<DateTime<Utc>>, DbError> = sqlx::query_scalar(
        "INSERT INTO registry.scopes (tenant_id, scope) VALUES ($1, $2) ON CONFLICT (tenant_id, scope) DO NOTHING
         RETURNING created_at",
    )
    .bind(tenant)
    .bind(scope)
    .fetch_optional(tx.conn())
    .await
    .map_err(DbError::from);
    let created_at = match inserted {
        Ok(Some(at)) => at,
        Ok(None) => return Err(ClaimError::AlreadyYours),
        Err(e) if e.is_unique_violation() => return Err(ClaimError::Taken),
        Err(e) => return Err(e.into()),
    };
    let event =
        NewEvent::new(tenant, actor, "registry.scope.claim").target(Target::new("npm_scope", format!("@{scope}")));
    vextrus_audit::record(&mut tx, event).await?;
    crate::cache::announce_owner(&mut tx, &format!("@{scope}")).await?;
    tx.commit().await?;
    Ok(created_at)
}

/// Release a claimed scope; refused while the organization has packages in it.
#[utoipa::path(delete, path = "/v1/registry/scopes/{scope}", tag = "registry", security(("bearer" = [])),
    params(("scope" = String, Path, description = "The scope, without `@`")),
    responses(
        (status = 204, description = "Released"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`permission_denied`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`scope_not_found`", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`scope_in_use`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn release_scope(
    permitted: Permitted<ScopesManage>,
    State(db): State<Database>,
    Path(scope): Path<String>,
) -> Result<axum::http::StatusCode, ApiError> {
    let tenant = permitted.tenant()?;
    let scope = scope.trim_start_matches('@').to_owned();
    let mut tx = db.tenant(tenant).await?;
    let in_use: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM registry.packages WHERE tenant_id = $1 AND starts_with(name, '@' || $2 || '/'))",
    )
    .bind(tenant)
    .bind(&scope)
    .fetch_one(tx.conn())
    .await
    .map_err(DbError::from)?;
    let removed = sqlx::query("DELETE FROM registry.scopes WHERE tenant_id = $1 AND scope = $2")
        .bind(tenant)
        .bind(&scope)
        .execute(tx.conn())
        .await
        .map_err(DbError::from)?
        .rows_affected();
    if removed == 0 {
        return Err(ApiError::not_found(
            "scope_not_found",
            format!("@{scope} is not a scope this organization claimed"),
        ));
    }
    if in_use {
        return Err(ApiError::conflict("scope_in_use", format!("@{scope} still has packages; unpublish them first")));
    }
    let event = NewEvent::new(tenant, permitted.subject().into(), "registry.scope.release")
        .target(Target::new("npm_scope", format!("@{scope}")));
    vextrus_audit::record(&mut tx, event).await?;
    crate::cache::announce_owner(&mut tx, &format!("@{scope}")).await?;
    tx.commit().await?;
    Ok(axum::http::StatusCode::NO_CONTENT)
}

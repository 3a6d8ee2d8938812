//! `/v1/service-accounts`: the organization's service accounts and their API keys.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;
use vextrus_access::service::Actor;
use vextrus_access::{Access, Permitted};
use vextrus_db::{Database, TenantTx};
use vextrus_server::{ApiError, Json, Problem, bounded_text};

use super::api_keys::{ApiKeyList, CreateApiKey, CreatedApiKey, parse_new_key};
use super::members::role_keys;
use super::{path_id, signed_in_user};
use crate::IdentityError;
use crate::api_keys::{self, Owner};
use crate::permissions::ServiceAccountsManage;
use crate::service_accounts::{self, AccountChange, Created, NewServiceAccount, ServiceAccountView};

fn account_id(text: &str) -> Result<Uuid, ApiError> {
    path_id(text, "service_account_not_found", "service account")
}

fn text(value: &str, name: &'static str, min: usize, max: usize) -> Result<String, ApiError> {
    bounded_text(value, min, max).map_err(|m| ApiError::invalid_field(name, m))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ServiceAccountList {
    pub items: Vec<ServiceAccountView>,
}

/// The organization's service accounts.
#[utoipa::path(get, path = "/v1/service-accounts", tag = "service accounts", security(("bearer" = [])),
    responses(
        (status = 200, body = ServiceAccountList),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`permission_denied`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn list_accounts(
    permitted: Permitted<ServiceAccountsManage>,
    State(db): State<Database>,
) -> Result<axum::Json<ServiceAccountList>, ApiError> {
    let mut tx = db.tenant(permitted.tenant()?).await?;
    let items = service_accounts::list(&mut tx).await?;
    tx.commit().await?;
    Ok(axum::Json(ServiceAccountList { items }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateServiceAccount {
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// Role keys; at least one.
    pub roles: Vec<String>,
}

/// Create a service account. The answer holds its `client_secret`, shown this once.
#[utoipa::path(post, path = "/v1/service-accounts", tag = "service accounts", security(("bearer" = [])),
    request_body = CreateServiceAccount,
    responses(
        (status = 201, body = Created),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`permission_denied`, `owner_only`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`invalid_field`, `limit_reached`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn create_account(
    permitted: Permitted<ServiceAccountsManage>,
    State(db): State<Database>,
    State(access): State<vextrus_access::Access>,
    State(limits): State<vextrus_server::Limits>,
    Json(body): Json<CreateServiceAccount>,
) -> Result<(StatusCode, axum::Json<Created>), ApiError> {
    let new = NewServiceAccount {
        name: text(&body.name, "name", 1, 100)?,
        description: text(&body.description, "description", 0, 500)?,
        roles: role_keys(&body.roles)?,
    };
    let creator = signed_in_user(permitted.subject()).ok().map(|(user, _)| user);
    let mut tx = db.tenant(permitted.tenant()?).await?;
    let actor = Actor::Subject(permitted.subject(), &access);
    let created = service_accounts::create(&mut tx, actor, creator, new, limits.service_accounts_per_org).await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, axum::Json(created)))
}

/// One service account.
#[utoipa::path(get, path = "/v1/service-accounts/{id}", tag = "service accounts", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "Service account id")),
    responses(
        (status = 200, body = ServiceAccountView),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`permission_denied`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`service_account_not_found`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn get_account(
    permitted: Permitted<ServiceAccountsManage>,
    State(db): State<Database>,
    Path(id): Path<String>,
) -> Result<axum::Json<ServiceAccountView>, ApiError> {
    let id = account_id(&id)?;
    let mut tx = db.tenant(permitted.tenant()?).await?;
    let account = service_accounts::get(&mut tx, id).await?;
    tx.commit().await?;
    Ok(axum::Json(account))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateServiceAccount {
    pub name: Option<String>,
    pub description: Option<String>,
    /// False disables the account: no new tokens, its API keys stop working.
    pub active: Option<bool>,
    /// Replaces its roles (effective in its next token).
    pub roles: Option<Vec<String>>,
}

/// Change a service account's name, status or roles.
#[utoipa::path(patch, path = "/v1/service-accounts/{id}", tag = "service accounts", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "Service account id")),
    request_body = UpdateServiceAccount,
    responses(
        (status = 200, body = ServiceAccountView),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`permission_denied`, `owner_only`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`service_account_not_found`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`invalid_field`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn update_account(
    permitted: Permitted<ServiceAccountsManage>,
    State(db): State<Database>,
    State(access): State<vextrus_access::Access>,
    Path(id): Path<String>,
    Json(body): Json<UpdateServiceAccount>,
) -> Result<axum::Json<ServiceAccountView>, ApiError> {
    let id = account_id(&id)?;
    let change = AccountChange {
        name: body.name.as_deref().map(|n| text(n, "name", 1, 100)).transpose()?,
        description: body.description.as_deref().map(|d| text(d, "description", 0, 500)).transpose()?,
        active: body.active,
        roles: body.roles.as_deref().map(role_keys).transpose()?,
    };
    let mut tx = db.tenant(permitted.tenant()?).await?;
    let account = service_accounts::update(&mut tx, Actor::Subject(permitted.subject(), &access), id, change).await?;
    tx.commit().await?;
    Ok(axum::Json(account))
}

/// Delete a service account, its roles and its API keys.
#[utoipa::path(delete, path = "/v1/service-accounts/{id}", tag = "service accounts", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "Service account id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`permission_denied`, `owner_only`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`service_account_not_found`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn delete_account(
    permitted: Permitted<ServiceAccountsManage>,
    State(db): State<Database>,
    State(access): State<vextrus_access::Access>,
    State(auth): State<crate::Auth>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let id = account_id(&id)?;
    let mut tx = db.tenant(permitted.tenant()?).await?;
    service_accounts::delete(&mut tx, Actor::Subject(permitted.subject(), &access), id).await?;
    tx.commit().await?;
    auth.api_keys.forget_owner(id);
    Ok(StatusCode::NO_CONTENT)
}

/// The account, which must exist in the organization, as an API key owner.
async fn key_owner(tx: &mut TenantTx, id: Uuid) -> Result<Owner, IdentityError> {
    service_accounts::get(tx, id).await?;
    Ok(Owner::ServiceAccount(id))
}

/// A service account's API keys.
#[utoipa::path(get, path = "/v1/service-accounts/{id}/api-keys", tag = "service accounts", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "Service account id")),
    responses(
        (status = 200, body = ApiKeyList),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`permission_denied`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`service_account_not_found`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn list_account_keys(
    permitted: Permitted<ServiceAccountsManage>,
    State(db): State<Database>,
    Path(id): Path<String>,
) -> Result<axum::Json<ApiKeyList>, ApiError> {
    let id = account_id(&id)?;
    let tenant = permitted.tenant()?;
    let mut tx = db.tenant(tenant).await?;
    let owner = key_owner(&mut tx, id).await?;
    let items = api_keys::list(&mut tx, tenant, owner).await?;
    tx.commit().await?;
    Ok(axum::Json(ApiKeyList { items }))
}

/// Create an API key for a service account; the secret is shown this once.
#[utoipa::path(post, path = "/v1/service-accounts/{id}/api-keys", tag = "service accounts", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "Service account id")),
    request_body = CreateApiKey,
    responses(
        (status = 201, body = CreatedApiKey),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`permission_denied`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`service_account_not_found`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`invalid_field`, `limit_reached`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn create_account_key(
    permitted: Permitted<ServiceAccountsManage>,
    State(db): State<Database>,
    State(access): State<Access>,
    State(limits): State<vextrus_server::Limits>,
    Path(id): Path<String>,
    Json(body): Json<CreateApiKey>,
) -> Result<(StatusCode, axum::Json<CreatedApiKey>), ApiError> {
    let id = account_id(&id)?;
    let new = parse_new_key(body, &access, permitted.subject())?;
    let tenant = permitted.tenant()?;
    let mut tx = db.tenant(tenant).await?;
    let owner = key_owner(&mut tx, id).await?;
    let actor = permitted.subject().into();
    let created = api_keys::create(&mut tx, tenant, owner, new, actor, &limits).await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, axum::Json(CreatedApiKey { key: created.key, secret: created.secret })))
}

/// Revoke a service account's API key.
#[utoipa::path(delete, path = "/v1/service-accounts/{id}/api-keys/{key}", tag = "service accounts", security(("bearer" = [])),
    params(
        ("id" = uuid::Uuid, Path, description = "Service account id"),
        ("key" = uuid::Uuid, Path, description = "API key id"),
    ),
    responses(
        (status = 204, description = "Revoked"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`permission_denied`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`service_account_not_found`, `api_key_not_found`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn revoke_account_key(
    permitted: Permitted<ServiceAccountsManage>,
    State(db): State<Database>,
    State(auth): State<crate::Auth>,
    Path((id, key)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let id = account_id(&id)?;
    let key = path_id(&key, "api_key_not_found", "API key")?;
    let tenant = permitted.tenant()?;
    let mut tx = db.tenant(tenant).await?;
    let owner = key_owner(&mut tx, id).await?;
    let revoked = api_keys::revoke(&mut tx, tenant, owner, key, permitted.subject().into()).await?;
    tx.commit().await?;
    auth.api_keys.forget_owner(owner.id());
    if revoked { Ok(StatusCode::NO_CONTENT) } else { Err(ApiError::not_found("api_key_not_found", "No such API key.")) }
}

//! `/v1/me/api-keys`: the signed-in user's API keys (service accounts' keys are under
//! `/v1/service-accounts/{id}/api-keys`, sharing the request and response types here).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use chrono::{Duration, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use vextrus_access::{Access, PermissionKey, Permitted, Subject};
use vextrus_db::Database;
use vextrus_server::{ApiError, Json, Problem, bounded_text};

use super::{path_id, signed_in_user};
use crate::api_keys::{self, NewApiKey, Owner};
use crate::permissions::{SelfManage, SelfRead};
use crate::store::api_keys::ApiKey;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateApiKey {
    pub name: String,
    /// The most the key may do (catalog keys); absent: whatever its owner may.
    pub permissions: Option<Vec<String>>,
    /// The networks the key may be used from, in CIDR notation (`203.0.113.0/24`, a bare address
    /// for one host; at most 50); absent: anywhere. Elsewhere the key answers 403
    /// `address_not_allowed`.
    pub allowed_cidrs: Option<Vec<String>>,
    /// Days until the key stops working (1–3650); absent: no expiry.
    pub expires_in_days: Option<u32>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedApiKey {
    #[serde(flatten)]
    pub key: ApiKey,
    /// The key itself, `vxk_…`: shown this once, never again. Send as `Authorization: Bearer`.
    pub secret: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ApiKeyList {
    pub items: Vec<ApiKey>,
}

/// Checks a key request. A caller that is itself limited (an API key) can only make keys
/// limited to a subset of its own limit, so a key can never mint a stronger one.
pub(super) fn parse_new_key(body: CreateApiKey, access: &Access, creator: &Subject) -> Result<NewApiKey, ApiError> {
    let name = bounded_text(&body.name, 1, 100).map_err(|m| ApiError::invalid_field("name", m))?;
    let permissions = body
        .permissions
        .map(|keys| {
            keys.iter()
                .enumerate()
                .map(|(i, k)| {
                    let at = format!("permissions[{i}]");
                    let key = PermissionKey::parse(k).map_err(|m| ApiError::invalid_field(&at, m))?;
                    if access.permission(key.as_str()).is_none() {
                        return Err(ApiError::invalid_field(at, format!("{k:?} is not in the permission catalog")));
                    }
                    Ok(key)
                })
                .collect::<Result<Vec<_>, _>>()
        })
        .transpose()?;
    if let Some(limit) = &creator.limit {
        let within = permissions.as_ref().is_some_and(|p| p.iter().all(|k| limit.iter().any(|l| &**l == k.as_str())));
        if !within {
            return Err(ApiError::invalid_field(
                "permissions",
                "a key made with an API key must list permissions, all within that key's own",
            ));
        }
    }
    let mut expires_at = match body.expires_in_days {
        None => None,
        Some(days @ 1..=3650) => Some(Utc::now() + Duration::days(i64::from(days))),
        Some(_) => return Err(ApiError::invalid_field("expires_in_days", "must be between 1 and 3650")),
    };
    let mut allowed_cidrs = body
        .allowed_cidrs
        .map(|entries| {
            api_keys::parse_networks(&entries)
                .map_err(|(i, message)| ApiError::invalid_field(format!("allowed_cidrs[{i}]"), message))
        })
        .transpose()?;
    // A key made with a key lives no longer and reaches no further than its parent: unsaid,
    // it inherits the parent's expiry and networks; said wider, it is refused.
    if let Some(parent) = &creator.key_bounds {
        if let Some(limit) = parent.expires_at {
            match expires_at {
                None => expires_at = Some(limit),
                Some(at) if at > limit => {
                    return Err(ApiError::invalid_field(
                        "expires_in_days",
                        format!("a key made with an API key cannot outlive it (it expires {})", limit.to_rfc3339()),
                    ));
                }
                Some(_) => {}
            }
        }
        if let Some(parents) = &parent.networks {
            let parents = api_keys::parse_networks(parents).unwrap_or_default();
            match &allowed_cidrs {
                None => allowed_cidrs = Some(parents),
                Some(children) => {
                    if let Some((i, _)) =
                        children.iter().enumerate().find(|(_, c)| !parents.iter().any(|p| p.contains(*c)))
                    {
                        return Err(ApiError::invalid_field(
                            format!("allowed_cidrs[{i}]"),
                            "a key made with an API key may only narrow that key's own networks",
                        ));
                    }
                }
            }
        }
    }
    Ok(NewApiKey { name, permissions, allowed_cidrs, expires_at })
}

/// Your API keys in the current organization (never their secrets).
#[utoipa::path(get, path = "/v1/me/api-keys", tag = "identity", security(("bearer" = [])),
    responses(
        (status = 200, body = ApiKeyList),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`permission_denied`, `users_only`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn list_my_keys(
    permitted: Permitted<SelfRead>,
    State(db): State<Database>,
) -> Result<axum::Json<ApiKeyList>, ApiError> {
    let (me, tenant) = signed_in_user(permitted.subject())?;
    let mut tx = db.tenant(tenant).await?;
    let items = api_keys::list(&mut tx, tenant, Owner::User(me)).await?;
    tx.commit().await?;
    Ok(axum::Json(ApiKeyList { items }))
}

/// Create an API key acting for you in the current organization.
#[utoipa::path(post, path = "/v1/me/api-keys", tag = "identity", security(("bearer" = [])),
    request_body = CreateApiKey,
    responses(
        (status = 201, body = CreatedApiKey),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`permission_denied`, `users_only`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`invalid_field`, `limit_reached`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn create_my_key(
    permitted: Permitted<SelfManage>,
    State(db): State<Database>,
    State(access): State<Access>,
    State(limits): State<vextrus_server::Limits>,
    Json(body): Json<CreateApiKey>,
) -> Result<(StatusCode, axum::Json<CreatedApiKey>), ApiError> {
    let (me, tenant) = signed_in_user(permitted.subject())?;
    let new = parse_new_key(body, &access, permitted.subject())?;
    let mut tx = db.tenant(tenant).await?;
    let actor = permitted.subject().into();
    let created = api_keys::create(&mut tx, tenant, Owner::User(me), new, actor, &limits).await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, axum::Json(CreatedApiKey { key: created.key, secret: created.secret })))
}

/// Revoke one of your API keys; it stops working at once.
#[utoipa::path(delete, path = "/v1/me/api-keys/{id}", tag = "identity", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "API key id")),
    responses(
        (status = 204, description = "Revoked"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`permission_denied`, `users_only`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`api_key_not_found`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn revoke_my_key(
    permitted: Permitted<SelfManage>,
    State(db): State<Database>,
    State(auth): State<crate::Auth>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let (me, tenant) = signed_in_user(permitted.subject())?;
    let id = path_id(&id, "api_key_not_found", "API key")?;
    let mut tx = db.tenant(tenant).await?;
    let revoked = api_keys::revoke(&mut tx, tenant, Owner::User(me), id, permitted.subject().into()).await?;
    tx.commit().await?;
    auth.api_keys.forget_owner(me);
    if revoked { Ok(StatusCode::NO_CONTENT) } else { Err(ApiError::not_found("api_key_not_found", "No such API key.")) }
}

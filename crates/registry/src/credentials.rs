//! npm's credentials on the platform's: `npm login` (legacy: `PUT /-/user/org.couchdb.user:…`)
//! checks the platform username, password and second factor (`npm-otp`) and answers an API key
//! limited to the registry's permissions; `npm token list|create|revoke` manage those keys. No
//! platform user is ever created here (`npm adduser` with a new name is refused like a wrong
//! password).

use axum::body::Body;
use axum::extract::{FromRef, FromRequestParts};
use axum::http::{HeaderValue, Method, StatusCode, header, request::Parts};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use vextrus_access::{PermissionKey, Subject, SubjectKind};
use vextrus_db::Database;
use vextrus_identity::api_keys::{self, Owner};
use vextrus_identity::throttle::{self, ThrottleKeys};
use vextrus_identity::tokens::{self, GrantError, PasswordLogin};
use vextrus_identity::{Auth, IdentityConfig};
use vextrus_server::{AppState, ClientAddr};

use crate::http::{NpmError, read_json};

/// What registry tokens may do: read, or read, publish and manage.
fn registry_permissions(readonly: bool) -> Vec<PermissionKey> {
    let keys: &[&str] = if readonly {
        &["registry.packages.read"]
    } else {
        &["registry.packages.read", "registry.packages.publish", "registry.packages.manage"]
    };
    keys.iter().filter_map(|k| PermissionKey::parse(k).ok()).collect()
}

fn internal(e: impl std::fmt::Display) -> Response {
    tracing::error!(error = %e, "registry credentials failed");
    NpmError(StatusCode::INTERNAL_SERVER_ERROR, "internal error".into()).into_response()
}

/// The key a sign-in mints.
struct Wanted<'a> {
    name: &'a str,
    readonly: bool,
    expires_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// Checks a password (and `npm-otp`) and mints a registry key, throttled like every sign-in.
async fn mint(
    state: &AppState,
    parts: &mut Parts,
    login: &str,
    password: &str,
    org: Option<&str>,
    wanted: Wanted<'_>,
) -> Result<(String, api_keys::Created), Response> {
    let db = Database::from_ref(state);
    let auth = Auth::from_ref(state);
    let config = IdentityConfig::from_ref(state);
    let client = ClientAddr::from_request_parts(parts, state).await.map_err(IntoResponse::into_response)?;
    let keys = ThrottleKeys::new(login, client.ip(config.trust_forwarded_for));
    let otp = parts.headers.get("npm-otp").and_then(|v| v.to_str().ok()).map(str::to_owned);
    let user_agent = parts.headers.get(header::USER_AGENT).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let mut tx = db.system().await.map_err(internal)?;
    if let Some(seconds) = throttle::wait(&mut tx, &keys).await.map_err(internal)? {
        let message = format!("too many failed sign-ins: retry in {seconds} seconds");
        let mut response = NpmError(StatusCode::TOO_MANY_REQUESTS, message).into_response();
        response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        return Err(response);
    }
    let request = PasswordLogin { login, password, org, otp: otp.as_deref(), user_agent: user_agent.as_deref() };
    let permissions = registry_permissions(wanted.readonly);
    match tokens::cli_key(&mut tx, &auth, request, wanted.name, permissions, wanted.expires_at).await {
        Ok(minted) => {
            throttle::succeeded(&mut tx, &keys).await.map_err(internal)?;
            tx.commit().await.map_err(internal)?;
            Ok(minted)
        }
        Err(GrantError::MfaRequired) => {
            // npm asks for the code and sends it again in `npm-otp`.
            let mut response =
                NpmError(StatusCode::UNAUTHORIZED, "a one-time code is required (npm-otp)".into()).into_response();
            response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("OTP"));
            Err(response)
        }
        Err(GrantError::InvalidGrant(description)) => {
            drop(tx);
            tokens::record_login_failure(&db, &keys, description).await.map_err(internal)?;
            Err(NpmError(StatusCode::UNAUTHORIZED, description.into()).into_response())
        }
        Err(e) => Err(internal(e)),
    }
}

/// `PUT /-/user/org.couchdb.user:{name}` with `{name, password}`.
pub(crate) async fn legacy_login(state: &AppState, parts: &mut Parts, body: Body) -> Result<Response, Response> {
    let doc = read_json(body, 64 * 1024).await?;
    let (Some(name), Some(password)) = (doc["name"].as_str(), doc["password"].as_str()) else {
        return Err(NpmError(StatusCode::BAD_REQUEST, "send name and password".into()).into_response());
    };
    let wanted = Wanted { name: "npm login", readonly: false, expires_at: None };
    let (username, created) = mint(state, parts, name, password, None, wanted).await?;
    let answer = json!({"ok": format!("you are authenticated as '{username}'"), "token": created.secret});
    Ok((StatusCode::CREATED, axum::Json(answer)).into_response())
}

/// `/-/npm/v1/tokens`: the signed-in user's keys in this organization.
pub(crate) async fn tokens(
    state: &AppState,
    parts: &mut Parts,
    rest: &[&str],
    body: Body,
) -> Result<Response, Response> {
    let subject = Subject::from_request_parts(parts, state).await.map_err(IntoResponse::into_response)?;
    let (SubjectKind::User, Some(tenant), Some(username)) = (subject.kind, subject.tenant(), subject.username.clone())
    else {
        return Err(NpmError(StatusCode::FORBIDDEN, "tokens belong to users signed in to an organization".into())
            .into_response());
    };
    let db = Database::from_ref(state);
    let owner = Owner::User(subject.id);
    match (parts.method.clone(), rest) {
        (Method::GET, []) => {
            let mut tx = db.tenant(tenant).await.map_err(internal)?;
            let keys = api_keys::list(&mut tx, tenant, owner).await.map_err(internal)?;
            tx.commit().await.map_err(internal)?;
            let objects: Vec<Value> = keys
                .iter()
                .filter(|k| k.revoked_at.is_none())
                .map(|k| {
                    let readonly = k.permissions.as_ref().is_some_and(|p| p.iter().all(|p| p.ends_with(".read")));
                    json!({
                        "key": k.id,
                        "name": k.name,
                        "token": format!("{}{}_…", api_keys::KEY_PREFIX, k.prefix),
                        "readonly": readonly,
                        "automation": false,
                        "cidr_whitelist": null,
                        "created": k.created_at,
                        "updated": k.last_used_at.unwrap_or(k.created_at),
                    })
                })
                .collect();
            Ok(axum::Json(json!({"objects": objects, "total": objects.len(), "urls": {}})).into_response())
        }
        (Method::POST, []) => {
            let doc = read_json(body, 64 * 1024).await?;
            let Some(password) = doc["password"].as_str() else {
                return Err(NpmError(StatusCode::BAD_REQUEST, "send your password".into()).into_response());
            };
            if doc["cidr_whitelist"].as_array().is_some_and(|c| !c.is_empty()) {
                let message = "CIDR-restricted tokens are not supported by this registry yet";
                return Err(NpmError(StatusCode::BAD_REQUEST, message.into()).into_response());
            }
            // npm ≤ 10 sends `readonly`; npm 11 `packages_and_scopes_permission`.
            let readonly = doc["readonly"].as_bool().unwrap_or(false)
                || doc["packages_and_scopes_permission"].as_str() == Some("read-only");
            let days = doc["expires"].as_i64().filter(|d| (1..=3650).contains(d));
            let wanted = Wanted {
                name: doc["name"].as_str().filter(|n| !n.trim().is_empty()).unwrap_or("npm token"),
                readonly,
                expires_at: days.map(|d| chrono::Utc::now() + chrono::Duration::days(d)),
            };
            let org = tenant.to_string();
            let (_, created) = mint(state, parts, &username, password, Some(&org), wanted).await?;
            let answer = json!({
                "token": created.secret,
                "key": created.key.id,
                "name": created.key.name,
                "expires": created.key.expires_at,
                "readonly": readonly,
                "cidr_whitelist": [],
                "created": created.key.created_at,
                "updated": created.key.created_at,
            });
            Ok((StatusCode::CREATED, axum::Json(answer)).into_response())
        }
        (Method::DELETE, ["token", key]) => {
            let Ok(id) = key.parse::<uuid::Uuid>() else {
                return Err(NpmError(StatusCode::NOT_FOUND, "no such token".into()).into_response());
            };
            let mut tx = db.tenant(tenant).await.map_err(internal)?;
            let revoked = api_keys::revoke(&mut tx, tenant, owner, id, (&subject).into()).await.map_err(internal)?;
            tx.commit().await.map_err(internal)?;
            if !revoked {
                return Err(NpmError(StatusCode::NOT_FOUND, "no such token".into()).into_response());
            }
            Ok(StatusCode::NO_CONTENT.into_response())
        }
        _ => Err(NpmError(StatusCode::NOT_FOUND, "not found".into()).into_response()),
    }
}

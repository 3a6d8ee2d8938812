//! npm's credentials on the platform's: `npm login` (legacy: `PUT /-/user/org.couchdb.user:…`)
//! checks the platform username, password and second factor (`npm-otp`) and answers an API key
//! limited to the registry's permissions; `npm token list|create|revoke` manage those keys.
//! `npm adduser` with a new name creates a platform user only where `registry.adduser_org` says
//! which organization it joins; otherwise it is refused like a wrong password.

use axum::body::Body;
use axum::extract::{FromRef, FromRequestParts};
use axum::http::{HeaderValue, Method, StatusCode, header, request::Parts};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use vextrus_access::{PermissionKey, Subject, SubjectKind};
use vextrus_db::{Database, Tx as _};
use vextrus_identity::api_keys::{self, NewApiKey, Owner};
use vextrus_identity::throttle::{self, ThrottleKeys};
use vextrus_identity::tokens::{self, GrantError, PasswordLogin};
use vextrus_identity::{Auth, IdentityConfig};
use vextrus_server::{AppState, ClientAddr};

use crate::http::{NpmError, read_json};

/// A registry token: it may read, or read, publish and manage.
fn registry_key(name: &str, readonly: bool) -> NewApiKey {
    let keys: &[&str] = if readonly {
        &["registry.packages.read"]
    } else {
        &["registry.packages.read", "registry.packages.publish", "registry.packages.manage"]
    };
    let permissions = keys.iter().filter_map(|k| PermissionKey::parse(k).ok()).collect();
    NewApiKey { name: name.to_owned(), permissions: Some(permissions), allowed_cidrs: None, expires_at: None }
}

fn internal(e: impl std::fmt::Display) -> Response {
    tracing::error!(error = %e, "registry credentials failed");
    NpmError(StatusCode::INTERNAL_SERVER_ERROR, "internal error".into()).into_response()
}

/// Checks a password (and `npm-otp`) and mints a registry key, throttled like every sign-in.
async fn mint(
    state: &AppState,
    parts: &mut Parts,
    login: &str,
    password: &str,
    org: Option<&str>,
    otp: Option<&str>,
    wanted: NewApiKey,
) -> Result<(String, api_keys::Created), Response> {
    let db = Database::from_ref(state);
    let auth = Auth::from_ref(state);
    let config = IdentityConfig::from_ref(state);
    let client = ClientAddr::from_request_parts(parts, state).await.map_err(IntoResponse::into_response)?;
    let keys = ThrottleKeys::new(login, client.ip(config.trust_forwarded_for));
    let user_agent = parts.headers.get(header::USER_AGENT).and_then(|v| v.to_str().ok()).map(str::to_owned);
    if let Some(seconds) = throttle::attempt(&db, &keys).await.map_err(internal)? {
        let message = format!("too many failed sign-ins: retry in {seconds} seconds");
        let mut response = NpmError(StatusCode::TOO_MANY_REQUESTS, message).into_response();
        response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        return Err(response);
    }
    let mut tx = db.system().await.map_err(internal)?;
    let request = PasswordLogin { login, password, org, otp, user_agent: user_agent.as_deref() };
    let limits = vextrus_server::Limits::from_ref(state);
    match tokens::cli_key(&mut tx, &auth, request, wanted, &limits).await {
        Ok(minted) => {
            throttle::succeeded(&mut tx, &keys).await.map_err(internal)?;
            tx.commit().await.map_err(internal)?;
            Ok(minted)
        }
        Err(GrantError::MfaRequired) => {
            drop(tx);
            throttle::refund(&db, &keys).await.map_err(internal)?;
            // npm asks for the code and sends it again in `npm-otp`.
            let mut response =
                NpmError(StatusCode::UNAUTHORIZED, "a one-time code is required (npm-otp)".into()).into_response();
            response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("OTP"));
            Err(response)
        }
        Err(GrantError::InvalidGrant(description)) => {
            drop(tx);
            tokens::record_login_failure(&db, description).await.map_err(internal)?;
            Err(NpmError(StatusCode::UNAUTHORIZED, description.into()).into_response())
        }
        Err(GrantError::Identity(e @ vextrus_identity::IdentityError::LimitReached(..))) => {
            let message = format!("{e}: revoke one first (npm token revoke)");
            Err(NpmError(StatusCode::UNPROCESSABLE_ENTITY, message).into_response())
        }
        Err(e) => Err(internal(e)),
    }
}

/// `cidr_whitelist` of `npm token create --cidr=…`: absent or empty for a key usable anywhere.
fn networks_of(list: &Value) -> Result<Option<Vec<api_keys::IpNet>>, NpmError> {
    let bad = |message: String| NpmError(StatusCode::BAD_REQUEST, format!("cidr_whitelist: {message}"));
    let entries: Vec<&str> = match list {
        Value::Null => return Ok(None),
        Value::Array(items) if items.is_empty() => return Ok(None),
        Value::Array(items) => {
            items.iter().map(Value::as_str).collect::<Option<_>>().ok_or_else(|| bad("list strings".into()))?
        }
        _ => return Err(bad("send a list of networks".into())),
    };
    api_keys::parse_networks(&entries).map(Some).map_err(|(_, message)| bad(message))
}

/// The one-time code npm sends after an `OTP` challenge.
fn npm_otp(parts: &Parts) -> Option<String> {
    parts.headers.get("npm-otp").and_then(|v| v.to_str().ok()).map(str::to_owned)
}

/// `PUT /-/user/org.couchdb.user:{name}` with `{name, password}`.
pub(crate) async fn legacy_login(state: &AppState, parts: &mut Parts, body: Body) -> Result<Response, Response> {
    let doc = read_json(body, 64 * 1024).await?;
    let (Some(name), Some(password)) = (doc["name"].as_str(), doc["password"].as_str()) else {
        return Err(NpmError(StatusCode::BAD_REQUEST, "send name and password".into()).into_response());
    };
    // `npm adduser` sends an address; `npm login` (legacy) does not: its user starts with a
    // placeholder (`<name>@npm-login.invalid`, as imported users have), set later.
    if let Some(adduser) = &crate::RegistrySettings::from_ref(state).adduser {
        let placeholder = format!("{}@npm-login.invalid", name.trim().to_lowercase());
        let email = doc["email"].as_str().unwrap_or(&placeholder);
        add_user(state, parts, adduser, name, password, email).await?;
    }
    let wanted = registry_key("npm login", false);
    let otp = npm_otp(parts);
    let (username, created) = mint(state, parts, name, password, None, otp.as_deref(), wanted).await?;
    let answer = json!({"ok": format!("you are authenticated as '{username}'"), "token": created.secret});
    Ok((StatusCode::CREATED, axum::Json(answer)).into_response())
}

/// `npm adduser` (or `npm login`) with a username nobody has: the platform user is created in
/// the configured organization (then signed in like anyone). A taken username is left to the
/// sign-in, which checks its password. Each creation counts as a sign-up from the client's
/// address (`limits.signups_per_address_per_hour`).
async fn add_user(
    state: &AppState,
    parts: &Parts,
    adduser: &crate::AddUser,
    name: &str,
    password: &str,
    email: &str,
) -> Result<(), Response> {
    use vextrus_identity::IdentityError;
    use vextrus_identity::model::{DisplayName, EmailAddress, Username};
    use vextrus_identity::password::Password;
    let bad =
        |field: &str, message: String| NpmError(StatusCode::BAD_REQUEST, format!("{field}: {message}")).into_response();
    let user = vextrus_identity::service::NewUser {
        username: Username::parse(name).map_err(|m| bad("username", m))?,
        email: EmailAddress::parse(email).map_err(|m| bad("email", m))?,
        password: Password::parse(password).map_err(|m| bad("password", m))?,
        locale: Default::default(),
        display_name: DisplayName::parse(name).map_err(|m| bad("name", m))?,
        phone: None,
    };
    let role = vextrus_access::RoleKey::parse(&adduser.role).map_err(internal)?;
    let db = Database::from_ref(state);
    let mut tx = db.system().await.map_err(internal)?;
    if vextrus_identity::service::username_taken(&mut tx, &user.username).await.map_err(internal)? {
        return Ok(());
    }
    let trust = vextrus_identity::IdentityConfig::from_ref(state).trust_forwarded_for;
    let address =
        vextrus_server::ClientAddr::of(parts).ip(trust).map_or_else(|| "unknown".to_owned(), |a| a.to_string());
    let per_hour = vextrus_server::Limits::from_ref(state).signups_per_address_per_hour;
    let hour = std::time::Duration::from_secs(3600);
    let taken = vextrus_db::limits::take_rate(&mut tx, &format!("signup:ip:{address}"), per_hour, hour).await;
    if let Err(seconds) = taken.map_err(internal)? {
        let message = format!("at most {per_hour} new users an hour from here; try again in {seconds} seconds");
        return Err(NpmError(StatusCode::TOO_MANY_REQUESTS, message).into_response());
    }
    let slug = vextrus_tenancy::OrgSlug::parse(&adduser.org).map_err(internal)?;
    let org = match vextrus_tenancy::service::get(&mut tx, &vextrus_tenancy::model::OrgRef::Slug(slug)).await {
        Ok(org) => org,
        Err(vextrus_tenancy::TenancyError::Db(e)) => return Err(internal(e)),
        Err(_) => {
            tracing::warn!(org = adduser.org, "registry.adduser_org names no organization");
            let message = "this registry cannot create users now: ask an administrator";
            return Err(NpmError(StatusCode::SERVICE_UNAVAILABLE, message.into()).into_response());
        }
    };
    let plan_defaults = vextrus_server::Limits::from_ref(state).plan;
    match vextrus_identity::service::join_as_new_user(&mut tx, org.id, user, role, "npm adduser", plan_defaults).await {
        Ok(_) => tx.commit().await.map_err(internal),
        Err(IdentityError::LimitReached(..)) => Err(NpmError(
            StatusCode::FORBIDDEN,
            "the organization's plan has no room for another member: ask an administrator".into(),
        )
        .into_response()),
        Err(IdentityError::EmailTaken) => {
            Err(NpmError(StatusCode::CONFLICT, "that email address already has an account".into()).into_response())
        }
        // Taken meanwhile: the sign-in decides (this transaction rolls back).
        Err(IdentityError::UsernameTaken) => Ok(()),
        Err(e) => Err(internal(e)),
    }
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
                    // npm shows networks as given; the platform keeps single hosts as `/32`.
                    let networks = k.allowed_cidrs.clone().unwrap_or_default();
                    json!({
                        "key": k.id,
                        "name": k.name,
                        "token": format!("{}{}_…", api_keys::KEY_PREFIX, k.prefix),
                        "readonly": readonly,
                        "automation": false,
                        "cidr_whitelist": networks,
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
            // npm ≤ 10 sends `readonly`; npm 11 `packages_and_scopes_permission`.
            let readonly = doc["readonly"].as_bool().unwrap_or(false)
                || doc["packages_and_scopes_permission"].as_str() == Some("read-only");
            let days = doc["expires"].as_i64().filter(|d| (1..=3650).contains(d));
            let name = doc["name"].as_str().filter(|n| !n.trim().is_empty()).unwrap_or("npm token");
            let mut wanted = registry_key(name, readonly);
            wanted.expires_at = days.map(|d| chrono::Utc::now() + chrono::Duration::days(d));
            wanted.allowed_cidrs = networks_of(&doc["cidr_whitelist"]).map_err(IntoResponse::into_response)?;
            let org = tenant.to_string();
            let otp = npm_otp(parts);
            let (_, created) = mint(state, parts, &username, password, Some(&org), otp.as_deref(), wanted).await?;
            let answer = json!({
                "token": created.secret,
                "key": created.key.id,
                "name": created.key.name,
                "expires": created.key.expires_at,
                "readonly": readonly,
                "cidr_whitelist": created.key.allowed_cidrs.unwrap_or_default(),
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
            Auth::from_ref(state).api_keys.forget_owner(subject.id);
            if !revoked {
                return Err(NpmError(StatusCode::NOT_FOUND, "no such token".into()).into_response());
            }
            Ok(StatusCode::NO_CONTENT.into_response())
        }
        _ => Err(NpmError(StatusCode::NOT_FOUND, "not found".into()).into_response()),
    }
}

/// How long a browser login may take.
const WEB_LOGIN_MINUTES: i64 = 10;

/// 256 random bits, base64url.
pub(crate) fn random_secret() -> String {
    use base64::Engine as _;
    let mut bytes = [0u8; 32];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes).expect("the OS provides randomness");
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn sha256(text: &str) -> Vec<u8> {
    ring::digest::digest(&ring::digest::SHA256, text.as_bytes()).as_ref().to_vec()
}

/// `POST /-/v1/login`: npm starts a browser login; answers where to sign in and where to wait.
pub(crate) async fn web_login_start(state: &AppState, parts: &mut Parts) -> Result<Response, Response> {
    let db = Database::from_ref(state);
    let (id, done) = (random_secret(), random_secret());
    let mut tx = db.system().await.map_err(internal)?;
    // Anyone may start one, so each address may start only so many an hour.
    let client = ClientAddr::from_request_parts(parts, state).await.map_err(IntoResponse::into_response)?;
    let address = client.ip(IdentityConfig::from_ref(state).trust_forwarded_for);
    let per_hour = vextrus_server::Limits::from_ref(state).web_logins_per_address_per_hour;
    let key = format!("weblogin:ip:{}", address.map_or_else(|| "unknown".to_owned(), |a| a.to_string()));
    let taken = vextrus_db::limits::take_rate(&mut tx, &key, per_hour, std::time::Duration::from_secs(3600))
        .await
        .map_err(internal)?;
    if let Err(seconds) = taken {
        tx.commit().await.map_err(internal)?;
        let message = format!("too many npm logins started from here: retry in {seconds} seconds");
        let mut response = NpmError(StatusCode::TOO_MANY_REQUESTS, message).into_response();
        response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        return Err(response);
    }
    sqlx::query(
        "INSERT INTO registry.web_logins (id, done_hash, expires_at) VALUES ($1, $2, now() + make_interval(mins => $3))",
    )
    .bind(&id)
    .bind(sha256(&done))
    .bind(i32::try_from(WEB_LOGIN_MINUTES).unwrap_or(10))
    .execute(tx.conn())
    .await
    .map_err(internal)?;
    // Old, abandoned logins go as new ones come.
    sqlx::query("DELETE FROM registry.web_logins WHERE expires_at < now() - interval '1 day'")
        .execute(tx.conn())
        .await
        .map_err(internal)?;
    tx.commit().await.map_err(internal)?;
    let base = crate::http::base_url(&crate::RegistrySettings::from_ref(state), &parts.headers);
    let answer = json!({
        "loginUrl": format!("{base}/npm/-/v1/login/web/{id}"),
        "doneUrl": format!("{base}/npm/-/v1/done/{done}"),
    });
    Ok(axum::Json(answer).into_response())
}

/// Whether a login with this id is waiting for its user.
async fn pending(db: &Database, id: &str) -> Result<bool, Response> {
    let mut tx = db.system().await.map_err(internal)?;
    let waiting: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM registry.web_logins WHERE id = $1 AND sealed_token IS NULL AND expires_at > now())",
    )
    .bind(id)
    .fetch_one(tx.conn())
    .await
    .map_err(internal)?;
    tx.commit().await.map_err(internal)?;
    Ok(waiting)
}

fn page(status: StatusCode, title: &str, body: &str) -> Response {
    let html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{title}</title>\
         <meta name=\"viewport\" content=\"width=device-width\"><style>body{{font-family:sans-serif;max-width:28em;\
         margin:3em auto;padding:0 1em}}label{{display:block;margin:.8em 0}}input{{width:100%;padding:.4em}}\
         button{{margin-top:1em;padding:.5em 1.2em}}.error{{color:#b00}}</style></head><body><h1>{title}</h1>{body}\
         </body></html>"
    );
    let mut response = (status, axum::response::Html(html)).into_response();
    let headers = response.headers_mut();
    // Never framed (clickjacking), no scripts at all, not cached.
    headers.insert("x-frame-options", HeaderValue::from_static("DENY"));
    headers.insert(
        "content-security-policy",
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'",
        ),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn form(error: Option<&str>) -> String {
    let error = error.map(|e| format!("<p class=\"error\">{e}</p>")).unwrap_or_default();
    format!(
        "<p>The npm command line asks to sign in to this registry. Sign in with your Vextrus account to \
         approve it; it will get a token for the registry only.</p>{error}<form method=\"post\">\
         <label>Username or email<input name=\"username\" autocomplete=\"username\" required></label>\
         <label>Password<input name=\"password\" type=\"password\" autocomplete=\"current-password\" required></label>\
         <label>One-time code (if you use two-factor authentication)<input name=\"otp\" inputmode=\"numeric\" \
         autocomplete=\"one-time-code\"></label><button type=\"submit\">Sign in and approve npm</button></form>"
    )
}

fn gone() -> Response {
    page(
        StatusCode::NOT_FOUND,
        "Login expired",
        "<p>This login is unknown, finished or expired. Run <code>npm login</code> again.</p>",
    )
}

/// `GET /-/v1/login/web/{id}`: the sign-in page.
pub(crate) async fn web_login_page(state: &AppState, id: &str) -> Result<Response, Response> {
    if !pending(&Database::from_ref(state), id).await? {
        return Ok(gone());
    }
    Ok(page(StatusCode::OK, "Sign in to npm", &form(None)))
}

/// `POST /-/v1/login/web/{id}`: the form; on success the key is kept (sealed) for npm to fetch.
pub(crate) async fn web_login_approve(
    state: &AppState,
    parts: &mut Parts,
    id: &str,
    body: Body,
) -> Result<Response, Response> {
    let db = Database::from_ref(state);
    if !pending(&db, id).await? {
        return Ok(gone());
    }
    let bytes = axum::body::to_bytes(body, 16 * 1024).await.unwrap_or_default();
    let fields: std::collections::HashMap<String, String> = url::form_urlencoded::parse(&bytes).into_owned().collect();
    let (Some(username), Some(password)) = (fields.get("username"), fields.get("password")) else {
        return Ok(page(StatusCode::BAD_REQUEST, "Sign in to npm", &form(Some("Enter your username and password."))));
    };
    if fields.values().any(|v| v.contains('\0')) {
        return Ok(page(StatusCode::BAD_REQUEST, "Sign in to npm", &form(Some("The form holds a NUL character."))));
    }
    let otp = fields.get("otp").map(String::as_str).filter(|o| !o.trim().is_empty());
    let wanted = registry_key("npm login (web)", false);
    let (username, created) = match mint(state, parts, username, password, None, otp, wanted).await {
        Ok(minted) => minted,
        Err(response) => {
            let message = match response.status() {
                StatusCode::UNAUTHORIZED => "The username, password or one-time code is not right.",
                StatusCode::TOO_MANY_REQUESTS => "Too many failed sign-ins: wait a few minutes.",
                _ => "Signing in failed; try again.",
            };
            return Ok(page(response.status(), "Sign in to npm", &form(Some(message))));
        }
    };
    let auth = Auth::from_ref(state);
    let sealed = auth.keys.master().seal(&format!("npm-web-login:{id}"), created.secret.as_bytes());
    let mut tx = db.system().await.map_err(internal)?;
    sqlx::query("UPDATE registry.web_logins SET sealed_token = $2 WHERE id = $1 AND sealed_token IS NULL")
        .bind(id)
        .bind(sealed)
        .execute(tx.conn())
        .await
        .map_err(internal)?;
    tx.commit().await.map_err(internal)?;
    let done = format!("<p>Signed in as <b>{}</b>. Return to your terminal: npm is logged in.</p>", escape(&username));
    Ok(page(StatusCode::OK, "npm is approved", &done))
}

/// `GET /-/v1/done/{secret}`: 202 (retry) until approved, then the token, once.
pub(crate) async fn web_login_done(state: &AppState, secret: &str) -> Result<Response, Response> {
    let db = Database::from_ref(state);
    let mut tx = db.system().await.map_err(internal)?;
    let row: Option<(String, Option<Vec<u8>>, bool)> = sqlx::query_as(
        "SELECT id, sealed_token, expires_at > now() FROM registry.web_logins WHERE done_hash = $1 FOR UPDATE",
    )
    .bind(sha256(secret))
    .fetch_optional(tx.conn())
    .await
    .map_err(internal)?;
    match row {
        Some((id, Some(sealed), _)) => {
            sqlx::query("DELETE FROM registry.web_logins WHERE id = $1")
                .bind(&id)
                .execute(tx.conn())
                .await
                .map_err(internal)?;
            tx.commit().await.map_err(internal)?;
            let token =
                Auth::from_ref(state).keys.master().open(&format!("npm-web-login:{id}"), &sealed).map_err(internal)?;
            let token = String::from_utf8(token).map_err(internal)?;
            Ok(axum::Json(json!({ "token": token })).into_response())
        }
        Some((_, None, true)) => {
            let mut response = (StatusCode::ACCEPTED, axum::Json(json!({}))).into_response();
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("2"));
            Ok(response)
        }
        _ => Err(NpmError(StatusCode::NOT_FOUND, "this login is unknown or expired".into()).into_response()),
    }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

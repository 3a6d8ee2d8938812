//! The npm registry protocol at `/npm/`. Paths are parsed here rather than by the router,
//! because clients spell scoped names three ways (`@scope%2fname`, `@scope%2Fname`,
//! `@scope/name`) and tarball paths two. Errors are npm's `{"error": "…"}`: platform problems
//! (401/403 from the guards) are rewritten to that shape on the way out.

use axum::body::{Body, Bytes};
use axum::extract::{FromRef, FromRequestParts, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header, request::Parts};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use futures_util::StreamExt;
use serde_json::{Map, Value, json};
use tower_http::compression::CompressionLayer;
use tower_http::compression::predicate::{DefaultPredicate, NotForContentType, Predicate as _};
use utoipa_axum::router::OpenApiRouter;
use vextrus_access::{Permission as _, Permitted, Subject};
use vextrus_db::{Database, TenantId};
use vextrus_server::AppState;

use crate::model::PackageName;
use crate::rendered::Rendered;
use crate::service::{self, Package, RegistryError};
use crate::{PackagesManage, PackagesPublish, PackagesRead, RegistrySettings};

pub fn router() -> OpenApiRouter<AppState> {
    let scopes = OpenApiRouter::new()
        .routes(utoipa_axum::routes!(crate::scopes::list_scopes, crate::scopes::claim_scope))
        .routes(utoipa_axum::routes!(crate::scopes::release_scope))
        .routes(utoipa_axum::routes!(crate::webhooks::list_webhooks, crate::webhooks::create_webhook))
        .routes(utoipa_axum::routes!(crate::webhooks::delete_webhook));
    OpenApiRouter::new()
        .route("/npm", any(dispatch))
        .route("/npm/", any(dispatch))
        .route("/npm/{*rest}", any(dispatch))
        // Publishes carry whole tarballs; the registry enforces its own limit.
        .layer(axum::extract::DefaultBodyLimit::disable())
        .layer(axum::middleware::map_response(npm_error_shape))
        // Packuments compress well; tarballs are gzip already.
        .layer(
            CompressionLayer::new()
                .gzip(true)
                .compress_when(DefaultPredicate::new().and(NotForContentType::const_new("application/octet-stream"))),
        )
        .merge(scopes)
}

/// An error as npm shows it.
#[derive(Debug)]
pub(crate) struct NpmError(pub(crate) StatusCode, pub(crate) String);

impl IntoResponse for NpmError {
    fn into_response(self) -> Response {
        (self.0, axum::Json(json!({ "error": self.1 }))).into_response()
    }
}

fn not_found() -> NpmError {
    NpmError(StatusCode::NOT_FOUND, "not found".into())
}

impl From<RegistryError> for NpmError {
    fn from(e: RegistryError) -> Self {
        match e {
            RegistryError::Invalid(m) => NpmError(StatusCode::BAD_REQUEST, m),
            RegistryError::TooLarge(m) => NpmError(StatusCode::PAYLOAD_TOO_LARGE, m),
            e @ RegistryError::VersionExists(_) => NpmError(StatusCode::CONFLICT, e.to_string()),
            RegistryError::Conflict(m) => NpmError(StatusCode::CONFLICT, m),
            RegistryError::Forbidden(m) => NpmError(StatusCode::FORBIDDEN, m),
            RegistryError::NotFound => not_found(),
            e @ (RegistryError::Db(_) | RegistryError::Storage(_)) => {
                tracing::error!(error = %e, "registry request failed");
                NpmError(StatusCode::INTERNAL_SERVER_ERROR, "internal error".into())
            }
        }
    }
}

impl From<crate::proxy::ProxyError> for NpmError {
    fn from(e: crate::proxy::ProxyError) -> Self {
        use crate::proxy::ProxyError;
        match e {
            ProxyError::NotFound => not_found(),
            ProxyError::Unavailable(m) => NpmError(StatusCode::SERVICE_UNAVAILABLE, m),
            ProxyError::BadGateway(m) => NpmError(StatusCode::BAD_GATEWAY, m),
            ProxyError::Db(e) => RegistryError::Db(e).into(),
            ProxyError::Storage(e) => RegistryError::Storage(e).into(),
        }
    }
}

impl From<vextrus_db::DbError> for NpmError {
    fn from(e: vextrus_db::DbError) -> Self {
        RegistryError::Db(e).into()
    }
}

/// Problem documents (from the platform's guards and extractors) become `{"error": …}`.
async fn npm_error_shape(response: Response) -> Response {
    let problem = response.headers().get(header::CONTENT_TYPE).is_some_and(|v| v == "application/problem+json");
    if !problem {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let bytes = axum::body::to_bytes(body, 64 * 1024).await.unwrap_or_default();
    let problem: Value = serde_json::from_slice(&bytes).unwrap_or_default();
    let message = match (problem["title"].as_str(), problem["detail"].as_str()) {
        (Some(title), Some(detail)) => format!("{title}: {detail}"),
        (Some(title), None) => title.to_owned(),
        _ => parts.status.canonical_reason().unwrap_or("error").to_owned(),
    };
    let body = serde_json::to_vec(&json!({"error": message, "code": problem["code"]})).unwrap_or_default();
    parts.headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(body))
}

/// Who the request is, and that it holds `P` (the guards' 401/403 otherwise).
pub(crate) async fn permitted<P: vextrus_access::Permission>(
    parts: &mut Parts,
    state: &AppState,
) -> Result<Permitted<P>, Response> {
    Permitted::<P>::from_request_parts(parts, state).await.map_err(IntoResponse::into_response)
}

async fn dispatch(State(state): State<AppState>, request: Request) -> Response {
    let (mut parts, body) = request.into_parts();
    match route(&state, &mut parts, body).await {
        Ok(response) | Err(response) => response,
    }
}

/// The path after the registry's own `/npm` prefix, removed once: a package may itself be named
/// `npm…` (`/npm/npmlog` is `npmlog`, `/npm/npm` is `npm`).
fn registry_path(path: &str) -> &str {
    path.strip_prefix("/npm").unwrap_or(path)
}

/// The path after `/npm/`, split into percent-decoded segments.
fn segments(path: &str) -> Result<Vec<String>, NpmError> {
    registry_path(path)
        .split('/')
        .filter(|s| !s.is_empty())
        .map(|s| percent_decode(s).ok_or_else(|| NpmError(StatusCode::BAD_REQUEST, "bad percent-encoding".into())))
        .collect()
}

/// A package name at the start of `segments` (`@scope%2fname`, or `@scope` then `name`), and
/// what follows it.
fn name_and_rest(segments: &[String]) -> Result<(PackageName, &[String]), NpmError> {
    let invalid = |m: String| NpmError(StatusCode::BAD_REQUEST, format!("invalid package name: {m}"));
    match segments {
        [first, second, rest @ ..] if first.starts_with('@') && !first.contains('/') => {
            Ok((PackageName::parse(&format!("{first}/{second}")).map_err(invalid)?, rest))
        }
        [first, rest @ ..] => Ok((PackageName::parse(first).map_err(invalid)?, rest)),
        [] => Err(not_found()),
    }
}

async fn route(state: &AppState, parts: &mut Parts, body: Body) -> Result<Response, Response> {
    let segments = segments(parts.uri.path()).map_err(IntoResponse::into_response)?;
    let method = parts.method.clone();
    let words: Vec<&str> = segments.iter().map(String::as_str).collect();
    match (&method, words.as_slice()) {
        (&Method::GET, ["-", "ping"]) => Ok(axum::Json(json!({})).into_response()),
        (&Method::GET, ["-", "whoami"]) => {
            let subject = Subject::from_request_parts(parts, state).await.map_err(IntoResponse::into_response)?;
            let username = subject.username.as_deref().map_or_else(|| subject.id.to_string(), str::to_owned);
            Ok(axum::Json(json!({ "username": username })).into_response())
        }
        (&Method::GET, ["-", "v1", "search"]) => search(state, parts).await,
        (&Method::GET, ["-", "npm", "v1", "keys"]) => signing_keys(state).await,
        (
            &Method::POST,
            ["-", "npm", "v1", "security", "advisories", "bulk"]
            | ["-", "npm", "v1", "security", "audits", "quick"]
            | ["-", "npm", "v1", "security", "audits"],
        ) => audit(state, parts, body).await,
        (&Method::GET, ["-", "_view", "starredByUser"]) => starred_by_user(state, parts).await,
        (&Method::PUT, ["-", "user", user, ..]) if user.starts_with("org.couchdb.user:") => {
            crate::credentials::legacy_login(state, parts, body).await
        }
        (_, ["-", "npm", "v1", "tokens", rest @ ..]) => crate::credentials::tokens(state, parts, rest, body).await,
        (&Method::POST, ["-", "v1", "login"]) => crate::credentials::web_login_start(state, parts).await,
        (&Method::GET, ["-", "v1", "login", "web", id]) => crate::credentials::web_login_page(state, id).await,
        (&Method::POST, ["-", "v1", "login", "web", id]) => {
            crate::credentials::web_login_approve(state, parts, id, body).await
        }
        (&Method::GET, ["-", "v1", "done", secret]) => crate::credentials::web_login_done(state, secret).await,
        (_, ["-", "package", ..]) => {
            let answer = dist_tags(state, parts, &segments[2..], body).await;
            forget_changed(state, &method, &segments[2..]);
            answer
        }
        (_, ["-", ..]) => Err(not_found().into_response()),
        (&Method::GET | &Method::HEAD, _) => read(state, parts, &segments).await,
        (&Method::PUT | &Method::DELETE, _) => {
            let answer = write(state, parts, &segments, body).await;
            forget_changed(state, &method, &segments);
            answer
        }
        _ => Err(NpmError(StatusCode::METHOD_NOT_ALLOWED, format!("{method} is not supported here")).into_response()),
    }
}

/// The most a `PUT /{name}` from someone who may not publish may carry (a star or unstar is a few
/// hundred bytes; a deprecation needs the publish permission anyway).
const NON_PUBLISHER_BODY: usize = 64 * 1024;

/// The most an audit request may carry (npm sends every package of the lockfile; gzip).
const AUDIT_BODY_LIMIT: usize = 32 * 1024 * 1024;

/// `npm audit`: `POST /-/npm/v1/security/advisories/bulk` (and the legacy `audits/quick`; and
/// the full `audits` that pnpm and yarn 1 send), forwarded as sent (gzip included) to the uplinks, which know the advisories. Any signed-in
/// subject may ask (anyone, with `registry.proxy_anonymous`); with no uplink configured or
/// reachable the answer is 503, with the reason.
async fn audit(state: &AppState, parts: &mut Parts, body: Body) -> Result<Response, Response> {
    let settings = state.module_ref::<RegistrySettings>();
    let anonymous = !parts.headers.contains_key(header::AUTHORIZATION);
    if !(anonymous && settings.proxy.as_ref().is_some_and(|p| p.settings().anonymous)) {
        Subject::from_request_parts(parts, state).await.map_err(IntoResponse::into_response)?;
    }
    let Some(proxy) = settings.proxy.clone() else {
        let message =
            "security audits are answered by an upstream registry, and none is configured (registry.uplink_url)";
        return Err(NpmError(StatusCode::SERVICE_UNAVAILABLE, message.into()).into_response());
    };
    let body = axum::body::to_bytes(body, AUDIT_BODY_LIMIT).await.map_err(|_| {
        NpmError(StatusCode::PAYLOAD_TOO_LARGE, format!("an audit request may carry at most {AUDIT_BODY_LIMIT} bytes"))
            .into_response()
    })?;
    let header_of = |name: header::HeaderName| parts.headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let path = registry_path(parts.uri.path()).to_owned();
    let (status, kind, answer) = proxy
        .audit(&path, header_of(header::CONTENT_TYPE).as_deref(), header_of(header::CONTENT_ENCODING).as_deref(), body)
        .await
        .map_err(|e| NpmError::from(e).into_response())?;
    let mut response = (StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY), answer).into_response();
    if let Some(kind) = kind.and_then(|k| HeaderValue::from_str(&k).ok()) {
        response.headers_mut().insert(header::CONTENT_TYPE, kind);
    }
    Ok(response)
}

/// `GET /-/npm/v1/keys`: the keys that sign what is hosted here (retired ones with their
/// `expires`), and the uplinks' keys for what is proxied. Public, as npm's is.
async fn signing_keys(state: &AppState) -> Result<Response, Response> {
    let settings = state.module_ref::<RegistrySettings>();
    let mut keys = settings.signing.as_ref().map(crate::signing::Signing::public_keys).unwrap_or_default();
    if let Some(proxy) = &settings.proxy {
        for key in proxy.upstream_keys().await {
            if !keys.iter().any(|k| k.keyid == key.keyid) {
                keys.push(key);
            }
        }
    }
    Ok(axum::Json(json!({ "keys": keys })).into_response())
}

/// After a request that may have changed a package: this instance forgets its copy at once
/// (the others when the change's announcement reaches them).
fn forget_changed(state: &AppState, method: &Method, segments: &[String]) {
    if *method != Method::GET
        && *method != Method::HEAD
        && let Ok((name, _)) = name_and_rest(segments)
    {
        state.module_ref::<RegistrySettings>().caches.forget_package(name.as_str());
    }
}

/// The organization that owns `name` (its scope, or for an unscoped name the package itself),
/// if it is the subject's: other organizations' packages are answered as not found (their
/// existence is not disclosed).
async fn own_scope(
    state: &AppState,
    db: &Database,
    subject: &Subject,
    name: &PackageName,
) -> Result<Option<TenantId>, NpmError> {
    let Some(tenant) = subject.tenant() else {
        return Ok(None);
    };
    Ok((owner_of(state, db, name).await? == Some(tenant)).then_some(tenant))
}

/// The organization that owns `name` (the owner of its scope, or of the unscoped name), found
/// from the name alone; remembered for a few seconds.
async fn owner_of(state: &AppState, db: &Database, name: &PackageName) -> Result<Option<TenantId>, NpmError> {
    let caches = &state.module_ref::<RegistrySettings>().caches;
    let key = name.scope().map_or_else(|| name.as_str().to_owned(), |scope| format!("@{scope}"));
    if let Some(owner) = caches.owner(&key) {
        return Ok(owner);
    }
    let generation = caches.generation();
    let owner = match name.scope() {
        Some(scope) => crate::scopes::owner_of(db, scope).await?,
        None => {
            let mut tx = db.system().await?;
            let owner = crate::scopes::unscoped_owner(&mut tx, name.as_str()).await?;
            tx.commit().await?;
            owner
        }
    };
    caches.remember_owner(generation, &key, owner);
    Ok(owner)
}

async fn read(state: &AppState, parts: &mut Parts, segments: &[String]) -> Result<Response, Response> {
    let (name, rest) = name_and_rest(segments).map_err(IntoResponse::into_response)?;
    let db = Database::from_ref(state);
    let Some(tenant) = reader_tenant(state, parts, &db, &name).await? else {
        return proxied(state, parts, &name, rest).await;
    };
    let settings = RegistrySettings::from_ref(state);
    let base = base_url(&settings, &parts.headers);
    match rest {
        [dash, file] if dash == "-" => tarball(&db, &settings, tenant, &name, file).await,
        [] | [_] => {
            // A packument served before and unchanged since: from memory.
            if rest.is_empty()
                && let abbreviated = wants_abbreviated(parts)
                && let Some(rendered) = settings.caches.packument(tenant, name.as_str(), abbreviated)
            {
                let response = rendered_response(&parts.headers, &rendered, &base, content_type(abbreviated));
                count_packument(abbreviated, &response);
                return Ok(response);
            }
            let generation = settings.caches.generation();
            let mut tx = db.tenant(tenant).await.map_err(|e| NpmError::from(e).into_response())?;
            let package = service::load(&mut tx, tenant, &name).await.map_err(|e| NpmError::from(e).into_response())?;
            let _ = tx.commit().await;
            let package = package.ok_or_else(|| not_found().into_response())?;
            if let [wanted] = rest {
                let version = package.tags.get(wanted).unwrap_or(wanted);
                let row = package.versions.iter().find(|v| &v.version == version);
                let row = row.ok_or_else(|| not_found().into_response())?;
                return Ok(json_response(&parts.headers, version_doc(&package, row, &base), "application/json"));
            }
            let abbreviated = wants_abbreviated(parts);
            let rendered = Rendered::new(packument(&package, crate::rendered::marker(), abbreviated));
            let key = (tenant, name.as_str(), abbreviated);
            settings.caches.remember_packument(generation, key, rendered.clone());
            let response = rendered_response(&parts.headers, &rendered, &base, content_type(abbreviated));
            count_packument(abbreviated, &response);
            Ok(response)
        }
        _ => Err(not_found().into_response()),
    }
}

/// The organization whose package the request may read. Its members (holding
/// `registry.packages.read`) read everything in their scopes; anyone else reads a package only as
/// far as its visibility allows: `public` without a token, `signed_in` with any valid one.
/// Otherwise: 404 for the signed-in (existence is not disclosed), 401 without a token.
/// `None`: no organization here owns the name (it may be proxied).
async fn reader_tenant(
    state: &AppState,
    parts: &mut Parts,
    db: &Database,
    name: &PackageName,
) -> Result<Option<TenantId>, Response> {
    let anonymous = !parts.headers.contains_key(header::AUTHORIZATION);
    let hidden = || hidden(anonymous);
    if !anonymous {
        let subject = Subject::from_request_parts(parts, state).await.map_err(IntoResponse::into_response)?;
        if let Some(tenant) = own_scope(state, db, &subject, name).await.map_err(IntoResponse::into_response)? {
            permitted::<PackagesRead>(parts, state).await?;
            return Ok(Some(tenant));
        }
    }
    let owner = owner_of(state, db, name).await.map_err(IntoResponse::into_response)?;
    let Some(owner) = owner else {
        return Ok(None);
    };
    let mut tx = db.tenant(owner).await.map_err(|e| NpmError::from(e).into_response())?;
    let row =
        crate::store::package(&mut tx, owner, name.as_str()).await.map_err(|e| NpmError::from(e).into_response())?;
    let _ = tx.commit().await;
    match row.map(|r| r.visibility) {
        Some(v) if v == "public" || (v == "signed_in" && !anonymous) => Ok(Some(owner)),
        _ => Err(hidden()),
    }
}

/// What a package one may not see answers: 401 without a token, else 404.
fn hidden(anonymous: bool) -> Response {
    if anonymous {
        NpmError(StatusCode::UNAUTHORIZED, "authentication required: run npm login".into()).into_response()
    } else {
        not_found().into_response()
    }
}

/// A name no organization here owns: from the uplinks, if one may serve it. Any signed-in
/// subject may read it (anyone, where `registry.proxy_anonymous` says so).
async fn proxied(
    state: &AppState,
    parts: &mut Parts,
    name: &PackageName,
    rest: &[String],
) -> Result<Response, Response> {
    let settings = RegistrySettings::from_ref(state);
    let anonymous = !parts.headers.contains_key(header::AUTHORIZATION);
    let Some(proxy) = settings.proxy.clone().filter(|p| p.proxies(name)) else {
        return Err(hidden(anonymous));
    };
    if !(anonymous && proxy.settings().anonymous) {
        Subject::from_request_parts(parts, state).await.map_err(IntoResponse::into_response)?;
    }
    let db = Database::from_ref(state);
    let base = base_url(&settings, &parts.headers);
    let fail = |e: crate::proxy::ProxyError| NpmError::from(e).into_response();
    match rest {
        [dash, file] if dash == "-" => {
            let object = proxy.tarball(&db, &settings.storage, name, file).await.map_err(fail)?;
            Ok(tarball_response(object))
        }
        [wanted] => {
            let entry = proxy.packument(&db, name).await.map_err(fail)?;
            let doc = entry.doc().map_err(fail)?;
            let version =
                crate::proxy::version_doc(&doc, name, &base, wanted).ok_or_else(|| not_found().into_response())?;
            Ok(json_response(&parts.headers, version, "application/json"))
        }
        [] => {
            let entry = proxy.packument(&db, name).await.map_err(fail)?;
            let abbreviated = wants_abbreviated(parts);
            let rendered = entry.rendered(name, abbreviated).map_err(fail)?;
            let response = rendered_response(&parts.headers, &rendered, &base, content_type(abbreviated));
            count_packument(abbreviated, &response);
            Ok(response)
        }
        _ => Err(not_found().into_response()),
    }
}

fn wants_abbreviated(parts: &Parts) -> bool {
    let write = parts.uri.query().is_some_and(|q| q.split('&').any(|p| p == "write=true"));
    let accept = parts.headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).unwrap_or("");
    !write && accept.contains("application/vnd.npm.install-v1+json")
}

fn content_type(abbreviated: bool) -> &'static str {
    if abbreviated { "application/vnd.npm.install-v1+json" } else { "application/json" }
}

fn count_packument(abbreviated: bool, response: &Response) {
    let format = if abbreviated { "abbreviated" } else { "full" };
    let status = if response.status() == StatusCode::NOT_MODIFIED { "304" } else { "200" };
    metrics::counter!("vextrus_registry_packument_responses_total", "format" => format, "status" => status)
        .increment(1);
}

async fn tarball(
    db: &Database,
    settings: &RegistrySettings,
    tenant: TenantId,
    name: &PackageName,
    file: &str,
) -> Result<Response, Response> {
    let key = match settings.caches.tarball(tenant, name.as_str(), file) {
        Some(key) => key,
        None => {
            let generation = settings.caches.generation();
            let found =
                service::tarball_of(db, tenant, name, file).await.map_err(|e| NpmError::from(e).into_response())?;
            let (key, _) = found.ok_or_else(|| not_found().into_response())?;
            settings.caches.remember_tarball(generation, tenant, name.as_str(), file, key.clone());
            key
        }
    };
    let object = settings
        .storage
        .get(&key)
        .await
        .map_err(|e| NpmError::from(RegistryError::Storage(e)).into_response())?
        .ok_or_else(|| {
            tracing::error!(key, "a published tarball is missing from object storage");
            NpmError(StatusCode::INTERNAL_SERVER_ERROR, "the tarball is missing from storage".into()).into_response()
        })?;
    Ok(tarball_response(object))
}

fn tarball_response(object: vextrus_storage::Object) -> Response {
    metrics::counter!("vextrus_registry_downloads_total").increment(1);
    let mut response =
        Body::from_stream(object.bytes.map(|chunk| chunk.map_err(std::io::Error::other))).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/octet-stream"));
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(object.size));
    // Versions are immutable: a tarball's bytes never change. `private`: an answer to an
    // authenticated request must not land in a shared cache (another client would get it).
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("private, max-age=31536000, immutable"));
    response
}

async fn write(state: &AppState, parts: &mut Parts, segments: &[String], mut body: Body) -> Result<Response, Response> {
    let (name, rest) = name_and_rest(segments).map_err(IntoResponse::into_response)?;
    let db = Database::from_ref(state);
    let settings = RegistrySettings::from_ref(state);
    // Who asks first (401 before any body is read); what they may do depends on the document.
    let subject = Subject::from_request_parts(parts, state).await.map_err(IntoResponse::into_response)?;
    let document = if parts.method == Method::PUT && rest.is_empty() {
        // Only a publisher may send a tarball: anyone else (a star, at most) is held to a small
        // body, decided before a byte of it is read.
        let may_publish = vextrus_access::Access::from_ref(state).check(&subject, PackagesPublish::KEY).is_ok();
        // Base64 makes the body a third larger than the tarball; JSON around it is small.
        let limit = if may_publish { settings.max_tarball_bytes / 3 * 4 + 1024 * 1024 } else { NON_PUBLISHER_BODY };
        let bytes = axum::body::to_bytes(std::mem::take(&mut body), limit).await.map_err(|_| {
            if !may_publish {
                let message = format!("you cannot publish {name}: that needs the permission {}", PackagesPublish::KEY);
                return NpmError(StatusCode::FORBIDDEN, message).into_response();
            }
            let message = format!("the publish is larger than the {} byte limit", settings.max_tarball_bytes);
            NpmError(StatusCode::PAYLOAD_TOO_LARGE, message).into_response()
        })?;
        Some(parse_document(&bytes).map_err(IntoResponse::into_response)?)
    } else {
        None
    };
    let starring = document.as_ref().is_some_and(|d| {
        d.get("users").is_some()
            && d.get("versions").is_none()
            && d.get("_attachments").and_then(Value::as_object).is_none_or(|a| a.is_empty())
    });
    if starring {
        // A star is a reader's gesture.
        permitted::<PackagesRead>(parts, state).await?;
        let tenant = own_scope(state, &db, &subject, &name)
            .await
            .map_err(IntoResponse::into_response)?
            .ok_or_else(|| not_found().into_response())?;
        let username = subject.username.as_deref().unwrap_or_default().to_owned();
        let doc = document.unwrap_or_default();
        service::star(&db, tenant, &name, &doc, &username, (&subject).into())
            .await
            .map_err(|e| NpmError::from(e).into_response())?;
        return Ok((StatusCode::CREATED, axum::Json(json!({"ok": "package changed", "success": true}))).into_response());
    }
    let permitted = permitted::<PackagesPublish>(parts, state).await?;
    let tenant = match own_scope(state, &db, permitted.subject(), &name).await.map_err(IntoResponse::into_response)? {
        Some(tenant) => tenant,
        // A new unscoped name goes to the first organization that publishes it.
        None if name.scope().is_none()
            && settings.allow_unscoped
            && owner_of(state, &db, &name).await.map_err(IntoResponse::into_response)?.is_none() =>
        {
            permitted.subject().tenant().ok_or_else(|| not_found().into_response())?
        }
        None => {
            let message = match name.scope() {
                Some(scope) => format!("you cannot publish {name}: @{scope} is not your organization's scope"),
                None if settings.allow_unscoped => format!("you cannot publish {name}: another organization owns it"),
                None => format!(
                    "you cannot publish {name}: this registry takes only scoped packages (@<your organization>/…)"
                ),
            };
            return Err(NpmError(StatusCode::FORBIDDEN, message).into_response());
        }
    };
    let allowed = service::Allowed {
        manage: vextrus_access::Access::from_ref(state).check(permitted.subject(), PackagesManage::KEY).is_ok(),
    };
    let actor: vextrus_audit::Actor = permitted.subject().into();
    let fail = |e: RegistryError| NpmError::from(e).into_response();
    match (&parts.method, rest) {
        (&Method::PUT, []) => {}
        (&Method::PUT, [dash, rev]) if dash == "-rev" => {
            let doc = read_json(body, 16 * 1024 * 1024).await?;
            service::update(&db, tenant, &name, &doc, service::Edit::Unpublish { rev }, allowed, actor)
                .await
                .map_err(fail)?;
            return Ok((StatusCode::CREATED, axum::Json(json!({"ok": "package changed"}))).into_response());
        }
        (&Method::DELETE, [dash, rev]) if dash == "-rev" => {
            service::unpublish_package(&db, tenant, &name, rev, allowed, actor).await.map_err(fail)?;
            return Ok((StatusCode::CREATED, axum::Json(json!({"ok": "package removed"}))).into_response());
        }
        // npm removes the version from the document first; this only confirms it is gone.
        (&Method::DELETE, [dash, file, rev_word, _]) if dash == "-" && rev_word == "-rev" => {
            let still_there = service::tarball_of(&db, tenant, &name, file).await.map_err(|e| fail(e.into()))?;
            if still_there.is_some() {
                let message = "unpublish the version first (npm unpublish does): its tarball is still published";
                return Err(NpmError(StatusCode::CONFLICT, message.into()).into_response());
            }
            return Ok((StatusCode::CREATED, axum::Json(json!({"ok": "tarball removed"}))).into_response());
        }
        _ => return Err(not_found().into_response()),
    }
    let doc = document.unwrap_or_default();
    let has_tarball = doc.get("_attachments").and_then(Value::as_object).is_some_and(|a| !a.is_empty());
    if !has_tarball {
        // Deprecation (or undeprecation) of versions listed in the document.
        service::update(&db, tenant, &name, &doc, service::Edit::Deprecate, allowed, actor).await.map_err(fail)?;
        return Ok((StatusCode::CREATED, axum::Json(json!({"ok": "package changed", "success": true}))).into_response());
    }
    let signing = settings.signing.as_ref();
    let published =
        service::publish(&db, &settings.storage, signing, tenant, &name, doc, settings.max_tarball_bytes, actor)
            .await
            .map_err(|e| NpmError::from(e).into_response())?;
    tracing::info!(package = %name, version = %published.version, bytes = published.size, "package published");
    if published.created_package && !settings.access.is_empty() {
        // A new package is readable as the rules for its name say (until `npm access` chooses).
        crate::access::apply(&db, &settings.access, Some((tenant, name.as_str())))
            .await
            .map_err(|e| NpmError::from(e).into_response())?;
    }
    let ok = if published.created_package { "created new package" } else { "package changed" };
    Ok((StatusCode::CREATED, axum::Json(json!({"ok": ok, "success": true}))).into_response())
}

/// `npm search`: packages the caller may read whose name, description or keywords contain the
/// text — their organization's, and other organizations' open to them (`public`; `signed_in`
/// too when signed in) — then, with `registry.uplink_search`, the uplinks' results for names
/// not hosted here. Anonymous searches are answered where anonymous reads are
/// (`registry.proxy_anonymous`, or a `[[registry.access]]` rule with `read = "public"`), with
/// public packages only.
async fn search(state: &AppState, parts: &mut Parts) -> Result<Response, Response> {
    let settings = RegistrySettings::from_ref(state);
    let anonymous = !parts.headers.contains_key(header::AUTHORIZATION);
    let anyone_reads = settings.access.any_public() || settings.proxy.as_ref().is_some_and(|p| p.settings().anonymous);
    let tenant = if anonymous && anyone_reads {
        None
    } else {
        permitted::<PackagesRead>(parts, state).await?.subject().tenant()
    };
    let open: &[&str] = if anonymous { &["public"] } else { &["public", "signed_in"] };
    let mut text = String::new();
    let (mut size, mut from) = (20i64, 0i64);
    for (key, value) in url::form_urlencoded::parse(parts.uri.query().unwrap_or("").as_bytes()) {
        match key.as_ref() {
            "text" => text = value.into_owned(),
            "size" => size = value.parse::<i64>().unwrap_or(20).clamp(1, 250),
            "from" => from = value.parse::<i64>().unwrap_or(0).clamp(0, 10_000),
            _ => {}
        }
    }
    let db = Database::from_ref(state);
    let mut tx = db.system().await.map_err(|e| NpmError::from(e).into_response())?;
    let (hits, mut total) = crate::store::search(&mut tx, tenant, open, text.trim(), size, from)
        .await
        .map_err(|e| NpmError::from(e).into_response())?;
    let _ = tx.commit().await;
    let mut objects: Vec<Value> = hits
        .iter()
        .map(|hit| {
            let people: Vec<Value> = hit.publisher.iter().map(|u| json!({"username": u})).collect();
            json!({
                "package": {
                    "name": hit.name,
                    "scope": hit.name.strip_prefix('@').and_then(|n| n.split_once('/')).map_or("unscoped", |(s, _)| s),
                    "version": hit.version,
                    "description": hit.manifest.get("description"),
                    "keywords": hit.manifest.get("keywords"),
                    "date": hit.modified_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                    "links": {},
                    "publisher": people.first(),
                    "maintainers": people,
                },
                "score": {"final": 1.0, "detail": {"quality": 1.0, "popularity": 1.0, "maintenance": 1.0}},
                "searchScore": 1.0,
            })
        })
        .collect();
    // The uplinks' results follow ours, on the first page only (their paging is theirs).
    if let Some(proxy) =
        settings.proxy.as_ref().filter(|_| settings.uplink_search && from == 0 && !text.trim().is_empty())
        && let Some((theirs, their_total)) = proxy.search(text.trim(), size).await
    {
        let ours: std::collections::HashSet<&str> = hits.iter().map(|h| h.name.as_str()).collect();
        let room = usize::try_from(size).unwrap_or(0).saturating_sub(objects.len());
        let added: Vec<Value> = theirs
            .into_iter()
            .filter(|o| o["package"]["name"].as_str().is_some_and(|n| !ours.contains(n)))
            .take(room)
            .collect();
        total += their_total;
        objects.extend(added);
    }
    let time = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    Ok(axum::Json(json!({"objects": objects, "total": total, "time": time})).into_response())
}

/// The most packages `npm stars` lists (a star is a row anyone signed in can add).
const MAX_STARS_LISTED: i64 = 10_000;

/// `npm stars [user]`: `GET /-/_view/starredByUser?key="<user>"`, in the CouchDB view shape npm
/// reads (`rows[].value` is a package name). Only stars on packages the caller may read: their
/// own organization's, and other organizations' that are open to the signed-in or public.
async fn starred_by_user(state: &AppState, parts: &mut Parts) -> Result<Response, Response> {
    let permitted = permitted::<PackagesRead>(parts, state).await?;
    let key = url::form_urlencoded::parse(parts.uri.query().unwrap_or("").as_bytes())
        .find(|(k, _)| k == "key")
        .map(|(_, v)| v.into_owned())
        .ok_or_else(|| {
            NpmError(StatusCode::BAD_REQUEST, "name the user: ?key=\"<username>\"".into()).into_response()
        })?;
    // CouchDB view keys are JSON: `"rahim"`; a bare name is taken as it is.
    let user = serde_json::from_str::<String>(&key).unwrap_or(key);
    let db = Database::from_ref(state);
    let mut tx = db.system().await.map_err(|e| NpmError::from(e).into_response())?;
    let names = crate::store::starred_by(&mut tx, permitted.subject().tenant(), user.trim(), MAX_STARS_LISTED).await;
    let names = names.map_err(|e| NpmError::from(e).into_response())?;
    let _ = tx.commit().await;
    let rows: Vec<Value> = names.iter().map(|name| json!({"key": user, "value": name})).collect();
    Ok(axum::Json(json!({"total_rows": rows.len(), "offset": 0, "rows": rows})).into_response())
}

pub(crate) async fn read_json(body: Body, limit: usize) -> Result<Value, Response> {
    let bytes = axum::body::to_bytes(body, limit)
        .await
        .map_err(|_| NpmError(StatusCode::PAYLOAD_TOO_LARGE, "the document is too large".into()).into_response())?;
    parse_document(&bytes).map_err(IntoResponse::into_response)
}

/// A JSON document from a client: no NUL anywhere in it (PostgreSQL stores none).
fn parse_document(bytes: &[u8]) -> Result<Value, NpmError> {
    let doc: Value = serde_json::from_slice(bytes)
        .map_err(|e| NpmError(StatusCode::BAD_REQUEST, format!("the body is not JSON: {e}")))?;
    if vextrus_server::text::json_may_hold_nul(bytes)
        && let Some(path) = vextrus_server::text::nul_in_json(&doc)
    {
        let message = format!("the document holds a NUL character at {}", if path.is_empty() { "." } else { &path });
        return Err(NpmError(StatusCode::BAD_REQUEST, message));
    }
    Ok(doc)
}

/// `/-/package/{name}/dist-tags[/{tag}]`.
async fn dist_tags(state: &AppState, parts: &mut Parts, segments: &[String], body: Body) -> Result<Response, Response> {
    let (name, rest) = name_and_rest(segments).map_err(IntoResponse::into_response)?;
    let db = Database::from_ref(state);
    let method = parts.method.clone();
    // A package's maintainers (whoever may publish it) tag it, as on npm; who may read it, and
    // anything else, is the managers'.
    let maintaining = matches!(rest, [dist, _] if dist == "dist-tags");
    let subject = match method {
        Method::GET => permitted::<PackagesRead>(parts, state).await?.subject().clone(),
        _ if maintaining => permitted::<PackagesPublish>(parts, state).await?.subject().clone(),
        _ => permitted::<PackagesManage>(parts, state).await?.subject().clone(),
    };
    if let [access] = rest
        && method == Method::POST
        && access == "access"
    {
        // `npm access set status=public|private`, and `signed_in` for every platform user.
        let tenant = own_scope(state, &db, &subject, &name)
            .await
            .map_err(IntoResponse::into_response)?
            .ok_or_else(|| not_found().into_response())?;
        let doc = read_json(body, 16 * 1024).await?;
        let Some(access) = doc["access"].as_str() else {
            return Err(NpmError(
                StatusCode::BAD_REQUEST,
                "send {\"access\": \"public\"|\"restricted\"|\"signed_in\"}".into(),
            )
            .into_response());
        };
        service::set_visibility(&db, tenant, &name, access, (&subject).into())
            .await
            .map_err(|e| NpmError::from(e).into_response())?;
        return Ok(StatusCode::OK.into_response());
    }
    let tenant = own_scope(state, &db, &subject, &name)
        .await
        .map_err(IntoResponse::into_response)?
        .ok_or_else(|| not_found().into_response())?;
    let fail = |e: RegistryError| NpmError::from(e).into_response();
    match (method, rest) {
        (Method::GET, [word]) if word == "visibility" => {
            let mut tx = db.tenant(tenant).await.map_err(|e| fail(e.into()))?;
            let row = crate::store::package(&mut tx, tenant, name.as_str()).await.map_err(|e| fail(e.into()))?;
            let _ = tx.commit().await;
            let row = row.ok_or_else(|| not_found().into_response())?;
            let answer = json!({"public": row.visibility == "public", "visibility": row.visibility});
            Ok(axum::Json(answer).into_response())
        }
        (Method::GET, [dist]) if dist == "dist-tags" => {
            let mut tx = db.tenant(tenant).await.map_err(|e| fail(e.into()))?;
            let package = service::load(&mut tx, tenant, &name).await.map_err(|e| fail(e.into()))?;
            let _ = tx.commit().await;
            let package = package.ok_or_else(|| not_found().into_response())?;
            Ok(serialized_response(&parts.headers, &package.tags, "application/json"))
        }
        (Method::PUT, [dist, tag]) if dist == "dist-tags" => {
            let bytes = axum::body::to_bytes(body, 1024).await.unwrap_or_default();
            let version: String = serde_json::from_slice(&bytes).map_err(|_| {
                NpmError(StatusCode::BAD_REQUEST, "the body must be a JSON string: the version".into()).into_response()
            })?;
            service::set_tag(&db, tenant, &name, tag, &version, (&subject).into()).await.map_err(fail)?;
            Ok((StatusCode::CREATED, axum::Json(json!({"ok": "package tagged"}))).into_response())
        }
        (Method::DELETE, [dist, tag]) if dist == "dist-tags" => {
            service::remove_tag(&db, tenant, &name, tag, (&subject).into()).await.map_err(fail)?;
            Ok((StatusCode::CREATED, axum::Json(json!({"ok": "tag removed"}))).into_response())
        }
        _ => Err(not_found().into_response()),
    }
}

/// The URL clients reach the platform at: configured, or as the request says — `Host`, or what
/// a trusted proxy in front forwards. A host that is not a plain `host[:port]` is not used.
pub(crate) fn base_url(settings: &RegistrySettings, headers: &HeaderMap) -> String {
    if let Some(url) = &settings.public_url {
        return url.trim_end_matches('/').to_owned();
    }
    let header =
        |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(|v| v.split(',').next().unwrap_or(v).trim());
    let forwarded = |name: &str| if settings.trust_forwarded { header(name) } else { None };
    let proto = forwarded("x-forwarded-proto").filter(|p| matches!(*p, "http" | "https")).unwrap_or("http");
    let host =
        forwarded("x-forwarded-host").or_else(|| header("host")).filter(|h| plain_authority(h)).unwrap_or("localhost");
    format!("{proto}://{host}")
}

/// `host[:port]` in the characters a host name, an IPv4 or a bracketed IPv6 address uses
/// (nothing that could end a JSON string or start a path).
fn plain_authority(host: &str) -> bool {
    !host.is_empty()
        && host.len() <= 255
        && host.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']'))
}

fn tarball_url(base: &str, name: &PackageName, version: &str) -> String {
    format!("{base}/npm/{name}/-/{}", name.tarball_file(version))
}

/// A version's manifest as served: as published, with `dist` completed and `deprecated`.
fn version_doc(package: &Package, row: &crate::store::VersionRow, base: &str) -> Value {
    let mut manifest = row.manifest.as_object().cloned().unwrap_or_default();
    let mut dist = manifest.get("dist").and_then(Value::as_object).cloned().unwrap_or_default();
    dist.insert("integrity".into(), json!(row.integrity));
    dist.insert("shasum".into(), json!(row.shasum));
    dist.insert("tarball".into(), json!(tarball_url(base, &package.name, &row.version)));
    if let Some(signatures) = &row.signatures {
        dist.insert("signatures".into(), signatures.clone());
    }
    manifest.insert("dist".into(), Value::Object(dist));
    manifest.insert("_id".into(), json!(format!("{}@{}", package.name, row.version)));
    if let Some(deprecated) = &row.deprecated {
        manifest.insert("deprecated".into(), json!(deprecated));
    }
    Value::Object(manifest)
}

/// The fields an installer needs (npm's abbreviated metadata).
const ABBREVIATED: &[&str] = &[
    "name",
    "version",
    "deprecated",
    "dependencies",
    "optionalDependencies",
    "devDependencies",
    "bundleDependencies",
    "bundledDependencies",
    "peerDependencies",
    "peerDependenciesMeta",
    "acceptDependencies",
    "bin",
    "directories",
    "dist",
    "engines",
    "cpu",
    "os",
    "libc",
    "funding",
    "_hasShrinkwrap",
    "hasInstallScript",
];

/// A version's manifest cut to what installers read.
pub(crate) fn abbreviate(manifest: &Value) -> Value {
    let Value::Object(full) = manifest else { return manifest.clone() };
    let scripts = full.get("scripts").and_then(Value::as_object);
    let install_script =
        scripts.is_some_and(|s| ["preinstall", "install", "postinstall"].iter().any(|k| s.contains_key(*k)));
    let mut short: Map<String, Value> =
        full.iter().filter(|(k, _)| ABBREVIATED.contains(&k.as_str())).map(|(k, v)| (k.clone(), v.clone())).collect();
    let stored = full.get("hasInstallScript").and_then(Value::as_bool);
    short.insert("hasInstallScript".into(), json!(install_script || stored == Some(true)));
    Value::Object(short)
}

/// A packument as npm's registry lays it out (`dist-tags` in the registry's order, which a JSON
/// value would sort), serialized.
fn packument(package: &Package, base: &str, abbreviated: bool) -> Vec<u8> {
    #[derive(serde::Serialize)]
    struct Abbreviated<'a> {
        name: &'a str,
        modified: Value,
        #[serde(rename = "dist-tags")]
        dist_tags: &'a crate::model::Tags,
        versions: Map<String, Value>,
        time: Map<String, Value>,
    }
    #[derive(serde::Serialize)]
    struct Full<'a> {
        #[serde(rename = "_id")]
        id: &'a str,
        #[serde(rename = "_rev")]
        rev: String,
        name: &'a str,
        description: Value,
        #[serde(rename = "dist-tags")]
        dist_tags: &'a crate::model::Tags,
        versions: Map<String, Value>,
        time: Map<String, Value>,
        modified: Value,
        readme: Value,
        users: Map<String, Value>,
    }
    let time_of = |t: chrono::DateTime<chrono::Utc>| json!(t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true));
    let mut versions = Map::new();
    let mut time = Map::new();
    time.insert("created".into(), time_of(package.row.created_at));
    time.insert("modified".into(), time_of(package.row.modified_at));
    for row in &package.versions {
        let mut doc = version_doc(package, row, base);
        if abbreviated {
            doc = abbreviate(&doc);
        }
        versions.insert(row.version.clone(), doc);
        time.insert(row.version.clone(), time_of(row.published_at));
    }
    let modified = time_of(package.row.modified_at);
    let name = package.name.as_str();
    let serialized = if abbreviated {
        serde_json::to_vec(&Abbreviated { name, modified, dist_tags: &package.tags, versions, time })
    } else {
        let latest = package.tags.get("latest").and_then(|v| package.versions.iter().find(|r| &r.version == v));
        let description = latest.and_then(|r| r.manifest.get("description").cloned()).unwrap_or(Value::Null);
        let readme = latest.and_then(|r| r.manifest.get("readme").cloned()).unwrap_or(json!(""));
        serde_json::to_vec(&Full {
            id: name,
            rev: service::rev_of(package.row.rev),
            name,
            description,
            dist_tags: &package.tags,
            versions,
            time,
            modified,
            readme,
            users: package.stars.iter().map(|u| (u.clone(), json!(true))).collect(),
        })
    };
    serialized.unwrap_or_default()
}

/// A weak ETag over a body's bytes.
pub(crate) fn weak_etag(body: &[u8]) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, body);
    format!("W/\"{}\"", crate::service::hex(&digest.as_ref()[..16]))
}

/// A JSON answer with a weak ETag over its bytes; 304 when the client has it.
fn json_response(request: &HeaderMap, doc: Value, content_type: &'static str) -> Response {
    serialized_response(request, &doc, content_type)
}

/// [`json_response`] for anything serializable (in its own field order).
fn serialized_response(request: &HeaderMap, doc: &impl serde::Serialize, content_type: &'static str) -> Response {
    let body = Bytes::from(serde_json::to_vec(doc).unwrap_or_default());
    let etag = weak_etag(&body);
    bytes_response(request, body, etag, content_type)
}

/// A packument rendered once, as served from `base`; 304 when the client has it.
fn rendered_response(request: &HeaderMap, rendered: &Rendered, base: &str, content_type: &'static str) -> Response {
    bytes_response(request, rendered.body(base), rendered.etag(base), content_type)
}

/// A serialized JSON answer and its ETag; 304 when the client has it.
fn bytes_response(request: &HeaderMap, body: Bytes, etag: String, content_type: &'static str) -> Response {
    let matches = request
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim().trim_start_matches("W/") == etag.trim_start_matches("W/")));
    let etag_value = HeaderValue::from_str(&etag).unwrap_or(HeaderValue::from_static("W/\"0\""));
    if matches {
        return (StatusCode::NOT_MODIFIED, [(header::ETAG, etag_value)]).into_response();
    }
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::ETAG, etag_value);
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("private, no-cache"));
    headers.insert(header::VARY, HeaderValue::from_static("Accept, Authorization"));
    response
}

fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3)?;
            if !hex.iter().all(u8::is_ascii_hexdigit) {
                return None;
            }
            out.push(u8::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scoped_names_are_read_in_every_spelling() {
        for path in ["/npm/@vextrus%2fkernel", "/npm/@vextrus%2Fkernel", "/npm/@vextrus/kernel"] {
            let segments = segments(path).unwrap();
            let (name, rest) = name_and_rest(&segments).unwrap();
            assert_eq!((name.as_str(), rest.len()), ("@vextrus/kernel", 0), "{path}");
        }
        for path in ["/npm/@vextrus/kernel/-/kernel-1.0.0.tgz", "/npm/@vextrus%2fkernel/-/kernel-1.0.0.tgz"] {
            let segments = segments(path).unwrap();
            let (name, rest) = name_and_rest(&segments).unwrap();
            assert_eq!(
                (name.as_str(), rest),
                ("@vextrus/kernel", &["-".to_owned(), "kernel-1.0.0.tgz".to_owned()][..])
            );
        }
        assert!(segments("/npm/%zz").is_err());
        assert!(segments("/npm/%+1").is_err());
    }

    #[test]
    fn names_that_begin_like_the_registry_path_are_themselves() {
        for name in ["npm", "npmlog", "npm-run-all", "npmnpm", "-", "-foo", "package", "v1", "npm%2dx"] {
            let path = format!("/npm/{name}");
            let segments = segments(&path).unwrap();
            let decoded = percent_decode(name).unwrap();
            assert_eq!(segments, [decoded], "{path}");
        }
        assert_eq!(segments("/npm/npm/-/npm-10.0.0.tgz").unwrap(), ["npm", "-", "npm-10.0.0.tgz"]);
        assert_eq!(segments("/npm/@npm/npmlog").unwrap(), ["@npm", "npmlog"]);
        assert!(segments("/npm").unwrap().is_empty());
    }
}

//! `POST /oauth/token` (RFC 6749). Errors here are OAuth's own JSON (`{"error": …}`), which OAuth
//! clients expect, not problem details.

use axum::extract::State;
use axum::extract::rejection::FormRejection;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use vextrus_db::Database;
use vextrus_server::ApiError;

use vextrus_server::ClientAddr;

use crate::IdentityConfig;
use crate::auth::Auth;
use crate::throttle::{self, ThrottleKeys};
use crate::tokens::{self, GrantError, PasswordLogin, Refreshed, TokenResponse};

#[derive(Debug, Deserialize, ToSchema)]
pub struct TokenRequest {
    /// `password`, `refresh_token` or `client_credentials`.
    pub grant_type: Option<String>,
    /// Email address or username (password grant).
    pub username: Option<String>,
    pub password: Option<String>,
    pub refresh_token: Option<String>,
    /// Organization slug or id to make active; default: the only or most recently used one
    /// (password), the session's current one (refresh). `platform` for operators.
    pub org: Option<String>,
    /// Password grant: the current TOTP code (or a recovery code) when the account has a
    /// second factor; without it such an account gets `mfa_required`.
    pub otp: Option<String>,
    /// Service account (client credentials grant); or send HTTP Basic authentication.
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
}

/// RFC 6749 §5.2.
#[derive(Debug, Serialize, ToSchema)]
pub struct OAuthError {
    /// `invalid_request`, `invalid_grant`, `invalid_client`, `unsupported_grant_type`,
    /// `mfa_required`, `slow_down` (throttled; see `Retry-After`).
    pub error: &'static str,
    pub error_description: String,
}

fn oauth_error(error: &'static str, description: impl Into<String>) -> Response {
    no_store(StatusCode::BAD_REQUEST, axum::Json(OAuthError { error, error_description: description.into() }))
}

/// RFC 6749 §5.2: `invalid_client` is a 401 with a Basic challenge.
fn invalid_client(description: &str) -> Response {
    let mut response = no_store(
        StatusCode::UNAUTHORIZED,
        axum::Json(OAuthError { error: "invalid_client", error_description: description.to_owned() }),
    );
    response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Basic realm=\"vextrus\""));
    response
}

/// Client id and secret from HTTP Basic authentication (RFC 6749 §2.3.1), if sent.
fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    use base64::Engine as _;
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let encoded = value.strip_prefix("Basic ").or_else(|| value.strip_prefix("basic "))?;
    let decoded = base64::engine::general_purpose::STANDARD.decode(encoded.trim()).ok()?;
    let (id, secret) = std::str::from_utf8(&decoded).ok()?.split_once(':')?;
    Some((id.to_owned(), secret.to_owned()))
}

fn no_store(status: StatusCode, body: impl IntoResponse) -> Response {
    let mut response = (status, body).into_response();
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response.headers_mut().insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    response
}

/// Issue tokens (OAuth 2.0 token endpoint).
///
/// Form-encoded. `grant_type=password` with `username` (email or username), `password` and
/// optional `org`; `grant_type=refresh_token` with `refresh_token` and optional `org` (switches
/// the active organization). Refresh tokens rotate on every use; presenting a spent one revokes
/// the whole session. `grant_type=client_credentials` for service accounts, with `client_id`
/// and `client_secret` in the form or as HTTP Basic authentication; no refresh token.
#[utoipa::path(post, path = "/oauth/token", tag = "identity",
    request_body(content = TokenRequest, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, body = TokenResponse),
        (status = 400, description = "RFC 6749 error: `invalid_request`, `invalid_grant`, `unsupported_grant_type`", body = OAuthError),
        (status = 401, description = "RFC 6749 `invalid_client`", body = OAuthError),
        (status = 429, description = "`slow_down`: too many failed sign-ins; see `Retry-After`", body = OAuthError),
    ))]
pub async fn token(
    State(db): State<Database>,
    State(auth): State<Auth>,
    State(config): State<IdentityConfig>,
    client: ClientAddr,
    headers: HeaderMap,
    form: Result<axum::Form<TokenRequest>, FormRejection>,
) -> Result<Response, ApiError> {
    let axum::Form(request) = match form {
        Ok(form) => form,
        Err(rejection) => {
            return Ok(oauth_error("invalid_request", format!("Send a form-encoded body: {}", rejection.body_text())));
        }
    };
    let fields = [&request.grant_type, &request.username, &request.password, &request.refresh_token];
    let more = [&request.org, &request.otp, &request.client_id, &request.client_secret];
    if fields.iter().chain(more.iter()).any(|f| f.as_deref().is_some_and(|v| v.contains('\0'))) {
        return Ok(oauth_error("invalid_request", "A field contains a NUL character."));
    }
    let user_agent =
        headers.get(header::USER_AGENT).and_then(|v| v.to_str().ok()).map(|s| s.chars().take(300).collect::<String>());
    // A password attempt is counted (in its own transaction) before anything else holds a
    // connection: concurrent guesses queue on the counter, not on the pool.
    let password_attempt = match (request.grant_type.as_deref(), request.username.as_deref()) {
        (Some("password"), Some(login)) if request.password.is_some() => {
            let keys = ThrottleKeys::new(login, client.ip(config.trust_forwarded_for));
            if let Some(seconds) = throttle::attempt(&db, &keys).await? {
                return Ok(slow_down(seconds));
            }
            Some(keys)
        }
        _ => None,
    };
    let mut tx = db.system().await?;
    let result = match request.grant_type.as_deref() {
        Some("password") => {
            let (Some(login), Some(password), Some(keys)) =
                (request.username.as_deref(), request.password.as_deref(), password_attempt)
            else {
                return Ok(oauth_error("invalid_request", "The password grant needs username and password."));
            };
            let login = PasswordLogin {
                login,
                password,
                org: request.org.as_deref(),
                otp: request.otp.as_deref(),
                user_agent: user_agent.as_deref(),
            };
            let result = tokens::password_grant(&mut tx, &auth, login).await;
            // The attempt was counted before the password was checked; failures are recorded in
            // their own transaction (the grant's is rolled back).
            match &result {
                Err(GrantError::InvalidGrant(description)) => {
                    drop(tx);
                    tokens::record_login_failure(&db, description).await?;
                    return Ok(oauth_error("invalid_grant", *description));
                }
                Ok(_) => throttle::succeeded(&mut tx, &keys).await?,
                Err(GrantError::MfaRequired) => throttle::refund(&db, &keys).await?,
                Err(_) => {}
            }
            result
        }
        Some("refresh_token") => {
            let Some(refresh_token) = request.refresh_token.as_deref() else {
                return Ok(oauth_error("invalid_request", "The refresh_token grant needs refresh_token."));
            };
            match tokens::refresh_grant(&mut tx, &auth, refresh_token, request.org.as_deref()).await {
                Ok(Refreshed::Issued(tokens)) => Ok(tokens),
                Ok(Refreshed::ReuseDetected) => {
                    tx.commit().await?;
                    return Ok(oauth_error(
                        "invalid_grant",
                        "The refresh token was already used; the session has been revoked. Sign in again.",
                    ));
                }
                Err(e) => Err(e),
            }
        }
        Some("client_credentials") => {
            let from_form = request.client_id.clone().zip(request.client_secret.clone());
            let Some((client_id, client_secret)) = basic_credentials(&headers).or(from_form) else {
                return Ok(oauth_error(
                    "invalid_request",
                    "The client_credentials grant needs client_id and client_secret (form or HTTP Basic).",
                ));
            };
            tokens::client_credentials_grant(&mut tx, &auth, &client_id, &client_secret).await
        }
        Some(other) => {
            return Ok(oauth_error("unsupported_grant_type", format!("Grant type {other:?} is not supported.")));
        }
        None => return Ok(oauth_error("invalid_request", "grant_type is required.")),
    };
    match result {
        Ok(tokens) => {
            tx.commit().await?;
            Ok(no_store(StatusCode::OK, axum::Json(tokens)))
        }
        Err(GrantError::Db(e)) => Err(e.into()),
        Err(GrantError::Keys(e)) => Err(ApiError::internal(e)),
        Err(GrantError::Identity(e)) => Err(e.into()),
        Err(GrantError::InvalidGrant(description)) => Ok(oauth_error("invalid_grant", description)),
        Err(GrantError::InvalidClient(description)) => Ok(invalid_client(description)),
        Err(GrantError::MfaRequired) => Ok(oauth_error(
            "mfa_required",
            "This account has a second factor: send the current code from the authenticator app as `otp`.",
        )),
    }
}

/// Throttled: 429 with `Retry-After`, and the error name OAuth uses for "slow down".
fn slow_down(seconds: i64) -> Response {
    let mut response = no_store(
        StatusCode::TOO_MANY_REQUESTS,
        axum::Json(OAuthError {
            error: "slow_down",
            error_description: format!("Too many failed sign-ins; try again in {seconds} seconds."),
        }),
    );
    if let Ok(value) = HeaderValue::from_str(&seconds.to_string()) {
        response.headers_mut().insert(header::RETRY_AFTER, value);
    }
    response
}

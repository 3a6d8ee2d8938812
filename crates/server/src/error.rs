//! RFC 9457 problem details. Every error the platform answers with is an [`ApiError`]: a status,
//! a stable machine `code` (clients switch on it; never reworded), a human `title`/`detail`, and
//! for bad input the offending fields. A 500 says nothing about its cause to the client; the
//! full cause chain goes to the log, correlated by request id.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

/// One offending input.
#[derive(Debug, Clone, Serialize, ToSchema, PartialEq, Eq)]
pub struct FieldError {
    /// Dotted path of the field in the request (`settings.timezone`), or the parameter name.
    pub field: String,
    pub message: String,
}

/// An `application/problem+json` body (RFC 9457).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Problem {
    /// A URI naming the problem type: `urn:vextrus:problem:<code>`.
    #[serde(rename = "type")]
    pub type_uri: String,
    pub title: String,
    pub status: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// Stable machine-readable code, e.g. `slug_taken`.
    pub code: String,
    /// The request id (also in the `x-request-id` header), for support.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
}

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub title: &'static str,
    pub detail: Option<String>,
    pub errors: Vec<FieldError>,
    /// Logged, never sent.
    source: Option<Box<dyn std::error::Error + Send + Sync>>,
    www_authenticate: bool,
    /// Seconds for `Retry-After` (429 and 503 answers).
    retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, title: &'static str) -> Self {
        Self {
            status,
            code,
            title,
            detail: None,
            errors: Vec::new(),
            source: None,
            www_authenticate: false,
            retry_after: None,
        }
    }

    pub fn detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    pub fn field(mut self, field: impl Into<String>, message: impl Into<String>) -> Self {
        self.errors.push(FieldError { field: field.into(), message: message.into() });
        self
    }

    /// 422 for a value that parses but is not acceptable; names the field.
    pub fn invalid_field(field: impl Into<String>, message: impl Into<String>) -> Self {
        let (field, message) = (field.into(), message.into());
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_field", "A field is invalid")
            .detail(format!("{field}: {message}"))
            .field(field, message)
    }

    pub fn not_found(code: &'static str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, code, "Not found").detail(detail)
    }

    pub fn conflict(code: &'static str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, code, "Conflict").detail(detail)
    }

    pub fn unauthorized(detail: impl Into<String>) -> Self {
        let mut e = Self::new(StatusCode::UNAUTHORIZED, "unauthorized", "Authentication required").detail(detail);
        e.www_authenticate = true;
        e
    }

    /// A failure of ours: logged with its cause chain, answered with a bare 500.
    pub fn internal(source: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        let mut e = Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "Internal server error")
            .detail("The server failed to handle the request; it has been logged.");
        e.source = Some(source.into());
        e
    }

    /// 429: a limit was reached; retry after `seconds`.
    pub fn too_many(code: &'static str, detail: impl Into<String>, seconds: u64) -> Self {
        let mut e = Self::new(StatusCode::TOO_MANY_REQUESTS, code, "Too many requests").detail(detail);
        e.retry_after = Some(seconds.max(1));
        e
    }

    /// 422 `limit_reached`: an organization (or account) has as many of something as it may.
    pub fn limit_reached(what: &str, limit: u64, setting: &str) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, "limit_reached", "Limit reached")
            .detail(format!("At most {limit} {what} are allowed ({setting}); remove one first."))
    }

    pub fn unavailable(code: &'static str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, code, "Service unavailable").detail(detail)
    }
}

impl From<vextrus_db::DbError> for ApiError {
    fn from(e: vextrus_db::DbError) -> Self {
        match e {
            vextrus_db::DbError::Sqlx(sqlx::Error::PoolTimedOut) => {
                Self::unavailable("database_busy", "All database connections are busy; retry shortly.")
            }
            // Not the client's fault, nor a bug: the database is restarting or unreachable.
            vextrus_db::DbError::Sqlx(
                ref cut @ (sqlx::Error::Io(_) | sqlx::Error::PoolClosed | sqlx::Error::WorkerCrashed),
            ) => {
                tracing::warn!(error = %cut, "database unreachable");
                Self::unavailable("database_unreachable", "The database cannot be reached; retry shortly.")
            }
            e => Self::internal(e),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let Some(source) = &self.source {
            tracing::error!(error = %vextrus_db::error_chain(source.as_ref()), code = self.code, "request failed");
        } else if self.status.is_server_error() {
            tracing::warn!(code = self.code, detail = ?self.detail, "request failed");
        }
        let problem = Problem {
            type_uri: format!("urn:vextrus:problem:{}", self.code),
            title: self.title.to_owned(),
            status: self.status.as_u16(),
            detail: self.detail,
            code: self.code.to_owned(),
            request_id: crate::request_id::current(),
            errors: self.errors,
        };
        let mut response = (self.status, axum::Json(problem)).into_response();
        response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/problem+json"));
        if self.www_authenticate {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if let Some(seconds) = self.retry_after {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

//! Extractors whose rejections are problem details naming the offending field, instead of
//! axum's plain-text ones.

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use serde::de::DeserializeOwned;

use crate::ApiError;

/// A JSON body. Requires `Content-Type: application/json`; honours the body limit (413);
/// malformed JSON is 400 `malformed_json`; a wrong type, a missing or an unknown field is 422
/// `invalid_field` with the field's dotted path.
#[derive(Debug, Clone, Copy, Default)]
pub struct Json<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Json<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let is_json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .map(|mime| {
                let mime = mime.trim().to_ascii_lowercase();
                mime == "application/json" || (mime.starts_with("application/") && mime.ends_with("+json"))
            })
            .unwrap_or(false);
        if !is_json {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "Unsupported media type",
            )
            .detail("The request body must be JSON, sent with Content-Type: application/json."));
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| match rejection {
            BytesRejection::FailedToBufferBody(e) if is_length_limit(&e) => {
                ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "body_too_large", "Request body too large")
                    .detail("The request body exceeds the configured limit (http.body_limit_bytes).")
            }
            other => ApiError::new(StatusCode::BAD_REQUEST, "unreadable_body", "Request body could not be read")
                .detail(other.body_text()),
        })?;
        if crate::text::json_may_hold_nul(&bytes)
            && let Ok(value) = serde_json::from_slice::<serde_json::Value>(&bytes)
            && let Some(path) = crate::text::nul_in_json(&value)
        {
            let field = path.trim_start_matches('.');
            let field = if field.is_empty() { "body" } else { field };
            return Err(ApiError::invalid_field(field, "must not contain NUL characters"));
        }
        parse_json(&bytes).map(Json)
    }
}

fn is_length_limit(e: &impl std::error::Error) -> bool {
    let mut source: Option<&dyn std::error::Error> = Some(e);
    while let Some(s) = source {
        if s.to_string().contains("length limit exceeded") {
            return true;
        }
        source = s.source();
    }
    false
}

/// Deserialises `bytes`, mapping serde's error to a problem that names the field. Request
/// bodies are JSON objects: serde would otherwise accept an array for a struct, by position.
fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let first = bytes.iter().find(|b| !b.is_ascii_whitespace());
    if first.is_some_and(|b| *b != b'{') && serde_json::from_slice::<serde::de::IgnoredAny>(bytes).is_ok() {
        return Err(ApiError::invalid_field("body", "must be a JSON object"));
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value: Result<T, _> = serde_path_to_error::deserialize(&mut de);
    if value.is_ok() {
        // Anything but whitespace after the value.
        de.end().map_err(|e| {
            ApiError::new(StatusCode::BAD_REQUEST, "malformed_json", "Malformed JSON")
                .detail(format!("The body is not valid JSON: {e}"))
        })?;
    }
    value.map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        match inner.classify() {
            serde_json::error::Category::Syntax
            | serde_json::error::Category::Eof
            | serde_json::error::Category::Io => {
                ApiError::new(StatusCode::BAD_REQUEST, "malformed_json", "Malformed JSON")
                    .detail(format!("The body is not valid JSON: {inner}"))
            }
            serde_json::error::Category::Data => {
                let message = strip_position(&inner.to_string());
                let field = field_name(&path, &message);
                ApiError::invalid_field(field, message)
            }
        }
    })
}

/// serde_path_to_error puts an unknown field in the path already, but a missing field's path
/// is the enclosing object; either way, name the field itself.
fn field_name(path: &str, message: &str) -> String {
    let parent = if path == "." { "" } else { path };
    if let Some(rest) = message.strip_prefix("missing field `")
        && let Some((name, _)) = rest.split_once('`')
    {
        return if parent.is_empty() { name.to_owned() } else { format!("{parent}.{name}") };
    }
    if parent.is_empty() { "body".to_owned() } else { parent.to_owned() }
}

fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_owned(),
        None => message.to_owned(),
    }
}

/// Query parameters, rejected as 400 `invalid_query`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Query<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Query::<T>::from_request_parts(parts, state).await.map(|q| Query(q.0)).map_err(
            |rejection: QueryRejection| {
                ApiError::new(StatusCode::BAD_REQUEST, "invalid_query", "Invalid query parameters")
                    .detail(rejection.body_text())
            },
        )
    }
}

//! Serving a file's bytes safely from the platform's own origin: `Range` (one range; several
//! are answered with the whole file, as RFC 9110 allows), a strong `ETag` from the SHA-256 with
//! `If-None-Match` (304), and headers that keep uploaded content from acting as the platform's
//! page: `nosniff`, a sandboxing CSP, attachment unless the sniffed type is a raster image or
//! PDF, and a `Content-Disposition` with an ASCII fallback and RFC 5987 `filename*` (Bengali
//! names arrive intact).

use std::ops::Range;

use axum::http::{HeaderMap, HeaderValue, header};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

/// What `Range` asked for, against a file of `size` bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ranged {
    /// No usable range (absent, several, or not bytes): the whole file.
    Whole,
    /// One satisfiable range.
    Part(Range<u64>),
    /// A range that starts past the end (416).
    Unsatisfiable,
}

/// Parses a `Range` header (RFC 9110 §14.1.2): `bytes=a-b`, `bytes=a-`, `bytes=-n`.
pub fn parse_range(value: Option<&str>, size: u64) -> Ranged {
    let Some(spec) = value.and_then(|v| v.trim().strip_prefix("bytes=")) else { return Ranged::Whole };
    if spec.contains(',') {
        return Ranged::Whole;
    }
    let Some((first, last)) = spec.trim().split_once('-') else { return Ranged::Whole };
    let num = |s: &str| -> Option<u64> {
        (!s.is_empty() && s.len() <= 19 && s.bytes().all(|b| b.is_ascii_digit())).then(|| s.parse().ok()).flatten()
    };
    match (first.trim(), last.trim()) {
        ("", suffix) => match num(suffix) {
            Some(n) if n > 0 && size > 0 => Ranged::Part(size.saturating_sub(n)..size),
            Some(_) => Ranged::Unsatisfiable,
            None => Ranged::Whole,
        },
        (start, "") => match num(start) {
            Some(s) if s < size => Ranged::Part(s..size),
            Some(_) => Ranged::Unsatisfiable,
            None => Ranged::Whole,
        },
        (start, end) => match (num(start), num(end)) {
            (Some(s), Some(e)) if s <= e => {
                if s >= size {
                    Ranged::Unsatisfiable
                } else {
                    Ranged::Part(s..e.min(size - 1) + 1)
                }
            }
            _ => Ranged::Whole,
        },
    }
}

/// Whether `If-None-Match` names `etag` (or is `*`).
pub fn not_modified(headers: &HeaderMap, etag: &str) -> bool {
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.split(',').map(str::trim).any(|tag| tag == "*" || tag.trim_start_matches("W/") == etag))
}

/// RFC 5987 `attr-char` set: everything else is percent-encoded.
const ATTR: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'!')
    .remove(b'#')
    .remove(b'$')
    .remove(b'&')
    .remove(b'+')
    .remove(b'-')
    .remove(b'.')
    .remove(b'^')
    .remove(b'_')
    .remove(b'`')
    .remove(b'|')
    .remove(b'~');

/// `attachment` (or `inline`) with the name: path parts, quotes, control characters and
/// backslashes removed; an ASCII fallback for old clients and `filename*` in UTF-8.
pub fn content_disposition(filename: &str, inline: bool) -> HeaderValue {
    let base = filename.rsplit(['/', '\\']).next().unwrap_or_default();
    let clean: String = base.chars().filter(|c| !c.is_control() && *c != '"' && *c != '\\').collect();
    let clean = if clean.trim().is_empty() { "download".to_owned() } else { clean };
    let ascii: String = clean.chars().map(|c| if c.is_ascii() { c } else { '_' }).collect();
    let kind = if inline { "inline" } else { "attachment" };
    let mut value = format!("{kind}; filename=\"{ascii}\"");
    if !clean.is_ascii() {
        value.push_str(&format!("; filename*=UTF-8''{}", utf8_percent_encode(&clean, ATTR)));
    }
    HeaderValue::from_str(&value).unwrap_or_else(|_| HeaderValue::from_static("attachment"))
}

/// The headers every answer with a file's bytes carries.
pub fn safe_headers(headers: &mut HeaderMap, content_type: &str, filename: &str, inline: bool, etag: &str) {
    let ct = HeaderValue::from_str(content_type).unwrap_or(HeaderValue::from_static("application/octet-stream"));
    headers.insert(header::CONTENT_TYPE, ct);
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static("default-src 'none'; sandbox"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("private, no-cache"));
    headers.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    headers.insert(header::CONTENT_DISPOSITION, content_disposition(filename, inline));
    if let Ok(tag) = HeaderValue::from_str(etag) {
        headers.insert(header::ETAG, tag);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_as_rfc_9110_reads_them() {
        assert_eq!(parse_range(None, 10), Ranged::Whole);
        assert_eq!(parse_range(Some("bytes=0-3"), 10), Ranged::Part(0..4));
        assert_eq!(parse_range(Some("bytes=5-"), 10), Ranged::Part(5..10));
        assert_eq!(parse_range(Some("bytes=-3"), 10), Ranged::Part(7..10));
        assert_eq!(parse_range(Some("bytes=-30"), 10), Ranged::Part(0..10));
        assert_eq!(parse_range(Some("bytes=8-99"), 10), Ranged::Part(8..10));
        assert_eq!(parse_range(Some("bytes=10-"), 10), Ranged::Unsatisfiable);
        assert_eq!(parse_range(Some("bytes=-0"), 10), Ranged::Unsatisfiable);
        assert_eq!(parse_range(Some("bytes=0-1,3-4"), 10), Ranged::Whole);
        assert_eq!(parse_range(Some("bytes=4-2"), 10), Ranged::Whole);
        assert_eq!(parse_range(Some("items=0-1"), 10), Ranged::Whole);
        assert_eq!(parse_range(Some("bytes=99999999999999999999-"), 10), Ranged::Whole);
    }

    #[test]
    fn names_are_safe_and_bengali_survives() {
        let v = content_disposition("বেতন-২০২৬.pdf", false);
        assert_eq!(
            v.to_str().unwrap(),
            "attachment; filename=\"____-____.pdf\"; filename*=UTF-8''%E0%A6%AC%E0%A7%87%E0%A6%A4%E0%A6%A8-%E0%A7%A8%E0%A7%A6%E0%A7%A8%E0%A7%AC.pdf"
        );
        let v = content_disposition("../../etc/pa\"ss\r\nwd", true);
        assert_eq!(v.to_str().unwrap(), "inline; filename=\"passwd\"");
    }
}

//! Free text in requests (names, descriptions): trimmed, a bounded number of characters (not
//! bytes: Bengali is welcome), and no control characters.

/// `value` trimmed, if it has `min..=max` characters, no control characters and no invisible
/// format characters that could make it read as something else.
pub fn bounded_text(value: &str, min: usize, max: usize) -> Result<String, String> {
    let trimmed = value.trim_matches(|c: char| c.is_whitespace() || c == '\u{feff}');
    let len = trimmed.chars().count();
    if len < min || len > max {
        return Err(format!("must be {min} to {max} characters"));
    }
    if trimmed.chars().any(char::is_control) {
        return Err("must not contain control characters".into());
    }
    if let Some(c) = trimmed.chars().find(|c| is_deceptive_format(*c)) {
        return Err(format!("must not contain the invisible format character U+{:04X}", u32::from(c)));
    }
    Ok(trimmed.to_owned())
}

/// Invisible characters that reorder or hide text (bidirectional overrides and isolates,
/// zero-width space, word joiners, byte-order mark): `admin\u{202e}gpj.exe` must not pass for a
/// name. Zero-width (non-)joiners stay: Bengali script needs them.
pub fn is_deceptive_format(c: char) -> bool {
    matches!(c, '\u{200b}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2060}'..='\u{2064}'
        | '\u{2066}'..='\u{2069}' | '\u{feff}' | '\u{180e}' | '\u{061c}')
}

/// A page size from a query (`limit`): `default` when absent, else within `1..=max` (422).
pub fn page_limit(limit: Option<u32>, default: u32, max: u32) -> Result<u32, crate::ApiError> {
    let limit = limit.unwrap_or(default);
    if !(1..=max).contains(&limit) {
        return Err(crate::ApiError::invalid_field("limit", format!("must be between 1 and {max}")));
    }
    Ok(limit)
}

/// A percent-encoded NUL (`%00`) in the path or query.
pub fn uri_has_nul(uri: &axum::http::Uri) -> bool {
    let has = |text: &str| text.as_bytes().windows(3).any(|w| w[0] == b'%' && w[1] == b'0' && w[2] == b'0');
    has(uri.path()) || uri.query().is_some_and(has)
}

/// 400 `nul_character`: `where` carries a NUL character, which no text here may hold.
pub fn nul_problem(place: &str) -> crate::ApiError {
    crate::ApiError::new(axum::http::StatusCode::BAD_REQUEST, "nul_character", "NUL character")
        .detail(format!("{place} contains a NUL character (U+0000), which no text here may hold."))
}

/// The path (`.a.b[2]`) of the first string in `value` (key or value) holding a NUL.
pub fn nul_in_json(value: &serde_json::Value) -> Option<String> {
    use serde_json::Value;
    match value {
        Value::String(s) if s.contains('\0') => Some(String::new()),
        Value::Array(items) => items.iter().enumerate().find_map(|(i, v)| nul_in_json(v).map(|p| format!("[{i}]{p}"))),
        Value::Object(map) => map.iter().find_map(|(k, v)| {
            if k.contains('\0') {
                return Some(format!(".{}", k.replace('\0', "\\0")));
            }
            nul_in_json(v).map(|p| format!(".{k}{p}"))
        }),
        _ => None,
    }
}

/// Raw JSON that may decode to a NUL (`\u0000`, in any case of hex digits): then, and only then,
/// is it worth walking the document.
pub fn json_may_hold_nul(bytes: &[u8]) -> bool {
    bytes.windows(6).any(|w| w[0] == b'\\' && w[1] == b'u' && w[2..].iter().all(|b| *b == b'0'))
}

#[cfg(test)]
mod tests {
    use super::bounded_text;

    #[test]
    fn trims_counts_characters_and_refuses_control_characters() {
        assert_eq!(bounded_text("  হিসাবরক্ষক ", 1, 10).unwrap(), "হিসাবরক্ষক");
        assert!(bounded_text("   ", 1, 10).is_err());
        assert!(bounded_text("abc", 1, 2).is_err());
        assert!(bounded_text("a\u{0}b", 1, 10).is_err());
        assert_eq!(bounded_text("", 0, 10).unwrap(), "");
        for deceptive in ["evil\u{202e}gpj.exe", "ad\u{200b}min", "\u{feff}x\u{feff}y", "a\u{2066}b"] {
            assert!(bounded_text(deceptive, 1, 20).is_err(), "{deceptive:?}");
        }
        assert_eq!(bounded_text("র\u{200d}্যাব", 1, 10).unwrap(), "র\u{200d}্যাব", "Bengali keeps its joiners");
        assert_eq!(bounded_text("\u{feff}Shapla", 1, 10).unwrap(), "Shapla", "a leading BOM is trimmed");
    }

    #[test]
    fn finds_nul_characters_in_json_and_urls() {
        let doc = serde_json::json!({"a": [1, {"b": "x\u{0}y"}], "c": "fine"});
        assert_eq!(super::nul_in_json(&doc).as_deref(), Some(".a[1].b"));
        assert_eq!(super::nul_in_json(&serde_json::json!({"ok": "\\u0000 as text"})), None);
        assert!(super::json_may_hold_nul(br#"{"a": "\u0000"}"#));
        assert!(!super::json_may_hold_nul(br#"{"a": "u0000"}"#));
        assert!(super::uri_has_nul(&"/v1/roles/a%00b".parse().unwrap()));
        assert!(super::uri_has_nul(&"/v1/members?after=%00".parse().unwrap()));
        assert!(!super::uri_has_nul(&"/v1/members?after=%2000".parse().unwrap()));
    }
}

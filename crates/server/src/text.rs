//! Free text in requests (names, descriptions): trimmed, a bounded number of characters (not
//! bytes: Bengali is welcome), and no control characters.

/// `value` trimmed, if it has `min..=max` characters and no control characters.
pub fn bounded_text(value: &str, min: usize, max: usize) -> Result<String, String> {
    let trimmed = value.trim();
    let len = trimmed.chars().count();
    if len < min || len > max {
        return Err(format!("must be {min} to {max} characters"));
    }
    if trimmed.chars().any(char::is_control) {
        return Err("must not contain control characters".into());
    }
    Ok(trimmed.to_owned())
}

/// A page size from a query (`limit`): `default` when absent, else within `1..=max` (422).
pub fn page_limit(limit: Option<u32>, default: u32, max: u32) -> Result<u32, crate::ApiError> {
    let limit = limit.unwrap_or(default);
    if !(1..=max).contains(&limit) {
        return Err(crate::ApiError::invalid_field("limit", format!("must be between 1 and {max}")));
    }
    Ok(limit)
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
    }
}

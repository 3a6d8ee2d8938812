//! Identity inputs, valid by construction.

use std::fmt;

use serde::Serialize;

/// An email address, trimmed and lower-cased (so `Rahim@Example.COM` and `rahim@example.com`
/// are one account). Deliberately simple syntax checks; ownership is proven by verification.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct EmailAddress(String);

impl EmailAddress {
    pub fn parse(s: &str) -> Result<Self, String> {
        let email = s.trim().to_lowercase();
        let invalid = || "must be an email address such as name@example.com".to_owned();
        if email.len() > 254 || email.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(invalid());
        }
        let (local, domain) = email.rsplit_once('@').ok_or_else(invalid)?;
        let domain_ok = domain.len() <= 253
            && domain.contains('.')
            && domain.split('.').all(|label| {
                !label.is_empty()
                    && label.len() <= 63
                    && !label.starts_with('-')
                    && !label.ends_with('-')
                    && label.chars().all(|c| c.is_alphanumeric() || c == '-')
            });
        if local.is_empty() || local.len() > 64 || local.contains('@') || !domain_ok {
            return Err(invalid());
        }
        Ok(Self(email))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for EmailAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// `[a-z0-9][a-z0-9._-]{1,38}`, unique; upper case input is lower-cased. Used by `npm login`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct Username(String);

impl Username {
    pub fn parse(s: &str) -> Result<Self, String> {
        let name = s.trim().to_ascii_lowercase();
        let mut chars = name.chars();
        let first_ok = chars.next().is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
        let rest_ok = chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-'));
        if !(2..=39).contains(&name.len()) || !first_ok || !rest_ok {
            return Err(
                "must be 2 to 39 characters of a-z, 0-9, '.', '_' and '-', starting with a letter or digit".into()
            );
        }
        Ok(Self(name))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A Bangladeshi mobile number in E.164 (`+8801XXXXXXXXX`); accepts `01…`, `8801…` and `+8801…`
/// with spaces or dashes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct PhoneNumberBd(String);

impl PhoneNumberBd {
    pub fn parse(s: &str) -> Result<Self, String> {
        let digits: String = s.chars().filter(|c| !matches!(c, ' ' | '-' | '(' | ')')).collect();
        let national = digits
            .strip_prefix("+880")
            .or_else(|| digits.strip_prefix("880"))
            .map(|rest| format!("0{rest}"))
            .unwrap_or(digits);
        let ok = national.len() == 11
            && national.starts_with("01")
            && matches!(national.as_bytes()[2], b'3'..=b'9')
            && national.bytes().all(|b| b.is_ascii_digit());
        if !ok {
            return Err("must be a Bangladeshi mobile number such as +8801712345678 or 01712345678".into());
        }
        Ok(Self(format!("+88{national}")))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A person's name as shown: trimmed, 1–100 characters, no control characters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct DisplayName(String);

impl DisplayName {
    pub fn parse(s: &str) -> Result<Self, String> {
        let name = s.trim();
        if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
            return Err("must be 1 to 100 characters without control characters".into());
        }
        Ok(Self(name.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_normalised() {
        assert_eq!(EmailAddress::parse("  Rahim@Example.COM ").unwrap().as_str(), "rahim@example.com");
        for bad in
            ["", "rahim", "rahim@", "@example.com", "a b@example.com", "rahim@example", "x@-bad.com", "a@b@c.com"]
        {
            assert!(EmailAddress::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn usernames() {
        assert_eq!(Username::parse("Rahim.Uddin").unwrap().as_str(), "rahim.uddin");
        for ok in ["ab", "a1", "9lives", "x_y-z.w", &"a".repeat(39)] {
            assert!(Username::parse(ok).is_ok(), "{ok}");
        }
        for bad in ["a", ".dot", "-dash", "has space", "ঢাকা", &"a".repeat(40), "a@b"] {
            assert!(Username::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn bangladeshi_phone_numbers() {
        for ok in ["01712345678", "+8801712345678", "8801712345678", "017-1234-5678", "+880 1912 345678"] {
            assert_eq!(PhoneNumberBd::parse(ok).map(|p| p.as_str()[..5].to_owned()), Ok("+8801".into()), "{ok}");
        }
        assert_eq!(PhoneNumberBd::parse("01712345678").unwrap().as_str(), "+8801712345678");
        for bad in ["0171234567", "01212345678", "+8811712345678", "0171234567x", "+880171234567890"] {
            assert!(PhoneNumberBd::parse(bad).is_err(), "{bad}");
        }
    }
}

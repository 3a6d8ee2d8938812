//! Notify's types: channels, categories, recipients and their addresses.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

pub use vextrus_tenancy::model::Locale;

/// How a message reaches someone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    Email,
    Sms,
    Push,
    InApp,
}

impl Channel {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Email => "email",
            Self::Sms => "sms",
            Self::Push => "push",
            Self::InApp => "in_app",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Email, Self::Sms, Self::Push, Self::InApp].into_iter().find(|c| c.as_str() == s)
    }
}

/// What a message is, for the rules and the recipient's preferences. BTRC's rules for SMS
/// distinguish `transactional` (OTPs, alerts, receipts: machine-generated, any language, any
/// hour) from `promotional` (Bangla only, not at night, at most 3 a day per number). `security`
/// messages (sign-up codes, password resets) are transactional and cannot be turned off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    Transactional,
    Promotional,
    Security,
}

impl Category {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Transactional => "transactional",
            Self::Promotional => "promotional",
            Self::Security => "security",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Transactional, Self::Promotional, Self::Security].into_iter().find(|c| c.as_str() == s)
    }
}

/// A Bangladeshi mobile number in E.164 (`+8801XXXXXXXXX`), from any of the forms people write:
/// `01712345678`, `8801712345678`, `+8801712345678` (spaces and dashes ignored).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Phone(String);

impl Phone {
    pub fn parse(text: &str) -> Result<Self, String> {
        let bad = || {
            format!(
                "{:?} is not a Bangladeshi mobile number (01XXXXXXXXX, 8801XXXXXXXXX or +8801XXXXXXXXX)",
                truncate(text)
            )
        };
        if text.len() > 32 {
            return Err(bad());
        }
        let digits: String = text.chars().filter(|c| !matches!(c, ' ' | '-')).collect();
        let national = if let Some(rest) = digits.strip_prefix("+880") {
            rest
        } else if let Some(rest) = digits.strip_prefix("880") {
            rest
        } else if let Some(rest) = digits.strip_prefix('0') {
            // `01…` is the national form; keep the trunk prefix's meaning.
            return Self::from_national(rest).ok_or_else(bad);
        } else {
            return Err(bad());
        };
        national
            .strip_prefix('0')
            .and_then(Self::from_national)
            .or_else(|| Self::from_national(national))
            .ok_or_else(bad)
    }

    /// `1XXXXXXXXX` (ten digits, operator prefixes 13–19).
    fn from_national(rest: &str) -> Option<Self> {
        let b = rest.as_bytes();
        let ok = b.len() == 10 && b[0] == b'1' && (b'3'..=b'9').contains(&b[1]) && b.iter().all(u8::is_ascii_digit);
        ok.then(|| Self(format!("+880{rest}")))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `8801XXXXXXXXX`: the form Bangladeshi SMS gateways take.
    pub fn without_plus(&self) -> &str {
        &self.0[1..]
    }
}

impl TryFrom<String> for Phone {
    type Error = String;
    fn try_from(value: String) -> Result<Self, String> {
        Self::parse(&value)
    }
}

impl From<Phone> for String {
    fn from(value: Phone) -> Self {
        value.0
    }
}

impl std::fmt::Display for Phone {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

fn truncate(text: &str) -> String {
    text.chars().take(40).collect()
}

/// An email address as notify needs it: one `@`, no spaces or control characters, at most 254.
pub fn parse_email(text: &str) -> Result<String, String> {
    let text = text.trim();
    let bad = || format!("{:?} is not an email address", truncate(text));
    if text.len() > 254
        || text.chars().any(|c| c.is_whitespace() || c.is_control() || matches!(c, '<' | '>' | ',' | ';'))
    {
        return Err(bad());
    }
    match text.split_once('@') {
        Some((local, domain)) if !local.is_empty() && domain.contains('.') && !domain.contains('@') => {
            Ok(text.to_lowercase())
        }
        _ => Err(bad()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_written_form_of_a_number_becomes_e164() {
        for text in ["01712345678", "8801712345678", "+8801712345678", "+880 1712-345678", "+88001712345678"] {
            assert_eq!(Phone::parse(text).unwrap().as_str(), "+8801712345678", "{text}");
        }
        assert_eq!(Phone::parse("01712345678").unwrap().without_plus(), "8801712345678");
        for bad in ["", "0171234567", "017123456789", "01212345678", "+4412345678901", "01712a45678", "১৭১২৩৪৫৬৭৮"]
        {
            assert!(Phone::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn addresses() {
        assert_eq!(parse_email(" Rahim@Example.COM ").unwrap(), "rahim@example.com");
        for bad in ["rahim", "@example.com", "a@b", "a b@example.com", "a@b.com, c@d.com", "a@b@c.com"] {
            assert!(parse_email(bad).is_err(), "{bad}");
        }
    }
}

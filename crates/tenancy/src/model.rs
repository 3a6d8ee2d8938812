//! Types that are valid by construction: parse at the edge, trust inside.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use vextrus_db::TenantId;

/// `[a-z0-9-]{3,40}`: the organization's handle in URLs and, later, its npm scope.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct OrgSlug(pub(crate) String);

impl OrgSlug {
    pub fn parse(s: &str) -> Result<Self, String> {
        let valid_chars = s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !(3..=40).contains(&s.len()) || !valid_chars {
            return Err("must be 3 to 40 characters of a-z, 0-9 and '-'".into());
        }
        Ok(Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for OrgSlug {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A display name: trimmed, 1–200 characters, no control characters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct OrgName(pub(crate) String);

impl OrgName {
    pub fn parse(s: &str) -> Result<Self, String> {
        let trimmed = s.trim();
        if trimmed.is_empty() {
            return Err("must not be empty".into());
        }
        if trimmed.chars().count() > 200 {
            return Err("must be at most 200 characters".into());
        }
        if trimmed.chars().any(char::is_control) {
            return Err("must not contain control characters".into());
        }
        Ok(Self(trimmed.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The organization's language: Bengali (Bangladesh) or English.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, Default)]
pub enum Locale {
    #[default]
    #[serde(rename = "bn-BD")]
    BnBd,
    #[serde(rename = "en")]
    En,
}

impl Locale {
    pub fn parse(s: &str) -> Result<Self, String> {
        match s {
            "bn-BD" => Ok(Self::BnBd),
            "en" => Ok(Self::En),
            _ => Err("must be \"bn-BD\" or \"en\"".into()),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::BnBd => "bn-BD",
            Self::En => "en",
        }
    }
}

/// An ISO 4217 code; lower case input is accepted and upper-cased.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Currency(pub(crate) String);

impl Currency {
    pub fn parse(s: &str) -> Result<Self, String> {
        if s.len() == 3 && s.bytes().all(|b| b.is_ascii_alphabetic()) {
            Ok(Self(s.to_ascii_uppercase()))
        } else {
            Err("must be a three-letter ISO 4217 code such as BDT".into())
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for Currency {
    fn default() -> Self {
        Self("BDT".into())
    }
}

/// An IANA time zone name. The syntax is checked here; that the zone exists is checked against
/// PostgreSQL's zone list when it is stored (see `service`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Timezone(pub(crate) String);

impl Timezone {
    pub fn parse(s: &str) -> Result<Self, String> {
        let ok = !s.is_empty()
            && s.len() <= 64
            && s.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'/' | b'_' | b'-' | b'+'));
        if ok { Ok(Self(s.to_owned())) } else { Err("must be an IANA time zone such as Asia/Dhaka".into()) }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for Timezone {
    fn default() -> Self {
        Self("Asia/Dhaka".into())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum OrgStatus {
    Active,
    Suspended,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema, Default)]
pub struct Settings {
    /// IANA time zone used for local times (reports, exports).
    #[schema(value_type = String, example = "Asia/Dhaka")]
    pub timezone: Timezone,
    /// ISO 4217 currency of amounts.
    #[schema(value_type = String, example = "BDT")]
    pub currency: Currency,
    pub locale: Locale,
}

/// An organization (tenant).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Organization {
    /// UUIDv7; also the tenant id of everything the organization owns.
    #[schema(value_type = uuid::Uuid)]
    pub id: TenantId,
    #[schema(value_type = String, example = "acme-traders")]
    pub slug: OrgSlug,
    #[schema(value_type = String, example = "Acme Traders Ltd.")]
    pub name: OrgName,
    pub status: OrgStatus,
    pub settings: Settings,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A change to the settings; absent fields stay as they are.
#[derive(Debug, Clone, Default)]
pub struct SettingsChange {
    pub timezone: Option<Timezone>,
    pub currency: Option<Currency>,
    pub locale: Option<Locale>,
}

#[derive(Debug, Clone)]
pub struct NewOrganization {
    pub slug: OrgSlug,
    pub name: OrgName,
    pub settings: SettingsChange,
}

#[derive(Debug, Clone, Default)]
pub struct OrganizationChange {
    pub name: Option<OrgName>,
    pub settings: SettingsChange,
}

/// How the path names an organization: its id or its slug.
#[derive(Debug, Clone)]
pub enum OrgRef {
    Id(TenantId),
    Slug(OrgSlug),
}

impl OrgRef {
    /// `None` when the text is neither a UUID nor a valid slug (so nothing can match it).
    pub fn parse(s: &str) -> Option<Self> {
        match uuid::Uuid::parse_str(s) {
            Ok(id) => Some(Self::Id(TenantId::from_uuid(id))),
            Err(_) => OrgSlug::parse(s).ok().map(Self::Slug),
        }
    }
}

impl fmt::Display for OrgRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Id(id) => id.fmt(f),
            Self::Slug(slug) => slug.fmt(f),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slug_rules() {
        for ok in ["abc", "acme-traders", "a1-b2-c3", "x".repeat(40).as_str(), "---"] {
            assert!(OrgSlug::parse(ok).is_ok(), "{ok}");
        }
        for bad in ["ab", "Acme", "acme_traders", "acme traders", "x".repeat(41).as_str(), "", "ঢাকা", "a/b"] {
            assert!(OrgSlug::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn name_is_trimmed_and_bounded() {
        assert_eq!(OrgName::parse("  Acme  ").unwrap().as_str(), "Acme");
        assert_eq!(OrgName::parse("ঢাকা ট্রেডার্স").unwrap().as_str(), "ঢাকা ট্রেডার্স");
        assert!(OrgName::parse("   ").is_err());
        assert!(OrgName::parse("a\u{0}b").is_err());
        assert!(OrgName::parse(&"ক".repeat(200)).is_ok());
        assert!(OrgName::parse(&"ক".repeat(201)).is_err());
    }

    #[test]
    fn settings_parsers() {
        assert_eq!(Currency::parse("bdt").unwrap().as_str(), "BDT");
        assert!(Currency::parse("TAKA").is_err());
        assert!(Locale::parse("bn").is_err());
        assert_eq!(Locale::parse("en").unwrap(), Locale::En);
        assert!(Timezone::parse("Asia/Dhaka").is_ok());
        assert!(Timezone::parse("Asia/Dhaka; DROP").is_err());
        let defaults = Settings::default();
        assert_eq!(
            (defaults.timezone.as_str(), defaults.currency.as_str(), defaults.locale),
            ("Asia/Dhaka", "BDT", Locale::BnBd)
        );
    }
}

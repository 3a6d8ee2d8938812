//! Package names and versions as npm accepts them for new packages
//! (`validate-npm-package-name`, node-semver's strict parse).

use std::fmt;

/// A valid npm package name: `name` or `@scope/name`, lowercase and URL-safe.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PackageName {
    full: String,
    /// Byte offset of the name part (after `@scope/`), 0 when unscoped.
    name_at: usize,
}

impl PackageName {
    pub fn parse(s: &str) -> Result<Self, String> {
        if s.is_empty() || s.len() > 214 {
            return Err("a package name has 1 to 214 characters".into());
        }
        let (scope, name) = match s.strip_prefix('@') {
            Some(rest) => {
                let (scope, name) = rest.split_once('/').ok_or("a scoped name is @scope/name")?;
                (Some(scope), name)
            }
            None => (None, s),
        };
        if let Some(scope) = scope {
            part(scope, "scope")?;
        }
        part(name, "name")?;
        if scope.is_none() && matches!(name, "node_modules" | "favicon.ico") {
            return Err(format!("{name} is not a valid package name"));
        }
        Ok(PackageName { full: s.to_owned(), name_at: scope.map_or(0, |sc| sc.len() + 2) })
    }

    pub fn as_str(&self) -> &str {
        &self.full
    }

    /// `vextrus` for `@vextrus/kernel`.
    pub fn scope(&self) -> Option<&str> {
        (self.name_at > 0).then(|| &self.full[1..self.name_at - 1])
    }

    /// `kernel` for `@vextrus/kernel`.
    pub fn bare(&self) -> &str {
        &self.full[self.name_at..]
    }

    /// The tarball's file name: `kernel-1.0.0.tgz`.
    pub fn tarball_file(&self, version: &str) -> String {
        format!("{}-{version}.tgz", self.bare())
    }
}

impl fmt::Display for PackageName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.full)
    }
}

/// One part of a name (the scope or the name): lowercase letters, digits, `-`, `.`, `_`, not
/// starting with `.` or `_` (npm's rules for new packages; no `~'!()*`, nothing to escape in a URL).
fn part(p: &str, what: &str) -> Result<(), String> {
    if p.is_empty() {
        return Err(format!("the {what} is empty"));
    }
    if p.starts_with(['.', '_']) {
        return Err(format!("the {what} cannot start with a period or an underscore"));
    }
    if p.chars().any(|c| c.is_ascii_uppercase()) {
        return Err(format!("the {what} cannot contain capital letters"));
    }
    if !p.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '.' | '_')) {
        return Err(format!("the {what} may only contain a-z, 0-9, '-', '.' and '_'"));
    }
    Ok(())
}

/// A strict SemVer 2.0 version, as npm publishes them; answers it normalised.
pub fn parse_version(s: &str) -> Result<String, String> {
    if s.len() > 256 {
        return Err("a version has at most 256 characters".into());
    }
    semver::Version::parse(s).map(|v| v.to_string()).map_err(|e| format!("{s:?} is not a valid semver version: {e}"))
}

/// A dist-tag: not empty, no `/`, and not something that parses as a version range (npm's rule:
/// a tag that looks like a version would shadow it).
pub fn parse_tag(s: &str) -> Result<String, String> {
    let ok = !s.is_empty()
        && s.len() <= 128
        && s.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'))
        && semver::VersionReq::parse(s).is_err();
    if ok { Ok(s.to_owned()) } else { Err(format!("{s:?} is not a valid dist-tag")) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_npm_rules() {
        let scoped = PackageName::parse("@vextrus/kernel").unwrap();
        assert_eq!((scoped.scope(), scoped.bare()), (Some("vextrus"), "kernel"));
        assert_eq!(scoped.tarball_file("1.0.0"), "kernel-1.0.0.tgz");
        let plain = PackageName::parse("left-pad").unwrap();
        assert_eq!((plain.scope(), plain.bare()), (None, "left-pad"));
        for bad in ["", "Kernel", "@vextrus", "@/x", "@v/", ".hidden", "_x", "a b", "x~y", "café", "node_modules"] {
            assert!(PackageName::parse(bad).is_err(), "{bad:?} must be refused");
        }
        assert!(PackageName::parse(&"a".repeat(215)).is_err());
    }

    #[test]
    fn versions_and_tags() {
        assert_eq!(parse_version("1.0.0-beta.1+build.5").unwrap(), "1.0.0-beta.1+build.5");
        for bad in ["1.0", "v1.0.0", "01.0.0", "1.0.0 "] {
            assert!(parse_version(bad).is_err(), "{bad:?}");
        }
        assert!(parse_tag("next").is_ok() && parse_tag("beta-2").is_ok());
        for bad in ["", "1.0.0", "^1", "a/b", "1.x"] {
            assert!(parse_tag(bad).is_err(), "{bad:?}");
        }
    }
}

/// A package's dist-tags in the order the npm registry and Verdaccio answer them: `latest`
/// first, then as they were created. Serialised as a JSON object in that order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tags(Vec<(String, String)>);

impl Tags {
    /// The version `tag` points at.
    pub fn get(&self, tag: &str) -> Option<&String> {
        self.0.iter().find(|(t, _)| t == tag).map(|(_, v)| v)
    }

    pub fn contains_key(&self, tag: &str) -> bool {
        self.get(tag).is_some()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(t, v)| (t.as_str(), v.as_str()))
    }
}

impl FromIterator<(String, String)> for Tags {
    fn from_iter<I: IntoIterator<Item = (String, String)>>(tags: I) -> Self {
        Self(tags.into_iter().collect())
    }
}

impl serde::Serialize for Tags {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.0.iter().map(|(t, v)| (t, v)))
    }
}

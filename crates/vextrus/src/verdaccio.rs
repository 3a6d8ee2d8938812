//! A Verdaccio `config.yaml` read as the settings it amounts to here: its `packages:` patterns'
//! read access as `[[registry.access]]` rules, its `uplinks:` (with the patterns they proxy) as
//! `[[registry.uplinks]]`, and the switches its rules imply. What has no counterpart (publish
//! lists, auth plugins) is named in a comment, never silently dropped.

use std::fmt::Write as _;

use yaml_rust2::{Yaml, YamlLoader};

/// A proposed `vextrus.toml` fragment (TOML text) for the Verdaccio configuration `yaml`.
pub fn propose(yaml: &str) -> Result<String, String> {
    let docs = YamlLoader::load_from_str(yaml).map_err(|e| format!("not YAML: {e}"))?;
    let Some(doc) = docs.first().filter(|d| d.as_hash().is_some()) else {
        return Err("not a Verdaccio configuration (no mapping at the top)".into());
    };
    let mut rules = Vec::new();
    // uplink name → the patterns it proxies, in order
    let mut proxied: Vec<(String, Vec<String>)> = Vec::new();
    let mut anonymous_proxy = false;
    let mut unscoped_publish = false;
    let mut left_out = Vec::new();
    if let Some(packages) = doc["packages"].as_hash() {
        for (pattern, rule) in packages {
            let Some(pattern) = pattern.as_str() else { continue };
            let access = words(&rule["access"]).or_else(|| words(&rule["allow_access"])).unwrap_or_default();
            let read = if access.iter().any(|w| w == "$all" || w == "$anonymous" || w == "@all") {
                "public"
            } else if access.iter().any(|w| w == "$authenticated" || w == "@authenticated") {
                "signed_in"
            } else {
                "organization"
            };
            rules.push((pattern.to_owned(), read, access.join(" ")));
            for uplink in words(&rule["proxy"]).unwrap_or_default() {
                anonymous_proxy |= read == "public";
                match proxied.iter_mut().find(|(name, _)| *name == uplink) {
                    Some((_, patterns)) => patterns.push(pattern.to_owned()),
                    None => proxied.push((uplink, vec![pattern.to_owned()])),
                }
            }
            let publish = words(&rule["publish"]).or_else(|| words(&rule["allow_publish"])).unwrap_or_default();
            if !publish.is_empty() {
                unscoped_publish |= !pattern.starts_with('@');
                left_out.push(format!("{pattern}: publish by {}", publish.join(" ")));
            }
        }
    }
    let mut out = String::from(
        "# Proposed from a Verdaccio config.yaml by `vextrus registry import-verdaccio --verdaccio-config`.\n",
    );
    out.push_str("[registry]\n");
    if unscoped_publish {
        out.push_str("allow_unscoped = true      # Verdaccio took unscoped names\n");
    }
    if anonymous_proxy {
        out.push_str("proxy_anonymous = true     # proxied packages were readable by $all\n");
    }
    if let Some(size) = doc["max_body_size"].as_str().and_then(bytes) {
        let _ = writeln!(out, "max_tarball_bytes = {size}  # max_body_size");
    }
    if doc["search"].as_bool() == Some(true) || !proxied.is_empty() {
        out.push_str("uplink_search = true       # Verdaccio's search lists the uplinks' packages too\n");
    }
    for (pattern, read, access) in &rules {
        let access = if access.is_empty() { "nobody named" } else { access };
        let _ = write!(
            out,
            "\n[[registry.access]]\npackages = {}\nread = \"{read}\"  # access: {access}\n",
            quoted(pattern)
        );
    }
    if let Some(uplinks) = doc["uplinks"].as_hash() {
        for (name, uplink) in uplinks {
            let Some(name) = name.as_str() else { continue };
            let Some(url) = uplink["url"].as_str() else { continue };
            let _ = write!(out, "\n[[registry.uplinks]]\nname = {}\nurl = {}\n", quoted(name), quoted(url));
            let patterns = proxied.iter().find(|(n, _)| n == name).map(|(_, p)| p.clone()).unwrap_or_default();
            if patterns.is_empty() {
                out.push_str("packages = []  # no package pattern proxies to it\n");
            } else {
                let list: Vec<String> = patterns.iter().map(|p| quoted(p)).collect();
                let _ = writeln!(out, "packages = [{}]", list.join(", "));
            }
            for (key, ours) in
                [("timeout", "timeout_secs"), ("maxage", "maxage_secs"), ("fail_timeout", "fail_timeout_secs")]
            {
                if let Some(secs) = uplink[key].as_str().and_then(seconds).or_else(|| uplink[key].as_i64()) {
                    let _ = writeln!(out, "{ours} = {secs}");
                }
            }
            if let Some(fails) = uplink["max_fails"].as_i64() {
                let _ = writeln!(out, "max_failures = {fails}");
            }
            if !uplink["auth"].is_badvalue() {
                out.push_str("# auth: set `auth = \"Bearer <token>\"` here (Verdaccio's token or token_env)\n");
            }
        }
    }
    if !left_out.is_empty() {
        out.push_str("\n# Not carried over: who may publish is an organization's members' by their roles\n");
        out.push_str("# (`registry.packages.publish`), and users come with --htpasswd:\n");
        for line in &left_out {
            let _ = writeln!(out, "#   {line}");
        }
    }
    Ok(out)
}

/// An access list: `"$all"`, `"$authenticated alice"` or `[$all, …]`.
fn words(value: &Yaml) -> Option<Vec<String>> {
    match value {
        Yaml::String(text) => Some(text.split_whitespace().map(str::to_owned).collect()),
        Yaml::Array(items) => Some(items.iter().filter_map(Yaml::as_str).map(str::to_owned).collect()),
        _ => None,
    }
}

/// A TOML basic string.
fn quoted(text: &str) -> String {
    toml::Value::String(text.to_owned()).to_string()
}

/// Verdaccio's durations: `30s`, `2m`, `1h`, `1d`, or a bare number of seconds.
fn seconds(text: &str) -> Option<i64> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: i64 = number.parse().ok()?;
    let factor = match unit.trim() {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return None,
    };
    number.checked_mul(factor)
}

/// Verdaccio's sizes: `10mb`, `500kb`, `1gb`, or bytes.
fn bytes(text: &str) -> Option<u64> {
    let text = text.trim().to_ascii_lowercase();
    let split = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: u64 = number.parse().ok()?;
    let factor = match unit.trim() {
        "" | "b" => 1,
        "kb" => 1 << 10,
        "mb" => 1 << 20,
        "gb" => 1 << 30,
        _ => return None,
    };
    number.checked_mul(factor)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Verdaccio 6's default `config.yaml` (its packages and uplinks), as teams start from it.
    const DEFAULT: &str = r#"
storage: ./storage
auth:
  htpasswd:
    file: ./htpasswd
uplinks:
  npmjs:
    url: https://registry.npmjs.org/
    timeout: 30s
    maxage: 2m
    max_fails: 2
    fail_timeout: 5m
packages:
  '@*/*':
    access: $all
    publish: $authenticated
    unpublish: $authenticated
    proxy: npmjs
  '**':
    access: $all
    publish: $authenticated
    unpublish: $authenticated
    proxy: npmjs
max_body_size: 10mb
"#;

    #[test]
    fn verdaccios_default_configuration_becomes_rules_uplinks_and_switches_that_load() {
        let proposed = propose(DEFAULT).unwrap();
        let config: vextrus_config::Config = toml::from_str(&proposed).unwrap_or_else(|e| panic!("{e}\n{proposed}"));
        let r = &config.registry;
        let rules: Vec<(&str, &str)> = r.access.iter().map(|a| (a.packages.as_str(), a.read.as_str())).collect();
        assert_eq!(rules, [("@*/*", "public"), ("**", "public")], "{proposed}");
        assert!(r.allow_unscoped && r.proxy_anonymous && r.uplink_search, "{proposed}");
        assert_eq!(r.max_tarball_bytes, 10 << 20);
        let npmjs = &r.uplinks[0];
        assert_eq!((npmjs.name.as_str(), npmjs.url.as_str()), ("npmjs", "https://registry.npmjs.org/"));
        assert_eq!(npmjs.packages, ["@*/*", "**"]);
        assert_eq!(
            (npmjs.timeout_secs, npmjs.maxage_secs, npmjs.max_failures, npmjs.fail_timeout_secs),
            (30, 120, 2, 300)
        );
        assert!(proposed.contains("publish by $authenticated"), "what has no counterpart is named: {proposed}");
    }

    #[test]
    fn named_readers_stay_with_the_organization_and_authenticated_means_signed_in() {
        let yaml =
            "packages:\n  '@acme/secret-*':\n    access: alice bob\n  '@acme/*':\n    access: [$authenticated]\n";
        let proposed = propose(yaml).unwrap();
        let config: vextrus_config::Config = toml::from_str(&proposed).unwrap();
        let rules: Vec<(&str, &str)> =
            config.registry.access.iter().map(|a| (a.packages.as_str(), a.read.as_str())).collect();
        assert_eq!(rules, [("@acme/secret-*", "organization"), ("@acme/*", "signed_in")]);
        assert!(!config.registry.allow_unscoped && !config.registry.proxy_anonymous);
        assert!(propose("- a list\n").is_err());
        assert!(propose("packages: [").is_err());
    }
}

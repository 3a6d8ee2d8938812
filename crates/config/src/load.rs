//! Layering of the configuration sources into one `toml::Table`, then one typed deserialisation
//! so that every error carries the dotted key (and where its value came from).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::fields::{FIELDS, Field, Kind};
use crate::model::Config;

/// Where configuration comes from. `from_process` reads the real environment; tests build one.
#[derive(Debug, Default, Clone)]
pub struct Sources {
    /// An explicit `--config` file (must exist). `None`: `./vextrus.toml` if present.
    pub file: Option<PathBuf>,
    pub env: BTreeMap<String, String>,
    /// `(dotted key, raw value, flag name)` from the command line, strongest.
    pub flags: Vec<(&'static str, String, &'static str)>,
}

impl Sources {
    pub fn from_process(file: Option<PathBuf>) -> Self {
        let file = file.or_else(|| std::env::var_os("VEXTRUS_CONFIG").map(PathBuf::from));
        Self { file, env: std::env::vars().collect(), flags: Vec::new() }
    }

    pub fn flag(mut self, key: &'static str, value: Option<String>, flag: &'static str) -> Self {
        if let Some(value) = value {
            self.flags.push((key, value, flag));
        }
        self
    }
}

/// The effective configuration and what the loader noticed but did not reject.
#[derive(Debug)]
pub struct Loaded {
    pub config: Config,
    pub warnings: Vec<String>,
    /// The file that was read, if any.
    pub file: Option<PathBuf>,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read configuration file {path}: {source}")]
    ReadFile { path: PathBuf, source: std::io::Error },
    #[error("configuration file {path} is not valid TOML: {message}")]
    ParseFile { path: PathBuf, message: String },
    #[error("cannot read {env} ({path}): {source}")]
    ReadSecretFile { env: String, path: PathBuf, source: std::io::Error },
    #[error("invalid value for `{key}` (from {origin}): {message}")]
    Invalid { key: String, origin: String, message: String },
}

const DEFAULT_FILE: &str = "vextrus.toml";

pub fn load(sources: &Sources) -> Result<Loaded, ConfigError> {
    let mut warnings = Vec::new();
    let mut table = toml::Table::new();
    let mut origins: BTreeMap<String, String> = BTreeMap::new();

    let file = match &sources.file {
        Some(path) => Some(path.clone()),
        None => Path::new(DEFAULT_FILE).exists().then(|| PathBuf::from(DEFAULT_FILE)),
    };
    if let Some(path) = &file {
        let text =
            std::fs::read_to_string(path).map_err(|source| ConfigError::ReadFile { path: path.clone(), source })?;
        let parsed: toml::Table = text.parse().map_err(|e: toml::de::Error| ConfigError::ParseFile {
            path: path.clone(),
            message: e.message().to_owned(),
        })?;
        record_origins(&parsed, "", &path.display().to_string(), &mut origins);
        table = parsed;
    }

    for field in FIELDS {
        if let Some((value, origin)) = from_env(field, &sources.env)? {
            set(&mut table, field.key, value);
            origins.insert(field.key.to_owned(), origin);
        }
    }
    warn_unknown_env(&sources.env, &mut warnings);

    for (key, raw, flag) in &sources.flags {
        let field = crate::fields::field(key).expect("flags name known keys");
        let origin = format!("flag {flag}");
        set(&mut table, key, to_value(field, raw, &origin)?);
        origins.insert((*key).to_owned(), origin);
    }

    let mut unknown = Vec::new();
    let mut track = |path: serde_ignored::Path<'_>| unknown.push(path.to_string());
    let ignored = serde_ignored::Deserializer::new(toml::Value::Table(table), &mut track);
    let config: Config = serde_path_to_error::deserialize(ignored).map_err(|e| {
        let key = e.path().to_string();
        let origin = origins.get(&key).cloned().unwrap_or_else(|| "configuration".into());
        ConfigError::Invalid { key, origin, message: e.into_inner().message().to_owned() }
    })?;
    for key in unknown {
        warnings.push(format!("unknown configuration key `{key}` ignored"));
    }
    validate(&config, &origins)?;
    Ok(Loaded { config, warnings, file })
}

fn from_env(field: &Field, env: &BTreeMap<String, String>) -> Result<Option<(toml::Value, String)>, ConfigError> {
    // Weakest first, so the canonical VEXTRUS_* name wins over a conventional alias.
    let mut names: Vec<String> = field.env_aliases.iter().map(|s| (*s).to_owned()).collect();
    names.push(field.env());
    let mut found = None;
    for name in names {
        let direct = env.get(&name).filter(|v| !v.is_empty());
        let file_name = format!("{name}_FILE");
        let from_file = if field.kind == Kind::Secret { env.get(&file_name).filter(|v| !v.is_empty()) } else { None };
        let (raw, origin) = match (direct, from_file) {
            (Some(_), Some(_)) => {
                return Err(ConfigError::Invalid {
                    key: field.key.into(),
                    origin: format!("environment {name} and {file_name}"),
                    message: "set one of the two, not both".into(),
                });
            }
            (Some(v), None) => (v.clone(), format!("environment {name}")),
            (None, Some(path)) => {
                let text = std::fs::read_to_string(path).map_err(|source| ConfigError::ReadSecretFile {
                    env: file_name.clone(),
                    path: path.into(),
                    source,
                })?;
                (text.trim_end_matches(['\n', '\r']).to_owned(), format!("environment {file_name}"))
            }
            (None, None) => continue,
        };
        found = Some((to_value(field, &raw, &origin)?, origin));
    }
    Ok(found)
}

fn to_value(field: &Field, raw: &str, origin: &str) -> Result<toml::Value, ConfigError> {
    let invalid = |message: String| ConfigError::Invalid { key: field.key.into(), origin: origin.into(), message };
    Ok(match field.kind {
        Kind::Str | Kind::Secret => toml::Value::String(raw.to_owned()),
        Kind::Int => {
            toml::Value::Integer(raw.trim().parse().map_err(|_| invalid(format!("expected an integer, got {raw:?}")))?)
        }
        Kind::Bool => toml::Value::Boolean(match raw.trim().to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "on" => true,
            "false" | "0" | "no" | "off" => false,
            _ => return Err(invalid(format!("expected true or false, got {raw:?}"))),
        }),
    })
}

fn set(table: &mut toml::Table, key: &str, value: toml::Value) {
    let mut parts: Vec<&str> = key.split('.').collect();
    let last = parts.pop().expect("keys are non-empty");
    let mut current = table;
    for part in parts {
        let entry = current.entry(part).or_insert_with(|| toml::Value::Table(toml::Table::new()));
        if !entry.is_table() {
            *entry = toml::Value::Table(toml::Table::new());
        }
        current = entry.as_table_mut().expect("made a table above");
    }
    current.insert(last.to_owned(), value);
}

fn record_origins(table: &toml::Table, prefix: &str, origin: &str, out: &mut BTreeMap<String, String>) {
    for (k, v) in table {
        let key = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
        match v {
            toml::Value::Table(inner) => record_origins(inner, &key, origin, out),
            _ => {
                out.insert(key, origin.to_owned());
            }
        }
    }
}

fn warn_unknown_env(env: &BTreeMap<String, String>, warnings: &mut Vec<String>) {
    let mut known: Vec<String> = vec!["VEXTRUS_CONFIG".into()];
    for field in FIELDS {
        known.push(field.env());
        if field.kind == Kind::Secret {
            known.push(format!("{}_FILE", field.env()));
        }
    }
    for name in env.keys().filter(|k| k.starts_with("VEXTRUS_")) {
        if !known.contains(name) {
            warnings.push(format!("unknown environment variable {name} ignored"));
        }
    }
}

fn validate(config: &Config, origins: &BTreeMap<String, String>) -> Result<(), ConfigError> {
    let fail = |key: &str, message: String| ConfigError::Invalid {
        key: key.into(),
        origin: origins.get(key).cloned().unwrap_or_else(|| "default".into()),
        message,
    };
    let db = &config.database;
    for (key, role) in [
        ("database.owner_role", &db.owner_role),
        ("database.app_role", &db.app_role),
        ("database.system_role", &db.system_role),
    ] {
        if !is_identifier(role) {
            return Err(fail(key, format!("{role:?} is not a role name: use [a-z_][a-z0-9_]*, at most 63 bytes")));
        }
    }
    if db.app_role == db.owner_role || db.system_role == db.owner_role || db.app_role == db.system_role {
        return Err(fail("database.app_role", "owner, app and system roles must be three different roles".into()));
    }
    if !db.postgres_os_user.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
        || db.postgres_os_user.is_empty()
        || db.postgres_os_user.len() > 32
    {
        return Err(fail("database.postgres_os_user", format!("{:?} is not a system user name", db.postgres_os_user)));
    }
    if let Some(url) = &config.public_url {
        match url::Url::parse(url) {
            Ok(u) if matches!(u.scheme(), "http" | "https") && u.query().is_none() && u.fragment().is_none() => {}
            _ => return Err(fail("public_url", format!("{url:?} is not an http(s) URL without query or fragment"))),
        }
    }
    if config.auth.audience.trim().is_empty() {
        return Err(fail("auth.audience", "must not be empty".into()));
    }
    let at_least_one = [
        ("database.max_connections", u64::from(db.max_connections)),
        ("jobs.poll_interval_secs", config.jobs.poll_interval_secs),
        ("jobs.lease_secs", config.jobs.lease_secs),
        ("jobs.max_attempts", u64::try_from(config.jobs.max_attempts).unwrap_or(0)),
        ("http.body_limit_bytes", config.http.body_limit_bytes as u64),
        ("http.request_timeout_secs", config.http.request_timeout_secs),
        ("http.header_read_timeout_secs", config.http.header_read_timeout_secs),
        ("auth.access_token_ttl_secs", config.auth.access_token_ttl_secs),
        ("auth.session_ttl_secs", config.auth.session_ttl_secs),
        ("registry.max_tarball_bytes", config.registry.max_tarball_bytes),
        ("registry.request_timeout_secs", config.registry.request_timeout_secs),
        ("registry.proxy_memory_mib", config.registry.proxy_memory_mib),
        ("registry.packument_cache_mib", config.registry.packument_cache_mib),
    ];
    for (key, value) in at_least_one {
        if value == 0 {
            return Err(fail(key, "must be at least 1".into()));
        }
    }
    let storage = &config.storage;
    match storage.backend.as_str() {
        "local" => {}
        "s3" => {
            let missing = [
                ("storage.s3_bucket", storage.s3_bucket.is_none()),
                ("storage.s3_access_key_id", storage.s3_access_key_id.is_none()),
                ("storage.s3_secret_access_key", storage.s3_secret_access_key.is_none()),
            ];
            if let Some((key, _)) = missing.iter().find(|(_, absent)| *absent) {
                return Err(fail(key, "is required with storage.backend = \"s3\"".into()));
            }
        }
        other => return Err(fail("storage.backend", format!("{other:?} is not `local` or `s3`"))),
    }
    let uplinks = config.registry.uplink_url.iter().map(|url| ("registry.uplink_url", url));
    let listed = config.registry.uplinks.iter().map(|u| ("registry.uplinks", &u.url));
    for (key, url) in uplinks.chain(listed) {
        match url::Url::parse(url) {
            Ok(u) if matches!(u.scheme(), "http" | "https") && u.query().is_none() => {}
            _ => return Err(fail(key, format!("{url:?} is not an http(s) registry URL"))),
        }
    }
    let mut names: Vec<&str> = config.registry.uplinks.iter().map(|u| u.name.as_str()).collect();
    names.sort_unstable();
    if let Some(twice) = names.windows(2).find(|w| w[0] == w[1]) {
        return Err(fail("registry.uplinks", format!("two uplinks are named {:?}", twice[0])));
    }
    if config.registry.uplinks.iter().any(|u| u.timeout_secs == 0 || u.max_failures == 0) {
        return Err(fail("registry.uplinks", "timeout_secs and max_failures must be at least 1".into()));
    }
    for rule in &config.registry.access {
        if rule.packages.trim().is_empty() || !matches!(rule.read.as_str(), "organization" | "signed_in" | "public") {
            let message = format!(
                "{{packages = {:?}, read = {:?}}}: name a package pattern, and read = organization, signed_in or public",
                rule.packages, rule.read
            );
            return Err(fail("registry.access", message));
        }
    }
    if !matches!(config.registry.adduser_role.as_str(), "viewer" | "member") {
        let role = &config.registry.adduser_role;
        return Err(fail("registry.adduser_role", format!("{role:?} is not `viewer` or `member`")));
    }
    let audit = &config.audit;
    if !(1..=120).contains(&audit.min_retention_months) {
        return Err(fail("audit.min_retention_months", "must be between 1 and 120".into()));
    }
    if !(audit.min_retention_months..=120).contains(&audit.retention_months) {
        let bounds = format!("must be between audit.min_retention_months ({}) and 120", audit.min_retention_months);
        return Err(fail("audit.retention_months", bounds));
    }
    if config.data_dir.as_os_str().is_empty() {
        return Err(fail("data_dir", "must not be empty".into()));
    }
    Ok(())
}

pub(crate) fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_lowercase() || c == '_')
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && s.len() <= 63
}

#[cfg(test)]
mod tests;

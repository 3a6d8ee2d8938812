//! Moving from Verdaccio: every package, version, tarball and dist-tag of its storage directory
//! (`<storage>/<name>/package.json` next to the tarballs, `@scope/name` one level deeper). Each
//! tarball is checked against the integrity its packument records, then published through the
//! same path as `npm publish` (so the same checks apply and each version is audited), and the
//! original publication times, publishers, deprecations and tags are restored afterwards.
//! Versions already here are skipped, so an interrupted import is resumed by running it again.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use ring::digest::{SHA1_FOR_LEGACY_USE_ONLY, SHA512, digest};
use serde_json::{Value, json};
use vextrus_db::{Database, TenantId};
use vextrus_storage::Storage;

use crate::model::PackageName;
use crate::service::{self, Origin, RegistryError};

/// Where imported packages go.
#[derive(Debug, Clone)]
pub struct Target {
    /// The organization given with `--org`: unscoped packages (where allowed) and scopes no
    /// organization owns yet (they are claimed for it).
    pub org: Option<TenantId>,
    pub allow_unscoped: bool,
    pub max_tarball_bytes: usize,
}

/// What happened to one package.
#[derive(Debug, Default)]
pub struct Outcome {
    pub imported: usize,
    pub present: usize,
    /// A scope claimed for `--org` on the way.
    pub claimed_scope: Option<String>,
    /// Versions that could not be imported, with why.
    pub failed: Vec<String>,
}

/// The package directories of a Verdaccio storage, sorted.
pub fn package_dirs(storage: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(storage)? {
        let path = entry?.path();
        if !path.is_dir() {
            continue;
        }
        let is_scope = path.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with('@'));
        if is_scope {
            for inner in std::fs::read_dir(&path)? {
                let inner = inner?.path();
                if inner.join("package.json").is_file() {
                    found.push(inner);
                }
            }
        } else if path.join("package.json").is_file() {
            found.push(path);
        }
    }
    found.sort();
    Ok(found)
}

/// Imports the package in `dir`. An error means nothing of it could be imported (its
/// document is unreadable, or no organization may own it).
pub async fn import_package(
    db: &Database,
    storage: &Storage,
    target: &Target,
    dir: &Path,
    actor: &vextrus_audit::Actor,
) -> Result<(PackageName, Outcome), String> {
    let text = std::fs::read(dir.join("package.json")).map_err(|e| format!("{}: {e}", dir.display()))?;
    let doc: Value =
        serde_json::from_slice(&text).map_err(|e| format!("{}/package.json is not JSON: {e}", dir.display()))?;
    let name = doc.get("name").and_then(Value::as_str).unwrap_or_default();
    let name = PackageName::parse(name).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut outcome = Outcome::default();
    let tenant = owner(db, target, &name, actor, &mut outcome).await?;

    let times = doc.get("time").and_then(Value::as_object);
    let time_of = |version: &str| {
        times
            .and_then(|t| t.get(version))
            .and_then(Value::as_str)
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
            .map(|t| t.with_timezone(&chrono::Utc))
    };
    let mut versions: Vec<(&String, &Value)> =
        doc.get("versions").and_then(Value::as_object).into_iter().flatten().collect();
    // Oldest first, as they were published.
    versions.sort_by_key(|(version, _)| time_of(version));
    let mut origins = Vec::new();
    for (version, manifest) in versions {
        match import_version(db, storage, target, tenant, &name, dir, version, manifest, actor).await {
            Ok(true) => outcome.imported += 1,
            Ok(false) => outcome.present += 1,
            Err(why) => {
                outcome.failed.push(format!("{name}@{version}: {why}"));
                continue;
            }
        }
        origins.push(Origin {
            version: version.clone(),
            published_at: time_of(version),
            publisher: manifest.pointer("/_npmUser/name").and_then(Value::as_str).map(str::to_owned),
            deprecated: manifest.get("deprecated").and_then(Value::as_str).map(str::to_owned),
        });
    }
    if outcome.imported > 0 {
        let tags: BTreeMap<String, String> = doc
            .get("dist-tags")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
            .filter_map(|(tag, version)| Some((tag.clone(), version.as_str()?.to_owned())))
            .collect();
        service::import_origin(db, tenant, &name, time_of("created"), &origins, &tags, actor.clone())
            .await
            .map_err(|e| format!("{name}: restoring times and tags: {e}"))?;
    }
    Ok((name, outcome))
}

/// The organization the package goes to: the owner of its scope (or unscoped name) here, else
/// `--org` (claiming the scope for it).
async fn owner(
    db: &Database,
    target: &Target,
    name: &PackageName,
    actor: &vextrus_audit::Actor,
    outcome: &mut Outcome,
) -> Result<TenantId, String> {
    let owner = match name.scope() {
        Some(scope) => crate::scopes::owner_of(db, scope).await.map_err(|e| e.to_string())?,
        None => {
            let mut tx = db.system().await.map_err(|e| e.to_string())?;
            let owner = crate::scopes::unscoped_owner(&mut tx, name.as_str()).await.map_err(|e| e.to_string())?;
            tx.commit().await.map_err(|e| e.to_string())?;
            owner
        }
    };
    if let Some(owner) = owner {
        return Ok(owner);
    }
    let org = target.org.ok_or_else(|| {
        format!(
            "{name}: no organization here owns {}; name one with --org",
            name.scope().map_or("it".into(), |s| format!("@{s}"))
        )
    })?;
    match name.scope() {
        Some(scope) => {
            crate::scopes::claim(db, org, scope, actor.clone())
                .await
                .map_err(|e| format!("{name}: claiming @{scope}: {e}"))?;
            outcome.claimed_scope = Some(format!("@{scope}"));
        }
        None if !target.allow_unscoped => {
            return Err(format!("{name}: unscoped packages need `registry.allow_unscoped = true`"));
        }
        None => {}
    }
    Ok(org)
}

/// Publishes one version from its stored tarball; `false` when it is here already.
#[allow(clippy::too_many_arguments)]
async fn import_version(
    db: &Database,
    storage: &Storage,
    target: &Target,
    tenant: TenantId,
    name: &PackageName,
    dir: &Path,
    version: &str,
    manifest: &Value,
    actor: &vextrus_audit::Actor,
) -> Result<bool, String> {
    let dist = manifest.get("dist").cloned().unwrap_or(Value::Null);
    let file = dist
        .get("tarball")
        .and_then(Value::as_str)
        .and_then(|url| url.rsplit('/').next())
        .map_or_else(|| name.tarball_file(version), str::to_owned);
    let bytes = std::fs::read(dir.join(&file)).map_err(|e| format!("its tarball {file}: {e}"))?;
    check_integrity(&bytes, &dist)?;
    let mut manifest = manifest.clone();
    if let Some(object) = manifest.as_object_mut() {
        for field in ["_id", "_rev", "_attachments", "deprecated"] {
            object.remove(field);
        }
    }
    let publish = json!({
        "name": name.as_str(),
        "versions": {version: manifest},
        "_attachments": {file: {"data": base64::engine::general_purpose::STANDARD.encode(&bytes), "length": bytes.len()}},
    });
    // Signed by the running registry (`serve` signs what is left unsigned).
    match service::publish(db, storage, None, tenant, name, publish, target.max_tarball_bytes, actor.clone()).await {
        Ok(_) => Ok(true),
        Err(RegistryError::VersionExists(_)) => Ok(false),
        Err(e) => Err(e.to_string()),
    }
}

/// The tarball must be the one the packument describes.
fn check_integrity(bytes: &[u8], dist: &Value) -> Result<(), String> {
    let integrity = dist.get("integrity").and_then(Value::as_str);
    if let Some(expected) = integrity.and_then(|i| i.split_whitespace().find_map(|p| p.strip_prefix("sha512-"))) {
        let actual = base64::engine::general_purpose::STANDARD.encode(digest(&SHA512, bytes));
        return if actual == expected {
            Ok(())
        } else {
            Err(format!("the tarball does not match its integrity (sha512-{actual})"))
        };
    }
    if let Some(expected) = dist.get("shasum").and_then(Value::as_str) {
        let actual = service::hex(digest(&SHA1_FOR_LEGACY_USE_ONLY, bytes).as_ref());
        return if actual.eq_ignore_ascii_case(expected) {
            Ok(())
        } else {
            Err(format!("the tarball does not match its shasum ({actual})"))
        };
    }
    Err("the packument records no integrity for it".into())
}

/// A user of a Verdaccio htpasswd file: name and (bcrypt) hash.
#[derive(Debug)]
pub struct HtpasswdUser {
    pub name: String,
    pub hash: String,
}

/// The users of an htpasswd file; lines that are not `name:hash` are reported, not fatal.
pub fn read_htpasswd(text: &str) -> (Vec<HtpasswdUser>, Vec<String>) {
    let mut users = Vec::new();
    let mut bad = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        // Verdaccio appends `:autocreated <date>` after the hash.
        let mut fields = line.splitn(3, ':');
        match (fields.next(), fields.next()) {
            (Some(name), Some(hash)) if !name.is_empty() && !hash.is_empty() => {
                users.push(HtpasswdUser { name: name.to_owned(), hash: hash.to_owned() });
            }
            _ => bad.push(format!("htpasswd line {}: not `name:hash`", i + 1)),
        }
    }
    (users, bad)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn htpasswd_lines_as_verdaccio_writes_them() {
        let text =
            "rahim:$2y$10$abcdefghijklmnopqrstuv:autocreated 2026-11-20T10:00:00.000Z\n\nkarim:$2b$04$x\nbroken\n";
        let (users, bad) = read_htpasswd(text);
        assert_eq!(users.iter().map(|u| u.name.as_str()).collect::<Vec<_>>(), ["rahim", "karim"]);
        assert_eq!(users[0].hash, "$2y$10$abcdefghijklmnopqrstuv");
        assert_eq!(bad, ["htpasswd line 4: not `name:hash`"]);
    }

    #[test]
    fn tarballs_must_match_their_integrity() {
        let bytes = b"tarball";
        let sha512 = base64::engine::general_purpose::STANDARD.encode(digest(&SHA512, bytes));
        assert!(check_integrity(bytes, &json!({"integrity": format!("sha512-{sha512}")})).is_ok());
        assert!(check_integrity(b"other", &json!({"integrity": format!("sha512-{sha512}")})).is_err());
        let sha1 = service::hex(digest(&SHA1_FOR_LEGACY_USE_ONLY, bytes).as_ref());
        assert!(check_integrity(bytes, &json!({"shasum": sha1})).is_ok());
        assert!(check_integrity(bytes, &json!({})).is_err());
    }
}

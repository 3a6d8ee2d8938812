//! Registry operations. Publishing writes the tarball's bytes first (content-addressed, so a
//! retry or a concurrent upload of the same bytes is harmless), then the metadata and its audit
//! event in one transaction: a failed publish leaves no version behind, and a version, once
//! published, never changes.

use std::collections::BTreeMap;

use base64::Engine as _;
use bytes::Bytes;
use ring::digest::{SHA1_FOR_LEGACY_USE_ONLY, SHA512, digest};
use serde_json::{Value, json};
use vextrus_audit::{Actor, NewEvent, Target};
use vextrus_db::{Database, DbError, TenantId, TenantTx, Tx};
use vextrus_storage::{Storage, StorageError};

use crate::model::{PackageName, parse_tag, parse_version};
use crate::store::{self, PackageRow, VersionRow};

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    TooLarge(String),
    #[error("cannot publish over the previously published version {0}")]
    VersionExists(String),
    #[error("not found")]
    NotFound,
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Forbidden(String),
    #[error(transparent)]
    Db(#[from] DbError),
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// A package as stored: what packuments are built from.
#[derive(Debug, Clone)]
pub struct Package {
    pub name: PackageName,
    pub row: PackageRow,
    pub versions: Vec<VersionRow>,
    pub tags: crate::model::Tags,
    /// Usernames that starred it.
    pub stars: Vec<String>,
}

pub async fn load(tx: &mut impl Tx, tenant: TenantId, name: &PackageName) -> Result<Option<Package>, DbError> {
    let Some(row) = store::package(tx, tenant, name.as_str()).await? else {
        return Ok(None);
    };
    let versions = store::versions(tx, tenant, name.as_str()).await?;
    let tags = store::tags(tx, tenant, name.as_str()).await?;
    let stars = store::stars(tx, tenant, name.as_str()).await?;
    Ok(Some(Package { name: name.clone(), row, versions, tags, stars }))
}

/// What a publish added.
#[derive(Debug, Clone)]
pub struct Published {
    pub version: String,
    pub tags: Vec<String>,
    pub size: usize,
    pub created_package: bool,
}

/// Publishes the one version in an npm publish document (`PUT /{name}` with `_attachments`).
#[allow(clippy::too_many_arguments)]
pub async fn publish(
    db: &Database,
    storage: &Storage,
    signing: Option<&crate::signing::Signing>,
    tenant: TenantId,
    name: &PackageName,
    doc: Value,
    max_tarball_bytes: usize,
    actor: Actor,
) -> Result<Published, RegistryError> {
    let checked = name.clone();
    let Prepared { version, mut manifest, tarball, integrity, shasum, sha512, mut tags } =
        tokio::task::spawn_blocking(move || prepare(&checked, &doc, max_tarball_bytes))
            .await
            .map_err(|e| RegistryError::Invalid(format!("the publish could not be checked: {e}")))??;

    // Bytes first, under their own hash: nothing refers to them until the metadata commits.
    let object_key = format!("registry/sha512/{}", hex(&sha512));
    let size = tarball.len();
    let bytes = Bytes::from(tarball);
    if storage.put_if_absent(&object_key, bytes.clone()).await? {
        metrics::counter!("vextrus_registry_stored_bytes_total").increment(size as u64);
    }

    // What is served is rebuilt from the request's URL; the client's own fields are dropped.
    manifest.remove("_attachments");
    if let Some(Value::Object(dist)) = manifest.get_mut("dist") {
        dist.remove("tarball");
    }
    let manifest = Value::Object(manifest);
    let mut tx = db.tenant(tenant).await?;
    // The collector removes bytes no version refers to, holding their key's lock exclusively;
    // holding it shared until this commits — and writing the bytes again if the collector got
    // there first — means no version ever refers to bytes that are gone.
    crate::gc::hold_shared(&mut tx, &object_key).await?;
    if !storage.exists(&object_key).await? {
        storage.put_if_absent(&object_key, bytes).await?;
    }
    let created_package = store::lock_or_create(&mut tx, tenant, name.as_str())
        .await?
        .ok_or_else(|| RegistryError::Forbidden(format!("{name} belongs to another organization")))?;
    let publisher = actor.id;
    let inserted = store::insert_version(
        &mut tx,
        tenant,
        name.as_str(),
        &version,
        &manifest,
        &integrity,
        &shasum,
        &object_key,
        i64::try_from(size).unwrap_or(i64::MAX),
        (publisher, actor.username.as_deref()),
        signing.and_then(|s| s.sign(name.as_str(), &version, &integrity)),
    )
    .await?;
    if !inserted {
        return Err(RegistryError::VersionExists(version));
    }
    for tag in &tags {
        store::set_tag(&mut tx, tenant, name.as_str(), tag, &version).await?;
    }
    // `latest` exists whenever a version does.
    let existing = store::tags(&mut tx, tenant, name.as_str()).await?;
    if !existing.contains_key("latest") {
        store::set_tag(&mut tx, tenant, name.as_str(), "latest", &version).await?;
        tags.push("latest".into());
    }
    within_tag_limit(existing.len() + 1)?;
    store::touch(&mut tx, tenant, name.as_str()).await?;
    let event = NewEvent::new(tenant, actor, "registry.package.publish")
        .target(Target::new("package", name))
        .metadata(serde_json::json!({"version": version, "integrity": integrity, "size": size, "tags": tags}));
    vextrus_audit::record(&mut tx, event).await?;
    let data = json!({"name": name.as_str(), "version": version, "integrity": integrity, "tags": tags});
    crate::webhooks::announce(&mut tx, tenant, "package.publish", data).await?;
    commit_change(tx, name).await?;
    metrics::counter!("vextrus_registry_publishes_total").increment(1);
    Ok(Published { version, tags, size, created_package })
}

/// A publish document checked, with its tarball decoded and inspected.
#[derive(Debug)]
pub struct Prepared {
    pub version: String,
    pub manifest: serde_json::Map<String, Value>,
    pub tarball: Vec<u8>,
    pub integrity: String,
    pub shasum: String,
    pub sha512: Vec<u8>,
    pub tags: Vec<String>,
}

/// The largest readme kept in a version's manifest (npm's own registry keeps far less).
pub const MAX_README_BYTES: usize = 256 * 1024;
/// The largest version manifest (the JSON a packument repeats for every version).
pub const MAX_MANIFEST_BYTES: usize = crate::tarball::MAX_MANIFEST as usize;

/// Checks a publish document (`PUT /{name}` with `_attachments`) without touching the database:
/// CPU work only (base64, digests, gunzip), run off the async workers. Every size it acts on is
/// measured, never taken from the document.
pub fn prepare(name: &PackageName, doc: &Value, max_tarball_bytes: usize) -> Result<Prepared, RegistryError> {
    let invalid = |m: String| RegistryError::Invalid(m);
    if doc.get("name").and_then(Value::as_str).is_some_and(|n| n != name.as_str()) {
        return Err(invalid(format!("the document names {} but was sent to {name}", doc["name"])));
    }
    let versions = doc.get("versions").and_then(Value::as_object).ok_or_else(|| invalid("no versions".into()))?;
    if versions.len() != 1 {
        return Err(invalid("a publish carries exactly one version".into()));
    }
    let Some((version, manifest)) = versions.iter().next() else {
        return Err(invalid("a publish carries exactly one version".into()));
    };
    let version = parse_version(version).map_err(invalid)?;
    let mut manifest = manifest.as_object().cloned().ok_or_else(|| invalid("the version is not an object".into()))?;
    if manifest.get("name").and_then(Value::as_str) != Some(name.as_str())
        || manifest.get("version").and_then(Value::as_str).map(parse_version) != Some(Ok(version.clone()))
    {
        return Err(invalid(format!("the manifest does not name {name}@{version}")));
    }
    if let Some(readme) = manifest.get("readme").and_then(Value::as_str)
        && readme.len() > MAX_README_BYTES
    {
        return Err(RegistryError::TooLarge(format!("the readme is larger than {MAX_README_BYTES} bytes")));
    }
    let attachments =
        doc.get("_attachments").and_then(Value::as_object).ok_or_else(|| invalid("no _attachments".into()))?;
    if attachments.len() != 1 {
        return Err(invalid("a publish carries exactly one tarball".into()));
    }
    let Some((_, attachment)) = attachments.iter().next() else {
        return Err(invalid("a publish carries exactly one tarball".into()));
    };
    let data = attachment.get("data").and_then(Value::as_str).ok_or_else(|| invalid("no tarball data".into()))?;
    if data.len() / 4 * 3 > max_tarball_bytes + 3 {
        return Err(RegistryError::TooLarge(format!("the tarball is larger than {max_tarball_bytes} bytes")));
    }
    let tarball = base64::engine::general_purpose::STANDARD
        .decode(data)
        .map_err(|e| invalid(format!("the tarball is not base64: {e}")))?;
    if tarball.is_empty() || tarball.len() > max_tarball_bytes {
        return Err(RegistryError::TooLarge(format!("the tarball is larger than {max_tarball_bytes} bytes")));
    }
    if let Some(length) = attachment.get("length").and_then(Value::as_u64)
        && length != tarball.len() as u64
    {
        return Err(invalid(format!("the tarball is {} bytes, not the {length} announced", tarball.len())));
    }
    // The client's integrity must be the bytes' (pacote refuses a mismatch at install time).
    let sha512 = digest(&SHA512, &tarball).as_ref().to_vec();
    let integrity = format!("sha512-{}", base64::engine::general_purpose::STANDARD.encode(&sha512));
    let shasum = hex(digest(&SHA1_FOR_LEGACY_USE_ONLY, &tarball).as_ref());
    let dist = manifest.get("dist").cloned().unwrap_or(Value::Null);
    if let Some(claimed) = dist.get("integrity").and_then(Value::as_str)
        && claimed != integrity
    {
        return Err(invalid(format!("dist.integrity {claimed} does not match the tarball ({integrity})")));
    }
    if let Some(claimed) = dist.get("shasum").and_then(Value::as_str)
        && claimed != shasum
    {
        return Err(invalid(format!("dist.shasum {claimed} does not match the tarball ({shasum})")));
    }
    let inspected = crate::tarball::check(&tarball, name.as_str(), &version).map_err(invalid)?;
    // What installers are told about install scripts is what the tarball holds, not what the
    // document claims (`npm install` decides from it whether to run scripts at all).
    manifest.insert("hasInstallScript".into(), Value::Bool(inspected.has_install_script));
    if inspected.has_install_script
        && let Some(scripts) = inspected.manifest.get("scripts")
    {
        manifest.insert("scripts".into(), scripts.clone());
    }
    let size = serde_json::to_vec(&manifest).map(|m| m.len()).unwrap_or(usize::MAX);
    if size > MAX_MANIFEST_BYTES {
        return Err(RegistryError::TooLarge(format!(
            "the version's manifest is larger than {MAX_MANIFEST_BYTES} bytes"
        )));
    }
    let mut tags = Vec::new();
    if let Some(requested) = doc.get("dist-tags").and_then(Value::as_object) {
        for (tag, target) in requested {
            if target.as_str().map(parse_version) == Some(Ok(version.clone())) {
                tags.push(parse_tag(tag).map_err(invalid)?);
            }
        }
    }
    Ok(Prepared { version, manifest, tarball, integrity, shasum, sha512, tags })
}

/// The most dist-tags one package may have (npm's registry has no more than a handful on most).
pub const MAX_DIST_TAGS: usize = 100;
/// The longest deprecation message, in characters.
pub const MAX_DEPRECATION_CHARS: usize = 1024;

fn within_tag_limit(count: usize) -> Result<(), RegistryError> {
    if count > MAX_DIST_TAGS {
        return Err(RegistryError::Invalid(format!("a package may have at most {MAX_DIST_TAGS} dist-tags")));
    }
    Ok(())
}

/// Locks an existing package until the transaction ends (changes to one package are serialised).
async fn lock_existing(tx: &mut TenantTx, tenant: TenantId, name: &PackageName) -> Result<(), RegistryError> {
    if store::package(tx, tenant, name.as_str()).await?.is_none() {
        return Err(RegistryError::NotFound);
    }
    store::lock_or_create(tx, tenant, name.as_str()).await?;
    Ok(())
}

/// Commits a change to `name`, announced at commit to every instance's caches — for an unscoped
/// name its owner too (whoever has the name owns it, and publishing or removing may change that).
async fn commit_change(mut tx: TenantTx, name: &PackageName) -> Result<(), DbError> {
    crate::cache::announce_package(&mut tx, name.as_str()).await?;
    if name.scope().is_none() {
        crate::cache::announce_owner(&mut tx, name.as_str()).await?;
    }
    tx.commit().await
}

/// Points `tag` at `version`.
pub async fn set_tag(
    db: &Database,
    tenant: TenantId,
    name: &PackageName,
    tag: &str,
    version: &str,
    actor: Actor,
) -> Result<(), RegistryError> {
    let tag = parse_tag(tag).map_err(RegistryError::Invalid)?;
    let version = parse_version(version).map_err(RegistryError::Invalid)?;
    let mut tx = db.tenant(tenant).await?;
    lock_existing(&mut tx, tenant, name).await?;
    if store::tarball(&mut tx, tenant, name.as_str(), &version).await?.is_none() {
        return Err(RegistryError::Invalid(format!("{name} has no version {version}")));
    }
    let existing = store::tags(&mut tx, tenant, name.as_str()).await?;
    let before = existing.get(&tag).cloned();
    within_tag_limit(existing.len() + usize::from(before.is_none()))?;
    store::set_tag(&mut tx, tenant, name.as_str(), &tag, &version).await?;
    let data = json!({"name": name.as_str(), "tag": tag, "version": version, "before": before});
    crate::webhooks::announce(&mut tx, tenant, "package.dist_tag", data).await?;
    store::touch(&mut tx, tenant, name.as_str()).await?;
    let event = NewEvent::new(tenant, actor, "registry.dist_tag.set").target(Target::new("package", name)).changes(
        vextrus_audit::changes(
            &serde_json::json!({ tag.as_str(): before }),
            &serde_json::json!({ tag.as_str(): version }),
            &[],
        ),
    );
    vextrus_audit::record(&mut tx, event).await?;
    commit_change(tx, name).await?;
    Ok(())
}

/// Removes `tag` (never `latest`, which exists while any version does).
pub async fn remove_tag(
    db: &Database,
    tenant: TenantId,
    name: &PackageName,
    tag: &str,
    actor: Actor,
) -> Result<(), RegistryError> {
    if tag == "latest" {
        return Err(RegistryError::Conflict("the latest tag cannot be removed".into()));
    }
    let mut tx = db.tenant(tenant).await?;
    lock_existing(&mut tx, tenant, name).await?;
    let Some(was) = store::remove_tag(&mut tx, tenant, name.as_str(), tag).await? else {
        return Err(RegistryError::NotFound);
    };
    let data = json!({"name": name.as_str(), "tag": tag, "version": null, "before": was});
    crate::webhooks::announce(&mut tx, tenant, "package.dist_tag", data).await?;
    store::touch(&mut tx, tenant, name.as_str()).await?;
    let event = NewEvent::new(tenant, actor, "registry.dist_tag.remove")
        .target(Target::new("package", name))
        .changes(serde_json::json!({ tag: {"before": was, "after": null} }));
    vextrus_audit::record(&mut tx, event).await?;
    commit_change(tx, name).await?;
    Ok(())
}

/// Where a version's tarball is stored.
pub async fn tarball_of(
    db: &Database,
    tenant: TenantId,
    name: &PackageName,
    file: &str,
) -> Result<Option<(String, i64)>, DbError> {
    let Some(version) = file.strip_prefix(&format!("{}-", name.bare())).and_then(|f| f.strip_suffix(".tgz")) else {
        return Ok(None);
    };
    let mut tx = db.tenant(tenant).await?;
    let found = store::tarball(&mut tx, tenant, name.as_str(), version).await?;
    tx.commit().await?;
    Ok(found)
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// How long after publishing its publisher may still unpublish a version; later it takes
/// `registry.packages.manage`.
pub const UNPUBLISH_WINDOW_HOURS: i64 = 72;

/// What a change to a package document (`PUT /{name}` without a tarball) may do, by the
/// caller's permissions.
#[derive(Debug, Clone, Copy)]
pub struct Allowed {
    /// `registry.packages.manage`: unpublish at any age.
    pub manage: bool,
}

/// Which change a package document makes.
#[derive(Debug, Clone, Copy)]
pub enum Edit<'a> {
    /// `PUT /{name}`: the deprecations it states.
    Deprecate,
    /// `PUT /{name}/-rev/{rev}`: the versions it no longer lists go.
    Unpublish { rev: &'a str },
}

/// The CouchDB-style revision clients send back (`_rev`).
pub fn rev_of(rev: i64) -> String {
    format!("{rev}-{}", hex(&rev.to_be_bytes()))
}

/// Applies a package document as npm sends it to deprecate (`versions[v].deprecated`, "" to
/// undeprecate) or, on the `/-rev/{rev}` path, to unpublish (the versions it no longer lists).
/// A `_rev` that is not the current one is a conflict: someone changed the package meanwhile.
pub async fn update(
    db: &Database,
    tenant: TenantId,
    name: &PackageName,
    doc: &Value,
    edit: Edit<'_>,
    allowed: Allowed,
    actor: Actor,
) -> Result<(), RegistryError> {
    let (rev, unpublish) = match edit {
        Edit::Deprecate => (None, false),
        Edit::Unpublish { rev } => (Some(rev), true),
    };
    let listed =
        doc.get("versions").and_then(Value::as_object).ok_or_else(|| RegistryError::Invalid("no versions".into()))?;
    let mut tx = db.tenant(tenant).await?;
    lock_existing(&mut tx, tenant, name).await?;
    let package = load(&mut tx, tenant, name).await?.ok_or(RegistryError::NotFound)?;
    let current = rev_of(package.row.rev);
    if let Some(sent) = rev.or_else(|| doc.get("_rev").and_then(Value::as_str))
        && sent != current
    {
        return Err(RegistryError::Conflict(format!(
            "the package changed meanwhile (revision {sent} is not {current})"
        )));
    }
    let mut deprecations = serde_json::Map::new();
    for row in &package.versions {
        let Some(sent) = listed.get(&row.version) else { continue };
        let Some(message) = sent.get("deprecated").and_then(Value::as_str) else { continue };
        if message.chars().count() > MAX_DEPRECATION_CHARS {
            return Err(RegistryError::Invalid(format!(
                "a deprecation message may have at most {MAX_DEPRECATION_CHARS} characters"
            )));
        }
        let message = (!message.is_empty()).then_some(message);
        if message != row.deprecated.as_deref() {
            deprecations.insert(row.version.clone(), json!({"before": row.deprecated, "after": message}));
        }
    }
    // Deprecating is a maintainer's act, as on npm: whoever may publish the package (every
    // caller here holds `registry.packages.publish`) may deprecate and undeprecate its versions.
    let removed: Vec<&VersionRow> =
        if unpublish { package.versions.iter().filter(|v| !listed.contains_key(&v.version)).collect() } else { vec![] };
    check_unpublish(&removed, allowed)?;
    for (version, change) in &deprecations {
        store::set_deprecated(&mut tx, tenant, name.as_str(), version, change["after"].as_str()).await?;
    }
    for row in &removed {
        store::delete_version(&mut tx, tenant, name.as_str(), &row.version).await?;
    }
    let remaining: Vec<&VersionRow> =
        package.versions.iter().filter(|v| !removed.iter().any(|r| r.version == v.version)).collect();
    if remaining.is_empty() {
        store::delete_package(&mut tx, tenant, name.as_str()).await?;
    } else {
        if !store::tags(&mut tx, tenant, name.as_str()).await?.contains_key("latest")
            && let Some(newest) = newest(&remaining)
        {
            store::set_tag(&mut tx, tenant, name.as_str(), "latest", &newest).await?;
        }
        store::touch(&mut tx, tenant, name.as_str()).await?;
    }
    if !deprecations.is_empty() {
        let event = NewEvent::new(tenant, actor.clone(), "registry.package.deprecate")
            .target(Target::new("package", name))
            .changes(Value::Object(deprecations));
        vextrus_audit::record(&mut tx, event).await?;
    }
    if !removed.is_empty() {
        let versions: Vec<&str> = removed.iter().map(|v| v.version.as_str()).collect();
        let event = NewEvent::new(tenant, actor, "registry.package.unpublish")
            .target(Target::new("package", name))
            .metadata(json!({"versions": versions, "package_removed": remaining.is_empty()}));
        vextrus_audit::record(&mut tx, event).await?;
        let data = json!({"name": name.as_str(), "versions": versions, "package_removed": remaining.is_empty()});
        crate::webhooks::announce(&mut tx, tenant, "package.unpublish", data).await?;
    }
    commit_change(tx, name).await?;
    Ok(())
}

/// Removes the whole package (`DELETE /{name}/-rev/{rev}`).
pub async fn unpublish_package(
    db: &Database,
    tenant: TenantId,
    name: &PackageName,
    rev: &str,
    allowed: Allowed,
    actor: Actor,
) -> Result<(), RegistryError> {
    let mut tx = db.tenant(tenant).await?;
    lock_existing(&mut tx, tenant, name).await?;
    let package = load(&mut tx, tenant, name).await?.ok_or(RegistryError::NotFound)?;
    if rev != rev_of(package.row.rev) {
        return Err(RegistryError::Conflict("the package changed meanwhile".into()));
    }
    check_unpublish(&package.versions.iter().collect::<Vec<_>>(), allowed)?;
    store::delete_package(&mut tx, tenant, name.as_str()).await?;
    let versions: Vec<&str> = package.versions.iter().map(|v| v.version.as_str()).collect();
    let event = NewEvent::new(tenant, actor, "registry.package.unpublish")
        .target(Target::new("package", name))
        .metadata(json!({"versions": versions, "package_removed": true}));
    vextrus_audit::record(&mut tx, event).await?;
    let data = json!({"name": name.as_str(), "versions": versions, "package_removed": true});
    crate::webhooks::announce(&mut tx, tenant, "package.unpublish", data).await?;
    commit_change(tx, name).await?;
    Ok(())
}

fn check_unpublish(removed: &[&VersionRow], allowed: Allowed) -> Result<(), RegistryError> {
    let window = chrono::Duration::hours(UNPUBLISH_WINDOW_HOURS);
    if let Some(old) = removed.iter().find(|v| chrono::Utc::now() - v.published_at > window)
        && !allowed.manage
    {
        return Err(RegistryError::Forbidden(format!(
            "{} was published more than {UNPUBLISH_WINDOW_HOURS} hours ago: unpublishing it needs the permission \
             registry.packages.manage",
            old.version
        )));
    }
    Ok(())
}

/// The highest version, releases before prereleases.
fn newest(versions: &[&VersionRow]) -> Option<String> {
    versions
        .iter()
        .filter_map(|v| semver::Version::parse(&v.version).ok())
        .max_by_key(|v| (v.pre.is_empty(), v.clone()))
        .map(|v| v.to_string())
}

/// `npm star` / `npm unstar`: the document's `users` says whether `username` stars the package
/// (only the caller's own star changes, whatever else the document lists).
pub async fn star(
    db: &Database,
    tenant: TenantId,
    name: &PackageName,
    doc: &Value,
    username: &str,
    actor: Actor,
) -> Result<(), RegistryError> {
    let starred = doc.get("users").and_then(Value::as_object).is_some_and(|u| u.get(username) == Some(&json!(true)));
    let mut tx = db.tenant(tenant).await?;
    if store::package(&mut tx, tenant, name.as_str()).await?.is_none() {
        return Err(RegistryError::NotFound);
    }
    if store::set_star(&mut tx, tenant, name.as_str(), username, starred).await? {
        let action = if starred { "registry.package.star" } else { "registry.package.unstar" };
        vextrus_audit::record(&mut tx, NewEvent::new(tenant, actor, action).target(Target::new("package", name)))
            .await?;
    }
    commit_change(tx, name).await?;
    Ok(())
}

/// Who besides the organization may read the package: `organization`, `signed_in` or `public`
/// (npm's `restricted`/`private` and `public` map to the first and last).
pub async fn set_visibility(
    db: &Database,
    tenant: TenantId,
    name: &PackageName,
    visibility: &str,
    actor: Actor,
) -> Result<(), RegistryError> {
    let visibility = match visibility {
        "organization" | "restricted" | "private" => "organization",
        "signed_in" => "signed_in",
        "public" => "public",
        other => {
            return Err(RegistryError::Invalid(format!("unknown access {other:?}: public, signed_in or restricted")));
        }
    };
    let mut tx = db.tenant(tenant).await?;
    let Some(row) = store::package(&mut tx, tenant, name.as_str()).await? else {
        return Err(RegistryError::NotFound);
    };
    // Chosen now, it no longer follows the configured rules (even if it stays the same).
    store::set_visibility(&mut tx, tenant, name.as_str(), visibility).await?;
    if row.visibility != visibility {
        store::touch(&mut tx, tenant, name.as_str()).await?;
        let event = NewEvent::new(tenant, actor, "registry.package.visibility")
            .target(Target::new("package", name))
            .changes(json!({"visibility": {"before": row.visibility, "after": visibility}}));
        vextrus_audit::record(&mut tx, event).await?;
    }
    commit_change(tx, name).await?;
    Ok(())
}

/// What an imported version keeps from its origin.
#[derive(Debug, Clone, Default)]
pub struct Origin {
    pub version: String,
    pub published_at: Option<chrono::DateTime<chrono::Utc>>,
    pub publisher: Option<String>,
    pub deprecated: Option<String>,
}

/// After the versions of an imported package are published: their original times,
/// publishers and deprecations, the package's creation time and its dist-tags (those pointing
/// at versions it has), in one transaction with one audit event.
pub async fn import_origin(
    db: &Database,
    tenant: TenantId,
    name: &PackageName,
    created_at: Option<chrono::DateTime<chrono::Utc>>,
    origins: &[Origin],
    tags: &BTreeMap<String, String>,
    actor: Actor,
) -> Result<(), RegistryError> {
    let mut tx = db.tenant(tenant).await?;
    if store::lock_or_create(&mut tx, tenant, name.as_str()).await?.is_none() {
        return Err(RegistryError::Forbidden(format!("{name} belongs to another organization")));
    }
    for origin in origins {
        store::set_origin(
            &mut tx,
            tenant,
            name.as_str(),
            &origin.version,
            origin.published_at,
            origin.publisher.as_deref(),
        )
        .await?;
        if let Some(message) = origin.deprecated.as_deref().filter(|m| !m.is_empty()) {
            store::set_deprecated(&mut tx, tenant, name.as_str(), &origin.version, Some(message)).await?;
        }
    }
    if let Some(created_at) = created_at {
        store::set_created(&mut tx, tenant, name.as_str(), created_at).await?;
    }
    let mut applied = BTreeMap::new();
    for (tag, version) in tags {
        let (Ok(tag), Ok(version)) = (parse_tag(tag), parse_version(version)) else { continue };
        if store::tarball(&mut tx, tenant, name.as_str(), &version).await?.is_some() {
            store::set_tag(&mut tx, tenant, name.as_str(), &tag, &version).await?;
            applied.insert(tag, version);
        }
    }
    store::touch(&mut tx, tenant, name.as_str()).await?;
    let event = NewEvent::new(tenant, actor, "registry.package.import")
        .target(Target::new("package", name))
        .metadata(json!({"versions": origins.iter().map(|o| &o.version).collect::<Vec<_>>(), "tags": applied}));
    vextrus_audit::record(&mut tx, event).await?;
    commit_change(tx, name).await?;
    Ok(())
}

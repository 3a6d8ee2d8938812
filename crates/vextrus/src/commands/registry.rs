//! `vextrus registry import-verdaccio`: packages from a Verdaccio storage directory, users from
//! its htpasswd file. Progress goes to stderr (a bar on a terminal, a line per package
//! otherwise); the summary to stdout. Exit status 1 when anything could not be imported.

use std::io::{IsTerminal as _, Write as _};
use std::path::Path;

use anyhow::Context;
use vextrus_config::Config;
use vextrus_db::{Database, TenantId};
use vextrus_registry::import;

use crate::cli::RegistryCommand;

pub async fn run(config: Config, cmd: RegistryCommand) -> anyhow::Result<()> {
    let (storage, verdaccio_config, htpasswd, org, role) = match cmd {
        RegistryCommand::ImportVerdaccio { storage, verdaccio_config, htpasswd, org, role } => {
            (storage, verdaccio_config, htpasswd, org, role)
        }
        RegistryCommand::RotateSigningKey => return rotate_signing_key(&config).await,
    };
    if let Some(path) = &verdaccio_config {
        let yaml = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let proposed = vextrus::verdaccio::propose(&yaml).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        print!("{proposed}");
    }
    let Some(storage) = storage else { return Ok(()) };
    let packages = import::package_dirs(&storage).with_context(|| format!("reading {}", storage.display()))?;
    let users = match &htpasswd {
        Some(path) => Some(std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?),
        None => None,
    };
    let objects = vextrus::platform::storage(&config).context("opening object storage")?;
    let (opened, db) = super::admin::open(&config).await?;
    let result = async {
        let org = match &org {
            Some(slug) => Some(org_id(&db, slug).await?),
            None => None,
        };
        let target = import::Target {
            org,
            allow_unscoped: config.registry.allow_unscoped,
            max_tarball_bytes: usize::try_from(config.registry.max_tarball_bytes).unwrap_or(usize::MAX),
        };
        let mut summary = Summary::default();
        import_packages(&db, &objects, &target, &packages, &mut summary).await;
        if let (Some(text), Some(org)) = (users, org) {
            import_users(&db, vextrus_server::Limits::from(&config.limits).plan, org, &role, &text, &mut summary)
                .await?;
        }
        summary.print(&storage);
        anyhow::ensure!(summary.problems.is_empty(), "{} problem(s); see above", summary.problems.len());
        Ok(())
    }
    .await;
    db.close().await;
    opened.close().await;
    result
}

async fn org_id(db: &Database, slug: &str) -> anyhow::Result<TenantId> {
    let slug = vextrus_tenancy::OrgSlug::parse(slug).map_err(|e| anyhow::anyhow!("--org {slug:?}: {e}"))?;
    let mut tx = db.system().await?;
    let org = vextrus_tenancy::service::get(&mut tx, &vextrus_tenancy::model::OrgRef::Slug(slug.clone()))
        .await
        .map_err(|e| anyhow::anyhow!("--org {}: {e}", slug.as_str()))?;
    tx.commit().await?;
    Ok(org.id)
}

#[derive(Default)]
struct Summary {
    packages: usize,
    versions_imported: usize,
    versions_present: usize,
    scopes_claimed: Vec<String>,
    users_imported: usize,
    users_present: usize,
    problems: Vec<String>,
}

impl Summary {
    fn print(&self, storage: &Path) {
        println!("imported from {}:", storage.display());
        println!(
            "  packages: {} ({} versions imported, {} already here)",
            self.packages, self.versions_imported, self.versions_present
        );
        if !self.scopes_claimed.is_empty() {
            println!("  scopes claimed: {}", self.scopes_claimed.join(", "));
        }
        println!("  users: {} imported, {} already here", self.users_imported, self.users_present);
        for problem in &self.problems {
            println!("  not imported: {problem}");
        }
    }
}

async fn import_packages(
    db: &Database,
    objects: &vextrus_storage::Storage,
    target: &import::Target,
    dirs: &[std::path::PathBuf],
    summary: &mut Summary,
) {
    let actor = super::admin::cli_operator();
    let progress = Progress::new(dirs.len());
    for (i, dir) in dirs.iter().enumerate() {
        match import::import_package(db, objects, target, dir, &actor).await {
            Ok((name, outcome)) => {
                summary.packages += 1;
                summary.versions_imported += outcome.imported;
                summary.versions_present += outcome.present;
                summary.scopes_claimed.extend(outcome.claimed_scope);
                summary.problems.extend(outcome.failed);
                progress.show(i + 1, &format!("{name}: {} new, {} already here", outcome.imported, outcome.present));
            }
            Err(problem) => {
                progress.show(i + 1, &problem);
                summary.problems.push(problem);
            }
        }
    }
    progress.done();
}

async fn import_users(
    db: &Database,
    plan_defaults: vextrus_server::PlanLimits,
    org: TenantId,
    role: &str,
    text: &str,
    summary: &mut Summary,
) -> anyhow::Result<()> {
    let (users, bad) = import::read_htpasswd(text);
    summary.problems.extend(bad);
    let role = vextrus_access::RoleKey::parse(role).map_err(anyhow::Error::msg)?;
    let actor = super::admin::cli_operator();
    for user in users {
        let Ok(username) = vextrus_identity::model::Username::parse(&user.name) else {
            summary.problems.push(format!("user {:?}: not a valid platform username", user.name));
            continue;
        };
        if !vextrus_identity::password::is_bcrypt(&user.hash) {
            summary.problems.push(format!("user {}: only bcrypt htpasswd hashes can be kept", user.name));
            continue;
        }
        let mut tx = db.system().await?;
        match vextrus_identity::service::import_user(
            &mut tx,
            org,
            &username,
            &user.hash,
            role.clone(),
            actor.clone(),
            plan_defaults,
        )
        .await
        {
            Ok(Some(_)) => {
                tx.commit().await?;
                summary.users_imported += 1;
            }
            Ok(None) => summary.users_present += 1,
            Err(e) => summary.problems.push(format!("user {}: {e}", user.name)),
        }
    }
    Ok(())
}

/// A bar on a terminal; a line per package otherwise.
struct Progress {
    total: usize,
    terminal: bool,
}

impl Progress {
    fn new(total: usize) -> Self {
        Self { total, terminal: std::io::stderr().is_terminal() }
    }

    fn show(&self, done: usize, what: &str) {
        let mut err = std::io::stderr().lock();
        if self.terminal {
            let width = 30;
            let filled = done * width / self.total.max(1);
            let what: String = what.chars().take(60).collect();
            let _ = write!(
                err,
                "\r\x1b[2K[{}{}] {done}/{} {what}",
                "#".repeat(filled),
                ".".repeat(width - filled),
                self.total
            );
        } else {
            let _ = writeln!(err, "[{done}/{}] {what}", self.total);
        }
    }

    fn done(&self) {
        if self.terminal {
            let _ = writeln!(std::io::stderr());
        }
    }
}

async fn rotate_signing_key(config: &Config) -> anyhow::Result<()> {
    let master = vextrus::platform::master_key(config, config.database.url.is_none())?;
    let ring = vextrus_identity::keys::KeyRing::new(master);
    let (opened, db) = super::admin::open(config).await?;
    let rotated = vextrus_registry::signing::rotate(&db, &ring).await;
    db.close().await;
    opened.close().await;
    println!("new registry signing key {}; the previous one expires now and stays listed", rotated?);
    Ok(())
}

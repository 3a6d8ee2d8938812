//! Who PostgreSQL runs as. PostgreSQL refuses to run as root, so as root we run it as an
//! unprivileged system user (created with `useradd` if missing); otherwise as ourselves.

use std::path::Path;

use tokio::process::Command;

use super::EmbeddedError;

#[derive(Debug, Clone)]
pub(super) struct RunAs {
    /// `None`: run as the current user.
    switch_to: Option<(String, u32, u32)>,
}

impl RunAs {
    pub(super) fn for_current_process(os_user: &str) -> Result<Self, EmbeddedError> {
        if effective_uid() != Some(0) {
            return Ok(Self { switch_to: None });
        }
        let (uid, gid) = match lookup(os_user) {
            Some(ids) => ids,
            None => {
                // Another process may have created it meanwhile: trust the lookup, not useradd's status.
                let created = create_system_user(os_user);
                match (lookup(os_user), created) {
                    (Some(ids), _) => ids,
                    (None, Err(e)) => return Err(e),
                    (None, Ok(())) => {
                        return Err(EmbeddedError::OsUser(format!("user {os_user} was created but cannot be found")));
                    }
                }
            }
        };
        Ok(Self { switch_to: Some((os_user.to_owned(), uid, gid)) })
    }

    pub(super) fn is_switching(&self) -> bool {
        self.switch_to.is_some()
    }

    pub(super) fn name(&self) -> &str {
        self.switch_to.as_ref().map_or("(current user)", |(n, _, _)| n)
    }

    pub(super) fn apply(&self, cmd: &mut Command) {
        if let Some((_, uid, gid)) = &self.switch_to {
            // std drops supplementary groups when a root parent sets uid without groups.
            cmd.uid(*uid).gid(*gid);
        }
    }

    pub(super) fn own(&self, path: &Path) -> Result<(), EmbeddedError> {
        if let Some((_, uid, gid)) = &self.switch_to {
            std::os::unix::fs::chown(path, Some(*uid), Some(*gid))
                .map_err(|source| EmbeddedError::Io { path: path.to_owned(), source })?;
        }
        Ok(())
    }
}

/// The effective uid, from `/proc/self/status` (no libc call needed).
fn effective_uid() -> Option<u32> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("Uid:"))?;
    line.split_whitespace().nth(2)?.parse().ok()
}

fn lookup(name: &str) -> Option<(u32, u32)> {
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|line| {
        let mut fields = line.split(':');
        (fields.next()? == name).then_some(())?;
        let _password = fields.next()?;
        Some((fields.next()?.parse().ok()?, fields.next()?.parse().ok()?))
    })
}

fn create_system_user(name: &str) -> Result<(), EmbeddedError> {
    tracing::info!(user = name, "creating system user to run the embedded PostgreSQL");
    let out = std::process::Command::new("useradd")
        .args([
            "--system",
            "--user-group",
            "--no-create-home",
            "--home-dir",
            "/nonexistent",
            "--shell",
            "/usr/sbin/nologin",
        ])
        .arg(name)
        .output()
        .map_err(|e| EmbeddedError::OsUser(format!("cannot run useradd to create system user {name}: {e}")))?;
    if !out.status.success() {
        return Err(EmbeddedError::OsUser(format!(
            "useradd could not create system user {name}: {}; create it yourself or set database.postgres_os_user",
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(())
}

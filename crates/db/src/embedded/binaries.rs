//! Finding `initdb` and `postgres`: configured directory, then PATH, then Debian's
//! `/usr/lib/postgresql/<major>/bin` (newest major first).

use std::path::{Path, PathBuf};

use super::EmbeddedError;

#[derive(Debug, Clone)]
pub(super) struct ServerBinaries {
    pub initdb: PathBuf,
    pub postgres: PathBuf,
}

impl ServerBinaries {
    fn in_dir(dir: &Path) -> Option<Self> {
        let initdb = dir.join("initdb");
        let postgres = dir.join("postgres");
        (initdb.is_file() && postgres.is_file()).then_some(Self { initdb, postgres })
    }
}

pub(super) fn resolve(configured: Option<&Path>) -> Result<ServerBinaries, EmbeddedError> {
    match configured {
        Some(dir) => ServerBinaries::in_dir(dir).ok_or_else(|| EmbeddedError::BadBinDir(dir.to_owned())),
        None => find_server_binaries().ok_or(EmbeddedError::NoServerBinaries),
    }
}

fn find_server_binaries() -> Option<ServerBinaries> {
    let from_path = std::env::var_os("PATH").map(|p| std::env::split_paths(&p).collect::<Vec<_>>()).unwrap_or_default();
    from_path.iter().find_map(|d| ServerBinaries::in_dir(d)).or_else(|| {
        let mut majors: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| Some((e.file_name().to_str()?.parse().ok()?, e.path().join("bin"))))
            .collect();
        majors.sort_by_key(|m| std::cmp::Reverse(m.0));
        majors.iter().find_map(|(_, dir)| ServerBinaries::in_dir(dir))
    })
}

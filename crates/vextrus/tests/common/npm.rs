//! The npm clients as the registry tests drive them: npm itself, and pnpm, yarn 1, yarn 4 and
//! Changesets from `scripts/ensure-node-tools.sh`.

use std::path::{Path, PathBuf};

use serde_json::json;

use super::TestApp;

/// An npm run in `dir` with its own user config (the token) and cache; answers (ok, stdout, stderr).
#[derive(Clone)]
pub struct Npm {
    pub home: PathBuf,
}

impl Npm {
    pub fn new(root: &Path, app: &TestApp, token: &str) -> Self {
        let home = root.join(format!("npm-home-{}", &token[..12.min(token.len())]));
        std::fs::create_dir_all(&home).unwrap();
        let registry = format!("{}/npm/", app.base);
        let auth_key = registry.trim_start_matches("http:");
        std::fs::write(
            home.join(".npmrc"),
            format!(
                "registry={registry}\n{auth_key}:_authToken={token}\naudit=false\nfund=false\nupdate-notifier=false\n"
            ),
        )
        .unwrap();
        Npm { home }
    }

    pub async fn run(&self, dir: &Path, args: &[&str]) -> (bool, String, String) {
        self.tool(dir, "npm", args).await
    }

    /// Any client (npm, pnpm, yarn, node, changeset) with this home, config and caches.
    pub async fn tool(&self, dir: &Path, program: &str, args: &[&str]) -> (bool, String, String) {
        let path = format!("{}:{}", node_tools().join(".bin").display(), std::env::var("PATH").unwrap_or_default());
        let output = tokio::process::Command::new(program)
            .args(args)
            .current_dir(dir)
            .env("PATH", path)
            .env("HOME", &self.home)
            .env("NPM_CONFIG_USERCONFIG", self.home.join(".npmrc"))
            .env("npm_config_cache", self.home.join("cache"))
            .env("YARN_CACHE_FOLDER", self.home.join("yarn1-cache"))
            .env_remove("NPM_CONFIG_REGISTRY")
            .output()
            .await
            .unwrap_or_else(|e| panic!("{program} runs: {e}"));
        let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        (output.status.success(), text(&output.stdout), text(&output.stderr))
    }
}

/// pnpm, yarn 1, yarn 4 and Changesets, as `scripts/ensure-node-tools.sh` installs them.
pub fn node_tools() -> PathBuf {
    let dir = std::env::var_os("VEXTRUS_NODE_TOOLS")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/node-tools/node_modules"));
    assert!(
        dir.join(".bin/pnpm").exists(),
        "{} lacks the npm clients: run scripts/ensure-node-tools.sh",
        dir.display()
    );
    dir
}

pub fn package(root: &Path, name: &str, version: &str, body: &str) -> PathBuf {
    let dir = root.join(format!("{}-{version}", name.replace('/', "-")));
    std::fs::create_dir_all(&dir).unwrap();
    let manifest = json!({"name": name, "version": version, "main": "index.js", "license": "MIT"});
    std::fs::write(dir.join("package.json"), serde_json::to_string_pretty(&manifest).unwrap()).unwrap();
    std::fs::write(dir.join("index.js"), body).unwrap();
    dir
}

/// An empty private project to install into (`<root>/consumer`).
pub fn consumer(root: &Path) -> PathBuf {
    let dir = root.join("consumer");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("package.json"), r#"{"name":"consumer","version":"1.0.0","private":true}"#).unwrap();
    dir
}

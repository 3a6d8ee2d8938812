//! The real `vextrus` binary as a child process, run the way an operator runs it.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;

pub const BIN: &str = env!("CARGO_BIN_EXE_vextrus");

pub fn vextrus(args: &[&str]) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.args(args).env_remove("DATABASE_URL").env("VEXTRUS_LOG_FORMAT", "json");
    for (key, _) in std::env::vars() {
        if key.starts_with("VEXTRUS_") && key != "VEXTRUS_LOG_FORMAT" {
            cmd.env_remove(key);
        }
    }
    cmd
}

pub fn run(mut cmd: impl std::borrow::BorrowMut<Command>) -> (bool, String, String) {
    let out = cmd.borrow_mut().output().expect("run vextrus");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A `vextrus serve` child and the address it reported.
pub struct Server {
    pub child: Child,
    pub base: String,
    pub logs: mpsc::Receiver<String>,
}

/// A failing test must not leave a server behind (its PostgreSQL follows it down).
impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

impl Server {
    pub fn start(data_dir: &Path) -> Self {
        Self::spawn(vextrus(&["serve", "--listen", "127.0.0.1:0", "--data-dir", data_dir.to_str().unwrap()]))
    }

    /// Spawns `serve` as `command` says and waits for the address it reports.
    pub fn spawn(mut command: Command) -> Self {
        let mut child = command.stderr(Stdio::piped()).stdout(Stdio::null()).spawn().unwrap();
        let (sender, logs) = mpsc::channel();
        let stderr = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = sender.send(line);
            }
        });
        let deadline = Instant::now() + Duration::from_secs(60);
        let addr = loop {
            match logs.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                Ok(line) => {
                    let parsed: Value = serde_json::from_str(&line).unwrap_or(Value::Null);
                    if let Some(addr) = parsed["addr"].as_str() {
                        break addr.to_owned();
                    }
                }
                Err(_) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    panic!("serve did not report its address within 60 s");
                }
            }
        };
        Self { child, base: format!("http://{addr}"), logs }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// SIGTERM, then wait: a clean stop exits 0.
    pub fn stop(&mut self) -> Vec<String> {
        let status = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status().unwrap();
        assert!(status.success());
        let exit = self.child.wait().unwrap();
        assert!(exit.success(), "serve exited with {exit}");
        // The process is gone; read what it wrote until the pipe closes.
        let mut lines = Vec::new();
        while let Ok(line) = self.logs.recv_timeout(Duration::from_secs(10)) {
            lines.push(line);
        }
        lines
    }
}

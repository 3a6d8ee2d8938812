//! A real clamd (Debian's clamav-daemon) on a socket of its own, with a signature database that
//! holds only the EICAR test signature (the official databases cannot be downloaded on this
//! network). Killed when dropped.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The anti-malware industry's test file (68 bytes), and its MD5 for clamd's `.hdb` format.
pub const EICAR: &[u8] = br"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*";
pub const EICAR_MD5: &str = "44d88612fea8a8f36de82e1278abb02f";
/// The name clamd reports for it from our database.
pub const EICAR_SIGNATURE: &str = "Eicar-Test.UNOFFICIAL";

#[derive(Debug)]
pub struct Clamd {
    child: Child,
    pub socket: PathBuf,
    dir: PathBuf,
}

impl Drop for Clamd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn binary() -> PathBuf {
    [PathBuf::from("/usr/sbin/clamd"), PathBuf::from("/usr/bin/clamd")]
        .into_iter()
        .find(|p| p.exists())
        .expect("clamd is not installed: apt-get install clamav-daemon (scripts/test.sh does)")
}

impl Clamd {
    /// Starts clamd with `StreamMaxLength stream_max` (clamd's syntax: `1M`) and waits for PONG.
    pub async fn start(stream_max: &str) -> Clamd {
        let dir = std::env::temp_dir().join(format!("vextrus-clamd-{}", uuid::Uuid::now_v7()));
        let db = dir.join("db");
        std::fs::create_dir_all(&db).unwrap();
        std::fs::write(db.join("eicar.hdb"), format!("{EICAR_MD5}:{}:Eicar-Test\n", EICAR.len())).unwrap();
        let socket = dir.join("clamd.sock");
        let conf = dir.join("clamd.conf");
        let config = format!(
            "LocalSocket {}\nDatabaseDirectory {}\nForeground yes\nLogFile {}\nStreamMaxLength {stream_max}\n",
            socket.display(),
            db.display(),
            dir.join("clamd.log").display()
        );
        std::fs::write(&conf, config).unwrap();
        let child = Command::new(binary())
            .arg("-c")
            .arg(&conf)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("clamd starts");
        let clamd = Clamd { child, socket, dir };
        let deadline = Instant::now() + Duration::from_secs(60);
        while !clamd.answers().await {
            assert!(Instant::now() < deadline, "clamd did not answer PING within 60 s");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        clamd
    }

    /// Whether clamd answers `PING` with `PONG`.
    pub async fn answers(&self) -> bool {
        let Ok(mut s) = tokio::net::UnixStream::connect(&self.socket).await else { return false };
        if s.write_all(b"zPING\0").await.is_err() {
            return false;
        }
        let mut answer = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut answer)).await;
        answer.starts_with(b"PONG")
    }
}

//! An S3-compatible server for tests: moto (`pip install 'moto[server]'`), started on a free
//! loopback port and stopped (by its process id) when dropped.

use std::time::{Duration, Instant};

#[derive(Debug)]
pub struct Moto {
    child: std::process::Child,
    pub port: u16,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Moto {
    pub async fn start() -> Moto {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let child = std::process::Command::new("moto_server")
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("moto_server is installed (pip install 'moto[server]'; scripts/test.sh does it)");
        let moto = Moto { child, port };
        let deadline = Instant::now() + Duration::from_secs(30);
        while tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_err() {
            assert!(Instant::now() < deadline, "moto_server did not start");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        moto
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Creates `bucket` (moto creates one on an unsigned PUT of its name).
    pub fn bucket(&self, bucket: &str) {
        let url = format!("{}/{bucket}", self.endpoint());
        let status = std::process::Command::new("curl")
            .args(["-sf", "-X", "PUT", &url, "-o", "/dev/null"])
            .status()
            .expect("curl runs");
        assert!(status.success(), "moto did not create {bucket}");
    }
}

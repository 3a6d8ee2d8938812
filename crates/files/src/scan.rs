//! Malware scanning by ClamAV's `clamd` over `INSTREAM`: `zINSTREAM\0`, then chunks of a
//! big-endian `u32` length and the bytes, a zero length to end; the answer is `stream: OK`,
//! `stream: <signature> FOUND` or an error, NUL-terminated.
//!
//! Only a completed scan that answered `OK` is clean. A file above the size clamd (or we) will
//! scan, an unreachable or slow clamd, or an error answer is `unscanned`: clamd reports files
//! over its `MaxFileSize`/`MaxScanSize` as OK unless `AlertExceedsMax` is set, so we never send
//! what exceeds the configured limit, and treat clamd's own size refusal the same way.

use std::path::PathBuf;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Bytes sent per `INSTREAM` chunk.
const CHUNK: usize = 64 * 1024;
/// The longest answer read from clamd (a signature name is far shorter).
const MAX_REPLY: usize = 1024;

/// Where clamd listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClamdAddress {
    Unix(PathBuf),
    Tcp(String),
}

impl ClamdAddress {
    /// `unix:/run/clamav/clamd.ctl`, `/run/clamav/clamd.ctl` or `tcp://127.0.0.1:3310`.
    pub fn parse(s: &str) -> Result<Self, String> {
        if let Some(path) = s.strip_prefix("unix:").or_else(|| s.starts_with('/').then_some(s)) {
            return match path {
                "" => Err("clamd: the socket path is empty".into()),
                p => Ok(Self::Unix(PathBuf::from(p))),
            };
        }
        match s.strip_prefix("tcp://") {
            Some(hostport)
                if hostport.rsplit_once(':').is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok()) =>
            {
                Ok(Self::Tcp(hostport.to_owned()))
            }
            _ => Err(format!("clamd {s:?}: give unix:/path/to/clamd.ctl or tcp://host:port")),
        }
    }
}

impl std::fmt::Display for ClamdAddress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Unix(p) => write!(f, "unix:{}", p.display()),
            Self::Tcp(a) => write!(f, "tcp://{a}"),
        }
    }
}

/// What a scan found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// clamd read every byte and found nothing.
    Clean,
    /// The signature clamd matched (e.g. `Eicar-Test-Signature`).
    Infected(String),
    /// No complete scan: never to be taken as clean.
    Unscanned(Unscanned),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unscanned {
    /// Larger than the scanner takes (ours or clamd's `StreamMaxLength`).
    TooLarge,
    /// clamd could not be reached, or did not answer in time.
    Unavailable(String),
    /// clamd answered with an error.
    Error(String),
}

impl Verdict {
    /// The stable name stored and shown: `clean`, `infected`, `too_large`, `unavailable`, `error`.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Clean => "clean",
            Self::Infected(_) => "infected",
            Self::Unscanned(Unscanned::TooLarge) => "too_large",
            Self::Unscanned(Unscanned::Unavailable(_)) => "unavailable",
            Self::Unscanned(Unscanned::Error(_)) => "error",
        }
    }
}

/// A client of one clamd.
#[derive(Debug, Clone)]
pub struct Scanner {
    address: ClamdAddress,
    /// For the whole scan: connecting, sending every byte, the answer.
    timeout: Duration,
    /// The most bytes sent; a larger file is `unscanned` (keep it at or below clamd's
    /// `StreamMaxLength`, 25 MiB by default).
    max_bytes: u64,
}

trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

impl Scanner {
    pub fn new(address: ClamdAddress, timeout: Duration, max_bytes: u64) -> Self {
        Self { address, timeout, max_bytes }
    }

    pub fn address(&self) -> &ClamdAddress {
        &self.address
    }

    /// Scans what `content` yields; `len` is its size as we stored it (not as a client said).
    pub async fn scan(&self, content: impl AsyncRead + Unpin + Send, len: u64) -> Verdict {
        if len > self.max_bytes {
            return Verdict::Unscanned(Unscanned::TooLarge);
        }
        let verdict = match tokio::time::timeout(self.timeout, self.instream(content)).await {
            Ok(verdict) => verdict,
            Err(_) => Verdict::Unscanned(Unscanned::Unavailable(format!(
                "clamd at {} did not answer within {} s",
                self.address,
                self.timeout.as_secs_f64()
            ))),
        };
        match &verdict {
            Verdict::Infected(signature) => tracing::warn!(%signature, "clamd found malware"),
            Verdict::Unscanned(why) => tracing::warn!(?why, "file left unscanned"),
            Verdict::Clean => {}
        }
        verdict
    }

    /// `PING` → `PONG`: whether clamd answers (readiness).
    pub async fn ping(&self) -> Result<(), String> {
        let exchange = async {
            let mut conn = self.connect().await?;
            conn.write_all(b"zPING\0").await.map_err(|e| e.to_string())?;
            let reply = read_reply(&mut conn).await.map_err(|e| e.to_string())?;
            if reply == "PONG" { Ok(()) } else { Err(format!("clamd answered {reply:?} to PING")) }
        };
        tokio::time::timeout(self.timeout, exchange)
            .await
            .map_err(|_| "clamd did not answer PING in time".to_owned())?
    }

    async fn connect(&self) -> Result<Box<dyn Stream>, String> {
        let unreachable = |e: std::io::Error| format!("clamd at {}: {e}", self.address);
        Ok(match &self.address {
            ClamdAddress::Unix(path) => Box::new(tokio::net::UnixStream::connect(path).await.map_err(unreachable)?),
            ClamdAddress::Tcp(address) => {
                let stream = tokio::net::TcpStream::connect(address.as_str()).await.map_err(unreachable)?;
                stream.set_nodelay(true).map_err(unreachable)?;
                Box::new(stream)
            }
        })
    }

    async fn instream(&self, mut content: impl AsyncRead + Unpin + Send) -> Verdict {
        let mut conn = match self.connect().await {
            Ok(conn) => conn,
            Err(e) => return Verdict::Unscanned(Unscanned::Unavailable(e)),
        };
        let sent = match send(&mut conn, &mut content, self.max_bytes).await {
            Err(Sending::TooLarge) => return Verdict::Unscanned(Unscanned::TooLarge),
            Err(Sending::Content(e)) => {
                return Verdict::Unscanned(Unscanned::Error(format!("reading the file to scan: {e}")));
            }
            Err(Sending::Clamd(e)) => Err(e),
            Ok(()) => Ok(()),
        };
        // clamd may refuse mid-stream (its own size limit) and close: its answer says why.
        match (sent, read_reply(&mut conn).await) {
            (_, Ok(reply)) if reply.contains("size limit exceeded") => Verdict::Unscanned(Unscanned::TooLarge),
            (Ok(()), Ok(reply)) => parse(&reply),
            (Err(e), _) | (Ok(()), Err(e)) => {
                Verdict::Unscanned(Unscanned::Unavailable(format!("clamd at {}: {e}", self.address)))
            }
        }
    }
}

enum Sending {
    TooLarge,
    Content(std::io::Error),
    Clamd(std::io::Error),
}

/// Streams `content` in `INSTREAM` chunks, never more than `max_bytes` in all.
async fn send(
    conn: &mut Box<dyn Stream>,
    content: &mut (impl AsyncRead + Unpin + Send),
    max_bytes: u64,
) -> Result<(), Sending> {
    conn.write_all(b"zINSTREAM\0").await.map_err(Sending::Clamd)?;
    let mut buf = vec![0u8; CHUNK];
    let mut total = 0u64;
    loop {
        let n = content.read(&mut buf).await.map_err(Sending::Content)?;
        if n == 0 {
            break;
        }
        total += n as u64;
        if total > max_bytes {
            return Err(Sending::TooLarge);
        }
        let len = u32::try_from(n).map_err(|_| Sending::TooLarge)?;
        conn.write_all(&len.to_be_bytes()).await.map_err(Sending::Clamd)?;
        conn.write_all(&buf[..n]).await.map_err(Sending::Clamd)?;
    }
    conn.write_all(&0u32.to_be_bytes()).await.map_err(Sending::Clamd)?;
    conn.flush().await.map_err(Sending::Clamd)
}

/// clamd's answer, up to its NUL (or the end of the connection), at most [`MAX_REPLY`] bytes.
async fn read_reply(conn: &mut Box<dyn Stream>) -> std::io::Result<String> {
    let mut reply = Vec::with_capacity(64);
    let mut buf = [0u8; 256];
    while reply.len() < MAX_REPLY {
        let n = conn.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        reply.extend_from_slice(&buf[..n]);
        if reply.contains(&0) {
            break;
        }
    }
    let end = reply.iter().position(|&b| b == 0).unwrap_or(reply.len()).min(MAX_REPLY);
    let text = String::from_utf8_lossy(&reply[..end]).trim().to_owned();
    if text.is_empty() {
        return Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "closed without an answer"));
    }
    Ok(text)
}

/// `stream: OK`, `stream: <signature> FOUND`, or anything else (an error).
fn parse(reply: &str) -> Verdict {
    let body = reply.strip_prefix("stream:").map(str::trim);
    match body {
        Some("OK") => Verdict::Clean,
        Some(found) if found.ends_with(" FOUND") => {
            Verdict::Infected(found.trim_end_matches(" FOUND").trim().chars().take(200).collect())
        }
        _ => Verdict::Unscanned(Unscanned::Error(reply.chars().take(200).collect())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_read_strictly() {
        assert_eq!(parse("stream: OK"), Verdict::Clean);
        assert_eq!(parse("stream: Eicar-Test.UNOFFICIAL FOUND"), Verdict::Infected("Eicar-Test.UNOFFICIAL".into()));
        // Anything that is not a completed clean scan is not clean.
        for reply in
            ["INSTREAM size limit exceeded. ERROR", "stream: OKAY", "OK", "stream: Can't allocate memory ERROR"]
        {
            assert!(matches!(parse(reply), Verdict::Unscanned(Unscanned::Error(_))), "{reply}");
        }
    }

    #[test]
    fn addresses() {
        assert_eq!(
            ClamdAddress::parse("unix:/run/clamav/clamd.ctl"),
            Ok(ClamdAddress::Unix("/run/clamav/clamd.ctl".into()))
        );
        assert_eq!(ClamdAddress::parse("/tmp/c.sock"), Ok(ClamdAddress::Unix("/tmp/c.sock".into())));
        assert_eq!(ClamdAddress::parse("tcp://127.0.0.1:3310"), Ok(ClamdAddress::Tcp("127.0.0.1:3310".into())));
        for bad in ["", "unix:", "tcp://host", "tcp://:3310", "clamd.example:3310", "tcp://h:99999"] {
            assert!(ClamdAddress::parse(bad).is_err(), "{bad:?} was accepted");
        }
    }
}

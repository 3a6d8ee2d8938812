//! Email over SMTP (lettre's protocol client): `smtp://host:port` (plain, for a local relay),
//! `smtp://…?tls=required` (STARTTLS) or `smtps://host:465` (implicit TLS), with optional
//! authentication, through a pool of connections that stay open between messages.
//!
//! The pool is ours, not lettre's: lettre opens its sockets with Nagle's algorithm on, and its
//! client writes a message's body and the closing `.` as two writes, so each message waits for
//! the server's delayed ACK (40 ms on Linux) — at most 25 messages/s a connection. Our plain and
//! STARTTLS connections are opened with `TCP_NODELAY`; lettre offers no way to do so for
//! implicit TLS, whose connections keep the stall.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use lettre::Message;
use lettre::message::header::{HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart, SinglePart, header};
use lettre::transport::smtp::authentication::{Credentials, DEFAULT_MECHANISMS};
use lettre::transport::smtp::client::{AsyncSmtpConnection, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::Semaphore;

use super::{Accepted, SendError};

pub const NAME: &str = "smtp";

/// A pooled connection unused for this long is closed instead of reused.
const IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// A pooled connection unused for this long is checked with `NOOP` before a message.
const CHECK_AFTER: Duration = Duration::from_secs(2);

/// One email as notify sends it.
#[derive(Debug, Clone)]
pub struct Email<'a> {
    /// Our message id: the `Message-ID`'s local part, so a bounce can be traced back.
    pub id: uuid::Uuid,
    pub to: &'a str,
    pub subject: &'a str,
    pub text: &'a str,
    pub html: Option<&'a str>,
    /// RFC 8058 one-click unsubscribe URL (`List-Unsubscribe` and `List-Unsubscribe-Post`).
    pub unsubscribe: Option<&'a str>,
}

/// How a connection is secured.
#[derive(Clone)]
enum Security {
    Plain,
    /// STARTTLS after the greeting; `required` refuses a server that does not offer it.
    StartTls {
        params: TlsParameters,
        required: bool,
    },
    /// TLS from the first byte (`smtps://`).
    Implicit(TlsParameters),
}

/// Where and how to connect.
struct Server {
    host: String,
    port: u16,
    security: Security,
    hello: ClientId,
    credentials: Option<Credentials>,
    timeout: Duration,
}

/// Open connections waiting for a message (most recently used last), and a permit per
/// connection that may be open at once.
struct Pool {
    server: Server,
    idle: Mutex<Vec<(AsyncSmtpConnection, Instant)>>,
    slots: Semaphore,
}

#[derive(Clone)]
pub struct Smtp {
    pool: Arc<Pool>,
    from: Mailbox,
    domain: String,
}

impl std::fmt::Debug for Smtp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Smtp").field("from", &self.from.to_string()).finish_non_exhaustive()
    }
}

#[derive(Debug, Clone)]
pub struct SmtpSettings {
    pub url: String,
    pub username: Option<String>,
    pub password: Option<SecretString>,
    /// `Name <address>` or an address.
    pub from: String,
    pub pool_size: u32,
    pub timeout: Duration,
}

impl Smtp {
    pub fn new(settings: &SmtpSettings) -> Result<Self, String> {
        let from: Mailbox = settings.from.parse().map_err(|e| format!("notify.smtp.from {:?}: {e}", settings.from))?;
        let mut server = server(&settings.url).map_err(|e| format!("notify.smtp.url: {e}"))?;
        server.timeout = settings.timeout;
        if let (Some(user), Some(password)) = (&settings.username, &settings.password) {
            server.credentials = Some(Credentials::new(user.clone(), password.expose_secret().to_owned()));
        }
        let size = settings.pool_size.max(1) as usize;
        let pool = Pool { server, idle: Mutex::new(Vec::with_capacity(size)), slots: Semaphore::new(size) };
        let domain = from.email.domain().to_owned();
        Ok(Self { pool: Arc::new(pool), from, domain })
    }

    pub fn message(&self, email: &Email<'_>) -> Result<Message, SendError> {
        let to: Mailbox =
            email.to.parse().map_err(|e| SendError::Rejected(format!("recipient {:?}: {e}", email.to)))?;
        let mut builder = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(email.subject)
            .message_id(Some(format!("<{}@{}>", email.id, self.domain)));
        if let Some(url) = email.unsubscribe {
            builder = builder
                .raw_header(HeaderValue::new(HeaderName::new_from_ascii_str("List-Unsubscribe"), format!("<{url}>")))
                .raw_header(HeaderValue::new(
                    HeaderName::new_from_ascii_str("List-Unsubscribe-Post"),
                    "List-Unsubscribe=One-Click".to_owned(),
                ));
        }
        let built = match email.html {
            Some(html) => builder.multipart(MultiPart::alternative_plain_html(email.text.to_owned(), html.to_owned())),
            None => builder
                .singlepart(SinglePart::builder().header(header::ContentType::TEXT_PLAIN).body(email.text.to_owned())),
        };
        built.map_err(|e| SendError::Rejected(format!("the message cannot be built: {e}")))
    }

    pub async fn send(&self, email: &Email<'_>) -> Result<Accepted, SendError> {
        let message = self.message(email)?;
        let timeout = self.pool.server.timeout;
        let sent = tokio::time::timeout(timeout, self.pool.send(&message)).await.unwrap_or_else(|_| {
            Err(SendError::unavailable(format!("SMTP: no answer within {} s", timeout.as_secs_f64())))
        })?;
        Ok(Accepted {
            provider_id: None,
            response: format!("{} {}", sent.code(), sent.message().collect::<Vec<_>>().join(" ")),
        })
    }
}

impl Pool {
    /// Sends over an idle connection, or a new one while fewer than the pool's size are open.
    /// A connection goes back to the pool only when the exchange left it sound.
    async fn send(&self, message: &Message) -> Result<lettre::transport::smtp::response::Response, SendError> {
        let _slot = self.slots.acquire().await.map_err(|_| SendError::unavailable("SMTP: the pool is closed"))?;
        let mut conn = match self.reuse().await {
            Some(conn) => conn,
            None => self.server.connect().await?,
        };
        let sent = conn.send(message.envelope(), &message.formatted()).await;
        if !conn.has_broken() {
            self.idle.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push((conn, Instant::now()));
        }
        sent.map_err(|e| smtp_error(&e))
    }

    /// The most recently used idle connection that still answers. Connections idle too long are
    /// closed first (dropping one closes its socket).
    async fn reuse(&self) -> Option<AsyncSmtpConnection> {
        loop {
            let (mut conn, since) = {
                let mut idle = self.idle.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                idle.retain(|(_, since)| since.elapsed() < IDLE_TIMEOUT);
                idle.pop()?
            };
            let idle = since.elapsed();
            if idle < CHECK_AFTER || (idle < IDLE_TIMEOUT && conn.test_connected().await) {
                return Some(conn);
            }
        }
    }
}

impl Server {
    async fn connect(&self) -> Result<AsyncSmtpConnection, SendError> {
        let mut conn = match &self.security {
            Security::Implicit(params) => {
                let address = (self.host.as_str(), self.port);
                AsyncSmtpConnection::connect_tokio1(
                    address,
                    Some(self.timeout),
                    &self.hello,
                    Some(params.clone()),
                    None,
                )
                .await
                .map_err(|e| smtp_error(&e))?
            }
            Security::Plain | Security::StartTls { .. } => {
                let unreachable = |e: std::io::Error| {
                    SendError::unavailable(format!("SMTP: cannot connect to {}:{}: {e}", self.host, self.port))
                };
                let stream =
                    tokio::net::TcpStream::connect((self.host.as_str(), self.port)).await.map_err(unreachable)?;
                stream.set_nodelay(true).map_err(unreachable)?;
                AsyncSmtpConnection::connect_with_transport(Box::new(stream), &self.hello)
                    .await
                    .map_err(|e| smtp_error(&e))?
            }
        };
        if let Security::StartTls { params, required } = &self.security
            && (*required || conn.can_starttls())
        {
            conn.starttls(params.clone(), &self.hello).await.map_err(|e| smtp_error(&e))?;
        }
        if let Some(credentials) = &self.credentials {
            conn.auth(DEFAULT_MECHANISMS, credentials).await.map_err(|e| smtp_error(&e))?;
        }
        Ok(conn)
    }
}

/// A permanent (5xx) SMTP answer refuses this message; anything else (4xx, a dropped
/// connection, a timeout) may pass later or through another provider.
fn smtp_error(e: &lettre::transport::smtp::Error) -> SendError {
    if e.is_permanent() {
        SendError::Rejected(format!("SMTP {e}"))
    } else {
        SendError::unavailable(format!("SMTP {e}"))
    }
}

/// `smtp://[user[:password]@]host[:port][/hello-name][?tls=required|opportunistic]` or
/// `smtps://…`, as lettre reads them: ports 25, 587 with STARTTLS, 465 with implicit TLS.
fn server(url: &str) -> Result<Server, String> {
    let url = url::Url::parse(url).map_err(|e| e.to_string())?;
    let host = url.host_str().filter(|h| !h.is_empty()).ok_or("the URL has no host")?;
    let host = host.trim_start_matches('[').trim_end_matches(']').to_owned();
    let tls = url.query_pairs().find(|(k, _)| k == "tls").map(|(_, v)| v.into_owned());
    let params = || TlsParameters::new(host.clone()).map_err(|e| format!("TLS for {host}: {e}"));
    let (port, security) = match (url.scheme(), tls.as_deref()) {
        ("smtp", None) => (25, Security::Plain),
        ("smtp", Some("required")) => (587, Security::StartTls { params: params()?, required: true }),
        ("smtp", Some("opportunistic")) => (587, Security::StartTls { params: params()?, required: false }),
        ("smtps", _) => (465, Security::Implicit(params()?)),
        (scheme, tls) => {
            return Err(format!("scheme {scheme:?} with tls {tls:?}: use smtp://, smtp://…?tls=required or smtps://"));
        }
    };
    let decode = |s: &str| percent_encoding::percent_decode_str(s).decode_utf8_lossy().into_owned();
    let credentials = match (url.username(), url.password()) {
        ("", _) | (_, None) => None,
        (user, Some(password)) => Some(Credentials::new(decode(user), decode(password))),
    };
    let hello = match url.path().trim_matches('/') {
        "" => ClientId::default(),
        name => ClientId::Domain(name.to_owned()),
    };
    Ok(Server {
        port: url.port().unwrap_or(port),
        host,
        security,
        hello,
        credentials,
        timeout: Duration::from_secs(30),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(url: &str) -> Server {
        server(url).unwrap_or_else(|e| panic!("{url}: {e}"))
    }

    #[test]
    fn urls_read_as_lettre_reads_them() {
        let plain = read("smtp://relay.example");
        assert_eq!((plain.host.as_str(), plain.port), ("relay.example", 25));
        assert!(matches!(plain.security, Security::Plain));
        assert!(plain.credentials.is_none());

        let submission = read("smtp://mail.example?tls=required");
        assert_eq!(submission.port, 587);
        assert!(matches!(submission.security, Security::StartTls { required: true, .. }));
        let opportunistic = read("smtp://mail.example:2525?tls=opportunistic");
        assert_eq!(opportunistic.port, 2525);
        assert!(matches!(opportunistic.security, Security::StartTls { required: false, .. }));

        let implicit = read("smtps://mail.example");
        assert_eq!(implicit.port, 465);
        assert!(matches!(implicit.security, Security::Implicit(_)));

        // Percent-encoded user and password, and the EHLO name in the path.
        let full = read("smtp://billing%40padma.example:p%2Fss%20word@[::1]:1025/erp.padma.example");
        assert_eq!((full.host.as_str(), full.port), ("::1", 1025));
        assert_eq!(full.credentials, Some(Credentials::new("billing@padma.example".into(), "p/ss word".into())));
        assert_eq!(full.hello, ClientId::Domain("erp.padma.example".into()));
    }

    #[test]
    fn unknown_schemes_and_tls_modes_are_refused() {
        for url in ["http://mail.example", "smtp://mail.example?tls=maybe", "smtp://", "not a url"] {
            assert!(server(url).is_err(), "{url} was accepted");
        }
    }
}

//! Email over SMTP (lettre): `smtp://host:port` (plain, for a local relay), `smtp://…?tls=required`
//! (STARTTLS) or `smtps://host:465` (implicit TLS), with optional authentication, through a pool
//! of connections that stay open between messages.

use std::time::Duration;

use lettre::message::header::{HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart, SinglePart, header};
use lettre::transport::smtp::PoolConfig;
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use secrecy::{ExposeSecret, SecretString};

use super::{Accepted, SendError};

pub const NAME: &str = "smtp";

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

#[derive(Clone)]
pub struct Smtp {
    transport: AsyncSmtpTransport<Tokio1Executor>,
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
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::from_url(&settings.url)
            .map_err(|e| format!("notify.smtp.url: {e}"))?
            .timeout(Some(settings.timeout))
            .pool_config(PoolConfig::new().max_size(settings.pool_size.max(1)).idle_timeout(Duration::from_secs(60)));
        if let (Some(user), Some(password)) = (&settings.username, &settings.password) {
            builder = builder.credentials(Credentials::new(user.clone(), password.expose_secret().to_owned()));
        }
        let domain = from.email.domain().to_owned();
        Ok(Self { transport: builder.build(), from, domain })
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
        match self.transport.send(message).await {
            Ok(response) => Ok(Accepted {
                provider_id: None,
                response: format!("{} {}", response.code(), response.message().collect::<Vec<_>>().join(" ")),
            }),
            // A permanent (5xx) SMTP answer refuses this message; anything else (4xx, a dropped
            // connection, a timeout) may pass later or through another provider.
            Err(e) if e.is_permanent() => Err(SendError::Rejected(format!("SMTP {e}"))),
            Err(e) => Err(SendError::unavailable(format!("SMTP {e}"))),
        }
    }
}

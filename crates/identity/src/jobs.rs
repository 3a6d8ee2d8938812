//! Identity's background jobs: mail. Until the notify module exists, mail goes to the dev
//! mailbox in embedded/dev mode; elsewhere the job fails (and retries) with a clear error.

use serde::{Deserialize, Serialize};
use vextrus_db::jobs::{HandlerError, Job, JobContext, Registry};

use crate::{IdentityConfig, store};

#[derive(Debug, Serialize, Deserialize)]
pub struct SendVerificationEmail {
    pub to: String,
    pub name: String,
    pub token: String,
}

impl Job for SendVerificationEmail {
    const KIND: &'static str = "identity.send_verification_email";
}

/// The code that completes a sign-up; it goes only into this mail.
#[derive(Debug, Serialize, Deserialize)]
pub struct SendSignUpCode {
    pub to: String,
    pub name: String,
    /// The organization's name as the sign-up gave it: the asker's words, never presented as ours.
    pub organization: String,
    pub slug: String,
    pub token: String,
}

impl Job for SendSignUpCode {
    const KIND: &'static str = "identity.send_signup_code";
}

/// Someone asked to sign up with an address that already has an account: its holder is told
/// (the asker is not).
#[derive(Debug, Serialize, Deserialize)]
pub struct SendSignUpNotice {
    pub to: String,
}

impl Job for SendSignUpNotice {
    const KIND: &'static str = "identity.send_signup_notice";
}

/// An invitation to join an organization; the token goes only into this mail.
#[derive(Debug, Serialize, Deserialize)]
pub struct SendInvitationEmail {
    pub to: String,
    /// The organization's name: its own words, never presented as ours.
    pub organization: String,
    #[serde(default)]
    pub slug: Option<String>,
    pub token: String,
}

impl Job for SendInvitationEmail {
    const KIND: &'static str = "identity.send_invitation_email";
}

/// A password reset request: the job finds out whether the address has an account.
#[derive(Debug, Serialize, Deserialize)]
pub struct SendPasswordReset {
    pub email: String,
}

impl Job for SendPasswordReset {
    const KIND: &'static str = "identity.send_password_reset";
}

pub fn register_jobs(registry: &mut Registry, config: IdentityConfig) {
    let resets = config.clone();
    registry.register(move |ctx: JobContext, job: SendPasswordReset| {
        let config = resets.clone();
        async move {
            if !config.dev_mailbox {
                return Err(no_transport());
            }
            // The code and its mail commit together, so a retry cannot mail a code that does not exist.
            let mut tx = ctx.db.system().await?;
            let prepared = crate::password_reset::prepare(&mut tx, &job.email).await.map_err(|e| e.to_string())?;
            if let Some((to, body)) = prepared {
                let subject = "Reset your Vextrus password / পাসওয়ার্ড রিসেট";
                store::deliver_to_dev_mailbox(&mut tx, ctx.id, &to, subject, &body).await?;
            }
            tx.commit().await?;
            Ok(())
        }
    });
    let invitations = config.clone();
    registry.register(move |ctx: JobContext, job: SendInvitationEmail| {
        let config = invitations.clone();
        async move {
            // The subject is ours alone; the organization's name (which whoever signed it up
            // chose) appears only quoted, and said to be theirs.
            let subject = "An invitation to an organization on Vextrus / একটি প্রতিষ্ঠানে যোগদানের আমন্ত্রণ";
            let slug = job.slug.as_deref().map(|s| format!(" (@{s})")).unwrap_or_default();
            let name = quoted(&job.organization);
            let body = format!(
                "Hello,\n\nAn organization on Vextrus{slug} invites you to join it. It calls itself:\n\n    \"{name}\"\n\n\
                 That name is the organization's own, not a message from Vextrus. If you expected this invitation, \
                 accept it with this code:\n\n    {}\n\n\
                 (POST it as {{\"token\": \"…\"}} to /v1/invitations/accept.) It works once, for 7 days. If you did not \
                 expect it, ignore this mail.\n",
                job.token
            );
            deliver(&ctx, &config, &job.to, subject, &body).await
        }
    });
    let codes = config.clone();
    registry.register(move |ctx: JobContext, job: SendSignUpCode| {
        let config = codes.clone();
        async move {
            let subject = "Confirm your sign-up to Vextrus / Vextrus-এ নিবন্ধন নিশ্চিত করুন";
            let name = quoted(&job.organization);
            let body = format!(
                "Hello,\n\nSomeone (hopefully you) asked to sign up to Vextrus with this address, as the owner of a new \
                 organization (@{}) that calls itself:\n\n    \"{name}\"\n\n\
                 That name is the asker's own, not a message from Vextrus. To create the organization and your \
                 account, use this code:\n\n    {}\n\n\
                 (POST it with your password as {{\"token\": \"…\", \"password\": \"…\"}} to /v1/signup/verify.) It \
                 works once, for 48 hours. If you did not ask, ignore this mail: nothing exists until the code is used.\n",
                job.slug, job.token
            );
            deliver(&ctx, &config, &job.to, subject, &body).await
        }
    });
    let notices = config.clone();
    registry.register(move |ctx: JobContext, job: SendSignUpNotice| {
        let config = notices.clone();
        async move {
            let subject = "You already have a Vextrus account / আপনার ইতিমধ্যে একটি Vextrus অ্যাকাউন্ট আছে";
            let body = "Hello,\n\nSomeone (perhaps you) asked to sign up to Vextrus with this address, which already \
                        has an account. Nothing new was created. If it was you, sign in with this address or your \
                        username; if you forgot the password, ask for a reset (POST {\"email\": \"…\"} to \
                        /v1/password-reset). If it was not you, ignore this mail.\n";
            deliver(&ctx, &config, &job.to, subject, body).await
        }
    });
    registry.register(move |ctx: JobContext, job: SendVerificationEmail| {
        let config = config.clone();
        async move {
            let subject = "Verify your email address / আপনার ইমেইল ঠিকানা যাচাই করুন";
            let body = format!(
                "Hello {},\n\nConfirm this address for Vextrus with this code:\n\n    {}\n\n\
                 (POST it as {{\"token\": \"…\"}} to /v1/verify-email.) It works once, for 48 hours.\n",
                job.name, job.token
            );
            deliver(&ctx, &config, &job.to, subject, &body).await
        }
    });
}

/// A name a stranger chose, fit to quote in a mail: no control characters, at most 100.
fn quoted(name: &str) -> String {
    name.chars().filter(|c| !c.is_control()).take(100).collect()
}

fn no_transport() -> HandlerError {
    "no mail transport is configured yet (the notify module is not installed); dev mailbox is off".into()
}

/// Idempotent per job: the message is keyed by the job's id, so a retry cannot deliver twice.
async fn deliver(
    ctx: &JobContext,
    config: &IdentityConfig,
    to: &str,
    subject: &str,
    body: &str,
) -> Result<(), HandlerError> {
    if !config.dev_mailbox {
        return Err(no_transport());
    }
    let mut tx = ctx.db.system().await?;
    store::deliver_to_dev_mailbox(&mut tx, ctx.id, to, subject, body).await?;
    tx.commit().await?;
    Ok(())
}

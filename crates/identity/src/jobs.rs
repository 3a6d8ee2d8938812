//! Identity's background jobs. Its mail goes through notify (queued in the transaction of the
//! change that causes it); the one job left here is the password reset's, which must look the
//! address up outside the request (so asking reveals nothing). The other kinds remain so that
//! jobs queued before notify existed are still delivered, through notify.

use serde::{Deserialize, Serialize};
use serde_json::json;
use vextrus_db::jobs::{HandlerError, Job, JobContext, Registry};
use vextrus_notify::model::Locale;

use crate::templates;

/// A password reset request: the job finds out whether the address has an account.
#[derive(Debug, Serialize, Deserialize)]
pub struct SendPasswordReset {
    pub email: String,
}

impl Job for SendPasswordReset {
    const KIND: &'static str = "identity.send_password_reset";
}

/// Queued by an earlier version; delivered through notify.
#[derive(Debug, Serialize, Deserialize)]
struct SendVerificationEmail {
    to: String,
    name: String,
    token: String,
}

impl Job for SendVerificationEmail {
    const KIND: &'static str = "identity.send_verification_email";
}

/// Queued by an earlier version; delivered through notify.
#[derive(Debug, Serialize, Deserialize)]
struct SendSignUpCode {
    to: String,
    name: String,
    organization: String,
    slug: String,
    token: String,
}

impl Job for SendSignUpCode {
    const KIND: &'static str = "identity.send_signup_code";
}

/// Queued by an earlier version; delivered through notify.
#[derive(Debug, Serialize, Deserialize)]
struct SendSignUpNotice {
    to: String,
}

impl Job for SendSignUpNotice {
    const KIND: &'static str = "identity.send_signup_notice";
}

/// Queued by an earlier version; delivered through notify.
#[derive(Debug, Serialize, Deserialize)]
struct SendInvitationEmail {
    to: String,
    organization: String,
    #[serde(default)]
    slug: Option<String>,
    token: String,
}

impl Job for SendInvitationEmail {
    const KIND: &'static str = "identity.send_invitation_email";
}

pub fn register_jobs(registry: &mut Registry) {
    registry.register(|ctx: JobContext, job: SendPasswordReset| async move {
        // The code and its message commit together, so a retry cannot mail a code that does not exist.
        let mut tx = ctx.db.system().await?;
        crate::password_reset::prepare(&mut tx, &job.email).await.map_err(|e| e.to_string())?;
        tx.commit().await?;
        Ok(())
    });
    registry.register(|ctx: JobContext, job: SendVerificationEmail| async move {
        let data = json!({"name": job.name, "token": job.token});
        requeue(&ctx, &templates::VERIFY_EMAIL, &job.to, data).await
    });
    registry.register(|ctx: JobContext, job: SendSignUpCode| async move {
        let data =
            json!({"name": job.name, "organization": quoted(&job.organization), "slug": job.slug, "token": job.token});
        requeue(&ctx, &templates::SIGNUP_CODE, &job.to, data).await
    });
    registry.register(|ctx: JobContext, job: SendSignUpNotice| async move {
        requeue(&ctx, &templates::SIGNUP_NOTICE, &job.to, json!({})).await
    });
    registry.register(|ctx: JobContext, job: SendInvitationEmail| async move {
        let data = json!({"organization": quoted(&job.organization), "slug": job.slug.unwrap_or_default(), "token": job.token});
        requeue(&ctx, &templates::INVITATION, &job.to, data).await
    });
}

async fn requeue(
    ctx: &JobContext,
    def: &vextrus_notify::templates::TemplateDef,
    to: &str,
    data: serde_json::Value,
) -> Result<(), HandlerError> {
    let mut tx = ctx.db.system().await?;
    vextrus_notify::queue(&mut tx, def, to, Locale::BnBd, data).await?;
    tx.commit().await?;
    Ok(())
}

/// A name a stranger chose, fit to quote in a message: no control characters, at most 100.
pub(crate) fn quoted(name: &str) -> String {
    name.chars().filter(|c| !c.is_control()).take(100).collect()
}

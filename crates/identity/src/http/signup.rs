use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use vextrus_db::Database;
use vextrus_server::{ApiError, Json, Problem};
use vextrus_tenancy::model::NewOrganization;
use vextrus_tenancy::{OrgName, OrgSlug, Organization, TenancyError};

use super::field;
use crate::IdentityError;
use crate::model::{DisplayName, EmailAddress, PhoneNumberBd, Username};
use crate::password::Password;
use crate::service::{self, NewUser};
use crate::store::User;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignUp {
    pub org: SignUpOrg,
    pub user: SignUpUser,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignUpOrg {
    #[schema(example = "acme-traders")]
    pub slug: String,
    #[schema(example = "Acme Traders Ltd.")]
    pub name: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignUpUser {
    #[schema(example = "rahim@example.com")]
    pub email: String,
    #[schema(example = "rahim")]
    pub username: String,
    /// 8–128 characters, not one of the 10,000 most common passwords.
    pub password: String,
    #[schema(example = "Rahim Uddin")]
    pub name: String,
    /// Bangladeshi mobile number; `01…`, `8801…` or `+8801…`.
    pub phone: Option<String>,
    /// `bn-BD` (default) or `en`: the language of the sign-up code's mail, of the account's
    /// messages, and the new organization's.
    pub locale: Option<String>,
}

/// The same answer whether or not the address or the username is taken.
#[derive(Debug, Serialize, ToSchema)]
pub struct SignUpRequested {
    /// The address the code was sent to, as it will be stored.
    #[schema(example = "rahim@example.com")]
    pub email: String,
    pub message: &'static str,
}

/// Ask to sign up an organization and its owner.
///
/// Nothing is created yet: a code goes to the address (through the job queue), and
/// `POST /v1/signup/verify` with it creates the organization and the owner's verified account.
/// The answer is the same whether or not the address or the username is taken (an address that
/// already has an account is mailed a reminder to sign in instead); only a taken organization
/// slug, a public name, is refused now.
#[utoipa::path(post, path = "/v1/signup", tag = "identity",
    request_body = SignUp,
    responses(
        (status = 202, body = SignUpRequested),
        (status = 409, description = "`slug_taken`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`invalid_field`", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "`too_many_signups` from this address; see `Retry-After`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn sign_up(
    State(db): State<Database>,
    State(config): State<crate::IdentityConfig>,
    State(limits): State<vextrus_server::Limits>,
    client: vextrus_server::ClientAddr,
    Json(body): Json<SignUp>,
) -> Result<(StatusCode, axum::Json<SignUpRequested>), ApiError> {
    let address = client.ip(config.trust_forwarded_for).map_or_else(|| "unknown".to_owned(), |a| a.to_string());
    super::rate(&db, &format!("signup:ip:{address}"), limits.signups_per_address_per_hour, "too_many_signups").await?;
    let org = NewOrganization {
        slug: OrgSlug::parse(&body.org.slug).map_err(field("org.slug"))?,
        name: OrgName::parse(&body.org.name).map_err(field("org.name"))?,
        settings: Default::default(),
    };
    let u = &body.user;
    let user = NewUser {
        email: EmailAddress::parse(&u.email).map_err(field("user.email"))?,
        username: Username::parse(&u.username).map_err(field("user.username"))?,
        phone: u.phone.as_deref().map(PhoneNumberBd::parse).transpose().map_err(field("user.phone"))?,
        display_name: DisplayName::parse(&u.name).map_err(field("user.name"))?,
        password: Password::parse(&u.password).map_err(field("user.password"))?,
        locale: u
            .locale
            .as_deref()
            .map(vextrus_tenancy::model::Locale::parse)
            .transpose()
            .map_err(field("user.locale"))?
            .unwrap_or_default(),
    };
    // Hashed whatever happens next, so both answers take the same work.
    let password_hash = user.password.hash_async().await;
    // Past the address's hourly mail limit nothing is sent or kept, and the answer is the same.
    let mail_key = format!("mail:{}", user.email.as_str());
    let mail = super::rate(&db, &mail_key, limits.mails_per_recipient_per_hour, "too_many_mails").await.is_ok();
    let mut tx = db.system().await?;
    service::request_sign_up(&mut tx, &org, &user, &password_hash, mail).await?;
    tx.commit().await?;
    let message = "A code to complete the sign-up is on its way to this address (if it already has an account, a \
                   reminder to sign in instead).";
    Ok((StatusCode::ACCEPTED, axum::Json(SignUpRequested { email: user.email.to_string(), message })))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CompleteSignUp {
    /// The code from the sign-up mail.
    pub token: String,
    /// The password the sign-up was asked with — or another (8–128 characters, not a common
    /// one): whoever holds the address sets the account's password.
    pub password: String,
    /// A different username, when the one asked for was taken meanwhile (`username_taken`).
    #[schema(example = "rahim2")]
    pub username: Option<String>,
    /// A different organization slug, when the one asked for was taken meanwhile (`slug_taken`).
    #[schema(example = "padma-traders-2")]
    pub org_slug: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SignedUp {
    pub organization: Organization,
    pub user: User,
}

/// Complete a sign-up with the code mailed to its address: creates the organization and its
/// owner, whose address is then verified.
///
/// A taken username or slug is refused (409) without using up the code: send it again with
/// `username` or `org_slug`.
#[utoipa::path(post, path = "/v1/signup/verify", tag = "identity",
    request_body = CompleteSignUp,
    responses(
        (status = 201, body = SignedUp),
        (status = 400, description = "`invalid_token`", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`username_taken`, `slug_taken` or `email_taken` (the address got an account meanwhile)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`invalid_field`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn complete_sign_up(
    State(db): State<Database>,
    Json(body): Json<CompleteSignUp>,
) -> Result<(StatusCode, axum::Json<SignedUp>), ApiError> {
    let changes = service::SignUpChanges {
        username: body.username.as_deref().map(Username::parse).transpose().map_err(field("username"))?,
        org_slug: body.org_slug.as_deref().map(OrgSlug::parse).transpose().map_err(field("org_slug"))?,
    };
    let mut tx = db.system().await?;
    let completed = service::complete_sign_up(&mut tx, body.token.trim(), &body.password, changes).await;
    let (organization, user) = completed.map_err(|e| match e {
        IdentityError::UsernameTaken => {
            ApiError::conflict("username_taken", "This username is taken; send another as `username`.")
                .field("username", "is taken")
        }
        IdentityError::Tenancy(TenancyError::SlugTaken(_)) => {
            ApiError::conflict("slug_taken", "This organization slug is taken; send another as `org_slug`.")
                .field("org_slug", "is taken")
        }
        other => other.into(),
    })?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, axum::Json(SignedUp { organization, user })))
}

use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use vextrus_db::Database;
use vextrus_server::{ApiError, Json, Problem};
use vextrus_tenancy::model::NewOrganization;
use vextrus_tenancy::{OrgName, OrgSlug, Organization};

use super::field;
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
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SignedUp {
    pub organization: Organization,
    pub user: User,
}

/// Sign up: create an organization and its owner.
///
/// The owner receives an email verification code through the job queue.
#[utoipa::path(post, path = "/v1/signup", tag = "identity",
    request_body = SignUp,
    responses(
        (status = 201, body = SignedUp),
        (status = 409, description = "`slug_taken`, `email_taken` or `username_taken`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`invalid_field`", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "`too_many_signups` from this address; see `Retry-After`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn sign_up(
    State(db): State<Database>,
    State(config): State<crate::IdentityConfig>,
    State(limits): State<vextrus_server::Limits>,
    client: vextrus_server::ClientAddr,
    Json(body): Json<SignUp>,
) -> Result<(StatusCode, axum::Json<SignedUp>), ApiError> {
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
    };
    let mut tx = db.system().await?;
    let (organization, user) = service::sign_up(&mut tx, org, user).await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, axum::Json(SignedUp { organization, user })))
}

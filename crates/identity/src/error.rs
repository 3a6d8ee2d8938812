use vextrus_db::DbError;
use vextrus_server::ApiError;
use vextrus_tenancy::TenancyError;

#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    #[error("the email address is already registered")]
    EmailTaken,
    #[error("the username is taken")]
    UsernameTaken,
    #[error("the verification token is unknown, used or expired")]
    InvalidToken,
    #[error(transparent)]
    Tenancy(#[from] TenancyError),
    #[error(transparent)]
    Db(#[from] DbError),
}

impl From<IdentityError> for ApiError {
    fn from(e: IdentityError) -> Self {
        match e {
            IdentityError::EmailTaken => {
                ApiError::conflict("email_taken", "An account with this email address exists; sign in instead.")
                    .field("user.email", "is already registered")
            }
            IdentityError::UsernameTaken => {
                ApiError::conflict("username_taken", "This username is taken.").field("user.username", "is taken")
            }
            IdentityError::InvalidToken => {
                ApiError::new(axum::http::StatusCode::BAD_REQUEST, "invalid_token", "Invalid or expired token")
                    .detail("The token is unknown, was already used, or has expired.")
            }
            IdentityError::Tenancy(TenancyError::SlugTaken(slug)) => {
                ApiError::conflict("slug_taken", format!("An organization with slug {slug:?} already exists."))
                    .field("org.slug", "is taken")
            }
            IdentityError::Tenancy(e) => e.into(),
            IdentityError::Db(e) => e.into(),
        }
    }
}

use vextrus_db::DbError;
use vextrus_server::ApiError;

#[derive(Debug, thiserror::Error)]
pub enum TenancyError {
    #[error("the slug {0} is taken")]
    SlugTaken(String),
    #[error("no organization {0}")]
    NotFound(String),
    #[error("unknown time zone {0}")]
    UnknownTimezone(String),
    #[error(transparent)]
    Db(#[from] DbError),
}

impl From<TenancyError> for ApiError {
    fn from(e: TenancyError) -> Self {
        match e {
            TenancyError::SlugTaken(slug) => {
                ApiError::conflict("slug_taken", format!("An organization with slug {slug:?} already exists."))
                    .field("slug", "is taken")
            }
            TenancyError::NotFound(what) => ApiError::not_found("org_not_found", format!("No organization {what:?}.")),
            TenancyError::UnknownTimezone(tz) => {
                ApiError::invalid_field("settings.timezone", format!("{tz:?} is not a known IANA time zone"))
            }
            TenancyError::Db(e) => e.into(),
        }
    }
}

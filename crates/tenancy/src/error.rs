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
    #[error("no plan {0}")]
    PlanNotFound(String),
    #[error("plan {0} is in use")]
    PlanInUse(String),
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
            TenancyError::PlanNotFound(name) => ApiError::not_found("plan_not_found", format!("No plan {name:?}.")),
            TenancyError::PlanInUse(name) => ApiError::conflict(
                "plan_in_use",
                format!("Organizations are on plan {name:?}; give them another plan first."),
            ),
            TenancyError::Db(e) => e.into(),
        }
    }
}

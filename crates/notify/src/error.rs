use vextrus_db::DbError;
use vextrus_server::ApiError;

#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("{0}")]
    Invalid(String),
}

impl From<sqlx::Error> for NotifyError {
    fn from(e: sqlx::Error) -> Self {
        Self::Db(e.into())
    }
}

impl From<NotifyError> for ApiError {
    fn from(e: NotifyError) -> Self {
        match e {
            NotifyError::Db(e) => e.into(),
            NotifyError::Invalid(m) => ApiError::invalid_field("body", m),
        }
    }
}

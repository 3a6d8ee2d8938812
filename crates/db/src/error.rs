use std::borrow::Cow;

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error(transparent)]
    Sqlx(#[from] sqlx::Error),
    #[error(
        "migration {module}/{version:04} ({name}) was changed after it was applied; restore it and add a new migration instead"
    )]
    MigrationChanged { module: &'static str, version: u32, name: &'static str },
    #[error("migration {module}/{version:04} ({name}) failed: {source}")]
    MigrationFailed { module: &'static str, version: u32, name: &'static str, source: sqlx::Error },
    #[error("database roles are not usable: {0}")]
    Roles(Cow<'static, str>),
}

impl DbError {
    /// The SQLSTATE of a database error, if this is one.
    pub fn sqlstate(&self) -> Option<Cow<'_, str>> {
        match self {
            Self::Sqlx(sqlx::Error::Database(e)) => e.code(),
            _ => None,
        }
    }

    /// The violated constraint's name, for mapping unique violations to a field.
    pub fn constraint(&self) -> Option<&str> {
        match self {
            Self::Sqlx(sqlx::Error::Database(e)) => e.constraint(),
            _ => None,
        }
    }

    pub fn is_unique_violation(&self) -> bool {
        self.sqlstate().as_deref() == Some("23505")
    }

    pub fn is_foreign_key_violation(&self) -> bool {
        self.sqlstate().as_deref() == Some("23503")
    }
}

/// `error: cause: cause…`, the whole chain on one line, for logs and stored job errors.
pub fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

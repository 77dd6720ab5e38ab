//! Errors of the server's own wiring (start-up and the command line).

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("database: {0}")]
    Db(#[from] sea_orm::DbErr),
    #[error("{code}: {message}")]
    Api { code: String, message: String },
    #[error(
        "refusing to serve: the database role {0} can bypass row-level security \
         (superuser or BYPASSRLS); connect as a role that cannot (see docs/operations.md) \
         or pass --allow-rls-bypass for development"
    )]
    RlsBypass(String),
    #[error("{0}")]
    Usage(String),
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
}

impl From<shouhu_kernel::ApiError> for ServerError {
    fn from(err: shouhu_kernel::ApiError) -> Self {
        ServerError::Api {
            code: err.code.as_str().to_owned(),
            message: match err.field {
                Some(field) => format!("{} ({field})", err.message),
                None => err.message,
            },
        }
    }
}

//! Errors of the audit module.

use shouhu_kernel::ApiError;

#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error("database error: {0}")]
    Db(#[from] sea_orm::DbErr),
    #[error("{}", .0.message)]
    Api(ApiError),
}

impl From<AuditError> for ApiError {
    fn from(err: AuditError) -> Self {
        match err {
            AuditError::Db(e) => ApiError::internal(e),
            AuditError::Api(e) => e,
        }
    }
}

impl From<ApiError> for AuditError {
    fn from(err: ApiError) -> Self {
        AuditError::Api(err)
    }
}

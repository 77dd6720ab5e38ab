//! Errors of the tenancy module, each with the client code it maps to.

use shouhu_kernel::ApiError;

#[derive(Debug, thiserror::Error)]
pub enum TenancyError {
    #[error("{0} is not a 6-digit division code")]
    MalformedCode(String),
    #[error("{0} is not a county-level division code (a province or city code ends in 00)")]
    NotCountyLevel(String),
    #[error("division code {0} is not in the division files")]
    UnknownCode(String),
    #[error("a district name is required when no division files are given")]
    NameRequired,
    #[error("the division files could not be read: {0}")]
    DivisionFiles(String),
    #[error("the slug must be 2-40 characters of a-z, 0-9 and '-', starting with a letter")]
    BadSlug,
    #[error("the slug 'platform' is reserved")]
    ReservedSlug,
    #[error("a district with this code or slug already exists")]
    DuplicateTenant,
    #[error("an org unit with code {0} already exists in this district")]
    DuplicateUnit(String),
    #[error("org-unit codes are 1-32 characters of 0-9, A-Z, a-z and '-'")]
    BadUnitCode,
    #[error("{0}")]
    BadTree(String),
    #[error("{0}")]
    CodeOutsideParent(String),
    #[error("line {line}, column {column}: {reason}")]
    Csv {
        line: u64,
        column: String,
        reason: String,
    },
    #[error("{}", .0.message)]
    Api(ApiError),
}

impl From<sea_orm::DbErr> for TenancyError {
    fn from(err: sea_orm::DbErr) -> Self {
        TenancyError::Api(ApiError::internal(err))
    }
}

impl From<TenancyError> for ApiError {
    fn from(err: TenancyError) -> Self {
        let message = err.to_string();
        match err {
            TenancyError::Api(e) => e,
            TenancyError::MalformedCode(_)
            | TenancyError::NotCountyLevel(_)
            | TenancyError::UnknownCode(_) => ApiError::bad_input("input.code", message),
            TenancyError::NameRequired => ApiError::bad_input("input.name", message),
            TenancyError::BadSlug | TenancyError::ReservedSlug => {
                ApiError::bad_input("input.slug", message)
            }
            TenancyError::DivisionFiles(_) => ApiError::internal(message),
            TenancyError::DuplicateTenant => ApiError::conflict("input.code", message),
            TenancyError::DuplicateUnit(_) => ApiError::conflict("input.code", message),
            TenancyError::BadUnitCode => ApiError::bad_input("input.code", message),
            TenancyError::BadTree(_) => ApiError::bad_input("input.parentId", message),
            TenancyError::CodeOutsideParent(_) => ApiError::bad_input("input.code", message),
            TenancyError::Csv { line, column, .. } => {
                ApiError::bad_input(format!("line {line}.{column}"), message)
            }
        }
    }
}

impl From<ApiError> for TenancyError {
    fn from(err: ApiError) -> Self {
        TenancyError::Api(err)
    }
}

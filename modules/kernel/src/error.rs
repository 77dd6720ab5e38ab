//! The closed set of error codes a client can see, and the one error type
//! that carries them out of every module.
//!
//! Each module keeps its own `error.rs` with a thiserror enum and converts it
//! into [`ApiError`]; this file is the single place where a code becomes the
//! `extensions.code` of a GraphQL error. Internal detail (database messages,
//! file paths) never reaches a client: it is logged and replaced by a fixed
//! message.

use std::fmt;

/// The codes a client may see in `extensions.code`. Nothing else is sent.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    Unauthenticated,
    Forbidden,
    NotFound,
    BadUserInput,
    Conflict,
    LimitExceeded,
    Internal,
    /// A plugin module or manifest that cannot be installed.
    PluginInvalid,
    /// A plugin ran past its wall-clock deadline.
    PluginTimeout,
    /// A plugin used up its instruction budget.
    PluginFuelExhausted,
    /// A plugin needed more memory than its cap.
    PluginMemoryLimit,
    /// A plugin trapped, overflowed its stack or exited with a failure.
    PluginTrap,
    /// A plugin's output was too large, not JSON or not the expected shape.
    PluginBadOutput,
}

impl ErrorCode {
    pub const ALL: &'static [ErrorCode] = &[
        ErrorCode::Unauthenticated,
        ErrorCode::Forbidden,
        ErrorCode::NotFound,
        ErrorCode::BadUserInput,
        ErrorCode::Conflict,
        ErrorCode::LimitExceeded,
        ErrorCode::Internal,
        ErrorCode::PluginInvalid,
        ErrorCode::PluginTimeout,
        ErrorCode::PluginFuelExhausted,
        ErrorCode::PluginMemoryLimit,
        ErrorCode::PluginTrap,
        ErrorCode::PluginBadOutput,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::Unauthenticated => "UNAUTHENTICATED",
            ErrorCode::Forbidden => "FORBIDDEN",
            ErrorCode::NotFound => "NOT_FOUND",
            ErrorCode::BadUserInput => "BAD_USER_INPUT",
            ErrorCode::Conflict => "CONFLICT",
            ErrorCode::LimitExceeded => "LIMIT_EXCEEDED",
            ErrorCode::Internal => "INTERNAL",
            ErrorCode::PluginInvalid => "PLUGIN_INVALID",
            ErrorCode::PluginTimeout => "PLUGIN_TIMEOUT",
            ErrorCode::PluginFuelExhausted => "PLUGIN_FUEL_EXHAUSTED",
            ErrorCode::PluginMemoryLimit => "PLUGIN_MEMORY_LIMIT",
            ErrorCode::PluginTrap => "PLUGIN_TRAP",
            ErrorCode::PluginBadOutput => "PLUGIN_BAD_OUTPUT",
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An error on its way to a client: a code, a message safe to show, and for
/// bad input the path of the offending field (`input.username`).
///
/// It deliberately implements neither `Display` nor `std::error::Error`:
/// async-graphql turns any displayable error into a GraphQL error without a
/// code, and this type must only ever become one through the conversion
/// below, which attaches the code.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
    pub field: Option<String>,
    /// For FORBIDDEN: the permission that was missing, so that the denial
    /// can be audited with it.
    pub permission: Option<&'static str>,
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ApiError {
            code,
            message: message.into(),
            field: None,
            permission: None,
        }
    }

    pub fn unauthenticated(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Unauthenticated, message)
    }

    pub fn forbidden(permission: &'static str) -> Self {
        ApiError {
            permission: Some(permission),
            ..Self::new(
                ErrorCode::Forbidden,
                format!("this action needs the permission {permission}"),
            )
        }
    }

    /// The one way to say "not here": used both for objects that do not
    /// exist and for objects of another district, so the two cannot be told
    /// apart.
    pub fn not_found(what: &str) -> Self {
        Self::new(ErrorCode::NotFound, format!("{what} not found"))
    }

    pub fn bad_input(field: impl Into<String>, message: impl Into<String>) -> Self {
        ApiError {
            field: Some(field.into()),
            ..Self::new(ErrorCode::BadUserInput, message)
        }
    }

    pub fn conflict(field: impl Into<String>, message: impl Into<String>) -> Self {
        ApiError {
            field: Some(field.into()),
            ..Self::new(ErrorCode::Conflict, message)
        }
    }

    pub fn limit(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::LimitExceeded, message)
    }

    /// Logs the detail and returns an error that says nothing about it.
    pub fn internal(detail: impl fmt::Display) -> Self {
        tracing::error!(error.detail = %detail, "internal error");
        Self::new(ErrorCode::Internal, "internal error")
    }
}

impl From<sea_orm::DbErr> for ApiError {
    fn from(err: sea_orm::DbErr) -> Self {
        ApiError::internal(err)
    }
}

impl From<ApiError> for async_graphql::Error {
    fn from(err: ApiError) -> Self {
        use async_graphql::ErrorExtensions;
        let out = async_graphql::Error::new(err.message);
        let code = err.code;
        let field = err.field;
        let permission = err.permission;
        out.extend_with(|_, ext| {
            ext.set("code", code.as_str());
            if let Some(field) = &field {
                ext.set("field", field.as_str());
            }
            if let Some(permission) = permission {
                ext.set("permission", permission);
            }
        })
    }
}

/// Shorthand for module results.
pub type ApiResult<T> = Result<T, ApiError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn graphql_error_carries_code_and_field() {
        let err: async_graphql::Error = ApiError::bad_input("input.username", "too short").into();
        let ext = err.extensions.expect("extensions");
        assert_eq!(
            ext.get("code"),
            Some(&async_graphql::Value::from("BAD_USER_INPUT"))
        );
        assert_eq!(
            ext.get("field"),
            Some(&async_graphql::Value::from("input.username"))
        );
    }

    #[test]
    fn internal_error_hides_detail() {
        let err = ApiError::internal("relation \"users\" does not exist");
        assert_eq!(err.message, "internal error");
    }
}

//! Errors of the caring-family pool and placement, each mapped onto the
//! closed set of client codes with the field it is about.

use shouhu_kernel::ApiError;

/// What the partners module refuses beyond plain input checks.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum PartnersError {
    /// A vetting change the rules do not allow.
    #[error(
        "a family cannot go from {from} to {to}: vetting goes applied, vetted, trained, \
         approved; any status may be suspended, and a suspended family may be approved again"
    )]
    Transition {
        from: &'static str,
        to: &'static str,
    },
    /// Suspending, or lifting a suspension, without saying why.
    #[error("going from {from} to {to} needs a reason")]
    ReasonRequired {
        from: &'static str,
        to: &'static str,
    },
    /// A write against a version of the family that is no longer current.
    #[error("the family changed since version {given}; read it again (it is at {current})")]
    Stale { given: i64, current: i64 },
    /// A family that cannot take the child now.
    #[error("{message}")]
    NotPlaceable {
        field: &'static str,
        message: String,
    },
}

impl From<PartnersError> for ApiError {
    fn from(err: PartnersError) -> Self {
        let message = err.to_string();
        match err {
            PartnersError::Transition { .. } => ApiError::bad_input("status", message),
            PartnersError::ReasonRequired { .. } => ApiError::bad_input("reason", message),
            PartnersError::Stale { .. } => ApiError::conflict("input.version", message),
            PartnersError::NotPlaceable { field, .. } => ApiError::bad_input(field, message),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shouhu_kernel::ErrorCode;

    #[test]
    fn codes_and_fields() {
        let err = ApiError::from(PartnersError::Stale {
            given: 1,
            current: 2,
        });
        assert_eq!(err.code, ErrorCode::Conflict);
        assert_eq!(err.field.as_deref(), Some("input.version"));
        let err = ApiError::from(PartnersError::ReasonRequired {
            from: "approved",
            to: "suspended",
        });
        assert_eq!(err.code, ErrorCode::BadUserInput);
        assert_eq!(err.field.as_deref(), Some("reason"));
        let err = ApiError::from(PartnersError::Transition {
            from: "applied",
            to: "approved",
        });
        assert_eq!(err.field.as_deref(), Some("status"));
    }
}

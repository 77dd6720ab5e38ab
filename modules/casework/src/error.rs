//! Errors of reporting and casework, each mapped onto the closed set of
//! client codes with the field it is about.

use shouhu_kernel::ApiError;

use crate::model::CaseState;

/// What casework refuses beyond plain input checks.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum CaseworkError {
    /// A state change the state machine does not allow.
    #[error("a case cannot go from {from} to {to}; from {from} it may go to: {allowed}")]
    Transition {
        from: &'static str,
        to: &'static str,
        allowed: String,
    },
    /// A write against a version of the case that is no longer current.
    #[error("the case changed since version {given}; read it again (it is at {current})")]
    Stale { given: i64, current: i64 },
    /// A step whose prerequisite is missing (an assessment, an approved plan…).
    #[error("{message}")]
    Precondition {
        field: &'static str,
        message: String,
    },
    /// Too many public reports from one address.
    #[error("too many reports from this address; try again in an hour or call the hotline")]
    RateLimited,
}

impl CaseworkError {
    pub fn transition(from: CaseState, to: CaseState) -> Self {
        let allowed: Vec<&str> = from.next().iter().map(|s| s.code()).collect();
        CaseworkError::Transition {
            from: from.code(),
            to: to.code(),
            allowed: allowed.join(", "),
        }
    }
}

impl From<CaseworkError> for ApiError {
    fn from(err: CaseworkError) -> Self {
        let message = err.to_string();
        match err {
            CaseworkError::Transition { .. } => ApiError::bad_input("to", message),
            CaseworkError::Stale { .. } => ApiError::conflict("version", message),
            CaseworkError::Precondition { field, .. } => ApiError::bad_input(field, message),
            CaseworkError::RateLimited => ApiError::limit(message),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shouhu_kernel::ErrorCode;

    #[test]
    fn a_refused_transition_lists_the_allowed_ones() {
        let err = ApiError::from(CaseworkError::transition(
            CaseState::Accepted,
            CaseState::PlanActive,
        ));
        assert_eq!(err.code, ErrorCode::BadUserInput);
        assert_eq!(err.field.as_deref(), Some("to"));
        assert!(err.message.contains("verifying, closed"), "{}", err.message);
    }

    #[test]
    fn codes() {
        let stale = ApiError::from(CaseworkError::Stale {
            given: 1,
            current: 2,
        });
        assert_eq!(stale.code, ErrorCode::Conflict);
        assert_eq!(
            ApiError::from(CaseworkError::RateLimited).code,
            ErrorCode::LimitExceeded
        );
    }
}

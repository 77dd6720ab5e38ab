//! Errors of the assistance module, each mapped onto the closed set of
//! client codes with the field it is about.

use shouhu_kernel::ApiError;

/// What the assistance module refuses beyond plain input checks.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum AssistanceError {
    /// A write against a version of the programme that is no longer current.
    #[error("the programme changed since version {given}; read it again (it is at {current})")]
    Stale { given: i64, current: i64 },
    /// Approving would commit more than the programme's budget.
    #[error(
        "approving commits {needed} cents, but only {remaining} of the budget of {budget} \
         cents remain"
    )]
    OverBudget {
        needed: i64,
        remaining: i64,
        budget: i64,
    },
    /// The eligibility plugin's fresh decision says no.
    #[error("the child is not eligible: {reasons}")]
    NotEligible { reasons: String },
    /// A step the enrolment's state does not allow.
    #[error("{message}")]
    State {
        field: &'static str,
        message: String,
    },
}

impl From<AssistanceError> for ApiError {
    fn from(err: AssistanceError) -> Self {
        let message = err.to_string();
        match err {
            AssistanceError::Stale { .. } => ApiError::conflict("version", message),
            AssistanceError::OverBudget { .. } => ApiError::limit(message),
            AssistanceError::NotEligible { .. } => ApiError::bad_input("minorId", message),
            AssistanceError::State { field, .. } => ApiError::bad_input(field, message),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shouhu_kernel::ErrorCode;

    #[test]
    fn each_error_has_its_code() {
        let cases = [
            (
                AssistanceError::Stale {
                    given: 1,
                    current: 2,
                },
                ErrorCode::Conflict,
            ),
            (
                AssistanceError::OverBudget {
                    needed: 3,
                    remaining: 2,
                    budget: 10,
                },
                ErrorCode::LimitExceeded,
            ),
            (
                AssistanceError::NotEligible {
                    reasons: "age".into(),
                },
                ErrorCode::BadUserInput,
            ),
        ];
        for (err, code) in cases {
            assert_eq!(ApiError::from(err).code, code);
        }
    }
}

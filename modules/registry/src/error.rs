//! Errors of the registry module.
//!
//! A rejected identity number, date or name names the rule it failed, so
//! that an import report can say exactly why a row was refused.

pub use crate::dates::DateError;
pub use crate::idnumber::{IdError, IdRule};
pub use crate::names::NameError;

/// Everything the registry refuses; for now, only values a user typed or imported.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum RegistryError {
    /// An identity document number failed a rule.
    #[error(transparent)]
    Id(#[from] IdError),
    /// A date could not be read.
    #[error(transparent)]
    Date(#[from] DateError),
    /// A name could not be accepted.
    #[error(transparent)]
    Name(#[from] NameError),
}

impl RegistryError {
    /// The API error code: every variant so far is a caller's mistake.
    pub fn code(&self) -> &'static str {
        match self {
            RegistryError::Id(_) | RegistryError::Date(_) | RegistryError::Name(_) => {
                "BAD_USER_INPUT"
            }
        }
    }

    /// The stable snake_case code of the rule that failed, for import reports.
    ///
    /// Codes are only unique together with [`RegistryError::field`], since a date and a name
    /// can both be `empty`.
    pub fn rule(&self) -> &'static str {
        match self {
            RegistryError::Id(e) => e.code(),
            RegistryError::Date(e) => e.code(),
            RegistryError::Name(e) => e.code(),
        }
    }

    /// What kind of value was refused: `id`, `date` or `name`.
    pub fn field(&self) -> &'static str {
        match self {
            RegistryError::Id(_) => "id",
            RegistryError::Date(_) => "date",
            RegistryError::Name(_) => "name",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_variant_is_bad_user_input_and_keeps_its_message() {
        let today = chrono::NaiveDate::from_ymd_opt(2025, 6, 1).expect("valid date");
        let id = crate::idnumber::parse_resident_id("320506201503041237", today)
            .map_err(RegistryError::from)
            .expect_err("bad check digit");
        assert_eq!(id.code(), "BAD_USER_INPUT");
        assert_eq!(id.rule(), "check_digit");
        assert_eq!(id.field(), "id");
        assert_eq!(id.to_string(), "check digit: expected 6, found 7");

        let date = RegistryError::from(DateError::SerialFakeLeapDay);
        assert_eq!(date.code(), "BAD_USER_INPUT");
        assert_eq!(date.rule(), "serial_fake_leap_day");
        assert_eq!(date.field(), "date");

        let name = RegistryError::from(NameError::Empty);
        assert_eq!(name.code(), "BAD_USER_INPUT");
        assert_eq!(name.rule(), "empty");
        assert_eq!(name.field(), "name");
        assert_eq!(name.to_string(), "no name was given");
    }
}

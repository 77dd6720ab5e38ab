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

/// A file an import refuses as a whole; a bad row is reported, not refused.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The file cannot be read (not a spreadsheet, an old `.xls`, encrypted, broken).
    #[error(transparent)]
    File(#[from] crate::sheet_in::SheetError),
    /// Required fields have no column, even after the user's mapping.
    #[error(
        "the file has no column for {}; its headers are: {}; name the columns as the \
         standard headers do or map them",
        missing_list(missing),
        if headers.is_empty() { "none".to_owned() } else { headers.join(", ") }
    )]
    MissingColumns {
        /// The fields without a column.
        missing: Vec<String>,
        /// The headers the file has.
        headers: Vec<String>,
    },
}

/// `name (姓名)`: each field with its first standard header.
fn missing_list(missing: &[String]) -> String {
    missing
        .iter()
        .map(|field| {
            match crate::sheet_in::STANDARD_HEADERS
                .iter()
                .find(|(_, f)| f == field)
            {
                Some((header, _)) => format!("{field} ({header})"),
                None => field.clone(),
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

impl ImportError {
    /// A stable snake_case code.
    pub fn code(&self) -> &'static str {
        match self {
            ImportError::File(e) => e.code(),
            ImportError::MissingColumns { .. } => "missing_columns",
        }
    }
}

impl From<ImportError> for shouhu_kernel::ApiError {
    /// Every refusal of a file is the caller's to fix: BAD_USER_INPUT on `file`, or on
    /// `columnMap` for missing columns. An I/O failure reading an upload is ours.
    fn from(err: ImportError) -> Self {
        match &err {
            ImportError::File(crate::sheet_in::SheetError::Io { source, .. }) => {
                shouhu_kernel::ApiError::internal(source)
            }
            ImportError::MissingColumns { .. } => {
                shouhu_kernel::ApiError::bad_input("columnMap", format!("{err} ({})", err.code()))
            }
            ImportError::File(_) => {
                shouhu_kernel::ApiError::bad_input("file", format!("{err} ({})", err.code()))
            }
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

    #[test]
    fn missing_columns_name_the_standard_header() {
        let err = ImportError::MissingColumns {
            missing: vec!["id_number".into(), "community".into()],
            headers: vec!["姓名".into(), "备注".into()],
        };
        assert_eq!(err.code(), "missing_columns");
        let text = err.to_string();
        assert!(
            text.starts_with(
                "the file has no column for id_number (公民身份号码), community (所在社区)"
            ),
            "{text}"
        );
        assert!(text.contains("its headers are: 姓名, 备注"), "{text}");
        let api = shouhu_kernel::ApiError::from(err);
        assert_eq!(api.field.as_deref(), Some("columnMap"));
        let api =
            shouhu_kernel::ApiError::from(ImportError::File(crate::sheet_in::SheetError::NoHeader));
        assert_eq!(api.field.as_deref(), Some("file"));
        assert!(api.message.ends_with("(no_header)"), "{}", api.message);
    }
}

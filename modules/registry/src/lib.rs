//! The registry of minors (信息管理): every minor of a district, the
//! difficulty ledger, change history, and import and export.
//!
//! The pure checks every record and every imported row goes through live
//! in `idnumber`, `dates` and `names`; `model` holds the closed vocabularies
//! (difficulty categories, guardianship situations…), `entity` the rows,
//! `service` the scoped, audited operations and `graphql` their API.

pub mod dates;
pub mod entity;
pub mod error;
pub mod generate;
mod graphql;
pub mod idnumber;
pub mod import;
pub mod model;
pub mod names;
mod service;
pub mod sheet_in;
pub mod sheet_out;

pub use graphql::{
    HouseholdMutation, HouseholdQuery, ImportMutation, RegistryMutation, RegistryQuery,
};
pub use service::{
    ExportSummary, Ledger, MinorFacts, MinorFilter, MinorInput, RegistryService, SyntheticWriter,
    EXPORT_HEADERS,
};

pub use dates::{age_on, aged_out, from_excel_serial, parse_date, parse_date_or_serial, DateError};
pub use error::{ImportError, RegistryError};
pub use idnumber::{
    check_matches, mask_id, normalise_document, parse_resident_id, DocumentType, IdError, IdRule,
    ResidentId, Sex,
};
pub use import::{
    ImportMode, ImportOptions, ImportProgress, ImportReport, MinorImporter, RowError,
};
pub use names::{mask_name, normalise_name, NameError};
pub use sheet_in::{
    canonical_field, column_name, detect_format, Cell, ColumnMap, Row, SheetError, SheetFormat,
    SheetOptions, SheetReader,
};
pub use sheet_out::{neutralise, OutCell, XlsxLedgerWriter};

/// Folds a full-width form (as typed with a Chinese input method) onto its ASCII twin.
///
/// The full-width block U+FF01..=U+FF5E mirrors ASCII 0x21..=0x7E at a fixed offset, and the
/// ideographic space U+3000 stands for an ordinary space; every other character is returned
/// unchanged so that callers can decide what to do with it.
pub(crate) fn fold_width(c: char) -> char {
    match c {
        '\u{FF01}'..='\u{FF5E}' => {
            // The range guard keeps the result within 0x21..=0x7E, so the conversion always
            // succeeds; the fallback only exists to avoid a panic path.
            char::from_u32(u32::from(c) - 0xFEE0).unwrap_or(c)
        }
        '\u{3000}' => ' ',
        _ => c,
    }
}

#[cfg(test)]
mod tests {
    use super::fold_width;

    #[test]
    fn fold_width_maps_full_width_ascii_and_ideographic_space() {
        assert_eq!(fold_width('０'), '0');
        assert_eq!(fold_width('９'), '9');
        assert_eq!(fold_width('Ｘ'), 'X');
        assert_eq!(fold_width('ｘ'), 'x');
        assert_eq!(fold_width('／'), '/');
        assert_eq!(fold_width('\u{3000}'), ' ');
        assert_eq!(fold_width('张'), '张');
        assert_eq!(fold_width('a'), 'a');
    }
}

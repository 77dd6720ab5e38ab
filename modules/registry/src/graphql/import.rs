//! `importMinors`: a spreadsheet of minors uploaded with the GraphQL multipart request
//! format, imported exactly as `shouhu import minors` imports a file on disk.
//!
//! The upload arrives in an anonymous temporary file (the HTTP layer caps its size), so the
//! importer reads it in batches like any other file. The answer is the import report: counts
//! and the invalid rows with their line, column and rule, never a cell's content.

use async_graphql::{Context, InputObject, Object, SimpleObject, Upload};
use shouhu_audit::Actor;
use shouhu_kernel::context::{principal, request_ctx};
use shouhu_kernel::ApiError;

use crate::{ImportMode, ImportOptions, ImportReport, RegistryService, RowError};

/// Most invalid rows an answer lists (all are counted in `invalid`).
const MAX_LISTED_ERRORS: usize = 1_000;

/// A column of the file read as a field: `{ header: "学生姓名", field: "姓名" }`. The field
/// is a standard header or a field name (`name`, `id_number`, …); an empty field ignores the
/// column.
#[derive(InputObject)]
pub struct ColumnMapping {
    pub header: String,
    pub field: String,
}

/// One invalid row.
#[derive(SimpleObject)]
pub struct ImportRowError {
    /// The line (CSV) or row (XLSX) number as a spreadsheet shows it; the header is line 1.
    pub line: u64,
    /// The column's letter, when the problem is in one cell.
    pub column: Option<String>,
    /// The column's header as the file spells it.
    pub header: Option<String>,
    /// A stable code, `<field>.<rule>` (`id_number.check_digit`) or a code of the whole row
    /// (`duplicate_in_file`).
    pub code: String,
    pub message: String,
}

/// What an import did.
#[derive(SimpleObject)]
pub struct ImportResult {
    pub file_name: String,
    pub mode: ImportMode,
    /// `csv` or `xlsx`.
    pub format: String,
    /// The encoding a CSV file was read as (`UTF-8`, `GBK`…).
    pub encoding: Option<String>,
    pub rows_read: u64,
    pub created: u64,
    pub updated: u64,
    pub unchanged: u64,
    /// Invalid rows, all of them; `errors` lists the first thousand.
    pub invalid: u64,
    pub errors: Vec<ImportRowError>,
    /// False when nothing was written (all-or-nothing with an invalid row).
    pub committed: bool,
    /// Headers that map to no field and were ignored.
    pub ignored_headers: Vec<String>,
    pub elapsed_ms: u64,
}

impl From<RowError> for ImportRowError {
    fn from(e: RowError) -> Self {
        ImportRowError {
            line: e.line,
            column: e.column,
            header: e.header,
            code: e.code,
            message: e.message,
        }
    }
}

impl From<ImportReport> for ImportResult {
    fn from(r: ImportReport) -> Self {
        ImportResult {
            file_name: r.file_name,
            mode: r.mode,
            format: r.format,
            encoding: r.encoding,
            rows_read: r.rows_read,
            created: r.created,
            updated: r.updated,
            unchanged: r.unchanged,
            invalid: r.invalid,
            errors: r.errors.into_iter().map(ImportRowError::from).collect(),
            committed: r.committed,
            ignored_headers: r.ignored_headers,
            elapsed_ms: r.elapsed_ms,
        }
    }
}

#[derive(Default)]
pub struct ImportMutation;

#[Object]
impl ImportMutation {
    /// Imports minors from an uploaded CSV (UTF-8 with or without BOM, or GBK) or XLSX file
    /// with the standard Chinese headers (or `columnMap`). Needs `minor:import`. By default
    /// (`mode` left out or null) one invalid row writes nothing (`committed: false`) while
    /// every invalid row is still reported; `mode: SKIP_INVALID` writes the valid rows. A row
    /// whose identity document is registered updates that minor, so importing the same file
    /// twice changes nothing.
    async fn import_minors(
        &self,
        ctx: &Context<'_>,
        file: Upload,
        mode: Option<ImportMode>,
        column_map: Option<Vec<ColumnMapping>>,
        sheet: Option<String>,
    ) -> async_graphql::Result<ImportResult> {
        let rc = request_ctx(ctx)?;
        let who = principal(ctx)?;
        let service = ctx.data::<RegistryService>()?;
        let upload = file
            .value(ctx)
            .map_err(|_| ApiError::bad_input("file", "the uploaded file could not be read"))?;
        let mut options = ImportOptions::new(upload.filename.clone());
        options.mode = mode.unwrap_or_default();
        options.sheet = sheet;
        options.max_errors = MAX_LISTED_ERRORS;
        options.column_map = column_map
            .unwrap_or_default()
            .into_iter()
            .map(|m| (m.header, m.field))
            .collect();
        let report = service
            .importer()
            .import(
                who,
                &Actor::of(who, &rc.request_id),
                upload.content,
                options,
                None,
            )
            .await?;
        Ok(report.into())
    }
}

//! Importing a spreadsheet of minors (CSV in UTF-8 or GBK, or XLSX), row by row, in batches.
//!
//! # How an import runs
//!
//! 1. The file is opened with [`SheetReader`] and its headers are mapped to fields with
//!    [`ColumnMap`] (the standard Chinese headers, plus the user's mapping). A missing required
//!    column, an unreadable file or an old `.xls` workbook refuses the whole file.
//! 2. A blocking thread reads the rows and runs every pure check on each: the name, the
//!    identity document (with the spreadsheet-mangling rules and the 15-digit upgrade), sex and
//!    birth date against the number, dates as text or Excel serials, the closed vocabularies,
//!    the community or village (by code or name, inside the district and inside the caller's
//!    scope) and duplicates within the file. It hands batches of [`BATCH_ROWS`] rows to the
//!    writer through a channel of two batches, so memory does not grow with the file.
//! 3. The writer looks up, per batch and in one query, which documents are already registered
//!    in the district. A new document becomes a new minor (with its guardian, categories and a
//!    `created` history entry), written with multi-row `INSERT`s on SQLite and on PostgreSQL
//!    by `COPY` into staging tables and `INSERT … SELECT` (see [`staging`], whose rows the
//!    reading thread prepares); a known one updates that
//!    minor field by field, with one history entry per changed field, exactly like an update
//!    through the API, and nothing at all when nothing changed.
//!
//! Everything runs in one transaction (on PostgreSQL with the tenant set in it, so row-level
//! security applies to every statement). In [`ImportMode::AllOrNothing`] the writer stops
//! writing at the first invalid row but keeps checking the rest, so the report lists every
//! invalid row, and the transaction is rolled back. In [`ImportMode::SkipInvalid`] the valid
//! rows are committed and the invalid ones reported.
//!
//! # What a row may do
//!
//! An empty cell leaves a stored value as it is: an import adds and changes, it never clears.
//! Rows are keyed by their document, so a row without an identity document is refused: a
//! minor without any document is registered one by one, where likely duplicates are offered
//! and must be confirmed. A guardian is matched to the minor's guardians by name; a new name
//! adds a guardian.
//!
//! Reports and their messages never repeat a cell's content, and nothing here is logged, since
//! a report reaches a wider audience than the record.

use std::collections::{BTreeMap, HashMap};
use std::io::{Read, Seek};
use std::sync::Arc;
use std::time::Instant;

use chrono::NaiveDate;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, DbBackend, EntityTrait, FromQueryResult, QueryFilter, Statement,
};
use serde_json::{json, Value};
use shouhu_audit::{Actor, AuditEntry, AuditService, Outcome};
use shouhu_kernel::clock::SharedClock;
use shouhu_kernel::ids::new_id;
use shouhu_kernel::{is_unique_violation, ApiError, Backend, Db, Principal, ScopedTx};
use shouhu_policies::Permission;
use shouhu_tenancy::TenancyService;
use tokio::sync::mpsc;
use uuid::Uuid;

use crate::entity::{guardian, minor, minor_category, minor_history};
use staging::{Staged, StagedChunk};

mod staging;
use crate::error::ImportError;
use crate::idnumber::{IdError, IdRule};
use crate::model::{
    Category, DocumentKind, EconomicStatus, GuardianSituation, MinorStatus, Relationship, SexCode,
};
use crate::sheet_in::{column_name, Cell, ColumnMap, Row, SheetError, SheetOptions, SheetReader};
use crate::{
    check_matches, from_excel_serial, normalise_document, normalise_name, parse_date_or_serial,
    parse_resident_id, RegistryError,
};

/// Rows per batch: one lookup query and a few multi-row inserts each. With the 24 columns of
/// `minors` a batch stays under PostgreSQL's 65,535 bind parameters and SQLite's 32,766.
pub const BATCH_ROWS: usize = 1000;

/// Batches the reader may run ahead of the writer.
const BATCHES_AHEAD: usize = 2;

/// The fields a file must have a column for.
pub const REQUIRED_FIELDS: &[&str] = &["name", "id_number", "community"];

/// The source recorded for a category when the file has no source column or cell.
const DEFAULT_CATEGORY_SOURCE: &str = "批量导入";

/// What to do with invalid rows.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, async_graphql::Enum)]
pub enum ImportMode {
    /// Any invalid row and nothing is written; every invalid row is still reported.
    #[default]
    AllOrNothing,
    /// Valid rows are written, invalid rows are reported and left out.
    SkipInvalid,
}

impl ImportMode {
    /// The form the command line and the audit log use.
    pub fn code(self) -> &'static str {
        match self {
            ImportMode::AllOrNothing => "all-or-nothing",
            ImportMode::SkipInvalid => "skip-invalid",
        }
    }

    /// Reads `all-or-nothing` or `skip-invalid` (underscores and case ignored).
    pub fn parse(text: &str) -> Option<ImportMode> {
        match text.trim().to_ascii_lowercase().replace('_', "-").as_str() {
            "all-or-nothing" => Some(ImportMode::AllOrNothing),
            "skip-invalid" => Some(ImportMode::SkipInvalid),
            _ => None,
        }
    }
}

/// How to import a file.
#[derive(Clone, Debug)]
pub struct ImportOptions {
    pub mode: ImportMode,
    /// The name the user knows the file by; it tells CSV from XLSX when the content does not,
    /// and it is recorded in the history (`import <name>`) and the audit log.
    pub file_name: String,
    /// File header → field name or standard header; `""` ignores a column.
    pub column_map: HashMap<String, String>,
    /// The worksheet of a workbook; the first visible one by default.
    pub sheet: Option<String>,
    /// How many invalid rows the report lists; all of them are counted.
    pub max_errors: usize,
}

impl ImportOptions {
    pub fn new(file_name: impl Into<String>) -> ImportOptions {
        ImportOptions {
            mode: ImportMode::AllOrNothing,
            file_name: file_name.into(),
            column_map: HashMap::new(),
            sheet: None,
            max_errors: 1000,
        }
    }
}

/// How far an import has got, for a progress bar.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct ImportProgress {
    /// Data rows read so far.
    pub rows: u64,
    /// Bytes of a CSV file read so far (0 for XLSX).
    pub bytes_read: u64,
    /// The size of the file.
    pub bytes_total: Option<u64>,
    /// The rows an XLSX worksheet declares (`None` for CSV).
    pub rows_hint: Option<u64>,
}

/// Called after each batch.
pub type ProgressFn = dyn Fn(ImportProgress) + Send + Sync;

/// One invalid row: where and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RowError {
    /// The line (CSV) or row (XLSX) number a person sees; the header is line 1.
    pub line: u64,
    /// The column's letter (`C`), when the problem is in one cell.
    pub column: Option<String>,
    /// The column's header as the file spells it.
    pub header: Option<String>,
    /// A stable code: `<field>.<rule>` (`id_number.excel_truncated`) or a code of the row as
    /// a whole (`duplicate_in_file`).
    pub code: String,
    /// An English explanation that never repeats the cell's content.
    pub message: String,
}

/// What an import did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ImportReport {
    pub file_name: String,
    pub mode: ImportMode,
    /// `csv` or `xlsx`.
    pub format: String,
    /// The encoding a CSV file was read as.
    pub encoding: Option<String>,
    /// Data rows read (blank rows are not counted).
    pub rows_read: u64,
    /// Minors registered, updated and found unchanged (0 when nothing was committed).
    pub created: u64,
    pub updated: u64,
    pub unchanged: u64,
    /// Invalid rows, all of them; [`ImportReport::errors`] lists the first of them.
    pub invalid: u64,
    pub errors: Vec<RowError>,
    /// Whether anything was written: false in all-or-nothing mode with an invalid row.
    pub committed: bool,
    /// Headers that map to no field and were ignored.
    pub ignored_headers: Vec<String>,
    pub elapsed_ms: u64,
}

impl ImportReport {
    /// Rows per second over the whole import.
    pub fn rows_per_second(&self) -> f64 {
        if self.elapsed_ms == 0 {
            return self.rows_read as f64;
        }
        self.rows_read as f64 * 1000.0 / self.elapsed_ms as f64
    }
}

/// A community or village a row may name, with what the checks need of it.
#[derive(Clone, Debug)]
struct UnitRef {
    id: Uuid,
    path: String,
    depth: i32,
}

/// The district's org units by code and by name, loaded once per import.
#[derive(Debug, Default)]
struct Units {
    by_code: HashMap<String, UnitRef>,
    /// Several units may share a name in different streets.
    by_name: HashMap<String, Vec<UnitRef>>,
    path_of: HashMap<Uuid, String>,
}

/// A guardian as a row gives it.
#[derive(Clone, Debug, PartialEq)]
struct GuardianRow {
    name: String,
    relationship: Relationship,
    phone: Option<String>,
    situation: GuardianSituation,
}

/// A row's difficulty categories: each with the date it applied from and its source.
type CategoryRows = Vec<(Category, NaiveDate, String)>;

/// A row that passed every check that needs no database.
#[derive(Clone, Debug)]
struct Candidate {
    line: u64,
    name: String,
    doc_kind: DocumentKind,
    doc_number: String,
    sex: SexCode,
    birth: NaiveDate,
    texts: [Option<String>; TEXT_FIELDS.len()],
    org_unit: Uuid,
    economic_status: Option<EconomicStatus>,
    status: Option<MinorStatus>,
    /// `None` when the row says nothing about categories.
    categories: Option<CategoryRows>,
    guardian: Option<GuardianRow>,
    /// On PostgreSQL, the rows that register this candidate as a new minor, made on the
    /// reading thread; unused when the document turns out to be registered.
    staged: Option<Staged>,
}

impl Candidate {
    /// The economic status a new minor gets: the row's, or none.
    fn new_economic_status(&self) -> &'static str {
        self.economic_status.unwrap_or(EconomicStatus::None).code()
    }

    /// The status a new minor gets: the row's, or active.
    fn new_status(&self) -> &'static str {
        self.status.unwrap_or(MinorStatus::Active).code()
    }
}

/// What the `created` history entry of a new minor records.
fn created_history(org_unit: Uuid) -> Value {
    json!({ "orgUnitId": org_unit })
}

/// Free-text fields: import field, history key, longest length.
const TEXT_FIELDS: [(&str, &str, usize); 8] = [
    ("ethnicity", "ethnicity", 32),
    ("hukou_place", "hukouPlace", 200),
    ("address", "address", 500),
    ("phone", "phone", 32),
    ("school", "school", 100),
    ("grade", "grade", 32),
    ("health", "health", 1000),
    ("disability_grade", "disabilityGrade", 16),
];

/// The stored value of a free-text field, in the order of [`TEXT_FIELDS`].
fn stored_text(m: &minor::Model, index: usize) -> Option<&str> {
    match index {
        0 => m.ethnicity.as_deref(),
        1 => m.hukou_place.as_deref(),
        2 => m.address.as_deref(),
        3 => m.phone.as_deref(),
        4 => m.school.as_deref(),
        5 => m.grade.as_deref(),
        6 => m.health.as_deref(),
        _ => m.disability_grade.as_deref(),
    }
}

/// Sets a free-text field of an active model, in the order of [`TEXT_FIELDS`].
fn set_text(m: &mut minor::ActiveModel, index: usize, value: Option<String>) {
    match index {
        0 => m.ethnicity = Set(value),
        1 => m.hukou_place = Set(value),
        2 => m.address = Set(value),
        3 => m.phone = Set(value),
        4 => m.school = Set(value),
        5 => m.grade = Set(value),
        6 => m.health = Set(value),
        _ => m.disability_grade = Set(value),
    }
}

/// A document as a key for finding duplicates within a file: a resident identity number by
/// its first 17 digits (the 18th is their check digit), any other document by kind and text.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum DocKey {
    Resident(u64),
    Other(DocumentKind, Box<str>),
}

impl DocKey {
    fn of(kind: DocumentKind, number: &str) -> DocKey {
        if kind == DocumentKind::ResidentId {
            if let Some(n) = number.get(..17).and_then(|d| d.parse::<u64>().ok()) {
                return DocKey::Resident(n);
            }
        }
        DocKey::Other(kind, number.into())
    }
}

/// Everything the row checks need, owned by the reading thread.
struct Checker {
    map: ColumnMap,
    units: Arc<Units>,
    /// The caller's scope: the path every unit must lie under; `None` for the whole district.
    scope: Option<String>,
    today: NaiveDate,
    seen: HashMap<DocKey, u64>,
    /// Whether valid rows are also written out as staging rows (PostgreSQL).
    stage: bool,
}

/// What the reading thread hands to the writer.
enum Message {
    Batch {
        items: Vec<Result<Candidate, RowError>>,
        progress: ImportProgress,
    },
    /// The file broke off; nothing after this can be read.
    Fatal(SheetError),
}

/// A row's problem before the column is known.
struct Problem {
    field: Option<&'static str>,
    code: String,
    message: String,
}

impl Problem {
    fn on(field: &'static str, rule: &str, message: impl Into<String>) -> Problem {
        Problem {
            field: Some(field),
            code: format!("{field}.{rule}"),
            message: message.into(),
        }
    }

    fn checks(field: &'static str, err: impl Into<RegistryError>) -> Problem {
        let err = err.into();
        Problem::on(field, err.rule(), err.to_string())
    }
}

impl Checker {
    fn cell<'a>(&self, row: &'a Row, field: &str) -> Option<&'a Cell> {
        self.map.get(row, field).filter(|c| !c.is_empty())
    }

    fn text(&self, row: &Row, field: &str) -> Option<String> {
        self.cell(row, field).map(|c| c.to_text().into_owned())
    }

    /// Turns a problem into a report entry with the column's letter and header.
    fn error(&self, line: u64, problem: Problem) -> RowError {
        let index = problem.field.and_then(|f| self.map.index(f));
        RowError {
            line,
            column: index.map(column_name),
            header: problem
                .field
                .and_then(|f| self.map.header_of(f))
                .map(str::to_owned),
            code: problem.code,
            message: problem.message,
        }
    }

    fn check(&mut self, row: &Row) -> Result<Candidate, RowError> {
        let candidate = self.candidate(row).map_err(|p| self.error(row.line, p))?;
        let key = DocKey::of(candidate.doc_kind, &candidate.doc_number);
        if let Some(first) = self.seen.get(&key) {
            return Err(self.error(
                row.line,
                Problem::on(
                    "id_number",
                    "duplicate_in_file",
                    format!("the same document is already on line {first} of this file"),
                ),
            ));
        }
        self.seen.insert(key, row.line);
        let mut candidate = candidate;
        if self.stage {
            candidate.staged = Some(Staged::of(&candidate));
        }
        Ok(candidate)
    }

    fn candidate(&self, row: &Row) -> Result<Candidate, Problem> {
        let name = match self.text(row, "name") {
            Some(raw) => normalise_name(&raw).map_err(|e| Problem::checks("name", e))?,
            None => return Err(Problem::on("name", "required", "a name is required")),
        };
        let doc_kind = match self.text(row, "document_type") {
            None => DocumentKind::ResidentId,
            Some(raw) => parse_document_kind(&raw).ok_or_else(|| {
                Problem::on(
                    "document_type",
                    "unknown",
                    "not a document type; use 居民身份证, 港澳居民来往内地通行证, \
                     台湾居民来往大陆通行证, 护照 or 出生医学证明",
                )
            })?,
        };
        let sex = match self.text(row, "sex") {
            None => None,
            Some(raw) => Some(parse_sex(&raw).ok_or_else(|| {
                Problem::on("sex", "unknown", "write 男 or 女 (or male, female)")
            })?),
        };
        let birth = match self.cell(row, "birth_date") {
            None => None,
            Some(cell) => Some(cell_date(cell).map_err(|e| Problem::checks("birth_date", e))?),
        };
        if birth.is_some_and(|b| b > self.today) {
            return Err(Problem::on(
                "birth_date",
                "future",
                "the birth date lies in the future",
            ));
        }
        let (doc_number, sex, birth) = self.document(row, doc_kind, sex, birth)?;
        let mut texts: [Option<String>; TEXT_FIELDS.len()] = Default::default();
        for (i, (field, _, max)) in TEXT_FIELDS.iter().enumerate() {
            if let Some(value) = self.text(row, field) {
                if value.chars().count() > *max {
                    return Err(Problem::on(
                        field,
                        "too_long",
                        format!("at most {max} characters"),
                    ));
                }
                texts[i] = Some(value);
            }
        }
        let org_unit = self.unit(row)?;
        let economic_status = self
            .vocabulary(row, "economic_status", EconomicStatus::parse)
            .map_err(|()| {
                Problem::on(
                    "economic_status",
                    "unknown",
                    "write 无, 低保, 低保边缘 or 特困",
                )
            })?;
        let status = self
            .vocabulary(row, "status", MinorStatus::parse)
            .map_err(|()| Problem::on("status", "unknown", "write 在册, 迁出 or 死亡"))?;
        let categories = self.categories(row)?;
        let guardian = self.guardian(row)?;
        Ok(Candidate {
            line: row.line,
            name,
            doc_kind,
            doc_number,
            sex,
            birth,
            texts,
            org_unit,
            economic_status,
            status,
            categories,
            guardian,
            staged: None,
        })
    }

    /// The document number, normalised, with the sex and birth date checked against a
    /// resident identity number (or taken from it when the row leaves them out).
    fn document(
        &self,
        row: &Row,
        kind: DocumentKind,
        sex: Option<SexCode>,
        birth: Option<NaiveDate>,
    ) -> Result<(String, SexCode, NaiveDate), Problem> {
        let Some(cell) = self.cell(row, "id_number") else {
            return Err(Problem::on(
                "id_number",
                "required",
                "an identity document is required; register a minor without one through \
                 the registry, where likely duplicates are checked",
            ));
        };
        let id_err = |e: IdError| Problem::checks("id_number", e);
        if kind != DocumentKind::ResidentId {
            let number =
                normalise_document(kind.into(), &cell.to_text(), self.today).map_err(id_err)?;
            let sex = sex.ok_or_else(|| {
                Problem::on("sex", "required", "the sex is required for this document")
            })?;
            let birth = birth.ok_or_else(|| {
                Problem::on(
                    "birth_date",
                    "required",
                    "the birth date is required for this document",
                )
            })?;
            return Ok((number, sex, birth));
        }
        if let Cell::Number(n) = cell {
            // A spreadsheet keeps 15 significant digits of a number, so an 18-digit number
            // stored as one has lost its last digits, whatever they read now.
            if *n >= 1e15 {
                return Err(id_err(IdError {
                    rule: IdRule::ExcelTruncated,
                    message: "excel truncated: the cell holds a number, not text, so the \
                              spreadsheet kept only the first 15 digits; format the column \
                              as text and enter the number again"
                        .to_owned(),
                }));
            }
        }
        let id = parse_resident_id(&cell.to_text(), self.today).map_err(id_err)?;
        check_matches(&id, birth, sex.map(Into::into)).map_err(id_err)?;
        let sex = sex.unwrap_or(match id.sex {
            crate::Sex::Male => SexCode::Male,
            crate::Sex::Female => SexCode::Female,
        });
        Ok((id.number, sex, birth.unwrap_or(id.birth_date)))
    }

    fn vocabulary<T>(
        &self,
        row: &Row,
        field: &str,
        parse: fn(&str) -> Option<T>,
    ) -> Result<Option<T>, ()> {
        match self.text(row, field) {
            None => Ok(None),
            Some(raw) => parse(&raw).map(Some).ok_or(()),
        }
    }

    /// The community or village, by code or by name, inside the district and the caller's
    /// scope.
    fn unit(&self, row: &Row) -> Result<Uuid, Problem> {
        let Some(raw) = self.text(row, "community") else {
            return Err(Problem::on(
                "community",
                "required",
                "the community or village is required",
            ));
        };
        let key = raw.trim();
        let unit = match self.units.by_code.get(&key.to_ascii_uppercase()) {
            Some(unit) => unit,
            None => match self.units.by_name.get(key).map(Vec::as_slice) {
                Some([unit]) => unit,
                Some([_, _, ..]) => {
                    return Err(Problem::on(
                        "community",
                        "ambiguous",
                        "several communities or villages of the district have this name; \
                         write its 12-digit code instead",
                    ))
                }
                _ => {
                    return Err(Problem::on(
                        "community",
                        "not_found",
                        "no community or village of this district has this code or name",
                    ))
                }
            },
        };
        if unit.depth < 2 {
            return Err(Problem::on(
                "community",
                "not_community",
                "this is a street, town or the district; a minor lives in a community or \
                 village",
            ));
        }
        if let Some(scope) = &self.scope {
            if !unit.path.starts_with(scope.as_str()) {
                return Err(Problem::on(
                    "community",
                    "out_of_scope",
                    "this community or village is outside the area you work for",
                ));
            }
        }
        Ok(unit.id)
    }

    /// The categories of a row, each with its date and source. 困境认定日期 and 认定来源 hold
    /// either one value for all of the row's categories or one per category, in the order
    /// of 困境类型, as `demo generate --csv` and the export write them.
    fn categories(&self, row: &Row) -> Result<Option<CategoryRows>, Problem> {
        let Some(raw) = self.text(row, "categories") else {
            return Ok(None);
        };
        let mut listed: Vec<Category> = Vec::new();
        for part in raw
            .split(['、', ',', '，', ';', '；', '/', '|', '\n'])
            .map(str::trim)
            .filter(|p| !p.is_empty())
        {
            listed.push(parse_category(part).ok_or_else(|| {
                Problem::on(
                    "categories",
                    "unknown",
                    "not one of the nine difficulty categories (孤儿, 事实无人抚养未成年人…); \
                     separate several with 、",
                )
            })?);
        }
        if listed.is_empty() {
            return Ok(None);
        }
        let dates = self.category_dates(row, listed.len())?;
        let sources = self.category_sources(row, listed.len())?;
        let mut found: CategoryRows = Vec::with_capacity(listed.len());
        for (i, category) in listed.into_iter().enumerate() {
            // A category named twice keeps the date and source of its first mention.
            if found.iter().any(|(c, _, _)| *c == category) {
                continue;
            }
            let since = dates[i.min(dates.len() - 1)];
            let source = sources[i.min(sources.len() - 1)].clone();
            found.push((category, since, source));
        }
        found.sort_by_key(|(c, _, _)| *c);
        Ok(Some(found))
    }

    /// The dates of 困境认定日期: one, or `count` (one per listed category).
    fn category_dates(&self, row: &Row, count: usize) -> Result<Vec<NaiveDate>, Problem> {
        let Some(cell) = self.cell(row, "category_since") else {
            return Err(Problem::on(
                "category_since",
                "required",
                "a difficulty category needs the date it was found (困境认定日期)",
            ));
        };
        let dates = match cell {
            Cell::Text(text) => {
                let parts = list_parts(text);
                if parts.is_empty() {
                    return Err(Problem::on(
                        "category_since",
                        "required",
                        "a difficulty category needs the date it was found (困境认定日期)",
                    ));
                }
                if parts.len() > 1 && parts.len() != count {
                    return Err(Problem::on(
                        "category_since",
                        "count_mismatch",
                        format!(
                            "困境认定日期 lists {} dates for {count} difficulty categories in \
                             困境类型; give one date for all of them, or one for each category \
                             in the same order",
                            parts.len()
                        ),
                    ));
                }
                let mut dates = Vec::with_capacity(parts.len());
                for (i, part) in parts.iter().enumerate() {
                    let date = parse_date_or_serial(part).map_err(|e| {
                        let mut problem = Problem::checks("category_since", e);
                        if parts.len() > 1 {
                            problem.message =
                                format!("date {} of {}: {}", i + 1, parts.len(), problem.message);
                        }
                        problem
                    })?;
                    dates.push(date);
                }
                dates
            }
            other => vec![cell_date(other).map_err(|e| Problem::checks("category_since", e))?],
        };
        if dates.iter().any(|d| *d > self.today) {
            return Err(Problem::on(
                "category_since",
                "future",
                "the date lies in the future",
            ));
        }
        Ok(dates)
    }

    /// The sources of 认定来源: one, or `count` (one per listed category). A row with one
    /// category reads the whole cell as its source, separators and all, as before lists were
    /// read; the default when the file gives none.
    fn category_sources(&self, row: &Row, count: usize) -> Result<Vec<String>, Problem> {
        let Some(text) = self.text(row, "category_source") else {
            return Ok(vec![DEFAULT_CATEGORY_SOURCE.to_owned()]);
        };
        let parts = list_parts(&text);
        let sources: Vec<String> = if count == 1 || parts.len() <= 1 {
            vec![text]
        } else if parts.len() == count {
            parts.into_iter().map(str::to_owned).collect()
        } else {
            return Err(Problem::on(
                "category_source",
                "count_mismatch",
                format!(
                    "认定来源 lists {} sources for {count} difficulty categories in 困境类型; \
                     give one source for all of them, or one for each category in the same \
                     order",
                    parts.len()
                ),
            ));
        };
        if sources.iter().any(|s| s.chars().count() > 200) {
            return Err(Problem::on(
                "category_source",
                "too_long",
                "at most 200 characters",
            ));
        }
        Ok(sources)
    }

    fn guardian(&self, row: &Row) -> Result<Option<GuardianRow>, Problem> {
        let name = self.text(row, "guardian_name");
        let relationship = self.text(row, "guardian_relationship");
        let phone = self.text(row, "guardian_phone");
        let situation = self.text(row, "guardian_situation");
        let Some(name) = name else {
            if relationship.is_some() || phone.is_some() || situation.is_some() {
                return Err(Problem::on(
                    "guardian_name",
                    "required",
                    "the guardian's other columns are filled in but not the name",
                ));
            }
            return Ok(None);
        };
        let name = normalise_name(&name).map_err(|e| Problem::checks("guardian_name", e))?;
        let relationship = match relationship {
            Some(raw) => parse_relationship(&raw).ok_or_else(|| {
                Problem::on(
                    "guardian_relationship",
                    "unknown",
                    "write 父亲, 母亲, 祖父母或外祖父母, 兄弟姐妹, 其他亲属 or 其他",
                )
            })?,
            None => {
                return Err(Problem::on(
                    "guardian_relationship",
                    "required",
                    "the guardian's relationship to the minor is required",
                ))
            }
        };
        if phone.as_ref().is_some_and(|p| p.chars().count() > 32) {
            return Err(Problem::on(
                "guardian_phone",
                "too_long",
                "at most 32 characters",
            ));
        }
        let situation = match situation {
            Some(raw) => GuardianSituation::parse(&raw).ok_or_else(|| {
                Problem::on(
                    "guardian_situation",
                    "unknown",
                    "write 正常履职, 死亡, 服刑在押, 强制隔离戒毒, 失联, 重病重残, 外出务工 \
                     or 其他",
                )
            })?,
            // Most survey sheets record a guardian's situation only when it is a difficulty.
            None => GuardianSituation::Present,
        };
        Ok(Some(GuardianRow {
            name,
            relationship,
            phone,
            situation,
        }))
    }
}

/// The non-empty, trimmed parts of a cell that lists one value per category (dates, sources).
/// `/` does not separate here, since dates are written with it.
fn list_parts(text: &str) -> Vec<&str> {
    text.split(['、', ',', '，', ';', '；'])
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .collect()
}

/// A date cell: a date, an Excel serial stored as a number, or text (which may be a serial).
fn cell_date(cell: &Cell) -> Result<NaiveDate, crate::DateError> {
    match cell {
        Cell::Date(date) => Ok(*date),
        Cell::Number(serial) => from_excel_serial(*serial),
        other => parse_date_or_serial(&other.to_text()),
    }
}

fn parse_document_kind(text: &str) -> Option<DocumentKind> {
    DocumentKind::parse(text).or(match text.trim() {
        "身份证" | "居民身份证号码" | "公民身份号码" => {
            Some(DocumentKind::ResidentId)
        }
        "港澳通行证" => Some(DocumentKind::HkMacaoPermit),
        "台胞证" => Some(DocumentKind::TaiwanPermit),
        "出生证" | "出生证明" => Some(DocumentKind::BirthCertificate),
        _ => None,
    })
}

fn parse_sex(text: &str) -> Option<SexCode> {
    SexCode::parse(text).or(match text.trim().to_ascii_lowercase().as_str() {
        "男性" | "m" => Some(SexCode::Male),
        "女性" | "f" => Some(SexCode::Female),
        _ => None,
    })
}

/// A category by code, by label, or by label without its `未成年人`/`儿童` ending, as sheets
/// often shorten them (`事实无人抚养`, `孤儿`).
fn parse_category(text: &str) -> Option<Category> {
    if let Some(category) = Category::parse(text) {
        return Some(category);
    }
    let short = |s: &str| -> String {
        let s = s.trim();
        let s = s.strip_suffix("未成年人").unwrap_or(s);
        s.strip_suffix("儿童").unwrap_or(s).to_owned()
    };
    let wanted = short(text);
    if wanted.is_empty() {
        return None;
    }
    Category::ALL
        .iter()
        .copied()
        .find(|c| short(c.label_zh()) == wanted)
}

fn parse_relationship(text: &str) -> Option<Relationship> {
    Relationship::parse(text).or(match text.trim() {
        "父" | "父子" | "父女" => Some(Relationship::Father),
        "母" | "母子" | "母女" => Some(Relationship::Mother),
        "祖父" | "祖母" | "外祖父" | "外祖母" | "爷爷" | "奶奶" | "外公" | "外婆" => {
            Some(Relationship::Grandparent)
        }
        "哥哥" | "姐姐" | "兄" | "姐" => Some(Relationship::Sibling),
        _ => None,
    })
}

/// The file name as it may be recorded: its last path component, without control
/// characters, at most 100 characters.
pub fn clean_file_name(name: &str) -> String {
    let last = name.rsplit(['/', '\\']).next().unwrap_or(name);
    let cleaned: String = last.chars().filter(|c| !c.is_control()).take(100).collect();
    if cleaned.trim().is_empty() {
        "upload".to_owned()
    } else {
        cleaned.trim().to_owned()
    }
}

/// Reads rows, checks them and sends them on in batches; runs on a blocking thread.
fn read_rows(mut reader: SheetReader, mut checker: Checker, sender: &mpsc::Sender<Message>) {
    let bytes_total = reader.bytes_total();
    let rows_hint = reader.total_rows_hint();
    let mut rows = 0u64;
    let mut items = Vec::with_capacity(BATCH_ROWS);
    loop {
        let next = reader.next();
        let done = next.is_none();
        match next {
            Some(Ok(row)) => {
                rows += 1;
                items.push(checker.check(&row));
            }
            Some(Err(err)) if err.is_row_error() => {
                rows += 1;
                items.push(Err(RowError {
                    line: err.line().unwrap_or(0),
                    column: None,
                    header: None,
                    code: err.code().to_owned(),
                    message: err.to_string(),
                }));
            }
            Some(Err(err)) => {
                let _ = sender.blocking_send(Message::Fatal(err));
                return;
            }
            None => {}
        }
        if items.len() >= BATCH_ROWS || (done && !items.is_empty()) {
            let progress = ImportProgress {
                rows,
                bytes_read: reader.bytes_read(),
                bytes_total,
                rows_hint,
            };
            let batch = std::mem::replace(&mut items, Vec::with_capacity(BATCH_ROWS));
            if sender
                .blocking_send(Message::Batch {
                    items: batch,
                    progress,
                })
                .is_err()
            {
                // The writer gave up (a database error); nothing more to do.
                return;
            }
        }
        if done {
            return;
        }
    }
}

/// Imports spreadsheets of minors; see the module documentation.
#[derive(Clone)]
pub struct MinorImporter {
    db: Db,
    audit: AuditService,
    tenancy: TenancyService,
    clock: SharedClock,
}

/// What the writer keeps across batches.
struct Writer<'a> {
    tx: &'a ScopedTx,
    who: &'a Principal,
    units: &'a Units,
    reason: String,
    now: i64,
    report: ImportReport,
    max_errors: usize,
    /// Whether rows are still written (false in all-or-nothing after an invalid row).
    writing: bool,
    mode: ImportMode,
    /// New minors waiting to be copied in (PostgreSQL).
    staged: StagedChunk,
    /// Where the writer's time went, for the debug log.
    phases: Phases,
}

/// Milliseconds the writer spent in each phase of an import.
#[derive(Debug, Default)]
struct Phases {
    /// Waiting for the reading thread.
    wait_ms: u128,
    /// Looking up the batches' documents and the related rows of registered minors.
    lookup_ms: u128,
    /// Deciding and writing each batch: updates and the multi-row `INSERT`s.
    write_ms: u128,
    /// Copying staged rows and moving them into the district's tables (PostgreSQL).
    stage_ms: u128,
}

/// The writes of one batch, gathered to be sent as multi-row statements.
#[derive(Default)]
struct Pending {
    minors: Vec<minor::ActiveModel>,
    guardians: Vec<guardian::ActiveModel>,
    categories: Vec<minor_category::ActiveModel>,
    history: Vec<minor_history::ActiveModel>,
}

impl MinorImporter {
    pub fn new(db: Db, audit: AuditService, tenancy: TenancyService, clock: SharedClock) -> Self {
        MinorImporter {
            db,
            audit,
            tenancy,
            clock,
        }
    }

    /// Today in the district's time zone.
    fn today(&self) -> NaiveDate {
        self.clock
            .now()
            .with_timezone(&chrono_tz::Asia::Shanghai)
            .date_naive()
    }

    /// Imports a file (an upload in a temporary file, or a file on disk). Needs
    /// `minor:import`; the communities named must lie inside the caller's scope, and so must
    /// the minors a row updates.
    pub async fn import<R>(
        &self,
        who: &Principal,
        actor: &Actor,
        source: R,
        options: ImportOptions,
        progress: Option<&ProgressFn>,
    ) -> Result<ImportReport, ApiError>
    where
        R: Read + Seek + Send + 'static,
    {
        who.require(Permission::MinorImport)?;
        let started = Instant::now();
        let file_name = clean_file_name(&options.file_name);
        let sheet_options = SheetOptions {
            sheet_name: options.sheet.clone(),
            format: None,
        };
        let name = file_name.clone();
        let reader = tokio::task::spawn_blocking(move || {
            SheetReader::from_reader(source, &name, &sheet_options)
        })
        .await
        .map_err(ApiError::internal)?
        .map_err(|e| ApiError::from(ImportError::File(e)))?;
        let map = ColumnMap::new(reader.headers(), &options.column_map);
        let missing = map.missing(REQUIRED_FIELDS);
        if !missing.is_empty() {
            return Err(ImportError::MissingColumns {
                missing,
                headers: reader.headers().to_vec(),
            }
            .into());
        }
        let mut report = ImportReport {
            file_name: file_name.clone(),
            mode: options.mode,
            format: match reader.format() {
                crate::SheetFormat::Csv => "csv".to_owned(),
                crate::SheetFormat::Xlsx => "xlsx".to_owned(),
            },
            encoding: reader.encoding().map(str::to_owned),
            ignored_headers: map.unknown_headers().to_vec(),
            ..ImportReport::default()
        };
        let tx = self.db.write(who.tenant).await?;
        let units = Arc::new(self.units(&tx).await?);
        let checker = Checker {
            map,
            units: Arc::clone(&units),
            scope: who.scope_path().map(str::to_owned),
            today: self.today(),
            seen: HashMap::new(),
            stage: tx.backend() == Backend::Postgres,
        };
        let (sender, mut receiver) = mpsc::channel(BATCHES_AHEAD);
        let reading = tokio::task::spawn_blocking(move || read_rows(reader, checker, &sender));
        let mut writer = Writer {
            tx: &tx,
            who,
            units: &units,
            reason: format!("import {file_name}"),
            now: self.clock.now_ms(),
            report: std::mem::take(&mut report),
            max_errors: options.max_errors,
            writing: true,
            mode: options.mode,
            staged: StagedChunk::default(),
            phases: Phases::default(),
        };
        let mut fatal = None;
        loop {
            let waited = Instant::now();
            let Some(message) = receiver.recv().await else {
                break;
            };
            writer.phases.wait_ms += waited.elapsed().as_millis();
            match message {
                Message::Batch { items, progress: p } => {
                    writer.report.rows_read = p.rows;
                    writer.batch(items).await?;
                    if let Some(callback) = progress {
                        callback(p);
                    }
                }
                Message::Fatal(err) => fatal = Some(err),
            }
        }
        // The reader has finished (its sender is gone); a panic there is an internal error.
        reading.await.map_err(ApiError::internal)?;
        let rolled_back = writer.report.invalid > 0 && options.mode == ImportMode::AllOrNothing;
        if fatal.is_none() && !rolled_back {
            writer.move_staged().await?;
        }
        let phases = std::mem::take(&mut writer.phases);
        tracing::debug!(
            rows = writer.report.rows_read,
            wait_ms = phases.wait_ms as u64,
            lookup_ms = phases.lookup_ms as u64,
            write_ms = phases.write_ms as u64,
            stage_ms = phases.stage_ms as u64,
            staged_ms = ?writer.staged.spent_ms,
            "import phases"
        );
        let mut report = writer.report;
        report.elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        if let Some(err) = fatal {
            drop(tx);
            self.audit_failure(who, actor, &report, err.code()).await;
            return Err(ImportError::File(err).into());
        }
        if rolled_back {
            drop(tx);
            report.created = 0;
            report.updated = 0;
            report.unchanged = 0;
            report.committed = false;
            self.audit_failure(who, actor, &report, "invalid_rows")
                .await;
            return Ok(report);
        }
        report.committed = true;
        self.audit
            .append(
                &tx,
                actor,
                AuditEntry::ok("minor.import", "import", new_id())
                    .with_detail(audit_detail(&report)),
            )
            .await?;
        tx.commit().await?;
        Ok(report)
    }

    /// Records an import that wrote nothing, in a transaction of its own.
    async fn audit_failure(
        &self,
        who: &Principal,
        actor: &Actor,
        report: &ImportReport,
        why: &str,
    ) {
        let mut detail = audit_detail(report);
        detail["failure"] = json!(why);
        let entry = AuditEntry::ok("minor.import", "import", new_id())
            .with_outcome(Outcome::Failed)
            .with_detail(detail);
        if let Err(e) = self.audit.append_now(who.tenant, actor, entry).await {
            tracing::error!(error.code = %e.code, "could not audit a failed import");
        }
    }

    async fn units(&self, tx: &ScopedTx) -> Result<Units, ApiError> {
        let mut units = Units::default();
        for u in self.tenancy.units_in(tx).await? {
            let unit = UnitRef {
                id: u.id,
                path: u.path.clone(),
                depth: u.depth,
            };
            units.path_of.insert(u.id, u.path);
            units
                .by_name
                .entry(u.name.trim().to_owned())
                .or_default()
                .push(unit.clone());
            units.by_code.insert(u.code.to_ascii_uppercase(), unit);
        }
        Ok(units)
    }
}

/// The audit detail of an import: counts, the file's name and the mode, never a row.
fn audit_detail(report: &ImportReport) -> Value {
    json!({
        "file": report.file_name,
        "format": report.format,
        "mode": report.mode.code(),
        "rows": report.rows_read,
        "created": report.created,
        "updated": report.updated,
        "unchanged": report.unchanged,
        "invalid": report.invalid,
    })
}

/// A guardian as the history keeps it (the same shape as a guardian changed through the API).
fn guardian_json(g: &guardian::Model) -> Value {
    json!({
        "id": g.id,
        "name": g.name,
        "relationship": g.relationship,
        "phone": g.phone,
        "situation": g.situation,
    })
}

/// Categories as the history keeps them: sorted `[code, since, source]` triples.
fn categories_json(triples: &[(String, String, String)]) -> Value {
    json!(triples)
}

impl Writer<'_> {
    fn reject(&mut self, error: RowError) {
        self.report.invalid += 1;
        if self.report.errors.len() < self.max_errors {
            self.report.errors.push(error);
        }
        if self.mode == ImportMode::AllOrNothing {
            self.writing = false;
        }
    }

    fn history(
        &self,
        pending: &mut Pending,
        minor_id: Uuid,
        change: &str,
        before: Value,
        after: Value,
    ) {
        pending.history.push(minor_history::ActiveModel {
            tenant_id: Set(self.tx.tenant().as_uuid()),
            id: Set(new_id()),
            minor_id: Set(minor_id),
            at_ms: Set(self.now),
            actor_kind: Set(self.who.actor_kind.as_str().to_owned()),
            actor_id: Set(self.who.actor_id),
            change: Set(change.to_owned()),
            before: Set(before.to_string()),
            after: Set(after.to_string()),
            reason: Set(self.reason.clone()),
        });
    }

    async fn batch(&mut self, items: Vec<Result<Candidate, RowError>>) -> Result<(), ApiError> {
        let mut candidates = Vec::with_capacity(items.len());
        for item in items {
            match item {
                Ok(c) => candidates.push(c),
                Err(e) => self.reject(e),
            }
        }
        if candidates.is_empty() {
            return Ok(());
        }
        let started = Instant::now();
        let existing = self.existing(&candidates).await?;
        let known: Vec<Uuid> = existing.values().map(|m| m.id).collect();
        let (mut categories, mut guardians) = self.related(&known).await?;
        self.phases.lookup_ms += started.elapsed().as_millis();
        let started = Instant::now();
        let mut pending = Pending::default();
        let tenant = self.tx.tenant().as_uuid();
        for mut c in candidates {
            let key = (c.doc_kind.code(), c.doc_number.clone());
            match existing.get(&key) {
                None => {
                    if self.writing {
                        match c.staged.take() {
                            Some(staged) => self.staged.push(staged),
                            None => self.create(&mut pending, c, tenant),
                        }
                        self.report.created += 1;
                    }
                }
                Some(current) => {
                    let in_scope = match (
                        self.who.scope_path(),
                        self.units.path_of.get(&current.org_unit_id),
                    ) {
                        (None, _) => true,
                        (Some(scope), Some(path)) => path.starts_with(scope),
                        (Some(_), None) => false,
                    };
                    if !in_scope {
                        let error = RowError {
                            line: c.line,
                            column: None,
                            header: None,
                            code: "id_number.registered_outside_scope".to_owned(),
                            message: "this document is registered to a minor outside the area \
                                      you work for; ask the district to move or update it"
                                .to_owned(),
                        };
                        self.reject(error);
                        continue;
                    }
                    let cats = categories.remove(&current.id).unwrap_or_default();
                    let gs = guardians.remove(&current.id).unwrap_or_default();
                    if !self.writing {
                        continue;
                    }
                    if self.update(&mut pending, current, &cats, &gs, c).await? {
                        self.report.updated += 1;
                    } else {
                        self.report.unchanged += 1;
                    }
                }
            }
        }
        if self.writing {
            self.flush(pending).await?;
            self.phases.write_ms += started.elapsed().as_millis();
            if self.staged.is_full() {
                self.move_staged().await?;
            }
        }
        Ok(())
    }

    /// Copies the staged new minors in and moves them into the district's tables.
    async fn move_staged(&mut self) -> Result<(), ApiError> {
        let started = Instant::now();
        self.staged
            .move_into(self.tx, self.who, self.now, &self.reason)
            .await?;
        self.phases.stage_ms += started.elapsed().as_millis();
        Ok(())
    }

    /// The minors of the district holding the batch's documents, by (kind, number).
    async fn existing(
        &self,
        candidates: &[Candidate],
    ) -> Result<HashMap<(&'static str, String), minor::Model>, ApiError> {
        let rows = if self.tx.backend() == Backend::Postgres {
            // One probe of the unique index (tenant, kind, number) per row. A plain `IN` list
            // was planned, on statistics that cannot see the rows this import has inserted so
            // far, as a scan of the whole district filtered by number: each batch slower than
            // the last. A lateral subquery with `LIMIT 1` is never flattened, so each key is
            // looked up on its own whatever the statistics say. The keys travel as one JSON
            // parameter; row-level security and the explicit tenant filter both apply.
            let keys: Vec<Value> = candidates
                .iter()
                .map(|c| json!({ "t": c.doc_kind.code(), "n": c.doc_number }))
                .collect();
            // The keys are a record set (not `->>` on each use) because row-level security
            // lets only leakproof conditions into an index scan, and `->>` is not.
            let sql = "SELECT m.* FROM json_to_recordset($2::json) AS k(t text, n text) \
                       CROSS JOIN LATERAL (SELECT * FROM minors \
                       WHERE tenant_id = $1 AND doc_type = k.t AND doc_number = k.n \
                       LIMIT 1) AS m";
            let keys = Value::Array(keys).to_string();
            // Raw SQL, so the tenant is bound explicitly above, as `select` would.
            <minor::Model as FromQueryResult>::find_by_statement(Statement::from_sql_and_values(
                DbBackend::Postgres,
                sql,
                [self.tx.tenant().as_uuid().into(), keys.into()],
            ))
            .all(self.tx.conn())
            .await?
        } else {
            // SQLite's planner uses the unique index for `IN` lists on both columns.
            let numbers: Vec<&str> = candidates.iter().map(|c| c.doc_number.as_str()).collect();
            let mut kinds: Vec<&'static str> =
                candidates.iter().map(|c| c.doc_kind.code()).collect();
            kinds.sort_unstable();
            kinds.dedup();
            self.tx
                .select::<minor::Entity>()
                .filter(minor::Column::DocType.is_in(kinds))
                .filter(minor::Column::DocNumber.is_in(numbers))
                .all(self.tx.conn())
                .await?
        };
        let mut out = HashMap::with_capacity(rows.len());
        for row in rows {
            let kind = row
                .doc_type
                .as_deref()
                .and_then(DocumentKind::parse)
                .map(DocumentKind::code);
            if let (Some(kind), Some(number)) = (kind, row.doc_number.clone()) {
                out.insert((kind, number), row);
            }
        }
        Ok(out)
    }

    /// The categories and guardians of the minors a batch updates.
    #[allow(clippy::type_complexity)] // Two maps by minor, read together.
    async fn related(
        &self,
        ids: &[Uuid],
    ) -> Result<
        (
            HashMap<Uuid, Vec<minor_category::Model>>,
            HashMap<Uuid, Vec<guardian::Model>>,
        ),
        ApiError,
    > {
        let mut categories: HashMap<Uuid, Vec<minor_category::Model>> = HashMap::new();
        let mut guardians: HashMap<Uuid, Vec<guardian::Model>> = HashMap::new();
        if ids.is_empty() {
            return Ok((categories, guardians));
        }
        for c in self
            .tx
            .select::<minor_category::Entity>()
            .filter(minor_category::Column::MinorId.is_in(ids.to_vec()))
            .all(self.tx.conn())
            .await?
        {
            categories.entry(c.minor_id).or_default().push(c);
        }
        for g in self
            .tx
            .select::<guardian::Entity>()
            .filter(guardian::Column::MinorId.is_in(ids.to_vec()))
            .all(self.tx.conn())
            .await?
        {
            guardians.entry(g.minor_id).or_default().push(g);
        }
        for list in guardians.values_mut() {
            list.sort_by_key(|g| (g.created_at_ms, g.id));
        }
        Ok((categories, guardians))
    }

    fn create(&self, pending: &mut Pending, c: Candidate, tenant: Uuid) {
        let id = new_id();
        let economic_status = c.new_economic_status();
        let status = c.new_status();
        let [ethnicity, hukou_place, address, phone, school, grade, health, disability_grade] =
            c.texts;
        pending.minors.push(minor::ActiveModel {
            tenant_id: Set(tenant),
            id: Set(id),
            household_id: Set(None),
            name: Set(c.name),
            doc_type: Set(Some(c.doc_kind.code().to_owned())),
            doc_number: Set(Some(c.doc_number)),
            needs_follow_up: Set(false),
            sex: Set(c.sex.code().to_owned()),
            birth_date: Set(c.birth.to_string()),
            ethnicity: Set(ethnicity),
            hukou_place: Set(hukou_place),
            org_unit_id: Set(c.org_unit),
            address: Set(address),
            phone: Set(phone),
            school: Set(school),
            grade: Set(grade),
            health: Set(health),
            disability_grade: Set(disability_grade),
            hiv_status: Set(None),
            economic_status: Set(economic_status.to_owned()),
            status: Set(status.to_owned()),
            version: Set(1),
            created_at_ms: Set(self.now),
            updated_at_ms: Set(self.now),
        });
        if let Some(g) = c.guardian {
            pending.guardians.push(guardian::ActiveModel {
                tenant_id: Set(tenant),
                id: Set(new_id()),
                minor_id: Set(id),
                name: Set(g.name),
                relationship: Set(g.relationship.code().to_owned()),
                phone: Set(g.phone),
                situation: Set(g.situation.code().to_owned()),
                created_at_ms: Set(self.now),
            });
        }
        for (category, since, source) in c.categories.unwrap_or_default() {
            pending.categories.push(minor_category::ActiveModel {
                tenant_id: Set(tenant),
                minor_id: Set(id),
                category: Set(category.code().to_owned()),
                since: Set(since.to_string()),
                source: Set(source),
            });
        }
        self.history(
            pending,
            id,
            "created",
            Value::Null,
            created_history(c.org_unit),
        );
    }

    /// Applies a row to a registered minor; false when the row changes nothing.
    async fn update(
        &mut self,
        pending: &mut Pending,
        current: &minor::Model,
        categories: &[minor_category::Model],
        guardians: &[guardian::Model],
        c: Candidate,
    ) -> Result<bool, ApiError> {
        let tenant = self.tx.tenant().as_uuid();
        let mut changes: BTreeMap<&'static str, (Value, Value)> = BTreeMap::new();
        let mut next: minor::ActiveModel = current.clone().into();
        if c.name != current.name {
            changes.insert("name", (json!(current.name), json!(c.name)));
            next.name = Set(c.name.clone());
        }
        if c.sex.code() != current.sex {
            changes.insert("sex", (json!(current.sex), json!(c.sex.code())));
            next.sex = Set(c.sex.code().to_owned());
        }
        let birth = c.birth.to_string();
        if birth != current.birth_date {
            changes.insert("birthDate", (json!(current.birth_date), json!(birth)));
            next.birth_date = Set(birth);
        }
        for (i, value) in c.texts.iter().enumerate() {
            if let Some(value) = value {
                if stored_text(current, i) != Some(value.as_str()) {
                    changes.insert(
                        TEXT_FIELDS[i].1,
                        (json!(stored_text(current, i)), json!(value)),
                    );
                    set_text(&mut next, i, Some(value.clone()));
                }
            }
        }
        if c.org_unit != current.org_unit_id {
            changes.insert("orgUnitId", (json!(current.org_unit_id), json!(c.org_unit)));
            next.org_unit_id = Set(c.org_unit);
        }
        if let Some(status) = c.status.filter(|s| s.code() != current.status) {
            changes.insert("status", (json!(current.status), json!(status.code())));
            next.status = Set(status.code().to_owned());
        }
        if let Some(economic) = c
            .economic_status
            .filter(|e| e.code() != current.economic_status)
        {
            changes.insert(
                "economicStatus",
                (json!(current.economic_status), json!(economic.code())),
            );
            next.economic_status = Set(economic.code().to_owned());
        }
        let mut replace_categories = false;
        if let Some(wanted) = &c.categories {
            let mut old: Vec<(String, String, String)> = categories
                .iter()
                .map(|c| (c.category.clone(), c.since.clone(), c.source.clone()))
                .collect();
            old.sort();
            let mut new: Vec<(String, String, String)> = wanted
                .iter()
                .map(|(cat, since, source)| {
                    (cat.code().to_owned(), since.to_string(), source.clone())
                })
                .collect();
            new.sort();
            if old != new {
                changes.insert("categories", (categories_json(&old), categories_json(&new)));
                replace_categories = true;
            }
        }
        let mut guardian_change: Option<(&'static str, Value, guardian::Model)> = None;
        if let Some(g) = &c.guardian {
            match guardians.iter().find(|e| e.name == g.name) {
                None => {
                    let added = guardian::Model {
                        tenant_id: tenant,
                        id: new_id(),
                        minor_id: current.id,
                        name: g.name.clone(),
                        relationship: g.relationship.code().to_owned(),
                        phone: g.phone.clone(),
                        situation: g.situation.code().to_owned(),
                        created_at_ms: self.now,
                    };
                    guardian_change = Some(("guardian.added", Value::Null, added));
                }
                Some(e) => {
                    let mut after = e.clone();
                    after.relationship = g.relationship.code().to_owned();
                    after.situation = g.situation.code().to_owned();
                    if g.phone.is_some() {
                        after.phone = g.phone.clone();
                    }
                    if &after != e {
                        guardian_change = Some(("guardian.changed", guardian_json(e), after));
                    }
                }
            }
        }
        if changes.is_empty() && guardian_change.is_none() {
            return Ok(false);
        }
        next.version = Set(current.version + 1);
        next.updated_at_ms = Set(self.now);
        let done = self
            .tx
            .update::<minor::Entity>()
            .set(next)
            .filter(minor::Column::Id.eq(current.id))
            .filter(minor::Column::Version.eq(current.version))
            .exec(self.tx.conn())
            .await?;
        if done.rows_affected != 1 {
            self.reject(RowError {
                line: c.line,
                column: None,
                header: None,
                code: "conflict".to_owned(),
                message: "the record changed while the file was imported; import it again"
                    .to_owned(),
            });
            return Ok(false);
        }
        if replace_categories {
            self.tx
                .delete::<minor_category::Entity>(minor_category::Column::MinorId.eq(current.id))
                .exec(self.tx.conn())
                .await?;
            for (category, since, source) in c.categories.unwrap_or_default() {
                pending.categories.push(minor_category::ActiveModel {
                    tenant_id: Set(tenant),
                    minor_id: Set(current.id),
                    category: Set(category.code().to_owned()),
                    since: Set(since.to_string()),
                    source: Set(source),
                });
            }
        }
        for (field, (before, after)) in changes {
            self.history(pending, current.id, field, before, after);
        }
        if let Some((change, before, after)) = guardian_change {
            self.history(pending, current.id, change, before, guardian_json(&after));
            if change == "guardian.added" {
                pending.guardians.push(guardian::ActiveModel {
                    tenant_id: Set(tenant),
                    id: Set(after.id),
                    minor_id: Set(after.minor_id),
                    name: Set(after.name),
                    relationship: Set(after.relationship),
                    phone: Set(after.phone),
                    situation: Set(after.situation),
                    created_at_ms: Set(after.created_at_ms),
                });
            } else {
                let mut row = <guardian::ActiveModel as sea_orm::ActiveModelTrait>::default();
                row.relationship = Set(after.relationship);
                row.phone = Set(after.phone);
                row.situation = Set(after.situation);
                self.tx
                    .update::<guardian::Entity>()
                    .set(row)
                    .filter(guardian::Column::Id.eq(after.id))
                    .exec(self.tx.conn())
                    .await?;
            }
        }
        Ok(true)
    }

    /// Sends a batch's inserts as multi-row statements, parents before children.
    async fn flush(&self, pending: Pending) -> Result<(), ApiError> {
        insert_all(self.tx, pending.minors).await?;
        insert_all(self.tx, pending.guardians).await?;
        insert_all(self.tx, pending.categories).await?;
        insert_all(self.tx, pending.history).await?;
        Ok(())
    }
}

/// Inserts rows of one tenant table with one multi-row `INSERT`.
///
/// Every model was built with the transaction's own tenant, and on PostgreSQL row-level
/// security checks every row again. A unique-key clash can only be about this district's own
/// rows, since every unique key starts with the tenant.
async fn insert_all<A>(tx: &ScopedTx, models: Vec<A>) -> Result<(), ApiError>
where
    A: sea_orm::ActiveModelTrait + sea_orm::ActiveModelBehavior + Send,
    <A::Entity as EntityTrait>::Model: sea_orm::IntoActiveModel<A>,
    A::Entity: shouhu_kernel::TenantScoped,
{
    if models.is_empty() {
        return Ok(());
    }
    let tenant: sea_orm::Value = tx.tenant().as_uuid().into();
    let models = models.into_iter().map(|mut m| {
        m.set(
            <A::Entity as shouhu_kernel::TenantScoped>::tenant_column(),
            tenant.clone(),
        );
        m
    });
    match sea_orm::Insert::many(models)
        .exec_without_returning(tx.conn())
        .await
    {
        Ok(_) => Ok(()),
        Err(e) if is_unique_violation(&e) => Err(ApiError::conflict(
            "file",
            "a row clashed with a record written meanwhile; import the file again",
        )),
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn units() -> Units {
        let mut units = Units::default();
        let add = |units: &mut Units, code: &str, name: &str, path: &str, depth: i32| {
            let unit = UnitRef {
                id: Uuid::new_v4(),
                path: path.to_owned(),
                depth,
            };
            units.path_of.insert(unit.id, unit.path.clone());
            units
                .by_name
                .entry(name.to_owned())
                .or_default()
                .push(unit.clone());
            units.by_code.insert(code.to_owned(), unit);
        };
        add(&mut units, "320506", "吴中区", "/320506/", 0);
        add(&mut units, "320506001", "长桥街道", "/320506/320506001/", 1);
        add(
            &mut units,
            "320506001001",
            "长桥第一社区",
            "/320506/320506001/320506001001/",
            2,
        );
        add(
            &mut units,
            "320506001002",
            "新村",
            "/320506/320506001/320506001002/",
            2,
        );
        add(
            &mut units,
            "320506003001",
            "新村",
            "/320506/320506003/320506003001/",
            2,
        );
        add(
            &mut units,
            "320506003002",
            "越溪社区",
            "/320506/320506003/320506003002/",
            2,
        );
        units
    }

    fn checker(headers: &[&str], scope: Option<&str>) -> Checker {
        let headers: Vec<String> = headers.iter().map(|h| h.to_string()).collect();
        Checker {
            map: ColumnMap::standard(&headers),
            units: Arc::new(units()),
            scope: scope.map(str::to_owned),
            today: NaiveDate::from_ymd_opt(2026, 6, 1).unwrap(),
            seen: HashMap::new(),
            stage: false,
        }
    }

    const HEADERS: &[&str] = &[
        "姓名",
        "公民身份号码",
        "性别",
        "出生日期",
        "所在社区",
        "困境类型",
        "困境认定日期",
        "监护人姓名",
        "与监护人关系",
    ];

    fn row(line: u64, cells: &[Cell]) -> Row {
        let mut cells = cells.to_vec();
        cells.resize(HEADERS.len(), Cell::Empty);
        Row { line, cells }
    }

    fn t(s: &str) -> Cell {
        Cell::Text(s.to_owned())
    }

    /// Born 2015-03-04, female (even sequence digit).
    const ID: &str = "320506201503041244";

    #[test]
    fn a_full_row_passes_with_derived_and_given_values() {
        let mut ch = checker(HEADERS, None);
        let c = ch
            .check(&row(
                2,
                &[
                    t("阿依古丽·买买提"),
                    t(ID),
                    t("女"),
                    t("2015/3/4"),
                    t("320506001001"),
                    t("孤儿、事实无人抚养"),
                    Cell::Number(45292.0),
                    t("买买提"),
                    t("父亲"),
                ],
            ))
            .expect("valid");
        assert_eq!(c.name, "阿依古丽·买买提");
        assert_eq!(c.sex, SexCode::Female);
        assert_eq!(c.birth, NaiveDate::from_ymd_opt(2015, 3, 4).unwrap());
        let cats = c.categories.expect("categories");
        assert_eq!(cats.len(), 2);
        assert_eq!(cats[0].0, Category::Orphan);
        assert_eq!(cats[1].0, Category::DeFactoUnsupported);
        // Serial 45292 is 2024-01-01.
        assert_eq!(cats[0].1, NaiveDate::from_ymd_opt(2024, 1, 1).unwrap());
        assert_eq!(cats[0].2, DEFAULT_CATEGORY_SOURCE);
        let g = c.guardian.expect("guardian");
        assert_eq!(g.relationship, Relationship::Father);
        assert_eq!(g.situation, GuardianSituation::Present);

        // Sex and birth date come from the number when the row leaves them out.
        let c = ch
            .check(&row(
                3,
                &[
                    t("张三"),
                    t("32050620150304124X"),
                    t(""),
                    t(""),
                    t("长桥第一社区"),
                ],
            ))
            .expect_err("check digit");
        assert_eq!(c.code, "id_number.check_digit");
    }

    #[test]
    fn mangled_numbers_are_explained() {
        let mut ch = checker(HEADERS, None);
        let err = ch
            .check(&row(
                2,
                &[
                    t("张三"),
                    t("3.20506E+17"),
                    t("女"),
                    t(""),
                    t("长桥第一社区"),
                ],
            ))
            .expect_err("scientific");
        assert_eq!(err.code, "id_number.excel_scientific");
        assert_eq!(err.column.as_deref(), Some("B"));
        assert_eq!(err.header.as_deref(), Some("公民身份号码"));
        assert!(!err.message.contains("3.20506"), "{}", err.message);
        let err = ch
            .check(&row(
                3,
                &[
                    t("张三"),
                    t("320506201503041000"),
                    t("女"),
                    t(""),
                    t("320506001001"),
                ],
            ))
            .expect_err("truncated");
        assert_eq!(err.code, "id_number.excel_truncated");
        let err = ch
            .check(&row(
                4,
                &[
                    t("张三"),
                    Cell::Number(3.205_062_015_030_412e17),
                    t(""),
                    t(""),
                    t("320506001001"),
                ],
            ))
            .expect_err("a number cell");
        assert_eq!(err.code, "id_number.excel_truncated");
    }

    #[test]
    fn fifteen_digit_numbers_are_upgraded_and_duplicates_found_after_it() {
        let mut ch = checker(HEADERS, None);
        // 320506 150304 124: born 1915? No: the upgrade puts 19 before the year, so use a
        // number whose 18-digit form is known.
        let eighteen = parse_resident_id("320506950304124", NaiveDate::MAX)
            .expect("valid 15")
            .number;
        let first = ch
            .check(&row(
                2,
                &[
                    t("张三"),
                    t("320506950304124"),
                    t(""),
                    t(""),
                    t("320506001001"),
                ],
            ))
            .expect("valid");
        assert_eq!(first.doc_number, eighteen);
        let err = ch
            .check(&row(
                5,
                &[t("张三"), t(&eighteen), t(""), t(""), t("320506001001")],
            ))
            .expect_err("duplicate");
        assert_eq!(err.code, "id_number.duplicate_in_file");
        assert!(err.message.contains("line 2"), "{}", err.message);
    }

    #[test]
    fn sex_and_birth_date_must_match_the_number() {
        let mut ch = checker(HEADERS, None);
        let err = ch
            .check(&row(
                2,
                &[t("张三"), t(ID), t("男"), t(""), t("320506001001")],
            ))
            .expect_err("sex");
        assert_eq!(err.code, "id_number.sex_mismatch");
        let err = ch
            .check(&row(
                2,
                &[t("张三"), t(ID), t(""), t("2015-03-05"), t("320506001001")],
            ))
            .expect_err("birth");
        assert_eq!(err.code, "id_number.birth_date_mismatch");
        let err = ch
            .check(&row(
                2,
                &[t("张三"), t(ID), t(""), t("2015-02-30"), t("320506001001")],
            ))
            .expect_err("no such day");
        assert_eq!(err.code, "birth_date.no_such_day");
        assert_eq!(err.column.as_deref(), Some("D"));
    }

    #[test]
    fn units_are_found_by_code_or_unique_name_within_scope() {
        let ch = checker(HEADERS, Some("/320506/320506001/"));
        let cells = |unit: &str| row(2, &[t("张三"), t(ID), t(""), t(""), t(unit)]);
        assert!(ch.candidate(&cells("长桥第一社区")).is_ok());
        let code = |unit: &str| ch.candidate(&cells(unit)).err().map(|p| p.code);
        assert_eq!(code("新村").as_deref(), Some("community.ambiguous"));
        assert_eq!(code("320506001002"), None);
        assert_eq!(code("越溪社区").as_deref(), Some("community.out_of_scope"));
        assert_eq!(code("320505001001").as_deref(), Some("community.not_found"));
        assert_eq!(code("长桥街道").as_deref(), Some("community.not_community"));
        let mut whole = checker(HEADERS, None);
        assert!(whole.check(&cells("越溪社区")).is_ok());
    }

    #[test]
    fn categories_and_guardians_are_checked() {
        let mut ch = checker(HEADERS, None);
        let err = ch
            .check(&row(
                2,
                &[t("张三"), t(ID), t(""), t(""), t("320506001001"), t("孤儿")],
            ))
            .expect_err("since");
        assert_eq!(err.code, "category_since.required");
        let err = ch
            .check(&row(
                2,
                &[
                    t("张三"),
                    t(ID),
                    t(""),
                    t(""),
                    t("320506001001"),
                    t("贫困"),
                    t("2024-01-01"),
                ],
            ))
            .expect_err("unknown");
        assert_eq!(err.code, "categories.unknown");
        let err = ch
            .check(&row(
                2,
                &[
                    t("张三"),
                    t(ID),
                    t(""),
                    t(""),
                    t("320506001001"),
                    t(""),
                    t(""),
                    t("李四"),
                ],
            ))
            .expect_err("relationship");
        assert_eq!(err.code, "guardian_relationship.required");
        assert_eq!(err.column.as_deref(), Some("I"));
    }

    /// A row of [`HEADERS`] with 认定来源 added, for the tests of category lists.
    fn category_row(categories: &str, since: Cell, source: &str) -> Row {
        let mut cells = vec![
            t("张三"),
            t(ID),
            t(""),
            t(""),
            t("320506001001"),
            t(categories),
            since,
            t(""),
            t(""),
            t(source),
        ];
        cells.resize(10, Cell::Empty);
        Row { line: 2, cells }
    }

    fn with_source() -> Checker {
        let mut headers = HEADERS.to_vec();
        headers.push("认定来源");
        checker(&headers, None)
    }

    fn day(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    #[test]
    fn categories_take_a_date_and_source_each_in_order() {
        let mut ch = with_source();
        // As `demo generate --csv` writes two categories.
        let c = ch
            .check(&category_row(
                "事实无人抚养、孤儿",
                t("2023-04-24、2026-05-15"),
                "民政排查、学校报告",
            ))
            .expect("two dates, two sources");
        let cats = c.categories.expect("categories");
        // Stored sorted by category, each keeping its own date and source.
        assert_eq!(
            cats,
            vec![
                (Category::Orphan, day(2026, 5, 15), "学校报告".to_owned()),
                (
                    Category::DeFactoUnsupported,
                    day(2023, 4, 24),
                    "民政排查".to_owned()
                ),
            ]
        );
        // Every separator of the brief, and a single source for all of them.
        for separator in [",", ";", "，", "；", " 、 "] {
            let mut ch = with_source();
            let dates = format!("2023/4/24{separator}2024年1月2日");
            let c = ch
                .check(&category_row("孤儿、事实无人抚养", t(&dates), "街道排查"))
                .expect("separator");
            let cats = c.categories.expect("categories");
            assert_eq!(cats[0].1, day(2023, 4, 24), "{separator}");
            assert_eq!(cats[1].1, day(2024, 1, 2), "{separator}");
            assert!(cats.iter().all(|c| c.2 == "街道排查"));
        }
        // One date, as a date cell or text, still applies to every category.
        for since in [
            Cell::Date(day(2024, 1, 1)),
            t("2024-01-01"),
            Cell::Number(45292.0),
        ] {
            let mut ch = with_source();
            let c = ch
                .check(&category_row("孤儿、事实无人抚养", since, ""))
                .expect("one date");
            let cats = c.categories.expect("categories");
            assert!(cats.iter().all(|c| c.1 == day(2024, 1, 1)));
            assert!(cats.iter().all(|c| c.2 == DEFAULT_CATEGORY_SOURCE));
        }
        // A category named twice keeps its first date.
        let c = with_source()
            .check(&category_row("孤儿、孤儿", t("2023-01-01、2024-01-01"), ""))
            .expect("twice");
        assert_eq!(
            c.categories.expect("categories"),
            vec![(
                Category::Orphan,
                day(2023, 1, 1),
                DEFAULT_CATEGORY_SOURCE.to_owned()
            )]
        );
        // One category reads its whole source, separators and all.
        let c = with_source()
            .check(&category_row("孤儿", t("2023-01-01"), "街道排查，入户核实"))
            .expect("one source");
        assert_eq!(c.categories.expect("categories")[0].2, "街道排查，入户核实");
    }

    #[test]
    fn category_lists_that_do_not_match_name_their_column() {
        let err = with_source()
            .check(&category_row(
                "孤儿、事实无人抚养、受侵害",
                t("2023-01-01、2024-01-01"),
                "",
            ))
            .expect_err("two dates, three categories");
        assert_eq!(err.code, "category_since.count_mismatch");
        assert_eq!(err.column.as_deref(), Some("G"));
        assert_eq!(err.header.as_deref(), Some("困境认定日期"));
        assert!(
            err.message.contains("困境认定日期 lists 2 dates for 3"),
            "{}",
            err.message
        );
        assert!(!err.message.contains("2023"), "{}", err.message);
        let err = with_source()
            .check(&category_row("孤儿", t("2023-01-01、2024-01-01"), ""))
            .expect_err("two dates, one category");
        assert_eq!(err.code, "category_since.count_mismatch");
        let err = with_source()
            .check(&category_row(
                "孤儿、事实无人抚养",
                t("2023-01-01"),
                "甲、乙、丙",
            ))
            .expect_err("three sources, two categories");
        assert_eq!(err.code, "category_source.count_mismatch");
        assert_eq!(err.column.as_deref(), Some("J"));
        assert_eq!(err.header.as_deref(), Some("认定来源"));
        let err = with_source()
            .check(&category_row(
                "孤儿、事实无人抚养",
                t("2023-01-01、2024-13-01"),
                "",
            ))
            .expect_err("a bad second date");
        assert!(err.code.starts_with("category_since."), "{}", err.code);
        assert!(err.message.starts_with("date 2 of 2"), "{}", err.message);
        let err = with_source()
            .check(&category_row(
                "孤儿、事实无人抚养",
                t("2023-01-01、2099-01-01"),
                "",
            ))
            .expect_err("a future date");
        assert_eq!(err.code, "category_since.future");
        let err = with_source()
            .check(&category_row("孤儿", t("、"), ""))
            .expect_err("no date in the list");
        assert_eq!(err.code, "category_since.required");
    }

    #[test]
    fn other_documents_need_sex_and_birth_date() {
        let headers = ["姓名", "证件类型", "证件号码", "性别", "出生日期", "社区"];
        let mut ch = checker(&headers, None);
        let mut r = Row {
            line: 2,
            cells: vec![
                t("John Smith"),
                t("护照"),
                t("E1234567"),
                t("男"),
                t(""),
                t("320506001001"),
            ],
        };
        assert_eq!(ch.check(&r).expect_err("birth").code, "birth_date.required");
        r.cells[4] = Cell::Date(NaiveDate::from_ymd_opt(2014, 1, 2).unwrap());
        let c = ch.check(&r).expect("valid");
        assert_eq!(c.doc_kind, DocumentKind::Passport);
        assert_eq!(c.doc_number, "E1234567");
    }

    #[test]
    fn required_and_missing_values_name_their_column() {
        let mut ch = checker(HEADERS, None);
        let err = ch
            .check(&row(7, &[t(""), t(ID), t(""), t(""), t("320506001001")]))
            .expect_err("name");
        assert_eq!(
            (err.line, err.column.as_deref(), err.code.as_str()),
            (7, Some("A"), "name.required")
        );
        let err = ch
            .check(&row(7, &[t("张3"), t(ID), t(""), t(""), t("320506001001")]))
            .expect_err("digit");
        assert_eq!(err.code, "name.digit");
    }

    #[test]
    fn modes_and_file_names_read_back() {
        assert_eq!(
            ImportMode::parse("SKIP_INVALID"),
            Some(ImportMode::SkipInvalid)
        );
        assert_eq!(
            ImportMode::parse("all-or-nothing"),
            Some(ImportMode::AllOrNothing)
        );
        assert_eq!(ImportMode::parse("some"), None);
        assert_eq!(clean_file_name("C:\\Users\\a\\名单.xlsx"), "名单.xlsx");
        assert_eq!(clean_file_name("../x/\u{7}b.csv"), "b.csv");
        assert_eq!(clean_file_name(""), "upload");
        assert_eq!(
            parse_category("事实无人抚养"),
            Some(Category::DeFactoUnsupported)
        );
        assert_eq!(parse_category("孤儿"), Some(Category::Orphan));
        assert_eq!(parse_category("未成年人"), None);
    }

    #[test]
    fn resident_keys_ignore_the_check_character() {
        assert_eq!(
            DocKey::of(DocumentKind::ResidentId, ID),
            DocKey::Resident(32050620150304124)
        );
        assert_ne!(
            DocKey::of(DocumentKind::Passport, "E1234567"),
            DocKey::of(DocumentKind::BirthCertificate, "E1234567")
        );
    }
}

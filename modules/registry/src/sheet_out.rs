//! Writing a ledger (台账) of minors as an XLSX workbook that Excel and WPS open as people
//! expect: identity and phone numbers stay text, dates are dates, and nothing runs as a
//! formula.
//!
//! # Memory
//!
//! The worksheet is written in rust_xlsxwriter's constant-memory mode: each row goes to a
//! temporary file as soon as the next row starts, and strings are stored inline in their
//! cells instead of in a shared-strings table, so a million-row export holds one row in
//! memory. The temporary file lives in the system's temporary directory unless
//! [`XlsxLedgerWriter::with_tempdir`] names another (a `tmpfs` temporary directory would put
//! the rows back in memory). [`XlsxLedgerWriter::finish_to_path`] then streams the zip archive
//! to its file; [`XlsxLedgerWriter::finish`] builds it in memory, which costs the size of the
//! compressed workbook (a few tens of MiB for a million rows).
//!
//! # Text
//!
//! Every text cell is written as a string with the text number format `@`, so that Excel never
//! shows an identity number as `3.20506E+17` or drops its last digits, not even after the
//! cell is edited; columns marked with [`XlsxLedgerWriter::mark_text_column`] also carry the
//! text format where they are empty, for values typed in later. The "number stored as text"
//! warning is switched off for the sheet, because here it is the intent.
//!
//! # Formula injection
//!
//! Text beginning with `=`, `+`, `-`, `@`, a tab or a carriage return is written with a single
//! quote `'` in front (see [`neutralise`]). A string cell is not a formula as long as it stays
//! in this workbook, but once someone saves the sheet as CSV or edits the cell, a name such as
//! `=HYPERLINK("http://…","点击")` would become a live formula; the quote keeps it text, at the
//! price of showing a quote in front of such values (a phone number written `+86…` included).

use std::borrow::Cow;
use std::io::{Seek, Write};
use std::path::Path;

use chrono::{Datelike, NaiveDate};
use rust_xlsxwriter::{ExcelDateTime, Format, IgnoreError, Workbook, Worksheet, XlsxError};

use crate::sheet_in::{column_name, SheetError};

/// The last 0-based row an XLSX worksheet can hold (row 1,048,576 in Excel).
const MAX_ROW: u32 = 1_048_575;

/// The most columns an XLSX worksheet can hold (up to column XFD).
const MAX_COLUMNS: usize = 16_384;

/// The characters that make a spreadsheet read a cell as a formula when they come first.
const FORMULA_TRIGGERS: [char; 6] = ['=', '+', '-', '@', '\t', '\r'];

/// Makes text safe to put in a spreadsheet cell by putting a single quote `'` in front of text
/// that begins with `=`, `+`, `-`, `@`, a tab or a carriage return; other text is returned as
/// it is.
///
/// These are the characters with which Excel, WPS and LibreOffice start a formula (a tab or a
/// carriage return can hide one from a reader's eye), as the OWASP guidance on CSV injection
/// lists them.
pub fn neutralise(text: &str) -> Cow<'_, str> {
    if text.starts_with(FORMULA_TRIGGERS) {
        Cow::Owned(format!("'{text}"))
    } else {
        Cow::Borrowed(text)
    }
}

/// One cell of a row to write.
#[derive(Clone, Debug, PartialEq)]
pub enum OutCell {
    /// Text, written as a string with the text format, after [`neutralise`].
    Text(String),
    /// A date, written as a date shown as `yyyy-mm-dd`.
    Date(NaiveDate),
    /// A number, written as a number; never use it for identity or phone numbers.
    Number(f64),
    /// Nothing.
    Empty,
}

impl From<&str> for OutCell {
    fn from(text: &str) -> OutCell {
        OutCell::Text(text.to_string())
    }
}

impl From<String> for OutCell {
    fn from(text: String) -> OutCell {
        OutCell::Text(text)
    }
}

impl From<NaiveDate> for OutCell {
    fn from(date: NaiveDate) -> OutCell {
        OutCell::Date(date)
    }
}

impl<T: Into<OutCell>> From<Option<T>> for OutCell {
    fn from(value: Option<T>) -> OutCell {
        value.map_or(OutCell::Empty, Into::into)
    }
}

/// Maps a writer error to a [`SheetError`] about the whole file.
fn write_error(err: XlsxError) -> SheetError {
    SheetError::Write {
        detail: err.to_string(),
    }
}

/// The width of a column that fits its header, counting a CJK character as two.
fn header_width(header: &str) -> f64 {
    let units: usize = header
        .chars()
        .map(|c| if c.is_ascii() { 1 } else { 2 })
        .sum();
    // At most a few dozen units, so the conversion is exact.
    (units as f64 + 2.0).clamp(10.0, 40.0)
}

/// An XLSX workbook of one worksheet, written row by row; see the module documentation.
pub struct XlsxLedgerWriter {
    workbook: Workbook,
    columns: usize,
    /// The 0-based index of the next row to write (0 is the header).
    next_row: u32,
    text: Format,
    date: Format,
}

impl std::fmt::Debug for XlsxLedgerWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("XlsxLedgerWriter")
            .field("columns", &self.columns)
            .field("rows_written", &self.rows_written())
            .finish_non_exhaustive()
    }
}

impl XlsxLedgerWriter {
    /// Starts a workbook with one worksheet called `sheet_name` and writes the header row,
    /// bold and frozen so that it stays in view while scrolling.
    ///
    /// Excel limits sheet names to 31 characters without `[ ] : * ? / \`; other names are
    /// refused.
    pub fn new(sheet_name: &str, headers: &[&str]) -> Result<XlsxLedgerWriter, SheetError> {
        XlsxLedgerWriter::start(Workbook::new(), sheet_name, headers)
    }

    /// Like [`XlsxLedgerWriter::new`], keeping the rows' temporary file in `dir`.
    pub fn with_tempdir(
        sheet_name: &str,
        headers: &[&str],
        dir: &Path,
    ) -> Result<XlsxLedgerWriter, SheetError> {
        let mut workbook = Workbook::new();
        workbook.set_tempdir(dir).map_err(write_error)?;
        XlsxLedgerWriter::start(workbook, sheet_name, headers)
    }

    /// Adds the worksheet and writes the header row.
    fn start(
        mut workbook: Workbook,
        sheet_name: &str,
        headers: &[&str],
    ) -> Result<XlsxLedgerWriter, SheetError> {
        if headers.len() > MAX_COLUMNS {
            return Err(SheetError::RowWidth {
                line: 1,
                cells: headers.len(),
                columns: MAX_COLUMNS,
            });
        }
        let text = Format::new().set_num_format("@");
        let date = Format::new().set_num_format("yyyy-mm-dd");
        let bold = Format::new().set_bold().set_num_format("@");
        let sheet = workbook
            .add_worksheet_with_constant_memory()
            .map_err(write_error)?;
        sheet.set_name(sheet_name).map_err(write_error)?;
        sheet.set_freeze_panes(1, 0).map_err(write_error)?;
        if let Some(last) = headers.len().checked_sub(1) {
            sheet
                .ignore_error_range(
                    0,
                    0,
                    MAX_ROW,
                    col_num(last)?,
                    IgnoreError::NumberStoredAsText,
                )
                .map_err(write_error)?;
        }
        for (index, header) in headers.iter().enumerate() {
            let col = col_num(index)?;
            sheet
                .set_column_width(col, header_width(header))
                .map_err(write_error)?;
            sheet
                .write_string_with_format(0, col, neutralise(header), &bold)
                .map_err(write_error)?;
        }
        Ok(XlsxLedgerWriter {
            workbook,
            columns: headers.len(),
            next_row: 1,
            text,
            date,
        })
    }

    /// The worksheet, which [`XlsxLedgerWriter::start`] added as the only one.
    fn sheet(&mut self) -> Result<&mut Worksheet, SheetError> {
        self.workbook.worksheet_from_index(0).map_err(write_error)
    }

    /// Gives column `index` (0 for A) the text format and room for an 18-digit number, so
    /// that identity or phone numbers typed into it later stay text too.
    pub fn mark_text_column(&mut self, index: usize) -> Result<(), SheetError> {
        let col = col_num(index)?;
        let text = self.text.clone();
        let sheet = self.sheet()?;
        sheet.set_column_format(col, &text).map_err(write_error)?;
        sheet.set_column_width(col, 22).map_err(write_error)?;
        Ok(())
    }

    /// Writes the next row; a row shorter than the headers is left empty on the right.
    pub fn push_row(&mut self, cells: &[OutCell]) -> Result<(), SheetError> {
        let line = u64::from(self.next_row) + 1;
        if self.next_row > MAX_ROW {
            return Err(SheetError::TooManyRows);
        }
        if cells.len() > self.columns {
            return Err(SheetError::RowWidth {
                line,
                cells: cells.len(),
                columns: self.columns,
            });
        }
        // Checked before writing anything, so that a refused row leaves no half row behind.
        if let Some(index) = cells
            .iter()
            .position(|cell| matches!(cell, OutCell::Number(n) if !n.is_finite()))
        {
            return Err(SheetError::WriteCell {
                line,
                column: column_name(index),
                detail: "a number must be finite".to_string(),
            });
        }
        let row = self.next_row;
        let (text, date) = (self.text.clone(), self.date.clone());
        let sheet = self.sheet()?;
        for (index, cell) in cells.iter().enumerate() {
            let col = col_num(index)?;
            let cell_error = |detail: String| SheetError::WriteCell {
                line,
                column: column_name(index),
                detail,
            };
            let written = match cell {
                OutCell::Empty => continue,
                OutCell::Text(value) => {
                    sheet.write_string_with_format(row, col, neutralise(value), &text)
                }
                OutCell::Number(value) => sheet.write_number(row, col, *value),
                OutCell::Date(value) => match excel_date(*value) {
                    Some(excel) => sheet.write_date_with_format(row, col, &excel, &date),
                    // Excel has no dates before 1900; the date is kept, as text.
                    None => sheet.write_string_with_format(
                        row,
                        col,
                        value.format("%Y-%m-%d").to_string(),
                        &text,
                    ),
                },
            };
            written.map_err(|err| cell_error(err.to_string()))?;
        }
        self.next_row += 1;
        Ok(())
    }

    /// How many rows have been written after the header.
    pub fn rows_written(&self) -> u32 {
        self.next_row - 1
    }

    /// Finishes the workbook and returns its bytes.
    pub fn finish(mut self) -> Result<Vec<u8>, SheetError> {
        self.workbook.save_to_buffer().map_err(write_error)
    }

    /// Finishes the workbook into a file, streaming it there.
    pub fn finish_to_path(mut self, path: &Path) -> Result<(), SheetError> {
        self.workbook.save(path).map_err(write_error)
    }

    /// Finishes the workbook into any seekable writer, such as an open temporary file.
    pub fn finish_to_writer<W: Write + Seek + Send>(mut self, writer: W) -> Result<(), SheetError> {
        self.workbook.save_to_writer(writer).map_err(write_error)
    }
}

/// A column index as the writer numbers columns, refusing one beyond Excel's last column.
fn col_num(index: usize) -> Result<u16, SheetError> {
    u16::try_from(index)
        .ok()
        .filter(|_| index < MAX_COLUMNS)
        .ok_or(SheetError::RowWidth {
            line: 1,
            cells: index + 1,
            columns: MAX_COLUMNS,
        })
}

/// A date as the writer takes it; `None` before 1900 or after 9999, which Excel cannot show.
fn excel_date(date: NaiveDate) -> Option<ExcelDateTime> {
    // The writer would take 1899-12-31 as serial 0, which Excel shows as 1900-01-00.
    let year = u16::try_from(date.year())
        .ok()
        .filter(|year| *year >= 1900)?;
    // Months and days are at most 12 and 31, which always fit in a byte.
    let month = u8::try_from(date.month()).ok()?;
    let day = u8::try_from(date.day()).ok()?;
    ExcelDateTime::from_ymd(year, month, day).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn neutralise_quotes_formula_starters_only() {
        assert_eq!(neutralise("=1+1"), "'=1+1");
        assert_eq!(neutralise("+8613800000000"), "'+8613800000000");
        assert_eq!(neutralise("-5"), "'-5");
        assert_eq!(neutralise("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(neutralise("\t=1"), "'\t=1");
        assert_eq!(neutralise("\r=1"), "'\r=1");
        assert_eq!(
            neutralise("=HYPERLINK(\"http://example.com\",\"点击\")"),
            "'=HYPERLINK(\"http://example.com\",\"点击\")"
        );
        assert!(matches!(neutralise("张三"), Cow::Borrowed("张三")));
        assert!(matches!(neutralise("a=b"), Cow::Borrowed(_)));
        assert!(matches!(neutralise(""), Cow::Borrowed("")));
        assert!(matches!(neutralise("'=already"), Cow::Borrowed(_)));
    }

    #[test]
    fn out_cells_convert_from_plain_values() {
        let date = NaiveDate::from_ymd_opt(2015, 3, 4).expect("valid date");
        assert_eq!(OutCell::from("张三"), OutCell::Text("张三".to_string()));
        assert_eq!(OutCell::from(date), OutCell::Date(date));
        assert_eq!(OutCell::from(None::<String>), OutCell::Empty);
        assert_eq!(OutCell::from(Some("x")), OutCell::Text("x".to_string()));
    }

    #[test]
    fn excel_dates_cover_1900_to_9999_only() {
        let ok = NaiveDate::from_ymd_opt(2015, 3, 4).expect("valid date");
        assert!(excel_date(ok).is_some());
        let early = NaiveDate::from_ymd_opt(1899, 12, 31).expect("valid date");
        assert!(excel_date(early).is_none());
        let first = NaiveDate::from_ymd_opt(1900, 1, 1).expect("valid date");
        assert!(excel_date(first).is_some());
        let late = NaiveDate::from_ymd_opt(10_000, 1, 1).expect("valid date");
        assert!(excel_date(late).is_none());
    }

    #[test]
    fn bad_rows_are_refused_with_their_place() {
        let mut writer = XlsxLedgerWriter::new("台账", &["姓名", "人数"]).expect("writer");
        let err = writer
            .push_row(&["a".into(), "b".into(), "c".into()])
            .expect_err("too wide");
        assert_eq!(
            err.to_string(),
            "row 2 has 3 cells but the sheet has only 2 columns"
        );
        let err = writer
            .push_row(&["a".into(), OutCell::Number(f64::NAN)])
            .expect_err("not finite");
        assert_eq!(
            err.to_string(),
            "row 2, column B: cannot write this cell: a number must be finite"
        );
        assert!(XlsxLedgerWriter::new("a/b", &["x"]).is_err());
    }
}

//! Reading the rows of an uploaded spreadsheet of minors, CSV or XLSX, one row at a time.
//!
//! An import file can hold a million rows, so [`SheetReader`] never holds the whole file: it
//! hands out one [`Row`] at a time, each with the line number a person sees in Excel or a text
//! editor (the header is line 1), and a bad row is an `Err` for that row alone, so that an
//! importer can report every bad row and carry on.
//!
//! # Memory
//!
//! - **CSV** is decoded as a stream through a 64 KiB read-ahead; memory does not grow with the
//!   file. The encoding is judged on the first 64 KiB: UTF-8 (with or without a BOM, which is
//!   dropped), UTF-16 with a BOM, and otherwise GB18030, the superset of the GBK that Chinese
//!   Excel saves. A UTF-8 file that turns out to hold other bytes after the first 64 KiB gets
//!   an encoding error on each line concerned rather than a wrong guess for the whole file.
//! - **XLSX** cells are streamed from the worksheet's XML with calamine's cell reader, on a
//!   worker thread that hands rows over through a small bounded channel (the reader borrows
//!   the workbook, and a thread is the safe way to keep both without self-reference). The
//!   workbook's **shared-strings table is held in memory in full**, as the XLSX format requires
//!   to resolve any cell: it grows with the number of distinct texts in the file (for a
//!   million minors with distinct names, numbers and addresses, a few hundred MiB), not with
//!   the number of cells. Files written in constant-memory mode (ours, see `sheet_out`) use
//!   inline strings and have no such table.
//!
//! # Cells
//!
//! CSV cells are always [`Cell::Text`]. XLSX cells keep what the importer needs to know: a
//! number stays a [`Cell::Number`] (an identity number Excel stored as a number has lost its
//! last digits, and the importer must say so rather than accept `320506201503041000`), a cell
//! formatted as a date becomes a [`Cell::Date`], and text stays text. Every cell is trimmed.
//! Rows in which every cell is empty are skipped, since spreadsheets often carry formatted but
//! empty rows; the line numbers of the rows after them are not affected.
//!
//! # Columns
//!
//! [`ColumnMap`] maps headers to the registry's canonical field names, from the standard
//! Chinese headers of [`STANDARD_HEADERS`] and the English names themselves, or from a mapping
//! the user gave.
//!
//! Error messages say what went wrong and where (line and column) but never repeat a cell's
//! content, because import reports and logs reach a wider audience than the record.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufReader, Cursor, Read, Seek, SeekFrom};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender};
use std::sync::Arc;
use std::thread::JoinHandle;

use calamine::{DataRef, Reader, SheetType, SheetVisible, Xlsx, XlsxError};
use chrono::NaiveDate;
use encoding_rs::{Encoding, GB18030, UTF_16BE, UTF_16LE, UTF_8};
use encoding_rs_io::DecodeReaderBytesBuilder;

use crate::fold_width;

/// How many leading bytes are examined to tell UTF-8 from GB18030.
const SNIFF_LEN: usize = 64 * 1024;

/// How many rows the XLSX worker may read ahead of the importer.
const XLSX_ROWS_AHEAD: usize = 64;

/// The magic number of a zip archive, which every XLSX file is.
const ZIP_MAGIC: &[u8] = b"PK\x03\x04";

/// The magic number of an OLE compound file, which old `.xls` workbooks are.
const OLE_MAGIC: &[u8] = &[0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1];

/// The byte order mark of UTF-8.
const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

/// The kind of spreadsheet file.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum SheetFormat {
    /// Comma-separated text.
    Csv,
    /// An Office Open XML workbook, as Excel and WPS save by default.
    Xlsx,
}

/// Tells an XLSX workbook from a CSV file.
///
/// The zip magic number `PK\x03\x04` at the start means XLSX whatever the name says; so does a
/// name ending in `.xlsx` or `.xlsm`, so that a damaged workbook is reported as a damaged
/// workbook rather than read as text. Everything else is CSV.
pub fn detect_format(path_or_name: &str, first_bytes: &[u8]) -> SheetFormat {
    let lower = path_or_name.trim().to_ascii_lowercase();
    if first_bytes.starts_with(ZIP_MAGIC) || lower.ends_with(".xlsx") || lower.ends_with(".xlsm") {
        SheetFormat::Xlsx
    } else {
        SheetFormat::Csv
    }
}

/// One cell of an imported row.
#[derive(Clone, Debug, PartialEq)]
pub enum Cell {
    /// Nothing, or only whitespace.
    Empty,
    /// Text, trimmed; every CSV cell is text.
    Text(String),
    /// A number stored as a number (XLSX only), including a date serial without a date format.
    Number(f64),
    /// A cell formatted as a date (XLSX only).
    Date(NaiveDate),
}

impl Cell {
    /// Builds a cell from text, trimming it and turning blank text into [`Cell::Empty`].
    fn text(raw: &str) -> Cell {
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            Cell::Empty
        } else {
            Cell::Text(trimmed.to_string())
        }
    }

    /// Whether the cell holds nothing.
    pub fn is_empty(&self) -> bool {
        match self {
            Cell::Empty => true,
            Cell::Text(text) => text.is_empty(),
            Cell::Number(_) | Cell::Date(_) => false,
        }
    }

    /// The text of a text cell; `None` for any other kind.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Cell::Text(text) => Some(text),
            _ => None,
        }
    }

    /// The cell as a person reads it: text as is, a number without a needless `.0`
    /// (`320506201503041000`), a date as `2015-03-04`, and nothing as an empty string.
    ///
    /// The text of a number is what the importer's checks expect: an identity number a
    /// spreadsheet stored as a number reads `320506201503041000`, which
    /// [`crate::parse_resident_id`] recognises as truncated, and a serial reads `42067`, which
    /// [`crate::parse_date_or_serial`] reads as a date.
    pub fn to_text(&self) -> Cow<'_, str> {
        match self {
            Cell::Empty => Cow::Borrowed(""),
            Cell::Text(text) => Cow::Borrowed(text),
            // Rust prints the shortest decimal that reads back as the same f64 and never uses
            // an exponent, which is the 15 significant digits Excel kept.
            Cell::Number(number) => Cow::Owned(number.to_string()),
            Cell::Date(date) => Cow::Owned(date.format("%Y-%m-%d").to_string()),
        }
    }
}

/// One row of data, after the header.
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    /// The 1-based line (CSV) or row (XLSX) number a person sees; the header is line 1 when it
    /// is the first line. A CSV record spanning lines has the number of its first line.
    pub line: u64,
    /// The cells from the first column on, padded with [`Cell::Empty`] to the header's width.
    pub cells: Vec<Cell>,
}

impl Row {
    /// The cell in column `index` (0 for column A), if the row has one.
    pub fn get(&self, index: usize) -> Option<&Cell> {
        self.cells.get(index)
    }

    /// Whether every cell is empty.
    pub fn is_blank(&self) -> bool {
        self.cells.iter().all(Cell::is_empty)
    }
}

/// The spreadsheet name of a 0-based column: `A` for 0, `Z` for 25, `AA` for 26.
pub fn column_name(index: usize) -> String {
    let mut letters = Vec::new();
    let mut n = index + 1;
    while n > 0 {
        let rem = (n - 1) % 26;
        // `rem` is below 26, so the sum stays within `A..=Z` and fits in a byte.
        letters.push(char::from(b'A' + rem as u8));
        n = (n - 1) / 26;
    }
    letters.iter().rev().collect()
}

/// A file that could not be read, or a row of it that could not.
#[derive(Debug, thiserror::Error)]
pub enum SheetError {
    /// The file could not be opened or read.
    #[error("cannot read {what}: {source}")]
    Io {
        /// The file, or what was being read.
        what: String,
        /// The operating system's reason.
        #[source]
        source: io::Error,
    },
    /// An old Excel 97-2003 workbook, which is not supported.
    #[error(
        "this is an old Excel 97-2003 (.xls) workbook, which cannot be read; open it in Excel \
         or WPS and save it as .xlsx or CSV"
    )]
    LegacyXls,
    /// The file is not a valid XLSX workbook (bad zip, missing or broken parts).
    #[error("the file is not a readable XLSX workbook: {detail}")]
    Workbook {
        /// What is wrong, as the workbook reader found it.
        detail: String,
    },
    /// The workbook would unpack to more than the reader takes (a zip bomb, or a workbook too
    /// large to import at once).
    #[error(
        "the workbook unpacks to more than the import takes ({part}: over {limit_mib} MiB); \
         split it, or save it as CSV"
    )]
    Unpacked {
        /// The part of the archive that is too large, or `the workbook` for the whole.
        part: String,
        /// The limit, in MiB.
        limit_mib: u64,
    },
    /// The workbook is encrypted with a password.
    #[error("the workbook is protected by a password; remove the password and upload it again")]
    Encrypted,
    /// The wanted worksheet does not exist, or the workbook has none.
    #[error(
        "{}; the workbook has: {}",
        match wanted {
            Some(name) => format!("there is no worksheet named `{name}`"),
            None => "the workbook has no worksheet".to_string(),
        },
        if available.is_empty() { "no sheets".to_string() } else { available.join(", ") }
    )]
    NoWorksheet {
        /// The name asked for, if one was.
        wanted: Option<String>,
        /// The sheets the workbook has.
        available: Vec<String>,
    },
    /// The file or sheet has no non-empty row to take the headers from.
    #[error("the sheet is empty: there is no header row")]
    NoHeader,
    /// A worksheet's XML broke off part-way; the rows before it were read.
    #[error("line {line}: the worksheet cannot be read from here on: {detail}")]
    Sheet {
        /// The row where reading stopped.
        line: u64,
        /// What is wrong.
        detail: String,
    },
    /// A CSV record could not be parsed.
    #[error("line {line}: CSV syntax error: {detail}")]
    Csv {
        /// The line of the record.
        line: u64,
        /// What is wrong.
        detail: String,
    },
    /// A cell holds bytes that are not text in the file's encoding.
    #[error(
        "line {line}, column {column}: the text is not valid {encoding}; save the file as \
         CSV UTF-8 and upload it again"
    )]
    Encoding {
        /// The line of the record.
        line: u64,
        /// The spreadsheet name of the column (`A`, `B`…).
        column: String,
        /// The encoding the file was read as.
        encoding: &'static str,
    },
    /// An XLSX file could not be written.
    #[error("cannot write the XLSX file: {detail}")]
    Write {
        /// What is wrong.
        detail: String,
    },
    /// A cell could not be written (too long, or not a finite number).
    #[error("row {line}, column {column}: cannot write this cell: {detail}")]
    WriteCell {
        /// The 1-based row number in the written sheet.
        line: u64,
        /// The spreadsheet name of the column.
        column: String,
        /// What is wrong.
        detail: String,
    },
    /// A row to write has more cells than the sheet has columns.
    #[error("row {line} has {cells} cells but the sheet has only {columns} columns")]
    RowWidth {
        /// The 1-based row number in the written sheet.
        line: u64,
        /// How many cells were given.
        cells: usize,
        /// How many columns the headers define.
        columns: usize,
    },
    /// A sheet cannot hold more rows.
    #[error("the sheet is full: an XLSX worksheet holds at most 1,048,576 rows")]
    TooManyRows,
}

impl SheetError {
    /// A stable snake_case code for import reports.
    pub fn code(&self) -> &'static str {
        match self {
            SheetError::Io { .. } => "unreadable_file",
            SheetError::LegacyXls => "legacy_xls",
            SheetError::Workbook { .. } => "bad_workbook",
            SheetError::Unpacked { .. } => "workbook_too_large",
            SheetError::Encrypted => "encrypted_workbook",
            SheetError::NoWorksheet { .. } => "no_worksheet",
            SheetError::NoHeader => "no_header",
            SheetError::Sheet { .. } => "bad_worksheet",
            SheetError::Csv { .. } => "csv_syntax",
            SheetError::Encoding { .. } => "encoding",
            SheetError::Write { .. } => "write_failed",
            SheetError::WriteCell { .. } => "bad_cell",
            SheetError::RowWidth { .. } => "row_width",
            SheetError::TooManyRows => "too_many_rows",
        }
    }

    /// The line the error is about, where it is about one.
    pub fn line(&self) -> Option<u64> {
        match self {
            SheetError::Sheet { line, .. }
            | SheetError::Csv { line, .. }
            | SheetError::Encoding { line, .. }
            | SheetError::WriteCell { line, .. }
            | SheetError::RowWidth { line, .. } => Some(*line),
            _ => None,
        }
    }

    /// Whether reading can go on with the next row after this error.
    ///
    /// A bad record or bad bytes spoil one row; a broken file or worksheet ends the reading.
    pub fn is_row_error(&self) -> bool {
        matches!(self, SheetError::Csv { .. } | SheetError::Encoding { .. })
    }
}

/// The most a workbook's shared-string table may unpack to: the reader holds it in memory
/// whole, so a small archive with a huge table (a zip bomb) would otherwise exhaust it.
const SHARED_STRINGS_MAX: u64 = 256 << 20;
/// The most a whole workbook may unpack to; worksheets are streamed, but a cell is held whole.
const UNPACKED_MAX: u64 = 2 << 30;

/// Refuses a workbook whose parts declare more than the reader takes, before any part is
/// unpacked. The sizes are the archive's own declarations; this bounds the plain zip bomb, and
/// a part that unpacks to more than it declared fails its checksum when it is read.
fn check_unpacked_sizes<R: Read + Seek>(reader: &mut R) -> Result<(), SheetError> {
    let too_large = |part: &str, limit: u64| SheetError::Unpacked {
        part: part.to_string(),
        limit_mib: limit >> 20,
    };
    {
        let mut archive = zip::ZipArchive::new(&mut *reader).map_err(|e| SheetError::Workbook {
            detail: e.to_string(),
        })?;
        let mut total: u64 = 0;
        for i in 0..archive.len() {
            let part = archive.by_index_raw(i).map_err(|e| SheetError::Workbook {
                detail: e.to_string(),
            })?;
            let name = part.name().map_err(|e| SheetError::Workbook {
                detail: e.to_string(),
            })?;
            if name.ends_with("sharedStrings.xml") && part.size() > SHARED_STRINGS_MAX {
                return Err(too_large(&name, SHARED_STRINGS_MAX));
            }
            total = total.saturating_add(part.size());
        }
        if total > UNPACKED_MAX {
            return Err(too_large("the workbook", UNPACKED_MAX));
        }
    }
    reader
        .seek(io::SeekFrom::Start(0))
        .map_err(|source| SheetError::Io {
            what: "the workbook".to_string(),
            source,
        })?;
    Ok(())
}

/// Maps a workbook reader's error to a [`SheetError`].
fn workbook_error(err: XlsxError) -> SheetError {
    match err {
        XlsxError::Password => SheetError::Encrypted,
        XlsxError::Io(source) => SheetError::Io {
            what: "the workbook".to_string(),
            source,
        },
        other => SheetError::Workbook {
            detail: other.to_string(),
        },
    }
}

/// How to open a spreadsheet; the default reads the first visible worksheet of a workbook and
/// tells the format from the name and content.
#[derive(Clone, Debug, Default)]
pub struct SheetOptions {
    /// The worksheet to read, by name; `None` for the first visible worksheet.
    pub sheet_name: Option<String>,
    /// The format, when the caller knows it; `None` to call [`detect_format`].
    pub format: Option<SheetFormat>,
}

/// Something a CSV can be read from on any thread.
type ByteSource = Box<dyn Read + Send>;

/// A reader that counts the bytes read through it, for a progress bar.
struct Counting<R> {
    inner: R,
    count: Arc<AtomicU64>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        // A usize always fits in a u64 on the platforms Rust supports.
        self.count.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// The rows of a CSV file.
struct CsvSource {
    reader: csv::Reader<ByteSource>,
    record: csv::StringRecord,
    /// The encoding the file is read as, named for messages.
    encoding: &'static str,
    /// Whether the decoder replaces bad bytes with U+FFFD, which must then be looked for.
    decodes: bool,
    finished: bool,
}

impl CsvSource {
    /// Reads the next record that has a non-empty cell.
    fn next_row(&mut self, width: usize) -> Option<Result<Row, SheetError>> {
        loop {
            if self.finished {
                return None;
            }
            match self.reader.read_record(&mut self.record) {
                Ok(false) => {
                    self.finished = true;
                    return None;
                }
                Ok(true) => {
                    let line = self.record.position().map_or(0, csv::Position::line);
                    if self.decodes {
                        if let Some(index) = self.record.iter().position(|f| f.contains('\u{FFFD}'))
                        {
                            return Some(Err(SheetError::Encoding {
                                line,
                                column: column_name(index),
                                encoding: self.encoding,
                            }));
                        }
                    }
                    let mut cells: Vec<Cell> = self.record.iter().map(Cell::text).collect();
                    if cells.iter().all(Cell::is_empty) {
                        continue;
                    }
                    if cells.len() < width {
                        cells.resize(width, Cell::Empty);
                    }
                    return Some(Ok(Row { line, cells }));
                }
                Err(err) => return Some(Err(self.csv_error(err))),
            }
        }
    }

    /// Turns a CSV reader error into a [`SheetError`], stopping at errors that cannot be
    /// skipped.
    fn csv_error(&mut self, err: csv::Error) -> SheetError {
        let line = err.position().map_or(0, csv::Position::line);
        match err.into_kind() {
            csv::ErrorKind::Utf8 { pos, err } => SheetError::Encoding {
                line: pos.map_or(line, |p| p.line()),
                column: column_name(err.field()),
                encoding: self.encoding,
            },
            csv::ErrorKind::Io(source) => {
                // A read error is not tied to one record and would recur on every call.
                self.finished = true;
                SheetError::Io {
                    what: "the CSV file".to_string(),
                    source,
                }
            }
            other => {
                let detail = match other {
                    csv::ErrorKind::UnequalLengths {
                        expected_len, len, ..
                    } => format!("expected {expected_len} fields, found {len}"),
                    _ => "the record cannot be parsed".to_string(),
                };
                SheetError::Csv { line, detail }
            }
        }
    }
}

/// What the XLSX worker sends.
enum Message {
    /// The last row the worksheet declares, 1-based; sent first, if declared.
    LastRow(u64),
    /// A row with a non-empty cell.
    Row(Row),
    /// Reading stopped at an error.
    Failed(SheetError),
    /// The worksheet was read to its end.
    End,
}

/// The rows of an XLSX worksheet, read by a worker thread.
struct XlsxSource {
    rows: Receiver<Message>,
    worker: Option<JoinHandle<()>>,
    cancelled: Arc<AtomicBool>,
    /// The last row the worksheet declares in its dimension, 1-based.
    last_row: Option<u64>,
    last_line: u64,
    finished: bool,
}

impl XlsxSource {
    /// Takes the next row from the worker.
    fn next_row(&mut self, width: usize) -> Option<Result<Row, SheetError>> {
        if self.finished {
            return None;
        }
        loop {
            match self.rows.recv() {
                Ok(Message::LastRow(last)) => self.last_row = Some(last),
                Ok(Message::Row(mut row)) => {
                    self.last_line = row.line;
                    if row.cells.len() < width {
                        row.cells.resize(width, Cell::Empty);
                    }
                    return Some(Ok(row));
                }
                Ok(Message::Failed(err)) => {
                    self.finished = true;
                    return Some(Err(err));
                }
                Ok(Message::End) => {
                    self.finished = true;
                    return None;
                }
                Err(_) => {
                    // The worker hung up without saying it was done, so it panicked; ending
                    // quietly would pass a partial import off as a whole one.
                    self.finished = true;
                    if let Some(worker) = self.worker.take() {
                        let _ = worker.join();
                    }
                    return Some(Err(SheetError::Sheet {
                        line: self.last_line + 1,
                        detail: "the worksheet reader stopped unexpectedly".to_string(),
                    }));
                }
            }
        }
    }
}

impl Drop for XlsxSource {
    fn drop(&mut self) {
        // Dropping the receiver already stops the worker at its next row; the flag also stops
        // it during a long run of empty rows, where it sends nothing.
        self.cancelled.store(true, Ordering::Relaxed);
    }
}

/// Where rows come from.
enum Source {
    Csv(CsvSource),
    Xlsx(XlsxSource),
}

/// A spreadsheet open for reading, row by row; see the module documentation.
pub struct SheetReader {
    format: SheetFormat,
    headers: Vec<String>,
    header_line: u64,
    source: Source,
    encoding: Option<&'static str>,
    sheet_name: Option<String>,
    bytes_total: Option<u64>,
    bytes_read: Arc<AtomicU64>,
    rows_hint: Option<u64>,
}

impl std::fmt::Debug for SheetReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SheetReader")
            .field("format", &self.format)
            .field("headers", &self.headers)
            .field("encoding", &self.encoding)
            .field("sheet_name", &self.sheet_name)
            .finish_non_exhaustive()
    }
}

impl SheetReader {
    /// Opens a file, telling CSV from XLSX by its name and first bytes.
    pub fn open(path: &Path) -> Result<SheetReader, SheetError> {
        SheetReader::open_with(path, &SheetOptions::default())
    }

    /// Opens a file with options, such as the worksheet to read.
    pub fn open_with(path: &Path, options: &SheetOptions) -> Result<SheetReader, SheetError> {
        let io_error = |source| SheetError::Io {
            what: path.display().to_string(),
            source,
        };
        let file = File::open(path).map_err(io_error)?;
        SheetReader::from_reader(BufReader::new(file), &path.to_string_lossy(), options)
    }

    /// Reads an upload held in memory or in a temporary file; `name` is the file name the user
    /// gave, used to tell the format.
    ///
    /// The reader must be `Send + 'static` because an XLSX worksheet is read on a worker
    /// thread.
    pub fn from_reader<R>(
        mut reader: R,
        name: &str,
        options: &SheetOptions,
    ) -> Result<SheetReader, SheetError>
    where
        R: Read + Seek + Send + 'static,
    {
        let io_error = |source| SheetError::Io {
            what: if name.is_empty() {
                "the upload".to_string()
            } else {
                name.to_string()
            },
            source,
        };
        let start = reader.stream_position().map_err(io_error)?;
        let end = reader.seek(SeekFrom::End(0)).map_err(io_error)?;
        reader.seek(SeekFrom::Start(start)).map_err(io_error)?;
        let mut magic = [0u8; 8];
        let got = read_up_to(&mut reader, &mut magic).map_err(io_error)?;
        reader.seek(SeekFrom::Start(start)).map_err(io_error)?;
        let first = &magic[..got];
        if first.starts_with(OLE_MAGIC) {
            return Err(SheetError::LegacyXls);
        }
        let format = options.format.unwrap_or_else(|| detect_format(name, first));
        let total = end.saturating_sub(start);
        match format {
            SheetFormat::Csv => SheetReader::csv(Box::new(reader), Some(total)),
            SheetFormat::Xlsx => SheetReader::xlsx(reader, options, total),
        }
    }

    /// Reads CSV from any byte source, which need not be seekable; `bytes_total` is its
    /// length when known.
    pub fn from_csv_reader(
        reader: impl Read + Send + 'static,
        bytes_total: Option<u64>,
    ) -> Result<SheetReader, SheetError> {
        SheetReader::csv(Box::new(reader), bytes_total)
    }

    /// Opens CSV: judges the encoding, then reads the header.
    fn csv(reader: ByteSource, bytes_total: Option<u64>) -> Result<SheetReader, SheetError> {
        let bytes_read = Arc::new(AtomicU64::new(0));
        let mut counted = Counting {
            inner: reader,
            count: Arc::clone(&bytes_read),
        };
        let mut head = vec![0u8; SNIFF_LEN];
        let got = read_up_to(&mut counted, &mut head).map_err(|source| SheetError::Io {
            what: "the CSV file".to_string(),
            source,
        })?;
        head.truncate(got);
        let encoding = sniff_encoding(&head);
        // The bytes already read for sniffing are put back in front of the rest of the file.
        let rejoined: ByteSource = Box::new(Cursor::new(head).chain(counted));
        let decoded = DecodeReaderBytesBuilder::new()
            // UTF-8 is passed through unchanged (which the decoder does only when it is not
            // told the encoding) so that the CSV reader reports bad bytes with their line,
            // instead of a decoder silently replacing them.
            .encoding((encoding != UTF_8).then_some(encoding))
            .utf8_passthru(true)
            .strip_bom(true)
            .build(rejoined);
        // Records end at `\n` only: with the default CRLF terminator the csv crate ends a
        // record at the `\r` and counts the `\n` as part of the next record, whose line number
        // then comes out one short. The `\r` left at the end of a line's last cell is
        // whitespace, which every cell is trimmed of.
        let reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .terminator(csv::Terminator::Any(b'\n'))
            .from_reader(Box::new(decoded) as ByteSource);
        let mut source = CsvSource {
            reader,
            record: csv::StringRecord::new(),
            encoding: encoding_label(encoding),
            decodes: encoding != UTF_8,
            finished: false,
        };
        let header = match source.next_row(0) {
            None => return Err(SheetError::NoHeader),
            Some(row) => row?,
        };
        Ok(SheetReader {
            format: SheetFormat::Csv,
            headers: header_texts(&header.cells),
            header_line: header.line,
            source: Source::Csv(source),
            encoding: Some(encoding_label(encoding)),
            sheet_name: None,
            bytes_total,
            bytes_read,
            rows_hint: None,
        })
    }

    /// Opens a workbook, picks the worksheet and starts the worker that reads it.
    fn xlsx<R>(reader: R, options: &SheetOptions, total: u64) -> Result<SheetReader, SheetError>
    where
        R: Read + Seek + Send + 'static,
    {
        let mut reader = reader;
        check_unpacked_sizes(&mut reader)?;
        let workbook: Xlsx<R> = Xlsx::new(reader).map_err(workbook_error)?;
        let sheet = pick_sheet(&workbook, options.sheet_name.as_deref())?;
        let (sender, rows) = std::sync::mpsc::sync_channel(XLSX_ROWS_AHEAD);
        let cancelled = Arc::new(AtomicBool::new(false));
        let worker = {
            let sheet = sheet.clone();
            let cancelled = Arc::clone(&cancelled);
            std::thread::Builder::new()
                .name("sheet-in-xlsx".to_string())
                .spawn(move || read_worksheet(workbook, &sheet, &sender, &cancelled))
                .map_err(|source| SheetError::Io {
                    what: "the workbook (no thread to read it)".to_string(),
                    source,
                })?
        };
        let mut source = XlsxSource {
            rows,
            worker: Some(worker),
            cancelled,
            last_row: None,
            last_line: 0,
            finished: false,
        };
        let header = match source.next_row(0) {
            None => return Err(SheetError::NoHeader),
            Some(row) => row?,
        };
        let rows_hint = source.last_row.map(|last| last.saturating_sub(header.line));
        Ok(SheetReader {
            format: SheetFormat::Xlsx,
            headers: header_texts(&header.cells),
            header_line: header.line,
            source: Source::Xlsx(source),
            encoding: None,
            sheet_name: Some(sheet),
            bytes_total: Some(total),
            // The workbook is read through the zip archive's index, so bytes read say little
            // about progress; rows are counted against the sheet's dimensions instead.
            bytes_read: Arc::new(AtomicU64::new(0)),
            rows_hint,
        })
    }

    /// The kind of file being read.
    pub fn format(&self) -> SheetFormat {
        self.format
    }

    /// The headers, trimmed, without a byte order mark; a column without a header has `""`.
    pub fn headers(&self) -> &[String] {
        &self.headers
    }

    /// The line the headers were on (1 unless the file starts with empty lines).
    pub fn header_line(&self) -> u64 {
        self.header_line
    }

    /// The encoding a CSV file is read as (`UTF-8`, `GBK/GB18030`, `UTF-16LE`…); `None` for
    /// XLSX.
    pub fn encoding(&self) -> Option<&'static str> {
        self.encoding
    }

    /// The worksheet being read; `None` for CSV.
    pub fn sheet_name(&self) -> Option<&str> {
        self.sheet_name.as_deref()
    }

    /// The number of rows after the header, for a progress bar: for XLSX, as the worksheet
    /// declares it (blank rows included, so the rows handed out may be fewer); `None` for
    /// CSV, whose progress [`SheetReader::bytes_read`] tells.
    pub fn total_rows_hint(&self) -> Option<u64> {
        self.rows_hint
    }

    /// The size of the file in bytes, when known.
    pub fn bytes_total(&self) -> Option<u64> {
        self.bytes_total
    }

    /// How many bytes of a CSV file have been read so far (it runs up to 64 KiB ahead of the
    /// rows handed out); always 0 for XLSX.
    pub fn bytes_read(&self) -> u64 {
        self.bytes_read.load(Ordering::Relaxed)
    }
}

impl Iterator for SheetReader {
    type Item = Result<Row, SheetError>;

    fn next(&mut self) -> Option<Self::Item> {
        let width = self.headers.len();
        match &mut self.source {
            Source::Csv(source) => source.next_row(width),
            Source::Xlsx(source) => source.next_row(width),
        }
    }
}

/// Reads until `buf` is full or the input ends, returning how many bytes were read.
fn read_up_to(reader: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(err) => return Err(err),
        }
    }
    Ok(filled)
}

/// Judges a CSV file's encoding from its first bytes.
///
/// A BOM decides; otherwise the bytes are UTF-8 if they are valid UTF-8, where a sequence cut
/// off at the end of the sample still counts as valid, and GB18030 if not. GB18030 decodes GBK
/// and GB2312 alike, being their superset.
pub fn sniff_encoding(head: &[u8]) -> &'static Encoding {
    if head.starts_with(UTF8_BOM) {
        return UTF_8;
    }
    if head.starts_with(&[0xFF, 0xFE]) {
        return UTF_16LE;
    }
    if head.starts_with(&[0xFE, 0xFF]) {
        return UTF_16BE;
    }
    match std::str::from_utf8(head) {
        Ok(_) => UTF_8,
        // `error_len() == None` means the input ended inside a sequence that may yet be
        // complete; the sample was simply cut there.
        Err(err) if err.error_len().is_none() => UTF_8,
        Err(_) => GB18030,
    }
}

/// The name of an encoding as messages and [`SheetReader::encoding`] give it.
fn encoding_label(encoding: &'static Encoding) -> &'static str {
    if encoding == GB18030 {
        // Users know the encoding Chinese Excel saves in as GBK; GB18030 is its superset.
        "GBK/GB18030"
    } else {
        encoding.name()
    }
}

/// The header texts of a header row: trimmed, with any stray byte order mark removed.
fn header_texts(cells: &[Cell]) -> Vec<String> {
    cells
        .iter()
        .map(|cell| {
            cell.to_text()
                .trim_matches(|c: char| c.is_whitespace() || c == '\u{FEFF}')
                .to_string()
        })
        .collect()
}

/// Chooses the worksheet to read: the named one, or the first visible worksheet (chart sheets
/// and hidden sheets, such as a template's drop-down lists, are passed over).
fn pick_sheet<R: Read + Seek>(
    workbook: &Xlsx<R>,
    wanted: Option<&str>,
) -> Result<String, SheetError> {
    let sheets = workbook.sheets_metadata();
    let worksheets = || sheets.iter().filter(|s| s.typ == SheetType::WorkSheet);
    let found = match wanted {
        Some(name) => {
            let name = name.trim();
            worksheets().find(|s| s.name == name || s.name.trim() == name)
        }
        None => worksheets()
            .find(|s| s.visible == SheetVisible::Visible)
            .or_else(|| worksheets().next()),
    };
    found
        .map(|s| s.name.clone())
        .ok_or_else(|| SheetError::NoWorksheet {
            wanted: wanted.map(str::to_string),
            available: sheets.iter().map(|s| s.name.clone()).collect(),
        })
}

/// The worker: reads the worksheet's cells in order and sends them a row at a time.
fn read_worksheet<R: Read + Seek>(
    mut workbook: Xlsx<R>,
    sheet: &str,
    sender: &SyncSender<Message>,
    cancelled: &AtomicBool,
) {
    let mut cells = match workbook.worksheet_cells_reader(sheet) {
        Ok(cells) => cells,
        Err(err) => {
            let _ = sender.send(Message::Failed(workbook_error(err)));
            return;
        }
    };
    let dimensions = cells.dimensions();
    if dimensions.end != (0, 0)
        && sender
            .send(Message::LastRow(u64::from(dimensions.end.0) + 1))
            .is_err()
    {
        return;
    }
    // The row being assembled: its 0-based index and its cells so far.
    let mut current: Option<(u32, Vec<Cell>)> = None;
    loop {
        if cancelled.load(Ordering::Relaxed) {
            return;
        }
        match cells.next_cell() {
            Ok(Some(cell)) => {
                let (row, col) = cell.get_position();
                let value = convert_cell(cell.get_value());
                if current.as_ref().is_some_and(|(r, _)| *r != row) {
                    if let Some(done) = current.take() {
                        if !send_row(sender, done) {
                            return;
                        }
                    }
                }
                let (_, values) = current.get_or_insert_with(|| (row, Vec::new()));
                if value.is_empty() {
                    continue;
                }
                // A u32 column index always fits in usize on the platforms Rust supports.
                let col = col as usize;
                if values.len() <= col {
                    values.resize(col + 1, Cell::Empty);
                }
                values[col] = value;
            }
            Ok(None) => {
                if let Some(done) = current.take() {
                    if !send_row(sender, done) {
                        return;
                    }
                }
                let _ = sender.send(Message::End);
                return;
            }
            Err(err) => {
                let line = current.as_ref().map_or(1, |(r, _)| u64::from(*r) + 1);
                let _ = sender.send(Message::Failed(SheetError::Sheet {
                    line,
                    detail: err.to_string(),
                }));
                return;
            }
        }
    }
}

/// Sends a finished row unless it is blank; false when the reader has gone away.
fn send_row(sender: &SyncSender<Message>, (row, cells): (u32, Vec<Cell>)) -> bool {
    if cells.iter().all(Cell::is_empty) {
        return true;
    }
    let line = u64::from(row) + 1;
    sender.send(Message::Row(Row { line, cells })).is_ok()
}

/// Turns a workbook cell into a [`Cell`], keeping numbers and dates as such.
fn convert_cell(value: &DataRef<'_>) -> Cell {
    match value {
        DataRef::Empty => Cell::Empty,
        DataRef::String(text) => Cell::text(text),
        DataRef::SharedString(text) => Cell::text(text),
        // An i64 beyond 2^53 loses precision as f64, which is what Excel does with it too.
        DataRef::Int(n) => Cell::Number(*n as f64),
        DataRef::Float(n) => Cell::Number(*n),
        DataRef::Bool(true) => Cell::Text("TRUE".to_string()),
        DataRef::Bool(false) => Cell::Text("FALSE".to_string()),
        DataRef::DateTime(datetime) => {
            let serial = datetime.as_f64();
            if !datetime.is_datetime() || serial < 1.0 {
                // A duration or a bare time of day is not a date.
                return Cell::Number(serial);
            }
            // The conversion knows the workbook's epoch (1900 or 1904); it yields the
            // non-existent 1900-02-29 for serial 60, which is left as a number.
            let (year, month, day, ..) = datetime.to_ymd_hms_milli();
            NaiveDate::from_ymd_opt(i32::from(year), u32::from(month), u32::from(day))
                .map_or(Cell::Number(serial), Cell::Date)
        }
        DataRef::DateTimeIso(text) => {
            let date_part = text.get(..10).unwrap_or(text);
            NaiveDate::parse_from_str(date_part, "%Y-%m-%d")
                .map_or_else(|_| Cell::text(text), Cell::Date)
        }
        DataRef::DurationIso(text) => Cell::text(text),
        // An error value is shown as Excel shows it (`#N/A`, `#DIV/0!`); the importer's
        // checks then refuse it like any other wrong text.
        DataRef::Error(err) => Cell::Text(err.to_string()),
    }
}

/// The standard headers of an import template and the canonical field each stands for.
///
/// Headers are matched after folding full-width forms to ASCII (`（` to `(`), removing all
/// whitespace and `*` (templates mark required columns with it) and ignoring case, so
/// `村（社区）`, `村(社区)` and `* 姓 名` all match. The canonical English names in
/// [`FIELDS`] are accepted as headers too, with or without underscores or hyphens
/// (`id_number`, `id number`, `ID-Number`, `IdNumber`).
pub const STANDARD_HEADERS: &[(&str, &str)] = &[
    ("姓名", "name"),
    ("儿童姓名", "name"),
    ("未成年人姓名", "name"),
    ("公民身份号码", "id_number"),
    ("身份证号", "id_number"),
    ("身份证号码", "id_number"),
    ("公民身份证号码", "id_number"),
    ("证件号码", "id_number"),
    ("证件类型", "document_type"),
    ("性别", "sex"),
    ("出生日期", "birth_date"),
    ("出生年月日", "birth_date"),
    ("民族", "ethnicity"),
    ("户籍地", "hukou_place"),
    ("户籍所在地", "hukou_place"),
    ("户籍地址", "hukou_place"),
    ("所在社区", "community"),
    ("社区", "community"),
    ("村(社区)", "community"),
    ("村(居)", "community"),
    ("现住址", "address"),
    ("住址", "address"),
    ("现居住地址", "address"),
    ("家庭住址", "address"),
    ("联系电话", "phone"),
    ("电话", "phone"),
    ("手机号码", "phone"),
    ("学校", "school"),
    ("就读学校", "school"),
    ("年级", "grade"),
    ("健康状况", "health"),
    ("残疾等级", "disability_grade"),
    ("家庭经济状况", "economic_status"),
    ("经济状况", "economic_status"),
    ("困境类型", "categories"),
    ("困境儿童类型", "categories"),
    ("困境认定日期", "category_since"),
    ("认定日期", "category_since"),
    ("认定来源", "category_source"),
    ("信息来源", "category_source"),
    ("监护人姓名", "guardian_name"),
    ("监护人关系", "guardian_relationship"),
    ("与监护人关系", "guardian_relationship"),
    ("监护人电话", "guardian_phone"),
    ("监护人联系电话", "guardian_phone"),
    ("监护情况", "guardian_situation"),
    ("监护人状况", "guardian_situation"),
    ("状态", "status"),
];

/// The canonical field names an import row may carry.
pub const FIELDS: &[&str] = &[
    "name",
    "id_number",
    "document_type",
    "sex",
    "birth_date",
    "ethnicity",
    "hukou_place",
    "community",
    "address",
    "phone",
    "school",
    "grade",
    "health",
    "disability_grade",
    "economic_status",
    "categories",
    "category_since",
    "category_source",
    "guardian_name",
    "guardian_relationship",
    "guardian_phone",
    "guardian_situation",
    "status",
];

/// The form headers are compared in: full-width folded, lowercase, without whitespace, `*`,
/// `_`, `-` or a stray byte order mark.
fn header_key(header: &str) -> String {
    header
        .chars()
        .map(fold_width)
        .filter(|c| !c.is_whitespace() && !matches!(c, '*' | '_' | '-' | '\u{FEFF}'))
        .flat_map(char::to_lowercase)
        .collect()
}

/// The canonical field a header stands for, from [`STANDARD_HEADERS`] or [`FIELDS`].
pub fn canonical_field(header: &str) -> Option<&'static str> {
    let key = header_key(header);
    if key.is_empty() {
        return None;
    }
    STANDARD_HEADERS
        .iter()
        .find(|(standard, _)| header_key(standard) == key)
        .map(|(_, field)| *field)
        .or_else(|| {
            FIELDS
                .iter()
                .copied()
                .find(|field| header_key(field) == key)
        })
}

/// Which column holds which field, worked out once from the headers.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ColumnMap {
    /// The field of each column, by column index; `None` for an unmapped or ignored column.
    columns: Vec<Option<String>>,
    /// The column of each field.
    fields: HashMap<String, usize>,
    headers: Vec<String>,
    unknown: Vec<String>,
    duplicates: Vec<String>,
}

impl ColumnMap {
    /// Maps headers to fields: first through the user's mapping (file header → field), then
    /// through the standard headers.
    ///
    /// The user's mapping is matched like the standard headers (ignoring width, spaces and
    /// case). Its target may be a canonical field name or a standard header (`姓名`), which
    /// is resolved to its field; any other target is kept as given, for fields this module
    /// does not know. A target of `""` means the column is deliberately ignored; it is then
    /// not reported as unknown. When two columns map to the same field the first wins and
    /// the later header is listed by [`ColumnMap::duplicates`].
    pub fn new(headers: &[String], user: &HashMap<String, String>) -> ColumnMap {
        let user: HashMap<String, &str> = user
            .iter()
            .map(|(from, to)| (header_key(from), to.trim()))
            .collect();
        let mut map = ColumnMap {
            headers: headers.to_vec(),
            ..ColumnMap::default()
        };
        for (index, header) in headers.iter().enumerate() {
            let key = header_key(header);
            let field = match user.get(&key) {
                Some(&"") => None,
                Some(target) => {
                    Some(canonical_field(target).map_or_else(|| target.to_string(), str::to_string))
                }
                None if key.is_empty() => None,
                None => match canonical_field(header) {
                    Some(field) => Some(field.to_string()),
                    None => {
                        map.unknown.push(header.clone());
                        None
                    }
                },
            };
            let field = match field {
                Some(field) if map.fields.contains_key(&field) => {
                    map.duplicates.push(header.clone());
                    None
                }
                Some(field) => {
                    map.fields.insert(field.clone(), index);
                    Some(field)
                }
                None => None,
            };
            map.columns.push(field);
        }
        map
    }

    /// Maps headers through the standard headers only.
    pub fn standard(headers: &[String]) -> ColumnMap {
        ColumnMap::new(headers, &HashMap::new())
    }

    /// The column index of a field.
    pub fn index(&self, field: &str) -> Option<usize> {
        self.fields.get(field).copied()
    }

    /// The header of the column that holds a field, as the file spells it.
    pub fn header_of(&self, field: &str) -> Option<&str> {
        self.index(field)
            .and_then(|index| self.headers.get(index))
            .map(String::as_str)
    }

    /// The field a column holds, if any.
    pub fn field_of(&self, index: usize) -> Option<&str> {
        self.columns.get(index).and_then(Option::as_deref)
    }

    /// A field's cell in a row; `None` when no column holds the field or the row is short.
    pub fn get<'a>(&self, row: &'a Row, field: &str) -> Option<&'a Cell> {
        self.index(field).and_then(|index| row.get(index))
    }

    /// The required fields no column holds, in the order asked.
    pub fn missing(&self, required: &[&str]) -> Vec<String> {
        required
            .iter()
            .filter(|field| !self.fields.contains_key(**field))
            .map(|field| field.to_string())
            .collect()
    }

    /// Headers that map to no field, as the file spells them.
    pub fn unknown_headers(&self) -> &[String] {
        &self.unknown
    }

    /// Headers whose field an earlier column already holds, so their column is not read.
    pub fn duplicates(&self) -> &[String] {
        &self.duplicates
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detect_format_prefers_content_then_name() {
        assert_eq!(detect_format("a.csv", b"PK\x03\x04rest"), SheetFormat::Xlsx);
        assert_eq!(detect_format("A.XLSX", b""), SheetFormat::Xlsx);
        assert_eq!(detect_format("a.xlsx", b"name,id"), SheetFormat::Xlsx);
        assert_eq!(detect_format("a.csv", b"name,id"), SheetFormat::Csv);
        assert_eq!(detect_format("", b"PK"), SheetFormat::Csv);
    }

    #[test]
    fn sniff_encoding_accepts_a_cut_multibyte_character() {
        let text = "姓名,身份证号".as_bytes();
        // Cutting inside the three bytes of 姓 leaves an incomplete sequence at the end.
        assert_eq!(sniff_encoding(&text[..1]), UTF_8);
        assert_eq!(sniff_encoding(&text[..2]), UTF_8);
        assert_eq!(sniff_encoding(text), UTF_8);
        let (gbk, _, _) = GB18030.encode("姓名,身份证号");
        assert_eq!(sniff_encoding(&gbk), GB18030);
        assert_eq!(sniff_encoding(b"\xEF\xBB\xBFa"), UTF_8);
        assert_eq!(sniff_encoding(b"\xFF\xFEa\0"), UTF_16LE);
        assert_eq!(sniff_encoding(b""), UTF_8);
    }

    #[test]
    fn column_names_follow_spreadsheet_letters() {
        assert_eq!(column_name(0), "A");
        assert_eq!(column_name(25), "Z");
        assert_eq!(column_name(26), "AA");
        assert_eq!(column_name(27), "AB");
        assert_eq!(column_name(701), "ZZ");
        assert_eq!(column_name(702), "AAA");
    }

    #[test]
    fn cell_text_is_what_a_person_reads() {
        assert_eq!(
            Cell::Number(3.205_062_015_030_41e17).to_text(),
            "320506201503041000"
        );
        assert_eq!(Cell::Number(42067.0).to_text(), "42067");
        assert_eq!(Cell::Number(1.5).to_text(), "1.5");
        let date = NaiveDate::from_ymd_opt(2015, 3, 4).expect("valid date");
        assert_eq!(Cell::Date(date).to_text(), "2015-03-04");
        assert_eq!(Cell::Empty.to_text(), "");
        assert_eq!(
            Cell::text("  张三 \u{3000}"),
            Cell::Text("张三".to_string())
        );
        assert_eq!(Cell::text(" \t"), Cell::Empty);
        assert!(Cell::Text(String::new()).is_empty());
        assert!(!Cell::Number(0.0).is_empty());
    }

    #[test]
    fn canonical_field_accepts_variants() {
        assert_eq!(canonical_field("姓名"), Some("name"));
        assert_eq!(canonical_field(" 姓 名 "), Some("name"));
        assert_eq!(canonical_field("*姓名"), Some("name"));
        assert_eq!(canonical_field("村（社区）"), Some("community"));
        assert_eq!(canonical_field("村(社区)"), Some("community"));
        assert_eq!(canonical_field("身份证号码"), Some("id_number"));
        assert_eq!(canonical_field("公民身份号码"), Some("id_number"));
        assert_eq!(
            canonical_field("与监护人关系"),
            Some("guardian_relationship")
        );
        assert_eq!(canonical_field("id_number"), Some("id_number"));
        assert_eq!(canonical_field("ID Number"), Some("id_number"));
        assert_eq!(
            canonical_field("ｇｕａｒｄｉａｎ＿ｐｈｏｎｅ"),
            Some("guardian_phone")
        );
        assert_eq!(canonical_field("备注"), None);
        assert_eq!(canonical_field(""), None);
    }

    #[test]
    fn every_standard_header_maps_to_a_known_field() {
        for (header, field) in STANDARD_HEADERS {
            assert!(FIELDS.contains(field), "{header} → {field}");
        }
        for field in FIELDS {
            assert_eq!(canonical_field(field), Some(*field));
        }
    }

    #[test]
    fn readers_can_move_to_another_thread() {
        fn assert_send<T: Send>() {}
        assert_send::<SheetReader>();
        assert_send::<SheetError>();
    }

    #[test]
    fn sheet_error_messages_say_where() {
        let err = SheetError::Encoding {
            line: 12,
            column: "C".to_string(),
            encoding: "GB18030",
        };
        assert_eq!(err.code(), "encoding");
        assert_eq!(err.line(), Some(12));
        assert!(err.is_row_error());
        assert!(err.to_string().starts_with("line 12, column C: "), "{err}");
        let err = SheetError::NoWorksheet {
            wanted: Some("名单".to_string()),
            available: vec!["Sheet1".to_string(), "Sheet2".to_string()],
        };
        assert_eq!(
            err.to_string(),
            "there is no worksheet named `名单`; the workbook has: Sheet1, Sheet2"
        );
    }
}

//! `shouhu import minors`: a spreadsheet of minors (CSV in UTF-8 or GBK, or XLSX) into a
//! district, with a progress bar, a summary and the list of invalid rows.
//!
//! The import itself (checks, batches, the all-or-nothing transaction, history and audit) is
//! `shouhu_registry::MinorImporter`; this file parses the options, drives the progress bar and
//! prints what happened. Like every report of an import, the output names lines, columns and
//! rules, never a cell's content.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::{Args, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use shouhu_audit::Actor;
use shouhu_kernel::Principal;
use shouhu_registry::{ImportMode, ImportOptions, ImportProgress, ImportReport, RowError};

use crate::app::Services;
use crate::error::ServerError;

/// How many invalid rows the terminal shows; `--errors FILE` gets all of them that the report
/// lists.
const SHOWN_ERRORS: usize = 20;

#[derive(Subcommand, Debug)]
pub enum ImportAction {
    /// Import minors from CSV (UTF-8 with or without BOM, or GBK) or XLSX with the standard
    /// Chinese headers (姓名, 公民身份号码, 性别, 出生日期, 所在社区, 困境类型, …).
    Minors(MinorsArgs),
}

#[derive(Args, Debug)]
pub struct MinorsArgs {
    /// The district's slug, e.g. wuzhong.
    #[arg(long)]
    pub tenant: String,
    /// all-or-nothing (one invalid row and nothing is written) or skip-invalid.
    #[arg(long, default_value = "all-or-nothing", value_parser = parse_mode)]
    pub mode: ImportMode,
    /// Map a header of the file to a field or a standard header: `--map 学生姓名=姓名`;
    /// `--map 备注=` ignores a column. Repeat for several.
    #[arg(long = "map", value_parser = parse_mapping)]
    pub map: Vec<(String, String)>,
    /// The worksheet of a workbook; the first visible one by default.
    #[arg(long)]
    pub sheet: Option<String>,
    /// Write every listed invalid row (line, column, header, code, reason) to this CSV file.
    #[arg(long)]
    pub errors: Option<PathBuf>,
    /// How many invalid rows the report lists (all are counted).
    #[arg(long, default_value_t = 10_000)]
    pub max_errors: usize,
    /// No progress bar (for scripts and logs).
    #[arg(long)]
    pub quiet: bool,
    /// The file to import.
    pub file: PathBuf,
}

fn parse_mode(text: &str) -> Result<ImportMode, String> {
    ImportMode::parse(text).ok_or_else(|| "expected all-or-nothing or skip-invalid".to_owned())
}

fn parse_mapping(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((from, to)) if !from.trim().is_empty() => {
            Ok((from.trim().to_owned(), to.trim().to_owned()))
        }
        _ => Err("expected HEADER=FIELD (or HEADER= to ignore a column)".to_owned()),
    }
}

fn progress_bar(file: &Path, quiet: bool) -> ProgressBar {
    if quiet {
        return ProgressBar::hidden();
    }
    let size = std::fs::metadata(file).map(|m| m.len()).unwrap_or(0);
    let bar = ProgressBar::new(size);
    // The template is a constant, so it always parses; the default style stands in anyway.
    let style = ProgressStyle::with_template(
        "{spinner} [{elapsed_precise}] {wide_bar} {percent}% {msg} ({eta} left)",
    )
    .unwrap_or_else(|_| ProgressStyle::default_bar());
    bar.set_style(style);
    bar
}

/// Moves the bar: by bytes for CSV, by rows against the declared size for XLSX.
fn advance(bar: &ProgressBar, p: ImportProgress) {
    match (p.bytes_total, p.rows_hint) {
        (_, Some(rows)) if rows > 0 => {
            bar.set_length(rows);
            bar.set_position(p.rows.min(rows));
        }
        (Some(total), _) if total > 0 => {
            bar.set_length(total);
            bar.set_position(p.bytes_read.min(total));
        }
        _ => {}
    }
    bar.set_message(format!("{} rows", p.rows));
}

/// Runs `shouhu import …`.
pub async fn run(services: &Services, action: ImportAction) -> Result<(), ServerError> {
    let ImportAction::Minors(args) = action;
    let tenant = crate::cli::tenant_id(services, &args.tenant).await?;
    let source = std::fs::File::open(&args.file)
        .map_err(|e| ServerError::Usage(format!("cannot open {}: {e}", args.file.display())))?;
    let mut options = ImportOptions::new(
        args.file
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
    );
    options.mode = args.mode;
    options.column_map = args.map.iter().cloned().collect::<HashMap<_, _>>();
    options.sheet = args.sheet.clone();
    options.max_errors = args.max_errors;
    let bar = Arc::new(progress_bar(&args.file, args.quiet));
    let moved = Arc::clone(&bar);
    let progress = move |p: ImportProgress| advance(&moved, p);
    let report = services
        .registry
        .importer()
        .import(
            &Principal::system(tenant),
            &Actor::system("cli"),
            source,
            options,
            Some(&progress),
        )
        .await;
    bar.finish_and_clear();
    let report = report?;
    print_report(&report);
    if let Some(path) = &args.errors {
        write_errors(path, &report.errors)?;
        println!("invalid rows written to {}", path.display());
    }
    if report.invalid > 0 && !report.committed {
        return Err(ServerError::Usage(format!(
            "nothing imported: {} invalid rows (fix them, or use --mode skip-invalid)",
            report.invalid
        )));
    }
    Ok(())
}

fn print_report(report: &ImportReport) {
    let encoding = report
        .encoding
        .as_deref()
        .map(|e| format!(", {e}"))
        .unwrap_or_default();
    println!(
        "{} ({}{encoding}, {}): {} rows read in {:.1} s ({:.0} rows/s)",
        report.file_name,
        report.format,
        report.mode.code(),
        report.rows_read,
        report.elapsed_ms as f64 / 1000.0,
        report.rows_per_second()
    );
    if report.committed {
        println!(
            "committed: {} created, {} updated, {} unchanged, {} invalid rows left out",
            report.created, report.updated, report.unchanged, report.invalid
        );
    } else {
        println!("rolled back: nothing was written");
    }
    if !report.ignored_headers.is_empty() {
        println!(
            "ignored columns (no field of that name; use --map): {}",
            report.ignored_headers.join(", ")
        );
    }
    for e in report.errors.iter().take(SHOWN_ERRORS) {
        println!("  {}", describe(e));
    }
    let listed = report.errors.len().min(SHOWN_ERRORS) as u64;
    if report.invalid > listed {
        println!(
            "  … and {} more invalid rows (--errors FILE lists them)",
            report.invalid - listed
        );
    }
}

/// One invalid row as a line of the summary: `line 7, column C (公民身份号码): code: reason`.
fn describe(e: &RowError) -> String {
    let place = match (&e.column, &e.header) {
        (Some(col), Some(header)) => format!(", column {col} ({header})"),
        (Some(col), None) => format!(", column {col}"),
        _ => String::new(),
    };
    format!("line {}{place}: {}: {}", e.line, e.code, e.message)
}

fn write_errors(path: &Path, errors: &[RowError]) -> Result<(), ServerError> {
    let file = std::fs::File::create(path)?;
    let mut buffered = std::io::BufWriter::new(file);
    // A byte order mark, so that Excel opens the UTF-8 file with the Chinese headers intact.
    buffered.write_all(b"\xEF\xBB\xBF")?;
    let mut out = csv::Writer::from_writer(buffered);
    let fail = |e: csv::Error| ServerError::Usage(format!("writing {}: {e}", path.display()));
    out.write_record(["line", "column", "header", "code", "reason"])
        .map_err(fail)?;
    for e in errors {
        out.write_record([
            e.line.to_string().as_str(),
            e.column.as_deref().unwrap_or(""),
            e.header.as_deref().unwrap_or(""),
            e.code.as_str(),
            e.message.as_str(),
        ])
        .map_err(fail)?;
    }
    out.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mappings_and_modes_parse() {
        assert_eq!(
            parse_mapping("学生姓名=姓名"),
            Ok(("学生姓名".into(), "姓名".into()))
        );
        assert_eq!(parse_mapping("备注="), Ok(("备注".into(), String::new())));
        assert!(parse_mapping("=姓名").is_err());
        assert!(parse_mapping("姓名").is_err());
        assert_eq!(parse_mode("skip_invalid"), Ok(ImportMode::SkipInvalid));
        assert!(parse_mode("sometimes").is_err());
    }

    #[test]
    fn an_error_line_names_place_and_rule_only() {
        let e = RowError {
            line: 7,
            column: Some("C".into()),
            header: Some("公民身份号码".into()),
            code: "id_number.excel_scientific".into(),
            message: "the number was turned into a float".into(),
        };
        assert_eq!(
            describe(&e),
            "line 7, column C (公民身份号码): id_number.excel_scientific: \
             the number was turned into a float"
        );
    }
}

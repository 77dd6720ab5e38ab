//! Reading CSV and XLSX import files and writing XLSX ledgers, end to end.
//!
//! Every fixture is made here, in memory (GBK bytes with encoding_rs's encoder, workbooks with
//! rust_xlsxwriter), so that what each test reads is visible next to what it asserts.

use std::collections::HashMap;
use std::io::{Cursor, Read};

use calamine::{Data, Reader, Xlsx};
use chrono::NaiveDate;
use rust_xlsxwriter::{ExcelDateTime, Format, Workbook};
use shouhu_registry::sheet_in::{Cell, ColumnMap, Row, SheetError, SheetOptions, SheetReader};
use shouhu_registry::sheet_out::{OutCell, XlsxLedgerWriter};
use shouhu_registry::{parse_date_or_serial, parse_resident_id, IdRule, SheetFormat};

/// A valid resident identity number (born 2015-03-04, female).
const ID: &str = "320506201503041246";

fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).expect("valid date")
}

fn text(s: &str) -> Cell {
    Cell::Text(s.to_string())
}

/// Opens bytes as an upload called `name`.
fn open(bytes: Vec<u8>, name: &str) -> SheetReader {
    SheetReader::from_reader(Cursor::new(bytes), name, &SheetOptions::default())
        .expect("the sheet opens")
}

/// Reads every row, failing on the first error.
fn rows(reader: SheetReader) -> Vec<Row> {
    reader.map(|row| row.expect("a good row")).collect()
}

// CSV: encodings.

#[test]
fn utf8_csv_with_bom_drops_the_bom_from_the_first_header() {
    let mut bytes = b"\xEF\xBB\xBF".to_vec();
    bytes.extend_from_slice(format!("姓名,身份证号\n张三,{ID}\n").as_bytes());
    let reader = open(bytes, "名单.csv");
    assert_eq!(reader.format(), SheetFormat::Csv);
    assert_eq!(reader.encoding(), Some("UTF-8"));
    assert_eq!(reader.headers(), ["姓名", "身份证号"]);
    let map = ColumnMap::standard(reader.headers());
    assert_eq!(map.index("name"), Some(0));
    let rows = rows(reader);
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].line, 2);
    assert_eq!(rows[0].cells, [text("张三"), text(ID)]);
}

#[test]
fn utf8_csv_without_bom_reads_the_same() {
    let bytes = format!("姓名,身份证号\r\n 张三 ,{ID}\r\n").into_bytes();
    let reader = open(bytes, "名单.csv");
    assert_eq!(reader.encoding(), Some("UTF-8"));
    assert_eq!(reader.headers(), ["姓名", "身份证号"]);
    let rows = rows(reader);
    assert_eq!(rows[0].cells, [text("张三"), text(ID)]);
}

#[test]
fn gbk_csv_is_decoded_as_gb18030() {
    let csv = format!("姓名,身份证号,民族\n阿依古丽·买买提,{ID},维吾尔族\n张三,{ID},汉族\n");
    let (bytes, _, unmappable) = encoding_rs::GBK.encode(&csv);
    assert!(!unmappable);
    assert!(
        std::str::from_utf8(&bytes).is_err(),
        "the fixture must not be UTF-8"
    );
    let reader = open(bytes.into_owned(), "名单.csv");
    assert_eq!(reader.encoding(), Some("GBK/GB18030"));
    assert_eq!(reader.headers(), ["姓名", "身份证号", "民族"]);
    let rows = rows(reader);
    assert_eq!(rows.len(), 2);
    assert_eq!(
        rows[0].cells,
        [text("阿依古丽·买买提"), text(ID), text("维吾尔族")]
    );
    assert_eq!(rows[1].line, 3);
}

#[test]
fn utf8_character_cut_at_the_sniffing_boundary_is_still_utf8() {
    // The header and filler bring the multi-byte name across the 64 KiB mark.
    let mut csv = String::from("姓名,备注\n");
    let filler_row = format!("x,{}\n", "a".repeat(98));
    while csv.len() + filler_row.len() < 64 * 1024 - 1 {
        csv.push_str(&filler_row);
    }
    let filler = 64 * 1024 - 1 - csv.len();
    csv.push_str(&"b".repeat(filler.saturating_sub(2)));
    csv.push_str(",\n");
    // The first of the three bytes of 阿 is the last byte of the sample.
    assert_eq!(csv.len(), 64 * 1024 - 1);
    csv.push_str("阿依古丽·买买提,尾\n");
    let reader = open(csv.into_bytes(), "名单.csv");
    assert_eq!(reader.encoding(), Some("UTF-8"));
    let rows = rows(reader);
    let last = rows.last().expect("rows");
    assert_eq!(last.cells, [text("阿依古丽·买买提"), text("尾")]);
}

#[test]
fn other_bytes_after_the_sniffed_start_are_reported_per_line() {
    let mut bytes = b"name,note\n".to_vec();
    let mut lines = 1;
    while bytes.len() < 70 * 1024 {
        bytes.extend_from_slice(b"x,plain ascii filler text\n");
        lines += 1;
    }
    let (gbk, _, _) = encoding_rs::GBK.encode("张三,坏\n");
    bytes.extend_from_slice(&gbk);
    bytes.extend_from_slice(b"after,fine\n");
    let reader = open(bytes, "mixed.csv");
    assert_eq!(reader.encoding(), Some("UTF-8"));
    let results: Vec<Result<Row, SheetError>> = reader.collect();
    let err = results[results.len() - 2]
        .as_ref()
        .expect_err("GBK bytes in UTF-8");
    assert!(err.is_row_error());
    assert_eq!(err.line(), Some(lines + 1));
    assert_eq!(
        err.to_string(),
        format!(
            "line {}, column A: the text is not valid UTF-8; save the file as CSV UTF-8 and \
             upload it again",
            lines + 1
        )
    );
    let last = results
        .last()
        .expect("a row")
        .as_ref()
        .expect("the next row reads");
    assert_eq!(last.line, lines + 2);
    assert_eq!(last.cells, [text("after"), text("fine")]);
}

#[test]
fn bytes_that_are_not_gbk_are_reported_with_their_place() {
    let (mut bytes, _, _) = encoding_rs::GBK.encode("姓名,民族\n张三,汉族\n");
    let mut bytes = bytes.to_mut().clone();
    // 0xFF never starts a GBK or GB18030 character.
    bytes.extend_from_slice(b"\xD5\xC5,\xFF\xFF\n");
    bytes.extend_from_slice(&encoding_rs::GBK.encode("李四,回族\n").0);
    let reader = open(bytes, "a.csv");
    assert_eq!(reader.encoding(), Some("GBK/GB18030"));
    let results: Vec<Result<Row, SheetError>> = reader.collect();
    assert_eq!(results.len(), 3);
    let err = results[1].as_ref().expect_err("bad bytes");
    assert_eq!(
        err.to_string(),
        "line 3, column B: the text is not valid GBK/GB18030; save the file as CSV UTF-8 and \
         upload it again"
    );
    let last = results[2].as_ref().expect("the next row reads");
    assert_eq!(last.cells, [text("李四"), text("回族")]);
}

#[test]
fn utf16_csv_with_bom_is_decoded() {
    let mut bytes = vec![0xFF, 0xFE];
    for unit in "姓名,性别\n张三,男\n".encode_utf16() {
        bytes.extend_from_slice(&unit.to_le_bytes());
    }
    let reader = open(bytes, "名单.csv");
    assert_eq!(reader.encoding(), Some("UTF-16LE"));
    assert_eq!(reader.headers(), ["姓名", "性别"]);
    assert_eq!(rows(reader)[0].cells, [text("张三"), text("男")]);
}

// CSV: records and line numbers.

#[test]
fn short_records_are_padded_and_blank_lines_skipped() {
    let csv = "姓名,性别,民族\n张三\n\n,,\n李四,女,汉族,多余\n";
    let rows = rows(open(csv.as_bytes().to_vec(), "a.csv"));
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0].line, 2);
    assert_eq!(rows[0].cells, [text("张三"), Cell::Empty, Cell::Empty]);
    // Lines 3 (empty) and 4 (only commas) hold nothing and are passed over.
    assert_eq!(rows[1].line, 5);
    assert_eq!(
        rows[1].cells.len(),
        4,
        "extra cells are kept for the importer to judge"
    );
}

#[test]
fn quoted_fields_with_commas_and_newlines_keep_later_line_numbers() {
    let csv = "姓名,住址,电话\n\
               张三,\"苏州市, 姑苏区\n平江路 1 号\n3 楼\",13800000000\n\
               李四,\"说 \"\"你好\"\"\",13900000000\n\
               王五,普通,13700000000\n";
    let rows = rows(open(csv.as_bytes().to_vec(), "a.csv"));
    assert_eq!(rows.len(), 3);
    assert_eq!(rows[0].line, 2);
    assert_eq!(rows[0].cells[1], text("苏州市, 姑苏区\n平江路 1 号\n3 楼"));
    assert_eq!(
        rows[1].line, 5,
        "the record after a three-line record starts on line 5"
    );
    assert_eq!(rows[1].cells[1], text("说 \"你好\""));
    assert_eq!(rows[2].line, 6);
}

#[test]
fn an_empty_file_has_no_header() {
    let err = SheetReader::from_reader(Cursor::new(Vec::new()), "a.csv", &Default::default())
        .expect_err("nothing to read");
    assert!(matches!(err, SheetError::NoHeader), "{err}");
    let err = SheetReader::from_reader(
        Cursor::new(b"\n,,\n".to_vec()),
        "a.csv",
        &Default::default(),
    )
    .expect_err("only blank lines");
    assert!(matches!(err, SheetError::NoHeader), "{err}");
}

#[test]
fn a_hundred_thousand_rows_stream_through() {
    const ROWS: u64 = 100_000;
    let mut csv = String::with_capacity(6 * 1024 * 1024);
    csv.push_str("姓名,身份证号,现住址\n");
    for i in 0..ROWS {
        csv.push_str(&format!("儿童{i},{ID},苏州市姑苏区平江路{i}号\n"));
    }
    let total = csv.len() as u64;
    let mut reader = open(csv.into_bytes(), "big.csv");
    assert_eq!(reader.bytes_total(), Some(total));
    let mut count = 0u64;
    let mut read_at_first_row = None;
    while let Some(row) = reader.next() {
        let row = row.expect("a good row");
        count += 1;
        assert_eq!(row.line, count + 1);
        if count == 1 {
            read_at_first_row = Some(reader.bytes_read());
        }
        if count == ROWS {
            assert_eq!(row.cells[0], text(&format!("儿童{}", ROWS - 1)));
        }
    }
    assert_eq!(count, ROWS);
    // After the first row only the read-ahead had been read, not the file.
    let early = read_at_first_row.expect("a first row");
    assert!(
        early <= 128 * 1024,
        "read {early} of {total} bytes before the first row"
    );
    assert_eq!(reader.bytes_read(), total);
}

#[test]
fn open_reads_a_file_and_names_a_missing_one() {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"));
    let path = dir.join("sheets-open-test.csv");
    std::fs::write(&path, format!("姓名,身份证号\n张三,{ID}\n")).expect("write fixture");
    let reader = SheetReader::open(&path).expect("opens");
    assert_eq!(reader.headers(), ["姓名", "身份证号"]);
    assert_eq!(rows(reader).len(), 1);

    let missing = dir.join("no-such-file.csv");
    let err = SheetReader::open(&missing).expect_err("missing");
    assert_eq!(err.code(), "unreadable_file");
    assert!(err.to_string().contains("no-such-file.csv"), "{err}");
}

// XLSX reading.

/// A workbook the way people make them: an identity number typed into a General cell (so
/// Excel stored it as a number), a date, a bare serial, and an identity number as text.
fn sample_workbook() -> Vec<u8> {
    let mut workbook = Workbook::new();
    let sheet = workbook.add_worksheet();
    sheet.set_name("名单").expect("name");
    let date_format = Format::new().set_num_format("yyyy-mm-dd");
    for (col, header) in ["姓名", "身份证号", "出生日期", "困境认定日期", "备注"]
        .iter()
        .enumerate()
    {
        sheet.write_string(0, col as u16, *header).expect("header");
    }
    sheet.write_string(1, 0, " 张三 ").expect("name");
    sheet
        .write_number(1, 1, 3.205_062_015_030_41e17)
        .expect("mangled id");
    let birth = ExcelDateTime::from_ymd(2015, 3, 4).expect("date");
    sheet
        .write_date_with_format(1, 2, &birth, &date_format)
        .expect("date");
    sheet.write_number(1, 3, 42067).expect("serial");
    // Row 3 is left empty; row 4 holds the second minor.
    sheet.write_string(3, 0, "阿依古丽·买买提").expect("name");
    sheet.write_string(3, 1, ID).expect("text id");
    sheet.write_string(3, 4, "=1+1").expect("text");
    workbook.save_to_buffer().expect("workbook")
}

#[test]
fn xlsx_cells_keep_numbers_dates_and_text_apart() {
    let reader = open(sample_workbook(), "名单.xlsx");
    assert_eq!(reader.format(), SheetFormat::Xlsx);
    assert_eq!(reader.sheet_name(), Some("名单"));
    assert_eq!(reader.encoding(), None);
    assert_eq!(
        reader.headers(),
        ["姓名", "身份证号", "出生日期", "困境认定日期", "备注"]
    );
    assert_eq!(reader.total_rows_hint(), Some(3));
    let rows = rows(reader);
    assert_eq!(rows.len(), 2);

    assert_eq!(rows[0].line, 2);
    assert_eq!(rows[0].cells[0], text("张三"));
    assert_eq!(rows[0].cells[1], Cell::Number(3.205_062_015_030_41e17));
    assert_eq!(rows[0].cells[2], Cell::Date(date(2015, 3, 4)));
    assert_eq!(rows[0].cells[3], Cell::Number(42067.0));
    assert_eq!(rows[0].cells[4], Cell::Empty);

    // What the importer does with them: the number is refused as mangled, the serial read.
    let today = date(2025, 6, 1);
    let err = parse_resident_id(&rows[0].cells[1].to_text(), today).expect_err("mangled");
    assert_eq!(err.rule, IdRule::ExcelTruncated);
    assert_eq!(
        parse_date_or_serial(&rows[0].cells[3].to_text()),
        Ok(date(2015, 3, 4))
    );

    assert_eq!(rows[1].line, 4, "the empty row 3 is skipped but counted");
    assert_eq!(rows[1].cells[0], text("阿依古丽·买买提"));
    assert_eq!(rows[1].cells[1], text(ID));
    assert_eq!(rows[1].cells[4], text("=1+1"));
}

#[test]
fn xlsx_reads_the_named_or_the_first_visible_worksheet() {
    let mut workbook = Workbook::new();
    let lists = workbook.add_worksheet();
    lists.set_name("选项").expect("name");
    lists.write_string(0, 0, "下拉").expect("cell");
    lists.set_hidden(true);
    let data = workbook.add_worksheet();
    data.set_name("数据").expect("name");
    data.write_string(2, 1, "姓名").expect("cell");
    data.write_string(3, 1, "张三").expect("cell");
    // Excel will not hide the active sheet, which is the first unless another is chosen.
    data.set_active(true);
    let bytes = workbook.save_to_buffer().expect("workbook");

    let reader = open(bytes.clone(), "upload.bin");
    assert_eq!(reader.sheet_name(), Some("数据"));
    // The header is on line 3 in column B; column A has no header.
    assert_eq!(reader.header_line(), 3);
    assert_eq!(reader.headers(), ["", "姓名"]);
    let rows = rows(reader);
    assert_eq!(rows[0].line, 4);
    assert_eq!(rows[0].cells, [Cell::Empty, text("张三")]);

    let options = SheetOptions {
        sheet_name: Some("选项".to_string()),
        ..SheetOptions::default()
    };
    let reader =
        SheetReader::from_reader(Cursor::new(bytes.clone()), "a.xlsx", &options).expect("opens");
    assert_eq!(reader.headers(), ["下拉"]);

    let options = SheetOptions {
        sheet_name: Some("名单".to_string()),
        ..SheetOptions::default()
    };
    let err = SheetReader::from_reader(Cursor::new(bytes), "a.xlsx", &options)
        .expect_err("no such sheet");
    assert_eq!(
        err.to_string(),
        "there is no worksheet named `名单`; the workbook has: 选项, 数据"
    );
}

#[test]
fn broken_and_legacy_workbooks_are_refused_clearly() {
    let err = SheetReader::from_reader(
        Cursor::new(b"not a zip at all".to_vec()),
        "名单.xlsx",
        &Default::default(),
    )
    .expect_err("not a workbook");
    assert_eq!(err.code(), "bad_workbook", "{err}");

    let mut truncated = sample_workbook();
    truncated.truncate(truncated.len() / 2);
    let err = SheetReader::from_reader(Cursor::new(truncated), "a.xlsx", &Default::default())
        .expect_err("truncated");
    assert_eq!(err.code(), "bad_workbook", "{err}");

    let mut xls = vec![0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1];
    xls.extend_from_slice(&[0; 512]);
    let err = SheetReader::from_reader(Cursor::new(xls), "名单.xls", &Default::default())
        .expect_err("legacy");
    assert!(matches!(err, SheetError::LegacyXls), "{err}");
}

#[test]
fn a_zip_bomb_is_refused_before_it_is_unpacked() {
    use std::io::Write;
    // A real workbook with one more part: a shared-string table of 300 MiB of spaces, which
    // deflates to well under a megabyte.
    let mut archive = zip::ZipArchive::new(Cursor::new(sample_workbook())).expect("zip");
    let mut out = zip::ZipWriter::new(Cursor::new(Vec::new()));
    for i in 0..archive.len() {
        let part = archive.by_index_raw(i).expect("part");
        if !part.name().expect("name").ends_with("sharedStrings.xml") {
            out.raw_copy_file(part).expect("copy");
        }
    }
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .large_file(true);
    out.start_file("xl/sharedStrings.xml", options)
        .expect("part");
    let block = vec![b' '; 1 << 20];
    for _ in 0..300 {
        out.write_all(&block).expect("write");
    }
    let bomb = out.finish().expect("finish").into_inner();
    assert!(bomb.len() < 4 << 20, "{} bytes", bomb.len());
    let err = SheetReader::from_reader(Cursor::new(bomb), "bomb.xlsx", &Default::default())
        .expect_err("refused");
    assert_eq!(err.code(), "workbook_too_large", "{err}");
    assert!(err.to_string().contains("sharedStrings.xml"), "{err}");
}

#[test]
fn dropping_an_xlsx_reader_early_stops_its_worker() {
    let mut writer = XlsxLedgerWriter::new("台账", &["姓名"]).expect("writer");
    for i in 0..5_000 {
        writer
            .push_row(&[OutCell::Text(format!("儿童{i}"))])
            .expect("row");
    }
    let bytes = writer.finish().expect("workbook");
    let mut reader = open(bytes, "a.xlsx");
    assert!(reader.next().is_some());
    drop(reader);
}

// Column mapping.

fn headers(names: &[&str]) -> Vec<String> {
    names.iter().map(|s| s.to_string()).collect()
}

#[test]
fn standard_headers_map_with_their_variants() {
    let map = ColumnMap::standard(&headers(&[
        "姓 名",
        "公民身份号码",
        "村（社区）",
        "与监护人关系",
        "监护人电话",
        "birth_date",
        "备注",
        "",
        "身份证号",
    ]));
    assert_eq!(map.index("name"), Some(0));
    assert_eq!(map.index("id_number"), Some(1));
    assert_eq!(map.index("community"), Some(2));
    assert_eq!(map.index("guardian_relationship"), Some(3));
    assert_eq!(map.index("guardian_phone"), Some(4));
    assert_eq!(map.index("birth_date"), Some(5));
    assert_eq!(map.header_of("community"), Some("村（社区）"));
    assert_eq!(map.field_of(1), Some("id_number"));
    assert_eq!(map.unknown_headers(), ["备注"]);
    assert_eq!(map.duplicates(), ["身份证号"]);
    assert_eq!(
        map.missing(&["name", "id_number", "sex", "birth_date", "status"]),
        ["sex", "status"]
    );

    let row = Row {
        line: 2,
        cells: vec![text("张三"), text(ID)],
    };
    assert_eq!(map.get(&row, "id_number"), Some(&text(ID)));
    assert_eq!(
        map.get(&row, "community"),
        None,
        "the row is shorter than the header"
    );
    assert_eq!(map.get(&row, "sex"), None, "no column holds the field");
}

#[test]
fn a_user_mapping_comes_before_the_standard_headers() {
    let user: HashMap<String, String> = [
        ("孩子名字", "name"),
        ("证件号", "身份证号"),
        ("电话", "guardian_phone"),
        ("内部编号", ""),
        ("学籍号", "student_number"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let map = ColumnMap::new(
        &headers(&["孩子名字", "证件号", "电话", "内部编号", "学籍号", "备注"]),
        &user,
    );
    assert_eq!(map.index("name"), Some(0));
    assert_eq!(
        map.index("id_number"),
        Some(1),
        "a standard header as target is resolved"
    );
    assert_eq!(
        map.index("guardian_phone"),
        Some(2),
        "the user's choice wins over 电话→phone"
    );
    assert_eq!(map.index("phone"), None);
    assert_eq!(
        map.index("student_number"),
        Some(4),
        "unknown targets are kept as given"
    );
    assert_eq!(
        map.unknown_headers(),
        ["备注"],
        "a column mapped to \"\" is ignored on purpose"
    );
    assert!(map.missing(&["name", "id_number"]).is_empty());
}

// XLSX writing.

/// Reads a written workbook back with calamine itself, cell for cell.
fn calamine_cells(bytes: Vec<u8>) -> Vec<Vec<Data>> {
    let mut workbook: Xlsx<_> = Xlsx::new(Cursor::new(bytes)).expect("workbook");
    let range = workbook.worksheet_range("台账").expect("sheet");
    range.rows().map(<[Data]>::to_vec).collect()
}

#[test]
fn the_ledger_keeps_ids_and_phones_as_text_and_dates_as_dates() {
    let mut writer =
        XlsxLedgerWriter::new("台账", &["姓名", "身份证号", "出生日期", "电话", "人数"])
            .expect("writer");
    writer.mark_text_column(1).expect("text column");
    writer.mark_text_column(3).expect("text column");
    writer
        .push_row(&[
            "阿依古丽·买买提".into(),
            ID.into(),
            date(2015, 3, 4).into(),
            "13800000000".into(),
            OutCell::Number(3.0),
        ])
        .expect("row");
    writer
        .push_row(&["张三".into(), "11010519491231002X".into()])
        .expect("short row");
    assert_eq!(writer.rows_written(), 2);
    let bytes = writer.finish().expect("workbook");

    let cells = calamine_cells(bytes.clone());
    assert_eq!(
        cells[1][1],
        Data::String(ID.to_string()),
        "the id is a string, not a number"
    );
    assert_eq!(cells[1][3], Data::String("13800000000".to_string()));
    assert!(
        matches!(cells[1][2], Data::DateTime(_)),
        "{:?}",
        cells[1][2]
    );
    assert_eq!(cells[1][4], Data::Float(3.0));
    assert_eq!(cells[2][1], Data::String("11010519491231002X".to_string()));

    let reader = open(bytes, "台账.xlsx");
    assert_eq!(
        reader.headers(),
        ["姓名", "身份证号", "出生日期", "电话", "人数"]
    );
    let rows = rows(reader);
    assert_eq!(
        rows[0].cells,
        [
            text("阿依古丽·买买提"),
            text(ID),
            Cell::Date(date(2015, 3, 4)),
            text("13800000000"),
            Cell::Number(3.0),
        ]
    );
    assert_eq!(rows[1].cells[2..], [Cell::Empty, Cell::Empty, Cell::Empty]);
}

#[test]
fn the_ledger_neutralises_formulas() {
    let mut writer = XlsxLedgerWriter::new("台账", &["姓名", "备注"]).expect("writer");
    let nasty = [
        "=1+1",
        "+86 138 0000 0000",
        "-2",
        "@SUM(A1:A2)",
        "=HYPERLINK(\"http://example.com\",\"点击\")",
        "\t=1",
    ];
    for value in nasty {
        writer
            .push_row(&["张三".into(), value.into()])
            .expect("row");
    }
    writer
        .push_row(&["李四".into(), "a=b".into()])
        .expect("row");
    let rows = rows(open(writer.finish().expect("workbook"), "台账.xlsx"));
    for (row, value) in rows.iter().zip(nasty) {
        assert_eq!(row.cells[1], Cell::Text(format!("'{value}")), "{value:?}");
    }
    assert_eq!(rows[6].cells[1], text("a=b"));
}

#[test]
fn the_ledger_writes_to_a_path_in_constant_memory() {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"));
    let path = dir.join("sheets-ledger-test.xlsx");
    let mut writer =
        XlsxLedgerWriter::with_tempdir("台账", &["姓名", "身份证号"], dir).expect("writer");
    for i in 0..20_000 {
        writer
            .push_row(&[OutCell::Text(format!("儿童{i}")), ID.into()])
            .expect("row");
    }
    writer.finish_to_path(&path).expect("saved");
    let mut magic = [0u8; 4];
    std::fs::File::open(&path)
        .and_then(|mut f| f.read_exact(&mut magic))
        .expect("read back");
    assert_eq!(&magic, b"PK\x03\x04");
    let reader = SheetReader::open(&path).expect("opens");
    assert_eq!(reader.total_rows_hint(), Some(20_000));
    let mut count = 0;
    for row in reader {
        let row = row.expect("a good row");
        count += 1;
        assert_eq!(row.line, count + 1);
        assert_eq!(row.cells[1], text(ID));
    }
    assert_eq!(count, 20_000);
}

#[test]
fn crlf_gbk_lines_are_numbered_as_an_editor_shows_them() {
    let csv = format!("姓名,身份证号\r\n张三,{ID}\r\n李四,{ID}\r\n王五,{ID}\r\n");
    let (bytes, _, _) = encoding_rs::GBK.encode(&csv);
    let lines: Vec<u64> = rows(open(bytes.into_owned(), "名单.csv"))
        .iter()
        .map(|r| r.line)
        .collect();
    assert_eq!(lines, [2, 3, 4]);
}

#[test]
fn crlf_utf8_with_quotes_and_a_multi_line_cell_keeps_line_numbers() {
    let csv =
        String::from("姓名,住址\r\n\"张三\",\"某路\r\n1号\"\r\n李四,\"某路2号\"\r\n\r\n王五,x\r\n");
    let rows = rows(open(csv.into_bytes(), "名单.csv"));
    let lines: Vec<u64> = rows.iter().map(|r| r.line).collect();
    assert_eq!(lines, [2, 4, 6]);
    assert_eq!(rows[0].cells, [text("张三"), text("某路\r\n1号")]);
    assert_eq!(rows[1].cells, [text("李四"), text("某路2号")]);
}

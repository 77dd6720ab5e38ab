//! Importing minors over HTTP (the GraphQL multipart upload `importMinors`), on SQLite and
//! PostgreSQL: an XLSX with Chinese headers whose bad rows are named and roll everything back,
//! fixed and re-imported without duplicates, re-imported again without changes, an update
//! kept in the history; GBK CSV with skip-invalid; a date and a source per category; who may
//! import and where; the upload cap.
//!
//! Every file is made here, in memory, so that what a test imports is visible beside what
//! it asserts.

use rust_xlsxwriter::{ExcelDateTime, Workbook};
use serde_json::{json, Value};
use shouhu_e2e::{resident_id, TestServer, OTHER_SLUG};

const IMPORT: &str = "mutation($file: Upload!, $mode: ImportMode, $map: [ColumnMapping!]) { \
    importMinors(file: $file, mode: $mode, columnMap: $map) { fileName format encoding \
    rowsRead created updated unchanged invalid committed ignoredHeaders \
    errors { line column header code message } } }";

const HEADERS: [&str; 10] = [
    "姓名",
    "公民身份号码",
    "性别",
    "出生日期",
    "所在社区",
    "困境类型",
    "困境认定日期",
    "监护人姓名",
    "监护人关系",
    "监护情况",
];

/// A cell of a test workbook.
enum X {
    T(&'static str),
    S(String),
    N(f64),
    D(u16, u8, u8),
}

fn workbook(rows: &[Vec<X>]) -> Vec<u8> {
    let mut book = Workbook::new();
    let sheet = book.add_worksheet();
    let date = rust_xlsxwriter::Format::new().set_num_format("yyyy-mm-dd");
    for (c, h) in HEADERS.iter().enumerate() {
        sheet.write_string(0, c as u16, *h).expect("header");
    }
    for (r, row) in rows.iter().enumerate() {
        let r = r as u32 + 1;
        for (c, cell) in row.iter().enumerate() {
            let c = c as u16;
            match cell {
                X::T(s) => sheet.write_string(r, c, *s).map(|_| ()),
                X::S(s) => sheet.write_string(r, c, s).map(|_| ()),
                X::N(n) => sheet.write_number(r, c, *n).map(|_| ()),
                X::D(y, m, d) => {
                    let when = ExcelDateTime::from_ymd(*y, *m, *d).expect("date");
                    sheet
                        .write_datetime_with_format(r, c, &when, &date)
                        .map(|_| ())
                }
            }
            .expect("cell");
        }
    }
    book.save_to_buffer().expect("workbook")
}

fn row(name: &'static str, id: X, sex: &'static str, birth: X, community: &'static str) -> Vec<X> {
    vec![
        X::T(name),
        id,
        X::T(sex),
        birth,
        X::T(community),
        X::T("孤儿"),
        X::T("2024-01-01"),
        X::T("张爷爷"),
        X::T("祖父"),
        X::T("正常履职"),
    ]
}

/// The four rows of the XLSX test; `fixed` repairs the two broken identity numbers.
fn ledger_rows(fixed: bool) -> Vec<Vec<X>> {
    let second = resident_id("2012-07-09", 42);
    let third = resident_id("2010-01-15", 17);
    let mut wrong_check = third.clone();
    let last = if wrong_check.ends_with('1') { "2" } else { "1" };
    wrong_check.replace_range(17..18, last);
    vec![
        row(
            "欧阳·小明",
            X::S(resident_id("2015-03-04", 123)),
            "男",
            X::D(2015, 3, 4),
            "长桥第一社区",
        ),
        row(
            "李四",
            if fixed {
                X::S(second)
            } else {
                // What Excel keeps of an 18-digit number typed into a number cell.
                X::N(second.parse::<f64>().expect("digits"))
            },
            "女",
            X::T("2012-07-09"),
            "长桥第一社区",
        ),
        row(
            "王五",
            X::S(if fixed { third } else { wrong_check }),
            "男",
            X::T("2010/1/15"),
            "320506001002",
        ),
        // The birth date as an Excel serial (2016-05-20 is 42510).
        row(
            "赵六",
            X::S(resident_id("2016-05-20", 201)),
            "男",
            X::N(42510.0),
            "长桥村",
        ),
    ]
}

async fn total(s: &TestServer, token: &str) -> i64 {
    let a = s
        .gql(
            Some(token),
            "{ ledgerCounts(filter: {}) { total } }",
            json!({}),
        )
        .await;
    a.data()["ledgerCounts"]["total"].as_i64().expect("total")
}

async fn import(s: &TestServer, token: &str, name: &str, bytes: &[u8], vars: Value) -> Value {
    let a = s
        .upload(Some(token), IMPORT, vars, "file", name, bytes)
        .await;
    a.data()["importMinors"].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn xlsx_bad_rows_roll_back_then_fixed_file_imports_once() {
    for s in TestServer::all().await {
        let admin = s.login("wuzhong", "admin").await;
        let centre = s.login("wuzhong", "centre").await;

        // Two bad identity numbers: nothing is written, both rows are named.
        let broken = workbook(&ledger_rows(false));
        let r = import(&s, &admin, "吴中区台账.xlsx", &broken, json!({})).await;
        assert_eq!(r["format"], "xlsx", "{}: {r}", s.kind());
        assert_eq!(r["rowsRead"], 4);
        assert_eq!(r["invalid"], 2, "{r}");
        assert_eq!(r["committed"], false);
        assert_eq!(r["created"], 0);
        let errors = r["errors"].as_array().expect("errors");
        assert_eq!(errors.len(), 2, "{r}");
        assert_eq!(errors[0]["line"], 3);
        assert_eq!(errors[0]["column"], "B");
        assert_eq!(errors[0]["header"], "公民身份号码");
        let code = errors[0]["code"].as_str().unwrap_or_default();
        assert!(code.starts_with("id_number.excel_"), "{r}");
        assert!(
            errors[0]["message"]
                .as_str()
                .unwrap_or_default()
                .contains("format the column as text"),
            "{r}"
        );
        assert_eq!(errors[1]["line"], 4);
        assert_eq!(errors[1]["code"], "id_number.check_digit", "{r}");
        // Messages never repeat the cell.
        assert!(!r.to_string().contains(&resident_id("2012-07-09", 42)));
        assert_eq!(total(&s, &centre).await, 0, "{}: rolled back", s.kind());

        // Fixed: every row goes in, once.
        let fixed = workbook(&ledger_rows(true));
        let r = import(&s, &admin, "吴中区台账.xlsx", &fixed, json!({})).await;
        assert_eq!(r["committed"], true, "{r}");
        assert_eq!(
            (r["created"].as_i64(), r["invalid"].as_i64()),
            (Some(4), Some(0))
        );
        assert_eq!(total(&s, &centre).await, 4);

        // The same file again changes nothing.
        let r = import(&s, &admin, "吴中区台账.xlsx", &fixed, json!({})).await;
        assert_eq!(r["committed"], true);
        assert_eq!(r["created"], 0, "{r}");
        assert_eq!(r["updated"], 0, "{r}");
        assert_eq!(r["unchanged"], 4, "{r}");
        assert_eq!(total(&s, &centre).await, 4);

        // The serial date and the text dates were read; the child is found by number.
        let zhao = resident_id("2016-05-20", 201);
        let found = s
            .gql(
                Some(&centre),
                "query($n: String) { minors(filter: { documentNumber: $n }, first: 2) { \
                 edges { node { id name birthDate orgUnitId categories { category } \
                 guardians { name situation } } } } }",
                json!({ "n": zhao }),
            )
            .await;
        let edges = found.data()["minors"]["edges"]
            .as_array()
            .expect("edges")
            .clone();
        assert_eq!(edges.len(), 1);
        let node = &edges[0]["node"];
        assert_eq!(node["birthDate"], "2016-05-20");
        assert_eq!(node["categories"][0]["category"], "ORPHAN");
        assert_eq!(node["guardians"][0]["situation"], "PRESENT");
        let zhao_id = node["id"].as_str().expect("id").to_owned();

        // A changed row (a move to another community) updates that minor and its history.
        let mut moved = ledger_rows(true);
        moved[3][4] = X::T("长桥第二社区");
        let r = import(&s, &admin, "更新.xlsx", &workbook(&moved), json!({})).await;
        assert_eq!(
            (r["updated"].as_i64(), r["unchanged"].as_i64()),
            (Some(1), Some(3))
        );
        assert_eq!(total(&s, &centre).await, 4);
        let history = s
            .gql(
                Some(&centre),
                "query($id: ID!) { minorHistory(id: $id) { change reason } }",
                json!({ "id": zhao_id }),
            )
            .await;
        let text = history.data().to_string();
        assert!(text.contains("orgUnitId"), "{text}");
        assert!(text.contains("import 更新.xlsx"), "{text}");

        // Each import is in the district's audit log, the failed one too.
        let audit = s
            .gql(
                Some(&admin),
                "{ auditLog(first: 20, action: \"minor.import\") { edges { node { outcome } } } }",
                json!({}),
            )
            .await;
        let outcomes = audit.data()["auditLog"]["edges"]
            .as_array()
            .expect("edges")
            .len();
        assert!(outcomes >= 4, "{}", audit.body);
    }
}

/// A CSV as Chinese Excel saves it: GBK, CRLF.
fn gbk_csv(lines: &[String]) -> Vec<u8> {
    let text = lines.join("\r\n") + "\r\n";
    let (bytes, _, unmappable) = encoding_rs::GBK.encode(&text);
    assert!(!unmappable);
    bytes.into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gbk_csv_skip_invalid_and_column_mapping() {
    for s in TestServer::all().await {
        let centre = s.login("wuzhong", "centre").await;
        let good = resident_id("2011-11-11", 31);
        let lines = vec![
            "学生姓名,身份证号,性别,出生日期,所在社区,备注".to_owned(),
            format!(
                "孙小红,{},女,2011-11-11,长桥第一社区,无",
                resident_id("2011-11-11", 32)
            ),
            format!("周小刚,{good},男,2011-11-11,长桥第一社区,无"),
            // Excel's float form, and a community that is not in the district.
            "吴小丽,3.20506E+17,女,2012-01-01,长桥第一社区,无".to_owned(),
            format!(
                "郑小龙,{},男,2013-02-02,不存在社区,无",
                resident_id("2013-02-02", 11)
            ),
        ];
        let map = json!([
            { "header": "学生姓名", "field": "姓名" },
            { "header": "备注", "field": "" }
        ]);
        let r = import(
            &s,
            &centre,
            "名单.csv",
            &gbk_csv(&lines),
            json!({ "mode": "SKIP_INVALID", "map": map }),
        )
        .await;
        assert_eq!(r["format"], "csv", "{r}");
        assert_eq!(r["encoding"], "GBK/GB18030", "{r}");
        assert_eq!(r["committed"], true);
        assert_eq!(r["created"], 2, "{r}");
        assert_eq!(r["invalid"], 2, "{r}");
        assert_eq!(r["ignoredHeaders"], json!([]), "{r}");
        let errors = r["errors"].as_array().expect("errors");
        assert_eq!(errors[0]["line"], 4);
        assert_eq!(errors[0]["code"], "id_number.excel_scientific", "{r}");
        assert_eq!(errors[1]["line"], 5);
        assert_eq!(errors[1]["column"], "E", "{r}");
        assert_eq!(total(&s, &centre).await, 2);

        // Without the mapping the name column is missing: the whole file is refused.
        let a = s
            .upload(
                Some(&centre),
                IMPORT,
                json!({}),
                "file",
                "名单.csv",
                &gbk_csv(&lines),
            )
            .await;
        assert_eq!(a.code(), "BAD_USER_INPUT", "{}", a.body);
        assert!(a.body.to_string().contains("姓名"), "{}", a.body);
    }
}

/// Two categories with a date and a source each, as `demo generate --csv` writes them; a
/// backslash and a tab in the address, which PostgreSQL's `COPY` text must carry unchanged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn category_lists_and_awkward_text_import_and_reimport_unchanged() {
    for s in TestServer::all().await {
        let centre = s.login("wuzhong", "centre").await;
        let two = resident_id("2014-02-03", 51);
        let mismatched = resident_id("2013-03-03", 52);
        let lines = [
            "姓名,公民身份号码,所在社区,现住址,困境类型,困境认定日期,认定来源".to_owned(),
            format!(
                "钱小芳,{two},长桥第一社区,\"1号楼\\2单元\t东\",\
                 孤儿、事实无人抚养,2023-04-24、2024-07-15,民政排查、学校报告"
            ),
            format!("孙小明,{mismatched},长桥第一社区,,孤儿、事实无人抚养,2023-04-24,甲、乙、丙"),
        ];
        let csv = lines.join("\n").into_bytes();
        let r = import(&s, &centre, "两类.csv", &csv, json!({})).await;
        assert_eq!(r["committed"], false, "{}: {r}", s.kind());
        assert_eq!(r["errors"][0]["line"], 3, "{r}");
        assert_eq!(r["errors"][0]["header"], "认定来源", "{r}");
        assert_eq!(
            r["errors"][0]["code"], "category_source.count_mismatch",
            "{r}"
        );

        let csv = lines[..2].join("\n").into_bytes();
        let r = import(&s, &centre, "两类.csv", &csv, json!({})).await;
        assert_eq!(
            (r["committed"].as_bool(), r["created"].as_i64()),
            (Some(true), Some(1)),
            "{r}"
        );
        let found = s
            .gql(
                Some(&centre),
                "query($n: String) { minors(filter: { documentNumber: $n }, first: 2) { \
                 edges { node { address categories { category since source } } } } }",
                json!({ "n": two }),
            )
            .await;
        let node = &found.data()["minors"]["edges"][0]["node"];
        assert_eq!(node["address"], "1号楼\\2单元\t东", "{}", found.body);
        assert_eq!(
            node["categories"],
            // Listed by code; each kept the date and source of its place in the row.
            json!([
                { "category": "DE_FACTO_UNSUPPORTED", "since": "2024-07-15", "source": "学校报告" },
                { "category": "ORPHAN", "since": "2023-04-24", "source": "民政排查" },
            ]),
            "{}: {}",
            s.kind(),
            found.body
        );
        let r = import(&s, &centre, "两类.csv", &csv, json!({})).await;
        assert_eq!(
            (
                r["created"].as_i64(),
                r["updated"].as_i64(),
                r["unchanged"].as_i64()
            ),
            (Some(0), Some(0), Some(1)),
            "{r}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn who_may_import_and_where() {
    for s in TestServer::all().await {
        let file = gbk_csv(&[
            "姓名,身份证号,性别,出生日期,所在社区".to_owned(),
            format!(
                "孙小红,{},女,2011-11-11,越溪第一社区",
                resident_id("2011-11-11", 32)
            ),
        ]);
        // Roles without minor:import are refused before the file is read.
        for user in ["changqiao", "teacher", "partner", "evaluator", "hotline"] {
            let token = s.login("wuzhong", user).await;
            let a = s
                .upload(Some(&token), IMPORT, json!({}), "file", "a.csv", &file)
                .await;
            assert_eq!(a.code(), "FORBIDDEN", "{user}: {}", a.body);
        }
        let a = s
            .upload(None, IMPORT, json!({}), "file", "a.csv", &file)
            .await;
        assert_eq!(a.code(), "UNAUTHENTICATED");

        // Another district's admin cannot place minors in 吴中区's communities: the unit is
        // simply not found in their district.
        let other = s.login(OTHER_SLUG, "admin").await;
        let r = import(&s, &other, "a.csv", &file, json!({})).await;
        assert_eq!(r["committed"], false, "{r}");
        assert_eq!(r["errors"][0]["column"], "E", "{r}");
        let centre = s.login("wuzhong", "centre").await;
        assert_eq!(total(&s, &centre).await, 0);
    }
}

/// Sends a request head that announces a body of `length` bytes, and no body: a server that
/// checks the declared length answers at once.
async fn announce(base: &str, token: &str, length: usize) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = base.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let head = format!(
        "POST /graphql HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: multipart/form-data; boundary=b\r\nContent-Length: {length}\r\n\
         Connection: close\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.expect("head");
    let mut answer = Vec::new();
    let read = stream.read_to_end(&mut answer);
    tokio::time::timeout(std::time::Duration::from_secs(30), read)
        .await
        .expect("an answer without the body")
        .expect("read");
    String::from_utf8_lossy(&answer).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_above_the_cap_are_refused() {
    for s in TestServer::all().await {
        let centre = s.login("wuzhong", "centre").await;
        let cap = s.app.limits.max_upload_bytes;
        let answer = announce(&s.base, &centre, cap + 1).await;
        assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
        assert!(answer.contains("LIMIT_EXCEEDED"), "{answer}");
        // A file without the required columns is refused whole.
        let a = s
            .upload(Some(&centre), IMPORT, json!({}), "file", "a.csv", b"x")
            .await;
        assert_eq!(a.code(), "BAD_USER_INPUT", "{}", a.body);
        // The operations of an upload keep the limit of a plain request body.
        let padded = format!("{IMPORT} # {}", "x".repeat(s.app.limits.max_body_bytes));
        let a = s
            .upload(Some(&centre), &padded, json!({}), "file", "a.csv", b"x")
            .await;
        assert_eq!(
            (a.status, a.code()),
            (413, "LIMIT_EXCEEDED".into()),
            "{}",
            a.body
        );
    }
}

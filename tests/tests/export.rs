//! The XLSX export of ledgers over HTTP (`GET /exports/minors.xlsx`): what the workbook
//! holds, masked exactly as the GraphQL reads are, neutralised formulas, the scope rules
//! and the audit entry, on every backend.

use std::io::Cursor;

use calamine::{Data, Reader, Xlsx};
use serde_json::{json, Value};
use shouhu_e2e::{resident_id, TestServer, OTHER_SLUG};
use shouhu_registry::model::GuardianSituation;
use shouhu_registry::{from_excel_serial, neutralise, EXPORT_HEADERS};

const CREATE: &str = "mutation($i: MinorInputObject!) { createMinor(input: $i) { id } }";

const LIST: &str = "query($f: MinorFilterInput) { minors(filter: $f, first: 200) { edges { node {
    name documentNumber address phone health hivStatus school
    categories { label since source }
    guardians { name phone situation } } } } }";

/// A downloaded export: status, headers and body.
struct Download {
    status: u16,
    content_type: String,
    disposition: String,
    body: Vec<u8>,
}

impl Download {
    /// The error code of a refusal.
    fn code(&self) -> String {
        let body: Value = serde_json::from_slice(&self.body).unwrap_or(Value::Null);
        body["errors"][0]["extensions"]["code"]
            .as_str()
            .unwrap_or("NONE")
            .to_owned()
    }

    /// The sheet's rows as text, header first.
    fn rows(&self) -> Vec<Vec<String>> {
        assert_eq!(self.status, 200, "{}", String::from_utf8_lossy(&self.body));
        let mut book: Xlsx<_> =
            calamine::open_workbook_from_rs(Cursor::new(self.body.clone())).expect("an XLSX");
        let range = book
            .worksheet_range_at(0)
            .expect("a sheet")
            .expect("readable");
        range
            .rows()
            .map(|row| row.iter().map(text).collect())
            .collect()
    }
}

fn text(cell: &Data) -> String {
    match cell {
        Data::Empty => String::new(),
        Data::String(s) => s.clone(),
        Data::Float(f) => format!("{f}"),
        Data::Int(i) => i.to_string(),
        Data::DateTime(d) => from_excel_serial(d.as_f64())
            .map(|d| d.to_string())
            .unwrap_or_else(|_| format!("serial {}", d.as_f64())),
        other => format!("{other:?}"),
    }
}

async fn download(s: &TestServer, token: Option<&str>, query: &str) -> Download {
    let mut req = reqwest::Client::new().get(format!("{}/exports/minors.xlsx?{query}", s.base));
    if let Some(token) = token {
        req = req.bearer_auth(token);
    }
    let resp = req.send().await.expect("request");
    let header = |name: &str| {
        resp.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    Download {
        status: resp.status().as_u16(),
        content_type: header("content-type"),
        disposition: header("content-disposition"),
        body: resp.bytes().await.expect("body").to_vec(),
    }
}

/// The row of the minor called `name`.
fn row_of<'a>(rows: &'a [Vec<String>], name: &str) -> &'a [String] {
    rows[1..]
        .iter()
        .find(|r| r[0] == name)
        .unwrap_or_else(|| panic!("no row for {name}"))
}

/// The names of the rows, sorted (the sheet's order is the database's collation, which the
/// GraphQL comparison checks).
fn names(rows: &[Vec<String>]) -> Vec<&str> {
    let mut names: Vec<&str> = rows[1..].iter().map(|r| r[0].as_str()).collect();
    names.sort_unstable();
    names
}

fn column(name: &str) -> usize {
    EXPORT_HEADERS
        .iter()
        .position(|h| *h == name)
        .unwrap_or_else(|| panic!("no column {name}"))
}

/// The cells the export must hold for a minor as the GraphQL list shows it to the same
/// caller: (column, value).
fn expected_from_graphql(node: &Value) -> Vec<(&'static str, String)> {
    let s = |v: &Value| v.as_str().unwrap_or_default().to_owned();
    let joined = |key: &str| {
        node["categories"]
            .as_array()
            .expect("categories")
            .iter()
            .map(|c| s(&c[key]))
            .collect::<Vec<_>>()
            .join("、")
    };
    let guardian = &node["guardians"][0];
    let situation = guardian["situation"]
        .as_str()
        .and_then(|e| GuardianSituation::parse(&e.to_ascii_lowercase()))
        .map(|g| g.label_zh().to_owned())
        .unwrap_or_default();
    vec![
        ("姓名", s(&node["name"])),
        ("公民身份号码", s(&node["documentNumber"])),
        ("现住址", s(&node["address"])),
        ("联系电话", s(&node["phone"])),
        ("健康状况", s(&node["health"])),
        ("艾滋病病毒感染状况", s(&node["hivStatus"])),
        ("学校", s(&node["school"])),
        ("困境类型", joined("label")),
        ("困境认定日期", joined("since")),
        ("认定来源", joined("source")),
        ("监护人姓名", s(&guardian["name"])),
        ("监护人电话", s(&guardian["phone"])),
        ("监护情况", situation),
    ]
    .into_iter()
    // The sheet quotes what a spreadsheet would run as a formula.
    .map(|(column, value)| (column, neutralise(&value).into_owned()))
    .collect()
}

/// Checks that the sheet's rows are the GraphQL list's minors, in its order, with the same
/// values in every column the two share.
async fn agrees_with_graphql(s: &TestServer, token: &str, filter: Value, rows: &[Vec<String>]) {
    let listed = s.gql(Some(token), LIST, json!({ "f": filter })).await;
    let nodes: Vec<Value> = listed.data()["minors"]["edges"]
        .as_array()
        .expect("edges")
        .iter()
        .map(|e| e["node"].clone())
        .collect();
    assert_eq!(rows.len(), nodes.len() + 1, "{} {rows:?}", s.kind());
    for (row, node) in rows[1..].iter().zip(&nodes) {
        for (name, value) in expected_from_graphql(node) {
            assert_eq!(row[column(name)], value, "{} column {name}", s.kind());
        }
    }
}

fn minor(name: &str, number: &str, birth: &str, unit: &str, school: &str, cats: Value) -> Value {
    json!({
        "name": name, "documentNumber": number, "sex": "MALE", "birthDate": birth,
        "orgUnitId": unit, "address": "长桥街道某路1号", "phone": "13800001234",
        "health": "哮喘", "school": school, "categories": cats,
        "guardians": [
            { "name": "王·某", "relationship": "FATHER", "phone": "13900005678",
              "situation": "IMPRISONED" },
            { "name": "王奶奶", "relationship": "GRANDPARENT", "phone": "13900001111",
              "situation": "PRESENT" }
        ]
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ledgers_export_masked_scoped_and_audited() {
    for s in TestServer::all().await {
        let centre = s.login("wuzhong", "centre").await;
        let street = s.login("wuzhong", "changqiao").await;
        let community_officer = s.login("wuzhong", "community").await;
        let admin = s.login("wuzhong", "admin").await;
        let changqiao = s.unit_id("wuzhong", "320506001").await;
        let first = s.unit_id("wuzhong", "320506001001").await;
        let second = s.unit_id("wuzhong", "320506001002").await;
        let yuexi = s.unit_id("wuzhong", "320506003").await;
        let yuexi_first = s.unit_id("wuzhong", "320506003001").await;
        let poor = json!([{ "category": "ILL_DISABLED_POOR", "since": "2024-02-01",
                            "source": "入户核查" }]);
        let detained = json!([
            { "category": "PARENT_DETAINED", "since": "2024-01-01", "source": "公安通报" },
            { "category": "DE_FACTO_UNSUPPORTED", "since": "2024-03-01", "source": "入户核查" }
        ]);
        let id_a = resident_id("2015-03-04", 123);
        let id_b = resident_id("2012-07-09", 311);
        let id_c = resident_id("2016-01-20", 457);
        let id_d = resident_id("2014-05-05", 135);
        for input in [
            minor("艾小明", &id_a, "2015-03-04", &first, "=1+2", poor.clone()),
            minor(
                "白小刚",
                &id_b,
                "2012-07-09",
                &second,
                "长桥中心小学",
                detained,
            ),
            minor("陈小军", &id_c, "2016-01-20", &first, "@SUM(A1)", json!([])),
            minor(
                "丁小东",
                &id_d,
                "2014-05-05",
                &yuexi_first,
                "越溪小学",
                poor,
            ),
        ] {
            s.gql(Some(&centre), CREATE, json!({ "i": input }))
                .await
                .data();
        }

        // The centre sees everything: the difficulty ledger of 长桥街道 is 艾小明 and 白小刚,
        // unmasked.
        let query = format!("orgUnit={changqiao}&ledger=difficulty");
        let got = download(&s, Some(&centre), &query).await;
        assert_eq!(
            got.content_type,
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
        );
        assert!(
            got.disposition
                .starts_with("attachment; filename=\"minors-320506-difficulty-")
                && got.disposition.contains("filename*=UTF-8''"),
            "{}",
            got.disposition
        );
        let rows = got.rows();
        let headers: Vec<&str> = rows[0].iter().map(String::as_str).collect();
        assert_eq!(headers, EXPORT_HEADERS);
        assert_eq!(names(&rows), ["白小刚", "艾小明"], "{}", s.kind());
        let (a, b) = (row_of(&rows, "艾小明"), row_of(&rows, "白小刚"));
        assert_eq!(a[column("公民身份号码")], id_a);
        assert_eq!(a[column("学校")], "'=1+2", "a formula stays text");
        assert_eq!(a[column("出生日期")], "2015-03-04");
        assert_eq!(a[column("所属街道")], "长桥街道");
        assert_eq!(a[column("所在社区")], "长桥第一社区");
        assert_eq!(b[column("所在社区")], "长桥第二社区");
        assert_eq!(
            b[column("困境类型")],
            "事实无人抚养未成年人、父母服刑或强制隔离戒毒未成年人"
        );
        assert_eq!(b[column("监护情况")], "服刑在押");
        assert_eq!(
            b[column("其他监护人")],
            "王奶奶（祖父母或外祖父母，13900001111，正常履职）"
        );
        let difficulty = json!({ "under": changqiao, "difficultyOnly": true });
        agrees_with_graphql(&s, &centre, difficulty.clone(), &rows).await;

        // The street officer gets the same rows masked, as the GraphQL list masks them.
        let rows = download(&s, Some(&street), &query).await.rows();
        assert_eq!(names(&rows), ["白小刚", "艾小明"]);
        let (a, b) = (row_of(&rows, "艾小明"), row_of(&rows, "白小刚"));
        let masked_a = format!("{}************{}", &id_a[..4], &id_a[16..]);
        assert_eq!(a[column("公民身份号码")], masked_a);
        assert_eq!(a[column("现住址")], "");
        assert_eq!(a[column("健康状况")], "");
        assert_eq!(b[column("困境类型")], "事实无人抚养未成年人");
        assert_eq!(b[column("监护情况")], "", "imprisonment is withheld");
        assert!(!b[column("其他监护人")].contains("13900001111"));
        agrees_with_graphql(&s, &street, difficulty, &rows).await;

        // Without orgUnit the officer's own street; the all-minors ledger with a neutralised
        // `@` and a category filter that narrows it.
        let rows = download(&s, Some(&street), "").await.rows();
        assert_eq!(names(&rows), ["白小刚", "艾小明", "陈小军"], "{}", s.kind());
        assert_eq!(row_of(&rows, "陈小军")[column("学校")], "'@SUM(A1)");
        agrees_with_graphql(&s, &street, json!({}), &rows).await;
        let rows = download(&s, Some(&street), "category=ILL_DISABLED_POOR")
            .await
            .rows();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[1][0], "艾小明");

        // Scope: another street is NOT_FOUND for the officer, another district's unit for
        // everyone; a community officer may not export at all; nobody without a token.
        let refused = download(&s, Some(&street), &format!("orgUnit={yuexi}")).await;
        assert_eq!((refused.status, refused.code()), (404, "NOT_FOUND".into()));
        let other_admin = s.login(OTHER_SLUG, "admin").await;
        let refused = download(&s, Some(&other_admin), &format!("orgUnit={changqiao}")).await;
        assert_eq!(
            refused.code(),
            "NOT_FOUND",
            "虎丘's admin may export, but not here"
        );
        let other_root = s
            .gql(
                Some(&other_admin),
                "{ orgUnits(first: 1) { edges { node { id } } } }",
                json!({}),
            )
            .await
            .data()["orgUnits"]["edges"][0]["node"]["id"]
            .as_str()
            .expect("id")
            .to_owned();
        let refused = download(&s, Some(&centre), &format!("orgUnit={other_root}")).await;
        assert_eq!((refused.status, refused.code()), (404, "NOT_FOUND".into()));
        let refused = download(&s, Some(&community_officer), "").await;
        assert_eq!((refused.status, refused.code()), (403, "FORBIDDEN".into()));
        let refused = download(&s, None, "").await;
        assert_eq!(
            (refused.status, refused.code()),
            (401, "UNAUTHENTICATED".into())
        );
        let refused = download(&s, Some(&centre), "ledger=everything").await;
        assert_eq!(
            (refused.status, refused.code()),
            (400, "BAD_USER_INPUT".into())
        );

        // The district admin, who keeps the district's ledger, exports the whole
        // district unmasked.
        let rows = download(&s, Some(&admin), "ledger=difficulty").await.rows();
        assert_eq!(rows.len(), 4, "艾小明, 白小刚 and 丁小东");

        // Each export left one entry with the unit, ledger, count and masking, and no
        // personal data; the denial was audited too.
        let log = s
            .gql(
                Some(&admin),
                "{ auditLog(first: 20, action: \"minor.export\") { edges { node {
                    actorId targetKind targetId outcome detail } } } }",
                json!({}),
            )
            .await;
        let entries: Vec<Value> = log.data()["auditLog"]["edges"]
            .as_array()
            .expect("edges")
            .iter()
            .map(|e| e["node"].clone())
            .collect();
        assert_eq!(entries.len(), 5, "{} {entries:?}", s.kind());
        let details: Vec<Value> = entries
            .iter()
            .map(|e| serde_json::from_str(e["detail"].as_str().expect("detail")).expect("json"))
            .collect();
        // Newest first: the admin's, then the officer's filtered one.
        assert_eq!(details[0]["masked"], false);
        assert_eq!(details[0]["rows"], 3);
        assert_eq!(details[1]["filters"], json!(["category"]));
        assert_eq!(details[1]["category"], "ill_disabled_poor");
        let centre_entry = entries.last().expect("the first export");
        assert_eq!(centre_entry["targetKind"], "org_unit");
        assert_eq!(centre_entry["targetId"], changqiao.as_str());
        let first_detail = details.last().expect("detail");
        assert_eq!(first_detail["ledger"], "difficulty");
        assert_eq!(first_detail["rows"], 2);
        assert_eq!(first_detail["masked"], false);
        for entry in &entries {
            let text = entry.to_string();
            for personal in [id_a.as_str(), "艾小明", "13800001234", "长桥街道某路1号"] {
                assert!(!text.contains(personal), "{personal} in {text}");
            }
        }
        let denied = s
            .gql(
                Some(&admin),
                "{ auditLog(first: 5, action: \"permission.denied\") { edges { node {
                    targetId detail } } } }",
                json!({}),
            )
            .await;
        assert!(
            denied.data()["auditLog"]["edges"]
                .as_array()
                .expect("edges")
                .iter()
                .any(|e| e["node"]["targetId"] == "minor:export"
                    && e["node"]["detail"]
                        .as_str()
                        .unwrap_or("")
                        .contains("exportMinors")),
            "{}",
            denied.body
        );
    }
}

/// The street ledger filtered by category finds a minor through the category rows' copy of
/// the minor's unit (migration m0006); a move must take that copy along.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_moved_minor_follows_into_the_new_street_ledger() {
    for s in TestServer::all().await {
        let centre = s.login("wuzhong", "centre").await;
        let changqiao = s.unit_id("wuzhong", "320506001").await;
        let yuexi = s.unit_id("wuzhong", "320506003").await;
        let first = s.unit_id("wuzhong", "320506001001").await;
        let yuexi_first = s.unit_id("wuzhong", "320506003001").await;
        let number = resident_id("2013-09-09", 771);
        let cats = json!([{ "category": "ORPHAN", "since": "2023-05-01", "source": "民政" }]);
        let created = s
            .gql(
                Some(&centre),
                "mutation($i: MinorInputObject!) { createMinor(input: $i) { id version } }",
                json!({ "i": minor("顾小北", &number, "2013-09-09", &first, "", cats) }),
            )
            .await;
        let id = created.data()["createMinor"]["id"].clone();
        let ledger = |unit: &str| {
            let filter = json!({ "under": unit, "category": "ORPHAN", "difficultyOnly": true });
            json!({ "f": filter })
        };
        let names = |answer: &shouhu_e2e::Answer| -> Vec<String> {
            answer.data()["minors"]["edges"]
                .as_array()
                .expect("edges")
                .iter()
                .map(|e| e["node"]["name"].as_str().unwrap_or_default().to_owned())
                .collect()
        };
        let before = s.gql(Some(&centre), LIST, ledger(&changqiao)).await;
        assert_eq!(names(&before), ["顾小北"], "{}", s.kind());
        s.gql(
            Some(&centre),
            "mutation($id: ID!, $u: ID!) { updateMinor(id: $id, version: 1,
                input: { orgUnitId: $u }, reason: \"搬家\") { version } }",
            json!({ "id": id, "u": yuexi_first }),
        )
        .await
        .data();
        let old_street = s.gql(Some(&centre), LIST, ledger(&changqiao)).await;
        assert!(names(&old_street).is_empty(), "{}", s.kind());
        let new_street = s.gql(Some(&centre), LIST, ledger(&yuexi)).await;
        assert_eq!(names(&new_street), ["顾小北"], "{}", s.kind());
        let street_officer = s.login("wuzhong", "yuexi").await;
        let theirs = s
            .gql(
                Some(&street_officer),
                LIST,
                json!({ "f": { "category": "ORPHAN" } }),
            )
            .await;
        assert_eq!(names(&theirs), ["顾小北"], "{}", s.kind());
    }
}

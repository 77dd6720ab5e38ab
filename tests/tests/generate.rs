//! `shouhu demo generate` end to end: the CSV and the database get the same minors for the
//! same seed, on every backend alike; every number is valid; every community gets minors;
//! the counts, the ledger and the audit log agree.

use std::collections::BTreeSet;

use clap::Parser;
use serde_json::{json, Value};
use shouhu::cli::{run, Cli};
use shouhu_e2e::TestServer;

const MINORS: usize = 1_500;

async fn shouhu(url: &str, args: &[&str]) -> Result<(), String> {
    let mut argv = vec!["shouhu", "--database-url", url];
    argv.extend_from_slice(args);
    run(Cli::parse_from(argv)).await.map_err(|e| e.to_string())
}

/// Every minor the centre sees: (name, identity number or "").
async fn everyone(s: &TestServer, token: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = s
            .gql(
                Some(token),
                "query($after: String) { minors(first: 200, after: $after) {
                    edges { cursor node { name documentNumber } } pageInfo { hasNextPage } } }",
                json!({ "after": after }),
            )
            .await;
        let data = page.data();
        for edge in data["minors"]["edges"].as_array().expect("edges") {
            let node = &edge["node"];
            out.push((
                node["name"].as_str().unwrap_or_default().to_owned(),
                node["documentNumber"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
            ));
            after = edge["cursor"].as_str().map(str::to_owned);
        }
        if data["minors"]["pageInfo"]["hasNextPage"] != true {
            return out;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generated_minors_are_valid_spread_counted_and_reproducible() {
    let mut per_backend: Vec<Vec<(String, String)>> = Vec::new();
    for s in TestServer::all().await {
        let dir = std::env::temp_dir().join(format!(
            "shouhu-generate-{}-{}",
            s.kind(),
            std::process::id()
        ));
        std::fs::create_dir_all(&dir).expect("temporary folder");
        let csv_path = dir.join("minors.csv");
        let url = s.db.owner_url.clone();
        let count = MINORS.to_string();
        let common = ["demo", "generate", "--tenant", "wuzhong"];
        let mut args = common.to_vec();
        args.extend(["--minors", &count, "--seed", "7"]);
        let mut with_csv = args.clone();
        let csv_arg = csv_path.to_string_lossy().to_string();
        with_csv.extend(["--csv", &csv_arg]);
        // The CSV first: the district has no minors yet, so both runs start alike.
        shouhu(&url, &with_csv).await.expect("generate a CSV");
        shouhu(&url, &args)
            .await
            .expect("generate into the database");
        let err = shouhu(
            &url,
            &["demo", "generate", "--tenant", "nowhere", "--minors", "1"],
        )
        .await
        .expect_err("no such district");
        assert!(err.contains("nowhere"), "{err}");

        // The CSV: a byte order mark, the standard headers, one row per minor.
        let bytes = std::fs::read(&csv_path).expect("the CSV");
        assert!(bytes.starts_with(b"\xEF\xBB\xBF"));
        let mut reader = csv::Reader::from_reader(&bytes[3..]);
        let headers = reader.headers().expect("headers").clone();
        let expected: Vec<&str> = shouhu_registry::generate::CSV_HEADERS.to_vec();
        assert_eq!(headers.iter().collect::<Vec<_>>(), expected);
        let rows: Vec<csv::StringRecord> = reader.records().map(|r| r.expect("row")).collect();
        assert_eq!(rows.len(), MINORS);
        let from_csv: BTreeSet<(String, String)> = rows
            .iter()
            .map(|r| (r[0].to_owned(), r[2].to_owned()))
            .collect();
        let in_difficulty_csv = rows.iter().filter(|r| !r[15].is_empty()).count();
        std::fs::remove_dir_all(&dir).ok();

        // The database holds the same minors, each number valid.
        let centre = s.login("wuzhong", "centre").await;
        let listed = everyone(&s, &centre).await;
        assert_eq!(listed.len(), MINORS, "{}", s.kind());
        // The command line generates for the real today; any later day accepts the numbers.
        let today = chrono::NaiveDate::from_ymd_opt(2100, 1, 1).expect("a day");
        for (_, number) in listed.iter().filter(|(_, n)| !n.is_empty()) {
            shouhu_registry::parse_resident_id(number, today).expect("a valid number");
        }
        let from_db: BTreeSet<(String, String)> = listed.iter().cloned().collect();
        assert_eq!(from_db, from_csv, "{}", s.kind());

        // Counts: all minors, every community, the difficulty ledger as in the CSV.
        let admin = s.login("wuzhong", "admin").await;
        let counts = s
            .gql(
                Some(&admin),
                "{ all: ledgerCounts { total byCommunity { count } byStreet { count } }
                   hard: ledgerCounts(filter: { difficultyOnly: true }) { total } }",
                json!({}),
            )
            .await;
        let data = counts.data();
        assert_eq!(data["all"]["total"], MINORS as u64);
        let communities = data["all"]["byCommunity"].as_array().expect("communities");
        assert_eq!(
            communities.len(),
            60,
            "20 streets × 3 communities or villages"
        );
        assert!(communities.iter().all(|c| c["count"].as_u64() >= Some(5)));
        assert_eq!(data["hard"]["total"], in_difficulty_csv as u64);

        // One audit entry for the one batch, with counts and the seed only.
        let log = s
            .gql(
                Some(&admin),
                "{ auditLog(first: 5, action: \"minor.generate\") { edges { node { detail } } } }",
                json!({}),
            )
            .await;
        let entries = log.data()["auditLog"]["edges"]
            .as_array()
            .expect("edges")
            .clone();
        assert_eq!(entries.len(), 1);
        let detail: Value =
            serde_json::from_str(entries[0]["node"]["detail"].as_str().expect("detail"))
                .expect("json");
        assert_eq!(detail, json!({ "minors": MINORS, "seed": 7 }));
        per_backend.push(listed);
    }
    // Same seed, same minors, whatever the database.
    let sorted: Vec<BTreeSet<(String, String)>> = per_backend
        .into_iter()
        .map(|l| l.into_iter().collect())
        .collect();
    for pair in sorted.windows(2) {
        assert_eq!(pair[0], pair[1]);
    }
}

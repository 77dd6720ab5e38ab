//! The command line, driven through the same entry point as the binary:
//! migrations, onboarding from division files, users, operators, org-unit
//! CSV import (all or nothing) and audit verification.

use clap::Parser;
use shouhu::cli::{run, Cli};
use shouhu_migrations::testing::TestDatabase;

async fn shouhu(url: &str, args: &[&str]) -> Result<(), String> {
    let mut argv = vec!["shouhu", "--database-url", url];
    argv.extend_from_slice(args);
    run(Cli::parse_from(argv)).await.map_err(|e| e.to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn onboarding_and_org_units_from_the_command_line() {
    for db in TestDatabase::all().await {
        // The owner's URL: the CLI migrates and administers.
        let url = db.owner_url.clone();
        shouhu(&url, &["migrate", "status"]).await.unwrap();
        shouhu(&url, &["migrate", "down", "--steps", "1"])
            .await
            .unwrap();
        shouhu(&url, &["migrate", "up"]).await.unwrap();
        // Without division files the name is required.
        let err = shouhu(&url, &["tenant", "create", "--code", "320506"])
            .await
            .unwrap_err();
        assert!(err.contains("name is required"), "{err}");
        let err = shouhu(
            &url,
            &["tenant", "create", "--code", "320500", "--name", "x"],
        )
        .await
        .unwrap_err();
        assert!(err.contains("county-level"), "{err}");
        shouhu(
            &url,
            &[
                "tenant",
                "create",
                "--code",
                "320506",
                "--name",
                "吴中区",
                "--slug",
                "wuzhong",
            ],
        )
        .await
        .unwrap();
        if let Some(dir) = shouhu_e2e::divisions_dir() {
            let dir = dir.to_string_lossy().to_string();
            shouhu(
                &url,
                &["tenant", "create", "--code", "320505", "--divisions", &dir],
            )
            .await
            .unwrap();
            let err = shouhu(
                &url,
                &["tenant", "create", "--code", "320599", "--divisions", &dir],
            )
            .await
            .unwrap_err();
            assert!(err.contains("not in the division files"), "{err}");
            // Streets came from the files: import communities under one.
            let csv = std::env::temp_dir().join(format!("units-{}.csv", std::process::id()));
            std::fs::write(
                &csv,
                "\u{feff}parent_code,code,name\n\
                 320505001,320505001001,一号社区\n\
                 320505001,320505001201,二号村\n",
            )
            .unwrap();
            shouhu(
                &url,
                &[
                    "orgunit",
                    "import",
                    "--tenant",
                    "d320505",
                    csv.to_str().unwrap(),
                ],
            )
            .await
            .unwrap();
            // One bad line and nothing is written.
            std::fs::write(
                &csv,
                "parent_code,code,name\n\
                 320505001,320505001003,三号社区\n\
                 999999999,320505001004,无主社区\n",
            )
            .unwrap();
            let err = shouhu(
                &url,
                &[
                    "orgunit",
                    "import",
                    "--tenant",
                    "d320505",
                    csv.to_str().unwrap(),
                ],
            )
            .await
            .unwrap_err();
            assert!(err.contains("line 3"), "{err}");
            assert!(err.contains("parent_code"), "{err}");
            // Re-running the good file is refused as duplicates: nothing
            // from the failed file was kept, so only the first two exist.
            std::fs::write(
                &csv,
                "parent_code,code,name\n320505001,320505001003,三号社区\n",
            )
            .unwrap();
            shouhu(
                &url,
                &[
                    "orgunit",
                    "import",
                    "--tenant",
                    "d320505",
                    csv.to_str().unwrap(),
                ],
            )
            .await
            .expect("320505001003 was not half-saved before");
            let _ = std::fs::remove_file(csv);
        }
        shouhu(&url, &["tenant", "list"]).await.unwrap();
        shouhu(&url, &["audit", "verify"]).await.unwrap();
        shouhu(&url, &["schema"]).await.unwrap();
    }
}

async fn total(s: &shouhu_e2e::TestServer, token: &str) -> i64 {
    let a = s
        .gql(
            Some(token),
            "{ ledgerCounts(filter: {}) { total } }",
            serde_json::json!({}),
        )
        .await;
    a.data()["ledgerCounts"]["total"].as_i64().unwrap()
}

/// `demo generate --csv` writes a file with the standard headers; `import minors` reads it
/// back into the district (rows without a document are refused: a minor without one is
/// registered one by one), a second import changes nothing, and a broken file writes nothing
/// and says which rows failed, on screen and in `--errors`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generated_csv_imports_once_and_a_broken_file_not_at_all() {
    for db in TestDatabase::all().await {
        let s = shouhu_e2e::TestServer::start(db).await;
        let url = s.db.owner_url.clone();
        let dir = std::env::temp_dir().join(format!("import-{}-{}", std::process::id(), s.kind()));
        std::fs::create_dir_all(&dir).unwrap();
        let csv = dir.join("minors.csv");
        let csv_arg = csv.to_string_lossy().to_string();
        shouhu(
            &url,
            &[
                "demo", "generate", "--tenant", "wuzhong", "--minors", "300", "--csv", &csv_arg,
            ],
        )
        .await
        .unwrap();
        let args = [
            "import",
            "minors",
            "--tenant",
            "wuzhong",
            "--quiet",
            "--mode",
            "skip-invalid",
        ];
        let mut first = args.to_vec();
        first.push(&csv_arg);
        shouhu(&url, &first).await.unwrap();
        let centre = s.login("wuzhong", "centre").await;
        let imported = total(&s, &centre).await;
        let text = std::fs::read_to_string(&csv).unwrap();
        let documented = text
            .lines()
            .skip(1)
            .filter(|l| l.contains("居民身份证"))
            .count() as i64;
        assert_eq!(imported, documented, "{}", s.kind());
        assert!(imported > 250, "{imported}");
        // Again: nothing new.
        shouhu(&url, &first).await.unwrap();
        assert_eq!(total(&s, &centre).await, imported);

        // A broken copy: one identity number as Excel shows it; all-or-nothing refuses it all.
        let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
        let row = lines.iter().position(|l| l.contains("居民身份证")).unwrap();
        let number = lines[row]
            .split(',')
            .find(|cell| cell.len() == 18 && cell.starts_with(|c: char| c.is_ascii_digit()))
            .unwrap()
            .to_owned();
        lines[row] = lines[row].replace(&number, "3.20506E+17");
        let broken = dir.join("broken.csv");
        std::fs::write(&broken, lines.join("\n")).unwrap();
        let errors = dir.join("errors.csv");
        let err = shouhu(
            &url,
            &[
                "import",
                "minors",
                "--tenant",
                "wuzhong",
                "--quiet",
                "--errors",
                &errors.to_string_lossy(),
                &broken.to_string_lossy(),
            ],
        )
        .await
        .unwrap_err();
        assert!(err.contains("nothing imported"), "{err}");
        let report = std::fs::read_to_string(&errors).unwrap();
        let line = format!("{},C,", row + 1);
        assert!(
            report
                .lines()
                .any(|l| l.starts_with(&line) && l.contains("excel_scientific")),
            "{report}"
        );
        assert_eq!(total(&s, &centre).await, imported);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

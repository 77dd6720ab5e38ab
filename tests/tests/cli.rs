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

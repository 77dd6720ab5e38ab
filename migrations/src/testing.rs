//! Databases for tests: a fresh SQLite file, and (when a PostgreSQL server
//! is reachable) a fresh PostgreSQL database per test, migrated by the
//! superuser and used through a login role that is subject to row-level
//! security, exactly as in production.
//!
//! `SHOUHU_TEST_POSTGRES` names the administrative URL (default
//! `postgres://postgres@127.0.0.1:5432/postgres`). When no server answers,
//! the PostgreSQL suites are skipped with a message, except under `CI=true`,
//! where that is a failure: CI must run them.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use sea_orm_migration::sea_orm::{ConnectionTrait, Database, DatabaseConnection};
use sea_orm_migration::MigratorTrait;

use crate::{Migrator, APP_ROLE};

const DEFAULT_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";
/// The login role tests connect as; a member of the app role.
pub const TEST_LOGIN_ROLE: &str = "shouhu_test_server";

/// The advisory lock under which a suite creates the cluster's roles.
const ROLE_LOCK: i64 = 0x5348_4f55_4855;

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// One database made for one test.
#[derive(Debug)]
pub struct TestDatabase {
    /// Which backend: "sqlite" or "postgres".
    pub kind: &'static str,
    /// The URL the application connects with (on PostgreSQL: the RLS-bound
    /// login role).
    pub url: String,
    /// On PostgreSQL: the URL of the same database as its owner, for tests
    /// that need to step around the application (tampering with the audit
    /// log, checking that RLS holds).
    pub owner_url: String,
    dir: Option<std::path::PathBuf>,
    pg: Option<(String, String)>,
}

fn unique_name() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!(
        "shouhu_t_{}_{}_{}",
        std::process::id(),
        nanos % 1_000_000_000,
        COUNTER.fetch_add(1, Ordering::SeqCst)
    )
}

fn admin_url() -> String {
    std::env::var("SHOUHU_TEST_POSTGRES").unwrap_or_else(|_| DEFAULT_ADMIN_URL.to_owned())
}

fn replace_database(url: &str, db: &str) -> String {
    let url = url.split('?').next().unwrap_or(url);
    let base = match url.rfind('/') {
        Some(i) if i > "postgres://".len() => format!("{}/{db}", &url[..i]),
        _ => format!("{url}/{db}"),
    };
    // Test servers run on loopback; TLS there only costs time.
    format!("{base}?sslmode=disable")
}

fn with_user(url: &str, user: &str) -> String {
    // postgres://user@host… or postgres://host…
    let rest = url.split_once("://").map(|(_, r)| r).unwrap_or(url);
    let host = rest.split_once('@').map(|(_, h)| h).unwrap_or(rest);
    format!("postgres://{user}@{host}")
}

impl TestDatabase {
    /// A migrated SQLite database in a temporary file.
    pub async fn sqlite() -> TestDatabase {
        let dir = std::env::temp_dir().join(unique_name());
        std::fs::create_dir_all(&dir).expect("temp dir");
        let url = format!("sqlite://{}?mode=rwc", dir.join("test.db").display());
        let conn = Database::connect(&url).await.expect("open sqlite");
        Migrator::up(&conn, None).await.expect("migrate sqlite");
        conn.close().await.ok();
        TestDatabase {
            kind: "sqlite",
            owner_url: url.clone(),
            url,
            dir: Some(dir),
            pg: None,
        }
    }

    /// A migrated PostgreSQL database of its own, or `None` when no server
    /// answers outside CI.
    pub async fn postgres() -> Option<TestDatabase> {
        let admin = admin_url();
        let conn = match Database::connect(&admin).await {
            Ok(conn) => conn,
            Err(err) => {
                if std::env::var("CI").map(|v| v == "true").unwrap_or(false) {
                    panic!("CI=true but PostgreSQL at {admin} is unreachable: {err}");
                }
                eprintln!("PostgreSQL suites skipped: {admin} unreachable ({err})");
                return None;
            }
        };
        let name = unique_name();
        conn.execute_unprepared(&format!("CREATE DATABASE {name}"))
            .await
            .expect("create test database");
        // The roles are cluster-wide and the suites start side by side: two
        // `IF NOT EXISTS` checks can both pass and the second `CREATE ROLE`
        // then fails on the catalogue's unique index. So each creation holds
        // an advisory lock of the admin database (every suite connects to
        // that one) until it commits, and checks only once it holds it.
        let create_role = format!(
            "DO $$ BEGIN \
             PERFORM pg_advisory_xact_lock({ROLE_LOCK}); \
             IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{APP_ROLE}') THEN \
             CREATE ROLE {APP_ROLE} NOLOGIN NOSUPERUSER NOBYPASSRLS; END IF; \
             IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{TEST_LOGIN_ROLE}') THEN \
             CREATE ROLE {TEST_LOGIN_ROLE} LOGIN NOSUPERUSER NOBYPASSRLS IN ROLE {APP_ROLE}; \
             END IF; END $$"
        );
        if let Err(err) = conn.execute_unprepared(&create_role).await {
            // A migration elsewhere in the cluster may still create the app
            // role without the lock.
            let text = err.to_string();
            if !text.contains("already exists") && !text.contains("pg_authid_rolname_index") {
                panic!("create test roles: {err}");
            }
        }
        conn.close().await.ok();
        let owner_url = replace_database(&admin, &name);
        let owner = Database::connect(&owner_url).await.expect("connect owner");
        Migrator::up(&owner, None).await.expect("migrate postgres");
        owner.close().await.ok();
        let url = replace_database(&with_user(&admin, TEST_LOGIN_ROLE), &name);
        Some(TestDatabase {
            kind: "postgres",
            url,
            owner_url,
            dir: None,
            pg: Some((admin, name)),
        })
    }

    /// SQLite, and PostgreSQL when available: the backends a suite runs on.
    pub async fn all() -> Vec<TestDatabase> {
        let mut out = vec![TestDatabase::sqlite().await];
        if let Some(pg) = TestDatabase::postgres().await {
            out.push(pg);
        }
        out
    }

    /// A connection as the database owner (see `owner_url`).
    pub async fn owner(&self) -> DatabaseConnection {
        Database::connect(&self.owner_url)
            .await
            .expect("connect owner")
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if let Some(dir) = self.dir.take() {
            let _ = std::fs::remove_dir_all(dir);
        }
        if let Some((admin, name)) = self.pg.take() {
            // Dropping needs async I/O; a short-lived runtime on its own
            // thread avoids nesting inside the test's runtime.
            let _ = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build();
                if let Ok(rt) = rt {
                    rt.block_on(async {
                        if let Ok(conn) = Database::connect(&admin).await {
                            let _ = conn
                                .execute_unprepared(&format!(
                                    "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                                ))
                                .await;
                        }
                    });
                }
            })
            .join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_rewritten() {
        assert_eq!(
            replace_database("postgres://postgres@127.0.0.1:5432/postgres", "x"),
            "postgres://postgres@127.0.0.1:5432/x?sslmode=disable"
        );
        assert_eq!(
            with_user("postgres://postgres@127.0.0.1:5432/postgres", "app"),
            "postgres://app@127.0.0.1:5432/postgres"
        );
    }
}

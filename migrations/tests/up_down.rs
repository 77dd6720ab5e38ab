//! Every migration runs up, down and up again, on SQLite and PostgreSQL.

use sea_orm_migration::sea_orm::{ConnectionTrait, Database};
use sea_orm_migration::MigratorTrait;
use shouhu_migrations::testing::TestDatabase;
use shouhu_migrations::Migrator;

#[tokio::test]
async fn migrations_go_up_and_down() {
    for db in TestDatabase::all().await {
        let conn = Database::connect(&db.owner_url).await.expect("connect");
        let applied = Migrator::get_applied_migrations(&conn)
            .await
            .expect("status");
        assert_eq!(applied.len(), Migrator::migrations().len(), "{}", db.kind);
        // One step at a time, so that each down is exercised on its own.
        for _ in 0..Migrator::migrations().len() {
            Migrator::down(&conn, Some(1)).await.expect("down");
        }
        assert!(Migrator::get_applied_migrations(&conn)
            .await
            .expect("status")
            .is_empty());
        let leftover = conn
            .query_all(sea_orm_migration::sea_orm::Statement::from_string(
                conn.get_database_backend(),
                match db.kind {
                    "sqlite" => {
                        "SELECT name FROM sqlite_master WHERE type = 'table' \
                                 AND name NOT LIKE 'sqlite_%' AND name != 'seaql_migrations'"
                    }
                    _ => {
                        "SELECT tablename FROM pg_tables WHERE schemaname = 'public' \
                          AND tablename != 'seaql_migrations'"
                    }
                },
            ))
            .await
            .expect("list tables");
        assert!(leftover.is_empty(), "{}: tables left after down", db.kind);
        Migrator::up(&conn, None).await.expect("up again");
        conn.close().await.ok();
    }
}

/// Every table with a `tenant_id` column has it first in its primary key,
/// in every unique key and in every foreign key, and (on PostgreSQL) has
/// row-level security enabled and forced. This is what sharding by tenant
/// and the second wall between districts rest on.
#[tokio::test]
async fn tenant_tables_are_keyed_and_walled_by_tenant() {
    let Some(db) = TestDatabase::postgres().await else {
        return;
    };
    let conn = Database::connect(&db.owner_url).await.expect("connect");
    let pg = sea_orm_migration::sea_orm::DbBackend::Postgres;
    let tables: Vec<String> = conn
        .query_all(sea_orm_migration::sea_orm::Statement::from_string(
            pg,
            "SELECT table_name::text AS t FROM information_schema.columns \
             WHERE table_schema = 'public' AND column_name = 'tenant_id'",
        ))
        .await
        .unwrap()
        .iter()
        .map(|r| r.try_get::<String>("", "t").unwrap())
        .collect();
    assert!(tables.len() >= 9, "{tables:?}");
    let keys = conn
        .query_all(sea_orm_migration::sea_orm::Statement::from_string(
            pg,
            "SELECT c.conrelid::regclass::text AS t, c.conname::text AS name, \
                    c.contype::text AS kind, \
                    (SELECT a.attname::text FROM pg_attribute a \
                     WHERE a.attrelid = c.conrelid AND a.attnum = c.conkey[1]) AS first \
             FROM pg_constraint c \
             WHERE c.connamespace = 'public'::regnamespace AND c.contype IN ('p','u','f')",
        ))
        .await
        .unwrap();
    for row in keys {
        let table: String = row.try_get("", "t").unwrap();
        if !tables.contains(&table) {
            continue;
        }
        let first: String = row.try_get("", "first").unwrap();
        let name: String = row.try_get("", "name").unwrap();
        assert_eq!(
            first, "tenant_id",
            "{table}.{name} does not start with tenant_id"
        );
    }
    for table in &tables {
        let row = conn
            .query_one(sea_orm_migration::sea_orm::Statement::from_string(
                pg,
                format!(
                    "SELECT relrowsecurity AS on, relforcerowsecurity AS forced \
                     FROM pg_class WHERE oid = '{table}'::regclass"
                ),
            ))
            .await
            .unwrap()
            .unwrap();
        assert!(row.try_get::<bool>("", "on").unwrap(), "{table}: RLS off");
        assert!(
            row.try_get::<bool>("", "forced").unwrap(),
            "{table}: RLS not forced"
        );
    }
    conn.close().await.ok();
}

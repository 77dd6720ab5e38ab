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

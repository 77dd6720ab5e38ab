//! Helpers that run portable DDL and add PostgreSQL's row-level security.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend};

/// The PostgreSQL role that holds the server's table privileges. The login
/// role the server connects as is made a member of it; neither may be a
/// superuser nor have BYPASSRLS.
pub const APP_ROLE: &str = "shouhu_app";

/// Runs each statement in order.
pub async fn run(manager: &SchemaManager<'_>, statements: &[&str]) -> Result<(), DbErr> {
    let conn = manager.get_connection();
    for statement in statements {
        conn.execute_unprepared(statement).await?;
    }
    Ok(())
}

pub fn is_postgres(manager: &SchemaManager<'_>) -> bool {
    manager.get_database_backend() == DbBackend::Postgres
}

/// On PostgreSQL: turns on and forces row-level security for a tenant-owned
/// table, with one policy that admits only rows of the transaction's tenant.
/// A missing setting compares with NULL and so admits nothing.
pub async fn tenant_table(
    manager: &SchemaManager<'_>,
    table: &str,
    privileges: &str,
) -> Result<(), DbErr> {
    if !is_postgres(manager) {
        return Ok(());
    }
    let scope = "tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid";
    let statements = [
        format!("ALTER TABLE {table} ENABLE ROW LEVEL SECURITY"),
        format!("ALTER TABLE {table} FORCE ROW LEVEL SECURITY"),
        format!("CREATE POLICY tenant_isolation ON {table} USING ({scope}) WITH CHECK ({scope})"),
        format!("GRANT {privileges} ON {table} TO {APP_ROLE}"),
    ];
    let conn = manager.get_connection();
    for statement in statements {
        conn.execute_unprepared(&statement).await?;
    }
    Ok(())
}

/// On PostgreSQL: grants the app role access to a platform table (one that
/// no tenant owns and that carries no children's data).
pub async fn platform_table(
    manager: &SchemaManager<'_>,
    table: &str,
    privileges: &str,
) -> Result<(), DbErr> {
    if !is_postgres(manager) {
        return Ok(());
    }
    manager
        .get_connection()
        .execute_unprepared(&format!("GRANT {privileges} ON {table} TO {APP_ROLE}"))
        .await?;
    Ok(())
}

/// Drops tables in the order given.
pub async fn drop_tables(manager: &SchemaManager<'_>, tables: &[&str]) -> Result<(), DbErr> {
    let conn = manager.get_connection();
    for table in tables {
        conn.execute_unprepared(&format!("DROP TABLE IF EXISTS {table}"))
            .await?;
    }
    Ok(())
}

//! Platform tables: districts (tenants), platform operators and their
//! sessions, and the server's signing key. None of them holds children's
//! data, and none is tenant-owned.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::ConnectionTrait;

use crate::sql::{self, APP_ROLE};

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0001_platform"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if sql::is_postgres(manager) {
            // The role is cluster-wide and may already exist from another
            // database of the same cluster.
            let conn = manager.get_connection();
            conn.execute_unprepared(&format!(
                "DO $$ BEGIN \
                 IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{APP_ROLE}') THEN \
                 CREATE ROLE {APP_ROLE} NOLOGIN NOSUPERUSER NOBYPASSRLS; END IF; END $$"
            ))
            .await?;
            conn.execute_unprepared(&format!("GRANT USAGE ON SCHEMA public TO {APP_ROLE}"))
                .await?;
        }
        sql::run(
            manager,
            &[
                "CREATE TABLE tenants (
                    id uuid NOT NULL PRIMARY KEY,
                    code varchar(6) NOT NULL UNIQUE,
                    slug varchar(40) NOT NULL UNIQUE,
                    name varchar(100) NOT NULL,
                    province varchar(100),
                    city varchar(100),
                    time_zone varchar(64) NOT NULL,
                    policy_version bigint NOT NULL,
                    created_at_ms bigint NOT NULL
                )",
                "CREATE TABLE operators (
                    id uuid NOT NULL PRIMARY KEY,
                    username varchar(64) NOT NULL UNIQUE,
                    password_hash text NOT NULL,
                    failed_count integer NOT NULL,
                    failed_window_start_ms bigint,
                    locked_until_ms bigint,
                    created_at_ms bigint NOT NULL
                )",
                "CREATE TABLE operator_sessions (
                    id uuid NOT NULL PRIMARY KEY,
                    operator_id uuid NOT NULL REFERENCES operators(id),
                    created_at_ms bigint NOT NULL,
                    expires_at_ms bigint NOT NULL,
                    revoked_at_ms bigint
                )",
                "CREATE TABLE server_keys (
                    name varchar(64) NOT NULL PRIMARY KEY,
                    secret text NOT NULL,
                    created_at_ms bigint NOT NULL
                )",
            ],
        )
        .await?;
        sql::platform_table(manager, "tenants", "SELECT, INSERT, UPDATE").await?;
        sql::platform_table(manager, "operators", "SELECT, INSERT, UPDATE").await?;
        sql::platform_table(manager, "operator_sessions", "SELECT, INSERT, UPDATE").await?;
        sql::platform_table(manager, "server_keys", "SELECT, INSERT").await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        sql::drop_tables(
            manager,
            &["server_keys", "operator_sessions", "operators", "tenants"],
        )
        .await?;
        if sql::is_postgres(manager) {
            manager
                .get_connection()
                .execute_unprepared(&format!("REVOKE USAGE ON SCHEMA public FROM {APP_ROLE}"))
                .await?;
        }
        Ok(())
    }
}

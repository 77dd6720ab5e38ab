//! The audit log: one hash chain per tenant (and one for the platform, under
//! the nil tenant id), with the head of each chain kept separately so that
//! cutting entries off the end is detected too. Rows cannot be updated or
//! deleted: triggers refuse it on both databases, and on PostgreSQL the app
//! role is granted only SELECT and INSERT.

use sea_orm_migration::prelude::*;

use crate::sql;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0004_audit"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        sql::run(
            manager,
            &[
                "CREATE TABLE audit_log (
                    tenant_id uuid NOT NULL,
                    seq bigint NOT NULL,
                    at_ms bigint NOT NULL,
                    request_id varchar(64) NOT NULL,
                    actor_kind varchar(16) NOT NULL,
                    actor_id uuid NOT NULL,
                    action varchar(64) NOT NULL,
                    target_kind varchar(32) NOT NULL,
                    target_id varchar(64) NOT NULL,
                    outcome varchar(16) NOT NULL,
                    detail text NOT NULL,
                    prev_hash varchar(64) NOT NULL,
                    hash varchar(64) NOT NULL,
                    PRIMARY KEY (tenant_id, seq)
                )",
                "CREATE INDEX audit_log_action ON audit_log (tenant_id, action, seq)",
                "CREATE TABLE audit_heads (
                    tenant_id uuid NOT NULL PRIMARY KEY,
                    seq bigint NOT NULL,
                    hash varchar(64) NOT NULL
                )",
            ],
        )
        .await?;
        if sql::is_postgres(manager) {
            sql::run(
                manager,
                &[
                    "CREATE FUNCTION audit_log_append_only() RETURNS trigger AS $$
                     BEGIN RAISE EXCEPTION 'audit_log is append-only'; END $$
                     LANGUAGE plpgsql",
                    "CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
                     FOR EACH ROW EXECUTE FUNCTION audit_log_append_only()",
                ],
            )
            .await?;
        } else {
            sql::run(
                manager,
                &[
                    "CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
                     BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END",
                    "CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
                     BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END",
                ],
            )
            .await?;
        }
        sql::tenant_table(manager, "audit_log", "SELECT, INSERT").await?;
        sql::tenant_table(manager, "audit_heads", "SELECT, INSERT, UPDATE").await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        sql::drop_tables(manager, &["audit_heads", "audit_log"]).await?;
        if sql::is_postgres(manager) {
            sql::run(
                manager,
                &["DROP FUNCTION IF EXISTS audit_log_append_only()"],
            )
            .await?;
        }
        Ok(())
    }
}

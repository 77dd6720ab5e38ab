//! Local assistance programmes of a district: each programme (its category,
//! benefit, budget, term and eligibility plugin), the enrolments of minors
//! (proposed, approved, rejected, ended), and the benefit ledger whose
//! entries commit and release a programme's budget. All tenant tables.
//!
//! Money is integer cents (`bigint`), never floating point. A minor holds
//! at most one open (proposed or approved) enrolment per programme: a
//! partial unique index says so on both databases, so two caseworkers
//! proposing the same child at once cannot both succeed.

use sea_orm_migration::prelude::*;

use crate::sql;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0010_assistance"
    }
}

const TABLES: &[&str] = &["programmes", "enrolments", "benefit_entries"];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        sql::run(
            manager,
            &[
                "CREATE TABLE programmes (
                    tenant_id uuid NOT NULL REFERENCES tenants(id),
                    id uuid NOT NULL,
                    name varchar(100) NOT NULL,
                    description text NOT NULL,
                    category varchar(32) NOT NULL,
                    amount_cents bigint,
                    period varchar(16),
                    in_kind varchar(200),
                    budget_cents bigint,
                    starts_on varchar(10) NOT NULL,
                    ends_on varchar(10) NOT NULL,
                    plugin_id uuid,
                    version bigint NOT NULL,
                    created_by uuid NOT NULL,
                    created_at_ms bigint NOT NULL,
                    updated_at_ms bigint NOT NULL,
                    PRIMARY KEY (tenant_id, id),
                    UNIQUE (tenant_id, name),
                    FOREIGN KEY (tenant_id, plugin_id) REFERENCES plugins(tenant_id, id)
                )",
                "CREATE TABLE enrolments (
                    tenant_id uuid NOT NULL,
                    id uuid NOT NULL,
                    programme_id uuid NOT NULL,
                    minor_id uuid NOT NULL,
                    status varchar(16) NOT NULL,
                    call_id uuid,
                    reasons text NOT NULL,
                    reasons_sensitive boolean NOT NULL,
                    amount_cents bigint,
                    period varchar(16),
                    in_kind varchar(200),
                    benefit_from varchar(10),
                    proposed_by uuid NOT NULL,
                    proposed_at_ms bigint NOT NULL,
                    decided_by uuid,
                    decided_at_ms bigint,
                    note text,
                    PRIMARY KEY (tenant_id, id),
                    FOREIGN KEY (tenant_id, programme_id) REFERENCES programmes(tenant_id, id),
                    FOREIGN KEY (tenant_id, minor_id) REFERENCES minors(tenant_id, id),
                    FOREIGN KEY (tenant_id, call_id) REFERENCES plugin_calls(tenant_id, id)
                )",
                "CREATE UNIQUE INDEX enrolments_open
                    ON enrolments (tenant_id, programme_id, minor_id)
                    WHERE status IN ('proposed', 'approved')",
                "CREATE INDEX enrolments_minor ON enrolments (tenant_id, minor_id)",
                "CREATE TABLE benefit_entries (
                    tenant_id uuid NOT NULL,
                    id uuid NOT NULL,
                    programme_id uuid NOT NULL,
                    enrolment_id uuid NOT NULL,
                    minor_id uuid NOT NULL,
                    kind varchar(16) NOT NULL,
                    amount_cents bigint NOT NULL,
                    periods integer NOT NULL,
                    note text NOT NULL,
                    recorded_by uuid NOT NULL,
                    at_ms bigint NOT NULL,
                    PRIMARY KEY (tenant_id, id),
                    FOREIGN KEY (tenant_id, programme_id) REFERENCES programmes(tenant_id, id),
                    FOREIGN KEY (tenant_id, enrolment_id) REFERENCES enrolments(tenant_id, id),
                    FOREIGN KEY (tenant_id, minor_id) REFERENCES minors(tenant_id, id)
                )",
                "CREATE INDEX benefit_entries_programme
                    ON benefit_entries (tenant_id, programme_id)",
                "CREATE INDEX benefit_entries_minor ON benefit_entries (tenant_id, minor_id)",
            ],
        )
        .await?;
        for table in TABLES {
            sql::tenant_table(manager, table, "SELECT, INSERT, UPDATE").await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let reversed: Vec<&str> = TABLES.iter().rev().copied().collect();
        sql::drop_tables(manager, &reversed).await
    }
}

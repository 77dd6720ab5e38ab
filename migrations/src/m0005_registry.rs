//! The registry of minors: households, minors, their guardians, the
//! difficulty categories each minor belongs to (several at once, each with
//! the date it applied from and the source of that finding), and the
//! history of every change. All tenant-owned.
//!
//! Birth dates are ISO `YYYY-MM-DD` text, which sorts and compares the same
//! way on both databases; ages are computed from them, never stored.

use sea_orm_migration::prelude::*;

use crate::sql;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0005_registry"
    }
}

const TABLES: &[&str] = &[
    "households",
    "minors",
    "guardians",
    "minor_categories",
    "minor_history",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        sql::run(
            manager,
            &[
                "CREATE TABLE households (
                    tenant_id uuid NOT NULL REFERENCES tenants(id),
                    id uuid NOT NULL,
                    org_unit_id uuid NOT NULL,
                    address text,
                    created_at_ms bigint NOT NULL,
                    PRIMARY KEY (tenant_id, id),
                    FOREIGN KEY (tenant_id, org_unit_id) REFERENCES org_units(tenant_id, id)
                )",
                "CREATE TABLE minors (
                    tenant_id uuid NOT NULL REFERENCES tenants(id),
                    id uuid NOT NULL,
                    household_id uuid,
                    name varchar(60) NOT NULL,
                    doc_type varchar(24),
                    doc_number varchar(32),
                    needs_follow_up boolean NOT NULL,
                    sex varchar(8) NOT NULL,
                    birth_date varchar(10) NOT NULL,
                    ethnicity varchar(32),
                    hukou_place varchar(200),
                    org_unit_id uuid NOT NULL,
                    address text,
                    phone varchar(32),
                    school varchar(100),
                    grade varchar(32),
                    health text,
                    disability_grade varchar(16),
                    hiv_status varchar(16),
                    economic_status varchar(16) NOT NULL,
                    status varchar(16) NOT NULL,
                    version bigint NOT NULL,
                    created_at_ms bigint NOT NULL,
                    updated_at_ms bigint NOT NULL,
                    PRIMARY KEY (tenant_id, id),
                    UNIQUE (tenant_id, doc_type, doc_number),
                    FOREIGN KEY (tenant_id, org_unit_id) REFERENCES org_units(tenant_id, id),
                    FOREIGN KEY (tenant_id, household_id) REFERENCES households(tenant_id, id)
                )",
                "CREATE INDEX minors_unit ON minors (tenant_id, org_unit_id, name, id)",
                "CREATE INDEX minors_name ON minors (tenant_id, name, id)",
                "CREATE INDEX minors_birth ON minors (tenant_id, birth_date)",
                "CREATE TABLE guardians (
                    tenant_id uuid NOT NULL,
                    id uuid NOT NULL,
                    minor_id uuid NOT NULL,
                    name varchar(60) NOT NULL,
                    relationship varchar(16) NOT NULL,
                    phone varchar(32),
                    situation varchar(24) NOT NULL,
                    created_at_ms bigint NOT NULL,
                    PRIMARY KEY (tenant_id, id),
                    FOREIGN KEY (tenant_id, minor_id) REFERENCES minors(tenant_id, id)
                )",
                "CREATE INDEX guardians_minor ON guardians (tenant_id, minor_id)",
                "CREATE TABLE minor_categories (
                    tenant_id uuid NOT NULL,
                    minor_id uuid NOT NULL,
                    category varchar(32) NOT NULL,
                    since varchar(10) NOT NULL,
                    source varchar(200) NOT NULL,
                    PRIMARY KEY (tenant_id, minor_id, category),
                    FOREIGN KEY (tenant_id, minor_id) REFERENCES minors(tenant_id, id)
                )",
                "CREATE INDEX minor_categories_category ON minor_categories \
                 (tenant_id, category, minor_id)",
                "CREATE TABLE minor_history (
                    tenant_id uuid NOT NULL,
                    id uuid NOT NULL,
                    minor_id uuid NOT NULL,
                    at_ms bigint NOT NULL,
                    actor_kind varchar(16) NOT NULL,
                    actor_id uuid NOT NULL,
                    change varchar(32) NOT NULL,
                    before text NOT NULL,
                    after text NOT NULL,
                    reason text NOT NULL,
                    PRIMARY KEY (tenant_id, id),
                    FOREIGN KEY (tenant_id, minor_id) REFERENCES minors(tenant_id, id)
                )",
                "CREATE INDEX minor_history_minor ON minor_history (tenant_id, minor_id, at_ms)",
            ],
        )
        .await?;
        for table in TABLES {
            sql::tenant_table(manager, table, "SELECT, INSERT, UPDATE, DELETE").await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let reversed: Vec<&str> = TABLES.iter().rev().copied().collect();
        sql::drop_tables(manager, &reversed).await
    }
}

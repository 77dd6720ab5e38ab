//! The caring-family (爱心家庭) reserve pool: each household the district
//! may place a child with, the history of its vetting, and the placements
//! made with it, each tied to the casework placement it stands for and to
//! the matching plugin call that ranked the family.
//!
//! A family's unit is a foreign key to `org_units`, so the pool is bounded
//! by the caller's subtree in SQL the way the registry bounds minors. The
//! ages, sexes, skills and languages a family can care for are short code
//! lists, stored as comma-separated text so that both databases read them
//! alike; they are only ever matched in the plugin, never in SQL.

use sea_orm_migration::prelude::*;

use crate::sql;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0009_partners"
    }
}

/// In creation order; dropped in reverse.
const TABLES: &[&str] = &[
    "caring_families",
    "family_vetting",
    "family_offers",
    "family_placements",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        sql::run(
            manager,
            &[
                "CREATE TABLE caring_families (
                    tenant_id uuid NOT NULL REFERENCES tenants(id),
                    id uuid NOT NULL,
                    name varchar(100) NOT NULL,
                    org_unit_id uuid NOT NULL,
                    address varchar(200),
                    phone varchar(32),
                    capacity integer NOT NULL,
                    age_min integer NOT NULL,
                    age_max integer NOT NULL,
                    sexes varchar(32) NOT NULL,
                    skills varchar(400) NOT NULL,
                    languages varchar(400) NOT NULL,
                    vetting_status varchar(16) NOT NULL,
                    available boolean NOT NULL,
                    version bigint NOT NULL,
                    created_at_ms bigint NOT NULL,
                    updated_at_ms bigint NOT NULL,
                    PRIMARY KEY (tenant_id, id),
                    FOREIGN KEY (tenant_id, org_unit_id) REFERENCES org_units(tenant_id, id)
                )",
                "CREATE INDEX caring_families_unit ON caring_families (tenant_id, org_unit_id, id)",
                "CREATE INDEX caring_families_status
                    ON caring_families (tenant_id, vetting_status, available, id)",
                // Append-only: one row per change of vetting status.
                "CREATE TABLE family_vetting (
                    tenant_id uuid NOT NULL,
                    id uuid NOT NULL,
                    family_id uuid NOT NULL,
                    before_status varchar(16),
                    after_status varchar(16) NOT NULL,
                    actor_kind varchar(16) NOT NULL,
                    actor_id uuid NOT NULL,
                    reason text,
                    at_ms bigint NOT NULL,
                    PRIMARY KEY (tenant_id, id),
                    FOREIGN KEY (tenant_id, family_id) REFERENCES caring_families(tenant_id, id)
                )",
                "CREATE INDEX family_vetting_family
                    ON family_vetting (tenant_id, family_id, at_ms)",
                // The families a match offered: the plugin's ranking less any
                // family that was not a candidate. A placement must cite one.
                "CREATE TABLE family_offers (
                    tenant_id uuid NOT NULL,
                    call_id uuid NOT NULL,
                    family_id uuid NOT NULL,
                    match_rank integer NOT NULL,
                    score double precision NOT NULL,
                    explanation text NOT NULL,
                    PRIMARY KEY (tenant_id, call_id, family_id),
                    FOREIGN KEY (tenant_id, call_id) REFERENCES plugin_calls(tenant_id, id),
                    FOREIGN KEY (tenant_id, family_id) REFERENCES caring_families(tenant_id, id)
                )",
                "CREATE TABLE family_placements (
                    tenant_id uuid NOT NULL,
                    id uuid NOT NULL,
                    case_id uuid NOT NULL,
                    family_id uuid NOT NULL,
                    placement_id uuid NOT NULL,
                    call_id uuid,
                    match_rank integer NOT NULL,
                    score double precision NOT NULL,
                    explanation text NOT NULL,
                    reason text,
                    chosen_by uuid NOT NULL,
                    at_ms bigint NOT NULL,
                    PRIMARY KEY (tenant_id, id),
                    UNIQUE (tenant_id, placement_id),
                    FOREIGN KEY (tenant_id, case_id) REFERENCES cases(tenant_id, id),
                    FOREIGN KEY (tenant_id, family_id) REFERENCES caring_families(tenant_id, id),
                    FOREIGN KEY (tenant_id, placement_id) REFERENCES placements(tenant_id, id),
                    FOREIGN KEY (tenant_id, call_id) REFERENCES plugin_calls(tenant_id, id)
                )",
                "CREATE INDEX family_placements_case
                    ON family_placements (tenant_id, case_id, at_ms)",
                "CREATE INDEX family_placements_family ON family_placements (tenant_id, family_id)",
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

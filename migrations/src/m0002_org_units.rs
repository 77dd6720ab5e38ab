//! The org-unit tree of each district: the district itself at the root,
//! streets and towns under it, communities and villages under those. `path`
//! is the materialised path of unit codes (`/320506/320506001/`), so "all
//! units under this one" is a prefix match that an index serves.

use sea_orm_migration::prelude::*;

use crate::sql;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0002_org_units"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        sql::run(
            manager,
            &[
                "CREATE TABLE org_units (
                    tenant_id uuid NOT NULL REFERENCES tenants(id),
                    id uuid NOT NULL,
                    parent_id uuid,
                    code varchar(32) NOT NULL,
                    name varchar(100) NOT NULL,
                    kind varchar(16) NOT NULL,
                    path varchar(400) NOT NULL,
                    depth integer NOT NULL,
                    created_at_ms bigint NOT NULL,
                    PRIMARY KEY (tenant_id, id),
                    UNIQUE (tenant_id, code),
                    FOREIGN KEY (tenant_id, parent_id) REFERENCES org_units(tenant_id, id)
                )",
                "CREATE UNIQUE INDEX org_units_path ON org_units (tenant_id, path)",
            ],
        )
        .await?;
        if sql::is_postgres(manager) {
            // Subtree queries are `path LIKE '/…/%'`; under a non-C collation
            // only a text_pattern_ops index serves a prefix match.
            sql::run(
                manager,
                &["CREATE INDEX org_units_path_prefix ON org_units \
                   (tenant_id, path text_pattern_ops)"],
            )
            .await?;
        }
        sql::tenant_table(manager, "org_units", "SELECT, INSERT, UPDATE").await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        sql::drop_tables(manager, &["org_units"]).await
    }
}

//! WebAssembly plugins of a district: each plugin, its uploaded versions
//! (module bytes, SHA-256 and manifest), which version is active, the role
//! its input query runs as, the record of every call, and a per-district
//! counter that server processes poll to pick up activations. All tenant
//! tables.
//!
//! The active version lives in its own row (`plugin_active`) rather than in
//! a column of `plugins`, so that both of its references are real foreign
//! keys: a column on `plugins` pointing at `plugin_versions`, which points
//! back at `plugins`, would need a constraint added after both tables exist,
//! which SQLite cannot do.
//!
//! Module bytes are `bytea`: PostgreSQL's binary type, which SQLite accepts
//! as a name and stores blobs under unchanged.

use sea_orm_migration::prelude::*;

use crate::sql;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0008_plugins"
    }
}

const TABLES: &[&str] = &[
    "plugin_epochs",
    "plugins",
    "plugin_versions",
    "plugin_active",
    "plugin_grants",
    "plugin_calls",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        sql::run(
            manager,
            &[
                "CREATE TABLE plugin_epochs (
                    tenant_id uuid NOT NULL REFERENCES tenants(id),
                    epoch bigint NOT NULL,
                    PRIMARY KEY (tenant_id)
                )",
                "CREATE TABLE plugins (
                    tenant_id uuid NOT NULL REFERENCES tenants(id),
                    id uuid NOT NULL,
                    slug varchar(64) NOT NULL,
                    kind varchar(32) NOT NULL,
                    disabled boolean NOT NULL,
                    created_at_ms bigint NOT NULL,
                    updated_at_ms bigint NOT NULL,
                    PRIMARY KEY (tenant_id, id),
                    UNIQUE (tenant_id, slug)
                )",
                "CREATE TABLE plugin_versions (
                    tenant_id uuid NOT NULL,
                    id uuid NOT NULL,
                    plugin_id uuid NOT NULL,
                    version varchar(32) NOT NULL,
                    sha256 varchar(64) NOT NULL,
                    module bytea NOT NULL,
                    manifest text NOT NULL,
                    size_bytes bigint NOT NULL,
                    uploaded_by uuid NOT NULL,
                    uploaded_at_ms bigint NOT NULL,
                    PRIMARY KEY (tenant_id, id),
                    UNIQUE (tenant_id, plugin_id, version),
                    FOREIGN KEY (tenant_id, plugin_id) REFERENCES plugins(tenant_id, id)
                )",
                "CREATE TABLE plugin_active (
                    tenant_id uuid NOT NULL,
                    plugin_id uuid NOT NULL,
                    version_id uuid NOT NULL,
                    previous_version_id uuid,
                    activated_by uuid NOT NULL,
                    activated_at_ms bigint NOT NULL,
                    PRIMARY KEY (tenant_id, plugin_id),
                    FOREIGN KEY (tenant_id, plugin_id) REFERENCES plugins(tenant_id, id),
                    FOREIGN KEY (tenant_id, version_id) REFERENCES plugin_versions(tenant_id, id),
                    FOREIGN KEY (tenant_id, previous_version_id)
                        REFERENCES plugin_versions(tenant_id, id)
                )",
                "CREATE TABLE plugin_grants (
                    tenant_id uuid NOT NULL,
                    plugin_id uuid NOT NULL,
                    role varchar(64) NOT NULL,
                    granted_by uuid NOT NULL,
                    granted_at_ms bigint NOT NULL,
                    PRIMARY KEY (tenant_id, plugin_id),
                    FOREIGN KEY (tenant_id, plugin_id) REFERENCES plugins(tenant_id, id)
                )",
                "CREATE TABLE plugin_calls (
                    tenant_id uuid NOT NULL,
                    id uuid NOT NULL,
                    plugin_id uuid NOT NULL,
                    version_id uuid NOT NULL,
                    purpose varchar(16) NOT NULL,
                    caller_kind varchar(16) NOT NULL,
                    caller_id uuid NOT NULL,
                    input_sha256 varchar(64) NOT NULL,
                    output text,
                    error_code varchar(32),
                    fuel bigint NOT NULL,
                    duration_us bigint NOT NULL,
                    at_ms bigint NOT NULL,
                    PRIMARY KEY (tenant_id, id),
                    FOREIGN KEY (tenant_id, plugin_id) REFERENCES plugins(tenant_id, id),
                    FOREIGN KEY (tenant_id, version_id) REFERENCES plugin_versions(tenant_id, id)
                )",
                "CREATE INDEX plugin_calls_plugin ON plugin_calls (tenant_id, plugin_id, at_ms)",
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

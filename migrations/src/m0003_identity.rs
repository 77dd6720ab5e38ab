//! Roles, their permissions (for custom roles), users, their roles, sign-in
//! sessions and API keys; all tenant-owned.

use sea_orm_migration::prelude::*;

use crate::sql;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0003_identity"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        sql::run(
            manager,
            &[
                "CREATE TABLE roles (
                    tenant_id uuid NOT NULL REFERENCES tenants(id),
                    id uuid NOT NULL,
                    name varchar(40) NOT NULL,
                    label varchar(100) NOT NULL,
                    builtin boolean NOT NULL,
                    created_at_ms bigint NOT NULL,
                    PRIMARY KEY (tenant_id, id),
                    UNIQUE (tenant_id, name)
                )",
                "CREATE TABLE role_permissions (
                    tenant_id uuid NOT NULL,
                    role_id uuid NOT NULL,
                    permission varchar(64) NOT NULL,
                    PRIMARY KEY (tenant_id, role_id, permission),
                    FOREIGN KEY (tenant_id, role_id) REFERENCES roles(tenant_id, id)
                        ON DELETE CASCADE
                )",
                "CREATE TABLE users (
                    tenant_id uuid NOT NULL REFERENCES tenants(id),
                    id uuid NOT NULL,
                    username varchar(64) NOT NULL,
                    display_name varchar(100) NOT NULL,
                    password_hash text NOT NULL,
                    org_unit_id uuid NOT NULL,
                    active boolean NOT NULL,
                    failed_count integer NOT NULL,
                    failed_window_start_ms bigint,
                    locked_until_ms bigint,
                    created_at_ms bigint NOT NULL,
                    PRIMARY KEY (tenant_id, id),
                    UNIQUE (tenant_id, username),
                    FOREIGN KEY (tenant_id, org_unit_id) REFERENCES org_units(tenant_id, id)
                )",
                "CREATE TABLE user_roles (
                    tenant_id uuid NOT NULL,
                    user_id uuid NOT NULL,
                    role_id uuid NOT NULL,
                    PRIMARY KEY (tenant_id, user_id, role_id),
                    FOREIGN KEY (tenant_id, user_id) REFERENCES users(tenant_id, id),
                    FOREIGN KEY (tenant_id, role_id) REFERENCES roles(tenant_id, id)
                )",
                "CREATE TABLE sessions (
                    tenant_id uuid NOT NULL,
                    id uuid NOT NULL,
                    user_id uuid NOT NULL,
                    created_at_ms bigint NOT NULL,
                    expires_at_ms bigint NOT NULL,
                    revoked_at_ms bigint,
                    PRIMARY KEY (tenant_id, id),
                    FOREIGN KEY (tenant_id, user_id) REFERENCES users(tenant_id, id)
                )",
                "CREATE TABLE api_keys (
                    tenant_id uuid NOT NULL,
                    id uuid NOT NULL,
                    name varchar(100) NOT NULL,
                    secret_hash varchar(64) NOT NULL,
                    role_id uuid NOT NULL,
                    org_unit_id uuid NOT NULL,
                    created_by uuid,
                    created_at_ms bigint NOT NULL,
                    expires_at_ms bigint,
                    revoked_at_ms bigint,
                    PRIMARY KEY (tenant_id, id),
                    FOREIGN KEY (tenant_id, role_id) REFERENCES roles(tenant_id, id),
                    FOREIGN KEY (tenant_id, org_unit_id) REFERENCES org_units(tenant_id, id)
                )",
            ],
        )
        .await?;
        let rw = "SELECT, INSERT, UPDATE, DELETE";
        for table in [
            "roles",
            "role_permissions",
            "users",
            "user_roles",
            "sessions",
            "api_keys",
        ] {
            sql::tenant_table(manager, table, rw).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        sql::drop_tables(
            manager,
            &[
                "api_keys",
                "sessions",
                "user_roles",
                "users",
                "role_permissions",
                "roles",
            ],
        )
        .await
    }
}

//! The database schema, as reversible migrations that run on SQLite and on
//! PostgreSQL.
//!
//! The DDL is written once, in the SQL both databases accept. Every
//! tenant-owned table has `tenant_id` first in its primary key and in every
//! foreign key, which is what sharding by tenant (Citus) needs. On
//! PostgreSQL each tenant-owned table also gets row-level security keyed on
//! the transaction-local setting `app.tenant_id`, forced even for the table
//! owner, and the privileges of the `shouhu_app` role that the server's
//! login role is a member of (see docs/operations.md).

pub use sea_orm_migration::prelude::*;

mod m0001_platform;
mod m0002_org_units;
mod m0003_identity;
mod m0004_audit;
mod m0005_registry;
mod m0006_ledger_index;
mod m0007_casework;
mod m0008_plugins;
mod m0010_assistance;
mod sql;
/// Test databases for every crate's tests (small, and kept in the crate
/// that knows the schema and the roles).
pub mod testing;

pub use sql::APP_ROLE;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m0001_platform::Migration),
            Box::new(m0002_org_units::Migration),
            Box::new(m0003_identity::Migration),
            Box::new(m0004_audit::Migration),
            Box::new(m0005_registry::Migration),
            Box::new(m0006_ledger_index::Migration),
            Box::new(m0007_casework::Migration),
            Box::new(m0008_plugins::Migration),
            Box::new(m0010_assistance::Migration),
        ]
    }
}

//! The difficulty ledger of one street, fast on a district of a million minors.
//!
//! A page of that ledger is "minors under these units, in this category, by name". With the
//! category in one table and the unit in another, every plan had to visit either every
//! minor of the street or every minor of the category in the district (tens of thousands
//! of rows for one page of 50). Here each `minor_categories` row gets a copy of its minor's
//! `org_unit_id`, and two indexes lead from (category, unit) or (unit) to the minor ids, so
//! the ledger query meets only the rows it returns candidates for (see docs/benchmarks.md).
//!
//! The copy is kept by triggers, not by application code, so that no writer (the service,
//! an import, a bulk generator) can forget it: a new category row takes its minor's unit,
//! and a minor who moves takes its category rows along. The queries still bound the minors
//! themselves by unit, so a copy that were ever wrong would hide a row, never show one
//! outside the caller's scope.

use sea_orm_migration::prelude::*;

use crate::sql;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0006_ledger_index"
    }
}

const INDEXES: &[&str] = &[
    "CREATE INDEX minor_categories_unit ON minor_categories \
     (tenant_id, category, org_unit_id, minor_id)",
    "CREATE INDEX minor_categories_any_unit ON minor_categories \
     (tenant_id, org_unit_id, minor_id)",
];

const BACKFILL: &str = "UPDATE minor_categories SET org_unit_id = (
    SELECT m.org_unit_id FROM minors m
    WHERE m.tenant_id = minor_categories.tenant_id AND m.id = minor_categories.minor_id)";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        sql::run(
            manager,
            &["ALTER TABLE minor_categories ADD COLUMN org_unit_id uuid"],
        )
        .await?;
        if sql::is_postgres(manager) {
            sql::run(
                manager,
                &[
                    // Row-level security is forced even for the tables' owner, who runs the
                    // migrations and has no tenant set here; it is lifted for the backfill
                    // only (a superuser is not bound by it anyway).
                    "ALTER TABLE minors NO FORCE ROW LEVEL SECURITY",
                    "ALTER TABLE minor_categories NO FORCE ROW LEVEL SECURITY",
                    BACKFILL,
                    "ALTER TABLE minors FORCE ROW LEVEL SECURITY",
                    "ALTER TABLE minor_categories FORCE ROW LEVEL SECURITY",
                    // The lookup runs as the inserting role, under its tenant's policy.
                    "CREATE FUNCTION minor_categories_take_unit() RETURNS trigger AS $$
                     BEGIN
                         SELECT org_unit_id INTO NEW.org_unit_id FROM minors
                         WHERE tenant_id = NEW.tenant_id AND id = NEW.minor_id;
                         RETURN NEW;
                     END $$ LANGUAGE plpgsql",
                    "CREATE TRIGGER minor_categories_take_unit
                     BEFORE INSERT OR UPDATE OF minor_id ON minor_categories
                     FOR EACH ROW EXECUTE FUNCTION minor_categories_take_unit()",
                    "CREATE FUNCTION minors_move_categories() RETURNS trigger AS $$
                     BEGIN
                         UPDATE minor_categories SET org_unit_id = NEW.org_unit_id
                         WHERE tenant_id = NEW.tenant_id AND minor_id = NEW.id;
                         RETURN NULL;
                     END $$ LANGUAGE plpgsql",
                    "CREATE TRIGGER minors_move_categories
                     AFTER UPDATE OF org_unit_id ON minors
                     FOR EACH ROW WHEN (OLD.org_unit_id IS DISTINCT FROM NEW.org_unit_id)
                     EXECUTE FUNCTION minors_move_categories()",
                ],
            )
            .await?;
        } else {
            sql::run(
                manager,
                &[
                    BACKFILL,
                    // SQLite cannot change NEW in a BEFORE trigger; the row is completed
                    // right after it is written, in the same statement.
                    "CREATE TRIGGER minor_categories_take_unit
                     AFTER INSERT ON minor_categories FOR EACH ROW
                     BEGIN
                         UPDATE minor_categories SET org_unit_id = (
                             SELECT org_unit_id FROM minors
                             WHERE tenant_id = NEW.tenant_id AND id = NEW.minor_id)
                         WHERE tenant_id = NEW.tenant_id AND minor_id = NEW.minor_id
                           AND category = NEW.category;
                     END",
                    "CREATE TRIGGER minors_move_categories
                     AFTER UPDATE OF org_unit_id ON minors FOR EACH ROW
                     WHEN OLD.org_unit_id IS NOT NEW.org_unit_id
                     BEGIN
                         UPDATE minor_categories SET org_unit_id = NEW.org_unit_id
                         WHERE tenant_id = NEW.tenant_id AND minor_id = NEW.id;
                     END",
                ],
            )
            .await?;
        }
        sql::run(manager, INDEXES).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if sql::is_postgres(manager) {
            sql::run(
                manager,
                &[
                    "DROP TRIGGER IF EXISTS minors_move_categories ON minors",
                    "DROP TRIGGER IF EXISTS minor_categories_take_unit ON minor_categories",
                    "DROP FUNCTION IF EXISTS minors_move_categories()",
                    "DROP FUNCTION IF EXISTS minor_categories_take_unit()",
                ],
            )
            .await?;
        } else {
            sql::run(
                manager,
                &[
                    "DROP TRIGGER IF EXISTS minors_move_categories",
                    "DROP TRIGGER IF EXISTS minor_categories_take_unit",
                ],
            )
            .await?;
        }
        sql::run(
            manager,
            &[
                "DROP INDEX IF EXISTS minor_categories_any_unit",
                "DROP INDEX IF EXISTS minor_categories_unit",
                "ALTER TABLE minor_categories DROP COLUMN org_unit_id",
            ],
        )
        .await
    }
}

//! What a recorded plugin call was about: the case a match ranked families
//! for, the programme an eligibility decision was made under. A placement
//! chosen from a ranking is checked against it, so that a ranking made for
//! one child cannot place another.

use sea_orm_migration::prelude::*;

use crate::sql;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0011_call_subject"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        sql::run(
            manager,
            &["ALTER TABLE plugin_calls ADD COLUMN subject_id uuid"],
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        sql::run(
            manager,
            &["ALTER TABLE plugin_calls DROP COLUMN subject_id"],
        )
        .await
    }
}

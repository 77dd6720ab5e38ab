//! The facts a screening hands to an eligibility plugin: for each minor of
//! the caller's difficulty ledger, only what an eligibility rule needs
//! (age, sex, categories, household economic status, disability grade) and
//! never a name, document, address or phone.
//!
//! Sensitive categories are included only when the screening may show
//! them (the caller and the plugin's grant both hold `minor:sensitive`);
//! a minor whose categories are all hidden is left out, as in the masked
//! difficulty ledger, so that no answer depends on what is hidden.

use std::collections::HashMap;

use sea_orm::{ColumnTrait, QueryFilter, QueryOrder, QuerySelect};
use shouhu_kernel::{ApiError, Principal};
use shouhu_policies::Permission;
use uuid::Uuid;

use super::{MinorFilter, RegistryService};
use crate::dates::age_on;
use crate::entity::{minor, minor_category};
use crate::model::{Category, MinorStatus};

/// One minor as an eligibility rule sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MinorFacts {
    pub id: Uuid,
    pub age: u32,
    pub sex: String,
    /// Category codes, sorted.
    pub categories: Vec<String>,
    pub economic_status: String,
    pub disability_grade: Option<String>,
}

impl RegistryService {
    /// A page, by id, of the active minors under 18 of the caller's
    /// difficulty ledger (narrowed by `filter`), or the given minors when
    /// `ids` is set (those outside the caller's scope are simply absent).
    /// Also returns the last id read, the cursor of the next page (a page
    /// may hold fewer facts than rows read, when categories are hidden).
    pub async fn difficulty_facts(
        &self,
        who: &Principal,
        filter: &MinorFilter,
        ids: Option<&[Uuid]>,
        after: Option<Uuid>,
        limit: u64,
        show_sensitive: bool,
    ) -> Result<(Vec<MinorFacts>, Option<Uuid>), ApiError> {
        who.require(Permission::MinorRead)?;
        let show_sensitive = show_sensitive && who.has(Permission::MinorSensitive);
        let filter = MinorFilter {
            difficulty_only: true,
            status: Some(MinorStatus::Active),
            max_age: Some(filter.max_age.map_or(17, |age| age.min(17))),
            ..filter.clone()
        };
        let tx = self.db.read(who.tenant).await?;
        let under = self.under_path(&tx, who, filter.under).await?;
        let units = self.ledger_units(&tx, who, under.as_deref()).await?;
        let mut query = self
            .filtered(&tx, who, &filter, under.as_deref(), units.as_deref())
            .order_by_asc(minor::Column::Id)
            .limit(limit);
        if let Some(ids) = ids {
            query = query.filter(minor::Column::Id.is_in(ids.iter().copied()));
        }
        if let Some(after) = after {
            query = query.filter(minor::Column::Id.gt(after));
        }
        let rows = query.all(tx.conn()).await?;
        let Some(last) = rows.last().map(|r| r.id) else {
            return Ok((Vec::new(), None));
        };
        let mut categories: HashMap<Uuid, Vec<String>> = HashMap::new();
        let found = tx
            .select::<minor_category::Entity>()
            .filter(minor_category::Column::MinorId.is_in(rows.iter().map(|r| r.id)))
            .all(tx.conn())
            .await?;
        for row in found {
            let shown =
                Category::parse(&row.category).is_some_and(|c| show_sensitive || !c.is_sensitive());
            if shown {
                categories
                    .entry(row.minor_id)
                    .or_default()
                    .push(row.category);
            }
        }
        drop(tx);
        let today = self.today();
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let Some(mut cats) = categories.remove(&row.id) else {
                continue;
            };
            cats.sort();
            let birth = chrono::NaiveDate::parse_from_str(&row.birth_date, "%Y-%m-%d")
                .map_err(ApiError::internal)?;
            out.push(MinorFacts {
                id: row.id,
                age: age_on(birth, today),
                sex: row.sex,
                categories: cats,
                economic_status: row.economic_status,
                disability_grade: row.disability_grade,
            });
        }
        Ok((out, Some(last)))
    }
}

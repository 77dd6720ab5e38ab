//! Storing synthetic minors (see `crate::generate`) fast: one transaction per batch, in the
//! district's scope, with multi-row inserts of households, minors, guardians, categories
//! and the "created" history entries, and one audit entry per batch saying how many rows
//! it wrote and from which seed (never what they hold).
//!
//! The generator's rows are valid by construction (its tests hold it to every rule a record
//! must pass), so they are not run through `create_minor`'s checks one by one; that is what
//! makes a million rows a matter of minutes rather than hours.

use std::collections::{HashMap, HashSet};

use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DbBackend, QueryFilter, QuerySelect, Statement,
};
use serde_json::{json, Value};
use shouhu_audit::{Actor, AuditEntry};
use shouhu_kernel::ids::new_id;
use shouhu_kernel::{ApiError, Backend, Principal};
use shouhu_policies::Permission;
use uuid::Uuid;

use super::RegistryService;
use crate::entity::{guardian, household, minor, minor_category, minor_history};
use crate::generate::{GeneratorConfig, Place, SyntheticMinor};
use crate::model::{DocumentKind, MinorStatus};

/// Rows per statement, within SQLite's 32,766 bound parameters for the widest table
/// (`minors`, 24 columns).
const ROWS_PER_STATEMENT: usize = 1_000;

/// Writes batches of generated minors into one district; see the module documentation.
pub struct SyntheticWriter<'a> {
    service: &'a RegistryService,
    who: &'a Principal,
    actor: &'a Actor,
    seed: u64,
    places: Vec<Uuid>,
    /// The household the previous batch ended in: its children may run into the next batch.
    last_household: Option<(u64, Uuid)>,
    written: u64,
}

impl std::fmt::Debug for SyntheticWriter<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SyntheticWriter")
            .field("seed", &self.seed)
            .field("written", &self.written)
            .finish_non_exhaustive()
    }
}

/// Inserts `rows` in statements of at most [`ROWS_PER_STATEMENT`] rows.
macro_rules! insert_chunked {
    ($tx:expr, $rows:expr) => {{
        let mut rows = $rows;
        while !rows.is_empty() {
            let rest = rows.split_off(rows.len().min(ROWS_PER_STATEMENT));
            $tx.insert_many(rows).await?;
            rows = rest;
        }
    }};
}

impl RegistryService {
    /// What a generator needs to fill the caller's district: its code and place name, the
    /// district's today, and every community and village the caller may see, with the name
    /// of its street. Needs `minor:write`.
    pub async fn synthetic_config(
        &self,
        who: &Principal,
        seed: u64,
    ) -> Result<GeneratorConfig, ApiError> {
        who.require(Permission::MinorWrite)?;
        let tenant = self
            .tenancy
            .tenant(who.tenant)
            .await?
            .ok_or_else(|| ApiError::not_found("district"))?;
        let mut units = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let page = self
                .tenancy
                .list_org_units(who, None, after.as_deref(), 200)
                .await?;
            let done = page.len() < 200;
            after = page.last().map(|u| u.path.clone());
            units.extend(page);
            if done {
                break;
            }
        }
        let names: HashMap<Uuid, String> = units.iter().map(|u| (u.id, u.name.clone())).collect();
        let places = units
            .iter()
            .filter(|u| u.depth >= 2)
            .map(|u| Place {
                org_unit_id: u.id,
                name: u.name.clone(),
                street: u
                    .parent_id
                    .and_then(|p| names.get(&p).cloned())
                    .unwrap_or_default(),
            })
            .collect();
        let district_place = format!(
            "{}{}{}",
            tenant.province.unwrap_or_default(),
            tenant.city.unwrap_or_default(),
            tenant.name
        );
        Ok(GeneratorConfig {
            seed,
            district_code: tenant.code,
            district_place,
            today: self.today(),
            places,
        })
    }

    /// The resident identity numbers the district has registered, for the generator to
    /// avoid. Needs `minor:write`.
    pub async fn registered_resident_ids(
        &self,
        who: &Principal,
    ) -> Result<HashSet<String>, ApiError> {
        who.require(Permission::MinorWrite)?;
        let tx = self.db.read(who.tenant).await?;
        let numbers: Vec<Option<String>> = tx
            .select::<minor::Entity>()
            .filter(minor::Column::DocType.eq(DocumentKind::ResidentId.code()))
            .select_only()
            .column(minor::Column::DocNumber)
            .into_tuple()
            .all(tx.conn())
            .await?;
        tx.commit().await?;
        Ok(numbers.into_iter().flatten().collect())
    }

    /// A writer of generated minors into the caller's district; `config` must be the one
    /// the generator was made with. Needs `minor:write`.
    pub fn synthetic_writer<'a>(
        &'a self,
        who: &'a Principal,
        actor: &'a Actor,
        config: &GeneratorConfig,
    ) -> Result<SyntheticWriter<'a>, ApiError> {
        who.require(Permission::MinorWrite)?;
        Ok(SyntheticWriter {
            service: self,
            who,
            actor,
            seed: config.seed,
            places: config.places.iter().map(|p| p.org_unit_id).collect(),
            last_household: None,
            written: 0,
        })
    }
}

/// The tables a load fills, whose statistics it refreshes.
const LOADED_TABLES: &[&str] = &[
    "households",
    "minors",
    "guardians",
    "minor_categories",
    "minor_history",
];

impl SyntheticWriter<'_> {
    /// How many minors have been written.
    pub fn written(&self) -> u64 {
        self.written
    }

    /// Refreshes the planner's statistics of the tables written, so that the ledgers are
    /// planned for the rows just loaded at once rather than after autovacuum gets to them
    /// (with statistics of nearly empty tables, PostgreSQL chose nested loops that took a
    /// minute for a count over 1,500 minors). On PostgreSQL only the tables' owner may
    /// analyze them, so for another role this does nothing.
    pub async fn finish(self) -> Result<u64, ApiError> {
        let tx = self.service.db.write(self.who.tenant).await?;
        if tx.backend() == Backend::Postgres {
            // Only the owner (or a superuser) may; the server's role is neither, and its
            // refusal would be a warning per table in the log. Autovacuum catches up there.
            let owner = tx
                .conn()
                .query_one(Statement::from_string(
                    DbBackend::Postgres,
                    "SELECT pg_has_role(current_user, relowner, 'MEMBER') AS owner \
                     FROM pg_class WHERE oid = 'minors'::regclass",
                ))
                .await?
                .map(|row| row.try_get::<bool>("", "owner"))
                .transpose()?
                .unwrap_or(false);
            if !owner {
                tx.commit().await?;
                return Ok(self.written);
            }
        }
        for table in LOADED_TABLES {
            tx.conn()
                .execute_unprepared(&format!("ANALYZE {table}"))
                .await?;
        }
        tx.commit().await?;
        Ok(self.written)
    }

    /// Writes one batch in one transaction; returns how many minors it wrote.
    pub async fn write(&mut self, batch: &[SyntheticMinor]) -> Result<u64, ApiError> {
        if batch.is_empty() {
            return Ok(0);
        }
        let service = self.service;
        let tenant = self.who.tenant.as_uuid();
        let now = service.clock.now_ms();
        let mut households = Vec::new();
        let mut minors = Vec::with_capacity(batch.len());
        let mut guardians = Vec::with_capacity(batch.len() * 2);
        let mut categories = Vec::new();
        let mut history = Vec::with_capacity(batch.len());
        let reason = format!("synthetic data (seed {})", self.seed);
        for m in batch {
            let unit = *self.places.get(m.place).ok_or_else(|| {
                ApiError::internal("a generated minor names a place the generator was not given")
            })?;
            let household_id = match self.last_household {
                Some((ordinal, id)) if ordinal == m.household => id,
                _ => {
                    let id = new_id();
                    self.last_household = Some((m.household, id));
                    households.push(household::ActiveModel {
                        tenant_id: Set(tenant),
                        id: Set(id),
                        org_unit_id: Set(unit),
                        address: Set(Some(m.address.clone())),
                        created_at_ms: Set(now),
                    });
                    id
                }
            };
            let id = new_id();
            minors.push(minor::ActiveModel {
                tenant_id: Set(tenant),
                id: Set(id),
                household_id: Set(Some(household_id)),
                name: Set(m.name.clone()),
                doc_type: Set(m
                    .document_number
                    .as_ref()
                    .map(|_| DocumentKind::ResidentId.code().to_owned())),
                doc_number: Set(m.document_number.clone()),
                needs_follow_up: Set(m.document_number.is_none()),
                sex: Set(m.sex.code().to_owned()),
                birth_date: Set(m.birth_date.to_string()),
                ethnicity: Set(Some(m.ethnicity.clone())),
                hukou_place: Set(Some(m.hukou_place.clone())),
                org_unit_id: Set(unit),
                address: Set(Some(m.address.clone())),
                phone: Set(m.phone.clone()),
                school: Set(m.school.clone()),
                grade: Set(m.grade.clone()),
                health: Set(m.health.clone()),
                disability_grade: Set(m.disability_grade.clone()),
                hiv_status: Set(m.hiv_status.clone()),
                economic_status: Set(m.economic_status.code().to_owned()),
                status: Set(MinorStatus::Active.code().to_owned()),
                version: Set(1),
                created_at_ms: Set(now),
                updated_at_ms: Set(now),
            });
            for (i, g) in m.guardians.iter().enumerate() {
                guardians.push(guardian::ActiveModel {
                    tenant_id: Set(tenant),
                    id: Set(new_id()),
                    minor_id: Set(id),
                    name: Set(g.name.clone()),
                    relationship: Set(g.relationship.code().to_owned()),
                    phone: Set(g.phone.clone()),
                    situation: Set(g.situation.code().to_owned()),
                    // Guardians are listed in the order they were entered.
                    created_at_ms: Set(now + i as i64),
                });
            }
            for c in &m.categories {
                categories.push(minor_category::ActiveModel {
                    tenant_id: Set(tenant),
                    minor_id: Set(id),
                    category: Set(c.category.code().to_owned()),
                    since: Set(c.since.to_string()),
                    source: Set(c.source.to_owned()),
                });
            }
            history.push(minor_history::ActiveModel {
                tenant_id: Set(tenant),
                id: Set(new_id()),
                minor_id: Set(id),
                at_ms: Set(now),
                actor_kind: Set(self.who.actor_kind.as_str().to_owned()),
                actor_id: Set(self.who.actor_id),
                change: Set("created".to_owned()),
                before: Set(Value::Null.to_string()),
                after: Set(json!({ "orgUnitId": unit }).to_string()),
                reason: Set(reason.clone()),
            });
        }
        let tx = service.db.write(self.who.tenant).await?;
        insert_chunked!(tx, households);
        insert_chunked!(tx, minors);
        insert_chunked!(tx, guardians);
        insert_chunked!(tx, categories);
        insert_chunked!(tx, history);
        let count = batch.len() as u64;
        service
            .audit
            .append(
                &tx,
                self.actor,
                AuditEntry::ok("minor.generate", "district", self.who.tenant)
                    .with_detail(json!({ "minors": count, "seed": self.seed })),
            )
            .await?;
        tx.commit().await?;
        self.written += count;
        Ok(count)
    }
}

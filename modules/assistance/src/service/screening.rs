//! Screening: running a programme's eligibility plugin over the caller's
//! difficulty ledger, so that help reaches children who never applied.
//!
//! The ledger is read in pages by id, each page one plugin call (one
//! recorded call per batch, so that every decision can be explained from
//! its record). A plugin sees only the facts an eligibility rule needs,
//! and sensitive categories only when both the caller and the plugin's
//! grant may see them.

use std::collections::HashSet;

use sea_orm::{ColumnTrait, QueryFilter, QuerySelect};
use serde_json::{json, Map, Value};
use shouhu_audit::Actor;
use shouhu_extensions::{Invocation, Invoked};
use shouhu_kernel::{ApiError, Principal};
use shouhu_plugins::eligibility::{Decisions, Minor};
use shouhu_plugins::Kind;
use shouhu_policies::Permission;
use shouhu_registry::model::Category;
use shouhu_registry::{MinorFacts, MinorFilter};
use uuid::Uuid;

use super::{find_programme, AssistanceService};
use crate::entity::{enrolment, programme};
use crate::model::EnrolmentStatus;

/// Minors per plugin call: large enough that the per-call cost is small
/// beside the evaluations, small enough to stay far inside a plugin's
/// default input limit (1 MiB; a minor is about 150 bytes).
pub const SCREENING_BATCH: usize = 500;

/// Which part of the caller's difficulty ledger to screen.
#[derive(Clone, Debug, Default)]
pub struct ScreeningFilter {
    /// Only under this org unit (within the caller's scope).
    pub under: Option<Uuid>,
    pub category: Option<Category>,
}

/// A child the plugin found eligible who has no open enrolment.
#[derive(Clone, Debug)]
pub struct Candidate {
    pub minor_id: Uuid,
    pub reasons: Vec<String>,
    /// The plugin's proposed benefit, as it wrote it.
    pub benefit: Option<Value>,
    /// The call that decided it.
    pub call_id: Uuid,
}

/// The outcome of a screening.
#[derive(Clone, Debug)]
pub struct Screening {
    pub evaluated: u64,
    pub eligible: u64,
    /// Eligible children who have an open (proposed or approved) enrolment.
    pub already_enrolled: u64,
    /// The eligible children without one, in ledger (id) order, at most
    /// the limit asked for.
    pub candidates: Vec<Candidate>,
    pub call_ids: Vec<Uuid>,
    pub plugin_slug: Option<String>,
    pub plugin_version: Option<String>,
}

impl AssistanceService {
    /// Screens the caller's difficulty ledger (narrowed by `filter`) with a
    /// programme's plugin. Needs `programme:read` and `minor:read`.
    pub async fn screen(
        &self,
        who: &Principal,
        actor: &Actor,
        programme_id: Uuid,
        filter: &ScreeningFilter,
        limit: usize,
    ) -> Result<Screening, ApiError> {
        who.require(Permission::ProgrammeRead)?;
        who.require(Permission::MinorRead)?;
        let programme = {
            let tx = self.db.read(who.tenant).await?;
            find_programme(&tx, programme_id).await?
        };
        let plugin_id = plugin_of(&programme)?;
        let show_sensitive = self
            .extensions
            .grant_permissions(who.tenant, plugin_id)
            .await?
            .contains(Permission::MinorSensitive);
        // Choosing minors by a category the plugin may not see would tell it
        // that category all the same.
        if filter.category.is_some_and(|c| c.is_sensitive()) && !show_sensitive {
            return Err(ApiError::bad_input(
                "category",
                "the programme's plugin is not granted minor:sensitive, so it cannot screen \
                 by a sensitive category",
            ));
        }
        let ledger = MinorFilter {
            under: filter.under,
            category: filter.category,
            ..MinorFilter::default()
        };
        let mut out = Screening {
            evaluated: 0,
            eligible: 0,
            already_enrolled: 0,
            candidates: Vec::new(),
            call_ids: Vec::new(),
            plugin_slug: None,
            plugin_version: None,
        };
        let mut after = None;
        loop {
            let (facts, last) = self
                .registry
                .difficulty_facts(
                    who,
                    &ledger,
                    None,
                    after,
                    SCREENING_BATCH as u64,
                    show_sensitive,
                )
                .await?;
            if !facts.is_empty() {
                let ids: Vec<Uuid> = facts.iter().map(|f| f.id).collect();
                let (invoked, decisions) = self
                    .decide(who, actor, &programme, plugin_id, facts, "screening")
                    .await?;
                out.evaluated += ids.len() as u64;
                out.call_ids.push(invoked.call_id);
                out.plugin_slug = Some(invoked.slug.clone());
                out.plugin_version = Some(invoked.version.clone());
                let eligible: Vec<(usize, Uuid)> = ids
                    .into_iter()
                    .enumerate()
                    .filter(|(i, _)| decisions.eligible(*i))
                    .collect();
                out.eligible += eligible.len() as u64;
                let eligible_ids: Vec<Uuid> = eligible.iter().map(|(_, id)| *id).collect();
                let open = self
                    .open_enrolments(who, programme_id, &eligible_ids)
                    .await?;
                for (i, id) in eligible {
                    if open.contains(&id) {
                        out.already_enrolled += 1;
                    } else if out.candidates.len() < limit {
                        out.candidates.push(Candidate {
                            minor_id: id,
                            reasons: decisions.reasons(i).map(str::to_owned).collect(),
                            benefit: decisions.benefit(i),
                            call_id: invoked.call_id,
                        });
                    }
                }
            }
            match last {
                Some(last) => after = Some(last),
                None => break,
            }
        }
        Ok(out)
    }

    /// One plugin call deciding on `facts`; the decisions come back in
    /// their order, one per minor, or the call is PLUGIN_BAD_OUTPUT.
    pub(crate) async fn decide(
        &self,
        who: &Principal,
        actor: &Actor,
        programme: &programme::Model,
        plugin_id: Uuid,
        facts: Vec<MinorFacts>,
        purpose: &'static str,
    ) -> Result<(Invoked, Decisions), ApiError> {
        let mut input = Map::new();
        input.insert("asOf".into(), json!(self.today().to_string()));
        input.insert("programme".into(), programme_input(programme));
        let ids: Vec<String> = facts.iter().map(|f| f.id.to_string()).collect();
        let mut variables = Map::new();
        variables.insert("programmeId".into(), json!(programme.id.to_string()));
        variables.insert("minorIds".into(), json!(ids));
        variables.insert("asOf".into(), json!(self.today().to_string()));
        let minors = facts
            .into_iter()
            .zip(ids)
            .map(|(f, id)| Minor {
                id,
                age: Some(f.age),
                sex: Some(f.sex),
                categories: f.categories,
                economic_status: Some(f.economic_status),
                disability_grade: f.disability_grade,
            })
            .collect();
        let mut invoked = self
            .extensions
            .invoke(
                who,
                actor,
                Invocation {
                    kind: Kind::AssistanceEligibility,
                    plugin_id: Some(plugin_id),
                    input,
                    minors,
                    variables,
                    purpose,
                    subject: Some(programme.id),
                },
            )
            .await?;
        let decisions = invoked
            .decisions
            .take()
            .ok_or_else(|| ApiError::internal("an eligibility call without decisions"))?;
        Ok((invoked, decisions))
    }

    /// Which of `minors` have an open enrolment in the programme.
    async fn open_enrolments(
        &self,
        who: &Principal,
        programme_id: Uuid,
        minors: &[Uuid],
    ) -> Result<HashSet<Uuid>, ApiError> {
        if minors.is_empty() {
            return Ok(HashSet::new());
        }
        let tx = self.db.read(who.tenant).await?;
        let found: Vec<Uuid> = tx
            .select::<enrolment::Entity>()
            .filter(enrolment::Column::ProgrammeId.eq(programme_id))
            .filter(enrolment::Column::MinorId.is_in(minors.iter().copied()))
            .filter(enrolment::Column::Status.is_in([
                EnrolmentStatus::Proposed.code(),
                EnrolmentStatus::Approved.code(),
            ]))
            .select_only()
            .column(enrolment::Column::MinorId)
            .into_tuple()
            .all(tx.conn())
            .await?;
        Ok(found.into_iter().collect())
    }
}

/// The programme's eligibility plugin, or BAD_USER_INPUT saying it has none.
pub(crate) fn plugin_of(programme: &programme::Model) -> Result<Uuid, ApiError> {
    programme.plugin_id.ok_or_else(|| {
        ApiError::bad_input(
            "programmeId",
            "the programme has no eligibility plugin: set one with updateProgramme",
        )
    })
}

fn programme_input(p: &programme::Model) -> Value {
    let benefit = match (p.amount_cents, &p.period, &p.in_kind) {
        (Some(amount), Some(period), _) => json!({ "amountCents": amount, "period": period }),
        (_, _, Some(text)) => json!({ "inKind": text }),
        _ => json!({}),
    };
    json!({
        "id": p.id.to_string(),
        "name": p.name,
        "category": p.category,
        "benefit": benefit,
    })
}

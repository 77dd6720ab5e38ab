//! Matching a child with caring families through the district's
//! `family-matching` plugin, and placing the child with a family chosen
//! from a match.
//!
//! The plugin sees facts, never identities: the child's age, sex, needs,
//! languages and unit path, and for each candidate family its id, unit
//! path, spare capacity, ages, sexes, skills and languages. Names, phones
//! and addresses stay in the host. Nothing of a match is stored here; the
//! extensions service records the call, its output included, and a
//! placement names that call so that the ranking it was chosen from can be
//! read back and explained later.

use std::collections::{HashMap, HashSet};

use chrono::{NaiveDate, TimeZone};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect,
};
use serde_json::{json, Map, Value};
use shouhu_audit::{Actor, AuditEntry};
use shouhu_casework::model::{CaseState, PlacementKind};
use shouhu_casework::{open_placement_ids, PlacementInput};
use shouhu_extensions::entity::plugin_call;
use shouhu_extensions::Invocation;
use shouhu_kernel::ids::new_id;
use shouhu_kernel::{ApiError, Principal, ScopedTx};
use shouhu_plugins::Kind;
use shouhu_policies::Permission;
use uuid::Uuid;

use super::{in_caller_scope, opt_text, PartnersService};
use crate::entity::{caring_family, family_offer, family_placement};
use crate::error::PartnersError;
use crate::model::{parse_codes, split_codes, VettingStatus};

/// The most candidate families handed to a plugin in one call, so that a
/// large pool stays within the plugin's input limit.
pub const MAX_CANDIDATES: u64 = 500;

/// What the plugin calls a match, in the call record's `purpose`.
const PURPOSE: &str = "matching";

/// One family of a match, as the plugin ranked it.
#[derive(Clone, Debug)]
pub struct RankedFamily {
    pub family: caring_family::Model,
    /// The family's place in the plugin's answer, from 1.
    pub rank: i32,
    pub score: f64,
    pub explanation: String,
}

/// The answer of a match: which call and plugin produced it, and the
/// ranking, best first.
#[derive(Clone, Debug)]
pub struct MatchOutcome {
    pub call_id: Uuid,
    pub plugin_slug: String,
    pub plugin_version: String,
    pub ranking: Vec<RankedFamily>,
}

/// One entry of a plugin's ranking, read back from its output.
#[derive(Clone, Debug, PartialEq)]
struct Entry {
    family_id: Uuid,
    rank: i32,
    score: f64,
    explanation: String,
}

/// Reads a family-matching output: each well-formed entry with its place
/// in the list (from 1), the first of any repeated family only. The host
/// has already checked the output against the extension point's schema;
/// an id that is not a UUID cannot be a candidate and is skipped.
fn ranking_of(output: &Value) -> Vec<Entry> {
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    let items = output["ranking"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or(&[]);
    for (i, item) in items.iter().enumerate() {
        let Some(family_id) = item["familyId"]
            .as_str()
            .and_then(|s| Uuid::parse_str(s).ok())
        else {
            continue;
        };
        if !seen.insert(family_id) {
            continue;
        }
        out.push(Entry {
            family_id,
            rank: i32::try_from(i + 1).unwrap_or(i32::MAX),
            score: item["score"].as_f64().unwrap_or(0.0),
            explanation: item["explanation"].as_str().unwrap_or_default().to_owned(),
        });
    }
    out
}

impl PartnersService {
    /// How many children each family has now: its placements that have
    /// no end date.
    async fn occupied(&self, tx: &ScopedTx) -> Result<HashMap<Uuid, i64>, ApiError> {
        let rows: Vec<(Uuid, i64)> = tx
            .select::<family_placement::Entity>()
            .select_only()
            .column(family_placement::Column::FamilyId)
            .column_as(family_placement::Column::Id.count(), "n")
            .filter(
                family_placement::Column::PlacementId.in_subquery(open_placement_ids(tx.tenant())),
            )
            .group_by(family_placement::Column::FamilyId)
            .into_tuple()
            .all(tx.conn())
            .await?;
        Ok(rows.into_iter().collect())
    }

    /// Today in the district's time zone, for the child's age.
    async fn today(&self, who: &Principal) -> Result<NaiveDate, ApiError> {
        let tenant = self.tenancy.tenant(who.tenant).await?;
        let zone = shouhu_casework::deadlines::zone_of(
            tenant
                .as_ref()
                .map_or("Asia/Shanghai", |t| t.time_zone.as_str()),
        );
        Ok(zone
            .timestamp_millis_opt(self.clock.now_ms())
            .single()
            .map_or_else(|| self.clock.now().date_naive(), |t| t.date_naive()))
    }

    /// Ranks the caller's approved, available families with spare capacity
    /// for the child of a case, through the district's matching plugin (the
    /// built-in default matcher until the district installs its own).
    /// Needs `case:read` on the case and `family:read`; only families in the
    /// caller's own scope are candidates, so nobody is shown a family they
    /// could not read.
    pub async fn match_families(
        &self,
        who: &Principal,
        actor: &Actor,
        case_id: Uuid,
        needs: &[String],
        languages: &[String],
    ) -> Result<MatchOutcome, ApiError> {
        who.require(Permission::CaseRead)?;
        who.require(Permission::FamilyRead)?;
        let needs = parse_codes(needs, "needs")?;
        let languages = parse_codes(languages, "languages")?;
        let today = self.today(who).await?;
        let tx = self.db.read(who.tenant).await?;
        let case = self.casework.case_in(&tx, who, case_id).await?;
        if case.state == CaseState::Closed.code() {
            return Err(ApiError::bad_input("caseId", "the case is closed"));
        }
        let minor_id = case.minor_id.ok_or_else(|| {
            ApiError::bad_input(
                "caseId",
                "the case has no registered child; link the child first",
            )
        })?;
        let facts = self
            .registry
            .match_facts_in(&tx, minor_id)
            .await?
            .ok_or_else(|| ApiError::internal("a case's minor is missing"))?;
        let paths: HashMap<Uuid, String> = self
            .tenancy
            .units_in(&tx)
            .await?
            .into_iter()
            .map(|u| (u.id, u.path))
            .collect();
        let occupied = self.occupied(&tx).await?;
        let families = in_caller_scope(tx.select::<caring_family::Entity>(), who)
            .filter(caring_family::Column::VettingStatus.eq(VettingStatus::Approved.code()))
            .filter(caring_family::Column::Available.eq(true))
            .order_by_asc(caring_family::Column::Id)
            .all(tx.conn())
            .await?;
        drop(tx);
        let mut candidates: HashMap<Uuid, caring_family::Model> = HashMap::new();
        let mut listed = Vec::new();
        for family in families {
            let spare = i64::from(family.capacity) - occupied.get(&family.id).copied().unwrap_or(0);
            if spare <= 0 || listed.len() as u64 >= MAX_CANDIDATES {
                continue;
            }
            listed.push(json!({
                "familyId": family.id.to_string(),
                "orgUnitPath": paths.get(&family.org_unit_id).cloned().unwrap_or_default(),
                "capacity": spare,
                "ageMin": family.age_min,
                "ageMax": family.age_max,
                "sexes": split_codes(&family.sexes),
                "skills": split_codes(&family.skills),
                "languages": split_codes(&family.languages),
            }));
            candidates.insert(family.id, family);
        }
        let age = facts
            .birth_date
            .map(|birth| shouhu_registry::age_on(birth, today));
        let mut input = Map::new();
        input.insert(
            "child".into(),
            json!({
                "age": age,
                "sex": facts.sex,
                "needs": needs,
                "languages": languages,
                "orgUnitPath": paths.get(&facts.org_unit_id),
            }),
        );
        input.insert("candidates".into(), Value::Array(listed));
        let mut variables = Map::new();
        variables.insert("caseId".into(), json!(case_id.to_string()));
        variables.insert("minorId".into(), json!(minor_id.to_string()));
        let invoked = self
            .extensions
            .invoke(
                who,
                actor,
                Invocation {
                    kind: Kind::FamilyMatching,
                    plugin_id: None,
                    input,
                    minors: Vec::new(),
                    variables,
                    purpose: PURPOSE,
                    subject: Some(case_id),
                },
            )
            .await?;
        let mut ranking = Vec::new();
        for entry in ranking_of(&invoked.output) {
            match candidates.get(&entry.family_id) {
                Some(family) => ranking.push(RankedFamily {
                    family: family.clone(),
                    rank: entry.rank,
                    score: entry.score,
                    explanation: entry.explanation,
                }),
                None => tracing::info!(
                    tenant = %who.tenant.as_uuid(),
                    plugin = %invoked.slug,
                    call = %invoked.call_id,
                    rank = entry.rank,
                    "matching plugin ranked a family that was not a candidate; dropped"
                ),
            }
        }
        // What was offered, so that a placement can only cite it.
        let offers: Vec<family_offer::ActiveModel> = ranking
            .iter()
            .map(|r| family_offer::ActiveModel {
                tenant_id: Set(who.tenant.0),
                call_id: Set(invoked.call_id),
                family_id: Set(r.family.id),
                match_rank: Set(r.rank),
                score: Set(r.score),
                explanation: Set(r.explanation.clone()),
            })
            .collect();
        let tx = self.db.write(who.tenant).await?;
        tx.insert_many(offers).await?;
        tx.commit().await?;
        Ok(MatchOutcome {
            call_id: invoked.call_id,
            plugin_slug: invoked.slug,
            plugin_version: invoked.version,
            ranking,
        })
    }

    /// Places the child of a case with a family chosen from a match: a
    /// casework placement of kind `caring_family` and the link to the
    /// family and the match, in one transaction. The family must be
    /// approved, available, have room, and be in the ranking of `call_id`.
    /// Needs `case:write` on the case and `family:read`.
    // The operation's own arguments; a struct would only rename them.
    #[allow(clippy::too_many_arguments)]
    pub async fn place_with_family(
        &self,
        who: &Principal,
        actor: &Actor,
        case_id: Uuid,
        family_id: Uuid,
        call_id: Uuid,
        start_date: NaiveDate,
        reason: Option<String>,
    ) -> Result<family_placement::Model, ApiError> {
        who.require(Permission::CaseWrite)?;
        who.require(Permission::FamilyRead)?;
        let reason = opt_text(reason, 500, "reason")?;
        let tx = self.db.write(who.tenant).await?;
        let case = self.casework.case_in(&tx, who, case_id).await?;
        // Touching the case locks its row on PostgreSQL, so two placements
        // of one child take turns and the second sees the first.
        tx.update::<shouhu_casework::entity::case::Entity>()
            .col_expr(
                shouhu_casework::entity::case::Column::UpdatedAtMs,
                sea_orm::sea_query::Expr::value(case.updated_at_ms),
            )
            .filter(shouhu_casework::entity::case::Column::Id.eq(case_id))
            .exec(tx.conn())
            .await?;
        let family = self.visible(&tx, who, family_id).await?;
        let refuse = |field: &'static str, message: &str| -> ApiError {
            PartnersError::NotPlaceable {
                field,
                message: message.to_owned(),
            }
            .into()
        };
        if family.vetting_status != VettingStatus::Approved.code() {
            return Err(refuse("familyId", "the family is not approved"));
        }
        if !family.available {
            return Err(refuse("familyId", "the family is not available"));
        }
        let occupied = self.occupied(&tx).await?;
        if occupied.get(&family_id).copied().unwrap_or(0) >= i64::from(family.capacity) {
            return Err(refuse("familyId", "the family has no room left"));
        }
        let current = tx
            .select::<family_placement::Entity>()
            .filter(family_placement::Column::CaseId.eq(case_id))
            .filter(
                family_placement::Column::PlacementId.in_subquery(open_placement_ids(tx.tenant())),
            )
            .count(tx.conn())
            .await?;
        if current > 0 {
            return Err(refuse(
                "caseId",
                "the child is already placed with a caring family",
            ));
        }
        let call = tx
            .select::<plugin_call::Entity>()
            .filter(plugin_call::Column::Id.eq(call_id))
            .one(tx.conn())
            .await?
            .filter(|c| c.purpose == PURPOSE && c.error_code.is_none())
            .ok_or_else(|| refuse("callId", "no match with this id"))?;
        // A ranking made for another child cannot place this one.
        if call.subject_id != Some(case_id) {
            return Err(refuse("callId", "this match was made for another case"));
        }
        let entry = tx
            .select::<family_offer::Entity>()
            .filter(family_offer::Column::CallId.eq(call_id))
            .filter(family_offer::Column::FamilyId.eq(family_id))
            .one(tx.conn())
            .await?
            .ok_or_else(|| refuse("familyId", "the family is not in that match's ranking"))?;
        let placement = self
            .casework
            .record_placement_in(
                &tx,
                who,
                actor,
                case.id,
                PlacementInput {
                    kind: PlacementKind::CaringFamily,
                    // The casework record names the family by id: the
                    // household's name is personal data kept here.
                    place: format!("{} {family_id}", PlacementKind::CaringFamily.label_zh()),
                    start_date,
                    end_date: None,
                    school: None,
                },
            )
            .await?;
        // A placement takes one of the family's places: bumping its version
        // makes two placements racing for the last place a CONFLICT.
        self.bump(&tx, family_id, family.version, Vec::new())
            .await?;
        let row = tx
            .insert(family_placement::ActiveModel {
                tenant_id: Set(tx.tenant().as_uuid()),
                id: Set(new_id()),
                case_id: Set(case_id),
                family_id: Set(family_id),
                placement_id: Set(placement.id),
                call_id: Set(Some(call.id)),
                match_rank: Set(entry.match_rank),
                score: Set(entry.score),
                explanation: Set(entry.explanation),
                reason: Set(reason),
                chosen_by: Set(who.actor_id),
                at_ms: Set(self.clock.now_ms()),
            })
            .await?;
        self.audit
            .append(
                &tx,
                actor,
                AuditEntry::ok("family.place", "family_placement", row.id).with_detail(json!({
                    "case": case_id,
                    "family": family_id,
                    "placement": placement.id,
                    "call": call.id,
                    "rank": row.match_rank,
                })),
            )
            .await?;
        tx.commit().await?;
        Ok(row)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ranking_keeps_each_family_once_with_its_place() {
        let a = Uuid::now_v7();
        let b = Uuid::now_v7();
        let output = json!({ "ranking": [
            { "familyId": a.to_string(), "score": 90, "explanation": "近" },
            { "familyId": "not-an-id", "score": 80, "explanation": "x" },
            { "familyId": b.to_string(), "score": 70.5, "explanation": "会说吴语" },
            { "familyId": a.to_string(), "score": 10, "explanation": "again" },
        ]});
        let out = ranking_of(&output);
        assert_eq!(out.len(), 2);
        assert_eq!((out[0].family_id, out[0].rank), (a, 1));
        assert_eq!((out[1].family_id, out[1].rank, out[1].score), (b, 3, 70.5));
        assert!(ranking_of(&json!({})).is_empty());
    }
}

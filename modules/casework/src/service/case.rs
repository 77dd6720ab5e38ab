//! Cases: opening them (from a report or from the registry), the state
//! machine with its version check, home visits, notes, assessments, the
//! assistance plan and its approval, placements, the closure review and the
//! timeline.

use chrono::{Datelike, NaiveDate, TimeZone};
use sea_orm::sea_query::{Expr, OnConflict, Query, SimpleExpr};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect,
};
use serde_json::json;
use shouhu_audit::{Actor, AuditEntry};
use shouhu_kernel::ids::new_id;
use shouhu_kernel::{ApiError, Principal, ScopedTx};
use shouhu_policies::Permission;
use uuid::Uuid;

use super::{in_subtree, opt_text, path_in_scope, req_text, CaseworkService};
use crate::entity::{
    assessment, case, case_counter, case_event, case_note, home_visit, placement, plan_item, report,
};
use crate::error::CaseworkError;
use crate::model::{
    CaseState, ClosureOutcome, Deadline, Guardianship, NeedDomain, NeedLevel, PlacementKind,
    PlanCategory, PlanItemStatus, PlanState, ResponsibleKind, Risk, SafetyDecision, Visitor,
};

/// Filters of the case list.
#[derive(Clone, Debug, Default)]
pub struct CaseFilter {
    pub state: Option<CaseState>,
}

/// A home visit as recorded.
#[derive(Clone, Debug)]
pub struct VisitInput {
    pub visited_at_ms: i64,
    pub visitors: Vec<Visitor>,
    /// Who was seen (the child, the guardians, neighbours…).
    pub seen: String,
    pub observations: String,
    pub safety_decision: SafetyDecision,
}

#[derive(Clone, Debug)]
pub struct NeedInput {
    pub domain: NeedDomain,
    pub level: NeedLevel,
    pub note: Option<String>,
}

/// An assessment as recorded.
#[derive(Clone, Debug)]
pub struct AssessmentInput {
    pub guardianship: Guardianship,
    pub risk: Risk,
    pub needs: Vec<NeedInput>,
    pub summary: String,
}

/// An assistance-plan item as entered.
#[derive(Clone, Debug)]
pub struct PlanItemInput {
    pub category: PlanCategory,
    pub description: String,
    pub responsible_kind: ResponsibleKind,
    pub responsible_name: String,
    pub due_date: NaiveDate,
}

/// An emergency placement as recorded.
#[derive(Clone, Debug)]
pub struct PlacementInput {
    pub kind: PlacementKind,
    pub place: String,
    pub start_date: NaiveDate,
    pub end_date: Option<NaiveDate>,
    pub school: Option<String>,
}

impl CaseworkService {
    /// A case the caller may see (its responsible unit in their subtree),
    /// or NOT_FOUND.
    pub(crate) async fn visible_case(
        &self,
        tx: &ScopedTx,
        who: &Principal,
        id: Uuid,
    ) -> Result<case::Model, ApiError> {
        let query = tx.select::<case::Entity>().filter(case::Column::Id.eq(id));
        in_subtree(query, who, case::Column::UnitId)
            .one(tx.conn())
            .await?
            .ok_or_else(|| ApiError::not_found("case"))
    }

    /// The child's open case, if the caller may see it.
    pub(crate) async fn open_case_of(
        &self,
        tx: &ScopedTx,
        who: &Principal,
        minor: Uuid,
    ) -> Result<Option<case::Model>, ApiError> {
        let query = tx
            .select::<case::Entity>()
            .filter(case::Column::MinorId.eq(minor))
            .filter(case::Column::State.ne(CaseState::Closed.code()));
        Ok(in_subtree(query, who, case::Column::UnitId)
            .one(tx.conn())
            .await?)
    }

    /// The next case number of the district for the year: a counter row
    /// incremented in this transaction (so two cases never share a number,
    /// and the row lock orders concurrent openings), never max()+1.
    async fn next_number(&self, tx: &ScopedTx) -> Result<String, ApiError> {
        let zone = self.zone(tx.tenant()).await?;
        let year = zone
            .timestamp_millis_opt(self.clock.now_ms())
            .single()
            .map_or(1970, |t| t.year());
        let tenant = tx.tenant().as_uuid();
        let upsert = Query::insert()
            .into_table(case_counter::Entity)
            .columns([
                case_counter::Column::TenantId,
                case_counter::Column::Year,
                case_counter::Column::Next,
            ])
            .values_panic([tenant.into(), year.into(), 1i64.into()])
            .on_conflict(
                OnConflict::columns([case_counter::Column::TenantId, case_counter::Column::Year])
                    .value(
                        case_counter::Column::Next,
                        Expr::col((case_counter::Entity, case_counter::Column::Next)).add(1),
                    )
                    .to_owned(),
            )
            .to_owned();
        let backend = tx.conn().get_database_backend();
        tx.conn().execute(backend.build(&upsert)).await?;
        let row = tx
            .select::<case_counter::Entity>()
            .filter(case_counter::Column::Year.eq(year))
            .one(tx.conn())
            .await?
            .ok_or_else(|| ApiError::internal("case counter missing after upsert"))?;
        Ok(format!("{year}-{:05}", row.next))
    }

    /// Opens a case for `unit_id` (which must be in the caller's scope).
    pub(crate) async fn new_case_in(
        &self,
        tx: &ScopedTx,
        who: &Principal,
        actor: &Actor,
        unit_id: Uuid,
        minor: Option<Uuid>,
        child_description: Option<String>,
    ) -> Result<case::Model, ApiError> {
        let unit = self
            .tenancy
            .unit_in(tx, unit_id)
            .await?
            .filter(|u| path_in_scope(who, &u.path))
            .ok_or_else(|| ApiError::not_found("org unit"))?;
        let now = self.clock.now_ms();
        let number = self.next_number(tx).await?;
        let row = tx
            .insert(case::ActiveModel {
                tenant_id: Set(tx.tenant().as_uuid()),
                id: Set(new_id()),
                number: Set(number.clone()),
                minor_id: Set(minor),
                child_description: Set(child_description),
                unit_id: Set(unit.id),
                lead_user_id: Set(
                    (who.actor_kind == shouhu_kernel::ActorKind::User).then_some(who.actor_id)
                ),
                workers: Set("[]".into()),
                state: Set(CaseState::Accepted.code().to_owned()),
                closure_outcome: Set(None),
                closure_pending: Set(None),
                closure_summary: Set(None),
                plan_state: Set(PlanState::Draft.code().to_owned()),
                version: Set(1),
                opened_at_ms: Set(now),
                updated_at_ms: Set(now),
            })
            .await?;
        self.event(
            tx,
            actor,
            Some(row.id),
            None,
            "case.opened",
            format!("case {number} opened for {}", unit.name),
        )
        .await?;
        self.audit
            .append(tx, actor, AuditEntry::ok("case.open", "case", row.id))
            .await?;
        Ok(row)
    }

    /// Opens a case for a registered minor (without a report). The case
    /// belongs to the street of the minor's community.
    pub async fn open_case(
        &self,
        who: &Principal,
        actor: &Actor,
        minor: Uuid,
        reason: &str,
    ) -> Result<case::Model, ApiError> {
        who.require(Permission::CaseWrite)?;
        who.require(Permission::MinorRead)?;
        let reason = req_text(reason, 1000, "reason")?;
        let tx = self.db.write(who.tenant).await?;
        self.minor_in_scope(&tx, who, minor).await?;
        if let Some(open) = self.open_case_of(&tx, who, minor).await? {
            return Err(ApiError::conflict(
                "minorId",
                format!("the child has an open case, {}", open.number),
            ));
        }
        let unit_id = self
            .registry
            .minor_unit_in(&tx, minor)
            .await?
            .ok_or_else(|| ApiError::not_found("minor"))?;
        let unit = self
            .tenancy
            .unit_in(&tx, unit_id)
            .await?
            .ok_or_else(|| ApiError::not_found("minor"))?;
        let street = match super::report::street_code(&unit.path) {
            Some(code) => self.tenancy.unit_by_code_in(&tx, code).await?,
            None => None,
        };
        let target = street.map_or(unit.id, |s| s.id);
        let row = self
            .new_case_in(&tx, who, actor, target, Some(minor), None)
            .await?;
        self.event(&tx, actor, Some(row.id), None, "case.reason", reason)
            .await?;
        tx.commit().await?;
        Ok(row)
    }

    /// One case. Needs `case:read`.
    pub async fn case(&self, who: &Principal, id: Uuid) -> Result<case::Model, ApiError> {
        who.require(Permission::CaseRead)?;
        let tx = self.db.read(who.tenant).await?;
        let row = self.visible_case(&tx, who, id).await?;
        tx.commit().await?;
        Ok(row)
    }

    /// Cases in the caller's scope, newest first.
    pub async fn cases(
        &self,
        who: &Principal,
        filter: &CaseFilter,
        after: Option<Uuid>,
        limit: u64,
    ) -> Result<Vec<case::Model>, ApiError> {
        who.require(Permission::CaseRead)?;
        let tx = self.db.read(who.tenant).await?;
        let mut query = tx
            .select::<case::Entity>()
            .order_by_desc(case::Column::Id)
            .limit(limit);
        query = in_subtree(query, who, case::Column::UnitId);
        if let Some(state) = filter.state {
            query = query.filter(case::Column::State.eq(state.code()));
        }
        if let Some(after) = after {
            query = query.filter(case::Column::Id.lt(after));
        }
        let rows = query.all(tx.conn()).await?;
        tx.commit().await?;
        Ok(rows)
    }

    /// A visible, writable case at `version`, or the error that says why not.
    async fn case_for_change(
        &self,
        tx: &ScopedTx,
        who: &Principal,
        id: Uuid,
        version: i64,
    ) -> Result<case::Model, ApiError> {
        let row = self.visible_case(tx, who, id).await?;
        if row.version != version {
            return Err(CaseworkError::Stale {
                given: version,
                current: row.version,
            }
            .into());
        }
        Ok(row)
    }

    /// Writes columns of a case and bumps its version, only if it is still
    /// at `version` (a concurrent writer makes this a CONFLICT).
    async fn bump(
        &self,
        tx: &ScopedTx,
        row: &case::Model,
        changes: Vec<(case::Column, SimpleExpr)>,
    ) -> Result<case::Model, ApiError> {
        let mut update = tx
            .update::<case::Entity>()
            .col_expr(case::Column::Version, Expr::value(row.version + 1))
            .col_expr(case::Column::UpdatedAtMs, Expr::value(self.clock.now_ms()));
        for (column, value) in changes {
            update = update.col_expr(column, value);
        }
        let done = update
            .filter(case::Column::Id.eq(row.id))
            .filter(case::Column::Version.eq(row.version))
            .exec(tx.conn())
            .await?;
        if done.rows_affected != 1 {
            return Err(CaseworkError::Stale {
                given: row.version,
                current: row.version + 1,
            }
            .into());
        }
        tx.select::<case::Entity>()
            .filter(case::Column::Id.eq(row.id))
            .one(tx.conn())
            .await?
            .ok_or_else(|| ApiError::not_found("case"))
    }

    /// Moves a case to another state. Closing goes through the closure
    /// review instead; `assessed` needs an assessment and `plan_active` an
    /// approved plan.
    pub async fn transition_case(
        &self,
        who: &Principal,
        actor: &Actor,
        id: Uuid,
        version: i64,
        to: CaseState,
        reason: Option<String>,
    ) -> Result<case::Model, ApiError> {
        who.require(Permission::CaseWrite)?;
        let reason = opt_text(reason, 1000, "reason")?;
        let tx = self.db.write(who.tenant).await?;
        let row = self.case_for_change(&tx, who, id, version).await?;
        let from = CaseState::parse(&row.state)
            .ok_or_else(|| ApiError::internal("case in an unknown state"))?;
        if !from.can_move_to(to) {
            return Err(CaseworkError::transition(from, to).into());
        }
        if to == CaseState::Closed {
            return Err(CaseworkError::Precondition {
                field: "to",
                message: "a case is closed through a closure review (requestClosure, then \
                          the centre's reviewClosure)"
                    .into(),
            }
            .into());
        }
        if to == CaseState::Assessed && self.assessments_in(&tx, id).await?.is_empty() {
            return Err(CaseworkError::Precondition {
                field: "to",
                message: "record an assessment first".into(),
            }
            .into());
        }
        if to == CaseState::PlanActive && row.plan_state != PlanState::Approved.code() {
            return Err(CaseworkError::Precondition {
                field: "to",
                message: "the assistance plan must be approved by the centre first".into(),
            }
            .into());
        }
        let mut changes = vec![(case::Column::State, Expr::value(to.code()))];
        if from == CaseState::Closed {
            changes.push((case::Column::ClosureOutcome, Expr::value(None::<String>)));
        }
        let out = self.bump(&tx, &row, changes).await?;
        let mut summary = format!("{} → {}", from.code(), to.code());
        if let Some(reason) = &reason {
            summary.push_str(": ");
            summary.push_str(reason);
        }
        self.event(&tx, actor, Some(id), None, "case.state", summary)
            .await?;
        self.audit
            .append(
                &tx,
                actor,
                AuditEntry::ok("case.transition", "case", id)
                    .with_detail(json!({ "from": from.code(), "to": to.code() })),
            )
            .await?;
        tx.commit().await?;
        Ok(out)
    }

    /// Names the lead caseworker and the other workers of a case. Each must
    /// be an active user of the district whose unit is the case's unit, lies
    /// under it, or lies above it (the centre at the district). Needs
    /// `case:assign`.
    pub async fn assign_case(
        &self,
        who: &Principal,
        actor: &Actor,
        id: Uuid,
        version: i64,
        lead: Uuid,
        workers: Vec<Uuid>,
    ) -> Result<case::Model, ApiError> {
        who.require(Permission::CaseAssign)?;
        let tx = self.db.write(who.tenant).await?;
        let row = self.case_for_change(&tx, who, id, version).await?;
        let case_unit = self
            .tenancy
            .unit_in(&tx, row.unit_id)
            .await?
            .ok_or_else(|| ApiError::internal("case without its unit"))?;
        let mut team: Vec<Uuid> = Vec::new();
        for (field, user) in std::iter::once(("leadUserId".to_owned(), lead)).chain(
            workers
                .iter()
                .enumerate()
                .map(|(i, w)| (format!("workerIds.{i}"), *w)),
        ) {
            let unit = match self.identity.active_user_unit_in(&tx, user).await? {
                Some(unit) => self.tenancy.unit_in(&tx, unit).await?,
                None => None,
            };
            let Some(unit) = unit else {
                return Err(ApiError::not_found("user"));
            };
            let related =
                unit.path.starts_with(&case_unit.path) || case_unit.path.starts_with(&unit.path);
            if !related {
                return Err(ApiError::bad_input(
                    field,
                    "the user works outside the case's street and the district",
                ));
            }
            if user != lead && !team.contains(&user) {
                team.push(user);
            }
        }
        let list: Vec<String> = team.iter().map(Uuid::to_string).collect();
        let out = self
            .bump(
                &tx,
                &row,
                vec![
                    (case::Column::LeadUserId, Expr::value(Some(lead))),
                    (
                        case::Column::Workers,
                        Expr::value(serde_json::to_string(&list).unwrap_or_default()),
                    ),
                ],
            )
            .await?;
        self.event(
            &tx,
            actor,
            Some(id),
            None,
            "case.assigned",
            format!("lead {lead}; {} other workers", team.len()),
        )
        .await?;
        self.audit
            .append(
                &tx,
                actor,
                AuditEntry::ok("case.assign", "case", id)
                    .with_detail(json!({ "lead": lead, "workers": list })),
            )
            .await?;
        tx.commit().await?;
        Ok(out)
    }

    /// A case that may take a new record: visible and not closed.
    async fn open_visible(
        &self,
        tx: &ScopedTx,
        who: &Principal,
        id: Uuid,
    ) -> Result<case::Model, ApiError> {
        let row = self.visible_case(tx, who, id).await?;
        if row.state == CaseState::Closed.code() {
            return Err(ApiError::bad_input(
                "caseId",
                "the case is closed; reopen it first",
            ));
        }
        Ok(row)
    }

    /// Records a home visit (入户甄判). It meets the home-visit and verify
    /// deadlines of the case's reports.
    pub async fn record_visit(
        &self,
        who: &Principal,
        actor: &Actor,
        case_id: Uuid,
        input: VisitInput,
    ) -> Result<home_visit::Model, ApiError> {
        who.require(Permission::CaseWrite)?;
        if input.visitors.is_empty() {
            return Err(ApiError::bad_input("input.visitors", "say who went"));
        }
        let now = self.clock.now_ms();
        if input.visited_at_ms > now {
            return Err(ApiError::bad_input("input.visitedAt", "lies in the future"));
        }
        let seen = req_text(&input.seen, 1000, "input.seen")?;
        let observations = req_text(&input.observations, 8000, "input.observations")?;
        let tx = self.db.write(who.tenant).await?;
        self.open_visible(&tx, who, case_id).await?;
        let visitors: Vec<&str> = input.visitors.iter().map(|v| v.code()).collect();
        let row = tx
            .insert(home_visit::ActiveModel {
                tenant_id: Set(tx.tenant().as_uuid()),
                id: Set(new_id()),
                case_id: Set(case_id),
                visited_at_ms: Set(input.visited_at_ms),
                visitors: Set(visitors.join(",")),
                seen: Set(seen),
                observations: Set(observations),
                safety_decision: Set(input.safety_decision.code().to_owned()),
                recorded_by: Set(who.actor_id),
                recorded_at_ms: Set(now),
            })
            .await?;
        self.mark_responded(
            &tx,
            case_id,
            input.visited_at_ms,
            &[Deadline::HomeVisit, Deadline::Verify],
        )
        .await?;
        self.event(
            &tx,
            actor,
            Some(case_id),
            None,
            "case.visit",
            format!(
                "home visit by {}; safety: {}",
                visitors.join(", "),
                input.safety_decision.label_zh()
            ),
        )
        .await?;
        self.audit
            .append(&tx, actor, AuditEntry::ok("case.visit", "case", case_id))
            .await?;
        tx.commit().await?;
        Ok(row)
    }

    /// Meets the response deadline of the case's reports of these kinds.
    async fn mark_responded(
        &self,
        tx: &ScopedTx,
        case_id: Uuid,
        at_ms: i64,
        kinds: &[Deadline],
    ) -> Result<(), ApiError> {
        let codes: Vec<&str> = kinds.iter().map(|k| k.code()).collect();
        tx.update::<report::Entity>()
            .col_expr(report::Column::RespondedAtMs, Expr::value(Some(at_ms)))
            .filter(report::Column::CaseId.eq(case_id))
            .filter(report::Column::RespondedAtMs.is_null())
            .filter(report::Column::ResponseKind.is_in(codes))
            .exec(tx.conn())
            .await?;
        Ok(())
    }

    pub async fn visits(
        &self,
        who: &Principal,
        case_id: Uuid,
    ) -> Result<Vec<home_visit::Model>, ApiError> {
        who.require(Permission::CaseRead)?;
        let tx = self.db.read(who.tenant).await?;
        self.visible_case(&tx, who, case_id).await?;
        let rows = tx
            .select::<home_visit::Entity>()
            .filter(home_visit::Column::CaseId.eq(case_id))
            .order_by_asc(home_visit::Column::VisitedAtMs)
            .all(tx.conn())
            .await?;
        tx.commit().await?;
        Ok(rows)
    }

    /// Adds a note; a confidential one needs `case:confidential`.
    pub async fn add_note(
        &self,
        who: &Principal,
        actor: &Actor,
        case_id: Uuid,
        body: &str,
        confidential: bool,
    ) -> Result<case_note::Model, ApiError> {
        who.require(Permission::CaseWrite)?;
        if confidential {
            who.require(Permission::CaseConfidential)?;
        }
        let body = req_text(body, 8000, "body")?;
        let tx = self.db.write(who.tenant).await?;
        self.visible_case(&tx, who, case_id).await?;
        let row = tx
            .insert(case_note::ActiveModel {
                tenant_id: Set(tx.tenant().as_uuid()),
                id: Set(new_id()),
                case_id: Set(case_id),
                body: Set(body),
                confidential: Set(confidential),
                author_id: Set(who.actor_id),
                at_ms: Set(self.clock.now_ms()),
            })
            .await?;
        let summary = if confidential {
            "confidential note added"
        } else {
            "note added"
        };
        self.event(&tx, actor, Some(case_id), None, "case.note", summary)
            .await?;
        self.audit
            .append(
                &tx,
                actor,
                AuditEntry::ok("case.note", "case", case_id)
                    .with_detail(json!({ "note": row.id, "confidential": confidential })),
            )
            .await?;
        tx.commit().await?;
        Ok(row)
    }

    /// The notes of a case; confidential ones only with `case:confidential`.
    pub async fn notes(
        &self,
        who: &Principal,
        case_id: Uuid,
    ) -> Result<Vec<case_note::Model>, ApiError> {
        who.require(Permission::CaseRead)?;
        let tx = self.db.read(who.tenant).await?;
        self.visible_case(&tx, who, case_id).await?;
        let mut query = tx
            .select::<case_note::Entity>()
            .filter(case_note::Column::CaseId.eq(case_id))
            .order_by_asc(case_note::Column::AtMs)
            .order_by_asc(case_note::Column::Id);
        if !who.has(Permission::CaseConfidential) {
            query = query.filter(case_note::Column::Confidential.eq(false));
        }
        let rows = query.all(tx.conn()).await?;
        tx.commit().await?;
        Ok(rows)
    }

    /// Records an assessment; earlier ones stay. It meets the verify
    /// deadline of the case's reports.
    pub async fn assess(
        &self,
        who: &Principal,
        actor: &Actor,
        case_id: Uuid,
        input: AssessmentInput,
    ) -> Result<assessment::Model, ApiError> {
        who.require(Permission::CaseWrite)?;
        let summary = req_text(&input.summary, 8000, "input.summary")?;
        let mut needs = serde_json::Map::new();
        for (i, need) in input.needs.iter().enumerate() {
            let field = format!("input.needs.{i}");
            if needs.contains_key(need.domain.code()) {
                return Err(ApiError::bad_input(field, "a domain is given twice"));
            }
            let note = opt_text(need.note.clone(), 1000, &format!("{field}.note"))?;
            needs.insert(
                need.domain.code().to_owned(),
                json!({ "level": need.level.code(), "note": note }),
            );
        }
        let tx = self.db.write(who.tenant).await?;
        self.open_visible(&tx, who, case_id).await?;
        let now = self.clock.now_ms();
        let row = tx
            .insert(assessment::ActiveModel {
                tenant_id: Set(tx.tenant().as_uuid()),
                id: Set(new_id()),
                case_id: Set(case_id),
                guardianship: Set(input.guardianship.code().to_owned()),
                risk: Set(input.risk.code().to_owned()),
                needs: Set(serde_json::Value::Object(needs).to_string()),
                summary: Set(summary),
                assessed_by: Set(who.actor_id),
                at_ms: Set(now),
            })
            .await?;
        self.mark_responded(&tx, case_id, now, &[Deadline::Verify])
            .await?;
        self.event(
            &tx,
            actor,
            Some(case_id),
            None,
            "case.assessment",
            format!(
                "assessed: guardianship {}, risk {}",
                input.guardianship.label_zh(),
                input.risk.label_zh()
            ),
        )
        .await?;
        self.audit
            .append(&tx, actor, AuditEntry::ok("case.assess", "case", case_id))
            .await?;
        tx.commit().await?;
        Ok(row)
    }

    async fn assessments_in(
        &self,
        tx: &ScopedTx,
        case_id: Uuid,
    ) -> Result<Vec<assessment::Model>, ApiError> {
        Ok(tx
            .select::<assessment::Entity>()
            .filter(assessment::Column::CaseId.eq(case_id))
            .order_by_asc(assessment::Column::AtMs)
            .order_by_asc(assessment::Column::Id)
            .all(tx.conn())
            .await?)
    }

    /// Every assessment of a case, oldest first.
    pub async fn assessments(
        &self,
        who: &Principal,
        case_id: Uuid,
    ) -> Result<Vec<assessment::Model>, ApiError> {
        who.require(Permission::CaseRead)?;
        let tx = self.db.read(who.tenant).await?;
        self.visible_case(&tx, who, case_id).await?;
        let rows = self.assessments_in(&tx, case_id).await?;
        tx.commit().await?;
        Ok(rows)
    }

    /// Adds an item to the assistance plan. A plan changed after approval
    /// needs approving again.
    pub async fn add_plan_item(
        &self,
        who: &Principal,
        actor: &Actor,
        case_id: Uuid,
        input: PlanItemInput,
    ) -> Result<plan_item::Model, ApiError> {
        who.require(Permission::CaseWrite)?;
        let description = req_text(&input.description, 2000, "input.description")?;
        let responsible = req_text(&input.responsible_name, 100, "input.responsibleName")?;
        let tx = self.db.write(who.tenant).await?;
        let case = self.open_visible(&tx, who, case_id).await?;
        let now = self.clock.now_ms();
        let row = tx
            .insert(plan_item::ActiveModel {
                tenant_id: Set(tx.tenant().as_uuid()),
                id: Set(new_id()),
                case_id: Set(case_id),
                category: Set(input.category.code().to_owned()),
                description: Set(description),
                responsible_kind: Set(input.responsible_kind.code().to_owned()),
                responsible_name: Set(responsible.clone()),
                due_date: Set(input.due_date.to_string()),
                status: Set(PlanItemStatus::Planned.code().to_owned()),
                created_at_ms: Set(now),
                updated_at_ms: Set(now),
            })
            .await?;
        if case.plan_state == PlanState::Approved.code() {
            self.bump(
                &tx,
                &case,
                vec![(
                    case::Column::PlanState,
                    Expr::value(PlanState::Draft.code()),
                )],
            )
            .await?;
        }
        self.event(
            &tx,
            actor,
            Some(case_id),
            None,
            "case.plan_item",
            format!(
                "plan item: {} by {responsible}, due {}",
                input.category.label_zh(),
                input.due_date
            ),
        )
        .await?;
        self.audit
            .append(
                &tx,
                actor,
                AuditEntry::ok("case.plan_item", "case", case_id)
                    .with_detail(json!({ "item": row.id })),
            )
            .await?;
        tx.commit().await?;
        Ok(row)
    }

    /// Changes the status of a plan item.
    pub async fn set_plan_item_status(
        &self,
        who: &Principal,
        actor: &Actor,
        item_id: Uuid,
        status: PlanItemStatus,
    ) -> Result<plan_item::Model, ApiError> {
        who.require(Permission::CaseWrite)?;
        let tx = self.db.write(who.tenant).await?;
        let item = tx
            .select::<plan_item::Entity>()
            .filter(plan_item::Column::Id.eq(item_id))
            .one(tx.conn())
            .await?
            .ok_or_else(|| ApiError::not_found("plan item"))?;
        // The item's case decides the scope; outside it, the item does not exist.
        self.open_visible(&tx, who, item.case_id)
            .await
            .map_err(|e| match e.code {
                shouhu_kernel::ErrorCode::NotFound => ApiError::not_found("plan item"),
                _ => e,
            })?;
        tx.update::<plan_item::Entity>()
            .col_expr(plan_item::Column::Status, Expr::value(status.code()))
            .col_expr(
                plan_item::Column::UpdatedAtMs,
                Expr::value(self.clock.now_ms()),
            )
            .filter(plan_item::Column::Id.eq(item_id))
            .exec(tx.conn())
            .await?;
        self.event(
            &tx,
            actor,
            Some(item.case_id),
            None,
            "case.plan_item_status",
            format!("plan item {}: {} → {}", item.id, item.status, status.code()),
        )
        .await?;
        self.audit
            .append(
                &tx,
                actor,
                AuditEntry::ok("case.plan_item_status", "case", item.case_id)
                    .with_detail(json!({ "item": item.id, "status": status.code() })),
            )
            .await?;
        let out = tx
            .select::<plan_item::Entity>()
            .filter(plan_item::Column::Id.eq(item_id))
            .one(tx.conn())
            .await?
            .ok_or_else(|| ApiError::not_found("plan item"))?;
        tx.commit().await?;
        Ok(out)
    }

    pub async fn plan_items(
        &self,
        who: &Principal,
        case_id: Uuid,
    ) -> Result<Vec<plan_item::Model>, ApiError> {
        who.require(Permission::CaseRead)?;
        let tx = self.db.read(who.tenant).await?;
        self.visible_case(&tx, who, case_id).await?;
        let rows = tx
            .select::<plan_item::Entity>()
            .filter(plan_item::Column::CaseId.eq(case_id))
            .order_by_asc(plan_item::Column::Id)
            .all(tx.conn())
            .await?;
        tx.commit().await?;
        Ok(rows)
    }

    /// The protection centre approves the assistance plan. Needs
    /// `case:approve`.
    pub async fn approve_plan(
        &self,
        who: &Principal,
        actor: &Actor,
        case_id: Uuid,
        version: i64,
    ) -> Result<case::Model, ApiError> {
        who.require(Permission::CaseApprove)?;
        let tx = self.db.write(who.tenant).await?;
        let row = self.case_for_change(&tx, who, case_id, version).await?;
        if row.state == CaseState::Closed.code() {
            return Err(ApiError::bad_input("caseId", "the case is closed"));
        }
        let items = tx
            .select::<plan_item::Entity>()
            .filter(plan_item::Column::CaseId.eq(case_id))
            .count(tx.conn())
            .await?;
        if items == 0 {
            return Err(CaseworkError::Precondition {
                field: "caseId",
                message: "the plan has no items".into(),
            }
            .into());
        }
        if row.plan_state == PlanState::Approved.code() {
            return Err(ApiError::bad_input(
                "caseId",
                "the plan is already approved",
            ));
        }
        let out = self
            .bump(
                &tx,
                &row,
                vec![(
                    case::Column::PlanState,
                    Expr::value(PlanState::Approved.code()),
                )],
            )
            .await?;
        self.event(
            &tx,
            actor,
            Some(case_id),
            None,
            "case.plan_approved",
            format!("assistance plan of {items} items approved"),
        )
        .await?;
        self.audit
            .append(
                &tx,
                actor,
                AuditEntry::ok("case.plan_approve", "case", case_id),
            )
            .await?;
        tx.commit().await?;
        Ok(out)
    }

    /// Records an emergency placement of the child.
    pub async fn record_placement(
        &self,
        who: &Principal,
        actor: &Actor,
        case_id: Uuid,
        input: PlacementInput,
    ) -> Result<placement::Model, ApiError> {
        who.require(Permission::CaseWrite)?;
        let tx = self.db.write(who.tenant).await?;
        let row = self
            .record_placement_in(&tx, who, actor, case_id, input)
            .await?;
        tx.commit().await?;
        Ok(row)
    }

    /// Records a placement inside the caller's write transaction, with its
    /// timeline entry and audit entry, for a module that writes its own
    /// rows beside it (partners records a caring-family placement and its
    /// link to the family in one transaction). Checks `case:write`, the
    /// input and that the case is visible and open, as
    /// [`CaseworkService::record_placement`] does.
    pub async fn record_placement_in(
        &self,
        tx: &ScopedTx,
        who: &Principal,
        actor: &Actor,
        case_id: Uuid,
        input: PlacementInput,
    ) -> Result<placement::Model, ApiError> {
        who.require(Permission::CaseWrite)?;
        let place = req_text(&input.place, 200, "input.place")?;
        let school = opt_text(input.school, 100, "input.school")?;
        if input.end_date.is_some_and(|end| end < input.start_date) {
            return Err(ApiError::bad_input(
                "input.endDate",
                "before the start date",
            ));
        }
        self.open_visible(tx, who, case_id).await?;
        let row = tx
            .insert(placement::ActiveModel {
                tenant_id: Set(tx.tenant().as_uuid()),
                id: Set(new_id()),
                case_id: Set(case_id),
                kind: Set(input.kind.code().to_owned()),
                place: Set(place),
                start_date: Set(input.start_date.to_string()),
                end_date: Set(input.end_date.map(|d| d.to_string())),
                school: Set(school),
                created_at_ms: Set(self.clock.now_ms()),
            })
            .await?;
        self.event(
            tx,
            actor,
            Some(case_id),
            None,
            "case.placement",
            format!(
                "placed: {} from {}",
                input.kind.label_zh(),
                input.start_date
            ),
        )
        .await?;
        self.audit
            .append(tx, actor, AuditEntry::ok("case.placement", "case", case_id))
            .await?;
        Ok(row)
    }

    /// A case the caller may see, in the caller's transaction, or NOT_FOUND:
    /// for other modules that act on a case (partners matches its child).
    /// Checks `case:read`.
    pub async fn case_in(
        &self,
        tx: &ScopedTx,
        who: &Principal,
        id: Uuid,
    ) -> Result<case::Model, ApiError> {
        who.require(Permission::CaseRead)?;
        self.visible_case(tx, who, id).await
    }

    pub async fn placements(
        &self,
        who: &Principal,
        case_id: Uuid,
    ) -> Result<Vec<placement::Model>, ApiError> {
        who.require(Permission::CaseRead)?;
        let tx = self.db.read(who.tenant).await?;
        self.visible_case(&tx, who, case_id).await?;
        let rows = tx
            .select::<placement::Entity>()
            .filter(placement::Column::CaseId.eq(case_id))
            .order_by_asc(placement::Column::StartDate)
            .all(tx.conn())
            .await?;
        tx.commit().await?;
        Ok(rows)
    }

    /// Asks the centre to close a case with an outcome and a summary.
    pub async fn request_closure(
        &self,
        who: &Principal,
        actor: &Actor,
        case_id: Uuid,
        version: i64,
        outcome: ClosureOutcome,
        summary: &str,
    ) -> Result<case::Model, ApiError> {
        who.require(Permission::CaseWrite)?;
        let summary = req_text(summary, 4000, "summary")?;
        let tx = self.db.write(who.tenant).await?;
        let row = self.case_for_change(&tx, who, case_id, version).await?;
        let from = CaseState::parse(&row.state)
            .ok_or_else(|| ApiError::internal("case in an unknown state"))?;
        if !from.can_move_to(CaseState::Closed) {
            return Err(CaseworkError::transition(from, CaseState::Closed).into());
        }
        if row.closure_pending.is_some() {
            return Err(ApiError::bad_input("caseId", "a closure review is pending"));
        }
        let out = self
            .bump(
                &tx,
                &row,
                vec![
                    (
                        case::Column::ClosurePending,
                        Expr::value(Some(outcome.code())),
                    ),
                    (case::Column::ClosureSummary, Expr::value(Some(summary))),
                ],
            )
            .await?;
        self.event(
            &tx,
            actor,
            Some(case_id),
            None,
            "case.closure_requested",
            format!("closure requested: {}", outcome.label_zh()),
        )
        .await?;
        self.audit
            .append(
                &tx,
                actor,
                AuditEntry::ok("case.closure_request", "case", case_id)
                    .with_detail(json!({ "outcome": outcome.code() })),
            )
            .await?;
        tx.commit().await?;
        Ok(out)
    }

    /// The centre approves (the case closes) or refuses a closure request.
    pub async fn review_closure(
        &self,
        who: &Principal,
        actor: &Actor,
        case_id: Uuid,
        version: i64,
        approve: bool,
        comment: Option<String>,
    ) -> Result<case::Model, ApiError> {
        who.require(Permission::CaseApprove)?;
        let comment = opt_text(comment, 2000, "comment")?;
        let tx = self.db.write(who.tenant).await?;
        let row = self.case_for_change(&tx, who, case_id, version).await?;
        let Some(outcome) = row.closure_pending.clone() else {
            return Err(ApiError::bad_input(
                "caseId",
                "no closure review is pending",
            ));
        };
        let changes = if approve {
            vec![
                (case::Column::State, Expr::value(CaseState::Closed.code())),
                (
                    case::Column::ClosureOutcome,
                    Expr::value(Some(outcome.clone())),
                ),
                (case::Column::ClosurePending, Expr::value(None::<String>)),
            ]
        } else {
            vec![(case::Column::ClosurePending, Expr::value(None::<String>))]
        };
        let out = self.bump(&tx, &row, changes).await?;
        let verdict = if approve { "approved" } else { "refused" };
        let mut summary = format!("closure ({outcome}) {verdict}");
        if let Some(comment) = &comment {
            summary.push_str(": ");
            summary.push_str(comment);
        }
        self.event(
            &tx,
            actor,
            Some(case_id),
            None,
            "case.closure_review",
            summary,
        )
        .await?;
        self.audit
            .append(
                &tx,
                actor,
                AuditEntry::ok("case.closure_review", "case", case_id)
                    .with_detail(json!({ "approved": approve, "outcome": outcome })),
            )
            .await?;
        tx.commit().await?;
        Ok(out)
    }

    /// Everything that happened to a case and to the reports accepted into
    /// it, in order.
    pub async fn timeline(
        &self,
        who: &Principal,
        case_id: Uuid,
    ) -> Result<Vec<case_event::Model>, ApiError> {
        who.require(Permission::CaseRead)?;
        let tx = self.db.read(who.tenant).await?;
        self.visible_case(&tx, who, case_id).await?;
        let reports = Query::select()
            .column(report::Column::Id)
            .from(report::Entity)
            .and_where(report::Column::TenantId.eq(who.tenant.as_uuid()))
            .and_where(report::Column::CaseId.eq(case_id))
            .to_owned();
        let rows = tx
            .select::<case_event::Entity>()
            .filter(
                Condition::any()
                    .add(case_event::Column::CaseId.eq(case_id))
                    .add(case_event::Column::ReportId.in_subquery(reports)),
            )
            .order_by_asc(case_event::Column::AtMs)
            .order_by_asc(case_event::Column::Id)
            .all(tx.conn())
            .await?;
        tx.commit().await?;
        Ok(rows)
    }
}

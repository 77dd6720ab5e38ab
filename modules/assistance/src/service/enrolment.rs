//! Enrolment: a proposal resting on a fresh decision of the programme's
//! plugin, an approval that commits the benefit within the budget, a
//! rejection, an early end that releases what was not yet due; and the
//! lists of enrolments and of the benefit ledger, bounded by the caller's
//! scope.

use chrono::NaiveDate;
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveValue::Set, ColumnTrait, QueryFilter, QueryOrder, QuerySelect};
use serde_json::{json, Value};
use shouhu_audit::{Actor, AuditEntry};
use shouhu_kernel::ids::new_id;
use shouhu_kernel::{ApiError, ErrorCode, Principal, ScopedTx};
use shouhu_policies::Permission;
use shouhu_registry::MinorFilter;
use uuid::Uuid;

use super::screening::plugin_of;
use super::{committed_in, find_programme, minors_in_scope, AssistanceService};
use crate::entity::{benefit_entry, enrolment, programme};
use crate::error::AssistanceError;
use crate::model::{BenefitPeriod, EnrolmentStatus, EntryKind};

/// Which enrolments to list.
#[derive(Clone, Debug, Default)]
pub struct EnrolmentFilter {
    pub programme_id: Option<Uuid>,
    pub minor_id: Option<Uuid>,
    pub status: Option<EnrolmentStatus>,
}

fn day(text: &str) -> Result<NaiveDate, ApiError> {
    NaiveDate::parse_from_str(text, "%Y-%m-%d").map_err(ApiError::internal)
}

impl AssistanceService {
    /// Proposes enrolling a child of the caller's difficulty ledger. The
    /// programme's plugin decides afresh (a recorded call); a child it does
    /// not find eligible is refused with its reasons. Needs
    /// `programme:read`, and the child in the caller's scope.
    pub async fn propose(
        &self,
        who: &Principal,
        actor: &Actor,
        programme_id: Uuid,
        minor_id: Uuid,
    ) -> Result<enrolment::Model, ApiError> {
        who.require(Permission::ProgrammeRead)?;
        let programme = {
            let tx = self.db.read(who.tenant).await?;
            find_programme(&tx, programme_id).await?
        };
        let plugin_id = plugin_of(&programme)?;
        let today = self.today();
        if today < day(&programme.starts_on)? || today > day(&programme.ends_on)? {
            return Err(AssistanceError::State {
                field: "programmeId",
                message: format!(
                    "the programme runs from {} to {}; it takes no enrolments today",
                    programme.starts_on, programme.ends_on
                ),
            }
            .into());
        }
        let show_sensitive = self
            .extensions
            .grant_permissions(who.tenant, plugin_id)
            .await?
            .contains(Permission::MinorSensitive);
        let (facts, _) = self
            .registry
            .difficulty_facts(
                who,
                &MinorFilter::default(),
                Some(&[minor_id]),
                None,
                1,
                show_sensitive,
            )
            .await?;
        if facts.is_empty() {
            return Err(ApiError::not_found("minor"));
        }
        let (invoked, decisions) = self
            .decide(who, actor, &programme, plugin_id, facts, "eligibility")
            .await?;
        let reasons: Vec<&str> = decisions.reasons(0).collect();
        if !decisions.eligible(0) {
            return Err(AssistanceError::NotEligible {
                reasons: reasons.join("; "),
            }
            .into());
        }
        let benefit = decisions.benefit(0);
        let (amount, period, in_kind) = proposed_benefit(&programme, benefit.as_ref());
        let tx = self.db.write(who.tenant).await?;
        let inserted = tx
            .insert(enrolment::ActiveModel {
                tenant_id: Set(who.tenant.0),
                id: Set(new_id()),
                programme_id: Set(programme_id),
                minor_id: Set(minor_id),
                status: Set(EnrolmentStatus::Proposed.code().to_owned()),
                call_id: Set(Some(invoked.call_id)),
                reasons: Set(json!(reasons).to_string()),
                reasons_sensitive: Set(who.has(Permission::MinorSensitive)),
                amount_cents: Set(amount),
                period: Set(period),
                in_kind: Set(in_kind),
                benefit_from: Set(None),
                proposed_by: Set(who.actor_id),
                proposed_at_ms: Set(self.clock.now_ms()),
                decided_by: Set(None),
                decided_at_ms: Set(None),
                note: Set(None),
            })
            .await;
        let row = match inserted {
            Ok(row) => row,
            // The partial unique index: one open enrolment per child and programme.
            Err(err) if err.code == ErrorCode::Conflict => {
                return Err(ApiError::conflict(
                    "minorId",
                    "the child has an open enrolment in this programme already",
                ))
            }
            Err(err) => return Err(err),
        };
        self.audit
            .append(
                &tx,
                actor,
                AuditEntry::ok("enrolment.propose", "enrolment", row.id).with_detail(json!({
                    "programme": programme_id,
                    "minor": minor_id,
                    "call": invoked.call_id,
                })),
            )
            .await?;
        tx.commit().await?;
        Ok(row)
    }

    /// Approves or rejects a proposed enrolment. Approval commits the
    /// benefit for the periods left in the programme's term, refused with
    /// LIMIT_EXCEEDED when the budget does not cover it; a rejection needs
    /// a note. Needs `enrolment:approve`, district-wide.
    pub async fn decide_enrolment(
        &self,
        who: &Principal,
        actor: &Actor,
        id: Uuid,
        approve: bool,
        note: Option<String>,
    ) -> Result<enrolment::Model, ApiError> {
        who.require_district_wide(Permission::EnrolmentApprove)?;
        let note = check_note(note, !approve)?;
        let now = self.clock.now_ms();
        let today = self.today();
        let tx = self.db.write(who.tenant).await?;
        let row = find_enrolment(&tx, id).await?;
        if row.status != EnrolmentStatus::Proposed.code() {
            return Err(AssistanceError::State {
                field: "id",
                message: format!("the enrolment is {}, not proposed", row.status),
            }
            .into());
        }
        // Touching the programme first locks its row on PostgreSQL, so two
        // approvals of one programme take turns and both see the budget as
        // the other left it.
        tx.update::<programme::Entity>()
            .col_expr(programme::Column::UpdatedAtMs, Expr::value(now))
            .filter(programme::Column::Id.eq(row.programme_id))
            .exec(tx.conn())
            .await?;
        let programme = find_programme(&tx, row.programme_id).await?;
        let status = if approve {
            let from = today.max(day(&programme.starts_on)?);
            let until = day(&programme.ends_on)?;
            let period = row.period.as_deref().and_then(BenefitPeriod::parse);
            let periods = period
                .unwrap_or(BenefitPeriod::Once)
                .periods_between(from, until);
            if periods == 0 {
                return Err(AssistanceError::State {
                    field: "id",
                    message: format!("the programme ended on {until}"),
                }
                .into());
            }
            let cash = row.amount_cents.is_some();
            if cash != programme.amount_cents.is_some() {
                return Err(AssistanceError::State {
                    field: "id",
                    message: "the programme's benefit changed since the proposal; propose again"
                        .into(),
                }
                .into());
            }
            let over = || AssistanceError::State {
                field: "id",
                message: "the commitment is too large to record".into(),
            };
            let needed = row
                .amount_cents
                .unwrap_or(0)
                .checked_mul(periods)
                .ok_or_else(over)?;
            if let Some(budget) = programme.budget_cents {
                let committed = committed_in(&tx, programme.id).await?;
                if committed.checked_add(needed).ok_or_else(over)? > budget {
                    return Err(AssistanceError::OverBudget {
                        needed,
                        remaining: budget - committed,
                        budget,
                    }
                    .into());
                }
            }
            self.entry(
                &tx,
                who,
                &row,
                EntryKind::Commitment,
                needed,
                periods,
                note.clone().unwrap_or_default(),
            )
            .await?;
            tx.update::<enrolment::Entity>()
                .col_expr(
                    enrolment::Column::BenefitFrom,
                    Expr::value(from.to_string()),
                )
                .filter(enrolment::Column::Id.eq(id))
                .exec(tx.conn())
                .await?;
            EnrolmentStatus::Approved
        } else {
            EnrolmentStatus::Rejected
        };
        let row = self.settle(&tx, who, id, status, note, now).await?;
        self.audit
            .append(
                &tx,
                actor,
                AuditEntry::ok("enrolment.decide", "enrolment", id).with_detail(json!({
                    "programme": row.programme_id,
                    "status": row.status,
                })),
            )
            .await?;
        tx.commit().await?;
        Ok(withhold_reasons(who, row))
    }

    /// Ends an approved enrolment early, releasing the benefit of the
    /// periods that have not begun. Needs `enrolment:approve`,
    /// district-wide, and a reason.
    pub async fn end_enrolment(
        &self,
        who: &Principal,
        actor: &Actor,
        id: Uuid,
        reason: String,
    ) -> Result<enrolment::Model, ApiError> {
        who.require_district_wide(Permission::EnrolmentApprove)?;
        let reason = check_note(Some(reason), true)?;
        let now = self.clock.now_ms();
        let today = self.today();
        let tx = self.db.write(who.tenant).await?;
        let row = find_enrolment(&tx, id).await?;
        if row.status != EnrolmentStatus::Approved.code() {
            return Err(AssistanceError::State {
                field: "id",
                message: format!("the enrolment is {}, not approved", row.status),
            }
            .into());
        }
        let programme = find_programme(&tx, row.programme_id).await?;
        let from = day(row.benefit_from.as_deref().unwrap_or(&programme.starts_on))?;
        let period = row
            .period
            .as_deref()
            .and_then(BenefitPeriod::parse)
            .unwrap_or(BenefitPeriod::Once);
        // What approval committed, not what the programme's term says now:
        // a term changed since must not release more than was committed.
        let committed: i64 = tx
            .select::<benefit_entry::Entity>()
            .filter(benefit_entry::Column::EnrolmentId.eq(id))
            .filter(benefit_entry::Column::Kind.eq(EntryKind::Commitment.code()))
            .all(tx.conn())
            .await?
            .iter()
            .map(|e| i64::from(e.periods))
            .sum();
        let begun = period.periods_between(from, today).min(committed);
        let left = committed - begun;
        if left > 0 {
            let released = row.amount_cents.unwrap_or(0).saturating_mul(left);
            self.entry(
                &tx,
                who,
                &row,
                EntryKind::Release,
                -released,
                left,
                reason.clone().unwrap_or_default(),
            )
            .await?;
        }
        let row = self
            .settle(&tx, who, id, EnrolmentStatus::Ended, reason, now)
            .await?;
        self.audit
            .append(
                &tx,
                actor,
                AuditEntry::ok("enrolment.end", "enrolment", id)
                    .with_detail(json!({ "programme": row.programme_id, "periodsReleased": left })),
            )
            .await?;
        tx.commit().await?;
        Ok(withhold_reasons(who, row))
    }

    /// Enrolments of minors in the caller's scope, by id. Needs
    /// `programme:read`.
    pub async fn enrolments(
        &self,
        who: &Principal,
        filter: &EnrolmentFilter,
        after: Option<Uuid>,
        limit: u64,
    ) -> Result<Vec<enrolment::Model>, ApiError> {
        who.require(Permission::ProgrammeRead)?;
        let tx = self.db.read(who.tenant).await?;
        let mut query = tx.select::<enrolment::Entity>();
        if let Some(scope) = minors_in_scope(who) {
            query = query.filter(enrolment::Column::MinorId.in_subquery(scope));
        }
        if let Some(id) = filter.programme_id {
            query = query.filter(enrolment::Column::ProgrammeId.eq(id));
        }
        if let Some(id) = filter.minor_id {
            query = query.filter(enrolment::Column::MinorId.eq(id));
        }
        if let Some(status) = filter.status {
            query = query.filter(enrolment::Column::Status.eq(status.code()));
        }
        if let Some(after) = after {
            query = query.filter(enrolment::Column::Id.gt(after));
        }
        Ok(query
            .order_by_asc(enrolment::Column::Id)
            .limit(limit)
            .all(tx.conn())
            .await?
            .into_iter()
            .map(|row| withhold_reasons(who, row))
            .collect())
    }

    /// The benefit ledger of a programme or of a minor (or both), oldest
    /// first, bounded by the caller's scope. Needs `programme:read`.
    pub async fn ledger(
        &self,
        who: &Principal,
        programme_id: Option<Uuid>,
        minor_id: Option<Uuid>,
        limit: u64,
    ) -> Result<Vec<benefit_entry::Model>, ApiError> {
        who.require(Permission::ProgrammeRead)?;
        let tx = self.db.read(who.tenant).await?;
        let mut query = tx.select::<benefit_entry::Entity>();
        if let Some(scope) = minors_in_scope(who) {
            query = query.filter(benefit_entry::Column::MinorId.in_subquery(scope));
        }
        if let Some(id) = programme_id {
            query = query.filter(benefit_entry::Column::ProgrammeId.eq(id));
        }
        if let Some(id) = minor_id {
            query = query.filter(benefit_entry::Column::MinorId.eq(id));
        }
        Ok(query
            .order_by_asc(benefit_entry::Column::AtMs)
            .order_by_asc(benefit_entry::Column::Id)
            .limit(limit)
            .all(tx.conn())
            .await?)
    }

    #[allow(clippy::too_many_arguments)] // one ledger line's fields
    async fn entry(
        &self,
        tx: &ScopedTx,
        who: &Principal,
        row: &enrolment::Model,
        kind: EntryKind,
        amount_cents: i64,
        periods: i64,
        note: String,
    ) -> Result<(), ApiError> {
        tx.insert(benefit_entry::ActiveModel {
            tenant_id: Set(who.tenant.0),
            id: Set(new_id()),
            programme_id: Set(row.programme_id),
            enrolment_id: Set(row.id),
            minor_id: Set(row.minor_id),
            kind: Set(kind.code().to_owned()),
            amount_cents: Set(amount_cents),
            periods: Set(i32::try_from(periods).unwrap_or(i32::MAX)),
            note: Set(note),
            recorded_by: Set(who.actor_id),
            at_ms: Set(self.clock.now_ms()),
        })
        .await?;
        Ok(())
    }

    async fn settle(
        &self,
        tx: &ScopedTx,
        who: &Principal,
        id: Uuid,
        status: EnrolmentStatus,
        note: Option<String>,
        now: i64,
    ) -> Result<enrolment::Model, ApiError> {
        tx.update::<enrolment::Entity>()
            .col_expr(enrolment::Column::Status, Expr::value(status.code()))
            .col_expr(enrolment::Column::DecidedBy, Expr::value(who.actor_id))
            .col_expr(enrolment::Column::DecidedAtMs, Expr::value(now))
            .col_expr(enrolment::Column::Note, Expr::value(note))
            .filter(enrolment::Column::Id.eq(id))
            .exec(tx.conn())
            .await?;
        find_enrolment(tx, id).await
    }
}

/// What a reader without `minor:sensitive` sees in place of the help in
/// kind a plugin proposed on the unmasked view.
pub(crate) const IN_KIND_WITHHELD: &str = "(withheld: proposed on sensitive information)";

/// A plugin's reasons, and the help in kind it proposed, may repeat what it
/// was told about the child ("a nutrition pack for HIV"); those given on
/// the unmasked view are withheld from readers without `minor:sensitive`.
pub(crate) fn withhold_reasons(who: &Principal, mut row: enrolment::Model) -> enrolment::Model {
    if row.reasons_sensitive && !who.has(Permission::MinorSensitive) {
        row.reasons = "[]".to_owned();
        if row.in_kind.is_some() {
            row.in_kind = Some(IN_KIND_WITHHELD.to_owned());
        }
    }
    row
}

/// An enrolment of the district, or NOT_FOUND.
async fn find_enrolment(tx: &ScopedTx, id: Uuid) -> Result<enrolment::Model, ApiError> {
    tx.select::<enrolment::Entity>()
        .filter(enrolment::Column::Id.eq(id))
        .one(tx.conn())
        .await?
        .ok_or_else(|| ApiError::not_found("enrolment"))
}

fn check_note(note: Option<String>, required: bool) -> Result<Option<String>, ApiError> {
    let note = note.map(|n| n.trim().to_owned()).filter(|n| !n.is_empty());
    match &note {
        None if required => Err(ApiError::bad_input("note", "give a reason")),
        Some(text) if text.chars().count() > 500 => {
            Err(ApiError::bad_input("note", "at most 500 characters"))
        }
        _ => Ok(note),
    }
}

/// The benefit an enrolment proposes: the plugin's, when it proposed one
/// of the programme's kind and period and no more than the programme's own
/// amount (a rule may lower a benefit, never raise it), else the
/// programme's own.
fn proposed_benefit(
    programme: &programme::Model,
    from_plugin: Option<&Value>,
) -> (Option<i64>, Option<String>, Option<String>) {
    let cash = programme.amount_cents.is_some();
    if let Some(b) = from_plugin {
        let amount = b["amountCents"].as_i64();
        let period = b["period"].as_str();
        let in_kind = b["inKind"].as_str();
        match (cash, amount, period, in_kind) {
            (true, Some(a), Some(p), _)
                if a > 0
                    && programme.amount_cents.is_some_and(|max| a <= max)
                    && programme.period.as_deref() == Some(p) =>
            {
                return (Some(a), Some(p.to_owned()), None)
            }
            (false, _, _, Some(text)) => return (None, None, Some(text.to_owned())),
            _ => {}
        }
    }
    (
        programme.amount_cents,
        programme.period.clone(),
        programme.in_kind.clone(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use shouhu_kernel::TenantId;

    fn row(sensitive: bool) -> enrolment::Model {
        enrolment::Model {
            tenant_id: Uuid::nil(),
            id: Uuid::nil(),
            programme_id: Uuid::nil(),
            minor_id: Uuid::nil(),
            status: "proposed".into(),
            call_id: None,
            reasons: r#"["hiv"]"#.into(),
            reasons_sensitive: sensitive,
            amount_cents: None,
            period: None,
            in_kind: Some("HIV nutrition pack".into()),
            benefit_from: None,
            proposed_by: Uuid::nil(),
            proposed_at_ms: 0,
            decided_by: None,
            decided_at_ms: None,
            note: None,
        }
    }

    /// Reader (holds minor:sensitive or not) x decision (made on the
    /// unmasked view or not) -> whether the plugin's words are shown.
    #[test]
    fn plugin_words_from_the_unmasked_view_need_minor_sensitive() {
        let full = Principal::system(TenantId(Uuid::nil()));
        let mut masked = full.clone();
        masked.permissions = Permission::ALL
            .iter()
            .copied()
            .filter(|p| *p != Permission::MinorSensitive)
            .collect();
        for (reader, sensitive, shown) in [
            (&full, true, true),
            (&full, false, true),
            (&masked, false, true),
            (&masked, true, false),
        ] {
            let seen = withhold_reasons(reader, row(sensitive));
            let expected = row(sensitive);
            if shown {
                assert_eq!(seen, expected);
            } else {
                assert_eq!(seen.reasons, "[]");
                assert_eq!(seen.in_kind.as_deref(), Some(IN_KIND_WITHHELD));
            }
        }
    }
}

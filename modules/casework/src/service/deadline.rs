//! Deadlines: the district's settings, the overdue queue, escalation of
//! missed deadlines to the protection centre, and the officers' inbox.

use sea_orm::sea_query::{OnConflict, Query};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, QueryFilter, QueryOrder, QuerySelect,
};
use serde_json::json;
use shouhu_audit::{Actor, AuditEntry};
use shouhu_kernel::ids::new_id;
use shouhu_kernel::{ApiError, Principal, ScopedTx, TenantId};
use shouhu_policies::Permission;
use uuid::Uuid;

use super::{in_subtree, CaseworkService, Notice};
use crate::deadlines::Settings;
use crate::entity::{escalation, notification, report, settings};
use crate::model::{Deadline, ReportStatus};

/// One missed deadline of one report.
#[derive(Clone, Debug)]
pub struct OverdueItem {
    pub report: report::Model,
    pub deadline: Deadline,
    pub due_ms: i64,
    /// When it was escalated to the centre, if it was.
    pub escalated_at_ms: Option<i64>,
}

/// The deadlines of a report that are past `now` and not met.
pub fn missed(row: &report::Model, now: i64) -> Vec<(Deadline, i64)> {
    let mut out = Vec::new();
    let open = row.status != ReportStatus::Dismissed.code();
    if open && row.acknowledged_at_ms.is_none() && row.ack_due_ms < now {
        out.push((Deadline::Acknowledge, row.ack_due_ms));
    }
    if open && row.responded_at_ms.is_none() && row.response_due_ms < now {
        let kind = Deadline::parse(&row.response_kind).unwrap_or(Deadline::Verify);
        out.push((kind, row.response_due_ms));
    }
    if row.reporter_told_at_ms.is_none() && row.reporter_due_ms < now {
        out.push((Deadline::TellReporter, row.reporter_due_ms));
    }
    out
}

impl CaseworkService {
    /// The district's deadlines. Needs `report:read` or `sla:manage`.
    pub async fn deadline_settings(&self, who: &Principal) -> Result<Settings, ApiError> {
        if !who.has(Permission::SlaManage) {
            who.require(Permission::ReportRead)?;
        }
        let tx = self.db.read(who.tenant).await?;
        let out = self.settings_in(&tx).await?;
        tx.commit().await?;
        Ok(out)
    }

    /// Changes the district's deadlines; reports received from now on use
    /// them. Needs `sla:manage`.
    pub async fn set_deadline_settings(
        &self,
        who: &Principal,
        actor: &Actor,
        new: Settings,
    ) -> Result<Settings, ApiError> {
        who.require_district_wide(Permission::SlaManage)?;
        new.check()
            .map_err(|(field, message)| ApiError::bad_input(field, message))?;
        let tx = self.db.write(who.tenant).await?;
        let now = self.clock.now_ms();
        tx.delete::<settings::Entity>(Condition::all())
            .exec(tx.conn())
            .await?;
        tx.insert(settings::ActiveModel {
            tenant_id: Set(who.tenant.as_uuid()),
            emergency_ack_ms: Set(new.emergency_ack_ms),
            emergency_visit_ms: Set(new.emergency_visit_ms),
            ack_ms: Set(new.ack_ms),
            verify_working_days: Set(new.verify_working_days),
            reporter_ms: Set(new.reporter_ms),
            updated_at_ms: Set(now),
        })
        .await?;
        self.audit
            .append(
                &tx,
                actor,
                AuditEntry::ok("casework.deadlines", "tenant", who.tenant).with_detail(json!({
                    "emergency_ack_ms": new.emergency_ack_ms,
                    "emergency_visit_ms": new.emergency_visit_ms,
                    "ack_ms": new.ack_ms,
                    "verify_working_days": new.verify_working_days,
                    "reporter_ms": new.reporter_ms,
                })),
            )
            .await?;
        tx.commit().await?;
        Ok(new)
    }

    /// Reports with a deadline that is past and not met, in `tx`'s district,
    /// bounded by `who`'s scope when given.
    async fn overdue_in(
        &self,
        tx: &ScopedTx,
        who: Option<&Principal>,
        limit: u64,
    ) -> Result<Vec<OverdueItem>, ApiError> {
        let now = self.clock.now_ms();
        let open = report::Column::Status.ne(ReportStatus::Dismissed.code());
        let late = Condition::any()
            .add(
                Condition::all()
                    .add(open.clone())
                    .add(report::Column::AcknowledgedAtMs.is_null())
                    .add(report::Column::AckDueMs.lt(now)),
            )
            .add(
                Condition::all()
                    .add(open)
                    .add(report::Column::RespondedAtMs.is_null())
                    .add(report::Column::ResponseDueMs.lt(now)),
            )
            .add(
                Condition::all()
                    .add(report::Column::ReporterToldAtMs.is_null())
                    .add(report::Column::ReporterDueMs.lt(now)),
            );
        let mut query = tx
            .select::<report::Entity>()
            .filter(late)
            .order_by_asc(report::Column::Id)
            .limit(limit);
        if let Some(who) = who {
            query = in_subtree(query, who, report::Column::RoutedUnitId);
        }
        let rows = query.all(tx.conn()).await?;
        let ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
        let escalated = if ids.is_empty() {
            Vec::new()
        } else {
            tx.select::<escalation::Entity>()
                .filter(escalation::Column::ReportId.is_in(ids))
                .all(tx.conn())
                .await?
        };
        let mut out = Vec::new();
        for row in rows {
            for (deadline, due_ms) in missed(&row, now) {
                let at = escalated
                    .iter()
                    .find(|e| e.report_id == row.id && e.deadline == deadline.code())
                    .map(|e| e.escalated_at_ms);
                out.push(OverdueItem {
                    report: row.clone(),
                    deadline,
                    due_ms,
                    escalated_at_ms: at,
                });
            }
        }
        out.sort_by_key(|i| (i.due_ms, i.report.id));
        Ok(out)
    }

    /// The overdue queue of the caller's scope. Needs `report:read`.
    pub async fn overdue(&self, who: &Principal, limit: u64) -> Result<Vec<OverdueItem>, ApiError> {
        who.require(Permission::ReportRead)?;
        let tx = self.db.read(who.tenant).await?;
        let out = self.overdue_in(&tx, Some(who), limit).await?;
        tx.commit().await?;
        Ok(out)
    }

    /// Escalates, once each, the missed deadlines of a district to the
    /// protection centre: an escalation row, a timeline entry, a notice in
    /// the centre's inbox and an audit entry, in one transaction. Returns
    /// how many were escalated. Run by the background tick, and on demand
    /// by staff of the whole district with `report:triage`.
    pub async fn escalate_overdue(&self, who: &Principal, actor: &Actor) -> Result<u64, ApiError> {
        who.require_district_wide(Permission::ReportTriage)?;
        self.escalate_in(who.tenant, actor).await
    }

    /// [`CaseworkService::escalate_overdue`] for the tick, which acts as the
    /// system.
    pub async fn escalate_in(&self, tenant: TenantId, actor: &Actor) -> Result<u64, ApiError> {
        let tx = self.db.write(tenant).await?;
        let items = self.overdue_in(&tx, None, 1_000).await?;
        let root = self.tenancy.root_in(&tx).await?;
        let now = self.clock.now_ms();
        let mut count = 0;
        let mut notices = Vec::new();
        for item in items.iter().filter(|i| i.escalated_at_ms.is_none()) {
            // A unique key per (report, deadline): if another node escalated
            // it meanwhile, this insert does nothing and is not counted.
            let insert = Query::insert()
                .into_table(escalation::Entity)
                .columns([
                    escalation::Column::TenantId,
                    escalation::Column::Id,
                    escalation::Column::ReportId,
                    escalation::Column::Deadline,
                    escalation::Column::DueMs,
                    escalation::Column::EscalatedAtMs,
                ])
                .values_panic([
                    tenant.as_uuid().into(),
                    new_id().into(),
                    item.report.id.into(),
                    item.deadline.code().into(),
                    item.due_ms.into(),
                    now.into(),
                ])
                .on_conflict(
                    OnConflict::columns([
                        escalation::Column::TenantId,
                        escalation::Column::ReportId,
                        escalation::Column::Deadline,
                    ])
                    .do_nothing()
                    .to_owned(),
                )
                .to_owned();
            let backend = tx.conn().get_database_backend();
            let done = tx.conn().execute(backend.build(&insert)).await?;
            if done.rows_affected() == 0 {
                continue;
            }
            count += 1;
            let late_min = (now - item.due_ms) / 60_000;
            self.event(
                &tx,
                actor,
                item.report.case_id,
                Some(item.report.id),
                "report.escalated",
                format!(
                    "{} deadline missed by {late_min} min; escalated to the protection centre",
                    item.deadline.label_zh()
                ),
            )
            .await?;
            tx.insert(notification::ActiveModel {
                tenant_id: Set(tenant.as_uuid()),
                id: Set(new_id()),
                unit_id: Set(root.id),
                report_id: Set(item.report.id),
                kind: Set("escalation".into()),
                created_at_ms: Set(now),
            })
            .await?;
            self.audit
                .append(
                    &tx,
                    actor,
                    AuditEntry::ok("report.escalate", "report", item.report.id).with_detail(
                        json!({ "deadline": item.deadline.code(), "due_ms": item.due_ms }),
                    ),
                )
                .await?;
            notices.push(Notice {
                tenant,
                unit_path: root.path.clone(),
                report_id: item.report.id,
                kind: "escalation",
                at_ms: now,
            });
        }
        tx.commit().await?;
        for notice in notices {
            let _ = self.notices.send(notice);
        }
        Ok(count)
    }

    /// The inbox of the caller's units: emergency reports routed to their
    /// street, and (for the centre) escalations, newest first. Needs
    /// `report:read`.
    pub async fn inbox(
        &self,
        who: &Principal,
        limit: u64,
    ) -> Result<Vec<notification::Model>, ApiError> {
        who.require(Permission::ReportRead)?;
        let tx = self.db.read(who.tenant).await?;
        let query = tx
            .select::<notification::Entity>()
            .order_by_desc(notification::Column::Id)
            .limit(limit);
        let rows = in_subtree(query, who, notification::Column::UnitId)
            .all(tx.conn())
            .await?;
        tx.commit().await?;
        Ok(rows)
    }

    /// One background pass over every district: route what is waiting and
    /// escalate what is late. Errors are logged per district.
    pub async fn tick(&self, tenants: &[TenantId]) {
        let actor = Actor::system("casework-tick");
        for tenant in tenants {
            if let Err(err) = self.retry_routing(*tenant).await {
                tracing::warn!(tenant = %tenant, error.code = err.code.as_str(),
                    "routing retry failed");
            }
            match self.escalate_in(*tenant, &actor).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(tenant = %tenant, escalated = n, "deadlines escalated"),
                Err(err) => tracing::warn!(tenant = %tenant, error.code = err.code.as_str(),
                    "escalation failed"),
            }
        }
    }
}

//! The GraphQL objects of reporting and casework. A report's reporter and a
//! case's records are resolved lazily through the service, so each is
//! authorised (and the reporter's identity audited) only when asked for.

use async_graphql::{Context, Object, SimpleObject, ID};
use chrono::{DateTime, Utc};
use shouhu_kernel::context::principal;

use super::at;
use crate::entity::{
    assessment, case, case_event, case_note, home_visit, notification, placement, plan_item, report,
};
use crate::model::*;
use crate::CaseworkService;
use shouhu_audit::Actor;

fn id(u: uuid::Uuid) -> ID {
    ID(u.to_string())
}

/// A report, as staff with `report:read` see it. The reporter's identity is
/// a separate field that needs its own permission.
pub struct Report(pub report::Model);

#[Object]
impl Report {
    async fn id(&self) -> ID {
        id(self.0.id)
    }
    async fn receipt(&self) -> &str {
        &self.0.receipt
    }
    async fn channel(&self) -> Option<Channel> {
        Channel::parse(&self.0.channel)
    }
    async fn categories(&self) -> Vec<ReportCategory> {
        self.0
            .categories
            .split(',')
            .filter_map(ReportCategory::parse)
            .collect()
    }
    async fn description(&self) -> &str {
        &self.0.description
    }
    async fn place_unit_id(&self) -> Option<ID> {
        self.0.place_unit_id.map(id)
    }
    async fn address(&self) -> Option<&str> {
        self.0.address.as_deref()
    }
    async fn occurred_at(&self) -> Option<DateTime<Utc>> {
        self.0.occurred_at_ms.map(at)
    }
    async fn minor_id(&self) -> Option<ID> {
        self.0.minor_id.map(id)
    }
    async fn child_description(&self) -> Option<&str> {
        self.0.child_description.as_deref()
    }
    /// Whether the reporter considered it urgent.
    async fn urgent(&self) -> bool {
        self.0.reporter_urgent
    }
    async fn level(&self) -> Option<Level> {
        Level::parse(&self.0.level)
    }
    /// Why the level was last changed by hand.
    async fn level_reason(&self) -> Option<&str> {
        self.0.level_reason.as_deref()
    }
    /// PENDING while the report waits in the retry queue.
    async fn routing_state(&self) -> Option<RoutingState> {
        RoutingState::parse(&self.0.routing_state)
    }
    /// The street or town it was routed to, or the district (the centre's
    /// queue).
    async fn routed_unit_id(&self) -> Option<ID> {
        self.0.routed_unit_id.map(id)
    }
    async fn status(&self) -> Option<ReportStatus> {
        ReportStatus::parse(&self.0.status)
    }
    async fn case_id(&self) -> Option<ID> {
        self.0.case_id.map(id)
    }
    async fn received_at(&self) -> DateTime<Utc> {
        at(self.0.received_at_ms)
    }
    async fn acknowledge_due_at(&self) -> DateTime<Utc> {
        at(self.0.ack_due_ms)
    }
    async fn acknowledged_at(&self) -> Option<DateTime<Utc>> {
        self.0.acknowledged_at_ms.map(at)
    }
    /// HOME_VISIT for an emergency, VERIFY otherwise.
    async fn response_deadline(&self) -> Option<Deadline> {
        Deadline::parse(&self.0.response_kind)
    }
    async fn response_due_at(&self) -> DateTime<Utc> {
        at(self.0.response_due_ms)
    }
    async fn responded_at(&self) -> Option<DateTime<Utc>> {
        self.0.responded_at_ms.map(at)
    }
    async fn reporter_due_at(&self) -> DateTime<Utc> {
        at(self.0.reporter_due_ms)
    }
    async fn reporter_told_at(&self) -> Option<DateTime<Utc>> {
        self.0.reporter_told_at_ms.map(at)
    }
    /// Who filed it. Needs `report:reporter_identity`; every read is
    /// audited.
    async fn reporter(&self, ctx: &Context<'_>) -> async_graphql::Result<ReporterIdentity> {
        let who = principal(ctx)?;
        let row = ctx
            .data::<CaseworkService>()?
            .reporter_of(who, &Actor::of_request(ctx)?, self.0.id)
            .await?;
        Ok(ReporterIdentity {
            user_id: row.reporter_user_id.map(id),
            name: row.reporter_name,
            contact: row.reporter_contact,
            organisation: row.reporter_org,
        })
    }
}

/// Who filed a report.
#[derive(SimpleObject)]
pub struct ReporterIdentity {
    /// The account that filed it (none for the public form).
    pub user_id: Option<ID>,
    pub name: Option<String>,
    pub contact: Option<String>,
    pub organisation: Option<String>,
}

/// All a reporter may know of a report.
#[derive(SimpleObject)]
pub struct ReporterStatusView {
    pub receipt: String,
    pub status: ReporterStatus,
    pub label: String,
    pub received_at: DateTime<Utc>,
}

/// A protection case.
pub struct Case(pub case::Model);

#[Object]
impl Case {
    async fn id(&self) -> ID {
        id(self.0.id)
    }
    /// `YYYY-NNNNN`, per district and year.
    async fn number(&self) -> &str {
        &self.0.number
    }
    async fn minor_id(&self) -> Option<ID> {
        self.0.minor_id.map(id)
    }
    async fn child_description(&self) -> Option<&str> {
        self.0.child_description.as_deref()
    }
    /// The responsible street (or the district, for the centre's own cases).
    async fn unit_id(&self) -> ID {
        id(self.0.unit_id)
    }
    async fn lead_user_id(&self) -> Option<ID> {
        self.0.lead_user_id.map(id)
    }
    /// The other workers on the case.
    async fn worker_ids(&self) -> Vec<ID> {
        serde_json::from_str::<Vec<String>>(&self.0.workers)
            .unwrap_or_default()
            .into_iter()
            .map(ID)
            .collect()
    }
    async fn state(&self) -> Option<CaseState> {
        CaseState::parse(&self.0.state)
    }
    async fn state_label(&self) -> &str {
        CaseState::parse(&self.0.state).map_or("", |s| s.label_zh())
    }
    /// Where `transitionCase` may take the case from here.
    async fn allowed_transitions(&self) -> Vec<CaseState> {
        CaseState::parse(&self.0.state).map_or_else(Vec::new, |s| s.next().to_vec())
    }
    async fn closure_outcome(&self) -> Option<ClosureOutcome> {
        self.0
            .closure_outcome
            .as_deref()
            .and_then(ClosureOutcome::parse)
    }
    /// The outcome a pending closure review asks for.
    async fn closure_pending(&self) -> Option<ClosureOutcome> {
        self.0
            .closure_pending
            .as_deref()
            .and_then(ClosureOutcome::parse)
    }
    async fn closure_summary(&self) -> Option<&str> {
        self.0.closure_summary.as_deref()
    }
    async fn plan_state(&self) -> Option<PlanState> {
        PlanState::parse(&self.0.plan_state)
    }
    /// Send back with every change; a stale version is a CONFLICT.
    async fn version(&self) -> i64 {
        self.0.version
    }
    async fn opened_at(&self) -> DateTime<Utc> {
        at(self.0.opened_at_ms)
    }
    async fn updated_at(&self) -> DateTime<Utc> {
        at(self.0.updated_at_ms)
    }
    async fn visits(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<HomeVisit>> {
        let who = principal(ctx)?;
        let rows = ctx
            .data::<CaseworkService>()?
            .visits(who, self.0.id)
            .await?;
        Ok(rows.into_iter().map(HomeVisit::from).collect())
    }
    /// Confidential notes only with `case:confidential`.
    async fn notes(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<CaseNote>> {
        let who = principal(ctx)?;
        let rows = ctx.data::<CaseworkService>()?.notes(who, self.0.id).await?;
        Ok(rows.into_iter().map(CaseNote::from).collect())
    }
    /// Every assessment, oldest first; the last is the current one.
    async fn assessments(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<Assessment>> {
        let who = principal(ctx)?;
        let rows = ctx
            .data::<CaseworkService>()?
            .assessments(who, self.0.id)
            .await?;
        Ok(rows.into_iter().map(Assessment::from).collect())
    }
    async fn plan_items(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<PlanItem>> {
        let who = principal(ctx)?;
        let rows = ctx
            .data::<CaseworkService>()?
            .plan_items(who, self.0.id)
            .await?;
        Ok(rows.into_iter().map(PlanItem::from).collect())
    }
    async fn placements(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<Placement>> {
        let who = principal(ctx)?;
        let rows = ctx
            .data::<CaseworkService>()?
            .placements(who, self.0.id)
            .await?;
        Ok(rows.into_iter().map(Placement::from).collect())
    }
    /// Everything that happened to the case and its reports, in order.
    async fn timeline(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<TimelineEntry>> {
        let who = principal(ctx)?;
        let rows = ctx
            .data::<CaseworkService>()?
            .timeline(who, self.0.id)
            .await?;
        Ok(rows.into_iter().map(TimelineEntry::from).collect())
    }
}

#[derive(SimpleObject)]
pub struct HomeVisit {
    pub id: ID,
    pub visited_at: DateTime<Utc>,
    pub visitors: Vec<Visitor>,
    pub seen: String,
    pub observations: String,
    pub safety_decision: Option<SafetyDecision>,
    pub recorded_by: ID,
    pub recorded_at: DateTime<Utc>,
}

impl From<home_visit::Model> for HomeVisit {
    fn from(r: home_visit::Model) -> Self {
        HomeVisit {
            id: id(r.id),
            visited_at: at(r.visited_at_ms),
            visitors: r.visitors.split(',').filter_map(Visitor::parse).collect(),
            seen: r.seen,
            observations: r.observations,
            safety_decision: SafetyDecision::parse(&r.safety_decision),
            recorded_by: id(r.recorded_by),
            recorded_at: at(r.recorded_at_ms),
        }
    }
}

#[derive(SimpleObject)]
pub struct CaseNote {
    pub id: ID,
    pub body: String,
    pub confidential: bool,
    pub author_id: ID,
    pub at: DateTime<Utc>,
}

impl From<case_note::Model> for CaseNote {
    fn from(r: case_note::Model) -> Self {
        CaseNote {
            id: id(r.id),
            body: r.body,
            confidential: r.confidential,
            author_id: id(r.author_id),
            at: at(r.at_ms),
        }
    }
}

#[derive(SimpleObject)]
pub struct Need {
    pub domain: NeedDomain,
    pub level: Option<NeedLevel>,
    pub note: Option<String>,
}

#[derive(SimpleObject)]
pub struct Assessment {
    pub id: ID,
    pub guardianship: Option<Guardianship>,
    pub guardianship_label: String,
    pub risk: Option<Risk>,
    pub needs: Vec<Need>,
    pub summary: String,
    pub assessed_by: ID,
    pub at: DateTime<Utc>,
}

impl From<assessment::Model> for Assessment {
    fn from(r: assessment::Model) -> Self {
        let needs: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(&r.needs).unwrap_or_default();
        let guardianship = Guardianship::parse(&r.guardianship);
        Assessment {
            id: id(r.id),
            guardianship,
            guardianship_label: guardianship.map_or("", |g| g.label_zh()).to_owned(),
            risk: Risk::parse(&r.risk),
            needs: NeedDomain::ALL
                .iter()
                .filter_map(|d| {
                    let entry = needs.get(d.code())?;
                    Some(Need {
                        domain: *d,
                        level: entry["level"].as_str().and_then(NeedLevel::parse),
                        note: entry["note"].as_str().map(str::to_owned),
                    })
                })
                .collect(),
            summary: r.summary,
            assessed_by: id(r.assessed_by),
            at: at(r.at_ms),
        }
    }
}

#[derive(SimpleObject)]
pub struct PlanItem {
    pub id: ID,
    pub category: Option<PlanCategory>,
    pub category_label: String,
    pub description: String,
    pub responsible_kind: Option<ResponsibleKind>,
    pub responsible_name: String,
    pub due_date: String,
    pub status: Option<PlanItemStatus>,
}

impl From<plan_item::Model> for PlanItem {
    fn from(r: plan_item::Model) -> Self {
        let category = PlanCategory::parse(&r.category);
        PlanItem {
            id: id(r.id),
            category,
            category_label: category.map_or("", |c| c.label_zh()).to_owned(),
            description: r.description,
            responsible_kind: ResponsibleKind::parse(&r.responsible_kind),
            responsible_name: r.responsible_name,
            due_date: r.due_date,
            status: PlanItemStatus::parse(&r.status),
        }
    }
}

#[derive(SimpleObject)]
pub struct Placement {
    pub id: ID,
    pub kind: Option<PlacementKind>,
    pub place: String,
    pub start_date: String,
    pub end_date: Option<String>,
    pub school: Option<String>,
}

impl From<placement::Model> for Placement {
    fn from(r: placement::Model) -> Self {
        Placement {
            id: id(r.id),
            kind: PlacementKind::parse(&r.kind),
            place: r.place,
            start_date: r.start_date,
            end_date: r.end_date,
            school: r.school,
        }
    }
}

/// One entry of a case's timeline.
#[derive(SimpleObject)]
pub struct TimelineEntry {
    pub at: DateTime<Utc>,
    /// `report.received`, `report.routed`, `case.visit`, `report.escalated`…
    pub kind: String,
    pub summary: String,
    pub actor_kind: String,
    pub actor_id: ID,
    pub report_id: Option<ID>,
}

impl From<case_event::Model> for TimelineEntry {
    fn from(r: case_event::Model) -> Self {
        TimelineEntry {
            at: at(r.at_ms),
            kind: r.kind,
            summary: r.summary,
            actor_kind: r.actor_kind,
            actor_id: id(r.actor_id),
            report_id: r.report_id.map(id),
        }
    }
}

/// A missed deadline.
#[derive(SimpleObject)]
pub struct Overdue {
    pub report: Report,
    pub deadline: Deadline,
    pub due_at: DateTime<Utc>,
    /// When it was escalated to the protection centre.
    pub escalated_at: Option<DateTime<Utc>>,
}

/// An inbox entry: ids only; read the report through `report`.
#[derive(SimpleObject)]
pub struct InboxEntry {
    pub id: ID,
    /// `emergency_report` or `escalation`.
    pub kind: String,
    pub report_id: ID,
    pub unit_id: ID,
    pub created_at: DateTime<Utc>,
}

impl From<notification::Model> for InboxEntry {
    fn from(r: notification::Model) -> Self {
        InboxEntry {
            id: id(r.id),
            kind: r.kind,
            report_id: id(r.report_id),
            unit_id: id(r.unit_id),
            created_at: at(r.created_at_ms),
        }
    }
}

#[derive(SimpleObject)]
pub struct DeadlineSettings {
    pub emergency_ack_minutes: i64,
    pub emergency_visit_minutes: i64,
    pub ack_minutes: i64,
    pub verify_working_days: i32,
    pub reporter_minutes: i64,
}

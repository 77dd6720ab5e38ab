//! Reporting and casework as GraphQL. Resolvers parse ids and forward the
//! caller to the service, which decides; the nested fields of a case (its
//! visits, notes, timeline…) call the service again, so each one is
//! authorised and scoped on its own path.

use async_graphql::connection::{Connection, EmptyFields};
use async_graphql::{Context, InputObject, Object, SimpleObject, ID};
use chrono::{DateTime, NaiveDate, Utc};
use shouhu_audit::Actor;
use shouhu_kernel::clock::ms_to_datetime;
use shouhu_kernel::context::{principal, request_ctx};
use shouhu_kernel::ids::parse_id;
use shouhu_kernel::paging::{after_id, id_page, page_size};
use shouhu_kernel::{ApiError, ClientAddr};
use uuid::Uuid;

use crate::deadlines::Settings;
use crate::model::*;
use crate::service::{
    AcceptInput, AssessmentInput, CaseFilter, NeedInput, OverdueItem, PlacementInput,
    PlanItemInput, ReportFilter, ReportInput, ReporterView, VisitInput,
};
use crate::CaseworkService;

mod objects;
mod subscription;
pub use objects::*;
pub use subscription::CaseworkSubscription;

fn at(ms: i64) -> DateTime<Utc> {
    ms_to_datetime(ms)
}

fn id_of(raw: &ID, what: &str) -> Result<Uuid, ApiError> {
    parse_id(raw, what)
}

fn opt_id(raw: &Option<ID>, what: &str) -> Result<Option<Uuid>, ApiError> {
    raw.as_ref().map(|r| id_of(r, what)).transpose()
}

/// A report as entered by staff.
#[derive(InputObject)]
pub struct CreateReportInput {
    /// HOTLINE, MANDATORY_REPORTER (the default) or DEPARTMENT.
    pub channel: Option<Channel>,
    pub categories: Vec<ReportCategory>,
    pub description: String,
    /// Where it happened, when known: the community or street.
    pub place_unit_id: Option<ID>,
    pub address: Option<String>,
    pub occurred_at: Option<DateTime<Utc>>,
    /// A registered minor (needs `minor:read`); otherwise describe the child.
    pub minor_id: Option<ID>,
    pub child_description: Option<String>,
    /// The caller on the hotline, or the referring officer.
    pub reporter_name: Option<String>,
    pub reporter_contact: Option<String>,
    /// The referring department, for DEPARTMENT.
    pub reporter_org: Option<String>,
    #[graphql(default)]
    pub urgent: bool,
}

/// A report from the public web form.
#[derive(InputObject)]
pub struct PublicReportInput {
    pub categories: Vec<ReportCategory>,
    pub description: String,
    pub place_unit_id: Option<ID>,
    pub address: Option<String>,
    pub child_description: Option<String>,
    /// Optional: a public reporter may stay anonymous.
    pub reporter_name: Option<String>,
    pub reporter_contact: Option<String>,
    #[graphql(default)]
    pub urgent: bool,
}

#[derive(InputObject, Default)]
pub struct ReportFilterInput {
    pub status: Option<ReportStatus>,
    pub level: Option<Level>,
}

#[derive(InputObject, Default)]
pub struct AcceptReportInput {
    /// Attach to this open case.
    pub case_id: Option<ID>,
    /// For a new case: the responsible unit (default: the street the report
    /// was routed to).
    pub unit_id: Option<ID>,
    /// Link the registered child (needs `minor:read`); their open case, if
    /// any, takes the report.
    pub minor_id: Option<ID>,
}

#[derive(InputObject)]
pub struct HomeVisitInput {
    pub visited_at: DateTime<Utc>,
    pub visitors: Vec<Visitor>,
    pub seen: String,
    pub observations: String,
    pub safety_decision: SafetyDecision,
}

#[derive(InputObject)]
pub struct NeedEntryInput {
    pub domain: NeedDomain,
    pub level: NeedLevel,
    pub note: Option<String>,
}

#[derive(InputObject)]
pub struct AssessCaseInput {
    pub guardianship: Guardianship,
    pub risk: Risk,
    #[graphql(default)]
    pub needs: Vec<NeedEntryInput>,
    pub summary: String,
}

#[derive(InputObject)]
pub struct AddPlanItemInput {
    pub category: PlanCategory,
    pub description: String,
    pub responsible_kind: ResponsibleKind,
    /// The department, organisation, programme or caseworker.
    pub responsible_name: String,
    /// `YYYY-MM-DD`.
    pub due_date: NaiveDate,
}

#[derive(InputObject)]
pub struct RecordPlacementInput {
    pub kind: PlacementKind,
    pub place: String,
    pub start_date: NaiveDate,
    pub end_date: Option<NaiveDate>,
    /// The school the child attends during the placement.
    pub school: Option<String>,
}

#[derive(InputObject)]
pub struct DeadlineSettingsInput {
    pub emergency_ack_minutes: i64,
    pub emergency_visit_minutes: i64,
    pub ack_minutes: i64,
    pub verify_working_days: i32,
    pub reporter_minutes: i64,
}

fn report_input(i: CreateReportInput) -> Result<ReportInput, ApiError> {
    Ok(ReportInput {
        channel: i.channel,
        categories: i.categories,
        description: i.description,
        place_unit_id: opt_id(&i.place_unit_id, "org unit")?,
        address: i.address,
        occurred_at_ms: i.occurred_at.map(|t| t.timestamp_millis()),
        minor_id: opt_id(&i.minor_id, "minor")?,
        child_description: i.child_description,
        reporter_name: i.reporter_name,
        reporter_contact: i.reporter_contact,
        reporter_org: i.reporter_org,
        urgent: i.urgent,
    })
}

#[derive(Default)]
pub struct CaseworkQuery;

#[Object]
impl CaseworkQuery {
    /// Reports in the caller's scope (routed to their street or below; all
    /// of the district for its staff), newest first. Needs `report:read`.
    #[graphql(complexity = "first.unwrap_or(50).clamp(0, 200) as usize * child_complexity + 1")]
    async fn reports(
        &self,
        ctx: &Context<'_>,
        filter: Option<ReportFilterInput>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Connection<String, Report, EmptyFields, EmptyFields>> {
        let who = principal(ctx)?;
        let limit = page_size(first)?;
        let f = filter.unwrap_or_default();
        let filter = ReportFilter {
            status: f.status,
            level: f.level,
        };
        let rows = ctx
            .data::<CaseworkService>()?
            .reports(who, &filter, after_id(after)?, limit + 1)
            .await?;
        Ok(id_page(
            rows.into_iter().map(Report).collect(),
            limit,
            |r| r.0.id,
        ))
    }

    /// One report. Needs `report:read`.
    async fn report(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<Report> {
        let who = principal(ctx)?;
        let id = id_of(&id, "report")?;
        Ok(Report(
            ctx.data::<CaseworkService>()?.report(who, id).await?,
        ))
    }

    /// The caller's own reports, status only. Needs `report:read_own`.
    async fn my_reports(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
    ) -> async_graphql::Result<Vec<ReporterStatusView>> {
        let who = principal(ctx)?;
        let rows = ctx
            .data::<CaseworkService>()?
            .my_reports(who, page_size(first)?)
            .await?;
        Ok(rows.into_iter().map(ReporterStatusView::from).collect())
    }

    /// The status of a public report by its receipt number. No account.
    async fn public_report_status(
        &self,
        ctx: &Context<'_>,
        district: String,
        receipt: String,
    ) -> async_graphql::Result<ReporterStatusView> {
        let view = ctx
            .data::<CaseworkService>()?
            .public_report_status(&district, &receipt)
            .await?;
        Ok(view.into())
    }

    /// Cases in the caller's scope, newest first. Needs `case:read`.
    #[graphql(complexity = "first.unwrap_or(50).clamp(0, 200) as usize * child_complexity + 1")]
    async fn cases(
        &self,
        ctx: &Context<'_>,
        state: Option<CaseState>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Connection<String, Case, EmptyFields, EmptyFields>> {
        let who = principal(ctx)?;
        let limit = page_size(first)?;
        let rows = ctx
            .data::<CaseworkService>()?
            .cases(who, &CaseFilter { state }, after_id(after)?, limit + 1)
            .await?;
        Ok(id_page(rows.into_iter().map(Case).collect(), limit, |c| {
            c.0.id
        }))
    }

    /// One case. Needs `case:read`.
    async fn case(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<Case> {
        let who = principal(ctx)?;
        let id = id_of(&id, "case")?;
        Ok(Case(ctx.data::<CaseworkService>()?.case(who, id).await?))
    }

    /// Missed deadlines in the caller's scope, the most overdue first.
    /// Needs `report:read`.
    async fn overdue_reports(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
    ) -> async_graphql::Result<Vec<Overdue>> {
        let who = principal(ctx)?;
        let rows = ctx
            .data::<CaseworkService>()?
            .overdue(who, page_size(first)?)
            .await?;
        Ok(rows.into_iter().map(Overdue::from).collect())
    }

    /// New emergency reports of the caller's street (and, for the centre,
    /// escalations), newest first; works without a WebSocket. Needs
    /// `report:read`.
    async fn inbox(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
    ) -> async_graphql::Result<Vec<InboxEntry>> {
        let who = principal(ctx)?;
        let rows = ctx
            .data::<CaseworkService>()?
            .inbox(who, page_size(first)?)
            .await?;
        Ok(rows.into_iter().map(InboxEntry::from).collect())
    }

    /// The district's response deadlines.
    async fn deadline_settings(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<DeadlineSettings> {
        let who = principal(ctx)?;
        Ok(ctx
            .data::<CaseworkService>()?
            .deadline_settings(who)
            .await?
            .into())
    }
}

#[derive(Default)]
pub struct CaseworkMutation;

#[Object]
impl CaseworkMutation {
    /// Files a report (hotline, mandatory reporter, department). It is
    /// stored first, then routed to the street of the place, or to the
    /// centre's queue. Needs `report:create`.
    async fn create_report(
        &self,
        ctx: &Context<'_>,
        input: CreateReportInput,
    ) -> async_graphql::Result<Report> {
        let who = principal(ctx)?;
        let actor = Actor::of_request(ctx)?;
        let input = report_input(input)?;
        Ok(Report(
            ctx.data::<CaseworkService>()?
                .create_report(who, &actor, input)
                .await?,
        ))
    }

    /// Files a report from the public web form; no account. Limited per
    /// client address. Returns the receipt number to follow it with
    /// `publicReportStatus`.
    async fn submit_public_report(
        &self,
        ctx: &Context<'_>,
        district: String,
        input: PublicReportInput,
    ) -> async_graphql::Result<PublicReceipt> {
        let rc = request_ctx(ctx)?;
        let client = ctx
            .data_opt::<ClientAddr>()
            .map_or_else(|| "unknown".to_owned(), |c| c.0.clone());
        let input = ReportInput {
            channel: None,
            categories: input.categories,
            description: input.description,
            place_unit_id: opt_id(&input.place_unit_id, "org unit")?,
            address: input.address,
            occurred_at_ms: None,
            minor_id: None,
            child_description: input.child_description,
            reporter_name: input.reporter_name,
            reporter_contact: input.reporter_contact,
            reporter_org: None,
            urgent: input.urgent,
        };
        let receipt = ctx
            .data::<CaseworkService>()?
            .submit_public_report(&client, &district, &rc.request_id, input)
            .await?;
        Ok(PublicReceipt { receipt })
    }

    /// Raises or lowers a report's level; the reason is kept. Needs
    /// `report:triage`.
    async fn set_report_level(
        &self,
        ctx: &Context<'_>,
        id: ID,
        level: Level,
        reason: String,
    ) -> async_graphql::Result<Report> {
        let who = principal(ctx)?;
        let actor = Actor::of_request(ctx)?;
        let id = id_of(&id, "report")?;
        Ok(Report(
            ctx.data::<CaseworkService>()?
                .set_report_level(who, &actor, id, level, &reason)
                .await?,
        ))
    }

    /// Acknowledges a report (签收). Needs `report:triage`.
    async fn acknowledge_report(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<Report> {
        let who = principal(ctx)?;
        let actor = Actor::of_request(ctx)?;
        let id = id_of(&id, "report")?;
        Ok(Report(
            ctx.data::<CaseworkService>()?
                .acknowledge_report(who, &actor, id)
                .await?,
        ))
    }

    /// Declines a report with a reason. Needs `report:triage`.
    async fn dismiss_report(
        &self,
        ctx: &Context<'_>,
        id: ID,
        reason: String,
    ) -> async_graphql::Result<Report> {
        let who = principal(ctx)?;
        let actor = Actor::of_request(ctx)?;
        let id = id_of(&id, "report")?;
        Ok(Report(
            ctx.data::<CaseworkService>()?
                .dismiss_report(who, &actor, id, &reason)
                .await?,
        ))
    }

    /// Accepts a report into a new case or the child's open case. Needs
    /// `report:triage` and `case:write`.
    async fn accept_report(
        &self,
        ctx: &Context<'_>,
        id: ID,
        input: Option<AcceptReportInput>,
    ) -> async_graphql::Result<Case> {
        let who = principal(ctx)?;
        let actor = Actor::of_request(ctx)?;
        let id = id_of(&id, "report")?;
        let i = input.unwrap_or_default();
        let input = AcceptInput {
            case_id: opt_id(&i.case_id, "case")?,
            unit_id: opt_id(&i.unit_id, "org unit")?,
            minor_id: opt_id(&i.minor_id, "minor")?,
        };
        Ok(Case(
            ctx.data::<CaseworkService>()?
                .accept_report(who, &actor, id, input)
                .await?,
        ))
    }

    /// Opens a case for a registered minor, without a report. Needs
    /// `case:write` and `minor:read`.
    async fn open_case(
        &self,
        ctx: &Context<'_>,
        minor_id: ID,
        reason: String,
    ) -> async_graphql::Result<Case> {
        let who = principal(ctx)?;
        let actor = Actor::of_request(ctx)?;
        let minor = id_of(&minor_id, "minor")?;
        Ok(Case(
            ctx.data::<CaseworkService>()?
                .open_case(who, &actor, minor, &reason)
                .await?,
        ))
    }

    /// Moves a case to another state; a stale `version` is a CONFLICT and a
    /// move the state machine forbids is BAD_USER_INPUT listing the allowed
    /// ones. Needs `case:write`.
    async fn transition_case(
        &self,
        ctx: &Context<'_>,
        id: ID,
        version: i64,
        to: CaseState,
        reason: Option<String>,
    ) -> async_graphql::Result<Case> {
        let who = principal(ctx)?;
        let actor = Actor::of_request(ctx)?;
        let id = id_of(&id, "case")?;
        Ok(Case(
            ctx.data::<CaseworkService>()?
                .transition_case(who, &actor, id, version, to, reason)
                .await?,
        ))
    }

    /// Names the lead caseworker and the other workers. Needs `case:assign`.
    async fn assign_case(
        &self,
        ctx: &Context<'_>,
        id: ID,
        version: i64,
        lead_user_id: ID,
        #[graphql(default)] worker_ids: Vec<ID>,
    ) -> async_graphql::Result<Case> {
        let who = principal(ctx)?;
        let actor = Actor::of_request(ctx)?;
        let id = id_of(&id, "case")?;
        let lead = id_of(&lead_user_id, "user")?;
        let workers = worker_ids
            .iter()
            .map(|w| id_of(w, "user"))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Case(
            ctx.data::<CaseworkService>()?
                .assign_case(who, &actor, id, version, lead, workers)
                .await?,
        ))
    }

    /// Records a home visit (入户甄判). Needs `case:write`.
    async fn record_home_visit(
        &self,
        ctx: &Context<'_>,
        case_id: ID,
        input: HomeVisitInput,
    ) -> async_graphql::Result<HomeVisit> {
        let who = principal(ctx)?;
        let actor = Actor::of_request(ctx)?;
        let case_id = id_of(&case_id, "case")?;
        let input = VisitInput {
            visited_at_ms: input.visited_at.timestamp_millis(),
            visitors: input.visitors,
            seen: input.seen,
            observations: input.observations,
            safety_decision: input.safety_decision,
        };
        Ok(ctx
            .data::<CaseworkService>()?
            .record_visit(who, &actor, case_id, input)
            .await?
            .into())
    }

    /// Adds a note; a confidential one needs `case:confidential`.
    async fn add_case_note(
        &self,
        ctx: &Context<'_>,
        case_id: ID,
        body: String,
        #[graphql(default)] confidential: bool,
    ) -> async_graphql::Result<CaseNote> {
        let who = principal(ctx)?;
        let actor = Actor::of_request(ctx)?;
        let case_id = id_of(&case_id, "case")?;
        Ok(ctx
            .data::<CaseworkService>()?
            .add_note(who, &actor, case_id, &body, confidential)
            .await?
            .into())
    }

    /// Records a guardianship and risk assessment; earlier ones stay.
    /// Needs `case:write`.
    async fn assess_case(
        &self,
        ctx: &Context<'_>,
        case_id: ID,
        input: AssessCaseInput,
    ) -> async_graphql::Result<Assessment> {
        let who = principal(ctx)?;
        let actor = Actor::of_request(ctx)?;
        let case_id = id_of(&case_id, "case")?;
        let input = AssessmentInput {
            guardianship: input.guardianship,
            risk: input.risk,
            needs: input
                .needs
                .into_iter()
                .map(|n| NeedInput {
                    domain: n.domain,
                    level: n.level,
                    note: n.note,
                })
                .collect(),
            summary: input.summary,
        };
        Ok(ctx
            .data::<CaseworkService>()?
            .assess(who, &actor, case_id, input)
            .await?
            .into())
    }

    /// Adds an item to the assistance plan. Needs `case:write`.
    async fn add_plan_item(
        &self,
        ctx: &Context<'_>,
        case_id: ID,
        input: AddPlanItemInput,
    ) -> async_graphql::Result<PlanItem> {
        let who = principal(ctx)?;
        let actor = Actor::of_request(ctx)?;
        let case_id = id_of(&case_id, "case")?;
        let input = PlanItemInput {
            category: input.category,
            description: input.description,
            responsible_kind: input.responsible_kind,
            responsible_name: input.responsible_name,
            due_date: input.due_date,
        };
        Ok(ctx
            .data::<CaseworkService>()?
            .add_plan_item(who, &actor, case_id, input)
            .await?
            .into())
    }

    /// Changes a plan item's status. Needs `case:write`.
    async fn set_plan_item_status(
        &self,
        ctx: &Context<'_>,
        id: ID,
        status: PlanItemStatus,
    ) -> async_graphql::Result<PlanItem> {
        let who = principal(ctx)?;
        let actor = Actor::of_request(ctx)?;
        let id = id_of(&id, "plan item")?;
        Ok(ctx
            .data::<CaseworkService>()?
            .set_plan_item_status(who, &actor, id, status)
            .await?
            .into())
    }

    /// The centre approves the assistance plan. Needs `case:approve`.
    async fn approve_plan(
        &self,
        ctx: &Context<'_>,
        case_id: ID,
        version: i64,
    ) -> async_graphql::Result<Case> {
        let who = principal(ctx)?;
        let actor = Actor::of_request(ctx)?;
        let case_id = id_of(&case_id, "case")?;
        Ok(Case(
            ctx.data::<CaseworkService>()?
                .approve_plan(who, &actor, case_id, version)
                .await?,
        ))
    }

    /// Records an emergency placement. Needs `case:write`.
    async fn record_placement(
        &self,
        ctx: &Context<'_>,
        case_id: ID,
        input: RecordPlacementInput,
    ) -> async_graphql::Result<Placement> {
        let who = principal(ctx)?;
        let actor = Actor::of_request(ctx)?;
        let case_id = id_of(&case_id, "case")?;
        let input = PlacementInput {
            kind: input.kind,
            place: input.place,
            start_date: input.start_date,
            end_date: input.end_date,
            school: input.school,
        };
        Ok(ctx
            .data::<CaseworkService>()?
            .record_placement(who, &actor, case_id, input)
            .await?
            .into())
    }

    /// Asks the centre to close the case. Needs `case:write`.
    async fn request_closure(
        &self,
        ctx: &Context<'_>,
        case_id: ID,
        version: i64,
        outcome: ClosureOutcome,
        summary: String,
    ) -> async_graphql::Result<Case> {
        let who = principal(ctx)?;
        let actor = Actor::of_request(ctx)?;
        let case_id = id_of(&case_id, "case")?;
        Ok(Case(
            ctx.data::<CaseworkService>()?
                .request_closure(who, &actor, case_id, version, outcome, &summary)
                .await?,
        ))
    }

    /// The centre approves (closing the case) or refuses a closure. Needs
    /// `case:approve`.
    async fn review_closure(
        &self,
        ctx: &Context<'_>,
        case_id: ID,
        version: i64,
        approve: bool,
        comment: Option<String>,
    ) -> async_graphql::Result<Case> {
        let who = principal(ctx)?;
        let actor = Actor::of_request(ctx)?;
        let case_id = id_of(&case_id, "case")?;
        Ok(Case(
            ctx.data::<CaseworkService>()?
                .review_closure(who, &actor, case_id, version, approve, comment)
                .await?,
        ))
    }

    /// Changes the district's deadlines. Needs `sla:manage`.
    async fn set_deadline_settings(
        &self,
        ctx: &Context<'_>,
        input: DeadlineSettingsInput,
    ) -> async_graphql::Result<DeadlineSettings> {
        let who = principal(ctx)?;
        let actor = Actor::of_request(ctx)?;
        let minutes = |m: i64| m.saturating_mul(60_000);
        let settings = Settings {
            emergency_ack_ms: minutes(input.emergency_ack_minutes),
            emergency_visit_ms: minutes(input.emergency_visit_minutes),
            ack_ms: minutes(input.ack_minutes),
            verify_working_days: input.verify_working_days,
            reporter_ms: minutes(input.reporter_minutes),
        };
        Ok(ctx
            .data::<CaseworkService>()?
            .set_deadline_settings(who, &actor, settings)
            .await?
            .into())
    }

    /// Escalates every missed deadline of the district to the protection
    /// centre now (the server also does this on a timer). Returns how many
    /// were escalated. Needs `report:triage`, district-wide.
    async fn escalate_overdue(&self, ctx: &Context<'_>) -> async_graphql::Result<u64> {
        let who = principal(ctx)?;
        let actor = Actor::of_request(ctx)?;
        Ok(ctx
            .data::<CaseworkService>()?
            .escalate_overdue(who, &actor)
            .await?)
    }
}

impl From<ReporterView> for ReporterStatusView {
    fn from(v: ReporterView) -> Self {
        ReporterStatusView {
            receipt: v.receipt,
            status: v.status,
            label: v.status.label_zh().to_owned(),
            received_at: at(v.received_at_ms),
        }
    }
}

impl From<OverdueItem> for Overdue {
    fn from(i: OverdueItem) -> Self {
        Overdue {
            report: Report(i.report),
            deadline: i.deadline,
            due_at: at(i.due_ms),
            escalated_at: i.escalated_at_ms.map(at),
        }
    }
}

impl From<Settings> for DeadlineSettings {
    fn from(s: Settings) -> Self {
        DeadlineSettings {
            emergency_ack_minutes: s.emergency_ack_ms / 60_000,
            emergency_visit_minutes: s.emergency_visit_ms / 60_000,
            ack_minutes: s.ack_ms / 60_000,
            verify_working_days: s.verify_working_days,
            reporter_minutes: s.reporter_ms / 60_000,
        }
    }
}

/// A receipt for a public report.
#[derive(SimpleObject)]
pub struct PublicReceipt {
    pub receipt: String,
}

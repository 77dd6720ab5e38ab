//! Local assistance programmes as GraphQL. Resolvers parse ids and forward
//! the caller; the service checks permissions and scope.

use async_graphql::connection::{Connection, EmptyFields};
use async_graphql::{ComplexObject, Context, InputObject, Json, Object, SimpleObject, ID};
use chrono::{DateTime, NaiveDate, Utc};
use serde_json::Value;
use shouhu_audit::Actor;
use shouhu_casework::model::PlanCategory;
use shouhu_kernel::clock::ms_to_datetime;
use shouhu_kernel::context::principal;
use shouhu_kernel::ids::parse_id;
use shouhu_kernel::paging::{after_id, id_page, page_size};
use shouhu_kernel::ApiError;
use shouhu_registry::model::Category;
use uuid::Uuid;

use crate::entity::{benefit_entry, enrolment, programme};
use crate::model::{BenefitPeriod, EnrolmentStatus, EntryKind};
use crate::service::{AssistanceService, EnrolmentFilter, ProgrammeInput, ScreeningFilter};

fn id(value: Uuid) -> ID {
    ID(value.to_string())
}

/// A programme's benefit: an amount per period, or help in kind.
#[derive(SimpleObject)]
pub struct Benefit {
    pub amount_cents: Option<i64>,
    pub period: Option<BenefitPeriod>,
    pub in_kind: Option<String>,
}

/// A local assistance programme.
#[derive(SimpleObject)]
#[graphql(complex)]
pub struct Programme {
    pub id: ID,
    pub name: String,
    pub description: String,
    /// Which of the eight assistance categories it belongs to.
    pub category: Option<PlanCategory>,
    pub benefit: Benefit,
    /// What approvals may commit in all (cash benefits).
    pub budget_cents: Option<i64>,
    pub starts_on: String,
    pub ends_on: String,
    /// The programme's `assistance-eligibility` plugin.
    pub plugin_id: Option<ID>,
    /// Give it back to `updateProgramme`.
    pub version: i64,
    pub updated_at: DateTime<Utc>,
    #[graphql(skip)]
    pub raw_id: Uuid,
}

#[ComplexObject]
impl Programme {
    /// Committed by approvals, less what early ends released.
    async fn committed_cents(&self, ctx: &Context<'_>) -> async_graphql::Result<i64> {
        let who = principal(ctx)?;
        let budget = ctx
            .data::<AssistanceService>()?
            .budget(who, self.raw_id)
            .await?;
        Ok(budget.committed_cents)
    }

    /// What is left to commit; null for help in kind.
    async fn remaining_cents(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<i64>> {
        let who = principal(ctx)?;
        let budget = ctx
            .data::<AssistanceService>()?
            .budget(who, self.raw_id)
            .await?;
        Ok(budget.remaining_cents())
    }
}

impl From<programme::Model> for Programme {
    fn from(r: programme::Model) -> Self {
        Programme {
            id: id(r.id),
            raw_id: r.id,
            name: r.name,
            description: r.description,
            category: PlanCategory::parse(&r.category),
            benefit: Benefit {
                amount_cents: r.amount_cents,
                period: r.period.as_deref().and_then(BenefitPeriod::parse),
                in_kind: r.in_kind,
            },
            budget_cents: r.budget_cents,
            starts_on: r.starts_on,
            ends_on: r.ends_on,
            plugin_id: r.plugin_id.map(id),
            version: r.version,
            updated_at: ms_to_datetime(r.updated_at_ms),
        }
    }
}

/// A child's enrolment in a programme.
#[derive(SimpleObject)]
pub struct Enrolment {
    pub id: ID,
    pub programme_id: ID,
    pub minor_id: ID,
    pub status: Option<EnrolmentStatus>,
    pub status_label: String,
    /// The plugin call whose decision the proposal rests on: its record
    /// explains the decision.
    pub call_id: Option<ID>,
    /// The plugin's reasons; empty for a reader without `minor:sensitive`
    /// when the decision was made on the unmasked view.
    pub reasons: Vec<String>,
    pub benefit: Benefit,
    /// The first day of the first benefit period, once approved.
    pub benefit_from: Option<String>,
    pub proposed_at: DateTime<Utc>,
    pub decided_at: Option<DateTime<Utc>>,
    pub note: Option<String>,
    #[graphql(skip)]
    pub raw_id: Uuid,
}

impl From<enrolment::Model> for Enrolment {
    fn from(r: enrolment::Model) -> Self {
        let status = EnrolmentStatus::parse(&r.status);
        Enrolment {
            id: id(r.id),
            raw_id: r.id,
            programme_id: id(r.programme_id),
            minor_id: id(r.minor_id),
            status,
            status_label: status.map_or("", |s| s.label_zh()).to_owned(),
            call_id: r.call_id.map(id),
            reasons: serde_json::from_str(&r.reasons).unwrap_or_default(),
            benefit: Benefit {
                amount_cents: r.amount_cents,
                period: r.period.as_deref().and_then(BenefitPeriod::parse),
                in_kind: r.in_kind,
            },
            benefit_from: r.benefit_from,
            proposed_at: ms_to_datetime(r.proposed_at_ms),
            decided_at: r.decided_at_ms.map(ms_to_datetime),
            note: r.note,
        }
    }
}

/// One line of the benefit ledger.
#[derive(SimpleObject)]
pub struct BenefitEntry {
    pub id: ID,
    pub programme_id: ID,
    pub enrolment_id: ID,
    pub minor_id: ID,
    pub kind: Option<EntryKind>,
    /// Positive for a commitment, negative for a release.
    pub amount_cents: i64,
    pub periods: i32,
    pub note: String,
    pub at: DateTime<Utc>,
}

impl From<benefit_entry::Model> for BenefitEntry {
    fn from(r: benefit_entry::Model) -> Self {
        BenefitEntry {
            id: id(r.id),
            programme_id: id(r.programme_id),
            enrolment_id: id(r.enrolment_id),
            minor_id: id(r.minor_id),
            kind: EntryKind::parse(&r.kind),
            amount_cents: r.amount_cents,
            periods: r.periods,
            note: r.note,
            at: ms_to_datetime(r.at_ms),
        }
    }
}

/// A child the plugin found eligible who is not enrolled.
#[derive(SimpleObject)]
pub struct ScreeningCandidate {
    pub minor_id: ID,
    pub reasons: Vec<String>,
    /// The plugin's proposed benefit, as it wrote it.
    pub benefit: Option<Json<Value>>,
    /// The call that decided it.
    pub call_id: ID,
}

/// The outcome of screening a programme over a difficulty ledger.
#[derive(SimpleObject)]
pub struct ScreeningResult {
    pub evaluated: u64,
    pub eligible: u64,
    pub already_enrolled: u64,
    pub candidates: Vec<ScreeningCandidate>,
    /// One recorded plugin call per batch of minors.
    pub call_ids: Vec<ID>,
    pub plugin_slug: Option<String>,
    pub plugin_version: Option<String>,
}

#[derive(InputObject)]
#[graphql(name = "ProgrammeInput")]
pub struct ProgrammeInputObject {
    pub name: String,
    #[graphql(default)]
    pub description: String,
    pub category: PlanCategory,
    /// A cash benefit: an amount per period (with `period`).
    pub amount_cents: Option<i64>,
    pub period: Option<BenefitPeriod>,
    /// Or help in kind, described.
    pub in_kind: Option<String>,
    /// Required for a cash benefit.
    pub budget_cents: Option<i64>,
    pub starts_on: NaiveDate,
    pub ends_on: NaiveDate,
    pub plugin_id: Option<ID>,
}

impl ProgrammeInputObject {
    fn into_input(self) -> Result<ProgrammeInput, ApiError> {
        Ok(ProgrammeInput {
            name: self.name,
            description: self.description,
            category: self.category,
            amount_cents: self.amount_cents,
            period: self.period,
            in_kind: self.in_kind,
            budget_cents: self.budget_cents,
            starts_on: self.starts_on,
            ends_on: self.ends_on,
            plugin_id: self
                .plugin_id
                .map(|p| parse_id(&p, "input.pluginId"))
                .transpose()?,
        })
    }
}

#[derive(Default)]
pub struct AssistanceQuery;

#[Object]
impl AssistanceQuery {
    /// The district's programmes, by name. Needs `programme:read`.
    async fn programmes(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<Programme>> {
        let who = principal(ctx)?;
        let rows = ctx.data::<AssistanceService>()?.programmes(who).await?;
        Ok(rows.into_iter().map(Programme::from).collect())
    }

    /// One programme. Needs `programme:read`.
    async fn programme(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<Programme> {
        let who = principal(ctx)?;
        let id = parse_id(&id, "programme")?;
        Ok(ctx
            .data::<AssistanceService>()?
            .programme(who, id)
            .await?
            .into())
    }

    /// Enrolments of children in the caller's scope. Needs `programme:read`.
    #[graphql(complexity = "first.unwrap_or(50).clamp(0, 200) as usize * child_complexity + 1")]
    async fn enrolments(
        &self,
        ctx: &Context<'_>,
        programme_id: Option<ID>,
        minor_id: Option<ID>,
        status: Option<EnrolmentStatus>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Connection<String, Enrolment, EmptyFields, EmptyFields>> {
        let who = principal(ctx)?;
        let limit = page_size(first)?;
        let filter = EnrolmentFilter {
            programme_id: programme_id
                .map(|p| parse_id(&p, "programme"))
                .transpose()?,
            minor_id: minor_id.map(|m| parse_id(&m, "minor")).transpose()?,
            status,
        };
        let rows = ctx
            .data::<AssistanceService>()?
            .enrolments(who, &filter, after_id(after)?, limit + 1)
            .await?;
        Ok(id_page(
            rows.into_iter().map(Enrolment::from).collect(),
            limit,
            |e| e.raw_id,
        ))
    }

    /// The benefit ledger of a programme or a child, oldest first, within
    /// the caller's scope. Needs `programme:read`.
    async fn benefit_ledger(
        &self,
        ctx: &Context<'_>,
        programme_id: Option<ID>,
        minor_id: Option<ID>,
        first: Option<i32>,
    ) -> async_graphql::Result<Vec<BenefitEntry>> {
        let who = principal(ctx)?;
        let programme_id = programme_id
            .map(|p| parse_id(&p, "programme"))
            .transpose()?;
        let minor_id = minor_id.map(|m| parse_id(&m, "minor")).transpose()?;
        let rows = ctx
            .data::<AssistanceService>()?
            .ledger(who, programme_id, minor_id, page_size(first)?)
            .await?;
        Ok(rows.into_iter().map(BenefitEntry::from).collect())
    }
}

#[derive(Default)]
pub struct AssistanceMutation;

#[Object]
impl AssistanceMutation {
    /// Defines a programme. Needs `programme:manage`, district-wide.
    async fn create_programme(
        &self,
        ctx: &Context<'_>,
        input: ProgrammeInputObject,
    ) -> async_graphql::Result<Programme> {
        let who = principal(ctx)?;
        let row = ctx
            .data::<AssistanceService>()?
            .create_programme(who, &Actor::of_request(ctx)?, input.into_input()?)
            .await?;
        Ok(row.into())
    }

    /// Changes a programme at the version read (CONFLICT if stale). Needs
    /// `programme:manage`, district-wide.
    async fn update_programme(
        &self,
        ctx: &Context<'_>,
        id: ID,
        version: i64,
        input: ProgrammeInputObject,
    ) -> async_graphql::Result<Programme> {
        let who = principal(ctx)?;
        let id = parse_id(&id, "programme")?;
        let row = ctx
            .data::<AssistanceService>()?
            .update_programme(
                who,
                &Actor::of_request(ctx)?,
                id,
                version,
                input.into_input()?,
            )
            .await?;
        Ok(row.into())
    }

    /// Runs the programme's eligibility plugin over the caller's difficulty
    /// ledger (or the part under `under`, or of one category) and lists up
    /// to `limit` (default 100, at most 1000) eligible children who are not
    /// enrolled. Every plugin call
    /// is recorded. Needs `programme:read` and `minor:read`.
    /// Each screening reads the caller's whole ledger through the plugin,
    /// so it costs 2,000 of a request's complexity: two per operation.
    #[graphql(complexity = 2000)]
    async fn screen_programme(
        &self,
        ctx: &Context<'_>,
        programme_id: ID,
        under: Option<ID>,
        category: Option<Category>,
        limit: Option<i32>,
    ) -> async_graphql::Result<ScreeningResult> {
        let who = principal(ctx)?;
        let programme_id = parse_id(&programme_id, "programme")?;
        let limit = limit.unwrap_or(100);
        if !(0..=1000).contains(&limit) {
            return Err(ApiError::bad_input("limit", "between 0 and 1000").into());
        }
        let filter = ScreeningFilter {
            under: under.map(|u| parse_id(&u, "org unit")).transpose()?,
            category,
        };
        let s = ctx
            .data::<AssistanceService>()?
            .screen(
                who,
                &Actor::of_request(ctx)?,
                programme_id,
                &filter,
                limit as usize,
            )
            .await?;
        Ok(ScreeningResult {
            evaluated: s.evaluated,
            eligible: s.eligible,
            already_enrolled: s.already_enrolled,
            candidates: s
                .candidates
                .into_iter()
                .map(|c| ScreeningCandidate {
                    minor_id: id(c.minor_id),
                    reasons: c.reasons,
                    benefit: c.benefit.map(Json),
                    call_id: id(c.call_id),
                })
                .collect(),
            call_ids: s.call_ids.into_iter().map(id).collect(),
            plugin_slug: s.plugin_slug,
            plugin_version: s.plugin_version,
        })
    }

    /// Proposes enrolling a child; the programme's plugin decides afresh and
    /// an ineligible child is refused with its reasons. Needs
    /// `programme:read` and the child in the caller's scope.
    #[graphql(complexity = 250)]
    async fn propose_enrolment(
        &self,
        ctx: &Context<'_>,
        programme_id: ID,
        minor_id: ID,
    ) -> async_graphql::Result<Enrolment> {
        let who = principal(ctx)?;
        let programme_id = parse_id(&programme_id, "programme")?;
        let minor_id = parse_id(&minor_id, "minor")?;
        let row = ctx
            .data::<AssistanceService>()?
            .propose(who, &Actor::of_request(ctx)?, programme_id, minor_id)
            .await?;
        Ok(row.into())
    }

    /// Approves (committing the benefit within the budget) or rejects (with
    /// a note) a proposed enrolment. Needs `enrolment:approve`.
    async fn decide_enrolment(
        &self,
        ctx: &Context<'_>,
        id: ID,
        approve: bool,
        note: Option<String>,
    ) -> async_graphql::Result<Enrolment> {
        let who = principal(ctx)?;
        let id = parse_id(&id, "enrolment")?;
        let row = ctx
            .data::<AssistanceService>()?
            .decide_enrolment(who, &Actor::of_request(ctx)?, id, approve, note)
            .await?;
        Ok(row.into())
    }

    /// Ends an approved enrolment early, releasing the periods not begun.
    /// Needs `enrolment:approve`.
    async fn end_enrolment(
        &self,
        ctx: &Context<'_>,
        id: ID,
        reason: String,
    ) -> async_graphql::Result<Enrolment> {
        let who = principal(ctx)?;
        let id = parse_id(&id, "enrolment")?;
        let row = ctx
            .data::<AssistanceService>()?
            .end_enrolment(who, &Actor::of_request(ctx)?, id, reason)
            .await?;
        Ok(row.into())
    }
}

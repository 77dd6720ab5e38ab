//! Programmes: defining and changing them, and their budget.
//!
//! Every method checks its permission first, so FORBIDDEN never depends on
//! whether an object exists, and then works in one transaction scoped to
//! the caller's district: another district's programme is NOT_FOUND.
//! Screening and enrolment live in the submodules.

use chrono::NaiveDate;
use sea_orm::sea_query::{Expr, Query};
use sea_orm::{ActiveValue::Set, ColumnTrait, QueryFilter, QueryOrder, QuerySelect};
use serde_json::json;
use shouhu_audit::{Actor, AuditEntry, AuditService};
use shouhu_casework::model::PlanCategory;
use shouhu_extensions::entity::plugin;
use shouhu_extensions::ExtensionService;
use shouhu_kernel::clock::SharedClock;
use shouhu_kernel::ids::new_id;
use shouhu_kernel::{ApiError, Db, Principal, ScopedTx};
use shouhu_plugins::Kind;
use shouhu_policies::Permission;
use shouhu_registry::entity::minor;
use shouhu_registry::RegistryService;
use uuid::Uuid;

use crate::entity::{benefit_entry, programme};
use crate::error::AssistanceError;
use crate::model::BenefitPeriod;

mod enrolment;
mod screening;

pub use enrolment::EnrolmentFilter;
pub use screening::{Candidate, Screening, ScreeningFilter, SCREENING_BATCH};

/// A programme as defined by a district admin.
#[derive(Clone, Debug)]
pub struct ProgrammeInput {
    pub name: String,
    pub description: String,
    pub category: PlanCategory,
    /// A cash benefit: an amount per period. Either this or `in_kind`.
    pub amount_cents: Option<i64>,
    pub period: Option<BenefitPeriod>,
    /// Help in kind (a school kit, a winter coat), described.
    pub in_kind: Option<String>,
    /// Required for a cash benefit; what approvals may commit in all.
    pub budget_cents: Option<i64>,
    pub starts_on: NaiveDate,
    pub ends_on: NaiveDate,
    /// The programme's `assistance-eligibility` plugin.
    pub plugin_id: Option<Uuid>,
}

/// A programme's budget: what approvals have committed (less what early
/// ends released) against what it may commit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Budget {
    pub budget_cents: Option<i64>,
    pub committed_cents: i64,
}

impl Budget {
    pub fn remaining_cents(&self) -> Option<i64> {
        self.budget_cents.map(|b| b - self.committed_cents)
    }
}

#[derive(Clone)]
pub struct AssistanceService {
    pub(crate) db: Db,
    pub(crate) audit: AuditService,
    pub(crate) clock: SharedClock,
    pub(crate) registry: RegistryService,
    pub(crate) extensions: ExtensionService,
}

/// The largest amount of one benefit, and of a budget, in cents: far above
/// any real one, well inside an i64 after multiplying by periods.
const MAX_AMOUNT: i64 = 1_000_000_000;
const MAX_BUDGET: i64 = 1_000_000_000_000;

impl AssistanceService {
    pub fn new(
        db: Db,
        audit: AuditService,
        clock: SharedClock,
        registry: RegistryService,
        extensions: ExtensionService,
    ) -> Self {
        AssistanceService {
            db,
            audit,
            clock,
            registry,
            extensions,
        }
    }

    /// Defines a programme. Needs `programme:manage`, district-wide.
    pub async fn create_programme(
        &self,
        who: &Principal,
        actor: &Actor,
        input: ProgrammeInput,
    ) -> Result<programme::Model, ApiError> {
        who.require_district_wide(Permission::ProgrammeManage)?;
        let input = check(input)?;
        let now = self.clock.now_ms();
        let tx = self.db.write(who.tenant).await?;
        check_plugin(&tx, input.plugin_id).await?;
        check_name_free(&tx, &input.name, None).await?;
        let row = tx
            .insert(programme::ActiveModel {
                tenant_id: Set(who.tenant.0),
                id: Set(new_id()),
                name: Set(input.name.clone()),
                description: Set(input.description.clone()),
                category: Set(input.category.code().to_owned()),
                amount_cents: Set(input.amount_cents),
                period: Set(input.period.map(|p| p.code().to_owned())),
                in_kind: Set(input.in_kind.clone()),
                budget_cents: Set(input.budget_cents),
                starts_on: Set(input.starts_on.to_string()),
                ends_on: Set(input.ends_on.to_string()),
                plugin_id: Set(input.plugin_id),
                version: Set(1),
                created_by: Set(who.actor_id),
                created_at_ms: Set(now),
                updated_at_ms: Set(now),
            })
            .await?;
        self.audit
            .append(
                &tx,
                actor,
                AuditEntry::ok("programme.create", "programme", row.id)
                    .with_detail(programme_detail(&row)),
            )
            .await?;
        tx.commit().await?;
        Ok(row)
    }

    /// Changes a programme, at the version the caller read (CONFLICT if it
    /// changed since). The budget cannot drop below what is committed.
    pub async fn update_programme(
        &self,
        who: &Principal,
        actor: &Actor,
        id: Uuid,
        version: i64,
        input: ProgrammeInput,
    ) -> Result<programme::Model, ApiError> {
        who.require_district_wide(Permission::ProgrammeManage)?;
        let input = check(input)?;
        let tx = self.db.write(who.tenant).await?;
        let current = find_programme(&tx, id).await?;
        if current.version != version {
            return Err(AssistanceError::Stale {
                given: version,
                current: current.version,
            }
            .into());
        }
        check_plugin(&tx, input.plugin_id).await?;
        check_name_free(&tx, &input.name, Some(id)).await?;
        let kind_changed = input.amount_cents.is_some() != current.amount_cents.is_some()
            || input.period.map(|p| p.code()) != current.period.as_deref();
        if kind_changed && has_enrolments(&tx, id).await? {
            return Err(ApiError::bad_input(
                "input.period",
                "the programme has enrolments: its kind of benefit and its period stay as they are",
            ));
        }
        let committed = committed_in(&tx, id).await?;
        if let Some(budget) = input.budget_cents {
            if budget < committed {
                return Err(ApiError::bad_input(
                    "input.budgetCents",
                    format!("{committed} cents are committed already; the budget cannot be less"),
                ));
            }
        }
        let now = self.clock.now_ms();
        tx.update::<programme::Entity>()
            .col_expr(programme::Column::Name, Expr::value(input.name.clone()))
            .col_expr(
                programme::Column::Description,
                Expr::value(input.description.clone()),
            )
            .col_expr(
                programme::Column::Category,
                Expr::value(input.category.code()),
            )
            .col_expr(
                programme::Column::AmountCents,
                Expr::value(input.amount_cents),
            )
            .col_expr(
                programme::Column::Period,
                Expr::value(input.period.map(|p| p.code().to_owned())),
            )
            .col_expr(
                programme::Column::InKind,
                Expr::value(input.in_kind.clone()),
            )
            .col_expr(
                programme::Column::BudgetCents,
                Expr::value(input.budget_cents),
            )
            .col_expr(
                programme::Column::StartsOn,
                Expr::value(input.starts_on.to_string()),
            )
            .col_expr(
                programme::Column::EndsOn,
                Expr::value(input.ends_on.to_string()),
            )
            .col_expr(programme::Column::PluginId, Expr::value(input.plugin_id))
            .col_expr(programme::Column::Version, Expr::value(version + 1))
            .col_expr(programme::Column::UpdatedAtMs, Expr::value(now))
            .filter(programme::Column::Id.eq(id))
            .exec(tx.conn())
            .await?;
        let row = find_programme(&tx, id).await?;
        self.audit
            .append(
                &tx,
                actor,
                AuditEntry::ok("programme.update", "programme", id).with_detail(json!({
                    "before": programme_detail(&current),
                    "after": programme_detail(&row),
                })),
            )
            .await?;
        tx.commit().await?;
        Ok(row)
    }

    /// The district's programmes, by name. Needs `programme:read`.
    pub async fn programmes(&self, who: &Principal) -> Result<Vec<programme::Model>, ApiError> {
        who.require(Permission::ProgrammeRead)?;
        let tx = self.db.read(who.tenant).await?;
        Ok(tx
            .select::<programme::Entity>()
            .order_by_asc(programme::Column::Name)
            .order_by_asc(programme::Column::Id)
            .all(tx.conn())
            .await?)
    }

    /// One programme, or NOT_FOUND. Needs `programme:read`.
    pub async fn programme(&self, who: &Principal, id: Uuid) -> Result<programme::Model, ApiError> {
        who.require(Permission::ProgrammeRead)?;
        let tx = self.db.read(who.tenant).await?;
        find_programme(&tx, id).await
    }

    /// A programme's budget. Needs `programme:read`: a budget is the
    /// district's, not any one child's.
    pub async fn budget(&self, who: &Principal, id: Uuid) -> Result<Budget, ApiError> {
        who.require(Permission::ProgrammeRead)?;
        let tx = self.db.read(who.tenant).await?;
        let row = find_programme(&tx, id).await?;
        Ok(Budget {
            budget_cents: row.budget_cents,
            committed_cents: committed_in(&tx, id).await?,
        })
    }

    /// The district's calendar day.
    pub(crate) fn today(&self) -> NaiveDate {
        self.registry.today()
    }
}

/// Trims and checks a programme's fields, naming the first bad one.
fn check(mut input: ProgrammeInput) -> Result<ProgrammeInput, ApiError> {
    input.name = input.name.trim().to_owned();
    let name_len = input.name.chars().count();
    if name_len == 0 || name_len > 100 || input.name.chars().any(char::is_control) {
        return Err(ApiError::bad_input(
            "input.name",
            "a name is 1 to 100 characters, without control characters",
        ));
    }
    if input.description.chars().count() > 2000 {
        return Err(ApiError::bad_input(
            "input.description",
            "at most 2000 characters",
        ));
    }
    input.in_kind = input
        .in_kind
        .map(|t| t.trim().to_owned())
        .filter(|t| !t.is_empty());
    match (input.amount_cents, input.period, &input.in_kind) {
        (Some(amount), Some(_), None) => {
            if !(1..=MAX_AMOUNT).contains(&amount) {
                return Err(ApiError::bad_input(
                    "input.amountCents",
                    format!("an amount is between 1 and {MAX_AMOUNT} cents"),
                ));
            }
            match input.budget_cents {
                None => {
                    return Err(ApiError::bad_input(
                        "input.budgetCents",
                        "a cash benefit needs a budget",
                    ))
                }
                Some(b) if !(0..=MAX_BUDGET).contains(&b) => {
                    return Err(ApiError::bad_input(
                        "input.budgetCents",
                        format!("a budget is between 0 and {MAX_BUDGET} cents"),
                    ))
                }
                Some(_) => {}
            }
        }
        (None, None, Some(text)) => {
            if text.chars().count() > 200 || text.chars().any(char::is_control) {
                return Err(ApiError::bad_input(
                    "input.inKind",
                    "at most 200 characters, without control characters",
                ));
            }
            if input.budget_cents.is_some() {
                return Err(ApiError::bad_input(
                    "input.budgetCents",
                    "help in kind has no budget in cents",
                ));
            }
        }
        (Some(_), None, _) => {
            return Err(ApiError::bad_input(
                "input.period",
                "a cash benefit needs its period",
            ))
        }
        (None, Some(_), _) => {
            return Err(ApiError::bad_input(
                "input.amountCents",
                "a period needs an amount",
            ))
        }
        (Some(_), Some(_), Some(_)) => {
            return Err(ApiError::bad_input(
                "input.inKind",
                "a benefit is cash or in kind, not both",
            ))
        }
        (None, None, None) => {
            return Err(ApiError::bad_input(
                "input.amountCents",
                "give a cash benefit (amountCents and period) or help in kind (inKind)",
            ))
        }
    }
    if input.ends_on < input.starts_on {
        return Err(ApiError::bad_input(
            "input.endsOn",
            "the programme cannot end before it starts",
        ));
    }
    Ok(input)
}

/// The plugin must be one of the district's eligibility plugins.
async fn check_plugin(tx: &ScopedTx, plugin_id: Option<Uuid>) -> Result<(), ApiError> {
    let Some(id) = plugin_id else {
        return Ok(());
    };
    let found = tx
        .select::<plugin::Entity>()
        .filter(plugin::Column::Id.eq(id))
        .one(tx.conn())
        .await?;
    match found {
        Some(p) if p.kind == Kind::AssistanceEligibility.as_str() => Ok(()),
        Some(p) => Err(ApiError::bad_input(
            "input.pluginId",
            format!(
                "the plugin {} serves {}, not assistance-eligibility",
                p.slug, p.kind
            ),
        )),
        None => Err(ApiError::bad_input(
            "input.pluginId",
            "no plugin of this district has this id",
        )),
    }
}

async fn check_name_free(tx: &ScopedTx, name: &str, except: Option<Uuid>) -> Result<(), ApiError> {
    let mut query = tx
        .select::<programme::Entity>()
        .filter(programme::Column::Name.eq(name));
    if let Some(id) = except {
        query = query.filter(programme::Column::Id.ne(id));
    }
    if query.one(tx.conn()).await?.is_some() {
        return Err(ApiError::conflict(
            "input.name",
            "the district has a programme of this name already",
        ));
    }
    Ok(())
}

pub(crate) async fn find_programme(tx: &ScopedTx, id: Uuid) -> Result<programme::Model, ApiError> {
    tx.select::<programme::Entity>()
        .filter(programme::Column::Id.eq(id))
        .one(tx.conn())
        .await?
        .ok_or_else(|| ApiError::not_found("programme"))
}

/// What a programme's benefit ledger holds in all: commitments less
/// releases.
pub(crate) async fn committed_in(tx: &ScopedTx, programme_id: Uuid) -> Result<i64, ApiError> {
    // PostgreSQL sums a bigint column as numeric; the cast brings it back.
    let sum: Option<i64> = tx
        .select::<benefit_entry::Entity>()
        .filter(benefit_entry::Column::ProgrammeId.eq(programme_id))
        .select_only()
        .column_as(
            Expr::cust("CAST(COALESCE(SUM(amount_cents), 0) AS BIGINT)"),
            "total",
        )
        .into_tuple()
        .one(tx.conn())
        .await?;
    Ok(sum.unwrap_or(0))
}

async fn has_enrolments(tx: &ScopedTx, programme_id: Uuid) -> Result<bool, ApiError> {
    Ok(tx
        .select::<crate::entity::enrolment::Entity>()
        .filter(crate::entity::enrolment::Column::ProgrammeId.eq(programme_id))
        .one(tx.conn())
        .await?
        .is_some())
}

/// The ids of the minors in the caller's scope, as a subquery, for lists
/// that must not reach outside it; `None` for district-wide callers.
pub(crate) fn minors_in_scope(who: &Principal) -> Option<sea_orm::sea_query::SelectStatement> {
    let scope = who.scope_path()?;
    Some(
        Query::select()
            .column(minor::Column::Id)
            .from(minor::Entity)
            .and_where(minor::Column::TenantId.eq(who.tenant.as_uuid()))
            .and_where(
                minor::Column::OrgUnitId
                    .in_subquery(shouhu_tenancy::subtree_ids(who.tenant, scope)),
            )
            .to_owned(),
    )
}

fn programme_detail(row: &programme::Model) -> serde_json::Value {
    json!({
        "name": row.name,
        "category": row.category,
        "amountCents": row.amount_cents,
        "period": row.period,
        "inKind": row.in_kind,
        "budgetCents": row.budget_cents,
        "startsOn": row.starts_on,
        "endsOn": row.ends_on,
        "plugin": row.plugin_id,
    })
}

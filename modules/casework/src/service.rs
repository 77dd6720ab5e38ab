//! The casework service: what every operation shares (the district's
//! deadlines and time zone, scope filters, the timeline, the notices to
//! street officers), with reports, cases and deadlines in submodules.
//!
//! Every operation checks its permission first, so FORBIDDEN never depends
//! on whether an object exists; every lookup runs in the caller's
//! `ScopedTx` and is bounded by the caller's org-unit subtree in SQL, so an
//! object of another street or district is simply NOT_FOUND.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, Select};
use shouhu_audit::{Actor, AuditService};
use shouhu_identity::IdentityService;
use shouhu_kernel::clock::SharedClock;
use shouhu_kernel::ids::new_id;
use shouhu_kernel::{ApiError, Db, Principal, ScopedTx, TenantId};
use shouhu_registry::RegistryService;
use shouhu_tenancy::{subtree_ids, TenancyService};
use tokio::sync::broadcast;
use uuid::Uuid;

use crate::deadlines::{zone_of, Settings};
use crate::entity::{case_event, placement, settings};

mod case;
mod deadline;
mod report;

pub use case::{AssessmentInput, CaseFilter, NeedInput, PlacementInput, PlanItemInput, VisitInput};
pub use deadline::OverdueItem;
pub use report::{AcceptInput, ReportFilter, ReportInput, ReporterView};

/// A notice to the officers of a unit, for the subscription. It carries ids
/// only; a subscriber reads the report through the scoped queries.
#[derive(Clone, Debug)]
pub struct Notice {
    pub tenant: TenantId,
    /// The path of the unit the notice is for (a street, or the district
    /// root for escalations).
    pub unit_path: String,
    pub report_id: Uuid,
    pub kind: &'static str,
    pub at_ms: i64,
}

/// Public reports accepted per client address per hour.
pub const PUBLIC_REPORTS_PER_HOUR: usize = 5;

#[derive(Clone)]
pub struct CaseworkService {
    db: Db,
    audit: AuditService,
    tenancy: TenancyService,
    registry: RegistryService,
    identity: IdentityService,
    clock: SharedClock,
    notices: broadcast::Sender<Notice>,
    /// Recent public reports per client address (instants), for the rate
    /// limit. Per process: see the README's known limitations.
    public_log: Arc<Mutex<HashMap<String, Vec<i64>>>>,
}

/// Trims a text; empty is none; longer than `max` characters is refused.
pub(crate) fn opt_text(
    text: Option<String>,
    max: usize,
    field: &str,
) -> Result<Option<String>, ApiError> {
    match text.map(|t| t.trim().to_owned()).filter(|t| !t.is_empty()) {
        Some(t) if t.chars().count() > max => Err(ApiError::bad_input(
            field,
            format!("at most {max} characters"),
        )),
        other => Ok(other),
    }
}

/// A text that must be given.
pub(crate) fn req_text(text: &str, max: usize, field: &str) -> Result<String, ApiError> {
    opt_text(Some(text.to_owned()), max, field)?
        .ok_or_else(|| ApiError::bad_input(field, "required"))
}

impl CaseworkService {
    pub fn new(
        db: Db,
        audit: AuditService,
        tenancy: TenancyService,
        registry: RegistryService,
        identity: IdentityService,
        clock: SharedClock,
    ) -> Self {
        let (notices, _) = broadcast::channel(256);
        CaseworkService {
            db,
            audit,
            tenancy,
            registry,
            identity,
            clock,
            notices,
            public_log: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    /// New notices for whoever listens (the GraphQL subscription).
    pub fn subscribe(&self) -> broadcast::Receiver<Notice> {
        self.notices.subscribe()
    }

    pub fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }

    /// The district's time zone (Asia/Shanghai unless it says otherwise).
    pub(crate) async fn zone(&self, tenant: TenantId) -> Result<chrono_tz::Tz, ApiError> {
        let row = self.tenancy.tenant(tenant).await?;
        Ok(zone_of(
            row.as_ref()
                .map_or("Asia/Shanghai", |t| t.time_zone.as_str()),
        ))
    }

    /// The district's deadlines, in the caller's transaction.
    pub(crate) async fn settings_in(&self, tx: &ScopedTx) -> Result<Settings, ApiError> {
        let row = tx.select::<settings::Entity>().one(tx.conn()).await?;
        Ok(row.map_or_else(Settings::default, |r| Settings {
            emergency_ack_ms: r.emergency_ack_ms,
            emergency_visit_ms: r.emergency_visit_ms,
            ack_ms: r.ack_ms,
            verify_working_days: r.verify_working_days,
            reporter_ms: r.reporter_ms,
        }))
    }

    /// Adds one entry to the timeline of a case and/or a report.
    pub(crate) async fn event(
        &self,
        tx: &ScopedTx,
        actor: &Actor,
        case_id: Option<Uuid>,
        report_id: Option<Uuid>,
        kind: &str,
        summary: impl Into<String>,
    ) -> Result<(), ApiError> {
        tx.insert(case_event::ActiveModel {
            tenant_id: Set(tx.tenant().as_uuid()),
            id: Set(new_id()),
            case_id: Set(case_id),
            report_id: Set(report_id),
            at_ms: Set(self.clock.now_ms()),
            actor_kind: Set(actor.kind.as_str().to_owned()),
            actor_id: Set(actor.id),
            kind: Set(kind.to_owned()),
            summary: Set(summary.into()),
        })
        .await?;
        Ok(())
    }
}

/// Bounds a query by the caller's org-unit subtree on `unit_column`. Staff of
/// the whole district are not bounded, so that they also see what has no
/// unit yet (a report waiting to be routed).
pub(crate) fn in_subtree<E: EntityTrait>(
    query: Select<E>,
    who: &Principal,
    unit_column: impl ColumnTrait,
) -> Select<E> {
    match who.scope_path() {
        Some(scope) if !who.is_district_wide() => {
            query.filter(unit_column.in_subquery(subtree_ids(who.tenant, scope)))
        }
        _ => query,
    }
}

/// `SELECT id FROM placements WHERE <tenant> AND end_date IS NULL`: the
/// placements still running, for other modules that count them in SQL
/// (partners counts a family's children against its capacity).
pub fn open_placement_ids(tenant: TenantId) -> sea_orm::sea_query::SelectStatement {
    sea_orm::sea_query::Query::select()
        .column(placement::Column::Id)
        .from(placement::Entity)
        .and_where(placement::Column::TenantId.eq(tenant.as_uuid()))
        .and_where(placement::Column::EndDate.is_null())
        .to_owned()
}

/// Whether a unit path lies in the caller's scope (the same rule as
/// [`in_subtree`], for a row already read).
pub(crate) fn path_in_scope(who: &Principal, path: &str) -> bool {
    who.is_district_wide() || who.scope_path().is_none_or(|scope| path.starts_with(scope))
}

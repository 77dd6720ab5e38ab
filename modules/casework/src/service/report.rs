//! Reports: receiving them from every channel (stored before anything else
//! runs), routing them to the street of the place (属地) or to the centre's
//! queue, triage, and what a reporter may see of their own reports.

use std::collections::HashMap;

use rand::Rng;
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveValue::Set, ColumnTrait, QueryFilter, QueryOrder, QuerySelect};
use serde_json::json;
use shouhu_audit::{Actor, AuditEntry};
use shouhu_kernel::ids::new_id;
use shouhu_kernel::{ApiError, Principal, ScopedTx, TenantId};
use shouhu_policies::Permission;
use shouhu_tenancy::entity::org_unit;
use uuid::Uuid;

use super::{in_subtree, opt_text, path_in_scope, req_text, CaseworkService, Notice};
use crate::entity::{case, notification, report};
use crate::error::CaseworkError;
use crate::model::{
    CaseState, Channel, Level, ReportCategory, ReportStatus, ReporterStatus, RoutingState,
};

/// A report as entered.
#[derive(Clone, Debug, Default)]
pub struct ReportInput {
    /// For staff: hotline, mandatory reporter or department. Public
    /// reports come through [`CaseworkService::submit_public_report`].
    pub channel: Option<Channel>,
    pub categories: Vec<ReportCategory>,
    pub description: String,
    /// Where it happened: an org unit of the district (a community, a
    /// street), when known.
    pub place_unit_id: Option<Uuid>,
    pub address: Option<String>,
    pub occurred_at_ms: Option<i64>,
    /// The child, when registered (needs `minor:read` and the child in the
    /// caller's scope), or described.
    pub minor_id: Option<Uuid>,
    pub child_description: Option<String>,
    pub reporter_name: Option<String>,
    pub reporter_contact: Option<String>,
    /// The referring department (公安, 学校, 医院, 法院…).
    pub reporter_org: Option<String>,
    pub urgent: bool,
}

/// Filters of the report list.
#[derive(Clone, Debug, Default)]
pub struct ReportFilter {
    pub status: Option<ReportStatus>,
    pub level: Option<Level>,
}

/// How a report is accepted: into a given open case, or into the child's
/// open case, or into a new case of `unit_id` (default: the street the
/// report was routed to).
#[derive(Clone, Debug, Default)]
pub struct AcceptInput {
    pub case_id: Option<Uuid>,
    pub unit_id: Option<Uuid>,
    pub minor_id: Option<Uuid>,
}

/// What a reporter sees of one of their reports: nothing else.
#[derive(Clone, Debug)]
pub struct ReporterView {
    pub receipt: String,
    pub status: ReporterStatus,
    pub received_at_ms: i64,
}

/// Receipt numbers avoid letters that read like digits.
const RECEIPT_ALPHABET: &[u8] = b"23456789ABCDEFGHJKMNPQRSTUVWXYZ";

fn new_receipt() -> String {
    let mut rng = rand::thread_rng();
    let body: String = (0..12)
        .map(|_| RECEIPT_ALPHABET[rng.gen_range(0..RECEIPT_ALPHABET.len())] as char)
        .collect();
    format!("R{body}")
}

/// The level a report starts at.
pub fn initial_level(categories: &[ReportCategory]) -> Level {
    if categories.iter().any(|c| c.is_emergency()) {
        Level::Emergency
    } else {
        Level::Normal
    }
}

/// The code of the street (or town) in a unit's path, if the unit is one or
/// lies under one: `/320506/320506001/320506001001/` → `320506001`.
pub fn street_code(path: &str) -> Option<&str> {
    path.split('/').filter(|s| !s.is_empty()).nth(1)
}

/// What a reporter may know, from the report and its case.
fn reporter_status(row: &report::Model, case_state: Option<CaseState>) -> ReporterStatus {
    match ReportStatus::parse(&row.status) {
        Some(ReportStatus::Dismissed) => ReporterStatus::Closed,
        Some(ReportStatus::Accepted) => match case_state {
            Some(CaseState::Closed) => ReporterStatus::Closed,
            _ => ReporterStatus::Accepted,
        },
        _ => ReporterStatus::Received,
    }
}

impl CaseworkService {
    /// Files a report as a signed-in user (hotline operator, mandatory
    /// reporter, department liaison, staff). It is committed before routing
    /// runs; if routing fails, the report waits in the retry queue.
    pub async fn create_report(
        &self,
        who: &Principal,
        actor: &Actor,
        input: ReportInput,
    ) -> Result<report::Model, ApiError> {
        who.require(Permission::ReportCreate)?;
        let channel = input.channel.unwrap_or(Channel::MandatoryReporter);
        if channel == Channel::PublicForm {
            return Err(ApiError::bad_input(
                "input.channel",
                "public reports come through submitPublicReport",
            ));
        }
        if channel == Channel::Department && input.reporter_org.is_none() {
            return Err(ApiError::bad_input(
                "input.reporterOrg",
                "a department referral names the department",
            ));
        }
        if input.minor_id.is_some() && !who.has(Permission::MinorRead) {
            return Err(ApiError::bad_input(
                "input.minorId",
                "describe the child instead; linking a registered minor needs minor:read",
            ));
        }
        let id = self
            .receive(who.tenant, actor, Some(who), channel, input)
            .await?;
        self.route_logged(who.tenant, id).await;
        self.report_row(who.tenant, id).await
    }

    /// Files a report from the public web form, without an account. Limited
    /// per client address; returns the receipt number, the only way to
    /// follow the report.
    pub async fn submit_public_report(
        &self,
        client: &str,
        district: &str,
        request_id: &str,
        input: ReportInput,
    ) -> Result<String, ApiError> {
        self.admit_public(client)?;
        let tenant = self
            .tenancy
            .tenant_by_slug(district)
            .await?
            .map(|t| TenantId(t.id))
            .ok_or_else(|| ApiError::not_found("district"))?;
        let input = ReportInput {
            minor_id: None,
            ..input
        };
        let actor = Actor::anonymous(request_id);
        let id = self
            .receive(tenant, &actor, None, Channel::PublicForm, input)
            .await?;
        self.route_logged(tenant, id).await;
        Ok(self.report_row(tenant, id).await?.receipt)
    }

    /// The status of a public report, by its receipt number: nothing else.
    pub async fn public_report_status(
        &self,
        district: &str,
        receipt: &str,
    ) -> Result<ReporterView, ApiError> {
        let tenant = self
            .tenancy
            .tenant_by_slug(district)
            .await?
            .map(|t| TenantId(t.id))
            .ok_or_else(|| ApiError::not_found("report"))?;
        let tx = self.db.read(tenant).await?;
        let row = tx
            .select::<report::Entity>()
            .filter(report::Column::Receipt.eq(receipt.trim()))
            .filter(report::Column::Channel.eq(Channel::PublicForm.code()))
            .one(tx.conn())
            .await?
            .ok_or_else(|| ApiError::not_found("report"))?;
        let states = self.case_states(&tx, &[&row]).await?;
        tx.commit().await?;
        let state = row.case_id.and_then(|c| states.get(&c).copied());
        Ok(ReporterView {
            status: reporter_status(&row, state),
            receipt: row.receipt,
            received_at_ms: row.received_at_ms,
        })
    }

    /// Counts a public report against its address's hourly budget.
    fn admit_public(&self, client: &str) -> Result<(), ApiError> {
        let now = self.clock.now_ms();
        let mut log = self
            .public_log
            .lock()
            .map_err(|_| ApiError::internal("public report log poisoned"))?;
        // Forget addresses that have been quiet for an hour, so the map
        // stays as small as the last hour's traffic.
        log.retain(|_, times| times.iter().any(|t| now - t < 3_600_000));
        let times = log.entry(client.to_owned()).or_default();
        times.retain(|t| now - t < 3_600_000);
        if times.len() >= super::PUBLIC_REPORTS_PER_HOUR {
            return Err(CaseworkError::RateLimited.into());
        }
        times.push(now);
        Ok(())
    }

    /// Stores a report, unrouted, with its deadlines, a timeline entry and
    /// an audit entry, and commits.
    async fn receive(
        &self,
        tenant: TenantId,
        actor: &Actor,
        who: Option<&Principal>,
        channel: Channel,
        input: ReportInput,
    ) -> Result<Uuid, ApiError> {
        let mut categories = input.categories.clone();
        categories.sort();
        categories.dedup();
        if categories.is_empty() {
            return Err(ApiError::bad_input(
                "input.categories",
                "name at least one category (other if none fits)",
            ));
        }
        let description = req_text(&input.description, 4000, "input.description")?;
        let address = opt_text(input.address, 500, "input.address")?;
        let child = opt_text(input.child_description, 1000, "input.childDescription")?;
        let reporter_name = opt_text(input.reporter_name, 100, "input.reporterName")?;
        let reporter_contact = opt_text(input.reporter_contact, 100, "input.reporterContact")?;
        let reporter_org = opt_text(input.reporter_org, 100, "input.reporterOrg")?;
        let now = self.clock.now_ms();
        if input.occurred_at_ms.is_some_and(|t| t > now) {
            return Err(ApiError::bad_input(
                "input.occurredAt",
                "lies in the future",
            ));
        }
        let zone = self.zone(tenant).await?;
        let tx = self.db.write(tenant).await?;
        if let Some(place) = input.place_unit_id {
            // Any place in the district may be reported, not only the
            // reporter's own street.
            if self.tenancy.unit_in(&tx, place).await?.is_none() {
                return Err(ApiError::not_found("org unit"));
            }
        }
        // Without a unit, an address that names one of the district's units
        // places the report there, so that it is routed by locality too.
        let place_unit_id = match (input.place_unit_id, &address) {
            (Some(place), _) => Some(place),
            (None, Some(text)) => unit_named_in(&self.tenancy.units_in(&tx).await?, text),
            (None, None) => None,
        };
        if let (Some(minor), Some(who)) = (input.minor_id, who) {
            self.minor_in_scope(&tx, who, minor).await?;
        }
        let level = initial_level(&categories);
        let dues = self.settings_in(&tx).await?.dues(level, now, zone);
        let id = new_id();
        let codes: Vec<&str> = categories.iter().map(|c| c.code()).collect();
        tx.insert(report::ActiveModel {
            tenant_id: Set(tenant.as_uuid()),
            id: Set(id),
            receipt: Set(new_receipt()),
            channel: Set(channel.code().to_owned()),
            categories: Set(codes.join(",")),
            description: Set(description),
            place_unit_id: Set(place_unit_id),
            address: Set(address),
            occurred_at_ms: Set(input.occurred_at_ms),
            minor_id: Set(input.minor_id),
            child_description: Set(child),
            reporter_user_id: Set(who.map(|w| w.actor_id)),
            reporter_name: Set(reporter_name),
            reporter_contact: Set(reporter_contact),
            reporter_org: Set(reporter_org),
            reporter_urgent: Set(input.urgent),
            level: Set(level.code().to_owned()),
            level_reason: Set(None),
            routing_state: Set(RoutingState::Pending.code().to_owned()),
            routing_attempts: Set(0),
            routed_unit_id: Set(None),
            status: Set(ReportStatus::Received.code().to_owned()),
            case_id: Set(None),
            received_at_ms: Set(now),
            ack_due_ms: Set(dues.ack_due_ms),
            acknowledged_at_ms: Set(None),
            response_kind: Set(dues.response_kind.code().to_owned()),
            response_due_ms: Set(dues.response_due_ms),
            responded_at_ms: Set(None),
            reporter_due_ms: Set(dues.reporter_due_ms),
            reporter_told_at_ms: Set(None),
        })
        .await?;
        let summary = format!(
            "received via {} as {} ({})",
            channel.label_zh(),
            level.label_zh(),
            codes.join(", ")
        );
        self.event(&tx, actor, None, Some(id), "report.received", summary)
            .await?;
        self.audit
            .append(
                &tx,
                actor,
                AuditEntry::ok("report.create", "report", id)
                    .with_detail(json!({ "channel": channel.code(), "level": level.code() })),
            )
            .await?;
        tx.commit().await?;
        Ok(id)
    }

    /// A minor the caller may see (the registry's record, in the caller's
    /// subtree), or NOT_FOUND.
    pub(crate) async fn minor_in_scope(
        &self,
        tx: &ScopedTx,
        who: &Principal,
        minor: Uuid,
    ) -> Result<(), ApiError> {
        let unit = match self.registry.minor_unit_in(tx, minor).await? {
            Some(unit) => self.tenancy.unit_in(tx, unit).await?,
            None => None,
        };
        match unit {
            Some(u) if path_in_scope(who, &u.path) => Ok(()),
            _ => Err(ApiError::not_found("minor")),
        }
    }

    /// Routes a report and logs (never returns) a failure: the report stays
    /// in the retry queue.
    async fn route_logged(&self, tenant: TenantId, id: Uuid) {
        if let Err(err) = self.route(tenant, id).await {
            tracing::warn!(
                tenant = %tenant,
                report = %id,
                error.code = err.code.as_str(),
                "report routing failed; left in the retry queue"
            );
        }
    }

    /// Routes one waiting report: to the street or town containing its
    /// place, or to the protection centre's queue (the district root) when
    /// the place is unknown or is the district itself. An emergency puts a
    /// notice in the inbox of the unit's officers. Returns whether it routed.
    pub async fn route(&self, tenant: TenantId, id: Uuid) -> Result<bool, ApiError> {
        let tx = self.db.write(tenant).await?;
        let Some(row) = tx
            .select::<report::Entity>()
            .filter(report::Column::Id.eq(id))
            .one(tx.conn())
            .await?
        else {
            return Err(ApiError::not_found("report"));
        };
        if row.routing_state != RoutingState::Pending.code() {
            tx.commit().await?;
            return Ok(false);
        }
        let target = self.routing_target(&tx, row.place_unit_id).await?;
        tx.update::<report::Entity>()
            .col_expr(report::Column::RoutedUnitId, Expr::value(Some(target.id)))
            .col_expr(
                report::Column::RoutingState,
                Expr::value(RoutingState::Routed.code()),
            )
            .col_expr(
                report::Column::RoutingAttempts,
                Expr::value(row.routing_attempts + 1),
            )
            .filter(report::Column::Id.eq(id))
            .exec(tx.conn())
            .await?;
        let actor = Actor::system("routing");
        let emergency = row.level == Level::Emergency.code();
        let queue = if target.depth == 0 {
            "the protection centre's queue"
        } else {
            "the street"
        };
        self.event(
            &tx,
            &actor,
            None,
            Some(id),
            "report.routed",
            format!("routed to {} ({queue})", target.name),
        )
        .await?;
        let now = self.clock.now_ms();
        if emergency {
            tx.insert(notification::ActiveModel {
                tenant_id: Set(tenant.as_uuid()),
                id: Set(new_id()),
                unit_id: Set(target.id),
                report_id: Set(id),
                kind: Set("emergency_report".into()),
                created_at_ms: Set(now),
            })
            .await?;
        }
        self.audit
            .append(
                &tx,
                &actor,
                AuditEntry::ok("report.route", "report", id)
                    .with_detail(json!({ "unit": target.id, "emergency": emergency })),
            )
            .await?;
        tx.commit().await?;
        if emergency {
            // Nobody listening is not an error: the inbox has the notice.
            let _ = self.notices.send(Notice {
                tenant,
                unit_path: target.path,
                report_id: id,
                kind: "emergency_report",
                at_ms: now,
            });
        }
        Ok(true)
    }

    async fn routing_target(
        &self,
        tx: &ScopedTx,
        place: Option<Uuid>,
    ) -> Result<org_unit::Model, ApiError> {
        if let Some(place) = place {
            if let Some(unit) = self.tenancy.unit_in(tx, place).await? {
                if let Some(code) = street_code(&unit.path) {
                    if let Some(street) = self.tenancy.unit_by_code_in(tx, code).await? {
                        return Ok(street);
                    }
                }
            }
        }
        self.tenancy.root_in(tx).await
    }

    /// Routes every report of a district still waiting (the retry queue);
    /// returns how many were routed. Run by the background tick.
    pub async fn retry_routing(&self, tenant: TenantId) -> Result<u64, ApiError> {
        let tx = self.db.read(tenant).await?;
        let waiting: Vec<Uuid> = tx
            .select::<report::Entity>()
            .filter(report::Column::RoutingState.eq(RoutingState::Pending.code()))
            .order_by_asc(report::Column::Id)
            .limit(500)
            .all(tx.conn())
            .await?
            .into_iter()
            .map(|r| r.id)
            .collect();
        tx.commit().await?;
        let mut routed = 0;
        for id in waiting {
            match self.route(tenant, id).await {
                Ok(true) => routed += 1,
                Ok(false) => {}
                Err(_) => self.route_logged(tenant, id).await,
            }
        }
        Ok(routed)
    }

    pub(crate) async fn report_row(
        &self,
        tenant: TenantId,
        id: Uuid,
    ) -> Result<report::Model, ApiError> {
        let tx = self.db.read(tenant).await?;
        let row = tx
            .select::<report::Entity>()
            .filter(report::Column::Id.eq(id))
            .one(tx.conn())
            .await?
            .ok_or_else(|| ApiError::not_found("report"))?;
        tx.commit().await?;
        Ok(row)
    }

    /// A report the caller may see as staff: routed into their subtree (or
    /// anywhere, for staff of the whole district).
    pub(crate) async fn visible_report(
        &self,
        tx: &ScopedTx,
        who: &Principal,
        id: Uuid,
    ) -> Result<report::Model, ApiError> {
        let query = tx
            .select::<report::Entity>()
            .filter(report::Column::Id.eq(id));
        in_subtree(query, who, report::Column::RoutedUnitId)
            .one(tx.conn())
            .await?
            .ok_or_else(|| ApiError::not_found("report"))
    }

    /// One report. Needs `report:read`.
    pub async fn report(&self, who: &Principal, id: Uuid) -> Result<report::Model, ApiError> {
        who.require(Permission::ReportRead)?;
        let tx = self.db.read(who.tenant).await?;
        let row = self.visible_report(&tx, who, id).await?;
        tx.commit().await?;
        Ok(row)
    }

    /// Reports in the caller's scope, newest first, after the `after` id.
    pub async fn reports(
        &self,
        who: &Principal,
        filter: &ReportFilter,
        after: Option<Uuid>,
        limit: u64,
    ) -> Result<Vec<report::Model>, ApiError> {
        who.require(Permission::ReportRead)?;
        let tx = self.db.read(who.tenant).await?;
        let mut query = tx
            .select::<report::Entity>()
            .order_by_desc(report::Column::Id)
            .limit(limit);
        query = in_subtree(query, who, report::Column::RoutedUnitId);
        if let Some(status) = filter.status {
            query = query.filter(report::Column::Status.eq(status.code()));
        }
        if let Some(level) = filter.level {
            query = query.filter(report::Column::Level.eq(level.code()));
        }
        if let Some(after) = after {
            query = query.filter(report::Column::Id.lt(after));
        }
        let rows = query.all(tx.conn()).await?;
        tx.commit().await?;
        Ok(rows)
    }

    /// Who filed a report. Needs `report:reporter_identity`; every read is
    /// audited. Returns (name, contact, organisation, user id).
    pub async fn reporter_of(
        &self,
        who: &Principal,
        actor: &Actor,
        id: Uuid,
    ) -> Result<report::Model, ApiError> {
        who.require(Permission::ReportReporterIdentity)?;
        let tx = self.db.write(who.tenant).await?;
        let row = self.visible_report(&tx, who, id).await?;
        self.audit
            .append(
                &tx,
                actor,
                AuditEntry::ok("report.read_reporter", "report", id),
            )
            .await?;
        tx.commit().await?;
        Ok(row)
    }

    /// The caller's own reports, newest first, as status only. Needs
    /// `report:read_own`.
    pub async fn my_reports(
        &self,
        who: &Principal,
        limit: u64,
    ) -> Result<Vec<ReporterView>, ApiError> {
        who.require(Permission::ReportReadOwn)?;
        let tx = self.db.read(who.tenant).await?;
        let rows = tx
            .select::<report::Entity>()
            .filter(report::Column::ReporterUserId.eq(who.actor_id))
            .order_by_desc(report::Column::Id)
            .limit(limit)
            .all(tx.conn())
            .await?;
        let refs: Vec<&report::Model> = rows.iter().collect();
        let states = self.case_states(&tx, &refs).await?;
        tx.commit().await?;
        Ok(rows
            .into_iter()
            .map(|r| {
                let state = r.case_id.and_then(|c| states.get(&c).copied());
                ReporterView {
                    status: reporter_status(&r, state),
                    receipt: r.receipt,
                    received_at_ms: r.received_at_ms,
                }
            })
            .collect())
    }

    async fn case_states(
        &self,
        tx: &ScopedTx,
        rows: &[&report::Model],
    ) -> Result<HashMap<Uuid, CaseState>, ApiError> {
        let ids: Vec<Uuid> = rows.iter().filter_map(|r| r.case_id).collect();
        if ids.is_empty() {
            return Ok(HashMap::new());
        }
        Ok(tx
            .select::<case::Entity>()
            .filter(case::Column::Id.is_in(ids))
            .all(tx.conn())
            .await?
            .into_iter()
            .filter_map(|c| CaseState::parse(&c.state).map(|s| (c.id, s)))
            .collect())
    }

    /// Raises or lowers a report's level, with a reason that is kept. The
    /// deadlines not yet met are recomputed from the time of receipt.
    pub async fn set_report_level(
        &self,
        who: &Principal,
        actor: &Actor,
        id: Uuid,
        level: Level,
        reason: &str,
    ) -> Result<report::Model, ApiError> {
        who.require(Permission::ReportTriage)?;
        let reason = req_text(reason, 1000, "reason")?;
        let zone = self.zone(who.tenant).await?;
        let tx = self.db.write(who.tenant).await?;
        let row = self.visible_report(&tx, who, id).await?;
        if row.level == level.code() {
            return Err(ApiError::bad_input("level", "the report is at this level"));
        }
        let dues = self
            .settings_in(&tx)
            .await?
            .dues(level, row.received_at_ms, zone);
        tx.update::<report::Entity>()
            .col_expr(report::Column::Level, Expr::value(level.code()))
            .col_expr(
                report::Column::LevelReason,
                Expr::value(Some(reason.clone())),
            )
            .col_expr(report::Column::AckDueMs, Expr::value(dues.ack_due_ms))
            .col_expr(
                report::Column::ResponseKind,
                Expr::value(dues.response_kind.code()),
            )
            .col_expr(
                report::Column::ResponseDueMs,
                Expr::value(dues.response_due_ms),
            )
            .filter(report::Column::Id.eq(id))
            .exec(tx.conn())
            .await?;
        self.event(
            &tx,
            actor,
            row.case_id,
            Some(id),
            "report.level",
            format!("level {} → {}: {reason}", row.level, level.code()),
        )
        .await?;
        self.audit
            .append(
                &tx,
                actor,
                AuditEntry::ok("report.level", "report", id)
                    .with_detail(json!({ "from": row.level, "to": level.code() })),
            )
            .await?;
        let out = self.visible_report(&tx, who, id).await?;
        tx.commit().await?;
        Ok(out)
    }

    /// Acknowledges a report (签收): someone responsible has seen it.
    pub async fn acknowledge_report(
        &self,
        who: &Principal,
        actor: &Actor,
        id: Uuid,
    ) -> Result<report::Model, ApiError> {
        who.require(Permission::ReportTriage)?;
        let tx = self.db.write(who.tenant).await?;
        let row = self.visible_report(&tx, who, id).await?;
        if row.acknowledged_at_ms.is_none() {
            self.mark_acknowledged(&tx, actor, &row).await?;
        }
        let out = self.visible_report(&tx, who, id).await?;
        tx.commit().await?;
        Ok(out)
    }

    async fn mark_acknowledged(
        &self,
        tx: &ScopedTx,
        actor: &Actor,
        row: &report::Model,
    ) -> Result<(), ApiError> {
        tx.update::<report::Entity>()
            .col_expr(
                report::Column::AcknowledgedAtMs,
                Expr::value(Some(self.clock.now_ms())),
            )
            .filter(report::Column::Id.eq(row.id))
            .exec(tx.conn())
            .await?;
        self.event(
            tx,
            actor,
            row.case_id,
            Some(row.id),
            "report.acknowledged",
            "acknowledged",
        )
        .await?;
        self.audit
            .append(
                tx,
                actor,
                AuditEntry::ok("report.acknowledge", "report", row.id),
            )
            .await
    }

    /// Declines a report (no protection concern, or not this district's),
    /// with a reason; the reporter sees it closed.
    pub async fn dismiss_report(
        &self,
        who: &Principal,
        actor: &Actor,
        id: Uuid,
        reason: &str,
    ) -> Result<report::Model, ApiError> {
        who.require(Permission::ReportTriage)?;
        let reason = req_text(reason, 1000, "reason")?;
        let tx = self.db.write(who.tenant).await?;
        let row = self.visible_report(&tx, who, id).await?;
        if row.status != ReportStatus::Received.code() {
            return Err(ApiError::conflict("id", "the report was already decided"));
        }
        if row.acknowledged_at_ms.is_none() {
            self.mark_acknowledged(&tx, actor, &row).await?;
        }
        let now = Some(self.clock.now_ms());
        tx.update::<report::Entity>()
            .col_expr(
                report::Column::Status,
                Expr::value(ReportStatus::Dismissed.code()),
            )
            .col_expr(report::Column::ReporterToldAtMs, Expr::value(now))
            .col_expr(report::Column::RespondedAtMs, Expr::value(now))
            .filter(report::Column::Id.eq(id))
            .exec(tx.conn())
            .await?;
        self.event(&tx, actor, None, Some(id), "report.dismissed", reason)
            .await?;
        self.audit
            .append(&tx, actor, AuditEntry::ok("report.dismiss", "report", id))
            .await?;
        let out = self.visible_report(&tx, who, id).await?;
        tx.commit().await?;
        Ok(out)
    }

    /// Accepts a report into a case: the one named, else the child's open
    /// case, else a new case. Acknowledges the report if it was not, and the
    /// reporter now sees it accepted.
    pub async fn accept_report(
        &self,
        who: &Principal,
        actor: &Actor,
        id: Uuid,
        input: AcceptInput,
    ) -> Result<case::Model, ApiError> {
        who.require(Permission::ReportTriage)?;
        who.require(Permission::CaseWrite)?;
        let tx = self.db.write(who.tenant).await?;
        let row = self.visible_report(&tx, who, id).await?;
        if row.status != ReportStatus::Received.code() {
            return Err(ApiError::conflict("id", "the report was already decided"));
        }
        let minor = input.minor_id.or(row.minor_id);
        if let Some(minor) = input.minor_id {
            who.require(Permission::MinorRead)?;
            self.minor_in_scope(&tx, who, minor).await?;
        }
        let existing = match (input.case_id, minor) {
            (Some(case_id), _) => {
                let c = self.visible_case(&tx, who, case_id).await?;
                if c.state == CaseState::Closed.code() {
                    return Err(ApiError::bad_input(
                        "input.caseId",
                        "the case is closed; reopen it first",
                    ));
                }
                Some(c)
            }
            (None, Some(minor)) => self.open_case_of(&tx, who, minor).await?,
            (None, None) => None,
        };
        let case = match existing {
            Some(c) => c,
            None => {
                let unit = match input.unit_id.or(row.routed_unit_id) {
                    Some(unit) => unit,
                    None => self.tenancy.root_in(&tx).await?.id,
                };
                self.new_case_in(&tx, who, actor, unit, minor, row.child_description.clone())
                    .await?
            }
        };
        if row.acknowledged_at_ms.is_none() {
            self.mark_acknowledged(&tx, actor, &row).await?;
        }
        tx.update::<report::Entity>()
            .col_expr(
                report::Column::Status,
                Expr::value(ReportStatus::Accepted.code()),
            )
            .col_expr(report::Column::CaseId, Expr::value(Some(case.id)))
            .col_expr(
                report::Column::ReporterToldAtMs,
                Expr::value(Some(self.clock.now_ms())),
            )
            .col_expr(report::Column::MinorId, Expr::value(minor))
            .filter(report::Column::Id.eq(id))
            .exec(tx.conn())
            .await?;
        self.event(
            &tx,
            actor,
            Some(case.id),
            Some(id),
            "report.accepted",
            format!("accepted into case {}", case.number),
        )
        .await?;
        self.audit
            .append(
                &tx,
                actor,
                AuditEntry::ok("report.accept", "report", id)
                    .with_detail(json!({ "case": case.id })),
            )
            .await?;
        tx.commit().await?;
        Ok(case)
    }
}

/// The unit an address names: of the district's streets, towns, communities
/// and villages whose name the address contains, the deepest; `None` when
/// none is named, or when two different units at that depth are (an
/// ambiguous address goes to the protection centre's queue rather than to a
/// guess).
fn unit_named_in(units: &[org_unit::Model], address: &str) -> Option<Uuid> {
    let named: Vec<&org_unit::Model> = units
        .iter()
        .filter(|u| u.depth > 0 && u.name.chars().count() >= 2 && address.contains(&u.name))
        .collect();
    let deepest = named.iter().map(|u| u.depth).max()?;
    let mut at_depth = named.iter().filter(|u| u.depth == deepest);
    let first = at_depth.next()?;
    match at_depth.next() {
        None => Some(first.id),
        Some(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit(n: u128, name: &str, depth: i32) -> org_unit::Model {
        org_unit::Model {
            tenant_id: Uuid::nil(),
            id: Uuid::from_u128(n),
            parent_id: None,
            code: n.to_string(),
            name: name.into(),
            kind: "community".into(),
            path: format!("/{n}/"),
            depth,
            created_at_ms: 0,
        }
    }

    #[test]
    fn an_address_places_a_report_in_the_deepest_unit_it_names() {
        let units = [
            unit(1, "吴中区", 0),
            unit(2, "长桥街道", 1),
            unit(3, "长桥第一社区", 2),
            unit(4, "长桥第二社区", 2),
            unit(5, "越溪街道", 1),
        ];
        let at = |text: &str| unit_named_in(&units, text).map(|id| id.as_u128());
        assert_eq!(at("吴中区长桥街道长桥第一社区12幢"), Some(3));
        assert_eq!(at("长桥街道某路8号"), Some(2));
        // The district alone places nothing: the centre's queue takes it.
        assert_eq!(at("吴中区某处"), None);
        // Two communities named: ambiguous, so no guess.
        assert_eq!(at("长桥第一社区与长桥第二社区之间"), None);
        assert_eq!(at("不知道"), None);
    }

    #[test]
    fn the_street_of_a_path() {
        assert_eq!(
            street_code("/320506/320506001/320506001001/"),
            Some("320506001")
        );
        assert_eq!(street_code("/320506/320506001/"), Some("320506001"));
        assert_eq!(street_code("/320506/"), None);
    }

    #[test]
    fn emergencies_on_receipt() {
        assert_eq!(
            initial_level(&[ReportCategory::Neglect, ReportCategory::SexualAbuse]),
            Level::Emergency
        );
        assert_eq!(initial_level(&[ReportCategory::OutOfSchool]), Level::Normal);
    }

    #[test]
    fn receipts_are_long_and_unambiguous() {
        let r = new_receipt();
        assert_eq!(r.len(), 13);
        assert!(!r.contains('0') && !r.contains('O') && !r.contains('1') && !r.contains('I'));
        assert_ne!(new_receipt(), new_receipt());
    }
}

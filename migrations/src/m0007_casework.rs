//! Discovery, reporting and casework: reports and where they were routed, the
//! cases they become, what happens to a case (home visits, notes,
//! assessments, assistance-plan items, placements), the timeline of events,
//! missed deadlines and their escalation, the street officers' inbox, the
//! per-district deadline settings and the counter that numbers cases.
//!
//! Every instant is an `*_ms` integer, so that "past its deadline" is an
//! integer comparison on both databases. Dates a person types (a plan item's
//! due date, a placement's start) are ISO `YYYY-MM-DD` text, which sorts the
//! same way everywhere.

use sea_orm_migration::prelude::*;

use crate::sql;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0007_casework"
    }
}

/// In creation order; dropped in reverse.
const TABLES: &[&str] = &[
    "casework_settings",
    "case_counters",
    "cases",
    "reports",
    "case_events",
    "home_visits",
    "case_notes",
    "assessments",
    "plan_items",
    "placements",
    "escalations",
    "notifications",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        sql::run(
            manager,
            &[
                // One row per district that changed a default; none means defaults.
                "CREATE TABLE casework_settings (
                    tenant_id uuid NOT NULL REFERENCES tenants(id),
                    emergency_ack_ms bigint NOT NULL,
                    emergency_visit_ms bigint NOT NULL,
                    ack_ms bigint NOT NULL,
                    verify_working_days integer NOT NULL,
                    reporter_ms bigint NOT NULL,
                    updated_at_ms bigint NOT NULL,
                    PRIMARY KEY (tenant_id)
                )",
                // Case numbers come from here, incremented inside the transaction
                // that opens the case, never from max()+1.
                "CREATE TABLE case_counters (
                    tenant_id uuid NOT NULL REFERENCES tenants(id),
                    year integer NOT NULL,
                    next bigint NOT NULL,
                    PRIMARY KEY (tenant_id, year)
                )",
                "CREATE TABLE cases (
                    tenant_id uuid NOT NULL REFERENCES tenants(id),
                    id uuid NOT NULL,
                    number varchar(32) NOT NULL,
                    minor_id uuid,
                    child_description text,
                    unit_id uuid NOT NULL,
                    lead_user_id uuid,
                    workers text NOT NULL,
                    state varchar(16) NOT NULL,
                    closure_outcome varchar(24),
                    closure_pending varchar(24),
                    closure_summary text,
                    plan_state varchar(16) NOT NULL,
                    version bigint NOT NULL,
                    opened_at_ms bigint NOT NULL,
                    updated_at_ms bigint NOT NULL,
                    PRIMARY KEY (tenant_id, id),
                    UNIQUE (tenant_id, number),
                    FOREIGN KEY (tenant_id, unit_id) REFERENCES org_units(tenant_id, id),
                    FOREIGN KEY (tenant_id, minor_id) REFERENCES minors(tenant_id, id)
                )",
                "CREATE INDEX cases_unit ON cases (tenant_id, unit_id, id)",
                "CREATE INDEX cases_minor ON cases (tenant_id, minor_id, state)",
                "CREATE TABLE reports (
                    tenant_id uuid NOT NULL REFERENCES tenants(id),
                    id uuid NOT NULL,
                    receipt varchar(24) NOT NULL,
                    channel varchar(16) NOT NULL,
                    categories varchar(300) NOT NULL,
                    description text NOT NULL,
                    place_unit_id uuid,
                    address text,
                    occurred_at_ms bigint,
                    minor_id uuid,
                    child_description text,
                    reporter_user_id uuid,
                    reporter_name varchar(100),
                    reporter_contact varchar(100),
                    reporter_org varchar(100),
                    reporter_urgent boolean NOT NULL,
                    level varchar(16) NOT NULL,
                    level_reason text,
                    routing_state varchar(16) NOT NULL,
                    routing_attempts integer NOT NULL,
                    routed_unit_id uuid,
                    status varchar(16) NOT NULL,
                    case_id uuid,
                    received_at_ms bigint NOT NULL,
                    ack_due_ms bigint NOT NULL,
                    acknowledged_at_ms bigint,
                    response_kind varchar(16) NOT NULL,
                    response_due_ms bigint NOT NULL,
                    responded_at_ms bigint,
                    reporter_due_ms bigint NOT NULL,
                    reporter_told_at_ms bigint,
                    PRIMARY KEY (tenant_id, id),
                    UNIQUE (tenant_id, receipt),
                    FOREIGN KEY (tenant_id, place_unit_id) REFERENCES org_units(tenant_id, id),
                    FOREIGN KEY (tenant_id, routed_unit_id) REFERENCES org_units(tenant_id, id),
                    FOREIGN KEY (tenant_id, minor_id) REFERENCES minors(tenant_id, id),
                    FOREIGN KEY (tenant_id, case_id) REFERENCES cases(tenant_id, id)
                )",
                "CREATE INDEX reports_routed ON reports (tenant_id, routed_unit_id, id)",
                "CREATE INDEX reports_reporter ON reports (tenant_id, reporter_user_id, id)",
                "CREATE INDEX reports_routing ON reports (tenant_id, routing_state)",
                "CREATE INDEX reports_case ON reports (tenant_id, case_id)",
                "CREATE TABLE case_events (
                    tenant_id uuid NOT NULL REFERENCES tenants(id),
                    id uuid NOT NULL,
                    case_id uuid,
                    report_id uuid,
                    at_ms bigint NOT NULL,
                    actor_kind varchar(16) NOT NULL,
                    actor_id uuid NOT NULL,
                    kind varchar(32) NOT NULL,
                    summary text NOT NULL,
                    PRIMARY KEY (tenant_id, id),
                    FOREIGN KEY (tenant_id, case_id) REFERENCES cases(tenant_id, id),
                    FOREIGN KEY (tenant_id, report_id) REFERENCES reports(tenant_id, id)
                )",
                "CREATE INDEX case_events_case ON case_events (tenant_id, case_id, at_ms)",
                "CREATE INDEX case_events_report ON case_events (tenant_id, report_id, at_ms)",
                "CREATE TABLE home_visits (
                    tenant_id uuid NOT NULL,
                    id uuid NOT NULL,
                    case_id uuid NOT NULL,
                    visited_at_ms bigint NOT NULL,
                    visitors varchar(300) NOT NULL,
                    seen text NOT NULL,
                    observations text NOT NULL,
                    safety_decision varchar(24) NOT NULL,
                    recorded_by uuid NOT NULL,
                    recorded_at_ms bigint NOT NULL,
                    PRIMARY KEY (tenant_id, id),
                    FOREIGN KEY (tenant_id, case_id) REFERENCES cases(tenant_id, id)
                )",
                "CREATE INDEX home_visits_case ON home_visits (tenant_id, case_id)",
                "CREATE TABLE case_notes (
                    tenant_id uuid NOT NULL,
                    id uuid NOT NULL,
                    case_id uuid NOT NULL,
                    body text NOT NULL,
                    confidential boolean NOT NULL,
                    author_id uuid NOT NULL,
                    at_ms bigint NOT NULL,
                    PRIMARY KEY (tenant_id, id),
                    FOREIGN KEY (tenant_id, case_id) REFERENCES cases(tenant_id, id)
                )",
                "CREATE INDEX case_notes_case ON case_notes (tenant_id, case_id)",
                "CREATE TABLE assessments (
                    tenant_id uuid NOT NULL,
                    id uuid NOT NULL,
                    case_id uuid NOT NULL,
                    guardianship varchar(16) NOT NULL,
                    risk varchar(16) NOT NULL,
                    needs text NOT NULL,
                    summary text NOT NULL,
                    assessed_by uuid NOT NULL,
                    at_ms bigint NOT NULL,
                    PRIMARY KEY (tenant_id, id),
                    FOREIGN KEY (tenant_id, case_id) REFERENCES cases(tenant_id, id)
                )",
                "CREATE INDEX assessments_case ON assessments (tenant_id, case_id, at_ms)",
                "CREATE TABLE plan_items (
                    tenant_id uuid NOT NULL,
                    id uuid NOT NULL,
                    case_id uuid NOT NULL,
                    category varchar(24) NOT NULL,
                    description text NOT NULL,
                    responsible_kind varchar(24) NOT NULL,
                    responsible_name varchar(100) NOT NULL,
                    due_date varchar(10) NOT NULL,
                    status varchar(16) NOT NULL,
                    created_at_ms bigint NOT NULL,
                    updated_at_ms bigint NOT NULL,
                    PRIMARY KEY (tenant_id, id),
                    FOREIGN KEY (tenant_id, case_id) REFERENCES cases(tenant_id, id)
                )",
                "CREATE INDEX plan_items_case ON plan_items (tenant_id, case_id)",
                "CREATE TABLE placements (
                    tenant_id uuid NOT NULL,
                    id uuid NOT NULL,
                    case_id uuid NOT NULL,
                    kind varchar(24) NOT NULL,
                    place varchar(200) NOT NULL,
                    start_date varchar(10) NOT NULL,
                    end_date varchar(10),
                    school varchar(100),
                    created_at_ms bigint NOT NULL,
                    PRIMARY KEY (tenant_id, id),
                    FOREIGN KEY (tenant_id, case_id) REFERENCES cases(tenant_id, id)
                )",
                "CREATE INDEX placements_case ON placements (tenant_id, case_id)",
                // One row per missed deadline: the unique key makes escalation
                // happen once, however many ticks or nodes see it.
                "CREATE TABLE escalations (
                    tenant_id uuid NOT NULL,
                    id uuid NOT NULL,
                    report_id uuid NOT NULL,
                    deadline varchar(16) NOT NULL,
                    due_ms bigint NOT NULL,
                    escalated_at_ms bigint NOT NULL,
                    PRIMARY KEY (tenant_id, id),
                    UNIQUE (tenant_id, report_id, deadline),
                    FOREIGN KEY (tenant_id, report_id) REFERENCES reports(tenant_id, id)
                )",
                "CREATE TABLE notifications (
                    tenant_id uuid NOT NULL,
                    id uuid NOT NULL,
                    unit_id uuid NOT NULL,
                    report_id uuid NOT NULL,
                    kind varchar(24) NOT NULL,
                    created_at_ms bigint NOT NULL,
                    PRIMARY KEY (tenant_id, id),
                    FOREIGN KEY (tenant_id, unit_id) REFERENCES org_units(tenant_id, id),
                    FOREIGN KEY (tenant_id, report_id) REFERENCES reports(tenant_id, id)
                )",
                "CREATE INDEX notifications_unit ON notifications (tenant_id, unit_id, id)",
            ],
        )
        .await?;
        for table in TABLES {
            sql::tenant_table(manager, table, "SELECT, INSERT, UPDATE, DELETE").await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let reversed: Vec<&str> = TABLES.iter().rev().copied().collect();
        sql::drop_tables(manager, &reversed).await
    }
}

//! Database rows of reporting and casework (`m0007_casework`).

pub mod settings {
    //! A district's deadlines, when it changed the defaults.
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "casework_settings")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub tenant_id: Uuid,
        pub emergency_ack_ms: i64,
        pub emergency_visit_ms: i64,
        pub ack_ms: i64,
        pub verify_working_days: i32,
        pub reporter_ms: i64,
        pub updated_at_ms: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
    shouhu_kernel::tenant_scoped!();
}

pub mod case_counter {
    //! The next case number of a district and year.
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "case_counters")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub tenant_id: Uuid,
        #[sea_orm(primary_key, auto_increment = false)]
        pub year: i32,
        pub next: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
    shouhu_kernel::tenant_scoped!();
}

pub mod case {
    //! A protection case.
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "cases")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub tenant_id: Uuid,
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub number: String,
        pub minor_id: Option<Uuid>,
        pub child_description: Option<String>,
        pub unit_id: Uuid,
        pub lead_user_id: Option<Uuid>,
        pub workers: String,
        pub state: String,
        pub closure_outcome: Option<String>,
        pub closure_pending: Option<String>,
        pub closure_summary: Option<String>,
        pub plan_state: String,
        pub version: i64,
        pub opened_at_ms: i64,
        pub updated_at_ms: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
    shouhu_kernel::tenant_scoped!();
}

pub mod report {
    //! A report of a child at risk, from any channel.
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "reports")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub tenant_id: Uuid,
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub receipt: String,
        pub channel: String,
        pub categories: String,
        pub description: String,
        pub place_unit_id: Option<Uuid>,
        pub address: Option<String>,
        pub occurred_at_ms: Option<i64>,
        pub minor_id: Option<Uuid>,
        pub child_description: Option<String>,
        pub reporter_user_id: Option<Uuid>,
        pub reporter_name: Option<String>,
        pub reporter_contact: Option<String>,
        pub reporter_org: Option<String>,
        pub reporter_urgent: bool,
        pub level: String,
        pub level_reason: Option<String>,
        pub routing_state: String,
        pub routing_attempts: i32,
        pub routed_unit_id: Option<Uuid>,
        pub status: String,
        pub case_id: Option<Uuid>,
        pub received_at_ms: i64,
        pub ack_due_ms: i64,
        pub acknowledged_at_ms: Option<i64>,
        pub response_kind: String,
        pub response_due_ms: i64,
        pub responded_at_ms: Option<i64>,
        pub reporter_due_ms: i64,
        pub reporter_told_at_ms: Option<i64>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
    shouhu_kernel::tenant_scoped!();
}

pub mod case_event {
    //! One entry of a case's (or a report's) timeline.
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "case_events")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub tenant_id: Uuid,
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub case_id: Option<Uuid>,
        pub report_id: Option<Uuid>,
        pub at_ms: i64,
        pub actor_kind: String,
        pub actor_id: Uuid,
        pub kind: String,
        pub summary: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
    shouhu_kernel::tenant_scoped!();
}

pub mod home_visit {
    //! A home visit (入户甄判).
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "home_visits")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub tenant_id: Uuid,
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub case_id: Uuid,
        pub visited_at_ms: i64,
        pub visitors: String,
        pub seen: String,
        pub observations: String,
        pub safety_decision: String,
        pub recorded_by: Uuid,
        pub recorded_at_ms: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
    shouhu_kernel::tenant_scoped!();
}

pub mod case_note {
    //! A note on a case, confidential or not.
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "case_notes")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub tenant_id: Uuid,
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub case_id: Uuid,
        pub body: String,
        pub confidential: bool,
        pub author_id: Uuid,
        pub at_ms: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
    shouhu_kernel::tenant_scoped!();
}

pub mod assessment {
    //! One guardianship and risk assessment; earlier ones stay.
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "assessments")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub tenant_id: Uuid,
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub case_id: Uuid,
        pub guardianship: String,
        pub risk: String,
        pub needs: String,
        pub summary: String,
        pub assessed_by: Uuid,
        pub at_ms: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
    shouhu_kernel::tenant_scoped!();
}

pub mod plan_item {
    //! An item of a case's assistance plan.
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "plan_items")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub tenant_id: Uuid,
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub case_id: Uuid,
        pub category: String,
        pub description: String,
        pub responsible_kind: String,
        pub responsible_name: String,
        pub due_date: String,
        pub status: String,
        pub created_at_ms: i64,
        pub updated_at_ms: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
    shouhu_kernel::tenant_scoped!();
}

pub mod placement {
    //! An emergency placement of the child.
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "placements")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub tenant_id: Uuid,
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub case_id: Uuid,
        pub kind: String,
        pub place: String,
        pub start_date: String,
        pub end_date: Option<String>,
        pub school: Option<String>,
        pub created_at_ms: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
    shouhu_kernel::tenant_scoped!();
}

pub mod escalation {
    //! A missed deadline, escalated to the protection centre once.
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "escalations")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub tenant_id: Uuid,
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub report_id: Uuid,
        pub deadline: String,
        pub due_ms: i64,
        pub escalated_at_ms: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
    shouhu_kernel::tenant_scoped!();
}

pub mod notification {
    //! An inbox entry for the officers of one unit.
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "notifications")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub tenant_id: Uuid,
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub unit_id: Uuid,
        pub report_id: Uuid,
        pub kind: String,
        pub created_at_ms: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
    shouhu_kernel::tenant_scoped!();
}

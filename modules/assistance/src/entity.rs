//! Database rows of local assistance programmes (`m0010_assistance`).

pub mod programme {
    //! A local programme: its benefit, budget, term and eligibility plugin.
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "programmes")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub tenant_id: Uuid,
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub name: String,
        pub description: String,
        pub category: String,
        pub amount_cents: Option<i64>,
        pub period: Option<String>,
        pub in_kind: Option<String>,
        pub budget_cents: Option<i64>,
        pub starts_on: String,
        pub ends_on: String,
        pub plugin_id: Option<Uuid>,
        pub version: i64,
        pub created_by: Uuid,
        pub created_at_ms: i64,
        pub updated_at_ms: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
    shouhu_kernel::tenant_scoped!();
}

pub mod enrolment {
    //! A minor's enrolment in a programme, from proposal to its end.
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "enrolments")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub tenant_id: Uuid,
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub programme_id: Uuid,
        pub minor_id: Uuid,
        pub status: String,
        /// The plugin call whose decision the proposal rests on.
        pub call_id: Option<Uuid>,
        /// The plugin's reasons, a JSON array of strings.
        pub reasons: String,
        /// Whether the decision was made on data beyond the masked view
        /// (the proposer held `minor:sensitive`), so that its reasons are
        /// shown only to holders of it.
        pub reasons_sensitive: bool,
        pub amount_cents: Option<i64>,
        pub period: Option<String>,
        pub in_kind: Option<String>,
        /// The first day of the first benefit period, set on approval.
        pub benefit_from: Option<String>,
        pub proposed_by: Uuid,
        pub proposed_at_ms: i64,
        pub decided_by: Option<Uuid>,
        pub decided_at_ms: Option<i64>,
        pub note: Option<String>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
    shouhu_kernel::tenant_scoped!();
}

pub mod benefit_entry {
    //! One line of the benefit ledger: a commitment on approval, a release
    //! when an enrolment ends early.
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "benefit_entries")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub tenant_id: Uuid,
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub programme_id: Uuid,
        pub enrolment_id: Uuid,
        pub minor_id: Uuid,
        pub kind: String,
        /// Positive for a commitment, negative for a release.
        pub amount_cents: i64,
        pub periods: i32,
        pub note: String,
        pub recorded_by: Uuid,
        pub at_ms: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
    shouhu_kernel::tenant_scoped!();
}

//! Database rows of the registry.

pub mod household {
    //! A household: siblings living together, in one community or village.
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "households")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub tenant_id: Uuid,
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub org_unit_id: Uuid,
        pub address: Option<String>,
        pub created_at_ms: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
    shouhu_kernel::tenant_scoped!();
}

pub mod minor {
    //! One minor of the district.
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "minors")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub tenant_id: Uuid,
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub household_id: Option<Uuid>,
        pub name: String,
        pub doc_type: Option<String>,
        pub doc_number: Option<String>,
        pub needs_follow_up: bool,
        pub sex: String,
        /// `YYYY-MM-DD`.
        pub birth_date: String,
        pub ethnicity: Option<String>,
        pub hukou_place: Option<String>,
        pub org_unit_id: Uuid,
        pub address: Option<String>,
        pub phone: Option<String>,
        pub school: Option<String>,
        pub grade: Option<String>,
        pub health: Option<String>,
        pub disability_grade: Option<String>,
        pub hiv_status: Option<String>,
        pub economic_status: String,
        pub status: String,
        pub version: i64,
        pub created_at_ms: i64,
        pub updated_at_ms: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
    shouhu_kernel::tenant_scoped!();
}

pub mod guardian {
    //! A guardian of a minor.
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "guardians")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub tenant_id: Uuid,
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub minor_id: Uuid,
        pub name: String,
        pub relationship: String,
        pub phone: Option<String>,
        pub situation: String,
        pub created_at_ms: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
    shouhu_kernel::tenant_scoped!();
}

pub mod minor_category {
    //! A difficulty category a minor belongs to, since when and on whose
    //! finding.
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "minor_categories")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub tenant_id: Uuid,
        #[sea_orm(primary_key, auto_increment = false)]
        pub minor_id: Uuid,
        #[sea_orm(primary_key, auto_increment = false)]
        pub category: String,
        pub since: String,
        pub source: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
    shouhu_kernel::tenant_scoped!();
}

pub mod minor_history {
    //! One change to a minor, a guardian or a category: before, after, who,
    //! when and why.
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "minor_history")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub tenant_id: Uuid,
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub minor_id: Uuid,
        pub at_ms: i64,
        pub actor_kind: String,
        pub actor_id: Uuid,
        pub change: String,
        pub before: String,
        pub after: String,
        pub reason: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
    shouhu_kernel::tenant_scoped!();
}

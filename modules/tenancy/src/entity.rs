//! Database rows of the tenancy module.

pub mod tenant {
    //! A district: a platform row, owned by no tenant.
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "tenants")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub code: String,
        pub slug: String,
        pub name: String,
        pub province: Option<String>,
        pub city: Option<String>,
        pub time_zone: String,
        /// Bumped whenever the district's custom roles change, so that
        /// every server process reloads them.
        pub policy_version: i64,
        pub created_at_ms: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod org_unit {
    //! One unit of a district's tree.
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "org_units")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub tenant_id: Uuid,
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub parent_id: Option<Uuid>,
        pub code: String,
        pub name: String,
        pub kind: String,
        /// `/district/street/community/`, by code.
        pub path: String,
        pub depth: i32,
        pub created_at_ms: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}

    impl shouhu_kernel::TenantScoped for Entity {
        fn tenant_column() -> Column {
            Column::TenantId
        }
    }
}

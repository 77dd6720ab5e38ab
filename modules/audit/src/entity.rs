//! Database rows of the audit module.

pub mod audit_log {
    //! One audit entry.
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "audit_log")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub tenant_id: Uuid,
        #[sea_orm(primary_key, auto_increment = false)]
        pub seq: i64,
        pub at_ms: i64,
        pub request_id: String,
        pub actor_kind: String,
        pub actor_id: Uuid,
        pub action: String,
        pub target_kind: String,
        pub target_id: String,
        pub outcome: String,
        pub detail: String,
        pub prev_hash: String,
        pub hash: String,
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

pub mod audit_head {
    //! The head (last sequence number and hash) of one tenant's chain.
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "audit_heads")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub tenant_id: Uuid,
        pub seq: i64,
        pub hash: String,
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

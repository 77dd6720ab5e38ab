//! Database rows of the caring-family pool (`m0009_partners`).

pub mod caring_family {
    //! One household of the reserve pool.
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "caring_families")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub tenant_id: Uuid,
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        /// The household's display name (usually the contact's name):
        /// personal data, never logged nor passed to a plugin.
        pub name: String,
        pub org_unit_id: Uuid,
        pub address: Option<String>,
        pub phone: Option<String>,
        pub capacity: i32,
        pub age_min: i32,
        pub age_max: i32,
        /// Comma-separated sex codes.
        pub sexes: String,
        /// Comma-separated skill codes.
        pub skills: String,
        /// Comma-separated language codes.
        pub languages: String,
        pub vetting_status: String,
        pub available: bool,
        pub version: i64,
        pub created_at_ms: i64,
        pub updated_at_ms: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
    shouhu_kernel::tenant_scoped!();
}

pub mod family_vetting {
    //! One change of a family's vetting status: before, after, who, when
    //! and why.
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "family_vetting")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub tenant_id: Uuid,
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub family_id: Uuid,
        /// None for the family's first status, on creation.
        pub before_status: Option<String>,
        pub after_status: String,
        pub actor_kind: String,
        pub actor_id: Uuid,
        pub reason: Option<String>,
        pub at_ms: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
    shouhu_kernel::tenant_scoped!();
}

pub mod family_offer {
    //! A family a match offered for a case, as ranked.
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "family_offers")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub tenant_id: Uuid,
        #[sea_orm(primary_key, auto_increment = false)]
        pub call_id: Uuid,
        #[sea_orm(primary_key, auto_increment = false)]
        pub family_id: Uuid,
        pub match_rank: i32,
        pub score: f64,
        pub explanation: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
    shouhu_kernel::tenant_scoped!();
}

pub mod family_placement {
    //! A child of a case placed with a family, tied to the casework
    //! placement row and to the match that ranked the family.
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "family_placements")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub tenant_id: Uuid,
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub case_id: Uuid,
        pub family_id: Uuid,
        pub placement_id: Uuid,
        pub call_id: Option<Uuid>,
        pub match_rank: i32,
        pub score: f64,
        pub explanation: String,
        pub reason: Option<String>,
        pub chosen_by: Uuid,
        pub at_ms: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
    shouhu_kernel::tenant_scoped!();
}

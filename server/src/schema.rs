//! The GraphQL schema: each module contributes its query and mutation
//! parts; limits on depth and complexity are set here (aliases, batch size
//! and body size are enforced in `http`).

use async_graphql::{MergedObject, MergedSubscription, Schema};
use shouhu_assistance::{AssistanceMutation, AssistanceQuery};
use shouhu_audit::AuditQuery;
use shouhu_casework::{CaseworkMutation, CaseworkQuery, CaseworkSubscription};
use shouhu_extensions::{ExtensionMutation, ExtensionQuery};
use shouhu_identity::{IdentityMutation, IdentityQuery};
use shouhu_registry::{
    HouseholdMutation, HouseholdQuery, ImportMutation, RegistryMutation, RegistryQuery,
};
use shouhu_tenancy::{TenancyMutation, TenancyQuery};

use crate::app::{Limits, Services};

#[derive(MergedObject, Default)]
pub struct QueryRoot(
    IdentityQuery,
    TenancyQuery,
    AuditQuery,
    RegistryQuery,
    HouseholdQuery,
    CaseworkQuery,
    ExtensionQuery,
    AssistanceQuery,
);

#[derive(MergedObject, Default)]
pub struct MutationRoot(
    IdentityMutation,
    TenancyMutation,
    RegistryMutation,
    HouseholdMutation,
    ImportMutation,
    CaseworkMutation,
    ExtensionMutation,
    AssistanceMutation,
);

#[derive(MergedSubscription, Default)]
pub struct SubscriptionRoot(CaseworkSubscription);

pub type ShouhuSchema = Schema<QueryRoot, MutationRoot, SubscriptionRoot>;

pub fn build(services: &Services, limits: &Limits) -> ShouhuSchema {
    Schema::build(
        QueryRoot::default(),
        MutationRoot::default(),
        SubscriptionRoot::default(),
    )
    .limit_depth(limits.max_depth)
    .limit_complexity(limits.max_complexity)
    .limit_recursive_depth(limits.max_recursive_depth)
    .limit_directives(limits.max_directives)
    .data(services.audit.clone())
    .data(services.tenancy.clone())
    .data(services.identity.clone())
    .data(services.registry.clone())
    .data(services.casework.clone())
    .data(services.extensions.clone())
    .data(services.assistance.clone())
    .finish()
}

/// The schema in SDL, for clients and docs.
pub fn sdl() -> String {
    Schema::build(
        QueryRoot::default(),
        MutationRoot::default(),
        SubscriptionRoot::default(),
    )
    .finish()
    .sdl()
}

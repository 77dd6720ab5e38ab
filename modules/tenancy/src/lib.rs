//! Districts and their org-unit tree (网格: district → street/town →
//! community/village).
//!
//! A district is created from its 6-digit statistical division code; with a
//! folder of division files in the national statistical format, its name and
//! its streets and towns come from those files. Every unit carries a
//! materialised path of codes, so "everything under this unit", the shape of
//! most access scopes, is one indexed prefix query.

pub mod divisions;
pub mod entity;
pub mod error;
mod graphql;
mod service;

pub use divisions::{District, DivisionSource};
pub use error::TenancyError;
pub use graphql::{OrgUnitObject, TenancyMutation, TenancyQuery, TenantObject};
pub use service::{
    in_scope, subtree_ids, subtree_pattern, NewOrgUnit, NewTenant, OrgUnitKind, TenancyService,
};

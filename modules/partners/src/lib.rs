//! Professional services (专业维权), first part: the caring-family (爱心家庭)
//! reserve pool, the vetting of each family, matching a child with
//! families through the district's `family-matching` plugin, and the
//! placement chosen from a match.
//!
//! `model` holds the vocabularies, the vetting rules and the pure input
//! checks; `entity` the rows (`m0009_partners`); `service` the scoped,
//! audited operations; `graphql` their API. Cases and their placements
//! belong to casework, minors to the registry and units to tenancy: this
//! crate reaches them through their services, never their tables, and runs
//! plugins only through the extensions service.

pub mod entity;
pub mod error;
mod graphql;
pub mod model;
mod service;

pub use error::PartnersError;
pub use graphql::{PartnersMutation, PartnersQuery};
pub use service::{
    FamilyFilter, FamilyInput, FamilyPatch, MatchOutcome, PartnersService, RankedFamily,
};

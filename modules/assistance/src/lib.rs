//! Local assistance programmes (地方救助项目) of a district.
//!
//! A district admin defines a programme: its category (one of the eight
//! assistance categories of an assistance plan), its benefit (an amount per
//! period, or help in kind), its budget and term, and the eligibility plugin
//! that decides who qualifies. Screening runs that plugin over the caller's
//! difficulty ledger and lists the children who qualify and are not yet
//! enrolled, so that help reaches those who never applied. An enrolment is
//! proposed on a fresh decision of the plugin and approved by someone who
//! holds `enrolment:approve`; approval commits the benefit in the benefit
//! ledger, within the budget, and ending an enrolment releases what was
//! not yet due.
//!
//! Every plugin call goes through `shouhu_extensions::ExtensionService::invoke`,
//! so each decision is recorded and can be explained later from its call.

pub mod entity;
pub mod error;
mod graphql;
pub mod model;
mod service;

pub use graphql::{AssistanceMutation, AssistanceQuery};
pub use service::{
    AssistanceService, Budget, Candidate, ProgrammeInput, Screening, ScreeningFilter,
    SCREENING_BATCH,
};

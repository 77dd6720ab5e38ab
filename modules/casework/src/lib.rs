//! Discovery, reporting and casework (发现报告, 帮扶干预): reports from the
//! hotline, mandatory reporters, departments and the public form; routing
//! by locality (属地) and emergency triage; response deadlines, the overdue
//! queue and escalation; cases with their state machine, home visits,
//! notes, assessments, assistance plans, placements, closure review and
//! timeline; the officers' inbox and its subscription.
//!
//! `model` holds the vocabularies and the state machine, `deadlines` the
//! pure deadline arithmetic, `entity` the rows, `service` the scoped,
//! audited operations and `graphql` their API. It reads org units through
//! tenancy's service and minors through the registry's, never their tables.

pub mod deadlines;
pub mod entity;
pub mod error;
mod graphql;
pub mod model;
mod service;

pub use error::CaseworkError;
pub use graphql::{CaseworkMutation, CaseworkQuery, CaseworkSubscription};
pub use service::{
    open_placement_ids, CaseworkService, Notice, OverdueItem, PlacementInput,
    PUBLIC_REPORTS_PER_HOUR,
};

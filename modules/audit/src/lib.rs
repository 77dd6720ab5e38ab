//! The audit log: who did what, to which target, in which district, when,
//! in which request, and with what outcome.
//!
//! Entries are appended to one hash chain per tenant (the platform has its
//! own chain under [`shouhu_kernel::TenantId::PLATFORM`]). Each entry's hash
//! covers the previous entry's hash, and the head of each chain is kept
//! apart, so [`AuditService::verify`] finds an edited entry, a deleted one,
//! and entries cut off the end. Entries never hold a child's personal data;
//! a target is named by its id.

mod chain;
pub mod entity;
pub mod error;
mod graphql;
mod service;

pub use error::AuditError;
pub use graphql::{AuditEntryObject, AuditQuery};
pub use service::{Actor, AuditEntry, AuditService, ChainProblem, Outcome, VerifyReport};

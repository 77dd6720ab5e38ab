//! The shared kernel every Shouhu module builds on: the closed set of client
//! error codes, the request context (who is calling, in which district), the
//! tenant-scoped database access that makes an unscoped query impossible to
//! write by accident, a clock that tests can drive, and Relay cursors.

pub mod clock;
pub mod context;
pub mod db;
pub mod error;
pub mod ids;
pub mod paging;
pub mod vocabulary;

pub use clock::{Clock, ManualClock, SystemClock};
pub use context::{ActorKind, ClientAddr, Principal, RequestCtx};
pub use db::{is_unique_violation, Backend, Db, ScopedConn, ScopedTx, TenantScoped};
pub use error::{ApiError, ErrorCode};
pub use ids::TenantId;

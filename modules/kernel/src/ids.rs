//! Identifiers. A tenant id is its own type so that it cannot be swapped for
//! any other id by mistake; it is what every tenant-owned row is keyed on.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A district (tenant). [`TenantId::PLATFORM`] is the scope of the platform
/// itself (tenant management, the platform audit chain); it owns no
/// children's data.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct TenantId(pub Uuid);

impl TenantId {
    pub const PLATFORM: TenantId = TenantId(Uuid::nil());

    pub fn is_platform(self) -> bool {
        self.0.is_nil()
    }

    pub fn as_uuid(self) -> Uuid {
        self.0
    }
}

impl fmt::Display for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl FromStr for TenantId {
    type Err = uuid::Error;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Uuid::parse_str(s).map(TenantId)
    }
}

impl From<TenantId> for sea_orm::Value {
    fn from(t: TenantId) -> Self {
        t.0.into()
    }
}

/// A new, time-ordered id for any row.
pub fn new_id() -> Uuid {
    Uuid::now_v7()
}

/// Parses an id that a client sent; any malformed id is simply "not found",
/// because a syntax error on an id must not reveal more than a miss does.
pub fn parse_id(raw: &str, what: &str) -> Result<Uuid, crate::ApiError> {
    Uuid::parse_str(raw).map_err(|_| crate::ApiError::not_found(what))
}

//! The error type of the policies crate and its mapping onto API error codes.

use thiserror::Error;

/// Everything that can go wrong when parsing permissions, naming roles or changing policy.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PolicyError {
    /// A permission string that is not in the catalogue.
    #[error("unknown permission `{0}`")]
    UnknownPermission(String),
    /// A custom role name that does not match `[a-z][a-z0-9_]{{1,39}}` or is reserved.
    #[error("invalid role name `{0}`: use 2-40 of a-z, 0-9 and _, starting with a letter")]
    InvalidRoleName(String),
    /// A custom role that would shadow, replace or remove a built-in role.
    #[error("`{0}` is a built-in role and cannot be created, changed or removed")]
    BuiltinRoleName(String),
    /// A platform permission offered to a tenant role.
    #[error("platform permission `{permission}` cannot be granted to tenant role `{role}`")]
    PlatformPermission {
        /// The custom role the permission was offered to.
        role: String,
        /// The platform permission, in string form.
        permission: String,
    },
    /// The same custom role appears twice in one tenant load.
    #[error("custom role `{0}` is listed more than once")]
    DuplicateRole(String),
    /// A tenant domain name that is empty, reserved or has characters casbin cannot carry.
    #[error("invalid tenant domain `{0}`")]
    InvalidDomain(String),
    /// A custom-role change for a tenant whose domain has not been loaded.
    #[error("tenant domain `{0}` is not loaded")]
    DomainNotLoaded(String),
    /// The embedded model or built-in templates are malformed; a build defect, not user input.
    #[error("embedded policy data is invalid: {0}")]
    Template(String),
    /// casbin itself failed.
    #[error("policy engine failure: {0}")]
    Casbin(String),
}

impl PolicyError {
    /// The API error code for this error: caller mistakes are `BAD_USER_INPUT`, the rest are
    /// server defects and map to `INTERNAL`.
    pub fn code(&self) -> &'static str {
        match self {
            Self::UnknownPermission(_)
            | Self::InvalidRoleName(_)
            | Self::BuiltinRoleName(_)
            | Self::PlatformPermission { .. }
            | Self::DuplicateRole(_)
            | Self::InvalidDomain(_) => "BAD_USER_INPUT",
            // The tenant comes from the caller's authenticated context, so an unloaded domain
            // means the server forgot to load it, not that the user asked for something wrong.
            Self::DomainNotLoaded(_) | Self::Template(_) | Self::Casbin(_) => "INTERNAL",
        }
    }
}

impl From<casbin::Error> for PolicyError {
    fn from(err: casbin::Error) -> Self {
        // The message is kept rather than the value so that PolicyError stays Clone and Eq.
        Self::Casbin(err.to_string())
    }
}

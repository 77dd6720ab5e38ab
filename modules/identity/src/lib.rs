//! Who may do what: users and their roles, sign-in and sign-out, tokens, API
//! keys for service accounts and partner systems, the platform operator, and
//! onboarding a district with its built-in roles.
//!
//! Permissions are decided by casbin (`shouhu-policies`) with the district
//! as the domain; this module keeps the engine in step with the database:
//! custom roles live in `roles`/`role_permissions`, and each district's
//! `policy_version` tells every server process when to reload them.

mod cache;
pub mod entity;
pub mod error;
mod graphql;
mod password;
mod service;
mod signin;
mod token;

pub use error::IdentityError;
pub use graphql::{IdentityMutation, IdentityQuery};
pub use service::{
    IdentityConfig, IdentityService, LoginResult, NewApiKey, NewRole, NewUser, Onboarding,
};

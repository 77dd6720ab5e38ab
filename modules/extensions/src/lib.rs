//! A district's WebAssembly plugins: the versions uploaded, which one is
//! active for each plugin, the role a plugin's input query runs as, and the
//! record of every call.
//!
//! Running a plugin is `shouhu-plugins`' job; this module stores plugins in
//! the district's tables (so every server process sees the same set), keeps
//! a per-process cache of each district's active plugins that follows the
//! district's plugin epoch, checks permissions and audits every change.
//! Extension points reach a plugin only through [`ExtensionService::invoke`],
//! which runs the manifest's input query with the plugin's grant and records
//! the call.

mod builtin;
pub mod entity;
pub mod error;
mod graphql;
mod invoke;
mod service;

pub use builtin::DEFAULT_MATCHER_SLUG;
pub use graphql::{ExtensionMutation, ExtensionQuery};
pub use invoke::{check_input_query, InputQueryRunner, Invocation, Invoked};
pub use service::{ActivePlugin, CallRecord, ExtensionService, PluginView, VersionView};

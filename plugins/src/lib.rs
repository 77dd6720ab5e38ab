//! The WebAssembly plugin host of Shouhu (ABI 1 and 2).
//!
//! A plugin is a WebAssembly core module built as a WASI preview 1 command:
//! it reads its input on stdin, writes its answer on stdout, may write a
//! short log on stderr, and exits. In ABI 1 input and answer are one JSON
//! document each; ABI 2 (`assistance-eligibility` only) keeps a JSON header
//! and carries minors and decisions as fixed-size records. This crate owns everything about running
//! one and nothing about storing one:
//!
//! - `manifest`: what a plugin declares (id, version, extension point, ABI,
//!   input query, limits) and the platform's ceilings on those limits;
//! - `host`: validation on upload, the compile cache keyed by SHA-256, and
//!   one call in a fresh store under fuel, a memory cap and a deadline;
//! - `wasi`: the short allow-list of WASI calls, over in-memory pipes;
//! - `eligibility`: the minors and decisions of `assistance-eligibility`
//!   in types, and ABI 2's record layouts;
//! - `builtin`: the default matcher the platform ships as a plugin;
//! - `schema`: the published JSON Schemas of each extension point (the
//!   files in `plugins/schemas/`) and the checker that enforces them.
//!
//! It does no database or network I/O: storing versions, grants and the
//! record of calls belongs to the `shouhu-extensions` module.

pub mod builtin;
pub mod eligibility;
pub mod error;
pub mod host;
pub mod manifest;
pub mod schema;
pub mod wasi;

pub use error::PluginError;
pub use host::{
    CompiledPlugin, Decided, HostConfig, Outcome, PluginHost, MAX_LOG_BYTES, MAX_MODULE_BYTES,
};
pub use manifest::{parse_version, InputSpec, Kind, Limits, Manifest, ABI_VERSIONS, MAX_LIMITS};
pub use schema::Direction;

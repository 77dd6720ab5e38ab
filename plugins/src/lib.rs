//! The WebAssembly plugin host of Shouhu (ABI v1).
//!
//! A plugin is a WebAssembly core module built as a WASI preview 1 command:
//! it reads one JSON document on stdin, writes one on stdout, may write a
//! short log on stderr, and exits. This crate owns everything about running
//! one and nothing about storing one:
//!
//! - `manifest`: what a plugin declares (id, version, extension point, ABI,
//!   input query, limits) and the platform's ceilings on those limits;
//! - `host`: validation on upload, the compile cache keyed by SHA-256, and
//!   one call in a fresh store under fuel, a memory cap and a deadline;
//! - `wasi`: the short allow-list of WASI calls, over in-memory pipes;
//! - `builtin`: the default matcher the platform ships as a plugin;
//! - `schema`: the published JSON Schemas of each extension point (the
//!   files in `plugins/schemas/`) and the checker that enforces them.
//!
//! It does no database or network I/O: storing versions, grants and the
//! record of calls belongs to the `shouhu-extensions` module.

pub mod builtin;
pub mod error;
pub mod host;
pub mod manifest;
pub mod schema;
pub mod wasi;

pub use error::PluginError;
pub use host::{CompiledPlugin, HostConfig, Outcome, PluginHost, MAX_LOG_BYTES, MAX_MODULE_BYTES};
pub use manifest::{parse_version, InputSpec, Kind, Limits, Manifest, ABI_VERSION, MAX_LIMITS};
pub use schema::Direction;

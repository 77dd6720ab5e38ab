//! The Shouhu server: wiring only. It assembles the modules' services and
//! GraphQL parts into one schema, serves it over HTTP with limits, request
//! ids, authentication, logs and metrics, and offers the command line.

pub mod app;
pub mod cli;
pub mod demo;
pub mod error;
pub mod export;
pub mod generate;
pub mod http;
pub mod import;
pub mod metrics;
pub mod plugin;
mod plugin_input;
pub mod schema;
pub mod ws;

pub use app::{App, AppConfig, Limits};

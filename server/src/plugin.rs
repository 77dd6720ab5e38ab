//! `shouhu plugin check` and `shouhu plugin run`: a plugin author's way to
//! validate and try a plugin on their own machine, exactly as the server
//! would, without a database or a district.

use std::path::{Path, PathBuf};

use clap::Subcommand;
use shouhu_plugins::{HostConfig, Manifest, PluginHost};

use crate::error::ServerError;

#[derive(Subcommand, Debug)]
pub enum PluginAction {
    /// Validate a module and its manifest as an upload is validated.
    Check {
        /// The WebAssembly module (.wasm).
        module: PathBuf,
        /// The manifest (TOML or JSON).
        #[arg(long)]
        manifest: PathBuf,
    },
    /// Run a plugin once on an input file and print its output, the fuel it
    /// used and how long it took.
    Run {
        /// The WebAssembly module (.wasm).
        module: PathBuf,
        /// The manifest (TOML or JSON).
        #[arg(long)]
        manifest: PathBuf,
        /// The JSON document to pass on stdin; it must match the extension
        /// point's input schema.
        #[arg(long)]
        input: PathBuf,
    },
}

fn read(path: &Path) -> Result<Vec<u8>, ServerError> {
    std::fs::read(path).map_err(|e| ServerError::Usage(format!("{}: {e}", path.display())))
}

fn refused(err: shouhu_plugins::PluginError) -> ServerError {
    ServerError::Api {
        code: err.code().to_owned(),
        message: err.to_string(),
    }
}

fn check(module: &Path, manifest: &Path) -> Result<(PluginHost, Manifest, Vec<u8>), ServerError> {
    let host = PluginHost::new(HostConfig::default()).map_err(refused)?;
    let bytes = read(module)?;
    let manifest = Manifest::parse_bytes(&read(manifest)?).map_err(refused)?;
    shouhu_extensions::check_input_query(&manifest.input.query)
        .map_err(|m| refused(shouhu_plugins::PluginError::Invalid(m)))?;
    host.prepare(&bytes).map_err(refused)?;
    Ok((host, manifest, bytes))
}

pub async fn run(action: PluginAction) -> Result<(), ServerError> {
    // Compiling and running WebAssembly blocks; keep it off the async workers
    // as the server does.
    tokio::task::spawn_blocking(move || run_blocking(action))
        .await
        .map_err(|e| ServerError::Usage(format!("the plugin task failed: {e}")))?
}

fn run_blocking(action: PluginAction) -> Result<(), ServerError> {
    match action {
        PluginAction::Check { module, manifest } => {
            let (_, manifest, bytes) = check(&module, &manifest)?;
            println!(
                "ok: {} {} ({}), abi {}, {} bytes, sha256 {}",
                manifest.id,
                manifest.version,
                manifest.kind.as_str(),
                manifest.abi,
                bytes.len(),
                hex_sha256(&bytes)
            );
            Ok(())
        }
        PluginAction::Run {
            module,
            manifest,
            input,
        } => {
            let (host, manifest, bytes) = check(&module, &manifest)?;
            let input: serde_json::Value = serde_json::from_slice(&read(&input)?)
                .map_err(|e| ServerError::Usage(format!("{}: not JSON: {e}", input.display())))?;
            let plugin = host.prepare(&bytes).map_err(refused)?;
            let label = format!("{}@{}", manifest.id, manifest.version);
            let outcome = host
                .invoke_json(&label, &manifest, &plugin, &input)
                .map_err(refused)?;
            let pretty = serde_json::to_string_pretty(&outcome.output)
                .map_err(|e| ServerError::Usage(e.to_string()))?;
            println!("{pretty}");
            if !outcome.log.is_empty() {
                eprintln!("log: {}", outcome.log.trim_end());
            }
            eprintln!(
                "fuel used: {} of {}; duration: {} µs; the output matches the {} output schema",
                outcome.fuel_used,
                manifest.limits.fuel,
                outcome.duration.as_micros(),
                manifest.kind.as_str(),
            );
            Ok(())
        }
    }
}

fn hex_sha256(bytes: &[u8]) -> String {
    PluginHost::sha256(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

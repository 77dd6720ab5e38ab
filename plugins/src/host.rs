//! The engine, the cache of compiled modules, and one sandboxed call.
//!
//! A module is validated and compiled once per SHA-256 and kept; each call
//! then gets a fresh `Store` (nothing survives from one call to the next),
//! with fuel for its instruction budget, a [`ResourceLimiter`] for its memory
//! cap and an epoch deadline for its wall-clock time. A background thread
//! advances the engine's epoch every [`HostConfig::epoch_tick`]; wasmtime
//! checks the deadline at function entries and loop heads, which is enough
//! because none of the host calls a plugin can make ever blocks.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;
use sha2::{Digest, Sha256};
use wasmtime::{
    Config, Engine, ExternType, InstancePre, Linker, Module, ResourceLimiter, Store, Trap, ValType,
};

use crate::schema::{self, Direction};
use crate::wasi::{self, Exit, OutputTooLarge};
use crate::{eligibility, Kind, Limits, Manifest, PluginError};

/// The largest module accepted.
pub const MAX_MODULE_BYTES: usize = 1 << 20;
/// How much of a plugin's stderr is kept for its log.
pub const MAX_LOG_BYTES: usize = 4 << 10;
/// The WebAssembly stack of one call. Deep recursion traps here, long
/// before it could reach the native stack of the thread running it.
const MAX_WASM_STACK: usize = 512 << 10;

/// How the host is set up; the defaults suit the server.
#[derive(Clone, Debug)]
pub struct HostConfig {
    /// How often the epoch advances: the granularity of deadlines.
    pub epoch_tick: Duration,
    /// How many compiled modules are kept.
    pub max_cached_modules: usize,
    /// How many calls may run at once; further calls wait their turn, so
    /// plugins can never take every thread of the blocking pool.
    pub max_concurrent_calls: usize,
}

impl Default for HostConfig {
    fn default() -> Self {
        HostConfig {
            epoch_tick: Duration::from_millis(5),
            max_cached_modules: 256,
            max_concurrent_calls: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(2)
                .max(2),
        }
    }
}

/// What a call's store holds: its pipes, its memory cap, its random stream.
pub struct CallState {
    pub(crate) stdin: Vec<u8>,
    pub(crate) stdin_pos: usize,
    pub(crate) stdout: Vec<u8>,
    pub(crate) max_output: usize,
    pub(crate) stderr: Vec<u8>,
    pub(crate) max_log: usize,
    pub(crate) random: u64,
    limiter: MemoryCap,
}

/// Caps linear memory and tables, and remembers that it refused: a refused
/// `memory.grow` reaches the guest as -1, and whatever the guest does next
/// (trap, abort, exit 1) must still be reported as a memory fault.
struct MemoryCap {
    max_bytes: usize,
    refused: bool,
}

/// Table elements a plugin may have; C function-pointer tables are tiny.
const MAX_TABLE_ELEMENTS: usize = 100_000;

impl ResourceLimiter for MemoryCap {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.max_bytes {
            self.refused = true;
            return Ok(false);
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > MAX_TABLE_ELEMENTS {
            self.refused = true;
            return Ok(false);
        }
        Ok(true)
    }

    fn instances(&self) -> usize {
        1
    }

    fn tables(&self) -> usize {
        2
    }

    fn memories(&self) -> usize {
        1
    }
}

/// A validated, compiled module, ready to instantiate.
pub struct CompiledPlugin {
    sha256: [u8; 32],
    size: usize,
    pre: InstancePre<CallState>,
}

impl CompiledPlugin {
    pub fn sha256(&self) -> [u8; 32] {
        self.sha256
    }

    pub fn sha256_hex(&self) -> String {
        hex::encode(self.sha256)
    }

    pub fn size(&self) -> usize {
        self.size
    }
}

impl std::fmt::Debug for CompiledPlugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CompiledPlugin")
            .field("sha256", &self.sha256_hex())
            .field("size", &self.size)
            .finish()
    }
}

/// What one successful call produced.
#[derive(Clone, Debug)]
pub struct Outcome {
    /// The plugin's stdout, parsed.
    pub output: Value,
    /// The first [`MAX_LOG_BYTES`] of its stderr, lossily decoded.
    pub log: String,
    pub fuel_used: u64,
    pub duration: Duration,
}

/// A call's stdout before any ABI reads it.
struct RawOutcome {
    stdout: Vec<u8>,
    log: String,
    fuel_used: u64,
    duration: Duration,
}

/// What one successful `assistance-eligibility` call decided.
#[derive(Clone, Debug)]
pub struct Decided {
    pub decisions: eligibility::Decisions,
    pub log: String,
    pub fuel_used: u64,
    pub duration: Duration,
}

struct Inner {
    engine: Engine,
    linker: Linker<CallState>,
    cache: Mutex<HashMap<[u8; 32], Arc<CompiledPlugin>>>,
    config: HostConfig,
    calls: tokio::sync::Semaphore,
}

/// The plugin host. Cheap to clone; clones share the engine and the cache.
#[derive(Clone)]
pub struct PluginHost {
    inner: Arc<Inner>,
}

impl PluginHost {
    /// How many calls this host runs at once ([`HostConfig::max_concurrent_calls`]).
    pub fn max_concurrent_calls(&self) -> usize {
        self.inner.config.max_concurrent_calls.max(1)
    }

    pub fn new(config: HostConfig) -> Result<PluginHost, PluginError> {
        let mut wasm = Config::new();
        wasm.consume_fuel(true)
            .epoch_interruption(true)
            .max_wasm_stack(MAX_WASM_STACK)
            // A trap's backtrace is for debugging wasmtime, not for callers,
            // and collecting it costs every faulting call.
            .wasm_backtrace_max_frames(None);
        let engine = Engine::new(&wasm).map_err(|e| PluginError::Host(e.to_string()))?;
        let mut linker = Linker::new(&engine);
        wasi::add_to_linker(&mut linker).map_err(|e| PluginError::Host(e.to_string()))?;
        spawn_ticker(&engine, config.epoch_tick)?;
        let calls = tokio::sync::Semaphore::new(config.max_concurrent_calls.max(1));
        Ok(PluginHost {
            inner: Arc::new(Inner {
                engine,
                linker,
                cache: Mutex::new(HashMap::new()),
                config,
                calls,
            }),
        })
    }

    /// SHA-256 of a module, as stored beside it.
    pub fn sha256(bytes: &[u8]) -> [u8; 32] {
        Sha256::digest(bytes).into()
    }

    /// Validates and compiles a module, or finds it compiled already.
    ///
    /// Refused with PLUGIN_INVALID, naming the rule: larger than 1 MiB, not
    /// WebAssembly, no `_start` or no exported memory, or an import outside
    /// the allow-list of [`crate::wasi`].
    pub fn prepare(&self, bytes: &[u8]) -> Result<Arc<CompiledPlugin>, PluginError> {
        if bytes.len() > MAX_MODULE_BYTES {
            return Err(PluginError::invalid(format_args!(
                "the module is {} bytes, more than the limit of {MAX_MODULE_BYTES} (1 MiB)",
                bytes.len()
            )));
        }
        let sha256 = Self::sha256(bytes);
        if let Some(found) = self.lock_cache().get(&sha256) {
            return Ok(found.clone());
        }
        let module = Module::new(&self.inner.engine, bytes).map_err(|e| {
            PluginError::invalid(format_args!("not a valid WebAssembly module: {e}"))
        })?;
        check_imports(&module)?;
        check_exports(&module)?;
        let pre = self
            .inner
            .linker
            .instantiate_pre(&module)
            .map_err(|e| PluginError::invalid(format_args!("the module cannot link: {e}")))?;
        let compiled = Arc::new(CompiledPlugin {
            sha256,
            size: bytes.len(),
            pre,
        });
        let mut cache = self.lock_cache();
        if cache.len() >= self.inner.config.max_cached_modules {
            // Any entry will do: a module evicted by mistake is compiled
            // again on its next call, which costs time, not correctness.
            if let Some(key) = cache.keys().next().copied() {
                cache.remove(&key);
            }
        }
        cache.insert(sha256, compiled.clone());
        Ok(compiled)
    }

    /// Checks a module and its manifest together, as an upload is checked.
    pub fn check(
        &self,
        module: &[u8],
        manifest: &[u8],
    ) -> Result<(Manifest, Arc<CompiledPlugin>), PluginError> {
        let manifest = Manifest::parse_bytes(manifest)?;
        let compiled = self.prepare(module)?;
        Ok((manifest, compiled))
    }

    /// Whether a module of this hash is compiled and cached.
    pub fn is_cached(&self, sha256: &[u8; 32]) -> bool {
        self.lock_cache().contains_key(sha256)
    }

    fn lock_cache(&self) -> std::sync::MutexGuard<'_, HashMap<[u8; 32], Arc<CompiledPlugin>>> {
        // A panic while holding this lock cannot leave the map half-changed
        // (each operation is one insert or remove), so a poisoned lock is
        // safe to reuse.
        self.inner
            .cache
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Runs a module once on the calling thread: stdin is `input`, stdout
    /// must be one JSON document. No schema is applied; see [`Self::invoke`].
    pub fn run(
        &self,
        plugin: &CompiledPlugin,
        input: &[u8],
        limits: &Limits,
    ) -> Result<Outcome, PluginError> {
        let raw = self.run_raw(plugin, input, limits)?;
        if raw.stdout.is_empty() {
            return Err(PluginError::BadOutput("the plugin wrote nothing".into()));
        }
        let output: Value = serde_json::from_slice(&raw.stdout)
            .map_err(|e| PluginError::BadOutput(format!("not one JSON document: {e}")))?;
        Ok(Outcome {
            output,
            log: raw.log,
            fuel_used: raw.fuel_used,
            duration: raw.duration,
        })
    }

    /// Runs a module once on the calling thread and returns its stdout as
    /// it wrote it, whatever the ABI.
    fn run_raw(
        &self,
        plugin: &CompiledPlugin,
        input: &[u8],
        limits: &Limits,
    ) -> Result<RawOutcome, PluginError> {
        limits.check()?;
        if input.len() > limits.max_input_bytes {
            return Err(PluginError::InputTooLarge {
                size: input.len(),
                limit: limits.max_input_bytes,
            });
        }
        let started = Instant::now();
        let state = CallState {
            stdin: input.to_vec(),
            stdin_pos: 0,
            stdout: Vec::new(),
            max_output: limits.max_output_bytes,
            stderr: Vec::new(),
            max_log: MAX_LOG_BYTES,
            random: 0x9E37_79B9_7F4A_7C15,
            limiter: MemoryCap {
                max_bytes: usize::try_from(limits.memory_bytes()).unwrap_or(usize::MAX),
                refused: false,
            },
        };
        let mut store = Store::new(&self.inner.engine, state);
        store.limiter(|state| &mut state.limiter);
        store
            .set_fuel(limits.fuel)
            .map_err(|e| PluginError::Host(e.to_string()))?;
        let tick_ms = self.inner.config.epoch_tick.as_millis().max(1) as u64;
        // One tick more than the division gives, because the tick in
        // progress may be nearly over when the call starts.
        store.set_epoch_deadline(limits.timeout_ms.div_ceil(tick_ms) + 1);
        store.epoch_deadline_trap();

        let result = plugin.pre.instantiate(&mut store).and_then(|instance| {
            let start = instance.get_typed_func::<(), ()>(&mut store, "_start")?;
            start.call(&mut store, ())
        });
        let fuel_used = limits.fuel - store.get_fuel().unwrap_or(0);
        let state = store.into_data();
        if let Err(err) = result {
            classify(&err, &state, limits)?;
        }
        Ok(RawOutcome {
            stdout: state.stdout,
            log: String::from_utf8_lossy(&state.stderr).into_owned(),
            fuel_used,
            duration: started.elapsed(),
        })
    }

    /// Runs a plugin of an extension point: the input must match the
    /// extension point's input schema (a host fault if not), the output its
    /// output schema (PLUGIN_BAD_OUTPUT if not). Every fault is logged once
    /// at INFO with `label` naming the plugin.
    pub fn invoke(
        &self,
        label: &str,
        kind: Kind,
        plugin: &CompiledPlugin,
        input: &Value,
        limits: &Limits,
    ) -> Result<Outcome, PluginError> {
        let result = schema::check(kind, Direction::Input, input)
            .map_err(PluginError::BadInput)
            .and_then(|()| {
                let bytes =
                    serde_json::to_vec(input).map_err(|e| PluginError::Host(e.to_string()))?;
                self.run(plugin, &bytes, limits)
            })
            .and_then(|outcome| {
                schema::check(kind, Direction::Output, &outcome.output)
                    .map_err(PluginError::BadOutput)?;
                Ok(outcome)
            });
        log_call(label, result.as_ref().map(|o| (o.fuel_used, o.duration)));
        result
    }

    /// Runs a plugin on an input document in ABI 1's JSON shape, whatever
    /// ABI its manifest speaks, and answers in that shape: how a dry run
    /// and `shouhu plugin run` treat every plugin alike. An ABI 2 plugin
    /// gets the document's minors as records, and its decisions come back
    /// as ABI 1 JSON.
    pub fn invoke_json(
        &self,
        label: &str,
        manifest: &Manifest,
        plugin: &CompiledPlugin,
        input: &Value,
    ) -> Result<Outcome, PluginError> {
        if manifest.abi == 1 {
            return self.invoke(label, manifest.kind, plugin, input, &manifest.limits);
        }
        // The document may say either ABI: it is ABI 1's shape either way.
        let mut doc = input.clone();
        if doc["abi"] == 2 {
            doc["abi"] = Value::from(1);
        }
        schema::check(manifest.kind, Direction::Input, &doc).map_err(PluginError::BadInput)?;
        // The document is held to the limit an ABI 1 plugin's input would
        // be: the records alone leave out the minors' ids.
        let size = serde_json::to_vec(&doc).map_or(usize::MAX, |d| d.len());
        if size > manifest.limits.max_input_bytes {
            return Err(PluginError::InputTooLarge {
                size,
                limit: manifest.limits.max_input_bytes,
            });
        }
        let (header, minors) = eligibility::split_input(&doc);
        let bytes = eligibility::write_input(manifest.abi, header, &minors)?;
        let ids: Vec<&str> = minors.iter().map(|m| m.id.as_str()).collect();
        let decided = self.decide(label, manifest, plugin, &bytes, &ids)?;
        Ok(Outcome {
            output: decided.decisions.to_json(&ids),
            log: decided.log,
            fuel_used: decided.fuel_used,
            duration: decided.duration,
        })
    }

    /// Runs an `assistance-eligibility` plugin on `input`, written by
    /// [`eligibility::write_input`] for the minors `ids` in the ABI its
    /// manifest speaks; the answer must hold one decision per minor.
    pub fn decide<S: AsRef<str>>(
        &self,
        label: &str,
        manifest: &Manifest,
        plugin: &CompiledPlugin,
        input: &[u8],
        ids: &[S],
    ) -> Result<Decided, PluginError> {
        let result = self.decide_unlogged(manifest, plugin, input, ids);
        log_call(label, result.as_ref().map(|d| (d.fuel_used, d.duration)));
        result
    }

    fn decide_unlogged<S: AsRef<str>>(
        &self,
        manifest: &Manifest,
        plugin: &CompiledPlugin,
        input: &[u8],
        ids: &[S],
    ) -> Result<Decided, PluginError> {
        let kind = Kind::AssistanceEligibility;
        if manifest.kind != kind {
            return Err(PluginError::Host(format!(
                "{} serves {}, not {}",
                manifest.id,
                manifest.kind.as_str(),
                kind.as_str()
            )));
        }
        if manifest.abi == 1 {
            let outcome = self.run(plugin, input, &manifest.limits)?;
            schema::check(kind, Direction::Output, &outcome.output)
                .map_err(PluginError::BadOutput)?;
            return Ok(Decided {
                decisions: eligibility::Decisions::from_json(&outcome.output, ids)?,
                log: outcome.log,
                fuel_used: outcome.fuel_used,
                duration: outcome.duration,
            });
        }
        let raw = self.run_raw(plugin, input, &manifest.limits)?;
        Ok(Decided {
            decisions: eligibility::decode(
                &raw.stdout,
                ids.len(),
                manifest.limits.max_output_bytes,
            )?,
            log: raw.log,
            fuel_used: raw.fuel_used,
            duration: raw.duration,
        })
    }

    /// [`Self::invoke_json`] on the blocking pool, at most
    /// [`HostConfig::max_concurrent_calls`] at a time, so that no async
    /// worker ever waits on WebAssembly.
    pub async fn invoke_blocking(
        &self,
        label: String,
        manifest: Manifest,
        plugin: Arc<CompiledPlugin>,
        input: Value,
    ) -> Result<Outcome, PluginError> {
        let host = self.clone();
        self.blocking(move || host.invoke_json(&label, &manifest, &plugin, &input))
            .await
    }

    /// [`Self::decide`] on the blocking pool, as [`Self::invoke_blocking`].
    pub async fn decide_blocking(
        &self,
        label: String,
        manifest: Manifest,
        plugin: Arc<CompiledPlugin>,
        input: Arc<Vec<u8>>,
        ids: Arc<Vec<String>>,
    ) -> Result<Decided, PluginError> {
        let host = self.clone();
        self.blocking(move || host.decide(&label, &manifest, &plugin, &input, &ids))
            .await
    }

    async fn blocking<T: Send + 'static>(
        &self,
        call: impl FnOnce() -> Result<T, PluginError> + Send + 'static,
    ) -> Result<T, PluginError> {
        let _permit = self
            .inner
            .calls
            .acquire()
            .await
            .map_err(|e| PluginError::Host(e.to_string()))?;
        tokio::task::spawn_blocking(call)
            .await
            .map_err(|e| PluginError::Host(format!("the plugin task failed: {e}")))?
    }

    /// [`Self::prepare`] on the blocking pool: compiling a large module
    /// takes long enough to stall an async worker.
    pub async fn prepare_blocking(
        &self,
        bytes: Arc<Vec<u8>>,
    ) -> Result<Arc<CompiledPlugin>, PluginError> {
        let sha256 = Self::sha256(&bytes);
        if let Some(found) = self.lock_cache().get(&sha256) {
            return Ok(found.clone());
        }
        let host = self.clone();
        tokio::task::spawn_blocking(move || host.prepare(&bytes))
            .await
            .map_err(|e| PluginError::Host(format!("the compile task failed: {e}")))?
    }
}

/// The one log line of a call: DEBUG when it answered, INFO when it failed.
fn log_call(label: &str, result: Result<(u64, Duration), &PluginError>) {
    match result {
        Ok((fuel, duration)) => tracing::debug!(
            plugin = label,
            fuel,
            duration_us = duration.as_micros() as u64,
            "plugin call"
        ),
        Err(err) => tracing::info!(
            plugin = label,
            error.code = err.code(),
            error.message = %err,
            "plugin call failed"
        ),
    }
}

/// Turns a failed instantiation or `_start` into the error the caller
/// sees, or into success for `proc_exit(0)`.
fn classify(err: &wasmtime::Error, state: &CallState, limits: &Limits) -> Result<(), PluginError> {
    let memory = || PluginError::MemoryLimit {
        limit_bytes: limits.memory_bytes(),
    };
    if let Some(Exit(status)) = err.downcast_ref::<Exit>() {
        return match status {
            0 => Ok(()),
            _ if state.limiter.refused => Err(memory()),
            _ => Err(PluginError::Trap(format!("exited with status {status}"))),
        };
    }
    if let Some(OutputTooLarge(limit)) = err.downcast_ref::<OutputTooLarge>() {
        return Err(PluginError::BadOutput(format!(
            "more than {limit} bytes of output"
        )));
    }
    match err.downcast_ref::<Trap>() {
        Some(Trap::OutOfFuel) => Err(PluginError::FuelExhausted { fuel: limits.fuel }),
        Some(Trap::Interrupt) => Err(PluginError::Timeout {
            timeout_ms: limits.timeout_ms,
        }),
        _ if state.limiter.refused => Err(memory()),
        Some(Trap::StackOverflow) => Err(PluginError::Trap("stack overflow".into())),
        Some(trap) => Err(PluginError::Trap(trap.to_string())),
        None => Err(PluginError::Trap(err.to_string())),
    }
}

fn check_imports(module: &Module) -> Result<(), PluginError> {
    let allowed = wasi::allowed();
    for import in module.imports() {
        let name = format!("{}.{}", import.module(), import.name());
        if import.module() != wasi::MODULE {
            return Err(PluginError::invalid(format_args!(
                "the import {name} is not allowed: a plugin may import only from {}",
                wasi::MODULE
            )));
        }
        let Some((_, params, results)) = allowed.iter().find(|(n, _, _)| *n == import.name())
        else {
            let names: Vec<&str> = allowed.iter().map(|(n, _, _)| *n).collect();
            return Err(PluginError::invalid(format_args!(
                "the import {name} is not allowed: a plugin has no file system, network, \
                 environment or real clock; the allowed imports are {}",
                names.join(", ")
            )));
        };
        let ExternType::Func(ty) = import.ty() else {
            return Err(PluginError::invalid(format_args!(
                "the import {name} must be a function"
            )));
        };
        let same = |want: &[ValType], have: Vec<ValType>| {
            want.len() == have.len() && want.iter().zip(&have).all(|(a, b)| ValType::eq(a, b))
        };
        if !same(params, ty.params().collect()) || !same(results, ty.results().collect()) {
            return Err(PluginError::invalid(format_args!(
                "the import {name} has the wrong signature: {ty}"
            )));
        }
    }
    Ok(())
}

fn check_exports(module: &Module) -> Result<(), PluginError> {
    match module.get_export("_start") {
        Some(ExternType::Func(ty)) if ty.params().len() == 0 && ty.results().len() == 0 => {}
        Some(_) => {
            return Err(PluginError::invalid(
                "the export _start must be a function without parameters or results",
            ))
        }
        None => {
            return Err(PluginError::invalid(
                "the module does not export _start: build it as a WASI command",
            ))
        }
    }
    match module.get_export("memory") {
        Some(ExternType::Memory(_)) => Ok(()),
        _ => Err(PluginError::invalid(
            "the module does not export its memory as \"memory\"",
        )),
    }
}

/// Advances the engine's epoch until the engine is dropped.
fn spawn_ticker(engine: &Engine, tick: Duration) -> Result<(), PluginError> {
    let weak = engine.weak();
    std::thread::Builder::new()
        .name("plugin-epoch".into())
        .spawn(move || loop {
            std::thread::sleep(tick);
            match weak.upgrade() {
                Some(engine) => engine.increment_epoch(),
                None => break,
            }
        })
        .map(drop)
        .map_err(|e| PluginError::Host(format!("the epoch thread could not start: {e}")))
}

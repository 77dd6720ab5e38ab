//! What one call to an empty plugin costs the host: a fresh store, an
//! instance, `_start`, the output parsed as JSON. Prints p50, p90 and p99
//! over many calls on one thread; the target is a p50 under 50 µs.
//!
//! `cargo bench -p shouhu-plugins --bench call_overhead`

use std::time::{Duration, Instant};

use shouhu_plugins::{HostConfig, Limits, PluginHost};

const CALLS: usize = 20_000;

fn main() {
    let module = wat::parse_file(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/empty.wat"
    ))
    .expect("the empty fixture compiles");
    let host = PluginHost::new(HostConfig::default()).expect("host");
    let plugin = host.prepare(&module).expect("prepare");
    let limits = Limits::default();
    // Warm up the allocator and the instance machinery.
    for _ in 0..1_000 {
        host.run(&plugin, b"{}", &limits).expect("call");
    }
    let mut times: Vec<Duration> = Vec::with_capacity(CALLS);
    for _ in 0..CALLS {
        let started = Instant::now();
        let outcome = host.run(&plugin, b"{}", &limits).expect("call");
        times.push(started.elapsed());
        assert!(outcome.output.is_object());
    }
    times.sort_unstable();
    let at = |q: f64| times[((times.len() as f64 * q) as usize).min(times.len() - 1)];
    println!(
        "empty plugin, {CALLS} calls on one thread: p50 {:.1} µs, p90 {:.1} µs, p99 {:.1} µs",
        at(0.50).as_secs_f64() * 1e6,
        at(0.90).as_secs_f64() * 1e6,
        at(0.99).as_secs_f64() * 1e6,
    );
}

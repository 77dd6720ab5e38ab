//! Screening throughput: 100,000 generated minors decided by the C
//! eligibility examples in batches, as a screening hands them to a plugin,
//! on one thread; beside it, the same rule written in Rust and run in the
//! server's process, as the baseline. The target is at least 20,000
//! evaluations a second through the plugin, within ten times of native.
//!
//! Two plugins, one rule: `c-eligibility-abi2` reads and writes records
//! (ABI 2, what a screening is for) and `c-eligibility` JSON (ABI 1). The
//! plugin side is everything a screening pays per batch beyond reading the
//! ledger and recording the call: writing the input in the plugin's ABI
//! (for ABI 1 also checking it against the schema), a fresh instance under
//! fuel and a deadline, the plugin's own work, and checking and reading
//! its answer into decisions with their reasons.
//!
//! ```sh
//! plugins/examples/build.sh
//! cargo bench -p shouhu-plugins --bench screening
//! ```

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Map, Value};
use shouhu_plugins::{eligibility, CompiledPlugin, HostConfig, Manifest, PluginHost};

const MINORS: usize = 100_000;
/// The batch a screening uses (`shouhu_assistance::SCREENING_BATCH`).
const BATCH: usize = 500;

const CATEGORIES: [&str; 9] = [
    "orphan",
    "abandoned",
    "street_begging",
    "hiv",
    "trafficked",
    "parent_detained",
    "abused",
    "de_facto_unsupported",
    "ill_disabled_poor",
];
const ECONOMIC: [&str; 4] = ["none", "dibao", "dibao_edge", "tekun"];

/// One minor as a screening passes it.
struct Minor {
    id: String,
    age: u32,
    sex: &'static str,
    categories: Vec<&'static str>,
    economic_status: &'static str,
}

/// A fixed pseudo-random stream (xorshift), so every run decides on the
/// same minors.
struct Stream(u64);

impl Stream {
    fn next(&mut self, below: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % below
    }
}

fn minors() -> Vec<Minor> {
    let mut s = Stream(0x5eed_1234_abcd_0001);
    (0..MINORS)
        .map(|i| {
            let n = 1 + s.next(2) as usize;
            let categories = (0..n).map(|_| CATEGORIES[s.next(9) as usize]).collect();
            Minor {
                id: format!("01900000-0000-7000-8000-{i:012}"),
                age: s.next(18) as u32,
                sex: if s.next(2) == 0 { "male" } else { "female" },
                categories,
                economic_status: ECONOMIC[s.next(4) as usize],
            }
        })
        .collect()
}

/// The example's rule, in Rust, with the ABI 2 example's reasons: school
/// age, in difficulty, and in need.
fn eligible_native(m: &Minor) -> (bool, Vec<&'static str>) {
    let mut reasons = Vec::with_capacity(4);
    let age_ok = (6..=17).contains(&m.age);
    reasons.push(if age_ok {
        "age is within 6-17"
    } else {
        "age is outside 6-17"
    });
    let in_difficulty = !m.categories.is_empty();
    reasons.push(if in_difficulty {
        "has a difficulty category"
    } else {
        "no difficulty category"
    });
    let poor = matches!(m.economic_status, "dibao" | "dibao_edge" | "tekun");
    if poor {
        reasons.push("household is on dibao, dibao_edge or tekun");
    }
    let exempt = m
        .categories
        .iter()
        .any(|c| *c == "orphan" || *c == "de_facto_unsupported");
    if exempt {
        reasons.push("orphan or de facto unsupported: no means test");
    }
    if !poor && !exempt {
        reasons.push(
            "household is not on dibao, dibao_edge or tekun, and no orphan or \
             de_facto_unsupported category",
        );
    }
    (age_ok && in_difficulty && (poor || exempt), reasons)
}

/// The call's context, as a screening writes it.
fn header() -> Map<String, Value> {
    let mut header = Map::new();
    header.insert("asOf".into(), json!("2026-12-04"));
    header.insert(
        "programme".into(),
        json!({"id": "p", "name": "助学金", "category": "education",
               "benefit": {"amountCents": 60000, "period": "quarter"}}),
    );
    header.insert("data".into(), Value::Null);
    header
}

/// The minors as a screening passes them to the host.
fn typed(minors: &[Minor]) -> Vec<eligibility::Minor> {
    minors
        .iter()
        .map(|m| eligibility::Minor {
            id: m.id.clone(),
            age: Some(m.age),
            sex: Some(m.sex.to_owned()),
            categories: m.categories.iter().map(|c| (*c).to_owned()).collect(),
            economic_status: Some(m.economic_status.to_owned()),
            disability_grade: None,
        })
        .collect()
}

/// A built example and its manifest, or exit with how to build it.
fn example(host: &PluginHost, name: &str) -> (Arc<CompiledPlugin>, Manifest) {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/examples");
    let Ok(module) = std::fs::read(format!("{dir}/out/{name}.wasm")) else {
        eprintln!("plugins/examples/out/{name}.wasm is missing: run plugins/examples/build.sh");
        std::process::exit(1);
    };
    let manifest = std::fs::read_to_string(format!("{dir}/{name}/manifest.toml"))
        .expect("the example's manifest");
    let manifest = Manifest::parse(&manifest).expect("a valid manifest");
    (host.prepare(&module).expect("prepare"), manifest)
}

/// Screens every minor through one plugin, batch by batch; returns the
/// time, the fuel and every batch's decisions.
fn screen(
    host: &PluginHost,
    (plugin, manifest): &(Arc<CompiledPlugin>, Manifest),
    minors: &[eligibility::Minor],
) -> (Duration, u64, Vec<eligibility::Decisions>) {
    let started = Instant::now();
    let mut fuel = 0u64;
    let mut all = Vec::with_capacity(minors.len() / BATCH + 1);
    for batch in minors.chunks(BATCH) {
        let input = eligibility::write_input(manifest.abi, header(), batch).expect("an input");
        let ids: Vec<&str> = batch.iter().map(|m| m.id.as_str()).collect();
        let decided = host
            .decide("bench", manifest, plugin, &input, &ids)
            .expect("a call");
        assert_eq!(decided.decisions.len(), batch.len());
        fuel += decided.fuel_used;
        all.push(decided.decisions);
    }
    (started.elapsed(), fuel, all)
}

fn main() {
    let host = PluginHost::new(HostConfig::default()).expect("host");
    let records = example(&host, "c-eligibility-abi2");
    let json = example(&host, "c-eligibility");
    let minors = minors();
    // Built once, outside the timings: the ledger's read is not measured.
    let passed = typed(&minors);

    // Native: the rule over the same minors, in process.
    let started = Instant::now();
    let native: Vec<(bool, Vec<&str>)> = minors.iter().map(eligible_native).collect();
    let native_time = started.elapsed();
    let native_eligible = native.iter().filter(|(ok, _)| *ok).count();

    let rate = |d: Duration| MINORS as f64 / d.as_secs_f64();
    println!("{MINORS} minors, batches of {BATCH}, one thread; {native_eligible} eligible");
    println!(
        "native: {:.4} s, {:.0} evaluations/s",
        native_time.as_secs_f64(),
        rate(native_time)
    );
    for (name, plugin) in [("ABI 2 (records)", &records), ("ABI 1 (JSON)", &json)] {
        let (time, fuel, decided) = screen(&host, plugin, &passed);
        let mut eligible = 0usize;
        for (i, (ok, reasons)) in native.iter().enumerate() {
            let decisions = &decided[i / BATCH];
            let j = i % BATCH;
            assert_eq!(
                decisions.eligible(j),
                *ok,
                "the plugin and the rule disagree on {i}"
            );
            eligible += usize::from(*ok);
            if plugin.1.abi == 2 {
                let said: Vec<&str> = decisions.reasons(j).collect();
                assert_eq!(&said, reasons, "the plugin and the rule give other reasons");
            }
        }
        assert_eq!(eligible, native_eligible);
        // Not in the figure: the server then writes each batch's decisions
        // as JSON text into the call's record, beside the database insert.
        let started = Instant::now();
        for (batch, decisions) in passed.chunks(BATCH).zip(&decided) {
            let ids: Vec<&str> = batch.iter().map(|m| m.id.as_str()).collect();
            std::hint::black_box(decisions.to_json_string(&ids));
        }
        let record = started.elapsed();
        println!(
            "{name}: {:.3} s, {:.0} evaluations/s, {:.0} fuel per minor, \
             {:.1} x native; the records' JSON text afterwards: {:.3} s",
            time.as_secs_f64(),
            rate(time),
            fuel as f64 / MINORS as f64,
            time.as_secs_f64() / native_time.as_secs_f64(),
            record.as_secs_f64()
        );
    }
}

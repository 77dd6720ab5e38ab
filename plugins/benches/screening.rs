//! Screening throughput: 100,000 generated minors decided by the C
//! eligibility example (`plugins/examples/c-eligibility`) in batches, as a
//! screening hands them to a plugin, on one thread; beside it, the same
//! rule written in Rust and run in the server's process, as the baseline.
//! The target is at least 20,000 evaluations a second through the plugin,
//! within ten times of native.
//!
//! The plugin side is everything a screening pays per batch beyond reading
//! the ledger: building the input document, checking it against the
//! extension point's schema, a fresh instance under fuel and a deadline,
//! the plugin's own JSON work, and checking and reading its answer.
//!
//! ```sh
//! plugins/examples/build.sh
//! cargo bench -p shouhu-plugins --bench screening
//! ```

use std::time::Instant;

use serde_json::{json, Value};
use shouhu_plugins::{HostConfig, Kind, Manifest, PluginHost};

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

/// The example's rule, in Rust: school age, in difficulty, and in need.
fn eligible_native(m: &Minor) -> (bool, Vec<String>) {
    let mut reasons = Vec::with_capacity(3);
    let age_ok = (6..=17).contains(&m.age);
    reasons.push(if age_ok {
        format!("age {} is within 6-17", m.age)
    } else {
        format!("age {} is outside 6-17", m.age)
    });
    let in_difficulty = !m.categories.is_empty();
    let poor = matches!(m.economic_status, "dibao" | "dibao_edge" | "tekun");
    let unsupported = m
        .categories
        .iter()
        .any(|c| *c == "orphan" || *c == "de_facto_unsupported");
    let need = poor || unsupported;
    reasons.push(if need {
        "household is in need".to_owned()
    } else {
        "household is not in need".to_owned()
    });
    (age_ok && in_difficulty && need, reasons)
}

fn input(batch: &[Minor]) -> Value {
    let minors: Vec<Value> = batch
        .iter()
        .map(|m| {
            json!({
                "id": m.id,
                "age": m.age,
                "sex": m.sex,
                "categories": m.categories,
                "economicStatus": m.economic_status,
                "disabilityGrade": null,
            })
        })
        .collect();
    json!({
        "abi": 1,
        "kind": "assistance-eligibility",
        "asOf": "2026-12-04",
        "programme": {"id": "p", "name": "助学金", "category": "education",
                      "benefit": {"amountCents": 60000, "period": "quarter"}},
        "minors": minors,
        "data": null,
    })
}

fn main() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/examples");
    let Ok(module) = std::fs::read(format!("{dir}/out/c-eligibility.wasm")) else {
        eprintln!(
            "plugins/examples/out/c-eligibility.wasm is missing: run plugins/examples/build.sh"
        );
        std::process::exit(1);
    };
    let manifest = std::fs::read_to_string(format!("{dir}/c-eligibility/manifest.toml"))
        .expect("the example's manifest");
    let manifest = Manifest::parse(&manifest).expect("a valid manifest");
    let host = PluginHost::new(HostConfig::default()).expect("host");
    let plugin = host.prepare(&module).expect("prepare");
    let minors = minors();

    // Native: the rule over the same minors, in process.
    let started = Instant::now();
    let mut native_eligible = 0usize;
    for m in &minors {
        let (ok, reasons) = eligible_native(m);
        native_eligible += usize::from(ok);
        std::hint::black_box(reasons);
    }
    let native = started.elapsed();

    // The host's own JSON work per batch, without the plugin: building the
    // input, checking it against the schema and serialising it.
    let started = Instant::now();
    for batch in minors.chunks(BATCH) {
        let doc = input(batch);
        shouhu_plugins::schema::check(
            Kind::AssistanceEligibility,
            shouhu_plugins::Direction::Input,
            &doc,
        )
        .expect("a valid input");
        std::hint::black_box(serde_json::to_vec(&doc).expect("JSON"));
    }
    let host_json = started.elapsed();

    // Through the plugin, batch by batch, as a screening does.
    let started = Instant::now();
    let mut plugin_eligible = 0usize;
    let mut fuel = 0u64;
    for batch in minors.chunks(BATCH) {
        let doc = input(batch);
        let outcome = host
            .invoke(
                "bench",
                Kind::AssistanceEligibility,
                &plugin,
                &doc,
                &manifest.limits,
            )
            .expect("a call");
        fuel += outcome.fuel_used;
        let decisions = outcome.output["decisions"].as_array().expect("decisions");
        assert_eq!(decisions.len(), batch.len());
        plugin_eligible += decisions.iter().filter(|d| d["eligible"] == true).count();
    }
    let through = started.elapsed();
    assert_eq!(
        plugin_eligible, native_eligible,
        "the plugin and the native rule must agree"
    );

    let rate = |d: std::time::Duration| MINORS as f64 / d.as_secs_f64();
    println!("{MINORS} minors, batches of {BATCH}, one thread; {plugin_eligible} eligible");
    println!(
        "plugin: {:.2} s, {:.0} evaluations/s, {:.0} fuel per minor",
        through.as_secs_f64(),
        rate(through),
        fuel as f64 / MINORS as f64
    );
    println!(
        "  of which the host's input JSON: {:.2} s",
        host_json.as_secs_f64()
    );
    println!(
        "native: {:.4} s, {:.0} evaluations/s",
        native.as_secs_f64(),
        rate(native)
    );
    println!(
        "ratio native/plugin: {:.1}",
        through.as_secs_f64() / native.as_secs_f64()
    );
}

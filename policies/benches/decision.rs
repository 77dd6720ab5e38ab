//! Times a permission decision from the memo and from raw casbin with 100 tenants loaded.
//!
//! Run with `cargo bench -p shouhu-policies`; it prints the median and mean ns per decision.

use std::hint::black_box;
use std::time::{Duration, Instant};

use shouhu_policies::{Permission, PolicyEngine, BUILTIN_ROLES};

const TENANTS: usize = 100;
/// Memo decisions are timed in batches, since one takes less time than reading the clock.
const MEMO_BATCH: usize = 1_000;
const MEMO_BATCHES: usize = 2_000;
/// casbin scans every policy line per decision, so far fewer of those are timed.
const CASBIN_SAMPLES: usize = 300;

/// A fixed mix of requests: every tenant, built-in and custom roles, allowed and denied.
fn requests(tenants: &[String], roles: &[String]) -> Vec<(String, String, Permission)> {
    let perms = Permission::ALL;
    (0..4_096)
        .map(|i: usize| {
            // A cheap deterministic scatter so that consecutive requests hit different data.
            let h = i.wrapping_mul(2_654_435_761);
            let tenant = tenants[h % tenants.len()].clone();
            let role = roles[(h / 7) % roles.len()].clone();
            (tenant, role, perms[(h / 13) % perms.len()])
        })
        .collect()
}

/// Prints the median and mean of per-operation samples in nanoseconds.
fn report(name: &str, mut per_op_ns: Vec<f64>) {
    per_op_ns.sort_by(f64::total_cmp);
    let p50 = per_op_ns[per_op_ns.len() / 2];
    let mean = per_op_ns.iter().sum::<f64>() / per_op_ns.len() as f64;
    println!("{name:<28} p50 {p50:>12.1} ns/op   mean {mean:>12.1} ns/op");
}

fn main() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("tokio runtime");
    let mut engine = runtime
        .block_on(PolicyEngine::new())
        .expect("engine builds");
    let custom = [
        (
            "school_nurse",
            vec![Permission::MinorRead, Permission::MinorSensitive],
        ),
        (
            "data_clerk",
            vec![Permission::MinorImport, Permission::LedgerRead],
        ),
        (
            "auditor",
            vec![
                Permission::AuditRead,
                Permission::StatsRead,
                Permission::CaseRead,
            ],
        ),
    ];
    let custom: Vec<(String, Vec<Permission>)> = custom
        .into_iter()
        .map(|(name, perms)| (name.to_owned(), perms))
        .collect();
    let tenants: Vec<String> = (0..TENANTS).map(|i| format!("district_{i:03}")).collect();
    let started = Instant::now();
    for tenant in &tenants {
        runtime
            .block_on(engine.load_tenant(tenant, &custom))
            .expect("tenant loads");
    }
    println!(
        "loaded {} tenants in {:?}",
        engine.domain_count(),
        started.elapsed()
    );

    let mut roles: Vec<String> = BUILTIN_ROLES.iter().map(|r| r.name.to_owned()).collect();
    roles.extend(custom.iter().map(|(name, _)| name.clone()));
    let requests = requests(&tenants, &roles);

    let mut samples = Vec::with_capacity(MEMO_BATCHES);
    let mut allowed = 0usize;
    for batch in 0..MEMO_BATCHES {
        let offset = (batch * MEMO_BATCH) % requests.len();
        let started = Instant::now();
        for i in 0..MEMO_BATCH {
            let (tenant, role, perm) = &requests[(offset + i) % requests.len()];
            allowed += usize::from(engine.decide(black_box(tenant), black_box(role), *perm));
        }
        samples.push(started.elapsed().as_nanos() as f64 / MEMO_BATCH as f64);
    }
    report("PolicyEngine::decide (memo)", samples);

    let mut samples = Vec::with_capacity(CASBIN_SAMPLES);
    let deadline = Instant::now() + Duration::from_secs(60);
    for (tenant, role, perm) in requests.iter().take(CASBIN_SAMPLES) {
        let started = Instant::now();
        let answer = engine.enforce_uncached(black_box(tenant), black_box(role), *perm);
        samples.push(started.elapsed().as_nanos() as f64);
        allowed += usize::from(answer.expect("enforce"));
        if Instant::now() > deadline {
            break;
        }
    }
    report("casbin enforce (uncached)", samples);
    println!("({allowed} decisions allowed)");
}

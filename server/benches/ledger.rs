//! The difficulty ledger of one street, filtered by one category, first page (50 rows),
//! on a district with many minors: its latency through the real paths.
//!
//! Three ways of asking, each measured sequentially (one request at a time, so the
//! figures are latencies, not throughput):
//!
//! - `service`: `RegistryService::search` as the street's officer (masked, the read path
//!   that is never audited), the call the GraphQL resolver makes;
//! - `graphql`: the `minors` query executed by the schema in process (no HTTP), as that
//!   officer, selecting what a ledger screen shows;
//! - `centre`: the same page as the protection centre sees it (`under` the street,
//!   unmasked), which also appends an audit entry naming the 50 records.
//!
//! The data is not made here, because a million minors take minutes to write; make it once
//! with the CLI (see docs/benchmarks.md), then point the bench at the database through a
//! role that row-level security binds:
//!
//! ```sh
//! BENCH_DATABASE_URL=postgres://shouhu_bench@127.0.0.1:5432/shouhu_bench \
//!     cargo bench -p shouhu --bench ledger
//! ```
//!
//! Settings (environment): `BENCH_DATABASE_URL` (required; without it the bench says so and
//! does nothing), `BENCH_TENANT` (default `wuzhong`), `BENCH_STREET` (org-unit code, default
//! `320506001`), `BENCH_OFFICER` (default `changqiao`), `BENCH_CENTRE` (default `centre`),
//! `BENCH_CATEGORY` (default `ill_disabled_poor`), `BENCH_ITERATIONS` (default 500). The
//! accounts are the demo district's, with the demo password.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use shouhu::app::App;
use shouhu::demo::DEMO_PASSWORD;
use shouhu::AppConfig;
use shouhu_audit::Actor;
use shouhu_kernel::{Principal, RequestCtx, SystemClock, TenantId};
use shouhu_registry::model::Category;
use shouhu_registry::MinorFilter;

const WARM_UP: usize = 30;

const QUERY: &str = "query($f: MinorFilterInput) { minors(filter: $f, first: 50) {
    edges { cursor node { id name documentNumber sex birthDate age orgUnitId
                          categories { category label } guardians { relationship situation } } }
    pageInfo { hasNextPage endCursor } } }";

fn setting(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

/// Latency percentiles of one scenario.
fn report(name: &str, mut samples: Vec<Duration>, rows: usize) {
    samples.sort_unstable();
    let pick = |q: f64| {
        let index = ((samples.len() as f64 - 1.0) * q).round() as usize;
        samples[index.min(samples.len() - 1)]
    };
    let mean = samples.iter().sum::<Duration>() / samples.len().max(1) as u32;
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "| {name} | {} | {rows} | {:.2} ms | {:.2} ms | {:.2} ms | {:.2} ms |",
        samples.len(),
        ms(pick(0.5)),
        ms(pick(0.99)),
        ms(mean),
        ms(pick(1.0))
    );
}

async fn principal(app: &App, tenant: &str, username: &str) -> Arc<Principal> {
    let login = app
        .services
        .identity
        .login(tenant, username, DEMO_PASSWORD, "bench")
        .await
        .unwrap_or_else(|e| panic!("sign in as {username}: {}", e.message));
    app.services
        .identity
        .authenticate(&login.token)
        .await
        .unwrap_or_else(|e| panic!("authenticate {username}: {}", e.message))
}

#[tokio::main]
async fn main() {
    let Ok(url) = std::env::var("BENCH_DATABASE_URL") else {
        println!("ledger: set BENCH_DATABASE_URL to a database made as docs/benchmarks.md says");
        return;
    };
    let slug = setting("BENCH_TENANT", "wuzhong");
    let street_code = setting("BENCH_STREET", "320506001");
    let category = Category::parse(&setting("BENCH_CATEGORY", "ill_disabled_poor"))
        .expect("BENCH_CATEGORY is a category code");
    let iterations: usize = setting("BENCH_ITERATIONS", "500")
        .parse()
        .expect("BENCH_ITERATIONS is a number");

    let mut config = AppConfig::new(url);
    config.migrate_url = None;
    config.max_connections = 4;
    let app = App::start(&config, Arc::new(SystemClock))
        .await
        .expect("start (is the database migrated and the role bound by RLS?)");
    let services = &app.services;
    let tenant = services
        .tenancy
        .tenant_by_slug(&slug)
        .await
        .expect("tenants")
        .map(|t| TenantId(t.id))
        .expect("BENCH_TENANT exists");
    let street = {
        let tx = services.db.read(tenant).await.expect("transaction");
        let unit = services
            .tenancy
            .unit_by_code_in(&tx, &street_code)
            .await
            .expect("org units")
            .expect("BENCH_STREET exists");
        tx.commit().await.expect("commit");
        unit
    };
    let everyone = services
        .registry
        .counts(&Principal::system(tenant), &MinorFilter::default())
        .await
        .expect("counts");
    let in_street = services
        .registry
        .counts(
            &Principal::system(tenant),
            &MinorFilter {
                under: Some(street.id),
                category: Some(category),
                difficulty_only: true,
                ..MinorFilter::default()
            },
        )
        .await
        .expect("counts");
    println!(
        "ledger: {} minors in {slug}; {} of {} ({}) in category {}; {iterations} requests \
         per scenario after {WARM_UP} warm-up requests, one at a time",
        everyone.total,
        in_street.total,
        street.name,
        street_code,
        category.code()
    );
    println!();
    println!("| path | requests | rows | p50 | p99 | mean | max |");
    println!("| --- | --- | --- | --- | --- | --- | --- |");

    let officer = principal(&app, &slug, &setting("BENCH_OFFICER", "changqiao")).await;
    let centre = principal(&app, &slug, &setting("BENCH_CENTRE", "centre")).await;
    let filter = MinorFilter {
        category: Some(category),
        difficulty_only: true,
        ..MinorFilter::default()
    };

    let actor = Actor::of(&officer, "bench");
    let mut samples = Vec::with_capacity(iterations);
    let mut rows = 0;
    for i in 0..WARM_UP + iterations {
        let started = Instant::now();
        let page = services
            .registry
            .search(&officer, &actor, &filter, None, 51)
            .await
            .expect("search");
        if i >= WARM_UP {
            samples.push(started.elapsed());
        }
        rows = page.len().min(50);
    }
    report("service, street officer (masked)", samples, rows);

    let variables = json!({ "f": { "category": category_enum(category), "difficultyOnly": true } });
    let mut samples = Vec::with_capacity(iterations);
    for i in 0..WARM_UP + iterations {
        let mut ctx = RequestCtx::anonymous("bench");
        ctx.principal = Some(officer.clone());
        let request = async_graphql::Request::new(QUERY)
            .variables(async_graphql::Variables::from_json(variables.clone()))
            .data(ctx);
        let started = Instant::now();
        let response = app.schema.execute(request).await;
        if i >= WARM_UP {
            samples.push(started.elapsed());
        }
        assert!(response.errors.is_empty(), "{:?}", response.errors);
    }
    report("GraphQL `minors`, street officer (masked)", samples, rows);

    let under = MinorFilter {
        under: Some(street.id),
        ..filter.clone()
    };
    let actor = Actor::of(&centre, "bench");
    let mut samples = Vec::with_capacity(iterations);
    for i in 0..WARM_UP + iterations {
        let started = Instant::now();
        let page = services
            .registry
            .search(&centre, &actor, &under, None, 51)
            .await
            .expect("search");
        if i >= WARM_UP {
            samples.push(started.elapsed());
        }
        rows = page.len().min(50);
    }
    report(
        "service, centre under the street (unmasked, audited)",
        samples,
        rows,
    );
}

/// The GraphQL name of a category: its code in upper case.
fn category_enum(category: Category) -> String {
    category.code().to_ascii_uppercase()
}

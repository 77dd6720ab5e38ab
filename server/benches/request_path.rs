//! A load benchmark of the authenticated request path: the bearer-token
//! check, the permission check and one tenant-scoped query (`orgUnits`),
//! served over HTTP to 32 concurrent keep-alive connections, on SQLite and
//! on PostgreSQL.
//!
//! Run it in release with `cargo bench -p shouhu --bench request_path`.
//! `BENCH_SECONDS` sets the measured duration (default 10 s); a 2 s warm-up
//! precedes it. The PostgreSQL run needs a server at 127.0.0.1:5432 (see
//! `shouhu_migrations::testing`) and is skipped when none answers.
//!
//! No tracing subscriber is installed, so the server's one log line per
//! request costs next to nothing, as it would with logs filtered out.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use poem::listener::{Acceptor, Listener, TcpListener};
use shouhu_migrations::testing::TestDatabase;

/// How many client tasks, each with its own connection, send requests.
const CONCURRENCY: usize = 32;
/// How long requests run before any latency counts, so that pools and
/// caches are warm when measuring starts.
const WARM_UP: Duration = Duration::from_secs(2);
const DEFAULT_SECONDS: f64 = 10.0;
/// The street officer sees a small subtree, so the query returns a handful
/// of rows and the figures measure the request path rather than the payload.
const QUERY: &str = "{ orgUnits(first: 10) { edges { node { id code name } } } }";

/// What one backend's run measured.
struct Report {
    backend: &'static str,
    requests: usize,
    errors: usize,
    first_error: Option<String>,
    elapsed: Duration,
    latencies: Vec<Duration>,
}

/// What one client task saw during the measured window.
#[derive(Default)]
struct TaskResult {
    latencies: Vec<Duration>,
    errors: usize,
    first_error: Option<String>,
}

#[tokio::main]
async fn main() {
    let seconds = match std::env::var("BENCH_SECONDS") {
        Ok(v) => v
            .parse::<f64>()
            .ok()
            .filter(|s| s.is_finite() && *s > 0.0)
            .expect("BENCH_SECONDS must be a positive number of seconds"),
        Err(_) => DEFAULT_SECONDS,
    };
    let measured = Duration::from_secs_f64(seconds);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!(
        "request_path: {CONCURRENCY} concurrent keep-alive connections, {}s warm-up, \
         {seconds}s measured",
        WARM_UP.as_secs()
    );
    println!(
        "The load generator runs in the same process as the server on a {cores}-core \
         machine, so these figures are a lower bound."
    );

    let sqlite = TestDatabase::sqlite().await;
    print_report(&run(&sqlite, measured).await);
    drop(sqlite);

    match TestDatabase::postgres().await {
        Some(pg) => {
            print_report(&run(&pg, measured).await);
            drop(pg);
        }
        None => println!("\npostgres: skipped, no PostgreSQL server answered"),
    }
}

/// Serves a fresh app on one database, signs in and drives the load.
async fn run(db: &TestDatabase, measured: Duration) -> Report {
    let mut config = shouhu::AppConfig::new(db.url.clone());
    // The test database is already migrated, by its owner.
    config.migrate_url = None;
    // One pooled connection per client keeps the pool from being the
    // bottleneck being measured.
    config.max_connections = CONCURRENCY as u32;
    let app = shouhu::App::start_default(&config)
        .await
        .expect("start the app");
    shouhu::demo::ensure(&app.services)
        .await
        .expect("create the demo district");

    let acceptor = TcpListener::bind("127.0.0.1:0")
        .into_acceptor()
        .await
        .expect("bind a port");
    let addr: SocketAddr = *acceptor
        .local_addr()
        .first()
        .and_then(|a| a.as_socket_addr())
        .expect("a TCP address");
    let routes = shouhu::http::routes(app.clone());
    let server = tokio::spawn(poem::Server::new_with_acceptor(acceptor).run(routes));
    let url = format!("http://{addr}/graphql");

    let token = login(&url).await;

    let started = Instant::now();
    let measure_from = started + WARM_UP;
    let stop_at = measure_from + measured;
    let tasks: Vec<_> = (0..CONCURRENCY)
        .map(|_| tokio::spawn(client(url.clone(), token.clone(), measure_from, stop_at)))
        .collect();
    let mut report = Report {
        backend: db.kind,
        requests: 0,
        errors: 0,
        first_error: None,
        elapsed: Duration::ZERO,
        latencies: Vec::new(),
    };
    for task in tasks {
        let result = task.await.expect("a client task panicked");
        report.errors += result.errors;
        report.first_error = report.first_error.or(result.first_error);
        report.latencies.extend(result.latencies);
    }
    // Requests still in flight at the deadline finish after it, so the
    // window runs until the last of them rather than to the deadline.
    report.elapsed = measure_from.elapsed();
    report.requests = report.latencies.len() + report.errors;

    server.abort();
    // Closing the pool before the database is dropped lets PostgreSQL drop
    // it without terminating live sessions.
    app.services.db.raw().clone().close().await.ok();
    report
}

/// Signs in as the demo street officer and returns the bearer token.
async fn login(url: &str) -> String {
    let query = format!(
        "mutation {{ login(tenant: \"{}\", username: \"changqiao\", password: \"{}\") \
         {{ token }} }}",
        shouhu::demo::DEMO_SLUG,
        shouhu::demo::DEMO_PASSWORD
    );
    let answer: serde_json::Value = reqwest::Client::new()
        .post(url)
        .json(&serde_json::json!({ "query": query }))
        .send()
        .await
        .expect("send the login")
        .json()
        .await
        .expect("read the login answer");
    answer["data"]["login"]["token"]
        .as_str()
        .unwrap_or_else(|| panic!("login failed: {answer}"))
        .to_owned()
}

/// One client: sends requests on its own connection until `stop_at`,
/// recording those that start at or after `measure_from`.
async fn client(url: String, token: String, measure_from: Instant, stop_at: Instant) -> TaskResult {
    // A client per task with one idle connection gives each task its own
    // keep-alive connection, as 32 separate browsers or services would.
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(1)
        .build()
        .expect("build an HTTP client");
    let body = serde_json::json!({ "query": QUERY }).to_string();
    let auth = format!("Bearer {token}");
    let mut result = TaskResult::default();
    loop {
        let sent = Instant::now();
        if sent >= stop_at {
            break;
        }
        let outcome = request(&http, &url, &auth, &body).await;
        let took = sent.elapsed();
        if sent < measure_from {
            continue;
        }
        match outcome {
            Ok(()) => result.latencies.push(took),
            Err(e) => {
                result.errors += 1;
                result.first_error.get_or_insert(e);
            }
        }
    }
    result
}

/// Sends one query; an error unless the answer is 200 with data and no
/// `errors`.
async fn request(http: &reqwest::Client, url: &str, auth: &str, body: &str) -> Result<(), String> {
    let resp = http
        .post(url)
        .header("authorization", auth)
        .header("content-type", "application/json")
        .body(body.to_owned())
        .send()
        .await
        .map_err(|e| format!("transport: {e}"))?;
    let status = resp.status();
    let bytes = resp.bytes().await.map_err(|e| format!("body: {e}"))?;
    if status != reqwest::StatusCode::OK {
        return Err(format!(
            "HTTP {status}: {}",
            String::from_utf8_lossy(&bytes)
        ));
    }
    let answer: serde_json::Value =
        serde_json::from_slice(&bytes).map_err(|e| format!("not JSON: {e}"))?;
    if answer.get("errors").is_some() || !answer["data"]["orgUnits"]["edges"].is_array() {
        return Err(format!("GraphQL error: {answer}"));
    }
    Ok(())
}

/// The latency below which `q` of the sorted samples fall (nearest rank).
fn percentile(sorted: &[Duration], q: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn print_report(report: &Report) {
    let mut sorted = report.latencies.clone();
    sorted.sort_unstable();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!("\n{}:", report.backend);
    println!("  requests      {}", report.requests);
    println!(
        "  requests/s    {:.0}",
        report.requests as f64 / report.elapsed.as_secs_f64()
    );
    println!("  p50           {:.2} ms", ms(percentile(&sorted, 0.50)));
    println!("  p99           {:.2} ms", ms(percentile(&sorted, 0.99)));
    println!(
        "  max           {:.2} ms",
        ms(sorted.last().copied().unwrap_or_default())
    );
    println!("  errors        {}", report.errors);
    if let Some(e) = &report.first_error {
        println!("  first error   {e}");
    }
}

//! Two `shouhu serve` processes on one PostgreSQL database: a plugin version
//! activated through one is the version the other runs within five seconds,
//! with no restart. PostgreSQL only (several processes on one SQLite file
//! are not supported). The binary is the one `cargo test --workspace`
//! builds; run alone, the test skips when it is missing, except in CI.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use shouhu_e2e::multipart_body;
use shouhu_migrations::testing::TestDatabase;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../plugins/tests/fixtures");
const SECRET: &str = "two-servers-test-secret-0123456789abcdef";

/// A server process, stopped when dropped.
struct Server {
    child: Child,
    base: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn binary() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let path = exe.parent()?.parent()?.join("shouhu");
    if path.exists() {
        return Some(path);
    }
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!(
            "{} is missing: build it with cargo build -p shouhu",
            path.display()
        );
    }
    eprintln!("skipped: {} is not built", path.display());
    None
}

fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("a port");
    listener.local_addr().expect("address").port()
}

async fn start(binary: &PathBuf, db: &TestDatabase, demo: bool) -> Server {
    let port = free_port();
    let mut args = vec![
        "--database-url".to_owned(),
        db.url.clone(),
        "serve".to_owned(),
        "--bind".to_owned(),
        format!("127.0.0.1:{port}"),
        "--no-migrate".to_owned(),
        "--token-secret".to_owned(),
        SECRET.to_owned(),
    ];
    if demo {
        args.push("--demo".to_owned());
    }
    let child = Command::new(binary)
        .args(&args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start shouhu serve");
    let server = Server {
        child,
        base: format!("http://127.0.0.1:{port}"),
    };
    let client = reqwest::Client::new();
    let started = Instant::now();
    loop {
        let ready = client.get(format!("{}/readyz", server.base)).send().await;
        if ready.is_ok_and(|r| r.status().is_success()) {
            return server;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the server did not become ready"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn gql(server: &Server, token: Option<&str>, query: &str, variables: Value) -> Value {
    let mut req = reqwest::Client::new()
        .post(format!("{}/graphql", server.base))
        .json(&json!({ "query": query, "variables": variables }));
    if let Some(token) = token {
        req = req.bearer_auth(token);
    }
    req.send()
        .await
        .expect("request")
        .json()
        .await
        .expect("JSON")
}

/// Uploads a version of the test eligibility plugin through `server`.
async fn upload(server: &Server, token: &str, version: &str) -> (String, String) {
    let module = wat::parse_file(format!("{FIXTURES}/no_decisions.wat")).expect("fixture");
    let manifest = format!(
        "id = \"picked-up\"\nversion = \"{version}\"\nkind = \"assistance-eligibility\"\nabi = 1\n"
    );
    let (content_type, body) = multipart_body(
        "mutation($m: Upload!, $f: Upload!) { uploadPlugin(module: $m, manifest: $f) \
         { id pluginId } }",
        json!({}),
        &[
            ("m", "p.wasm", &module),
            ("f", "p.toml", manifest.as_bytes()),
        ],
    );
    let answer: Value = reqwest::Client::new()
        .post(format!("{}/graphql", server.base))
        .bearer_auth(token)
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .expect("upload")
        .json()
        .await
        .expect("JSON");
    let v = &answer["data"]["uploadPlugin"];
    (
        v["pluginId"].as_str().expect("plugin id").to_owned(),
        v["id"].as_str().expect("version id").to_owned(),
    )
}

/// Screens through `server` and returns the version of the plugin that ran,
/// read from the newest recorded call.
async fn version_run_by(server: &Server, token: &str, programme: &str, plugin: &str) -> String {
    let answer = gql(
        server,
        Some(token),
        "mutation($p: ID!) { screenProgramme(programmeId: $p) { evaluated } }",
        json!({ "p": programme }),
    )
    .await;
    // The test plugin decides on no one, so the screening itself fails.
    assert_eq!(
        answer["errors"][0]["extensions"]["code"], "PLUGIN_BAD_OUTPUT",
        "{answer}"
    );
    let calls = gql(
        server,
        Some(token),
        "query($p: ID!) { pluginCalls(pluginId: $p, first: 1) { versionId } }",
        json!({ "p": plugin }),
    )
    .await;
    calls["data"]["pluginCalls"][0]["versionId"]
        .as_str()
        .expect("a recorded call")
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_activation_through_one_server_is_used_by_the_other() {
    let Some(binary) = binary() else {
        return;
    };
    let Some(db) = TestDatabase::postgres().await else {
        return;
    };
    let one = start(&binary, &db, true).await;
    let two = start(&binary, &db, false).await;
    let login = gql(
        &one,
        None,
        "mutation { login(tenant: \"wuzhong\", username: \"admin\", password: \"shouhu-demo-2026\") \
         { token } }",
        Value::Null,
    )
    .await;
    let token = login["data"]["login"]["token"]
        .as_str()
        .unwrap_or_else(|| panic!("login: {login}"))
        .to_owned();

    let (plugin, v1) = upload(&one, &token, "1.0.0").await;
    let (_, v2) = upload(&one, &token, "2.0.0").await;
    let activate = "mutation($v: ID!) { activatePluginVersion(versionId: $v) { id } }";
    gql(&one, Some(&token), activate, json!({ "v": v1 })).await;
    let programme = gql(
        &one,
        Some(&token),
        "mutation($p: ID!) { createProgramme(input: { name: \"两进程\", category: EDUCATION, \
         inKind: \"书包\", startsOn: \"2020-01-01\", endsOn: \"2099-12-31\", pluginId: $p }) \
         { id } }",
        json!({ "p": plugin }),
    )
    .await;
    let programme = programme["data"]["createProgramme"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("programme: {programme}"))
        .to_owned();
    assert_eq!(version_run_by(&two, &token, &programme, &plugin).await, v1);

    // Activate 2.0.0 through the first process; the second follows.
    gql(&one, Some(&token), activate, json!({ "v": v2 })).await;
    let activated = Instant::now();
    loop {
        let ran = version_run_by(&two, &token, &programme, &plugin).await;
        if ran == v2 {
            break;
        }
        assert_eq!(ran, v1);
        assert!(
            activated.elapsed() < Duration::from_secs(5),
            "the second server still runs 1.0.0 five seconds after the activation"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    eprintln!(
        "the second server ran 2.0.0 {} ms after the activation",
        activated.elapsed().as_millis()
    );
}

//! The permission table: every role (and an anonymous caller) × every
//! operation in `cases/operations.json`, with the outcome `cases/
//! permissions.csv` expects. Adding a role or an operation adds rows, not
//! code; a missing row fails the test.
//!
//! An operation is a GraphQL `query` with `variables`, or, for the plain
//! HTTP endpoints (the XLSX export), a `get` path whose `variables` become
//! the query string; its outcome is read from the same error shape.

use std::collections::{BTreeMap, BTreeSet};

use serde::Deserialize;
use serde_json::Value;
use shouhu_e2e::{Answer, TestServer, OTHER_SLUG};

#[derive(Deserialize)]
struct Operation {
    #[serde(default)]
    query: String,
    /// A path to GET instead of a GraphQL query.
    #[serde(default)]
    get: Option<String>,
    #[serde(default)]
    variables: Value,
}

#[derive(Deserialize)]
struct Case {
    role: String,
    operation: String,
    expected: String,
}

fn load() -> (BTreeMap<String, Operation>, Vec<Case>) {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/cases");
    let ops: BTreeMap<String, Operation> = serde_json::from_str(
        &std::fs::read_to_string(format!("{dir}/operations.json")).expect("operations.json"),
    )
    .expect("operations.json is valid");
    let mut reader = csv::Reader::from_path(format!("{dir}/permissions.csv")).expect("csv");
    let cases: Vec<Case> = reader
        .deserialize()
        .map(|r| r.expect("a valid row"))
        .collect();
    (ops, cases)
}

/// Every built-in role, plus a caller without credentials.
fn roles() -> Vec<String> {
    let mut out = vec!["anonymous".to_owned()];
    out.extend(shouhu_policies_names().into_iter().map(str::to_owned));
    out
}

fn shouhu_policies_names() -> Vec<&'static str> {
    let mut names = vec!["platform_operator"];
    for (_, role, _) in shouhu::demo::DEMO_ACCOUNTS {
        if !names.contains(role) {
            names.push(role);
        }
    }
    names
}

#[test]
fn the_table_is_complete() {
    let (ops, cases) = load();
    let mut seen = BTreeSet::new();
    for c in &cases {
        assert!(
            ops.contains_key(&c.operation),
            "unknown operation {}",
            c.operation
        );
        assert!(
            ["OK", "FORBIDDEN", "NOT_FOUND", "UNAUTHENTICATED"].contains(&c.expected.as_str()),
            "unknown outcome {}",
            c.expected
        );
        assert!(
            seen.insert((c.role.clone(), c.operation.clone())),
            "duplicate row {} {}",
            c.role,
            c.operation
        );
    }
    for role in roles() {
        for op in ops.keys() {
            assert!(
                seen.contains(&(role.clone(), op.clone())),
                "no row for {role} × {op}"
            );
        }
    }
    // Every built-in role of the catalogue has a demo account, so the
    // table covers them all.
    assert_eq!(
        shouhu_policies_names().len(),
        shouhu::demo::BUILTIN_ROLE_COUNT,
        "a built-in role has no demo account"
    );
}

fn substitute(value: &Value, vars: &BTreeMap<String, String>, unique: &str) -> Value {
    match value {
        Value::String(s) => {
            let mut s = s.replace("$UNIQUE", unique);
            for (k, v) in vars {
                if s == *k {
                    s = v.clone();
                }
            }
            Value::String(s)
        }
        Value::Array(a) => Value::Array(a.iter().map(|v| substitute(v, vars, unique)).collect()),
        Value::Object(o) => Value::Object(
            o.iter()
                .map(|(k, v)| (k.clone(), substitute(v, vars, unique)))
                .collect(),
        ),
        other => other.clone(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_role_gets_what_the_table_says() {
    let (ops, cases) = load();
    for server in TestServer::all().await {
        let mut vars = BTreeMap::new();
        for code in ["320506001", "320506003", "320506001001", "320506003001"] {
            vars.insert(
                format!("$UNIT:{code}"),
                server.unit_id("wuzhong", code).await,
            );
        }
        let other_admin = server.login(OTHER_SLUG, "admin").await;
        let other_root = server
            .gql(
                Some(&other_admin),
                "{ orgUnits(first: 1) { edges { node { id } } } }",
                Value::Null,
            )
            .await;
        vars.insert(
            "$OTHER_ROOT".into(),
            other_root.data()["orgUnits"]["edges"][0]["node"]["id"]
                .as_str()
                .expect("root id")
                .to_owned(),
        );
        vars.insert("$FRESH_CODE".into(), "320507".into());
        let mut tokens = BTreeMap::new();
        tokens.insert(
            "platform_operator".to_owned(),
            server.login("platform", "operator").await,
        );
        for (username, role, _) in shouhu::demo::DEMO_ACCOUNTS {
            if !tokens.contains_key(*role) {
                tokens.insert((*role).to_owned(), server.login("wuzhong", username).await);
            }
        }
        let mut failures = Vec::new();
        for (i, case) in cases.iter().enumerate() {
            let op = &ops[&case.operation];
            let unique = format!("{}{i}", server.kind().chars().next().unwrap_or('x'));
            let variables = substitute(&op.variables, &vars, &unique);
            let token = tokens.get(&case.role).map(String::as_str);
            let answer = match &op.get {
                Some(path) => get(&server, path, &variables, token).await,
                None => server.gql(token, &op.query, variables).await,
            };
            if answer.code() != case.expected {
                failures.push(format!(
                    "{} {} × {}: expected {}, got {} ({})",
                    server.kind(),
                    case.role,
                    case.operation,
                    case.expected,
                    answer.code(),
                    answer.body
                ));
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }
}

/// GETs `path` with the variables as its query string; a success answers
/// "OK", a refusal carries its code in the GraphQL error shape.
async fn get(server: &TestServer, path: &str, variables: &Value, token: Option<&str>) -> Answer {
    let query: Vec<String> = variables
        .as_object()
        .map(|o| {
            o.iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
                .collect()
        })
        .unwrap_or_default();
    let (status, text) = server
        .get(&format!("{path}?{}", query.join("&")), token)
        .await;
    let body = match serde_json::from_str::<Value>(&text) {
        Ok(body) => body,
        Err(_) if status == 200 => Value::Null,
        Err(_) => {
            serde_json::json!({ "errors": [{ "extensions": { "code": status.to_string() } }] })
        }
    };
    Answer { status, body }
}

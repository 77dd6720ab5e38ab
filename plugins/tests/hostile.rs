//! Hostile and well-behaved test plugins in WAT, run through the host: each
//! fault gets its own code, and the host serves the next call as before.

use std::time::{Duration, Instant};

use serde_json::json;
use shouhu_plugins::{HostConfig, Kind, Limits, Manifest, PluginError, PluginHost};

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/fixtures/{name}.wat", env!("CARGO_MANIFEST_DIR"));
    wat::parse_file(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn host() -> PluginHost {
    PluginHost::new(HostConfig::default()).unwrap()
}

fn run(host: &PluginHost, name: &str, limits: &Limits) -> Result<serde_json::Value, PluginError> {
    let plugin = host.prepare(&fixture(name))?;
    host.run(&plugin, br#"{"hello":"world"}"#, limits)
        .map(|outcome| outcome.output)
}

/// The echo plugin still answers correctly: the host survived whatever
/// came before.
fn still_serves(host: &PluginHost) {
    let plugin = host.prepare(&fixture("echo")).unwrap();
    let outcome = host
        .run(&plugin, br#"{"still":"here"}"#, &Limits::default())
        .unwrap();
    assert_eq!(outcome.output, json!({"still": "here"}));
}

#[test]
fn echo_answers_its_input_and_reports_its_cost() {
    let host = host();
    let plugin = host.prepare(&fixture("echo")).unwrap();
    let input = json!({"abi": 1, "kind": "family-matching", "child": {"age": 9},
                       "candidates": [], "ranking": [], "名字": "张·小明"});
    let bytes = serde_json::to_vec(&input).unwrap();
    let outcome = host.run(&plugin, &bytes, &Limits::default()).unwrap();
    assert_eq!(outcome.output, input);
    assert!(outcome.fuel_used > 0, "fuel is counted");
    assert!(
        outcome.fuel_used < 1_000_000,
        "echo is cheap: {}",
        outcome.fuel_used
    );
    // The same bytes are compiled once.
    assert!(host.is_cached(&PluginHost::sha256(&fixture("echo"))));
    let again = host.prepare(&fixture("echo")).unwrap();
    assert!(std::sync::Arc::ptr_eq(&plugin, &again));
}

#[test]
fn libc_start_up_calls_get_fixed_harmless_answers() {
    let host = host();
    let output = run(&host, "libc_calls", &Limits::default()).unwrap();
    // args and environ succeed (0), there is no preopen (EBADF, 8), stdout
    // has a status (0), the clock is the fixed instant (1), and the random
    // stream is the same on every call.
    assert_eq!(output["args"], 0);
    assert_eq!(output["env"], 0);
    assert_eq!(output["prestat"], 8);
    assert_eq!(output["fdstat"], 0);
    assert_eq!(output["clock"], 1);
    let again = run(&host, "libc_calls", &Limits::default()).unwrap();
    assert_eq!(output["random"], again["random"]);
}

#[test]
fn an_endless_loop_runs_out_of_fuel() {
    let host = host();
    let limits = Limits {
        fuel: 50_000_000,
        ..Limits::default()
    };
    let err = run(&host, "loop", &limits).unwrap_err();
    assert_eq!(err.code(), "PLUGIN_FUEL_EXHAUSTED", "{err}");
    still_serves(&host);
}

#[test]
fn an_endless_loop_with_fuel_to_spare_meets_its_deadline() {
    let host = host();
    let limits = Limits {
        fuel: shouhu_plugins::MAX_LIMITS.fuel,
        timeout_ms: 100,
        ..Limits::default()
    };
    let started = Instant::now();
    let err = run(&host, "loop", &limits).unwrap_err();
    let took = started.elapsed();
    assert_eq!(err.code(), "PLUGIN_TIMEOUT", "{err}");
    assert!(
        took >= Duration::from_millis(100),
        "stopped early: {took:?}"
    );
    assert!(took < Duration::from_millis(600), "stopped late: {took:?}");
    still_serves(&host);
}

#[test]
fn unbounded_memory_growth_hits_the_cap() {
    let host = host();
    let limits = Limits {
        memory_mib: 8,
        ..Limits::default()
    };
    let err = run(&host, "grow", &limits).unwrap_err();
    assert_eq!(err.code(), "PLUGIN_MEMORY_LIMIT", "{err}");
    still_serves(&host);
}

#[test]
fn a_module_whose_first_memory_is_over_the_cap_is_a_memory_fault() {
    let host = host();
    // 2 MiB of initial memory against a 1 MiB cap.
    let module =
        wat::parse_str(r#"(module (memory (export "memory") 32) (func (export "_start")))"#)
            .unwrap();
    let plugin = host.prepare(&module).unwrap();
    let limits = Limits {
        memory_mib: 1,
        ..Limits::default()
    };
    let err = host.run(&plugin, b"{}", &limits).unwrap_err();
    assert_eq!(err.code(), "PLUGIN_MEMORY_LIMIT", "{err}");
}

#[test]
fn unbounded_recursion_overflows_the_stack_as_a_trap() {
    let host = host();
    let err = run(&host, "recurse", &Limits::default()).unwrap_err();
    assert_eq!(err.code(), "PLUGIN_TRAP");
    assert_eq!(err.to_string(), "the plugin failed: stack overflow");
    still_serves(&host);
}

#[test]
fn a_megabyte_of_output_is_refused_at_the_cap() {
    let host = host();
    let err = run(&host, "bigout", &Limits::default()).unwrap_err();
    assert_eq!(err.code(), "PLUGIN_BAD_OUTPUT");
    assert!(err.to_string().contains("more than 262144 bytes"), "{err}");
    still_serves(&host);
}

#[test]
fn output_that_is_not_json_is_bad_output() {
    let host = host();
    let err = run(&host, "badjson", &Limits::default()).unwrap_err();
    assert_eq!(err.code(), "PLUGIN_BAD_OUTPUT");
    assert!(err.to_string().contains("not one JSON document"), "{err}");
    still_serves(&host);
}

#[test]
fn json_of_the_wrong_shape_is_bad_output() {
    let host = host();
    let plugin = host.prepare(&fixture("echo")).unwrap();
    let input = json!({"abi": 1, "kind": "family-matching", "child": {}, "candidates": []});
    // The echo answers its input, which has no ranking.
    let err = host
        .invoke(
            "echo",
            Kind::FamilyMatching,
            &plugin,
            &input,
            &Limits::default(),
        )
        .unwrap_err();
    assert_eq!(err.code(), "PLUGIN_BAD_OUTPUT");
    assert!(err.to_string().contains("$.ranking is required"), "{err}");
    // With a ranking in the input, the echo's answer is well formed.
    let input = json!({"abi": 1, "kind": "family-matching", "child": {}, "candidates": [],
                       "ranking": [{"familyId": "f1", "score": 50, "explanation": "near"}]});
    let outcome = host
        .invoke(
            "echo",
            Kind::FamilyMatching,
            &plugin,
            &input,
            &Limits::default(),
        )
        .unwrap();
    assert_eq!(outcome.output["ranking"][0]["familyId"], "f1");
    // An input that is not the extension point's shape is refused before
    // the plugin runs.
    let err = host
        .invoke(
            "echo",
            Kind::AssistanceEligibility,
            &plugin,
            &input,
            &Limits::default(),
        )
        .unwrap_err();
    assert_eq!(err.code(), "BAD_USER_INPUT");
}

#[test]
fn a_trap_is_a_trap() {
    let host = host();
    let err = run(&host, "trap", &Limits::default()).unwrap_err();
    assert_eq!(err.code(), "PLUGIN_TRAP");
    assert!(err.to_string().contains("divide by zero"), "{err}");
    let err = run(&host, "exit_failure", &Limits::default()).unwrap_err();
    assert_eq!(err.code(), "PLUGIN_TRAP");
    assert!(err.to_string().contains("exited with status 3"), "{err}");
    still_serves(&host);
}

#[test]
fn forbidden_imports_are_refused_by_name() {
    let host = host();
    for (name, import) in [
        ("path_open", "wasi_snapshot_preview1.path_open"),
        ("sock_accept", "wasi_snapshot_preview1.sock_accept"),
        ("custom_import", "env.read_secrets"),
    ] {
        let err = host.prepare(&fixture(name)).unwrap_err();
        assert_eq!(err.code(), "PLUGIN_INVALID", "{name}");
        assert!(err.to_string().contains(import), "{name}: {err}");
    }
    still_serves(&host);
}

#[test]
fn modules_that_are_not_commands_are_refused() {
    let host = host();
    let cases = [
        (
            wat::parse_str(r#"(module (memory (export "memory") 1))"#).unwrap(),
            "_start",
        ),
        (
            wat::parse_str(r#"(module (func (export "_start")))"#).unwrap(),
            "memory",
        ),
        (
            wat::parse_str(
                r#"(module
                     (import "wasi_snapshot_preview1" "fd_write" (func (param i32) (result i32)))
                     (memory (export "memory") 1) (func (export "_start")))"#,
            )
            .unwrap(),
            "wrong signature",
        ),
        (
            b"not wasm at all".to_vec(),
            "not a valid WebAssembly module",
        ),
        (vec![0u8; shouhu_plugins::MAX_MODULE_BYTES + 1], "1 MiB"),
    ];
    for (bytes, expected) in cases {
        let err = host.prepare(&bytes).unwrap_err();
        assert_eq!(err.code(), "PLUGIN_INVALID");
        assert!(err.to_string().contains(expected), "{expected}: {err}");
    }
}

#[test]
fn oversized_input_is_refused_before_the_call() {
    let host = host();
    let plugin = host.prepare(&fixture("echo")).unwrap();
    let limits = Limits {
        max_input_bytes: 10,
        ..Limits::default()
    };
    let err = host.run(&plugin, &[b' '; 11], &limits).unwrap_err();
    assert_eq!(err.code(), "LIMIT_EXCEEDED");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_calls_on_the_blocking_pool_leave_async_workers_free() {
    let host = host();
    let looping = host.prepare(&fixture("loop")).unwrap();
    let limits = Limits {
        fuel: shouhu_plugins::MAX_LIMITS.fuel,
        timeout_ms: 300,
        ..Limits::default()
    };
    let manifest = Manifest {
        id: "loop".into(),
        version: "1.0.0".into(),
        kind: Kind::FamilyMatching,
        abi: 1,
        description: String::new(),
        input: Default::default(),
        limits,
    };
    let input = json!({"abi": 1, "kind": "family-matching", "child": {}, "candidates": []});
    let calls: Vec<_> = (0..2)
        .map(|_| {
            let host = host.clone();
            let looping = looping.clone();
            let input = input.clone();
            let manifest = manifest.clone();
            tokio::spawn(async move {
                host.invoke_blocking("loop".into(), manifest, looping, input)
                    .await
            })
        })
        .collect();
    // While both loop, a timer on the async workers still fires on time.
    let started = Instant::now();
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(started.elapsed() < Duration::from_millis(200));
    for call in calls {
        let err = call.await.unwrap().unwrap_err();
        assert_eq!(err.code(), "PLUGIN_TIMEOUT");
    }
}

/// The manifest of an ABI 2 eligibility test plugin.
fn abi2_manifest(id: &str) -> Manifest {
    Manifest {
        id: id.into(),
        version: "1.0.0".into(),
        kind: Kind::AssistanceEligibility,
        abi: 2,
        description: String::new(),
        input: Default::default(),
        limits: Limits::default(),
    }
}

/// An ABI 2 plugin's stdin for `minors`, with an empty header.
fn abi2_input(minors: &[shouhu_plugins::eligibility::Minor]) -> Vec<u8> {
    shouhu_plugins::eligibility::write_input(2, serde_json::Map::new(), minors).unwrap()
}

/// An ABI 2 plugin that answers with its own input (the echo fixture):
/// a well-formed frame whose header is not an answer's, refused as bad
/// output; and one that answers nothing.
#[test]
fn abi2_answers_that_are_not_decisions_are_bad_output() {
    let host = host();
    let manifest = abi2_manifest("echo");
    let minors = vec![shouhu_plugins::eligibility::Minor {
        id: "m1".into(),
        age: Some(7),
        ..Default::default()
    }];
    let input = abi2_input(&minors);
    for (fixture_name, expected) in [
        ("echo", "the header is not the expected JSON"),
        ("empty", "ends inside the header length"),
    ] {
        let plugin = host.prepare(&fixture(fixture_name)).unwrap();
        let err = host
            .decide(fixture_name, &manifest, &plugin, &input, &["m1"])
            .unwrap_err();
        assert_eq!(err.code(), "PLUGIN_BAD_OUTPUT", "{fixture_name}");
        assert!(err.to_string().contains(expected), "{fixture_name}: {err}");
    }
}

/// An ABI 2 plugin whose every decision names twenty long reasons and a
/// long in-kind text: a few kilobytes on stdout that would be megabytes in
/// a call's record. Within `max_output_bytes` once written out it is read;
/// beyond, it is bad output, and the host answers the next call.
#[test]
fn abi2_texts_named_by_every_decision_count_against_the_output_limit() {
    let host = host();
    let manifest = abi2_manifest("amplify");
    let plugin = host.prepare(&fixture("amplify")).unwrap();
    let decide = |count: usize| {
        let minors: Vec<_> = (0..count)
            .map(|i| shouhu_plugins::eligibility::Minor {
                id: format!("m{i}"),
                ..Default::default()
            })
            .collect();
        let ids: Vec<&str> = minors.iter().map(|m| m.id.as_str()).collect();
        let input = abi2_input(&minors);
        host.decide("amplify", &manifest, &plugin, &input, &ids)
    };
    // 4,200 bytes of text a decision: 62 fit in the default 256 KiB.
    let decided = decide(62).unwrap();
    assert_eq!(decided.decisions.len(), 62);
    assert_eq!(decided.decisions.reasons(61).count(), 20);
    let err = decide(63).expect_err("63 decisions are too many");
    assert_eq!(err.code(), "PLUGIN_BAD_OUTPUT");
    assert!(err.to_string().contains("limits.max_output_bytes"), "{err}");
    still_serves(&host);
}

/// A dry run of an ABI 2 plugin takes ABI 1's document; it is held to ABI
/// 1's input schema and size limit although the plugin gets records.
#[test]
fn an_abi2_dry_run_document_is_held_to_abi1s_input_rules() {
    let host = host();
    let mut manifest = abi2_manifest("amplify");
    let plugin = host.prepare(&fixture("amplify")).unwrap();
    let doc = |minors: serde_json::Value| {
        json!({"abi": 1, "kind": "assistance-eligibility", "asOf": "2026-12-04",
               "programme": {}, "minors": minors})
    };
    let answered = host
        .invoke_json(
            "amplify",
            &manifest,
            &plugin,
            &doc(json!([{"id": "m1", "age": 7}])),
        )
        .unwrap();
    assert_eq!(answered.output["decisions"][0]["minorId"], "m1");
    let long_id = "x".repeat(101);
    for (minors, expected) in [
        (
            json!([{"id": "m1", "age": -1}]),
            "$.minors[0].age must be at least 0",
        ),
        (
            json!([{"id": long_id}]),
            "$.minors[0].id must have at most 100",
        ),
    ] {
        let err = host
            .invoke_json("amplify", &manifest, &plugin, &doc(minors))
            .unwrap_err();
        assert_eq!(err.code(), "BAD_USER_INPUT", "{err}");
        assert!(err.to_string().contains(expected), "{err} / {expected}");
    }
    // Ten ids of 90 characters are some 1,000 bytes of JSON but only 80
    // bytes of records: the JSON is what counts.
    manifest.limits.max_input_bytes = 900;
    let minors: Vec<_> = (0..10).map(|i| json!({"id": format!("{i:090}")})).collect();
    let err = host
        .invoke_json("amplify", &manifest, &plugin, &doc(json!(minors)))
        .unwrap_err();
    assert_eq!(err.code(), "LIMIT_EXCEEDED", "{err}");
}

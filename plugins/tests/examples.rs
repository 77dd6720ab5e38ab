//! The example plugins of `plugins/examples/`, built by
//! `plugins/examples/build.sh`, and the committed default matcher, run
//! through the host on sample inputs: the decisions and rankings they give,
//! and that their toolchains' modules pass the host's checks.
//!
//! The examples need clang and AssemblyScript, which a Rust-only machine
//! lacks: without `plugins/examples/out/` their tests say so and pass,
//! except in CI (`CI=true`), where a missing build is a failure. The
//! default matcher is committed, so its test always runs.

use serde_json::{json, Value};
use shouhu_plugins::{HostConfig, Kind, Limits, Manifest, PluginHost};

fn path(relative: &str) -> String {
    format!("{}/{relative}", env!("CARGO_MANIFEST_DIR"))
}

fn read(relative: &str) -> Vec<u8> {
    let path = path(relative);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The built module of an example, or `None` (with a notice) when the
/// examples are not built and this is not CI.
fn built(name: &str) -> Option<Vec<u8>> {
    let module = path(&format!("examples/out/{name}.wasm"));
    match std::fs::read(&module) {
        Ok(bytes) => Some(bytes),
        Err(e) if std::env::var("CI").as_deref() == Ok("true") => {
            panic!("{module}: {e}; run plugins/examples/build.sh before the tests")
        }
        Err(_) => {
            eprintln!("skipped: {module} is not built; run plugins/examples/build.sh");
            None
        }
    }
}

/// A module and its manifest, checked together as an upload is.
struct Plugin {
    host: PluginHost,
    manifest: Manifest,
    module: Vec<u8>,
}

impl Plugin {
    fn new(module: Vec<u8>, manifest: &str) -> Plugin {
        let host = PluginHost::new(HostConfig::default()).unwrap();
        let (manifest, _) = host.check(&module, &read(manifest)).unwrap();
        Plugin {
            host,
            manifest,
            module,
        }
    }

    /// Runs the plugin with its input and output schemas enforced.
    fn invoke(
        &self,
        input: &Value,
    ) -> Result<shouhu_plugins::Outcome, shouhu_plugins::PluginError> {
        let plugin = self.host.prepare(&self.module).unwrap();
        self.host.invoke(
            &self.manifest.id,
            self.manifest.kind,
            &plugin,
            input,
            &self.manifest.limits,
        )
    }

    fn output(&self, input: &Value) -> Value {
        self.invoke(input).unwrap().output
    }
}

fn sample(example: &str) -> Value {
    serde_json::from_slice(&read(&format!("examples/{example}/input.json"))).unwrap()
}

fn c_eligibility() -> Option<Plugin> {
    let module = built("c-eligibility")?;
    let plugin = Plugin::new(module, "examples/c-eligibility/manifest.toml");
    assert_eq!(plugin.manifest.kind, Kind::AssistanceEligibility);
    Some(plugin)
}

/// The reasons of a decision, joined, for `contains` checks.
fn reasons(decision: &Value) -> String {
    let list = decision["reasons"].as_array().unwrap();
    list.iter()
        .map(|r| r.as_str().unwrap())
        .collect::<Vec<_>>()
        .join(" | ")
}

#[test]
fn the_c_plugin_decides_each_minor_in_order() {
    let Some(plugin) = c_eligibility() else {
        return;
    };
    let output = plugin.output(&sample("c-eligibility"));
    let decisions = output["decisions"].as_array().unwrap();
    let ids: Vec<&str> = decisions
        .iter()
        .map(|d| d["minorId"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["m1", "m2", "m3", "m4", "m5", "m6"]);
    let eligible: Vec<bool> = decisions
        .iter()
        .map(|d| d["eligible"].as_bool().unwrap())
        .collect();
    assert_eq!(eligible, [true, false, true, false, false, true]);

    // The programme's own benefit, and none for those not eligible.
    let benefit = json!({"amountCents": 60000, "period": "quarter"});
    for d in decisions {
        let expected = if d["eligible"] == true {
            &benefit
        } else {
            &Value::Null
        };
        assert_eq!(&d["benefit"], expected, "{d}");
    }

    let m1 = reasons(&decisions[0]);
    assert!(m1.contains("age 12 is within 6-17"), "{m1}");
    assert!(m1.contains("orphan needs no means test"), "{m1}");
    let m2 = reasons(&decisions[1]);
    assert!(m2.contains("age 3 is outside 6-17"), "{m2}");
    assert!(m2.contains("no difficulty category"), "{m2}");
    assert!(m2.contains("household is on dibao"), "{m2}");
    assert!(reasons(&decisions[2]).contains("household is on dibao_edge"));
    // UTF-8 passes through, and a failed means test says why.
    let m4 = reasons(&decisions[3]);
    assert!(m4.contains("left_behind, 单亲"), "{m4}");
    assert!(m4.contains("economic status none is not dibao"), "{m4}");
    assert!(reasons(&decisions[4]).contains("age is unknown"));
    assert!(reasons(&decisions[5]).contains("household is on tekun"));
}

#[test]
fn the_c_plugin_proposes_the_default_benefit_and_reads_any_json() {
    let Some(plugin) = c_eligibility() else {
        return;
    };
    // No benefit as an amount per period: the grant's default. The ids
    // carry escapes that must survive the round trip; `data` and unknown
    // keys of any shape are skipped.
    let input = json!({
        "abi": 1, "kind": "assistance-eligibility", "asOf": "2026-12-04",
        "programme": {"id": "p2", "benefit": {"inKind": "school books"}},
        "minors": [
            {"id": "a\"b\\c\n😀", "age": 8, "categories": ["orphan"], "economicStatus": null,
             "future": {"nested": [[{"x": [1.5e-3, -2, true, null]}]]}},
            {"id": "m2", "age": 18, "categories": ["left_behind"], "economicStatus": "dibao"}
        ],
        "data": {"rows": [{"\u{0001}": "\u{FFFF}"}], "n": 1e308}
    });
    let output = plugin.output(&input);
    let decisions = output["decisions"].as_array().unwrap();
    assert_eq!(decisions[0]["minorId"], "a\"b\\c\n😀");
    assert_eq!(decisions[0]["eligible"], true);
    assert_eq!(
        decisions[0]["benefit"],
        json!({"amountCents": 50000, "period": "quarter"})
    );
    assert_eq!(decisions[1]["eligible"], false);
    assert!(reasons(&decisions[1]).contains("age 18 is outside 6-17"));
}

#[test]
fn the_c_plugin_refuses_bad_input() {
    let Some(plugin) = c_eligibility() else {
        return;
    };
    let compiled = plugin.host.prepare(&plugin.module).unwrap();
    // The host's own checks would stop most of these before a plugin sees
    // them; the plugin still must not decide on a document it misread.
    for input in [
        &br#"{"abi":1,"minors":[{"id":"m1","age":1.5}]}"#[..],
        br#"{"abi":1,"minors":[{"id":"m1"}"#,
        br#"{"abi":1,"minors":[{"age":3}]}"#,
        br#"{"abi":1,"minors":[],"data":"\ud800"}"#,
        b"{\"abi\":1,\"minors\":[],\"data\":\"\xff\"}",
        br#"{"abi":1,"minors":[]} {}"#,
        br#"{"abi":1}"#,
    ] {
        let err = plugin
            .host
            .run(&compiled, input, &plugin.manifest.limits)
            .unwrap_err();
        // The host keeps no log of a failed call; the status says enough.
        assert_eq!(err.code(), "PLUGIN_TRAP", "{err}");
        assert!(err.to_string().contains("exited with status 1"), "{err}");
    }
}

#[test]
fn the_c_plugin_decides_a_batch_of_a_thousand_within_its_limits() {
    let Some(plugin) = c_eligibility() else {
        return;
    };
    let minors: Vec<Value> = (0..1000)
        .map(|i| {
            let category = if i % 3 == 0 { "orphan" } else { "left_behind" };
            let status =
                [json!("dibao"), json!("none"), json!("tekun"), Value::Null][i % 4].clone();
            json!({"id": format!("m{i}"), "age": i % 20, "sex": "female",
                   "categories": [category],
                   "economicStatus": status,
                   "disabilityGrade": null})
        })
        .collect();
    let input = json!({"abi": 1, "kind": "assistance-eligibility", "asOf": "2026-12-04",
                       "programme": {"id": "p1"}, "minors": minors, "data": null});
    let outcome = plugin.invoke(&input).unwrap();
    assert_eq!(outcome.output["decisions"].as_array().unwrap().len(), 1000);
    // Linear work: a few thousand instructions a minor, far below the fuel.
    assert!(
        outcome.fuel_used < plugin.manifest.limits.fuel / 10,
        "{} fuel for 1000 minors",
        outcome.fuel_used
    );
}

fn c_eligibility_abi2() -> Option<Plugin> {
    let module = built("c-eligibility-abi2")?;
    let plugin = Plugin::new(module, "examples/c-eligibility-abi2/manifest.toml");
    assert_eq!(plugin.manifest.abi, 2);
    Some(plugin)
}

impl Plugin {
    /// Runs the plugin on an ABI 1 document, whatever its ABI.
    fn output_json(&self, input: &Value) -> Result<Value, shouhu_plugins::PluginError> {
        let plugin = self.host.prepare(&self.module).unwrap();
        self.host
            .invoke_json(&self.manifest.id, &self.manifest, &plugin, input)
            .map(|outcome| outcome.output)
    }
}

#[test]
fn the_abi2_c_plugin_decides_records_with_reasons_from_its_list() {
    let Some(plugin) = c_eligibility_abi2() else {
        return;
    };
    let output = plugin.output_json(&sample("c-eligibility-abi2")).unwrap();
    let decisions = output["decisions"].as_array().unwrap();
    let ids: Vec<&str> = decisions
        .iter()
        .map(|d| d["minorId"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["m1", "m2", "m3", "m4", "m5", "m6"]);
    let eligible: Vec<bool> = decisions
        .iter()
        .map(|d| d["eligible"].as_bool().unwrap())
        .collect();
    assert_eq!(eligible, [true, false, true, false, false, true]);
    assert_eq!(
        decisions[0]["reasons"],
        json!([
            "age is within 6-17",
            "has a difficulty category",
            "orphan or de facto unsupported: no means test"
        ])
    );
    assert!(reasons(&decisions[1]).contains("age is outside 6-17"));
    assert!(reasons(&decisions[1]).contains("no difficulty category"));
    assert!(reasons(&decisions[3]).contains("household is not on dibao"));
    assert!(reasons(&decisions[4]).contains("age is unknown"));
    // It proposes no benefit: the programme's own applies.
    assert!(decisions.iter().all(|d| d.get("benefit").is_none()));
    // The same minors through the JSON example: the same answers.
    if let Some(json_plugin) = c_eligibility() {
        let mut doc = sample("c-eligibility-abi2");
        doc["abi"] = json!(1);
        let theirs = json_plugin.output(&doc);
        let theirs: Vec<bool> = theirs["decisions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["eligible"].as_bool().unwrap())
            .collect();
        assert_eq!(theirs, eligible);
    }
}

#[test]
fn both_c_plugins_agree_on_a_thousand_minors() {
    let (Some(records), Some(json_plugin)) = (c_eligibility_abi2(), c_eligibility()) else {
        return;
    };
    let categories = shouhu_plugins::eligibility::CATEGORIES;
    let statuses = [
        json!("none"),
        json!("dibao"),
        json!("dibao_edge"),
        json!("tekun"),
        json!(null),
    ];
    let minors: Vec<Value> = (0..1000usize)
        .map(|i| {
            let cats: Vec<&str> = (0..i % 3).map(|k| categories[(i * 7 + k) % 9]).collect();
            let age = if i % 17 == 0 {
                Value::Null
            } else {
                json!(i % 20)
            };
            json!({"id": format!("m{i}"), "age": age, "sex": "female", "categories": cats,
                   "economicStatus": statuses[i % 5], "disabilityGrade": null})
        })
        .collect();
    let doc = json!({"abi": 1, "kind": "assistance-eligibility", "asOf": "2026-12-04",
                     "programme": {"id": "p1"}, "minors": minors, "data": null});
    let eligible = |output: &Value| -> Vec<bool> {
        output["decisions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["eligible"].as_bool().unwrap())
            .collect()
    };
    let a = eligible(&records.output_json(&doc).unwrap());
    let b = eligible(&json_plugin.output(&doc));
    assert_eq!(a, b);
    assert!(a.iter().any(|e| *e) && a.iter().any(|e| !*e));
}

#[test]
fn the_abi2_host_refuses_what_records_cannot_carry() {
    let Some(plugin) = c_eligibility_abi2() else {
        return;
    };
    // A category ABI 2 has no bit for is the caller's error, by field.
    let mut doc = sample("c-eligibility-abi2");
    doc["minors"][3]["categories"] = json!(["left_behind"]);
    let err = plugin.output_json(&doc).unwrap_err();
    assert_eq!(err.code(), "BAD_USER_INPUT");
    assert!(err.to_string().contains("minors[3].categories"), "{err}");
}

/// The sample family-matching input, and what a correct matcher ranks.
fn check_matcher(plugin: &Plugin) {
    let output = plugin.output(&sample("as-matcher"));
    let ranking = output["ranking"].as_array().unwrap();
    let order: Vec<(&str, i64)> = ranking
        .iter()
        .map(|m| {
            (
                m["familyId"].as_str().unwrap(),
                m["score"].as_i64().unwrap(),
            )
        })
        .collect();
    // full (no room), toddlers (ages 0-5) and boys (male only) are dropped;
    // f0 and f1 tie at 65 and are ranked by familyId.
    assert_eq!(order, [("f2", 100), ("f0", 65), ("f1", 65), ("f3", 20)]);
    let explanation = |i: usize| ranking[i]["explanation"].as_str().unwrap();
    assert_eq!(
        explanation(0),
        "same community (+40); covers 2 of 2 needs: tutoring, cantonese (+40); \
         shares language zh (+20)"
    );
    assert_eq!(
        explanation(2),
        "same street (+25); covers 1 of 2 needs: tutoring (+20); shares language zh (+20)"
    );
    assert_eq!(
        explanation(3),
        "different street (+0); covers 1 of 2 needs: cantonese (+20); no shared language (+0)"
    );

    // A child with no needs and no languages listed, of unknown age and
    // sex: every family that has room is admitted, with the full points.
    let input = json!({"abi": 1, "kind": "family-matching",
        "child": {"age": null, "sex": null, "orgUnitPath": "/1/2/3/"},
        "candidates": [
            {"familyId": "b", "orgUnitPath": "/1/9/9/", "ageMin": 3, "ageMax": 5,
             "sexes": ["male"]},
            {"familyId": "a", "orgUnitPath": "/1/2/4/", "capacity": 1},
            {"familyId": "z", "capacity": 0}
        ],
        "data": {"anything": [1, {"x": null}]}});
    let output = plugin.output(&input);
    assert_eq!(
        output,
        json!({"ranking": [
            {"familyId": "a", "score": 85, "explanation":
                "same street (+25); no listed needs (+40); child lists no language (+20)"},
            {"familyId": "b", "score": 60, "explanation":
                "different street (+0); no listed needs (+40); child lists no language (+20)"}
        ]})
    );

    // A third of the needs is 13 points, rounded; names with quotes survive.
    let input = json!({"abi": 1, "kind": "family-matching",
        "child": {"needs": ["a", "b", "say \"hi\""], "languages": ["zh"]},
        "candidates": [{"familyId": "f\"1", "skills": ["say \"hi\""], "languages": []}]});
    let output = plugin.output(&input);
    assert_eq!(output["ranking"][0]["familyId"], "f\"1");
    assert_eq!(output["ranking"][0]["score"], 13);
    assert_eq!(
        output["ranking"][0]["explanation"],
        "location unknown (+0); covers 1 of 3 needs: say \"hi\" (+13); no shared language (+0)"
    );
}

#[test]
fn the_assemblyscript_matcher_ranks_the_families_that_can_take_the_child() {
    let Some(module) = built("as-matcher") else {
        return;
    };
    let plugin = Plugin::new(module, "examples/as-matcher/manifest.toml");
    assert_eq!(plugin.manifest.kind, Kind::FamilyMatching);
    check_matcher(&plugin);
}

#[test]
fn the_committed_default_matcher_ranks_the_families_that_can_take_the_child() {
    let plugin = Plugin::new(
        read("builtin/default-matcher.wasm"),
        "builtin/default-matcher.toml",
    );
    assert_eq!(plugin.manifest.id, "default-matcher");
    assert_eq!(plugin.manifest.version, "1.0.0");
    assert_eq!(plugin.manifest.kind, Kind::FamilyMatching);
    check_matcher(&plugin);
    // Bad input ends the call with a failure, not a ranking.
    let compiled = plugin.host.prepare(&plugin.module).unwrap();
    let err = plugin
        .host
        .run(
            &compiled,
            br#"{"abi":1,"child":{"age":"x"}}"#,
            &Limits::default(),
        )
        .unwrap_err();
    assert_eq!(err.code(), "PLUGIN_TRAP", "{err}");
    assert!(err.to_string().contains("exited with status 1"), "{err}");
}

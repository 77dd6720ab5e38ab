//! `shouhu plugin check` and `shouhu plugin run`, through the built binary:
//! what an author sees on the terminal, and the exit status.

use std::path::Path;
use std::process::{Command, Output};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../plugins/tests/fixtures");

const MANIFEST: &str = r#"
id = "echo"
version = "0.1.0"
kind = "family-matching"
abi = 1

[limits]
fuel = 5000000
"#;

fn write_module(dir: &Path, fixture: &str) -> String {
    let bytes = wat::parse_file(format!("{FIXTURES}/{fixture}.wat")).expect("fixture");
    let path = dir.join(format!("{fixture}.wasm"));
    std::fs::write(&path, bytes).expect("write module");
    path.to_string_lossy().into_owned()
}

fn shouhu(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_shouhu"))
        .args(args)
        .output()
        .expect("run shouhu")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn an_author_checks_and_runs_a_plugin() {
    let dir = tempfile::tempdir().expect("temp dir");
    let manifest = dir.path().join("plugin.toml");
    std::fs::write(&manifest, MANIFEST).unwrap();
    let manifest = manifest.to_string_lossy().into_owned();
    let echo = write_module(dir.path(), "echo");

    let out = shouhu(&["plugin", "check", &echo, "--manifest", &manifest]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(
        stdout.starts_with("ok: echo 0.1.0 (family-matching), abi 1"),
        "{stdout}"
    );

    let input = dir.path().join("input.json");
    std::fs::write(
        &input,
        r#"{"abi": 1, "kind": "family-matching", "child": {"age": 7}, "candidates": [],
            "ranking": [{"familyId": "f1", "score": 90, "explanation": "same street"}]}"#,
    )
    .unwrap();
    let input = input.to_string_lossy().into_owned();
    let out = shouhu(&[
        "plugin",
        "run",
        &echo,
        "--manifest",
        &manifest,
        "--input",
        &input,
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let printed: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    assert_eq!(printed["ranking"][0]["familyId"], "f1");
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("fuel used: ") && stderr.contains(" of 5000000"),
        "{stderr}"
    );
    assert!(stderr.contains("duration: "), "{stderr}");
}

#[test]
fn refusals_name_their_code_and_fail_the_command() {
    let dir = tempfile::tempdir().expect("temp dir");
    let manifest = dir.path().join("plugin.toml");
    std::fs::write(&manifest, MANIFEST).unwrap();
    let manifest = manifest.to_string_lossy().into_owned();
    let input = dir.path().join("input.json");
    std::fs::write(
        &input,
        r#"{"abi": 1, "kind": "family-matching", "child": {}, "candidates": []}"#,
    )
    .unwrap();
    let input = input.to_string_lossy().into_owned();

    let forbidden = write_module(dir.path(), "path_open");
    let out = shouhu(&["plugin", "check", &forbidden, "--manifest", &manifest]);
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("PLUGIN_INVALID") && stderr.contains("wasi_snapshot_preview1.path_open"),
        "{stderr}"
    );

    let looping = write_module(dir.path(), "loop");
    let out = shouhu(&[
        "plugin",
        "run",
        &looping,
        "--manifest",
        &manifest,
        "--input",
        &input,
    ]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("PLUGIN_FUEL_EXHAUSTED"),
        "{}",
        text(&out.stderr)
    );

    // The echo answers its input, which has no ranking: bad output.
    let echo = write_module(dir.path(), "echo");
    let out = shouhu(&[
        "plugin",
        "run",
        &echo,
        "--manifest",
        &manifest,
        "--input",
        &input,
    ]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("PLUGIN_BAD_OUTPUT"),
        "{}",
        text(&out.stderr)
    );
}

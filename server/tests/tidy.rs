//! Tidy checks over the source tree: rules a reviewer would otherwise have
//! to remember.
//!
//! - No module code queries a tenant-owned table except through the
//!   kernel's `ScopedTx`, which adds the tenant filter (on SQLite that
//!   filter is the only wall between districts).
//! - Every Rust file starts with a `//!` line saying what it is for.
//! - Every domain module keeps an `error.rs`.
//! - Lines stay within 100 columns.

use std::fs;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if path.is_dir() {
            if !name.starts_with("target") && !name.starts_with('.') && name != "node_modules" {
                rust_files(&path, out);
            }
        } else if name.ends_with(".rs") {
            out.push(path);
        }
    }
}

fn all_sources() -> Vec<PathBuf> {
    let mut files = Vec::new();
    for dir in [
        "server",
        "modules",
        "policies",
        "migrations",
        "tests",
        "plugins",
    ] {
        rust_files(&root().join(dir), &mut files);
    }
    files
}

/// Names of entity modules (`pub mod users { … }`) that are tenant-owned.
fn tenant_entities() -> Vec<String> {
    let mut names = Vec::new();
    let mut files = Vec::new();
    rust_files(&root().join("modules"), &mut files);
    for file in files.iter().filter(|f| f.ends_with("entity.rs")) {
        let text = fs::read_to_string(file).unwrap();
        let mut current: Option<String> = None;
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("pub mod ") {
                current = rest.split_whitespace().next().map(str::to_owned);
            }
            let scoped = line.contains("impl shouhu_kernel::TenantScoped for Entity")
                || line.trim() == "shouhu_kernel::tenant_scoped!();";
            if let (true, Some(name)) = (scoped, &current) {
                if !names.contains(name) {
                    names.push(name.clone());
                }
            }
        }
    }
    names
}

#[test]
fn tenant_tables_are_only_queried_through_a_scope() {
    let entities = tenant_entities();
    assert!(
        entities.iter().any(|e| e == "user") && entities.iter().any(|e| e == "org_unit"),
        "the tidy check found no tenant entities: {entities:?}"
    );
    let ops = [
        "find()",
        "find_by_id(",
        "update_many()",
        "delete_many()",
        "insert(",
        "update(",
        "delete(",
    ];
    let mut offences = Vec::new();
    let mut files = Vec::new();
    rust_files(&root().join("modules"), &mut files);
    for file in files {
        if file.ends_with("entity.rs") {
            continue;
        }
        let text = fs::read_to_string(&file).unwrap();
        for (n, line) in text.lines().enumerate() {
            for entity in &entities {
                for op in ops {
                    let needle = format!("{entity}::Entity::{op}");
                    // A match must start a path segment: `session::` is not
                    // `operator_session::`.
                    let hit = line.match_indices(&needle).any(|(i, _)| {
                        line[..i]
                            .chars()
                            .next_back()
                            .is_none_or(|c| !(c.is_alphanumeric() || c == '_'))
                    });
                    if hit {
                        offences.push(format!("{}:{}: {}", file.display(), n + 1, line.trim()));
                    }
                }
            }
        }
    }
    assert!(
        offences.is_empty(),
        "query a tenant table through ScopedTx::select/update/delete/insert:\n{}",
        offences.join("\n")
    );
}

#[test]
fn every_file_says_what_it_is_for() {
    let missing: Vec<String> = all_sources()
        .into_iter()
        .filter(|f| {
            let text = fs::read_to_string(f).unwrap_or_default();
            !text.trim_start().starts_with("//!")
        })
        .map(|f| f.display().to_string())
        .collect();
    assert!(
        missing.is_empty(),
        "files without a //! header:\n{}",
        missing.join("\n")
    );
}

#[test]
fn every_module_keeps_an_error_rs() {
    let modules = fs::read_dir(root().join("modules")).unwrap();
    for module in modules.flatten() {
        let src = module.path().join("src");
        if src.is_dir() {
            assert!(
                src.join("error.rs").exists(),
                "{} has no error.rs",
                module.path().display()
            );
        }
    }
}

#[test]
fn lines_fit_in_100_columns() {
    let mut long = Vec::new();
    for file in all_sources() {
        let text = fs::read_to_string(&file).unwrap_or_default();
        for (n, line) in text.lines().enumerate() {
            if line.chars().count() > 100 {
                long.push(format!("{}:{}", file.display(), n + 1));
            }
        }
    }
    assert!(
        long.is_empty(),
        "lines over 100 columns:\n{}",
        long.join("\n")
    );
}

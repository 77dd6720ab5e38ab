//! Checks the built-in roles against the spec table in `cases.csv`, one row per role and
//! permission, so that adding a role or a permission adds rows rather than test code.

use std::collections::HashMap;

use shouhu_policies::{builtin_role, Permission, PolicyEngine, BUILTIN_ROLES, PLATFORM_DOMAIN};

/// The table is embedded like the policy data, so the test needs no working directory.
const CASES: &str = include_str!("cases.csv");
const TENANT: &str = "district_under_test";

struct Case {
    line: usize,
    role: String,
    perm: Permission,
    allow: bool,
}

/// Parses every row, failing with the line number on anything malformed.
fn cases() -> Vec<Case> {
    let mut reader = csv::ReaderBuilder::new()
        .comment(Some(b'#'))
        .trim(csv::Trim::All)
        .from_reader(CASES.as_bytes());
    let headers = reader.headers().expect("header row").clone();
    assert_eq!(
        headers.iter().collect::<Vec<_>>(),
        ["role", "permission", "expected"]
    );
    reader
        .records()
        .map(|record| {
            let record = record.expect("well-formed csv row");
            let line = record.position().map_or(0, |p| p.line() as usize);
            let [role, perm, expected] = [0, 1, 2].map(|i| record.get(i).unwrap_or_default());
            let perm = perm
                .parse()
                .unwrap_or_else(|e| panic!("cases.csv:{line}: {e}"));
            let allow = match expected {
                "allow" => true,
                "deny" => false,
                other => panic!("cases.csv:{line}: expected allow or deny, got `{other}`"),
            };
            Case {
                line,
                role: role.to_owned(),
                perm,
                allow,
            }
        })
        .collect()
}

/// The domain a role is checked in: its own, and one where it must hold nothing.
fn domains(role: &str) -> (&'static str, &'static str) {
    match builtin_role(role) {
        Some(r) if r.platform => (PLATFORM_DOMAIN, TENANT),
        _ => (TENANT, PLATFORM_DOMAIN),
    }
}

#[test]
fn table_covers_every_role_and_permission_exactly_once() {
    let mut seen: HashMap<(String, Permission), usize> = HashMap::new();
    for case in cases() {
        assert!(
            builtin_role(&case.role).is_some(),
            "cases.csv:{}: unknown role",
            case.line
        );
        if let Some(first) = seen.insert((case.role.clone(), case.perm), case.line) {
            panic!("cases.csv:{}: duplicates line {first}", case.line);
        }
    }
    let mut missing = Vec::new();
    for role in BUILTIN_ROLES {
        for perm in Permission::ALL {
            if !seen.contains_key(&(role.name.to_owned(), *perm)) {
                missing.push(format!("{},{perm}", role.name));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "cases.csv lacks rows:\n{}",
        missing.join("\n")
    );
    assert_eq!(seen.len(), BUILTIN_ROLES.len() * Permission::ALL.len());
}

#[test]
fn table_keeps_the_platform_wall() {
    for case in cases().iter().filter(|c| c.allow) {
        let platform_role = builtin_role(&case.role).is_some_and(|r| r.platform);
        // The platform operator never sees children's data, and no tenant role runs the
        // platform.
        assert_eq!(
            platform_role,
            case.perm.is_platform(),
            "cases.csv:{}",
            case.line
        );
    }
}

#[tokio::test]
async fn builtin_roles_match_the_table() {
    let mut engine = PolicyEngine::new().await.expect("engine builds");
    engine.load_tenant(TENANT, &[]).await.expect("tenant loads");
    let mut wrong = Vec::new();
    for case in cases() {
        let (home, other) = domains(&case.role);
        let memo = engine.decide(home, &case.role, case.perm);
        let casbin = engine
            .enforce_uncached(home, &case.role, case.perm)
            .expect("enforce");
        if memo != case.allow || casbin != case.allow {
            wrong.push(format!(
                "cases.csv:{}: {} {} expected {}, memo {memo}, casbin {casbin}",
                case.line, case.role, case.perm, case.allow
            ));
        }
        assert!(
            !engine.decide(other, &case.role, case.perm),
            "{} leaks",
            case.role
        );
    }
    assert!(wrong.is_empty(), "\n{}", wrong.join("\n"));
}

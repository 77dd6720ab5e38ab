//! The built-in roles: their names, display labels and the rules for naming custom roles.
//!
//! The permissions each built-in role holds are data, in `builtin.csv`; `tests/cases.csv` is the
//! full role x permission table that pins them down.

use crate::engine::PLATFORM_DOMAIN;
use crate::error::PolicyError;

/// A role that every tenant has without configuring it (or, for the platform operator, that
/// exists only in the platform domain).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BuiltinRole {
    /// The role's name, as stored on users and in policy lines.
    pub name: &'static str,
    /// A short Chinese display label.
    pub label_zh: &'static str,
    /// A one-line English description.
    pub description: &'static str,
    /// Whether the role lives in the platform domain rather than in each tenant domain.
    pub platform: bool,
}

const fn role(
    name: &'static str,
    label_zh: &'static str,
    description: &'static str,
    platform: bool,
) -> BuiltinRole {
    BuiltinRole {
        name,
        label_zh,
        description,
        platform,
    }
}

/// Every built-in role, the platform operator first.
pub const BUILTIN_ROLES: &[BuiltinRole] = &[
    role(
        "platform_operator",
        "平台运营",
        "Runs the platform: manages tenants and watches health; never sees children's data.",
        true,
    ),
    role(
        "district_admin",
        "区级管理员",
        "Administers a district: organisation, users, roles, plugins, programmes and limits.",
        false,
    ),
    role(
        "centre_caseworker",
        "保护中心社工",
        "Caseworker at the district protection centre, with full case and sensitive access.",
        false,
    ),
    role(
        "street_officer",
        "街道民政干部",
        "Street-level civil affairs officer: manages minors, reports and cases in the street.",
        false,
    ),
    role(
        "community_officer",
        "儿童主任",
        "Community children's director: keeps minors' records and works cases locally.",
        false,
    ),
    role(
        "mandatory_reporter",
        "强制报告责任人",
        "A person bound to report: files reports and sees only their own.",
        false,
    ),
    role(
        "hotline_operator",
        "热线接线员",
        "Hotline operator: files reports from calls and sees only their own.",
        false,
    ),
    role(
        "department_liaison",
        "部门联络人",
        "Liaison in another department: refers reports and completes the actions assigned to it.",
        false,
    ),
    role(
        "partner_ngo",
        "合作社会组织",
        "Partner social organisation: sees its referrals and records services delivered.",
        false,
    ),
    role(
        "evaluator",
        "第三方评估",
        "Third-party evaluator: sees aggregate statistics only.",
        false,
    ),
    role(
        "plugin_developer",
        "插件开发者",
        "Plugin developer: sees plugins and submits new ones for review.",
        false,
    ),
];

/// The built-in role with this name, if any.
pub fn builtin_role(name: &str) -> Option<&'static BuiltinRole> {
    BUILTIN_ROLES.iter().find(|role| role.name == name)
}

/// Whether the name belongs to a built-in role (in any domain).
pub fn is_builtin_role_name(name: &str) -> bool {
    builtin_role(name).is_some()
}

/// Names no custom role may take: the platform domain, and the name the
/// server uses for itself when it acts from the command line.
pub const RESERVED_ROLE_NAMES: &[&str] = &[PLATFORM_DOMAIN, "system"];

/// Checks a custom role name: `[a-z][a-z0-9_]{1,39}`, not a built-in name and not reserved.
pub fn validate_custom_role_name(name: &str) -> Result<(), PolicyError> {
    let bytes = name.as_bytes();
    let well_formed = (2..=40).contains(&bytes.len())
        && bytes[0].is_ascii_lowercase()
        && bytes[1..]
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'_');
    if !well_formed || RESERVED_ROLE_NAMES.contains(&name) {
        return Err(PolicyError::InvalidRoleName(name.to_owned()));
    }
    if is_builtin_role_name(name) {
        return Err(PolicyError::BuiltinRoleName(name.to_owned()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_roles_are_unique_and_well_named() {
        for (i, role) in BUILTIN_ROLES.iter().enumerate() {
            assert!(
                BUILTIN_ROLES[..i].iter().all(|r| r.name != role.name),
                "{}",
                role.name
            );
            assert_eq!(builtin_role(role.name), Some(role));
            // A built-in name must itself be a valid role name, apart from being reserved.
            assert_eq!(
                validate_custom_role_name(role.name),
                Err(PolicyError::BuiltinRoleName(role.name.to_owned()))
            );
        }
        let platform: Vec<_> = BUILTIN_ROLES.iter().filter(|r| r.platform).collect();
        assert_eq!(platform.len(), 1);
        assert_eq!(platform[0].name, "platform_operator");
        assert!(builtin_role("nobody").is_none());
    }

    #[test]
    fn custom_role_names() {
        for good in [
            "ab",
            "school_nurse",
            "team2",
            &format!("a{}", "b".repeat(39)),
        ] {
            assert_eq!(validate_custom_role_name(good), Ok(()), "{good}");
        }
        for bad in [
            "",
            "a",
            "2fast",
            "_x",
            "School",
            "with-dash",
            "with space",
            "platform",
            "中文",
            &format!("a{}", "b".repeat(40)),
        ] {
            let err = validate_custom_role_name(bad).unwrap_err();
            assert_eq!(err, PolicyError::InvalidRoleName(bad.to_owned()), "{bad}");
            assert_eq!(err.code(), "BAD_USER_INPUT");
        }
    }
}

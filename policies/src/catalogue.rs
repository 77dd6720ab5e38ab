//! The permission catalogue: every permission the platform knows, and a compact set of them.

use std::fmt;
use std::str::FromStr;

use crate::error::PolicyError;

/// Defines [`Permission`] and its per-variant data from one table, so that the enum, the string
/// forms, the labels and [`Permission::ALL`] cannot drift apart.
macro_rules! catalogue {
    ($(
        $variant:ident = $resource:literal : $action:literal,
        $label:literal, $platform:literal, $desc:literal;
    )*) => {
        /// One permission, `resource:action`. The discriminant is the bit index in
        /// [`PermissionSet`], so variants must only ever be appended (the order is also the
        /// catalogue order used for display).
        #[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[repr(u8)]
        pub enum Permission {
            $(
                #[doc = $desc]
                $variant,
            )*
        }

        impl Permission {
            /// Every permission, in catalogue order.
            pub const ALL: &'static [Permission] = &[$(Permission::$variant),*];

            /// The string form, `resource:action`, as used in the API and in policy files.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Permission::$variant => concat!($resource, ":", $action),)*
                }
            }

            /// The resource half, which is casbin's `obj`.
            pub fn resource(self) -> &'static str {
                match self {
                    $(Permission::$variant => $resource,)*
                }
            }

            /// The action half, which is casbin's `act`.
            pub fn action(self) -> &'static str {
                match self {
                    $(Permission::$variant => $action,)*
                }
            }

            /// A short Chinese label for the role editor.
            pub fn label_zh(self) -> &'static str {
                match self {
                    $(Permission::$variant => $label,)*
                }
            }

            /// A one-line English description.
            pub fn description(self) -> &'static str {
                match self {
                    $(Permission::$variant => $desc,)*
                }
            }

            /// Whether this is a platform permission, which no tenant role may hold.
            pub fn is_platform(self) -> bool {
                match self {
                    $(Permission::$variant => $platform,)*
                }
            }
        }

        impl FromStr for Permission {
            type Err = PolicyError;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $(concat!($resource, ":", $action) => Ok(Permission::$variant),)*
                    _ => Err(PolicyError::UnknownPermission(s.to_owned())),
                }
            }
        }
    };
}

catalogue! {
    TenantRead = "tenant":"read", "查看租户", true, "See the list of tenants (districts).";
    TenantManage = "tenant":"manage", "管理租户", true, "Create, suspend and configure tenants.";
    PlatformHealth = "platform":"health", "平台运行状态", true, "See platform health and metrics.";
    OrgunitRead = "orgunit":"read", "查看组织架构", false,
        "See the district's organisation units.";
    OrgunitManage = "orgunit":"manage", "管理组织架构", false,
        "Create, rename and move organisation units.";
    UserRead = "user":"read", "查看用户", false, "See the district's user accounts.";
    UserManage = "user":"manage", "管理用户", false,
        "Create, disable and assign roles to user accounts.";
    RoleRead = "role":"read", "查看角色", false, "See built-in and custom roles.";
    RoleManage = "role":"manage", "管理角色", false, "Create, change and remove custom roles.";
    ApikeyManage = "apikey":"manage", "管理接口密钥", false, "Issue and revoke API keys.";
    AuditRead = "audit":"read", "查看审计日志", false, "Read the district's audit log.";
    MinorRead = "minor":"read", "查看未成年人档案", false,
        "See minors' records without sensitive fields.";
    MinorWrite = "minor":"write", "编辑未成年人档案", false, "Create and update minors' records.";
    MinorSensitive = "minor":"sensitive", "查看敏感信息", false,
        "See minors' sensitive personal data (ID numbers, health, family details).";
    MinorImport = "minor":"import", "导入档案", false, "Bulk-import minors' records.";
    MinorExport = "minor":"export", "导出档案", false, "Bulk-export minors' records.";
    LedgerRead = "ledger":"read", "查看台账", false, "See the district ledger of minors.";
    ReportCreate = "report":"create", "提交报告", false, "File a report about a minor at risk.";
    ReportReadOwn = "report":"read_own", "查看本人报告", false,
        "See the reports one filed oneself.";
    ReportRead = "report":"read", "查看报告", false, "See all reports in scope.";
    ReportTriage = "report":"triage", "研判报告", false,
        "Triage reports: accept, merge or dismiss them.";
    ReportReporterIdentity = "report":"reporter_identity", "查看报告人身份", false,
        "See who filed a report.";
    CaseRead = "case":"read", "查看个案", false, "See protection cases in scope.";
    CaseWrite = "case":"write", "编辑个案", false, "Update cases and record case notes.";
    CaseAssign = "case":"assign", "分派个案", false, "Assign cases and actions to people.";
    CaseApprove = "case":"approve", "审批个案", false, "Approve case plans and closures.";
    CaseConfidential = "case":"confidential", "查看保密个案", false,
        "See cases and notes marked confidential.";
    ActionReadAssigned = "action":"read_assigned", "查看分派事项", false,
        "See the actions assigned to one's department.";
    ActionComplete = "action":"complete", "办结事项", false, "Mark assigned actions complete.";
    ReferralRead = "referral":"read", "查看转介", false,
        "See the referrals sent to one's organisation.";
    ServiceRecord = "service":"record", "记录服务", false,
        "Record services delivered to a referred minor.";
    StatsRead = "stats":"read", "查看统计", false, "See aggregate, de-identified statistics.";
    PluginRead = "plugin":"read", "查看插件", false, "See installed and submitted plugins.";
    PluginSubmit = "plugin":"submit", "提交插件", false, "Submit a plugin for review.";
    PluginManage = "plugin":"manage", "管理插件", false,
        "Approve, enable and disable plugins.";
    ProgrammeRead = "programme":"read", "查看项目", false, "See support programmes.";
    ProgrammeManage = "programme":"manage", "管理项目", false,
        "Create and change support programmes.";
    EnrolmentApprove = "enrolment":"approve", "审批入组", false,
        "Approve enrolments of minors into programmes.";
    FamilyRead = "family":"read", "查看家庭", false, "See family records.";
    FamilyManage = "family":"manage", "管理家庭", false, "Create and update family records.";
    SlaManage = "sla":"manage", "管理时限", false, "Set the district's response-time limits.";
    PluginRun = "plugin":"run", "试运行插件", false,
        "Dry-run a plugin version on an input one supplies.";
}

impl Permission {
    /// Whether this permission unlocks personal data beyond the ordinary record, so that the
    /// role editor can warn and the audit log can flag its use.
    pub fn is_sensitive(self) -> bool {
        matches!(
            self,
            Permission::MinorSensitive
                | Permission::ReportReporterIdentity
                | Permission::CaseConfidential
        )
    }

    /// The bit this permission occupies in a [`PermissionSet`].
    const fn bit(self) -> u64 {
        1 << (self as u8)
    }
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

// The set is a u64 bitset, so the catalogue may hold at most 64 permissions.
const _: () = assert!(Permission::ALL.len() <= 64);

/// A set of permissions as a bitset: copying, union and membership are single instructions.
#[derive(Copy, Clone, Default, PartialEq, Eq, Hash)]
pub struct PermissionSet(u64);

impl PermissionSet {
    /// The empty set.
    pub const fn empty() -> Self {
        Self(0)
    }

    /// Adds a permission; returns whether it was newly added.
    pub fn insert(&mut self, perm: Permission) -> bool {
        let added = self.0 & perm.bit() == 0;
        self.0 |= perm.bit();
        added
    }

    /// Whether the set holds the permission.
    pub const fn contains(self, perm: Permission) -> bool {
        self.0 & perm.bit() != 0
    }

    /// The permissions in the set, in catalogue order.
    pub fn iter(self) -> impl Iterator<Item = Permission> {
        Permission::ALL
            .iter()
            .copied()
            .filter(move |p| self.contains(*p))
    }

    /// The permissions held by either set.
    #[must_use]
    pub const fn union(self, other: Self) -> Self {
        Self(self.0 | other.0)
    }

    /// The permissions both sets hold.
    #[must_use]
    pub const fn intersection(self, other: Self) -> Self {
        Self(self.0 & other.0)
    }

    /// The number of permissions in the set.
    pub const fn len(self) -> usize {
        self.0.count_ones() as usize
    }

    /// Whether the set is empty.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }
}

impl FromIterator<Permission> for PermissionSet {
    fn from_iter<I: IntoIterator<Item = Permission>>(iter: I) -> Self {
        let mut set = Self::empty();
        for perm in iter {
            set.insert(perm);
        }
        set
    }
}

impl fmt::Debug for PermissionSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set()
            .entries(self.iter().map(Permission::as_str))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_is_in_discriminant_order_and_round_trips() {
        for (i, perm) in Permission::ALL.iter().enumerate() {
            assert_eq!(*perm as usize, i, "{perm} is out of order");
            assert_eq!(perm.as_str().parse::<Permission>(), Ok(*perm));
            assert_eq!(
                format!("{}:{}", perm.resource(), perm.action()),
                perm.as_str()
            );
            assert!(!perm.label_zh().is_empty() && !perm.description().is_empty());
        }
        assert_eq!(Permission::ALL.len(), 42);
    }

    #[test]
    fn unknown_permission_strings_are_refused() {
        for bad in [
            "",
            "minor",
            "minor:",
            "minor:delete",
            "MINOR:READ",
            " minor:read",
            "*:*",
        ] {
            let err = bad.parse::<Permission>().unwrap_err();
            assert_eq!(err, PolicyError::UnknownPermission(bad.to_owned()));
            assert_eq!(err.code(), "BAD_USER_INPUT");
        }
    }

    #[test]
    fn platform_and_sensitive_flags() {
        let platform: Vec<_> = Permission::ALL.iter().filter(|p| p.is_platform()).collect();
        assert_eq!(
            platform,
            [
                &Permission::TenantRead,
                &Permission::TenantManage,
                &Permission::PlatformHealth
            ]
        );
        let sensitive: Vec<_> = Permission::ALL
            .iter()
            .filter(|p| p.is_sensitive())
            .collect();
        assert_eq!(sensitive.len(), 3);
    }

    #[test]
    fn permission_set_operations() {
        let mut set = PermissionSet::empty();
        assert!(set.is_empty());
        assert!(set.insert(Permission::SlaManage));
        assert!(set.insert(Permission::TenantRead));
        assert!(!set.insert(Permission::TenantRead));
        assert_eq!(set.len(), 2);
        assert!(set.contains(Permission::SlaManage) && !set.contains(Permission::MinorRead));
        let order: Vec<_> = set.iter().collect();
        assert_eq!(order, [Permission::TenantRead, Permission::SlaManage]);
        let other: PermissionSet = [Permission::MinorRead, Permission::SlaManage]
            .into_iter()
            .collect();
        assert_eq!(set.union(other).len(), 3);
        let full: PermissionSet = Permission::ALL.iter().copied().collect();
        assert_eq!(full.len(), Permission::ALL.len());
        assert_eq!(format!("{other:?}"), r#"{"minor:read", "sla:manage"}"#);
    }
}

//! The policy engine: casbin decides, and a per-domain memo of its answers serves requests.
//!
//! casbin's `enforce` evaluates the matcher with a script engine over every policy line, which
//! costs milliseconds once hundreds of tenants are loaded. Because the model only ever compares
//! strings for equality, the permissions a role holds in a domain are a fixed set; the engine
//! asks casbin for that set whenever a domain's policy changes and answers requests from it.

use std::collections::{BTreeSet, HashMap};

use casbin::{CoreApi, DefaultModel, Enforcer, MemoryAdapter, MgmtApi, RbacApi};

use crate::catalogue::{Permission, PermissionSet};
use crate::error::PolicyError;
use crate::roles::{builtin_role, validate_custom_role_name};

/// The fixed domain that holds the platform operator's policy.
pub const PLATFORM_DOMAIN: &str = "platform";

/// The casbin model, embedded so that the crate reads no files at run time.
const MODEL: &str = include_str!("../model.conf");
/// The built-in role policy templates, embedded for the same reason.
const BUILTIN: &str = include_str!("../builtin.csv");
/// The placeholder in `builtin.csv` that stands for each tenant's domain.
const TENANT_PLACEHOLDER: &str = "{tenant}";
/// The longest tenant domain accepted; tenant ids are slugs or UUIDs, far shorter than this.
const MAX_DOMAIN_LEN: usize = 64;

/// One line of `builtin.csv`.
#[derive(Debug, Clone, Copy)]
struct Template {
    role: &'static str,
    /// Whether the line is for the platform domain rather than each tenant domain.
    platform: bool,
    perm: Permission,
}

/// Parses and checks `builtin.csv`. Its lines are `p, <role>, <domain>, <resource>, <action>`,
/// where the domain is `{tenant}` or `platform`; `#` starts a comment line.
fn parse_templates(text: &'static str) -> Result<Vec<Template>, PolicyError> {
    let mut templates = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let bad = |why: &str| PolicyError::Template(format!("builtin.csv:{}: {why}", index + 1));
        let fields: Vec<&'static str> = line.split(',').map(str::trim).collect();
        let [ptype, role, domain, resource, action] = fields[..] else {
            return Err(bad("expected 5 fields"));
        };
        if ptype != "p" {
            return Err(bad("only `p` lines are allowed"));
        }
        let builtin = builtin_role(role).ok_or_else(|| bad("not a built-in role"))?;
        let perm: Permission = format!("{resource}:{action}")
            .parse()
            .map_err(|_| bad("unknown permission"))?;
        let platform = match domain {
            PLATFORM_DOMAIN => true,
            TENANT_PLACEHOLDER => false,
            _ => return Err(bad("domain must be `platform` or `{tenant}`")),
        };
        // Platform roles and permissions stay in the platform domain and tenant ones stay out
        // of it, so that the platform operator can never reach children's data.
        if builtin.platform != platform || perm.is_platform() != platform {
            return Err(bad(
                "platform roles and permissions belong in the platform domain only",
            ));
        }
        templates.push(Template {
            role,
            platform,
            perm,
        });
    }
    Ok(templates)
}

/// Checks a tenant domain name: 1-64 of `A-Z a-z 0-9 _ - . :`, and not the platform domain.
fn validate_tenant_domain(tenant: &str) -> Result<(), PolicyError> {
    let well_formed = (1..=MAX_DOMAIN_LEN).contains(&tenant.len())
        && tenant
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_-.:".contains(&b));
    if !well_formed || tenant == PLATFORM_DOMAIN {
        return Err(PolicyError::InvalidDomain(tenant.to_owned()));
    }
    Ok(())
}

/// Checks one custom role definition and returns its permissions as a set.
fn validate_custom_role(role: &str, perms: &[Permission]) -> Result<PermissionSet, PolicyError> {
    validate_custom_role_name(role)?;
    if let Some(perm) = perms.iter().find(|p| p.is_platform()) {
        return Err(PolicyError::PlatformPermission {
            role: role.to_owned(),
            permission: perm.as_str().to_owned(),
        });
    }
    Ok(perms.iter().copied().collect())
}

/// The casbin `p` line granting `perm` to `role` in `domain`.
fn policy_line(role: &str, domain: &str, perm: Permission) -> Vec<String> {
    vec![
        role.to_owned(),
        domain.to_owned(),
        perm.resource().to_owned(),
        perm.action().to_owned(),
    ]
}

/// Answers "may this role do this in this domain?" for the platform and every loaded tenant.
///
/// Mutations take `&mut self`; share the engine behind a read-write lock, since decisions are
/// frequent and policy changes are rare.
pub struct PolicyEngine {
    enforcer: Enforcer,
    /// The tenant-domain lines of `builtin.csv`, instantiated for each tenant.
    tenant_templates: Vec<Template>,
    /// For each loaded domain, the permissions casbin grants each role that has any.
    memo: HashMap<String, HashMap<String, PermissionSet>>,
}

impl PolicyEngine {
    /// Builds the engine from the embedded model and loads the platform domain.
    pub async fn new() -> Result<Self, PolicyError> {
        let templates = parse_templates(BUILTIN)?;
        let model = DefaultModel::from_str(MODEL).await?;
        let mut enforcer = Enforcer::new(model, MemoryAdapter::default()).await?;
        // The model is the only copy of the policy that matters; saving every change into the
        // in-memory adapter too would double the work and could let the two drift apart.
        enforcer.enable_auto_save(false);
        let (platform, tenant_templates): (Vec<_>, Vec<_>) =
            templates.into_iter().partition(|t| t.platform);
        let platform_lines = platform
            .iter()
            .map(|t| policy_line(t.role, PLATFORM_DOMAIN, t.perm))
            .collect();
        enforcer.add_policies(platform_lines).await?;
        let mut engine = Self {
            enforcer,
            tenant_templates,
            memo: HashMap::new(),
        };
        engine.rebuild_domain(PLATFORM_DOMAIN)?;
        Ok(engine)
    }

    /// (Re)loads one tenant domain: drops whatever it had, instantiates the built-in roles for
    /// it and adds its custom roles. Everything is checked before anything changes, and loading
    /// the same data twice leaves the same state.
    pub async fn load_tenant(
        &mut self,
        tenant: &str,
        custom_roles: &[(String, Vec<Permission>)],
    ) -> Result<(), PolicyError> {
        validate_tenant_domain(tenant)?;
        let mut lines: Vec<_> = self
            .tenant_templates
            .iter()
            .map(|t| policy_line(t.role, tenant, t.perm))
            .collect();
        let mut seen = BTreeSet::new();
        for (role, perms) in custom_roles {
            let set = validate_custom_role(role, perms)?;
            if !seen.insert(role.as_str()) {
                return Err(PolicyError::DuplicateRole(role.clone()));
            }
            lines.extend(set.iter().map(|perm| policy_line(role, tenant, perm)));
        }
        let result = self.replace_domain(tenant, lines).await;
        // The memo is rebuilt even after a failure so that it always mirrors what casbin holds.
        let rebuilt = self.rebuild_domain(tenant);
        result.and(rebuilt)
    }

    /// Drops a tenant domain entirely; returns whether it was loaded.
    pub async fn unload_tenant(&mut self, tenant: &str) -> Result<bool, PolicyError> {
        validate_tenant_domain(tenant)?;
        let result = self.replace_domain(tenant, Vec::new()).await;
        let was_loaded = self.memo.remove(tenant).is_some();
        result.map(|()| was_loaded)
    }

    /// Creates or replaces a custom role in a loaded tenant; it takes effect at once.
    pub async fn set_custom_role(
        &mut self,
        tenant: &str,
        role: &str,
        perms: &[Permission],
    ) -> Result<(), PolicyError> {
        self.check_loaded_tenant(tenant)?;
        let set = validate_custom_role(role, perms)?;
        let result = self.replace_role(tenant, role, set).await;
        let rebuilt = self.rebuild_domain(tenant);
        result.and(rebuilt)
    }

    /// Removes a custom role from a loaded tenant; returns whether it had any permissions.
    pub async fn remove_custom_role(
        &mut self,
        tenant: &str,
        role: &str,
    ) -> Result<bool, PolicyError> {
        self.check_loaded_tenant(tenant)?;
        validate_custom_role_name(role)?;
        let had_role = self
            .memo
            .get(tenant)
            .is_some_and(|roles| roles.contains_key(role));
        let result = self
            .replace_role(tenant, role, PermissionSet::empty())
            .await;
        let rebuilt = self.rebuild_domain(tenant);
        result.and(rebuilt).map(|()| had_role)
    }

    /// Whether `role` may use `perm` in `domain`, from the memo. An unknown domain or role is
    /// denied.
    pub fn decide(&self, domain: &str, role: &str, perm: Permission) -> bool {
        self.memo
            .get(domain)
            .and_then(|roles| roles.get(role))
            .is_some_and(|set| set.contains(perm))
    }

    /// The union of the permissions the given roles hold in `domain`, from the memo.
    pub fn permissions(&self, domain: &str, roles: &[impl AsRef<str>]) -> PermissionSet {
        let Some(domain_roles) = self.memo.get(domain) else {
            return PermissionSet::empty();
        };
        roles
            .iter()
            .filter_map(|role| domain_roles.get(role.as_ref()))
            .fold(PermissionSet::empty(), |acc, set| acc.union(*set))
    }

    /// Asks casbin directly, bypassing the memo. This is slow (it scans every policy line) and
    /// exists so that tests and the bench can compare the memo with casbin.
    pub fn enforce_uncached(
        &self,
        domain: &str,
        role: &str,
        perm: Permission,
    ) -> Result<bool, PolicyError> {
        Ok(self
            .enforcer
            .enforce((role, domain, perm.resource(), perm.action()))?)
    }

    /// Whether the domain (a tenant, or the platform domain) is loaded.
    pub fn is_loaded(&self, domain: &str) -> bool {
        self.memo.contains_key(domain)
    }

    /// The number of loaded tenant domains; the platform domain is not counted.
    pub fn domain_count(&self) -> usize {
        self.memo.len() - usize::from(self.memo.contains_key(PLATFORM_DOMAIN))
    }

    /// Refuses changes to a tenant that is not loaded, or to the platform domain.
    fn check_loaded_tenant(&self, tenant: &str) -> Result<(), PolicyError> {
        validate_tenant_domain(tenant)?;
        if !self.is_loaded(tenant) {
            return Err(PolicyError::DomainNotLoaded(tenant.to_owned()));
        }
        Ok(())
    }

    /// Replaces every policy and role link of a domain in casbin with `lines`.
    async fn replace_domain(
        &mut self,
        domain: &str,
        lines: Vec<Vec<String>>,
    ) -> Result<(), PolicyError> {
        self.enforcer
            .remove_filtered_policy(1, vec![domain.to_owned()])
            .await?;
        self.enforcer
            .remove_filtered_grouping_policy(2, vec![domain.to_owned()])
            .await?;
        if !lines.is_empty() {
            self.enforcer.add_policies(lines).await?;
        }
        Ok(())
    }

    /// Replaces one role's policy lines in a domain with one line per permission in `perms`.
    async fn replace_role(
        &mut self,
        domain: &str,
        role: &str,
        perms: PermissionSet,
    ) -> Result<(), PolicyError> {
        self.enforcer
            .remove_filtered_policy(0, vec![role.to_owned(), domain.to_owned()])
            .await?;
        if !perms.is_empty() {
            let lines = perms
                .iter()
                .map(|perm| policy_line(role, domain, perm))
                .collect();
            self.enforcer.add_policies(lines).await?;
        }
        Ok(())
    }

    /// Recomputes the memo for one domain from casbin: every subject with a policy line or a
    /// role link in the domain, with the permissions casbin's RBAC API says it holds there.
    fn rebuild_domain(&mut self, domain: &str) -> Result<(), PolicyError> {
        let dom = domain.to_owned();
        let mut subjects: BTreeSet<String> = BTreeSet::new();
        for line in self.enforcer.get_filtered_policy(1, vec![dom.clone()]) {
            subjects.extend(line.into_iter().next());
        }
        for link in self
            .enforcer
            .get_filtered_grouping_policy(2, vec![dom.clone()])
        {
            subjects.extend(link.into_iter().next());
        }
        let mut roles = HashMap::with_capacity(subjects.len());
        for subject in subjects {
            let mut set = PermissionSet::empty();
            for line in self
                .enforcer
                .get_implicit_permissions_for_user(&subject, Some(domain))
            {
                let [_, line_domain, resource, action] = &line[..] else {
                    return Err(PolicyError::Template(format!(
                        "malformed policy line {line:?}"
                    )));
                };
                if line_domain == domain {
                    set.insert(format!("{resource}:{action}").parse()?);
                }
            }
            roles.insert(subject, set);
        }
        self.memo.insert(dom, roles);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::roles::BUILTIN_ROLES;

    /// A custom role as `load_tenant` takes it.
    type CustomRole = (String, Vec<Permission>);

    fn custom(role: &str, perms: &[Permission]) -> CustomRole {
        (role.to_owned(), perms.to_vec())
    }

    async fn engine_with(tenants: &[(&str, Vec<CustomRole>)]) -> PolicyEngine {
        let mut engine = PolicyEngine::new().await.expect("engine builds");
        for (tenant, roles) in tenants {
            engine
                .load_tenant(tenant, roles)
                .await
                .expect("tenant loads");
        }
        engine
    }

    #[test]
    fn engine_can_be_shared_across_threads() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<PolicyEngine>();
    }

    #[test]
    fn builtin_templates_parse() {
        let templates = parse_templates(BUILTIN).expect("builtin.csv is valid");
        assert!(templates.iter().any(|t| t.platform));
        // Every built-in role grants something, or it would be missing from the memo.
        for role in BUILTIN_ROLES {
            assert!(
                templates.iter().any(|t| t.role == role.name),
                "{}",
                role.name
            );
        }
    }

    #[test]
    fn bad_templates_are_refused() {
        for bad in [
            "p, district_admin, {tenant}, minor",
            "g, district_admin, {tenant}, minor, read",
            "p, nobody, {tenant}, minor, read",
            "p, district_admin, {tenant}, minor, delete",
            "p, district_admin, *, minor, read",
            "p, district_admin, platform, minor, read",
            "p, platform_operator, {tenant}, tenant, read",
            "p, district_admin, {tenant}, tenant, read",
        ] {
            let err = parse_templates(bad).unwrap_err();
            assert!(matches!(err, PolicyError::Template(_)), "{bad}: {err}");
            assert_eq!(err.code(), "INTERNAL");
        }
    }

    #[tokio::test]
    async fn memo_agrees_with_casbin_everywhere() {
        let extra = [Permission::MinorRead, Permission::StatsRead];
        let engine =
            engine_with(&[("a", vec![custom("school_nurse", &extra)]), ("b", vec![])]).await;
        let mut roles: Vec<&str> = BUILTIN_ROLES.iter().map(|r| r.name).collect();
        roles.extend(["school_nurse", "nobody"]);
        let mut allowed = 0;
        for domain in [PLATFORM_DOMAIN, "a", "b"] {
            for role in &roles {
                for perm in Permission::ALL {
                    let casbin = engine
                        .enforce_uncached(domain, role, *perm)
                        .expect("enforce");
                    assert_eq!(
                        engine.decide(domain, role, *perm),
                        casbin,
                        "{domain} {role} {perm}"
                    );
                    allowed += usize::from(casbin);
                }
            }
        }
        // A sanity check that the comparison was not vacuous: both sides allowed something.
        assert!(allowed > 100, "{allowed}");
    }

    #[tokio::test]
    async fn platform_operator_only_in_platform_domain() {
        let engine = engine_with(&[("a", vec![])]).await;
        let op = "platform_operator";
        let platform = engine.permissions(PLATFORM_DOMAIN, &[op]);
        assert_eq!(
            platform.iter().collect::<Vec<_>>(),
            [
                Permission::TenantRead,
                Permission::TenantManage,
                Permission::PlatformHealth
            ]
        );
        assert!(engine.permissions("a", &[op]).is_empty());
        assert!(!engine
            .enforce_uncached("a", op, Permission::TenantRead)
            .expect("enforce"));
        // Tenant roles grant nothing in the platform domain.
        assert!(engine
            .permissions(PLATFORM_DOMAIN, &["district_admin"])
            .is_empty());
        assert!(engine.is_loaded(PLATFORM_DOMAIN));
        assert_eq!(engine.domain_count(), 1);
    }

    #[tokio::test]
    async fn domains_are_isolated() {
        let nurse = [Permission::MinorRead];
        let mut engine = engine_with(&[("a", vec![custom("school_nurse", &nurse)])]).await;
        assert!(engine.decide("a", "school_nurse", Permission::MinorRead));
        assert!(engine.decide("a", "district_admin", Permission::UserManage));
        // B is not loaded: nothing in A answers for it.
        assert!(!engine.is_loaded("b"));
        assert!(!engine.decide("b", "district_admin", Permission::UserManage));
        assert!(!engine
            .enforce_uncached("b", "district_admin", Permission::UserManage)
            .unwrap());
        engine.load_tenant("b", &[]).await.expect("load b");
        assert!(engine.decide("b", "district_admin", Permission::UserManage));
        // A's custom role stays invisible in B, to the memo and to casbin.
        assert!(!engine.decide("b", "school_nurse", Permission::MinorRead));
        assert!(!engine
            .enforce_uncached("b", "school_nurse", Permission::MinorRead)
            .unwrap());
        assert!(engine.permissions("b", &["school_nurse"]).is_empty());
        assert_eq!(engine.domain_count(), 2);
        // Unloading B leaves A untouched.
        assert!(engine.unload_tenant("b").await.expect("unload"));
        assert!(!engine.unload_tenant("b").await.expect("unload again"));
        assert!(!engine.decide("b", "district_admin", Permission::UserManage));
        assert!(engine.decide("a", "school_nurse", Permission::MinorRead));
        assert_eq!(engine.domain_count(), 1);
    }

    #[tokio::test]
    async fn custom_roles_change_at_run_time() {
        let mut engine = engine_with(&[("a", vec![]), ("b", vec![])]).await;
        let role = "school_nurse";
        assert!(!engine.decide("a", role, Permission::MinorRead));

        engine
            .set_custom_role("a", role, &[Permission::MinorRead])
            .await
            .expect("create");
        assert!(engine.decide("a", role, Permission::MinorRead));
        assert!(engine
            .enforce_uncached("a", role, Permission::MinorRead)
            .unwrap());
        assert!(!engine.decide("b", role, Permission::MinorRead));

        let replaced = [
            Permission::FamilyRead,
            Permission::FamilyRead,
            Permission::CaseRead,
        ];
        engine
            .set_custom_role("a", role, &replaced)
            .await
            .expect("replace");
        let set = engine.permissions("a", &[role]);
        assert_eq!(
            set.iter().collect::<Vec<_>>(),
            [Permission::CaseRead, Permission::FamilyRead]
        );
        assert!(!engine.decide("a", role, Permission::MinorRead));
        assert!(!engine
            .enforce_uncached("a", role, Permission::MinorRead)
            .unwrap());

        // Union over roles: the custom role plus a built-in one.
        let both = engine.permissions("a", &[role.to_owned(), "evaluator".to_owned()]);
        assert_eq!(both.len(), 3);

        assert!(engine.remove_custom_role("a", role).await.expect("remove"));
        assert!(!engine
            .remove_custom_role("a", role)
            .await
            .expect("remove again"));
        assert!(engine.permissions("a", &[role]).is_empty());
        assert!(!engine
            .enforce_uncached("a", role, Permission::CaseRead)
            .unwrap());
        // Built-in roles were not disturbed.
        assert!(engine.decide("a", "evaluator", Permission::StatsRead));
    }

    #[tokio::test]
    async fn load_tenant_is_idempotent_and_replaces() {
        let nurse = custom("school_nurse", &[Permission::MinorRead]);
        let mut engine = engine_with(&[("a", vec![nurse.clone()])]).await;
        let lines = engine.enforcer.get_policy().len();
        engine.load_tenant("a", &[nurse]).await.expect("reload");
        assert_eq!(engine.enforcer.get_policy().len(), lines);
        assert!(engine.decide("a", "school_nurse", Permission::MinorRead));
        // Reloading without the custom role drops it.
        engine.load_tenant("a", &[]).await.expect("reload without");
        assert!(!engine.decide("a", "school_nurse", Permission::MinorRead));
        assert!(engine.decide("a", "district_admin", Permission::RoleManage));
        assert_eq!(engine.domain_count(), 1);
    }

    #[tokio::test]
    async fn bad_input_is_refused() {
        let mut engine = engine_with(&[("a", vec![])]).await;
        let err = engine
            .set_custom_role("a", "nurse", &[Permission::TenantManage])
            .await;
        let err = err.unwrap_err();
        assert!(
            matches!(err, PolicyError::PlatformPermission { .. }),
            "{err}"
        );
        assert_eq!(err.code(), "BAD_USER_INPUT");
        assert!(!engine.decide("a", "nurse", Permission::TenantManage));

        let err = engine
            .set_custom_role("a", "district_admin", &[Permission::MinorRead])
            .await;
        assert_eq!(
            err,
            Err(PolicyError::BuiltinRoleName("district_admin".into()))
        );
        let err = engine.remove_custom_role("a", "evaluator").await;
        assert_eq!(err, Err(PolicyError::BuiltinRoleName("evaluator".into())));
        assert!(engine.decide("a", "evaluator", Permission::StatsRead));
        let err = engine.set_custom_role("a", "Bad Name", &[]).await;
        assert_eq!(err, Err(PolicyError::InvalidRoleName("Bad Name".into())));

        let err = engine
            .set_custom_role("zz", "nurse", &[Permission::MinorRead])
            .await;
        assert_eq!(err, Err(PolicyError::DomainNotLoaded("zz".into())));
        for domain in ["platform", "", "{tenant}", "a,b", "a b"] {
            let err = engine.load_tenant(domain, &[]).await;
            assert_eq!(
                err,
                Err(PolicyError::InvalidDomain(domain.into())),
                "{domain:?}"
            );
        }

        // A bad custom role refuses the whole load and leaves the tenant as it was.
        let roles = [
            custom("nurse", &[Permission::MinorRead]),
            custom("op", &[Permission::PlatformHealth]),
        ];
        let err = engine.load_tenant("a", &roles).await.unwrap_err();
        assert!(matches!(err, PolicyError::PlatformPermission { .. }));
        assert!(!engine.decide("a", "nurse", Permission::MinorRead));
        let dup = [
            custom("nurse", &[]),
            custom("nurse", &[Permission::MinorRead]),
        ];
        let err = engine.load_tenant("a", &dup).await;
        assert_eq!(err, Err(PolicyError::DuplicateRole("nurse".into())));
        assert!(engine.decide("a", "district_admin", Permission::UserRead));
    }
}

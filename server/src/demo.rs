//! The demo district: 吴中区 (Suzhou, division code 320506) with its real
//! streets and towns, a few communities under each, and one account per
//! built-in role. Only `shouhu serve --demo` creates it.

use shouhu_audit::Actor;
use shouhu_identity::{NewUser, Onboarding};
use shouhu_kernel::{ApiError, Principal, TenantId};
use shouhu_policies::BUILTIN_ROLES;
use shouhu_tenancy::{DivisionSource, NewOrgUnit};

use crate::app::Services;

pub const DEMO_CODE: &str = "320506";
pub const DEMO_SLUG: &str = "wuzhong";
/// Printed at start; a demo has no secrets worth keeping.
pub const DEMO_PASSWORD: &str = "shouhu-demo-2026";

/// The streets and towns of 吴中区 as the National Bureau of Statistics
/// lists them (2022 division codes).
pub const WUZHONG_STREETS: &[(&str, &str)] = &[
    ("320506001", "长桥街道"),
    ("320506003", "越溪街道"),
    ("320506004", "郭巷街道"),
    ("320506005", "横泾街道"),
    ("320506006", "香山街道"),
    ("320506009", "城南街道"),
    ("320506010", "太湖街道"),
    ("320506100", "甪直镇"),
    ("320506103", "木渎镇"),
    ("320506104", "胥口镇"),
    ("320506107", "东山镇"),
    ("320506108", "光福镇"),
    ("320506109", "金庭镇"),
    ("320506110", "临湖镇"),
    ("320506400", "江苏省太湖采石公司"),
    ("320506401", "吴中区林场"),
    ("320506402", "西山农业园区"),
    ("320506403", "穹窿山风景区"),
    ("320506404", "开发区"),
    ("320506405", "国家苏州太湖旅游度假区"),
];

/// One demo account: (username, role, org-unit code; `None` for the
/// district itself).
pub const DEMO_ACCOUNTS: &[(&str, &str, Option<&str>)] = &[
    ("admin", "district_admin", None),
    ("centre", "centre_caseworker", None),
    ("changqiao", "street_officer", Some("320506001")),
    ("yuexi", "street_officer", Some("320506003")),
    ("community", "community_officer", Some("320506001001")),
    ("teacher", "mandatory_reporter", Some("320506001")),
    ("hotline", "hotline_operator", None),
    ("liaison", "department_liaison", None),
    ("partner", "partner_ngo", None),
    ("evaluator", "evaluator", None),
    ("plugindev", "plugin_developer", None),
];

pub const DEMO_OPERATOR: &str = "operator";

/// Creates the demo district unless it exists; returns the sign-ins to
/// print, or `None` when there was nothing to do.
pub async fn ensure(services: &Services) -> Result<Option<Vec<String>>, ApiError> {
    if services.tenancy.tenant_by_slug(DEMO_SLUG).await?.is_some() {
        return Ok(None);
    }
    let actor = Actor::system("demo");
    let platform = Principal::system(TenantId::PLATFORM);
    // The demo carries its own rows, so it needs no division files; when
    // the server has them, they agree.
    let tenant = services
        .identity
        .onboard(
            &platform,
            &actor,
            Onboarding {
                code: DEMO_CODE.into(),
                slug: Some(DEMO_SLUG.into()),
                name: Some("吴中区".into()),
                admin: None,
            },
            None,
        )
        .await?;
    let tid = TenantId(tenant.id);
    let system = Principal::system(tid);
    let root = {
        let tx = services.db.read(tid).await?;
        let root = services.tenancy.root_in(&tx).await?;
        tx.commit().await?;
        root
    };
    for (code, name) in WUZHONG_STREETS {
        let street = services
            .tenancy
            .create_org_unit(
                &system,
                &actor,
                NewOrgUnit {
                    parent_id: root.id,
                    code: (*code).into(),
                    name: (*name).into(),
                    kind: None,
                },
            )
            .await?;
        let short = name
            .trim_end_matches("街道")
            .trim_end_matches('镇')
            .to_owned();
        let grassroots = [
            ("001", format!("{short}第一社区")),
            ("002", format!("{short}第二社区")),
            ("201", format!("{short}村")),
        ];
        for (suffix, unit_name) in grassroots {
            services
                .tenancy
                .create_org_unit(
                    &system,
                    &actor,
                    NewOrgUnit {
                        parent_id: street.id,
                        code: format!("{code}{suffix}"),
                        name: unit_name,
                        kind: None,
                    },
                )
                .await?;
        }
    }
    let mut lines = Vec::new();
    for (username, role, unit_code) in DEMO_ACCOUNTS {
        let unit_id = match unit_code {
            Some(code) => {
                let tx = services.db.read(tid).await?;
                let unit = services.tenancy.unit_by_code_in(&tx, code).await?;
                tx.commit().await?;
                unit.map(|u| u.id)
            }
            None => None,
        };
        let label = BUILTIN_ROLES
            .iter()
            .find(|r| r.name == *role)
            .map(|r| r.label_zh)
            .unwrap_or(role);
        services
            .identity
            .create_user(
                &system,
                &actor,
                NewUser {
                    username: (*username).into(),
                    display_name: format!("演示{label}"),
                    password: DEMO_PASSWORD.into(),
                    org_unit_id: unit_id,
                    roles: vec![(*role).into()],
                },
            )
            .await?;
        lines.push(format!(
            "  tenant {DEMO_SLUG:<9} username {username:<10} password {DEMO_PASSWORD}  ({role})"
        ));
    }
    match services
        .identity
        .create_operator(DEMO_OPERATOR, DEMO_PASSWORD)
        .await
    {
        Ok(_) => lines.push(format!(
            "  tenant platform  username {DEMO_OPERATOR:<10} password {DEMO_PASSWORD}  \
             (platform_operator)"
        )),
        Err(e) if e.code == shouhu_kernel::ErrorCode::Conflict => {}
        Err(e) => return Err(e),
    }
    Ok(Some(lines))
}

/// Checks the embedded streets against division files, when given.
pub fn check_against(source: &DivisionSource) -> Result<bool, ApiError> {
    let district = source.district(DEMO_CODE).map_err(ApiError::from)?;
    let embedded: Vec<(String, String)> = WUZHONG_STREETS
        .iter()
        .map(|(c, n)| ((*c).to_owned(), (*n).to_owned()))
        .collect();
    Ok(district.streets == embedded)
}

/// How many built-in roles the catalogue has; the demo has an account for
/// each (the operator's is made separately).
pub const BUILTIN_ROLE_COUNT: usize = BUILTIN_ROLES.len();

//! Creating districts and org units, and reading the tree within a caller's
//! scope.

use std::io::Read;

use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use shouhu_audit::{Actor, AuditEntry, AuditService};
use shouhu_kernel::clock::SharedClock;
use shouhu_kernel::db::is_unique_violation;
use shouhu_kernel::ids::new_id;
use shouhu_kernel::{ApiError, Db, Principal, ScopedTx, TenantId};
use shouhu_policies::Permission;
use uuid::Uuid;

use crate::entity::{org_unit, tenant};
use crate::TenancyError;

/// The kinds of unit. The district is the root; streets, towns and other
/// township-level units sit under it; communities and villages under those.
#[derive(Copy, Clone, Debug, PartialEq, Eq, async_graphql::Enum)]
pub enum OrgUnitKind {
    District,
    Street,
    Town,
    Community,
    Village,
    Other,
}

impl OrgUnitKind {
    pub fn as_str(self) -> &'static str {
        match self {
            OrgUnitKind::District => "district",
            OrgUnitKind::Street => "street",
            OrgUnitKind::Town => "town",
            OrgUnitKind::Community => "community",
            OrgUnitKind::Village => "village",
            OrgUnitKind::Other => "other",
        }
    }

    pub fn parse(s: &str) -> Option<OrgUnitKind> {
        Some(match s {
            "district" => OrgUnitKind::District,
            "street" => OrgUnitKind::Street,
            "town" => OrgUnitKind::Town,
            "community" => OrgUnitKind::Community,
            "village" => OrgUnitKind::Village,
            "other" => OrgUnitKind::Other,
            _ => return None,
        })
    }

    pub fn label_zh(self) -> &'static str {
        match self {
            OrgUnitKind::District => "区/县",
            OrgUnitKind::Street => "街道",
            OrgUnitKind::Town => "乡镇",
            OrgUnitKind::Community => "社区",
            OrgUnitKind::Village => "村",
            OrgUnitKind::Other => "其他",
        }
    }

    /// Guesses the kind of a township-level unit from its name.
    pub fn of_township(name: &str) -> OrgUnitKind {
        if name.ends_with("街道") {
            OrgUnitKind::Street
        } else if name.ends_with('镇') || name.ends_with('乡') {
            OrgUnitKind::Town
        } else {
            OrgUnitKind::Other
        }
    }

    /// Guesses the kind of a unit under a street from its name.
    pub fn of_grassroots(name: &str) -> OrgUnitKind {
        if name.ends_with('村') || name.ends_with("村委会") {
            OrgUnitKind::Village
        } else {
            OrgUnitKind::Community
        }
    }

    fn depth(self) -> i32 {
        match self {
            OrgUnitKind::District => 0,
            OrgUnitKind::Street | OrgUnitKind::Town | OrgUnitKind::Other => 1,
            OrgUnitKind::Community | OrgUnitKind::Village => 2,
        }
    }
}

/// A district to create.
#[derive(Clone, Debug)]
pub struct NewTenant {
    pub code: String,
    pub slug: String,
    pub name: String,
    pub province: Option<String>,
    pub city: Option<String>,
    /// Streets and towns: (code, name).
    pub streets: Vec<(String, String)>,
}

/// A unit to add under an existing one.
#[derive(Clone, Debug)]
pub struct NewOrgUnit {
    pub parent_id: Uuid,
    pub code: String,
    pub name: String,
    pub kind: Option<OrgUnitKind>,
}

pub const DEFAULT_TIME_ZONE: &str = "Asia/Shanghai";

#[derive(Clone)]
pub struct TenancyService {
    db: Db,
    audit: AuditService,
    clock: SharedClock,
}

pub fn check_slug(slug: &str) -> Result<(), TenancyError> {
    if slug == "platform" {
        return Err(TenancyError::ReservedSlug);
    }
    let ok = (2..=40).contains(&slug.len())
        && slug.starts_with(|c: char| c.is_ascii_lowercase())
        && slug
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if ok {
        Ok(())
    } else {
        Err(TenancyError::BadSlug)
    }
}

/// Normalises a unit code to upper case and checks it. One case only,
/// because SQLite's `LIKE` ignores case: with `ab1` and `AB1` both allowed,
/// the subtree of one would take in the other.
pub fn normalise_unit_code(code: &str) -> Result<String, TenancyError> {
    let code = code.trim().to_ascii_uppercase();
    let ok = (1..=32).contains(&code.len())
        && code.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
    if ok {
        Ok(code)
    } else {
        Err(TenancyError::BadUnitCode)
    }
}

/// Whether text holds control or bidirectional-override characters, which
/// have no place in a name and can disguise one.
pub fn has_control_chars(text: &str) -> bool {
    text.chars().any(|c| {
        c.is_control()
            || ('\u{202a}'..='\u{202e}').contains(&c)
            || ('\u{2066}'..='\u{2069}').contains(&c)
    })
}

fn check_unit_name(name: &str) -> Result<String, TenancyError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 100 || has_control_chars(name) {
        return Err(TenancyError::Api(ApiError::bad_input(
            "input.name",
            "a unit name is 1-100 characters, without control characters",
        )));
    }
    Ok(name.to_owned())
}

/// The `LIKE` pattern for everything under a path (codes hold no `%` or
/// `_`, so nothing needs escaping).
pub fn subtree_pattern(path: &str) -> String {
    format!("{path}%")
}

impl TenancyService {
    pub fn new(db: Db, audit: AuditService, clock: SharedClock) -> Self {
        TenancyService { db, audit, clock }
    }

    pub fn db(&self) -> &Db {
        &self.db
    }

    /// Creates the tenant row, the root unit and the streets, inside the
    /// caller's transaction, and moves that transaction into the new
    /// tenant's scope.
    pub async fn create_tenant_in(
        &self,
        tx: &mut ScopedTx,
        new: NewTenant,
    ) -> Result<tenant::Model, TenancyError> {
        shouhu_tenancy_checks(&new)?;
        let now = self.clock.now_ms();
        let id = new_id();
        let row = tenant::ActiveModel {
            id: Set(id),
            code: Set(new.code.clone()),
            slug: Set(new.slug.clone()),
            name: Set(new.name.clone()),
            province: Set(new.province.clone()),
            city: Set(new.city.clone()),
            time_zone: Set(DEFAULT_TIME_ZONE.to_owned()),
            policy_version: Set(0),
            created_at_ms: Set(now),
        };
        let inserted = tenant::Entity::insert(row).exec(tx.conn()).await;
        match inserted {
            Err(e) if is_unique_violation(&e) => return Err(TenancyError::DuplicateTenant),
            Err(e) => return Err(e.into()),
            Ok(_) => {}
        }
        tx.switch_tenant(TenantId(id)).await?;
        let root_path = format!("/{}/", new.code);
        let root = self
            .insert_unit(
                tx,
                None,
                &new.code,
                &new.name,
                OrgUnitKind::District,
                &root_path,
                now,
            )
            .await?;
        for (code, name) in &new.streets {
            let code = normalise_unit_code(code)?;
            let kind = OrgUnitKind::of_township(name);
            let path = format!("{root_path}{code}/");
            self.insert_unit(tx, Some(root.id), &code, name, kind, &path, now)
                .await?;
        }
        let model = tenant::Entity::find_by_id(id)
            .one(tx.conn())
            .await?
            .ok_or_else(|| ApiError::internal("tenant vanished"))?;
        Ok(model)
    }

    #[allow(clippy::too_many_arguments)] // One row's columns; a struct would only rename them.
    async fn insert_unit(
        &self,
        tx: &ScopedTx,
        parent: Option<Uuid>,
        code: &str,
        name: &str,
        kind: OrgUnitKind,
        path: &str,
        now: i64,
    ) -> Result<org_unit::Model, TenancyError> {
        let row = org_unit::ActiveModel {
            tenant_id: Set(tx.tenant().as_uuid()),
            id: Set(new_id()),
            parent_id: Set(parent),
            code: Set(code.to_owned()),
            name: Set(name.to_owned()),
            kind: Set(kind.as_str().to_owned()),
            path: Set(path.to_owned()),
            depth: Set(kind.depth()),
            created_at_ms: Set(now),
        };
        // Checked first for a precise message; the unique index still
        // decides a race (as a plain CONFLICT).
        if self.unit_by_code_in(tx, code).await?.is_some() {
            return Err(TenancyError::DuplicateUnit(code.to_owned()));
        }
        Ok(tx.insert(row).await?)
    }

    /// All districts, for the platform operator.
    pub async fn list_tenants(&self, who: &Principal) -> Result<Vec<tenant::Model>, ApiError> {
        who.require(Permission::TenantRead)?;
        Ok(tenant::Entity::find()
            .order_by_asc(tenant::Column::Code)
            .all(self.db.raw())
            .await?)
    }

    /// Every district's id; for loading policies and verifying the audit.
    pub async fn all_tenant_ids(&self) -> Result<Vec<TenantId>, ApiError> {
        let ids: Vec<Uuid> = tenant::Entity::find()
            .select_only()
            .column(tenant::Column::Id)
            .into_tuple()
            .all(self.db.raw())
            .await?;
        Ok(ids.into_iter().map(TenantId).collect())
    }

    pub async fn tenant_by_slug(&self, slug: &str) -> Result<Option<tenant::Model>, ApiError> {
        Ok(tenant::Entity::find()
            .filter(tenant::Column::Slug.eq(slug))
            .one(self.db.raw())
            .await?)
    }

    pub async fn tenant(&self, id: TenantId) -> Result<Option<tenant::Model>, ApiError> {
        Ok(tenant::Entity::find_by_id(id.as_uuid())
            .one(self.db.raw())
            .await?)
    }

    /// Bumps a district's policy version in the caller's transaction.
    pub async fn bump_policy_version(&self, tx: &ScopedTx) -> Result<i64, ApiError> {
        let current = tenant::Entity::find_by_id(tx.tenant().as_uuid())
            .one(tx.conn())
            .await?
            .ok_or_else(|| ApiError::not_found("district"))?;
        let next = current.policy_version + 1;
        let mut row: tenant::ActiveModel = current.into();
        row.policy_version = Set(next);
        sea_orm::ActiveModelTrait::update(row, tx.conn()).await?;
        Ok(next)
    }

    /// One unit by id, in the transaction's tenant, without a scope check:
    /// for other modules that resolve a unit they already hold.
    pub async fn unit_in(
        &self,
        tx: &ScopedTx,
        id: Uuid,
    ) -> Result<Option<org_unit::Model>, ApiError> {
        Ok(tx
            .select::<org_unit::Entity>()
            .filter(org_unit::Column::Id.eq(id))
            .one(tx.conn())
            .await?)
    }

    pub async fn unit_by_code_in(
        &self,
        tx: &ScopedTx,
        code: &str,
    ) -> Result<Option<org_unit::Model>, ApiError> {
        Ok(tx
            .select::<org_unit::Entity>()
            .filter(org_unit::Column::Code.eq(code.trim().to_ascii_uppercase()))
            .one(tx.conn())
            .await?)
    }

    /// Every unit of the transaction's tenant, without a scope check: for other modules that
    /// resolve many units at once (an import names a community by code or name on each row,
    /// and checks the caller's scope itself).
    pub async fn units_in(&self, tx: &ScopedTx) -> Result<Vec<org_unit::Model>, ApiError> {
        Ok(tx
            .select::<org_unit::Entity>()
            .order_by_asc(org_unit::Column::Path)
            .all(tx.conn())
            .await?)
    }

    /// The root unit (the district itself).
    pub async fn root_in(&self, tx: &ScopedTx) -> Result<org_unit::Model, ApiError> {
        tx.select::<org_unit::Entity>()
            .filter(org_unit::Column::Depth.eq(0))
            .one(tx.conn())
            .await?
            .ok_or_else(|| ApiError::internal("district without a root unit"))
    }

    /// One unit the caller may see, or NOT_FOUND.
    pub async fn org_unit(&self, who: &Principal, id: Uuid) -> Result<org_unit::Model, ApiError> {
        who.require(Permission::OrgunitRead)?;
        let tx = self.db.read(who.tenant).await?;
        let unit = self.unit_in(&tx, id).await?;
        tx.commit().await?;
        match unit {
            Some(u) if in_scope(who, &u.path) => Ok(u),
            _ => Err(ApiError::not_found("org unit")),
        }
    }

    /// Units the caller may see, under `under` when given, in path order,
    /// after the `after` path, at most `limit`.
    pub async fn list_org_units(
        &self,
        who: &Principal,
        under: Option<Uuid>,
        after: Option<&str>,
        limit: u64,
    ) -> Result<Vec<org_unit::Model>, ApiError> {
        who.require(Permission::OrgunitRead)?;
        let tx = self.db.read(who.tenant).await?;
        let mut query = tx
            .select::<org_unit::Entity>()
            .order_by_asc(org_unit::Column::Path)
            .limit(limit);
        if let Some(scope) = who.scope_path() {
            query = query.filter(org_unit::Column::Path.like(subtree_pattern(scope)));
        }
        if let Some(under) = under {
            let unit = self
                .unit_in(&tx, under)
                .await?
                .filter(|u| in_scope(who, &u.path))
                .ok_or_else(|| ApiError::not_found("org unit"))?;
            query = query.filter(org_unit::Column::Path.like(subtree_pattern(&unit.path)));
        }
        if let Some(after) = after {
            query = query.filter(org_unit::Column::Path.gt(after));
        }
        let rows = query.all(tx.conn()).await?;
        tx.commit().await?;
        Ok(rows)
    }

    /// Adds a unit under one the caller may see. Needs `orgunit:manage`.
    pub async fn create_org_unit(
        &self,
        who: &Principal,
        actor: &Actor,
        new: NewOrgUnit,
    ) -> Result<org_unit::Model, ApiError> {
        who.require(Permission::OrgunitManage)?;
        let tx = self.db.write(who.tenant).await?;
        let unit = self.create_org_unit_in(&tx, who, new, None).await?;
        self.audit
            .append(
                &tx,
                actor,
                AuditEntry::ok("orgunit.create", "org_unit", unit.id)
                    .with_detail(serde_json::json!({ "code": unit.code })),
            )
            .await?;
        tx.commit().await?;
        Ok(unit)
    }

    async fn create_org_unit_in(
        &self,
        tx: &ScopedTx,
        who: &Principal,
        new: NewOrgUnit,
        line: Option<u64>,
    ) -> Result<org_unit::Model, TenancyError> {
        let code = normalise_unit_code(&new.code)?;
        let name = check_unit_name(&new.name)?;
        let parent = self
            .unit_in(tx, new.parent_id)
            .await?
            .filter(|u| in_scope(who, &u.path))
            .ok_or_else(|| ApiError::not_found("parent org unit"))?;
        let parent_kind = OrgUnitKind::parse(&parent.kind).unwrap_or(OrgUnitKind::Other);
        let kind = match parent_kind {
            OrgUnitKind::District => new.kind.unwrap_or_else(|| OrgUnitKind::of_township(&name)),
            OrgUnitKind::Street | OrgUnitKind::Town | OrgUnitKind::Other => new
                .kind
                .unwrap_or_else(|| OrgUnitKind::of_grassroots(&name)),
            _ => {
                return Err(TenancyError::BadTree(
                    "communities and villages have no units under them".into(),
                ))
            }
        };
        if kind.depth() != parent.depth + 1 {
            let allowed = if parent.depth == 0 {
                "street, town or other"
            } else {
                "community or village"
            };
            let err = format!("under a {} only a {allowed} can be added", parent.kind);
            return Err(match line {
                Some(line) => TenancyError::Csv {
                    line,
                    column: "kind".into(),
                    reason: err,
                },
                None => TenancyError::BadTree(err),
            });
        }
        // A numeric code is read as a statistical division code, which begins
        // with its parent's: another district's or another street's code
        // would otherwise pass for a unit there.
        let digits = |c: &str| c.bytes().all(|b| b.is_ascii_digit());
        if digits(&code) && digits(&parent.code) && !code.starts_with(&parent.code) {
            let err = format!(
                "a numeric code under {} must begin with it (division codes nest)",
                parent.code
            );
            return Err(match line {
                Some(line) => TenancyError::Csv {
                    line,
                    column: "code".into(),
                    reason: err,
                },
                None => TenancyError::CodeOutsideParent(err),
            });
        }
        let path = format!("{}{code}/", parent.path);
        let now = self.clock.now_ms();
        self.insert_unit(tx, Some(parent.id), &code, &name, kind, &path, now)
            .await
    }

    /// Adds communities and villages from CSV (`parent_code,code,name` and
    /// an optional `kind`), all or nothing: one bad line and nothing is
    /// written. Returns how many units were added.
    pub async fn import_org_units_csv(
        &self,
        who: &Principal,
        actor: &Actor,
        input: impl Read,
    ) -> Result<usize, ApiError> {
        who.require(Permission::OrgunitManage)?;
        let mut reader = csv::ReaderBuilder::new()
            .trim(csv::Trim::All)
            .from_reader(input);
        let headers = reader
            .headers()
            .map_err(|e| ApiError::bad_input("line 1", format!("unreadable header: {e}")))?
            .clone();
        let col = |name: &str| {
            headers
                .iter()
                .position(|h| h.trim_start_matches('\u{feff}') == name)
        };
        let (Some(parent_col), Some(code_col), Some(name_col)) =
            (col("parent_code"), col("code"), col("name"))
        else {
            return Err(ApiError::bad_input(
                "line 1",
                "the header must name the columns parent_code, code and name",
            ));
        };
        let kind_col = col("kind");
        let tx = self.db.write(who.tenant).await?;
        let mut added = 0;
        for (i, record) in reader.records().enumerate() {
            let line = i as u64 + 2;
            let record = record.map_err(|e| {
                ApiError::bad_input(format!("line {line}"), format!("unreadable line: {e}"))
            })?;
            let field = |c: usize| record.get(c).unwrap_or("").to_owned();
            let parent_code = field(parent_col);
            let csv_err = |column: &str, reason: String| {
                ApiError::from(TenancyError::Csv {
                    line,
                    column: column.into(),
                    reason,
                })
            };
            let parent = self
                .unit_by_code_in(&tx, &parent_code)
                .await?
                .filter(|u| in_scope(who, &u.path))
                .ok_or_else(|| csv_err("parent_code", format!("no unit {parent_code}")))?;
            let kind = match kind_col.map(field).filter(|k| !k.is_empty()) {
                Some(k) => Some(
                    OrgUnitKind::parse(&k.to_ascii_lowercase())
                        .ok_or_else(|| csv_err("kind", format!("unknown kind {k}")))?,
                ),
                None => None,
            };
            let new = NewOrgUnit {
                parent_id: parent.id,
                code: field(code_col),
                name: field(name_col),
                kind,
            };
            self.create_org_unit_in(&tx, who, new, Some(line))
                .await
                .map_err(|e| match e {
                    TenancyError::Csv { .. } => ApiError::from(e),
                    TenancyError::Api(api) if api.code != shouhu_kernel::ErrorCode::Internal => {
                        csv_err("code", api.message)
                    }
                    TenancyError::Api(api) => api,
                    other => csv_err("code", other.to_string()),
                })?;
            added += 1;
        }
        self.audit
            .append(
                &tx,
                actor,
                AuditEntry::ok("orgunit.import", "tenant", who.tenant)
                    .with_detail(serde_json::json!({ "added": added })),
            )
            .await?;
        tx.commit().await?;
        Ok(added)
    }
}

fn shouhu_tenancy_checks(new: &NewTenant) -> Result<(), TenancyError> {
    crate::divisions::check_county_code(&new.code)?;
    check_slug(&new.slug)?;
    if new.name.trim().is_empty() {
        return Err(TenancyError::NameRequired);
    }
    if new.name.chars().count() > 100 || has_control_chars(&new.name) {
        return Err(TenancyError::Api(ApiError::bad_input(
            "input.name",
            "a district name is 1-100 characters, without control characters",
        )));
    }
    Ok(())
}

/// `SELECT id FROM org_units WHERE <tenant> AND path LIKE '<path>%'`, for
/// other modules that bound their rows by the caller's subtree in SQL.
pub fn subtree_ids(tenant: TenantId, path: &str) -> sea_orm::sea_query::SelectStatement {
    sea_orm::sea_query::Query::select()
        .column(org_unit::Column::Id)
        .from(org_unit::Entity)
        .and_where(org_unit::Column::TenantId.eq(tenant.as_uuid()))
        .and_where(org_unit::Column::Path.like(subtree_pattern(path)))
        .to_owned()
}

/// Whether a unit's path lies inside the caller's scope.
pub fn in_scope(who: &Principal, path: &str) -> bool {
    who.scope_path().is_none_or(|scope| path.starts_with(scope))
}

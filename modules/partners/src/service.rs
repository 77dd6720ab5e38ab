//! The partners service: the caring-family pool (create, change, vet, list),
//! with matching and placement in a submodule.
//!
//! Every operation checks its permission first, so FORBIDDEN never depends
//! on whether a family exists; every lookup runs in the caller's
//! `ScopedTx` and is bounded by the caller's org-unit subtree in SQL, so a
//! family of another street or district is simply NOT_FOUND. Every change
//! is audited in its own transaction, by id only: a family's name, phone
//! and address are personal data and never reach the audit log or a log
//! line.

use sea_orm::sea_query::Expr;
use sea_orm::{ActiveValue::Set, ColumnTrait, QueryFilter, QueryOrder, QuerySelect, Select};
use serde_json::json;
use shouhu_audit::{Actor, AuditEntry, AuditService};
use shouhu_casework::CaseworkService;
use shouhu_extensions::ExtensionService;
use shouhu_kernel::clock::SharedClock;
use shouhu_kernel::ids::new_id;
use shouhu_kernel::{ApiError, Db, Principal, ScopedTx};
use shouhu_policies::Permission;
use shouhu_registry::RegistryService;
use shouhu_tenancy::{in_scope, subtree_ids, TenancyService};
use uuid::Uuid;

use crate::entity::{caring_family, family_placement, family_vetting};
use crate::error::PartnersError;
use crate::model::{
    check_ages, check_capacity, check_phone, parse_codes, parse_sexes, FamilySex, VettingStatus,
};

mod matching;

pub use matching::{MatchOutcome, RankedFamily};

/// A family as entered.
#[derive(Clone, Debug)]
pub struct FamilyInput {
    pub name: String,
    pub org_unit_id: Uuid,
    pub address: Option<String>,
    pub phone: Option<String>,
    pub capacity: i32,
    pub age_min: i32,
    pub age_max: i32,
    pub sexes: Vec<String>,
    pub skills: Vec<String>,
    pub languages: Vec<String>,
    pub available: bool,
}

/// A change to a family: what is `None` stays as it is; an empty address
/// or phone clears it.
#[derive(Clone, Debug, Default)]
pub struct FamilyPatch {
    pub version: i64,
    pub name: Option<String>,
    pub org_unit_id: Option<Uuid>,
    pub address: Option<String>,
    pub phone: Option<String>,
    pub capacity: Option<i32>,
    pub age_min: Option<i32>,
    pub age_max: Option<i32>,
    pub sexes: Option<Vec<String>>,
    pub skills: Option<Vec<String>>,
    pub languages: Option<Vec<String>>,
    pub available: Option<bool>,
}

/// Filters of the family list; all of them narrow the caller's own scope.
#[derive(Clone, Debug, Default)]
pub struct FamilyFilter {
    pub status: Option<VettingStatus>,
    pub available: Option<bool>,
    /// Families under this unit (its whole subtree).
    pub org_unit_id: Option<Uuid>,
}

#[derive(Clone)]
pub struct PartnersService {
    db: Db,
    audit: AuditService,
    tenancy: TenancyService,
    registry: RegistryService,
    casework: CaseworkService,
    extensions: ExtensionService,
    clock: SharedClock,
}

/// Trims a text; empty is none; longer than `max` characters, or holding
/// control characters, is refused.
fn opt_text(text: Option<String>, max: usize, field: &str) -> Result<Option<String>, ApiError> {
    match text.map(|t| t.trim().to_owned()).filter(|t| !t.is_empty()) {
        Some(t) if t.chars().count() > max => Err(ApiError::bad_input(
            field,
            format!("at most {max} characters"),
        )),
        Some(t) if t.chars().any(char::is_control) => {
            Err(ApiError::bad_input(field, "no control characters"))
        }
        other => Ok(other),
    }
}

fn req_text(text: &str, max: usize, field: &str) -> Result<String, ApiError> {
    opt_text(Some(text.to_owned()), max, field)?
        .ok_or_else(|| ApiError::bad_input(field, "required"))
}

fn opt_phone(phone: Option<String>, field: &str) -> Result<Option<String>, ApiError> {
    let phone = opt_text(phone, 32, field)?;
    if let Some(p) = &phone {
        check_phone(p, field)?;
    }
    Ok(phone)
}

fn join_sexes(sexes: &[FamilySex]) -> String {
    sexes.iter().map(|s| s.code()).collect::<Vec<_>>().join(",")
}

/// Bounds a family query by the caller's org-unit subtree.
fn in_caller_scope(
    query: Select<caring_family::Entity>,
    who: &Principal,
) -> Select<caring_family::Entity> {
    match who.scope_path() {
        Some(scope) => query
            .filter(caring_family::Column::OrgUnitId.in_subquery(subtree_ids(who.tenant, scope))),
        None => query,
    }
}

impl PartnersService {
    pub fn new(
        db: Db,
        audit: AuditService,
        tenancy: TenancyService,
        registry: RegistryService,
        casework: CaseworkService,
        extensions: ExtensionService,
        clock: SharedClock,
    ) -> Self {
        PartnersService {
            db,
            audit,
            tenancy,
            registry,
            casework,
            extensions,
            clock,
        }
    }

    /// A family the caller may see, in the caller's transaction, or
    /// NOT_FOUND.
    async fn visible(
        &self,
        tx: &ScopedTx,
        who: &Principal,
        id: Uuid,
    ) -> Result<caring_family::Model, ApiError> {
        let query = tx
            .select::<caring_family::Entity>()
            .filter(caring_family::Column::Id.eq(id));
        in_caller_scope(query, who)
            .one(tx.conn())
            .await?
            .ok_or_else(|| ApiError::not_found("caring family"))
    }

    /// A unit of the district inside the caller's scope, or NOT_FOUND
    /// naming the field.
    async fn unit_for(
        &self,
        tx: &ScopedTx,
        who: &Principal,
        id: Uuid,
        field: &str,
    ) -> Result<shouhu_tenancy::entity::org_unit::Model, ApiError> {
        match self.tenancy.unit_in(tx, id).await? {
            Some(unit) if in_scope(who, &unit.path) => Ok(unit),
            _ => Err(ApiError {
                field: Some(field.to_owned()),
                ..ApiError::not_found("org unit")
            }),
        }
    }

    /// Adds one row to a family's vetting history.
    async fn vetting_row(
        &self,
        tx: &ScopedTx,
        who: &Principal,
        family_id: Uuid,
        before: Option<VettingStatus>,
        after: VettingStatus,
        reason: Option<String>,
    ) -> Result<(), ApiError> {
        tx.insert(family_vetting::ActiveModel {
            tenant_id: Set(tx.tenant().as_uuid()),
            id: Set(new_id()),
            family_id: Set(family_id),
            before_status: Set(before.map(|s| s.code().to_owned())),
            after_status: Set(after.code().to_owned()),
            actor_kind: Set(who.actor_kind.as_str().to_owned()),
            actor_id: Set(who.actor_id),
            reason: Set(reason),
            at_ms: Set(self.clock.now_ms()),
        })
        .await?;
        Ok(())
    }

    /// Registers a family in the pool, as `applied`. Needs `family:manage`
    /// and the family's unit inside the caller's scope.
    pub async fn create_family(
        &self,
        who: &Principal,
        actor: &Actor,
        input: FamilyInput,
    ) -> Result<caring_family::Model, ApiError> {
        who.require(Permission::FamilyManage)?;
        let name = req_text(&input.name, 100, "input.name")?;
        let address = opt_text(input.address, 200, "input.address")?;
        let phone = opt_phone(input.phone, "input.phone")?;
        check_capacity(input.capacity, "input.capacity")?;
        check_ages(input.age_min, input.age_max, "input")?;
        let sexes = parse_sexes(&input.sexes, "input.sexes")?;
        let skills = parse_codes(&input.skills, "input.skills")?;
        let languages = parse_codes(&input.languages, "input.languages")?;
        let tx = self.db.write(who.tenant).await?;
        self.unit_for(&tx, who, input.org_unit_id, "input.orgUnitId")
            .await?;
        let now = self.clock.now_ms();
        let row = tx
            .insert(caring_family::ActiveModel {
                tenant_id: Set(tx.tenant().as_uuid()),
                id: Set(new_id()),
                name: Set(name),
                org_unit_id: Set(input.org_unit_id),
                address: Set(address),
                phone: Set(phone),
                capacity: Set(input.capacity),
                age_min: Set(input.age_min),
                age_max: Set(input.age_max),
                sexes: Set(join_sexes(&sexes)),
                skills: Set(skills.join(",")),
                languages: Set(languages.join(",")),
                vetting_status: Set(VettingStatus::Applied.code().to_owned()),
                available: Set(input.available),
                version: Set(1),
                created_at_ms: Set(now),
                updated_at_ms: Set(now),
            })
            .await?;
        self.vetting_row(&tx, who, row.id, None, VettingStatus::Applied, None)
            .await?;
        self.audit
            .append(
                &tx,
                actor,
                AuditEntry::ok("family.create", "caring_family", row.id)
                    .with_detail(json!({ "orgUnit": row.org_unit_id })),
            )
            .await?;
        tx.commit().await?;
        Ok(row)
    }

    /// Writes columns of a family and bumps its version, only if it is still
    /// at `version` (a concurrent writer makes this a CONFLICT).
    async fn bump(
        &self,
        tx: &ScopedTx,
        id: Uuid,
        version: i64,
        changes: Vec<(caring_family::Column, sea_orm::sea_query::SimpleExpr)>,
    ) -> Result<caring_family::Model, ApiError> {
        let mut update = tx
            .update::<caring_family::Entity>()
            .col_expr(caring_family::Column::Version, Expr::value(version + 1))
            .col_expr(
                caring_family::Column::UpdatedAtMs,
                Expr::value(self.clock.now_ms()),
            );
        for (column, value) in changes {
            update = update.col_expr(column, value);
        }
        let done = update
            .filter(caring_family::Column::Id.eq(id))
            .filter(caring_family::Column::Version.eq(version))
            .exec(tx.conn())
            .await?;
        if done.rows_affected != 1 {
            return Err(PartnersError::Stale {
                given: version,
                current: version + 1,
            }
            .into());
        }
        tx.select::<caring_family::Entity>()
            .filter(caring_family::Column::Id.eq(id))
            .one(tx.conn())
            .await?
            .ok_or_else(|| ApiError::not_found("caring family"))
    }

    /// Changes a family. `patch.version` must be the version the caller
    /// read; a stale one is a CONFLICT. The vetting status changes only
    /// through [`PartnersService::set_vetting`].
    pub async fn update_family(
        &self,
        who: &Principal,
        actor: &Actor,
        id: Uuid,
        patch: FamilyPatch,
    ) -> Result<caring_family::Model, ApiError> {
        use caring_family::Column as C;
        who.require(Permission::FamilyManage)?;
        let mut changes: Vec<(C, sea_orm::sea_query::SimpleExpr)> = Vec::new();
        let mut changed: Vec<&str> = Vec::new();
        if let Some(name) = &patch.name {
            changes.push((C::Name, Expr::value(req_text(name, 100, "input.name")?)));
            changed.push("name");
        }
        if let Some(address) = patch.address {
            let address = opt_text(Some(address), 200, "input.address")?;
            changes.push((C::Address, Expr::value(address)));
            changed.push("address");
        }
        if let Some(phone) = patch.phone {
            changes.push((
                C::Phone,
                Expr::value(opt_phone(Some(phone), "input.phone")?),
            ));
            changed.push("phone");
        }
        if let Some(capacity) = patch.capacity {
            check_capacity(capacity, "input.capacity")?;
            changes.push((C::Capacity, Expr::value(capacity)));
            changed.push("capacity");
        }
        if let Some(sexes) = &patch.sexes {
            let sexes = parse_sexes(sexes, "input.sexes")?;
            changes.push((C::Sexes, Expr::value(join_sexes(&sexes))));
            changed.push("sexes");
        }
        if let Some(skills) = &patch.skills {
            let skills = parse_codes(skills, "input.skills")?;
            changes.push((C::Skills, Expr::value(skills.join(","))));
            changed.push("skills");
        }
        if let Some(languages) = &patch.languages {
            let languages = parse_codes(languages, "input.languages")?;
            changes.push((C::Languages, Expr::value(languages.join(","))));
            changed.push("languages");
        }
        if let Some(available) = patch.available {
            changes.push((C::Available, Expr::value(available)));
            changed.push("available");
        }
        let tx = self.db.write(who.tenant).await?;
        let row = self.visible(&tx, who, id).await?;
        if row.version != patch.version {
            return Err(PartnersError::Stale {
                given: patch.version,
                current: row.version,
            }
            .into());
        }
        // The range is checked whole, against what is stored for the bound
        // the caller did not send.
        if patch.age_min.is_some() || patch.age_max.is_some() {
            let age_min = patch.age_min.unwrap_or(row.age_min);
            let age_max = patch.age_max.unwrap_or(row.age_max);
            check_ages(age_min, age_max, "input")?;
            changes.push((C::AgeMin, Expr::value(age_min)));
            changes.push((C::AgeMax, Expr::value(age_max)));
            changed.push("ages");
        }
        if let Some(unit) = patch.org_unit_id {
            self.unit_for(&tx, who, unit, "input.orgUnitId").await?;
            changes.push((C::OrgUnitId, Expr::value(unit)));
            changed.push("orgUnit");
        }
        let out = self.bump(&tx, id, row.version, changes).await?;
        self.audit
            .append(
                &tx,
                actor,
                AuditEntry::ok("family.update", "caring_family", id)
                    .with_detail(json!({ "fields": changed, "version": out.version })),
            )
            .await?;
        tx.commit().await?;
        Ok(out)
    }

    /// Moves a family through vetting (see [`VettingStatus::check_move`]),
    /// keeping the change and its reason in the family's history.
    pub async fn set_vetting(
        &self,
        who: &Principal,
        actor: &Actor,
        id: Uuid,
        to: VettingStatus,
        reason: Option<String>,
    ) -> Result<caring_family::Model, ApiError> {
        who.require(Permission::FamilyManage)?;
        let reason = opt_text(reason, 500, "reason")?;
        let tx = self.db.write(who.tenant).await?;
        let row = self.visible(&tx, who, id).await?;
        let from = VettingStatus::parse(&row.vetting_status)
            .ok_or_else(|| ApiError::internal("a family in an unknown vetting status"))?;
        from.check_move(to, reason.as_deref())?;
        let out = self
            .bump(
                &tx,
                id,
                row.version,
                vec![(caring_family::Column::VettingStatus, Expr::value(to.code()))],
            )
            .await?;
        self.vetting_row(&tx, who, id, Some(from), to, reason)
            .await?;
        self.audit
            .append(
                &tx,
                actor,
                AuditEntry::ok("family.vetting", "caring_family", id)
                    .with_detail(json!({ "from": from.code(), "to": to.code() })),
            )
            .await?;
        tx.commit().await?;
        Ok(out)
    }

    /// One family. Needs `family:read`.
    pub async fn family(
        &self,
        who: &Principal,
        id: Uuid,
    ) -> Result<caring_family::Model, ApiError> {
        who.require(Permission::FamilyRead)?;
        let tx = self.db.read(who.tenant).await?;
        let row = self.visible(&tx, who, id).await?;
        tx.commit().await?;
        Ok(row)
    }

    /// Families in the caller's scope, oldest first (by id, which is a
    /// UUIDv7, so pages are stable while families are added). Needs
    /// `family:read`.
    pub async fn families(
        &self,
        who: &Principal,
        filter: &FamilyFilter,
        after: Option<Uuid>,
        limit: u64,
    ) -> Result<Vec<caring_family::Model>, ApiError> {
        who.require(Permission::FamilyRead)?;
        let tx = self.db.read(who.tenant).await?;
        let mut query = in_caller_scope(tx.select::<caring_family::Entity>(), who)
            .order_by_asc(caring_family::Column::Id)
            .limit(limit);
        if let Some(unit) = filter.org_unit_id {
            let unit = self.unit_for(&tx, who, unit, "filter.orgUnitId").await?;
            query = query.filter(
                caring_family::Column::OrgUnitId.in_subquery(subtree_ids(who.tenant, &unit.path)),
            );
        }
        if let Some(status) = filter.status {
            query = query.filter(caring_family::Column::VettingStatus.eq(status.code()));
        }
        if let Some(available) = filter.available {
            query = query.filter(caring_family::Column::Available.eq(available));
        }
        if let Some(after) = after {
            query = query.filter(caring_family::Column::Id.gt(after));
        }
        let rows = query.all(tx.conn()).await?;
        tx.commit().await?;
        Ok(rows)
    }

    /// A family's vetting history, oldest first. Needs `family:read`.
    pub async fn vetting_history(
        &self,
        who: &Principal,
        id: Uuid,
    ) -> Result<Vec<family_vetting::Model>, ApiError> {
        who.require(Permission::FamilyRead)?;
        let tx = self.db.read(who.tenant).await?;
        self.visible(&tx, who, id).await?;
        let rows = tx
            .select::<family_vetting::Entity>()
            .filter(family_vetting::Column::FamilyId.eq(id))
            .order_by_asc(family_vetting::Column::AtMs)
            .order_by_asc(family_vetting::Column::Id)
            .all(tx.conn())
            .await?;
        tx.commit().await?;
        Ok(rows)
    }

    /// The caring-family placements of a case, oldest first. Needs
    /// `case:read` on the case and `family:read`.
    pub async fn family_placements(
        &self,
        who: &Principal,
        case_id: Uuid,
    ) -> Result<Vec<family_placement::Model>, ApiError> {
        who.require(Permission::FamilyRead)?;
        let tx = self.db.read(who.tenant).await?;
        self.casework.case_in(&tx, who, case_id).await?;
        let rows = tx
            .select::<family_placement::Entity>()
            .filter(family_placement::Column::CaseId.eq(case_id))
            .order_by_asc(family_placement::Column::Id)
            .all(tx.conn())
            .await?;
        tx.commit().await?;
        Ok(rows)
    }
}

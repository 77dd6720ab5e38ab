//! Guardians and households of registered minors.
//!
//! A guardian belongs to the record of one minor, so adding, changing or
//! removing one is a change to that minor: it needs the minor's current
//! version, bumps it, and leaves a history entry with before, after and
//! reason. A household groups siblings (and through them their guardians);
//! it lives in one community or village, and a minor joins or leaves it as
//! a change with history too.

use sea_orm::{ActiveValue::Set, ColumnTrait, QueryFilter, QueryOrder};
use serde_json::{json, Value};
use shouhu_audit::{Actor, AuditEntry};
use shouhu_kernel::ids::new_id;
use shouhu_kernel::{ApiError, Principal, ScopedTx};
use shouhu_policies::Permission;
use shouhu_tenancy::{in_scope, subtree_ids};
use uuid::Uuid;

use super::{bad, trimmed, GuardianInput, MinorView, RegistryService};
use crate::entity::{guardian, household, minor};
use crate::model::{GuardianSituation, Relationship};
use crate::normalise_name;

/// The fields of a guardian to change; those left `None` stay.
#[derive(Clone, Debug, Default)]
pub struct GuardianPatch {
    pub name: Option<String>,
    pub relationship: Option<Relationship>,
    /// `Some("")` clears the phone.
    pub phone: Option<String>,
    pub situation: Option<GuardianSituation>,
}

/// A household and the members the caller may see.
#[derive(Clone, Debug)]
pub struct HouseholdView {
    pub row: household::Model,
    pub members: Vec<MinorView>,
}

/// How a guardian is kept in the history: the same shape for every
/// change, so that a reader can mask phone and situation alike.
fn guardian_json(g: &guardian::Model) -> Value {
    json!({
        "id": g.id,
        "name": g.name,
        "relationship": g.relationship,
        "phone": g.phone,
        "situation": g.situation,
    })
}

fn reason_of(reason: &str) -> Result<&str, ApiError> {
    let reason = reason.trim();
    if reason.is_empty() || reason.chars().count() > 500 {
        return Err(ApiError::bad_input("reason", "say why (1-500 characters)"));
    }
    Ok(reason)
}

impl RegistryService {
    /// The minor at `version`, visible to the caller, or NOT_FOUND /
    /// CONFLICT; on success its version is moved on by one.
    async fn claim_version(
        &self,
        tx: &ScopedTx,
        who: &Principal,
        id: Uuid,
        version: i64,
    ) -> Result<minor::Model, ApiError> {
        let current = self.visible(tx, who, id).await?;
        let stale = || {
            ApiError::conflict(
                "version",
                format!(
                    "the record changed since it was read (version {} now, {version} given)",
                    current.version
                ),
            )
        };
        if current.version != version {
            return Err(stale());
        }
        let mut next: minor::ActiveModel = current.clone().into();
        next.version = Set(version + 1);
        next.updated_at_ms = Set(self.clock.now_ms());
        let done = tx
            .update::<minor::Entity>()
            .set(next)
            .filter(minor::Column::Id.eq(id))
            .filter(minor::Column::Version.eq(version))
            .exec(tx.conn())
            .await?;
        if done.rows_affected != 1 {
            return Err(stale());
        }
        Ok(current)
    }

    async fn finish_change(
        &self,
        tx: ScopedTx,
        who: &Principal,
        actor: &Actor,
        id: Uuid,
        action: &str,
    ) -> Result<MinorView, ApiError> {
        self.audit
            .append(&tx, actor, AuditEntry::ok(action, "minor", id))
            .await?;
        let row = self.visible(&tx, who, id).await?;
        let view = self.view_in(&tx, who, row).await?;
        tx.commit().await?;
        Ok(view)
    }

    /// Adds a guardian to a minor's record.
    pub async fn add_guardian(
        &self,
        who: &Principal,
        actor: &Actor,
        minor_id: Uuid,
        version: i64,
        input: GuardianInput,
        reason: &str,
    ) -> Result<MinorView, ApiError> {
        who.require(Permission::MinorWrite)?;
        let reason = reason_of(reason)?;
        let name = normalise_name(&input.name).map_err(|e| bad("guardian.name", e))?;
        let phone = trimmed(input.phone, 32, "guardian.phone")?;
        let tx = self.db.write(who.tenant).await?;
        self.claim_version(&tx, who, minor_id, version).await?;
        let row = tx
            .insert(guardian::ActiveModel {
                tenant_id: Set(who.tenant.as_uuid()),
                id: Set(new_id()),
                minor_id: Set(minor_id),
                name: Set(name),
                relationship: Set(input.relationship.code().to_owned()),
                phone: Set(phone),
                situation: Set(input.situation.code().to_owned()),
                created_at_ms: Set(self.clock.now_ms()),
            })
            .await?;
        self.record(
            &tx,
            who,
            minor_id,
            "guardian.added",
            Value::Null,
            guardian_json(&row),
            reason,
        )
        .await?;
        self.finish_change(tx, who, actor, minor_id, "guardian.add")
            .await
    }

    async fn guardian_of(
        &self,
        tx: &ScopedTx,
        minor_id: Uuid,
        guardian_id: Uuid,
    ) -> Result<guardian::Model, ApiError> {
        tx.select::<guardian::Entity>()
            .filter(guardian::Column::Id.eq(guardian_id))
            .filter(guardian::Column::MinorId.eq(minor_id))
            .one(tx.conn())
            .await?
            .ok_or_else(|| ApiError::not_found("guardian"))
    }

    /// Changes a guardian of a minor (for example, a father released from
    /// prison, or a new phone number).
    #[allow(clippy::too_many_arguments)] // The change, its target and its why.
    pub async fn update_guardian(
        &self,
        who: &Principal,
        actor: &Actor,
        minor_id: Uuid,
        guardian_id: Uuid,
        version: i64,
        patch: GuardianPatch,
        reason: &str,
    ) -> Result<MinorView, ApiError> {
        who.require(Permission::MinorWrite)?;
        let reason = reason_of(reason)?;
        let tx = self.db.write(who.tenant).await?;
        // Visibility first: a guardian of a minor outside the caller's scope
        // is NOT_FOUND, not a version CONFLICT.
        self.visible(&tx, who, minor_id).await?;
        // A masked caller sees neither a guardian's phone nor a sensitive
        // situation, so it may change neither: it would overwrite them blind,
        // and a refusal that depended on the stored value would reveal it.
        if !who.has(Permission::MinorSensitive) {
            let field = match (&patch.phone, &patch.situation) {
                (Some(_), _) => Some("guardian.phone"),
                (None, Some(_)) => Some("guardian.situation"),
                (None, None) => None,
            };
            if let Some(field) = field {
                return Err(ApiError {
                    field: Some(field.to_owned()),
                    ..ApiError::forbidden(Permission::MinorSensitive.as_str())
                });
            }
        }
        let before = self.guardian_of(&tx, minor_id, guardian_id).await?;
        let mut next: guardian::ActiveModel = before.clone().into();
        let mut changed = false;
        if let Some(name) = &patch.name {
            let name = normalise_name(name).map_err(|e| bad("guardian.name", e))?;
            changed |= name != before.name;
            next.name = Set(name);
        }
        if let Some(relationship) = patch.relationship {
            changed |= relationship.code() != before.relationship;
            next.relationship = Set(relationship.code().to_owned());
        }
        if let Some(phone) = patch.phone {
            let phone = trimmed(Some(phone), 32, "guardian.phone")?;
            changed |= phone != before.phone;
            next.phone = Set(phone);
        }
        if let Some(situation) = patch.situation {
            changed |= situation.code() != before.situation;
            next.situation = Set(situation.code().to_owned());
        }
        if !changed {
            let current = self.visible(&tx, who, minor_id).await?;
            if current.version != version {
                return Err(ApiError::conflict(
                    "version",
                    "the record changed since it was read",
                ));
            }
            let view = self.view_in(&tx, who, current).await?;
            tx.commit().await?;
            return Ok(view);
        }
        self.claim_version(&tx, who, minor_id, version).await?;
        tx.update::<guardian::Entity>()
            .set(next)
            .filter(guardian::Column::Id.eq(guardian_id))
            .exec(tx.conn())
            .await?;
        let after = self.guardian_of(&tx, minor_id, guardian_id).await?;
        self.record(
            &tx,
            who,
            minor_id,
            "guardian.changed",
            guardian_json(&before),
            guardian_json(&after),
            reason,
        )
        .await?;
        self.finish_change(tx, who, actor, minor_id, "guardian.update")
            .await
    }

    /// Removes a guardian from a minor's record; the history keeps who it
    /// was.
    pub async fn remove_guardian(
        &self,
        who: &Principal,
        actor: &Actor,
        minor_id: Uuid,
        guardian_id: Uuid,
        version: i64,
        reason: &str,
    ) -> Result<MinorView, ApiError> {
        who.require(Permission::MinorWrite)?;
        let reason = reason_of(reason)?;
        let tx = self.db.write(who.tenant).await?;
        self.visible(&tx, who, minor_id).await?;
        let before = self.guardian_of(&tx, minor_id, guardian_id).await?;
        self.claim_version(&tx, who, minor_id, version).await?;
        tx.delete::<guardian::Entity>(guardian::Column::Id.eq(guardian_id))
            .exec(tx.conn())
            .await?;
        self.record(
            &tx,
            who,
            minor_id,
            "guardian.removed",
            guardian_json(&before),
            Value::Null,
            reason,
        )
        .await?;
        self.finish_change(tx, who, actor, minor_id, "guardian.remove")
            .await
    }

    /// Opens a household in a community or village within the caller's
    /// scope.
    pub async fn create_household(
        &self,
        who: &Principal,
        actor: &Actor,
        org_unit_id: Uuid,
        address: Option<String>,
    ) -> Result<HouseholdView, ApiError> {
        who.require(Permission::MinorWrite)?;
        let address = trimmed(address, 500, "address")?;
        let tx = self.db.write(who.tenant).await?;
        let unit = self
            .tenancy
            .unit_in(&tx, org_unit_id)
            .await?
            .filter(|u| in_scope(who, &u.path))
            .ok_or_else(|| ApiError::not_found("org unit"))?;
        if unit.depth < 2 {
            return Err(ApiError::bad_input(
                "orgUnitId",
                "a household lives in a community or village",
            ));
        }
        let row = tx
            .insert(household::ActiveModel {
                tenant_id: Set(who.tenant.as_uuid()),
                id: Set(new_id()),
                org_unit_id: Set(unit.id),
                address: Set(address),
                created_at_ms: Set(self.clock.now_ms()),
            })
            .await?;
        self.audit
            .append(
                &tx,
                actor,
                AuditEntry::ok("household.create", "household", row.id),
            )
            .await?;
        tx.commit().await?;
        Ok(HouseholdView {
            row,
            members: Vec::new(),
        })
    }

    async fn visible_household(
        &self,
        tx: &ScopedTx,
        who: &Principal,
        id: Uuid,
    ) -> Result<household::Model, ApiError> {
        let mut query = tx
            .select::<household::Entity>()
            .filter(household::Column::Id.eq(id));
        if let Some(scope) = who.scope_path() {
            query = query
                .filter(household::Column::OrgUnitId.in_subquery(subtree_ids(who.tenant, scope)));
        }
        query
            .one(tx.conn())
            .await?
            .ok_or_else(|| ApiError::not_found("household"))
    }

    /// Puts a minor into a household, moves it to another, or (with
    /// `None`) takes it out.
    #[allow(clippy::too_many_arguments)] // The change, its target and its why.
    pub async fn set_household(
        &self,
        who: &Principal,
        actor: &Actor,
        minor_id: Uuid,
        version: i64,
        household_id: Option<Uuid>,
        reason: &str,
    ) -> Result<MinorView, ApiError> {
        who.require(Permission::MinorWrite)?;
        let reason = reason_of(reason)?;
        let tx = self.db.write(who.tenant).await?;
        let seen = self.visible(&tx, who, minor_id).await?;
        if let Some(h) = household_id {
            self.visible_household(&tx, who, h).await?;
        }
        if seen.household_id == household_id {
            return Err(ApiError::bad_input(
                "householdId",
                "the minor already belongs there",
            ));
        }
        let current = self.claim_version(&tx, who, minor_id, version).await?;
        let mut next: minor::ActiveModel = current.clone().into();
        next.household_id = Set(household_id);
        next.version = Set(version + 1);
        tx.update::<minor::Entity>()
            .set(next)
            .filter(minor::Column::Id.eq(minor_id))
            .exec(tx.conn())
            .await?;
        self.record(
            &tx,
            who,
            minor_id,
            "household",
            json!(current.household_id),
            json!(household_id),
            reason,
        )
        .await?;
        self.finish_change(tx, who, actor, minor_id, "minor.household")
            .await
    }

    /// A household with the members the caller may see (masked as any read
    /// of them is). NOT_FOUND outside the caller's scope or district.
    pub async fn household(
        &self,
        who: &Principal,
        actor: &Actor,
        id: Uuid,
    ) -> Result<HouseholdView, ApiError> {
        who.require(Permission::MinorRead)?;
        let (tx, sensitive) = self.reading_tx(who).await?;
        let row = self.visible_household(&tx, who, id).await?;
        let mut query = tx
            .select::<minor::Entity>()
            .filter(minor::Column::HouseholdId.eq(id));
        if let Some(scope) = who.scope_path() {
            query =
                query.filter(minor::Column::OrgUnitId.in_subquery(subtree_ids(who.tenant, scope)));
        }
        let rows = query
            .order_by_asc(minor::Column::BirthDate)
            .order_by_asc(minor::Column::Id)
            .all(tx.conn())
            .await?;
        let mut members = Vec::with_capacity(rows.len());
        for r in rows {
            members.push(self.view_in(&tx, who, r).await?);
        }
        if sensitive && !members.is_empty() {
            let ids: Vec<Uuid> = members.iter().map(|m| m.row.id).collect();
            self.audit
                .append(
                    &tx,
                    actor,
                    AuditEntry::ok("household.read_sensitive", "household", id)
                        .with_detail(json!({ "minors": ids })),
                )
                .await?;
        }
        tx.commit().await?;
        Ok(HouseholdView { row, members })
    }
}

//! Registering minors, reading them within the caller's scope (masked
//! unless the caller may see sensitive fields, audited when they may),
//! changing them with a version check and a history entry per change, and
//! the ledgers' counts.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use sea_orm::sea_query::Query;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, QueryFilter, QueryOrder, QuerySelect, QueryTrait,
};
use serde_json::{json, Value};
use shouhu_audit::{Actor, AuditEntry, AuditService};
use shouhu_kernel::clock::SharedClock;
use shouhu_kernel::ids::new_id;
use shouhu_kernel::{ApiError, Db, Principal, ScopedTx};
use shouhu_policies::Permission;
use shouhu_tenancy::{in_scope, subtree_ids, TenancyService};
use uuid::Uuid;

use crate::entity::{guardian, minor, minor_category, minor_history};
use crate::model::{
    Category, DocumentKind, EconomicStatus, GuardianSituation, MinorStatus, Relationship, SexCode,
};
use crate::{check_matches, normalise_document, normalise_name, parse_resident_id, RegistryError};

mod export;
mod history;
mod household;
mod screening;
mod synthetic;
pub use export::{ExportSummary, Ledger, EXPORT_HEADERS};
pub use household::{GuardianPatch, HouseholdView};
pub use screening::MinorFacts;
pub use synthetic::SyntheticWriter;

/// A guardian as entered.
#[derive(Clone, Debug)]
pub struct GuardianInput {
    pub name: String,
    pub relationship: Relationship,
    pub phone: Option<String>,
    pub situation: GuardianSituation,
}

/// A difficulty category as entered.
#[derive(Clone, Debug)]
pub struct CategoryInput {
    pub category: Category,
    pub since: NaiveDate,
    pub source: String,
}

/// A minor as entered (on creation) or as it should become (on update:
/// the fields given replace the stored ones).
#[derive(Clone, Debug, Default)]
pub struct MinorInput {
    pub name: Option<String>,
    pub document_kind: Option<DocumentKind>,
    pub document_number: Option<String>,
    pub sex: Option<SexCode>,
    pub birth_date: Option<NaiveDate>,
    pub ethnicity: Option<String>,
    pub hukou_place: Option<String>,
    /// The community or village the minor lives in.
    pub org_unit_id: Option<Uuid>,
    pub address: Option<String>,
    pub phone: Option<String>,
    pub school: Option<String>,
    pub grade: Option<String>,
    pub health: Option<String>,
    pub disability_grade: Option<String>,
    pub hiv_status: Option<String>,
    pub economic_status: Option<EconomicStatus>,
    pub status: Option<MinorStatus>,
    /// On creation, and on update when given: the full set of categories.
    pub categories: Option<Vec<CategoryInput>>,
    /// On creation only.
    pub guardians: Vec<GuardianInput>,
}

/// A minor with what the caller may see of it.
#[derive(Clone, Debug)]
pub struct MinorView {
    pub row: minor::Model,
    pub categories: Vec<minor_category::Model>,
    pub guardians: Vec<guardian::Model>,
    /// Whether sensitive fields are shown (otherwise they are masked).
    pub unmasked: bool,
}

/// Counts of one ledger for one scope.
#[derive(Clone, Debug, Default)]
pub struct LedgerCounts {
    pub total: u64,
    /// (org-unit id, count): streets.
    pub by_street: Vec<(Uuid, u64)>,
    /// (org-unit id, count): communities and villages.
    pub by_community: Vec<(Uuid, u64)>,
    pub by_category: Vec<(Category, u64)>,
}

/// Filters of a ledger query.
#[derive(Clone, Debug, Default)]
pub struct MinorFilter {
    pub under: Option<Uuid>,
    pub name_prefix: Option<String>,
    pub document_number: Option<String>,
    pub category: Option<Category>,
    pub status: Option<MinorStatus>,
    /// Only minors in at least one difficulty category.
    pub difficulty_only: bool,
    pub min_age: Option<u32>,
    pub max_age: Option<u32>,
    pub guardian_situation: Option<GuardianSituation>,
}

/// A document as stored: its kind, its normalised number, and the birth
/// date (entered, or read from a resident id when none was entered).
type Document = (Option<DocumentKind>, Option<String>, Option<NaiveDate>);

#[derive(Clone)]
pub struct RegistryService {
    db: Db,
    audit: AuditService,
    tenancy: TenancyService,
    clock: SharedClock,
}

fn bad(field: &str, err: impl Into<RegistryError>) -> ApiError {
    let err = err.into();
    ApiError::bad_input(field, format!("{} ({})", err, err.rule()))
}

/// Refuses, without `minor:sensitive`, the filters that would tell a masked
/// reader what masking hides: which minors have a sensitive category or a
/// guardian in prison or rehabilitation, or what a masked identity number is
/// (a search by full number confirms a guess).
pub(crate) fn require_open_filter(who: &Principal, filter: &MinorFilter) -> Result<(), ApiError> {
    if who.has(Permission::MinorSensitive) {
        return Ok(());
    }
    let hidden = |field: &str| ApiError {
        field: Some(field.to_owned()),
        ..ApiError::forbidden(Permission::MinorSensitive.as_str())
    };
    if filter.category.is_some_and(Category::is_sensitive) {
        return Err(hidden("filter.category"));
    }
    if filter
        .guardian_situation
        .is_some_and(GuardianSituation::is_sensitive)
    {
        return Err(hidden("filter.guardianSituation"));
    }
    if filter.document_number.is_some() {
        return Err(hidden("filter.documentNumber"));
    }
    Ok(())
}

fn trimmed(text: Option<String>, max: usize, field: &str) -> Result<Option<String>, ApiError> {
    match text.map(|t| t.trim().to_owned()).filter(|t| !t.is_empty()) {
        Some(t) if t.chars().count() > max => Err(ApiError::bad_input(
            field,
            format!("at most {max} characters"),
        )),
        // A control character (a bell, an escape) in a record is a pasting
        // accident at best and a terminal or spreadsheet trick at worst.
        Some(t)
            if t.chars()
                .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t')) =>
        {
            Err(ApiError::bad_input(field, "contains a control character"))
        }
        other => Ok(other),
    }
}

/// The birth-date bounds (inclusive) for an age range on a given day.
fn birth_bounds(today: NaiveDate, min_age: Option<u32>, max_age: Option<u32>) -> (String, String) {
    let years_back = |n: u32| today.with_year_back(n);
    let latest = min_age.map(years_back).unwrap_or(today);
    let earliest = max_age
        .map(|n| years_back(n + 1).succ_opt().unwrap_or(today))
        .unwrap_or(NaiveDate::MIN);
    (earliest.to_string(), latest.to_string())
}

trait YearBack {
    fn with_year_back(self, years: u32) -> NaiveDate;
}

impl YearBack for NaiveDate {
    /// The same calendar day `years` earlier (28 Feb for 29 Feb).
    fn with_year_back(self, years: u32) -> NaiveDate {
        self.checked_sub_months(chrono::Months::new(years * 12))
            .unwrap_or(NaiveDate::MIN)
    }
}

impl RegistryService {
    pub fn new(db: Db, audit: AuditService, tenancy: TenancyService, clock: SharedClock) -> Self {
        RegistryService {
            db,
            audit,
            tenancy,
            clock,
        }
    }

    /// The importer of spreadsheets of minors, on this service's database, audit log and
    /// clock (see `import.rs`).
    pub fn importer(&self) -> crate::import::MinorImporter {
        crate::import::MinorImporter::new(
            self.db.clone(),
            self.audit.clone(),
            self.tenancy.clone(),
            self.clock.clone(),
        )
    }

    /// Today in the district's time zone (Asia/Shanghai).
    pub fn today(&self) -> NaiveDate {
        self.clock
            .now()
            .with_timezone(&chrono_tz::Asia::Shanghai)
            .date_naive()
    }

    /// Registers a minor. Duplicates: the same document number in the
    /// district is a CONFLICT naming the existing record; without a number,
    /// likely duplicates (same name and birth date, or same name and a
    /// guardian's phone) are a CONFLICT listing them, unless
    /// `create_anyway` is set, which is recorded with its reason.
    pub async fn create_minor(
        &self,
        who: &Principal,
        actor: &Actor,
        input: MinorInput,
        create_anyway: Option<String>,
    ) -> Result<MinorView, ApiError> {
        who.require(Permission::MinorWrite)?;
        let today = self.today();
        let name = normalise_name(input.name.as_deref().unwrap_or(""))
            .map_err(|e| bad("input.name", e))?;
        let sex = input
            .sex
            .ok_or_else(|| ApiError::bad_input("input.sex", "required"))?;
        let (doc_kind, doc_number, birth) = self.document(&input, sex, today)?;
        let birth = birth.ok_or_else(|| ApiError::bad_input("input.birthDate", "required"))?;
        if birth > today {
            return Err(ApiError::bad_input("input.birthDate", "lies in the future"));
        }
        let unit_id = input
            .org_unit_id
            .ok_or_else(|| ApiError::bad_input("input.orgUnitId", "required"))?;
        let tx = self.db.write(who.tenant).await?;
        let unit = self
            .tenancy
            .unit_in(&tx, unit_id)
            .await?
            .filter(|u| in_scope(who, &u.path))
            .ok_or_else(|| ApiError::not_found("org unit"))?;
        if unit.depth < 2 {
            return Err(ApiError::bad_input(
                "input.orgUnitId",
                "a minor lives in a community or village",
            ));
        }
        if let Some(number) = &doc_number {
            let existing = tx
                .select::<minor::Entity>()
                .filter(minor::Column::DocType.eq(doc_kind.map(|k| k.code())))
                .filter(minor::Column::DocNumber.eq(number.as_str()))
                .one(tx.conn())
                .await?;
            if let Some(existing) = existing {
                // Outside the caller's area the record is not named: its id
                // would let a street officer probe another street's minors.
                let message = if self.unit_in_scope(&tx, who, existing.org_unit_id).await? {
                    format!("this document is registered as minor {}", existing.id)
                } else {
                    "this document is registered in the district outside your area; \
                     ask the protection centre"
                        .to_owned()
                };
                return Err(ApiError::conflict("input.documentNumber", message));
            }
        } else {
            let phones: Vec<String> = input
                .guardians
                .iter()
                .filter_map(|g| g.phone.clone())
                .collect();
            let likely = self.likely_duplicates(&tx, &name, birth, &phones).await?;
            if !likely.is_empty() && create_anyway.is_none() {
                let mut ids: Vec<String> = Vec::new();
                let mut elsewhere = 0;
                for m in &likely {
                    if self.unit_in_scope(&tx, who, m.org_unit_id).await? {
                        ids.push(m.id.to_string());
                    } else {
                        elsewhere += 1;
                    }
                }
                if elsewhere > 0 {
                    ids.push(format!("{elsewhere} outside your area"));
                }
                return Err(ApiError::conflict(
                    "input",
                    format!(
                        "possible duplicates: {}; create anyway with a reason if this is \
                         another child",
                        ids.join(", ")
                    ),
                ));
            }
        }
        let now = self.clock.now_ms();
        let id = new_id();
        let row = minor::ActiveModel {
            tenant_id: Set(who.tenant.as_uuid()),
            id: Set(id),
            household_id: Set(None),
            name: Set(name),
            doc_type: Set(doc_kind.map(|k| k.code().to_owned())),
            doc_number: Set(doc_number.clone()),
            needs_follow_up: Set(doc_number.is_none()),
            sex: Set(sex.code().to_owned()),
            birth_date: Set(birth.to_string()),
            ethnicity: Set(trimmed(input.ethnicity, 32, "input.ethnicity")?),
            hukou_place: Set(trimmed(input.hukou_place, 200, "input.hukouPlace")?),
            org_unit_id: Set(unit.id),
            address: Set(trimmed(input.address, 500, "input.address")?),
            phone: Set(trimmed(input.phone, 32, "input.phone")?),
            school: Set(trimmed(input.school, 100, "input.school")?),
            grade: Set(trimmed(input.grade, 32, "input.grade")?),
            health: Set(trimmed(input.health, 1000, "input.health")?),
            disability_grade: Set(trimmed(
                input.disability_grade,
                16,
                "input.disabilityGrade",
            )?),
            hiv_status: Set(trimmed(input.hiv_status, 16, "input.hivStatus")?),
            economic_status: Set(input
                .economic_status
                .unwrap_or(EconomicStatus::None)
                .code()
                .to_owned()),
            status: Set(input
                .status
                .unwrap_or(MinorStatus::Active)
                .code()
                .to_owned()),
            version: Set(1),
            created_at_ms: Set(now),
            updated_at_ms: Set(now),
        };
        let created = tx.insert(row).await?;
        for (i, g) in input.guardians.iter().enumerate() {
            let gname = normalise_name(&g.name)
                .map_err(|e| bad(&format!("input.guardians.{i}.name"), e))?;
            tx.insert(guardian::ActiveModel {
                tenant_id: Set(who.tenant.as_uuid()),
                id: Set(new_id()),
                minor_id: Set(id),
                name: Set(gname),
                relationship: Set(g.relationship.code().to_owned()),
                phone: Set(trimmed(
                    g.phone.clone(),
                    32,
                    &format!("input.guardians.{i}.phone"),
                )?),
                situation: Set(g.situation.code().to_owned()),
                created_at_ms: Set(now),
            })
            .await?;
        }
        self.write_categories(&tx, id, input.categories.unwrap_or_default())
            .await?;
        let mut reason = String::from("registered");
        if let Some(why) = create_anyway.as_deref().map(str::trim) {
            if why.is_empty() || why.chars().count() > 500 {
                return Err(ApiError::bad_input(
                    "createAnyway",
                    "say why this is another child (1-500 characters)",
                ));
            }
            reason = format!("registered despite possible duplicates: {why}");
        }
        self.record(
            &tx,
            who,
            id,
            "created",
            Value::Null,
            json!({ "orgUnitId": unit.id }),
            &reason,
        )
        .await?;
        self.audit
            .append(&tx, actor, AuditEntry::ok("minor.create", "minor", id))
            .await?;
        let view = self.view_in(&tx, who, created).await?;
        tx.commit().await?;
        Ok(view)
    }

    /// Normalises the document (if any) and checks it against the sex and
    /// birth date entered; a resident id supplies the birth date when none
    /// was entered.
    fn document(
        &self,
        input: &MinorInput,
        sex: SexCode,
        today: NaiveDate,
    ) -> Result<Document, ApiError> {
        let raw = input
            .document_number
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty());
        let Some(raw) = raw else {
            return Ok((None, None, input.birth_date));
        };
        let kind = input.document_kind.unwrap_or(DocumentKind::ResidentId);
        if kind == DocumentKind::ResidentId {
            let id = parse_resident_id(raw, today).map_err(|e| bad("input.documentNumber", e))?;
            check_matches(&id, input.birth_date, Some(sex.into()))
                .map_err(|e| bad("input.documentNumber", e))?;
            let birth = input.birth_date.unwrap_or(id.birth_date);
            Ok((Some(kind), Some(id.number), Some(birth)))
        } else {
            let number = normalise_document(kind.into(), raw, today)
                .map_err(|e| bad("input.documentNumber", e))?;
            Ok((Some(kind), Some(number), input.birth_date))
        }
    }

    /// The transaction a read of minors runs in, and whether the caller sees
    /// sensitive fields. Such a read appends its audit entry, so it needs a
    /// write transaction; a masked read stays a read.
    async fn reading_tx(&self, who: &Principal) -> Result<(ScopedTx, bool), ApiError> {
        let sensitive = who.has(Permission::MinorSensitive);
        let tx = if sensitive {
            self.db.write(who.tenant).await?
        } else {
            self.db.read(who.tenant).await?
        };
        Ok((tx, sensitive))
    }

    /// Whether an org unit of the transaction's district lies in the
    /// caller's subtree.
    async fn unit_in_scope(
        &self,
        tx: &ScopedTx,
        who: &Principal,
        unit_id: Uuid,
    ) -> Result<bool, ApiError> {
        Ok(self
            .tenancy
            .unit_in(tx, unit_id)
            .await?
            .is_some_and(|u| in_scope(who, &u.path)))
    }

    async fn likely_duplicates(
        &self,
        tx: &ScopedTx,
        name: &str,
        birth: NaiveDate,
        phones: &[String],
    ) -> Result<Vec<minor::Model>, ApiError> {
        let mut same = Condition::any().add(minor::Column::BirthDate.eq(birth.to_string()));
        if !phones.is_empty() {
            let by_phone = Query::select()
                .column(guardian::Column::MinorId)
                .from(guardian::Entity)
                .and_where(guardian::Column::TenantId.eq(tx.tenant().as_uuid()))
                .and_where(guardian::Column::Phone.is_in(phones.to_vec()))
                .to_owned();
            same = same.add(minor::Column::Id.in_subquery(by_phone));
        }
        Ok(tx
            .select::<minor::Entity>()
            .filter(minor::Column::Name.eq(name))
            .filter(same)
            .limit(10)
            .all(tx.conn())
            .await?)
    }

    async fn write_categories(
        &self,
        tx: &ScopedTx,
        minor_id: Uuid,
        categories: Vec<CategoryInput>,
    ) -> Result<(), ApiError> {
        tx.delete::<minor_category::Entity>(minor_category::Column::MinorId.eq(minor_id))
            .exec(tx.conn())
            .await?;
        let mut seen = Vec::new();
        for (i, c) in categories.into_iter().enumerate() {
            if seen.contains(&c.category) {
                return Err(ApiError::bad_input(
                    format!("input.categories.{i}"),
                    "a category is given twice",
                ));
            }
            seen.push(c.category);
            let source = c.source.trim().to_owned();
            if source.is_empty() || source.chars().count() > 200 {
                return Err(ApiError::bad_input(
                    format!("input.categories.{i}.source"),
                    "say who found it (1-200 characters)",
                ));
            }
            tx.insert(minor_category::ActiveModel {
                tenant_id: Set(tx.tenant().as_uuid()),
                minor_id: Set(minor_id),
                category: Set(c.category.code().to_owned()),
                since: Set(c.since.to_string()),
                source: Set(source),
            })
            .await?;
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)] // One history row's columns.
    async fn record(
        &self,
        tx: &ScopedTx,
        who: &Principal,
        minor_id: Uuid,
        change: &str,
        before: Value,
        after: Value,
        reason: &str,
    ) -> Result<(), ApiError> {
        tx.insert(minor_history::ActiveModel {
            tenant_id: Set(tx.tenant().as_uuid()),
            id: Set(new_id()),
            minor_id: Set(minor_id),
            at_ms: Set(self.clock.now_ms()),
            actor_kind: Set(who.actor_kind.as_str().to_owned()),
            actor_id: Set(who.actor_id),
            change: Set(change.to_owned()),
            before: Set(before.to_string()),
            after: Set(after.to_string()),
            reason: Set(reason.to_owned()),
        })
        .await?;
        Ok(())
    }

    /// The org unit a minor lives in, in the transaction's district, without
    /// a scope check: for other modules (casework) that link a record they
    /// were given and check the caller's scope on the unit themselves.
    pub async fn minor_unit_in(&self, tx: &ScopedTx, id: Uuid) -> Result<Option<Uuid>, ApiError> {
        Ok(tx
            .select::<minor::Entity>()
            .filter(minor::Column::Id.eq(id))
            .one(tx.conn())
            .await?
            .map(|m| m.org_unit_id))
    }

    /// A minor the caller may see, in the caller's transaction.
    async fn visible(
        &self,
        tx: &ScopedTx,
        who: &Principal,
        id: Uuid,
    ) -> Result<minor::Model, ApiError> {
        let mut query = tx
            .select::<minor::Entity>()
            .filter(minor::Column::Id.eq(id));
        if let Some(scope) = who.scope_path() {
            query =
                query.filter(minor::Column::OrgUnitId.in_subquery(subtree_ids(who.tenant, scope)));
        }
        query
            .one(tx.conn())
            .await?
            .ok_or_else(|| ApiError::not_found("minor"))
    }

    async fn view_in(
        &self,
        tx: &ScopedTx,
        who: &Principal,
        row: minor::Model,
    ) -> Result<MinorView, ApiError> {
        let categories = tx
            .select::<minor_category::Entity>()
            .filter(minor_category::Column::MinorId.eq(row.id))
            .order_by_asc(minor_category::Column::Category)
            .all(tx.conn())
            .await?;
        let guardians = tx
            .select::<guardian::Entity>()
            .filter(guardian::Column::MinorId.eq(row.id))
            .order_by_asc(guardian::Column::CreatedAtMs)
            .all(tx.conn())
            .await?;
        Ok(MinorView {
            row,
            categories,
            guardians,
            unmasked: who.has(Permission::MinorSensitive),
        })
    }

    /// One minor, or NOT_FOUND when it is outside the caller's scope or
    /// district. A read with sensitive fields shown is audited.
    pub async fn minor(
        &self,
        who: &Principal,
        actor: &Actor,
        id: Uuid,
    ) -> Result<MinorView, ApiError> {
        who.require(Permission::MinorRead)?;
        let (tx, sensitive) = self.reading_tx(who).await?;
        let row = self.visible(&tx, who, id).await?;
        let view = self.view_in(&tx, who, row).await?;
        if sensitive {
            self.audit
                .append(
                    &tx,
                    actor,
                    AuditEntry::ok("minor.read_sensitive", "minor", id),
                )
                .await?;
        }
        tx.commit().await?;
        Ok(view)
    }

    /// Changes a minor. `version` must be the version the caller read; a
    /// stale one is a CONFLICT. Each changed field is kept in the history
    /// with `reason`.
    pub async fn update_minor(
        &self,
        who: &Principal,
        actor: &Actor,
        id: Uuid,
        version: i64,
        input: MinorInput,
        reason: &str,
    ) -> Result<MinorView, ApiError> {
        who.require(Permission::MinorWrite)?;
        let reason = reason.trim();
        if reason.is_empty() || reason.chars().count() > 500 {
            return Err(ApiError::bad_input("reason", "say why (1-500 characters)"));
        }
        // A masked caller may not write what it cannot read: it would overwrite
        // values blind, and whether the version moved would tell it the stored
        // value. Its hidden categories are kept below.
        let open = who.has(Permission::MinorSensitive);
        if !open {
            let hidden_fields = [
                (input.address.is_some(), "input.address"),
                (input.phone.is_some(), "input.phone"),
                (input.health.is_some(), "input.health"),
                (input.hiv_status.is_some(), "input.hivStatus"),
                (
                    input
                        .categories
                        .iter()
                        .flatten()
                        .any(|c| c.category.is_sensitive()),
                    "input.categories",
                ),
            ];
            if let Some((_, field)) = hidden_fields.iter().find(|(given, _)| *given) {
                return Err(ApiError {
                    field: Some((*field).to_owned()),
                    ..ApiError::forbidden(Permission::MinorSensitive.as_str())
                });
            }
        }
        let tx = self.db.write(who.tenant).await?;
        let current = self.visible(&tx, who, id).await?;
        if current.version != version {
            return Err(ApiError::conflict(
                "version",
                format!(
                    "the record changed since it was read (version {} now, {version} given)",
                    current.version
                ),
            ));
        }
        let mut changes: BTreeMap<&'static str, (Value, Value)> = BTreeMap::new();
        let mut next: minor::ActiveModel = current.clone().into();
        macro_rules! text_field {
            ($field:ident, $key:literal, $max:expr) => {
                if let Some(value) = trimmed(input.$field.clone(), $max, concat!("input.", $key))? {
                    if current.$field.as_deref() != Some(value.as_str()) {
                        changes.insert($key, (json!(current.$field), json!(value)));
                        next.$field = Set(Some(value));
                    }
                }
            };
        }
        text_field!(ethnicity, "ethnicity", 32);
        text_field!(hukou_place, "hukouPlace", 200);
        text_field!(address, "address", 500);
        text_field!(phone, "phone", 32);
        text_field!(school, "school", 100);
        text_field!(grade, "grade", 32);
        text_field!(health, "health", 1000);
        text_field!(disability_grade, "disabilityGrade", 16);
        text_field!(hiv_status, "hivStatus", 16);
        if let Some(name) = &input.name {
            let name = normalise_name(name).map_err(|e| bad("input.name", e))?;
            if name != current.name {
                changes.insert("name", (json!(current.name), json!(name)));
                next.name = Set(name);
            }
        }
        if let Some(status) = input.status {
            if status.code() != current.status {
                changes.insert("status", (json!(current.status), json!(status.code())));
                next.status = Set(status.code().to_owned());
            }
        }
        if let Some(economic) = input.economic_status {
            if economic.code() != current.economic_status {
                changes.insert(
                    "economicStatus",
                    (json!(current.economic_status), json!(economic.code())),
                );
                next.economic_status = Set(economic.code().to_owned());
            }
        }
        if let Some(unit_id) = input.org_unit_id {
            if unit_id != current.org_unit_id {
                let unit = self
                    .tenancy
                    .unit_in(&tx, unit_id)
                    .await?
                    .filter(|u| in_scope(who, &u.path) && u.depth >= 2)
                    .ok_or_else(|| ApiError::not_found("org unit"))?;
                changes.insert("orgUnitId", (json!(current.org_unit_id), json!(unit.id)));
                next.org_unit_id = Set(unit.id);
            }
        }
        if let Some(mut categories) = input.categories {
            let before = tx
                .select::<minor_category::Entity>()
                .filter(minor_category::Column::MinorId.eq(id))
                .all(tx.conn())
                .await?;
            if !open {
                // The categories a masked caller cannot see stay as they are.
                for c in &before {
                    let Some(category) = Category::parse(&c.category) else {
                        continue;
                    };
                    if category.is_sensitive() {
                        let since =
                            NaiveDate::parse_from_str(&c.since, "%Y-%m-%d").map_err(|_| {
                                ApiError::internal("a stored category date is not a date")
                            })?;
                        categories.push(CategoryInput {
                            category,
                            since,
                            source: c.source.clone(),
                        });
                    }
                }
            }
            let describe = |c: &[(String, String, String)]| json!(c);
            let old: Vec<(String, String, String)> = before
                .iter()
                .map(|c| (c.category.clone(), c.since.clone(), c.source.clone()))
                .collect();
            let new: Vec<(String, String, String)> = categories
                .iter()
                .map(|c| {
                    (
                        c.category.code().to_owned(),
                        c.since.to_string(),
                        c.source.trim().to_owned(),
                    )
                })
                .collect();
            let mut old_sorted = old.clone();
            old_sorted.sort();
            let mut new_sorted = new.clone();
            new_sorted.sort();
            if old_sorted != new_sorted {
                changes.insert("categories", (describe(&old_sorted), describe(&new_sorted)));
                self.write_categories(&tx, id, categories).await?;
            }
        }
        if changes.is_empty() {
            let view = self.view_in(&tx, who, current).await?;
            tx.commit().await?;
            return Ok(view);
        }
        let now = self.clock.now_ms();
        next.version = Set(version + 1);
        next.updated_at_ms = Set(now);
        let done = tx
            .update::<minor::Entity>()
            .set(next)
            .filter(minor::Column::Id.eq(id))
            .filter(minor::Column::Version.eq(version))
            .exec(tx.conn())
            .await?;
        if done.rows_affected != 1 {
            return Err(ApiError::conflict(
                "version",
                "the record changed meanwhile",
            ));
        }
        for (field, (before, after)) in &changes {
            self.record(&tx, who, id, field, before.clone(), after.clone(), reason)
                .await?;
        }
        let fields: Vec<&str> = changes.keys().copied().collect();
        self.audit
            .append(
                &tx,
                actor,
                AuditEntry::ok("minor.update", "minor", id)
                    .with_detail(json!({ "fields": fields })),
            )
            .await?;
        let row = self.visible(&tx, who, id).await?;
        let view = self.view_in(&tx, who, row).await?;
        tx.commit().await?;
        Ok(view)
    }

    fn filtered(
        &self,
        tx: &ScopedTx,
        who: &Principal,
        filter: &MinorFilter,
        under_path: Option<&str>,
        units: Option<&[Uuid]>,
    ) -> sea_orm::Select<minor::Entity> {
        let mut query = tx.select::<minor::Entity>();
        if let Some(scope) = who.scope_path() {
            query =
                query.filter(minor::Column::OrgUnitId.in_subquery(subtree_ids(who.tenant, scope)));
        }
        if let Some(path) = under_path {
            query =
                query.filter(minor::Column::OrgUnitId.in_subquery(subtree_ids(who.tenant, path)));
        }
        if let Some(prefix) = filter
            .name_prefix
            .as_deref()
            .map(str::trim)
            .filter(|p| !p.is_empty())
        {
            let escaped: String = prefix
                .chars()
                .filter(|c| !matches!(c, '%' | '_' | '\\'))
                .collect();
            query = query.filter(minor::Column::Name.like(format!("{escaped}%")));
        }
        if let Some(number) = &filter.document_number {
            query = query.filter(minor::Column::DocNumber.eq(number.trim().to_ascii_uppercase()));
        }
        if let Some(status) = filter.status {
            query = query.filter(minor::Column::Status.eq(status.code()));
        }
        if filter.difficulty_only || filter.category.is_some() {
            let mut cats = Query::select()
                .column(minor_category::Column::MinorId)
                .from(minor_category::Entity)
                .and_where(minor_category::Column::TenantId.eq(who.tenant.as_uuid()))
                .to_owned();
            if let Some(c) = filter.category {
                cats.and_where(minor_category::Column::Category.eq(c.code()));
            }
            // A masked reader's difficulty ledger is made of the categories it
            // may see: a minor whose only categories are hidden would otherwise
            // stand in it with none shown, which tells what is hidden.
            if !who.has(Permission::MinorSensitive) {
                let hidden: Vec<&str> = Category::ALL
                    .iter()
                    .filter(|c| c.is_sensitive())
                    .map(|c| c.code())
                    .collect();
                cats.and_where(minor_category::Column::Category.is_not_in(hidden));
            }
            // Each category row carries its minor's unit (kept in step by the triggers of
            // migration m0006), so bounding it by the units of the subtree lets its index
            // find one street's difficulty ledger without visiting the rest of the
            // district. The units are a list of ids (`ledger_units`), not a subquery, so
            // that the plan stays simple even before the tables have statistics. The bound
            // on the minors themselves above stays the authority on scope.
            if let Some(units) = units {
                cats.and_where(
                    sea_orm::sea_query::Expr::col((
                        minor_category::Entity,
                        sea_orm::sea_query::Alias::new("org_unit_id"),
                    ))
                    .is_in(units.iter().copied()),
                );
            }
            query = query.filter(minor::Column::Id.in_subquery(cats));
        }
        if let Some(situation) = filter.guardian_situation {
            let g = Query::select()
                .column(guardian::Column::MinorId)
                .from(guardian::Entity)
                .and_where(guardian::Column::TenantId.eq(who.tenant.as_uuid()))
                .and_where(guardian::Column::Situation.eq(situation.code()))
                .to_owned();
            query = query.filter(minor::Column::Id.in_subquery(g));
        }
        if filter.min_age.is_some() || filter.max_age.is_some() {
            let (earliest, latest) = birth_bounds(self.today(), filter.min_age, filter.max_age);
            query = query
                .filter(minor::Column::BirthDate.gte(earliest))
                .filter(minor::Column::BirthDate.lte(latest));
        }
        query
    }

    async fn under_path(
        &self,
        tx: &ScopedTx,
        who: &Principal,
        under: Option<Uuid>,
    ) -> Result<Option<String>, ApiError> {
        match under {
            Some(id) => Ok(Some(
                self.tenancy
                    .unit_in(tx, id)
                    .await?
                    .filter(|u| in_scope(who, &u.path))
                    .ok_or_else(|| ApiError::not_found("org unit"))?
                    .path,
            )),
            None => Ok(None),
        }
    }

    /// A page of a ledger, sorted by name then id (stable), after the
    /// cursor `(name, id)`. A page shown unmasked is audited, naming the
    /// records it showed.
    pub async fn search(
        &self,
        who: &Principal,
        actor: &Actor,
        filter: &MinorFilter,
        after: Option<(String, Uuid)>,
        limit: u64,
    ) -> Result<Vec<MinorView>, ApiError> {
        who.require(Permission::MinorRead)?;
        require_open_filter(who, filter)?;
        let (tx, sensitive) = self.reading_tx(who).await?;
        let under = self.under_path(&tx, who, filter.under).await?;
        let units = self.ledger_units(&tx, who, under.as_deref()).await?;
        let mut query = self
            .filtered(&tx, who, filter, under.as_deref(), units.as_deref())
            .order_by_asc(minor::Column::Name)
            .order_by_asc(minor::Column::Id)
            .limit(limit);
        if let Some((name, id)) = after {
            query = query.filter(
                Condition::any()
                    .add(minor::Column::Name.gt(name.clone()))
                    .add(
                        Condition::all()
                            .add(minor::Column::Name.eq(name))
                            .add(minor::Column::Id.gt(id)),
                    ),
            );
        }
        let rows = query.all(tx.conn()).await?;
        if sensitive && !rows.is_empty() {
            let ids: Vec<String> = rows.iter().map(|r| r.id.to_string()).collect();
            self.audit
                .append(
                    &tx,
                    actor,
                    AuditEntry::ok("minor.list_sensitive", "minor", ids.len())
                        .with_detail(json!({ "minors": ids })),
                )
                .await?;
        }
        // A page's categories and guardians in one query each, not two per row.
        let out = self.views_in(&tx, who, rows).await?;
        tx.commit().await?;
        Ok(out)
    }

    /// Counts of a ledger, through the same scope and filters as its list.
    pub async fn counts(
        &self,
        who: &Principal,
        filter: &MinorFilter,
    ) -> Result<LedgerCounts, ApiError> {
        who.require(Permission::LedgerRead)?;
        require_open_filter(who, filter)?;
        let tx = self.db.read(who.tenant).await?;
        let under = self.under_path(&tx, who, filter.under).await?;
        let units = self.ledger_units(&tx, who, under.as_deref()).await?;
        // Grouped in SQL: a ledger may hold a million minors.
        let by_unit: Vec<(Uuid, i64)> = self
            .filtered(&tx, who, filter, under.as_deref(), units.as_deref())
            .select_only()
            .column(minor::Column::OrgUnitId)
            .column_as(minor::Column::Id.count(), "n")
            .group_by(minor::Column::OrgUnitId)
            .into_tuple()
            .all(tx.conn())
            .await?;
        let members = self
            .filtered(&tx, who, filter, under.as_deref(), units.as_deref())
            .select_only()
            .column(minor::Column::Id)
            .into_query();
        let by_cat: Vec<(String, i64)> = tx
            .select::<minor_category::Entity>()
            .filter(minor_category::Column::MinorId.in_subquery(members))
            .select_only()
            .column(minor_category::Column::Category)
            .column_as(minor_category::Column::MinorId.count(), "n")
            .group_by(minor_category::Column::Category)
            .into_tuple()
            .all(tx.conn())
            .await?;
        let mut by_street: BTreeMap<Uuid, u64> = BTreeMap::new();
        for (unit, n) in &by_unit {
            if let Some(parent) = self
                .tenancy
                .unit_in(&tx, *unit)
                .await?
                .and_then(|u| u.parent_id)
            {
                *by_street.entry(parent).or_default() += *n as u64;
            }
        }
        tx.commit().await?;
        let open = who.has(Permission::MinorSensitive);
        let mut by_category: Vec<(Category, u64)> = by_cat
            .into_iter()
            .filter_map(|(c, n)| Category::parse(&c).map(|c| (c, n as u64)))
            .filter(|(c, _)| open || !c.is_sensitive())
            .collect();
        by_category.sort();
        let total = by_unit.iter().map(|(_, n)| *n as u64).sum();
        let by_community = by_unit.into_iter().map(|(u, n)| (u, n as u64)).collect();
        Ok(LedgerCounts {
            total,
            by_street: by_street.into_iter().collect(),
            by_community,
            by_category,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_fields_refuse_control_characters_but_keep_line_breaks() {
        let take = |t: &str| trimmed(Some(t.to_owned()), 100, "input.address");
        assert_eq!(
            take("长桥街道\u{7}某路").unwrap_err().field.as_deref(),
            Some("input.address")
        );
        assert!(take("\u{1b}[2J").is_err());
        assert_eq!(take(" 哮喘\n过敏 ").unwrap().as_deref(), Some("哮喘\n过敏"));
        assert_eq!(take("   ").unwrap(), None);
        assert!(take(&"长".repeat(101)).is_err());
    }

    #[test]
    fn age_ranges_become_birth_date_bounds() {
        let today = NaiveDate::from_ymd_opt(2026, 12, 3).unwrap();
        let (earliest, latest) = birth_bounds(today, Some(6), Some(12));
        // Six today: born on or before 2020-12-03; twelve until the day
        // before turning thirteen: born after 2013-12-03.
        assert_eq!(latest, "2020-12-03");
        assert_eq!(earliest, "2013-12-04");
    }
}

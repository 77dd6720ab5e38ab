//! The registry as GraphQL: ledgers, one minor, its history, counts, and
//! registering and changing minors.

use async_graphql::connection::{Connection, Edge, EmptyFields};
use async_graphql::{Context, InputObject, Object, SimpleObject, ID};
use chrono::{DateTime, NaiveDate, Utc};
use shouhu_audit::Actor;
use shouhu_kernel::clock::ms_to_datetime;
use shouhu_kernel::context::{principal, request_ctx};
use shouhu_kernel::ids::parse_id;
use shouhu_kernel::paging::{decode_cursor, encode_cursor, page_size};
use shouhu_kernel::ApiError;

use crate::model::{
    Category, DocumentKind, EconomicStatus, GuardianSituation, MinorStatus, Relationship, SexCode,
};
use crate::service::{CategoryInput, GuardianInput, MinorFilter, MinorView};
use crate::{age_on, mask_id, MinorInput, RegistryService};

mod household;
mod import;
pub use household::{HouseholdMutation, HouseholdQuery};
pub use import::ImportMutation;

#[derive(SimpleObject)]
pub struct CategoryEntry {
    pub category: Category,
    pub label: String,
    pub since: String,
    pub source: String,
}

#[derive(SimpleObject)]
pub struct Guardian {
    pub id: ID,
    pub name: String,
    pub relationship: Option<Relationship>,
    /// Masked without `minor:sensitive`.
    pub phone: Option<String>,
    /// Imprisonment and drug rehabilitation are hidden (null) without
    /// `minor:sensitive`.
    pub situation: Option<GuardianSituation>,
}

/// A minor. Without `minor:sensitive` the identity number and phones are
/// masked, and address, health, HIV status, sensitive categories and
/// guardians' imprisonment or rehabilitation are withheld (`masked` says
/// so).
#[derive(SimpleObject)]
pub struct Minor {
    pub id: ID,
    pub name: String,
    pub document_kind: Option<DocumentKind>,
    pub document_number: Option<String>,
    /// Registered without any document: to be followed up.
    pub needs_follow_up: bool,
    pub sex: Option<SexCode>,
    pub birth_date: String,
    /// Completed years today, in the district's time zone.
    pub age: u32,
    pub aged_out: bool,
    pub ethnicity: Option<String>,
    pub hukou_place: Option<String>,
    pub org_unit_id: ID,
    /// The household the minor belongs to, if any.
    pub household_id: Option<ID>,
    pub address: Option<String>,
    pub phone: Option<String>,
    pub school: Option<String>,
    pub grade: Option<String>,
    pub health: Option<String>,
    pub disability_grade: Option<String>,
    pub hiv_status: Option<String>,
    pub economic_status: Option<EconomicStatus>,
    pub status: Option<MinorStatus>,
    pub categories: Vec<CategoryEntry>,
    pub guardians: Vec<Guardian>,
    pub masked: bool,
    /// Send back with `updateMinor`; a stale version is a CONFLICT.
    pub version: i64,
}

fn to_object(view: MinorView, today: NaiveDate) -> Minor {
    let open = view.unmasked;
    let r = view.row;
    let birth = NaiveDate::parse_from_str(&r.birth_date, "%Y-%m-%d").unwrap_or(today);
    let age = age_on(birth, today);
    let hide = |v: Option<String>| if open { v } else { None };
    let mask = |v: Option<String>| if open { v } else { v.map(|s| mask_id(&s)) };
    Minor {
        id: ID(r.id.to_string()),
        name: r.name,
        document_kind: r.doc_type.as_deref().and_then(DocumentKind::parse),
        document_number: mask(r.doc_number),
        needs_follow_up: r.needs_follow_up,
        sex: SexCode::parse(&r.sex),
        birth_date: r.birth_date,
        age,
        aged_out: age >= 18,
        ethnicity: r.ethnicity,
        hukou_place: r.hukou_place,
        org_unit_id: ID(r.org_unit_id.to_string()),
        household_id: r.household_id.map(|h| ID(h.to_string())),
        address: hide(r.address),
        phone: mask(r.phone),
        school: r.school,
        grade: r.grade,
        health: hide(r.health),
        disability_grade: r.disability_grade,
        hiv_status: hide(r.hiv_status),
        economic_status: EconomicStatus::parse(&r.economic_status),
        status: MinorStatus::parse(&r.status),
        categories: view
            .categories
            .into_iter()
            .filter_map(|c| {
                let category = Category::parse(&c.category)?;
                (open || !category.is_sensitive()).then(|| CategoryEntry {
                    category,
                    label: category.label_zh().to_owned(),
                    since: c.since,
                    source: c.source,
                })
            })
            .collect(),
        guardians: view
            .guardians
            .into_iter()
            .map(|g| {
                let situation = GuardianSituation::parse(&g.situation);
                Guardian {
                    id: ID(g.id.to_string()),
                    name: g.name,
                    relationship: Relationship::parse(&g.relationship),
                    phone: mask(g.phone),
                    situation: situation.filter(|s| open || !s.is_sensitive()),
                }
            })
            .collect(),
        masked: !open,
        version: r.version,
    }
}

#[derive(InputObject, Default)]
pub struct MinorFilterInput {
    /// Only under this org unit (within the caller's own scope).
    pub under: Option<ID>,
    pub name_prefix: Option<String>,
    pub document_number: Option<String>,
    pub category: Option<Category>,
    pub status: Option<MinorStatus>,
    /// The difficulty ledger: only minors in at least one category.
    #[graphql(default)]
    pub difficulty_only: bool,
    pub min_age: Option<u32>,
    pub max_age: Option<u32>,
    pub guardian_situation: Option<GuardianSituation>,
}

impl MinorFilterInput {
    fn into_filter(self) -> Result<MinorFilter, ApiError> {
        Ok(MinorFilter {
            under: self.under.map(|u| parse_id(&u, "org unit")).transpose()?,
            name_prefix: self.name_prefix,
            document_number: self.document_number,
            category: self.category,
            status: self.status,
            difficulty_only: self.difficulty_only,
            min_age: self.min_age,
            max_age: self.max_age,
            guardian_situation: self.guardian_situation,
        })
    }
}

#[derive(SimpleObject)]
pub struct UnitCount {
    pub org_unit_id: ID,
    pub count: u64,
}

#[derive(SimpleObject)]
pub struct CategoryCount {
    pub category: Category,
    pub label: String,
    pub count: u64,
}

#[derive(SimpleObject)]
pub struct LedgerCountsObject {
    pub total: u64,
    pub by_street: Vec<UnitCount>,
    pub by_community: Vec<UnitCount>,
    pub by_category: Vec<CategoryCount>,
}

#[derive(SimpleObject)]
pub struct HistoryEntry {
    pub at: DateTime<Utc>,
    pub actor_kind: String,
    pub actor_id: ID,
    /// What changed: `created`, a field name, or `categories`.
    pub change: String,
    /// JSON text.
    pub before: String,
    /// JSON text.
    pub after: String,
    pub reason: String,
    /// Whether `before` and `after` were masked for the caller (as the
    /// record itself is without `minor:sensitive`).
    pub masked: bool,
}

#[derive(Default)]
pub struct RegistryQuery;

fn cursor_of(view: &MinorView) -> String {
    encode_cursor(&format!("{}\u{1}{}", view.row.name, view.row.id))
}

fn parse_cursor(cursor: &str) -> Result<(String, uuid::Uuid), ApiError> {
    let raw = decode_cursor(cursor)?;
    let (name, id) = raw
        .split_once('\u{1}')
        .ok_or_else(|| ApiError::bad_input("after", "not a cursor of this list"))?;
    let id = uuid::Uuid::parse_str(id)
        .map_err(|_| ApiError::bad_input("after", "not a cursor of this list"))?;
    Ok((name.to_owned(), id))
}

#[Object]
impl RegistryQuery {
    /// The all-minors ledger (or, with `difficultyOnly`, the difficulty
    /// ledger) within the caller's scope, sorted by name. Needs
    /// `minor:read`.
    #[graphql(complexity = "first.unwrap_or(50).clamp(0, 200) as usize * child_complexity + 1")]
    async fn minors(
        &self,
        ctx: &Context<'_>,
        filter: Option<MinorFilterInput>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Connection<String, Minor, EmptyFields, EmptyFields>> {
        let rc = request_ctx(ctx)?;
        let who = principal(ctx)?;
        let service = ctx.data::<RegistryService>()?;
        let limit = page_size(first)?;
        let filter = filter.unwrap_or_default().into_filter()?;
        let after = after.map(|c| parse_cursor(&c)).transpose()?;
        let mut rows = service
            .search(
                who,
                &Actor::of(who, &rc.request_id),
                &filter,
                after.clone(),
                limit + 1,
            )
            .await?;
        let has_next = rows.len() as u64 > limit;
        rows.truncate(limit as usize);
        let today = service.today();
        let mut conn = Connection::new(after.is_some(), has_next);
        conn.edges.extend(rows.into_iter().map(|v| {
            let cursor = cursor_of(&v);
            Edge::new(cursor, to_object(v, today))
        }));
        Ok(conn)
    }

    /// One minor. Reads showing sensitive fields are audited.
    async fn minor(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<Minor> {
        let rc = request_ctx(ctx)?;
        let who = principal(ctx)?;
        let service = ctx.data::<RegistryService>()?;
        let id = parse_id(&id, "minor")?;
        let view = service
            .minor(who, &Actor::of(who, &rc.request_id), id)
            .await?;
        Ok(to_object(view, service.today()))
    }

    /// Every change to a minor, oldest first. Values the record hides
    /// without `minor:sensitive` are hidden here too; a read showing them
    /// is audited.
    async fn minor_history(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> async_graphql::Result<Vec<HistoryEntry>> {
        let rc = request_ctx(ctx)?;
        let who = principal(ctx)?;
        let service = ctx.data::<RegistryService>()?;
        let id = parse_id(&id, "minor")?;
        Ok(service
            .history(who, &Actor::of(who, &rc.request_id), id)
            .await?
            .into_iter()
            .map(|v| (v.row, v.masked))
            .map(|(h, masked)| HistoryEntry {
                at: ms_to_datetime(h.at_ms),
                actor_kind: h.actor_kind,
                actor_id: ID(h.actor_id.to_string()),
                change: h.change,
                before: h.before,
                after: h.after,
                reason: h.reason,
                masked,
            })
            .collect())
    }

    /// Counts of a ledger by street, community and category, through the
    /// same scope and filter as `minors`. Needs `ledger:read`.
    async fn ledger_counts(
        &self,
        ctx: &Context<'_>,
        filter: Option<MinorFilterInput>,
    ) -> async_graphql::Result<LedgerCountsObject> {
        let who = principal(ctx)?;
        let service = ctx.data::<RegistryService>()?;
        let filter = filter.unwrap_or_default().into_filter()?;
        let c = service.counts(who, &filter).await?;
        let unit = |(id, count): (uuid::Uuid, u64)| UnitCount {
            org_unit_id: ID(id.to_string()),
            count,
        };
        Ok(LedgerCountsObject {
            total: c.total,
            by_street: c.by_street.into_iter().map(unit).collect(),
            by_community: c.by_community.into_iter().map(unit).collect(),
            by_category: c
                .by_category
                .into_iter()
                .map(|(category, count)| CategoryCount {
                    category,
                    label: category.label_zh().to_owned(),
                    count,
                })
                .collect(),
        })
    }
}

#[derive(InputObject)]
pub struct GuardianInputObject {
    pub name: String,
    pub relationship: Relationship,
    pub phone: Option<String>,
    pub situation: GuardianSituation,
}

#[derive(InputObject)]
pub struct CategoryInputObject {
    pub category: Category,
    pub since: NaiveDate,
    /// Who found it (a department, a visit, a court decision…).
    pub source: String,
}

#[derive(InputObject, Default)]
pub struct MinorInputObject {
    pub name: Option<String>,
    /// `RESIDENT_ID` when a number is given without a kind.
    pub document_kind: Option<DocumentKind>,
    pub document_number: Option<String>,
    pub sex: Option<SexCode>,
    pub birth_date: Option<NaiveDate>,
    pub ethnicity: Option<String>,
    pub hukou_place: Option<String>,
    /// The community or village the minor lives in.
    pub org_unit_id: Option<ID>,
    pub address: Option<String>,
    pub phone: Option<String>,
    pub school: Option<String>,
    pub grade: Option<String>,
    pub health: Option<String>,
    pub disability_grade: Option<String>,
    pub hiv_status: Option<String>,
    pub economic_status: Option<EconomicStatus>,
    pub status: Option<MinorStatus>,
    pub categories: Option<Vec<CategoryInputObject>>,
    /// On registration only.
    pub guardians: Option<Vec<GuardianInputObject>>,
}

impl MinorInputObject {
    fn into_input(self) -> Result<MinorInput, ApiError> {
        Ok(MinorInput {
            name: self.name,
            document_kind: self.document_kind,
            document_number: self.document_number,
            sex: self.sex,
            birth_date: self.birth_date,
            ethnicity: self.ethnicity,
            hukou_place: self.hukou_place,
            org_unit_id: self
                .org_unit_id
                .map(|u| parse_id(&u, "org unit"))
                .transpose()?,
            address: self.address,
            phone: self.phone,
            school: self.school,
            grade: self.grade,
            health: self.health,
            disability_grade: self.disability_grade,
            hiv_status: self.hiv_status,
            economic_status: self.economic_status,
            status: self.status,
            categories: self.categories.map(|cs| {
                cs.into_iter()
                    .map(|c| CategoryInput {
                        category: c.category,
                        since: c.since,
                        source: c.source,
                    })
                    .collect()
            }),
            guardians: self
                .guardians
                .unwrap_or_default()
                .into_iter()
                .map(|g| GuardianInput {
                    name: g.name,
                    relationship: g.relationship,
                    phone: g.phone,
                    situation: g.situation,
                })
                .collect(),
        })
    }
}

#[derive(Default)]
pub struct RegistryMutation;

#[Object]
impl RegistryMutation {
    /// Registers a minor. A document already registered in the district is
    /// a CONFLICT naming that record. Without a document, likely
    /// duplicates are a CONFLICT listing them; `createAnyway` (a reason)
    /// registers regardless, and the reason is kept in the history.
    async fn create_minor(
        &self,
        ctx: &Context<'_>,
        input: MinorInputObject,
        create_anyway: Option<String>,
    ) -> async_graphql::Result<Minor> {
        let rc = request_ctx(ctx)?;
        let who = principal(ctx)?;
        let service = ctx.data::<RegistryService>()?;
        let view = service
            .create_minor(
                who,
                &Actor::of(who, &rc.request_id),
                input.into_input()?,
                create_anyway,
            )
            .await?;
        Ok(to_object(view, service.today()))
    }

    /// Changes a minor: the fields given replace the stored ones
    /// (`categories`, when given, is the full new set). `version` is the
    /// one read; `reason` is kept in the history with each change.
    async fn update_minor(
        &self,
        ctx: &Context<'_>,
        id: ID,
        version: i64,
        input: MinorInputObject,
        reason: String,
    ) -> async_graphql::Result<Minor> {
        let rc = request_ctx(ctx)?;
        let who = principal(ctx)?;
        let service = ctx.data::<RegistryService>()?;
        let id = parse_id(&id, "minor")?;
        let view = service
            .update_minor(
                who,
                &Actor::of(who, &rc.request_id),
                id,
                version,
                input.into_input()?,
                &reason,
            )
            .await?;
        Ok(to_object(view, service.today()))
    }
}
